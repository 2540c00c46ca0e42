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
# 3. **Both together (Theorem 3)** argue for
#    (a) a **bell-shaped** noise distribution times weighting, as in EDM {cite:p}`karras2022edm`,
#    and (b) choosing the time schedule by which error dominates: **the exponential schedule of
#    Song et al. {cite:p}`song2021sde` when the score is well trained, the polynomial schedule
#    of Karras et al. ($\rho=7$) when it is less trained** (arXiv v4; the v1 abstract only said
#    that Karras's schedule "could be better tuned").
#
# The paper has no experiments. This chapter is a first empirical check of these predictions
# on targets where every error term is computable: one-dimensional Gaussian mixtures, where the
# output density of a sampler is propagated *exactly* on a grid, and a 2-D ring for sample-based
# metrics.
#
# **What is the paper's and what is ours.** We had the abstract (v1 and v4), the opening of the
# introduction and secondary digests, not the theorem statements. The *forms* of $E_I$, $E_D$
# and $E_S$ below, the weighting profiles and the controlled score-error model are **our
# reconstructions**, consistent with the stated claims but not quotations; we test the
# qualitative predictions of the bounds, never their constants.

# %% tags=["parameters"]
profile = "ci"  # "ci": about a minute on 2 CPU cores; "full": 5 seeds, 100..10k training steps
seed = 0
device = "cpu"  # exact computations stay in float64 on CPU; small networks train on `device`
gd_widths = None  # widths of the ReLU MLP trained by GD (E4.1)
gd_steps = None  # GD iterations (E4.1)
n_seeds = None  # training seeds (E4.1, E4.3, E4.4)
checkpoints = None  # Adam steps at which E4.3 evaluates the network
preset_steps = None  # Adam steps per training design (E4.4)

# %%
import numpy as np
import pandas as pd
import torch
from matplotlib.ticker import NullFormatter, ScalarFormatter
from myst_nb import glue

from companion import design_space as ds
from companion import stats
from companion.stats import fit_loglog
from companion.gmm import GaussianMixture, ring_mixture
from companion.grid import GridDensity
from companion.ledger import Ledger, at_least, at_most, close_to
from companion.metrics import bootstrap, mmd, sliced_w2
from companion.profiles import get_device, resolve, seed_everything
from companion.samplers import sample_ve_exponential
from companion.style import PALETTE, figure, use_style

