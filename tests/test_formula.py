"""helpers.core.formula.mixedlm: lme4 formulas translated to statsmodels MixedLM."""
from __future__ import annotations

import doctest
import re
import warnings

import numpy as np
import pandas as pd
import patsy
import pytest
import statsmodels.formula.api as smf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from statsmodels.regression.mixed_linear_model import MixedLM

import helpers
import helpers.core.formula
from helpers.core.formula import MissingValuesDropped, RandomTerm, mixedlm

FIT_WARNINGS = "ignore::statsmodels.tools.sm_exceptions.ConvergenceWarning"


# ---------------------------------------------------------------- data


def simulate(seed: int = 0, n_subj: int = 12, n_item: int = 8, reps: int = 1) -> pd.DataFrame:
    """Subjects crossed with items; subjects nested in schools; classes nested in
    schools with labels ("c1", "c2", "c3") that repeat across schools."""
    rng = np.random.default_rng(seed)
    rows = [(s, i) for s in range(n_subj) for i in range(n_item)] * reps
    df = pd.DataFrame(rows, columns=["subj", "item"])
    n = len(df)
    df["school"] = df["subj"] % 4
    df["cls"] = rng.choice(["c1", "c2", "c3"], size=n)
    df["x"] = rng.normal(size=n)
    df["x2"] = rng.uniform(0.5, 2.0, size=n)
    df["cond"] = rng.choice(["a", "b", "c"], size=n)
    u_subj = rng.normal(0, 1.0, n_subj)
    s_subj = rng.normal(0, 0.7, n_subj)
    u_item = rng.normal(0, 0.8, n_item)
    u_school = rng.normal(0, 0.8, 4)
    u_cls = {k: rng.normal(0, 0.6) for k in [(s, c) for s in range(4) for c in ["c1", "c2", "c3"]]}
    df["y"] = (
        1.0 + 0.5 * df["x"] + (df["cond"] == "b") * 0.4
        + u_subj[df["subj"]] + s_subj[df["subj"]] * df["x"] + u_item[df["item"]]
        + u_school[df["school"]]
        + np.array([u_cls[(s, c)] for s, c in zip(df["school"], df["cls"])])
        + rng.normal(0, 0.5, n)
    )
    return df


DF = simulate(0)


def hand_built(formula, data, **kw):
    return MixedLM.from_formula(formula, data, **kw)


def same_fit(model, reference):
    # the best of several optimizers: which one converges on a model like these can
    # depend on the machine's floating point
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = helpers.fit_all(model, methods=("lbfgs", "powell", "nm")).best
        b = helpers.fit_all(reference, methods=("lbfgs", "powell", "nm")).best
    assert a is not None and b is not None and a.converged and b.converged
    assert a.llf == pytest.approx(b.llf, abs=1e-6)
    np.testing.assert_allclose(a.fe_params, b.fe_params, atol=1e-4)
    return a


def n_vc_columns(model, name):
    """Columns of variance component ``name`` summed over the groups."""
    j = model.exog_vc.names.index(name)
    return sum(m.shape[1] for m in model.exog_vc.mats[j])


# ---------------------------------------------------------------- seed data


def test_seed_random_intercept_matches_statsmodels(seed_toy):
    f = "dependent_var ~ C(Condition_1)*C(Condition_2) + (1|participant_ID)"
    model = mixedlm(f, seed_toy)
    assert isinstance(model, MixedLM)
    assert model.k_re == 1 and model.n_groups == 8 and model.exog_vc.names == []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = model.fit()
        ref = smf.mixedlm("dependent_var ~ C(Condition_1)*C(Condition_2)", seed_toy,
                          groups=seed_toy["participant_ID"]).fit()
    assert round(res.scale, 4) == 0.0531
    assert round(res.llf, 4) == -2.1869
    assert res.llf == pytest.approx(ref.llf, abs=1e-6)
    assert model._lme4_formula == f
    assert model._random_terms == [
        RandomTerm(("participant_ID",), True, (), True, "(1|participant_ID)")
    ]
    assert model.formula == "dependent_var ~ C(Condition_1)*C(Condition_2)"


