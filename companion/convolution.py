r"""Noised Gaussian mixtures by direct numerical convolution: a second method for the closed forms.

:mod:`companion.gmm` computes the noised density, score, denoiser and posterior covariance of a
Gaussian mixture from closed forms that share one variance formula (:math:`v_k + \sigma^2`). This
module recomputes them without that formula and without sharing any code with
:mod:`companion.gmm`: it integrates the data density against the noise kernel by the trapezoid
rule (numpy only),

.. math::

    p_\sigma(y) = \int p_0(x)\,\mathcal N(y; x, \sigma^2 I)\,dx, \qquad
    E[x\mid y] = \frac{\int x\,p_0(x)\,\mathcal N(y; x, \sigma^2 I)\,dx}{p_\sigma(y)},

and the second moment likewise; the score is the derivative of the convolution integral under
the integral sign, :math:`\nabla\log p_\sigma(y) = (E[x\mid y] - y)/\sigma^2`, and the posterior
covariance is :math:`E[xx^\top\mid y] - E[x\mid y]E[x\mid y]^\top`. A mixture with diagonal
covariances is a sum of products over coordinates, so each ``d``-dimensional integral is a product
of 1-D integrals, one per component and coordinate (:func:`convolution_truth`). The trapezoid rule
converges faster than any power of the node spacing for these smooth, rapidly decaying integrands
once the spacing resolves the narrower of the component and the kernel; refine ``n_nodes`` to
see it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

__all__ = ["NoisedMoments", "convolution_truth", "relative_discrepancy"]


class NoisedMoments(NamedTuple):
    """Noised density ``(k,)``, score ``(k, d)``, denoiser ``(k, d)`` and posterior covariance
    ``(k, d, d)`` at ``k`` points."""

    density: np.ndarray
    score: np.ndarray
    denoiser: np.ndarray
    posterior_cov: np.ndarray


def _as_array(name: str, value: Any, ndim: int) -> np.ndarray:
    a = np.asarray(value, dtype=np.float64)
    if a.ndim != ndim or not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be a finite array with {ndim} dimension(s), got {a.shape}")
    return a


def convolution_truth(
    weights: Any, means: Any, variances: Any, y: Any, sigma: float, n_nodes: int = 1601
) -> NoisedMoments:
    r"""Noised density, score, denoiser and posterior covariance of a diagonal Gaussian mixture
    at the points ``y``, by direct trapezoid quadrature of the convolution with
    :math:`\mathcal N(0, \sigma^2 I)`.

    Args:
        weights: mixture weights, shape ``(K,)``, positive, summing to 1.
        means: component means, shape ``(K, d)``.
        variances: per-coordinate component variances, shape ``(K, d)``, positive.
        y: evaluation points, shape ``(k, d)``.
        sigma: noise level, positive.
        n_nodes: trapezoid nodes per component and coordinate, over the component's mean
            :math:`\pm 12` standard deviations.
    """
    w = _as_array("weights", weights, 1)
    m = _as_array("means", means, 2)
    v = _as_array("variances", variances, 2)
    pts = _as_array("y", y, 2)
    K, d = m.shape
    if w.shape != (K,) or v.shape != (K, d) or pts.shape[1] != d:
        raise ValueError(
            f"shapes must be weights (K,), means and variances (K, d), y (k, d); got "
            f"{w.shape}, {m.shape}, {v.shape}, {pts.shape}"
        )
    if np.any(w <= 0) or abs(w.sum() - 1.0) > 1e-12 or np.any(v <= 0):
        raise ValueError("weights must be positive and sum to 1, variances positive")
    if not (np.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be positive and finite, got {sigma!r}")
    if isinstance(n_nodes, bool) or not isinstance(n_nodes, int) or n_nodes < 3:
        raise ValueError(f"n_nodes must be an integer >= 3, got {n_nodes!r}")

    k = pts.shape[0]
    # I[r][c, j] = int x^r N(x; m_cj, v_cj) N(y_j; x, sigma^2) dx at every point, shape (K, d, k)
    moments = np.empty((3, K, d, k))
    for c in range(K):
        for j in range(d):
            sd = np.sqrt(v[c, j])
            x = np.linspace(m[c, j] - 12 * sd, m[c, j] + 12 * sd, n_nodes)
            h = x[1] - x[0]
            tw = np.full(n_nodes, h)
            tw[[0, -1]] = h / 2
            px = np.exp(-0.5 * (x - m[c, j]) ** 2 / v[c, j]) / np.sqrt(2 * np.pi * v[c, j])
            ker = np.exp(-0.5 * (pts[:, j, None] - x) ** 2 / sigma**2) / np.sqrt(
                2 * np.pi * sigma**2
            )
            f = ker * (px * tw)
            moments[:, c, j] = f.sum(1), f @ x, f @ x**2

    def component_integral(powers: dict[int, int]) -> np.ndarray:
        """Sum over components of w_c prod_j I[powers.get(j, 0)][c, j], shape (k,)."""
        prod = np.ones((K, k))
        for j in range(d):
            prod = prod * moments[powers.get(j, 0), :, j]
        return w @ prod

    density = component_integral({})
    first = np.stack([component_integral({j: 1}) for j in range(d)], -1) / density[:, None]
    second = np.empty((k, d, d))
    for a in range(d):
        for b in range(d):
            powers = {a: 2} if a == b else {a: 1, b: 1}
            second[:, a, b] = component_integral(powers) / density
    cov = second - first[:, :, None] * first[:, None, :]
    return NoisedMoments(density, (first - pts) / sigma**2, first, cov)


def relative_discrepancy(a: Any, b: Any) -> float:
    """Largest distance between rows of ``a`` and ``b`` (points along the first axis), relative to
    the root-mean-square norm of ``b``'s rows: a scale-free error that stays meaningful where a
    quantity crosses zero (a score between modes)."""
    x = np.asarray(a, dtype=np.float64)
    z = np.asarray(b, dtype=np.float64)
    if x.shape != z.shape or x.ndim < 1 or x.shape[0] < 1:
        raise ValueError(
            f"a and b must have equal shapes with points first, got {x.shape}, {z.shape}"
        )
    x, z = x.reshape(x.shape[0], -1), z.reshape(z.shape[0], -1)
    scale = float(np.sqrt(np.mean(np.sum(z**2, axis=1))))
    if scale == 0.0:
        raise ValueError("b must not be identically zero")
    return float(np.max(np.linalg.norm(x - z, axis=1)) / scale)
