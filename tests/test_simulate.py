"""Simulated data: reproducible from a seed, shaped as documented, and validated."""
import warnings

import numpy as np
import pandas as pd
import pytest

import helpers
from helpers.studies import simulate as sim

FUNCTIONS = [sim.simulate_mixed_design, sim.simulate_two_within, sim.simulate_random_slopes,
             sim.simulate_crossed, sim.simulate_nested]


@pytest.mark.parametrize("make", FUNCTIONS, ids=lambda f: f.__name__)
def test_same_seed_same_data_other_seed_other_data(make):
    a, b, c = make(seed=11), make(seed=11), make(seed=12)
    pd.testing.assert_frame_equal(a, b)
    assert not a["y"].equals(c["y"])
    assert a["y"].notna().all()


def test_mixed_design_shape_and_design():
    df = sim.simulate_mixed_design(n_per_group=5, n_within=3, n_between=2, seed=1)
    assert len(df) == 5 * 2 * 3
    d = helpers.describe_design(df, "subject", ["within", "between"])
    assert d["design"].to_dict() == {"within": "within", "between": "between"}


def test_nested_class_labels_repeat_across_schools():
    df = sim.simulate_nested(n_school=4, n_class_per_school=3, n_pupil=2, seed=1)
    assert df.groupby("class")["school"].nunique().gt(1).all()


def test_crossed_design_is_crossed():
    df = sim.simulate_crossed(n_subj=6, n_item=4, seed=1)
    assert len(df) == 24
    assert df.groupby("subject")["item"].nunique().eq(4).all()


def test_parameters_are_recovered_in_large_samples():
    df = sim.simulate_mixed_design(n_per_group=150, n_within=3, n_between=2, subj_sd=2.0,
                                   error_sd=1.0, seed=5)
    fit = helpers.mixedlm("y ~ C(within) * C(between) + (1 | subject)", df).fit()
    assert np.sqrt(float(fit.cov_re.iloc[0, 0])) == pytest.approx(2.0, rel=0.1)
    assert np.sqrt(fit.scale) == pytest.approx(1.0, rel=0.05)


def test_random_slopes_correlation_is_recovered():
    df = sim.simulate_random_slopes(n_subj=300, n_obs=10, subj_sd=25, slope_sd=6,
                                    slope_corr=0.5, error_sd=10, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = helpers.mixedlm("y ~ x + (1 + x | subject)", df).fit()
    cov = fit.cov_re.to_numpy()
    assert cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1]) == pytest.approx(0.5, abs=0.15)


def test_knock_out_removes_the_share_asked_for():
    df = sim.simulate_mixed_design(n_per_group=10, seed=1)
    out = sim.knock_out(df, 0.1, seed=3)
    assert len(df) - len(out) == round(0.1 * len(df))
    masked = sim.knock_out(df, 0.1, column="y", seed=3)
    assert len(masked) == len(df) and masked["y"].isna().sum() == round(0.1 * len(df))


@pytest.mark.parametrize(
    "make, kwargs, culprit",
    [
        (sim.simulate_mixed_design, {"subj_sd": -1}, "subj_sd"),
        (sim.simulate_mixed_design, {"n_per_group": 0}, "n_per_group"),
        (sim.simulate_random_slopes, {"slope_corr": 1.5}, "slope_corr"),
        (sim.simulate_crossed, {"item_sd": -0.1}, "item_sd"),
        (sim.simulate_nested, {"n_school": 0}, "n_school"),
    ],
)
def test_bad_arguments_name_the_culprit(make, kwargs, culprit):
    with pytest.raises(ValueError, match=culprit):
        make(**kwargs)
