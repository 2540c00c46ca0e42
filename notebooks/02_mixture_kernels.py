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
# universality theorem and reports no experiments, so every number below is ours: we make each
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
# **What is our reconstruction** (labelled as such throughout): the exact parameterization of
# the kernels (we test "ReLU logits with affine means and constant variances", the literal class,
# and "logits, means and log-stds all from one network"), the chain-rule formula in our
# notation, the closed-form reverse kernel of mixture data, the logit-perturbation bound, and
# every experiment. A machine-written review of the paper asks whether the per-step constants
# are uniform in the diffusion time $t$; the section {ref}`mk-uniformity` gives our answer on
# these targets.

# %% tags=["parameters"]
profile = "ci"
seed = 0
device = "cpu"
T_values = None
relu_widths = None
n_contexts = None
n_grid = None
n_quad = None
n_joint = None
horizons = None
K_values = None
net_width = None
net_widths = None
train_steps = None
batch_size = None
lr = None
feature_K_values = None
n_seeds = None
T_learned = None
n_eval_contexts = None

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from myst_nb import glue

from companion import mixture_kernels as mk
from companion.conditional_targets import GumbelBetaTarget, MixtureTarget
from companion import stats
from companion.stats import fit_loglog
from companion.gmm import ConditionalGaussianMixture
from companion.information import context_mutual_information
from companion.ledger import Ledger, at_least, at_most, close_to
from companion.profiles import get_device, resolve, seed_everything
from companion.style import PALETTE, figure, use_style

cfg = resolve(
    profile,
    ci=dict(
        T_values=[2, 4, 8, 16],
        relu_widths=[4, 32, 256],
        n_contexts=3,
        n_grid=401,
        n_quad=241,
        n_joint=181,
        horizons=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0],
        K_values=[1, 4],
        net_width=32,
        net_widths=[16, 32],
        train_steps=800,
        batch_size=256,
        lr=1e-2,
        feature_K_values=[4],
        n_seeds=2,
        T_learned=4,
        n_eval_contexts=5,
    ),
    full=dict(
        T_values=[2, 4, 8, 16, 64],
        relu_widths=[4, 16, 64, 256],
        n_contexts=5,
        n_grid=601,
        n_quad=321,
        n_joint=241,
        horizons=list(np.arange(1.0, 10.5, 0.5)),
        K_values=[1, 2, 4, 8],
        net_width=64,
        net_widths=[16, 64, 128],
        train_steps=3000,
        batch_size=512,
        lr=1e-2,
        feature_K_values=[1, 2, 4, 8],
        n_seeds=3,
        T_learned=8,
        n_eval_contexts=11,
    ),
    T_values=T_values,
    relu_widths=relu_widths,
    n_contexts=n_contexts,
    n_grid=n_grid,
    n_quad=n_quad,
    n_joint=n_joint,
    horizons=horizons,
    K_values=K_values,
    net_width=net_width,
    net_widths=net_widths,
    train_steps=train_steps,
    batch_size=batch_size,
    lr=lr,
    feature_K_values=feature_K_values,
    n_seeds=n_seeds,
    T_learned=T_learned,
    n_eval_contexts=n_eval_contexts,
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
# All densities live on uniform grids. Model outputs $p(x_0\mid c)$ are computed exactly, by
# propagating the density through each mixture transition on the grid
# (`companion.grid.mixture_transition`); they are not estimated from samples. Per-step KLs are
# 2-D trapezoid rules and terminal KLs are 1-D trapezoid rules.


# %%
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
# plus a scaled Beta(2, 3) bump, not a finite mixture (used in E2.4 and E2.5). Look at how both
# the weights and the locations of the modes depend on $c$: a kernel that ignores $c$ cannot
# produce either family.

# %% [markdown]
# (mk-chain-rule)=
# ## E2.1 The path-space decomposition
#
# **Claim (paper, abstract).** The output error is bounded by the terminal mismatch plus the
# per-step reverse-kernel errors.
#
# **Derivation (ours).** For each context, the chain rule of KL applied to the two Markov
# chains, run from $t = T$ down to $0$, gives the path KL *exactly*:
#
# $$\mathrm{KL}\big(q(z_{0:T}\mid c)\,\|\,p(z_{0:T}\mid c)\big) = \underbrace{\mathrm{KL}(q(z_T\mid c)\,\|\,\mathcal N(0,1))}_{\text{terminal mismatch}}
# + \sum_{t=1}^T \underbrace{E_{q(z_t\mid c)}\,\mathrm{KL}\big(q(z_{t-1}\mid z_t, c)\,\|\,p(z_{t-1}\mid z_t, c)\big)}_{\text{per-step KL } \varepsilon_t},$$
#
# and the data-processing inequality gives $\mathrm{KL}(q(x_0\mid c)\,\|\,p(x_0\mid c)) \le$ the path
# KL. We check both, for three model chains on the mixture target: the exact kernels, the
# moment-matched single Gaussian (the best Gaussian kernel in forward KL, i.e. DDPM with the
# optimal variance), and exact kernels with logits perturbed by $0.5\sin(1.3z + k + c)$.
# For $T = 2$ we also compute the path KL *directly* on a 3-D grid over $(z_0, z_1, z_2)$,
# which never uses the true reverse kernels: an independent check of the chain rule.

