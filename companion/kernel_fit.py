r"""Exact per-step KL minimisation of Gaussian-mixture reverse kernels, by quadrature.

For step :math:`t` of a discrete VP chain (:class:`companion.chains.VPChain`) and a conditional
target :math:`q(x_0\mid c)` (:mod:`companion.conditional_targets`), the per-step error of a
reverse kernel :math:`p_\theta(z_{t-1}\mid z_t, c)` averaged over contexts is

.. math::

    \varepsilon_t(\theta) = \sum_j w_j\,E_{q(z_t\mid c_j)}\,
    \mathrm{KL}\big(q(z_{t-1}\mid z_t, c_j)\,\|\,p_\theta(z_{t-1}\mid z_t, c_j)\big)
    = \sum_j w_j\iint q(y, z\mid c_j)\,[\log q(y\mid z, c_j) - \log p_\theta(y\mid z, c_j)]\,dy\,dz,

with :math:`q(y, z\mid c) = q_{t-1}(y\mid c)\,\mathcal N(z; a_t y, b_t^2)` and
:math:`\log q(y\mid z, c) = \log q(y, z\mid c) - \log q_t(z\mid c)` (Bayes' rule, marginals
only, as in :func:`companion.chains.step_kl`). :func:`step_problem` tabulates this integral once
as a weighted set of quadrature points (a 2-D trapezoid rule in :math:`(z_t, z_{t-1})` on uniform
grids for every context node; points whose weight is negligible are dropped and their mass is
reported), so that :meth:`StepProblem.kl` is an exact, full-batch, differentiable objective and
:func:`fit_step` minimises it with L-BFGS (strong-Wolfe line search, float64). Each of the
:math:`T` static problems is solved separately (:func:`fit_chain`), with several random starts
to separate the approximation error of a class from the optimisation error.

Kernel classes (``nn.Module``, float64, called on features ``(z_t, c)`` of shape ``(m, 1 + d)``
and returning :class:`companion.mixture_kernels.KernelParams`):

* :class:`NetworkedMixture`: one ReLU network outputs the logits, the mean offsets from
  :math:`z_t` and the log standard deviations (the head of the chapter's fully networked
  :class:`companion.mixture_kernels.MixtureKernelNet`, one network per step);
* :class:`RegressionMixture`: the paper's literal class, ReLU-network logits with component
  means affine in the features :math:`(z_t, \phi(c))` (mixtures of regressions, Norets 2010) or
  constant, and constant component variances. Its fits depend strongly on the start:
  :meth:`RegressionMixture.initialise` places the components from the tabulated joint law
  (a weighted regression and residual quantiles).

Contexts are rows of a ``(n_c, d)`` tensor. Every class passes the context through a
:class:`ContextMap` :math:`\phi` (identity, a linear map learned jointly, or a fixed
projection), which makes the feature-map assumption testable: :class:`ProjectedTarget` is a
target on :math:`c\in[0,1]^d` that depends on :math:`c` only through :math:`w\cdot c`, and
:func:`grouped_step_floor` / :func:`conditional_context_information` give the error floor of a
map that loses information (the best kernel given :math:`(z_t, \phi(c))` is
:math:`q(z_{t-1}\mid z_t, \phi(c))`, and the floors of all steps add up to
:math:`I(z_0; C\mid\phi(C)) - I(z_T; C\mid\phi(C))`).

Held-out scoring: build a second :class:`StepProblem` on other contexts (or finer grids) and
evaluate the fitted kernel on it with :func:`step_value`.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from ._checks import check_in, check_positive
from .chains import VPChain
from .conditional_targets import ConditionalTarget
from .grid import kl_integrand, trapezoid_weights
from .mixture_kernels import KernelFn, KernelParams
from .progress import progress
from .stats import Interval

__all__ = [
    "ProjectedTarget",
    "StepProblem",
    "step_problem",
    "chain_problems",
    "ContextMap",
    "ContextKernel",
    "NetworkedMixture",
    "RegressionMixture",
    "kernel_fn_params",
    "step_value",
    "StepFit",
    "fit_step",
    "MultiStart",
    "fit_multistart",
    "fit_chain",
    "split_components",
    "chain_kernel",
    "grouped_step_floor",
    "conditional_context_information",
    "context_groups",
    "ratio_with_errors",
]

LOG_2PI = math.log(2.0 * math.pi)


def _as_contexts(contexts: Tensor | Sequence[float] | Sequence[Sequence[float]]) -> Tensor:
    """Contexts as a float64 ``(n_c, d)`` tensor (a 1-D input is ``d = 1``)."""
    c = torch.as_tensor(contexts, dtype=torch.float64)
    if c.ndim == 1:
        c = c.unsqueeze(-1)
    if c.ndim != 2 or c.shape[0] < 1 or c.shape[1] < 1:
        raise ValueError(f"contexts must have shape (n_c,) or (n_c, d), got {tuple(c.shape)}")
    if not bool(torch.isfinite(c).all()):
        raise ValueError("contexts must be finite")
    return c


def _log_marginal(
    target: ConditionalTarget, z: Tensor, c: Tensor, alpha: float, sigma: float
) -> Tensor:
    """``target.log_marginal`` at one context row ``c`` (shape ``(d,)``): a float for ``d = 1``."""
    if c.numel() == 1:
        return target.log_marginal(z, float(c), alpha, sigma)
    return target.log_marginal(z, c, alpha, sigma)  # type: ignore[arg-type]


def _check_int(name: str, v: int, lo: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < lo:
        raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    return int(v)


def _trapezoid(lo: float, hi: float, n: int) -> tuple[Tensor, Tensor]:
    x = torch.linspace(lo, hi, n, dtype=torch.float64)
    return x, trapezoid_weights(x)


# --------------------------------------------------------------------------------------------
# Targets with a multi-dimensional context
# --------------------------------------------------------------------------------------------


class ProjectedTarget:
    r"""A target on :math:`c\in[0,1]^d` that depends on the context only through :math:`s = w\cdot c`.

    :math:`q(x_0\mid c) = q_{\rm base}(x_0\mid w\cdot c)` for a 1-D-context ``base`` target
    (e.g. :class:`~companion.conditional_targets.GumbelBetaTarget`, contexts in [0, 1]).

    Args:
        base: the 1-D-context target.
        w: the projection, shape ``(d,)``, non-negative with sum 1 (so that :math:`s\in[0,1]`).

    Noised marginals are cached per value of :math:`s` (rounded to 12 digits) and grid, so
    contexts sharing :math:`s` cost one evaluation.
    """

    def __init__(self, base: ConditionalTarget, w: Tensor | Sequence[float]) -> None:
        wt = torch.as_tensor(w, dtype=torch.float64).reshape(-1)
        if wt.numel() < 2 or bool((wt < 0).any()) or abs(float(wt.sum()) - 1.0) > 1e-12:
            raise ValueError("w must have >= 2 non-negative entries summing to 1")
        self.base, self.w = base, wt
        self._cache: dict[tuple[float, float, float, int, float, float], Tensor] = {}

    @property
    def dim(self) -> int:
        """Context dimension d."""
        return int(self.w.numel())

    def project(self, c: Tensor) -> Tensor:
        r""":math:`s = w\cdot c` for contexts ``c`` of shape ``(d,)`` or ``(n, d)``."""
        c = torch.as_tensor(c, dtype=torch.float64)
        if c.shape[-1] != self.dim:
            raise ValueError(
                f"contexts must have {self.dim} coordinates, got shape {tuple(c.shape)}"
            )
        if bool(((c < 0) | (c > 1)).any()):
            raise ValueError("contexts must lie in [0, 1]^d")
        return c @ self.w

    def log_marginal(self, z: Tensor, c: Tensor, alpha: float, sigma: float) -> Tensor:
        r"""Log density of :math:`\alpha x_0 + \sigma\varepsilon` given the context row ``c`` (``(d,)``)."""
        s = round(float(self.project(c)), 12)
        key = (s, float(alpha), float(sigma), z.numel(), float(z[0]), float(z[-1]))
        if key not in self._cache:
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[key] = self.base.log_marginal(z, s, alpha, sigma)
        return self._cache[key]

    def sample(self, c: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One draw per context row (``c`` of shape ``(n, d)``), shape ``(n,)``."""
        return self.base.sample(self.project(c).reshape(-1), generator)


