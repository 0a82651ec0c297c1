"""helpers.studies.crossed: F1, F2, min F', the crossed LMM test (statsmodels and closed form)."""
from __future__ import annotations

import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import helpers
from helpers.core.data import DATA_DIR
from helpers.studies.crossed import (by_item_test, by_subject_test, crossed_lmm_test,
                                     fit_crossed, min_f_prime, rejection_rate_plot,
                                     rejection_rates)

matplotlib.use("Agg")

# The reference case `crossed` (tests/r/reference_cases.py, _crossed) and the data set on which
# statsmodels' default fit() stops short (chapter 7): the same call with 20 participants.
CROSSED = dict(n_subj=30, n_item=16, beta0=800.0, effect=50.0, subj_sd=100.0, item_sd=80.0,
               error_sd=200.0, seed=20240606)
STOPS_SHORT = {**CROSSED, "n_subj": 20}
STOPS_SHORT_CASE = "crossed_stops_short"   # proposed R reference case for STOPS_SHORT


def reference(case):
    return helpers.r_reference(case)


@pytest.fixture(scope="module")
def crossed_data():
    return helpers.simulate_crossed(**CROSSED)


# --------------------------------------------------------------------------- F1 and F2
def test_by_subject_test_is_a_paired_t_test_on_participant_means(crossed_data):
    res = by_subject_test(crossed_data, conditions=("easy", "hard"))
    means = crossed_data.pivot_table(index="subject", columns="cond", values="y")
    t = stats.ttest_rel(means["hard"], means["easy"])
    assert res["F"] == pytest.approx(t.statistic**2, rel=1e-10)
    assert res["p"] == pytest.approx(t.pvalue, rel=1e-10)
    assert res["df2"] == 29 and res["df1"] == 1
    assert res["estimate"] == pytest.approx((means["hard"] - means["easy"]).mean())


def test_by_item_test_is_a_pooled_two_sample_t_test_on_item_means(crossed_data):
    res = by_item_test(crossed_data, conditions=("easy", "hard"))
    means = crossed_data.groupby(["item", "cond"])["y"].mean().reset_index()
    t = stats.ttest_ind(means.loc[means["cond"] == "hard", "y"],
                        means.loc[means["cond"] == "easy", "y"], equal_var=True)
    assert res["F"] == pytest.approx(t.statistic**2, rel=1e-10)
    assert res["p"] == pytest.approx(t.pvalue, rel=1e-10)
    assert res["df2"] == 14


def test_conditions_order_sets_the_sign(crossed_data):
    a = by_subject_test(crossed_data, conditions=("easy", "hard"))
    b = by_subject_test(crossed_data, conditions=("hard", "easy"))
    assert a["estimate"] == pytest.approx(-b["estimate"])
    assert a["p"] == pytest.approx(b["p"])


def test_min_f_prime_formula_and_bounds():
    f1 = pd.Series({"estimate": 1.0, "F": 6.0, "df1": 1, "df2": 19, "p": 0.02})
    f2 = pd.Series({"estimate": 1.0, "F": 3.0, "df1": 1, "df2": 14, "p": 0.1})
    res = min_f_prime(f1, f2)
    assert res["F"] == pytest.approx(2.0)
    assert res["df2"] == pytest.approx(81 / (36 / 14 + 9 / 19))
    assert res["p"] == pytest.approx(stats.f.sf(2.0, 1, 81 / (36 / 14 + 9 / 19)))
    assert res["F"] <= min(f1["F"], f2["F"])
    zero = min_f_prime(pd.Series({"F": 0.0, "df2": 19}), pd.Series({"F": 0.0, "df2": 14}))
    assert zero["F"] == 0.0 and zero["p"] == 1.0


def test_min_f_prime_rejects_bad_input():
    good = pd.Series({"F": 2.0, "df1": 1, "df2": 10})
    with pytest.raises(ValueError, match="F >= 0"):
        min_f_prime(pd.Series({"F": -1.0, "df2": 10}), good)
    with pytest.raises(ValueError, match="one-df"):
        min_f_prime(pd.Series({"F": 1.0, "df1": 2, "df2": 10}), good)
    with pytest.raises(ValueError, match="no 'df2'"):
        min_f_prime(pd.Series({"F": 1.0}), good)


