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
#    that depend on the dataset
# 7. an asymptotic analysis connects these models to **continuous variational** diffusion
#    models.
#
# **What is the paper's and what is ours.** We had the abstract, the opening of the
# introduction and a few quoted passages, not the full text. The formulas below are **our
# derivations** in the book's notation, consistent with the paper's stated claims; none of them
# is a quotation. In particular the exact form of the paper's Eq. (7), the $(\gamma,\delta)$
# family, was not available: we use a clearly labelled **placeholder** of our own
# (`companion.s2n.placeholder_step`, behind the switch `companion.s2n.PARAMETRIC_VARIANTS`), so
# section {ref}`s2n-tuning` asks questions of the *kind* the paper answers, about our formula,
# not the paper's. The FID
# numbers on image benchmarks need pretrained image models and are not reproduced.
#
# **What each recorded claim is.** Every claim in the ledger says what it is (the *kind* column
# of the verdict table):
#
# * *paper*: a statement of the paper, quoted with where it is stated; only these are verdicts
#   on the paper;
# * *derived*: a consequence we derived ourselves (the forward SDE's coefficients, a convergence
#   order);
# * *check*: an identity of the machinery or a textbook result (the DDIM kernel keeps the
#   marginals, I-MMSE, a change of variables), computed to a stated accuracy on
#   Gaussian-mixture data, where marginals, denoisers and information quantities are known in
#   closed form or by 1-D quadrature. These cannot fail if the mathematics and the code are
#   right; they are unit tests shown to the reader, not evidence for the paper;
# * *question*: an exploratory question of ours, reported with its measurement (is the
#   frozen-denoiser kernel less accurate than a frozen noise prediction at coarse steps? does a
#   $(\gamma,\delta)$ knob of our own help small trained models?).
#
# Most of the paper's statements are theorems. On exact ground truth a theorem can only be
# checked, and this chapter checks them; section {ref}`s2n-coverage` lists every statement of
# the paper with the claims that test it or the reason it is not tested here.

# %% tags=["parameters"]
profile = "ci"  # "ci": about 1.5 minutes on 2 idle CPU cores; "full": the paper-scale sweep
seed = 0
device = "cpu"  # exact computations stay in float64 on CPU; small networks train here
em_particles = None  # Euler-Maruyama particles per schedule (E3.1)
n_grid = None  # grid nodes for exact 1-D propagation
n_seeds = None  # independently trained denoisers per dataset (E3.6)
train_steps = None  # Adam steps per denoiser (E3.6)

# %% tags=["hide-input"]
import math

import numpy as np
import pandas as pd
import scipy.stats
import torch
from myst_nb import glue

