"""Estimated marginal means and contrasts among them, for mixed models (R's emmeans).

After an F test says that a factor matters, the next questions are *which* levels
differ and by how much. R users answer them with the emmeans package::

    emm <- emmeans(m, "Time", by = "Group", lmer.df = "satterthwaite")
    pairs(emm, adjust = "tukey")                  # contrast(emm, "pairwise")
    contrast(emm, "trt.vs.ctrl")
    contrast(emm, method = list("A - rest" = c(1, -0.5, -0.5)))

This module gives the same numbers for a statsmodels ``MixedLM`` fit (from
:func:`helpers.mixedlm`) and for a :func:`helpers.lmer` fit:
:func:`emmeans` (emmeans' ``emmeans()``) and :func:`contrasts` (emmeans'
``pairs()`` and ``contrast()``). The vocabulary is emmeans':

* **reference grid** (``ref_grid``): every combination of the levels of the
  model's factors, with each numeric covariate held at its mean over the rows
  fitted (``cov.reduce = mean``);
* **estimated marginal mean** (``emmean``): the model's prediction in a cell of
  the grid, averaged with *equal weights* over the factors not named in
  ``specs`` (``weights = "equal"``), so that every cell counts the same however
  many observations it has;
* ``by``: means (and contrasts) computed separately within each level of other
  factors; a contrast family, for the p-value adjustment, is one ``by`` group;
* **degrees of freedom**: Satterthwaite's, row by row, which is
  ``lmer.df = "satterthwaite"`` (lmerTest's method; emmeans' default for lmer
  fits is Kenward-Roger). emmeans falls back to asymptotic (infinite) df above
  3000 observations unless ``lmerTest.limit`` is raised; this module always
  computes Satterthwaite's df;
* ``adjust``: emmeans' ``"tukey"`` (studentized range), ``"holm"``,
  ``"bonferroni"``, ``"sidak"`` and ``"none"``. As emmeans does, the Tukey
  adjustment is used only for one family of pairwise comparisons; for other
  contrasts it becomes Sidak's, with a warning.

Each row of a grid is built through the fit's own patsy design information, so
``C(x, Sum)``, interactions and numeric covariates (``x``, ``np.log(x)``) are
handled as the model itself handles them, and the answers do not depend on the
contrast coding of the formula.
"""
from __future__ import annotations

import itertools
import re
import warnings
import weakref
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["emmeans", "contrasts"]

_ADJUSTS = ("tukey", "sidak", "holm", "bonferroni", "none")
_METHODS = ("pairwise", "trt.vs.ctrl")
# emmeans' default `parens` option: a contrast label's level that contains one of these
# characters is put in parentheses, so that "a-1 - b" cannot be misread.
_PARENS = re.compile(r"-|\+|/|\*")
# R's as.numeric() accepts these; emmeans prefixes such levels with the factor's name.
_R_NUMBER = re.compile(
    r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$|^\s*[+-]?Inf\s*$"
)

# One Satterthwaite object per fit: its numerical derivatives are the costly part.
_SATTERTHWAITE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


