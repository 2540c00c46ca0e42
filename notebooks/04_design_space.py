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
# # Evaluating the design space of diffusion models
#
# {cite:t}`wang2024design` give an error analysis of the *whole* pipeline of a diffusion model,
# training and sampling together, and use it to discuss design choices. In plain words the
# paper states that:
#
# 1. **Training (Theorem 1).** Gradient descent on the weighted denoising score matching (DSM)
#    loss of a deep ReLU network converges **exponentially to a neighbourhood** of a minimizer.
# 2. **Sampling (Theorem 2).** For variance-exploding (VE) models the KL divergence between the
#    (slightly noised) data and the sampler's output is bounded by three terms,
#    $E_I + E_D + E_S$: initialization, discretization and score error.
# 3. **Both together (Theorem 3).** In the summary's words, combining the two analyses gives
#    "end-to-end generation error bounds that reveal the theoretical justification for
#    bell-shaped weighting in training" (as in EDM {cite:p}`karras2022edm`) "and provide
#    practical guidance on choosing time/variance schedules": "polynomial schedules are
#    preferable when score error dominates, while exponential schedules are better when
#    sampling error dominates". As paraphrased in our notes of the arXiv v4 abstract: **the
#    exponential schedule of Song et al. {cite:p}`song2021sde` when the score is well trained,
#    the polynomial schedule of Karras et al. ($\rho=7$) when it is less trained** (the v1
#    abstract only said that Karras's schedule "could be better tuned").
#
# The material we had on the paper (abstract, introduction, summaries) reports no experiments.
# This chapter is a first empirical check of these predictions
# on targets where every error term is computable: one-dimensional Gaussian mixtures, where the
# output density of a sampler is propagated *exactly* on a grid, and a 2-D ring for sample-based
# metrics.
#
# **What is the paper's and what is ours.** We had the abstract (v1 and v4), the opening of the
# introduction, a third-party summary and secondary digests, not the theorem statements. The
# *forms* of $E_I$, $E_D$ and $E_S$ below, the weighting profiles and the controlled
# score-error model are **our reconstructions**, consistent with the stated claims but not
# quotations. Each recorded claim says what it is: `paper` (a statement of the paper, from the
# summary or the abstract, in quotes where the wording is theirs), `derived` (a prediction of our reconstruction), `check` (a property of the
# machinery) or `question` (an exploratory question of ours). We test the qualitative
# predictions, never the bounds' constants.

# %% tags=["parameters"]
profile = "ci"  # "ci": the fast profile (runtime_s in the results); "full": the reference sizes
seed = 0
device = "cpu"  # exact computations stay in float64 on CPU; small networks train on `device`
gd_widths = None  # E4.1: [width trained by GD, a wider one for the kernel-trace check]
gd_steps = None  # GD iterations (E4.1)
n_seeds = None  # training seeds and random error fields (E4.3)
checkpoints = None  # Adam steps at which E4.3 evaluates the network
preset_steps = None  # Adam steps per training design (E4.4)

# %% tags=["hide-input"]
import re

import numpy as np
import pandas as pd
import torch
from matplotlib.ticker import NullFormatter, ScalarFormatter
from myst_nb import glue

from companion import design_space as ds
from companion import ntk, stats
from companion.gmm import GaussianMixture, ring_mixture
from companion.grid import GridDensity, propagate
from companion.ledger import Ledger, at_least, at_most, close_to, in_range
from companion.metrics import sliced_w2
from companion.profiles import get_device, resolve, seed_everything
from companion.samplers import sample_ve_exponential, ve_exponential_step
from companion.stats import fit_loglog
from companion.style import PALETTE, figure, use_style
from companion.training import lognormal

cfg = resolve(
    profile,
    ci=dict(
        gd_widths=[512, 4096],  # E4.1: GD at the first width; the trace check also at the second
        gd_steps=1000,
        gd_seeds=5,
        n_seeds=5,
        n_list=[10, 14, 20, 28, 40, 57, 80],
        smax_list=[2.0, 4.0, 8.0, 16.0, 32.0, 64.0],
        n_init=60,
        checkpoints=[100, 300, 1000],
        kl_steps=[18, 35],
        e_list=[0.1, 0.3],
        extra_max_step=300,  # E4.3: the extra targets' networks train to 300 steps in ci
        xo_n=[18, 35, 80],  # E4.3 crossover sweep: step counts, random fields, e grid points
        xo_fields=24,
        xo_e=41,
        preset_steps=300,  # E4.4: small budget so that the ci profile stays within its runtime
        preset_seeds=5,
        pm_offsets=[-3.6, -1.8, 0.0, 1.8, 3.6],  # E4.4 sweep: P_mean - log sigma_d
        pm_steps=200,
        pm_seeds=5,
        ring_and_long=False,  # E4.4c (ring) and E4.4e (3x budget): only `full` can decide them
        n_ring=2000,
        n_grid=1500,
        target_grid=1500,  # Test 3 (exact score on four targets) and E4.5b: grid nodes
    ),
    full=dict(
        gd_widths=[2048, 16384],
        gd_steps=2000,
        gd_seeds=8,
        n_seeds=8,
        n_list=[10, 20, 40, 80, 160, 320],
        smax_list=[2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0],
        n_init=200,
        checkpoints=[100, 300, 1000, 3000, 10000],
        kl_steps=[18, 35, 79],
        e_list=[0.03, 0.1, 0.3, 1.0],
        extra_max_step=3000,
        xo_n=[18, 35, 80, 160],
        xo_fields=64,
        xo_e=81,
        preset_steps=3000,
        preset_seeds=8,
        pm_offsets=[-3.6, -2.4, -1.2, 0.0, 1.2, 2.4, 3.6],
        pm_steps=1000,
        pm_seeds=8,
        ring_and_long=True,
        n_ring=5000,
        n_grid=2500,
        target_grid=10000,  # the narrow mixture's Delta-KL at N = 320 needs the finer grid
    ),
    gd_widths=gd_widths,
    gd_steps=gd_steps,
    n_seeds=n_seeds,
    checkpoints=checkpoints,
    preset_steps=preset_steps,
)
dev = get_device(device)
gen = seed_everything(seed)
torch.set_num_threads(1)  # tiny tensors: one thread is fastest and avoids spin-waiting
use_style()
ledger = Ledger(
    "04_design_space",
    title="Evaluating the design space of diffusion models",
    profile=profile,
    seed=seed,
    device=str(dev),
)
PAPER = "2406.12839"
SEEDS = [seed + i for i in range(cfg["n_seeds"])]
GD_SEEDS = [seed + i for i in range(cfg["gd_seeds"])]
PRESET_SEEDS = [seed + i for i in range(cfg["preset_seeds"])]
N_GRID, N_FINE = cfg["n_grid"], 2 * cfg["n_grid"]  # grid nodes, and doubled for refinement
T_GRID, T_FINE = cfg["target_grid"], 2 * cfg["target_grid"]  # the same for Test 3's targets
SUMMARY = "summary: "  # source prefix: the third-party summary in shared/papers


def reg_tol(iv):
    """Regression tolerance of a seed-based claim: a quarter of its effect or of its 95%
    half-width, whichever is smaller (never wider than the effect the claim guards)."""
    return dict(rtol=0.0, atol=0.25 * min(abs(float(iv.value)), iv.half_width))


def glue_verdicts(n):
    for c in ledger.claims[-n:]:
        glue("v_" + c["id"].replace(".", ""), c["verdict"], display=False)


# %% [markdown]
# ## Setting
#
# We work in the VE (SNR) form of the book: $\tilde x = x + \sigma\varepsilon$, with score
# $\nabla\log p_\sigma$ and denoiser $D(\tilde x,\sigma) = \tilde x + \sigma^2\nabla\log
# p_\sigma(\tilde x)$. A score error of size $\delta$ in "$\varepsilon$ units" means
# $\sigma\,\|s_\theta - \nabla\log p_\sigma\| = \delta$, i.e. $\|D_\theta - D^*\| = \sigma\delta$.
#
# Our reconstruction assumes that the sampler of Theorem 2 is the exponential integrator of the
# VE reverse SDE on a grid
# $\sigma_0=\sigma_{\max}>\dots>\sigma_{N-1}=\sigma_{\min}$, started from
# $\mathcal N(0,\sigma_{\max}^2)$ and stopped early at $\sigma_{\min}$:
#
# $$x_{k+1} = x_k + (\sigma_k^2-\sigma_{k+1}^2)\,s_\theta(x_k,\sigma_k)
#   + \sqrt{\sigma_k^2-\sigma_{k+1}^2}\;\xi_k .$$
#
# Its target is the slightly noised data law $p_{\sigma_{\min}}$. The two schedules compared are
# the **exponential** grid $\sigma_k = \sigma_{\max}(\sigma_{\min}/\sigma_{\max})^{k/(N-1)}$ (Song)
# and the **polynomial** grid $\sigma_k = (\sigma_{\max}^{1/\rho} + \tfrac{k}{N-1}(\sigma_{\min}^{1/\rho}
# -\sigma_{\max}^{1/\rho}))^\rho$ (Karras, $\rho=7$), over EDM's range
# $[\sigma_{\min},\sigma_{\max}] = [0.002, 80]$, a ratio of $4\cdot10^4$.
#
# **Bound proxies (our reconstruction of the form of Theorem 2).** With $m_2 = E\|x\|^2$,
#
# $$E_I = \frac{m_2 + d}{\sigma_{\max}^2},\qquad
#   E_D = d\sum_k\Big(\frac{\sigma_k^2-\sigma_{k+1}^2}{\sigma_{k+1}^2}\Big)^2,\qquad
#   E_S = \sum_k\Big(1-\frac{\sigma_{k+1}^2}{\sigma_k^2}\Big)\,e(\sigma_k)^2,$$
#
# where $e(\sigma)$ is the RMS score error at level $\sigma$ in $\varepsilon$ units
# (`companion.design_space.bound_initialization`, `bound_discretization`, `bound_score`). For the
# exponential grid with $L=\log(\sigma_{\max}/\sigma_{\min})$, $E_D/d\approx 4L^2/N$; for the
# polynomial grid $E_D/d\approx 4\rho^2\big((\sigma_{\max}/\sigma_{\min})^{1/\rho}-2+(\sigma_{\min}
# /\sigma_{\max})^{1/\rho}\big)/N$. At $N=35$ these give $N E_D/d=$ {glue:text}`ned_exp:.0f`
# (exponential; asymptote $4L^2=$ {glue:text}`ned_exp_asym:.0f`) and {glue:text}`ned_poly:.0f`
# ($\rho=7$; asymptote {glue:text}`ned_poly_asym:.0f`; the asymptotic forms hold for large
# $N$): the reconstruction favours the exponential grid on discretization.
#
# For an error of constant size $e$, $E_S = e^2\sum_k(1-e^{-2\ell_k})$ with log-steps $\ell_k$
# summing to $L$. To leading order in the steps, $1-e^{-2\ell}\approx 2\ell$ and
# $E_S\approx 2Le^2$ **for every grid**: the reconstructed bound makes no leading-order
# prediction about the schedule for an error of uniform size. The concavity of
# $1-e^{-2\ell}$ corrects this at finite $N$: for fixed $\sum_k\ell_k = L$ the sum
# $\sum_k(1-e^{-2\ell_k})$ is largest for equal log-steps, so the exponential grid has the
# larger $E_S$ (at $N=35$, $E_S^{\exp}/E_S^{\rho=7}=$ {glue:text}`es_unif_ratio:.3f` for a
# uniform error). With $E_D$ favouring the exponential grid and $E_S$ the polynomial one, the
# reconstructed bound predicts a crossover: $\rho=7$ has the smaller bound above an error level
# $e^*$ that depends on $N$ and on *how the error varies with $\sigma$* (E4.3, Test 4); the
# reconstruction does not say which error profile a trained network has.
#
# The 1-D data are a two-component mixture with non-zero mean (so that the initial KL decays
# like $\sigma_{\max}^{-2}$, not faster), with component variances 0.05 and 0.2.

# %%
gmm = GaussianMixture([0.3, 0.7], [[-1.0], [1.5]], [0.05, 0.2])
SMIN, SMAX = 0.002, 80.0
m2 = float(gmm.weights @ (gmm.means[:, 0] ** 2 + gmm.variances[:, 0]))
L_range, rho = float(np.log(SMAX / SMIN)), 7.0
s_exp35, s_poly35 = ds.schedule_sigmas(35, SMIN, SMAX), ds.schedule_sigmas(35, SMIN, SMAX, rho)
q = (SMAX / SMIN) ** (1 / rho)
glue("ned_exp", 35 * ds.bound_discretization(s_exp35), display=False)
glue("ned_poly", 35 * ds.bound_discretization(s_poly35), display=False)
glue("ned_exp_asym", 4 * L_range**2, display=False)
glue("ned_poly_asym", 4 * rho**2 * (q - 2 + 1 / q), display=False)
glue(
    "es_unif_ratio",
    ds.bound_score(s_exp35, torch.ones(34)) / ds.bound_score(s_poly35, torch.ones(34)),
    display=False,
)
glue("m2", m2, display=False)
glue("data_mean", float(gmm.mean()[0]), display=False)

# %% [markdown]
# The data have mean {glue:text}`data_mean:.2f` and second moment $m_2=${glue:text}`m2:.3g`.
#
# (ds-gd)=
# ## E4.1 Gradient descent on the empirical DSM loss (Theorem 1)
#
# **The paper's claim.** With $n$ data points, $N$ noise levels and noise draws $\xi_{ij}$
# fixed once, the empirical loss
#
# $$\bar L(\theta) = \frac1{nN}\sum_{i,j}\omega(\sigma_j)\,\big\|F_\theta(x_i+\sigma_j\xi_{ij},
#   \sigma_j) - \xi_{ij}\big\|^2\qquad(s_\theta = -F_\theta/\sigma)$$
#
# decreases exponentially under full-batch gradient descent, into a neighbourhood of a
# minimizer, for sufficiently wide ReLU networks under the theorem's assumptions on
# initialisation and step size. The theorem's rate factor is not available to us.
#
# **What we test: the linearised (neural tangent kernel) prediction of the rate (our
# derivation, the standard NTK argument).** Write $r = F_\theta - \xi$ for the residual
# (one entry per point and level), $W=\mathrm{diag}(\omega_j)$, $J=\partial F/\partial\theta$
# and $K = JJ^\top$ for the empirical NTK. Since $\nabla_\theta\bar L = \tfrac{2}{nN}J^\top W r$,
# a GD step of size $h$ moves the weighted residual $u = W^{1/2}r$ by
#
# $$u_{k+1} = (I - hA)\,u_k + O(\|\Delta\theta\|^2),\qquad A = \tfrac{2}{nN}\,W^{1/2}KW^{1/2}.$$
#
# If $K$ stays at its value at initialisation (the lazy regime of wide networks in the NTK
# parameterisation), the coefficient $c_{k,i}$ of $u_k$ on the $i$-th eigenvector of $A_0$
# decays exactly as $(1-h\lambda_i)^k$ and $\bar L_k = \frac1{nN}\sum_i c_{0,i}^2
# (1-h\lambda_i)^{2k}$: a geometric decay whose late rate per step is
# $2\log(1-h\lambda_{\rm rel})$, where $\lambda_{\rm rel}$ is the smallest eigenvalue whose
# mode carries the initial residual (a fraction at least $10^{-10}$ of its energy, fixed in
# advance) and takes over the decay before round-off does. The weighting $\omega$ enters only through $W$, so the *weighted* kernel predicts
# how the rate changes with the weighting. We take $h = 1/\lambda_{\max}(A_0)$.
#
# **Setting** (`companion.ntk`). A ReLU network with one hidden layer of width
# {glue:text}`gd_width` in the NTK parameterisation (weights $\mathcal N(0,1)$, each layer's
# output scaled by $1/\sqrt{\text{fan-in}}$, no biases), whose input is a fixed random
# Fourier-feature embedding (64 features, length 0.1) of $(c_{\rm in}\tilde x, \log\sigma)$;
# $n=4$ points of the chapter's mixture and $N=3$ levels ($\rho=7$ grid on $[0.2, 5]$), one
# noise draw each. The network has {glue:text}`gd_params` parameters for $nN=12$ fitted values:
# the interpolation regime, where $\min\bar L=0$ and the loss itself decays. Everything is in
# float64 and the spectrum of $A_0$ is an exact eigendecomposition of a $12\times12$ matrix.
# The embedding is there for the budget: on the raw two-dimensional inputs the same network's
# kernel (flat weighting) has a condition number of {glue:text}`gd_cond_raw_lo:.2g` to
# {glue:text}`gd_cond_raw_hi:.2g` over the seeds, so its slow modes would need about that many
# steps per e-fold; on the embedded inputs it is {glue:text}`gd_cond_lo:.0f` to {glue:text}`gd_cond_hi:.0f`
# (over the weightings and seeds). Seeds are {glue:text}`gd_nseeds` initialisations (same data
# and noise draws). Before training, from the initial residual and kernel alone, we fix the
# relevant mode and the window where the *predicted* loss decays at that mode's rate to within
# 1% and is above $10^{-24}$ of its start (clear of round-off): the relevant mode is the
# slowest one, of those carrying the residual, that has such a window of at least 5 steps
# within the run (`companion.ntk.rate_test`). The measured rate is the least-squares slope of
# $\log\bar L_k$ over that window. Criterion: measured/predicted within 10% of 1 (an
# effect size: a step or kernel convention off by a factor of 2 gives 0.5 or 2).

# %% tags=["hide-input"]
gd_data = gmm.sample(4, torch.Generator().manual_seed(seed))
gd_levels = ds.schedule_sigmas(3, 0.2, 5.0, rho=7.0)
SD_GMM = float(gmm.covariance()[0, 0]) ** 0.5
GD_W, GD_W2 = cfg["gd_widths"]
gd_runs, gd_rows = {}, []
for p in ds.EPS_PROFILES:
    prob = ntk.dsm_problem(
        gd_data, gd_levels, ds.EPS_PROFILES[p](gd_levels), sigma_data=SD_GMM, seed=seed
    )
    if p == "flat":  # the same network on the raw inputs (c_in x, log sigma), for comparison
        k_raw = ntk.NTKEnsemble(2, 1, GD_W, depth=1, beta=0.0, seeds=GD_SEEDS).ntk(prob.z)
        lam_raw = [ntk.loss_kernel(k_, prob.omega, prob.z.shape[0])[1] for k_ in k_raw]
        cond_raw = [float(v[-1] / v[0]) for v in lam_raw]
    prob = ntk.DSMProblem(ntk.fourier_embedding(prob.z, 64, 0.1, seed), prob.xi, prob.omega)
    ens = ntk.NTKEnsemble(64, 1, GD_W, depth=1, beta=0.0, seeds=GD_SEEDS)
    k0 = ens.ntk(prob.z)  # the kernel at initialisation, for the eigenvectors
    res = ntk.gd_lazy(ens, prob, cfg["gd_steps"], c=1.0, record_every=5)
    gd_runs[p] = res
    omega_lv = ds.EPS_PROFILES[p](gd_levels)
    for j, s in enumerate(GD_SEEDS):
        rt = ntk.rate_test(res, j)
        lam = res.eigenvalues[j]
        v_rel = ntk.loss_kernel(k0[j], prob.omega, prob.z.shape[0])[2][:, rt.mode]
        share = (v_rel**2).reshape(len(gd_levels), -1).sum(1)  # rows are level-major
        gd_rows.append(
            dict(
                weighting=p,
                seed=s,
                cond=lam[-1] / lam[0],
                rel_mode=rt.mode,
                h_lambda_rel=res.h[j] * rt.eigenvalue,
                predicted=rt.predicted,
                measured=rt.measured,
                ratio=rt.ratio,
                window=f"{rt.window[0]}-{rt.window[-1]}",
                orders_fallen=float(np.log10(res.losses[j, 0] / res.losses[j, -1])),
                kernel_change=res.kernel_change[j],
                least_weighted_share=float(share[int(torch.argmin(omega_lv))])
                if float(omega_lv.max() / omega_lv.min()) > 1.5
                else np.nan,
            )
        )
    if p == "flat":  # width check: kernel trace at initialisation on the same inputs, two widths
        tr = [
            ntk.NTKEnsemble(64, 1, w, depth=1, beta=0.0, seeds=GD_SEEDS)
            .ntk(prob.z)
            .diagonal(dim1=1, dim2=2)
            .sum(-1)
            .numpy()
            for w in (GD_W, GD_W2)
        ]
gd = pd.DataFrame(gd_rows)
gd.groupby("weighting", sort=False)[
    ["cond", "h_lambda_rel", "predicted", "measured", "ratio", "orders_fallen", "kernel_change"]
].mean()

# %% tags=["hide-input"]
fig, ax = figure(2)
res, j = gd_runs["bell"], 0
k = res.steps_kept
c0, lam, h = res.modes[j, 0], res.eigenvalues[j], res.h[j]
for i in range(lam.size):
    ax[0].semilogy(k, np.abs(res.modes[j, :, i]), color=PALETTE[i % 10], lw=1)
    ax[0].semilogy(k, np.abs(c0[i]) * (1 - h * lam[i]) ** k, color=PALETTE[i % 10], ls=":", lw=1)
