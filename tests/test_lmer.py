"""helpers.lmer: lme4's algorithm in NumPy/SciPy (helpers/engine/).

What is checked here (the comparisons with R are in tests/test_lmer_against_r.py):
the same optimum as statsmodels' best fit where both can fit the model, the result
object (names, predictions, conditional modes, VarCorr, summary), lme4's term
expansion (``||``, ``a/b``, term order), the errors on bad input, and that nothing of
the size rows x random effects is ever built.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import helpers
from helpers.core.formula import MissingValuesDropped
from helpers.engine import LmerResult, lmer


@pytest.fixture(scope="module")
def sleep():
    return helpers.load("sleepstudy")


@pytest.fixture(scope="module")
def sleep_fit(sleep):
    return lmer("Reaction ~ Days + (1 + Days | Subject)", sleep)


@pytest.fixture(scope="module")
def crossed():
    return helpers.simulate_crossed(n_subj=20, n_item=12, seed=11)


# --------------------------------------------------------------------------- statsmodels
def _fit_all_best(formula, data, reml=True):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return helpers.fit_all(helpers.mixedlm(formula, data), reml=reml).best


@pytest.mark.parametrize(
    ("formula", "data_name"),
    [
        ("Reaction ~ Days + (1 + Days | Subject)", "sleepstudy"),
        ("diameter ~ 1 + (1|plate) + (1|sample)", "penicillin"),
        ("y ~ cond + (1|subject) + (1|item)", "crossed"),
    ],
)
@pytest.mark.parametrize("reml", [True, False])
def test_same_optimum_as_statsmodels_best_fit(formula, data_name, reml, crossed):
    data = crossed if data_name == "crossed" else helpers.load(data_name)
    sm = _fit_all_best(formula, data, reml=reml)
    m = lmer(formula, data, REML=reml)
    # the same likelihood definition; lmer never stops below statsmodels' best
    assert m.llf >= sm.llf - 1e-6
    assert m.llf == pytest.approx(sm.llf, abs=1e-4)
    np.testing.assert_allclose(m.fe_params.to_numpy(), np.asarray(sm.fe_params), rtol=1e-4)
    assert list(m.fe_params.index) == list(sm.model.exog_names)
    assert m.scale == pytest.approx(float(sm.scale), rel=1e-3)


# --------------------------------------------------------------------------- the result
def test_result_attributes(sleep_fit, sleep):
    m = sleep_fit
    assert isinstance(m, LmerResult)
    assert list(m.fe_params.index) == ["Intercept", "Days"]
    assert m.vcov.shape == (2, 2)
    np.testing.assert_allclose(np.sqrt(np.diag(m.vcov)), m.bse)
    assert m.theta.shape == (3,)
    assert m.nobs == 180 and m.ngroups == {"Subject": 18}
    assert m.deviance == pytest.approx(-2 * m.llf)
    k = 2 + 3 + 1
    assert m.aic == pytest.approx(m.deviance + 2 * k)
    assert m.bic == pytest.approx(m.deviance + k * np.log(180))
    np.testing.assert_allclose(m.fitted + m.resid, sleep["Reaction"].to_numpy())
    assert m.converged and m.optimizer_messages


def test_predict(sleep_fit, sleep):
    m = sleep_fit
    np.testing.assert_allclose(m.predict(), m.fitted)
    np.testing.assert_allclose(m.predict(sleep), m.fitted)
    population = m.predict(sleep, re=False)
    np.testing.assert_allclose(population, m.fe_params["Intercept"]
                               + m.fe_params["Days"] * sleep["Days"])
    new = pd.DataFrame({"Days": [0.0, 5.0], "Subject": [308, 99999]})  # 99999 never seen
    pred = m.predict(new)
    b = m.ranef["Subject"].loc["308"]
    assert pred.iloc[0] == pytest.approx(m.fe_params["Intercept"] + b["(Intercept)"])
    assert pred.iloc[1] == pytest.approx(m.fe_params["Intercept"] + 5 * m.fe_params["Days"])


def test_ranef_are_the_conditional_modes(sleep_fit):
    re = sleep_fit.ranef["Subject"]
    assert list(re.columns) == ["(Intercept)", "Days"]
    assert re.shape == (18, 2)
    # conditional modes of a random-intercept-and-slope model average to ~0
    assert abs(re["Days"].mean()) < 1e-6 * 10
    # fitted = X beta + Z b, rebuilt by hand
    m = sleep_fit
    d = helpers.load("sleepstudy")
    b = re.loc[d["Subject"].astype(str)].to_numpy()
    by_hand = m.fe_params["Intercept"] + b[:, 0] + (m.fe_params["Days"] + b[:, 1]) * d["Days"]
    np.testing.assert_allclose(m.fitted, by_hand)


def test_varcorr_table(sleep_fit):
    vc = helpers.varcorr(sleep_fit)
    assert list(vc.columns) == ["grp", "var1", "var2", "vcov", "sdcor"]
    assert list(vc["grp"]) == ["Subject", "Subject", "Subject", "Residual"]
    assert vc.loc[2, "var2"] == "Days"
    assert vc.loc[3, "sdcor"] == pytest.approx(sleep_fit.sigma)
    assert not helpers.is_singular(sleep_fit)


def test_summary_is_laid_out_like_lme4(sleep_fit):
    text = str(sleep_fit.summary())
    for piece in ("REML criterion at convergence: 1743.6", "Scaled residuals:",
                  "Random effects:", "Groups", "Std.Dev.", "Corr", "Residual",
                  "Number of obs: 180, groups:  Subject, 18", "Fixed effects:",
                  "Estimate", "Std. Error", "t value"):
        assert piece in text, piece
    assert max(len(line) for line in text.splitlines()) <= 88


def test_ml_fit(sleep):
    m = lmer("Reaction ~ Days + (1 + Days | Subject)", sleep, REML=False)
    assert m.method == "ML"
    assert "AIC" in str(m.summary())
    # lme4: logLik(lmer(..., REML = FALSE)) = -875.9697
    assert m.llf == pytest.approx(-875.9697, abs=1e-3)


# --------------------------------------------------------------------------- lme4's terms
def test_double_bar_is_split_into_terms_as_in_lme4(sleep):
    m = lmer("Reaction ~ Days + (1 + Days || Subject)", sleep)
    assert list(m.varcorr()["grp"]) == ["Subject", "Subject.1", "Residual"]
    assert len(m.theta) == 2
    assert list(m.ranef["Subject"].columns) == ["(Intercept)", "Days"]


def test_nested_terms_are_named_and_ordered_as_in_lme4():
    d = helpers.simulate_nested(n_school=6, n_class_per_school=3, n_pupil=5, seed=3)
    m = lmer("y ~ sector + (1|school/class)", d)
    assert list(m.ngroups) == ["class:school", "school"]
    explicit = lmer("y ~ sector + (1|school) + (1|school:class)", d)
    assert explicit.deviance == pytest.approx(m.deviance, rel=1e-9)


def test_factor_slopes_and_crossed_correlated_slopes(crossed):
    data = helpers.simulate_crossed(n_subj=20, n_item=12, subj_slope_sd=60.0,
                                    subj_slope_corr=0.3, seed=5)
    m = lmer("y ~ cond + (1 + cond | subject) + (1 | item)", data)
    assert list(m.ranef) == ["subject", "item"]
    assert list(m.ranef["subject"].columns) == ["(Intercept)", "condhard"]
    # (0 + cond | subject) is the same model, reparametrised: the same optimum
    m0 = lmer("y ~ cond + (0 + cond | subject) + (1 | item)", data)
    assert m0.deviance == pytest.approx(m.deviance, abs=1e-5)
    assert list(m0.ranef["subject"].columns) == ["condeasy", "condhard"]


def test_no_matrix_of_rows_by_random_effects():
    """Memory: the model keeps cross-products only; Z is never dense."""
    data = helpers.simulate_crossed(n_subj=40, n_item=30, seed=2)
    m = lmer("y ~ cond + (1|subject) + (1|item)", data)
    n = m.nobs
    cp = m.model.cp
    for name, value in vars(cp).items():
        if isinstance(value, np.ndarray) and name not in ("beta_ols",):
            assert n not in value.shape, name
        if sp.issparse(value):
            assert n not in value.shape, name


# --------------------------------------------------------------------------- bad input
def test_missing_column(sleep):
    with pytest.raises(KeyError, match="Dayz"):
        lmer("Reaction ~ Dayz + (1|Subject)", sleep)
    with pytest.raises(KeyError, match="Subjekt"):
        lmer("Reaction ~ Days + (1|Subjekt)", sleep)


def test_missing_values_are_refused_or_dropped_with_a_warning(sleep):
    d = sleep.copy()
    d.loc[[3, 7], "Reaction"] = np.nan
    with pytest.raises(ValueError, match="missing values.*'Reaction' \\(2\\)"):
        lmer("Reaction ~ Days + (1|Subject)", d, missing="raise")
    with pytest.warns(MissingValuesDropped, match="dropped 2 of 180"):
        m = lmer("Reaction ~ Days + (1|Subject)", d)   # as helpers.mixedlm: never silently
    assert m.nobs == 178
    with pytest.raises(ValueError, match="missing must be one of"):
        lmer("Reaction ~ Days + (1|Subject)", d, missing="none")


def test_the_formula_front_end_is_mixedlms(sleep):
    """R habits work the same in both back ends: factor() and a keyword column."""
    d = sleep.rename(columns={"Reaction": "yield"}).assign(day=lambda x: x["Days"] % 3)
    m = lmer("yield ~ factor(day) + (1|Subject)", d)
    assert list(m.fe_params.index) == ["Intercept", "C(day)[T.1]", "C(day)[T.2]"]
    sm = helpers.mixedlm("yield ~ factor(day) + (1|Subject)", d).fit()
    assert m.llf == pytest.approx(sm.llf, rel=1e-6)


def test_one_level_grouping_factor(sleep):
    d = sleep.assign(lab="only")
    with pytest.raises(ValueError, match="'lab'.*only 1 level"):
        lmer("Reaction ~ Days + (1|Subject) + (1|lab)", d)


def test_more_random_effects_than_observations():
    d = pd.DataFrame({"y": np.arange(12.0) ** 1.5, "x": np.tile([0.0, 1.0, 2.0], 4),
                      "g": np.repeat(list("abcd"), 3)})
    with pytest.raises(ValueError, match=r"number of observations \(12\) <= number of random "
                       r"effects \(12\)"):
        lmer("y ~ x + (1 + x + I(x**2) | g)", d)


def test_non_numeric_response(sleep):
    d = sleep.assign(label=sleep["Reaction"].astype(str))
    with pytest.raises(ValueError, match="'label' must be numeric"):
        lmer("label ~ Days + (1|Subject)", d)


def test_exported():
    assert helpers.lmer is lmer
    assert "lmer" in helpers.__all__


def test_the_rest_of_helpers_accepts_an_lmer_fit():
    """anova, is_singular, varcorr and lrt take an lmer fit as they take a statsmodels one,
    and lrt may compare the two kinds: the log-likelihoods have the same definition."""
    sleep = helpers.load("sleepstudy")
    full = helpers.lmer("Reaction ~ Days + (1 + Days | Subject)", sleep)
    reduced = helpers.lmer("Reaction ~ Days + (1 | Subject)", sleep)
    table = helpers.anova(full)
    assert list(table.index) == ["Days"] and table.loc["Days", "DenDF"] == pytest.approx(17, rel=1e-3)
    assert helpers.varcorr(full)["grp"].iloc[0] == "Subject"
    assert helpers.is_singular(full) is False
    test = helpers.lrt(reduced, full, boundary=True)
    assert test["df"] == 2 and test.attrs["reference"].startswith("0.5")
    sm_reduced = helpers.mixedlm("Reaction ~ Days + (1 | Subject)", sleep).fit()
    mixed = helpers.lrt(sm_reduced, full, boundary=True)
    assert mixed["chi2"] == pytest.approx(test["chi2"], rel=1e-5)
    assert mixed["p"] == pytest.approx(test["p"], rel=1e-4)
    boot = helpers.lrt(reduced, full, method="bootstrap", nsim=19, seed=1)
    assert boot["chi2"] == pytest.approx(test["chi2"]) and 1 / 20 <= boot["p"] <= 1
    with pytest.raises(ValueError, match="not one of each"):
        helpers.lrt(sm_reduced, full, method="bootstrap", nsim=10)


# ------------------------------------------------------------ the optimizer at the bounds
def _saddle(model):
    """The best θ of sleepstudy's (1 + Days | Subject) with the last diagonal element of T
    held at its bound 0 (correlation -1 or +1): a saddle point of the deviance, where its
    gradient is exactly 0 (the deviance is even in that element) while moving up lowers
    it."""
    import scipy.optimize as so

    bounds = [(0.0, None), (None, None), (0.0, 0.0)]
    r = so.minimize(model.deviance, [1.0, 0.0, 0.0], jac=model.gradient, method="L-BFGS-B",
                    bounds=bounds, options={"ftol": 1e-14, "gtol": 1e-9})
    return np.asarray(r.x)


def test_convergence_check_is_one_sided_at_the_bounds(sleep_fit):
    from helpers.engine.model import check_convergence

    model = sleep_fit.model
    x = _saddle(model)
    assert x[2] == 0.0
    assert np.max(np.abs(model.gradient(x))) < 1e-3   # the gradient cannot tell
    conv = check_convergence(model.deviance, x, model.lower)
    assert not conv.converged
    assert conv.at_boundary == [2]
    assert any("inside their bound" in msg for msg in conv.messages)
    assert conv.better is not None and model.deviance(conv.better) < model.deviance(x) - 1
    # at the real optimum (interior) the checks pass
    assert check_convergence(model.deviance, sleep_fit.theta, model.lower).converged


def test_one_sided_difference_at_a_bound(sleep_fit):
    from helpers.engine.model import _central_gradient

    model = sleep_fit.model
    x = _saddle(model)
    g = _central_gradient(model.deviance, x, model.lower)
    assert g[2] < -1e-4          # a forward difference: the deviance falls moving up
    # central differences elsewhere, as the exact gradient
    np.testing.assert_allclose(g[:2], model.gradient(x)[:2], atol=1e-3)


def test_optimizer_leaves_a_saddle_point_on_the_boundary(sleep_fit, sleep, monkeypatch):
    """Started at the saddle, where L-BFGS-B stops at once (zero gradient), the fit steps
    inside the bound and reaches lme4's optimum; it never ends above a deviance it
    evaluated."""
    import copy

    from helpers.engine import model as engine

    model = copy.copy(sleep_fit.model)
    model.theta0 = _saddle(model)
    seen = []
    factor = model.factor

    def recorded(theta):   # every deviance the fit evaluates goes through the factor
        f = factor(theta)
        seen.append(model._deviance(f))
        return f

    model.factor = recorded
    theta, dev, messages, conv = engine.optimize(model)
    assert dev == pytest.approx(sleep_fit.deviance, abs=1e-6)
    assert dev <= min(seen) + 1e-9 * abs(dev)
    assert conv.converged
    assert any("a step inside the bound of θ[2]" in msg for msg in messages)
    np.testing.assert_allclose(theta, sleep_fit.theta, atol=1e-4)


def _fhch_trials():
    d = helpers.load("fhch2010")
    d = d[d["correct"].astype(bool) & (d["rt"] >= 0.25) & (d["rt"] <= 2.5)]
    return d.assign(**{c: d[c].astype(str) for c in ("task", "stimulus")})


def test_fhch2010_crossed_slopes_reach_the_interior_optimum():
    """From lme4's start L-BFGS-B drives the last diagonal element of the by-item T to
    its bound 0 (correlation -1): a saddle point 122 above lme4's optimum, which the
    fit used to report as converged (the deviance is compared with lme4's in
    tests/test_lmer_against_r.py, case fhch_slopes)."""
    m = lmer("log_rt ~ task*stimulus + (1 + stimulus|id) + (1 + task|item)",
             _fhch_trials())
    assert m.converged
    assert np.all(m.theta[m.model.lower == 0] > 0.05)   # no variance at its bound
    for i in range(len(m.model.terms)):
        T = m.model.T(m.theta, i)
        cov = T @ T.T
        assert abs(cov[0, 1]) < 0.99 * np.sqrt(cov[0, 0] * cov[1, 1])


def _many_theta_data(n_subj, n_item, per_subject, seed):
    """Participants x items (each participant sees ``per_subject`` random items), three
    item slopes, sites grouping the participants."""
    rng = np.random.default_rng(seed)
    s = np.repeat(np.arange(n_subj), per_subject)
    i = np.concatenate([rng.choice(n_item, per_subject, replace=False)
                        for _ in range(n_subj)])
    x = rng.normal(size=(3, s.size))
    b = rng.normal(size=(n_item, 4)) * [0.8, 0.4, 0.3, 0.2]
    u = rng.normal(size=(n_subj, 2)) * [0.5, 0.3]
    y = (b[i, 0] + (0.5 + b[i, 1]) * x[0] + b[i, 2] * x[1] + b[i, 3] * x[2]
         + u[s, 0] + u[s, 1] * x[0] + 0.3 * rng.normal(size=8)[s % 8]
         + rng.normal(size=s.size))
    return pd.DataFrame({"y": y, "x1": x[0], "x2": x[1], "x3": x[2],
                         "subject": [f"s{k:03d}" for k in s],
                         "site": [f"t{k % 8}" for k in s],
                         "item": [f"i{k:03d}" for k in i]})


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize(
    ("formula", "design"),
    [
        ("y ~ x1 + x2 + x3 + (1 + x1 + x2 + x3|item) + (1|subject)", (12, 150, 150)),
        # Z_B'Z_A sparse (each participant sees 10 of 150 items)
        ("y ~ x1 + x2 + x3 + (1 + x1 + x2 + x3|item) + (1|subject)", (450, 150, 10)),
        # two B terms, one with a slope
        ("y ~ x1 + x2 + x3 + (1 + x1 + x2 + x3|item) + (1 + x1|subject) + (1|site)",
         (60, 150, 40)),
        # A with one effect per level, B with several
        ("y ~ x1 + x2 + x3 + (1 | item) + (1 + x1 + x2 | subject)", (150, 12, 12)),
    ],
)
def test_exact_gradient_of_a_blocked_model_with_many_theta(formula, design, reml):
    """Models beyond the dense path with many θ use the exact gradient (the blocked
    factor solved against Λ'Z'Z): it equals central differences, and the fit converges
    to the same optimum as with central differences."""
    from helpers.engine.model import _central_gradient

    d = _many_theta_data(*design, seed=sum(design))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = lmer(formula, d, REML=reml)
    model = m.model
    assert not model.dense and model.has_gradient
    if design[2] == 10:
        assert sp.issparse(model.cp.ZtZ_BA)
    rng = np.random.default_rng(1)
    theta = m.theta + 0.1 * rng.uniform(size=len(m.theta))
    g = model.gradient(theta)
    g0 = _central_gradient(model.deviance, theta, model.lower, h=1e-6)
    np.testing.assert_allclose(g, g0, rtol=1e-5, atol=1e-5 * np.max(np.abs(g0)))
    # the gradient at the optimum: 0 off the bounds
    free = m.theta > model.lower + 1e-4
    assert np.max(np.abs(model.gradient(m.theta)[free])) < 1e-2