cfg = resolve(
    profile,
    ci=dict(
        gd_widths=[16, 64, 256],
        gd_steps=1000,
        gd_n=16,
        gd_levels=4,
        gd_seeds=3,
        n_seeds=3,
        n_list=[10, 20, 40, 80],
        smax_list=[2.0, 4.0, 8.0, 16.0, 32.0],
        n_init=60,
        checkpoints=[100, 300, 1000],
        kl_steps=[18, 35],
        e_list=[0.0, 0.03, 0.1, 0.3],
        preset_steps=600,
        preset_seeds=2,
        n_ring=2000,
        n_grid=1500,
    ),
    full=dict(
        gd_widths=[64, 256, 1024],
        gd_steps=3000,
        gd_n=32,
        gd_levels=8,
        gd_seeds=3,
        n_seeds=5,
        n_list=[10, 20, 40, 80, 160, 320],
        smax_list=[2.0, 4.0, 8.0, 16.0, 32.0, 64.0],
        n_init=200,
        checkpoints=[100, 300, 1000, 3000, 10000],
        kl_steps=[18, 35, 79],
        e_list=[0.0, 0.03, 0.1, 0.3],
        preset_steps=3000,
        preset_seeds=3,
        n_ring=5000,
        n_grid=2500,
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

# %% [markdown]
# ## Setting
#
# We work in the VE (SNR) form of the book: $\tilde x = x + \sigma\varepsilon$, with score
# $\nabla\log p_\sigma$ and denoiser $D(\tilde x,\sigma) = \tilde x + \sigma^2\nabla\log
# p_\sigma(\tilde x)$. A score error of size $\delta$ in "$\varepsilon$ units" means
# $\sigma\,\|s_\theta - \nabla\log p_\sigma\| = \delta$, i.e. $\|D_\theta - D^*\| = \sigma\delta$.
#
# The sampler of Theorem 2 is the exponential integrator of the VE reverse SDE on a grid
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
# /\sigma_{\max})^{1/\rho}\big)/N$, larger for every finite $\rho$. For an error of constant size
# $e$, $E_S = e^2\sum_k(1-e^{-2\ell_k})$ with log-steps $\ell_k$ summing to $L$: a concave
# function of the $\ell_k$, so the *uneven* polynomial grid has the smaller $E_S$. This is the
# mechanism behind the design rule: exponential wins on $E_D$, polynomial on $E_S$.
#
# The 1-D data are a two-component mixture with non-zero mean (so that the initialization
# error decays like $\sigma_{\max}^{-2}$, not faster).

# %%
gmm = GaussianMixture([0.3, 0.7], [[-1.0], [1.5]], [0.05, 0.2])
SMIN, SMAX = 0.002, 80.0
m2 = float(gmm.weights @ (gmm.means[:, 0] ** 2 + gmm.variances[:, 0]))
glue("m2", m2, display=False)
glue("data_mean", float(gmm.mean()[0]), display=False)

# %% [markdown]
# The data have mean {glue:text}`data_mean:.2f` and second moment $m_2=${glue:text}`m2:.3g`.
#
# (ds-gd)=
# ## E4.1 Gradient descent on the empirical DSM loss (Theorem 1)
#
# **Claim.** With $n$ data points, $N$ noise levels and noise draws $\xi_{ij}$ fixed once, the
# empirical loss
#
# $$\bar L(\theta) = \frac1{nN}\sum_{i,j}\omega(\sigma_j)\,\big\|F_\theta(x_i+\sigma_j\xi_{ij},
#   \sigma_j) - \xi_{ij}\big\|^2\qquad(s_\theta = -F_\theta/\sigma)$$
#
# decreases geometrically under full-batch gradient descent with a constant step, into a
# neighbourhood of its minimum, for wide enough ReLU networks; the rate grows with the width
# and depends on the weighting $\omega$. **Test.** A ReLU MLP with two hidden layers, widths as
# in the parameters, PyTorch's default initialization, the same constant step for every width,
# on $n$ points of a 2-D four-mode ring with $N$ levels from EDM's grid. Since the networks
# have far more parameters than the $nN$ fitted values, the infimum of $\bar L$ is 0, and we
# plot $\log\bar L_k$ itself. On the window after the first 10% of the run we fit
# $\log\bar L_k$ by a line in $k$ (geometric decay, rate $r$) and by a line in $\log k$ (power
# law), and compare the $R^2$ of the two fits. The claim is falsified by a power law fitting
# better than a geometric decay at the largest width.

# %%
ring4 = ring_mixture(4, 1.0, 0.2)
gd_data = ring4.sample(cfg["gd_n"], gen).float()
gd_levels = ds.schedule_sigmas(cfg["gd_levels"], 0.05, 10.0, rho=7.0)
GD_LR = 0.05
gd_curves, gd_fits = {}, []
for w in cfg["gd_widths"]:
    for s in GD_SEEDS:
        L = ds.gd_dsm(gd_data, gd_levels, w, cfg["gd_steps"], GD_LR, seed=s, device=dev)
        gd_curves[(w, s)] = L
        f = stats.fit_decay(L)
        gd_fits.append(
            dict(
                width=w,
                seed=s,
                rate=f.rate,
                r2_geometric=f.r2_geometric,
                r2_power=f.r2_power,
                final=L[-1],
            )
        )
w_mid = cfg["gd_widths"][1]
prof_curves = {
    p: ds.gd_dsm(
        gd_data, gd_levels, w_mid, cfg["gd_steps"], GD_LR, profile=p, seed=seed, device=dev
    )
    for p in ds.EPS_PROFILES
}
gd_table = (
    pd.DataFrame(gd_fits)
    .groupby("width")
    .agg(
        rate=("rate", "mean"),
        rate_sd=("rate", "std"),
        r2_geometric=("r2_geometric", "mean"),
        r2_power=("r2_power", "mean"),
        final_loss=("final", "mean"),
    )
)
prof_table = pd.DataFrame(
    [dict(profile=p, rate=stats.fit_decay(L).rate, final_loss=L[-1]) for p, L in prof_curves.items()]
).set_index("profile")
gd_table

# %%
fig, ax = figure(2)
for i, w in enumerate(cfg["gd_widths"]):
    for s in GD_SEEDS:
        ax[0].semilogy(
            gd_curves[(w, s)],
            color=PALETTE[i],
            alpha=0.8,
            label=f"width {w}" if s == GD_SEEDS[0] else None,
        )
ax[0].set(
    xlabel="GD iteration $k$",
    ylabel=r"empirical DSM loss $\bar L_k$",
    title=f"flat weighting, step {GD_LR}",
)
ax[0].legend()
for i, (p, L) in enumerate(prof_curves.items()):
    ax[1].semilogy(L, color=PALETTE[i + 3], label=f"{p} $\\omega$ (width {w_mid})")
ax[1].set(xlabel="GD iteration $k$", ylabel=r"$\bar L_k$", title="weighting profiles")
ax[1].legend()

# %%
widest = gd_table.iloc[-1]
d_r2 = np.array(
    [f["r2_geometric"] - f["r2_power"] for f in gd_fits if f["width"] == cfg["gd_widths"][-1]]
)
d_r2_mean, d_r2_err = stats.mean_t_halfwidth(d_r2)
log_ratio = np.array(
    [
        np.log(
            next(
                f["rate"] for f in gd_fits if f["width"] == cfg["gd_widths"][-1] and f["seed"] == s
            )
            / next(
                f["rate"] for f in gd_fits if f["width"] == cfg["gd_widths"][0] and f["seed"] == s
            )
        )
        for s in GD_SEEDS
    ]
)
lr_mean, lr_err = stats.mean_t_halfwidth(log_ratio)
glue("gd_r2_geo", float(widest["r2_geometric"]), display=False)
glue("gd_r2_pow", float(widest["r2_power"]), display=False)
glue("gd_rate_ratio", float(np.exp(lr_mean)), display=False)
glue("gd_wmax", cfg["gd_widths"][-1], display=False)
glue("gd_wmin", cfg["gd_widths"][0], display=False)
ledger.record(
    "E4.1a",
    paper=PAPER,
    claim="GD on the empirical DSM loss decays geometrically (not as a power law) at the "
    "largest width: R^2(geometric) - R^2(power law) of log L_k on the tail",
    measured=d_r2_mean,
    uncertainty=d_r2_err,
    uncertainty_kind=f"95% t-interval over {len(GD_SEEDS)} seeds",
    expect=at_least(0.0),
    section="ds-gd",
    rtol=0.5,
    atol=0.1,
)
ledger.record(
    "E4.1b",
    paper=PAPER,
    claim="the geometric rate grows with width: log(rate at largest / rate at smallest width)",
    measured=lr_mean,
    uncertainty=lr_err,
    uncertainty_kind=f"95% t-interval over {len(GD_SEEDS)} seeds",
    expect=at_least(0.0),
    section="ds-gd",
    rtol=0.5,
    atol=0.5,
)
for c in ledger.claims[-2:]:
    glue("v_" + c["id"].replace(".", ""), c["verdict"], display=False)
glue("gd_rate", float(widest["rate"]), display=False)
prof_table

# %% [markdown]
# **Figure.** Left: the empirical loss under GD for each width (one line per seed), log scale;
# a straight tail is geometric decay. Right: the same for three weighting profiles $\omega$
# (flat, a bell in $\log\sigma$ at EDM's centre, increasing like $\sigma$), all normalised to
# mean 1 over the levels. Look at whether the tails are straight and at how their slopes
# change with width.
#
# At width {glue:text}`gd_wmax` the tail of $\log\bar L_k$ is fitted with
# $R^2=${glue:text}`gd_r2_geo:.3f` by a geometric decay and $R^2=${glue:text}`gd_r2_pow:.3f` by a
# power law (verdict: {glue:text}`v_E41a`); the fitted rate there is
# {glue:text}`gd_rate:.2g` per step, and the rate at width {glue:text}`gd_wmax` is
# {glue:text}`gd_rate_ratio:.2f` times the rate at width {glue:text}`gd_wmin` (geometric mean over
# seeds; verdict: {glue:text}`v_E41b`). What the curves show is a fast initial drop, within a
# few dozen steps, to a level where the network has fitted the part of $\bar L$ that a smooth
# function can fit, followed by a slow decay while it memorises the fixed noise draws. At rates
# of this size a geometric and a power-law decay are hard to tell apart on any CPU-sized run, so
# an "inconclusive" here means *not resolved*, not *refuted*. Two caveats keep this from being a
# test of the theorem's constants. First, with PyTorch's (standard) parameterization and a step fixed across widths,
# the effective step size grows with the width, so part of the width dependence is the
# parameterization, which is also how the theorem's rate depends on $m$ through $h\,m$.
# Second, the neighbourhood in which the geometric phase ends is not resolved in a run of this
# length: the losses are still falling at the end, which is why the verdict uses the shape of
# the decay, not the level it reaches.
#
# (ds-sampling)=
# ## E4.2 The VE sampling error and its parts, with the exact score (Theorem 2)
#
# **Initialization.** With the exact score, start the sampler either from
# $\mathcal N(0,\sigma_{\max}^2)$ or from the exact $p_{\sigma_{\max}}$; the discretization is
# the same, so the difference of the two output KLs isolates the effect of the initial
# mismatch. The proxy $E_I$ predicts a slope $-2$ in $\sigma_{\max}$ (for non-centred data the
# initial KL itself is $\approx \bar x^2/(2\sigma_{\max}^2)$).

# %%
init_rows = []
for smax in cfg["smax_list"]:
    sig = ds.schedule_sigmas(cfg["n_init"], SMIN, smax)
    lo, hi = -12 * smax, 12 * smax
    exact_prior = GridDensity.from_function(
        lambda x, s=smax: gmm.prob(x.unsqueeze(-1), s), lo, hi, cfg["n_grid"]
    )
    kl_gauss = ds.output_kl(gmm.denoise, gmm, sig, n_points=cfg["n_grid"]).value
    kl_exact = ds.output_kl(gmm.denoise, gmm, sig, prior=exact_prior, n_points=cfg["n_grid"]).value
    init_rows.append(
        dict(
            sigma_max=smax,
            kl_gauss=kl_gauss,
            kl_exact_prior=kl_exact,
            init_effect=kl_gauss - kl_exact,
            init_kl=ds.initialization_kl(gmm, smax).value,
            E_I=ds.bound_initialization(m2, 1, smax),
        )
    )
init_table = pd.DataFrame(init_rows).set_index("sigma_max")
fit_i = init_table[init_table.index >= 4]
slope_init = fit_loglog(fit_i.index.values, fit_i["init_effect"].values)
slope_ikl = fit_loglog(fit_i.index.values, fit_i["init_kl"].values)
assert (init_table["init_effect"] > 0).all(), "starting from the exact p_sigma_max must help"
glue("slope_init", slope_init.slope, display=False)
glue("slope_init_ci", slope_init.ci95, display=False)
glue("slope_ikl", slope_ikl.slope, display=False)
ledger.record(
    "E4.2a",
    paper=PAPER,
    claim="initialization error decays like sigma_max^-2 (slope of the output-KL gap "
    "between Gaussian and exact start, sigma_max >= 4)",
    measured=slope_init.slope,
    uncertainty=slope_init.ci95,
    uncertainty_kind="95% CI of the log-log slope",
    expect=close_to(-2.0, 0.5),
    section="ds-sampling",
    rtol=1e-3,
    atol=1e-3,
)
init_table

# %% [markdown]
# **Discretization.** Now the number of levels $N$ varies for the exponential grid and the
# polynomial grids $\rho\in\{1,3,7,15\}$, from $\mathcal N(0,80^2)$ to $\sigma_{\min}=0.002$, with
# the exact score, so $E_S=0$ and $E_I\approx 4\cdot10^{-5}$ is negligible.

# %%
SCHEDS = {"exponential": None, "rho=1": 1.0, "rho=3": 3.0, "rho=7": 7.0, "rho=15": 15.0}
disc_rows = []
for n in cfg["n_list"]:
    for name, rho in SCHEDS.items():
        sig = ds.schedule_sigmas(n, SMIN, SMAX, rho)
        kl = ds.output_kl(gmm.denoise, gmm, sig, n_points=cfg["n_grid"])
        disc_rows.append(
            dict(
                N=n, schedule=name, kl=kl.value, quad_err=kl.error, E_D=ds.bound_discretization(sig)
            )
        )
disc = pd.DataFrame(disc_rows)
# one fitted constant: median ratio of KL to the proxy where the proxy is not saturated
ok = disc["E_D"] < 100 * disc["kl"].max()
c_D = float(np.exp(np.median(np.log(disc.loc[ok, "kl"] / disc.loc[ok, "E_D"]))))
geo = disc[(disc.schedule == "exponential") & (disc.N >= 20)]
slope_N = fit_loglog(geo["N"].values, geo["kl"].values)
taus = []
for _n, grp in disc.groupby("N"):
    taus.append(pd.Series(grp["kl"].values).corr(pd.Series(grp["E_D"].values), method="kendall"))
tau = float(np.mean(taus))
glue("slope_N", slope_N.slope, display=False)
glue("slope_N_ci", slope_N.ci95, display=False)
glue("tau", tau, display=False)
glue("c_D", c_D, display=False)
ledger.record(
    "E4.2b",
    paper=PAPER,
    claim="output KL of the exponential schedule decays at least like 1/N (log-log slope "
    "over N >= 20)",
    measured=slope_N.slope,
    uncertainty=slope_N.ci95,
    uncertainty_kind="95% CI of the log-log slope",
    expect=at_most(-1.0),
    section="ds-sampling",
    rtol=1e-3,
    atol=1e-3,
)
ledger.record(
    "E4.2c",
    paper=PAPER,
    claim="schedules rank as the discretization proxy E_D predicts (Kendall tau between "
    "measured KL and E_D across the 5 schedules, mean over N)",
    measured=tau,
    expect=at_least(0.6),
    section="ds-sampling",
    rtol=1e-3,
    atol=1e-3,
)
for c in ledger.claims[-3:]:
    glue("v_" + c["id"].replace(".", ""), c["verdict"], display=False)
disc.pivot(index="N", columns="schedule", values="kl")

# %%
fig, ax = figure(2)
for i, (name, grp) in enumerate(disc.groupby("schedule", sort=False)):
    ax[0].loglog(grp["N"], grp["kl"], "o", color=PALETTE[i], label=name)
    ax[0].loglog(grp["N"], c_D * grp["E_D"], "-", color=PALETTE[i], alpha=0.6)
ax[0].set(
    xlabel="number of levels $N$",
    ylabel=r"KL$(p_{\sigma_{\min}}\,\|\,\hat q)$ (nats)",
    ylim=(0.5 * disc["kl"].min(), 3 * disc["kl"].max()),
    title=r"markers: exact KL; lines: $c\,E_D$",
)
ax[0].legend(fontsize=8)
ax[1].loglog(init_table.index, init_table["init_effect"], "o-", label="output-KL gap (measured)")
ax[1].loglog(
    init_table.index,
    init_table["init_kl"],
    "s--",
    label=r"KL$(p_{\sigma_{\max}}\|\mathcal{N}(0,\sigma_{\max}^2))$",
)
ax[1].loglog(
    init_table.index, init_table["E_I"], ":", color="k", label=r"$E_I=(m_2+1)/\sigma_{\max}^2$"
)
ax[1].set(
    xlabel=r"$\sigma_{\max}$", ylabel="KL (nats)", title=f"initialization, N = {cfg['n_init']}"
)
ax[1].legend(fontsize=8)
for a, ticks in [(ax[0], cfg["n_list"]), (ax[1], cfg["smax_list"])]:
    a.set_xticks(ticks)
    a.xaxis.set_major_formatter(ScalarFormatter())
    a.xaxis.set_minor_formatter(NullFormatter())

# %% [markdown]
# **Figure.** Left: exact output KL against the number of levels for each schedule (markers)
# with the discretization proxy $c\,E_D$ (lines, one constant $c=${glue:text}`c_D:.2g` for all
# schedules). Look at the order of the schedules: the proxy predicts it (Kendall
# $\tau=${glue:text}`tau:.2f`, averaged over $N$), from the uniform grid $\rho=1$ (worst, its last
# step jumps from $\sigma\approx\sigma_{\max}/N$ to $\sigma_{\min}$) to the exponential grid and
# $\rho=15$. The proxy's first-order decay $1/N$ is pessimistic: the exponential schedule's KL
# falls with slope {glue:text}`slope_N:.2f` $\pm$ {glue:text}`slope_N_ci:.2f`. Right: the effect of
# starting from $\mathcal N(0,\sigma_{\max}^2)$ instead of the exact $p_{\sigma_{\max}}$ decays
# with slope {glue:text}`slope_init:.2f` $\pm$ {glue:text}`slope_init_ci:.2f` in $\sigma_{\max}$ (the
# initial KL itself: {glue:text}`slope_ikl:.2f`), in line with $E_I\propto\sigma_{\max}^{-2}$; the
# reconstructed $E_I$ is a valid but loose upper bound.
#
# (ds-crossover)=
# ## E4.3 The schedule crossover (the headline design claim)
#
# **Claim.** When the score is well trained (discretization dominates) the exponential schedule
# gives the smaller error; when it is less trained (score error dominates) the polynomial
# schedule does. In terms of $\Delta\mathrm{KL} = \mathrm{KL}_{\exp} - \mathrm{KL}_{\rho=7}$: positive
# for poorly trained networks, negative for well-trained ones.
#
# **Test 1: trained networks.** An EDM-preconditioned SiLU MLP (3 hidden layers of 64) is
# trained by Adam with EDM's noise distribution and weighting on the 1-D mixture, one run per
# seed, and evaluated at several checkpoints. For each checkpoint we compute the exact per-level
# score error $e(\sigma)$ against the mixture, the proxy $E_S$ for both schedules, and the exact
# output KL for both schedules at several $N$.

# %%
e_sig = torch.logspace(np.log10(SMIN), np.log10(SMAX), 13, dtype=torch.float64)
cross_rows, err_rows = [], []
for s in SEEDS:
    nets = ds.train_checkpoints(gmm, cfg["checkpoints"], seed=s, device=dev)
    for k, D in nets.items():
        err = ds.score_error(D, gmm, e_sig)
        err_rows += [
            dict(seed=s, step=k, sigma=float(a), err=float(b))
            for a, b in zip(e_sig, err, strict=True)
        ]
        for n in cfg["kl_steps"]:
            sg, sp = ds.schedule_sigmas(n, SMIN, SMAX), ds.schedule_sigmas(n, SMIN, SMAX, 7.0)
            kg = ds.output_kl(D, gmm, sg, n_points=cfg["n_grid"]).value
            kp = ds.output_kl(D, gmm, sp, n_points=cfg["n_grid"]).value
            es_g = ds.bound_score(sg, ds.score_error(D, gmm, sg[:-1]))
            es_p = ds.bound_score(sp, ds.score_error(D, gmm, sp[:-1]))
            cross_rows.append(
                dict(
                    seed=s,
                    step=k,
                    N=n,
                    kl_exp=kg,
                    kl_poly=kp,
                    dkl=kg - kp,
                    E_S_exp=es_g,
                    E_S_poly=es_p,
                )
            )
cross = pd.DataFrame(cross_rows)
errs = pd.DataFrame(err_rows)
rms_err = errs.groupby(["seed", "step"])["err"].apply(lambda v: float(np.sqrt((v**2).mean())))


def summarize(df, key):
    rows = []
    for (a, n), grp in df.groupby([key, "N"]):
        m, e = stats.mean_t_halfwidth(grp["dkl"].values)
        rm, re = stats.mean_t_halfwidth((grp["dkl"] / (0.5 * (grp["kl_exp"] + grp["kl_poly"]))).values)
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
# **Test 2: a controlled score error.** `companion.design_space.PerturbedDenoiser` adds to the
# exact denoiser a smooth random field of size $e$ in $\varepsilon$ units at *every* level (our
# model, not the paper's); each seed draws a different field.

# %%
pert_rows = []
for e in cfg["e_list"]:
    for s in SEEDS:
        D = ds.PerturbedDenoiser(gmm, e, seed=s)
        for n in cfg["kl_steps"]:
            sg, sp = ds.schedule_sigmas(n, SMIN, SMAX), ds.schedule_sigmas(n, SMIN, SMAX, 7.0)
            kg = ds.output_kl(D, gmm, sg, n_points=cfg["n_grid"]).value
            kp = ds.output_kl(D, gmm, sp, n_points=cfg["n_grid"]).value
            pert_rows.append(
                dict(
                    seed=s,
                    e=e,
                    N=n,
                    kl_exp=kg,
                    kl_poly=kp,
                    dkl=kg - kp,
                    E_S_exp=ds.bound_score(sg, torch.full((n - 1,), e)),
                    E_S_poly=ds.bound_score(sp, torch.full((n - 1,), e)),
                )
            )
pert = pd.DataFrame(pert_rows)
pert_sum = summarize(pert, "e")
pert_sum

# %%
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
    g = pert_sum[pert_sum.N == n]
    ax[2].errorbar(
        g["e"] + 1e-2,
        g["rel_dKL"],
        yerr=g["rel_err"],
        fmt="s-",
        color=PALETTE[j],
        capsize=3,
        label=f"N = {n}",
    )
for a in ax[1:]:
    a.axhline(0, color="k", lw=0.8)
    a.set_xscale("log")
    a.legend(fontsize=7)
ax[1].set(
    xlabel="Adam steps (training quality)",
    ylabel=r"$(\mathrm{KL}_{\exp}-\mathrm{KL}_{\rho=7})/\overline{\mathrm{KL}}$",
    title="trained: + means EDM better",
)
ax[2].set(
    xlabel=r"controlled error $e$ + 0.01", ylabel="relative $\\Delta$KL", title="controlled error"
)

# %%
first, last, n_mid = min(cfg["checkpoints"]), max(cfg["checkpoints"]), cfg["kl_steps"][1]


def dkl_at(df, key, value, n):
    g = df[(df[key] == value) & (df.N == n)]
    return stats.mean_t_halfwidth(g["dkl"].values)


d_first = dkl_at(cross, "step", first, n_mid)
d_last = dkl_at(cross, "step", last, n_mid)
d_e0 = dkl_at(pert, "e", 0.0, n_mid)
d_e3 = dkl_at(pert, "e", max(cfg["e_list"]), n_mid)
es_ratio = float((cross["E_S_exp"] / cross["E_S_poly"]).mean())
kind = f"95% t-interval over {len(SEEDS)} seeds"
ledger.record(
    "E4.3a",
    paper=PAPER,
    claim=f"under-trained network ({first} Adam steps): the polynomial (rho=7) schedule "
    f"is better, Delta-KL = KL_exp - KL_poly > 0 at N = {n_mid}",
    measured=d_first[0],
    uncertainty=d_first[1],
    uncertainty_kind=kind,
    expect=at_least(0.0),
    section="ds-crossover",
    rtol=0.5,
    atol=0.01,
)
ledger.record(
    "E4.3b",
    paper=PAPER,
    claim=f"well-trained network ({last} Adam steps): the exponential schedule is "
    f"better, Delta-KL < 0 at N = {n_mid}",
    measured=d_last[0],
    uncertainty=d_last[1],
    uncertainty_kind=kind,
    expect=at_most(0.0),
    section="ds-crossover",
    rtol=0.5,
    atol=0.01,
)
ledger.record(
    "E4.3c",
    paper=PAPER,
    claim=f"exact score: the exponential schedule is better, Delta-KL < 0 at N = {n_mid}",
    measured=d_e0[0],
    uncertainty=d_e0[1] if len(SEEDS) > 1 else None,
    uncertainty_kind="exact (identical over seeds)" if len(SEEDS) > 1 else None,
    expect=at_most(0.0),
    section="ds-crossover",
    rtol=1e-3,
    atol=1e-6,
)
ledger.record(
    "E4.3d",
    paper=PAPER,
    claim=f"controlled score error e = {max(cfg['e_list'])}: the polynomial schedule is "
    f"better, Delta-KL > 0 at N = {n_mid}",
    measured=d_e3[0],
    uncertainty=d_e3[1],
    uncertainty_kind=kind + " (random fields)",
    expect=at_least(0.0),
    section="ds-crossover",
    rtol=0.5,
    atol=2e-3,
)
for c in ledger.claims[-4:]:
    glue("v_" + c["id"].replace(".", ""), c["verdict"], display=False)
for key, val in [("d_first", d_first), ("d_last", d_last), ("d_e0", d_e0), ("d_e3", d_e3)]:
    glue(key, float(val[0]), display=False)
    glue(key + "_err", float(val[1]), display=False)
glue("es_ratio", es_ratio, display=False)
glue("ck_first", first, display=False)
glue("ck_last", last, display=False)
glue("n_mid", n_mid, display=False)
glue("n_seeds", len(SEEDS), display=False)

# %% [markdown]
# **Figure.** Left: the exact score error of the trained networks per level, averaged over
# seeds, one line per checkpoint. Middle: relative $\Delta\mathrm{KL}$ against training steps,
# error bars are 95% t-intervals over {glue:text}`n_seeds` seeds; above the line the polynomial
# (EDM) schedule wins, below it the exponential one. Right: the same against the size $e$ of
# the controlled error.
#
# **Result** (all at $N=${glue:text}`n_mid`, nats, 95% intervals over {glue:text}`n_seeds` seeds):
#
# | setting | $\Delta\mathrm{KL}=\mathrm{KL}_{\exp}-\mathrm{KL}_{\rho=7}$ | predicted sign | verdict |
# |---|---|---|---|
# | trained, {glue:text}`ck_first` steps | {glue:text}`d_first:.3g` $\pm$ {glue:text}`d_first_err:.2g` | $+$ | {glue:text}`v_E43a` |
# | trained, {glue:text}`ck_last` steps | {glue:text}`d_last:.3g` $\pm$ {glue:text}`d_last_err:.2g` | $-$ | {glue:text}`v_E43b` |
# | exact score | {glue:text}`d_e0:.3g` | $-$ | {glue:text}`v_E43c` |
# | controlled error, largest $e$ | {glue:text}`d_e3:.3g` $\pm$ {glue:text}`d_e3_err:.2g` | $+$ | {glue:text}`v_E43d` |
#
# How to read this. (i) With the exact score the sign is fixed by discretization alone, and the
# $E_D$ proxy predicts the exponential grid to win; the margin is a few per cent of the KL.
# (ii) The reconstructed $E_S$ favours the polynomial grid for a score error of *uniform* size
# (ratio $E_S^{\exp}/E_S^{\rho=7}$ averaged over the trained checkpoints and $N$:
# {glue:text}`es_ratio:.2f`), but the KL is not additive in the three terms, and a smooth error
# can partly cancel the discretization bias, so the sign under the controlled error has to be
# read off the measurement, not the proxy. (iii) For trained networks, the sign at a given
# checkpoint depends on where over $\sigma$ the network's error sits (left panel) relative to
# where each grid takes its large relative steps. The paper's rule is thus a statement about
# *which* error profile training produces, not about error size alone. The effect is a few per
# cent of the KL in every setting: with few seeds its sign is often not resolved, which is
# itself a finding about how much the schedule choice matters on this problem.
#
# (ds-weighting)=
# ## E4.4 Bell-shaped noise distribution and weighting
#
# **Claim.** The full error analysis prefers a training design whose effective weight on the
# $\varepsilon$-loss is bell-shaped in $\log\sigma$ and centred at intermediate noise levels, as in
# EDM. **Test.** Same network, same budget, six designs
# (`companion.design_space.TRAINING_PRESETS`): EDM's log-normal with $\lambda(\sigma)$; log-uniform
# $\sigma$ with the $\varepsilon$-loss (Song's VE); uniform $t$ on the VP-linear schedule with the
# $\varepsilon$-loss (DDPM/Song VP); a deliberately increasing weighting (log-uniform $\sigma$, flat
# denoiser weight, so the $\varepsilon$-weight grows like $\sigma^2$); and EDM's bell shifted to high
# ($P_{\rm mean}=1.5$) and low ($P_{\rm mean}=-3.5$) noise. Metrics: exact per-level score error
# and exact output KL in 1-D, sliced $W_2$ and MMD on the 8-mode ring in 2-D, with one fixed
# sampler (exponential integrator, $\rho=7$, $N=35$).

# %%
ring8 = ring_mixture(8, 2.0, 0.1)
sp35 = ds.schedule_sigmas(35, SMIN, SMAX, 7.0)
pre_rows, pre_err = [], {}
ref_ring = ring8.sample(cfg["n_ring"], gen) + SMIN * torch.randn(
    cfg["n_ring"], 2, generator=gen, dtype=torch.float64
)
for name in ds.TRAINING_PRESETS:
    for i in range(cfg["preset_seeds"]):
        s = seed + i
        D1 = ds.train_preset(name, gmm, cfg["preset_steps"], seed=s, device=dev)
        pre_err[(name, s)] = ds.score_error(D1, gmm, e_sig).numpy()
        kl = ds.output_kl(D1, gmm, sp35, n_points=cfg["n_grid"]).value
        D2 = ds.train_preset(name, ring8, cfg["preset_steps"], seed=s, device=dev)
        x0 = SMAX * torch.randn(cfg["n_ring"], 2, generator=gen, dtype=torch.float64)
        xs = sample_ve_exponential(D2, x0, sp35, generator=gen, disable=True)
        sw = bootstrap(
            lambda a, b: sliced_w2(a, b, generator=torch.Generator().manual_seed(1)),
            xs,
            ref_ring,
            n_resamples=200,
            seed=s,
        )
        pre_rows.append(
            dict(
                design=name,
                seed=s,
                kl_1d=kl,
                sw2_ring=sw.value,
                sw2_err=sw.half_width,
                mmd_ring=mmd(xs[:1000], ref_ring[:1000]),
            )
        )
pre = pd.DataFrame(pre_rows)
pre_sum = pre.groupby("design", sort=False).agg(
    kl_1d=("kl_1d", "mean"),
    kl_sd=("kl_1d", "std"),
    sw2_ring=("sw2_ring", "mean"),
    mmd_ring=("mmd_ring", "mean"),
)
pre_sum

# %%
fig, ax = figure(3, height=2.7)
grid_ls = torch.linspace(-8, 6, 57, dtype=torch.float64)
for i, name in enumerate(ds.TRAINING_PRESETS):
    ax[0].plot(
        grid_ls,
        ds.eps_weight_density(name, grid_ls, sigma_data=1.2, n=100_000),
        color=PALETTE[i],
        label=name,
    )
    ax[1].loglog(
        e_sig,
        np.mean([pre_err[(name, seed + j)] for j in range(cfg["preset_seeds"])], 0),
        "o-",
        ms=3,
        color=PALETTE[i],
    )
ax[0].set(
    xlabel=r"$\log\sigma$", ylabel=r"$\varepsilon$-loss weight density", title="training designs"
)
ax[0].legend(fontsize=6)
ax[1].set(xlabel=r"$\sigma$", ylabel=r"score error $e(\sigma)$", title="1-D, exact error")
x = np.arange(len(pre_sum))
ax[2].bar(x, pre_sum["kl_1d"], color=[PALETTE[i] for i in range(len(pre_sum))])
ax[2].set_yscale("log")
ax[2].set_xticks(x, pre_sum.index, rotation=60, fontsize=7)
ax[2].set(ylabel="exact output KL (1-D)", title=r"sampler: $\rho=7$, $N=35$")

# %%
kl_by = pre.groupby(["design", "seed"])["kl_1d"].first().unstack()
others = [n for n in ds.TRAINING_PRESETS if n != "edm"]
gap_best = kl_by.loc["edm"] - kl_by.loc[others].min()
gap_incr = kl_by.loc["increasing"] - kl_by.loc[[n for n in others if n != "increasing"]].max()
gb, gbe = stats.mean_t_halfwidth(gap_best.values)
gi, gie = stats.mean_t_halfwidth(gap_incr.values)
sw_by = pre.groupby(["design", "seed"])["sw2_ring"].first().unstack()
gap_sw = sw_by.loc["edm"] - sw_by.loc[others].min()
gs, gse = stats.mean_t_halfwidth(gap_sw.values)
pkind = f"95% t-interval over {cfg['preset_seeds']} seeds" if cfg["preset_seeds"] > 1 else None
ledger.record(
    "E4.4a",
    paper=PAPER,
    claim="EDM's bell-shaped design gives the smallest 1-D output KL among the six "
    "designs: KL(edm) - min KL(others)",
    measured=gb,
    uncertainty=gbe if pkind else None,
    uncertainty_kind=pkind,
    expect=at_most(0.0),
    section="ds-weighting",
    rtol=0.5,
    atol=0.15,
)
ledger.record(
    "E4.4b",
    paper=PAPER,
    claim="the increasing weighting gives the largest 1-D output KL: "
    "KL(increasing) - max KL(others)",
    measured=gi,
    uncertainty=gie if pkind else None,
    uncertainty_kind=pkind,
    expect=at_least(0.0),
    section="ds-weighting",
    rtol=0.5,
    atol=0.15,
)
ledger.record(
    "E4.4c",
    paper=PAPER,
    claim="EDM's design gives the smallest sliced W2 on the 2-D ring: SW2(edm) - min SW2(others)",
    measured=gs,
    uncertainty=gse if pkind else None,
    uncertainty_kind=pkind,
    expect=at_most(0.0),
    section="ds-weighting",
    rtol=0.5,
    atol=0.15,
)
glue("kl_edm", float(pre_sum.loc["edm", "kl_1d"]), display=False)
glue("best_design", str(pre_sum["kl_1d"].idxmin()), display=False)
glue("worst_design", str(pre_sum["kl_1d"].idxmax()), display=False)
glue("best_ring", str(pre_sum["sw2_ring"].idxmin()), display=False)
glue("preset_steps", cfg["preset_steps"], display=False)
for c in ledger.claims[-3:]:
    glue("v_" + c["id"].replace(".", ""), c["verdict"], display=False)
err_lo = {
    name: np.mean([pre_err[(name, seed + j)][0] for j in range(cfg["preset_seeds"])])
    for name in ds.TRAINING_PRESETS
}
err_hi = {
    name: np.mean([pre_err[(name, seed + j)][-1] for j in range(cfg["preset_seeds"])])
    for name in ds.TRAINING_PRESETS
}
glue("worst_lo", max(err_lo, key=err_lo.get), display=False)
glue("worst_hi", max(err_hi, key=err_hi.get), display=False)

# %% [markdown]
# **Figure.** Left: the effective weight each design puts on the $\varepsilon$-loss, as a density
# in $\log\sigma$ (EDM's bell, the flat log-uniform designs, the increasing one, the shifted
# bells). Middle: the resulting exact score error per level in 1-D (mean over seeds); look at
# where each design leaves its error. Right: the exact output KL of one fixed sampler.
#
# **Result.** After {glue:text}`preset_steps` Adam steps the smallest 1-D output KL comes from
# the design "{glue:text}`best_design`", the largest from "{glue:text}`worst_design`"; on the 2-D
# ring the smallest sliced $W_2$ comes from "{glue:text}`best_ring`" (verdicts:
# EDM best in 1-D {glue:text}`v_E44a`, increasing worst in 1-D {glue:text}`v_E44b`, EDM best on
# the ring {glue:text}`v_E44c`). A design's error lands where its weight is small: the largest
# error at $\sigma_{\min}=0.002$ comes from "{glue:text}`worst_lo`", at $\sigma_{\max}=80$ from
# "{glue:text}`worst_hi`". Errors at both ends of the noise range reach the output: a design
# that starves either end of weight pays for it in the KL, which is the qualitative content of
# the bell-shape argument; whether the increasing weighting is the *worst* design, as the claim
# has it, depends on how the other shifted designs compare (table above).

# %%
metrics_table = pre_sum.copy()
metrics_table

# %% [markdown]
# ## Verdicts
#
# Every verdict below is computed by code from the measurement and its uncertainty ("supported":
# the whole interval satisfies the expectation; "not reproduced": none of it does;
# "inconclusive": the interval straddles the boundary). With the `ci` profile the error bars
# come from 2-3 seeds and are wide; the `full` profile uses 5 seeds (3 for E4.1 and E4.4) and
# training up to 10k steps.

# %%
ledger.table()

# %% [markdown]
# ## What we could not check, and why
#
# * **The theorems' constants and exact forms.** The statements of Theorems 1-3, the rate
#   factor of Theorem 1, the exact $E_D$ and $E_S$ and the entries of the paper's Table 2 were
#   not available to us. $E_I$, $E_D$, $E_S$ above are our reconstructions of their *form*; we
#   compare shapes and orderings, never constants.
# * **Theorem 1's regime.** The theorem needs very wide networks and specific initialization
#   and step sizes; we used moderate widths with PyTorch's default initialization and one step
#   size, so the measured rates say whether the decay is geometric, not whether the theorem's
#   rate is attained. Where the "neighbourhood" is reached is not resolved on CPU budgets.
# * **Scale.** Everything is 1-D or 2-D. The dimension factors of the bounds ($d$ in $E_I$ and
#   $E_D$) and the image-scale conclusions (CIFAR-10, ImageNet with U-Nets) are out of reach
#   here; the paper itself has no experiments to compare with.
# * **The training-derived error profile.** The paper's argument for "less trained, use EDM's
#   schedule" rests on how the score error of a partially trained network is distributed
#   over $\sigma$. Our networks give one such profile; other architectures, preconditionings or
#   training designs may give others, and test 2 shows that a uniform error does not produce the
#   crossover at all.
