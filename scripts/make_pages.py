"""Prepare the book sources right before ``jupyter-book build``.

1. Staleness guard: every chapter in ``_toc.yml`` must have an executed notebook whose stamp
   matches the current sources (``scripts/pipeline.py``); otherwise exit non-zero, naming it.
2. Generate ``book/_generated/`` (gitignored) from the fresh ``executed/results/*.json``:
   the claims dashboard (``claims.md``, included by the intro; filtered and sorted in the
   browser by ``book/_static/claims.js``), with each claim's stability over the committed
   ``ci`` seed sweep (``results/sweeps/ci/``) and its verdict in the committed ``full``-profile
   results (``results/full/``), each marked stale where the chapter changed since; the sweep
   page's body and figures (``sweeps.md``, ``sweeps/<notebook>.png``, included by
   ``book/sweeps.md``); the run tables and versions (``runs.md``, ``runs_full.md``,
   ``versions.md``, included by the reproducing page) and the API listing (``api.md``,
   included by the API page).
3. Copy MathJax 3.2.2 from the pinned PyPI package ``sphinx-mathjax-offline`` into
   ``book/_static/mathjax`` (gitignored), so the book needs no CDN.
4. Write the table of contents to use (``book/_generated/_toc.yml``): ``_toc.yml`` itself, or,
   with ``--allow-missing`` (``make book ONLY=..``), without the chapters not executed yet.

Usage: ``python scripts/make_pages.py [--allow-missing]``; prints the toc path to build with.
"""

from __future__ import annotations

import argparse
import dataclasses
import html
import json
import math
import re
import shutil
import sys
import textwrap
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pipeline  # noqa: E402

from companion.ledger import ANSWERS, CLAIM_KINDS, PAPERS, VERDICTS, format_measured  # noqa: E402

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


def badge(verdict: str, kind: str | None = None) -> str:
    """The verdict badge; for a ``question`` of ours it reads as the answer (yes / no /
    undecided), with the verdict in its tooltip."""
    cls, sym = BADGES.get(verdict, ("unknown", "·"))
    order = VERDICTS.index(verdict) if verdict in VERDICTS else len(VERDICTS)
    if kind == "question" and verdict in ANSWERS:
        return (
            f'<span class="verdict verdict-{cls}" data-sort="{order}" '
            f'title="answer to our question (verdict: {verdict})">{sym} {ANSWERS[verdict]}</span>'
        )
    return f'<span class="verdict verdict-{cls}" data-sort="{order}">{sym} {verdict}</span>'


def paper_ref(paper: str) -> str:
    key = PAPER_CITES.get(paper)
    if key is None:
        return "Foundations" if paper == "foundations" else _cell(paper)
    return f"{{cite:t}}`{key}`"


# --------------------------------------------------------------------------------------------
# Seed sweeps and full-profile results: loaded with whether they are still current
# --------------------------------------------------------------------------------------------

#: The profile whose committed seed sweep (``results/sweeps/<profile>/``) the book shows.
SWEEP_PROFILE = "ci"
#: Sort key of a missing verdict (after every verdict) in the dashboard's sortable cells.
NO_VERDICT_ORDER = len(VERDICTS) + 1


@dataclasses.dataclass
class Reference:
    """A committed seed sweep or full-profile result of one chapter.

    ``current`` is whether it was computed from the chapter as it is now: its recorded stamp
    equals the stamp of the current source with the parameters it records and the current
    ``companion`` package (:func:`pipeline.sweep_stamp` for a sweep, :func:`pipeline.stamp` for
    a full result). ``reason`` says why it is not.
    """

    name: str
    data: dict[str, Any]
    current: bool
    reason: str = ""

    def claims(self) -> dict[str, dict[str, Any]]:
        return {str(c["id"]): c for c in self.data.get("claims", [])}


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _source_text(notebooks: Path, name: str) -> str | None:
    src = notebooks / f"{name}.py"
    return src.read_text(encoding="utf-8") if src.is_file() else None


STALE_REASON = "the chapter's source, its parameters or the companion package changed since"


