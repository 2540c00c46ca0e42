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
size_deltas = None  # floors at which the ReLU division is sized (E1.1b)
cond_deltas = None  # floors of the conditioning test (E1.6)
apx_ns = None  # hinges per function in the training-free approximant (E1.5)
apx_Ms = None
apx_ks = None  # half-widths of Omega in component sds (inf f2 sweep)
apx_n_big = None
apx_M_big = None
apx_M_mid = None
apx_grid_ns = None  # (n, M) grid across the crossover of the two error terms (E1.5e)
apx_grid_Ms = None
fit_widths = None  # widths for the DDPM ratio targets (E1.2)
fit_seeds = None
fit_steps = None
fit_times = None  # steps t at which the posterior mean is fitted
ns = None  # sample sizes of the plug-in estimator (E1.3)
n_reps = None
T_kl = None  # number of DDPM steps in the n sweep
Ts = None  # T sweep at fixed total noise
dec_Ts = None  # T sweep of the path-KL decomposition (E1.3e-g)
dec_ns = None  # sample sizes of the estimation part
dec_rep_n = None  # E1.3f: sample size with independent samples, and their number
dec_reps = None
hinge_K = None  # knots of the fixed-size reverse-density approximant (E1.3g)
gauss_ns = None  # sample sizes at which the Gaussian-kernel DDPM is also evaluated
quad_points = None  # 2-D quadrature nodes per axis for per-step KLs
train_budgets = None  # E1.4: Adam steps (the smaller ones are checkpoints of one run)
train_widths = None
train_acts = None
train_seeds = None
ring_seeds = None  # seeds also trained on the 2-D ring (sample metrics only)
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
from scipy.optimize import least_squares
from scipy.signal import find_peaks

from companion import ratio as R
from companion import signrelu as S
from companion import stats
from companion.chains import VPChain, mixture_log_kernel, mixture_step_kl
from companion.gmm import GaussianMixture, ring_mixture
from companion.grid import kl_divergence
from companion.ledger import Ledger, at_least, at_most, close_to, in_range
from companion.metrics import mmd, sliced_w2
from companion.nets import MLPDenoiser
from companion.profiles import get_device, resolve, seed_everything
from companion.style import figure, method_colors, use_style
from companion.training import train