# ------------------------------------------------------------------------------ the fit
class _Fit:
    """What the grid and the tests need from either kind of fit."""

    def __init__(self, result, what):
        from ..engine.results import LmerResult
        from . import inference as _inf

        if isinstance(result, LmerResult):
            from ..engine.satterthwaite import _model_view

            self.key = result
            self.lmer = True
            self.design_info = _inf._design_info(_model_view(result))
            self.frame = result.frame
            self.exog = result._X
        else:
            from statsmodels.regression.mixed_linear_model import MixedLMResults

            inner = getattr(result, "_results", result)
            if not isinstance(inner, MixedLMResults):
                raise TypeError(
                    f"{what} needs a fitted mixed model, a statsmodels MixedLM result "
                    "(helpers.mixedlm(formula, data).fit()) or a helpers.lmer(...) "
                    f"fit; got an object of type {type(result).__name__}. Fit the "
                    "model first."
                )
            self.key = inner
            self.lmer = False
            self.design_info = _inf._design_info(inner.model)
            self.frame = inner.model.data.frame
            self.exog = np.asarray(inner.model.exog, dtype=float)
        self._variables()

    @property
    def glmm(self):
        """The fit's family for a ``helpers.glmer`` fit, else None."""
        return getattr(self.key, "family", None)

    def satterthwaite(self):
        """The fit's Satterthwaite machinery (beta, vcov_beta, ddf_1d), made once. For a
        ``helpers.glmer`` fit: its β̂ and lme4's vcov with df = Inf (Wald z tests, as
        emmeans does for generalized models)."""
        sat = _SATTERTHWAITE.get(self.key)
        if sat is None:
            if self.glmm is not None:
                sat = _Asymptotic(self.key)
            elif self.lmer:
                from ..engine.model import _one_blas_thread
                from ..engine.satterthwaite import _Satterthwaite

                with _one_blas_thread():
                    sat = _Satterthwaite(self.key)
            else:
                from .inference import _Satterthwaite

                sat = _Satterthwaite(self.key)
            _SATTERTHWAITE[self.key] = sat
        return sat

    def _variables(self):
        """The data columns behind the model's factors (with their levels, in the
        model's order) and behind its numeric terms (held at their mean)."""
        from patsy.eval import ast_names

        columns = set(self.frame.columns)
        self.levels: dict[str, tuple] = {}
        numeric: list[str] = []
        for factor, info in self.design_info.factor_infos.items():
            names = [n for n in dict.fromkeys(ast_names(factor.code)) if n in columns]
            if info.type == "categorical":
                if len(names) != 1:
                    raise ValueError(
                        "cannot build a reference grid: the factor "
                        f"{factor.code!r} is made of {len(names)} data columns "
                        f"({names}); make one column for it in the data and use that "
                        "in the formula"
                    )
                name = names[0]
                cats = tuple(info.categories)
                if name in self.levels and set(self.levels[name]) != set(cats):
                    raise ValueError(
                        f"cannot build a reference grid: column {name!r} has different "
                        "levels in two terms of the formula "
                        f"({self.levels[name]} and {cats})"
                    )
                self.levels.setdefault(name, cats)
            else:
                numeric += names
        self.numeric = [n for n in dict.fromkeys(numeric) if n not in self.levels]


def _as_names(value, what, allow_none=False):
    if value is None and allow_none:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence) and value and all(isinstance(v, str) for v in value):
        return list(value)
    raise TypeError(
        f"{what} must be a factor's column name or a list of them, got {value!r}"
    )


def _check_specs(fit, specs, by, fname):
    specs = _as_names(specs, "specs")
    by = _as_names(by, "by", allow_none=True)
    for kind, names in (("specs", specs), ("by", by)):
        dup = [n for n in names if names.count(n) > 1]
        if dup:
            raise ValueError(f"{kind} names {dup[0]!r} twice; name each factor once")
        for n in names:
            if n in fit.levels:
                continue
            if n in fit.numeric:
                raise ValueError(
                    f"{n!r} ({kind}) is a numeric covariate in the model, not a "
                    "factor; "
                    f"{fname} compares the levels of factors. Held at its mean in the "
                    f"grid. To treat it as a factor, write C({n}) in the formula."
                )
            raise ValueError(
                f"{n!r} ({kind}) is not a factor of the model's fixed effects; its "
                f"factors are {list(fit.levels) or 'none'}"
            )
    overlap = [n for n in by if n in specs]
    if overlap:
        raise ValueError(
            f"{overlap[0]!r} is both in specs and in by; a factor is either compared "
            "(specs) or held fixed (by), not both"
        )
    return specs, by


def _check_level(level):
    if isinstance(level, bool) or not isinstance(level, (int, float, np.floating)) \
            or not 0 < level < 1:
        raise ValueError(
            f"level must be a confidence level between 0 and 1, got {level!r}"
        )
    return float(level)


