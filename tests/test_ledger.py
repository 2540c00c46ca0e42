"""Tests of the claims ledger: verdict logic, validation and the JSON it writes."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from companion.ledger import (
    CLAIM_KINDS,
    PAPERS,
    VERDICTS,
    Ledger,
    at_least,
    at_most,
    close_to,
    default_results_dir,
    format_measured,
    in_range,
    verdict,
)
from companion.stats import Interval, bootstrap_ci, fit_loglog, paired_t, refinement, t_interval


@pytest.fixture
def ledger(tmp_path, monkeypatch):
    monkeypatch.delenv("COMPANION_NOTEBOOK", raising=False)
    return Ledger("99_test", title="Test", profile="ci", seed=3, device="cpu", results_dir=tmp_path)


def _rec(ledger, cid="A", **kw):
    args = dict(
        kind="check", paper="foundations", claim="a claim", measured=1.0, expect=at_most(2.0)
    )
    args.update(kw)
    return ledger.record(cid, **args)


# --- verdict logic -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("measured", "unc", "crit", "want"),
    [
        (3e-15, None, at_most(1e-10), "supported"),
        (1e-9, None, at_most(1e-10), "not reproduced"),
        (1e-10, None, at_most(1e-10), "supported"),  # boundary is inside
        (0.9, 0.05, at_most(1.0), "supported"),
        (0.9, 0.2, at_most(1.0), "inconclusive"),
        (1.1, 0.05, at_most(1.0), "not reproduced"),
        (1.1, 0.05, at_least(1.0), "supported"),
        (1.1, 0.2, at_least(1.0), "inconclusive"),
        (0.8, 0.1, at_least(1.0), "not reproduced"),
        (1.95, 0.03, close_to(2.0, 0.1), "supported"),
        (1.95, 0.2, close_to(2.0, 0.1), "inconclusive"),
        (2.5, 0.1, close_to(2.0, 0.1), "not reproduced"),
        (1.5, 0.1, close_to(2.0, 0.1), "not reproduced"),
        (0.5, 0.0, in_range(0.0, 1.0), "supported"),
        (0.95, 0.1, in_range(0.0, 1.0), "inconclusive"),
        (-0.05, 0.1, in_range(0.0, 1.0), "inconclusive"),
        (-0.5, 0.1, in_range(0.0, 1.0), "not reproduced"),
        # an interval wider than the accepted set straddles both ends
        (0.5, 10.0, in_range(0.0, 1.0), "inconclusive"),
        (math.nan, None, at_most(1.0), "not reproduced"),
        (math.inf, None, at_least(1.0), "not reproduced"),
        (-math.inf, 0.1, at_most(1.0), "not reproduced"),
        (0.5, math.inf, at_most(1.0), "inconclusive"),
        (0.5, math.nan, at_most(1.0), "inconclusive"),
    ],
)
def test_verdict(measured, unc, crit, want):
    m = measured if unc is None else Interval(measured, measured - unc, measured + unc, "t", 5)
    assert verdict(m, crit) == want


def test_verdict_uses_asymmetric_interval_ends():
    iv = Interval(1.1, 1.05, 1.5, "bootstrap", 999, "BCa")
    assert verdict(iv, at_least(1.0)) == "supported"
    assert verdict(iv, at_most(1.2)) == "inconclusive"


def test_expected_text():
    assert at_most(1e-10).text == "≤ 1e-10"
    assert at_least(0.5).text == "≥ 0.5"
    assert close_to(2.0, 0.15).text == "2 ± 0.15"
    assert in_range(0.8, 1.2).text == "in [0.8, 1.2]"


@pytest.mark.parametrize(
    ("make", "arg"),
    [
        (lambda: at_most(math.nan), "value"),
        (lambda: at_least("1"), "value"),
        (lambda: close_to(1.0, -0.1), "tol"),
        (lambda: close_to(math.inf, 0.1), "target"),
        (lambda: in_range(2.0, 1.0), "low"),
        (lambda: in_range(0.0, math.inf), "high"),
    ],
)
def test_bad_criterion_arguments(make, arg):
    with pytest.raises(ValueError, match=arg):
        make()


# --- record and validation -----------------------------------------------------------------


def test_record_returns_verdict_and_writes_json(ledger, tmp_path):
    rec = ledger.record(
        "F1",
        kind="check",
        paper="foundations",
        claim="closed-form score equals autograd",
        measured=3e-15,
        expect=at_most(1e-10),
        section="f-score",
    )
    assert rec["verdict"] == "supported"
    assert rec["expected"] == "≤ 1e-10"
    assert rec["criterion"] == {"kind": "at_most", "params": {"value": 1e-10}}
    data = json.loads((tmp_path / "99_test.json").read_text())
    assert data["notebook"] == "99_test"
    assert data["title"] == "Test"
    assert (data["profile"], data["seed"], data["device"]) == ("ci", 3, "cpu")
    for key in ("date", "runtime_s", "peak_memory_mb", "versions", "machine"):
        assert key in data
    assert data["peak_memory_mb"] > 1.0
    assert data["machine"]["cores"] >= 1 and data["machine"]["cpu"]
    assert set(data["versions"]) == {"python", "torch", "numpy", "scipy", "companion"}
    (claim,) = data["claims"]
    assert claim == rec
    assert set(claim) == {
        "id", "kind", "paper", "source", "claim", "section", "measured", "uncertainty",
        "interval", "uncertainty_kind", "n", "uncertainty_note", "uncertainty_text",
        "expected", "criterion", "verdict", "rtol", "atol",
    }  # fmt: skip
    assert (claim["kind"], claim["uncertainty_kind"], claim["n"]) == ("check", "none", None)
    assert data["coverage"] == []


def test_saved_after_every_record(ledger):
    _rec(ledger, "A")
    assert len(json.loads(ledger.path.read_text())["claims"]) == 1
    _rec(ledger, "B", measured=3.0)
    data = json.loads(ledger.path.read_text())
    assert [c["id"] for c in data["claims"]] == ["A", "B"]
    assert [c["verdict"] for c in data["claims"]] == ["supported", "not reproduced"]


def test_non_finite_measured_is_valid_json(ledger):
    rec = _rec(ledger, measured=Interval(math.nan, -math.inf, math.inf, "t", 5))
    assert rec["verdict"] == "not reproduced"
    text = ledger.path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    claim = json.loads(text)["claims"][0]
    assert claim["measured"] == "nan" and claim["interval"] == ["-inf", "inf"]


def test_accepts_numpy_and_torch_scalars(ledger):
    assert _rec(ledger, "A", measured=np.float32(0.5))["measured"] == 0.5
    assert _rec(ledger, "B", measured=torch.tensor(0.25, dtype=torch.float64))["measured"] == 0.25
    assert _rec(ledger, "C", measured=np.int64(1))["measured"] == 1.0


@pytest.mark.parametrize(
    ("kw", "arg"),
    [
        (dict(paper="arxiv:1234"), "paper"),
        (dict(expect=1e-10), "expect"),
        (dict(expect="<= 1e-10"), "expect"),
        (dict(measured="small"), "measured"),
        (dict(measured=None), "measured"),
        (dict(measured=np.ones(3)), "measured"),
        (dict(measured=True), "measured"),
        (dict(kind="claim"), "kind"),
        (dict(kind="paper"), "source"),
        (dict(kind="paper", source=" "), "source"),
        (dict(claim=""), "claim"),
        (dict(section="not a label"), "section"),
        (dict(rtol=-1.0), "rtol"),
        (dict(atol=math.nan), "atol"),
    ],
)
def test_record_rejects_bad_input(ledger, kw, arg):
    with pytest.raises(ValueError, match=arg):
        _rec(ledger, **kw)
    assert ledger.claims == []


def test_duplicate_id_rejected(ledger):
    _rec(ledger, "F1")
    with pytest.raises(ValueError, match="'F1'.*already"):
        _rec(ledger, "F1")


@pytest.mark.parametrize(
    ("kw", "arg"),
    [
        (dict(name="has space"), "name"),
        (dict(name="../escape"), "name"),
        (dict(profile="fast"), "profile"),
        (dict(seed=1.5), "seed"),
        (dict(device=""), "device"),
    ],
)
def test_ledger_rejects_bad_input(tmp_path, kw, arg):
    args = dict(name="nb", profile="ci", seed=0, device="cpu", results_dir=tmp_path)
    args.update(kw)
    name = args.pop("name")
    with pytest.raises(ValueError, match=arg):
        Ledger(name, **args)


def test_every_paper_id_accepted(ledger):
    for i, paper in enumerate(PAPERS):
        assert _rec(ledger, f"P{i}", paper=paper)["paper"] == paper


def test_results_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_RESULTS_DIR", str(tmp_path / "res"))
    monkeypatch.delenv("COMPANION_NOTEBOOK", raising=False)
    assert default_results_dir() == tmp_path / "res"
    led = Ledger("nb")
    _rec(led)
    assert (tmp_path / "res" / "nb.json").is_file()


def test_default_results_dir_is_in_repository(monkeypatch):
    monkeypatch.delenv("COMPANION_RESULTS_DIR", raising=False)
    d = default_results_dir()
    assert d.parts[-2:] == ("executed", "results")
    assert (d.parent.parent / "pyproject.toml").is_file()


def test_name_must_match_executed_notebook(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_NOTEBOOK", "01_signrelu")
    with pytest.raises(ValueError, match="name"):
        Ledger("00_foundations", results_dir=tmp_path)
    Ledger("01_signrelu", results_dir=tmp_path)


def test_table(ledger):
    _rec(ledger, "A", measured=Interval(0.98, 0.96, 1.0, "t", 5))
    _rec(ledger, "B", measured=5.0)
    t = ledger.table()
    assert list(t.index) == ["A", "B"]
    assert list(t.columns) == [
        "kind", "claim", "measured", "uncertainty", "expected", "verdict"
    ]  # fmt: skip
    assert t.loc["A", "measured"] == "0.980 ± 0.020"
    assert t.loc["A", "uncertainty"] == "95% t-interval over 5 seeds"
    assert t.loc["B", "uncertainty"] == "exact"
    assert t.loc["B", "verdict"] == "not reproduced"
    assert set(t["verdict"]) <= set(VERDICTS)


def test_format_measured_to_significant_digits():
    assert format_measured(3e-15, None) == "3e-15"
    assert format_measured(0.123456, None) == "0.1235"
    assert format_measured(0.9387, [0.9387 - 0.003762, 0.9387 + 0.003762]) == "0.9387 ± 0.0038"
    assert format_measured(12345.6, [12000.0, 12700.0]) == "12350 ± 350"
    assert format_measured(1.2345e-5, [1.2e-5, 1.27e-5]) == "(1.234 ± 0.036)e-05"
    assert format_measured(2.0, [1.0, 5.0]) == "2.0 [1.0, 5.0]"
    assert format_measured("nan", None) == "nan"


# --- claim kinds and the refusals -----------------------------------------------------------


def test_every_claim_kind_accepted(ledger):
    for i, kind in enumerate(CLAIM_KINDS):
        extra = {"source": "abstract"} if kind == "paper" else {}
        assert _rec(ledger, f"K{i}", kind=kind, **extra)["kind"] == kind


@pytest.mark.parametrize("kind", ["paper", "derived"])
def test_refuses_paper_claim_on_few_seeds(ledger, kind):
    thin = t_interval([1.0, 1.2, 0.9, 1.1])
    with pytest.raises(ValueError, match=r"claim E9.*4 seeds.*at least 5"):
        _rec(ledger, "E9", kind=kind, source="abstract", measured=thin)
    with pytest.raises(ValueError, match=r"claim E9.*2 seeds"):
        _rec(ledger, "E9", kind=kind, source="abstract", measured=paired_t([1, 2], [0, 1.5]))
    assert ledger.claims == []
    rec = _rec(
        ledger, "E9", kind=kind, source="abstract", measured=t_interval([1, 1.2, 0.9, 1.1, 1])
    )
    assert (rec["uncertainty_kind"], rec["n"]) == ("t", 5)


def test_refuses_paper_slope_on_few_points(ledger):
    x = np.array([1.0, 2.0, 4.0, 8.0])
    fit = fit_loglog(x, x**-1.0 * (1 + 0.01 * np.sin(x)))
    with pytest.raises(ValueError, match=r"claim R1.*fit over 4 points.*at least 5"):
        _rec(ledger, "R1", kind="derived", measured=fit.slope_interval)


def test_questions_and_checks_may_rest_on_few_seeds(ledger):
    rec = _rec(ledger, "Q1", kind="question", measured=t_interval([1.0, 1.2, 0.9]))
    assert rec["n"] == 3 and rec["uncertainty_text"] == "95% t-interval over 3 seeds"


def test_refuses_thin_bootstrap_for_any_kind(ledger):
    thin = Interval(1.0, 0.9, 1.1, "bootstrap", 50)
    with pytest.raises(ValueError, match=r"claim B1.*at least 200 resamples"):
        _rec(ledger, "B1", kind="question", measured=thin)


def test_records_refinement_and_bootstrap(ledger):
    rec = _rec(ledger, "N1", kind="check", measured=refinement(1.01, 1.0025, 1.0))
    assert rec["uncertainty_kind"] == "refinement" and rec["n"] == 3
    assert rec["interval"] == [pytest.approx(0.99), pytest.approx(1.01)]
    rng = np.random.default_rng(0)
    boot = bootstrap_ci((rng.normal(size=200),), np.mean, n_resamples=999)
    rec = _rec(ledger, "N2", kind="question", measured=boot, expect=at_most(1.0))
    assert rec["uncertainty_kind"] == "bootstrap" and rec["n"] == 999
    assert rec["uncertainty_note"] == "BCa"


# --- coverage -------------------------------------------------------------------------------


def test_coverage_recorded_and_validated(ledger):
    _rec(ledger, "E1", kind="paper", source="abstract")
    rows = [
        {"statement": "rate n^-1", "source": "abstract", "ids": ["E1"]},
        {"statement": "FID improves", "source": "summary", "reason": "needs pretrained models"},
    ]
    frame = ledger.coverage(rows, section="t-coverage")
    assert list(frame["tested by"]) == ["E1", "not tested: needs pretrained models"]
    data = json.loads(ledger.path.read_text())
    assert data["coverage"][1]["reason"] == "needs pretrained models"
    assert data["coverage_section"] == "t-coverage"
    with pytest.raises(ValueError, match=r"not recorded"):
        ledger.coverage([{"statement": "s", "source": "abstract", "ids": ["E7"]}])
    with pytest.raises(ValueError, match=r"either 'ids'.*or 'reason'"):
        ledger.coverage([{"statement": "s", "source": "abstract"}])
    with pytest.raises(ValueError, match=r"either 'ids'"):
        ledger.coverage([{"statement": "s", "source": "abstract", "ids": ["E1"], "reason": "x"}])
    with pytest.raises(ValueError, match=r"source"):
        ledger.coverage([{"statement": "s", "ids": ["E1"]}])


def test_kind_is_required(ledger):
    with pytest.raises(TypeError, match="kind"):
        ledger.record("A", paper="foundations", claim="a claim", measured=1.0, expect=at_most(2.0))
    with pytest.raises(TypeError, match="uncertainty"):
        _rec(ledger, uncertainty=0.1)  # free-text uncertainties are gone: use companion.stats


def test_table_shows_answers_to_questions(ledger):
    _rec(ledger, "Q", kind="question", measured=5.0)
    _rec(ledger, "C", kind="check", measured=5.0)
    t = ledger.table()
    assert t.loc["Q", "verdict"] == "no" and t.loc["C", "verdict"] == "not reproduced"
