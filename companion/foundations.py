r"""Helpers of the foundations chapter: reading rates and grid errors off deterministic numbers.

* :func:`extrapolated_slope`: the asymptotic log-log slope of a deterministic sequence (an exact
  KL against the number of steps) by Richardson extrapolation in :math:`1/N` of its local slopes,
  read on the last ``n_points`` step counts, with the change over those extrapolants and a grid
  error as its error;
* :func:`richardson`: the Richardson error estimate of a quantity computed on three grids
  (``h``, ``h/2``, ``h/4``) of a method of known order, and the order the three values show;
* :func:`tail_term`: the part of a quadrature KL :math:`\int p\log(p/q)` that comes from nodes
  where the grid density ``q`` is not resolved (outside its grid, or at round-off level), an
  estimate (not a bound) of the error that the grid's tails give the KL;
* :func:`cell_masses`: the mass of a grid density in the cells between given edges (the weight
  of each mode of a 1-D mixture).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from . import stats
from .grid import GridDensity, trapezoid_weights

__all__ = [
    "Extrapolated",
    "extrapolated_slope",
    "Richardson",
    "richardson",
    "tail_term",
    "cell_masses",
]


class Extrapolated(NamedTuple):
    """An asymptotic log-log slope by Richardson extrapolation, with its two error parts."""

    interval: stats.Interval
    change: float  # largest change between the last extrapolant and an earlier one
    grid_error: float  # change from the coarser grid, plus any error bound passed in


def extrapolated_slope(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    y_coarse: Sequence[float] | np.ndarray | None = None,
    rel_err: Sequence[float] | np.ndarray | None = None,
    n_points: int = 5,
) -> Extrapolated:
    """The asymptotic log-log slope of a deterministic sequence ``y(x)`` from its last points.

    The local slope ``s_k`` between ``x_k`` and ``x_(k+1)``, placed at their geometric mid-point
    ``M_k``, is ``s + c/M_k + O(M_k^-2)`` when ``y`` has a ``1/x`` correction; two consecutive
    local slopes eliminate ``c``: ``e_k = (M_(k+1) s_(k+1) - M_k s_k) / (M_(k+1) - M_k)``
    (Richardson extrapolation in ``1/x``). On the last ``n_points`` points (``>= 4``) there are
    ``n_points - 2`` extrapolants; the value is the last, its error the largest change from the
    last to any earlier one, plus the change of the last one when ``y`` is computed on a coarser
    grid (``y_coarse``), plus the tilt that relative errors ``rel_err`` of the ``y`` values can
    give it (a bound). The interval's kind is ``"refinement"`` and its ``n`` the points used.
    """
    if n_points < 4:
        raise ValueError(f"n_points must be >= 4, got {n_points!r}")
    xa = np.asarray(x, dtype=float)
    ya = np.asarray(y, dtype=float)
    if xa.ndim != 1 or xa.shape != ya.shape or xa.size < n_points:
        raise ValueError(
            f"x and y must be 1-D of equal length >= n_points = {n_points}, got {xa.shape} and "
            f"{ya.shape}"
        )
    xa, ya = xa[-n_points:], ya[-n_points:]
    mid = np.sqrt(xa[1:] * xa[:-1])

    def extrapolants(values: np.ndarray) -> np.ndarray:
        s = stats.local_slopes(xa, values)
        return (mid[1:] * s[1:] - mid[:-1] * s[:-1]) / (mid[1:] - mid[:-1])

    e = extrapolants(ya)
    change = float(np.max(np.abs(e[:-1] - e[-1])))
    grid_error = 0.0
    if y_coarse is not None:
        yc = np.asarray(y_coarse, dtype=float)
        if yc.shape != np.asarray(y, dtype=float).shape:
            raise ValueError(f"y_coarse must have the shape of y, got {yc.shape}")
        grid_error = float(abs(e[-1] - extrapolants(yc[-n_points:])[-1]))
    if rel_err is not None:  # |d s_k| <= (r_k + r_(k+1)) / log(x_(k+1)/x_k)
        r = np.asarray(rel_err, dtype=float)[-3:]
        if r.size != 3 or np.any(~np.isfinite(r)) or np.any(r < 0):
            raise ValueError("rel_err must hold at least 3 finite values >= 0")
        ds = (r[1:] + r[:-1]) / np.diff(np.log(xa[-3:]))
        a, b = mid[-1] / (mid[-1] - mid[-2]), mid[-2] / (mid[-1] - mid[-2])
        grid_error += float(a * ds[1] + b * ds[0])
    value = float(e[-1])
    half = change + grid_error
    note = (
        f"Richardson extrapolation in 1/N of the local slopes at N = {xa[0]:.0f}..{xa[-1]:.0f} "
        f"({n_points} step counts); error: largest change from an earlier extrapolant "
        f"({change:.2g}) plus grid ({grid_error:.2g})"
    )
    interval = stats.Interval(value, value - half, value + half, "refinement", n_points, note)
    return Extrapolated(interval, change, grid_error)


class Richardson(NamedTuple):
    """A quantity on three grids ``h, h/2, h/4`` of a method of known order ``p``."""

    value: float  # the finest grid's value
    error: float  # Richardson estimate of its error: (finest - middle) / (ratio^p - 1)
    extrapolated: float  # finest + error estimate
    observed_order: float  # log_ratio |coarse - middle| / |middle - finest| (nan if undefined)


def richardson(values: Sequence[float], order: float = 2.0, ratio: float = 2.0) -> Richardson:
    """Richardson error estimate of the finest of three values on grids refined by ``ratio``.

    With an error ``C h^order``, the finest value's error is ``(v3 - v2) / (ratio^order - 1)``
    (signed, finest minus limit with the sign flipped: ``limit ~ v3 + error``). The observed
    order ``log(|v1 - v2| / |v2 - v3|) / log(ratio)`` says whether the three grids are in the
    asymptotic range (it is ``order`` there).
    """
    v = np.asarray(values, dtype=float)
    if v.shape != (3,) or not np.all(np.isfinite(v)):
        raise ValueError(f"values must be 3 finite numbers (coarse to fine), got {values!r}")
    if order <= 0 or ratio <= 1:
        raise ValueError(f"need order > 0 and ratio > 1, got {order!r} and {ratio!r}")
    err = float((v[2] - v[1]) / (ratio**order - 1))
    d12, d23 = abs(v[0] - v[1]), abs(v[1] - v[2])
    observed = math.log(d12 / d23) / math.log(ratio) if d12 > 0 and d23 > 0 else math.nan
    return Richardson(float(v[2]), err, float(v[2] + err), observed)


def tail_term(
    log_p: Callable[[Tensor], Tensor], q: GridDensity, x: Tensor, rel_floor: float = 1e-12
) -> float:
    r"""The part of :math:`\mathrm{KL}(p\,\|\,q)` on the grid ``x`` where ``q`` is not resolved.

    :math:`\int p\,|\log p - \log q|` over the nodes of ``x`` outside ``q``'s grid or where ``q``
    is below ``rel_floor`` times its peak (its values there are round-off or a trimmed tail, and
    outside its grid ``q`` is floored at the smallest float, as in
    :func:`companion.grid.kl_divergence`). It estimates (it does not bound) how much ``q``'s
    tails can move the quadrature KL when ``p`` is wider than ``q``.
    """
    if x.ndim != 1 or x.numel() < 3:
        raise ValueError(f"x must be a 1-D grid with at least 3 nodes, got shape {tuple(x.shape)}")
    if not 0 < rel_floor < 1:
        raise ValueError(f"rel_floor must be in (0, 1), got {rel_floor!r}")
    qv = q(x)
    lp = log_p(x)
    lq = torch.log(qv.clamp_min(torch.finfo(qv.dtype).tiny))
    unresolved = (x < q.x[0]) | (x > q.x[-1]) | (qv < rel_floor * float(q.p.max()))
    integrand = torch.exp(lp) * (lp - lq).abs() * unresolved
    return float((integrand * trapezoid_weights(x)).sum())


def cell_masses(d: GridDensity, edges: Sequence[float]) -> np.ndarray:
    """Mass of the grid density ``d`` in the cells ``(-inf, e_1], (e_1, e_2], ..., (e_k, inf)``.

    The CDF is the cumulative trapezoid rule at the nodes (normalised to total mass 1),
    interpolated linearly at the increasing ``edges``; returns ``len(edges) + 1`` masses.
    """
    e = np.asarray(edges, dtype=float)
    if e.ndim != 1 or e.size < 1 or np.any(np.diff(e) <= 0):
        raise ValueError(f"edges must be a non-empty increasing sequence, got {edges!r}")
    seg = 0.5 * (d.p[1:] + d.p[:-1]) * d.h
    cdf = torch.cat([d.p.new_zeros(1), torch.cumsum(seg, 0)])
    if float(cdf[-1]) <= 0:
        raise ValueError("density has no mass on its grid")
    cdf_np = (cdf / cdf[-1]).cpu().numpy()
    at = np.interp(e, d.x.cpu().numpy(), cdf_np)
    return np.diff(np.concatenate([[0.0], at, [1.0]]))
