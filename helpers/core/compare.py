"""Comparing nested mixed models: likelihood-ratio tests, with the boundary correction."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from ._checks import fitted_result


def n_params(result) -> int:
    """Number of estimated parameters: fixed effects, random-effect (co)variances, the scale."""
    r = fitted_result(result, "n_params")
    return int(r.k_fe + r.k_re2 + r.k_vc + 1)


def lrt(reduced, full, boundary: bool = False) -> pd.Series:
    """Likelihood-ratio test of a reduced mixed model against a fuller one.

    Parameters
    ----------
    reduced, full : statsmodels MixedLMResults
        Fits of nested models to the same rows. To compare fixed effects, fit
        both by maximum likelihood (``fit(reml=False)``): REML likelihoods of
        models with different fixed effects are not comparable, and this
        function refuses them.
    boundary : bool
        Set True when the test sets a variance to zero (its boundary), for
        example dropping a random slope's variance. The reference distribution
        is then the 50:50 mixture of chi-square distributions with ``df`` and
        ``df - 1`` degrees of freedom (Self and Liang, 1987; Stram and Lee,
        1994), which halves the naive p-value when ``df`` is 1.

    Returns
    -------
    pandas.Series
        ``chi2``, ``df``, ``p`` and the two log-likelihoods.

    Examples
    --------
    >>> import pingouin as pg, statsmodels.formula.api as smf, helpers
    >>> d = pg.read_dataset("mixed_anova")
    >>> m0 = smf.mixedlm("Scores ~ Time + Group", d, groups="Subject").fit(reml=False)
    >>> m1 = smf.mixedlm("Scores ~ Time * Group", d, groups="Subject").fit(reml=False)
    >>> int(helpers.lrt(m0, m1)["df"])
    2
    """
    r0, r1 = fitted_result(reduced, "lrt (reduced)"), fitted_result(full, "lrt (full)")
    if r0.nobs != r1.nobs:
        raise ValueError(
            f"the models were fitted to different numbers of rows ({r0.nobs} and {r1.nobs}); "
            "fit both to the same rows (drop missing values once, before both fits)"
        )
    same_fixed = list(r0.model.exog_names) == list(r1.model.exog_names)
    if (r0.method == "REML" or r1.method == "REML") and not same_fixed:
        raise ValueError(
            "REML log-likelihoods of models with different fixed effects cannot be compared; "
            "refit both with fit(reml=False)"
        )
    if r0.method != r1.method:
        raise ValueError("one model was fitted by REML and the other by ML; fit both the same way")
    df = n_params(r1) - n_params(r0)
    if df < 1:
        raise ValueError(
            f"'full' has {n_params(r1)} parameters and 'reduced' {n_params(r0)}: pass the "
            "smaller model first"
        )
    chi2 = 2 * (r1.llf - r0.llf)
    if chi2 < -1e-6:
        warnings.warn(
            f"the fuller model's log-likelihood is lower by {-chi2 / 2:.4g}: one of the fits "
            "probably stopped short of its optimum; compare optimizers with helpers.fit_all",
            UserWarning, stacklevel=2,
        )
    chi2 = max(chi2, 0.0)
    p = stats.chi2.sf(chi2, df)
    if boundary:
        p = 0.5 * p + 0.5 * (stats.chi2.sf(chi2, df - 1) if df > 1 else float(chi2 <= 0))
    return pd.Series({"chi2": chi2, "df": df, "p": float(np.clip(p, 0, 1)),
                      "llf_reduced": r0.llf, "llf_full": r1.llf})
