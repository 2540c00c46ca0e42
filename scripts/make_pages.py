"""Prepare the book sources right before ``jupyter-book build``.

1. Staleness guard: every chapter in ``_toc.yml`` must have an executed notebook whose stamp
   matches the current sources (``scripts/pipeline.py``); otherwise exit non-zero, naming it.
2. Generate ``book/_generated/`` (gitignored) from the fresh ``executed/results/*.json``:
   the claims dashboard (``claims.md``, included by the intro; filtered and sorted in the
   browser by ``book/_static/claims.js``), the run table and versions
   (``runs.md``, ``versions.md``, included by the reproducing page) and the API listing
   (``api.md``, included by the API page).
3. Copy MathJax 3.2.2 from the pinned PyPI package ``sphinx-mathjax-offline`` into
   ``book/_static/mathjax`` (gitignored), so the book needs no CDN.
4. Write the table of contents to use (``book/_generated/_toc.yml``): ``_toc.yml`` itself, or,
   with ``--allow-missing`` (``make book ONLY=..``), without the chapters not executed yet.

Usage: ``python scripts/make_pages.py [--allow-missing]``; prints the toc path to build with.
"""

from __future__ import annotations

import argparse
import html
import json
import math
import re
import shutil
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pipeline  # noqa: E402

from companion.ledger import CLAIM_KINDS, PAPERS, VERDICTS, format_measured  # noqa: E402

ROOT = pipeline.ROOT
BOOK = ROOT / "book"
GENERATED = BOOK / "_generated"
MATHJAX_DEST = BOOK / "_static" / "mathjax"
MATHJAX_VERSION = "3.2.2"

#: Paper id -> bibliography key (book/references.bib).
PAPER_CITES = {
    "2601.21242": "sun2026signrelu",
    "2604.13470": "jahara2026gmm",
    "2408.04221": "doan2024s2n",
    "2406.12839": "wang2024design",
}

#: Verdict -> (css class suffix, symbol). Colours live in book/_static/companion.css.
BADGES = {
    "supported": ("supported", "✔"),
    "inconclusive": ("inconclusive", "?"),
    "not reproduced": ("not-reproduced", "✘"),
}


class PagesError(RuntimeError):
    pass


# --------------------------------------------------------------------------------------------
# Table of contents
# --------------------------------------------------------------------------------------------


def toc_chapters(toc_path: Path) -> list[str]:
    """Stems of the executed notebooks listed in the toc (``executed/<stem>`` entries)."""
    import yaml

    toc = yaml.safe_load(toc_path.read_text(encoding="utf-8"))
    files: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "file" in node:
                files.append(str(node["file"]))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(toc)
    stems = []
    for f in files:
        f = re.sub(r"\.ipynb$", "", f)
        if f.startswith("executed/"):
            stems.append(f.split("/", 1)[1])
    return stems


def filtered_toc(toc_path: Path, drop: set[str]) -> str:
    """The toc text without the ``executed/<stem>`` entries in ``drop`` (and empty parts)."""
    import yaml

    toc = yaml.safe_load(toc_path.read_text(encoding="utf-8"))

    def keep(entry: Any) -> bool:
        f = str(entry.get("file", "")) if isinstance(entry, dict) else ""
        return not (f.startswith("executed/") and f.split("/", 1)[1] in drop)

    def prune(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: prune(v) for k, v in node.items()}
        if isinstance(node, list):
            return [prune(v) for v in node if keep(v)]
        return node

    toc = prune(toc)
    if "parts" in toc:
        toc["parts"] = [p for p in toc["parts"] if p.get("chapters")]
    return yaml.safe_dump(toc, sort_keys=False)


# --------------------------------------------------------------------------------------------
# Results -> markdown
# --------------------------------------------------------------------------------------------


def load_results(names: Sequence[str], results_dir: Path) -> list[dict[str, Any]]:
    out = []
    for name in names:
        p = results_dir / f"{name}.json"
        if p.is_file():
            out.append(json.loads(p.read_text(encoding="utf-8")))
    return out


