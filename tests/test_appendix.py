"""The appendix: the cheat sheet runs and agrees with R; the glossary defines the book's terms.

The cheat sheet is executed once (module fixture) with probes that read the numbers it
computed; they are compared with lme4 / lmerTest / afex output stored in
``data/reference/<case>.json``, and with emmeans, performance, lme4's confint/bootMer and
pbkrtest output in ``data/reference/posthoc/`` and ``data/reference/intervals/`` (never
typed here), with the book's tolerances: fixed effects and SDs 0.1 % (relative to the
residual SD when the value is near 0), correlations 0.001, REML log-likelihood 0.01, F and
DenDF 1 %, p 0.002; bootstrap results within Monte Carlo error.
"""
from __future__ import annotations

import json
import re

import nbformat
import numpy as np
import pytest
from scipy import stats

from conftest import ROOT, error_outputs, run_notebook

APPENDIX = ROOT / "appendix"
CHEATSHEET = APPENDIX / "cheatsheet.ipynb"
GLOSSARY = APPENDIX / "glossary.md"
REFERENCE = ROOT / "data" / "reference"

CHEATSHEET_PROBES = {
    "fe_int": "fit_int.fe_params.tolist()",
    "llf_int": "fit_int.llf",
    "fe_int_sm": "fit_int_sm.fe_params.tolist()",
    "fe_cor": "fit_cor.fe_params.tolist()",
    "se_cor": "fit_cor.bse_fe.tolist()",
    "sd_cor": "[float(sd_int), float(sd_days), float(np.sqrt(fit_cor.scale))]",
    "corr_cor": "float(cov.iloc[0, 1] / (sd_int * sd_days))",
    "llf_cor": "fit_cor.llf",
    "anova_cor": "helpers.anova(fit_cor).to_dict('list')",
    "fe_unc": "fit_unc.fe_params.tolist()",
    "sd_unc": "[float(np.sqrt(fit_unc.cov_re.iloc[0, 0])), float(np.sqrt(fit_unc.vcomp[0])),"
              " float(np.sqrt(fit_unc.scale))]",
    "llf_unc": "fit_unc.llf",
    "fe_pen": "fit_pen.fe_params.tolist()",
    "sd_pen": "dict(zip(fit_pen.model.exog_vc.names, np.sqrt(fit_pen.vcomp).tolist()))",
    "sigma_pen": "float(np.sqrt(fit_pen.scale))",
    "llf_pen": "fit_pen.llf",
    "llf_pen_sm": "fit_pen_sm.llf",
    "fit_all_converged": "fits_pen.table['converged'].tolist()",
    "fit_all_best_llf": "fits_pen.best.llf",
    "fe_nest": "fit_nest.fe_params.tolist()",
    "sd_nest": "[float(np.sqrt(fit_nest.cov_re.iloc[0, 0])), float(np.sqrt(fit_nest.vcomp[0])),"
               " float(np.sqrt(fit_nest.scale))]",
    "llf_nest": "fit_nest.llf",
    "toy_singular": "bool(helpers.is_singular(fit_toy))",
    "cor_singular": "bool(helpers.is_singular(fit_cor))",
    "anova_mem": "table_mem.to_dict('list')",
    "lrt_df": "float(helpers.lrt(fit0_ml, fit1_ml)['df'])",
    "lrt_chi2": "float(helpers.lrt(fit0_ml, fit1_ml)['chi2'])",
    "llf_ml": "[fit0_ml.llf, fit1_ml.llf]",
    "boundary_p": "float(helpers.lrt(fit_int, fit_cor, boundary=True)['p'])",
    "boundary_chi2": "float(helpers.lrt(fit_int, fit_cor, boundary=True)['chi2'])",
    "wald_ci": "fit_cor.conf_int().loc[fit_cor.fe_params.index].to_numpy().tolist()",
    "population": "population.tolist()",
    "subject_308": "subject_308.tolist()",
    "u_308": "u_308.tolist()",
    "aov": "aov[['Source', 'F', 'DF1', 'DF2', 'p_unc', 'p_GG_corr']].to_dict('list')",
    "posthoc_time": "posthoc.loc[posthoc['Contrast'] == 'Time', ['A', 'B', 'difference', 'dof']]"
                    ".to_dict('list')",
    "time_means": "memory.groupby('Time')['Scores'].mean().to_dict()",
    "simulated_shape": "list(simulated.shape)",
    "lmer_max": "[fit_max.llf, *fit_max.fe_params, *fit_max.varcorr()['sdcor'],"
                " bool(helpers.is_singular(fit_max))]",
    "lmer_max_gap": "float(helpers.compare_with_r(fit_max, 'crossed_maximal')"
                    "['relative difference'].max())",
    # emmeans, contrasts, R², profile and bootstrap intervals, PBmodcomp
    "emm_time": "emm_time[['emmean', 'SE', 'df', 'lower', 'upper']].to_dict('list')",
    "pairs_time": "pairs_time.to_dict('list')",
    "pairs_time_adjust": "pairs_time.attrs['adjust']",
    "pairs_by_group": "pairs_by_group.to_dict('list')",
    "pairs_by_group_adjust": "pairs_by_group.attrs['adjust']",
    "r2_mem": "r2_mem.to_dict()",
    "ci_profile": "ci_profile.to_numpy().tolist()",
    "ci_boot": "ci_boot.to_numpy().tolist()",
    "ci_boot_failed": "int(ci_boot.attrs['failed'])",
    "ci_boot_reps": "ci_boot.attrs['replicates'].to_numpy().tolist()",
    "pb_test": "[float(pb_test['chi2']), float(pb_test['p']), int(pb_test['nsim'])]",
    "pb_mean": "float(pb_simulated.mean())",
    # glmer: cbind() binomial, nAGQ, emmeans on the probability scale
    "glmer_cbpp": "[fit_cbpp.llf, *fit_cbpp.fe_params, *fit_cbpp.bse,"
                  " *fit_cbpp.varcorr()['sdcor']]",
    "glmer_agq9": "[fit_agq[9].llf, *fit_agq[9].fe_params,"
                  " *fit_agq[9].varcorr()['sdcor']]",
    "glmer_agq1_llf": "fit_agq[1].llf",
    "emm_cbpp": "emm_cbpp[['prob', 'SE', 'lower', 'upper']].to_dict('list')",
    "pairs_cbpp": "pairs_cbpp[['contrast', 'estimate', 'SE', 't', 'p']].to_dict('list')",
    "ci_cbpp": "ci_cbpp.to_dict('list')",
    "ci_cbpp_rows": "list(ci_cbpp.index)",
    "r2_cbpp": "r2_cbpp.to_dict()",
    # each model in lme4's syntax (helpers.mixedlm) and in statsmodels' own spelling
    "llf_pairs": "[[fit_cor.llf, fit_cor_sm.llf], [fit_unc.llf, fit_unc_sm.llf],"
                 " [fit_pen.llf, fit_pen_sm.llf], [fit_nest.llf, fit_nest_sm.llf]]",
}


