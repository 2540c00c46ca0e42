r"""Discrete variance-preserving chains and their exact KLs by quadrature.

A discrete VP chain (:class:`VPChain`) is the forward process
:math:`z_t = a_t z_{t-1} + b_t\xi_t`, :math:`t = 1..T`, with :math:`a_t^2 + b_t^2 = 1`
(:math:`\beta_t = b_t^2`), so that :math:`z_t = \alpha_t x_0 + \sigma_t\varepsilon` with
:math:`\alpha_t^2 = \bar\alpha_t = \prod_{s\le t}(1-\beta_s)` and :math:`\sigma_t^2 = 1-\bar\alpha_t`.
DDPM's notation is :attr:`VPChain.alpha_bar`; the total noise is
:math:`B = -\log\bar\alpha_T`.

A model reverse chain starts at :math:`p_T = \mathcal N(0, 1)` and moves with kernels
:math:`p(z_{t-1}\mid z_t)`. Its error accounting against the data law, all by quadrature on
grids and all from the data law's noised marginals only (:data:`LogMarginal`):

* terminal mismatch :math:`\mathrm{KL}(q_T\,\|\,\mathcal N(0,1))` (:func:`terminal_kl`,
  :func:`mixture_terminal_kl`);
* per-step KL :math:`E_{q_t}\mathrm{KL}(q(z_{t-1}\mid z_t)\,\|\,p(z_{t-1}\mid z_t))`
  (:func:`step_kl`), a 2-D trapezoid rule in which the true kernel enters through Bayes' rule,
  :math:`q(y, z) = q_{t-1}(y)\,\mathcal N(z; a_t y, b_t^2)`; for Gaussian-mixture data
  :func:`mixture_step_kl` places the grids by the exact reverse kernel
  (:meth:`companion.gmm.GaussianMixture.reverse_kernel`) and estimates the quadrature error;
* the chain-rule path KL (:func:`chain_rule_kl`, :func:`mixture_path_kl`),

  .. math::

      \mathrm{KL}(q(z_{0:T})\,\|\,p(z_{0:T})) = \mathrm{KL}(q_T\,\|\,p_T)
      + \sum_{t=1}^T E_{q_t}\,\mathrm{KL}(q(z_{t-1}\mid z_t)\,\|\,p(z_{t-1}\mid z_t));

* the output KL :math:`\mathrm{KL}(q_0\,\|\,p_0)` of a propagated output density
  (:func:`output_kl`), at most the path KL.

Model kernels are given as :data:`LogKernel` functions; :func:`mixture_log_kernel` makes one of a
:class:`companion.gmm.GaussianMixtureKernel`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from ._checks import check_positive
from .gmm import GaussianMixture, GaussianMixtureKernel
from .grid import (
    GridDensity,
    Quadrature,
    density_kl,
    kl_integrand,
    log_kl_divergence,
    trapezoid_weights,
)

__all__ = [
    "VPChain",
    "LogMarginal",
    "LogKernel",
    "mixture_log_marginal",
    "mixture_log_kernel",
    "terminal_kl",
    "mixture_terminal_kl",
    "step_kl",
    "mixture_step_kl",
    "chain_rule_kl",
    "mixture_path_kl",
    "output_kl",
    "covering_grid",
    "GaussianChainKL",
    "gaussian_ddpm_kl",
]

LOG_2PI = math.log(2.0 * math.pi)

#: Noised marginals of a 1-D data law. ``log_marginal(z, alpha, sigma)`` is the log density of
#: :math:`\alpha x_0 + \sigma\varepsilon` at the points ``z`` (shape ``(m,)``), shape ``(m,)``.
LogMarginal = Callable[[Tensor, float, float], Tensor]

#: A reverse kernel of one step. ``log_kernel(y, z)`` is :math:`\log p(y_{ij}\mid z_i)` for
#: nodes ``z`` of shape ``(m,)`` and points ``y`` of shape ``(m, k)`` (a row per node), shape
#: ``(m, k)``.
LogKernel = Callable[[Tensor, Tensor], Tensor]


def _check_T(T: int) -> int:
    if isinstance(T, bool) or not isinstance(T, int) or T < 1:
        raise ValueError(f"T must be a positive integer, got {T!r}")
    return T


@dataclass(frozen=True)
class VPChain:
    r"""A discrete variance-preserving forward chain :math:`z_t = a_t z_{t-1} + b_t\xi_t`.

    Args:
        betas: :math:`\beta_t = b_t^2 \in (0, 1)`, ``t = 1..T``, shape ``(T,)``, float64.

    Build it with :meth:`uniform` (equal :math:`\beta_t`) or :meth:`linear` (linear
    :math:`-\log(1-\beta_t)`), both at a prescribed total noise :math:`B`, so that chains with
    different ``T`` share the same terminal law; with :meth:`fixed_total` (``T`` steps of the
    continuous VP-linear schedule) or :meth:`ddpm_linear` (Ho et al.'s linear betas); or from
    :math:`\bar\alpha_t` with :meth:`from_alpha_bar`. Steps ``t`` are 1-based; level ``t = 0``
    is the data.
    """

    betas: Tensor
    log_alpha_bar: Tensor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        b = torch.as_tensor(self.betas, dtype=torch.float64)
        if b.ndim != 1 or b.numel() < 1:
            raise ValueError(f"betas must be 1-D and non-empty, got shape {tuple(b.shape)}")
        if not bool(((b > 0) & (b < 1)).all()):
            raise ValueError("betas must lie in (0, 1)")
        object.__setattr__(self, "betas", b)
        log_ab = torch.cat([b.new_zeros(1), torch.cumsum(torch.log1p(-b), 0)])
        object.__setattr__(self, "log_alpha_bar", log_ab)

    # -- constructors ---------------------------------------------------------------------------
    @classmethod
    def uniform(cls, T: int, total_noise: float) -> VPChain:
        r"""``T`` equal steps with :math:`1-\beta_t = e^{-B/T}`."""
        _check_T(T)
        B = check_positive("total_noise", total_noise)
        return cls(torch.full((T,), -math.expm1(-B / T), dtype=torch.float64))

    @classmethod
    def linear(cls, T: int, total_noise: float, ratio: float = 20.0) -> VPChain:
        r"""Steps with :math:`-\log(1-\beta_t)` linear in ``t``, last/first ``ratio``, summing to B."""
        _check_T(T)
        B = check_positive("total_noise", total_noise)
        check_positive("ratio", ratio)
        g = torch.linspace(1.0, ratio, T, dtype=torch.float64) if T > 1 else torch.ones(1)
        g = g.to(torch.float64)
        return cls(-torch.expm1(-B * g / g.sum()))

    @classmethod
    def from_alpha_bar(cls, alpha_bar: Tensor) -> VPChain:
        r"""The chain with :math:`\bar\alpha_t`, ``t = 0..T`` (shape ``(T+1,)``, ``alpha_bar[0] = 1``,
        strictly decreasing and positive)."""
        ab = torch.as_tensor(alpha_bar, dtype=torch.float64)
        if ab.ndim != 1 or ab.numel() < 2 or abs(float(ab[0]) - 1.0) > 1e-15:
            raise ValueError("alpha_bar must be 1-D with at least 2 entries and alpha_bar[0] = 1")
        if not bool((ab[1:] < ab[:-1]).all()) or float(ab[-1]) <= 0:
            raise ValueError("alpha_bar must be strictly decreasing and positive")
        return cls(1.0 - ab[1:] / ab[:-1])

    @classmethod
    def fixed_total(cls, T: int, beta_min: float = 0.1, beta_max: float = 20.0) -> VPChain:
        r"""``T`` steps of the continuous VP-linear schedule at times ``t/T``:
        :math:`\bar\alpha_t = \exp(-\int_0^{t/T}\beta)`; the total noise :math:`\bar\alpha_T` is
        the same for every ``T``, so ``T`` sweeps refine one process."""
        _check_T(T)
        s = torch.arange(T + 1, dtype=torch.float64) / T
        return cls.from_alpha_bar(torch.exp(-(beta_min * s + 0.5 * (beta_max - beta_min) * s**2)))

    @classmethod
    def ddpm_linear(cls, T: int, beta_1: float = 1e-4, beta_T: float = 0.02) -> VPChain:
        r"""Ho et al.'s linear betas rescaled to ``T`` steps: :math:`\beta` from
        ``beta_1 * 1000/T`` to ``beta_T * 1000/T`` (so the total noise is about that of T = 1000)."""
        _check_T(T)
        scale = 1000.0 / T
        return cls(
            torch.linspace(beta_1 * scale, min(beta_T * scale, 0.999), T, dtype=torch.float64)
        )

    # -- coefficients ---------------------------------------------------------------------------
    @property
    def T(self) -> int:
        """Number of steps."""
        return int(self.betas.numel())

    @property
    def alpha_bar(self) -> Tensor:
        r""":math:`\bar\alpha_t = \alpha_t^2`, ``t = 0..T``, shape ``(T+1,)``."""
        return torch.exp(self.log_alpha_bar)

    @property
    def total_noise(self) -> float:
        r"""Total noise :math:`B = -\sum_t\log(1-\beta_t)`."""
        return float(-self.log_alpha_bar[-1])

    def check_step(self, t: int, allow_zero: bool = False) -> int:
        """``t`` as an int, or a ValueError unless it is a step ``1..T`` (``0..T`` if ``allow_zero``)."""
        lo = 0 if allow_zero else 1
        if isinstance(t, bool) or not isinstance(t, int | np.integer) or not lo <= t <= self.T:
            raise ValueError(f"t must be an integer in [{lo}, {self.T}], got {t!r}")
        return int(t)

    def a(self, t: int) -> float:
        r"""Contraction :math:`a_t = \sqrt{1-\beta_t}` of step ``t``."""
        return math.sqrt(1.0 - float(self.betas[self.check_step(t) - 1]))

    def b2(self, t: int) -> float:
        r"""Noise variance :math:`b_t^2 = \beta_t` of step ``t``."""
        return float(self.betas[self.check_step(t) - 1])

    def alpha(self, t: int) -> float:
        r""":math:`\alpha_t = \prod_{s\le t} a_s` (``t = 0`` gives 1)."""
        return math.exp(0.5 * float(self.log_alpha_bar[self.check_step(t, True)]))

    def sigma(self, t: int) -> float:
        r""":math:`\sigma_t = \sqrt{1-\alpha_t^2}` (``t = 0`` gives 0)."""
        return math.sqrt(-math.expm1(float(self.log_alpha_bar[self.check_step(t, True)])))

    def sigma_tilde(self, t: int) -> float:
        r"""SNR-form noise level :math:`\sigma_t/\alpha_t = \sqrt{(1-\bar\alpha_t)/\bar\alpha_t}`."""
        return math.sqrt(math.expm1(-float(self.log_alpha_bar[self.check_step(t, True)])))

    # -- Gaussian-mixture data ------------------------------------------------------------------
    def marginal(self, p0: GaussianMixture, t: int) -> GaussianMixture:
        r"""Law of :math:`z_t` for data law ``p0`` (a Gaussian mixture)."""
        t = self.check_step(t, True)
        return p0 if t == 0 else p0.noised(self.alpha(t), self.sigma(t))

    def reverse_kernel(self, p0: GaussianMixture, t: int) -> GaussianMixtureKernel:
        r"""Exact :math:`q(z_{t-1}\mid z_t)` of step ``t`` for data law ``p0``
        (:meth:`companion.gmm.GaussianMixture.reverse_kernel`)."""
        t = self.check_step(t)
        return p0.reverse_kernel(self.alpha(t - 1), self.sigma(t - 1), self.alpha(t), self.sigma(t))


# ------------------------------------------------------------------------------------------------
# Log densities
# ------------------------------------------------------------------------------------------------
def _chunked(fn: Callable[[Tensor, Tensor], Tensor], y: Tensor, z: Tensor, k: int) -> Tensor:
    """``fn`` on rows of ``y``, ``z`` (each ``(N, 1)``) in chunks of about 4e6 / ``k`` rows."""
    out = torch.empty(y.shape[0], dtype=torch.float64, device=y.device)
    step = max(1, 4_000_000 // k)
    for a in range(0, y.shape[0], step):
        out[a : a + step] = fn(y[a : a + step], z[a : a + step])
    return out


def mixture_log_marginal(p0: GaussianMixture) -> LogMarginal:
    """The :data:`LogMarginal` of a 1-D Gaussian mixture ``p0`` (points of any shape)."""
    if not isinstance(p0, GaussianMixture) or p0.dim != 1:
        raise ValueError("p0 must be a one-dimensional GaussianMixture")

    def f(z: Tensor, alpha: float, sigma: float) -> Tensor:
        pz = p0.noised(alpha, sigma)
        zf = z.reshape(-1, 1)
        return _chunked(lambda u, _: pz.log_prob(u), zf, zf, p0.n_components).reshape(z.shape)

    return f


def mixture_log_kernel(kernel: GaussianMixtureKernel) -> LogKernel:
    """The :data:`LogKernel` of a 1-D Gaussian-mixture kernel (one kernel for all nodes)."""

    def f(y: Tensor, z: Tensor) -> Tensor:
        zz = z.unsqueeze(-1).expand_as(y).reshape(-1, 1)
        return _chunked(kernel.log_prob, y.reshape(-1, 1), zz, kernel.n_components).reshape(y.shape)

    return f


def _std_normal_log(z: Tensor) -> Tensor:
    return -0.5 * (z**2 + LOG_2PI)


def _log_transition(chain: VPChain, t: int, y: Tensor, z: Tensor) -> Tensor:
    r""":math:`\log\mathcal N(z_i; a_t y_{ij}, b_t^2)` for ``z`` ``(m,)`` and ``y`` ``(m, k)``."""
    b2 = chain.b2(t)
    return -0.5 * ((z.unsqueeze(-1) - chain.a(t) * y) ** 2 / b2 + math.log(b2) + LOG_2PI)


# ------------------------------------------------------------------------------------------------
# KLs
# ------------------------------------------------------------------------------------------------
def terminal_kl(chain: VPChain, log_marginal: LogMarginal, z: Tensor) -> Quadrature:
    r"""Terminal mismatch :math:`\mathrm{KL}(q_T\,\|\,\mathcal N(0, 1))` on the uniform grid ``z``."""
    T = chain.T
    return log_kl_divergence(
        lambda u: log_marginal(u, chain.alpha(T), chain.sigma(T)), _std_normal_log, z
    )


def mixture_terminal_kl(chain: VPChain, p0: GaussianMixture, n_points: int = 4001) -> Quadrature:
    """:func:`terminal_kl` for 1-D Gaussian-mixture data ``p0`` on ``n_points`` nodes over
    :math:`q_T` (12 component standard deviations beyond the extreme means)."""
    lo, hi = _support(chain.marginal(p0, chain.T), 12.0)
    z = torch.linspace(lo, hi, n_points, dtype=torch.float64)
    return terminal_kl(chain, mixture_log_marginal(p0), z)


def step_kl(
    chain: VPChain, t: int, log_marginal: LogMarginal, log_kernel: LogKernel, z: Tensor, y: Tensor
) -> float:
    r"""Per-step KL :math:`E_{q_t}\mathrm{KL}(q(z_{t-1}\mid z_t)\,\|\,p(z_{t-1}\mid z_t))` by quadrature.

    A 2-D trapezoid rule over :math:`z_t` on the uniform grid ``z`` (shape ``(m,)``) and
    :math:`z_{t-1}` on ``y``: one uniform grid shared by all nodes (shape ``(k,)``) or one
    increasing, possibly non-uniform, grid per node (shape ``(m, k)``). The integrand is
    :math:`q(y, z)\,[\log q(y\mid z) - \log p(y\mid z)]` with the joint law
    :math:`q(y, z) = q_{t-1}(y)\,\mathcal N(z; a_t y, b_t^2)` and
    :math:`\log q(y\mid z) = \log q(y, z) - \log q_t(z)`, so only the marginals are needed.
    """
    t = chain.check_step(t)
    if z.ndim != 1 or z.numel() < 3:
        raise ValueError(f"z must be a 1-D grid with at least 3 nodes, got shape {tuple(z.shape)}")
    if y.ndim == 1:
        lq_prev = log_marginal(y, chain.alpha(t - 1), chain.sigma(t - 1)).expand(z.numel(), -1)
        y2, wy = y.expand(z.numel(), -1), trapezoid_weights(y)
    elif y.ndim == 2 and y.shape[0] == z.numel() and y.shape[1] >= 3:
        flat = log_marginal(y.reshape(-1), chain.alpha(t - 1), chain.sigma(t - 1))
        lq_prev, y2 = flat.reshape(y.shape), y
        h = y[:, 1:] - y[:, :-1]
        if bool((h < 0).any()):
            raise ValueError("each row of y must be increasing")
        wy = torch.zeros_like(y)  # the trapezoid rule on each row's own nodes
        wy[:, :-1] += 0.5 * h
        wy[:, 1:] += 0.5 * h
    else:
        raise ValueError(f"y must have shape (k,) or ({z.numel()}, k), got {tuple(y.shape)}")
    log_joint = lq_prev + _log_transition(chain, t, y2, z)
    lq_t = log_marginal(z, chain.alpha(t), chain.sigma(t))
    log_ref = lq_t.unsqueeze(-1) + log_kernel(y2, z)  # log q_t(z) p(y | z)
    return float(((kl_integrand(log_joint, log_ref) * wy).sum(-1) * trapezoid_weights(z)).sum())


def _support(p: GaussianMixture, width: float) -> tuple[float, float]:
    sd = torch.sqrt(p.variances[:, 0])
    return float((p.means[:, 0] - width * sd).min()), float((p.means[:, 0] + width * sd).max())


def covering_grid(lo: Tensor, hi: Tensor, n: int) -> Tensor:
    """Per row, ``n`` increasing nodes evenly spaced in the covered length of the union of the
    intervals ``[lo_k, hi_k]`` (shapes ``(m, K)``): the first and last nodes are the union's
    ends, gaps between disjoint intervals get no nodes inside them (a trapezoid panel spans
    each gap), and overlapping intervals are one interval."""
    if lo.shape != hi.shape or lo.ndim != 2 or bool((hi <= lo).any()):
        raise ValueError("lo and hi must have the same shape (m, K) with hi > lo")
    if isinstance(n, bool) or not isinstance(n, int) or n < 3:
        raise ValueError(f"n must be an integer >= 3, got {n!r}")
    ends, order = torch.sort(torch.cat([lo, hi], -1), -1)  # (m, 2K) breakpoints
    opens = torch.gather(torch.cat([torch.ones_like(lo), -torch.ones_like(hi)], -1), -1, order)
    covered = (torch.cumsum(opens, -1)[:, :-1] > 0).to(lo.dtype)  # segment j covered?
    seg = (ends[:, 1:] - ends[:, :-1]) * covered  # covered length of each segment
    cum = torch.cat([torch.zeros_like(seg[:, :1]), torch.cumsum(seg, -1)], -1)  # (m, 2K)
    s = cum[:, -1:] * torch.linspace(0.0, 1.0, n, dtype=lo.dtype, device=lo.device)  # (m, n)
    j = torch.clamp(torch.searchsorted(cum, s, right=True) - 1, 0, seg.shape[1] - 1)
    j = torch.where(torch.gather(covered, -1, j) > 0, j, j - 1)  # land in a covered segment
    off = s - torch.gather(cum, -1, j)
    return torch.gather(ends, -1, j) + off


def mixture_step_kl(
    chain: VPChain,
    p0: GaussianMixture,
    t: int,
    log_kernel: LogKernel,
    n_z: int = 400,
    n_y: int = 400,
) -> Quadrature:
    r""":func:`step_kl` for 1-D Gaussian-mixture data ``p0`` on grids placed by the exact kernel.

    The grid of :math:`z_t` (``n_z`` nodes) covers :math:`q_t` (10 component standard deviations
    beyond the extreme means). For each node the grid of :math:`z_{t-1}` (``n_y`` nodes,
    :func:`covering_grid`) covers the union of the windows mean :math:`\pm 12` standard
    deviations of every component of the exact reverse kernel whose weight at that node is at
    least :math:`10^{-16}` of the largest, so that every mode is resolved however small its
    weight and however far from the kernel's mean (a window of the kernel's
    mean :math:`\pm 12` total standard deviations misses a far mode whose weight is below
    about 1/144). The error estimate is the change under halving both grids.
    """
    t = chain.check_step(t)
    for name, n in [("n_z", n_z), ("n_y", n_y)]:
        if isinstance(n, bool) or not isinstance(n, int) or n < 6:
            raise ValueError(f"{name} must be an integer >= 6, got {n!r}")
    log_marginal = mixture_log_marginal(p0)
    kern = chain.reverse_kernel(p0, t)
    lo, hi = _support(chain.marginal(p0, t), 10.0)

    sk = torch.sqrt(kern.variances[:, 0])  # (K,)

    def compute(nz: int, ny: int) -> float:
        z = torch.linspace(lo, hi, nz, dtype=torch.float64)
        zc = z.unsqueeze(-1)
        mk, logit = kern.means(zc)[..., 0], kern.logits(zc)  # (nz, K)
        lo_k, hi_k = mk - 12 * sk, mk + 12 * sk
        # components of weight below 1e-16 at a node get no window of their own there
        top = logit.argmax(-1, keepdim=True)
        active = logit >= logit.gather(-1, top) + math.log(1e-16)
        lo_k = torch.where(active, lo_k, lo_k.gather(-1, top))
        hi_k = torch.where(active, hi_k, hi_k.gather(-1, top))
        y = covering_grid(lo_k, hi_k, ny)
        return step_kl(chain, t, log_marginal, log_kernel, z, y)

    fine = compute(n_z, n_y)
    coarse = compute((n_z + 1) // 2, (n_y + 1) // 2)
    return Quadrature(fine, abs(fine - coarse))


def chain_rule_kl(
    chain: VPChain,
    log_marginal: LogMarginal,
    log_kernels: Callable[[int], LogKernel],
    z: Tensor,
    y: Tensor | None = None,
) -> tuple[float, list[float]]:
    """Terminal KL and the per-step KLs ``[t = 1, ..., T]`` on fixed grids; their sum is the path KL.

    ``log_kernels(t)`` is the model kernel of step ``t``; ``z`` is the grid of :math:`z_t`, ``y``
    of :math:`z_{t-1}` (default ``z``).
    """
    y = z if y is None else y
    steps = [step_kl(chain, t, log_marginal, log_kernels(t), z, y) for t in range(1, chain.T + 1)]
    return terminal_kl(chain, log_marginal, z).value, steps


def mixture_path_kl(
    chain: VPChain,
    p0: GaussianMixture,
    log_kernels: Callable[[int], LogKernel],
    n_z: int = 400,
    n_y: int = 400,
    n_points: int = 4001,
) -> tuple[Quadrature, list[Quadrature]]:
    """Terminal KL (on ``n_points`` nodes over :math:`q_T`) and the per-step KLs
    (:func:`mixture_step_kl`) of a model chain for 1-D Gaussian-mixture data ``p0``."""
    term = mixture_terminal_kl(chain, p0, n_points)
    steps = [mixture_step_kl(chain, p0, t, log_kernels(t), n_z, n_y) for t in range(1, chain.T + 1)]
    return term, steps


def output_kl(
    log_marginal: LogMarginal, density: GridDensity, x: Tensor | None = None
) -> Quadrature:
    r"""Output KL :math:`\mathrm{KL}(q_0\,\|\,p_0)` of a chain's output density (a grid density).

    ``x``: the quadrature grid, default the density's own nodes
    (:func:`companion.grid.density_kl`).
    """
    return density_kl(lambda u: log_marginal(u, 1.0, 0.0), density, x)


# ------------------------------------------------------------------------------------------------
# Closed form for Gaussian data
# ------------------------------------------------------------------------------------------------
def _kl_normal(m1: float, v1: float, m2: float, v2: float) -> float:
    """KL(N(m1, v1) || N(m2, v2)), 1-D, keeping digits for tiny divergences."""
    r = (v1 - v2) / v2
    core = (
        r * r * (0.5 - r / 3.0 + r * r / 4.0 - r**3 / 5.0) if abs(r) < 1e-3 else r - math.log1p(r)
    )
    return 0.5 * core + 0.5 * (m1 - m2) ** 2 / v2


@dataclass(frozen=True)
class GaussianChainKL:
    r"""Exact KLs of the DDPM reverse chain for Gaussian data (:func:`gaussian_ddpm_kl`).

    Fields: ``terminal`` (:math:`\mathrm{KL}(q_T\,\|\,\mathcal N(0,1))`), ``steps`` (the per-step
    KLs, ``steps[t-1]`` for step ``t``, shape ``(T,)``), ``path`` (terminal plus steps),
    ``output`` (:math:`\mathrm{KL}(q_0\,\|\,p_0)`), ``reverse_var`` (the variance of the true
    reverse kernel :math:`q(z_{t-1}\mid z_t)` per step, shape ``(T,)``) and ``model_var`` (the
    model kernel's variance per step).
    """

    terminal: float
    steps: np.ndarray
    path: float
    output: float
    reverse_var: np.ndarray
    model_var: np.ndarray


def gaussian_ddpm_kl(
    chain: VPChain, mean: float, var: float, variance: str = "beta"
) -> GaussianChainKL:
    r"""Path and output KL of DDPM with the exact denoiser for 1-D Gaussian data :math:`\mathcal N(m, v)`.

    Everything is Gaussian, so no grid or quadrature is needed. The forward marginals are
    :math:`q_t = \mathcal N(\alpha_t m, V_t)`, :math:`V_t = \alpha_t^2 v + \sigma_t^2`; the true
    reverse kernel is :math:`q(z_{t-1}\mid z_t) = \mathcal N(\mu_t(z_t), r_t)` with
    :math:`\mu_t(z) = \alpha_{t-1}m + a_t V_{t-1}(z - \alpha_t m)/V_t` and
    :math:`r_t = V_{t-1}\beta_t/V_t` (Gaussian conditioning). DDPM with the exact denoiser has the
    same mean (the forward posterior mean averaged over :math:`x_0\mid z_t`) and variance
    :math:`s_t^2 = \beta_t` (``variance="beta"``) or the forward-posterior variance
    :math:`\tilde\beta_t = \beta_t(1-\bar\alpha_{t-1})/(1-\bar\alpha_t)` (``"beta_tilde"``, not
    clipped: :math:`\tilde\beta_1 = 0`, so step 1 is the deterministic mean). Hence each step's
    KL is :math:`\mathrm{KL}(\mathcal N(0, r_t)\,\|\,\mathcal N(0, s_t^2))` (infinite for a
    deterministic step), and the output law from :math:`\mathcal N(0,1)` follows
    :math:`M_{t-1} = \mu_t(M_t)`, :math:`P_{t-1} = (a_tV_{t-1}/V_t)^2P_t + s_t^2`.
    """
    if variance not in ("beta", "beta_tilde"):
        raise ValueError(f"variance must be 'beta' or 'beta_tilde', got {variance!r}")
    check_positive("var", var)
    m, v = float(mean), float(var)
    ab = chain.alpha_bar.tolist()
    betas = chain.betas.tolist()
    T = chain.T
    alpha = [math.sqrt(x) for x in ab]
    V = [alpha[t] ** 2 * v + (1.0 - ab[t]) for t in range(T + 1)]
    terminal = _kl_normal(alpha[T] * m, V[T], 0.0, 1.0)
    M, P = 0.0, 1.0
    steps, rev, mod = [], [], []
    for t in range(T, 0, -1):
        beta = betas[t - 1]
        gain = math.sqrt(1.0 - beta) * V[t - 1] / V[t]
        r = V[t - 1] * beta / V[t]
        s2 = beta if variance == "beta" else beta * (1.0 - ab[t - 1]) / (1.0 - ab[t])
        steps.append(_kl_normal(0.0, r, 0.0, s2) if s2 > 0 else math.inf)
        rev.append(r)
        mod.append(s2)
        M = alpha[t - 1] * m + gain * (M - alpha[t] * m)
        P = gain * gain * P + s2
    step_arr = np.array(steps[::-1])
    return GaussianChainKL(
        terminal,
        step_arr,
        terminal + float(step_arr.sum()),
        _kl_normal(m, v, M, P),
        np.array(rev[::-1]),
        np.array(mod[::-1]),
    )
