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
# # Foundations: one setting for every chapter
#
# Every chapter of this book checks claims about diffusion models on targets where the truth is
# known exactly. This chapter introduces that setting and checks the machinery itself, so that
# the later chapters can lean on it:
#
# 1. Gaussian-mixture data have closed-form noised densities, scores and denoisers at every
#    noise level; we check them against automatic differentiation.
# 2. All samplers run in one form, the *SNR form* of {cite:t}`kingma2021vdm` and
#    {cite:t}`karras2022edm`; we watch them on an 8-mode ring.
# 3. In one dimension the law of a sampler's output is computable exactly on a grid, so we
#    measure discretization error as an exact KL divergence and read off convergence orders.
# 4. The grid propagation agrees with Monte Carlo.
# 5. The chain rule of KL along a diffusion chain (the backbone of the error decompositions in
#    {cite:t}`jahara2026gmm` and {cite:t}`sun2026signrelu`) holds to quadrature accuracy.
#
# Each check records a claim in the ledger; the verdicts are computed from the measured numbers.

# %% tags=["parameters"]
profile = "ci"  # "ci": minutes on 2 CPU cores; "full": finer grids, more steps and samples
seed = 0
device = "cpu"  # samplers on the ring run here; exact 1-D computations stay in float64 on CPU
n_grid = None  # grid nodes for exact 1-D propagation
n_ring = None  # samples drawn on the 2-D ring
n_mc = None  # Monte Carlo samples for the grid cross-check

# %%
import math

import numpy as np
import pandas as pd
import torch
from myst_nb import glue

from companion import grid as G
from companion import samplers as S
from companion.chains import VPChain, chain_rule_kl, output_kl
from companion.stats import fit_loglog
from companion.conditional_targets import MixtureTarget
from companion.gmm import ConditionalGaussianMixture, GaussianMixture, ring_mixture
from companion.ledger import Ledger, at_most, in_range
from companion.metrics import bootstrap, sliced_w2
from companion.mixture_kernels import (
    context_kernel,
    context_marginal,
    joint_kl_two_steps,
    moment_matched_kernel,
    propagate_chain,
)
from companion.profiles import get_device, resolve, seed_everything
from companion.schedules import (
    EDM,
    VEGeometric,
    VPCosine,
    VPLinear,
    exponential_sigmas,
    karras_sigmas,
)
from companion.style import figure, method_colors, use_style

cfg = resolve(
    profile,
    ci=dict(
        n_grid=3000,
        n_ring=4000,
        n_mc=100_000,
        steps=[8, 12, 16, 24, 32, 48, 64],
        n_boot=200,
        n_chain=241,
    ),
    full=dict(
        n_chain=401,
        n_grid=8000,
        n_ring=40_000,
        n_mc=1_000_000,
        steps=[8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256],
        n_boot=999,
    ),
    n_grid=n_grid,
    n_ring=n_ring,
    n_mc=n_mc,
)
dev = get_device(device)
gen = seed_everything(seed)
use_style()
ledger = Ledger("00_foundations", title="Foundations", profile=profile, seed=seed, device=str(dev))
cfg

# %% [markdown]
# ## The setting: signal-to-noise schedules and the SNR form
#
# A diffusion model noises data $x$ as $z_t = \alpha_t x + \sigma_t \varepsilon$ with
# signal-to-noise ratio $\lambda_t = \alpha_t^2/\sigma_t^2$. Dividing by $\alpha_t$ gives the
# variance-exploding *SNR form*
#
# $$ \tilde x = z_t/\alpha_t = x + \tilde\sigma\,\varepsilon, \qquad \tilde\sigma = \sigma_t/\alpha_t = \lambda_t^{-1/2}. $$
#
# Variance-preserving (DDPM {cite:p}`ho2020ddpm`, cosine), variance-exploding
# {cite:p}`song2021sde` and EDM {cite:p}`karras2022edm` schedules differ only in how fast they
# traverse $\tilde\sigma$: in the SNR form they are the same process. So the package's samplers
# speak only $\tilde\sigma$ (written $\sigma$ from here on, as in k-diffusion), and a schedule is a
# map from time to $\tilde\sigma$. A sampler needs a decreasing grid of noise levels; the two
# standard grids are Karras' polynomial grid ($\rho = 7$) and Song's exponential (log-uniform) grid.

