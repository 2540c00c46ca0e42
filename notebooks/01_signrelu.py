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
relu_widths = None  # widths K of the piecewise-linear ReLU reciprocal (the rival)
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
ring_seeds = None  # seeds also trained on the 2-D ring (sample metrics only)
train_width = None
n_train = None
n_eval_2d = None

# %% tags=["hide-input"]
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.ticker import NullFormatter
from myst_nb import glue

from companion import ratio as R
from companion import signrelu as S
from companion import stats
from companion.chains import VPChain, mixture_log_kernel, mixture_step_kl
from companion.gmm import GaussianMixture, ring_mixture
from companion.grid import kl_divergence
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
        relu_widths=[4, 10, 32, 100, 316, 1000],
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
        train_seeds=[0, 1, 2, 3, 4],
        ring_seeds=[0],
        train_width=32,
        n_train=2000,
        n_eval_2d=2000,
    ),
    full=dict(
        deltas=[1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4],
        relu_widths=[4, 10, 32, 100, 316, 1000, 3162],
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
        train_seeds=list(range(10)),
        ring_seeds=[0, 1, 2, 3, 4],
        train_width=128,
        n_train=20000,
        n_eval_2d=10000,
    ),
    deltas=deltas,
    relu_widths=relu_widths,
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
    ring_seeds=ring_seeds,
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
# ## Where each statement comes from
#
# We could read the paper's abstract, not its theorems. Every statement in this chapter is one of
# three kinds, and the verdict table says which (column `kind`): a statement **of the paper**
# (only those are verdicts on it), a consequence or construction **of ours** (`derived`), an
# identity of our machinery (`check`), or an exploratory **question** of ours.
#
# | statement | where it comes from |
# |:--|:--|
# | the target of conditional generative modelling, diffusion models in particular, is a ratio $f_1/f_2$ of kernel-induced marginal densities | abstract |
# | deep SignReLU networks approximate such ratios; the proof exploits the activation's piecewise structure; $L^p(\Omega)$ bounds and convergence rates under standard regularity | abstract |
# | for DDPMs a SignReLU-based estimator of the reverse process has an excess KL risk that splits into approximation and estimation errors, giving finite-sample guarantees | abstract |
# | the networks keep "stability near vanishing denominators" | third-party summary |
# | depth 7, width $O(n+9)$, parameter norm $M$, error $O(M^{-1}n^{-1/2-3d/2})$ | third-party summary |
# | excess KL $O(T(n^{-1-3d/2}+\sqrt{\log(1/\delta)}\,n^{-2-3d/2}))$, linear in the number of steps $T$ | third-party summary |
# | near-minimax optimal rates for Hölder-class densities | third-party summary |
# | the division network, the piecewise-linear ReLU rival, the closed-form ratio targets, the kernel plug-in estimator and its telescoping KL identity, all trained comparisons | ours |
#
# The summary's exponents improve with the dimension $d$, the opposite of the usual curse of
# dimensionality, so we read them as garbled and do not test them. We found no experiments in
# the abstract or the summary: every number below is ours.
#
# (sec-setting)=
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
# continuous VP-linear schedule at times $t/T$, so the total noise
# ($\bar\alpha_T=${glue:text}`alpha_bar_T:.1e`) is the same for every $T$.

# %%
p0 = GaussianMixture([0.3, 0.5, 0.2], [-2.0, 0.5, 2.5], [0.09, 0.25, 0.04])
ring = ring_mixture(8, radius=2.0, std=0.15)
chain50 = VPChain.fixed_total(50)
glue("alpha_bar_T", float(chain50.alpha_bar[-1]), display=False)

# %% [markdown]
# Both ratio targets are closed form for a mixture (`companion.ratio`). As a first check, the
# ratio $f_1/f_2$ of the posterior-mean terms equals the mixture's posterior mean computed by
# `companion.gmm`, and the ratio of the reverse-density terms equals the exact reverse kernel.

# %%
t_chk = 25
a_t = chain50.alpha(t_chk)
x_chk = torch.linspace(-4.0, 4.0, 401, dtype=torch.float64)
f1, f2 = R.posterior_mean_terms(p0, chain50, t_chk, x_chk)
post = p0.denoise((x_chk / a_t)[:, None], chain50.sigma_tilde(t_chk))[:, 0]
err_mean = float(((f1 / f2) - post).abs().max())
xp, xt = torch.meshgrid(x_chk[::8], x_chk[::8], indexing="ij")
g1, g2 = R.reverse_density_terms(p0, chain50, t_chk, xp.flatten(), xt.flatten())
kern = chain50.reverse_kernel(p0, t_chk).log_prob(xp.reshape(-1, 1), xt.reshape(-1, 1)).exp()
err_kern = float(((g1 / g2) - kern).abs().max() / kern.max())
ledger.record(
    "E1.0",
    kind="check",
    paper=PAPER,
    claim="The closed-form ratio terms are right: f1/f2 equals the mixture's posterior mean and the exact reverse kernel (largest relative difference, t = 25 of 50)",
    measured=max(err_mean, err_kern),
    expect=at_most(1e-10),
    section="sec-setting",
    rtol=0.0,
    atol=1e-10,
)

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
# The shift $s=1$ is the textbook choice; $s=h$ computes the same function with less
# cancellation in floating point. Both are exact in exact arithmetic. In this construction the
# largest weight is the last reciprocal's, of order $h^2$ with $h\approx 1/\delta$ the upper end
# of the square of $u+v$: it grows like $\delta^{-2}$ (our derivation; a property of this
# construction, not of SignReLU).

