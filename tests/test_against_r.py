"""The helpers against R: lme4/lmerTest (and afex, pingouin) on the reference cases.

For every case of ``tests/r/reference_cases.py`` the committed data
(``data/reference/cases/<case>.csv``) are fitted with
``helpers.mixedlm(formula, data)`` -> ``helpers.fit_all(model, reml=True).best``
and compared with the committed R output (``data/reference/<case>.json``):

* fixed effects, random-effect SDs and the residual SD within 0.1 %
  (``|py - r| <= 1e-3 * max(|r|, residual SD)``), correlations within 0.001,
  the number of observations used equal;
* the REML log-likelihood within 0.01;
* ``helpers.is_singular`` equal to ``lme4::isSingular``;
* ``helpers.anova`` against ``lmerTest::anova(m, type = 3)``: F and DenDF
  within 1 %, p within 0.002, NumDF equal;
* where the ANOVA is the same model (balanced, error strata matched, no zero
  variance), ``helpers.anova`` against ``afex::aov_ez`` (no sphericity
  correction) and, for ``mixed_balanced``, ``pingouin.mixed_anova``.

The tests need no R: they read the committed JSON. ``tests/r/check_reference.sh``
re-runs R and checks that the JSON is still what R gives. For a table of the
differences, run ``python tests/r/compare.py``.
"""
from __future__ import annotations

import importlib.util
import json
import sys
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import helpers

sys.path.insert(0, str(Path(__file__).resolve().parent / "r"))
from reference_cases import CASES, CASES_DIR, REFERENCE_DIR, case_data, read_case_csv  # noqa: E402

pytestmark = pytest.mark.r

_HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("r_compare", _HERE / "r" / "compare.py")
compare = sys.modules.setdefault("r_compare", importlib.util.module_from_spec(_spec))
if not hasattr(compare, "case_differences"):
    _spec.loader.exec_module(compare)

CASE_NAMES = list(CASES)

# quantity groups: test id -> pattern on the ``quantity`` column of the differences table
GROUPS = {
    "fixed_effects": r"^fixef\[",
    "random_effects": r"^(?:sd\[|corr\[|random\[)",
    "nobs": r"^nobs$",
    "loglik": r"^logLik$",
    "singular": r"^isSingular$",
    "anova_lmerTest": r"^anova(?:\[|$)",
    "anova_afex": r"^afex\[",
    "anova_pingouin": r"^pingouin\[",
}


def _reference(name: str) -> dict:
    return json.loads((REFERENCE_DIR / f"{name}.json").read_text())


def _applicable(name: str, group: str) -> bool:
    """Whether the (case, group) comparison exists, judged from the registry and the JSON."""
    case, ref = CASES[name], _reference(name)
    if group == "anova_lmerTest":
        return len(ref["anova"]["term"]) > 0
    if group == "anova_afex":
        return "afex" in ref and case.afex_comparable and not ref["isSingular"]
    if group == "anova_pingouin":
        return case.pingouin is not None
    return True


PAIRS = [
    pytest.param(name, group, id=f"{name}-{group}")
    for name in CASE_NAMES
    for group in GROUPS
    if _applicable(name, group)
]


@lru_cache(maxsize=None)
def _differences(name: str) -> pd.DataFrame:
    return compare.case_differences(name)


def _describe(rows: pd.DataFrame) -> str:
    lines = []
    for _, r in rows.iterrows():
        if r["note"]:
            lines.append(f"  {r['quantity']}: {r['note']}")
        else:
            lines.append(
                f"  {r['quantity']}: python {r['python']:.10g}, R {r['r']:.10g}, "
                f"|diff| {r['abs_diff']:.3g} > allowed {r['allowed']:.3g}"
            )
    return "\n".join(lines)


# ----------------------------------------------------------------------------- the fits
@pytest.mark.parametrize("name", CASE_NAMES)
def test_helpers_fit_the_case(name):
    """helpers.mixedlm builds the model, fit_all fits it and helpers.anova tests it."""
    fit = compare.python_fit(name)
    assert fit.error is None, f"{name}: {CASES[name].formula!r} failed in Python: {fit.error}"
    assert fit.anova_error is None, f"{name}: helpers.anova failed: {fit.anova_error}"


@pytest.mark.parametrize(("name", "group"), PAIRS)
def test_matches_r(name, group):
    """One group of quantities of one case is within tolerance of R."""
    fit = compare.python_fit(name)
    if fit.error is not None:
        pytest.skip(f"the fit failed, see test_helpers_fit_the_case[{name}]")
    table = _differences(name)
    rows = table[table["tested"] & table["quantity"].str.contains(GROUPS[group])]
    assert len(rows) > 0, f"{name}: nothing compared for {group}"
    failed = rows[~rows["ok"]]
    assert failed.empty, f"{name}, {group}: {len(failed)} beyond tolerance\n" + _describe(failed)


