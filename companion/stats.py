r"""Statistics with a declared kind: intervals, paired and multiplicity-aware comparisons, fits,
bootstrap and goodness of fit.

Every estimate a chapter records is an :class:`Interval`: a value, a 95% interval around it, the
*kind* of that interval (one of :data:`UNCERTAINTY_KINDS`) and the number ``n`` it rests on. The
claims ledger (:mod:`companion.ledger`) stores all of it and refuses a ``paper`` or ``derived``
claim that rests on fewer than 5 seeds or 5 fit points.

* seeds: :func:`t_interval` (Student-t, ``n - 1`` degrees of freedom), :func:`paired_t` (paired
  design: the interval of the mean difference), :func:`compare_rivals` (a candidate against
  several rivals on the same seeds, Bonferroni-adjusted: for "A is the best of m methods");
* numerics: :func:`refinement` (the error of a deterministic number, measured by refining the
  grid or quadrature; no sampling interval);
* fits: :func:`fit_line`, :func:`fit_loglog`, :func:`fit_semilog` (least squares, t-interval of
  the slope with ``n - 2`` degrees of freedom: for noisy data) and :func:`fit_decay` (geometric
  vs power law); for a *deterministic* sequence (an exact KL against the number of steps) use
  :func:`local_slopes` and :func:`asymptotic_slope`, whose error is how much the rate still
  moves, not a sampling interval;
* resampling: :func:`bootstrap_ci` (``scipy.stats.bootstrap``, BCa by default);
* goodness of fit and association: :func:`ks_test` (one-sample Kolmogorov-Smirnov with scipy's
  exact null distribution), :func:`spearman`;
* plotting error bars: :func:`mean_t_halfwidth` (vectorised over an axis);
* tuning without optimism: :func:`cross_validated_gain` (leave-one-seed-out choice of a
  setting);
* transformations: :func:`scaled` (the interval of a fixed multiple of an estimate).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import scipy.stats

__all__ = [
    "LEVEL",
    "SettledSlope",
    "MIN_RESAMPLES",
    "UNCERTAINTY_KINDS",
    "CVGain",
    "DecayFit",
    "Interval",
    "KSResult",
    "LineFit",
    "asymptotic_slope",
    "settled_slope",
    "local_slopes",
    "RivalComparison",
    "bootstrap_ci",
    "compare_rivals",
    "cross_validated_gain",
    "fit_decay",
    "fit_line",
    "fit_loglog",
    "fit_semilog",
    "ks_test",
    "mean_t_halfwidth",
    "p_value",
    "paired_t",
    "refinement",
    "scaled",
    "spearman",
    "t_interval",
]

#: Confidence level of every interval in the book.
LEVEL = 0.95

#: Fewest bootstrap resamples for a 95% interval (its ends are the 2.5% and 97.5% quantiles).
MIN_RESAMPLES = 200

#: Kinds of uncertainty the ledger accepts, with what ``n`` counts for each.
UNCERTAINTY_KINDS: dict[str, str] = {
    "none": "exact, or deterministic to round-off: no interval",
    "refinement": "numerical error: change of the value when the grid or quadrature is refined "
    "(n = number of resolutions compared)",
    "t": "95% Student-t interval of a mean over n independent seeds (n - 1 degrees of freedom)",
    "paired-t": "95% Student-t interval of the mean paired difference over n pairs",
    "simultaneous-t": "95% simultaneous paired t-interval against several rivals over n pairs "
    "(Bonferroni)",
    "bootstrap": "95% bootstrap interval over n resamples",
    "fit": "95% t-interval of a least-squares coefficient over n points (n - 2 degrees of freedom)",
}


def _kind_text(kind: str, n: int | None, note: str) -> str:
    unit = {
        "t": "seeds",
        "paired-t": "paired seeds",
        "simultaneous-t": "paired seeds",
        "bootstrap": "resamples",
        "fit": "points",
        "refinement": "resolutions",
    }
    if kind == "none":
        return note or "exact"
    base = {
        "t": "95% t-interval",
        "paired-t": "95% paired t-interval",
        "simultaneous-t": "95% simultaneous paired t-interval",
        "bootstrap": "95% bootstrap interval",
        "fit": "95% fit interval",
        "refinement": "numerical error by refinement",
    }[kind]
    text = f"{base} over {n} {unit[kind]}"
    return f"{text} ({note})" if note else text


@dataclass(frozen=True)
class Interval:
    """A value with a 95% interval ``[low, high]``, the interval's kind and what it rests on.

    Build intervals with the functions of this module rather than directly.

    Parameters
    ----------
    value:
        The point estimate.
    low, high:
        The interval's ends (``low <= value <= high``); equal to ``value`` for kind ``"none"``.
    kind:
        One of :data:`UNCERTAINTY_KINDS`.
    n:
        The seeds, pairs, points, resamples or resolutions the interval rests on (``None`` for
        kind ``"none"``).
    note:
        What else a reader needs, e.g. ``"Bonferroni over 3 rivals"`` or ``"BCa"``.
    """

    value: float
    low: float
    high: float
    kind: str
    n: int | None = None
    note: str = ""

    def __post_init__(self) -> None:
        if self.kind not in UNCERTAINTY_KINDS:
            raise ValueError(f"kind must be one of {sorted(UNCERTAINTY_KINDS)}, got {self.kind!r}")
        if self.kind != "none" and (
            self.n is None or isinstance(self.n, bool) or int(self.n) != self.n or self.n < 1
        ):
            raise ValueError(f"n must be a positive int for kind {self.kind!r}, got {self.n!r}")
        if not (self.low <= self.value <= self.high) and all(
            math.isfinite(v) for v in (self.low, self.value, self.high)
        ):
            raise ValueError(
                f"need low <= value <= high, got low={self.low!r}, value={self.value!r}, "
                f"high={self.high!r}"
            )

    @property
    def half_width(self) -> float:
        """The larger distance from the value to an end of the interval."""
        return max(self.value - self.low, self.high - self.value)

    @property
    def text(self) -> str:
        """What the interval is, e.g. ``"95% t-interval over 5 seeds"``."""
        return _kind_text(self.kind, self.n, self.note)

    def __float__(self) -> float:
        return float(self.value)


def _symmetric(value: float, half: float, kind: str, n: int | None, note: str = "") -> Interval:
    """``value ± half`` as an :class:`Interval`."""
    return Interval(value, value - half, value + half, kind, n, note)


def _vector(values: Any, name: str, min_size: int) -> np.ndarray:
    v = np.asarray(values, dtype=float).reshape(-1) if np.ndim(values) else np.asarray([values])
    if v.size < min_size:
        raise ValueError(f"{name} needs at least {min_size} values, got {v.size}")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{name} must be finite, got {v!r}")
    return v


def _t_quantile(df: int, level: float = LEVEL) -> float:
    return float(scipy.stats.t.ppf(0.5 + level / 2, df))


# --------------------------------------------------------------------------------------------
# Seeds
# --------------------------------------------------------------------------------------------


def t_interval(values: Sequence[float] | np.ndarray, note: str = "") -> Interval:
    """Mean of ``n >= 2`` independent values with its 95% Student-t interval (``n - 1`` df)."""
    v = _vector(values, "values", 2)
    n = v.size
    mean = float(v.mean())
    half = _t_quantile(n - 1) * float(v.std(ddof=1)) / math.sqrt(n)
    return _symmetric(mean, half, "t", n, note)


def paired_t(
    a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, note: str = ""
) -> Interval:
    """Mean of the paired differences ``a - b`` (same seeds) with its 95% t-interval.

    The paired design removes the seed-to-seed variation that ``a`` and ``b`` share; the
    interval has ``n - 1`` degrees of freedom for ``n`` pairs.
    """
    av, bv = _vector(a, "a", 2), _vector(b, "b", 2)
    if av.shape != bv.shape:
        raise ValueError(f"a and b must be paired (equal length), got {av.size} and {bv.size}")
    out = t_interval(av - bv, note)
    return Interval(out.value, out.low, out.high, "paired-t", out.n, note)


class RivalComparison(NamedTuple):
    """A candidate against several rivals: the decisive interval and one per rival.

    ``interval`` is the simultaneous interval of the rival that decides the claim "the
    candidate beats every rival": a rival the candidate is significantly worse than if there is
    one, else the rival with the smallest lower end. Its ``low > 0`` exactly when the candidate
    beats every rival with 95% simultaneous confidence.
    """

    interval: Interval
    decisive: str
    per_rival: dict[str, Interval]


def compare_rivals(
    candidate: Sequence[float] | np.ndarray,
    rivals: Mapping[str, Sequence[float] | np.ndarray],
    lower_is_better: bool = True,
) -> RivalComparison:
    """Does ``candidate`` beat every rival? Paired, Bonferroni-adjusted over the rivals.

    All arrays hold one value per seed, the same seeds for all (a paired design). For each
    rival the advantage ``rival - candidate`` (``candidate - rival`` when higher is better) gets
    a paired t-interval at level ``1 - 0.05/m`` for ``m`` rivals, so that all ``m`` intervals
    hold together with probability at least 95%. A positive advantage means the candidate is
    better. Use it for "A is the best (or worst) of several methods" instead of comparing a
    minimum over noisy numbers.
    """
    c = _vector(candidate, "candidate", 2)
    if not rivals:
        raise ValueError("rivals must hold at least one rival")
    m = len(rivals)
    level = 1 - (1 - LEVEL) / m
    per: dict[str, Interval] = {}
    for name, values in rivals.items():
        r = _vector(values, f"rivals[{name!r}]", 2)
        if r.shape != c.shape:
            raise ValueError(
                f"rivals[{name!r}] must be paired with candidate (length {c.size}), got {r.size}"
            )
        d = (r - c) if lower_is_better else (c - r)
        n = d.size
        mean = float(d.mean())
        half = _t_quantile(n - 1, level) * float(d.std(ddof=1)) / math.sqrt(n)
        note = f"Bonferroni over {m} rivals; advantage over {name}"
        per[name] = _symmetric(mean, half, "simultaneous-t", n, note)
    worse = [k for k, v in per.items() if v.high < 0]
    decisive = worse[0] if worse else min(per, key=lambda k: per[k].low)
    return RivalComparison(per[decisive], decisive, per)


def mean_t_halfwidth(values: Any, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean along ``axis`` and the half-width of its 95% t-interval, for error bars in figures.

    Needs at least 2 values along ``axis``; a single seed has no interval.
    """
    v = np.asarray(values, dtype=float)
    n = v.shape[axis] if v.ndim else 0
    if n < 2:
        raise ValueError(f"values need at least 2 entries along axis {axis}, got shape {v.shape}")
    half = _t_quantile(n - 1) * v.std(axis=axis, ddof=1) / math.sqrt(n)
    return v.mean(axis=axis), half


