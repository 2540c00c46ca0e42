"""Execute the book's notebooks headlessly and check that what gets published is current.

Every execution is a task on a Dask ``distributed`` cluster: an embedded local cluster of
``--jobs`` process workers (one thread each) by default, or an existing cluster at
``--scheduler tcp://host:8786``. Workers receive the notebook's source text and return the
executed notebook and its ledger JSON, so no shared filesystem is needed (every worker needs
the same ``companion`` sources installed; results from a worker with another version are
refused). ``execute`` skips notebooks whose executed copy is current unless ``--force``;
``sweep`` runs every notebook for every seed and aggregates each claim's verdicts and values
(``results/sweeps/<profile>/<notebook>.json``).

The notebooks are jupytext ``py:percent`` files ``notebooks/NN_name.py``. Each is converted to
ipynb, its ``parameters`` cell is checked against the parameters we are about to pass, and
papermill executes it (kernel ``python3``, working directory ``notebooks/``, a per-cell
timeout) into ``executed/NN_name.ipynb``. The executed notebook records a *stamp*: a hash of
its source text, the parameters and the ``companion`` modules it imports, directly or through
other modules (plus the package's data files and the pinned requirements). :func:`verify_executed` recomputes the stamp from the current sources and
refuses to publish a notebook whose stamp does not match.

Command line (what ``make execute`` calls)::

    python scripts/pipeline.py execute --profile ci --device cpu --jobs 2 [--only 03] \
        [-p name value ...] [--params "name=value ..."]
    python scripts/pipeline.py execute ... --force          # also re-execute current ones
    python scripts/pipeline.py execute ... --scheduler tcp://host:8786
    python scripts/pipeline.py sweep --seeds 0-19 --profile ci [--only 03] [--scheduler ...]
    python scripts/pipeline.py verify        # staleness guard only
    python scripts/pipeline.py parameters    # list every notebook's parameters
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import dataclasses
import hashlib
import json
import math
import os
import re
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
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


PACKAGE = "companion"


def imported_modules(source_text: str, module: str | None = None) -> set[str]:
    """Dotted names of the ``companion`` modules that ``source_text`` imports (anywhere in it,
    including imports inside functions). ``module`` is the dotted name of the importing module,
    needed to resolve relative imports; a notebook has none. IPython magics are ignored."""
    lines = [ln for ln in source_text.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        # Not plain Python: fall back to the import lines alone.
        pattern = re.compile(
            rf"^\s*(?:from\s+({PACKAGE}(?:\.\w+)*)\s+import\s+([\w\s,]+)"
            rf"|import\s+({PACKAGE}(?:\.\w+)*))",
            re.M,
        )
        found: set[str] = set()
        for m in pattern.finditer(source_text):
            if m.group(3):
                found.add(m.group(3))
            else:
                found.add(m.group(1))
                found.update(
                    f"{m.group(1)}.{n.split()[0]}" for n in m.group(2).split(",") if n.strip()
                )
        return found
    package = module.rsplit(".", 1)[0] if module else None
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == PACKAGE)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if package is None:
                    continue
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            if base.split(".")[0] != PACKAGE:
                continue
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)  # ``from pkg import module``
    return found


def package_digest(root: Path = ROOT) -> str:
    """Manifest of the ``companion`` package under ``root`` and the pinned requirements: for
    every file its SHA-256 and, for a module, the ``companion`` modules it imports.

    It is what a run records as the version of the package; :func:`stamp` hashes only the part
    of it a notebook depends on (:func:`dependencies`), so changing a module that a chapter does
    not import leaves that chapter's executions current.
    """
    pkg = root / PACKAGE
    manifest: dict[str, dict[str, Any]] = {}
    for p in sorted(pkg.rglob("*")):
        if not p.is_file() or "__pycache__" in p.parts:
            continue
        rel = p.relative_to(root).as_posix()
        data = p.read_bytes()
        entry: dict[str, Any] = {"sha256": hashlib.sha256(data).hexdigest()}
        if p.suffix == ".py":
            dotted = rel[: -len(".py")].replace("/", ".")
            name = dotted if p.name != "__init__.py" else dotted + ".__init__"
            entry["imports"] = sorted(imported_modules(data.decode("utf-8"), name))
        manifest[rel] = entry
    req = root / "requirements.txt"
    if req.is_file():
        manifest["requirements.txt"] = {"sha256": hashlib.sha256(req.read_bytes()).hexdigest()}
    return json.dumps(manifest, sort_keys=True, separators=(",", ":"))


def _module_file(name: str, manifest: dict[str, Any]) -> str | None:
    """The manifest key of module ``name`` (``companion.x`` -> ``companion/x.py``), if any."""
    path = name.replace(".", "/")
    for key in (f"{path}.py", f"{path}/__init__.py"):
        if key in manifest:
            return key
    return None  # a name defined inside a module, not a module of its own


def dependencies(source_text: str, manifest: dict[str, Any]) -> list[str]:
    """The manifest entries a notebook depends on: the ``companion`` modules it imports,
    directly or through other ``companion`` modules, every package ``__init__`` on the way,
    every non-Python file of the package (data) and the pinned requirements."""
    keep = {k for k in manifest if not k.endswith(".py")}
    todo = sorted(imported_modules(source_text))
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # the module and its parent packages
            key = _module_file(".".join(parts[:i]), manifest)
            if key is None or key in keep:
                continue
            keep.add(key)
            todo.extend(manifest[key].get("imports", []))
    return sorted(keep)


def stamp(source_text: str, params: dict[str, Any], digest: str) -> str:
    """Hash of a notebook's source text, its parameters and the part of the package manifest
    ``digest`` (:func:`package_digest`) that the notebook depends on. A ``digest`` that is not
    a manifest is hashed as it is."""
    h = hashlib.sha256()
    h.update(b"source\0" + source_text.encode("utf-8") + b"\0")
    h.update(b"params\0" + json.dumps(params, sort_keys=True, default=str).encode() + b"\0")
    try:
        manifest = json.loads(digest)
    except ValueError:
        manifest = None
    if not isinstance(manifest, dict):
        h.update(b"companion\0" + digest.encode())
        return h.hexdigest()
    for key in dependencies(source_text, manifest):
        h.update(f"{key}\0{manifest[key]['sha256']}\0".encode())
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
        f"{{download}}`{name}.ipynb <{name}.ipynb>`. In a checkout, `make lab` opens it as a "
        f"notebook in JupyterLab, and `make book ONLY={name.split('_')[0]}` reruns it and "
        f"rebuilds the book.\n```"
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


# --------------------------------------------------------------------------------------------
# Distributed execution (Dask)
# --------------------------------------------------------------------------------------------

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
#: Variables a Dask nanny sets for its worker that a notebook kernel must not inherit: with
#: ``MALLOC_TRIM_THRESHOLD_=65536`` glibc returns memory to the system after nearly every tensor
#: is freed, which makes small-tensor loops two to three times slower. The kernel gets the
#: client's value (unset by default) instead.
CLIENT_VARS = ("MALLOC_TRIM_THRESHOLD_",)
#: The client's values, read at import: a local cluster's nannies live in the client process and
#: set them there before they spawn their workers.
CLIENT_ENV = {v: os.environ.get(v) for v in CLIENT_VARS}


@dataclasses.dataclass
class Run:
    """One execution of one notebook, as a worker returns it to the client.

    The worker executes in a private temporary directory and ships the executed notebook and
    the ledger JSON back as text, so client and workers need no shared filesystem.
    """

    name: str
    seed: int | None
    ok: bool
    seconds: float
    message: str = ""
    notebook: str | None = None  # the executed (or failed) notebook, nbformat JSON
    results: str | None = None  # the ledger JSON written by the notebook
    worker: str = ""
    package: str = ""  # digest of the companion package the worker imported


def installed_package_digest() -> str:
    """Digest of the ``companion`` package this process imports (see :func:`package_digest`)."""
    import companion

    return package_digest(Path(companion.__file__).resolve().parent.parent)


def run_notebook(
    name: str,
    source_text: str,
    params: dict[str, Any],
    timeout: int,
    threads: int,
    digest: str,
    quiet: bool = True,
    client_env: dict[str, str | None] | None = None,
) -> Run:
    """Execute one notebook from its source text in a temporary directory; never raises.

    This is the task a Dask worker runs. ``digest`` is the client's package digest, recorded
    in the stamp; the worker also reports the digest of the package it actually imports, so
    that the client can refuse results computed with another version of ``companion``.
    ``client_env`` holds the client's values of :data:`CLIENT_VARS` for the kernel.
    """
    import socket
    import tempfile

    package = installed_package_digest()  # what the kernel will import, read before it starts
    saved = {v: os.environ.get(v) for v in (*THREAD_VARS, *CLIENT_VARS)}
    if threads > 0:
        os.environ.update({v: str(threads) for v in THREAD_VARS})
    for v in CLIENT_VARS:
        value = (client_env or {}).get(v)
        if value is None:
            os.environ.pop(v, None)
        else:
            os.environ[v] = value
    try:
        with tempfile.TemporaryDirectory(prefix=f"companion-{name}-") as tmp:
            src = Path(tmp) / "notebooks" / f"{name}.py"
            src.parent.mkdir()
            src.write_text(source_text, encoding="utf-8")
            out = Path(tmp) / "executed"
            o = execute_one(src, out, params, timeout, digest, quiet)
            nb_path = out / (f"{name}.ipynb" if o.ok else f"{name}.failed.ipynb")
            res_path = out / "results" / f"{name}.json"
            message = o.message.replace(str(tmp), "<worker>")
            return Run(
                name=name,
                seed=params.get("seed"),
                ok=o.ok,
                seconds=o.seconds,
                message=message,
                notebook=nb_path.read_text(encoding="utf-8") if nb_path.is_file() else None,
                results=res_path.read_text(encoding="utf-8") if res_path.is_file() else None,
                worker=socket.gethostname(),
                package=package,
            )
    finally:
        for v, old in saved.items():
            if old is None:
                os.environ.pop(v, None)
            else:
                os.environ[v] = old


@contextlib.contextmanager
def dask_client(jobs: int = 1, scheduler: str | None = None) -> Iterator[Any]:
    """A ``distributed.Client``: on ``scheduler`` (``tcp://host:8786``) if given, else on an
    embedded local cluster of ``jobs`` process workers with one thread each.

    On a remote cluster this script is uploaded to the scheduler and the workers, so they need
    only the project's environment (``companion`` and the pinned packages), not a checkout.
    """
    from distributed import Client, LocalCluster

    if scheduler:
        client = Client(scheduler, timeout="30s")
        try:
            # Scheduler and workers import this file by name; it needs only the standard library
            # at import time, and workers that join later receive it too.
            client.upload_file(__file__, load=False)
            yield client
        finally:
            client.close()
        return
    cluster = LocalCluster(
        n_workers=max(1, jobs),
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=50,  # logging.CRITICAL: a worker's own logs would interleave with ours
    )
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def submit_runs(
    client: Any,
    tasks: Sequence[tuple[str, str, dict[str, Any]]],
    timeout: int,
    threads: int,
    digest: str,
    quiet: bool = True,
    remote: bool = False,
) -> Iterator[Run]:
    """Submit ``(name, source_text, params)`` runs to ``client``; yield each :class:`Run` once,
    as it completes.

    A run lost with a dying worker is rescheduled by the scheduler on another worker; each
    task has a unique key, so a run is never reported twice. A task that keeps killing its
    workers is reported as a failed run, naming the notebook and seed. On a ``remote`` cluster a
    run computed with another version of the ``companion`` package than this client's is
    reported as failed (workers of a local cluster import the client's own files).
    """
    local = installed_package_digest() if remote else None
    from distributed import as_completed

    futures = {}
    for name, text, params in tasks:
        key = f"notebook-{name}-seed{params.get('seed')}-{hashlib.sha1(os.urandom(8)).hexdigest()}"
        fut = client.submit(
            run_notebook,
            name,
            text,
            params,
            timeout,
            threads,
            digest,
            quiet,
            CLIENT_ENV,
            key=key,
            pure=False,
        )
        futures[fut] = (name, params)
    for fut in as_completed(list(futures)):
        name, params = futures.pop(fut)
        try:
            run = fut.result()
        except Exception as exc:  # noqa: BLE001 - e.g. KilledWorker: report, keep going
            run = Run(name, params.get("seed"), False, 0.0, f"notebook {name} failed: {exc!r}")
        fut.release()
        if local is not None and run.package and run.package != local:
            run.ok = False
            run.message = (
                f"notebook {name}: worker {run.worker} imports another version of the companion "
                "package than this client; install the same sources on every worker"
            )
        yield run


def _write_run(run: Run, out_dir: Path) -> None:
    """Write a run's executed notebook and results under ``out_dir`` as a local run would."""
    final = out_dir / f"{run.name}.ipynb"
    failed = out_dir / f"{run.name}.failed.ipynb"
    results = out_dir / "results" / f"{run.name}.json"
    for p in (final, failed, results):
        p.unlink(missing_ok=True)
    results.parent.mkdir(parents=True, exist_ok=True)
    if run.notebook is not None:
        target = final if run.ok else failed
        target.write_text(run.notebook, encoding="utf-8")
        if not run.ok:
            run.message += f"\n    (executed notebook with the traceback: {failed})"
    if run.ok and run.results is not None:
        results.write_text(run.results, encoding="utf-8")


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
    scheduler: str | None = None,
) -> list[Outcome]:
    """Execute ``sources`` as tasks on a Dask cluster and write them under ``out_dir``.

    The cluster is an embedded local one with ``jobs`` process workers (one thread each), or
    the existing cluster at ``scheduler``. Every kernel gets ``threads`` CPU threads
    (``OMP_NUM_THREADS``; 0 leaves torch's default), the same whatever ``jobs`` is: parallel
    reductions can round differently with another thread count, and a parallel run must give
    the same numbers as a serial one.

    All parameters are validated for every notebook before the first one starts.
    """
    params = dict(params or {})
    for src in sources:  # fail fast, before spending minutes on execution
        check_parameters(read_notebook(src), src.stem, params)
    out_dir.mkdir(parents=True, exist_ok=True)
    digest = package_digest(root)
    tasks = [(s.stem, s.read_text(encoding="utf-8"), params) for s in sources]
    outcomes: list[Outcome] = []
    with dask_client(min(jobs, len(sources)) or 1, scheduler) as client:
        for run in submit_runs(
            client, tasks, timeout, threads, digest, quiet, remote=bool(scheduler)
        ):
            _write_run(run, out_dir)
            o = Outcome(run.name, run.ok, run.seconds, run.message)
            outcomes.append(o)
            report(f"[{'ok' if o.ok else 'FAILED'}] {o.name} ({o.seconds:.1f} s)")
    order = {s.stem: i for i, s in enumerate(sources)}
    outcomes.sort(key=lambda o: order[o.name])
    return outcomes


# --------------------------------------------------------------------------------------------
# Seed sweeps
# --------------------------------------------------------------------------------------------

SWEEPS = ROOT / "results" / "sweeps"


def parse_seeds(text: str) -> list[int]:
    """Seeds from ``"0-19"``, ``"0,3,7"`` or a mix (``"0-4,10"``); an error names the input."""
    seeds: list[int] = []
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise PipelineError(f"SEEDS={text!r}: expected ranges like 0-19 or lists like 0,3,7")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi < lo:
            raise PipelineError(f"SEEDS={text!r}: range {part} is empty")
        seeds.extend(range(lo, hi + 1))
    if not seeds:
        raise PipelineError(f"SEEDS={text!r} holds no seed")
    if len(set(seeds)) != len(seeds):
        raise PipelineError(f"SEEDS={text!r} repeats a seed")
    return seeds


def sweep_stamp(source_text: str, params: dict[str, Any], digest: str) -> str:
    """The stamp of a sweep: source, parameters other than the seed, package."""
    return stamp(source_text, {k: v for k, v in params.items() if k != "seed"}, digest)


def aggregate(
    name: str, runs: Sequence[Run], params: dict[str, Any], stamp_: str
) -> dict[str, Any]:
    """Per-claim stability over the runs of one notebook: verdict counts, values per seed,
    mean and spread of the measured value."""
    import statistics

    ok = sorted((r for r in runs if r.ok and r.results), key=lambda r: r.seed or 0)
    ledgers = [json.loads(r.results or "{}") for r in ok]
    claims: dict[str, dict[str, Any]] = {}
    for led, run in zip(ledgers, ok, strict=True):
        for c in led.get("claims", []):
            entry = claims.setdefault(
                c["id"],
                {
                    "id": c["id"],
                    "kind": c.get("kind"),
                    "paper": c.get("paper"),
                    "claim": c.get("claim"),
                    "section": c.get("section"),
                    "expected": c.get("expected"),
                    "criterion": c.get("criterion"),
                    "seeds": [],
                    "measured": [],
                    "verdicts": [],
                },
            )
            entry["seeds"].append(run.seed)
            entry["measured"].append(c.get("measured"))
            entry["verdicts"].append(c.get("verdict"))
    for entry in claims.values():
        finite = [float(x) for x in entry["measured"] if isinstance(x, int | float)]
        finite = [x for x in finite if math.isfinite(x)]
        entry["counts"] = {v: entry["verdicts"].count(v) for v in sorted(set(entry["verdicts"]))}
        entry["mean"] = statistics.fmean(finite) if finite else None
        entry["sd"] = statistics.stdev(finite) if len(finite) > 1 else None
    return {
        "notebook": name,
        "title": ledgers[0].get("title", name) if ledgers else name,
        "profile": params.get("profile"),
        "parameters": {k: v for k, v in params.items() if k != "seed"},
        "seeds": [r.seed for r in ok],
        "stamp": stamp_,
        "failures": [
            {"seed": r.seed, "message": r.message}
            for r in sorted(runs, key=lambda r: r.seed or 0)
            if not r.ok
        ],
        "claims": list(claims.values()),
    }


def sweep(
    sources: Sequence[Path],
    seeds: Sequence[int],
    params: dict[str, Any] | None = None,
    *,
    out_dir: Path | None = None,
    jobs: int = 1,
    timeout: int = 1200,
    threads: int = 1,
    root: Path = ROOT,
    scheduler: str | None = None,
    progress: bool = True,
) -> dict[str, dict[str, Any]]:
    """Run every notebook for every seed on a Dask cluster; aggregate per notebook and claim.

    Writes ``out_dir/<notebook>.json`` (default ``results/sweeps/<profile>/``) and returns the
    aggregates. A failing run is reported with its chapter, seed and cell; the other runs still
    complete.
    """
    from tqdm.auto import tqdm

    params = dict(params or {})
    params.pop("seed", None)
    for src in sources:
        check_parameters(read_notebook(src), src.stem, {**params, "seed": 0})
    digest = package_digest(root)
    texts = {s.stem: s.read_text(encoding="utf-8") for s in sources}
    tasks = [
        (name, text, {**params, "seed": int(k)}) for name, text in texts.items() for k in seeds
    ]
    runs: dict[str, list[Run]] = {name: [] for name in texts}
    bar = tqdm(total=len(tasks), desc="sweep", unit="run", disable=not progress)
    with dask_client(min(jobs, len(tasks)) or 1, scheduler) as client:
        for run in submit_runs(client, tasks, timeout, threads, digest, remote=bool(scheduler)):
            runs[run.name].append(run)
            bar.update(1)
            if not run.ok:
                bar.write(f"FAILED {run.name} seed {run.seed}: {run.message}")
    bar.close()
    target = out_dir if out_dir is not None else SWEEPS / str(params.get("profile", "ci"))
    target.mkdir(parents=True, exist_ok=True)
    out: dict[str, dict[str, Any]] = {}
    for name, text in texts.items():
        agg = aggregate(name, runs[name], params, sweep_stamp(text, params, digest))
        (target / f"{name}.json").write_text(
            json.dumps(agg, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        out[name] = agg
    return out


def is_current(src: Path, out_dir: Path, params: dict[str, Any], digest: str) -> bool:
    """Whether ``out_dir`` holds an execution of ``src`` with ``params`` that is still current
    (same source, parameters and package), with its results."""
    import nbformat

    path = out_dir / f"{src.stem}.ipynb"
    res = out_dir / "results" / f"{src.stem}.json"
    if not path.is_file():
        return False
    try:
        recorded = nbformat.read(path, as_version=4).metadata.get("companion", {}).get("stamp")
        run = (
            json.loads(res.read_text(encoding="utf-8")).get("execution", {})
            if res.is_file()
            else {}
        )
    except (OSError, ValueError):
        return False
    expected = stamp(src.read_text(encoding="utf-8"), params, digest)
    return recorded == expected and (not res.is_file() or run.get("stamp") == recorded)


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


def _params(args: argparse.Namespace) -> dict[str, Any]:
    params = {"profile": args.profile, "seed": getattr(args, "seed", 0), "device": args.device}
    params.update(parse_params(args.p or (), args.params or ""))
    return params


def _cmd_execute(args: argparse.Namespace) -> int:
    sources = discover(Path(args.notebooks), args.only)
    if not sources:
        print("no notebooks found in", args.notebooks)
        return 0
    params = _params(args)
    out = Path(args.out)
    if not args.force:
        digest = package_digest()
        current = [s for s in sources if is_current(s, out, params, digest)]
        if current:
            print(
                f"up to date, not executed again: {', '.join(s.stem for s in current)} "
                "(FORCE=1 re-executes)"
            )
        sources = [s for s in sources if s not in current]
        if not sources:
            return 0
    jobs = args.jobs or os.cpu_count() or 1
    where = f"scheduler {args.scheduler}" if args.scheduler else f"jobs={min(jobs, len(sources))}"
    print(
        f"executing {len(sources)} notebook(s) with {params} ({where}, "
        f"threads per kernel {args.threads or 'default'}, cell timeout {args.timeout} s)",
        flush=True,
    )
    t0 = time.perf_counter()
    outcomes = execute_all(
        sources,
        out,
        params,
        jobs=jobs,
        timeout=args.timeout,
        threads=args.threads,
        quiet=not args.verbose,
        report=lambda s: print(s, flush=True),
        scheduler=args.scheduler or None,
    )
    failures = [o for o in outcomes if not o.ok]
    n_ok = len(outcomes) - len(failures)
    print(f"executed {n_ok}/{len(outcomes)} in {time.perf_counter() - t0:.1f} s")
    for o in failures:
        print(f"\nERROR: {o.message}", file=sys.stderr)
    return 1 if failures else 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    sources = discover(Path(args.notebooks), args.only)
    seeds = parse_seeds(args.seeds)
    params = _params(args)
    jobs = args.jobs or os.cpu_count() or 1
    where = f"scheduler {args.scheduler}" if args.scheduler else f"a local cluster of {jobs}"
    print(f"sweep: {len(sources)} notebook(s) x {len(seeds)} seeds on {where}", flush=True)
    aggs = sweep(
        sources,
        seeds,
        params,
        out_dir=Path(args.out) if args.out else None,
        jobs=jobs,
        timeout=args.timeout,
        threads=args.threads,
        scheduler=args.scheduler or None,
    )
    failed = 0
    for name, agg in aggs.items():
        stable = sum(1 for c in agg["claims"] if len(c["counts"]) == 1)
        print(f"{name}: {len(agg['seeds'])} runs, {stable}/{len(agg['claims'])} claims stable")
        for f in agg["failures"]:
            failed += 1
            print(f"\nERROR: seed {f['seed']}: {f['message']}", file=sys.stderr)
    return 1 if failed else 0


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
    for name in ("execute", "sweep", "verify", "parameters"):
        sp = sub.add_parser(name)
        sp.add_argument("--notebooks", default=str(NOTEBOOKS))
        sp.add_argument(
            "--out", default="" if name == "sweep" else str(EXECUTED), help="output directory"
        )
        sp.add_argument("--only", default="", help="notebook prefixes, e.g. '03' or '00,03'")
        if name in ("execute", "sweep"):
            sp.add_argument("--profile", default="ci", choices=PROFILES)
            if name == "execute":
                sp.add_argument("--seed", type=int, default=0)
                sp.add_argument("--force", action="store_true", help="re-execute current ones")
            else:
                sp.add_argument("--seeds", default="0-9", help="e.g. 0-19 or 0,3,7")
            sp.add_argument("--scheduler", default="", help="tcp://host:8786 (default: local)")
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
        commands = {
            "execute": _cmd_execute,
            "sweep": _cmd_sweep,
            "verify": _cmd_verify,
            "parameters": _cmd_parameters,
        }
        return commands[args.cmd](args)
    except PipelineError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
