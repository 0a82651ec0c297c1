"""helpers.lrt, the diagnostic plots and helpers.report_warnings."""
import warnings

import numpy as np
import pandas as pd
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


# ---------------------------------------------------------------------------
# helpers.lrt(boundary=True): the reference distribution follows the models
# ---------------------------------------------------------------------------
from helpers.core import compare  # noqa: E402

N_OBS = 8
XV = np.array([-3, -1, 1, 3, -3, -1, 1, 3], float)
ZV = np.array([1, 1, 1, 1, -1, -1, -1, -1], float)
FORMULAS = {
    "reduced": "y ~ x + z + (1 | g)",
    "one_variance": "y ~ x + z + (1 + x || g)",
    "slope_with_covariance": "y ~ x + z + (1 + x | g)",
    "two_variances": "y ~ x + z + (1 + x + z || g)",
}
MIXTURES = {
    "one_variance": [(0.5, 0), (0.5, 1)],
    "slope_with_covariance": [(0.5, 1), (0.5, 2)],
    "two_variances": [(0.25, 0), (0.5, 1), (0.25, 2)],
}


def _null_data(rng, n_groups):
    """Random intercepts only (SD 1, residual SD 1): the null of every test below."""
    y = rng.normal(0, 1, (n_groups, 1)) + rng.normal(0, 1, (n_groups, N_OBS))
    return pd.DataFrame({"g": np.repeat([f"g{i:03d}" for i in range(n_groups)], N_OBS),
                         "x": np.tile(XV, n_groups), "z": np.tile(ZV, n_groups),
                         "y": y.ravel()})


def _reml_fits(d):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {k: helpers.fit_all(helpers.mixedlm(f, d), methods=("lbfgs", "bfgs", "powell"))
                .best for k, f in FORMULAS.items()}


@pytest.fixture(scope="module")
def null_fits():
    return _reml_fits(_null_data(np.random.default_rng(2024), 20))


@pytest.mark.parametrize("case", sorted(MIXTURES))
def test_reference_distribution_follows_what_the_models_differ_by(null_fits, case):
    assert compare.reference_distribution(null_fits["reduced"], null_fits[case]) == MIXTURES[case]
    out = helpers.lrt(null_fits["reduced"], null_fits[case], boundary=True)
    expected = compare._mixture_sf(out["chi2"], MIXTURES[case])
    assert out["p"] == pytest.approx(expected)
    assert out.attrs["reference"] == " + ".join(f"{w:g} chi2({d})" for w, d in MIXTURES[case])


def test_covariance_only_is_not_a_boundary_test(null_fits):
    out = helpers.lrt(null_fits["one_variance"], null_fits["slope_with_covariance"],
                      boundary=True)
    assert out["df"] == 1 and out.attrs["reference"] == "chi2(1)"
    assert out["p"] == pytest.approx(stats.chi2.sf(out["chi2"], 1))