def test_docstring_example_runs():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        failed, attempted = doctest.testmod(helpers.core.formula, verbose=False)
    assert attempted > 0 and failed == 0


# ---------------------------------------------------------------- each syntax


@pytest.mark.parametrize("formula, re_formula, k_re", [
    ("y ~ x + (1|subj)", "1", 1),
    ("y ~ x + (1 + x|subj)", "1 + x", 2),
    ("y ~ x + (x|subj)", "1 + x", 2),
    ("y ~ x + (0 + x|subj)", "0 + x", 1),
    ("y ~ x + (-1 + x|subj)", "0 + x", 1),
    ("y ~ x + (x - 1|subj)", "0 + x", 1),
])
def test_one_grouping_factor(formula, re_formula, k_re):
    model = mixedlm(formula, DF)
    assert model.k_re == k_re and model.exog_re.shape == (len(DF), k_re)
    assert model.n_groups == DF["subj"].nunique()
    assert model.exog_names == ["Intercept", "x"]
    assert model.exog_vc.names == []
    assert model._statsmodels_args["re_formula"] == re_formula
    same_fit(model, hand_built("y ~ x", DF, groups="subj", re_formula=re_formula))


def test_slope_only_has_no_intercept_column():
    model = mixedlm("y ~ x + (0 + x|subj)", DF)
    np.testing.assert_allclose(model.exog_re[:, 0], DF["x"])


def test_uncorrelated_intercept_and_slope_is_a_variance_component():
    model = mixedlm("y ~ x + (1 + x||subj)", DF)
    assert model.k_re == 1 and model.exog_vc.names == ["x"]
    assert n_vc_columns(model, "x") == DF["subj"].nunique()  # one slope per subject
    same_fit(model, hand_built("y ~ x", DF, groups="subj", re_formula="1",
                               vc_formula={"x": "0 + x"}))
    # several slopes: one variance component each
    two = mixedlm("y ~ x + x2 + (1 + x + x2||subj)", DF)
    assert two.k_re == 1 and two.exog_vc.names == ["x", "x2"]
    # same as writing the terms separately, lme4's expansion of ||
    same_fit(mixedlm("y ~ x + (1|subj) + (0 + x|subj)", DF), hand_built(
        "y ~ x", DF, groups="subj", re_formula="1", vc_formula={"x": "0 + x"}))


def test_uncorrelated_factor_keeps_its_covariance_matrix_as_in_lme4():
    # lme4's || splits on terms, not columns: (1 + f||g) is (1|g) + (0 + f|g), a full
    # covariance matrix for the levels of f, uncorrelated with the intercept
    model = mixedlm("y ~ x + (1 + cond||subj)", DF)
    assert model._statsmodels_args["re_formula"] == "0 + cond"
    assert model._statsmodels_args["vc_formula"] == {"subj": "1"}
    assert model.k_re == 3 and model.exog_vc.names == ["subj"]
    spelled = mixedlm("y ~ x + (1|subj) + (0 + cond|subj)", DF)
    assert spelled._statsmodels_args == model._statsmodels_args
    same_fit(model, hand_built("y ~ x", DF, groups="subj", re_formula="0 + cond",
                               vc_formula={"subj": "1"}))
    # the afex-style split, one variance for the factor, is written as such
    split = mixedlm("y ~ x + (1|subj) + (1|subj:cond)", DF)
    assert split.k_re == 1 and split.exog_vc.names == ["subj:cond"]
    # without the intercept: lme4's (0 + f||g) is (0 + f|g)
    assert mixedlm("y ~ x + (0 + cond||subj)", DF)._statsmodels_args["re_formula"] == "0 + cond"


def test_uncorrelated_factor_that_statsmodels_cannot_fit_names_both_models():
    with pytest.raises(ValueError) as err:
        mixedlm("y ~ cond + (1 + cond||subj) + (1|item)", DF)
    text = str(err.value)
    assert "(1 | subj) + (0 + cond | subj)" in text  # what lme4 fits
    assert "(1 | subj:cond)" in text                 # the split with one variance
    assert "y ~ cond + (1|subj) + (1|subj:cond) + (1|item)" in text


def test_correlated_factor_slope():
    model = mixedlm("y ~ cond + (1 + cond|subj)", DF)
    assert model.k_re == 3 and model.exog_names == ["Intercept", "cond[T.b]", "cond[T.c]"]


