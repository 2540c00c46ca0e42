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
# # Connective viewpoints of signal-to-noise diffusion
#
# {cite:t}`doan2024s2n` take the family of *signal-to-noise* (S2N) diffusion models, where data
# $x$ are noised as $z_t = \alpha_t x + \sigma_t\varepsilon$ with signal-to-noise ratio
# $\lambda_t = \alpha_t^2/\sigma_t^2$ ({cite:t}`kingma2021vdm`), and connect several views of
# them. In plain words, the paper states that:
#
# 1. there is a **forward SDE** for any $(\alpha_t, \sigma_t)$ whose marginals are the S2N
#    marginals
# 2. a **generalized backward SDE** with a stochasticity parameter $\rho$ covers existing
#    samplers, with an *exact* inference formula that can jump from $t$ to any $s<t$ and an
#    *approximate* one (their Eq. (7)) that freezes the noise prediction and is only accurate
#    for small steps
# 3. a **non-Markovian** model $q(z_s\mid z_t, x)$ induces the right forward marginals
# 4. schedules with the same SNR endpoints are **the same process in signal-to-noise space**
# 5. in that space an **information-theoretic** view holds (derivatives of mutual information
#    and of KL divergences are mean squared errors)
# 6. tuning the hyperparameters $(\gamma, \delta, \rho)$ of the **parametric inference
#    formula** improves FID over the baseline samplers, by up to 0.31 on AFHQv2, with gains
#    that depend on the dataset.
#
# **What is the paper's and what is ours.** We had the abstract, the opening of the
# introduction and a few quoted passages, not the full text. The formulas below are **our
# derivations** in the book's notation, consistent with the paper's stated claims; none of them
# is a quotation. In particular the exact form of the paper's Eq. (7), the $(\gamma,\delta)$
# family, was not available: we use a clearly labelled **placeholder** of our own
# (`companion.s2n.placeholder_step`, behind the switch `companion.s2n.PARAMETRIC_VARIANTS`), so
# section {ref}`s2n-tuning` tests the *kind* of claim the paper makes, not its formula. The FID
# numbers on image benchmarks need pretrained image models and are not reproduced.
#
# Every identity (claims 1, 3, 4, 5) is checked to a stated tolerance on Gaussian-mixture data,
# where all marginals, denoisers and information quantities are known in closed form or by 1-D
# quadrature; a failure stops the build. Claims 2 and 6 are quantitative and get verdicts.

# %% tags=["parameters"]
profile = "ci"  # "ci": about a minute on 2 CPU cores; "full": the paper-scale sweep
seed = 0
device = "cpu"  # exact computations stay in float64 on CPU; small networks train here
em_particles = None  # Euler-Maruyama particles per schedule (E3.1)
n_grid = None  # grid nodes for exact 1-D propagation
n_seeds = None  # independently trained denoisers per dataset (E3.6)
train_steps = None  # Adam steps per denoiser (E3.6)

# %%
import math

import numpy as np
import pandas as pd
import torch
from myst_nb import glue

from companion import s2n
from companion import information as info
from companion import samplers as S
from companion import stats
from companion.stats import fit_loglog
from companion.digits import digit_grid, load_digits, train_digits_classifier
from companion.gmm import GaussianMixture, ring_mixture
from companion.ledger import Ledger, at_least, at_most
from companion.metrics import bootstrap, frechet_distance, mmd, sliced_w2
from companion.profiles import get_device, resolve, seed_everything
from companion.schedules import (
    EDM,
    VEGeometric,
    VPCosine,
    VPLinear,
    exponential_sigmas,
)
from companion.style import PALETTE, figure, method_colors, use_style
from companion.training import train_denoiser

cfg = resolve(
    profile,
    ci=dict(
        em_particles=20_000,
        em_steps=1000,
        n_grid=2500,
        steps=[5, 10, 20, 50, 200],
        n_mc=20_000,
        n_beta=6,
        n_jumps=9,
        kl_dlog=0.1,
        n_quad=4001,
        n_seeds=3,
        train_steps=600,
        width=64,
        digits_width=128,
        n_samples=1000,
        n_digits=500,
        gammas=[-0.6, -0.4, -0.2, 0.0, 0.2],
        deltas=[0.8, 1.0, 1.2],
        heat_gammas=[-0.4, -0.2, 0.0, 0.2],
        nfes=[10, 20, 50],
        clf_steps=300,
    ),
    full=dict(
        em_particles=100_000,
        em_steps=4000,
        n_grid=4000,
        steps=[5, 10, 20, 50, 100, 200, 500],
        n_mc=200_000,
        n_beta=24,
        n_jumps=17,
        kl_dlog=0.05,
        n_quad=20_001,
        n_seeds=5,
        train_steps=4000,
        width=128,
        digits_width=256,
        n_samples=5000,
        n_digits=1500,
        gammas=[-0.8, -0.6, -0.4, -0.3, -0.2, -0.1, 0.0, 0.1, 0.2, 0.4],
        deltas=[0.6, 0.8, 0.9, 1.0, 1.1, 1.2, 1.4],
        heat_gammas=[-0.6, -0.4, -0.2, -0.1, 0.0, 0.1, 0.2],
        nfes=[10, 20, 50],
        clf_steps=2000,
    ),
    em_particles=em_particles,
    n_grid=n_grid,
    n_seeds=n_seeds,
    train_steps=train_steps,
)
dev = get_device(device)
gen = seed_everything(seed)
use_style()
ledger = Ledger(
    "03_s2n",
    title="Connective viewpoints of S2N diffusion",
    profile=profile,
    seed=seed,
    device=str(dev),
)
PAPER = "2408.04221"
cfg

# %% [markdown]
# ## Setting
#
# We work with the book's *SNR form* $\tilde x = z/\alpha = x + \tilde\sigma\varepsilon$,
# $\tilde\sigma = \lambda^{-1/2}$, and switch to the paper's variable $z$ where the point is the
# schedule itself. The data are a two-component 1-D Gaussian mixture $p$ (and a second mixture
# $q$ for the information-theoretic section), so that marginals, denoisers
# $\hat x = E[x\mid\tilde x]$, mmse and KL divergences are exact up to quadrature. Section
# {ref}`s2n-tuning` adds trained networks on three datasets.

# %%
p_data = GaussianMixture([0.3, 0.7], [[-1.5], [1.0]], [0.05, 0.2])
q_data = GaussianMixture([0.5, 0.5], [[-1.0], [1.3]], [0.15, 0.1])
schedules = [VPLinear(), VPCosine(), VEGeometric(), EDM()]
colors = method_colors([s.name for s in schedules])

# %% [markdown]
# (s2n-forward)=
# ## 1. The forward SDE of an S2N model
#
# **Derivation (ours).** Let $dz = f(t) z\,dt + g(t)\,dw$. For a fixed data point the mean
# $m$ and variance $v$ of $z_t$ obey $m' = f m$ and $v' = 2fv + g^2$. Requiring $m = \alpha_t x$
# and $v = \sigma_t^2$ gives
#
# $$ f(t) = \frac{d\log\alpha_t}{dt}, \qquad
#    g^2(t) = \frac{d\sigma_t^2}{dt} - 2f\sigma_t^2 = -\sigma_t^2\,\frac{d\log\lambda_t}{dt} > 0 , $$
#
# so every S2N schedule with decreasing SNR has a forward SDE, and it is unique. We check it
# two ways for four schedules (VP-linear, VP-cosine, VE-geometric, EDM): the moment ODEs,
# integrated by an 8th-order Runge-Kutta method, must reproduce $\alpha_t$ and $\sigma_t^2$
# and Euler-Maruyama particles started from mixture data must follow the closed-form noised
# mixture, which we test with a Kolmogorov-Smirnov (KS) statistic at two times per schedule.

