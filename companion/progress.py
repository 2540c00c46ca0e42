"""Progress bars (tqdm) that stay quiet in CI and in headless notebook runs.

Set ``COMPANION_PROGRESS=0`` (the Makefile does so for headless execution) to silence every bar;
``disable=True/False`` on a call overrides the environment.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

__all__ = ["progress", "progress_enabled"]

T = TypeVar("T")


def progress_enabled(disable: bool | None = None) -> bool:
    """Whether progress bars are shown: ``not disable`` if given, else the environment decides."""
    if disable is not None:
        return not disable
    return os.environ.get("COMPANION_PROGRESS", "1").lower() not in {"0", "false", "no", "off"}


def progress(
    iterable: Iterable[T],
    desc: str | None = None,
    disable: bool | None = None,
    total: int | None = None,
) -> Iterator[T]:
    """Wrap ``iterable`` in a tqdm bar unless progress is disabled."""
    if not progress_enabled(disable):
        yield from iterable
        return
    yield from tqdm(iterable, desc=desc, total=total, leave=False, dynamic_ncols=True)
