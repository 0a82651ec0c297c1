"""Chapter 5 (missing data) states what its cells compute, and its mixed model is lme4's.

The chapter's single study of 30 subjects is the R reference case ``dropout_mar``
(tests/r/reference_cases.py); its fit is compared with data/reference/dropout_mar.json.
"""
from __future__ import annotations

import math

import pytest

import helpers
from conftest import ROOT, executed

STEM = "05_missing_data"

PROBES = {
    STEM: {
        "head_missing": "data.head(8)['y'].isna().tolist()",
        "n_complete": "int((scores_per_subject == 4).sum())",
        "observed": "observed[['subject', 'time', 'y']].to_dict('list')",
        "complete_subjects": "sorted(complete['subject'].unique().tolist())",
        "pg_aov": "cc_aov[['F', 'p_unc', 'DF']].to_dict('list')",
        "pg_aov_on_all_rows": "pg.rm_anova(data, dv='y', within='time', subject='subject',"
                              " detailed=True)[['F', 'p_unc', 'DF']].to_dict('list')",
        "cc_change": "float(cc_change)",
        "cc": "fast_cc",
        "lmm_formula": "lmm_fit.model.formula",
        "lmm_fe": "lmm_fit.fe_params.to_dict()",
        "lmm_subj_sd": "float(lmm_fit.cov_re.iloc[0, 0]) ** 0.5",
        "lmm_sigma": "lmm_fit.scale ** 0.5",
        "lmm_llf": "lmm_fit.llf",
        "lmm_nobs": "int(lmm_fit.nobs)",
        "lmm_anova": "lmm_table.loc['C(time)'].to_dict()",
        "fast": "fast_lmm",
        "same": "same.to_dict('index')",
        "seconds": "seconds",
        "engine_gap": "float(engine_gap)",
        "change": "change.to_dict('index')",
        "n_results": "len(results)",
        "n_failed": "int((~results['converged']).sum())",
        "result_columns": "results.columns.tolist()",
        "summary": "summary.to_dict('records')",
        "refit_gap": "{c: float(np.max(np.abs(refit[c].to_numpy() - check[c].to_numpy())))"
                     " for c in ['estimate', 'F', 'df2', 'p']}",
        "stronger": "stronger_summary.to_dict('records')",
        "stronger_subjects": "stronger.groupby(['mechanism', 'method'])['n_subjects'].mean()"
                             ".unstack().to_dict('index')",
        "mnar": "mnar_summary.to_dict('records')",
        "used": "used.to_dict('index')",
    }
}

CC, LMM = "complete-case ANOVA", "LMM, all rows"


@pytest.fixture(scope="module")
def values():
    _, vals = executed(STEM)
    return vals


@pytest.fixture(scope="module")
def ref():
    return helpers.r_reference("dropout_mar")


def _pick(records, **where):
    rows = [r for r in records if all(r[k] == v for k, v in where.items())]
    assert len(rows) == 1, where
    return rows[0]


# --------------------------------------------------------------------------- one study, against R
@pytest.mark.slow
def test_the_chapters_data_are_the_r_reference_case(values):
    import sys

    sys.path.insert(0, str(ROOT / "tests" / "r"))
    from reference_cases import read_case_csv

    case = read_case_csv("dropout_mar")
    obs = values["observed"]
    assert obs["subject"] == case["subject"].tolist()
    assert obs["time"] == case["time"].tolist()
    assert obs["y"] == pytest.approx(case["y"].tolist(), rel=1e-12)


@pytest.mark.slow
def test_the_mixed_model_matches_lme4_and_lmertest(values, ref):
    sigma = ref["sigma"]
    fixef = dict(zip(ref["fixef"]["names"], ref["fixef"]["estimate"]))
    # the model as a reader writes it: smf.mixedlm("y ~ C(time)", ..., groups=...)
    assert values["lmm_formula"] == "y ~ C(time)"
    names = {"Intercept": "(Intercept)", "C(time)[T.t2]": "timet2",
             "C(time)[T.t3]": "timet3", "C(time)[T.t4]": "timet4"}
    assert set(values["lmm_fe"]) == set(names)
    for py, r in names.items():
        assert abs(values["lmm_fe"][py] - fixef[r]) <= 1e-3 * max(abs(fixef[r]), sigma), py
    assert values["lmm_sigma"] == pytest.approx(sigma, rel=1e-3)
    assert values["lmm_subj_sd"] == pytest.approx(ref["varcorr"]["sdcor"][0], rel=1e-3)
    assert values["lmm_llf"] == pytest.approx(ref["logLik"], abs=0.01)
    assert values["lmm_nobs"] == ref["nobs"]
    table = values["lmm_anova"]
    assert table["NumDF"] == ref["anova"]["NumDF"][0]
    assert table["F"] == pytest.approx(ref["anova"]["F"][0], rel=0.01)
    assert table["DenDF"] == pytest.approx(ref["anova"]["DenDF"][0], rel=0.01)
    assert table["p"] == pytest.approx(ref["anova"]["p"][0], abs=0.002)


