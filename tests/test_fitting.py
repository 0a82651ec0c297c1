"""Tests of helpers.core.fitting: fit_all (lme4's allFit) and is_singular."""
from __future__ import annotations

import copy
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

import helpers
from helpers.core.fitting import (
    METHODS,
    FitAll,
    OptimizerDisagreementWarning,
    _disagreements,
    fit_all,
    is_singular,
    relative_sds,
)


def _quiet_fit(model, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(**kw)


@pytest.fixture(scope="module")
def pingouin_model():
    pg = pytest.importorskip("pingouin")
    data = pg.read_dataset("mixed_anova")
    return smf.mixedlm("Scores ~ C(Time)*C(Group)", data, groups="Subject")


@pytest.fixture(scope="module")
def seed_model():
    return smf.mixedlm("dependent_var ~ C(Condition_1)*C(Condition_2)",
                       helpers.load("seed_toy"), groups="participant_ID")


def _crossed_data(seed, sd_subj, sd_item, n_subj=12, n_item=8):
    rng = np.random.default_rng(seed)
    d = pd.DataFrame([(s, i) for s in range(n_subj) for i in range(n_item)], columns=["subj", "item"])
    d["cond"] = (d["subj"] + d["item"]) % 2
    d["y"] = (10 + rng.normal(0, sd_subj, n_subj)[d["subj"]] + rng.normal(0, sd_item, n_item)[d["item"]]
              + 0.3 * d["cond"] + rng.normal(0, 1, len(d)))
    d["one"] = 1
    return d


def _crossed_model(data):
    return smf.mixedlm("y ~ C(cond)", data, groups="one", re_formula="0",
                       vc_formula={"subj": "0 + C(subj)", "item": "0 + C(item)"})


# ---------------------------------------------------------------------------
# fit_all
# ---------------------------------------------------------------------------
def test_fit_all_table_and_best(pingouin_model):
    with warnings.catch_warnings():
        warnings.simplefilter("error", OptimizerDisagreementWarning)
        fits = fit_all(pingouin_model)
    table = fits.table
    assert isinstance(fits, FitAll)
    assert list(table.index) == list(METHODS)
    assert list(table.columns[:3]) == ["converged", "llf", "seconds"]
    assert list(table.columns[-2:]) == ["warnings", "error"]
    for name in list(pingouin_model.exog_names) + ["Subject Var", "Scale"]:
        assert name in table.columns
    assert (table["seconds"] >= 0).all()
    best = fits.best
    assert bool(best.converged)
    assert best.llf == pytest.approx(table.loc[table["converged"], "llf"].max())
    assert fits.best_method in table.index[table["converged"]]
    # failures are rows, not crashes: a failed fit is not converged and says why
    failed = table[~table["converged"]]
    assert (failed["error"].str.len() + failed["warnings"].str.len() > 0).all()
    text = repr(fits)
    assert "FitAll(best=" in text and "lbfgs" in text and "converged" in text


def test_fit_all_ml_and_vc_model_columns():
    data = _crossed_data(3, 1.0, 0.5)
    fits = fit_all(_crossed_model(data), reml=False, methods=("bfgs", "powell"))
    assert list(fits.table.index) == ["bfgs", "powell"]
    assert {"subj Var", "item Var", "Scale", "C(cond)[T.1]"} <= set(fits.table.columns)
    assert fits.best.method == "ML"


def test_fit_all_random_slope_covariance_columns(pingouin_model):
    data = pingouin_model.data.frame.copy()
    data["t"] = data["Time"].map({"August": 0.0, "January": 1.0, "June": 2.0})
    model = smf.mixedlm("Scores ~ t", data, groups="Subject", re_formula="1 + t")
    fits = fit_all(model, methods=("bfgs", "nm"))
    assert {"Subject Var", "Subject x t Cov", "t Var"} <= set(fits.table.columns)


def test_disagreement_warning_on_a_crossed_model_where_lbfgs_stops_short():
    """Here statsmodels' lbfgs reports convergence at a log-likelihood ~2.7 lower."""
    model = _crossed_model(_crossed_data(21, 0.3, 3.0))
    with pytest.warns(OptimizerDisagreementWarning) as record:
        fits = fit_all(model)
    message = " ".join(str(w.message) for w in record)
    worst = fits.table.loc[fits.table["converged"], "llf"].idxmin()
    assert repr(worst) in message
    assert fits.best.llf == pytest.approx(fits.table.loc[fits.table["converged"], "llf"].max())
    assert fits.best_method != worst


def test_disagreement_warning_when_a_converged_fit_is_worse(seed_model, monkeypatch):
    """Deterministic: make one optimizer return a worse fit that claims convergence."""
    good = _quiet_fit(seed_model, reml=True, method="powell")
    worse = copy.copy(good._results)
    worse._cache = {"llf": good.llf - 3.0}  # llf is a cached property
    worse.fe_params = good.fe_params * 1.5
    calls = {"powell": good, "nm": worse}
    monkeypatch.setattr(seed_model, "fit", lambda reml=True, method=None: calls[method])
    with pytest.warns(OptimizerDisagreementWarning, match=r"'nm' by 3"):
        fits = fit_all(seed_model, methods=("powell", "nm"))
    assert fits.best_method == "powell"


def test_disagreements_logic_on_fabricated_tables():
    fe = ["Intercept", "x"]
    base = pd.DataFrame(
        {"converged": [True, True, False, True], "llf": [-10.0, -10.001, -50.0, -12.5],
         "Intercept": [1.0, 1.0, 9.0, 1.0], "x": [0.5, 0.5, 9.0, 0.5]},
        index=["lbfgs", "bfgs", "cg", "nm"],
    )
    msgs = _disagreements(base, fe)
    assert len(msgs) == 1 and "'nm' by 2.5" in msgs[0] and "cg" not in msgs[0]
    # fixed effects that differ by 1% relative
    table = base.copy()
    table.loc["bfgs", "x"] = 0.505
    msgs = _disagreements(table.drop(index="nm"), fe)
    assert len(msgs) == 1 and "'bfgs'" in msgs[0] and "'x'" in msgs[0]
    # ... are fine when measured against a large standard error
    assert _disagreements(table.drop(index="nm"), fe, se=[0.1, 10.0]) == []
    # agreement, or fewer than two converged fits: nothing to say
    assert _disagreements(base.drop(index="nm"), fe) == []
    assert _disagreements(base.loc[["lbfgs", "cg"]], fe) == []


def test_no_converged_fit_gives_clear_error(seed_model):
    fits = fit_all(seed_model, methods=("no_such_optimizer",))
    assert not fits.table["converged"].any()
    assert "ValueError" in fits.table.loc["no_such_optimizer", "error"]
    assert fits.best_method is None
    with pytest.raises(RuntimeError, match="no optimizer converged"):
        fits.best


def test_fit_all_bad_input(seed_model):
    with pytest.raises(ValueError, match="str"):
        fit_all("dependent_var ~ Condition_1")
    result = _quiet_fit(seed_model, method="powell")
    with pytest.raises(ValueError, match="result.model"):
        fit_all(result)
    with pytest.raises(ValueError, match="methods"):
        fit_all(seed_model, methods=())


# ---------------------------------------------------------------------------
# is_singular
# ---------------------------------------------------------------------------
def test_is_singular_on_seed_model(seed_model):
    result = _quiet_fit(seed_model, reml=True)
    assert is_singular(result) is True
    assert relative_sds(result).iloc[0] < 1e-4


def test_is_not_singular_on_pingouin_model(pingouin_model):
    result = _quiet_fit(pingouin_model, reml=True)
    assert is_singular(result) is False
    assert relative_sds(result)["Subject"] == pytest.approx(
        np.sqrt(float(result.cov_re.iloc[0, 0]) / result.scale))


def test_is_singular_with_variance_components():
    result = _quiet_fit(_crossed_model(_crossed_data(3, 1.0, 0.5)))
    theta = relative_sds(result)
    assert set(theta.index) == {"subj", "item"}
    assert is_singular(result) is False
    zeroed = copy.copy(result._results)
    zeroed.vcomp = np.array([0.0, float(result.vcomp[1])])
    assert is_singular(zeroed) is True


def test_is_singular_with_a_covariance_matrix(pingouin_model):
    data = pingouin_model.data.frame.copy()
    data["t"] = data["Time"].map({"August": 0.0, "January": 1.0, "June": 2.0})
    result = _quiet_fit(smf.mixedlm("Scores ~ t", data, groups="Subject", re_formula="1 + t"))
    fake = copy.copy(result._results)
    scale = fake.scale
    fake.cov_re = pd.DataFrame(np.array([[1.0, 0.3], [0.3, 0.5]]) * scale)
    assert is_singular(fake) is False
    fake.cov_re = pd.DataFrame(np.array([[1.0, 1.0], [1.0, 1.0]]) * scale)  # correlation 1
    assert is_singular(fake) is True
    fake.cov_re = pd.DataFrame(np.array([[1.0, 2.0], [2.0, 1.0]]) * scale)  # not PSD
    assert is_singular(fake) is True
    fake.cov_re = pd.DataFrame(np.array([[1.0, 0.0], [0.0, 1e-9]]) * scale)
    assert is_singular(fake) is True
    assert is_singular(fake, tol=1e-6) is False


def test_is_singular_bad_input(seed_model):
    with pytest.raises(ValueError, match="str"):
        is_singular("not a fit")
    with pytest.raises(ValueError, match="MixedLM"):
        is_singular(seed_model)
    result = _quiet_fit(seed_model)
    with pytest.raises(ValueError, match="tol"):
        is_singular(result, tol=-1)