def _ref(case: str) -> dict:
    return json.loads((REFERENCE / f"{case}.json").read_text())


def _close(py, r, sigma, rel=1e-3):
    """|py - r| <= rel * max(|r|, sigma), elementwise."""
    py, r = np.atleast_1d(np.asarray(py, float)), np.atleast_1d(np.asarray(r, float))
    assert py.shape == r.shape
    return bool(np.all(np.abs(py - r) <= rel * np.maximum(np.abs(r), sigma)))


@pytest.fixture(scope="module")
def cheatsheet():
    return run_notebook(CHEATSHEET, CHEATSHEET_PROBES)


# --------------------------------------------------------------------------- the cheat sheet

@pytest.mark.slow
def test_cheatsheet_runs_without_errors_or_stderr(cheatsheet):
    nb, _ = cheatsheet
    assert error_outputs(nb) == []
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code), "a code cell was not executed"
    stderr = [i for i, c in enumerate(nb.cells) for o in c.get("outputs", [])
              if o.output_type == "stream" and o.name == "stderr"]
    assert stderr == [], f"cells writing to stderr: {stderr}"
    figures = [o for c in code for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(figures) >= 1


@pytest.mark.slow
def test_cheatsheet_shows_what_statsmodels_cannot_fit(cheatsheet):
    nb, _ = cheatsheet
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.outputs if o.output_type == "stream")
    assert "cannot fit correlated random slopes for crossed factors" in " ".join(text.split())


