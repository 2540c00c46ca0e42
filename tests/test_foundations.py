"""Tests of the foundations chapter's helpers (companion.foundations)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from companion.foundations import cell_masses, extrapolated_slope, richardson, tail_term
from companion.grid import GridDensity


def test_extrapolated_slope_removes_a_1_over_n_correction() -> None:
    n = np.array([16.0, 32.0, 64.0, 128.0, 256.0, 512.0])
    y = n**-2.0 * (1 + 3.0 / n)  # local slopes -2 - O(1/N): the last one alone is off
    last_local = float(np.diff(np.log(y))[-1] / np.diff(np.log(n))[-1])
    fit = extrapolated_slope(n, y)
    assert abs(last_local + 2) > 5e-3
    assert abs(fit.interval.value + 2) < 1e-3  # the extrapolant removes the 1/N term
    assert fit.interval.low <= -2 <= fit.interval.high  # and its error covers the rest
    assert fit.interval.n == 5 and fit.interval.kind == "refinement"
    assert fit.grid_error == 0.0


def test_extrapolated_slope_error_covers_a_1_over_n2_correction() -> None:
    n = np.array([8.0, 16.0, 32.0, 64.0, 128.0])
    y = n**-1.0 * (1 + 5.0 / n + 40.0 / n**2)
    fit = extrapolated_slope(n, y)
    assert fit.interval.low <= -1 <= fit.interval.high
    assert fit.change > 0


def test_extrapolated_slope_grid_error_and_bad_input() -> None:
    n = np.array([8.0, 16.0, 32.0, 64.0, 128.0])
    y = n**-2.0
    fit = extrapolated_slope(n, y, y_coarse=y * (1 + 1e-3 * n / 128))
    assert fit.grid_error > 0 and abs(fit.interval.value + 2) < 1e-12
    bounded = extrapolated_slope(n, y, rel_err=np.full(5, 1e-4))
    assert bounded.grid_error > 0
    with pytest.raises(ValueError, match="n_points"):
        extrapolated_slope(n, y, n_points=3)
    with pytest.raises(ValueError, match="length"):
        extrapolated_slope(n[:4], y[:4])
    with pytest.raises(ValueError, match="y_coarse"):
        extrapolated_slope(n, y, y_coarse=y[:4])


def test_richardson_estimates_the_error_of_a_second_order_method() -> None:
    limit, c = 1.5, 0.8
    values = [limit + c * h**2 for h in (0.1, 0.05, 0.025)]
    r = richardson(values)
    assert r.extrapolated == pytest.approx(limit, abs=1e-14)
    assert r.value + r.error == pytest.approx(limit, abs=1e-14)
    assert abs(r.error) == pytest.approx(c * 0.025**2, rel=1e-10)
    assert r.observed_order == pytest.approx(2.0, abs=1e-10)
    first = richardson([limit + c * h for h in (0.1, 0.05, 0.025)])
    assert first.observed_order == pytest.approx(1.0, abs=1e-10)
    assert abs(first.value + first.error - limit) > 1e-3  # assuming order 2 misjudges order 1
    assert math.isnan(richardson([1.0, 1.0, 1.0]).observed_order)
    with pytest.raises(ValueError, match="3 finite"):
        richardson([1.0, 2.0])
    with pytest.raises(ValueError, match="order"):
        richardson([1.0, 2.0, 3.0], order=0.0)


def _log_normal(std: float):  # noqa: ANN202
    return lambda z: -0.5 * (z / std) ** 2 - math.log(std * math.sqrt(2 * math.pi))


def test_tail_term_sees_a_narrow_grid_under_a_wide_target() -> None:
    x = torch.linspace(-3.0, 3.0, 6001, dtype=torch.float64)
    narrow = GridDensity.gaussian(0.0, 0.3, 2001, width=6.0)  # support +-1.8: p = N(0, 0.5^2)
    wide = GridDensity.gaussian(0.0, 0.5, 2001, width=8.0)
    t_narrow = tail_term(_log_normal(0.5), narrow, x)
    assert t_narrow > 1e-3  # p has mass 3e-4 beyond +-1.8, where q is floored at tiny
    assert tail_term(_log_normal(0.5), wide, x) < 1e-12  # q resolved wherever p lives
    with pytest.raises(ValueError, match="rel_floor"):
        tail_term(_log_normal(0.5), wide, x, rel_floor=0.0)
    with pytest.raises(ValueError, match="1-D"):
        tail_term(_log_normal(0.5), wide, x[:6000].reshape(2, -1))


def test_cell_masses_of_a_mixture() -> None:
    x = torch.linspace(-12.0, 12.0, 24001, dtype=torch.float64)
    w = [0.2, 0.5, 0.3]
    mu = [-4.0, 0.0, 4.0]
    p = sum(
        wk * torch.exp(-0.5 * (x - m) ** 2) / math.sqrt(2 * math.pi)
        for wk, m in zip(w, mu, strict=True)
    )
    masses = cell_masses(GridDensity(x, p), [-2.0, 2.0])
    from scipy.stats import norm

    exact = [
        sum(wk * (norm.cdf(b - m) - norm.cdf(a - m)) for wk, m in zip(w, mu, strict=True))
        for a, b in [(-np.inf, -2.0), (-2.0, 2.0), (2.0, np.inf)]
    ]
    np.testing.assert_allclose(masses, exact, atol=1e-7)
    assert masses.sum() == pytest.approx(1.0, abs=1e-14)
    with pytest.raises(ValueError, match="increasing"):
        cell_masses(GridDensity(x, p), [2.0, -2.0])
