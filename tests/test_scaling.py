"""The engine on covariates measured in the thousands (tests/r/scaling_cases.py), against
lme4 (data/reference/scaling/, written by tests/r/scaling.R).

An uncentred covariate in the thousands makes a random slope's θ and its coefficient
four orders of magnitude smaller than an intercept's. The fits must reach an optimum at
least as good as lme4's (log-likelihood within 1e-7 relative), pass their convergence
checks, and, where the two optima agree, give the same estimates (1e-3 relative).
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers.engine.glmer import glmer
from helpers.engine.model import lmer

DIR = Path(__file__).resolve().parents[1] / "data" / "reference" / "scaling"
CASES = json.loads((DIR / "cases.json").read_text())
FITS = [(name, how) for name, case in CASES.items()
        for how in (("REML", "ML") if case["model"] == "lmer" else ("fit",))]


def _fit(name, how):
    case = CASES[name]
    data = pd.read_csv(DIR / f"{case['data']}.csv")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if case["model"] == "lmer":
            m = lmer(case["formula"], data, REML=how == "REML")
        else:
            m = glmer(case["formula"], data, family=case["family"])
    return m, caught


@pytest.mark.parametrize("name,how", FITS)
def test_never_a_worse_optimum_than_lme4(name, how):
    ref = json.loads((DIR / f"{name}.json").read_text())[how]
    m, caught = _fit(name, how)
    assert m.llf >= ref["logLik"] - 1e-7 * abs(ref["logLik"]), m.optimizer_messages
    assert m.converged, m.optimizer_messages
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]
    if abs(m.llf - ref["logLik"]) <= 1e-7 * abs(ref["logLik"]):
        np.testing.assert_allclose(m.fe_params, ref["fixef"], rtol=1e-3)
        np.testing.assert_allclose(m.bse, ref["se"], rtol=1e-3)


@pytest.mark.parametrize("name", ["slopes_correlated", "binary_slopes"])
def test_bootstrap_refits_reach_a_new_fit(name):
    # a parametric bootstrap refits from the estimates: on these scales too it must
    # land where a fit from scratch to the same simulated response lands
    case = CASES[name]
    m, _ = _fit(name, "REML" if case["model"] == "lmer" else "fit")
    y = m.simulate(1, seed=3)[0]
    data = pd.read_csv(DIR / f"{case['data']}.csv").assign(y=y)
    if case["model"] == "lmer":
        new = lmer(case["formula"], data)
        deviance = m._quick_refit(y)[3]
        assert deviance == pytest.approx(new.deviance, rel=1e-7, abs=1e-6)
    else:
        new = glmer(case["formula"], data.assign(y=y.astype(int)), family=case["family"])
        deviance = m._quick_refit(y)[3]
        assert deviance == pytest.approx(-2 * new.llf, rel=1e-7)
    again = m.refit(y)
    assert again.llf == pytest.approx(new.llf, rel=1e-7)
