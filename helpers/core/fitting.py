"""Fitting checks for statsmodels MixedLM: every optimizer at once, and singular fits.

* :func:`fit_all` is the counterpart of lme4's ``allFit``: fit the same model
  with each optimizer statsmodels offers, tabulate what each one found, keep
  the best, and warn when they disagree.
* :func:`is_singular` is the counterpart of lme4's ``isSingular``: is a
  random-effect standard deviation (relative to the residual one) at zero?

Why bother: with statsmodels 0.15 the default ``fit()`` tries BFGS first, and
on crossed variance-component models it can stop short (``converged`` False,
log-likelihood lower by more than 1) with only a warning, while L-BFGS can
report ``converged`` True at a clearly worse point.  Comparing optimizers is
the cheapest way to notice.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._checks import fitted_result

__all__ = ["fit_all", "is_singular", "FitAll", "OptimizerDisagreementWarning"]

#: The optimizers tried by :func:`fit_all`, in this order.
METHODS = ("lbfgs", "bfgs", "cg", "powell", "nm")

_INFO_COLUMNS = ["converged", "llf", "seconds"]
_MESSAGE_COLUMNS = ["warnings", "error"]


class OptimizerDisagreementWarning(UserWarning):
    """Converged fits from different optimizers do not agree."""


@dataclass(repr=False)
class FitAll:
    """What :func:`fit_all` returns.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per optimizer (the index): ``converged``, ``llf``,
        ``seconds``, then one column per estimate (fixed effects, random-effect
        variances and covariances, variance components, ``Scale`` = residual
        variance), then ``warnings`` and ``error`` (the messages each fit
        raised, ``""`` when none).
    fits : dict
        optimizer name -> fitted ``MixedLMResults`` (``None`` if the fit raised).
    best_method : str or None
        The converged optimizer with the highest log-likelihood.
    """

    table: pd.DataFrame
    fits: dict = field(default_factory=dict)
    best_method: str | None = None

    @property
    def best(self):
        """The converged fit with the highest log-likelihood.

        Raises
        ------
        RuntimeError
            If no optimizer converged.
        """
        if self.best_method is None:
            raise RuntimeError(
                "no optimizer converged (see .table, columns 'warnings' and 'error'). "
                "Try rescaling or centring the predictors, simplifying the random "
                "effects (drop slopes or correlations), giving start_params, or "
                "fitting with reml=False first."
            )
        return self.fits[self.best_method]

    def __repr__(self) -> str:
        shown = self.table.copy()
        for col in _MESSAGE_COLUMNS:
            shown[col] = shown[col].map(lambda s: s if len(s) <= 40 else s[:37] + "...")
        with pd.option_context("display.width", 200, "display.max_columns", 50):
            body = shown.to_string(float_format=lambda v: f"{v:.6g}")
        return f"FitAll(best={self.best_method!r})\n{body}"


def _check_model(model):
    from statsmodels.regression.mixed_linear_model import MixedLM

    if not isinstance(model, MixedLM):
        hint = ""
        if hasattr(model, "model") and isinstance(getattr(model, "model"), MixedLM):
            hint = " You passed a fitted result; pass result.model instead."
        raise ValueError(
            "fit_all expects an unfitted statsmodels MixedLM "
            f"(e.g. smf.mixedlm(formula, data, groups=...)), got {type(model).__name__}.{hint}"
        )


def _estimates(result) -> dict:
    """Fixed effects, random-effect (co)variances, variance components, scale."""
    res = fitted_result(result, "fit_all")
    model = res.model
    out = {str(k): float(v) for k, v in pd.Series(res.fe_params, index=model.exog_names).items()}
    k_re = int(model.k_re)
    if k_re > 0:
        names = list(model.data.param_names[model.k_fe: model.k_fe + model.k_re2])
        cov = np.asarray(res.cov_re, dtype=float)
        pos = 0
        for i in range(k_re):
            for j in range(i + 1):
                out[names[pos]] = float(cov[i, j])
                pos += 1
    for name, value in zip(model.exog_vc.names, np.atleast_1d(np.asarray(res.vcomp, dtype=float))):
        out[f"{name} Var"] = float(value)
    out["Scale"] = float(res.scale)
    return out


def _disagreements(table: pd.DataFrame, fe_names, se=None, llf_tol=0.01, fe_rtol=1e-3):
    """Messages describing how the converged fits in ``table`` disagree.

    Parameters
    ----------
    table : DataFrame
        Rows = optimizers, with columns ``converged``, ``llf`` and ``fe_names``.
    fe_names : list of str
        The fixed-effect columns to compare.
    se : Series, optional
        Standard errors of the fixed effects; a difference is measured
        relative to ``max(|estimate|, SE)`` of the best fit.
    llf_tol, fe_rtol : float
        Tolerances on the log-likelihood (absolute) and fixed effects (relative).

    Returns
    -------
    list of str
        Empty when the converged fits agree (or fewer than two converged).
    """
    ok = table[table["converged"].astype(bool) & np.isfinite(table["llf"].astype(float))]
    if len(ok) < 2:
        return []
    best = ok["llf"].astype(float).idxmax()
    msgs = []
    llf_gap = float(ok.loc[best, "llf"]) - ok["llf"].astype(float)
    worse = llf_gap[llf_gap > llf_tol]
    if len(worse):
        parts = ", ".join(f"{m!r} by {gap:.4g}" for m, gap in worse.items())
        msgs.append(
            f"log-likelihood of converged fits differ: below {best!r} "
            f"(llf {float(ok.loc[best, 'llf']):.6f}): {parts}"
        )
    fe_names = list(fe_names)
    if fe_names:
        ref = ok.loc[best, fe_names].astype(float)
        denom = ref.abs()
        if se is not None:
            se = pd.Series(se, index=fe_names).astype(float).fillna(0.0)
            denom = np.maximum(denom, se)
        denom = np.maximum(denom, 1e-8)
        for method in ok.index:
            if method == best:
                continue
            rel = ((ok.loc[method, fe_names].astype(float) - ref).abs() / denom)
            if rel.max() > fe_rtol:
                term = rel.idxmax()
                msgs.append(
                    f"fixed effects of {method!r} differ from {best!r} by up to "
                    f"{rel.max():.3g} (relative), largest for {term!r}: "
                    f"{float(ok.loc[method, term]):.6g} vs {float(ref[term]):.6g}"
                )
    return msgs


def fit_all(model, reml=True, *, methods=METHODS, llf_tol=0.01, fe_rtol=1e-3):
    """Fit a MixedLM with every optimizer and keep the best, like lme4's allFit.

    Each optimizer is run with ``model.fit(reml=reml, method=m)``.  Errors are
    caught (the fit counts as not converged and the message is kept) and the
    warnings of each fit are recorded instead of printed.

    Parameters
    ----------
    model : statsmodels MixedLM
        The unfitted model, e.g. ``smf.mixedlm("y ~ a*b", df, groups="subject")``.
    reml : bool, default True
        REML (True) or maximum likelihood (False).
    methods : sequence of str, optional
        Optimizers to try; the default is ``("lbfgs", "bfgs", "cg", "powell", "nm")``.
    llf_tol : float, default 0.01
        Converged fits whose log-likelihoods differ by more than this disagree.
    fe_rtol : float, default 1e-3
        ... as do converged fits whose fixed effects differ by more than this,
        relative to ``max(|estimate|, standard error)`` of the best fit.

    Returns
    -------
    FitAll
        ``.best`` is the converged fit with the highest log-likelihood (a
        ``RuntimeError`` if none converged), ``.table`` has one row per
        optimizer, ``.fits`` holds every fit.

    Warns
    -----
    OptimizerDisagreementWarning
        When converged fits disagree; the message names the optimizers and by
        how much.

    Raises
    ------
    ValueError
        If ``model`` is not an unfitted statsmodels MixedLM.

    Examples
    --------
    >>> import statsmodels.formula.api as smf
    >>> import helpers
    >>> from helpers.core.fitting import fit_all
    >>> df = helpers.load("seed_toy")
    >>> model = smf.mixedlm("dependent_var ~ C(Condition_1)*C(Condition_2)",
    ...                     df, groups="participant_ID")
    >>> fits = fit_all(model)
    >>> list(fits.table.index)
    ['lbfgs', 'bfgs', 'cg', 'powell', 'nm']
    >>> list(fits.table.columns[:3])
    ['converged', 'llf', 'seconds']
    >>> bool(fits.best.converged)
    True
    """
    _check_model(model)
    methods = list(methods)
    if not methods:
        raise ValueError("methods is empty: give at least one optimizer, e.g. ('lbfgs',)")
    rows, fits = {}, {}
    for method in methods:
        t0 = time.perf_counter()
        error = ""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                res = model.fit(reml=reml, method=method)
            except Exception as exc:  # noqa: BLE001 - every failure is a result here
                res = None
                error = f"{type(exc).__name__}: {exc}"
        seconds = time.perf_counter() - t0
        messages = []
        for w in caught:
            text = f"{w.category.__name__}: {w.message}"
            if text not in messages:
                messages.append(text)
        row = {"converged": False, "llf": np.nan, "seconds": seconds}
        if res is not None:
            try:
                llf = float(res.llf)
                row.update(converged=bool(res.converged) and np.isfinite(llf), llf=llf)
                row.update(_estimates(res))
            except Exception as exc:  # noqa: BLE001
                row["converged"] = False
                error = f"{type(exc).__name__}: {exc}"
        row["warnings"] = "; ".join(messages)
        row["error"] = error
        rows[method] = row
        fits[method] = res

    table = pd.DataFrame.from_dict(rows, orient="index")
    estimate_cols = [c for c in table.columns if c not in _INFO_COLUMNS + _MESSAGE_COLUMNS]
    table = table[_INFO_COLUMNS + estimate_cols + _MESSAGE_COLUMNS]
    table["converged"] = table["converged"].astype(bool)
    table.index.name = "optimizer"

    ok = table[table["converged"]]
    best = ok["llf"].idxmax() if len(ok) else None

    if best is not None:
        fe_names = [str(n) for n in model.exog_names]
        try:
            se = pd.Series(np.asarray(fits[best].bse_fe, dtype=float), index=fe_names)
        except Exception:  # noqa: BLE001 - standard errors are only a scale here
            se = None
        msgs = _disagreements(table, fe_names, se=se, llf_tol=llf_tol, fe_rtol=fe_rtol)
        if msgs:
            warnings.warn(
                "optimizers disagree: " + "; ".join(msgs)
                + f". Using the best ({best!r}); look at the table and consider "
                "simplifying the random effects.",
                OptimizerDisagreementWarning,
                stacklevel=2,
            )
    return FitAll(table=table, fits=fits, best_method=best)


def _ldl_diag(s):
    """Diagonal D of an unpivoted LDL' factorisation that tolerates zero pivots."""
    s = np.asarray(s, dtype=float)
    k = s.shape[0]
    lo = np.eye(k)
    d = np.zeros(k)
    tiny = 1e-14 * max(np.max(np.abs(np.diag(s))) if k else 0.0, 1e-300)
    for j in range(k):
        d[j] = s[j, j] - np.sum(lo[j, :j] ** 2 * d[:j])
        if abs(d[j]) <= tiny:
            d[j] = 0.0
            continue
        for i in range(j + 1, k):
            lo[i, j] = (s[i, j] - np.sum(lo[i, :j] * lo[j, :j] * d[:j])) / d[j]
    return d