class CVGain(NamedTuple):
    """A leave-one-seed-out tuning gain: its t-interval, per-seed gains and chosen settings."""

    interval: Interval
    per_seed: np.ndarray
    chosen: np.ndarray


def cross_validated_gain(metric: np.ndarray | Any, baseline: int) -> CVGain:
    r"""Relative improvement over a baseline setting when the setting is *chosen on other seeds*.

    ``metric[i, j]`` is the (lower-is-better) metric of seed ``i`` at setting ``j``. For each
    seed :math:`i` the setting :math:`j^*_i` minimising the mean relative metric of the other
    seeds is chosen, and the gain :math:`g_i = 1 - m_{i j^*_i}/m_{i,\text{baseline}}` is
    evaluated on seed :math:`i`. This removes the optimism of picking the best setting and
    scoring it on the same runs. The interval is the t-interval of the per-seed gains.
    """
    m = np.asarray(metric, dtype=float)
    if m.ndim != 2 or m.shape[0] < 2 or m.shape[1] < 1:
        raise ValueError(f"metric must have shape (n_seeds >= 2, n_settings), got {m.shape}")
    if not 0 <= baseline < m.shape[1]:
        raise ValueError(f"baseline must index a setting in [0, {m.shape[1]}), got {baseline!r}")
    if not np.all(np.isfinite(m)) or np.any(m[:, baseline] <= 0):
        raise ValueError("metric must be finite with a positive baseline column")
    rel = m / m[:, [baseline]]
    n = m.shape[0]
    # Mean relative metric of the other seeds: (column sum - own row) / (n - 1), all at once.
    others = (rel.sum(0, keepdims=True) - rel) / (n - 1)
    chosen = np.argmin(others, axis=1)
    gains = 1.0 - rel[np.arange(n), chosen]
    return CVGain(t_interval(gains, note="setting chosen on the other seeds"), gains, chosen)