@pytest.mark.slow
def test_the_model_statsmodels_cannot_fit_is_fitted_by_lmer_as_lme4(cheatsheet):
    _, v = cheatsheet
    ref = _ref("crossed_maximal")
    llf, *rest = v["lmer_max"]
    fe, sd, singular = rest[:2], rest[2:-1], rest[-1]
    assert llf == pytest.approx(ref["logLik"], rel=1e-6)
    np.testing.assert_allclose(fe, ref["fixef"]["estimate"], rtol=1e-4)
    np.testing.assert_allclose(sd, ref["varcorr"]["sdcor"], rtol=1e-4)
    assert singular is ref["isSingular"] is True
    assert v["lmer_max_gap"] < 1e-4


@pytest.mark.slow
def test_sleepstudy_models_match_lme4(cheatsheet):
    _, v = cheatsheet
    ref = _ref("sleepstudy")
    sigma = ref["sigma"]
    # the random-intercept model has the same fixed effects in both spellings
    assert v["fe_int"] == pytest.approx(v["fe_int_sm"], rel=1e-8)
    assert _close(v["fe_cor"], ref["fixef"]["estimate"], sigma)
    assert _close(v["se_cor"], ref["fixef"]["se"], sigma)
    sd = ref["varcorr"]["sdcor"]  # SD intercept, SD Days, correlation, residual SD
    assert _close(v["sd_cor"], [sd[0], sd[1], sd[3]], sigma)
    assert abs(v["corr_cor"] - sd[2]) <= 1e-3
    assert v["llf_cor"] == pytest.approx(ref["logLik"], abs=0.01)
    a, ra = v["anova_cor"], ref["anova"]
    assert a["F"] == pytest.approx(ra["F"], rel=0.01)
    assert a["DenDF"] == pytest.approx(ra["DenDF"], rel=0.01)
    assert a["p"] == pytest.approx(ra["p"], abs=0.002)
    assert v["cor_singular"] is ref["isSingular"] is False


@pytest.mark.slow
def test_uncorrelated_slopes_match_lme4(cheatsheet):
    _, v = cheatsheet
    ref = _ref("sleepstudy_uncorrelated")
    assert _close(v["fe_unc"], ref["fixef"]["estimate"], ref["sigma"])
    assert _close(v["sd_unc"], ref["varcorr"]["sdcor"], ref["sigma"])
    assert v["llf_unc"] == pytest.approx(ref["logLik"], abs=0.01)


@pytest.mark.slow
def test_crossed_penicillin_matches_lme4_with_every_optimizer(cheatsheet):
    _, v = cheatsheet
    ref = _ref("penicillin")
    sigma = ref["sigma"]
    assert _close(v["fe_pen"], ref["fixef"]["estimate"], sigma)
    sd = dict(zip(ref["varcorr"]["grp"], ref["varcorr"]["sdcor"]))
    assert _close([v["sd_pen"]["plate"], v["sd_pen"]["sample"], v["sigma_pen"]],
                  [sd["plate"], sd["sample"], sd["Residual"]], sigma)
    for llf in (v["llf_pen"], v["llf_pen_sm"], v["fit_all_best_llf"]):
        assert llf == pytest.approx(ref["logLik"], abs=0.01)
    assert all(v["fit_all_converged"]) and len(v["fit_all_converged"]) == 5


@pytest.mark.slow
def test_nested_model_matches_lme4(cheatsheet):
    _, v = cheatsheet
    ref = _ref("nested")
    sigma = ref["sigma"]
    assert _close(v["fe_nest"], ref["fixef"]["estimate"], sigma)
    sd = dict(zip(ref["varcorr"]["grp"], ref["varcorr"]["sdcor"]))
    assert _close(v["sd_nest"], [sd["school"], sd["class:school"], sd["Residual"]], sigma)
    assert v["llf_nest"] == pytest.approx(ref["logLik"], abs=0.01)


@pytest.mark.slow
def test_singular_fit_as_lme4(cheatsheet):
    _, v = cheatsheet
    assert v["toy_singular"] is _ref("seed_asker")["isSingular"] is True


