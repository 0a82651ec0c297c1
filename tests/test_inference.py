"""Tests of helpers.core.inference.anova that need no R.

The comparison with lmerTest itself lives with the committed R reference
values (data/reference/); here we check properties that must hold anyway:
invariance to the contrast coding, agreement with the classical mixed ANOVA
on a balanced design, F = z^2 for one-column terms, the boundary case of the
seed data, the deviance function, and clear errors.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf

import helpers
from helpers.core.inference import _VarParModel, _type3_contrasts, anova, type3_contrasts


def _fit(formula, data, reml=True, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return smf.mixedlm(formula, data, **kw).fit(reml=reml)


# ---------------------------------------------------------------------------
# data sets simulated with a fixed seed
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def within_unbalanced():
    """Two within-subject factors (2 x 3), replicates, 20% of rows dropped."""
    rng = np.random.default_rng(20240601)
    rows = []
    for s in range(20):
        u0, u1 = rng.normal(0, 1.0), rng.normal(0, 0.7)
        for a in ["a1", "a2"]:
            for b in ["b1", "b2", "b3"]:
                for _ in range(2):
                    y = (10 + (a == "a2") * (0.5 + u1) + {"b1": 0, "b2": 0.3, "b3": -0.4}[b]
                         + 0.4 * (a == "a2") * (b == "b3") + u0 + rng.normal(0, 1))
                    rows.append((f"s{s:02d}", a, b, y))
    d = pd.DataFrame(rows, columns=["subj", "A", "B", "y"])
    keep = np.sort(rng.choice(len(d), size=int(0.8 * len(d)), replace=False))
    return d.iloc[keep].reset_index(drop=True)


@pytest.fixture(scope="module")
def mixed_unbalanced():
    """A 3-level between factor with unequal group sizes x a 2-level within factor."""
    rng = np.random.default_rng(7)
    rows = []
    sizes = {"g1": 5, "g2": 8, "g3": 6}
    s = 0
    for g, n in sizes.items():
        for _ in range(n):
            u = rng.normal(0, 0.8)
            for w in ["w1", "w2"]:
                for _ in range(int(rng.integers(1, 4))):
                    y = 3 + {"g1": 0, "g2": 0.4, "g3": -0.2}[g] + 0.5 * (w == "w2") + u + rng.normal(0, 1)
                    rows.append((f"s{s:02d}", g, w, y))
            s += 1
    return pd.DataFrame(rows, columns=["subj", "G", "W", "y"])


@pytest.fixture(scope="module")
def crossed():
    """Subjects x items, one constant group, two variance components, 10% rows dropped."""
    rng = np.random.default_rng(11)
    su, it = rng.normal(0, 0.8, 16), rng.normal(0, 0.5, 10)
    rows = []
    for s in range(16):
        for i in range(10):
            cond = "c1" if (s + i) % 2 == 0 else "c2"
            grp = "g1" if s < 8 else "g2"
            rows.append((f"s{s:02d}", f"i{i:02d}", cond, grp,
                         1 + 0.4 * (cond == "c2") + 0.3 * (grp == "g2") + su[s] + it[i] + rng.normal(0, 1)))
    d = pd.DataFrame(rows, columns=["subj", "item", "cond", "grp", "y"])
    keep = np.sort(rng.choice(len(d), size=int(0.9 * len(d)), replace=False))
    d = d.iloc[keep].reset_index(drop=True)
    d["one"] = 1
    return d


@pytest.fixture(scope="module")
def pingouin_data():
    pg = pytest.importorskip("pingouin")
    return pg.read_dataset("mixed_anova")


# ---------------------------------------------------------------------------
# (a) invariance to the contrast coding
# ---------------------------------------------------------------------------
CODING_CASES = {
    "within_slopes": ("y ~ C(A)*C(B)", "y ~ C(A, Sum)*C(B, Sum)",
                      dict(groups="subj", re_formula="1 + C(A)"), "within_unbalanced"),
    "between_within": ("y ~ C(G)*C(W)", "y ~ C(G, Sum)*C(W, Sum)",
                       dict(groups="subj"), "mixed_unbalanced"),
    "crossed_vc": ("y ~ C(cond)*C(grp)", "y ~ C(cond, Sum)*C(grp, Sum)",
                   dict(groups="one", re_formula="0",
                        vc_formula={"subj": "0 + C(subj)", "item": "0 + C(item)"}), "crossed"),
}


@pytest.mark.parametrize("reml", [True, False], ids=["REML", "ML"])
@pytest.mark.parametrize("case", sorted(CODING_CASES))
def test_same_result_with_treatment_and_sum_coding(case, reml, request):
    treat, summ, kw, fixture = CODING_CASES[case]
    data = request.getfixturevalue(fixture)
    a = anova(_fit(treat, data, reml=reml, **kw))
    b = anova(_fit(summ, data, reml=reml, **kw))
    assert list(a.columns) == ["NumDF", "DenDF", "F", "p"]
    assert len(a) == len(b) == 3
    np.testing.assert_array_equal(a["NumDF"].to_numpy(), b["NumDF"].to_numpy())
    for col in ["DenDF", "F", "p"]:
        np.testing.assert_allclose(a[col].to_numpy(), b[col].to_numpy(), rtol=1e-6, err_msg=col)


def test_index_is_patsy_term_names(within_unbalanced):
    res = _fit("y ~ C(A)*C(B)", within_unbalanced, groups="subj")
    table = anova(res)
    assert list(table.index) == ["C(A)", "C(B)", "C(A):C(B)"]
    assert table["NumDF"].tolist() == [1, 2, 2]
    assert (table["DenDF"] > 1).all() and (table["DenDF"] < len(within_unbalanced)).all()
    assert ((table["p"] > 0) & (table["p"] < 1)).all()


def test_type3_hypotheses_with_sum_coding_are_the_term_columns(mixed_unbalanced):
    """With sum-to-zero coding of a full factorial, Type III = test of the term's columns."""
    res = _fit("y ~ C(G, Sum)*C(W, Sum)", mixed_unbalanced, groups="subj")
    spec = res.model.data.model_spec
    slices = {t.name(): spec.term_slices[t] for t in spec.terms}
    k = len(res.fe_params)
    for term, L in type3_contrasts(res).items():
        cols = np.arange(k)[slices[term]]
        outside = np.setdiff1d(np.arange(k), cols)
        assert np.allclose(L[:, outside], 0, atol=1e-8), term
        assert np.linalg.matrix_rank(L[:, cols]) == len(cols), term