# --------------------------------------------------------------------------------------------
# Numerical error
# --------------------------------------------------------------------------------------------


def refinement(*values: float, note: str = "") -> Interval:
    """A deterministic number computed at increasing resolutions, with its numerical error.

    ``values`` are the same quantity at resolutions ``h, h/2, h/4, ...`` (coarse to fine). The
    value is the finest one; the error is the largest change between the finest and any coarser
    one, a conservative estimate of the finest value's error when the method converges.
    """
    v = _vector(list(values), "values", 2)
    best = float(v[-1])
    err = float(np.max(np.abs(v[:-1] - best)))
    return _symmetric(best, err, "refinement", v.size, note)


# --------------------------------------------------------------------------------------------
# Fits
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineFit:
    """Least-squares line ``y = intercept + slope * x`` with 95% t-intervals (``n - 2`` df).

    Parameters
    ----------
    slope, ci95:
        The slope and the half-width of its 95% interval.
    intercept, intercept_ci95:
        The intercept and the half-width of its 95% interval.
    r2:
        Coefficient of determination.
    n:
        Number of points fitted.
    x_range:
        Smallest and largest ``x`` (on the caller's scale, before any logarithm).
    """

    slope: float
    ci95: float
    intercept: float
    intercept_ci95: float
    r2: float
    n: int
    x_range: tuple[float, float]

    @property
    def slope_interval(self) -> Interval:
        """The slope as an :class:`Interval` of kind ``"fit"``."""
        lo, hi = self.x_range
        return _symmetric(self.slope, self.ci95, "fit", self.n, f"x from {lo:.3g} to {hi:.3g}")

    @property
    def intercept_interval(self) -> Interval:
        """The intercept as an :class:`Interval` of kind ``"fit"``."""
        return _symmetric(self.intercept, self.intercept_ci95, "fit", self.n, "intercept")