@pytest.mark.slow
def test_type3_anova_matches_lmertest_and_afex(cheatsheet):
    _, v = cheatsheet
    ref = _ref("mixed_balanced")
    a, ra = v["anova_mem"], ref["anova"]  # both in formula order: Time, Group, Time:Group
    assert a["NumDF"] == ra["NumDF"]
    assert a["F"] == pytest.approx(ra["F"], rel=0.01)
    assert a["DenDF"] == pytest.approx(ra["DenDF"], rel=0.01)
    assert a["p"] == pytest.approx(ra["p"], abs=0.002)
    # pingouin's mixed ANOVA against afex, uncorrected and Greenhouse-Geisser
    aov = v["aov"]
    order = {"Group": "Group", "Time": "Time", "Interaction": "Group:Time"}
    for table, column in (("none", "p_unc"), ("GG", "p_GG_corr")):
        afex = ref["afex"][table]
        by_term = {t: i for i, t in enumerate(afex["term"])}
        for k, source in enumerate(aov["Source"]):
            i = by_term[order[source]]
            assert aov["F"][k] == pytest.approx(afex["F"][i], rel=0.01)
            assert aov["DF2"][k] == pytest.approx(ref["afex"]["none"]["DenDF"][i], rel=0.01)
            if source != "Group":  # no sphericity correction for a between factor
                assert aov[column][k] == pytest.approx(afex["p"][i], abs=0.002)


@pytest.mark.slow
def test_likelihood_ratio_tests(cheatsheet):
    _, v = cheatsheet
    assert v["lrt_df"] == 1
    assert v["lrt_chi2"] == pytest.approx(2 * (v["llf_ml"][1] - v["llf_ml"][0]), rel=1e-9)
    assert v["lrt_chi2"] > 20
    # dropping the random slope: variance + covariance, 50:50 mixture of chi2(1) and chi2(2)
    chi2 = v["boundary_chi2"]
    expected = 0.5 * stats.chi2.sf(chi2, 1) + 0.5 * stats.chi2.sf(chi2, 2)
    assert v["boundary_p"] == pytest.approx(expected, rel=1e-6)
    # both REML fits, same fixed effects; the fuller one is lme4's sleepstudy model
    assert chi2 == pytest.approx(2 * (v["llf_cor"] - v["llf_int"]), rel=1e-9)
    assert v["llf_cor"] == pytest.approx(_ref("sleepstudy")["logLik"], abs=0.01)
    assert expected < 0.5 * stats.chi2.sf(chi2, 2) + 0.5 * stats.chi2.sf(chi2, 2)


@pytest.mark.slow
def test_wald_intervals_and_predictions_match_r(cheatsheet):
    _, v = cheatsheet
    ref = _ref("sleepstudy")
    est, se, sigma = np.array(ref["fixef"]["estimate"]), np.array(ref["fixef"]["se"]), ref["sigma"]
    z = stats.norm.ppf(0.975)
    # confint(m, method = "Wald") = estimate -/+ qnorm(0.975) * SE
    r_ci = np.column_stack([est - z * se, est + z * se])
    assert _close(np.array(v["wald_ci"]).ravel(), r_ci.ravel(), sigma)
    # predict(m, newdata, re.form = NA) at Days 0, 5, 9
    days = np.array([0, 5, 9])
    assert _close(v["population"], est[0] + est[1] * days, sigma)
    # subject 308's line adds its two predicted random effects
    u0, u1 = v["u_308"]
    assert np.allclose(v["subject_308"], np.array(v["population"]) + u0 + u1 * days)
    assert u1 > 0  # subject 308 slows down faster than average


@pytest.mark.slow
def test_pairwise_tests_report_the_mean_differences(cheatsheet):
    _, v = cheatsheet
    p, means = v["posthoc_time"], v["time_means"]
    for a, b, diff, dof in zip(p["A"], p["B"], p["difference"], p["dof"]):
        assert diff == pytest.approx(means[a] - means[b], abs=1e-10)
        assert dof == 59  # paired t tests on all 60 subjects
    assert v["simulated_shape"] == [180, 3]


def _percentile_se(t, a):
    """Monte Carlo SE of a percentile, as tests/r/intervals.R computes R's: half the gap
    between the order statistics one binomial SD either side."""
    t = np.sort(t)
    n = len(t)
    s = np.sqrt(a * (1 - a) / n)
    return (t[min(n, int(np.ceil(n * (a + s)))) - 1]
            - t[max(1, int(np.floor(n * (a - s)))) - 1]) / 2


def _posthoc(specs, by, adjust):
    ref = _ref("posthoc/mixed_balanced")
    return next(c for c in ref["contrasts"] if c["specs"] == specs and c["by"] == by
                and c["method"] == "pairwise" and c["adjust"] == adjust)


