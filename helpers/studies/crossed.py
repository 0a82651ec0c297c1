"""Participants × items: the classic by-participant and by-item tests, and the crossed model.

In a design where every participant responds to every item and the
condition varies *between items* (each item belongs to one condition), the
items are a sample too: a different set of items would give different means.
Psycholinguists long tested such data by averaging (Clark, 1973):

* **F1**, by participant: average each participant's responses over the items
  of each condition, then compare the conditions with a paired *t* test
  across participants. It treats the items as fixed and ignores how much
  they vary.
* **F2**, by item: average each item's responses over participants, then
  compare the conditions with a two-sample *t* test across items. It treats
  the participants as fixed.
* **min F'** (Clark, 1973) combines the two into a conservative test that
  generalises over both.

A linear mixed model with crossed random effects for participants and items,
``y ~ cond + (1|subject) + (1|item)``, does the same job in one model
(Baayen, Davidson & Bates, 2008). This module runs the four tests on a data
set and repeats them on many simulated data sets
(:func:`simulate_false_positives`) to estimate how often each rejects a true
null hypothesis, with Monte Carlo standard errors (:func:`rejection_rates`,
:func:`rejection_rate_plot`).

Every test returns a :class:`pandas.Series` with the same fields:
``estimate`` (mean of ``conditions[1]`` minus ``conditions[0]``), ``F``,
``df1`` (always 1), ``df2`` (denominator degrees of freedom) and ``p``.
"""
from __future__ import annotations

import contextlib
import numbers
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from ..core._checks import require_columns, require_no_missing

__all__ = [
    "fit_crossed",
    "crossed_recovery",
    "by_subject_test",
    "by_item_test",
    "min_f_prime",
    "crossed_lmm_test",
    "simulate_false_positives",
    "rejection_rates",
    "rejection_rate_plot",
]

METHODS = ("F1", "F2", "min_F", "LMM")
METHOD_LABELS = {
    "F1": "by participant (F1)",
    "F2": "by item (F2)",
    "min_F": "min F'",
    "LMM": "crossed LMM",
}


