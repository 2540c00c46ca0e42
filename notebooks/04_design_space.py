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
# introduction, a third-party summary and secondary digests, not the theorem statements. The
# *forms* of $E_I$, $E_D$ and $E_S$ below, the weighting profiles and the controlled
# score-error model are **our reconstructions**, consistent with the stated claims but not
# quotations. Each recorded claim says what it is: `paper` (a statement of the paper, quoted
# from the summary), `derived` (a prediction of our reconstruction), `check` (a property of the
# machinery) or `question` (an exploratory question of ours). We test the qualitative
# predictions, never the bounds' constants.

# %% tags=["parameters"]
profile = "ci"  # "ci": about a minute and a half on 2 CPU cores; "full": longer runs, more points
seed = 0
device = "cpu"  # exact computations stay in float64 on CPU; small networks train on `device`
gd_widths = None  # widths of the ReLU MLP trained by GD (E4.1)
gd_steps = None  # GD iterations (E4.1)
n_seeds = None  # training seeds and random error fields (E4.3)
checkpoints = None  # Adam steps at which E4.3 evaluates the network
preset_steps = None  # Adam steps per training design (E4.4)

# %% tags=["hide-input"]
import numpy as np
import pandas as pd
import torch
from matplotlib.ticker import NullFormatter, ScalarFormatter
from myst_nb import glue

from companion import design_space as ds
from companion import stats
from companion.gmm import GaussianMixture, ring_mixture
from companion.grid import GridDensity
from companion.ledger import Ledger, at_least, at_most, close_to
from companion.metrics import sliced_w2
from companion.profiles import get_device, resolve, seed_everything
from companion.samplers import sample_ve_exponential
from companion.stats import fit_loglog
from companion.style import PALETTE, figure, use_style

