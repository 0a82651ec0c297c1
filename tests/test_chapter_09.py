"""Chapter 9 (nested and other structures): the numbers it states, and R's numbers for its fits.

The nested fits are compared with lme4/lmerTest's output stored in data/reference/nested.json
and nested_explicit.json (the same data, from the same call of helpers.simulate_nested), at the
book's tolerances: fixed effects and SDs 0.1 % (relative to the residual SD near 0), REML
log-likelihood 0.01, F and DenDF 1 %, p 0.002.
"""
from __future__ import annotations

import json
import math

import pytest

from conftest import ROOT, error_outputs, executed

STEM = "09_nested_structures"
REFERENCE = ROOT / "data" / "reference"


def _sds(fit: str) -> str:
    return (f"{{'school': float(np.sqrt({fit}.cov_re.iloc[0, 0])), "
            f"'class': float(np.sqrt({fit}.vcomp[0])), 'residual': float(np.sqrt({fit}.scale))}}")


PROBES = {
    STEM: {
        "n_pupils": "len(pupils)",
        "n_class_labels": "int(pupils['class'].nunique())",
        "n_classes": "int(pupils['class_id'].nunique())",
        "design_labels": "helpers.describe_design(pupils, 'school', ['class', 'sector'])['design'].to_dict()",
        "design_ids": "helpers.describe_design(pupils, 'school', ['class_id', 'sector'])['design'].to_dict()",
        "nested_args": "nested_model._statsmodels_args",
        "same_args": "explicit_model._statsmodels_args == nested_model._statsmodels_args",
        # the fit written in statsmodels' arguments, from lme4's formula, and spelled out
        "fits": "{name: {'llf': f.llf, 'fe': f.fe_params.to_dict(), 'sd': sd} for name, f, sd in ["
                f"('statsmodels', nested, {_sds('nested')}), "
                f"('lme4_formula', from_lme4, {_sds('from_lme4')}), "
                f"('explicit', explicit, {_sds('explicit')})]}}",
        "trap_llf": "trap.llf",
        "trap_cov_re_shape": "list(trap.cov_re.shape)",
        "trap_class_var": "float(trap.vcomp[0])",
        "trap_scale": "trap.scale",
        "classes_only_llf": "classes_only.llf",
        "classes_only_groups": "len(classes_only.model.group_labels)",
        "side": "side.to_dict()",
        "anova_correct": "helpers.anova(nested).reset_index().to_dict('list')",
        "anova_trap": "helpers.anova(trap).reset_index().to_dict('list')",
        "anova_nested": "helpers.anova(from_lme4).reset_index().to_dict('list')",
        "school_means_anova": "pg.anova(school_means, dv='y', between='sector')[['ddof1', 'ddof2', 'F', 'p_unc']].iloc[0].to_dict()",
        "icc_school": "icc_school",
        "icc_class": "icc_class",
        "sds_table": "sds.to_dict('list')",
        "slopes_vc": "slopes_vc[['vcov', 'sdcor']].to_dict('list')",
        "slopes_x": "float(slopes.fe_params['x'])",
        "slopes_structure": ("[int(slopes.model.k_re), int(slopes.model.k_vc),"
                             " list(slopes.model.exog_vc.names)]"),
        "slopes_llf": "float(slopes.llf)",
        "table": "table.reset_index().astype({'variances': float}).drop(columns='statsmodels').to_dict('records')",
        "table_code": "table['statsmodels'].reset_index().to_dict('records')",
        "rerun_gap": "float(np.max(np.abs(rerun - table.loc[rerun.index, 'llf'])))",
        "n_rerun": "len(rerun)",
        "nearest": "nearest.reset_index()[['data', 'formula', 'variances', 'llf']].astype({'variances': float}).to_dict('records')",
        "wrong_args": "wrong_model._statsmodels_args",
        "wrong_var": "helpers.varcorr(wrong).set_index('grp')['vcov'].to_dict()",
        "wrong_llf": "wrong.llf",
        "three_code": "helpers.statsmodels_call(three_model, data='three')",
        "three_dendf": "float(helpers.anova(three_fit)['DenDF'].iloc[0])",
        "three_district": "[float(three_fit.cov_re.iloc[0, 0]), float(np.sqrt(three_fit.scale) * np.asarray(three_fit.bse)[2])]",
        "three_se_sector": "float(three_fit.bse_fe['sector[T.public]'])",
        "coding_fits": "coding_fits",
    }
}