def test_bad_data_raise_clear_errors(crossed_data):
    with pytest.raises(KeyError, match="rt"):
        by_subject_test(crossed_data, dv="rt")
    holes = crossed_data.copy()
    holes.loc[3, "y"] = np.nan
    with pytest.raises(ValueError, match="missing value"):
        by_subject_test(holes)
    with pytest.raises(ValueError, match="missing value"):
        crossed_lmm_test(holes)
    three = crossed_data.copy()
    three.loc[:5, "cond"] = "medium"
    with pytest.raises(ValueError, match="exactly two levels"):
        by_item_test(three)
    with pytest.raises(ValueError, match="must name exactly"):
        by_subject_test(crossed_data, conditions=("easy", "difficult"))
    within_items = crossed_data.copy()
    within_items.loc[within_items["subject"] == "s01", "cond"] = "hard"
    with pytest.raises(ValueError, match="both conditions"):
        by_item_test(within_items)
    between = crossed_data.copy()
    between.loc[between["subject"] == "s01", "cond"] = "easy"
    with pytest.raises(ValueError, match="both conditions"):
        by_subject_test(between)


# --------------------------------------------------------------------------- the crossed LMM
@pytest.mark.r
def test_crossed_lmm_test_matches_lmerTest_on_the_crossed_case(crossed_data):
    r = reference("crossed")
    res = crossed_lmm_test(crossed_data, conditions=("easy", "hard"), method="statsmodels")
    assert res["estimate"] == pytest.approx(r["fixef"]["estimate"][1], rel=1e-3)
    assert res["F"] == pytest.approx(r["anova"]["F"][0], rel=0.01)
    assert res["df2"] == pytest.approx(r["anova"]["DenDF"][0], rel=0.01)
    assert res["p"] == pytest.approx(r["anova"]["p"][0], abs=0.002)
    assert not res["singular"]


def test_crossed_lmm_equals_f2_in_a_balanced_non_singular_design(crossed_data):
    lmm = crossed_lmm_test(crossed_data, method="statsmodels")
    f2 = by_item_test(crossed_data)
    assert not lmm["singular"]
    assert lmm["p"] == pytest.approx(f2["p"], abs=1e-4)
    assert lmm["F"] == pytest.approx(f2["F"], rel=1e-3)


def test_crossed_lmm_with_subject_slopes_runs_and_changes_the_test():
    df = helpers.simulate_crossed(n_subj=20, n_item=16, effect=0.0, subj_slope_sd=150.0,
                                  seed=20240614)
    plain = crossed_lmm_test(df)
    slopes = crossed_lmm_test(df, subject_slopes=True)
    assert plain["estimate"] == pytest.approx(slopes["estimate"])
    assert slopes["df2"] > plain["df2"]
    assert slopes["F"] < plain["F"]


