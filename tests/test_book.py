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


def _dashboard(html: Path) -> str:
    page = _page(html, "book/intro.html")
    return page[page.index('id="claims-dashboard"') :]


def _claims() -> list[dict]:
    return [c for run in _results().values() for c in run["claims"]]


def _rows(fragment: str) -> list[tuple[str, str, str, str]]:
    """(paper, kind, verdict, row html) of every dashboard table row in ``fragment``."""
    out = []
    for table in re.findall(r'<table class="claims-table.*?</table>', fragment, re.S):
        body = table[table.index("<tbody") :]
        for row in re.findall(r"<tr.*?</tr>", body, re.S):
            m = re.search(
                r'<span class="claim-row" data-paper="([^"]*)" data-kind="([^"]*)" '
                r'data-verdict="([^"]*)"></span>',
                row,
            )
            assert m, row[:300]
            out.append((m[1], m[2], m[3], row))
    return out


def test_dashboard_lists_every_claim(html):
    section = _dashboard(html)
    claims = _claims()
    rows = _rows(section)
    assert len(rows) == len(claims)
    assert f"<strong>{len(claims)} claims</strong>" in section
    marked = sorted((p, k, v) for p, k, v, _ in rows)
    assert marked == sorted((c["paper"], make_pages.claim_kind(c), c["verdict"]) for c in claims)
    for c in claims:
        assert f"{c['verdict']}</span>" in section
        if c.get("section"):
            # the claim id links to the section that measures it
            assert re.search(
                rf'<a class="reference internal" href="[^"]+#{c["section"]}">'
                rf'<span class="std std-ref">{re.escape(c["id"])}</span>',
                section,
            ), c["id"]


def test_dashboard_counts_per_kind(html):
    section = _dashboard(html)
    found = dict(re.findall(r'<li data-kind="([a-z]+)">.*?claims-kind-count">(\d+)<', section))
    kinds = [make_pages.claim_kind(c) for c in _claims()]
    for kind in make_pages.KIND_ORDER:
        if kind == make_pages.UNCLASSIFIED and kind not in kinds:
            assert kind not in found
            continue
        assert int(found[kind]) == kinds.count(kind), kind


def test_dashboard_one_section_per_paper(html):
    section = _dashboard(html)
    claims = _claims()
    expected = [
        p
        for p in make_pages.PAPER_ORDER
        if any(c["paper"] == p for c in claims)
        or any(make_pages._main_paper(r) == p for r in _results().values())
    ]
    starts = [section.index(f'id="{make_pages.paper_anchor(p)}"') for p in expected]
    assert starts == sorted(starts), "paper sections out of order"
    ends = [*starts[1:], section.index('id="claims-checks"')]
    for paper, start, end in zip(expected, starts, ends, strict=True):
        rows = _rows(section[start:end])
        mine = [c for c in claims if c["paper"] == paper and make_pages.claim_kind(c) != "check"]
        assert len(rows) == len(mine), paper
        assert all(p == paper and k != "check" for p, k, _, _ in rows), paper


def test_dashboard_checks_collapsed(html):
    section = _dashboard(html)
    tail = section[section.index('id="claims-checks"') :]
    checks = [c for c in _claims() if make_pages.claim_kind(c) == "check"]
    if not checks:
        assert "No claim is recorded as a check yet." in tail
        return
    details = re.search(r"<details([^>]*)>(.*?)</details>", tail, re.S)
    assert details and " open" not in details[1]
    rows = _rows(details[2])
    assert len(rows) == len(checks) and all(k == "check" for _, k, _, _ in rows)
    # and no check anywhere else on the dashboard
    before = section[: section.index('id="claims-checks"')]
    assert all(k != "check" for _, k, _, _ in _rows(before))


def test_dashboard_coverage_lines(html):
    section = _dashboard(html)
    for name, run in _results().items():
        paper = make_pages._main_paper(run)
        if paper == "foundations" and not run.get("coverage"):
            continue
        start = section.index(f'id="{make_pages.paper_anchor(paper)}"')
        part = section[start : section.index("<table", start)]
        assert "<strong>Coverage:</strong>" in part, name
        if run.get("coverage"):
            tested = sum(1 for row in run["coverage"] if row["ids"])
            untested = len(run["coverage"]) - tested
            assert f'data-tested="{tested}" data-untested="{untested}"' in part, name
            if run.get("coverage_section"):
                assert re.search(rf'href="\.\./executed/{name}\.html#[^"]+">', part), name
        else:
            assert "has not recorded its coverage table yet" in part, name


def test_dashboard_script_shipped(html):
    page = _page(html, "book/intro.html")
    assert re.search(r'<script src="\.\./_static/claims\.js(\?v=[0-9a-f]+)?"></script>', page)
    assert (html / "_static" / "claims.js").is_file()
    # without JavaScript the filter stays hidden and the tables are plain and complete
    assert '<form class="claims-filter" hidden' in page


