"""Tests of companion.stats against textbook values, scipy and closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

from companion import stats

# Student's sleep data (Cushny and Peebles): extra hours of sleep under two drugs, same 10
# patients. The textbook paired t-test of drug 2 - drug 1 gives t = 4.062 on 9 df, mean 1.58,
# 95% interval [0.700, 2.460].
DRUG1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
DRUG2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]


def test_t_interval_uses_student_quantile_with_n_minus_1_df():
    iv = stats.t_interval([1.0, 2.0, 3.0, 4.0, 5.0])
    half = scipy.stats.t.ppf(0.975, 4) * math.sqrt(2.5) / math.sqrt(5)
    assert iv.value == 3.0 and iv.high - iv.value == pytest.approx(half, rel=1e-12)
    assert (iv.kind, iv.n) == ("t", 5)
    assert iv.text == "95% t-interval over 5 seeds"
    # two seeds: the 95% interval is 12.7 standard errors wide on each side
    two = stats.t_interval([0.0, 2.0])
    assert two.half_width == pytest.approx(12.706204736 * 1.0, rel=1e-8)
    with pytest.raises(ValueError, match="at least 2"):
        stats.t_interval([1.0])
    with pytest.raises(ValueError, match="finite"):
        stats.t_interval([1.0, math.nan])


def test_paired_t_matches_textbook_sleep_data():
    iv = stats.paired_t(DRUG2, DRUG1)
    assert iv.value == pytest.approx(1.58, abs=1e-12)
    assert iv.low == pytest.approx(0.7001142, abs=1e-6)
    assert iv.high == pytest.approx(2.4598858, abs=1e-6)
    assert (iv.kind, iv.n) == ("paired-t", 10)
    ref = scipy.stats.ttest_rel(DRUG2, DRUG1)
    assert ref.statistic == pytest.approx(4.062128, abs=1e-6)
    ci = ref.confidence_interval(0.95)
    assert (iv.low, iv.high) == (pytest.approx(ci.low), pytest.approx(ci.high))
    # the unpaired interval of the same data straddles 0: pairing is what decides
    unpaired = stats.t_interval(np.array(DRUG2) - np.mean(DRUG1))
    assert unpaired.low < iv.low
    with pytest.raises(ValueError, match="paired"):
        stats.paired_t([1.0, 2.0, 3.0], [1.0, 2.0])


def test_compare_rivals_is_bonferroni_adjusted_and_paired():
    rng = np.random.default_rng(0)
    seed_effect = rng.normal(0, 5.0, size=8)  # shared by all methods: pairing removes it
    cand = seed_effect + 1.0 + rng.normal(0, 0.1, size=8)
    rivals = {
        "B": seed_effect + 2.0 + rng.normal(0, 0.1, size=8),
        "C": seed_effect + 1.5 + rng.normal(0, 0.1, size=8),
    }
    res = stats.compare_rivals(cand, rivals)
    assert res.decisive == "C" and res.interval.low > 0
    d = rivals["C"] - cand
    q = scipy.stats.t.ppf(1 - 0.05 / 4, 7)  # two rivals: each at level 1 - 0.05/2
    assert res.interval.half_width == pytest.approx(q * d.std(ddof=1) / math.sqrt(8))
    assert res.interval.kind == "simultaneous-t" and "Bonferroni over 2" in res.interval.note
    # a rival as good as the candidate makes the claim undecided; a better one refutes it
    tie = stats.compare_rivals(cand, {**rivals, "D": cand + rng.normal(0, 0.1, size=8)})
    assert tie.decisive == "D" and tie.interval.low < 0 < tie.interval.high
    better = stats.compare_rivals(cand, {**rivals, "E": cand - 1.0})
    assert better.decisive == "E" and better.interval.high < 0
    # higher is better flips the sign of the advantage
    assert stats.compare_rivals(cand, rivals, lower_is_better=False).interval.high < 0
    with pytest.raises(ValueError, match="paired"):
        stats.compare_rivals(cand, {"B": cand[:5]})
    with pytest.raises(ValueError, match="at least one"):
        stats.compare_rivals(cand, {})


def test_mean_t_halfwidth_vectorised():
    v = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])
    m, h = stats.mean_t_halfwidth(v)
    assert np.allclose(m, [2.0, 20.0])
    assert h[0] == pytest.approx(stats.t_interval(v[:, 0]).half_width)
    assert h[1] == pytest.approx(10 * h[0])
    with pytest.raises(ValueError, match="at least 2"):
        stats.mean_t_halfwidth(np.ones((1, 3)))


def test_cross_validated_gain():
    m = np.array([[1.0, 0.9, 1.2], [2.0, 1.8, 2.5], [0.5, 0.45, 0.7]])
    c = stats.cross_validated_gain(m, 0)
    assert abs(c.interval.value - 0.1) < 1e-12 and c.interval.half_width < 1e-12
    assert list(c.chosen) == [1, 1, 1]
    # choosing on other seeds can lose: seed-specific winners give a negative held-out gain
    m2 = np.array([[1.0, 0.5, 1.5], [1.0, 1.5, 0.5], [1.0, 1.6, 0.4]])
    c2 = stats.cross_validated_gain(m2, 0)
    # leave-one-out choices by hand: seed 0 sees column means (1, 1.55, 0.45) -> 2; seed 1 sees
    # (1, 1.05, 0.95) -> 2; seed 2 sees a tie (1, 1, 1) -> the first, the baseline
    assert list(c2.chosen) == [2, 2, 0]
    assert c2.per_seed == pytest.approx([-0.5, 0.5, 0.0])
    with pytest.raises(ValueError, match="baseline"):
        stats.cross_validated_gain(m, 3)
    with pytest.raises(ValueError, match="shape"):
        stats.cross_validated_gain(m[:1], 0)


def test_refinement_takes_finest_value_and_largest_change():
    iv = stats.refinement(1.1, 1.01, 1.001)
    assert iv.value == 1.001 and iv.half_width == pytest.approx(0.099)
    assert (iv.kind, iv.n) == ("refinement", 3)
    with pytest.raises(ValueError, match="at least 2"):
        stats.refinement(1.0)


def test_fit_loglog_recovers_power_law_and_counts_points():
    x = np.array([10, 20, 40, 80, 160.0])
    fit = stats.fit_loglog(x, 3.0 * x**-1.5 * (1 + 0.001 * np.sin(x)))
    assert abs(fit.slope + 1.5) < 0.01 and fit.ci95 < 0.01 and fit.x_range == (10.0, 160.0)
    assert fit.intercept == pytest.approx(math.log(3.0), abs=0.01)
    iv = fit.slope_interval
    assert (iv.kind, iv.n) == ("fit", 5) and iv.text.startswith("95% fit interval over 5 points")
    with pytest.raises(ValueError, match="> 0"):
        stats.fit_loglog([1, 2, 3], [1, 0, 2])


def test_fit_line_interval_matches_textbook_formula():
    rng = np.random.default_rng(1)
    x = np.linspace(0, 1, 7)
    y = 2.0 - 3.0 * x + rng.normal(0, 0.1, size=7)
    fit = stats.fit_line(x, y)
    beta, alpha = np.polyfit(x, y, 1)
    resid = y - (alpha + beta * x)
    se = math.sqrt((resid**2).sum() / 5 / ((x - x.mean()) ** 2).sum())
    assert fit.slope == pytest.approx(beta)
    assert fit.ci95 == pytest.approx(scipy.stats.t.ppf(0.975, 5) * se)
    with pytest.raises(ValueError, match="distinct"):
        stats.fit_line([1.0, 1.0, 1.0], [1.0, 2.0, 3.0])


def test_fit_semilog_recovers_slope():
    x = np.linspace(1, 5, 9)
    f = stats.fit_semilog(x, 3.0 * np.exp(-1.7 * x))
    assert f.slope == pytest.approx(-1.7, abs=1e-12)
    assert f.ci95 < 1e-10
    with pytest.raises(ValueError):
        stats.fit_semilog(x, -x)


def test_fit_decay_distinguishes_geometric_and_power_law():
    k = np.arange(1, 2001)
    f = stats.fit_decay(3 * np.exp(-0.004 * k) + 0.0)
    assert f.rate == pytest.approx(0.004, rel=1e-6)
    assert f.r2_geometric > f.r2_power
    assert f.rate_interval.low <= 0.004 <= f.rate_interval.high
    p = stats.fit_decay(5.0 / k, window=(0.01, 1.0))
    assert p.power_exponent == pytest.approx(1.0, rel=1e-6)
    assert p.r2_power > p.r2_geometric
    with pytest.raises(ValueError, match="window"):
        stats.fit_decay(np.ones(20), window=(0.5, 0.2))
    with pytest.raises(ValueError, match="floor"):
        stats.fit_decay(np.ones(20), floor=2.0)


def test_bootstrap_ci_bca_close_to_t_interval_for_a_mean():
    x = np.random.default_rng(2).normal(1.0, 2.0, size=400)
    boot = stats.bootstrap_ci((x,), np.mean, n_resamples=2000)
    t = stats.t_interval(x)
    assert (boot.kind, boot.n, boot.note) == ("bootstrap", 2000, "BCa")
    assert boot.low == pytest.approx(t.low, abs=0.05) and boot.high == pytest.approx(
        t.high, abs=0.05
    )
    with pytest.raises(ValueError, match="n_resamples"):
        stats.bootstrap_ci((x,), np.mean, n_resamples=50)
    with pytest.raises(ValueError, match="method"):
        stats.bootstrap_ci((x,), np.mean, method="normal")


def test_ks_test_uses_exact_null_distribution():
    x = np.random.default_rng(3).normal(size=300)
    res = stats.ks_test(x, scipy.stats.norm.cdf)
    xs = np.sort(x)
    i = np.arange(1, 301)
    d = max(
        (i / 300 - scipy.stats.norm.cdf(xs)).max(), (scipy.stats.norm.cdf(xs) - (i - 1) / 300).max()
    )
    assert res.statistic == pytest.approx(d, abs=1e-14)
    assert res.pvalue == pytest.approx(scipy.stats.kstwo.sf(d, 300), rel=1e-8)
    assert res.pvalue > 0.01
    assert stats.ks_test(x + 0.5, scipy.stats.norm.cdf).pvalue < 1e-6


def test_spearman():
    assert stats.spearman([1, 2, 3, 4], [1, 4, 9, 16]) == 1.0
    assert stats.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    with pytest.raises(ValueError, match="equal length"):
        stats.spearman([1, 2, 3], [1, 2])


def test_interval_validation():
    with pytest.raises(ValueError, match="kind"):
        stats.Interval(1.0, 0.0, 2.0, "sd", 5)
    with pytest.raises(ValueError, match="n must"):
        stats.Interval(1.0, 0.0, 2.0, "t", None)
    with pytest.raises(ValueError, match="low <= value"):
        stats.Interval(1.0, 1.5, 2.0, "t", 5)
    assert stats.Interval(1.0, 1.0, 1.0, "none").text == "exact"


def test_scaled_interval_keeps_kind_and_swaps_ends():
    fit = stats.fit_loglog([8, 16, 32, 64, 128], [1.0, 0.26, 0.0624, 0.0158, 0.0039])
    s = fit.slope_interval
    order = stats.scaled(s, -0.5)
    assert order.value == pytest.approx(-0.5 * s.value)
    assert (order.low, order.high) == pytest.approx((-0.5 * s.high, -0.5 * s.low))
    assert (order.kind, order.n, order.note) == (s.kind, s.n, s.note)
    assert stats.scaled(s, 2.0, note="x").note == "x"
    with pytest.raises(ValueError, match="factor"):
        stats.scaled(s, 0.0)
    with pytest.raises(TypeError, match="Interval"):
        stats.scaled(1.0, 2.0)  # type: ignore[arg-type]


def test_asymptotic_slope_of_a_deterministic_sequence():
    n = np.array([8.0, 16, 32, 64, 128])
    y = 3.0 / n + 5.0 / n**2  # rate -1, with a pre-asymptotic correction
    s = stats.local_slopes(n, y)
    assert np.all(np.diff(s) > 0) and s[-1] == pytest.approx(-1.0, abs=0.02)  # approaches -1
    iv = stats.asymptotic_slope(n, y)
    assert (iv.kind, iv.n) == ("refinement", 2)
    assert iv.value == pytest.approx(s[-1]) and iv.half_width == pytest.approx(abs(s[-1] - s[-2]))
    assert iv.low <= -1.0 <= iv.high or abs(iv.value + 1.0) < 0.02
    with pytest.raises(ValueError, match="at least 3"):
        stats.asymptotic_slope(n[:2], y[:2])
    with pytest.raises(ValueError, match="increasing"):
        stats.local_slopes(n[::-1], y)


def test_undecidable_is_always_inconclusive():
    from companion.ledger import at_least, at_most, verdict

    iv = stats.undecidable("simultaneous-t", 3, "rivals chose the same grid point")
    assert iv.value == 0.0 and iv.low == -math.inf and iv.high == math.inf
    assert verdict(iv, at_least(0.01)) == "inconclusive"
    assert verdict(iv, at_most(0.01)) == "inconclusive"
    with pytest.raises(ValueError, match="note"):
        stats.undecidable("t", 3, "")
    with pytest.raises(ValueError, match="kind"):
        stats.undecidable("magic", 3, "why")


def test_p_value_is_a_measurement_without_interval():
    iv = stats.p_value(0.32, "chi-square, Bonferroni over 4", 4000)
    assert (iv.kind, iv.half_width) == ("none", 0.0)
    assert iv.text == "chi-square, Bonferroni over 4 p-value on 4000 samples (no interval)"
    assert stats.Interval(1.0, 1.0, 1.0, "none").text == "exact"
    with pytest.raises(ValueError, match="p must"):
        stats.p_value(1.5, "KS", 10)


def test_settled_slope_adds_grid_error_to_drift():
    n = np.array([64.0, 128.0, 256.0])
    fine = n**-2.0 * (1 + 1 / n)  # slope approaching -2
    coarse = fine + 1e-6  # a grid floor that flattens the coarse slope
    res = stats.settled_slope(n, coarse, fine)
    s = stats.local_slopes(n, fine)
    assert res.interval.value == pytest.approx(s[-1])
    assert res.drift == pytest.approx(abs(s[-1] - s[-2]))
    assert res.grid_error == pytest.approx(abs(s[-1] - stats.local_slopes(n, coarse)[-1]))
    assert res.interval.half_width == pytest.approx(res.drift + res.grid_error)
    assert res.interval.kind == "refinement"
    assert res.grid_error > 0.01 and not res.settled(0.05, 0.01)
    assert stats.settled_slope(n, fine, fine).settled(0.05, 0.01)
    assert stats.settled_slope(n, fine, fine, extra_error=0.3).grid_error == pytest.approx(0.3)
    with pytest.raises(ValueError):
        stats.settled_slope(n, fine, fine, extra_error=-1.0)
    with pytest.raises(ValueError):
        stats.settled_slope(n[:2], fine[:2], fine[:2])
