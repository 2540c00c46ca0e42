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


def test_dashboard_in_browser(site):
    _, chapters, _, _, probes = site
    dash = probes["book/intro.html"]["dashboard"]
    assert dash is not None and dash["table"]
    n_claims = 0
    for name in chapters:
        res = ROOT / "executed" / "results" / f"{name}.json"
        n_claims += len(json.loads(res.read_text())["claims"])
    assert dash["rows"] == n_claims
    assert dash["badges"] >= n_claims + 3  # one per row plus the three counts


def test_screenshots_saved(site):
    _, _, shots, _, _ = site
    for path in shots.values():
        assert path.is_file() and path.stat().st_size > 10_000, path
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