cfg = resolve(
    profile,
    ci=dict(
        deltas=[1e-1, 1e-2, 1e-3, 1e-4],
        size_deltas=[1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4],
        cond_deltas=[1e-1, 3e-2, 1e-2, 3e-3, 1e-3],
        apx_ns=[8, 16, 32, 64, 128, 256],
        apx_Ms=[1e5, 1e6, 3e6, 1e7, 1e8],
        apx_ks=[3.0, 3.5, 4.0, 4.5, 5.0],
        apx_n_big=512,
        apx_M_big=1e9,
        apx_M_mid=1e8,
        apx_grid_ns=[16, 32, 64, 128, 256, 512],
        apx_grid_Ms=[1e3, 1e4, 1e5, 1e6, 1e7, 1e8],
        fit_widths=[8, 16, 32],
        fit_seeds=[0],
        fit_steps=300,
        fit_times=[12],
        ns=[32, 64, 128, 256, 512, 1024],
        n_reps=4,
        T_kl=20,
        Ts=[5, 10, 20],
        dec_Ts=[5, 10, 20, 40, 80],
        dec_ns=[64, 256],
        dec_rep_n=64,
        dec_reps=5,
        hinge_K=129,
        gauss_ns=[128],
        quad_points=100,
        train_budgets=[200, 400],
        train_widths=[16, 32],
        train_acts=["signrelu", "relu"],
        train_seeds=[0, 1, 2, 3, 4],
        ring_seeds=[],
        n_train=2000,
        n_eval_2d=2000,
    ),
    full=dict(
        deltas=[1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4],
        size_deltas=[1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5],
        cond_deltas=[1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4],
        apx_ns=[8, 16, 32, 64, 128, 256, 512, 1024],
        apx_Ms=[1e5, 1e6, 3e6, 1e7, 1e8],
        apx_ks=[3.0, 3.5, 4.0, 4.5, 5.0, 5.5],
        apx_n_big=2048,
        apx_M_big=1e10,
        apx_M_mid=1e9,
        apx_grid_ns=[16, 32, 64, 128, 256, 512, 1024],
        apx_grid_Ms=[1e3, 1e4, 1e5, 1e6, 1e7, 1e8],
        fit_widths=[8, 16, 32, 64, 128],  # width 256 alone took 2/3 of the chapter
        fit_seeds=[0, 1, 2, 3, 4],
        fit_steps=1000,  # E1.2 alone was estimated at 22 min with 2000 steps
        fit_times=[12],
        ns=[32, 64, 128, 256, 512, 1024, 2048, 4096],
        n_reps=6,
        T_kl=50,
        Ts=[5, 10, 20, 50, 100],
        dec_Ts=[5, 10, 20, 50, 100, 200],
        dec_ns=[64, 256, 1024],
        dec_rep_n=256,
        dec_reps=6,
        hinge_K=129,
        gauss_ns=[64, 512, 2048],
        quad_points=160,
        train_budgets=[1500, 3000],
        train_widths=[64, 128],
        train_acts=["signrelu", "relu"],  # the question is SignReLU against ReLU
        train_seeds=list(range(10)),
        ring_seeds=[0, 1, 2],
        n_train=20000,
        n_eval_2d=10000,
    ),
    deltas=deltas,
    size_deltas=size_deltas,
    cond_deltas=cond_deltas,
    apx_ns=apx_ns,
    apx_Ms=apx_Ms,
    apx_ks=apx_ks,
    apx_n_big=apx_n_big,
    apx_M_big=apx_M_big,
    apx_M_mid=apx_M_mid,
    apx_grid_ns=apx_grid_ns,
    apx_grid_Ms=apx_grid_Ms,
    fit_widths=fit_widths,
    fit_seeds=fit_seeds,
    fit_steps=fit_steps,
    fit_times=fit_times,
    ns=ns,
    n_reps=n_reps,
    T_kl=T_kl,
    Ts=Ts,
    dec_Ts=dec_Ts,
    dec_ns=dec_ns,
    dec_rep_n=dec_rep_n,
    dec_reps=dec_reps,
    hinge_K=hinge_K,
    gauss_ns=gauss_ns,
    quad_points=quad_points,
    train_budgets=train_budgets,
    train_widths=train_widths,
    train_acts=train_acts,
    train_seeds=train_seeds,
    ring_seeds=ring_seeds,
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

# %% tags=["hide-input"]
# Where the ci sizes cannot decide a question, the ci text quotes the recorded paper-scale
# reference of this chapter (results/full/01_signrelu.json), which can predate this version.
import json
from pathlib import Path


def _full_reference():
    # the repository of the companion package (editable install), else the working directory's
    for root in [Path(S.__file__).resolve().parents[1], Path.cwd(), *Path.cwd().parents]:
        f = root / "results" / "full" / "01_signrelu.json"
        if f.is_file():
            return {c["id"]: c for c in json.loads(f.read_text())["claims"]}
    return {}


FULL_REF = {} if profile == "full" else _full_reference()


def full_says(cid):
    """What the recorded paper-scale reference measured for claim `cid`, as a phrase."""
    if profile == "full":
        return f"{cid}: this run is the paper-scale profile"
    c = FULL_REF.get(cid)
    if c is None:
        return f"no full-profile reference of {cid} is recorded"
    iv = c.get("interval")
    ivs = f" [{iv[0]:.3f}, {iv[1]:.3f}]" if iv else ""
    return f"the recorded full-profile reference (results/full/) measures {cid} = {c['measured']:.3f}{ivs}, '{c['verdict']}'"


# %% [markdown]
# ## Where each statement comes from
#
# We could not read the paper's theorems. The abstract is public (arXiv abstract page of
# 2601.21242); it opens: "Motivated by challenges in conditional generative modeling, where the
# target conditional density takes the form of a ratio f1 over f2, this paper develops a
# theoretical framework for approximating such ratio-type functionals. Here, f1 and f2 are
# kernel-based marginal densities that capture structured interactions, a setting central to
# diffusion-based generative models." The "abstract" rows below paraphrase its other sentences;
# the "summary" rows quote the third-party summary. Every statement in this chapter is one of four kinds, and the verdict
# table says which (column `kind`): a statement **of the paper**
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
# | excess KL "O(T(n^{-1-3d/2} + sqrt(log(1/δ)n^{-2-3d/2})))", linear in the number of steps $T$, with confidence parameter $\delta$ | third-party summary |
# | a modular framework: numerator and denominator approximated "separately using kernel methods", then a SignReLU network for the ratio | third-party summary |
# | "SignReLU's piecewise constant structure" enables stable approximation near vanishing denominators (SignReLU is not piecewise constant: its negative branch is rational) | third-party summary |
# | near-minimax optimal rates for Hölder-class densities | third-party summary |
# | the division networks, the hinge approximants and the training-free ratio approximant, the ReLU rivals, the closed-form ratio targets, the kernel plug-in estimator and its telescoping KL identity, all trained comparisons | ours |
#
# The summary's exponents improve with the dimension $d$, the opposite of the usual curse of
# dimensionality; for Gaussian-smoothed, analytic $f_1,f_2$ that is not absurd, but we cannot
# check it; we test only the shape of the approximation
# bound at $d=1$ ({ref}`sec-approx`). We found no experiments in the abstract or the summary:
# every number below is ours.
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
# closed-form $f_1$ and $f_2$ of the posterior mean equal a direct quadrature of the kernel
# integrals over $y$, and the ratio of the reverse-density terms equals the exact reverse kernel
# computed by `companion.chains` (relative differences {glue:text}`e10_quad:.1e` and
# {glue:text}`e10_kern:.1e`; E1.0).

# %%
t_chk = 25
x_chk = torch.linspace(-4.0, 4.0, 401, dtype=torch.float64)
f1, f2 = R.posterior_mean_terms(p0, chain50, t_chk, x_chk)
# independent f1 and f2: trapezoid quadrature of y K_t(x, y) p0(y) and K_t(x, y) p0(y) over y
ab = float(chain50.alpha_bar[t_chk])


def kernel_integrals(n_y):
    y = torch.linspace(-6.0, 6.0, n_y, dtype=torch.float64)
    K = torch.exp(-0.5 * (x_chk[:, None] - math.sqrt(ab) * y) ** 2 / (1 - ab)) / math.sqrt(
        2 * math.pi * (1 - ab)
    )
    w = K * p0.prob(y[:, None])[None, :]
    return torch.trapezoid(y * w, y, dim=1), torch.trapezoid(w, y, dim=1)


q1, q2 = kernel_integrals(24001)
err_f = max(float((q1 - f1).abs().max() / f1.abs().max()), float((q2 - f2).abs().max() / f2.max()))
xp, xt = torch.meshgrid(x_chk[::8], x_chk[::8], indexing="ij")
g1, g2 = R.reverse_density_terms(p0, chain50, t_chk, xp.flatten(), xt.flatten())
kern = chain50.reverse_kernel(p0, t_chk).log_prob(xp.reshape(-1, 1), xt.reshape(-1, 1)).exp()
err_kern = float(((g1 / g2) - kern).abs().max() / kern.max())
glue("e10_quad", err_f, display=False)
glue("e10_kern", err_kern, display=False)
ledger.record(
    "E1.0",
    kind="check",
    paper=PAPER,
    claim="The closed-form ratio terms are right: f1 and f2 of the posterior mean equal a trapezoid quadrature of y K_t p0 and K_t p0 over y (24001 nodes on [-6, 6]), and g1/g2 of the reverse density equals the exact reverse kernel of companion.chains (largest difference relative to the largest value, t = 25 of 50)",
    measured=max(err_f, err_kern),
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
# * **Ratio** on $[0,A]\times[\delta,B]$: $a/b=(a+1)\cdot v-v$ with $v=1/b$, a reciprocal followed
#   by the product, depth 3, width 10 ("raw"). The **normalised** variant multiplies by
#   $v=\delta/b\in[\delta,1]$ instead and divides by $\delta$ in the last affine map, so every
#   square lives on an interval of length $O(1)$.
#
# The shift $s=1$ is the textbook choice; $s=h$ computes the same function with less
# cancellation in floating point. All variants are exact in exact arithmetic. Their weights are
# a property of the construction, not of SignReLU: in the raw network the largest weight is the
# last reciprocal's inside the square of $u+v$, whose upper end is $h\approx1/\delta$, and it
# equals $(2+1/\delta)^2$; in the normalised one it is the first reciprocal of the square of
# $v$ on $[\delta,1]$, equal to $9/\delta$ (our derivation, checked below).

# %%
rows = []
for d in cfg["deltas"]:
    x = S.ratio_grid(d, 201)
    xc = S.bounded_ratio_grid(d)  # {a <= b}: the ratio lies in [0, 1]
    for variant, shift, scale in [
        ("raw, s=1", "unit", "raw"),
        ("raw, s=h", "scaled", "raw"),
        ("normalised, s=h", "scaled", "normalised"),
    ]:
        net = S.ratio_network(d, shift=shift, scale=scale)
        tc = xc[:, 0] / xc[:, 1]
        rows.append(
            {
                "delta": d,
                "variant": variant,
                **net.summary(),
                "sup64": S.ratio_errors(net(x), x)["sup"],
                "abs64 on a<=b": float((net(xc)[:, 0] - tc).abs().max()),
                "abs32 on a<=b": float((net.float()(xc.float())[:, 0].double() - tc).abs().max()),
            }
        )
gadgets = pd.DataFrame(rows)
assert gadgets["depth"].nunique() == 1 and gadgets["width"].nunique() == 1
# the normalised network on {a <= b} over the finer delta sweep, against two round-off scales
eps64, eps32 = float(np.finfo(np.float64).eps), float(np.finfo(np.float32).eps)
stab_rows = []
for d in cfg["size_deltas"]:
    xc = S.bounded_ratio_grid(d)
    tc = xc[:, 0] / xc[:, 1]
    net = S.ratio_network(d, shift="scaled", scale="normalised")
    e64 = float((net(xc)[:, 0] - tc).abs().max())
    e32 = float((net.float()(xc.float())[:, 0].double() - tc).abs().max())
    stab_rows.append(
        {
            "delta": d,
            "abs64": e64,
            "abs32": e32,
            "abs64 / (eps 9/delta)": e64 / (eps64 * 9 / d),
            "abs32 / (eps 9/delta)": e32 / (eps32 * 9 / d),
            "abs64 / (eps 9/delta^2)": e64 / (eps64 * 9 / d**2),
            "abs32 / (eps 9/delta^2)": e32 / (eps32 * 9 / d**2),
        }
    )
stab = pd.DataFrame(stab_rows).set_index("delta")
gadgets[
    ["delta", "variant", "max_weight", "n_parameters", "sup64", "abs64 on a<=b", "abs32 on a<=b"]
]

# %% [markdown]
# The table reports, for every floor $\delta$, the division networks' largest weight, number of
# non-zero parameters, their sup error relative to $\sup a/b=1/\delta$ on the box
# $[0,1]\times[\delta,1]$ ($201\times201$ grid, uniform in $a$, log-uniform in $b$), and their sup
# **absolute** error on $\{0\le a\le b\}$, where the ratio lies in $[0,1]$, in float64 and float32.
# The second metric is the one that matters for DDPM targets, which are bounded ratios
# (a posterior mean of bounded data, a conditional density); normalising by $\sup a/b=1/\delta$
# would divide out the very quantity that grows as $\delta\to0$. Depth
# ({glue:text}`div_depth`) and width ({glue:text}`div_width`) are the same for every $\delta$.
#
# **ReLU rivals (ours).** A ReLU network cannot divide exactly. Our training-free ReLU division
# (`companion.signrelu.relu_ratio_network`) uses the best knots for the metric on $\{a\le Cb\}$:
# there $|a\,\hat r(b)-a/b|\le C\,|b\,\hat r(b)-1|$, so the reciprocal needs small **relative**
# error, which knots uniform in $\log b$ equalise; rescaled, $K$ pieces give relative error
# $\approx\log^2(1/\delta)/(8K^2)$. The product $a\cdot\delta\hat r(b)$ on $[0,1]^2$ is
# Yarotsky's deep ReLU product (three sawtooth squares, depth $m$, error
# $\le2\cdot4^{-m-1}$), divided by $\delta$ at the end. On $\{a\le b\}$ its error is at most
# $\log^2(1/\delta)/(8K^2)+2\cdot4^{-m-1}/\delta$, so for a fixed error $\varepsilon$ it needs
# $K\propto\log(1/\delta)/\sqrt\varepsilon$ and $m\approx\log_4(1/(\varepsilon\delta))$: a size
# that grows like $\log(1/\delta)$. The ratio's range $[0,1]$ on $\{a\le b\}$ is known, so the
# rival ends with one layer of two ReLUs that clips its output to $[0,1]$ (counted in its size).
# We compare it at the SignReLU network's parameter count, and we find its smallest size
# that reaches $\varepsilon=${glue:text}`eps_div` by **measured** error (for the two depths
# next to the bound's $m$, the smallest $K$ by bisection), for each $\delta$. This is our
# construction of the rival; we do not know that it is the best possible ReLU network.

# %%
n_div = int(gadgets["n_parameters"].iloc[0])
eps_div = 1e-2
relu_rows = []
for d in cfg["size_deltas"]:
    xc = S.bounded_ratio_grid(d)
    tc = xc[:, 0] / xc[:, 1]

    def abs_err(net, xc=xc, tc=tc):
        return float((net(xc)[:, 0] - tc).abs().max())

    # equal parameter count: every clipped (K, m) with at most n_div non-zero parameters
    eq = min(
        (abs_err(net), net.n_parameters, K, m)
        for m in (1, 2)
        for K in range(2, 13)
        if (net := S.relu_ratio_network(d, K, m, clip=1.0)).n_parameters <= n_div
    )
    # smallest clipped network with MEASURED error <= eps_div: for the two depths m next to
    # the bound's log4(2/(eps delta)), bisect K on a coarse grid, then confirm on the full grid
    xs = S.bounded_ratio_grid(d, 201, 11)

    def coarse_err(K, m, xs=xs, d=d):
        return abs_err(S.relu_ratio_network(d, K, m, clip=1.0), xs, xs[:, 0] / xs[:, 1])

    m_b = max(1, math.ceil(math.log(2 / (eps_div * d), 4)) - 1)
    best = None
    for m in (m_b, m_b + 1):
        lo_k, hi_k = 2, 64
        if coarse_err(hi_k, m) > eps_div:
            continue
        while lo_k < hi_k:
            mid = (lo_k + hi_k) // 2
            lo_k, hi_k = (lo_k, mid) if coarse_err(mid, m) <= eps_div else (mid + 1, hi_k)
        while abs_err(net := S.relu_ratio_network(d, lo_k, m, clip=1.0)) > eps_div:
            lo_k += 1  # the coarse grid missed the worst point: grow K until the full grid passes
        if best is None or net.n_parameters < best[0]:
            best = (net.n_parameters, lo_k, m, abs_err(net), net.max_weight)
    assert best is not None and best[3] <= eps_div, "no ReLU network reaches eps"
    relu_rows.append(
        {
            "delta": d,
            "equal-size error": eq[0],
            "equal-size params": eq[1],
            "equal-size (K, m)": (eq[2], eq[3]),
            f"params for error {eps_div:g}": best[0],
            "(K, m)": (best[1], best[2]),
            "its error": best[3],
            "its max weight": best[4],
        }
    )
relu = pd.DataFrame(relu_rows).set_index("delta")
relu

# %% tags=["hide-input"]
Ms = np.logspace(1, 5, 9)
xe = torch.linspace(-50, 50, 200_001, dtype=torch.float64)[:, None]
emu = np.array([float((S.relu_emulation(M)(xe) - xe.clamp(min=0)).abs().max()) for M in Ms])
emu_closed = np.array([S.relu_emulation_sup_error(M, 50.0) for M in Ms])
emu_dev = float(np.max(np.abs(emu / emu_closed - 1)))
emu_slope = float(np.log(emu[-1] / emu[-2]) / np.log(Ms[-1] / Ms[-2]))

by_var = {v: g.set_index("delta") for v, g in gadgets.groupby("variant")}
raw, nrm, unit = by_var["raw, s=h"], by_var["normalised, s=h"], by_var["raw, s=1"]
d1 = min(cfg["deltas"])
dd = np.array(sorted(cfg["deltas"]), dtype=float)
w_dev = max(
    float(np.max(np.abs(raw.loc[dd, "max_weight"] / (2 + 1 / dd) ** 2 - 1))),
    float(np.max(np.abs(nrm.loc[dd, "max_weight"] / (9 / dd) - 1))),
)

fig, ax = figure(3, height=2.8)
vcols = method_colors(["raw, s=h", "normalised, s=h", "ReLU"])
for v, g in [("raw, s=h", raw), ("normalised, s=h", nrm)]:
    ax[0].loglog(g.index, g["abs64 on a<=b"], "o-", color=vcols[v], label=f"SignReLU {v}, f64")
    ax[0].loglog(
        g.index, g["abs32 on a<=b"], "s--", mfc="none", color=vcols[v], label=f"SignReLU {v}, f32"
    )
ax[0].loglog(
    relu.index,
    relu["equal-size error"],
    "^:",
    color=vcols["ReLU"],
    label=f"ReLU clipped, ≤{n_div} params",
)
ax[0].set(
    xlabel=r"denominator floor $\delta$",
    ylabel=r"sup |error| on $a \leq b$",
    title="error at equal size",
)
ax[0].invert_xaxis()
ax[0].legend(fontsize=6, loc="lower left")
for v, g in [("raw, s=h", raw), ("normalised, s=h", nrm)]:
    ax[1].loglog(g.index, g["max_weight"], "o-", color=vcols[v], label=f"SignReLU {v}")
ax[1].loglog(
    relu.index,
    relu["its max weight"],
    "^:",
    color=vcols["ReLU"],
    label=f"ReLU, error ≤ {eps_div:g}",
)
ax[1].set(xlabel=r"$\delta$", ylabel="largest |weight|", title="weight size")
ax[1].invert_xaxis()
ax[1].legend(fontsize=6, loc="upper left")
ax[2].semilogx(
    relu.index, relu[f"params for error {eps_div:g}"], "^-", color=vcols["ReLU"], label="ReLU"
)
ax[2].axhline(n_div, color=vcols["normalised, s=h"], lw=1.2, label="SignReLU (float64)")
ax[2].set(
    xlabel=r"$\delta$", ylabel="non-zero parameters", title=f"size for error ≤ {eps_div:g} on a≤b"
)
ax[2].invert_xaxis()
ax[2].set_ylim(bottom=0)
ax[2].legend(fontsize=6)
plt.show()

# %% [markdown]
# **Figure.** Left: sup absolute error on $\{a\le b\}$ against the floor $\delta$ (decreasing to
# the right) for the raw and normalised SignReLU division networks (filled: float64, open:
# float32) and for the best clipped ReLU division of at most the same parameter count. Look at
# the float32 curves: even the normalised one reaches errors of order 1 and beyond on a target in
# $[0,1]$ as $\delta$ falls; the clipped ReLU rival at this size is no better than its clip.
# Middle: largest weight; the raw network's
# grows like $\delta^{-2}$, the normalised one's like $\delta^{-1}$, as does the ReLU rival's
# (its last affine map divides by $\delta$). Right: the parameters the ReLU rival needs for
# error {glue:text}`eps_div` on $\{a\le b\}$ (sized by measured error), against the constant size
# of the SignReLU network.

# %%
sup64_max = float(raw["sup64"].max())
assert sup64_max < 1e-6, f"float64 division network is not exact to round-off: {sup64_max}"
need = relu[f"params for error {eps_div:g}"]
# the floor below which float32 misses 1e-2: log-log interpolation between sweep points
tol32 = 1e-2
sd_ = stab.sort_index(ascending=False)
i32 = int(np.argmax(sd_["abs32"].to_numpy() > tol32))
assert sd_["abs32"].iloc[i32] > tol32 and i32 > 0, "float32 crossing outside the sweep"
(d_a, e_a), (d_b, e_b) = [(sd_.index[j], sd_["abs32"].iloc[j]) for j in (i32 - 1, i32)]


def _loglog_cross(d_a, e_a, d_b, e_b):
    return float(
        math.exp(
            math.log(d_a)
            + (math.log(tol32) - math.log(e_a))
            * (math.log(d_b) - math.log(d_a))
            / math.log(e_b / e_a)
        )
    )


d_star32_coarse = _loglog_cross(d_a, e_a, d_b, e_b)
# the straddling sweep points are a factor ~3 apart: refine the bracket with 9 floors between
# them (float32 error of the normalised network only) and interpolate between the finer pair
fine32 = []
for d in np.geomspace(d_a, d_b, 9):
    xc = S.bounded_ratio_grid(float(d))
    net = S.ratio_network(float(d), shift="scaled", scale="normalised")
    e32 = float((net.float()(xc.float())[:, 0].double() - xc[:, 0] / xc[:, 1]).abs().max())
    fine32.append((float(d), e32))
j32 = next(j for j, (_, e) in enumerate(fine32) if e > tol32)
assert j32 > 0, "float32 crossing outside the refined bracket"
d_star32 = _loglog_cross(*fine32[j32 - 1], *fine32[j32])
abs_slope64 = stats.fit_loglog(1 / stab.index.to_numpy(), stab["abs64"].to_numpy())
for k, v in {
    "div_depth": int(gadgets["depth"].iloc[0]),
    "div_width": int(gadgets["width"].iloc[0]),
    "n_div": n_div,
    "eps_div": eps_div,
    "div_sup64_max": sup64_max,
    "unit_over_scaled": float(unit.loc[d1, "sup64"] / raw.loc[d1, "sup64"]),
    "d_small": d1,
    "raw_abs64": float(raw.loc[d1, "abs64 on a<=b"]),
    "raw_abs32": float(raw.loc[d1, "abs32 on a<=b"]),
    "nrm_abs64": float(nrm.loc[d1, "abs64 on a<=b"]),
    "nrm_abs32": float(nrm.loc[d1, "abs32 on a<=b"]),
    "nrm_abs32_1e2": float(nrm.loc[1e-2, "abs32 on a<=b"]),
    "raw_wmax": float(raw.loc[d1, "max_weight"]),
    "nrm_wmax": float(nrm.loc[d1, "max_weight"]),
    "w_dev": w_dev,
    "relu_eq_small": float(relu.loc[d1, "equal-size error"]),
    "relu_eq_big": float(relu.loc[max(cfg["size_deltas"]), "equal-size error"]),
    "relu_need_small": int(need.loc[d1]),
    "relu_need_big": int(need.loc[max(cfg["size_deltas"])]),
    "relu_need_ratio": float(need.loc[d1] / need.loc[max(cfg["size_deltas"])]),
    "d_big": max(cfg["size_deltas"]),
    "emu_slope": emu_slope,
    "emu_dev": emu_dev,
    "d_star32": d_star32,
    "tol32": tol32,
    "stab64_c1_max": float(stab["abs64 / (eps 9/delta)"].max()),
    "stab64_c1_min": float(stab["abs64 / (eps 9/delta)"].min()),
    "stab32_c1_max": float(stab["abs32 / (eps 9/delta)"].max()),
    "stab64_c2_max": float(stab["abs64 / (eps 9/delta^2)"].max()),
    "stab32_c2_max": float(stab["abs32 / (eps 9/delta^2)"].max()),
    "stab_slope64": abs_slope64.slope,
    "stab_slope64_lo": abs_slope64.slope_interval.low,
    "stab_slope64_hi": abs_slope64.slope_interval.high,
    "nrm_abs64_min_d": float(stab["abs64"].iloc[-1]),
    "nrm_abs32_min_d": float(stab["abs32"].iloc[-1]),
    "d_min_size": float(min(cfg["size_deltas"])),
    "relu_m_small": int(relu.loc[d1, "(K, m)"][1]),
    "relu_K_small": int(relu.loc[d1, "(K, m)"][0]),
}.items():
    glue(k, v, display=False)
c_e11a = float(stab["abs64 / (eps 9/delta^2)"].max())
d_star32_pred = math.sqrt(c_e11a * float(torch.finfo(torch.float32).eps) * 9 / tol32)
glue("d_star32_pred", d_star32_pred, display=False)
ledger.record(
    "E1.1a",
    kind="derived",
    paper=PAPER,
    claim=f"Our normalised SignReLU division (shift s=h; depth {int(gadgets['depth'].iloc[0])}, width {int(gadgets['width'].iloc[0])}), exact in exact arithmetic, errs in float64 by at most eps64 * 9/delta^2 on {{a <= b}} (ratios in [0,1]) for delta from {max(cfg['size_deltas']):g} to {min(cfg['size_deltas']):g}: largest absolute error over that scale, one rounding amplified by the largest weight 9/delta and by the final division by delta (a post-hoc bound, written down after E1.1e failed; at most 1)",
    measured=float(stab["abs64 / (eps 9/delta^2)"].max()),
    expect=at_most(1.0),
    section="sec-division",
    rtol=0.25,
    atol=0.0,
)
ledger.record(
    "E1.1e",
    kind="derived",
    paper=PAPER,
    claim=f"The normalised network's absolute error on {{a <= b}} stays within c = 10 of eps * 9/delta (one rounding times its largest weight 9/delta), in float64 and float32, for delta from {max(cfg['size_deltas']):g} to {min(cfg['size_deltas']):g} (largest ratio error / (eps 9/delta) over both precisions and all delta; c = 10 fixed before the run)",
    measured=max(
        float(stab["abs64 / (eps 9/delta)"].max()), float(stab["abs32 / (eps 9/delta)"].max())
    ),
    expect=at_most(10.0),
    section="sec-division",
    rtol=1.0,
    atol=0.0,
)
ledger.record(
    "E1.1f",
    kind="derived",
    paper=PAPER,
    claim=f"In float32 the normalised network's absolute error on {{a <= b}}, a target in [0,1], exceeds {tol32:g} once the floor delta falls below delta* (log-log interpolation between the first two of 9 floors, geometric between the two sweep points that straddle {tol32:g}, that straddle it; {d_star32_coarse:.2g} from the sweep points alone), and delta* is within a factor 2 of the prediction sqrt(c eps32 9/{tol32:g}) = {d_star32_pred:.2g} from E1.1a's float64 constant c = {c_e11a:.3f} (measured delta* over predicted; band fixed from the prediction)",
    measured=d_star32 / d_star32_pred,
    expect=in_range(0.5, 2.0),
    section="sec-division",
    rtol=0.3,
    atol=0.0,
)
ledger.record(
    "E1.1b",
    kind="check",
    paper=PAPER,
    claim=f"A check of our own ReLU rival, not evidence of stability: on {{a <= b}} our deep ReLU division (geometric-knot reciprocal, Yarotsky product, output clipped to [0,1]), sized by its measured sup error <= {eps_div:g}, needs more parameters as delta falls, while the SignReLU division has a constant {n_div} non-zero parameters (parameters at delta = {d1:g} over those at delta = {max(cfg['size_deltas']):g}; our bound predicts growth like log(1/delta); at least 1.5)",
    measured=float(need.loc[d1] / need.loc[max(cfg["size_deltas"])]),
    expect=at_least(1.5),
    section="sec-division",
    rtol=0.0,
    atol=0.0,
)
ledger.record(
    "E1.1c",
    kind="check",
    paper=PAPER,
    claim="The largest weight of our division networks is a property of the construction: (2+1/delta)^2 for the raw network and 9/delta for the normalised one (largest relative deviation over the delta sweep)",
    measured=w_dev,
    expect=at_most(1e-9),
    section="sec-division",
    rtol=0.0,
    atol=1e-9,
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

stab

# %% [markdown]
# The table gives the normalised network's sup absolute error on $\{a\le b\}$ over the finer
# $\delta$ sweep, in float64 and float32, and its ratio to two round-off scales.
#
# On the whole box, the raw network's sup error relative to $1/\delta$ stays below
# {glue:text}`div_sup64_max:.2g` in float64 for every $\delta$ with the shift $s=h$; with
# $s=1$ it is {glue:text}`unit_over_scaled:.2g` times larger at $\delta=${glue:text}`d_small:.0e`.
# Relative to $1/\delta$ is the wrong scale for a bounded target, so the claims use the absolute
# error on $\{a\le b\}$. There, at $\delta=${glue:text}`d_small:.0e`, the raw network's error is
# {glue:text}`raw_abs64:.1e` in float64 and {glue:text}`raw_abs32:.1e` in float32; the normalised
# network's is {glue:text}`nrm_abs64:.1e` and {glue:text}`nrm_abs32:.1e`, on a target in $[0,1]$.
# The largest weights are {glue:text}`raw_wmax:.3g` (raw) and {glue:text}`nrm_wmax:.3g`
# (normalised), equal to $(2+1/\delta)^2$ and $9/\delta$ to a relative {glue:text}`w_dev:.0e`
# (E1.1c).
#
# The round-off does **not** follow one rounding times the largest weight, $\varepsilon\cdot9/\delta$:
# its ratio to that scale grows from {glue:text}`stab64_c1_min:.2g` to
# {glue:text}`stab64_c1_max:.3g` in float64 (up to {glue:text}`stab32_c1_max:.3g` in float32) as
# $\delta$ falls, so E1.1e fails. The float64 error grows with log-log slope
# {glue:text}`stab_slope64:.2f` (fit interval {glue:text}`stab_slope64_lo:.2f` to
# {glue:text}`stab_slope64_hi:.2f`) in $1/\delta$, slightly below $\delta^{-2}$: the weight $9/\delta$
# and the final division by $\delta$ compound. Against $\varepsilon\cdot9/\delta^2$ the ratio stays
# below {glue:text}`stab64_c2_max:.2g` (float64, E1.1a, a scale we wrote down after seeing E1.1e
# fail) and {glue:text}`stab32_c2_max:.2g` (float32). In float32 the error on a target in $[0,1]$
# passes {glue:text}`tol32:g` once $\delta$ falls below {glue:text}`d_star32:.1e`, against
# {glue:text}`d_star32_pred:.1e` predicted from E1.1a's float64 constant (E1.1f), and is
# {glue:text}`nrm_abs32_min_d:.3g` at $\delta=${glue:text}`d_min_size:.0e`. So the normalised
# construction has constant size and, in float64, an error of at most
# $\varepsilon\cdot9/\delta^2$ (growing like $\delta^{-2}$, not round-off-exact), but is **not**
# numerically stable near
# vanishing denominators in low precision; clipping its float32 output to $[0,1]$ would only cap
# the error at 1.
#
# The ReLU rival, clipped to $[0,1]$, has sup error {glue:text}`relu_eq_big:.2g` at
# $\delta=${glue:text}`d_big:g` and {glue:text}`relu_eq_small:.3g` at
# $\delta=${glue:text}`d_small:.0e` at the SignReLU network's size ({glue:text}`n_div` non-zero
# parameters): at that size it does no better than the clip itself. Sized by measured error, it
# needs {glue:text}`relu_need_big` parameters for error {glue:text}`eps_div` at
# $\delta=${glue:text}`d_big:g` and {glue:text}`relu_need_small` at $\delta=${glue:text}`d_small:.0e`
# ($K=${glue:text}`relu_K_small`, $m=${glue:text}`relu_m_small`;
# {glue:text}`relu_need_ratio:.2f` times as many, E1.1b, a check of our construction), while the
# SignReLU network stays at {glue:text}`n_div`. What this construction buys is **exactness at
# constant size** in exact arithmetic; its costs, which belong to the construction and not to
# the SignReLU activation as such, are weights of order $1/\delta$ and a round-off error of
# order $\varepsilon/\delta^2$.
#
# Finally, $\rho(Mx)/M$ emulates ReLU with sup error $aR/(1+MR)\to a/M$ on $[-R,R]$; the measured
# errors match this closed form to a relative {glue:text}`emu_dev:.1e` (E1.1d), with local slope
# {glue:text}`emu_slope:.3f` in $M$. The next section uses it to build hinge approximants, which
# is one way an $M^{-1}$ factor, as in the summary's bound, can enter the error (our guess).

# %% [markdown]
# (sec-conditioning)=
# ## E1.6 Stability near vanishing denominators, as conditioning
#
# The summary says the networks keep "stability near vanishing denominators". Division itself is
# ill-conditioned there: an exact division fed $f_1+e_1$ and $f_2+e_2$ errs by
# $|e_1-re_2|/(f_2+e_2)$ with $r=f_1/f_2$, which is at most
#
# $$ \frac{|e_1|+|r|\,|e_2|}{f_2}\cdot\frac{1}{1-|e_2|/f_2}, $$
#
# the problem's own **conditioning bound** $(|e_1|+|r||e_2|)/f_2$ times a second-order factor.
# An exact division meets this by the analysis, so a test of it could not fail; what can fail is
# the network's **own round-off** (its output minus the exact $(f_1+e_1)/(f_2+e_2)$) against
# that bound. We test the normalised network of {ref}`sec-division` without training: on
# $\{0\le f_1\le f_2,\ \delta\le f_2\le1\}$ (the grid of E1.1) we add absolute perturbations
# $|e_1|=|e_2|=\varepsilon$ with all four sign patterns, for $\varepsilon$ from
# {glue:text}`cond_eps_max:.0e` down to {glue:text}`cond_eps_min:.0e` (at most $\delta/10$, so every
# perturbed input lies in the network's domain, whose floor is $\delta/2$; for
# $e_1=-\varepsilon$ the points with $f_1<\varepsilon$ are left out). The sizes span the input
# errors the training-free approximant of {ref}`sec-approx` actually produces (on the division's
# scaled inputs, sup {glue:text}`apx_in1:.1e` for the numerator and {glue:text}`apx_in2:.1e` for
# the denominator at $n=${glue:text}`apx_n_big` on the narrowest $\Omega$ of E1.5c's sweep, its
# interpolation error; the emulation part,
# about $a/M$, is far smaller). **Prediction** (our derivation, before this sweep): the round-off scale of
# E1.1a, $\epsilon_{\rm mach}\cdot 9/\delta_{\rm floor}^2$ with $\delta_{\rm floor}=\delta/2$,
# against a bound of at least $\varepsilon/\delta$ at the smallest denominators, gives a ratio of
# order $36\epsilon_{\rm mach}/(\varepsilon\delta)$, so the network's round-off overtakes the
# problem's conditioning below $\varepsilon^*\approx36\epsilon_{\rm mach}/\delta$. Both are
# tested within a factor 10 either way, in float64 and float32.

# %% tags=["hide-input"]
cond_rows = []
cond_epss = [10.0**-j for j in range(2, 13)]  # perturbation sizes, each used where <= delta/10
cond_eps = min(cfg["cond_deltas"]) / 10  # the size at which E1.6c compares the floors
eps_mach = {
    "float64": float(torch.finfo(torch.float64).eps),
    "float32": float(torch.finfo(torch.float32).eps),
}
for d in cfg["cond_deltas"]:
    eps_d = [e for e in cond_epss if e <= d / 10 * (1 + 1e-9)]
    net = S.ratio_network(
        d / 2, a_max=1 + max(eps_d), b_max=1 + max(eps_d), shift="scaled", scale="normalised"
    )
    xc = S.bounded_ratio_grid(d)
    for ep in eps_d:
        for s1, s2 in [(1, 1), (1, -1), (-1, 1), (-1, -1)]:
            ok = xc[:, 0] + s1 * ep >= 0  # the perturbed numerator stays in the domain
            f1c, f2c = xc[ok, 0], xc[ok, 1]
            e1c, e2c = torch.full_like(f1c, s1 * ep), torch.full_like(f2c, s2 * ep)
            for prec, dt in [("float64", torch.float64), ("float32", torch.float32)]:
                c = S.division_conditioning(net, f1c, f2c, e1c, e2c, dtype=dt)
                cond_rows.append(
                    {
                        "precision": prec,
                        "delta": d,
                        "eps": ep,
                        "error / bound": float((c.error / c.bound).max()),
                        "exact / bound": float((c.exact / c.bound).max()),
                        "round-off / bound": float((c.roundoff / c.bound).max()),
                    }
                )
cond = pd.DataFrame(cond_rows).groupby(["precision", "delta", "eps"]).max().reset_index()
# prediction: round-off ~ eps_mach 9/(delta/2)^2 (E1.1a's scale) against a bound >= eps/delta
cond["predicted"] = [
    36 * eps_mach[p] / (e * d)
    for p, e, d in zip(cond["precision"], cond["eps"], cond["delta"], strict=True)
]
cond["measured / predicted"] = cond["round-off / bound"] / cond["predicted"]
cond_factor = float(np.exp(np.abs(np.log(cond["measured / predicted"].to_numpy())).max()))
# crossover eps*: where the round-off ratio passes 1 (log-log interpolation between the two
# perturbation sizes that bracket it), against the predicted 36 eps_mach / delta
cross_rows = []
for (prec, d), g in cond.groupby(["precision", "delta"]):
    g = g.sort_values("eps")
    q, e = g["round-off / bound"].to_numpy(), g["eps"].to_numpy()
    j = np.nonzero((q[:-1] > 1.0) & (q[1:] <= 1.0))[0]
    if j.size:
        j = int(j[0])
        s = math.log(q[j + 1] / q[j]) / math.log(e[j + 1] / e[j])
        e_star = float(math.exp(math.log(e[j]) - math.log(q[j]) / s))
        cross_rows.append(
            {
                "precision": prec,
                "delta": d,
                "eps* measured": e_star,
                "eps* predicted": 36 * eps_mach[prec] / d,
                "ratio": e_star / (36 * eps_mach[prec] / d),
            }
        )
cross = pd.DataFrame(cross_rows)
cross_n = {p: int((cross["precision"] == p).sum()) if len(cross) else 0 for p in eps_mach}
cross_factor = (
    float(np.exp(np.abs(np.log(cross["ratio"].to_numpy())).max()))
    if min(cross_n.values()) > 0
    else float("inf")
)
# E1.6c: float32 round-off against 1/delta at the one perturbation size used at every floor
c32 = cond[
    (cond["precision"] == "float32") & np.isclose(cond["eps"], cond_eps, rtol=1e-6, atol=0.0)
].set_index("delta")
c64 = cond[
    (cond["precision"] == "float64") & np.isclose(cond["eps"], cond_eps, rtol=1e-6, atol=0.0)
].set_index("delta")
# round-off scatters like noise from one floor to the next: a least-squares fit over all floors
r32_slope = stats.fit_loglog(
    1 / c32.index.to_numpy(), c32["round-off / bound"].to_numpy()
).slope_interval
for k_, v in {
    "cond_eps": cond_eps,
    "cond_eps_max": max(cond_epss),
    "cond_eps_min": min(cond_epss),
    "cond_factor": cond_factor,
    "cond_mp_min": float(cond["measured / predicted"].min()),
    "cond_mp_max": float(cond["measured / predicted"].max()),
    "cross_factor": cross_factor,
    "cross_n64": cross_n["float64"],
    "cross_n32": cross_n["float32"],
    "cond64_exact_max": float(cond.loc[cond["precision"] == "float64", "exact / bound"].max()),
    "cond64_round_1e9": float(
        cond.loc[
            (cond["precision"] == "float64") & np.isclose(cond["eps"], 1e-9, rtol=1e-6, atol=0.0),
            "round-off / bound",
        ].max()
    ),
    "cond32_round_big": float(c32["round-off / bound"].iloc[-1]),
    "cond32_round_small": float(c32["round-off / bound"].iloc[0]),
    "cond32_slope": r32_slope.value,
    "cond32_slope_lo": r32_slope.low,
    "cond32_slope_hi": r32_slope.high,
    "cond32_max": float(c32["error / bound"].max()),
    "cond_d_min": float(min(cfg["cond_deltas"])),
    "cond_d_max": float(max(cfg["cond_deltas"])),
    "cond_estar64": 36 * eps_mach["float64"] / min(cfg["cond_deltas"]),
    "cond_estar32_num": 36 * eps_mach["float32"],
    "cond_d32_all": math.sqrt(360 * eps_mach["float32"]),  # 36 eps32/delta = delta/10
}.items():
    glue(k_, v, display=False)
ledger.record(
    "E1.6b",
    kind="derived",
    paper=PAPER,
    claim=f"The normalised SignReLU division's own round-off (its output minus the exact (f1 + e1)/(f2 + e2)) over the conditioning bound (|e1| + |f1/f2| |e2|)/f2 follows the predicted 36 eps_mach/(eps delta) (E1.1a's round-off scale eps_mach 9/(delta/2)^2 against a bound of at least eps/delta) within a factor 10 either way (band fixed before this sweep was run), at every floor delta in {cfg['cond_deltas']}, every perturbation size eps from {max(cond_epss):.0e} to {min(cond_epss):.0e} (at most delta/10), in float64 and float32 (largest of measured/predicted and its inverse, over all cells)",
    measured=cond_factor,
    expect=at_most(10.0),
    section="sec-conditioning",
    rtol=0.25,
    atol=0.0,
)
ledger.record(
    "E1.6d",
    kind="derived",
    paper=PAPER,
    claim=f"The perturbation size eps* below which the division's own round-off exceeds the conditioning bound (so that the network, not the problem, sets the error) is the predicted 36 eps_mach/delta within a factor 10 either way (band fixed before this sweep was run), in float64 and float32, at every floor where eps* falls inside the sweep (log-log interpolation between the bracketing sizes; largest factor over {cross_n['float64']} float64 and {cross_n['float32']} float32 crossings; infinite if a precision has none)",
    measured=cross_factor,
    expect=at_most(10.0),
    section="sec-conditioning",
    rtol=0.25,
    atol=0.0,
)
ledger.record(
    "E1.6c",
    kind="derived",
    paper=PAPER,
    claim=f"In float32 the network's own round-off over the conditioning bound grows like 1/delta at a fixed perturbation size eps = {cond_eps:.0e} (round-off eps32 9/delta_floor^2 against a bound of order eps/delta; least-squares log-log slope of the largest ratio against 1/delta over delta from {max(cfg['cond_deltas']):g} to {min(cfg['cond_deltas']):g}, with its fit interval: round-off scatters like noise from one floor to the next; 1 +- 0.25, fixed before the run)",
    measured=r32_slope,
    expect=close_to(1.0, 0.25),
    section="sec-conditioning",
    rtol=0.0,
    atol=0.04,
)
cross

# %% tags=["hide-input"]
fig, ax = figure(2, height=2.6)
ccols = method_colors(["float64", "float32"])
for i, prec in enumerate(["float64", "float32"]):
    for d, g in cond[cond["precision"] == prec].groupby("delta"):
        a_ = 0.35 + 0.65 * (math.log(d) - math.log(min(cfg["cond_deltas"]))) / max(
            1e-12, math.log(max(cfg["cond_deltas"])) - math.log(min(cfg["cond_deltas"]))
        )
        ax[i].loglog(g["eps"], g["round-off / bound"], "o", ms=3, color=ccols[prec], alpha=a_)
        ax[i].loglog(
            g["eps"],
            g["predicted"],
            "-",
            lw=0.8,
            color=ccols[prec],
            alpha=a_,
            label=rf"$\delta$ = {d:.0e}",
        )
    ax[i].axhline(1.0, color="k", lw=0.8, ls=":")
    ax[i].legend(fontsize=5)
    ax[i].set(
        xlabel=r"perturbation size $\varepsilon$",
        ylabel="own round-off / conditioning bound",
        title=f"{prec} (darker: larger $\\delta$)",
    )
plt.show()

# %% [markdown]
# **Figure.** The division network's own round-off over the conditioning bound
# $(|e_1|+|r||e_2|)/f_2$ (dots, largest over four sign patterns and all points) against the
# perturbation size $\varepsilon$, one series per floor $\delta$ (darker: larger $\delta$), with
# the prediction $36\epsilon_{\rm mach}/(\varepsilon\delta)$ (lines) and the level 1 (dotted).
# Look at the dots on their lines, and at where each crosses 1: that is $\varepsilon^*$.
#
# The table lists the crossovers found inside the sweep. Over every floor $\delta$ from
# {glue:text}`cond_d_max:g` to {glue:text}`cond_d_min:.0e`, every $\varepsilon$ and both
# precisions, the measured round-off ratio is {glue:text}`cond_mp_min:.2f` to
# {glue:text}`cond_mp_max:.2f` times the prediction (E1.6b), and the crossovers
# ({glue:text}`cross_n64` in float64, {glue:text}`cross_n32` in float32) lie within a factor
# {glue:text}`cross_factor:.2f` of $36\epsilon_{\rm mach}/\delta$ (E1.6d). An exact division's
# error stays within $1/(1-\eta)$ of the bound, here at most {glue:text}`cond64_exact_max:.4f`
# (the largest $\eta=\varepsilon/\delta$ is 0.1); that follows from the analysis and is not
# recorded as a claim. At a fixed $\varepsilon=${glue:text}`cond_eps:.0e` the float32 ratio grows
# from {glue:text}`cond32_round_big:.2g` to {glue:text}`cond32_round_small:.3g` with log-log slope
# {glue:text}`cond32_slope:.2f` in $1/\delta$ (fit interval {glue:text}`cond32_slope_lo:.2f` to
# {glue:text}`cond32_slope_hi:.2f`, E1.6c).
#
# So "stability near vanishing denominators" holds for this construction in the sense of
# conditioning only for input errors above $\varepsilon^*\approx36\epsilon_{\rm mach}/\delta$:
# in float64 that is {glue:text}`cond_estar64:.1e` at the smallest floor
# $\delta=${glue:text}`cond_d_min:.0e`, and at $\varepsilon=10^{-9}$, far below the
# approximant's input errors, the round-off is at most {glue:text}`cond64_round_1e9:.1e` of the
# bound; in float32 $\varepsilon^*\approx${glue:text}`cond_estar32_num:.1e`$/\delta$ exceeds
# the largest perturbation the domain admits ($\delta/10$) once $\delta$ is below
# {glue:text}`cond_d32_all:.1e`, and from there on the network's own round-off, through the
# $1/\delta$ weights of E1.1c, dominates the problem's conditioning at every input error.

# %% [markdown]
# (sec-approx)=
# ## E1.5 The approximation theorem without training
#
# The summary states: "For any f1, f2 in function class S, there exists a SignReLU network with
# depth 7, width O(n+9), and parameter norm M > 0, achieving approximation error
# O(M^{-1}n^{-1/2-3d/2})". Its exponents look garbled (they improve with the dimension $d$), and
# we do not know what $n$ counts in the paper; at $d=1$ the exponent reads $n^{-2}$. We test the
# statement's shape on an explicit network, without training:
#
# * $\hat f_1,\hat f_2$: piecewise-linear interpolants of $f_1+Lf_2$ and $f_2$ (scaled by
#   $\max f_2$; $L$, read off the knots, keeps the numerator at least $0.05\max|f_1/f_2|\,f_2$:
#   non-negative, and above the clipping level below, which it must pass unchanged) at $n+1$
#   uniform knots on $\Omega_t$, written as hinges $\sum_j c_j\,\rho(M(x-x_j))/M$: one SignReLU
#   layer of width $2n$, largest weight about $M$ (`companion.signrelu.hinge_network`);
# * one SignReLU layer that clips them into the division network's domain,
#   $c+\rho(M(\cdot-c))/M$ with $c$ the domain's lower end plus $a/M$: it passes every input
#   above $c$ unchanged (an earlier version added $a/M$ to both inputs everywhere, a bias the
#   division then amplified by $1/f_2$);
# * the exact normalised division network of {ref}`sec-division` with floor
#   $\delta=\min f_2/2$, then $-L$.
#
# The whole is one SignReLU network of depth 5 and width $2n$
# (`companion.signrelu.ratio_approximant`). Each hinge differs from the interpolant by at most
# $(a/M)\sum_j|c_j|$, and the interpolant from $f$ by $O(n^{-2})$: so we expect (our
# derivation) an error of the form $C_1n^{-2}+C_2/M$, a **sum**, not the summary's product. The
# division amplifies absolute input errors by $1/f_2$, but neither input error is constant: at
# $x$ a hinge network errs by about $(a/M)$ times the change of slope to the right of $x$ (the
# neurons there are inactive), and the interpolation error scales with $f''$; in the tails,
# where $f_2$ is small, both shrink with $f_1$ and $f_2$, so the amplified error need not grow
# like $1/\inf f_2$. That is exact arithmetic; the float64 network adds its own round-off,
# measured separately below (E1.5j, E1.5k). The target is the posterior
# mean at $t=${glue:text}`apx_t` on $\Omega_t$ (the chapter's first target); errors are
# $L^2(\Omega)$ and sup norms on {glue:text}`apx_eval` uniform points. Each sweep varies one of
# $n$, $M$ and $\inf_\Omega f_2$ (through the width of $\Omega=[\min_k(\mu_k-ks_k),\max_k(\mu_k+ks_k)]$)
# with the others fixed: in the $n$ sweep $M$ is large enough for its term to be negligible; in
# the $M$ sweep the $n$ term is not negligible, so the $M$-dependent part is isolated by
# differencing (see below); in the $\inf f_2$ sweep the knot spacing is fixed and the $n$ term
# is the entire error, measured where $f_2$ is small. The numbers are deterministic, so
# a rate is the last local log-log slope, with its change from the previous pair as its error
# (the verdict table calls it "numerical error by refinement over 2 resolutions", the label of
# `companion.stats.asymptotic_slope`: it is the drift of the local slope in $n$ or $M$, not a
# grid refinement).
#
# Beside it, a **ReLU network of the same parameter count in its best form for this target**: one
# hidden layer representing the piecewise-linear interpolant of $f_1/f_2$ itself, with free knots
# that equidistribute $|(f_1/f_2)''|^{1/2}$.

# %%
apx_t = cfg["fit_times"][0]
n_eval = 8001
TAIL_LEVEL = 0.01  # E1.5c, E1.5m: the error is measured where f2 < 1% of its maximum


def omega_k(t, k):
    m = chain50.marginal(p0, t)
    sd = m.variances[:, 0].sqrt()
    return float((m.means[:, 0] - k * sd).min()), float((m.means[:, 0] + k * sd).max())


def terms(target, t, x):
    """f1, f2 of the posterior mean ("pm"), of the reverse density's section at a fixed y0
    ("rd"), or of its section along the reverse mean y(x) = E[z_(t-1) | z_t = x] ("rdm")."""
    if target == "pm":
        return R.posterior_mean_terms(p0, chain50, t, x)
    if target == "rdm":
        # E[z_(t-1) | z_t] = c0 E[z_0 | z_t] + ct z_t: there the reverse density stays O(1)
        # in the tails, where f2 = p_t(x) vanishes, instead of vanishing with it
        c0, ct, _ = R.ddpm_posterior(chain50, t)
        h1, h2 = R.posterior_mean_terms(p0, chain50, t, x)
        return R.reverse_density_terms(p0, chain50, t, c0 * h1 / h2 + ct * x, x)
    # p(z_{t-1} = y0 | z_t = x) as a function of x: f1 = q(x | y0) p_{t-1}(y0), f2 = p_t(x)
    y0 = 0.5 * math.sqrt(float(chain50.alpha_bar[t - 1]))  # the middle mode, noised to t - 1
    return R.reverse_density_terms(p0, chain50, t, torch.full_like(x, y0), x)


def free_knots(target, t, lo, hi, n):
    """n + 1 knots equidistributing |(f1/f2)''|^(1/2), the ReLU rival's placement."""
    xf = torch.linspace(lo, hi, 20001, dtype=torch.float64)
    f1f, f2f = (v.numpy() for v in terms(target, t, xf))
    xn = xf.numpy()
    w = np.abs(np.gradient(np.gradient(f1f / f2f, xn), xn)) ** 0.5 + 1e-12
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (w[1:] + w[:-1]) * np.diff(xn))])
    xk = torch.as_tensor(np.interp(np.linspace(0, cum[-1], n + 1), cum, xn))
    xk[0], xk[-1] = lo, hi
    return xk


