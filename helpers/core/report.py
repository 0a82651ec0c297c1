"""Reporting a mixed model: tidy tables, the numbers a write-up needs, and journal formatting.

* :func:`tidy` is the table of fixed effects a paper prints: estimate,
  standard error, Satterthwaite degrees of freedom, *t*, *p* and a confidence
  interval, like the coefficient table of R's ``summary(lmerTest::lmer(...))``.
* :func:`icc` is the intraclass correlation of each random intercept.
* :func:`count_missing` counts what is missing, by row and by subject, so
  a report can say how missing data were handled.
* :func:`software_versions` lists the versions of the software used.
* :func:`format_p`, :func:`format_f` and :func:`format_coef` write
  numbers the way journals print them (``F(2, 116.0) = 4.03, p = .020``), so
  a results paragraph can be built from the fit instead of typed. With
  ``markdown=True`` they italicise the statistics (``*F*(2, 116.0) = 4.03,
  *p* = .020``), for a paragraph shown with ``IPython.display.Markdown``.

The variance components (as standard deviations) come from
:func:`helpers.varcorr`, the *F* tests from :func:`helpers.anova`.
"""
from __future__ import annotations

import math
import numbers
import platform
from importlib import metadata

import numpy as np
import pandas as pd
from scipy import stats

from ._checks import fitted_result, require_columns

__all__ = [
    "tidy", "icc", "count_missing", "software_versions",
    "format_p", "format_f", "format_coef",
]

#: The packages :func:`software_versions` reports by default.
PACKAGES = ("numpy", "scipy", "pandas", "statsmodels", "pingouin")

_TIDY_COLUMNS = ["estimate", "se", "df", "t", "p", "ci_low", "ci_high"]


def _level(conf_level) -> float:
    if (isinstance(conf_level, bool) or not isinstance(conf_level, numbers.Real)
            or not 0 < conf_level < 1):
        raise ValueError(f"conf_level must be a number between 0 and 1, such as 0.95, "
                         f"got {conf_level!r}")
    return float(conf_level)


def tidy(result, conf_level: float = 0.95) -> pd.DataFrame:
    """The fixed effects with standard errors, Satterthwaite df, *t*, *p* and CIs.

    The statsmodels counterpart of the coefficient table of R's
    ``summary(lmerTest::lmer(...))``, with a confidence interval added. Each
    coefficient gets a *t* test whose denominator degrees of freedom come from
    Satterthwaite's approximation (the same computation as
    :func:`helpers.anova`), and the interval is
    ``estimate ± t(df) quantile × se``. statsmodels' own summary gives *z*
    tests instead, which treat the variances as known.

    Parameters
    ----------
    result : statsmodels MixedLMResults
        A fitted model built from a formula (``smf.mixedlm`` or
        :func:`helpers.mixedlm`), by REML or ML.
    conf_level : float, default 0.95
        Coverage of the confidence intervals.

    Returns
    -------
    pandas.DataFrame
        One row per fixed effect, indexed by statsmodels' names (e.g.
        ``C(Time)[T.June]``), with columns ``estimate``, ``se`` (from
        ``Cov(beta) = sigma^2 (X' V^-1 X)^-1``, what lme4's ``vcov()`` returns),
        ``df`` (Satterthwaite), ``t``, ``p`` (two-sided), ``ci_low`` and ``ci_high``.

    Raises
    ------
    ValueError
        If ``result`` is not a MixedLM fit or ``conf_level`` is not in (0, 1).

    Examples
    --------
    >>> import helpers
    >>> from helpers.core.report import tidy
    >>> d = helpers.load("sleepstudy")
    >>> fit = helpers.mixedlm("Reaction ~ Days + (1 + Days | Subject)", d).fit()
    >>> tidy(fit).round(2)
               estimate    se    df      t    p  ci_low  ci_high
    Intercept    251.41  6.82  17.0  36.84  0.0  237.01   265.80
    Days          10.47  1.55  17.0   6.77  0.0    7.21    13.73
    """
    from .inference import _Satterthwaite

    res = fitted_result(result, "tidy")
    level = _level(conf_level)
    sat = _Satterthwaite(res)
    beta = np.asarray(sat.beta, dtype=float)
    k = len(beta)
    se = np.sqrt(np.clip(np.diag(sat.vcov_beta), 0.0, None))
    df = np.array([float(sat.ddf_1d(row)) for row in np.eye(k)])
    with np.errstate(divide="ignore", invalid="ignore"):
        t = beta / se
    p = 2 * stats.t.sf(np.abs(t), df)
    q = stats.t.ppf(0.5 + level / 2, df)
    out = pd.DataFrame(
        {"estimate": beta, "se": se, "df": df, "t": t, "p": p,
         "ci_low": beta - q * se, "ci_high": beta + q * se},
        index=[str(n) for n in res.model.exog_names],
    )
    return out[_TIDY_COLUMNS]


