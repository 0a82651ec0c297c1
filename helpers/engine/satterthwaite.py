"""Type III F tests with Satterthwaite's degrees of freedom for :func:`helpers.lmer` fits.

The same tests as ``lmerTest::anova(m, type = 3)`` and as :func:`helpers.anova` for a
statsmodels fit, and the same code for everything but the model: the Type III
hypothesis matrices and the Satterthwaite arithmetic come from
:mod:`helpers.core.inference`; the variance parameters ``varpar = (θ, σ)``, the
deviance as their function (lmerTest's ``devfun_vp``) and ``Cov(β̂)(varpar) =
σ² (RX RX')⁻¹`` come from the engine's own factorisation
(:meth:`helpers.engine.model.LmerModel.deviance_varpar` and ``vcov_varpar``).
"""
from __future__ import annotations

import types
import warnings

import numpy as np
import pandas as pd

from ..core import inference as _inf
from .model import _one_blas_thread
from .results import LmerResult

__all__ = ["anova"]


class _Satterthwaite(_inf._Satterthwaite):
    """lmerTest's Satterthwaite machinery on an :class:`LmerResult` (``test()`` is inherited)."""

    def __init__(self, result: LmerResult, tol: float = 1e-8):
        model = result.model
        theta = np.where(model.lower == 0, np.abs(result.theta), result.theta)
        x0 = np.concatenate([theta, [result.sigma]])
        self.beta = result.fe_params.to_numpy()
        self.vcov_beta = model.vcov_varpar(x0)
        self.deviance = model.deviance_varpar(x0)
        h = _inf._hessian(model.deviance_varpar, x0)
        evals, evecs = np.linalg.eigh(h)
        if np.any(evals < -tol):
            warnings.warn(
                "the Hessian of the deviance with respect to the variance parameters "
                f"has negative eigenvalue(s) {evals[evals < -tol]}: the fit may not have "
                "converged and the Satterthwaite degrees of freedom may be unreliable.",
                UserWarning, stacklevel=3,
            )
        pos = evals > tol
        self.vcov_varpar = 2 * ((evecs[:, pos] / evals[pos]) @ evecs[:, pos].T)
        jac = _inf._jacobian(lambda v: model.vcov_varpar(v).ravel(), x0)
        p = len(self.beta)
        self.jac_list = [jac[:, i].reshape(p, p) for i in range(jac.shape[1])]


def _model_view(result: LmerResult):
    """What the Type III contrast code reads from a statsmodels model, for an lmer fit."""
    data = types.SimpleNamespace(design_info=result.design_info, model_spec=result.design_info,
                                 frame=result.frame)
    return types.SimpleNamespace(data=data, exog=result._X, formula=result.fixed_formula)


def anova(result: LmerResult) -> pd.DataFrame:
    """Type III F tests with Satterthwaite denominator df for an :func:`helpers.lmer` fit.

    Same table as :func:`helpers.anova` (``lmerTest::anova(m, type = 3)``): one row per
    fixed-effect term (intercept excluded) in formula order, columns ``NumDF``,
    ``DenDF``, ``F``, ``p``; the result does not depend on the contrast coding.
    """
    if not isinstance(result, LmerResult):
        raise ValueError(f"anova needs a helpers.lmer fit, got {type(result).__name__}")
    view = _model_view(result)
    contrasts = _inf._type3_contrasts(view)
    if not contrasts:
        return pd.DataFrame({"NumDF": pd.Series(dtype=int), "DenDF": pd.Series(dtype=float),
                             "F": pd.Series(dtype=float), "p": pd.Series(dtype=float)})
    with _one_blas_thread():
        sat = _Satterthwaite(result)
    rows = {}
    for name, L in contrasts.items():
        if L.shape[0] == 0:
            raise ValueError(f"term {name!r} cannot be tested: its Type III hypothesis is "
                             "empty (the term is aliased with other terms)")
        q, ddf, fval, pval = sat.test(L)
        if q == 0:
            raise ValueError(f"term {name!r} cannot be tested: L V L' has no positive "
                             "eigenvalue")
        rows[name] = {"NumDF": int(q), "DenDF": float(ddf), "F": float(fval), "p": float(pval)}
    table = pd.DataFrame.from_dict(rows, orient="index")[["NumDF", "DenDF", "F", "p"]]
    return table.loc[_inf._formula_order(view, list(table.index))]