ax[0].set(
    xlabel="GD iteration $k$",
    ylabel=r"$|c_{k,i}|$ (mode $i$ of $A_0$)",
    title=f"bell weighting, seed {GD_SEEDS[0]}: per-mode residuals",
)
ax[0].set_ylim(1e-17, 1e3)
steps_all = np.arange(cfg["gd_steps"] + 1)
for i, (p, r_) in enumerate(gd_runs.items()):
    rt = ntk.rate_test(r_, j)
    ax[1].semilogy(r_.losses[j], color=PALETTE[i], label=f"{p} $\\omega$")
    ax[1].semilogy(
        steps_all,
        ntk.predicted_loss(r_.modes[j, 0], r_.eigenvalues[j], r_.h[j], r_.n_rows, steps_all),
        color="k",
        ls=":",
        lw=1,
    )
    ax[1].axvspan(rt.window[0], rt.window[-1], color=PALETTE[i], alpha=0.08)
ax[1].set(xlabel="GD iteration $k$", ylabel=r"$\bar L_k$", title="loss: measured and linearised")
ax[1].set_ylim(1e-34, None)
ax[1].legend()

# %%
ratio_iv = {p: stats.t_interval(gd[gd.weighting == p]["ratio"]) for p in ds.EPS_PROFILES}
for cid, p in [("E4.1c", "flat"), ("E4.1d", "bell"), ("E4.1e", "increasing")]:
    ledger.record(
        cid,
        kind="derived",
        paper=PAPER,
        claim=f"{p} weighting: in the lazy regime of GD (NTK parameterisation, width {GD_W}, "
        "step 1/lambda_max), the late-window decay rate of the empirical DSM loss equals "
        "2 log(1 - h lambda_rel) of the initial weighted kernel: measured/predicted rate",
        measured=ratio_iv[p],
        expect=close_to(1.0, 0.1),
        section="ds-gd",
        **reg_tol(ratio_iv[p]),
    )
log_tr = stats.t_interval(np.log(tr[1] / tr[0]))
kchange = float(gd["kernel_change"].max())
ledger.record(
    "E4.1b",
    kind="check",
    paper=PAPER,
    claim="in the NTK parameterisation the trace of the empirical kernel at initialisation "
    f"does not grow with width: log(trace at width {GD_W2} / trace at width {GD_W}), "
    "same inputs and seeds",
    measured=log_tr,
    expect=close_to(0.0, 0.1),
    section="ds-gd",
    rtol=0.0,
    atol=0.25 * log_tr.half_width,
)
ledger.record(
    "E4.1f",
    kind="check",
    paper=PAPER,
    claim=f"the GD runs of E4.1c-e are lazy: relative kernel change ||K_T - K_0|| / ||K_0|| "
    f"at width {GD_W}, largest over the weightings and seeds",
    measured=kchange,
    expect=at_most(0.05),
    section="ds-gd",
    rtol=0.1,
    atol=0.0,
)
glue_verdicts(5)
for p in ds.EPS_PROFILES:
    g_ = gd[gd.weighting == p]
    glue(f"gd_ratio_{p}", ratio_iv[p].value, display=False)
    glue(f"gd_ratio_{p}_lo", ratio_iv[p].low, display=False)
    glue(f"gd_ratio_{p}_hi", ratio_iv[p].high, display=False)
    glue(f"gd_pred_{p}", float(g_["predicted"].mean()), display=False)
    glue(f"gd_orders_{p}", float(g_["orders_fallen"].min()), display=False)
    glue(f"gd_cond_{p}", float(g_["cond"].mean()), display=False)
glue("gd_cond_raw_lo", min(cond_raw), display=False)
glue("gd_cond_raw_hi", max(cond_raw), display=False)
glue("gd_cond_lo", float(gd["cond"].min()), display=False)
glue("gd_cond_hi", float(gd["cond"].max()), display=False)
glue("gd_kchange", float(gd["kernel_change"].mean()), display=False)
glue("gd_kchange_max", kchange, display=False)
glue("gd_least_share", float(gd["least_weighted_share"].mean()), display=False)
glue("gd_tr_ratio", float(np.exp(log_tr.value)), display=False)
glue("gd_width", GD_W, display=False)
glue("gd_width2", GD_W2, display=False)
glue("gd_params", int(64 * GD_W + GD_W), display=False)
glue("gd_nseeds", len(GD_SEEDS), display=False)
glue("gd_steps", cfg["gd_steps"], display=False)
gd.set_index(["weighting", "seed"])[
    ["cond", "rel_mode", "predicted", "measured", "ratio", "window"]
]

# %% [markdown]
# **Figure.** Left: the coefficients of the weighted residual on the 12 eigenvectors of the
# initial kernel (bell weighting, one seed; solid: measured, dotted: $c_{0,i}(1-h\lambda_i)^k$).
# Look at how each mode follows its own geometric line until it meets a floor that then
# decays with the slow modes (the floor's origin is not computed here). The loss is set by the
# slow modes, which follow their lines throughout. Right: the loss for each
# weighting (one seed) with the linearised prediction (dotted) and the window of the rate test
# (shaded); the loss falls by {glue:text}`gd_orders_increasing:.1f` orders of magnitude
# in {glue:text}`gd_steps` steps (increasing weighting; {glue:text}`gd_orders_flat:.1f` for the
# flat one).
#
# **Result.** Measured over predicted late-window rate, mean over {glue:text}`gd_nseeds` seeds
# with 95% t-intervals: flat weighting {glue:text}`gd_ratio_flat:.3f`
# [{glue:text}`gd_ratio_flat_lo:.3f`, {glue:text}`gd_ratio_flat_hi:.3f`] (E4.1c:
# {glue:text}`v_E41c`), bell {glue:text}`gd_ratio_bell:.3f` [{glue:text}`gd_ratio_bell_lo:.3f`,
# {glue:text}`gd_ratio_bell_hi:.3f`] (E4.1d: {glue:text}`v_E41d`), increasing
# {glue:text}`gd_ratio_increasing:.3f` [{glue:text}`gd_ratio_increasing_lo:.3f`,
# {glue:text}`gd_ratio_increasing_hi:.3f`] (E4.1e: {glue:text}`v_E41e`). The predicted rates
# differ between the weightings (per step: {glue:text}`gd_pred_flat:.3g` flat,
# {glue:text}`gd_pred_bell:.3g` bell, {glue:text}`gd_pred_increasing:.3g` increasing), because
# a weighting that puts little weight on one level shrinks that level's eigenvalues relative to
# $\lambda_{\max}$ (mean condition numbers {glue:text}`gd_cond_flat:.0f`,
# {glue:text}`gd_cond_bell:.0f`, {glue:text}`gd_cond_increasing:.0f`): with the step tied to
# $\lambda_{\max}$, the least-weighted level sets the rate (the relevant eigenvector has on
# average {glue:text}`gd_least_share:.2f` of its mass on the least-weighted level, for the bell
# and increasing weightings). The kernel moved by
# {glue:text}`gd_kchange:.3f` on average (largest {glue:text}`gd_kchange_max:.3f`; check E4.1f:
# {glue:text}`v_E41f`).
#
# **Width.** Under PyTorch's standard parameterisation with one fixed step the kernel's trace
# grows with the width, so a faster decay at larger width would say nothing about Theorem 1.
# In the NTK parameterisation the trace does not grow (ratio {glue:text}`gd_tr_ratio:.3f`
# between widths {glue:text}`gd_width2` and {glue:text}`gd_width`, check E4.1b:
# {glue:text}`v_E41b`); at the width trained here the kernel's change is E4.1f (one width, no
# sweep over widths). What this does **not** show: Theorem 1's own rate factor and
# neighbourhood (not available to us), a deep network (one hidden layer here; the argument is
# the same with a deeper kernel), or the regime of a realistic data set, where the kernel's
# spectrum spans many decades and the slow modes set a much slower rate.
#
# (ds-sampling)=
# ## E4.2 The VE sampling error and its parts, with the exact score (Theorem 2)
#
# These are predictions of **our reconstructed** proxies (kind `derived`), not of the paper's
# statements, which we did not have. **Initialization.** With the exact score, start the
# sampler either from $\mathcal N(0,\sigma_{\max}^2)$ or from the exact $p_{\sigma_{\max}}$; the
# discretization is the same, so the difference of the two output KLs measures the effect of
# the initial mismatch at that number of levels. $E_I$ is an upper bound, not a predicted rate:
# we test that it holds (E4.2a). The rate itself we derive for Gaussian data, whose sampler
# recursion is affine: the initial mismatch of the mean and variance is multiplied by
# $\prod_k a_k \to (v+\sigma_{\min}^2)/(v+\sigma_{\max}^2)$ as the levels get finer, so the output
# effect decays like $\sigma_{\max}^{-4}$ (E4.2d, closed form with many levels), faster than
# the initial KL itself ($\approx \bar x^2/(2\sigma_{\max}^2)$ for non-centred data).


# %% tags=["hide-input"]
def init_effect(smax, n_points, n_levels=cfg["n_init"]):
    """Output-KL gap between the Gaussian and the exact start at sigma_max (exact score)."""
    sig = ds.schedule_sigmas(n_levels, SMIN, smax)
    exact_prior = GridDensity.from_function(
        lambda x: gmm.prob(x.unsqueeze(-1), smax), -12 * smax, 12 * smax, n_points
    )
    kl_gauss = ds.output_kl(gmm.denoise, gmm, sig, n_points=n_points).value
    kl_exact = ds.output_kl(gmm.denoise, gmm, sig, prior=exact_prior, n_points=n_points).value
    return kl_gauss, kl_exact


init_rows = []
for smax in cfg["smax_list"]:
    kl_gauss, kl_exact = init_effect(smax, N_GRID)
    row = dict(
        sigma_max=smax,
        kl_gauss=kl_gauss,
        kl_exact_prior=kl_exact,
        init_effect=kl_gauss - kl_exact,
        init_kl=ds.initialization_kl(gmm, smax).value,
        E_I=ds.bound_initialization(m2, 1, smax),
    )
    row["init_effect_fine"] = float(np.subtract(*init_effect(smax, N_FINE)))  # E4.5a
    row["init_effect_4x"] = float(np.subtract(*init_effect(smax, N_FINE, 4 * cfg["n_init"])))
    init_rows.append(row)
init_table = pd.DataFrame(init_rows).set_index("sigma_max")
assert (init_table["init_effect"] > 0).all(), "starting from the exact p_sigma_max must help"
# bound-type test of the reconstructed E_I: the largest gap / E_I, on N_GRID and N_FINE nodes
ei_coarse = float((init_table["init_effect"] / init_table["E_I"]).max())
ei_ratio = stats.refinement(
    ei_coarse,
    float((init_table["init_effect_fine"] / init_table["E_I"]).max()),
    note="grid nodes doubled",
)
ledger.record(
    "E4.2a",
    kind="check",
    paper=PAPER,
    claim="the reconstructed E_I = (m2 + 1)/sigma_max^2 bounds the initialisation error: the "
    "output-KL gap between the Gaussian and the exact start is at most E_I at every sigma_max "
    f"(largest gap / E_I over sigma_max in {cfg['smax_list']}, exact score, N = {cfg['n_init']})",
    measured=ei_ratio,
    expect=at_most(1.0),
    section="ds-sampling",
    rtol=0.0,
    atol=0.25 * min(abs(1.0 - ei_ratio.value), abs(ei_ratio.value)),  # margin, or the value itself
)
# the pure initialisation rate (N -> infinity), closed form for a Gaussian with the data's mean
# and variance; the mixture's gap at finite N mixes it with the discretization (cross term)
mu_d, var_d = float(gmm.mean()[0]), float(gmm.covariance()[0, 0])
smax_cf = sorted({float(x) for x in cfg["smax_list"] if x >= 4} | {128.0, 256.0})


def gauss_init_effect(smax, n_levels):
    sig = ds.schedule_sigmas(n_levels, SMIN, smax)
    return ds.gaussian_output_kl(mu_d, var_d, sig) - ds.gaussian_output_kl(
        mu_d, var_d, sig, mu_d, var_d + smax**2
    )