def icc(result) -> pd.Series:
    """Intraclass correlation of each random intercept: its share of the total variance.

    For random intercepts only, the ICC of a grouping factor is its variance
    divided by the sum of all the random-effect variances and the residual
    variance: the correlation between two observations that share that level
    (and no other random effect), once the fixed effects are accounted for.
    With one random intercept this is ``var_u / (var_u + sigma^2)``.

    Parameters
    ----------
    result : statsmodels MixedLMResults
        A fit whose random effects are all intercepts (``(1 | subject)``,
        ``(1 | subject) + (1 | item)``, ``(1 | school/class)``).

    Returns
    -------
    pandas.Series
        One ICC per grouping factor, named as in :func:`helpers.varcorr`.

    Raises
    ------
    ValueError
        If the model has random slopes: the share of variance then depends on
        the predictor's value, so no single ICC exists; report the SDs
        (:func:`helpers.varcorr`) instead. Also if ``result`` is not a MixedLM fit.

    Examples
    --------
    >>> import pingouin as pg, helpers
    >>> from helpers.core.report import icc
    >>> d = pg.read_dataset("mixed_anova")
    >>> fit = helpers.mixedlm("Scores ~ Time * Group + (1 | Subject)", d).fit()
    >>> icc(fit).round(3)
    Subject    0.045
    dtype: float64
    """
    from .varcorr import varcorr

    fitted_result(result, "icc")
    table = varcorr(result)
    effects = table[table["grp"] != "Residual"]
    if effects.empty:
        raise ValueError("the model has no random effects, so there is no ICC to compute")
    slopes = effects[(effects["var1"] != "(Intercept)") | effects["var2"].notna()]
    if len(slopes):
        names = ", ".join(sorted({f"{g}: {v}" for g, v in zip(slopes["grp"], slopes["var1"])}))
        raise ValueError(
            f"icc needs random intercepts only, but the model has random slopes or "
            f"unnamed variance components ({names}). With random slopes the share of "
            "variance depends on the predictor; report the SDs from helpers.varcorr instead."
        )
    total = float(table["vcov"].sum())
    return pd.Series(effects["vcov"].to_numpy() / total, index=effects["grp"].to_list(),
                     dtype=float)


