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
# # Ratio-based approximation with SignReLU networks
#
# This chapter accompanies Sun, Shen, Li, Zhao and Feng {cite:p}`sun2026signrelu`. The paper views
# the objects a diffusion model must learn as **ratios** $f_1/f_2$ of kernel-induced densities. It
# proves that deep networks with the SignReLU activation {cite:p}`li2023signrelu` approximate such
# ratios, and it bounds the excess KL risk of a SignReLU estimator of the DDPM reverse process
# {cite:p}`ho2020ddpm`.

# %% tags=["parameters"]
profile = "ci"
seed = 0
device = "cpu"
deltas = None  # denominator floors for the division network
baseline_widths = None  # widths of the trained ReLU/tanh baselines on a/b
baseline_steps = None
fit_widths = None  # widths for the DDPM ratio targets (E1.2)
fit_seeds = None
fit_steps = None
fit_times = None  # steps t at which the posterior mean is fitted
ns = None  # sample sizes of the plug-in estimator (E1.3)
n_reps = None
T_kl = None  # number of DDPM steps in the n sweep
Ts = None  # T sweep at fixed total noise
gauss_ns = None  # sample sizes at which the Gaussian-kernel DDPM is also evaluated
quad_points = None  # 2-D quadrature nodes per axis for per-step KLs
train_steps = None  # E1.4
train_seeds = None
train_width = None
n_train = None
n_eval_2d = None

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.ticker import NullFormatter
from myst_nb import glue

from companion import ratio as R
from companion import signrelu as S
from companion.stats import fit_loglog
from companion.gmm import GaussianMixture, ring_mixture
from companion.ledger import Ledger, at_least, at_most, close_to
from companion.metrics import mmd, sliced_w2
from companion.nets import MLPDenoiser
from companion.profiles import get_device, resolve, seed_everything
from companion.style import figure, method_colors, use_style
from companion.training import train

cfg = resolve(
    profile,
    ci=dict(
        deltas=[1e-1, 1e-2, 1e-3, 1e-4],
        baseline_widths=[32, 128],
        baseline_steps=300,
        fit_widths=[8, 16, 32],
        fit_seeds=[0],
        fit_steps=300,
        fit_times=[12],
        ns=[32, 64, 128, 256, 512, 1024],
        n_reps=4,
        T_kl=20,
        Ts=[5, 10, 20],
        gauss_ns=[128],
        quad_points=100,
        train_steps=400,
        train_seeds=[0, 1],
        train_width=32,
        n_train=2000,
        n_eval_2d=2000,
    ),
    full=dict(
        deltas=[1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4],
        baseline_widths=[16, 64, 256],
        baseline_steps=1500,
        fit_widths=[8, 16, 32, 64, 128, 256],
        fit_seeds=[0, 1, 2],
        fit_steps=2000,
        fit_times=[12],
        ns=[32, 64, 128, 256, 512, 1024, 2048, 4096],
        n_reps=10,
        T_kl=50,
        Ts=[5, 10, 20, 50, 100],
        gauss_ns=[64, 512, 4096],
        quad_points=200,
        train_steps=3000,
        train_seeds=[0, 1, 2, 3, 4],
        train_width=128,
        n_train=20000,
        n_eval_2d=10000,
    ),
    deltas=deltas,
    baseline_widths=baseline_widths,
    baseline_steps=baseline_steps,
    fit_widths=fit_widths,
    fit_seeds=fit_seeds,
    fit_steps=fit_steps,
    fit_times=fit_times,
    ns=ns,
    n_reps=n_reps,
    T_kl=T_kl,
    Ts=Ts,
    gauss_ns=gauss_ns,
    quad_points=quad_points,
    train_steps=train_steps,
    train_seeds=train_seeds,
    train_width=train_width,
    n_train=n_train,
    n_eval_2d=n_eval_2d,
)
dev = get_device(device)
gen = seed_everything(seed)
use_style()
ledger = Ledger(
    "01_signrelu",
    title="Ratio-based approximation with SignReLU networks",
    profile=profile,
    seed=seed,
    device=str(dev),
)
PAPER = "2601.21242"
cfg