def _cell(text: Any) -> str:
    """Text safe inside a markdown pipe-table cell."""
    s = "" if text is None else str(text)
    return s.replace("\n", " ").replace("|", "\\|").strip()


def badge(verdict: str) -> str:
    cls, sym = BADGES.get(verdict, ("unknown", "·"))
    order = VERDICTS.index(verdict) if verdict in VERDICTS else len(VERDICTS)
    return f'<span class="verdict verdict-{cls}" data-sort="{order}">{sym} {verdict}</span>'


def paper_ref(paper: str) -> str:
    key = PAPER_CITES.get(paper)
    if key is None:
        return "Foundations" if paper == "foundations" else _cell(paper)
    return f"{{cite:t}}`{key}`"


# --------------------------------------------------------------------------------------------
# The claims dashboard
# --------------------------------------------------------------------------------------------

#: Kind shown for a claim recorded before claims had kinds (its chapter is not migrated yet).
UNCLASSIFIED = "unclassified"
#: Display order of the claim kinds (also their sort order in the tables).
KIND_ORDER: tuple[str, ...] = ("paper", "derived", "question", "check", UNCLASSIFIED)
#: Kind -> (label in the tables, what the kind means). Kinds that are ours say so.
KIND_LABELS: dict[str, tuple[str, str]] = {
    "paper": ("paper", "statements of the papers: the only verdicts on the papers"),
    "derived": ("derived (ours)", "consequences we derived: rates, constants, bound forms"),
    "question": ("question (ours)", "exploratory questions of ours, with their measurements"),
    "check": ("check", "identities and properties of the machinery: unit tests, not evidence"),
    UNCLASSIFIED: (UNCLASSIFIED, "recorded before claims had kinds (chapter not yet migrated)"),
}
#: Papers in dashboard order: the four papers as listed in companion.ledger.PAPERS, then the
#: shared setting (whose claims are mostly checks of the machinery).
PAPER_ORDER: tuple[str, ...] = (*[p for p in PAPERS if p != "foundations"], "foundations")


def claim_kind(c: dict[str, Any]) -> str:
    """The claim's kind, or :data:`UNCLASSIFIED` for a claim recorded without one."""
    kind = c.get("kind")
    return kind if kind in CLAIM_KINDS else UNCLASSIFIED


def paper_anchor(paper: str) -> str:
    """MyST label of a paper's section of the dashboard (``claims-paper-2601-21242``)."""
    return "claims-paper-" + re.sub(r"[^A-Za-z0-9]+", "-", paper).strip("-").lower()


def _attr(text: Any) -> str:
    return html.escape("" if text is None else str(text), quote=True)


def _float(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def claim_interval(c: dict[str, Any]) -> list[Any] | None:
    """The claim's interval; for a claim recorded before intervals, measured ± uncertainty."""
    if c.get("interval") is not None:
        return list(c["interval"])
    m, u = _float(c.get("measured")), _float(c.get("uncertainty"))
    if m is None or u is None:
        return None
    return [m - u, m + u]


def uncertainty_text(c: dict[str, Any]) -> str:
    """What the interval is and what it rests on ("95% t-interval over 5 seeds", "exact")."""
    text = c.get("uncertainty_text")
    if text:
        return str(text)
    # a claim recorded before interval kinds: the free-text kind next to its half-width
    if c.get("uncertainty") is not None and c.get("uncertainty_kind"):
        return str(c["uncertainty_kind"])
    return ""


def measured_cell(c: dict[str, Any]) -> str:
    """Measured value to its significant digits, the interval's kind and n in small type."""
    value = format_measured(c.get("measured"), claim_interval(c))
    m = _float(c.get("measured"))
    sort = f' data-sort="{m!r}"' if m is not None else ""
    out = f'<span class="claim-measured"{sort}>{_cell(value)}</span>'
    text = uncertainty_text(c)
    if text:
        out += f'<br><small class="claim-uncertainty">{_cell(html.escape(text))}</small>'
    return out


def _row_marker(c: dict[str, Any]) -> str:
    """An empty span whose data attributes the dashboard script copies onto the table row."""
    return (
        f'<span class="claim-row" data-paper="{_attr(c["paper"])}" '
        f'data-kind="{_attr(claim_kind(c))}" data-verdict="{_attr(c["verdict"])}"></span>'
    )


def kind_badge(kind: str) -> str:
    label, meaning = KIND_LABELS.get(kind, (kind, ""))
    order = KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)
    return (
        f'<span class="claim-kind claim-kind-{_attr(kind)}" data-sort="{order}" '
        f'title="{_attr(meaning)}">{html.escape(label)}</span>'
    )


