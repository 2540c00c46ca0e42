"""Argument checks shared by the public API (one validation idiom).

Each helper raises :class:`ValueError` or :class:`TypeError` whose message names the
argument, the offending value and what was expected.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = [
    "check_positive",
    "check_nonnegative",
    "check_in",
    "check_finite",
    "check_decreasing_sigmas",
    "as_float64",
]


def check_positive(name: str, value: float) -> float:
    """Return ``value`` as a float, or raise if it is not a finite number > 0."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {value!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return v


def check_nonnegative(name: str, value: float) -> float:
    """Return ``value`` as a float, or raise if it is not a finite number >= 0."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {value!r}") from None
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return v


def check_in(name: str, value: str, allowed: Sequence[str]) -> str:
    """Raise if ``value`` is not one of ``allowed``."""
    if value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; expected one of {sorted(allowed)}")
    return value


def check_finite(name: str, x: Tensor) -> Tensor:
    """Raise if tensor ``x`` holds NaN or infinite entries."""
    if not torch.isfinite(x).all():
        bad = int((~torch.isfinite(x)).sum())
        raise ValueError(f"{name} must be finite; it has {bad} non-finite entries")
    return x


def check_decreasing_sigmas(sigmas: Tensor) -> Tensor:
    """Validate a noise-level grid for a sampler: 1-D, >= 2 entries, finite, >= 0, strictly decreasing."""
    if not isinstance(sigmas, Tensor):
        raise TypeError(f"sigmas must be a torch.Tensor, got {type(sigmas).__name__}")
    if sigmas.ndim != 1 or sigmas.numel() < 2:
        raise ValueError(
            f"sigmas must be 1-D with at least 2 entries, got shape {tuple(sigmas.shape)}"
        )
    check_finite("sigmas", sigmas)
    if (sigmas < 0).any():
        raise ValueError(f"sigmas must be >= 0, got min {float(sigmas.min()):.3g}")
    if not (sigmas[1:] < sigmas[:-1]).all():
        i = int(torch.nonzero(sigmas[1:] >= sigmas[:-1])[0])
        raise ValueError(
            "sigmas must be strictly decreasing (samplers run from noise to data); "
            f"sigmas[{i}]={float(sigmas[i]):.6g} <= sigmas[{i + 1}]={float(sigmas[i + 1]):.6g}"
        )
    return sigmas


def as_float64(
    x: Tensor | float | Sequence[float], device: torch.device | str | None = None
) -> Tensor:
    """Convert ``x`` to a float64 tensor (on ``device`` if given)."""
    return torch.as_tensor(x, dtype=torch.float64, device=device)
