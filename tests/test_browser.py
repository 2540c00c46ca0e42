"""Open every page of the built book in headless Chromium (scripts/browser_check.py).

Skipped when Chromium is not installed; CI installs Debian's ``chromium`` so it always runs
there. Screenshots of the intro and of the first chapter are saved in ``artifacts/``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import book_fixture  # noqa: E402
import browser_check  # noqa: E402
import make_pages  # noqa: E402

pytestmark = pytest.mark.book
ARTIFACTS = ROOT / "artifacts"


@pytest.fixture(scope="module")
def site():
    binary = browser_check.find_chromium()
    if binary is None:
        pytest.skip("chromium is not installed (apt-get install chromium); CI installs it")
    html = book_fixture.ensure_book_built()
    chapters = make_pages.toc_chapters(ROOT / "_toc.yml")
    shots = {"book/intro.html": ARTIFACTS / "intro.png"}
    if chapters:
        shots[f"executed/{chapters[0]}.html"] = ARTIFACTS / f"chapter_{chapters[0]}.png"
    for p in shots.values():
        p.unlink(missing_ok=True)
    problems, probes = browser_check.check_site(html, shots, binary)
    return html, chapters, shots, problems, probes


def test_every_page_renders_cleanly(site):
    html, chapters, _, problems, _ = site
    assert "book/intro.html" in problems
    for name in chapters:
        assert f"executed/{name}.html" in problems
    bad = {page: items for page, items in problems.items() if items}
    assert bad == {}, json.dumps(bad, indent=1)


def test_math_is_typeset(site):
    _, chapters, _, _, probes = site
    assert probes["book/intro.html"]["math"] > 0
    assert probes["book/intro.html"]["mathjax"]
    for page, probe in probes.items():
        assert probe["untypeset"] == [] and probe["raw"] == [], page


def _claims(chapters):
    out = []
    for name in chapters:
        res = ROOT / "executed" / "results" / f"{name}.json"
        out += json.loads(res.read_text())["claims"]
    return out


def test_dashboard_in_browser(site):
    _, chapters, _, _, probes = site
    dash = probes["book/intro.html"]["dashboard"]
    assert dash is not None and dash["table"]
    claims = _claims(chapters)
    checks = [c for c in claims if make_pages.claim_kind(c) == "check"]
    assert dash["rows"] == len(claims)
    # the checks are collapsed; everything else is shown
    assert dash["shownRows"] == len(claims) - len(checks)
    assert dash["collapsedTables"] == (1 if checks else 0)
    assert dash["badges"] >= len(claims) + 3  # one per row plus the counts in the header
    # every row shows its stability over seeds ("no sweep" without one) and a Full cell
    assert dash["stability"] == len(claims)
    assert dash["fullCells"] == len(claims)


def test_sweep_page_in_browser(site):
    """The sweep page renders, with one loaded figure per chapter that has a committed sweep."""
    html, chapters, _, problems, probes = site
    assert "book/sweeps.html" in problems and problems["book/sweeps.html"] == []
    swept = [n for n in chapters if (ROOT / "results" / "sweeps" / "ci" / f"{n}.json").is_file()]
    assert probes["book/sweeps.html"]["images"] == len(swept)
    assert probes["book/sweeps.html"]["broken"] == []


def test_dashboard_filter_in_browser(site):
    """Choosing a paper, a kind or a verdict shows exactly the matching rows; reset restores."""
    _, chapters, _, _, probes = site
    result = probes["book/intro.html"]["filter"]
    assert result is not None and result["formShown"]
    claims = _claims(chapters)
    assert result["rows"] == len(claims) and result["unmarked"] == 0
    steps = {(s["field"], s["value"]): s for s in result["steps"]}
    for field, of in (
        ("paper", lambda c: c["paper"]),
        ("kind", make_pages.claim_kind),
        ("verdict", lambda c: c["verdict"]),
    ):
        values = {of(c) for c in claims}
        assert {v for f, v in steps if f == field} == values, field
        for v in values:
            step = steps[(field, v)]
            n = sum(1 for c in claims if of(c) == v)
            assert step["wrong"] == [] and step["shown"] == step["expected"] == n, step
            assert step["count"] == f"{n} of {len(claims)} claims match", step
    both = [s for (f, _), s in steps.items() if f == "kind+verdict"]
    assert len(both) == 1 and both[0]["wrong"] == [] and both[0]["shown"] == both[0]["expected"]
    assert len(result["resets"]) == 4
    for r in result["resets"]:
        assert r == {
            "shown": result["initiallyShown"],
            "collapsed": result["initiallyCollapsed"],
            "selects": "",
        }
    assert result["sort"]["ascending"] and result["sort"]["descending"], result["sort"]
    # the Full column (the full profile's verdicts) sorts too, and does not break the filter
    full = result["fullSort"]
    assert full["ascending"] and full["descending"] and full["rows"] == result["sort"]["rows"]


def test_screenshots_saved(site):
    _, _, shots, _, _ = site
    for path in shots.values():
        assert path.is_file() and path.stat().st_size > 10_000, path
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
