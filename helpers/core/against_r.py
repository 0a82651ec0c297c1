"""A fit next to R's fit of the same reference case, number by number.

The book's R script (``tests/r/reference.R``) fits every reference case with
lme4/lmerTest and stores the numbers in ``data/reference/<case>.json``
(:func:`helpers.r_reference`). :func:`compare_with_r` lays a Python fit of the same
formula to the same data beside them: log-likelihood, fixed effects and their standard
errors, the random-effect standard deviations and correlations, and the Type III *F*
tests, with the relative difference of each pair.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ._checks import fitted_result
from .data import r_reference

__all__ = ["compare_with_r"]


def _varcorr_label(grp, var1, var2) -> str:
    if grp == "Residual":
        return "residual SD"
    if var2 is None or (isinstance(var2, float) and np.isnan(var2)):
        return f"SD {var1} | {grp}"
    return f"cor {var1}, {var2} | {grp}"


def r_name(name: str) -> str:
    """lme4's name of a fixed-effect column: ``cond[T.hard]`` -> ``condhard``."""
    if name == "Intercept":
        return "(Intercept)"
    return ":".join(re.sub(r"\[(?:T\.)?(.*)\]$", r"\1", p) for p in name.split(":"))


def compare_with_r(result, case: str, anova: bool = True) -> pd.DataFrame:
    """Put a fit's numbers beside lme4's for the reference case ``case``.

    Parameters
    ----------
    result : statsmodels MixedLMResults or helpers.lmer result
        A fit of the case's formula to the case's data (same rows, REML or ML as R's).
    case : str
        A reference case, such as ``"sleepstudy"`` (see ``data/reference/README.md``).
    anova : bool, default True
        Add the Type III *F* tests (:func:`helpers.anova`) where R stored them.

    Returns
    -------
    pandas.DataFrame
        One row per number, labelled as lme4 names it (``"SD (Intercept) | Subject"``,
        ``"cor (Intercept), Days | Subject"``), with columns ``Python``, ``R`` and
        ``relative difference`` (``|Python - R| / |R|``). Fixed effects and variance
        rows are matched in lme4's order, which :func:`helpers.varcorr` follows.

    Raises
    ------
    ValueError
        ``result`` is not a fitted mixed model, or its fixed effects or its number of
        variance rows differ from R's (not a fit of the case's model), or it is a REML
        fit where R's is ML or the other way round.

    Examples
    --------
    >>> import helpers
    >>> fit = helpers.lmer("Reaction ~ Days + (1 + Days|Subject)", helpers.load("sleepstudy"))
    >>> table = helpers.compare_with_r(fit, "sleepstudy")
    >>> bool(table["relative difference"].max() < 1e-4)
    True
    """
    from .inference import anova as anova_table
    from .varcorr import varcorr

    from ..engine.results import LmerResult

    if not isinstance(result, LmerResult):
        fitted_result(result, "compare_with_r")
    ref = r_reference(case)
    reml = bool(result.reml)
    if reml != bool(ref["reml"]):
        kind = "REML" if ref["reml"] else "maximum likelihood"
        raise ValueError(f"R fitted case {case!r} by {kind}; refit the model the same way "
                         f"(REML={bool(ref['reml'])})")
    fe = result.fe_params
    if not isinstance(fe, pd.Series):  # a bare statsmodels result holds arrays
        fe = pd.Series(fe, index=result.model.exog_names[: len(fe)])
    fe = fe.astype(float)
    bse = getattr(result, "bse_fe", None)
    se = pd.Series(np.asarray(bse if bse is not None else result.bse, dtype=float)[: len(fe)],
                   index=fe.index)
    names = ref["fixef"]["names"]
    ours = {r_name(n): n for n in fe.index}
    if sorted(ours) != sorted(names):
        raise ValueError(f"the fit has fixed effects {sorted(ours)}, R's fit of case {case!r} "
                         f"has {names}: fit the case's formula, {ref['formula']!r}")
    fe = fe[[ours[n] for n in names]].to_numpy()  # in R's order
    se = se[[ours[n] for n in names]].to_numpy()
    vc = varcorr(result)
    r_vc = ref["varcorr"]
    if len(vc) != len(r_vc["sdcor"]):
        raise ValueError(f"the fit has {len(vc)} variance rows, R's fit of case {case!r} has "
                         f"{len(r_vc['sdcor'])}: fit the case's formula, {ref['formula']!r}")
    rows = [("log-likelihood", float(result.llf), ref["logLik"])]
    rows += [(f"estimate {n}", b, r) for n, b, r in zip(names, fe, ref["fixef"]["estimate"])]
    rows += [(f"SE {n}", s, r) for n, s, r in zip(names, se, ref["fixef"]["se"])]
    labels = [_varcorr_label(*t) for t in zip(r_vc["grp"], r_vc["var1"], r_vc["var2"])]
    rows += list(zip(labels, vc["sdcor"].astype(float), r_vc["sdcor"]))
    r_anova = ref.get("anova") or {}
    if anova and r_anova.get("term"):
        table = anova_table(result)
        for i, term in enumerate(r_anova["term"]):
            for col in ("DenDF", "F", "p"):
                rows.append((f"{term}: {col}", float(table[col].iloc[i]), r_anova[col][i]))
    out = pd.DataFrame(rows, columns=["number", "Python", "R"]).set_index("number")
    out["R"] = out["R"].astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["relative difference"] = ((out["Python"] - out["R"]).abs() / out["R"].abs())
    return out