# %%
schedules = [VPLinear(), VPCosine(), VEGeometric(0.01, 50.0), EDM(0.002, 80.0)]
fig, (ax1, ax2) = figure(2, height=2.9)
for sch in schedules:
    t = torch.linspace(
        sch.t_min + 1e-3 * (sch.t_max - sch.t_min), sch.t_max, 400, dtype=torch.float64
    )
    u = (t - sch.t_min) / (sch.t_max - sch.t_min)
    ax1.plot(u, sch.log_snr(t), label=sch.name)
ax1.set(
    xlabel="normalised time $(t - t_{min})/(t_{max} - t_{min})$", ylabel=r"log-SNR $\log\lambda_t$"
)
ax1.legend(fontsize=8)
grids = {
    "Karras, $\\rho=7$": karras_sigmas(18, 0.002, 80.0, zero=False),
    "Karras, $\\rho=3$": karras_sigmas(18, 0.002, 80.0, rho=3.0, zero=False),
    "exponential": exponential_sigmas(18, 0.002, 80.0, zero=False),
}
for name, sig in grids.items():
    ax2.semilogy(range(len(sig)), sig, "o-", ms=3, label=name)
ax2.set(xlabel="step index $i$", ylabel=r"noise level $\tilde\sigma_i$")
ax2.legend(fontsize=8)
glue("fig_schedules", fig, display=False)

# %% [markdown]
# ```{glue:figure} fig_schedules
# :name: fig-schedules
#
# Left: the four schedules as log-SNR against normalised time. Right: 18-level noise grids from
# $\tilde\sigma = 80$ to $0.002$. The polynomial grid spends more steps at low noise as $\rho$
# grows; the exponential grid is its $\rho \to \infty$ limit.
# ```

# %% [markdown]
# ## Closed-form ground truth for Gaussian mixtures
#
# For $x \sim \sum_k w_k \mathcal N(m_k, \mathrm{diag}\, v_k)$ the noised density is again a mixture,
# $p_{\sigma}(\tilde x) = \sum_k w_k \mathcal N(\tilde x; m_k, v_k + \sigma^2)$, and so are the score
# $\nabla \log p_\sigma$, the denoiser $\hat x(\tilde x) = E[x \mid \tilde x] = \tilde x + \sigma^2 \nabla\log p_\sigma$
# (Tweedie) and the posterior covariance $\mathrm{Cov}[x\mid\tilde x] = \sigma^2(I + \sigma^2\nabla^2\log p_\sigma)$.
# The 1-D mixture below is the test target of several chapters; {numref}`fig-noised` shows it at
# several noise levels next to the 8-mode ring used for pictures.

# %%
target = GaussianMixture([0.25, 0.45, 0.3], [[-2.0], [0.3], [2.2]], [0.04, 0.15, 0.08])
ring = ring_mixture(8, radius=2.0, std=0.12)

fig, axes = figure(4, height=2.3)
xs = torch.linspace(-5, 5, 1000, dtype=torch.float64)
for s in [0.0, 0.3, 1.0, 3.0]:
    axes[0].plot(xs, target.prob(xs.unsqueeze(-1), s), label=rf"$\sigma={s:g}$")
axes[0].set(xlabel=r"$\tilde x$", ylabel=r"density $p_\sigma(\tilde x)$", title="1-D mixture")
axes[0].legend(fontsize=7)
u = torch.linspace(-3.5, 3.5, 200, dtype=torch.float64)
X, Y = torch.meshgrid(u, u, indexing="xy")
pts = torch.stack([X.ravel(), Y.ravel()], -1)
for ax, s in zip(axes[1:], [0.0, 0.5, 1.5], strict=True):
    ax.contourf(X, Y, ring.prob(pts, s).reshape(200, 200), levels=20, cmap="mako")
    ax.set(title=rf"ring, $\sigma={s:g}$", xticks=[], yticks=[], aspect="equal")
glue("fig_noised", fig, display=False)

# %% [markdown]
# ```{glue:figure} fig_noised
# :name: fig-noised
#
# Noised densities. Left: the 1-D three-component mixture; its modes merge into one bump
# near $\sigma \approx 1$. Right: the 8-mode ring at three noise levels (darker is lower density).
# ```

