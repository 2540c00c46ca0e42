"""Claims ledger: record what a notebook measured and let code decide the verdict.

A notebook creates one :class:`Ledger` and calls :meth:`Ledger.record` once per claim::

    from companion.ledger import Ledger, at_most

    ledger = Ledger("00_foundations", title="Foundations", profile=profile, seed=seed,
                    device=device)
    ledger.record("F1", paper="foundations",
                  claim="closed-form score equals autograd of the log-density",
                  measured=err, expect=at_most(1e-10), section="f-score")
    ledger.table()

The verdict is computed from the interval ``measured ± uncertainty`` and the criterion:

* ``"supported"`` if every value of the interval satisfies the criterion,
* ``"not reproduced"`` if no value of the interval satisfies it,
* ``"inconclusive"`` if the interval straddles the boundary.

A non-finite measurement is always ``"not reproduced"``. A non-finite uncertainty means the
measurement bounds nothing, so a finite measurement with it is ``"inconclusive"``.

After every record the ledger is written as JSON to ``<results dir>/<name>.json``, where the
results directory is ``$COMPANION_RESULTS_DIR`` if set, else ``<repository>/executed/results``.
The book's claims dashboard and the CI results regression read these files.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import numbers
import os
import platform
import re
import resource
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "PAPERS",
    "VERDICTS",
    "Criterion",
    "Ledger",
    "at_least",
    "at_most",
    "close_to",
    "default_results_dir",
    "format_measured",
    "in_range",
    "verdict",
]

#: Paper identifiers accepted by :meth:`Ledger.record` (arXiv ids, plus ``"foundations"``
#: for claims about the shared setting that every chapter relies on).
PAPERS: dict[str, str] = {
    "foundations": "Foundations (shared setting)",
    "2601.21242": "Sun et al. 2026, SignReLU ratio approximation",
    "2604.13470": "Jahara et al. 2026, Gaussian-mixture reverse kernels",
    "2408.04221": "Doan et al. 2024, connective viewpoints of S2N diffusion",
    "2406.12839": "Wang, He, Tao 2024, design space of diffusion models",
}

#: The three possible verdicts, in display order.
VERDICTS: tuple[str, ...] = ("supported", "inconclusive", "not reproduced")

PROFILES: tuple[str, ...] = ("ci", "full")

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")

#: Environment variable that overrides where results are written.
RESULTS_ENV = "COMPANION_RESULTS_DIR"
#: Environment variable set by the book's executor: the notebook being executed. When set,
#: the ledger name must match it, so that results land next to the right chapter.
NOTEBOOK_ENV = "COMPANION_NOTEBOOK"


# --------------------------------------------------------------------------------------------
# Criteria
# --------------------------------------------------------------------------------------------


def _fmt(x: float) -> str:
    """Short human form of a number (3 significant digits)."""
    return f"{x:.3g}"


def _real(value: Any, name: str) -> float:
    """Convert a real scalar (python, numpy or 0-d torch) to float; reject anything else."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    if isinstance(value, numbers.Real):
        return float(value)
    item = getattr(value, "item", None)
    if callable(item):
        try:
            out = item()
        except (ValueError, RuntimeError) as exc:  # e.g. an array with more than one element
            raise ValueError(f"{name} must be a scalar, got {value!r}") from exc
        if isinstance(out, numbers.Real) and not isinstance(out, bool):
            return float(out)
    raise ValueError(f"{name} must be a real number, got {value!r} of type {type(value).__name__}")


def _finite(value: Any, name: str) -> float:
    x = _real(value, name)
    if not math.isfinite(x):
        raise ValueError(f"{name} must be finite, got {x!r}")
    return x


