# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Gaussian-mixture reverse kernels in conditional diffusion
#
# This chapter is a companion to {cite:t}`jahara2026gmm` (arXiv 2604.13470). The paper proves a
# universality theorem and its abstract reports no experiments, so every number below is ours: we make each
# step of the proof computable on conditional 1-D targets, where all errors can be evaluated
# by quadrature rather than estimated from samples.
#
# **What the paper states** (from its abstract; the full text was not available to us):
#
# 1. Conditional diffusion models whose reverse kernels are *finite Gaussian mixtures with
#    ReLU-network logits* approximate suitably regular targets arbitrarily well in
#    *context-averaged conditional KL*, up to an irreducible *terminal mismatch* that typically
#    vanishes as the diffusion horizon grows.
# 2. The proof uses a *path-space decomposition*: output error ≤ terminal mismatch + the sum of
#    per-step reverse-kernel errors.
# 3. Assuming each reverse kernel *factors through a finite-dimensional feature map*, each step
#    is a static conditional density estimation problem, solved with Norets' mixture theory
#    {cite:p}`norets2010` and quantitative ReLU approximation bounds.
# 4. Under exact terminal matching the neural mixture-kernel class is *dense* in conditional KL.
#
# A third-party summary of the paper (a machine-written reading with a machine referee report)
# adds an implication: that more mixture components or wider ReLU networks reduce the per-step
# error. It is not the paper's statement (and for best-in-class kernels it holds by nesting), so
# we probe it only as questions of ours about specific fitting and training procedures.
#
# **What is our reconstruction** (labelled as such throughout): the exact parameterization of
# the kernels, the chain-rule formula in our notation, the closed-form reverse kernel of
# mixture data, the logit-perturbation bound, and every experiment. The machine referee asks
# whether the per-step constants are uniform in the diffusion time $t$; the section
# {ref}`mk-uniformity` reports what we measure on these targets.
#
# **How to read the verdicts.** Every recorded claim has a kind. *paper*: a statement of the
# paper (or of the summary), quoted; only these are verdicts on the paper. *derived*: a
# consequence we derived (a rate, a constant). *check*: an identity or inequality that holds by
# construction (the chain rule of KL, data processing); it tests our code, not the paper.
# *question*: an exploratory question of ours. The coverage table at the end lists every
# statement of the paper with the claims that test it.

# %% tags=["parameters"]
profile = "ci"
seed = 0
device = "cpu"
T_values = None
relu_widths = None
n_contexts = None
n_fit_contexts = None
n_grid = None
n_quad = None
n_quad_learned = None
n_joint = None
horizons = None
K_values = None
net_width = None
train_steps = None
batch_size = None
lr = None
n_seeds = None
T_learned = None
n_eval_contexts = None
T_density = None
n_density_seeds = None
fit_grid = None
fit_iters = None
fit_K_values = None
fit_starts = None
fit_width = None
fit_widths = None
fit_train_contexts = None
fit_heldout_contexts = None
floor_K_values = None
floor_horizons = None
lit_K_values = None
lit_starts = None
feat_K = None
feat_iters = None
feat_levels = None
T_b1 = None
unif_T = None
unif_K = None
unif_width = None
unif_iters = None
unif_starts = None
unif_T_refined = None

# %% tags=["hide-input"]
import json
import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from myst_nb import glue

from companion import kernel_fit as kf
from companion import mixture_kernels as mk
from companion import stats
from companion.chains import VPChain, chain_rule_kl, output_kl, step_kl, terminal_kl
from companion.conditional_targets import GumbelBetaTarget, MixtureTarget
from companion.gmm import ConditionalGaussianMixture
from companion.ledger import Ledger, at_least, at_most, close_to
from companion.profiles import get_device, resolve, seed_everything
from companion.style import PALETTE, figure, use_style

cfg = resolve(
    profile,
    ci=dict(
        T_values=[2, 4, 8],
        relu_widths=[4, 16, 64, 128, 256],
        n_contexts=3,
        n_fit_contexts=32,
        n_grid=401,
        n_quad=241,
        n_quad_learned=241,
        n_joint=181,
        horizons=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0],
        K_values=[1, 4],
        net_width=32,
        train_steps=400,
        batch_size=128,
        lr=1e-2,
        n_seeds=5,
        T_learned=4,
        n_eval_contexts=5,
        T_density=4,
        n_density_seeds=5,
        fit_grid=(45, 111),
        fit_iters=(100, 25),
        fit_K_values=[1, 4, 16],
        fit_starts=1,
        fit_width=32,
        fit_widths=[8, 32],
        fit_train_contexts=4,
        fit_heldout_contexts=7,
        floor_K_values=[1, 4],
        floor_horizons=[1.0],
        lit_K_values=[4, 16],
        lit_starts=1,
        feat_K=4,
        feat_iters=100,
        feat_levels=(3, 2),
        T_b1=[256, 512, 1024, 2048],
        unif_T=[4, 8],
        unif_K=4,
        unif_width=16,
        unif_iters=60,
        unif_starts=1,
        unif_T_refined=[4, 8],
    ),
    full=dict(
        T_values=[2, 4, 8, 16, 64],
        relu_widths=[4, 8, 16, 32, 64, 128, 256],
        n_contexts=5,
        n_fit_contexts=48,
        n_grid=601,
        n_quad=321,
        n_quad_learned=641,
        n_joint=241,
        horizons=list(np.arange(1.0, 10.5, 0.5)),
        K_values=[1, 2, 4, 8],
        net_width=64,
        train_steps=3000,
        batch_size=512,
        lr=1e-2,
        n_seeds=5,
        T_learned=4,
        n_eval_contexts=11,
        T_density=8,
        n_density_seeds=8,
        fit_grid=(81, 201),
        fit_iters=(300, 40),
        fit_K_values=[1, 2, 4, 8, 16],
        fit_starts=1,
        fit_width=32,
        fit_widths=[8, 16, 32],
        fit_train_contexts=6,
        fit_heldout_contexts=21,
        floor_K_values=[1, 4],
        floor_horizons=[1.0, 2.5],
        lit_K_values=[4, 8, 16],
        lit_starts=2,
        feat_K=4,
        feat_iters=300,
        feat_levels=(4, 2),
        T_b1=[64, 128, 256, 512, 1024, 2048],
        unif_T=[4, 16, 64],
        unif_K=4,
        unif_width=16,
        unif_iters=300,
        unif_starts=2,
        unif_T_refined=[4, 16, 64],
    ),
    T_values=T_values,
    relu_widths=relu_widths,
    n_contexts=n_contexts,
    n_fit_contexts=n_fit_contexts,
    n_grid=n_grid,
    n_quad=n_quad,
    n_quad_learned=n_quad_learned,
    n_joint=n_joint,
    horizons=horizons,
    K_values=K_values,
    net_width=net_width,
    train_steps=train_steps,
    batch_size=batch_size,
    lr=lr,
    n_seeds=n_seeds,
    T_learned=T_learned,
    n_eval_contexts=n_eval_contexts,
    T_density=T_density,
    n_density_seeds=n_density_seeds,
    fit_grid=fit_grid,
    fit_iters=fit_iters,
    fit_K_values=fit_K_values,
    fit_starts=fit_starts,
    fit_width=fit_width,
    fit_widths=fit_widths,
    fit_train_contexts=fit_train_contexts,
    fit_heldout_contexts=fit_heldout_contexts,
    floor_K_values=floor_K_values,
    floor_horizons=floor_horizons,
    lit_K_values=lit_K_values,
    lit_starts=lit_starts,
    feat_K=feat_K,
    feat_iters=feat_iters,
    feat_levels=feat_levels,
    T_b1=T_b1,
    unif_T=unif_T,
    unif_K=unif_K,
    unif_width=unif_width,
    unif_iters=unif_iters,
    unif_starts=unif_starts,
    unif_T_refined=unif_T_refined,
)
gen = seed_everything(seed)
dev = get_device(device)
torch.set_num_threads(1)  # tiny tensors: one thread avoids oversubscription
use_style()
ledger = Ledger(
    "02_mixture_kernels",
    title="Gaussian-mixture reverse kernels",
    profile=profile,
    seed=seed,
    device=device,
)
PAPER = "2604.13470"
SUMMARY_K_WIDTH = (
    "summary: 'Increasing the number of mixture components or the width of the ReLU networks "
    "reduces the per-step error without changing the functional form of the sampler.'"
)
cfg

# %% [markdown]
# ## Setting
#
# **Forward chain.** A context $c\in[0,1]$ selects a data law $q(x_0\mid c)$ on $\mathbb R$.
# The forward chain is a discrete variance-preserving (VP) chain
# $z_t = a_t z_{t-1} + b_t\xi_t$, $a_t^2 + b_t^2 = 1$, $z_0 = x_0$, $t = 1,\dots,T$, so that
# $z_t = \alpha_t x_0 + \sigma_t\varepsilon$ with $\alpha_t^2 = \prod_{s\le t}a_s^2$ and
# $\sigma_t^2 = 1-\alpha_t^2$ (class `VPChain`). We work in $z$-space, the natural coordinates
# of a discrete chain; the SNR form $z/\alpha$ of the other chapters would only rescale every
# kernel. The **horizon** is the total noise $B = -\sum_t\log a_t^2 = -\log\alpha_T^2$; we use
# equal steps $a_t^2 = e^{-B/T}$, so chains with different $T$ at the same $B$ share the
# same terminal law $q(z_T\mid c)$.
#
# **Model.** $p(z_{0:T}\mid c) = \mathcal N(z_T; 0, 1)\prod_t p(z_{t-1}\mid z_t, c)$ with
# reverse kernels from the class of the paper (our reconstruction of its parameterization):
#
# $$p(z_{t-1}\mid z_t, c) = \sum_{k=1}^K \pi_k(h)\,\mathcal N\big(z_{t-1};\,\mu_k(h), s_k(h)^2\big),
# \qquad \pi = \mathrm{softmax}(\ell_\theta(h)),\quad h = \phi_t(z_t, c),$$
#
# with $\ell_\theta$ a ReLU network. The error is the context-averaged conditional KL
# $\mathcal L = E_c\,\mathrm{KL}(q(x_0\mid c)\,\|\,p(x_0\mid c))$; we average over a uniform grid
# of contexts.
#
# **Exact reverse kernel of mixture data (our derivation).** If
# $q(z_{t-1}\mid c) = \sum_k w_k\mathcal N(m_k, C_k)$ then Bayes' rule gives
#
# $$q(z_{t-1}\mid z_t, c) = \sum_k \tilde w_k(z_t)\,
# \mathcal N\Big(z_{t-1};\; m_k + G_k(z_t - a_t m_k),\; \frac{C_k b_t^2}{a_t^2C_k + b_t^2}\Big),
# \quad G_k = \frac{a_tC_k}{a_t^2C_k + b_t^2},$$
#
# $$\log\tilde w_k(z_t) = \log w_k + \log\mathcal N(z_t;\, a_t m_k,\, a_t^2C_k + b_t^2) + \text{const},$$
#
# a $K$-component mixture with **softmax-quadratic logits, affine means and constant variances**.
# So for mixture data the paper's class contains the true kernel, up to the approximation of
# quadratic logits by a ReLU network. This makes every term of the proof computable.
#
# All densities live on uniform grids. Model outputs $p(x_0\mid c)$ are computed by
# propagating the density through each mixture transition on the grid
# (`companion.grid.mixture_transition`); they are not estimated from samples. Per-step KLs are
# 2-D trapezoid rules and terminal KLs are 1-D trapezoid rules. These are deterministic numbers
# with a numerical error. We measure it by refinement for the terminal constants (E2.2), the
# Gaussian per-step KL (E2.3), the learned chains (section {ref}`mk-accuracy`) and every
# held-out value of the exact fits (E2.7, E2.8: a grid 1.6 times finer), and check the grid
# propagation of the exact chain against a 1-D quadrature that never propagates (E2.3e); the
# per-step KLs of the ReLU-logit kernels, the logit-bound quadrature, the fixed-perturbation
# profiles and the floors of E2.5 are computed on fixed grids and not refined separately (the
# last slope of the first-step series of E2.U5 is recomputed on a grid twice as fine).


# %% tags=["hide-input"]
def w_fn(c):
    return torch.softmax(
        torch.stack([1.5 * (2 * c - 1), torch.zeros_like(c), 1.5 * (1 - 2 * c)], -1), -1
    )


def m_fn(c):
    return torch.stack([-2.0 + 0.5 * c, 0.2 + 0.3 * c, 1.6 + 0.5 * c], -1).unsqueeze(-1)


def v_fn(c):
    return (
        (torch.tensor([0.2, 0.3, 0.25], dtype=torch.float64) ** 2)
        .expand(c.shape[0], 3)
        .unsqueeze(-1)
    )


mixture = MixtureTarget(ConditionalGaussianMixture(w_fn, m_fn, v_fn))
centred = MixtureTarget(
    ConditionalGaussianMixture(
        lambda c: torch.full((c.shape[0], 2), 0.5, dtype=torch.float64),
        lambda c: torch.stack([-(1.2 + 0.6 * c), 1.2 + 0.6 * c], -1).unsqueeze(-1),
        lambda c: torch.full((c.shape[0], 2, 1), 0.09, dtype=torch.float64),
    )
)
gumbel_beta = GumbelBetaTarget()

contexts = np.linspace(0.0, 1.0, cfg["n_contexts"]).tolist()
z_prop = torch.linspace(-6.5, 6.5, cfg["n_grid"], dtype=torch.float64)
z_quad = torch.linspace(-8.0, 8.0, cfg["n_quad"], dtype=torch.float64)
x_plot = torch.linspace(-3.5, 3.5, 700, dtype=torch.float64)

fig, axes = figure(2, height=2.6)
for i, c in enumerate([0.0, 0.5, 1.0]):
    axes[0].plot(
        x_plot,
        torch.exp(mixture.log_marginal(x_plot, c, 1.0, 0.0)),
        color=PALETTE[i],
        label=f"c = {c:g}",
    )
    axes[1].plot(
        x_plot,
        torch.exp(gumbel_beta.log_marginal(x_plot, c, 1.0, 0.0)),
        color=PALETTE[i],
        label=f"c = {c:g}",
    )
axes[0].set(title="mixture target (3 components)", xlabel="$x_0$", ylabel="density $q(x_0\\mid c)$")
axes[1].set(title="Gumbel + Beta target (not a mixture)", xlabel="$x_0$")
axes[0].legend()
plt.show()

# %% [markdown]
# The two conditional targets. Left: a three-component Gaussian mixture whose weights and means
# move with $c$ (used in E2.1 to E2.3; its exact reverse kernels are known). Right: a Gumbel bump
# plus a scaled Beta(2, 3) bump, not a finite mixture (used in E2.4, E2.5, E2.7 and E2.8). Look
# at how both the weights and the locations of the modes depend on $c$: a model that ignores $c$
# produces one law for all contexts.

# %% [markdown]
# (mk-chain-rule)=
# ## E2.1 The path-space decomposition
#
# **Statement (paper, abstract).** "A path-space decomposition reduces the output error to this
# mismatch plus per-step reverse-kernel errors."
#
# **Derivation (ours).** For each context, the chain rule of KL applied to the two Markov
# chains, run from $t = T$ down to $0$, gives the path KL *exactly*:
#
# $$\mathrm{KL}\big(q(z_{0:T}\mid c)\,\|\,p(z_{0:T}\mid c)\big) = \underbrace{\mathrm{KL}(q(z_T\mid c)\,\|\,\mathcal N(0,1))}_{\text{terminal mismatch}}
# + \sum_{t=1}^T \underbrace{E_{q(z_t\mid c)}\,\mathrm{KL}\big(q(z_{t-1}\mid z_t, c)\,\|\,p(z_{t-1}\mid z_t, c)\big)}_{\text{per-step KL } \varepsilon_t},$$
#
# and the data-processing inequality gives $\mathrm{KL}(q(x_0\mid c)\,\|\,p(x_0\mid c)) \le$ the path
# KL. Both hold for any pair of chains, so measuring them tests our quadrature code, not the
# paper: they are recorded as *checks*. We check them for three model chains on the mixture
# target: the exact kernels, the moment-matched single Gaussian (at each $z_t$ the best Gaussian
# kernel in forward KL; its variance depends on $z_t$, unlike the state-independent variances
# of DDPM or Analytic-DPM), and exact kernels with logits perturbed by
# $0.5\sin(1.3z + k + c)$. For $T = 2$ we also compute the path KL *directly* on a 3-D grid over
# $(z_0, z_1, z_2)$, which never uses the true reverse kernels: an independent computation of
# the chain-rule sum.

# %%
B_check = 4.0
x_joint = torch.linspace(-4.0, 4.0, cfg["n_joint"], dtype=torch.float64)
z_joint = torch.linspace(-8.0, 8.0, cfg["n_joint"], dtype=torch.float64)
families_21 = {
    "exact": mk.exact_kernel,
    "Gaussian (moment-matched)": mk.moment_matched_kernel,
    "perturbed logits": lambda tg, ch: mk.perturbed_logit_kernel(mk.exact_kernel(tg, ch), 0.5),
}
rows = []
for T in [2, 8]:
    ch = VPChain.uniform(T, B_check)
    for name, make in families_21.items():
        kern = make(mixture, ch)
        for c in contexts:
            law = mk.context_marginal(mixture, c)
            term, steps = chain_rule_kl(ch, law, mk.context_kernel(kern, c), z_quad)
            d = mk.propagate_chain(ch, kern, c, z_prop)
            joint = (
                mk.joint_kl_two_steps(mixture, ch, kern, c, x_joint, z_joint) if T == 2 else np.nan
            )
            rows.append(
                dict(
                    T=T,
                    kernel=name,
                    c=c,
                    terminal=term,
                    steps=sum(steps),
                    path=term + sum(steps),
                    joint=joint,
                    output=output_kl(law, d).value,
                )
            )
table21 = pd.DataFrame(rows)
table21["path - joint"] = table21["path"] - table21["joint"]
table21["slack"] = table21["path"] - table21["output"]
chain_gap = float(table21["path - joint"].abs().max())
dpi_margin = float(table21["slack"].min())
mean21 = table21.groupby(["T", "kernel"])[["path", "output"]].mean()
exact_tight = float(
    (
        mean21.xs("exact", level="kernel")["output"] / mean21.xs("exact", level="kernel")["path"]
    ).max()
)
gauss_tight_T2 = float(
    mean21.loc[(2, "Gaussian (moment-matched)"), "output"]
    / mean21.loc[(2, "Gaussian (moment-matched)"), "path"]
)
glue("mk_chain_gap", chain_gap, display=False)
glue("mk_dpi_margin", dpi_margin, display=False)
glue("mk_exact_tight", exact_tight, display=False)
glue("mk_gauss_tight_T2", gauss_tight_T2, display=False)
table21.groupby(["T", "kernel"])[
    ["terminal", "steps", "path", "joint", "output", "path - joint"]
].mean()

# %% [markdown]
# Context-averaged terms of the decomposition (horizon $B = 4$). The column `path - joint`
# compares the chain-rule sum with the direct 3-D computation for $T = 2$: the largest
# difference over contexts and kernels is {glue:text}`mk_chain_gap:.2g` nats. The output KL
# never exceeds the path KL (smallest slack {glue:text}`mk_dpi_margin:.3g` nats).

# %% tags=["hide-input"]
fig, ax = figure(1, height=2.8)
g = mean21.reset_index()
labels = [f"{r.kernel.split(' (')[0]}\nT = {r.T}" for r in g.itertuples()]
xpos = np.arange(len(g))
ax.bar(xpos - 0.2, g["path"], 0.4, label="path KL (terminal + Σ per-step)", color=PALETTE[0])
ax.bar(xpos + 0.2, g["output"], 0.4, label="output KL", color=PALETTE[1])
ax.set_yscale("log")
ax.set_xticks(xpos, labels, fontsize=7)
ax.set_ylim(top=20)
ax.set(ylabel="context-averaged KL (nats)")
ax.legend(ncols=2, loc="upper center", fontsize=8)
plt.show()

# %% [markdown]
# Path KL (the bound) against the output KL (what a user sees), for each kernel family and two
# step counts at $B = 4$. Look at the gap: for the exact kernels the path KL is only the terminal
# mismatch, and the output KL is at most {glue:text}`mk_exact_tight:.2g` times it. For the
# Gaussian kernel at $T = 2$ the output KL is
# {glue:text}`mk_gauss_tight_T2:.2g` times the path KL.

# %%
ledger.record(
    "E2.1a",
    kind="check",
    paper=PAPER,
    claim="Path-space chain rule: terminal + Σ per-step KL equals the path KL computed directly "
    "on a 3-D grid (T = 2; largest difference over kernels and contexts, nats)",
    measured=chain_gap,
    expect=at_most(1e-8),
    section="mk-chain-rule",
    atol=1e-8,
)
_ = ledger.record(
    "E2.1b",
    kind="check",
    paper=PAPER,
    claim="Output KL ≤ path KL (data processing) for every kernel family, context and T "
    "(smallest slack, nats)",
    measured=dpi_margin,
    expect=at_least(-1e-9),
    section="mk-chain-rule",
    rtol=1e-3,
    atol=1e-8,
)

# %% [markdown]
# (mk-terminal)=
# ## E2.2 Terminal mismatch against the horizon
#
# **Statement (paper, abstract).** The irreducible term is a terminal mismatch "that typically
# vanishes with increasing diffusion horizon".
#
# **Derivation (ours).** $q(z_T\mid c)$ is the data law shrunk by $\alpha_T = e^{-B/2}$ and
# convolved with $\mathcal N(0, 1 - e^{-B})$; its mean is $\alpha_T\mu_c$ and its variance
# $1 + e^{-B}(v_c - 1)$, with $\mu_c, v_c$ the mean and variance of $q(x_0\mid c)$. The KL of
# the Gaussian with these moments to $\mathcal N(0,1)$ is
# $\tfrac12\mu_c^2e^{-B} + \tfrac14(v_c-1)^2e^{-2B} + O(e^{-3B})$, and the non-Gaussian part
# of $q(z_T\mid c)$ adds terms of higher order in $e^{-B}$. So
#
# $$E_c\,\mathrm{KL}(q(z_T\mid c)\,\|\,\mathcal N(0,1)) \simeq
# \underbrace{\tfrac12 E_c[\mu_c^2]}_{C_1}\,e^{-B} \quad\text{or, if every } \mu_c = 0,\quad
# \underbrace{\tfrac14 E_c[(v_c-1)^2]}_{C_2}\,e^{-2B}:$$
#
# slope $-1$ of $\ln\mathrm{KL}$ against $B$ for targets with a non-zero mean, $-2$ for centred
# targets, and the constants $C_1$, $C_2$ computed from the moments. The next order is known
# too: $\mathrm{KL}(q\,\|\,\mathcal N(0,1))$ is the KL of the moment-matched Gaussian plus the
# non-Gaussianity $\mathrm{KL}(q\,\|\,\text{Gaussian})$, which is $O(e^{-3B})$ (a squared third
# cumulant, zero for our symmetric centred target), and
# $\tfrac12[x - \log(1+x)] = \tfrac14x^2 - \tfrac16x^3 + \dots$ with $x = e^{-B}(v_c-1)$. So the
# non-centred KL is $C_1e^{-B}(1 + r_1e^{-B} + \dots)$ with $r_1 = C_2'/C_1$,
# $C_2' = \tfrac14E_c[(v_c-1)^2]$, and the centred one $C_2e^{-2B}(1 + r_2e^{-B} + \dots)$ with
# $r_2 = -\tfrac16E_c[(v_c-1)^3]/C_2$. The KL is a deterministic sequence in $B$, so we test its
# *local* slope between the two largest horizons (`stats.asymptotic_slope`; its error is the
# change from the previous pair) against $-1$ or $-2$ within $2|r|e^{-B}$ (the predicted
# correction at the smaller horizon of the pair, with a factor 2 for the remainder), and the
# constants (the ratio of the computed KL to the prediction at the largest horizon) against 1
# within $2|r|e^{-B}$. The terminal law depends on $B$
# only, so at fixed $B$ it cannot depend on the number of steps: that is a *check* of the chain
# code.

