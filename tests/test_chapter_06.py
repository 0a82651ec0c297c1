"""Chapter 6, random slopes: the chapter's fits against lme4/lmerTest, and the numbers it states.

The R values are read from data/reference/sleepstudy.json and sleepstudy_uncorrelated.json
(written by tests/r/reference.R) and from data/reference/intervals/sleepstudy.json and
pbmodcomp_sleepstudy.json (lme4's confint and bootMer, pbkrtest's PBmodcomp; written by
tests/r/intervals.R); the rounded numbers in test_the_issues_numbers are the
ones the issue for this chapter quotes.
"""
from __future__ import annotations

import json
import math

import pytest

from conftest import ROOT, executed

STEM = "06_random_slopes"

PROBES = {
    STEM: {
        # the correlated REML fit (1 + Days | Subject), written in statsmodels' arguments
        "fe": "[float(v) for v in slopes.fe_params]",
        "fe_se": "[float(v) for v in slopes.bse_fe]",
        "varcorr": "helpers.varcorr(slopes)[['vcov', 'sdcor']].to_dict('list')",
        "by_hand": "[float(sd_intercept), float(sd_slope), float(corr), float(sigma)]",
        "llf": "float(slopes.llf)",
        "llf_lme4_spelling": "float(slopes_lme4.llf)",
        "converged": "bool(slopes.converged)",
        "anova": "helpers.anova(slopes).loc['Days', ['NumDF', 'DenDF', 'F', 'p']].astype(float).to_dict()",
        "anova_intercept_only": "helpers.anova(intercept_only).loc['Days', ['DenDF', 'F']].astype(float).to_dict()",
        "se_days_intercept_only": "float(intercept_only.bse_fe['Days'])",
        "slope_range": "[float(low), float(high)]",
        "own_slopes": "[float(own['slope'].min()), float(own['slope'].max()), int((own['slope'] < 0).sum())]",
        # uncorrelated, two spellings
        "unc_fe": "[float(v) for v in uncorr.fe_params]",
        "unc_sdcor": "helpers.varcorr(uncorr)['sdcor'].tolist()",
        "unc_llf": "float(uncorr.llf)",
        "unc_free_llf": "float(uncorr_free.llf)",
        "unc_free_cov": "uncorr_free.cov_re.to_numpy().tolist()",
        "unc_vc_args": "uncorr_model._statsmodels_args['vc_formula']",
        # likelihood-ratio tests
        "lrt_naive": "naive[['chi2', 'df', 'p']].astype(float).to_dict()",
        "lrt_boundary": "corrected[['chi2', 'df', 'p']].astype(float).to_dict()",
        "three": "three[['chi2', 'df', 'p', 'naive p']].astype(float).to_dict('index')",
        # shrinkage
        "sd_own_slopes": "float(own['slope'].std())",
        "sd_model_slopes": "float(model_lines['slope'].std())",
        "moved_most": "[int(moved.idxmax()), float(moved.max())]",
        "blup_fitted_gap": (
            "float(np.max(np.abs(model_lines.loc[sleep['Subject'], 'intercept'].to_numpy()"
            " + model_lines.loc[sleep['Subject'], 'slope'].to_numpy() * sleep['Days'].to_numpy()"
            " - slopes.fittedvalues.to_numpy())))"
        ),
        # convergence
        "seconds_warnings": "[str(w.message) for w in seconds_warnings]",
        "seconds_singular": "bool(helpers.is_singular(seconds))",
        "seconds_sd": "[float(v) for v in np.sqrt(np.diag(seconds.cov_re))]",
        "seconds_table": "seconds_all.table[['converged', 'llf']].astype(float).to_dict('index')",
        "curved_converged": "bool(curved.converged)",
        "curved_llf": "float(curved.llf)",
        "curved_n_warnings": "len(curved_warnings)",
        "curved_table": "curved_all.table[['converged', 'llf']].astype(float).to_dict('index')",
        "curved_best": "[curved_all.best_method, float(curved_all.best.llf)]",
        "days_days2_corr": "float(np.corrcoef(sleep_q['Days'], sleep_q['Days2'])[0, 1])",
        "rescaled_converged": "bool(rescaled.converged)",
        "rescaled_warnings": "[str(w.message) for w in rescaled_warnings]",
        "rescaled_llf": "float(rescaled.llf)",
        "rescaled_gap": "float(gap)",
        "curvature_lrt": "helpers.lrt(linear_re, rescaled, boundary=True)[['chi2', 'df', 'p']].astype(float).to_dict()",
        # profile and bootstrap intervals, bootstrap LRT (helpers.lmer fits)
        "engine_llf": "float(engine_fit.llf)",
        "profile_ci": "profile_ci.to_numpy().tolist()",
        "profile_names": "list(profile_ci.index)",
        "boot_ci": "boot_ci.to_numpy().tolist()",
        "boot_failed": "int(boot_ci.attrs['failed'])",
        "boot_nsim": "len(replicates)",
        "boot_mc_se": "mc_se.to_numpy().tolist()",
        "boot_at_one": "at_one",
        "boot_gap_in_se": "float(np.max(r_gap / r_se))",
        "profile_gap": "float(r_profile_gap)",
        "slope_reps": "[float(slope_reps.median()), float(slope_reps.min())]",
        "boot_ms": "[float(sm_ms), float(boot_ms)]",
        "boot_test": "[float(boot_test['chi2']), float(boot_test['p']), int(boot_test['nsim'])]",
        "boot_simulated": "[float(simulated.mean()), float(boot_q90),"
                          " float(percentile_se(simulated, 0.9)), float(simulated.max())]",
        "mixture_ml": "[float(mixture_ml['chi2']), float(mixture_ml['p'])]",
        "mixture_q90": "float(mixture_q90)",
        # exercises
        "centred": ("[float(centred_fit.llf)] + helpers.varcorr(centred_fit)['sdcor'].tolist()"
                    " + [float(centred_fit.fe_params['DaysC'])]"),
        "later": ("[float(later_corr.fe_params['Dsince'])]"
                  " + helpers.varcorr(later_corr)['sdcor'].tolist()"),
        "later_tests": "[float(corr_test['p']), float(slope_test['p'])]",
        "pilot": ("[bool(pilot_default.converged), float(pilot_default.llf), pilot_all.best_method,"
                  " float(pilot_all.best.llf), float(pilot_all.best.fe_params['Days'])]"
                  " + helpers.varcorr(pilot_all.best)['sdcor'].tolist()"),
    }
}


