"""Chapter 7 states the numbers it should: lme4's Penicillin and crossed fits, the accepted
answer to its printed digits, the false-positive simulation, and the optimizer comparison."""
from __future__ import annotations

import math

import pytest

import helpers
from conftest import ROOT, executed

STEM = "07_crossed_random_effects"
REFERENCE = ROOT / "data" / "reference"
STOPS_SHORT_CASE = "crossed_stops_short"   # proposed R case: the chapter's `short` data set

PROBES = {
    STEM: {
        # simulated participants x items (the reference case `crossed`)
        "crossed_args": "crossed_model._statsmodels_args",
        "crossed_llf": "float(crossed_fit.llf)",
        "by_hand_llf": "float(by_hand_fit.llf)",
        "crossed_fe": "[float(v) for v in crossed_fit.fe_params]",
        "crossed_sd": "{k: float(v) for k, v in recovery_table['statsmodels'].items()}",
        "spread": "spread['SD / true'].to_dict()",
        "tests": "tests.astype(float).to_dict('index')",
        "f1_by_hand": "[float(f1_t.statistic ** 2), float(f1_t.df), float(f1_t.pvalue)]",
        "f2_by_hand": "[float(f2_t.statistic ** 2), float(f2_t.df), float(f2_t.pvalue)]",
        "lmm_anova": "lmm_anova.loc['cond'].astype(float).to_dict()",
        "shared_item_sd": "float(shared_item_sd)",
        "f1_se": "float(f1_se)",
        "recovery_reps": "len(recovered)",
        "recovery_refits": "int(recovered['refitted'].sum())",
        # the false-positive simulation (a visible loop)
        "rates": "rates.to_dict('index')",
        "n_singular": "int(singular.sum())",
        "lmm_gap_nonsingular": "float(gap[~singular].max())",
        "lmm_gap_singular": "float(gap[singular].max())",
        "lmm_rejections": "int((pvalues['LMM'] < 0.05).sum())",
        "f2_rejections_same": "int((pvalues['F2'] < 0.05).sum())",
        "decisions_differ": "decisions_differ",
        # Penicillin
        "pen_sd": "dict(zip(pen_table['grp'], pen_table['statsmodels SD'].astype(float)))",
        "pen_intercept": "float(pen_fit.fe_params['Intercept'])",
        "pen_se": "float(pen_fit.bse_fe['Intercept'])",
        "pen_llf": "float(pen_fit.llf)",
        # the accepted answer
        "answer_digits": "answer_digits",
        "answer_llf": "float(result.llf)",
        "answer_scale": "float(result.scale)",
        "answer_intercept": "float(result.fe_params['Intercept'])",
        "answer_vcomp": "[float(v) for v in result.vcomp]",
        "answer_singular": "bool(helpers.is_singular(result))",
        "answer_converged": "bool(result.converged)",
        "chi2_interval_2_levels": "interval.loc[2].tolist()",
        "asker_anova_F": "helpers.anova(asker)['F'].tolist()",
        # optimizer robustness
        "default_converged": "bool(default_fit.converged)",
        "default_llf": "float(default_fit.llf)",
        "best_llf": "float(all_fits.best.llf)",
        "best_method": "all_fits.best_method",
        "table": "all_fits.table[['converged', 'llf']].to_dict('index')",
        "stop_short": "stop_short.to_dict()",
        "best_summary": "{k: float(v) for k, v in stop_short.iloc[:, 1].items()}",
        "stop_short_gain": "float(all_fits.best.llf - default_fit.llf)",
    }
}


def reference(case):
    return helpers.r_reference(case)


@pytest.fixture(scope="module")
def v():
    _, values = executed(STEM)
    return values


def sd_close(value, expected, residual, rel=1e-3):
    """0.1% relative, or relative to the residual SD when the value is near 0."""
    return abs(value - expected) <= rel * max(abs(expected), residual if abs(expected) < 1e-3 else 0)


# --------------------------------------------------------------------------- simulated crossed data
@pytest.mark.slow
def test_one_group_and_variance_components(v):
    args = v["crossed_args"]
    assert args["groups"] is None and args["re_formula"] is None
    assert args["vc_formula"] == {"subject": "0 + C(subject)", "item": "0 + C(item)"}
    assert v["by_hand_llf"] == pytest.approx(v["crossed_llf"], abs=1e-6)


@pytest.mark.slow
@pytest.mark.r
def test_simulated_crossed_fit_matches_lme4(v):
    r = reference("crossed")
    for got, want in zip(v["crossed_fe"], r["fixef"]["estimate"]):
        assert got == pytest.approx(want, rel=1e-3)
    sd = dict(zip(r["varcorr"]["grp"], r["varcorr"]["sdcor"]))
    got = v["crossed_sd"]
    assert got["subj_sd (ms)"] == pytest.approx(sd["subject"], rel=1e-3)
    assert got["item_sd (ms)"] == pytest.approx(sd["item"], rel=1e-3)
    assert got["error_sd (ms)"] == pytest.approx(sd["Residual"], rel=1e-3)
    assert v["crossed_llf"] == pytest.approx(r["logLik"], abs=0.01)
    # the chapter's LMM test of the condition is lmerTest's
    lmm = v["tests"]["crossed LMM"]
    assert lmm["F"] == pytest.approx(r["anova"]["F"][0], rel=0.01)
    assert lmm["df2"] == pytest.approx(r["anova"]["DenDF"][0], rel=0.01)
    assert lmm["p"] == pytest.approx(r["anova"]["p"][0], abs=0.002)


