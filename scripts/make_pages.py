"""Prepare the book sources right before ``jupyter-book build``.

1. Staleness guard: every chapter in ``_toc.yml`` must have an executed notebook whose stamp
   matches the current sources (``scripts/pipeline.py``); otherwise exit non-zero, naming it.
2. Generate ``book/_generated/`` (gitignored) from the fresh ``executed/results/*.json``:
   the claims dashboard (``claims.md``, included by the intro), the run table and versions
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
import json
import re
import shutil
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pipeline  # noqa: E402

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


def _num(x: Any) -> str:
    if x is None:
        return ""
    if isinstance(x, str):
        return x
    return f"{x:.4g}"


def badge(verdict: str) -> str:
    cls, sym = BADGES.get(verdict, ("unknown", "·"))
    return f'<span class="verdict verdict-{cls}">{sym} {verdict}</span>'


def paper_ref(paper: str) -> str:
    key = PAPER_CITES.get(paper)
    if key is None:
        return "Foundations" if paper == "foundations" else _cell(paper)
    return f"{{cite:t}}`{key}`"


def claims_markdown(runs: Sequence[dict[str, Any]]) -> str:
    """The claims dashboard: counts per verdict, then one row per claim."""
    claims = [(run, c) for run in runs for c in run.get("claims", [])]
    lines = ["<!-- generated by scripts/make_pages.py from executed/results/*.json -->", ""]
    if not claims:
        lines.append("*No claims have been recorded yet: no chapter has written its ledger.*")
        return "\n".join(lines) + "\n"
    counts = Counter(c["verdict"] for _, c in claims)
    summary = " ".join(
        f'{badge(v)}&nbsp;<span class="verdict-count">{counts.get(v, 0)}</span>' for v in BADGES
    )
    profiles = sorted({run.get("profile", "?") for run, _ in claims})
    lines += [
        '<div class="claims-summary">',
        f"<strong>{len(claims)} claims</strong> from {len(runs)} chapter(s), "
        f"profile {', '.join(profiles)}: {summary}",
        "</div>",
        "",
        "| Claim | Statement | Measured | Expected | Verdict | Run |",
        "|:--|:--|--:|:--|:--|:--|",
    ]
    for run, c in claims:
        measured = _num(c.get("measured"))
        if c.get("uncertainty") is not None:
            measured += f" ± {_num(c['uncertainty'])}"
        if c.get("uncertainty_kind"):
            measured += f" <br><small>{_cell(c['uncertainty_kind'])}</small>"
        ident = _cell(c["id"])
        link = f"{{ref}}`{ident} <{c['section']}>`" if c.get("section") else ident
        date = str(run.get("date", ""))[:10]
        lines.append(
            f"| {link}<br>{paper_ref(c['paper'])} | {_cell(c['claim'])} | {measured} "
            f"| {_cell(c.get('expected'))} | {badge(c['verdict'])} "
            f"| {_cell(run.get('profile'))}<br>{date} |"
        )
    lines += [
        "",
        "Verdicts are computed by code from the measured value ± its uncertainty: *supported* "
        "when the whole interval satisfies the expectation, *not reproduced* when none of it "
        "does, *inconclusive* when it straddles the boundary.",
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