def test_double_bar_with_a_factor_is_the_model_lme4_fits():
    """(1 + Machine||Worker), Machine a factor: lme4 fits (1|Worker) + (0 + Machine|Worker),
    a 3 x 3 covariance matrix for the machines; helpers.mixedlm fits the same model, not the
    one-variance split (1|Worker) + (1|Worker:Machine)."""
    name = "machines"
    ref = _reference(name)
    assert sorted(v for g, v, w in zip(ref["varcorr"]["grp"], ref["varcorr"]["var1"],
                                       ref["varcorr"]["var2"]) if g == "Worker.1" and w is None
                  ) == ["MachineA", "MachineB", "MachineC"]
    fit = compare.python_fit(name)
    if fit.error is not None:
        pytest.skip(f"the fit failed, see test_helpers_fit_the_case[{name}]")
    assert fit.model._statsmodels_args["re_formula"] == "0 + Machine"
    assert fit.model._statsmodels_args["vc_formula"] == {"Worker": "1"}
    assert fit.result.llf == pytest.approx(ref["logLik"], abs=0.01)
    data = read_case_csv(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        split = helpers.mixedlm("score ~ Machine + (1|Worker) + (1|Worker:Machine)", data).fit()
    assert split.llf < ref["logLik"] - 3  # -107.84 against lme4's -104.16: another model


def test_missing_values_are_dropped_with_a_warning():
    """The unbalanced case has NA responses: Python drops them, warns, and keeps R's rows."""
    name = "mixed_unbalanced_missing"
    n_na = int(read_case_csv(name)["y"].isna().sum())
    assert n_na > 0
    fit = compare.python_fit(name)
    if fit.error is not None:
        pytest.skip(f"the fit failed, see test_helpers_fit_the_case[{name}]")
    assert any("MissingValuesDropped" in w or "missing" in w.lower() for w in fit.warnings), (
        f"no warning about the {n_na} dropped rows; warnings were {fit.warnings}"
    )
    assert int(fit.result.nobs) == _reference(name)["nobs"]


# ------------------------------------------------------------------- the reference files
@pytest.mark.parametrize("name", CASE_NAMES)
def test_committed_csv_is_what_the_registry_makes(name):
    """The data R read come from the project's code and seeds (no hand edits)."""
    made = case_data(name).reset_index(drop=True)
    stored = read_case_csv(name)
    assert list(made.columns) == list(stored.columns)
    for col in made.columns:
        if pd.api.types.is_numeric_dtype(made[col]):
            np.testing.assert_allclose(
                stored[col].to_numpy(float), made[col].to_numpy(float), rtol=1e-12, atol=0,
                equal_nan=True, err_msg=f"{name}.{col}",
            )
        else:
            assert stored[col].astype(str).tolist() == made[col].astype(str).tolist(), col


def test_manifest_and_json_match_the_registry():
    """cases.json and the R output describe the registry's cases with the same formulas."""
    manifest = json.loads((CASES_DIR / "cases.json").read_text())
    assert [c["name"] for c in manifest] == CASE_NAMES
    for entry in manifest:
        case = CASES[entry["name"]]
        assert entry == case.manifest(), entry["name"]
        ref = _reference(case.name)
        assert ref["formula"] == case.formula and ref["reml"] is case.reml, case.name


@pytest.mark.parametrize(
    "name", [n for n in CASE_NAMES if CASES[n].afex_comparable and "afex" in _reference(n)]
)
def test_r_agrees_with_itself_where_afex_is_the_same_model(name):
    """Where the registry calls afex comparable, lmerTest and afex agree inside R (1e-4)."""
    ref = _reference(name)
    if ref["isSingular"]:
        pytest.skip("singular fit: the strata differ")
    lmer = {compare.normalise_term(t): k for k, t in enumerate(ref["anova"]["term"])}
    afex = ref["afex"]["none"]
    for k, term in enumerate(afex["term"]):
        j = lmer[compare.normalise_term(term)]
        for key in ("F", "DenDF"):
            assert afex[key][k] == pytest.approx(ref["anova"][key][j], rel=1e-4), (term, key)


def test_normalised_names():
    assert compare.normalise_fixef_name("Intercept") == "(Intercept)"
    assert compare.normalise_fixef_name("Time[T.June]:Group[T.Meditation]") == (
        "TimeJune:GroupMeditation"
    )
    assert compare.normalise_fixef_name("C(cond)[T.hard]") == "condhard"
    assert compare.normalise_term("Group:Time") == compare.normalise_term("C(Time):C(Group)")