# %% [markdown]
# ## What the paper claims, and what we reconstruct
#
# **Stated in the abstract** (read on arXiv):
#
# 1. In conditional generative modelling, and in diffusion models in particular, the target is a
#    ratio $f_1/f_2$ of kernel-induced marginal densities.
# 2. Deep SignReLU networks approximate such ratios, and the proof exploits the activation's
#    piecewise structure; there are $L^p(\Omega)$ bounds and convergence rates.
# 3. For DDPMs, a SignReLU estimator of the reverse process has an excess KL risk that splits into
#    an approximation part and an estimation part, giving finite-sample guarantees.
#
# **Not available to us:** the theorem statements, constants and rates. A third-party summary
# quotes a network of depth 7 and width $O(n+9)$ and a KL bound of the form
# $O(T(n^{-1-3d/2}+\dots))$, linear in the number of steps $T$. Its exponents improve with the
# dimension, which suggests they are garbled, so we fit rates instead of testing these numbers.
#
# **Our reconstruction** (labelled as ours throughout): the explicit division network of
# {ref}`sec-division`, the closed-form ratio targets of {ref}`sec-targets`, the plug-in kernel
# estimator with its telescoping KL identity of {ref}`sec-plugin`, and the trained comparison of
# {ref}`sec-trained`. The paper has no experiments, so every number below is ours.
#
# ## Setting
#
# SignReLU with parameter $a>0$ is $\rho(x)=x$ for $x\ge0$ and $\rho(x)=a\,x/(1+|x|)$ for $x<0$.
# The negative branch is **rational**, not piecewise linear. This gives an exact one-neuron
# reciprocal: for $u\ge0$, $1+\rho(-u)/a = 1/(1+u)$, so
#
# $$ \frac1x = \frac1c\Big(1+\frac1a\,\rho\big(1-\tfrac{x}{c}\big)\Big), \qquad x\ge c>0. $$
#
# The DDPM forward chain is $q(z_t\mid z_{t-1})=\mathcal N(\sqrt{\alpha_t}z_{t-1},\beta_t)$ with
# $\bar\alpha_t=\prod_{s\le t}\alpha_s$, and $K_t(x,y)=\mathcal N(x;\sqrt{\bar\alpha_t}y,1-\bar\alpha_t)$.
# Every marginal is kernel-induced, $p_t(x)=\int K_t(x,y)p_0(y)\,dy$, and the objects of the reverse
# process are ratios:
#
# $$ E[z_0\mid z_t=x] = \frac{\int y\,K_t(x,y)\,p_0(y)\,dy}{\int K_t(x,y)\,p_0(y)\,dy},\qquad
#    p(z_{t-1}\mid z_t) = \frac{q(z_t\mid z_{t-1})\,p_{t-1}(z_{t-1})}{p_t(z_t)} . $$
#
# Our data law $p_0$ is a 1-D three-component Gaussian mixture with unequal widths. It has two
# low-density valleys and Gaussian tails, so $f_2$ becomes small in places. For the trained
# comparison we also use a 2-D ring of eight modes. The chain has $\bar\alpha_t$ from the
# continuous VP-linear schedule at times $t/T$, so the total noise ($\bar\alpha_T\approx 4\cdot10^{-5}$)
# is the same for every $T$.

# %%
p0 = GaussianMixture([0.3, 0.5, 0.2], [-2.0, 0.5, 2.5], [0.09, 0.25, 0.04])
ring = ring_mixture(8, radius=2.0, std=0.15)
chain50 = R.DDPMChain.fixed_total(50)
glue("alpha_bar_T", float(chain50.alpha_bar[-1]), display=False)

# %% [markdown]
# (sec-division)=
# ## E1.1 The mechanism: exact division near vanishing denominators
#
# **Construction (ours; consistent with the stated mechanism).** From the reciprocal:
#
# * **Square** on $[l,h]$: $1/x-1/(x+s)=s/(x(x+s))$ takes one layer of three neurons (two
#   reciprocals and a pass-through of $x$, exact because $\rho(x)=x$ for $x\ge0$). One more
#   reciprocal, with floor $s/(h(h+s))$, gives $x(x+s)$, and $x^2=x(x+s)-sx$.
# * **Product** of positives by polarisation, $uv=((u+v)^2-u^2-v^2)/2$: three squares side by side,
#   depth 2, width 9.
# * **Ratio** on $[0,A]\times[\delta,B]$: $a/b=(a+1)\cdot(1/b)-1/b$, a reciprocal followed by the
#   product, depth 3, width 10.
#
# The shift $s=1$ is the textbook choice. $s=h$ computes the same function with much less
# cancellation in floating point. Both are exact in exact arithmetic; the weights must grow like
# $\delta^{-2}$ because the second reciprocal has a floor of order $\delta^2$.

# %%
rows = []
for d in cfg["deltas"]:
    x = S.ratio_grid(d, 201)
    for shift in ["unit", "scaled"]:
        net = S.ratio_network(d, shift=shift)
        e64 = S.ratio_errors(net(x), x)
        e32 = S.ratio_errors(net.float()(x.float()), x)
        rows.append(
            {
                "delta": d,
                "shift": shift,
                **net.summary(),
                "sup64": e64["sup"],
                "sup32": e32["sup"],
                "rms64": e64["rms"],
            }
        )
gadgets = pd.DataFrame(rows)
gadgets[["delta", "shift", "depth", "width", "max_weight", "n_parameters", "sup64", "sup32"]]

# %% [markdown]
# The table reports, for every floor $\delta$, the division network's depth, width, largest
# weight, number of non-zero parameters, and its sup error relative to $\sup a/b = 1/\delta$ on a
# $201\times201$ grid (uniform in $a$, log-uniform in $b$), in float64 and float32. Depth and
# width do not depend on $\delta$; only the weights grow.
#
# As baselines we train ReLU and tanh MLPs (3 hidden layers) on the same target, with Adam and
# log-uniform denominators.

# %%
base_rows = []
for d in cfg["deltas"]:
    x = S.ratio_grid(d, 201)
    for act in ["relu", "tanh"]:
        for w in cfg["baseline_widths"]:
            net = S.fit_ratio_mlp(
                d, act, w, 3, steps=cfg["baseline_steps"], batch_size=256, seed=seed, device=dev
            )
            with torch.no_grad():
                pred = net(x.float().to(dev)).double().cpu()
            base_rows.append({"delta": d, "activation": act, "width": w, **S.ratio_errors(pred, x)})
baselines = pd.DataFrame(base_rows)

Ms = np.logspace(1, 5, 9)
emu = np.array(
    [
        float(
            (
                S.relu_emulation(M)(
                    xe := torch.linspace(-50, 50, 200_001, dtype=torch.float64)[:, None]
                )
                - xe.clamp(min=0)
            )
            .abs()
            .max()
        )
        for M in Ms
    ]
)
emu_closed = np.array([S.relu_emulation_sup_error(M, 50.0) for M in Ms])
assert np.allclose(emu, emu_closed, rtol=1e-10), "rho(Mx)/M error differs from its closed form"
emu_fit = fit_loglog(Ms, emu)