FE_NAMES = {"Intercept": "(Intercept)", "sector[T.public]": "sectorpublic"}
R_GROUPS = {"nested": {"school": "school", "class": "class:school", "residual": "Residual"},
            "nested_explicit": {"school": "school", "class": "school:class", "residual": "Residual"}}


def _reference(case: str) -> dict:
    return json.loads((REFERENCE / f"{case}.json").read_text())


def _close(python: float, r: float, sigma: float) -> bool:
    return abs(python - r) <= 1e-3 * max(abs(r), sigma)


@pytest.fixture(scope="module")
def values():
    nb, v = executed(STEM)
    assert error_outputs(nb) == []
    return v


# ------------------------------------------------------------------ the data and the design
@pytest.mark.slow
def test_repeated_labels_look_crossed_unique_labels_are_nested(values):
    assert values["n_pupils"] == 288
    assert values["n_class_labels"] == 3 and values["n_classes"] == 36
    assert values["design_labels"] == {"class": "within", "sector": "between"}
    assert values["design_ids"] == {"class_id": "nested", "sector": "between"}


@pytest.mark.slow
def test_the_translation_of_school_slash_class(values):
    assert values["nested_args"] == {
        "formula": "y ~ sector", "groups": "school", "re_formula": "1",
        "vc_formula": {"school:class": "0 + C(Q('class'))"},
    }
    assert values["same_args"] is True


# ------------------------------------------------------------------ against R
@pytest.mark.slow
@pytest.mark.parametrize("fit, case", [("statsmodels", "nested"), ("lme4_formula", "nested"),
                                       ("explicit", "nested_explicit")])
def test_nested_fit_matches_lme4(values, fit, case):
    ref = _reference(case)
    got = values["fits"][fit]
    sigma = ref["sigma"]
    assert got["llf"] == pytest.approx(ref["logLik"], abs=0.01)
    r_fe = dict(zip(ref["fixef"]["names"], ref["fixef"]["estimate"]))
    for name, value in got["fe"].items():
        assert _close(value, r_fe[FE_NAMES[name]], sigma), (name, value, r_fe[FE_NAMES[name]])
    r_sd = dict(zip(ref["varcorr"]["grp"], ref["varcorr"]["sdcor"]))
    for level, value in got["sd"].items():
        r = r_sd[R_GROUPS[case][level]]
        assert _close(value, r, sigma), (level, value, r)


@pytest.mark.slow
def test_sd_table_shows_lme4s_sds(values):
    ref = _reference("nested")
    r_sd = dict(zip(ref["varcorr"]["grp"], ref["varcorr"]["sdcor"]))
    table = values["sds_table"]
    assert table["lme4 SD"] == [r_sd["school"], r_sd["class:school"], r_sd["Residual"]]
    for py, r in zip(table["statsmodels SD"], table["lme4 SD"]):
        assert _close(py, r, ref["sigma"])


@pytest.mark.slow
def test_sector_test_matches_lmertest_and_the_school_means_anova(values):
    ref = _reference("nested")["anova"]
    for key in ("anova_nested", "anova_correct"):
        got = values[key]
        assert got["index"] == ["sector"] and got["NumDF"] == [1]
        assert got["F"][0] == pytest.approx(ref["F"][0], rel=0.01)
        assert got["DenDF"][0] == pytest.approx(ref["DenDF"][0], rel=0.01)
        assert got["p"][0] == pytest.approx(ref["p"][0], abs=0.002)
    # a school-level predictor: about (number of schools - 2) denominator df
    assert values["anova_nested"]["DenDF"][0] == pytest.approx(12 - 2, abs=0.1)
    means = values["school_means_anova"]
    assert (means["ddof1"], means["ddof2"]) == (1, 10)
    assert means["F"] == pytest.approx(values["anova_nested"]["F"][0], rel=1e-4)
    assert means["p_unc"] == pytest.approx(values["anova_nested"]["p"][0], abs=1e-4)


@pytest.mark.slow
def test_iccs_match_the_ones_from_lme4s_variances(values):
    ref = _reference("nested")
    var = dict(zip(ref["varcorr"]["grp"], ref["varcorr"]["vcov"]))
    total = var["school"] + var["class:school"] + var["Residual"]
    assert values["icc_school"] == pytest.approx(var["school"] / total, rel=2e-3)
    assert values["icc_class"] == pytest.approx((var["school"] + var["class:school"]) / total,
                                                rel=2e-3)
    assert values["icc_school"] < values["icc_class"]


