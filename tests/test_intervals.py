"""helpers.core.intervals (confint, r2) and lrt(method="bootstrap") for lmer fits, against
R (data/reference/intervals/*.json, written by tests/r/intervals.R).

Tolerances: R² 1e-4 (absolute), Wald limits 1e-6 relative, profile limits 1e-3
relative (to max(|limit|, the parameter's Wald SE or 1e-3) so that limits near 0 are
compared absolutely). lme4 interpolates its profile with splines; here the limits are
roots on the profiled deviance. Where the profile is strongly curved at a boundary
(an SD estimated near 0) the spline is off by more than 1e-3; those limits
(``SPLINE_LIMITS``) are checked to be exact roots (ζ = ±1.96) and within 5 % of lme4's.
Bootstrap results are compared within Monte Carlo error: |Python - R| <= 4 sqrt(se_R² +
se_Py²), each se the spread of the percentile from its replicates (binomial order
statistics).
"""
from __future__ import annotations

import json
import sys
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "r"))
from reference_cases import CASES, REFERENCE_DIR, read_case_csv  # noqa: E402

import helpers  # noqa: E402
from helpers.core.compare import lrt  # noqa: E402
from helpers.core.intervals import (SingularFitWarning, _LmerFit, _Profile,  # noqa: E402
                                    confint, r2)
from helpers.engine import lmer  # noqa: E402
from helpers.engine.terms import r_name  # noqa: E402

REF = REFERENCE_DIR / "intervals"
BOTH = ["sleepstudy", "penicillin", "mixed_balanced", "seed_asker"]
LMER_ONLY = ["crossed_subject_slopes"]
# (case, row, column): lme4's spline misses the root of its own profile (see above)
SPLINE_LIMITS = {("mixed_balanced", "sd_(Intercept)|Subject", "upper"),
                 ("seed_asker", "sd_(Intercept)|participant_ID", "upper"),
                 ("crossed_subject_slopes", "cor_condhard.(Intercept)|subject", "lower"),
                 ("crossed_subject_slopes", "cor_condhard.(Intercept)|subject", "upper"),
                 ("crossed_subject_slopes", "sd_condhard|subject", "lower")}


def _ref(name):
    return json.loads((REF / f"{name}.json").read_text())