scaled = gadgets[gadgets["shift"] == "scaled"]
small_d = scaled[scaled["delta"] <= 1e-2]
weight_fit = fit_loglog(small_d["delta"], small_d["max_weight"])

fig, ax = figure(3, height=2.7)
cols = method_colors(["gadget scaled", "gadget unit", "relu", "tanh"])
for shift, ls in [("scaled", "-"), ("unit", "--")]:
    g = gadgets[gadgets["shift"] == shift]
    ax[0].loglog(
        g["delta"],
        g["sup64"],
        ls,
        marker="o",
        color=cols[f"gadget {shift}"],
        label=f"SignReLU division, s={shift}, float64",
    )
    ax[0].loglog(
        g["delta"],
        g["sup32"],
        ls,
        marker="s",
        mfc="none",
        color=cols[f"gadget {shift}"],
        alpha=0.6,
        label="same, float32",
    )
for act in ["relu", "tanh"]:
    for i, w in enumerate(cfg["baseline_widths"]):
        g = baselines[(baselines["activation"] == act) & (baselines["width"] == w)]
        ax[0].loglog(
            g["delta"],
            g["sup"],
            ":",
            marker="^",
            color=cols[act],
            alpha=0.4 + 0.6 * (i + 1) / len(cfg["baseline_widths"]),
            label=f"trained {act} MLP, width {w}",
        )
ax[0].set(xlabel=r"denominator floor $\delta$", ylabel=r"sup error / sup$(a/b)$", title="error")
ax[0].invert_xaxis()
ax[0].legend(fontsize=6)
ax[1].loglog(
    scaled["delta"], scaled["max_weight"], "o-", color=cols["gadget scaled"], label="largest weight"
)
ax[1].loglog(scaled["delta"], 4 * scaled["delta"] ** -2.0, "k--", lw=1, label=r"$4\delta^{-2}$")
ax[1].set(xlabel=r"$\delta$", ylabel="largest |weight|", title="the price: weight size")
ax[1].invert_xaxis()
ax[1].legend(fontsize=7)
ax[2].loglog(Ms, emu, "o-", label="measured sup error on [-50, 50]")
ax[2].loglog(Ms, 1 / Ms, "k--", lw=1, label="1/M")
ax[2].set(xlabel="M", ylabel="sup error", title="ReLU emulation")
ax[2].legend(fontsize=7, loc="upper right")
plt.show()

# %% [markdown]
# **Figure.** Left: relative sup error of the explicit SignReLU division network (solid: shift
# $s=h$; dashed: $s=1$; filled markers float64, open float32) and of trained MLPs, against the
# denominator floor $\delta$ (decreasing to the right). Look at the gap: the construction sits
# many orders of magnitude below the trained networks in float64, and its error grows only
# through round-off. Float32 is a different story: at small $\delta$ the round-off amplified by
# weights of order $\delta^{-2}$ reaches order one. Middle: the largest weight grows like
# $\delta^{-2}$, the price of exactness. Right: $\rho(Mx)/M$ emulates ReLU with sup error $1/M$.

# %%
d_small = min(cfg["deltas"])
g64 = float(gadgets[(gadgets["shift"] == "scaled")]["sup64"].max())
best_trained = float(baselines[baselines["delta"] == d_small]["sup"].min())
gad_small = float(
    gadgets[(gadgets["shift"] == "scaled") & (gadgets["delta"] == d_small)]["sup64"].iloc[0]
)
gad32_mid = float(
    gadgets[(gadgets["shift"] == "scaled") & (gadgets["delta"] == 1e-2)]["sup32"].iloc[0]
)
assert g64 < 1e-6, f"float64 division network is not exact to round-off: {g64}"
for k, v in {
    "div_sup64_max": g64,
    "div_trained_best": best_trained,
    "div_small": gad_small,
    "div_sup32_1e2": gad32_mid,
    "weight_slope": weight_fit.slope,
    "weight_slope_ci": weight_fit.ci95,
    "emu_slope": emu_fit.slope,
    "d_small": d_small,
}.items():
    glue(k, v, display=False)
ledger.record(
    "E1.1a",
    paper=PAPER,
    claim="A constant-depth SignReLU network computes a/b on [0,1]x[delta,1] exactly (float64 round-off), for every delta down to 1e-4",
    measured=g64,
    expect=at_most(1e-6),
    section="sec-division",
    rtol=1.0,
    atol=1e-12,
)
ledger.record(
    "E1.1b",
    paper=PAPER,
    claim="Stable near vanishing denominators: at the smallest delta the division network beats the best trained ReLU/tanh MLP by >= 100x (sup error)",
    measured=best_trained / gad_small,
    expect=at_least(100.0),
    section="sec-division",
    rtol=3.0,
    atol=0.0,
)
ledger.record(
    "E1.1c",
    paper=PAPER,
    claim="The price is parameter size: the division network's largest weight grows like delta^-2 (fitted log-log slope for delta <= 1e-2, our derivation)",
    measured=weight_fit.slope,
    uncertainty=weight_fit.ci95,
    uncertainty_kind="95% CI of the log-log fit",
    expect=close_to(-2.0, 0.1),
    section="sec-division",
)
ledger.record(
    "E1.1d",
    paper=PAPER,
    claim="rho(Mx)/M emulates ReLU with sup error 1/M (log-log slope -1), the M^-1 factor of the bound",
    measured=emu_fit.slope,
    uncertainty=emu_fit.ci95,
    uncertainty_kind="95% CI of the log-log fit",
    expect=close_to(-1.0, 0.02),
    section="sec-division",
)

