"""Sample-based distances between distributions in R^d (d >= 1), each with a bootstrap error bar.

* :func:`sliced_w2`: sliced Wasserstein-2 over random unit directions (sorted projections);
* :func:`mmd`: squared maximum mean discrepancy, Gaussian kernel, median-heuristic bandwidth,
  unbiased (U-statistic) estimator;
* :func:`frechet_distance`: Frechet distance between Gaussian fits (the FID formula).

Against a target whose density is known exactly (:mod:`companion.gmm`,
:mod:`companion.patch_prior`), each with its noise floor measured the same way:

* :func:`cross_entropy_vs_entropy`: the exact cross-entropy of generated samples under the
  target, its floor the target's entropy estimated from fresh target samples;
* :func:`distance_vs_floor`: any of the distances above against fresh target samples, its floor
  the same distance between two independent target sample sets of the same sizes.

:func:`bootstrap` turns any of them into a :class:`companion.stats.Interval` (95% percentile
bootstrap interval).
All functions take samples of shape ``(n, d)`` and ``(m, d)`` and a ``torch.Generator``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import scipy.linalg
import torch
from torch import Tensor

from companion.stats import MIN_RESAMPLES, Interval, bootstrap_ci, paired_t, t_interval

__all__ = [
    "sliced_w2",
    "mmd",
    "frechet_distance",
    "bootstrap",
    "median_bandwidth",
    "CrossEntropyVsEntropy",
    "cross_entropy_vs_entropy",
    "DistanceVsFloor",
    "distance_vs_floor",
]


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


def _mmd_counts(x: Tensor, y: Tensor) -> Callable[[np.ndarray, np.ndarray], float]:
    """The unbiased squared MMD of :func:`mmd` on resamples ``x[i], y[j]`` as a function of the
    index arrays, with the kernel fixed at the full samples' median bandwidth (Gram matrices
    computed once; a resample enters through its counts per point)."""
    _check_pair(x, y)
    x, y = x.double(), y.double()
    ell = median_bandwidth(x, y)
    gram = [
        torch.exp(-(torch.cdist(a, b) ** 2) / (2 * ell**2)) for a, b in ((x, x), (y, y), (x, y))
    ]
    n, m = x.shape[0], y.shape[0]

    def stat(i: np.ndarray, j: np.ndarray) -> float:
        cx = torch.from_numpy(np.bincount(np.asarray(i), minlength=n)).to(x)
        cy = torch.from_numpy(np.bincount(np.asarray(j), minlength=m)).to(y)
        kxx = (cx @ (gram[0] @ cx) - n) / (n * (n - 1))
        kyy = (cy @ (gram[1] @ cy) - m) / (m * (m - 1))
        return float(kxx + kyy - 2 * (cx @ (gram[2] @ cy)) / (n * m))

    return stat


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

    For ``metric=mmd`` the kernel is fixed once: its bandwidth is the median heuristic of the
    full samples, the three Gram matrices are computed once, and a resample's MMD is
    :math:`c_x^\top K_{xx} c_x`-type quadratic forms in the resample's counts per point (a
    repeated point pairs with itself as in :func:`mmd` on the resampled tensors). The value is
    :func:`mmd`'s, and the interval is that of ``mmd(., ., bandwidth=h)`` with ``h`` the
    full-sample bandwidth, at the cost of three matrix-vector products per resample instead
    of three kernel evaluations on all pairs. It holds three ``(n, m)``-sized float64 Gram
    matrices in memory.
    """
    ix = np.arange(x.shape[0])
    iy = np.arange(y.shape[0])
    if metric is mmd:
        return bootstrap_ci(
            (ix, iy), _mmd_counts(x, y), n_resamples=n_resamples, method="percentile", seed=seed
        )

    def stat(i: np.ndarray, j: np.ndarray) -> float:
        ti = torch.from_numpy(np.asarray(i)).to(x.device)
        tj = torch.from_numpy(np.asarray(j)).to(y.device)
        return metric(x[ti], y[tj])

    return bootstrap_ci((ix, iy), stat, n_resamples=n_resamples, method="percentile", seed=seed)


# --------------------------------------------------------------------------------------------
# Against an exact target, with noise floors
# --------------------------------------------------------------------------------------------


def _batches(name: str, x: Tensor, n_batches: int) -> tuple[Tensor, ...]:
    """``x`` split into ``n_batches`` equal batches along its first axis (no sample dropped)."""
    if x.ndim != 2:
        raise ValueError(f"{name} must have shape (n, d), got {tuple(x.shape)}")
    if x.shape[0] % n_batches or x.shape[0] < 2 * n_batches:
        raise ValueError(
            f"{name} must hold a multiple of n_batches={n_batches} samples, at least "
            f"{2 * n_batches}; got {x.shape[0]}"
        )
    return torch.chunk(x, n_batches)


def _check_n_batches(n_batches: int) -> None:
    if isinstance(n_batches, bool) or not isinstance(n_batches, int) or n_batches < 2:
        raise ValueError(f"n_batches must be an integer >= 2, got {n_batches!r}")


class CrossEntropyVsEntropy(NamedTuple):
    r"""Cross-entropy of generated samples under a target, the target's entropy as its floor.

    All three are t-intervals over the batches (nats per sample): ``cross_entropy``
    :math:`-E_q\log p`, ``entropy`` :math:`-E_p\log p` from fresh target samples, and
    ``excess`` their difference (batch ``b`` of each paired).
    """

    cross_entropy: Interval
    entropy: Interval
    excess: Interval