# %%
rows = []
for d in cfg["deltas"]:
    x = S.ratio_grid(d, 201)
    for shift in ["unit", "scaled"]:
        net = S.ratio_network(d, shift=shift)
        e64 = S.ratio_errors(net(x), x)
        e32 = S.ratio_errors(net.float()(x.float()), x)
        rows.append(
            {"delta": d, "shift": shift, **net.summary(), "sup64": e64["sup"], "sup32": e32["sup"]}
        )
gadgets = pd.DataFrame(rows)
assert gadgets["depth"].nunique() == 1 and gadgets["width"].nunique() == 1
gadgets[["delta", "shift", "depth", "width", "max_weight", "n_parameters", "sup64", "sup32"]]

# %% [markdown]
# The table reports, for every floor $\delta$, the division network's depth, width, largest
# weight, number of non-zero parameters, and its sup error relative to $\sup a/b = 1/\delta$ on a
# $201\times201$ grid (uniform in $a$, log-uniform in $b$), in float64 and float32. Depth
# ({glue:text}`div_depth`) and width ({glue:text}`div_width`) are the same for every $\delta$;
# only the weights change.
#
# **The ReLU rival in its best known form (ours).** A ReLU network cannot divide exactly, but a
# one-hidden-layer ReLU network of width $K$ represents exactly any continuous piecewise-linear
# function with $K$ pieces. For the reciprocal $1/b$ on $[\delta,1]$, the interpolant's sup error on
# a piece $[u,v]$ is $(u^{-1/2}-v^{-1/2})^2$ (attained at $\sqrt{uv}$), so knots uniform in $b^{-1/2}$
# equalise it; shifting the interpolant down by half the error gives sup error
# $(\delta^{-1/2}-1)^2/(2K^2)$, i.e. **relative** error $(1-\sqrt\delta)^2/(2K^2)<1/(2K^2)$ whatever
# $\delta$ (our derivation). We compare it with knots uniform in $\log b$ and uniform in $b$. This
# rival gets only the reciprocal, not the product that a division also needs, which favours it.

# %%
K_div = int(gadgets["width"].iloc[0])
relu_rows = []
for d in cfg["deltas"]:
    for pl in ["free", "geometric", "uniform"]:
        for K in sorted({*cfg["relu_widths"], K_div}):
            net = S.relu_reciprocal_network(d, K, placement=pl)
            kn = S.reciprocal_knots(d, K, placement=pl)
            # the sup of |error| is attained at the knots or at sqrt(u v) inside each piece
            b = torch.cat(
                [
                    kn,
                    (kn[:-1] * kn[1:]).sqrt(),
                    torch.logspace(math.log10(d), 0, 2001, dtype=torch.float64).clamp(d, 1.0),
                ]
            )
            err = float((net(b[:, None])[:, 0] - 1 / b).abs().max())
            relu_rows.append(
                {
                    "delta": d,
                    "placement": pl,
                    "K": K,
                    "rel_sup": err * d,
                    "closed_form": S.relu_reciprocal_sup_error(d, K, placement=pl) * d,
                    "max_weight": float(net[2].weight.abs().max()),
                }
            )
relu = pd.DataFrame(relu_rows)
# measured = closed form up to the float64 round-off of the K-term sum (weights up to 1/delta^2)
assert np.allclose(relu["rel_sup"], relu["closed_form"], rtol=1e-3), (
    "ReLU rival off its closed form"
)
relu_at_kdiv = relu[relu["K"] == K_div].pivot(index="delta", columns="placement", values="rel_sup")
relu_at_kdiv

# %% tags=["hide-input"]
Ms = np.logspace(1, 5, 9)
xe = torch.linspace(-50, 50, 200_001, dtype=torch.float64)[:, None]
emu = np.array([float((S.relu_emulation(M)(xe) - xe.clamp(min=0)).abs().max()) for M in Ms])
emu_closed = np.array([S.relu_emulation_sup_error(M, 50.0) for M in Ms])
emu_dev = float(np.max(np.abs(emu / emu_closed - 1)))
emu_slope = float(np.log(emu[-1] / emu[-2]) / np.log(Ms[-1] / Ms[-2]))

scaled = gadgets[gadgets["shift"] == "scaled"].set_index("delta")
unit = gadgets[gadgets["shift"] == "unit"].set_index("delta")
d1, d2 = sorted(cfg["deltas"])[:2]  # the two smallest floors
w_slope = float(
    np.log(scaled.loc[d1, "max_weight"] / scaled.loc[d2, "max_weight"]) / np.log(d1 / d2)
)
free = relu[relu["placement"] == "free"]
free_bound = float((free["rel_sup"] * 2 * free["K"] ** 2).max())

