r"""Exact 1-D density propagation on adaptive grids, and distances by quadrature.

Every sampler step in :mod:`companion.samplers` returns the law of the next state given the
current one as :math:`\mathcal N(\mu(x), s^2)` with a state-independent :math:`s`. So the
output density of a whole sampler run is computable to quadrature accuracy:

1. push the current density forward through the deterministic map :math:`x\mapsto\mu(x)`
   (monotone in 1-D for the usual steps) by interpolating its CDF;
2. convolve with :math:`\mathcal N(0, s^2)`, exactly for the piecewise-linear interpolant
   (FFT, :math:`O(m\log m)`).

Each step re-fits a uniform grid of ``n_points`` nodes to where the mass is, so one grid size
serves noise levels from 1e-3 to 1e2. State-dependent Gaussian-mixture transitions (as in
mixture reverse kernels) are propagated by a dense matrix-vector product
(:func:`mixture_transition`).

Distances (:func:`kl_divergence`, :func:`log_kl_divergence`, :func:`density_kl`,
:func:`tv_distance`, :func:`w1_distance`) return the value and an estimate of the quadrature
error (difference to the half-resolution rule); all KLs share one integrand
(:func:`kl_from_logs`). :func:`sampler_output_kl` is the exact output KL of a 1-D sampler run
against a Gaussian-mixture data law (grid propagation, then :func:`density_kl`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import Tensor

from ._checks import check_decreasing_sigmas, check_positive
from .gmm import GaussianMixture
from .progress import progress
from .samplers import Denoiser, StepLaw

__all__ = [
    "GridDensity",
    "Quadrature",
    "propagate_step",
    "propagate",
    "gaussian_convolve",
    "mixture_transition",
    "trapezoid_weights",
    "kl_integrand",
    "kl_from_logs",
    "kl_divergence",
    "log_kl_divergence",
    "density_kl",
    "sampler_output_kl",
    "tv_distance",
    "w1_distance",
    "common_grid",
]

TAIL = 1e-15  # mass dropped in each tail when re-fitting a grid


@dataclass
class GridDensity:
    """A density sampled on a uniform grid ``x`` (shape ``(m,)``), values ``p`` (shape ``(m,)``)."""

    x: Tensor
    p: Tensor

    def __post_init__(self) -> None:
        if self.x.ndim != 1 or self.x.shape != self.p.shape or self.x.numel() < 3:
            raise ValueError(
                f"x and p must be 1-D of equal length >= 3, got {tuple(self.x.shape)} "
                f"and {tuple(self.p.shape)}"
            )

    @property
    def h(self) -> float:
        """Grid spacing."""
        return float(self.x[1] - self.x[0])

    def mass(self) -> float:
        """Total mass (trapezoid rule)."""
        return float(torch.trapezoid(self.p, dx=self.h))

    def mean(self) -> float:
        """Mean of the density (trapezoid rule)."""
        return float(torch.trapezoid(self.x * self.p, dx=self.h)) / self.mass()

    def var(self) -> float:
        """Variance of the density (trapezoid rule)."""
        m = self.mean()
        return float(torch.trapezoid((self.x - m) ** 2 * self.p, dx=self.h)) / self.mass()

    def __call__(self, xq: Tensor) -> Tensor:
        """Linear interpolation at ``xq`` (any shape), zero outside the grid."""
        xq = xq.to(self.x)
        u = (xq - self.x[0]) / self.h
        i = torch.clamp(torch.floor(u).long(), 0, self.x.numel() - 2)
        f = u - i
        out = (1 - f) * self.p[i] + f * self.p[i + 1]
        inside = (u >= 0) & (u <= self.x.numel() - 1)
        return torch.where(inside, out, torch.zeros_like(out))

    @staticmethod
    def gaussian(
        mean: float,
        std: float,
        n_points: int = 2500,
        width: float = 12.0,
        device: torch.device | str | None = None,
    ) -> GridDensity:
        """``N(mean, std^2)`` on ``mean +- width*std``."""
        check_positive("std", std)
        x = torch.linspace(
            mean - width * std, mean + width * std, n_points, dtype=torch.float64, device=device
        )
        p = torch.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))
        return GridDensity(x, p)

    @staticmethod
    def from_function(
        fn: Callable[[Tensor], Tensor],
        lo: float,
        hi: float,
        n_points: int = 2500,
        device: torch.device | str | None = None,
    ) -> GridDensity:
        """Sample a density function ``fn`` (``(m,) -> (m,)``) on ``[lo, hi]``."""
        x = torch.linspace(lo, hi, n_points, dtype=torch.float64, device=device)
        return GridDensity(x, fn(x))


class Quadrature(NamedTuple):
    """A value computed by quadrature and an estimate of its quadrature error."""

    value: float
    error: float


# -- building blocks ------------------------------------------------------------------------
def _trim(d: GridDensity) -> GridDensity:
    """Drop nodes in the far tails (mass below TAIL on each side), keeping 2 nodes of margin."""
    c = torch.cumsum(d.p, 0) * d.h
    total = float(c[-1])
    if total <= 0:
        raise ValueError("density has no mass on its grid")
    lo = int(torch.searchsorted(c, torch.tensor(TAIL * total, dtype=c.dtype)))
    hi = int(torch.searchsorted(c, torch.tensor((1 - TAIL) * total, dtype=c.dtype)))
    lo, hi = max(lo - 2, 0), min(hi + 3, d.x.numel())
    if hi - lo < 3:
        lo, hi = max(lo - 2, 0), min(hi + 2, d.x.numel())
    return GridDensity(d.x[lo:hi], d.p[lo:hi])


def _pushforward(d: GridDensity, mu: Tensor, y: Tensor) -> Tensor:
    """Density on grid ``y`` of the image of ``d`` under the map with node values ``mu``."""
    h_y = float(y[1] - y[0])
    cell_mass = d.p * d.h
    if bool((mu[1:] > mu[:-1]).all()):
        # CDF interpolation: mass left of the mapped edge of cell i equals mass of cells < i
        mid = 0.5 * (mu[1:] + mu[:-1])
        edges = torch.cat([mu[:1] - (mid[:1] - mu[:1]), mid, mu[-1:] + (mu[-1:] - mid[-1:])])
        cdf = torch.cat([cell_mass.new_zeros(1), torch.cumsum(cell_mass, 0)])
        y_edges = torch.cat([y - 0.5 * h_y, y[-1:] + 0.5 * h_y])
        F = _interp(y_edges, edges, cdf)
        return (F[1:] - F[:-1]) / h_y
    warnings.warn(
        "step map is not monotone on the grid; using linear mass splatting (first-order accurate)",
        RuntimeWarning,
        stacklevel=3,
    )
    u = (mu - y[0]) / h_y
    i = torch.clamp(torch.floor(u).long(), 0, y.numel() - 2)
    f = torch.clamp(u - i, 0, 1)
    out = torch.zeros_like(y)
    out.index_add_(0, i, (1 - f) * cell_mass)
    out.index_add_(0, i + 1, f * cell_mass)
    return out / h_y


def _interp(xq: Tensor, xp: Tensor, fp: Tensor) -> Tensor:
    """Piecewise-linear interpolation with constant extension (``numpy.interp`` semantics)."""
    i = torch.clamp(torch.searchsorted(xp, xq) - 1, 0, xp.numel() - 2)
    x0, x1 = xp[i], xp[i + 1]
    t = torch.clamp((xq - x0) / (x1 - x0), 0, 1)
    return fp[i] + t * (fp[i + 1] - fp[i])


def _neg_abs_G(u: Tensor) -> Tensor:
    """``G(-|u|)`` where ``G(u) = u Phi(u) + phi(u)`` is the antiderivative of the normal CDF."""
    a = -u.abs()
    return a * torch.special.ndtr(a) + torch.exp(-0.5 * a**2) / math.sqrt(2 * math.pi)


def gaussian_convolve(p: Tensor, h: float, std: float) -> Tensor:
    """Convolve node values ``p`` (spacing ``h``) with ``N(0, std^2)``.

    Exact for the piecewise-linear interpolant of ``p``: the kernel is the second difference of
    ``std*G(u/std)``, written so that it stays accurate from ``std << h`` to ``std >> h``.
    """
    if std == 0:
        return p
    m = p.numel()
    half = min(m - 1, int(math.ceil(14 * std / h)) + 2)
    j = torch.arange(-half, half + 1, dtype=p.dtype, device=p.device)
    r = h / std
    kern = (std / h) * (_neg_abs_G((j + 1) * r) - 2 * _neg_abs_G(j * r) + _neg_abs_G((j - 1) * r))
    kern[half] += 1.0
    n = m + 2 * half
    nfft = 1 << (n - 1).bit_length()
    out = torch.fft.irfft(torch.fft.rfft(p, nfft) * torch.fft.rfft(kern, nfft), nfft)
    return out[half : half + m]


def _push(d: GridDensity, mu: Tensor, std: float | Tensor, n: int) -> GridDensity:
    if isinstance(std, Tensor):
        std = std.reshape(-1)
        if std.numel() != 1:  # one standard deviation per state: dense Gaussian-sum quadrature
            return _push_state_noise(d, mu, std, n)
        std = float(std)
    lo, hi = float(mu.min()), float(mu.max())
    pad = 14 * std if std > 0 else 0.0
    span = max(hi - lo + 2 * pad, 1e-12)
    lo, hi = lo - pad - 2 * span / n, hi + pad + 2 * span / n
    y = torch.linspace(lo, hi, n, dtype=d.x.dtype, device=d.x.device)
    q = _pushforward(d, mu, y)
    return GridDensity(y, torch.clamp(gaussian_convolve(q, float(y[1] - y[0]), std), min=0.0))


def _push_state_noise(d: GridDensity, mu: Tensor, std: Tensor, n: int) -> GridDensity:
    """Density of ``mu(X) + std(X) xi`` on ``n`` nodes spanning every node's ``mu +- 14 std``."""
    if std.shape != mu.shape:
        raise ValueError(f"a per-state std must have one value per node, got {tuple(std.shape)}")
    if not bool((std > 0).all()):
        raise ValueError("a per-state std must be > 0 at every node")
    y = torch.linspace(
        float((mu - 14 * std).min()),
        float((mu + 14 * std).max()),
        n,
        dtype=d.x.dtype,
        device=d.x.device,
    )
    return mixture_transition(d, torch.ones_like(mu)[:, None], mu[:, None], std[:, None], y)


