"""Execute the book's notebooks headlessly and check that what gets published is current.

The notebooks are jupytext ``py:percent`` files ``notebooks/NN_name.py``. Each is converted to
ipynb, its ``parameters`` cell is checked against the parameters we are about to pass, and
papermill executes it (kernel ``python3``, working directory ``notebooks/``, a per-cell
timeout) into ``executed/NN_name.ipynb``. The executed notebook records a *stamp*: a hash of
its source text, the parameters and the ``companion`` package source (plus the pinned
requirements). :func:`verify_executed` recomputes the stamp from the current sources and
refuses to publish a notebook whose stamp does not match.

Command line (what ``make execute`` calls)::

    python scripts/pipeline.py execute --profile ci --device cpu --jobs 2 [--only 03] \
        [-p name value ...] [--params "name=value ..."]
    python scripts/pipeline.py verify        # staleness guard only
    python scripts/pipeline.py parameters    # list every notebook's parameters
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures as cf
import dataclasses
import hashlib
import json
import multiprocessing
import os
import re
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
EXECUTED = ROOT / "executed"
PROFILES = ("ci", "full")
REQUIRED_PARAMETERS = ("profile", "seed", "device")
KERNEL = "python3"
KERNELSPEC = {"name": KERNEL, "display_name": "Python 3 (ipykernel)", "language": "python"}
DOWNLOAD_TAG = "companion-downloads"


class PipelineError(RuntimeError):
    """A problem the user has to fix; the message says what and where."""


# --------------------------------------------------------------------------------------------
# Discovery and parameters
# --------------------------------------------------------------------------------------------


def discover(
    notebooks_dir: Path = NOTEBOOKS, only: Iterable[str] | str | None = None
) -> list[Path]:
    """Notebook sources ``notebooks_dir/*.py`` in name order, optionally filtered.

    ``only`` holds prefixes or names (``"03"``, ``"03_s2n"``); separate several with commas or
    spaces. A filter that matches nothing is an error.
    """
    sources = sorted(p for p in notebooks_dir.glob("*.py") if not p.name.startswith(("_", ".")))
    if only is None or only == "" or only == []:
        return sources
    wanted = only.replace(",", " ").split() if isinstance(only, str) else list(only)
    chosen = [p for p in sources if any(p.stem == w or p.stem.startswith(w) for w in wanted)]
    if not chosen:
        names = ", ".join(p.stem for p in sources) or "none"
        raise PipelineError(f"ONLY={' '.join(wanted)!r} matches no notebook (have: {names})")
    return chosen


def read_notebook(src: Path) -> Any:
    """The notebook ``src`` (jupytext text) as an nbformat node with the python3 kernel."""
    import jupytext

    nb = jupytext.read(src)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    return nb


def parameters_cell(nb: Any, name: str) -> int:
    """Index of the single cell tagged ``parameters``; an error names the notebook otherwise."""
    found = [
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and "parameters" in c.get("metadata", {}).get("tags", [])
    ]
    if not found:
        raise PipelineError(
            f"notebook {name}: no code cell is tagged 'parameters' (papermill would silently "
            'ignore every parameter). Mark the cell with `# %% tags=["parameters"]`.'
        )
    if len(found) > 1:
        raise PipelineError(
            f"notebook {name}: {len(found)} cells are tagged 'parameters' (cells {found}); "
            "keep exactly one."
        )
    return found[0]


def declared_parameters(nb: Any, name: str) -> dict[str, Any]:
    """Names assigned in the parameters cell, mapped to their literal default (or None)."""
    cell = nb.cells[parameters_cell(nb, name)]
    try:
        tree = ast.parse(cell.source)
    except SyntaxError as exc:
        raise PipelineError(f"notebook {name}: parameters cell is not valid Python: {exc}") from exc
    out: dict[str, Any] = {}
    for stmt in tree.body:
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(stmt, ast.Assign):
            targets, value = list(stmt.targets), stmt.value
        elif isinstance(stmt, ast.AnnAssign):
            targets, value = [stmt.target], stmt.value
        for t in targets:
            if isinstance(t, ast.Name):
                try:
                    out[t.id] = ast.literal_eval(value) if value is not None else None
                except ValueError:
                    out[t.id] = None
    return out


def parse_params(pairs: Sequence[Sequence[str]] = (), text: str = "") -> dict[str, Any]:
    """Parameters from ``-p name value`` pairs and a ``"name=value name2=value2"`` string.

    Values are read as YAML scalars, like papermill's ``-p`` (``10`` is an int, ``1e-3`` a
    float, ``true`` a bool, anything else a string).
    """
    import yaml

    def scalar(v: str) -> Any:
        try:
            out = yaml.safe_load(v)
        except yaml.YAMLError:
            return v
        # YAML 1.1 reads "1e-3" as a string; accept it as a float like papermill does.
        if isinstance(out, str):
            try:
                return float(out)
            except ValueError:
                return out
        return out

    params: dict[str, Any] = {}
    for name, value in pairs:
        params[name] = scalar(value)
    for item in text.split():
        if "=" not in item:
            raise PipelineError(f"PARAMS entry {item!r} is not of the form name=value")
        name, value = item.split("=", 1)
        params[name] = scalar(value)
    return params


def check_parameters(nb: Any, name: str, params: dict[str, Any]) -> None:
    """Reject unknown parameters and wrongly typed values before anything runs."""
    declared = declared_parameters(nb, name)
    missing = [p for p in REQUIRED_PARAMETERS if p not in declared]
    if missing:
        raise PipelineError(
            f"notebook {name}: the parameters cell must define {', '.join(REQUIRED_PARAMETERS)}"
            f" (missing: {', '.join(missing)})"
        )
    unknown = sorted(set(params) - set(declared))
    if unknown:
        raise PipelineError(
            f"notebook {name}: unknown parameter(s) {', '.join(unknown)}; its parameters cell "
            f"defines: {', '.join(declared)}"
        )
    if "profile" in params and params["profile"] not in PROFILES:
        raise PipelineError(
            f"notebook {name}: profile must be one of {', '.join(PROFILES)}, "
            f"got {params['profile']!r}"
        )
    for key, value in params.items():
        default = declared[key]
        if default is None or value is None:
            continue
        ok = (
            isinstance(value, type(default))
            or (type(default) is float and type(value) is int)
            or (type(default) is tuple and type(value) is list)
        )
        if isinstance(default, bool) != isinstance(value, bool):
            ok = False
        if not ok:
            raise PipelineError(
                f"notebook {name}: parameter {key} expects a {type(default).__name__} like "
                f"{default!r}, got {value!r}"
            )


# --------------------------------------------------------------------------------------------
# Stamps (staleness guard)
# --------------------------------------------------------------------------------------------


def package_digest(root: Path = ROOT) -> str:
    """Hash of the ``companion`` package source and the pinned requirements under ``root``."""
    h = hashlib.sha256()
    pkg = root / "companion"
    files = sorted(p for p in pkg.rglob("*.py") if "__pycache__" not in p.parts)
    req = root / "requirements.txt"
    if req.is_file():
        files.append(req)
    for p in files:
        h.update(p.relative_to(root).as_posix().encode() + b"\0")
        h.update(p.read_bytes() + b"\0")
    return h.hexdigest()


def stamp(source_text: str, params: dict[str, Any], digest: str) -> str:
    """Hash of a notebook's source text, its parameters and the package digest."""
    h = hashlib.sha256()
    h.update(b"source\0" + source_text.encode("utf-8") + b"\0")
    h.update(b"params\0" + json.dumps(params, sort_keys=True, default=str).encode() + b"\0")
    h.update(b"companion\0" + digest.encode())
    return h.hexdigest()


# --------------------------------------------------------------------------------------------
# Execution
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Outcome:
    name: str
    ok: bool
    seconds: float
    message: str = ""


def _first_line(source: str) -> str:
    for line in source.splitlines():
        if line.strip():
            return line.strip()
    return "(empty cell)"


def _describe_failure(
    name: str, src: Path, partial: Path, params_index: int, injected_cell: bool, exc: BaseException
) -> str:
    """'notebook X failed in cell N (first line ...): Error: message'."""
    import nbformat

    cell_index: int | None = None
    first = ""
    ename, evalue = type(exc).__name__, str(exc).strip().splitlines()[0:1]
    detail = evalue[0] if evalue else ""
    if hasattr(exc, "cell_index"):  # PapermillExecutionError
        cell_index = exc.cell_index
        first = _first_line(getattr(exc, "source", ""))
        ename, detail = getattr(exc, "ename", ename), getattr(exc, "evalue", detail)
    elif partial.is_file():  # e.g. a cell timeout or a dead kernel
        # papermill marks cells as they start; after a timeout its cleanup marks every cell
        # "completed", so the failing cell is the last one that started.
        nb = nbformat.read(partial, as_version=4)
        for i, c in enumerate(nb.cells):
            pm = c.get("metadata", {}).get("papermill", {})
            if pm.get("exception") or pm.get("status") == "running":
                cell_index, first = i, _first_line(c.source)
                break
            if pm.get("start_time"):
                cell_index, first = i, _first_line(c.source)
    where = "before any cell ran"
    if cell_index is not None:
        # papermill inserts the injected-parameters cell right after the parameters cell
        # (when parameters were passed); report the index in the source notebook.
        injected = params_index + 1 if injected_cell else None
        src_index = cell_index - 1 if injected is not None and cell_index > injected else cell_index
        where = f"in cell {src_index} (counting from 0, first line: {first!r})"
    rel = src.relative_to(ROOT) if src.is_relative_to(ROOT) else src
    return f"notebook {rel} failed {where}:\n    {ename}: {detail}"


def execute_one(
    src: Path,
    out_dir: Path,
    params: dict[str, Any],
    timeout: int,
    digest: str,
    quiet: bool = True,
) -> Outcome:
    """Execute one notebook source into ``out_dir/<stem>.ipynb``; never raises."""
    import nbformat
    import papermill as pm

    name = src.stem
    t0 = time.perf_counter()
    final = out_dir / f"{name}.ipynb"
    failed = out_dir / f"{name}.failed.ipynb"
    running = out_dir / f".{name}.running.ipynb"
    results = out_dir / "results" / f"{name}.json"
    for p in (final, failed, running, results):
        p.unlink(missing_ok=True)
    results.parent.mkdir(parents=True, exist_ok=True)

    params_index = 0
    try:
        nb = read_notebook(src)
        params_index = parameters_cell(nb, name)
        check_parameters(nb, name, params)
        source_text = src.read_text(encoding="utf-8")
        env_before = {k: os.environ.get(k) for k in ("COMPANION_RESULTS_DIR", "COMPANION_NOTEBOOK")}
        os.environ["COMPANION_RESULTS_DIR"] = str(results.parent)
        os.environ["COMPANION_NOTEBOOK"] = name
        try:
            pm.execute_notebook(
                nb,
                str(running),
                parameters=params,
                cwd=str(src.parent),
                kernel_name=KERNEL,
                execution_timeout=timeout,
                progress_bar=False,
                log_output=not quiet,
                report_mode=False,
            )
        finally:
            for k, v in env_before.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    except PipelineError as exc:
        return Outcome(name, False, time.perf_counter() - t0, str(exc))
    except BaseException as exc:  # noqa: BLE001 - report every failure with its cell
        msg = _describe_failure(name, src, running, params_index, bool(params), exc)
        if running.is_file():
            os.replace(running, failed)
            msg += f"\n    (executed notebook with the traceback: {failed})"
        results.unlink(missing_ok=True)
        return Outcome(name, False, time.perf_counter() - t0, msg)

    enb = nbformat.read(running, as_version=4)
    postprocess(enb, name, src, source_text, params, digest)
    nbformat.write(enb, running)
    os.replace(running, final)
    if results.is_file():
        data = json.loads(results.read_text(encoding="utf-8"))
        data["execution"] = {
            "stamp": enb.metadata["companion"]["stamp"],
            "parameters": params,
            "wall_s": round(float(enb.metadata.get("papermill", {}).get("duration") or 0.0), 2),
        }
        results.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", "utf-8")
    return Outcome(name, True, time.perf_counter() - t0)


_NUMPY_SCALAR = re.compile(r"^np\.(?:float|int|uint|complex|bool)\w*\((.*)\)$", re.S)


def _plain_glue(nb: Any) -> None:
    """Glued numpy scalars as plain numbers, so that ``{glue:text}`key:.3f``` can format them.

    With numpy 2 the text form of ``np.float64(0.5)`` is ``"np.float64(0.5)"``, which myst-nb
    cannot read as a number (a warning, hence a failed strict build). The value is unchanged.
    """
    for c in nb.cells:
        for out in c.get("outputs", []):
            if "scrapbook" not in out.get("metadata", {}):
                continue
            data = out.get("data", {})
            for key, value in data.items():
                if key.endswith("text/plain") and isinstance(value, str):
                    m = _NUMPY_SCALAR.match(value.strip())
                    if m:
                        data[key] = m.group(1)


def postprocess(
    nb: Any, name: str, src: Path, source_text: str, params: dict[str, Any], digest: str
) -> None:
    """Hide the parameter cells, add download links, record the stamp in the metadata."""
    import nbformat

    _plain_glue(nb)
    for c in nb.cells:
        tags = c.setdefault("metadata", {}).setdefault("tags", [])
        if ("parameters" in tags or "injected-parameters" in tags) and "remove-cell" not in tags:
            tags.append("remove-cell")
    links = nbformat.v4.new_markdown_cell(
        f"```{{admonition}} Run this chapter yourself\n:class: tip\n"
        f"Download the source {{download}}`{src.name} <../notebooks/{src.name}>` "
        f"(jupytext; open it in Jupyter as a notebook) or the executed notebook "
        f"{{download}}`{name}.ipynb <{name}.ipynb>`, or rerun it with "
        f"`make book ONLY={name.split('_')[0]}`.\n```"
    )
    links.metadata["tags"] = [DOWNLOAD_TAG]
    nb.cells = [c for c in nb.cells if DOWNLOAD_TAG not in c.metadata.get("tags", [])]
    at = 1 if nb.cells and nb.cells[0].cell_type == "markdown" else 0
    nb.cells.insert(at, links)
    nb.metadata["companion"] = {
        "source": f"notebooks/{src.name}",
        "parameters": params,
        "stamp": stamp(source_text, params, digest),
    }


def _execute_in_worker(
    src: str, out_dir: str, params: dict[str, Any], timeout: int, digest: str, quiet: bool
) -> Outcome:
    return execute_one(Path(src), Path(out_dir), params, timeout, digest, quiet)


def execute_all(
    sources: Sequence[Path],
    out_dir: Path = EXECUTED,
    params: dict[str, Any] | None = None,
    *,
    jobs: int = 1,
    timeout: int = 1200,
    threads: int = 1,
    root: Path = ROOT,
    quiet: bool = True,
    report: Any = print,
) -> list[Outcome]:
    """Execute ``sources`` (``jobs`` at a time, in separate processes when ``jobs > 1``).

    Every kernel gets ``threads`` CPU threads (``OMP_NUM_THREADS``; 0 leaves torch's default),
    the same whatever ``jobs`` is: parallel reductions can round differently with another
    thread count, and a parallel run must give the same numbers as a serial one. With the
    default (1 thread, ``jobs`` = cores) the parallel kernels share the cores without
    oversubscribing them.

    All parameters are validated for every notebook before the first one starts.
    """
    thread_vars = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
    saved = {v: os.environ.get(v) for v in thread_vars}
    if threads > 0:
        os.environ.update({v: str(threads) for v in thread_vars})
    try:
        return _execute_all(sources, out_dir, params, jobs, timeout, root, quiet, report)
    finally:
        for v, old in saved.items():
            if old is None:
                os.environ.pop(v, None)
            else:
                os.environ[v] = old


def _execute_all(
    sources: Sequence[Path],
    out_dir: Path,
    params: dict[str, Any] | None,
    jobs: int,
    timeout: int,
    root: Path,
    quiet: bool,
    report: Any,
) -> list[Outcome]:
    params = dict(params or {})
    for src in sources:  # fail fast, before spending minutes on execution
        check_parameters(read_notebook(src), src.stem, params)
    out_dir.mkdir(parents=True, exist_ok=True)
    digest = package_digest(root)
    outcomes: list[Outcome] = []

    def done(o: Outcome) -> None:
        outcomes.append(o)
        report(f"[{'ok' if o.ok else 'FAILED'}] {o.name} ({o.seconds:.1f} s)")

    if jobs <= 1 or len(sources) <= 1:
        for src in sources:
            done(execute_one(src, out_dir, params, timeout, digest, quiet))
    else:
        ctx = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(max_workers=min(jobs, len(sources)), mp_context=ctx) as ex:
            futures = [
                ex.submit(_execute_in_worker, str(s), str(out_dir), params, timeout, digest, quiet)
                for s in sources
            ]
            for fut in cf.as_completed(futures):
                done(fut.result())
    order = {s.stem: i for i, s in enumerate(sources)}
    outcomes.sort(key=lambda o: order[o.name])
    return outcomes


# --------------------------------------------------------------------------------------------
# Staleness guard
# --------------------------------------------------------------------------------------------


def verify_executed(
    names: Iterable[str],
    out_dir: Path = EXECUTED,
    notebooks_dir: Path = NOTEBOOKS,
    root: Path = ROOT,
) -> list[str]:
    """Problems that forbid publishing the executed notebooks ``names`` (empty if none)."""
    import nbformat

    digest = package_digest(root)
    problems: list[str] = []
    for name in names:
        src = notebooks_dir / f"{name}.py"
        path = out_dir / f"{name}.ipynb"
        if not src.is_file():
            problems.append(f"{name}: no source notebooks/{name}.py")
            continue
        if not path.is_file():
            problems.append(f"{name}: not executed (no {path.name}); run `make execute`")
            continue
        meta = nbformat.read(path, as_version=4).metadata.get("companion", {})
        recorded = meta.get("stamp")
        if recorded is None:
            problems.append(f"{name}: {path.name} was not produced by the pipeline (no stamp)")
            continue
        expected = stamp(src.read_text(encoding="utf-8"), meta.get("parameters", {}), digest)
        if recorded != expected:
            problems.append(
                f"{name}: executed notebook is stale (its source, parameters or the companion "
                "package changed since it ran); re-run `make execute` "
                f"(or `make book ONLY={name.split('_')[0]}`)"
            )
            continue
        res = out_dir / "results" / f"{name}.json"
        if res.is_file():
            run = json.loads(res.read_text(encoding="utf-8")).get("execution", {})
            if run.get("stamp") != recorded:
                problems.append(f"{name}: results/{name}.json does not belong to this execution")
    return problems


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def _cmd_execute(args: argparse.Namespace) -> int:
    sources = discover(Path(args.notebooks), args.only)
    if not sources:
        print("no notebooks found in", args.notebooks)
        return 0
    params = {"profile": args.profile, "seed": args.seed, "device": args.device}
    params.update(parse_params(args.p or (), args.params or ""))
    jobs = args.jobs or os.cpu_count() or 1
    print(
        f"executing {len(sources)} notebook(s) with {params} (jobs={min(jobs, len(sources))}, "
        f"threads per kernel {args.threads or 'default'}, cell timeout {args.timeout} s)",
        flush=True,
    )
    t0 = time.perf_counter()
    outcomes = execute_all(
        sources,
        Path(args.out),
        params,
        jobs=jobs,
        timeout=args.timeout,
        threads=args.threads,
        quiet=not args.verbose,
        report=lambda s: print(s, flush=True),
    )
    failures = [o for o in outcomes if not o.ok]
    n_ok = len(outcomes) - len(failures)
    print(f"executed {n_ok}/{len(outcomes)} in {time.perf_counter() - t0:.1f} s")
    for o in failures:
        print(f"\nERROR: {o.message}", file=sys.stderr)
    return 1 if failures else 0


def _cmd_verify(args: argparse.Namespace) -> int:
    names = [p.stem for p in discover(Path(args.notebooks), args.only)]
    problems = verify_executed(names, Path(args.out), Path(args.notebooks))
    for p in problems:
        print(f"ERROR: refusing to publish {p}", file=sys.stderr)
    return 1 if problems else 0


def _cmd_parameters(args: argparse.Namespace) -> int:
    for src in discover(Path(args.notebooks), args.only):
        print(f"{src.stem}: {declared_parameters(read_notebook(src), src.stem)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("execute", "verify", "parameters"):
        sp = sub.add_parser(name)
        sp.add_argument("--notebooks", default=str(NOTEBOOKS))
        sp.add_argument("--out", default=str(EXECUTED))
        sp.add_argument("--only", default="", help="notebook prefixes, e.g. '03' or '00,03'")
        if name == "execute":
            sp.add_argument("--profile", default="ci", choices=PROFILES)
            sp.add_argument("--seed", type=int, default=0)
            sp.add_argument("--device", default="cpu")
            sp.add_argument("--jobs", type=int, default=0, help="parallel notebooks (0: cores)")
            sp.add_argument(
                "--threads", type=int, default=1, help="CPU threads per kernel (0: torch default)"
            )
            sp.add_argument("--timeout", type=int, default=1200, help="per-cell timeout (s)")
            sp.add_argument("-p", nargs=2, action="append", metavar=("NAME", "VALUE"))
            sp.add_argument("--params", default="", help="'name=value name2=value2'")
            sp.add_argument("--verbose", action="store_true", help="stream cell output")
    args = ap.parse_args(argv)
    try:
        return {"execute": _cmd_execute, "verify": _cmd_verify, "parameters": _cmd_parameters}[
            args.cmd
        ](args)
    except PipelineError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
