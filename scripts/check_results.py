"""Results regression: compare fresh ledger results with the committed references.

Fresh results are written by the notebooks to ``executed/results/<notebook>.json``; the
reference results of the ``ci`` profile are committed in ``results/<notebook>.json``, those of
the ``full`` profile in ``results/full/<notebook>.json`` (``--profile full``, ``make
check-results PROFILE=full``). Results whose ``profile`` field is not the profile asked for are
refused, fresh or reference, before anything is compared.

``check``  compares them claim by claim: the same claims, the same verdicts, the same kind,
           source, interval kind and ``n`` (and statement, section, criterion), and measured
           values, uncertainties and interval ends within the reference claim's tolerances,
           ``|fresh - ref| <= atol + rtol * |ref|``; and the same coverage table. Run metadata
           (date, runtime, memory, versions) is not compared. Exits 1 with a readable diff.
           Results recorded before claims had kinds lack the new fields; a field missing on
           both sides matches, one missing on one side only is a difference.
``update`` copies the fresh results over the references (after an intended change; commit
           them together with the change).

Usage: ``python scripts/check_results.py check|update [--profile ci|full] [--only 03]``
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pipeline  # noqa: E402

ROOT = pipeline.ROOT
FRESH = ROOT / "executed" / "results"
REFERENCE = ROOT / "results"
#: The profile whose references live in ``results/`` itself; the others in ``results/<profile>/``.
DEFAULT_PROFILE = "ci"
#: Claim fields that must be identical (besides the numbers and the verdict).
SAME_FIELDS = (
    "kind",
    "paper",
    "source",
    "claim",
    "section",
    "expected",
    "criterion",
    "uncertainty_kind",
    "n",
)
#: Claim fields compared as numbers within the reference claim's tolerances.
CLOSE_FIELDS = ("measured", "uncertainty")
#: Run fields that must be identical: the chapter's coverage table and where it is shown.
SAME_RUN_FIELDS = ("coverage_section", "coverage")


class ProfileError(RuntimeError):
    """Results of another profile than the one asked for: refused, never compared."""


def reference_dir(profile: str = DEFAULT_PROFILE, root: Path = ROOT) -> Path:
    """Where the references of ``profile`` are committed: ``results/`` for ``ci``,
    ``results/<profile>/`` for the others."""
    if profile not in pipeline.PROFILES:
        raise ProfileError(
            f"unknown profile {profile!r}: expected one of {', '.join(pipeline.PROFILES)}"
        )
    base = root / "results"
    return base if profile == DEFAULT_PROFILE else base / profile


def _make_args(profile: str) -> str:
    return "" if profile == DEFAULT_PROFILE else f" PROFILE={profile}"


def _as_float(x: Any) -> float | None:
    if x is None:
        return None
    if isinstance(x, str):
        try:
            return float(x)  # "nan", "inf", "-inf" as stored by the ledger
        except ValueError:
            return None
    return float(x)


def _close(fresh: Any, ref: Any, rtol: float, atol: float) -> tuple[bool, str]:
    """Whether ``fresh`` matches ``ref`` within tolerance, and the size of the difference."""
    f, r = _as_float(fresh), _as_float(ref)
    if f is None or r is None:
        return (fresh is None and ref is None), ""
    if math.isnan(f) or math.isnan(r) or math.isinf(f) or math.isinf(r):
        same = (math.isnan(f) and math.isnan(r)) or f == r
        return same, ""
    diff = abs(f - r)
    tol = atol + rtol * abs(r)
    return diff <= tol, f"|diff| {diff:.3g} > tol {tol:.3g}"


def _num(x: Any) -> str:
    return "None" if x is None else (x if isinstance(x, str) else f"{x:.10g}")


def compare_run(fresh: dict[str, Any], ref: dict[str, Any]) -> list[str]:
    """Differences between one notebook's fresh and reference results (empty if none)."""
    out: list[str] = []
    if fresh.get("profile") != ref.get("profile"):
        out.append(
            f"profile {fresh.get('profile')!r} but the reference is {ref.get('profile')!r} "
            "(results of different profiles are not comparable)"
        )
        return out
    for key in ("seed",):
        if fresh.get(key) != ref.get(key):
            out.append(f"{key} {fresh.get(key)!r} (reference {ref.get(key)!r})")
    fc = {c["id"]: c for c in fresh.get("claims", [])}
    rc = {c["id"]: c for c in ref.get("claims", [])}
    for cid in rc:
        if cid not in fc:
            out.append(f"{cid}: missing from the fresh results")
    for cid in fc:
        if cid not in rc:
            out.append(f"{cid}: new claim, not in the reference")
    for cid, r in rc.items():
        f = fc.get(cid)
        if f is None:
            continue
        rtol, atol = float(r.get("rtol", 1e-6)), float(r.get("atol", 1e-12))
        for key in CLOSE_FIELDS:
            ok, why = _close(f.get(key), r.get(key), rtol, atol)
            if not ok:
                out.append(
                    f"{cid}: {key} {_num(f.get(key))} (reference {_num(r.get(key))}"
                    f"{', ' + why if why else ''}; rtol={rtol:g}, atol={atol:g})"
                )
        out += _compare_interval(cid, f.get("interval"), r.get("interval"), rtol, atol)
        if f.get("verdict") != r.get("verdict"):
            out.append(f"{cid}: verdict {f.get('verdict')!r} (reference {r.get('verdict')!r})")
        for key in SAME_FIELDS:
            if f.get(key) != r.get(key):
                out.append(f"{cid}: {key} {f.get(key)!r} (reference {r.get(key)!r})")
    for key in SAME_RUN_FIELDS:
        if fresh.get(key) != ref.get(key):
            out.append(_describe_run_field(key, fresh.get(key), ref.get(key)))
    return out