def _claim_row(c: dict[str, Any], second: str) -> str:
    ident = _cell(c["id"])
    link = f"{{ref}}`{ident} <{c['section']}>`" if c.get("section") else ident
    statement = _cell(c.get("claim"))
    if c.get("source"):
        statement += (
            f'<br><small class="claim-source">source: {_cell(html.escape(c["source"]))}</small>'
        )
    return (
        f"| {_row_marker(c)}{link} | {second} | {statement} | {measured_cell(c)} "
        f"| {_cell(c.get('expected'))} | {badge(c['verdict'])} |"
    )


def _claims_table(rows: list[str], header: str, extra_class: str) -> list[str]:
    # a backtick fence longer than the dropdown's, so that it nests inside one
    return [
        "````{table}",
        f":class: {' '.join(['claims-table', *extra_class.split()])}",
        "",
        header,
        "|:--|:--|:--|--:|:--|:--|",
        *rows,
        "````",
        "",
    ]


def _verdict_counts(claims: Sequence[dict[str, Any]]) -> str:
    counts = Counter(c["verdict"] for c in claims)
    verdicts = [*VERDICTS, *sorted(v for v in counts if v not in VERDICTS)]
    return " ".join(
        f'{badge(v)}&nbsp;<span class="verdict-count">{counts[v]}</span>'
        for v in verdicts
        if counts[v] or v in VERDICTS
    )


def _main_paper(run: dict[str, Any]) -> str:
    """The paper a chapter is about: the most frequent paper of its claims, Foundations last."""
    papers = Counter(c["paper"] for c in run.get("claims", []) if c.get("paper") != "foundations")
    return papers.most_common(1)[0][0] if papers else "foundations"


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _coverage_line(paper: str, chapters: Sequence[dict[str, Any]]) -> str:
    """How many of the paper's statements the chapters' coverage tables test, with links."""
    with_table = [r for r in chapters if r.get("coverage")]
    if not with_table:
        if paper == "foundations" or not chapters:
            return ""
        docs = " and ".join(f"{{doc}}`../executed/{r['notebook']}`" for r in chapters)
        return f"**Coverage:** {docs} has not recorded its coverage table yet."
    rows = [row for r in with_table for row in r["coverage"]]
    tested = sum(1 for row in rows if row.get("ids"))
    links = []
    for r in with_table:
        text = "coverage table" if len(with_table) == 1 else f"coverage table of {r['notebook']}"
        label = r.get("coverage_section")
        if label:
            links.append(f"{{ref}}`{text} <{label}>`")
        else:
            links.append(f"{{doc}}`{text} <../executed/{r['notebook']}>`")
    return (
        f'**Coverage:** <span class="claims-coverage" data-tested="{tested}" '
        f'data-untested="{len(rows) - tested}"></span>'
        f"{tested} of the {_plural(len(rows), 'statement')} of the paper in the chapter's "
        f"{' and the '.join(links)} {'is' if tested == 1 else 'are'} tested here; "
        f"{len(rows) - tested} {'is' if len(rows) - tested == 1 else 'are'} not "
        "(the table says why)."
    )


