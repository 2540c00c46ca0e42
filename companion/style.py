"""One figure style for every chapter: seaborn theme, colour-blind palette, consistent sizes.

Call :func:`use_style` once at the top of a notebook; make figures with :func:`figure` so they
fit the book's text width (about 7 inches) and stay readable.
"""

from __future__ import annotations

from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt
import seaborn as sns

__all__ = ["use_style", "figure", "PALETTE", "WIDTH", "method_colors"]

WIDTH = 7.0  # inches: the book's text width
PALETTE = sns.color_palette("colorblind")


def use_style() -> None:
    """Apply the book's theme (seaborn ``ticks``, colour-blind palette, readable font sizes)."""
    sns.set_theme(context="notebook", style="ticks", palette="colorblind", font_scale=0.95)
    mpl.rcParams.update(
        {
            "figure.dpi": 110,
            "savefig.dpi": 150,
            "figure.constrained_layout.use": True,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "legend.frameon": False,
            "lines.linewidth": 1.8,
            "lines.markersize": 5,
        }
    )


def figure(ncols: int = 1, nrows: int = 1, height: float = 2.8, **kw: Any) -> tuple[Any, Any]:
    """A figure of the book's width with ``nrows x ncols`` axes (``height`` inches per row)."""
    if ncols < 1 or nrows < 1:
        raise ValueError(f"ncols and nrows must be >= 1, got {ncols} and {nrows}")
    fig, axes = plt.subplots(nrows, ncols, figsize=(WIDTH, height * nrows), squeeze=False, **kw)
    return fig, (
        axes[0, 0] if ncols == nrows == 1 else axes.ravel() if min(ncols, nrows) == 1 else axes
    )


def method_colors(names: list[str]) -> dict[str, tuple[float, float, float]]:
    """A stable colour for each method name, from the colour-blind palette."""
    return {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(names)}