def sweep_reference(
    name: str, sweep: dict[str, Any], source_text: str | None, digest: str
) -> Reference:
    """The sweep with whether its stamp is the current sweep stamp of the chapter."""
    if source_text is None:
        return Reference(name, sweep, False, "the chapter has no source any more")
    params = dict(sweep.get("parameters") or {})
    expected = pipeline.sweep_stamp(source_text, params, digest)
    if sweep.get("stamp") != expected:
        return Reference(name, sweep, False, STALE_REASON)
    return Reference(name, sweep, True)


def full_reference(
    name: str, result: dict[str, Any], source_text: str | None, digest: str
) -> Reference:
    """The full-profile result with whether its recorded execution stamp is still current."""
    if result.get("profile") != "full":
        return Reference(name, result, False, f"it holds the {result.get('profile')!r} profile")
    if source_text is None:
        return Reference(name, result, False, "the chapter has no source any more")
    execution = result.get("execution") or {}
    if not execution.get("stamp"):
        return Reference(name, result, False, "it records no execution stamp")
    expected = pipeline.stamp(source_text, dict(execution.get("parameters") or {}), digest)
    if execution["stamp"] != expected:
        return Reference(name, result, False, STALE_REASON)
    return Reference(name, result, True)


def _load_references(
    names: Sequence[str],
    directory: Path,
    notebooks: Path,
    digest: str,
    build: Callable[[str, dict[str, Any], str | None, str], Reference],
) -> dict[str, Reference]:
    """``build`` applied to every committed ``directory/<name>.json`` of the chapters."""
    out = {}
    for name in names:
        data = _read_json(directory / f"{name}.json")
        if data is not None:
            out[name] = build(name, data, _source_text(notebooks, name), digest)
    return out


def load_sweeps(
    names: Sequence[str], sweeps_dir: Path, notebooks: Path, digest: str
) -> dict[str, Reference]:
    """The committed sweeps (``sweeps_dir/<name>.json``) of the chapters that have one."""
    return _load_references(names, sweeps_dir, notebooks, digest, sweep_reference)


def load_full(
    names: Sequence[str], full_dir: Path, notebooks: Path, digest: str
) -> dict[str, Reference]:
    """The committed full-profile results (``full_dir/<name>.json``) of the chapters."""
    return _load_references(names, full_dir, notebooks, digest, full_reference)


def verdict_counts(entry: dict[str, Any]) -> Counter[str]:
    """Verdict -> number of seeds, from a sweep claim (its ``counts``, else its ``verdicts``)."""
    counts = entry.get("counts")
    if isinstance(counts, dict):
        return Counter({str(k): int(v) for k, v in counts.items() if int(v)})
    return Counter(str(v) for v in entry.get("verdicts", []))


def stability_text(entry: dict[str, Any]) -> str:
    """``"10/10 supported"``, ``"6/10 supported, 4 inconclusive"``: the most frequent verdict
    over the total, then the others (ties in the order of the verdicts)."""
    counts = verdict_counts(entry)
    total = sum(counts.values())
    if not total:
        return "no seed"

    def rank(v: str) -> tuple[int, int, str]:
        return (-counts[v], VERDICTS.index(v) if v in VERDICTS else len(VERDICTS), v)

    ordered = sorted(counts, key=rank)
    first, rest = ordered[0], ordered[1:]
    return ", ".join([f"{counts[first]}/{total} {first}", *(f"{counts[v]} {v}" for v in rest)])


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


@dataclasses.dataclass
class _Context:
    """What the dashboard shows beside each claim's verdict: the committed sweeps and
    full-profile results by chapter, and the chapter of every claim (by object identity)."""

    sweeps: Mapping[str, Reference]
    full: Mapping[str, Reference]
    owner: dict[int, str]

    def chapter(self, c: dict[str, Any]) -> str:
        return self.owner.get(id(c), "")

    def sweep_entry(self, c: dict[str, Any]) -> tuple[Reference | None, dict[str, Any] | None]:
        ref = self.sweeps.get(self.chapter(c))
        return (ref, ref.claims().get(str(c["id"]))) if ref is not None else (None, None)

    def full_claim(self, c: dict[str, Any]) -> tuple[Reference | None, dict[str, Any] | None]:
        ref = self.full.get(self.chapter(c))
        return (ref, ref.claims().get(str(c["id"]))) if ref is not None else (None, None)