# ----------------------------------------------------------------------------- the grid
def _grid_rows(fit, names):
    """The linear functions L (one row per combination of the levels of ``names``, the
    first name varying fastest, as emmeans orders them) and those combinations."""
    from patsy import build_design_matrices

    factors = list(fit.levels)
    grid = pd.DataFrame(
        list(itertools.product(*(fit.levels[f] for f in reversed(factors)))),
        columns=list(reversed(factors)),
    )[factors] if factors else pd.DataFrame(index=[0])
    for col in factors:  # keep each level's own type (bool, number or string)
        grid[col] = pd.Series(list(grid[col]), dtype=object)
    for col in fit.numeric:
        grid[col] = float(np.mean(np.asarray(fit.frame[col], dtype=float)))
    (x,) = build_design_matrices([fit.design_info], grid, NA_action="raise")
    x = np.asarray(x, dtype=float)

    combos = list(itertools.product(*(fit.levels[n] for n in reversed(names))))
    combos = [tuple(reversed(c)) for c in combos]
    codes = {n: {lev: i for i, lev in enumerate(fit.levels[n])} for n in names}
    key = np.zeros(len(grid), dtype=int)
    stride = 1
    for n in names:
        key += stride * np.array([codes[n][v] for v in grid[n]])
        stride *= len(fit.levels[n])
    rows = np.zeros((len(combos), x.shape[1]))
    for k in range(len(combos)):  # combos[k] has key k: equal weights over the rest
        rows[k] = x[key == k].mean(axis=0)
    table = pd.DataFrame(combos, columns=names)
    for n in names:
        table[n] = pd.Series(list(table[n]), dtype=object)
    return rows, table


class _Asymptotic:
    """β̂ and its covariance with infinite df: what emmeans uses for a GLMM."""

    def __init__(self, result):
        self.beta = result.fe_params.to_numpy()
        self.vcov_beta = result.vcov.to_numpy()

    def ddf_1d(self, l):
        return np.inf


def _check_type(fit, type):
    if type not in ("link", "response"):
        raise ValueError(f"type must be 'link' or 'response', got {type!r}")
    if type == "response" and fit.glmm is None:
        raise ValueError('type="response" is for generalized models (helpers.glmer fits); '
                         "this fit is a linear mixed model: its means are already on the "
                         "response scale")


def _estimates(fit, L):
    sat = fit.satterthwaite()
    est = L @ sat.beta
    se = np.sqrt(np.einsum("ij,jk,ik->i", L, sat.vcov_beta, L))
    df = np.array([float(sat.ddf_1d(l)) for l in L])
    return est, se, df


def _t_quantile(q, df):
    return np.where(np.isinf(df), stats.norm.ppf(q), stats.t.ppf(q, np.where(
        np.isinf(df), 1.0, df)))


