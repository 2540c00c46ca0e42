"""Sample-based distances between distributions in R^d (d >= 1), each with a bootstrap error bar.

* :func:`sliced_w2`: sliced Wasserstein-2 over random unit directions (sorted projections);
* :func:`mmd`: squared maximum mean discrepancy, Gaussian kernel, median-heuristic bandwidth,
  unbiased (U-statistic) estimator;
* :func:`frechet_distance`: Frechet distance between Gaussian fits (the FID formula).

:func:`bootstrap` turns any of them into a :class:`companion.stats.Interval` (95% percentile
bootstrap interval).
All functions take samples of shape ``(n, d)`` and ``(m, d)`` and a ``torch.Generator``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.linalg
import torch
from torch import Tensor

from companion.stats import MIN_RESAMPLES, Interval, bootstrap_ci

__all__ = ["sliced_w2", "mmd", "frechet_distance", "bootstrap", "median_bandwidth"]


def _check_pair(x: Tensor, y: Tensor) -> None:
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(
            f"x and y must be (n, d) and (m, d) with equal d, got {tuple(x.shape)} and "
            f"{tuple(y.shape)}"
        )
    if x.shape[0] < 2 or y.shape[0] < 2:
        raise ValueError("x and y need at least 2 samples each")


def sliced_w2(
    x: Tensor, y: Tensor, n_projections: int = 256, generator: torch.Generator | None = None
) -> float:
    """Sliced Wasserstein-2 distance (square root of the mean squared 1-D W2 over directions).

    Unequal sample sizes are handled by comparing quantile functions at common levels.
    """
    _check_pair(x, y)
    x, y = x.double(), y.double()
    dirs = torch.randn((x.shape[1], n_projections), dtype=torch.float64, generator=generator)
    dirs = dirs / dirs.norm(dim=0, keepdim=True)
    px, _ = torch.sort(x @ dirs.to(x.device), dim=0)
    py, _ = torch.sort(y @ dirs.to(y.device), dim=0)
    if px.shape[0] != py.shape[0]:
        n = max(px.shape[0], py.shape[0])
        levels = (torch.arange(n, dtype=torch.float64, device=px.device) + 0.5) / n
        px, py = _quantiles(px, levels), _quantiles(py, levels)
    return float(((px - py) ** 2).mean().sqrt())


def _quantiles(sorted_values: Tensor, levels: Tensor) -> Tensor:
    """Empirical quantile function (midpoint convention, linear interpolation) of each column."""
    n = sorted_values.shape[0]
    pos = torch.clamp(levels * n - 0.5, 0, n - 1)
    lo = pos.floor().long()
    hi = torch.clamp(lo + 1, max=n - 1)
    frac = (pos - lo).unsqueeze(-1)
    return sorted_values[lo] * (1 - frac) + sorted_values[hi] * frac


def median_bandwidth(x: Tensor, y: Tensor, max_points: int = 2000) -> float:
    """Median pairwise Euclidean distance of the pooled samples (first ``max_points`` of each)."""
    z = torch.cat([x[:max_points], y[:max_points]]).double()
    dist = torch.cdist(z, z)
    return float(dist[torch.triu(torch.ones_like(dist, dtype=torch.bool), diagonal=1)].median())


def mmd(x: Tensor, y: Tensor, bandwidth: float | None = None) -> float:
    r"""Unbiased squared MMD with the Gaussian kernel :math:`k(a,b)=\exp(-\|a-b\|^2/(2\ell^2))`,
    :math:`\ell` the median heuristic unless ``bandwidth`` is given."""
    _check_pair(x, y)
    x, y = x.double(), y.double()
    ell = bandwidth if bandwidth is not None else median_bandwidth(x, y)

    def k(a: Tensor, b: Tensor) -> Tensor:
        return torch.exp(-(torch.cdist(a, b) ** 2) / (2 * ell**2))

    n, m = x.shape[0], y.shape[0]
    kxx = (k(x, x).sum() - n) / (n * (n - 1))
    kyy = (k(y, y).sum() - m) / (m * (m - 1))
    return float(kxx + kyy - 2 * k(x, y).mean())


def frechet_distance(x: Tensor, y: Tensor) -> float:
    r"""Frechet distance of Gaussian fits:
    :math:`\|\mu_x-\mu_y\|^2 + \mathrm{tr}(C_x + C_y - 2(C_xC_y)^{1/2})`."""
    _check_pair(x, y)
    xa, ya = x.double().cpu().numpy(), y.double().cpu().numpy()
    mx, my = xa.mean(0), ya.mean(0)
    cx, cy = np.atleast_2d(np.cov(xa, rowvar=False)), np.atleast_2d(np.cov(ya, rowvar=False))
    covmean = scipy.linalg.sqrtm(cx @ cy)
    covmean = np.real(covmean)
    return float(((mx - my) ** 2).sum() + np.trace(cx + cy - 2 * covmean))


def bootstrap(
    metric: Callable[[Tensor, Tensor], float],
    x: Tensor,
    y: Tensor,
    n_resamples: int = MIN_RESAMPLES,
    seed: int = 0,
) -> Interval:
    """``metric(x, y)`` with its 95% percentile bootstrap interval over ``n_resamples``.

    Both samples are resampled with replacement, independently, by
    :func:`companion.stats.bootstrap_ci` (percentile method: a jackknife for BCa would cost one
    metric evaluation per sample point).
    """
    ix = np.arange(x.shape[0])
    iy = np.arange(y.shape[0])

    def stat(i: np.ndarray, j: np.ndarray) -> float:
        ti = torch.from_numpy(np.asarray(i)).to(x.device)
        tj = torch.from_numpy(np.asarray(j)).to(y.device)
        return metric(x[ti], y[tj])

    return bootstrap_ci((ix, iy), stat, n_resamples=n_resamples, method="percentile", seed=seed)