def propagate_step(
    d: GridDensity, mu_fn: Callable[[Tensor], Tensor], std: float, n_points: int | None = None
) -> GridDensity:
    r"""Density of :math:`\mu(X) + s\xi` for :math:`X\sim d`, :math:`\xi\sim\mathcal N(0,1)`.

    Args:
        d: current density.
        mu_fn: the step's mean map on grid nodes, ``(m,) -> (m,)``.
        std: the step's noise standard deviation ``s >= 0`` (independent of the state).
        n_points: nodes of the new grid (default: as many as ``d``).
    """
    d = _trim(d)
    return _push(d, mu_fn(d.x), std, n_points or d.x.numel())


def propagate(
    step: Callable[..., StepLaw],
    denoiser: Denoiser,
    sigmas: Tensor,
    prior: GridDensity | None = None,
    n_points: int = 2500,
    callback: Callable[[int, GridDensity], None] | None = None,
    disable: bool | None = None,
    **options: Any,
) -> GridDensity:
    """Exact output density of a 1-D sampler run (the sampler's law, not a Monte Carlo estimate).

    Args:
        step: a step function from :data:`companion.samplers.STEPS`, or any step of that
            signature; a step whose standard deviation is a tensor (one value per state, e.g.
            :func:`companion.samplers.state_variance_step`) is pushed by a dense Gaussian-sum
            quadrature (:func:`mixture_transition`, cost nodes x nodes) instead of a convolution.
        denoiser: ``denoiser(x, sigma)`` on inputs of shape ``(m, 1)``.
        sigmas: the sampler's strictly decreasing noise levels.
        prior: density of the initial state (default ``N(0, sigmas[0]^2)``).
        n_points: grid nodes per step.
        callback: called with ``(i, density)`` after each step.
        disable: silence the progress bar.
        options: step options (``eta``, ``rho``).
    """
    check_decreasing_sigmas(sigmas)
    levels = sigmas.tolist()
    d = (
        prior
        if prior is not None
        else GridDensity.gaussian(0.0, levels[0], n_points, device=sigmas.device)
    )
    for i in progress(range(len(levels) - 1), desc="propagate", disable=disable):
        d = _trim(d)
        mean, std, _ = step(denoiser, d.x.unsqueeze(-1), levels[i], levels[i + 1], **options)
        d = _push(d, mean.squeeze(-1), std, n_points)
        if callback is not None:
            callback(i, d)
    return d