# --------------------------------------------------------------------------------------------
# The quadrature objective
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepProblem:
    r"""The per-step KL of step ``t`` tabulated on a quadrature grid (:func:`step_problem`).

    Fields: ``t``; ``contexts`` ``(n_c, d)`` and ``context_weights`` ``(n_c,)`` (sum 1); the
    conditioning pairs, ``z`` ``(m,)`` (:math:`z_t`) and ``pair_context`` ``(m,)`` (index into
    ``contexts``); ``y`` ``(n,)``, the :math:`z_{t-1}` nodes shared by all pairs; ``weight``
    ``(m, n)`` (trapezoid weight times :math:`q(y, z\mid c)` times the context weight, 0 at
    dropped points) and ``log_cond`` ``(m, n)`` (:math:`\log q(y\mid z, c)`, 0 at dropped
    points); ``dropped``, the context-averaged joint mass of the points dropped as negligible;
    ``mass``, the tabulated mass (1 up to quadrature and truncation error); ``h_y``, the spacing
    of the :math:`z_{t-1}` grid.
    """

    t: int
    contexts: Tensor
    context_weights: Tensor
    z: Tensor
    pair_context: Tensor
    y: Tensor
    weight: Tensor
    log_cond: Tensor
    dropped: float
    mass: float
    h_y: float
    _features: Tensor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        feats = torch.cat([self.z.unsqueeze(-1), self.contexts[self.pair_context]], -1)
        object.__setattr__(self, "_features", feats)

    @property
    def features(self) -> Tensor:
        r"""Kernel inputs :math:`(z_t, c)` of the pairs, shape ``(m, 1 + d)``."""
        return self._features

    @property
    def n_points(self) -> int:
        """Number of quadrature points with non-zero weight."""
        return int((self.weight > 0).sum())

    def log_prob(self, params: KernelParams) -> Tensor:
        r""":math:`\log p(y_i\mid z_j, c_j)` at every pair and node, shape ``(m, n)``."""
        m = self.z.numel()
        if params.log_w.ndim != 2 or params.log_w.shape[0] != m:
            raise ValueError(
                f"kernel parameters must have shape ({m}, K), got {tuple(params.log_w.shape)}"
            )
        lw, mu, sd = (v.unsqueeze(1) for v in params)  # (m, 1, K)
        u = (self.y[None, :, None] - mu) / sd
        return torch.logsumexp(lw - 0.5 * u * u - torch.log(sd), -1) - 0.5 * LOG_2PI

    def kl(self, params: KernelParams) -> Tensor:
        r"""Context-averaged per-step KL :math:`\varepsilon_t` of the kernel (0-d, differentiable)."""
        return (self.weight * (self.log_cond - self.log_prob(params))).sum()

    def kl_per_context(self, params: KernelParams) -> Tensor:
        """Per-context per-step KL (not weighted by the context weights), shape ``(n_c,)``."""
        f = (self.weight * (self.log_cond - self.log_prob(params))).sum(-1)
        per = torch.zeros(self.contexts.shape[0], dtype=torch.float64).index_add_(
            0, self.pair_context, f
        )
        return per / self.context_weights


def step_problem(
    target: ConditionalTarget,
    chain: VPChain,
    t: int,
    contexts: Tensor | Sequence[float] | Sequence[Sequence[float]],
    context_weights: Tensor | Sequence[float] | None = None,
    n_z: int = 121,
    n_y: int = 241,
    z_range: tuple[float, float] = (-7.0, 7.0),
    y_range: tuple[float, float] = (-7.0, 7.0),
    prune: float = 1e-14,
) -> StepProblem:
    r"""Tabulate the context-averaged per-step KL of step ``t`` (see the module docstring).

    Args:
        target: the conditional target; ``log_marginal`` must accept a context row (a float for
            1-D contexts, a ``(d,)`` tensor otherwise).
        chain, t: the forward chain and the step (1-based).
        contexts: context nodes, ``(n_c,)`` or ``(n_c, d)``.
        context_weights: their weights (normalised to sum 1), default equal.
        n_z, n_y: nodes of the uniform trapezoid grids of :math:`z_t` on ``z_range`` and of
            :math:`z_{t-1}` on ``y_range``. The grids must hold the mass of the marginals.
        prune: points whose weight is below ``prune`` times the largest weight get weight 0
            (their mass is reported as ``dropped``); pairs and nodes left without weight are
            removed.

    Raises:
        ValueError: bad sizes or ranges, or grids that miss the mass of the marginals (tabulated
            mass off 1 by more than 1e-2 for some context).
    """
    t = chain.check_step(t)
    n_z, n_y = _check_int("n_z", n_z, 3), _check_int("n_y", n_y, 3)
    for name, (lo, hi) in (("z_range", z_range), ("y_range", y_range)):
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ValueError(f"{name} must be a finite interval (lo < hi), got {(lo, hi)!r}")
    if not 0 <= prune < 1e-6:
        raise ValueError(f"prune must lie in [0, 1e-6), got {prune!r}")
    cs = _as_contexts(contexts)
    n_c = cs.shape[0]
    if context_weights is None:
        wc = torch.full((n_c,), 1.0 / n_c, dtype=torch.float64)
    else:
        wc = torch.as_tensor(context_weights, dtype=torch.float64).reshape(-1)
        if wc.numel() != n_c or bool((wc <= 0).any()) or not bool(torch.isfinite(wc).all()):
            raise ValueError(f"context_weights must be {n_c} positive finite numbers")
        wc = wc / wc.sum()
    z, wz = _trapezoid(*z_range, n_z)
    y, wy = _trapezoid(*y_range, n_y)
    a, b2 = chain.a(t), chain.b2(t)
    log_tr = -0.5 * ((z[:, None] - a * y[None, :]) ** 2 / b2 + math.log(b2) + LOG_2PI)
    joints, conds, masses = [], [], []
    for j in range(n_c):
        lq_prev = _log_marginal(target, y, cs[j], chain.alpha(t - 1), chain.sigma(t - 1))
        lq_t = _log_marginal(target, z, cs[j], chain.alpha(t), chain.sigma(t))
        lj = lq_prev[None, :] + log_tr  # (n_z, n_y)
        w = torch.exp(lj) * wz[:, None] * wy[None, :]
        masses.append(float(w.sum()))
        joints.append(w * wc[j])
        conds.append(lj - lq_t[:, None])
    bad = [(cs[j].tolist(), masses[j]) for j in range(n_c) if abs(masses[j] - 1.0) > 1e-2]
    if bad:
        raise ValueError(
            f"the grids miss mass of q(y, z | c) at step {t} (context, mass): {bad[:3]}; widen "
            "z_range / y_range or refine the grids"
        )
    W = torch.stack(joints).reshape(n_c * n_z, n_y)
    L = torch.stack(conds).reshape(n_c * n_z, n_y)
    keep = W > prune * W.max()
    rows = keep.any(-1)
    cols = torch.nonzero(keep.any(0), as_tuple=True)[0]
    c0, c1 = int(cols.min()), int(cols.max()) + 1
    keep_rc = keep[rows, c0:c1]
    Wk = torch.where(keep_rc, W[rows, c0:c1], torch.zeros_like(keep_rc, dtype=torch.float64))
    Lk = torch.where(keep_rc, L[rows, c0:c1], torch.zeros_like(Wk))
    pair_context = torch.arange(n_c).repeat_interleave(n_z)[rows]
    return StepProblem(
        t=t,
        contexts=cs,
        context_weights=wc,
        z=z.repeat(n_c)[rows],
        pair_context=pair_context,
        y=y[c0:c1],
        weight=Wk,
        log_cond=Lk,
        dropped=float(W.sum() - Wk.sum()),
        mass=float(W.sum()),
        h_y=float(y[1] - y[0]),
    )