def numerator_shift(f1k, f2k):
    """L with f1 + L f2 >= 0.05 max|f1/f2| f2 at the knots: non-negative, and far enough above
    the clipping level a/M that the clipping layer passes it unchanged."""
    rk = f1k / f2k
    return max(1.05 * max(0.0, -float(rk.min())), 0.05 * float(rk.abs().max()))


def approximant_errors(
    n, M, k=4.0, target="pm", t=None, knots="uniform", decompose=None, direct=True
):
    """L2 and sup error of the SignReLU ratio approximant with n hinges per function, and of
    the SignReLU hinge interpolant of f1/f2 itself on the same knots ("direct"; not with
    `decompose`). `decompose="exact"` adds the error of the same network in exact arithmetic,
    "all" also the two round-off parts of the float64 network with their predictions."""
    t = apx_t if t is None else t
    lo, hi = omega_k(t, k)
    if knots == "uniform":
        xk = torch.linspace(lo, hi, n + 1, dtype=torch.float64)
    else:
        xk = free_knots(target, t, lo, hi, n)
    xe = torch.linspace(lo, hi, n_eval, dtype=torch.float64)
    f1k, f2k = terms(target, t, xk)
    f1e, f2e = terms(target, t, xe)
    r = f1e / f2e
    L = numerator_shift(f1k, f2k)  # from the knots only
    sc = float(f2k.max())
    g1, g2 = (f1k + L * f2k) / sc, f2k / sc
    net = S.ratio_approximant(xk, g1, g2, M, 0.5 * float(g2.min()), 1.5 * float(g1.max()), 1.5)
    err = (net(xe[:, None])[:, 0] - L - r).abs()
    extra = {}
    if decompose is None and direct:
        direct_net = S.hinge_network(xk, f1k / f2k, M)
        extra["direct L2"] = float(
            (direct_net(xe[:, None])[:, 0] - r).pow(2).mean().sqrt() * math.sqrt(hi - lo)
        )
    else:
        delta = 0.5 * float(g2.min())
        # the same network in exact arithmetic: the paper's statement is about this function
        err_x = (S.ratio_approximant_exact(xk, g1, g2, M, delta, xe) - L - r).abs()
        tail = f2e < TAIL_LEVEL * float(f2e.max())  # where f2 is small
        # the input errors the division receives: exact hinge outputs minus the scaled targets
        in1 = (S.hinge_exact(xk, g1, xe, M) - (f1e + L * f2e) / sc).abs()
        in2 = (S.hinge_exact(xk, g2, xe, M) - f2e / sc).abs()
        extra = {
            "sup exact": float(err_x.max()),
            "sup tail exact": float(err_x[tail].max()),
            "input error num": float(in1.max()),
            "input error den": float(in2.max()),
            "L2 exact": float(err_x.pow(2).mean().sqrt() * math.sqrt(hi - lo)),
            "delta": delta,
        }
    if decompose == "all":
        # (i) the hinge layer's float64 round-off, carried through an exact division, against
        # its conditioning prediction eps (m1 + |q| m2)/h2 (m: size of the summed terms)
        h1x, h2x = S.hinge_exact(xk, g1, xe, M), S.hinge_exact(xk, g2, xe, M)
        h1f = S.hinge_network(xk, g1, M)(xe[:, None])[:, 0]
        h2f = S.hinge_network(xk, g2, M)(xe[:, None])[:, 0]
        hinge_ro = (h1f / h2f - h1x / h2x).abs()
        hinge_pred = (
            eps64
            * (S.hinge_magnitude(xk, g1, xe) + (h1x / h2x).abs() * S.hinge_magnitude(xk, g2, xe))
            / h2x
        )
        # (ii) the float64 division network fed the exact hinge outputs, against exact division
        div = S.ratio_network(delta, 1.5 * float(g1.max()), 1.5, shift="scaled", scale="normalised")
        div_ro = (div(torch.stack([h1x, h2x], -1))[:, 0] - h1x / h2x).abs()
        extra |= {
            "hinge round-off": float(hinge_ro.max()),
            "hinge predicted": float(hinge_pred.max()),
            "division round-off": float(div_ro.max()),
            "division bound": eps64 * 9 / delta**2,  # E1.1a's scale
        }
    return {
        **extra,
        "L2": float(err.pow(2).mean().sqrt() * math.sqrt(hi - lo)),
        "sup": float(err.max()),
        "params": net.n_parameters,
        "inf f2": float(f2e.min()),
        "max weight": net.max_weight,
        "depth": net.depth,
        "width": net.width,
    }


def approximant_M_part(n, M, M_ref=1e13, k=4.0, target="pm", t=None):
    """L2 distance between the ratio approximant at M and the same network at M_ref: the part
    of its error that depends on the emulation parameter."""
    t = apx_t if t is None else t
    lo, hi = omega_k(t, k)
    xk = torch.linspace(lo, hi, n + 1, dtype=torch.float64)
    xe = torch.linspace(lo, hi, n_eval, dtype=torch.float64)
    f1k, f2k = terms(target, t, xk)
    L = numerator_shift(f1k, f2k)
    sc = float(f2k.max())
    g1, g2 = (f1k + L * f2k) / sc, f2k / sc
    out = {}
    for m_ in (M, M_ref):
        key = (n, m_, k, target, t)
        if m_ != M_ref or key not in _M_ref_out:  # the reference network is built once
            net_ = S.ratio_approximant(
                xk, g1, g2, m_, 0.5 * float(g2.min()), 1.5 * float(g1.max()), 1.5
            )
            out[m_] = net_(xe[:, None])[:, 0]
            if m_ == M_ref:
                _M_ref_out[key] = out[m_]
        else:
            out[m_] = _M_ref_out[key]
    return float((out[M] - out[M_ref]).pow(2).mean().sqrt() * math.sqrt(hi - lo))


_M_ref_out = {}


def relu_direct_errors(n_params, k=4.0):
    """The equal-size ReLU rival: a free-knot interpolant of f1/f2 with n_params parameters."""
    lo, hi = omega_k(apx_t, k)
    xf = torch.linspace(lo, hi, 20001, dtype=torch.float64)
    f1f, f2f = R.posterior_mean_terms(p0, chain50, apx_t, xf)
    rf = (f1f / f2f).numpy()
    curv = np.abs(np.gradient(np.gradient(rf, xf.numpy()), xf.numpy())) ** 0.5 + 1e-12
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (curv[1:] + curv[:-1]) * np.diff(xf.numpy()))])
    N = (n_params - 1) // 3  # hinge_network has 3 N + 1 parameters
    xk = torch.as_tensor(np.interp(np.linspace(0, cum[-1], N + 1), cum, xf.numpy()))
    xk[0], xk[-1] = lo, hi
    f1k, f2k = R.posterior_mean_terms(p0, chain50, apx_t, xk)
    net = S.hinge_network(xk, f1k / f2k)
    assert net.n_parameters <= n_params
    xe = torch.linspace(lo, hi, n_eval, dtype=torch.float64)
    f1e, f2e = R.posterior_mean_terms(p0, chain50, apx_t, xe)
    err = (net(xe[:, None])[:, 0] - f1e / f2e).abs()
    return {"L2": float(err.pow(2).mean().sqrt() * math.sqrt(hi - lo)), "sup": float(err.max())}