# %%
moment_err = {}
for sch in schedules:
    ts = torch.linspace(sch.t_min, sch.t_max, 200, dtype=torch.float64)
    m, v = s2n.forward_moments(sch, ts)
    moment_err[sch.name] = (
        ts.numpy(),
        np.abs(m / sch.alpha(ts).numpy() - 1),
        np.abs(v / sch.sigma(ts).numpy() ** 2 - 1),
    )
max_moment_err = max(max(e[1].max(), e[2].max()) for e in moment_err.values())
assert max_moment_err < 1e-8, max_moment_err

n_em = cfg["em_particles"]
ks_rows, em_samples = [], {}
for sch in schedules:
    ll = torch.linspace(
        float(sch.log_snr(sch.t_min)),
        float(sch.log_snr(sch.t_max)),
        cfg["em_steps"],
        dtype=torch.float64,
    )
    ts = s2n.snr_grid_times(sch, ll)
    ts[0], ts[-1] = sch.t_min, sch.t_max  # exact ends
    x0 = p_data.sample(n_em, gen)
    for T in [ts[len(ts) // 4], ts[-1]]:
        z = s2n.forward_em(sch, x0, ts[ts <= T], gen)
        a, s = float(sch.alpha(T)), float(sch.sigma(T))
        ks = s2n.ks_statistic(z[:, 0], lambda u, a=a, s=s: s2n.mixture_cdf(p_data, u, a, s))
        ks_rows.append(dict(schedule=sch.name, t=float(T), log_snr=float(sch.log_snr(T)), ks=ks))
        em_samples[(sch.name, len(ks_rows) % 2)] = (z[:, 0], a, s)
ks_table = pd.DataFrame(ks_rows)
ks_crit = s2n.ks_critical(n_em, level=0.01 / len(ks_rows))  # Bonferroni over all tests
ks_table["ks / critical"] = ks_table["ks"] / ks_crit
glue("e31_moment_err", float(max_moment_err), display=False)
glue("e31_ks_ratio", float(ks_table["ks / critical"].max()), display=False)
glue("e31_n", int(n_em), display=False)
ks_table

# %%
fig, ax = figure(ncols=2, height=2.9)
for name, (ts, em, ev) in moment_err.items():
    ax[0].semilogy(ts / ts.max(), np.maximum(em, 1e-17), color=colors[name], ls="--")
    ax[0].semilogy(ts / ts.max(), np.maximum(ev, 1e-17), color=colors[name], label=name)
ax[0].set(xlabel="t / t_max", ylabel="relative error", title="moment ODEs")
ax[0].axhline(1e-8, color="k", lw=0.8, ls=":")
ax[0].legend(fontsize=7)
z, a, s = em_samples[("vp-cosine", 1)]
xs = torch.linspace(float(z.min()), float(z.max()), 400, dtype=torch.float64)
ax[1].hist(
    z.numpy(), bins=120, density=True, alpha=0.5, color=PALETTE[0], label="Euler-Maruyama particles"
)
ax[1].plot(
    xs, p_data.noised(a, s).prob(xs[:, None]), color="k", lw=1.2, label="closed-form noised mixture"
)
ax[1].set(xlabel="z", ylabel="density", title="VP-cosine, EM particles")
_ = ax[1].legend(fontsize=7)

# %% [markdown]
# *Left: relative error of the mean (dashed) and variance (solid) from the moment ODEs against
# $\alpha_t$ and $\sigma_t^2$; the dotted line is the $10^{-8}$ tolerance, and all curves stay
# below it. Right: Euler-Maruyama particles of the forward SDE (VP-cosine) against the
# closed-form noised mixture.*
#
# The moment ODEs reproduce the schedules to {glue:text}`e31_moment_err:.2g` (relative), and
# the largest KS statistic over all particle tests is {glue:text}`e31_ks_ratio:.2f` times the
# Bonferroni-corrected 1% critical value ({glue:text}`e31_n` particles). At that level an exact
# sampler still fails the check about once in a hundred runs, so a single ratio slightly above 1
# is what a false alarm looks like; a wrong drift or diffusion coefficient gives ratios far above
# 1 that grow with the number of particles, and the Euler-Maruyama bias on this many steps is
# well below the Monte Carlo noise.

# %%
_ = ledger.record(
    "E3.1a",
    paper=PAPER,
    section="s2n-forward",
    claim="The forward SDE with f = (log alpha)', g^2 = -sigma^2 (log lambda)' has mean alpha_t x "
    "and variance sigma_t^2 (moment ODEs, 4 schedules; max relative error).",
    measured=max_moment_err,
    expect=at_most(1e-8),
)
_ = ledger.record(
    "E3.1b",
    paper=PAPER,
    section="s2n-forward",
    claim="Euler-Maruyama particles of the forward SDE follow the closed-form noised mixture "
    "(max KS statistic / Bonferroni 1% critical value; 4 schedules x 2 times).",
    measured=float(ks_table["ks / critical"].max()),
    expect=at_most(1.0),
    rtol=1.0,
    atol=0.5,
)

# %% [markdown]
# (s2n-backward)=
# ## 2. The $\rho$-family backward SDE and three ways to discretise it
#
# **The family.** For $\rho\ge 0$ the backward SDE
#
# $$ dz = \Big[f z - \tfrac{1+\rho^2}{2}\,g^2\,\nabla\log p_t(z)\Big]dt + \rho\,g\,d\bar w $$
#
# has the marginals $p_t$ for every $\rho$: $\rho=0$ is the probability-flow ODE and $\rho=1$
# the reverse-time SDE. (One public review of the paper prints the score coefficient as
# $1/(1+\rho^2)$; that cannot give the probability-flow ODE at $\rho=0$, so we use
# $(1+\rho^2)/2$.) In the SNR form, with $\hat\varepsilon = (\tilde x-\hat x)/\tilde\sigma$, it
# reads $d\tilde x = (1+\rho^2)\hat\varepsilon\,d\tilde\sigma + \rho\sqrt{2\tilde\sigma}\,d\bar W$.
#
# **Three discretisations** (all in `companion.samplers`, our derivations):
#
# * *Euler-Maruyama* (EM): coefficients frozen at the start of the step
# * *frozen-$\varepsilon$* (the paper's approximate formula, in our reading at $\gamma=0$):
#   freeze $\hat\varepsilon$ over the step and solve exactly,
#   $\tilde x' = \tilde x + (1+\rho^2)(\tilde\sigma'-\tilde\sigma)\hat\varepsilon + \rho\sqrt{\tilde\sigma^2-\tilde\sigma'^2}\,\xi$
# * *frozen-$\hat x$* (the "exact" formula, valid for any jump): freeze $\hat x$, which makes the
#   SDE linear with the Gaussian solution
#   $\tilde x' = \hat x + \sqrt{\tilde\sigma'^2-b^2}\,\hat\varepsilon + b\,\xi$,
#   $b^2 = \tilde\sigma'^2\big(1-(\tilde\sigma'/\tilde\sigma)^{2\rho^2}\big)$, i.e.
#   $\beta^2 = \sigma_s^2\big(1-(\lambda_t/\lambda_s)^{\rho^2}\big)$ in $z$: DDIM at $\rho=0$,
#   DDPM's posterior at $\rho=1$. It is exact when the data are a single point.
#
# At $\rho=0$ all three coincide (DDIM is Euler in the SNR form). We run each with the exact
# mixture denoiser from the exact marginal at $\lambda = e^{-8}$ to $\lambda = e^{8}$ on $N$
# steps uniform in $\log\lambda$, propagate the output density exactly on a grid, and measure
# $\mathrm{KL}(p_{\lambda_{\max}}\,\|\,\hat p)$: discretisation error only.

# %%
s_max, s_min = math.exp(4.0), math.exp(-4.0)  # lambda in [e^-8, e^8]
rhos = [0.0, 0.5, 1.0, 1.5, 2.0]
schemes = {
    "Euler-Maruyama": S.euler_maruyama_step,
    "frozen-eps": S.frozen_eps_step,
    "frozen-x-hat": S.frozen_denoiser_step,
}
rows = []
for rho in rhos:
    for name, step in schemes.items():
        for N in cfg["steps"]:
            sig = exponential_sigmas(N + 1, s_min, s_max, zero=False)
            kl = s2n.exact_output_kl(step, p_data, sig, p_data, n_points=cfg["n_grid"], rho=rho)
            rows.append(dict(rho=rho, scheme=name, N=N, kl=kl))
e32 = pd.DataFrame(rows)
kl_table = e32.pivot_table(index=["rho", "N"], columns="scheme", values="kl")
kl_table.style.format("{:.2e}")

# %%
fit_N = [n for n in cfg["steps"] if n >= 20]
orders = []
for (rho, name), grp in e32[e32.N.isin(fit_N)].groupby(["rho", "scheme"]):
    sl = fit_loglog(grp.N, grp.kl)
    orders.append(
        dict(rho=rho, scheme=name, slope=sl.slope, ci95=sl.ci95, fit_range=f"N in {sl.x_range}")
    )
orders = pd.DataFrame(orders)
coarse = e32[e32.N == 10].pivot_table(index="rho", columns="scheme", values="kl")
ratio_x_eps = float(coarse.loc[1.0, "frozen-x-hat"] / coarse.loc[1.0, "frozen-eps"])
kl_finest = float(e32[e32.N == max(cfg["steps"])].kl.max())
slope_min, slope_max = float(orders.slope.min()), float(orders.slope.max())
glue("e32_ratio", float(ratio_x_eps), display=False)
glue("e32_kl_finest", float(kl_finest), display=False)
glue("e32_slope_min", float(slope_min), display=False)
glue("e32_slope_max", float(slope_max), display=False)
glue("e32_nmax", int(max(cfg["steps"])), display=False)
orders.round(3)

# %%
scheme_colors = method_colors(list(schemes))
fig, ax = figure(ncols=2, nrows=2, height=2.6)
for a_, rho in zip(ax.ravel()[:3], [0.5, 1.0, 2.0], strict=True):
    for name in schemes:
        g_ = e32[(e32.rho == rho) & (e32.scheme == name)]
        a_.loglog(g_.N, g_.kl, "o-", color=scheme_colors[name], label=name)
    a_.set(xlabel="steps N", ylabel="exact KL (nats)", title=f"rho = {rho:g}")
ax[0, 0].legend(fontsize=7)
for name in schemes:
    ax[1, 1].semilogy(coarse.index, coarse[name], "o-", color=scheme_colors[name], label=name)
_ = ax[1, 1].set(xlabel="rho", ylabel="exact KL (nats)", title="N = 10 steps")

# %% [markdown]
# *Exact output KL of the three discretisations of the $\rho$-family against the number of
# steps (log-log; three values of $\rho$), and against $\rho$ at $N=10$ (bottom right). Look at
# the ordering: for $\rho\le 1$ the frozen-$\hat x$ ("exact", valid-for-any-jump) kernel is the
# least accurate and frozen-$\varepsilon$ the most accurate; for large $\rho$ at very coarse
# steps the order flips, because EM and frozen-$\varepsilon$ overshoot.*
#
# All three schemes converge for every $\rho$: at $N=${glue:text}`e32_nmax` the largest KL is
# {glue:text}`e32_kl_finest:.2g` nats, and the fitted slopes of $\log\mathrm{KL}$ against
# $\log N$ (fit over $N\ge 20$; table above with 95% intervals) lie between
# {glue:text}`e32_slope_min:.2f` and {glue:text}`e32_slope_max:.2f`, i.e. $\mathrm{KL}\propto
# N^{-2}$, first order in the state. That supports "every $\rho$ samples the right marginals".
#
# **A finding against intuition.** One might read "the exact formula can jump to any $s<t$" as
# "it is the more accurate formula for large steps". It is not: at $N=10$, $\rho=1$ the
# frozen-$\hat x$ (DDPM-type) kernel has {glue:text}`e32_ratio:.1f` times the KL of the
# frozen-$\varepsilon$ formula. Freezing $\hat x$ snaps every path towards the posterior mean,
# which for bimodal data lies between the modes; the kernel is exact only for a point mass. What
# the frozen-$\hat x$ kernel does buy is *robustness*: its step is a contraction for every
# $\rho$, while the drift factor $(1+\rho^2)$ of EM and frozen-$\varepsilon$ folds the line once
# $(1+\rho^2)(1-\tilde\sigma'/\tilde\sigma) > 1$, so at $\rho\ge1.5$ with 5 or 10 steps they
# fail (KL of several nats) and frozen-$\hat x$ is the best of the three. The paper's remark
# that longer jumps carry more error is consistent with all of this; the ranking between the
# formulas is our measurement, not the paper's statement. (A folded step map is propagated on
# the grid by mass splatting, which is first-order accurate; it only affects the failing runs.)

# %%
_ = ledger.record(
    "E3.2a",
    paper=PAPER,
    section="s2n-backward",
    claim="Every member of the rho-family (rho in 0..2) samples the data marginal: exact "
    f"output KL of all three discretisations at N = {max(cfg['steps'])} steps (max).",
    measured=kl_finest,
    expect=at_most(5e-3),
    rtol=1e-3,
)
_ = ledger.record(
    "E3.2b",
    paper=PAPER,
    section="s2n-backward",
    claim="The discretisations converge at first order (KL ~ N^-2): smallest fitted "
    "log-log slope magnitude over rho and schemes.",
    measured=float(-slope_max),
    expect=at_least(1.5),
    rtol=1e-3,
)
_ = ledger.record(
    "E3.2c",
    paper=PAPER,
    section="s2n-backward",
    claim="Reading 'the exact formula can jump to any s' as 'more accurate at coarse steps': "
    "KL(frozen-x-hat) / KL(frozen-eps) at N = 10, rho = 1.",
    measured=ratio_x_eps,
    expect=at_most(1.0),
    rtol=1e-3,
)

# %% [markdown]
# (s2n-nonmarkov)=
# ## 3. The non-Markovian kernel $q(z_s\mid z_t, x)$
#
# The paper's non-Markovian model uses
#
# $$ q(z_s\mid z_t, x) = \mathcal N\Big(\alpha_s x + \sqrt{\sigma_s^2-\beta^2}\
#    \frac{z_t-\alpha_t x}{\sigma_t},\ \beta^2 I\Big), \qquad 0\le \beta\le\sigma_s . $$
#
# **Derivation (ours).** If $z_t = \alpha_t x + \sigma_t\varepsilon$ then
# $(z_t-\alpha_t x)/\sigma_t = \varepsilon$ is standard normal and
# $z_s = \alpha_s x + \sqrt{\sigma_s^2-\beta^2}\,\varepsilon + \beta\xi$ has mean $\alpha_s x$ and
# variance $\sigma_s^2$, whatever $\beta$: the marginals are preserved exactly. The model's
# kernel plugs in the prediction, $p_\theta(z_s\mid z_t) = q(z_s\mid z_t, \hat x(z_t))$; with
# $\beta$ from $\rho$ as in section {ref}`s2n-backward` it is the frozen-$\hat x$ step. We check
# (a) the marginals by Monte Carlo for random $\beta$ (VP-cosine, random $t>s$, mixture data),
# and (b) the one-jump error of $p_\theta$ with the *exact* denoiser as the jump grows.

# %%
vpc = VPCosine()
rng = np.random.default_rng(seed)
beta_rows = []
for _ in range(cfg["n_beta"]):
    ls, lt = sorted(rng.uniform(-5, 6, size=2))[::-1]  # log SNR at s (larger) and t
    ts_, tt_ = (
        float(u) for u in s2n.snr_grid_times(vpc, torch.tensor([ls, lt], dtype=torch.float64))
    )
    a_s, s_s, a_t, s_t = (
        float(f(torch.tensor(u, dtype=torch.float64)))
        for f, u in [(vpc.alpha, ts_), (vpc.sigma, ts_), (vpc.alpha, tt_), (vpc.sigma, tt_)]
    )
    beta = float(rng.uniform(0, 1)) * s_s
    x = p_data.sample(cfg["n_mc"], gen)
    z_t = a_t * x + s_t * torch.randn(x.shape, dtype=torch.float64, generator=gen)
    mean, std = s2n.nonmarkov_kernel(x, z_t, a_s, s_s, a_t, s_t, beta)
    z_s = mean + std * torch.randn(x.shape, dtype=torch.float64, generator=gen)
    ks = s2n.ks_statistic(z_s[:, 0], lambda u, a=a_s, s=s_s: s2n.mixture_cdf(p_data, u, a, s))
    resid = (z_s - a_s * x)[:, 0]  # should be N(0, sigma_s^2) given x
    beta_rows.append(
        dict(
            log_snr_s=ls,
            log_snr_t=lt,
            beta_over_sigma_s=beta / s_s,
            ks=ks,
            resid_var_ratio=float(resid.var() / s_s**2),
        )
    )
beta_table = pd.DataFrame(beta_rows)
ks_crit_b = s2n.ks_critical(cfg["n_mc"], level=0.01 / cfg["n_beta"])
beta_ks_ratio = float(beta_table.ks.max() / ks_crit_b)
glue("e33_ks_ratio", float(beta_ks_ratio), display=False)
beta_table.round(4)

# %%
jumps = np.linspace(0.0, 8.0, cfg["n_jumps"])[1:]  # log(lambda_s / lambda_t)
lt0 = -2.0  # start of the jump: lambda_t = e^-2
jump_rows = []
for rho in [0.0, 0.5, 1.0, 1.5]:
    for j in jumps:
        kl = s2n.one_jump_kl(
            p_data, math.exp(-lt0 / 2), math.exp(-(lt0 + j) / 2), rho, cfg["n_grid"]
        )
        jump_rows.append(dict(rho=rho, jump=j, kl=kl))
e33 = pd.DataFrame(jump_rows)

spearman_min = min(stats.spearman(g_.jump, g_.kl) for _, g_ in e33.groupby("rho"))
smallest_jump_kl = float(e33[e33.jump == jumps[0]].kl.max())
glue("e33_spearman", float(spearman_min), display=False)
glue("e33_small", float(smallest_jump_kl), display=False)
glue("e33_small_jump", float(jumps[0]), display=False)

fig, ax = figure(ncols=2, height=2.8)
ax[0].plot(beta_table.beta_over_sigma_s, beta_table.ks / ks_crit_b, "o", label="KS / critical")
ax[0].plot(
    beta_table.beta_over_sigma_s,
    beta_table.resid_var_ratio,
    "s",
    label="Var(z_s - alpha_s x) / sigma_s^2",
)
ax[0].axhline(1.0, color="k", lw=0.8, ls=":")
ax[0].set(
    xlabel="beta / sigma_s", ylabel="ratio", title="marginal of q(z_s | z_t, x)", ylim=(0, 1.6)
)
ax[0].legend(fontsize=7)
for i, (rho, g_) in enumerate(e33.groupby("rho")):
    ax[1].semilogy(g_.jump, g_.kl, "o-", color=PALETTE[i], label=f"rho = {rho:g}")
ax[1].set(
    xlabel="jump length log(lambda_s / lambda_t)",
    ylabel="one-jump KL (nats)",
    title="p_theta = q(. | z_t, x-hat), exact x-hat",
)
_ = ax[1].legend(fontsize=7)

# %% [markdown]
# *Left: for random $\beta\in[0,\sigma_s]$ the KS statistic of $z_s$ against the noised mixture
# stays below the Bonferroni-corrected critical value (ratio < 1) and the conditional variance
# of $z_s-\alpha_s x$ equals $\sigma_s^2$ (ratio 1). Right: the error of a single jump of the
# model kernel with the exact denoiser grows with the jump length for every $\rho$; at short
# jumps it is larger for larger $\rho$.*
#
# The kernel preserves the marginals for every $\beta$ tried (largest KS ratio
# {glue:text}`e33_ks_ratio:.2f`). A jump of $\log(\lambda_s/\lambda_t) =$
# {glue:text}`e33_small_jump:.1f` costs at most {glue:text}`e33_small:.2g` nats, and the KL
# increases monotonically with the jump for each $\rho$ (smallest Spearman rank correlation
# {glue:text}`e33_spearman:.2f`): the paper's "longer step sizes have more errors" holds with
# the exact denoiser, so it is a property of the kernel, not of the network.

# %%
assert float(beta_table.resid_var_ratio.sub(1).abs().max()) < 10 / math.sqrt(cfg["n_mc"])
_ = ledger.record(
    "E3.3a",
    paper=PAPER,
    section="s2n-nonmarkov",
    claim="q(z_s | z_t, x) keeps the forward marginal for any beta in [0, sigma_s] "
    "(max KS statistic / Bonferroni 1% critical value over random beta).",
    measured=beta_ks_ratio,
    expect=at_most(1.0),
    rtol=1.0,
    atol=0.5,
)
_ = ledger.record(
    "E3.3b",
    paper=PAPER,
    section="s2n-nonmarkov",
    claim="The model kernel q(z_s | z_t, x-hat) loses accuracy as the jump grows "
    "(min over rho of the Spearman correlation of one-jump KL with jump length).",
    measured=float(spearman_min),
    expect=at_least(0.9),
    rtol=1e-3,
)

# %% [markdown]
# (s2n-snr-space)=
# ## 4. One process in signal-to-noise space
#
# The paper states (as quoted in secondary sources) that two schedules with the same SNR
# endpoints, and with $\alpha_1\circ\lambda_1^{-1} = \alpha_2\circ\lambda_2^{-1}$, induce the same
# forward process in signal-to-noise space. **Our version.** In $\tilde x = z/\alpha$, indexed by
# $\lambda$, the forward process is $\tilde x = x + \lambda^{-1/2}\varepsilon$ for *every*
# schedule, and the exact denoiser and every step above depend on the schedule only through
# $\lambda$. So two schedules sampled on one $\lambda$ grid give identical trajectories in
# $\tilde x$, and the continuous-time denoising loss
# $\tfrac12\int \mathrm{mmse}(\lambda_t)\,|\lambda_t'|\,dt = \tfrac12\int\mathrm{mmse}\,d\lambda$
# depends only on the SNR endpoints ({cite:t}`kingma2021vdm`).
#
# We run the sampler **in $z$** (`companion.s2n.sample_z_space`: the paper's kernel
# $q(z_s\mid z_t,\hat x)$ with $\alpha,\sigma$ of each schedule) for VP-cosine and for a VE
# schedule with the same SNR range $\log\lambda\in[-6, 8]$, from the same (rescaled) initial
# state and the same noise, for DDIM ($\rho=0$) and $\rho=1$; a control VE schedule with a
# smaller $\lambda_{\min}$ (on its own grid) must differ. The losses are integrated in each
# schedule's own time variable.

# %%
l_lo, l_hi = -6.0, 8.0
ve_same = VEGeometric(sigma_min=math.exp(-l_hi / 2), sigma_max=math.exp(-l_lo / 2))
ve_ctrl = VEGeometric(sigma_min=math.exp(-l_hi / 2), sigma_max=math.exp(-(l_lo - 2) / 2))
y_init = p_data.sample(2000, gen)
noise_init = torch.randn(y_init.shape, dtype=torch.float64, generator=gen)
traj = {}
for name, sch, lo in [
    ("VP-cosine", vpc, l_lo),
    ("VE, same SNR range", ve_same, l_lo),
    ("VE control, lambda_min / e^2", ve_ctrl, l_lo - 2),
]:
    grid_ll = torch.linspace(lo, l_hi, 21, dtype=torch.float64)  # increasing SNR = decreasing t
    ts = s2n.snr_grid_times(sch, grid_ll)
    for rho in [0.0, 1.0]:
        y0 = y_init + math.exp(-lo / 2) * noise_init
        zs = s2n.sample_z_space(
            p_data,
            float(sch.alpha(ts[0])) * y0,
            sch,
            ts,
            rho,
            generator=torch.Generator().manual_seed(seed + 1),
        )
        traj[(name, rho)] = (
            grid_ll.numpy(),
            torch.stack([z[:, 0] / float(sch.alpha(t)) for z, t in zip(zs, ts, strict=True)]),
        )
traj_scale = max(float(traj[("VP-cosine", r)][1].abs().max()) for r in [0.0, 1.0])
traj_diff = (
    max(
        float((traj[("VP-cosine", r)][1] - traj[("VE, same SNR range", r)][1]).abs().max())
        for r in [0.0, 1.0]
    )
    / traj_scale
)  # relative to the largest |x-tilde|
ctrl_diff = min(
    float(
        (traj[("VP-cosine", r)][1][-1] - traj[("VE control, lambda_min / e^2", r)][1][-1])
        .abs()
        .max()
    )
    for r in [0.0, 1.0]
)
assert traj_diff < 1e-12, traj_diff

t_vp = [float(u) for u in s2n.snr_grid_times(vpc, torch.tensor([l_hi, l_lo], dtype=torch.float64))]
loss_vp = s2n.diffusion_loss(p_data, vpc, t_vp[0], t_vp[1], 100, cfg["n_quad"])
loss_ve = s2n.diffusion_loss(p_data, ve_same, 0.0, 1.0, 100, cfg["n_quad"])
loss_ctrl = s2n.diffusion_loss(p_data, ve_ctrl, 0.0, 1.0, 100, cfg["n_quad"])
loss_rel = abs(loss_vp / loss_ve - 1)
assert loss_rel < 1e-6, loss_rel
glue("e34_traj", float(traj_diff), display=False)
glue("e34_ctrl", float(ctrl_diff), display=False)
glue("e34_loss_rel", float(loss_rel), display=False)
glue("e34_loss_ctrl", float(abs(loss_ctrl / loss_ve - 1)), display=False)
pd.DataFrame(
    {"loss (1/2 int mmse dlambda)": [loss_vp, loss_ve, loss_ctrl]},
    index=["VP-cosine", "VE, same SNR range", "VE control"],
)

# %%
fig, ax = figure(ncols=2, height=2.8)
for (name, rho), (ll_, ys) in traj.items():
    if rho != 1.0:
        continue
    style = {
        "VP-cosine": dict(color=PALETTE[0], lw=2.0),
        "VE, same SNR range": dict(color=PALETTE[1], lw=0.8, ls="--"),
        "VE control, lambda_min / e^2": dict(color=PALETTE[2], lw=0.8, ls=":"),
    }[name]
    ax[0].plot(ll_, ys[:, :6].numpy(), **style)
    ax[0].plot([], [], label=name, **style)
ax[0].set(xlabel="log lambda", ylabel="x-tilde = z / alpha", title="rho = 1 paths (6 of 2000)")
ax[0].legend(fontsize=7)
for rho, mk in [(0.0, "o"), (1.0, "s")]:
    d_ = (traj[("VP-cosine", rho)][1] - traj[("VE, same SNR range", rho)][1]).abs().max(1).values
    ax[1].semilogy(
        traj[("VP-cosine", rho)][0],
        d_.clamp_min(1e-17).numpy(),
        mk + "-",
        label=f"VP vs VE, rho = {rho:g}",
    )
ax[1].axhline(1e-12 * traj_scale, color="k", lw=0.8, ls=":")
ax[1].set(xlabel="log lambda", ylabel="max |difference| in x-tilde", title="same SNR grid")
_ = ax[1].legend(fontsize=7)

# %% [markdown]
# *Left: sample paths in $\tilde x = z/\alpha$ for VP-cosine (thick) and VE (dashed) lie on top
# of each other; the control (dotted, different $\lambda_{\min}$) does not. Right: the largest
# difference between the VP and VE paths at each step stays at round-off, below the dotted
# line ($10^{-12}$ times the largest $|\tilde x|$).*
#
# The VP-cosine and VE trajectories agree to {glue:text}`e34_traj:.1e` in $\tilde x$ (relative
# to the largest $|\tilde x|$ on the paths), the
# control differs by {glue:text}`e34_ctrl:.2f` at the end; the denoising losses agree to
# {glue:text}`e34_loss_rel:.1e` (relative), while the control's differs by
# {glue:text}`e34_loss_ctrl:.1e`. The identity is exact: only the SNR grid matters.

# %%
_ = ledger.record(
    "E3.4a",
    paper=PAPER,
    section="s2n-snr-space",
    claim="VP-cosine and VE with the same SNR grid give the same sampler trajectories in "
    "z/alpha (max difference relative to max |z/alpha|, DDIM and rho = 1).",
    measured=traj_diff,
    expect=at_most(1e-12),
    atol=1e-12,
)
_ = ledger.record(
    "E3.4b",
    paper=PAPER,
    section="s2n-snr-space",
    claim="The continuous-time denoising loss depends only on the SNR endpoints "
    "(relative difference VP-cosine vs VE).",
    measured=loss_rel,
    expect=at_most(1e-6),
    atol=1e-9,
)
_ = ledger.record(
    "E3.4c",
    paper=PAPER,
    section="s2n-snr-space",
    claim="Control: a schedule with a different lambda_min gives different samples "
    "(min over rho of the max final difference).",
    measured=ctrl_diff,
    expect=at_least(1e-3),
    rtol=1e-3,
)

# %% [markdown]
# (s2n-information)=
# ## 5. Information theory in signal-to-noise space
#
# With $Y_\lambda = \sqrt\lambda\,X + N$ (that is $z/\sigma$), two classical identities
# ({cite:t}`kong2023itd`; our statements for the S2N setting) are:
#
# $$ \frac{d}{d\lambda} I(X;Y_\lambda) = \tfrac12\,\mathrm{mmse}(\lambda), \qquad
#    \frac{d}{d\lambda}\mathrm{KL}(p_\lambda\,\|\,q_\lambda) = \tfrac12\,E_p\big|\hat x_p(Y_\lambda)-\hat x_q(Y_\lambda)\big|^2 , $$
#
# and integrating the second over $\lambda\in(0,\infty)$ recovers $\mathrm{KL}(p\,\|\,q)$ of
# the clean data. Both sides are computed independently: $I$ and $\mathrm{KL}(p_\lambda\|q_\lambda)$
# by quadrature of densities, differentiated by a five-point stencil ($h=10^{-3}\lambda$); the
# mmse and the mismatch by quadrature of posterior variances and of denoiser differences.

# %%
lams = np.exp(np.linspace(-4, 5, 19))
rows = []
for lam in lams:
    h = 1e-3 * lam
    dI = s2n.derivative(lambda u: info.mutual_information(p_data, u, cfg["n_quad"]), lam, h)
    dK = s2n.derivative(lambda u: info.kl_noised(p_data, q_data, u, cfg["n_quad"]), lam, h)
    rows.append(
        dict(
            lam=lam,
            dI=dI,
            half_mmse=0.5 * info.mmse(p_data, lam, cfg["n_quad"]),
            dKL=dK,
            half_mismatch=0.5 * info.mismatch(p_data, q_data, lam, cfg["n_quad"]),
        )
    )
e35 = pd.DataFrame(rows)
immse_err = float((e35.dI / e35.half_mmse - 1).abs().max())
klmmse_err = float((e35.dKL / e35.half_mismatch - 1).abs().max())
loglam = torch.arange(-18.0, 22.0 + 1e-9, cfg["kl_dlog"], dtype=torch.float64)
kl_int, running = info.kl_from_mismatch(p_data, q_data, loglam, cfg["n_quad"])
kl_true = info.kl_noised(p_data, q_data, None, 20_001)
kl_int_err = abs(kl_int / kl_true - 1)
assert immse_err < 1e-6 and klmmse_err < 1e-6 and kl_int_err < 1e-6, (
    immse_err,
    klmmse_err,
    kl_int_err,
)
glue("e35_immse", float(immse_err), display=False)
glue("e35_klmmse", float(klmmse_err), display=False)
glue("e35_klint", float(kl_int_err), display=False)
glue("e35_kl", float(kl_true), display=False)

fig, ax = figure(ncols=3, height=2.6)
ax[0].loglog(e35.lam, e35.half_mmse, "-", color=PALETTE[0], label="mmse / 2")
ax[0].loglog(e35.lam, e35.dI, "o", color=PALETTE[1], ms=4, label="dI / dlambda")
ax[0].set(xlabel="lambda", ylabel="nats per unit lambda", title="I-MMSE")
ax[1].loglog(e35.lam, e35.half_mismatch, "-", color=PALETTE[0], label="E_p|x_p - x_q|^2 / 2")
ax[1].loglog(e35.lam, e35.dKL, "o", color=PALETTE[1], ms=4, label="dKL / dlambda")
ax[1].set(xlabel="lambda", title="mismatched estimation")
ax[2].semilogx(np.exp(loglam.numpy()), running, color=PALETTE[0], label="1/2 int_0^lambda mismatch")
ax[2].semilogx(
    np.exp(loglam.numpy()),
    [
        info.kl_noised(p_data, q_data, float(u), 2001) if i % 20 == 0 else np.nan
        for i, u in enumerate(np.exp(loglam.numpy()))
    ],
    "o",
    color=PALETTE[1],
    ms=4,
    label="KL(p_lambda || q_lambda)",
)
ax[2].axhline(kl_true, color="k", ls=":", lw=0.8, label="KL(p || q)")
ax[2].set(xlabel="lambda", ylabel="nats", title="integral recovers KL")
for a_ in ax:
    a_.legend(fontsize=6)

# %% [markdown]
# *Left and middle: the derivative of the mutual information (of the KL divergence between the
# noised laws) against $\lambda$, dots, on top of half the mmse (half the mismatched-estimation
# excess), lines. Right: the running integral of half the mismatch (line) passes through
# $\mathrm{KL}(p_\lambda\|q_\lambda)$ (dots) and converges to $\mathrm{KL}(p\|q)$ (dotted).*
#
# The I-MMSE identity holds to {glue:text}`e35_immse:.1e` and the KL-derivative identity to
# {glue:text}`e35_klmmse:.1e` (largest relative error over 19 values of $\lambda$); the
# integral over $\log\lambda\in[-18, 22]$ recovers $\mathrm{KL}(p\|q) =$
# {glue:text}`e35_kl:.4f` nats to {glue:text}`e35_klint:.1e` (relative).

# %%
_ = ledger.record(
    "E3.5a",
    paper=PAPER,
    section="s2n-information",
    claim="I-MMSE in SNR space: dI(X; Y_lambda)/dlambda = mmse/2 (max relative error).",
    measured=immse_err,
    expect=at_most(1e-6),
    atol=1e-7,
)
_ = ledger.record(
    "E3.5b",
    paper=PAPER,
    section="s2n-information",
    claim="dKL(p_lambda || q_lambda)/dlambda = E_p|x_p - x_q|^2 / 2 (max relative error).",
    measured=klmmse_err,
    expect=at_most(1e-6),
    atol=1e-7,
)
_ = ledger.record(
    "E3.5c",
    paper=PAPER,
    section="s2n-information",
    claim="Integrating half the mismatch over lambda recovers KL(p || q) (relative error).",
    measured=kl_int_err,
    expect=at_most(1e-6),
    atol=1e-7,
)

# %% [markdown]
# (s2n-tuning)=
# ## 6. Does tuning $(\gamma, \delta, \rho)$ improve samples?
#
# **What the paper claims.** With appropriate hyperparameters its parametric inference formula
# improves FID over the baseline samplers, on several image benchmarks, with dataset-dependent
# gains (up to 0.31 FID on AFHQv2 as reported in a summary).
#
# **What we test instead (our reconstruction).** The paper's Eq. (7) freezes the noise
# prediction over a step and carries hyperparameters $\gamma$ and $\delta$; its exact form was
# not available. Our placeholder (`companion.s2n.placeholder_step`) extrapolates the frozen
# noise prediction as $\hat\varepsilon(\tau) = (\tilde\sigma_\tau/\tilde\sigma)^{-\gamma}\hat\varepsilon$
# and scales the injected noise by $\delta$:
#
# $$ \tilde x' = \tilde x + (1+\rho^2)\,\tilde\sigma^{\gamma}\,
#    \frac{\tilde\sigma'^{\,1-\gamma}-\tilde\sigma^{1-\gamma}}{1-\gamma}\,\hat\varepsilon
#    + \delta\rho\sqrt{\tilde\sigma^2-\tilde\sigma'^2}\;\xi , $$
#
# which is DDIM/Euler at $\gamma=0,\rho=0$ and the frozen-$\varepsilon$ step at $\gamma=0,\delta=1$.
# It is first-order consistent for every $\gamma$, so $\gamma$ only shapes the error at finite
# steps, the role a tuning knob plays. Swap in the paper's formula by adding it to
# `companion.s2n.PARAMETRIC_VARIANTS`.
#
# **Protocol.** Three datasets: (a) the 1-D mixture (exact output KL by grid propagation),
# (b) an 8-mode 2-D ring (sliced $W_2$ to fresh data; MMD and Frechet distance reported), (c) scikit-learn's
# bundled 8x8 digits (no download) with a Frechet distance in the feature space of a small
# digits classifier trained here ("digits-FD", the analogue of FID). For each dataset we
# train {glue:text}`e36_seeds` EDM-preconditioned MLP denoisers with different seeds and sample
# on the EDM grid ($\rho_{\rm EDM}=7$, $\tilde\sigma\in[0.002, 80]$, last step to 0). We sweep
# $\gamma$ for deterministic sampling ($\rho=0$) at several NFE, and $(\gamma,\delta)$ at
# $\rho=1$, NFE 20. The **gain** over the baseline ($\gamma=0$, $\delta=1$) is measured
# **leave-one-seed-out**: the setting is chosen on the other seeds and scored on the held-out
# one, so picking the best of many settings does not by itself produce a gain. A claim of
# improvement counts as supported when the whole 95% interval (t-based, over seeds) lies above a
# 1% relative gain.

# %%
glue("e36_seeds", int(cfg["n_seeds"]), display=False)
ring = ring_mixture(8, 2.0, 0.15)
digits_x, digits_y = load_digits()
n_seeds, nfes, gammas, deltas, hgammas = (
    cfg["n_seeds"],
    cfg["nfes"],
    cfg["gammas"],
    cfg["deltas"],
    cfg["heat_gammas"],
)
clf, clf_acc = train_digits_classifier(digits_x, digits_y, steps=cfg["clf_steps"], seed=seed)
glue("e36_clf_acc", float(clf_acc), display=False)
ring_ref = ring.sample(cfg["n_samples"], torch.Generator().manual_seed(seed + 7))
datasets = {
    "1-D mixture": dict(
        train=lambda s_: p_data.sample(4096, torch.Generator().manual_seed(100 + s_)),
        width=cfg["width"],
    ),
    "2-D ring": dict(
        train=lambda s_: ring.sample(4096, torch.Generator().manual_seed(200 + s_)),
        width=cfg["width"],
    ),
    "digits": dict(train=lambda s_: digits_x, width=cfg["digits_width"]),
}
models = {
    name: [
        train_denoiser(
            spec["train"](s_), cfg["train_steps"], width=spec["width"], seed=seed + s_, device=dev
        )[0]
        for s_ in range(n_seeds)
    ]
    for name, spec in datasets.items()
}


eval_kw = {
    "1-D mixture": dict(kind="exact-kl", target=p_data, n_points=cfg["n_grid"]),
    "2-D ring": dict(kind="sw2", reference=ring_ref, n=cfg["n_samples"]),
    "digits": dict(kind="digits-fd", reference=digits_x, n=cfg["n_digits"], classifier=clf),
}


def score(name, step, model, nfe, s_):
    """Metric (lower is better) and samples of one run: a thin call into companion.s2n."""
    return s2n.evaluate_sampler(
        step=step, denoiser=s2n.as_denoiser(model), nfe=nfe, seed=1000 * s_ + nfe, **eval_kw[name]
    )


det = {
    name: np.array(
        [
            [
                [
                    score(name, s2n.parametric_step(0.0, g), models[name][s_], nfe, s_)[0]
                    for g in gammas
                ]
                for nfe in nfes
            ]
            for s_ in range(n_seeds)
        ]
    )
    for name in datasets
}  # (seed, nfe, gamma)
exact_1d = np.array(  # the same sweep with the exact mixture denoiser (no network error)
    [
        [
            s2n.evaluate_sampler(
                "exact-kl",
                s2n.parametric_step(0.0, g),
                p_data,
                nfe,
                **{k: v for k, v in eval_kw["1-D mixture"].items() if k != "kind"},
            )[0]
            for g in gammas
        ]
        for nfe in nfes
    ]
)
heat_settings = [(g, d) for g in hgammas for d in deltas]
sto = {
    name: np.array(
        [
            [
                score(name, s2n.parametric_step(1.0, g, d), models[name][s_], 20, s_)[0]
                for g, d in heat_settings
            ]
            for s_ in range(n_seeds)
        ]
    )
    for name in datasets
}  # (seed, setting)

# %%
i0 = gammas.index(0.0)
base_sto = heat_settings.index((0.0, 1.0))
gain_rows, cv = [], {}
for name in datasets:
    for k, nfe in enumerate(nfes):
        c = stats.cross_validated_gain(det[name][:, k, :], i0)
        cv[(name, nfe)] = c
        best_in_sample = 1 - (det[name][:, k, :] / det[name][:, k, [i0]]).mean(0).min()
        gain_rows.append(
            dict(
                dataset=name,
                sampler="deterministic (rho=0)",
                NFE=nfe,
                baseline=det[name][:, k, i0].mean(),
                cv_gain=c.interval.value,
                cv_gain_95=c.interval.half_width,
                in_sample_best_gain=best_in_sample,
                chosen_gamma=", ".join(f"{gammas[j]:g}" for j in c.chosen),
            )
        )
    c = stats.cross_validated_gain(sto[name], base_sto)
    cv[(name, "sto")] = c
    gain_rows.append(
        dict(
            dataset=name,
            sampler="stochastic (rho=1)",
            NFE=20,
            baseline=sto[name][:, base_sto].mean(),
            cv_gain=c.interval.value,
            cv_gain_95=c.interval.half_width,
            in_sample_best_gain=1 - (sto[name] / sto[name][:, [base_sto]]).mean(0).min(),
            chosen_gamma=", ".join(
                f"({heat_settings[j][0]:g}, {heat_settings[j][1]:g})" for j in c.chosen
            ),
        )
    )
gains = pd.DataFrame(gain_rows)
gains.round(3)

# %%
fig, ax = figure(ncols=3, height=2.8)
for a_, name in zip(ax, datasets, strict=True):
    for k, nfe in enumerate(nfes):
        rel_mean, half = stats.mean_t_halfwidth(det[name][:, k, :] / det[name][:, k, [i0]])
        a_.errorbar(
            gammas,
            rel_mean,
            yerr=half,
            marker="o",
            ms=3,
            capsize=2,
            color=PALETTE[k],
            label=f"NFE {nfe}",
        )
    if name == "1-D mixture":
        for k in range(len(nfes)):
            a_.plot(gammas, exact_1d[k] / exact_1d[k][i0], ls="--", lw=1.0, color=PALETTE[k])
        a_.plot([], [], ls="--", lw=1.0, color="k", label="exact denoiser")
    a_.axhline(1.0, color="k", lw=0.8, ls=":")
    a_.set_yscale("log")
    a_.set(xlabel="gamma (placeholder family)", title=name)
ax[0].set_ylabel("metric / metric at gamma = 0")
_ = ax[0].legend(fontsize=7)

# %% [markdown]
# *Deterministic sampling ($\rho=0$): each dataset's metric (1-D: exact KL; ring: sliced
# $W_2$; digits: digits-FD) relative to the baseline $\gamma=0$ (DDIM/Euler), mean over
# trained denoisers with t-based 95% error bars, log scale; dashed lines (1-D only): the same
# sweep with the exact mixture denoiser. Below the dotted line the tuned formula beats the
# baseline. Look at where each curve has its minimum, and how deep it is at NFE 10
# versus NFE 50.*

# %%
fig, ax = figure(ncols=3, height=2.6)
for a_, name in zip(ax, datasets, strict=True):
    rel = (sto[name] / sto[name][:, [base_sto]]).mean(0).reshape(len(hgammas), len(deltas))
    im = a_.imshow(np.log10(rel), origin="lower", cmap="RdBu_r", vmin=-0.5, vmax=0.5, aspect="auto")
    a_.set_xticks(range(len(deltas)), [f"{d:g}" for d in deltas])
    a_.set_yticks(range(len(hgammas)), [f"{g:g}" for g in hgammas])
    a_.set(xlabel="delta (noise multiplier)", title=name)
ax[0].set_ylabel("gamma")
_ = fig.colorbar(im, ax=list(ax), label="log10(metric / baseline)", shrink=0.8)

# %% [markdown]
# *Stochastic sampling ($\rho=1$, NFE 20): log10 of the metric relative to the baseline
# $(\gamma,\delta)=(0,1)$, averaged over seeds; blue cells beat the baseline. The location of
# the best cell is what differs between datasets.*

# %%
best_gamma = {
    name: gammas[int(np.argmin((det[name][:, 0, :] / det[name][:, 0, [i0]]).mean(0)))]
    for name in datasets
}
chosen_sets = {name: [gammas[j] for j in cv[(name, nfes[0])].chosen] for name in datasets}
names = list(datasets)
spread = max(abs(best_gamma[a] - best_gamma[b]) for a in names for b in names)
spread_unc = max((max(v) - min(v)) / 2 for v in chosen_sets.values())
per_seed = 1 - det["1-D mixture"] / det["1-D mixture"][:, :, [i0]]  # (seed, nfe, gamma) gains
shrink = per_seed[:, 0, :].max(1) - per_seed[:, -1, :].max(1)

shrink_unc = float(stats.mean_t_halfwidth(shrink)[1])
glue("e36_spread", float(spread), display=False)
glue("e36_best", ", ".join(f"{k}: {v:g}" for k, v in best_gamma.items()), display=False)
glue("e36_shrink", float(shrink.mean()), display=False)
glue("e36_shrink_unc", float(shrink_unc), display=False)
for name, short in [("1-D mixture", "1d"), ("2-D ring", "ring"), ("digits", "digits")]:
    c = cv[(name, nfes[0])]
    glue(f"e36_gain_{short}", float(100 * c.interval.value), display=False)
    glue(f"e36_gain_{short}_unc", float(100 * c.interval.half_width), display=False)
glue("e36_nfe0", int(nfes[0]), display=False)
glue("e36_nfe1", int(nfes[-1]), display=False)

# %%
rel_digits = (det["digits"][:, 0, :] / det["digits"][:, 0, [i0]]).mean(0)
alt = [j for j in np.argsort(rel_digits) if j != i0][0]  # best gamma other than the baseline
_, base_imgs = score("digits", s2n.parametric_step(0.0, 0.0), models["digits"][0], nfes[0], 0)
_, alt_imgs = score(
    "digits", s2n.parametric_step(0.0, gammas[alt]), models["digits"][0], nfes[0], 0
)
fig, ax = figure(ncols=3, height=2.2)
for a_, imgs, title in [
    (ax[0], digits_x, "training digits"),
    (ax[1], base_imgs, f"gamma = 0, NFE {nfes[0]}"),
    (ax[2], alt_imgs, f"gamma = {gammas[alt]:g}, NFE {nfes[0]} (FD x {rel_digits[alt]:.2f})"),
]:
    a_.imshow(digit_grid(imgs, 4, 6), cmap="gray_r", vmin=-1, vmax=1)
    a_.set(title=title, xticks=[], yticks=[])
    a_.grid(False)

# %% [markdown]
# *Samples from one trained digits denoiser at NFE {glue:text}`e36_nfe0`: the baseline
# $\gamma=0$ (middle) and the best other $\gamma$ of the sweep (right; its mean digits-FD
# relative to the baseline in the title), next to training images (left). The classifier behind
# digits-FD reaches {glue:text}`e36_clf_acc:.3f` training accuracy.*
#
# For the ring, sliced $W_2$ drives the choice; the table below adds the MMD (Gaussian kernel,
# median bandwidth) and the Frechet distance of Gaussian fits for the baseline and the chosen
# $\gamma$ (first seed, NFE {glue:text}`e36_nfe0`), with bootstrap 95% half-widths. Sliced
# $W_2$ was fixed as the ring's metric before any result was seen; where the three metrics
# disagree on the table, the ring's verdict depends on that choice, and the reader should weigh
# it accordingly.

# %%
ring_best = gammas[int(np.argmin((det["2-D ring"][:, 0, :] / det["2-D ring"][:, 0, [i0]]).mean(0)))]
ring_rows = []
for g in sorted({0.0, ring_best}):
    _, out = score("2-D ring", s2n.parametric_step(0.0, g), models["2-D ring"][0], nfes[0], 0)
    row = {"gamma": g}
    for mname, fn in [
        ("sliced W2", lambda a, b: sliced_w2(a, b, generator=torch.Generator().manual_seed(0))),
        ("MMD^2", mmd),
        ("Frechet (Gaussian fits)", frechet_distance),
    ]:
        est = bootstrap(fn, out, ring_ref, n_resamples=200, seed=1)
        row[mname] = f"{est.value:.4f} ± {est.half_width:.4f}"
    ring_rows.append(row)
pd.DataFrame(ring_rows).set_index("gamma")

# %% [markdown]
# **Reading the results.** The leave-one-seed-out gains at NFE {glue:text}`e36_nfe0` are
# {glue:text}`e36_gain_1d:.1f` ± {glue:text}`e36_gain_1d_unc:.1f` % (1-D exact KL),
# {glue:text}`e36_gain_ring:.1f` ± {glue:text}`e36_gain_ring_unc:.1f` % (ring, sliced $W_2$) and
# {glue:text}`e36_gain_digits:.1f` ± {glue:text}`e36_gain_digits_unc:.1f` % (digits-FD). The best
# $\gamma$ at that NFE is {glue:text}`e36_best`. On the 1-D mixture the best in-sample gain
# shrinks from NFE {glue:text}`e36_nfe0` to NFE {glue:text}`e36_nfe1` by
# {glue:text}`e36_shrink:.2f` ± {glue:text}`e36_shrink_unc:.2f` (fraction of the baseline
# metric). The verdicts below are computed from these numbers; with few seeds (the `ci`
# profile) a wide interval makes a verdict *inconclusive*, which is the honest reading. Even
# where tuning helps, this says that **a** knob of this kind helps on small trained models,
# not that the paper's formula or its AFHQv2 number is reproduced.

# %%
for name, short in [("1-D mixture", "1d"), ("2-D ring", "ring"), ("digits", "digits")]:
    c = cv[(name, nfes[0])]
    _ = ledger.record(
        f"E3.6a-{short}",
        paper=PAPER,
        section="s2n-tuning",
        claim=f"Tuning gamma (deterministic, NFE {nfes[0]}) improves sample quality over the "
        f"gamma = 0 baseline on {name} (leave-one-seed-out relative gain; placeholder family).",
        measured=c.interval,
        expect=at_least(0.01),
        rtol=0.5,
        atol=0.1,
    )
    c = cv[(name, "sto")]
    _ = ledger.record(
        f"E3.6b-{short}",
        paper=PAPER,
        section="s2n-tuning",
        claim=f"Tuning (gamma, delta) for stochastic sampling (rho = 1, NFE 20) improves over "
        f"(0, 1) on {name} (leave-one-seed-out relative gain; placeholder family).",
        measured=c.interval,
        expect=at_least(0.01),
        rtol=0.5,
        atol=0.1,
    )
_ = ledger.record(
    "E3.6c",
    paper=PAPER,
    section="s2n-tuning",
    claim=f"The best gamma differs between datasets (max pairwise difference of the best gamma "
    f"at NFE {nfes[0]}; uncertainty: half the spread of the leave-one-out choices).",
    measured=spread,
    uncertainty=spread_unc,
    uncertainty_kind="half-range of leave-one-seed-out choices",
    expect=at_least(0.1),
    rtol=1.0,
    atol=0.3,
)
_ = ledger.record(
    "E3.6d",
    paper=PAPER,
    section="s2n-tuning",
    claim=f"The gain from tuning gamma shrinks as NFE grows (1-D exact KL: best gain at NFE "
    f"{nfes[0]} minus best gain at NFE {nfes[-1]}).",
    measured=float(shrink.mean()),
    uncertainty=shrink_unc,
    uncertainty_kind=f"t 95% CI over {n_seeds} trained seeds",
    expect=at_least(0.0),
    rtol=0.5,
    atol=0.1,
)

# %% [markdown]
# ## Verdicts
#
# The table lists every claim with its measured value and the verdict computed from it
# (*supported*, *not reproduced*, *inconclusive*).

# %%
ledger.table()

# %% [markdown]
# ## What we could not check, and why
#
# * **The paper's Eq. (7) itself.** Its $(\gamma,\delta)$ family was not available to us; the
#   tuning experiments use our placeholder. The verdicts of section {ref}`s2n-tuning` are about
#   that placeholder and about the *kind* of claim (a knob that helps, with a dataset-dependent
#   optimum that matters less with more steps), not about the paper's formula.
# * **FID on CIFAR-10, CelebA, AFHQv2** (the reported gain of up to 0.31 on AFHQv2). This needs
#   pretrained image models and Inception features; the book downloads nothing at run time.
#   Digits-FD on 8x8 digits is the closest CPU analogue and is not comparable in scale.
# * **The paper's SDE of the non-Markovian model** (its Eq. (10)) and its asymptotic analysis
#   connecting to continuous variational models: we check the kernel and its marginals, and the
#   frozen-$\hat x$ step that solves the $\rho$-family with a frozen denoiser, not the paper's
#   SDE in its own notation.
# * **The precise statement of the SNR-space proposition.** The version quoted in secondary
#   sources lists a condition on $\sigma\circ\lambda^{-1}$ that follows from the one on
#   $\alpha\circ\lambda^{-1}$; we test the consequence (identical processes in
#   $\tilde x = z/\alpha$ indexed by $\lambda$), which needs only shared SNR values.