def test_fixed_part_goes_to_patsy_as_written():
    model = mixedlm("y ~ C(cond, Sum)*x - 1 + np.log(x2) + (1|subj)", DF)
    expected = patsy.dmatrix("C(cond, Sum)*x - 1 + np.log(x2)", DF).design_info.column_names
    assert model.exog_names == expected
    assert mixedlm("y ~ (1|subj)", DF).exog_names == ["Intercept"]
    assert mixedlm("y ~ (1|subj) + x", DF).exog_names == ["Intercept", "x"]
    assert mixedlm("y~x+(1|subj)-1", DF).exog_names == ["x"]


def make_nested(seed=3):
    """Pupils in classes in schools; class labels 1, 2, 3 repeat in every school."""
    rng = np.random.default_rng(seed)
    rows = []
    for a in range(10):
        ua, sa = rng.normal(0, 2.0), rng.normal(0, 0.6)
        for b in range(1, 4):
            ub = rng.normal(0, 0.7)
            for _ in range(6):
                x = rng.normal()
                rows.append((a, b, x, 2 + (0.5 + sa) * x + ua + ub + rng.normal(0, 0.5)))
    return pd.DataFrame(rows, columns=["a", "b", "x", "y"])


def test_nested_keeps_the_outer_intercept():
    df = make_nested()
    nested = mixedlm("y ~ x + (1|a/b)", df)
    explicit = mixedlm("y ~ x + (1|a) + (1|a:b)", df)
    for m in (nested, explicit):
        assert m.k_re == 1  # the random intercept for a is there
        assert m.n_groups == 10
        assert m.exog_vc.names == ["a:b"]
        # b's levels within each a: 3 per school although the labels repeat
        assert [mat.shape[1] for mat in m.exog_vc.mats[0]] == [3] * 10
    assert nested._statsmodels_args == explicit._statsmodels_args
    fit = same_fit(nested, hand_built("y ~ x", df, groups="a", re_formula="1",
                                      vc_formula={"a:b": "0 + C(b)"}))
    assert fit.llf == pytest.approx(same_fit(explicit, nested).llf, abs=1e-6)
    # the trap: vc_formula without re_formula silently drops the intercept for a
    trap = hand_built("y ~ x", df, groups="a", vc_formula={"a:b": "0 + C(b)"})
    assert trap.k_re == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert abs(trap.fit().llf - fit.llf) > 1.0


def test_nested_with_correlated_slope_for_the_outer_factor():
    df = make_nested()
    model = mixedlm("y ~ x + (1 + x|a) + (1|a:b)", df)
    assert model.k_re == 2 and model.exog_vc.names == ["a:b"]
    same_fit(model, hand_built("y ~ x", df, groups="a", re_formula="1 + x",
                               vc_formula={"a:b": "0 + C(b)"}))


def test_implicitly_nested_labels_give_the_same_model():
    """(1|a) + (1|ab) with unique class labels is lme4's (1|a/b)."""
    df = make_nested()
    df["ab"] = df["a"].astype(str) + "-" + df["b"].astype(str)
    implicit = mixedlm("y ~ x + (1|a) + (1|ab)", df)
    assert implicit.n_groups == 10 and implicit.k_re == 1  # groups=a, ab nested in it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        as_crossed = hand_built("y ~ x", df, groups=np.ones(len(df)),
                                vc_formula={"a": "0 + C(a)", "ab": "0 + C(ab)"}).fit()
    fit = same_fit(implicit, mixedlm("y ~ x + (1|a/b)", df))
    assert fit.llf == pytest.approx(as_crossed.llf, abs=1e-3)


def make_crossed(seed=5, n_subj=10, n_item=8):
    rng = np.random.default_rng(seed)
    us, ui, ss = rng.normal(0, 1, n_subj), rng.normal(0, 0.8, n_item), rng.normal(0, 0.5, n_subj)
    rows = []
    for s in range(n_subj):
        for i in range(n_item):
            x = rng.normal()
            rows.append((f"s{s}", f"i{i}", x, 1 + 0.3 * x + us[s] + ss[s] * x + ui[i]
                         + rng.normal(0, 0.5)))
    return pd.DataFrame(rows, columns=["subj", "item", "x", "y"])