@lru_cache(maxsize=None)
def _fit(name, kind):
    data = read_case_csv(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "lmer":
            return lmer(CASES[name].formula, data)
        return helpers.mixedlm(CASES[name].formula, data).fit(reml=True)


@lru_cache(maxsize=None)
def _profile(name, kind):
    return confint(_fit(name, kind))


def _r_index(df):
    return [r_name(n) if n not in ("sigma",) and "|" not in n else n for n in df.index]


def _compare(ours, ref, rtol, scale, skip=()):
    ours = ours.set_axis(_r_index(ours))
    assert list(ours.index) == ref["names"]
    worst = 0.0
    for col in ("lower", "upper"):
        for name, r, s in zip(ref["names"], ref[col], scale):
            if r is None or (name, col) in skip:
                continue
            d = abs(ours.loc[name, col] - r) / max(abs(r), s)
            worst = max(worst, d)
            assert d <= rtol, (name, col, ours.loc[name, col], r)
    return worst


@pytest.mark.parametrize("kind", ["lmer", "statsmodels"])
@pytest.mark.parametrize("name", BOTH + LMER_ONLY)
def test_r2(name, kind):
    if kind == "statsmodels" and name in LMER_ONLY:
        pytest.skip("lmer only")
    ref = _ref(name)["r2"]
    fit = _fit(name, kind)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ours = r2(fit)
    singular = ref["conditional"] is None
    assert abs(ours["marginal"] - ref["marginal"]) < 1e-4
    if singular and kind == "lmer":
        assert np.isnan(ours["conditional"])
        assert any(issubclass(w.category, SingularFitWarning) for w in caught)
    elif singular:
        # statsmodels stops just off the boundary: performance would not call that fit
        # singular either; its conditional R² is then the marginal one
        assert abs(ours["conditional"] - ref["marginal"]) < 1e-4
    else:
        assert abs(ours["conditional"] - ref["conditional"]) < 1e-4


@pytest.mark.parametrize("kind", ["lmer", "statsmodels"])
@pytest.mark.parametrize("name", BOTH + LMER_ONLY)
def test_wald(name, kind):
    if kind == "statsmodels" and name in LMER_ONLY:
        pytest.skip("lmer only")
    ref = _ref(name)["wald"]
    ours = confint(_fit(name, kind), method="Wald")
    nv = sum(1 for n in ours.index if n == "sigma" or "|" in n)
    assert ours.iloc[:nv].isna().all().all()
    assert all(v is None for v in ref["lower"][:nv])
    # the limits are exact given the fit; helpers.lmer and lme4 optima differ by ~1e-6
    tol = 5e-5 if kind == "lmer" else 1e-4
    _compare(ours, ref, tol, [1e-8] * len(ref["names"]))


@pytest.mark.parametrize("kind", ["lmer", "statsmodels"])
@pytest.mark.parametrize("name", BOTH + LMER_ONLY)
def test_profile(name, kind):
    if kind == "statsmodels" and name in LMER_ONLY:
        pytest.skip("lmer only")
    ref = _ref(name)["profile"]
    ours = _profile(name, kind)
    se = np.r_[np.full(len(ours) - len(_fit(name, "lmer").exog_names), 1e-3),
               _fit(name, "lmer").bse.to_numpy()]
    _compare(ours, ref, 1e-3, se, skip={(r, c) for n, r, c in SPLINE_LIMITS if n == name})
    ours_r = ours.set_axis(_r_index(ours))
    for n, row, col in SPLINE_LIMITS:
        if n == name:
            r = ref[col][ref["names"].index(row)]
            assert abs(ours_r.loc[row, col] - r) <= 0.05 * abs(r)


@pytest.mark.parametrize("name, row, col", sorted(SPLINE_LIMITS))
def test_profile_limit_is_a_root(name, row, col):
    fit = _fit(name, "lmer")
    prof = _Profile(_LmerFit(fit))
    w = list(_profile(name, "lmer").index).index(row)
    limit = _profile(name, "lmer").loc[row, col]
    z, _ = prof.zeta_var(w, limit, np.delete(prof.v_hat, w))
    assert abs(abs(z) - 1.959963984540054) < 1e-6


def test_boot_sleepstudy_within_monte_carlo_error():
    ref = _ref("sleepstudy")["boot"]
    fit = _fit("sleepstudy", "lmer")
    ours = confint(fit, method="boot", nsim=ref["nsim"], seed=20240607)
    reps = ours.attrs["replicates"].to_numpy()
    assert ours.attrs["failed"] == 0
    ours = ours.set_axis(_r_index(ours))
    assert list(ours.index) == ref["names"]
    for i, name in enumerate(ref["names"]):
        for col, a, se_r in (("lower", 0.025, ref["mc_se_lower"][i]),
                             ("upper", 0.975, ref["mc_se_upper"][i])):
            t = np.sort(reps[:, i])
            s = np.sqrt(a * (1 - a) / len(t))
            se_py = (t[min(len(t) - 1, int(np.ceil(len(t) * (a + s))) - 1)]
                     - t[max(0, int(np.floor(len(t) * (a - s))) - 1)]) / 2
            tol = 4 * np.hypot(se_r, se_py)
            assert abs(ours.loc[name, col] - ref[col][i]) <= tol, (name, col)


def test_boot_reproducible_and_statsmodels_runs():
    fit = _fit("mixed_balanced", "lmer")
    a = confint(fit, method="boot", nsim=30, seed=3)
    b = confint(fit, method="boot", nsim=30, seed=3)
    assert a.equals(b)
    sm = confint(_fit("mixed_balanced", "statsmodels"), method="boot", nsim=3, seed=3)
    assert list(sm.index) == list(a.index)
    assert np.all(np.isfinite(sm.to_numpy()))


def test_refit_matches_a_new_fit():
    fit = _fit("sleepstudy", "lmer")
    y = fit.simulate(1, seed=5)[0]
    data = read_case_csv("sleepstudy").assign(Reaction=y)
    new = lmer(CASES["sleepstudy"].formula, data)
    again = fit.refit(y)
    assert abs(again.deviance - new.deviance) < 1e-6
    np.testing.assert_allclose(again.fe_params, new.fe_params, rtol=1e-6)


def test_pbmodcomp_sleepstudy():
    ref = _ref("pbmodcomp_sleepstudy")
    data = read_case_csv("sleepstudy")
    large = lmer("Reaction ~ Days + (1 + Days | Subject)", data, REML=False)
    small = lmer("Reaction ~ Days + (1 | Subject)", data, REML=False)
    out = lrt(small, large, method="bootstrap", nsim=ref["nsim"], seed=20240607)
    assert abs(out["chi2"] - ref["stat"]) < 1e-4 * ref["stat"]
    sim = out.attrs["bootstrap"]
    # p: both are (1 + extremes) / (1 + nsim); within Monte Carlo error of R's
    se = np.sqrt(ref["p_PB"] * (1 - ref["p_PB"]) / ref["nsim"]) + 1 / ref["nsim"]
    assert abs(out["p"] - ref["p_PB"]) <= 4 * se
    if "ref_mean" in ref:
        se_mean = ref["ref_sd"] / np.sqrt(ref["nsim"])
        assert abs(sim.mean() - ref["ref_mean"]) <= 4 * np.sqrt(2) * se_mean


def test_bad_input():
    fit = _fit("sleepstudy", "lmer")
    with pytest.raises(ValueError, match="method"):
        confint(fit, method="bca")
    with pytest.raises(ValueError, match="level"):
        confint(fit, level=1.5)
    with pytest.raises(ValueError, match="nsim"):
        confint(fit, method="boot", nsim=0)
    with pytest.raises(ValueError, match="fitted"):
        confint("not a fit")
    with pytest.raises(ValueError, match="fitted"):
        r2(object())


@pytest.mark.parametrize("kind", ["lmer", "statsmodels"])
def test_profile_curve(kind):
    """profile(): zeta 0 at the ML estimate, +-1.96 at confint's limits, increasing."""
    from helpers.core.intervals import profile

    fit = _fit("mixed_balanced", kind)
    which = ["sd_(Intercept)|Subject", "sigma"]
    curve = profile(fit, which=which, n_points=9)
    assert list(curve.columns) == ["parameter", "value", "zeta"]
    assert list(curve["parameter"].unique()) == which
    limits = curve.attrs["limits"]
    ref = _ref("mixed_balanced")["profile"]
    # sigma's limits are lme4's; the SD's lower limit is the bound 0
    assert limits.loc["sigma"].tolist() == pytest.approx(ref["lower"][1:2] + ref["upper"][1:2],
                                                         rel=1e-3)
    assert limits.loc[which[0], "lower"] == 0
    for name, part in curve.groupby("parameter", sort=False):
        z = dict(zip(part["value"], part["zeta"]))
        assert z[curve.attrs["estimates"][name]] == 0
        assert np.all(np.diff(part["zeta"].to_numpy()) > 0)
        for end in limits.loc[name]:
            if end > 0:
                assert abs(abs(z[end]) - 1.959963984540054) < 1e-3
    assert curve.attrs["estimates"]["sigma"] == pytest.approx(
        np.sqrt(np.mean(np.asarray(fit.resid) ** 2)), rel=0.1)


def test_profile_of_a_fixed_effect_is_nearly_straight():
    from helpers.core.intervals import profile

    fit = _fit("sleepstudy", "lmer")
    curve = profile(fit, which="Days", n_points=7)
    slope = np.polyfit(curve["value"], curve["zeta"], 1)[0]
    resid = curve["zeta"] - np.polyval(np.polyfit(curve["value"], curve["zeta"], 1),
                                       curve["value"])
    assert slope > 0 and np.max(np.abs(resid)) < 0.1
    lo, up = curve.attrs["limits"].loc["Days"]
    ref = _ref("sleepstudy")["profile"]
    i = ref["names"].index("Days")
    assert [lo, up] == pytest.approx([ref["lower"][i], ref["upper"][i]], rel=1e-3)


def test_profile_bad_input():
    from helpers.core.intervals import profile

    fit = _fit("mixed_balanced", "lmer")
    with pytest.raises(ValueError, match="sd_\\(Intercept\\)\\|Subject"):
        profile(fit, which="sd_Subject")
    with pytest.raises(ValueError, match="n_points"):
        profile(fit, n_points=1)
    with pytest.raises(ValueError, match="level"):
        profile(fit, level=0)
    with pytest.raises(ValueError, match="fitted"):
        profile("not a fit")