apx_t2 = 25  # a second time step for the posterior mean, and the reverse density's t
apx_rows, dec_rows = [], []
for n in cfg["apx_ns"]:
    e = approximant_errors(n, cfg["apx_M_big"])
    rv = relu_direct_errors(e["params"])
    apx_rows.append(
        {"sweep": "n", "n": n, "M": cfg["apx_M_big"], "k": 4.0, **e, "ReLU L2": rv["L2"]}
    )
    ef = approximant_errors(n, cfg["apx_M_big"], knots="free")
    e2 = approximant_errors(n, cfg["apx_M_big"], t=apx_t2)
    er = approximant_errors(n, cfg["apx_M_big"], target="rd", t=apx_t2)
    dec_rows.append(
        {
            "n": n,
            "ratio, uniform": e["L2"],
            "direct, uniform": e["direct L2"],
            "ratio, free knots": ef["L2"],
            "direct, free knots": ef["direct L2"],
            "ReLU, equal params": rv["L2"],
            f"posterior mean t={apx_t2}": e2["L2"],
            f"reverse density t={apx_t2}": er["L2"],
            f"reverse density direct t={apx_t2}": er["direct L2"],
        }
    )
dec = pd.DataFrame(dec_rows).set_index("n")
rate_n2 = stats.asymptotic_slope(dec.index, dec[f"posterior mean t={apx_t2}"])
rate_rd = stats.asymptotic_slope(dec.index, dec[f"reverse density t={apx_t2}"])
route_uniform = dec["ratio, uniform"] / dec["direct, uniform"]
route_free = dec["ratio, free knots"] / dec["direct, free knots"]
count_place = dec["direct, uniform"] / dec["ReLU, equal params"]
# E1.5d's prediction (leading order in 1/n, uniform knots): both errors are the interpolation
# bubble times a second derivative, (f1'' - r f2'')/f2 for the ratio route (the shift L cancels)
# and r'' for the direct interpolant, so their L2 ratio tends to ||(f1'' - r f2'')/f2|| / ||r''||
_lo, _hi = omega_k(apx_t, 4.0)
_xf = torch.linspace(_lo, _hi, 20001, dtype=torch.float64)
_f1, _f2 = (v.numpy() for v in terms("pm", apx_t, _xf))
_xn, _r = _xf.numpy(), _f1 / _f2


def _d2(v):
    return np.gradient(np.gradient(v, _xn), _xn)


route_pred = float(
    np.sqrt(np.mean(((_d2(_f1) - _r * _d2(_f2)) / _f2)[5:-5] ** 2))
    / np.sqrt(np.mean(_d2(_r)[5:-5] ** 2))
)
M_floor_L2 = {
    (n_, m_): approximant_errors(n_, m_, direct=False)["L2"]
    for n_ in (cfg["apx_n_big"],)
    for m_ in (cfg["apx_M_big"], 10 * cfg["apx_M_big"])
}
M_floor = {
    n_: M_floor_L2[(n_, cfg["apx_M_big"])] / M_floor_L2[(n_, 10 * cfg["apx_M_big"])]
    for n_ in (cfg["apx_n_big"],)
}


def grid_error(n, M, k=3.0):
    """L2(Omega) error of the ratio approximant in exact arithmetic (posterior mean, t = apx_t)."""
    lo, hi = omega_k(apx_t, k)
    xk = torch.linspace(lo, hi, n + 1, dtype=torch.float64)
    xe = torch.linspace(lo, hi, n_eval, dtype=torch.float64)
    f1k, f2k = terms("pm", apx_t, xk)
    f1e, f2e = terms("pm", apx_t, xe)
    L = numerator_shift(f1k, f2k)
    sc = float(f2k.max())
    g1, g2 = (f1k + L * f2k) / sc, f2k / sc
    out = S.ratio_approximant_exact(xk, g1, g2, M, 0.5 * float(g2.min()), xe) - L
    return float((out - f1e / f2e).pow(2).mean().sqrt() * math.sqrt(hi - lo))


# E1.5e: the (n, M) grid across the crossover n^-2 ~ 1/M, on Omega of 3 sds, where a/M stays
# below the floor delta down to M = 1e3; both forms fitted by least squares in log error
g_ns = np.asarray(cfg["apx_grid_ns"], dtype=float)
g_Ms = np.asarray(cfg["apx_grid_Ms"], dtype=float)
g_err = np.array([[grid_error(int(n_), m_) for m_ in g_Ms] for n_ in g_ns])
gN, gM = np.meshgrid(g_ns, g_Ms, indexing="ij")
g_le = np.log(g_err).ravel()
g_A = np.stack([np.ones(g_le.size), np.log(gN).ravel(), np.log(gM).ravel()], 1)
g_prod, *_ = np.linalg.lstsq(g_A, g_le, rcond=None)  # log C - p log n - q log M
g_res_prod = float(np.sqrt(np.mean((g_le - g_A @ g_prod) ** 2)))


def _sum_resid(p_):
    return (
        np.log(np.exp(p_[0]) * gN.ravel() ** -p_[1] + np.exp(p_[2]) * gM.ravel() ** -p_[3]) - g_le
    )


g_sum = least_squares(_sum_resid, [0.0, 2.0, 0.0, 1.0]).x  # C1 n^-p + C2 M^-q
g_res_sum = float(np.sqrt(np.mean(_sum_resid(g_sum) ** 2)))
g_slopes = [stats.fit_loglog(g_Ms, g_err[i]).slope_interval for i in range(len(g_ns))]
_flat = [int(n_) for n_, v in zip(g_ns, g_slopes, strict=True) if abs(v.value) < 0.05]
g_flat_n, g_flat_max = len(_flat), max(_flat, default=0)
grid_tab = pd.DataFrame(
    g_err, index=pd.Index(g_ns.astype(int), name="n"), columns=[f"M={m_:.0e}" for m_ in g_Ms]
)
grid_tab["slope in M"] = [f"{v.value:.3f} [{v.low:.3f}, {v.high:.3f}]" for v in g_slopes]
for M in cfg["apx_Ms"]:
    apx_rows.append(
        {
            "sweep": "M",
            "n": cfg["apx_n_big"],
            "M": M,
            "k": 4.0,
            **approximant_errors(cfg["apx_n_big"], M, direct=False),
            "M part": approximant_M_part(cfg["apx_n_big"], M),
            "M part, reverse density": approximant_M_part(
                cfg["apx_n_big"], M, target="rd", t=apx_t2
            ),
        }
    )
# the inf f2 sweeps at a fixed knot spacing: n grows with |Omega| (n = apx_n_big at the
# narrowest Omega), so that widening Omega lowers inf f2 without coarsening the knots
_w0 = omega_k(apx_t, min(cfg["apx_ks"]))
for k in cfg["apx_ks"]:
    _w = omega_k(apx_t, k)
    n_k = int(round(cfg["apx_n_big"] * (_w[1] - _w[0]) / (_w0[1] - _w0[0])))
    apx_rows.append(
        {
            "sweep": "inf f2",
            "n": n_k,
            "M": cfg["apx_M_mid"],
            "k": k,
            **approximant_errors(n_k, cfg["apx_M_mid"], k, decompose="all"),
        }
    )
    # the same sweep on the reverse density's section along its mean (the paper's f1/f2)
    apx_rows.append(
        {
            "sweep": "inf f2, reverse density",
            "n": n_k,
            "M": cfg["apx_M_mid"],
            "k": k,
            **approximant_errors(n_k, cfg["apx_M_mid"], k, target="rdm", t=apx_t2, decompose="all"),
        }
    )
# the reverse density along its mean stays O(1) where f2 vanishes: its range on the widest Omega
_lo, _hi = omega_k(apx_t2, max(cfg["apx_ks"]))
_r1, _r2 = terms("rdm", apx_t2, torch.linspace(_lo, _hi, n_eval, dtype=torch.float64))
rdm_r_min, rdm_r_max = float((_r1 / _r2).min()), float((_r1 / _r2).max())
apx = pd.DataFrame(apx_rows)
apx_n, apx_M = apx[apx["sweep"] == "n"], apx[apx["sweep"] == "M"]
apx_f = apx[apx["sweep"] == "inf f2"].sort_values("inf f2", ascending=False)
apx_frd = apx[apx["sweep"] == "inf f2, reverse density"].sort_values("inf f2", ascending=False)
rate_n = stats.asymptotic_slope(apx_n["n"], apx_n["L2"])
rate_M = stats.asymptotic_slope(apx_M["M"], apx_M["M part"])
rate_M_rd = stats.asymptotic_slope(apx_M["M"], apx_M["M part, reverse density"])


def growth_slope(g, col="sup exact"):
    """Log-log slope of a sup error against 1/inf f2 from the first to the last point of a
    sweep (deterministic numbers; 1 if a constant input error were divided by f2, 0 if bounded)."""
    e_, f_ = g[col].to_numpy(), g["inf f2"].to_numpy()
    return float(math.log(e_[-1] / e_[0]) / math.log(f_[0] / f_[-1]))


# the paper's statement is about the network's function, i.e. exact arithmetic; the float64
# network adds its round-off (next table)
rate_f, rate_frd = growth_slope(apx_f, "sup tail exact"), growth_slope(apx_frd, "sup tail exact")
rate_f64 = growth_slope(apx_f, "sup")
apx_fall = pd.concat([apx_f, apx_frd])  # the sweeps decomposed into round-off parts
ro_div = float((apx_fall["division round-off"] / apx_fall["division bound"]).max())
ro_hinge_q = (apx_fall["hinge round-off"] / apx_fall["hinge predicted"]).to_numpy()
ro_hinge = float(np.exp(np.abs(np.log(ro_hinge_q)).max()))
apx[
    [
        "sweep",
        "n",
        "M",
        "k",
        "inf f2",
        "params",
        "depth",
        "width",
        "max weight",
        "L2",
        "sup",
        "ReLU L2",
    ]
]

# %% tags=["hide-input"]
fig, ax = figure(3, height=2.8)
acol_ = method_colors(["SignReLU ratio approximant", "ReLU, same size"])
c_sr, c_re = acol_["SignReLU ratio approximant"], acol_["ReLU, same size"]
ax[0].loglog(apx_n["n"], apx_n["L2"], "o-", color=c_sr, label="SignReLU ratio approximant")
ax[0].loglog(apx_n["n"], apx_n["ReLU L2"], "^:", color=c_re, label="ReLU, same size, free knots")
nn0 = apx_n["n"].to_numpy(dtype=float)
ax[0].loglog(nn0, apx_n["L2"].iloc[0] * (nn0 / nn0[0]) ** -2.0, "k--", lw=1, label=r"$n^{-2}$")
ax[0].set(
    xlabel="hinges per function n",
    ylabel=r"$L^2(\Omega)$ error",
    title=f"M = {cfg['apx_M_big']:.0e}",
)
ax[0].legend(fontsize=6)
ax[1].loglog(apx_M["M"], apx_M["L2"], "o-", color=c_sr, label="error")
ax[1].loglog(
    apx_M["M"], apx_M["M part"], "s--", mfc="none", color=c_sr, label="its M-dependent part"
)
mm0 = apx_M["M"].to_numpy(dtype=float)
ax[1].loglog(
    mm0, apx_M["M part"].iloc[-1] * (mm0 / mm0[-1]) ** -1.0, "k--", lw=1, label=r"$M^{-1}$"
)
ax[1].set(
    xlabel="emulation parameter M", ylabel=r"$L^2(\Omega)$ error", title=f"n = {cfg['apx_n_big']}"
)
ax[1].legend(fontsize=6)
ax[2].loglog(apx_f["inf f2"], apx_f["sup exact"], "o-", color=c_sr, label="sup, exact arithmetic")
ax[2].loglog(
    apx_f["inf f2"],
    apx_f["sup tail exact"],
    "x:",
    color=c_sr,
    label=r"same, where $f_2<1\%\,\max f_2$",
)
ax[2].loglog(
    apx_f["inf f2"], apx_f["sup"], "s--", mfc="none", color=c_sr, label="sup, float64 network"
)
ax[2].loglog(
    apx_f["inf f2"], apx_f["division round-off"], "v:", color="0.4", label="division round-off"
)
ax[2].loglog(
    apx_f["inf f2"],
    apx_f["division bound"],
    "-",
    color="0.4",
    lw=0.8,
    label=r"$9\epsilon/\delta^2$",
)
ff0 = apx_f["inf f2"].to_numpy(dtype=float)
ax[2].loglog(
    ff0,
    apx_f["sup tail exact"].iloc[0] * (ff0 / ff0[0]) ** -1.0,
    "k--",
    lw=1,
    label=r"$(\inf f_2)^{-1}$",
)
ax[2].invert_xaxis()
ax[2].set(
    xlabel=r"$\inf_\Omega f_2$ (wider $\Omega$ to the right)",
    ylabel="error",
    title=f"n from {int(apx_f['n'].iloc[0])}, M = {cfg['apx_M_mid']:.0e}",
)
ax[2].legend(fontsize=6)
plt.show()

# %% [markdown]
# **Figure.** Error of the explicit SignReLU approximant of the posterior mean $f_1/f_2$
# (no training). Left: $L^2(\Omega)$ error against the number $n$ of hinges per function at
# large $M$, with the equal-parameter free-knot ReLU interpolant of $f_1/f_2$ itself (dotted);
# look at the SignReLU slope near $-2$, and at the ReLU curve lying below it at every $n$ (more
# accurate at equal size); the ReLU curve is shallower at small $n$, so the gap shrinks with
# $n$. Middle: against $M$ at fixed $n$, the error (filled) and its $M$-dependent part, the
# distance to the same network at $M=10^{13}$ (open); the $M^{-1}$ guide is anchored at the
# last point; look at the open markers on the guide and the error flat at the $n$ term. Right:
# sup error against $\inf_\Omega f_2$, made smaller by widening $\Omega$ at a fixed knot spacing
# and fixed $M$: the network's function in exact arithmetic over all of $\Omega$ (filled circles)
# and where $f_2<1\%\max f_2$ (crosses, E1.5c), the float64 network (open squares), the division
# network's own round-off (triangles) under its bound $9\epsilon_{\rm mach}/\delta^2$ (grey
# line); the dashed guide, anchored at the first cross, is what a constant input error divided by
# $f_2$ would give. Look at the crosses staying far below the guide, and at whether the float64
# error leaves the exact one: it does where the division's round-off, growing like
# $\delta^{-2}$, passes the approximation error.

# %%
relu_gap = np.log10(apx_n["ReLU L2"].to_numpy() / apx_n["L2"].to_numpy())
for k_, v in {
    "apx_t": apx_t,
    "apx_eval": n_eval,
    "apx_rate_n": rate_n.value,
    "apx_rate_n_err": rate_n.half_width,
    "apx_rate_M": rate_M.value,
    "apx_rate_M_err": rate_M.half_width,
    "apx_rate_M_rd": rate_M_rd.value,
    "apx_M_part_max": float(apx_M["M part"].max()),
    "apx_rate_f": rate_f,
    "apx_f_fall": float(apx_f["inf f2"].iloc[0] / apx_f["inf f2"].iloc[-1]),
    "apx_f_grow": float(apx_f["sup tail exact"].iloc[-1] / apx_f["sup tail exact"].iloc[0]),
    "apx_f_tail_first": float(apx_f["sup tail exact"].iloc[0]),
    "apx_f_tail_last": float(apx_f["sup tail exact"].iloc[-1]),
    "apx_f_sup_first": float(apx_f["sup exact"].iloc[0]),
    "apx_f_sup_last": float(apx_f["sup exact"].iloc[-1]),
    "apx_f_n_first": int(apx_f["n"].iloc[0]),
    "apx_f_n_last": int(apx_f["n"].iloc[-1]),
    "apx_frd_grow": float(apx_frd["sup tail exact"].iloc[-1] / apx_frd["sup tail exact"].iloc[0]),
    "apx_frd_tail_last": float(apx_frd["sup tail exact"].iloc[-1]),
    "rdm_r_min": rdm_r_min,
    "apx_in1": float(apx_f["input error num"].iloc[0]),
    "apx_in2": float(apx_f["input error den"].iloc[0]),
    "rdm_r_max": rdm_r_max,
    "apx_frd_fall": float(apx_frd["inf f2"].iloc[0] / apx_frd["inf f2"].iloc[-1]),
    "apx_rate_frd": rate_frd,
    "apx_rate_f64": rate_f64,
    "apx_f_exact_last": float(apx_f["sup exact"].iloc[-1]),
    "apx_f_sup64_last": float(apx_f["sup"].iloc[-1]),
    "apx_f_div_last": float(apx_f["division round-off"].iloc[-1]),
    "apx_f_hinge_last": float(apx_f["hinge round-off"].iloc[-1]),
    "apx_f_div_first": float(apx_f["division round-off"].iloc[0]),
    "apx_f_delta_last": float(apx_f["delta"].iloc[-1]),
    "ro_div": ro_div,
    "div_slope": float(
        math.log(apx_f["division round-off"].iloc[-1] / apx_f["division round-off"].iloc[0])
        / math.log(apx_f["delta"].iloc[0] / apx_f["delta"].iloc[-1])
    ),
    "f64_text": (
        "there the division's round-off exceeds the approximation error, and the float64 error "
        "is round-off"
        if apx_f["division round-off"].iloc[-1] > apx_f["sup exact"].iloc[-1]
        else "on this range the round-off stays below the approximation error"
    ),
    "ro_hinge": ro_hinge,
    "ro_hinge_min": float(ro_hinge_q.min()),
    "ro_hinge_max": float(ro_hinge_q.max()),
    "grid_res_sum": g_res_sum,
    "grid_res_prod": g_res_prod,
    "grid_res_ratio": g_res_prod / g_res_sum,
    "grid_p": float(g_sum[1]),
    "grid_q": float(g_sum[3]),
    "grid_prod_p": float(-g_prod[1]),
    "grid_prod_q": float(-g_prod[2]),
    "grid_slope_first": g_slopes[0].value,
    "grid_slope_last": g_slopes[-1].value,
    "grid_slope_last_lo": g_slopes[-1].low,
    "grid_slope_last_hi": g_slopes[-1].high,
    "grid_n_max": int(max(cfg["apx_grid_ns"])),
    "grid_n_min": int(min(cfg["apx_grid_ns"])),
    "grid_n_M": len(cfg["apx_grid_Ms"]),
    "apx_f_inf_min": float(apx_f["inf f2"].min()),
    "apx_relu_gap_max": float(10 ** relu_gap.max()),
    "apx_relu_gap_min": float(10 ** relu_gap.min()),
    "apx_relu_adv_min": float(10 ** -relu_gap.max()),
    "apx_relu_adv_max": float(10 ** -relu_gap.min()),
    "apx_depth": int(apx["depth"].iloc[0]),
    "apx_params_max": int(apx_n["params"].max()),
    "apx_n_max": int(apx_n["n"].max()),
    "apx_inf_f2": float(apx_n["inf f2"].iloc[0]),
    "apx_n_big": cfg["apx_n_big"],
    "apx_floor": M_floor_L2[(cfg["apx_n_big"], cfg["apx_M_big"])],
    "apx_M_floor_ratio": M_floor[cfg["apx_n_big"]],
    "apx_M_big": cfg["apx_M_big"],
}.items():
    glue(k_, v, display=False)
