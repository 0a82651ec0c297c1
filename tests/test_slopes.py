"""helpers.studies.slopes: per-group lines, lme4's VarCorr layout, and the two random-slope figures."""
from __future__ import annotations

import json
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

import helpers
from conftest import ROOT
from helpers.core.varcorr import varcorr
from helpers.studies.slopes import blup_lines, lattice_plot, ols_lines, shrinkage_plot

REFERENCE = ROOT / "data" / "reference"


def r_reference(case: str) -> dict:
    return json.loads((REFERENCE / f"{case}.json").read_text())


@pytest.fixture(scope="module")
def sleep():
    return helpers.load("sleepstudy")


@pytest.fixture(scope="module")
def correlated(sleep):
    return helpers.mixedlm("Reaction ~ Days + (1 + Days | Subject)", sleep).fit()


@pytest.fixture(scope="module")
def uncorrelated(sleep):
    return helpers.mixedlm("Reaction ~ Days + (1 + Days || Subject)", sleep).fit()


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _fitted_from_lines(lines, data, group, x):
    return (lines.loc[data[group], "intercept"].to_numpy()
            + lines.loc[data[group], "slope"].to_numpy() * data[x].to_numpy())


# ---------------------------------------------------------------- ols_lines

def test_ols_lines_recovers_exact_lines():
    x = np.tile(np.arange(5.0), 3)
    g = np.repeat(["b", "a", "c"], 5)
    a = {"a": 1.0, "b": -2.0, "c": 10.0}
    b = {"a": 0.5, "b": 3.0, "c": -1.25}
    y = np.array([a[k] + b[k] * xi for k, xi in zip(g, x)])
    lines = ols_lines(pd.DataFrame({"g": g, "x": x, "y": y}), "g", "x", "y")
    assert list(lines.index) == ["a", "b", "c"]
    assert lines.index.name == "g"
    np.testing.assert_allclose(lines["intercept"], [1.0, -2.0, 10.0])
    np.testing.assert_allclose(lines["slope"], [0.5, 3.0, -1.25])


def test_ols_lines_on_sleepstudy_match_a_regression_per_subject(sleep):
    lines = ols_lines(sleep, "Subject", "Days", "Reaction")
    assert lines.shape == (18, 2)
    one = sleep[sleep["Subject"] == 335]
    fit = smf.ols("Reaction ~ Days", one).fit()
    np.testing.assert_allclose(lines.loc[335].to_numpy(), fit.params.to_numpy())
    # with a balanced design the subjects' own lines average to the pooled OLS line
    pooled = smf.ols("Reaction ~ Days", sleep).fit().params
    np.testing.assert_allclose(lines.mean().to_numpy(), pooled.to_numpy())


def test_ols_lines_errors(sleep):
    with pytest.raises(KeyError, match="Time"):
        ols_lines(sleep, "Subject", "Time", "Reaction")
    gappy = sleep.copy()
    gappy.loc[3, "Reaction"] = np.nan
    with pytest.raises(ValueError, match="Reaction.*missing"):
        ols_lines(gappy, "Subject", "Days", "Reaction")
    flat = pd.DataFrame({"g": ["a", "a", "b", "b"], "x": [1, 1, 0, 1], "y": [1.0, 2.0, 3.0, 4.0]})
    with pytest.raises(ValueError, match="group 'a'.*two distinct"):
        ols_lines(flat, "g", "x", "y")
    words = pd.DataFrame({"g": ["a", "a"], "x": ["lo", "hi"], "y": [1.0, 2.0]})
    with pytest.raises(ValueError, match="'x' must be numeric"):
        ols_lines(words, "g", "x", "y")


# ---------------------------------------------------------------- blup_lines

@pytest.mark.parametrize("which", ["correlated", "uncorrelated"])
def test_blup_lines_reproduce_the_fitted_values(which, request, sleep):
    fit = request.getfixturevalue(which)
    lines = blup_lines(fit, "Days")
    assert lines.shape == (18, 2)
    np.testing.assert_allclose(_fitted_from_lines(lines, sleep, "Subject", "Days"),
                               fit.fittedvalues.to_numpy(), atol=1e-8)


def test_blup_lines_without_a_random_slope_share_the_fixed_slope(sleep):
    fit = helpers.mixedlm("Reaction ~ Days + (1 | Subject)", sleep).fit()
    lines = blup_lines(fit, "Days")
    np.testing.assert_allclose(lines["slope"], fit.fe_params["Days"])
    assert lines["intercept"].std() > 10
    only_slope = smf.mixedlm("Reaction ~ Days", sleep, groups="Subject", re_formula="0 + Days").fit()
    lines = blup_lines(only_slope, "Days")
    np.testing.assert_allclose(lines["intercept"], only_slope.fe_params["Intercept"])
    np.testing.assert_allclose(_fitted_from_lines(lines, sleep, "Subject", "Days"),
                               only_slope.fittedvalues.to_numpy(), atol=1e-8)