def count_missing(data: pd.DataFrame, subject: str, columns) -> pd.Series:
    """How many rows and subjects a model on ``columns`` can use, and what is missing.

    Parameters
    ----------
    data : pandas.DataFrame
        Long-format data, one row per observation.
    subject : str
        The subject (or other grouping) column.
    columns : sequence of str
        The columns the model uses (response and predictors).

    Returns
    -------
    pandas.Series
        ``rows``, ``rows_complete`` (no missing value in ``columns``),
        ``rows_incomplete``, ``subjects``, ``subjects_complete`` (every row
        complete), ``subjects_with_gaps``, ``subjects_without_data`` (no
        complete row at all: dropped from the model), then ``missing <column>``
        for each column: the number of missing values.

    Raises
    ------
    KeyError
        If ``subject`` or one of ``columns`` is not a column of ``data``.
    ValueError
        If ``columns`` is empty or ``subject`` itself has missing values.

    Examples
    --------
    >>> import pandas as pd
    >>> from helpers.core.report import count_missing
    >>> d = pd.DataFrame({"id": [1, 1, 2, 2], "y": [1.0, None, 2.0, 3.0]})
    >>> count_missing(d, "id", ["y"]).to_dict()    # doctest: +NORMALIZE_WHITESPACE
    {'rows': 4, 'rows_complete': 3, 'rows_incomplete': 1, 'subjects': 2,
     'subjects_complete': 1, 'subjects_with_gaps': 1, 'subjects_without_data': 0,
     'missing y': 1}
    """
    if isinstance(columns, str):
        columns = [columns]
    columns = list(columns)
    if not columns:
        raise ValueError("columns is empty: name the columns the model uses, e.g. ['y', 'time']")
    require_columns(data, [subject, *columns], "data")
    if data[subject].isna().any():
        raise ValueError(
            f"the subject column {subject!r} has {int(data[subject].isna().sum())} missing "
            "value(s); rows without a subject cannot be used. Fix or drop them first."
        )
    complete = data[columns].notna().all(axis=1)
    by_subject = complete.groupby(data[subject], observed=True)
    out = {
        "rows": int(len(data)),
        "rows_complete": int(complete.sum()),
        "rows_incomplete": int((~complete).sum()),
        "subjects": int(data[subject].nunique()),
        "subjects_complete": int(by_subject.all().sum()),
        "subjects_with_gaps": int((~by_subject.all()).sum()),
        "subjects_without_data": int((~by_subject.any()).sum()),
    }
    for col in columns:
        out[f"missing {col}"] = int(data[col].isna().sum())
    return pd.Series(out, dtype=object)


def software_versions(packages=PACKAGES) -> pd.Series:
    """Versions of Python and of the packages an analysis used, for the methods section.

    Parameters
    ----------
    packages : sequence of str, optional
        Distribution names; the default is numpy, scipy, pandas, statsmodels and
        pingouin. A package that is not installed is reported as ``"not installed"``.

    Returns
    -------
    pandas.Series
        ``python`` first, then one entry per package.

    Examples
    --------
    >>> from helpers.core.report import software_versions
    >>> v = software_versions(["statsmodels"])
    >>> list(v.index)
    ['python', 'statsmodels']
    >>> v["statsmodels"].count(".") >= 1
    True
    """
    if isinstance(packages, str):
        packages = [packages]
    out = {"python": platform.python_version()}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return pd.Series(out, dtype=object)