# --------------------------------------------------------------------------- speed
def _one_blas_thread():
    """Limit BLAS to one thread while fitting many small models.

    A crossed model is fitted with dense n x n matrices of a few hundred rows;
    threads do not speed such small products up, and on a busy machine a
    multi-threaded BLAS can make each fit ten times slower. Uses threadpoolctl
    when it is installed, else does nothing.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl ships with the book's requirements
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


# --------------------------------------------------------------------------- checks
def _check_data(data, columns, what):
    require_columns(data, columns, what)
    require_no_missing(data, columns, what)


def _two_conditions(data: pd.DataFrame, condition: str, conditions):
    """The two condition labels, in the order (reference, comparison)."""
    present = sorted(pd.unique(data[condition]), key=str)
    if conditions is None:
        if len(present) != 2:
            raise ValueError(
                f"column {condition!r} must have exactly two levels for these tests, "
                f"found {len(present)}: {present[:6]}. Select two conditions first."
            )
        return present[0], present[1]
    if len(conditions) != 2 or conditions[0] == conditions[1]:
        raise ValueError(f"conditions must be two distinct labels, got {conditions!r}")
    absent = [c for c in conditions if c not in set(present)]
    if absent or len(present) != 2:
        raise ValueError(
            f"column {condition!r} has the levels {present}; conditions={conditions!r} "
            "must name exactly those two."
        )
    return conditions[0], conditions[1]


def _result(estimate, fval, df2, p):
    return pd.Series({"estimate": float(estimate), "F": float(fval), "df1": 1.0,
                      "df2": float(df2), "p": float(p)})


# --------------------------------------------------------------------------- tests
def by_subject_test(data, dv="y", subject="subject", condition="cond", conditions=None):
    """F1: average over items within each participant and condition, then a paired *t* test.

    Parameters
    ----------
    data : pandas.DataFrame
        Long format, one row per response.
    dv, subject, condition : str
        Columns holding the response, the participant and the condition.
    conditions : pair of labels, optional
        ``(reference, comparison)``; the estimate is comparison - reference.
        By default the two levels of ``condition`` in sorted order.

    Returns
    -------
    pandas.Series
        ``estimate`` (mean of the participants' differences), ``F`` (the
        squared *t*), ``df1`` (1), ``df2`` (participants - 1) and ``p``
        (two-sided).

    Raises
    ------
    KeyError
        A column is missing.
    ValueError
        Missing values, a condition without exactly two levels, a participant
        who is not in both conditions, or fewer than two participants.

    Examples
    --------
    >>> from helpers.studies.simulate import simulate_crossed
    >>> from helpers.studies.crossed import by_subject_test
    >>> df = simulate_crossed(n_subj=10, n_item=8, effect=0.0, seed=1)
    >>> res = by_subject_test(df)
    >>> int(res["df2"])
    9
    >>> bool(0 <= res["p"] <= 1)
    True
    """
    _check_data(data, [dv, subject, condition], "data")
    ref, comp = _two_conditions(data, condition, conditions)
    means = data.groupby([subject, condition], observed=True)[dv].mean().unstack(condition)
    incomplete = means.index[means[[ref, comp]].isna().any(axis=1)].tolist()
    if incomplete:
        raise ValueError(
            f"participant(s) {incomplete[:5]} do not have responses in both conditions; "
            "a paired by-participant test needs every participant in both "
            "(is the condition between participants?)."
        )
    diff = (means[comp] - means[ref]).to_numpy(dtype=float)
    if diff.size < 2:
        raise ValueError(f"need at least two participants in column {subject!r}, got {diff.size}")
    return _paired(diff)


def _paired(diff: np.ndarray) -> pd.Series:
    n = diff.size
    mean = diff.mean()
    se = diff.std(ddof=1) / np.sqrt(n)
    t = mean / se if se > 0 else (0.0 if mean == 0 else np.inf * np.sign(mean))
    return _result(mean, t**2, n - 1, 2 * stats.t.sf(abs(t), n - 1))


def by_item_test(data, dv="y", item="item", condition="cond", conditions=None):
    """F2: average over participants within each item, then a two-sample *t* test across items.

    For a condition that varies between items (each item in one condition),
    as in :func:`helpers.simulate_crossed`. The *t* test pools the two
    groups' variances, so ``F = t²`` is the one-way ANOVA of the item means.

    Parameters
    ----------
    data : pandas.DataFrame
        Long format, one row per response.
    dv, item, condition : str
        Columns holding the response, the item and the condition.
    conditions : pair of labels, optional
        ``(reference, comparison)``; the estimate is comparison - reference.

    Returns
    -------
    pandas.Series
        ``estimate``, ``F``, ``df1`` (1), ``df2`` (items - 2) and ``p``.

    Raises
    ------
    KeyError
        A column is missing.
    ValueError
        Missing values, a condition without exactly two levels, an item that
        appears in both conditions (then the condition is within items: use a
        paired test on the items), or fewer than two items in a condition.

    Examples
    --------
    >>> from helpers.studies.simulate import simulate_crossed
    >>> from helpers.studies.crossed import by_item_test
    >>> df = simulate_crossed(n_subj=10, n_item=8, effect=0.0, seed=1)
    >>> int(by_item_test(df)["df2"])
    6
    """
    _check_data(data, [dv, item, condition], "data")
    ref, comp = _two_conditions(data, condition, conditions)
    n_cond = data.groupby(item, observed=True)[condition].nunique()
    both = n_cond.index[n_cond > 1].tolist()
    if both:
        raise ValueError(
            f"item(s) {both[:5]} appear in both conditions of {condition!r}; the by-item "
            "test here is for a condition that varies between items. For a within-item "
            "condition, average by item and condition and use a paired test."
        )
    means = data.groupby([item, condition], observed=True)[dv].mean().reset_index()
    a = means.loc[means[condition] == ref, dv].to_numpy(dtype=float)
    b = means.loc[means[condition] == comp, dv].to_numpy(dtype=float)
    if a.size < 2 or b.size < 2:
        raise ValueError(
            f"each condition needs at least two items, got {a.size} ({ref!r}) and {b.size} ({comp!r})"
        )
    return _two_sample(a, b)


def _two_sample(a: np.ndarray, b: np.ndarray) -> pd.Series:
    na, nb = a.size, b.size
    df2 = na + nb - 2
    pooled = (((a - a.mean()) ** 2).sum() + ((b - b.mean()) ** 2).sum()) / df2
    diff = b.mean() - a.mean()
    se = np.sqrt(pooled * (1 / na + 1 / nb))
    t = diff / se if se > 0 else (0.0 if diff == 0 else np.inf * np.sign(diff))
    return _result(diff, t**2, df2, 2 * stats.t.sf(abs(t), df2))


def min_f_prime(f1, f2):
    """Clark's (1973) min F': a lower bound on the quasi-F that generalises over both samples.

    ``min F' = F1 F2 / (F1 + F2)`` with denominator degrees of freedom
    ``(F1 + F2)² / (F1² / df2_F2 + F2² / df2_F1)``, where ``df2_F1`` and
    ``df2_F2`` are the denominator degrees of freedom of the by-participant
    and by-item tests. It never exceeds either, so it is conservative.

    Parameters
    ----------
    f1, f2 : pandas.Series
        The results of :func:`by_subject_test` and :func:`by_item_test`
        (anything with ``F``, ``df2`` and ``estimate``; ``df1`` must be 1).

    Returns
    -------
    pandas.Series
        ``estimate`` (that of ``f1``), ``F``, ``df1`` (1), ``df2`` and ``p``.

    Raises
    ------
    ValueError
        A missing field, a negative F, or a test with more than one numerator
        degree of freedom.

    Examples
    --------
    >>> import pandas as pd
    >>> from helpers.studies.crossed import min_f_prime
    >>> f1 = pd.Series({"estimate": 1.0, "F": 6.0, "df1": 1, "df2": 19, "p": 0.02})
    >>> f2 = pd.Series({"estimate": 1.0, "F": 3.0, "df1": 1, "df2": 14, "p": 0.1})
    >>> res = min_f_prime(f1, f2)
    >>> float(res["F"]), round(float(res["df2"]), 2)
    (2.0, 26.6)
    """
    for name, res in (("f1", f1), ("f2", f2)):
        for key in ("F", "df2"):
            if key not in res:
                raise ValueError(f"{name} has no {key!r}; pass the result of by_subject_test / by_item_test")
        if float(res["F"]) < 0 or not np.isfinite(float(res["df2"])):
            raise ValueError(f"{name} must have F >= 0 and finite df2, got F={res['F']}, df2={res['df2']}")
        if "df1" in res and float(res["df1"]) != 1:
            raise ValueError(f"min_f_prime is for one-df tests; {name} has df1={res['df1']}")
    F1, F2 = float(f1["F"]), float(f2["F"])
    n1, n2 = float(f1["df2"]), float(f2["df2"])
    estimate = float(f1.get("estimate", np.nan))
    if F1 + F2 == 0:
        return _result(estimate, 0.0, np.nan, 1.0)
    fval = F1 * F2 / (F1 + F2)
    df2 = (F1 + F2) ** 2 / (F1**2 / n2 + F2**2 / n1)
    return _result(estimate, fval, df2, stats.f.sf(fval, 1, df2))


def fit_crossed(model, methods=("bfgs", "nm", "powell")):
    """Fit a crossed MixedLM by REML, falling back to other optimizers when the first fails.

    The first optimizer in ``methods`` is tried; when it reports convergence
    its fit is returned. Otherwise every other optimizer is tried and the
    converged fit with the highest REML log-likelihood is returned. This is a
    cheap version of :func:`helpers.fit_all` for simulations, where hundreds
    of fits are needed: statsmodels' default ``fit()`` can stop short of the
    optimum on crossed variance-component models, and BFGS reports it
    (``converged`` is False) when it does. Warnings raised by the fits are
    not shown; use :func:`helpers.fit_all` on a single data set to see them.

    Parameters
    ----------
    model : statsmodels MixedLM
        An unfitted model, e.g. from :func:`helpers.mixedlm`.
    methods : sequence of str
        Optimizers, first choice first.

    Returns
    -------
    (MixedLMResults, str)
        The kept fit and the name of its optimizer.

    Raises
    ------
    ValueError
        ``methods`` is empty.
    RuntimeError
        No optimizer converged.

    Examples
    --------
    >>> import helpers
    >>> from helpers.studies.crossed import fit_crossed
    >>> df = helpers.load("penicillin")
    >>> model = helpers.mixedlm("diameter ~ 1 + (1|plate) + (1|sample)", df)
    >>> result, method = fit_crossed(model)
    >>> method, round(float(result.llf), 2)
    ('bfgs', -165.43)
    """
    methods = list(methods)
    if not methods:
        raise ValueError("methods is empty: give at least one optimizer, e.g. ('bfgs',)")
    fits = {}
    for i, method in enumerate(methods):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                res = model.fit(reml=True, method=method)
            except Exception:  # noqa: BLE001 - a failed optimizer is just not used
                continue
        if res.converged and np.isfinite(res.llf):
            fits[method] = res
            if i == 0:
                break
    if not fits:
        raise RuntimeError(
            f"none of the optimizers {methods} converged; look at helpers.fit_all(model).table"
        )
    best = max(fits, key=lambda m: fits[m].llf)
    return fits[best], best


def _coded(data, dv, subject, item, condition, comp):
    """The columns the crossed model needs, with the condition coded -0.5 / +0.5."""
    return pd.DataFrame({
        "y": data[dv].to_numpy(dtype=float),
        "subject": data[subject].to_numpy(),
        "item": data[item].to_numpy(),
        "x": np.where(data[condition].to_numpy() == comp, 0.5, -0.5),
    })


def crossed_lmm_test(data, dv="y", subject="subject", item="item", condition="cond",
                     conditions=None, subject_slopes=False):
    """Fit the crossed mixed model by REML and test the condition (Satterthwaite *F*).

    The model is ``dv ~ x + (1|subject) + (1|item)``, where ``x`` codes the
    condition as -0.5 / +0.5, so that its coefficient is the difference
    between the conditions; with ``subject_slopes=True`` it is
    ``dv ~ x + (1 + x||subject) + (1|item)`` (each participant also has
    their own condition effect, uncorrelated with their intercept). It is
    built by :func:`helpers.mixedlm` (one group holding every row, a
    variance component per random term) and fitted by :func:`fit_crossed`.
    The test is the Type III *F* test with Satterthwaite's denominator
    degrees of freedom from :func:`helpers.anova`, as lmerTest computes it.

    Parameters
    ----------
    data : pandas.DataFrame
        Long format, one row per response.
    dv, subject, item, condition : str
        Column names.
    conditions : pair of labels, optional
        ``(reference, comparison)``: the estimate is comparison - reference.
    subject_slopes : bool
        Add by-participant random condition effects.

    Returns
    -------
    pandas.Series
        ``estimate``, ``F``, ``df1`` (1), ``df2`` (Satterthwaite), ``p``,
        plus ``llf`` (REML log-likelihood), ``singular`` (a variance
        estimated at zero, :func:`helpers.is_singular`) and ``optimizer``.

    Raises
    ------
    KeyError
        A column is missing.
    ValueError
        Missing values, or a condition without exactly two levels.
    RuntimeError
        No optimizer converged.

    Examples
    --------
    >>> from helpers.studies.simulate import simulate_crossed
    >>> from helpers.studies.crossed import by_item_test, crossed_lmm_test
    >>> df = simulate_crossed(n_subj=10, n_item=8, seed=1)
    >>> res = crossed_lmm_test(df)
    >>> round(float(res["df2"]), 2)         # items - 2
    6.0
    >>> res["optimizer"], bool(res["singular"])
    ('bfgs', False)
    >>> round(float(res["p"]), 4), round(float(by_item_test(df)["p"]), 4)   # balanced: = F2
    (0.3216, 0.3216)
    """
    from ..core.fitting import is_singular
    from ..core.formula import mixedlm
    from ..core.inference import anova

    _check_data(data, [dv, subject, item, condition], "data")
    _, comp = _two_conditions(data, condition, conditions)
    work = _coded(data, dv, subject, item, condition, comp)
    subj_term = "(1 + x||subject)" if subject_slopes else "(1|subject)"
    model = mixedlm(f"y ~ x + {subj_term} + (1|item)", work, eval_env={})
    res, method = fit_crossed(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = anova(res)
    row = table.loc["x"]
    out = _result(res.fe_params["x"], row["F"], row["DenDF"], row["p"]).to_dict()
    out.update(llf=float(res.llf), singular=bool(is_singular(res)), optimizer=method)
    return pd.Series(out, dtype=object)


# --------------------------------------------------------------------------- simulation
def _count(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


def crossed_recovery(n_reps=50, *, n_subj=30, n_item=16, beta0=800.0, effect=50.0,
                     subj_sd=100.0, item_sd=80.0, error_sd=200.0, seed=None):
    """Simulate the crossed design many times, fit it each time, and keep the estimates.

    Shows how precisely one data set of this size recovers each parameter of
    :func:`helpers.simulate_crossed`: each replicate is fitted with
    ``y ~ x + (1|subject) + (1|item)`` (``x`` = -0.5 / +0.5, so the
    intercept estimates ``beta0`` and the slope ``effect``) by
    :func:`fit_crossed`.

    Parameters
    ----------
    n_reps : int
        Number of simulated data sets.
    n_subj, n_item, beta0, effect, subj_sd, item_sd, error_sd : number
        Passed to :func:`helpers.simulate_crossed`.
    seed : int or None
        Seeds a :class:`numpy.random.SeedSequence`; replicate ``r`` uses its
        ``r``-th child.

    Returns
    -------
    pandas.DataFrame
        One row per replicate (index ``replicate``), columns ``beta0``,
        ``effect``, ``subj_sd``, ``item_sd``, ``error_sd`` (the estimates,
        named after the parameters they estimate) and ``optimizer``.

    Raises
    ------
    ValueError
        ``n_reps`` below 1 or a bad simulation parameter.

    Examples
    --------
    >>> from helpers.studies.crossed import crossed_recovery
    >>> est = crossed_recovery(n_reps=2, n_subj=10, n_item=8, seed=5)
    >>> list(est.columns)
    ['beta0', 'effect', 'subj_sd', 'item_sd', 'error_sd', 'optimizer']
    """
    from .simulate import simulate_crossed

    n_reps = _count("n_reps", n_reps, 1)
    params = dict(n_subj=n_subj, n_item=n_item, beta0=beta0, effect=effect, subj_sd=subj_sd,
                  item_sd=item_sd, error_sd=error_sd)
    rows = []
    with _one_blas_thread():
        for child in np.random.SeedSequence(seed).spawn(n_reps):
            rows.append(_recover_one(simulate_crossed(**params, seed=np.random.default_rng(child))))
    out = pd.DataFrame(rows)
    out.index.name = "replicate"
    return out


def _recover_one(df):
    from ..core.formula import mixedlm

    work = _coded(df, "y", "subject", "item", "cond", "hard")
    res, method = fit_crossed(mixedlm("y ~ x + (1|subject) + (1|item)", work, eval_env={}))
    vc = dict(zip(res.model.exog_vc.names, np.atleast_1d(res.vcomp)))
    return {"beta0": float(res.fe_params["Intercept"]),
            "effect": float(res.fe_params["x"]),
            "subj_sd": float(np.sqrt(vc["subject"])),
            "item_sd": float(np.sqrt(vc["item"])),
            "error_sd": float(np.sqrt(res.scale)),
            "optimizer": method}


def simulate_false_positives(n_reps=1000, n_lmm=100, *, n_subj=20, n_item=16, beta0=800.0,
                             effect=0.0, subj_sd=100.0, item_sd=80.0, error_sd=200.0,
                             subj_slope_sd=0.0, seed=None):
    """Simulate participants × items data many times and record each test's *p* value.

    Each replicate is a fresh data set from :func:`helpers.simulate_crossed`
    (the condition within participants and between items) with the given
    parameters; with ``effect = 0`` (the default) every rejection is a false
    positive. F1, F2 and min F' are computed on every replicate, the crossed
    LMM (:func:`crossed_lmm_test`, much slower) on the first ``n_lmm``.

    Parameters
    ----------
    n_reps : int
        Number of simulated data sets.
    n_lmm : int
        How many of them (the first ones) also get the crossed LMM; at most
        ``n_reps``, 0 for none.
    n_subj, n_item, beta0, effect, subj_sd, item_sd, error_sd, subj_slope_sd : number
        Passed to :func:`helpers.simulate_crossed`.
    seed : int or None
        Seeds a :class:`numpy.random.SeedSequence`; replicate ``r`` uses its
        ``r``-th child, so a replicate's data do not depend on ``n_reps`` or
        ``n_lmm``.

    Returns
    -------
    pandas.DataFrame
        One row per replicate (index ``replicate``): the *p* values in columns
        ``F1``, ``F2``, ``min_F`` and ``LMM`` (NaN where the LMM was not
        fitted), ``LMM_optimizer`` (the optimizer of the kept LMM fit,
        ``""`` where not fitted) and ``LMM_singular`` (whether that fit has a
        variance at zero; missing where not fitted).

    Raises
    ------
    ValueError
        ``n_reps`` below 1, ``n_lmm`` outside ``[0, n_reps]``, or a bad
        simulation parameter (from :func:`helpers.simulate_crossed`).

    Examples
    --------
    >>> from helpers.studies.crossed import simulate_false_positives
    >>> p = simulate_false_positives(n_reps=20, n_lmm=2, n_subj=8, n_item=8, seed=3)
    >>> p.shape
    (20, 6)
    >>> int(p["LMM"].notna().sum())
    2
    """
    n_reps = _count("n_reps", n_reps, 1)
    n_lmm = _count("n_lmm", n_lmm, 0)
    if n_lmm > n_reps:
        raise ValueError(f"n_lmm ({n_lmm}) cannot exceed n_reps ({n_reps})")
    params = dict(n_subj=n_subj, n_item=n_item, beta0=beta0, effect=effect, subj_sd=subj_sd,
                  item_sd=item_sd, error_sd=error_sd, subj_slope_sd=subj_slope_sd)
    children = np.random.SeedSequence(seed).spawn(n_reps)
    with _one_blas_thread():
        rows = [_false_positive_one(r, child, params, n_lmm) for r, child in enumerate(children)]
    out = pd.DataFrame(rows)
    out.index.name = "replicate"
    return out


def _false_positive_one(r, child, params, n_lmm):
    """One replicate: simulate, then the p values of F1, F2, min F' (and the LMM if r < n_lmm)."""
    from .simulate import simulate_crossed

    n_subj, n_item = params["n_subj"], params["n_item"]
    df = simulate_crossed(**params, seed=np.random.default_rng(child))
    # simulate_crossed writes one row per subject x item, subject-major, items in the
    # same order for everyone: reshape instead of grouping (the same numbers as
    # by_subject_test and by_item_test, a hundred times faster).
    y = df["y"].to_numpy(dtype=float).reshape(n_subj, n_item)
    hard = df["cond"].to_numpy()[:n_item] == "hard"
    f1 = _paired(y[:, hard].mean(axis=1) - y[:, ~hard].mean(axis=1))
    item_means = y.mean(axis=0)
    f2 = _two_sample(item_means[~hard], item_means[hard])
    row = {"F1": f1["p"], "F2": f2["p"], "min_F": min_f_prime(f1, f2)["p"],
           "LMM": np.nan, "LMM_optimizer": "", "LMM_singular": pd.NA}
    if r < n_lmm:
        lmm = crossed_lmm_test(df, conditions=("easy", "hard"))
        row.update(LMM=lmm["p"], LMM_optimizer=lmm["optimizer"], LMM_singular=lmm["singular"])
    return row