SUMMARY_BOUND = (
    "summary: 'there exists a SignReLU network with depth 7, width O(n+9), and parameter norm "
    "M > 0, achieving approximation error O(M^{-1}n^{-1/2-3d/2})' (exponents look garbled; "
    "n^-2 at d = 1)"
)
ledger.record(
    "E1.5a",
    kind="derived",
    paper=PAPER,
    claim=f"An explicit SignReLU network (hinge approximants of f1, f2 with n units each, a clipping layer, the exact division; depth 5, width 2n) approximates the posterior-mean ratio f1/f2 with L2(Omega) error falling like n^-2, the textbook rate of piecewise-linear interpolation of a C^2 function at large M (the least steep of the last local log-log slopes at t = {apx_t} and t = {apx_t2}, n = {min(cfg['apx_ns'])}..{max(cfg['apx_ns'])}, M = {cfg['apx_M_big']:.0e}; at most -1.8). Not a test of the summary's bound, an upper bound whose n we do not know",
    measured=rate_n if rate_n.value >= rate_n2.value else rate_n2,
    expect=at_most(-1.8),
    section="sec-approx",
    rtol=0.0,
    atol=0.05,
)
ledger.record(
    "E1.5b",
    kind="check",
    paper=PAPER,
    claim=f"The M-dependent part of the same network's error (L2(Omega) distance to the same network at M = 1e13) falls like M^-1 in the emulation parameter M at fixed n = {cfg['apx_n_big']} (last local log-log slope over M = {min(cfg['apx_Ms']):.0e}..{max(cfg['apx_Ms']):.0e}, where a/M is below the floor delta; at most -0.9). Built into the construction (E1.1d: the emulation error is a/M)",
    measured=rate_M,
    expect=at_most(-0.9),
    section="sec-approx",
    rtol=0.0,
    atol=0.05,
)
ledger.record(
    "E1.5n",
    kind="check",
    paper=PAPER,
    claim=f"The same on the reverse density's section (t = {apx_t2}, y0 the middle mode): the M-dependent part of the approximant's error falls like M^-1 at fixed n = {cfg['apx_n_big']} (last local log-log slope over M = {min(cfg['apx_Ms']):.0e}..{max(cfg['apx_Ms']):.0e}; at most -0.9). Built into the construction, whatever the target",
    measured=rate_M_rd,
    expect=at_most(-0.9),
    section="sec-approx",
    rtol=0.0,
    atol=0.05,
)
ledger.record(
    "E1.5e",
    kind="check",
    paper=PAPER,
    claim=f"The bearing of our construction on the summary's bound O(M^-1 n^-2) at d = 1: its error is a SUM of an n^-p and an M^-q term, not a product. On a {len(g_ns)} x {len(g_Ms)} grid of n in {cfg['apx_grid_ns']} and M from {min(cfg['apx_grid_Ms']):.0e} to {max(cfg['apx_grid_Ms']):.0e}, across the crossover n^-2 ~ 1/M (posterior mean, Omega of 3 sds, the network in exact arithmetic), both forms fitted by least squares in log error (sum C1 n^-p + C2 M^-q, 4 parameters; product C n^-p M^-q, 3 parameters): the product form's RMS log residual over the sum form's, at least 3 (fixed after a scratch run on this grid measured about 16, so a confirmation; deterministic numbers). A check: the construction guarantees a sum (interpolation error plus (a/M) sum|c_j|); at {g_flat_n} of {len(g_ns)} values of n (n <= {g_flat_max}) the slope in M is within 0.05 of 0 (the n term saturates the error there), and much of the product's loss comes from there. A literal product bound at fixed n with M -> inf would promise arbitrary accuracy at a fixed size. An upper bound of product form is not contradicted",
    measured=g_res_prod / g_res_sum,
    expect=at_least(3.0),
    section="sec-approx",
    rtol=0.1,
    atol=0.0,
)
ledger.record(
    "E1.5f",
    kind="derived",
    paper=PAPER,
    claim=f"The abstract's target, the conditional density as a ratio f1/f2: the same construction approximates the reverse density p(z_(t-1) = y0 | z_t = x) as a function of x (f1 = q(x | y0) p_(t-1)(y0), f2 = p_t(x); t = {apx_t2}, y0 the middle mode) with L2(Omega) error falling like n^-2 (last local log-log slope, n = {min(cfg['apx_ns'])}..{max(cfg['apx_ns'])}; at most -1.8). One 1-D section of the 2-D density",
    measured=rate_rd,
    expect=at_most(-1.8),
    section="sec-approx",
    rtol=0.0,
    atol=0.05,
)
ledger.record(
    "E1.5c",
    kind="paper",
    source="summary: 'maintain bounded approximation error even when the denominator function approaches zero'",
    paper=PAPER,
    claim=f"An explicit SignReLU network keeps its approximation error bounded as the denominator approaches zero: the sup error, where f2 < {TAIL_LEVEL:.0%} of its maximum, of the training-free ratio approximant of the posterior mean in exact arithmetic (the network's function, evaluated without its float round-off; the float64 network's round-off is E1.5j-k), at M = {cfg['apx_M_mid']:.0e} and a fixed knot spacing (n grows with |Omega|, from {int(apx_f['n'].iloc[0])} to {int(apx_f['n'].iloc[-1])}), with Omega widened from {min(cfg['apx_ks'])} to {max(cfg['apx_ks'])} component sds so that inf f2 falls {apx_f['inf f2'].iloc[0] / apx_f['inf f2'].iloc[-1]:.0f}-fold, grows with log-log slope at most 0.5 in 1/inf f2 (first to last point; a constant input error divided by f2 gives 1, a bounded error 0; the threshold, halfway, was set on an earlier version of this row; a referee's check of this tail measure at fixed spacing measured about 0.06 before this run). An existence statement: one network that does it supports it; a failure would speak to our construction only. Evidence on a finite range of inf f2, not as inf f2 -> 0, and for Gaussian-type tails (the route's error is the interpolation bubble times r'' + 2 r' f2'/f2, polynomial in x there)",
    measured=rate_f,
    expect=at_most(0.5),
    section="sec-approx",
    rtol=0.1,
    atol=0.02,
)
ledger.record(
    "E1.5m",
    kind="paper",
    source="summary: 'maintain bounded approximation error even when the denominator function approaches zero'",
    paper=PAPER,
    claim=f"The same on the paper's own ratio, on a section where it stays O(1) as f2 vanishes: the reverse density p(z_(t-1) = y(x) | z_t = x) along its mean y(x) = E[z_(t-1) | z_t = x] (t = {apx_t2}; f1 = q(x | y(x)) p_(t-1)(y(x)), f2 = p_t(x); there the ratio lies in [{rdm_r_min:.2f}, {rdm_r_max:.2f}] on the widest Omega, so the division of two vanishing approximants is what is tested, not a ratio that vanishes itself): the exact-arithmetic sup error where f2 < {TAIL_LEVEL:.0%} of its maximum, at the same fixed knot spacing and M, as inf f2 falls {apx_frd['inf f2'].iloc[0] / apx_frd['inf f2'].iloc[-1]:.0f}-fold, grows with log-log slope at most 0.5 in 1/inf f2 (threshold as E1.5c; one 1-D section, Gaussian-type tails)",
    measured=rate_frd,
    expect=at_most(0.5),
    section="sec-approx",
    rtol=0.1,
    atol=0.02,
)
ledger.record(
    "E1.5j",
    kind="derived",
    paper=PAPER,
    claim="What float64 adds (1): the division network's own round-off and weight rounding (the float64 division network fed the exact hinge outputs, minus their exact quotient; sup over Omega) stays within E1.1a's round-off scale eps_mach 9/delta^2 of the normalised division with floor delta = min f2/2, at every point of the two decomposed inf f2 sweeps (posterior mean and reverse density) (largest ratio; at most 1, E1.1a's criterion, fixed before this sweep). Since delta follows inf f2, this term grows like (inf f2)^-2",
    measured=ro_div,
    expect=at_most(1.0),
    section="sec-approx",
    rtol=0.5,
    atol=0.0,
)
ledger.record(
    "E1.5k",
    kind="derived",
    paper=PAPER,
    claim="What float64 adds (2): the hinge layer's round-off (its float64 outputs against the exact ones, carried through an exact division; sup over Omega) follows the conditioning prediction eps_mach (m1 + |q| m2)/h2 of the section on conditioning, with m the size of the terms the hinge layer sums and q = h1/h2, within a factor 10 either way (E1.6b's band, fixed before this sweep), at every point of the two decomposed inf f2 sweeps (posterior mean and reverse density) (largest of measured/predicted and its inverse)",
    measured=ro_hinge,
    expect=at_most(10.0),
    section="sec-approx",
    rtol=0.25,
    atol=0.0,
)
ledger.record(
    "E1.5i",
    kind="question",
    paper=PAPER,
    claim=f"Is a plain ReLU network of equal parameter count more accurate than the SignReLU ratio approximant on this 1-D target at every size? The free-knot ReLU interpolant of f1/f2 itself (knots equidistributing |(f1/f2)''|^(1/2); not a traditional division of approximants of f1 and f2) against the SignReLU ratio approximant with the same number of non-zero parameters: the smallest, over n in {cfg['apx_ns']}, of the approximant's L2 error over the ReLU's (at least 1: the ReLU rival is more accurate at every n; 'supported' means the ReLU rival wins)",
    measured=float((apx_n["L2"] / apx_n["ReLU L2"]).min()),
    expect=at_least(1.0),
    section="sec-approx",
    rtol=0.05,
    atol=0.0,
)
ledger.record(
    "E1.5d",
    kind="derived",
    paper=PAPER,
    claim=f"What the ratio route alone costs on the posterior mean: at equal knots (the same n + 1 uniform knots) the SignReLU ratio approximant's L2 error over that of the SignReLU hinge interpolant of f1/f2 itself, at the largest n = {max(cfg['apx_ns'])}, divided by its leading-order prediction ||(f1'' - r f2'')/f2|| / ||r''|| on Omega (= {route_pred:.3f}; both errors are the interpolation bubble times these second derivatives); within 10% of 1 (fixed before the run; the earlier criterion, at most 2, was set after the ratios had been seen)",
    measured=float(route_uniform.iloc[-1]) / route_pred,
    expect=close_to(1.0, 0.1),
    section="sec-approx",
    rtol=0.02,
    atol=0.0,
)
ledger.record(
    "E1.5g",
    kind="question",
    paper=PAPER,
    claim="With free knots placed for f1/f2 (equidistributing |(f1/f2)''|^(1/2), the ReLU rival's placement), does the ratio route still cost less than a factor 2 against the direct interpolant on the same knots? (largest L2 error ratio over n). A placement chosen for f1 and f2 is not built",
    measured=float(route_free.max()),
    expect=at_most(2.0),
    section="sec-approx",
    rtol=0.05,
    atol=0.0,
)
for k_, v in {
    "apx_t2": apx_t2,
    "apx_rate_n2": rate_n2.value,
    "apx_rate_rd": rate_rd.value,
    "route_u_min": float(route_uniform.min()),
    "route_u_max": float(route_uniform.max()),
    "route_pred": route_pred,
    "route_last": float(route_uniform.iloc[-1]),
    "route_f_min": float(route_free.min()),
    "route_f_max": float(route_free.max()),
    "count_place_min": float(count_place.min()),
    "count_place_max": float(count_place.max()),
    "apx_n_small_max": int(max(cfg["apx_ns"])),
}.items():
    glue(k_, v, display=False)
dec

# %% [markdown]
# The table compares, at each $n$, the ratio approximant and the SignReLU hinge interpolant of
# $f_1/f_2$ itself on the same knots (uniform, and free knots placed for $f_1/f_2$), the
# equal-parameter ReLU interpolant, and the ratio approximant on two more targets.
#
# The explicit SignReLU network reaches the posterior mean with $L^2$ error falling with last
# local slope {glue:text}`apx_rate_n:.3f` in $n$ at $t=${glue:text}`apx_t` and
# {glue:text}`apx_rate_n2:.3f` at $t=${glue:text}`apx_t2` (E1.5a; the slope moved by
# {glue:text}`apx_rate_n_err:.3f` from the previous pair), the textbook $n^{-2}$ of
# piecewise-linear interpolation. On the abstract's target, the conditional density (one
# section of the reverse density), the slope is {glue:text}`apx_rate_rd:.3f` (E1.5f). The part
# of the error that depends on $M$ (the distance to the same network at $M=10^{13}$) falls with
# slope {glue:text}`apx_rate_M:.3f` in $M$ (E1.5b, a check: the emulation error $a/M$ builds it
# in; {glue:text}`apx_rate_M_rd:.3f` on the reverse density's section, E1.5n); at $n=${glue:text}`apx_n_big` it is at most {glue:text}`apx_M_part_max:.1e`, against a
# total error of {glue:text}`apx_floor:.1e` at large $M$, so the error itself changes little over
# the sweep. Neither
# tests the summary's bound. What bears on it is how the two terms combine: they **add**. At
# $n=${glue:text}`apx_n_big` the error is {glue:text}`apx_floor:.2e` at
# $M=${glue:text}`apx_M_big:.0e`, and ten times that $M$ divides it only by
# {glue:text}`apx_M_floor_ratio:.3f`, where a literal product $M^{-1}n^{-2}$ predicts 10. Across
# the crossover $n^{-2}\approx1/M$, where a sum and a product differ in shape, the second table
# below gives the error (in exact arithmetic) on a grid of $n$ from {glue:text}`grid_n_min` to
# {glue:text}`grid_n_max` and $M$ from $10^3$ to $10^8$, on $\Omega$ of 3 sds (where $a/M$ stays
# below the floor $\delta$ down to $M=10^3$). A product form $Cn^{-p}M^{-q}$ has the same
# log-log slope in $M$ at every $n$; the measured slope goes from {glue:text}`grid_slope_first:.3f`
# at the smallest $n$ to {glue:text}`grid_slope_last:.2f` (fit interval
# {glue:text}`grid_slope_last_lo:.2f` to {glue:text}`grid_slope_last_hi:.2f`) at the largest.
# Fitted by least squares in $\log$ error, the sum $C_1n^{-p}+C_2M^{-q}$ leaves an RMS residual of
# {glue:text}`grid_res_sum:.3f` (in $\ln$ units; $p=${glue:text}`grid_p:.2f`,
# $q=${glue:text}`grid_q:.2f`, the construction's 2 and 1), the best product
# {glue:text}`grid_res_prod:.2f` ($p=${glue:text}`grid_prod_p:.2f`,
# $q=${glue:text}`grid_prod_q:.2f`), {glue:text}`grid_res_ratio:.0f` times more (E1.5e). An *upper
# bound* of product form is not contradicted by this. Whether the paper's network differs, or the
# summary garbled the form, we cannot tell, so the summary's bound gets no verdict here.
#
# **Near vanishing denominators, in exact arithmetic.** The summary's statement is about the
# function a network computes, so E1.5c measures the approximant's function evaluated as in exact
# arithmetic (`companion.signrelu.ratio_approximant_exact`: the hinge outputs written without the
# hinge layer's cancellation, the clipping layer in closed form, and the division that the
# division network computes exactly by construction; in float64 it matches that division to
# within E1.1a's round-off scale). Widening $\Omega$ makes $\inf_\Omega f_2$ fall
# {glue:text}`apx_f_fall:.0f`-fold (to {glue:text}`apx_f_inf_min:.1e`). Two things must be held
# apart. The sup error over all of $\Omega$ ({glue:text}`apx_f_sup_first:.2e` to
# {glue:text}`apx_f_sup_last:.2e`) sits in the bulk, where $f_1/f_2$ bends, not in the tails;
# and at a fixed $n$ a wider $\Omega$ spreads the same knots further apart, which alone raises
# it (a referee's check found the earlier fixed-$n$ sweep's growth to be exactly that). So the sweep keeps the knot spacing fixed ($n$ grows with $|\Omega|$, from
# {glue:text}`apx_f_n_first` to {glue:text}`apx_f_n_last`) and measures the sup error **where
# $f_2$ is small**, below 1% of its maximum: it grows from {glue:text}`apx_f_tail_first:.1e` to
# {glue:text}`apx_f_tail_last:.1e`, {glue:text}`apx_f_grow:.2f`-fold, a log-log slope of
# {glue:text}`apx_rate_f:.2f` in $1/\inf f_2$ (E1.5c; 1 would be a constant input error divided
# by $f_2$). On the reverse density, the paper's own $f_1/f_2$, a section at a fixed $z_{t-1}$
# would be no test: there the ratio itself vanishes with $f_2$, and so does any error. E1.5m
# takes the section along the reverse mean, $z_{t-1}=E[z_{t-1}\mid z_t=x]$, where the ratio stays
# between {glue:text}`rdm_r_min:.2f` and {glue:text}`rdm_r_max:.2f` on the widest $\Omega$ (nearly
# flat: the division of two vanishing approximants is what is tested); its tail error grows
# {glue:text}`apx_frd_grow:.2f`-fold while $\inf f_2$ falls {glue:text}`apx_frd_fall:.0f`-fold
# (slope {glue:text}`apx_rate_frd:.2f`, to {glue:text}`apx_frd_tail_last:.1e`). The error stays
# nearly bounded, as the summary's "bounded approximation error even when the denominator
# function approaches zero" says, on this range, for this construction and for these
# Gaussian-type tails: the route's error is the interpolation bubble times
# $(f_1''-rf_2'')/f_2=r''+2r'f_2'/f_2$ (E1.5d), which grows only polynomially in $x$ where
# $\log f_2$ is quadratic; a heavier- or lighter-tailed $f_2$ is not tested.
#
# **What float64 adds.** The float64 network is not that function: it adds its round-off. Its sup
# error grows with log-log slope {glue:text}`apx_rate_f64:.2f` over the same sweep, reaching
# {glue:text}`apx_f_sup64_last:.1e` against {glue:text}`apx_f_exact_last:.1e` in exact
# arithmetic at the smallest $\inf f_2$: {glue:text}`f64_text`. The first table below splits the
# round-off. (i) The division network's own round-off and weight rounding (the float64 division
# network fed the exact hinge outputs) grows from {glue:text}`apx_f_div_first:.1e` to
# {glue:text}`apx_f_div_last:.1e` as its floor $\delta=\min f_2/2$ falls to
# {glue:text}`apx_f_delta_last:.1e` (log-log slope {glue:text}`div_slope:.2f` in $1/\delta$,
# about $\delta^{-2}$), and within E1.1a's round-off scale
# $9\epsilon_{\rm mach}/\delta^2$ (at most {glue:text}`ro_div:.2f` of it over both decomposed sweeps,
# E1.5j). (ii) The hinge layer sums terms far larger than $f_2$ in the tails, so its round-off,
# divided by $f_2$, grows like $1/\inf f_2$; it is {glue:text}`ro_hinge_min:.2f` to
# {glue:text}`ro_hinge_max:.2f` times the conditioning prediction
# $\epsilon_{\rm mach}(m_1+|q|m_2)/h_2$ of {ref}`sec-conditioning` ($m$: the size of the summed
# terms; E1.5k), and at most {glue:text}`apx_f_hinge_last:.1e` here. The division's term
# dominates: once $\delta$ is small enough for $9\epsilon_{\rm mach}/\delta^2$ to pass the
# approximation error (which falls like $n^{-2}$, so a larger $n$ meets it sooner), the float64
# error is round-off. So in finite precision this construction's error is **not** bounded as
# $\inf f_2\to0$: it is the bounded approximation error plus a round-off of order
# $\epsilon_{\rm mach}/(\inf f_2)^2$, a cost of its $9/\delta$ weights (E1.1c), not of SignReLU
# and not of the problem, whose own conditioning is $1/\inf f_2$.

# %% tags=["hide-input"]
apx_fall[
    [
        "sweep",
        "k",
        "n",
        "M",
        "inf f2",
        "delta",
        "sup exact",
        "sup tail exact",
        "sup",
        "division round-off",
        "division bound",
        "hinge round-off",
        "hinge predicted",
    ]
].rename(columns={"sup": "sup float64"})

# %% [markdown]
# The two decomposed inf $f_2$ sweeps at a fixed knot spacing (posterior mean, and reverse density
# along its mean): the sup error of the approximant in exact arithmetic (over $\Omega$, and where
# $f_2<1\%\max f_2$) and as a float64 network, the division network's own round-off against $9\epsilon_{\rm mach}/\delta^2$, and the
# hinge layer's round-off (through an exact division) against its conditioning prediction.

# %% tags=["hide-input"]
grid_tab

# %% [markdown]
# The $L^2(\Omega)$ error in exact arithmetic on the $(n, M)$ grid (posterior mean, $\Omega$ of 3
# sds), with the log-log slope in $M$ at each $n$ and its fit interval over the
# {glue:text}`grid_n_M` values of $M$ (deterministic numbers: the interval measures the curvature,
# not noise).
#
# The network has depth {glue:text}`apx_depth` and width
# $2n$ (up to {glue:text}`apx_params_max` non-zero parameters here); nothing here measures how
# it relates to the summary's "depth 7, width O(n+9)".
#
# **What the ratio route costs.** At equal knots (the same uniform knots) the ratio approximant's
# error is {glue:text}`route_u_min:.2f` to {glue:text}`route_u_max:.2f` times that of the
# SignReLU interpolant of $f_1/f_2$ itself: the route alone costs less than a factor 2. At
# leading order both errors are the same interpolation bubble times a second derivative,
# $(f_1''-rf_2'')/f_2$ for the route and $r''$ for the direct interpolant, which predicts the
# ratio $\|(f_1''-rf_2'')/f_2\|/\|r''\|=${glue:text}`route_pred:.3f` on $\Omega$; at
# $n=${glue:text}`apx_n_small_max` it is {glue:text}`route_last:.3f` (E1.5d).
# **Against a plain ReLU network of equal size** the ratio route loses: the free-knot ReLU
# interpolant of $f_1/f_2$ itself, with the same number of parameters, is
# {glue:text}`apx_relu_adv_min:.0f` to {glue:text}`apx_relu_adv_max:.0f` times more accurate in
# $L^2$ at every $n$ (E1.5i, a question of ours). Most of that gap is knot count and placement:
# that rival gets $(p-1)/3$ free knots for the approximant's $p$ parameters, and the uniform
# direct interpolant is {glue:text}`count_place_min:.2g` to {glue:text}`count_place_max:.2g`
# times less accurate than it. On this 1-D target the ratio route buys nothing over emulating a
# ReLU interpolant of $f_1/f_2$ directly. With free knots placed for $f_1/f_2$ the route costs
# far more ({glue:text}`route_f_min:.2g` to {glue:text}`route_f_max:.3g` times, E1.5g, a
# question); a plausible reason, not isolated here, is that knots suited to the ratio leave $f_1$
# and $f_2$ coarse where $f_2$ is small. A placement chosen for the route itself is not built.

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
# the bulk. `sup_low` is the sup error where $f_2<0.05\max f_2$. The modular route fits
# $\log f_1$ and $\log f_2$ (shifted and scaled), a **relative** error: {ref}`sec-conditioning`
# shows that the division turns input errors into $(|e_1|+|r||e_2|)/f_2$, so a plain squared
# error, which barely weighs the region where $f_2$ is small, is the wrong loss for it. All fits
# are Adam on minibatches of 256 points of a fixed training grid, so the slopes are **achieved
# rates** (training error included), not the approximation-theoretic rates of the paper: both
# claims of this section are our questions, and E1.6 replaces this trained contest as the test
# of stability near vanishing denominators.
#
# **This section runs in the `full` profile only** ({glue:text}`fit_plan`). An answer we would
# read needs 5 seeds and 5 widths (the minimum the ledger sets for a verdict), which does not fit
# the `ci` profile's 90-second budget; its questions and figure stand in the `full` column of the
# {ref}`claims dashboard <claims-dashboard>`. Whether the fits converge is measured there, not
# assumed: every fit reports the ratio of its mean loss over the last tenth of the steps to that
# of the tenth before, and the questions state how many fits have plateaued (ratio at least
# 0.98, the criterion of E1.4). The training grid and the evaluation grid cover the same $\Omega$ (interleaved points),
# and the modular route's shift, cap and floor come from the training grid only.