fig, ax = figure(3, height=2.8)
cols = method_colors(["SignReLU division", "free", "geometric", "uniform"])
for shift, ls in [("scaled", "-"), ("unit", "--")]:
    g = gadgets[gadgets["shift"] == shift]
    c = cols["SignReLU division"]
    ax[0].loglog(
        g["delta"],
        g["sup64"],
        ls,
        marker="o",
        color=c,
        label=f"SignReLU division, s={shift}, float64",
    )
    ax[0].loglog(
        g["delta"],
        g["sup32"],
        ls,
        marker="s",
        mfc="none",
        color=c,
        alpha=0.6,
        label="same, float32",
    )
for pl in ["free", "geometric", "uniform"]:
    ax[0].loglog(
        relu_at_kdiv.index,
        relu_at_kdiv[pl],
        ":",
        marker="^",
        color=cols[pl],
        label=f"ReLU 1/b, width {K_div}, {pl} knots",
    )
ax[0].set(
    xlabel=r"denominator floor $\delta$",
    ylabel=r"sup error / sup$(a/b)$",
    title="error at fixed width",
)
ax[0].invert_xaxis()
ax[0].legend(fontsize=5.5)
ax[1].loglog(
    scaled.index,
    scaled["max_weight"],
    "o-",
    color=cols["SignReLU division"],
    label="SignReLU division (s=h)",
)
fk = relu[(relu["placement"] == "free") & (relu["K"] == K_div)]
ax[1].loglog(
    fk["delta"],
    fk["max_weight"],
    "^:",
    color=cols["free"],
    label=f"ReLU 1/b, width {K_div}, free knots",
)
ax[1].loglog(scaled.index, scaled.index.to_numpy() ** -2.0, "k--", lw=1, label=r"$\delta^{-2}$")
ax[1].set(xlabel=r"$\delta$", ylabel="largest |weight|", title="weight size")
ax[1].invert_xaxis()
ax[1].legend(fontsize=6)
for pl in ["free", "geometric", "uniform"]:
    g = relu[(relu["placement"] == pl) & (relu["delta"] == d1)]
    ax[2].loglog(g["K"], g["rel_sup"], "^-", color=cols[pl], label=f"ReLU 1/b, {pl} knots")
kk = np.array(sorted(relu["K"].unique()), dtype=float)
ax[2].loglog(kk, 1 / (2 * kk**2), "k--", lw=1, label=r"$1/(2K^2)$")
ax[2].set(xlabel="width K", ylabel=r"sup error / sup$(1/b)$", title=rf"ReLU rival, $\delta$={d1:g}")
ax[2].legend(fontsize=6)
plt.show()

# %% [markdown]
# **Figure.** Left: relative sup error at fixed width against the denominator floor $\delta$
# (decreasing to the right): the SignReLU division network (solid: shift $s=h$; dashed: $s=1$;
# filled markers float64, open float32) and one-layer ReLU networks of the same width that
# approximate only the reciprocal, with three knot placements. Look at the two regimes: with
# free knots the ReLU error stays below $1/(2K^2)$ as $\delta\to0$, with uniform knots it climbs
# towards order one; the SignReLU network is exact up to round-off in float64, and in float32 its
# error grows as $\delta$ falls. Middle: the largest weight of both constructions against $\delta$, with
# $\delta^{-2}$ dashed: look at the common slope. Right: the ReLU rival's relative error
# against its width at the smallest $\delta$; free knots follow $1/(2K^2)$.

# %%
sup64_max = float(gadgets[gadgets["shift"] == "scaled"]["sup64"].max())
assert sup64_max < 1e-6, f"float64 division network is not exact to round-off: {sup64_max}"
for k, v in {
    "div_depth": int(gadgets["depth"].iloc[0]),
    "div_width": K_div,
    "div_sup64_max": sup64_max,
    "div_sup32_small": float(scaled.loc[d1, "sup32"]),
    "div_sup32_1e2": float(scaled.loc[1e-2, "sup32"]),
    "unit_over_scaled": float(unit.loc[d1, "sup64"] / scaled.loc[d1, "sup64"]),
    "d_small": d1,
    "weight_slope": w_slope,
    "div_wmax": float(scaled.loc[d1, "max_weight"]),
    "relu_wmax": float(fk.set_index("delta").loc[d1, "max_weight"]),
    "relu_w_slope": float(
        np.log(
            fk.set_index("delta").loc[d1, "max_weight"]
            / fk.set_index("delta").loc[d2, "max_weight"]
        )
        / np.log(d1 / d2)
    ),
    "relu_free_kdiv": float(relu_at_kdiv.loc[d1, "free"]),
    "relu_unif_kdiv": float(relu_at_kdiv.loc[d1, "uniform"]),
    "relu_geo_kdiv": float(relu_at_kdiv.loc[d1, "geometric"]),
    "K_match": int(math.ceil(math.sqrt(1 / (2 * sup64_max)))),
    "free_bound": free_bound,
    "emu_slope": emu_slope,
    "emu_dev": emu_dev,
}.items():
    glue(k, v, display=False)
