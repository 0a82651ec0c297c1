"""helpers.lrt, the diagnostic plots and helpers.report_warnings."""
import warnings

import numpy as np
import pingouin as pg
import pytest
from scipy import stats

import helpers


@pytest.fixture(scope="module")
def memory():
    return pg.read_dataset("mixed_anova")


def _fit(formula, data, reml):
    return helpers.mixedlm(formula, data).fit(reml=reml)


def test_lrt_matches_twice_the_log_likelihood_gain(memory):
    m0 = _fit("Scores ~ C(Time) + C(Group) + (1 | Subject)", memory, False)
    m1 = _fit("Scores ~ C(Time) * C(Group) + (1 | Subject)", memory, False)
    out = helpers.lrt(m0, m1)
    assert out["df"] == 2
    assert out["chi2"] == pytest.approx(2 * (m1.llf - m0.llf))
    assert out["p"] == pytest.approx(stats.chi2.sf(out["chi2"], 2))


def test_boundary_lrt_halves_the_p_value_for_one_variance(memory):
    import statsmodels.formula.api as smf

    d = helpers.simulate_random_slopes(n_subj=30, n_obs=8, slope_sd=4.0, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m0 = smf.mixedlm("y ~ x", d, groups="subject").fit()
        m1 = smf.mixedlm("y ~ x", d, groups="subject", re_formula="1",
                         vc_formula={"x": "0 + x"}).fit()
    naive, mixture = helpers.lrt(m0, m1), helpers.lrt(m0, m1, boundary=True)
    assert mixture["p"] == pytest.approx(naive["p"] / 2)


def test_lrt_refuses_reml_fits_with_different_fixed_effects(memory):
    m0 = _fit("Scores ~ C(Time) + (1 | Subject)", memory, True)
    m1 = _fit("Scores ~ C(Time) + C(Group) + (1 | Subject)", memory, True)
    with pytest.raises(ValueError, match="reml=False"):
        helpers.lrt(m0, m1)
    with pytest.raises(ValueError, match="smaller model first"):
        helpers.lrt(_fit("Scores ~ C(Time) + C(Group) + (1 | Subject)", memory, False),
                    _fit("Scores ~ C(Time) + (1 | Subject)", memory, False))
    with pytest.raises(ValueError, match="MixedLM result"):
        helpers.lrt("model", m1)


def test_caterpillar_plot_draws_every_blup(memory):
    fit = _fit("Scores ~ C(Time) * C(Group) + (1 | Subject)", memory, True)
    ax = helpers.caterpillar_plot(fit, xlabel="subject effect (points)")
    points = ax.collections[-1].get_offsets()
    blups = np.sort([v.iloc[0] for v in fit.random_effects.values()])
    np.testing.assert_allclose(np.sort(points[:, 0]), blups)
    assert ax.get_xlabel() == "subject effect (points)"
    with pytest.raises(KeyError, match="slope"):
        helpers.caterpillar_plot(fit, term="slope")
    with pytest.raises(ValueError, match="fitted statsmodels MixedLM"):
        helpers.caterpillar_plot(object())


def test_residual_plots(memory):
    fit = _fit("Scores ~ C(Time) + (1 | Subject)", memory, True)
    fig = helpers.residual_plots(fit)
    assert [a.get_xlabel() for a in fig.axes] == ["fitted value", "normal quantile"]
    assert len(fig.axes[0].collections[0].get_offsets()) == len(memory)


def test_report_warnings_prints_each_warning_once(capsys):
    with helpers.report_warnings() as caught:
        for _ in range(3):
            warnings.warn("boundary", UserWarning)
        warnings.warn("other", RuntimeWarning)
    out = capsys.readouterr().out
    assert len(caught) == 4
    assert "UserWarning: boundary  (x3)" in out and "RuntimeWarning: other" in out
    with helpers.report_warnings():
        pass
    assert capsys.readouterr().out == "warnings: none\n"