def _finite(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _symbol(name: str, markdown: bool) -> str:
    """A statistic's symbol, in italics (``*F*``) when the text is Markdown."""
    if not isinstance(markdown, bool):
        raise ValueError(f"markdown must be True or False, got {markdown!r}")
    return f"*{name}*" if markdown else name


def format_p(p: float, digits: int = 3, markdown: bool = False) -> str:
    """A p-value as journals print it: ``p = .028``, ``p < .001``.

    No leading zero (a probability cannot exceed 1), ``digits`` decimals,
    and ``p < .001`` (for the default ``digits``) below the smallest value
    that would round to something other than zero.

    Parameters
    ----------
    p : float
        A probability in [0, 1].
    digits : int, default 3
        Decimals shown.
    markdown : bool, default False
        Write the symbol in italics as Markdown (``*p* = .028``), for a paragraph
        displayed with ``IPython.display.Markdown``.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        If ``p`` is not a number in [0, 1], ``digits`` is not a positive integer
        or ``markdown`` is not a bool.

    Examples
    --------
    >>> from helpers.core.report import format_p
    >>> format_p(0.02842), format_p(0.0000033), format_p(0.5)
    ('p = .028', 'p < .001', 'p = .500')
    >>> format_p(0.02842, markdown=True)
    '*p* = .028'
    """
    symbol = _symbol("p", markdown)
    p = _finite("p", p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be a probability in [0, 1], got {p!r}")
    if isinstance(digits, bool) or not isinstance(digits, numbers.Integral) or digits < 1:
        raise ValueError(f"digits must be a positive integer, got {digits!r}")
    smallest = 10.0 ** -digits
    if p < smallest:
        relation, value = "<", smallest
    elif p >= 1 - smallest / 2:
        relation, value = ">", 1 - smallest
    else:
        relation, value = "=", p
    return f"{symbol} {relation} " + f"{value:.{digits}f}".replace("0.", ".", 1)


def _row_value(row, key: str) -> float:
    try:
        value = row[key]
    except (KeyError, IndexError, TypeError):
        raise KeyError(f"the row has no {key!r}; pass a row of helpers.anova() or tidy()") from None
    return _finite(key, float(value))


def format_f(row, digits: int = 2, df_digits: int = 1, markdown: bool = False) -> str:
    """An F test as journals print it: ``F(2, 116.0) = 4.03, p = .020``.

    Parameters
    ----------
    row : pandas.Series or mapping
        One row of :func:`helpers.anova`: ``NumDF``, ``DenDF``, ``F``, ``p``.
    digits : int, default 2
        Decimals of F.
    df_digits : int, default 1
        Decimals of the (Satterthwaite, usually not whole) denominator df.
    markdown : bool, default False
        Write *F* and *p* in italics as Markdown (``*F*(2, 116.0) = 4.03, *p* = .020``).

    Returns
    -------
    str

    Raises
    ------
    KeyError
        If a value is missing from ``row``.
    ValueError
        If a value is not a finite number, or ``markdown`` is not a bool.

    Examples
    --------
    >>> from helpers.core.report import format_f
    >>> row = {"NumDF": 1, "DenDF": 16.99998, "F": 45.853, "p": 3.3e-06}
    >>> format_f(row)
    'F(1, 17.0) = 45.85, p < .001'
    >>> format_f(row, markdown=True)
    '*F*(1, 17.0) = 45.85, *p* < .001'
    """
    symbol = _symbol("F", markdown)
    num = _row_value(row, "NumDF")
    den = _row_value(row, "DenDF")
    fval = _row_value(row, "F")
    p = _row_value(row, "p")
    return (f"{symbol}({num:.0f}, {den:.{df_digits}f}) = {fval:.{digits}f}, "
            f"{format_p(p, markdown=markdown)}")


def format_coef(row, digits: int = 2, df_digits: int = 1, conf_level: float = 0.95,
                symbol: str = "b", markdown: bool = False) -> str:
    """A coefficient as journals print it: ``b = 10.47, 95% CI [7.21, 13.73], t(17.0) = 6.77, p < .001``.

    Parameters
    ----------
    row : pandas.Series or mapping
        One row of :func:`tidy`: ``estimate``, ``ci_low``, ``ci_high``, ``df``, ``t``, ``p``.
    digits : int, default 2
        Decimals of the estimate, the interval and *t*.
    df_digits : int, default 1
        Decimals of the degrees of freedom.
    conf_level : float, default 0.95
        The coverage the interval was computed with (used for its label only).
    symbol : str, default "b"
        What to call the estimate.
    markdown : bool, default False
        Write the symbol, *t* and *p* in italics as Markdown
        (``*b* = 10.47, 95% CI [7.21, 13.73], *t*(17.0) = 6.77, *p* < .001``).

    Returns
    -------
    str

    Raises
    ------
    KeyError
        If a value is missing from ``row``.
    ValueError
        If a value is not a finite number, ``conf_level`` is not in (0, 1) or
        ``markdown`` is not a bool.

    Examples
    --------
    >>> from helpers.core.report import format_coef
    >>> row = {"estimate": 10.467, "ci_low": 7.209, "ci_high": 13.726,
    ...        "df": 17.0, "t": 6.771, "p": 3.3e-06}
    >>> format_coef(row)
    'b = 10.47, 95% CI [7.21, 13.73], t(17.0) = 6.77, p < .001'
    >>> format_coef(row, markdown=True)
    '*b* = 10.47, 95% CI [7.21, 13.73], *t*(17.0) = 6.77, *p* < .001'
    """
    estimate_symbol, t_symbol = _symbol(symbol, markdown), _symbol("t", markdown)
    level = _level(conf_level)
    est = _row_value(row, "estimate")
    lo, hi = _row_value(row, "ci_low"), _row_value(row, "ci_high")
    df = _row_value(row, "df")
    t = _row_value(row, "t")
    p = _row_value(row, "p")
    pct = f"{100 * level:g}%"
    return (f"{estimate_symbol} = {est:.{digits}f}, {pct} CI [{lo:.{digits}f}, "
            f"{hi:.{digits}f}], {t_symbol}({df:.{df_digits}f}) = {t:.{digits}f}, "
            f"{format_p(p, markdown=markdown)}")