def _references() -> tuple[dict, dict]:
    """The committed ci sweeps and full-profile results of the built chapters, with whether each
    is current (as the dashboard decides it)."""
    names = list(_results())
    digest = pipeline.package_digest(ROOT)
    notebooks = ROOT / "notebooks"
    sweeps = make_pages.load_sweeps(
        names, ROOT / "results" / "sweeps" / make_pages.SWEEP_PROFILE, notebooks, digest
    )
    full = make_pages.load_full(names, ROOT / "results" / "full", notebooks, digest)
    return sweeps, full


def _row_id(row: str) -> str:
    m = re.search(r'<span class="std std-ref">([^<]+)</span>', row) or re.search(
        r'data-verdict="[^"]*"></span>([^<|]+?)</p>', row
    )
    assert m, row[:300]
    return m[1].strip()


def test_dashboard_stability_and_full(html):
    """Beside every verdict: its stability over the committed sweep (or "no sweep", or marked
    stale), and the full profile's verdict (or "—", marked stale, flagged when it differs)."""
    section = _dashboard(html)
    sweeps, full = _references()
    chapter_of: dict[str, list[str]] = {}
    for name, run in _results().items():
        for c in run["claims"]:
            chapter_of.setdefault(c["id"], []).append(name)
    rows = _rows(section)
    for _, _, verdict, row in rows:
        cid = _row_id(row)
        if len(chapter_of.get(cid, [])) != 1:
            continue  # an id recorded by two chapters: which row is which is not known here
        name = chapter_of[cid][0]
        sweep, entry = sweeps.get(name), None
        if sweep is not None:
            entry = sweep.claims().get(cid)
        if entry is None:
            assert ">no sweep</small>" in row, cid
        else:
            text = make_pages.stability_text(entry)
            want = text if sweep.current else f"stale sweep: {text}"
            assert f">{want}</small>" in row, (cid, want)
        ref = full.get(name)
        fc = ref.claims().get(cid) if ref is not None else None
        if fc is None:
            assert 'class="claim-full-none"' in row and "\u2014" in row, cid
            continue
        assert ("claim-full-stale" in row) == (not ref.current), cid
        assert ("⚠ differs from ci" in row) == (fc["verdict"] != verdict), cid
    # one visible note per chapter with a stale sweep or full result, one sentence for each
    stale_sweeps = [n for n in _results() if n in sweeps and not sweeps[n].current]
    stale_full = [n for n in _results() if n in full and not full[n].current]
    assert section.count("is <strong>stale</strong>") == len(stale_sweeps) + len(stale_full)
    assert section.count("claims-stale admonition") == len({*stale_sweeps, *stale_full})
    flagged = len(make_pages.disagreements(list(_results().values()), full))
    assert section.count("⚠ differs from ci") == flagged
    if not any(n in sweeps for n in _results()):
        assert "No seed sweep is committed yet" in section
    if not full:
        assert "result is committed yet" in section


def test_sweep_page(html):
    """One section per chapter; a figure per committed sweep (the image exists), its counts
    table, the stale note where the chapter changed since; says so when there is no sweep."""
    page = _page(html, "book/sweeps.html")
    sweeps, _ = _references()
    names = list(_results())
    if not any(n in sweeps for n in names):
        assert "No seed sweep is committed yet" in page
        return
    for name in names:
        label = make_pages.sweep_label(name)
        starts = sorted(page.index(f'id="{make_pages.sweep_label(n)}"') for n in names)
        start = page.index(f'id="{label}"')
        part = page[start : next((i for i in starts if i > start), len(page))]
        ref = sweeps.get(name)
        if ref is None:
            assert "No sweep of" in part, name
            continue
        (src,) = re.findall(r'<img[^>]+src="([^"]+)"', part)
        assert src.endswith(f"{name}.png"), src
        image = (html / "book" / src).resolve()
        assert image.is_file() and image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", image
        assert ("Stale sweep" in part) == (not ref.current), name
        for entry in ref.data["claims"]:
            assert re.search(rf">{re.escape(entry['id'])}<", part), (name, entry["id"])
    # in the navigation, between the last chapter and the reproducing page
    nav = _page(html, "book/intro.html")
    last = nav.index(f"executed/{names[-1]}.html")
    assert last < nav.index('href="sweeps.html"') < nav.index('href="reproducing.html"')


def test_reproducing_page_full_run(html):
    page = _page(html, "book/reproducing.html")
    text = re.sub(r"<[^>]+>", "", page)
    _, full = _references()
    if not full:
        assert "No full-profile run is committed yet" in text
        return
    assert "The full-profile run" in text and "Machine:" in text
    for name, ref in full.items():
        wall = ref.data.get("execution", {}).get("wall_s") or ref.data.get("runtime_s")
        assert make_pages.fmt_seconds(wall) in text, name
        assert str(ref.data.get("date", ""))[:10] in text, name
        if not ref.current:
            assert f"{name}" in text.split("Stale:", 1)[1].split("\n", 1)[0], name


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