@pytest.mark.slow
def test_emmeans_and_contrasts_match_emmeans(cheatsheet):
    _, v = cheatsheet
    ref = _ref("posthoc/mixed_balanced")
    emm = next(e for e in ref["emmeans"] if e["specs"] == ["Time"] and e["by"] == [])
    for ours, theirs in (("emmean", "emmean"), ("SE", "SE"), ("df", "df"),
                         ("lower", "lower.CL"), ("upper", "upper.CL")):
        assert v["emm_time"][ours] == pytest.approx(emm["table"][theirs], rel=1e-4), ours
    for key, specs, by, adjust in (("pairs_time", ["Time"], [], "tukey"),
                                   ("pairs_by_group", ["Time"], ["Group"], "holm")):
        r = _posthoc(specs, by, adjust)
        ours = v[key]
        assert v[key + "_adjust"] == r["adjust_used"] == adjust
        assert ours["contrast"] == r["table"]["contrast"]
        if by:
            assert ours["Group"] == r["table"]["Group"]
        assert ours["estimate"] == pytest.approx(r["table"]["estimate"], rel=1e-4)
        assert ours["SE"] == pytest.approx(r["table"]["SE"], rel=1e-4)
        assert ours["df"] == pytest.approx(r["table"]["df"], rel=1e-3)
        assert ours["t"] == pytest.approx(r["table"]["t.ratio"], rel=1e-4)
        assert ours["p"] == pytest.approx(r["table"]["p.value"], abs=1e-4)


@pytest.mark.slow
def test_r2_and_intervals_match_performance_and_lme4(cheatsheet):
    _, v = cheatsheet
    r2 = _ref("intervals/mixed_balanced")["r2"]
    assert v["r2_mem"]["marginal"] == pytest.approx(r2["marginal"], abs=1e-4)
    assert v["r2_mem"]["conditional"] == pytest.approx(r2["conditional"], abs=1e-4)
    ref = _ref("intervals/sleepstudy")
    sigma = _ref("sleepstudy")["sigma"]
    prof = ref["profile"]
    for name, (lo, hi), r_lo, r_hi in zip(prof["names"], v["ci_profile"], prof["lower"],
                                          prof["upper"]):
        if name.startswith("cor_"):
            assert abs(lo - r_lo) <= 1e-3 and abs(hi - r_hi) <= 1e-3
        else:
            assert _close([lo, hi], [r_lo, r_hi], sigma), name
    # the bootstrap: within Monte Carlo error of bootMer's limits
    boot = ref["boot"]
    assert v["ci_boot_failed"] == 0 and len(v["ci_boot"]) == len(boot["names"])
    reps = np.array(v["ci_boot_reps"])
    for i, name in enumerate(boot["names"]):
        for j, col in enumerate(("lower", "upper")):
            se = np.hypot(_percentile_se(reps[:, i], (0.025, 0.975)[j]),
                          boot[f"mc_se_{col}"][i])
            assert abs(v["ci_boot"][i][j] - boot[col][i]) <= 4 * se, (name, col)


@pytest.mark.slow
def test_bootstrap_test_matches_pbmodcomp(cheatsheet):
    _, v = cheatsheet
    ref = _ref("intervals/pbmodcomp_sleepstudy")
    chi2, p, nsim = v["pb_test"]
    assert ref["reml"] is False and nsim == ref["nsim"]
    assert chi2 == pytest.approx(ref["stat"], rel=1e-4)
    assert p == pytest.approx(ref["p_PB"])
    se_mean = ref["ref_sd"] / np.sqrt(ref["nsim"])
    assert abs(v["pb_mean"] - ref["ref_mean"]) <= 4 * np.sqrt(2) * se_mean