# ------------------------------------------------------------------ the trap
@pytest.mark.slow
def test_vc_formula_alone_drops_the_school_level(values):
    ref = _reference("nested")
    correct = values["fits"]["statsmodels"]["llf"]
    trap = values["trap_llf"]
    assert trap < correct - 10
    assert correct == pytest.approx(ref["logLik"], abs=0.01)
    assert abs(trap - ref["logLik"]) > 10  # R's logLik is the correct model's, not the trap's
    assert values["trap_cov_re_shape"] == [0, 0]
    # it is (1 | school:class) alone
    assert values["classes_only_llf"] == pytest.approx(trap, abs=1e-4)
    assert values["classes_only_groups"] == 36                 # the classes are the groups
    # the class variance absorbs the school variance; the residual does not move
    side = values["side"]
    right, wrong = side["correct (re_formula='1')"], side["trap (vc_formula alone)"]
    assert wrong["class variance"] > 3 * right["class variance"]
    assert wrong["class variance"] > 0.8 * right["school variance"]
    assert math.isnan(wrong["school variance"])
    assert wrong["residual variance"] == pytest.approx(right["residual variance"], rel=1e-3)
    # overconfident: smaller SE of sector, about as many df as classes
    assert wrong["SE of sector[T.public]"] < 0.7 * right["SE of sector[T.public]"]
    assert values["anova_trap"]["DenDF"][0] == pytest.approx(36 - 2, abs=0.5)


# ------------------------------------------------------------------ re_formula + vc_formula
@pytest.mark.slow
def test_slopes_by_school_with_class_intercepts(values):
    # a correlated intercept and slope per school (re_formula), one class component
    assert values["slopes_structure"] == [2, 1, ["class"]]
    # the same model as helpers.mixedlm's translation of lme4's formula, in the table
    rows = {r["model"]: r for r in values["table"]}
    assert rows["slope plus nested intercept"]["vc_formula"] == {
        "school:class": "0 + C(Q('class'))"}
    assert values["slopes_llf"] == pytest.approx(rows["slope plus nested intercept"]["llf"],
                                                 abs=1e-3)
    sd = values["slopes_vc"]["sdcor"]
    assert len(sd) == 5
    # school SD, slope SD, correlation, class SD, residual SD near the simulated 1.0, 0.4, 0.3, 0.5, 1.0
    for got, true, tol in zip(sd, [1.0, 0.4, 0.3, 0.5, 1.0], [0.3, 0.15, 0.4, 0.2, 0.1]):
        assert got == pytest.approx(true, abs=tol)
    assert values["slopes_x"] == pytest.approx(0.5, abs=0.15)


# ------------------------------------------------------------------ the translation table
EXPECTED = {
    "random intercept": ("school", "1", {}, 1),
    "correlated intercept and slope": ("school", "1 + x", {}, 3),
    "slope only": ("school", "0 + x", {}, 1),
    "uncorrelated intercept and slope": ("school", "1", {"x": "0 + x"}, 2),
    "nested": ("school", "1", {"school:class": "0 + C(Q('class'))"}, 2),
    "nested, spelled out": ("school", "1", {"school:class": "0 + C(Q('class'))"}, 2),
    "nested, unique class labels": ("school", "1", {"class_id": "0 + C(class_id)"}, 2),
    "slope plus nested intercept": ("school", "1 + x", {"school:class": "0 + C(Q('class'))"}, 4),
    "crossed": (None, None, {"subject": "0 + C(subject)", "item": "0 + C(item)"}, 2),
    "crossed, slope as variance component": (
        None, None,
        {"subject": "0 + C(subject)", "subject:x": "0 + C(subject):x", "item": "0 + C(item)"}, 3),
}
CANNOT = {
    "correlated slopes at two levels": "y ~ x + (1 + x|school) + (1 + x||school:class)",
    "crossed, correlated slope": "y ~ x + (1 + x||subject) + (1|item)",
}


@pytest.mark.slow
def test_translation_table_has_a_row_per_formula(values):
    rows = {r["model"]: r for r in values["table"]}
    assert set(rows) == set(EXPECTED) | set(CANNOT)
    assert len(values["table"]) == len(EXPECTED) + len(CANNOT)
    for label, (groups, re_formula, vc_formula, n_var) in EXPECTED.items():
        row = rows[label]
        assert (row["groups"], row["re_formula"], row["vc_formula"]) == (
            groups, re_formula, vc_formula), label
        assert row["variances"] == n_var, label
        assert math.isfinite(row["llf"]) and row["converged"] is True, label
        assert row["error"] is None and row["nearest"] is None, label
        # helpers.lmer reaches the optimum statsmodels' best fit reaches
        assert row["lmer_llf"] == pytest.approx(row["llf"], abs=1e-3), label
    # the three spellings of nesting are one model
    nested = [rows[k]["llf"] for k in ("nested", "nested, spelled out", "nested, unique class labels")]
    assert max(nested) - min(nested) < 1e-6