def rejection_rates(pvalues, alpha=0.05, methods=None):
    """The share of *p* values below ``alpha`` per method, with its Monte Carlo uncertainty.

    Parameters
    ----------
    pvalues : pandas.DataFrame
        One column of *p* values per method (NaN = not computed, left out),
        such as the output of :func:`simulate_false_positives`.
    alpha : float
        Significance level, in (0, 1).
    methods : list of str, optional
        Columns to summarise; by default those of ``F1``, ``F2``, ``min_F``,
        ``LMM`` that hold at least one *p* value, else every numeric column.

    Returns
    -------
    pandas.DataFrame
        One row per method: ``reps`` (non-missing *p* values), ``rejections``,
        ``rate``, ``mc_se`` (Monte Carlo standard error,
        ``sqrt(rate (1 - rate) / reps)``) and ``lower``, ``upper`` (a 95%
        interval, ``rate ± 1.96 mc_se``, clipped to [0, 1]).

    Raises
    ------
    KeyError
        A method column is missing.
    ValueError
        ``alpha`` outside (0, 1), a *p* value outside [0, 1], or a method with
        no *p* values.

    Examples
    --------
    >>> import pandas as pd
    >>> from helpers.studies.crossed import rejection_rates
    >>> p = pd.DataFrame({"F1": [0.01, 0.2, 0.03, 0.5], "F2": [0.5, 0.6, 0.04, 0.9]})
    >>> rejection_rates(p)[["reps", "rejections", "rate"]]
        reps  rejections  rate
    F1     4           2  0.50
    F2     4           1  0.25
    """
    if not isinstance(pvalues, pd.DataFrame):
        raise ValueError(f"pvalues must be a DataFrame of p values, got {type(pvalues).__name__}")
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0 < alpha < 1:
        raise ValueError(f"alpha must be a number between 0 and 1, got {alpha!r}")
    if methods is None:
        methods = [m for m in METHODS if m in pvalues.columns and pvalues[m].notna().any()]
        if not methods:
            methods = [c for c in pvalues.columns if pd.api.types.is_numeric_dtype(pvalues[c])]
    require_columns(pvalues, methods, "pvalues")
    rows = {}
    for m in methods:
        p = pd.to_numeric(pvalues[m], errors="raise").dropna().to_numpy(dtype=float)
        if p.size == 0:
            raise ValueError(f"column {m!r} holds no p values (all missing)")
        if np.any((p < 0) | (p > 1)):
            raise ValueError(f"column {m!r} holds values outside [0, 1]; expected p values")
        k = int(np.sum(p < alpha))
        rate = k / p.size
        se = float(np.sqrt(rate * (1 - rate) / p.size))
        rows[m] = {"reps": int(p.size), "rejections": k, "rate": rate, "mc_se": se,
                   "lower": max(0.0, rate - 1.96 * se), "upper": min(1.0, rate + 1.96 * se)}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "method"
    return out.rename_axis(None)


