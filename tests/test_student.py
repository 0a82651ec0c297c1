"""make student: notebooks without solutions that still run, zipped with what they need."""
from __future__ import annotations

import re
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT, error_outputs, run_notebook

sys.path.insert(0, str(ROOT / "tools"))
import student  # noqa: E402

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
    for needed in ["helpers/__init__.py", "helpers/check_setup.py", "data/seed_toy.csv",
                   "data/sleepstudy.csv", "data/penicillin.csv", "data/reference/sleepstudy.json",
                   "requirements.txt",
                   "pyproject.toml", "README.md"]:
        assert prefix + needed in names, needed


@pytest.mark.slow
@pytest.mark.parametrize("path", BOOK_NOTEBOOKS, ids=lambda p: p.stem)
def test_student_notebook_runs_top_to_bottom(student_dir, path):
    folder, _ = student_dir
    nb, _ = run_notebook(folder / path.relative_to(ROOT))
    assert error_outputs(nb) == []
