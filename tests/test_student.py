"""make student: notebooks without solutions that still run, zipped with what they need.

The student notebooks are run in a fresh virtual environment that holds requirements-student.txt
and nothing else, installed without the internet from a Linux wheelhouse that
tools/wheelhouse.py downloads: the way a participant's laptop is set up, and the plan for a
laptop whose online install fails.
"""
from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from packaging.utils import canonicalize_name

from conftest import NOTEBOOK_TIMEOUT, ROOT, error_outputs

sys.path.insert(0, str(ROOT / "tools"))
import student  # noqa: E402
import wheelhouse  # noqa: E402

BOOK_NOTEBOOKS = student.book_notebooks()


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    archive = student.write_student(out)
    return out / student.NAME, archive


def _solution_sources(nb) -> list[str]:
    return [c.source.strip() for c in nb.cells
            if "solution" in c.get("metadata", {}).get("tags", []) and c.source.strip()]


@pytest.mark.parametrize("path", BOOK_NOTEBOOKS, ids=lambda p: p.stem)
def test_no_solution_survives(student_dir, path):
    folder, _ = student_dir
    original = nbformat.read(path, as_version=4)
    result = nbformat.read(folder / path.relative_to(ROOT), as_version=4)
    sources = [c.source for c in result.cells]
    assert not any("solution" in c.get("metadata", {}).get("tags", []) for c in result.cells)
    assert not any("{solution-start}" in s or "{solution-end}" in s for s in sources)
    for solution in _solution_sources(original):
        assert not any(solution in s for s in sources), solution[:80]
    # every exercise keeps its prompt, as plain Markdown and an answer cell
    n_exercises = sum("```{exercise}" in c.source for c in original.cells)
    assert sum(len(re.findall(r"^### Exercise\b", s, re.M)) for s in sources) == n_exercises
    prompts = [c for c in result.cells if "exercise" in c.get("metadata", {}).get("tags", [])]
    assert len(prompts) == n_exercises
    assert all(not c.get("outputs") for c in result.cells if c.cell_type == "code")


def test_zip_holds_notebooks_helpers_and_data(student_dir):
    _, archive = student_dir
    names = set(zipfile.ZipFile(archive).namelist())
    prefix = student.NAME + "/"
    for path in BOOK_NOTEBOOKS:
        assert prefix + path.relative_to(ROOT).as_posix() in names
    for needed in ["helpers/__init__.py", "helpers/check_setup.py", "helpers/core/__init__.py",
                   "helpers/studies/__init__.py", "data/seed_toy.csv",
                   "data/sleepstudy.csv", "data/penicillin.csv", "data/reference/sleepstudy.json",
                   "requirements-student.txt", "pyproject.toml", "README.md"]:
        assert prefix + needed in names, needed
    # the learner installs the student pins, not the book's tool chain
    assert prefix + "requirements.txt" not in names


# A notebook run inside the student environment; prints where Python and helpers live.
RUNNER = """
import json, sys
from pathlib import Path
import nbformat
from nbclient import NotebookClient
src, out, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3])
nb = nbformat.read(src, as_version=4)
nb.cells.append(nbformat.v4.new_code_cell(
    "import sys as _s, helpers as _h; print(_s.prefix); print(_h.__file__)"))
NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
               resources={"metadata": {"path": str(Path(src).parent)}}).execute()
where = nb.cells.pop().outputs[0]["text"].split()
nbformat.write(nb, out)
print(json.dumps({"prefix": where[0], "helpers": where[1]}))
"""