# ---------------------------------------------------------------------------
# (b) balanced mixed design: the classical mixed ANOVA (pingouin)
# ---------------------------------------------------------------------------
def test_balanced_mixed_design_matches_pingouin(pingouin_data):
    pg = pytest.importorskip("pingouin")
    classical = pg.mixed_anova(data=pingouin_data, dv="Scores", within="Time",
                               between="Group", subject="Subject").set_index("Source")
    res = _fit("Scores ~ C(Time)*C(Group)", pingouin_data, groups="Subject")
    table = anova(res)
    pairs = {"Group": "C(Group)", "Time": "C(Time)", "Interaction": "C(Time):C(Group)"}
    for source, term in pairs.items():
        assert table.loc[term, "NumDF"] == classical.loc[source, "DF1"]
        np.testing.assert_allclose(table.loc[term, "DenDF"], classical.loc[source, "DF2"], rtol=1e-4)
        np.testing.assert_allclose(table.loc[term, "F"], classical.loc[source, "F"], rtol=1e-4)
        np.testing.assert_allclose(table.loc[term, "p"], classical.loc[source, "p_unc"], rtol=1e-4)


# ---------------------------------------------------------------------------
# (c) a single-column term: F = z^2
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("reml", [True, False], ids=["REML", "ML"])
def test_single_column_term_F_is_wald_z_squared(pingouin_data, reml):
    res = _fit("Scores ~ C(Group)", pingouin_data, reml=reml, groups="Subject")
    table = anova(res)
    z = res.tvalues["C(Group)[T.Meditation]"]
    assert table.loc["C(Group)", "NumDF"] == 1
    np.testing.assert_allclose(table.loc["C(Group)", "F"], z**2, rtol=1e-8)
    assert 1 < table.loc["C(Group)", "DenDF"] < len(pingouin_data)