# %% [markdown]
# (f-score)=
# ## Check 1: the closed forms agree with automatic differentiation
#
# We differentiate the closed-form log-density with autograd and compare with the closed-form
# score, and take its Hessian to compare with the closed-form posterior covariance, on a 2-D
# mixture with unequal diagonal covariances, at noise levels from $10^{-4}$ to $10^{4}$. Errors
# are relative to the size of the quantity compared.

# %%
g2 = GaussianMixture(
    [0.2, 0.5, 0.3], [[-2.0, 0.5], [1.0, 1.0], [0.5, -1.5]], [[0.3, 0.1], [0.05, 0.2], [0.4, 0.4]]
)
score_err, cov_err = [], []
sigma_levels = np.logspace(-4, 4, 9)
for s in sigma_levels:
    x = (
        g2.mean() + (1.0 + s) * torch.randn(256, 2, dtype=torch.float64, generator=gen)
    ).requires_grad_()
    (auto,) = torch.autograd.grad(g2.log_prob(x, s).sum(), x)
    closed = g2.score(x.detach(), s)
    score_err.append(
        float(((auto - closed).norm(dim=1) / closed.norm(dim=1).clamp_min(1e-300)).max())
    )
    errs = []
    for x1 in x.detach()[:8]:
        hess = torch.autograd.functional.hessian(
            lambda z, s=s: g2.log_prob(z.unsqueeze(0), s)[0], x1
        )
        tweedie2 = s**2 * (torch.eye(2, dtype=torch.float64) + s**2 * hess)
        closed_cov = g2.posterior_cov(x1.unsqueeze(0), s)[0]
        errs.append(float((tweedie2 - closed_cov).norm() / closed_cov.norm()))
    cov_err.append(max(errs))
max_score_err, max_cov_err = max(score_err), max(cov_err)
assert max_score_err < 1e-9 and math.isfinite(max_score_err)
glue("max_score_err", max_score_err, display=False)
glue("max_cov_err", max_cov_err, display=False)
ledger.record(
    "F1",
    paper="foundations",
    claim="closed-form mixture score equals autograd of the log-density, sigma in [1e-4, 1e4]",
    measured=max_score_err,
    expect=at_most(1e-9),
    section="f-score",
    atol=1e-12,
)
ledger.record(
    "F2",
    paper="foundations",
    claim="closed-form posterior covariance equals sigma^2 (I + sigma^2 Hessian log p) (second-order Tweedie)",
    measured=max_cov_err,
    expect=at_most(1e-5),
    section="f-score",
    atol=1e-6,
)
pd.DataFrame(
    {"sigma": sigma_levels, "score rel. error": score_err, "posterior cov rel. error": cov_err}
)

# %% [markdown]
# The largest relative score error is {glue:text}`max_score_err:.1e` and the largest relative
# posterior-covariance error {glue:text}`max_cov_err:.1e`. The covariance check loses a few
# digits at small $\sigma$, where $\sigma^2(I + \sigma^2\nabla^2\log p)$ is a difference of
# nearly equal terms; the closed form itself has no such cancellation.

# %% [markdown]
# (f-ring)=
# ## Check 2: the samplers on an 8-mode ring
#
# The samplers are short functions in the k-diffusion convention: `sample_<name>(denoiser, x, sigmas)`
# with `denoiser(x, sigma)` returning $\hat x$. Each is one *step* iterated over the grid; a step
# returns the Gaussian law of the next state given the current one. With the exact ring denoiser:
# Euler and Heun integrate the probability-flow ODE $d\tilde x/d\sigma = (\tilde x - \hat x)/\sigma$;
# DDIM {cite:p}`song2021ddim` is identical to Euler in this form; DDPM {cite:p}`ho2020ddpm`
# samples the forward posterior; Euler-Maruyama integrates the reverse SDE.