# ------------------------------------------------------------------------------- public
def emmeans(result, specs, by=None, level=0.95, type="link") -> pd.DataFrame:
    """Estimated marginal means of a mixed model, as R's ``emmeans()``.

    Each mean is the model's prediction averaged with equal weights over the
    cells of the factors not named (numeric covariates at their mean), with its
    standard error, Satterthwaite degrees of freedom and confidence interval:
    R's ``emmeans(m, specs, by = by, lmer.df = "satterthwaite")``.

    Parameters
    ----------
    result : statsmodels MixedLMResults or helpers.lmer fit
        A fit of a model built from a formula: ``helpers.mixedlm(...).fit()``
        or ``helpers.lmer(...)``.
    specs : str or list of str
        The factor(s) whose level means are wanted, named as the data's
        columns (``"Time"`` also for a formula that writes ``C(Time, Sum)``).
    by : str or list of str, optional
        Factor(s) within whose levels the means are computed separately.
    level : float, default 0.95
        Confidence level of the intervals.
    type : {"link", "response"}, default "link"
        For a ``helpers.glmer`` fit: ``"link"`` gives the means on the link scale
        (log-odds, log-rate) with df = Inf (z intervals), as emmeans does for a GLMM;
        ``"response"`` back-transforms them as emmeans' ``type = "response"``: the
        column ``prob`` (binomial) or ``rate`` (Poisson), its SE by the delta method
        and the back-transformed interval.

    Returns
    -------
    pandas.DataFrame
        One row per combination of levels (the ``by`` groups outermost; within
        them the first factor of ``specs`` varies fastest; levels in the
        model's order), columns: the ``by`` factors, the ``specs`` factors,
        ``emmean``, ``SE``, ``df`` (Satterthwaite), ``lower``, ``upper``.

    Raises
    ------
    TypeError
        ``result`` is not a mixed-model fit, or ``specs``/``by`` are not names.
    ValueError
        A name that is not a factor of the model (or is a numeric covariate),
        a factor in both ``specs`` and ``by``, or a ``level`` outside (0, 1).

    Examples
    --------
    >>> import helpers
    >>> from helpers.core.posthoc import emmeans
    >>> machines = helpers.load("machines")      # 6 workers x 3 machines x 3 runs
    >>> fit = helpers.mixedlm("score ~ Machine + (1|Worker)", machines).fit(reml=True)
    >>> table = emmeans(fit, "Machine")
    >>> list(table.columns)
    ['Machine', 'emmean', 'SE', 'df', 'lower', 'upper']
    >>> table.round(2)
      Machine  emmean    SE    df  lower  upper
    0       A   52.36  2.23  5.83  46.86  57.85
    1       B   60.32  2.23  5.83  54.83  65.82
    2       C   66.27  2.23  5.83  60.78  71.77

    The same table from ``helpers.lmer("score ~ Machine + (1|Worker)", machines)``, and
    from R: ``emmeans(lmer(...), "Machine", lmer.df = "satterthwaite")``.
    """
    fit = _Fit(result, "emmeans")
    specs, by = _check_specs(fit, specs, by, "emmeans")
    level = _check_level(level)
    L, table = _grid_rows(fit, specs + by)
    est, se, df = _estimates(fit, L)
    q = _t_quantile(0.5 + level / 2, df)
    out = table[by + specs].copy()
    _check_type(fit, type)
    if type == "response":
        fam = fit.glmm
        name = "prob" if fam.name == "binomial" else "rate"
        out[name], out["SE"], out["df"] = fam.linkinv(est), fam.mu_eta(
            fam.linkinv(est)) * se, df
        out["lower"], out["upper"] = fam.linkinv(est - q * se), fam.linkinv(est + q * se)
    else:
        out["emmean"], out["SE"], out["df"] = est, se, df
        out["lower"], out["upper"] = est - q * se, est + q * se
    out.attrs.update(level=level, specs=specs, by=by, type=type)
    return out


def _label_levels(fit, specs, table):
    """emmeans' labels for the means of one family: levels joined by spaces, factors
    with numeric-looking levels prefixed by their name, parentheses around a label
    that holds -, +, / or *."""
    parts = []
    for n in specs:
        values = [str(v) for v in table[n]]
        if all(_R_NUMBER.match(v) for v in values):
            values = [f"{n}{v}" for v in values]
        parts.append(values)
    labels = [" ".join(p) for p in zip(*parts)]
    return [f"({lab})" if _PARENS.search(lab) else lab for lab in labels]


def _contrast_matrix(method, labels):
    """(weights, names, pairwise?) for one family of k means."""
    k = len(labels)
    if isinstance(method, str):
        if method == "pairwise":
            pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
            w = np.zeros((len(pairs), k))
            for r, (i, j) in enumerate(pairs):
                w[r, i], w[r, j] = 1.0, -1.0
            return w, [f"{labels[i]} - {labels[j]}" for i, j in pairs], True
        if method == "trt.vs.ctrl":
            w = np.zeros((k - 1, k))
            w[:, 0] = -1.0
            w[np.arange(k - 1), np.arange(1, k)] = 1.0
            return w, [f"{labels[i]} - {labels[0]}" for i in range(1, k)], False
        raise ValueError(
            f"unknown method {method!r}; use 'pairwise', 'trt.vs.ctrl' or a dict "
            "{name: weights}"
        )
    if isinstance(method, Mapping):
        if not method:
            raise ValueError(
                "method is an empty dict; give at least one {name: weights}"
            )
        rows, names = [], []
        for name, weights in method.items():
            try:
                w = np.asarray(weights, dtype=float)
            except (TypeError, ValueError):
                raise TypeError(f"the weights of contrast {name!r} must be numbers, "
                                f"got {weights!r}") from None
            if w.ndim != 1 or len(w) != k:
                raise ValueError(
                    f"contrast {name!r} has {w.size} weight(s), but there are {k} "
                    f"means to weight, in this order: {labels}"
                )
            if not np.all(np.isfinite(w)):
                raise ValueError(
                    f"the weights of contrast {name!r} must be finite numbers"
                )
            rows.append(w)
            names.append(str(name))
        return np.vstack(rows), names, False
    raise TypeError(
        f"method must be 'pairwise', 'trt.vs.ctrl' or a dict {{name: weights}}, got "
        f"{type(method).__name__}"
    )