def test_numeric_covariate_terms(within_unbalanced):
    d = within_unbalanced.copy()
    d["x"] = np.random.default_rng(3).normal(size=len(d))
    a = anova(_fit("y ~ x*C(B)", d, groups="subj", re_formula="1 + x"))
    b = anova(_fit("y ~ x*C(B, Sum)", d, groups="subj", re_formula="1 + x"))
    assert a["NumDF"].tolist() == [1, 2, 2]  # formula order: x, C(B), x:C(B)
    assert list(a.index) == ["x", "C(B)", "x:C(B)"]
    np.testing.assert_allclose(a["F"].to_numpy(), b["F"].to_numpy(), rtol=1e-6)
    assert np.isfinite(a.to_numpy(dtype=float)).all()


# ---------------------------------------------------------------------------
# (d) the seed data: subject variance on the boundary
# ---------------------------------------------------------------------------
def test_boundary_fit_on_seed_data_is_finite_with_residual_df():
    df = helpers.load("seed_toy")
    res = _fit("dependent_var ~ C(Condition_1)*C(Condition_2)", df, groups="participant_ID")
    assert float(res.cov_re.iloc[0, 0]) < 1e-6  # the estimate is (numerically) 0
    table = anova(res)
    assert np.isfinite(table.to_numpy(dtype=float)).all()
    np.testing.assert_allclose(table["DenDF"].to_numpy(), 12.0, atol=1e-3)
    # with a zero variance the model is the linear model: same F as OLS type III
    ols = smf.ols("dependent_var ~ C(Condition_1, Sum)*C(Condition_2, Sum)", df).fit()
    ols_f = sm.stats.anova_lm(ols, typ=3)["F"].iloc[1:4].to_numpy()
    np.testing.assert_allclose(table["F"].to_numpy(), ols_f, rtol=1e-6)


def test_boundary_fit_on_seed_data_ml():
    df = helpers.load("seed_toy")
    res = _fit("dependent_var ~ C(Condition_1)*C(Condition_2)", df, reml=False, groups="participant_ID")
    table = anova(res)
    np.testing.assert_allclose(table["DenDF"].to_numpy(), 16.0, atol=1e-3)


