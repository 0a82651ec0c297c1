"""Random slopes: each group's line, lme4's variance table, and the figures that show shrinkage.

* :func:`ols_lines` fits a straight line to each group on its own (no pooling).
* :func:`blup_lines` reads each group's line from a fitted mixed model: the
  fixed intercept and slope plus the group's predicted random effects (BLUPs).
* :func:`lattice_plot` draws one panel per group with its points and any
  lines; :func:`shrinkage_plot` shows how the model pulls each group's
  (intercept, slope) pair towards the average.
"""
from __future__ import annotations

import math
import re

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator
import numpy as np
import pandas as pd
from scipy import stats

from ..core._checks import fitted_result, require_columns, require_no_missing

__all__ = ["ols_lines", "blup_lines", "lattice_plot", "shrinkage_plot"]

_LINE_COLUMNS = ["intercept", "slope"]


def ols_lines(df: pd.DataFrame, group: str, x: str, y: str) -> pd.DataFrame:
    """Fit ``y = intercept + slope * x`` by least squares in each group separately.

    These are the "no pooling" estimates: every group's line uses only that
    group's rows, as if the other groups did not exist.

    Parameters
    ----------
    df : pandas.DataFrame
        Long-format data, one row per observation.
    group, x, y : str
        Columns holding the grouping factor (e.g. the subject), the numeric
        predictor and the response.

    Returns
    -------
    pandas.DataFrame
        One row per group (index named ``group``, sorted), columns
        ``intercept`` and ``slope``.

    Raises
    ------
    KeyError
        If a column is missing.
    ValueError
        If a column holds missing values, ``x`` or ``y`` is not numeric, or a
        group has fewer than two distinct values of ``x`` (no line can be fitted).

    Examples
    --------
    >>> import pandas as pd
    >>> from helpers.studies.slopes import ols_lines
    >>> d = pd.DataFrame({"s": ["a"] * 3 + ["b"] * 3, "x": [0, 1, 2] * 2,
    ...                   "y": [1.0, 3.0, 5.0, 2.0, 2.5, 3.0]})
    >>> ols_lines(d, "s", "x", "y").round(3)
       intercept  slope
    s
    a        1.0    2.0
    b        2.0    0.5
    """
    require_columns(df, [group, x, y], "df")
    require_no_missing(df, [group, x, y], "df")
    for col in (x, y):
        if not pd.api.types.is_numeric_dtype(df[col]) or pd.api.types.is_bool_dtype(df[col]):
            raise ValueError(f"column {col!r} must be numeric to fit a line, got {df[col].dtype}")
    rows = {}
    for label, part in df.groupby(group, observed=True, sort=True):
        xs = part[x].to_numpy(dtype=float)
        if np.unique(xs).size < 2:
            raise ValueError(
                f"group {label!r} has fewer than two distinct values of {x!r}, so no line can "
                "be fitted to it; drop the group or use a model that pools across groups"
            )
        slope, intercept = np.polyfit(xs, part[y].to_numpy(dtype=float), 1)
        rows[label] = (intercept, slope)
    out = pd.DataFrame.from_dict(rows, orient="index", columns=_LINE_COLUMNS)
    out.index.name = group
    return out


def _column_index(z: np.ndarray, target: np.ndarray) -> int | None:
    for j in range(z.shape[1]):
        if np.allclose(z[:, j], target):
            return j
    return None


