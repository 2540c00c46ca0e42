"""Tests of the claims ledger: verdict logic, validation and the JSON it writes."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from companion.ledger import (
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


@pytest.fixture
def ledger(tmp_path, monkeypatch):
    monkeypatch.delenv("COMPANION_NOTEBOOK", raising=False)
    return Ledger("99_test", title="Test", profile="ci", seed=3, device="cpu", results_dir=tmp_path)


def _rec(ledger, cid="A", **kw):
    args = dict(paper="foundations", claim="a claim", measured=1.0, expect=at_most(2.0))
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
    assert verdict(measured, unc, crit) == want


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
    for key in ("date", "runtime_s", "peak_memory_mb", "versions"):
        assert key in data
    assert data["peak_memory_mb"] > 1.0
    assert set(data["versions"]) == {"python", "torch", "numpy", "scipy", "companion"}
    (claim,) = data["claims"]
    assert claim == rec
    assert set(claim) == {
        "id", "paper", "claim", "section", "measured", "uncertainty", "uncertainty_kind",
        "expected", "criterion", "verdict", "rtol", "atol",
    }  # fmt: skip


def test_saved_after_every_record(ledger):
    _rec(ledger, "A")
    assert len(json.loads(ledger.path.read_text())["claims"]) == 1
    _rec(ledger, "B", measured=3.0)
    data = json.loads(ledger.path.read_text())
    assert [c["id"] for c in data["claims"]] == ["A", "B"]
    assert [c["verdict"] for c in data["claims"]] == ["supported", "not reproduced"]


def test_non_finite_measured_is_valid_json(ledger):
    rec = _rec(ledger, measured=float("nan"), uncertainty=float("inf"), uncertainty_kind="seeds")
    assert rec["verdict"] == "not reproduced"
    text = ledger.path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    claim = json.loads(text)["claims"][0]
    assert claim["measured"] == "nan" and claim["uncertainty"] == "inf"


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
        (dict(uncertainty=-1.0, uncertainty_kind="seeds"), "uncertainty"),
        (dict(uncertainty=0.1), "uncertainty_kind"),
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
    _rec(ledger, "A", measured=0.98, uncertainty=0.02, uncertainty_kind="std over 5 seeds")
    _rec(ledger, "B", measured=5.0)
    t = ledger.table()
    assert list(t.index) == ["A", "B"]
    assert list(t.columns) == ["paper", "claim", "measured", "expected", "verdict"]
    assert t.loc["A", "measured"] == "0.98 ± 0.02"
    assert t.loc["B", "verdict"] == "not reproduced"
    assert set(t["verdict"]) <= set(VERDICTS)


def test_format_measured():
    assert format_measured(3e-15, None) == "3e-15"
    assert format_measured(0.123456, 0.01) == "0.1235 ± 0.01"
    assert format_measured("nan", None) == "nan"