def reference(case: str) -> dict:
    return json.loads((ROOT / "data" / "reference" / f"{case}.json").read_text())


@pytest.fixture(scope="module")
def v():
    _, values = executed(STEM)
    return values


def close_sd(py: float, r: float, sigma: float) -> bool:
    """Fixed effects and SDs: 0.1 % of the value, or of the residual SD when the value is small."""
    return abs(py - r) <= 1e-3 * max(abs(r), sigma)


# ------------------------------------------------------------------ against R

@pytest.mark.slow
def test_reml_fit_matches_lme4_and_lmertest(v):
    ref = reference("sleepstudy")
    sigma = ref["sigma"]
    assert v["converged"] is True
    for py, r in zip(v["fe"], ref["fixef"]["estimate"]):
        assert close_sd(py, r, sigma), (py, r)
    for py, r in zip(v["fe_se"], ref["fixef"]["se"]):
        assert close_sd(py, r, sigma), (py, r)
    sdcor, r_sdcor = v["varcorr"]["sdcor"], ref["varcorr"]["sdcor"]
    assert len(sdcor) == len(r_sdcor) == 4
    for i in (0, 1, 3):   # SD intercept, SD slope, residual SD
        assert close_sd(sdcor[i], r_sdcor[i], sigma), (i, sdcor[i], r_sdcor[i])
    assert abs(sdcor[2] - r_sdcor[2]) <= 1e-3          # the correlation
    assert close_sd(sdcor[3], ref["sigma"], sigma)
    # the chapter's hand computation from cov_re says the same
    assert v["by_hand"] == pytest.approx(sdcor[:2] + [sdcor[2], sdcor[3]], rel=1e-12)
    assert abs(v["llf"] - ref["logLik"]) <= 0.01
    assert abs(v["llf_lme4_spelling"] - ref["logLik"]) <= 0.01
    a, r = v["anova"], ref["anova"]
    assert r["term"] == ["Days"] and a["NumDF"] == r["NumDF"][0]
    assert a["F"] == pytest.approx(r["F"][0], rel=0.01)
    assert a["DenDF"] == pytest.approx(r["DenDF"][0], rel=0.01)
    assert abs(a["p"] - r["p"][0]) <= 0.002