ledger.record(
    "E1.1a",
    kind="derived",
    paper=PAPER,
    claim=f"Our constant-depth SignReLU network (depth {int(gadgets['depth'].iloc[0])}, width {K_div}) computes a/b on [0,1]x[delta,1] exactly up to float64 round-off for every delta down to {d1:g} (largest relative sup error; round-off times the delta^-2 weights predicts at most 1e-6)",
    measured=sup64_max,
    expect=at_most(1e-6),
    section="sec-division",
    rtol=1.0,
    atol=1e-12,
)
ledger.record(
    "E1.1b",
    kind="derived",
    paper=PAPER,
    claim="The best known ReLU form of 1/b (width-K free-knot piecewise-linear network, our derivation) has relative sup error below 1/(2K^2) for every delta: a vanishing denominator alone does not separate ReLU from SignReLU (largest relative error times 2K^2 over the delta and K sweep)",
    measured=free_bound,
    expect=at_most(1.0),
    section="sec-division",
    rtol=1e-6,
    atol=1e-9,
)
ledger.record(
    "E1.1c",
    kind="derived",
    paper=PAPER,
    claim=f"In our division network the largest weight grows like delta^-2 (our derivation; log-log slope between the two smallest floors, {d2:g} and {d1:g})",
    measured=w_slope,
    expect=close_to(-2.0, 0.05),
    section="sec-division",
    rtol=0.0,
    atol=0.01,
)
ledger.record(
    "E1.1d",
    kind="check",
    paper=PAPER,
    claim="rho(Mx)/M emulates ReLU with sup error aR/(1+MR) -> a/M on [-R, R] (largest relative deviation of the measured sup error from the closed form, M from 10 to 1e5)",
    measured=emu_dev,
    expect=at_most(1e-9),
    section="sec-division",
    rtol=0.0,
    atol=1e-9,
)

# %% [markdown]
# In float64 the division network's relative sup error stays below
# {glue:text}`div_sup64_max:.2g` for every $\delta$ (E1.1a). At the smallest floor
# $\delta=${glue:text}`d_small:.0e` the textbook shift $s=1$ is {glue:text}`unit_over_scaled:.2g`
# times less accurate than $s=h$. Its largest weight grows with local slope
# {glue:text}`weight_slope:.3f` in $\delta$ (E1.1c) and is {glue:text}`div_wmax:.2g` there. In
# float32 the same network has relative error {glue:text}`div_sup32_1e2:.2g` at $\delta=10^{-2}$ and
# {glue:text}`div_sup32_small:.2g` at $\delta=${glue:text}`d_small:.0e`: in exact arithmetic the
# division is stable, in low precision its large weights are a real cost.
#
# The fair rival puts this in proportion. At the same width {glue:text}`div_width`, the ReLU
# reciprocal with free knots has relative error {glue:text}`relu_free_kdiv:.2g` at
# $\delta=${glue:text}`d_small:.0e` (geometric knots {glue:text}`relu_geo_kdiv:.2g`, uniform knots
# {glue:text}`relu_unif_kdiv:.2g`), and over the whole sweep its relative error times $2K^2$ is at
# most {glue:text}`free_bound:.4f` (E1.1b). Its largest weight, {glue:text}`relu_wmax:.2g`, grows
# with local slope {glue:text}`relu_w_slope:.3f` in $\delta$ too: the weight size is set by the target's slope $\delta^{-2}$ at the floor,
# not by the activation. What SignReLU buys is **exactness at fixed width**: to match the division
# network's float64 error, the ReLU reciprocal alone would need about
# {glue:text}`K_match` units (from $1/(2K^2)$). Stability as $\delta\to0$ is not specific to
# SignReLU; it needs knots placed where the denominator is small.
#
# Finally, $\rho(Mx)/M$ emulates ReLU with sup error $aR/(1+MR)\to a/M$ on $[-R,R]$; the measured
# errors match this closed form to a relative {glue:text}`emu_dev:.1e` (E1.1d), with local slope
# {glue:text}`emu_slope:.3f` in $M$. This is one way an $M^{-1}$ factor, as in the summary's bound,
# can enter a SignReLU approximation error (our guess).

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
# included), not the approximation-theoretic rates of the paper: both claims of this section are
# our questions. This run trains {glue:text}`n_fit_seeds` seed(s) at {glue:text}`n_fit_widths`
# widths for {glue:text}`fit_steps_g` steps; the `ci` profile cannot decide them, the `full`
# profile (more seeds, widths and steps) is the run to read.


# %% tags=["hide-input"]
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


# %% tags=["hide-input"]
targets = list(fits["target"].unique())
labels = ["direct signrelu", "direct relu", "direct tanh", "modular signrelu"]
lcols = method_colors(labels)
fig, axes = figure(len(targets), height=2.8)
axes = np.atleast_1d(axes)
slopes = {}
for ax, tg in zip(axes, targets, strict=True):
    for lab in labels:
        g = fits[(fits["target"] == tg) & (fits["label"] == lab)]
        by_w = g.pivot_table(index="width", columns="seed", values=["n_params", "L2"])
        n_par, err = by_w["n_params"].mean(axis=1), by_w["L2"].mean(axis=1)
        bar = (
            stats.mean_t_halfwidth(by_w["L2"].to_numpy(), axis=1)[1]
            if by_w["L2"].shape[1] > 1
            else 0
        )
        ax.errorbar(
            n_par,
            err,
            yerr=bar,
            marker="o",
            color=lcols[lab],
            capsize=2,
            ls="--" if lab.startswith("modular") else "-",
        )
        f = stats.fit_loglog(n_par.to_numpy(), err.to_numpy())
        slopes[(tg, lab)] = f
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
pd.DataFrame(
    [
        {"target": tg, "method": lab, "slope": f.slope, "95% fit half-width": f.ci95, "points": f.n}
        for (tg, lab), f in slopes.items()
    ]
)