# %% tags=["hide-input"]
def omega(t):
    m = chain50.marginal(p0, t)
    sd = m.variances[:, 0].sqrt()
    return float((m.means[:, 0] - 4 * sd).min()), float((m.means[:, 0] + 4 * sd).max())


decidable = len(cfg["fit_seeds"]) >= 5 and len(cfg["fit_widths"]) >= 5
glue(
    "fit_plan",
    f"this run: {len(cfg['fit_seeds'])} seed(s), widths {cfg['fit_widths']}, {cfg['fit_steps']} steps"
    + ("" if decidable else ", so nothing is trained here"),
    display=False,
)
fits = pd.DataFrame()
if decidable:  # the full profile: 5 seeds, 5 widths
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
            weighting="relative",
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
        weighting="relative",
    ):
        fit_rows.append({"target": f"reverse density, t={t_d}", **r})
    fits = pd.DataFrame(fit_rows)
    fits["label"] = fits["method"] + " " + fits["activation"]
summary = (
    fits.groupby(["target", "label", "width"])[
        ["n_params", "L1", "L2", "sup", "sup_low", "plateau"]
    ].mean()
    if decidable
    else pd.DataFrame()
)
summary


# %% tags=["hide-input"]
slopes = {}
if decidable:
    targets = list(fits["target"].unique())
    labels = ["direct signrelu", "direct relu", "direct tanh", "modular signrelu"]
    lcols = method_colors(labels)
    fig, axes = figure(len(targets), height=2.8)
    axes = np.atleast_1d(axes)
    for ax, tg in zip(axes, targets, strict=True):
        for lab in labels:
            g = fits[(fits["target"] == tg) & (fits["label"] == lab)]
            by_w = g.pivot_table(index="width", columns="seed", values=["n_params", "L2"])
            n_par, err = by_w["n_params"].mean(axis=1), by_w["L2"].mean(axis=1)
            bar = stats.mean_t_halfwidth(by_w["L2"].to_numpy(), axis=1)[1]
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
        ax.set(
            xscale="log",
            yscale="log",
            xlabel="number of parameters",
            ylabel=r"$L^2(\Omega)$ error",
            title=tg,
        )
        ax.xaxis.set_minor_formatter(NullFormatter())  # after xscale, which resets it
        ax.legend(fontsize=6)
    plt.show()
pd.DataFrame(
    [
        {"target": tg, "method": lab, "slope": f.slope, "95% fit half-width": f.ci95, "points": f.n}
        for (tg, lab), f in slopes.items()
    ]
)

# %% [markdown]
# **Figure (`full` profile only; in the `ci` build the cell above draws nothing).** $L^2(\Omega)$
# error (uniform weight; mean over seeds, with
# 95% t half-widths) against parameter count, for direct fits with three activations and for the
# modular SignReLU fit of $\log f_1,\log f_2$ (dashed), on each ratio target. Legends give the
# fitted log-log slopes; the table lists their 95% fit intervals and the number of points. Look
# at the modular curve: it counts the parameters of both networks and the division network, and
# it carries the relative errors of the two density fits, which the division turns into absolute
# errors of the ratio of the size of the conditioning bound.

# %% tags=["hide-input"]
if decidable:  # the full profile: 5 seeds, 5 widths; the ci run trains nothing here
    tg0 = targets[0]
    sr_fit = slopes[(tg0, "direct signrelu")]
    last_w = max(cfg["fit_widths"])
    low = fits[fits["width"] == last_w].pivot_table(
        index=["seed", "target"], columns="label", values="sup_low"
    )
    log_ratio = np.log10(low["modular signrelu"] / low["direct signrelu"]).groupby("seed").max()
    n_plateau = int((fits["plateau"] >= 0.98).sum())
    conv = f"{n_plateau} of {len(fits)} fits have plateaued (last-tenth loss ratio >= 0.98)"
    ledger.record(
        "E1.2a",
        kind="question",
        paper=PAPER,
        claim=f"Does a directly trained SignReLU MLP improve with size on a DDPM ratio target at our training budget ({cfg['fit_steps']} Adam steps; {conv})? ({tg0}; log-log slope of the seed-mean L2 error against parameters, <= -0.5 means it improves at least like size^-1/2)",
        measured=sr_fit.slope_interval,
        expect=at_most(-0.5),
        section="sec-targets",
        rtol=0.0,
        atol=0.2,
    )
    ledger.record(
        "E1.2b",
        kind="question",
        paper=PAPER,
        claim=f"Where f2 is small, is the modular route with relative weighting (log f1 and log f2 fitted, then the exact division network; shift, cap and floor from the training data) at least as accurate as a direct SignReLU fit? (t-interval over {len(cfg['fit_seeds'])} seeds of log10 of the sup-error ratio modular/direct on f2 < 0.05 max f2, worst target, largest width; <= 0 means yes; the modular side has about twice the parameters; {conv})",
        measured=stats.t_interval(log_ratio.to_numpy()),
        expect=at_most(0.0),
        section="sec-targets",
        rtol=0.0,
        atol=0.5,
    )
    e12_text = (
        f"In this run the direct SignReLU fit of the first target has an achieved L2 slope of "
        f"{sr_fit.slope:.2f} ± {sr_fit.ci95:.2f} against parameter count (95% fit interval over "
        f"{sr_fit.n} widths and {len(cfg['fit_seeds'])} seeds; E1.2a). In the low-density region "
        f"the modular route's sup error is about {10 ** float(log_ratio.mean()):.3g} times that of "
        f"the direct SignReLU fit at the largest width (worst target, seed mean; E1.2b). {conv}."
    )
else:
    e12_text = (
        "This run trains nothing here, so E1.2a and E1.2b are not recorded in it; the full "
        "profile records them."
    )
    if "E1.2a" in FULL_REF:
        import re

        _plat = re.search(r"(\d+) of (\d+) fits have plateaued", FULL_REF["E1.2a"]["claim"])
        e12_text += f" There {full_says('E1.2a')}, and {full_says('E1.2b')}" + (
            f"; there only {_plat.group(1)} of {_plat.group(2)} fits have plateaued (the "
            "others were still improving when training stopped), so the answers are about "
            "training at that budget."
            if _plat
            else "."
        )
glue("e12_text", e12_text, display=False)

# %% [markdown]
# {glue:text}`e12_text` Both rows are questions about trained networks at one budget, not tests
# of the paper's approximation statements (those are E1.5, without training) nor of its
# stability statement (E1.6, without training).

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
    claim=f"Per-step kernel KLs from our telescoping identity equal independent 2-D quadratures of the per-step KL within the quadrature's own error estimate (largest relative difference at three steps; criterion three times the largest relative change when both grids are halved, {quad_rel_err:.1e})",
    measured=tele_err,
    expect=at_most(3 * quad_rel_err),
    section="sec-plugin",
    rtol=1.0,
    atol=quad_rel_err,
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
        # the two terminal terms of the telescoped path KL (Figure: path vs output KL)
        row["KL(p_T||N(0,1))"] = pk.terminal
        row["KL(p_T||hat p_T)"] = R.marginal_kl(
            chainK.marginal(p0, chainK.T), chainK.marginal(ph, chainK.T), 4001
        ).value
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
glue("kl_terminal_max", float(kl["KL(p_T||N(0,1))"].max()), display=False)
glue("kl_terminal_hat_max", float(kl["KL(p_T||hat p_T)"].abs().max()), display=False)
glue("kl_out_min", float(kl["ratio output"].min()), display=False)
glue(
    "kl_path_out_gap",
    float(((kl["ratio path"] - kl["ratio output"]).abs() / kl["ratio output"]).max()),
    display=False,
)
kl.groupby("n").mean().drop(columns="rep")

