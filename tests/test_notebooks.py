"""Every chapter runs top to bottom on a fresh kernel, and states the numbers it should.

Each notebook is executed once per test session; ``PROBES`` names expressions that are
evaluated in the notebook's namespace after its last cell, so the assertions below check the
values the chapter computed, not the text it printed. Chapters 5 onwards keep their probes and
number checks in ``test_chapter_NN.py`` (see ``conftest.executed``).
"""
from __future__ import annotations

import pytest

from conftest import chapter_notebooks, error_outputs, executed

PROBES = {
    "01_data_and_design": {
        "design": "design['design'].to_dict()",
        "n_rows": "len(toy)",
        "n_subjects": "toy['participant_ID'].nunique()",
        "participants_in_groups": "by_group['design'].to_dict()",
    },
    "02_rm_anova": {
        "mixed_F": "mixed.set_index('Source')['F'].to_dict()",
        "mixed_DF2": "mixed.set_index('Source')['DF2'].to_dict()",
        "listwise_DF2": "a.set_index('Source')['DF2'].to_dict()",
        "n_subjects": "int(memory['Subject'].nunique())",
    },
    "03_random_intercept": {
        "scale": "asker.scale",
        "llf": "asker.llf",
        "subject_var": "float(asker.cov_re.iloc[0, 0])",
        "singular": "bool(helpers.is_singular(asker))",
        "lmm": "lmm.reset_index(drop=True).to_dict('list')",
        "aov": "aov[['F', 'DF2', 'p_unc']].to_dict('list')",
        "implied_subject_var": "implied_subject_var",
        "pooled": "pooled",
        "coding_F_gap": "float(np.abs(table_treatment['F'].to_numpy() - table_sum['F'].to_numpy()).max())",
        "reml_llf": "memory_fit.llf",
        "ml_llf": "memory_ml.llf",
        "lrt_by_hand": "float(chi2)",
        "lrt_helper": "float(helpers.lrt(additive_ml, memory_ml)['chi2'])",
    },
}

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
    # the asker's "nested": participants are nested in the groups of Condition_2
    assert values["participants_in_groups"] == {"participant_ID": "nested"}


@pytest.mark.slow
def test_chapter_2_states_pingouins_mixed_anova():
    _, values = executed("02_rm_anova")
    rounded = {k: round(v, 3) for k, v in values["mixed_F"].items()}
    assert rounded == {"Group": 5.052, "Time": 4.027, "Interaction": 2.728}
    assert values["mixed_DF2"] == {"Group": 58, "Time": 116, "Interaction": 116}
    # one missing score removes the whole subject: one fewer subject in every error term
    assert values["listwise_DF2"] == {"Group": 57, "Time": 114, "Interaction": 114}
    assert values["n_subjects"] == 60


@pytest.mark.slow
def test_chapter_3_reads_the_askers_model_and_matches_the_anova():
    _, v = executed("03_random_intercept")
    assert round(v["scale"], 4) == 0.0531
    assert round(v["llf"], 4) == -2.1869
    assert v["subject_var"] < 1e-6 and v["singular"] is True
    # the LMM's table equals pingouin's mixed ANOVA on the balanced memory data
    assert v["lmm"]["F"] == pytest.approx(v["aov"]["F"], rel=1e-4)
    assert v["lmm"]["DenDF"] == pytest.approx(v["aov"]["DF2"], rel=1e-4)
    assert v["lmm"]["p"] == pytest.approx(v["aov"]["p_unc"], abs=1e-4)
    # on the seed data the ANOVA implies a negative subject variance; the LMM pools the strata
    assert v["implied_subject_var"] < 0
    assert v["pooled"] == pytest.approx(v["scale"], rel=1e-3)
    assert v["coding_F_gap"] < 1e-6
    # REML and ML fits of the memory data stay apart (an ML refit of the REML model object
    # would make the REML result report the ML log-likelihood)
    assert round(v["reml_llf"], 4) == -256.1983
    assert round(v["ml_llf"], 4) == -251.4262
    assert v["lrt_by_hand"] == pytest.approx(v["lrt_helper"], rel=1e-10)


PRINTED_WIDTH = 88


@pytest.mark.slow
@pytest.mark.parametrize("stem", ["01_data_and_design", "02_rm_anova", "03_random_intercept"])
def test_printed_lines_fit_the_text_column(stem):
    """Text a cell prints (and error messages it catches) is wrapped to the column."""
    nb, _ = executed(stem)
    wide = [f"cell {i}: {line[:60]}... ({len(line)} characters)"
            for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
            for out in cell.get("outputs", []) if out.output_type == "stream"
            for line in out.text.splitlines() if len(line) > PRINTED_WIDTH]
    assert wide == [], "wrap these printed lines (textwrap.fill):\n" + "\n".join(wide)
