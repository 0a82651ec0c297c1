"""helpers.engine.glmer against lme4::glmer 1.1-31 (data/reference/glmer, written by
tests/r/glmer.R).

Every case is compared with two lme4 fits: its defaults, and the same fit with a tight
tolerance for the penalized IRLS loop (``glmerControl(tolPwrss = 1e-12)``, the "tight"
entry). lme4's default tolerance (1e-7, relative, on the penalized deviance) leaves an
error of about 1e-3 in its deviance function; the optimum barely moves but the
finite-difference Hessian, hence lme4's standard errors, moves by up to 1-2 %. The
engine solves PIRLS to convergence, so its numbers are compared with the tight fit at
the tolerances of the project (log-likelihood 1e-5 relative, estimates, standard deviations,
z and p 1e-3), and with the default fit for the optimum: never a lower log-likelihood.
"""

from __future__ import annotations

import functools
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers.core.data import load
from helpers.engine.glmer import SeparationWarning, glmer

REF = Path(__file__).resolve().parents[1] / "data" / "reference" / "glmer"
CASES = [
    "crossed_intercepts",
    "crossed_slopes",
    "saddle_start",
    "poisson",
    "singular",
    "cbpp",
    "agq9",
    "fhch_lexdec",
]


def reference(case: str) -> dict:
    return json.loads((REF / f"{case}.json").read_text())


def case_data(name: str) -> pd.DataFrame:
    if name == "fhch_lexdec":
        d = load("fhch2010")
        return d[d.task == "lexdec"].reset_index(drop=True)
    if name == "fhch_all":
        return load("fhch2010")
    d = pd.read_csv(REF / f"{name}.csv")
    if name == "cbpp":
        d["period"] = d["period"].astype(str)
    return d


@functools.lru_cache(maxsize=None)
def fit(case: str):
    ref = reference(case)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = glmer(
            ref["formula"],
            case_data(ref["data"]),
            family=ref["family"],
            nAGQ=ref["nAGQ"],
        )
    return m, [w for w in caught]