def relative_sds(result) -> pd.Series:
    """lme4's diagonal ``theta``: random-effect SDs relative to the residual SD.

    For the ``cov_re`` block: the diagonal of the Cholesky factor of
    ``cov_re / scale`` (0 where a pivot is zero or negative); for each
    variance component: ``sqrt(vcomp / scale)``.
    """
    res = fitted_result(result, "relative_sds")
    model = res.model
    scale = float(res.scale)
    out = {}
    if int(model.k_re) > 0:
        d = _ldl_diag(np.asarray(res.cov_re, dtype=float) / scale)
        names = model.data.exog_re_names
        for name, value in zip(names, d):
            out[str(name)] = float(np.sqrt(max(value, 0.0)))
    vc = np.atleast_1d(np.asarray(res.vcomp, dtype=float))
    for name, value in zip(model.exog_vc.names, vc):
        out[str(name)] = float(np.sqrt(max(value / scale, 0.0)))
    return pd.Series(out, dtype=float)


def is_singular(result, tol=1e-4) -> bool:
    """Is the fit singular (a random-effect SD at zero), like lme4's isSingular?

    lme4 calls a fit singular when an element of ``theta`` on the diagonal of
    a relative Cholesky factor is below ``tol``.  Here ``theta`` is the
    diagonal of the Cholesky factor of ``cov_re / scale`` (an LDL'
    factorisation is used so that a covariance matrix that is not positive
    definite counts as singular instead of failing) and ``sqrt(vcomp / scale)``
    for the variance components.

    Parameters
    ----------
    result : statsmodels MixedLMResults
        A fitted MixedLM.
    tol : float, default 1e-4
        Threshold on the relative standard deviations.

    Returns
    -------
    bool

    Raises
    ------
    ValueError
        If ``result`` is not a fitted MixedLM or ``tol`` is not a positive number.

    Examples
    --------
    >>> import warnings
    >>> import statsmodels.formula.api as smf
    >>> import helpers
    >>> from helpers.core.fitting import is_singular
    >>> df = helpers.load("seed_toy")
    >>> model = smf.mixedlm("dependent_var ~ C(Condition_1)*C(Condition_2)",
    ...                     df, groups="participant_ID")
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     result = model.fit(reml=True)
    >>> is_singular(result)          # the subject variance is estimated at 0
    True
    """
    from ..engine.results import LmerResult, is_singular as lmer_is_singular

    if isinstance(result, LmerResult):
        return lmer_is_singular(result, tol)
    fitted_result(result, "is_singular")
    if isinstance(tol, bool) or not isinstance(tol, (int, float, np.floating)) or not tol > 0:
        raise ValueError(f"tol must be a positive number, got {tol!r}")
    theta = relative_sds(result)
    return bool(len(theta) and (theta.isna().any() or (theta < tol).any()))