cfg = resolve(
    profile,
    ci=dict(
        gd_widths=[16, 64, 256],
        gd_steps=1000,
        gd_n=16,
        gd_levels=4,
        gd_seeds=3,
        n_seeds=5,
        n_list=[10, 14, 20, 28, 40, 57, 80],
        smax_list=[2.0, 4.0, 8.0, 16.0, 32.0, 64.0],
        n_init=60,
        checkpoints=[100, 300, 1000],
        kl_steps=[18, 35],
        e_list=[0.1, 0.3],
        preset_steps=600,
        preset_seeds=5,
        n_ring=2000,
        n_grid=1500,
    ),
    full=dict(
        gd_widths=[64, 256, 1024],
        gd_steps=3000,
        gd_n=32,
        gd_levels=8,
        gd_seeds=5,
        n_seeds=8,
        n_list=[10, 20, 40, 80, 160, 320],
        smax_list=[2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0],
        n_init=200,
        checkpoints=[100, 300, 1000, 3000, 10000],
        kl_steps=[18, 35, 79],
        e_list=[0.03, 0.1, 0.3, 1.0],
        preset_steps=3000,
        preset_seeds=8,
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
PRESET_SEEDS = [seed + i for i in range(cfg["preset_seeds"])]
N_GRID, N_FINE = cfg["n_grid"], 2 * cfg["n_grid"]  # grid nodes, and doubled for refinement
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
# /\sigma_{\max})^{1/\rho}\big)/N$. At $N=35$ these give $N E_D/d=$ {glue:text}`ned_exp:.0f`
# (exponential; asymptote $4L^2=$ {glue:text}`ned_exp_asym:.0f`) and {glue:text}`ned_poly:.0f`
# ($\rho=7$; asymptote {glue:text}`ned_poly_asym:.0f`; the asymptotic forms hold for large
# $N$): the reconstruction favours the exponential grid on discretization.
#
# For an error of constant size $e$, $E_S = e^2\sum_k(1-e^{-2\ell_k})$ with log-steps $\ell_k$
# summing to $L$. To leading order in the steps, $1-e^{-2\ell}\approx 2\ell$ and
# $E_S\approx 2Le^2$ **for every grid**: the reconstructed bound makes no leading-order
# prediction about the schedule for an error of uniform size. The concavity of
# $1-e^{-2\ell}$ corrects this at finite $N$: at $N=35$, $E_S^{\exp}/E_S^{\rho=7}=$
# {glue:text}`es_unif_ratio:.3f` for a uniform error. Which grid has the smaller $E_S$ therefore depends on *how the error varies
# with $\sigma$*, which the reconstruction does not supply.
#
# The 1-D data are a two-component mixture with non-zero mean (so that the initialization
# error decays like $\sigma_{\max}^{-2}$, not faster), with component variances 0.05 and 0.2.

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
# initialisation and step size (which we do not have). **What we ask instead (a question, not
# a test of the theorem).** Does the decay look geometric outside that regime: a ReLU MLP with
# two hidden layers of moderate width, PyTorch's default (standard) parameterisation, one
# constant step for every width, on $n$ points of a 2-D four-mode ring with $N$ levels from
# EDM's grid? The networks have far more parameters than the $nN$ fitted values, so the
# infimum of $\bar L$ is 0 and we plot $\log\bar L_k$ itself. On the window after the first
# 10% of the run we fit $\log\bar L_k$ by a line in $k$ (geometric decay) and by a line in
# $\log k$ (power law), and compare the $R^2$ of the two fits at the largest width.

# %% tags=["hide-input"]
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
        k0 = f.window[0] - 1
        gd_fits.append(
            dict(
                width=w,
                seed=s,
                rate=f.rate,
                r2_geometric=f.r2_geometric,
                r2_power=f.r2_power,
                drop_head=L[k0] / L[0],
                drop_tail=L[-1] / L[k0],
                ntk_trace=ds.gd_ntk_trace(gd_data, gd_levels, w, seed=s)
                if w in (cfg["gd_widths"][0], cfg["gd_widths"][-1])
                else np.nan,
            )
        )
gd = pd.DataFrame(gd_fits)
w_mid = cfg["gd_widths"][1]
prof_curves = {
    p: ds.gd_dsm(
        gd_data, gd_levels, w_mid, cfg["gd_steps"], GD_LR, profile=p, seed=seed, device=dev
    )
    for p in ds.EPS_PROFILES
}
prof_table = pd.DataFrame(
    [
        dict(profile=p, rate=stats.fit_decay(L).rate, final_loss=L[-1])
        for p, L in prof_curves.items()
    ]
).set_index("profile")
gd.groupby("width")[
    ["rate", "r2_geometric", "r2_power", "drop_head", "drop_tail", "ntk_trace"]
].mean()

# %% tags=["hide-input"]
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
wmin, wmax = cfg["gd_widths"][0], cfg["gd_widths"][-1]
widest = gd[gd.width == wmax].set_index("seed")
narrowest = gd[gd.width == wmin].set_index("seed")
d_r2 = stats.t_interval(widest["r2_geometric"] - widest["r2_power"])
log_ntk = stats.t_interval(np.log(widest["ntk_trace"] / narrowest["ntk_trace"]))
log_rate = stats.t_interval(np.log(widest["rate"] / narrowest["rate"]))
ledger.record(
    "E4.1a",
    kind="question",
    paper=PAPER,
    claim=f"outside Theorem 1's regime (width {wmax}, standard parameterisation, one fixed "
    "step), does the tail of log L_k fit a geometric decay better than a power law? "
    "R^2(geometric) - R^2(power law)",
    measured=d_r2,
    expect=at_least(0.0),
    section="ds-gd",
    **reg_tol(d_r2),
)
ledger.record(
    "E4.1b",
    kind="check",
    paper=PAPER,
    claim="under PyTorch's standard parameterisation the trace of the empirical NTK at "
    f"initialisation grows with width: log(trace at width {wmax} / trace at width {wmin})",
    measured=log_ntk,
    expect=at_least(0.0),
    section="ds-gd",
    **reg_tol(log_ntk),
)
glue_verdicts(2)
glue("gd_r2_geo", float(widest["r2_geometric"].mean()), display=False)
glue("gd_r2_pow", float(widest["r2_power"].mean()), display=False)
glue("gd_d_r2", d_r2.value, display=False)
glue("gd_d_r2_lo", d_r2.low, display=False)
glue("gd_d_r2_hi", d_r2.high, display=False)
glue("gd_rate", float(widest["rate"].mean()), display=False)
glue("gd_rate_ratio", float(np.exp(log_rate.value)), display=False)
glue("gd_rate_ratio_lo", float(np.exp(log_rate.low)), display=False)
glue("gd_rate_ratio_hi", float(np.exp(log_rate.high)), display=False)
glue("gd_ntk_ratio", float(np.exp(log_ntk.value)), display=False)
glue("gd_drop_head", float(widest["drop_head"].mean()), display=False)
glue("gd_drop_tail", float(widest["drop_tail"].mean()), display=False)
glue("gd_wmax", wmax, display=False)
glue("gd_wmin", wmin, display=False)
glue("gd_wmid", w_mid, display=False)
glue("gd_nseeds", len(GD_SEEDS), display=False)
glue("gd_steps", cfg["gd_steps"], display=False)
prof_table

# %% [markdown]
# **Figure.** Left: the empirical loss under GD for each width (one line per seed), log scale;
# a straight tail is geometric decay. Look at whether the tails are straight and at how their
# slopes change with width. Right: the same at width {glue:text}`gd_wmid` for three weighting
# profiles $\omega$ (flat, a bell in $\log\sigma$ at EDM's centre, increasing like $\sigma$),
# all normalised to mean 1 over the levels: an illustration only, no claim rests on it
# (fitted tail rates in the table above).
#
# At width {glue:text}`gd_wmax` the loss falls to {glue:text}`gd_drop_head:.2g` of its initial
# value over the first 10% of the {glue:text}`gd_steps` steps and to a further
# {glue:text}`gd_drop_tail:.2g` of that over the rest (means over {glue:text}`gd_nseeds` seeds); the tail is still falling at the end (fitted
# rate {glue:text}`gd_rate:.2g` per step), so the neighbourhood where the geometric phase ends is
# not reached. On the tail, a geometric decay fits with $R^2=${glue:text}`gd_r2_geo:.3f` and a
# power law with $R^2=${glue:text}`gd_r2_pow:.3f`; their difference,
# {glue:text}`gd_d_r2:.3f` (95% t-interval [{glue:text}`gd_d_r2_lo:.3f`,
# {glue:text}`gd_d_r2_hi:.3f`]), answers question E4.1a: {glue:text}`v_E41a`. Over a window this
# short and rates this small the two shapes are hard to separate, so "inconclusive" here means
# *not resolved*, not *refuted*, and nothing here bears on Theorem 1, whose regime we do not
# reach.
#
# The fitted tail rate at width {glue:text}`gd_wmax` is {glue:text}`gd_rate_ratio:.2f` times that
# at width {glue:text}`gd_wmin` (95% t-interval of the ratio [{glue:text}`gd_rate_ratio_lo:.2f`,
# {glue:text}`gd_rate_ratio_hi:.2f`]). We do not record this as evidence for the theorem: with the
# standard parameterisation and a step fixed across widths, the trace of the neural tangent
# kernel at initialisation, which sets the effective step of gradient descent in the linearised
# regime, is itself {glue:text}`gd_ntk_ratio:.2f` times larger at width {glue:text}`gd_wmax` than at
# width {glue:text}`gd_wmin` (check E4.1b: {glue:text}`v_E41b`). In the linearised regime each
# kernel mode decays at a rate proportional to the step times its eigenvalue, so the
# parameterisation alone speeds up wider networks here; we have not separated this from any
# width effect of the theorem. A test of the rate that Theorem 1
# predicts needs the NTK parameterisation and the kernel's spectrum; it is not done here.
#
# (ds-sampling)=
# ## E4.2 The VE sampling error and its parts, with the exact score (Theorem 2)
#
# These are predictions of **our reconstructed** proxies (kind `derived`), not of the paper's
# statements, which we did not have. **Initialization.** With the exact score, start the
# sampler either from $\mathcal N(0,\sigma_{\max}^2)$ or from the exact $p_{\sigma_{\max}}$; the
# discretization is the same, so the difference of the two output KLs isolates the effect of
# the initial mismatch. The proxy $E_I$ predicts a slope $-2$ in $\sigma_{\max}$ (for
# non-centred data the initial KL itself is $\approx \bar x^2/(2\sigma_{\max}^2)$).


# %% tags=["hide-input"]
def init_effect(smax, n_points):
    """Output-KL gap between the Gaussian and the exact start at sigma_max (exact score)."""
    sig = ds.schedule_sigmas(cfg["n_init"], SMIN, smax)
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
    if smax >= 4:  # the fitted points, again on twice the nodes (numerical error, E4.5a)
        row["init_effect_fine"] = float(np.subtract(*init_effect(smax, N_FINE)))
    init_rows.append(row)
init_table = pd.DataFrame(init_rows).set_index("sigma_max")
fit_i = init_table[init_table.index >= 4]
slope_init = fit_loglog(fit_i.index.values, fit_i["init_effect"].values)
slope_init_fine = fit_loglog(fit_i.index.values, fit_i["init_effect_fine"].values).slope
slope_ikl = fit_loglog(fit_i.index.values, fit_i["init_kl"].values)
assert (init_table["init_effect"] > 0).all(), "starting from the exact p_sigma_max must help"
glue("slope_init", slope_init.slope, display=False)
glue("slope_init_ci", slope_init.ci95, display=False)
glue("slope_ikl", slope_ikl.slope, display=False)
glue("init_npts", slope_init.n, display=False)
ei_ratio_max = float((init_table["init_effect"] / init_table["E_I"]).max())
glue("ei_ratio_max", ei_ratio_max, display=False)
glue("ei_bounds", "bounds it, loosely" if ei_ratio_max < 1 else "does not bound it", display=False)
ledger.record(
    "E4.2a",
    kind="derived",
    paper=PAPER,
    claim="initialization error decays like sigma_max^-2 as the reconstructed E_I predicts "
    "(log-log slope of the output-KL gap between Gaussian and exact start, sigma_max >= 4)",
    measured=slope_init.slope_interval,
    expect=close_to(-2.0, 0.5),
    section="ds-sampling",
    rtol=1e-3,
    atol=1e-3,
)
init_table

# %% [markdown]
# **Discretization.** Now the number of levels $N$ varies for the exponential grid and the
# polynomial grids $\rho\in\{1,3,7,15\}$, from $\mathcal N(0,80^2)$ to $\sigma_{\min}=0.002$, with
# the exact score, so $E_S=0$ and $E_I$ (about {glue:text}`ei_80:.1g` nats at
# $\sigma_{\max}=80$) is negligible.

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
        if name == "exponential" and n >= 20:  # the fitted points on twice the nodes (E4.5a)
            row["kl_fine"] = ds.output_kl(gmm.denoise, gmm, sig, n_points=N_FINE).value
        disc_rows.append(row)
disc = pd.DataFrame(disc_rows)
# one fitted constant: median ratio of KL to the proxy where the proxy is not saturated
ok = disc["E_D"] < 100 * disc["kl"].max()
c_D = float(np.exp(np.median(np.log(disc.loc[ok, "kl"] / disc.loc[ok, "E_D"]))))
geo = disc[(disc.schedule == "exponential") & (disc.N >= 20)]
slope_N = fit_loglog(geo["N"].values, geo["kl"].values)
slope_N_fine = fit_loglog(geo["N"].values, geo["kl_fine"].values).slope
taus = [
    pd.Series(grp["kl"].values).corr(pd.Series(grp["E_D"].values), method="kendall")
    for _, grp in disc.groupby("N")
]
tau = float(np.mean(taus))
kl_wide = disc.pivot(index="N", columns="schedule", values="kl")[list(SCHEDS)]
worst = kl_wide.idxmax(axis=1)
best = kl_wide.idxmin(axis=1)
glue("worst_sched", worst.mode()[0], display=False)
glue("worst_count", int((worst == worst.mode()[0]).sum()), display=False)
glue("best_sched", best.mode()[0], display=False)
glue("best_count", int((best == best.mode()[0]).sum()), display=False)
glue("n_N", len(kl_wide), display=False)
glue("ei_80", ds.bound_initialization(m2, 1, SMAX), display=False)
glue("slope_N", slope_N.slope, display=False)
glue("slope_N_ci", slope_N.ci95, display=False)
glue("slope_N_npts", slope_N.n, display=False)
glue("tau", tau, display=False)
glue("c_D", c_D, display=False)
ledger.record(
    "E4.2b",
    kind="derived",
    paper=PAPER,
    claim="output KL of the exponential schedule decays at least like 1/N, as the "
    "reconstructed E_D bounds it (log-log slope over N >= 20)",
    measured=slope_N.slope_interval,
    expect=at_most(-1.0),
    section="ds-sampling",
    rtol=1e-3,
    atol=1e-3,
)
ledger.record(
    "E4.2c",
    kind="derived",
    paper=PAPER,
    claim="schedules rank as the reconstructed discretization proxy E_D predicts (Kendall tau "
    "between exact KL and E_D across the 5 schedules, mean over N)",
    measured=tau,
    expect=at_least(0.6),
    section="ds-sampling",
    rtol=1e-3,
    atol=1e-3,
)
glue_verdicts(3)
kl_wide

# %% tags=["hide-input"]
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
# schedules). Look at the order of the schedules: the proxy predicts it with Kendall
# $\tau=${glue:text}`tau:.2f` averaged over $N$ (E4.2c: {glue:text}`v_E42c`). The largest KL comes
# from "{glue:text}`worst_sched`" at {glue:text}`worst_count` of the {glue:text}`n_N` values of
# $N$ (the uniform grid's last step goes from $\sigma\approx\sigma_{\max}/(N-1)$ straight to
# $\sigma_{\min}$), the smallest from "{glue:text}`best_sched`" at {glue:text}`best_count` of
# them. The proxy's first-order decay $1/N$ is pessimistic: the exponential schedule's KL falls
# with slope {glue:text}`slope_N:.2f` $\pm$ {glue:text}`slope_N_ci:.2f` (95% fit interval over
# {glue:text}`slope_N_npts` values of $N$; E4.2b: {glue:text}`v_E42b`). Right: the effect of
# starting from $\mathcal N(0,\sigma_{\max}^2)$ instead of the exact $p_{\sigma_{\max}}$ decays
# with slope {glue:text}`slope_init:.2f` $\pm$ {glue:text}`slope_init_ci:.2f` in $\sigma_{\max}$
# (fit over {glue:text}`init_npts` points; the initial KL itself: {glue:text}`slope_ikl:.2f`), in
# line with $E_I\propto\sigma_{\max}^{-2}$ (E4.2a: {glue:text}`v_E42a`). The measured gap is at
# most {glue:text}`ei_ratio_max:.2g` times $E_I$ on these points: the reconstructed $E_I$
# {glue:text}`ei_bounds`.
#
# (ds-crossover)=
# ## E4.3 The schedule crossover (the headline design claim)
#
# **The paper's claim** (summary): "polynomial schedules are preferable when score error
# dominates, while exponential schedules are better when sampling error dominates". In terms of
# $\Delta\mathrm{KL} = \mathrm{KL}_{\exp} - \mathrm{KL}_{\rho=7}$ at a fixed number of levels:
# positive when the score is poorly trained, negative when it is well trained or exact. The
# paper states the rule without conditions on the data, so we test it on the chapter's mixture
# and, with the exact score, on three more targets.
#
# **Test 1: trained networks.** An EDM-preconditioned SiLU MLP (3 hidden layers of 64) is
# trained by Adam with EDM's noise distribution and weighting on the 1-D mixture, one run per
# seed, and evaluated at several checkpoints. For each checkpoint we compute the exact per-level
# score error $e(\sigma)$ against the mixture, the proxy $E_S$ for both schedules, and the exact
# output KL for both schedules at several $N$. Both schedules are evaluated on the same network,
# so $\Delta\mathrm{KL}$ is a paired difference per seed.

# %% tags=["hide-input"]
e_sig = torch.logspace(np.log10(SMIN), np.log10(SMAX), 13, dtype=torch.float64)
first, last, n_mid = min(cfg["checkpoints"]), max(cfg["checkpoints"]), cfg["kl_steps"][1]
cross_rows, err_rows, refine = [], [], {}
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
# **Test 2: a controlled score error of uniform size (a question of ours).**
# `companion.design_space.PerturbedDenoiser` adds to the exact denoiser a smooth random field
# of size $e$ in $\varepsilon$ units at *every* level (our model, not the paper's); each seed
# draws a different field. The reconstructed bound makes no leading-order prediction here (see
# the setting), so this asks what an error of uniform size does, nothing more.

# %% tags=["hide-input"]
pert_rows = []
for e in cfg["e_list"]:
    for s in SEEDS:
        D = ds.PerturbedDenoiser(gmm, e, seed=s)
        for n in cfg["kl_steps"]:
            sg, sp = ds.schedule_sigmas(n, SMIN, SMAX), ds.schedule_sigmas(n, SMIN, SMAX, 7.0)
            kg = ds.output_kl(D, gmm, sg, n_points=N_GRID).value
            kp = ds.output_kl(D, gmm, sp, n_points=N_GRID).value
            pert_rows.append(dict(seed=s, e=e, N=n, kl_exp=kg, kl_poly=kp, dkl=kg - kp))
pert = pd.DataFrame(pert_rows)
pert_sum = summarize(pert, "e")
pert_sum

# %% [markdown]
# **Test 3: the exact score on other targets.** With the exact score only discretization is
# left, the limit of a perfectly trained network. Besides the chapter's mixture we take a single
# Gaussian with the same mean and variance (no fine structure at all; its output law has a
# closed form, `companion.design_space.gaussian_output_kl`, so it needs no grid), the same
# two-component mixture with wide components (variances 0.5 and 0.6), and with narrow ones
# (variances 0.01 and 0.02). Every grid value is computed on {glue:text}`n_grid` and on
# {glue:text}`n_fine` nodes; the difference is its numerical error.

# %% tags=["hide-input"]
var_total = float(gmm.covariance()[0, 0])
TARGETS = {
    "chapter mixture (variances 0.05, 0.2)": gmm,
    "single Gaussian (same mean and variance)": GaussianMixture(
        [1.0], [[float(gmm.mean()[0])]], [var_total]
    ),
    "wide mixture (variances 0.5, 0.6)": GaussianMixture([0.3, 0.7], [[-1.0], [1.5]], [0.5, 0.6]),
    "narrow mixture (variances 0.01, 0.02)": GaussianMixture(
        [0.3, 0.7], [[-1.0], [1.5]], [0.01, 0.02]
    ),
}
target_rows = []
for tname, tg in TARGETS.items():
    for n in cfg["kl_steps"]:
        sg, sp = ds.schedule_sigmas(n, SMIN, SMAX), ds.schedule_sigmas(n, SMIN, SMAX, 7.0)
        row = dict(target=tname, N=n)
        for res, npts in [("", N_GRID), ("_fine", N_FINE)]:
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
targets.assign(rel_dKL=targets["dkl_fine"] / targets["kl_poly_fine"])[
    ["target", "N", "kl_exp_fine", "kl_poly_fine", "dkl_fine", "rel_dKL"]
]

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
for a in ax[1:]:
    a.axhline(0, color="k", lw=0.8)
    a.set_xscale("log")
    a.legend(fontsize=7)
ax[1].set(
    xlabel="Adam steps (training quality)",
    ylabel=r"$(\mathrm{KL}_{\exp}-\mathrm{KL}_{\rho=7})/\overline{\mathrm{KL}}$",
    title="trained: + means EDM better",
)
ax[2].set(xlabel=r"controlled error $e$", ylabel="relative $\\Delta$KL", title="uniform error")


# %%
def trained(step, n=n_mid):
    g = cross[(cross.step == step) & (cross.N == n)].sort_values("seed")
    return g


t_first, t_last = trained(first), trained(last)
d_first = stats.paired_t(t_first["kl_exp"], t_first["kl_poly"])
d_last = stats.paired_t(t_last["kl_exp"], t_last["kl_poly"])
e_max = max(cfg["e_list"])
p_max = pert[(pert.e == e_max) & (pert.N == n_mid)].sort_values("seed")
d_unif = stats.paired_t(p_max["kl_exp"], p_max["kl_poly"])
tg_mid = targets[targets.N == n_mid].set_index("target")
d_exact = {
    t: stats.refinement(tg_mid.loc[t, "dkl"], tg_mid.loc[t, "dkl_fine"], note="grid nodes doubled")
    for t in TARGETS
}
names = list(TARGETS)
gauss_name = names[1]
well = "exponential schedules are better when sampling error dominates"
ledger.record(
    "E4.3a",
    kind="paper",
    source=SUMMARY + "'polynomial schedules are preferable when score error dominates'",
    paper=PAPER,
    claim=f"under-trained network ({first} Adam steps) on the chapter's mixture: the polynomial "
    f"(rho=7) schedule is better, Delta-KL = KL_exp - KL_poly > 0 at N = {n_mid}",
    measured=d_first,
    expect=at_least(0.0),
    section="ds-crossover",
    **reg_tol(d_first),
)
ledger.record(
    "E4.3b",
    kind="paper",
    source=SUMMARY + f"'{well}'",
    paper=PAPER,
    claim=f"well-trained network ({last} Adam steps) on the chapter's mixture: the exponential "
    f"schedule is better, Delta-KL < 0 at N = {n_mid}",
    measured=d_last,
    expect=at_most(0.0),
    section="ds-crossover",
    **reg_tol(d_last),
)
ledger.record(
    "E4.3c",
    kind="paper",
    source=SUMMARY + f"'{well}'",
    paper=PAPER,
    claim=f"exact score on the chapter's mixture: the exponential schedule is better, "
    f"Delta-KL < 0 at N = {n_mid}",
    measured=d_exact[names[0]],
    expect=at_most(0.0),
    section="ds-crossover",
    rtol=1e-3,
    atol=1e-6,
)
ledger.record(
    "E4.3d",
    kind="question",
    paper=PAPER,
    claim=f"does a controlled score error of uniform size e = {e_max} (a case on which the "
    f"reconstructed bound is silent) favour the polynomial schedule? Delta-KL > 0 at N = {n_mid}",
    measured=d_unif,
    expect=at_least(0.0),
    section="ds-crossover",
    **reg_tol(d_unif),
)
for cid, t in zip(["E4.3e", "E4.3f", "E4.3g"], names[1:], strict=True):
    exact_gauss = TARGETS[t].n_components == 1
    ledger.record(
        cid,
        kind="paper",
        source=SUMMARY + f"'{well}'",
        paper=PAPER,
        claim=f"exact score on a {t}: the exponential schedule is better, Delta-KL < 0 at "
        f"N = {n_mid}" + (" (closed form, no grid)" if exact_gauss else ""),
        measured=float(tg_mid.loc[t, "dkl_closed"]) if exact_gauss else d_exact[t],
        expect=at_most(0.0),
        section="ds-crossover",
        rtol=1e-3,
        atol=1e-6,
    )
glue_verdicts(7)
kl_exact_mid = float(tg_mid.loc[names[0], "kl_poly"])
for key, iv in [("d_first", d_first), ("d_last", d_last), ("d_unif", d_unif)]:
    glue(key, iv.value, display=False)
    glue(key + "_err", iv.half_width, display=False)
for key, t in zip(["d_chapter", "d_gauss", "d_wide", "d_narrow"], names, strict=True):
    v = float(tg_mid.loc[t, "dkl_closed"]) if t == gauss_name else d_exact[t].value
    glue(key, v, display=False)
    glue(key + "_rel", abs(v) / float(tg_mid.loc[t, "kl_poly_fine"]), display=False)
glue("kl_ratio_first", float(t_first["kl_poly"].mean()) / kl_exact_mid, display=False)
glue("kl_ratio_last", float(t_last["kl_poly"].mean()) / kl_exact_mid, display=False)
glue("e_max", e_max, display=False)
glue("last_exp", float(s_exp35[-2] / s_exp35[-1]), display=False)
glue("last_poly", float(s_poly35[-2] / s_poly35[-1]), display=False)
glue("ck_first", first, display=False)
glue("ck_last", last, display=False)
glue("n_mid", n_mid, display=False)
glue("n_seeds", len(SEEDS), display=False)
glue("n_grid", N_GRID, display=False)
glue("n_fine", N_FINE, display=False)
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
signs = {t: ("exponential" if tg_mid.loc[t, "dkl_fine"] < 0 else "polynomial") for t in names}
glue("win_chapter", signs[names[0]], display=False)
glue("win_gauss", signs[names[1]], display=False)
glue("win_wide", signs[names[2]], display=False)
glue("win_narrow", signs[names[3]], display=False)

# %% [markdown]
# **Figure.** Left: the exact score error of the trained networks per level, averaged over
# seeds, one line per checkpoint. Middle: relative $\Delta\mathrm{KL}$ against training steps,
# error bars are 95% t-intervals over {glue:text}`n_seeds` seeds; above the line the polynomial
# (EDM) schedule wins, below it the exponential one. Right: the same against the size $e$ of
# the uniform controlled error. Look at the sign of the middle panel at few and at many steps.
#
# **Result** (all at $N=${glue:text}`n_mid`, nats; intervals are 95% paired t-intervals over
# {glue:text}`n_seeds` seeds, or the numerical error from doubling the grid nodes for the exact
# score):
#
# | setting | $\Delta\mathrm{KL}=\mathrm{KL}_{\exp}-\mathrm{KL}_{\rho=7}$ | paper's sign | verdict |
# |---|---|---|---|
# | chapter mixture, trained {glue:text}`ck_first` steps | {glue:text}`d_first:.2g` $\pm$ {glue:text}`d_first_err:.2g` | $+$ | {glue:text}`v_E43a` |
# | chapter mixture, trained {glue:text}`ck_last` steps | {glue:text}`d_last:.2g` $\pm$ {glue:text}`d_last_err:.2g` | $-$ | {glue:text}`v_E43b` |
# | chapter mixture, exact score | {glue:text}`d_chapter:.2g` | $-$ | {glue:text}`v_E43c` |
# | single Gaussian, exact score (closed form) | {glue:text}`d_gauss:.2g` | $-$ | {glue:text}`v_E43e` |
# | wide mixture, exact score | {glue:text}`d_wide:.2g` | $-$ | {glue:text}`v_E43f` |
# | narrow mixture, exact score | {glue:text}`d_narrow:.2g` | $-$ | {glue:text}`v_E43g` |
# | chapter mixture, uniform error $e=${glue:text}`e_max` (question) | {glue:text}`d_unif:.2g` $\pm$ {glue:text}`d_unif_err:.2g` | none | {glue:text}`v_E43d` |
#
# **How to read this.** (i) The well-trained half of the rule is **conditional on the target**.
# With the exact score the {glue:text}`win_chapter` grid wins on the chapter's mixture (by
# {glue:text}`d_chapter_rel:.1%` of the KL) and the {glue:text}`win_narrow` grid on the narrow
# mixture (by {glue:text}`d_narrow_rel:.1%`), but the {glue:text}`win_gauss` grid wins on the
# single Gaussian with the same mean and variance (by {glue:text}`d_gauss_rel:.1%`) and the
# {glue:text}`win_wide` grid on the wide mixture (by {glue:text}`d_wide_rel:.1%`). On these four
# targets the exponential grid wins with the exact score where the components are narrow (fine
# structure at small noise) and loses where the law is smooth. This is consistent with its
# finer steps at small $\sigma$ (its last step divides $\sigma$ by {glue:text}`last_exp:.2f`,
# the $\rho=7$ grid's by {glue:text}`last_poly:.2f`), a mechanism we have not isolated; the
# reconstructed $E_D$ depends on the grid only, so it cannot see the target at all. The
# well-trained half of the paper's rule, stated without conditions on the data, holds here
# only on the targets with fine structure. (ii) On the
# chapter's mixture the trained networks at {glue:text}`ck_first` steps have an output KL
# {glue:text}`kl_ratio_first:.1f` times the exact score's (score error dominates) and at
# {glue:text}`ck_last` steps {glue:text}`kl_ratio_last:.1f` times; the sign of $\Delta\mathrm{KL}$
# at each checkpoint is in the table, and the ratio $E_S^{\exp}/E_S^{\rho=7}$ of the
# reconstructed score term is {glue:text}`es_ratio_first:.2f` and {glue:text}`es_ratio_last:.2f`
# there. This rests on one target and one architecture; whether the under-trained half holds on
# the smooth targets is not tested here. (iii) The uniform error (a question of ours, not the
# paper's prediction) answers E4.3d with {glue:text}`v_E43d`.
#
# (ds-weighting)=
# ## E4.4 Bell-shaped noise distribution and weighting
#
# **The paper's claim** (summary): the analysis gives a "theoretical justification for
# 'bell-shaped' weighting in training (as used in Karras et al.)". **Test.** Same network, same
# budget, six designs (`companion.design_space.TRAINING_PRESETS`): EDM's log-normal with
# $\lambda(\sigma)$ (the bell); three designs that are not bells: log-uniform $\sigma$ with the
# $\varepsilon$-loss (Song's VE), uniform $t$ on the VP-linear schedule with the
# $\varepsilon$-loss (DDPM/Song VP), and a deliberately increasing weighting (log-uniform
# $\sigma$, flat denoiser weight, so the $\varepsilon$-weight grows like $\sigma^2$); and EDM's
# bell shifted to high ($P_{\rm mean}=1.5$) and low ($P_{\rm mean}=-3.5$) noise. Metrics: the
# exact per-level score error and the exact output KL in 1-D, and the sliced $W_2$ distance to
# a reference sample on the 8-mode ring in 2-D (EDM and the three non-bell designs only),
# with one fixed sampler (exponential integrator, $\rho=7$, $N=35$). Every design is trained on the same seeds, so the comparisons are paired;
# "EDM beats every rival" is decided by Bonferroni-adjusted paired t-intervals of the rivals'
# excess over EDM (`companion.stats.compare_rivals`), not by comparing a minimum of noisy numbers.
# The paper's claim is tested against the three non-bell designs; whether EDM's *centre* beats
# the shifted bells is our question (the paper's statement is about the shape).

# %% tags=["hide-input"]
NONBELL = ["loguniform-eps", "vp-uniform-t", "increasing"]
SHIFTED = ["bell-high", "bell-low"]
RING_DESIGNS = ["edm", *NONBELL]  # the designs the ring claim compares
ring8 = ring_mixture(8, 2.0, 0.1)
sp35 = ds.schedule_sigmas(35, SMIN, SMAX, 7.0)
pre_rows, pre_err = [], {}
ref_ring = ring8.sample(cfg["n_ring"], gen) + SMIN * torch.randn(
    cfg["n_ring"], 2, generator=gen, dtype=torch.float64
)
for name in ds.TRAINING_PRESETS:
    for s in PRESET_SEEDS:
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
        pre_rows.append(dict(design=name, seed=s, kl_1d=kl, sw2_ring=sw))
pre = pd.DataFrame(pre_rows)
pre_sum = pre.groupby("design", sort=False).agg(
    kl_1d=("kl_1d", "mean"),
    kl_sd=("kl_1d", "std"),
    sw2_ring=("sw2_ring", "mean"),
    sw2_sd=("sw2_ring", "std"),
)
pre_sum

# %% tags=["hide-input"]
fig, ax = figure(3, height=2.7)
grid_ls = torch.linspace(-8, 6, 57, dtype=torch.float64)
dens = {
    n: ds.eps_weight_density(n, grid_ls, sigma_data=1.2, n=100_000) for n in ds.TRAINING_PRESETS
}
for i, name in enumerate(ds.TRAINING_PRESETS):
    ax[0].plot(grid_ls, dens[name], color=PALETTE[i], label=name)
    ax[1].loglog(
        e_sig,
        np.mean([pre_err[(name, s)] for s in PRESET_SEEDS], 0),
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
sw_by = pre.dropna().pivot(index="seed", columns="design", values="sw2_ring")
cmp_kl = stats.compare_rivals(kl_by["edm"], {r: kl_by[r] for r in NONBELL})
cmp_sw = stats.compare_rivals(sw_by["edm"], {r: sw_by[r] for r in NONBELL})
cmp_shift = stats.compare_rivals(kl_by["edm"], {r: kl_by[r] for r in SHIFTED})
not_incr = [n for n in ds.TRAINING_PRESETS if n != "increasing"]
cmp_incr = stats.compare_rivals(
    kl_by["increasing"], {r: kl_by[r] for r in not_incr}, lower_is_better=False
)
bell = "'Theoretical justification for \"bell-shaped\" weighting in training'"
ledger.record(
    "E4.4a",
    kind="paper",
    source=SUMMARY + bell,
    paper=PAPER,
    claim="EDM's bell-shaped design gives a smaller 1-D output KL than each of the three "
    "non-bell designs: smallest excess KL(rival) - KL(edm), simultaneous over the rivals",
    measured=cmp_kl.interval,
    expect=at_least(0.0),
    section="ds-weighting",
    **reg_tol(cmp_kl.interval),
)
ledger.record(
    "E4.4b",
    kind="question",
    paper=PAPER,
    claim="is the increasing weighting the worst of the six designs in 1-D output KL? "
    "smallest excess KL(increasing) - KL(other), simultaneous over the five others",
    measured=cmp_incr.interval,
    expect=at_least(0.0),
    section="ds-weighting",
    **reg_tol(cmp_incr.interval),
)
ledger.record(
    "E4.4c",
    kind="paper",
    source=SUMMARY + bell,
    paper=PAPER,
    claim="EDM's bell-shaped design gives a smaller sliced W2 on the 2-D ring than each of the "
    "three non-bell designs: smallest excess SW2(rival) - SW2(edm), simultaneous over the rivals",
    measured=cmp_sw.interval,
    expect=at_least(0.0),
    section="ds-weighting",
    **reg_tol(cmp_sw.interval),
)
ledger.record(
    "E4.4d",
    kind="question",
    paper=PAPER,
    claim="is EDM's centre better than the same bell shifted to high or low noise? smallest "
    "excess KL(shifted) - KL(edm) in 1-D, simultaneous over the two shifts",
    measured=cmp_shift.interval,
    expect=at_least(0.0),
    section="ds-weighting",
    **reg_tol(cmp_shift.interval),
)
glue_verdicts(4)
rival_rows = []
for label, cmp in [
    ("1-D KL, edm vs non-bell", cmp_kl),
    ("ring SW2, edm vs non-bell", cmp_sw),
    ("1-D KL, edm vs shifted bells", cmp_shift),
    ("1-D KL, increasing vs the others", cmp_incr),
]:
    for r, iv in cmp.per_rival.items():
        rival_rows.append(
            dict(comparison=label, rival=r, excess=iv.value, low=iv.low, high=iv.high)
        )
rivals = pd.DataFrame(rival_rows).set_index(["comparison", "rival"])
for key, cmp in [("kl", cmp_kl), ("sw", cmp_sw), ("shift", cmp_shift), ("incr", cmp_incr)]:
    glue(f"dec_{key}", cmp.decisive, display=False)
    glue(f"exc_{key}", cmp.interval.value, display=False)
    glue(f"exc_{key}_lo", cmp.interval.low, display=False)
    glue(f"exc_{key}_hi", cmp.interval.high, display=False)
glue("best_design", str(pre_sum["kl_1d"].idxmin()), display=False)
glue("worst_design", str(pre_sum["kl_1d"].idxmax()), display=False)
glue("best_ring", str(pre_sum["sw2_ring"].idxmin()), display=False)
glue("preset_steps", cfg["preset_steps"], display=False)
glue("preset_seeds", len(PRESET_SEEDS), display=False)
for j, label in [(0, "lo"), (-1, "hi")]:
    err_end = {n: np.mean([pre_err[(n, s)][j] for s in PRESET_SEEDS]) for n in ds.TRAINING_PRESETS}
    glue(f"worst_{label}", max(err_end, key=err_end.get), display=False)
rivals

# %% [markdown]
# **Figure.** Left: the effective weight each design puts on the $\varepsilon$-loss, as a density
# in $\log\sigma$ (EDM's bell, the flat log-uniform designs, the increasing one, the shifted
# bells). Middle: the resulting exact score error per level in 1-D (mean over seeds); look at
# where each design leaves its error. Right: the exact output KL of one fixed sampler, mean
# over {glue:text}`preset_seeds` seeds with 95% t-intervals (log scale).
#
# **Result.** After {glue:text}`preset_steps` Adam steps, the smallest mean 1-D output KL comes
# from "{glue:text}`best_design`" and the largest from "{glue:text}`worst_design`"; on the ring
# the smallest mean sliced $W_2$ of the four designs trained there comes from
# "{glue:text}`best_ring`". The paired comparisons
# (table above: excess of each rival over the candidate, 95% simultaneous intervals):
#
# * EDM against the non-bell designs, 1-D KL (E4.4a, the paper's claim):
#   {glue:text}`v_E44a`; the closest rival is "{glue:text}`dec_kl`" with excess
#   {glue:text}`exc_kl:.3g` [{glue:text}`exc_kl_lo:.3g`, {glue:text}`exc_kl_hi:.3g`] nats.
# * The same on the ring, sliced $W_2$ (E4.4c): {glue:text}`v_E44c`; closest rival
#   "{glue:text}`dec_sw`", excess {glue:text}`exc_sw:.3g` [{glue:text}`exc_sw_lo:.3g`,
#   {glue:text}`exc_sw_hi:.3g`].
# * EDM against its own bell shifted to high or low noise (E4.4d, our question):
#   {glue:text}`v_E44d`; closest "{glue:text}`dec_shift`", excess {glue:text}`exc_shift:.3g`
#   [{glue:text}`exc_shift_lo:.3g`, {glue:text}`exc_shift_hi:.3g`].
# * The increasing weighting as the worst of all six (E4.4b, our question; the paper does not
#   say this): {glue:text}`v_E44b`; decisive comparison with "{glue:text}`dec_incr`", excess
#   {glue:text}`exc_incr:.3g` [{glue:text}`exc_incr_lo:.3g`, {glue:text}`exc_incr_hi:.3g`].
#
# Where the error lands (middle panel): at $\sigma_{\min}=0.002$ the largest mean error comes
# from "{glue:text}`worst_lo`", at $\sigma_{\max}=80$ from "{glue:text}`worst_hi`". This is one small network, one budget and two targets; the
# sweep of the bell's location with the exact sensitivity of the output law is not done here.
#
# (ds-numerics)=
# ## E4.5 Numerical accuracy of the exact computations
#
# Every KL above is a deterministic number computed by propagating the sampler's output density
# on a grid of {glue:text}`n_grid` nodes. Its numerical error is measured by recomputing each
# quantity a verdict rests on with twice the nodes, and compared with its margin: for a
# deterministic quantity the distance from its criterion's boundary, for a seed-averaged effect
# the larger of the effect and its 95% half-width. A ratio well below 1 means the grid cannot
# move any verdict. Independently of the grid, the single Gaussian's output law has a
# closed form (the sampler's recursion is affine), which checks the whole propagation.


# %% tags=["hide-input"]
def seed_margin(iv):
    return max(abs(iv.value), iv.half_width)


num_rows = [
    dict(
        quantity="E4.2a slope (sigma_max)",
        coarse=slope_init.slope,
        fine=slope_init_fine,
        margin=min(abs(slope_init.slope + 2.5), abs(slope_init.slope + 1.5)),
    ),
    dict(
        quantity="E4.2b slope (N)",
        coarse=slope_N.slope,
        fine=slope_N_fine,
        margin=abs(slope_N.slope + 1.0),
    ),
    dict(
        quantity=f"E4.3a Delta-KL, {first} steps, seed {SEEDS[0]}",
        coarse=refine[first][0],
        fine=refine[first][1],
        margin=seed_margin(d_first),
    ),
    dict(
        quantity=f"E4.3b Delta-KL, {last} steps, seed {SEEDS[0]}",
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
]
for cid, t in zip(["E4.3c", "E4.3f", "E4.3g"], [names[0], names[2], names[3]], strict=True):
    num_rows.append(
        dict(
            quantity=f"{cid} Delta-KL, exact score",
            coarse=float(tg_mid.loc[t, "dkl"]),
            fine=float(tg_mid.loc[t, "dkl_fine"]),
            margin=abs(float(tg_mid.loc[t, "dkl_fine"])),
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
ledger.record(
    "E4.5a",
    kind="check",
    paper=PAPER,
    claim="doubling the grid nodes changes every grid quantity a verdict rests on by less "
    "than 10% of its margin (largest change / margin)",
    measured=float(numerics["change / margin"].max()),
    expect=at_most(0.1),
    section="ds-numerics",
    rtol=0.5,
    atol=1e-3,
)
ledger.record(
    "E4.5b",
    kind="check",
    paper=PAPER,
    claim=f"single Gaussian, exact score: grid output KL ({N_FINE} nodes) equals the closed form "
    "of the affine recursion to 1% (largest relative error over both schedules and N)",
    measured=closed_err,
    expect=at_most(0.01),
    section="ds-numerics",
    rtol=0.5,
    atol=1e-5,
)
glue_verdicts(2)
glue("num_max", float(numerics["change / margin"].max()), display=False)
glue("num_argmax", str(numerics["change / margin"].idxmax()), display=False)
glue("closed_err", closed_err, display=False)
glue("closed_err_coarse", closed_err_coarse, display=False)
numerics

# %% [markdown]
# The largest change on doubling the nodes is {glue:text}`num_max:.2g` of its margin
# ("{glue:text}`num_argmax`"; E4.5a: {glue:text}`v_E45a`), so no verdict depends on the grid. On the
# single Gaussian the grid's output KL differs from the closed form by at most
# {glue:text}`closed_err_coarse:.1e` (relative) on {glue:text}`n_grid` nodes and
# {glue:text}`closed_err:.1e` on {glue:text}`n_fine` (E4.5b: {glue:text}`v_E45b`). The sliced
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
            "reason": "the theorem's width, initialisation and step conditions are not "
            "available to us and not reached on CPU; E4.1a asks whether the decay looks "
            "geometric outside that regime (a question) and E4.1b checks the parameterisation; "
            "an NTK-grounded rate test is not done yet",
        },
        {
            "statement": "Sampling error analysis extended to the variance exploding case under "
            "minimal assumptions (Theorem 2): KL bounded by initialization, discretization and "
            "score-error terms",
            "source": "summary",
            "ids": ["E4.2a", "E4.2b", "E4.2c"],
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
            "ids": ["E4.4a", "E4.4c", "E4.4d"],
        },
        {
            "statement": "Polynomial schedules are preferable when score error dominates",
            "source": "summary",
            "ids": ["E4.3a", "E4.3d"],
        },
        {
            "statement": "Exponential schedules are better when sampling error dominates",
            "source": "summary",
            "ids": ["E4.3b", "E4.3c", "E4.3e", "E4.3f", "E4.3g"],
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
# its half-width, whichever is smaller.

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
#   size. A test of the predicted rate through the empirical neural tangent kernel (its spectrum
#   at initialisation, per-mode residuals, the weighted kernel for each weighting profile) is
#   not done here.
# * **The crossover on other targets with trained networks.** The exact-score comparison shows
#   that the well-trained half of the schedule rule depends on the target; the trained-network
#   crossover is measured on the chapter's mixture only, and the crossover level of the score
#   error that the reconstructed bound would predict is not computed.
# * **The bell's location.** Whether the output KL is U-shaped in the location of the weighting
#   ($P_{\rm mean}$), with its minimum near the data scale, needs a sweep of the location with
#   the exact sensitivity of the output law to a score error at each noise level; E4.4d compares
#   only two shifted bells.
# * **Scale.** Everything is 1-D or 2-D. The dimension factors of the bounds ($d$ in $E_I$ and
#   $E_D$) and image-scale conclusions (CIFAR-10, ImageNet with U-Nets) are out of reach here;
#   the paper itself has no experiments to compare with.