def cross_entropy_vs_entropy(
    log_prob: Callable[[Tensor], Tensor],
    generated: Tensor,
    target: Tensor,
    n_batches: int = 20,
) -> CrossEntropyVsEntropy:
    r"""Exact cross-entropy :math:`-E_q\log p` of ``generated`` samples (law :math:`q`) under a
    target of exact log-density ``log_prob``, against the target's own entropy
    :math:`H(p) = -E_p\log p` estimated from independent ``target`` samples.

    Each sample set is split into ``n_batches`` equal batches (independent replicates); the
    intervals are Student-t over the batch means (``n_batches - 1`` degrees of freedom), and the
    excess pairs batch ``b`` of one with batch ``b`` of the other (the pairs are independent, so
    the paired interval is valid). At :math:`q = p` the excess has mean 0. It is
    :math:`\mathrm{KL}(q\,\|\,p) + H(q) - H(p)`, not a divergence: a sampler that contracts
    towards the modes has :math:`H(q) < H(p)` and can score below the floor, so read it beside a
    distance (:func:`distance_vs_floor`).

    Args:
        log_prob: exact log-density of the target, ``(n, d) -> (n,)`` (e.g.
            ``FullCovarianceMixture.log_prob``).
        generated: samples to score, ``(n, d)``, ``n`` a multiple of ``n_batches``.
        target: fresh samples of the target, ``(m, d)``, ``m`` a multiple of ``n_batches``.
        n_batches: number of batches (at least 2).
    """
    _check_n_batches(n_batches)
    gen_b = _batches("generated", generated, n_batches)
    tgt_b = _batches("target", target, n_batches)
    if generated.shape[1] != target.shape[1]:
        raise ValueError(
            f"generated and target must have the same d, got {generated.shape[1]} and "
            f"{target.shape[1]}"
        )
    ce = np.array([-float(log_prob(b).double().mean()) for b in gen_b])
    h = np.array([-float(log_prob(b).double().mean()) for b in tgt_b])
    if not (np.isfinite(ce).all() and np.isfinite(h).all()):
        raise ValueError("log_prob gave non-finite values on the samples")
    note = f"{n_batches} batches of {len(gen_b[0])} (generated) and {len(tgt_b[0])} (target)"
    return CrossEntropyVsEntropy(
        t_interval(ce, note=f"batches of {len(gen_b[0])} samples"),
        t_interval(h, note=f"batches of {len(tgt_b[0])} target samples"),
        paired_t(ce, h, note=note),
    )


class DistanceVsFloor(NamedTuple):
    """A sample distance to the target and its noise floor, both over the same batches.

    ``distance``: metric(generated batch, reference batch); ``floor``: metric(fresh batch,
    reference batch), two independent target sets of the same sizes; ``excess``: their paired
    difference (t-intervals over the batches).
    """

    distance: Interval
    floor: Interval
    excess: Interval


def distance_vs_floor(
    metric: Callable[[Tensor, Tensor], float],
    generated: Tensor,
    reference: Tensor,
    fresh: Tensor,
    n_batches: int = 10,
) -> DistanceVsFloor:
    """``metric`` between generated samples and target samples, with the noise floor the same
    function gives between two independent target sample sets of the same sizes.

    A sample distance is biased upwards by finite samples (the Frechet distance by the noise of
    two covariance estimates, the sliced W2 by the empirical quantiles), so its value means
    something only next to the value it takes when the generated samples are replaced by
    ``fresh`` samples of the target. Batch ``b`` of ``generated`` and of ``fresh`` are both
    compared with batch ``b`` of ``reference``; the batches are independent replicates, and the
    excess distance - floor is their paired difference, which removes the reference batch's
    share of the noise.

    Args:
        metric: ``(x, y) -> float``, e.g. :func:`frechet_distance`, or
            ``lambda x, y: sliced_w2(x, y, generator=torch.Generator().manual_seed(0))`` (the
            same directions for distance and floor).
        generated: samples to assess, ``(n, d)``.
        reference: target samples, ``(m, d)``.
        fresh: other target samples, independent of ``reference``, the same shape as
            ``generated`` (so that the floor has the same finite-sample bias).
        n_batches: number of batches (at least 2); ``n`` and ``m`` must be multiples of it.
    """
    _check_n_batches(n_batches)
    if fresh.shape != generated.shape:
        raise ValueError(
            f"fresh must have the shape of generated {tuple(generated.shape)} so that the floor "
            f"has the same finite-sample bias, got {tuple(fresh.shape)}"
        )
    gen_b = _batches("generated", generated, n_batches)
    ref_b = _batches("reference", reference, n_batches)
    fresh_b = _batches("fresh", fresh, n_batches)
    _check_pair(generated, reference)
    dist = np.array([metric(g, r) for g, r in zip(gen_b, ref_b, strict=True)])
    floor = np.array([metric(f, r) for f, r in zip(fresh_b, ref_b, strict=True)])
    sizes = f"batches of {len(gen_b[0])} against {len(ref_b[0])} reference samples"
    return DistanceVsFloor(
        t_interval(dist, note=sizes),
        t_interval(floor, note=f"{sizes}; fresh target samples in place of generated"),
        paired_t(dist, floor, note=f"{n_batches} {sizes}, paired by reference batch"),
    )
