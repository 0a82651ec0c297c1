"""Tests of helpers.core.report: tidy tables against R, the ICC, missing-data counts, formatting."""
from __future__ import annotations

import json
import warnings
from functools import lru_cache

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import helpers
from conftest import ROOT
from helpers.core.report import (count_missing, format_coef, format_f, format_p, icc,
                            software_versions, tidy)

REFERENCE = ROOT / "data" / "reference"


@lru_cache(maxsize=None)
def _case(name):
    ref = json.loads((REFERENCE / f"{name}.json").read_text())
    manifest = json.loads((REFERENCE / "cases" / "cases.json").read_text())
    formula = next(c["formula"] for c in manifest if c["name"] == name)
    data = pd.read_csv(REFERENCE / "cases" / f"{name}.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = helpers.fit_all(helpers.mixedlm(formula, data)).best
    return fit, ref


@pytest.fixture(scope="module")
def sleep():
    return _case("sleepstudy")


@pytest.fixture(scope="module")
def balanced():
    return _case("mixed_balanced")


# --------------------------------------------------------------------------
# tidy
# --------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["mixed_balanced", "sleepstudy", "seed_asker",
                                  "slopes_uncorrelated", "crossed", "nested"])
def test_tidy_estimates_and_standard_errors_match_lme4(name):
    fit, ref = _case(name)
    table = tidy(fit)
    sigma = ref["sigma"]
    for col, key in [("estimate", "estimate"), ("se", "se")]:
        ours = table[col].to_numpy()
        theirs = np.asarray(ref["fixef"][key])
        assert np.all(np.abs(ours - theirs) <= 1e-3 * np.maximum(np.abs(theirs), sigma)), (col, ours, theirs)


def test_tidy_columns_and_single_df_terms_agree_with_anova(sleep):
    fit, ref = sleep
    table = tidy(fit)
    assert list(table.columns) == ["estimate", "se", "df", "t", "p", "ci_low", "ci_high"]
    assert list(table.index) == ["Intercept", "Days"]
    # for a one-df term, t^2 is lmerTest's F and the df its DenDF
    assert table.loc["Days", "t"] ** 2 == pytest.approx(ref["anova"]["F"][0], rel=0.01)
    assert table.loc["Days", "df"] == pytest.approx(ref["anova"]["DenDF"][0], rel=0.01)
    assert table.loc["Days", "p"] == pytest.approx(ref["anova"]["p"][0], abs=0.002)
    # and exactly helpers.anova's numbers
    a = helpers.anova(fit).loc["Days"]
    assert table.loc["Days", "t"] ** 2 == pytest.approx(a["F"], rel=1e-9)
    assert table.loc["Days", "df"] == pytest.approx(a["DenDF"], rel=1e-9)


def test_tidy_intervals_are_t_intervals_and_follow_conf_level(balanced):
    fit, _ = balanced
    t95, t90 = tidy(fit), tidy(fit, conf_level=0.90)
    q = stats.t.ppf(0.975, t95["df"])
    assert np.allclose(t95["ci_low"], t95["estimate"] - q * t95["se"])
    assert np.allclose(t95["ci_high"], t95["estimate"] + q * t95["se"])
    assert np.all(t90["ci_high"] - t90["ci_low"] < t95["ci_high"] - t95["ci_low"])
    assert np.allclose(t95["p"], 2 * stats.t.sf(np.abs(t95["t"]), t95["df"]))
    # between-subject df near 58 in the balanced design, within-subject ones at 116
    assert t95.loc["Time[T.June]", "df"] == pytest.approx(116, rel=1e-3)


def test_tidy_does_not_depend_on_how_the_fit_was_wrapped(sleep):
    fit, _ = sleep
    assert tidy(fit._results).equals(tidy(fit))


@pytest.mark.parametrize("bad", [0, 1, 1.5, -0.1, "95%", True, None])
def test_tidy_rejects_bad_conf_level(sleep, bad):
    fit, _ = sleep
    with pytest.raises(ValueError, match="conf_level"):
        tidy(fit, conf_level=bad)


def test_tidy_and_icc_reject_non_fits():
    with pytest.raises(ValueError, match="fitted statsmodels MixedLM"):
        tidy("not a fit")
    with pytest.raises(ValueError, match="fitted statsmodels MixedLM"):
        icc(pd.DataFrame())


