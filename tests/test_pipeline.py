"""Tests of the book pipeline: notebook contract, execution, errors, staleness, results, pages.

Throw-away notebooks are written under ``tmp_path`` and executed with the real executor
(``scripts/pipeline.py``), so these tests run a few tiny kernels (seconds each).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import check_html  # noqa: E402
import check_results  # noqa: E402
import make_pages  # noqa: E402
import pipeline  # noqa: E402

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


def make_notebook(
    directory: Path, name: str, body: str, params: str | None = None, title: str = "Toy"
) -> Path:
    """Write a jupytext notebook ``directory/name.py`` with a parameters cell and ``body``."""
    if params is None:
        params = 'profile = "ci"\nseed = 0\ndevice = "cpu"\nscale = 1.0\n'
    text = (
        HEADER
        + f'\n# %% [markdown]\n# # {title}\n\n# %% tags=["parameters"]\n{params}\n'
        + textwrap.dedent(body)
    )
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.py"
    path.write_text(text, encoding="utf-8")
    return path


LEDGER_BODY = """
# %%
import torch
from companion.ledger import Ledger, at_most, close_to
from companion.stats import t_interval

torch.manual_seed(seed)
x = torch.randn(1000, dtype=torch.float64) * scale
ledger = Ledger(NAME, title="Toy", profile=profile, seed=seed, device=device)
ledger.record("T1", kind="check", paper="foundations", claim="sample mean is small",
              measured=x.mean().abs().item(), expect=at_most(0.2), section="toy-sec")
ledger.record("T2", kind="paper", source="abstract", paper="2408.04221",
              claim="sample std is near scale",
              measured=t_interval(x.reshape(10, 100).std(1).numpy()),
              expect=close_to(scale, 0.1), section="toy-sec")

# %%
import numpy as np
from myst_nb import glue

glue("toy_value", np.float64(0.25), display=False)

