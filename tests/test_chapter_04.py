"""Chapter 4, after the F test: the chapter's post hoc comparisons, R² and intervals against
R, and the numbers its prose states.

R's values are read from data/reference/posthoc/mixed_balanced.json and
mixed_one_missing.json (emmeans, written by tests/r/posthoc.R),
data/reference/intervals/mixed_balanced.json and mixed_balanced_boot.json (lme4's confint,
performance's r2_nakagawa, bootMer; tests/r/intervals.R) and
data/reference/mixed_one_missing.json (lme4; tests/r/reference.R). The notebook itself
computes its differences from R (``r_gaps``, hide-input cells); the tests bound them.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import ROOT, executed

STEM = "04_after_the_f_test"

PROBES = {
    STEM: {
        "r_gaps": "{k: float(v) for k, v in r_gaps.items()}",
        "anova_p": "helpers.anova(fit)['p'].astype(float).tolist()",
        "emm_time": "emm_time[['emmean', 'SE', 'df']].astype(float).to_dict('list')",
        "emm_group_df": "emm_group['df'].astype(float).tolist()",
        "emm_by_hand": "float(np.max(np.abs(by_hand.to_numpy() - raw.to_numpy())))",
        "pairs": "pairs.drop(columns='contrast').astype(float).to_dict('list')",
        "group_at_month": "group_at_month[['estimate', 'p']].astype(float).to_dict('list')",
        "group_adjust": "group_at_month.attrs['adjust']",
        "holm_over_months": "[float(v) for v in holm_over_months]",
        "from_august": "from_august[['estimate', 'p']].astype(float).to_dict('list')",
        "custom": "custom[['estimate', 'p']].astype(float).to_dict('list')",
        "trend": "trend[['estimate', 'p']].astype(float).to_dict('list')",
        "versus": "versus.astype(float).to_numpy().tolist()",
        "n_obs": "int(fit_obs.nobs)",
        "kept": "int((observed['Subject'] == lost).sum())",
        "lost": "int(lost)",
        "cc_subjects": "int(complete['Subject'].nunique())",
        "versus_holey": "versus_holey.astype(float).to_numpy().tolist()",
        "cell_means": "cell_means.astype(float).to_numpy().tolist()",
        "r_obs_worst": "float(r_obs['relative difference'].max())",
        "r2": "[float(r2['marginal']), float(r2['conditional'])]",
        "r2_by_hand": "[float(var_fixed / total), float((var_fixed + var_subject) / total)]",
        "all_effects": "float(all_effects)",
        "lmer_gap": "float(gap)",
        "wald": "wald.astype(float).to_numpy().tolist()",
        "prof": "prof.astype(float).to_numpy().tolist()",
        "boot": "boot.astype(float).to_numpy().tolist()",
        "boot_reps": "boot.attrs['replicates'].to_numpy().tolist()",
        "boot_failed": "int(boot.attrs['failed'])",
        "names": "list(prof.index)",
        "curve": "curve[['value', 'zeta']].astype(float).to_numpy().tolist()",
        "curve_limits": "[float(v) for v in limits]",
        "ml_estimate": "float(estimate)",
        "sd_reml": "float(sd_reml)",
        "zeta_at_r_limit": "float(r_zeta_at_r_limit)",
        "slowing": "slowing[['estimate', 'SE', 'p']].astype(float).to_dict('list')",
        "august": "[float(august_emm), float(august['Scores'].mean()), float(by_group.mean())]",
        "again": ("{k: t.loc[rows].astype(float).to_numpy().tolist()"
                  " for k, t in again.items()}"),
    }
}

Z95 = 1.959963984540054


def reference(name: str) -> dict:
    return json.loads((ROOT / "data" / "reference" / f"{name}.json").read_text())


@pytest.fixture(scope="module")
def v():
    _, values = executed(STEM)
    return values


def _pct_se(t, a):
    """Monte Carlo SE of a percentile (tests/r/intervals.R's pct_se)."""
    t = np.sort(t[np.isfinite(t)])
    s = np.sqrt(a * (1 - a) / len(t))
    lo = t[max(0, int(np.floor(len(t) * (a - s))) - 1)]
    hi = t[min(len(t) - 1, int(np.ceil(len(t) * (a + s))) - 1)]
    return (hi - lo) / 2


# ------------------------------------------------------------------ against R

@pytest.mark.slow
def test_emmeans_and_contrasts_match_emmeans(v):
    """Relative differences (|Py - R| / max(|R|, 0.01)) of means, SE, df, t and p."""
    gaps = v["r_gaps"]
    posthoc = [k for k in gaps if k not in ("r2", "Wald", "profile")]
    assert len(posthoc) == 13
    for k in posthoc:
        assert gaps[k] < 5e-3, (k, gaps[k])
    assert v["r_obs_worst"] < 1e-3


@pytest.mark.slow
def test_r2_matches_performance(v):
    assert v["r_gaps"]["r2"] < 1e-4
    assert v["r2"] == pytest.approx(v["r2_by_hand"], abs=1e-12)


@pytest.mark.slow
def test_wald_and_profile_match_lme4(v):
    ref = reference("intervals/mixed_balanced")
    assert v["r_gaps"]["Wald"] < 1e-4
    prof = np.array(v["prof"])
    r_prof = np.column_stack([ref["profile"]["lower"], ref["profile"]["upper"]])
    diff = np.abs(prof - r_prof)
    # every limit but lme4's spline-interpolated upper limit of the subject SD
    diff[0, 1] = 0.0
    assert diff.max() < 1e-3
    # that one is the exact root of our profile; lme4's lies where zeta is about 2.08
    gap = r_prof[0, 1] - prof[0, 1]
    assert 0.01 < gap < 0.02 and round(gap, 3) == 0.014
    assert round(v["zeta_at_r_limit"], 2) == 2.08


@pytest.mark.slow
def test_bootstrap_within_monte_carlo_error_of_bootmer(v):
    ref = reference("intervals/mixed_balanced_boot")["boot"]
    assert v["boot_failed"] == 0 and ref["failed"] == 0
    reps = np.array(v["boot_reps"])
    boot = np.array(v["boot"])
    for i in range(len(ref["names"])):
        for col, a, se_r in ((0, 0.025, ref["mc_se_lower"][i]),
                             (1, 0.975, ref["mc_se_upper"][i])):
            r = ref["lower" if col == 0 else "upper"][i]
            tol = 4 * np.hypot(se_r, _pct_se(reps[:, i], a)) + 1e-12
            assert abs(boot[i, col] - r) <= tol, (ref["names"][i], col, boot[i, col], r)


# ------------------------------------------------------------------ what the prose states

@pytest.mark.slow
def test_marginal_means(v):
    emm = v["emm_time"]
    assert all(round(se, 4) == 0.1286 for se in emm["SE"])
    assert all(round(df) == 173 for df in emm["df"])
    assert all(round(df) == 58 for df in v["emm_group_df"])
    assert v["emm_by_hand"] < 1e-10
    p = v["anova_p"]        # Time, Group, interaction
    assert p[0] < 0.05 and p[1] < 0.05 and 0.05 < p[2] < 0.1


@pytest.mark.slow
def test_the_four_adjustments(v):
    pr = v["pairs"]
    # August - June below 0.05 with every adjustment, the other two above
    for a in ("none", "bonferroni", "holm", "tukey"):
        p = pr[f"p {a}"]
        assert p[1] < 0.05 and p[0] > 0.05 and p[2] > 0.05
    # Bonferroni the most conservative; Holm below Tukey for the two weaker comparisons
    for i in range(3):
        assert pr["p bonferroni"][i] >= max(pr["p holm"][i], pr["p tukey"][i])
        assert pr["p none"][i] <= min(pr["p holm"][i], pr["p tukey"][i])
    assert pr["p holm"][0] < pr["p tukey"][0] and pr["p holm"][2] < pr["p tukey"][2]
    assert pr["p bonferroni"] == pytest.approx([min(1, 3 * p) for p in pr["p none"]])


@pytest.mark.slow
def test_families_and_own_contrasts(v):
    g = v["group_at_month"]
    assert v["group_adjust"] == "none"
    assert g["p"][2] < 0.01 and g["p"][0] > 0.05 and g["p"][1] > 0.05
    assert round(-g["estimate"][2], 2) == 0.75           # "about 0.75 points"
    assert v["holm_over_months"][2] < 0.05 and v["holm_over_months"][1] > 0.05
    fa = v["from_august"]        # Control Jan, Control June, Meditation Jan, Meditation June
    assert fa["p"][3] < 0.001 and 0.05 < fa["p"][2] < 0.1
    assert round(fa["estimate"][2], 1) == 0.5
    assert all(abs(e) < 0.1 for e in fa["estimate"][:2])
    assert round(-v["custom"]["estimate"][0], 1) == 0.4
    tr = v["trend"]
    assert round(tr["estimate"][1], 1) == 0.9 and tr["p"][1] < 0.05 and tr["p"][0] > 0.05


@pytest.mark.slow
def test_pingouin_side_by_side(v):
    rows = np.array(v["versus"])     # pingouin: diff, t, df, SE; model: diff, t, df, SE
    assert np.allclose(rows[:, 0], rows[:, 4], atol=1e-12)
    assert list(rows[:3, 2]) == [59, 59, 59] and list(rows[3:, 2]) == [58, 58, 58]
    assert np.allclose(rows[:3, 6], 116, atol=0.01)
    assert np.all(np.round(rows[3:, 6]) == 173)


@pytest.mark.slow
def test_one_missing_score(v):
    assert v["n_obs"] == 179 and v["kept"] == 2 and v["lost"] == 40
    assert v["cc_subjects"] == 59
    rows = np.array(v["versus_holey"])
    assert list(rows[:3, 2]) == [58, 58, 58]
    assert np.all((rows[3:, 2] > 54) & (rows[3:, 2] < 56))
    assert np.allclose(rows[:3, 6], 116, atol=0.6)
    assert np.all(np.abs(rows[3:, 6] - 173) < 1)
    assert not np.allclose(rows[:, 0], rows[:, 4], atol=1e-4)
    cells = np.array(v["cell_means"])   # model, observed, complete cases; Meditation Aug = 3
    assert np.allclose(cells[[0, 1, 2, 4, 5], 0], cells[[0, 1, 2, 4, 5], 1], atol=1e-3)
    assert 0 < abs(cells[3, 0] - cells[3, 1]) < 0.005
    assert not np.isclose(cells[4, 1], cells[4, 2]) and not np.isclose(cells[5, 1], cells[5, 2])


@pytest.mark.slow
def test_r2_and_generalised_eta(v):
    marginal, conditional = v["r2"]
    assert round(marginal * 100) == 9 and round(conditional * 100) == 13
    assert v["all_effects"] != pytest.approx(marginal, abs=1e-3)
    assert abs(v["all_effects"] - marginal) < 0.01


@pytest.mark.slow
def test_intervals_as_stated(v):
    assert v["lmer_gap"] < 1e-8
    names = v["names"]
    assert names[:2] == ["sd_(Intercept)|Subject", "sigma"]
    prof, boot, wald = np.array(v["prof"]), np.array(v["boot"]), np.array(v["wald"])
    assert prof[0, 0] == 0 and boot[0, 0] == 0
    assert round(prof[0, 1], 2) == 0.45 and round(boot[0, 1], 2) == 0.45
    assert round(prof[1, 0], 2) == 0.85 and round(prof[1, 1], 2) == 1.08
    assert np.all(np.isnan(wald[:2]))
    assert np.max(np.abs(boot[2:] - wald[2:])) < 0.06
    assert np.max(np.abs(prof[2:] - wald[2:])) < 0.06
    assert prof[-1, 0] > 0 and boot[-1, 0] > 0 and wald[-1, 0] > 0
    # the profile curve: zeta 0 at the ML estimate, +-1.96 at the limits, -0.6 at SD = 0
    curve = np.array(v["curve"])
    lower, upper = v["curve_limits"]
    assert lower == 0 and upper == pytest.approx(prof[0, 1], abs=1e-9)
    z_at = dict(map(tuple, curve))
    assert z_at[v["ml_estimate"]] == 0
    assert z_at[upper] == pytest.approx(Z95, abs=1e-3)  # inner optimum: ~1e-4
    assert round(z_at[0.0], 1) == -0.6
    assert np.all(np.diff(curve[:, 1]) > 0)
    assert v["sd_reml"] > v["ml_estimate"]
    assert round(v["sd_reml"], 3) == 0.211 and round(v["ml_estimate"], 3) == 0.208


@pytest.mark.slow
def test_exercises(v):
    s = v["slowing"]
    assert s["estimate"][1] < 0 and s["SE"][1] > 2 * abs(s["estimate"][1])
    assert s["p"][1] > 0.5
    august = v["august"]
    assert max(august) - min(august) < 1e-3
    again = {k: np.array(t) for k, t in v["again"].items()}
    base = again.pop("chapter (seed 2024)")
    moved = max(np.max(np.abs(t - base)) for t in again.values())
    assert 0.005 < moved <= 0.02
