"""Build the book once per test session (shared by tests/test_book.py and tests/test_browser.py).

``make test`` builds the book before running the tests marked ``book`` and sets
``COMPANION_BOOK_BUILT=1``; the tests then inspect that build. Run on their own (``pytest -m
book``), they build it first with ``make book``, so they never pass on a stale or missing book.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"
_built: Path | None = None


def ensure_book_built() -> Path:
    """Path of the built HTML book, building it with ``make book`` if needed."""
    global _built
    if _built is not None:
        return _built
    if os.environ.get("COMPANION_BOOK_BUILT") != "1":
        proc = subprocess.run(
            ["make", "--no-print-directory", "book"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise AssertionError(
                "make book failed:\n" + proc.stdout[-4000:] + "\n" + proc.stderr[-4000:]
            )
    if not (HTML / "index.html").is_file():
        raise AssertionError(f"no built book at {HTML} (run `make book`)")
    _built = HTML
    return HTML