def test_crossed_factors_are_variance_components_of_one_group():
    df = make_crossed()
    model = mixedlm("y ~ x + (1|subj) + (1|item)", df)
    assert model.n_groups == 1 and model.k_re == 0
    assert model.exog_vc.names == ["item", "subj"]
    assert n_vc_columns(model, "subj") == 10 and n_vc_columns(model, "item") == 8
    same_fit(model, hand_built("y ~ x", df, groups=np.zeros(len(df)),
                               vc_formula={"subj": "0 + C(subj)", "item": "0 + C(item)"}))


def test_crossed_with_uncorrelated_slope():
    df = make_crossed()
    model = mixedlm("y ~ x + (1 + x||subj) + (1|item)", df)
    assert model.n_groups == 1 and model.exog_vc.names == ["item", "subj", "subj:x"]
    assert n_vc_columns(model, "subj:x") == 10
    same_fit(model, hand_built("y ~ x", df, groups=np.zeros(len(df)), vc_formula={
        "subj": "0 + C(subj)", "item": "0 + C(item)", "subj:x": "0 + C(subj):x"}))
    also = mixedlm("y ~ x + (1|subj) + (0 + x|subj) + (1|item)", df)
    assert also.exog_vc.names == model.exog_vc.names


def test_crossed_correlated_slopes_are_refused_with_the_nearest_model():
    df = make_crossed()
    msg = re.escape("cannot fit correlated random slopes for crossed factors")
    with pytest.raises(ValueError, match=msg) as err:
        mixedlm("y ~ x + (1 + x|subj) + (1|item)", df)
    assert "(1 + x||subj) + (1|item)" in str(err.value)
    with pytest.raises(ValueError, match=msg):
        mixedlm("y ~ x + (1 + x|subj) + (1 + x|item)", df)
    with pytest.raises(ValueError, match=re.escape("(1 + x|a) + (1 + x||a:b)")):
        mixedlm("y ~ x + (1 + x|a/b)", make_nested())


@pytest.mark.parametrize("kind", ["int", "float", "str", "category"])
def test_grouping_columns_of_any_dtype(kind):
    df = make_nested()
    labels = {"int": df["b"], "float": df["b"] + 0.5, "str": "k" + df["b"].astype(str),
              "category": pd.Categorical(df["b"], categories=[0, 1, 2, 3, 9])}
    df["b"] = labels[kind]
    df["a"] = df["a"].astype(float) if kind == "float" else df["a"]
    if kind == "category":
        df["a"] = pd.Categorical(df["a"], categories=list(range(12)))
    before = df.copy()
    model = mixedlm("y ~ x + (1|a/b)", df)
    assert model.n_groups == 10
    assert [mat.shape[1] for mat in model.exog_vc.mats[0]] == [3] * 10
    pd.testing.assert_frame_equal(df, before)  # the caller's frame is untouched
    crossed = mixedlm("y ~ x + (1|b) + (0 + x|a)", df)
    assert n_vc_columns(crossed, "b") == 3 and n_vc_columns(crossed, "a:x") == 10


# ---------------------------------------------------------------- missing values


def test_missing_values_are_dropped_with_a_warning():
    df = DF.copy()
    df.loc[[0, 5], "x"] = np.nan
    df.loc[7, "subj"] = np.nan
    df.loc[5, "item"] = np.nan  # same row as an x already missing
    df.loc[9, "cls"] = np.nan  # not used by the model
    before = df.copy()
    with pytest.warns(MissingValuesDropped, match=r"dropped 3 of 96 rows") as rec:
        model = mixedlm("y ~ x + (1|subj) + (1|item)", df)
    text = str(rec[0].message)
    assert "'x' (2)" in text and "'subj' (1)" in text and "'item' (1)" in text
    assert "cls" not in text
    assert issubclass(MissingValuesDropped, UserWarning)
    assert model.nobs == 93
    pd.testing.assert_frame_equal(df, before)
    with pytest.raises(ValueError, match="'x' \\(2\\)"):
        mixedlm("y ~ x + (1|subj)", df, missing="raise")