def _zapsmall(x, digits=7):
    """R's zapsmall(), which emmeans applies to the df before the Tukey p values."""
    mx = np.max(np.abs(x[np.isfinite(x)]), initial=0.0)
    if mx == 0:
        return x
    return np.round(x, int(max(0, digits - np.ceil(np.log10(mx)))))


def _holm(p):
    n = len(p)
    order = np.argsort(p, kind="stable")
    adj = np.minimum(1.0, np.maximum.accumulate((n - np.arange(n)) * p[order]))
    out = np.empty(n)
    out[order] = adj
    return out


def contrasts(result, specs, by=None, method="pairwise", adjust="tukey",
              level=0.95, type="link") -> pd.DataFrame:
    """Contrasts among estimated marginal means, as emmeans' ``pairs``, ``contrast``.

    The means are those of :func:`emmeans` with the same ``specs`` and ``by``;
    each contrast is a weighted sum of them, tested with a t test whose
    Satterthwaite df are computed for that contrast. The p values are adjusted
    for multiplicity within each family, a family being one ``by`` group.

    Parameters
    ----------
    result : statsmodels MixedLMResults or helpers.lmer fit
        A fit of a model built from a formula.
    specs : str or list of str
        The factor(s) whose means are compared. With several, each mean is a
        cell of their combination, labelled ``"a1 b1"``.
    by : str or list of str, optional
        Factor(s) within whose levels the comparisons are made.
    method : {"pairwise", "trt.vs.ctrl"} or dict, default "pairwise"
        ``"pairwise"``: every pair, the first minus the second in level order
        (emmeans' ``pairs()``); ``"trt.vs.ctrl"``: each level minus the first;
        a dict ``{name: weights}``: one contrast per entry, the weights applied
        to the means in the order :func:`emmeans` lists them within a ``by``
        group (emmeans' ``contrast(emm, method = list(...))``).
    adjust : {"tukey", "holm", "bonferroni", "sidak", "none"}, default "tukey"
        Multiplicity adjustment within each family. ``"tukey"`` uses the
        studentized range distribution with as many means as the family
        compares (emmeans: ``ptukey(sqrt(2) * |t|, k, df)``). It is meant for
        one set of pairwise comparisons only: for other contrasts emmeans
        replaces it with ``"sidak"``, and so does this function, with a
        ``UserWarning``. A family of one contrast is never adjusted.
    level : float, default 0.95
        Accepted for symmetry with :func:`emmeans` (no intervals are shown).
    type : {"link", "response"}, default "link"
        For a ``helpers.glmer`` fit: contrasts on the link scale (differences of
        log-odds or log-rates) with z tests (df = Inf), or, with ``"response"``,
        differences of the back-transformed means (probabilities, rates) with
        delta-method standard errors: emmeans' ``pairs(regrid(emm))``.

    Returns
    -------
    pandas.DataFrame
        Columns: the ``by`` factors, ``contrast`` (labelled as emmeans labels
        them, e.g. ``"a1 - a2"`` or ``"a1 b1 - a2 b1"``; a level holding
        ``-``, ``+``, ``/`` or ``*`` is put in parentheses, and levels that
        look like numbers are prefixed by the factor's name, ``"Time1"``),
        ``estimate``, ``SE``, ``df``, ``t``, ``p`` (adjusted). ``attrs["adjust"]``
        holds the adjustment that was applied.

    Raises
    ------
    TypeError
        ``result`` is not a mixed-model fit, or ``method`` is of the wrong type.
    ValueError
        As :func:`emmeans`; also an unknown ``method`` or ``adjust``, or a
        weight vector whose length is not the number of means.

    Examples
    --------
    >>> import helpers
    >>> from helpers.core.posthoc import contrasts
    >>> machines = helpers.load("machines")
    >>> fit = helpers.lmer("score ~ Machine + (1|Worker)", machines)
    >>> table = contrasts(fit, "Machine")             # pairwise, Tukey-adjusted
    >>> table.drop(columns="p").round(2)
      contrast  estimate    SE    df      t
    0    A - B     -7.97  1.05  46.0  -7.56
    1    A - C    -13.92  1.05  46.0 -13.21
    2    B - C     -5.95  1.05  46.0  -5.65
    >>> bool((table["p"] < 0.001).all()), table.attrs["adjust"]
    (True, 'tukey')
    >>> weights = {"A - rest": [1, -0.5, -0.5]}      # contrast(emm, method = list(...))
    >>> contrasts(fit, "Machine", method=weights, adjust="none").round(2)
       contrast  estimate    SE    df      t    p
    0  A - rest    -10.94  0.91  46.0 -11.99  0.0
    """
    fit = _Fit(result, "contrasts")
    specs, by = _check_specs(fit, specs, by, "contrasts")
    _check_level(level)
    if not isinstance(adjust, str) or adjust not in _ADJUSTS:
        raise ValueError(f"unknown adjust {adjust!r}; use one of {', '.join(_ADJUSTS)}")
    if isinstance(method, str) and method not in _METHODS:
        raise ValueError(
            f"unknown method {method!r}; use 'pairwise', 'trt.vs.ctrl' or a dict "
            "{name: weights}"
        )
    L, table = _grid_rows(fit, specs + by)
    k = int(np.prod([len(fit.levels[n]) for n in specs]))
    n_groups = len(table) // k
    labels = _label_levels(fit, specs, table.iloc[:k])
    weights, names, pairwise = _contrast_matrix(method, labels)
    m = len(names)

    used = adjust
    if m == 1:
        used = "none"  # emmeans: a family of one contrast is not adjusted
    elif adjust == "tukey" and not pairwise:
        used = "sidak"
        warnings.warn(
            'adjust="tukey" was changed to "sidak" because "tukey" is only appropriate '
            "for one set of pairwise comparisons (as emmeans does)",
            UserWarning, stacklevel=2,
        )

    blocks, frames = [], []
    for g in range(n_groups):
        blocks.append(weights @ L[g * k:(g + 1) * k])
        part = pd.DataFrame({n: [table[n].iloc[g * k]] * m for n in by})
        part["contrast"] = names
        frames.append(part)
    C = np.vstack(blocks)
    out = pd.concat(frames, ignore_index=True)
    for n in by:
        out[n] = pd.Series(list(out[n]), dtype=object)
    _check_type(fit, type)
    if type == "response":
        # emmeans' pairs(regrid(emm)): contrasts of the back-transformed means, their
        # covariance by the delta method (dμ/dη of each mean)
        fam = fit.glmm
        eta, _, df_mu = _estimates(fit, L)
        J = fam.mu_eta(fam.linkinv(eta))[:, None] * L
        W = np.zeros((C.shape[0], L.shape[0]))
        for g in range(n_groups):
            W[g * m:(g + 1) * m, g * k:(g + 1) * k] = weights
        sat = fit.satterthwaite()
        est = W @ fam.linkinv(eta)
        se = np.sqrt(np.einsum("ij,jk,ik->i", W @ J, sat.vcov_beta, W @ J))
        df = np.full(len(est), np.inf)
    else:
        est, se, df = _estimates(fit, C)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = est / se
    p_raw = 2 * np.where(np.isinf(df), stats.norm.sf(np.abs(t)),
                         stats.t.sf(np.abs(t), np.where(np.isinf(df), 1.0, df)))
    p = np.empty_like(p_raw)
    if used == "tukey":
        dfz = _zapsmall(df)  # emmeans zaps the df of the whole table
        p = stats.studentized_range.sf(np.sqrt(2) * np.abs(t), k, dfz)
    else:
        for g in range(n_groups):
            rows = slice(g * m, (g + 1) * m)
            pr = p_raw[rows]
            if used == "holm":
                p[rows] = _holm(pr)
            elif used == "bonferroni":
                p[rows] = np.minimum(1.0, m * pr)
            elif used == "sidak":
                p[rows] = 1 - (1 - pr) ** m
            else:
                p[rows] = pr
    out["estimate"], out["SE"], out["df"], out["t"], out["p"] = est, se, df, t, p
    out.attrs.update(adjust=used, specs=specs, by=by, family_size=k, type=type)
    return out