# %% [markdown]
# **Figure.** $L^2(\Omega)$ error (uniform weight; mean over seeds, with 95% t half-widths where
# there are at least two seeds) against parameter count, for direct fits with three activations
# and for the modular SignReLU fit (dashed), on each ratio target. Legends give the fitted
# log-log slopes; the table lists their 95% fit intervals and the number of points. Look at the
# modular curve: it counts the parameters of both networks and the division network, and it
# carries the error of the two density fits divided by a small $f_2$.

# %%
tg0 = targets[0]
sr_fit = slopes[(tg0, "direct signrelu")]
last_w = max(cfg["fit_widths"])
low = fits[fits["width"] == last_w].pivot_table(
    index=["seed", "target"], columns="label", values="sup_low"
)
log_ratio = np.log10(low["modular signrelu"] / low["direct signrelu"]).groupby("seed").max()
lr_meas = stats.t_interval(log_ratio.to_numpy()) if len(log_ratio) > 1 else float(log_ratio.iloc[0])
glue("sr_slope", sr_fit.slope, display=False)
glue("sr_slope_ci", sr_fit.ci95, display=False)
glue("sr_slope_n", sr_fit.n, display=False)
glue("low_ratio_log10", float(log_ratio.mean()), display=False)
glue("low_ratio", float(10 ** log_ratio.mean()), display=False)
glue("n_fit_seeds", len(cfg["fit_seeds"]), display=False)
glue("n_fit_widths", len(cfg["fit_widths"]), display=False)
glue("fit_steps_g", cfg["fit_steps"], display=False)
ledger.record(
    "E1.2a",
    kind="question",
    paper=PAPER,
    claim=f"Does a directly trained SignReLU MLP improve with size on a DDPM ratio target at our training budget? ({tg0}; log-log slope of the L2 error against parameters, <= 0 means it improves)",
    measured=sr_fit.slope_interval,
    expect=at_most(0.0),
    section="sec-targets",
    rtol=0.0,
    atol=0.2,
)
ledger.record(
    "E1.2b",
    kind="question",
    paper=PAPER,
    claim="Where f2 is small, is the modular route (fitted f1, f2, then the exact division network) at least as accurate as a direct SignReLU fit? (log10 of the sup-error ratio modular/direct on f2 < 0.05 max f2, worst target, largest width; <= 0 means yes"
    + ("; one training seed, so no interval)" if len(log_ratio) == 1 else ")"),
    measured=lr_meas,
    expect=at_most(0.0),
    section="sec-targets",
    rtol=0.0,
    atol=0.5,
)