def test_no_warning_without_missing_values():
    df = DF.copy()
    df.loc[3, "cls"] = np.nan  # a column the model does not use
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        model = mixedlm("y ~ x + (1|subj)", df)
    assert model.nobs == len(df)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("formula, culprit", [
    ("y ~ x + ( | subj)", "( | subj)"),
    ("y ~ x + (1|)", "(1|)"),
    ("y ~ x + ()", "()"),
    ("y ~ x + (1|||subj)", "(1|||subj)"),
    ("y ~ x + (1|subj|item)", "(1|subj|item)"),
    ("y ~ x + (1 subj)", "(1 subj)"),
    ("y ~ x + 1|subj", "1|subj"),
    ("y ~ x + (0|subj)", "(0|subj)"),
    ("y ~ x + (1|subj + item)", "subj + item"),
    ("y ~ x - (1|subj)", "(1|subj)"),
    ("y ~ x + (1|subj) + (1 + x|subj)", "(1 + x|subj)"),
    ("y ~ x", "(1|subject)"),
    ("y ~ x", "statsmodels.formula.api.ols"),
    ("y x + (1|subj)", "~"),
    ("y ~ x ~ z + (1|subj)", "~"),
    ("cond ~ x + (1|subj)", "'cond'"),
    ("y ~ x + (1|subj", "position 8"),
    ("y ~ x + 1|subj)", "position 14"),
    ("y ~ C(cond]) + (1|subj)", "position 10"),
])
def test_bad_formulas_raise_value_error_naming_the_culprit(formula, culprit):
    with pytest.raises(ValueError, match=re.escape(culprit)):
        mixedlm(formula, DF)


@pytest.mark.parametrize("formula, culprit", [
    ("y ~ xx + (1|subj)", "'xx'"),
    ("y ~ C(kond) + (1|subj)", "'kond'"),
    ("y ~ x + (1 + zz|subj)", "'zz'"),
    ("y ~ x + (1|subject)", "'subject'"),
    ("y ~ x + (1|school/klass)", "'klass'"),
    ("why ~ x + (1|subj)", "'why'"),
])
def test_unknown_columns_raise_key_error_listing_the_columns(formula, culprit):
    with pytest.raises(KeyError, match=re.escape(culprit)) as err:
        mixedlm(formula, DF)
    assert "'subj', 'item'" in str(err.value)


def test_data_must_be_a_data_frame():
    with pytest.raises(ValueError, match="DataFrame"):
        mixedlm("y ~ x + (1|subj)", DF.to_dict("list"))


def test_formula_arguments_cannot_be_given_twice():
    with pytest.raises(ValueError, match="groups"):
        mixedlm("y ~ x + (1|subj)", DF, groups="subj")


# ---------------------------------------------------------------- property tests

PDF = simulate(1, n_subj=8, n_item=5)

FIXED = ["1", "x", "cond", "x*cond", "x + cond", "C(cond)*x", "x - 1", "0 + cond",
         "np.log(x2) + x", "I(x**2) + x"]
GROUPS = ["subj", "item", "school"]


def levels(grouping):
    return PDF.groupby(list(grouping)).ngroups


def nested_in(inner, outer):
    return PDF.groupby(list(inner))[outer].nunique().max() == 1


