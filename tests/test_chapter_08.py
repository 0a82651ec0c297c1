"""Chapter 8 states the numbers it should: the picture of Z'Z, the profiled deviance and its
minimum, the same optimum as statsmodels, and helpers.lmer against lme4's stored answer for
the crossed model with correlated by-participant slopes (which statsmodels cannot fit)."""
from __future__ import annotations

import math
import sys

import numpy as np
import pytest

import helpers
from conftest import ROOT, error_outputs, executed

sys.path.insert(0, str(ROOT / "tests" / "r"))
from reference_cases import read_case_csv  # noqa: E402

STEM = "08_how_a_mixed_model_is_fitted"

PROBES = {
    STEM: {
        # the picture of Z'Z (6 participants x 4 items)
        "ZtZ": "ZtZ.to_numpy().tolist()",
        "ZtZ_slopes": "ZtZ_slopes.to_numpy().tolist()",
        "n_subj_small": "int(n_small)",
        "subj_off_diagonal": "subj_off_diagonal",
        "slopes_outside": "slopes_outside",
        # the profiled deviance over theta
        "rt_y": "rt['y'].tolist()",
        "fit_theta": "intercepts_fit.theta.tolist()",
        "fit_deviance": "float(intercepts_fit.deviance)",
        "deviance_at_theta": "float(deviance(intercepts_fit.theta))",
        "grid_min_theta": "grid_min_theta.tolist()",
        "grid_min_deviance": "float(surface.min())",
        "grid_step": "float(grid[1] - grid[0])",
        "intercepts_converged": "bool(intercepts_fit.converged)",
        # timing: what was measured, not how fast (benchmark figures are not tests)
        "timing_rows": "[int(r) for r in timing.index]",
        "statsmodels_rows": "[int(r) for r in timing['statsmodels (s)'].dropna().index]",
        "statsmodels_max": "statsmodels_max",
        # the same optimum as statsmodels
        "sm_llf": "float(statsmodels_fit.llf)",
        "lmer_llf": "float(intercepts_fit.llf)",
        "same_optimum": "same_optimum[['statsmodels', 'helpers.lmer']].to_dict('index')",
        # the crossed model with correlated by-participant slopes
        "slopes_y": "slopes_data['y'].tolist()",
        "slopes_reml": "float(slopes_fit.deviance)",
        "slopes_llf": "float(slopes_fit.llf)",
        "slopes_fe": "slopes_fit.fe_params.to_dict()",
        "slopes_varcorr": "slopes_fit.varcorr()['sdcor'].tolist()",
        "slopes_anova": "slopes_anova.loc['cond'].astype(float).to_dict()",
        "slopes_converged": "bool(slopes_fit.converged)",
        "slopes_singular": "bool(helpers.is_singular(slopes_fit))",
        "lme4_check": "lme4_check[['Python', 'R']].to_dict('index')",
        # the result object
        "ranef_subject_shape": "list(slopes_fit.ranef['subject'].shape)",
        "predict_first": "slopes_fit.predict(first).tolist()",
        "fitted_first": "slopes_fit.fitted.iloc[:3].tolist()",
        # the exercises' solutions
        "by_hand_deviance": "float(d_R)",
        "by_hand_beta": "beta.tolist()",
        "new_participant_gap": "(slopes_fit.predict(new) - slopes_fit.predict(new, re=False))"
                               ".tolist()",
        "new_participant_items": "item_effects[new['item']].tolist()",
        "kept_block_diagonal": "int(np.count_nonzero(kept_block - np.diag(np.diag(kept_block))))",
    }
}


@pytest.fixture(scope="module")
def run():
    return executed(STEM)


@pytest.fixture(scope="module")
def v(run):
    return run[1]


@pytest.mark.slow
def test_notebook_runs_without_errors(run):
    nb, _ = run
    assert error_outputs(nb) == []


@pytest.mark.slow
def test_statsmodels_refuses_the_slopes_model_in_the_notebook(run):
    nb, _ = run
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []) if o.output_type == "stream")
    assert "cannot fit correlated random slopes" in text