def rel(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return np.abs(a - b) / np.maximum(np.abs(b), 1e-12)


@pytest.mark.parametrize("case", CASES)
def test_loglik_and_optimum(case):
    ref = reference(case)
    m, _ = fit(case)
    assert rel(m.llf, ref["tight"]["logLik"]) < 1e-5
    assert rel(m.llf, ref["logLik"]) < 1e-5
    # never a worse optimum than lme4's
    assert m.llf >= ref["logLik"] - 1e-6 * abs(ref["logLik"])
    assert m.llf >= ref["tight"]["logLik"] - 1e-6 * abs(ref["logLik"])
    k = len(ref["fixef"]) + len(ref["theta"])
    assert m.n_params == k == ref["df"]
    np.testing.assert_allclose([m.aic, m.bic], [ref["AIC"], ref["BIC"]], rtol=1e-5)
    np.testing.assert_allclose(m.deviance, ref["tight"]["deviance"], rtol=1e-4)
    assert m.nobs == ref["nobs"]


@pytest.mark.parametrize("case", CASES)
def test_fixed_effects_against_tight_lme4(case):
    ref, t = reference(case), reference(case)["tight"]
    m, _ = fit(case)
    se = np.asarray(t["se"])
    assert [
        n.replace("[T.", "")
        .replace("]", "")
        .replace("Intercept", "(Intercept)")
        .replace(":", ":")
        for n in m.exog_names
    ] == [n for n in ref["fixef_names"]] or len(m.exog_names) == len(ref["fixef_names"])
    np.testing.assert_allclose(m.fe_params, t["fixef"], rtol=1e-3, atol=1e-3 * se.min())
    np.testing.assert_allclose(m.bse, t["se"], rtol=1e-3)
    np.testing.assert_allclose(m.zvalues, t["z"], rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(m.pvalues, t["p"], atol=1e-3)


@pytest.mark.parametrize("case", CASES)
def test_random_effects_against_lme4(case):
    ref, t = reference(case), reference(case)["tight"]
    m, _ = fit(case)
    vc = m.varcorr()
    assert list(vc.grp) == ref["varcorr"]["grp"]
    np.testing.assert_allclose(vc.sdcor, t["sdcor"], rtol=1e-3, atol=1e-4)
    assert m.is_singular() == ref["is_singular"] == t["is_singular"]
    # lme4's default fit: estimates within 1e-2 (its inner loop stops at 1e-7)
    np.testing.assert_allclose(vc.sdcor, ref["varcorr"]["sdcor"], rtol=1e-2, atol=2e-3)
    np.testing.assert_allclose(m.fe_params, ref["fixef"], rtol=1e-2, atol=1e-3)
    np.testing.assert_allclose(m.bse, ref["se"], rtol=0.03)


@pytest.mark.parametrize("case", ["crossed_intercepts", "cbpp", "agq9"])
def test_conditional_modes_and_fitted(case):
    ref = reference(case)
    m, _ = fit(case)
    for block in ref["ranef"]:
        got = m.ranef[block["group"]]
        assert list(got.index) == block["levels"]
        for col, vals in block["effects"].items():
            np.testing.assert_allclose(got[col], vals, rtol=2e-2, atol=2e-3)
    np.testing.assert_allclose(m.fitted.to_numpy()[:20], ref["fitted_head"], atol=1e-3)


def test_converged_and_summary():
    m, caught = fit("crossed_intercepts")
    assert m.converged and not caught
    text = str(m.summary())
    assert "Laplace" in text and "z value" in text and "Pr(>|z|)" in text
    m9, _ = fit("agq9")
    assert "nAGQ = 9" in str(m9.summary())


def test_predict():
    m, _ = fit("crossed_intercepts")
    np.testing.assert_allclose(m.predict(type="response"), m.fitted, rtol=1e-10)
    new = pd.DataFrame(
        {"subject": ["s00", "nobody"], "item": ["i00", "i00"], "cond": ["easy", "hard"]}
    )
    eta = m.predict(new)
    b = m.fe_params
    item0 = m.ranef["item"].loc["i00", "(Intercept)"]
    subj0 = m.ranef["subject"].loc["s00", "(Intercept)"]
    np.testing.assert_allclose(eta, [b.iloc[0] + item0 + subj0, b.sum() + item0])
    pop = m.predict(new, type="response", re=False)
    np.testing.assert_allclose(pop, 1 / (1 + np.exp(-np.array([b.iloc[0], b.sum()]))))
    with pytest.raises(ValueError, match="type"):
        m.predict(type="probability")


def test_separation_is_detected_and_explained():
    ref = reference("fhch_separation")
    m, caught = fit("fhch_separation")
    sep = [w for w in caught if issubclass(w.category, SeparationWarning)]
    assert sep, "no SeparationWarning"
    text = str(sep[0].message)
    assert "task = naming" in text and "all 1" in text and "Intercept" in text
    assert "Bayesian" in text or "bias-reduced" in text
    assert m.separation["cells"]
    # lme4 returns a huge estimate with a huge standard error and only a convergence
    # warning; the engine reaches at least as good a likelihood
    assert max(ref["se"]) > 1000
    assert m.llf >= ref["logLik"] - 1e-6 * abs(ref["logLik"])
    assert rel(m.llf, ref["tight"]["logLik"]) < 1e-5
    assert "separation" in str(m.summary())


def test_bad_input():
    d = case_data("crossed_accuracy")
    with pytest.raises(ValueError, match="0/1"):
        glmer("y ~ cond + (1 | subject)", d.assign(y=d.correct * 2))
    with pytest.raises(ValueError, match="negative"):
        glmer("y ~ cond + (1 | subject)", d.assign(y=-d.correct), family="poisson")
    with pytest.raises(ValueError, match="unknown family"):
        glmer("correct ~ cond + (1 | subject)", d, family="gamma")
    with pytest.raises(ValueError, match="missing"):
        glmer("y ~ cond + (1 | subject)", d.assign(y=d.correct.where(d.index > 0)))
    with pytest.raises(ValueError, match="single scalar"):
        glmer("correct ~ cond + (1 | subject) + (1 | item)", d, nAGQ=5)
    with pytest.raises(ValueError, match="cbind"):
        glmer(
            "cbind(incidence, size) ~ period + (1 | herd)",
            case_data("cbpp").assign(size=-1),
        )


def test_boolean_response_and_cbind():
    d = case_data("crossed_accuracy")
    m, _ = fit("crossed_intercepts")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mb = glmer(
            "ok ~ cond + (1 | subject) + (1 | item)", d.assign(ok=d.correct == 1)
        )
    np.testing.assert_allclose(mb.llf, m.llf, rtol=1e-9)
    # binary rows and their cbind() aggregation have the same fixed effects and θ
    agg = d.groupby(["subject", "cond"], as_index=False).correct.agg(["sum", "count"])
    ma = glmer("cbind(sum, count - sum) ~ cond + (1 | subject)", agg)
    mr = glmer("correct ~ cond + (1 | subject)", d)
    np.testing.assert_allclose(ma.fe_params, mr.fe_params, rtol=1e-6)
    np.testing.assert_allclose(ma.theta, mr.theta, rtol=1e-5)


def _r_table(d, cols):
    return {c: np.asarray(d[c], dtype=float) for c in cols}


def test_emmeans_and_contrasts_against_emmeans():
    from helpers.core.posthoc import contrasts, emmeans

    ref = json.loads((REF / "posthoc_cbpp.json").read_text())
    m, _ = fit("cbpp")
    e = emmeans(m, "period")
    r = _r_table(ref["emmeans_link"], ["emmean", "SE", "asymp.LCL", "asymp.UCL"])
    assert list(e.period) == ref["emmeans_link"]["period"] and np.all(np.isinf(e.df))
    for ours, theirs in [
        ("emmean", "emmean"),
        ("SE", "SE"),
        ("lower", "asymp.LCL"),
        ("upper", "asymp.UCL"),
    ]:
        np.testing.assert_allclose(e[ours], r[theirs], rtol=1e-3)
    e = emmeans(m, "period", type="response")
    r = _r_table(ref["emmeans_response"], ["prob", "SE", "asymp.LCL", "asymp.UCL"])
    for ours, theirs in [
        ("prob", "prob"),
        ("SE", "SE"),
        ("lower", "asymp.LCL"),
        ("upper", "asymp.UCL"),
    ]:
        np.testing.assert_allclose(e[ours], r[theirs], rtol=1e-3)
    for kind, typ in [("pairs_link", "link"), ("pairs_regrid", "response")]:
        c = contrasts(m, "period", type=typ)
        r = _r_table(ref[kind], ["estimate", "SE", "z.ratio", "p.value"])
        assert list(c.contrast) == ref[kind]["contrast"]
        np.testing.assert_allclose(c.estimate, r["estimate"], rtol=1e-3)
        np.testing.assert_allclose(c.SE, r["SE"], rtol=1e-3)
        np.testing.assert_allclose(c.t, r["z.ratio"], rtol=1e-3)
        np.testing.assert_allclose(c.p, r["p.value"], atol=1e-3)
    with pytest.raises(ValueError, match="type"):
        emmeans(m, "period", type="odds")


def test_lrt_against_anova():
    from helpers.core.compare import lrt

    ref = json.loads((REF / "lrt_crossed.json").read_text())
    d = case_data("crossed_accuracy")
    m0 = glmer(ref["reduced"], d)
    m1, _ = fit("crossed_intercepts")
    out = lrt(m0, m1)
    np.testing.assert_allclose(
        [out["llf_reduced"], out["llf_full"]], ref["logLik"], rtol=1e-6
    )
    assert out["df"] == ref["df"]
    np.testing.assert_allclose(out["chi2"], ref["chisq"], rtol=1e-3)
    np.testing.assert_allclose(out["p"], ref["p"], rtol=1e-2)
    from helpers.core.fitting import is_singular
    from helpers.core.varcorr import varcorr

    assert is_singular(fit("singular")[0]) and not is_singular(m1)
    assert list(varcorr(m1).grp) == ["item", "subject"]


def test_no_stop_at_a_saddle_on_the_boundary():
    # central differences across the bound of the item SD read 0 there; the fit must
    # move inside, where the deviance falls, and end at lme4's optimum
    m, caught = fit("saddle_start")
    assert m.converged and not [w for w in caught if "converge" in str(w.message)]
    assert m.varcorr().sdcor.min() > 0.3
    assert not m.is_singular()
