"""helpers.studies.power: the closed form (against R and a large simulation), extend,
and the runner (the same p values whatever runs them: one process, joblib, Dask)."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from helpers.core.data import DATA_DIR
from helpers.core.formula import mixedlm
from helpers.engine import lmer
from helpers.studies.crossed import by_item_test, crossed_lmm_test, fit_crossed
from helpers.studies.power import (
    ExtendedDesign,
    extend,
    power_crossed_closed_form,
    power_curve,
    power_curve_plot,
)
from helpers.studies.simulate import simulate_crossed

TRUTH = dict(beta0=800.0, effect=50.0, subj_sd=100.0, item_sd=80.0, error_sd=200.0)


def _simulate(seed, n_subj, n_item):
    return simulate_crossed(n_subj=n_subj, n_item=n_item, **TRUTH, seed=seed)


def _lmm_p(data):
    return crossed_lmm_test(data)["p"]


def _f2_p(data):
    return by_item_test(data)["p"]


# ---------------------------------------------------------------------- closed form
def test_closed_form_matches_r_power_t_test():
    path = DATA_DIR / "reference" / "power" / "closed_form.json"
    ref = json.loads(path.read_text())
    ours = power_crossed_closed_form(np.array(ref["n_subj"], dtype=np.int64),
                                     np.array(ref["n_item"], dtype=np.int64),
                                     ref["effect"], ref["item_sd"], ref["error_sd"],
                                     ref["alpha"])
    np.testing.assert_allclose(ours, ref["power"], rtol=1e-9)


def test_closed_form_by_hand_and_its_limits():
    from scipy import stats

    n_subj, n_item = 30, 20
    sd = np.sqrt(80.0**2 + 200.0**2 / n_subj)
    delta = 50.0 / (sd * np.sqrt(2 / (n_item / 2)))
    crit = stats.t.ppf(0.975, n_item - 2)
    df = n_item - 2
    by_hand = stats.nct.sf(crit, df, delta) + stats.nct.cdf(-crit, df, delta)
    ours = power_crossed_closed_form(n_subj, n_item, 50.0, 80.0, 200.0)
    assert ours == pytest.approx(by_hand, rel=1e-12)
    # no effect: the level; more participants never lift power above the items' ceiling
    assert power_crossed_closed_form(30, 20, 0.0, 80.0, 200.0) == pytest.approx(0.05)
    ceiling = power_crossed_closed_form(10**9, 20, 50.0, 80.0, 200.0)
    curve = power_crossed_closed_form(np.array([10, 100, 1000]), 20, 50.0, 80.0, 200.0)
    assert np.all(np.diff(curve) > 0) and np.all(curve < ceiling) and ceiling < 0.3


@pytest.mark.parametrize("n_subj, n_item, n_sim", [(30, 20, 4000), (10, 40, 3000)])
def test_closed_form_agrees_with_a_large_simulation(n_subj, n_item, n_sim):
    curve = power_curve(_simulate, _lmm_p, [{"n_subj": n_subj, "n_item": n_item}],
                        n_sim=n_sim, seed=20240702)
    exact = power_crossed_closed_form(n_subj, n_item, 50.0, 80.0, 200.0)
    row = curve.iloc[0]
    assert row["reps"] == n_sim and row["failed"] == 0
    assert abs(row["power"] - exact) < 3 * row["mc_se"], (row["power"], exact)


# ---------------------------------------------------------------------- the runner
GRID = {"n_subj": [8, 16], "n_item": [8, 12]}


def test_results_do_not_depend_on_the_number_of_workers():
    serial = power_curve(_simulate, _f2_p, GRID, n_sim=60, seed=11, n_jobs=1)
    two = power_curve(_simulate, _f2_p, GRID, n_sim=60, seed=11, n_jobs=2)
    many_chunks = power_curve(_simulate, _f2_p, GRID, n_sim=60, seed=11, n_jobs=2,
                              chunks_per_job=9)
    assert np.array_equal(serial.attrs["pvalues"], two.attrs["pvalues"])
    assert np.array_equal(serial.attrs["pvalues"], many_chunks.attrs["pvalues"])
    pd.testing.assert_frame_equal(serial, two)
    # the p values are those of the loop written out by hand
    seeds = np.random.SeedSequence(11).spawn(2)[1].spawn(60)
    by_hand = [_f2_p(_simulate(s, 16, 12)) for s in seeds]
    np.testing.assert_array_equal(serial.attrs["pvalues"][1], by_hand)
    assert serial.attrs["entropy"] == 11
    other = power_curve(_simulate, _f2_p, GRID, n_sim=60, seed=12)
    assert not np.array_equal(other.attrs["pvalues"], serial.attrs["pvalues"])


def test_summary_columns():
    curve = power_curve(_simulate, _f2_p, GRID, n_sim=40, seed=3)
    assert list(curve.columns) == ["n_subj", "n_item", "reps", "failed", "rejections",
                                   "power", "mc_se", "lower", "upper"]
    p = curve.attrs["pvalues"]
    assert p.shape == (2, 40)
    np.testing.assert_array_equal(curve["rejections"], (p < 0.05).sum(axis=1))
    np.testing.assert_allclose(curve["mc_se"],
                               np.sqrt(curve["power"] * (1 - curve["power"]) / 40))


@pytest.mark.parametrize("processes", [False, True])
def test_a_dask_cluster_gives_the_serial_result(processes):
    joblib = pytest.importorskip("joblib")
    distributed = pytest.importorskip("dask.distributed")
    serial = power_curve(_simulate, _f2_p, GRID, n_sim=50, seed=5, n_jobs=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # dask's notes about ports and closing
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1,
                                      processes=processes,
                                      dashboard_address=None) as lc:
            with distributed.Client(lc):
                with joblib.parallel_backend("dask"):
                    on_dask = power_curve(_simulate, _f2_p, GRID, n_sim=50, seed=5)
    assert np.array_equal(serial.attrs["pvalues"], on_dask.attrs["pvalues"])


def test_missing_p_values_are_counted_and_reported():
    def sometimes(data):
        return np.nan if data["y"].iloc[0] > 800 else _f2_p(data)

    with pytest.warns(UserWarning, match="gave no p value"):
        curve = power_curve(_simulate, sometimes, GRID, n_sim=30, seed=2)
    assert (curve["failed"] > 0).all()
    assert (curve["reps"] + curve["failed"] == 30).all()


@pytest.mark.parametrize("kwargs, error, match", [
    ({"grid": []}, ValueError, "empty"),
    ({"grid": "n_subj"}, TypeError, "grid"),
    ({"grid": {"n_subj": [8, None], "n_item": [8, 8]}}, ValueError, "missing"),
    ({"n_sim": 0}, ValueError, "n_sim"),
    ({"n_sim": 2.5}, TypeError, "n_sim"),
    ({"alpha": 1.5}, ValueError, "alpha"),
    ({"seed": -1}, TypeError, "seed"),
    ({"test": lambda d: "small"}, TypeError, "p value"),
    ({"test": lambda d: 2.0}, ValueError, "not a p value"),
    ({"simulate": None}, TypeError, "functions"),
])
def test_bad_input_to_the_runner(kwargs, error, match):
    args = {"simulate": _simulate, "test": _f2_p, "grid": GRID, "n_sim": 2, **kwargs}
    with pytest.raises(error, match=match):
        power_curve(**args)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"n_item": 21}, ValueError, "even"),
    ({"n_item": 2}, ValueError, "at least 4"),
    ({"n_subj": 0}, ValueError, "n_subj"),
    ({"n_subj": 3.5}, TypeError, "n_subj"),
    ({"item_sd": -1.0}, ValueError, ">= 0"),
    ({"item_sd": 0.0, "error_sd": 0.0}, ValueError, "both 0"),
    ({"alpha": 0.0}, ValueError, "alpha"),
    ({"effect": float("nan")}, ValueError, "effect"),
])
def test_bad_input_to_the_closed_form(kwargs, error, match):
    args = {"n_subj": 30, "n_item": 20, "effect": 50.0, "item_sd": 80.0,
            "error_sd": 200.0, **kwargs}
    with pytest.raises(error, match=match):
        power_crossed_closed_form(**args)


# ---------------------------------------------------------------------- extend
@pytest.fixture(scope="module")
def pilot():
    data = simulate_crossed(n_subj=12, n_item=8, **TRUTH, subj_slope_sd=60.0,
                            subj_slope_corr=0.3, seed=20240628)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = lmer("y ~ cond + (1 + cond|subject) + (1|item)", data)
    return data, fit


def test_extend_adds_balanced_levels_with_new_labels(pilot):
    _, fit = pilot
    design = extend(fit, subject=15, item=14)
    data = design.data
    assert isinstance(design, ExtendedDesign)
    assert design.sizes == {"subject": 15, "item": 14}
    assert len(data) == 15 * 14
    assert data.groupby(["subject", "item"]).size().eq(1).all()      # fully crossed
    assert data.groupby("cond")["item"].nunique().tolist() == [7, 7]  # still balanced
    assert data.groupby("item")["cond"].nunique().max() == 1         # between items
    assert {"s01.1", "s03.1", "i1.1"} <= set(data["subject"]) | set(data["item"])
    smaller = extend(fit, item=4)
    assert smaller.data.groupby("cond")["item"].nunique().tolist() == [2, 2]
    assert len(smaller.data) == 12 * 4


def test_extend_simulates_with_the_fitted_parameters(pilot):
    _, fit = pilot
    design = extend(fit, fixed={"cond[T.hard]": 30.0}, subject=12, item=8)
    assert design.fe_params["cond[T.hard]"] == 30.0
    assert design.fe_params["Intercept"] == fit.fe_params["Intercept"]
    ys = np.array([design.simulate_response(s)
                   for s in np.random.SeedSequence(1).spawn(3000)])
    vc = fit.varcorr()
    keys = zip(vc["grp"], vc["var1"].fillna(""), vc["var2"].fillna(""))
    var = dict(zip(keys, vc["vcov"]))
    hard = design.data["cond"].eq("hard").to_numpy()
    expected_mean = np.where(hard, fit.fe_params.sum() - fit.fe_params.iloc[1] + 30.0,
                             fit.fe_params["Intercept"])
    for rows in (hard, ~hard):
        assert ys[:, rows].mean() == pytest.approx(expected_mean[rows][0], abs=8.0)
    # the variance of an easy and a hard response: subject (+ slope) + item + residual
    v_easy = (var[("subject", "(Intercept)", "")] + var[("item", "(Intercept)", "")]
              + var[("Residual", "", "")])
    v_hard = (v_easy + var[("subject", "condhard", "")]
              + 2 * var[("subject", "(Intercept)", "condhard")])
    assert ys[:, ~hard].var(axis=0).mean() == pytest.approx(v_easy, rel=0.05)
    assert ys[:, hard].var(axis=0).mean() == pytest.approx(v_hard, rel=0.05)
    # the same seed, the same data set
    pd.testing.assert_frame_equal(design.simulate(7), design.simulate(7))


def test_extend_accepts_a_statsmodels_fit_of_the_same_model(pilot):
    data, _ = pilot
    formula = "y ~ cond + (1|subject) + (1|item)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sm_fit, _ = fit_crossed(mixedlm(formula, data))
        lm_fit = lmer(formula, data)
    a, b = extend(sm_fit, subject=20), extend(lm_fit, subject=20)
    pd.testing.assert_frame_equal(a.data, b.data)
    assert a.sigma == pytest.approx(b.sigma, rel=1e-3)
    for key in b.covariances:
        np.testing.assert_allclose(a.covariances[key], b.covariances[key], rtol=1e-2)
    np.testing.assert_allclose(a.fe_params, b.fe_params, rtol=1e-4)


def test_extended_design_runs_in_worker_processes(pilot):
    _, fit = pilot
    design = extend(fit, subject=6, item=8)

    def simulate(seed, n):
        return design.simulate(seed).head(n)

    def first(data):
        return float(data["y"].iloc[0] > 800)

    serial = power_curve(simulate, first, {"n": [10, 20]}, n_sim=20, seed=1, n_jobs=1)
    two = power_curve(simulate, first, {"n": [10, 20]}, n_sim=20, seed=1, n_jobs=2)
    assert np.array_equal(serial.attrs["pvalues"], two.attrs["pvalues"])


@pytest.mark.parametrize("kwargs, error, match", [
    ({}, ValueError, "at least one grouping column"),
    ({"cond": 4}, ValueError, "not a grouping column"),
    ({"subject": 1}, ValueError, "at least 2"),
    ({"subject": 10.5}, TypeError, "whole number"),
    ({"subject": 10, "fixed": {"condhard": 1.0}}, ValueError, "not in the model"),
    ({"subject": 10, "fixed": {"cond[T.hard]": "big"}}, ValueError, "must be a number"),
])
def test_bad_input_to_extend(pilot, kwargs, error, match):
    _, fit = pilot
    with pytest.raises(error, match=match):
        extend(fit, **kwargs)


def test_extend_refuses_what_it_cannot_read(pilot):
    data, _ = pilot
    with pytest.raises(TypeError, match="helpers.lmer fit"):
        extend(data, subject=10)
    import statsmodels.formula.api as smf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = smf.mixedlm("y ~ cond", data, groups="subject").fit()
    with pytest.raises(ValueError, match="helpers.mixedlm"):
        extend(plain, subject=10)


def test_power_curve_plot_labels_and_error_bars():
    import matplotlib

    matplotlib.use("Agg")
    curve = power_curve(_simulate, _f2_p, GRID, n_sim=20, seed=1)
    ax = power_curve_plot(curve, "n_item", by="n_subj", xlabel="items")
    assert ax.get_xlabel() == "items" and ax.get_ylabel().startswith("power")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["n_subj = 8",
                                                                   "n_subj = 16"]
    with pytest.raises(KeyError):
        power_curve_plot(curve, "participants")