@pytest.mark.slow
def test_the_issues_numbers(v):
    """The issue quotes lme4's REML fit: 251.405, 10.467, 24.741, 5.922, 0.066, 25.592."""
    sd_int, sd_slope, corr, sigma = v["varcorr"]["sdcor"]
    assert round(v["fe"][0], 3) == 251.405
    assert round(v["fe"][1], 3) == 10.467
    assert round(sd_int, 3) == 24.741
    assert round(sd_slope, 3) == 5.922
    assert round(corr, 3) == 0.066
    assert round(sigma, 3) == 25.592
    # the Satterthwaite df of the Days test is about 17 (18 subjects - 1)
    assert round(v["anova"]["DenDF"]) == 17


@pytest.mark.slow
def test_uncorrelated_fits_match_lme4_both_ways(v):
    ref = reference("sleepstudy_uncorrelated")
    sigma = ref["sigma"]
    assert v["unc_vc_args"] == {"Days": "0 + Days"}
    for py, r in zip(v["unc_fe"], ref["fixef"]["estimate"]):
        assert close_sd(py, r, sigma)
    assert len(v["unc_sdcor"]) == len(ref["varcorr"]["sdcor"]) == 3
    for py, r in zip(v["unc_sdcor"], ref["varcorr"]["sdcor"]):
        assert close_sd(py, r, sigma), (py, r)
    assert abs(v["unc_llf"] - ref["logLik"]) <= 0.01
    # statsmodels' free= pattern is the same model: same optimum, covariance held at 0
    assert abs(v["unc_free_llf"] - ref["logLik"]) <= 0.01
    assert v["unc_free_llf"] == pytest.approx(v["unc_llf"], abs=1e-4)
    cov = v["unc_free_cov"]
    assert cov[0][1] == 0.0 and cov[1][0] == 0.0
    assert close_sd(math.sqrt(cov[0][0]), ref["varcorr"]["sdcor"][0], sigma)
    assert close_sd(math.sqrt(cov[1][1]), ref["varcorr"]["sdcor"][1], sigma)


# ------------------------------------------------------------------ the tests of variances

@pytest.mark.slow
def test_boundary_lrt_halves_the_naive_p(v):
    naive, boundary = v["lrt_naive"], v["lrt_boundary"]
    assert naive["df"] == boundary["df"] == 1
    assert boundary["chi2"] == naive["chi2"]
    assert boundary["p"] == pytest.approx(naive["p"] / 2, rel=1e-9)
    assert round(naive["chi2"], 2) == 42.80


@pytest.mark.slow
def test_the_three_variance_tests(v):
    from scipy import stats

    three = v["three"]
    both = three["slope variance and covariance"]
    assert both["df"] == 2
    assert both["p"] == pytest.approx(0.5 * stats.chi2.sf(both["chi2"], 2)
                                      + 0.5 * stats.chi2.sf(both["chi2"], 1), rel=1e-9)
    assert both["naive p"] == pytest.approx(stats.chi2.sf(both["chi2"], 2), rel=1e-9)
    corr = three["correlation only (not a boundary)"]
    assert corr["df"] == 1 and math.isnan(corr["naive p"])
    # interior null: the ordinary chi-square, and the correlation is not needed
    assert corr["p"] == pytest.approx(stats.chi2.sf(corr["chi2"], 1), rel=1e-9)
    assert corr["p"] > 0.5
    # the chi-square of the correlation test is the gap between the two REML fits
    assert corr["chi2"] == pytest.approx(2 * (v["llf"] - v["unc_llf"]), abs=1e-6)


# ------------------------------------------------------------------ what the prose states

@pytest.mark.slow
def test_random_slopes_change_the_test_of_days(v):
    assert round(v["anova_intercept_only"]["DenDF"]) == 161
    assert round(v["se_days_intercept_only"], 3) == 0.804
    assert 1.8 < v["fe_se"][1] / v["se_days_intercept_only"] < 2.1      # "doubles"
    assert [round(x, 1) for x in v["slope_range"]] == [-1.1, 22.1]
    low, high, n_falling = v["own_slopes"]
    assert n_falling == 1 and round(low, 2) == -2.88 and round(high, 2) == 21.76