# %%
B_check = 4.0
chain2 = mk.VPChain.uniform(2, B_check)
x_joint = torch.linspace(-4.0, 4.0, cfg["n_joint"], dtype=torch.float64)
z_joint = torch.linspace(-8.0, 8.0, cfg["n_joint"], dtype=torch.float64)
families_21 = {
    "exact": mk.exact_kernel,
    "Gaussian (moment-matched)": mk.moment_matched_kernel,
    "perturbed logits": lambda tg, ch: mk.perturbed_logit_kernel(mk.exact_kernel(tg, ch), 0.5),
}
rows = []
for T in [2, 8]:
    ch = mk.VPChain.uniform(T, B_check)
    for name, make in families_21.items():
        kern = make(mixture, ch)
        for c in contexts:
            term, steps = mk.chain_rule_kl(mixture, ch, kern, c, z_quad)
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
                    output=mk.output_kl(mixture, d, c),
                )
            )
table21 = pd.DataFrame(rows)
table21["path - joint"] = table21["path"] - table21["joint"]
table21["slack"] = table21["path"] - table21["output"]
chain_gap = float(table21["path - joint"].abs().max())
dpi_margin = float(table21["slack"].min())
assert chain_gap < 1e-8, chain_gap
assert dpi_margin > -1e-9, dpi_margin
glue("mk_chain_gap", chain_gap, display=False)
glue("mk_dpi_margin", dpi_margin, display=False)
table21.groupby(["T", "kernel"])[
    ["terminal", "steps", "path", "joint", "output", "path - joint"]
].mean()

# %% [markdown]
# Context-averaged terms of the decomposition (horizon $B = 4$). The column `path - joint`
# compares the chain-rule sum with the direct 3-D computation for $T = 2$: the largest
# difference over contexts and kernels is {glue:text}`mk_chain_gap:.2g`. The output KL never
# exceeds the path KL (smallest slack {glue:text}`mk_dpi_margin:.3g`).

# %%
fig, ax = figure(1, height=2.8)
g = table21.groupby(["T", "kernel"])[["path", "output"]].mean().reset_index()
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
# mismatch, and the output KL is far smaller still (the reverse chain forgets part of its
# wrong start). For the Gaussian kernel the bound is nearly tight at $T = 2$.