def mixture_transition(
    d: GridDensity, weights: Tensor, means: Tensor, stds: Tensor, y: Tensor
) -> GridDensity:
    r"""Density on grid ``y`` of :math:`Y \sim \sum_k \pi_k(X)\mathcal N(\mu_k(X), s_k(X)^2)`, :math:`X\sim d`.

    Args:
        d: density of ``X`` on nodes ``x`` (``m`` nodes).
        weights: :math:`\pi_k(x)` at the nodes, shape ``(m, K)`` (rows sum to 1).
        means: :math:`\mu_k(x)`, shape ``(m, K)``.
        stds: :math:`s_k`, shape ``(K,)`` or ``(m, K)``; should span a few grid spacings of ``x``.
        y: output grid, shape ``(n,)``.

    A dense ``(n, m*K)`` quadrature (midpoint rule in ``x``), chunked over ``y``.
    """
    m = d.x.numel()
    if weights.shape != means.shape or weights.shape[0] != m:
        raise ValueError(
            f"weights and means must have shape ({m}, K), got {tuple(weights.shape)} "
            f"and {tuple(means.shape)}"
        )
    s = stds.expand_as(means)
    coef = (d.p * d.h).unsqueeze(-1) * weights / (s * math.sqrt(2 * math.pi))
    out = torch.empty_like(y)
    chunk = max(1, 4_000_000 // max(1, m * means.shape[1]))
    for a in range(0, y.numel(), chunk):
        z = (y[a : a + chunk, None, None] - means) / s
        out[a : a + chunk] = (coef * torch.exp(-0.5 * z**2)).sum((-1, -2))
    return GridDensity(y, out)


# -- distances by quadrature ----------------------------------------------------------------
DensityLike = GridDensity | Callable[[Tensor], Tensor]


def common_grid(*densities: GridDensity, n_points: int = 20_001) -> Tensor:
    """A uniform grid covering the supports of all ``densities``."""
    lo = min(float(d.x[0]) for d in densities)
    hi = max(float(d.x[-1]) for d in densities)
    return torch.linspace(lo, hi, n_points, dtype=torch.float64, device=densities[0].x.device)


def _on(p: DensityLike, x: Tensor) -> Tensor:
    return p(x)


def _with_error(
    fn: Callable[[Tensor, Tensor, Tensor], Tensor | float],
    p: DensityLike,
    q: DensityLike,
    x: Tensor,
) -> Quadrature:
    if x.ndim != 1 or x.numel() < 5:
        raise ValueError("x must be a 1-D uniform grid with at least 5 nodes")
    return _halving(fn, _on(p, x), _on(q, x), x)


def _halving(
    fn: Callable[[Tensor, Tensor, Tensor], Tensor | float], pv: Tensor, qv: Tensor, x: Tensor
) -> Quadrature:
    """``fn`` on the grid and the change on every other node (the error estimate)."""
    fine = float(fn(pv, qv, x))
    coarse = float(fn(pv[::2], qv[::2], x[::2]))
    return Quadrature(fine, abs(fine - coarse))


def trapezoid_weights(x: Tensor) -> Tensor:
    """Trapezoid weights of the uniform grid ``x`` (shape ``(m,)``)."""
    if x.ndim != 1 or x.numel() < 3:
        raise ValueError(f"x must be a 1-D grid with at least 3 nodes, got shape {tuple(x.shape)}")
    h = float(x[1] - x[0])
    w = torch.full_like(x, h)
    w[0] = w[-1] = 0.5 * h
    return w


def kl_integrand(log_p: Tensor, log_q: Tensor) -> Tensor:
    """The KL integrand ``p (log p - log q)`` from log densities (any shape), ``0`` where ``p = 0``
    (``log_p`` not finite)."""
    finite = torch.isfinite(log_p)
    lp = torch.where(finite, log_p, torch.zeros_like(log_p))
    return torch.where(finite, torch.exp(lp) * (lp - log_q), torch.zeros_like(log_p))


def kl_from_logs(log_p: Tensor, log_q: Tensor, x: Tensor) -> float:
    r""":math:`\int p\log(p/q)` on the uniform grid ``x`` from log densities (trapezoid rule).

    Accurate for tiny divergences (it never forms :math:`p/q` from rounded densities). Nodes
    where ``log_p`` is not finite (:math:`p = 0`) contribute 0.
    """
    return float((kl_integrand(log_p, log_q) * trapezoid_weights(x)).sum())


def _log(p: DensityLike, floor: bool) -> Callable[[Tensor], Tensor]:
    """Log of a density; ``floor``: values below the smallest float are raised to it, otherwise
    ``p = 0`` gives ``-inf`` (a node that contributes nothing as the first KL argument)."""

    def f(x: Tensor) -> Tensor:
        v = p(x)
        lv = torch.log(v.clamp_min(torch.finfo(v.dtype).tiny))
        return lv if floor else torch.where(v > 0, lv, -math.inf)

    return f


def log_kl_divergence(
    log_p: Callable[[Tensor], Tensor], log_q: Callable[[Tensor], Tensor], x: Tensor
) -> Quadrature:
    r""":math:`\mathrm{KL}(p\,\|\,q)` on the uniform grid ``x`` from log-density functions
    (:func:`kl_from_logs`), with the half-resolution error estimate."""
    return _with_error(kl_from_logs, log_p, log_q, x)


def kl_divergence(p: DensityLike, q: DensityLike, x: Tensor) -> Quadrature:
    r""":math:`\mathrm{KL}(p\,\|\,q) = \int p\log(p/q)` on the uniform grid ``x`` (trapezoid rule).

    ``p`` and ``q`` are :class:`GridDensity` objects or density functions. Where ``q``
    underflows to 0 it is floored at the smallest float64, so missing mass shows as a large KL.
    """
    return log_kl_divergence(_log(p, floor=False), _log(q, floor=True), x)


def density_kl(
    log_p: Callable[[Tensor], Tensor], q: GridDensity, x: Tensor | None = None
) -> Quadrature:
    r""":math:`\mathrm{KL}(p\,\|\,q)` of a law known by its log density ``log_p`` and a grid density.

    The output KL of a propagated chain or sampler run. ``x``: the uniform quadrature grid;
    default ``q``'s own nodes, where ``q`` is used as stored (not interpolated). Where ``q``
    underflows to 0 it is floored at the smallest float64.
    """
    if x is None:
        lq = torch.log(q.p.clamp_min(torch.finfo(q.p.dtype).tiny))
        return _halving(kl_from_logs, log_p(q.x), lq, q.x)
    return log_kl_divergence(log_p, _log(q, floor=True), x)


def sampler_output_kl(
    step: Callable[..., StepLaw],
    denoiser: Denoiser,
    sigmas: Tensor,
    target: GaussianMixture,
    prior: GridDensity | str | None = None,
    n_points: int = 2500,
    n_quad: int = 20_001,
    **options: float,
) -> Quadrature:
    r"""Exact :math:`\mathrm{KL}(p_{\sigma_{\rm end}}\,\|\,\hat p)` of a 1-D sampler run.

    Args:
        step: a step function (:data:`companion.samplers.STEPS` or a chapter's own).
        denoiser: ``denoiser(x, sigma)`` (an exact mixture or a wrapped network).
        sigmas: strictly decreasing SNR-form noise levels; the last may be 0.
        target: the 1-D data mixture; the reference law is ``target`` noised to ``sigmas[-1]``.
        prior: density of the initial state: ``None`` for :math:`\mathcal N(0, \sigma_0^2)` (as
            in practice), ``"exact"`` for the exact noised marginal at ``sigmas[0]`` (isolates
            the discretisation error), or a :class:`GridDensity`.
        n_points: grid nodes per propagation step.
        n_quad: nodes of the KL quadrature, on the reference law's support (10 component
            standard deviations beyond the extreme means).
        options: step options (``eta``, ``rho``, ...).

    The output density :math:`\hat p` is propagated exactly (:func:`propagate`); a step map that
    is not monotone on the grid (a coarse stochastic step, a trained network) is propagated by
    linear mass splatting, whose warning is silenced here because the result stays a density.
    """
    if not isinstance(target, GaussianMixture) or target.dim != 1:
        raise ValueError("target must be a one-dimensional GaussianMixture")
    check_decreasing_sigmas(sigmas)
    s0, s1 = float(sigmas[0]), float(sigmas[-1])
    if isinstance(prior, str):
        if prior != "exact":
            raise ValueError(f"prior must be None, 'exact' or a GridDensity, got {prior!r}")
        lo, hi = _mixture_support(target, s0, 14.0)
        prior = GridDensity.from_function(
            lambda z: target.prob(z.unsqueeze(-1), s0), lo, hi, n_points, sigmas.device
        )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="step map is not monotone")
        d = propagate(step, denoiser, sigmas, prior, n_points, None, True, **options)
    lo, hi = _mixture_support(target, s1, 10.0)
    x = torch.linspace(lo, hi, n_quad, dtype=torch.float64, device=sigmas.device)
    return density_kl(lambda z: target.log_prob(z.unsqueeze(-1), s1), d, x)