@pytest.mark.slow
def test_shrinkage_numbers(v):
    sd_slope = v["varcorr"]["sdcor"][1]
    assert v["sd_own_slopes"] > sd_slope > v["sd_model_slopes"]
    assert round(v["sd_own_slopes"], 3) == 6.558 and round(v["sd_model_slopes"], 3) == 5.455
    assert v["moved_most"][0] == 370 and round(v["moved_most"][1], 2) == 2.77
    assert v["blup_fitted_gap"] < 1e-8


@pytest.mark.slow
def test_units_set_off_the_boundary_warning_but_the_fit_is_fine(v):
    assert any("boundary" in w for w in v["seconds_warnings"])
    assert v["seconds_singular"] is False
    sd_int, sd_slope = v["varcorr"]["sdcor"][:2]
    assert [x * 1000 for x in v["seconds_sd"]] == pytest.approx([sd_int, sd_slope], rel=1e-3)
    table = v["seconds_table"]
    converged = {m: row["llf"] for m, row in table.items() if row["converged"]}
    assert {"lbfgs", "bfgs", "cg", "powell"} <= set(converged)
    assert max(converged.values()) - min(converged.values()) < 0.01
    assert table["nm"]["converged"] == 0


@pytest.mark.slow
def test_random_curvature_troubles_and_remedies(v):
    assert v["curved_converged"] is False and v["curved_n_warnings"] == 8
    method, best = v["curved_best"]
    assert method in {"lbfgs", "cg"}
    assert best > v["curved_llf"] + 40
    table = v["curved_table"]
    assert table["lbfgs"]["converged"] == table["cg"]["converged"] == 1
    assert abs(table["lbfgs"]["llf"] - table["cg"]["llf"]) < 0.01
    assert table["bfgs"]["converged"] == 0
    assert 0.01 < best - table["powell"]["llf"] < 0.1
    assert round(v["days_days2_corr"], 3) == 0.963
    # rescaling: converges by default, without a warning, to the same model
    assert v["rescaled_converged"] is True and v["rescaled_warnings"] == []
    assert v["rescaled_gap"] < 0.01
    assert v["rescaled_llf"] - best == pytest.approx(3 * math.log(4.5), abs=1e-3)
    test = v["curvature_lrt"]
    assert test["df"] == 3 and test["p"] < 0.01


# ------------------------------------------------------------------ intervals and the bootstrap

def _percentile_se(t, a):
    """The Monte Carlo SE of a percentile, as tests/r/intervals.R computes R's."""
    import numpy as np

    t = np.sort(np.asarray(t, dtype=float))
    n = len(t)
    s = math.sqrt(a * (1 - a) / n)
    return (t[min(n, math.ceil(n * (a + s))) - 1] - t[max(1, math.floor(n * (a - s))) - 1]) / 2


@pytest.mark.slow
def test_profile_intervals_match_lme4(v):
    ref = reference("intervals/sleepstudy")
    prof = ref["profile"]
    assert abs(v["engine_llf"] - v["llf"]) < 1e-3      # the same model as statsmodels'
    assert len(v["profile_ci"]) == len(prof["names"]) == 6
    sigma = reference("sleepstudy")["sigma"]
    for name, (lo, hi), r_lo, r_hi in zip(prof["names"], v["profile_ci"], prof["lower"],
                                          prof["upper"]):
        if name.startswith("cor_"):
            assert abs(lo - r_lo) <= 1e-3 and abs(hi - r_hi) <= 1e-3, name
        else:
            assert close_sd(lo, r_lo, sigma) and close_sd(hi, r_hi, sigma), name
    assert v["profile_gap"] < 1e-3


