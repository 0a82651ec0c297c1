"""confint, profile, simulate/refit and the bootstrap LRT for helpers.glmer fits, against
lme4's confint (Wald, profile, bootMer) and pbkrtest's PBmodcomp
(data/reference/glmer_intervals/, written by tests/r/glmer_intervals.R on tight fits).

Tolerances: Wald limits 1e-4 relative (the standard errors come from a finite-difference
Hessian on both sides); profile limits 1e-3 relative (lme4 interpolates ζ with a spline,
here the limits are roots of ζ itself); bootstrap percentiles and p-values within four
Monte Carlo standard errors.
"""
from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import helpers
from helpers.core.intervals import confint, profile
from helpers.engine.glmer import glmer

ROOT = Path(__file__).resolve().parents[1]
REF = ROOT / "data" / "reference" / "glmer_intervals"
Z975 = 1.959963984540054
CASES = ["cbpp", "crossed_intercepts", "poisson", "agq9"]


def _ref(name: str) -> dict:
    return json.loads((REF / f"{name}.json").read_text())


def _data(name: str) -> pd.DataFrame:
    d = pd.read_csv(ROOT / "data" / "reference" / "glmer" / f"{name}.csv")
    if name == "cbpp":
        d["period"] = d["period"].astype(str)
    return d


@functools.lru_cache(maxsize=None)
def _fit(case: str):
    r = _ref(case)
    return glmer(r["formula"], _data(r["data"]), family=r["family"], nAGQ=r["nAGQ"])


def _r_names(fit) -> list[str]:
    """lme4's row names: the fixed effects without patsy's brackets."""
    out = []
    for n in confint(fit, method="Wald").index:
        n = n.replace("Intercept", "(Intercept)") if n == "Intercept" else n
        out.append(n.replace("[T.", "").replace("]", ""))
    return out


@pytest.mark.parametrize("case", CASES)
def test_wald(case):
    ref, fit = _ref(case)["wald"], _fit(case)
    ours = confint(fit, method="Wald")
    assert _r_names(fit) == ref["names"]
    assert "sigma" not in ours.index  # a GLMM has no residual SD
    lower = np.array(ref["lower"], dtype=float)
    assert np.isnan(ours["lower"].to_numpy()[np.isnan(lower)]).all()
    ok = ~np.isnan(lower)
    np.testing.assert_allclose(ours["lower"].to_numpy()[ok], lower[ok], rtol=1e-4)
    np.testing.assert_allclose(ours["upper"].to_numpy()[ok],
                               np.array(ref["upper"], dtype=float)[ok], rtol=1e-4)


@pytest.mark.parametrize("case", CASES)
def test_profile(case):
    ref, fit = _ref(case)["profile"], _fit(case)
    ours = confint(fit)
    assert _r_names(fit) == ref["names"]
    np.testing.assert_allclose(ours["lower"], ref["lower"], rtol=1e-3)
    np.testing.assert_allclose(ours["upper"], ref["upper"], rtol=1e-3)
    assert ours.attrs["ml_deviance"] == pytest.approx(-2 * fit.llf, rel=1e-10)


def test_profile_limits_are_roots_and_the_curve_passes_through_them():
    fit = _fit("cbpp")
    curve = profile(fit, which=["sd_(Intercept)|herd", "period[T.4]"], n_points=5)
    limits = curve.attrs["limits"]
    for name in limits.index:
        rows = curve[curve["parameter"] == name].set_index("value")["zeta"]
        lo, up = limits.loc[name, "lower"], limits.loc[name, "upper"]
        assert rows.loc[lo] == pytest.approx(-Z975, abs=1e-6)
        assert rows.loc[up] == pytest.approx(Z975, abs=1e-6)
        assert rows.loc[curve.attrs["estimates"][name]] == 0
        assert rows.is_monotonic_increasing


def test_simulate_and_refit_match_a_new_fit():
    fit = _fit("cbpp")
    y = fit.simulate(3, seed=7)
    assert y.shape == (3, fit.nobs)
    np.testing.assert_array_equal(y, fit.simulate(3, seed=7))
    size = _data("cbpp")["size"].to_numpy()
    successes = y[0] * size
    assert np.allclose(successes, np.round(successes)) and y.min() >= 0 and y.max() <= 1
    again = fit.refit(y[0])
    new = glmer(_ref("cbpp")["formula"],
                _data("cbpp").assign(incidence=np.round(successes).astype(int)))
    assert again.llf == pytest.approx(new.llf, rel=1e-9)
    np.testing.assert_allclose(again.fe_params, new.fe_params, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(again.theta, new.theta, rtol=1e-5, atol=1e-6)
    counts = _fit("poisson").simulate(1, seed=1)[0]
    assert np.array_equal(counts, np.round(counts)) and counts.min() >= 0


def test_boot_cbpp_within_monte_carlo_error():
    ref, fit = _ref("cbpp")["boot"], _fit("cbpp")
    ours = confint(fit, method="boot", nsim=200, seed=20240607)
    assert ours.attrs["failed"] == 0
    reps = ours.attrs["replicates"].to_numpy()
    for i, name in enumerate(ref["names"]):
        for col, a, se_r in (("lower", 0.025, ref["mc_se_lower"][i]),
                             ("upper", 0.975, ref["mc_se_upper"][i])):
            t = np.sort(reps[:, i])
            s = math.sqrt(a * (1 - a) / len(t))
            se_py = (t[min(len(t) - 1, math.ceil(len(t) * (a + s)) - 1)]
                     - t[max(0, math.floor(len(t) * (a - s)) - 1)]) / 2
            assert abs(ours[col].iloc[i] - ref[col][i]) <= 4 * math.hypot(se_r, se_py), \
                (name, col)


def test_bootstrap_lrt_against_pbmodcomp():
    ref = _ref("pbmodcomp_cbpp")
    d = _data("cbpp")
    large, small = glmer(ref["large"], d), glmer(ref["small"], d)
    out = helpers.lrt(small, large, method="bootstrap", nsim=100, seed=20240607)
    assert out["chi2"] == pytest.approx(ref["stat"], rel=1e-5)
    assert out["df"] == ref["df"]
    sim = out.attrs["bootstrap"]
    # the simulated LR statistics: their mean, within Monte Carlo error of R's
    se = math.hypot(ref["ref_sd"] / math.sqrt(ref["nsim"]), np.std(sim) / math.sqrt(len(sim)))
    assert abs(sim.mean() - ref["ref_mean"]) <= 4 * se
    # no simulated statistic reaches the observed one, in R and here
    assert out["p"] == pytest.approx(1 / 101) and ref["p_PB"] < 0.01


def test_bad_input():
    fit = _fit("cbpp")
    with pytest.raises(ValueError, match="rows"):
        fit.refit(np.zeros(3))
    with pytest.raises(ValueError, match="between 0 and 1"):
        fit.refit(np.full(fit.nobs, 2.0))
    with pytest.raises(ValueError, match="0/1"):
        _fit("crossed_intercepts").refit(np.full(_fit("crossed_intercepts").nobs, 0.5))
    with pytest.raises(ValueError, match="nsim"):
        fit.simulate(0)
    lm = helpers.lmer("incidence ~ period + (1 | herd)", _data("cbpp"), REML=False)
    with pytest.raises(ValueError, match="one of each"):
        helpers.lrt(lm, fit, method="bootstrap", nsim=5)