# %%
Bs = np.asarray(cfg["horizons"], dtype=float)
B_top = float(Bs.max())
targets22 = {"non-centred mixture": mixture, "centred mixture": centred}


def context_terminal_kl(tg, B, z):
    ch = VPChain.uniform(1, B)
    return float(np.mean([terminal_kl(ch, mk.context_marginal(tg, c), z).value for c in contexts]))


def moment_constants(tg):
    w, m, v = tg.components(torch.tensor(contexts, dtype=torch.float64))
    mu = (w * m).sum(-1)
    var = (w * (v + m**2)).sum(-1) - mu**2
    return float(0.5 * (mu**2).mean()), float(0.25 * ((var - 1) ** 2).mean())


term_curves = {
    k: np.array([context_terminal_kl(tg, B, z_quad) for B in Bs]) for k, tg in targets22.items()
}
fit_mask = Bs >= 4.0
fits = {k: stats.fit_semilog(Bs[fit_mask], v[fit_mask]) for k, v in term_curves.items()}
# local slopes of ln KL against B: log-log slopes against e^B
asym = {
    k: stats.scaled(
        stats.asymptotic_slope(np.exp(Bs), v),
        1.0,
        note=f"local slope of ln KL vs B at B = {Bs[-2]:g}..{Bs[-1]:g}; error: change from the "
        "previous pair",
    )
    for k, v in term_curves.items()
}
C1, C2_nc = moment_constants(mixture)
_, C2 = moment_constants(centred)
w_c, m_c, v_c = centred.components(torch.tensor(contexts, dtype=torch.float64))
var_c = (w_c * (v_c + m_c**2)).sum(-1)
r1 = C2_nc / C1
r2 = float(-((var_c - 1) ** 3).mean() / 6) / C2
B_pair = float(Bs[-2])
tol_slope1, tol_slope2 = 2 * abs(r1) * np.exp(-B_pair), 2 * abs(r2) * np.exp(-B_pair)
tol_const1, tol_const2 = 2 * abs(r1) * np.exp(-B_top), 2 * abs(r2) * np.exp(-B_top)
centred_mean = float(
    (lambda w, m, v: (w * m).sum(-1).abs().max())(
        *centred.components(torch.tensor(contexts, dtype=torch.float64))
    )
)
assert centred_mean < 1e-12  # the centred target has mean 0 at every context
# the constants: computed KL / predicted asymptote at the largest horizon, on refined grids
z_refine = [torch.linspace(-8.0, 8.0, n, dtype=torch.float64) for n in (121, 241, 481)]
const_nc = stats.refinement(
    *[context_terminal_kl(mixture, B_top, z) * np.exp(B_top) / C1 for z in z_refine],
    note="z grid of 121, 241, 481 nodes",
)
const_c = stats.refinement(
    *[context_terminal_kl(centred, B_top, z) * np.exp(2 * B_top) / C2 for z in z_refine],
    note="z grid of 121, 241, 481 nodes",
)
# the same horizon split into more steps: the terminal law is the same
term_vs_T = [
    np.mean(
        [
            terminal_kl(VPChain.uniform(T, 6.0), mk.context_marginal(mixture, c), z_quad).value
            for c in contexts
        ]
    )
    for T in cfg["T_values"]
]
term_spread = float((max(term_vs_T) - min(term_vs_T)) / np.mean(term_vs_T))
for k, f in fits.items():
    key = k.split()[0].replace("-", "")
    glue(f"mk_slope_{key}", f.slope, display=False)
    glue(f"mk_slope_{key}_ci", f.ci95, display=False)
glue("mk_term_spread", term_spread, display=False)
for key, val in [
    ("mk_asym1", asym["non-centred mixture"].value),
    ("mk_asym1_err", asym["non-centred mixture"].half_width),
    ("mk_asym2", asym["centred mixture"].value),
    ("mk_asym2_err", asym["centred mixture"].half_width),
    ("mk_tol_slope1", tol_slope1),
    ("mk_tol_slope2", tol_slope2),
    ("mk_tol_const1", tol_const1),
    ("mk_tol_const2", tol_const2),
    ("mk_B_pair", B_pair),
]:
    glue(key, float(val), display=False)
glue("mk_T_list", ", ".join(str(t) for t in cfg["T_values"]), display=False)
glue("mk_C1", C1, display=False)
glue("mk_C2", C2, display=False)
glue("mk_B_top", B_top, display=False)
glue("mk_const_nc", const_nc.value, display=False)
glue("mk_const_c", const_c.value, display=False)
glue("mk_const_err", max(const_nc.half_width, const_c.half_width), display=False)

# %% tags=["hide-input"]
fig, ax = figure(1, height=2.8)
for i, (k, v) in enumerate(term_curves.items()):
    f = fits[k]
    ax.semilogy(
        Bs, v, "o", color=PALETTE[i], label=f"{k}: fitted slope {f.slope:.2f} ± {f.ci95:.2f}"
    )
    ax.semilogy(
        Bs[fit_mask], np.exp(f.intercept + f.slope * Bs[fit_mask]), "-", color=PALETTE[i], alpha=0.6
    )
ax.semilogy(Bs, C1 * np.exp(-Bs), "k--", lw=0.8, label="predicted $C_1e^{-B}$, $C_2e^{-2B}$")
ax.semilogy(Bs, C2 * np.exp(-2 * Bs), "k--", lw=0.8)
ax.set(
    xlabel="horizon $B = -\\log\\alpha_T^2$", ylabel="$E_c$ KL$(q(z_T|c)\\,\\|\\,N(0,1))$ (nats)"
)
ax.legend(fontsize=7)
plt.show()

# %% [markdown]
# Terminal mismatch against the horizon (log scale): computed values (dots), least-squares lines
# fitted on $B\ge 4$ (solid) and the predicted asymptotes from the moments (dashed). Look at how
# the dots settle onto the dashed lines. The least-squares slopes on $B \ge 4$ are
# {glue:text}`mk_slope_noncentred:.3f` and {glue:text}`mk_slope_centred:.3f` (descriptive only:
# a fit over a deterministic curve measures its curvature, not noise). The local slopes between
# $B$ = {glue:text}`mk_B_pair:g` and {glue:text}`mk_B_top:g` are {glue:text}`mk_asym1:.5f`
# (change from the previous pair {glue:text}`mk_asym1_err:.1g`; predicted $-1$ within
# {glue:text}`mk_tol_slope1:.1g`) and {glue:text}`mk_asym2:.5f` (change
# {glue:text}`mk_asym2_err:.1g`; predicted $-2$ within {glue:text}`mk_tol_slope2:.1g`; the
# ledger lists these changes as "refinement" intervals, but they are a convergence diagnostic
# over successive pairs of horizons, not a refined numerical error), and at
# $B$ = {glue:text}`mk_B_top:g` the computed KL is {glue:text}`mk_const_nc:.5f` and
# {glue:text}`mk_const_c:.5f` times the predicted $C_1e^{-B}$ ($C_1$ =
# {glue:text}`mk_C1:.3g`) and $C_2e^{-2B}$ ($C_2$ = {glue:text}`mk_C2:.3g`); refining the
# grid changes these ratios by at most {glue:text}`mk_const_err:.1g`. At $B = 6$, splitting the
# horizon into $T \in$ {glue:text}`mk_T_list` steps changes the terminal mismatch by a relative
# {glue:text}`mk_term_spread:.1g`.

# %%
ledger.record(
    "E2.2a",
    kind="derived",
    paper=PAPER,
    claim="Terminal mismatch vanishes with the horizon at rate e^{-B} for a non-centred target: "
    "local slope of ln E_c KL vs B at the two largest B is -1 within the predicted next-order "
    "correction 2|r1|e^{-B}",
    measured=asym["non-centred mixture"],
    expect=close_to(-1.0, tol_slope1),
    section="mk-terminal",
    rtol=1e-4,
    atol=1e-6,
)
ledger.record(
    "E2.2b",
    kind="derived",
    paper=PAPER,
    claim="Terminal mismatch vanishes at rate e^{-2B} for a centred target: local slope of "
    "ln E_c KL vs B at the two largest B is -2 within the predicted next-order correction "
    "2|r2|e^{-B}",
    measured=asym["centred mixture"],
    expect=close_to(-2.0, tol_slope2),
    section="mk-terminal",
    rtol=1e-4,
    atol=1e-6,
)
ledger.record(
    "E2.2d",
    kind="derived",
    paper=PAPER,
    claim="The constant of the non-centred decay is C1 = E_c[mu_c^2]/2: E_c KL · e^B / C1 at "
    "the largest horizon is 1 within the predicted correction 2|r1|e^{-B}",
    measured=const_nc,
    expect=close_to(1.0, tol_const1),
    section="mk-terminal",
    rtol=1e-4,
    atol=1e-6,
)
ledger.record(
    "E2.2e",
    kind="derived",
    paper=PAPER,
    claim="The constant of the centred decay is C2 = E_c[(v_c - 1)^2]/4: E_c KL · e^{2B} / C2 "
    "at the largest horizon is 1 within the predicted correction 2|r2|e^{-B}",
    measured=const_c,
    expect=close_to(1.0, tol_const2),
    section="mk-terminal",
    rtol=1e-4,
    atol=1e-6,
)
_ = ledger.record(
    "E2.2c",
    kind="check",
    paper=PAPER,
    claim="At fixed horizon B the terminal mismatch does not depend on the number of steps T "
    "(relative spread over T; holds by construction of the chain)",
    measured=term_spread,
    expect=at_most(1e-10),
    section="mk-terminal",
    atol=1e-10,
)

# %% [markdown]
# (mk-few-step)=
# ## E2.3 Few-step sampling: Gaussian against mixture kernels
#
# **Statements.** The abstract: mixture kernels with ReLU logits approximate the target
# "arbitrarily well ... up to an irreducible terminal mismatch". The summary's reading:
# increasing the width of the ReLU networks reduces the per-step error. On mixture data the true
# kernel is in the class up to its logits (the Setting), so the per-step error of a kernel with
# the exact means and variances and ReLU logits is exactly the cost of the logit approximation:
# we measure it against the width. As a reference we also show the best single-Gaussian kernel,
# which (our derivation) cannot represent a multimodal reverse kernel however it is fitted.
#
# **Setting.** Mixture target, horizon $B = 6$, $T \in$ {glue:text}`mk_T_list` equal steps.
# Kernel families: (a) the moment-matched Gaussian; (b) the exact 3-component kernel; (c) three
# components with the exact means and variances and logits from a one-hidden-layer ReLU network
# of width $w \in$ {glue:text}`mk_widths` per step, whose output layer is fitted by least
# squares to the exact (quadratic) logits on $|z_t| \le 5$ at
# {glue:text}`mk_n_fit_contexts` contexts $c = (i + 1/2)/n$. The kernels are scored at the
# contexts $c \in$ {glue:text}`mk_contexts`, none of which is a fitting context. (The hidden
# layer has random directions and kinks spread over the input box, so the fit is one linear
# solve: a random-feature network, not a trained or optimal one.)
#
# **Logit bound (our derivation).** If two mixtures share their components and their weights
# $\pi, \pi'$ differ, data processing over the component label gives, at every $z_t$,
# $\mathrm{KL}(\sum_k\pi_k\mathcal N_k\,\|\,\sum_k\pi'_k\mathcal N_k) \le
# \mathrm{KL}(\pi\,\|\,\pi') = \tfrac12\mathrm{Var}_\pi(\Delta\ell) + O(\Delta\ell^3)$, with
# $\Delta\ell = \log\pi' - \log\pi$; so $\varepsilon_t \le E_{q(z_t\mid c)}\mathrm{KL}(\pi\,\|\,\pi')$,
# of second order in the logit error (`mk.label_kl_bound`). It holds for any logits, so
# measuring it is a *check*.

# %%
B_few = 6.0
Ts = cfg["T_values"]
widths = cfg["relu_widths"]
n_fit = cfg["n_fit_contexts"]
fit_contexts = ((np.arange(n_fit) + 0.5) / n_fit).tolist()
assert not set(np.round(fit_contexts, 12)) & set(np.round(contexts, 12))  # held-out scoring
glue("mk_widths", ", ".join(str(w) for w in widths), display=False)
glue("mk_n_fit_contexts", n_fit, display=False)
glue("mk_contexts", ", ".join(f"{c:g}" for c in contexts), display=False)
reports, bounds = {}, []
for T in Ts:
    ch = VPChain.uniform(T, B_few)
    fams = {
        "exact": mk.exact_kernel(mixture, ch),
        "Gaussian": mk.moment_matched_kernel(mixture, ch),
    }
    relu_nets = {}
    for w in widths:
        relu_nets[w] = mk.fit_relu_logits(mixture, ch, w, fit_contexts, generator=gen)
        fams[f"ReLU logits, w = {w}"] = mk.relu_logit_kernel(mixture, ch, relu_nets[w])
    for name, kern in fams.items():
        reports[(name, T)] = mk.evaluate_chain(mixture, ch, kern, contexts, z_prop, z_quad)
    for w in relu_nets:
        name = f"ReLU logits, w = {w}"
        steps = reports[(name, T)].steps
        for i, c in enumerate(contexts):
            for t in range(1, T + 1):
                label_kl, _ = mk.label_kl_bound(mixture, ch, fams[name], c, t, z_quad)
                bounds.append(dict(T=T, width=w, c=c, t=t, kl=steps[i, t - 1], label_kl=label_kl))
bounds = pd.DataFrame(bounds)
summary23 = pd.DataFrame(
    [
        dict(
            kernel=n,
            T=T,
            output=r.output.mean(),
            path=r.path.mean(),
            steps=r.steps.sum(-1).mean(),
            terminal=r.terminal.mean(),
        )
        for (n, T), r in reports.items()
    ]
)
summary23.pivot(index="kernel", columns="T", values="output")

# %% [markdown]
# Context-averaged output KL (nats) by kernel family (rows) and number of steps $T$
# (columns) at $B = 6$.