def _seeds_text(seeds: Sequence[Any]) -> str:
    ints = sorted(int(k) for k in seeds if isinstance(k, int))
    if not ints:
        return "no seed"
    if ints == list(range(ints[0], ints[-1] + 1)) and len(ints) > 2:
        return f"seeds {ints[0]}\u2013{ints[-1]}"
    return ("seed " if len(ints) == 1 else "seeds ") + ", ".join(map(str, ints))


def stability_cell(ref: Reference | None, entry: dict[str, Any] | None) -> str:
    """The claim's stability over the seeds of its chapter's committed ``ci`` sweep: "no sweep"
    when the sweep lacks it, marked *stale sweep* when the chapter changed since the sweep."""
    if ref is None or entry is None:
        return '<small class="claim-stability claim-stability-none">no sweep</small>'
    text = html.escape(stability_text(entry))
    seeds = _seeds_text(entry.get("seeds", []))
    if ref.current:
        return (
            f'<small class="claim-stability" title="verdicts over the {seeds} of the committed '
            f'{SWEEP_PROFILE} sweep">{text}</small>'
        )
    return (
        f'<small class="claim-stability claim-stability-stale" title="not current: '
        f'{_attr(ref.reason)}">stale sweep: {text}</small>'
    )


def full_cell(c: dict[str, Any], ref: Reference | None, fc: dict[str, Any] | None) -> str:
    """The verdict of the committed full-profile result ("—" without one), marked *stale* when
    the chapter changed since that run and flagged when it differs from this build's verdict."""
    if ref is None or fc is None:
        return (
            f'<span class="claim-full-none" data-sort="{NO_VERDICT_ORDER}" '
            'title="no full-profile result">\u2014</span>'
        )
    out = badge(str(fc.get("verdict")))
    if not ref.current:
        out += (
            f'<br><small class="claim-full-stale" title="not current: {_attr(ref.reason)}">'
            "stale</small>"
        )
    if fc.get("verdict") != c.get("verdict"):
        out += (
            '<br><small class="claim-disagree" title="the ci and full verdicts differ">'
            "\u26a0 differs from ci</small>"
        )
    return out


def _claim_row(c: dict[str, Any], second: str, ctx: _Context) -> str:
    ident = _cell(c["id"])
    link = f"{{ref}}`{ident} <{c['section']}>`" if c.get("section") else ident
    statement = _cell(c.get("claim"))
    if c.get("source"):
        statement += (
            f'<br><small class="claim-source">source: {_cell(html.escape(c["source"]))}</small>'
        )
    verdict = badge(c["verdict"], c.get("kind")) + "<br>" + stability_cell(*ctx.sweep_entry(c))
    return (
        f"| {_row_marker(c)}{link} | {second} | {statement} | {measured_cell(c)} "
        f"| {_cell(c.get('expected'))} | {verdict} | {full_cell(c, *ctx.full_claim(c))} |"
    )