def _summary_html(claims: Sequence[dict[str, Any]], runs: Sequence[dict[str, Any]]) -> list[str]:
    by_kind: dict[str, list[dict[str, Any]]] = {k: [] for k in KIND_ORDER}
    for c in claims:
        by_kind[claim_kind(c)].append(c)
    profiles = sorted({str(run.get("profile", "?")) for run in runs})
    lines = [
        '<div class="claims-summary">',
        f"<p><strong>{len(claims)} claims</strong> from {_plural(len(runs), 'chapter')}, "
        f"profile {html.escape(', '.join(profiles))}, by kind:</p>",
        '<ul class="claims-kinds">',
    ]
    for kind in KIND_ORDER:
        group = by_kind[kind]
        if kind == UNCLASSIFIED and not group:
            continue
        meaning = KIND_LABELS[kind][1]
        lines.append(
            f'<li data-kind="{kind}">{kind_badge(kind)} '
            f'<strong class="claims-kind-count">{len(group)}</strong> '
            f'<span class="claims-kind-verdicts">{_verdict_counts(group)}</span> '
            f'<span class="claims-kind-meaning">{html.escape(meaning)}</span></li>'
        )
    lines += ["</ul>", "</div>", ""]
    return lines


def _filter_form(claims: Sequence[dict[str, Any]]) -> list[str]:
    """Filter controls, hidden until the dashboard script (``_static/claims.js``) shows them."""

    def select(field: str, label: str, options: list[tuple[str, str]]) -> str:
        opts = "".join(f'<option value="{_attr(v)}">{html.escape(t)}</option>' for v, t in options)
        return (
            f'<label>{label} <select data-filter="{field}">'
            f'<option value="">all</option>{opts}</select></label>'
        )

    present_papers = {c["paper"] for c in claims}
    present_kinds = {claim_kind(c) for c in claims}
    present_verdicts = {c["verdict"] for c in claims}
    papers = [(p, PAPERS.get(p, p)) for p in PAPER_ORDER if p in present_papers]
    papers += [(p, p) for p in sorted(present_papers - set(PAPER_ORDER))]
    kinds = [(k, KIND_LABELS[k][0]) for k in KIND_ORDER if k in present_kinds]
    verdicts = [(v, v) for v in VERDICTS if v in present_verdicts]
    verdicts += [(v, v) for v in sorted(present_verdicts - set(VERDICTS))]
    return [
        '<form class="claims-filter" hidden aria-label="Filter the claims">',
        select("paper", "Paper", papers),
        select("kind", "Kind", kinds),
        select("verdict", "Verdict", verdicts),
        '<button type="button" class="claims-filter-reset">Show all</button>',
        '<output class="claims-filter-count" aria-live="polite"></output>',
        "</form>",
        "",
    ]


def _section_marker(paper: str) -> str:
    """Marks a dashboard section for the script (hidden when a filter leaves it empty)."""
    return f'<span class="claims-section" data-paper="{_attr(paper)}"></span>'