# --------------------------------------------------------------------------
# icc
# --------------------------------------------------------------------------
def test_icc_of_a_random_intercept_matches_the_reference_variances(balanced):
    fit, ref = balanced
    var_u, var_e = ref["varcorr"]["vcov"]
    out = icc(fit)
    assert list(out.index) == ["Subject"]
    assert out["Subject"] == pytest.approx(var_u / (var_u + var_e), rel=2e-3)


def test_icc_for_crossed_intercepts_shares_one_total():
    fit, ref = _case("crossed")
    out = icc(fit)
    total = sum(ref["varcorr"]["vcov"])
    expected = {g: var / total for g, var in zip(ref["varcorr"]["grp"], ref["varcorr"]["vcov"])
                if g != "Residual"}
    assert set(out.index) == set(expected)
    for g, val in expected.items():
        assert out[g] == pytest.approx(val, rel=2e-3)
    assert out.sum() < 1


def test_icc_refuses_random_slopes(sleep):
    fit, _ = sleep
    with pytest.raises(ValueError, match="random slopes"):
        icc(fit)


# --------------------------------------------------------------------------
# count_missing
# --------------------------------------------------------------------------
def test_count_missing_counts_rows_and_subjects():
    d = pd.DataFrame({
        "id": [1, 1, 2, 2, 3, 3],
        "y": [1.0, np.nan, 2.0, 3.0, np.nan, np.nan],
        "x": ["a", "b", "a", None, "a", "b"],
    })
    out = count_missing(d, "id", ["y", "x"])
    assert out.to_dict() == {
        "rows": 6, "rows_complete": 2, "rows_incomplete": 4, "subjects": 3,
        "subjects_complete": 0, "subjects_with_gaps": 3, "subjects_without_data": 1,
        "missing y": 3, "missing x": 1,
    }
    assert count_missing(d, "id", "x")["rows_complete"] == 5