@pytest.mark.slow
def test_the_fast_engine_matches_lme4_and_statsmodels(values, ref):
    fast = values["fast"]
    se = dict(zip(ref["fixef"]["names"], ref["fixef"]["se"]))
    fixef = dict(zip(ref["fixef"]["names"], ref["fixef"]["estimate"]))
    assert abs(fast["estimate"] - fixef["timet4"]) <= 1e-3 * max(abs(fixef["timet4"]), ref["sigma"])
    assert fast["se"] == pytest.approx(se["timet4"], rel=1e-3)
    assert fast["subj_sd"] == pytest.approx(ref["varcorr"]["sdcor"][0], rel=1e-3)
    assert fast["error_sd"] == pytest.approx(ref["sigma"], rel=1e-3)
    assert fast["llf"] == pytest.approx(ref["logLik"], abs=0.01)
    assert fast["F"] == pytest.approx(ref["anova"]["F"][0], rel=0.01)
    assert fast["df2"] == pytest.approx(ref["anova"]["DenDF"][0], rel=0.01)
    assert fast["p"] == pytest.approx(ref["anova"]["p"][0], abs=0.002)
    assert values["engine_gap"] < 1e-4
    # the table of the fast path next to pingouin and statsmodels
    same = values["same"]
    for row in same.values():
        assert row["fast ANOVA"] == pytest.approx(row["pingouin"], rel=1e-8)
        assert row["fast LMM"] == pytest.approx(row["statsmodels"], rel=1e-4)
    # "the fast path is many times faster" (a loose bound: timings vary between machines)
    assert values["seconds"]["statsmodels"] > 2 * values["seconds"]["fast path"]
    assert values["refit_gap"]["estimate"] < 1e-4
    assert values["refit_gap"]["F"] < 1e-3
    assert values["refit_gap"]["df2"] < 1e-2
    assert values["refit_gap"]["p"] < 1e-5


@pytest.mark.slow
def test_complete_case_analysis_of_the_study(values):
    # "The first subject left after the second visit, the second after the first."
    assert values["head_missing"] == [False, False, True, True, False, True, True, True]
    cc, aov = values["cc"], values["pg_aov"]
    assert values["n_complete"] == cc["n_subjects"] == len(values["complete_subjects"]) == 11
    assert cc["n_rows"] == 44
    # the listwise deletion done in the open is what pingouin does silently
    assert values["pg_aov_on_all_rows"] == aov
    assert values["cc_change"] == pytest.approx(cc["estimate"], rel=1e-12)
    assert cc["F"] == pytest.approx(aov["F"][0], rel=1e-10)
    assert cc["p"] == pytest.approx(aov["p_unc"][0], rel=1e-8)
    assert cc["df2"] == aov["DF"][1]
    # the mixed model: smaller SE, more denominator df, all 30 subjects
    fast = values["fast"]
    assert fast["n_subjects"] == 30 and fast["n_rows"] == values["lmm_nobs"]
    assert fast["se"] < cc["se"] and fast["df2"] > cc["df2"]
    assert abs(fast["estimate"] - cc["estimate"]) < 0.1  # "happen to be close"


@pytest.mark.slow
def test_the_means_figure_story(values):
    mcar, mar = values["change"]["MCAR"], values["change"]["MAR"]
    assert mar["complete cases"] < mar["no dropout"] - 0.1
    assert mar["all observed rows"] > mar["no dropout"] + 0.3
    assert abs(mar["LMM"] - mar["no dropout"]) < 0.05
    for col in ["complete cases", "all observed rows", "LMM"]:
        assert abs(mcar[col] - mcar["no dropout"]) < 0.05


# --------------------------------------------------------------------------- the simulation study
@pytest.mark.slow
def test_the_study_ran_completely(values):
    assert values["n_results"] == 8000
    assert values["n_failed"] == 0
    assert values["result_columns"][:4] == ["mechanism", "effect", "rep", "method"]
    assert all(r["n_reps"] == 1000 and r["n_failed"] == 0 for r in values["summary"])


@pytest.mark.slow
def test_mcar_both_unbiased_the_mixed_model_more_powerful(values):
    s = values["summary"]
    for method in (CC, LMM):
        b = _pick(s, mechanism="mcar", effect=1.0, method=method)
        assert abs(b["bias"]) < 2 * b["bias_mcse"]
        t1 = _pick(s, mechanism="mcar", effect=0.0, method=method)
        assert abs(t1["rejection_rate"] - 0.05) < 2 * t1["rejection_mcse"]
    # "the complete-case ANOVA's rate comes out about two of them below 0.05"
    t1 = _pick(s, mechanism="mcar", effect=0.0, method=CC)
    assert -2.5 < (t1["rejection_rate"] - 0.05) / t1["rejection_mcse"] < -1.5
    cc, lmm = (_pick(s, mechanism="mcar", effect=1.0, method=m) for m in (CC, LMM))
    assert lmm["rejection_rate"] - cc["rejection_rate"] > 3 * math.hypot(
        cc["rejection_mcse"], lmm["rejection_mcse"])
    assert lmm["emp_sd"] < cc["emp_sd"]


