"""Simulate the book's designs from named parameters.

Every function here writes down the data-generating model in the words of the
mixed model that will later be fitted to it (in the style of DeBruine & Barr,
2021, *Understanding mixed-effects models through data simulation*): fixed
effects are named after what they shift (``beta0``, ``effect``,
``within_effects``...), random effects after the unit they belong to and
what they measure (``subj_sd``, ``item_sd``, ``slope_sd``, ``slope_corr``),
and ``error_sd`` is the residual standard deviation.

All functions take a ``seed`` (anything :func:`numpy.random.default_rng`
accepts: an int, ``None`` or a ``Generator``) and return a long-format
:class:`pandas.DataFrame`, one row per observation, whose factor columns hold
string labels (``"s01"``, ``"w1"``...) so that the same formula text means
the same model in patsy/statsmodels and in R's lme4.

Arguments are checked: a negative standard deviation, a correlation outside
[-1, 1] or a size below 1 raise ``ValueError`` naming the argument.
"""
from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "simulate_mixed_design",
    "simulate_two_within",
    "simulate_random_slopes",
    "simulate_crossed",
    "simulate_nested",
    "knock_out",
]


# --------------------------------------------------------------------------- checks
def _size(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _sd(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number >= 0 (a standard deviation), got {value!r}")
    if value < 0:
        raise ValueError(f"{name} is a standard deviation and cannot be negative, got {value}")
    return float(value)


def _corr(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"{name} must be a correlation between -1 and 1, got {value!r}")
    if not -1.0 <= value <= 1.0:
        raise ValueError(f"{name} is a correlation and must lie in [-1, 1], got {value}")
    return float(value)


def _number(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _level_effects(name: str, value, n_levels: int) -> np.ndarray:
    """A per-level shift: a sequence of ``n_levels`` numbers, or a scalar step.

    A scalar ``d`` means the levels are shifted by ``0, d, 2d, ...`` (a linear
    trend over the levels, first level as baseline); ``None`` means no effect.
    """
    if value is None:
        return np.zeros(n_levels)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return _number(name, value) * np.arange(n_levels)
    arr = np.asarray(value, dtype=float)
    if arr.shape != (n_levels,):
        raise ValueError(
            f"{name} must be a number (a step between successive levels) or a sequence of "
            f"{n_levels} per-level shifts, got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must hold finite numbers, got {value!r}")
    return arr


def _cell_effects(name: str, value, shape: tuple[int, int]) -> np.ndarray:
    if value is None:
        return np.zeros(shape)
    arr = np.asarray(value, dtype=float)
    if arr.shape != shape:
        raise ValueError(f"{name} must be an array of shape {shape}, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must hold finite numbers, got {value!r}")
    return arr


def _labels(prefix: str, n: int) -> list[str]:
    width = len(str(n))
    return [f"{prefix}{i + 1:0{width}d}" for i in range(n)]


def _cov2(sd_a: float, sd_b: float, corr: float) -> np.ndarray:
    return np.array([[sd_a**2, corr * sd_a * sd_b], [corr * sd_a * sd_b, sd_b**2]])


def _draw2(rng: np.random.Generator, n: int, sd_a: float, sd_b: float, corr: float) -> np.ndarray:
    """``n`` draws of a correlated pair (intercept, slope); works for singular covariances."""
    z = rng.standard_normal((n, 2))
    # Cholesky by hand so that sd = 0 or |corr| = 1 are fine.
    a = z[:, 0] * sd_a
    b = sd_b * (corr * z[:, 0] + np.sqrt(max(0.0, 1.0 - corr**2)) * z[:, 1])
    return np.column_stack([a, b])


# --------------------------------------------------------------------------- designs
def simulate_mixed_design(
    n_per_group: int = 20,
    n_within: int = 3,
    n_between: int = 2,
    *,
    grand_mean: float = 0.0,
    within_effects=None,
    between_effects=None,
    interaction=None,
    subj_sd: float = 1.0,
    error_sd: float = 1.0,
    n_reps: int = 1,
    seed=None,
) -> pd.DataFrame:
    """Simulate a mixed (split-plot) design: one within and one between factor.

    The model is ``y = grand_mean + within_effects[w] + between_effects[b]
    + interaction[b, w] + u_subject + e`` with ``u_subject ~ N(0, subj_sd²)``
    and ``e ~ N(0, error_sd²)``: a random-intercept model, which is the model
    behind the (sphericity-assuming) mixed ANOVA.

    Parameters
    ----------
    n_per_group : int
        Subjects in each level of the between factor.
    n_within : int
        Levels of the within factor (labels ``"w1"``, ``"w2"``...).
    n_between : int
        Levels of the between factor (labels ``"b1"``, ``"b2"``...).
    grand_mean : float
        Mean of the first cell (``w1``, ``b1``) before the effects are added.
    within_effects, between_effects : float or sequence of float, optional
        Shift of each level of the factor. A sequence gives one shift per
        level; a number ``d`` gives the shifts ``0, d, 2d, ...`` (a linear
        trend with the first level as baseline). ``None``: no effect.
    interaction : array of shape (n_between, n_within), optional
        Extra shift of each between × within cell. ``None``: no interaction.
    subj_sd : float
        Standard deviation of the subjects' random intercepts.
    error_sd : float
        Residual standard deviation.
    n_reps : int
        Observations per subject and within level (1 for a classic design).
    seed : int, Generator or None
        Passed to :func:`numpy.random.default_rng`.

    Returns
    -------
    pandas.DataFrame
        Columns ``subject`` (``"s01"``...), ``within``, ``between`` (string
        labels) and ``y``; ``n_between * n_per_group * n_within * n_reps`` rows.

    Raises
    ------
    ValueError
        A size below 1, a negative SD, or effects of the wrong length.

    Examples
    --------
    >>> from helpers.studies.simulate import simulate_mixed_design
    >>> df = simulate_mixed_design(n_per_group=4, n_within=3, n_between=2,
    ...                            within_effects=[0, 0.5, 1], seed=1)
    >>> df.shape
    (24, 4)
    >>> sorted(df["within"].unique())
    ['w1', 'w2', 'w3']
    """
    n_per_group = _size("n_per_group", n_per_group)
    n_within = _size("n_within", n_within)
    n_between = _size("n_between", n_between)
    n_reps = _size("n_reps", n_reps)
    grand_mean = _number("grand_mean", grand_mean)
    subj_sd = _sd("subj_sd", subj_sd)
    error_sd = _sd("error_sd", error_sd)
    w_eff = _level_effects("within_effects", within_effects, n_within)
    b_eff = _level_effects("between_effects", between_effects, n_between)
    inter = _cell_effects("interaction", interaction, (n_between, n_within))
    rng = np.random.default_rng(seed)

    n_subj = n_per_group * n_between
    subjects = _labels("s", n_subj)
    w_labels = [f"w{j + 1}" for j in range(n_within)]
    b_labels = [f"b{k + 1}" for k in range(n_between)]
    u = rng.normal(0.0, subj_sd, n_subj) if subj_sd > 0 else np.zeros(n_subj)

    s_idx, w_idx, _ = np.meshgrid(np.arange(n_subj), np.arange(n_within), np.arange(n_reps), indexing="ij")
    s_idx, w_idx = s_idx.ravel(), w_idx.ravel()
    b_idx = s_idx // n_per_group
    mu = grand_mean + w_eff[w_idx] + b_eff[b_idx] + inter[b_idx, w_idx] + u[s_idx]
    y = mu + (rng.normal(0.0, error_sd, mu.size) if error_sd > 0 else 0.0)
    return pd.DataFrame(
        {
            "subject": np.asarray(subjects, dtype=object)[s_idx],
            "within": np.asarray(w_labels, dtype=object)[w_idx],
            "between": np.asarray(b_labels, dtype=object)[b_idx],
            "y": y,
        }
    )


def simulate_two_within(
    n_subj: int = 24,
    n_a: int = 2,
    n_b: int = 2,
    *,
    grand_mean: float = 0.0,
    a_effects=None,
    b_effects=None,
    interaction=None,
    subj_sd: float = 1.0,
    subj_a_sd: float = 0.0,
    subj_b_sd: float = 0.0,
    error_sd: float = 1.0,
    n_reps: int = 1,
    seed=None,
) -> pd.DataFrame:
    """Simulate a design with two within-subject factors ``A`` and ``B``.

    The model is ``y = grand_mean + a_effects[a] + b_effects[b]
    + interaction[a, b] + u_subject + v_subject:a + w_subject:b + e``: the
    subject intercepts ``u ~ N(0, subj_sd²)``, plus (optionally) a random
    deviation for each subject × level of A (``v ~ N(0, subj_a_sd²)``) and of
    B (``w ~ N(0, subj_b_sd²)``). With ``subj_a_sd = subj_b_sd = 0`` this is
    the random-intercept model; with them positive it is the model whose
    error strata a two-way repeated-measures ANOVA uses
    (``(1|subject) + (1|subject:A) + (1|subject:B)`` in lme4 syntax).

    Parameters
    ----------
    n_subj : int
        Number of subjects; every subject sees every A × B cell.
    n_a, n_b : int
        Levels of A (``"a1"``...) and of B (``"b1"``...).
    grand_mean : float
        Mean of cell ``a1``, ``b1`` before the effects are added.
    a_effects, b_effects : float or sequence of float, optional
        Shift of each level (a sequence), or a step ``d`` giving ``0, d, 2d...``.
    interaction : array of shape (n_a, n_b), optional
        Extra shift of each A × B cell.
    subj_sd : float
        SD of the subjects' random intercepts.
    subj_a_sd, subj_b_sd : float
        SD of the subject × A and subject × B random deviations.
    error_sd : float
        Residual SD.
    n_reps : int
        Observations per subject and cell.
    seed : int, Generator or None
        Passed to :func:`numpy.random.default_rng`.

    Returns
    -------
    pandas.DataFrame
        Columns ``subject``, ``A``, ``B`` (string labels) and ``y``.

    Examples
    --------
    >>> from helpers.studies.simulate import simulate_two_within
    >>> df = simulate_two_within(n_subj=6, n_a=3, n_b=2, a_effects=0.5, seed=2)
    >>> df.shape
    (36, 4)
    >>> df.groupby("subject").size().unique().tolist()
    [6]
    """
    n_subj = _size("n_subj", n_subj)
    n_a = _size("n_a", n_a)
    n_b = _size("n_b", n_b)
    n_reps = _size("n_reps", n_reps)
    grand_mean = _number("grand_mean", grand_mean)
    subj_sd = _sd("subj_sd", subj_sd)
    subj_a_sd = _sd("subj_a_sd", subj_a_sd)
    subj_b_sd = _sd("subj_b_sd", subj_b_sd)
    error_sd = _sd("error_sd", error_sd)
    a_eff = _level_effects("a_effects", a_effects, n_a)
    b_eff = _level_effects("b_effects", b_effects, n_b)
    inter = _cell_effects("interaction", interaction, (n_a, n_b))
    rng = np.random.default_rng(seed)

    u = rng.normal(0.0, 1.0, n_subj) * subj_sd
    v = rng.normal(0.0, 1.0, (n_subj, n_a)) * subj_a_sd
    w = rng.normal(0.0, 1.0, (n_subj, n_b)) * subj_b_sd
    s_idx, a_idx, b_idx, _ = np.meshgrid(
        np.arange(n_subj), np.arange(n_a), np.arange(n_b), np.arange(n_reps), indexing="ij"
    )
    s_idx, a_idx, b_idx = s_idx.ravel(), a_idx.ravel(), b_idx.ravel()
    mu = grand_mean + a_eff[a_idx] + b_eff[b_idx] + inter[a_idx, b_idx] + u[s_idx] + v[s_idx, a_idx] + w[s_idx, b_idx]
    y = mu + rng.normal(0.0, 1.0, mu.size) * error_sd
    return pd.DataFrame(
        {
            "subject": np.asarray(_labels("s", n_subj), dtype=object)[s_idx],
            "A": np.asarray([f"a{i + 1}" for i in range(n_a)], dtype=object)[a_idx],
            "B": np.asarray([f"b{i + 1}" for i in range(n_b)], dtype=object)[b_idx],
            "y": y,
        }
    )


def simulate_random_slopes(
    n_subj: int = 18,
    n_obs: int = 10,
    beta0: float = 250.0,
    beta1: float = 10.0,
    subj_sd: float = 25.0,
    slope_sd: float = 6.0,
    slope_corr: float = 0.0,
    error_sd: float = 25.0,
    *,
    x_values: Sequence[float] | None = None,
    seed=None,
) -> pd.DataFrame:
    """Simulate a sleepstudy-like design: a numeric predictor measured within subjects.

    The model is ``y = (beta0 + u0_subject) + (beta1 + u1_subject) * x + e``
    with ``(u0, u1)`` bivariate normal (SDs ``subj_sd`` and ``slope_sd``,
    correlation ``slope_corr``) and ``e ~ N(0, error_sd²)``; in lme4 syntax
    ``y ~ x + (1 + x | subject)``. The defaults are close to the estimates
    for lme4's ``sleepstudy`` (reaction time in ms over days of sleep
    deprivation).

    Parameters
    ----------
    n_subj : int
        Number of subjects.
    n_obs : int
        Observations per subject, at ``x = 0, 1, ..., n_obs - 1`` unless
        ``x_values`` is given.
    beta0, beta1 : float
        Fixed intercept and slope.
    subj_sd : float
        SD of the subjects' random intercepts.
    slope_sd : float
        SD of the subjects' random slopes.
    slope_corr : float
        Correlation between random intercepts and random slopes, in [-1, 1].
    error_sd : float
        Residual SD.
    x_values : sequence of float, optional
        The ``n_obs`` values of ``x`` each subject is measured at.
    seed : int, Generator or None
        Passed to :func:`numpy.random.default_rng`.

    Returns
    -------
    pandas.DataFrame
        Columns ``subject`` (string labels), ``x`` (float) and ``y``.

    Examples
    --------
    >>> from helpers.studies.simulate import simulate_random_slopes
    >>> df = simulate_random_slopes(n_subj=5, n_obs=4, slope_corr=0.3, seed=3)
    >>> df.shape
    (20, 3)
    >>> df["x"].unique().tolist()
    [0.0, 1.0, 2.0, 3.0]
    """
    n_subj = _size("n_subj", n_subj)
    n_obs = _size("n_obs", n_obs)
    beta0 = _number("beta0", beta0)
    beta1 = _number("beta1", beta1)
    subj_sd = _sd("subj_sd", subj_sd)
    slope_sd = _sd("slope_sd", slope_sd)
    slope_corr = _corr("slope_corr", slope_corr)
    error_sd = _sd("error_sd", error_sd)
    if x_values is None:
        x = np.arange(n_obs, dtype=float)
    else:
        x = np.asarray(x_values, dtype=float)
        if x.shape != (n_obs,) or not np.all(np.isfinite(x)):
            raise ValueError(f"x_values must hold n_obs = {n_obs} finite numbers, got {x_values!r}")
    rng = np.random.default_rng(seed)

    re = _draw2(rng, n_subj, subj_sd, slope_sd, slope_corr)
    s_idx = np.repeat(np.arange(n_subj), n_obs)
    xx = np.tile(x, n_subj)
    y = (beta0 + re[s_idx, 0]) + (beta1 + re[s_idx, 1]) * xx + rng.normal(0.0, 1.0, xx.size) * error_sd
    return pd.DataFrame(
        {"subject": np.asarray(_labels("s", n_subj), dtype=object)[s_idx], "x": xx, "y": y}
    )


def simulate_crossed(
    n_subj: int = 40,
    n_item: int = 20,
    beta0: float = 800.0,
    effect: float = 50.0,
    subj_sd: float = 100.0,
    item_sd: float = 80.0,
    error_sd: float = 200.0,
    *,
    subj_slope_sd: float = 0.0,
    subj_slope_corr: float = 0.0,
    conditions: tuple[str, str] = ("easy", "hard"),
    seed=None,
) -> pd.DataFrame:
    """Simulate participants × items with a condition (DeBruine & Barr, 2021).

    Every participant responds to every item once; the condition is
    **within subjects and between items** (the first half of the items are
    in ``conditions[0]``, the second half in ``conditions[1]``). The model is
    ``y = beta0 + u0_subject + item_intercept + (effect + u1_subject) * X + e``
    with ``X = -0.5 / +0.5`` for the two conditions (deviation coding, so
    ``beta0`` is the grand mean and ``effect`` is ``hard - easy``),
    ``item_intercept ~ N(0, item_sd²)``, ``(u0, u1)`` bivariate normal with
    SDs ``subj_sd``, ``subj_slope_sd`` and correlation ``subj_slope_corr``,
    and ``e ~ N(0, error_sd²)``. In lme4 syntax:
    ``y ~ cond + (1 + cond | subject) + (1 | item)`` (or
    ``(1 | subject)`` when ``subj_slope_sd = 0``, the default).

    Parameters
    ----------
    n_subj : int
        Number of participants.
    n_item : int
        Number of items; must be even (half per condition).
    beta0 : float
        Grand mean.
    effect : float
        Mean difference ``conditions[1] - conditions[0]``.
    subj_sd : float
        SD of the participants' random intercepts.
    item_sd : float
        SD of the items' random intercepts.
    error_sd : float
        Residual SD.
    subj_slope_sd : float
        SD of the participants' random condition effects.
    subj_slope_corr : float
        Correlation between participants' intercepts and condition effects.
    conditions : pair of str
        Labels of the two conditions.
    seed : int, Generator or None
        Passed to :func:`numpy.random.default_rng`.

    Returns
    -------
    pandas.DataFrame
        Columns ``subject``, ``item``, ``cond`` (string labels) and ``y``;
        ``n_subj * n_item`` rows.

    Examples
    --------
    >>> from helpers.studies.simulate import simulate_crossed
    >>> df = simulate_crossed(n_subj=4, n_item=6, seed=4)
    >>> df.shape
    (24, 4)
    >>> int(df.groupby("item")["cond"].nunique().max())   # items are between
    1
    >>> int(df.groupby("subject")["cond"].nunique().min())  # subjects are within
    2
    """
    n_subj = _size("n_subj", n_subj)
    n_item = _size("n_item", n_item, minimum=2)
    if n_item % 2:
        raise ValueError(f"n_item must be even (half the items in each condition), got {n_item}")
    beta0 = _number("beta0", beta0)
    effect = _number("effect", effect)
    subj_sd = _sd("subj_sd", subj_sd)
    item_sd = _sd("item_sd", item_sd)
    error_sd = _sd("error_sd", error_sd)
    subj_slope_sd = _sd("subj_slope_sd", subj_slope_sd)
    subj_slope_corr = _corr("subj_slope_corr", subj_slope_corr)
    if len(conditions) != 2 or len(set(conditions)) != 2:
        raise ValueError(f"conditions must be two distinct labels, got {conditions!r}")
    rng = np.random.default_rng(seed)

    subj_re = _draw2(rng, n_subj, subj_sd, subj_slope_sd, subj_slope_corr)
    item_re = rng.normal(0.0, 1.0, n_item) * item_sd
    item_cond = (np.arange(n_item) >= n_item // 2).astype(int)
    s_idx = np.repeat(np.arange(n_subj), n_item)
    i_idx = np.tile(np.arange(n_item), n_subj)
    x = item_cond[i_idx] - 0.5
    y = (
        beta0
        + subj_re[s_idx, 0]
        + item_re[i_idx]
        + (effect + subj_re[s_idx, 1]) * x
        + rng.normal(0.0, 1.0, s_idx.size) * error_sd
    )
    return pd.DataFrame(
        {
            "subject": np.asarray(_labels("s", n_subj), dtype=object)[s_idx],
            "item": np.asarray(_labels("i", n_item), dtype=object)[i_idx],
            "cond": np.asarray(list(conditions), dtype=object)[item_cond[i_idx]],
            "y": y,
        }
    )


def simulate_nested(
    n_school: int = 20,
    n_class_per_school: int = 3,
    n_pupil: int = 10,
    school_sd: float = 1.0,
    class_sd: float = 0.5,
    error_sd: float = 1.0,
    *,
    grand_mean: float = 0.0,
    sector_effect: float = 0.0,
    seed=None,
) -> pd.DataFrame:
    """Simulate pupils in classes in schools (three-level nesting).

    The model is ``y = grand_mean + sector_effect * [sector == "private"]
    + u_school + v_class + e`` with ``u ~ N(0, school_sd²)``,
    ``v ~ N(0, class_sd²)`` and ``e ~ N(0, error_sd²)``. The second half of
    the schools are ``"private"``, the first half ``"public"`` (a
    school-level predictor).

    Class labels **repeat** across schools (``"c1"``, ``"c2"``... in every
    school), as in most real files: class ``"c1"`` of one school has nothing
    to do with class ``"c1"`` of another, so the nesting must come from the
    formula, ``(1 | school/class)``, not from the labels. ``(1|class)``
    alone would wrongly pool the classes that share a label.

    Parameters
    ----------
    n_school : int
        Number of schools.
    n_class_per_school : int
        Classes in each school.
    n_pupil : int
        Pupils in each class.
    school_sd, class_sd : float
        SDs of the school and of the class (within school) random intercepts.
    error_sd : float
        Residual (pupil) SD.
    grand_mean : float
        Mean of the public schools.
    sector_effect : float
        Mean difference private - public.
    seed : int, Generator or None
        Passed to :func:`numpy.random.default_rng`.

    Returns
    -------
    pandas.DataFrame
        Columns ``school``, ``sector``, ``class``, ``pupil`` (string labels)
        and ``y``.

    Examples
    --------
    >>> from helpers.studies.simulate import simulate_nested
    >>> df = simulate_nested(n_school=4, n_class_per_school=3, n_pupil=5, seed=5)
    >>> df.shape
    (60, 5)
    >>> sorted(df["class"].unique())   # the same labels in every school
    ['c1', 'c2', 'c3']
    """
    n_school = _size("n_school", n_school)
    n_class = _size("n_class_per_school", n_class_per_school)
    n_pupil = _size("n_pupil", n_pupil)
    school_sd = _sd("school_sd", school_sd)
    class_sd = _sd("class_sd", class_sd)
    error_sd = _sd("error_sd", error_sd)
    grand_mean = _number("grand_mean", grand_mean)
    sector_effect = _number("sector_effect", sector_effect)
    rng = np.random.default_rng(seed)

    u = rng.normal(0.0, 1.0, n_school) * school_sd
    v = rng.normal(0.0, 1.0, (n_school, n_class)) * class_sd
    sch, cls, pup = (a.ravel() for a in np.meshgrid(
        np.arange(n_school), np.arange(n_class), np.arange(n_pupil), indexing="ij"
    ))
    private = (sch >= n_school // 2).astype(int) if n_school > 1 else np.zeros_like(sch)
    y = grand_mean + sector_effect * private + u[sch] + v[sch, cls] + rng.normal(0.0, 1.0, sch.size) * error_sd
    return pd.DataFrame(
        {
            "school": np.asarray(_labels("sch", n_school), dtype=object)[sch],
            "sector": np.asarray(["public", "private"], dtype=object)[private],
            "class": np.asarray([f"c{j + 1}" for j in range(n_class)], dtype=object)[cls],
            "pupil": np.asarray(_labels("p", n_pupil), dtype=object)[pup],
            "y": y,
        }
    )


def knock_out(
    df: pd.DataFrame,
    prop: float = 0.1,
    *,
    column: str | None = None,
    seed=None,
) -> pd.DataFrame:
    """Make data unbalanced: remove a random share of the observations (missing completely at random).

    Parameters
    ----------
    df : pandas.DataFrame
        Long-format data, one row per observation.
    prop : float
        Share of rows to knock out, in [0, 1); ``round(prop * len(df))``
        rows are chosen uniformly at random without replacement.
    column : str, optional
        If given, the chosen rows are kept but ``column`` (usually the
        response) is set to missing (NaN), as in a data file with gaps. If
        ``None``, the chosen rows are dropped.
    seed : int, Generator or None
        Passed to :func:`numpy.random.default_rng`.

    Returns
    -------
    pandas.DataFrame
        A copy; the index is reset when rows are dropped.

    Examples
    --------
    >>> from helpers.studies.simulate import simulate_mixed_design, knock_out
    >>> df = simulate_mixed_design(n_per_group=5, seed=1)
    >>> len(knock_out(df, 0.1, seed=2))
    27
    >>> int(knock_out(df, 0.1, column="y", seed=2)["y"].isna().sum())
    3
    """
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    if isinstance(prop, bool) or not isinstance(prop, numbers.Real) or not 0.0 <= prop < 1.0:
        raise ValueError(f"prop must be a share in [0, 1), got {prop!r}")
    if column is not None and column not in df.columns:
        raise ValueError(f"column {column!r} is not in df; its columns are {list(df.columns)}")
    rng = np.random.default_rng(seed)
    n_out = int(round(prop * len(df)))
    chosen = np.sort(rng.choice(len(df), size=n_out, replace=False))
    out = df.copy()
    if column is None:
        return out.drop(index=out.index[chosen]).reset_index(drop=True)
    out.loc[out.index[chosen], column] = np.nan
    return out