def test_fit_crossed_recovers_from_a_default_fit_that_stops_short():
    data = helpers.simulate_crossed(**STOPS_SHORT)
    model = helpers.mixedlm("y ~ cond + (1|subject) + (1|item)", data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        default = model.fit()
    res, method = fit_crossed(model)
    assert not default.converged
    assert method != "bfgs"
    assert res.converged
    assert res.llf > default.llf + 1


@pytest.mark.r
def test_fit_crossed_reaches_lme4s_optimum_on_the_crossed_case(crossed_data):
    res, method = fit_crossed(helpers.mixedlm("y ~ cond + (1|subject) + (1|item)", crossed_data))
    assert res.llf == pytest.approx(reference("crossed")["logLik"], abs=0.01)


@pytest.mark.r
def test_fit_crossed_reaches_lme4s_optimum_where_the_default_stops_short():
    path = DATA_DIR / "reference" / f"{STOPS_SHORT_CASE}.json"
    if not path.exists():
        pytest.skip(f"no R reference case {STOPS_SHORT_CASE!r} yet (see tests/r/reference_cases.py)")
    r = reference(STOPS_SHORT_CASE)
    data = helpers.simulate_crossed(**STOPS_SHORT)
    res, _ = fit_crossed(helpers.mixedlm(r["formula"], data))
    assert res.llf == pytest.approx(r["logLik"], abs=0.01)
    sd = dict(zip(r["varcorr"]["grp"], r["varcorr"]["sdcor"]))
    vc = dict(zip(res.model.exog_vc.names, res.vcomp))
    assert np.sqrt(vc["subject"]) == pytest.approx(sd["subject"], rel=1e-3)
    assert np.sqrt(vc["item"]) == pytest.approx(sd["item"], rel=1e-3)
    assert np.sqrt(res.scale) == pytest.approx(sd["Residual"], rel=1e-3)


def test_fit_crossed_errors():
    model = helpers.mixedlm("diameter ~ 1 + (1|plate) + (1|sample)", helpers.load("penicillin"))
    with pytest.raises(ValueError, match="methods is empty"):
        fit_crossed(model, methods=())
    with pytest.raises(RuntimeError, match="converged"):
        fit_crossed(model, methods=("no-such-optimizer",))


# --------------------------------------------------------------------------- the closed form
def _null_replicates(n_reps, seed, **design):
    params = dict(n_subj=8, n_item=6, effect=0.0)
    params.update(design)
    for child in np.random.SeedSequence(seed).spawn(n_reps):
        yield helpers.simulate_crossed(**params, seed=child)


@pytest.mark.parametrize("design", [
    {},                                    # mostly interior fits
    {"item_sd": 0.0},                      # the item variance often estimated at 0
    {"subj_sd": 0.0},                      # the participant variance often at 0
    {"subj_sd": 0.0, "item_sd": 0.0},      # both
    {"subj_slope_sd": 150.0, "n_item": 8},  # data with slopes, model without
], ids=["interior", "item-at-0", "subject-at-0", "both-at-0", "slopes-in-data"])
def test_closed_form_is_the_statsmodels_fit_and_satterthwaite_test(design):
    singular = 0
    for df in _null_replicates(6, 7, **design):
        closed = crossed_lmm_test(df, method="closed form")
        fitted = crossed_lmm_test(df, method="statsmodels")
        assert closed["optimizer"] == "closed form"
        # REML's maximum: the closed form is never below the optimizer's
        assert closed["llf"] >= fitted["llf"] - 1e-6
        assert closed["llf"] == pytest.approx(fitted["llf"], abs=1e-4)
        assert closed["estimate"] == pytest.approx(fitted["estimate"], rel=1e-8)
        assert closed["F"] == pytest.approx(fitted["F"], rel=2e-3)
        assert closed["df2"] == pytest.approx(fitted["df2"], rel=2e-3)
        assert closed["p"] == pytest.approx(fitted["p"], abs=5e-4)
        assert closed["singular"] == fitted["singular"]
        singular += bool(closed["singular"])
    if design and "subj_slope_sd" not in design:
        assert singular > 0, "the case was meant to include singular fits"


def test_closed_form_is_f2_unless_the_fit_is_singular():
    for df in _null_replicates(40, 11):
        closed = crossed_lmm_test(df)
        f2 = by_item_test(df)
        if not closed["singular"]:
            assert closed["F"] == pytest.approx(f2["F"], rel=1e-10)
            assert closed["df2"] == pytest.approx(f2["df2"], rel=1e-10)
            assert closed["p"] == pytest.approx(f2["p"], rel=1e-8)


def test_closed_form_with_unequal_items_per_condition(crossed_data):
    fewer = crossed_data[~crossed_data["item"].isin(["i01", "i02", "i03"])]
    closed = crossed_lmm_test(fewer, method="closed form")
    fitted = crossed_lmm_test(fewer, method="statsmodels")
    assert closed["df2"] == pytest.approx(13 - 2)
    for key in ("estimate", "F", "df2", "p", "llf"):
        assert closed[key] == pytest.approx(fitted[key], rel=1e-3, abs=1e-4), key
    assert closed["p"] == pytest.approx(by_item_test(fewer)["p"], rel=1e-8)


def test_closed_form_matches_lmerTest_on_the_crossed_case(crossed_data):
    r = reference("crossed")
    res = crossed_lmm_test(crossed_data, conditions=("easy", "hard"), method="closed form")
    assert res["llf"] == pytest.approx(r["logLik"], abs=0.01)
    assert res["F"] == pytest.approx(r["anova"]["F"][0], rel=0.01)
    assert res["df2"] == pytest.approx(r["anova"]["DenDF"][0], rel=0.01)
    assert res["p"] == pytest.approx(r["anova"]["p"][0], abs=0.002)


def test_auto_falls_back_to_statsmodels_and_closed_form_says_why(crossed_data):
    holes = crossed_data.drop(index=[0, 5])            # two responses missing
    auto = crossed_lmm_test(holes)
    assert auto["optimizer"] != "closed form"
    with pytest.raises(ValueError, match="exactly once"):
        crossed_lmm_test(holes, method="closed form")
    with pytest.raises(ValueError, match="slopes"):
        crossed_lmm_test(crossed_data, subject_slopes=True, method="closed form")
    with pytest.raises(ValueError, match="method must be"):
        crossed_lmm_test(crossed_data, method="fast")
    assert crossed_lmm_test(crossed_data)["optimizer"] == "closed form"


# --------------------------------------------------------------------------- simulations
def test_f1_is_inflated_and_f2_is_not_when_items_vary():
    def rates(**design):
        rows = []
        for df in _null_replicates(400, 99, n_subj=20, n_item=16, **design):
            f1, f2 = by_subject_test(df), by_item_test(df)
            rows.append({"F1": f1["p"], "F2": f2["p"], "min_F": min_f_prime(f1, f2)["p"]})
        return rejection_rates(pd.DataFrame(rows))

    r = rates()
    assert r.loc["F1", "lower"] > 0.15
    assert r.loc["F2", "lower"] < 0.05 < r.loc["F2", "upper"] + 0.02
    assert r.loc["min_F", "rate"] <= r.loc["F2", "rate"] + 1e-12
    # without item variance F1 is fine
    assert rates(item_sd=0.0).loc["F1", "rate"] < 0.09


# --------------------------------------------------------------------------- summaries
def test_rejection_rates_counts_and_monte_carlo_error():
    p = pd.DataFrame({"F1": [0.01, 0.2, 0.03, 0.5], "LMM": [0.04, np.nan, np.nan, 0.3]})
    r = rejection_rates(p)
    assert r.loc["F1", "rejections"] == 2 and r.loc["F1", "reps"] == 4
    assert r.loc["F1", "mc_se"] == pytest.approx(np.sqrt(0.25 / 4))
    assert r.loc["LMM", "reps"] == 2 and r.loc["LMM", "rate"] == 0.5
    assert r.loc["F1", "lower"] == pytest.approx(max(0.0, 0.5 - 1.96 * 0.25))
    assert rejection_rates(p, alpha=0.02).loc["F1", "rejections"] == 1
    # a method with no p values is left out by default
    assert list(rejection_rates(p.assign(min_F=np.nan)).index) == ["F1", "LMM"]


def test_rejection_rates_errors():
    p = pd.DataFrame({"F1": [0.01, 0.2]})
    with pytest.raises(ValueError, match="alpha"):
        rejection_rates(p, alpha=1.5)
    with pytest.raises(ValueError, match="outside"):
        rejection_rates(pd.DataFrame({"F1": [0.1, 1.2]}))
    with pytest.raises(KeyError, match="F2"):
        rejection_rates(p, methods=["F2"])
    with pytest.raises(ValueError, match="no p values"):
        rejection_rates(pd.DataFrame({"F1": [np.nan]}), methods=["F1"])
    with pytest.raises(ValueError, match="DataFrame"):
        rejection_rates([0.1, 0.2])


def test_rejection_rate_plot_draws_the_nominal_level():
    rates = rejection_rates(pd.DataFrame({"F1": [0.01, 0.2, 0.03, 0.5], "F2": [0.5] * 4}))
    ax = rejection_rate_plot(rates, alpha=0.05)
    ys = [line.get_ydata()[0] for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert ys == [0.05]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["by participant (F1)", "by item (F2)"]
    with pytest.raises(KeyError):
        rejection_rate_plot(rates.drop(columns="upper"))
