"""Figures the chapters share: every participant's scores, and interaction plots."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import stats

from ._checks import fitted_result, require_columns, require_no_missing


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


def caterpillar_plot(result, term: str | None = None, level: float = 0.95,
                     xlabel: str | None = None, ax=None):
    """Plot each group's predicted random effect (BLUP) with a prediction interval, sorted.

    The interval is the BLUP plus or minus a normal quantile times the square
    root of its conditional variance (``result.random_effects_cov``): how far
    the group's true effect may be from its prediction, given the model.

    Parameters
    ----------
    result : statsmodels MixedLMResults
        A fitted mixed model with per-group random effects.
    term : str, optional
        Which random effect to draw (a column of ``result.random_effects``);
        default the first, usually the random intercept (``"Group"``).
    level : float
        Coverage of the intervals, default 0.95.
    xlabel : str, optional
        Label of the x axis; give the units of the response here.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import pingouin as pg, statsmodels.formula.api as smf, helpers
    >>> d = pg.read_dataset("mixed_anova")
    >>> fit = smf.mixedlm("Scores ~ Time * Group", d, groups="Subject").fit()
    >>> ax = helpers.caterpillar_plot(fit)
    >>> len(ax.collections) > 0
    True
    """
    fitted_result(result, "caterpillar_plot")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    effects = pd.DataFrame(result.random_effects).T
    if term is None:
        term = effects.columns[0]
    if term not in effects.columns:
        raise KeyError(f"random effect {term!r} not in the fit; it has {list(effects.columns)}")
    sd = np.sqrt([np.asarray(result.random_effects_cov[g].loc[term, term]) for g in effects.index])
    order = np.argsort(effects[term].to_numpy())
    blup = effects[term].to_numpy()[order]
    half = stats.norm.ppf(0.5 + level / 2) * np.asarray(sd, dtype=float)[order]
    if ax is None:
        _, ax = plt.subplots(figsize=(5.2, min(6.5, max(3.0, 0.1 * len(blup) + 1.2))))
    y = np.arange(len(blup))
    ax.hlines(y, blup - half, blup + half, color="0.6", lw=1.2)
    ax.scatter(blup, y, s=14, color="C0", zorder=3)
    ax.axvline(0, color="C3", lw=1, ls="--")
    ax.set_yticks([] if len(blup) > 30 else y,
                  [] if len(blup) > 30 else [str(g) for g in effects.index[order]])
    ax.set_ylabel(f"groups, sorted ({len(blup)})")
    ax.set_xlabel(xlabel or f"predicted random effect '{term}' ({level:.0%} interval)")
    ax.figure.tight_layout()
    return ax


def residual_plots(result, ylabel: str = "residual"):
    """Residuals against fitted values, and a normal Q-Q plot of the residuals.

    These are the conditional residuals (observed minus fitted, with the
    predicted random effects included). Look for a funnel (variance growing
    with the fitted value) on the left and for bent tails on the right.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import pingouin as pg, statsmodels.formula.api as smf, helpers
    >>> d = pg.read_dataset("mixed_anova")
    >>> fig = helpers.residual_plots(smf.mixedlm("Scores ~ Time", d, groups="Subject").fit())
    >>> len(fig.axes)
    2
    """
    fitted_result(result, "residual_plots")
    resid = np.asarray(result.resid, dtype=float)
    fitted = np.asarray(result.fittedvalues, dtype=float)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    left.scatter(fitted, resid, s=12, alpha=0.7)
    left.axhline(0, color="C3", lw=1, ls="--")
    left.set_xlabel("fitted value")
    left.set_ylabel(ylabel)
    left.set_title("residuals vs fitted")
    (theory, ordered), (slope, intercept, _) = stats.probplot(resid, dist="norm")
    right.scatter(theory, ordered, s=12, alpha=0.7)
    right.plot(theory, intercept + slope * theory, color="C3", lw=1)
    right.set_xlabel("normal quantile")
    right.set_ylabel(f"ordered {ylabel}")
    right.set_title("normal Q-Q plot")
    fig.tight_layout()
    return fig
