"""helpers.compare_with_r: a fit beside R's stored numbers for the same reference case."""
import math

import numpy as np
import pytest

import helpers


@pytest.fixture(scope="module")
def sleep():
    return helpers.load("sleepstudy")


@pytest.fixture(scope="module")
def table(sleep):
    fit = helpers.lmer("Reaction ~ Days + (1 + Days|Subject)", sleep)
    return helpers.compare_with_r(fit, "sleepstudy")


def test_the_r_column_is_what_r_stored(table):
    ref = helpers.r_reference("sleepstudy")
    assert table.loc["log-likelihood", "R"] == ref["logLik"]
    assert list(table.loc[["estimate (Intercept)", "estimate Days"], "R"]) == (
        ref["fixef"]["estimate"])
    assert list(table.loc[["SE (Intercept)", "SE Days"], "R"]) == ref["fixef"]["se"]
    assert list(table.loc[["SD (Intercept) | Subject", "SD Days | Subject",
                           "cor (Intercept), Days | Subject", "residual SD"], "R"]) == (
        ref["varcorr"]["sdcor"])
    assert table.loc["Days: DenDF", "R"] == ref["anova"]["DenDF"][0]


def test_the_python_column_is_the_fit(sleep, table):
    fit = helpers.lmer("Reaction ~ Days + (1 + Days|Subject)", sleep)
    assert table.loc["log-likelihood", "Python"] == fit.llf
    assert table.loc["estimate Days", "Python"] == fit.fe_params["Days"]
    assert table.loc["SE Days", "Python"] == fit.bse["Days"]
    assert table.loc["residual SD", "Python"] == pytest.approx(fit.sigma, rel=1e-12)
    assert table.loc["Days: F", "Python"] == helpers.anova(fit).loc["Days", "F"]
    rel = (table["Python"] - table["R"]).abs() / table["R"].abs()
    np.testing.assert_allclose(table["relative difference"], rel)
    assert table["relative difference"].max() < 1e-4


def test_statsmodels_fits_line_up_by_position(sleep):
    fit = helpers.mixedlm("Reaction ~ Days + (1 + Days|Subject)", sleep).fit()
    table = helpers.compare_with_r(fit, "sleepstudy", anova=False)
    assert not any(label.endswith(("DenDF", ": F", ": p")) for label in table.index)
    assert table.loc["SE Days", "Python"] == fit.bse_fe["Days"]
    assert table["relative difference"].max() < 1e-3


def test_wrong_model_or_method_or_object(sleep):
    intercept_only = helpers.lmer("Reaction ~ Days + (1|Subject)", sleep)
    with pytest.raises(ValueError, match="variance rows.*Reaction ~ Days"):
        helpers.compare_with_r(intercept_only, "sleepstudy")
    no_days = helpers.lmer("Reaction ~ 1 + (1 + Days|Subject)", sleep)
    with pytest.raises(ValueError, match=r"fixed effects \[.\(Intercept\).\].*Days"):
        helpers.compare_with_r(no_days, "sleepstudy")
    ml = helpers.lmer("Reaction ~ Days + (1 + Days|Subject)", sleep, REML=False)
    with pytest.raises(ValueError, match="REML=True"):
        helpers.compare_with_r(ml, "sleepstudy")
    with pytest.raises(ValueError, match="compare_with_r needs a fitted"):
        helpers.compare_with_r("not a fit", "sleepstudy")
    assert math.isfinite(helpers.compare_with_r(
        helpers.lmer("Reaction ~ Days + (1 + Days|Subject)", sleep), "sleepstudy")
        .loc["log-likelihood", "Python"])