@pytest.mark.slow
def test_recovery_spread_is_as_the_prose_says(v):
    s = v["spread"]
    assert s["error_sd"] < 0.06                      # pinned down
    assert 0.1 < s["subj_sd"] < 0.3 and 0.1 < s["item_sd"] < 0.3   # "about a fifth"
    assert 0.6 < s["effect"] < 0.9                   # "about three quarters of the effect"


@pytest.mark.slow
def test_recovery_loop_refits_only_the_fits_that_did_not_converge(v):
    assert v["recovery_reps"] == 50
    assert v["recovery_refits"] <= 5    # "a fit that does not converge is refitted"


@pytest.mark.slow
def test_the_tests_written_out_equal_the_helpers_used_in_the_loop(v):
    t = v["tests"]
    for by_hand, name in ((v["f1_by_hand"], "by participant (F1)"),
                          (v["f2_by_hand"], "by item (F2)")):
        assert t[name]["F"] == pytest.approx(by_hand[0], rel=1e-10)
        assert t[name]["df2"] == by_hand[1]
        assert t[name]["p"] == pytest.approx(by_hand[2], rel=1e-10)
    # the closed form of helpers.crossed_lmm_test against the statsmodels fit + helpers.anova
    lmm, fitted = t["crossed LMM"], v["lmm_anova"]
    assert lmm["F"] == pytest.approx(fitted["F"], rel=1e-3)
    assert lmm["df2"] == pytest.approx(fitted["DenDF"], rel=1e-3)
    assert lmm["p"] == pytest.approx(fitted["p"], abs=1e-4)


@pytest.mark.slow
def test_f1_uses_participants_and_the_lmm_uses_items(v):
    t = v["tests"]
    assert t["by participant (F1)"]["df2"] == 29
    assert t["crossed LMM"]["df2"] == pytest.approx(14, abs=0.1)
    # "on these data the mixed model's test *is* F2"
    assert t["crossed LMM"]["F"] == pytest.approx(t["by item (F2)"]["F"], rel=1e-9)
    assert t["crossed LMM"]["p"] == pytest.approx(t["by item (F2)"]["p"], rel=1e-9)
    assert t["by participant (F1)"]["F"] == max(row["F"] for row in t.values())
    assert len({round(row["estimate"], 6) for row in t.values()}) == 1
    assert v["shared_item_sd"] == pytest.approx(40.0)
    assert v["shared_item_sd"] > v["f1_se"]


# --------------------------------------------------------------------------- false positives
@pytest.mark.slow
def test_by_participant_averaging_inflates_false_positives(v):
    r = v["rates"]
    assert r["F1"]["reps"] == 2000
    assert r["F1"]["lower"] > 0.05 and 0.2 < r["F1"]["rate"] < 0.5
    assert r["F1"]["mc_se"] == pytest.approx(math.sqrt(r["F1"]["rate"] * (1 - r["F1"]["rate"]) / 2000))
    # the chapter's figure: 0.331 [0.310, 0.352]
    assert (round(r["F1"]["rate"], 3), round(r["F1"]["lower"], 3),
            round(r["F1"]["upper"], 3)) == (0.331, 0.310, 0.352)


@pytest.mark.slow
def test_the_mixed_model_and_f2_hold_the_level(v):
    r = v["rates"]
    assert r["LMM"]["reps"] == r["F2"]["reps"] == 2000
    # near 0.05: within three Monte Carlo SEs of a test with exact level 0.05
    assert abs(r["LMM"]["rate"] - 0.05) < 3 * math.sqrt(0.05 * 0.95 / r["LMM"]["reps"])
    assert r["LMM"]["lower"] < 0.05 < r["LMM"]["upper"]
    assert r["F2"]["lower"] < 0.05 < r["F2"]["upper"]
    assert r["min_F"]["rate"] < 0.05
    # the argument: the crossed model's test is F2 except on singular fits ("rare")
    assert v["lmm_gap_nonsingular"] < 1e-9
    assert 0 < v["n_singular"] < 0.01 * r["LMM"]["reps"]
    assert 1e-4 < v["lmm_gap_singular"] < 0.05      # "the two differ" on singular fits
    assert v["lmm_rejections"] == v["f2_rejections_same"]
    assert v["decisions_differ"] == 0               # "did not change a single decision"


