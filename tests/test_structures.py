"""helpers.studies.structures: nested data with slopes, the nested plot, and lme4 formulas as statsmodels code."""
import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

import helpers
from helpers.core.translate import statsmodels_call, translation_table
from helpers.studies.structures import nested_plot, simulate_nested_slopes

matplotlib.use("Agg")


# ----------------------------------------------------------------------------- simulation
def test_shape_columns_and_repeated_labels():
    df = simulate_nested_slopes(n_school=5, n_class_per_school=2, n_pupil=4, seed=1)
    assert df.shape == (40, 6)
    assert list(df.columns) == ["school", "sector", "class", "pupil", "x", "y"]
    assert df.groupby("class")["school"].nunique().eq(5).all()  # labels repeat in every school
    assert df.groupby("school")["sector"].nunique().eq(1).all()  # sector is a school property
    assert df[["x", "y"]].notna().all().all()


def test_same_seed_same_data_other_seed_other_data():
    a, b = simulate_nested_slopes(seed=3), simulate_nested_slopes(seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert not a["y"].equals(simulate_nested_slopes(seed=4)["y"])


def test_without_noise_the_model_is_exact():
    df = simulate_nested_slopes(n_school=4, n_class_per_school=2, n_pupil=5, school_sd=0.0,
                                slope_sd=0.0, class_sd=0.0, error_sd=0.0, grand_mean=2.0,
                                slope=0.7, sector_effect=1.5, seed=5)
    expected = 2.0 + 1.5 * (df["sector"] == "private") + 0.7 * df["x"]
    np.testing.assert_allclose(df["y"], expected, atol=1e-12)


def test_school_slopes_have_the_asked_sd_and_correlation():
    # no class or pupil noise: each school's line is exact, so its OLS fit recovers u0, u1
    df = simulate_nested_slopes(n_school=3000, n_class_per_school=1, n_pupil=3, school_sd=1.0,
                                slope_sd=0.5, class_sd=0.0, error_sd=0.0, slope_corr=-0.6,
                                slope=0.3, seed=9)
    lines = df.groupby("school").apply(lambda g: pd.Series(np.polyfit(g["x"], g["y"], 1),
                                                           index=["slope", "intercept"]))
    assert lines["slope"].mean() == pytest.approx(0.3, abs=0.03)
    assert lines["slope"].std() == pytest.approx(0.5, rel=0.05)
    assert np.corrcoef(lines["slope"], lines["intercept"])[0, 1] == pytest.approx(-0.6, abs=0.05)


@pytest.mark.parametrize("kwargs, culprit", [
    ({"slope_sd": -1.0}, "slope_sd"),
    ({"school_sd": float("nan")}, "school_sd"),
    ({"slope_corr": 1.5}, "slope_corr"),
    ({"slope": "big"}, "slope"),
    ({"n_school": 0}, "n_school"),
    ({"class_sd": -0.1}, "class_sd"),
])
def test_bad_arguments_name_the_culprit(kwargs, culprit):
    with pytest.raises(ValueError, match=culprit):
        simulate_nested_slopes(seed=1, **kwargs)


# ----------------------------------------------------------------------------- the figure
def test_nested_plot_draws_one_slot_per_school_and_a_bar_per_class():
    import matplotlib.pyplot as plt

    df = helpers.simulate_nested(n_school=5, n_class_per_school=3, n_pupil=4, seed=2)
    ax = nested_plot(df, "school", "class", "y", hue="sector", ylabel="score")
    assert len(ax.get_xticks()) == 5
    assert ax.get_ylabel() == "score"
    # one black bar per class (15), one dashed bar per school (5), in LineCollections
    bars = [c for c in ax.collections if isinstance(c, matplotlib.collections.LineCollection)]
    assert sum(len(c.get_segments()) for c in bars) == 15 + 5
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["sector = private", "sector = public"]
    # the schools are sorted by sector: private ones first
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    private = set(df.loc[df["sector"] == "private", "school"])
    assert set(ticks[: len(private)]) == private
    plt.close("all")


def test_nested_plot_errors():
    import matplotlib.pyplot as plt

    df = helpers.simulate_nested(n_school=3, n_class_per_school=2, n_pupil=2, seed=2)
    with pytest.raises(KeyError, match="teacher"):
        nested_plot(df, "school", "teacher", "y")
    with pytest.raises(ValueError, match="constant within each 'school'"):
        nested_plot(df, "school", "class", "y", hue="pupil")
    bad = df.copy()
    bad.loc[0, "class"] = None
    with pytest.raises(ValueError, match="missing"):
        nested_plot(bad, "school", "class", "y")
    plt.close("all")


# ----------------------------------------------------------------------------- the code
@pytest.fixture(scope="module")
def pupils():
    df = simulate_nested_slopes(n_school=6, n_class_per_school=3, n_pupil=6, seed=3)
    number = df["school"].str[3:].astype(int)
    df["district"] = "d" + ((number - 1) // 3 + 1).astype(str)
    df["sid"] = "s" + ((number - 1) % 3 + 1).astype(str)
    return df


@pytest.mark.parametrize("formula, code", [
    ("y ~ x + (1|school)", 'smf.mixedlm("y ~ x", df, groups="school", re_formula="1")'),
    ("y ~ x + (1 + x||school)",
     'smf.mixedlm("y ~ x", df, groups="school", re_formula="1", vc_formula={"x": "0 + x"})'),
    ("y ~ x + (1|school/class)",
     'smf.mixedlm("y ~ x", df, groups="school", re_formula="1", '
     'vc_formula={"school:class": "0 + C(Q(\'class\'))"})'),
    ("y ~ x + (1|school) + (1|class)",
     'smf.mixedlm("y ~ x", df, groups=np.ones(len(df)), '
     'vc_formula={"school": "0 + C(school)", "class": "0 + C(Q(\'class\'))"})'),
    ("y ~ x + (1 + x|school:class)",
     'smf.mixedlm("y ~ x", df, groups=df[\'school\'].astype(str) + ":" + '
     'df[\'class\'].astype(str), re_formula="1 + x")'),
    ("y ~ x + (1|district/sid/class)",
     'smf.mixedlm("y ~ x", df, groups="district", re_formula="1", '
     'vc_formula={"district:sid": "0 + C(sid)", '
     '"district:sid:class": "0 + C(sid + \':\' + Q(\'class\'))"})'),
])
def test_statsmodels_call_text(pupils, formula, code):
    assert statsmodels_call(helpers.mixedlm(formula, pupils), data="df") == code


def _variants(df):
    categorical = df.assign(**{"class": pd.Categorical(df["class"], ["c1", "c2", "c3", "c9"])})
    numbered = df.assign(**{"class": df["class"].str[1:].astype(int)})
    unbalanced = df[~((df["sid"] == "s2") & (df["class"] == "c3"))]
    return [
        (df, "y ~ x + (1 + x|school) + (1|school:class)"),
        (df, "y ~ x + (1 + x|school:class)"),
        (df, "y ~ x + (1|district/sid/class)"),
        (unbalanced, "y ~ x + (1|district/sid/class)"),
        (categorical, "y ~ x + (1|school/class)"),
        (categorical, "y ~ x + (1 + x|school) + (0 + x|school:class)"),
        (numbered, "y ~ x + (1|school/class)"),
        (df, "y ~ x + (1|school) + (1|class)"),
    ]


@pytest.mark.parametrize("case", range(8))
def test_statsmodels_call_runs_and_fits_the_same_model(pupils, case):
    data, formula = _variants(pupils)[case]
    model = helpers.mixedlm(formula, data)
    code = statsmodels_call(model)
    assert "_lme4_levels" not in code
    by_code = eval(code, {"smf": smf, "np": np, "data": data})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = model.fit(method="powell")
        b = by_code.fit(method="powell")
    assert b.llf == pytest.approx(a.llf, abs=1e-6)
    np.testing.assert_allclose(b.fe_params, a.fe_params, rtol=1e-6)


@pytest.mark.parametrize("width", [88, 60])
@pytest.mark.parametrize("case", [0, 2, 3, 7])
def test_statsmodels_call_wrapped_is_the_same_code(pupils, case, width):
    data, formula = _variants(pupils)[case]
    model = helpers.mixedlm(formula, data)
    one_line, wrapped = statsmodels_call(model), statsmodels_call(model, width=width)
    assert "\n" not in one_line
    assert max(len(line) for line in wrapped.splitlines()) <= width
    namespace = {"smf": smf, "np": np, "data": data}
    a, b = eval(one_line, namespace), eval(wrapped, namespace)
    assert (a.exog_names, a.k_re, a.k_vc, a.exog_vc.names) == (
        b.exog_names, b.k_re, b.k_vc, b.exog_vc.names)
    if len(one_line) <= width:
        assert wrapped == one_line


def test_statsmodels_call_wraps_like_black(pupils):
    model = helpers.mixedlm("y ~ x + (1|district/sid/class)", pupils)
    assert statsmodels_call(model, data="df", width=64) == (
        'smf.mixedlm(\n'
        '    "y ~ x", df, groups="district", re_formula="1",\n'
        '    vc_formula={\n'
        '        "district:sid": "0 + C(sid)",\n'
        '        "district:sid:class": "0 + C(sid + \':\' + Q(\'class\'))",\n'
        '    },\n'
        ')')


def test_statsmodels_call_errors(pupils):
    with pytest.raises(ValueError, match="helpers.mixedlm"):
        statsmodels_call(smf.mixedlm("y ~ x", pupils, groups="school"))
    with pytest.raises(ValueError, match="name of a data frame"):
        statsmodels_call(helpers.mixedlm("y ~ x + (1|school)", pupils), data="my data")
    for width in (30, 88.0, True):
        with pytest.raises(ValueError, match="width"):
            statsmodels_call(helpers.mixedlm("y ~ x + (1|school)", pupils), width=width)


# ----------------------------------------------------------------------------- the table
@pytest.fixture(scope="module")
def crossed():
    df = helpers.simulate_crossed(n_subj=8, n_item=6, subj_slope_sd=50.0, seed=4)
    df["x"] = np.where(df["cond"] == "hard", 0.5, -0.5)
    return df


def test_translation_table_without_fitting(crossed):
    table = translation_table({
        "crossed": "y ~ x + (1|subject) + (1|item)",
        "uncorrelated": "y ~ x + (1 + x||subject) + (1|item)",
        "correlated": "y ~ x + (1 + x|subject) + (1|item)",
        "one factor": "y ~ x + (1 + x|subject)",
    }, crossed, fit=False, name="crossed")
    assert table.index.name == "model"
    assert list(table.index) == ["crossed", "uncorrelated", "correlated", "one factor"]
    assert list(table.columns) == ["lme4", "groups", "re_formula", "vc_formula", "statsmodels",
                                   "error", "nearest", "lmer"]
    assert table.loc["correlated", "lmer"] == (
        'helpers.lmer("y ~ x + (1 + x|subject) + (1|item)", crossed)')
    assert table.loc["crossed", "groups"] is None and table.loc["crossed", "re_formula"] is None
    assert table.loc["uncorrelated", "vc_formula"] == {
        "subject": "0 + C(subject)", "subject:x": "0 + C(subject):x", "item": "0 + C(item)"}
    assert table.loc["one factor", "groups"] == "subject"
    assert table.loc["one factor", "re_formula"] == "1 + x"
    assert table.loc["one factor", "statsmodels"] == (
        'smf.mixedlm("y ~ x", crossed, groups="subject", re_formula="1 + x")')
    row = table.loc["correlated"]
    assert row["groups"] is None and row["statsmodels"] is None and row["vc_formula"] == {}
    assert "cannot fit correlated random slopes for crossed factors" in row["error"]
    assert row["nearest"] == "y ~ x + (1 + x||subject) + (1|item)"
    assert table["error"].isna().sum() == 3 and table["nearest"].isna().sum() == 3


def test_translation_table_fits_like_fit_all(crossed):
    table = translation_table(["y ~ x + (1 + x|subject)", "y ~ x + (1 + x||subject) + (1|item)",
                               "y ~ x + (1 + x|subject) + (1|item)"], crossed)
    assert table.index.name == "formula"
    assert list(table["variances"].astype(float).fillna(-1)) == [3, 3, -1]
    for formula in table.index[:2]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            best = helpers.fit_all(helpers.mixedlm(formula, crossed),
                                   methods=("lbfgs", "powell")).best
        assert table.loc[formula, "llf"] == pytest.approx(best.llf, abs=1e-8)
        assert bool(table.loc[formula, "converged"])
        # helpers.lmer reaches the same optimum
        assert table.loc[formula, "lmer_llf"] == pytest.approx(best.llf, abs=1e-4)
    failed = table.iloc[2]
    assert np.isnan(failed["llf"]) and not failed["converged"]
    # ... and fits the model statsmodels cannot
    assert failed["lmer_llf"] == pytest.approx(
        helpers.lmer(table.index[2], crossed).llf, abs=1e-10)
    assert failed["lmer_llf"] >= table.iloc[1]["lmer_llf"]  # it adds a correlation


def test_translation_table_reads_names_from_the_caller(crossed):
    table = translation_table(["np.log(y) ~ x + (1|subject)"], crossed, fit=False)
    assert table["error"].isna().all()


def test_translation_table_errors(crossed):
    with pytest.raises(ValueError, match="empty"):
        translation_table([], crossed)
    with pytest.raises(ValueError, match="string"):
        translation_table([42], crossed)
    with pytest.raises(ValueError, match="DataFrame"):
        translation_table(["y ~ x + (1|subject)"], crossed.to_dict())
    with pytest.raises(ValueError, match="name of a data frame"):
        translation_table(["y ~ x + (1|subject)"], crossed, name="1st")
    with pytest.raises(ValueError, match="width"):
        translation_table(["y ~ x + (1|subject)"], crossed, width=10)
    with pytest.raises(ValueError, match="methods is empty"):
        translation_table(["y ~ x + (1|subject)"], crossed, methods=())
    with pytest.raises(KeyError, match="participant"):
        translation_table(["y ~ x + (1|participant)"], crossed, fit=False)


def test_a_malformed_formula_keeps_its_message_without_a_nearest_model(crossed):
    table = translation_table(["y ~ x + (1 subject)"], crossed, fit=False)
    assert "has no random-effects term" in table["error"].iloc[0]
    assert table["nearest"].iloc[0] is None