def claims_markdown(runs: Sequence[dict[str, Any]]) -> str:
    """The claims dashboard (``claims.md``, included under the intro's dashboard heading).

    A header with the counts per kind (and per verdict within each kind), filter controls that
    ``book/_static/claims.js`` shows and drives, then one section per paper (the order of
    :data:`PAPER_ORDER`) with its coverage line and a table of its ``paper``, ``derived`` and
    ``question`` claims (and of claims recorded before kinds, as *unclassified*), then a
    collapsed section with every ``check``. Every table row starts with an empty
    ``span.claim-row`` whose ``data-paper``, ``data-kind`` and ``data-verdict`` the script
    copies onto the row; without JavaScript the tables are plain and complete.
    """
    claims = [c for run in runs for c in run.get("claims", [])]
    lines = ["<!-- generated by scripts/make_pages.py from executed/results/*.json -->", ""]
    if not claims:
        lines.append("*No claims have been recorded yet: no chapter has written its ledger.*")
        return "\n".join(lines) + "\n"
    lines += _summary_html(claims, runs)
    lines += _filter_form(claims)

    chapters_of: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        chapters_of.setdefault(_main_paper(run), []).append(run)
    papers = [p for p in PAPER_ORDER if p in {c["paper"] for c in claims} or p in chapters_of]
    papers += sorted({c["paper"] for c in claims} - set(PAPER_ORDER))
    checks = [c for c in claims if claim_kind(c) == "check"]
    header = "| Claim | Kind | Statement | Measured | Expected | Verdict |"
    for paper in papers:
        mine = [c for c in claims if c["paper"] == paper]
        shown = sorted(
            (c for c in mine if claim_kind(c) != "check"),
            key=lambda c: KIND_ORDER.index(claim_kind(c)),
        )
        title = PAPERS.get(paper, paper)
        where = ", ".join(
            f"{{doc}}`../executed/{r['notebook']}`" for r in chapters_of.get(paper, [])
        )
        intro = paper_ref(paper) if paper != "foundations" else "The shared setting"
        if paper in PAPER_CITES:
            intro += f", arXiv:{paper}"
        if where:
            intro += f"; measured in {where}"
        intro += "."
        lines += [f"({paper_anchor(paper)})=", f"### {title}", "", _section_marker(paper) + intro]
        lines.append("")
        coverage = _coverage_line(paper, chapters_of.get(paper, []))
        if coverage:
            lines += [coverage, ""]
        n_checks = sum(1 for c in mine if claim_kind(c) == "check")
        counts = Counter(claim_kind(c) for c in shown)
        parts = [f"{counts[k]} {KIND_LABELS[k][0]}" for k in KIND_ORDER if counts[k]]
        if n_checks:
            parts.append(
                f"{_plural(n_checks, 'check')} of the machinery ({{ref}}`below <claims-checks>`)"
            )
        lines += ["**Recorded claims:** " + ", ".join(parts) + ".", ""]
        if shown:
            lines += _claims_table(
                [_claim_row(c, kind_badge(claim_kind(c))) for c in shown], header, ""
            )

    lines += [
        "(claims-checks)=",
        "### Checks of the machinery",
        "",
        _section_marker("")
        + "Identities and properties of the shared machinery (closed forms against autograd, "
        "chain rules to quadrature accuracy, two equal formulas): unit tests shown to the reader, "
        "not evidence for or against a paper.",
        "",
    ]
    if checks:
        counts = Counter(c["verdict"] for c in checks)
        tally = ", ".join(f"{counts[v]} {v}" for v in VERDICTS if counts[v])
        lines += [
            f":::{{dropdown}} Show the {_plural(len(checks), 'check')} ({tally})",
            ":class-container: claims-checks",
            "",
        ]
        lines += _claims_table(
            [_claim_row(c, paper_ref(c["paper"])) for c in checks],
            "| Claim | Paper | Statement | Measured | Expected | Verdict |",
            "claims-table-checks",
        )
        lines += [":::", ""]
    else:
        lines += ["*No claim is recorded as a check yet.*", ""]
    lines += [
        "Verdicts are computed by code from the measured value and its interval: *supported* "
        "when the whole interval satisfies the expectation, *not reproduced* when none of it "
        "does, *inconclusive* when it straddles the boundary. Only claims of kind *paper* are "
        "verdicts on a paper; *derived* and *question* claims are ours. Each interval says what "
        "it is and what it rests on (seeds, fit points, resamples, grid refinements).",
    ]
    return "\n".join(lines) + "\n"


def fmt_seconds(x: Any) -> str:
    x = float(x or 0.0)
    return f"{x:.1f} s" if x < 10 else f"{x:.0f} s"


def fmt_mb(x: Any) -> str:
    return f"{float(x or 0.0):.0f} MB"


def _wall(run: dict[str, Any]) -> float:
    return float(run.get("execution", {}).get("wall_s") or run.get("runtime_s") or 0.0)


def runs_markdown(runs: Sequence[dict[str, Any]]) -> str:
    lines = ["<!-- generated by scripts/make_pages.py from executed/results/*.json -->", ""]
    if not runs:
        return "\n".join(lines + ["*No chapter has been executed yet.*"]) + "\n"
    lines += [
        "| Chapter | Profile | Device | Seed | Wall time | Peak memory | Claims | Run (UTC) |",
        "|:--|:--|:--|--:|--:|--:|--:|:--|",
    ]
    for r in runs:
        name = r["notebook"]
        date = str(r.get("date", ""))[:16].replace("T", " ")
        lines.append(
            f"| {{doc}}`{_cell(r.get('title', name))} <../executed/{name}>` "
            f"| {_cell(r.get('profile'))} | {_cell(r.get('device'))} | {_cell(r.get('seed'))} "
            f"| {fmt_seconds(_wall(r))} | {fmt_mb(r.get('peak_memory_mb'))} "
            f"| {len(r.get('claims', []))} | {_cell(date)} |"
        )
    total = sum(_wall(r) for r in runs)
    lines += [
        "",
        f"Sum of the chapters' wall times: {fmt_seconds(total)} (with `JOBS` > 1 they overlap).",
    ]
    return "\n".join(lines) + "\n"


