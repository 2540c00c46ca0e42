"""Tests of the built book: strict build, freshness, offline HTML, dashboard, pages, results.

Marked ``book``: ``make test`` runs them after ``make book``; run alone they build the book
first (scripts/book_fixture.py), so every notebook executes once per test run.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import book_fixture  # noqa: E402
import check_html  # noqa: E402
import check_results  # noqa: E402
import make_pages  # noqa: E402
import pipeline  # noqa: E402

pytestmark = pytest.mark.book

CHAPTERS = make_pages.toc_chapters(ROOT / "_toc.yml")
BIB_KEYS = [
    "sun2026signrelu",
    "jahara2026gmm",
    "doan2024s2n",
    "wang2024design",
    "ho2020ddpm",
    "song2021ddim",
    "song2021sde",
    "karras2022edm",
    "kingma2021vdm",
    "kong2023itd",
    "norets2010",
    "li2023signrelu",
]


@pytest.fixture(scope="session")
def html() -> Path:
    return book_fixture.ensure_book_built()


def _page(html: Path, rel: str) -> str:
    return (html / rel).read_text(encoding="utf-8")


def _results() -> dict[str, dict]:
    out = {}
    for name in CHAPTERS:
        p = ROOT / "executed" / "results" / f"{name}.json"
        if p.is_file():
            out[name] = json.loads(p.read_text(encoding="utf-8"))
    return out


def test_every_chapter_published(html):
    assert (html / "index.html").is_file()
    for name in CHAPTERS:
        assert (html / "executed" / f"{name}.html").is_file(), name
    for page in ("intro", "reproducing", "api", "references"):
        assert (html / "book" / f"{page}.html").is_file(), page


def test_published_notebooks_are_current(html):
    """The staleness guard holds for what was just published."""
    assert pipeline.verify_executed(CHAPTERS) == []


def test_no_external_resources(html):
    assert check_html.check(html) == []


def test_results_match_references(html):
    report = check_results.check(CHAPTERS)
    assert report == [], "\n" + "\n".join(report)


def test_every_chapter_recorded_claims(html):
    results = _results()
    assert sorted(results) == sorted(CHAPTERS)
    for name, run in results.items():
        assert run["claims"], f"{name} recorded no claims"
        assert run["profile"] in ("ci", "full")


def test_dashboard_lists_every_claim(html):
    page = _page(html, "book/intro.html")
    section = page[page.index('id="claims-dashboard"') :]
    table = section[section.index("<table") : section.index("</table>")]
    body = table[table.index("<tbody") :]
    rows = re.findall(r"<tr", body)
    claims = [c for run in _results().values() for c in run["claims"]]
    assert len(rows) == len(claims)
    assert f"<strong>{len(claims)} claims</strong>" in section
    for c in claims:
        assert f"{c['verdict']}</span>" in section
        if c.get("section"):
            # the claim id links to the section that measures it
            assert re.search(rf'<a class="reference internal" href="[^"]+#{c["section"]}"', body)


def test_reproducing_page_has_real_runs(html):
    page = _page(html, "book/reproducing.html")
    text = re.sub(r"<[^>]+>", "", page)  # code blocks are split into highlighted spans
    for name, run in _results().items():
        assert make_pages.fmt_mb(run["peak_memory_mb"]) in text, name
        assert make_pages.fmt_seconds(run["execution"]["wall_s"]) in text, name
    assert "torch" in text and "make book ONLY=03" in text


def test_api_reference_documents_every_module(html):
    page = _page(html, "book/api.html")
    modules = [p.stem for p in (ROOT / "companion").glob("*.py") if not p.name.startswith("_")]
    assert modules
    for m in modules:
        assert f'id="module-companion.{m}"' in page, m
    assert 'id="companion.ledger.Ledger.record"' in page
    # every public name (each module's __all__) is documented on the page
    import importlib

    undocumented = [
        f"companion.{m}.{name}"
        for m in modules
        for name in getattr(importlib.import_module(f"companion.{m}"), "__all__", [])
        if f'id="companion.{m}.{name}"' not in page
    ]
    assert undocumented == []


def test_references(html):
    bib = (ROOT / "book" / "references.bib").read_text(encoding="utf-8")
    for key in BIB_KEYS:
        assert re.search(rf"@\w+\{{{key},", bib), key
    page = _page(html, "book/references.html")
    for arxiv in ("2601.21242", "2604.13470", "2408.04221", "2406.12839"):
        assert arxiv in page
    assert page.count('class="citation"') >= len(BIB_KEYS) or page.count("<dt") >= 12


def test_chapter_downloads(html):
    for name in CHAPTERS:
        page = _page(html, f"executed/{name}.html")
        links = re.findall(r'href="(\.\./_downloads/[^"]+)"', page)
        targets = {Path(link).name for link in links}
        assert f"{name}.py" in targets and f"{name}.ipynb" in targets, (name, targets)
        for link in links:
            assert (html / "executed" / link).resolve().is_file(), link
        # the source offered for download is the committed notebook
        py = next(link for link in links if link.endswith(".py"))
        assert (html / "executed" / py).resolve().read_bytes() == (
            ROOT / "notebooks" / f"{name}.py"
        ).read_bytes()


def test_parameter_cells_hidden(html):
    for name in CHAPTERS:
        page = _page(html, f"executed/{name}.html")
        assert "injected-parameters" not in page
        assert 'profile = "' not in page, f"parameters cell of {name} is visible"