def blup_lines(result, x: str) -> pd.DataFrame:
    """Each group's line predicted by a fitted mixed model: fixed effects plus BLUPs.

    The intercept is the fixed ``Intercept`` plus the group's predicted random
    intercept (if the model has one); the slope is the fixed coefficient of
    ``x`` plus the group's predicted random slope for ``x`` (if any). The
    random effects are found by their design columns (a column of ones, a
    column equal to ``x``), so this works whether the slope was given in
    ``re_formula`` (correlated) or as a variance component (uncorrelated).

    Parameters
    ----------
    result : statsmodels MixedLMResults
        A fit of a model such as ``y ~ x + (1 + x | g)`` (or ``||``).
    x : str
        The name of the numeric predictor, as in the fixed effects.

    Returns
    -------
    pandas.DataFrame
        One row per group (in the model's order), columns ``intercept`` and
        ``slope``.

    Raises
    ------
    ValueError
        If ``result`` is not a MixedLM fit, or the fixed effects have no
        ``Intercept`` or no coefficient named ``x``.

    Examples
    --------
    >>> import helpers
    >>> from helpers.studies.slopes import blup_lines
    >>> d = helpers.load("sleepstudy")
    >>> fit = helpers.mixedlm("Reaction ~ Days + (1 + Days | Subject)", d).fit()
    >>> lines = blup_lines(fit, "Days")
    >>> lines.shape
    (18, 2)
    >>> round(float(lines["slope"].mean()), 3)    # BLUPs average to zero here
    10.467
    """
    res = fitted_result(result, "blup_lines")
    model = res.model
    names = list(model.exog_names)
    fe = pd.Series(np.asarray(res.fe_params, dtype=float), index=names)
    if "Intercept" not in fe.index:
        raise ValueError(f"the model has no fixed 'Intercept' (fixed effects: {names})")
    if x not in fe.index:
        raise ValueError(
            f"{x!r} is not a fixed effect of the model (fixed effects: {names}); give the name "
            "of the numeric predictor whose slope varies"
        )
    x_col = names.index(x)
    effects = res.random_effects
    rows = {}
    for gi, label in enumerate(model.group_labels):
        z = model._augment_exog(gi)
        z = z.toarray() if hasattr(z, "toarray") else np.asarray(z, dtype=float)
        if z.ndim == 1:
            z = z[:, None]
        xg = np.asarray(model.exog_li[gi], dtype=float)[:, x_col]
        b = np.asarray(effects[label], dtype=float)
        i_int = _column_index(z, np.ones(len(xg))) if z.size else None
        i_x = _column_index(z, xg) if z.size else None
        intercept = fe["Intercept"] + (b[i_int] if i_int is not None else 0.0)
        slope = fe[x] + (b[i_x] if i_x is not None else 0.0)
        rows[label] = (intercept, slope)
    out = pd.DataFrame.from_dict(rows, orient="index", columns=_LINE_COLUMNS)
    return out


def _check_lines(lines, what: str):
    if isinstance(lines, tuple):
        if len(lines) != 2:
            raise ValueError(f"{what}: a common line is a tuple (intercept, slope), got {lines!r}")
        return
    if not isinstance(lines, pd.DataFrame):
        raise ValueError(
            f"{what} must be a DataFrame with columns 'intercept' and 'slope' (one row per group, "
            f"as ols_lines or blup_lines return) or a tuple (intercept, slope); got "
            f"{type(lines).__name__}"
        )
    require_columns(lines, _LINE_COLUMNS, what)