def _claims_table(rows: list[str], header: str, extra_class: str) -> list[str]:
    # a backtick fence longer than the dropdown's, so that it nests inside one
    return [
        "````{table}",
        f":class: {' '.join(['claims-table', *extra_class.split()])}",
        "",
        header,
        "|:--|:--|:--|--:|:--|:--|:--|",
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


def disagreements(
    runs: Sequence[dict[str, Any]], full: Mapping[str, Reference]
) -> list[tuple[str, dict[str, Any], dict[str, Any], Reference]]:
    """(chapter, ci claim, full claim, full result) of every claim whose verdicts differ."""
    out = []
    for run in runs:
        ref = full.get(str(run.get("notebook")))
        if ref is None:
            continue
        fcs = ref.claims()
        for c in run.get("claims", []):
            fc = fcs.get(str(c["id"]))
            if fc is not None and fc.get("verdict") != c.get("verdict"):
                out.append((str(run["notebook"]), c, fc, ref))
    return out


def _names(names: Sequence[str]) -> str:
    return ", ".join(f"`{n}`" for n in names)


def _scale_summary(
    runs: Sequence[dict[str, Any]],
    sweeps: Mapping[str, Reference],
    full: Mapping[str, Reference],
) -> list[str]:
    """The header's paragraph on stability over seeds and the full profile."""
    names = [str(r["notebook"]) for r in runs]
    n = len(names)
    swept = [x for x in names if x in sweeps]
    stale_sweeps = [x for x in swept if not sweeps[x].current]
    if swept:
        sweep_text = (
            f"Stability over seeds (the {SWEEP_PROFILE} profile's committed seed sweeps, "
            f"{{doc}}`plotted per chapter <sweeps>`) is shown under each verdict for "
            f"{len(swept)} of the {_plural(n, 'chapter')}"
        )
        if stale_sweeps:
            sweep_text += (
                f"; **{len(stale_sweeps)} of these sweeps {'is' if len(stale_sweeps) == 1 else 'are'}"
                f" stale** ({_names(stale_sweeps)}: the chapter changed since the sweep), "
                "marked *stale sweep*"
            )
        missing = [x for x in names if x not in sweeps]
        if missing:
            sweep_text += f"; {_names(missing)} {'has' if len(missing) == 1 else 'have'} no sweep"
        sweep_text += "."
    else:
        sweep_text = (
            "No seed sweep is committed yet (`make sweep SEEDS=0-9` writes them to "
            f"`results/sweeps/{SWEEP_PROFILE}/`): every claim shows *no sweep*."
        )
    have_full = [x for x in names if x in full]
    stale_full = [x for x in have_full if not full[x].current]
    if have_full:
        full_text = (
            f"The *Full* column holds the verdicts of the committed `full`-profile results "
            f"(paper-scale parameters) for {len(have_full)} of the {_plural(n, 'chapter')}"
        )
        if stale_full:
            full_text += (
                f"; **{len(stale_full)} of these {'is' if len(stale_full) == 1 else 'are'} "
                f"stale** ({_names(stale_full)}: the chapter changed since that run), marked "
                "*stale*"
            )
        full_text += "."
        diff = disagreements(runs, full)
        if diff:
            ids = ", ".join(f"`{c['id']}`" for _, c, _, _ in diff)
            full_text += (
                f" **The ci and full verdicts disagree on {_plural(len(diff), 'claim')}** "
                f"({ids}), flagged \u26a0 in the *Full* column."
            )
        else:
            full_text += " The ci and full verdicts agree on every claim that both record."
    else:
        full_text = (
            "No `full`-profile result is committed yet (`results/full/`): the *Full* column "
            "shows \u2014."
        )
    return [f'- <span class="claims-scale"></span>{sweep_text}', f"- {full_text}", ""]


def _chapter_notes(run: dict[str, Any], ctx: _Context) -> list[str]:
    """A visible note for each stale sweep or full result of the chapter."""
    name = str(run["notebook"])
    doc = f"{{doc}}`../executed/{name}`"
    stale = []
    sweep = ctx.sweeps.get(name)
    if sweep is not None and not sweep.current:
        stale.append(
            f"The seed sweep of {doc} is **stale**: {sweep.reason}. Its stability is shown as "
            "*stale sweep*, not as current (rerun `make sweep ONLY="
            f"{name.split('_')[0]}` to refresh it)."
        )
    full = ctx.full.get(name)
    if full is not None and not full.current:
        stale.append(
            f"The full-profile result of {doc} is **stale**: {full.reason}. Its verdicts in "
            "the *Full* column are marked *stale* (rerun it with `make book PROFILE=full "
            f"ONLY={name.split('_')[0]}`)."
        )
    if not stale:
        return []
    return [
        ":::{admonition} Stale results",
        ":class: warning claims-stale",
        "",
        *(line + "\n" for line in stale),
        ":::",
        "",
    ]


def claims_markdown(
    runs: Sequence[dict[str, Any]],
    sweeps: Mapping[str, Reference] | None = None,
    full: Mapping[str, Reference] | None = None,
) -> str:
    """The claims dashboard (``claims.md``, included under the intro's dashboard heading).

    A header with the counts per kind (and per verdict within each kind), filter controls that
    ``book/_static/claims.js`` shows and drives, then one section per paper (the order of
    :data:`PAPER_ORDER`) with its coverage line and a table of its ``paper``, ``derived`` and
    ``question`` claims (and of claims recorded before kinds, as *unclassified*), then a
    collapsed section with every ``check``. Every table row starts with an empty
    ``span.claim-row`` whose ``data-paper``, ``data-kind`` and ``data-verdict`` the script
    copies onto the row; without JavaScript the tables are plain and complete.

    Beside each verdict: its stability over the seeds of the chapter's committed ``ci`` sweep
    (``sweeps``, from :func:`load_sweeps`; *no sweep* without one, *stale sweep* when the
    chapter changed since), and the verdict of the committed ``full``-profile result (``full``,
    from :func:`load_full`; "—" without one, *stale* when not current, flagged when it differs).
    """
    sweeps = sweeps or {}
    full = full or {}
    ctx = _Context(
        sweeps, full, {id(c): str(run["notebook"]) for run in runs for c in run.get("claims", [])}
    )
    claims = [c for run in runs for c in run.get("claims", [])]
    lines = ["<!-- generated by scripts/make_pages.py from executed/results/*.json -->", ""]
    if not claims:
        lines.append("*No claims have been recorded yet: no chapter has written its ledger.*")
        return "\n".join(lines) + "\n"
    lines += _summary_html(claims, runs)
    lines += _scale_summary(runs, sweeps, full)
    lines += _filter_form(claims)

    chapters_of: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        chapters_of.setdefault(_main_paper(run), []).append(run)
    papers = [p for p in PAPER_ORDER if p in {c["paper"] for c in claims} or p in chapters_of]
    papers += sorted({c["paper"] for c in claims} - set(PAPER_ORDER))
    checks = [c for c in claims if claim_kind(c) == "check"]
    header = "| Claim | Kind | Statement | Measured | Expected | Verdict | Full |"
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
        for run in chapters_of.get(paper, []):
            lines += _chapter_notes(run, ctx)
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
                [_claim_row(c, kind_badge(claim_kind(c)), ctx) for c in shown], header, ""
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
            [_claim_row(c, paper_ref(c["paper"]), ctx) for c in checks],
            "| Claim | Paper | Statement | Measured | Expected | Verdict | Full |",
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
        "it is and what it rests on (seeds, fit points, resamples, grid refinements). Under each "
        "verdict, its stability: how many seeds of the committed seed sweep gave each verdict "
        "({doc}`sweeps`). *Full*: the verdict of the same claim at the paper-scale parameters "
        "(the committed `full`-profile results, {doc}`reproducing`).",
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


def full_runs_markdown(full: Mapping[str, Reference], chapters: Sequence[str]) -> str:
    """The reproducing page's account of the committed ``full``-profile run: its date, the
    machine as the ledger records it (device and versions) and each chapter's wall time."""
    lines = ["<!-- generated by scripts/make_pages.py from results/full/*.json -->", ""]
    refs = [full[name] for name in chapters if name in full]
    if not refs:
        lines += [
            "*No full-profile run is committed yet* (`results/full/` holds no results). "
            "`make book PROFILE=full` runs it; `make update-results PROFILE=full` copies its "
            "results there, and `make check-results PROFILE=full` compares a later run with them."
        ]
        return "\n".join(lines) + "\n"
    dates = sorted(str(r.data.get("date", ""))[:16].replace("T", " ") for r in refs)
    dates = [d for d in dates if d]
    when = (
        "date not recorded"
        if not dates
        else dates[0] + " UTC"
        if dates[0][:10] == dates[-1][:10]
        else f"{dates[0]} to {dates[-1]} UTC"
    )
    devices = sorted({str(r.data.get("device", "?")) for r in refs})
    versions: dict[str, set[str]] = {}
    for r in refs:
        for k, v in (r.data.get("versions") or {}).items():
            versions.setdefault(str(k), set()).add(str(v))
    machine = sorted({_machine_text(r.data["machine"]) for r in refs if r.data.get("machine")})
    lines += [f"- **Run:** {_cell(when)} ({_plural(len(refs), 'chapter')})."]
    if machine:
        lines.append(f"- **Machine:** {_cell('; '.join(machine))}.")
    else:
        lines.append(
            "- **Machine:** not recorded by the ledger; it records the device and the versions: "
            f"device {_cell(', '.join(devices))}."
        )
    if versions:
        vers = ", ".join(f"{k} {', '.join(sorted(v))}" for k, v in versions.items())
        lines.append(f"- **Versions:** {_cell(vers)}.")
    stale = [r.name for r in refs if not r.current]
    if stale:
        lines.append(
            f"- **Stale:** {_names(stale)}: {STALE_REASON} this run; "
            f"{'its' if len(stale) == 1 else 'their'} full-profile verdicts are marked *stale* "
            "on the dashboard."
        )
    missing = [name for name in chapters if name not in full]
    if missing:
        lines.append(f"- **Not run at full scale yet:** {_names(missing)}.")
    lines += [
        "",
        "| Chapter | Device | Seed | Wall time | Peak memory | Claims | Run (UTC) | Current |",
        "|:--|:--|--:|--:|--:|--:|:--|:--|",
    ]
    for r in refs:
        d = r.data
        date = str(d.get("date", ""))[:16].replace("T", " ")
        lines.append(
            f"| {{doc}}`{_cell(d.get('title', r.name))} <../executed/{r.name}>` "
            f"| {_cell(d.get('device'))} | {_cell(d.get('seed'))} | {fmt_seconds(_wall(d))} "
            f"| {fmt_mb(d.get('peak_memory_mb'))} | {len(d.get('claims', []))} | {_cell(date)} "
            f"| {'yes' if r.current else '**stale**'} |"
        )
    total = sum(_wall(r.data) for r in refs)
    lines += [
        "",
        f"Sum of the chapters' wall times: {fmt_seconds(total)}"
        + (
            f" ({total / 3600:.1f} h)"
            if total >= 3600
            else f" ({total / 60:.0f} min)"
            if total >= 120
            else ""
        )
        + ". These results are the "
        "references of the `full` profile (`results/full/`): `make check-results PROFILE=full` "
        "compares a fresh full run with them.",
    ]
    return "\n".join(lines) + "\n"


def _machine_text(machine: Any) -> str:
    if isinstance(machine, dict):
        return ", ".join(f"{k} {v}" for k, v in machine.items() if v not in (None, ""))
    return str(machine)


# --------------------------------------------------------------------------------------------
# The sweep page: every claim's measured values across seeds against its criterion
# --------------------------------------------------------------------------------------------

#: Marker and colour of each verdict in the sweep figures (the badges' Okabe-Ito colours).
VERDICT_STYLE = {
    "supported": ("o", "#0072B2"),
    "inconclusive": ("D", "#E69F00"),
    "not reproduced": ("X", "#D55E00"),
}


def sweep_label(name: str) -> str:
    """MyST label of a chapter's section of the sweep page (``sweeps-03-s2n``)."""
    return "sweeps-" + re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()


def accepted_region(criterion: dict[str, Any] | None) -> tuple[float, float] | None:
    """The values a criterion accepts, ``(low, high)`` with infinite ends where open."""
    if not criterion:
        return None
    kind, params = criterion.get("kind"), criterion.get("params") or {}
    try:
        if kind == "at_most":
            return (-math.inf, float(params["value"]))
        if kind == "at_least":
            return (float(params["value"]), math.inf)
        if kind == "close_to":
            t, w = float(params["target"]), float(params["tol"])
            return (t - w, t + w)
        if kind == "in_range":
            return (float(params["low"]), float(params["high"]))
    except (KeyError, TypeError, ValueError):
        return None
    return None


def sweep_figure(sweep: dict[str, Any], path: Path) -> Path:
    """Small multiples, one panel per claim: the measured value of every seed (marker and
    colour by verdict) against the criterion's accepted region (shaded) and its bounds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    claims = list(sweep.get("claims", []))
    n = max(1, len(claims))
    ncols = 4 if n > 9 else min(3, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.0 * ncols, 2.5 * nrows + 0.5), squeeze=False)
    for ax in axes.flat[len(claims) :]:
        ax.set_visible(False)
    for ax, c in zip(axes.flat, claims, strict=False):
        _sweep_panel(ax, c)
    handles = [
        Line2D([], [], ls="", marker=m, color=col, label=v) for v, (m, col) in VERDICT_STYLE.items()
    ]
    handles.append(Patch(color="#009E73", alpha=0.18, label="accepted by the criterion"))
    fig.legend(handles=handles, loc="upper center", ncol=len(handles), frameon=False, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / (2.5 * nrows + 0.5)))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _sweep_panel(ax: Any, c: dict[str, Any]) -> None:
    seeds = list(c.get("seeds", []))
    values = [_float(x) for x in c.get("measured", [])]
    verdicts = [str(v) for v in c.get("verdicts", [])]
    pts = [
        (k, v, verdict)
        for k, v, verdict in zip(seeds, values, verdicts, strict=False)
        if v is not None
    ]
    region = accepted_region(c.get("criterion"))
    bounds = [b for b in (region or ()) if math.isfinite(b)]
    ys = [v for _, v, _ in pts]
    positive = [y for y in ys + bounds if y > 0]
    log = bool(ys) and len(positive) == len(ys) + len(bounds) and max(positive) / min(positive) > 10
    if log:
        ax.set_yscale("log")
    span = ys + bounds
    if span:
        lo, hi = min(span), max(span)
        if log:
            pad = (hi / lo) ** 0.08 if hi > lo else 3.0
            ax.set_ylim(lo / pad, hi * pad)
        else:
            pad = 0.08 * (hi - lo) if hi > lo else max(abs(hi) * 0.1, 1e-12)
            ax.set_ylim(lo - pad, hi + pad)
    if region is not None:
        y0, y1 = ax.get_ylim()
        ax.axhspan(max(region[0], y0), min(region[1], y1), color="#009E73", alpha=0.18, lw=0)
        for b in bounds:
            ax.axhline(b, color="#009E73", lw=0.8, ls="--")
    for verdict, (marker, colour) in VERDICT_STYLE.items():
        mine = [(k, v) for k, v, w in pts if w == verdict]
        if mine:
            ax.plot(*zip(*mine, strict=True), ls="", marker=marker, ms=5, color=colour)
    other = [(k, v) for k, v, w in pts if w not in VERDICT_STYLE]
    if other:
        ax.plot(*zip(*other, strict=True), ls="", marker="s", ms=4, color="#999999")
    if not pts:
        ax.text(0.5, 0.5, "no finite value", ha="center", va="center", transform=ax.transAxes)
    counts = textwrap.fill(stability_text(c), 34)
    ax.set_title(f"{c.get('id')}\n{counts}", fontsize=9, loc="left")
    ax.tick_params(labelsize=8)
    ax.set_xlabel("seed", fontsize=8)
    if seeds and all(isinstance(k, int) for k in seeds):
        ax.set_xticks(sorted(set(seeds))[:: max(1, math.ceil(len(set(seeds)) / 10))])


def _sweep_counts_table(sweep: dict[str, Any]) -> list[str]:
    lines = [
        "````{table}",
        ":class: sweeps-table",
        "",
        "| Claim | Kind | Expected | Seeds | Supported | Inconclusive | Not reproduced "
        "| Mean | SD |",
        "|:--|:--|:--|--:|--:|--:|--:|--:|--:|",
    ]
    for c in sweep.get("claims", []):
        counts = verdict_counts(c)
        ident = _cell(c.get("id"))
        link = f"{{ref}}`{ident} <{c['section']}>`" if c.get("section") else ident
        kind = c.get("kind") if c.get("kind") in CLAIM_KINDS else UNCLASSIFIED
        lines.append(
            f"| {link} | {_cell(KIND_LABELS[kind][0])} | {_cell(c.get('expected'))} "
            f"| {sum(counts.values())} | {counts['supported']} | {counts['inconclusive']} "
            f"| {counts['not reproduced']} | {_cell(_short(c.get('mean')))} "
            f"| {_cell(_short(c.get('sd')))} |"
        )
    return [*lines, "````"]


def _short(x: Any) -> str:
    v = _float(x)
    return "\u2014" if v is None else f"{v:.3g}"


def sweeps_markdown(
    sweeps: Mapping[str, Reference],
    chapters: Sequence[str],
    figures: Path,
    titles: Mapping[str, str] | None = None,
) -> str:
    """The sweep page's body (``sweeps.md``, included by ``book/sweeps.md``); writes one figure
    per chapter with a sweep into ``figures`` (a folder of ``book/_generated``)."""
    titles = titles or {}
    lines = [
        f"<!-- generated by scripts/make_pages.py from results/sweeps/{SWEEP_PROFILE}/*.json -->",
        "",
    ]
    if figures.exists():
        shutil.rmtree(figures)
    if not any(name in sweeps for name in chapters):
        lines += [
            f"*No seed sweep is committed yet* (`results/sweeps/{SWEEP_PROFILE}/` holds none). "
            "`make sweep SEEDS=0-9` runs every chapter for seeds 0 to 9 and writes them; the "
            "dashboard then shows each claim's stability and this page plots it.",
        ]
        return "\n".join(lines) + "\n"
    for name in chapters:
        ref = sweeps.get(name)
        title = str((ref.data.get("title") if ref else None) or titles.get(name) or name)
        lines += [f"({sweep_label(name)})=", f"## {_cell(title)}", ""]
        if ref is None:
            lines += [
                f"*No sweep of {{doc}}`../executed/{name}` is committed yet* "
                f"(`make sweep SEEDS=0-9 ONLY={name.split('_')[0]}`).",
                "",
            ]
            continue
        data = ref.data
        seeds = _seeds_text(data.get("seeds", []))
        params = ", ".join(f"{k}={v}" for k, v in (data.get("parameters") or {}).items())
        lines += [
            f"{{doc}}`../executed/{name}` over {_plural(len(data.get('seeds', [])), 'seed')} "
            f"({seeds}), parameters {_cell(params)}.",
            "",
        ]
        if not ref.current:
            lines += [
                ":::{admonition} Stale sweep",
                ":class: warning sweeps-stale",
                "",
                f"This sweep is **stale**: {ref.reason}. Its figures describe an earlier version "
                "of the chapter, not the current one; rerun `make sweep SEEDS=0-9 "
                f"ONLY={name.split('_')[0]}` to refresh it.",
                ":::",
                "",
            ]
        failures = data.get("failures") or []
        if failures:
            lines += [
                f"**{_plural(len(failures), 'run')} failed** and {'is' if len(failures) == 1 else 'are'}"
                " not counted: "
                + "; ".join(
                    f"seed {f.get('seed')}: {_cell(str(f.get('message', '')).splitlines()[0])}"
                    for f in failures
                )
                + ".",
                "",
            ]
        if data.get("claims"):
            png = figures / f"{name}.png"
            sweep_figure(data, png)
            rel = f"_generated/{figures.name}/{png.name}"
            lines += [
                f":::{{figure}} {rel}",
                f":name: {sweep_label(name)}-figure",
                ":width: 100%",
                f":alt: Measured value of each claim of {name} for every seed of the sweep, "
                "against the region its criterion accepts.",
                "",
                f"Each claim of {_cell(title)} ({'stale' if not ref.current else 'current'} "
                f"sweep, {seeds}): the measured value of every seed, its marker and colour the "
                "verdict of that seed, against the region the claim's criterion accepts (shaded "
                "green, its bounds dashed). A point can lie inside the region and still be "
                "*inconclusive*: the verdict asks the whole interval of the measurement, not the "
                "point, to satisfy the criterion. Panel titles give the verdict counts; "
                "logarithmic axes where the values span more than a decade.",
                ":::",
                "",
            ]
            lines += [*_sweep_counts_table(data), ""]
        else:
            lines += ["*The sweep recorded no claim (every run failed).*", ""]
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
    digest = pipeline.package_digest(root)
    sweeps = load_sweeps(present, root / "results" / "sweeps" / SWEEP_PROFILE, notebooks, digest)
    full = load_full(present, root / "results" / "full", notebooks, digest)
    generated.mkdir(parents=True, exist_ok=True)
    (generated / "claims.md").write_text(claims_markdown(runs, sweeps, full), encoding="utf-8")
    (generated / "runs.md").write_text(runs_markdown(runs), encoding="utf-8")
    (generated / "runs_full.md").write_text(full_runs_markdown(full, present), encoding="utf-8")
    titles = {str(r["notebook"]): str(r.get("title", r["notebook"])) for r in runs}
    (generated / "sweeps.md").write_text(
        sweeps_markdown(sweeps, present, generated / "sweeps", titles), encoding="utf-8"
    )
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