# %%
ring_dev = ring.to(dev)
sig_ring = karras_sigmas(40, 0.002, 80.0, device=dev)
x_init = 80.0 * torch.randn(cfg["n_ring"], 2, dtype=torch.float64, generator=gen).to(dev)
ring_methods = {
    "Euler": (S.sample_euler, {}),
    "Heun": (S.sample_heun, {}),
    "DDPM": (S.sample_ddpm, {}),
    "Euler-Maruyama, $\\rho=1$": (S.sample_euler_maruyama, {"rho": 1.0}),
}
paths, finals = {}, {}
for name, (sampler, opts) in ring_methods.items():
    traj = []
    out = sampler(
        ring_dev.denoise,
        x_init.clone(),
        sig_ring,
        generator=torch.Generator(dev).manual_seed(seed),
        callback=lambda info, traj=traj: traj.append(info["x"][:48].cpu()),
        **opts,
    )
    paths[name], finals[name] = torch.stack(traj), out.cpu()

fig, axes = figure(4, height=2.2)
for ax, (name, path) in zip(axes, paths.items(), strict=True):
    ax.contour(X, Y, ring.prob(pts, 0.0).reshape(200, 200), levels=4, colors="0.6", linewidths=0.6)
    for j in range(path.shape[1]):
        ax.plot(path[5:, j, 0], path[5:, j, 1], lw=0.6, alpha=0.7)
    ax.plot(finals[name][:1500, 0], finals[name][:1500, 1], ".", ms=1, color="k", alpha=0.4)
    ax.set(title=name, xlim=(-3.5, 3.5), ylim=(-3.5, 3.5), xticks=[], yticks=[], aspect="equal")
glue("fig_ring", fig, display=False)

exact = ring.sample(cfg["n_ring"], gen)
exact2 = ring.sample(cfg["n_ring"], gen)
sw = {
    name: bootstrap(
        lambda a, b: sliced_w2(a, b, 64, torch.Generator().manual_seed(seed)),
        out,
        exact,
        n_resamples=cfg["n_boot"],
        seed=seed,
    )
    for name, out in finals.items()
}
sw["exact samples (noise floor)"] = bootstrap(
    lambda a, b: sliced_w2(a, b, 64, torch.Generator().manual_seed(seed)),
    exact2,
    exact,
    n_resamples=cfg["n_boot"],
    seed=seed,
)
sw_table = pd.DataFrame(
    {
        "sliced W2": {k: v.value for k, v in sw.items()},
        "± (95% bootstrap)": {k: v.half_width for k, v in sw.items()},
    }
)
coarse = S.sample_heun(
    ring_dev.denoise, x_init.clone(), karras_sigmas(4, 0.002, 80.0, device=dev)
).cpu()
coarse_sw = sliced_w2(coarse, exact, 64, torch.Generator().manual_seed(seed))
glue("coarse_sw", coarse_sw, display=False)
heun_sw, floor_sw = sw["Heun"], sw["exact samples (noise floor)"]
ratio = heun_sw.value / floor_sw.value
ratio_err = ratio * math.hypot(
    heun_sw.half_width / heun_sw.value, floor_sw.half_width / floor_sw.value
)
ledger.record(
    "F3",
    paper="foundations",
    claim="Heun, 40 Karras steps, exact denoiser: sliced W2 to exact ring samples is within 2x the "
    "noise floor of two exact sample sets",
    measured=ratio,
    uncertainty=ratio_err,
    uncertainty_kind="95% bootstrap, propagated",
    expect=at_most(2.0),
    section="f-ring",
    rtol=0.5,
    atol=0.5,
)
glue("heun_sw", heun_sw.value, display=False)
glue("floor_sw", floor_sw.value, display=False)
sw_table

# %% [markdown]
# ```{glue:figure} fig_ring
# :name: fig-ring
#
# Trajectories of 48 particles (coloured lines, from $\tilde\sigma \approx 20$ down) and final
# samples (black dots) of four samplers with the exact denoiser, 40 Karras steps. The ODE
# samplers move particles along smooth paths that commit to a mode early; the stochastic
# samplers jitter until late.
# ```
#
# All four samplers land on the ring. The sliced Wasserstein-2 distance between Heun's samples and
# fresh exact samples is {glue:text}`heun_sw:.3f`, against {glue:text}`floor_sw:.3f` between two
# exact sample sets of the same size: at this sample size a distance of that order is pure
# sampling noise. (A sampler that is visibly wrong is far away: Heun with only 4 noise levels gives
# {glue:text}`coarse_sw:.2f`.)