def chain_problems(
    target: ConditionalTarget,
    chain: VPChain,
    contexts: Tensor | Sequence[float] | Sequence[Sequence[float]],
    **kwargs: object,
) -> list[StepProblem]:
    """:func:`step_problem` for every step ``t = 1..T`` (index ``t - 1``); ``kwargs`` are passed on."""
    return [step_problem(target, chain, t, contexts, **kwargs) for t in range(1, chain.T + 1)]  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Kernel classes
# --------------------------------------------------------------------------------------------


def _uniform(shape: tuple[int, ...], bound: float, generator: torch.Generator | None) -> Tensor:
    return bound * (2 * torch.rand(shape, dtype=torch.float64, generator=generator) - 1)


class ContextMap(nn.Module):
    r"""A linear context feature map :math:`\phi(c) = Pc`, :math:`P\in\mathbb R^{m\times d}`.

    Build with :meth:`identity` (:math:`P = I`), :meth:`learned` (:math:`P` a parameter learned
    jointly with the kernel) or :meth:`fixed` (a given :math:`P`, e.g. a projection that drops
    coordinates or misses the relevant direction).
    """

    def __init__(self, matrix: Tensor, learn: bool) -> None:
        super().__init__()
        P = torch.as_tensor(matrix, dtype=torch.float64)
        if P.ndim != 2 or P.shape[0] < 1 or P.shape[1] < 1:
            raise ValueError(f"matrix must have shape (m, d), got {tuple(P.shape)}")
        self.learn = bool(learn)
        if self.learn:
            self.matrix = nn.Parameter(P.clone())
        else:
            self.register_buffer("matrix", P.clone())

    @classmethod
    def identity(cls, d: int) -> ContextMap:
        """:math:`\\phi(c) = c`."""
        return cls(torch.eye(_check_int("d", d, 1), dtype=torch.float64), learn=False)

    @classmethod
    def learned(cls, d: int, m: int = 1, generator: torch.Generator | None = None) -> ContextMap:
        r"""A learned map to :math:`\mathbb R^m`, initialised with entries uniform in :math:`\pm 1/\sqrt d`."""
        d, m = _check_int("d", d, 1), _check_int("m", m, 1)
        return cls(_uniform((m, d), 1 / math.sqrt(d), generator), learn=True)

    @classmethod
    def fixed(cls, matrix: Tensor | Sequence[Sequence[float]]) -> ContextMap:
        """A fixed map with the given ``(m, d)`` matrix."""
        return cls(torch.as_tensor(matrix, dtype=torch.float64), learn=False)

    @property
    def d_in(self) -> int:
        """Context dimension d."""
        return int(self.matrix.shape[1])

    @property
    def d_out(self) -> int:
        """Feature dimension m."""
        return int(self.matrix.shape[0])

    def forward(self, c: Tensor) -> Tensor:
        """``(n, d) -> (n, m)``."""
        return c @ self.matrix.T