# --------------------------------------------------------------------------- Penicillin
@pytest.mark.slow
def test_penicillin_issue_numbers(v):
    # lme4's numbers as the issue quotes them; the likelihood is flat in the sample SD (6
    # samples), so statsmodels' optimum agrees to 0.1% (and to 3 decimals), not always to 4
    sd = v["pen_sd"]
    for got, issue in ((sd["plate"], 0.8467), (sd["sample"], 1.9316), (sd["Residual"], 0.5499)):
        assert got == pytest.approx(issue, rel=1e-3)
        assert round(got, 3) == round(issue, 3)
    assert round(v["pen_intercept"], 3) == 22.972


@pytest.mark.slow
@pytest.mark.r
def test_penicillin_matches_lme4(v):
    r = reference("penicillin")
    sigma = r["sigma"]
    for grp, want in zip(r["varcorr"]["grp"], r["varcorr"]["sdcor"]):
        assert sd_close(v["pen_sd"][grp], want, sigma), (grp, v["pen_sd"][grp], want)
    assert v["pen_intercept"] == pytest.approx(r["fixef"]["estimate"][0], rel=1e-3)
    assert v["pen_se"] == pytest.approx(r["fixef"]["se"][0], rel=1e-3)
    assert v["pen_llf"] == pytest.approx(r["logLik"], abs=0.01)


# --------------------------------------------------------------------------- the accepted answer
@pytest.mark.slow
def test_the_accepted_answer_to_its_printed_digits(v):
    assert v["answer_digits"] == {"Scale": 0.0459, "Log-likelihood": 0.4363, "Intercept": 0.531,
                                  "Std.Err.": 0.054, "z": 9.917}
    assert v["answer_converged"] is True
    assert v["answer_singular"] is True
    assert max(v["answer_vcomp"]) < 1e-8


@pytest.mark.slow
@pytest.mark.r
def test_the_accepted_answer_matches_lme4s_singular_fit(v):
    r = reference("seed_answer")
    assert r["isSingular"] is True
    assert all(sd == 0 for sd in r["varcorr"]["sdcor"][:-1])
    assert math.sqrt(v["answer_scale"]) == pytest.approx(r["sigma"], rel=1e-3)
    assert v["answer_intercept"] == pytest.approx(r["fixef"]["estimate"][0], rel=1e-3)
    assert v["answer_llf"] == pytest.approx(r["logLik"], abs=0.01)


@pytest.mark.slow
def test_two_levels_estimate_a_variance_hopelessly_imprecisely(v):
    low, high = v["chi2_interval_2_levels"]
    assert low == pytest.approx(0.1990, abs=1e-3) and high > 1000
    assert len(v["asker_anova_F"]) == 3


# --------------------------------------------------------------------------- optimizers
@pytest.mark.slow
def test_default_fit_stops_short_and_fit_all_fixes_it(v):
    assert v["default_converged"] is False
    assert v["best_llf"] > v["default_llf"] + 1
    assert round(v["stop_short_gain"], 2) == 2.68    # "log-likelihood gained: 2.68"
    assert v["best_method"] != "bfgs"
    table = v["table"]
    assert table["bfgs"]["converged"] is False
    for method in ("lbfgs", "cg", "powell", "nm"):
        assert table[method]["converged"] is True
        assert table[method]["llf"] == pytest.approx(v["best_llf"], abs=0.01)
    default, best = (v["stop_short"][c] for c in v["stop_short"])
    assert default["effect (ms)"] == pytest.approx(best["effect (ms)"], rel=1e-6)
    assert default["SE of the effect (ms)"] < best["SE of the effect (ms)"]
    assert default["DenDF"] > best["DenDF"] and default["p"] < best["p"]
    assert default["item SD (ms)"] < best["item SD (ms)"]
    assert default["subject SD (ms)"] > best["subject SD (ms)"]


@pytest.mark.slow
@pytest.mark.r
def test_fit_all_best_equals_lme4_where_the_default_stops_short(v):
    path = REFERENCE / f"{STOPS_SHORT_CASE}.json"
    if not path.exists():
        pytest.skip(f"no R reference case {STOPS_SHORT_CASE!r} yet")
    r = reference(STOPS_SHORT_CASE)
    assert v["best_llf"] == pytest.approx(r["logLik"], abs=0.01)
    assert v["default_llf"] < r["logLik"] - 1
    sd = dict(zip(r["varcorr"]["grp"], r["varcorr"]["sdcor"]))
    assert v["best_summary"]["subject SD (ms)"] == pytest.approx(sd["subject"], rel=1e-3)
    assert v["best_summary"]["item SD (ms)"] == pytest.approx(sd["item"], rel=1e-3)
    assert v["best_summary"]["residual SD (ms)"] == pytest.approx(sd["Residual"], rel=1e-3)
    best = v["best_summary"]
    assert best["effect (ms)"] == pytest.approx(r["fixef"]["estimate"][1], rel=1e-3)
    assert best["SE of the effect (ms)"] == pytest.approx(r["fixef"]["se"][1], rel=1e-3)
    assert best["F"] == pytest.approx(r["anova"]["F"][0], rel=0.01)
    assert best["DenDF"] == pytest.approx(r["anova"]["DenDF"][0], rel=0.01)
    assert best["p"] == pytest.approx(r["anova"]["p"][0], abs=0.002)
