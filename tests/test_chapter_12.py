"""Chapter 12, power by simulation: the numbers the chapter states, and its closed form.

The R values are read from data/reference/power/closed_form.json (written by
tests/r/power.R with stats::power.t.test). The chapter's claims checked here: the
simulated power agrees with the closed form within Monte Carlo error, at one design and
along both curves; the mixed model and the by-item test decide alike; more participants
cannot lift the power above the ceiling the items set; the parallel runs (two local
workers, a Dask cluster) give the serial run's p values exactly.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import ROOT
from helpers.studies.power import power_crossed_closed_form

STEM = "12_power_by_simulation"

PROBES = {
    STEM: {
        "power_sim": "power_sim",
        "mc_se": "float(mc_se)",
        "n_rep": "n_rep",
        "power_exact": "float(power_exact)",
        "power_formula": "power_formula",
        "delta": "float(delta)",
        "z_gap": "float(z_gap)",
        "singular": "int(replicates['singular'].sum())",
        "decisions_differ": "int((~same_decision).sum())",
        "curve": "curve[['n_subj', 'n_item', 'power', 'mc_se', 'closed form', 'z']]"
                 ".to_dict('list')",
        "ceiling": "ceiling.to_dict('list')",
        "items_for_80": "items_for_80",
        "identical": "bool(identical)",
        "dask_identical": "bool(dask_identical)",
        "pilot_converged": "bool(pilot_fit.converged)",
        "pilot_singular": "bool(helpers.is_singular(pilot_fit))",
        "pilot_effect": "float(pilot_fit.fe_params['cond[T.hard]'])",
        "design_rows": "design.nobs",
        "design_items": "design.data.groupby('cond')['item'].nunique().to_dict()",
        "design_effect": "float(design.fe_params['cond[T.hard]'])",
        "power_pilot": "power_pilot",
        "se_pilot": "float(se_pilot)",
        "n_pilot": "len(p_pilot)",
        "pilot_curve": ("pilot_curve[['n_subj', 'n_item', 'power', 'mc_se']]"
                        ".to_dict('list')"),
        "items_better": "items_better",
        "ceiling_better": "float(ceiling_better)",
        "check": "[float(row['power']), float(row['mc_se']), float(exact)]",
        "power_fitted": "power_fitted",
    }
}


@pytest.mark.slow
def test_simulated_power_agrees_with_the_closed_form(chapter):
    _, v = chapter
    exact = power_crossed_closed_form(30, 20, 50.0, 80.0, 200.0)
    assert v["power_exact"] == pytest.approx(exact, rel=1e-12)
    assert v["power_formula"] == pytest.approx(exact, rel=1e-12)
    assert round(exact, 4) == 0.2257 and round(v["delta"], 3) == 1.271
    assert v["n_rep"] == 1000
    p = v["power_sim"]
    assert v["mc_se"] == pytest.approx(np.sqrt(p * (1 - p) / 1000))
    assert round(v["power_sim"], 3) == 0.238 and round(v["mc_se"], 3) == 0.013
    assert abs(v["z_gap"]) < 2 and round(v["z_gap"], 2) == 0.92
    assert v["singular"] == 1 and v["decisions_differ"] == 0


@pytest.mark.slow
def test_closed_form_matches_r(chapter):
    path = ROOT / "data" / "reference" / "power" / "closed_form.json"
    ref = json.loads(path.read_text())
    i = [k for k, design in enumerate(zip(ref["n_subj"], ref["n_item"]))
         if design == (30, 20)]
    _, v = chapter
    assert v["power_formula"] == pytest.approx(ref["power"][i[0]], rel=1e-9)


@pytest.mark.slow
def test_both_curves_agree_with_the_closed_form(chapter):
    _, v = chapter
    c = v["curve"]
    assert len(c["power"]) == 10
    exact = power_crossed_closed_form(np.array(c["n_subj"]), np.array(c["n_item"]),
                                      50.0, 80.0, 200.0)
    np.testing.assert_allclose(c["closed form"], exact, rtol=1e-12)
    z = np.array(c["z"])
    assert np.all(np.abs(z) < 2), z          # "within about two Monte Carlo SEs"
    se = np.sqrt(np.array(c["power"]) * (1 - np.array(c["power"])) / 400)
    np.testing.assert_allclose(c["mc_se"], se)


@pytest.mark.slow
def test_more_participants_cannot_make_up_for_too_few_items(chapter):
    _, v = chapter
    ceiling = v["ceiling"]
    assert round(ceiling["infinitely many"][1], 3) == 0.263      # 20 items
    assert ceiling["infinitely many"][1] < 0.3
    for column in ("30 participants", "1000 participants"):
        assert all(a < b for a, b in zip(ceiling[column], ceiling["infinitely many"]))
    assert v["items_for_80"] == 100
    assert power_crossed_closed_form(30, 98, 50.0, 80.0, 200.0) < 0.8
    assert power_crossed_closed_form(30, 100, 50.0, 80.0, 200.0) >= 0.8


@pytest.mark.slow
def test_parallel_runs_give_the_serial_p_values(chapter):
    _, v = chapter
    assert v["identical"] is True
    assert v["dask_identical"] is True


@pytest.mark.slow
def test_the_pilot_route(chapter):
    _, v = chapter
    assert v["pilot_converged"] and not v["pilot_singular"]
    assert round(v["pilot_effect"], 1) == 71.3
    assert v["design_rows"] == 30 * 24 and v["design_items"] == {"easy": 12, "hard": 12}
    assert v["design_effect"] == 50.0
    assert v["n_pilot"] == 40
    p = v["power_pilot"]
    assert v["se_pilot"] == pytest.approx(np.sqrt(p * (1 - p) / 40))
    pc = v["pilot_curve"]
    assert pc["n_subj"] == [15, 60, 30, 30] and pc["n_item"] == [24, 24, 12, 48]
    # the loop's estimate fits among the curve's intervals
    lower = np.array(pc["power"]) - 1.96 * np.array(pc["mc_se"])
    upper = np.array(pc["power"]) + 1.96 * np.array(pc["mc_se"])
    assert lower.min() < v["power_pilot"] < upper.max()
    # the exercise: planning with the pilot's larger estimate gives higher power
    assert v["power_fitted"] > v["power_pilot"]


@pytest.mark.slow
def test_the_item_sd_exercise(chapter):
    _, v = chapter
    assert v["items_better"] == 40 and v["items_better"] < v["items_for_80"] / 2
    assert v["ceiling_better"] == pytest.approx(
        power_crossed_closed_form(10**9, 20, 50.0, 40.0, 200.0))
    sim, se, exact = v["check"]
    assert abs(sim - exact) < 2 * se