# %% [markdown]
# The direct SignReLU fit of the first target has an achieved $L^2$ slope of
# {glue:text}`sr_slope:.2f` ± {glue:text}`sr_slope_ci:.2f` against parameter count (95% fit interval
# over {glue:text}`sr_slope_n` widths, {glue:text}`n_fit_seeds` seed(s); row E1.2a). In the
# low-density region the modular route's sup error is about {glue:text}`low_ratio:.3g` times that of
# the direct SignReLU fit at the largest width (worst target; row E1.2b). The exact division
# network divides whatever it is given: to first order the error of $\hat f_1/\hat f_2$ is
# $(\Delta f_1 - (f_1/f_2)\,\Delta f_2)/f_2$, so absolute errors of the fitted densities are
# amplified by $1/f_2$ before the division network sees them. The paper's stability concerns the
# division step given $f_1, f_2$; fitting $f_1, f_2$ to small *relative* error where $f_2$ is small
# is a separate problem that this experiment does not solve.

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
chainK = VPChain.fixed_total(cfg["T_kl"])
y64 = p0.sample(64, gen)
p_hat64 = R.kde_mixture(y64, R.kde_bandwidth(64))
pk64 = R.kernel_ratio_path_kl(p0, p_hat64, chainK)
check_t = [1, chainK.T // 4, chainK.T // 2]
quad = [
    mixture_step_kl(
        chainK,
        p0,
        t,
        mixture_log_kernel(chainK.reverse_kernel(p_hat64, t)),
        cfg["quad_points"],
        cfg["quad_points"],
    )
    for t in check_t
]
tele_err = max(
    abs(q.value - float(pk64.steps[t - 1])) / max(q.value, 1e-300)
    for q, t in zip(quad, check_t, strict=True)
)
quad_rel_err = max(q.error / q.value for q in quad)
assert pk64.output <= pk64.total + 1e-9, "output KL exceeds path KL"
glue("tele_err", tele_err, display=False)
glue("quad_rel_err", quad_rel_err, display=False)
ledger.record(
    "E1.3b",
    kind="check",
    paper=PAPER,
    claim="Per-step kernel KLs from our telescoping identity equal independent 2-D quadratures of the per-step KL (largest relative difference at three steps)",
    measured=tele_err,
    expect=at_most(1e-4),
    section="sec-plugin",
    rtol=10.0,
    atol=1e-6,
)
pd.DataFrame(
    {
        "t": check_t,
        "2-D quadrature": [q.value for q in quad],
        "quadrature error (grid halved)": [q.error for q in quad],
        "telescoped marginal KLs": [float(pk64.steps[t - 1]) for t in check_t],
    }
)

# %% [markdown]
# The two computations agree to a relative difference of {glue:text}`tele_err:.1e`, within the
# quadrature's own error estimate (change when both grids are halved; at most a relative
# {glue:text}`quad_rel_err:.1e`). Now the sweep over $n$, with {glue:text}`n_reps_g`
# independent samples per $n$.

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
n_fit = stats.fit_loglog(kl["n"].to_numpy(dtype=float), kl["ratio output"].to_numpy())
glue("n_slope", n_fit.slope, display=False)
glue("n_slope_ci", n_fit.ci95, display=False)
glue("n_slope_pts", n_fit.n, display=False)
kl.groupby("n").mean().drop(columns="rep")

# %% tags=["hide-input"]
T_rows = []
n_T = 256
y_T = p0.sample(n_T, gen)
ph_T = R.kde_mixture(y_T, R.kde_bandwidth(n_T))
q_fine, q_coarse = cfg["quad_points"], cfg["quad_points"] // 2
for T in cfg["Ts"]:
    ch = VPChain.fixed_total(T)
    pk = R.kernel_ratio_path_kl(p0, ph_T, ch, per_step=False)
    pq = R.kernel_ratio_path_kl_quadrature(p0, ph_T, ch, q_fine, q_fine)
    pq_c = R.kernel_ratio_path_kl_quadrature(p0, ph_T, ch, q_coarse, q_coarse)
    gk = R.gaussian_kernel_path_kl(p0, ph_T.denoise, ch, q_fine, q_fine, 1500)
    gx = R.gaussian_kernel_path_kl(p0, p0.denoise, ch, q_fine, q_fine, 1500)
    T_rows.append(
        {
            "T": T,
            "ratio path": pq.value,
            "ratio path, coarse grid": pq_c.value,
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
kl_n = kl.groupby("n")
for key in ["ratio path", "ratio output", "gaussian path", "gaussian output"]:
    vals = {n: g[key].dropna().to_numpy() for n, g in kl_n}
    vals = {n: v for n, v in vals.items() if len(v) > 0}
    m = np.array([v.mean() for v in vals.values()])
    bar = np.array([stats.mean_t_halfwidth(v)[1] if len(v) > 1 else 0.0 for v in vals.values()])
    ax[0].errorbar(
        list(vals),
        m,
        yerr=bar,
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
for key in [k for k in Tdf.columns if "identity" not in k and "coarse" not in k]:
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
# size (mean over replicates with 95% t half-widths), with the fitted slope of the ratio
# estimator's output KL. Right: the same quantities against $T$ at fixed total noise for one
# sample of size 256; here the ratio path KL is summed from per-step 2-D quadratures, without the
# identity. Pale lines use the exact posterior mean, so they show the pure discretisation error of
# Gaussian kernels. Look at the flat line of the exact-ratio path KL against the falling
# Gaussian-kernel path KL.

# %%
spread = float(Tdf["ratio path"].max() / Tdf["ratio path"].min() - 1)
spread_c = float(Tdf["ratio path, coarse grid"].max() / Tdf["ratio path, coarse grid"].min() - 1)
spread_iv = stats.refinement(spread_c, spread, note=f"{q_coarse} and {q_fine} nodes per axis")
assert spread < spread_c, "the T spread does not shrink under grid refinement: not quadrature error"
id_gap = float(((Tdf["ratio path"] - Tdf["ratio path (identity)"]).abs() / Tdf["ratio path"]).max())
g_fit = stats.fit_loglog(
    Tdf.index.to_numpy(dtype=float), Tdf["gaussian path, exact mean"].to_numpy()
)
growth = {"log T": math.log(max(cfg["Ts"])) / math.log(min(cfg["Ts"])) - 1}
for k, v in {
    "ratio_T_spread": spread,
    "ratio_T_spread_c": spread_c,
    "ratio_T_spread_err": spread_iv.half_width,
    "ratio_T_id_gap": id_gap,
    "logT_spread": growth["log T"],
    "g_T_slope": g_fit.slope,
    "g_T_slope_ci": g_fit.ci95,
    "g_T_step_slope": g_fit.slope - 1,
    "q_fine": q_fine,
    "q_coarse": q_coarse,
}.items():
    glue(k, v, display=False)
ledger.record(
    "E1.3a",
    kind="derived",
    paper=PAPER,
    claim="The output KL of the kernel plug-in ratio estimator (ours, h = 0.5 n^-1/5) decreases polynomially in the sample size n (log-log slope over all replicates; the KDE's integrated squared error falls like n^-4/5)",
    measured=n_fit.slope_interval,
    expect=at_most(0.0),
    section="sec-plugin",
    rtol=0.0,
    atol=0.15,
)
ledger.record(
    "E1.3c",
    kind="derived",
    paper=PAPER,
    claim=f"The path KL of the exact kernel-ratio estimator does not depend on T at fixed total noise (our telescoping identity), although the summary's bound carries a factor T: relative spread over T in {cfg['Ts']} of per-step 2-D quadratures (growth like log T alone would give {growth['log T']:.2f})",
    measured=spread_iv,
    expect=at_most(0.1),
    section="sec-plugin",
    rtol=0.0,
    atol=0.05,
)
ledger.record(
    "E1.3d",
    kind="question",
    paper=PAPER,
    claim="Is the factor T of the bound loose for the practical DDPM too: does the path KL of Gaussian reverse kernels with the exact posterior mean fall as T grows at fixed total noise? (log-log slope in T)",
    measured=g_fit.slope_interval,
    expect=at_most(0.0),
    section="sec-plugin",
    rtol=0.0,
    atol=0.1,
)

# %% [markdown]
# The output KL of the kernel-ratio estimator has slope {glue:text}`n_slope:.2f` ±
# {glue:text}`n_slope_ci:.2f` in $n$ (95% fit interval over {glue:text}`n_slope_pts` replicate
# values; E1.3a), against $-4/5$ for the integrated squared error of a KDE with this bandwidth.
# To second order KL weights the squared error by $1/(2p_0)$, which is large in the tails; whether
# that explains the difference we have not measured. This is the achieved slope for our mixture
# and bandwidth constant, not the paper's rate, which we could not read.
#
# Over the $T$ sweep the exact-ratio path KL, summed from per-step 2-D quadratures, changes by a
# relative {glue:text}`ratio_T_spread:.1e` on {glue:text}`q_fine` nodes per axis and by
# {glue:text}`ratio_T_spread_c:.1e` on {glue:text}`q_coarse`: the spread shrinks as the grid is
# refined, so it is quadrature error, and it stays far below the {glue:text}`logT_spread:.2f` that
# growth like $\log T$ alone would give (E1.3c). The quadrature also matches the identity to a
# relative {glue:text}`ratio_T_id_gap:.1e` at every $T$. For this estimator the error is decided
# by $\hat p_0$ alone, and a factor $T$ in an upper bound is loose, not wrong. For Gaussian reverse
# kernels with the exact mean the path KL *falls* with $T$ (slope {glue:text}`g_T_slope:.2f` ±
# {glue:text}`g_T_slope_ci:.2f`, E1.3d), so the average per-step KL falls like $T$ to the power
# {glue:text}`g_T_step_slope:.2f`, faster than $1/T$. Neither estimator grows with $T$;
# an upper bound linear in $T$ is not contradicted, only not tight here.

# %% [markdown]
# (sec-trained)=
# ## E1.4 Trained DDPMs: SignReLU vs ReLU vs SiLU
#
# The paper makes no empirical claim here, so this is our question. We train $\varepsilon$-prediction
# MLPs (3 hidden layers) with the same width, step budget, data and seeds, differing only in the
# activation. Training uses the DDPM "simple" loss ($t$ uniform on $1..T$, $T=50$). We measure the
# exact output KL of the 1-D DDPM sampler (grid propagation of its Gaussian kernels) on every
# seed, and sliced $W_2$ and MMD on the 2-D ring for the first seed(s) only. The comparison is
# paired (same seeds and data for every activation). The budget is short and the networks are
# small, so the answer holds for this budget only.

# %% tags=["hide-input"]
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
            if dim == 2 and s not in cfg["ring_seeds"]:
                continue
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
                kl_ = kl_divergence(lambda z: p0.prob(z[:, None]), out, xq)
                row["KL(p0||output)"] = kl_.value
                dens[(act, s)] = out(xq)
            else:
                gs = torch.Generator().manual_seed(s)
                xs = R.sample_ddpm_chain(model, chain50, cfg["n_eval_2d"], 2, gs)
                row["sliced W2"] = sliced_w2(xs, ring_ref, generator=gs)
                row["MMD^2"] = mmd(xs, ring_ref)
            tr_rows.append(row)
trained = pd.DataFrame(tr_rows)
tsum = trained.groupby(["data", "activation"]).agg(["mean", "count"]).drop(columns=["seed"])
tsum

# %% tags=["hide-input"]
fig, ax = figure(2, height=2.8)
ptrue = p0.prob(xq[:, None])
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
ax[0].semilogy(xq, ptrue, "k", lw=1, label="true $p_0$")
ax[0].set(xlabel="x", ylabel="density", ylim=(1e-6, 2), title="output densities (seed mean)")
ax[0].legend(fontsize=6)
ax[1].set(xlabel="x", ylabel=r"$p_0\log(p_0/\hat p)$", title="where the KL comes from")
ax[1].legend(fontsize=6)
plt.show()

# %% [markdown]
# **Figure.** Left: exact output densities of the trained 1-D DDPMs (mean over seeds) on a log
# scale, against the true mixture. Right: the KL integrand $p_0\log(p_0/\hat p)$ of the seed-mean
# density; its integral is the output KL. The integrand is positive where the model puts too little
# mass and negative where it puts too much. Look at which regions carry the KL and whether the
# activations differ there.

# %%
kl_by = trained[trained["data"] == "1-D mixture"].pivot(
    index="seed", columns="activation", values="KL(p0||output)"
)
d_relu = stats.paired_t(kl_by["relu"], kl_by["signrelu"])
d_silu = stats.paired_t(kl_by["silu"], kl_by["signrelu"])
for k, v in {
    "kl_signrelu": float(kl_by["signrelu"].mean()),
    "kl_relu": float(kl_by["relu"].mean()),
    "kl_silu": float(kl_by["silu"].mean()),
    "kl_diff": d_relu.value,
    "kl_diff_hw": d_relu.half_width,
    "kl_diff_silu": d_silu.value,
    "kl_diff_silu_hw": d_silu.half_width,
    "n_train_seeds": len(cfg["train_seeds"]),
}.items():
    glue(k, v, display=False)
ledger.record(
    "E1.4",
    kind="question",
    paper=PAPER,
    claim=f"Is a SignReLU eps-network at least as good a DDPM denoiser as ReLU at our budget (width {cfg['train_width']}, {cfg['train_steps']} steps)? (paired difference KL_relu - KL_signrelu of the exact 1-D output KL)",
    measured=d_relu,
    expect=at_least(0.0),
    section="sec-trained",
    rtol=0.0,
    atol=0.05,
)

# %% [markdown]
# Mean output KL over {glue:text}`n_train_seeds` seeds: SignReLU {glue:text}`kl_signrelu:.3g`, ReLU
# {glue:text}`kl_relu:.3g`, SiLU {glue:text}`kl_silu:.3g` nats. The paired difference ReLU −
# SignReLU is {glue:text}`kl_diff:.2g` ± {glue:text}`kl_diff_hw:.2g` and SiLU − SignReLU is
# {glue:text}`kl_diff_silu:.2g` ± {glue:text}`kl_diff_silu_hw:.2g` (95% paired t-intervals; a
# negative difference means SignReLU is worse). The table above also lists the 2-D ring metrics.
# These numbers hold for one small architecture and one training budget. The paper's argument is
# about what SignReLU networks *can* represent, not about what training finds, so a trained
# comparison neither supports nor refutes it.

# %% [markdown]
# (sr-coverage)=
# ## What the paper claims, and what is tested here
#
# Every statement of the paper we know of (abstract and third-party summary), with the rows of the
# verdict table that bear on it, or why nothing here tests it. None of the rows is of kind
# `paper`: without the theorem statements, what we test are our constructions and questions
# around them.

# %%
ledger.coverage(
    [
        {
            "statement": "In conditional generative modelling, diffusion models in particular, the target is a ratio f1/f2 of kernel-induced marginal densities",
            "source": "abstract",
            "ids": ["E1.0"],
        },
        {
            "statement": "Deep SignReLU networks approximate such ratio functionals; the proof exploits the activation's piecewise structure",
            "source": "abstract",
            "ids": ["E1.1a", "E1.1c", "E1.2a"],
        },
        {
            "statement": "Stability near vanishing denominators",
            "source": "summary: 'maintaining stability near vanishing denominators'",
            "ids": ["E1.1a", "E1.1b", "E1.2b"],
        },
        {
            "statement": "L^p(Omega) approximation bounds and convergence rates under standard regularity",
            "source": "abstract",
            "reason": "the theorem (function class, rate, constants) is not available to us; a training-free test with explicit hinge approximants of f1, f2 is not done yet",
        },
        {
            "statement": "Depth 7, width O(n+9), parameter norm M, approximation error O(M^-1 n^(-1/2-3d/2))",
            "source": "summary",
            "reason": "exponents that improve with d look garbled; E1.1d only shows where an M^-1 factor can come from",
        },
        {
            "statement": "A SignReLU-based estimator of the DDPM reverse process; excess KL between generated and true data laws splits into approximation and estimation errors",
            "source": "abstract",
            "reason": "the estimator is not available; we measure a kernel plug-in estimator without a network (E1.3) and ask a question about trained SignReLU denoisers (E1.4); the decomposition itself is not measured",
        },
        {
            "statement": "Finite-sample guarantees: the excess KL risk falls with the sample size",
            "source": "abstract",
            "ids": ["E1.3a"],
        },
        {
            "statement": "Excess KL bounded by O(T(n^(-1-3d/2) + sqrt(log(1/delta)) n^(-2-3d/2))), linear in the number of steps T",
            "source": "summary",
            "ids": ["E1.3b", "E1.3c", "E1.3d"],
        },
        {
            "statement": "Near-minimax optimal rates for Hölder-class densities",
            "source": "summary",
            "reason": "needs the theorem's rate and a matching lower bound, neither available",
        },
    ],
    section="sr-coverage",
)

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
# * **The approximation theorem without training.** Explicit SignReLU approximants of $f_1$ and
#   $f_2$ with $n$ hinges, their $L^p$ error against $n$, $M$ and $\inf f_2$, and the ReLU
#   interpolant of the same size beside them, are not built yet. E1.1b compares the two
#   activations on the reciprocal only.
# * **Which $f_1/f_2$ the theorems use.** We treat both the posterior mean and the reverse
#   conditional density. The paper's function class and its lower bound on $f_2$ are unknown to
#   us; our floor $\delta$ is half the smallest $f_2$ on $\Omega$.
# * **The excess-risk definition.** We report path KL (terminal + sum of per-step KLs) and output
#   KL. If the paper's "excess KL" is a per-step quantity summed over $T$ steps, the linear
#   factor $T$ is built in. Our finding is only that the total does not grow with $T$ for these
#   estimators; splitting it into terminal, discretisation and estimation parts over a $T\times n$
#   grid is not done.
# * **Approximation versus optimisation.** E1.2 and E1.4 train networks, so their errors include
#   optimisation error, and the slopes are achieved, not approximation-theoretic, rates.
# * **Dimension.** Everything quantitative is 1-D (exact quadrature); the 2-D ring is only
#   compared by sample metrics.