def lattice_plot(
    df: pd.DataFrame,
    group: str,
    x: str,
    y: str,
    lines: dict | None = None,
    order=None,
    ncols: int = 4,
    xlabel: str | None = None,
    ylabel: str | None = None,
):
    """One panel per group: its observations, and optionally lines drawn over them.

    The figure is sized for a book's text column (about 800 pixels wide): four panels a
    row by default, with fonts that stay readable when the figure is shrunk to that
    width. When the last row has empty slots, the legend goes there. To show only some
    groups, pass only their rows in ``df`` (and say which in the text).

    Parameters
    ----------
    df : pandas.DataFrame
        Long-format data.
    group, x, y : str
        The grouping column (one panel per level), the numeric predictor
        (x axis) and the response (y axis).
    lines : dict, optional
        Label -> lines to draw in every panel, in order: either a DataFrame
        with columns ``intercept`` and ``slope`` indexed by group (such as
        :func:`ols_lines` or :func:`blup_lines` return), or a tuple
        ``(intercept, slope)`` drawn the same in every panel (the average line).
    order : sequence, optional
        The groups in panel order (for example sorted by slope); default the
        sorted levels of ``group``.
    ncols : int, default 4
        Panels per row; with more than four, the panels get small on a page.
    xlabel, ylabel : str, optional
        Axis labels; default the column names. Give units here.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    KeyError
        A column is missing, or a DataFrame in ``lines`` lacks a group.
    ValueError
        Missing values in the columns, ``order`` not listing each group once,
        ``ncols`` not a positive integer, or malformed ``lines``.

    Examples
    --------
    >>> import helpers
    >>> from helpers.studies.slopes import lattice_plot, ols_lines
    >>> d = helpers.load("sleepstudy")
    >>> fig = lattice_plot(d, "Subject", "Days", "Reaction",
    ...                    lines={"own line": ols_lines(d, "Subject", "Days", "Reaction")})
    >>> sum(ax.get_visible() for ax in fig.axes)
    18
    """
    require_columns(df, [group, x, y], "df")
    require_no_missing(df, [group, x], "df")
    if isinstance(ncols, bool) or not isinstance(ncols, (int, np.integer)) or ncols < 1:
        raise ValueError(f"ncols must be a positive integer, got {ncols!r}")
    levels = sorted(df[group].unique().tolist())
    if order is None:
        order = levels
    else:
        order = list(order)
        if sorted(map(str, order)) != sorted(map(str, levels)) or len(set(order)) != len(order):
            raise ValueError(
                f"order must list each of the {len(levels)} groups of {group!r} exactly once; "
                f"got {len(order)} entries"
            )
    lines = dict(lines or {})
    for label, value in lines.items():
        _check_lines(value, f"lines[{label!r}]")
        if isinstance(value, pd.DataFrame):
            absent = [g for g in order if g not in value.index]
            if absent:
                raise KeyError(f"lines[{label!r}] has no row for group(s) {absent[:5]}")
    n = len(order)
    ncols = min(int(ncols), n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.1 * ncols + 0.9, 1.75 * nrows + 1.0),
                             sharex=True, sharey=True, squeeze=False)
    x_all = df[x].to_numpy(dtype=float)
    grid = np.array([np.nanmin(x_all), np.nanmax(x_all)])
    styles = [dict(color="C0", lw=2.0), dict(color="C3", lw=2.0, ls="--"),
              dict(color="0.35", lw=1.4, ls=":"), dict(color="C2", lw=1.8, ls="-.")]
    for k, label in enumerate(order):
        ax = axes.flat[k]
        part = df[df[group] == label]
        ax.scatter(part[x], part[y], s=14, color="0.25", zorder=3)
        for (name, value), style in zip(lines.items(), styles * 4):
            a, b = (value if isinstance(value, tuple)
                    else value.loc[label, _LINE_COLUMNS].to_numpy(dtype=float))
            ax.plot(grid, a + b * grid, label=name, **style)
        ax.set_title(str(label), fontsize=12, pad=3)
        if pd.api.types.is_integer_dtype(df[x]):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
        ax.yaxis.set_major_locator(MaxNLocator(nbins=4, steps=[1, 2, 5, 10]))
        ax.tick_params(labelsize=11)
    empty = list(axes.flat[n:])
    for ax in empty:
        ax.set_visible(False)
    for ax in axes.flat[max(n - ncols, 0):n]:   # the lowest panel of each column
        ax.xaxis.set_tick_params(labelbottom=True)
    fig.supxlabel(xlabel or x, fontsize=13)
    fig.supylabel(ylabel or y, fontsize=13)
    handles, names = axes.flat[0].get_legend_handles_labels()
    if lines and empty:
        # the legend fills the empty slots of the last row
        fig.tight_layout()
        boxes = [ax.get_position() for ax in empty]
        centre = ((min(b.x0 for b in boxes) + max(b.x1 for b in boxes)) / 2,
                  (min(b.y0 for b in boxes) + max(b.y1 for b in boxes)) / 2)
        fig.legend(handles, names, loc="center", bbox_to_anchor=centre, frameon=False,
                   fontsize=12, handlelength=2.6)
    elif lines:
        fig.legend(handles, names, loc="upper center", ncol=len(lines), frameon=False,
                   fontsize=12, bbox_to_anchor=(0.5, 1.0))
        fig.tight_layout(rect=(0, 0, 1, 1 - 0.45 / fig.get_figheight()))
    else:
        fig.tight_layout()
    return fig