# --------------------------------------------------------------------------- Z'Z
@pytest.mark.slow
def test_ztz_participant_block_is_diagonal(v):
    ztz = np.array(v["ZtZ"])
    k = v["n_subj_small"]
    assert ztz.shape == (10, 10) and k == 6
    subj = ztz[:k, :k]
    assert np.array_equal(subj, np.diag(np.diag(subj)))       # diagonal ...
    assert np.all(np.diag(subj) == 4)                          # ... counting 4 trials each
    items = ztz[k:, k:]
    assert np.array_equal(items, np.diag(np.full(4, 6)))       # items: 6 trials each
    assert np.all(ztz[:k, k:] == 1)                            # every pair met once
    assert v["subj_off_diagonal"] == 0 and v["slopes_outside"] == 0


@pytest.mark.slow
def test_ztz_with_slopes_is_block_diagonal_in_2x2_blocks(v):
    ztz = np.array(v["ZtZ_slopes"])
    k = 2 * v["n_subj_small"]
    subj = ztz[:k, :k]
    mask = np.kron(np.eye(k // 2), np.ones((2, 2)))
    assert np.count_nonzero(subj * (1 - mask)) == 0
    assert np.all(subj[mask == 1].reshape(-1) >= 0)
    assert np.all(np.diag(subj)[0::2] == 4)                    # intercept columns
    assert np.all(np.diag(subj)[1::2] == 2)                    # 2 hard items each


@pytest.mark.slow
def test_missing_trials_keep_the_participant_block_diagonal(v):
    assert v["kept_block_diagonal"] == 0


# --------------------------------------------------------------------------- deviance over θ
@pytest.mark.slow
def test_deviance_minimum_is_the_fitted_theta(v):
    theta, step = np.array(v["fit_theta"]), v["grid_step"]
    assert v["intercepts_converged"]
    assert v["deviance_at_theta"] == pytest.approx(v["fit_deviance"], rel=1e-12)
    # the fit is below every grid point, and the lowest grid point is next to it
    assert v["fit_deviance"] <= v["grid_min_deviance"]
    assert np.all(np.abs(np.array(v["grid_min_theta"]) - theta) <= step)


@pytest.mark.slow
@pytest.mark.r
def test_deviance_data_and_fit_are_lme4s_crossed_case(v):
    data = read_case_csv("crossed")
    assert np.allclose(v["rt_y"], data["y"], rtol=0, atol=1e-9)
    r = helpers.r_reference("crossed")
    assert v["fit_deviance"] == pytest.approx(r["REMLcrit"], rel=1e-6)
    assert v["fit_theta"] == pytest.approx(r["theta"], abs=1e-3)


@pytest.mark.slow
def test_by_hand_deviance_equals_the_engines(v):
    assert v["by_hand_deviance"] == pytest.approx(v["fit_deviance"], rel=1e-9)
    fe = v["same_optimum"]
    assert v["by_hand_beta"][0] == pytest.approx(fe["intercept (ms)"]["helpers.lmer"], rel=1e-7)
    assert v["by_hand_beta"][1] == pytest.approx(fe["hard - easy (ms)"]["helpers.lmer"],
                                                 rel=1e-7)


# --------------------------------------------------------------------------- timing figure
@pytest.mark.slow
def test_timing_keeps_statsmodels_small(v):
    assert v["statsmodels_max"] <= 2000
    assert v["statsmodels_rows"] == [r for r in v["timing_rows"] if r <= v["statsmodels_max"]]
    assert len(v["statsmodels_rows"]) >= 3 and max(v["timing_rows"]) >= 20_000


# --------------------------------------------------------------------------- same optimum
@pytest.mark.slow
def test_statsmodels_and_lmer_reach_the_same_optimum(v):
    assert v["lmer_llf"] == pytest.approx(v["sm_llf"], abs=1e-6)
    assert v["lmer_llf"] >= v["sm_llf"] - 1e-8        # never a worse optimum
    table = v["same_optimum"]
    for name in ("intercept (ms)", "hard - easy (ms)"):
        assert table[name]["helpers.lmer"] == pytest.approx(table[name]["statsmodels"],
                                                            rel=1e-5)
    for name in ("participant SD (ms)", "item SD (ms)", "residual SD (ms)"):
        assert table[name]["helpers.lmer"] == pytest.approx(table[name]["statsmodels"],
                                                            rel=1e-3)


# --------------------------------------------------------------------------- against lme4
@pytest.mark.slow
@pytest.mark.r
def test_slopes_data_are_the_reference_case(v):
    data = read_case_csv("crossed_subject_slopes")
    assert np.allclose(v["slopes_y"], data["y"], rtol=0, atol=1e-9)


@pytest.mark.slow
@pytest.mark.r
def test_slopes_fit_equals_lme4(v):
    r = helpers.r_reference("crossed_subject_slopes")
    assert v["slopes_converged"] and not v["slopes_singular"]
    assert v["slopes_singular"] == r["isSingular"]
    assert v["slopes_reml"] == pytest.approx(r["REMLcrit"], rel=1e-6)
    assert v["slopes_reml"] <= r["REMLcrit"] * (1 + 1e-6)
    assert v["slopes_llf"] == pytest.approx(r["logLik"], rel=1e-6)
    sigma = r["sigma"]
    for got, want in zip(v["slopes_fe"].values(), r["fixef"]["estimate"]):
        assert abs(got - want) <= 1e-4 * max(abs(want), sigma)
    rows = list(zip(r["varcorr"]["var2"], v["slopes_varcorr"], r["varcorr"]["sdcor"]))
    assert len(v["slopes_varcorr"]) == len(rows)
    for var2, got, want in rows:
        if var2 is None:   # an SD: 1e-4 relative
            assert got == pytest.approx(want, rel=1e-4)
        else:              # a correlation: 1e-4
            assert got == pytest.approx(want, abs=1e-4)


@pytest.mark.slow
@pytest.mark.r
def test_slopes_anova_equals_lmertest(v):
    r = helpers.r_reference("crossed_subject_slopes")["anova"]
    a = v["slopes_anova"]
    assert a["NumDF"] == r["NumDF"][0]
    assert a["F"] == pytest.approx(r["F"][0], rel=0.01)
    assert a["DenDF"] == pytest.approx(r["DenDF"][0], rel=0.01)
    assert a["p"] == pytest.approx(r["p"][0], abs=0.002)


@pytest.mark.slow
@pytest.mark.r
def test_lme4_check_table_is_within_the_stated_tolerances(v):
    """The prose: the criterion within 1e-6, fixed effects and SDs within 1e-4 relative,
    the correlation within 1e-4, the Satterthwaite test with lmerTest's."""
    t = v["lme4_check"]
    ours, theirs = "Python", "R"
    assert t["log-likelihood"][ours] == pytest.approx(t["log-likelihood"][theirs], rel=1e-6)
    for name in ("estimate (Intercept)", "estimate condhard", "SE (Intercept)",
                 "SE condhard", "SD (Intercept) | subject", "SD condhard | subject",
                 "SD (Intercept) | item", "residual SD"):
        assert t[name][ours] == pytest.approx(t[name][theirs], rel=1e-4), name
    corr = "cor (Intercept), condhard | subject"
    assert t[corr][ours] == pytest.approx(t[corr][theirs], abs=1e-4)
    for name in ("cond: DenDF", "cond: F"):
        assert t[name][ours] == pytest.approx(t[name][theirs], rel=0.01), name
    assert t["cond: p"][ours] == pytest.approx(t["cond: p"][theirs], abs=0.002)


# --------------------------------------------------------------------------- result object
@pytest.mark.slow
def test_result_object(v):
    assert v["ranef_subject_shape"] == [30, 2]
    assert v["predict_first"] == pytest.approx(v["fitted_first"], rel=1e-12)
    # a new participant: the population value plus the items' conditional modes
    assert v["new_participant_gap"] == pytest.approx(v["new_participant_items"], abs=1e-9)
    assert not any(math.isnan(x) for x in v["new_participant_gap"])


@pytest.mark.slow
def test_shown_lines_fit_the_text_column(run):
    """Printed text and plain-text results (tables, the summary) are at most 88 wide."""
    nb, _ = run
    wide = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if out.output_type == "stream":
                text = out.text
            elif out.output_type in ("execute_result", "display_data"):
                text = out.get("data", {}).get("text/plain", "")
            else:
                continue
            wide += [f"cell {i}: {line[:60]}" for line in text.splitlines() if len(line) > 88]
    assert wide == []