@pytest.mark.slow
def test_glmer_rows_match_lme4_and_emmeans(cheatsheet):
    """glmer against lme4's tight fit (1e-3; logLik 1e-5), emmeans on the response
    scale (1e-3), as tests/test_glmer.py holds the engine."""
    _, v = cheatsheet
    r = _ref("glmer/cbpp")["tight"]
    ours = np.array(v["glmer_cbpp"])
    assert ours[0] == pytest.approx(r["logLik"], rel=1e-5)
    theirs = np.array([*r["fixef"], *r["se"], *r["sdcor"]])
    np.testing.assert_allclose(ours[1:], theirs, rtol=1e-3)
    r9 = _ref("glmer/agq9")["tight"]
    ours9 = np.array(v["glmer_agq9"])
    assert ours9[0] == pytest.approx(r9["logLik"], rel=1e-5)
    np.testing.assert_allclose(ours9[1:], [*r9["fixef"], *r9["sdcor"]], rtol=1e-3)
    assert v["glmer_agq1_llf"] != pytest.approx(ours9[0], rel=1e-9)
    post = _ref("glmer/posthoc_cbpp")
    e = post["emmeans_response"]
    for ours_col, theirs_col in (("prob", "prob"), ("SE", "SE"), ("lower", "asymp.LCL"),
                                 ("upper", "asymp.UCL")):
        np.testing.assert_allclose(v["emm_cbpp"][ours_col], e[theirs_col], rtol=1e-3)
    d = post["pairs_regrid"]
    assert v["pairs_cbpp"]["contrast"] == d["contrast"]
    np.testing.assert_allclose(v["pairs_cbpp"]["estimate"], d["estimate"], rtol=1e-3)
    np.testing.assert_allclose(v["pairs_cbpp"]["SE"], d["SE"], rtol=1e-3)
    np.testing.assert_allclose(v["pairs_cbpp"]["t"], d["z.ratio"], rtol=1e-3)
    np.testing.assert_allclose(v["pairs_cbpp"]["p"], d["p.value"], atol=1e-3)


@pytest.mark.slow
def test_glmer_intervals_and_r2_match_lme4_and_performance(cheatsheet):
    """confint (profile, 1e-3) and r2_nakagawa (1e-4) of the cbpp glmer fit."""
    _, v = cheatsheet
    r = _ref("glmer_intervals/cbpp")["profile"]
    assert "sigma" not in v["ci_cbpp_rows"] and len(v["ci_cbpp_rows"]) == len(r["names"])
    np.testing.assert_allclose(v["ci_cbpp"]["lower"], r["lower"], rtol=1e-3)
    np.testing.assert_allclose(v["ci_cbpp"]["upper"], r["upper"], rtol=1e-3)
    r2 = _ref("glmer_r2/r2")["cbpp"]
    assert v["r2_cbpp"]["marginal"] == pytest.approx(r2["r2_marginal"], abs=1e-4)
    assert v["r2_cbpp"]["conditional"] == pytest.approx(r2["r2_conditional"], abs=1e-4)


@pytest.mark.slow
def test_statsmodels_spellings_fit_the_same_models(cheatsheet):
    _, v = cheatsheet
    for lme4_syntax, statsmodels_spelling in v["llf_pairs"]:
        assert statsmodels_spelling == pytest.approx(lme4_syntax, abs=1e-6)


