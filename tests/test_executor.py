"""Tests of distributed execution: the Dask executor, seed sweeps against a real scheduler with
a worker killed mid-sweep, cached execution, and publishing to a git remote.

Each test runs a few tiny kernels; the scheduler test starts a real ``dask scheduler`` and two
``dask worker`` processes on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import pipeline  # noqa: E402
import publish  # noqa: E402

HEADER = """\
# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---
"""

BODY = """
# %%
import time
import numpy as np
from companion.ledger import Ledger, at_most
from companion.stats import t_interval

time.sleep(pause)
rng = np.random.default_rng(seed)
x = rng.normal(size=(5, 200))
ledger = Ledger(NAME, title="Toy", profile=profile, seed=seed, device=device)
ledger.record("T1", kind="check", paper="foundations", claim="mean is small",
              measured=float(abs(x.mean())), expect=at_most(0.1))
ledger.record("T2", kind="derived", paper="foundations", claim="seed means are small",
              measured=t_interval(x.mean(1)), expect=at_most(0.1))
if fail_on_seed == seed:
    raise RuntimeError(f"boom on seed {seed}")
"""


def toy(directory: Path, name: str, pause: float = 0.0) -> Path:
    params = f'profile = "ci"\nseed = 0\ndevice = "cpu"\npause = {pause}\nfail_on_seed = -1\n'
    text = (
        HEADER
        + f'\n# %% [markdown]\n# # Toy\n\n# %% tags=["parameters"]\n{params}\n'
        + textwrap.dedent(BODY).replace("NAME", repr(name))
    )
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.py"
    path.write_text(text, encoding="utf-8")
    return path


def values(aggs):
    return {
        name: [(c["id"], c["seeds"], c["measured"], c["counts"]) for c in agg["claims"]]
        for name, agg in aggs.items()
    }


def test_parse_seeds():
    assert pipeline.parse_seeds("0-3") == [0, 1, 2, 3]
    assert pipeline.parse_seeds("0-1,7") == [0, 1, 7]
    for bad in ("", "a-b", "3-1", "1,1"):
        with pytest.raises(pipeline.PipelineError, match="SEEDS"):
            pipeline.parse_seeds(bad)


def test_local_sweep_aggregates_and_names_failures(tmp_path):
    src = toy(tmp_path / "nbs", "01_toy")
    digest = pipeline.package_digest()
    aggs = pipeline.sweep(
        [src],
        [0, 1, 2],
        {"profile": "ci", "fail_on_seed": 1},
        out_dir=tmp_path / "sweeps",
        jobs=2,
        timeout=120,
        progress=False,
    )
    agg = aggs["01_toy"]
    assert agg["seeds"] == [0, 2]
    (failure,) = agg["failures"]
    assert failure["seed"] == 1
    assert "01_toy.py failed in cell 2" in failure["message"]
    assert "boom on seed 1" in failure["message"]
    t1 = next(c for c in agg["claims"] if c["id"] == "T1")
    assert t1["seeds"] == [0, 2] and t1["counts"] == {"supported": 2}
    assert t1["mean"] == pytest.approx(sum(t1["measured"]) / 2)
    on_disk = json.loads((tmp_path / "sweeps" / "01_toy.json").read_text())
    assert on_disk == json.loads(json.dumps(agg))
    assert on_disk["stamp"] == pipeline.sweep_stamp(
        src.read_text(), {"profile": "ci", "fail_on_seed": 1}, digest
    )


@pytest.fixture
def cluster(tmp_path):
    """A real scheduler and two workers on 127.0.0.1; yields (address, worker processes)."""
    bindir = Path(sys.executable).parent
    sched_file = tmp_path / "scheduler.json"
    common = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    procs = [
        subprocess.Popen(
            [str(bindir / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
             "--no-dashboard", "--scheduler-file", str(sched_file)],
            **common,
        )
    ]  # fmt: skip
    deadline = time.time() + 60
    while not sched_file.is_file() and time.time() < deadline:
        time.sleep(0.2)
    address = json.loads(sched_file.read_text())["address"]
    workers = [
        subprocess.Popen(
            [str(bindir / "dask"), "worker", address, "--nthreads", "1", "--nworkers", "1",
             "--no-dashboard", "--host", "127.0.0.1", "--name", f"w{i}"],
            **common,
        )
        for i in range(2)
    ]  # fmt: skip
    procs += workers
    from distributed import Client

    with Client(address, timeout="30s") as c:
        c.wait_for_workers(2, timeout=60)
    try:
        yield address, workers
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()


def test_sweep_on_a_scheduler_survives_a_killed_worker(tmp_path, cluster):
    address, workers = cluster
    srcs = [toy(tmp_path / "nbs", "01_toy", pause=2.0)]
    seeds = [0, 1, 2, 3]
    serial = pipeline.sweep(srcs, seeds[:2], {"profile": "ci"}, out_dir=tmp_path / "serial",
                            jobs=1, timeout=120, progress=False)  # fmt: skip
    remote = pipeline.sweep(srcs, seeds[:2], {"profile": "ci"}, out_dir=tmp_path / "remote",
                            timeout=120, scheduler=address, progress=False)  # fmt: skip
    assert values(remote) == values(serial)

    # Kill one worker (with its nanny: a lost machine) while runs are in flight.
    seen: list[tuple[str, int | None]] = []
    digest = pipeline.package_digest()
    tasks = [(s.stem, s.read_text(), {"profile": "ci", "seed": k}) for s in srcs for k in seeds]
    with pipeline.dask_client(scheduler=address) as client:
        for i, run in enumerate(pipeline.submit_runs(client, tasks, 120, 1, digest)):
            assert run.ok, run.message
            seen.append((run.name, run.seed))
            if i == 0:
                os.killpg(workers[0].pid, signal.SIGKILL)
                workers[0].wait()
    assert sorted(seen) == sorted((n, p["seed"]) for n, _, p in tasks)  # each exactly once
    assert len(seen) == len(set(seen))


def test_execute_skips_current_notebooks_unless_forced(tmp_path):
    toy(tmp_path / "nbs", "01_toy")
    cmd = [sys.executable, str(ROOT / "scripts" / "pipeline.py"), "execute", "--notebooks",
           str(tmp_path / "nbs"), "--out", str(tmp_path / "out"), "--jobs", "1"]  # fmt: skip
    first = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert "executed 1/1" in first.stdout
    executed = tmp_path / "out" / "01_toy.ipynb"
    mtime = executed.stat().st_mtime_ns
    again = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert "up to date, not executed again: 01_toy" in again.stdout
    assert executed.stat().st_mtime_ns == mtime
    other = subprocess.run(cmd + ["--seed", "1"], capture_output=True, text=True, check=True)
    assert "executed 1/1" in other.stdout  # other parameters: not current
    forced = subprocess.run(
        cmd + ["--seed", "1", "--force"], capture_output=True, text=True, check=True
    )
    assert "executed 1/1" in forced.stdout


def _git(*args: str, cwd: Path) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}  # fmt: skip
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True, env=env
    ).stdout


def test_publish_to_a_local_bare_repository(tmp_path, monkeypatch):
    root = tmp_path / "repo"
    (root / "companion").mkdir(parents=True)
    (root / "companion" / "core.py").write_text("X = 1\n")
    src = toy(root / "notebooks", "01_toy")
    executed = root / "executed"
    (o,) = pipeline.execute_all([src], executed, {}, timeout=120, root=root, report=lambda s: None)
    assert o.ok, o.message
    html = root / "_build" / "html"
    html.mkdir(parents=True)
    (html / "index.html").write_text("<html><body>the book</body></html>\n")
    bare = tmp_path / "remote.git"
    _git("init", "-q", "--bare", str(bare), cwd=tmp_path)
    _git("init", "-q", cwd=root)
    _git("remote", "add", "origin", str(bare), cwd=root)
    _git("commit", "-q", "--allow-empty", "-m", "init", cwd=root)
    monkeypatch.chdir(root)
    monkeypatch.setenv("GIT_AUTHOR_NAME", "t")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "t@t")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "t")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "t@t")

    with pytest.raises(publish.PublishError, match="no successful build"):
        publish.publish(html, executed=executed, root=root)
    publish.mark(html, executed=executed)
    publish.publish(html, executed=executed, root=root)
    assert "the book" in _git("--git-dir", str(bare), "show", "gh-pages:index.html", cwd=tmp_path)
    assert ".nojekyll" in _git(
        "--git-dir", str(bare), "ls-tree", "--name-only", "gh-pages", cwd=tmp_path
    )

    src.write_text(src.read_text() + "\n# %%\nx = 1\n")  # the chapter changed since it ran
    with pytest.raises(publish.PublishError, match="stale"):
        publish.publish(html, executed=executed, root=root)


def test_kernel_does_not_inherit_the_nannys_malloc_setting(tmp_path, monkeypatch):
    body = (
        "\n# %%\nimport os\nfrom myst_nb import glue\n"
        'glue("trim", str(os.environ.get("MALLOC_TRIM_THRESHOLD_")), display=False)\n'
    )
    src = tmp_path / "nbs" / "01_env.py"
    toy(tmp_path / "nbs", "01_env")
    src.write_text(src.read_text() + body)
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    (o,) = pipeline.execute_all([src], tmp_path / "out", {}, timeout=120, report=lambda s: None)
    assert o.ok, o.message
    text = (tmp_path / "out" / "01_env.ipynb").read_text()
    assert '"None"' in text or "'None'" in text  # the nanny's 65536 did not reach the kernel