# %% tags=["hide-input"]
T_rows, est_chk = [], {}
n_T = 256
y_T = p0.sample(n_T, gen)
ph_T = R.kde_mixture(y_T, R.kde_bandwidth(n_T))
q_fine, q_coarse, q_cc = cfg["quad_points"], cfg["quad_points"] // 2, 3 * cfg["quad_points"] // 4
for T in cfg["Ts"]:
    ch = VPChain.fixed_total(T)
    pk = R.kernel_ratio_path_kl(p0, ph_T, ch, per_step=False)
    pq = R.kernel_ratio_path_kl_quadrature(p0, ph_T, ch, q_fine, q_fine)
    pq_c = R.kernel_ratio_path_kl_quadrature(p0, ph_T, ch, q_coarse, q_coarse)
    pq_cc = R.kernel_ratio_path_kl_quadrature(p0, ph_T, ch, q_cc, q_cc)
    gk = R.gaussian_kernel_path_kl(p0, ph_T.denoise, ch, q_fine, q_fine, 1500)
    gx = R.gaussian_kernel_path_kl(p0, p0.denoise, ch, q_fine, q_fine, 1500)
    est_chk[T] = (gk.total - gx.total, R.gaussian_estimation_kl(p0, ph_T, ch, 1001), gk, gx)
    T_rows.append(
        {
            "T": T,
            "ratio path": pq.value,
            "ratio path, coarse grid": pq_c.value,
            "ratio path, middle grid": pq_cc.value,
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
for key in [k for k in Tdf.columns if "identity" not in k and "grid" not in k]:
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
# Gaussian-kernel path KL. The exact-ratio path and output KLs nearly coincide (relative
# difference at most {glue:text}`kl_path_out_gap:.1e` over the $n$ sweep): there
# the terminal terms $\mathrm{KL}(p_T\|\mathcal N(0,1))$ and $\mathrm{KL}(p_T\|\hat p_T)$ are at
# most {glue:text}`kl_terminal_max:.1e` and {glue:text}`kl_terminal_hat_max:.1e` nats, against
# output KLs of at least {glue:text}`kl_out_min:.1e`, so both are close to
# $\mathrm{KL}(p_0\|\hat p_0)$. The Gaussian-kernel series on the left is evaluated at few
# sample sizes and replicates only; its error bars are not meaningful where it has two.

# %%
spread = float(Tdf["ratio path"].max() / Tdf["ratio path"].min() - 1)
spread_c = float(Tdf["ratio path, coarse grid"].max() / Tdf["ratio path, coarse grid"].min() - 1)
spread_cc = float(Tdf["ratio path, middle grid"].max() / Tdf["ratio path, middle grid"].min() - 1)
spread_iv = stats.refinement(
    spread_c, spread_cc, spread, note=f"{q_coarse}, {q_cc} and {q_fine} nodes per axis"
)
assert spread < spread_cc < spread_c, (
    "the T spread does not shrink under grid refinement: not quadrature error"
)
id_gap = float(((Tdf["ratio path"] - Tdf["ratio path (identity)"]).abs() / Tdf["ratio path"]).max())
g_fit = stats.asymptotic_slope(
    Tdf.index.to_numpy(dtype=float), Tdf["gaussian path, exact mean"].to_numpy()
)
# the quadrature error (halving both grids) of the last two values can tilt the slope this much
g_rel = [est_chk[T_][3].error / est_chk[T_][3].total for T_ in sorted(est_chk)[-2:]]
g_tilt = float(sum(g_rel) / math.log(sorted(est_chk)[-1] / sorted(est_chk)[-2]))
g_slope = stats.Interval(
    g_fit.value,
    g_fit.value - g_fit.half_width - g_tilt,
    g_fit.value + g_fit.half_width + g_tilt,
    "refinement",
    2,
    "last local slope; error: change from the previous pair plus the quadrature tilt",
)
glue("g_T_tilt", g_tilt, display=False)
growth = {"log T": math.log(max(cfg["Ts"])) / math.log(min(cfg["Ts"])) - 1}
for k, v in {
    "ratio_T_spread": spread,
    "ratio_T_spread_c": spread_c,
    "ratio_T_spread_err": spread_iv.half_width,
    "ratio_T_id_gap": id_gap,
    "logT_spread": growth["log T"],
    "g_T_slope": g_fit.value,
    "g_T_slope_ci": g_fit.half_width,
    "g_T_step_slope": g_fit.value - 1,
    "q_fine": q_fine,
    "q_coarse": q_coarse,
    "q_cc": q_cc,
    "ratio_T_spread_cc": spread_cc,
}.items():
    glue(k, v, display=False)
# A heuristic log correction (ours): to second order the KL integrand is (bias^2 + var)/(2 p0);
# the variance part is about R(K)/(2nh) per unit length where n h p0 >~ 1, a region whose length
# grows like sqrt(log(nh)) for Gaussian tails. If the variance part dominated, the slope over the
# measured n range would be -4/5 plus this much; the bias part (pure n^-4/5) pulls it back.
n_lo, n_hi = min(cfg["ns"]), max(cfg["ns"])
nh_lo, nh_hi = n_lo * R.kde_bandwidth(n_lo), n_hi * R.kde_bandwidth(n_hi)
log_corr = 0.5 * math.log(math.log(nh_hi) / math.log(nh_lo)) / math.log(n_hi / n_lo)
# the band: between the bias-dominated -4/5 and the variance-dominated -4/5 + log_corr (a
# heuristic introduced after earlier runs had measured the slope, hence a question)
E13A_LO, E13A_HI = -0.8, -0.8 + log_corr
e13a_margin = min(abs(n_fit.slope - E13A_LO), abs(n_fit.slope - E13A_HI))
ledger.record(
    "E1.3a",
    kind="question",
    paper=PAPER,
    claim=f"Does the output KL of the kernel plug-in ratio estimator (ours, h = 0.5 n^-1/5) fall at the rate of a Gaussian KDE, n^-4/5 up to a logarithmic correction? Its log-log slope over all replicates (n = {n_lo}..{n_hi}) against the band from -4/5 (the bias term dominates) to -4/5 + {log_corr:.3f} (the variance term dominates, with the sqrt(log(nh)) growth of the region where n h p0 >~ 1). The band's upper edge is a heuristic of ours, not derived, introduced after earlier runs had measured the slope; when the fit interval is wider than the band, this profile cannot return 'supported'. A rate of the KDE, not of the paper's SignReLU estimator",
    measured=n_fit.slope_interval,
    expect=in_range(E13A_LO, E13A_HI),
    section="sec-plugin",
    rtol=0.0,
    atol=0.25 * e13a_margin,  # a quarter of the distance to the criterion's nearer boundary
)
e13a_lo, e13a_hi = n_fit.slope_interval.low, n_fit.slope_interval.high
glue("n_slope_lo", float(e13a_lo), display=False)
glue("n_slope_hi", float(e13a_hi), display=False)
glue("n_log_corr", float(log_corr), display=False)
glue("n_slope_corr", float(E13A_HI), display=False)
glue("n_slope_margin", float(e13a_margin), display=False)
glue("n_slope_width", float(e13a_hi - e13a_lo), display=False)
glue("n_23_gap", float(-2 / 3 - E13A_HI), display=False)
glue("n_slope_tol", float(0.25 * e13a_margin), display=False)
glue(
    "n_slope_23",
    "contains -2/3 as well" if e13a_lo <= -2 / 3 <= e13a_hi else "excludes -2/3",
    display=False,
)


def e13a_reading(value, low, high, band_hi):
    """What an interval for E1.3a's slope says about pure -4/5 and the log-corrected band."""
    four_fifths = "excludes pure -4/5" if low > -0.8 or high < -0.8 else "contains -4/5"
    edge = (
        f"its point estimate lies above the band's upper edge ({band_hi:.3f}), so the "
        "logarithmic correction does not explain it and our explanation is not confirmed"
        if value > band_hi
        else f"its point estimate lies within the band (upper edge {band_hi:.3f})"
    )
    return f"{four_fifths}; {edge}"


if profile == "full":
    e13a_full = "This run's interval " + e13a_reading(n_fit.slope, e13a_lo, e13a_hi, E13A_HI)
elif "E1.3a" in FULL_REF:
    _c = FULL_REF["E1.3a"]
    e13a_full = (
        f"At paper scale (n up to 4096) {full_says('E1.3a')}: that interval "
        + e13a_reading(_c["measured"], *_c["interval"], _c["criterion"]["params"]["high"])
    )
else:
    e13a_full = "No paper-scale reference is recorded"
glue("e13a_full", e13a_full, display=False)
glue(
    "n_slope_where",
    "lies inside the band"
    if E13A_LO <= e13a_lo and e13a_hi <= E13A_HI
    else "is not inside the band (it reaches beyond "
    + ("both edges" if e13a_lo < E13A_LO and e13a_hi > E13A_HI else "one edge")
    + "), so this run cannot decide",
    display=False,
)
ledger.record(
    "E1.3c",
    kind="check",
    paper=PAPER,
    claim=f"Our telescoping identity holds numerically: the path KL of the exact kernel-ratio estimator, summed from per-step 2-D quadratures, does not change with T at fixed total noise (relative spread over T in {cfg['Ts']}, with its numerical error from three quadrature grids; growth like log T alone would give {growth['log T']:.2f}). An upper bound with a factor T is not in tension with this",
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
    claim=f"Does the path KL of Gaussian reverse kernels with the exact posterior mean (the pure discretisation error of the practical DDPM, not an estimator) fall like 1/T at fixed total noise, as per-step KLs of order beta^2 predict? (last local log-log slope over T in {cfg['Ts']}, within 0.25 of -1, a band set with an earlier ci slope of -0.80 known, so not blind; error: change from the previous pair plus the tilt the quadrature's halving error can cause)",
    measured=g_slope,
    expect=close_to(-1.0, 0.25),
    section="sec-plugin",
    rtol=0.0,
    atol=0.1,
)
if profile == "full":
    e13d_full = "this is the paper-scale sweep"
else:
    e13d_full = full_says("E1.3d")
    _c = FULL_REF.get("E1.3d")
    if _c is not None:
        e13d_full += " over its longer T sweep"
    if _c is not None and abs(_c["measured"] + 1) <= 0.25 and g_slope.value > _c["measured"]:
        e13d_full += ": steeper than here, so this shorter sweep is pre-asymptotic"
glue("e13d_full", e13d_full, display=False)
glue("T_max_ci", int(max(cfg["Ts"])), display=False)

# %% [markdown]
# The output KL of the kernel-ratio estimator has slope {glue:text}`n_slope:.3f` in $n$ (95% fit
# interval [{glue:text}`n_slope_lo:.3f`, {glue:text}`n_slope_hi:.3f`] over
# {glue:text}`n_slope_pts` replicate values; E1.3a). The theory's exponent is $-4/5$, the rate of
# the KDE's integrated squared error with this bandwidth. The KL weights the squared error by
# $1/p_0$, so the tails count: to second order its integrand is $(\text{bias}^2+\text{var})/(2p_0)$,
# and the variance part, about $R(K)/(2nh)$ per unit length where $nhp_0\gtrsim1$, is integrated
# over a region whose length grows like $\sqrt{\log(nh)}$ for Gaussian tails. That would move the
# slope over this range of $n$ by +{glue:text}`n_log_corr:.3f` if the variance part dominated,
# and by nothing if the bias part did; we did not derive the split. E1.3a therefore asks a
# question against the band from $-4/5$ to {glue:text}`n_slope_corr:.3f`: a heuristic we
# introduced after earlier runs had measured the slope, not a criterion fixed blind. The fit
# interval (width {glue:text}`n_slope_width:.2f`) is wider than the band (width
# {glue:text}`n_log_corr:.2f`) here, so this profile cannot place it inside; the measured
# interval {glue:text}`n_slope_where`. Our explanation of a slope above $-4/5$ is
# this logarithmic correction from the KL's $1/p_0$ weighting (an explanation, not a
# derivation). The interval {glue:text}`n_slope_23`; $-2/3$ lies only
# {glue:text}`n_23_gap:.3f` above the band's upper edge, so an interval as wide as this one
# cannot tell the two exponents apart. {glue:text}`e13a_full`. The regression tolerance is a quarter of the
# slope's distance to the nearer edge of the band ({glue:text}`n_slope_tol:.3f`). The `full`
# profile extends $n$ to 4096. This is a rate of a Gaussian KDE on our mixture with our bandwidth
# constant, not of the paper's SignReLU estimator, whose rate we could not read.
#
# Over the $T$ sweep the exact-ratio path KL, summed from per-step 2-D quadratures, changes by a
# relative {glue:text}`ratio_T_spread:.1e` on {glue:text}`q_fine` nodes per axis,
# {glue:text}`ratio_T_spread_cc:.1e` on {glue:text}`q_cc` and {glue:text}`ratio_T_spread_c:.1e`
# on {glue:text}`q_coarse`: the spread shrinks as the grid is refined, so it is quadrature error, far
# below the {glue:text}`logT_spread:.2f` that growth like $\log T$ alone would give (E1.3c, a
# check of our identity). The quadrature also matches the identity to a relative
# {glue:text}`ratio_T_id_gap:.1e` at every $T$. For this estimator the error is decided by
# $\hat p_0$ alone, and a factor $T$ in an upper bound is loose, not wrong. With Gaussian reverse
# kernels and the exact posterior mean (the discretisation error alone, no estimator) the path
# KL *falls* with $T$ (last local slope {glue:text}`g_T_slope:.2f` ± {glue:text}`g_T_slope_ci:.2f`,
# the error being the change from the previous pair of $T$ plus a tilt of at most
# {glue:text}`g_T_tilt:.1e` from the quadrature's halving error; E1.3d, asked against the $-1$
# that per-step KLs of order $\beta_t^2$ predict), so the average per-step KL
# falls like $T$ to the power {glue:text}`g_T_step_slope:.2f`. This sweep stops at
# $T=${glue:text}`T_max_ci`: {glue:text}`e13d_full`. The Gaussian-kernel DDPM built on
# the KDE mean is plotted but enters no claim. Neither computation grows with $T$; an upper bound
# linear in $T$ is not contradicted, only not tight here.

# %% [markdown]
# (sec-decomposition)=
# ### The path KL decomposed: is the factor $T$ tight?
#
# The summary's bound is $T$ times a per-step error. For the practical DDPM (Gaussian reverse
# kernels of variance $\beta_t$ whose mean comes from the plug-in ratio) the path KL splits
# **exactly** into three parts: the terminal part $\mathrm{KL}(p_T\|\mathcal N(0,1))$, the
# discretisation part (the same chain with the exact posterior mean, minus the terminal part),
# and the estimation part
#
# $$ \sum_{t=1}^T\frac{c_{0,t}^2}{2\beta_t}\,E_{p_t}\big(\hat E[z_0\mid z_t]-E[z_0\mid z_t]\big)^2 , $$
#
# because the exact reverse kernel's mean is $c_0E[z_0\mid z_t]+c_tz_t$, so two Gaussian
# kernels of one variance differ in expected KL by the squared mean error over $2\beta_t$ (our
# derivation; `companion.ratio.gaussian_estimation_kl`, a 1-D quadrature per step). We first
# check it against the difference of the two 2-D quadratures of the path KL above, then sweep
# $T\times n$ at fixed total noise. Our expectation, a heuristic and not a derivation, is that the
# estimation part behaves like a Riemann sum in $t/T$ and settles to a limit rather than growing
# like $T$: the weights $c_{0,t}^2/\beta_t$ are of order $\beta_t\propto1/T$ once
# $1-\bar\alpha_t$ is of order one, but not near $t=1$, where $c_{0,1}=1$ and the weight is
# $1/\beta_1\propto T$; there the sum relies on the plug-in's mean error being small where the
# noise is small. The sweep checks it. The question is whether the factor $T$ of the bound is tight; the last local
# log-log slope in $T$ at fixed $n$ answers it (1 if tight).
#
# A factor $T$ can be genuine for another estimator: a **fixed-size approximant of the reverse
# density** $f_1/f_2$ itself. For each $z_t$ we replace the exact reverse kernel by its
# piecewise-linear interpolant in $z_{t-1}$ at {glue:text}`hinge_K` fixed uniform knots on
# $[-7,7]$ (what one hinge layer of that width represents, at large $M$), normalised
# (`companion.ratio.hinge_log_kernel`). The kernel's width, about $\sqrt{\beta_t}$, shrinks as
# $T$ grows while the knots stay put, so the first steps' kernels narrow towards and below the
# knot spacing and their KL grows (we report each step's share of the sum). The
# per-step KLs are 2-D quadratures (`companion.chains.mixture_step_kl`, with their error from
# halving both grids).

# %% tags=["hide-input"]
decomp_rows = []
hinge_knots = torch.linspace(-7.0, 7.0, cfg["hinge_K"], dtype=torch.float64)
dec_samples = {n: p0.sample(n, gen) for n in cfg["dec_ns"]}
dec_kde = {n: R.kde_mixture(y, R.kde_bandwidth(n)) for n, y in dec_samples.items()}
for T in cfg["dec_Ts"]:
    ch = VPChain.fixed_total(T)
    gx = R.gaussian_kernel_path_kl(p0, p0.denoise, ch, q_fine, q_fine, 1500)
    hq = [
        mixture_step_kl(
            ch,
            p0,
            t,
            R.hinge_log_kernel(ch.reverse_kernel(p0, t), hinge_knots),
            q_fine,
            q_fine,
        )
        for t in range(1, T + 1)
    ]
    row = {
        "T": T,
        "terminal": gx.terminal,
        "discretisation": gx.total - gx.terminal,
        "hinge density, summed": sum(q.value for q in hq),
        "hinge quadrature error": sum(q.error for q in hq),
        "share of t = 1": hq[0].value / sum(q.value for q in hq),
        "share of t <= 3": sum(q.value for q in hq[:3]) / sum(q.value for q in hq),
    }
    for n, ph in dec_kde.items():
        e = R.gaussian_estimation_kl(p0, ph, ch, 1001)
        row[f"estimation, n={n}"] = e.value
        row[f"estimation error, n={n}"] = e.error
    decomp_rows.append(row)
decT = pd.DataFrame(decomp_rows).set_index("T")
est_cols = [f"estimation, n={n}" for n in cfg["dec_ns"]]
Tx = decT.index.to_numpy(dtype=float)
est_slopes = {
    n: stats.asymptotic_slope(Tx, decT[f"estimation, n={n}"].to_numpy()) for n in cfg["dec_ns"]
}
n_dec_max = max(cfg["dec_ns"])
# E1.3f over independent samples: the last local slope in T for each of dec_reps KDE samples of
# size dec_rep_n (the first is the sample above when dec_rep_n is in dec_ns), over the last two T
T_last = cfg["dec_Ts"][-2:]
rep_n = cfg["dec_rep_n"]
rep_kdes = [dec_kde[rep_n]] if rep_n in dec_kde else []
while len(rep_kdes) < cfg["dec_reps"]:  # own generators: the chapter's stream is left as it was
    g_rep = torch.Generator().manual_seed(10_000 * (seed + 1) + len(rep_kdes))
    rep_kdes.append(R.kde_mixture(p0.sample(rep_n, g_rep), R.kde_bandwidth(rep_n)))
rep_slopes = []
for i_, ph in enumerate(rep_kdes):
    if i_ == 0 and rep_n in dec_kde:
        e_last = [float(decT.loc[T_, f"estimation, n={rep_n}"]) for T_ in T_last]
    else:
        e_last = [
            R.gaussian_estimation_kl(p0, ph, VPChain.fixed_total(T_), 1001).value for T_ in T_last
        ]
    rep_slopes.append(math.log(e_last[1] / e_last[0]) / math.log(T_last[1] / T_last[0]))
est_rep = stats.t_interval(rep_slopes, note=f"independent KDE samples of size {rep_n}")
hinge_drift = stats.asymptotic_slope(Tx, decT["hinge density, summed"].to_numpy())
# the quadrature error (halving both grids) can tilt the last slope by at most this much
hinge_rel = (decT["hinge quadrature error"] / decT["hinge density, summed"].abs()).to_numpy()
hinge_tilt = float((hinge_rel[-1] + hinge_rel[-2]) / math.log(Tx[-1] / Tx[-2]))
hinge_slope = stats.Interval(
    hinge_drift.value,
    hinge_drift.value - hinge_drift.half_width - hinge_tilt,
    hinge_drift.value + hinge_drift.half_width + hinge_tilt,
    "refinement",
    2,
    "last local slope; error: change from the previous pair plus the tilt the quadrature error "
    "(halving both grids) can cause",
)
disc_slope = stats.asymptotic_slope(Tx, decT["discretisation"].to_numpy())
# the check: the estimation part equals the difference of the two 2-D quadratures of the path KL
chk = [
    (abs(d - e.value) / e.value, (gk.error + gx_.error + e.error) / e.value)
    for d, e, gk, gx_ in est_chk.values()
]
est_chk_err, est_chk_tol = max(c[0] for c in chk), max(c[1] for c in chk)
est_q_err = float(
    max(
        (decT[f"estimation error, n={n}"] / decT[f"estimation, n={n}"]).max() for n in cfg["dec_ns"]
    )
)
hinge_q_err = float(hinge_rel[-2:].max())
for k_, v in {
    "hinge_K": int(cfg["hinge_K"]),
    "est_chk_err": est_chk_err,
    "est_chk_tol": est_chk_tol,
    "est_slope": est_slopes[n_dec_max].value,
    "est_slope_err": est_slopes[n_dec_max].half_width,
    "est_slope_min": min(s_.value for s_ in est_slopes.values()),
    "est_slope_max": max(s_.value for s_ in est_slopes.values()),
    "n_dec_max": n_dec_max,
    "est_rep": est_rep.value,
    "est_rep_lo": est_rep.low,
    "est_rep_hi": est_rep.high,
    "est_rep_n": rep_n,
    "est_reps": int(cfg["dec_reps"]),
    "est_T_a": int(T_last[0]),
    "est_T_b": int(T_last[1]),
    "est_q_err": est_q_err,
    "hinge_slope": hinge_slope.value,
    "hinge_slope_err": hinge_slope.half_width,
    "hinge_q_err": hinge_q_err,
    "hinge_first": float(decT["hinge density, summed"].iloc[0]),
    # per-step shares over the last three T (the smallest T are below their quadrature error)
    "hinge_share1_min": float(100 * decT["share of t = 1"].iloc[-3:].min()),
    "hinge_share1_max": float(100 * decT["share of t = 1"].iloc[-3:].max()),
    "hinge_share3_min": float(100 * decT["share of t <= 3"].iloc[-3:].min()),
    "hinge_share3_max": float(100 * decT["share of t <= 3"].iloc[-3:].max()),
    "hinge_T3": int(Tx[-3]),
    "hinge_spacing": float(14.0 / (cfg["hinge_K"] - 1)),
    "hinge_last": float(decT["hinge density, summed"].iloc[-1]),
    "disc_slope": disc_slope.value,
    "dec_T_min": int(Tx.min()),
    "dec_T_max": int(Tx.max()),
    "terminal_part": float(decT["terminal"].max()),
    "est_trend": (
        "grows more slowly than T, its local slope falling at every step of the sweep for every n"
        if all(np.all(np.diff(stats.local_slopes(Tx, decT[c_].to_numpy())) < 0) for c_ in est_cols)
        else "grows more slowly than T at the last pair, though its local slope does not fall "
        "at every step of the sweep"
    ),
}.items():
    glue(k_, v, display=False)
ledger.record(
    "E1.3e",
    kind="check",
    paper=PAPER,
    claim=f"Our decomposition is exact: the estimation part of the practical DDPM's path KL (closed form per step, 1-D quadrature) equals the path KL with the plug-in mean minus the path KL with the exact mean, each a sum of 2-D quadratures (n = {n_T}, T in {cfg['Ts']}; largest relative difference). Criterion 1e-3, fixed before the run from the effect it guards: a wrong decomposition (a missing cross term) would be off by a relative O(1). The halving error estimates of the two path KLs, {est_chk_tol:.1g} of the estimation part, bound each path KL separately and are far too loose for their difference",
    measured=est_chk_err,
    expect=at_most(1e-3),
    section="sec-decomposition",
    rtol=1.0,
    atol=0.0,
)
ledger.record(
    "E1.3f",
    kind="question",
    paper=PAPER,
    claim=f"Is the factor T of the bound tight for the estimation part of the path KL of a plug-in (KDE) posterior mean at fixed n? (local log-log slope in T at fixed total noise between T = {T_last[0]} and {T_last[1]}, n = {rep_n}, mean over {cfg['dec_reps']} independent samples with its t-interval; at least 0.9 would mean it grows like T)",
    measured=est_rep,
    expect=at_least(0.9),
    section="sec-decomposition",
    rtol=0.0,
    atol=0.05,
)
ledger.record(
    "E1.3g",
    kind="question",
    paper=PAPER,
    claim=f"Is a factor T genuine for a fixed-size approximant of the reverse density f1/f2 itself ({cfg['hinge_K']} fixed uniform knots on [-7, 7] per step, normalised piecewise-linear interpolant of the exact reverse kernel in z_(t-1))? (last local log-log slope of its summed per-step KL in T at fixed total noise, T in {cfg['dec_Ts']}; error: change from the previous pair plus the tilt the quadrature error can cause; at least 0.9 means it grows at least like T). The growth sits in the first steps (t = 1 alone carries most of the sum), whose kernels narrow towards the fixed knot spacing: a fixed-resolution effect, not T per-step errors accumulating, and a pre-asymptotic slope",
    measured=hinge_slope,
    expect=at_least(0.9),
    section="sec-decomposition",
    rtol=0.0,
    atol=0.1,
)
decT[["terminal", "discretisation", *est_cols, "hinge density, summed", "hinge quadrature error"]]

# %% tags=["hide-input"]
fig, ax = figure(1, height=2.8)
ax.loglog(Tx, decT["discretisation"], "o-", color="0.3", label="discretisation (exact mean)")
for n in cfg["dec_ns"]:
    ax.loglog(Tx, decT[f"estimation, n={n}"], "s--", label=f"estimation, KDE mean, n={n}")
ax.loglog(
    Tx, decT["hinge density, summed"].clip(lower=1e-8), "^-", label="fixed-knot density approximant"
)
ax.loglog(
    Tx, decT["hinge density, summed"].iloc[-1] * Tx / Tx[-1], "k:", lw=1, label=r"$\propto T$"
)
ax.set(xlabel="number of steps T (fixed total noise)", ylabel="KL part (nats)")
ax.set_xticks(Tx, [str(int(t_)) for t_ in Tx])
ax.xaxis.set_minor_formatter(NullFormatter())
ax.legend(fontsize=6)
plt.show()

# %% [markdown]
# **Figure.** The parts of the path KL against the number of steps $T$ at fixed total noise:
# discretisation (Gaussian kernels with the exact posterior mean), estimation (the plug-in KDE
# mean, one sample per $n$), and the summed per-step KL of the fixed-knot approximant of the
# reverse density, with a line $\propto T$ through its last point. The terminal part,
# {glue:text}`terminal_part:.1e` nats, does not depend on $T$ and is not drawn. Look at the
# slopes: the estimation curves flatten, the fixed-knot curve is steeper than the $T$ line.
#
# The closed-form estimation part equals the difference of the two 2-D path-KL quadratures to a
# relative {glue:text}`est_chk_err:.1e` (E1.3e; a wrong decomposition would be off by a relative
# O(1); the two path KLs' own halving error estimates, {glue:text}`est_chk_tol:.1g` of the
# estimation part, bound each of them separately and say nothing about their difference). Its last local slope in $T$ at $n=${glue:text}`n_dec_max`
# is {glue:text}`est_slope:.2f` (change from the previous pair {glue:text}`est_slope_err:.2f`;
# {glue:text}`est_slope_min:.2f` to {glue:text}`est_slope_max:.2f` over the sample sizes; the 1-D
# quadrature moves each value by at most a relative {glue:text}`est_q_err:.0e` when its grid is
# halved): the estimation part of a plug-in posterior mean {glue:text}`est_trend` (the Riemann
# sum settling to a limit, in our reading). Over {glue:text}`est_reps` independent samples of size
# $n=${glue:text}`est_rep_n` its local slope between $T=${glue:text}`est_T_a` and
# {glue:text}`est_T_b` is {glue:text}`est_rep:.2f` on average (t-interval
# {glue:text}`est_rep_lo:.2f` to {glue:text}`est_rep_hi:.2f`), so at large $T$ the factor $T$ of
# the bound is not tight for it (E1.3f, a question); at small $T$, where the local slope is
# larger, the sweep says less. The discretisation part falls (local
# slope {glue:text}`disc_slope:.2f`). The fixed-knot approximant of the reverse density is the
# opposite case: its summed per-step KL grows to {glue:text}`hinge_last:.2g` at
# $T=${glue:text}`dec_T_max`, with last local slope {glue:text}`hinge_slope:.2f` ±
# {glue:text}`hinge_slope_err:.2f` (E1.3g; the error adds the change from the previous pair and
# the tilt that the 2-D quadrature's error, up to a relative {glue:text}`hinge_q_err:.1e` of the
# last two values, can cause; at the smallest $T$ the values, {glue:text}`hinge_first:.1e` at
# $T=${glue:text}`dec_T_min`, are below their quadrature error and only show that the KL is
# small there). The growth comes from the first steps, not from $T$ steps each adding a
# comparable error: over $T=${glue:text}`hinge_T3` to {glue:text}`dec_T_max` the step $t=1$
# alone carries {glue:text}`hinge_share1_min:.0f`% to {glue:text}`hinge_share1_max:.0f`% of
# the sum and $t\le3$ carries {glue:text}`hinge_share3_min:.0f`% to
# {glue:text}`hinge_share3_max:.0f`%. Their kernels, of width about $\sqrt{\beta_1}\propto
# T^{-1/2}$, narrow towards the fixed knot spacing {glue:text}`hinge_spacing:.2f`, and a slope
# near 3 is that pre-asymptotic regime (our reading: a resolved kernel's per-step KL grows like
# a power of spacing over width), not a limit rate. So this is a fixed-resolution artefact
# concentrated at the first steps, not evidence of a factor $T$ from summing per-step errors.
# Which case the paper's estimator is, we cannot tell without its construction.

# %% [markdown]
# (sec-trained)=
# ## E1.4 Trained DDPMs: SignReLU against ReLU
#
# The paper makes no empirical claim here, so this is our question. We train $\varepsilon$-prediction
# MLPs (3 hidden layers) that differ only in the activation, with the same data, seeds (which fix
# the initialisation and the minibatches) and learning rate, at {glue:text}`tr_grid`. Training uses
# the DDPM "simple" loss ($t$ uniform on $1..T$, $T=50$) and Adam at a constant learning rate; the
# smaller budget is a checkpoint of the same run. We measure the exact output KL of the 1-D DDPM
# sampler (grid propagation of its Gaussian kernels) for every seed, width and budget, and compare
# the activations by paired t-intervals over seeds. **Convergence criterion, stated before the
# run**: a run has plateaued at a budget when its mean loss over the last tenth of the steps is at
# least 0.98 of its mean over the tenth before. The minibatch loss is noisy, so this criterion is
# weak; the honest check is whether the output KL still changes between the two budgets, which
# the table below shows. {glue:text}`tr_ring_text`

# %% tags=["hide-input"]
acts = cfg["train_acts"]
acol = method_colors(acts)
noise = R.ddpm_noise(chain50)
x1 = p0.sample(cfg["n_train"], gen).float()
x2 = ring.sample(cfg["n_train"], gen).float()
ring_ref = ring.sample(cfg["n_eval_2d"], gen)
budgets = sorted(cfg["train_budgets"])
w_big, b_big = max(cfg["train_widths"]), max(budgets)
tr_rows, dens = [], {}
lo0, hi0 = -4.5, 4.5
xq = torch.linspace(lo0, hi0, 4001, dtype=torch.float64)


def plateau_ratio(losses, k):
    """Mean loss over the last tenth of the first k steps over that of the tenth before."""
    m = max(1, k // 10)
    return float(np.mean(losses[k - m : k]) / np.mean(losses[k - 2 * m : k - m]))


for act in acts:
    for width in cfg["train_widths"]:
        for s in cfg["train_seeds"]:
            torch.manual_seed(1000 + s)
            model = MLPDenoiser(1, width, 3, act, sigma_data=1.0, parameterization="eps").to(dev)
            res = train(
                model,
                x1,
                b_big,
                noise,
                weighting="eps",
                lr=2e-3,
                batch_size=256,
                seed=s,
                disable=True,
                checkpoint_at=tuple(budgets),
            )
            for b in budgets:
                model.load_state_dict(res.checkpoints[b])
                out = R.ddpm_output_density(model, chain50, 1500)
                tr_rows.append(
                    {
                        "data": "1-D mixture",
                        "activation": act,
                        "width": width,
                        "budget": b,
                        "seed": s,
                        "plateau": plateau_ratio(res.losses, b),
                        "KL(p0||output)": kl_divergence(
                            lambda z: p0.prob(z[:, None]), out, xq
                        ).value,
                    }
                )
                if width == w_big and b == b_big:
                    dens[(act, s)] = out(xq)
            if width == w_big and s in cfg["ring_seeds"]:  # 2-D ring: sample metrics only
                torch.manual_seed(1000 + s)
                m2 = MLPDenoiser(2, width, 3, act, sigma_data=1.0, parameterization="eps").to(dev)
                train(
                    m2,
                    x2,
                    b_big,
                    noise,
                    weighting="eps",
                    lr=2e-3,
                    batch_size=256,
                    seed=s,
                    disable=True,
                )
                gs = torch.Generator().manual_seed(s)
                xs = R.sample_ddpm_chain(m2, chain50, cfg["n_eval_2d"], 2, gs)
                tr_rows.append(
                    {
                        "activation": act,
                        "width": width,
                        "budget": b_big,
                        "seed": s,
                        "data": "2-D ring",
                        "sliced W2": sliced_w2(xs, ring_ref, generator=gs),
                        "MMD^2": mmd(xs, ring_ref),
                    }
                )
trained = pd.DataFrame(tr_rows)
tr1 = trained[trained["data"] == "1-D mixture"]
pair_rows = []
for width in cfg["train_widths"]:
    for b in budgets:
        g = tr1[(tr1["width"] == width) & (tr1["budget"] == b)].pivot(
            index="seed", columns="activation", values="KL(p0||output)"
        )
        d_ = stats.paired_t(g["signrelu"], g["relu"])
        pair_rows.append(
            {
                "width": width,
                "budget": b,
                "KL signrelu": float(g["signrelu"].mean()),
                "KL relu": float(g["relu"].mean()),
                "signrelu - relu": d_.value,
                "95% paired low": d_.low,
                "95% paired high": d_.high,
                "plateaued runs": int(
                    (tr1[(tr1["width"] == width) & (tr1["budget"] == b)]["plateau"] >= 0.98).sum()
                ),
                "runs": int(((tr1["width"] == width) & (tr1["budget"] == b)).sum()),
            }
        )
pairs = pd.DataFrame(pair_rows).set_index(["width", "budget"])
pairs

# %% tags=["hide-input"]
fig, ax = figure(2, height=2.8)
ptrue = p0.prob(xq[:, None])
for act in acts:
    m = torch.stack([dens[(act, s)] for s in cfg["train_seeds"]]).mean(0)
    ax[0].semilogy(xq, m.clamp_min(1e-8), color=acol[act], lw=1.2, label=f"DDPM, {act} ε-MLP")
ax[0].semilogy(xq, ptrue, "k", lw=1, label="true $p_0$")
ax[0].set(
    xlabel="x",
    ylabel="density",
    ylim=(1e-6, 2),
    title=f"output densities (seed mean), width {w_big}, {b_big} steps",
)
ax[0].legend(fontsize=6)
for width in cfg["train_widths"]:
    pw = pairs.loc[width]
    ax[1].errorbar(
        pw.index,
        pw["signrelu - relu"],
        yerr=[
            pw["signrelu - relu"] - pw["95% paired low"],
            pw["95% paired high"] - pw["signrelu - relu"],
        ],
        marker="o",
        capsize=2,
        label=f"width {width}",
    )
ax[1].axhline(0.0, color="k", lw=0.8)
ax[1].set(
    xlabel="Adam steps",
    ylabel=r"KL$_{\rm SignReLU}$ − KL$_{\rm ReLU}$ (nats)",
    title="paired difference",
)
ax[1].legend(fontsize=6)
plt.show()

# %% [markdown]
# **Figure.** Left: exact output densities of the trained 1-D DDPMs at the largest width and
# budget (mean over seeds) on a log scale, against the true mixture. Right: the paired difference
# of output KLs, SignReLU minus ReLU, with 95% paired t-intervals over seeds, at each width and
# budget. Look at whether the intervals shrink towards zero as the budget grows: a gap that
# closes is a difference in training speed, not in what the networks can reach. Peaks of the
# densities: {glue:text}`modes_text`. A mode is a local maximum of one seed's output density with
# height and prominence above {glue:text}`mode_thr` (the true $p_0$ has {glue:text}`p0_modes` by
# the same count).

# %% tags=["hide-input"]
MODE_THR = 0.01  # density units; the true modes peak near 0.4


def n_modes(d: torch.Tensor) -> int:
    """Local maxima of a grid density with height and prominence above MODE_THR."""
    return len(find_peaks(d.detach().cpu().numpy(), height=MODE_THR, prominence=MODE_THR)[0])


modes = pd.DataFrame(
    [{"activation": a, "seed": s_, "modes": n_modes(dens[(a, s_)])} for a, s_ in dens]
)
n_three = int((modes["modes"] >= 3).sum())
modes_text = (
    f"no model resolves the three modes at this budget (at most {int(modes['modes'].max())} "
    f"modes over {len(modes)} seed-activation pairs)"
    if n_three == 0
    else f"{n_three} of {len(modes)} seed-activation pairs show at least three modes"
)
big = tr1[(tr1["width"] == w_big) & (tr1["budget"] == b_big)].pivot(
    index="seed", columns="activation", values="KL(p0||output)"
)
small = tr1[(tr1["width"] == w_big) & (tr1["budget"] == budgets[0])].pivot(
    index="seed", columns="activation", values="KL(p0||output)"
)
gap_big = stats.paired_t(big["signrelu"], big["relu"])
# does the gap close with budget? (gap at the smaller budget) - (gap at the larger), paired by seed
closing = stats.paired_t(small["signrelu"] - small["relu"], big["signrelu"] - big["relu"])
kl_change = stats.paired_t(small["signrelu"], big["signrelu"])
n_plat = int((tr1["plateau"] >= 0.98).sum())
for k, v in {
    "modes_text": modes_text,
    "mode_thr": MODE_THR,
    "p0_modes": n_modes(p0.prob(xq[:, None])),
    "tr_grid": f"widths {cfg['train_widths']} and budgets {budgets} Adam steps, {len(cfg['train_seeds'])} seeds each",
    "tr_ring_text": (
        f"The 2-D ring is trained for seeds {cfg['ring_seeds']} at the largest width and budget, "
        "for sample metrics only (they enter no claim)."
        if cfg["ring_seeds"]
        else "This run does not train on the 2-D ring (the full profile does, for sample metrics only)."
    ),
    "kl_gap": gap_big.value,
    "kl_gap_lo": gap_big.low,
    "kl_gap_hi": gap_big.high,
    "kl_close": closing.value,
    "kl_close_lo": closing.low,
    "kl_close_hi": closing.high,
    "kl_change": kl_change.value,
    "kl_change_lo": kl_change.low,
    "kl_change_hi": kl_change.high,
    "kl_learning": (
        "the networks are still learning, which the noisy minibatch loss does not show"
        if kl_change.low > 0
        else "the output KL no longer falls measurably between the two budgets"
    ),
    "n_plat": n_plat,
    "n_runs_tr": len(tr1),
    "w_big": w_big,
    "b_big": b_big,
    "b_small": budgets[0],
}.items():
    glue(k, v, display=False)
ledger.record(
    "E1.4",
    kind="question",
    paper=PAPER,
    claim=f"At width {w_big} and {b_big} Adam steps (one learning rate for every activation, 3 hidden layers), is a SignReLU eps-network's DDPM output KL larger than a ReLU one's? (paired difference KL_signrelu - KL_relu of the 1-D output KL over {len(cfg['train_seeds'])} seeds; > 0 means SignReLU is behind; {n_plat} of {len(tr1)} runs meet the loss-plateau criterion, which is weak: see E1.4b for whether the KL is still moving)",
    measured=gap_big,
    expect=at_least(0.0),
    section="sec-trained",
    rtol=0.0,
    atol=0.25 * min(abs(gap_big.low), abs(gap_big.high)),
)
ledger.record(
    "E1.4b",
    kind="question",
    paper=PAPER,
    claim=f"Does the SignReLU - ReLU gap close with the budget at width {w_big}? (paired over seeds: the gap at {budgets[0]} steps minus the gap at {b_big}; > 0 means it closes, so the difference is at least partly one of training speed)",
    measured=closing,
    expect=at_least(0.0),
    section="sec-trained",
    rtol=0.0,
    atol=0.25 * min(abs(closing.low), abs(closing.high)),
)
if profile == "full":
    e14_full = "This run is the paper-scale profile"
else:
    e14_full = (
        f"At paper scale (width 128, 3000 steps, 10 seeds, one learning rate for both "
        f"activations), {full_says('E1.4')}, and {full_says('E1.4b')}"
    )
    _c = FULL_REF.get("E1.4b")
    if _c is not None and _c["interval"][0] > 0:
        e14_full += (
            ": there the gap closes with the budget, so it is at least partly one of training speed"
        )
glue("e14_full", e14_full, display=False)

# %% [markdown]
# At width {glue:text}`w_big` and {glue:text}`b_big` steps the paired difference of output KLs,
# SignReLU minus ReLU, is {glue:text}`kl_gap:.3g` nats (95% paired t-interval
# {glue:text}`kl_gap_lo:.3g` to {glue:text}`kl_gap_hi:.3g`; E1.4). From {glue:text}`b_small` to
# {glue:text}`b_big` steps the gap changes by {glue:text}`kl_close:.3g` (interval
# {glue:text}`kl_close_lo:.3g` to {glue:text}`kl_close_hi:.3g`; E1.4b, positive means it closes),
# and the SignReLU network's own KL falls by {glue:text}`kl_change:.3g` (interval
# {glue:text}`kl_change_lo:.3g` to {glue:text}`kl_change_hi:.3g`): {glue:text}`kl_learning`,
# while {glue:text}`n_plat` of {glue:text}`n_runs_tr` runs meet the loss-plateau criterion. So
# in the `ci` profile the networks are unconverged, and nothing here says what converged
# SignReLU and ReLU networks reach (a gap that widened with the budget would not be a
# difference in training speed either). The `full` profile runs larger widths and budgets with
# 10 seeds, and whether its runs have converged is read there the same way (the plateau counts
# in its table and E1.4b); a verdict from an unconverged run is about training, not about the
# activations. {glue:text}`e14_full`. The paper's argument is about what SignReLU networks *can* represent
# ({ref}`sec-approx`), not about what training finds, so neither answer supports or refutes it.
# The output KL comes from grid propagation of the Gaussian kernels on one grid; it is not
# refined nor cross-checked by sampling here.


# %% [markdown]
# (sr-coverage)=
# ## What the paper claims, and what is tested here
#
# Every statement of the paper we know of (abstract and third-party summary), with the rows of the
# verdict table that bear on it, or why nothing here tests it. Two rows are of kind `paper`
# (E1.5c and E1.5m, one existence statement that one explicit network can support, on two
# targets); for the rest we have
# no statement of the paper precise enough to test, so those rows test our constructions or ask
# our questions, and the coverage says how each bears on the paper's statement.

# %%
ledger.coverage(
    [
        {
            "statement": "In conditional generative modelling, diffusion models in particular, the target conditional density is a ratio f1/f2 of kernel-based marginal densities (Bayes' rule; E1.0 checks our closed forms of it, E1.5f approximates one section of the conditional density)",
            "source": "abstract: 'the target conditional density takes the form of a ratio f1 over f2'",
            "ids": ["E1.0", "E1.5f"],
        },
        {
            "statement": "Deep SignReLU networks approximate such ratio functionals, with L^p(Omega) approximation bounds and convergence rates under standard regularity. Tested on one C-infinity target (two time steps of a posterior mean, one section of a reverse density) in L2 and sup norm; the dependence on regularity (Hölder class) and 'for any f1, f2 in S' are not tested",
            "source": "abstract (paraphrase); summary: 'establishes both approximation bounds and finite-sample guarantees'",
            "ids": ["E1.5a", "E1.5b", "E1.5f", "E1.5n"],
        },
        {
            "statement": "Depth 7, width O(n+9), parameter norm M, approximation error O(M^-1 n^(-1/2-3d/2)); no verdict: our construction's error is a sum of an n^-2 and an M^-1 term, not the product (E1.5e, fitted on an (n, M) grid across the crossover), and the paper's network is not available. Our largest weight is about max(M, 9/delta), so M is not our parameter norm",
            "source": "summary",
            "ids": ["E1.5e"],
        },
        {
            "statement": "Stability near vanishing denominators. Our reading, as conditioning: fed perturbed f1, f2, the division network's own round-off against the problem's conditioning bound (|e1| + |r| |e2|)/f2 follows the predicted 36 eps_mach/(eps delta) (E1.6b), so the network, not the problem, sets the error below eps* ~ 36 eps_mach/delta, in float64 and float32 (E1.6d), and float32 round-off over the bound grows like 1/delta at fixed eps (E1.6c). Exactness at constant size in float64 (E1.1a), round-off of order eps/delta^2 (E1.1e fails, E1.1f); E1.1b and E1.1c check our rival and our weights",
            "source": "summary: 'while maintaining stability near vanishing denominators'",
            "ids": ["E1.6b", "E1.6d", "E1.6c", "E1.1a", "E1.1e", "E1.1f", "E1.1b", "E1.1c"],
        },
        {
            "statement": "Bounded approximation error even when the denominator approaches zero, where traditional approaches would fail. Our explicit approximant's sup error in exact arithmetic where f2 < 1% of its maximum, as inf f2 falls over a finite range at a fixed knot spacing and fixed M, on the posterior mean (E1.5c) and on the reverse density along its mean, where the ratio stays O(1) (E1.5m); Gaussian-type tails only. In float64 the same network's error is not bounded: its division's round-off grows like (inf f2)^-2 within the scale eps 9/delta^2 (E1.5j), and its hinge layer's like 1/inf f2 as conditioning predicts (E1.5k). 'Where traditional approaches would fail' is not tested: our ReLU rival (E1.5i, more accurate at equal size on this 1-D target) interpolates f1/f2 itself, it is not a traditional division of the same approximants of f1 and f2",
            "source": "summary: 'maintain bounded approximation error even when the denominator function approaches zero ... where traditional approaches would fail'",
            "ids": ["E1.5c", "E1.5m", "E1.5j", "E1.5k", "E1.5i"],
        },
        {
            "statement": "Modular framework: numerator and denominator approximated separately using kernel methods, then a SignReLU network for their ratio. Our approximants are interpolants at knots, not kernel methods; E1.5d/E1.5g measure what the route costs against approximating f1/f2 directly; E1.2a/E1.2b (full profile only) ask the trained question, with a relative loss for f1 and f2",
            "source": "summary (method)",
            "ids": ["E1.5d", "E1.5g"] + (["E1.2a", "E1.2b"] if decidable else []),
        },
        {
            "statement": "Stable approximation near vanishing denominators is critical for diffusion models, where such behaviour is common in the reverse process",
            "source": "summary: 'critical for diffusion models where such behavior is common in the reverse process'",
            "reason": "a motivation, not a result; in our setting f2 = p_t vanishes in every tail at every t, so how small it gets on Omega_t is set by the chosen domain (the sweep of E1.5c widens it), and how often a sampler visits such regions is not measured",
        },
        {
            "statement": "The mechanism is SignReLU's 'piecewise constant structure'",
            "source": "summary",
            "reason": "SignReLU is not piecewise constant (its negative branch is rational, sec-setting); the exact reciprocal of E1.1 is the mechanism we can construct",
        },
        {
            "statement": "A SignReLU-based estimator of the DDPM reverse process; excess KL between generated and true data laws splits into approximation and estimation errors",
            "source": "abstract (paraphrase)",
            "reason": "the paper's estimator is not available, and no network (approximation) part is split off here: E1.3e splits the path KL of a kernel plug-in estimator without a network into terminal, discretisation and estimation parts (a check of our decomposition), and E1.4, E1.4b ask questions about trained SignReLU denoisers against ReLU ones; neither tests the statement's split",
        },
        {
            "statement": "Finite-sample guarantees: the excess KL risk falls with the sample size, with high probability (1 - delta)",
            "source": "abstract (paraphrase); summary: 'δ is the confidence parameter'",
            "reason": "needs the paper's estimator; E1.3a is the rate of a Gaussian KDE plug-in, not of a SignReLU estimator, and no high-probability statement is tested",
        },
        {
            "statement": "Excess KL bounded by O(T(n^(-1-3d/2) + sqrt(log(1/delta) n^(-2-3d/2)))), linear in the number of steps T. An upper bound cannot be tested without its constants; we ask whether its factor T is tight, for the estimation part of a plug-in posterior mean (E1.3f) and for a fixed-size approximant of the reverse density, where a factor T could be genuine (E1.3g); E1.3c is a check of our telescoping identity (the exact kernel-ratio estimator's path KL does not change with T), and the discretisation part (E1.3d) does not grow with T",
            "source": "summary",
            "ids": ["E1.3f", "E1.3g", "E1.3c", "E1.3d"],
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
# * **Only one statement of the paper is tested (two rows of kind `paper`, E1.5c and E1.5m).** We could not
#   read the theorems. The abstract is public but states no quantity: no rate, constant, depth or
#   width. The bounds we know come from the third-party summary, whose exponents we could not
#   confirm, and they are upper bounds on the paper's own network, which is not available. An
#   upper bound is not a predicted rate, so measuring our construction's rate cannot confirm or
#   refute it. The summary's "bounded approximation error even when the denominator function
#   approaches zero" is an existence statement, which one explicit network can support (E1.5c,
#   E1.5m, where $f_2$ is small, on a finite range of $\inf f_2$, for Gaussian-type tails and
#   in exact arithmetic: in float64 this network's
#   round-off grows like $(\inf f_2)^{-2}$, E1.5j); every other row tests a construction of ours or asks a
#   question of ours, and the coverage table says how each bears on the paper.
# * **The summary's approximation bound.** What our construction says about its form is E1.5e:
#   at $d=1$, on an $(n, M)$ grid across the crossover, our error is a *sum* of an $n^{-2}$ term (E1.5a, the textbook rate of
#   piecewise-linear interpolation) and an $M^{-1}$ term (E1.5b, built into the emulation error
#   $a/M$), not the product $M^{-1}n^{-2}$ of the summary. Whether the paper's network behaves
#   differently, or the summary garbled the form, we cannot tell, so the bound gets no verdict.
#   Our network has depth 5 and width $2n$; nothing here relates that to the summary's depth 7
#   and width $O(n+9)$, what the paper's $n$ counts, its parameter norm $M$ (our largest weight is
#   about $\max(M, 9/\delta)$), or its rates in higher dimension.
# * **The abstract's target, the conditional density.** E1.5f approximates one 1-D section of
#   the reverse density, $x\mapsto p(z_{t-1}=y_0\mid z_t=x)$ at one $t$ and one $y_0$ (the middle
#   mode), with the same training-free construction as the posterior mean, and E1.5n repeats
#   the $M$ sweep on it; E1.5m repeats the $\inf f_2$ sweep on another section, along the
#   reverse mean $z_{t-1}=E[z_{t-1}\mid z_t=x]$, where the ratio stays $O(1)$ as $f_2$ vanishes. The full 2-D density
#   $f_1(z_{t-1},z_t)/f_2(z_t)$ without training needs 2-D hinge approximants (or a product of
#   1-D ones through the exact product gadget) and is not built; E1.2 trains networks on it, but
#   records its questions only in the `full` profile. The paper's "for any $f_1,f_2$" is tested on
#   one mixture.
# * **What the ratio route costs, fully.** E1.5d measures it at equal uniform knots and E1.5g
#   (a question) with knots placed for $f_1/f_2$; a knot placement chosen for $f_1$ and $f_2$
#   themselves is not built.
# * **The KDE rate.** E1.3a's band, from $-4/5$ to $-4/5$ plus a logarithmic correction, rests on
#   a heuristic split of the KL's bias and variance parts that we did not derive, introduced
#   after earlier runs, so E1.3a is a question; the `ci` range of $n$ is too short to place the
#   slope inside it, and $-2/3$ sits too close to the band for an interval as wide as the `ci`
#   one to exclude it. {glue:text}`e13a_full`.
# * **A fair trained modular route.** E1.2 (relative loss on $\log f_1,\log f_2$, 5 seeds, 5
#   widths) runs in the `full` profile only: the `ci` budget cannot pay for it. Its fits stop at a
#   fixed budget; whether they have converged is measured (loss plateau), not enforced, and the
#   modular side has about twice the parameters of the direct one. Stability near vanishing
#   denominators is tested without training instead (E1.6), and only for absolute perturbations
#   (sizes from $10^{-2}$ to $10^{-12}$, at most $\delta/10$) with four sign patterns.
# * **Converged trained denoisers.** E1.4 compares SignReLU and ReLU at two widths and two budgets;
#   in `ci` the output KL still falls between the budgets, so it compares unconverged networks. The
#   loss-plateau criterion is weak against minibatch noise, and one learning rate serves every
#   activation.
# * **Which $f_1/f_2$ the theorems use.** We treat the posterior mean and a section of the
#   reverse conditional density. The paper's function class and its lower bound on $f_2$ are
#   unknown to us; our floor $\delta$ is half the smallest $f_2/\max f_2$ on $\Omega$.
# * **The excess-risk definition.** We report path KL (terminal + sum of per-step KLs) and output
#   KL, and split the practical DDPM's path KL into terminal, discretisation and estimation parts
#   over a $T\times n$ grid ({ref}`sec-decomposition`). If the paper's "excess KL" is a per-step
#   quantity summed over $T$ steps, the linear factor $T$ is built in. Our estimation part uses a
#   KDE posterior mean, not a SignReLU network; the fixed-size density approximant of E1.3g uses
#   exact kernel values at its knots, not fitted ones, and the hinge emulation error $a/M$ is
#   left out (large $M$).
# * **Approximation versus optimisation.** E1.2 and E1.4 train networks, so their errors include
#   optimisation error, and the slopes are achieved, not approximation-theoretic, rates.
# * **Dimension.** Everything quantitative is 1-D (exact quadrature); the 2-D ring is only
#   compared by sample metrics.