@pytest.mark.slow
def test_mar_complete_cases_biased_both_tests_above_five_percent(values):
    s = values["summary"]
    cc1, lmm1 = (_pick(s, mechanism="mar", effect=1.0, method=m) for m in (CC, LMM))
    cc0, lmm0 = (_pick(s, mechanism="mar", effect=0.0, method=m) for m in (CC, LMM))
    assert cc1["bias"] < -10 * cc1["bias_mcse"]
    assert abs(lmm1["bias"]) < 2 * lmm1["bias_mcse"]
    # "both tests rejected more often than 5%: the complete-case ANOVA by more than two
    # Monte Carlo SEs, the mixed model by about two ... the two rates cannot be told apart"
    assert cc0["rejection_rate"] > 0.05 + 2 * cc0["rejection_mcse"]
    assert 1.5 < (lmm0["rejection_rate"] - 0.05) / lmm0["rejection_mcse"] < 2.5
    assert abs(cc0["rejection_rate"] - lmm0["rejection_rate"]) < 2 * math.hypot(
        cc0["rejection_mcse"], lmm0["rejection_mcse"])
    assert lmm1["rejection_rate"] - cc1["rejection_rate"] > 3 * math.hypot(
        cc1["rejection_mcse"], lmm1["rejection_mcse"])
    # common random numbers: the bias is the same for both true changes
    assert cc0["bias"] == pytest.approx(cc1["bias"], abs=1e-9)


# --------------------------------------------------------------------------- exercises
@pytest.mark.slow
def test_exercise_stronger_dropout(values):
    st, s = values["stronger"], values["summary"]
    assert all(r["n_failed"] == 0 and r["n_reps"] == 300 for r in st)
    cc_st = _pick(st, mechanism="mar", effect=1.0, method=CC)
    assert cc_st["bias"] < _pick(s, mechanism="mar", effect=1.0, method=CC)["bias"]
    gaps = {}
    for mech in ("mcar", "mar"):
        for method in (CC, LMM):  # "both methods lose power"
            assert (_pick(st, mechanism=mech, effect=1.0, method=method)["rejection_rate"]
                    < _pick(s, mechanism=mech, effect=1.0, method=method)["rejection_rate"])
        lmm_st, cc_st = (_pick(st, mechanism=mech, effect=1.0, method=m) for m in (LMM, CC))
        gap_st = lmm_st["rejection_rate"] - cc_st["rejection_rate"]
        gap = (_pick(s, mechanism=mech, effect=1.0, method=LMM)["rejection_rate"]
               - _pick(s, mechanism=mech, effect=1.0, method=CC)["rejection_rate"])
        gaps[mech] = gap_st, gap, math.hypot(lmm_st["rejection_mcse"], cc_st["rejection_mcse"])
        lmm = _pick(st, mechanism=mech, effect=1.0, method=LMM)
        assert abs(lmm["bias"]) < 2 * lmm["bias_mcse"]
    # "under MCAR the power falls further behind; under MAR the gap stays about as large,
    # within Monte Carlo error"
    assert gaps["mcar"][0] > gaps["mcar"][1]
    assert abs(gaps["mar"][0] - gaps["mar"][1]) < 2 * gaps["mar"][2]
    # "the complete-case ANOVA under MAR rejected a true null more than two [MCSEs] above
    # 0.05; the other three rates are within about two of them of 0.05"
    cc_mar = _pick(st, mechanism="mar", effect=0.0, method=CC)
    assert cc_mar["rejection_rate"] > 0.05 + 2 * cc_mar["rejection_mcse"]
    for mech, method in [("mcar", CC), ("mcar", LMM), ("mar", LMM)]:
        t1 = _pick(st, mechanism=mech, effect=0.0, method=method)
        assert abs(t1["rejection_rate"] - 0.05) < 2 * t1["rejection_mcse"], (mech, method)
    for mech in ("mcar", "mar"):  # "about a third of the 30 subjects"
        assert 8 <= values["stronger_subjects"][mech][CC] <= 12


@pytest.mark.slow
def test_exercise_mnar_biases_the_mixed_model_too(values):
    m = values["mnar"]
    lmm = _pick(m, mechanism="mnar", method=LMM)
    assert lmm["bias"] > 10 * lmm["bias_mcse"]
    cc = _pick(m, mechanism="mnar", method=CC)
    assert abs(cc["bias"]) > 3 * cc["bias_mcse"]
    assert lmm["rejection_rate"] > _pick(m, mechanism="mar", method=LMM)["rejection_rate"]


@pytest.mark.slow
def test_exercise_what_complete_cases_throw_away(values):
    used = values["used"]
    assert used["mcar"]["complete subjects"] == pytest.approx(30 * 0.8**3, abs=0.5)
    assert 0.28 < used["mcar"]["share discarded"] < 0.36  # "about a third"
    assert used["mar"]["complete subjects"] < used["mcar"]["complete subjects"]
    # "fewer scores are observed than under MCAR (the second column)"
    assert used["mar"]["observed scores"] < used["mcar"]["observed scores"]
