"""Fitted rates: least-squares slopes in log-log coordinates with confidence intervals."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.stats

__all__ = ["Slope", "fit_loglog"]


class Slope(NamedTuple):
    """A fitted slope with its 95% confidence half-width, intercept and fit range."""

    slope: float
    ci95: float
    intercept: float
    x_range: tuple[float, float]


def fit_loglog(x: np.ndarray | list[float], y: np.ndarray | list[float]) -> Slope:
    """Slope of ``log y`` against ``log x`` by least squares, with a t-based 95% interval.

    Non-positive or non-finite pairs are rejected with a ValueError (they have no logarithm).
    """
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xa.shape != ya.shape or xa.ndim != 1 or xa.size < 3:
        raise ValueError(f"x and y must be 1-D of equal length >= 3, got {xa.shape} and {ya.shape}")
    if not (
        np.all(np.isfinite(xa)) and np.all(np.isfinite(ya)) and np.all(xa > 0) and np.all(ya > 0)
    ):
        raise ValueError("x and y must be finite and > 0 for a log-log fit")
    res = scipy.stats.linregress(np.log(xa), np.log(ya))
    t = scipy.stats.t.ppf(0.975, xa.size - 2)
    return Slope(
        float(res.slope),
        float(t * res.stderr),
        float(res.intercept),
        (float(xa.min()), float(xa.max())),
    )