@st.composite
def valid_formulas(draw):
    """(formula, blocks, correlated_grouping): blocks are lme4's (grouping, n columns)."""
    sp = draw(st.sampled_from(["", " "]))
    g = draw(st.sampled_from(GROUPS))
    first = draw(st.sampled_from([
        ("(1|{g})", [((g,), 1)]),
        ("(1 + x|{g})", [((g,), 2)]),
        ("(x|{g})", [((g,), 2)]),
        ("(0 + x|{g})", [((g,), 1)]),
        ("(-1 + x|{g})", [((g,), 1)]),
        ("(x - 1|{g})", [((g,), 1)]),
        ("(1 + x||{g})", [((g,), 1), ((g,), 1)]),
        ("(0 + x + x2||{g})", [((g,), 1), ((g,), 1)]),
        ("(1 + cond|{g})", [((g,), 3)]),
        ("(1 + x + x2|{g})", [((g,), 3)]),
    ]))
    terms = [first[0].format(g=g)]
    blocks = list(first[1])
    nested_school = False  # is (1|school) already in the formula, via school/cls?
    if draw(st.booleans()):  # classes nested in schools
        nested = draw(st.sampled_from([
            ("(1|school/cls)", [(("school",), 1), (("school", "cls"), 1)]),
            ("(1|school:cls)", [(("school", "cls"), 1)]),
            ("(0 + x|school:cls)", [(("school", "cls"), 1)]),
        ]))
        if g == "school" and nested[0].startswith("(1|school/"):
            nested = ("(1|school:cls)", [(("school", "cls"), 1)])
        terms.append(nested[0])
        blocks += nested[1]
        nested_school = nested[0].startswith("(1|school/")
    others = [h for h in GROUPS if h != g and not (h == "school" and nested_school)]
    for other in draw(st.lists(st.sampled_from(others) if others else st.nothing(),
                               unique=True, max_size=2)):
        extra = draw(st.sampled_from([
            ("(1|{h})", [((other,), 1)]),
            ("(0 + x|{h})", [((other,), 1)]),
            ("(1 + x||{h})", [((other,), 1), ((other,), 1)]),
        ]))
        terms.append(extra[0].format(h=other))
        blocks += extra[1]
    terms = draw(st.permutations(terms))
    fixed = draw(st.sampled_from(FIXED))
    formula = f"y{sp}~{sp}{fixed}{sp}+{sp}" + f"{sp}+{sp}".join(terms)
    if sp:
        formula = formula.replace("|", " | ").replace(" |  | ", " || ")
    return formula, fixed, blocks


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_formulas())
def test_valid_formulas_give_lme4_shapes(case):
    formula, fixed, blocks = case
    correlated = [b for b in blocks if b[1] > 1]
    expressible = all(
        set(b[0]) >= set(correlated[0][0]) or nested_in(b[0], correlated[0][0][0])
        for b in blocks
    ) if correlated else True
    if not expressible:
        with pytest.raises(ValueError, match="cannot fit correlated random slopes"):
            mixedlm(formula, PDF)
        return
    model = mixedlm(formula, PDF)
    # fixed effects: exactly patsy's columns for the fixed part
    assert model.exog_names == patsy.dmatrix(fixed, PDF).design_info.column_names
    # random effects: as many coefficients as lme4's Z has columns ...
    n_coef = model.n_groups * model.k_re + sum(
        m.shape[1] for mats in model.exog_vc.mats for m in mats)
    assert n_coef == sum(levels(grouping) * k for grouping, k in blocks)
    # ... and as many variance parameters as lme4's theta
    n_var = model.k_re * (model.k_re + 1) // 2 + len(model.exog_vc.names)
    assert n_var == sum(k * (k + 1) // 2 for _, k in blocks)
    if correlated:  # the correlated block is statsmodels' re_formula for its factor
        (grouping, k), = correlated
        assert model.k_re == k and model.n_groups == levels(grouping)
        assert model.exog_re.shape == (len(PDF), k)
    groupings = {b[0] for b in blocks}
    if len(groupings) == 1:
        assert model.n_groups == levels(next(iter(groupings)))
    if {("subj",), ("item",)} <= groupings and not correlated:
        assert model.n_groups == 1 and model.k_re == 0
        for name in ("subj", "item"):
            if name in model.exog_vc.names:
                assert n_vc_columns(model, name) == levels((name,))


EMPTY_TERMS = ["()", "( )", "( | subj)", "(1|)", "(|)", "(1 ||)", "(|| subj)", "(1|||subj)"]


@st.composite
def broken_formulas(draw):
    formula, _, _ = draw(valid_formulas())
    how = draw(st.sampled_from(["drop paren", "add paren", "triple bar", "empty term",
                                "no tilde", "no random", "stray bar", "unknown column"]))
    if how == "drop paren":
        spots = [i for i, ch in enumerate(formula) if ch in "()"]
        i = draw(st.sampled_from(spots))
        return formula[:i] + formula[i + 1:]
    if how == "add paren":
        i = draw(st.integers(0, len(formula)))
        return formula[:i] + draw(st.sampled_from("()")) + formula[i:]
    if how == "triple bar":
        i = formula.index("|")
        return formula[:i] + "||" + formula[i:]
    if how == "empty term":
        return formula + " + " + draw(st.sampled_from(EMPTY_TERMS))
    if how == "no tilde":
        return formula.replace("~", draw(st.sampled_from(["", "=", "-"])))
    if how == "no random":
        return formula.split("(")[0].rstrip(" +")
    if how == "stray bar":
        spots = [i for i in range(len(formula) + 1)
                 if "|" not in formula[max(i - 1, 0):i + 1]]
        i = draw(st.sampled_from(spots))
        return formula[:i] + "|" + formula[i:]
    name = draw(st.sampled_from([n for n in ["y", "x", "subj", "item", "school", "cls"]
                                 if n in formula]))
    return formula.replace(name, name + "q", 1)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(broken_formulas())
def test_malformed_formulas_raise_value_or_key_error(formula):
    with pytest.raises((ValueError, KeyError)):
        mixedlm(formula, PDF)


# ---------------------------------------------------------------- more syntax


def test_three_level_nesting_counts_only_observed_combinations():
    model = mixedlm("y ~ x + (1|school/subj/cls)", DF)
    assert model.n_groups == 4 and model.k_re == 1
    assert model.exog_vc.names == ["school:subj", "school:subj:cls"]
    assert n_vc_columns(model, "school:subj") == DF["subj"].nunique()
    assert n_vc_columns(model, "school:subj:cls") == DF.groupby(["subj", "cls"]).ngroups
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = hand_built("y ~ x", DF, groups="school", re_formula="1", vc_formula={
            "subj": "0 + C(subj)", "cls": "0 + C(subj):C(cls)"}).fit()
        fit = model.fit()
    assert fit.llf == pytest.approx(ref.llf, abs=1e-4)


def test_column_names_that_need_quoting():
    df = DF.rename(columns={"y": "my y", "subj": "sub id"})
    model = mixedlm('Q("my y") ~ x + (1 + x|Q("sub id"))', df)
    assert model.n_groups == 12 and model.k_re == 2
    crossed = mixedlm('Q("my y") ~ x + (1|Q("sub id")) + (1|item)', df)
    assert crossed.exog_vc.names == ["item", "sub id"]
    with pytest.raises(KeyError, match="sub idd"):
        mixedlm('Q("my y") ~ x + (1|Q("sub idd"))', df)


def test_variables_from_the_callers_namespace():
    k = 3.0
    model = mixedlm("y ~ I(x * k) + np.log(x2) + (1|subj)", DF)
    assert model.exog_names == ["Intercept", "I(x * k)", "np.log(x2)"]
    np.testing.assert_allclose(model.exog[:, 1], 3 * DF["x"])


def test_subset_and_pass_through_arguments():
    model = mixedlm("y ~ x + (1|subj) + (1|item)", DF, subset=DF["item"] < 4, use_sparse=True)
    assert model.nobs == (DF["item"] < 4).sum()
    assert n_vc_columns(model, "item") == 4


def test_random_terms_metadata():
    model = mixedlm("y ~ x + (1 + x||subj) + (1|school/cls)", DF)
    assert [str(t) for t in model._random_terms] == [
        "(1 + x||subj)", "(1|school)", "(1|school:cls)"]
    first = model._random_terms[0]
    assert first.grouping == ("subj",) and first.slopes == ("x",) and not first.correlated
    # subjects are nested in schools in DF, so school serves as statsmodels' groups
    assert model._statsmodels_args["groups"] == "school"
    assert model._statsmodels_args["vc_formula"] == {
        "subj": "0 + C(subj)", "subj:x": "0 + C(subj):x", "school:cls": "0 + C(cls)"}
    crossed = mixedlm("y ~ x + (1|subj) + (1|item)", DF)
    assert crossed._statsmodels_args["groups"] is None  # one group of all rows


def test_two_correlated_blocks_for_one_factor_are_refused():
    with pytest.raises(ValueError, match=re.escape("(1 + x|subj) + (0 + x2||subj)")):
        mixedlm("y ~ x + (1 + x|subj) + (0 + x2 + cond|subj)", DF)
    # cond under || keeps its covariance matrix (as in lme4): a second block on subj
    with pytest.raises(ValueError, match=re.escape("(1 + x|subj) + (0 + x2||subj) + "
                                                   "(1|subj:cond)")):
        mixedlm("y ~ x + (1 + x|subj) + (0 + x2 + cond||subj)", DF)
    model = mixedlm("y ~ x + (1 + x|subj) + (0 + x2||subj) + (1|subj:cond)", DF)
    assert model.k_re == 2 and model.exog_vc.names == ["subj:cond", "x2"]


# ------------------------------------------------- R habits: factor(), keyword columns


def oats_like(seed: int = 3) -> pd.DataFrame:
    """nlme's Oats shape: a response called ``yield`` (a Python keyword), nitrogen in
    4 doses within 6 blocks, and a column called ``class``."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"Block": np.repeat([f"b{i}" for i in range(6)], 8),
                       "nitro": np.tile([0.0, 0.2, 0.4, 0.6], 12),
                       "class": np.tile(np.repeat(["u", "v"], 4), 6)})
    df["yield"] = (80 + 70 * df["nitro"] + 3 * (df["class"] == "v")
                   + np.repeat(rng.normal(0, 8, 6), 8) + rng.normal(0, 5, len(df)))
    return df


@pytest.mark.filterwarnings(FIT_WARNINGS)
def test_lme4_formula_with_keyword_column_and_factor_works_as_written():
    oats = oats_like()
    model = mixedlm("yield ~ factor(nitro) + class + (1|Block)", oats)
    assert model.formula == "Q('yield') ~ C(nitro) + Q('class')"
    by_hand = mixedlm("Q('yield') ~ C(nitro) + Q('class') + (1|Block)", oats)
    assert model.exog_names == by_hand.exog_names
    np.testing.assert_array_equal(model.endog, oats["yield"].to_numpy())
    same_fit(model, by_hand)
    # as.factor, a keyword column inside a random slope and as a grouping factor
    assert mixedlm("yield ~ as.factor(nitro) + (1|Block)", oats).exog_names == [
        "Intercept", "C(nitro)[T.0.2]", "C(nitro)[T.0.4]", "C(nitro)[T.0.6]"]
    slope = mixedlm("yield ~ nitro + (1 + class|Block)", oats)
    assert slope._statsmodels_args["re_formula"] == "1 + Q('class')"
    assert mixedlm("yield ~ nitro + (1|class)", oats).n_groups == 2
    # helpers.anova reads the rewritten formula
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = helpers.anova(model.fit())
    assert list(table.index) == ["C(nitro)", "Q('class')"]
    # strings are left alone, and a function of the caller called factor wins
    assert mixedlm("yield ~ C(class, levels=['v', 'u']) + (1|Block)", oats).exog_names[1] == (
        "C(Q('class'), levels=['v', 'u'])[T.u]")

    def factor(x):
        return x * 2
    assert mixedlm("yield ~ factor(nitro) + (1|Block)", oats).exog_names == [
        "Intercept", "factor(nitro)"]


def test_r_habits_that_cannot_be_rewritten_say_what_to_write():
    oats = oats_like().rename(columns={"yield": "yld"})
    # a keyword that is not a column
    with pytest.raises(ValueError, match=r"(?s)'yield' is a Python keyword.*Q\('yield'\)"):
        mixedlm("yield ~ nitro + (1|Block)", oats)
    with pytest.raises(ValueError, match=r"'lambda' is a Python keyword.*Q\('lambda'\)"):
        mixedlm("yld ~ nitro + lambda + (1|Block)", oats)
    # R functions patsy does not know
    with pytest.raises(ValueError, match=r"'log'.*not defined.*np\.log\(x\)"):
        mixedlm("log(yld) ~ nitro + (1|Block)", oats)
    with pytest.raises(ValueError, match=r"'poly'.*I\(x\*\*2\)"):
        mixedlm("yld ~ poly(nitro, 2) + (1|Block)", oats)
    with pytest.raises(ValueError, match=r"'foo' \(used in the random term.*not defined"):
        mixedlm("yld ~ nitro + (1 + foo(nitro)|Block)", oats)
