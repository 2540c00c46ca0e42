"""Strip outputs, execution counts and run metadata from .ipynb files (pre-commit hook).

Usage: ``python scripts/strip_outputs.py FILE.ipynb ...``; exits 1 if it changed a file, so
pre-commit shows the change, like nbstripout.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import nbformat


def strip(path: Path) -> bool:
    """Strip ``path`` in place; return whether it changed."""
    before = path.read_text(encoding="utf-8")
    nb = nbformat.reads(before, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        for key in ("execution", "papermill", "collapsed", "scrolled"):
            cell.metadata.pop(key, None)
    for key in ("papermill", "widgets", "companion"):
        nb.metadata.pop(key, None)
    after = nbformat.writes(nb) + "\n"
    if after != before:
        path.write_text(after, encoding="utf-8")
        return True
    return False


def main(argv: Sequence[str] | None = None) -> int:
    changed = [p for p in (argv if argv is not None else sys.argv[1:]) if strip(Path(p))]
    for p in changed:
        print(f"stripped outputs from {p}")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