@dataclass(frozen=True)
class Criterion:
    """What a measured value must satisfy, as an accepted interval ``[low, high]``.

    Build criteria with :func:`at_most`, :func:`at_least`, :func:`close_to` or
    :func:`in_range` rather than directly.
    """

    kind: str
    params: dict[str, float] = field(default_factory=dict)

    @property
    def bounds(self) -> tuple[float, float]:
        """The accepted set as a closed interval (infinite ends allowed)."""
        p = self.params
        if self.kind == "at_most":
            return (-math.inf, p["value"])
        if self.kind == "at_least":
            return (p["value"], math.inf)
        if self.kind == "close_to":
            return (p["target"] - p["tol"], p["target"] + p["tol"])
        if self.kind == "in_range":
            return (p["low"], p["high"])
        raise ValueError(f"unknown criterion kind {self.kind!r}")

    @property
    def text(self) -> str:
        """Human form of the criterion, e.g. ``"≤ 1e-10"``."""
        p = self.params
        if self.kind == "at_most":
            return f"≤ {_fmt(p['value'])}"
        if self.kind == "at_least":
            return f"≥ {_fmt(p['value'])}"
        if self.kind == "close_to":
            return f"{_fmt(p['target'])} ± {_fmt(p['tol'])}"
        if self.kind == "in_range":
            return f"in [{_fmt(p['low'])}, {_fmt(p['high'])}]"
        raise ValueError(f"unknown criterion kind {self.kind!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "params": dict(self.params)}


def at_most(value: float) -> Criterion:
    """Criterion ``measured <= value``."""
    return Criterion("at_most", {"value": _finite(value, "value")})


def at_least(value: float) -> Criterion:
    """Criterion ``measured >= value``."""
    return Criterion("at_least", {"value": _finite(value, "value")})


def close_to(target: float, tol: float) -> Criterion:
    """Criterion ``|measured - target| <= tol`` (absolute tolerance ``tol >= 0``)."""
    t = _finite(target, "target")
    w = _finite(tol, "tol")
    if w < 0:
        raise ValueError(f"tol must be >= 0, got {w!r}")
    return Criterion("close_to", {"target": t, "tol": w})


def in_range(low: float, high: float) -> Criterion:
    """Criterion ``low <= measured <= high``."""
    lo = _finite(low, "low")
    hi = _finite(high, "high")
    if lo > hi:
        raise ValueError(f"low must be <= high, got low={lo!r}, high={hi!r}")
    return Criterion("in_range", {"low": lo, "high": hi})


def verdict(measured: float, uncertainty: float | None, criterion: Criterion) -> str:
    """Verdict of ``measured ± uncertainty`` against ``criterion``.

    Returns one of :data:`VERDICTS`. See the module docstring for the rule.
    """
    if not isinstance(criterion, Criterion):
        raise ValueError(f"criterion must be a Criterion, got {criterion!r}")
    m = float(measured)
    if not math.isfinite(m):
        return "not reproduced"
    u = 0.0 if uncertainty is None else float(uncertainty)
    if math.isnan(u) or math.isinf(u):
        return "inconclusive"
    lo, hi = m - u, m + u
    a, b = criterion.bounds
    if a <= lo and hi <= b:
        return "supported"
    if hi < a or lo > b:
        return "not reproduced"
    return "inconclusive"


# --------------------------------------------------------------------------------------------
# Ledger
# --------------------------------------------------------------------------------------------


def _repo_root() -> Path | None:
    """The repository this package lives in (editable install), if it can be found."""
    here = Path(__file__).resolve().parent.parent
    if (here / "pyproject.toml").is_file() and (here / "companion").is_dir():
        return here
    for cand in [Path.cwd(), *Path.cwd().parents]:
        if (cand / "pyproject.toml").is_file() and (cand / "companion").is_dir():
            return cand
    return None


def default_results_dir() -> Path:
    """``$COMPANION_RESULTS_DIR`` if set, else ``<repository>/executed/results``."""
    env = os.environ.get(RESULTS_ENV)
    if env:
        return Path(env)
    root = _repo_root()
    return (root if root is not None else Path.cwd()) / "executed" / "results"


def _json_number(x: float | None) -> float | str | None:
    """A float as JSON-safe value: non-finite numbers become the strings 'nan', 'inf', '-inf'."""
    if x is None:
        return None
    return x if math.isfinite(x) else str(x)


def _peak_memory_mb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return rss / (1024.0 * 1024.0) if sys.platform == "darwin" else rss / 1024.0


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _versions() -> dict[str, str | None]:
    return {
        "python": platform.python_version(),
        "torch": _version("torch"),
        "numpy": _version("numpy"),
        "scipy": _version("scipy"),
        "companion": _version("diffusion-companion"),
    }


class Ledger:
    """The claims of one notebook, saved as JSON after every record.

    Parameters
    ----------
    name:
        Notebook name, e.g. ``"00_foundations"``; the file is ``<results_dir>/<name>.json``.
    title:
        Chapter title shown in the dashboard.
    profile:
        ``"ci"`` or ``"full"``.
    seed:
        The notebook's seed (an int).
    device:
        The torch device the notebook ran on, e.g. ``"cpu"`` or ``"cuda"``.
    results_dir:
        Where to write; default :func:`default_results_dir`.
    """

    name: str
    title: str
    profile: str
    seed: int
    device: str
    results_dir: Path
    _t0: float
    _date: str
    _claims: list[dict[str, Any]]

    def __init__(
        self,
        name: str,
        *,
        title: str | None = None,
        profile: str = "ci",
        seed: int = 0,
        device: str = "cpu",
        results_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise ValueError(
                f"name must be a file-name-safe string like '00_foundations', got {name!r}"
            )
        expected = os.environ.get(NOTEBOOK_ENV)
        if expected and name != expected:
            raise ValueError(
                f"name must match the notebook being executed ({expected!r}), got {name!r}"
            )
        if title is not None and not isinstance(title, str):
            raise ValueError(f"title must be a string, got {title!r}")
        if profile not in PROFILES:
            raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise ValueError(f"seed must be an int, got {seed!r}")
        if not isinstance(device, str) or not device:
            raise ValueError(f"device must be a non-empty string like 'cpu', got {device!r}")
        self.name = name
        self.title = title if title is not None else name
        self.profile = profile
        self.seed = int(seed)
        self.device = device
        self.results_dir = Path(results_dir) if results_dir is not None else default_results_dir()
        self._t0 = time.perf_counter()
        self._date = _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat()
        self._claims = []

    @property
    def path(self) -> Path:
        """The JSON file this ledger writes."""
        return self.results_dir / f"{self.name}.json"

    @property
    def claims(self) -> list[dict[str, Any]]:
        """Copies of the recorded claims, in recording order."""
        return [dict(c) for c in self._claims]

    def record(
        self,
        id: str,
        *,
        paper: str,
        claim: str,
        measured: float,
        expect: Criterion,
        uncertainty: float | None = None,
        uncertainty_kind: str | None = None,
        section: str | None = None,
        rtol: float = 1e-6,
        atol: float = 1e-12,
    ) -> dict[str, Any]:
        """Record one claim, compute its verdict, save the ledger and return the record.

        Parameters
        ----------
        id:
            Claim id, unique within the notebook (e.g. ``"F1"``).
        paper:
            One of :data:`PAPERS` (an arXiv id or ``"foundations"``).
        claim:
            The statement being checked, in one sentence.
        measured:
            The number computed by the notebook (float, numpy or 0-d torch scalar).
        expect:
            The criterion (:func:`at_most`, :func:`at_least`, :func:`close_to`,
            :func:`in_range`).
        uncertainty:
            Half-width of the error bar, ``>= 0``; ``None`` for an exact computation.
        uncertainty_kind:
            How the error bar was obtained, e.g. ``"bootstrap 95% CI"``. Required with an
            uncertainty.
        section:
            The MyST label of the section that measures the claim (for the dashboard link).
        rtol, atol:
            Tolerances of the CI results regression: a fresh value ``x`` matches the reference
            ``r`` when ``|x - r| <= atol + rtol * |r|``.
        """
        if not isinstance(id, str) or not _NAME_RE.match(id):
            raise ValueError(f"id must be a non-empty string without spaces, got {id!r}")
        if any(c["id"] == id for c in self._claims):
            raise ValueError(f"id {id!r} is already recorded in ledger {self.name!r}")
        if paper not in PAPERS:
            raise ValueError(f"paper must be one of {sorted(PAPERS)}, got {paper!r}")
        if not isinstance(claim, str) or not claim.strip():
            raise ValueError(f"claim must be a non-empty string, got {claim!r}")
        if not isinstance(expect, Criterion):
            raise ValueError(
                "expect must be a criterion built with at_most, at_least, close_to or "
                f"in_range, got {expect!r}"
            )
        m = _real(measured, "measured")
        u: float | None = None
        if uncertainty is not None:
            u = _real(uncertainty, "uncertainty")
            if u < 0:
                raise ValueError(f"uncertainty must be >= 0, got {u!r}")
            if uncertainty_kind is None:
                raise ValueError(
                    "uncertainty_kind must say how the uncertainty was obtained "
                    "(e.g. 'bootstrap 95% CI') when uncertainty is given"
                )
        if uncertainty_kind is not None and (
            not isinstance(uncertainty_kind, str) or not uncertainty_kind.strip()
        ):
            raise ValueError(
                f"uncertainty_kind must be a non-empty string, got {uncertainty_kind!r}"
            )
        if section is not None and (not isinstance(section, str) or not _LABEL_RE.match(section)):
            raise ValueError(f"section must be a MyST label like 'f-score', got {section!r}")
        r = _finite(rtol, "rtol")
        a = _finite(atol, "atol")
        if r < 0:
            raise ValueError(f"rtol must be >= 0, got {r!r}")
        if a < 0:
            raise ValueError(f"atol must be >= 0, got {a!r}")

        rec: dict[str, Any] = {
            "id": id,
            "paper": paper,
            "claim": claim.strip(),
            "section": section,
            "measured": _json_number(m),
            "uncertainty": _json_number(u),
            "uncertainty_kind": uncertainty_kind,
            "expected": expect.text,
            "criterion": expect.to_dict(),
            "verdict": verdict(m, u, expect),
            "rtol": r,
            "atol": a,
        }
        self._claims.append(rec)
        self.save()
        return dict(rec)

    def to_dict(self) -> dict[str, Any]:
        """The ledger as the JSON-ready mapping that :meth:`save` writes."""
        return {
            "notebook": self.name,
            "title": self.title,
            "profile": self.profile,
            "seed": self.seed,
            "device": self.device,
            "date": self._date,
            "runtime_s": round(time.perf_counter() - self._t0, 3),
            "peak_memory_mb": round(_peak_memory_mb(), 1),
            "versions": _versions(),
            "claims": self.claims,
        }

    def save(self) -> Path:
        """Write the ledger to :attr:`path` (atomically) and return the path."""
        self.results_dir.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False, allow_nan=False)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(text + "\n", encoding="utf-8")
        os.replace(tmp, self.path)
        return self.path

    def table(self) -> pd.DataFrame:
        """The verdict table: one row per claim, values formatted for reading."""
        import pandas as pd

        rows = []
        for c in self._claims:
            rows.append(
                {
                    "id": c["id"],
                    "paper": c["paper"],
                    "claim": c["claim"],
                    "measured": format_measured(c["measured"], c["uncertainty"]),
                    "expected": c["expected"],
                    "verdict": c["verdict"],
                }
            )
        columns = ["id", "paper", "claim", "measured", "expected", "verdict"]
        return pd.DataFrame(rows, columns=columns).set_index("id")

    def __repr__(self) -> str:
        return f"Ledger({self.name!r}, profile={self.profile!r}, claims={len(self._claims)})"


def format_measured(measured: float | str | None, uncertainty: float | str | None) -> str:
    """``"3.1e-15"`` or ``"0.98 ± 0.02"`` from stored (possibly string) values."""

    def one(x: float | str | None) -> str:
        if x is None:
            return ""
        if isinstance(x, str):
            return x
        return f"{x:.4g}"

    out = one(measured)
    if uncertainty is not None:
        out += f" ± {one(uncertainty)}"
    return out