def test_cheatsheet_r_checks_are_collapsed_and_introduced():
    """R's values come from helpers.r_reference, in collapsed cells after one sentence."""
    nb = nbformat.read(CHEATSHEET, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "json" not in code and "DATA_DIR" not in code
    checks = [i for i, c in enumerate(nb.cells)
              if c.cell_type == "code" and "r_reference(" in c.source]
    assert len(checks) >= 6
    for i in checks:
        assert "hide-input" in nb.cells[i].metadata.get("tags", []), f"cell {i}"
        before = nb.cells[i - 1]
        assert before.cell_type == "markdown" and before.source.startswith("Checked against")
        assert len(before.source.splitlines()) == 1, f"cell {i - 1}: one sentence"


def test_cheatsheet_is_committed_without_outputs():
    nb = nbformat.read(CHEATSHEET, as_version=4)
    assert nb.cells[0].cell_type == "markdown"
    assert nb.cells[0].source.startswith("# R to Python cheat sheet")
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.get("outputs") and not cell.get("execution_count")


def test_cheatsheet_shows_r_next_to_python():
    nb = nbformat.read(CHEATSHEET, as_version=4)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    r_blocks = re.findall(r"```r\n(.*?)```", markdown, flags=re.S)
    assert len(r_blocks) >= 20
    r_code = "\n".join(r_blocks)
    for call in ["lmer(", "(1 | Subject)", "(1 + Days | Subject)", "(1 + Days || Subject)",
                 "(1 | plate) + (1 | sample)", "school/class", "summary(", "fixef(", "ranef(",
                 "VarCorr(", "isSingular(", "allFit(", "type = 3", "anova(m0, m1)",
                 "REML = FALSE", 'method = "Wald"', "predict(", "aov_ez(", "emmeans(",
                 "simulate(", "pairs(", "contrast(", "r2_nakagawa(", "confint(m_cor)",
                 'method = "boot"', "bootMer(", "PBmodcomp(", "glmer(",
                 "family = binomial", "cbind(incidence, size - incidence)", "nAGQ = 9",
                 'type = "response"', "regrid("]:
        assert call in r_code, call


# --------------------------------------------------------------------------- the glossary

# The terms the book promises to define (appendix brief), as the glossary spells them.
REQUIRED_TERMS = [
    "within-subject factor", "between-subject factor", "mixed design", "crossed", "nested",
    "fixed effect", "random effect", "random intercept", "random slope", "variance component",
    "REML", "ML", "BLUP", "shrinkage", "singular fit", "boundary estimate", "ICC",
    "Satterthwaite degrees of freedom", "Kenward-Roger", "Type III test", "treatment coding",
    "sum coding", "sphericity", "Greenhouse-Geisser", "listwise deletion", "MCAR", "MAR",
    "MNAR", "likelihood-ratio test",
    "chi-bar-square",            # the mixture distribution of boundary tests
    "long format", "wide format",
    "optimizer", "convergence",  # one entry each
    "compound symmetry", "Wald test",
]


def glossary_entries() -> dict[str, str]:
    """Term -> definition, parsed from the ```{glossary} block of appendix/glossary.md."""
    text = GLOSSARY.read_text()
    match = re.search(r"^```\{glossary\}[^\n]*\n(.*?)^```\s*$", text, flags=re.S | re.M)
    assert match, "appendix/glossary.md has no ```{glossary} block"
    entries: dict[str, str] = {}
    pending: list[str] = []   # terms waiting for their definition
    current: list[str] = []   # terms whose definition is being read
    for line in match.group(1).splitlines():
        if not line.strip() or line.startswith(":"):
            continue
        if line[0].isspace():
            if pending:
                current, pending = pending, []
            for term in current:
                entries[term] = (entries.get(term, "") + " " + line.strip()).strip()
        else:
            assert line.strip() not in entries and line.strip() not in pending, line
            pending.append(line.strip())
    assert not pending, f"terms without a definition: {pending}"
    return entries


def _sentences(definition: str) -> list[str]:
    plain = re.sub(r"\{\w+\}`[^`]*`|`[^`]*`|\$[^$]*\$", "X", definition)
    return [s for s in re.split(r"(?<=[.?!])\s+", plain) if s.strip()]


def test_glossary_defines_every_required_term():
    entries = glossary_entries()
    missing = [t for t in REQUIRED_TERMS if t not in entries]
    assert missing == [], f"not defined in the glossary: {missing}"


def test_glossary_definitions_are_short():
    for term, definition in glossary_entries().items():
        n = len(_sentences(definition))
        assert 1 <= n <= 4, f"{term!r}: {n} sentences"


def _term_targets(text: str) -> list[str]:
    targets = []
    for inner in re.findall(r"\{term\}`([^`]+)`", text):
        m = re.search(r"<([^<>]+)>\s*$", inner)
        targets.append(" ".join((m.group(1) if m else inner).split()))
    return targets


def _book_texts() -> dict[str, str]:
    texts = {"intro.md": (ROOT / "intro.md").read_text()}
    for path in sorted((ROOT / "chapters").glob("*.ipynb")) + sorted(APPENDIX.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        texts[path.relative_to(ROOT).as_posix()] = "\n".join(
            c.source for c in nb.cells if c.cell_type == "markdown")
    for path in sorted(APPENDIX.glob("*.md")):
        texts[path.relative_to(ROOT).as_posix()] = path.read_text()
    return texts


def test_every_term_role_in_the_book_is_defined():
    # Sphinx resolves {term} case-insensitively when there is no exact match
    defined = {t.lower() for t in glossary_entries()}
    undefined = [f"{name}: {target}" for name, text in _book_texts().items()
                 for target in _term_targets(text) if target.lower() not in defined]
    assert undefined == [], "add these to appendix/glossary.md: " + "; ".join(undefined)


def test_term_parser_reads_explicit_targets():
    assert _term_targets("{term}`BLUP`s and {term}`random\n slopes <random slope>`") == [
        "BLUP", "random slope"]


def test_appendix_cites_only_known_keys():
    bib = (ROOT / "references.bib").read_text()
    keys = set(re.findall(r"@\w+\{([^,\s]+),", bib))
    cited = set()
    for text in (_book_texts()[n] for n in ("appendix/glossary.md", "appendix/cheatsheet.ipynb")):
        for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", text):
            cited.update(k.strip() for k in group.split(","))
    assert cited and cited <= keys, sorted(cited - keys)
