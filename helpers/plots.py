"""Figures the chapters share: every participant's scores, and interaction plots."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import stats

from ._checks import require_columns, require_no_missing


def _levels(series: pd.Series) -> list:
    if isinstance(series.dtype, pd.CategoricalDtype):
        return list(series.cat.categories)
    return sorted(series.dropna().unique().tolist())


def spaghetti_plot(
    df: pd.DataFrame,
    subject: str,
    x: str,
    y: str,
    panel: str | None = None,
    ylabel: str | None = None,
    xlabel: str | None = None,
):
    """Draw every subject's scores across the levels of a within factor.

    One thin line per subject joins its scores; a thick line joins the means
    of each level. With ``panel``, one panel per level of a between factor.
    Missing scores leave a gap in that subject's line, so a reader sees them.

    Parameters
    ----------
    df : pandas.DataFrame
        Long-format data.
    subject, x, y : str
        Columns for the subject, the within factor on the x axis and the score.
    panel : str, optional
        A between factor: one panel per level.
    ylabel, xlabel : str, optional
        Axis labels; default to the column names. Give units here.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import helpers
    >>> fig = helpers.spaghetti_plot(helpers.load("seed_toy"), "participant_ID",
    ...                              "Condition_1", "dependent_var", panel="Condition_2")
    >>> len(fig.axes)
    2
    """
    cols = [subject, x, y] + ([panel] if panel else [])
    require_columns(df, cols, "df")
    require_no_missing(df, [subject, x] + ([panel] if panel else []), "df")
    panels = _levels(df[panel]) if panel else [None]
    x_levels = _levels(df[x])
    pos = {lv: i for i, lv in enumerate(x_levels)}
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels) + 0.6, 3.6),
                             sharey=True, squeeze=False)
    for ax, lv in zip(axes[0], panels):
        part = df if lv is None else df[df[panel] == lv]
        for _, rows in part.groupby(subject, observed=True):
            rows = rows.assign(_pos=rows[x].map(pos)).sort_values("_pos")
            ax.plot(rows["_pos"], rows[y], color="0.55", lw=1, marker="o", ms=4, alpha=0.8)
        means = part.groupby(x, observed=True)[y].mean().reindex(x_levels)
        ax.plot(range(len(x_levels)), means.to_numpy(), color="C3", lw=3, marker="s",
                ms=7, label="mean", zorder=3)
        ax.set_xticks(range(len(x_levels)), [str(v) for v in x_levels])
        ax.set_xlim(-0.4, len(x_levels) - 0.6)
        ax.set_xlabel(xlabel or x)
        n = part[subject].nunique()
        ax.set_title(f"{panel} = {lv} ({n} subjects)" if panel else f"{n} subjects")
    axes[0][0].set_ylabel(ylabel or y)
    axes[0][0].legend(loc="best", frameon=False)
    fig.tight_layout()
    return fig


def interaction_plot(
    df: pd.DataFrame,
    x: str,
    trace: str,
    y: str,
    ylabel: str | None = None,
    xlabel: str | None = None,
    ax=None,
):
    """Plot cell means of ``y`` with 95% confidence intervals, one line per ``trace`` level.

    Parallel lines mean no interaction; lines that diverge or cross show one.
    The intervals are ordinary t intervals of each cell's mean: they ignore
    the pairing of within-subject scores, so they describe each cell, not the
    difference between cells.

    Parameters
    ----------
    df : pandas.DataFrame
        Long-format data.
    x, trace, y : str
        The factor on the x axis, the factor drawn as separate lines, the score.
    ylabel, xlabel : str, optional
        Axis labels; default to the column names. Give units here.
    ax : matplotlib.axes.Axes, optional
        Draw into this axes instead of a new figure.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import helpers
    >>> ax = helpers.interaction_plot(helpers.load("seed_toy"), "Condition_1",
    ...                               "Condition_2", "dependent_var")
    >>> len(ax.lines) >= 2
    True
    """
    require_columns(df, [x, trace, y], "df")
    require_no_missing(df, [x, trace], "df")
    new_figure = ax is None
    if new_figure:
        _, ax = plt.subplots(figsize=(5.2, 3.8))
    x_levels = _levels(df[x])
    traces = _levels(df[trace])
    offsets = np.linspace(-0.08, 0.08, len(traces)) if len(traces) > 1 else [0.0]
    for off, lv in zip(offsets, traces):
        cell = df[df[trace] == lv].groupby(x, observed=True)[y]
        mean = cell.mean().reindex(x_levels)
        sem = cell.sem().reindex(x_levels)
        n = cell.count().reindex(x_levels)
        half = sem * stats.t.ppf(0.975, np.maximum(n - 1, 1))
        ax.errorbar(np.arange(len(x_levels)) + off, mean, yerr=half, marker="o",
                    capsize=4, lw=2, label=f"{trace} = {lv}")
    ax.set_xticks(range(len(x_levels)), [str(v) for v in x_levels])
    ax.set_xlim(-0.4, len(x_levels) - 0.6)
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or f"mean {y} (95% CI)")
    ax.legend(frameon=False, loc="best")
    if new_figure:
        ax.figure.tight_layout()
    return ax
