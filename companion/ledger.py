"""Claims ledger: record what a notebook measured and let code decide the verdict.

A notebook creates one :class:`Ledger` and calls :meth:`Ledger.record` once per claim::

    from companion.ledger import Ledger, at_least, at_most
    from companion.stats import fit_loglog

    ledger = Ledger("00_foundations", title="Foundations", profile=profile, seed=seed,
                    device=device)
    ledger.record("F1", kind="check", paper="foundations",
                  claim="closed-form score equals autograd of the log-density",
                  measured=err, expect=at_most(1e-10), section="f-score")
    ledger.record("E1", kind="paper", paper="2601.21242", source="abstract",
                  claim="the error falls at least like n^-1",
                  measured=-fit_loglog(n, err).slope_interval, expect=at_least(1.0))
    ledger.coverage([...])  # every statement of the paper: the ids that test it, or why not
    ledger.table()

Every claim has a **kind** (:data:`CLAIM_KINDS`): ``paper`` (a statement of the paper, with
``source`` saying where it is stated; only these are verdicts on the paper), ``derived`` (a
consequence we derived), ``check`` (an identity or property of the machinery, shown to the
reader) or ``question`` (an exploratory question of ours). A measurement is a plain number
(exact, or deterministic to round-off) or a :class:`companion.stats.Interval`, which carries
its uncertainty kind (:data:`companion.stats.UNCERTAINTY_KINDS`) and the ``n`` it rests on. The
ledger refuses a ``paper`` or ``derived`` claim whose interval rests on fewer than
:data:`MIN_SEEDS` seeds or :data:`MIN_FIT_POINTS` fit points, and any bootstrap interval with
fewer than :data:`companion.stats.MIN_RESAMPLES` resamples.

The verdict is computed from the interval ``[low, high]`` and the criterion:

* ``"supported"`` if every value of the interval satisfies the criterion,
* ``"not reproduced"`` if no value of the interval satisfies it,
* ``"inconclusive"`` if the interval straddles the boundary.

A non-finite measurement is always ``"not reproduced"``. A non-finite interval end means the
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

from companion.stats import MIN_RESAMPLES, UNCERTAINTY_KINDS, Interval

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "ANSWERS",
    "CLAIM_KINDS",
    "MIN_FIT_POINTS",
    "MIN_SEEDS",
    "PAPERS",
    "VERDICTS",
    "Criterion",
    "Ledger",
    "at_least",
    "at_most",
    "close_to",
    "default_results_dir",
    "coverage_frame",
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

#: Claim kinds accepted by :meth:`Ledger.record`, with what each means.
CLAIM_KINDS: dict[str, str] = {
    "paper": "a statement of the paper (its source says where); a verdict on the paper",
    "derived": "a consequence we derived: a rate, a constant, a bound form or reconstruction of ours",
    "check": "an identity or property of the machinery: a unit test shown to the reader",
    "question": "an exploratory question of ours, reported with its measurement",
}

#: Fewest seeds (or pairs) behind a seed-based interval of a ``paper`` or ``derived`` claim.
MIN_SEEDS = 5
#: Fewest points behind a fitted slope of a ``paper`` or ``derived`` claim.
MIN_FIT_POINTS = 5

#: How a verdict on a ``question`` of ours reads: an answer, not a verdict on the paper.
ANSWERS: dict[str, str] = {"supported": "yes", "not reproduced": "no", "inconclusive": "undecided"}

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


def verdict(measured: float | Interval, criterion: Criterion) -> str:
    """Verdict of a measurement (a number, or an interval ``[low, high]``) against ``criterion``.

    Returns one of :data:`VERDICTS`. See the module docstring for the rule.
    """
    if not isinstance(criterion, Criterion):
        raise ValueError(f"criterion must be a Criterion, got {criterion!r}")
    if isinstance(measured, Interval):
        m, lo, hi = float(measured.value), float(measured.low), float(measured.high)
    else:
        m = lo = hi = float(measured)
    if not math.isfinite(m):
        return "not reproduced"
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "inconclusive"
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


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _machine(device: str) -> dict[str, Any]:
    """What the run ran on: CPU model and cores, and the GPU when the device is one."""
    out: dict[str, Any] = {
        "system": platform.system(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
    }
    if device.startswith("cuda"):
        try:
            import torch

            out["gpu"] = torch.cuda.get_device_name(torch.device(device))
        except (ImportError, RuntimeError, AssertionError):
            out["gpu"] = None
    return out


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
        self._coverage: list[dict[str, Any]] = []
        self._coverage_section: str | None = None

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
        measured: float | Interval,
        expect: Criterion,
        kind: str,
        source: str | None = None,
        section: str | None = None,
        rtol: float = 1e-6,
        atol: float = 1e-12,
    ) -> dict[str, Any]:
        """Record one claim, compute its verdict, save the ledger and return the record.

        Parameters
        ----------
        id:
            Claim id, unique within the notebook (e.g. ``"F1"``).
        kind:
            One of :data:`CLAIM_KINDS`: ``"paper"``, ``"derived"``, ``"check"`` or
            ``"question"``.
        paper:
            One of :data:`PAPERS` (an arXiv id or ``"foundations"``).
        claim:
            The statement being checked, in one sentence.
        measured:
            The number computed by the notebook: a plain real (float, numpy or 0-d torch
            scalar) for a quantity that is exact or deterministic to round-off, or a
            :class:`companion.stats.Interval` (built by :mod:`companion.stats`) that carries its
            uncertainty kind and ``n``.
        expect:
            The criterion (:func:`at_most`, :func:`at_least`, :func:`close_to`,
            :func:`in_range`), fixed before the run.
        source:
            Where the paper states the claim (``"abstract"``, a quoted passage, ``"summary"``
            for the third-party summary). Required for ``kind="paper"``, optional otherwise.
        section:
            The MyST label of the section that measures the claim (for the dashboard link).
        rtol, atol:
            Tolerances of the CI results regression: a fresh value ``x`` matches the reference
            ``r`` when ``|x - r| <= atol + rtol * |r|``.

        Raises
        ------
        ValueError
            On a bad argument, and when a ``paper`` or ``derived`` claim rests on fewer than
            :data:`MIN_SEEDS` seeds or :data:`MIN_FIT_POINTS` fit points, or any claim on a
            bootstrap with fewer than :data:`companion.stats.MIN_RESAMPLES` resamples.
        """
        if not isinstance(id, str) or not _NAME_RE.match(id):
            raise ValueError(f"id must be a non-empty string without spaces, got {id!r}")
        if any(c["id"] == id for c in self._claims):
            raise ValueError(f"id {id!r} is already recorded in ledger {self.name!r}")
        if kind not in CLAIM_KINDS:
            raise ValueError(f"claim {id}: kind must be one of {list(CLAIM_KINDS)}, got {kind!r}")
        if paper not in PAPERS:
            raise ValueError(f"claim {id}: paper must be one of {sorted(PAPERS)}, got {paper!r}")
        if source is not None and (not isinstance(source, str) or not source.strip()):
            raise ValueError(f"claim {id}: source must be a non-empty string, got {source!r}")
        if kind == "paper" and source is None:
            raise ValueError(
                f"claim {id}: a 'paper' claim needs source= saying where the paper states it "
                "(e.g. 'abstract', a quoted passage, 'summary')"
            )
        if not isinstance(claim, str) or not claim.strip():
            raise ValueError(f"claim {id}: claim must be a non-empty string, got {claim!r}")
        if not isinstance(expect, Criterion):
            raise ValueError(
                f"claim {id}: expect must be a criterion built with at_most, at_least, "
                f"close_to or in_range, got {expect!r}"
            )
        if isinstance(measured, Interval):
            iv = measured
            self._check_interval(id, kind, iv)
            m, lo, hi = _real(iv.value, "measured"), _real(iv.low, "low"), _real(iv.high, "high")
            u_kind, n, note, text = iv.kind, iv.n, iv.note, iv.text
            u: float | None = iv.half_width if iv.kind != "none" else None
        else:
            m = lo = hi = _real(measured, "measured")
            u_kind, n, note, text, u = "none", None, "", "exact", None
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
            "kind": kind,
            "paper": paper,
            "source": source.strip() if source else None,
            "claim": claim.strip(),
            "section": section,
            "measured": _json_number(m),
            "uncertainty": _json_number(u),
            "interval": None if u is None else [_json_number(lo), _json_number(hi)],
            "uncertainty_kind": u_kind,
            "n": n,
            "uncertainty_note": note or None,
            "uncertainty_text": text,
            "expected": expect.text,
            "criterion": expect.to_dict(),
            "verdict": verdict(measured if isinstance(measured, Interval) else m, expect),
            "rtol": r,
            "atol": a,
        }
        self._claims.append(rec)
        self.save()
        return dict(rec)

    @staticmethod
    def _check_interval(id: str, kind: str, iv: Interval) -> None:
        """Refuse intervals too thin to carry a claim of this kind (see the module docstring)."""
        if iv.kind not in UNCERTAINTY_KINDS:  # pragma: no cover - Interval validates its kind
            raise ValueError(f"claim {id}: unknown uncertainty kind {iv.kind!r}")
        if iv.kind == "bootstrap" and (iv.n or 0) < MIN_RESAMPLES:
            raise ValueError(
                f"claim {id}: a bootstrap interval needs at least {MIN_RESAMPLES} resamples, "
                f"got {iv.n}"
            )
        if kind not in ("paper", "derived"):
            return
        seeds = iv.kind in ("t", "paired-t", "simultaneous-t")
        if seeds and (iv.n or 0) < MIN_SEEDS:
            raise ValueError(
                f"claim {id}: a {kind!r} claim cannot rest on {iv.n} seeds; a seed-based "
                f"interval needs at least {MIN_SEEDS} (record it as a 'question', or run more "
                "seeds)"
            )
        if iv.kind == "fit" and (iv.n or 0) < MIN_FIT_POINTS:
            raise ValueError(
                f"claim {id}: a {kind!r} claim cannot rest on a fit over {iv.n} points; a "
                f"fitted slope needs at least {MIN_FIT_POINTS}"
            )

    def coverage(self, rows: list[dict[str, Any]], section: str | None = None) -> pd.DataFrame:
        """Record the chapter's coverage table and return it for display.

        ``section`` is the MyST label of the section that shows the table (the dashboard links
        to it).

        Each row is one statement of the paper: ``{"statement": ..., "source": ...,
        "ids": [...]}`` with the ids of the recorded claims that test it, or ``{"statement":
        ..., "source": ..., "reason": ...}`` saying why it is not tested here. Call it after
        the claims are recorded: every id must already be in the ledger.
        """

        if not isinstance(rows, list) or not rows:
            raise ValueError("rows must be a non-empty list of dicts")
        known = {c["id"] for c in self._claims}
        out: list[dict[str, Any]] = []
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                raise ValueError(f"coverage row {i} must be a dict, got {row!r}")
            extra = set(row) - {"statement", "source", "ids", "reason"}
            if extra:
                raise ValueError(f"coverage row {i} has unknown keys {sorted(extra)}")
            statement, source = row.get("statement"), row.get("source")
            if not isinstance(statement, str) or not statement.strip():
                raise ValueError(f"coverage row {i} needs a non-empty 'statement'")
            if not isinstance(source, str) or not source.strip():
                raise ValueError(f"coverage row {i} needs a non-empty 'source'")
            ids = list(row.get("ids") or [])
            reason = row.get("reason")
            if bool(ids) == bool(reason):
                raise ValueError(
                    f"coverage row {i} ({statement[:40]!r}) needs either 'ids' (the claims that "
                    "test it) or 'reason' (why it is not tested here), not both or neither"
                )
            missing = [x for x in ids if x not in known]
            if missing:
                raise ValueError(
                    f"coverage row {i} names ids {missing} that are not recorded in ledger "
                    f"{self.name!r} (call coverage() after recording the claims)"
                )
            out.append(
                {
                    "statement": statement.strip(),
                    "source": source.strip(),
                    "ids": ids,
                    "reason": reason.strip() if isinstance(reason, str) else None,
                }
            )
        if section is not None and (not isinstance(section, str) or not _LABEL_RE.match(section)):
            raise ValueError(f"section must be a MyST label like 's2n-coverage', got {section!r}")
        self._coverage = out
        self._coverage_section = section
        self.save()
        return coverage_frame(out)

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
            "machine": _machine(self.device),
            "claims": self.claims,
            "coverage": [dict(r) for r in self._coverage],
            "coverage_section": self._coverage_section,
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
        """The verdict table: one row per claim, values formatted to their significant digits."""
        import pandas as pd

        rows = []
        for c in self._claims:
            rows.append(
                {
                    "id": c["id"],
                    "kind": c["kind"],
                    "claim": c["claim"],
                    "measured": format_measured(c["measured"], c.get("interval")),
                    "uncertainty": c.get("uncertainty_text", ""),
                    "expected": c["expected"],
                    "verdict": ANSWERS[c["verdict"]] if c["kind"] == "question" else c["verdict"],
                }
            )
        columns = ["id", "kind", "claim", "measured", "uncertainty", "expected", "verdict"]
        return pd.DataFrame(rows, columns=columns).set_index("id")

    def __repr__(self) -> str:
        return f"Ledger({self.name!r}, profile={self.profile!r}, claims={len(self._claims)})"


def coverage_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A coverage table (as stored by :meth:`Ledger.coverage`) as a data frame for display."""
    import pandas as pd

    out = [
        {
            "statement of the paper": r["statement"],
            "where stated": r["source"],
            "tested by": ", ".join(r["ids"]) if r["ids"] else "not tested: " + str(r["reason"]),
        }
        for r in rows
    ]
    return pd.DataFrame(out, columns=["statement of the paper", "where stated", "tested by"])