def test_no_closed_form_raises_and_offers_the_bootstrap():
    d = _null_data(np.random.default_rng(3), 20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = {f: helpers.mixedlm(f"y ~ x + z + {f}", d).fit() for f in
               ["(1 | g)", "(1 + x + z | g)", "(1 + x || g)", "(1 + z | g)"]}
    # two variances and their covariances added at once: no simple mixture
    with pytest.raises(ValueError, match=r"no simple chi-square mixture.*method=\"bootstrap\""):
        helpers.lrt(fit["(1 | g)"], fit["(1 + x + z | g)"], boundary=True)
    # random effects that are not a subset of the full model's
    with pytest.raises(ValueError, match=r"var\(x \| g\).*not a subset.*bootstrap"):
        helpers.lrt(fit["(1 + x || g)"], fit["(1 + z | g)"], boundary=True)


def test_old_two_variance_mixture_is_replaced(null_fits):
    """The 50:50 mixture of chi2(df) and chi2(df - 1) is wrong for two independent variances."""
    out = helpers.lrt(null_fits["reduced"], null_fits["two_variances"], boundary=True)
    old = 0.5 * stats.chi2.sf(out["chi2"], 2) + 0.5 * stats.chi2.sf(out["chi2"], 1)
    new = compare._mixture_sf(out["chi2"], MIXTURES["two_variances"])
    assert out["p"] == pytest.approx(new)
    if out["chi2"] > 0:
        assert new < old


# ---- a fast exact REML fitter for the simulation (balanced design, orthogonal X) ----
_X = np.column_stack([np.ones(N_OBS), XV, ZV])
_W = np.linalg.inv(_X.T @ _X)
_H = _X @ _W @ _X.T
# each model's random effects: blocks of columns of X with one covariance matrix each
_BLOCKS = {"reduced": [[0]], "one_variance": [[0], [1]],
           "slope_with_covariance": [[0, 1]], "two_variances": [[0], [1], [2]]}


def _fast_reml(Y, blocks):
    """Maximum REML log-likelihood, up to a constant common to the four models.

    With the same design X in every group and random effects on columns of X, the
    group OLS coefficients u_i are N(beta, Gamma + s2 W) (W = (X'X)^-1) and the within
    residuals N(0, s2). For a given s2 the REML optimum of each block of Gamma >= 0
    has a closed form (eigenvalues of W^-1/2 B W^-1/2 / s2 floored at 1), leaving a
    one-dimensional search over s2.
    """
    from scipy import optimize

    m, n = Y.shape
    p = _X.shape[1]
    U = Y @ _X @ _W
    within = np.sum((Y - Y @ _H) ** 2)
    D = U - U.mean(0)
    df_b = m - 1                       # REML: the group means lose one df to beta
    B = D.T @ D / df_b
    in_blocks = {j for b in blocks for j in b}

    def negll(log_s2):
        s2 = np.exp(log_s2)
        out = m * (n - p) * np.log(s2) + within / s2
        for j in set(range(p)) - in_blocks:
            out += df_b * (np.log(s2 * _W[j, j]) + B[j, j] / (s2 * _W[j, j]))
        for b in blocks:
            wb = _W[np.ix_(b, b)] * s2
            ri = np.linalg.inv(np.linalg.cholesky(wb))
            lam = np.linalg.eigvalsh(ri @ B[np.ix_(b, b)] @ ri.T)
            top = np.maximum(lam, 1.0)
            out += df_b * (np.linalg.slogdet(wb)[1] + np.sum(np.log(top) + lam / top))
        return out

    lo = np.log(within / (m * (n - p))) - 3
    r = optimize.minimize_scalar(negll, bounds=(lo, lo + 6), method="bounded",
                                 options={"xatol": 1e-10})
    return -r.fun / 2


def _fast_lr(Y):
    l0 = _fast_reml(Y, _BLOCKS["reduced"])
    return {k: max(2 * (_fast_reml(Y, _BLOCKS[k]) - l0), 0.0) for k in MIXTURES}


def test_fast_fitter_agrees_with_statsmodels(null_fits):
    """The simulation's fitter gives statsmodels' (REML) likelihood-ratio statistics."""
    for seed in (2024, 7):
        d = _null_data(np.random.default_rng(seed), 20)
        fits = null_fits if seed == 2024 else _reml_fits(d)
        fast = _fast_lr(d["y"].to_numpy().reshape(20, N_OBS))
        for case in MIXTURES:
            lr = max(2 * (fits[case].llf - fits["reduced"].llf), 0.0)
            assert fast[case] == pytest.approx(lr, abs=2e-3), (seed, case)


def test_boundary_mixtures_keep_the_type_i_error(null_fits):
    """Under the null (random intercepts only), each closed-form reference distribution
    rejects 5% of the time, within 3 Monte Carlo standard errors; and the chi2(0) weight
    (the share of fits with the added variances at zero) is the mixture's."""
    n_rep, n_groups = 600, 100
    rng = np.random.default_rng(20240601)
    lr = {k: [] for k in MIXTURES}
    for _ in range(n_rep):
        y = rng.normal(0, 1, (n_groups, 1)) + rng.normal(0, 1, (n_groups, N_OBS))
        for k, v in _fast_lr(y).items():
            lr[k].append(v)
    se = np.sqrt(0.05 * 0.95 / n_rep)
    for case, draws in lr.items():
        draws = np.asarray(draws)
        # the reference distribution helpers.lrt reads from the two fits
        mixture = compare.reference_distribution(null_fits["reduced"], null_fits[case])
        p = np.array([compare._mixture_sf(v if v > 1e-9 else 0.0, mixture) for v in draws])
        rate = float(np.mean(p < 0.05))
        assert abs(rate - 0.05) <= 3 * se, f"{case}: type I error {rate:.3f}"
        w0 = sum(w for w, d in mixture if d == 0)
        if w0:
            at_zero = float(np.mean(draws <= 1e-9))
            assert abs(at_zero - w0) <= 3 * np.sqrt(w0 * (1 - w0) / n_rep), (case, at_zero)


# ---------------------------------------------------------------------------
# helpers.lrt(method="bootstrap")
# ---------------------------------------------------------------------------
def test_parametric_bootstrap_is_reproducible_and_counts_as_documented(null_fits):
    reduced, full = null_fits["reduced"], null_fits["one_variance"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = helpers.lrt(reduced, full, method="bootstrap", nsim=5, seed=11,
                        optimizers=("lbfgs",))
        b = helpers.lrt(reduced, full, method="bootstrap", nsim=5, seed=11,
                        optimizers=("lbfgs",))
    assert a["p"] == b["p"] and 3 <= a["nsim"] <= 5
    np.testing.assert_array_equal(a.attrs["bootstrap"], b.attrs["bootstrap"])
    sims = a.attrs["bootstrap"]
    assert (sims >= 0).all()
    assert a["p"] == pytest.approx((1 + np.sum(sims >= a["chi2"] - 1e-8)) / (len(sims) + 1))
    assert a["chi2"] == pytest.approx(2 * (full.llf - reduced.llf))


def test_bootstrap_simulates_from_the_reduced_fit(null_fits):
    fit = null_fits["reduced"]
    rng = np.random.default_rng(0)
    draws = np.array([compare.simulate_response(fit, rng) for _ in range(300)])
    # mean: the fixed part; variance: random intercept + residual; within-group covariance
    np.testing.assert_allclose(draws.mean(0), fit.fittedvalues - np.concatenate(
        [np.repeat(v.iloc[0], 8) for v in fit.random_effects.values()]), atol=0.25)
    total = float(fit.cov_re.iloc[0, 0]) + fit.scale
    assert draws.var(0).mean() == pytest.approx(total, rel=0.15)
    within = np.mean([np.cov(draws[:, 0], draws[:, 1])[0, 1]])
    assert within == pytest.approx(float(fit.cov_re.iloc[0, 0]), abs=0.3)


def test_lrt_argument_checks(null_fits):
    with pytest.raises(ValueError, match="method must be"):
        helpers.lrt(null_fits["reduced"], null_fits["one_variance"], method="exact")
    with pytest.raises(ValueError, match="nsim must be a positive integer"):
        helpers.lrt(null_fits["reduced"], null_fits["one_variance"], method="bootstrap", nsim=0)


def test_boundary_lrt_matches_uncorrelated_terms_whatever_their_number():
    """lme4 numbers the terms of a factor split by || (Subject, Subject.1, ...); dropping
    a middle term renumbers the rest, and the test must still see one dropped variance."""
    import helpers

    d = helpers.load("sleepstudy")
    d["D2"] = (d["Days"] - 4.5) ** 2 / 10
    full = helpers.lmer("Reaction ~ Days + (1 + Days + D2 || Subject)", d)
    reduced = helpers.lmer("Reaction ~ Days + (1 + D2 || Subject)", d)
    assert list(helpers.varcorr(reduced)["grp"])[:2] == ["Subject", "Subject.1"]
    test = helpers.lrt(reduced, full, boundary=True)
    assert test["df"] == 1
    assert test["p"] == pytest.approx(0.5 * stats.chi2.sf(test["chi2"], 1), rel=1e-12)
