"""Publish the built book to the ``gh-pages`` branch of a git remote, the way Jupyter Book
documents it (``ghp-import``), refusing a stale or failed build.

``make html`` calls ``publish.py --mark _build/html`` after a successful strict build and
offline check: it writes ``_build/html/.companion-build.json`` with the stamps of the executed
notebooks the book was built from. ``make publish`` calls ``publish.py --remote origin
_build/html``, which refuses to publish when that marker is missing (the build failed or did
not finish) or when a notebook is stale (its source, parameters or the package changed since
it ran, see ``scripts/pipeline.py``), and otherwise commits the HTML to ``gh-pages`` (with a
``.nojekyll``) and pushes it.

Usage: ``python scripts/publish.py [--mark] [--remote NAME] [--branch gh-pages] HTML_DIR``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pipeline  # noqa: E402

MARKER = ".companion-build.json"


class PublishError(RuntimeError):
    pass


def executed_stamps(executed: Path) -> dict[str, str]:
    """Stamp of every executed notebook under ``executed`` (name -> stamp)."""
    import nbformat

    out = {}
    for p in sorted(executed.glob("*.ipynb")):
        if p.name.endswith(".failed.ipynb") or p.name.startswith("."):
            continue
        meta = nbformat.read(p, as_version=4).metadata.get("companion", {})
        if "stamp" in meta:
            out[p.stem] = meta["stamp"]
    return out


def mark(html: Path, executed: Path = pipeline.EXECUTED) -> Path:
    """Record that ``html`` was built successfully from the executed notebooks' current state."""
    if not (html / "index.html").is_file():
        raise PublishError(f"{html} holds no index.html: the build did not finish")
    path = html / MARKER
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    path.write_text(
        json.dumps({"notebooks": executed_stamps(executed), "commit": commit}, indent=2) + "\n",
        encoding="utf-8",
    )
    return path


def check(html: Path, executed: Path = pipeline.EXECUTED, root: Path = pipeline.ROOT) -> list[str]:
    """Reasons not to publish ``html`` (empty if it may be published)."""
    marker = html / MARKER
    if not marker.is_file():
        return [f"{html}: no successful build recorded ({MARKER} missing); run `make book`"]
    built = json.loads(marker.read_text(encoding="utf-8")).get("notebooks", {})
    if not built:
        return [f"{html}: the build holds no executed chapter"]
    problems = pipeline.verify_executed(
        built, out_dir=executed, notebooks_dir=root / "notebooks", root=root
    )
    now = executed_stamps(executed)
    for name, st in built.items():
        if now.get(name) != st:
            problems.append(f"{name}: executed again since the book was built; run `make html`")
    return problems


def publish(html: Path, remote: str = "origin", branch: str = "gh-pages", **kw: object) -> None:
    """Commit ``html`` to ``branch`` and push it to ``remote`` (after :func:`check`)."""
    import ghp_import

    problems = check(html, **kw)  # type: ignore[arg-type]
    if problems:
        raise PublishError("refusing to publish:\n  " + "\n  ".join(problems))
    ghp_import.ghp_import(
        str(html),
        remote=remote,
        branch=branch,
        mesg="Publish the book",
        push=True,
        force=True,
        nojekyll=True,
    )


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("html", type=Path)
    ap.add_argument("--mark", action="store_true", help="record a successful build")
    ap.add_argument("--remote", default="origin")
    ap.add_argument("--branch", default="gh-pages")
    args = ap.parse_args(argv)
    try:
        if args.mark:
            mark(args.html)
        else:
            publish(args.html, args.remote, args.branch)
            print(f"published {args.html} to {args.remote} {args.branch}")
    except PublishError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
