"""helpers.studies.missing: the dropout simulation, the two fast analyses, summary and figures.

The chapter writes its simulation loop itself; ``_study`` below is the same loop, so that the
summary and the figures are tested on what the chapter feeds them.
"""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pingouin as pg
import pytest
import statsmodels.formula.api as smf

import helpers
from helpers.core.inference import _VarParModel
from helpers.studies import missing as M

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "r"))
from reference_cases import read_case_csv  # noqa: E402

DESIGN = dict(n_subj=30, n_times=4, effect=1.0, subj_sd=1.0, error_sd=1.0, dropout=0.2,
              strength=1.5)


def _quiet(func, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return func(*args, **kw)


def _statsmodels_lmm(df):
    """The mixed model as a reader writes it: statsmodels' MixedLM and helpers.anova."""
    observed = df.dropna(subset=["y"])
    fit = smf.mixedlm("y ~ C(time)", observed, groups=observed["subject"]).fit(reml=True)
    test = helpers.anova(fit).loc["C(time)"]
    last = f"C(time)[T.{sorted(df['time'].unique())[-1]}]"
    # lme4's vcov(), as random_intercept_lmm reports it (statsmodels' bse differs a little)
    vp = _VarParModel(fit)
    j = list(fit.fe_params.index).index(last)
    return {
        "n_subjects": int(observed["subject"].nunique()), "n_rows": len(observed),
        "estimate": float(fit.fe_params[last]),
        "se": float(np.sqrt(vp.covbeta(vp.varpar_hat)[j, j])),
        "F": float(test["F"]), "df1": float(test["NumDF"]), "df2": float(test["DenDF"]),
        "p": float(test["p"]),
        "subj_sd": float(np.sqrt(max(float(fit.cov_re.iloc[0, 0]), 0.0))),
        "error_sd": float(np.sqrt(fit.scale)), "llf": float(fit.llf),
    }


def _study(n_reps, mechanisms=("mcar", "mar"), effects=(0.0, 1.0), seed=19, **design):
    """The chapter's loop: one row per replicate and analysis."""
    design = {**{k: v for k, v in DESIGN.items() if k != "effect"}, **design}
    rows = []
    for mechanism in mechanisms:
        for effect in effects:
            for rep in range(n_reps):
                data = M.simulate_dropout(**design, effect=effect, mechanism=mechanism,
                                          seed=(seed, rep))
                condition = {"mechanism": mechanism, "effect": effect, "rep": rep}
                rows.append({**condition, **M.complete_case_anova(data, errors="coerce")})
                rows.append({**condition, **M.random_intercept_lmm(data, errors="coerce")})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- simulate_dropout
def test_shape_columns_and_labels():
    df = M.simulate_dropout(n_subj=7, n_times=12, seed=1)
    assert df.shape == (84, 4)
    assert df.columns.tolist() == ["subject", "time", "y", "y_complete"]
    times = df["time"].unique().tolist()
    assert times == sorted(times) and times[0] == "t01" and times[-1] == "t12"
    assert df["subject"].nunique() == 7


def test_same_seed_same_data_and_same_complete_scores_under_every_mechanism():
    a = M.simulate_dropout(**DESIGN, mechanism="mar", seed=5)
    pd.testing.assert_frame_equal(a, M.simulate_dropout(**DESIGN, mechanism="mar", seed=5))
    assert not a["y_complete"].equals(M.simulate_dropout(**DESIGN, mechanism="mar", seed=6)["y_complete"])
    for mech in ["mcar", "mnar"]:
        other = M.simulate_dropout(**DESIGN, mechanism=mech, seed=5)
        np.testing.assert_array_equal(other["y_complete"], a["y_complete"])


@pytest.mark.parametrize("mechanism", M.MECHANISMS)
def test_dropout_is_monotone_and_everyone_starts(mechanism):
    df = M.simulate_dropout(**{**DESIGN, "n_subj": 200}, mechanism=mechanism, seed=2)
    wide = df.pivot(index="subject", columns="time", values="y")
    seen = wide.notna().to_numpy()
    assert seen[:, 0].all()
    assert not (seen[:, 1:] & ~seen[:, :-1]).any(), "a subject came back after leaving"
    observed = df["y"].notna()
    np.testing.assert_array_equal(df.loc[observed, "y"], df.loc[observed, "y_complete"])
    assert 0 < (~observed).sum() < len(df)


def test_no_dropout_means_no_missing_scores():
    df = M.simulate_dropout(**{**DESIGN, "dropout": 0.0}, seed=3)
    assert df["y"].notna().all()


def test_mcar_dropout_rate_per_visit():
    df = M.simulate_dropout(n_subj=20000, n_times=3, mechanism="mcar", dropout=0.25, seed=4)
    seen = df.pivot(index="subject", columns="time", values="y").notna().to_numpy()
    left_at_t2 = 1 - seen[:, 1].mean()
    left_at_t3 = 1 - seen[:, 2].sum() / seen[:, 1].sum()
    assert left_at_t2 == pytest.approx(0.25, abs=0.01)
    assert left_at_t3 == pytest.approx(0.25, abs=0.01)


def test_true_means_are_recovered_without_dropout():
    df = M.simulate_dropout(n_subj=20000, n_times=4, effect=2.0, subj_sd=1.0, error_sd=1.0,
                            grand_mean=5.0, dropout=0.0, seed=5)
    means = df.groupby("time")["y"].mean().to_numpy()
    np.testing.assert_allclose(means, 5.0 + 2.0 * np.linspace(0, 1, 4), atol=0.03)
    subject_means = df.groupby("subject")["y"].mean()
    # var(subject mean) = subj_sd² + error_sd² / 4
    assert subject_means.var() == pytest.approx(1.25, rel=0.05)


def test_mar_leavers_had_low_previous_scores_and_mnar_leavers_low_current_scores():
    for mech, col_offset in [("mar", -1), ("mnar", 0)]:
        df = M.simulate_dropout(n_subj=5000, n_times=2, effect=0.0, mechanism=mech, dropout=0.3,
                                strength=2.0, seed=6)
        wide_y = df.pivot(index="subject", columns="time", values="y_complete").to_numpy()
        left = df.pivot(index="subject", columns="time", values="y")["t2"].isna().to_numpy()
        score = wide_y[:, 1 + col_offset]
        assert score[left].mean() < score[~left].mean() - 0.5, mech
    # MAR does not select on the current score beyond what the previous one carries
    df = M.simulate_dropout(n_subj=20000, n_times=2, effect=0.0, subj_sd=0.0, error_sd=1.0,
                            mechanism="mar", dropout=0.3, strength=2.0, seed=7)
    wide_y = df.pivot(index="subject", columns="time", values="y_complete").to_numpy()
    left = df.pivot(index="subject", columns="time", values="y")["t2"].isna().to_numpy()
    assert abs(wide_y[left, 1].mean() - wide_y[~left, 1].mean()) < 0.05


@pytest.mark.parametrize(
    "kwargs, culprit",
    [
        ({"n_subj": 1}, "n_subj"),
        ({"n_times": 1}, "n_times"),
        ({"n_subj": 2.5}, "n_subj"),
        ({"subj_sd": -1.0}, "subj_sd"),
        ({"error_sd": float("nan")}, "error_sd"),
        ({"effect": "large"}, "effect"),
        ({"dropout": 1.0}, "dropout"),
        ({"dropout": -0.1}, "dropout"),
        ({"mechanism": "random"}, "mechanism"),
        ({"strength": float("inf")}, "strength"),
    ],
)
def test_simulate_dropout_bad_arguments_name_the_culprit(kwargs, culprit):
    with pytest.raises(ValueError, match=culprit):
        M.simulate_dropout(**kwargs)


# --------------------------------------------------------------------------- complete_case_anova
def test_complete_case_anova_is_pingouins_rm_anova_with_listwise_deletion():
    df = M.simulate_dropout(**DESIGN, mechanism="mar", seed=8)
    cc = M.complete_case_anova(df)
    assert cc["method"] == M.METHODS[0]
    aov = pg.rm_anova(df, dv="y", within="time", subject="subject", detailed=True)
    assert cc["F"] == pytest.approx(aov.loc[0, "F"], rel=1e-10)
    assert cc["p"] == pytest.approx(aov.loc[0, "p_unc"], rel=1e-8)
    assert cc["df1"] == aov.loc[0, "DF"] and cc["df2"] == aov.loc[1, "DF"]
    complete = df.groupby("subject")["y"].count().eq(4)
    assert cc["n_subjects"] == complete.sum() and cc["n_rows"] == 4 * complete.sum()
    kept = df[df["subject"].isin(complete[complete].index)]
    means = kept.groupby("time")["y"].mean()
    assert cc["estimate"] == pytest.approx(means["t4"] - means["t1"], rel=1e-12)
    assert cc["error_sd"] ** 2 == pytest.approx(aov.loc[1, "MS"], rel=1e-10)


def test_complete_case_anova_counts_absent_rows_as_missing():
    df = M.simulate_dropout(**DESIGN, mechanism="mcar", seed=9)
    with_nan = pd.Series(M.complete_case_anova(df))
    without_rows = pd.Series(M.complete_case_anova(df.dropna(subset=["y"])))
    pd.testing.assert_series_equal(with_nan, without_rows)


@pytest.mark.parametrize("analyse", [M.complete_case_anova, M.random_intercept_lmm])
def test_the_order_of_the_rows_does_not_matter(analyse):
    df = M.simulate_dropout(**DESIGN, mechanism="mar", seed=9)
    shuffled = df.sample(frac=1.0, random_state=1).dropna(subset=["y"])
    a, b = analyse(df), analyse(shuffled)
    for key in ["n_subjects", "n_rows", "estimate", "se", "F", "df2", "p"]:
        assert b[key] == pytest.approx(a[key], rel=1e-9), key


@pytest.mark.parametrize("analyse", [M.complete_case_anova, M.random_intercept_lmm])
def test_a_result_is_one_row_of_plain_python_numbers(analyse):
    row = analyse(M.simulate_dropout(**DESIGN, mechanism="mar", seed=9))
    assert list(row) == ["method", *M._RESULT_FIELDS]
    assert type(row["n_subjects"]) is int and type(row["converged"]) is bool
    assert all(type(row[k]) is float for k in ["estimate", "se", "F", "df2", "p", "llf"])


def test_complete_case_anova_errors():
    df = M.simulate_dropout(**DESIGN, seed=10)
    with pytest.raises(KeyError, match="score"):
        M.complete_case_anova(df, dv="score")
    with pytest.raises(ValueError, match="duplicated"):
        M.complete_case_anova(pd.concat([df, df.iloc[:1]]))
    with pytest.raises(ValueError, match="at least 2 levels"):
        M.complete_case_anova(df[df["time"] == "t1"])
    few = M.simulate_dropout(n_subj=3, dropout=0.9, mechanism="mcar", seed=11)
    with pytest.raises(ValueError, match="complete-case ANOVA needs at least 2"):
        M.complete_case_anova(few)
    coerced = M.complete_case_anova(few, errors="coerce")
    assert np.isnan(coerced["estimate"]) and np.isnan(coerced["p"])
    assert coerced["converged"] is False and coerced["n_subjects"] < 2
    with pytest.raises(ValueError, match="errors"):
        M.complete_case_anova(df, errors="ignore")
    holes = df.copy()
    holes.loc[0, "subject"] = None
    with pytest.raises(ValueError, match="subject"):
        M.complete_case_anova(holes)


# --------------------------------------------------------------------------- random_intercept_lmm
@pytest.mark.parametrize("seed, mechanism, subj_sd", [(12, "mar", 1.0), (13, "mcar", 1.0),
                                                      (14, "mnar", 0.5), (15, "mar", 2.0),
                                                      (16, "mcar", 0.0)])
def test_the_fast_fit_equals_statsmodels_and_helpers_anova(seed, mechanism, subj_sd):
    df = M.simulate_dropout(**{**DESIGN, "subj_sd": subj_sd}, mechanism=mechanism, seed=seed)
    fast = M.random_intercept_lmm(df)
    slow = _quiet(_statsmodels_lmm, df)
    assert fast["n_rows"] == slow["n_rows"] == df["y"].notna().sum()
    assert fast["n_subjects"] == slow["n_subjects"] == 30
    # the fast fit maximises the same REML criterion at least as well as statsmodels
    assert fast["llf"] >= slow["llf"] - 1e-6
    for col in ["estimate", "se", "F", "p", "error_sd"]:
        assert fast[col] == pytest.approx(slow[col], rel=2e-4, abs=1e-5), col
    assert fast["subj_sd"] == pytest.approx(slow["subj_sd"], abs=2e-3)
    assert fast["df2"] == pytest.approx(slow["df2"], rel=1e-3)


def test_lmm_on_complete_data_is_the_rm_anova():
    df = M.simulate_dropout(**{**DESIGN, "dropout": 0.0}, seed=17)
    cc, lmm = M.complete_case_anova(df), M.random_intercept_lmm(df)
    for col in ["estimate", "se", "F", "df1", "p", "error_sd", "subj_sd"]:
        assert lmm[col] == pytest.approx(cc[col], rel=1e-6), col
    assert lmm["df2"] == pytest.approx(cc["df2"], rel=1e-5)


def test_the_fast_fit_against_lme4_and_lmertest():
    """The committed R reference case dropout_mar (tests/r/reference_cases.py)."""
    ref = helpers.r_reference("dropout_mar")
    data = read_case_csv("dropout_mar")
    lmm = M.random_intercept_lmm(data)
    sigma = ref["sigma"]
    fixef = dict(zip(ref["fixef"]["names"], ref["fixef"]["estimate"]))
    se = dict(zip(ref["fixef"]["names"], ref["fixef"]["se"]))
    assert lmm["n_rows"] == ref["nobs"]
    assert abs(lmm["estimate"] - fixef["timet4"]) <= 1e-3 * max(abs(fixef["timet4"]), sigma)
    assert lmm["se"] == pytest.approx(se["timet4"], rel=1e-3)
    assert lmm["error_sd"] == pytest.approx(sigma, rel=1e-3)
    assert lmm["subj_sd"] == pytest.approx(ref["varcorr"]["sdcor"][0], rel=1e-3)
    assert lmm["llf"] == pytest.approx(ref["logLik"], abs=0.01)
    assert lmm["F"] == pytest.approx(ref["anova"]["F"][0], rel=0.01)
    assert lmm["df2"] == pytest.approx(ref["anova"]["DenDF"][0], rel=0.01)
    assert lmm["p"] == pytest.approx(ref["anova"]["p"][0], abs=0.002)
    # all four means, through dropout_means
    means = M.dropout_means(data, complete=None)["LMM"].to_numpy()
    r_means = fixef["(Intercept)"] + np.array([0.0, fixef["timet2"], fixef["timet3"], fixef["timet4"]])
    np.testing.assert_allclose(means, r_means, atol=1e-3 * sigma)


def test_random_intercept_lmm_errors():
    df = M.simulate_dropout(**DESIGN, seed=18)
    with pytest.raises(ValueError, match="errors"):
        M.random_intercept_lmm(df, errors=False)
    with pytest.raises(KeyError, match="visit"):
        M.random_intercept_lmm(df, within="visit")
    nobody_at_t4 = df.copy()
    nobody_at_t4.loc[nobody_at_t4["time"] == "t4", "y"] = np.nan
    with pytest.raises(ValueError, match="t4"):
        M.random_intercept_lmm(nobody_at_t4)
    coerced = M.random_intercept_lmm(nobody_at_t4, errors="coerce")
    assert np.isnan(coerced["estimate"]) and coerced["converged"] is False
    assert coerced["n_rows"] == int(nobody_at_t4["y"].notna().sum())
    text = df.assign(y=df["y"].astype(str))
    with pytest.raises(ValueError, match="numeric"):
        M.random_intercept_lmm(text)


# --------------------------------------------------------------------------- the study loop
@pytest.fixture(scope="module")
def small_study():
    return _study(40)


def test_study_layout_and_reproducibility(small_study):
    assert small_study.shape == (2 * 2 * 40 * 2, 4 + len(M._RESULT_FIELDS))
    assert small_study["method"].unique().tolist() == list(M.METHODS)
    assert small_study.groupby(["mechanism", "effect", "method"]).size().eq(40).all()
    pd.testing.assert_frame_equal(small_study, _study(40))
    assert small_study["converged"].all()


def test_a_replicate_is_regenerated_from_its_seed(small_study):
    for _, row in small_study.query("mechanism == 'mar' and effect == 1.0").head(6).iterrows():
        df = M.simulate_dropout(**DESIGN, mechanism="mar", seed=(19, int(row["rep"])))
        cc = row["method"] == M.METHODS[0]
        res = M.complete_case_anova(df) if cc else M.random_intercept_lmm(df)
        assert res["estimate"] == pytest.approx(row["estimate"], rel=1e-9)
        assert res["p"] == pytest.approx(row["p"], rel=1e-7)
        assert res["n_rows"] == row["n_rows"]


def test_the_same_seeds_give_common_random_numbers(small_study):
    a = small_study[small_study["effect"] == 0.0].reset_index(drop=True)
    b = small_study[small_study["effect"] == 1.0].reset_index(drop=True)
    np.testing.assert_array_equal(a["n_rows"], b["n_rows"])
    np.testing.assert_allclose(b["estimate"] - a["estimate"], 1.0, atol=1e-6)


def test_complete_cases_are_biased_under_mar_and_the_mixed_model_is_not():
    res = _study(400, mechanisms=("mar",), effects=(0.0,), seed=20)
    s = M.summarize_study(res).set_index("method")
    cc, lmm = s.loc[M.METHODS[0]], s.loc[M.METHODS[1]]
    assert cc["bias"] < -5 * cc["bias_mcse"]
    assert abs(lmm["bias"]) < 3 * lmm["bias_mcse"]


def test_failed_analyses_are_rows_that_the_summary_counts():
    res = _study(30, mechanisms=("mcar",), effects=(0.0,), seed=21, n_subj=5, dropout=0.4)
    cc = res[res["method"] == M.METHODS[0]]
    failed = cc["n_subjects"] < 2
    assert failed.any() and not failed.all()
    assert cc.loc[failed, "estimate"].isna().all() and not cc.loc[failed, "converged"].any()
    s = M.summarize_study(res).set_index("method")
    assert s.loc[M.METHODS[0], "n_failed"] == int(failed.sum())
    assert s.loc[M.METHODS[0], "n_reps"] + s.loc[M.METHODS[0], "n_failed"] == 30


def test_the_study_loop_is_the_chapters_not_a_helper():
    assert not hasattr(M, "missing_data_study") and not hasattr(helpers, "missing_data_study")


# --------------------------------------------------------------------------- summarize_study
def test_summary_numbers_on_a_hand_made_table():
    res = pd.DataFrame({
        "mechanism": ["mar"] * 4,
        "effect": [1.0] * 4,
        "method": ["m"] * 4,
        "estimate": [0.5, 1.0, 1.5, np.nan],
        "se": [0.2, 0.2, 0.2, np.nan],
        "p": [0.01, 0.2, 0.04, np.nan],
    })
    row = M.summarize_study(res, alpha=0.05).iloc[0]
    assert row["n_reps"] == 3 and row["n_failed"] == 1
    assert row["mean_estimate"] == pytest.approx(1.0)
    assert row["bias"] == pytest.approx(0.0)
    assert row["emp_sd"] == pytest.approx(0.5)
    assert row["bias_mcse"] == pytest.approx(0.5 / np.sqrt(3))
    assert row["rejection_rate"] == pytest.approx(2 / 3)
    assert row["rejection_mcse"] == pytest.approx(np.sqrt(2 / 3 * 1 / 3 / 3))
    assert M.summarize_study(res, alpha=0.005).iloc[0]["rejection_rate"] == 0.0


def test_summary_errors(small_study):
    with pytest.raises(KeyError, match="estimate"):
        M.summarize_study(small_study.drop(columns="estimate"))
    with pytest.raises(ValueError, match="alpha"):
        M.summarize_study(small_study, alpha=5)
    with pytest.raises(ValueError, match="empty"):
        M.summarize_study(small_study.iloc[:0])


# --------------------------------------------------------------------------- figures
def test_plot_study_draws_labelled_panels(small_study):
    fig = M.plot_study(M.summarize_study(small_study), units="points")
    assert len(fig.axes) == 3
    assert "points" in fig.axes[0].get_ylabel()
    assert "Type I" in fig.axes[1].get_ylabel() and "power" in fig.axes[2].get_ylabel()
    assert all(ax.get_xlabel() == "dropout mechanism" for ax in fig.axes)
    with pytest.raises(ValueError, match="bias_effect"):
        M.plot_study(M.summarize_study(small_study), bias_effect=3.0)
    matplotlib.pyplot.close("all")


def test_dropout_means_and_plot():
    df = M.simulate_dropout(**{**DESIGN, "n_subj": 400}, mechanism="mar", seed=22)
    table = M.dropout_means(df)
    assert table.columns.tolist() == ["no dropout", "complete cases", "all observed rows", "LMM"]
    assert table.index.tolist() == ["t1", "t2", "t3", "t4"]
    # at the first time point nobody is missing yet
    assert table.loc["t1", "all observed rows"] == pytest.approx(table.loc["t1", "no dropout"])
    complete = df.groupby("subject")["y"].count().eq(4)
    kept = df[df["subject"].isin(complete[complete].index)]
    np.testing.assert_allclose(table["complete cases"], kept.groupby("time")["y"].mean())
    ax = M.plot_dropout_means(df, true_means=np.linspace(0, 1, 4), ylabel="score (points)")
    assert ax.get_ylabel() == "score (points)" and len(ax.lines) == 5
    with pytest.raises(ValueError, match="true_means"):
        M.plot_dropout_means(df, true_means=[0, 1])
    matplotlib.pyplot.close("all")


def test_exported_from_helpers():
    for name in ["simulate_dropout", "complete_case_anova", "random_intercept_lmm",
                 "summarize_study", "plot_study", "dropout_means", "plot_dropout_means"]:
        assert getattr(helpers, name) is getattr(M, name)
        assert name in helpers.__all__