def _compare_interval(cid: str, fresh: Any, ref: Any, rtol: float, atol: float) -> list[str]:
    """Differences between two intervals ``[low, high]`` (either may be ``None``)."""
    if fresh is None or ref is None:
        if fresh is None and ref is None:
            return []
        return [f"{cid}: interval {_interval(fresh)} (reference {_interval(ref)})"]
    out = []
    for end, f, r in zip(("low", "high"), fresh, ref, strict=True):
        ok, why = _close(f, r, rtol, atol)
        if not ok:
            out.append(
                f"{cid}: interval {end} {_num(f)} (reference {_num(r)}"
                f"{', ' + why if why else ''}; rtol={rtol:g}, atol={atol:g})"
            )
    return out


def _interval(iv: Any) -> str:
    return "None" if iv is None else f"[{_num(iv[0])}, {_num(iv[1])}]"


def _describe_run_field(key: str, fresh: Any, ref: Any) -> str:
    if key != "coverage" or not isinstance(fresh, list) or not isinstance(ref, list):
        return f"{key} {fresh!r} (reference {ref!r})"
    fs = {row.get("statement"): row for row in fresh}
    rs = {row.get("statement"): row for row in ref}
    parts = [f"new row {s!r}" for s in fs if s not in rs]
    parts += [f"row {s!r} missing" for s in rs if s not in fs]
    parts += [f"row {s!r} changed" for s in fs if s in rs and fs[s] != rs[s]]
    if not parts and list(fs) != list(rs):
        parts.append("rows reordered")
    return "coverage table differs from the reference: " + "; ".join(parts or ["rows differ"])


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def profile_refusals(
    names: Sequence[str], fresh_dir: Path, ref_dir: Path | None, profile: str
) -> list[str]:
    """One line per fresh (and reference) result whose ``profile`` is not ``profile``."""
    out = []
    for name in names:
        for what, folder in (("fresh results", fresh_dir), ("reference", ref_dir)):
            path = folder / f"{name}.json" if folder is not None else None
            if path is None or not path.is_file():
                continue
            found = _load(path).get("profile")
            if found != profile:
                out.append(f"{name}: the {what} {path} hold the {found!r} profile, not {profile!r}")
    return out


