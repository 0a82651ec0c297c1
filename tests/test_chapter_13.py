"""Chapter 13, binary outcomes: the numbers the chapter states, and its R cross-checks.

R's values are read from data/reference/glmer/ (tests/r/glmer.R: lme4's glmer on the
lexical decision trials and the separation trap) and data/reference/binary/
(tests/r/binary.R: the crossed random-intercepts model, nAGQ = 1 and 9, emmeans on the
probability scale, afex's F1 ANOVA on proportions, geepack's GEE), never typed here.
Tolerances: glmer against lme4's tight fit 1e-3 relative (log-likelihood 1e-5), against
lme4's default fit 1e-2; emmeans, afex and geepack 1e-3.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import ROOT

STEM = "13_binary_outcomes"
REF = ROOT / "data" / "reference"

PROBES = {
    STEM: {
        "cell_accuracy": "cell_accuracy['mean'].tolist()",
        "n_trials": "len(lex)",
        "n_errors": "int((~lex['correct']).sum())",
        "f1": "f1[['F', 'p_unc']].to_dict('list')",
        "ceiling": "ceiling.to_dict('list')",
        "glmm_fe": "glmm.fe_params.tolist()",
        "glmm_se": "glmm.bse.tolist()",
        "glmm_sd": "helpers.varcorr(glmm)['sdcor'].tolist()",
        "glmm_llf": "glmm.llf",
        "glmm_converged": "bool(glmm.converged)",
        "odds": "odds.to_dict('list')",
        "r2": "r2_parts.to_dict()",
        "probs": "probs[['prob', 'SE', 'lower', 'upper']].to_dict('list')",
        "freq_prob": "freq_prob[['estimate', 'SE', 't', 'p']].to_dict('list')",
        "freq_link": "freq_link[['estimate', 'SE', 't', 'p']].to_dict('list')",
        "warning_kinds": "[w.category.__name__ for w in caught_all]",
        "separation_text": "' '.join(str(w.message) for w in caught_all)",
        "all_fe": "glmm_all.fe_params.tolist()",
        "all_llf": "glmm_all.llf",
        "lexdec_cells": "lexdec_cells.to_dict('list')",
        "vb_fe": "vb.fe_mean.tolist()",
        "vb_fe_sd": "vb.fe_sd.tolist()",
        "vb_sd": "vb_sd.to_dict()",
        "int_fe": "glmm_int.fe_params.tolist()",
        "int_se": "glmm_int.bse.tolist()",
        "int_sd": "sd_int.to_dict()",
        "int_llf": "glmm_int.llf",
        "map_sd": "float(np.exp(vb_map.vcp_mean)[0])",
        "gee": "gee.params.tolist()",
        "gee_se": "gee.bse.tolist()",
        "attenuation": "attenuation.to_dict('list')",
        "c": "float(c)",
        "typical": "[float(expit(eta[0])), float(expit(exact[0])),"
                   " float(word_low['correct'].mean())]",
        "agq": "agq_table.to_dict('list')",
        "false_positive_rate": "false_positive_rate",
    }
}


def _ref(name: str) -> dict:
    return json.loads((REF / f"{name}.json").read_text())


def _rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12))


@pytest.mark.slow
def test_the_data_and_the_f1_anova(chapter):
    _, v = chapter
    # naming: all correct; lexical decision: errors
    assert v["cell_accuracy"][:2] == [1.0, 1.0] and max(v["cell_accuracy"][2:]) < 0.98
    assert v["n_trials"] == 7358 and v["n_errors"] == 262
    r = _ref("binary/f1_anova")
    assert _rel(v["f1"]["F"], r["F"]) < 1e-6
    np.testing.assert_allclose(v["f1"]["p_unc"], r["p"], atol=1e-6)
    # the ceiling: most participants at 100% in the high-frequency cells
    assert v["ceiling"]["at_ceiling"] == [6, 16, 2, 12]
    sd = v["ceiling"]["sd"]
    assert sd[1] < sd[0] / 3 and sd[3] < sd[2] / 2


@pytest.mark.slow
def test_glmer_matches_lme4(chapter):
    _, v = chapter
    r = _ref("glmer/fhch_lexdec")
    t = r["tight"]
    assert v["glmm_converged"]
    assert _rel(v["glmm_llf"], t["logLik"]) < 1e-5
    assert v["glmm_llf"] >= r["logLik"] - 1e-6 * abs(r["logLik"])
    assert _rel(v["glmm_fe"], t["fixef"]) < 1e-3
    assert _rel(v["glmm_se"], t["se"]) < 1e-3
    assert _rel(v["glmm_sd"], t["sdcor"]) < 1e-3
    assert _rel(v["glmm_fe"], r["fixef"]) < 1e-2
    assert _rel(v["glmm_sd"], r["varcorr"]["sdcor"]) < 1e-2
    # "about ten times higher": the odds ratio of frequency
    assert round(v["odds"]["odds ratio"][2]) == 10


@pytest.mark.slow
def test_probabilities_and_contrasts_match_emmeans(chapter):
    _, v = chapter
    r = _ref("binary/posthoc_lexdec")
    e = r["emmeans_response"]
    for ours, theirs in [("prob", "prob"), ("SE", "SE"), ("lower", "asymp.LCL"),
                         ("upper", "asymp.UCL")]:
        assert _rel(v["probs"][ours], e[theirs]) < 1e-3, ours
    for key, kind in [("freq_prob", "pairs_regrid"), ("freq_link", "pairs_link")]:
        assert _rel(v[key]["estimate"], r[kind]["estimate"]) < 1e-3
        assert _rel(v[key]["SE"], r[kind]["SE"]) < 1e-3
        assert _rel(v[key]["t"], r[kind]["z.ratio"]) < 1e-3
        np.testing.assert_allclose(v[key]["p"], r[kind]["p.value"], atol=1e-4)
    # the chapter's reading: larger on the probability scale for non-words, not on the
    # log-odds scale
    assert abs(v["freq_prob"]["estimate"][1]) > abs(v["freq_prob"]["estimate"][0])
    assert abs(v["freq_link"]["estimate"][1]) < abs(v["freq_link"]["estimate"][0])


@pytest.mark.slow
def test_separation(chapter):
    _, v = chapter
    r = _ref("glmer/fhch_separation")
    assert "SeparationWarning" in v["warning_kinds"]
    assert "task = naming" in v["separation_text"] and "all 1" in v["separation_text"]
    assert r["cell_means"]["mean"][0] == 1 and r["cell_means"]["mean"][2] == 1
    # arbitrary estimates: orders of magnitude apart...
    assert abs(v["all_fe"][0]) > 10 * abs(r["fixef"][0])
    assert max(r["se"]) > 1000
    assert _rel(v["all_llf"], r["tight"]["logLik"]) < 1e-5
    # ...but the lexical decision cells agree across the three fits
    cells = v["lexdec_cells"]
    for column in ("R (lme4)", "R tight"):
        np.testing.assert_allclose(cells["Python"], cells[column], atol=5e-3)
    b, bt = np.array(r["fixef"]), np.array(r["tight"]["fixef"])
    np.testing.assert_allclose(cells["R (lme4)"], [b[0] + b[1], b.sum()], rtol=1e-12)
    np.testing.assert_allclose(cells["R tight"], [bt[0] + bt[1], bt.sum()], rtol=1e-12)


@pytest.mark.slow
def test_variational_bayes_against_glmer_and_lme4(chapter):
    _, v = chapter
    r = _ref("binary/lexdec_intercepts")
    t = r["tight"]
    sd_t = dict(zip(t["grp"], t["sdcor"]))
    assert _rel(v["int_llf"], t["logLik"]) < 1e-5
    assert _rel(v["int_fe"], t["fixef"]) < 1e-3 and _rel(v["int_se"], t["se"]) < 1e-3
    sd_ours = [v["int_sd"]["id"], v["int_sd"]["item"]]
    assert _rel(sd_ours, [sd_t["id"], sd_t["item"]]) < 1e-3
    # what the chapter states: the participant SD moves more than the item SD, and the
    # posterior SDs of the fixed effects are a fraction of the standard errors
    move_id = abs(v["vb_sd"]["id"] / sd_t["id"] - 1)
    move_item = abs(v["vb_sd"]["item"] / sd_t["item"] - 1)
    assert move_id > 0.1 and move_item < 0.05 and move_id > 3 * move_item
    ratio = np.array(v["vb_fe_sd"]) / np.array(t["se"])
    assert np.all(ratio < 0.6)
    assert v["map_sd"] < 1e-3          # fit_map: the participant SD at zero


@pytest.mark.slow
def test_gee_and_attenuation(chapter):
    _, v = chapter
    r = _ref("binary/gee_lexdec")
    assert _rel(v["gee"], r["fixef"]) < 1e-3 and _rel(v["gee_se"], r["se"]) < 1e-3
    assert v["c"] == pytest.approx(16 * np.sqrt(3) / (15 * np.pi))
    a = v["attenuation"]
    # the exact average over the random effects is close to GEE in every cell
    np.testing.assert_allclose(a["exact average"], a["GEE"], atol=0.06)
    # the approximation: good for the low-frequency cells, too small for the high ones
    for k in (0, 2):
        assert abs(a["approximation"][k] - a["exact average"][k]) < 0.06
    for k in (1, 3):
        assert a["approximation"][k] < a["exact average"][k] - 0.2
    # GEE's intercept and stimulus effect are smaller in magnitude than glmer's
    for k in (0, 1):
        assert abs(v["gee"][k]) < abs(v["glmm_fe"][k])
    typical, population, observed = v["typical"]
    assert typical > population and abs(population - observed) < 0.005


@pytest.mark.slow
def test_exercises(chapter):
    _, v = chapter
    r = _ref("binary/lexdec_agq")
    agq = v["agq"]
    for k in (1, 9):
        ours, theirs = agq[f"nAGQ = {k}"], r[f"nAGQ{k}"]
        assert _rel(ours[0], theirs["logLik"]) < 1e-5
        assert _rel(ours[1], theirs["sdcor"][0]) < 1e-3
        assert _rel(ours[2:], theirs["fixef"]) < 1e-3
    assert agq["nAGQ = 9"][0] > agq["nAGQ = 1"][0]
    assert v["false_positive_rate"] > 0.2


@pytest.mark.slow
def test_r2_against_performance(chapter):
    _, v = chapter
    r = _ref("glmer_r2/r2")["fhch_lexdec"]
    assert v["r2"]["marginal"] == pytest.approx(r["r2_marginal"], abs=1e-4)
    assert v["r2"]["conditional"] == pytest.approx(r["r2_conditional"], abs=1e-4)
    # "about a fifth"; the random effects explain "more than that again"
    assert 0.17 < v["r2"]["marginal"] < 0.23
    assert v["r2"]["conditional"] - v["r2"]["marginal"] > v["r2"]["marginal"]