@pytest.mark.slow
def test_bootstrap_intervals_within_monte_carlo_error_of_bootmer(v):
    boot = reference("intervals/sleepstudy")["boot"]
    assert v["boot_nsim"] == boot["nsim"] == 1000 and v["boot_failed"] == 0
    for i, name in enumerate(boot["names"]):
        for j, col in enumerate(("lower", "upper")):
            se = math.hypot(v["boot_mc_se"][i][j], boot[f"mc_se_{col}"][i])
            assert abs(v["boot_ci"][i][j] - boot[col][i]) <= 4 * se, (name, col)
    # what the prose says: gaps of Monte Carlo size, and how large that is
    assert v["boot_gap_in_se"] < 3
    se = v["boot_mc_se"]
    assert 0.03 < min(se[2]) and max(se[2]) < 0.15        # slope SD, ms/day
    assert 0.25 < min(se[0]) and max(se[0]) < 0.55        # intercept SD, ms
    assert 0 < v["boot_at_one"] < 50                       # some singular refits
    median, smallest = v["slope_reps"]
    assert median < v["varcorr"]["sdcor"][1] and smallest > 0
    # the profile limits of the SDs are lopsided upwards; the bootstrap's lie lower
    (lo, hi), est = v["profile_ci"][2], v["varcorr"]["sdcor"][1]
    assert hi - est > est - lo
    assert 2.5 < v["boot_ci"][2][0] < lo and 3 < lo and hi < 9
    for i in (0, 2, 3):
        assert v["boot_ci"][i][1] < v["profile_ci"][i][1]
    # helpers.lmer's refits are the fast ones
    assert v["boot_ms"][1] < v["boot_ms"][0]


@pytest.mark.slow
def test_bootstrap_lrt_against_pbmodcomp_and_the_mixture(v):
    from scipy import stats

    ref = reference("intervals/pbmodcomp_sleepstudy")
    # the same pair of models: random intercept against correlated slopes, ML
    assert ref["reml"] is False and ref["small"] == "Reaction ~ Days + (1 | Subject)"
    assert ref["large"] == "Reaction ~ Days + (1 + Days | Subject)"
    chi2, p, nsim = v["boot_test"]
    assert abs(chi2 - ref["stat"]) <= 1e-4 * ref["stat"] and nsim == ref["nsim"]
    assert p == pytest.approx(1 / (nsim + 1)) and p == pytest.approx(ref["p_PB"])
    mean, q90, q90_se, largest = v["boot_simulated"]
    assert largest < chi2
    se_mean = ref["ref_sd"] / math.sqrt(ref["nsim"])
    assert abs(mean - ref["ref_mean"]) <= 4 * math.sqrt(2) * se_mean
    assert abs(q90 - ref["ref_q90"]) <= 4 * math.hypot(q90_se, ref["ref_q90_se"])
    # the mixture for the same ML pair, and the bootstrap's tail is lighter than the mixture's
    m_chi2, m_p = v["mixture_ml"]
    assert m_chi2 == pytest.approx(chi2)
    assert m_p == pytest.approx(0.5 * stats.chi2.sf(chi2, 1) + 0.5 * stats.chi2.sf(chi2, 2))
    assert round(v["mixture_q90"], 2) == 3.81
    assert q90 < v["mixture_q90"] and ref["ref_q90"] < v["mixture_q90"]
    assert mean < 1.5 and ref["ref_mean"] < 1.5


# ------------------------------------------------------------------ exercise solutions

@pytest.mark.slow
def test_exercise_solutions(v):
    llf, sd_int, sd_slope, corr, sigma, slope = v["centred"]
    # centring Days is the same model: slope, its SD, sigma and the log-likelihood stay
    assert llf == pytest.approx(v["llf"], abs=1e-3)
    assert slope == pytest.approx(v["fe"][1], rel=1e-6)
    assert sd_slope == pytest.approx(v["varcorr"]["sdcor"][1], rel=1e-3)
    assert sigma == pytest.approx(v["varcorr"]["sdcor"][3], rel=1e-3)
    assert sd_int > v["varcorr"]["sdcor"][0] and corr > 0.5
    # days 2-9: a steeper average slope, more varied slopes, correlation not needed
    later = v["later"]
    assert later[0] > v["fe"][1] and later[2] > v["varcorr"]["sdcor"][1]
    corr_p, slope_p = v["later_tests"]
    assert corr_p > 0.05 and slope_p < 1e-4
    # the pilot: the default fit fails, fit_all finds a better optimum
    default_ok, default_llf, best_method, best_llf, pilot_slope = v["pilot"][:5]
    pilot_sd_slope = v["pilot"][6]
    assert default_ok is False and best_method in {"lbfgs", "cg"}
    assert best_llf > default_llf + 0.5
    assert pilot_sd_slope > v["varcorr"]["sdcor"][1] and pilot_slope < v["fe"][1]