from companion import information as info
from companion import s2n, stats
from companion import samplers as S
from companion.digits import digit_grid, digits_fd, load_digits, train_digits_classifier
from companion.gmm import GaussianMixture, ring_mixture
from companion.grid import sampler_output_kl
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
        steps=[5, 10, 20, 30, 50, 70, 100, 140],
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
        steps=[5, 10, 20, 30, 50, 70, 100, 140, 200, 300],
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
KS_LEVEL = 0.01  # family-wise level of every Kolmogorov-Smirnov check, fixed before the run
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
# so every S2N schedule with decreasing SNR has a forward SDE, and it is unique (its VP and VE
# special cases are the SDEs of {cite:t}`song2021sde`). We check it two
# ways for four schedules (VP-linear, VP-cosine, VE-geometric, EDM): the moment ODEs,
# integrated by an 8th-order Runge-Kutta method, must reproduce $\alpha_t$ and $\sigma_t^2$
# (a check of the schedules' $f$ and $g^2$), and Euler-Maruyama particles started from mixture
# data must follow the closed-form noised mixture, which we test with a one-sample
# Kolmogorov-Smirnov (KS) test (scipy's exact null law) at two times per schedule, at a
# family-wise level of 1% (Bonferroni over all tests). As a control that the test can fail,
# particles from the same data points are run with a deliberately wrong diffusion coefficient
# ($g^2$ multiplied by 1.2, VP-cosine).

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
G2_WRONG = 1.2  # the control's diffusion coefficient, relative to the derived one
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
    for i_t, T in enumerate([ts[len(ts) // 4], ts[-1]]):
        a, s = float(sch.alpha(T)), float(sch.sigma(T))
        row = dict(schedule=sch.name, t=float(T), log_snr=float(sch.log_snr(T)))
        for label, scale in [("", 1.0), (" (g2 x 1.2)", G2_WRONG)]:
            if scale != 1.0 and sch.name != "vp-cosine":
                continue  # the control runs on one schedule
            z = s2n.forward_em(sch, x0, ts[ts <= T], gen, g2_scale=scale)
            res = s2n.ks_against_mixture(z[:, 0], p_data, a, s)
            row.update({f"ks{label}": res.statistic, f"p-value{label}": res.pvalue})
            if scale == 1.0:
                em_samples[(sch.name, i_t)] = (z[:, 0], a, s)
        ks_rows.append(row)
ks_table = pd.DataFrame(ks_rows)
n_ks = len(ks_table)
ks_p_adj = min(1.0, n_ks * float(ks_table["p-value"].min()))  # Bonferroni-adjusted
wrong = ks_table["p-value (g2 x 1.2)"].dropna().to_numpy()  # the two control times
ks_p_wrong = min(1.0, n_ks * float(wrong[-1]))  # at t_max, where the noise is the whole signal
ks_p_wrong_early = min(1.0, n_ks * float(wrong[0]))
glue("e31_moment_err", float(max_moment_err), display=False)
glue("e31_p_adj", float(ks_p_adj), display=False)
glue("e31_p_wrong", float(ks_p_wrong), display=False)
glue("e31_p_wrong_early", float(ks_p_wrong_early), display=False)
glue("e31_n", int(n_em), display=False)
glue("e31_n_tests", int(n_ks), display=False)
glue("e31_em_steps", int(cfg["em_steps"]), display=False)
ks_table

# %% tags=["hide-input"]
fig, ax = figure(ncols=2, height=2.9)
for name, (ts, em, ev) in moment_err.items():
    ax[0].semilogy(ts / ts.max(), np.maximum(em, 1e-17), color=colors[name], ls="--")
    ax[0].semilogy(ts / ts.max(), np.maximum(ev, 1e-17), color=colors[name], label=name)
ax[0].set(xlabel="t / t_max", ylabel="relative error", title="moment ODEs")
ax[0].axhline(1e-8, color="k", lw=0.8, ls=":")
ax[0].legend(fontsize=7)
z, a, s = em_samples[("vp-cosine", 0)]
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
# below it. Right: Euler-Maruyama particles of the forward SDE (VP-cosine, at the first of the
# two test times) against the closed-form noised mixture; the histogram should follow the
# curve.*
#
# The moment ODEs reproduce the schedules to {glue:text}`e31_moment_err:.2g` (relative). The
# smallest KS p-value of the {glue:text}`e31_n_tests` particle tests
# ({glue:text}`e31_n` particles, {glue:text}`e31_em_steps` Euler-Maruyama steps each), adjusted
# for the number of tests (Bonferroni), is {glue:text}`e31_p_adj:.2g`, against the level 0.01
# fixed before the run: the test sees no departure from the closed-form law, so at this
# number of particles the Euler-Maruyama bias is below what it can detect. The control with $g^2$ multiplied by {glue:text}`e31_g2_wrong:.1f`
# is decided at the last time, where the law of $z$ is almost pure noise and a wrong $g^2$
# changes its variance by about 20%: its adjusted p-value there is {glue:text}`e31_p_wrong:.1e`, so the
# test has the power to see an error of that size. At the first test time (high SNR, the noise
# a small part of $z$) the same error is invisible (adjusted p-value
# {glue:text}`e31_p_wrong_early:.2g`): a KS test of marginals sees a wrong diffusion coefficient
# only where the noise matters.

# %%
glue("e31_g2_wrong", float(G2_WRONG), display=False)
_ = ledger.record(
    "E3.1a",
    kind="check",
    paper=PAPER,
    section="s2n-forward",
    claim="The forward SDE with f = (log alpha)', g^2 = -sigma^2 (log lambda)' has mean alpha_t x "
    "and variance sigma_t^2 (moment ODEs integrated to 1e-12, 4 schedules; max relative error).",
    measured=max_moment_err,
    expect=at_most(1e-8),
    atol=1e-9,
)
_ = ledger.record(
    "E3.1b",
    kind="derived",
    paper=PAPER,
    section="s2n-forward",
    claim="Euler-Maruyama particles of the derived forward SDE follow the closed-form noised "
    f"mixture (smallest KS p-value over {n_ks} tests, 4 schedules x 2 times, "
    "Bonferroni-adjusted; level 0.01).",
    measured=ks_p_adj,
    expect=at_least(KS_LEVEL),
)
_ = ledger.record(
    "E3.1c",
    kind="check",
    paper=PAPER,
    section="s2n-forward",
    claim=f"Control: particles of a wrong SDE (g^2 x {G2_WRONG:g}, VP-cosine) are rejected by the "
    "same KS test at t_max (Bonferroni-adjusted p-value, same adjustment as E3.1b).",
    measured=ks_p_wrong,
    expect=at_most(KS_LEVEL),
    atol=KS_LEVEL / 10,
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
# At $\rho=0$ all three coincide (DDIM is Euler in the SNR form; checked in E3.2d). We run each with the exact
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


def output_kl(step, N, rho, n_points=cfg["n_grid"]):
    """Exact KL(p || p-hat) of N steps uniform in log lambda, from the exact marginal."""
    sig = exponential_sigmas(N + 1, s_min, s_max, zero=False)
    return sampler_output_kl(step, p_data, sig, p_data, "exact", n_points=n_points, rho=rho).value


e32 = pd.DataFrame(
    [
        dict(rho=rho, scheme=name, N=N, kl=output_kl(step, N, rho))
        for rho in rhos
        for name, step in schemes.items()
        for N in cfg["steps"]
    ]
)
kl_table = e32.pivot_table(index=["rho", "N"], columns="scheme", values="kl")
kl_table.style.format("{:.2e}")

# %% [markdown]
# **Convergence order.** A first-order weak error in the state gives a density error of order
# $1/N$ and hence $\mathrm{KL} = O(N^{-2})$ (the KL is quadratic in a small density error): we
# predict a log-log slope of $-2$ and accept $\le -1.5$. The order is an asymptotic statement,
# so each slope is fitted over the five finest $N$ of the sweep; the claim is decided by the
# fit whose 95% interval reaches highest. The KLs are deterministic; their numerical error
# comes from the grid, so the decisive fit is repeated with half and twice the grid nodes.

# %%
fit_N = sorted(cfg["steps"])[-5:]
fits = {
    key: stats.fit_loglog(grp.N, grp.kl)
    for key, grp in e32[e32.N.isin(fit_N)].groupby(["rho", "scheme"])
}
orders = pd.DataFrame(
    [dict(rho=r, scheme=n, slope=f.slope, ci95=f.ci95, points=f.n) for (r, n), f in fits.items()]
)
worst = max(fits, key=lambda k: fits[k].slope + fits[k].ci95)  # decisive for "slope <= -1.5"
refined = {  # the decisive sweep at half and twice the grid nodes
    m: [output_kl(schemes[worst[1]], N, worst[0], m) for N in fit_N]
    for m in [cfg["n_grid"] // 2, 2 * cfg["n_grid"]]
}
base = e32[(e32.rho == worst[0]) & (e32.scheme == worst[1]) & e32.N.isin(fit_N)].kl.tolist()
slope_grid_err = max(
    abs(stats.fit_loglog(fit_N, k).slope - fits[worst].slope) for k in refined.values()
)
kl_max_N = stats.refinement(
    refined[cfg["n_grid"] // 2][-1], base[-1], refined[2 * cfg["n_grid"]][-1]
)
kl_grid_rel = kl_max_N.half_width / kl_max_N.value
by_run = e32.pivot_table(index=["rho", "scheme"], columns="N", values="kl")
decay = float((by_run[max(cfg["steps"])] / by_run[10]).max())
decay_bound = (10 / max(cfg["steps"])) ** 1.5  # the accepted order 1.5 from N = 10 to N_max
glue("e32_slope_min", float(orders.slope.min()), display=False)
glue("e32_slope_max", float(orders.slope.max()), display=False)
glue("e32_worst", f"rho = {worst[0]:g}, {worst[1]}", display=False)
glue("e32_worst_hi", float(fits[worst].slope + fits[worst].ci95), display=False)
glue("e32_slope_grid", float(slope_grid_err), display=False)
glue("e32_kl_grid", float(kl_grid_rel), display=False)
glue("e32_decay", float(decay), display=False)
glue("e32_decay_bound", float(decay_bound), display=False)
glue("e32_nmax", int(max(cfg["steps"])), display=False)
glue("e32_nfit", int(len(fit_N)), display=False)
glue("e32_fit_lo", int(fit_N[0]), display=False)
from_20 = e32[(e32.rho == worst[0]) & (e32.scheme == worst[1]) & (e32.N >= 20)]
from_20 = stats.fit_loglog(from_20.N, from_20.kl)
glue("e32_from20", float(from_20.slope), display=False)
glue("e32_from20_ci", float(from_20.ci95), display=False)
orders.round(3)

# %%
wide = e32.pivot_table(index=["rho", "N"], columns="scheme", values="kl")
ratio_map = (wide["frozen-x-hat"] / wide["frozen-eps"]).unstack("N").drop(index=0.0)  # rho > 0
low = [r for r in ratio_map.index if r <= 1.0]
ratio_low_min = float(ratio_map.loc[low].min().min())
flip_cells = [(r, n) for r in ratio_map.index for n in ratio_map.columns if ratio_map.loc[r, n] < 1]
sub = wide[[0 < r <= 1.0 for r, _ in wide.index]]
eps_best = [(r, n) for (r, n), row in sub.iterrows() if row.idxmin() == "frozen-eps"]
em_best = [(r, n) for (r, n), row in sub.iterrows() if row.idxmin() == "Euler-Maruyama"]
stoch = wide[[r > 0 for r, _ in wide.index]]
xhat_best = [(r, n) for (r, n), row in stoch.iterrows() if row.idxmin() == "frozen-x-hat"]
fail = [
    (r, n) for (r, n), row in stoch.iterrows() if min(row["Euler-Maruyama"], row["frozen-eps"]) > 1
]

# Folding: EM and frozen-eps share one mean map; its slope is 1 - k (1 - Var[x | x~] / s^2)
# with k = (1 + rho^2)(1 - s'/s), so a fold needs k > 1 (derivation in the text).
xs_fold = torch.linspace(-60.0, 60.0, 4001, dtype=torch.float64)
fold = pd.DataFrame(
    [
        dict(
            rho=rho,
            scheme=name,
            N=N,
            min_slope=s2n.step_map_min_slope(
                step, p_data, exponential_sigmas(N + 1, s_min, s_max, zero=False), xs_fold, rho=rho
            ),
        )
        for rho in rhos
        for name, step in [
            ("EM / frozen-eps", S.frozen_eps_step),
            ("frozen-x-hat", schemes["frozen-x-hat"]),
        ]
        for N in cfg["steps"]
    ]
)
eps_fold = fold[fold.scheme == "EM / frozen-eps"]
folds = [(r, n) for r, n, m in eps_fold[["rho", "N", "min_slope"]].itertuples(index=False) if m < 0]
k_over_1 = [(r, n) for r in rhos for n in cfg["steps"] if (1 + r * r) * (1 - math.exp(-8 / n)) > 1]
xhat_min_slope = float(fold[fold.scheme == "frozen-x-hat"].min_slope.min())
glue("e32_ratio_low_min", ratio_low_min, display=False)
glue("e32_ratio_10", float(ratio_map.loc[1.0, 10]), display=False)
glue("e32_flip", s2n.cells_text(flip_cells), display=False)
glue("e32_eps_best", s2n.cells_text(eps_best), display=False)
glue("e32_em_best", s2n.cells_text(em_best), display=False)
glue("e32_xhat_best", s2n.cells_text(xhat_best), display=False)
glue("e32_fail", s2n.cells_text(fail), display=False)
glue("e32_folds", s2n.cells_text(folds), display=False)
glue("e32_k_over_1", s2n.cells_text(k_over_1), display=False)
glue("e32_xhat_slope", xhat_min_slope, display=False)
glue("e32_n_cells", int(len(sub)), display=False)

# %% tags=["hide-input"]
scheme_colors = method_colors(list(schemes))
fig, ax = figure(ncols=2, nrows=2, height=2.6)
for a_, rho in zip(ax.ravel()[:3], [0.5, 1.0, 2.0], strict=True):
    for name in schemes:
        g_ = e32[(e32.rho == rho) & (e32.scheme == name)]
        a_.loglog(g_.N, g_.kl, "o-", color=scheme_colors[name], label=name)
    a_.set(xlabel="steps N", ylabel="exact KL (nats)", title=f"rho = {rho:g}")
ax[0, 0].legend(fontsize=7)
im = ax[1, 1].imshow(
    np.log10(ratio_map.to_numpy()), origin="lower", cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto"
)
ax[1, 1].set_xticks(range(len(ratio_map.columns)), [str(n) for n in ratio_map.columns])
ax[1, 1].set_yticks(range(len(ratio_map.index)), [f"{r:g}" for r in ratio_map.index])
ax[1, 1].set(xlabel="steps N", ylabel="rho", title="log10 KL(frozen-x-hat) / KL(frozen-eps)")
ax[1, 1].grid(False)
_ = fig.colorbar(im, ax=ax[1, 1], shrink=0.8)

# %% [markdown]
# *Exact output KL of the three discretisations of the $\rho$-family against the number of
# steps (log-log; three values of $\rho$), and (bottom right) the map of
# $\log_{10}$ of the KL of the frozen-$\hat x$ kernel over that of frozen-$\varepsilon$, for
# every $\rho>0$ and $N$ of the sweep: red cells are where the "exact", valid-for-any-jump
# kernel is the less accurate one, blue cells where it wins. Look at where the map turns
# blue.*
#
# **Convergence.** The fitted slopes of $\log\mathrm{KL}$ against $\log N$
# ({glue:text}`e32_nfit` values of $N$ from {glue:text}`e32_fit_lo` to
# {glue:text}`e32_nmax`; table above with 95% fit intervals) lie between
# {glue:text}`e32_slope_min:.2f` and {glue:text}`e32_slope_max:.2f`, against the predicted $-2$;
# the fit whose interval reaches highest ({glue:text}`e32_worst`) ends at
# {glue:text}`e32_worst_hi:.2f` (E3.2b asks for at most $-1.5$). The window matters for that
# run: fitted from $N=20$ instead, its slope is {glue:text}`e32_from20:.2f` ±
# {glue:text}`e32_from20_ci:.2f`, because at $\rho=2$ the coarser steps are not yet in the
# asymptotic regime. Halving or doubling the grid changes the decisive slope by
# {glue:text}`e32_slope_grid:.2g`, and its KL at $N=${glue:text}`e32_nmax` by
# {glue:text}`e32_kl_grid:.1%` of its value: the slopes measure the samplers, not the grid. The
# KL of every run at $N=${glue:text}`e32_nmax` is at most {glue:text}`e32_decay:.2g` times its
# value at $N=10$ (E3.2a accepts at most {glue:text}`e32_decay_bound:.2g`, the factor of order
# 1.5).
#
# **The frozen-$\hat x$ kernel at coarse steps (a question of ours).** One might read "the
# exact formula can jump to any $s<t$" as "it is the more accurate formula for large steps".
# The paper does not say so, and E3.2c asks whether the opposite holds for $0<\rho\le1$: is
# frozen-$\hat x$ less accurate than frozen-$\varepsilon$ at every $N$? At $N=10$, $\rho=1$ it
# has {glue:text}`e32_ratio_10:.1f` times the KL of frozen-$\varepsilon$; the smallest ratio
# over $0<\rho\le1$ is {glue:text}`e32_ratio_low_min:.2f`, so the answer depends on the cell,
# and the bottom-right map shows where. The kernel is exact when the data are a point mass
# (derivation above); the bimodal mixture is far from one. Among the three schemes, for
# $0<\rho\le1$
# frozen-$\varepsilon$ has the smallest KL in {glue:text}`e32_eps_best` and Euler-Maruyama in
# {glue:text}`e32_em_best` ({glue:text}`e32_n_cells` cells in all). The map turns blue
# (frozen-$\hat x$ better than frozen-$\varepsilon$) in {glue:text}`e32_flip`; frozen-$\hat x$
# is the best of the three in {glue:text}`e32_xhat_best`.
#
# **Why the order flips: folding.** EM and frozen-$\varepsilon$ share one mean map,
# $\tilde x\mapsto\tilde x - k\,(\tilde x-\hat x)$ with $k=(1+\rho^2)(1-\tilde\sigma'/\tilde\sigma)$;
# since $d\hat x/d\tilde x = \mathrm{Var}[x\mid\tilde x]/\tilde\sigma^2\in[0,1]$ its slope is
# $1-k(1-\mathrm{Var}[x\mid\tilde x]/\tilde\sigma^2)\ge 1-k$, so it can fold the line only where
# $k>1$, which on this grid is {glue:text}`e32_k_over_1`. Measured on a fine grid of states with
# the exact denoiser, the mean map has a negative slope (folds) in
# {glue:text}`e32_folds`; the runs where both EM and frozen-$\varepsilon$ end more than 1 nat
# from the target are {glue:text}`e32_fail`. The frozen-$\hat x$ mean map,
# $\hat x + c\,(\tilde x-\hat x)$ with $c\in[0,1]$, has slope
# $c + (1-c)\,d\hat x/d\tilde x\ge 0$: its smallest measured slope over all runs is
# {glue:text}`e32_xhat_slope:.2g`, so it never folds. The paper's remark that longer jumps carry
# more error is consistent with all of this; the ranking between the formulas is our
# measurement, not the paper's statement. (A folded step map is propagated on the grid by
# linear mass splatting; the grid refinement above is of the decisive convergence fit.)

# %%
vpc = VPCosine()
ll_chk = torch.linspace(-6.0, 8.0, 11, dtype=torch.float64)  # increasing SNR: decreasing t
sig_chk, t_chk = torch.exp(-0.5 * ll_chk), s2n.snr_grid_times(vpc, ll_chk)
x_chk = torch.linspace(-3.0, 3.0, 121, dtype=torch.float64)[:, None]
ddim_err = ddpm_err = 0.0
for i in range(10):
    st, ss = float(sig_chk[i]), float(sig_chk[i + 1])
    means = [step(p_data, x_chk, st, ss, rho=0.0)[0] for step in schemes.values()]
    ref = means[2].abs().max()
    ddim_err = max(ddim_err, float(max((m - means[2]).abs().max() for m in means[:2]) / ref))
    # DDPM's posterior q(z_s | z_t, x-hat) in z (Ho et al. 2020), against frozen-x-hat at rho = 1
    mean, std, x0 = S.frozen_denoiser_step(p_data, x_chk, st, ss, rho=1.0)
    tt, ts_ = t_chk[i], t_chk[i + 1]
    a_t, s_t, a_s, s_s = (
        float(f(u))
        for f, u in [(vpc.alpha, tt), (vpc.sigma, tt), (vpc.alpha, ts_), (vpc.sigma, ts_)]
    )
    var_ts = s_t**2 - (a_t / a_s) ** 2 * s_s**2
    mu = (a_t / a_s) * s_s**2 / s_t**2 * (a_t * x_chk) + a_s * var_ts / s_t**2 * x0
    beta = s_s * math.sqrt(var_ts) / s_t
    ddpm_err = max(
        ddpm_err,
        float((mean - mu / a_s).abs().max() / (mu / a_s).abs().max()),
        abs(std - beta / a_s) / (beta / a_s),
    )
glue("e32_ddim_err", float(ddim_err), display=False)
glue("e32_ddpm_err", float(ddpm_err), display=False)

# %% [markdown]
# At $\rho=0$ the three steps give the same map (largest relative difference
# {glue:text}`e32_ddim_err:.1e`: DDIM), and at $\rho=1$ the frozen-$\hat x$ step equals DDPM's
# posterior $q(z_s\mid z_t,\hat x)$ of {cite:t}`ho2020ddpm`, computed in $z$ from its textbook
# mean and variance on VP-cosine (largest relative difference {glue:text}`e32_ddpm_err:.1e`).

# %%
_ = ledger.record(
    "E3.2a",
    kind="derived",
    paper=PAPER,
    section="s2n-backward",
    claim="Every member of the rho-family (rho in 0..2), under each of three discretisations, "
    f"converges to the data marginal: largest ratio KL(N = {max(cfg['steps'])}) / KL(N = 10) "
    "over rho and schemes, against the order-1.5 bound (10 / N)^1.5.",
    measured=decay,
    expect=at_most(decay_bound),
    rtol=1e-3,
)
_ = ledger.record(
    "E3.2b",
    kind="derived",
    paper=PAPER,
    section="s2n-backward",
    claim="The discretisations converge at first order, KL ~ N^-2 (predicted slope -2): the "
    f"log-log slope over N >= 20 whose fit interval reaches highest ({worst[1]}, rho = "
    f"{worst[0]:g}).",
    measured=fits[worst].slope_interval,
    expect=at_most(-1.5),
    rtol=1e-3,
)
_ = ledger.record(
    "E3.2c",
    kind="question",
    paper=PAPER,
    section="s2n-backward",
    claim="Question: for 0 < rho <= 1, is the frozen-x-hat kernel (valid for any jump) less "
    "accurate than frozen-eps at every N of the sweep? Smallest KL ratio over those cells.",
    measured=ratio_low_min,
    expect=at_least(1.0),
    rtol=1e-3,
)
_ = ledger.record(
    "E3.2d",
    kind="check",
    paper=PAPER,
    section="s2n-backward",
    claim="The frozen-x-hat step is DDIM at rho = 0 (all three steps coincide) and DDPM's "
    "posterior (Ho et al. 2020, in z on VP-cosine) at rho = 1: largest relative difference.",
    measured=max(ddim_err, ddpm_err),
    expect=at_most(1e-12),
    atol=1e-13,
)
_ = ledger.record(
    "E3.2e",
    kind="check",
    paper=PAPER,
    section="s2n-backward",
    claim="The grid does not decide the convergence order: change of the decisive slope when "
    "the grid nodes are halved or doubled (a fifth of the margin between -2 and -1.5).",
    measured=float(slope_grid_err),
    expect=at_most(0.1),
    rtol=1e-2,
    atol=1e-4,
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
# **Derivation** (the construction of DDIM, {cite:t}`song2021ddim`, in continuous S2N form).
# If $z_t = \alpha_t x + \sigma_t\varepsilon$ then
# $(z_t-\alpha_t x)/\sigma_t = \varepsilon$ is standard normal and
# $z_s = \alpha_s x + \sqrt{\sigma_s^2-\beta^2}\,\varepsilon + \beta\xi$ has mean $\alpha_s x$ and
# variance $\sigma_s^2$, whatever $\beta$: the marginals are preserved exactly. The model's
# kernel plugs in the prediction, $p_\theta(z_s\mid z_t) = q(z_s\mid z_t, \hat x(z_t))$; with
# $\beta$ from $\rho$ as in section {ref}`s2n-backward` it is the frozen-$\hat x$ step. We check
# (a) the marginals by Monte Carlo for random $\beta$ (VP-cosine, random $t>s$, mixture data;
# KS tests at a family-wise level of 1%, Bonferroni over the draws of $\beta$), and (b) the
# one-jump error of $p_\theta$ with the *exact* denoiser as the jump grows. Statement (b) is the
# paper's: "longer step sizes $t-s$ has more errors, hence compromising the generation
# performance" (quoted in the summary). Its prediction is a KL that increases with the jump; we
# accept a Spearman rank correlation that allows at most one adjacent swap among the jumps.

# %%
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
    ks = s2n.ks_against_mixture(z_s[:, 0], p_data, a_s, s_s)
    resid = (z_s - a_s * x)[:, 0]  # should be N(0, sigma_s^2) given x
    beta_rows.append(
        dict(
            log_snr_s=ls,
            log_snr_t=lt,
            beta_over_sigma_s=beta / s_s,
            ks=ks.statistic,
            p_value=ks.pvalue,
            resid_var_ratio=float(resid.var() / s_s**2),
        )
    )
beta_table = pd.DataFrame(beta_rows)
beta_p_adj = min(1.0, len(beta_table) * float(beta_table.p_value.min()))  # Bonferroni
resid_err = float(beta_table.resid_var_ratio.sub(1).abs().max())
assert resid_err < 10 / math.sqrt(cfg["n_mc"]), resid_err  # 10 standard errors of a variance
glue("e33_p_adj", float(beta_p_adj), display=False)
glue("e33_n_beta", int(len(beta_table)), display=False)
glue("e33_resid", resid_err, display=False)
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
e33["kl_fine"] = [  # the same jumps on twice the grid nodes: numerical error
    s2n.one_jump_kl(p_data, math.exp(-lt0 / 2), math.exp(-(lt0 + j) / 2), r, 2 * cfg["n_grid"])
    for r, j in zip(e33.rho, e33.jump, strict=True)
]
n_j = len(jumps)
spearman_bound = 1 - 12 / (n_j * (n_j**2 - 1))  # one adjacent swap among n_j jumps
spearman_min = min(stats.spearman(g_.jump, g_.kl) for _, g_ in e33.groupby("rho"))
spearman_fine = min(stats.spearman(g_.jump, g_.kl_fine) for _, g_ in e33.groupby("rho"))
jump_grid_rel = float(((e33.kl - e33.kl_fine).abs() / e33.kl_fine).max())
smallest = e33[e33.jump == jumps[0]]
smallest_jump_kl = float(smallest.kl.max())
rho_order = stats.spearman(smallest.rho, smallest.kl)  # at the shortest jump: KL against rho
glue("e33_spearman", float(spearman_min), display=False)
glue("e33_spearman_fine", float(spearman_fine), display=False)
glue("e33_spearman_bound", float(spearman_bound), display=False)
glue("e33_jump_grid", jump_grid_rel, display=False)
glue("e33_small", float(smallest_jump_kl), display=False)
glue("e33_small_jump", float(jumps[0]), display=False)
glue("e33_rho_order", float(rho_order), display=False)
glue("e33_n_jumps", int(n_j), display=False)

# %% tags=["hide-input"]
fig, ax = figure(ncols=2, height=2.8)
ax[0].plot(beta_table.beta_over_sigma_s, beta_table.p_value, "o", label="KS p-value")
ax[0].plot(
    beta_table.beta_over_sigma_s,
    beta_table.resid_var_ratio,
    "s",
    label="Var(z_s - alpha_s x) / sigma_s^2",
)
ax[0].axhline(1.0, color="k", lw=0.8, ls=":")
ax[0].axhline(KS_LEVEL / len(beta_table), color="r", lw=0.8, ls="--", label="Bonferroni level")
ax[0].set(
    xlabel="beta / sigma_s", ylabel="value", title="marginal of q(z_s | z_t, x)", ylim=(0, 1.6)
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
# *Left: for random $\beta\in[0,\sigma_s]$, the KS p-value of $z_s$ against the noised
# mixture (circles; a p-value below the dashed Bonferroni level would reject the marginal) and
# the conditional variance of $z_s-\alpha_s x$ over $\sigma_s^2$ (squares; 1 if the kernel is
# right). Right: the KL of a single jump of the model kernel with the exact denoiser against
# the jump length, for four values of $\rho$; look at whether every curve rises.*
#
# The kernel preserves the marginals for every $\beta$ tried: the smallest p-value of the
# {glue:text}`e33_n_beta` tests, Bonferroni-adjusted, is {glue:text}`e33_p_adj:.2g` (level
# 0.01), and the conditional variance is $\sigma_s^2$ to {glue:text}`e33_resid:.1e`
# (relative). A jump of $\log(\lambda_s/\lambda_t) =$ {glue:text}`e33_small_jump:.1f` costs at
# most {glue:text}`e33_small:.2g` nats, and the smallest Spearman rank correlation of KL with jump
# length over $\rho$ is {glue:text}`e33_spearman:.3f` ({glue:text}`e33_n_jumps` jumps; one
# adjacent swap would give {glue:text}`e33_spearman_bound:.3f`). On twice the grid nodes the
# KLs change by at most {glue:text}`e33_jump_grid:.1%` (the longest jumps end in narrow
# densities that the grid resolves least well) and the correlation is
# {glue:text}`e33_spearman_fine:.3f`, so the ordering is not a grid effect. The paper's "longer
# step sizes have more errors" thus holds with the exact denoiser: it is a property of the
# kernel, not of a network. At the shortest jump the rank correlation of KL with $\rho$ is
# {glue:text}`e33_rho_order:.2f` (1 would mean the error grows with $\rho$ there).

# %%
_ = ledger.record(
    "E3.3a",
    kind="check",
    paper=PAPER,
    section="s2n-nonmarkov",
    claim="q(z_s | z_t, x) keeps the forward marginal for any beta in [0, sigma_s] (the DDIM "
    "construction; smallest KS p-value over random beta, Bonferroni-adjusted; level 0.01).",
    measured=beta_p_adj,
    expect=at_least(KS_LEVEL),
)
_ = ledger.record(
    "E3.3b",
    kind="paper",
    source="quoted in the summary: 'longer step sizes t − s has more errors, hence "
    "compromising the generation performance'",
    paper=PAPER,
    section="s2n-nonmarkov",
    claim="The model kernel q(z_s | z_t, x-hat) loses accuracy as the jump grows, with the "
    "exact denoiser (min over rho of the Spearman correlation of one-jump KL with jump length; "
    "accepted: at most one adjacent swap).",
    measured=float(spearman_min),
    expect=at_least(spearman_bound),
    rtol=1e-3,
)

# %% [markdown]
# (s2n-snr-space)=
# ## 4. One process in signal-to-noise space
#
# The paper states (as quoted in the summary) that two schedules with the same SNR endpoints,
# and with $\alpha_1\circ\lambda_1^{-1} = \alpha_2\circ\lambda_2^{-1}$, induce the same forward
# process in signal-to-noise space. **As stated**: every variance-preserving schedule has
# $\alpha^2 = \lambda/(1+\lambda)$, so VP-linear and VP-cosine satisfy the condition, and on a
# shared $\lambda$ grid they must give identical raw $z$. **Our stronger version.** In
# $\tilde x = z/\alpha$, indexed by $\lambda$, the forward process is $\tilde x = x + \lambda^{-1/2}\varepsilon$ for *every*
# schedule, and the exact denoiser and every step above depend on the schedule only through
# $\lambda$. So two schedules sampled on one $\lambda$ grid give identical trajectories in
# $\tilde x$, and the continuous-time denoising loss
# $\tfrac12\int \mathrm{mmse}(\lambda_t)\,|\lambda_t'|\,dt = \tfrac12\int\mathrm{mmse}\,d\lambda$
# depends only on the SNR endpoints ({cite:t}`kingma2021vdm`).
#
# We run the sampler **in $z$** (`companion.s2n.sample_z_space`: the paper's kernel
# $q(z_s\mid z_t,\hat x)$ with $\alpha,\sigma$ of each schedule) for VP-cosine, VP-linear and
# a VE schedule with the same SNR range $\log\lambda\in[-6, 8]$, from the same (rescaled)
# initial state and the same noise, for DDIM ($\rho=0$) and $\rho=1$; a control VE schedule
# with a smaller $\lambda_{\min}$ (on its own grid) must differ. The losses are integrated in
# each schedule's own time variable. All of these are identities that the construction enforces
# (the sampler sees the schedule only through $\lambda$ and $\alpha(\lambda)$), so they are
# recorded as checks: they show the machinery is consistent with the paper's statement, and
# round-off is all that can separate the paths.

# %%
l_lo, l_hi = -6.0, 8.0
ve_same = VEGeometric(sigma_min=math.exp(-l_hi / 2), sigma_max=math.exp(-l_lo / 2))
ve_ctrl = VEGeometric(sigma_min=math.exp(-l_hi / 2), sigma_max=math.exp(-(l_lo - 2) / 2))
y_init = p_data.sample(2000, gen)
noise_init = torch.randn(y_init.shape, dtype=torch.float64, generator=gen)
traj, raw = {}, {}
for name, sch, lo in [
    ("VP-cosine", vpc, l_lo),
    ("VP-linear", VPLinear(), l_lo),
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
        raw[(name, rho)] = torch.stack([z[:, 0] for z in zs])
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
raw_scale = max(float(raw[("VP-cosine", r)].abs().max()) for r in [0.0, 1.0])
raw_vp = (
    max(float((raw[("VP-cosine", r)] - raw[("VP-linear", r)]).abs().max()) for r in [0.0, 1.0])
    / raw_scale
)  # the paper's statement: same alpha(lambda), same raw z
raw_ve = (
    min(
        float((raw[("VP-cosine", r)] - raw[("VE, same SNR range", r)]).abs().max())
        for r in [0.0, 1.0]
    )
    / raw_scale
)  # VP against VE: different alpha(lambda), different raw z
glue("e34_raw_vp", float(raw_vp), display=False)
glue("e34_raw_ve", float(raw_ve), display=False)

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

# %% tags=["hide-input"]
fig, ax = figure(ncols=2, height=2.8)
for (name, rho), (ll_, ys) in traj.items():
    if rho != 1.0 or name == "VP-linear":
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
# As the paper states it: VP-linear and VP-cosine give the same raw $z$ to
# {glue:text}`e34_raw_vp:.1e` (relative to the largest $|z|$), while VP-cosine and VE, whose
# $\alpha(\lambda)$ differ, differ in raw $z$ by {glue:text}`e34_raw_ve:.2f` times the largest
# VP-cosine $|z|$. In our
# stronger form, the VP-cosine and VE trajectories agree to {glue:text}`e34_traj:.1e` in
# $\tilde x$ (relative to the largest $|\tilde x|$ on the paths), the control differs by
# {glue:text}`e34_ctrl:.2f` at the end; the denoising losses agree to
# {glue:text}`e34_loss_rel:.1e` (relative), while the control's differs by
# {glue:text}`e34_loss_ctrl:.1e`. Only the SNR grid matters, and in $z$ also $\alpha(\lambda)$.

# %%
_ = ledger.record(
    "E3.4a",
    kind="check",
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
    kind="check",
    paper=PAPER,
    section="s2n-snr-space",
    claim="The continuous-time denoising loss depends only on the SNR endpoints (a change of "
    "variables, Kingma et al. 2021; relative difference VP-cosine vs VE, each integrated in "
    "its own time).",
    measured=loss_rel,
    expect=at_most(1e-6),
    atol=1e-9,
)
_ = ledger.record(
    "E3.4c",
    kind="check",
    paper=PAPER,
    section="s2n-snr-space",
    claim="Control: a schedule with a different lambda_min gives different samples "
    "(min over rho of the max final difference).",
    measured=ctrl_diff,
    expect=at_least(1e-3),
    rtol=1e-3,
)
_ = ledger.record(
    "E3.4d",
    kind="check",
    paper=PAPER,
    section="s2n-snr-space",
    claim="The paper's SNR-space statement as stated: VP-linear and VP-cosine (same SNR "
    "endpoints, same alpha as a function of lambda) give the same raw z on one SNR grid (max "
    "difference relative to max |z|, DDIM and rho = 1).",
    measured=raw_vp,
    expect=at_most(1e-12),
    atol=1e-12,
)

# %% [markdown]
# (s2n-information)=
# ## 5. Information theory in signal-to-noise space
#
# With $Y_\lambda = \sqrt\lambda\,X + N$ (that is $z/\sigma$), two classical identities (the
# I-MMSE relation of Guo, Shamai and Verdú, 2005, and Verdú's 2010 mismatched-estimation
# identity, both used for diffusion models by {cite:t}`kong2023itd`) are:
#
# $$ \frac{d}{d\lambda} I(X;Y_\lambda) = \tfrac12\,\mathrm{mmse}(\lambda), \qquad
#    \frac{d}{d\lambda}\mathrm{KL}(p_\lambda\,\|\,q_\lambda) = \tfrac12\,E_p\big|\hat x_p(Y_\lambda)-\hat x_q(Y_\lambda)\big|^2 , $$
#
# and integrating the second over $\lambda\in(0,\infty)$ recovers $\mathrm{KL}(p\,\|\,q)$ of
# the clean data. Both sides are computed independently: $I$ and $\mathrm{KL}(p_\lambda\|q_\lambda)$
# by quadrature of densities, differentiated by a five-point stencil ($h=10^{-3}\lambda$); the
# mmse and the mismatch by quadrature of posterior variances and of denoiser differences. These
# are textbook identities, so the claims below are checks of our quadratures; the paper's
# contribution here is to state them for general $(\alpha,\sigma)$, which follows from the
# change of variable to $Y_\lambda$.

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
glue("e35_n_lams", int(len(lams)), display=False)

# %% tags=["hide-input"]
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
# {glue:text}`e35_klmmse:.1e` (largest relative error over {glue:text}`e35_n_lams` values of
# $\lambda$); the
# integral over $\log\lambda\in[-18, 22]$ recovers $\mathrm{KL}(p\|q) =$
# {glue:text}`e35_kl:.4f` nats to {glue:text}`e35_klint:.1e` (relative).

# %%
_ = ledger.record(
    "E3.5a",
    kind="check",
    paper=PAPER,
    section="s2n-information",
    claim="I-MMSE in SNR space: dI(X; Y_lambda)/dlambda = mmse/2 (max relative error).",
    measured=immse_err,
    expect=at_most(1e-6),
    atol=1e-7,
)
_ = ledger.record(
    "E3.5b",
    kind="check",
    paper=PAPER,
    section="s2n-information",
    claim="dKL(p_lambda || q_lambda)/dlambda = E_p|x_p - x_q|^2 / 2 (max relative error).",
    measured=klmmse_err,
    expect=at_most(1e-6),
    atol=1e-7,
)
_ = ledger.record(
    "E3.5c",
    kind="check",
    paper=PAPER,
    section="s2n-information",
    claim="Integrating half the mismatch over lambda recovers KL(p || q) (relative error).",
    measured=kl_int_err,
    expect=at_most(1e-6),
    atol=1e-7,
)

# %% [markdown]
# (s2n-tuning)=
# ## 6. Does tuning a $(\gamma, \delta)$ knob improve samples? (questions of ours)
#
# **What the paper claims.** With appropriate hyperparameters its parametric inference formula
# improves FID over the baseline samplers, on several image benchmarks, with dataset-dependent
# gains (up to 0.31 FID on AFHQv2 as reported in a summary).
#
# **What we ask instead (our reconstruction, so every claim here is a question).** The paper's
# Eq. (7) freezes the noise prediction over a step and carries hyperparameters $\gamma$ and
# $\delta$; its exact form was not available. Our placeholder (`companion.s2n.placeholder_step`) extrapolates the frozen
# noise prediction as $\hat\varepsilon(\tau) = (\tilde\sigma_\tau/\tilde\sigma)^{-\gamma}\hat\varepsilon$
# and scales the injected noise by $\delta$:
#
# $$ \tilde x' = \tilde x + (1+\rho^2)\,\tilde\sigma^{\gamma}\,
#    \frac{\tilde\sigma'^{\,1-\gamma}-\tilde\sigma^{1-\gamma}}{1-\gamma}\,\hat\varepsilon
#    + \delta\rho\sqrt{\tilde\sigma^2-\tilde\sigma'^2}\;\xi , $$
#
# which is DDIM/Euler at $\gamma=0,\rho=0$ and the frozen-$\varepsilon$ step at
# $\gamma=0,\delta=1$. It is first-order consistent for every $\gamma$, so $\gamma$ only shapes the error at finite
# steps, the role a tuning knob plays. Swap in the paper's formula by adding it to
# `companion.s2n.PARAMETRIC_VARIANTS`.
#
# **Protocol.** Three datasets: (a) the 1-D mixture (exact output KL by grid propagation),
# (b) an 8-mode 2-D ring (sliced $W_2$ to fresh data; MMD and Frechet distance reported), (c)
# scikit-learn's bundled 8x8 digits (no download) with a Frechet distance in the feature space of a small
# digits classifier trained here ("digits-FD", the analogue of FID). For each dataset we
# train {glue:text}`e36_seeds` EDM-preconditioned MLP denoisers with different seeds and sample
# on the EDM grid ($\rho_{\rm EDM}=7$, $\tilde\sigma\in[0.002, 80]$, last step to 0). We sweep
# $\gamma$ for deterministic sampling ($\rho=0$) at several NFE, and $(\gamma,\delta)$ at
# $\rho=1$, NFE 20. The **gain** over the baseline ($\gamma=0$, $\delta=1$) is measured
# **leave-one-seed-out**: the setting is chosen on the other seeds and scored on the held-out
# one, so picking the best of many settings does not by itself produce a gain. The folds share
# the sampler's grid and its discretisation error, so the leave-one-out protects against
# choosing on the noise between trained networks, not against a setting tuned to this grid. We
# answer "yes" (verdict *supported*) when the whole 95% t-interval over seeds lies above a 1%
# relative gain, an effect size fixed before the run. With the `ci` profile's
# {glue:text}`e36_seeds` seeds the t-multiplier is {glue:text}`e36_tmult:.1f`, so only a large
# effect can give a decided answer; the `full` profile trains 5 seeds per dataset. Beside every
# distance we report its **noise floor**, the same distance between independent samples of
# real data: a distance near its floor cannot be improved by any sampler. The digits
# classifier and the digits reference set are the denoisers' own training data (all
# {glue:text}`e36_n_train` images of the data set); the digits-FD therefore measures closeness
# to the training set.

# %% tags=["hide-input"]
glue("e36_seeds", int(cfg["n_seeds"]), display=False)
glue("e36_tmult", float(scipy.stats.t.ppf(0.975, cfg["n_seeds"] - 1)), display=False)
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
floor_ring = sliced_w2(
    ring.sample(cfg["n_samples"], torch.Generator().manual_seed(seed + 8)),
    ring_ref,
    generator=torch.Generator().manual_seed(0),
)  # two independent samples of the ring: the floor of sliced W2
perm = torch.randperm(len(digits_x), generator=torch.Generator().manual_seed(seed + 9))
floor_digits = digits_fd(
    clf, digits_x[perm[: cfg["n_digits"]]], digits_x[perm[cfg["n_digits"] :]]
)  # two disjoint sets of real digits: the floor of digits-FD
glue("e36_floor_ring", float(floor_ring), display=False)
glue("e36_floor_digits", float(floor_digits), display=False)
glue("e36_n_digits", int(cfg["n_digits"]), display=False)
glue("e36_n_train", int(len(digits_x)), display=False)
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

# %% tags=["hide-input"]
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

# %% tags=["hide-input"]
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
# $(\gamma,\delta)=(0,1)$, averaged over seeds; blue cells beat the baseline. Compare where
# the best cell lies in each panel; whether the best deterministic setting really differs
# between datasets is asked below (E3.6c).*

# %%
nfe0, nfe1 = nfes[0], nfes[-1]
rel0 = {name: det[name][:, 0, :] / det[name][:, 0, [i0]] for name in datasets}  # at nfe0
best_gamma = {name: gammas[int(np.argmin(rel0[name].mean(0)))] for name in datasets}
# Does the setting chosen on another dataset lose on this one? Own choice: leave-one-seed-out;
# rivals: the gamma chosen on each other dataset (all its seeds); paired over this dataset's
# seeds, Bonferroni over the two rivals.
transfer = {}
for b in datasets:
    own = rel0[b][np.arange(n_seeds), cv[(b, nfe0)].chosen]
    rivals = {a: rel0[b][:, gammas.index(best_gamma[a])] for a in datasets if a != b}
    transfer[b] = stats.compare_rivals(own, rivals)
shrink = stats.paired_t(cv[("1-D mixture", nfe0)].per_seed, cv[("1-D mixture", nfe1)].per_seed)
exact_gain = {nfe: 1 - float(exact_1d[k].min() / exact_1d[k][i0]) for k, nfe in enumerate(nfes)}
glue("e36_best", ", ".join(f"{k}: {v:g}" for k, v in best_gamma.items()), display=False)
glue("e36_shrink", float(shrink.value), display=False)
glue("e36_shrink_unc", float(shrink.half_width), display=False)
glue("e36_exact_gain0", exact_gain[nfe0], display=False)
glue("e36_exact_gain1", exact_gain[nfe1], display=False)
for name, short in [("1-D mixture", "1d"), ("2-D ring", "ring"), ("digits", "digits")]:
    c = cv[(name, nfe0)]
    glue(f"e36_gain_{short}", float(100 * c.interval.value), display=False)
    glue(f"e36_gain_{short}_unc", float(100 * c.interval.half_width), display=False)
    glue(f"e36_base_{short}", float(det[name][:, 0, i0].mean()), display=False)
    t = transfer[name].interval
    glue(f"e36_regret_{short}", float(100 * t.value), display=False)
    glue(f"e36_regret_{short}_unc", float(100 * t.half_width), display=False)
glue("e36_nfe0", int(nfe0), display=False)
glue("e36_nfe1", int(nfe1), display=False)

# %% tags=["hide-input"]
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

# %% tags=["hide-input"]
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
# **Reading the results.** At NFE {glue:text}`e36_nfe0` the baselines' mean distances are
# {glue:text}`e36_base_1d:.3g` nats (1-D exact KL, floor 0), {glue:text}`e36_base_ring:.3g`
# (ring, sliced $W_2$; floor {glue:text}`e36_floor_ring:.3g`) and
# {glue:text}`e36_base_digits:.3g` (digits-FD; floor {glue:text}`e36_floor_digits:.3g`,
# {glue:text}`e36_n_digits` real digits against the other real digits). The leave-one-seed-out
# gains are
# {glue:text}`e36_gain_1d:.1f` ± {glue:text}`e36_gain_1d_unc:.1f` % (1-D),
# {glue:text}`e36_gain_ring:.1f` ± {glue:text}`e36_gain_ring_unc:.1f` % (ring) and
# {glue:text}`e36_gain_digits:.1f` ± {glue:text}`e36_gain_digits_unc:.1f` % (digits). With the
# exact denoiser instead of a network, the best $\gamma$ of the 1-D sweep lowers the KL by
# {glue:text}`e36_exact_gain0:.0%` at NFE {glue:text}`e36_nfe0` and by
# {glue:text}`e36_exact_gain1:.0%` at NFE {glue:text}`e36_nfe1` (in sample: the best of the
# sweep, no seeds involved). The in-sample best $\gamma$ per dataset is {glue:text}`e36_best`;
# the loss, on each dataset, of using the $\gamma$ chosen on another dataset instead of its own
# leave-one-out choice is, for the decisive rival, {glue:text}`e36_regret_1d:.1f` ±
# {glue:text}`e36_regret_1d_unc:.1f` % (1-D), {glue:text}`e36_regret_ring:.1f` ±
# {glue:text}`e36_regret_ring_unc:.1f` % (ring) and {glue:text}`e36_regret_digits:.1f` ±
# {glue:text}`e36_regret_digits_unc:.1f` % (digits; simultaneous 95% intervals). On the 1-D
# mixture the leave-one-out gain at NFE {glue:text}`e36_nfe0` exceeds the one at NFE
# {glue:text}`e36_nfe1` by {glue:text}`e36_shrink:.2f` ± {glue:text}`e36_shrink_unc:.2f`
# (fraction of the baseline metric; paired over seeds). The answers below are computed from
# these numbers. Even where tuning helps, this says that **a** knob of this kind helps on small
# trained models, not that the paper's formula or its AFHQv2 number is reproduced.

# %%
for name, short in [("1-D mixture", "1d"), ("2-D ring", "ring"), ("digits", "digits")]:
    _ = ledger.record(
        f"E3.6a-{short}",
        kind="question",
        paper=PAPER,
        section="s2n-tuning",
        claim=f"Question: does tuning gamma of our placeholder family (deterministic, NFE {nfe0}) "
        f"improve over the gamma = 0 baseline on {name} by more than 1%? (leave-one-seed-out "
        "relative gain)",
        measured=cv[(name, nfe0)].interval,
        expect=at_least(0.01),
        atol=5e-3,  # half the 1% effect size
    )
    _ = ledger.record(
        f"E3.6b-{short}",
        kind="question",
        paper=PAPER,
        section="s2n-tuning",
        claim="Question: does tuning (gamma, delta) of our placeholder family for stochastic "
        f"sampling (rho = 1, NFE 20) improve over (0, 1) on {name} by more than 1%? "
        "(leave-one-seed-out relative gain)",
        measured=cv[(name, "sto")].interval,
        expect=at_least(0.01),
        atol=5e-3,  # half the 1% effect size
    )
for name, short in [("1-D mixture", "1d"), ("2-D ring", "ring"), ("digits", "digits")]:
    _ = ledger.record(
        f"E3.6c-{short}",
        kind="question",
        paper=PAPER,
        section="s2n-tuning",
        claim=f"Question: is the best gamma dataset-specific? On {name} (NFE {nfe0}), the "
        "gamma chosen on each other dataset loses more than 1% against this dataset's own "
        "leave-one-out choice (relative metric; decisive rival).",
        measured=transfer[name].interval,
        expect=at_least(0.01),
        atol=5e-3,  # half the 1% effect size
    )
_ = ledger.record(
    "E3.6d",
    kind="question",
    paper=PAPER,
    section="s2n-tuning",
    claim=f"Question: does the gain from tuning gamma shrink as NFE grows? 1-D exact KL: "
    f"leave-one-out gain at NFE {nfe0} minus that at NFE {nfe1} (paired over seeds) above 1%.",
    measured=shrink,
    expect=at_least(0.01),
    atol=5e-3,  # half the 1% effect size
)

# %% [markdown]
# (s2n-coverage)=
# ## What the paper claims, and what is tested here
#
# Every statement of the paper that we know of (from the third-party summary in the project's
# paper notes, which quotes a few passages, and the paper's abstract as the summary reports it),
# with the claims that test it or the reason it is not tested here. A statement tested only by
# *check* claims is one whose content is an identity: the checks show that our machinery
# satisfies it, not that the paper's own derivation is right.

# %%
ledger.coverage(
    [
        {
            "statement": "A forward SDE for any S2N schedule (alpha_t, sigma_t), consistent with "
            "prior formulations.",
            "source": "summary",
            "ids": ["E3.1a", "E3.1b", "E3.1c"],
        },
        {
            "statement": "A generalized backward SDE with stochasticity rho encompasses existing "
            "inference methods (DDIM, DDPM) as special cases, with the same marginals for "
            "every rho.",
            "source": "summary",
            "ids": ["E3.2a", "E3.2b", "E3.2d", "E3.2e"],
        },
        {
            "statement": "An exact inference formula p_theta(z_s | z_t) = q(z_s | z_t, x-hat) "
            "moves from z_t to any z_s, s < t, but longer step sizes carry more error.",
            "source": "quoted: 'longer step sizes t − s has more errors, hence compromising "
            "the generation performance'",
            "ids": ["E3.3b", "E3.2c"],
        },
        {
            "statement": "The approximate formula, Eq. (7), freezes the noise prediction and is "
            "only sufficiently precise for small steps s = t - dt.",
            "source": "quoted: 'The approximated inference formula in Eq. (7) is only "
            "sufficiently precise when s = t − ∆t'",
            "reason": "the paper's Eq. (7) was not available; section 2 measures the "
            "frozen-eps step at gamma = 0 (our reading) converging at first order (E3.2b), "
            "which does not test the paper's formula",
        },
        {
            "statement": "A non-Markovian continuous variational model, q(z_s | z_t, x), "
            "exactly induces the forward marginals.",
            "source": "summary",
            "ids": ["E3.3a"],
        },
        {
            "statement": "The non-Markovian model has its own backward SDE (Eq. (10)) for "
            "sampling.",
            "source": "summary",
            "reason": "Eq. (10) was not available; we check the kernel and the frozen-x-hat "
            "step that solves the rho-family with a frozen denoiser, not the paper's SDE",
        },
        {
            "statement": "Connections to continuous variational diffusion models through "
            "asymptotic analysis.",
            "source": "summary (abstract)",
            "reason": "the asymptotic analysis was not available; measuring the rate at which "
            "the T-step discrete loss approaches the continuous one is future work",
        },
        {
            "statement": "Schedules with the same SNR endpoints and alpha o lambda^-1 induce "
            "the same forward process in signal-to-noise space.",
            "source": "quoted: proposition on (alpha_1, sigma_1), (alpha_2, sigma_2) with "
            "lambda_1(0) = lambda_2(0), lambda_1(T) = lambda_2(T), alpha_1 o lambda_1^-1 = "
            "alpha_2 o lambda_2^-1",
            "ids": ["E3.4d", "E3.4a", "E3.4b", "E3.4c"],
        },
        {
            "statement": "In signal-to-noise space an information-theoretic view generalizes "
            "previous work: derivatives of mutual information and KL are (mismatched) mmse.",
            "source": "summary",
            "ids": ["E3.5a", "E3.5b", "E3.5c"],
        },
        {
            "statement": "With appropriate hyperparameters (gamma, delta, rho) the parameterized "
            "approximate inference formula improves FID over the baseline samplers, by up to "
            "0.31 on AFHQv2.",
            "source": "summary (abstract)",
            "reason": "needs the paper's Eq. (7), pretrained image models and Inception "
            "features (nothing is downloaded); section 6 asks the analogous questions of our "
            "placeholder family on small trained models (E3.6a, E3.6b), which do not test "
            "the paper's statement",
        },
        {
            "statement": "The FID gains depend on the dataset (dataset-specific tuning).",
            "source": "summary",
            "reason": "as above; E3.6c asks the analogous question of our placeholder family",
        },
    ],
    section="s2n-coverage",
)

# %% [markdown]
# ## Verdicts
#
# The table lists every claim with its kind, its measured value and uncertainty, and the
# verdict computed from it (*supported*, *not reproduced*, *inconclusive*). For a *question*,
# *supported* means the answer is yes, *not reproduced* means no, and *inconclusive* means the
# interval cannot tell at this scale.

# %%
ledger.table()

# %% [markdown]
# ## What we could not check, and why
#
# * **The paper's Eq. (7) itself.** Its $(\gamma,\delta)$ family was not available to us; the
#   tuning questions use our placeholder. The answers of section {ref}`s2n-tuning` are about
#   that placeholder on small trained models, not about the paper's formula.
# * **FID on CIFAR-10, CelebA, AFHQv2** (the reported gain of up to 0.31 on AFHQv2). This needs
#   pretrained image models and Inception features; the book downloads nothing at run time.
#   Digits-FD on 8x8 digits is the closest CPU analogue and is not comparable in scale; its
#   classifier and reference set are the denoisers' training data.
# * **The paper's SDE of the non-Markovian model** (its Eq. (10)) and its asymptotic analysis
#   connecting to continuous variational models: we check the kernel and its marginals, and the
#   frozen-$\hat x$ step that solves the $\rho$-family with a frozen denoiser, not the paper's
#   SDE in its own notation.
# * **The wording of the SNR-space proposition.** The version quoted in the summary also lists
#   a condition on $\sigma\circ\lambda^{-1}$, which follows from the one on
#   $\alpha\circ\lambda^{-1}$ (as $\sigma = \alpha\lambda^{-1/2}$); we test the proposition
#   as stated (E3.4d) and the stronger consequence that only shared SNR values matter in
#   $\tilde x = z/\alpha$ (E3.4a).