def _refuse(refusals: list[str], profile: str, action: str) -> None:
    if refusals:
        raise ProfileError(
            f"refusing to {action} results of another profile than {profile!r} "
            f"(PROFILE={profile}):\n  "
            + "\n  ".join(refusals)
            + f"\n  Run `make execute PROFILE={profile}` first, or {action} with the PROFILE "
            "that these results ran."
        )


def check(
    names: Sequence[str],
    fresh_dir: Path = FRESH,
    ref_dir: Path | None = None,
    profile: str = DEFAULT_PROFILE,
) -> list[str]:
    """Readable report lines of every difference (empty when everything matches).

    ``ref_dir`` defaults to the references of ``profile`` (:func:`reference_dir`). Raises
    :class:`ProfileError`, before comparing anything, when a fresh or reference result holds
    another profile than ``profile``.
    """
    ref_dir = ref_dir if ref_dir is not None else reference_dir(profile)
    _refuse(profile_refusals(names, fresh_dir, ref_dir, profile), profile, "compare")
    report: list[str] = []
    for name in names:
        fpath, rpath = fresh_dir / f"{name}.json", ref_dir / f"{name}.json"
        if not fpath.is_file():
            report.append(
                f"{name}: no fresh results ({fpath.name} missing in {fresh_dir}); the notebook "
                "must record its claims with companion.ledger; run "
                f"`make execute{_make_args(profile)}` first"
            )
            continue
        if not rpath.is_file():
            report.append(
                f"{name}: no reference results {rpath}; run "
                f"`make update-results{_make_args(profile)}` and commit {rpath.name} "
                f"in {ref_dir}"
            )
            continue
        diffs = compare_run(_load(fpath), _load(rpath))
        if diffs:
            report.append(f"{name}: {len(diffs)} difference(s) from {rpath}:")
            report += [f"    {d}" for d in diffs]
    return report


def update(
    names: Sequence[str],
    fresh_dir: Path = FRESH,
    ref_dir: Path | None = None,
    profile: str = DEFAULT_PROFILE,
) -> list[str]:
    """Copy fresh results over the references of ``profile``; returns the files written.

    Raises :class:`ProfileError` when a fresh result ran another profile (nothing is written).
    """
    ref_dir = ref_dir if ref_dir is not None else reference_dir(profile)
    missing = [n for n in names if not (fresh_dir / f"{n}.json").is_file()]
    if missing:
        raise SystemExit(
            f"ERROR: no fresh results for {', '.join(missing)}; run "
            f"`make execute{_make_args(profile)}`"
        )
    _refuse(profile_refusals(names, fresh_dir, None, profile), profile, "update with")
    ref_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for n in names:
        shutil.copyfile(fresh_dir / f"{n}.json", ref_dir / f"{n}.json")
        written.append(str(ref_dir / f"{n}.json"))
    return written


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("action", choices=("check", "update"))
    ap.add_argument("--only", default="")
    ap.add_argument(
        "--profile",
        default=DEFAULT_PROFILE,
        help="the profile to compare: ci (references in results/) or full (results/full/)",
    )
    ap.add_argument("--fresh", default=str(FRESH))
    ap.add_argument("--reference", default=None, help="default: the profile's references")
    ap.add_argument("--notebooks", default=str(pipeline.NOTEBOOKS))
    args = ap.parse_args(argv)
    try:
        names = [p.stem for p in pipeline.discover(Path(args.notebooks), args.only)]
    except pipeline.PipelineError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 2
    try:
        fresh = Path(args.fresh)
        ref = Path(args.reference) if args.reference else reference_dir(args.profile)
        if args.action == "update":
            for w in update(names, fresh, ref, args.profile):
                print(f"updated {w}")
            return 0
        report = check(names, fresh, ref, args.profile)
    except ProfileError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 2
    if report:
        print(f"Results differ from the {args.profile} references in {ref}:", file=sys.stderr)
        print("\n".join(report), file=sys.stderr)
        print(
            f"If the change is intended, run `make update-results{_make_args(args.profile)}` "
            f"and commit {ref.relative_to(ROOT) if ref.is_relative_to(ROOT) else ref}/.",
            file=sys.stderr,
        )
        return 1
    print(f"results match the {args.profile} references for {len(names)} notebook(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