# ---------------------------------------------------------------------------
# the deviance as a function of lme4's (theta, sigma)
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("reml", [True, False], ids=["REML", "ML"])
@pytest.mark.parametrize("case", ["within_slopes", "crossed_vc"])
def test_deviance_at_estimate_is_minus_twice_llf(case, reml, request):
    treat, _, kw, fixture = CODING_CASES[case]
    res = _fit(treat, request.getfixturevalue(fixture), reml=reml, **kw)
    vp = _VarParModel(res)
    np.testing.assert_allclose(vp.deviance(vp.varpar_hat), -2 * res.llf, rtol=1e-8)
    np.testing.assert_allclose(vp.gls_beta(vp.varpar_hat), res.fe_params, rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------------------
# (e) errors
# ---------------------------------------------------------------------------
def test_not_a_mixedlm_result_raises():
    with pytest.raises(ValueError, match="str"):
        anova("y ~ x")
    ols = smf.ols("dependent_var ~ C(Condition_1)", helpers.load("seed_toy")).fit()
    with pytest.raises(ValueError, match="RegressionResults"):
        anova(ols)


def test_model_without_formula_raises():
    df = helpers.load("seed_toy")
    exog = sm.add_constant(df["Condition_1"].to_numpy(dtype=float))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sm.MixedLM(df["dependent_var"].to_numpy(), exog, groups=df["participant_ID"]).fit()
    with pytest.raises(ValueError, match="formula"):
        anova(res)


def test_aliased_fixed_effects_raise():
    df = helpers.load("seed_toy").assign(twice=lambda d: 2 * d["Condition_1"])
    model = smf.mixedlm("dependent_var ~ Condition_1 + twice", df, groups="participant_ID")
    with pytest.raises(ValueError, match="rank deficient"):
        _type3_contrasts(model)


def test_single_term_models_use_lmertests_type1_rows():
    """With one term, lmerTest tests Doolittle rows of X'X (not the identity); the F is the
    same either way but the Satterthwaite df of a multi-row test are not (about 0.3% here)."""
    import json
    from pathlib import Path

    import scipy.linalg

    from helpers.core.inference import type3_contrasts

    root = Path(__file__).resolve().parent.parent / "data" / "reference"
    d = pd.read_csv(root / "cases" / "dropout_mar.csv")
    ref = json.loads((root / "dropout_mar.json").read_text())
    res = helpers.mixedlm("y ~ time + (1|subject)", d).fit()
    L = type3_contrasts(res)["time"]
    x = np.asarray(res.model.exog)
    _, lower, _ = scipy.linalg.lu(x.T @ x)  # no pivoting is needed for this positive-definite X'X
    np.testing.assert_allclose(L, lower.T[1:], atol=1e-10)
    table = anova(res)
    assert table.loc["time", "DenDF"] == pytest.approx(ref["anova"]["DenDF"][0], rel=1e-4)
    assert table.loc["time", "F"] == pytest.approx(ref["anova"]["F"][0], rel=1e-4)


# ---------------------------------------------------------------------------
# row order: R's terms() order, as lmerTest and afex print the table
# ---------------------------------------------------------------------------
# attr(terms(formula), "term.labels") in R 4.2 for each formula (main effects first,
# then two-way interactions, ..., each order in the order of first appearance)
R_TERM_LABELS = {
    "y ~ A*B + G": ["A", "B", "G", "A:B"],
    "y ~ x + A:B + A + B": ["x", "A", "B", "A:B"],
    "y ~ A*B*G": ["A", "B", "G", "A:B", "A:G", "B:G", "A:B:G"],
    "y ~ G*A + x": ["G", "A", "x", "G:A"],
}


@pytest.mark.parametrize("formula", sorted(R_TERM_LABELS))
def test_rows_follow_r_term_order(within_unbalanced, formula):
    d = within_unbalanced.copy()
    rng = np.random.default_rng(5)
    d["G"] = d["subj"].map({s: f"g{i % 2}" for i, s in enumerate(sorted(d["subj"].unique()))})
    d["x"] = rng.normal(size=len(d))
    table = anova(_fit(formula, d, groups="subj"))
    assert list(table.index) == R_TERM_LABELS[formula]


def test_rows_order_follows_the_stored_r_references():
    """Every stored lmerTest table (data/reference/*.json) lists its terms in the order
    helpers.anova gives for the same formula's fixed part."""
    from pathlib import Path

    from helpers.core.inference import _formula_order

    class _Model:  # _formula_order reads only the formula
        def __init__(self, formula):
            self.formula = formula

    ref_dir = Path(helpers.core.data.DATA_DIR) / "reference"
    checked = 0
    for path in sorted(ref_dir.glob("*.json")):
        ref = helpers.r_reference(path.stem)
        terms = ref["anova"]["term"]
        if len(terms) < 2:
            continue
        fixed = ref["formula"].split("(")[0].rstrip(" +")  # the fixed part comes first
        shuffled = list(reversed(terms))
        assert _formula_order(_Model(fixed), shuffled) == terms, path.name
        checked += 1
    assert checked >= 3