# %% [markdown]
# (f-orders)=
# ## Check 3: exact KL against the number of steps
#
# In one dimension every step's law is $\mathcal N(\mu(x), s^2)$ with $s$ independent of the state.
# {mod}`companion.grid` pushes the density through $\mu$ (by interpolating its CDF) and convolves
# with $\mathcal N(0, s^2)$ (exactly, for the piecewise-linear interpolant). The output density of a
# whole run is then known to quadrature accuracy, and its KL divergence from the target is an
# exact number rather than a Monte Carlo estimate.
#
# We start at $\tilde\sigma_{\max} = 40$ from the exact noised target and stop at
# $\tilde\sigma_{\min} = 0.01$, comparing with the exact $p_{\sigma_{\min}}$: only discretization error
# remains. A sampler of weak order $p$ has an output error of order $N^{-p}$ and a KL of order
# $N^{-2p}$, so we report $p = -\tfrac12\,$slope of $\log \mathrm{KL}$ against $\log N$.

# %%
smin, smax = 0.01, 40.0
prior = G.GridDensity.from_function(
    lambda z: target.prob(z.unsqueeze(-1), smax), -12 * smax, 12 * smax, cfg["n_grid"]
)
xq = torch.linspace(-5.0, 5.5, 20_001, dtype=torch.float64)
p_min = lambda z: target.prob(z.unsqueeze(-1), smin)  # noqa: E731
order_methods = {"euler": {}, "heun": {}, "ddim": {"eta": 0.0}, "ddpm": {}}
kl_rows = []
outputs = {}
for name, opts in order_methods.items():
    for n in cfg["steps"]:
        sig = karras_sigmas(n + 1, smin, smax, zero=False)
        out = G.propagate(
            S.STEPS[name], target.denoise, sig, prior=prior, n_points=cfg["n_grid"], **opts
        )
        kl = G.kl_divergence(p_min, out, xq)
        kl_rows.append({"sampler": name, "steps": n, "KL": kl.value, "quadrature error": kl.error})
        outputs[name, n] = out
kl_df = pd.DataFrame(kl_rows)

fits = {}
fig, ax = figure(1, height=3.2)
colors = method_colors(list(order_methods))
for name in order_methods:
    sub = kl_df[kl_df.sampler == name]
    fit = fit_loglog(sub.steps.to_numpy()[1:], sub.KL.to_numpy()[1:])
    fits[name] = fit
    ax.loglog(
        sub.steps,
        sub.KL,
        "o-" if name != "ddim" else "x--",
        color=colors[name],
        label=f"{name}: order {-fit.slope / 2:.2f} ± {fit.ci95 / 2:.2f}",
    )
ax.set(xlabel="number of steps $N$", ylabel=r"KL$(p_{\sigma_{min}} \,\|\, \hat p_N)$ (nats)")
ax.legend(fontsize=8)
glue("fig_orders", fig, display=False)

particles0 = 40.0 * torch.randn(10_000, 1, dtype=torch.float64, generator=gen)
sig_id = karras_sigmas(cfg["steps"][-1] + 1, smin, smax, zero=False)
ddim_euler_gap = float(
    (
        S.sample_ddim(target.denoise, particles0, sig_id, eta=0.0)
        - S.sample_euler(target.denoise, particles0, sig_id)
    )
    .abs()
    .max()
)
expected_order = {"euler": (0.8, 1.2), "heun": (1.7, 2.3), "ddpm": (0.8, 1.2)}
for cid, name in zip(["F4", "F5", "F6"], ["euler", "heun", "ddpm"], strict=True):
    fit = fits[name]
    lo, hi = expected_order[name]
    ledger.record(
        cid,
        paper="foundations",
        claim=f"{name} with the exact denoiser converges with weak order in [{lo}, {hi}] (exact 1-D KL)",
        measured=-fit.slope / 2,
        uncertainty=fit.ci95 / 2,
        uncertainty_kind="95% CI of the log-log fit",
        expect=in_range(lo, hi),
        section="f-orders",
        rtol=1e-4,
        atol=1e-6,
    )
    glue(f"order_{name}", -fit.slope / 2, display=False)
