"""Parameter profiles for notebooks: ``ci`` (minutes on 2 CPU cores) and ``full`` (paper scale).

A notebook's ``parameters`` cell sets ``profile`` and optional overrides (``None`` means "take
the profile's value"); :func:`resolve` merges them and rejects unknown names.
"""

from __future__ import annotations

import os
import random
from typing import Any

import numpy as np
import torch

from ._checks import check_in

__all__ = ["PROFILES", "resolve", "seed_everything", "get_device"]

PROFILES = ("ci", "full")


def resolve(
    profile: str, ci: dict[str, Any], full: dict[str, Any], **overrides: Any
) -> dict[str, Any]:
    """Settings of ``profile`` with non-``None`` ``overrides`` applied.

    Raises:
        ValueError: unknown profile, differing keys between profiles, or an unknown override.
    """
    check_in("profile", profile, PROFILES)
    if set(ci) != set(full):
        raise ValueError(f"profiles define different settings: {sorted(set(ci) ^ set(full))}")
    settings = dict(ci if profile == "ci" else full)
    for key, value in overrides.items():
        if key not in settings:
            raise ValueError(f"unknown setting {key!r}; known: {sorted(settings)}")
        if value is not None:
            settings[key] = value
    return settings


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return a CPU ``torch.Generator`` seeded with ``seed``."""
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 (seeds the legacy global generator on purpose)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def get_device(device: str | None = None) -> torch.device:
    """``device`` if given, else ``$DEVICE``, else CPU. Asking for CUDA without one is an error."""
    name = device or os.environ.get("DEVICE", "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available")
    return dev