def test_blup_lines_errors(correlated):
    with pytest.raises(ValueError, match="'Hours' is not a fixed effect"):
        blup_lines(correlated, "Hours")
    with pytest.raises(ValueError, match="fitted statsmodels MixedLM"):
        blup_lines(correlated.model, "Days")


# ---------------------------------------------------------------- varcorr

def _assert_like_r(table: pd.DataFrame, case: str):
    ref = r_reference(case)
    vc = ref["varcorr"]
    assert len(table) == len(vc["sdcor"])
    sigma = ref["sigma"]
    for row, (var1, var2, sdcor) in enumerate(zip(vc["var1"], vc["var2"], vc["sdcor"])):
        assert (pd.isna(table["var1"][row]) and var1 is None) or table["var1"][row] == var1
        assert (pd.isna(table["var2"][row]) and var2 is None) or table["var2"][row] == var2
        if var2 is None:   # a standard deviation: 0.1 % of the larger of itself and sigma
            assert abs(table["sdcor"][row] - sdcor) <= 1e-3 * max(abs(sdcor), sigma)
        else:              # a correlation
            assert abs(table["sdcor"][row] - sdcor) <= 1e-3


def test_varcorr_correlated_slopes_match_lme4(correlated):
    table = varcorr(correlated)
    assert list(table.columns) == ["grp", "var1", "var2", "vcov", "sdcor"]
    assert list(table["grp"]) == ["Subject", "Subject", "Subject", "Residual"]
    _assert_like_r(table, "sleepstudy")
    cov = correlated.cov_re.to_numpy()
    assert table["vcov"][2] == pytest.approx(cov[0, 1])
    assert table["sdcor"][2] == pytest.approx(cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1]))
    assert table["vcov"][3] == pytest.approx(correlated.scale)


def test_varcorr_uncorrelated_slopes_match_lme4(uncorrelated):
    table = varcorr(uncorrelated)
    assert list(table["grp"]) == ["Subject", "Subject", "Residual"]
    _assert_like_r(table, "sleepstudy_uncorrelated")


def test_varcorr_crossed_components_are_named_like_lme4():
    pen = helpers.load("penicillin")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = helpers.fit_all(helpers.mixedlm("diameter ~ 1 + (1|plate) + (1|sample)", pen),
                              methods=("lbfgs",)).best
    table = varcorr(fit).set_index("grp")
    ref = r_reference("penicillin")["varcorr"]
    for grp, var1, sdcor in zip(ref["grp"], ref["var1"], ref["sdcor"]):
        assert table.loc[grp, "sdcor"] == pytest.approx(sdcor, rel=1e-3)
        if var1 is not None:
            assert table.loc[grp, "var1"] == var1


def test_varcorr_of_a_plain_statsmodels_model(sleep):
    fit = smf.mixedlm("Reaction ~ Days", sleep, groups="Subject", re_formula="~Days").fit()
    table = varcorr(fit)
    assert list(table["grp"][:3]) == ["Subject"] * 3
    assert table["var1"][0] == "(Intercept)"
    vc = smf.mixedlm("Reaction ~ Days", sleep, groups="Subject",
                     vc_formula={"slope": "0 + Days"}).fit()
    table = varcorr(vc)
    # a slope written as a variance component is listed under its groups (as lme4 lists
    # (0 + Days | Subject)), named after the component
    assert (table["grp"][0], table["var1"][0]) == ("Subject", "slope")
    assert table["sdcor"][0] == pytest.approx(np.sqrt(float(vc.vcomp[0])))
    both = smf.mixedlm("Reaction ~ Days", sleep, groups="Subject", re_formula="1",
                       vc_formula={"Days": "0 + Days"}).fit()
    assert list(varcorr(both)["grp"][:2]) == ["Subject", "Subject"]
    assert list(varcorr(both)["var1"][:2]) == ["(Intercept)", "Days"]
    nested = smf.mixedlm("Reaction ~ Days", sleep.assign(half=sleep["Days"] >= 5),
                         groups="Subject", vc_formula={"half": "0 + C(half)"}).fit()
    table = varcorr(nested)   # a factor nested in the groups keeps its own name
    assert table["grp"][0] == "half" and pd.isna(table["var1"][0])
    with pytest.raises(ValueError, match="fitted statsmodels MixedLM"):
        varcorr("not a fit")


# ---------------------------------------------------------------- figures