N_BIG = 4000
gap_cf = {n: [gauss_init_effect(x, n) for x in smax_cf] for n in (N_BIG // 4, N_BIG)}
rate_cf = stats.asymptotic_slope(smax_cf, gap_cf[N_BIG])
ledger.record(
    "E4.2d",
    kind="derived",
    paper=PAPER,
    claim="in the limit of many levels the initialisation error decays like sigma_max^-4 (the "
    "affine recursion of Gaussian data multiplies the initial mismatch by (v + sigma_min^2) / "
    "(v + sigma_max^2)), faster than E_I's sigma_max^-2: local log-log slope at the largest "
    f"sigma_max, closed form, Gaussian with the data's mean and variance, N = {N_BIG}",
    measured=rate_cf,
    expect=close_to(-4.0, 0.25),
    section="ds-sampling",
    rtol=0.0,
    atol=0.01,
)
ls_cf = stats.local_slopes(smax_cf, gap_cf[N_BIG])
ls_cf_quarter = stats.local_slopes(smax_cf, gap_cf[N_BIG // 4])
fit_i = init_table[init_table.index >= 4]
# slopes only where the gap is resolved (positive): at the largest sigma_max and many levels
# it falls to the grid's round-off and can change sign
res_f = fit_i[fit_i["init_effect_fine"] > 0]
res_4 = fit_i[fit_i["init_effect_4x"] > 0]
ls_mix = stats.local_slopes(res_f.index.values, res_f["init_effect_fine"].values)
ls_mix4 = stats.local_slopes(res_4.index.values, res_4["init_effect_4x"].values)
glue("smax_resolved", float(min(res_f.index.max(), res_4.index.max())), display=False)
glue_verdicts(2)
glue("ei_ratio_max", ei_ratio.value, display=False)
glue("ls_cf_lo", float(ls_cf.min()), display=False)
glue("ls_cf_hi", float(ls_cf.max()), display=False)
glue("ls_cf_q_lo", float(ls_cf_quarter.min()), display=False)
glue("ls_cf_q_hi", float(ls_cf_quarter.max()), display=False)
glue("rate_cf", rate_cf.value, display=False)
glue("rate_cf_err", rate_cf.half_width, display=False)
glue("n_big", N_BIG, display=False)
glue("n_big_q", N_BIG // 4, display=False)
glue("ls_mix_lo", float(ls_mix.min()), display=False)
glue("ls_mix_hi", float(ls_mix.max()), display=False)
glue("ls_mix4_lo", float(ls_mix4.min()), display=False)
glue("ls_mix4_hi", float(ls_mix4.max()), display=False)
glue("n_init", cfg["n_init"], display=False)
glue("n_init4", 4 * cfg["n_init"], display=False)
glue("gap64", float(init_table.loc[64.0, "init_effect_fine"]), display=False)
glue("gap64_4x", float(init_table.loc[64.0, "init_effect_4x"]), display=False)
init_table

# %% [markdown]
# **Discretization.** Now the number of levels $N$ varies for the exponential grid and the
# polynomial grids $\rho\in\{1,3,7,15\}$, from $\mathcal N(0,80^2)$ to $\sigma_{\min}=0.002$, with
# the exact score, so $E_S=0$. The bound $E_I$ at $\sigma_{\max}=80$ is {glue:text}`ei_80:.1g`
# nats ({glue:text}`ei_frac:.0%` of the exponential grid's KL at $N=${glue:text}`n_last`); the
# measured initialisation effect is far smaller (right panel of the figure below).

# %% tags=["hide-input"]
SCHEDS = {"exponential": None, "rho=1": 1.0, "rho=3": 3.0, "rho=7": 7.0, "rho=15": 15.0}
disc_rows = []
for n in cfg["n_list"]:
    for name, r in SCHEDS.items():
        sig = ds.schedule_sigmas(n, SMIN, SMAX, r)
        row = dict(
            N=n,
            schedule=name,
            kl=ds.output_kl(gmm.denoise, gmm, sig, n_points=N_GRID).value,
            E_D=ds.bound_discretization(sig),
        )
        if name in ("exponential", "rho=7"):  # on twice the nodes (E4.5a)
            row["kl_fine"] = ds.output_kl(gmm.denoise, gmm, sig, n_points=N_FINE).value
        disc_rows.append(row)
disc = pd.DataFrame(disc_rows)
# one fitted constant: median ratio of KL to the proxy where the proxy is not saturated
ok = disc["E_D"] < 100 * disc["kl"].max()
c_D = float(np.exp(np.median(np.log(disc.loc[ok, "kl"] / disc.loc[ok, "E_D"]))))
geo = disc[disc.schedule == "exponential"]
# E4.2b rests on a local slope between close KLs, so it needs a finer grid than the ratios:
# N_RATE nodes, checked against 2 * N_RATE (E4.5a)
N_RATE = 4 * N_GRID
kl_rate = {
    m: [
        ds.output_kl(gmm.denoise, gmm, ds.schedule_sigmas(int(n), SMIN, SMAX), n_points=m).value
        for n in geo["N"].values
    ]
    for m in (N_RATE, 2 * N_RATE)
}
slope_N = stats.asymptotic_slope(geo["N"].values, kl_rate[N_RATE])
slope_N_fine = stats.asymptotic_slope(geo["N"].values, kl_rate[2 * N_RATE]).value
slope_N_grid = stats.asymptotic_slope(geo["N"].values, geo["kl"].values).value
ls_N = stats.local_slopes(geo["N"].values, kl_rate[N_RATE])
ed_fit = fit_loglog(
    geo["N"].values[geo["N"].values >= 20], geo["E_D"].values[geo["N"].values >= 20]
)
kl_wide = disc.pivot(index="N", columns="schedule", values="kl")[list(SCHEDS)]
ed_wide = disc.pivot(index="N", columns="schedule", values="E_D")[list(SCHEDS)]
kl_fine_wide = disc.pivot(index="N", columns="schedule", values="kl_fine")
# E4.2c: the proxy's predicted KL_exp / KL_rho7 against the measured one, at every N
ratio_tab = pd.DataFrame(
    {
        "KL ratio (measured)": kl_wide["exponential"] / kl_wide["rho=7"],
        "KL ratio (2x nodes)": kl_fine_wide["exponential"] / kl_fine_wide["rho=7"],
        "E_D ratio (predicted)": ed_wide["exponential"] / ed_wide["rho=7"],
    }
)
log_miss = np.abs(np.log10(ratio_tab["E_D ratio (predicted)"] / ratio_tab["KL ratio (measured)"]))
log_miss_fine = np.abs(
    np.log10(ratio_tab["E_D ratio (predicted)"] / ratio_tab["KL ratio (2x nodes)"])
)
miss = stats.refinement(float(log_miss.max()), float(log_miss_fine.max()), note="nodes doubled")
misranked = (ratio_tab["E_D ratio (predicted)"] < 1) != (ratio_tab["KL ratio (measured)"] < 1)
best_kl, best_ed = kl_wide.idxmin(axis=1), ed_wide.idxmin(axis=1)
worst = kl_wide.idxmax(axis=1)
best = best_kl
glue("worst_sched", worst.mode()[0], display=False)
glue("worst_count", int((worst == worst.mode()[0]).sum()), display=False)
glue("best_sched", best.mode()[0], display=False)
glue("best_count", int((best == best.mode()[0]).sum()), display=False)
glue("best_ed", best_ed.mode()[0], display=False)
glue("best_ed_count", int((best_ed == best_ed.mode()[0]).sum()), display=False)
glue("n_N", len(kl_wide), display=False)
glue("ei_80", ds.bound_initialization(m2, 1, SMAX), display=False)
glue(
    "ei_frac",
    ds.bound_initialization(m2, 1, SMAX) / float(kl_wide["exponential"].iloc[-1]),
    display=False,
)
glue("n_last", int(kl_wide.index[-1]), display=False)
glue("slope_N", slope_N.value, display=False)
glue("slope_N_err", slope_N.half_width, display=False)
glue("slope_N_grid", slope_N_grid, display=False)
glue("n_rate", N_RATE, display=False)
glue("ls_N_lo", float(ls_N.min()), display=False)
glue("ls_N_hi", float(ls_N.max()), display=False)
glue("ed_slope", ed_fit.slope, display=False)
glue("c_D", c_D, display=False)
glue("miss_max", 10**miss.value, display=False)
glue("miss_at", int(log_miss_fine.idxmax()), display=False)
glue("n_misranked", int(misranked.sum()), display=False)
glue("n_ranked_ok", int((~misranked).sum()), display=False)
glue(
    "misranked_N",
    ", ".join(str(int(n)) for n in ratio_tab.index[misranked]) or "none",
    display=False,
)
n10 = int(kl_wide.index[0])
glue("n10", n10, display=False)
glue("kl10_exp", float(kl_wide.loc[n10, "exponential"]), display=False)
glue("kl10_rho7", float(kl_wide.loc[n10, "rho=7"]), display=False)
glue("ed10_ratio", float(ratio_tab.loc[n10, "E_D ratio (predicted)"]), display=False)
ledger.record(
    "E4.2b",
    kind="derived",
    paper=PAPER,
    claim="with the exact score the output KL of the exponential schedule decays like N^-2 (a "
    "first-order integrator: mean error ~ 1/N, KL ~ its square); local log-log slope at the "
    f"two largest N, error: change from the previous pair (grid of {N_RATE} nodes)",
    measured=slope_N,
    expect=close_to(-2.0, 0.3),
    section="ds-sampling",
    rtol=0.0,
    atol=0.01,
)
ledger.record(
    "E4.2c",
    kind="question",
    paper=PAPER,
    claim="does the reconstructed E_D predict the ratio KL_exp / KL_rho7 of the two schedules "
    "of the paper's advice within a factor 2 at every N (no bound promises this; largest "
    "|log10(predicted / measured)| over N)?",
    measured=miss,
    expect=at_most(float(np.log10(2.0))),
    section="ds-sampling",
    rtol=0.0,
    atol=0.01,
)
glue_verdicts(2)
ratio_tab.assign(**{"E_D misranks": misranked, "best by KL": best_kl, "best by E_D": best_ed})

# %% tags=["hide-input"]
fig, ax = figure(2)
# distinct hues for rho=1 and rho=7 (the colorblind palette's orange and vermillion are close)
SCHED_COL = {"exponential": 0, "rho=1": 2, "rho=3": 4, "rho=7": 3, "rho=15": 7}
for name in SCHEDS:
    i = SCHED_COL[name]
    ax[0].loglog(
        kl_wide.index,
        kl_wide[name] / kl_wide["exponential"],
        "o",
        color=PALETTE[i],
        ms=4 + 2 * (name == "rho=15"),
        mfc="none" if name == "rho=15" else None,
        label=name,
    )
    ax[0].loglog(
        ed_wide.index, ed_wide[name] / ed_wide["exponential"], "--", color=PALETTE[i], lw=1
    )
ax[0].axhline(1.0, color="k", lw=0.6)
ax[0].set(
    xlabel="number of levels $N$",
    ylabel=r"KL / KL$_{\exp}$ (markers), $E_D/E_{D,\exp}$ (lines)",
    ylim=(0.3, 30),
    title="schedules relative to the exponential",
)
ax[0].legend(fontsize=7, loc="upper right", ncol=2)
ax[1].loglog(fit_i.index, fit_i["init_effect_fine"], "o-", label=f"mixture, N = {cfg['n_init']}")
ax[1].loglog(fit_i.index, fit_i["init_effect_4x"], "^-", label=f"mixture, N = {4 * cfg['n_init']}")
ax[1].loglog(smax_cf, gap_cf[N_BIG], "s--", label=f"Gaussian, closed form, N = {N_BIG}")
ax[1].loglog(fit_i.index, fit_i["E_I"], ":", color="k", label=r"$E_I=(m_2+1)/\sigma_{\max}^2$")
ax[1].set(xlabel=r"$\sigma_{\max}$", ylabel="output-KL gap (nats)", title="initialization")
ax[1].legend(fontsize=7, loc="lower left")
for a, ticks in [(ax[0], cfg["n_list"]), (ax[1], smax_cf)]:
    a.set_xticks(ticks)
    a.xaxis.set_major_formatter(ScalarFormatter())
    a.xaxis.set_minor_formatter(NullFormatter())

# %% [markdown]
# **Figure.** Left: exact output KL of each schedule divided by the exponential schedule's
# (markers; below 1 beats the exponential grid) and the same ratio of the reconstructed
# discretization proxy $E_D$ (dashed lines, same colour as the schedule's markers), against
# the number of levels; the axis is cut at 0.3 and 30, so parts of $\rho=1$'s markers and line
# and of $\rho=3$'s line lie outside it. Look at $\rho=7$ against
# the exponential grid: the proxy puts $\rho=7$ far above 1 at small $N$, the exact KL does
# not. Right: the initialisation effect (output-KL gap between the Gaussian and the exact
# start) on the chapter's mixture at two numbers of levels, the same for a Gaussian with the
# data's mean and variance in closed form with many levels, and the bound $E_I$.
#
# **Ranking (E4.2c).** The smallest KL comes from "{glue:text}`best_sched`" at
# {glue:text}`best_count` of the {glue:text}`n_N` values of $N$, while $E_D$ ranks
# "{glue:text}`best_ed`" first at {glue:text}`best_ed_count` of them; the largest KL comes from
# "{glue:text}`worst_sched`" at {glue:text}`worst_count` of them (the uniform grid's last step
# goes from $\sigma\approx\sigma_{\max}/(N-1)$ straight to $\sigma_{\min}$). For the pair the
# paper's advice is about, the proxy's predicted ratio $E_D^{\exp}/E_D^{\rho=7}$ misses the
# measured $\mathrm{KL}_{\exp}/\mathrm{KL}_{\rho=7}$ by up to a factor
# {glue:text}`miss_max:.2g` (at $N=${glue:text}`miss_at`; E4.2c: {glue:text}`v_E42c`) and gets
# the winner of the pair wrong at {glue:text}`n_misranked` values of $N$
# ({glue:text}`misranked_N`): at $N=${glue:text}`n10` the exact KLs are
# {glue:text}`kl10_exp:.4f` (exponential) and {glue:text}`kl10_rho7:.4f` ($\rho=7$), while
# $E_D^{\exp}/E_D^{\rho=7}=${glue:text}`ed10_ratio:.2f` makes the exponential grid the better
# one. The reconstructed $E_D$ depends on the grid only and cannot see the data; it is a bound:
# as a predictor of the ratio's size it fails (E4.2c), while the ranking of the pair is right
# at {glue:text}`n_ranked_ok` of the {glue:text}`n_nlist` values of $N$.
#
# **Rate in $N$ (E4.2b).** A first-order integrator with the exact score has a mean error of
# order $1/N$ and a KL of order $1/N^2$. The exponential schedule's KL has local log-log slopes
# from {glue:text}`ls_N_lo:.2f` to {glue:text}`ls_N_hi:.2f` over the $N$ range, the last one
# {glue:text}`slope_N:.2f` (it still moves by {glue:text}`slope_N_err:.2f`; E4.2b:
# {glue:text}`v_E42b`). These slopes come from {glue:text}`n_rate` grid nodes: a slope between
# two close KLs is more sensitive to the grid than the KLs themselves (on
# {glue:text}`n_grid` nodes the last one is {glue:text}`slope_N_grid:.2f`), and doubling
# {glue:text}`n_rate` moves it by far less than its margin (E4.5a). The proxy $E_D$ itself falls with slope {glue:text}`ed_slope:.2f` over
# $N\ge 20$ (its asymptote is $1/N$), so as a rate it is pessimistic.
#
# **Initialisation (E4.2a, E4.2d).** The measured gap is at most {glue:text}`ei_ratio_max:.2g`
# times $E_I$ over the $\sigma_{\max}$ grid (E4.2a: {glue:text}`v_E42a`): the bound holds,
# loosely. Its slope $-2$ is not the rate: with many levels the closed-form gap for a Gaussian
# with the data's mean and variance has local slopes {glue:text}`ls_cf_lo:.2f` to
# {glue:text}`ls_cf_hi:.2f` ({glue:text}`ls_cf_q_lo:.2f` to {glue:text}`ls_cf_q_hi:.2f` with
# {glue:text}`n_big_q` levels), last {glue:text}`rate_cf:.2f` $\pm$ {glue:text}`rate_cf_err:.2f`
# (E4.2d: {glue:text}`v_E42d`). On the mixture at finite $N$ the gap mixes the initial mismatch
# with the discretization: its local slopes run from {glue:text}`ls_mix_lo:.2f` to
# {glue:text}`ls_mix_hi:.2f` with {glue:text}`n_init` levels and from {glue:text}`ls_mix4_lo:.2f`
# to {glue:text}`ls_mix4_hi:.2f` with {glue:text}`n_init4` (up to $\sigma_{\max}=$
# {glue:text}`smax_resolved:g`, beyond which the gap is below the grid's resolution), and at
# $\sigma_{\max}=64$ the gap
# falls from {glue:text}`gap64:.2g` to {glue:text}`gap64_4x:.2g` nats, so a slope fitted at one
# $N$ measures that $N$, not the initialisation.
#
# (ds-crossover)=
# ## E4.3 The schedule crossover (the headline design claim)
#
# **The paper's claim** (summary): "polynomial schedules are preferable when score error
# dominates, while exponential schedules are better when sampling error dominates". In terms of
# $\Delta\mathrm{KL} = \mathrm{KL}_{\exp} - \mathrm{KL}_{\rho=7}$ at a fixed number of levels:
# positive when the score is poorly trained, negative when it is well trained or exact. The
# paper states the rule without conditions on the data, so we test it on the chapter's mixture
# and on three more targets, with the exact score and with trained networks.
#
# **Test 1: trained networks.** An EDM-preconditioned SiLU MLP (3 hidden layers of 64) is
# trained by Adam with EDM's noise distribution and weighting on the 1-D mixture, one run per
# seed, and evaluated at several checkpoints. For each checkpoint we compute the exact per-level
# score error $e(\sigma)$ against the mixture, the proxy $E_S$ for both schedules, and the exact
# output KL for both schedules at several $N$. Both schedules are evaluated on the same network,
# so $\Delta\mathrm{KL}$ is a paired difference per seed. The same is done (output KL only) on
# the mixture with narrow components (variances 0.01, 0.02), with wide ones (0.5, 0.6), and on a
# single Gaussian with the data's mean and variance, whose exact-score KL comes from the closed
# form of the affine recursion (`companion.design_space.gaussian_output_kl`), not from the grid.
# On these three targets the networks train to {glue:text}`extra_max` steps here (the
# less-trained regime the test is about), on the chapter's mixture to {glue:text}`ck_last`.
# Every (target, checkpoint, $N$) gets its own paired t-interval of $\Delta\mathrm{KL}$ over
# {glue:text}`n_seeds` seeds (table below).
#
# **The paper's statement, tested as a level; the change, as ours.** The paper's statement is
# a level: with a less trained score $\rho=7$ is preferable. It gives no number for "score error
# dominates", so the paper verdicts E4.3a/h/i take the least-trained checkpoint: per seed and
# $N$, the paired $\Delta\mathrm{KL}=\mathrm{KL}_{\exp}-\mathrm{KL}_{\rho=7}$ of the network
# (positive: $\rho=7$ is better), Bonferroni-adjusted over $N$. Whether the network's score
# error *moves* the preference towards $\rho=7$ is our derived reading (E4.3n/o/p): the paired
# change $\Delta\mathrm{KL}_{\rm net}-\Delta\mathrm{KL}_{\rm exact}$ at every (checkpoint, $N$)
# whose network KL is at least {glue:text}`dominates` times the exact score's for both
# schedules, Bonferroni-adjusted over checkpoints $\times$ $N$, and reported per checkpoint
# against that ratio. For the reader who wants "dominates" read as a threshold $T$ on the
# ratio, the prose below also gives the level's verdict for every $T$ the data span.
#
# All comparisons use the exponential integrator of the VE SDE, which our reconstruction assumes
# is the sampler of Theorem 2, and change only its grid. EDM's own sampler (second-order Heun steps with stochastic "churn") is
# a different design axis, on which the paper's advice as we have it says nothing, so it is not
# compared here.

# %% tags=["hide-input"]
e_sig = torch.logspace(np.log10(SMIN), np.log10(SMAX), 13, dtype=torch.float64)
first, last, n_mid = min(cfg["checkpoints"]), max(cfg["checkpoints"]), cfg["kl_steps"][1]
DOMINATES = 2.0  # score error dominates: KL_net >= 2 KL_exact for both schedules (fixed)
glue("dominates", DOMINATES, display=False)
glue("extra_max", int(min(cfg["extra_max_step"], max(cfg["checkpoints"]))), display=False)
narrow_gmm = GaussianMixture([0.3, 0.7], [[-1.0], [1.5]], [0.01, 0.02])
wide_gmm = GaussianMixture([0.3, 0.7], [[-1.0], [1.5]], [0.5, 0.6])
mu_g, var_g = float(gmm.mean()[0]), float(gmm.covariance()[0, 0])
gauss_gmm = GaussianMixture([1.0], [[mu_g]], [var_g])  # the data's mean and variance
EXTRA = {"narrow": narrow_gmm, "wide": wide_gmm, "gaussian": gauss_gmm}
EXTRA_CK = [k for k in cfg["checkpoints"] if k <= cfg["extra_max_step"]]
kl_exact_net = {}  # (target, N) -> (exact KL exponential, exact KL rho=7)
for tname, tg in [("chapter", gmm), *EXTRA.items()]:
    for n in cfg["kl_steps"]:
        kl_exact_net[(tname, n)] = tuple(
            ds.gaussian_output_kl(mu_g, var_g, ds.schedule_sigmas(n, SMIN, SMAX, r))
            if tname == "gaussian"  # closed form: the zero-noise reference, no grid
            else ds.output_kl(
                tg.denoise, tg, ds.schedule_sigmas(n, SMIN, SMAX, r), n_points=N_GRID
            ).value
            for r in (None, 7.0)
        )
extra_rows, nets0 = [], {}  # nets0: seed-0 networks per target, refined on 2x nodes (E4.5a)
for tname, tg in EXTRA.items():
    for s in SEEDS:
        nets = ds.train_checkpoints(tg, EXTRA_CK, seed=s, device=dev)
        if s == SEEDS[0]:
            nets0[tname] = nets
        for k, D in nets.items():
            for n in cfg["kl_steps"]:
                kg, kp = (
                    ds.output_kl(D, tg, ds.schedule_sigmas(n, SMIN, SMAX, r), n_points=N_GRID).value
                    for r in (None, 7.0)
                )
                extra_rows.append(
                    dict(target=tname, seed=s, step=k, N=n, kl_exp=kg, kl_poly=kp, dkl=kg - kp)
                )
cross_rows, err_rows, refine = [], [], {}
for s in SEEDS:
    nets = ds.train_checkpoints(gmm, cfg["checkpoints"], seed=s, device=dev)
    if s == SEEDS[0]:
        nets0["chapter"] = nets
    for k, D in nets.items():
        err = ds.score_error(D, gmm, e_sig)
        err_rows += [
            dict(seed=s, step=k, sigma=float(a), err=float(b))
            for a, b in zip(e_sig, err, strict=True)
        ]
        for n in cfg["kl_steps"]:
            sg, sp = ds.schedule_sigmas(n, SMIN, SMAX), ds.schedule_sigmas(n, SMIN, SMAX, 7.0)
            kg = ds.output_kl(D, gmm, sg, n_points=N_GRID).value
            kp = ds.output_kl(D, gmm, sp, n_points=N_GRID).value
            cross_rows.append(
                dict(
                    seed=s,
                    step=k,
                    N=n,
                    kl_exp=kg,
                    kl_poly=kp,
                    dkl=kg - kp,
                    E_S_exp=ds.bound_score(sg, ds.score_error(D, gmm, sg[:-1])),
                    E_S_poly=ds.bound_score(sp, ds.score_error(D, gmm, sp[:-1])),
                )
            )
            if s == SEEDS[0] and n == n_mid and k in (first, last):  # E4.5a
                refine[k] = (
                    kg - kp,
                    ds.output_kl(D, gmm, sg, n_points=N_FINE).value
                    - ds.output_kl(D, gmm, sp, n_points=N_FINE).value,
                )
cross = pd.DataFrame(cross_rows)
errs = pd.DataFrame(err_rows)
trained_all = pd.concat([cross.assign(target="chapter"), pd.DataFrame(extra_rows)])
dom_rows = []
for (tname, k, n), grp in trained_all.groupby(["target", "step", "N"]):
    ke, kp = kl_exact_net[(tname, n)]
    r_exp, r_poly = grp["kl_exp"].mean() / ke, grp["kl_poly"].mean() / kp
    d = stats.paired_t(grp.sort_values("seed")["kl_exp"], grp.sort_values("seed")["kl_poly"])
    dom_rows.append(
        dict(
            target=tname,
            step=k,
            N=n,
            ratio_exp=r_exp,
            ratio_poly=r_poly,
            dominates=bool(min(r_exp, r_poly) >= DOMINATES),
            dKL=d.value,
            dKL_err=d.half_width,
        )
    )
dominance = pd.DataFrame(dom_rows).set_index(["target", "step", "N"])


def summarize(df, key):
    """Mean Delta-KL and relative Delta-KL per (key, N) with 95% t half-widths (error bars)."""
    rows = []
    for (a, n), grp in df.groupby([key, "N"]):
        m, e = stats.mean_t_halfwidth(grp["dkl"].values)
        rel = grp["dkl"] / (0.5 * (grp["kl_exp"] + grp["kl_poly"]))
        rm, re = stats.mean_t_halfwidth(rel.values)
        rows.append(
            {
                key: a,
                "N": n,
                "dKL": m,
                "dKL_err": e,
                "rel_dKL": rm,
                "rel_err": re,
                "KL_exp": grp["kl_exp"].mean(),
                "KL_poly": grp["kl_poly"].mean(),
            }
        )
    return pd.DataFrame(rows)


cross_sum = summarize(cross, "step")
cross_sum

# %% [markdown]
# **Test 2: a controlled score error of uniform size.**
# `companion.design_space.PerturbedDenoiser` adds to the exact denoiser a smooth random field
# of size $e$ in $\varepsilon$ units at *every* level (our model, not the paper's); each seed
# draws a different field. To leading order the reconstructed bound does not separate the
# schedules here (see the setting); at finite $N$ it prefers the exponential grid below a
# crossover level $e^*$ and $\rho=7$ above it (Test 4). At the largest $e$ and
# $N=${glue:text}`n_mid` we draw {glue:text}`n_unif` fields (E4.3d), elsewhere
# {glue:text}`n_seeds`.

# %% tags=["hide-input"]
pert_rows = []
XO_SEEDS = [seed + i for i in range(cfg["xo_fields"])]  # random fields of E4.3d and Test 4
for e in cfg["e_list"]:
    for s in XO_SEEDS if e == max(cfg["e_list"]) else SEEDS:
        D = ds.PerturbedDenoiser(gmm, e, seed=s)
        for n in cfg["kl_steps"] if s in SEEDS else [n_mid]:
            sg, sp = ds.schedule_sigmas(n, SMIN, SMAX), ds.schedule_sigmas(n, SMIN, SMAX, 7.0)
            kg = ds.output_kl(D, gmm, sg, n_points=N_GRID).value
            kp = ds.output_kl(D, gmm, sp, n_points=N_GRID).value
            pert_rows.append(dict(seed=s, e=e, N=n, kl_exp=kg, kl_poly=kp, dkl=kg - kp))
pert = pd.DataFrame(pert_rows)
pert_sum = summarize(pert[pert.seed.isin(SEEDS)], "e")  # the figure: the same seeds at every e
pert_sum

# %% [markdown]
# **Test 3: the exact score on other targets.** With the exact score only discretization is
# left, the limit of a perfectly trained network. Besides the chapter's mixture we take a single
# Gaussian with the same mean and variance (no fine structure at all; its output law has a
# closed form, `companion.design_space.gaussian_output_kl`, so it needs no grid), the same
# two-component mixture with wide components (variances 0.5 and 0.6), and with narrow ones
# (variances 0.01 and 0.02). Every grid value is computed on {glue:text}`t_grid` and on
# {glue:text}`t_fine` nodes; the difference is its numerical error.

# %% tags=["hide-input"]
var_total = float(gmm.covariance()[0, 0])
TARGETS = {
    "chapter mixture (variances 0.05, 0.2)": gmm,
    "single Gaussian (same mean and variance)": GaussianMixture(
        [1.0], [[float(gmm.mean()[0])]], [var_total]
    ),
    "wide mixture (variances 0.5, 0.6)": wide_gmm,
    "narrow mixture (variances 0.01, 0.02)": narrow_gmm,
}
target_rows = []
for tname, tg in TARGETS.items():
    for n in cfg["n_list"]:
        sg, sp = ds.schedule_sigmas(n, SMIN, SMAX), ds.schedule_sigmas(n, SMIN, SMAX, 7.0)
        row = dict(target=tname, N=n)
        for res, npts in [("", T_GRID), ("_fine", T_FINE)]:
            kg = ds.output_kl(tg.denoise, tg, sg, n_points=npts).value
            kp = ds.output_kl(tg.denoise, tg, sp, n_points=npts).value
            row.update({f"kl_exp{res}": kg, f"kl_poly{res}": kp, f"dkl{res}": kg - kp})
        if tg.n_components == 1:
            mu, v = float(tg.mean()[0]), var_total
            row["kl_exp_closed"] = ds.gaussian_output_kl(mu, v, sg)
            row["kl_poly_closed"] = ds.gaussian_output_kl(mu, v, sp)
            row["dkl_closed"] = row["kl_exp_closed"] - row["kl_poly_closed"]
        target_rows.append(row)
targets = pd.DataFrame(target_rows)
# the data scale: a single Gaussian (the data's mean) swept in variance, closed form, every N
VARS = np.logspace(-3, 1, 41)
sweep = pd.DataFrame(
    [
        dict(var=v, N=n, kl_exp=ke, kl_poly=kp, rel_dKL=(ke - kp) / kp)
        for v in VARS
        for n in sorted({*cfg["n_list"], n_mid})
        for ke, kp in [
            tuple(
                ds.gaussian_output_kl(
                    float(gmm.mean()[0]), float(v), ds.schedule_sigmas(n, SMIN, SMAX, r)
                )
                for r in (None, 7.0)
            )
        ]
    ]
)


def crossover_sd(grp):
    """Standard deviation at which Delta-KL changes sign (log-linear interpolation in the
    variance); NaN if the sign does not change exactly once over the sweep."""
    r = grp.sort_values("var")["rel_dKL"].values
    v = grp.sort_values("var")["var"].values
    k = np.nonzero(np.diff(np.sign(r)))[0]
    if len(k) != 1:
        return np.nan
    i = int(k[0])
    t = r[i] / (r[i] - r[i + 1])
    return float(np.sqrt(np.exp(np.log(v[i]) + t * (np.log(v[i + 1]) - np.log(v[i])))))


cross_sd = sweep.groupby("N").apply(crossover_sd, include_groups=False)
sd_ref = sweep[sweep.N == n_mid].set_index("var")
targets.assign(rel_dKL=targets["dkl_fine"] / targets["kl_poly_fine"]).pivot(
    index="N", columns="target", values="rel_dKL"
)

# %% tags=["hide-input"]
fig, ax = figure(3, height=2.7)
for i, (k, grp) in enumerate(errs.groupby("step")):
    g = grp.groupby("sigma")["err"].mean()
    ax[0].loglog(g.index, g.values, "o-", ms=3, color=PALETTE[i], label=f"{k} steps")
ax[0].set(
    xlabel=r"$\sigma$",
    ylabel=r"score error $e(\sigma)$ ($\varepsilon$ units)",
    title="trained networks",
)
ax[0].legend(fontsize=7)
for j, n in enumerate(cfg["kl_steps"]):
    g = cross_sum[cross_sum.N == n]
    ax[1].errorbar(
        g["step"] * (1 + 0.05 * j),
        g["rel_dKL"],
        yerr=g["rel_err"],
        fmt="o-",
        color=PALETTE[j],
        capsize=3,
        label=f"N = {n}",
    )
    ke, kp = kl_exact_net[("chapter", n)]
    ax[1].axhline((ke - kp) / (0.5 * (ke + kp)), color=PALETTE[j], ls="--", lw=0.8)
    g = pert_sum[pert_sum.N == n]
    ax[2].errorbar(
        g["e"] * (1 + 0.05 * j),
        g["rel_dKL"],
        yerr=g["rel_err"],
        fmt="s-",
        color=PALETTE[j],
        capsize=3,
        label=f"N = {n}",
    )
for a, ticks in [(ax[1], cfg["checkpoints"]), (ax[2], cfg["e_list"])]:
    a.axhline(0, color="k", lw=0.8)
    a.set_xscale("log")
    a.set_xticks(ticks)
    a.xaxis.set_major_formatter(ScalarFormatter())
    a.xaxis.set_minor_formatter(NullFormatter())
    a.legend(fontsize=7)
ax[1].set(
    xlabel="Adam steps (training quality)",
    ylabel=r"$(\mathrm{KL}_{\exp}-\mathrm{KL}_{\rho=7})/\overline{\mathrm{KL}}$",
    title="trained: + means EDM better",
)
ax[2].set(xlabel=r"controlled error $e$", ylabel="relative $\\Delta$KL", title="uniform error")


# %%
def trained(step, n=n_mid, df=cross):
    return df[(df.step == step) & (df.N == n)].sort_values("seed")


def dominated_family(tname):
    """Paired Delta-KL = KL_exp - KL_poly per seed at every (checkpoint, N) where score error
    dominates on target `tname`, for a Bonferroni-adjusted joint test."""
    fam = {}
    for (t, k, n), row in dominance.iterrows():
        if t == tname and row["dominates"]:
            g = trained(k, n, trained_all[trained_all.target == t])
            fam[f"{k} steps, N={n}"] = g["kl_exp"].values - g["kl_poly"].values
    return fam


t_first, t_last = trained(first), trained(last)
d_first = stats.paired_t(t_first["kl_exp"], t_first["kl_poly"])
d_last = stats.paired_t(t_last["kl_exp"], t_last["kl_poly"])
e_max = max(cfg["e_list"])
p_max = pert[(pert.e == e_max) & (pert.N == n_mid)].sort_values("seed")
d_unif = stats.paired_t(p_max["kl_exp"], p_max["kl_poly"], note="seeds of the random fields")
names = list(TARGETS)
gauss_name = names[1]
by_target = {t: targets[targets.target == t].set_index("N") for t in names}
# exact score over the whole n_list: the least favourable N for "exponential is better"
d_exact = {
    t: stats.refinement(
        float(g["dkl"].max()), float(g["dkl_fine"].max()), note="grid nodes doubled"
    )
    for t, g in by_target.items()
}
less = (
    'summary: "polynomial schedules are preferable when score error dominates"; '
    "abstract v4 as paraphrased in the research notes: with a less trained score the "
    "design of Karras et al. 2022 is preferable"
)
well = (
    'summary: "exponential schedules are better when sampling error dominates"; '
    "abstract v4 as paraphrased in the research notes: with a well trained score the "
    "design of Song et al. 2021 is preferable"
)


def interval_verdict(iv):
    """The ledger's reading of an interval against at_least(0)."""
    return "supported" if iv.low > 0 else ("not reproduced" if iv.high < 0 else "inconclusive")


def flip_text(tname):
    """The old threshold-based verdict (rho=7 better at every setting where the network KL is
    at least T x the exact score's) as a function of the dominance threshold T."""
    dom_t = dominance.loc[tname]
    r_min = dom_t[["ratio_exp", "ratio_poly"]].min(axis=1).sort_values()
    segs, lo = [], 0.0
    for r in r_min.values:
        fam_t = {
            f"{kk} steps, N={nn}": trained(kk, nn, trained_all[trained_all.target == tname]).pipe(
                lambda g: (g["kl_exp"] - g["kl_poly"]).values
            )
            for (kk, nn), rr in r_min.items()
            if rr >= r
        }
        v = interval_verdict(stats.compare_rivals(np.zeros(len(SEEDS)), fam_t).interval)
        if segs and segs[-1][2] == v:
            segs[-1][1] = float(r)
        else:
            segs.append([lo, float(r), v])
        lo = float(r)
    parts = [f"{v} for T in ({a:.1f}, {b:.1f}]" for a, b, v in segs]
    return "; ".join(parts) + f"; untested for T > {lo:.1f}"


under, change, level, chg_ck = {}, {}, {}, {}
for cid, cid_chg, tname, label in [
    ("E4.3a", "E4.3n", "chapter", "the chapter's mixture"),
    ("E4.3h", "E4.3o", "narrow", "the narrow mixture"),
    ("E4.3i", "E4.3p", "wide", "the wide mixture"),
]:
    # the paper's statement is a level: rho=7 preferable when the score is less trained.
    # Paired per-seed Delta-KL = KL_exp - KL_poly at the least-trained checkpoint, every N
    fam_lvl = {
        f"{first} steps, N={n}": trained(first, n, trained_all[trained_all.target == tname]).pipe(
            lambda g: (g["kl_exp"] - g["kl_poly"]).values
        )
        for n in cfg["kl_steps"]
    }
    lvl = stats.compare_rivals(np.zeros(len(SEEDS)), fam_lvl)
    level[tname] = lvl
    r_first = float(
        dominance.xs(first, level="step").loc[tname][["ratio_exp", "ratio_poly"]].min().min()
    )
    ledger.record(
        cid,
        kind="paper",
        source=less,
        paper=PAPER,
        claim=f"less trained score on {label} ({first} Adam steps, the least-trained checkpoint; "
        f"network KL at least {r_first:.1f} x the exact score's): the polynomial (rho=7) "
        f"schedule is preferable, paired Delta-KL = KL_exp - KL_poly > 0 at every N in "
        f"{cfg['kl_steps']}; least favourable Bonferroni-adjusted (over N) paired interval",
        measured=lvl.interval,
        expect=at_least(0.0),
        section="ds-crossover",
        **reg_tol(lvl.interval),
    )
    glue(f"lvl_{tname}", lvl.interval.value, display=False)
    glue(f"lvl_{tname}_lo", lvl.interval.low, display=False)
    glue(f"lvl_{tname}_hi", lvl.interval.high, display=False)
    glue(f"lvl_{tname}_at", lvl.decisive, display=False)
    glue(f"chg_{tname}_ratio", r_first, display=False)
    # the change (our derived reading): does the score error move the preference towards
    # rho=7? (KL_exp - KL_poly)_net - (KL_exp - KL_poly)_exact per seed, at every
    # (checkpoint, N) whose network KL is at least DOMINATES x the exact score's
    fam = {}
    for (t, k, n), row in dominance.iterrows():
        if t == tname and row["dominates"]:
            ke, kp = kl_exact_net[(tname, n)]
            g = trained(k, n, trained_all[trained_all.target == tname])
            fam[f"{k} steps, N={n}"] = (g["kl_exp"] - g["kl_poly"]).values - (ke - kp)
    cmp = stats.compare_rivals(np.zeros(len(SEEDS)), fam)
    change[tname] = cmp
    ledger.record(
        cid_chg,
        kind="derived",
        paper=PAPER,
        claim=f"on {label}, at every (checkpoint, N) where the network KL is at least "
        f"{DOMINATES:g} x the exact score's ({', '.join(fam)}): the score error moves the "
        "preference towards rho=7, paired change (KL_exp - KL_poly)_network - "
        "(KL_exp - KL_poly)_exact > 0; least favourable interval, Bonferroni over "
        "checkpoints x N",
        measured=cmp.interval,
        expect=at_least(0.0),
        section="ds-crossover",
        **reg_tol(cmp.interval),
    )
    # per checkpoint, for the prose: the change's least favourable interval at that checkpoint
    # (Bonferroni over that checkpoint's N) against the dominance ratio
    parts, chg_ck[tname] = [], {}
    for k in sorted({int(key.split()[0]) for key in fam}):
        sub = {key: v for key, v in fam.items() if int(key.split()[0]) == k}
        c_k = stats.compare_rivals(np.zeros(len(SEEDS)), sub).interval
        rk = min(  # smallest ratio over the dominated N of this checkpoint
            float(
                dominance.loc[
                    (tname, k, int(key.split("N=")[1])), ["ratio_exp", "ratio_poly"]
                ].min()
            )
            for key in sub
        )
        chg_ck[tname][k] = (c_k, rk)
        parts.append(
            f"{k} steps (ratio >= {rk:.1f}): {c_k.value:+.2g} [{c_k.low:+.2g}, {c_k.high:+.2g}]"
        )
    glue(
        f"chg_{tname}_by_ck",
        "; ".join(parts) if parts else "no dominated checkpoint",
        display=False,
    )
    glue(f"flip_{tname}", flip_text(tname), display=False)
    glue(f"chg_{tname}", cmp.interval.value, display=False)
    glue(f"chg_{tname}_lo", cmp.interval.low, display=False)
    glue(f"chg_{tname}_hi", cmp.interval.high, display=False)
    glue(f"chg_{tname}_at", cmp.decisive, display=False)
    # the old reading, for the prose: least favourable Delta-KL where the ratio >= DOMINATES
    fam_d = dominated_family(tname)
    if fam_d:
        under[tname] = stats.compare_rivals(np.zeros(len(SEEDS)), fam_d)
# the reversal: targets where the change points to rho=7 at the first checkpoint and
# significantly away from it at a later dominated one
rev = []
TNAME = {"chapter": "chapter's mixture", "narrow": "narrow mixture", "wide": "wide mixture"}
for tname, byk in chg_ck.items():
    ks = sorted(byk)
    later = [k for k in ks[1:] if byk[k][0].high < 0]
    if ks and byk[ks[0]][0].low > 0 and later:
        k = later[0]
        rev.append(
            f"on the {TNAME[tname]} from {byk[ks[0]][0].value:+.2g} at {ks[0]} steps to "
            f"{byk[k][0].value:+.2g} [{byk[k][0].low:+.2g}, {byk[k][0].high:+.2g}] at {k} steps, "
            f"where the network KL is still {byk[k][1]:.1f} x the exact score's"
        )
glue(
    "chg_reversal",
    "the change reverses with training, " + "; ".join(rev)
    if rev
    else "no target's change reverses significantly between checkpoints",
    display=False,
)
for cid, tname, label in [
    ("E4.3k", "gaussian", "the single Gaussian (data's mean and variance)"),
]:
    fam = dominated_family(tname)
    tested = bool(fam)
    if not tested:  # score error never dominates on this target: a question on every setting
        g_all = dominance.loc[tname]
        fam = {
            f"{k} steps, N={n}": (lambda g: (g["kl_exp"] - g["kl_poly"]).values)(
                trained(k, n, trained_all[trained_all.target == tname])
            )
            for k, n in g_all.index
        }
        ratio_max = float(g_all[["ratio_exp", "ratio_poly"]].max().max())
    cmp = stats.compare_rivals(np.zeros(len(SEEDS)), fam)  # advantage = Delta-KL per seed
    under[tname] = cmp
    ledger.record(
        cid,
        kind="question",
        paper=PAPER,
        claim=(
            f"on {label} score error dominates (network KL >= {DOMINATES:g} x exact-score KL) at "
            f"{', '.join(fam)}: is rho=7 better there?"
            if tested
            else f"on {label} the networks' KL stays within {ratio_max:.2f} x the exact score's "
            "(score error never dominates, so the paper's rule is not tested here): does rho=7 "
            f"win at every checkpoint and N ({', '.join(fam)}), as with the exact score?"
        )
        + "; least favourable Bonferroni-adjusted paired interval",
        measured=cmp.interval,
        expect=at_least(0.0),
        section="ds-crossover",
        **reg_tol(cmp.interval),
    )
    glue(
        "gauss_dom_text",
        "score error dominates at " + ", ".join(fam) + " by our factor"
        if tested
        else f"the networks' KL is at most {ratio_max:.2f} times the exact score's at every "
        "checkpoint, so score error never dominates and the paper's rule is not tested "
        "there (a question of ours)",
        display=False,
    )
ratio_last = float(dominance.loc[("chapter", last, n_mid), "ratio_poly"])
ledger.record(
    "E4.3b",
    kind="paper",
    source=well,
    paper=PAPER,
    claim=f"best-trained network ({last} Adam steps, KL {ratio_last:.2g} x the exact score's) "
    f"on the chapter's mixture: the exponential schedule is better, Delta-KL < 0 at "
    f"N = {n_mid} (conditional on the target, see E4.3c)",
    measured=d_last,
    expect=at_most(0.0),
    section="ds-crossover",
    **reg_tol(d_last),
)
ledger.record(
    "E4.3c",
    kind="paper",
    source=well,
    paper=PAPER,
    claim="exact score on the chapter's mixture: the exponential schedule is better at every N "
    f"in {cfg['n_list']} (largest Delta-KL over N)",
    measured=d_exact[names[0]],
    expect=at_most(0.0),
    section="ds-crossover",
    rtol=0.0,
    atol=1e-6,
)
UNIF = ds.normalised_profile(ds.ERROR_PROFILES["uniform"], SMIN, SMAX)
e_star_unif = ds.bound_crossover(n_mid, SMIN, SMAX, UNIF)
ledger.record(
    "E4.3d",
    kind="derived",
    paper=PAPER,
    claim=f"a controlled score error of uniform size e = {e_max} on the chapter's mixture lies "
    f"below the reconstructed bound's crossover e* = {e_star_unif:.2g} (N = {n_mid}), where the "
    "bound prefers the exponential schedule: Delta-KL = KL_exp - KL_poly < 0 "
    f"({len(p_max)} random fields, paired)",
    measured=d_unif,
    expect=at_most(0.0),
    section="ds-crossover",
    **reg_tol(d_unif),
)
g_closed = by_target[gauss_name]
for cid, t in zip(["E4.3e", "E4.3f", "E4.3g"], names[1:], strict=True):
    exact_gauss = TARGETS[t].n_components == 1
    ledger.record(
        cid,
        kind="paper",
        source=well,
        paper=PAPER,
        claim=f"exact score on a {t}: the exponential schedule is better at every N in "
        f"{cfg['n_list']} (largest Delta-KL over N)"
        + (" (closed form, no grid)" if exact_gauss else ""),
        measured=float(g_closed["dkl_closed"].max()) if exact_gauss else d_exact[t],
        expect=at_most(0.0),
        section="ds-crossover",
        rtol=0.0,
        atol=1e-6,
    )
sd_mid = float(cross_sd.loc[n_mid])
ledger.record(
    "E4.3j",
    kind="question",
    paper=PAPER,
    claim="exact score, single Gaussian swept in variance (closed form): does the preference "
    "flip from exponential (small variance) to rho=7 (large variance) at a standard deviation "
    f"within a factor 2 of sigma_data = 0.5, the data scale EDM tuned rho=7 for? crossover "
    f"standard deviation at N = {n_mid}",
    measured=sd_mid,
    expect=in_range(0.25, 1.0),
    section="ds-crossover",
    rtol=0.0,
    atol=0.01,
)
# what the data show at the least-trained checkpoint, on every target and N at once
least = {
    f"{t}, N={n}": trained(first, n, trained_all[trained_all.target == t]).pipe(
        lambda g: (g["kl_exp"] - g["kl_poly"]).values
    )
    for t in ["chapter", *EXTRA]
    for n in cfg["kl_steps"]
}
cmp_least = stats.compare_rivals(np.zeros(len(SEEDS)), least)
dom_first = dominance.xs(first, level="step").drop(index="gaussian", level="target")
ratio_least = float(dom_first[["ratio_exp", "ratio_poly"]].min().min())  # the three mixtures
ledger.record(
    "E4.3l",
    kind="question",
    paper=PAPER,
    claim=f"at the least-trained checkpoint ({first} Adam steps; network KL at least "
    f"{ratio_least:.1f} x the exact score's on the three mixtures), does the polynomial "
    "schedule win on every target (chapter, narrow, wide mixture, single Gaussian) and N in "
    f"{cfg['kl_steps']}? Delta-KL > 0, least favourable Bonferroni-adjusted paired interval",
    measured=cmp_least.interval,
    expect=at_least(0.0),
    section="ds-crossover",
    **reg_tol(cmp_least.interval),
)
glue_verdicts(15)
glue("least_dkl", cmp_least.interval.value, display=False)
glue("least_lo", cmp_least.interval.low, display=False)
glue("least_hi", cmp_least.interval.high, display=False)
glue("least_at", cmp_least.decisive, display=False)
glue("least_ratio", ratio_least, display=False)
glue("n_least", len(least), display=False)
glue("n_least_pos", int(sum(iv.low > 0 for iv in cmp_least.per_rival.values())), display=False)
glue("n_least_mean_pos", int(sum(v.mean() > 0 for v in least.values())), display=False)
for key, iv in [("d_first", d_first), ("d_last", d_last), ("d_unif", d_unif)]:
    glue(key, iv.value, display=False)
    glue(key + "_err", iv.half_width, display=False)
for tname, cmp in under.items():
    glue(f"under_{tname}", cmp.interval.value, display=False)
    glue(f"under_{tname}_lo", cmp.interval.low, display=False)
    glue(f"under_{tname}_hi", cmp.interval.high, display=False)
    glue(f"under_{tname}_at", cmp.decisive, display=False)
    glue(f"under_{tname}_n", len(cmp.per_rival), display=False)
    k_d, n_d = (int(x) for x in re.findall(r"\d+", cmp.decisive))
    r_d = dominance.loc[(tname, k_d, n_d), ["ratio_exp", "ratio_poly"]].min()
    glue(f"under_{tname}_ratio", float(r_d), display=False)
for key, t in zip(["d_chapter", "d_gauss", "d_wide", "d_narrow"], names, strict=True):
    g = by_target[t]
    col = "dkl_closed" if t == gauss_name else "dkl_fine"
    kp = g["kl_poly_closed"] if t == gauss_name else g["kl_poly_fine"]
    rel = g[col] / kp
    glue(key, float(g[col].max()), display=False)
    glue(key + "_rel_lo", float(rel.min()), display=False)
    glue(key + "_rel_hi", float(rel.max()), display=False)
    glue(key + "_npos", int((g[col] > 0).sum()), display=False)
ch = by_target[names[0]]
glue(
    "chapter_pos_N",
    ", ".join(str(int(n)) for n in ch.index[ch["dkl_fine"] > 0]) or "none",
    display=False,
)
glue("n_nlist", len(cfg["n_list"]), display=False)
glue("ratio_first", float(dominance.loc[("chapter", first, n_mid), "ratio_poly"]), display=False)
glue("dkl_exact_mid", float(np.subtract(*kl_exact_net[("chapter", n_mid)])), display=False)
glue("ratio_last", ratio_last, display=False)
glue("e_max", e_max, display=False)
glue("n_unif", len(p_max), display=False)
glue("last_exp", float(s_exp35[-2] / s_exp35[-1]), display=False)
glue("last_poly", float(s_poly35[-2] / s_poly35[-1]), display=False)
s_r15 = ds.schedule_sigmas(35, SMIN, SMAX, 15.0)
glue("last_r15", float(s_r15[-2] / s_r15[-1]), display=False)
glue("ck_first", first, display=False)
glue("ck_last", last, display=False)
glue("n_mid", n_mid, display=False)
glue("n_seeds", len(SEEDS), display=False)
glue("n_grid", N_GRID, display=False)
glue("n_fine", N_FINE, display=False)
glue("t_grid", T_GRID, display=False)
glue("t_fine", T_FINE, display=False)
glue("sd_mid", sd_mid, display=False)
glue("sd_lo", float(np.nanmin(cross_sd.values)), display=False)
glue("sd_hi", float(np.nanmax(cross_sd.values)), display=False)
glue("sd_data", float(np.sqrt(var_total)), display=False)
glue("sd_narrow_comp", float(np.sqrt(0.05)), display=False)
v005 = float(VARS[np.argmin(np.abs(VARS - 0.05))])
glue("v005", v005, display=False)
glue("rel_v005", abs(float(sd_ref.loc[v005, "rel_dKL"])), display=False)  # favours exp
glue(
    "rel_vdata",
    float(sweep[(sweep.N == n_mid)].iloc[int(np.argmin(np.abs(VARS - var_total)))]["rel_dKL"]),
    display=False,
)
kexp_range = sd_ref["kl_exp"]
glue("kexp_lo", float(kexp_range.min()), display=False)
glue("kexp_hi", float(kexp_range.max()), display=False)
glue("kpoly_lo", float(sd_ref["kl_poly"].min()), display=False)
glue("kpoly_hi", float(sd_ref["kl_poly"].max()), display=False)
es_trained = cross[cross.N == n_mid].groupby("step")[["E_S_exp", "E_S_poly"]].mean()
glue(
    "es_ratio_first",
    float(es_trained.loc[first, "E_S_exp"] / es_trained.loc[first, "E_S_poly"]),
    display=False,
)
glue(
    "es_ratio_last",
    float(es_trained.loc[last, "E_S_exp"] / es_trained.loc[last, "E_S_poly"]),
    display=False,
)
dominance

# %% [markdown]
# **Figure.** Left: the exact score error of the trained networks per level, averaged over
# seeds, one line per checkpoint. Middle: relative $\Delta\mathrm{KL}$ against training steps,
# error bars are 95% t-intervals over {glue:text}`n_seeds` seeds, dashed lines the exact
# score's value at each $N$; above zero the polynomial (EDM) schedule wins, below it the
# exponential one. Right: the same against the size $e$ of the uniform controlled error. Look at
# the sign of the middle panel at each checkpoint.

# %% tags=["hide-input"]
fig, ax = figure(2)
for j, n in enumerate([cfg["n_list"][0], n_mid, cfg["n_list"][-1]]):
    g = sweep[sweep.N == n]
    ax[0].semilogx(np.sqrt(g["var"]), g["rel_dKL"], "-", color=PALETTE[j], label=f"N = {n}")
ax[0].axhline(0, color="k", lw=0.8)
ax[0].axvline(np.sqrt(var_total), color="k", ls=":", lw=0.8)
ax[0].axvline(0.5, color="grey", ls="--", lw=0.8)
ax[0].set(
    xlabel="standard deviation of the Gaussian data",
    ylabel=r"$\Delta$KL / KL$_{\rho=7}$",
    title="single Gaussian, exact score",
)
ax[0].legend(fontsize=7)
for j, t in enumerate(names):
    g = by_target[t]
    col, kp = ("dkl_closed", "kl_poly_closed") if t == gauss_name else ("dkl_fine", "kl_poly_fine")
    ax[1].semilogx(g.index, g[col] / g[kp], "o-", ms=3, color=PALETTE[j], label=t.split(" (")[0])
ax[1].axhline(0, color="k", lw=0.8)
ax[1].set(
    xlabel="number of levels $N$",
    ylabel=r"$\Delta$KL / KL$_{\rho=7}$",
    title="exact score, four targets",
)
ax[1].set_xticks(cfg["n_list"])
ax[1].xaxis.set_major_formatter(ScalarFormatter())
ax[1].xaxis.set_minor_formatter(NullFormatter())
ax[1].tick_params(axis="x", labelsize=7)
ax[1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))

# %% [markdown]
# **Figure.** Left: relative $\Delta\mathrm{KL}$ (positive: $\rho=7$ wins) of the exact score
# on a single Gaussian against its standard deviation, in closed form, at three $N$; dotted:
# the chapter's data, dashed: EDM's $\sigma_{\rm data}=0.5$. Right: the same on the four targets
# against $N$. Look at where the curves cross zero.
#
# **Result, well-trained half (exact score).** The sign depends on the **data scale**. On a
# single Gaussian the exponential grid wins below a standard deviation of about
# {glue:text}`sd_mid:.2f` and $\rho=7$ above it (at $N=${glue:text}`n_mid`; from
# {glue:text}`sd_lo:.2f` to {glue:text}`sd_hi:.2f` over the values of $N$ swept;
# E4.3j: {glue:text}`v_E43j`). Across the sweep $\mathrm{KL}_{\exp}$ stays between
# {glue:text}`kexp_lo:.3g` and {glue:text}`kexp_hi:.3g` nats while $\mathrm{KL}_{\rho=7}$ runs
# from {glue:text}`kpoly_lo:.3g` to {glue:text}`kpoly_hi:.3g`: the geometric grid is
# scale-free, $\rho=7$ is not. A smooth Gaussian of variance {glue:text}`v005:.3g` favours the
# exponential grid by {glue:text}`rel_v005:.0%`; one with the chapter's variance favours
# $\rho=7$ by {glue:text}`rel_vdata:.0%`. Over all $N$ (largest $\Delta\mathrm{KL}$; relative range):
#
# | target, exact score | largest $\Delta\mathrm{KL}$ over $N$ | $N$ with $\rho=7$ winning | relative $\Delta\mathrm{KL}$ | verdict |
# |---|---|---|---|---|
# | chapter mixture | {glue:text}`d_chapter:.2g` | {glue:text}`d_chapter_npos` | {glue:text}`d_chapter_rel_lo:.1%` to {glue:text}`d_chapter_rel_hi:.1%` | {glue:text}`v_E43c` |
# | single Gaussian (closed form) | {glue:text}`d_gauss:.2g` | {glue:text}`d_gauss_npos` | {glue:text}`d_gauss_rel_lo:.1%` to {glue:text}`d_gauss_rel_hi:.1%` | {glue:text}`v_E43e` |
# | wide mixture | {glue:text}`d_wide:.2g` | {glue:text}`d_wide_npos` | {glue:text}`d_wide_rel_lo:.1%` to {glue:text}`d_wide_rel_hi:.1%` | {glue:text}`v_E43f` |
# | narrow mixture | {glue:text}`d_narrow:.2g` | {glue:text}`d_narrow_npos` | {glue:text}`d_narrow_rel_lo:.1%` to {glue:text}`d_narrow_rel_hi:.1%` | {glue:text}`v_E43g` |
#
# On the chapter's mixture $\rho=7$ wins at $N=${glue:text}`chapter_pos_N`. Of the four targets
# the well-trained half of the rule holds on the narrow mixture and on the chapter's (except at
# $N=${glue:text}`chapter_pos_N`), and fails on the wide mixture and the single Gaussian; no
# sweep of the mixtures' component variance was run, so no threshold on the component width is
# claimed. The reconstructed $E_D$ depends on the grid only and cannot see the target.
#
# **Result, less-trained half (networks).** At {glue:text}`ck_first` steps the network's KL is
# {glue:text}`ratio_first:.1f` times the exact score's ($\rho=7$, $N=${glue:text}`n_mid`), at
# {glue:text}`ck_last` steps {glue:text}`ratio_last:.1f` times. The level at
# {glue:text}`ck_first` steps, least favourable over $N$, is on the chapter's mixture
# {glue:text}`lvl_chapter:.2g` [{glue:text}`lvl_chapter_lo:.2g`, {glue:text}`lvl_chapter_hi:.2g`]
# nats at "{glue:text}`lvl_chapter_at`" (E4.3a: {glue:text}`v_E43a`), on the narrow mixture
# {glue:text}`lvl_narrow:.2g` [{glue:text}`lvl_narrow_lo:.2g`, {glue:text}`lvl_narrow_hi:.2g`] at
# "{glue:text}`lvl_narrow_at`" (E4.3h: {glue:text}`v_E43h`), and on the wide mixture
# {glue:text}`lvl_wide:.2g` [{glue:text}`lvl_wide_lo:.2g`, {glue:text}`lvl_wide_hi:.2g`] at
# "{glue:text}`lvl_wide_at`" (E4.3i: {glue:text}`v_E43i`). On the wide mixture $\rho=7$ also wins
# with the exact score (E4.3f), so the level alone does not discriminate there; the change does (E4.3p).
#
# **The change, per checkpoint (ours).** The paired change towards $\rho=7$, least favourable
# over the $N$ of each checkpoint whose network KL is at least {glue:text}`dominates` times the
# exact score's (ratio in brackets), is on the chapter's mixture {glue:text}`chg_chapter_by_ck`;
# on the narrow mixture {glue:text}`chg_narrow_by_ck`; on the wide mixture
# {glue:text}`chg_wide_by_ck`. Jointly (Bonferroni over checkpoints $\times$ $N$) the least
# favourable change is {glue:text}`chg_chapter:.2g` [{glue:text}`chg_chapter_lo:.2g`,
# {glue:text}`chg_chapter_hi:.2g`] at "{glue:text}`chg_chapter_at`" on the chapter's mixture
# (E4.3n: {glue:text}`v_E43n`), {glue:text}`chg_narrow:.2g` [{glue:text}`chg_narrow_lo:.2g`,
# {glue:text}`chg_narrow_hi:.2g`] at "{glue:text}`chg_narrow_at`" on the narrow one (E4.3o:
# {glue:text}`v_E43o`) and {glue:text}`chg_wide:.2g` [{glue:text}`chg_wide_lo:.2g`,
# {glue:text}`chg_wide_hi:.2g`] at "{glue:text}`chg_wide_at`" on the wide one (E4.3p:
# {glue:text}`v_E43p`). Across checkpoints {glue:text}`chg_reversal`. Where it reverses, a
# positive change needs a larger ratio than {glue:text}`dominates`, and these data fix that ratio
# only to within the ratios of the checkpoints listed.
#
# **The threshold reading, for comparison.** Read as "$\rho=7$ better at every (checkpoint,
# $N$) where the network's KL is at least $T$ times the exact score's" (Bonferroni over those
# settings), the verdict depends on $T$: on the chapter's mixture it is
# {glue:text}`flip_chapter`; on the narrow mixture {glue:text}`flip_narrow`; on the wide mixture
# {glue:text}`flip_wide`. A verdict at one fixed $T$ is a verdict on that threshold, not on the
# paper.
#
# On the single Gaussian {glue:text}`gauss_dom_text`; over all its (checkpoint, $N$) the least
# favourable $\Delta\mathrm{KL}$ is {glue:text}`under_gaussian:.2g`
# [{glue:text}`under_gaussian_lo:.2g`, {glue:text}`under_gaussian_hi:.2g`] at
# "{glue:text}`under_gaussian_at`" (E4.3k: {glue:text}`v_E43k`). At the least-trained checkpoint
# ({glue:text}`ck_first` steps; on the three mixtures the networks' KL is at least
# {glue:text}`least_ratio:.1f` times the exact score's) the simultaneous interval of
# $\Delta\mathrm{KL}$ lies above zero at {glue:text}`n_least_pos` of the {glue:text}`n_least`
# (target, $N$) pairs; the least favourable, "{glue:text}`least_at`", is
# {glue:text}`least_dkl:.2g` [{glue:text}`least_lo:.2g`, {glue:text}`least_hi:.2g`] (E4.3l, our
# question: {glue:text}`v_E43l`). At {glue:text}`ck_last` steps on the chapter's mixture
# $\Delta\mathrm{KL}=${glue:text}`d_last:.2g` $\pm$ {glue:text}`d_last_err:.2g` (E4.3b:
# {glue:text}`v_E43b`), against {glue:text}`dkl_exact_mid:.2g` with the exact score at the same
# $N$. The reconstructed score term's ratio $E_S^{\exp}/E_S^{\rho=7}$ is
# {glue:text}`es_ratio_first:.2f` at {glue:text}`ck_first` and {glue:text}`es_ratio_last:.2f` at
# {glue:text}`ck_last` steps. One architecture and one optimiser throughout.
#
# **What the data show, per target.** With the exact score (Test 3) the better grid is a
# property of the target: $\rho=7$ wins at {glue:text}`d_narrow_npos` of the
# {glue:text}`n_nlist` values of $N$ on the narrow mixture, {glue:text}`d_chapter_npos` on the
# chapter's mixture, {glue:text}`d_wide_npos` on the wide mixture and
# {glue:text}`d_gauss_npos` on the single Gaussian. At the least-trained checkpoint
# ({glue:text}`ck_first` steps: far from the exact score on the three mixtures, close to it on
# the single Gaussian, whose pairs are included) $\rho=7$ is ahead in the seed mean at
# {glue:text}`n_least_mean_pos` of the {glue:text}`n_least` (target, $N$) pairs, significantly
# so at {glue:text}`n_least_pos` (E4.3l). The threshold readings above give the ratio of
# network to exact-score KL at which the preference switches to $\rho=7$ on each mixture.
#
# **Test 4: the crossover level the reconstructed bound predicts.** For a score error
# $e(\sigma) = e\,f(\sigma)$ of shape $f$ (normalised to unit mean square over $\log\sigma$ on
# $[\sigma_{\min},\sigma_{\max}]$, so that $e$ is its RMS level), $E_I$ is the same for both
# grids and $E_S = e^2 S$ with $S = \sum_k(1-\sigma_{k+1}^2/\sigma_k^2)f(\sigma_k)^2$. The two
# reconstructed bounds are therefore equal at
# $e^* = \big((E_D^{\rho=7}-E_D^{\exp})/(S^{\exp}-S^{\rho=7})\big)^{1/2}$
# (`companion.design_space.bound_crossover`, deterministic): below $e^*$ the bound prefers the
# exponential grid, above it $\rho=7$. We compute $e^*$ at $N\in${glue:text}`xo_n` for five
# shapes: uniform, $\propto 1/\sigma$, a bump of width 1 in $\log\sigma$ at $\sigma=0.01$ (low)
# and at $\sigma=0.4$ (mid), and the measured profile of the networks at
# {glue:text}`ck_first` steps (seed mean, log-log interpolated). The crossover is measured on
# a single Gaussian with the data's mean and variance 0.05, on which the exact score favours
# the exponential grid at every $N$ (so a crossover can exist), with
# {glue:text}`xo_fields` random *affine* error fields: the denoiser error at level $\sigma$ is
# $\sigma\,e f(\sigma)(\cos\theta+\sin\theta\,u)$ with $u$ the standardised noisy point and a
# random phase $\theta = b+\nu\log\sigma$, so its RMS in $\varepsilon$ units is exactly
# $e f(\sigma)$ and the sampler's recursion stays affine: every output KL is in closed form
# (`companion.design_space.gaussian_perturbed_output_kl`), no grid. For each setting, $e$
# runs over {glue:text}`xo_e` log-spaced values in $[0.1, 10]$; the measured $e^*$ is where
# the field-averaged $\Delta\mathrm{KL}$ first turns positive, with a 95% BCa bootstrap interval
# over the fields (a crossing outside $[0.1, 10]$ is censored at the end of the range).
#
# **Criterion, fixed before the run (E4.3m, derived).** The reconstruction predicts the
# crossover if measured and predicted $e^*$ agree within a factor 2 at every setting (the
# decisive setting is the one whose interval lies farthest outside; per-setting intervals,
# not adjusted for multiplicity).

# %% tags=["hide-input"]
XO_VAR = 0.05
E_GRID = np.logspace(-1, 1, cfg["xo_e"])
err_first = errs[errs.step == first].groupby("sigma")["err"].mean()
XO_PROFILES = {k: ds.normalised_profile(f, SMIN, SMAX) for k, f in ds.ERROR_PROFILES.items()}
XO_PROFILES["trained"] = ds.normalised_profile(
    ds.interpolated_profile(err_first.index.values, err_first.values), SMIN, SMAX
)
fb, fnu = ds.affine_error_fields(cfg["xo_fields"], seed)


def crossing_stat(d, pred=1.0):
    """log10(measured e* / pred) from the field-averaged Delta-KL (fields x e); censored at
    the ends of the e grid."""
    m = d.mean(0)
    c = ds.first_crossing(E_GRID, m)
    if not np.isfinite(c):
        c = E_GRID[0] if m[0] >= 0 else E_GRID[-1]
    return float(np.log10(c / pred))


xo_rows, xo_rel = [], {}
for pname, f in XO_PROFILES.items():
    for n in cfg["xo_n"]:
        kl = {}
        for r in (None, 7.0):
            sig = ds.schedule_sigmas(n, SMIN, SMAX, r)
            kl[r] = ds.gaussian_perturbed_output_kl(
                mu_g, XO_VAR, sig, *ds.affine_error(sig, E_GRID, f, fb, fnu)
            ).T  # (fields, e)
        d = kl[None] - kl[7.0]
        # relative to the field-mean KL: the same sign as the field-mean Delta-KL that defines e*
        xo_rel[(pname, n)] = d.mean(0) / (0.5 * (kl[None] + kl[7.0])).mean(0)
        pred = ds.bound_crossover(n, SMIN, SMAX, f)
        meas = 10 ** crossing_stat(d)
        d_mean, d_se = d.mean(0), d.std(0, ddof=1) / np.sqrt(d.shape[0])
        beyond = d_mean - d_se > 0  # rho=7 ahead by more than one standard error of the fields
        stays = np.flip(np.cumprod(np.flip(beyond))).astype(bool)  # ahead from here to e = 10
        row = dict(
            profile=pname,
            N=n,
            e_pred=pred,
            e_meas=meas,
            censored=meas in E_GRID[[0, -1]],
            sign_changes=int((np.diff(np.sign(d_mean)) != 0).sum()),
            rho7_at_emax=bool(d_mean[-1] > 0),
            e_stable=float(E_GRID[np.argmax(stays)]) if stays.any() else np.nan,
        )
        if np.isfinite(pred):
            iv = stats.bootstrap_ci(  # resample whole fields (rows of d)
                (np.arange(d.shape[0]),),
                lambda i, d=d, p=pred: crossing_stat(d[i.astype(int)], p),
                n_resamples=999,
            )
            row.update(log10_ratio=iv.value, lo=iv.low, hi=iv.high, iv=iv)
        xo_rows.append(row)
xo = pd.DataFrame(xo_rows).set_index(["profile", "N"])
C2 = float(np.log10(2.0))
ok_rows = xo.dropna(subset=["log10_ratio"])
outside = np.maximum(ok_rows["lo"] - C2, -C2 - ok_rows["hi"])
reach = np.maximum(ok_rows["hi"] - C2, -C2 - ok_rows["lo"])
xo_key = outside.idxmax() if (outside > 0).any() else reach.idxmax()
xo_iv = ok_rows.loc[xo_key, "iv"]
ledger.record(
    "E4.3m",
    kind="derived",
    paper=PAPER,
    claim="the reconstructed bound predicts the score-error level e* at which rho=7 overtakes "
    "the exponential grid within a factor 2, at every error profile and N "
    f"({len(ok_rows)} settings; Gaussian data of variance {XO_VAR}, {cfg['xo_fields']} random "
    f"affine error fields, closed form); log10(measured / predicted e*) at the decisive "
    f"setting {xo_key[0]}, N = {xo_key[1]}",
    measured=xo_iv,
    expect=in_range(-C2, C2),
    section="ds-crossover",
    **reg_tol(xo_iv),
)
glue_verdicts(1)
ratio_all = 10 ** ok_rows["log10_ratio"]
glue("xo_n", ", ".join(str(n) for n in cfg["xo_n"]), display=False)
glue("xo_fields", cfg["xo_fields"], display=False)
glue("xo_e", cfg["xo_e"], display=False)
glue("xo_ratio_lo", float(ratio_all.min()), display=False)
glue("xo_ratio_hi", float(ratio_all.max()), display=False)
glue("xo_n_settings", len(ok_rows), display=False)
glue("xo_spread", float(ratio_all.max() / ratio_all.min()), display=False)
glue(
    "xo_nprop",
    2 * len(XO_PROFILES) * len(cfg["xo_n"]) * cfg["xo_fields"] * cfg["xo_e"],
    display=False,
)
glue("xo_n_below", int((ok_rows["hi"] < -C2).sum()), display=False)
glue("xo_n_cens", int(xo["censored"].sum()), display=False)
glue("xo_n_nopred", int(xo["e_pred"].isna().sum()), display=False)
glue("xo_dec", f"{xo_key[0]}, N = {xo_key[1]}", display=False)
glue("xo_dec_ratio", float(10**xo_iv.value), display=False)
glue("xo_dec_lo", float(10**xo_iv.low), display=False)
glue("xo_dec_hi", float(10**xo_iv.high), display=False)
glue("e_star_unif", e_star_unif, display=False)
# where the two grids' log-steps are equal: rho b sigma^(-1/rho) = L / (N - 1), for every N
HIGH = ds.normalised_profile(lambda x: np.exp(-0.5 * np.log(x / 2.0) ** 2), SMIN, SMAX)
glue(
    "high_nopred",
    int(sum(np.isnan(ds.bound_crossover(n, SMIN, SMAX, HIGH)) for n in cfg["xo_n"])),
    display=False,
)
glue("n_xo_n", len(cfg["xo_n"]), display=False)
glue(
    "sigma_eq",
    float((rho * (SMAX ** (1 / rho) - SMIN ** (1 / rho)) / L_range) ** rho),
    display=False,
)
glue("xo_unif_meas", float(xo.loc[("uniform", n_mid), "e_meas"]), display=False)
pred_mid = xo.xs(n_mid, level="N")["e_pred"]
meas_mid = xo.xs(n_mid, level="N")["e_meas"]
glue("xo_rank_pred", ", ".join(pred_mid.sort_values().index), display=False)
glue("xo_rank_meas", ", ".join(meas_mid.sort_values().index), display=False)
glue("xo_spearman", float(stats.spearman(pred_mid.values, meas_mid.values)), display=False)
glue("xo_sc_min", int(xo["sign_changes"].min()), display=False)
glue("xo_sc_max", int(xo["sign_changes"].max()), display=False)
glue("xo_n_multi", int((xo["sign_changes"] > 1).sum()), display=False)
glue("xo_n_all", len(xo), display=False)
glue("xo_n_exp_emax", int((~xo["rho7_at_emax"]).sum()), display=False)
glue("xo_n_stable", int(xo["e_stable"].notna().sum()), display=False)
glue("e_grid_max", float(E_GRID[-1]), display=False)
xo.drop(columns="iv")

# %% tags=["hide-input"]
fig, ax = figure(2)
for i, pname in enumerate(XO_PROFILES):
    ax[0].semilogx(E_GRID, xo_rel[(pname, n_mid)], "-", color=PALETTE[i], label=pname)
    ax[0].axvline(xo.loc[(pname, n_mid), "e_pred"], color=PALETTE[i], ls="--", lw=0.8)
ax[0].axhline(0, color="k", lw=0.8)
ax[0].set(
    xlabel=r"score-error level $e$ ($\varepsilon$ units, RMS over $\log\sigma$)",
    ylabel=r"$\Delta$KL / $\overline{\mathrm{KL}}$ (field means)",
    ylim=(-0.3, 0.6),
    title=f"N = {n_mid}: + means rho=7 better",
)
ax[0].legend(fontsize=7, loc="upper left")
for i, pname in enumerate(XO_PROFILES):
    g = xo.loc[pname].dropna(subset=["log10_ratio"])
    ax[1].errorbar(
        g["e_pred"],
        g["e_pred"] * 10 ** g["log10_ratio"],
        yerr=[
            g["e_pred"] * (10 ** g["log10_ratio"] - 10 ** g["lo"]),
            g["e_pred"] * (10 ** g["hi"] - 10 ** g["log10_ratio"]),
        ],
        fmt="o",
        color=PALETTE[i],
        capsize=3,
        label=pname,
    )
lim = np.array([0.05, 100.0])
ax[1].loglog(lim, lim, "k-", lw=0.8)
ax[1].fill_between(lim, lim / 2, lim * 2, color="grey", alpha=0.2, label="factor 2")
ax[1].set(xlabel=r"predicted $e^*$ (reconstructed bound)", ylabel=r"measured $e^*$", xlim=lim)
ax[1].legend(fontsize=7, loc="upper left", ncol=2)

# %% [markdown]
# **Figure.** Left: field-mean $\Delta\mathrm{KL}$ divided by the field-mean KL (so its sign is
# that of the field-mean $\Delta\mathrm{KL}$ that defines the measured $e^*$) against the error
# level $e$ at $N=${glue:text}`n_mid`, one line per error profile; the dashed vertical line of each colour is
# the reconstructed bound's $e^*$. Above zero $\rho=7$ wins. The axis is cut at $-0.3$ and
# $0.6$: a curve that leaves it (the $1/\sigma$ profile's at the largest $e$) is clipped there.
# Right: measured against predicted
# $e^*$ at every profile and $N$, with 95% bootstrap intervals over the fields; the grey band is
# the factor-2 criterion. Look at how far below the band the points lie.
#
# **Result.** The bound's $e^*$ exists for every profile and $N$ here ({glue:text}`xo_n_nopred`
# settings without one): the exponential grid's $S$ is the larger. The weight
# $1-\sigma_{k+1}^2/\sigma_k^2 = 1-e^{-2\ell_k}$ is concave in the log-step $\ell_k$, so fewer,
# larger log-steps over the same range collect less of the error, and the polynomial grid's
# log-steps are the larger ones below $\sigma\approx$ {glue:text}`sigma_eq:.2f` (to leading
# order the same for every $N$), the smaller ones above it. An error concentrated above that
# level reverses the sign: for a bump of width 1 in $\log\sigma$ at $\sigma=2$ the bound has
# no crossover at {glue:text}`high_nopred` of the {glue:text}`n_xo_n` values of $N$ (where
# there is none, $\rho=7$'s bound is the larger at every $e$). So the *bound* has the direction
# of the paper's advice: a large enough score error favours $\rho=7$ (the measured $\Delta$KL
# does not follow it monotonically, below). The measured crossover
# comes at a level {glue:text}`xo_ratio_lo:.2g` to {glue:text}`xo_ratio_hi:.2g` times the
# predicted one over the {glue:text}`xo_n_settings` settings ({glue:text}`xo_n_below` of them
# entirely below the factor-2 band; {glue:text}`xo_n_cens` measured crossings censored at the
# ends of the range); at the decisive setting ({glue:text}`xo_dec`) the ratio is
# {glue:text}`xo_dec_ratio:.2g` [{glue:text}`xo_dec_lo:.2g`, {glue:text}`xo_dec_hi:.2g`]
# (E4.3m: {glue:text}`v_E43m`). At $N=${glue:text}`n_mid` the bound orders the profiles by
# $e^*$ as {glue:text}`xo_rank_pred`, the measurement as {glue:text}`xo_rank_meas` (Spearman
# {glue:text}`xo_spearman:.2f`). For a uniform error the bound puts $e^*$ at
# {glue:text}`e_star_unif:.2g`, the Gaussian at {glue:text}`xo_unif_meas:.2g`; on the
# chapter's mixture a uniform error of size {glue:text}`e_max` (below the predicted $e^*$, so
# the bound prefers the exponential grid) gives $\Delta\mathrm{KL}=${glue:text}`d_unif:.2g`
# $\pm$ {glue:text}`d_unif_err:.2g` over {glue:text}`n_unif` random fields (E4.3d:
# {glue:text}`v_E43d`).
#
# **The measured preference is not monotone in $e$.** The field-mean $\Delta\mathrm{KL}(e)$
# changes sign {glue:text}`xo_sc_min` to {glue:text}`xo_sc_max` times over $e\in[0.1,$
# {glue:text}`e_grid_max:.0f`$]$ (more than once at {glue:text}`xo_n_multi` of the
# {glue:text}`xo_n_all` (profile, $N$) settings), and at $e=${glue:text}`e_grid_max:.0f` the
# exponential grid is ahead again at {glue:text}`xo_n_exp_emax` of them. The measured $e^*$ of
# E4.3m is read as the *first* sign change of the field-mean $\Delta\mathrm{KL}$ on the $e$ grid
# (censored at the ends), so it is fragile where the first change is a near-zero crossing. A
# definition with an effect size fixed in advance, the smallest $e$ above which the field-mean
# $\Delta\mathrm{KL}$ stays more than one standard error of the fields above zero up to
# $e=${glue:text}`e_grid_max:.0f` (column `e_stable` of the table), exists at only
# {glue:text}`xo_n_stable` of the {glue:text}`xo_n_all` settings. The bound's single crossover
# is thus a description of our reconstruction, not of the measured output KL.
#
# **What the reconstruction can and cannot carry.** Its *bound* carries the direction of "less
# trained $\to$ polynomial" for the five profiles of the sweep (the measured $\Delta$KL, above,
# does not), the networks' measured one
# included: with our $E_D$ and $E_S$ each has a finite $e^*$ above which $\rho=7$ has the
# smaller bound (an error concentrated at high noise, like the bump at $\sigma=2$ above, would
# not). It cannot carry *when* the advice
# applies: its $e^*$ misses the measured crossover by the factors above, does not order the
# profiles as the measurement does, and, because $E_D$ depends on the grid only, it predicts an
# exponential win at small error on every target, while on the single Gaussian with the data's
# variance and on the wide mixture $\rho=7$ already wins with the exact score (E4.3e, E4.3f), so
# there is no crossover to predict. Our reconstruction sets the constants in front of $E_D$ and
# $E_S$ to 1; other constants would move every predicted $e^*$ by one common factor, but the
# measured/predicted ratios spread over a factor {glue:text}`xo_spread:.0f` across the
# settings, which no common factor removes. The paper's own $E_S$ may weight the levels
# differently from ours; these statements are about our reconstruction, not about the paper's
# theorem.
#
# (ds-weighting)=
# ## E4.4 Bell-shaped noise distribution and weighting
#
# **The paper's claim** (summary): the analysis gives a "theoretical justification for
# 'bell-shaped' weighting in training (as used in Karras et al.)". **Test.** Same network, same
# budget, five designs (from `companion.design_space.TRAINING_PRESETS`): EDM's log-normal with
# $\lambda(\sigma)$; log-uniform $\sigma$ with the $\varepsilon$-loss (Song's VE); uniform $t$
# on the VP-linear schedule with the $\varepsilon$-loss (DDPM/Song VP); a deliberately
# increasing and a decreasing weighting (log-uniform $\sigma$, denoiser weight 1 or
# $\sigma^{-4}$, so the $\varepsilon$-weight grows like $\sigma^2$ or falls like $\sigma^{-2}$).
# Where the bell should sit is the subject of the second half of this section (the exact
# sensitivity of the output law to a score error at each noise level, and a sweep of EDM's
# $P_{\rm mean}$).
# Each design is **classified by its measured $\varepsilon$-weight density** in $\log\sigma$
# (`companion.design_space.classify_profile`: a bell has its maximum inside its support and
# falls below half of it at both ends): the non-bell designs are {glue:text}`nonbell_list`;
# VP's uniform $t$ is a bell (figure, left), so it is compared with EDM as another bell
# ({glue:text}`bells_list`). The noise distribution and the loss weighting
# enter only through their product here; the paper's separate preferences for each are not
# separated. Metrics: the
# exact per-level score error and the exact output KL in 1-D, and the sliced $W_2$ distance to
# a reference sample on the 8-mode ring in 2-D (EDM and the three non-bell designs only; `full`
# profile only), with one fixed sampler (exponential integrator, $\rho=7$, $N=35$). Every design is trained on the same seeds, so the comparisons are paired;
# "EDM beats every rival" is decided by Bonferroni-adjusted paired t-intervals of the rivals'
# excess over EDM (`companion.stats.compare_rivals`), not by comparing a minimum of noisy numbers.
# The paper's claim is tested against the non-bell designs, after the main budget and (1-D,
# `full` profile only) a budget three times longer; whether EDM's bell beats other bells is our question (the paper's
# statement is about the shape).

# %% tags=["hide-input"]
# classify every design by its measured eps-weight density over its support (grid edges at
# log sigma_min and log sigma_max, wide enough for every design's support)
h_ls = float(np.log(SMAX / SMIN)) / 40
grid_ls = float(np.log(SMIN)) + h_ls * (torch.arange(-16, 56, dtype=torch.float64) + 0.5)
SD_DATA = float(gmm.covariance()[0, 0]) ** 0.5
dens = {
    n: ds.eps_weight_density(n, grid_ls, sigma_data=SD_DATA, n=100_000) for n in ds.TRAINING_PRESETS
}
shape = {n: ds.classify_profile(d) for n, d in dens.items()}
NONBELL = [n for n in ds.TRAINING_PRESETS if shape[n] in ("flat", "increasing", "decreasing")]
DESIGNS = list(ds.TRAINING_PRESETS)
SHIFTED = [n for n in DESIGNS if shape[n] == "bell" and n != "edm"]
FULL_ONLY = cfg["ring_and_long"]  # E4.4c and E4.4e run in the `full` profile only
RING_DESIGNS = ["edm", *NONBELL] if FULL_ONLY else []  # the designs the ring claim compares
LONG = 3 * cfg["preset_steps"]  # a second, longer budget (1-D, EDM and the non-bell designs)
ring8 = ring_mixture(8, 2.0, 0.1)
sp35 = ds.schedule_sigmas(35, SMIN, SMAX, 7.0)
pre_rows, pre_err = [], {}
ref_ring = ring8.sample(cfg["n_ring"], gen) + SMIN * torch.randn(
    cfg["n_ring"], 2, generator=gen, dtype=torch.float64
)
sw_floor = []  # sliced W2 between two independent target sets of the same size (noise floor)
for _s in PRESET_SEEDS:
    fresh = ring8.sample(cfg["n_ring"], gen) + SMIN * torch.randn(
        cfg["n_ring"], 2, generator=gen, dtype=torch.float64
    )
    sw_floor.append(float(sliced_w2(fresh, ref_ring, generator=torch.Generator().manual_seed(1))))
for name in DESIGNS:
    for s in PRESET_SEEDS:
        kl_long = np.nan
        if name in RING_DESIGNS:
            p_ = ds.TRAINING_PRESETS[name]
            nets_ = ds.train_checkpoints(
                gmm,
                [cfg["preset_steps"], LONG],
                seed=s,
                noise=p_.noise,
                weighting=p_.weighting,
                device=dev,
            )
            D1 = nets_[cfg["preset_steps"]]  # identical to train_preset's run (same seed)
            kl_long = ds.output_kl(nets_[LONG], gmm, sp35, n_points=N_GRID).value
        else:
            D1 = ds.train_preset(name, gmm, cfg["preset_steps"], seed=s, device=dev)
        pre_err[(name, s)] = ds.score_error(D1, gmm, e_sig).numpy()
        kl = ds.output_kl(D1, gmm, sp35, n_points=N_GRID).value
        if name == "edm" and s == PRESET_SEEDS[0]:  # E4.5a
            refine["edm"] = (kl, ds.output_kl(D1, gmm, sp35, n_points=N_FINE).value)
        sw = np.nan
        if name in RING_DESIGNS:
            D2 = ds.train_preset(name, ring8, cfg["preset_steps"], seed=s, device=dev)
            x0 = SMAX * torch.randn(cfg["n_ring"], 2, generator=gen, dtype=torch.float64)
            xs = sample_ve_exponential(D2, x0, sp35, generator=gen, disable=True)
            sw = float(sliced_w2(xs, ref_ring, generator=torch.Generator().manual_seed(1)))
        pre_rows.append(dict(design=name, seed=s, kl_1d=kl, kl_long=kl_long, sw2_ring=sw))
pre = pd.DataFrame(pre_rows)
pre_sum = pre.groupby("design", sort=False).agg(
    kl_1d=("kl_1d", "mean"),
    kl_sd=("kl_1d", "std"),
    kl_long=("kl_long", "mean"),
    sw2_ring=("sw2_ring", "mean"),
    sw2_sd=("sw2_ring", "std"),
)
pre_sum.assign(shape=[shape[n] for n in pre_sum.index])

# %% tags=["hide-input"]
fig, ax = figure(3, height=2.7)
for i, name in enumerate(DESIGNS):
    ax[0].plot(grid_ls, dens[name], color=PALETTE[i], label=f"{name} ({shape[name]})")
    ax[1].loglog(
        e_sig,
        np.mean([pre_err[(name, s)] for s in PRESET_SEEDS], 0),
        "o-",
        ms=3,
        color=PALETTE[i],
        label=name,
    )
ax[1].legend(fontsize=6)
ax[0].set(
    xlabel=r"$\log\sigma$", ylabel=r"$\varepsilon$-loss weight density", title="training designs"
)
ax[0].set_ylim(0, 0.6)
ax[0].legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.38), ncol=2)
ax[1].set(xlabel=r"$\sigma$", ylabel=r"score error $e(\sigma)$", title="1-D, exact error")
x = np.arange(len(pre_sum))
ax[2].bar(
    x,
    pre_sum["kl_1d"],
    yerr=stats.mean_t_halfwidth(
        pre.pivot(index="seed", columns="design", values="kl_1d")[pre_sum.index]
    )[1],
    color=[PALETTE[i] for i in range(len(pre_sum))],
    capsize=3,
)
ax[2].set_yscale("log")
ax[2].set_xticks(x, pre_sum.index, rotation=60, fontsize=7)
ax[2].set(ylabel="exact output KL (1-D)", title=r"sampler: $\rho=7$, $N=35$")

# %%
kl_by = pre.pivot(index="seed", columns="design", values="kl_1d")
cmp_kl = stats.compare_rivals(kl_by["edm"], {r: kl_by[r] for r in NONBELL})
if FULL_ONLY:
    kl_long_by = pre.dropna(subset=["kl_long"]).pivot(
        index="seed", columns="design", values="kl_long"
    )
    sw_by = pre.dropna(subset=["sw2_ring"]).pivot(index="seed", columns="design", values="sw2_ring")
    cmp_long = stats.compare_rivals(kl_long_by["edm"], {r: kl_long_by[r] for r in NONBELL})
    floor_iv = stats.t_interval(sw_floor)
    cmp_sw = stats.compare_rivals(sw_by["edm"], {r: sw_by[r] for r in NONBELL})
cmp_shift = stats.compare_rivals(kl_by["edm"], {r: kl_by[r] for r in SHIFTED})
not_incr = [n for n in DESIGNS if n != "increasing"]
nb_text = ", ".join(f"{r} ({shape[r]})" for r in NONBELL)
cmp_incr = stats.compare_rivals(
    kl_by["increasing"], {r: kl_by[r] for r in not_incr}, lower_is_better=False
)
bell = "'Theoretical justification for \"bell-shaped\" weighting in training'"
glue(
    "speed_text",
    f"At {cfg['preset_steps']} Adam steps with one learning rate for all designs this is a "
    "training-speed result: it says which weighting learns faster at this budget and this "
    "learning rate, not which is better at convergence (no budget or learning-rate sweep); the 3x budget (E4.4e) and the ring (E4.4c) run in `full`."
    if cfg["preset_steps"] < 1000
    else f"At {cfg['preset_steps']} Adam steps (one learning rate for all designs).",
    display=False,
)
ledger.record(
    "E4.4a",
    kind="paper",
    source=SUMMARY + bell,
    paper=PAPER,
    claim="EDM's bell-shaped design gives a smaller 1-D output KL than each design whose "
    f"measured eps-weight density is not a bell ({nb_text}), after {cfg['preset_steps']} Adam "
    "steps at one learning rate for all designs"
    + (
        " (a training-speed result: at this budget the rivals are where EDM is after fewer "
        "steps; not a converged comparison)"
        if cfg["preset_steps"] < 1000
        else ""
    )
    + ": smallest excess KL(rival) - KL(edm), simultaneous over the rivals",
    measured=cmp_kl.interval,
    expect=at_least(0.0),
    section="ds-weighting",
    **reg_tol(cmp_kl.interval),
)
ledger.record(
    "E4.4b",
    kind="question",
    paper=PAPER,
    claim=f"is the increasing weighting the worst of the {len(DESIGNS)} designs in 1-D output KL? "
    f"smallest excess KL(increasing) - KL(other), simultaneous over the {len(not_incr)} others",
    measured=cmp_incr.interval,
    expect=at_least(0.0),
    section="ds-weighting",
    **reg_tol(cmp_incr.interval),
)
ledger.record(
    "E4.4d",
    kind="question",
    paper=PAPER,
    claim="is EDM's bell better than the other bell among the designs (VP's uniform t, whose "
    "measured eps-weight density is also a bell)? smallest excess KL(other bell) - KL(edm) in "
    f"1-D, simultaneous over {', '.join(SHIFTED)}",
    measured=cmp_shift.interval,
    expect=at_least(0.0),
    section="ds-weighting",
    **reg_tol(cmp_shift.interval),
)
glue_verdicts(3)
if FULL_ONLY:
    ledger.record(
        "E4.4c",
        kind="paper",
        source=SUMMARY + bell,
        paper=PAPER,
        claim="EDM's bell-shaped design gives a smaller sliced W2 on the 2-D ring than each non-bell "
        f"design ({nb_text}): smallest excess SW2(rival) - SW2(edm), simultaneous over the rivals",
        measured=cmp_sw.interval,
        expect=at_least(0.0),
        section="ds-weighting",
        **reg_tol(cmp_sw.interval),
    )
    ledger.record(
        "E4.4e",
        kind="question",
        paper=PAPER,
        claim=f"does EDM's advantage over the non-bell designs in 1-D output KL survive a budget "
        f"{LONG // cfg['preset_steps']}x longer ({LONG} Adam steps)? smallest excess, simultaneous",
        measured=cmp_long.interval,
        expect=at_least(0.0),
        section="ds-weighting",
        **reg_tol(cmp_long.interval),
    )
    glue_verdicts(2)
rival_rows = []
comparisons = [
    ("1-D KL, edm vs non-bell", cmp_kl),
    ("1-D KL, edm vs shifted bells", cmp_shift),
    ("1-D KL, increasing vs the others", cmp_incr),
]
if FULL_ONLY:
    comparisons += [
        ("ring SW2, edm vs non-bell", cmp_sw),
        (f"1-D KL after {LONG} steps, edm vs non-bell", cmp_long),
    ]
for label, cmp in comparisons:
    for r, iv in cmp.per_rival.items():
        rival_rows.append(
            dict(comparison=label, rival=r, excess=iv.value, low=iv.low, high=iv.high)
        )
rivals = pd.DataFrame(rival_rows).set_index(["comparison", "rival"])
for key, cmp in [
    ("kl", cmp_kl),
    ("shift", cmp_shift),
    ("incr", cmp_incr),
    *([("sw", cmp_sw), ("long", cmp_long)] if FULL_ONLY else []),
]:
    glue(f"dec_{key}_shape", shape[cmp.decisive], display=False)
    glue(f"dec_{key}", cmp.decisive, display=False)
    glue(f"exc_{key}", cmp.interval.value, display=False)
    glue(f"exc_{key}_lo", cmp.interval.low, display=False)
    glue(f"exc_{key}_hi", cmp.interval.high, display=False)
glue("best_design", str(pre_sum["kl_1d"].idxmin()), display=False)
glue("worst_design", str(pre_sum["kl_1d"].idxmax()), display=False)
glue("preset_steps", cfg["preset_steps"], display=False)
glue("preset_seeds", len(PRESET_SEEDS), display=False)
glue("long_steps", LONG, display=False)
verdict_of = {c["id"]: c["verdict"] for c in ledger.claims}
if FULL_ONLY:
    full_text = (
        f"After {LONG} steps (E4.4e, our question): {verdict_of['E4.4e']}, deciding rival "
        f"'{cmp_long.decisive}', excess {cmp_long.interval.value:.3g} "
        f"[{cmp_long.interval.low:.3g}, {cmp_long.interval.high:.3g}]. On the 2-D ring, sliced "
        f"W2 (E4.4c): {verdict_of['E4.4c']}, deciding rival '{cmp_sw.decisive}', excess "
        f"{cmp_sw.interval.value:.3g} [{cmp_sw.interval.low:.3g}, {cmp_sw.interval.high:.3g}]; "
        f"noise floor of the sliced W2 (two independent target sets) {floor_iv.value:.3g} "
        f"+- {floor_iv.half_width:.2g}, EDM's mean {float(sw_by['edm'].mean()):.3g}, the "
        f"non-bell designs' {float(sw_by[NONBELL].mean().min()):.3g} to "
        f"{float(sw_by[NONBELL].mean().max()):.3g}."
    )
else:
    full_text = (
        f"the {profile} profile does not run E4.4c (sliced W2 on the 2-D ring) or E4.4e (a "
        "budget 3x longer), so it cannot decide them."
    )
glue("full_only_text", full_text, display=False)
glue("nonbell_list", nb_text, display=False)
glue("bells_list", ", ".join(SHIFTED), display=False)
glue("vp_peak", float(grid_ls[int(torch.argmax(dens["vp-uniform-t"]))]), display=False)
for j, label in [(0, "lo"), (-1, "hi")]:
    err_end = {n: np.mean([pre_err[(n, s)][j] for s in PRESET_SEEDS]) for n in DESIGNS}
    glue(f"worst_{label}", max(err_end, key=err_end.get), display=False)
rivals

# %% [markdown]
# **Figure.** Left: the effective weight each design puts on the $\varepsilon$-loss, as a density
# in $\log\sigma$, with its measured shape (VP's uniform $t$ is a bell peaking near
# $\log\sigma\approx$ {glue:text}`vp_peak:.1f`); the axis is cut at 0.6, so the increasing
# and decreasing densities leave it at the end of the range where they are largest. Middle: the resulting exact score error per level in 1-D (mean over
# seeds); look at where each design leaves its error. Right: the exact output KL of one fixed
# sampler, mean over {glue:text}`preset_seeds` seeds with unpaired 95% t-intervals of each
# design's mean (log scale); the comparisons below are paired over seeds, so the bars overstate
# the uncertainty of a difference.
#
# **Result.** After {glue:text}`preset_steps` Adam steps, the smallest *mean* 1-D output KL
# comes from "{glue:text}`best_design`" and the largest from "{glue:text}`worst_design`" (seed
# means, descriptive only: an ordering is claimed only where a paired comparison decides it).
# The paired comparisons (table above: excess of each rival over the
# candidate, 95% simultaneous intervals):
#
# * EDM against the non-bell designs, 1-D KL (E4.4a, the paper's claim): {glue:text}`v_E44a`;
#   the deciding rival is "{glue:text}`dec_kl`" ({glue:text}`dec_kl_shape` profile) with excess
#   {glue:text}`exc_kl:.3g` [{glue:text}`exc_kl_lo:.3g`, {glue:text}`exc_kl_hi:.3g`] nats.
#   {glue:text}`speed_text`
# * Decided by the `full` profile only (E4.4c, E4.4e): {glue:text}`full_only_text`
# * EDM against the other bell, VP's uniform $t$ (E4.4d, our question):
#   {glue:text}`v_E44d`; closest "{glue:text}`dec_shift`", excess {glue:text}`exc_shift:.3g`
#   [{glue:text}`exc_shift_lo:.3g`, {glue:text}`exc_shift_hi:.3g`].
# * The increasing weighting worse than every other design (E4.4b, our question; the paper
#   does not say this; paired, Bonferroni over the others): {glue:text}`v_E44b`; decisive comparison with "{glue:text}`dec_incr`", excess
#   {glue:text}`exc_incr:.3g` [{glue:text}`exc_incr_lo:.3g`, {glue:text}`exc_incr_hi:.3g`].
#
# Where the error lands (middle panel): at $\sigma_{\min}=0.002$ the largest *mean* error comes
# from "{glue:text}`worst_lo`", at $\sigma_{\max}=80$ from "{glue:text}`worst_hi`" (seed means,
# descriptive only).
#
# ### Where the bell should sit: the exact sensitivity, and a sweep of $P_{\rm mean}$
#
# **Derivation (ours).** For Gaussian data $\mathcal N(\mu,\sigma_d^2)$ the exact score is
# linear and the chapter's sampler stays affine under an error that is affine in $x$:
# $D = D^* + \sigma_k(a_k + c_k u)$ with $u = (x-\mu)/\sqrt{\sigma_d^2+\sigma_k^2}$ (unit
# variance under $p_{\sigma_k}$), a score error of $a_k + c_k u$ in $\varepsilon$ units: a
# *shift* $a$ and a *scale* error $c$. The output law is then $\mathcal N(m_N, P_N)$ and its
# first-order sensitivities to the error at step $k$ are closed forms
# (`companion.design_space.gaussian_sensitivity`): with $\Delta_k=\sigma_k^2-\sigma_{k+1}^2$ and
# $A_k = 1-\Delta_k/(\sigma_d^2+\sigma_k^2)$,
#
# $$\frac{\partial m_N}{\partial a_k} = \frac{\Delta_k}{\sigma_k}\prod_{j>k}A_j,\qquad
#   \frac{\partial P_N}{\partial c_k} = \frac{2A_kP_k\Delta_k}{\sigma_k\sqrt{\sigma_d^2+\sigma_k^2}}
#   \prod_{j>k}A_j^2 .$$
#
# In the continuum limit ($\sigma_{\max}\to\infty$, $\sigma_{\min}\to0$), per unit $\log\sigma$
# and with $t=\sigma/\sigma_d$,
#
# $$\frac{\delta m}{\sigma_d} = \int\frac{a(\sigma)\,d\log\sigma}{\cosh(\log t)},\qquad
#   \frac{\delta P}{P} = \int c(\sigma)\,\frac{4t}{(1+t^2)^{3/2}}\,d\log\sigma .$$
#
# Both kernels are bells in $\log\sigma$: an error at $\sigma\ll\sigma_d$ moves the output
# little (the steps in $\sigma^2$ are small there), and an error at $\sigma\gg\sigma_d$ is
# forgotten (the reverse SDE contracts towards the data at rate $2\sigma/(\sigma_d^2+\sigma^2)$
# per unit $\sigma$). Their maxima sit at $\sigma_d$ (shift) and $\sigma_d/\sqrt2$ (scale). The
# output KL to $p_{\sigma_{\min}}$ is, to second order, $\tfrac12(\delta m/\sigma_d)^2 +
# \tfrac14(\delta P/P)^2$, so a score error costs most near the data scale. The figure (left)
# shows the response to an error localised by a Gaussian bump of width 0.5 in $\log\sigma$,
# for the sampler of the sweep below ($\rho=7$, $N=79$) and three data scales; check E4.4f
# compares the closed form with a brute-force computation (finite differences of the output
# density propagated on the grid with a bump-perturbed denoiser, `BumpDenoiser`).
#
# **Sweep (our prediction, with one heuristic step: training removes error where it puts
# weight).** We train on Gaussian data with the chapter's mixture's mean and variance
# ($\sigma_d=$ {glue:text}`pm_sd:.3f`), EDM's noise distribution $\ln\sigma\sim\mathcal N(P_{\rm
# mean}, 1.2^2)$ and weighting, at $P_{\rm mean} = \log\sigma_d + \{${glue:text}`pm_offsets`$\}$,
# a SiLU MLP (3 hidden layers of 32) for {glue:text}`pm_steps` Adam steps, the same
# {glue:text}`pm_nseeds` seeds at every $P_{\rm mean}$ (paired), and measure the exact output
# KL of the $\rho=7$, $N=79$ sampler on the grid. If the weight should sit under the bell,
# then $\log\mathrm{KL}$ is U-shaped in $P_{\rm mean}$. A U needs both extremes worse than the
# middle, paired (E4.4j, Bonferroni over the two), and an interior minimum per seed (counted
# below). We also ask (E4.4h, a question) whether $\log\mathrm{KL}$ is convex, the curvature of
# a quadratic fitted to each seed's points: the derivation predicts a minimum near
# $\log\sigma_d$, not convexity, and a monotone convex curve passes. (E4.4i) The vertex lies within the bells'
# half width at half maximum ({glue:text}`pm_hwhm:.2f`, the smaller of the two, from the
# closed form before any training) of $\log\sigma_d$; (E4.4j) the middle $P_{\rm mean}$ beats
# both extremes (paired, Bonferroni over the two): the U test.

# %% tags=["hide-input"]
SD_G, MU_G = float(gmm.covariance()[0, 0]) ** 0.5, float(gmm.mean()[0])
sp79 = ds.schedule_sigmas(79, SMIN, SMAX, 7.0)
u_c = {h: np.arange(np.log(SMIN) + 1.5, np.log(SMAX) - 1.5, h) for h in (0.02, 0.01)}
bell_rows, bell_curves = [], {}
for sd_ in (0.25, SD_G, 2.0):  # the bell follows the data scale
    sens = dict(zip(("shift", "scale"), ds.gaussian_sensitivity(MU_G, sd_**2, sp79), strict=True))
    for j, (kind, S) in enumerate(sens.items()):
        r = {h: ds.bump_response(S, sp79, u, 0.5) for h, u in u_c.items()}
        bell_curves[(sd_, kind)] = r[0.01]
        above = u_c[0.01][r[0.01] >= r[0.01].max() / 2]
        cont = ds.bump_density_response(
            lambda ell, v=sd_**2, j=j: ds.gaussian_sensitivity_density(ell, v, SMIN)[j],
            u_c[0.01],
            0.5,
        )
        bell_rows.append(
            dict(
                sigma_data=sd_,
                error=kind,
                peak_coarse=ds.peak_location(u_c[0.02], r[0.02]) - np.log(sd_),
                peak_minus_log_sd=ds.peak_location(u_c[0.01], r[0.01]) - np.log(sd_),
                continuum_peak=ds.peak_location(u_c[0.01], cont) - np.log(sd_),
                hwhm=(above[-1] - above[0]) / 2,
                ends_over_peak=max(r[0.01][0], r[0.01][-1]) / r[0.01].max(),
            )
        )
bells = pd.DataFrame(bell_rows)
# check: the closed form against finite differences of the grid-propagated output density
u0 = float(np.log(SD_G))
sens35 = dict(zip(("shift", "scale"), ds.gaussian_sensitivity(MU_G, SD_G**2, sp35), strict=True))
fd_err = {}
for kind, S in sens35.items():
    out = [
        propagate(
            ve_exponential_step,
            ds.BumpDenoiser(MU_G, SD_G**2, u0, 0.5, e, kind),
            sp35,
            n_points=N_FINE,
            disable=True,
        )
        for e in (1e-3, -1e-3)
    ]
    fd = (
        (out[0].mean() - out[1].mean()) / 2e-3 / SD_G
        if kind == "shift"
        else (np.log(out[0].var()) - np.log(out[1].var())) / 2e-3
    )
    fd_err[kind] = abs(fd / float(ds.bump_response(S, sp35, [u0], 0.5)[0]) - 1)
bells

# %% tags=["hide-input"]
g_gauss = GaussianMixture([1.0], [[MU_G]], [SD_G**2])
PM_SEEDS = [seed + i for i in range(cfg["pm_seeds"])]
P_LIST = np.log(SD_G) + np.asarray(cfg["pm_offsets"])
pm_rows = []
for P in P_LIST:
    for s in PM_SEEDS:
        D = ds.train_checkpoints(
            g_gauss,
            [cfg["pm_steps"]],
            seed=s,
            width=32,
            n_train=2048,
            noise=lognormal(float(P), 1.2),
            weighting="edm",
            device=dev,
        )[cfg["pm_steps"]]
        kl = ds.output_kl(D, g_gauss, sp79, n_points=N_GRID).value
        if s == PM_SEEDS[0] and P == P_LIST[len(P_LIST) // 2]:
            pm_refine = (kl, ds.output_kl(D, g_gauss, sp79, n_points=N_FINE).value)
        pm_rows.append(dict(p_mean=float(P), seed=s, kl=kl))
pm = pd.DataFrame(pm_rows)
pm_kl = pm.pivot(index="seed", columns="p_mean", values="kl")
x_rel = P_LIST - np.log(SD_G)
quad = np.array([np.polyfit(x_rel, np.log(pm_kl.loc[s].to_numpy()), 2) for s in PM_SEEDS])
pm_kl.assign(curvature=quad[:, 0], vertex_minus_log_sd=-quad[:, 1] / (2 * quad[:, 0]))

# %% tags=["hide-input"]
fig, ax = figure(2)
for i, sd_ in enumerate((0.25, SD_G, 2.0)):
    for kind, ls in (("shift", "-"), ("scale", "--")):
        r = bell_curves[(sd_, kind)]
        ax[0].plot(
            u_c[0.01],
            r / r.max(),
            ls=ls,
            color=PALETTE[i],
            label=f"{kind}, $\\sigma_d$ = {sd_:.2g}",
        )
    ax[0].axvline(np.log(sd_), color=PALETTE[i], lw=0.8, alpha=0.6)
ax[0].set(
    xlabel=r"$\log\sigma$ of the error bump",
    ylabel="response / its maximum",
    title=r"output sensitivity ($\rho=7$, $N=79$)",
    ylim=(0, 1.6),
)
ax[0].legend(fontsize=6, loc="upper center", ncol=2)
mean_, half_ = stats.mean_t_halfwidth(np.log(pm_kl.to_numpy()))
for s in PM_SEEDS:
    ax[1].plot(P_LIST, np.log(pm_kl.loc[s]), color="0.7", lw=0.8)
ax[1].errorbar(P_LIST, mean_, yerr=half_, color=PALETTE[0], marker="o", capsize=3, label="mean")
ax[1].axvline(np.log(SD_G), color="k", lw=0.8, ls=":", label=r"$\log\sigma_d$")
ax[1].axvline(-1.2, color=PALETTE[3], lw=0.8, ls="--", label="EDM's $-1.2$")
ax[1].set(
    xlabel=r"$P_{\rm mean}$",
    ylabel=r"$\log$ output KL",
    title=f"Gaussian data, {cfg['pm_steps']} Adam steps",
)
ax[1].legend(fontsize=7)

# %%
peak_err = float(
    (bells["peak_minus_log_sd"] - np.where(bells["error"] == "shift", 0.0, -0.5 * np.log(2)))
    .abs()
    .max()
)
peak_abs = stats.refinement(  # bump centres every 0.02 and every 0.01 in log sigma
    float(bells["peak_coarse"].abs().max()),
    float(bells["peak_minus_log_sd"].abs().max()),
    note="largest |peak - log sigma_d|",
)
HWHM = float(bells["hwhm"].min())  # fixed by the closed form, before the training
curv_iv = stats.t_interval(quad[:, 0], note="curvature of log KL in P_mean, per-seed fit")
vertex_iv = (
    stats.t_interval(-quad[:, 1] / (2 * quad[:, 0]), note="vertex - log sigma_d, per-seed fit")
    if bool((quad[:, 0] > 0).all())
    else stats.undecidable("t", len(PM_SEEDS), "a seed's quadratic is not convex: no minimum")
)
mid, lo, hi = P_LIST[len(P_LIST) // 2], P_LIST[0], P_LIST[-1]
cmp_mid = stats.compare_rivals(
    pm_kl[mid], {f"P_mean={lo:.2f}": pm_kl[lo], f"P_mean={hi:.2f}": pm_kl[hi]}
)
ledger.record(
    "E4.4f",
    kind="check",
    paper=PAPER,
    claim="closed-form first-order sensitivity of the sampler's output mean and variance to a "
    "score error bump at log sigma_d (Gaussian data) equals finite differences of the "
    f"grid-propagated output density ({N_FINE} nodes, rho=7, N=35): largest relative error",
    measured=max(fd_err.values()),
    expect=at_most(0.01),
    section="ds-weighting",
    rtol=0.5,
    atol=1e-4,
)
ledger.record(
    "E4.4g",
    kind="derived",
    paper=PAPER,
    claim="the sensitivity of the output law of the VE sampler (rho=7, N=79) to a score error "
    "localised at log sigma (bump of width 0.5) is a bell whose maximum lies within 0.5 of "
    "log sigma_d, for shift and scale errors and sigma_d = 0.25, 1.21, 2: largest "
    "|peak - log sigma_d|",
    measured=peak_abs,
    expect=at_most(0.5),
    section="ds-weighting",
    rtol=0.0,
    atol=0.02,
)
ledger.record(
    "E4.4h",
    kind="question",
    paper=PAPER,
    claim="Gaussian data, EDM's noise distribution and weighting: is log output KL convex in "
    f"P_mean over log sigma_d + {list(cfg['pm_offsets'])} ({cfg['pm_steps']} Adam steps)? "
    "Curvature of the per-seed quadratic fit (a question: the derivation predicts a minimum "
    "near log sigma_d, E4.4i/j, not convexity, and a monotone convex curve passes)",
    measured=curv_iv,
    expect=at_least(0.0),
    section="ds-weighting",
    **reg_tol(curv_iv),
)
ledger.record(
    "E4.4i",
    kind="derived",
    paper=PAPER,
    claim="the minimum of the convex fit (vertex of the per-seed quadratic) lies within the "
    "sensitivity "
    f"bells' half width at half maximum ({HWHM:.2f}) of log sigma_d: vertex - log sigma_d",
    measured=vertex_iv,
    expect=in_range(-HWHM, HWHM),
    section="ds-weighting",
    **(reg_tol(vertex_iv) if np.isfinite(vertex_iv.half_width) else {}),
)
ledger.record(
    "E4.4j",
    kind="derived",
    paper=PAPER,
    claim=f"P_mean = log sigma_d gives a smaller output KL than both extremes ({lo:.2f} and "
    f"{hi:.2f}) (the U test): smallest excess KL(extreme) - KL(middle), simultaneous over "
    "the two",
    measured=cmp_mid.interval,
    expect=at_least(0.0),
    section="ds-weighting",
    **reg_tol(cmp_mid.interval),
)
glue_verdicts(5)
glue("pm_sd", SD_G, display=False)
glue("pm_offsets", ", ".join(f"{o:+.1f}" for o in cfg["pm_offsets"]), display=False)
glue("pm_steps", cfg["pm_steps"], display=False)
glue("pm_nseeds", len(PM_SEEDS), display=False)
glue("pm_hwhm", HWHM, display=False)
glue("pm_fd_err", float(max(fd_err.values())), display=False)
glue("pm_peak_abs", peak_abs.value, display=False)
glue("pm_peak_err", float(peak_err), display=False)
glue("pm_ends", float(bells["ends_over_peak"].max()), display=False)
glue("pm_cont_scale", float(-bells[bells.error == "scale"]["continuum_peak"].mean()), display=False)
glue("pm_exact_floor", ds.gaussian_output_kl(MU_G, SD_G**2, sp79), display=False)
pm_mat = np.array([pm_kl[p_] for p_ in P_LIST])  # P_mean x seed
pm_argmin = pm_mat.argmin(axis=0)
glue("pm_n_interior", int(((pm_argmin > 0) & (pm_argmin < len(P_LIST) - 1)).sum()), display=False)
glue(
    "pm_n_below_floor",
    int((pm_mat < ds.gaussian_output_kl(MU_G, SD_G**2, sp79)).sum()),
    display=False,
)
glue("pm_n_cells", int(pm_mat.size), display=False)
pm_undecided = [
    c["id"]
    for c in ledger.claims
    if c["id"] in ("E4.4i", "E4.4j") and c["verdict"] == "inconclusive"
]
glue(
    "pm_scale_text",
    (
        f"At {len(P_LIST)} offsets x {len(PM_SEEDS)} seeds this profile cannot decide "
        + " and ".join(pm_undecided)
        + "."
        if profile == "ci"
        else f"At {len(P_LIST)} offsets x {len(PM_SEEDS)} seeds, "
        + " and ".join(pm_undecided)
        + " remain undecided."
    )
    if pm_undecided
    else f"At {len(P_LIST)} offsets x {len(PM_SEEDS)} seeds E4.4i and E4.4j are decided.",
    display=False,
)
for key, iv in (("curv", curv_iv), ("vert", vertex_iv), ("mid", cmp_mid.interval)):
    glue(f"pm_{key}", float(iv.value), display=False)
    glue(f"pm_{key}_lo", float(iv.low), display=False)
    glue(f"pm_{key}_hi", float(iv.high), display=False)
glue("pm_dec", cmp_mid.decisive, display=False)
glue("pm_grid_change", abs(pm_refine[1] - pm_refine[0]), display=False)
glue("pm_grid_margin", max(abs(cmp_mid.interval.value), cmp_mid.interval.half_width), display=False)
glue("pm_seed0", PM_SEEDS[0], display=False)
glue("pm_edm_offset", float(-1.2 - np.log(SD_G)), display=False)
pd.DataFrame(
    [
        dict(rival=r, excess=iv.value, low=iv.low, high=iv.high)
        for r, iv in cmp_mid.per_rival.items()
    ]
).set_index("rival")

# %% [markdown]
# **Figure.** Left: the first-order response of the output law to a unit score error
# localised at $\log\sigma$ (solid: shift error, output mean; dashed: scale error, output
# log-variance), each divided by its maximum, for three data scales (vertical lines:
# $\log\sigma_d$). Look at how each bell moves with $\sigma_d$. Right: the exact output KL after
# training with EDM's log-normal centred at $P_{\rm mean}$ (grey: single seeds; blue: mean with
# 95% t-intervals of $\log\mathrm{KL}$ per $P_{\rm mean}$, unpaired, so they do not show the
# paired verdict E4.4j; dotted: $\log\sigma_d$; dashed: EDM's $-1.2$, tuned for images with
# $\sigma_d=0.5$).
#
# **Result.** The closed form matches the brute-force finite differences to
# {glue:text}`pm_fd_err:.1e` (relative; check E4.4f: {glue:text}`v_E44f`). Every sensitivity
# curve is a bell: at the ends of the range of bump centres it is at most
# {glue:text}`pm_ends:.2f` of its maximum, and its maximum lies within
# {glue:text}`pm_peak_abs:.2f` of $\log\sigma_d$ for both error kinds and all three data scales
# (E4.4g: {glue:text}`v_E44g`; the criterion, 0.5 in $\log\sigma$, a factor 1.65 in
# $\sigma$, was set from the continuum prediction, which puts the scale bell 0.35 below
# $\log\sigma_d$ and {glue:text}`pm_cont_scale:.2f` after smoothing by the bump, with room for the sampler's
# discretisation); the continuum closed form puts it at $\log\sigma_d$ (shift) and
# $\log\sigma_d - \tfrac12\log2$ (scale), and the discrete $N=79$ sampler departs from these by
# at most {glue:text}`pm_peak_err:.2f` (table above, with the continuum peaks of the
# bump-smoothed kernels). In the sweep, the curvature of $\log\mathrm{KL}$ in $P_{\rm mean}$ is
# {glue:text}`pm_curv:.3f` [{glue:text}`pm_curv_lo:.3f`, {glue:text}`pm_curv_hi:.3f`] (E4.4h:
# {glue:text}`v_E44h`); the vertex lies {glue:text}`pm_vert:.2f` [{glue:text}`pm_vert_lo:.2f`,
# {glue:text}`pm_vert_hi:.2f`] from $\log\sigma_d$ (E4.4i: {glue:text}`v_E44i`); the middle
# against the extremes, decided by "{glue:text}`pm_dec`": excess {glue:text}`pm_mid:.3g`
# [{glue:text}`pm_mid_lo:.3g`, {glue:text}`pm_mid_hi:.3g`] nats (E4.4j: {glue:text}`v_E44j`).
# The minimum over $P_{\rm mean}$ is interior for {glue:text}`pm_n_interior` of the
# {glue:text}`pm_nseeds` seeds. {glue:text}`pm_scale_text` The sampler's own floor matters
# here: the exact-score KL of this sampler is {glue:text}`pm_exact_floor:.2g`, and
# {glue:text}`pm_n_below_floor` of the {glue:text}`pm_n_cells` trained KLs lie below it, so near
# the middle of the sweep the KL measures discretisation as much as score error and the bottom of
# the U is set by the sampler. EDM's $P_{\rm mean}=-1.2$ is {glue:text}`pm_edm_offset:.2f` from $\log\sigma_d$ on
# these data. Doubling the grid nodes moves the middle KL of seed {glue:text}`pm_seed0` by
# {glue:text}`pm_grid_change:.1e`, against E4.4j's larger of effect and half-width,
# {glue:text}`pm_grid_margin:.2g` (the interval's edge is closer to zero than that).
# This is one small network, one budget and Gaussian data, where the sensitivity is exact; on
# the mixture E4.4d compares EDM against VP's uniform $t$, two bells that differ in location and
# in width.
#
# (ds-numerics)=
# ## E4.5 Numerical accuracy of the exact computations
#
# Every grid KL above is a deterministic number computed by propagating the sampler's output
# density on a grid of {glue:text}`n_grid` nodes (E4.2b: {glue:text}`n_rate`; Test 3:
# {glue:text}`t_grid`). Its numerical
# error is measured by recomputing the quantities the verdicts rest on with twice the nodes (for
# a seed-based claim: the first seed's $\Delta\mathrm{KL}$ at the claim's decisive setting),
# and compared with its margin: for a deterministic quantity the distance from its criterion's
# boundary, for a seed-averaged effect the larger of the effect and its 95% half-width. A ratio
# well below 1 means the grid cannot move the verdict. Independently of the grid, the single
# Gaussian's output law has a closed form (the sampler's recursion is affine), which checks the
# whole propagation (E4.5b) and is the zero-noise reference of E4.3e and E4.3k.


# %% tags=["hide-input"]
def seed_margin(iv):
    return max(abs(iv.value), iv.half_width)


num_rows = [
    dict(
        quantity="E4.2a largest gap / E_I",
        coarse=ei_coarse,
        fine=ei_ratio.value,
        margin=abs(1.0 - ei_ratio.value),
    ),
    dict(
        quantity=f"E4.2b local slope (N), {N_RATE} nodes",
        coarse=slope_N.value,
        fine=slope_N_fine,
        margin=min(abs(slope_N.value + 2.3), abs(slope_N.value + 1.7)),
    ),
    dict(
        quantity="E4.2c largest |log10 ratio miss|",
        coarse=float(log_miss.max()),
        fine=float(log_miss_fine.max()),
        margin=abs(float(np.log10(2.0)) - miss.value),
    ),
    dict(
        quantity=f"E4.3a Delta-KL, {first} steps, N={n_mid}, seed {SEEDS[0]}",
        coarse=refine[first][0],
        fine=refine[first][1],
        margin=seed_margin(d_first),
    ),
    dict(
        quantity=f"E4.3b Delta-KL, {last} steps, N={n_mid}, seed {SEEDS[0]}",
        coarse=refine[last][0],
        fine=refine[last][1],
        margin=seed_margin(d_last),
    ),
    dict(
        quantity=f"E4.4a KL(edm), seed {PRESET_SEEDS[0]}",
        coarse=refine["edm"][0],
        fine=refine["edm"][1],
        margin=seed_margin(cmp_kl.interval),
    ),
    dict(
        quantity=f"E4.4j KL at P_mean = log sigma_d, seed {PM_SEEDS[0]}",
        coarse=pm_refine[0],
        fine=pm_refine[1],
        margin=seed_margin(cmp_mid.interval),
    ),
]


def refine_dkl(tname, k, n, D=None):
    """Delta-KL of one seed-0 denoiser on N_GRID and N_FINE nodes."""
    tg = {"chapter": gmm, **EXTRA}[tname]
    D = nets0[tname][k] if D is None else D
    sg, sp = ds.schedule_sigmas(n, SMIN, SMAX), ds.schedule_sigmas(n, SMIN, SMAX, 7.0)
    return [
        ds.output_kl(D, tg, sg, n_points=m).value - ds.output_kl(D, tg, sp, n_points=m).value
        for m in (N_GRID, N_FINE)
    ]


for cid, tname, fams in [
    ("E4.3a", "chapter", level),
    ("E4.3h", "narrow", level),
    ("E4.3i", "wide", level),
    ("E4.3n", "chapter", change),
    ("E4.3o", "narrow", change),
    ("E4.3p", "wide", change),
    ("E4.3k", "gaussian", under),
]:
    cmp_r = fams.get(tname)  # a/h/i: the level; n/o/p: the change; k: the question
    if cmp_r is not None:  # the decisive (checkpoint, N) of the family
        k, n = (int(x) for x in re.findall(r"\d+", cmp_r.decisive))
        c, f = refine_dkl(tname, k, n)
        num_rows.append(
            dict(
                quantity=f"{cid} Delta-KL, {cmp_r.decisive}, seed {SEEDS[0]}",
                coarse=c,
                fine=f,
                margin=seed_margin(cmp_r.interval),
            )
        )
t_l, n_l = cmp_least.decisive.split(", N=")
c, f = refine_dkl(t_l, first, int(n_l))
num_rows.append(
    dict(
        quantity=f"E4.3l Delta-KL, {cmp_least.decisive}, {first} steps, seed {SEEDS[0]}",
        coarse=c,
        fine=f,
        margin=seed_margin(cmp_least.interval),
    )
)
c, f = refine_dkl("chapter", None, n_mid, ds.PerturbedDenoiser(gmm, e_max, seed=SEEDS[0]))
num_rows.append(
    dict(
        quantity=f"E4.3d Delta-KL, uniform e = {e_max}, field {SEEDS[0]}",
        coarse=c,
        fine=f,
        margin=seed_margin(d_unif),
    )
)
for cid, t in zip(["E4.3c", "E4.3f", "E4.3g"], [names[0], names[2], names[3]], strict=True):
    num_rows.append(
        dict(
            quantity=f"{cid} largest Delta-KL over N, exact score, {T_GRID} nodes",
            coarse=float(by_target[t]["dkl"].max()),
            fine=float(by_target[t]["dkl_fine"].max()),
            margin=abs(float(by_target[t]["dkl_fine"].max())),
        )
    )
numerics = pd.DataFrame(num_rows).set_index("quantity")
numerics["change"] = (numerics["fine"] - numerics["coarse"]).abs()
numerics["change / margin"] = numerics["change"] / numerics["margin"]
g_rows = targets[targets.target == gauss_name]
closed_err = max(
    float(np.max(np.abs(g_rows[f"kl_{k}_fine"] / g_rows[f"kl_{k}_closed"] - 1)))
    for k in ("exp", "poly")
)
closed_err_coarse = max(
    float(np.max(np.abs(g_rows[f"kl_{k}"] / g_rows[f"kl_{k}_closed"] - 1))) for k in ("exp", "poly")
)
num_max = float(numerics["change / margin"].max())
ledger.record(
    "E4.5a",
    kind="check",
    paper=PAPER,
    claim="doubling the grid nodes changes every grid quantity a verdict rests on by less "
    "than 10% of its margin (largest change / margin)",
    measured=num_max,
    expect=at_most(0.1),
    section="ds-numerics",
    rtol=0.0,
    atol=0.25 * abs(0.1 - num_max),  # a quarter of the distance to the boundary
)
ledger.record(
    "E4.5b",
    kind="check",
    paper=PAPER,
    claim=f"single Gaussian, exact score: grid output KL ({T_FINE} nodes) equals the closed form "
    "of the affine recursion to 1% (largest relative error over both schedules and N)",
    measured=closed_err,
    expect=at_most(0.01),
    section="ds-numerics",
    rtol=0.0,
    atol=0.25 * abs(0.01 - closed_err),
)
glue_verdicts(2)
glue("num_max", float(numerics["change / margin"].max()), display=False)
glue("num_argmax", str(numerics["change / margin"].idxmax()), display=False)
glue("closed_err", closed_err, display=False)
glue("closed_err_coarse", closed_err_coarse, display=False)
# the score-error quadrature (4001 nodes) behind E_S and Test 4's trained profile, doubled
se_nets = nets0["chapter"][first]
se_ref = float(
    (ds.score_error(se_nets, gmm, e_sig, n_points=8001) / ds.score_error(se_nets, gmm, e_sig) - 1)
    .abs()
    .max()
)
glue("se_ref", se_ref, display=False)
# the closed form as the zero-noise reference of the grid's Delta-KL (single Gaussian, exact score)
for key, col in [("gdkl", "dkl"), ("gdkl_fine", "dkl_fine")]:
    err = (g_rows[col] - g_rows["dkl_closed"]).abs()
    glue(key + "_abs", float(err.max()), display=False)
    glue(key + "_rel", float((err / g_rows["dkl_closed"].abs()).max()), display=False)
glue("gdkl_change", float((g_rows["dkl"] - g_rows["dkl_fine"]).abs().max()), display=False)
glue("num_n", len(numerics), display=False)
numerics

# %% [markdown]
# Over the {glue:text}`num_n` quantities the largest change on doubling the nodes is
# {glue:text}`num_max:.2g` of its margin
# ("{glue:text}`num_argmax`"; E4.5a: {glue:text}`v_E45a`), so none of the refined verdicts
# depends on the number of grid nodes (E4.4b, E4.4d and E4.4h/i are not refined). The score-error quadrature behind $E_S$ and Test 4's trained
# profile changes by at most {glue:text}`se_ref:.1e` (relative) when its 4001 nodes are
# doubled. Test 4 (E4.3m), E4.3e and E4.3j are closed forms with no grid. Not refined here: the
# 20001-node KL quadrature, the $\pm 12\sigma_{\max}$ support of the exact prior (E4.2a), and
# the grid behind E4.4b, E4.4d and E4.4e. On the
# single Gaussian the grid's output KL differs from the closed form by at most
# {glue:text}`closed_err_coarse:.1e` (relative) on {glue:text}`t_grid` nodes and
# {glue:text}`closed_err:.1e` on {glue:text}`t_fine` (E4.5b: {glue:text}`v_E45b`). In the
# difference $\Delta\mathrm{KL}$ of the two schedules, which the E4.3 verdicts rest on, the
# grid's error against the closed form is at most {glue:text}`gdkl_abs:.1e` nats on
# {glue:text}`t_grid` nodes (up to {glue:text}`gdkl_rel:.0%` of $\Delta\mathrm{KL}$, at the
# largest $N$, where $\Delta\mathrm{KL}$ is smallest) and {glue:text}`gdkl_fine_abs:.1e` on
# {glue:text}`t_fine`; doubling the nodes changes it by up to {glue:text}`gdkl_change:.1e`,
# so the doubling change of the table is a fair measure of the coarse grid's error. The sliced
# $W_2$ distances of E4.4c are sample estimates; their seed-to-seed spread is part of the
# paired intervals.
#
# (ds-coverage)=
# ## What the paper claims, and what is tested here

# %%
ledger.coverage(
    [
        {
            "statement": "First full error analysis of diffusion models integrating training "
            "and sampling",
            "source": "summary",
            "reason": "a statement about the literature and the scope of the analysis, not a "
            "measurable prediction",
        },
        {
            "statement": "Exponential convergence of denoising score matching under gradient "
            "descent training, into a neighbourhood of a minimizer (Theorem 1)",
            "source": "summary",
            "reason": "the theorem's statement, rate factor and neighbourhood are not available "
            "to us; E4.1c-e test the linearised (NTK) rate in an interpolation regime (context "
            "of ours, not a test of the theorem)",
        },
        {
            "statement": "Sampling error analysis extended to the variance exploding case under "
            "minimal assumptions (Theorem 2): KL bounded by initialization, discretization and "
            "score-error terms",
            "source": "summary",
            "reason": "the theorem's statement and assumptions are not available to us; "
            "E4.2a-d test our reconstructed proxies and facts of the sampler (context of ours, "
            "not a test of the theorem)",
        },
        {
            "statement": "End-to-end generation error bounds combining training and sampling "
            "(Theorem 3)",
            "source": "summary",
            "reason": "the bound's statement and constants are not available to us; its design "
            "consequences are tested in the rows below",
        },
        {
            "statement": "Theoretical justification for 'bell-shaped' weighting in training (as "
            "used in Karras et al.)",
            "source": "summary",
            "ids": ["E4.4a", *(["E4.4c", "E4.4e"] if FULL_ONLY else [])],
        },
        {
            "statement": "A preferred noise distribution in training, as distinct from the "
            "loss weighting",
            "source": "summary",
            "reason": "the chapter's designs change the noise distribution and the weighting "
            "together (their product, the eps-weight density, is what E4.4 compares); the two "
            "are not separated here",
        },
        {
            "statement": "Polynomial schedules are preferable when score error dominates",
            "source": "summary",
            "ids": ["E4.3a", "E4.3h", "E4.3i"],
        },
        {
            "statement": "Exponential schedules are better when sampling error dominates",
            "source": "summary",
            "ids": ["E4.3b", "E4.3c", "E4.3e", "E4.3f", "E4.3g"],
        },
        {
            "statement": "Karras's schedule could be better tuned",
            "source": "abstract v1",
            "reason": "the statement names no tuning and no criterion to measure it by; the "
            "chapter compares rho = 1, 3, 7 with the exponential grid (E4.2c, E4.3) but does not "
            "tune rho or the grid, so the statement is not tested",
        },
        {
            "statement": "The analysis covers variance preserving as well as variance exploding "
            "models",
            "source": "summary",
            "reason": "the chapter works in the VE form, where the paper's sampling analysis is "
            "stated; a VP counterpart is not tested",
        },
    ],
    section="ds-coverage",
)

# %% [markdown]
# Context of ours, not tests of the paper: E4.1c-e test the linearised (NTK) rate in an
# interpolation regime ($\min\bar L=0$), not Theorem 1's neighbourhood of a minimiser;
# E4.2a-d our reconstructed proxies; E4.3d and E4.3m the reconstructed bound's crossover level;
# E4.3n/o/p the change of the preference with the score error (our reading of "dominates");
# E4.3j, E4.3k and E4.3l questions of ours on the data scale, the single Gaussian and the
# least-trained checkpoint across targets; E4.4f-j our derivation of the sensitivity bell and its heuristic consequence for
# $P_{\rm mean}$. Only the `paper` rows of the table below are verdicts on the paper.
#
# ## Verdicts
#
# Every verdict below is computed by code from the measurement and its interval ("supported":
# the whole interval satisfies the expectation; "not reproduced": none of it does;
# "inconclusive": the interval straddles the boundary). Only the `paper` rows are verdicts on
# the paper; `derived` rows test our reconstruction of its bounds, `check` rows the machinery,
# and `question` rows are ours. Trained-network claims rest on paired t-intervals over
# {glue:text}`n_seeds` seeds (Bonferroni-adjusted where a design is compared with several
# rivals); exact-score claims are deterministic, with their numerical error from doubling the
# grid (E4.5a). The regression tolerance of a seed-based claim is a quarter of its effect or of
# its half-width, whichever is smaller; that of a deterministic claim at most a quarter of its
# distance from the criterion's boundary (E4.2, E4.3c-g, E4.3j, E4.5).

# %%
ledger.table()

# %% [markdown]
# ## What we could not check, and why
#
# * **The theorems' constants and exact forms.** The statements of Theorems 1-3, the rate
#   factor of Theorem 1, the exact $E_D$ and $E_S$ and the entries of the paper's Table 2 were
#   not available to us. $E_I$, $E_D$, $E_S$ above are our reconstructions of their *form*; we
#   compare shapes and orderings, never constants.
# * **Theorem 1's rate and regime.** We test the rate that the linearised (NTK) argument
#   predicts, in a lazy regime we can reach on CPU: one hidden layer, 12 fitted values, inputs
#   embedded so that the kernel is well conditioned. The theorem's own rate factor and
#   neighbourhood, deep networks, and realistic data sets (whose kernels have spectra spanning
#   many decades, so that the slow modes would need far more steps) are not tested.
# * **The crossover level on the mixtures.** The bound's crossover level $e^*$ is compared
#   with the measured one on Gaussian data with random *affine* errors, where every output KL
#   is a closed form (Test 4). On the mixtures the same sweep would take
#   {glue:text}`xo_nprop` grid propagations and is not run, in `ci` or `full`; there we test
#   one level below $e^*$ (E4.3d). Non-affine errors, which make
#   the output of Gaussian data non-Gaussian, are covered only by that mixture test.
# * **Networks on the single Gaussian.** The EDM-preconditioned network learns the Gaussian's
#   (affine) denoiser within the first checkpoint, so score error never dominates there and
#   the paper's less-trained half cannot be tested on that target with this network (E4.3k is
#   a question).
# * **The bell's location beyond Gaussian data.** The exact sensitivity (a bell near
#   $\sigma_d$) and the sweep of $P_{\rm mean}$ are for Gaussian data, where the sensitivity is
#   a closed form; on the mixtures the sensitivity was not computed and the location is not
#   swept. The link from "errors cost most near $\sigma_d$" to "the best
#   $P_{\rm mean}$ is near $\log\sigma_d$" is a heuristic step of ours; the sweep tests its
#   consequence with one small network and one budget in `ci` (more seeds, steps and
#   $P_{\rm mean}$ values in `full`).
# * **Scale.** Everything is 1-D or 2-D. The dimension factors of the bounds ($d$ in $E_I$ and
#   $E_D$) and image-scale conclusions (CIFAR-10, ImageNet with U-Nets) are out of reach here;
#   we found no experiments of the paper to compare with.