def shrinkage_plot(
    before: pd.DataFrame,
    after: pd.DataFrame,
    center=None,
    cov=None,
    labels=("each group on its own", "mixed model"),
    xlabel: str = "intercept",
    ylabel: str = "slope",
    ax=None,
):
    """Arrows from each group's own (intercept, slope) to the model's prediction.

    Parameters
    ----------
    before, after : pandas.DataFrame
        Columns ``intercept`` and ``slope``, indexed by group: usually
        :func:`ols_lines` (no pooling) and :func:`blup_lines` (partial pooling).
        Both must hold the same groups.
    center : tuple (intercept, slope), optional
        The fixed effects, drawn as a cross.
    cov : array-like 2 x 2, optional
        The random-effects covariance matrix (intercept, slope); with
        ``center``, the ellipse that holds 95% of groups under the model is drawn.
    labels : tuple of two str
        Legend entries for ``before`` and ``after``.
    xlabel, ylabel : str
        Axis labels; give units here.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    KeyError
        A column is missing.
    ValueError
        The two tables hold different groups, or ``cov`` is not 2 x 2, or is
        given without ``center``.

    Examples
    --------
    >>> import helpers
    >>> from helpers.studies.slopes import blup_lines, ols_lines, shrinkage_plot
    >>> d = helpers.load("sleepstudy")
    >>> fit = helpers.mixedlm("Reaction ~ Days + (1 + Days | Subject)", d).fit()
    >>> ax = shrinkage_plot(ols_lines(d, "Subject", "Days", "Reaction"), blup_lines(fit, "Days"),
    ...                     center=tuple(fit.fe_params), cov=fit.cov_re)
    >>> len(ax.collections) >= 2
    True
    """
    for what, table in (("before", before), ("after", after)):
        _check_lines(table, what)
        if isinstance(table, tuple):
            raise ValueError(f"{what} must be a DataFrame with one row per group, not a tuple")
    if set(before.index) != set(after.index):
        only = sorted(set(before.index) ^ set(after.index), key=str)[:5]
        raise ValueError(f"before and after must hold the same groups; they differ in {only}")
    after = after.loc[before.index]
    if ax is None:
        _, ax = plt.subplots(figsize=(5.6, 4.6))
    x0, y0 = before["intercept"].to_numpy(float), before["slope"].to_numpy(float)
    x1, y1 = after["intercept"].to_numpy(float), after["slope"].to_numpy(float)
    for a, b, c, d in zip(x0, y0, x1, y1):
        ax.annotate("", xy=(c, d), xytext=(a, b),
                    arrowprops=dict(arrowstyle="->", color="0.55", lw=0.9))
    ax.scatter(x0, y0, s=28, facecolors="none", edgecolors="C0", label=labels[0], zorder=3)
    ax.scatter(x1, y1, s=22, color="C3", label=labels[1], zorder=4)
    if cov is not None and center is None:
        raise ValueError("cov needs center: give the fixed effects (intercept, slope) too")
    if center is not None:
        cx, cy = (float(v) for v in center)
        ax.plot([cx], [cy], marker="X", ms=10, color="k", ls="none", label="fixed effects", zorder=5)
        if cov is not None:
            cov = np.asarray(cov, dtype=float)
            if cov.shape != (2, 2):
                raise ValueError(f"cov must be 2 x 2 (intercept, slope), got shape {cov.shape}")
            vals, vecs = np.linalg.eigh(cov)
            radius = np.sqrt(stats.chi2.ppf(0.95, 2) * np.clip(vals, 0, None))
            t = np.linspace(0, 2 * np.pi, 200)
            pts = vecs @ (radius[:, None] * np.vstack([np.cos(t), np.sin(t)]))
            ax.plot(cx + pts[0], cy + pts[1], color="k", lw=0.8, ls="--",
                    label="95% of groups (model)")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(frameon=False, fontsize=9, loc="best")
    ax.figure.tight_layout()
    return ax