def test_count_missing_after_knock_out_matches_what_mixedlm_drops():
    import pingouin as pg

    d = helpers.knock_out(pg.read_dataset("mixed_anova"), 0.05, column="Scores", seed=8)
    out = count_missing(d, "Subject", ["Scores", "Time", "Group"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = helpers.mixedlm("Scores ~ Time * Group + (1 | Subject)", d)
    assert model.nobs == out["rows_complete"] == 171
    assert f"dropped {out['rows_incomplete']} of {out['rows']}" in str(caught[0].message)


def test_count_missing_errors():
    d = pd.DataFrame({"id": [1, None], "y": [1.0, 2.0]})
    with pytest.raises(KeyError, match="'z'"):
        count_missing(d, "id", ["z"])
    with pytest.raises(KeyError, match="'subj'"):
        count_missing(d, "subj", ["y"])
    with pytest.raises(ValueError, match="columns is empty"):
        count_missing(d, "id", [])
    with pytest.raises(ValueError, match="'id' has 1 missing"):
        count_missing(d, "id", ["y"])


# --------------------------------------------------------------------------
# software_versions
# --------------------------------------------------------------------------
def test_software_versions():
    import statsmodels

    v = software_versions()
    assert list(v.index) == ["python", "numpy", "scipy", "pandas", "statsmodels", "pingouin"]
    assert v["statsmodels"] == statsmodels.__version__
    assert software_versions(["no-such-package-xyz"])["no-such-package-xyz"] == "not installed"
    assert list(software_versions("pandas").index) == ["python", "pandas"]


# --------------------------------------------------------------------------
# formatting
# --------------------------------------------------------------------------
@pytest.mark.parametrize("p, text", [
    (0.0284197942, "p = .028"), (0.0695448, "p = .070"), (0.02036941, "p = .020"),
    (0.0009999, "p < .001"), (0.001, "p = .001"), (0.0, "p < .001"), (0.5, "p = .500"),
    (0.9996, "p > .999"), (1.0, "p > .999"), (0.04999, "p = .050"),
])
def test_format_p(p, text):
    assert format_p(p) == text


def test_format_p_digits_and_errors():
    assert format_p(0.0123, digits=2) == "p = .01"
    assert format_p(0.001, digits=2) == "p < .01"
    for bad in [-0.1, 1.1, np.nan, "0.05", None, True]:
        with pytest.raises(ValueError, match="p must"):
            format_p(bad)
    with pytest.raises(ValueError, match="digits"):
        format_p(0.5, digits=0)


def test_format_f_with_a_row_of_anova(balanced):
    fit, ref = balanced
    table = helpers.anova(fit)
    assert format_f(table.loc["Time"]) == "F(2, 116.0) = 4.03, p = .020"
    assert format_f(table.loc["Group"], digits=3, df_digits=0) == "F(1, 58) = 5.052, p = .028"
    with pytest.raises(KeyError, match="DenDF"):
        format_f({"NumDF": 1, "F": 2.0, "p": 0.2})
    with pytest.raises(ValueError, match="finite"):
        format_f({"NumDF": 1, "DenDF": np.inf, "F": 2.0, "p": 0.2})


def test_format_coef_with_a_row_of_tidy(sleep):
    fit, _ = sleep
    row = tidy(fit).loc["Days"]
    text = format_coef(row)
    assert text == (f"b = {row['estimate']:.2f}, 95% CI [{row['ci_low']:.2f}, "
                    f"{row['ci_high']:.2f}], t({row['df']:.1f}) = {row['t']:.2f}, p < .001")
    assert text.startswith("b = 10.47, 95% CI [")
    assert format_coef(row, conf_level=0.9, symbol="B").startswith("B = 10.47, 90% CI [")
    with pytest.raises(KeyError, match="ci_low"):
        format_coef({"estimate": 1.0})
    with pytest.raises(ValueError, match="conf_level"):
        format_coef(row, conf_level=95)


def test_formatting_in_markdown_italicises_the_symbols_only(sleep, balanced):
    fit, _ = balanced
    row = helpers.anova(fit).loc["Time"]
    assert format_f(row, markdown=True) == "*F*(2, 116.0) = 4.03, *p* = .020"
    assert format_f(row, markdown=True).replace("*", "") == format_f(row)
    assert format_p(0.0000033, markdown=True) == "*p* < .001"
    assert format_p(0.9999, markdown=True) == "*p* > .999"
    coef = tidy(sleep[0]).loc["Days"]
    text = format_coef(coef, markdown=True)
    assert text.startswith("*b* = 10.47, 95% CI [") and "*t*(17.0) = " in text
    assert text.endswith(", *p* < .001") and text.replace("*", "") == format_coef(coef)
    assert format_coef(coef, symbol="B", markdown=True).startswith("*B* = 10.47")
    for bad in ["yes", 1, None]:
        with pytest.raises(ValueError, match="markdown must be True or False"):
            format_p(0.5, markdown=bad)
        with pytest.raises(ValueError, match="markdown must be True or False"):
            format_f(row, markdown=bad)
        with pytest.raises(ValueError, match="markdown must be True or False"):
            format_coef(coef, markdown=bad)


# --------------------------------------------------------------------------
# report_warnings: what it prints fits the text column
# --------------------------------------------------------------------------
def test_report_warnings_wraps_long_messages_to_the_text_column(capsys):
    message = ("The Hessian matrix at the estimated parameter values is not positive "
               "definite, and this sentence goes on well past the width of the column")
    with helpers.report_warnings() as caught:
        for _ in range(2):
            warnings.warn(message, UserWarning)
        warnings.warn("short", RuntimeWarning)
    lines = capsys.readouterr().out.splitlines()
    assert len(caught) == 3 and lines[0] == "warnings: 3"
    assert max(len(line) for line in lines) <= 88
    # the first line of each warning is indented by 2, its continuation by 4
    assert lines[1].startswith("  UserWarning: The Hessian") and lines[2].startswith("    ")
    assert lines[-1] == "  RuntimeWarning: short"
    joined = " ".join(line.strip() for line in lines[1:-1])
    assert joined == f"UserWarning: {message} (x2)" or joined == f"UserWarning: {message}  (x2)"


def test_report_warnings_width_is_checked(capsys):
    with helpers.report_warnings(width=40):
        warnings.warn("a message that is longer than forty characters in all")
    assert max(len(line) for line in capsys.readouterr().out.splitlines()) <= 40
    for bad in [10, 40.0, True, "88"]:
        with pytest.raises(ValueError, match="width must be"):
            with helpers.report_warnings(width=bad):
                pass