# %% [markdown]
# In float64 the division network's relative sup error stays below {glue:text}`div_sup64_max:.2g`
# for every $\delta$. At $\delta=${glue:text}`d_small:.0e` the best trained baseline has relative
# sup error {glue:text}`div_trained_best:.2g`. The largest weight grows with slope
# {glue:text}`weight_slope:.3f` ± {glue:text}`weight_slope_ci:.2g` in $\delta$, and the ReLU emulation
# error has slope {glue:text}`emu_slope:.3f` in $M$. In float32 the same network already has relative
# error {glue:text}`div_sup32_1e2:.2g` at $\delta=10^{-2}$. "Stable" therefore means stable in exact
# arithmetic, paid for with weight norm; in low precision the large weights are a real cost. The
# shift $s=h$ (ours) removes most of the cancellation of the textbook $s=1$ square.

# %% [markdown]
# (sec-targets)=
# ## E1.2 Approximating DDPM ratio targets
#
# For the mixture $p_0$ both ratio targets are closed form (`companion.ratio`). We fit:
#
# * **direct**: one MLP (3 hidden layers, SignReLU, ReLU or tanh) regresses $f_1/f_2$;
# * **modular** (our reading of the paper's framework): SignReLU MLPs fit $f_1$ and $f_2$
#   separately (shifted and scaled to $[0,A]$ and $(0,1]$). Their outputs are clipped to the
#   division network's domain, with the floor $\delta$ half the smallest value of $f_2/\max f_2$
#   on $\Omega$, and divided exactly by the network of {ref}`sec-division`.
#
# Targets: the posterior mean $E[z_0\mid z_t]$ on
# $\Omega_t=[\min_k(\mu_k-4s_k), \max_k(\mu_k+4s_k)]$ over the components of $p_t$, which includes
# tails and valleys. Then the reverse conditional density $p(z_{t-1}\mid z_t)$ at $t=T/2$ on the box
# $\Omega_{t-1}\times\Omega_t$. Errors use uniform weight on $\Omega$, so the tails count as much as
# the bulk. `sup_low` is the sup error where $f_2<0.05\max f_2$. All fits are Adam on minibatches
# of 256 points of a fixed training grid, so the slopes are **achieved rates** (training error
# included), not the approximation-theoretic rates of the paper. The full profile uses widths 8
# to 256 (512 is beyond our CPU budget).


# %%
def omega(t):
    m = chain50.marginal(p0, t)
    sd = m.variances[:, 0].sqrt()
    return float((m.means[:, 0] - 4 * sd).min()), float((m.means[:, 0] + 4 * sd).max())


fit_rows = []
for t in cfg["fit_times"]:
    lo, hi = omega(t)
    xtr = torch.linspace(lo, hi, 1024, dtype=torch.float64)
    xev = torch.linspace(lo, hi, 4001, dtype=torch.float64)
    f1tr, f2tr = R.posterior_mean_terms(p0, chain50, t, xtr)
    f1ev, f2ev = R.posterior_mean_terms(p0, chain50, t, xev)
    for r in R.ratio_fit_study(
        xtr[:, None],
        f1tr,
        f2tr,
        xev[:, None],
        f1ev,
        f2ev,
        cfg["fit_widths"],
        cfg["fit_seeds"],
        steps=cfg["fit_steps"],
        device=dev,
    ):
        fit_rows.append({"target": f"posterior mean, t={t}", **r})
t_d = chain50.T // 2
(lo_p, hi_p), (lo_t, hi_t) = omega(t_d - 1), omega(t_d)


def box(n):
    a, b = torch.meshgrid(
        torch.linspace(lo_p, hi_p, n, dtype=torch.float64),
        torch.linspace(lo_t, hi_t, n, dtype=torch.float64),
        indexing="ij",
    )
    return torch.stack([a.flatten(), b.flatten()], -1)


btr, bev = box(48), box(121)
f1tr, f2tr = R.reverse_density_terms(p0, chain50, t_d, btr[:, 0], btr[:, 1])
f1ev, f2ev = R.reverse_density_terms(p0, chain50, t_d, bev[:, 0], bev[:, 1])
for r in R.ratio_fit_study(
    btr,
    f1tr,
    f2tr,
    bev,
    f1ev,
    f2ev,
    cfg["fit_widths"],
    cfg["fit_seeds"],
    steps=cfg["fit_steps"],
    device=dev,
):
    fit_rows.append({"target": f"reverse density, t={t_d}", **r})
fits = pd.DataFrame(fit_rows)
fits["label"] = fits["method"] + " " + fits["activation"]
summary = fits.groupby(["target", "label", "width"])[
    ["n_params", "L1", "L2", "sup", "sup_low"]
].mean()
summary

# %%
targets = list(fits["target"].unique())
labels = ["direct signrelu", "direct relu", "direct tanh", "modular signrelu"]
lcols = method_colors(labels)
fig, axes = figure(len(targets), height=2.8)
axes = np.atleast_1d(axes)
slopes = []
for ax, tg in zip(axes, targets, strict=True):
    for lab in labels:
        g = fits[(fits["target"] == tg) & (fits["label"] == lab)].groupby("width")
        n_par, err, sd = g["n_params"].mean(), g["L2"].mean(), g["L2"].std().fillna(0)
        ax.errorbar(
            n_par,
            err,
            yerr=sd,
            marker="o",
            color=lcols[lab],
            capsize=2,
            ls="--" if lab.startswith("modular") else "-",
        )
        if len(n_par) >= 3:
            f = fit_loglog(n_par.to_numpy(), err.to_numpy())
            slopes.append(
                {
                    "target": tg,
                    "method": lab,
                    "slope": f.slope,
                    "ci95": f.ci95,
                    "range": f"{f.x_range[0]:.0f}-{f.x_range[1]:.0f} params",
                }
            )
            ax.plot([], [], color=lcols[lab], marker="o", label=f"{lab} (slope {f.slope:.2f})")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="number of parameters",
        ylabel=r"$L^2(\Omega)$ error",
        title=tg,
    )
    ax.legend(fontsize=6)