def versions_markdown(runs: Sequence[dict[str, Any]], requirements: Path) -> str:
    lines = ["<!-- generated by scripts/make_pages.py -->", ""]
    seen: dict[str, set[str]] = {}
    for r in runs:
        for k, v in (r.get("versions") or {}).items():
            seen.setdefault(k, set()).add(str(v))
    if seen:
        lines += ["Recorded by the notebooks of the last run:", ""]
        lines += ["| Package | Version |", "|:--|:--|"]
        for k, vs in seen.items():
            lines.append(f"| {_cell(k)} | {_cell(', '.join(sorted(vs)))} |")
        lines.append("")
    pins = []
    if requirements.is_file():
        for line in requirements.read_text(encoding="utf-8").splitlines():
            line = line.split("#", 1)[0].strip()
            if "==" in line:
                pins.append(tuple(line.split("==", 1)))
    if pins:
        lines += ["Pinned in `requirements.txt` (what `make` installs):", ""]
        lines += ["| Package | Pin |", "|:--|:--|"]
        lines += [f"| {_cell(n)} | {_cell(v)} |" for n, v in pins]
    return "\n".join(lines) + "\n"


def _undocumented_data(module: str) -> list[tuple[str, str]]:
    """Public module-level data (in ``__all__``) that ``automodule`` would skip.

    autodoc only documents module attributes that carry a ``#:`` comment or a docstring;
    the others are described here (name, summary of the value) so that references resolve.
    """
    import importlib
    import inspect

    from sphinx.pycode import ModuleAnalyzer

    try:
        mod = importlib.import_module(module)
    except ImportError:  # not importable here: autodoc will report it in the build
        return []
    try:
        documented = {name for (_, name) in ModuleAnalyzer.for_module(module).find_attr_docs()}
    except Exception:  # noqa: BLE001 - no source available: nothing to add
        return []
    out = []
    for name in getattr(mod, "__all__", []):
        obj = getattr(mod, name, None)
        if inspect.isroutine(obj) or inspect.isclass(obj) or inspect.ismodule(obj):
            continue
        if name not in documented:
            out.append((name, _summary(obj)))
    return out


def _summary(obj: Any) -> str:
    if isinstance(obj, dict):
        keys = ", ".join(f"``{k}``" for k in obj)
        return f"A ``dict`` with keys {keys}."
    if isinstance(obj, tuple | list | set | frozenset) and all(isinstance(v, str) for v in obj):
        vals = ", ".join(f"``{v}``" for v in obj)
        return f"A ``{type(obj).__name__}``: {vals}."
    text = repr(obj)
    text = text if len(text) <= 80 else text[:77] + "..."
    return f"Value ``{text}``."