@pytest.mark.slow
def test_rows_statsmodels_cannot_express_carry_the_error(values):
    rows = {r["model"]: r for r in values["table"]}
    for label, suggestion in CANNOT.items():
        row = rows[label]
        assert "statsmodels MixedLM cannot fit correlated random slopes" in row["error"]
        assert row["error"].rstrip().endswith(suggestion)
        assert row["nearest"] == suggestion
        assert row["groups"] is None and row["vc_formula"] == {} and math.isnan(row["llf"])
        # ... and helpers.lmer fits it, at least as well as the nearest model
        assert math.isfinite(row["lmer_llf"]), label
    nearest = {r["formula"]: r for r in values["nearest"]}
    assert set(nearest) == set(CANNOT.values())
    # the crossed suggestion is the table's variance-component row, with the same fit
    crossed = nearest[CANNOT["crossed, correlated slope"]]
    assert crossed["llf"] == pytest.approx(rows["crossed, slope as variance component"]["llf"],
                                           abs=1e-4)
    assert rows["crossed, correlated slope"]["lmer_llf"] >= crossed["llf"] - 1e-6
    assert nearest[CANNOT["correlated slopes at two levels"]]["variances"] == 5


@pytest.mark.slow
def test_the_code_in_the_table_runs_and_gives_the_same_fits(values):
    assert values["n_rerun"] == len(EXPECTED)
    assert values["rerun_gap"] < 1e-6
    code = {r["model"]: r["statsmodels"] for r in values["table_code"]}
    # the code is broken into lines that fit the text column (88 characters)
    assert code["random intercept"] == (
        'smf.mixedlm("y ~ x", attain, groups="school", re_formula="1")')
    assert code["nested"] == ('smf.mixedlm(\n'
                              '    "y ~ x", attain, groups="school", re_formula="1",\n'
                              '    vc_formula={"school:class": "0 + C(Q(\'class\'))"},\n'
                              ')')
    assert code["crossed"].startswith('smf.mixedlm(\n'
                                      '    "y ~ x", crossed, groups=np.ones(len(crossed)),\n')
    assert all(code[k] is None for k in CANNOT)
    assert max(len(line) for c in code.values() if c for line in c.splitlines()) <= 88


# ------------------------------------------------------------------ exercises
@pytest.mark.slow
def test_exercise_crossed_by_mistake(values):
    assert values["wrong_args"]["groups"] is None
    assert set(values["wrong_args"]["vc_formula"]) == {"school", "class"}
    var = values["wrong_var"]
    right = values["side"]["correct (re_formula='1')"]
    assert var["class"] < 0.2 * right["class variance"]       # labels shared across schools
    assert var["Residual"] > 1.1 * right["residual variance"]  # class variation moved here
    assert values["wrong_llf"] < values["fits"]["statsmodels"]["llf"] - 5


@pytest.mark.slow
def test_exercise_three_levels(values):
    assert values["three_code"] == (
        'smf.mixedlm("y ~ sector", three, groups="district", re_formula="1", vc_formula='
        '{"district:school_in_district": "0 + C(school_in_district)", '
        '"district:school_in_district:class": "0 + C(school_in_district + \':\' + Q(\'class\'))"})')
    assert values["three_dendf"] == pytest.approx(4 - 2, abs=0.1)
    district_var, district_se = values["three_district"]
    assert district_se > district_var > 0
    assert values["three_se_sector"] > values["side"]["correct (re_formula='1')"]["SE of sector[T.public]"]


@pytest.mark.slow
def test_exercise_dropping_a_correlation_depends_on_the_coding(values):
    fits = values["coding_fits"]
    a, b = fits["uncorrelated, x = -0.5/+0.5"], fits["uncorrelated, x = 0/1"]
    assert abs(a["llf"] - b["llf"]) > 0.1
    assert a["slope"] == pytest.approx(b["slope"], rel=1e-6)
    assert abs(a["SE of slope"] - b["SE of slope"]) > 0.1
    c, d = fits["correlated, x"], fits["correlated, x + 1"]
    assert c["llf"] == pytest.approx(d["llf"], abs=1e-3)
    assert c["SE of slope"] == pytest.approx(d["SE of slope"], rel=1e-3)
    # the nearest model with centred coding is the translation table's row
    rows = {r["model"]: r for r in values["table"]}
    assert a["llf"] == pytest.approx(rows["crossed, slope as variance component"]["llf"], abs=1e-4)