ledger.record(
    "F7",
    paper="foundations",
    claim="DDIM (eta = 0) equals Euler in the SNR form (max difference of 10k trajectories)",
    measured=ddim_euler_gap,
    expect=at_most(1e-10),
    section="f-orders",
    atol=1e-10,
)
glue("ddim_euler_gap", ddim_euler_gap, display=False)
kl_df.pivot(index="steps", columns="sampler", values="KL")

# %% [markdown]
# ```{glue:figure} fig_orders
# :name: fig-orders
#
# Exact KL divergence between the target at $\tilde\sigma_{\min}$ and each sampler's output
# against the number of Karras steps, with weak orders fitted on all but the coarsest grid
# (95% intervals of the slope). DDIM (crosses) lies on Euler.
# ```
#
# Measured orders: Euler {glue:text}`order_euler:.2f`, Heun {glue:text}`order_heun:.2f`, DDPM
# {glue:text}`order_ddpm:.2f`: first order for Euler, DDIM and DDPM, second order for Heun, as
# expected. DDIM with $\eta = 0$ and Euler, run on the same 10,000 starting points, end within
# {glue:text}`ddim_euler_gap:.1e` of each other: in the SNR form they are the same update, up to
# round-off. The quadrature errors in the table's source are below
# $10^{-6}$ of the KL values, so the fitted orders measure the samplers, not the grid.

# %% [markdown]
# (f-grid-mc)=
# ## Check 4: the grid propagation agrees with Monte Carlo
#
# An independent check of the propagation: run DDPM (20 steps, from the prior $\mathcal N(0, \sigma_{\max}^2)$
# to $\sigma = 0$) on many particles and compare their empirical CDF with the grid's CDF. The
# Kolmogorov-Smirnov statistic should be at the level of sampling noise, $1.36/\sqrt{n}$ at 95%.

# %%
sig_mc = karras_sigmas(20, 0.002, 80.0)
d_mc = G.propagate(S.ddpm_step, target.denoise, sig_mc, n_points=cfg["n_grid"])
particles = S.sample_ddpm(
    target.denoise,
    80.0 * torch.randn(cfg["n_mc"], 1, dtype=torch.float64, generator=gen),
    sig_mc,
    generator=gen,
)[:, 0]
sorted_p, _ = torch.sort(particles)
cdf_grid = torch.cumsum(d_mc.p, 0) * d_mc.h
grid_at = np.interp(sorted_p.numpy(), (d_mc.x + 0.5 * d_mc.h).numpy(), cdf_grid.numpy())
n = cfg["n_mc"]
emp_hi = np.arange(1, n + 1) / n
ks = float(np.max(np.maximum(np.abs(emp_hi - grid_at), np.abs(emp_hi - 1 / n - grid_at))))
ks_crit = 1.36 / math.sqrt(n)
ledger.record(
    "F8",
    paper="foundations",
    claim="grid propagation of DDPM matches Monte Carlo (KS statistic below the 95% critical value)",
    measured=ks,
    expect=at_most(ks_crit),
    section="f-grid-mc",
    rtol=0.5,
    atol=1e-3,
)
glue("ks", ks, display=False)
glue("ks_crit", ks_crit, display=False)

fig, ax = figure(1, height=2.6)
ax.hist(particles.numpy(), bins=200, density=True, alpha=0.4, label=f"DDPM particles (n = {n:,})")
ax.plot(d_mc.x, d_mc.p, color="k", lw=1.2, label="exact output density (grid)")
ax.plot(xq, target.prob(xq.unsqueeze(-1)), "--", lw=1.0, label="target $p_0$")
ax.set(xlim=(-4, 4.5), xlabel=r"$x$", ylabel="density")
ax.legend(fontsize=8)
glue("fig_grid_mc", fig, display=False)

# %% [markdown]
# ```{glue:figure} fig_grid_mc
# :name: fig-grid-mc
#
# DDPM with 20 steps: histogram of particles against the exact output density from the grid,
# and the target. With this few steps DDPM visibly smooths the modes; the grid captures
# exactly that smoothing.
# ```
#
# KS statistic {glue:text}`ks:.4f` against the 95% critical value {glue:text}`ks_crit:.4f`.