class _ReLUNet(nn.Module):
    """A ReLU MLP on inputs normalised by a fixed centre and half-width, float64.

    Hidden kinks are spread over the input box (directions uniform, offsets uniform in
    [-1, 1] after normalisation); the output layer starts small.
    """

    def __init__(
        self,
        d_in: int,
        d_out: int,
        width: int,
        depth: int,
        generator: torch.Generator | None,
        out_scale: float = 0.1,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        d = d_in
        for i in range(depth):
            lin = nn.Linear(d, width, dtype=torch.float64)
            with torch.no_grad():
                if i == 0:
                    u = torch.randn(width, d, dtype=torch.float64, generator=generator)
                    lin.weight.copy_(u / u.norm(dim=1, keepdim=True))
                    lin.bias.copy_(_uniform((width,), 1.0, generator))
                else:
                    bound = math.sqrt(6.0 / d)
                    lin.weight.copy_(_uniform((width, d), bound, generator))
                    lin.bias.copy_(_uniform((width,), 0.1, generator))
            layers += [lin, nn.ReLU()]
            d = width
        out = nn.Linear(d, d_out, dtype=torch.float64)
        with torch.no_grad():
            out.weight.copy_(_uniform((d_out, d), out_scale / math.sqrt(d), generator))
            out.bias.zero_()
        layers.append(out)
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def _check_class_args(n_components: int, width: int, depth: int, min_std: float) -> None:
    _check_int("n_components", n_components, 1)
    _check_int("width", width, 1)
    _check_int("depth", depth, 1)
    check_positive("min_std", min_std)


class ContextKernel(nn.Module):
    """Base of the reverse-kernel classes: splits features ``(z_t, c)`` into ``z_t`` and the
    context features ``phi(c)`` of its :class:`ContextMap`."""

    def __init__(self, context_map: ContextMap, z_scale: float) -> None:
        super().__init__()
        self.context_map = context_map
        self.z_scale = check_positive("z_scale", z_scale)

    def _split(self, features: Tensor) -> tuple[Tensor, Tensor]:
        if features.ndim != 2 or features.shape[1] != 1 + self.context_map.d_in:
            raise ValueError(
                f"features must have shape (m, {1 + self.context_map.d_in}) (z_t, c), got "
                f"{tuple(features.shape)}"
            )
        z = features[:, :1]
        return z, self.context_map(features[:, 1:])


class NetworkedMixture(ContextKernel):
    r"""Fully networked K-component kernel of one step (the head of ``MixtureKernelNet``, ``"full"``).

    A ReLU network on :math:`(z_t/s_z, \phi(c))` outputs :math:`\ell_k`, :math:`\delta_k` and
    :math:`\rho_k`; the kernel has weights :math:`\mathrm{softmax}(\ell)`, means
    :math:`z_t + \delta_k + r_k` (:math:`r_k` spread evenly over [-1, 1]) and standard deviations
    ``min_std`` :math:`+ b_t e^{\rho_k}`.

    Args:
        n_components: K. width, depth: of the ReLU network.
        step_std: :math:`b_t` of the step (sets the initial scale of the components).
        context_map: :math:`\phi` (default the identity on ``d_context`` coordinates).
        d_context: context dimension when ``context_map`` is not given.
        z_scale: :math:`s_z`, the scale by which :math:`z_t` is divided at the input.
        min_std: floor on the component standard deviations.
        generator: for the random initialisation (a multi-start draws a new one per start).
    """

    spread: Tensor

    def __init__(
        self,
        n_components: int,
        width: int,
        step_std: float,
        depth: int = 2,
        context_map: ContextMap | None = None,
        d_context: int = 1,
        z_scale: float = 3.0,
        min_std: float = 0.05,
        generator: torch.Generator | None = None,
    ) -> None:
        _check_class_args(n_components, width, depth, min_std)
        super().__init__(context_map or ContextMap.identity(d_context), z_scale)
        self.K, self.min_std = n_components, float(min_std)
        self.log_b = math.log(check_positive("step_std", step_std))
        self.net = _ReLUNet(1 + self.context_map.d_out, 3 * self.K, width, depth, generator)
        spread = torch.linspace(-1.0, 1.0, self.K, dtype=torch.float64) if self.K > 1 else None
        self.register_buffer("spread", spread if spread is not None else torch.zeros(1))

    def forward(self, features: Tensor) -> KernelParams:
        """Kernel parameters at the features ``(m, 1 + d)``, each ``(m, K)``."""
        z, h = self._split(features)
        out = self.net(torch.cat([z / self.z_scale, h], -1))
        ell, dm, ls = out.split(self.K, -1)
        means = z + dm + self.spread
        stds = self.min_std + torch.exp(ls + self.log_b)
        return KernelParams(torch.log_softmax(ell, -1), means, stds)


class RegressionMixture(ContextKernel):
    r"""The paper's literal class: ReLU-network logits, means affine in the features, constant variances.

    :math:`p(y\mid z_t, c) = \sum_k\mathrm{softmax}(\ell(h))_k\,\mathcal N(y;\,\mu_k(h),\,s_k^2)`
    with :math:`h = (z_t, \phi(c))`, :math:`\ell` a ReLU network of :math:`(z_t/s_z, \phi(c))`,
    :math:`\mu_k(h) = \beta_{k0} + \beta_k^\top h` (``means="affine"``, a mixture of regressions
    as in Norets' construction) or :math:`\mu_k = \beta_{k0}` (``means="constant"``), and
    :math:`s_k` = ``min_std`` :math:`+ e^{\rho_k}` free per component.

    Initialisation: :math:`\beta_{k0}` evenly over ``[-mean_spread, mean_spread]`` plus a random
    jitter, slope :math:`a_t` on :math:`z_t` and 0 on the context features, :math:`s_k = b_t`.
    Arguments as in :class:`NetworkedMixture`, plus ``step_gain`` (:math:`a_t`).
    """

    def __init__(
        self,
        n_components: int,
        width: int,
        step_std: float,
        step_gain: float,
        means: str = "affine",
        depth: int = 2,
        context_map: ContextMap | None = None,
        d_context: int = 1,
        z_scale: float = 3.0,
        min_std: float = 0.02,
        mean_spread: float = 2.0,
        generator: torch.Generator | None = None,
    ) -> None:
        _check_class_args(n_components, width, depth, min_std)
        super().__init__(context_map or ContextMap.identity(d_context), z_scale)
        self.means_kind = check_in("means", means, ("affine", "constant"))
        self.K, self.min_std = n_components, float(min_std)
        check_positive("step_std", step_std)
        check_positive("mean_spread", mean_spread)
        m = self.context_map.d_out
        self.net = _ReLUNet(1 + m, self.K, width, depth, generator)
        base = torch.linspace(-mean_spread, mean_spread, self.K, dtype=torch.float64)
        if self.K == 1:
            base = torch.zeros(1, dtype=torch.float64)
        jitter = _uniform((self.K,), 0.1 * mean_spread / self.K, generator)
        self.intercept = nn.Parameter(base + jitter)
        if self.means_kind == "affine":
            slope = torch.zeros(self.K, 1 + m, dtype=torch.float64)
            slope[:, 0] = float(step_gain)
            self.slope: nn.Parameter | None = nn.Parameter(slope)
        else:
            self.slope = None
        s0 = max(float(step_std) - self.min_std, 0.5 * float(step_std))
        self.log_s = nn.Parameter(torch.full((self.K,), math.log(s0), dtype=torch.float64))

    def initialise(
        self, problem: StepProblem, generator: torch.Generator | None = None
    ) -> RegressionMixture:
        r"""Data-driven start on ``problem`` (in place; returns ``self``).

        A weighted least-squares regression of :math:`z_{t-1}` on :math:`(1, z_t, \phi(c))`
        under :math:`q(y, z\mid c)` gives a common slope (``means="affine"``; no regression for
        ``"constant"``); the intercepts go to the :math:`(k + \frac12)/K` quantiles of the
        residual (of :math:`z_{t-1}` itself for constant means), jittered by up to a quarter of
        their spacing with ``generator``; the component standard deviations start at the
        residual standard deviation over :math:`\sqrt K`. The logit network keeps its random
        initialisation, so starts differ by ``generator`` and the network.
        """
        with torch.no_grad():
            z, h = self._split(problem.features)
            w = problem.weight  # (m, n)
            wp = w.sum(-1)
            total = float(wp.sum())
            if self.slope is not None:
                X = torch.cat([torch.ones_like(z), z, h], -1)
                ybar = (w * problem.y).sum(-1) / wp.clamp_min(1e-300)
                A = X.T @ (wp[:, None] * X)
                A = A + 1e-10 * torch.trace(A) * torch.eye(A.shape[0], dtype=torch.float64)
                beta = torch.linalg.solve(A, X.T @ (wp * ybar))
                resid = problem.y[None, :] - (X @ beta)[:, None]
                self.slope.copy_(beta[1:].expand(self.K, -1))
                offset = float(beta[0])
            else:
                resid = problem.y[None, :].expand_as(w)
                offset = 0.0
            r, ww = resid.reshape(-1), w.reshape(-1) / total
            order = torch.argsort(r)
            cdf = torch.cumsum(ww[order], 0)
            levels = (torch.arange(self.K, dtype=torch.float64) + 0.5) / self.K
            idx = torch.searchsorted(cdf, levels).clamp_max(r.numel() - 1)
            q = r[order][idx]
            mean_r = float((ww * r).sum())
            sd = math.sqrt(max(float((ww * (r - mean_r) ** 2).sum()), 1e-12))
            gap = (float(q[-1] - q[0]) / (self.K - 1)) if self.K > 1 else 0.0
            self.intercept.copy_(offset + q + _uniform((self.K,), 0.25 * gap, generator))
            s0 = max(sd / math.sqrt(self.K) - self.min_std, 0.1 * sd)
            self.log_s.fill_(math.log(s0))
        return self

    def forward(self, features: Tensor) -> KernelParams:
        """Kernel parameters at the features ``(m, 1 + d)``, each ``(m, K)``."""
        z, h = self._split(features)
        ell = self.net(torch.cat([z / self.z_scale, h], -1))
        if self.slope is not None:
            means = self.intercept + torch.cat([z, h], -1) @ self.slope.T
        else:
            means = self.intercept + torch.zeros_like(z)  # an op, not a view of the leaf
        stds = (self.min_std + torch.exp(self.log_s)).expand_as(means)
        return KernelParams(torch.log_softmax(ell, -1), means, stds)


# --------------------------------------------------------------------------------------------
# Evaluation and fitting
# --------------------------------------------------------------------------------------------


def kernel_fn_params(problem: StepProblem, kernel: KernelFn) -> KernelParams:
    """A :data:`companion.mixture_kernels.KernelFn` (1-D contexts) evaluated at the problem's pairs.

    For scoring known kernels (exact, moment-matched, perturbed) with :meth:`StepProblem.kl`.
    """
    if problem.contexts.shape[1] != 1:
        raise ValueError("a KernelFn takes scalar contexts; the problem has d > 1")
    m = problem.z.numel()
    out: list[Tensor | None] = [None, None, None]
    for j in range(problem.contexts.shape[0]):
        idx = torch.nonzero(problem.pair_context == j, as_tuple=True)[0]
        if idx.numel() == 0:
            continue
        p = kernel(problem.z[idx], float(problem.contexts[j, 0]), problem.t)
        for i, v in enumerate(p):
            if out[i] is None:
                out[i] = torch.empty(m, v.shape[-1], dtype=torch.float64)
            out[i][idx] = v.to(torch.float64)  # type: ignore[index]
    assert out[0] is not None and out[1] is not None and out[2] is not None
    return KernelParams(out[0], out[1], out[2])


def step_value(problem: StepProblem, model: nn.Module) -> float:
    """The per-step KL of a kernel module on a problem (no gradients): in-sample or held-out."""
    with torch.no_grad():
        return float(problem.kl(model(problem.features)))


@dataclass
class StepFit:
    """Result of :func:`fit_step`: ``value`` (final per-step KL), ``history`` (value after each
    L-BFGS call), ``n_evals`` (objective evaluations), ``seconds``, ``converged`` (the last call
    changed the value by less than the tolerance), ``nonfinite`` (how many times a line-search
    trial point gave a non-finite objective; each time L-BFGS restarts from the best state)."""

    value: float
    history: list[float]
    n_evals: int
    seconds: float
    converged: bool
    nonfinite: int = 0


def fit_step(
    problem: StepProblem,
    model: nn.Module,
    max_iter: int = 400,
    tolerance: float = 1e-11,
    history_size: int = 50,
    chunk: int = 50,
) -> StepFit:
    r"""Minimise the exact per-step KL of ``model`` on ``problem`` with L-BFGS (strong Wolfe).

    Full batch, float64. L-BFGS runs in calls of ``chunk`` iterations (``max_iter`` in all: the
    last call runs the remainder) and stops when a call improves the objective by less than ``tolerance`` (nats). A
    non-finite objective at a line-search trial point restarts L-BFGS from the best state (at
    most 3 times, counted in ``StepFit.nonfinite``).
    The model is left at the best parameters found (checked after each call).
    """
    max_iter = _check_int("max_iter", max_iter, 1)
    chunk = _check_int("chunk", chunk, 1)
    check_positive("tolerance", tolerance)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameters")
    if any(p.dtype != torch.float64 for p in params):
        raise ValueError("model parameters must be float64")

    def new_optimiser() -> torch.optim.LBFGS:
        return torch.optim.LBFGS(
            params,
            lr=1.0,
            max_iter=chunk,
            max_eval=int(chunk * 1.25) + 1,
            history_size=history_size,
            tolerance_grad=1e-12,
            tolerance_change=1e-15,
            line_search_fn="strong_wolfe",
        )

    opt = new_optimiser()
    n_evals = 0

    def closure() -> Tensor:
        nonlocal n_evals
        opt.zero_grad()
        loss = problem.kl(model(problem.features))
        n_evals += 1
        if not bool(torch.isfinite(loss)):
            raise FloatingPointError("per-step KL became non-finite during the fit")
        loss.backward()
        return loss

    t0 = time.perf_counter()
    best = step_value(problem, model)
    best_state = {k: v.clone() for k, v in model.state_dict().items()}
    history = [best]
    done, converged, nonfinite = 0, False, 0
    while done < max_iter:
        n_it = min(chunk, max_iter - done)  # the last call runs only the remaining iterations
        opt.param_groups[0]["max_iter"] = n_it
        opt.param_groups[0]["max_eval"] = int(n_it * 1.25) + 1
        done += n_it
        try:
            opt.step(closure)
        except FloatingPointError:
            # a line-search trial point overflowed: restart L-BFGS from the best state (3 times)
            nonfinite += 1
            model.load_state_dict(best_state)
            opt = new_optimiser()
            if nonfinite >= 3:
                break
            continue
        v = step_value(problem, model)
        history.append(v)
        if v < best:
            improved = best - v
            best, best_state = v, {k: x.clone() for k, x in model.state_dict().items()}
            if improved < tolerance:
                converged = True
                break
        else:
            converged = True
            break
    model.load_state_dict(best_state)
    return StepFit(best, history, n_evals, time.perf_counter() - t0, converged, nonfinite)


@dataclass
class MultiStart:
    """Fits of one step from several random starts: ``values`` (final per-step KL per start),
    ``fits`` (:class:`StepFit` per start), ``models`` (the fitted modules), and the best."""

    values: np.ndarray
    fits: list[StepFit]
    models: list[nn.Module]

    @property
    def best(self) -> nn.Module:
        """The module with the smallest per-step KL."""
        return self.models[int(np.argmin(self.values))]

    @property
    def best_value(self) -> float:
        """Smallest per-step KL over starts."""
        return float(self.values.min())

    @property
    def spread(self) -> float:
        """Largest minus smallest per-step KL over starts (the optimisation spread)."""
        return float(self.values.max() - self.values.min())


def fit_multistart(
    problem: StepProblem,
    make_model: Callable[[torch.Generator], nn.Module],
    n_starts: int = 3,
    seed: int = 0,
    disable: bool | None = None,
    initial: Sequence[nn.Module] = (),
    **fit_kwargs: float,
) -> MultiStart:
    """:func:`fit_step` from ``n_starts`` initialisations ``make_model(generator)``, the generator
    seeded ``seed, seed + 1, ...``, and from each module of ``initial`` (fitted in place after
    the random starts, e.g. a nested start from :func:`split_components`); ``fit_kwargs`` go
    to :func:`fit_step`. ``n_starts`` may be 0 when ``initial`` is not empty."""
    n_starts = _check_int("n_starts", n_starts, 0 if initial else 1)
    fits, models = [], []
    for s in progress(range(n_starts), desc=f"step {problem.t} starts", disable=disable):
        model = make_model(torch.Generator().manual_seed(seed + s))
        fits.append(fit_step(problem, model, **fit_kwargs))  # type: ignore[arg-type]
        models.append(model)
    for model in initial:
        fits.append(fit_step(problem, model, **fit_kwargs))  # type: ignore[arg-type]
        models.append(model)
    return MultiStart(np.array([f.value for f in fits]), fits, models)


def split_components(
    model: NetworkedMixture | RegressionMixture, factor: int = 2, jitter: float = 0.5
) -> NetworkedMixture | RegressionMixture:
    r"""A nested start: a copy of a fitted ``model`` with each component split into ``factor``.

    The copy has ``factor * K`` components and computes *exactly the same kernel*: each
    component is repeated ``factor`` times with the same mean and standard deviation, and its
    weight is shared among the copies through logit offsets ``jitter * (0, 1, ..., factor - 1)``
    (centred; a mixture of identical components does not depend on how their weight is split).
    The unequal split breaks the symmetry between the copies (equal copies would receive equal
    gradients and never separate), so an L-BFGS fit from this start can only lower the per-step
    KL of the smaller fit (:func:`fit_step` keeps its start when nothing is better): the fit at
    ``factor * K`` is then no worse than the fit at ``K`` on the fitting problem, and what a
    comparison across ``K`` tests is the class, not the start. The network's hidden layers are
    copied; ``model`` is not changed.
    """
    factor = _check_int("factor", factor, 1)
    if not isinstance(model, (NetworkedMixture, RegressionMixture)):
        raise TypeError(f"cannot split a {type(model).__name__}")
    K = model.K
    offsets = jitter * (torch.arange(factor, dtype=torch.float64) - 0.5 * (factor - 1))
    new = copy.deepcopy(model)
    new.K = K * factor
    old_out = model.net.net[-1]
    assert isinstance(old_out, nn.Linear)
    w, b = old_out.weight, old_out.bias
    rep = torch.arange(K).repeat_interleave(factor)  # new component i copies old rep[i]
    off = offsets.repeat(K)
    with torch.no_grad():
        if isinstance(model, NetworkedMixture):
            # output rows: logits, mean offsets, log-stds
            rows = torch.cat([rep, K + rep, 2 * K + rep])
            lin = nn.Linear(w.shape[1], 3 * K * factor, dtype=torch.float64)
            lin.weight.copy_(w[rows])
            lin.bias.copy_(b[rows])
            lin.bias[: K * factor] += off
            spread = (
                torch.linspace(-1.0, 1.0, K * factor, dtype=torch.float64)
                if K * factor > 1
                else torch.zeros(1, dtype=torch.float64)
            )
            old_spread = model.spread if K > 1 else torch.zeros(K, dtype=torch.float64)
            # means z + dm + spread: move the difference of the fixed spreads into the bias
            lin.bias[K * factor : 2 * K * factor] += old_spread[rep] - spread
            new.spread = spread
        elif isinstance(model, RegressionMixture):
            lin = nn.Linear(w.shape[1], K * factor, dtype=torch.float64)
            lin.weight.copy_(w[rep])
            lin.bias.copy_(b[rep] + off)
            new.intercept = nn.Parameter(model.intercept.detach()[rep].clone())
            if model.slope is not None:
                new.slope = nn.Parameter(model.slope.detach()[rep].clone())
            new.log_s = nn.Parameter(model.log_s.detach()[rep].clone())
        new.net.net[-1] = lin
    return new


def fit_chain(
    problems: Sequence[StepProblem],
    make_model: Callable[[int, torch.Generator], nn.Module],
    n_starts: int = 3,
    seed: int = 0,
    disable: bool | None = None,
    max_iters: Sequence[int] | None = None,
    nested: Sequence[MultiStart] | None = None,
    nested_factor: int = 2,
    **fit_kwargs: float,
) -> list[MultiStart]:
    """:func:`fit_multistart` for each step's problem (``problems[t - 1]`` is step ``t``);
    ``make_model(t, generator)`` builds the kernel of step ``t``.

    ``max_iters``: L-BFGS iterations per problem (same order as ``problems``), e.g. many at the
    data step and few at the noised steps; overrides ``max_iter`` in ``fit_kwargs``.
    ``nested``: the fits of a smaller class (same order as ``problems``); each step then gets,
    besides the random starts, a nested start :func:`split_components` of that step's best
    smaller fit (``nested_factor`` copies per component), so that the best fit is no worse
    than the smaller one on the fitting problem.
    """
    if not problems:
        raise ValueError("problems must be non-empty")
    if max_iters is not None and len(max_iters) != len(problems):
        raise ValueError(f"max_iters must have one entry per problem ({len(problems)})")
    if nested is not None and len(nested) != len(problems):
        raise ValueError(f"nested must have one entry per problem ({len(problems)})")
    out = []
    for i, p in enumerate(progress(problems, desc="steps", disable=disable)):

        def make(g: torch.Generator, t: int = p.t) -> nn.Module:
            return make_model(t, g)

        kw = dict(fit_kwargs)
        if max_iters is not None:
            kw["max_iter"] = int(max_iters[i])
        init: list[nn.Module] = []
        if nested is not None:
            small = nested[i].best
            assert isinstance(small, (NetworkedMixture, RegressionMixture))
            init.append(split_components(small, nested_factor))
        out.append(fit_multistart(p, make, n_starts, seed + 1000 * p.t, True, initial=init, **kw))
    return out


def _kernel_params(problem: StepProblem, kernel: nn.Module | KernelFn) -> KernelParams:
    if isinstance(kernel, nn.Module):
        with torch.no_grad():
            out: KernelParams = kernel(problem.features)
        return out
    return kernel_fn_params(problem, kernel)


def chain_values(
    problems: Sequence[StepProblem], kernels: Sequence[nn.Module] | KernelFn
) -> np.ndarray:
    """Per-step KL on ``problems`` (in-sample or held-out), shape ``(T,)``.

    ``kernels``: one fitted module per problem (``kernels[i]`` on ``problems[i]``), or one
    :data:`companion.mixture_kernels.KernelFn` for all steps (e.g. a trained network).
    """
    return (_per_step_context(problems, kernels) * _weights(problems)[None, :]).sum(-1)


def chain_values_per_context(
    problems: Sequence[StepProblem], kernels: Sequence[nn.Module] | KernelFn
) -> np.ndarray:
    r"""Per-context summed per-step KL :math:`\sum_t\varepsilon_t(c_j)`, shape ``(n_c,)``.

    The problems must share their contexts; the context-weighted mean of the result is the sum
    of :func:`chain_values`. ``kernels`` as in :func:`chain_values`.
    """
    return _per_step_context(problems, kernels).sum(0)


def _weights(problems: Sequence[StepProblem]) -> np.ndarray:
    return problems[0].context_weights.numpy()


def _per_step_context(
    problems: Sequence[StepProblem], kernels: Sequence[nn.Module] | KernelFn
) -> np.ndarray:
    """Per-step, per-context KL, shape ``(T, n_c)``."""
    if not problems:
        raise ValueError("problems must be non-empty")
    if not callable(kernels) or isinstance(kernels, nn.Module):
        if len(problems) != len(kernels):  # type: ignore[arg-type]
            raise ValueError("give one fitted kernel per problem")
        ks: list[nn.Module | KernelFn] = list(kernels)  # type: ignore[arg-type]
    else:
        ks = [kernels] * len(problems)
    c0 = problems[0].contexts
    rows = []
    for p, k in zip(problems, ks, strict=True):
        if p.contexts.shape != c0.shape or not torch.equal(p.contexts, c0):
            raise ValueError("the problems must share their contexts")
        with torch.no_grad():
            rows.append(p.kl_per_context(_kernel_params(p, k)).numpy())
    return np.stack(rows)


def chain_kernel(models: Sequence[nn.Module]) -> KernelFn:
    """Fitted per-step kernels (``models[t - 1]`` for step ``t``, 1-D contexts) as a
    :data:`companion.mixture_kernels.KernelFn`, for :func:`companion.mixture_kernels.evaluate_chain`."""
    if not models:
        raise ValueError("models must be non-empty")

    def kernel(z: Tensor, c: float, t: int) -> KernelParams:
        if not 1 <= t <= len(models):
            raise ValueError(f"t must be in 1..{len(models)}, got {t}")
        feats = torch.stack(
            [z.to(torch.float64), torch.full_like(z, float(c), dtype=torch.float64)], -1
        )
        with torch.no_grad():
            out: KernelParams = models[t - 1](feats)
        return out

    return kernel


# --------------------------------------------------------------------------------------------
# Floors of insufficient feature maps
# --------------------------------------------------------------------------------------------


def context_groups(contexts: Tensor, context_map: ContextMap, decimals: int = 9) -> Tensor:
    r"""Group index of each context row by the value of :math:`\phi(c)` (rounded), shape ``(n_c,)``.

    On a finite set of contexts, the best kernel that sees :math:`\phi(c)` only is the
    :math:`q(z_{t-1}\mid z_t, \cdot)` of the context group sharing :math:`\phi(c)`.
    """
    cs = _as_contexts(contexts)
    with torch.no_grad():
        h = torch.round(context_map(cs) * 10**decimals) / 10**decimals
    _, inv = torch.unique(h, dim=0, return_inverse=True)
    return inv


def grouped_step_floor(
    target: ConditionalTarget,
    chain: VPChain,
    t: int,
    contexts: Tensor | Sequence[float] | Sequence[Sequence[float]],
    groups: Tensor,
    n_z: int = 161,
    n_y: int = 241,
    z_range: tuple[float, float] = (-7.0, 7.0),
    y_range: tuple[float, float] = (-7.0, 7.0),
) -> float:
    r"""Smallest per-step KL (equal context weights) of any kernel that sees only the group of :math:`c`.

    :math:`\frac1{n_c}\sum_j E\,\mathrm{KL}(q(y\mid z, c_j)\,\|\,q(y\mid z, G_j))` with
    :math:`q(y, z\mid G) = \mathrm{mean}_{c\in G}\,q(y, z\mid c)`: the conditional mutual
    information :math:`I(z_{t-1}; C\mid z_t, G)`, by the same trapezoid rule as
    :func:`step_problem`. ``groups``: integer labels, shape ``(n_c,)`` (:func:`context_groups`).
    """
    t = chain.check_step(t)
    cs = _as_contexts(contexts)
    g = torch.as_tensor(groups, dtype=torch.long).reshape(-1)
    if g.numel() != cs.shape[0]:
        raise ValueError(f"groups must have one label per context ({cs.shape[0]}), got {g.numel()}")
    z, wz = _trapezoid(*z_range, _check_int("n_z", n_z, 3))
    y, wy = _trapezoid(*y_range, _check_int("n_y", n_y, 3))
    a, b2 = chain.a(t), chain.b2(t)
    log_tr = -0.5 * ((z[:, None] - a * y[None, :]) ** 2 / b2 + math.log(b2) + LOG_2PI)
    lj = torch.stack(
        [
            _log_marginal(target, y, cs[j], chain.alpha(t - 1), chain.sigma(t - 1))[None, :]
            + log_tr
            for j in range(cs.shape[0])
        ]
    )  # (n_c, n_z, n_y)
    total = 0.0
    for label in torch.unique(g):
        idx = torch.nonzero(g == label, as_tuple=True)[0]
        lg = lj[idx]
        l_bar = torch.logsumexp(lg, 0) - math.log(idx.numel())
        # KL(q(y|z,c) || q(y|z,G)) = E log[q(y,z|c)/q(y,z|G)] - KL(q(z|c) || q(z|G)) in z
        jt = (kl_integrand(lg, l_bar) * wz[None, :, None] * wy[None, None, :]).sum()
        lz = torch.logsumexp(lg + torch.log(wy)[None, None, :], -1)  # log q(z|c) by quadrature
        lz_bar = torch.logsumexp(lz, 0) - math.log(idx.numel())
        mt = (torch.exp(lz) * (lz - lz_bar) * wz[None, :]).sum()
        total += float(jt - mt)
    return total / cs.shape[0]


def conditional_context_information(
    target: ConditionalTarget,
    contexts: Tensor | Sequence[float] | Sequence[Sequence[float]],
    groups: Tensor,
    alpha: float,
    sigma: float,
    x: Tensor,
) -> float:
    r""":math:`I(Z; C\mid G)` for :math:`Z = \alpha x_0 + \sigma\varepsilon`, :math:`C` uniform over
    ``contexts`` and :math:`G` its group label (trapezoid rule on the uniform grid ``x``).

    With one group it is :math:`I(Z; C)`
    (:func:`companion.information.context_mutual_information` at ``alpha = 1, sigma = 0``).
    Across a chain, :math:`\sum_t` :func:`grouped_step_floor` :math:`= I(z_0; C\mid G) - I(z_T;
    C\mid G)` (chain rule), the information an insufficient feature map loses on the path.
    """
    cs = _as_contexts(contexts)
    g = torch.as_tensor(groups, dtype=torch.long).reshape(-1)
    if g.numel() != cs.shape[0]:
        raise ValueError(f"groups must have one label per context ({cs.shape[0]}), got {g.numel()}")
    if x.ndim != 1 or x.numel() < 3:
        raise ValueError("x must be a 1-D uniform grid with at least 3 nodes")
    wx = trapezoid_weights(x)
    logs = torch.stack([_log_marginal(target, x, cs[j], alpha, sigma) for j in range(cs.shape[0])])
    total = 0.0
    for label in torch.unique(g):
        idx = torch.nonzero(g == label, as_tuple=True)[0]
        lg = logs[idx]
        l_bar = torch.logsumexp(lg, 0) - math.log(idx.numel())
        total += float((kl_integrand(lg, l_bar) * wx).sum())
    return total / cs.shape[0]


def ratio_with_errors(
    num: float, num_err: float, den: float, den_err: float, n: int, note: str
) -> Interval:
    """The ratio ``num / den`` of two deterministic values with numerical error bars, as an
    interval of kind ``"refinement"`` whose ends are the extreme ratios over the two error boxes.

    ``num_err`` and ``den_err`` are non-negative error bars (e.g. the change from a coarser grid
    plus the spread over optimiser starts); ``n`` is the number of resolutions the bars compare
    and ``note`` says what the bars contain. ``low = max(0, num - num_err) / (den + den_err)``
    and ``high = (num + num_err) / (den - den_err)``, or ``inf`` when ``den <= den_err`` (the
    denominator is not resolved). Needs ``num >= 0`` and ``den > 0``.
    """
    vals = (num, num_err, den, den_err)
    if not all(math.isfinite(v) for v in vals):
        raise ValueError(f"values and error bars must be finite, got {vals!r}")
    if num < 0 or den <= 0 or num_err < 0 or den_err < 0:
        raise ValueError(f"need num >= 0, den > 0 and non-negative error bars, got {vals!r}")
    if not note:
        raise ValueError("note must say what the error bars contain")
    value = num / den
    low = max(0.0, num - num_err) / (den + den_err)
    high = (num + num_err) / (den - den_err) if den > den_err else math.inf
    return Interval(value, low, high, "refinement", int(n), note)


def difference_with_errors(
    a: float, a_err: float, b: float, b_err: float, n: int, note: str
) -> Interval:
    """The difference ``a - b`` of two deterministic values with numerical error bars, as an
    interval of kind ``"refinement"``: ``[a - b - (a_err + b_err), a - b + (a_err + b_err)]``.

    A comparison "is ``a`` above ``b`` by more than both error bars" is then a verdict on this
    interval against ``at_least(0)``: supported when the whole interval is above 0, not
    reproduced when it is below, and inconclusive when the bars overlap (the margin
    ``a - b - a_err - b_err`` recorded as an exact number could only say "no" there). ``n`` is
    the number of resolutions the bars compare and ``note`` says what the bars contain.
    """
    vals = (a, a_err, b, b_err)
    if not all(math.isfinite(v) for v in vals):
        raise ValueError(f"values and error bars must be finite, got {vals!r}")
    if a_err < 0 or b_err < 0:
        raise ValueError(f"error bars must be non-negative, got {a_err!r}, {b_err!r}")
    if not note:
        raise ValueError("note must say what the error bars contain")
    d, e = a - b, a_err + b_err
    return Interval(d, d - e, d + e, "refinement", int(n), note)


def quotient_of_intervals(num: Interval, den: Interval, note: str) -> Interval:
    """The ratio of two positive interval-valued quantities (e.g. two :func:`ratio_with_errors`)
    as an interval of kind ``"refinement"`` whose ends are the extreme ratios over the two
    intervals: ``[num.low / den.high, num.high / den.low]`` (``inf`` when ``den.low <= 0``).
    ``n`` is the smaller of the two ``n``. Needs ``num.value >= 0`` and ``den.value > 0``."""
    if num.value < 0 or num.low < 0 or den.value <= 0:
        raise ValueError(f"need a non-negative numerator and a positive denominator: {num}, {den}")
    if not note:
        raise ValueError("note must say what the intervals contain")
    value = num.value / den.value
    low = num.low / den.high if math.isfinite(den.high) else 0.0
    high = num.high / den.low if den.low > 0 else math.inf
    n = min(int(num.n or 1), int(den.n or 1))
    return Interval(value, low, high, "refinement", n, note)


def fit_power_floor(
    x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray, note: str = ""
) -> tuple[Interval, float, float]:
    r"""Fit :math:`y \approx a + b\,x^{-r}` (``b >= 0``, ``r > 0``) by least squares on relative
    residuals and return the floor ``a`` as an interval of kind ``"fit"``, with ``b`` and ``r``.

    The interval is ``a`` plus or minus the 95% t-quantile with ``n - 3`` degrees of freedom
    times the standard error of ``a`` from the fit's covariance (residuals relative to ``y``):
    it covers the scatter of the points about the model, not numerical error bars of the
    points themselves. Needs at least 4 points with ``y > 0``; with a flat curve or a fit that
    does not converge the interval is unbounded.
    """
    import scipy.optimize
    import scipy.stats

    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xa.ndim != 1 or xa.shape != ya.shape or xa.size < 4:
        raise ValueError(f"need 1-D x and y of equal length >= 4, got {xa.shape}, {ya.shape}")
    if not (np.all(ya > 0) and np.all(xa > 0)):
        raise ValueError("x and y must be positive")

    def model(xx: np.ndarray, a: float, b: float, r: float) -> np.ndarray:
        return a + b * xx ** (-r)

    p0 = (float(ya.min()) / 2, float(ya.max() * xa.min()), 1.0)
    bounds = ([-np.inf, 0.0, 1e-3], [np.inf, np.inf, 20.0])
    try:
        popt, pcov = scipy.optimize.curve_fit(
            model, xa, ya, p0=p0, sigma=ya, bounds=bounds, maxfev=20_000
        )
    except (RuntimeError, ValueError):
        return Interval(0.0, -math.inf, math.inf, "fit", int(xa.size), note or "no fit"), 0.0, 0.0
    a, b, r = (float(v) for v in popt)
    se = float(np.sqrt(pcov[0, 0])) if np.isfinite(pcov[0, 0]) else math.inf
    half = float(scipy.stats.t.ppf(0.975, xa.size - 3)) * se
    lo, hi = (a - half, a + half) if math.isfinite(half) else (-math.inf, math.inf)
    return Interval(a, lo, hi, "fit", int(xa.size), note), b, r