def _offline_env() -> dict[str, str]:
    """The environment for pip and the notebooks: no pip configuration (no extra index, no
    find-links), no PYTHONPATH or active virtual environment leaking in."""
    drop = {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("PIP_")}
    return {**env, "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def _this_machine_target() -> str | None:
    if sys.platform == "linux" and platform.machine() == "x86_64":
        target = f"linux-x86_64-py{sys.version_info.major}.{sys.version_info.minor}"
        return target if target in wheelhouse.targets() else None
    return None


@pytest.fixture(scope="module")
def student_venv(student_dir, tmp_path_factory):
    """A fresh venv with requirements-student.txt alone, installed offline from a wheelhouse.

    ``make wheelhouse`` for this machine's system and Python (the only download), then
    ``pip install --no-index --find-links <wheelhouse> -r requirements-student.txt`` in the
    unpacked student folder. Returns the venv's python.
    """
    target = _this_machine_target()
    if target is None:
        pytest.skip("the offline install is tested on 64-bit Linux with a supported Python")
    folder, _ = student_dir
    base = tmp_path_factory.mktemp("offline")
    assert wheelhouse.download(base / "wheelhouse", [target]) == [], (
        f"pip download for {target} failed: see its message above")
    wheels = list((base / "wheelhouse" / target).glob("*"))
    assert wheels and all(w.suffix == ".whl" for w in wheels), "only binary wheels"
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    # --no-compile halves the install time here; Python compiles what the notebooks import
    proc = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-compile", "--no-index",
         "--find-links", str(base / "wheelhouse" / target), "-r", "requirements-student.txt"],
        cwd=folder, env=_offline_env(), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (
        f"offline install from the {target} wheelhouse failed:\n{proc.stderr[-3000:]}")
    return python


@pytest.mark.slow
def test_offline_install_holds_the_student_pins_and_is_ready(student_dir, student_venv):
    folder, _ = student_dir
    listed = subprocess.run([str(student_venv), "-m", "pip", "list", "--format=json"],
                            capture_output=True, text=True, env=_offline_env(), check=True)
    installed = {canonicalize_name(p["name"]): p["version"] for p in json.loads(listed.stdout)}
    pins = {}
    for line in wheelhouse.pinned_requirements(folder / "requirements-student.txt"):
        name, version = line.split("==")
        pins[canonicalize_name(name)] = version
    # exactly the pins (and the venv's own pip and setuptools, and the helpers package)
    extra = set(installed) - set(pins) - {"pip", "setuptools", "mixed-models-book-helpers"}
    assert extra == set(), f"installed but not pinned: {sorted(extra)}"
    assert {n: installed.get(n) for n in pins if installed.get(n) != pins[n]} == {}
    ready = subprocess.run([str(student_venv), "-m", "helpers.check_setup"], cwd=folder,
                           capture_output=True, text=True, env=_offline_env(), timeout=300)
    assert ready.returncode == 0 and "All is ready" in ready.stdout, ready.stdout + ready.stderr


def _run_in_student_env(python: Path, notebook: Path, out: Path):
    """Execute ``notebook`` with the student environment's kernel; ``(process, out)``."""
    proc = subprocess.run(
        [str(python), "-c", RUNNER, str(notebook), str(out), str(NOTEBOOK_TIMEOUT)],
        capture_output=True, text=True, env=_offline_env(), timeout=NOTEBOOK_TIMEOUT + 60)
    return proc, out


@pytest.fixture(scope="module")
def student_runs(student_dir, student_venv, tmp_path_factory):
    """Every student notebook executed in the student environment, two at a time: each
    runs in its own kernel process, so two use both cores of a 2-core machine (joblib
    threads only wait for the processes)."""
    from joblib import Parallel, delayed

    folder, _ = student_dir
    out_dir = tmp_path_factory.mktemp("student_runs")
    runs = Parallel(n_jobs=2, prefer="threads")(
        delayed(_run_in_student_env)(student_venv, folder / path.relative_to(ROOT),
                                     out_dir / path.name)
        for path in BOOK_NOTEBOOKS)
    return dict(zip(BOOK_NOTEBOOKS, runs))


@pytest.mark.slow
@pytest.mark.parametrize("path", BOOK_NOTEBOOKS, ids=lambda p: p.stem)
def test_student_notebook_runs_in_the_student_environment(student_dir, student_venv,
                                                          student_runs, path):
    folder, _ = student_dir
    proc, out = student_runs[path]
    assert proc.returncode == 0, proc.stderr[-3000:]
    where = json.loads(proc.stdout.strip().splitlines()[-1])
    # the kernel is the student environment's, importing the student folder's helpers
    assert Path(where["prefix"]) == student_venv.parent.parent
    assert Path(where["helpers"]).is_relative_to(folder)
    assert error_outputs(nbformat.read(out, as_version=4)) == []