# %% [markdown]
# (f-chain)=
# ## Check 5: the chain rule of KL along a DDPM chain
#
# Take a discrete variance-preserving chain $z_t = a_t z_{t-1} + b_t \xi_t$ ($a_t^2 + b_t^2 = 1$) of
# $T = 2$ steps from the mixture, and a model chain that starts from $\mathcal N(0, 1)$ and uses, at each
# step, the best single Gaussian reverse kernel (the moments of the true reverse kernel, which is
# what a DDPM with a perfect network and learned variances would use). The chain rule of KL says
#
# $$ \mathrm{KL}(q(z_{0:T}) \,\|\, p(z_{0:T})) = \mathrm{KL}(q(z_T)\,\|\,p(z_T))
#    + \sum_{t=1}^{T} E_{q(z_t)}\,\mathrm{KL}(q(z_{t-1}\mid z_t)\,\|\,p(z_{t-1}\mid z_t)), $$
#
# and the output KL $\mathrm{KL}(q(z_0)\,\|\,p(z_0))$ is at most this path KL. We compute the right side
# term by term (2-D quadrature per step) and the left side directly on a 3-D grid, which never
# uses the true reverse kernels; the output density comes from exact propagation. The functions
# live in {mod}`companion.mixture_kernels`, which the mixture-kernel chapter uses at scale.

# %%
w, m, v = target.weights, target.means[:, 0], target.variances[:, 0]
as_conditional = ConditionalGaussianMixture(
    lambda c: w.expand(c.shape[0], -1),
    lambda c: m.expand(c.shape[0], -1).unsqueeze(-1),
    lambda c: v.expand(c.shape[0], -1).unsqueeze(-1),
)
chain_target = MixtureTarget(as_conditional)
chain = VPChain.uniform(2, total_noise=2.0)
kernel = moment_matched_kernel(chain_target, chain)
zg = torch.linspace(-6.0, 6.0, cfg["n_chain"], dtype=torch.float64)
terminal, per_step = chain_rule_kl(
    chain, context_marginal(chain_target, 0.0), context_kernel(kernel, 0.0), zg
)
chain_sum = terminal + sum(per_step)
joint = joint_kl_two_steps(chain_target, chain, kernel, 0.0, zg, zg)
out_kl = output_kl(
    context_marginal(chain_target, 0.0), propagate_chain(chain, kernel, 0.0, zg)
).value
gap = abs(chain_sum - joint)
assert gap < 1e-8
assert per_step[0] > 0.9 * sum(per_step)  # the prose below says the first step dominates
ledger.record(
    "F9",
    paper="foundations",
    claim="chain rule: terminal KL + per-step kernel KLs equals the joint path KL (T = 2, 3-D quadrature)",
    measured=gap,
    expect=at_most(1e-8),
    section="f-chain",
    atol=1e-8,
)
ledger.record(
    "F10",
    paper="foundations",
    claim="output KL is at most the path KL (output minus path)",
    measured=out_kl - chain_sum,
    expect=at_most(0.0),
    section="f-chain",
    atol=1e-8,
)
for key, val in dict(
    terminal=terminal,
    step1=per_step[0],
    step2=per_step[1],
    chain_sum=chain_sum,
    joint=joint,
    out_kl=out_kl,
    gap=gap,
).items():
    glue(f"chain_{key}", val, display=False)
pd.DataFrame(
    {"nats": [terminal, per_step[1], per_step[0], chain_sum, joint, out_kl]},
    index=[
        "terminal KL(q(z_2) || N(0,1))",
        "step t = 2",
        "step t = 1",
        "chain-rule sum",
        "joint KL on the 3-D grid",
        "output KL(q(z_0) || p(z_0))",
    ],
)

# %% [markdown]
# The chain-rule sum {glue:text}`chain_chain_sum:.6f` and the directly integrated joint KL
# {glue:text}`chain_joint:.6f` agree to {glue:text}`chain_gap:.1e` nats. The first step, where the
# data are still multimodal, carries almost all the path KL ({glue:text}`chain_step1:.4f` nats): a
# single Gaussian cannot represent a reverse kernel that is itself a three-component mixture.
# The output KL {glue:text}`chain_out_kl:.4f` is below the path KL, as it must be.
#
# ## Verdicts

# %%
ledger.table()