def _mixture_support(gmm: GaussianMixture, sigma: float, width: float) -> tuple[float, float]:
    """``width`` standard deviations of the widest noised component beyond the extreme means."""
    sd = math.sqrt(float(gmm.variances.max()) + sigma**2)
    return float(gmm.means.min()) - width * sd, float(gmm.means.max()) + width * sd


def tv_distance(p: DensityLike, q: DensityLike, x: Tensor) -> Quadrature:
    r"""Total variation :math:`\tfrac12\int|p-q|` on the grid ``x``."""
    return _with_error(lambda a, b, g: 0.5 * torch.trapezoid((a - b).abs(), g), p, q, x)


def w1_distance(p: DensityLike, q: DensityLike, x: Tensor) -> Quadrature:
    r"""Wasserstein-1 distance :math:`\int|F_p - F_q|` on the grid ``x`` (CDFs by cumulative trapezoid)."""

    def w1(a: Tensor, b: Tensor, g: Tensor) -> Tensor:
        h = g[1] - g[0]
        ca = torch.cat([a.new_zeros(1), torch.cumsum(0.5 * (a[1:] + a[:-1]) * h, 0)])
        cb = torch.cat([b.new_zeros(1), torch.cumsum(0.5 * (b[1:] + b[:-1]) * h, 0)])
        return torch.trapezoid((ca - cb).abs(), g)

    return _with_error(w1, p, q, x)
