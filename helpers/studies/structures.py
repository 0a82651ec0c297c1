"""Chapter 9's study code: pupils in classes in schools, with slopes, and its figure.

* :func:`simulate_nested_slopes`, pupils in classes in schools with a
  pupil-level covariate whose effect varies from school to school, the data
  for ``re_formula`` and ``vc_formula`` used together;
* :func:`nested_plot`, every observation by inner unit within outer unit
  (pupils by class within school), with the unit means.

The lme4-to-statsmodels translation lives in :mod:`helpers.core.translate`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..core._checks import require_columns, require_no_missing
from .simulate import _corr, _draw2, _number, _sd, simulate_nested

__all__ = ["simulate_nested_slopes", "nested_plot"]


# --------------------------------------------------------------------------- simulation
def simulate_nested_slopes(
    n_school: int = 20,
    n_class_per_school: int = 3,
    n_pupil: int = 10,
    school_sd: float = 1.0,
    slope_sd: float = 0.3,
    class_sd: float = 0.5,
    error_sd: float = 1.0,
    *,
    slope_corr: float = 0.0,
    grand_mean: float = 0.0,
    slope: float = 0.5,
    sector_effect: float = 0.0,
    seed=None,
) -> pd.DataFrame:
    """Simulate pupils in classes in schools, with a covariate whose effect varies by school.

    The model, in lme4 syntax ``y ~ sector + x + (1 + x | school) + (1 | school:class)``, is
    ``y = grand_mean + sector_effect * [sector == "private"] + (slope + u1_school) * x
    + u0_school + v_class + e``, where ``x`` is a pupil-level covariate drawn from a
    standard normal distribution (think of a standardised prior-attainment score),
    ``(u0, u1)`` are bivariate normal with SDs ``school_sd`` and ``slope_sd`` and
    correlation ``slope_corr``, ``v ~ N(0, class_sd²)`` and ``e ~ N(0, error_sd²)``.

    The schools, classes and sectors are those of :func:`helpers.simulate_nested`
    (class labels ``"c1"``, ``"c2"``... repeat in every school; the second half of the
    schools are ``"private"``), which this function calls with the same random generator.

    Parameters
    ----------
    n_school, n_class_per_school, n_pupil : int
        Schools, classes per school, pupils per class.
    school_sd : float
        SD of the schools' random intercepts (the school effect at ``x = 0``).
    slope_sd : float
        SD of the schools' deviations from the average slope of ``x``.
    class_sd : float
        SD of the class (within school) random intercepts.
    error_sd : float
        Residual (pupil) SD.
    slope_corr : float
        Correlation between a school's intercept and its slope, in [-1, 1].
    grand_mean : float
        Mean of the public schools at ``x = 0``.
    slope : float
        Average effect of one unit of ``x`` on ``y``.
    sector_effect : float
        Mean difference private - public.
    seed : int, Generator or None
        Passed to :func:`numpy.random.default_rng`.

    Returns
    -------
    pandas.DataFrame
        Columns ``school``, ``sector``, ``class``, ``pupil`` (string labels), ``x`` and
        ``y``; ``n_school * n_class_per_school * n_pupil`` rows.

    Raises
    ------
    ValueError
        A size below 1, a negative SD, a correlation outside [-1, 1], a non-finite number.

    Examples
    --------
    >>> from helpers.studies.structures import simulate_nested_slopes
    >>> df = simulate_nested_slopes(n_school=4, n_class_per_school=2, n_pupil=5, seed=1)
    >>> df.shape
    (40, 6)
    >>> list(df.columns)
    ['school', 'sector', 'class', 'pupil', 'x', 'y']
    >>> sorted(df["class"].unique())   # class labels repeat in every school
    ['c1', 'c2']
    """
    school_sd = _sd("school_sd", school_sd)
    slope_sd = _sd("slope_sd", slope_sd)
    slope_corr = _corr("slope_corr", slope_corr)
    slope = _number("slope", slope)
    rng = np.random.default_rng(seed)
    # simulate_nested checks the sizes, class_sd, error_sd, grand_mean and sector_effect;
    # its school intercepts are switched off and drawn below together with the slopes.
    df = simulate_nested(
        n_school=n_school, n_class_per_school=n_class_per_school, n_pupil=n_pupil,
        school_sd=0.0, class_sd=class_sd, error_sd=error_sd,
        grand_mean=grand_mean, sector_effect=sector_effect, seed=rng,
    )
    school = pd.factorize(df["school"])[0]
    u = _draw2(rng, int(school.max()) + 1, school_sd, slope_sd, slope_corr)
    x = rng.standard_normal(len(df))
    y = df["y"].to_numpy() + u[school, 0] + (slope + u[school, 1]) * x
    return df.drop(columns="y").assign(x=x, y=y)


# --------------------------------------------------------------------------- figure
def nested_plot(df: pd.DataFrame, outer: str, inner: str, y: str, *, hue: str | None = None,
                ylabel: str | None = None, xlabel: str | None = None, ax=None):
    """Plot every observation by inner unit within outer unit (pupils by class within school).

    Each outer unit (school) takes one slot on the x axis; its inner units (classes) sit
    side by side inside the slot, in the order of their labels. Dots are the observations,
    short black bars the inner units' means, a long grey bar each outer unit's mean. The
    inner units are told apart by position only, never by colour, because the same label
    in two outer units (class ``"c1"`` of two schools) is two different units.

    Parameters
    ----------
    df : pandas.DataFrame
        Long-format data, one row per observation.
    outer, inner, y : str
        Columns: the outer grouping factor, the inner one (nested in ``outer``; its
        labels may repeat across outer units) and the response.
    hue : str, optional
        A column constant within each outer unit (such as a school-level predictor):
        the outer units are sorted by it and their dots coloured by it.
    ylabel, xlabel : str, optional
        Axis labels; default to the column names. Give the units of ``y`` here.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure by default.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    KeyError
        A column is not in ``df``.
    ValueError
        Missing values in ``outer``, ``inner`` or ``hue``, or ``hue`` varying within
        an outer unit.

    Examples
    --------
    >>> import helpers
    >>> from helpers.studies.structures import nested_plot
    >>> df = helpers.simulate_nested(n_school=4, n_class_per_school=3, n_pupil=5, seed=2)
    >>> ax = nested_plot(df, "school", "class", "y", hue="sector")
    >>> len(ax.get_xticks())          # one slot per school
    4
    """
    import matplotlib.pyplot as plt

    cols = [outer, inner, y] + ([hue] if hue else [])
    require_columns(df, cols, "df")
    require_no_missing(df, [outer, inner] + ([hue] if hue else []), "df")
    if hue:
        per_outer = df.groupby(outer, observed=True)[hue].nunique()
        if (per_outer > 1).any():
            culprit = per_outer.index[per_outer > 1][0]
            raise ValueError(
                f"hue {hue!r} must be constant within each {outer!r}, but {culprit!r} has "
                f"several values; colour by a column that describes the {outer!r} units"
            )
        hue_of = df.groupby(outer, observed=True)[hue].first()
        order = sorted(hue_of.index, key=lambda g: (str(hue_of[g]), str(g)))
        hue_levels = sorted(hue_of.unique(), key=str)
        colour = {lv: f"C{i}" for i, lv in enumerate(hue_levels)}
    else:
        order = sorted(df[outer].unique(), key=str)
    if ax is None:
        _, ax = plt.subplots(figsize=(min(10.0, 1.6 + 0.55 * len(order)), 4.0))
    rng = np.random.default_rng(0)  # a fixed jitter: the figure is the same at every run
    labelled = set()
    for k, unit in enumerate(order):
        part = df[df[outer] == unit]
        inners = sorted(part[inner].unique(), key=str)
        width = 0.8 / len(inners)
        dot_colour = colour[hue_of[unit]] if hue else "C0"
        for j, lab in enumerate(inners):
            vals = part.loc[part[inner] == lab, y].to_numpy(dtype=float)
            centre = k - 0.4 + width * (j + 0.5)
            jitter = rng.uniform(-0.25, 0.25, len(vals)) * width
            label = None
            if hue and hue_of[unit] not in labelled:
                label = f"{hue} = {hue_of[unit]}"
                labelled.add(hue_of[unit])
            ax.scatter(centre + jitter, vals, s=9, color=dot_colour, alpha=0.6, label=label)
            ax.hlines(np.nanmean(vals), centre - 0.4 * width, centre + 0.4 * width,
                      color="black", lw=2, zorder=3)
        ax.hlines(part[y].mean(), k - 0.45, k + 0.45, color="0.5", lw=1.2, ls="--", zorder=2)
        if k:
            ax.axvline(k - 0.5, color="0.9", lw=0.8, zorder=0)
    ax.set_xticks(range(len(order)), [str(u) for u in order],
                  rotation=90 if len(order) > 12 else 0)
    ax.set_xlim(-0.6, len(order) - 0.4)
    ax.set_xlabel(xlabel or f"{outer} (the levels of {inner} side by side within each)")
    ax.set_ylabel(ylabel or y)
    if hue:
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=len(hue_levels),
                  frameon=False, fontsize="small", borderaxespad=0.2)
    ax.figure.tight_layout()
    return ax