# %% [markdown]
# (toy-sec)=
# ## A section
"""


def ledger_notebook(directory: Path, name: str) -> Path:
    return make_notebook(directory, name, LEDGER_BODY.replace("NAME", repr(name)))


@pytest.fixture(scope="module")
def fake_root(tmp_path_factory):
    """A minimal repository: notebooks/, a companion/ package source, requirements.txt.

    The toy notebooks import ``companion.ledger`` and ``companion.stats``; here ``ledger``
    imports ``core`` (so the notebooks depend on it) and nothing imports ``unused``.
    """
    root = tmp_path_factory.mktemp("repo")
    (root / "companion").mkdir()
    (root / "companion" / "__init__.py").write_text('"""Toy package."""\n')
    (root / "companion" / "core.py").write_text("X = 1\n")
    (root / "companion" / "ledger.py").write_text("from .core import X\n")
    (root / "companion" / "stats.py").write_text("Y = 2\n")
    (root / "companion" / "unused.py").write_text("Z = 3\n")
    (root / "requirements.txt").write_text("torch==2.13.0\n")
    ledger_notebook(root / "notebooks", "01_toy")
    ledger_notebook(root / "notebooks", "02_toy")
    return root


@pytest.fixture(scope="module")
def executed_serial(fake_root):
    out = fake_root / "executed"
    outcomes = pipeline.execute_all(
        pipeline.discover(fake_root / "notebooks"),
        out,
        {"profile": "ci", "seed": 3, "device": "cpu"},
        jobs=1,
        timeout=120,
        root=fake_root,
        report=lambda s: None,
    )
    assert [o.ok for o in outcomes] == [True, True], [o.message for o in outcomes]
    return out


# --------------------------------------------------------------------------------------------
# The notebook contract, on the real notebooks
# --------------------------------------------------------------------------------------------

REAL_NOTEBOOKS = pipeline.discover()


@pytest.mark.parametrize("src", REAL_NOTEBOOKS, ids=lambda p: p.stem)
def test_real_notebook_has_parameters_cell(src):
    nb = pipeline.read_notebook(src)
    pipeline.parameters_cell(nb, src.stem)  # exactly one tagged cell
    declared = pipeline.declared_parameters(nb, src.stem)
    assert {"profile", "seed", "device"} <= set(declared)
    assert declared["profile"] in ("ci", "full")
    header = src.read_text(encoding="utf-8").split("# ---", 2)[1]
    assert "kernelspec" in header and "name: python3" in header, "kernelspec python3 missing"


def test_every_notebook_is_in_the_toc_and_back():
    chapters = make_pages.toc_chapters(ROOT / "_toc.yml")
    assert sorted(chapters) == sorted(p.stem for p in REAL_NOTEBOOKS)


def test_no_committed_ipynb():
    proc = subprocess.run(
        ["git", "ls-files", "*.ipynb"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        pytest.skip("not a git checkout")
    assert proc.stdout.strip() == "", f"committed notebooks: {proc.stdout}"


# --------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------


def test_missing_parameters_tag_is_rejected(tmp_path):
    src = make_notebook(tmp_path, "01_x", "")
    src.write_text(src.read_text().replace('tags=["parameters"]', ""))
    with pytest.raises(pipeline.PipelineError, match=r"01_x.*tagged 'parameters'"):
        pipeline.check_parameters(pipeline.read_notebook(src), "01_x", {})


def test_declared_parameters(tmp_path):
    src = make_notebook(
        tmp_path, "01_x", "", params='profile = "ci"\nseed: int = 0\ndevice = "cpu"\nn = None\n'
    )
    declared = pipeline.declared_parameters(pipeline.read_notebook(src), "01_x")
    assert declared == {"profile": "ci", "seed": 0, "device": "cpu", "n": None}


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"nosuch": 1}, r"01_x: unknown parameter\(s\) nosuch; .*defines: profile, seed"),
        ({"profile": "fast"}, "profile must be one of ci, full"),
        ({"seed": "abc"}, "parameter seed expects a int"),
        ({"scale": True}, "parameter scale expects a float"),
    ],
)
def test_bad_parameters_rejected(tmp_path, params, match):
    src = make_notebook(tmp_path, "01_x", "")
    with pytest.raises(pipeline.PipelineError, match=match):
        pipeline.check_parameters(pipeline.read_notebook(src), "01_x", params)


def test_good_parameters_accepted(tmp_path):
    src = make_notebook(tmp_path, "01_x", "")
    nb = pipeline.read_notebook(src)
    pipeline.check_parameters(nb, "01_x", {"profile": "full", "seed": 2, "scale": 3})


def test_required_parameters(tmp_path):
    src = make_notebook(tmp_path, "01_x", "", params='profile = "ci"\n')
    with pytest.raises(pipeline.PipelineError, match="missing: seed, device"):
        pipeline.check_parameters(pipeline.read_notebook(src), "01_x", {})


def test_parse_params():
    got = pipeline.parse_params([("n", "10")], "lr=1e-3 name=abc flag=true x=0.5")
    assert got == {"n": 10, "lr": 1e-3, "name": "abc", "flag": True, "x": 0.5}
    with pytest.raises(pipeline.PipelineError, match="name=value"):
        pipeline.parse_params(text="oops")


def test_unknown_parameter_rejected_before_execution(tmp_path):
    """The command line refuses, names the notebook and the parameter, and runs nothing."""
    nbdir = tmp_path / "nbs"
    make_notebook(nbdir, "01_x", "# %%\nopen('ran', 'w').write('yes')\n")
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "pipeline.py"), "execute"]
        + ["--notebooks", str(nbdir), "--out", str(out), "-p", "nosuch", "1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0
    assert "01_x" in proc.stderr and "nosuch" in proc.stderr
    assert not (nbdir / "ran").exists()
    assert not (out / "01_x.ipynb").exists()


def test_only_filter(tmp_path):
    for n in ("00_a", "01_b", "03_c"):
        make_notebook(tmp_path, n, "")
    assert [p.stem for p in pipeline.discover(tmp_path, "03")] == ["03_c"]
    assert [p.stem for p in pipeline.discover(tmp_path, "00,03")] == ["00_a", "03_c"]
    with pytest.raises(pipeline.PipelineError, match="matches no notebook"):
        pipeline.discover(tmp_path, "07")


# --------------------------------------------------------------------------------------------
# Execution
# --------------------------------------------------------------------------------------------


def test_executed_notebook(executed_serial, fake_root):
    nb = nbformat.read(executed_serial / "01_toy.ipynb", as_version=4)
    # provenance kept in the notebook, hidden in the book
    for tag in ("parameters", "injected-parameters"):
        cells = [c for c in nb.cells if tag in c.metadata.get("tags", [])]
        assert len(cells) == 1 and "remove-cell" in cells[0].metadata["tags"]
    injected = next(c for c in nb.cells if "injected-parameters" in c.metadata["tags"])
    assert "seed = 3" in injected.source
    meta = nb.metadata["companion"]
    assert meta["parameters"] == {"profile": "ci", "seed": 3, "device": "cpu"}
    assert len(meta["stamp"]) == 64
    # download links right after the title
    assert nb.cells[0].source.startswith("# Toy")
    assert "{download}`01_toy.py <../notebooks/01_toy.py>`" in nb.cells[1].source
    assert "01_toy.ipynb <01_toy.ipynb>" in nb.cells[1].source
    assert "`make lab`" in nb.cells[1].source and "`make book ONLY=01`" in nb.cells[1].source
    # numpy scalars glued as plain numbers (myst-nb formats them with {glue:text}`k:.2f`)
    glued = [o for c in nb.cells for o in c.get("outputs", []) if "scrapbook" in o.metadata]
    (g,) = glued
    assert g.data["application/papermill.record/text/plain"] == "0.25"
    # no error output anywhere
    assert not [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]


def test_results_written_by_the_ledger(executed_serial):
    data = json.loads((executed_serial / "results" / "01_toy.json").read_text())
    assert data["notebook"] == "01_toy" and data["seed"] == 3 and data["profile"] == "ci"
    assert [c["id"] for c in data["claims"]] == ["T1", "T2"]
    assert data["claims"][0]["verdict"] == "supported"
    assert data["execution"]["parameters"]["seed"] == 3
    nb = nbformat.read(executed_serial / "01_toy.ipynb", as_version=4)
    assert data["execution"]["stamp"] == nb.metadata["companion"]["stamp"]


def test_parallel_equals_serial(executed_serial, fake_root, tmp_path):
    out = tmp_path / "parallel"
    outcomes = pipeline.execute_all(
        pipeline.discover(fake_root / "notebooks"),
        out,
        {"profile": "ci", "seed": 3, "device": "cpu"},
        jobs=2,
        timeout=120,
        root=fake_root,
        report=lambda s: None,
    )
    assert all(o.ok for o in outcomes), [o.message for o in outcomes]
    for name in ("01_toy", "02_toy"):
        serial = json.loads((executed_serial / "results" / f"{name}.json").read_text())
        parallel = json.loads((out / "results" / f"{name}.json").read_text())
        assert parallel["claims"] == serial["claims"]
        assert parallel["execution"]["stamp"] == serial["execution"]["stamp"]


def test_failing_cell_is_named(tmp_path):
    body = """
    # %%
    x = 1

    # %%
    y = x + 1  # first line of the failing cell
    z = y / 0
    """
    src = make_notebook(tmp_path / "nbs", "05_fail", body)
    out = tmp_path / "out"
    (out / "results").mkdir(parents=True)
    (out / "05_fail.ipynb").write_text("{}")  # a previous run must not survive
    (out / "results" / "05_fail.json").write_text("{}")
    (o,) = pipeline.execute_all([src], out, {}, timeout=60, root=tmp_path, report=lambda s: None)
    assert not o.ok
    assert "05_fail.py" in o.message
    assert "in cell 3 " in o.message  # title 0, parameters 1, x = 1 is 2
    assert "y = x + 1  # first line of the failing cell" in o.message
    assert "ZeroDivisionError" in o.message
    assert not (out / "05_fail.ipynb").exists()
    assert not (out / "results" / "05_fail.json").exists()
    assert (out / "05_fail.failed.ipynb").exists()


def test_failing_notebook_exits_nonzero(tmp_path):
    make_notebook(tmp_path / "nbs", "06_fail", "# %%\nraise RuntimeError('boom')\n")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "pipeline.py"), "execute"]
        + ["--notebooks", str(tmp_path / "nbs"), "--out", str(tmp_path / "out"), "--jobs", "1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert "06_fail.py failed in cell 2" in proc.stderr
    assert "RuntimeError: boom" in proc.stderr


def test_cell_timeout_is_reported(tmp_path):
    src = make_notebook(tmp_path / "nbs", "07_slow", "# %%\nimport time\ntime.sleep(30)\n")
    (o,) = pipeline.execute_all(
        [src], tmp_path / "out", {}, timeout=2, root=tmp_path, report=lambda s: None
    )
    assert not o.ok
    assert "07_slow.py failed in cell 2" in o.message and "import time" in o.message


# --------------------------------------------------------------------------------------------
# Staleness guard
# --------------------------------------------------------------------------------------------


def test_staleness_guard(executed_serial, fake_root):
    names = ["01_toy", "02_toy"]
    nbdir = fake_root / "notebooks"

    def problems():
        return pipeline.verify_executed(names, executed_serial, nbdir, fake_root)

    assert problems() == []
    src = nbdir / "01_toy.py"
    text = src.read_text()
    try:
        src.write_text(text + "\n# an edit\n")
        (p,) = problems()
        assert p.startswith("01_toy: executed notebook is stale")
    finally:
        src.write_text(text)
    core = fake_root / "companion" / "core.py"  # imported through companion.ledger
    try:
        core.write_text("X = 2\n")
        assert [p.split(":")[0] for p in problems()] == names
    finally:
        core.write_text("X = 1\n")
    unused = fake_root / "companion" / "unused.py"  # imported by no notebook: nothing stale
    try:
        unused.write_text("Z = 4\n")
        assert problems() == []
    finally:
        unused.write_text("Z = 3\n")
    data = fake_root / "companion" / "data.npz"  # package data: every notebook may read it
    try:
        data.write_bytes(b"\x00")
        assert len(problems()) == 2
    finally:
        data.unlink()
    req = fake_root / "requirements.txt"
    try:
        req.write_text("torch==2.13.1\n")
        assert len(problems()) == 2
    finally:
        req.write_text("torch==2.13.0\n")
    assert problems() == []


def test_stamp_follows_the_import_graph(tmp_path):
    """A notebook's stamp covers the modules it imports, directly, from a package, relatively
    inside the package or inside a function, and nothing else."""
    pkg = tmp_path / "companion"
    (pkg / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "",
        "a.py": "from . import b\n\ndef f():\n    from .sub.c import g\n",
        "b.py": "import math\n",
        "sub/__init__.py": "",
        "sub/c.py": "from companion.d import h\n",
        "d.py": "h = 1\n",
        "e.py": "from .a import f\n",  # imports a, but nothing imports e
    }
    for rel, text in files.items():
        (pkg / rel).write_text(text)
    manifest = json.loads(pipeline.package_digest(tmp_path))
    nb = "# %%\nfrom companion import a as A\n%matplotlib inline\n"
    deps = pipeline.dependencies(nb, manifest)
    assert deps == [f"companion/{f}" for f in sorted(set(files) - {"e.py"})]
    before = pipeline.stamp(nb, {}, pipeline.package_digest(tmp_path))
    (pkg / "e.py").write_text("from .a import f\nX = 1\n")
    assert pipeline.stamp(nb, {}, pipeline.package_digest(tmp_path)) == before
    (pkg / "d.py").write_text("h = 2\n")  # three imports away
    assert pipeline.stamp(nb, {}, pipeline.package_digest(tmp_path)) != before
    # The chapters: chapter 04 does not depend on the SignReLU module, chapter 01 does.
    real = json.loads(pipeline.package_digest(ROOT))
    ch = {p.stem[:2]: p.read_text() for p in (ROOT / "notebooks").glob("0*.py")}
    assert "companion/signrelu.py" in pipeline.dependencies(ch["01"], real)
    assert "companion/signrelu.py" not in pipeline.dependencies(ch["04"], real)


def test_staleness_guard_catches_changed_parameters(executed_serial, fake_root, tmp_path):
    path = executed_serial / "02_toy.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.metadata["companion"]["parameters"]["seed"] = 4  # as if run with other parameters
    copy = tmp_path / "02_toy.ipynb"
    nbformat.write(nb, copy)
    (p,) = pipeline.verify_executed(["02_toy"], tmp_path, fake_root / "notebooks", fake_root)
    assert "stale" in p


def test_staleness_guard_unexecuted_and_foreign(fake_root, tmp_path):
    out = tmp_path / "ex"
    out.mkdir()
    nbformat.write(nbformat.v4.new_notebook(), out / "02_toy.ipynb")
    got = pipeline.verify_executed(["01_toy", "02_toy"], out, fake_root / "notebooks", fake_root)
    assert got[0].startswith("01_toy: not executed")
    assert got[1].startswith("02_toy:") and "no stamp" in got[1]


def test_build_step_refuses_stale_notebook(executed_serial, fake_root):
    """make_pages (the step before jupyter-book build) exits non-zero and names it."""
    (fake_root / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n"
        "  - file: executed/01_toy\n  - file: executed/02_toy\n"
    )
    make_pages.prepare(fake_root, executed_serial, mathjax=False, report=lambda s: None)
    generated = fake_root / "book" / "_generated"
    assert "{ref}`T1 <toy-sec>`" in (generated / "claims.md").read_text()
    src = fake_root / "notebooks" / "02_toy.py"
    text = src.read_text()
    try:
        src.write_text(text.replace("scale = 1.0", "scale = 2.0"))
        with pytest.raises(make_pages.PagesError, match=r"refusing to publish:\n  02_toy: "):
            make_pages.prepare(fake_root, executed_serial, mathjax=False, report=lambda s: None)
    finally:
        src.write_text(text)


def test_build_step_toc_consistency(fake_root, executed_serial, tmp_path):
    (fake_root / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n  - file: executed/01_toy\n"
    )
    with pytest.raises(make_pages.PagesError, match="not in _toc.yml: 02_toy"):
        make_pages.prepare(fake_root, executed_serial, mathjax=False, report=lambda s: None)


def test_only_build_leaves_out_unexecuted_chapters(fake_root, executed_serial, tmp_path):
    (fake_root / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nparts:\n  - caption: Chapters\n    chapters:\n"
        "      - file: executed/01_toy\n      - file: executed/02_toy\n"
        "  - caption: About\n    chapters:\n      - file: book/reproducing\n"
    )
    partial = tmp_path / "partial"
    (partial / "results").mkdir(parents=True)
    for f in ("02_toy.ipynb", "results/02_toy.json"):
        (partial / f).write_bytes((executed_serial / f).read_bytes())
    with pytest.raises(make_pages.PagesError, match="01_toy: not executed"):
        make_pages.prepare(fake_root, partial, mathjax=False, report=lambda s: None)
    toc = make_pages.prepare(
        fake_root, partial, allow_missing=True, mathjax=False, report=lambda s: None
    )
    text = toc.read_text()
    assert "executed/02_toy" in text and "executed/01_toy" not in text
    assert "book/reproducing" in text


# --------------------------------------------------------------------------------------------
# Results regression
# --------------------------------------------------------------------------------------------


def _run(claims, profile="ci"):
    return {"notebook": "nb", "profile": profile, "seed": 0, "date": "x", "claims": claims}


def _claim(**kw):
    c = {
        "id": "A",
        "paper": "foundations",
        "claim": "c",
        "section": "s",
        "measured": 1.0,
        "uncertainty": None,
        "uncertainty_kind": None,
        "expected": "≤ 2",
        "criterion": {"kind": "at_most", "params": {"value": 2.0}},
        "verdict": "supported",
        "rtol": 1e-6,
        "atol": 1e-12,
    }
    c.update(kw)
    return c


def test_results_within_tolerance_pass():
    ref = _run([_claim(measured=1.0)])
    fresh = _run([_claim(measured=1.0 + 5e-7)])
    fresh["date"], fresh["runtime_s"] = "other", 99.0  # run metadata is not compared
    assert check_results.compare_run(fresh, ref) == []


@pytest.mark.parametrize(
    ("fresh_kw", "expect"),
    [
        (dict(measured=1.0 + 1e-5), "A: measured 1.00001 (reference 1, |diff| 1e-05 > tol 1e-06"),
        (dict(verdict="inconclusive"), "A: verdict 'inconclusive' (reference 'supported')"),
        (dict(uncertainty=0.1), "A: uncertainty 0.1 (reference None"),
        (dict(measured="nan"), "A: measured nan (reference 1"),
        (dict(claim="other text"), "A: claim 'other text' (reference 'c')"),
        (dict(id="B"), "A: missing from the fresh results"),
    ],
)
def test_results_drift_detected(fresh_kw, expect):
    diffs = check_results.compare_run(_run([_claim(**fresh_kw)]), _run([_claim()]))
    assert any(d.startswith(expect) for d in diffs), diffs


def _new_claim(**kw):
    """A claim as the ledger records it since claims have kinds and declared intervals."""
    c = _claim(
        kind="paper",
        source="abstract",
        measured=0.9387,
        uncertainty=0.0038,
        interval=[0.9349, 0.9425],
        uncertainty_kind="t",
        n=5,
        uncertainty_note=None,
        uncertainty_text="95% t-interval over 5 seeds",
        rtol=1e-3,
        atol=0.0,
    )
    c.update(kw)
    return c


def test_results_new_fields_match():
    ref = _run([_new_claim()])
    fresh = _run([_new_claim(interval=[0.9349 * (1 + 5e-4), 0.9425])])  # within rtol
    assert check_results.compare_run(fresh, ref) == []


@pytest.mark.parametrize(
    ("fresh_kw", "expect"),
    [
        (dict(kind="derived"), "A: kind 'derived' (reference 'paper')"),
        (dict(source="summary"), "A: source 'summary' (reference 'abstract')"),
        (dict(uncertainty_kind="paired-t"), "A: uncertainty_kind 'paired-t' (reference 't')"),
        (dict(n=6), "A: n 6 (reference 5)"),
        (dict(interval=[0.9, 0.9425]), "A: interval low 0.9 (reference 0.9349, |diff|"),
        (dict(interval=[0.9349, 0.95]), "A: interval high 0.95 (reference 0.9425, |diff|"),
        (dict(interval=None), "A: interval None (reference [0.9349, 0.9425])"),
    ],
)
def test_results_new_fields_drift_detected(fresh_kw, expect):
    diffs = check_results.compare_run(_run([_new_claim(**fresh_kw)]), _run([_new_claim()]))
    assert any(d.startswith(expect) for d in diffs), diffs


def test_results_old_reference_against_migrated_chapter():
    """A chapter that gained kinds differs from its old reference until it is updated."""
    diffs = check_results.compare_run(_run([_new_claim()]), _run([_claim(**_old(_new_claim()))]))
    assert "A: kind 'paper' (reference None)" in diffs
    assert any(d.startswith("A: interval [0.9349, 0.9425] (reference None)") for d in diffs)
    # two results of the old form still compare as before
    assert check_results.compare_run(_run([_claim()]), _run([_claim()])) == []


def _old(c):
    new = ("kind", "source", "interval", "n", "uncertainty_note", "uncertainty_text")
    return {k: v for k, v in c.items() if k not in new}


def test_results_coverage_compared():
    rows = [
        {"statement": "s1", "source": "abstract", "ids": ["A"], "reason": None},
        {"statement": "s2", "source": "summary", "ids": [], "reason": "needs images"},
    ]
    ref = dict(_run([_new_claim()]), coverage=rows, coverage_section="x-coverage")
    same = dict(
        _run([_new_claim()]), coverage=[dict(r) for r in rows], coverage_section="x-coverage"
    )
    assert check_results.compare_run(same, ref) == []
    changed = [
        rows[0],
        dict(rows[1], reason="other"),
        {"statement": "s3", "source": "a", "ids": ["A"]},
    ]
    (d,) = check_results.compare_run(dict(same, coverage=changed), ref)
    assert d.startswith("coverage table differs from the reference: ")
    assert "new row 's3'" in d and "row 's2' changed" in d
    (d,) = check_results.compare_run(dict(same, coverage_section="y"), ref)
    assert d == "coverage_section 'y' (reference 'x-coverage')"


def test_results_tolerance_comes_from_reference():
    ref = _run([_claim(measured=1.0, rtol=0.0, atol=0.1)])
    assert check_results.compare_run(_run([_claim(measured=1.05)]), ref) == []
    assert check_results.compare_run(_run([_claim(measured=1.2)]), ref) != []


def test_results_profile_mismatch():
    (d,) = check_results.compare_run(_run([_claim()], "full"), _run([_claim()]))
    assert "profile 'full'" in d


def test_results_check_and_update(tmp_path):
    fresh, ref = tmp_path / "fresh", tmp_path / "ref"
    fresh.mkdir()
    (fresh / "nb.json").write_text(json.dumps(_run([_claim()])))
    (report,) = check_results.check(["nb"], fresh, ref)
    assert "no reference results" in report and "make update-results" in report
    check_results.update(["nb"], fresh, ref)
    assert check_results.check(["nb"], fresh, ref) == []
    (fresh / "nb.json").write_text(json.dumps(_run([_claim(measured=1.5)])))
    report = check_results.check(["nb"], fresh, ref)
    assert report[0] == f"nb: 1 difference(s) from {ref / 'nb.json'}:"
    assert report[1].startswith("    A: measured 1.5 (reference 1")
    (fresh / "nb.json").unlink()
    assert "no fresh results" in check_results.check(["nb"], fresh, ref)[0]


# --------------------------------------------------------------------------------------------
# Generated pages and the offline check
# --------------------------------------------------------------------------------------------


def test_claims_dashboard_markdown_unclassified():
    """Results recorded before claims had kinds show as unclassified, still complete."""
    runs = [
        {
            "notebook": "01_x",
            "profile": "ci",
            "date": "2026-01-02T03:04:05+00:00",
            "claims": [
                _claim(id="A", claim="a | b", paper="2601.21242"),
                _claim(id="B", verdict="not reproduced", section=None, measured="nan"),
                _claim(id="C", verdict="inconclusive", uncertainty=0.1, uncertainty_kind="boot"),
            ],
        }
    ]
    md = make_pages.claims_markdown(runs)
    assert "<strong>3 claims</strong>" in md
    assert _kind_counts(md) == {
        "paper": 0,
        "derived": 0,
        "question": 0,
        "check": 0,
        "unclassified": 3,
    }
    for verdict, symbol in (("supported", "✔"), ("inconclusive", "?"), ("not reproduced", "✘")):
        assert f"{symbol} {verdict}</span>" in md  # text and symbol, not colour alone
    assert md.count('data-kind="unclassified" data-verdict') == 3
    assert "{ref}`A <s>`" in md and "{cite:t}`sun2026signrelu`" in md
    assert "a \\| b" in md  # pipes escaped
    assert 'data-verdict="not reproduced"></span>B |' in md  # no section: no link
    assert '>1.00 ± 0.10</span><br><small class="claim-uncertainty">boot</small>' in md
    assert ">nan</span>" in md
    # the paper comes first, the shared setting last; no checks yet
    assert md.index("(claims-paper-2601-21242)=") < md.index("(claims-paper-foundations)=")
    assert "*No claim is recorded as a check yet.*" in md
    assert "No claims" in make_pages.claims_markdown([])


def _kind_counts(md):
    found = re.findall(r'<li data-kind="([a-z]+)">.*?claims-kind-count">(\d+)<', md)
    return {k: int(n) for k, n in found}


def _new_run():
    claims = [
        _new_claim(id="P1", paper="2408.04221", section="s2n-a"),
        _new_claim(
            id="P2",
            paper="2408.04221",
            source="Theorem 2, quoted",
            verdict="inconclusive",
            measured=1.234e-5,
            interval=[1.198e-5, 1.270e-5],
            uncertainty=3.6e-7,
        ),
        _new_claim(
            id="D1",
            kind="derived",
            source=None,
            paper="2408.04221",
            measured=2.0,
            interval=[1.0, 5.0],
            uncertainty=3.0,
            uncertainty_kind="bootstrap",
            n=999,
            uncertainty_text="95% bootstrap interval over 999 resamples (BCa)",
        ),
        _new_claim(
            id="Q1", kind="question", source=None, paper="2408.04221", verdict="not reproduced"
        ),
        _new_claim(
            id="K1",
            kind="check",
            source=None,
            paper="foundations",
            measured=3.1e-15,
            interval=None,
            uncertainty=None,
            uncertainty_kind="none",
            n=None,
            uncertainty_text="exact",
        ),
        _new_claim(id="K2", kind="check", source=None, paper="2408.04221"),
    ]
    coverage = [
        {"statement": "s1", "source": "abstract", "ids": ["P1"], "reason": None},
        {"statement": "s2", "source": "abstract", "ids": ["P2", "D1"], "reason": None},
        {"statement": "FID", "source": "summary", "ids": [], "reason": "needs pretrained nets"},
    ]
    return {
        "notebook": "03_s2n",
        "profile": "ci",
        "claims": claims,
        "coverage": coverage,
        "coverage_section": "s2n-coverage",
    }


def test_claims_dashboard_markdown_kinds():
    old = {
        "notebook": "00_f",
        "profile": "ci",
        "claims": [_claim(id="F1", paper="foundations", section="f-a")],
    }
    md = make_pages.claims_markdown([old, _new_run()])
    assert "<strong>7 claims</strong> from 2 chapters" in md
    assert _kind_counts(md) == {
        "paper": 2,
        "derived": 1,
        "question": 1,
        "check": 2,
        "unclassified": 1,
    }
    # one section per paper, the papers first, the shared setting last, then the checks
    s2n, found, checks = (
        md.index("(claims-paper-2408-04221)="),
        md.index("(claims-paper-foundations)="),
        md.index("(claims-checks)="),
    )
    assert s2n < found < checks
    assert "(claims-paper-2601-21242)=" not in md  # no claims, no chapter: no section
    section = md[s2n:found]
    # coverage line: 2 of 3 statements tested, linked to the chapter's coverage section
    assert '<span class="claims-coverage" data-tested="2" data-untested="1">' in section
    assert "{ref}`coverage table <s2n-coverage>`" in section
    assert "measured in {doc}`../executed/03_s2n`" in section
    # its paper, derived and question claims in that order; its check is not among them
    rows = re.findall(r'data-kind="(\w+)" data-verdict="[^"]*"></span>\{ref\}`(\w+)', section)
    assert rows == [("paper", "P1"), ("paper", "P2"), ("derived", "D1"), ("question", "Q1")]
    assert "derived (ours)" in section and "question (ours)" in section
    assert "source: abstract" in section and "source: Theorem 2, quoted" in section
    # values to their significant digits, with the interval's kind and n in small type
    assert ">0.9387 ± 0.0038</span>" in section
    assert "(1.234 ± 0.036)e-05" in section
    assert ">2.0 [1.0, 5.0]</span>" in section
    assert '<small class="claim-uncertainty">95% t-interval over 5 seeds</small>' in section
    assert "over 999 resamples (BCa)</small>" in section
    assert "2 paper, 1 derived (ours), 1 question (ours), 1 check of the machinery" in section
    # the old chapter's claim is unclassified, in the Foundations section
    assert 'data-kind="unclassified" data-verdict="supported"></span>{ref}`F1 <f-a>`' in md
    # checks: collapsed, in a dropdown, both papers' checks
    tail = md[checks:]
    drop = tail.index(":::{dropdown} Show the 2 checks (2 supported)")
    end = tail.index("\n:::\n", drop)
    assert ":class: claims-table claims-table-checks" in tail[drop:end]
    assert ":open:" not in tail[drop:end]
    ids = re.findall(r'data-kind="check" data-verdict="[^"]*"></span>\{ref\}`(\w+)', tail[drop:end])
    assert ids == ["K1", "K2"]
    assert '>3.1e-15</span><br><small class="claim-uncertainty">exact</small>' in tail
    # every row carries paper, kind and verdict for the filter, whose options list what occurs
    assert md.count('<span class="claim-row" data-paper=') == 7
    form = md[md.index('<form class="claims-filter" hidden') : md.index("</form>")]
    assert re.findall(r'data-filter="kind"><option value="">all</option>(.*?)</select>', form) == [
        '<option value="paper">paper</option><option value="derived">derived (ours)</option>'
        '<option value="question">question (ours)</option><option value="check">check</option>'
        '<option value="unclassified">unclassified</option>'
    ]
    assert '<option value="2408.04221">' in form and '<option value="2601.21242">' not in form


def test_dashboard_kinds_cover_the_ledger():
    from companion.ledger import CLAIM_KINDS, PAPERS

    assert set(make_pages.KIND_ORDER) == {*CLAIM_KINDS, make_pages.UNCLASSIFIED}
    assert set(make_pages.KIND_LABELS) == set(make_pages.KIND_ORDER)
    assert set(make_pages.PAPER_ORDER) == set(PAPERS)


def test_dashboard_coverage_line_without_table():
    run = _new_run()
    del run["coverage"], run["coverage_section"]
    md = make_pages.claims_markdown([run])
    assert "**Coverage:** {doc}`../executed/03_s2n` has not recorded its coverage table yet." in md


def test_runs_markdown():
    runs = [
        {
            "notebook": "01_x",
            "title": "X",
            "profile": "ci",
            "device": "cpu",
            "seed": 0,
            "date": "2026-01-02T03:04:05+00:00",
            "runtime_s": 1.0,
            "peak_memory_mb": 123.4,
            "claims": [1, 2],
            "execution": {"wall_s": 5.5},
        }
    ]
    md = make_pages.runs_markdown(runs)
    assert (
        "| {doc}`X <../executed/01_x>` | ci | cpu | 0 | 5.5 s | 123 MB | 2 | 2026-01-02 03:04 |"
        in md
    )


def test_offline_check_flags_external_resources(tmp_path):
    (tmp_path / "ok.html").write_text(
        '<html><script src="_static/a.js?v=1"></script>'
        '<a href="https://arxiv.org/abs/1">a link is fine</a></html>'
    )
    (tmp_path / "_static").mkdir()
    (tmp_path / "_static" / "a.js").write_text("")
    assert check_html.check(tmp_path) == []
    (tmp_path / "bad.html").write_text(
        '<script src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"></script>'
        '<link rel="stylesheet" href="//fonts.example.com/x.css"><img src="http://x/y.png">'
        '<span class="math">\\(x\\)</span>'
    )
    got = check_html.check(tmp_path)
    assert len([p for p in got if p.startswith("bad.html: external")]) == 3
    assert "bad.html: has math but does not load the local MathJax" in got


# --------------------------------------------------------------------------------------------
# Seed sweeps and full-profile results on the dashboard, the sweep page and the reproducing page
# --------------------------------------------------------------------------------------------

SWEEP_PARAMS = {"profile": "ci", "device": "cpu"}
SOURCE = "# a chapter source\n"
DIGEST = "d" * 64


def _sweep(run, verdicts_of, seeds=range(10), stamp=None, drop=(), failures=()):
    """A sweep of ``run`` built by pipeline.aggregate: ``verdicts_of(claim id, seed)``."""
    runs = []
    for k in seeds:
        led = json.loads(json.dumps(run))
        led["seed"] = k
        led["claims"] = [c for c in led["claims"] if c["id"] not in drop]
        for c in led["claims"]:
            c["verdict"] = verdicts_of(c["id"], k)
            c["measured"] = float(c["measured"]) * (1 + 0.01 * k)
        runs.append(pipeline.Run(run["notebook"], k, True, 1.0, results=json.dumps(led)))
    runs += [
        pipeline.Run(run["notebook"], k, False, 1.0, f"cell 3 failed (seed {k})") for k in failures
    ]
    if stamp is None:
        stamp = pipeline.sweep_stamp(SOURCE, SWEEP_PARAMS, DIGEST)
    return pipeline.aggregate(run["notebook"], runs, SWEEP_PARAMS, stamp)


def _full(run, flip=(), params=None, stamp=None):
    """A full-profile ledger of ``run`` with an execution stamp (current unless ``stamp``)."""
    full = json.loads(json.dumps(run))
    full["profile"] = "full"
    full.update(device="cuda", seed=0, date="2026-12-01T10:20:00+00:00", peak_memory_mb=2048.0)
    full["versions"] = {"python": "3.11.7", "torch": "2.13.0+cu126"}
    params = params or {"profile": "full", "seed": 0, "device": "cuda"}
    if stamp is None:
        stamp = pipeline.stamp(SOURCE, params, DIGEST)
    full["execution"] = {"stamp": stamp, "parameters": params, "wall_s": 754.0}
    for c in full["claims"]:
        if c["id"] in flip:
            c["verdict"] = "inconclusive"
    return full


def _stable(cid, k):
    """P1 always supported; P2 supported for seeds 0-5, inconclusive after; others supported."""
    return "inconclusive" if cid == "P2" and k >= 6 else "supported"


def test_stability_text():
    assert make_pages.stability_text({"counts": {"supported": 10}}) == "10/10 supported"
    text = make_pages.stability_text({"counts": {"inconclusive": 4, "supported": 6}})
    assert text == "6/10 supported, 4 inconclusive"
    assert (
        make_pages.stability_text({"verdicts": ["not reproduced"] * 2 + ["supported"] * 2 + ["x"]})
        == "2/5 supported, 2 not reproduced, 1 x"  # ties in the order of the verdicts
    )
    assert make_pages.stability_text({"counts": {}}) == "no seed"


def test_sweep_stale_detection_both_ways():
    run = _new_run()
    sweep = _sweep(run, _stable)
    ref = make_pages.sweep_reference("03_s2n", sweep, SOURCE, DIGEST)
    assert ref.current and ref.reason == ""
    # the chapter changed since the sweep: source, package or the sweep's parameters
    for source, digest, params in (
        (SOURCE + "x = 1\n", DIGEST, None),
        (SOURCE, "e" * 64, None),
        (SOURCE, DIGEST, {"profile": "ci", "device": "cuda"}),
    ):
        s = dict(sweep, parameters=params) if params else sweep
        stale = make_pages.sweep_reference("03_s2n", s, source, digest)
        assert not stale.current and "changed since" in stale.reason
    # the seed does not enter a sweep's stamp
    assert sweep["parameters"] == SWEEP_PARAMS and sweep["seeds"] == list(range(10))
    assert not make_pages.sweep_reference("03_s2n", sweep, None, DIGEST).current


def test_full_stale_detection_both_ways():
    run = _new_run()
    full = _full(run)
    assert make_pages.full_reference("03_s2n", full, SOURCE, DIGEST).current
    assert not make_pages.full_reference("03_s2n", full, SOURCE + "\n", DIGEST).current
    assert not make_pages.full_reference("03_s2n", full, SOURCE, "e" * 64).current
    # the recorded parameters are those the stamp was made with: another set is stale
    other = dict(full, execution=dict(full["execution"], parameters={"profile": "full"}))
    assert not make_pages.full_reference("03_s2n", other, SOURCE, DIGEST).current
    ci = dict(full, profile="ci")
    ref = make_pages.full_reference("03_s2n", ci, SOURCE, DIGEST)
    assert not ref.current and "'ci' profile" in ref.reason
    bare = {k: v for k, v in full.items() if k != "execution"}
    assert "no execution stamp" in make_pages.full_reference("03_s2n", bare, SOURCE, DIGEST).reason


def _row(md, cid):
    (row,) = [line for line in md.splitlines() if re.search(rf"</span>(\{{ref\}}`)?{cid}\b", line)]
    return row


def _references(run, sweep=None, full=None, source=SOURCE):
    name = run["notebook"]
    sweeps = {name: make_pages.sweep_reference(name, sweep, source, DIGEST)} if sweep else {}
    fulls = {name: make_pages.full_reference(name, full, source, DIGEST)} if full else {}
    return sweeps, fulls


def test_dashboard_stability_beside_the_verdict():
    run = _new_run()
    sweeps, full = _references(run, sweep=_sweep(run, _stable, drop={"D1"}))
    md = make_pages.claims_markdown([run], sweeps, full)
    p1, p2, d1 = _row(md, "P1"), _row(md, "P2"), _row(md, "D1")
    # the verdict, then its stability over the sweep's seeds, in the Verdict column
    assert '✔ supported</span><br><small class="claim-stability" title="verdicts over the ' in p1
    assert ">10/10 supported</small> |" in p1 and "seeds 0–9" in p1
    assert ">6/10 supported, 4 inconclusive</small> |" in p2
    assert '<small class="claim-stability claim-stability-none">no sweep</small>' in d1
    assert "stale" not in md.split("<form")[0] + p1 + p2
    assert "| Verdict | Full |" in md
    # no full result: a dash in the Full column, sortable after every verdict
    assert p1.endswith('title="no full-profile result">—</span> |')
    assert "No `full`-profile result is committed yet" in md
    assert "for 1 of the 1 chapter" in md and "plotted per chapter <sweeps>" in md
    # the row marker the filter reads is unchanged
    assert md.count('<span class="claim-row" data-paper=') == 6
    assert "{admonition} Stale results" not in md


def test_dashboard_marks_a_stale_sweep():
    run = _new_run()
    stale = _sweep(run, _stable, stamp="0" * 64)
    md = make_pages.claims_markdown([run], *_references(run, sweep=stale))
    assert ">stale sweep: 10/10 supported</small>" in _row(md, "P1")
    assert 'class="claim-stability claim-stability-stale"' in _row(md, "P2")
    assert ">10/10 supported</small>" not in md.replace("stale sweep: 10/10", "")
    assert "**1 of these sweeps is stale** (`03_s2n`" in md
    # a visible note in the chapter's paper section, before its table
    section = md[md.index("(claims-paper-2408-04221)=") : md.index("(claims-paper-foundations)=")]
    note = section.index(":::{admonition} Stale results")
    assert note < section.index("| Claim | Kind |")
    assert "The seed sweep of {doc}`../executed/03_s2n` is **stale**" in section
    # the same sweep with the current stamp is current again
    md = make_pages.claims_markdown([run], *_references(run, sweep=_sweep(run, _stable)))
    assert "stale" not in md.replace("*stale sweep*", "")


def test_dashboard_full_column_and_disagreements():
    run = _new_run()
    sweeps, full = _references(run, full=_full(run, flip={"P1", "K1"}))
    md = make_pages.claims_markdown([run], sweeps, full)
    p1, p2, k1 = _row(md, "P1"), _row(md, "P2"), _row(md, "K1")
    assert p1.endswith(
        '? inconclusive</span><br><small class="claim-disagree" title="the ci and full '
        'verdicts differ">⚠ differs from ci</small> |'
    )
    assert "claim-disagree" not in p2 and p2.endswith("? inconclusive</span> |")
    assert "⚠ differs from ci" in k1  # checks too
    assert "**The ci and full verdicts disagree on 2 claims** (`P1`, `K1`)" in md
    assert [c["id"] for _, c, _, _ in make_pages.disagreements([run], full)] == ["P1", "K1"]
    assert "no sweep" in p1 and "claim-full-stale" not in md
    # agreement is said too
    sweeps, full = _references(run, full=_full(run))
    md = make_pages.claims_markdown([run], sweeps, full)
    assert "agree on every claim that both record" in md and "claim-disagree" not in md


def test_dashboard_marks_stale_full_results():
    run = _new_run()
    sweeps, full = _references(run, full=_full(run, flip={"P1"}), source=SOURCE + "# edited\n")
    md = make_pages.claims_markdown([run], sweeps, full)
    p1 = _row(md, "P1")
    assert '<small class="claim-full-stale" title="not current: ' in p1
    assert "⚠ differs from ci" in p1  # still flagged, and marked stale
    assert "**1 of these is stale** (`03_s2n`" in md
    assert "The full-profile result of {doc}`../executed/03_s2n` is **stale**" in md


def test_load_sweeps_and_full(tmp_path):
    run = _new_run()
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    (notebooks / "03_s2n.py").write_text(SOURCE)
    sweeps_dir, full_dir = tmp_path / "sweeps", tmp_path / "full"
    sweeps_dir.mkdir()
    full_dir.mkdir()
    (sweeps_dir / "03_s2n.json").write_text(json.dumps(_sweep(run, _stable)))
    (full_dir / "03_s2n.json").write_text(json.dumps(_full(run, stamp="f" * 64)))
    names = ["03_s2n", "04_other"]
    sweeps = make_pages.load_sweeps(names, sweeps_dir, notebooks, DIGEST)
    full = make_pages.load_full(names, full_dir, notebooks, DIGEST)
    assert list(sweeps) == ["03_s2n"] and sweeps["03_s2n"].current
    assert list(full) == ["03_s2n"] and not full["03_s2n"].current
    assert make_pages.load_sweeps(names, tmp_path / "none", notebooks, DIGEST) == {}


@pytest.mark.parametrize(
    ("criterion", "region"),
    [
        ({"kind": "at_most", "params": {"value": 2.0}}, (float("-inf"), 2.0)),
        ({"kind": "at_least", "params": {"value": -1.0}}, (-1.0, float("inf"))),
        ({"kind": "close_to", "params": {"target": 1.0, "tol": 0.25}}, (0.75, 1.25)),
        ({"kind": "in_range", "params": {"low": 0.1, "high": 0.9}}, (0.1, 0.9)),
        ({"kind": "other", "params": {}}, None),
        (None, None),
    ],
)
def test_accepted_region(criterion, region):
    assert make_pages.accepted_region(criterion) == region


def test_sweep_page_and_figures(tmp_path):
    run = _new_run()
    other = dict(_new_run(), notebook="04_x", title="Other")
    sweeps = {
        "03_s2n": make_pages.sweep_reference(
            "03_s2n", _sweep(run, _stable, failures=[10]), SOURCE, DIGEST
        ),
        "04_x": make_pages.sweep_reference("04_x", _sweep(other, _stable), SOURCE + "\n", DIGEST),
    }
    figures = tmp_path / "_generated" / "sweeps"
    md = make_pages.sweeps_markdown(sweeps, ["03_s2n", "04_x", "05_y"], figures, {"05_y": "Y"})
    for name in ("03_s2n", "04_x"):
        png = figures / f"{name}.png"
        assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert png.stat().st_size > 20_000  # six panels with points, not an empty canvas
        assert f":::{{figure}} _generated/sweeps/{name}.png" in md
        assert f"({make_pages.sweep_label(name)})=" in md
    assert "(sweeps-05-y)=\n## Y" in md and "*No sweep of {doc}`../executed/05_y`" in md
    part = md[md.index("(sweeps-03-s2n)=") : md.index("(sweeps-04-x)=")]
    assert "over 10 seeds (seeds 0–9), parameters profile=ci, device=cpu" in part
    assert "**1 run failed** and is not counted: seed 10: cell 3 failed (seed 10)" in part
    assert "Stale sweep" not in part and "(current sweep, seeds 0–9)" in part
    # the table of verdict counts: seeds, supported, inconclusive, not reproduced, mean, sd
    assert re.search(r"\| \{ref\}`P2 <[^>]*>` \| paper \| [^|]+ \| 10 \| 6 \| 4 \| 0 \|", part), (
        part
    )
    assert re.search(
        r"\| \{ref\}`D1 <s>` \| derived \(ours\) \| [^|]+ \| 10 \| 10 \| 0 \| 0 \| 2\.09 \|", part
    )
    stale = md[md.index("(sweeps-04-x)=") : md.index("(sweeps-05-y)=")]
    assert ":::{admonition} Stale sweep" in stale and "This sweep is **stale**" in stale
    assert "(stale sweep, seeds 0–9)" in stale
    # regenerating removes the figures of sweeps that are gone
    make_pages.sweeps_markdown({"03_s2n": sweeps["03_s2n"]}, ["03_s2n"], figures)
    assert sorted(p.name for p in figures.iterdir()) == ["03_s2n.png"]


def test_sweep_page_without_sweeps(tmp_path):
    figures = tmp_path / "sweeps"
    figures.mkdir()
    (figures / "old.png").write_bytes(b"x")
    md = make_pages.sweeps_markdown({}, ["03_s2n"], figures)
    assert "*No seed sweep is committed yet*" in md and "make sweep SEEDS=0-9" in md
    assert "{figure}" not in md and not figures.exists()


def test_full_runs_markdown():
    run = _new_run()
    assert "*No full-profile run is committed yet*" in make_pages.full_runs_markdown({}, ["03_s2n"])
    other = dict(_new_run(), notebook="04_x", title="Other")
    full = {
        "03_s2n": make_pages.full_reference("03_s2n", _full(run), SOURCE, DIGEST),
        "04_x": make_pages.full_reference("04_x", _full(other), SOURCE + "\n", DIGEST),
    }
    md = make_pages.full_runs_markdown(full, ["03_s2n", "04_x", "05_y"])
    assert "- **Run:** 2026-12-01 10:20 UTC (2 chapters)." in md
    # the ledger records no machine: its device and versions instead
    assert "- **Machine:** not recorded by the ledger" in md and "device cuda" in md
    assert "- **Versions:** python 3.11.7, torch 2.13.0+cu126." in md
    assert "- **Stale:** `04_x`:" in md and "- **Not run at full scale yet:** `05_y`." in md
    assert "| {doc}`03_s2n <../executed/03_s2n>` | cuda | 0 | 754 s | 2048 MB | 6 |" in md
    assert md.count("| yes |") == 1 and md.count("| **stale** |") == 1
    assert "wall times: 1508 s (25 min)" in md and "make check-results PROFILE=full" in md
    # a machine that a later ledger records is shown as recorded
    full["03_s2n"].data["machine"] = {"cpu": "2 cores", "gpu": "H200"}
    assert "- **Machine:** cpu 2 cores, gpu H200." in make_pages.full_runs_markdown(
        full, ["03_s2n"]
    )


def test_build_step_shows_sweeps_and_full_results(fake_root, executed_serial):
    """prepare() reads results/sweeps/ci/ and results/full/ and marks them stale or current."""
    (fake_root / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n"
        "  - file: executed/01_toy\n  - file: executed/02_toy\n"
    )
    digest = pipeline.package_digest(fake_root)
    sweeps_dir = fake_root / "results" / "sweeps" / "ci"
    full_dir = fake_root / "results" / "full"
    sweeps_dir.mkdir(parents=True)
    full_dir.mkdir(parents=True)
    try:
        for name in ("01_toy", "02_toy"):
            text = (fake_root / "notebooks" / f"{name}.py").read_text()
            res = json.loads((executed_serial / "results" / f"{name}.json").read_text())
            runs = [
                pipeline.Run(name, k, True, 1.0, results=json.dumps(dict(res, seed=k)))
                for k in range(3)
            ]
            params = {"profile": "ci", "device": "cpu"}
            current = pipeline.sweep_stamp(text, params, digest)
            stamp = current if name == "01_toy" else "0" * 64  # 02_toy's sweep is stale
            agg = pipeline.aggregate(name, runs, params, stamp)
            (sweeps_dir / f"{name}.json").write_text(json.dumps(agg))
        text = (fake_root / "notebooks" / "01_toy.py").read_text()
        res = json.loads((executed_serial / "results" / "01_toy.json").read_text())
        fparams = {"profile": "full", "seed": 0, "device": "cpu"}
        res.update(
            profile="full",
            execution={
                "stamp": pipeline.stamp(text, fparams, digest),
                "parameters": fparams,
                "wall_s": 42.0,
            },
        )
        res["claims"][0]["verdict"] = "inconclusive"
        (full_dir / "01_toy.json").write_text(json.dumps(res))
        make_pages.prepare(fake_root, executed_serial, mathjax=False, report=lambda s: None)
        generated = fake_root / "book" / "_generated"
        claims = (generated / "claims.md").read_text()
        # both toy chapters record a claim T1: each row shows its own chapter's sweep and run
        first, second = [line for line in claims.splitlines() if "{ref}`T1 <" in line]
        assert ">3/3 supported</small>" in first and "⚠ differs from ci" in first
        assert ">stale sweep: 3/3 supported</small>" in second and "claim-full-none" in second
        assert "The seed sweep of {doc}`../executed/02_toy` is **stale**" in claims
        assert "The seed sweep of {doc}`../executed/01_toy`" not in claims
        sweeps = (generated / "sweeps.md").read_text()
        assert (generated / "sweeps" / "01_toy.png").is_file()
        assert (generated / "sweeps" / "02_toy.png").is_file()
        assert sweeps.count(":::{admonition} Stale sweep") == 1
        full = (generated / "runs_full.md").read_text()
        assert "| 42 s |" in full and "`02_toy`" in full  # 02_toy not run at full scale
    finally:
        import shutil

        shutil.rmtree(fake_root / "results")
    make_pages.prepare(fake_root, executed_serial, mathjax=False, report=lambda s: None)
    generated = fake_root / "book" / "_generated"
    assert "*No seed sweep is committed yet*" in (generated / "sweeps.md").read_text()
    assert "*No full-profile run is committed yet*" in (generated / "runs_full.md").read_text()


def test_sweep_page_in_the_toc():
    """The sweep page comes after the chapters and before the reproducing page."""
    files = re.findall(r"- file: (\S+)", (ROOT / "_toc.yml").read_text())
    last_chapter = max(i for i, f in enumerate(files) if f.startswith("executed/"))
    assert files.index("book/sweeps") == last_chapter + 1
    assert files.index("book/reproducing") == last_chapter + 2
    assert "{include} _generated/sweeps.md" in (ROOT / "book" / "sweeps.md").read_text()
    assert "{include} _generated/runs_full.md" in (ROOT / "book" / "reproducing.md").read_text()


# --------------------------------------------------------------------------------------------
# Results regression by profile
# --------------------------------------------------------------------------------------------


def test_results_reference_dir_by_profile(tmp_path):
    assert check_results.reference_dir("ci", tmp_path) == tmp_path / "results"
    assert check_results.reference_dir("full", tmp_path) == tmp_path / "results" / "full"
    with pytest.raises(check_results.ProfileError, match="unknown profile 'big'"):
        check_results.reference_dir("big")


def test_results_check_refuses_another_profile(tmp_path):
    fresh, ref = tmp_path / "fresh", tmp_path / "full"
    fresh.mkdir()
    (fresh / "nb.json").write_text(json.dumps(_run([_claim()], "ci")))
    with pytest.raises(check_results.ProfileError) as err:
        check_results.check(["nb"], fresh, ref, profile="full")
    msg = str(err.value)
    assert "refusing to compare results of another profile than 'full'" in msg
    assert f"nb: the fresh results {fresh / 'nb.json'} hold the 'ci' profile, not 'full'" in msg
    assert "make execute PROFILE=full" in msg
    # a full run against full references compares; a ci reference among them is refused
    (fresh / "nb.json").write_text(json.dumps(_run([_claim()], "full")))
    (report,) = check_results.check(["nb"], fresh, ref, profile="full")
    assert "no reference results" in report and "make update-results PROFILE=full" in report
    check_results.update(["nb"], fresh, ref, profile="full")
    assert check_results.check(["nb"], fresh, ref, profile="full") == []
    (ref / "nb.json").write_text(json.dumps(_run([_claim()], "ci")))
    with pytest.raises(check_results.ProfileError, match=r"the reference .* hold the 'ci' profile"):
        check_results.check(["nb"], fresh, ref, profile="full")
    # the ci profile refuses the fresh full run
    with pytest.raises(check_results.ProfileError, match="not 'ci'"):
        check_results.check(["nb"], fresh, tmp_path / "ci", profile="ci")


def test_results_update_refuses_another_profile(tmp_path):
    fresh, ref = tmp_path / "fresh", tmp_path / "ref"
    fresh.mkdir()
    (fresh / "nb.json").write_text(json.dumps(_run([_claim()], "ci")))
    with pytest.raises(check_results.ProfileError, match="refusing to update with"):
        check_results.update(["nb"], fresh, ref, profile="full")
    assert not ref.exists()  # nothing written


def test_results_cli_profile(tmp_path, capsys):
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    nbs = tmp_path / "notebooks"
    make_notebook(nbs, "01_nb", "")
    (fresh / "01_nb.json").write_text(json.dumps(dict(_run([_claim()]), notebook="01_nb")))
    args = ["--fresh", str(fresh), "--notebooks", str(nbs)]
    assert check_results.main(["check", "--profile", "full", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ERROR: refusing to compare") and "hold the 'ci' profile" in err
    ref = tmp_path / "ref"
    assert check_results.main(["update", "--reference", str(ref), *args]) == 0
    assert check_results.main(["check", "--reference", str(ref), *args]) == 0
    assert "match the ci references" in capsys.readouterr().out


def test_makefile_passes_the_profile_to_the_results_regression():
    makefile = (ROOT / "Makefile").read_text()
    for action in ("check", "update"):
        assert f"scripts/check_results.py {action} --profile '$(PROFILE)'" in makefile


def test_dashboard_shows_answers_to_questions():
    run = _run(
        [
            _claim(id="Q1", kind="question", paper="2408.04221", verdict="not reproduced"),
            _claim(id="P1", kind="paper", source="abstract", paper="2408.04221"),
        ]
    )
    md = make_pages.claims_markdown([run])
    q_row = next(line for line in md.splitlines() if "Q1" in line and "claim-row" in line)
    p_row = next(line for line in md.splitlines() if "P1" in line and "claim-row" in line)
    assert "✘ no</span>" in q_row and "verdict: not reproduced" in q_row
    assert "✔ supported</span>" in p_row