def api_markdown(package_dir: Path, package: str = "companion") -> str:
    """One ``automodule`` per public module of the package."""
    mods = sorted(
        p.stem
        for p in package_dir.glob("*.py")
        if not p.name.startswith("_") and p.stem != "__init__"
    )
    lines = ["<!-- generated by scripts/make_pages.py from the companion package -->", ""]
    lines += ["```{eval-rst}", f".. automodule:: {package}", "   :no-members:", "```", ""]
    for m in mods:
        lines += [f"## `{package}.{m}`", "", "```{eval-rst}", f".. automodule:: {package}.{m}"]
        for name, summary in _undocumented_data(f"{package}.{m}"):
            lines += ["", f".. py:data:: {name}", f"   :module: {package}.{m}", "", f"   {summary}"]
        lines += ["```", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# MathJax
# --------------------------------------------------------------------------------------------


def install_mathjax(dest: Path = MATHJAX_DEST) -> Path:
    """Copy MathJax from the installed ``sphinx-mathjax-offline`` wheel into ``dest``."""
    from importlib import metadata

    marker = dest / ".version"
    if marker.is_file() and marker.read_text().strip() == MATHJAX_VERSION:
        return dest
    try:
        dist = metadata.distribution("sphinx-mathjax-offline")
    except metadata.PackageNotFoundError as exc:
        raise PagesError(
            "MathJax is missing: the package sphinx-mathjax-offline is not installed "
            "(run `make install`, which installs requirements.txt)"
        ) from exc
    src = Path(str(dist.locate_file("sphinx-mathjax-offline/static/mathjax")))
    entry = src / "tex-mml-chtml.js"
    if not entry.is_file():
        raise PagesError(f"MathJax entry point not found at {entry}")
    if f'VERSION="{MATHJAX_VERSION}"' not in entry.read_text(encoding="utf-8", errors="replace"):
        raise PagesError(f"expected MathJax {MATHJAX_VERSION} in {entry}")
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    shutil.copy2(entry, dest / entry.name)
    # input/ holds the TeX extensions MathJax autoloads (\boldsymbol, \cancel, ...): without
    # them one such macro breaks all math on a page. ui/, a11y/, sre/ back the context menu.
    for sub in ("input", "output/chtml", "ui", "a11y", "sre", "adaptors"):
        if (src / sub).is_dir():
            shutil.copytree(src / sub, dest / sub)
    marker.write_text(MATHJAX_VERSION + "\n")
    return dest


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def prepare(
    root: Path = ROOT,
    executed: Path | None = None,
    *,
    allow_missing: bool = False,
    mathjax: bool = True,
    report: Any = print,
) -> Path:
    """Run steps 1-4 and return the toc to build with."""
    executed = executed or root / "executed"
    notebooks = root / "notebooks"
    toc_path = root / "_toc.yml"
    generated = root / "book" / "_generated"
    chapters = toc_chapters(toc_path)

    sources = {p.stem for p in pipeline.discover(notebooks)}
    orphans = sorted(sources - set(chapters))
    if orphans:
        raise PagesError(
            "notebook(s) not in _toc.yml: "
            + ", ".join(orphans)
            + " (add a line `- file: executed/<name>` under Chapters)"
        )
    unknown = [c for c in chapters if c not in sources]
    if unknown:
        raise PagesError(f"_toc.yml lists chapter(s) without a notebook source: {unknown}")

    missing = {c for c in chapters if not (executed / f"{c}.ipynb").is_file()}
    if missing and allow_missing:
        report(f"note: leaving out chapters not executed in this run: {', '.join(sorted(missing))}")
        present = [c for c in chapters if c not in missing]
    else:
        present = chapters
    problems = pipeline.verify_executed(present, executed, notebooks, root)
    if problems:
        raise PagesError("refusing to publish:\n  " + "\n  ".join(problems))

    runs = load_results(present, executed / "results")
    generated.mkdir(parents=True, exist_ok=True)
    (generated / "claims.md").write_text(claims_markdown(runs), encoding="utf-8")
    (generated / "runs.md").write_text(runs_markdown(runs), encoding="utf-8")
    versions = versions_markdown(runs, root / "requirements.txt")
    (generated / "versions.md").write_text(versions, encoding="utf-8")
    (generated / "api.md").write_text(api_markdown(root / "companion"), encoding="utf-8")
    toc_out = generated / "_toc.yml"
    toc_out.write_text(
        filtered_toc(toc_path, missing) if missing else toc_path.read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    if mathjax:
        install_mathjax(root / "book" / "_static" / "mathjax")
    return toc_out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--allow-missing", action="store_true", help="drop unexecuted chapters")
    ap.add_argument("--no-mathjax", action="store_true")
    args = ap.parse_args(argv)
    try:
        toc = prepare(allow_missing=args.allow_missing, mathjax=not args.no_mathjax)
    except (PagesError, pipeline.PipelineError) as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    print(f"book sources ready; table of contents: {toc.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