# %%
ledger.record(
    "E2.1a",
    paper=PAPER,
    claim="Path-space chain rule: terminal + Σ per-step KL equals the path KL computed directly on a 3-D grid (T = 2)",
    measured=chain_gap,
    expect=at_most(1e-8),
    section="mk-chain-rule",
    atol=1e-8,
)
_ = ledger.record(
    "E2.1b",
    paper=PAPER,
    claim="Output KL ≤ path KL (data processing) for every kernel family, context and T (smallest slack)",
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
# **Claim (paper).** The irreducible term is a terminal mismatch that typically vanishes as the
# diffusion horizon grows.
#
# **Derivation (ours).** $q(z_T\mid c)$ is the data law shrunk by $\alpha_T = e^{-B/2}$ and
# convolved with $\mathcal N(0, 1 - e^{-B})$. Expanding the KL to $\mathcal N(0,1)$ in cumulants:
# a non-zero mean $\mu$ contributes $\tfrac12\mu^2e^{-B}$ and a variance $v\ne1$ contributes
# $\tfrac14(v-1)^2e^{-2B}$. So $\log\mathrm{KL}$ is linear in $B$ with slope $-1$ for targets
# with a non-zero mean and $-2$ for centred targets (with variance $\ne 1$), after a transient.
# It depends on $B$ only: more steps at fixed $B$ do not change it. We fit the slope of
# $\ln(E_c\mathrm{KL})$ against $B$ on $B \ge 4$.

# %%
Bs = np.asarray(cfg["horizons"], dtype=float)
term_curves = {}
for name, tg in [("non-centred mixture", mixture), ("centred mixture", centred)]:
    term_curves[name] = np.array(
        [
            np.mean([mk.terminal_kl(tg, mk.VPChain.uniform(1, B), c, z_quad) for c in contexts])
            for B in Bs
        ]
    )
fit_mask = Bs >= 4.0
fits = {k: stats.fit_semilog(Bs[fit_mask], v[fit_mask]) for k, v in term_curves.items()}
# the same horizon split into more steps: the terminal law is the same
term_vs_T = [
    np.mean([mk.terminal_kl(mixture, mk.VPChain.uniform(T, 6.0), c, z_quad) for c in contexts])
    for T in cfg["T_values"]
]
term_spread = float((max(term_vs_T) - min(term_vs_T)) / np.mean(term_vs_T))
assert term_spread < 1e-10
for k, f in fits.items():
    key = k.split()[0].replace("-", "")
    glue(f"mk_slope_{key}", f.slope, display=False)
    glue(f"mk_slope_{key}_ci", f.ci95, display=False)
glue("mk_term_spread", term_spread, display=False)
glue("mk_T_list", ", ".join(str(t) for t in cfg["T_values"]), display=False)

fig, ax = figure(1, height=2.8)
for i, (k, v) in enumerate(term_curves.items()):
    f = fits[k]
    ax.semilogy(Bs, v, "o", color=PALETTE[i], label=f"{k}: slope {f.slope:.2f} ± {f.ci95:.2f}")
    ax.semilogy(
        Bs[fit_mask], np.exp(f.intercept + f.slope * Bs[fit_mask]), "-", color=PALETTE[i], alpha=0.6
    )
ax.set(
    xlabel="horizon $B = -\\log\\alpha_T^2$", ylabel="$E_c$ KL$(q(z_T|c)\\,\\|\\,N(0,1))$ (nats)"
)
ax.legend()
plt.show()

# %% [markdown]
# Terminal mismatch against the horizon (log scale), with least-squares lines fitted on
# $B\ge 4$. Look at the two slopes: {glue:text}`mk_slope_noncentred:.3f` ±
# {glue:text}`mk_slope_noncentred_ci:.2g` for the non-centred target and
# {glue:text}`mk_slope_centred:.3f` ± {glue:text}`mk_slope_centred_ci:.2g` for the centred one
# (95% intervals of the fit), as predicted. At $B = 6$, splitting the horizon into
# $T \in$ {glue:text}`mk_T_list` steps changes the terminal mismatch by a relative
# {glue:text}`mk_term_spread:.1g`: it is set by the horizon, not by the number of steps.

# %%
f1, f2 = fits["non-centred mixture"], fits["centred mixture"]
ledger.record(
    "E2.2a",
    paper=PAPER,
    claim="Terminal mismatch vanishes with the horizon: slope of ln KL vs B is -1 for a non-centred target",
    measured=f1.slope,
    uncertainty=f1.ci95,
    uncertainty_kind="95% CI of the least-squares slope",
    expect=close_to(-1.0, 0.1),
    section="mk-terminal",
    rtol=1e-4,
    atol=1e-6,
)
ledger.record(
    "E2.2b",
    paper=PAPER,
    claim="Terminal mismatch vanishes with the horizon: slope of ln KL vs B is -2 for a centred target",
    measured=f2.slope,
    uncertainty=f2.ci95,
    uncertainty_kind="95% CI of the least-squares slope",
    expect=close_to(-2.0, 0.2),
    section="mk-terminal",
    rtol=1e-4,
    atol=1e-6,
)
_ = ledger.record(
    "E2.2c",
    paper=PAPER,
    claim="At fixed horizon B the terminal mismatch does not depend on the number of steps T (relative spread)",
    measured=term_spread,
    expect=at_most(1e-10),
    section="mk-terminal",
    atol=1e-10,
)

# %% [markdown]
# (mk-few-step)=
# ## E2.3 Few-step sampling: Gaussian against mixture kernels
#
# **Claim (paper, and its practical promise).** Finite mixtures with ReLU logits make the
# per-step kernel error arbitrarily small, so the output error reduces to the terminal mismatch;
# single Gaussian kernels cannot do this when steps are large.
#
# **Setting.** Mixture target, horizon $B = 6$, $T \in$ {glue:text}`mk_T_list` equal steps.
# Kernel families: (a) the moment-matched Gaussian; (b) the exact 3-component kernel; (c) three
# components with the exact means and variances and logits from a one-hidden-layer ReLU network
# of width $w$ per step, whose output layer is fitted by least squares to the exact
# (quadratic) logits on $|z_t| \le 5$ and the context grid. (Its hidden layer has random
# directions and kinks spread over the input box, so the fit is one linear solve; a trained
# network would do at least as well at each width.)
#
# **Logit bound (our derivation).** If two mixtures share their components and their logits
# differ by $\Delta\ell(z)$, then $|\log\pi_k - \log\pi'_k| \le \mathrm{osc}_k\Delta\ell =
# \max_k\Delta\ell_k - \min_k\Delta\ell_k \le 2\sup_k|\Delta\ell_k|$, so
# $p/p' \in [e^{-\mathrm{osc}}, e^{\mathrm{osc}}]$ pointwise and
# $\varepsilon_t \le E_{q(z_t\mid c)}\,\mathrm{osc}\,\Delta\ell(z_t) \le 2\sup|\Delta\ell|$.

# %%
B_few = 6.0
reports, bounds = {}, []
for T in cfg["T_values"]:
    ch = mk.VPChain.uniform(T, B_few)
    fams = {
        "exact": mk.exact_kernel(mixture, ch),
        "Gaussian": mk.moment_matched_kernel(mixture, ch),
    }
    relu_nets = {}
    for w in cfg["relu_widths"]:
        relu_nets[w] = mk.fit_relu_logits(mixture, ch, w, contexts, generator=gen)
        fams[f"ReLU logits, w = {w}"] = mk.relu_logit_kernel(mixture, ch, relu_nets[w])
    for name, kern in fams.items():
        reports[(name, T)] = mk.evaluate_chain(mixture, ch, kern, contexts, z_prop, z_quad)
    for w, nets in relu_nets.items():
        steps = reports[(f"ReLU logits, w = {w}", T)].steps
        for i, c in enumerate(contexts):
            for t in range(1, T + 1):
                mean_osc, two_sup = mk.logit_bound(mixture, ch, nets, c, t, z_quad)
                bounds.append(
                    dict(
                        T=T,
                        width=w,
                        c=c,
                        t=t,
                        kl=steps[i, t - 1],
                        mean_osc=mean_osc,
                        two_sup=two_sup,
                    )
                )
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

# %%
Ts = cfg["T_values"]
fig, axes = figure(2, height=2.9)
names = ["Gaussian"] + [f"ReLU logits, w = {w}" for w in cfg["relu_widths"]] + ["exact"]
for i, n in enumerate(names):
    s = summary23[summary23.kernel == n]
    axes[0].loglog(s["T"], s["output"], "o-", color=PALETTE[i], label=n)
terminal = summary23[summary23.kernel == "exact"]["terminal"].mean()
axes[0].axhline(terminal, color="k", ls=":", lw=1, label="terminal mismatch")
axes[0].set(xlabel="number of steps $T$ (fixed $B = 6$)", ylabel="$E_c$ output KL (nats)")
axes[0].set_xticks(Ts, [str(t) for t in Ts])
axes[0].minorticks_off()
axes[0].legend(fontsize=7)
for j, T in enumerate(Ts):
    s = summary23[(summary23["T"] == T) & summary23.kernel.str.startswith("ReLU")]
    ws = [int(k.split("= ")[1]) for k in s.kernel]
    axes[1].loglog(ws, s["steps"], "o-", color=PALETTE[j], label=f"T = {T}")
axes[1].set(xlabel="ReLU logit-network width $w$", ylabel="$E_c\\sum_t\\varepsilon_t$ (nats)")
axes[1].legend(fontsize=7)
plt.show()

# %% [markdown]
# Left: output KL against the number of steps. Look at the Gaussian kernel (blue): it is poor
# with few large steps and improves as steps shrink, while the exact mixture kernel sits at the
# level allowed by the terminal mismatch (dotted line; the output KL is even below it) at every
# $T$, and the ReLU-logit kernels approach it as the width grows. The narrowest logit network
# ($w = 4$) is erratic and can be worse than a single Gaussian: a badly fitted logit is worse than
# no mixture at all. Right: the summed per-step KL of the ReLU-logit kernels against the width,
# one line per $T$.

# %%
exact_out = summary23[summary23.kernel == "exact"].set_index("T")["output"]
gauss_out = summary23[summary23.kernel == "Gaussian"].set_index("T")["output"]
exact_minus_term = float(
    (
        summary23[summary23.kernel == "exact"]["output"]
        - summary23[summary23.kernel == "exact"]["terminal"]
    ).max()
)
exact_spread = float((exact_out.max() - exact_out.min()) / exact_out.mean())
ratio_T2 = float(gauss_out.loc[min(Ts)] / exact_out.loc[min(Ts)])
wmin, wmax = min(cfg["relu_widths"]), max(cfg["relu_widths"])
steps_w = summary23[summary23.kernel.str.startswith("ReLU")].copy()
steps_w["width"] = [int(k.split("= ")[1]) for k in steps_w.kernel]
width_gain = float(
    np.max(
        [
            steps_w[(steps_w["T"] == T) & (steps_w.width == wmax)]["steps"].iloc[0]
            / steps_w[(steps_w["T"] == T) & (steps_w.width == wmin)]["steps"].iloc[0]
            for T in Ts
        ]
    )
)
bound_ratio = float((bounds["kl"] / bounds["mean_osc"]).max())
loose = float((bounds["kl"] / bounds["two_sup"]).median())
assert bound_ratio <= 1.0 + 1e-6, bound_ratio
assert exact_minus_term <= 0.0
glue("mk_ratio_T2", ratio_T2, display=False)
glue("mk_exact_spread", exact_spread, display=False)
glue("mk_width_gain", width_gain, display=False)
glue("mk_width_factor", 1.0 / width_gain, display=False)
glue("mk_bound_ratio", bound_ratio, display=False)
glue("mk_bound_loose", loose, display=False)
glue("mk_Tmin", min(Ts), display=False)

# %% [markdown]
# With $T$ = {glue:text}`mk_Tmin` steps the Gaussian kernel's output KL is
# {glue:text}`mk_ratio_T2:.3g` times that of the exact mixture kernel. The exact kernel's output
# KL is the same for every $T$ to a relative {glue:text}`mk_exact_spread:.1g` (at fixed $B$ it
# is the law of $x_0$ given $z_T$ averaged over the wrong prior, whatever the number of steps).
# Going from the narrowest to the widest logit network divides the summed per-step KL by a
# factor of at least {glue:text}`mk_width_factor:.2g` at every $T$. The per-step logit bound holds
# for every step, width and context: the largest ratio $\varepsilon_t / E_q\,\mathrm{osc}$ is
# {glue:text}`mk_bound_ratio:.3g` ≤ 1, and the bound is loose: the median of
# $\varepsilon_t/(2\sup|\Delta\ell|)$ is {glue:text}`mk_bound_loose:.2g`.

# %%
ledger.record(
    "E2.3a",
    paper=PAPER,
    claim="Few steps: the moment-matched Gaussian kernel's output KL is ≥ 10x that of the exact mixture kernel (smallest T)",
    measured=ratio_T2,
    expect=at_least(10.0),
    section="mk-few-step",
    rtol=1e-3,
    atol=1e-6,
)
ledger.record(
    "E2.3b",
    paper=PAPER,
    claim="Exact mixture kernels leave only the terminal mismatch: max over T of (output KL - terminal KL)",
    measured=exact_minus_term,
    expect=at_most(0.0),
    section="mk-few-step",
    rtol=1e-3,
    atol=1e-8,
)
ledger.record(
    "E2.3c",
    paper=PAPER,
    claim="ReLU-logit kernels approach the exact kernel as width grows: Σ per-step KL at the widest / narrowest width (worst T)",
    measured=width_gain,
    expect=at_most(0.01),
    section="mk-few-step",
    rtol=0.1,
    atol=1e-8,
)
_ = ledger.record(
    "E2.3d",
    paper=PAPER,
    claim="Per-step KL ≤ E_q osc(Δlogit) ≤ 2 sup|Δlogit| (largest ratio to the first bound)",
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
# **Claim (paper).** The class is dense: with enough components and network capacity the
# context-averaged KL can be made as small as the terminal mismatch allows. We test it where
# the true kernels are *not* finite mixtures: the Gumbel + Beta target, horizon $B = 5$,
# $T$ = {glue:text}`mk_T_learned` steps.
#
# **Models (our reconstruction).** One ReLU MLP (width {glue:text}`mk_net_width`, two hidden
# layers) takes $h = (z_t, c)$ and a one-hot code of $t$. Two variants:
#
# * *logits only* (the paper's literal class): the network outputs the $K$ logits; means
#   $g_{t,k}z_t + o_{t,k}$ and standard deviations $s_{t,k}$ are free per-step parameters (the
#   structure of the exact kernel for mixture data);
# * *fully networked*: the network outputs logits, mean offsets and log-standard-deviations.
#
# Training is maximum likelihood on forward pairs $(z_{t-1}, z_t)$ with fresh samples
# ({glue:text}`mk_train_steps` Adam steps, batch {glue:text}`mk_batch`), which is exactly
# minimising $\sum_t\varepsilon_t$ up to a constant (the chain rule of E2.1). Output KL by grid
# propagation, averaged over {glue:text}`mk_n_eval` contexts; error bars are the standard
# error over {glue:text}`mk_n_seeds` training seeds. As references: the moment-matched Gaussian
# kernel computed from the *true* kernel by quadrature (the best possible $K = 1$ kernel) and
# the terminal mismatch.

# %%
T_l, B_l = cfg["T_learned"], 5.0
chain_l = mk.VPChain.uniform(T_l, B_l)
eval_contexts = np.linspace(0.0, 1.0, cfg["n_eval_contexts"]).tolist()
z_l = torch.linspace(-6.0, 6.0, cfg["n_grid"], dtype=torch.float64)
z_lq = torch.linspace(-6.0, 6.0, cfg["n_quad"], dtype=torch.float64)
glue("mk_T_learned", T_l, display=False)
glue("mk_net_width", cfg["net_width"], display=False)
glue("mk_train_steps", cfg["train_steps"], display=False)
glue("mk_batch", cfg["batch_size"], display=False)
glue("mk_n_eval", len(eval_contexts), display=False)
glue("mk_n_seeds", cfg["n_seeds"], display=False)

Kmax, Kmin = max(cfg["K_values"]), min(cfg["K_values"])
configs = [
    dict(variant=v, K=K, width=cfg["net_width"], features="full", bottleneck=1)
    for v in ["full", "logits"]
    for K in cfg["K_values"]
]
configs += [
    dict(variant="full", K=Kmax, width=w, features="full", bottleneck=1)
    for w in cfg["net_widths"]
    if w != cfg["net_width"]
]
configs += [
    dict(variant="full", K=K, width=cfg["net_width"], features=f, bottleneck=1)
    for f in ["drop_c", "bottleneck"]
    for K in cfg["feature_K_values"]
]
runs = []
for conf in configs:
    for s in range(cfg["n_seeds"]):
        g_train = torch.Generator().manual_seed(1000 * seed + s)
        torch.manual_seed(1000 * seed + s)
        net = mk.MixtureKernelNet(
            conf["K"],
            chain_l,
            width=conf["width"],
            variant=conf["variant"],
            features=conf["features"],
            bottleneck=conf["bottleneck"],
        ).to(dev)
        losses = mk.train_mixture_kernel(
            net,
            gumbel_beta,
            chain_l,
            steps=cfg["train_steps"],
            batch_size=cfg["batch_size"],
            lr=cfg["lr"],
            generator=g_train,
            disable=True,
        )
        keep_steps = conf["features"] == "full" and conf["K"] == Kmax and conf["variant"] == "full"
        rep = mk.evaluate_chain(
            gumbel_beta,
            chain_l,
            mk.net_kernel(net.cpu()),
            eval_contexts,
            z_l,
            z_lq,
            per_step=keep_steps and conf["width"] == cfg["net_width"],
        )
        runs.append(
            dict(
                **conf,
                seed=s,
                output=rep.output.mean(),
                report=rep,
                final_loss=np.mean(losses[-50:]),
            )
        )
runs = pd.DataFrame(runs)
gauss_l = mk.evaluate_chain(
    gumbel_beta,
    chain_l,
    mk.moment_matched_kernel(gumbel_beta, chain_l, z_lq),
    eval_contexts,
    z_l,
    z_lq,
)


def seed_stats(df):
    return df.groupby(["features", "variant", "K", "width"])["output"].agg(
        mean="mean", sem=lambda v: v.std(ddof=1) / math.sqrt(len(v)) if len(v) > 1 else np.nan
    )


stats = seed_stats(runs)
stats

# %% [markdown]
# Context-averaged output KL (nats) of the trained chains: mean and standard error over seeds,
# by feature map, variant, number of components $K$ and width.

# %%
fig, axes = figure(2, height=2.9)
for i, v in enumerate(["full", "logits"]):
    s = stats.loc[("full", v)].xs(cfg["net_width"], level="width")
    axes[0].errorbar(
        s.index,
        s["mean"],
        yerr=s["sem"],
        fmt="o-",
        capsize=3,
        color=PALETTE[i],
        label={"full": "fully networked", "logits": "ReLU logits only"}[v],
    )
axes[0].axhline(
    gauss_l.output.mean(),
    color=PALETTE[3],
    ls="--",
    lw=1,
    label="best Gaussian kernel (true moments)",
)
axes[0].axhline(gauss_l.terminal.mean(), color="k", ls=":", lw=1, label="terminal mismatch")
axes[0].set(xscale="log", yscale="log", xlabel="components $K$", ylabel="$E_c$ output KL (nats)")
axes[0].set_xticks(cfg["K_values"], [str(k) for k in cfg["K_values"]])
axes[0].minorticks_off()
axes[0].legend(fontsize=7)
best = runs[
    (runs.features == "full")
    & (runs.variant == "full")
    & (runs.K == Kmax)
    & (runs.width == cfg["net_width"])
].iloc[0]
for i, c in enumerate(
    [eval_contexts[0], eval_contexts[len(eval_contexts) // 2], eval_contexts[-1]]
):
    j = eval_contexts.index(c)
    d = best.report.densities[j]
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
# Left: output KL against the number of components, for the two variants (error bars: standard
# error over seeds). Look at $K = 1$ against the dashed line: a single learned Gaussian cannot
# do much better than the best Gaussian kernel, while mixtures go well below it. Right: the exact law of the
# samples of the fully networked $K$ = {glue:text}`mk_Kmax` model (dashed) against the target
# (solid) for three contexts: the model follows the context-dependent skew and the two bumps.

# %%
glue("mk_Kmax", Kmax, display=False)
main = runs[(runs.features == "full") & (runs.width == cfg["net_width"])]


def per_seed(df, **sel):
    m = np.ones(len(df), dtype=bool)
    for k, v in sel.items():
        m &= (df[k] == v).to_numpy()
    return df[m].sort_values("seed")["output"].to_numpy()


k1 = per_seed(main, variant="full", K=Kmin)
kK = per_seed(main, variant="full", K=Kmax)
gain_K = k1 - kK
gain_K_mean = float(gain_K.mean())
gain_K_err = (
    float(2 * gain_K.std(ddof=1) / math.sqrt(len(gain_K))) if len(gain_K) > 1 else float("inf")
)
beat_gauss = float(kK.mean() / gauss_l.output.mean())
beat_gauss_err = (
    float(2 * kK.std(ddof=1) / math.sqrt(len(kK)) / gauss_l.output.mean())
    if len(kK) > 1
    else float("inf")
)
logits_K = per_seed(main, variant="logits", K=Kmax)
glue("mk_gain_K", gain_K_mean, display=False)
glue("mk_beat_gauss", beat_gauss, display=False)
glue("mk_logits_K", float(logits_K.mean()), display=False)
glue("mk_full_K", float(kK.mean()), display=False)
glue("mk_gauss_l", float(gauss_l.output.mean()), display=False)

# %% [markdown]
# With $K$ = {glue:text}`mk_Kmax` components the fully networked chain reaches
# {glue:text}`mk_full_K:.3g` nats, {glue:text}`mk_beat_gauss:.2g` times the output KL of the
# best Gaussian kernel ({glue:text}`mk_gauss_l:.3g` nats). The literal class (ReLU logits only,
# free affine means) reaches {glue:text}`mk_logits_K:.3g` nats at the same $K$. In this class
# the component means cannot follow the context, so only the context-dependent weights carry
# the flexibility, as in Norets-type constructions, and more components are needed for the same
# accuracy (compare the two curves in the figure).

# %%
ledger.record(
    "E2.4a",
    paper=PAPER,
    claim="More mixture components reduce the learned chain's output KL (KL at K=min minus K=max)",
    measured=gain_K_mean,
    uncertainty=gain_K_err,
    uncertainty_kind=f"2 standard errors over {cfg['n_seeds']} seeds",
    expect=at_least(0.0),
    section="mk-learned",
    rtol=0.5,
    atol=0.05,
)
_ = ledger.record(
    "E2.4b",
    paper=PAPER,
    claim="Learned mixture kernels beat the best single-Gaussian kernel: output KL ratio (K=max, fully networked)",
    measured=beat_gauss,
    uncertainty=beat_gauss_err,
    uncertainty_kind=f"2 standard errors over {cfg['n_seeds']} seeds",
    expect=at_most(0.5),
    section="mk-learned",
    rtol=0.5,
    atol=0.05,
)

# %% [markdown]
# (mk-features)=
# ## E2.5 The feature-map assumption
#
# **Claim (paper, an assumption).** Each reverse kernel factors through a finite-dimensional
# feature map $h = \phi_t(z_t, c)$. The assumption is load-bearing: if $\phi$ loses
# information that the true kernel needs, no number of components or width can recover it.
#
# **Derivation (ours).** If $\phi$ drops $c$, every kernel and the prior ignore $c$, so the
# output $p(x_0)$ is the same for all contexts, and
# $E_c\mathrm{KL}(q(x_0\mid c)\,\|\,p) \ge E_c\mathrm{KL}(q(x_0\mid c)\,\|\,\bar q) = I(x_0; c)$,
# the mutual information between data and context (on our context grid). This floor does not
# depend on $K$ or on the width. We also try a learned linear *bottleneck* of size $m = 1$
# applied to $(z_t, c)$, which is insufficient in general.

# %%
I_floor = context_mutual_information(gumbel_beta, eval_contexts, z_l)
feat = runs[runs.width == cfg["net_width"]]
drop = per_seed(feat, features="drop_c", K=Kmax)
drop_ratio = float(drop.min() / I_floor)
full_ratio = float(kK.mean() / I_floor)
full_ratio_err = (
    float(2 * kK.std(ddof=1) / math.sqrt(len(kK)) / I_floor) if len(kK) > 1 else float("inf")
)
glue("mk_I", I_floor, display=False)
glue("mk_drop_ratio", drop_ratio, display=False)
glue(
    "mk_drop_phrase",
    "(training gets close to the floor, but not below it)."
    if drop_ratio < 1.2
    else "(above the floor).",
    display=False,
)
glue("mk_full_ratio", full_ratio, display=False)

fig, ax = figure(1, height=2.8)
for i, (f, lab) in enumerate(
    [
        ("full", "$h = (z_t, c)$"),
        ("drop_c", "$h = z_t$ (drops $c$)"),
        ("bottleneck", "learned bottleneck, $m = 1$"),
    ]
):
    s = stats.loc[(f, "full")].xs(cfg["net_width"], level="width")
    ax.errorbar(s.index, s["mean"], yerr=s["sem"], fmt="o-", capsize=3, color=PALETTE[i], label=lab)
ax.axhline(I_floor, color="k", ls=":", lw=1, label="floor $I(x_0; c)$ for maps that drop $c$")
ax.set(xscale="log", yscale="log", xlabel="components $K$", ylabel="$E_c$ output KL (nats)")
ax.set_xticks(cfg["K_values"], [str(k) for k in cfg["K_values"]])
ax.minorticks_off()
ax.legend(fontsize=7)
plt.show()

# %% [markdown]
# Output KL against $K$ for three feature maps (fully networked variant). Look at the
# orange line: dropping the context leaves an error at or above the mutual-information floor
# ({glue:text}`mk_I:.3g` nats, dotted) whatever $K$ and the width (the derivation above); the
# smallest run at $K$ = {glue:text}`mk_Kmax` is {glue:text}`mk_drop_ratio:.3g` times the floor,
# {glue:text}`mk_drop_phrase` With the full features the best model is at
# {glue:text}`mk_full_ratio:.2g` times that floor.

# %%
ledger.record(
    "E2.5a",
    paper=PAPER,
    claim="An insufficient feature map (drops c) leaves a K-independent floor: output KL / I(x0;c) ≥ 1 (smallest seed, K=max)",
    measured=drop_ratio,
    expect=at_least(1.0),
    section="mk-features",
    rtol=0.5,
    atol=0.05,
)
_ = ledger.record(
    "E2.5b",
    paper=PAPER,
    claim="With sufficient features (z_t, c) the learned chain goes below the drop-c floor: output KL / I(x0;c) (K=max)",
    measured=full_ratio,
    uncertainty=full_ratio_err,
    uncertainty_kind=f"2 standard errors over {cfg['n_seeds']} seeds",
    expect=at_most(0.5),
    section="mk-features",
    rtol=0.5,
    atol=0.05,
)

# %% [markdown]
# (mk-uniformity)=
# ## Time uniformity: where do the per-step errors sit?
#
# The review's question: the proof needs $\sum_t\varepsilon_t \to 0$, so the per-step constants
# must not blow up near $t = 0$ (data) or $t = T$ (noise), and must shrink fast enough to be
# summable as $T$ grows. Here is the measured profile $\varepsilon_t$ against $t/T$ for three
# kernels: the moment-matched Gaussian kernel and a kernel with a *fixed logit error* (the
# exact kernel with logits perturbed by $0.3\sin(1.3z + k + c)$ at every step, the situation
# of a logit network of fixed accuracy) on the mixture target at $B = 6$, and the learned fully
# networked kernel on the Gumbel + Beta target. The naive bound from E2.3,
# $\sum_t\varepsilon_t \le \sum_t E_q\,\mathrm{osc}\,\Delta\ell$, grows linearly in $T$ for a
# fixed logit error; the question is what the true sum does.

# %%
amp_u = 0.3
pert_profiles = {}
for T in Ts:
    ch = mk.VPChain.uniform(T, B_few)
    kern = mk.perturbed_logit_kernel(mk.exact_kernel(mixture, ch), amp_u)
    pert_profiles[T] = np.mean(
        [mk.chain_rule_kl(mixture, ch, kern, c, z_quad)[1] for c in contexts], 0
    )
fig, axes = figure(3, height=2.7)
for j, T in enumerate(Ts):
    x_t = (np.arange(1, T + 1) - 0.5) / T
    e = reports[("Gaussian", T)].steps.mean(0)
    axes[0].semilogy(x_t, np.maximum(e, 1e-14), "o-", ms=3, color=PALETTE[j], label=f"T = {T}")
    axes[1].semilogy(x_t, pert_profiles[T], "o-", ms=3, color=PALETTE[j], label=f"T = {T}")
axes[0].set(title="Gaussian kernel", xlabel="$(t - 1/2)/T$", ylabel="$E_c\\,\\varepsilon_t$ (nats)")
axes[1].set(title=f"fixed logit error ({amp_u:g})", xlabel="$(t - 1/2)/T$")
learned = [r for r in runs.itertuples() if r.report.steps is not None]
for s_i, r in enumerate(learned):
    e = r.report.steps.mean(0)
    axes[2].semilogy(
        (np.arange(1, T_l + 1) - 0.5) / T_l,
        e,
        "o-",
        ms=3,
        color=PALETTE[s_i],
        label=f"seed {r.seed}",
    )
axes[2].set(title=f"learned, K = {Kmax}, T = {T_l}", xlabel="$(t - 1/2)/T$")
for ax in axes:
    ax.legend(fontsize=6)
plt.show()

# %% [markdown]
# Per-step KL against the position of the step in the chain ($t/T$ near 0: the step that
# produces the data; near 1: the first step from noise). Look at where the mass sits: for all
# three kernels the error is largest at the steps nearest the data and decays by orders of
# magnitude towards the noise end. In the middle panel, look at how the whole profile moves
# down as $T$ grows: each step's error shrinks roughly like $1/T$.

# %%
T_big = max(Ts)
e_g = reports[("Gaussian", T_big)].steps.mean(0)
near_data = float(e_g[: max(1, T_big // 4)].sum() / e_g.sum())
g_sum = [reports[("Gaussian", T)].steps.sum(-1).mean() for T in Ts]
p_sum = [pert_profiles[T].sum() for T in Ts]
slope_g = fit_loglog(Ts, g_sum)
slope_p = fit_loglog(Ts, p_sum)
e_l = np.mean([r.report.steps.mean(0) for r in learned], 0)
near_data_l = float(e_l[: max(1, T_l // 4)].sum() / e_l.sum())
glue("mk_near_data", near_data, display=False)
glue("mk_near_data_l", near_data_l, display=False)
glue("mk_slope_g", slope_g.slope, display=False)
glue("mk_slope_g_ci", slope_g.ci95, display=False)
glue("mk_slope_p", slope_p.slope, display=False)
glue("mk_slope_p_ci", slope_p.ci95, display=False)
glue("mk_p_sum_lo", min(p_sum), display=False)
glue("mk_p_sum_hi", max(p_sum), display=False)
glue("mk_Tbig", T_big, display=False)

# %% [markdown]
# At $T$ = {glue:text}`mk_Tbig`, the first quarter of the steps (nearest the data) carries a
# fraction {glue:text}`mk_near_data:.3f` of the Gaussian kernel's summed per-step KL; for the
# learned kernels it is {glue:text}`mk_near_data_l:.3f`. The summed per-step KL of the Gaussian
# kernel falls with $T$ (log-log slope {glue:text}`mk_slope_g:.2f` ±
# {glue:text}`mk_slope_g_ci:.2g` over $T \in$ {glue:text}`mk_T_list`). With a fixed logit
# error the sum stays between {glue:text}`mk_p_sum_lo:.4g` and {glue:text}`mk_p_sum_hi:.4g`
# nats over the same range of $T$ (slope {glue:text}`mk_slope_p:.3f` ±
# {glue:text}`mk_slope_p_ci:.2g`), although the naive bound grows like $T$.
#
# **Our answer to the review.** On these targets the per-step errors are not uniform in $t$:
# they concentrate at the steps nearest the data, where the reverse kernel is most
# non-Gaussian, and they are tiny near the noise end. They are summable: with a fixed logit
# error each step's KL shrinks like $1/T$ (neighbouring mixture components of a short step
# overlap more), so the sum converges to a $T$-independent value instead of growing like the
# naive bound $T\cdot 2\sup|\Delta\ell|$. What does not happen by itself is that the sum
# *vanishes*: it is set by the logit accuracy, so density needs the logit error (width, $K$)
# to improve, as in E2.3, where widening the logit network drives the summed per-step KL to
# zero at every $T$. This is consistent with the paper's statement. Our reading is that a
# time-uniform per-step rate is not needed for density, but a bound that adds up
# $T$ per-step logit errors, each bounded by $2\sup|\Delta\ell|$, would be loose by a factor
# of order $T$.

# %%
ledger.record(
    "E2.U1",
    paper=PAPER,
    claim="Time uniformity (review's question): per-step KL of the Gaussian kernel concentrates near the data (share of the first quarter of steps, largest T)",
    measured=near_data,
    expect=at_least(0.5),
    section="mk-uniformity",
    rtol=1e-3,
    atol=1e-6,
)
ledger.record(
    "E2.U2",
    paper=PAPER,
    claim="Gaussian kernels become exact as steps shrink: log-log slope of Σ per-step KL vs T at fixed B",
    measured=slope_g.slope,
    uncertainty=slope_g.ci95,
    uncertainty_kind="95% CI of the log-log slope",
    expect=at_most(0.0),
    section="mk-uniformity",
    rtol=1e-3,
    atol=1e-6,
)
_ = ledger.record(
    "E2.U3",
    paper=PAPER,
    claim="Per-step errors are summable: with a fixed logit error the Σ per-step KL is T-independent (log-log slope vs T), not growing like the naive bound",
    measured=slope_p.slope,
    uncertainty=slope_p.ci95,
    uncertainty_kind="95% CI of the log-log slope",
    expect=close_to(0.0, 0.1),
    section="mk-uniformity",
    rtol=1e-3,
    atol=1e-6,
)

# %% [markdown]
# ## Verdicts
#
# Each verdict is computed by code from the measurement, its uncertainty and the criterion
# (see the `companion.ledger` module).

# %%
ledger.table()

# %% [markdown]
# ## What we could not check, and why
#
# * **The paper's exact theorem.** We read only the abstract and third-party digests. The
#   exact kernel parameterization, the feature-map assumption, the regularity conditions and
#   whether the theorem gives rates are unknown to us. Our kernel classes, the chain-rule
#   formula and the logit bound are our reconstruction, consistent with the abstract.
# * **Rates.** Norets' theorem and the ReLU bounds give rates in $K$ and width that depend on
#   smoothness and dimension; with 1-D data and a 2-D input $(z_t, c)$ we see decrease with
#   width and $K$ but do not fit a rate, because we do not know which rate the paper states.
# * **Higher dimensions.** All targets are 1-D so that every KL is a quadrature. The chain rule
#   and the exact mixture kernel hold in any dimension; the behaviour of learned kernels in
#   high dimension is not tested here.
# * **Optimisation.** The theorem is about approximation; whether training finds the good
#   kernels is a separate question. Our E2.4 models are small and briefly trained (in the `ci`
#   profile very briefly), so their errors include optimisation error.