plt.show()
slope_table = pd.DataFrame(slopes)
slope_table

# %% [markdown]
# **Figure.** $L^2(\Omega)$ error (uniform weight, mean ± sd over seeds) against parameter count,
# for direct fits with three activations and for the modular SignReLU fit (dashed), on each
# ratio target. Legends give the fitted log-log slopes (the table lists their 95% intervals and
# fit ranges). Look at the modular curve: it counts the parameters of both networks and the
# division network, and it carries the error of the two density fits divided by a small $f_2$.

# %%
sr = slope_table[(slope_table["method"] == "direct signrelu")]
sr0 = sr.iloc[0]
last_w = max(cfg["fit_widths"])
low = fits[fits["width"] == last_w].groupby(["target", "label"])["sup_low"].mean().unstack()
low_ratio = low["modular signrelu"] / low["direct signrelu"]
glue("sr_slope", float(sr0["slope"]), display=False)
glue("sr_slope_ci", float(sr0["ci95"]), display=False)
glue("low_ratio_min", float(low_ratio.min()), display=False)
glue("low_ratio_max", float(low_ratio.max()), display=False)
ledger.record(
    "E1.2a",
    paper=PAPER,
    claim=f"SignReLU networks approximate a DDPM ratio target with error decreasing in size ({sr0['target']}, achieved L2 slope vs parameters)",
    measured=float(sr0["slope"]),
    uncertainty=float(sr0["ci95"]),
    uncertainty_kind="95% CI of the log-log fit",
    expect=at_most(0.0),
    section="sec-targets",
    rtol=0.5,
    atol=1.0,
)
ledger.record(
    "E1.2b",
    paper=PAPER,
    claim="Modular f1, f2 + exact division is at least as accurate as a direct fit where f2 is small (sup error ratio modular/direct, worst target, largest width)",
    measured=float(low_ratio.max()),
    expect=at_most(1.0),
    section="sec-targets",
    rtol=3.0,
    atol=0.0,
)
low_ratio.rename("sup_low modular / direct").to_frame()

# %% [markdown]
# The direct SignReLU fit of the first target has an achieved $L^2$ slope of
# {glue:text}`sr_slope:.2f` ± {glue:text}`sr_slope_ci:.2f` against parameter count (negative means
# it improves with size; row E1.2a of the verdict table). In the low-density region, the modular
# route's sup error is {glue:text}`low_ratio_min:.2g` to {glue:text}`low_ratio_max:.2g` times that of
# the direct SignReLU fit at the largest width. The exact division network does not make a
# ratio of *fitted* densities stable. Where $f_2$ is small, any absolute error of $\hat f_2$ is
# amplified by $1/f_2$ before the division network ever sees it. The paper's stability is a
# statement about the division step given accurate $f_1, f_2$ bounded away from zero; the
# regression of $f_1, f_2$ to *relative* accuracy is the hard part.

# %% [markdown]
# (sec-plugin)=
# ## E1.3 Excess KL of the kernel-ratio estimator against $n$ and $T$
#
# **The estimator.** From $n$ samples $y_i\sim p_0$, replace $p_0$ by the Gaussian kernel density
# estimate $\hat p_0=n^{-1}\sum_i\mathcal N(y_i,h^2)$ with $h=0.5\,n^{-1/5}$. Then $\hat f_1$ and
# $\hat f_2$ are $n$-term Gaussian kernel sums, and $\hat f_1/\hat f_2$ is *exactly* the DDPM reverse
# kernel of the chain started at $\hat p_0$.
#
# **Identity (ours, from Bayes' rule).** Because $q(z_t\mid z_{t-1})$ cancels in the log-ratio of
# true and estimated kernels,
#
# $$ E_{p_t}\,\mathrm{KL}\big(p(\cdot\mid z_t)\,\|\,\hat p(\cdot\mid z_t)\big) =
#    \mathrm{KL}(p_{t-1}\|\hat p_{t-1})-\mathrm{KL}(p_t\|\hat p_t), $$
#
# and the path KL of the reverse chain started at $\mathcal N(0,1)$ telescopes:
#
# $$ \mathrm{KL}_{\rm path} = \mathrm{KL}(p_T\|\mathcal N(0,1)) + \mathrm{KL}(p_0\|\hat p_0)
#    - \mathrm{KL}(p_T\|\hat p_T). $$
#
# It is **independent of $T$** at fixed total noise. The output KL is at most the path KL (data
# processing). The *practical* DDPM uses Gaussian kernels $\mathcal N(\hat\mu_t(z_t),\beta_t)$, whose
# mean comes from the same plug-in ratio (the posterior mean). Its per-step KLs are computed by
# 2-D quadrature against the true mixture kernels, and its output density by exact grid
# propagation. First we check the identity against an independent 2-D quadrature of the per-step
# KL.