def test_lattice_plot_draws_one_panel_per_group_in_order(sleep, correlated):
    own = ols_lines(sleep, "Subject", "Days", "Reaction")
    order = list(own.sort_values("slope").index)
    fig = lattice_plot(sleep, "Subject", "Days", "Reaction",
                       lines={"own": own, "model": blup_lines(correlated, "Days"),
                              "average": (250.0, 10.0)},
                       order=order, ncols=5, xlabel="days", ylabel="ms")
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 18 and len(fig.axes) == 20   # 4 rows of 5, two panels hidden
    assert [ax.get_title() for ax in visible] == [str(g) for g in order]
    first = visible[0]
    assert len(first.lines) == 3 and len(first.collections) == 1
    x0, x1 = first.lines[0].get_xdata()
    assert (x0, x1) == (0, 9)
    a, b = own.loc[order[0]]
    np.testing.assert_allclose(first.lines[0].get_ydata(), [a, a + 9 * b])
    np.testing.assert_allclose(first.lines[2].get_ydata(), [250.0, 340.0])
    assert len(first.collections[0].get_offsets()) == 10


def test_lattice_plot_is_readable_at_the_width_of_the_page(sleep, correlated):
    """18 panels at 4 a row, fonts that stay >= 11 px when the figure is shown 800 px wide."""
    own = ols_lines(sleep, "Subject", "Days", "Reaction")
    fig = lattice_plot(sleep, "Subject", "Days", "Reaction",
                       lines={"own": own, "model": blup_lines(correlated, "Days")})
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 18 and len(fig.axes) == 20          # 5 rows of 4
    shrink = 800 / (fig.get_figwidth() * 100)                  # saved at 100 dpi
    assert shrink > 0.8
    ax = visible[0]
    sizes = [ax.title.get_fontsize()] + [t.get_fontsize() for t in ax.get_yticklabels()]
    assert min(sizes) * 100 / 72 * shrink >= 11
    # the panels above the empty slots keep their x tick labels; the legend fills the slots
    fig.canvas.draw()
    for k in (14, 15, 16, 17):
        assert any(t.get_visible() and t.get_text() for t in fig.axes[k].get_xticklabels()), k
    legend = fig.legends[0]
    box = legend.get_window_extent().transformed(fig.transFigure.inverted())
    slots = [fig.axes[k].get_position() for k in (18, 19)]
    assert box.x0 >= slots[0].x0 - 0.02 and box.y1 <= slots[0].y1 + 0.02
    assert [t.get_text() for t in legend.get_texts()] == ["own", "model"]


def test_lattice_plot_errors(sleep):
    own = ols_lines(sleep, "Subject", "Days", "Reaction")
    with pytest.raises(ValueError, match="each of the 18 groups"):
        lattice_plot(sleep, "Subject", "Days", "Reaction", order=[308, 309])
    with pytest.raises(KeyError, match="no row for group"):
        lattice_plot(sleep, "Subject", "Days", "Reaction", lines={"own": own.iloc[:5]})
    with pytest.raises(ValueError, match="ncols"):
        lattice_plot(sleep, "Subject", "Days", "Reaction", ncols=0)
    with pytest.raises(ValueError, match="tuple"):
        lattice_plot(sleep, "Subject", "Days", "Reaction", lines={"bad": [1, 2]})
    with pytest.raises(KeyError, match="RT"):
        lattice_plot(sleep, "Subject", "Days", "RT")


def test_shrinkage_plot_draws_both_sets_of_points(sleep, correlated):
    own = ols_lines(sleep, "Subject", "Days", "Reaction")
    model = blup_lines(correlated, "Days")
    ax = shrinkage_plot(own, model, center=tuple(correlated.fe_params), cov=correlated.cov_re,
                        xlabel="intercept (ms)", ylabel="slope (ms/day)")
    before, after = ax.collections[:2]
    np.testing.assert_allclose(before.get_offsets(), own.to_numpy())
    np.testing.assert_allclose(after.get_offsets(), model.loc[own.index].to_numpy())
    assert len(ax.texts) == 18                      # one arrow per subject
    assert ax.get_xlabel() == "intercept (ms)"
    ellipse = ax.lines[-1]
    assert ellipse.get_label().startswith("95%")
    # the ellipse is centred on the fixed effects
    np.testing.assert_allclose([np.mean(ellipse.get_xdata()), np.mean(ellipse.get_ydata())],
                               correlated.fe_params.to_numpy(), rtol=1e-2)


def test_shrinkage_plot_errors(sleep, correlated):
    own = ols_lines(sleep, "Subject", "Days", "Reaction")
    model = blup_lines(correlated, "Days")
    with pytest.raises(ValueError, match="same groups"):
        shrinkage_plot(own.iloc[:5], model)
    with pytest.raises(ValueError, match="cov needs center"):
        shrinkage_plot(own, model, cov=np.eye(2))
    with pytest.raises(ValueError, match="2 x 2"):
        shrinkage_plot(own, model, center=(0, 0), cov=np.eye(3))
    with pytest.raises(ValueError, match="DataFrame"):
        shrinkage_plot((1.0, 2.0), model)
