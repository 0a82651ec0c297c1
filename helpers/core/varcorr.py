"""lme4's variance-correlation table for a statsmodels fit: :func:`varcorr` (R's ``VarCorr``).

The rows and columns follow R's ``as.data.frame(VarCorr(m))``, so a table from
Python and one from R can be read side by side.
"""
from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from ._checks import fitted_result

__all__ = ["varcorr"]


def _groups_column(model) -> str:
    """The data column that ``groups`` came from (statsmodels keeps only its values)."""
    frame = getattr(model.data, "frame", None)
    groups = np.asarray(model.groups)
    if frame is not None:
        for column in frame.columns:
            values = frame[column].to_numpy()
            if len(values) == len(groups) and np.array_equal(values, groups):
                return str(column)
    return "Group"


def _is_ones(column: np.ndarray) -> bool:
    return bool(np.allclose(column, 1.0))


def varcorr(result) -> pd.DataFrame:
    """Random-effect variances, SDs and correlations, laid out like lme4's ``VarCorr``.

    The rows and columns follow R's ``as.data.frame(VarCorr(m))``, so a
    reader can put the two side by side: for the random effects of
    statsmodels' ``groups``, first one row per variance, then one row per
    covariance (lower triangle, column by column); then one row per variance
    component; last the residual.

    Parameters
    ----------
    result : statsmodels MixedLMResults

    Returns
    -------
    pandas.DataFrame
        Columns ``grp`` (grouping factor), ``var1`` and ``var2`` (the random
        effects; ``var2`` is set on covariance rows, missing elsewhere), ``vcov`` (variance or
        covariance) and ``sdcor`` (standard deviation, or the correlation on
        covariance rows). The random intercept is called ``(Intercept)`` as in
        lme4. A variance component built by :func:`helpers.mixedlm` is named
        as lme4 names it (``(1 + x || g)`` gives ``grp`` g, ``var1`` x;
        ``(1 | item)`` gives ``grp`` item, ``var1`` ``(Intercept)``); one
        built directly with statsmodels' ``vc_formula`` keeps its name in
        ``grp`` and has no ``var1``.

    Raises
    ------
    ValueError
        If ``result`` is not a MixedLM fit.

    Examples
    --------
    >>> import helpers
    >>> from helpers.core.varcorr import varcorr
    >>> d = helpers.load("sleepstudy")
    >>> fit = helpers.mixedlm("Reaction ~ Days + (1 + Days | Subject)", d).fit()
    >>> varcorr(fit).round(3)
            grp         var1  var2     vcov   sdcor
    0   Subject  (Intercept)   NaN  612.096  24.741
    1   Subject         Days   NaN   35.072   5.922
    2   Subject  (Intercept)  Days    9.605   0.066
    3  Residual          NaN   NaN  654.940  25.592
    """
    from ..engine.results import LmerResult

    if isinstance(result, LmerResult):
        return result.varcorr()
    res = fitted_result(result, "varcorr")
    model = res.model
    args = getattr(model, "_statsmodels_args", None) or {}
    rows = []
    k_re = int(model.k_re)
    if k_re:
        exog_re = np.asarray(model.exog_re, dtype=float)
        names = [str(n) for n in model.data.exog_re_names]
        has_ones = [_is_ones(exog_re[:, j]) for j in range(k_re)]
        grp = args.get("groups")
        if grp is None:
            # statsmodels names the random intercept after the ``groups`` column
            grp = next((n for n, one in zip(names, has_ones) if one), "Group")
        labels = ["(Intercept)" if one else n for n, one in zip(names, has_ones)]
        cov = np.asarray(res.cov_re, dtype=float)
        sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
        for j in range(k_re):
            rows.append((grp, labels[j], None, cov[j, j], sd[j]))
        for j in range(k_re):
            for i in range(j + 1, k_re):
                denom = sd[i] * sd[j]
                corr = cov[i, j] / denom if denom > 0 else np.nan
                rows.append((grp, labels[j], labels[i], cov[i, j], corr))
    vc_formula = args.get("vc_formula") or {}
    vcomp = np.atleast_1d(np.asarray(res.vcomp, dtype=float))
    groups_name = args.get("groups") or (rows[0][0] if rows else _groups_column(model))
    for j, (name, value) in enumerate(zip(model.exog_vc.names, vcomp)):
        grp, var1 = str(name), None
        text = vc_formula.get(name)
        if text is not None:
            slope = re.fullmatch(r"\s*0\s*\+\s*([A-Za-z_][\w.]*)\s*", text)
            if slope and args.get("groups") is not None:
                grp, var1 = args["groups"], slope.group(1)
            else:
                var1 = "(Intercept)"
        else:
            # A fit built with statsmodels itself: a component with one column in every
            # group is an effect of ``groups`` (a slope, or an intercept for a column of
            # ones), as lme4 would list it; otherwise it is a factor nested in the groups.
            mats = [m.toarray() if hasattr(m, "toarray") else np.asarray(m, dtype=float)
                    for m in model.exog_vc.mats[j]]
            if mats and all(m.shape[1] == 1 for m in mats):
                ones = all(np.allclose(m, 1.0) for m in mats)
                grp, var1 = groups_name, "(Intercept)" if ones else str(name)
        rows.append((grp, var1, None, float(value), math.sqrt(max(float(value), 0.0))))
    rows.append(("Residual", None, None, float(res.scale), math.sqrt(float(res.scale))))
    out = pd.DataFrame(rows, columns=["grp", "var1", "var2", "vcov", "sdcor"])
    for col in ("grp", "var1", "var2"):  # missing names are NaN, as in R's NA
        out[col] = pd.Series([np.nan if pd.isna(v) else str(v) for v in out[col]], dtype=object)
    out["vcov"] = out["vcov"].astype(float)
    out["sdcor"] = out["sdcor"].astype(float)
    return out