# %% tags=["hide-input"]
fig, axes = figure(2, height=2.9)
shown = [widths[0], widths[len(widths) // 2], widths[-1]]
names = ["Gaussian"] + [f"ReLU logits, w = {w}" for w in shown] + ["exact"]
for i, n in enumerate(names):
    s = summary23[summary23.kernel == n]
    axes[0].loglog(s["T"], s["output"], "o-", color=PALETTE[i], label=n)
terminal = summary23[summary23.kernel == "exact"]["terminal"].mean()
axes[0].axhline(terminal, color="k", ls=":", lw=1, label="terminal mismatch")
axes[0].set(xlabel="number of steps $T$ (fixed $B = 6$)", ylabel="$E_c$ output KL (nats)")
axes[0].set_xticks(Ts, [str(t) for t in Ts])
axes[0].minorticks_off()
axes[0].legend(fontsize=6, ncols=2, loc="upper center", bbox_to_anchor=(0.5, -0.3))
steps_w = summary23[summary23.kernel.str.startswith("ReLU")].copy()
steps_w["width"] = [int(k.split("= ")[1]) for k in steps_w.kernel]
for j, T in enumerate(Ts):
    s = steps_w[steps_w["T"] == T].sort_values("width")
    axes[1].loglog(s["width"], s["steps"], "o-", color=PALETTE[j], label=f"T = {T}")
axes[1].set(xlabel="ReLU logit-network width $w$")
axes[1].set_title("$E_c\\sum_t\\varepsilon_t$ (nats)", fontsize=8)
axes[1].set_xticks(widths, [str(w) for w in widths])
axes[1].minorticks_off()
axes[1].legend(fontsize=6, ncols=2, loc="upper center", bbox_to_anchor=(0.5, -0.3))
plt.show()

# %% [markdown]
# Left: output KL against the number of steps, for the Gaussian kernel, three of the ReLU-logit
# widths and the exact mixture kernel, with the terminal mismatch (dotted). Look at the
# Gaussian kernel (blue) at the smallest $T$ against the others, and at how it improves as
# steps shrink, while {glue:text}`mk_n_relu_worse` of the 3 fixed-width ReLU-logit kernels shown
# end worse at the largest $T$ than at the smallest (one random hidden layer per point, so part
# of this is draw scatter; the section {ref}`mk-uniformity` measures a curvature mechanism at
# the middle width only), and the exact mixture kernel sits at or
# below the terminal mismatch at every $T$; the narrowest logit network is worse than the Gaussian kernel at
# {glue:text}`mk_n_w4_worse` of the {glue:text}`mk_n_T` step counts. Right: the summed per-step
# KL of the ReLU-logit kernels against the width, one line per $T$. Look at the overall slope of
# each line, not at single widths: every width draws one new random hidden layer here, so
# single points carry draw-to-draw scatter (E2.6 repeats the width sweep over several draws).

# %%
gauss = summary23[summary23.kernel == "Gaussian"].set_index("T")
exact = summary23[summary23.kernel == "exact"].set_index("T")
exact_minus_term = float((exact["output"] - exact["terminal"]).max())
# independent recomputation: exact kernels from N(0, 1) output q(x0|c) r(x0), a 1-D quadrature
x_ind = torch.linspace(-4.5, 4.5, 901, dtype=torch.float64)
z_ind = torch.linspace(-8.0, 8.0, 801, dtype=torch.float64)
exact_direct = np.array(
    [
        mk.exact_chain_output_kl(mixture, float(np.exp(-B_few / 2)), c, x_ind, z_ind)
        for c in contexts
    ]
)
direct_gap = float(max(np.abs(reports[("exact", T)].output - exact_direct).max() for T in Ts))
glue("mk_direct_rel", float(direct_gap / exact_direct.min()), display=False)
glue("mk_direct_gap", direct_gap, display=False)
exact_spread = float((exact["output"].max() - exact["output"].min()) / exact["output"].mean())
gauss_steps_Tmin = float(gauss.loc[min(Ts), "steps"])
ch_min = VPChain.uniform(min(Ts), B_few)
g_min = mk.moment_matched_kernel(mixture, ch_min)
gauss_steps_ref = stats.refinement(
    *[
        np.mean(
            [
                sum(
                    chain_rule_kl(
                        ch_min, mk.context_marginal(mixture, c), mk.context_kernel(g_min, c), z
                    )[1]
                )
                for c in contexts
            ]
        )
        for z in z_refine
    ],
    note="z grid of 121, 241, 481 nodes",
)
relu_Tmin = steps_w[steps_w["T"] == min(Ts)].set_index("width")["steps"]
width_fits = {
    T: stats.fit_loglog(widths, steps_w[steps_w["T"] == T].sort_values("width")["steps"].to_numpy())
    for T in Ts
}
T_worst = max(width_fits, key=lambda T: width_fits[T].slope_interval.high)
width_drop = float(
    min(
        steps_w[(steps_w["T"] == T) & (steps_w.width == widths[0])]["steps"].iloc[0]
        / steps_w[(steps_w["T"] == T) & (steps_w.width == widths[-1])]["steps"].iloc[0]
        for T in Ts
    )
)
bound_ratio = float((bounds["kl"] / bounds["label_kl"]).max())
loose = float((bounds["kl"] / bounds["label_kl"]).median())
relu_vs_gauss = float(gauss_steps_Tmin / relu_Tmin.loc[widths[0]])
glue("mk_gauss_steps_Tmin", gauss_steps_Tmin, display=False)
glue("mk_gauss_steps_err", gauss_steps_ref.half_width, display=False)
glue("mk_relu_wmin_Tmin", float(relu_Tmin.loc[widths[0]]), display=False)
glue("mk_relu_wmax_Tmin", float(relu_Tmin.loc[widths[-1]]), display=False)
glue("mk_exact_spread", exact_spread, display=False)
glue("mk_width_drop", width_drop, display=False)
glue("mk_wslope_lo", float(min(f.slope for f in width_fits.values())), display=False)
glue("mk_wslope_hi", float(max(f.slope for f in width_fits.values())), display=False)
glue("mk_T_worst", T_worst, display=False)
glue("mk_bound_ratio", bound_ratio, display=False)
glue("mk_bound_loose", loose, display=False)
glue("mk_relu_vs_gauss", relu_vs_gauss, display=False)
glue("mk_exact_below_term", float((exact["terminal"] / exact["output"]).min()), display=False)
glue("mk_Tmin", min(Ts), display=False)
out_w0 = summary23[summary23.kernel == f"ReLU logits, w = {widths[0]}"].set_index("T")["output"]
glue("mk_n_w4_worse", int((out_w0 > gauss["output"]).sum()), display=False)
n_relu_worse = 0
for w in [widths[0], widths[len(widths) // 2], widths[-1]]:
    o = summary23[summary23.kernel == f"ReLU logits, w = {w}"].set_index("T")["output"]
    n_relu_worse += int(o.loc[max(Ts)] > o.loc[min(Ts)])
glue("mk_n_relu_worse", n_relu_worse, display=False)
glue("mk_n_T", len(Ts), display=False)
glue("mk_wmin", widths[0], display=False)
glue("mk_wmax", widths[-1], display=False)

# %% [markdown]
# With $T$ = {glue:text}`mk_Tmin` steps the best Gaussian kernel pays
# {glue:text}`mk_gauss_steps_Tmin:.3g` nats of summed per-step KL (refining the grid changes it
# by {glue:text}`mk_gauss_steps_err:.1g`), against
# {glue:text}`mk_relu_wmin_Tmin:.2g` nats for the narrowest ReLU-logit mixture
# ($w$ = {glue:text}`mk_wmin`) and {glue:text}`mk_relu_wmax_Tmin:.2g` nats for the widest
# ($w$ = {glue:text}`mk_wmax`). The exact kernel's output KL is the same for every $T$ to a
# relative {glue:text}`mk_exact_spread:.1g` (with zero per-step error, the output at fixed $B$
# is the law of $x_0$ given $z_T$ averaged over the wrong prior, whatever the number of steps),
# and it agrees with that 1-D integral $\int q(x_0\mid z_T, c)\mathcal N(z_T; 0, 1)\,dz_T$,
# computed without propagating any density (`mk.exact_chain_output_kl`), to
# {glue:text}`mk_direct_gap:.1g` nats at every $T$ and context (relative
# {glue:text}`mk_direct_rel:.1g` at the smallest output). We take this difference as the
# absolute error of the grid propagation, so output KLs of that order are not resolved; E2.3e
# checks that moving every output KL of E2.6 by it does not move the rate recorded there.
# Going from the narrowest to the widest logit network divides the summed per-step KL by a
# factor of at least {glue:text}`mk_width_drop:.3g` at every $T$; the fitted log-log slopes
# against the width lie between {glue:text}`mk_wslope_lo:.2f` and
# {glue:text}`mk_wslope_hi:.2f` over $T$ (the least steep, at $T$ = {glue:text}`mk_T_worst`,
# is the one recorded). At $T$ = {glue:text}`mk_Tmin` the Gaussian kernel's summed per-step
# KL is {glue:text}`mk_relu_vs_gauss:.3g` times that of the narrowest ReLU-logit mixture. The
# exact kernels' output KL is at least {glue:text}`mk_exact_below_term:.3g` times *below* the
# terminal mismatch at every $T$: the abstract's "irreducible" terminal mismatch is a term of
# the bound, not a floor of the output error. The second-order logit bound holds for every
# step, width and context: the largest ratio $\varepsilon_t / E_q\mathrm{KL}(\pi\,\|\,\pi')$ is
# {glue:text}`mk_bound_ratio:.3g` ≤ 1, and its median is {glue:text}`mk_bound_loose:.2g`
# (on one quadrature, not refined: at the largest widths the per-step KLs are small enough
# that the quadrature error is of their order, so a ratio close to 1 there is not resolved).
# In the right panel, single draws of the hidden layer make the lines non-monotone in the
# width; E2.3a and E2.3c rest on one draw per width and $T$.

# %%
ledger.record(
    "E2.3a",
    kind="question",
    paper=PAPER,
    claim="Question: with few large steps (smallest T, equal-B schedule, one target), is the "
    "best single-Gaussian kernel's summed per-step KL at least 10 times that of the narrowest "
    "ReLU-logit mixture kernel? Ratio (one random hidden layer, no interval over draws; 10 is a "
    "round order of magnitude, not derived)",
    measured=relu_vs_gauss,
    expect=at_least(10.0),
    section="mk-few-step",
    rtol=1e-3,
    atol=1e-6,
)
ledger.record(
    "E2.3b",
    kind="check",
    paper=PAPER,
    claim="Exact mixture kernels: output KL ≤ terminal mismatch at every T: max over T of "
    "(output KL - terminal KL) ≤ 0 (zero per-step error plus data processing)",
    measured=exact_minus_term,
    expect=at_most(0.0),
    section="mk-few-step",
    rtol=1e-3,
    atol=1e-8,
)
ledger.record(
    "E2.3c",
    kind="question",
    paper=PAPER,
    claim="Question: does the summed per-step KL of random-feature ReLU-logit kernels (one hidden "
    "layer drawn per width, N(0,1) start) fall with the width at every T? Least steep log-log "
    "slope over T (held-out contexts) negative (each width draws a new hidden layer, so the fit "
    "interval's residual is draw-to-draw scatter)",
    measured=width_fits[T_worst].slope_interval,
    expect=at_most(0.0),
    section="mk-few-step",
    rtol=0.05,
    atol=0.05,
)
_ = ledger.record(
    "E2.3d",
    kind="check",
    paper=PAPER,
    claim="Per-step KL ≤ E_q KL(pi || pi') (second-order logit bound by data processing over "
    "the label; largest ratio over steps, widths and contexts)",
    measured=bound_ratio,
    expect=at_most(1.0),
    section="mk-few-step",
    rtol=1e-2,
    atol=1e-8,
)

# %% [markdown]
# (mk-learned)=
# ## E2.4 Learned conditional mixture-kernel diffusion
#
# **Statement (summary).** Increasing the number of mixture components reduces the per-step
# error. We test it where the true kernels are *not* finite mixtures: the Gumbel + Beta target,
# horizon $B = 5$, $T$ = {glue:text}`mk_T_learned` steps, with kernels *trained* from samples.
#
# **Model (our reconstruction).** One ReLU MLP (width {glue:text}`mk_net_width`, two hidden
# layers) takes $h = (z_t, c)$ and a one-hot code of $t$ and outputs the $K$ logits, mean
# offsets from $z_t$ and log-standard-deviations (*fully networked*). The paper's literal class,
# with means affine in $(z_t, c)$ as in Norets' mixtures of regressions, is fitted exactly in
# E2.8; sample training of it is not done here.
#
# Training is maximum likelihood on forward pairs $(z_{t-1}, z_t)$ with fresh samples and fresh
# contexts $c \sim U[0, 1]$ ({glue:text}`mk_train_steps` Adam steps, batch
# {glue:text}`mk_batch`), which is minimising $\sum_t\varepsilon_t$ up to a constant (the chain
# rule of E2.1). Output KL by grid propagation and per-step KL by quadrature, averaged over
# {glue:text}`mk_n_eval` contexts, with {glue:text}`mk_n_seeds` training seeds. Error bars and
# intervals are 95% Student-t intervals over seeds, paired where two settings share seeds; E2.7
# scores the same trained kernels on the exact per-step problems of a finer held-out context
# grid. References: the
# moment-matched Gaussian kernel computed from the *true* kernel by quadrature (the best
# $K = 1$ kernel in per-step forward KL, which is not the best in output KL) and the terminal
# mismatch. In `ci`, $K \in$ {glue:text}`mk_K_list`: a comparison of two values, which cannot
# test monotonicity in $K$; only the `full` profile (more values of $K$, see the configuration
# cell) compares consecutive $K$.

# %%
T_l, B_l = cfg["T_learned"], 5.0
chain_l = VPChain.uniform(T_l, B_l)
eval_contexts = np.linspace(0.0, 1.0, cfg["n_eval_contexts"]).tolist()
z_l = torch.linspace(-6.0, 6.0, cfg["n_grid"], dtype=torch.float64)
z_lq = torch.linspace(-6.0, 6.0, cfg["n_quad_learned"], dtype=torch.float64)
W = cfg["net_width"]
Kmax, Kmin = max(cfg["K_values"]), min(cfg["K_values"])
for key, val in [
    ("mk_T_learned", T_l),
    ("mk_net_width", W),
    ("mk_train_steps", cfg["train_steps"]),
    ("mk_batch", cfg["batch_size"]),
    ("mk_n_eval", len(eval_contexts)),
    ("mk_n_seeds", cfg["n_seeds"]),
    ("mk_Kmax", Kmax),
    ("mk_K_list", ", ".join(str(k) for k in cfg["K_values"])),
]:
    glue(key, val, display=False)

configs = [
    (dict(variant="full", K=K, width=W, features="full"), cfg["n_seeds"]) for K in cfg["K_values"]
]
runs = []
gb_eval = mk.CachedMarginals(gumbel_beta)  # the same marginals for every run: computed once
for conf, n_s in configs:
    main_run = conf["variant"] == "full" and conf["features"] == "full" and conf["width"] == W
    for s in range(n_s):
        g_train = torch.Generator().manual_seed(1000 * seed + s)
        torch.manual_seed(1000 * seed + s)
        net = mk.MixtureKernelNet(
            conf["K"],
            chain_l,
            width=conf["width"],
            variant=conf["variant"],
            features=conf["features"],
        ).to(dev)
        mk.train_mixture_kernel(
            net,
            gumbel_beta,
            chain_l,
            steps=cfg["train_steps"],
            batch_size=cfg["batch_size"],
            lr=cfg["lr"],
            generator=g_train,
            disable=True,
        )
        net = net.cpu()
        per_step = main_run and conf["K"] in (Kmin, Kmax)
        rep = mk.evaluate_chain(
            gb_eval, chain_l, mk.net_kernel(net), eval_contexts, z_l, z_lq, per_step=per_step
        )
        runs.append(
            dict(
                **conf,
                seed=s,
                output=rep.output.mean(),
                steps=rep.steps.sum(-1).mean() if per_step else np.nan,
                report=rep,
                net=net,
            )
        )
runs = pd.DataFrame(runs)
gauss_l = mk.evaluate_chain(
    gb_eval,
    chain_l,
    mk.moment_matched_kernel(gumbel_beta, chain_l, z_lq),
    eval_contexts,
    z_l,
    z_lq,
)


def per_seed(col="output", **sel):
    """The values of ``col`` of the runs matching ``sel``, ordered by seed."""
    m = np.ones(len(runs), dtype=bool)
    for k, v in sel.items():
        m &= (runs[k] == v).to_numpy()
    return runs[m].sort_values("seed")[col].to_numpy()


seed_table = runs.groupby(["features", "variant", "K", "width"])["output"].agg(
    ["mean", "count", lambda v: stats.mean_t_halfwidth(v)[1] if len(v) > 1 else np.nan]
)
seed_table.columns = ["mean output KL", "seeds", "95% t half-width"]
seed_table

# %% [markdown]
# Context-averaged output KL (nats) of the trained chains: mean and 95% t half-width over
# seeds, by feature map, variant, number of components $K$ and width.


# %% tags=["hide-input"]
def errorbars(ax, K_list, sel, **kw):
    m, h = zip(*[stats.mean_t_halfwidth(per_seed(K=K, **sel)) for K in K_list], strict=True)
    ax.errorbar(K_list, m, yerr=h, fmt="o-", capsize=3, **kw)


fig, axes = figure(2, height=2.9)
errorbars(
    axes[0],
    cfg["K_values"],
    dict(variant="full", features="full", width=W),
    color=PALETTE[0],
    label="fully networked (trained)",
)
axes[0].axhline(
    gauss_l.output.mean(),
    color=PALETTE[3],
    ls="--",
    lw=1,
    label="moment-matched Gaussian kernel",
)
axes[0].axhline(gauss_l.terminal.mean(), color="k", ls=":", lw=1, label="terminal mismatch")
axes[0].set(xscale="log", yscale="log", xlabel="components $K$", ylabel="$E_c$ output KL (nats)")
axes[0].set_xticks(cfg["K_values"], [str(k) for k in cfg["K_values"]])
axes[0].minorticks_off()
axes[0].legend(fontsize=6, ncols=2, loc="upper center", bbox_to_anchor=(0.5, -0.3))
best = runs[
    (runs.features == "full") & (runs.variant == "full") & (runs.K == Kmax) & (runs.width == W)
].iloc[0]
for i, c in enumerate(
    [eval_contexts[0], eval_contexts[len(eval_contexts) // 2], eval_contexts[-1]]
):
    d = best.report.densities[eval_contexts.index(c)]
    axes[1].plot(
        d.x,
        torch.exp(gumbel_beta.log_marginal(d.x, c, 1.0, 0.0)),
        color=PALETTE[i],
        lw=1,
        label=f"target, c = {c:g}",
    )
    axes[1].plot(d.x, d.p, "--", color=PALETTE[i], lw=1.6, label=f"model, c = {c:g}")
axes[1].set(xlim=(-3, 3.5), xlabel="$x_0$", ylabel="density")
axes[1].legend(fontsize=6)
plt.show()

# %% [markdown]
# Left: output KL against the number of components (error bars: 95% t-intervals over seeds), with the moment-matched Gaussian kernel (dashed) and the terminal mismatch
# (dotted). Look at $K = 1$ against the dashed line (how trained single Gaussians compare with
# the moment-matched one) and at how far below it the $K$ = {glue:text}`mk_Kmax` mixtures go. Right:
# the output law of the first seed's fully networked $K$ = {glue:text}`mk_Kmax` model (dashed)
# against the target (solid) at three contexts.

# %%
s1, sK = (
    per_seed("steps", variant="full", features="full", width=W, K=Kmin),
    per_seed("steps", variant="full", features="full", width=W, K=Kmax),
)
kK = per_seed(variant="full", features="full", width=W, K=Kmax)
k1 = per_seed(variant="full", features="full", width=W, K=Kmin)
gain_K = stats.paired_t(s1, sK, note=f"summed per-step KL, K={Kmin} minus K={Kmax}")
gauss_out = float(gauss_l.output.mean())
beat_gauss = stats.t_interval(kK / gauss_out, note=f"output KL ratio, K={Kmax}")
glue("mk_full_K", float(kK.mean()), display=False)
glue("mk_full_1", float(k1.mean()), display=False)
glue("mk_gauss_l", gauss_out, display=False)
glue("mk_term_l", float(gauss_l.terminal.mean()), display=False)
glue("mk_beat_gauss", beat_gauss.value, display=False)
glue("mk_gain_K", gain_K.value, display=False)
glue("mk_gain_K_lo", gain_K.low, display=False)
glue("mk_gain_K_hi", gain_K.high, display=False)

# %% [markdown]
# Going from $K$ = 1 to $K$ = {glue:text}`mk_Kmax` lowers the summed per-step KL of the fully
# networked chain by {glue:text}`mk_gain_K:.3g` nats (95% paired interval
# [{glue:text}`mk_gain_K_lo:.3g`, {glue:text}`mk_gain_K_hi:.3g`]); its output KL goes from
# {glue:text}`mk_full_1:.3g` to {glue:text}`mk_full_K:.3g` nats, which is
# {glue:text}`mk_beat_gauss:.2g` times the output KL of the moment-matched Gaussian kernel
# ({glue:text}`mk_gauss_l:.3g` nats; terminal mismatch {glue:text}`mk_term_l:.2g` nats). How
# much of these errors is approximation and how much is training is measured in E2.7, against
# kernels fitted to the exact per-step KL.

# %%
ledger.record(
    "E2.4a",
    kind="question",
    paper=PAPER,
    claim="Question: does training find lower per-step error with more components? Summed "
    "per-step KL at K=min minus K=max (fully networked, paired over seeds) positive; in ci "
    "K in {1, 4}, so only the full profile's consecutive K test monotonicity",
    measured=gain_K,
    expect=at_least(0.0),
    section="mk-learned",
    rtol=0.2,
    atol=0.005,
)
ledger.record(
    "E2.4b",
    kind="question",
    paper=PAPER,
    claim="Question: does training find mixture kernels far better than the moment-matched "
    "Gaussian kernel (best K=1 in per-step KL, not in output KL)? Output KL ratio, learned K=max "
    "(fully networked) / moment-matched Gaussian, below 0.5 (a factor 2, fixed in advance)",
    measured=beat_gauss,
    expect=at_most(0.5),
    section="mk-learned",
    rtol=0.2,
    atol=0.005,
)


# %% [markdown]
# (mk-exact-density)=
# ## E2.7 Density on a non-mixture target: exact per-step fits against training
#
# **Statement (paper, abstract).** Mixture kernels with ReLU-network logits "can approximate
# suitably regular target distributions arbitrarily well in context-averaged conditional KL
# divergence, up to an irreducible terminal mismatch". For the best kernel in the class this is a statement about
# approximation; the trained kernels of E2.4 add optimisation and estimation error to it.
#
# **Method (ours).** By the chain rule (E2.1) each step is a static problem. For step $t$ the
# context-averaged per-step KL
# $\varepsilon_t(\theta) = E_c\,E_{q(z_{t-1}, z_t\mid c)}[\log q(z_{t-1}\mid z_t, c) -
# \log p_\theta(z_{t-1}\mid z_t, c)]$, with $\log q(z_{t-1}\mid z_t, c)$ from Bayes' rule on the
# exact marginals, is tabulated once on a $z_t\times z_{t-1}$ trapezoid grid
# ({glue:text}`mk_fit_nz` × {glue:text}`mk_fit_ny` nodes on $[-7, 7]^2$) and minimised by
# full-batch L-BFGS in float64 (`companion.kernel_fit`). No samples enter, so what remains is
# approximation plus the optimiser's shortfall (and, at held-out contexts, generalisation over
# $c$; the quadrature error is measured). Class: fully networked $K$-component mixtures,
# one ReLU network per step (width {glue:text}`mk_fit_width`, two hidden layers) on
# $(z_t, c)$ giving logits, mean offsets and log-standard-deviations; the Gumbel + Beta target,
# $B = 5$, $T$ = {glue:text}`mk_T_learned` (the chain of E2.4). The kernels are fitted at
# {glue:text}`mk_n_train_c` contexts $c = (i + 1/2)/n$ and scored at
# {glue:text}`mk_n_held_c` held-out contexts $c = j/(n - 1)$ with trapezoid weights: the
# interior ones lie between training contexts, the endpoints $c = 0$ and $c = 1$ outside their
# range. Every value shown is computed on a grid 1.6 times finer in both directions than the
# fitting grid (a fit can exploit the nodes it is fitted on). Budget:
# {glue:text}`mk_fit_it1` L-BFGS iterations at the data step $t = 1$,
# {glue:text}`mk_fit_it2` at the others; per step {glue:text}`mk_fit_starts` random start(s)
# (at least 2 at $K = 1$) and, for every larger $K$, a **nested start**: the best fit at the
# previous $K$ with each component split into $K/K_{\rm prev}$ copies of unequal weight
# (`kf.split_components`), which is the same kernel, so the fit at $K$ cannot end above the
# fit at the previous $K$ on the fitting problem (L-BFGS keeps its start when it finds nothing
# better). What a comparison across $K$ then tests is the class, not where the optimiser
# started. A fit with a fixed budget still finds at best a local minimum, so every value is
# an **upper bound** on the best-in-class error, and the verdicts shown are those of this
# budget; the `full` profile (more iterations, a finer fitting grid, more training and
# held-out contexts and more values of $K$: see the configuration cell) is the larger test.
# The error bar of a point is the change of its held-out value from the fitting grid to the finer grid plus the spread, over the starts, of the held-out sum of each
# start's own chain of fits (the optimisation error we can see; with a single start it would be
# left out).
#
# **Claims, fixed before the run.** E2.7g (*question*): is the held-out $\sum_t\varepsilon_t$
# at the largest $K$ at most 5% of its value at $K = 1$, with the ratio's upper end computed
# from both error bars? "Arbitrarily well" is a limit; no finite run shows it, but a floor would
# show as a sum that stops falling, and this criterion rules out a floor above 5% of the $K = 1$
# error. We chose 5% after a one-start run had given a ratio near 0.004, so it is a loose
# criterion set after seeing data, and the claim is a question of ours rather than a verdict on
# the paper. E2.7h (*question*): at the largest $K$, does the narrowest logit network of the
# width sweep (widths {glue:text}`mk_fit_widths`; in `ci` two widths, the narrower one at the
# smallest and largest $K$ only; the `full` profile three widths at every $K$) leave more
# held-out error than the widest, by more than both error bars? E2.7a
# (*question*): does the sum decrease between consecutive $K$ values by more than the error
# bars of both points? For the best kernel of each class this holds by nesting (a $K$-mixture
# is a $2K$-mixture with a zero-weight component), and with the nested start it holds for our
# fits on the fitting problem up to the optimiser, so what it tests is the held-out, finer-grid
# value and the size of the decrease, not the paper. E2.7b (*question*; neither the paper nor we predict a rate): is
# the last local log-log slope at most $-1$? E2.7c (*question*): at the short horizon $B = 1$,
# does the fitted chains' output KL approach that of the exact kernels started from
# $\mathcal N(0, 1)$ (`mk.exact_chain_output_kl`), the gap at the largest floor-run $K$ at most a
# tenth of the gap at $K = 1$? The exact-kernel output is not a lower bound for the class (a
# kernel can partly correct the wrong prior), and the paper's statement is the bound of E2.7d,
# so this is a question of ours. E2.7d (*check*): output KL ≤ terminal mismatch + summed
# per-step KL for every fitted chain, context-averaged (data processing: the paper's bound,
# which holds by construction). E2.7e (*question*): are the trained kernels of E2.4, scored on
# the same held-out problems, above the exact fit at the same $K$? E2.7f (*question*): do the two
# endpoint contexts carry more error than the interior ones? E2.7i (*question*; the criterion
# was fixed before the first `full` run that computes it): fitting the held-out sum as
# $a + bK^{-r}$ over the values of $K$ (at least 4, so `full` only), is the floor $a$ at most
# 5% of the $K = 1$ value, its 95% fit interval included? E2.7j (*question*, the corollary
# "dense under exact terminal matching" on a target outside the class): started from the
# exact $q(z_T\mid c)$, does the output KL at the largest $K$ fall to at most a tenth of its
# $K = 1$ value (the tenth of E2.7c)?

# %% tags=["hide-input"]
nz_f, ny_f = cfg["fit_grid"]
it1, it2 = cfg["fit_iters"]
grid_f = dict(n_z=nz_f, n_y=ny_f)
grid_r = dict(n_z=int(1.6 * nz_f) | 1, n_y=int(1.6 * ny_f) | 1)
n_tr = cfg["fit_train_contexts"]
train_c = ((np.arange(n_tr) + 0.5) / n_tr).tolist()
held_c = np.linspace(0.0, 1.0, cfg["fit_heldout_contexts"]).tolist()
w_held = np.ones(len(held_c))
w_held[[0, -1]] = 0.5
w_held /= w_held.sum()
inner = np.array([0.0 < c < 1.0 for c in held_c])
Ks_f, W_f, starts_f = cfg["fit_K_values"], cfg["fit_width"], cfg["fit_starts"]
x_ex = torch.linspace(-7.0, 7.0, 1401, dtype=torch.float64)
z_ex = torch.linspace(-8.0, 8.0, 801, dtype=torch.float64)


def fit_density(chain, Ks, seed_base, score=True, widths=(W_f,)):
    """Exact per-step fits of the networked class for each width and K (each K > min(K) also
    from a nested start, the best smaller fit with split components): output KL against the
    floor and, if ``score``, the summed per-step KL in and out of sample and on a finer grid.
    Returns one frame per width, indexed by K."""
    P = kf.chain_problems(gumbel_beta, chain, train_c, **grid_f)
    if score:
        kw = dict(context_weights=w_held.tolist())
        H = kf.chain_problems(gumbel_beta, chain, held_c, **kw, **grid_f)
        R = kf.chain_problems(gumbel_beta, chain, held_c, **kw, **grid_r)
        P_r = kf.chain_problems(gumbel_beta, chain, train_c, **grid_r)
    term = np.array(
        [terminal_kl(chain, mk.context_marginal(gumbel_beta, c), z_lq).value for c in held_c]
    )
    floor = np.array(
        [mk.exact_chain_output_kl(gumbel_beta, chain.alpha(chain.T), c, x_ex, z_ex) for c in held_c]
    )
    frames = {}
    for width in widths:
        rows, prev = [], None
        for K in Ks if width == W_f else Ks_w:

            def make(t, g, K=K, width=width):
                return kf.NetworkedMixture(K, width, math.sqrt(chain.b2(t)), generator=g)

            nested = prev is not None and K % prev[0] == 0
            fits = kf.fit_chain(
                P,
                make,
                n_starts=starts_f if nested else max(2, starts_f),
                seed=seed_base + 100 * K + (0 if width == W_f else 7 * width),
                disable=True,
                max_iters=[it1] + [it2] * (chain.T - 1),
                nested=prev[1] if nested else None,
                nested_factor=K // prev[0] if nested else 2,
            )
            prev = (K, fits)
            best = [ms.best for ms in fits]
            out = mk.evaluate_chain(
                gumbel_beta, chain, kf.chain_kernel(best), held_c, z_l, per_step=False
            ).output
            row = dict(
                K=K,
                in_sample=float(sum(ms.best_value for ms in fits)),
                output=float(w_held @ out),
                floor=float(w_held @ floor),
                models=best,
            )
            if not score:
                rows.append(row)
                continue
            if width == W_f and K in (Ks[0], Ks[-1]):
                # exact terminal matching: the same fitted kernels started from q(z_T | c)
                row["output_exact_start"] = float(
                    w_held
                    @ mk.evaluate_chain(
                        gumbel_beta,
                        chain,
                        kf.chain_kernel(best),
                        held_c,
                        z_l,
                        per_step=False,
                        exact_start=True,
                    ).output
                )
            per_c = kf.chain_values_per_context(H, best)
            per_r = kf.chain_values_per_context(R, best)  # the finer grid
            coarse, held = float(w_held @ per_c), float(w_held @ per_r)
            # optimisation error: held-out sum (finer grid) of each start's own chain of fits
            by_start = [
                float(w_held @ kf.chain_values_per_context(R, list(m)))
                for m in zip(*(ms.models for ms in fits), strict=True)
            ]
            start_spread = float(np.ptp(by_start))
            row["in_sample"] = float(kf.chain_values(P_r, best).sum())
            rows.append(
                dict(
                    **row,
                    held_out=held,
                    interior=float(np.average(per_r[inner], weights=w_held[inner])),
                    endpoints=float(per_r[~inner].mean()),
                    ends_coarse=float(
                        per_c[~inner].mean() / np.average(per_c[inner], weights=w_held[inner])
                    ),
                    start_spread=start_spread,
                    error_bar=abs(held - coarse) + start_spread,
                    step1_coarse=float(kf.chain_values(H[:1], best[:1])[0]),
                    step1=float(kf.chain_values(R[:1], best[:1])[0]),
                    dpi_slack=float(w_held @ (term + per_r - out)),
                    n_starts=len(fits[0].values),
                )
            )
        frames[width] = pd.DataFrame(rows).set_index("K")
    return frames, (dict(P=P, H=H, R=R) if score else None)


Ws_f = sorted(set(cfg["fit_widths"]) | {W_f})
# the other widths: every K in full, the smallest and largest K in ci (runtime)
Ks_w = Ks_f if profile == "full" else [Ks_f[0], Ks_f[-1]]
dens_w, probs5 = fit_density(chain_l, Ks_f, 20_000 + 1000 * seed, widths=Ws_f)
dens5 = dens_w[W_f]
floor_runs = {
    B: fit_density(VPChain.uniform(T_l, B), cfg["floor_K_values"], 30_000 + 1000 * seed, False)[0][
        W_f
    ]
    for B in cfg["floor_horizons"]
}
# the trained kernels of E2.4 on the same held-out problems (the finer grid, as the fits)
ml_held = {
    K: np.array(
        [
            kf.chain_values(probs5["R"], mk.net_kernel(r.net)).sum()
            for r in runs[(runs.variant == "full") & (runs.K == K)].sort_values("seed").itertuples()
        ]
    )
    for K in cfg["K_values"]
}
dens5.drop(columns="models").style.format("{:.3g}")

# %% [markdown]
# Exact per-step fits at $B = 5$ (width {glue:text}`mk_fit_width`), one row per $K$: summed
# per-step KL in sample (the training contexts) and held out (all, interior, endpoints), its
# error bar, the data step's value (fitting and finer grid), the output KL by grid propagation
# and the terminal-limited floor, the slack of the data-processing inequality (terminal +
# summed per-step − output, context-averaged; nats) and the number of starts per step (the
# random ones, plus the nested one for $K > 1$). Per-step values are on the finer grid unless
# marked.

# %%
width_table = pd.concat(
    {w: d[["held_out", "error_bar", "output", "floor"]] for w, d in dens_w.items()},
    names=["width", "K"],
)
width_table["output - floor"] = width_table.output - width_table.floor
width_table.style.format("{:.3g}")

# %% [markdown]
# The width sweep: held-out summed per-step KL of the exact fits with its error bar, output KL
# and the gap of the output to the terminal-limited floor (the output KL that exact kernels
# reach from $\mathcal N(0, 1)$), per logit-network width and $K$ (nats; every width fitted
# with the same starts, iterations and grids).

# %% tags=["hide-input"]
Ks_arr = np.asarray(Ks_f, dtype=float)
fig, axes = figure(3, height=2.9)
ax = axes[0]
# on a log axis a bar longer than its value is drawn down to a tenth of the value (marked in
# the caption): such a value is not resolved
ax.errorbar(
    Ks_arr,
    dens5.held_out,
    yerr=[np.minimum(dens5.error_bar, 0.9 * dens5.held_out), dens5.error_bar],
    fmt="o-",
    capsize=3,
    color=PALETTE[0],
    label="exact fit, held out",
)
ax.loglog(
    Ks_arr, dens5.in_sample, "s--", ms=3, color=PALETTE[0], alpha=0.6, label="exact fit, in sample"
)
ax.loglog(Ks_arr, dens5.endpoints, "v:", ms=3, color=PALETTE[2], label="exact fit, c = 0 and 1")
m_ml, h_ml = zip(*[stats.mean_t_halfwidth(ml_held[K]) for K in cfg["K_values"]], strict=True)
ax.errorbar(
    cfg["K_values"],
    m_ml,
    yerr=h_ml,
    fmt="D-",
    capsize=3,
    color=PALETTE[1],
    label="trained (E2.4), held out",
)
ax.set(xscale="log", yscale="log", xlabel="components $K$", ylabel="$\\sum_t\\varepsilon_t$ (nats)")
ax.set_xticks(Ks_f, [str(k) for k in Ks_f])
ax.minorticks_off()
ax.legend(fontsize=6)
ax = axes[1]
Bs_f = sorted([*floor_runs, 5.0])
runs_B = {**floor_runs, 5.0: dens5}
ax.semilogy(
    Bs_f,
    [runs_B[B].floor.iloc[0] for B in Bs_f],
    "k:",
    marker="o",
    ms=3,
    label="exact kernels from N(0, 1)",
)
for i, K in enumerate(cfg["floor_K_values"]):
    ax.semilogy(
        Bs_f,
        [runs_B[B].output.loc[K] for B in Bs_f],
        "o-",
        color=PALETTE[i],
        label=f"output KL, K = {K}",
    )
ax.set(xlabel="horizon $B$", ylabel="$E_c$ output KL (nats)")
ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(0.0, 0.85), frameon=False)
ax = axes[2]
for i, (wd, d) in enumerate(dens_w.items()):
    ax.errorbar(
        d.index.to_numpy(dtype=float),
        d.held_out,
        yerr=[np.minimum(d.error_bar, 0.9 * d.held_out), d.error_bar],
        fmt="o-",
        ms=3,
        capsize=2,
        color=PALETTE[i],
        label=f"width {wd}",
    )
ax.set(
    xscale="log", yscale="log", xlabel="components $K$", ylabel="held-out $\\sum_t\\varepsilon_t$"
)
ax.set_xticks(Ks_f, [str(k) for k in Ks_f])
ax.minorticks_off()
ax.legend(fontsize=6)
plt.show()

# %% [markdown]
# Left: summed per-step KL of the exact fits (width {glue:text}`mk_fit_width`) against $K$
# (held out, with error bars; a bar longer than its value is cut at a tenth of the value on
# the log axis, and such a value is not resolved; in sample,
# dashed; at the two endpoint contexts, dotted) and of the trained kernels of E2.4 on the same
# held-out problems (95% t-intervals over seeds). Look at the held-out curve falling between
# consecutive $K$ while its slope flattens, and at the gap between the trained and the fitted
# kernels at equal $K$. Middle: output KL of the fitted chains against the horizon, with the
# output KL that exact kernels reach from $\mathcal N(0, 1)$ (dotted). Look at how far above the
# dotted line each $K$ sits at the shortest horizon, and at the $K = 1$ output, which is higher
# at $B = 5$ ({glue:text}`mk_out5_K1:.2g` nats) than at $B$ = {glue:text}`mk_B_lo:g`
# ({glue:text}`mk_out_lo_K1:.2g`); at fixed $T$ a longer horizon also means larger steps, so
# this sweep does not separate the horizon from the step size. Right: the held-out summed per-step KL against $K$ for each logit-network
# width (widths {glue:text}`mk_fit_widths`); look at whether the lines separate at large $K$,
# where the logits have more to resolve.


# %%
def full_says(cid):
    """What the recorded paper-scale reference (results/full/, which can predate this version
    of the chapter) measured for claim ``cid``, as a phrase."""
    if profile == "full":
        return f"{cid}: this run is the paper-scale profile"
    for root in [Path(kf.__file__).resolve().parents[1], Path.cwd(), *Path.cwd().parents]:
        f = root / "results" / "full" / "02_mixture_kernels.json"
        if f.is_file():
            ref = {c["id"]: c for c in json.loads(f.read_text())["claims"]}
            break
    else:
        ref = {}
    c = ref.get(cid)
    if c is None:
        return f"no full-profile reference of {cid} is recorded"
    iv = c.get("interval")
    ivs = f" [{float(iv[0]):.3g}, {float(iv[1]):.3g}]" if iv else ""
    return f"the recorded full-profile reference measures {cid} = {c['measured']:.3g}{ivs}, '{c['verdict']}'"


held = dens5.held_out.to_numpy()
bars = dens5.error_bar.to_numpy()
dec_margin = float(np.min(held[:-1] - held[1:] - bars[:-1] - bars[1:]))
i_dec = int(np.argmin(held[:-1] - held[1:] - bars[:-1] - bars[1:]))
# E2.7a: the decrease of the pair with the smallest lower end, its interval from both bars
dec_diff = kf.difference_with_errors(
    float(held[i_dec]),
    float(bars[i_dec]),
    float(held[i_dec + 1]),
    float(bars[i_dec + 1]),
    2,
    f"held-out sum at K={Ks_f[i_dec]} minus K={Ks_f[i_dec + 1]}, the consecutive pair with the "
    "smallest lower end; bars: grid change plus start spread of both",
)
local = stats.local_slopes(Ks_f, held)
rate = stats.asymptotic_slope(Ks_f, held)
# E2.7g: the decrease from K = 1 to the largest K, with grid change and start spread in the bars
dens_ratio = kf.ratio_with_errors(
    float(held[-1]),
    float(bars[-1]),
    float(held[0]),
    float(bars[0]),
    2,
    "held-out sums: change from the fitting grid to the 1.6x finer one plus the spread over "
    "starts (random and nested), at both K",
)
B_lo = min(cfg["floor_horizons"])
fl = floor_runs[B_lo]
K_lo_f, K_hi_f = min(cfg["floor_K_values"]), max(cfg["floor_K_values"])
gap_lo = abs(fl.output.loc[K_lo_f] - fl.floor.loc[K_lo_f])
gap_hi = abs(fl.output.loc[K_hi_f] - fl.floor.loc[K_hi_f])
gap_ratio = float(gap_hi / gap_lo)
dpi_min = float(dens5.dpi_slack.min())
num_max = float(dens5.error_bar.max())
K_ml = max(cfg["K_values"])
ml_gap = stats.t_interval(
    ml_held[K_ml] - dens5.held_out.loc[K_ml], note=f"trained minus exact fit, K={K_ml}, held out"
)
ends_ratio = float(dens5.endpoints.iloc[-1] / dens5.interior.iloc[-1])
# a third grid level (1.6x finer again) for the largest K: the endpoint ratio and the sum
grid_r2 = dict(n_z=int(1.6 * grid_r["n_z"]) | 1, n_y=int(1.6 * grid_r["n_y"]) | 1)
R2 = kf.chain_problems(gumbel_beta, chain_l, held_c, context_weights=w_held.tolist(), **grid_r2)
per_r2 = kf.chain_values_per_context(R2, dens5.models.iloc[-1])
held_r2 = float(w_held @ per_r2)
ends_r2 = float(per_r2[~inner].mean() / np.average(per_r2[inner], weights=w_held[inner]))
ends_ref = stats.refinement(
    float(dens5.ends_coarse.iloc[-1]),
    ends_ratio,
    ends_r2,
    note="fitting grid, then 1.6x and 2.56x finer (the value is the finest)",
)
ends_change = float(abs(ends_r2 - ends_ratio))
ends_change_coarse = float(abs(ends_r2 - dens5.ends_coarse.iloc[-1]))
# the largest K's error bar: its grid part (middle to finest grid) against its start spread
held_r2_change = float(abs(held_r2 - held[-1]))
# width sweep: at the largest K, narrowest minus widest width, beyond both error bars
W_lo, W_hi = min(Ws_f), max(Ws_f)
d_lo, d_hi = dens_w[W_lo].loc[Ks_f[-1]], dens_w[W_hi].loc[Ks_f[-1]]
width_diff = kf.difference_with_errors(
    float(d_lo.held_out),
    float(d_lo.error_bar),
    float(d_hi.held_out),
    float(d_hi.error_bar),
    2,
    "narrowest minus widest width at the largest K; bars: grid change plus start spread of both",
)
width_margin = float(width_diff.low)
gap_floor = {w: (d.output - d.floor) for w, d in dens_w.items()}
# E2.7i (criterion fixed before the full run that first computes it): the floor a of
# held ~ a + b K^-r, relative to the K = 1 value, at most 5%; needs >= 4 values of K
if len(Ks_f) >= 4:
    floor_fit, floor_b, floor_r = kf.fit_power_floor(
        Ks_f, held, note="floor a of held ~ a + b K^-r over K (relative residuals)"
    )
    floor_rel = stats.scaled(
        floor_fit, 1.0 / float(held[0]), note="fitted floor over the K = 1 held-out sum"
    )
else:
    floor_rel = stats.undecidable(
        "fit", len(Ks_f), f"{len(Ks_f)} values of K: a three-parameter fit needs at least 4"
    )
    floor_r = float("nan")
# E2.7j: exact terminal matching (start from q(z_T | c)), output at the largest K over K = 1
out_ex = dens5.output_exact_start.loc[[Ks_f[0], Ks_f[-1]]].to_numpy()
exact_start_ratio = float(out_ex[-1] / out_ex[0])
if math.isfinite(floor_rel.high):
    floor_text = (
        f"the fitted floor is {floor_rel.value:.2g} of the K = 1 value, 95% fit interval "
        f"[{floor_rel.low:.2g}, {floor_rel.high:.2g}] (fitted exponent r = {floor_r:.2g})"
    )
else:
    floor_text = (
        f"with {len(Ks_f)} values of K the floor cannot be fitted in this profile, so E2.7i is "
        "undecided here"
    )
for key, val in [
    ("mk_fit_nz", nz_f),
    ("mk_fit_ny", ny_f),
    ("mk_fit_width", W_f),
    ("mk_n_train_c", n_tr),
    ("mk_n_held_c", len(held_c)),
    ("mk_fit_it1", it1),
    ("mk_fit_it2", it2),
    ("mk_fit_starts", starts_f),
    ("mk_fit_K_list", ", ".join(str(k) for k in Ks_f)),
    ("mk_held_K1", float(held[0])),
    ("mk_held_Kmax", float(held[-1])),
    ("mk_fit_Kmax", int(Ks_f[-1])),
    ("mk_in_Kmax", float(dens5.in_sample.iloc[-1])),
    ("mk_gen_ratio_K1", float(held[0] / dens5.in_sample.iloc[0])),
    ("mk_gen_ratio_Kmax", float(held[-1] / dens5.in_sample.iloc[-1])),
    ("mk_step1_share", float((dens5.step1 / dens5.held_out).min())),
    ("mk_dec_margin", dec_margin),
    ("mk_rate", rate.value),
    ("mk_rate_err", rate.half_width),
    ("mk_dens_ratio", dens_ratio.value),
    ("mk_dens_ratio_hi", dens_ratio.high),
    ("mk_spread_max", float(dens5.start_spread.max())),
    ("mk_local_first", float(local[0])),
    ("mk_local_last", float(local[-1])),
    ("mk_err_max_rel", float((bars / held).max())),
    ("mk_B_lo", B_lo),
    ("mk_floor_lo", float(fl.floor.iloc[0])),
    ("mk_out_lo_K1", float(fl.output.loc[K_lo_f])),
    ("mk_out_lo_Kmax", float(fl.output.loc[K_hi_f])),
    ("mk_K_hi_f", int(K_hi_f)),
    ("mk_gap_ratio", gap_ratio),
    ("mk_floor_5", float(dens5.floor.iloc[0])),
    ("mk_out5_Kmax", float(dens5.output.iloc[-1])),
    ("mk_out5_K1", float(dens5.output.iloc[0])),
    ("mk_dpi_min", dpi_min),
    ("mk_ml_Kmax", float(ml_held[K_ml].mean())),
    ("mk_fit_at_ml", float(dens5.held_out.loc[K_ml])),
    ("mk_ml_gap", ml_gap.value),
    ("mk_ml_gap_lo", ml_gap.low),
    ("mk_ml_gap_hi", ml_gap.high),
    ("mk_ml_K", int(K_ml)),
    ("mk_fit_bar_ml", float(dens5.error_bar.loc[K_ml])),
    ("mk_ends_ratio", ends_r2),
    ("mk_ends_change", ends_change),
    ("mk_ends_change_coarse", ends_change_coarse),
    ("mk_held_r2", held_r2),
    ("mk_held_r2_change", held_r2_change),
    (
        "mk_grid_vs_spread",
        "the grid resolves the sum, and what leaves it unresolved is the spread over starts"
        if max(held_r2_change, float(dens5.error_bar.iloc[-1] - dens5.start_spread.iloc[-1]))
        < 0.25 * float(dens5.start_spread.iloc[-1])
        else "the grid change is not small against the spread over starts",
    ),
    ("mk_spread_Kmax", float(dens5.start_spread.iloc[-1])),
    ("mk_grid_Kmax", float(dens5.error_bar.iloc[-1] - dens5.start_spread.iloc[-1])),
    ("mk_fit_K_lo_f", int(K_lo_f)),
    ("mk_fit_widths", ", ".join(str(w) for w in Ws_f)),
    ("mk_decay_word", "slows down" if local[-1] > local[0] else "does not slow down"),
    ("mk_W_lo", int(W_lo)),
    ("mk_W_hi", int(W_hi)),
    ("mk_wlo_Kmax", float(d_lo.held_out)),
    ("mk_whi_Kmax", float(d_hi.held_out)),
    ("mk_width_margin", width_margin),
    ("mk_width_diff", width_diff.value),
    ("mk_floor_rel", floor_rel.value),
    ("mk_floor_rel_lo", floor_rel.low),
    ("mk_floor_rel_hi", floor_rel.high),
    ("mk_floor_r", floor_r),
    ("mk_exstart_K1", float(out_ex[0])),
    ("mk_exstart_Kmax", float(out_ex[-1])),
    ("mk_exstart_ratio", exact_start_ratio),
    ("mk_floor_text", floor_text),
    ("mk_full_27c", full_says("E2.7c")),
    ("mk_full_27h", full_says("E2.7h")),
    ("mk_width_diff_hi", width_diff.high),
    ("mk_dec_diff_lo", dec_diff.low),
    ("mk_dec_diff_hi", dec_diff.high),
    ("mk_gapfl_lo_Kmax", float(gap_floor[W_lo].iloc[-1])),
    ("mk_gapfl_hi_Kmax", float(gap_floor[W_hi].iloc[-1])),
    ("mk_gapfl_K1", float(gap_floor[W_hi].iloc[0])),
]:
    glue(
        key,
        val if isinstance(val, str) else float(val) if isinstance(val, float) else int(val),
        display=False,
    )

# %% [markdown]
# The held-out summed per-step KL of the exact fits falls from {glue:text}`mk_held_K1:.3g`
# nats at $K = 1$ to {glue:text}`mk_held_Kmax:.2g` nats at $K$ = {glue:text}`mk_fit_Kmax`
# ($K \in$ {glue:text}`mk_fit_K_list`), a ratio of {glue:text}`mk_dens_ratio:.2g` (upper end
# {glue:text}`mk_dens_ratio_hi:.2g` with both error bars; the largest spread over starts is
# {glue:text}`mk_spread_max:.2g` nats: the nested and the random starts can end far apart; a
# spread over two or three starts is the optimisation error we can see, not a bound on it);
# between consecutive $K$ the decrease with the smallest lower end lies within
# [{glue:text}`mk_dec_diff_lo:.2g`, {glue:text}`mk_dec_diff_hi:.2g`] nats with both error bars
# (E2.7a is undecided when this contains 0; the largest error bar is
# {glue:text}`mk_err_max_rel:.2g` times its value, so the largest-$K$ values are not resolved
# when this exceeds 1). The data step
# carries at least a fraction {glue:text}`mk_step1_share:.3f` of the sum at every $K$. The
# decay {glue:text}`mk_decay_word`: the local log-log slope is {glue:text}`mk_local_first:.2f` between the first two $K$ and
# {glue:text}`mk_local_last:.2f` between the last two (change {glue:text}`mk_rate_err:.2g`), so
# whether the sum keeps falling towards 0 or flattens at a floor below the 5% of E2.7g is not
# decided at this budget. Fitting held $\approx a + bK^{-r}$ (E2.7i), {glue:text}`mk_floor_text`.
# Started from the exact $q(z_T\mid c)$ (exact terminal matching, E2.7j) the fitted chains'
# held-out output KL is {glue:text}`mk_exstart_K1:.2g` nats at $K = 1$ and
# {glue:text}`mk_exstart_Kmax:.2g` at $K$ = {glue:text}`mk_fit_Kmax`, a ratio of
# {glue:text}`mk_exstart_ratio:.2g` (one grid, best start per step, no error bar). The ratio of the held-out to the in-sample error is
# {glue:text}`mk_gen_ratio_K1:.3g` at $K = 1$ and {glue:text}`mk_gen_ratio_Kmax:.3g` at
# $K$ = {glue:text}`mk_fit_Kmax`, and at the
# largest $K$ the two endpoint contexts, outside the training range, carry
# {glue:text}`mk_ends_ratio:.3g` times the interior error (on the finest of three grids, each
# 1.6 times finer than the last; the middle grid gives a ratio that differs by
# {glue:text}`mk_ends_change:.2g`, the fitting grid one that differs by
# {glue:text}`mk_ends_change_coarse:.2g`). At the largest $K$ the error bar is mostly the
# spread over starts ({glue:text}`mk_spread_Kmax:.2g` nats, against a grid change of
# {glue:text}`mk_grid_Kmax:.2g`), and the held-out sum on the finest grid is
# {glue:text}`mk_held_r2:.2g` nats, {glue:text}`mk_held_r2_change:.2g` from the middle grid's
# value: {glue:text}`mk_grid_vs_spread`. Whether generalisation
# over $c$ from {glue:text}`mk_n_train_c` training contexts is a visible part of the error at
# large $K$ is not decided here: the held-out to in-sample ratio at the largest $K$ has to be
# read against that $K$'s error bar, and the endpoint ratio against its own grid change.
#
# Over the logit-network widths (E2.7h), at $K$ = {glue:text}`mk_fit_Kmax` the held-out sum is
# {glue:text}`mk_wlo_Kmax:.2g` nats at width {glue:text}`mk_W_lo` and
# {glue:text}`mk_whi_Kmax:.2g` at width {glue:text}`mk_W_hi` (the narrower minus the wider,
# {glue:text}`mk_width_diff:.2g` nats, within [{glue:text}`mk_width_margin:.2g`,
# {glue:text}`mk_width_diff_hi:.2g`] with both error bars: an interval that contains 0 leaves
# E2.7h undecided; {glue:text}`mk_full_27h`, from a version that recorded the margin
# less both bars as an exact number). The output KL of these fitted
# chains sits {glue:text}`mk_gapfl_lo_Kmax:.2g` and {glue:text}`mk_gapfl_hi_Kmax:.2g` nats
# above the terminal-limited floor at $K$ = {glue:text}`mk_fit_Kmax` (widths
# {glue:text}`mk_W_lo` and {glue:text}`mk_W_hi`), against {glue:text}`mk_gapfl_K1:.2g` at
# $K = 1$ (the table above lists every width and $K$).
#
# At $B$ = {glue:text}`mk_B_lo:g` the exact kernels' output KL (from $\mathcal N(0, 1)$) is
# {glue:text}`mk_floor_lo:.2g` nats; the fitted chains reach {glue:text}`mk_out_lo_K1:.3g` nats
# at $K = 1$ and {glue:text}`mk_out_lo_Kmax:.2g` at $K$ = {glue:text}`mk_K_hi_f`, so the gap
# to the exact-kernel output shrinks to a fraction {glue:text}`mk_gap_ratio:.2g` of its
# $K = 1$ value (E2.7c asks for at most a tenth; best of the random and nested starts per step; no error bar is computed for
# these $B = 1$ runs, so E2.7c reads one run and cannot come out undecided; the fraction
# depends on the fitting budget, which differs between the `ci` and `full` profiles, and the
# horizon is changed at fixed $T$, so the step size changes with it; {glue:text}`mk_full_27c`). At $B = 5$ the exact kernels' output KL is
# {glue:text}`mk_floor_5:.1g` nats and the largest $K$ reaches {glue:text}`mk_out5_Kmax:.2g`:
# from the same wrong prior, exact kernels would do far better, so the fitted chains' output
# error at $B = 5$ is not set by the prior (this is still not exact terminal matching, which no
# finite $B$ gives). Data processing holds for every fitted
# chain at $B = 5$, context-averaged (smallest slack {glue:text}`mk_dpi_min:.2g` nats; we check
# it on the context averages only). The trained kernels of E2.4 at $K$ = {glue:text}`mk_ml_K`
# score {glue:text}`mk_ml_Kmax:.3g` nats on the same held-out problems, against
# {glue:text}`mk_fit_at_ml:.3g` for the exact fit (trained minus fitted
# {glue:text}`mk_ml_gap:.2g`, 95% t-interval over seeds [{glue:text}`mk_ml_gap_lo:.2g`,
# {glue:text}`mk_ml_gap_hi:.2g`], against the fit's own error bar of
# {glue:text}`mk_fit_bar_ml:.1g` nats): the difference
# mixes what training from samples loses with a different architecture (the trained network is
# shared across steps through a one-hot $t$; the fitted ones are one network per step) and a
# different optimiser (Adam against L-BFGS), so it is not attributed to sampling alone.

# %%
ledger.record(
    "E2.7g",
    kind="question",
    paper=PAPER,
    claim="Question (the 5% was chosen after a one-start run, so not a verdict on the paper's "
    "'arbitrarily well'): exact per-step fits (networked class, non-mixture Gumbel + Beta target, "
    "held-out contexts, B = 5): is the summed per-step KL at the largest K at most 5% of its "
    "K = 1 value? Ratio, with the grid change and the spread over starts of both sums in its "
    "interval; upper bounds at the profile's budget",
    measured=dens_ratio,
    expect=at_most(0.05),
    section="mk-exact-density",
    rtol=0.5,
    atol=0.002,
)
ledger.record(
    "E2.7i",
    kind="question",
    paper=PAPER,
    claim="Question (criterion fixed before the first full run that computes it; ci has too few "
    "K to fit): is the floor a of the fit held-out sum ~ a + b K^-r over the exact fits at most "
    "5% of the K = 1 value? Fitted floor over the K = 1 value, 95% fit interval (scatter about "
    "the model only, not the points' error bars)",
    measured=floor_rel,
    expect=at_most(0.05),
    section="mk-exact-density",
    rtol=0.5,
    atol=0.01,
)
ledger.record(
    "E2.7j",
    kind="question",
    paper=PAPER,
    claim="Question (exact terminal matching on the non-mixture target): started from the exact "
    "q(z_T | c), does the fitted chains' held-out output KL at the largest K fall to at most a "
    "tenth of its K = 1 value? Ratio (grid propagation on one grid, best start per step; no "
    "error bar, so a single-run reading)",
    measured=exact_start_ratio,
    expect=at_most(0.1),
    section="mk-exact-density",
    rtol=0.3,
    atol=0.01,
)
ledger.record(
    "E2.7h",
    kind="question",
    paper=PAPER,
    claim="Question (width sweep of the exact fits, held out): at the largest K, is the summed "
    "per-step KL of the narrowest logit network above that of the widest by more than both "
    "error bars (grid change + start spread)? Difference (nats) with the summed bars as its "
    "interval, upper bounds at the profile's budget (in ci the narrower width is fitted at the "
    "smallest and largest K only, so its nested start jumps a factor the wider one takes in "
    "two steps)",
    measured=width_diff,
    expect=at_least(0.0),
    section="mk-exact-density",
    rtol=0.5,
    atol=float(0.25 * abs(width_diff.value)),
)
ledger.record(
    "E2.7a",
    kind="question",
    paper=PAPER,
    claim="Question (tests our optimiser: for best-in-class kernels it holds by nesting): do the "
    "exact fits' held-out summed per-step KLs decrease between consecutive K by more than the "
    "error bars (grid change + start spread) of both points? Decrease (nats) of the pair with "
    "the smallest lower end, the summed bars as its interval",
    measured=dec_diff,
    expect=at_least(0.0),
    section="mk-exact-density",
    rtol=0.5,
    atol=float(0.25 * abs(dec_diff.value)),
)
ledger.record(
    "E2.7b",
    kind="question",
    paper=PAPER,
    claim="Question: does the held-out summed per-step KL of the exact fits still fall at least "
    "as fast as K^-1 between the two largest K? Last local log-log slope (error: change from the "
    "previous pair)",
    measured=rate,
    expect=at_most(-1.0),
    section="mk-exact-density",
    rtol=0.1,
    atol=0.1,
)
ledger.record(
    "E2.7c",
    kind="question",
    paper=PAPER,
    claim="Question: at a short horizon (B = 1), does the output KL of the exact fits approach "
    "the output KL of the exact kernels started from N(0, 1) (not a lower bound for the class)? "
    "|output - exact-kernel output| at the largest floor-run K at most a tenth of its K = 1 "
    "value (ratio; best of the starts per step, no error bar)",
    measured=gap_ratio,
    expect=at_most(0.1),
    section="mk-exact-density",
    rtol=0.2,
    atol=0.005,
)
ledger.record(
    "E2.7d",
    kind="check",
    paper=PAPER,
    claim="Data processing for every fitted chain (B = 5), context-averaged over the held-out "
    "contexts: "
    "terminal + summed per-step KL (finer grid) - output KL >= 0 within the largest numerical "
    "error bar (smallest slack, nats)",
    measured=dpi_min,
    expect=at_least(-num_max),
    section="mk-exact-density",
    rtol=0.5,
    atol=1e-4,
)
ledger.record(
    "E2.7e",
    kind="question",
    paper=PAPER,
    claim="Question: are the trained kernels of E2.4 above the exact fit at the same K on the "
    "same held-out problems? Trained minus fitted summed per-step KL at K = max of E2.4, "
    "t-interval over training seeds, above the fit's own error bar (grid change + start "
    "spread); the difference mixes sampling, architecture and optimiser",
    measured=ml_gap,
    expect=at_least(float(dens5.error_bar.loc[K_ml])),
    section="mk-exact-density",
    rtol=0.2,
    atol=0.005,
)
_ = ledger.record(
    "E2.7f",
    kind="question",
    paper=PAPER,
    claim="Question: do the endpoint contexts c = 0, 1 (outside the training range) carry more "
    "per-step error than the interior held-out contexts? Ratio at the largest K on the finest "
    "of three grids (numerical error: largest change from the two coarser grids)",
    measured=ends_ref,
    expect=at_least(1.0),
    section="mk-exact-density",
    rtol=0.2,
    atol=0.05,
)

# %% [markdown]
# (mk-literal)=
# ## E2.8 The paper's literal class: mixtures of regressions
#
# **Statement (paper, abstract).** The "reverse kernels are finite Gaussian mixtures with
# ReLU-network logits", and each static problem is "solved by composing Norets'
# Gaussian-mixture theory with quantitative ReLU bounds"; Norets' mixtures of regressions have
# component means affine in the covariates. **Class (our
# reading).** `kf.RegressionMixture`: ReLU-network logits of $(z_t, c)$, component means
# $\beta_{k0} + \beta_k^\top(z_t, c)$ and constant variances; and, as a contrast, constant
# means $\beta_{k0}$. Both are fitted on the data step alone (which carries most of the error,
# E2.7) with the iterations and grids of E2.7 and {glue:text}`mk_lit_starts` random start(s)
# plus, above the smallest $K$, the nested start of E2.7 (the previous $K$'s best fit with split
# components; at the smallest $K$ with one random start the error bar leaves out the
# optimisation error), the random ones from a data-driven start (`initialise`: a weighted
# regression of $z_0$ on $(1, z_1, c)$ under $q$, intercepts at residual quantiles), and
# compared with the networked class at the same $K$ on the held-out contexts. Claims fixed
# before the run: E2.8a (*question*; for the best kernel of the class it holds by nesting, so it
# tests our optimiser, not the paper, whose quoted words define the class rather than claim a
# decrease) does the literal class's held-out error decrease from each $K$ to the next by more
# than the error bars? E2.8b (*question*) is the literal class within a factor
# 2 of the networked one at the largest $K$? E2.8c (*question*) do constant means cost at least
# a factor 2 at the smallest $K$? E2.8d (*question*) does the ratio to the networked class
# shrink from the smallest to the largest $K$?

# %% tags=["hide-input"]
P1, H1, R1 = probs5["P"][0], probs5["H"][0], probs5["R"][0]
lit_rows, lit_prev = [], None
for K in cfg["lit_K_values"]:
    for means in ["affine"] + (["constant"] if K == min(cfg["lit_K_values"]) else []):

        def make_lit(g, K=K, means=means):
            m = kf.RegressionMixture(
                K, W_f, math.sqrt(chain_l.b2(1)), chain_l.a(1), means=means, generator=g
            )
            return m.initialise(P1, g)

        # affine means: a nested start from the previous K's best fit (split components)
        nest = means == "affine" and lit_prev is not None and K % lit_prev[0] == 0
        ms = kf.fit_multistart(
            P1,
            make_lit,
            n_starts=cfg["lit_starts"],
            seed=40_000 + 1000 * seed + K,
            disable=True,
            max_iter=it1,
            initial=[kf.split_components(lit_prev[1].best, K // lit_prev[0])] if nest else [],
        )
        if means == "affine":
            lit_prev = (K, ms)
        v = kf.step_value(R1, ms.best)
        lit_rows.append(
            dict(
                K=K,
                means=means,
                held_out=v,
                error_bar=abs(kf.step_value(H1, ms.best) - v) + ms.spread,
                networked=float(dens5.step1.loc[K]),
                # the networked data step's bar: its grid change plus the start spread of the
                # whole held-out sum (no per-step spread is kept; this over-covers the data step)
                networked_bar=float(
                    abs(dens5.step1.loc[K] - dens5.step1_coarse.loc[K]) + dens5.start_spread.loc[K]
                ),
            )
        )
lit = pd.DataFrame(lit_rows)
lit["ratio to networked"] = lit.held_out / lit.networked
lit

# %% [markdown]
# Data-step KL (held out, finer grid, nats) of the literal class with affine and constant means,
# with its error bar (change from the fitting grid plus the start spread), beside the networked
# class at the same $K$ (E2.7), and their ratio.

# %%
aff = lit[lit.means == "affine"].set_index("K")
lit_margin = float(
    np.min(
        aff.held_out.to_numpy()[:-1]
        - aff.held_out.to_numpy()[1:]
        - aff.error_bar.to_numpy()[:-1]
        - aff.error_bar.to_numpy()[1:]
    )
)
i_lit = int(
    np.argmin(
        aff.held_out.to_numpy()[:-1]
        - aff.held_out.to_numpy()[1:]
        - aff.error_bar.to_numpy()[:-1]
        - aff.error_bar.to_numpy()[1:]
    )
)
lit_dec = kf.difference_with_errors(
    float(aff.held_out.iloc[i_lit]),
    float(aff.error_bar.iloc[i_lit]),
    float(aff.held_out.iloc[i_lit + 1]),
    float(aff.error_bar.iloc[i_lit + 1]),
    2,
    f"literal class at K={aff.index[i_lit]} minus K={aff.index[i_lit + 1]}, the pair with the "
    "smallest lower end; bars: grid change plus start spread of both",
)
lit_ratio = float(aff["ratio to networked"].iloc[-1])
# E2.8b/E2.8d: the ratios with both error bars (literal and networked)
lit_ratio_iv = {
    K: kf.ratio_with_errors(
        float(r.held_out),
        float(r.error_bar),
        float(r.networked),
        float(r.networked_bar),
        2,
        f"literal / networked data-step KL at K={K}; bars: grid change plus start spread of both",
    )
    for K, r in aff.iterrows()
}
lit_ratio_ratio = kf.quotient_of_intervals(
    lit_ratio_iv[int(aff.index[-1])],
    lit_ratio_iv[int(aff.index[0])],
    "ratio to the networked class at the largest over the smallest K, extreme ratios over "
    "both intervals",
)
K_c = min(cfg["lit_K_values"])
const_ratio = float(lit[(lit.means == "constant")].held_out.iloc[0] / aff.held_out.loc[K_c])
for key, val in [
    ("mk_lit_Kmin", K_c),
    ("mk_lit_Kmax", int(aff.index[-1])),
    ("mk_lit_min", float(aff.held_out.iloc[0])),
    ("mk_lit_max", float(aff.held_out.iloc[-1])),
    ("mk_lit_ratio", lit_ratio),
    ("mk_lit_ratio_min", float(aff["ratio to networked"].iloc[0])),
    ("mk_const_ratio", const_ratio),
    ("mk_lit_margin", lit_margin),
    ("mk_lit_ratio_lo", lit_ratio_iv[int(aff.index[-1])].low),
    ("mk_lit_ratio_hi", lit_ratio_iv[int(aff.index[-1])].high),
    ("mk_lit_rr", lit_ratio_ratio.value),
    ("mk_lit_rr_lo", lit_ratio_ratio.low),
    ("mk_lit_rr_hi", lit_ratio_ratio.high),
    ("mk_lit_starts", int(cfg["lit_starts"])),
    ("mk_full_28", "; ".join(full_says(c) for c in ["E2.8a", "E2.8b", "E2.8d"])),
]:
    glue(key, val, display=False)

# %% [markdown]
# The literal class falls from {glue:text}`mk_lit_min:.3g` nats at $K$ =
# {glue:text}`mk_lit_Kmin` to {glue:text}`mk_lit_max:.2g` at $K$ = {glue:text}`mk_lit_Kmax`
# (smallest margin over the error bars {glue:text}`mk_lit_margin:.2g` nats); it is
# {glue:text}`mk_lit_ratio_min:.3g` and {glue:text}`mk_lit_ratio:.3g` times the networked class
# at the smallest and largest $K$ (the latter within [{glue:text}`mk_lit_ratio_lo:.2g`,
# {glue:text}`mk_lit_ratio_hi:.2g`] with both classes' error bars; the ratio of the two ratios
# is {glue:text}`mk_lit_rr:.2g`, within [{glue:text}`mk_lit_rr_lo:.2g`,
# {glue:text}`mk_lit_rr_hi:.2g`]). Constant means cost a factor {glue:text}`mk_const_ratio:.3g`
# at $K$ = {glue:text}`mk_lit_Kmin` (with constant means the kernel depends on $z_1$ only
# through its logits, by construction). E2.8d asks whether the ratio to the networked class
# shrinks from the smallest to the largest $K$ (in `ci` a comparison of two values of $K$, one
# random start each plus the nested start at the larger: the `full` profile has more $K$ and
# two random starts). The scale matters here: {glue:text}`mk_full_28` (that reference
# predates the error bars of E2.8b and E2.8d). Where the two profiles disagree, the `ci`
# comparison at two values of $K$ with one random start does not decide E2.8b or E2.8d.

# %%
ledger.record(
    "E2.8a",
    kind="question",
    paper=PAPER,
    claim="Question (tests our optimiser: for best-in-class kernels it holds by nesting): does "
    "the literal class (ReLU logits, means affine in (z_t, c), constant variances; exact fit of "
    "the data step, held-out contexts) decrease from each K to the next by more than the error "
    "bars (grid change + start spread)? Decrease (nats) of the pair with the smallest lower "
    "end, the summed bars as its interval; upper bounds",
    measured=lit_dec,
    expect=at_least(0.0),
    section="mk-literal",
    rtol=0.5,
    atol=float(0.25 * abs(lit_dec.value)),
)
ledger.record(
    "E2.8b",
    kind="question",
    paper=PAPER,
    claim="Question: is the literal class within a factor 2 of the networked class at the "
    "largest K (held-out data-step KL ratio, both error bars in its interval)?",
    measured=lit_ratio_iv[int(aff.index[-1])],
    expect=at_most(2.0),
    section="mk-literal",
    rtol=0.2,
    atol=0.05,
)
_ = ledger.record(
    "E2.8c",
    kind="question",
    paper=PAPER,
    claim="Question: do constant component means cost at least a factor 2 against affine means "
    "at the smallest K (held-out data-step KL ratio)?",
    measured=const_ratio,
    expect=at_least(2.0),
    section="mk-literal",
    rtol=0.2,
    atol=0.05,
)
_ = ledger.record(
    "E2.8d",
    kind="question",
    paper=PAPER,
    claim="Question: does the literal class close in on the networked class as K grows? Ratio "
    "(literal / networked held-out data-step KL) at the largest K over the same ratio at the "
    "smallest K, at most 1 (both ratios' error bars in its interval)",
    measured=lit_ratio_ratio,
    expect=at_most(1.0),
    section="mk-literal",
    rtol=0.2,
    atol=0.05,
)

# %% [markdown]
# (mk-features)=
# ## E2.5 The feature-map assumption on a three-dimensional context
#
# **Statement (paper, abstract).** "Assuming each reverse kernel factors through a
# finite-dimensional feature map, each step becomes a static conditional density approximation
# problem." With a scalar context the assumption holds trivially, so we make it bite: the
# context is $c\in[0,1]^3$ and the data law is the Gumbel + Beta law at $s = w^\top c$ with
# $w = (\tfrac12, \tfrac12, 0)$ (`kf.ProjectedTarget`): the target depends on $c$ through one
# direction, and $c_3$ is a nuisance. Kernels see $\phi(c) = Pc$ with $P$ either learned
# jointly ($1\times 3$), or fixed and insufficient: dropping $c_2$ (keeping $(c_1, c_3)$)
# {glue:text}`mk_feat_extra`. **Floor (our derivation).** A kernel that sees only
# $G = \phi(c)$ cannot beat the kernel $q(z_{t-1}\mid z_t, G)$ of the context group, whose
# per-step KL is the conditional mutual information $I(z_{t-1}; C\mid z_t, G)$
# (`kf.grouped_step_floor`); by the chain rule their sum over steps is
# $I(z_0; C\mid G) - I(z_T; C\mid G)$. That a fit stays above its floor, and the sum identity,
# are *checks*. The fits are exact (E2.7's objective) on the data step $t = 1$, $K$ =
# {glue:text}`mk_feat_K`, {glue:text}`mk_feat_iters` L-BFGS iterations, on a product grid of
# {glue:text}`mk_n_c3` contexts. Questions fixed before the run: does the learned map recover
# the direction of $w$ within 5°? Is its error below half the floor of the map that drops
# $c_2$? Does the insufficient fit come within 20% of its floor (in `ci` an upper bound at a
# small budget: the `full` profile decides)?

# %% tags=["hide-input"]
lv, l3 = cfg["feat_levels"]
g12 = (np.arange(lv) + 0.5) / lv
g3 = (np.arange(l3) + 0.5) / l3
c3 = torch.tensor([[a, b, d] for a in g12 for b in g12 for d in g3], dtype=torch.float64)
w_dir = torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64)
tg3 = kf.ProjectedTarget(GumbelBetaTarget(), w_dir)
P3 = kf.step_problem(tg3, chain_l, 1, c3, **grid_f)
maps3 = {
    "learned": lambda g: kf.ContextMap.learned(3, 1, g),
    "drops c2": lambda g: kf.ContextMap.fixed([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]),
}
if profile == "full":
    maps3["identity"] = lambda g: kf.ContextMap.identity(3)
    maps3["orthogonal to w"] = lambda g: kf.ContextMap.fixed([[2**-0.5, -(2**-0.5), 0.0]])
feat_rows, feat_models = [], {}
for name, make_map in maps3.items():

    def make3(g, make_map=make_map):
        return kf.NetworkedMixture(
            cfg["feat_K"], W_f, math.sqrt(chain_l.b2(1)), context_map=make_map(g), generator=g
        )

    ms = kf.fit_multistart(
        P3, make3, n_starts=1, seed=50_000 + 1000 * seed, disable=True, max_iter=cfg["feat_iters"]
    )
    feat_models[name] = ms.best
    groups = kf.context_groups(c3, ms.best.context_map)
    floor3 = (
        0.0 if name == "learned" else kf.grouped_step_floor(tg3, chain_l, 1, c3, groups, **grid_f)
    )
    feat_rows.append(dict(map=name, step1=ms.best_value, floor=floor3))
feat = pd.DataFrame(feat_rows).set_index("map")
# held out: contexts shifted by a quarter cell from the fitting ones, on the 1.6x finer grid
g12h, g3h = (np.arange(lv) + 0.25) / lv, (np.arange(l3) + 0.25) / l3
c3h = torch.tensor([[a, b, d] for a in g12h for b in g12h for d in g3h], dtype=torch.float64)
P3h = kf.step_problem(tg3, chain_l, 1, c3h, **grid_r)
feat["held_out"] = [kf.step_value(P3h, feat_models[n]) for n in feat.index]
feat["floor_held"] = [
    0.0
    if n == "learned"
    else kf.grouped_step_floor(
        tg3, chain_l, 1, c3h, kf.context_groups(c3h, feat_models[n].context_map), **grid_r
    )
    for n in feat.index
]
P_learned = feat_models["learned"].context_map.matrix.detach().reshape(-1)
angle = float(
    torch.rad2deg(torch.arccos((P_learned @ w_dir).abs() / (P_learned.norm() * w_dir.norm())))
)
# the chain-rule identity of the floors of the map that drops c2, over all steps
g_drop = kf.context_groups(c3, feat_models["drops c2"].context_map)
floors_t = [
    kf.grouped_step_floor(tg3, chain_l, t, c3, g_drop, n_z=nz_f, n_y=401) for t in range(1, T_l + 1)
]
x_info = torch.linspace(-7.0, 7.0, 2001, dtype=torch.float64)
info_drop = kf.conditional_context_information(
    tg3, c3, g_drop, 1.0, 0.0, x_info
) - kf.conditional_context_information(
    tg3, c3, g_drop, chain_l.alpha(T_l), chain_l.sigma(T_l), x_info
)
floor_identity = float(abs(sum(floors_t) - info_drop) / info_drop)
feat

# %% [markdown]
# Data-step KL (nats) of the fitted kernels for each context map, with the floor of the maps
# that lose information, at the fitting contexts on the fitting grid (`step1`, `floor`) and at
# held-out contexts (shifted by a quarter cell) on the 1.6 times finer grid (`held_out`,
# `floor_held`).

# %%
drop_excess = float(feat.held_out["drops c2"] / feat.floor_held["drops c2"] - 1.0)
ins = feat[feat.floor > 0]
above_floor = float((ins.step1 - ins.floor).min())
learned_vs_floor = float(feat.held_out["learned"] / feat.floor_held["drops c2"])
drop_excess_in = float(feat.step1["drops c2"] / feat.floor["drops c2"] - 1.0)
learned_vs_floor_in = float(feat.step1["learned"] / feat.floor["drops c2"])
for key, val in [
    ("mk_feat_K", cfg["feat_K"]),
    ("mk_feat_iters", cfg["feat_iters"]),
    ("mk_n_c3", len(c3)),
    ("mk_angle", angle),
    ("mk_drop_excess", drop_excess),
    ("mk_learned3", float(feat.step1["learned"])),
    ("mk_drop3", float(feat.step1["drops c2"])),
    ("mk_drop_floor", float(feat.floor["drops c2"])),
    ("mk_floor_identity", floor_identity),
    ("mk_step1_floor_share", float(floors_t[0] / sum(floors_t))),
    ("mk_learned_vs_floor", learned_vs_floor),
    ("mk_drop_excess_in", drop_excess_in),
    ("mk_learned_vs_floor_in", learned_vs_floor_in),
    ("mk_learned3_held", float(feat.held_out["learned"])),
    ("mk_drop3_held", float(feat.held_out["drops c2"])),
    ("mk_drop_floor_held", float(feat.floor_held["drops c2"])),
]:
    glue(key, val, display=False)
glue(
    "mk_feat_extra",
    "and, in the `full` profile, a projection orthogonal to $w$ and the identity map"
    if profile == "full"
    else "(the `full` profile adds a projection orthogonal to $w$ and the identity map)",
    display=False,
)

# %% [markdown]
# The learned $1\times 3$ map points {glue:text}`mk_angle:.2g`° away from $w$, recovered from
# the per-step objective alone, and its data-step KL is {glue:text}`mk_learned3:.2g` nats, a
# fraction {glue:text}`mk_learned_vs_floor:.2g` of the floor of the map that drops $c_2$. That
# map reaches {glue:text}`mk_drop3:.3g` nats against its floor {glue:text}`mk_drop_floor:.3g`
# ({glue:text}`mk_drop_excess:.2g` above it, relative): most of its error is the floor, the
# information the map discards. These are in-sample values (fitting contexts, fitting grid). At
# held-out contexts on a finer grid the learned map scores {glue:text}`mk_learned3_held:.2g`
# nats and the map that drops $c_2$ {glue:text}`mk_drop3_held:.3g` against its floor
# {glue:text}`mk_drop_floor_held:.3g` there; E2.5d and E2.5e are scored on these held-out values
# (in sample their ratios are {glue:text}`mk_learned_vs_floor_in:.2g` and
# {glue:text}`mk_drop_excess_in:.2g`). The floors summed over the {glue:text}`mk_T_learned` steps equal
# $I(z_0; C\mid G) - I(z_T; C\mid G)$ to a relative {glue:text}`mk_floor_identity:.1g`, and the
# data step carries a fraction {glue:text}`mk_step1_floor_share:.3f` of that lost information.

# %%
ledger.record(
    "E2.5a",
    kind="check",
    paper=PAPER,
    claim="A kernel that sees an insufficient feature map cannot beat the floor "
    "I(z_{t-1}; C | z_t, G) of its context groups: smallest (fitted - floor) over insufficient "
    "maps, data step, nats",
    measured=above_floor,
    expect=at_least(-1e-6),
    section="mk-features",
    rtol=0.5,
    atol=1e-4,
)
ledger.record(
    "E2.5b",
    kind="check",
    paper=PAPER,
    claim="Chain rule of the floors: sum over steps of I(z_{t-1}; C | z_t, G) equals "
    "I(z_0; C | G) - I(z_T; C | G) (map dropping c2; relative difference)",
    measured=floor_identity,
    expect=at_most(1e-2),
    section="mk-features",
    atol=2e-3,
)
ledger.record(
    "E2.5c",
    kind="question",
    paper=PAPER,
    claim="Question: does a jointly learned linear feature map R^3 -> R recover the direction "
    "w on which the target depends? Angle (degrees) at most 5",
    measured=angle,
    expect=at_most(5.0),
    section="mk-features",
    rtol=0.5,
    atol=0.5,
)
ledger.record(
    "E2.5d",
    kind="question",
    paper=PAPER,
    claim="Question: is the learned map's data-step KL below half the floor of the map that "
    "drops c2? Ratio, both at held-out contexts on the finer grid",
    measured=learned_vs_floor,
    expect=at_most(0.5),
    section="mk-features",
    rtol=0.3,
    atol=0.02,
)
_ = ledger.record(
    "E2.5e",
    kind="question",
    paper=PAPER,
    claim="Question: does the fit with the map that drops c2 come within 20% of its floor "
    "(relative excess at held-out contexts on the finer grid; an upper bound at the profile's "
    "budget, one start)?",
    measured=drop_excess,
    expect=at_most(0.2),
    section="mk-features",
    rtol=0.3,
    atol=0.02,
)


# %% [markdown]
# (mk-density)=
# ## E2.6 Density under exact terminal matching
#
# **Statement (paper, abstract).** "Under exact terminal matching the resulting neural
# reverse-kernel class is dense in conditional KL."
#
# **Test.** We remove the terminal mismatch exactly: every chain of this section starts from the
# exact $q(z_T\mid c)$ (closed form for the mixture target) instead of $\mathcal N(0, 1)$, so
# the path KL is the summed per-step KL alone and density means that the output KL and
# $\sum_t\varepsilon_t$ go to 0 as the capacity grows. The kernels are those of E2.3: exact
# means and variances, logits from a one-hidden-layer ReLU random-feature network of width
# $w \in$ {glue:text}`mk_widths`, fitted by least squares at {glue:text}`mk_n_fit_contexts`
# contexts and scored at the held-out contexts $c \in$ {glue:text}`mk_contexts`; mixture target,
# $B = 6$, $T$ = {glue:text}`mk_T_density` steps, {glue:text}`mk_n_density_seeds` independent
# random hidden layers (seeds) per width.
#
# **Predicted rate (our derivation).** Shared components with logits that differ by
# $\Delta\ell$ give, pointwise in $z_t$,
# $\mathrm{KL}(\sum_k\pi_k\mathcal N_k\,\|\,\sum_k\pi'_k\mathcal N_k) \le \mathrm{KL}(\pi\,\|\,\pi')
# = \tfrac12\mathrm{Var}_\pi(\Delta\ell) + O(\Delta\ell^3)$ (data processing over the component
# label), so $\varepsilon_t$ is of *second* order in the logit error. Least squares on $w$
# random ReLU features approximates a function in the reproducing-kernel Hilbert space of the
# random-feature kernel with an $L^2$ error $O(w^{-1/2})$, the Monte Carlo rate of random
# features (we assume, without proving it, that the exact logits, quadratic in $(z_t, c)$ on a
# bounded box, behave like such a function); hence $\sum_t\varepsilon_t = O(w^{-1})$, and the
# output KL, below it by data processing, too. This rate is ours: density needs no rate, so a
# slope above $-1$ would refute our derivation, not the paper. The criterion, fixed before the
# run, on the output KL (E2.6b, *derived*; the summed per-step KL is the same kernels' upper
# bound and is shown, not recorded a second time): the log-log slope against $w$, fitted per
# seed over all widths, is at most $-1$ (95% t-interval over seeds). A faster decay is allowed.
# The true kernel of this target is in the class up to its logits and the means and variances
# are the exact ones, so this is density of a random-feature logit fit, not of the paper's class
# on a target outside it (that is E2.7g).

# %%
T_d = cfg["T_density"]
chain_d = VPChain.uniform(T_d, B_few)
exact_d = mk.evaluate_chain(
    mixture, chain_d, mk.exact_kernel(mixture, chain_d), contexts, z_prop, z_quad, exact_start=True
)
dens_rows = []
for s in range(cfg["n_density_seeds"]):
    g_d = torch.Generator().manual_seed(10_000 + 100 * seed + s)
    for w in widths:
        nets = mk.fit_relu_logits(mixture, chain_d, w, fit_contexts, generator=g_d)
        r = mk.evaluate_chain(
            mixture,
            chain_d,
            mk.relu_logit_kernel(mixture, chain_d, nets),
            contexts,
            z_prop,
            z_quad,
            exact_start=True,
        )
        dens_rows.append(
            dict(seed=s, width=w, output=r.output.mean(), steps=r.steps.sum(-1).mean())
        )
dens = pd.DataFrame(dens_rows)
dens_out = dens.pivot(index="seed", columns="width", values="output").to_numpy()
dens_steps = dens.pivot(index="seed", columns="width", values="steps").to_numpy()
slope_out = stats.t_interval(
    [stats.fit_loglog(widths, v).slope for v in dens_out],
    note=f"per-seed log-log slope over {len(widths)} widths",
)
slope_steps = stats.t_interval(
    [stats.fit_loglog(widths, v).slope for v in dens_steps],
    note=f"per-seed log-log slope over {len(widths)} widths",
)
exact_floor = float(np.abs(exact_d.output).max())
dens_local = stats.local_slopes(widths, dens_steps.mean(0))
for key, val in [
    ("mk_T_density", T_d),
    ("mk_n_density_seeds", cfg["n_density_seeds"]),
    ("mk_dens_out_wmin", float(dens_out[:, 0].mean())),
    ("mk_dens_out_wmax", float(dens_out[:, -1].mean())),
    ("mk_dens_steps_wmin", float(dens_steps[:, 0].mean())),
    ("mk_dens_steps_wmax", float(dens_steps[:, -1].mean())),
    ("mk_dens_slope_out", slope_out.value),
    ("mk_dens_slope_out_lo", slope_out.low),
    ("mk_dens_slope_out_hi", slope_out.high),
    ("mk_dens_slope_steps", slope_steps.value),
    ("mk_dens_slope_steps_lo", slope_steps.low),
    ("mk_dens_slope_steps_hi", slope_steps.high),
    ("mk_dens_local_last", float(dens_local[-1])),
    ("mk_dens_local_first", float(dens_local[0])),
    ("mk_dens_floor", exact_floor),
    ("mk_dens_floor_ratio", float(dens_out[:, -1].min() / exact_floor)),
    (
        "mk_dens_decay_word",
        "slows down" if dens_local[-1] > dens_local[0] else "does not slow down",
    ),
    (
        "mk_dens_last_word",
        "is still steeper than" if dens_local[-1] < -1.0 else "is no longer steeper than",
    ),
]:
    glue(key, val, display=False)

# %% tags=["hide-input"]
fig, ax = figure(1, height=2.9)
for i, (vals, lab) in enumerate(
    [(dens_out, "output KL"), (dens_steps, "$\\sum_t\\varepsilon_t$ (= path KL)")]
):
    ax.loglog(widths, vals.mean(0), "o-", color=PALETTE[i], label=lab)
    for v in vals:
        ax.loglog(widths, v, "-", color=PALETTE[i], alpha=0.2, lw=0.8)
w_arr = np.asarray(widths, dtype=float)
ax.loglog(
    w_arr,
    dens_steps[:, 0].mean() * (w_arr / w_arr[0]) ** -1.0,
    "k--",
    lw=0.8,
    label="rate $w^{-1}$",
)
ax.axhline(exact_floor, color="k", ls=":", lw=1, label="exact kernels (quadrature floor)")
ax.set(
    xscale="log",
    yscale="log",
    xlabel="ReLU logit-network width $w$",
    ylabel="$E_c$ KL (nats), exact start",
)
ax.set_xticks(widths, [str(w) for w in widths])
ax.minorticks_off()
ax.legend(fontsize=7, loc="upper right")
plt.show()

# %% [markdown]
# Output KL and summed per-step KL against the width when the chain starts from the exact
# $q(z_T\mid c)$ (held-out contexts; thin lines: single seeds, points: mean over
# {glue:text}`mk_n_density_seeds` seeds; on a log axis the seed scatter is shown by the thin
# lines rather than by t-intervals, which reach below 0). Look at both curves falling far faster
# than the dashed $w^{-1}$ line, at the spread of the thin lines at each width, and at the
# dotted line, the output KL of the exact kernels
# from the same start ({glue:text}`mk_dens_floor:.1g` nats: quadrature error only). From the
# narrowest to the widest network the output KL falls from {glue:text}`mk_dens_out_wmin:.2g` to
# {glue:text}`mk_dens_out_wmax:.2g` nats and $\sum_t\varepsilon_t$ from
# {glue:text}`mk_dens_steps_wmin:.2g` to {glue:text}`mk_dens_steps_wmax:.2g` nats; the smallest
# output KL at the largest width is {glue:text}`mk_dens_floor_ratio:.3g` times the floor. The
# per-seed slopes are {glue:text}`mk_dens_slope_out:.2f`
# [{glue:text}`mk_dens_slope_out_lo:.2f`, {glue:text}`mk_dens_slope_out_hi:.2f`] (output) and
# {glue:text}`mk_dens_slope_steps:.2f` [{glue:text}`mk_dens_slope_steps_lo:.2f`,
# {glue:text}`mk_dens_slope_steps_hi:.2f`] (summed per-step KL). The local slope of the
# seed-mean per-step sum is {glue:text}`mk_dens_local_first:.2f` between the two smallest
# widths and {glue:text}`mk_dens_local_last:.2f` between the two largest: the decay
# {glue:text}`mk_dens_decay_word` over this range, and the last local slope
# {glue:text}`mk_dens_last_word` $-1$. The fitted slope is steeper than the $-1$ we derived
# (E2.6b's one-sided criterion passes either way), so the derivation bounds the rate rather
# than describing its mechanism; the target is in the class up to its logits and only the
# held-out contexts of the section are scored. This is density on one target whose true kernel is
# in the class up to its logits, at one step count; it says nothing of targets outside the
# class (E2.4 trains kernels on one) or of how the width needed grows with $T$ (the section
# {ref}`mk-uniformity`). Moving every output KL by the grid propagation's absolute error
# ({glue:text}`mk_direct_gap:.1g` nats, E2.3) changes the mean output slope by
# {glue:text}`mk_slope_shift:.2g`, against a margin of {glue:text}`mk_slope_margin:.2g` to the
# criterion (E2.3e).

# %%
_ = ledger.record(
    "E2.6b",
    kind="derived",
    paper=PAPER,
    claim="Our random-feature rate (mixture target, exact means and variances, random-feature "
    "ReLU logits): under exact terminal matching the output KL falls with the width at least as "
    "w^-1: per-seed log-log slope over widths (held-out contexts) at most -1",
    measured=slope_out,
    expect=at_most(-1.0),
    section="mk-density",
    rtol=0.05,
    atol=0.1,
)
# the grid-propagation error of E2.3 (absolute, nats) moved up or down on every output KL
shifted = [
    stats.t_interval(
        [
            stats.fit_loglog(widths, np.maximum(v + sign * direct_gap, 1e-300)).slope
            for v in dens_out
        ]
    ).value
    for sign in (-1.0, 1.0)
]
slope_shift = float(max(abs(x - slope_out.value) for x in shifted))
slope_margin = float(-1.0 - slope_out.high)
glue("mk_slope_shift", slope_shift, display=False)
glue("mk_slope_margin", slope_margin, display=False)
_ = ledger.record(
    "E2.3e",
    kind="check",
    paper=PAPER,
    claim="The grid propagation's absolute error (against an independent 1-D quadrature of the "
    "exact chain's output, E2.3) does not move the E2.6b rate: largest change of the mean slope "
    "when every output KL moves by that error, at most a tenth of the margin to the criterion -1",
    measured=slope_shift,
    expect=at_most(0.1 * slope_margin),
    section="mk-density",
    rtol=0.5,
    atol=0.01,
)

# %% [markdown]
# (mk-uniformity)=
# ## Time uniformity: where do the per-step errors sit?
#
# The machine referee asks whether the per-step constants are uniform in the diffusion time.
# Two knobs must be kept apart. The **horizon** $B$ sets the terminal mismatch (E2.2; at fixed
# $B$ it does not depend on $T$, E2.2c). The **number of steps** $T$ at fixed $B$ sets how the
# noise is split. Qualitative density at a fixed $T$ needs no summability as $T$ grows: each of
# the $T$ static problems is solved separately, and solving each to $\epsilon/T$ makes the sum
# $\le\epsilon$. Uniformity in $t$ matters for *how much* capacity that takes, which we do not
# measure. We measure where the per-step error of fixed kernels sits, on the mixture target at
# $B = 6$, under the equal-$B$ schedule ($a_t^2 = e^{-B/T}$), and, at the end of the section,
# the best fitted error of a fixed-capacity class on the Gumbel + Beta target under two
# schedules (E2.U6, E2.U7). The equal-$B$ schedule
# matters: its first step from the data already has variance $b_1^2 = 1 - e^{-B/T}$
# ({glue:text}`mk_b1sq_Tbig:.2g` at $T$ = {glue:text}`mk_Tbig`), far wider than the mixture's
# component variances (0.04 to 0.09), so statements about "the steps nearest the data" below
# are statements about this schedule. Three kernels: the moment-matched Gaussian kernel, a
# kernel with a *fixed logit perturbation* (the exact kernel with logits
# $+0.3\sin(1.3z + k + c)$ at every step), and the learned fully networked kernel of E2.4 on the
# Gumbel + Beta target.
#
# **How a fixed logit error scales with the step (our derivation).** The exact kernel's
# components at step $t$ have standard deviation $\sqrt{C_kb_t^2/(a_t^2C_k + b_t^2)} = O(b_t)$
# and means $m_k + G_k(z_t - a_tm_k)$ that differ between components by
# $(1 - a_tG_k)(\dots) = O(b_t^2)$: separation over width $O(b_t)$. Two mixtures of nearly
# coincident components that differ only in their weights differ by $O(\text{separation}^2)$ in
# KL, so for a fixed logit perturbation $\varepsilon_t \simeq \kappa_t b_t^2$ with $\kappa_t$
# bounded, and $\sum_t\varepsilon_t \approx \sum_t\kappa_tb_t^2$ stays bounded as $T$ grows at
# fixed $B$ (since $\sum_tb_t^2 \le B$). The second-order bound of E2.3d,
# $E_q\mathrm{KL}(\pi\,\|\,\pi')$, does not see the overlap and adds a fixed amount per step:
# it grows linearly in $T$. The expansion is in $b_t^2/C_k$, not in $b_t^2$: the mean
# contraction $1 - a_tG_k = b_t^2/(a_t^2C_k + b_t^2)$ and the component variances carry it, so
# the next-order relative correction is $O(b_1^2/\min_kC_k)$ with $\min_kC_k = 0.04$, and the
# regime $\varepsilon_1 \propto b_1^2$ needs $b_1^2 \ll 0.04$, i.e. $T \gg 150$ at $B = 6$.
# Test: at the first step alone (`chains.step_kl` at $t = 1$, on a 721-node grid over
# $[-4.5, 4.5]$ that resolves the narrowest kernel), for $T \in$ {glue:text}`mk_T_b1`, the log-log slope of
# $\varepsilon_1$ against $b_1^2$ between the two largest $T$ is 1 within $b_1^2/\min_kC_k$ at
# the larger $b_1$ of the pair. (An earlier version took the tolerance $b_1^2$ at $T \le 64$,
# where $b_1^2 \ge 0.09$ lies outside that regime, and its `full` run found a slope outside
# that tolerance. The present tolerance and the range of $T$ were set after that failure, so
# E2.U5 is a post-hoc criterion, not a prediction fixed before any run, and it is recorded as
# a question; its "error" is the change of the slope between successive pairs of $T$, a
# convergence diagnostic rather than a bound, and `ci` and `full` share the deciding pair.)

# %%
amp_u = 0.3
T_u = sorted(set(Ts) | {32})
pert_profiles, pert_label = {}, {}
for T in T_u:
    ch = VPChain.uniform(T, B_few)
    kern = mk.perturbed_logit_kernel(mk.exact_kernel(mixture, ch), amp_u)
    pert_profiles[T] = np.mean(
        [
            chain_rule_kl(ch, mk.context_marginal(mixture, c), mk.context_kernel(kern, c), z_quad)[
                1
            ]
            for c in contexts
        ],
        0,
    )
    pert_label[T] = np.mean(
        [
            [mk.label_kl_bound(mixture, ch, kern, c, t, z_quad)[0] for t in range(1, T + 1)]
            for c in contexts
        ],
        0,
    )
b1sq = np.array([VPChain.uniform(T, B_few).b2(1) for T in T_u])
eps1 = np.array([pert_profiles[T][0] for T in T_u])
# the first step alone at large T, on a grid that resolves kernels of width O(b_1)
T_b1 = cfg["T_b1"]
z_b1 = torch.linspace(-4.5, 4.5, 721, dtype=torch.float64)


def first_step_kl(T, z=z_b1):
    ch = VPChain.uniform(T, B_few)
    kern = mk.perturbed_logit_kernel(mk.exact_kernel(mixture, ch), amp_u)
    return np.mean(
        [
            step_kl(ch, 1, mk.context_marginal(mixture, c), mk.context_kernel(kern, c)(1), z, z)
            for c in contexts
        ]
    )


b1sq_big = np.array([VPChain.uniform(T, B_few).b2(1) for T in T_b1])
eps1_big = np.array([first_step_kl(T) for T in T_b1])
# b_1^2 decreases as T grows: the local slope of 1/eps_1 against 1/b_1^2 (the same slope),
# taken at the two largest T
b2_slope = stats.scaled(
    stats.asymptotic_slope(1.0 / b1sq_big, 1.0 / eps1_big),
    1.0,
    note=f"local slope at T = {T_b1[-2]}..{T_b1[-1]}; error: change from the previous pair",
)
C_min = float(v_fn(torch.zeros(1)).min())
tol_b2 = float(b1sq_big[-2] / C_min)
b1_local = stats.local_slopes(b1sq_big[::-1], eps1_big[::-1])
z_b1_fine = torch.linspace(-4.5, 4.5, 1441, dtype=torch.float64)
eps1_fine = [first_step_kl(T, z_b1_fine) for T in T_b1[-2:]]
b1_grid_change = float(
    abs(
        np.log(eps1_fine[1] / eps1_fine[0]) / np.log(b1sq_big[-1] / b1sq_big[-2])
        - np.log(eps1_big[-1] / eps1_big[-2]) / np.log(b1sq_big[-1] / b1sq_big[-2])
    )
)
learned = runs[
    (runs.features == "full") & (runs.variant == "full") & (runs.width == W) & (runs.K == Kmax)
]
profiles_u = [
    reports[("Gaussian", max(Ts))].steps.mean(0),
    pert_profiles[max(Ts)],
    np.mean([r.report.steps.mean(0) for r in learned.itertuples()], 0),
]
glue("mk_n_first_max", int(sum(int(np.argmax(e) == 0) for e in profiles_u)), display=False)
glue("mk_decay_orders", float(min(np.log10(e[0] / e[-1]) for e in profiles_u)), display=False)
glue("mk_b1sq_Tbig", float(VPChain.uniform(max(Ts), B_few).b2(1)), display=False)
glue("mk_b2_slope", b2_slope.value, display=False)
glue("mk_b2_slope_err", b2_slope.half_width, display=False)
glue("mk_tol_b2", tol_b2, display=False)
glue("mk_T_b1", ", ".join(str(t) for t in T_b1), display=False)
glue("mk_b1_local_max", float(np.max(b1_local)), display=False)
glue("mk_b1_grid_change", b1_grid_change, display=False)
glue("mk_Tu_max", max(T_u), display=False)
glue("mk_kappa_lo", float((eps1 / b1sq).min()), display=False)
glue("mk_kappa_hi", float((eps1 / b1sq).max()), display=False)

# %% tags=["hide-input"]
fig, axes = figure(3, height=2.7)
for j, T in enumerate(T_u):
    x_t = (np.arange(1, T + 1) - 0.5) / T
    if T in Ts:
        e = reports[("Gaussian", T)].steps.mean(0)
        axes[0].semilogy(x_t, np.maximum(e, 1e-14), "o-", ms=3, color=PALETTE[j], label=f"T = {T}")
    axes[1].semilogy(x_t, pert_profiles[T], "o-", ms=3, color=PALETTE[j], label=f"T = {T}")
axes[0].set(title="Gaussian kernel", xlabel="$(t - 1/2)/T$", ylabel="$E_c\\,\\varepsilon_t$ (nats)")
axes[1].set(title=f"fixed logit perturbation ({amp_u:g})", xlabel="$(t - 1/2)/T$")
for s_i, r in enumerate(learned.itertuples()):
    axes[2].semilogy(
        (np.arange(1, T_l + 1) - 0.5) / T_l,
        r.report.steps.mean(0),
        "o-",
        ms=3,
        color=PALETTE[s_i % 10],
        label=f"seed {r.seed}",
    )
axes[2].set(title=f"learned, K = {Kmax}, T = {T_l}", xlabel="$(t - 1/2)/T$")
for ax in axes:
    ax.legend(fontsize=6)
plt.show()

# %% [markdown]
# Per-step KL against the position of the step in the chain ($t/T$ near 0: the step that
# produces the data; near 1: the first step from noise), equal-$B$ schedule. Look at where the
# mass sits: at the largest $T$ of each panel the step nearest the data carries the largest
# error in {glue:text}`mk_n_first_max` of the 3 panels (all learned seeds averaged), and the
# error falls from that step to the step nearest the noise by at least
# {glue:text}`mk_decay_orders:.1f` orders of magnitude. In the middle panel, look at how the
# whole profile moves down as $T$ grows while its sum barely moves: $\varepsilon_1/b_1^2$ stays
# between {glue:text}`mk_kappa_lo:.3g` and {glue:text}`mk_kappa_hi:.3g` for $T$ up to
# {glue:text}`mk_Tu_max`, and the local slope of $\varepsilon_1$ against $b_1^2$ between the two
# largest $T$ is {glue:text}`mk_b2_slope:.3f` (change from the previous pair
# {glue:text}`mk_b2_slope_err:.2g`; predicted 1 within {glue:text}`mk_tol_b2:.2g`), after a
# largest local slope of {glue:text}`mk_b1_local_max:.3f` over $T \in$ {glue:text}`mk_T_b1`:
# the expansion above predicts departures from 1 while $b_1^2$ is comparable with the component
# variances (this chapter glues only the largest and the last local slope, not where the
# largest sits). On a grid twice as fine the last slope changes by
# {glue:text}`mk_b1_grid_change:.1g`.

# %%
T_big = max(Ts)
e_g = reports[("Gaussian", T_big)].steps.mean(0)
near_data = float(e_g[: max(1, T_big // 4)].sum() / e_g.sum())
e_p = pert_profiles[T_big]
near_data_p = float(e_p[: max(1, T_big // 4)].sum() / e_p.sum())
g_sum = np.array([reports[("Gaussian", T)].steps.sum(-1).mean() for T in Ts])
p_sum = np.array([pert_profiles[T].sum() for T in T_u])
lab_sum = np.array([pert_label[T].sum() for T in T_u])
g_doubling = float((g_sum[1:] / g_sum[:-1]).max())
p_spread = float(p_sum.max() / p_sum.min())
p_split = float(np.sqrt(max(T_u) / min(T_u)))
near_l = np.array(
    [
        r.report.steps.mean(0)[: max(1, T_l // 4)].sum() / r.report.steps.mean(0).sum()
        for r in learned.itertuples()
    ]
)
near_data_l = stats.t_interval(near_l, note=f"first quarter of {T_l} steps")
# fixed-width ReLU kernels (E2.3): output KL and the first-step logit error against T
w_mid = widths[len(widths) // 2]
relu_out_T = summary23[summary23.kernel == f"ReLU logits, w = {w_mid}"].set_index("T")["output"]
relu_lab1 = bounds[(bounds.width == w_mid) & (bounds.t == 1)].groupby("T")["label_kl"].mean()
v_min = float(v_fn(torch.zeros(1)).min())
curv = {T: 1.0 / (np.exp(-B_few / T) * v_min + VPChain.uniform(T, B_few).b2(1)) for T in Ts}
for key, val in [
    ("mk_near_data", near_data),
    ("mk_near_data_p", near_data_p),
    ("mk_near_data_l", near_data_l.value),
    ("mk_near_data_l_hw", near_data_l.half_width),
    ("mk_g_doubling", g_doubling),
    ("mk_g_sum_lo", float(g_sum.min())),
    ("mk_g_sum_hi", float(g_sum.max())),
    ("mk_p_sum_lo", float(p_sum.min())),
    ("mk_p_sum_hi", float(p_sum.max())),
    ("mk_lab_sum_lo", float(lab_sum[0])),
    ("mk_lab_sum_hi", float(lab_sum[-1])),
    ("mk_lab_growth", float(lab_sum[-1] / lab_sum[0])),
    ("mk_p_spread", p_spread),
    ("mk_p_split", p_split),
    ("mk_T_growth", float(max(T_u) / min(T_u))),
    ("mk_Tbig", T_big),
    ("mk_w_mid", w_mid),
    ("mk_relu_out_Tmin", float(relu_out_T.loc[min(Ts)])),
    ("mk_relu_out_Tmax", float(relu_out_T.loc[max(Ts)])),
    ("mk_relu_lab1_Tmin", float(relu_lab1.loc[min(Ts)])),
    ("mk_relu_lab1_Tmax", float(relu_lab1.loc[max(Ts)])),
    ("mk_curv_Tmin", float(curv[min(Ts)])),
    ("mk_curv_Tmax", float(curv[max(Ts)])),
]:
    glue(key, val, display=False)

# %% [markdown]
# At $T$ = {glue:text}`mk_Tbig`, the first quarter of the steps (nearest the data) carries a
# fraction {glue:text}`mk_near_data:.3f` of the Gaussian kernel's summed per-step KL and
# {glue:text}`mk_near_data_p:.3f` of the fixed-perturbation kernel's; for the learned kernels
# ($T$ = {glue:text}`mk_T_learned`, where the first quarter is a single step) it is
# {glue:text}`mk_near_data_l:.3f` ± {glue:text}`mk_near_data_l_hw:.2g`. The summed per-step KL
# of the Gaussian kernel falls at every doubling of $T$ (largest ratio between consecutive $T$:
# {glue:text}`mk_g_doubling:.3g`), from {glue:text}`mk_g_sum_hi:.3g` to
# {glue:text}`mk_g_sum_lo:.3g` nats over $T \in$ {glue:text}`mk_T_list`. With the fixed logit
# perturbation the sum stays between {glue:text}`mk_p_sum_lo:.4g` and
# {glue:text}`mk_p_sum_hi:.4g` nats for $T$ from 2 to {glue:text}`mk_Tu_max` (a factor
# {glue:text}`mk_p_spread:.3g`), while the per-step bound summed over the steps,
# $\sum_tE_q\mathrm{KL}(\pi\,\|\,\pi')$, grows from {glue:text}`mk_lab_sum_lo:.3g` to
# {glue:text}`mk_lab_sum_hi:.3g` nats (a factor {glue:text}`mk_lab_growth:.3g`, for a factor
# {glue:text}`mk_T_growth:g` in $T$). The criterion of E2.U3 is the geometric midpoint between
# "constant" and "linear growth", {glue:text}`mk_p_split:.3g`.
#
# **Fixed-width networks are not a fixed logit error.** The ReLU-logit kernels of E2.3 at width
# {glue:text}`mk_w_mid` do not simply improve with more steps: their output KL is
# {glue:text}`mk_relu_out_Tmin:.2g` nats at $T$ = {glue:text}`mk_Tmin` and
# {glue:text}`mk_relu_out_Tmax:.2g` at $T$ = {glue:text}`mk_Tbig` (one random hidden layer per
# $T$, not monotone in $T$ in between on every draw; not a recorded claim). The mechanism we measure: the
# exact first-step logits are quadratics in $z_1$ with curvature up to
# $1/(a_1^2v_k + b_1^2)$, {glue:text}`mk_curv_Tmin:.3g` at $T$ = {glue:text}`mk_Tmin` and
# {glue:text}`mk_curv_Tmax:.3g` at $T$ = {glue:text}`mk_Tbig`, and the same width fits a steeper
# function worse: the first step's label KL $E_q\mathrm{KL}(\pi\,\|\,\pi')$ goes from
# {glue:text}`mk_relu_lab1_Tmin:.2g` to {glue:text}`mk_relu_lab1_Tmax:.2g` nats. So at fixed
# width the logit error is not fixed in $T$: more steps make each static problem near the data
# harder. Each $T$ draws a new random hidden layer and E2.3 shows a large draw-to-draw scatter,
# so this is a mechanism seen on one draw per $T$ at one width, not a measurement of how the
# capacity needed for a given $\epsilon$ grows with $T$ (which we do not measure); the
# fixed-perturbation result (the sum stays bounded) need not carry over to fixed-width networks.
# The fixed-capacity fits below look at the non-smooth target and at a schedule refined near
# the data.

# %% [markdown]
# **Best-in-class per-step error at fixed capacity (exact fits).** The measurements above fix a
# kernel; the referee's question is about the best kernel of a fixed class. We fit
# `kf.NetworkedMixture` with $K$ = {glue:text}`mk_unif_K` and width {glue:text}`mk_unif_width`
# (the same capacity at every step and every $T$) to the exact per-step KL of the Gumbel + Beta
# target ($B = 5$, fitted at contexts 0.25 and 0.75, {glue:text}`mk_unif_iters` L-BFGS
# iterations, best of {glue:text}`mk_unif_starts` start(s): upper bounds; with one start a
# value can sit in a poor local minimum) and score each fit on the held-out contexts 0.375, 0.5
# and 0.625 (between the fitting contexts, on the same grid; every $\varepsilon_t$ and sum below
# is held out), for $T \in$ {glue:text}`mk_unif_T_list` under the equal-$B$ schedule and
# $T \in$ {glue:text}`mk_unif_T_ref_list` under a schedule refined near the data (`VPChain.linear`: $-\log a_t^2$ growing linearly in
# $t$, last step 20 times the first). Only the steps $t = 1, 2, 4, \dots, T$ are fitted; the
# grids scale with the step, at least 2.5 nodes per $b_t$ on $[-5.5, 5.5]$ (not refined
# further). The summed error $S(T) = \sum_t\varepsilon_t$ is estimated by interpolating
# $\log\varepsilon_t$ linearly in $\log t$ between the fitted steps (an estimate of ours, exact
# only at the fitted steps). Questions fixed before the run, on the increments of $S$ as $T$
# grows (E2.U6 for equal $B$, E2.U7 for the refined schedule): is the last increment smaller in
# absolute value than the one before it?

# %% tags=["hide-input"]
unif_c = [0.25, 0.75]
unif_held = [0.375, 0.5, 0.625]  # held out, between the fitting contexts


def unif_profile(chain):
    """Fitted steps, their held-out per-step KL at fixed capacity, and the interpolated sum S(T)
    (fitted at ``unif_c``, scored at ``unif_held`` on the same grid)."""
    steps = sorted({2**k for k in range(int(math.log2(chain.T)) + 1)} | {chain.T})
    vals = []
    for t in steps:
        b = math.sqrt(chain.b2(t))
        n = max(61, math.ceil(11.0 / (b / 2.5))) | 1
        p = kf.step_problem(
            gumbel_beta, chain, t, unif_c, n_z=n, n_y=n, z_range=(-5.5, 5.5), y_range=(-5.5, 5.5)
        )

        def make_u(g, b=b):
            return kf.NetworkedMixture(cfg["unif_K"], cfg["unif_width"], b, generator=g)

        ms = kf.fit_multistart(
            p,
            make_u,
            n_starts=cfg["unif_starts"],
            seed=60_000 + 1000 * seed + 10 * t,
            disable=True,
            max_iter=cfg["unif_iters"],
        )
        p_held = kf.step_problem(
            gumbel_beta, chain, t, unif_held, n_z=n, n_y=n, z_range=(-5.5, 5.5), y_range=(-5.5, 5.5)
        )
        vals.append(kf.step_value(p_held, ms.best))
    steps, vals = np.array(steps), np.array(vals)
    all_t = np.log(np.arange(1, chain.T + 1))
    log_v = np.log(np.maximum(vals, 1e-12))  # guard: a quadrature value at round-off
    return steps, vals, float(np.exp(np.interp(all_t, np.log(steps), log_v)).sum())


schedules = {
    "equal B": (lambda T: VPChain.uniform(T, B_l), cfg["unif_T"]),
    "refined near the data": (lambda T: VPChain.linear(T, B_l, 20.0), cfg["unif_T_refined"]),
}
unif = {name: {T: unif_profile(make(T)) for T in Ts_u} for name, (make, Ts_u) in schedules.items()}
fig, axes = figure(2, height=2.7)
for ax, (name, prof) in zip(axes, unif.items(), strict=True):
    for j, (T, (st, vals, _)) in enumerate(prof.items()):
        ax.loglog(st, vals, "o-", ms=3, color=PALETTE[j], label=f"T = {T}")
    ax.set(title=name, xlabel="step $t$ (1 = data step)")
    ax.xaxis.set_minor_formatter(plt.NullFormatter())
    ax.legend(fontsize=6)
axes[0].set(ylabel="held-out $\\varepsilon_t$ of the best fit (nats)")
plt.show()

# %% [markdown]
# Per-step KL of the fitted fixed-capacity kernels against the step $t$ (log axes), one line
# per $T$; left the equal-$B$ schedule, right the schedule refined near the data. Look at the
# data step $t = 1$ as $T$ grows, and at how fast the error falls away from it; where a line
# rises again in $t$, suspect the optimiser (one start, fixed iterations in `ci`) rather than
# the target.

# %%
S_unif = {name: np.array([v[2] for v in prof.values()]) for name, prof in unif.items()}
# E2.U6/U7 can decide only with a measured start spread and at least three T per schedule
unif_decides = cfg["unif_starts"] >= 2 and min(len(cfg["unif_T"]), len(cfg["unif_T_refined"])) >= 3
inc_ratio = {
    name: float(abs(S[-1] - S[-2]) / abs(S[-2] - S[-3])) if S.size >= 3 else float("nan")
    for name, S in S_unif.items()
}
eps1_unif = {name: [v[1][0] for v in prof.values()] for name, prof in unif.items()}
for key, val in [
    ("mk_unif_K", cfg["unif_K"]),
    ("mk_unif_width", cfg["unif_width"]),
    ("mk_unif_iters", cfg["unif_iters"]),
    ("mk_unif_starts", cfg["unif_starts"]),
    (
        "mk_unif_share",
        float(min(v[1][0] / v[2] for prof in unif.values() for v in prof.values())),
    ),
    ("mk_unif_T_list", ", ".join(str(t) for t in cfg["unif_T"])),
    ("mk_unif_T_ref_list", ", ".join(str(t) for t in cfg["unif_T_refined"])),
    ("mk_unif_S_eq", ", ".join(f"{v:.3g}" for v in S_unif["equal B"])),
    ("mk_unif_S_ref", ", ".join(f"{v:.3g}" for v in S_unif["refined near the data"])),
    ("mk_unif_e1_eq", ", ".join(f"{v:.2g}" for v in eps1_unif["equal B"])),
    ("mk_unif_e1_ref", ", ".join(f"{v:.2g}" for v in eps1_unif["refined near the data"])),
]:
    glue(key, val, display=False)
unif_note = (
    f"The last increment of $S$ is {inc_ratio['equal B']:.2g} (equal $B$) and "
    f"{inc_ratio['refined near the data']:.2g} (refined) times the one before it (E2.U6, E2.U7)."
    if unif_decides
    else f"This `{profile}` run fits one start and at most {len(cfg['unif_T'])} values of $T$ per "
    "schedule, so it cannot compare increments or measure the optimisation error: E2.U6 and "
    "E2.U7 are recorded only by the `full` profile ("
    + "; ".join(full_says(c) for c in ["E2.U6", "E2.U7"])
    + "; a ratio above 1 means the last increment of the estimated sum was larger than the "
    "one before it, so the sum had not settled at the largest $T$ of that run)."
)
glue("mk_unif_note", unif_note, display=False)
# the two schedules at the same T (same B, capacity and budget): refined over equal-B
T_common = sorted(set(cfg["unif_T"]) & set(cfg["unif_T_refined"]))
Teq, Tref = list(cfg["unif_T"]), list(cfg["unif_T_refined"])
sched_ratio = [
    (
        T,
        float(S_unif["refined near the data"][Tref.index(T)] / S_unif["equal B"][Teq.index(T)]),
        float(
            eps1_unif["refined near the data"][Tref.index(T)] / eps1_unif["equal B"][Teq.index(T)]
        ),
    )
    for T in T_common
]
if not sched_ratio:
    sched_note = "The two schedules share no $T$ in this profile."
else:
    sched_note = (
        "At equal $T$ the schedule refined near the data leaves "
        + "; ".join(
            f"{r:.2g} times the equal-$B$ sum at $T$ = {T} (data step {e:.2g} times)"
            for T, r, e in sched_ratio
        )
        + (
            ": on this non-smooth target fixed capacity fits the sharper data step of the "
            "refined schedule worse, so refining the schedule near the data is not free at "
            "fixed capacity"
            if all(r > 1 and e > 1 for _, r, e in sched_ratio)
            else ": no consistent penalty of the refined schedule at fixed capacity"
        )
        + " (one target, upper bounds at this budget, not a recorded claim)."
    )
glue("mk_sched_note", sched_note, display=False)

# %% [markdown]
# Under the equal-$B$ schedule the estimated sums are {glue:text}`mk_unif_S_eq` nats for
# $T \in$ {glue:text}`mk_unif_T_list`, with data-step errors {glue:text}`mk_unif_e1_eq`; under the
# refined schedule, for $T \in$ {glue:text}`mk_unif_T_ref_list`, the sums are
# {glue:text}`mk_unif_S_ref` and the data-step errors
# {glue:text}`mk_unif_e1_ref`. {glue:text}`mk_sched_note` {glue:text}`mk_unif_note` The sums
# between fitted steps are interpolated (log-linear in $t$), an error we do not quantify, and
# the held-out contexts lie between two fitting contexts, so the held-out values also carry
# context interpolation. The data step carries at least a
# fraction {glue:text}`mk_unif_share:.2f` of every estimated sum. These are upper bounds at a
# small budget, on one target; with one start a value can sit in a poor local minimum, and the
# fitted $\varepsilon_t$ need not fall monotonically in $t$ (look for such kinks in the figure:
# they point to the optimiser, not to the target). The `full` profile fits more $T$, with more
# iterations and 2 starts (see the configuration cell); `ci` stops at a small $T$ to stay within
# its time budget, so it says nothing about large $T$.

# %%
if unif_decides:
    ledger.record(
        "E2.U6",
        kind="question",
        paper=PAPER,
        claim="Question (equal-B schedule, fixed capacity, exact fits on the non-mixture target): "
        "does the summed per-step error of the best fits (an upper bound), scored on held-out "
        "contexts, settle as T grows? Last increment of the estimated sum over the previous one, "
        "in absolute value, at most 1",
        measured=inc_ratio["equal B"],
        expect=at_most(1.0),
        section="mk-uniformity",
        rtol=0.2,
        atol=0.05,
    )
    ledger.record(
        "E2.U7",
        kind="question",
        paper=PAPER,
        claim="Question (schedule refined near the data, fixed capacity, exact fits): does the "
        "summed per-step error of the best fits (an upper bound), scored on held-out contexts, "
        "settle as T grows? Last increment of the estimated sum over the previous one, in "
        "absolute value, at most 1",
        measured=inc_ratio["refined near the data"],
        expect=at_most(1.0),
        section="mk-uniformity",
        rtol=0.2,
        atol=0.05,
    )


# %%
ledger.record(
    "E2.U1",
    kind="question",
    paper=PAPER,
    claim="Question (time uniformity, equal-B schedule): does the Gaussian kernel's per-step KL "
    "concentrate near the data? Share of the first quarter of steps at the largest T at least 0.5 "
    "(uniform: 0.25)",
    measured=near_data,
    expect=at_least(0.5),
    section="mk-uniformity",
    rtol=1e-3,
    atol=1e-6,
)
ledger.record(
    "E2.U2",
    kind="question",
    paper=PAPER,
    claim="Question: does the Gaussian kernel's summed per-step KL fall at every doubling of T at "
    "fixed B? Largest ratio between consecutive T at most 1",
    measured=g_doubling,
    expect=at_most(1.0),
    section="mk-uniformity",
    rtol=1e-3,
    atol=1e-6,
)
ledger.record(
    "E2.U3",
    kind="question",
    paper=PAPER,
    claim="Question: with a fixed logit perturbation, does the summed per-step KL stay bounded "
    "instead of growing like the summed per-step bound? max/min over T below the geometric "
    "midpoint sqrt(Tmax/Tmin)",
    measured=p_spread,
    expect=at_most(p_split),
    section="mk-uniformity",
    rtol=1e-3,
    atol=1e-6,
)
ledger.record(
    "E2.U4",
    kind="question",
    paper=PAPER,
    claim="Question: do the learned kernels' per-step errors also concentrate near the data "
    "(equal-B schedule; at T=4 the first quarter is one step)? Share of the first quarter "
    "(K=max, over seeds) at least 0.5",
    measured=near_data_l,
    expect=at_least(0.5),
    section="mk-uniformity",
    rtol=0.1,
    atol=0.02,
)
_ = ledger.record(
    "E2.U5",
    kind="question",
    paper=PAPER,
    claim="Question (a post-hoc criterion, so not a derived verdict): for a fixed logit perturbation the first-step KL scales as b_1^2 (components overlap "
    "with separation/width O(b)): local log-log slope of eps_1 against b_1^2 at the two largest "
    "T (up to 2048) is 1 within the next-order relative correction b_1^2 / min_k C_k (tolerance "
    "and T range set after a full run failed the earlier tolerance b_1^2 at T <= 64: post hoc)",
    measured=b2_slope,
    expect=close_to(1.0, tol_b2),
    section="mk-uniformity",
    rtol=1e-3,
    atol=0.01,
)

# %% [markdown]
# (mk-accuracy)=
# ## Numerical accuracy
#
# Every number above is a quadrature or a grid propagation. Besides the refinements already
# shown (the terminal constants of E2.2 and the Gaussian per-step KL of E2.3, each recomputed
# on $z$ grids of 121, 241 and 481 nodes), we refine the learned chain of the first seed
# ($K$ = {glue:text}`mk_Kmax`, and the $K$ = 1 chain of the first seed for the first two
# refinements): its output KL on propagation grids of half, one and two times
# {glue:text}`mk_n_grid` nodes (all evaluation contexts), its summed per-step KL on quadrature
# grids of half, one and two times {glue:text}`mk_n_quad` nodes (middle context), and the
# quadrature inside the Gumbel + Beta target's noised marginals (2001, 4001, 8001 nodes). The
# check is that the numerical error is small against the seed-to-seed spread that the
# intervals of E2.4 and E2.7e measure.

# %%
kern0 = mk.net_kernel(learned.iloc[0].net)
learned_1 = runs[
    (runs.features == "full") & (runs.variant == "full") & (runs.width == W) & (runs.K == Kmin)
]
kern1 = mk.net_kernel(learned_1.iloc[0].net)
n_g, n_q = cfg["n_grid"], cfg["n_quad_learned"]
c_mid = eval_contexts[len(eval_contexts) // 2]


def learned_output(n, kern=kern0):
    z = torch.linspace(-6.0, 6.0, n, dtype=torch.float64)
    return float(
        np.mean(
            [
                output_kl(
                    mk.context_marginal(gb_eval, c), mk.propagate_chain(chain_l, kern, c, z)
                ).value
                for c in eval_contexts
            ]
        )
    )


def learned_steps(n, target=gb_eval, kern=kern0):
    z = torch.linspace(-6.0, 6.0, n, dtype=torch.float64)
    return sum(
        chain_rule_kl(
            chain_l, mk.context_marginal(target, c_mid), mk.context_kernel(kern, c_mid), z
        )[1]
    )


out_lv = [learned_output(n) for n in ((n_g + 1) // 2, n_g, 2 * n_g - 1)]
steps_lv = [learned_steps(n) for n in ((n_q + 1) // 2, n_q, 2 * n_q - 1)]
out_ref, steps_ref = stats.refinement(*out_lv), stats.refinement(*steps_lv)
# E2.4 uses the middle level n. With r the ratio of the successive changes (n/2 -> n over
# n -> 2n), the error of level n is about r / (r - 1) times its change to 2n (Richardson with
# the observed order: 4/3 for a second-order rule); if the changes do not shrink (r <= 1), the
# sum of both changes is taken instead.


def level_error(lv):
    """Error of the middle of three levels (coarse, middle, fine) from its change to the fine one."""
    d1, d2 = abs(lv[0] - lv[1]), abs(lv[1] - lv[2])
    r = d1 / max(d2, 1e-300)
    return float(d2 * r / (r - 1.0)) if r > 1.0 else float(d1 + d2)


out_err_n, steps_err_n = level_error(out_lv), level_error(steps_lv)
steps_order = float(abs(steps_lv[0] - steps_lv[1]) / max(abs(steps_lv[1] - steps_lv[2]), 1e-300))
marg_ref = stats.refinement(
    *[learned_steps(n_q, GumbelBetaTarget(n_quad=m)) for m in (2001, 4001, 8001)]
)
out_ref1 = stats.refinement(*[learned_output(n, kern1) for n in ((n_g + 1) // 2, n_g, 2 * n_g - 1)])
steps_ref1 = stats.refinement(
    *[learned_steps(n, kern=kern1) for n in ((n_q + 1) // 2, n_q, 2 * n_q - 1)]
)
sd_out = float(kK.std(ddof=1))
sd_steps = float(sK.std(ddof=1))
num_vs_seed = float(
    max(
        out_err_n / sd_out,
        (steps_err_n + marg_ref.half_width) / sd_steps,
    )
)
num_vs_seed_coarse = float(
    max(out_ref.half_width / sd_out, (steps_ref.half_width + marg_ref.half_width) / sd_steps)
)
n1_err = float(max(out_ref1.half_width, steps_ref1.half_width))
n1_vs_effect = n1_err / float(gain_K.value)
n1_vs_seed = float(steps_ref1.half_width / (s1 - sK).std(ddof=1))
glue("mk_n1_vs_effect", n1_vs_effect, display=False)
glue("mk_n1_vs_seed", n1_vs_seed, display=False)
glue("mk_n_grid", n_g, display=False)
glue("mk_n_quad", n_q, display=False)
glue("mk_out_err", out_ref.half_width / out_ref.value, display=False)
glue("mk_steps_err", steps_ref.half_width / steps_ref.value, display=False)
glue("mk_marg_err", marg_ref.half_width / marg_ref.value, display=False)
glue("mk_num_vs_seed", num_vs_seed, display=False)
glue("mk_num_vs_seed_coarse", num_vs_seed_coarse, display=False)
glue("mk_steps_order", steps_order, display=False)
pd.DataFrame(
    {
        "value (nats)": [
            out_ref.value,
            steps_ref.value,
            marg_ref.value,
            out_ref1.value,
            steps_ref1.value,
        ],
        "change on refinement": [
            out_ref.half_width,
            steps_ref.half_width,
            marg_ref.half_width,
            out_ref1.half_width,
            steps_ref1.half_width,
        ],
    },
    index=[
        f"K={Kmax}: output KL (propagation grid)",
        f"K={Kmax}: Σ per-step KL (2-D quadrature)",
        f"K={Kmax}: Σ per-step KL (marginal quadrature)",
        f"K={Kmin}: output KL (propagation grid)",
        f"K={Kmin}: Σ per-step KL (2-D quadrature)",
    ],
)

# %% [markdown]
# Refining the propagation grid changes the learned chain's output KL by a relative
# {glue:text}`mk_out_err:.1g`, refining the 2-D quadrature changes its summed per-step KL by a
# relative {glue:text}`mk_steps_err:.1g`, and refining the target's marginal quadrature by
# {glue:text}`mk_marg_err:.1g`: the marginal quadrature (trapezoid and Simpson rules over
# 2001 to 8001 nodes) has converged to round-off at these noise levels. The values of E2.4 are
# computed at the middle level ({glue:text}`mk_n_grid` and {glue:text}`mk_n_quad` nodes), so
# E2.N1 takes as their error their change from that level to the finer one times
# $r/(r - 1)$, where $r$ is the ratio of the two successive changes (Richardson extrapolation
# with the observed order; $r = 4$ and a factor 4/3 for a second-order rule). For the summed
# per-step KL $r$ = {glue:text}`mk_steps_order:.2g`. For the
# $K$ = {glue:text}`mk_Kmax` chain this error is {glue:text}`mk_num_vs_seed:.2g` times its
# seed-to-seed standard deviation, so its intervals measure training, not quadrature. The
# change from the coarsest level, which the check used before, is
# {glue:text}`mk_num_vs_seed_coarse:.2g` times that standard deviation; in an earlier `full`
# run it exceeded a tenth, and we attribute that (from a diagnosis outside this chapter, not
# recomputed here) to the data step's 2-D quadrature at the coarsest level, whose error no
# value of the chapter carries. The criterion
# was restated after that run, from the extrapolation above. The
# $K$ = 1 chain is less well resolved: its summed per-step KL moves by
# {glue:text}`mk_n1_vs_seed:.2g` times the seed standard deviation of the paired difference of
# E2.4a, so part of that interval's width is quadrature; against the effect itself the error
# is a fraction {glue:text}`mk_n1_vs_effect:.2g` (E2.N2). The 2-D quadrature is refined at the
# middle context only.

# %%
_ = ledger.record(
    "E2.N1",
    kind="check",
    paper=PAPER,
    claim="Numerical error of the learned K=max chain's output and summed per-step KL at the "
    "level E2.4 uses (its change to the 2x finer grid times r/(r-1), r the ratio of successive "
    "changes; first seed) is below a tenth of the seed-to-seed standard deviation (restated "
    "after a full run failed on the coarsest level's change)",
    measured=num_vs_seed,
    expect=at_most(0.1),
    section="mk-accuracy",
    rtol=0.2,
    atol=0.005,
)
_ = ledger.record(
    "E2.N2",
    kind="check",
    paper=PAPER,
    claim="Numerical error of the learned K=1 chain (grid refinement of output and summed "
    "per-step KL, first seed) is below a tenth of the E2.4a effect (K=1 minus K=max)",
    measured=n1_vs_effect,
    expect=at_most(0.1),
    section="mk-accuracy",
    rtol=0.2,
    atol=0.005,
)

# %% [markdown]
# (mk-coverage)=
# ## What the paper claims, and what is tested here
#
# Every statement of the paper that we know of (its abstract, and the third-party summary in
# the project's paper notes), with the claims that test it or the reason it is not tested here.
# A statement tested only by *check* claims is one whose content is an identity or an
# inequality that holds for any chain: the checks show that our machinery satisfies it, not
# that the paper's derivation is right.

# %%
ledger.coverage(
    [
        {
            "statement": "Conditional diffusion models with finite Gaussian-mixture reverse "
            "kernels and ReLU-network logits approximate suitably regular targets arbitrarily "
            "well in context-averaged conditional KL, up to a terminal mismatch. (Tested by "
            "questions only: a limit, which no finite run decides; E2.7g's 5% was set after "
            "seeing a run.)",
            "source": "abstract",
            "ids": ["E2.7g", "E2.7i", "E2.7a", "E2.7b"],
        },
        {
            "statement": "The error is measured in context-averaged conditional KL divergence.",
            "source": "abstract",
            "reason": "a definition, not a claim: every KL of the chapter is averaged over the "
            "context with a grid of our choice (uniform points, trapezoid weights on the "
            "held-out contexts), not the paper's context distribution",
        },
        {
            "statement": "The targets are 'suitably regular' (the regularity Norets' mixture "
            "theory needs).",
            "source": "abstract",
            "reason": "the paper's exact conditions were not available to us; we do not check "
            "whether the Gumbel + Beta target (a Gumbel density plus a compactly supported Beta "
            "bump, whose density is not smooth at the bump's ends) meets them, so E2.7g is a test "
            "on a target we believe regular in the usual sense (bounded, continuous, with tails), "
            "not a check of the condition",
        },
        {
            "statement": "The terminal mismatch is irreducible (the output error is bounded by it "
            "plus the per-step errors).",
            "source": "abstract",
            "reason": "'irreducible' is the bound's terminal term at a fixed horizon, not a floor "
            "a run can exhibit: E2.1b and E2.7d check the bound (data processing), and E2.3b "
            "shows exact kernels' output KL far below the terminal term (the term bounds the "
            "output, it is not reached), so no claim here tests irreducibility",
        },
        {
            "statement": "The terminal mismatch typically vanishes with increasing diffusion "
            "horizon.",
            "source": "abstract",
            "ids": ["E2.2a", "E2.2b", "E2.2d", "E2.2e"],
        },
        {
            "statement": "A path-space decomposition reduces the output error to the terminal "
            "mismatch plus per-step reverse-kernel errors.",
            "source": "abstract",
            "ids": ["E2.1a", "E2.1b", "E2.7d", "E2.3b"],
        },
        {
            "statement": "Assuming each reverse kernel factors through a finite-dimensional "
            "feature map, each step becomes a static conditional density approximation problem. "
            "(E2.5d-e are scored at held-out contexts on a finer grid; E2.5c is the fitted map's "
            "direction.)",
            "source": "abstract",
            "ids": ["E2.5c", "E2.5d", "E2.5e", "E2.5a", "E2.5b"],
        },
        {
            "statement": "Each static problem is solved by composing Norets' Gaussian-mixture "
            "theory with quantitative ReLU approximation bounds.",
            "source": "abstract",
            "reason": "a step of the proof whose bounds we have not seen: no rate of the paper "
            "is tested. The literal class (mixtures of regressions with ReLU logits) is fitted "
            "exactly in E2.8a-c; we test our own second-order logit bound (E2.3d) and a "
            "random-feature rate of ours (E2.6b)",
        },
        {
            "statement": "Under exact terminal matching the neural reverse-kernel class is dense "
            "in conditional KL. (E2.6b tests our random-feature rate on a target in the class up "
            "to its logits, with exact means and variances; E2.7j starts the exact fits on the "
            "non-mixture target from the exact q(z_T | c).)",
            "source": "abstract",
            "ids": ["E2.6b", "E2.7j"],
        },
        {
            "statement": "Increasing the number of mixture components or the width of the ReLU "
            "networks reduces the per-step error.",
            "source": SUMMARY_K_WIDTH,
            "ids": ["E2.3c", "E2.4a", "E2.7a", "E2.7h", "E2.8a"],
        },
        {
            "statement": "The reverse kernel at each step can be realised by a finite mixture "
            "whose parameters a ReLU network computes from the current state and the context. "
            "(E2.6b: a ReLU network approaching the exact finite-mixture kernel of a mixture "
            "target; the literal-class comparisons E2.8b and E2.8d do not test realisability.)",
            "source": "summary",
            "ids": ["E2.6b"],
        },
        {
            "statement": "Load-bearing premise: each reverse kernel factors through a "
            "finite-dimensional feature map of the context, and the targets are suitably regular. "
            "(Tested: the feature-map half only; regularity: see the abstract's row.)",
            "source": "summary",
            "ids": ["E2.5c", "E2.5d", "E2.5e"],
        },
        {
            "statement": "Training such a model amounts to jointly learning a feature map and "
            "per-step mixture parameters that minimise the decomposed KL objective.",
            "source": "summary",
            "reason": "true by the chain rule (E2.1): the maximum-likelihood objective of E2.4 "
            "is the summed per-step KL up to a constant; nothing to test beyond E2.1a (E2.5c "
            "learns a linear feature map jointly with the kernel of the data step)",
        },
        {
            "statement": "The regularity constants are uniform in the diffusion time t, so the "
            "summed per-step errors vanish (the machine-simulated rebuttal on the summary page, "
            "not the authors').",
            "source": "summary",
            "reason": "uniformity of constants needs the capacity required to reach a given "
            "error at each t, which is not measured; E2.U1-U5 measure where the per-step error "
            "of fixed kernels sits under the equal-B schedule, and E2.U6-U7 (full profile only) "
            "whether the summed error of the best fits at fixed capacity, scored on held-out "
            "contexts, settles as T grows, under two schedules",
        },
        {
            "statement": "What would settle it: a regular target whose conditional KL stays "
            "bounded away from zero for any K and width, with exact terminal matching and an "
            "infinite horizon.",
            "source": "summary",
            "reason": "a falsification test over all regular targets; E2.7g bounds a floor of "
            "the summed per-step error from above (5% of the K = 1 value) on one target outside "
            "the class, at B = 5 (not an exact terminal match, not an infinite horizon)",
        },
        {
            "statement": "The same density argument may apply to other kernel families; practical "
            "implementations keep the simplicity of Gaussian-mixture sampling.",
            "source": "summary",
            "reason": "the summary's own speculation, not a statement of the paper; no other "
            "kernel family and no sampling cost is measured here",
        },
    ],
    section="mk-coverage",
)

# %% [markdown]
# ## Verdicts
#
# Each verdict is computed by code from the measurement, its uncertainty and the criterion
# (see the `companion.ledger` module). Only *paper* rows would be verdicts on the paper; this
# chapter has none, because what it can test of the paper is either a limit (density, which
# no finite run decides: questions) or a bound that holds by construction (checks). The
# verdicts shown are those of the `ci` profile ($K \in$ {glue:text}`mk_K_list`, $T$ =
# {glue:text}`mk_T_learned` for the learned chains, {glue:text}`mk_train_steps` training steps,
# {glue:text}`mk_n_eval` scoring contexts; exact fits at {glue:text}`mk_fit_it1` L-BFGS
# iterations on the data step, {glue:text}`mk_fit_starts` random start(s) plus the nested
# start, logit-network widths {glue:text}`mk_fit_widths`); monotonicity of the
# trained chains in $K$, the exact fits at a larger budget and the fixed-capacity questions
# E2.U6-U7 (recorded only there) are left to the `full` profile. The `full` reference in
# `results/full/` can predate the present version of this chapter; a claim missing from it has
# no `full` verdict yet. Changed `full` parameters against the previous reference: `T_learned` 8 → 4 (the
# exact fits of E2.7 share the trained chain), `n_quad_learned` = 641 instead of 321 (E2.N1 failed
# in the previous `full` reference: the coarsest grid of its refinement, 161 nodes, was too
# coarse against the small seed scatter of long training), the large-$T$ first-step series
# of E2.U5, and smaller exact-fit budgets for E2.7 and E2.8 than first planned (a coarser
# fitting grid, fewer iterations, $K$ up to 16; see the configuration cell) so that the
# profile fits its time budget. Added since that reference: the nested starts of E2.7 and E2.8,
# the width sweep of E2.7 (three widths in `full`), more horizons for the exact fits' output
# KL in `full` (see the configuration cell), held-out scoring of E2.U6-U7, and E2.N1's restated
# error measure.

# %%
ledger.table()

# %% [markdown]
# ## What we could not check, and why
#
# * **The paper's exact theorem.** We read only the abstract and third-party digests. The
#   exact kernel parameterization, the feature-map assumption, the regularity conditions and
#   whether the theorem gives rates are unknown to us. Our kernel classes, the chain-rule
#   formula and the logit bound are our reconstruction, consistent with the abstract.
# * **Density as a limit.** E2.6 shows the decrease to 0 under exact terminal matching for
#   kernels whose logits are fitted by least squares on random ReLU layers, on one target whose
#   true kernel is in the class up to its logits, at one step count. E2.7 minimises the exact
#   per-step KL on a non-mixture target, but for a fixed L-BFGS budget: its values are upper
#   bounds on the best-in-class error, E2.7g (a question: its 5% was set after seeing a run)
#   excludes only a floor above 5% of the $K = 1$ error, the local slopes flatten over the $K$ range, and in `ci` the budget is small. Whether
#   the Gumbel + Beta target meets the paper's regularity conditions is not checked. The
#   paper's own quantitative ReLU rates are not tested.
# * **The literal class.** E2.8 fits mixtures of regressions with ReLU logits on the data step
#   only (which carries almost all of the error in E2.7) and from a data-driven start; sample
#   training of that class is not done.
# * **Contexts.** The 3-D context of E2.5 depends on one linear direction; nonlinear feature
#   maps and higher-dimensional contexts are not tested. The exact fits use a few training
#   contexts (so generalisation over $c$ shows, E2.7f); the trained kernels see fresh contexts
#   $c \sim U[0,1]$.
# * **Time uniformity at fixed capacity.** E2.U6-U7 fit a subset of the steps (the others are
#   interpolated) for small $T$ in `ci` (not recorded there) and larger $T$ in `full` (see the
#   configuration cell), at a fixed budget, on one target; the capacity needed for a given error at each
#   $t$ is not measured.
# * **Higher dimensions.** All targets are 1-D so that every KL is a quadrature. The chain rule
#   and the exact mixture kernel hold in any dimension; the behaviour of learned kernels in
#   high dimension is not tested here.