# %%
chainK = R.DDPMChain.fixed_total(cfg["T_kl"])
y64 = p0.sample(64, gen)
p_hat64 = R.kde_mixture(y64, R.kde_bandwidth(64))
pk64 = R.kernel_ratio_path_kl(p0, p_hat64, chainK)
check_t = [1, chainK.T // 4, chainK.T // 2]
quad = [
    R.step_kl(
        p0,
        chainK,
        t,
        R.mixture_log_kernel(chainK.reverse_kernel(p_hat64, t)),
        cfg["quad_points"],
        cfg["quad_points"],
    )
    for t in check_t
]
tele_err = max(
    abs(q.value - float(pk64.steps[t - 1])) / max(q.value, 1e-300)
    for q, t in zip(quad, check_t, strict=True)
)
assert tele_err < 1e-4, f"telescoping identity fails: relative difference {tele_err}"
assert pk64.output <= pk64.total + 1e-9, "output KL exceeds path KL"
glue("tele_err", tele_err, display=False)
pd.DataFrame(
    {
        "t": check_t,
        "2-D quadrature": [q.value for q in quad],
        "telescoped marginal KLs": [float(pk64.steps[t - 1]) for t in check_t],
    }
)

# %% [markdown]
# The two computations agree to a relative difference of {glue:text}`tele_err:.1e`. Now the
# sweep over $n$, with {glue:text}`n_reps_g` independent samples per $n$.

# %%
glue("n_reps_g", cfg["n_reps"], display=False)
kl_rows = []
for n in cfg["ns"]:
    for rep in range(cfg["n_reps"]):
        y = p0.sample(n, gen)
        ph = R.kde_mixture(y, R.kde_bandwidth(n))
        pk = R.kernel_ratio_path_kl(p0, ph, chainK, per_step=False)
        assert pk.output <= pk.total + 1e-9
        row = {"n": n, "rep": rep, "ratio path": pk.total, "ratio output": pk.output}
        if n in cfg["gauss_ns"] and rep < max(2, cfg["n_reps"] // 3):
            gk = R.gaussian_kernel_path_kl(
                p0, ph.denoise, chainK, cfg["quad_points"], cfg["quad_points"], 1500
            )
            row.update({"gaussian path": gk.total, "gaussian output": gk.output})
        kl_rows.append(row)
kl = pd.DataFrame(kl_rows)
kl_mean = kl.groupby("n").agg(["mean", "std", "count"])
n_fit = fit_loglog(
    kl_mean.index.to_numpy(dtype=float), kl_mean[("ratio output", "mean")].to_numpy()
)
glue("n_slope", n_fit.slope, display=False)
glue("n_slope_ci", n_fit.ci95, display=False)
kl_mean

# %%
T_rows = []
n_T = 256
y_T = p0.sample(n_T, gen)
ph_T = R.kde_mixture(y_T, R.kde_bandwidth(n_T))
for T in cfg["Ts"]:
    ch = R.DDPMChain.fixed_total(T)
    pk = R.kernel_ratio_path_kl(p0, ph_T, ch, per_step=False)
    pq = R.kernel_ratio_path_kl_quadrature(p0, ph_T, ch, cfg["quad_points"], cfg["quad_points"])
    gk = R.gaussian_kernel_path_kl(
        p0, ph_T.denoise, ch, cfg["quad_points"], cfg["quad_points"], 1500
    )
    gx = R.gaussian_kernel_path_kl(p0, p0.denoise, ch, cfg["quad_points"], cfg["quad_points"], 1500)
    T_rows.append(
        {
            "T": T,
            "ratio path": pq.value,
            "ratio path (identity)": pk.total,
            "ratio output": pk.output,
            "gaussian path": gk.total,
            "gaussian output": gk.output,
            "gaussian path, exact mean": gx.total,
            "gaussian output, exact mean": gx.output,
        }
    )
Tdf = pd.DataFrame(T_rows).set_index("T")

fig, ax = figure(2, height=2.8)
c = method_colors(["ratio path", "ratio output", "gaussian path", "gaussian output"])
for key in ["ratio path", "ratio output", "gaussian path", "gaussian output"]:
    if (key, "mean") in kl_mean and kl_mean[(key, "count")].max() > 0:
        m = kl_mean[(key, "mean")].dropna()
        s = kl_mean[(key, "std")].reindex(m.index).fillna(0)
        ax[0].errorbar(
            m.index,
            m,
            yerr=s,
            marker="o",
            capsize=2,
            color=c[key],
            label=key,
            ls="--" if "output" in key else "-",
        )
nn_ = np.array(cfg["ns"], dtype=float)
ax[0].plot(
    nn_,
    np.exp(n_fit.intercept) * nn_**n_fit.slope,
    "k:",
    lw=1,
    label=f"fit: slope {n_fit.slope:.2f} ± {n_fit.ci95:.2f}",
)
ax[0].set(
    xscale="log",
    yscale="log",
    xlabel="sample size n",
    ylabel="KL (nats)",
    title=f"T = {chainK.T}, h = 0.5 n^(-1/5)",
)
ax[0].legend(fontsize=6)
for key in [k for k in Tdf.columns if "identity" not in k]:
    ax[1].plot(
        Tdf.index,
        Tdf[key],
        marker="o",
        ls="--" if "output" in key else "-",
        color=c.get(key.replace(", exact mean", ""), "gray"),
        alpha=0.5 if "exact mean" in key else 1.0,
        label=key,
    )
ax[1].set(
    xscale="log",
    yscale="log",
    xlabel="number of steps T (fixed total noise)",
    ylabel="KL (nats)",
    title=f"n = {n_T}",
)
ax[1].legend(fontsize=6)
plt.show()

# %% [markdown]
# **Figure.** Left: path KL (solid) and output KL (dashed) of the exact kernel-ratio estimator
# and of the practical Gaussian-kernel DDPM built on the same plug-in ratio, against the sample
# size (mean ± sd over replicates), with the fitted slope of the ratio estimator's output KL.
# Right: the same quantities against $T$ at fixed total noise for one sample of size 256; here
# the ratio path KL is summed from per-step 2-D quadratures, without the identity. Pale
# lines use the exact posterior mean, so they show the pure discretisation error of Gaussian
# kernels. Look at the flat line: the exact-ratio path KL does not move with $T$, while the
# Gaussian-kernel path KL falls roughly like $1/T$.

# %%
ratio_T_spread = float(Tdf["ratio path"].max() / Tdf["ratio path"].min() - 1)
g_fit = fit_loglog(Tdf.index.to_numpy(dtype=float), Tdf["gaussian path, exact mean"].to_numpy())
glue("ratio_T_spread", ratio_T_spread, display=False)
glue("g_T_slope", g_fit.slope, display=False)
glue("g_T_slope_ci", g_fit.ci95, display=False)
ledger.record(
    "E1.3a",
    paper=PAPER,
    claim="Excess KL of the kernel-ratio reverse estimator decreases polynomially in n (fitted output-KL slope; KDE theory suggests about -4/5)",
    measured=n_fit.slope,
    uncertainty=n_fit.ci95,
    uncertainty_kind="95% CI of the log-log fit over replicate means",
    expect=at_most(0.0),
    section="sec-plugin",
    rtol=0.5,
    atol=0.2,
)
ledger.record(
    "E1.3b",
    paper=PAPER,
    claim="Per-step kernel KLs sum to the path KL (chain rule; telescoping identity checked against 2-D quadrature, relative difference)",
    measured=tele_err,
    expect=at_most(1e-4),
    section="sec-plugin",
    rtol=10.0,
    atol=1e-6,
)
ledger.record(
    "E1.3c",
    paper=PAPER,
    claim="Bound linear in T (seed form) is loose: the exact-ratio path KL (per-step 2-D quadrature) does not change with T (relative spread over the T sweep; growth with T would give a spread of order 1)",
    measured=ratio_T_spread,
    expect=at_most(0.05),
    section="sec-plugin",
    rtol=10.0,
    atol=1e-5,
)
ledger.record(
    "E1.3d",
    paper=PAPER,
    claim="The linear-in-T factor of the bound shows in the measured KL: for Gaussian reverse kernels the path KL grows with T (log-log slope in T, exact mean)",
    measured=g_fit.slope,
    uncertainty=g_fit.ci95,
    uncertainty_kind="95% CI of the log-log fit",
    expect=at_least(0.0),
    section="sec-plugin",
    rtol=0.2,
    atol=0.05,
)

# %% [markdown]
# The output KL of the kernel-ratio estimator has slope {glue:text}`n_slope:.2f` ±
# {glue:text}`n_slope_ci:.2f` in $n$. This is an achieved rate for our mixture and bandwidth
# constant; the paper's exponents could not be read, and the summary's look garbled. Over the $T$
# sweep the exact-ratio path KL, summed from per-step 2-D quadratures, changes by a relative
# {glue:text}`ratio_T_spread:.1e`, which is the quadrature accuracy. This is the telescoping identity: the error is decided by $\hat p_0$ alone, and a bound linear in $T$ is
# loose for this estimator. For Gaussian reverse kernels the path KL *decreases* with $T$ (slope
# {glue:text}`g_T_slope:.2f` ± {glue:text}`g_T_slope_ci:.2f` with the exact mean), because each
# Gaussian step is wrong by $O(T^{-2})$. So neither estimator shows the growth that a factor $T$
# suggests. An upper bound linear in $T$ is not contradicted; it is just not tight here.

# %% [markdown]
# (sec-trained)=
# ## E1.4 Trained DDPMs: SignReLU vs ReLU vs SiLU
#
# The paper makes no empirical claim here, so this is exploratory. We train $\varepsilon$-prediction
# MLPs (3 hidden layers) with the same width, step budget, data and seeds, differing only in the
# activation. Training uses the DDPM "simple" loss ($t$ uniform on $1..T$, $T=50$). We measure the
# exact output KL of the 1-D DDPM sampler (grid propagation of its Gaussian kernels), and sliced
# $W_2$ and MMD on the 2-D ring. Error bars are the spread over seeds.

# %%
acts = ["signrelu", "relu", "silu"]
acol = method_colors(acts)
noise = R.ddpm_noise(chain50)
x1 = p0.sample(cfg["n_train"], gen).float()
x2 = ring.sample(cfg["n_train"], gen).float()
ring_ref = ring.sample(cfg["n_eval_2d"], gen)
tr_rows, dens = [], {}
lo0, hi0 = -4.5, 4.5
xq = torch.linspace(lo0, hi0, 4001, dtype=torch.float64)
for act in acts:
    for s in cfg["train_seeds"]:
        for name, data, dim in [("1-D mixture", x1, 1), ("2-D ring", x2, 2)]:
            torch.manual_seed(1000 + s)
            model = MLPDenoiser(
                dim, cfg["train_width"], 3, act, sigma_data=1.0, parameterization="eps"
            ).to(dev)
            res = train(
                model,
                data,
                cfg["train_steps"],
                noise,
                weighting="eps",
                lr=2e-3,
                batch_size=256,
                seed=s,
                disable=True,
            )
            row = {
                "activation": act,
                "seed": s,
                "data": name,
                "final loss": float(np.mean(res.losses[-50:])),
            }
            if dim == 1:
                out = R.ddpm_output_density(model, chain50, 1500)
                kl_ = R.kl_divergence(lambda z: p0.prob(z[:, None]), out, xq)
                row["KL(p0||output)"] = kl_.value
                dens[(act, s)] = out(xq)
            else:
                gs = torch.Generator().manual_seed(s)
                xs = R.sample_ddpm_chain(model, chain50, cfg["n_eval_2d"], 2, gs)
                row["sliced W2"] = sliced_w2(xs, ring_ref, generator=gs)
                row["MMD^2"] = mmd(xs, ring_ref)
            tr_rows.append(row)
trained = pd.DataFrame(tr_rows)
tsum = trained.groupby(["data", "activation"]).agg(["mean", "std"]).drop(columns=["seed"])
tsum

# %%
fig, ax = figure(2, height=2.8)
ptrue = p0.prob(xq[:, None])
ax[0].semilogy(xq, ptrue, "k", lw=1, label="true $p_0$")
for act in acts:
    m = torch.stack([dens[(act, s)] for s in cfg["train_seeds"]]).mean(0)
    ax[0].semilogy(xq, m.clamp_min(1e-8), color=acol[act], lw=1.2, label=f"DDPM, {act} ε-MLP")
    ax[1].plot(
        xq,
        (ptrue * (torch.log(ptrue.clamp_min(1e-300)) - torch.log(m.clamp_min(1e-300)))),
        color=acol[act],
        lw=1.2,
        label=act,
    )
ax[0].set(xlabel="x", ylabel="density", ylim=(1e-6, 2), title="output densities (seed mean)")
ax[0].legend(fontsize=6)
ax[1].set(xlabel="x", ylabel=r"$p_0\log(p_0/\hat p)$", title="where the KL comes from")
ax[1].legend(fontsize=6)
plt.show()

# %% [markdown]
# **Figure.** Left: exact output densities of the trained 1-D DDPMs (mean over seeds) on a log
# scale, against the true mixture. Right: the KL integrand $p_0\log(p_0/\hat p)$; its integral is
# the output KL. The integrand is positive where the model puts too little mass (where it
# smooths out a mode) and negative where it puts too much (valleys, tails). Look at which
# regions carry the KL: the far tails carry little $p_0$-mass and contribute almost nothing.

# %%
kl_by = trained[trained["data"] == "1-D mixture"].pivot(
    index="seed", columns="activation", values="KL(p0||output)"
)
diff = kl_by["relu"] - kl_by["signrelu"]
diff_se = float(diff.std(ddof=1) / math.sqrt(len(diff))) if len(diff) > 1 else float("inf")
glue("kl_signrelu", float(kl_by["signrelu"].mean()), display=False)
glue("kl_relu", float(kl_by["relu"].mean()), display=False)
glue("kl_silu", float(kl_by["silu"].mean()), display=False)
glue("kl_diff", float(diff.mean()), display=False)
glue("kl_diff_se", 2 * diff_se, display=False)
ledger.record(
    "E1.4",
    paper=PAPER,
    claim="Exploratory (no claim in the paper): a SignReLU eps-network gives a DDPM at least as good as ReLU (KL_relu - KL_signrelu, 1-D exact output KL)",
    measured=float(diff.mean()),
    uncertainty=2 * diff_se,
    uncertainty_kind="2 standard errors over seeds (paired)",
    expect=at_least(0.0),
    section="sec-trained",
    rtol=2.0,
    atol=0.2,
)

# %% [markdown]
# Mean output KL over seeds: SignReLU {glue:text}`kl_signrelu:.3g`, ReLU {glue:text}`kl_relu:.3g`,
# SiLU {glue:text}`kl_silu:.3g` nats. The paired difference ReLU − SignReLU is
# {glue:text}`kl_diff:.2g` ± {glue:text}`kl_diff_se:.2g` (two standard errors). The table above
# also lists the 2-D ring metrics. These numbers hold for one small architecture and one
# training budget; the verdict row E1.4 says whether the difference exceeds its error bar. The
# paper's argument is about what SignReLU networks *can* represent, not about what training
# finds, so a trained comparison neither supports nor refutes it.

# %% [markdown]
# ## Verdicts

# %%
ledger.table()

# %% [markdown]
# ## What we could not check, and why
#
# * **The paper's rates and constants.** We had only the abstract. The summary's depth 7 and
#   width $O(n+9)$ fit our construction loosely: a division block has width 9 (three squares) plus
#   pass-throughs, and $n$ kernel terms could realise $f_1,f_2$. Its exponents, however, improve
#   with dimension and are probably garbled. We therefore report fitted, achieved slopes and do
#   not test the stated rates.
# * **Which $f_1/f_2$ the theorems use.** We treat both the posterior mean and the reverse
#   conditional density. The paper's function class and its lower bound on $f_2$ are unknown to
#   us; our floor $\delta$ is half the smallest $f_2$ on $\Omega$.
# * **The excess-risk definition.** We report path KL (terminal + sum of per-step KLs) and output
#   KL. If the paper's "excess KL" is a per-step quantity summed over $T$ steps, the linear
#   factor $T$ is built in. Our finding is only that the total does not grow with $T$ for these
#   estimators.
# * **Approximation versus optimisation.** E1.2 and E1.4 train networks, so their errors include
#   optimisation error, and the slopes are achieved, not approximation-theoretic, rates.
# * **Dimension.** Everything quantitative is 1-D (exact quadrature); the 2-D ring is only
#   compared by sample metrics.