def rejection_rate_plot(rates, alpha=0.05, labels=None, ax=None,
                        ylabel="false-positive rate (share of p < .05)"):
    """Plot rejection rates with their 95% Monte Carlo intervals and a line at ``alpha``.

    Parameters
    ----------
    rates : pandas.DataFrame
        The output of :func:`rejection_rates` (columns ``rate``, ``lower``,
        ``upper``; one row per method).
    alpha : float
        Where to draw the nominal level.
    labels : dict, optional
        Method -> axis label; by default readable names for F1, F2, min_F
        and LMM.
    ax : matplotlib Axes, optional
        Where to draw; a new figure otherwise.
    ylabel : str
        Label of the vertical axis.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    KeyError
        ``rates`` lacks a column ``rate``, ``lower`` or ``upper``.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> from helpers.studies.crossed import rejection_rates, rejection_rate_plot
    >>> rates = rejection_rates(pd.DataFrame({"F1": [0.01, 0.2, 0.03, 0.5]}))
    >>> ax = rejection_rate_plot(rates)
    >>> ax.get_ylabel()
    'false-positive rate (share of p < .05)'
    """
    import matplotlib.pyplot as plt

    require_columns(rates, ["rate", "lower", "upper"], "rates")
    names = {**METHOD_LABELS, **(labels or {})}
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 3.8))
    x = np.arange(len(rates))
    rate = rates["rate"].to_numpy(dtype=float)
    err = np.vstack([rate - rates["lower"].to_numpy(dtype=float),
                     rates["upper"].to_numpy(dtype=float) - rate])
    ax.errorbar(x, rate, yerr=err, fmt="o", color="C0", capsize=5, markersize=7,
                label="estimate with 95% Monte Carlo interval")
    ax.axhline(alpha, color="C3", linestyle="--", label=f"nominal level {alpha:g}")
    ax.set_xticks(x, [names.get(m, str(m)) for m in rates.index])
    ax.set_xlim(-0.5, len(rates) - 0.5)
    ax.set_ylim(0, max(0.1, float(np.nanmax(rates["upper"])) * 1.1))
    ax.set_ylabel(ylabel)
    ax.set_xlabel("analysis")
    ax.legend(loc="upper right", frameon=False)
    return ax
