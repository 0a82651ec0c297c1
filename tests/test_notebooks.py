"""Every chapter runs top to bottom on a fresh kernel, and states the numbers it should.

Each notebook is executed once per test session; ``PROBES`` names expressions that are
evaluated in the notebook's namespace after its last cell, so the assertions below check the
values the chapter computed, not the text it printed.
"""
from __future__ import annotations

import pytest

from conftest import chapter_notebooks, error_outputs, run_notebook

PROBES = {
    "01_data_and_design": {
        "design": "design['design'].to_dict()",
        "n_rows": "len(toy)",
        "n_subjects": "toy['participant_ID'].nunique()",
    },
}

_cache: dict[str, tuple] = {}


def executed(stem: str):
    if stem not in _cache:
        path = next(p for p in chapter_notebooks() if p.stem == stem)
        _cache[stem] = run_notebook(path, PROBES.get(stem))
    return _cache[stem]


@pytest.mark.slow
@pytest.mark.parametrize("path", chapter_notebooks(), ids=lambda p: p.stem)
def test_notebook_runs_without_errors(path):
    nb, _ = executed(path.stem)
    assert error_outputs(nb) == []
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code_cells), "a code cell was not executed"


@pytest.mark.slow
def test_chapter_1_decides_the_design_from_the_data():
    _, values = executed("01_data_and_design")
    assert values["design"] == {"Condition_1": "within", "Condition_2": "between"}
    assert values["n_rows"] == 16
    assert values["n_subjects"] == 8