def fit_line(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    x_range: tuple[float, float] | None = None,
) -> LineFit:
    """Least-squares line through ``n >= 3`` points with t-intervals of slope and intercept."""
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xa.shape != ya.shape or xa.ndim != 1 or xa.size < 3:
        raise ValueError(f"x and y must be 1-D of equal length >= 3, got {xa.shape} and {ya.shape}")
    if not (np.all(np.isfinite(xa)) and np.all(np.isfinite(ya))):
        raise ValueError("x and y must be finite")
    if np.ptp(xa) == 0:
        raise ValueError("x must take at least two distinct values")
    res = scipy.stats.linregress(xa, ya)
    t = _t_quantile(xa.size - 2)
    return LineFit(
        slope=float(res.slope),
        ci95=float(t * res.stderr),
        intercept=float(res.intercept),
        intercept_ci95=float(t * res.intercept_stderr),
        r2=float(res.rvalue**2),
        n=int(xa.size),
        x_range=x_range if x_range is not None else (float(xa.min()), float(xa.max())),
    )


def _positive(v: np.ndarray, name: str, kind: str) -> None:
    if not (np.all(np.isfinite(v)) and np.all(v > 0)):
        raise ValueError(f"{name} must be finite and > 0 for a {kind} fit")


def fit_loglog(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> LineFit:
    """Slope of ``log y`` against ``log x`` (a power-law rate) with its 95% fit interval."""
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xa.shape != ya.shape:
        raise ValueError(f"x and y must have equal shapes, got {xa.shape} and {ya.shape}")
    _positive(xa, "x", "log-log")
    _positive(ya, "y", "log-log")
    return fit_line(np.log(xa), np.log(ya), x_range=(float(xa.min()), float(xa.max())))


def fit_semilog(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> LineFit:
    """Slope of ``ln y`` against ``x`` (an exponential rate) with its 95% fit interval."""
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xa.shape != ya.shape:
        raise ValueError(f"x and y must have equal shapes, got {xa.shape} and {ya.shape}")
    _positive(ya, "y", "semi-log")
    return fit_line(xa, np.log(ya))


@dataclass(frozen=True)
class DecayFit:
    r"""Fits of a loss curve on a window: geometric :math:`L_k-L^*\approx Ae^{-rk}` and power
    law :math:`L_k-L^*\approx Bk^{-a}`.

    Parameters
    ----------
    geometric:
        Fit of :math:`\log(L_k - L^*)` against :math:`k`; the rate is ``-geometric.slope``.
    power:
        Fit of :math:`\log(L_k - L^*)` against :math:`\log k`; the exponent is
        ``-power.slope``.
    window:
        ``(k0, k1)``, 1-based steps of the fit window.
    """

    geometric: LineFit
    power: LineFit
    window: tuple[int, int]

    @property
    def rate(self) -> float:
        """Geometric rate :math:`r` per step."""
        return -self.geometric.slope

    @property
    def rate_ci(self) -> float:
        """Half-width of the 95% fit interval of :attr:`rate`."""
        return self.geometric.ci95

    @property
    def power_exponent(self) -> float:
        """Power-law exponent :math:`a`."""
        return -self.power.slope

    @property
    def r2_geometric(self) -> float:
        r""":math:`R^2` of :math:`\log(L_k - L^*)` against :math:`k`."""
        return self.geometric.r2

    @property
    def r2_power(self) -> float:
        r""":math:`R^2` of :math:`\log(L_k - L^*)` against :math:`\log k`."""
        return self.power.r2

    @property
    def rate_interval(self) -> Interval:
        """The geometric rate with its 95% fit interval."""
        s = self.geometric.slope_interval
        return Interval(-s.value, -s.high, -s.low, "fit", s.n, s.note)


def fit_decay(
    losses: np.ndarray | Sequence[float],
    floor: float = 0.0,
    window: tuple[float, float] = (0.1, 1.0),
) -> DecayFit:
    """Fit a loss curve's excess over ``floor`` as geometric and as power-law decay.

    ``window`` gives the fractions of the run delimiting the fit (default: after the first
    10%); every loss in it must exceed ``floor``.
    """
    L = np.asarray(losses, dtype=float)
    if L.ndim != 1 or L.size < 10:
        raise ValueError(f"losses must be 1-D with at least 10 entries, got shape {L.shape}")
    a, b = window
    if not 0 <= a < b <= 1:
        raise ValueError(f"window must satisfy 0 <= start < end <= 1, got {window!r}")
    k0, k1 = int(a * L.size), max(int(b * L.size), int(a * L.size) + 5)
    k = np.arange(k0, k1) + 1.0
    gap = L[k0:k1] - floor
    if not np.all(gap > 0):
        raise ValueError("losses must exceed floor on the fit window")
    y = np.log(gap)
    return DecayFit(geometric=fit_line(k, y), power=fit_loglog(k, gap), window=(k0 + 1, k1))


# --------------------------------------------------------------------------------------------
# Resampling, goodness of fit, association
# --------------------------------------------------------------------------------------------


def bootstrap_ci(
    data: Sequence[Any],
    statistic: Callable[..., float],
    n_resamples: int = 999,
    method: str = "BCa",
    paired: bool = False,
    seed: int = 0,
) -> Interval:
    """``statistic(*data)`` with its 95% bootstrap interval from ``scipy.stats.bootstrap``.

    ``data`` is a sequence of samples (arrays whose first axis indexes observations);
    ``statistic`` takes one resample of each. ``method`` is ``"BCa"`` (bias-corrected and
    accelerated, the default), ``"percentile"`` or ``"basic"``; BCa needs a jackknife, so for
    an expensive statistic on large samples use ``"percentile"``. ``paired=True`` resamples
    the samples jointly (paired observations).
    """
    if not isinstance(n_resamples, int) or n_resamples < MIN_RESAMPLES:
        raise ValueError(f"n_resamples must be an int >= {MIN_RESAMPLES}, got {n_resamples!r}")
    if method not in ("BCa", "percentile", "basic"):
        raise ValueError(f"method must be 'BCa', 'percentile' or 'basic', got {method!r}")
    arrays = tuple(np.asarray(d) for d in data)
    if not arrays:
        raise ValueError("data must hold at least one sample")

    def stat(*xs: np.ndarray) -> float:
        return float(statistic(*xs))

    value = stat(*arrays)
    res = scipy.stats.bootstrap(
        arrays,
        stat,
        n_resamples=n_resamples,
        method=method,
        paired=paired,
        vectorized=False,
        confidence_level=LEVEL,
        rng=np.random.default_rng(seed),
    )
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    # A skewed BCa interval can exclude the plug-in value; widen it to contain the value.
    return Interval(value, min(lo, value), max(hi, value), "bootstrap", n_resamples, method)


class KSResult(NamedTuple):
    """One-sample Kolmogorov-Smirnov test: statistic, p-value and sample size."""

    statistic: float
    pvalue: float
    n: int


def ks_test(samples: Any, cdf: Callable[[np.ndarray], np.ndarray]) -> KSResult:
    """One-sample KS test of 1-D ``samples`` against ``cdf`` with scipy's exact null law.

    ``cdf`` maps a float64 numpy array to the model CDF at those points (a torch function can
    be wrapped: ``lambda u: f(torch.from_numpy(u)).numpy()``).
    """
    x = np.asarray(samples.detach().cpu() if hasattr(samples, "detach") else samples, dtype=float)
    x = x.reshape(-1)
    if x.size < 2 or not np.all(np.isfinite(x)):
        raise ValueError(f"samples must hold at least 2 finite values, got {x.size}")
    res = scipy.stats.kstest(
        x, lambda u: np.asarray(cdf(np.asarray(u, dtype=float))), method="exact"
    )
    return KSResult(float(res.statistic), float(res.pvalue), int(x.size))


def spearman(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float:
    """Spearman rank correlation of two 1-D sequences of equal length (>= 3)."""
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xa.ndim != 1 or xa.shape != ya.shape or xa.size < 3:
        raise ValueError(f"x and y must be 1-D of equal length >= 3, got {xa.shape} and {ya.shape}")
    return float(scipy.stats.spearmanr(xa, ya).statistic)


# --------------------------------------------------------------------------------------------
# Transformations
# --------------------------------------------------------------------------------------------


def scaled(interval: Interval, factor: float, note: str | None = None) -> Interval:
    """The interval of ``factor * X`` for an interval of ``X``: same kind and ``n``.

    For quantities that are a fixed multiple of an estimate, e.g. a weak order
    ``p = -slope/2`` from a log-log slope of KL against the number of steps. A negative
    ``factor`` swaps the ends. ``note`` replaces the interval's note (default: kept).
    """
    if not isinstance(interval, Interval):
        raise TypeError(f"interval must be an Interval, got {type(interval).__name__}")
    f = float(factor)
    if not math.isfinite(f) or f == 0.0:
        raise ValueError(f"factor must be finite and non-zero, got {factor!r}")
    lo, hi = sorted((f * interval.low, f * interval.high))
    kept = interval.note if note is None else note
    return Interval(f * interval.value, lo, hi, interval.kind, interval.n, kept)


def local_slopes(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> np.ndarray:
    """Log-log slopes between consecutive points, ``Δlog y / Δlog x`` (``n - 1`` values)."""
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xa.shape != ya.shape or xa.ndim != 1 or xa.size < 2:
        raise ValueError(f"x and y must be 1-D of equal length >= 2, got {xa.shape} and {ya.shape}")
    _positive(xa, "x", "log-log")
    _positive(ya, "y", "log-log")
    if np.any(np.diff(xa) <= 0):
        raise ValueError("x must be strictly increasing")
    return np.diff(np.log(ya)) / np.diff(np.log(xa))


def asymptotic_slope(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> Interval:
    """The rate of a *deterministic* sequence ``y(x)`` as ``x`` grows: its last local slope.

    A least-squares fit over a deterministic sequence has no sampling error: its "interval"
    measures curvature (how far the sequence is from its asymptotic regime), not noise. This
    reports the log-log slope between the two largest ``x`` and, as its error, the change from
    the previous local slope (kind ``"refinement"``: how much the rate still moves when ``x``
    grows). Needs at least 3 points, strictly increasing ``x``.
    """
    s = local_slopes(x, y)
    if s.size < 2:
        raise ValueError("asymptotic_slope needs at least 3 points")
    last, err = float(s[-1]), float(abs(s[-1] - s[-2]))
    xa = np.asarray(x, dtype=float)
    note = f"local slope at x = {xa[-2]:.3g}..{xa[-1]:.3g}; error: change from the previous pair"
    return _symmetric(last, err, "refinement", 2, note)


@dataclass(frozen=True)
class SettledSlope:
    """The last local log-log slope of a deterministic sequence computed on two grids.

    ``interval`` is the slope on the finer grid, with half-width ``drift + grid_error``;
    ``drift`` is the change from the previous pair of ``x`` (finer grid), ``grid_error`` the
    change of the last slope between the two grids.
    """

    interval: Interval
    drift: float
    grid_error: float

    def settled(self, drift_tol: float, grid_tol: float) -> bool:
        """Whether the slope has stopped moving: drift and grid error both within tolerances
        fixed before the run."""
        return self.drift <= drift_tol and self.grid_error <= grid_tol


def settled_slope(
    x: Sequence[float] | np.ndarray,
    y_coarse: Sequence[float] | np.ndarray,
    y_fine: Sequence[float] | np.ndarray,
    extra_error: float = 0.0,
) -> SettledSlope:
    """The rate of a deterministic sequence ``y(x)`` computed on a coarse and a fine grid.

    Like :func:`asymptotic_slope` on ``y_fine``, with the numerical error of the grid added: the
    change of the last local slope from ``y_coarse`` to ``y_fine``, plus ``extra_error`` (a bound
    on the slope error of a numerical step not refined here, e.g. a quadrature error estimate).
    Needs at least 3 points.
    """
    if not math.isfinite(extra_error) or extra_error < 0:
        raise ValueError(f"extra_error must be finite and >= 0, got {extra_error!r}")
    s_fine, s_coarse = local_slopes(x, y_fine), local_slopes(x, y_coarse)
    if s_fine.size < 2:
        raise ValueError("settled_slope needs at least 3 points")
    last = float(s_fine[-1])
    drift = float(abs(s_fine[-1] - s_fine[-2]))
    grid_error = float(abs(s_fine[-1] - s_coarse[-1])) + float(extra_error)
    xa = np.asarray(x, dtype=float)
    note = (
        f"local slope at x = {xa[-2]:.3g}..{xa[-1]:.3g} on the finer grid; error: change from the "
        f"previous pair ({drift:.3g}) plus change from the coarser grid ({grid_error:.3g})"
    )
    return SettledSlope(
        _symmetric(last, drift + grid_error, "refinement", 2, note), drift, grid_error
    )


def undecidable(kind: str, n: int, note: str) -> Interval:
    """An interval that cannot decide anything: value 0, ends at minus and plus infinity.

    For a design whose interval is degenerate by construction, not by data: e.g. two rivals
    that chose the same grid point on every seed, so that their paired difference is
    identically 0 and a zero-width interval would claim a certainty the grid does not have.
    The ledger's verdict on it is always ``"inconclusive"``; ``note`` must say why.
    """
    if not note:
        raise ValueError("note must say why the design cannot decide")
    return Interval(0.0, -math.inf, math.inf, kind, n, note)


def p_value(p: float, test: str, n: int) -> Interval:
    """A test's p-value as a measurement: no interval, and a note saying what it is.

    A p-value is a random quantity with no confidence interval of its own; its verdict against a
    level fixed before the run has the level as its false-alarm rate. ``test`` names the test
    (e.g. ``"KS, Bonferroni over 8"``), ``n`` the sample size.
    """
    v = float(p)
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p!r}")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    return Interval(v, v, v, "none", None, f"{test} p-value on {n} samples (no interval)")