def _num(x: float | str | None) -> float | None:
    if x is None:
        return None
    return float(x)  # 'nan', 'inf', '-inf' strings parse too


def _sig(x: float, digits: int = 4) -> str:
    """``x`` to ``digits`` significant digits, without trailing zeros."""
    if not math.isfinite(x):
        return str(x)
    return f"{x:.{digits}g}"


def format_measured(
    measured: float | str | None, interval: list[float | str | None] | tuple[Any, Any] | None
) -> str:
    """A measurement for reading, to the digits its interval supports.

    An exact value shows 4 significant digits (``"3.1e-15"``); a value with an interval
    ``[low, high]`` shows the half-width to 2 significant digits and the value to the same
    decimal place (``"0.939 ± 0.0038"``), or ``"value [low, high]"`` when the interval is
    markedly asymmetric (a BCa bootstrap).
    """
    m = _num(measured)
    if m is None:
        return ""
    if interval is None or not math.isfinite(m):
        return _sig(m)
    lo, hi = _num(interval[0]), _num(interval[1])
    if lo is None or hi is None:
        return _sig(m)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return f"{_sig(m)} ± ∞"
    half = max(m - lo, hi - m)
    if half <= 0:
        return _sig(m)
    place = math.floor(math.log10(half)) - 1  # last digit shown: 2 significant digits of half
    top = max(abs(m), half)
    exp10 = math.floor(math.log10(top)) if top > 0 else 0
    scientific = exp10 >= 5 or exp10 <= -4
    scale = 10.0**exp10 if scientific else 1.0
    decimals = max(0, (exp10 if scientific else 0) - place)

    def f(v: float) -> str:
        if not scientific and place > 0:
            v = round(v, -place)
        return f"{v / scale:.{decimals}f}"

    asym = abs((hi - m) - (m - lo)) > 0.25 * half
    body = f"{f(m)} [{f(lo)}, {f(hi)}]" if asym else f"{f(m)} ± {f(half)}"
    if scientific:
        return f"({body})e{exp10:+03d}" if not asym else f"{body} ×1e{exp10:+03d}"
    return body
