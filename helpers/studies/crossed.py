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
(Baayen, Davidson & Bates, 2008); :func:`crossed_lmm_test` fits it and tests
the condition.

This module is plumbing for a simulation study that a chapter writes out as
a plain loop: simulate a data set (:func:`helpers.simulate_crossed`), run the
tests, collect the *p* values in a DataFrame, repeat. Each test is fast enough
to run thousands of times (a few milliseconds; for a balanced design the
crossed model is fitted in closed form, see :func:`crossed_lmm_test`).
:func:`rejection_rates` and :func:`rejection_rate_plot` then summarise the
*p* values with their Monte Carlo error.

Every test returns a :class:`pandas.Series` with the same fields:
``estimate`` (mean of ``conditions[1]`` minus ``conditions[0]``), ``F``,
``df1`` (always 1), ``df2`` (denominator degrees of freedom) and ``p``.
"""
from __future__ import annotations

import numbers
import warnings

import numpy as np
import pandas as pd
from scipy import special, stats

from ..core._checks import require_columns, require_no_missing

__all__ = [
    "fit_crossed",
    "by_subject_test",
    "by_item_test",
    "min_f_prime",
    "crossed_lmm_test",
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


# --------------------------------------------------------------------------- checks
def _check_data(data, columns, what):
    """The columns as numpy arrays, after checking they exist and hold no missing value."""
    require_columns(data, columns, what)
    arrays = [data[c].to_numpy() for c in columns]
    if any(pd.isna(a).any() for a in arrays):
        require_no_missing(data, columns, what)   # raises, naming the column and rows
    return arrays


def _two_conditions(values: np.ndarray, condition: str, conditions):
    """The two condition labels in ``values``, in the order (reference, comparison)."""
    present = sorted(pd.unique(values), key=str)
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


_FIELDS = pd.Index(["estimate", "F", "df1", "df2", "p"])


def _result(estimate, fval, df2, p):
    return pd.Series(np.array([estimate, fval, 1.0, df2, p], dtype=float), index=_FIELDS)


def _f_sf(fval, df2):
    """P(F(1, df2) > fval): scipy.stats.f.sf(fval, 1, df2) without its overhead."""
    return float(special.fdtrc(1.0, df2, fval))


def _group_means(codes: np.ndarray, n: int, y: np.ndarray):
    """Mean of ``y`` and number of rows for each of the ``n`` codes."""
    counts = np.bincount(codes, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.bincount(codes, weights=y, minlength=n) / counts, counts


# --------------------------------------------------------------------------- tests
def by_subject_test(data, dv="y", subject="subject", condition="cond", conditions=None):
    """F1: average over items within each participant and condition, then a paired *t* test.

    The same numbers as ``scipy.stats.ttest_rel`` on the participants' condition
    means (``data.pivot_table(index=subject, columns=condition, values=dv)``),
    computed without building the table, so that a simulation can call it
    thousands of times.

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
    y, subj, cond = _check_data(data, [dv, subject, condition], "data")
    ref, comp = _two_conditions(cond, condition, conditions)
    s_codes, s_levels = pd.factorize(subj)
    is_comp = cond == comp
    n_subj = len(s_levels)
    y = y.astype(float)
    # cell (participant, condition) = 2 * participant + (1 if comparison else 0)
    means, counts = _group_means(2 * s_codes + is_comp, 2 * n_subj, y)
    means, counts = means.reshape(n_subj, 2), counts.reshape(n_subj, 2)
    incomplete = sorted(s_levels[(counts == 0).any(axis=1)], key=str)
    if incomplete:
        raise ValueError(
            f"participant(s) {incomplete[:5]} do not have responses in both conditions; "
            "a paired by-participant test needs every participant in both "
            "(is the condition between participants?)."
        )
    diff = means[:, 1] - means[:, 0]
    if diff.size < 2:
        raise ValueError(f"need at least two participants in column {subject!r}, got {diff.size}")
    return _paired(diff)


def _paired(diff: np.ndarray) -> pd.Series:
    n = diff.size
    mean = diff.mean()
    se = diff.std(ddof=1) / np.sqrt(n)
    t = mean / se if se > 0 else (0.0 if mean == 0 else np.inf * np.sign(mean))
    return _result(mean, t**2, n - 1, _f_sf(t**2, n - 1))


def by_item_test(data, dv="y", item="item", condition="cond", conditions=None):
    """F2: average over participants within each item, then a two-sample *t* test across items.

    For a condition that varies between items (each item in one condition),
    as in :func:`helpers.simulate_crossed`. The *t* test pools the two
    groups' variances (``scipy.stats.ttest_ind`` on the item means), so
    ``F = t²`` is the one-way ANOVA of the item means.

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
    y, items, cond = _check_data(data, [dv, item, condition], "data")
    ref, comp = _two_conditions(cond, condition, conditions)
    i_codes, i_levels = pd.factorize(items)
    n_item = len(i_levels)
    share, _ = _group_means(i_codes, n_item, (cond == comp).astype(float))
    both = sorted(i_levels[(share > 0) & (share < 1)], key=str)
    if both:
        raise ValueError(
            f"item(s) {both[:5]} appear in both conditions of {condition!r}; the by-item "
            "test here is for a condition that varies between items. For a within-item "
            "condition, average by item and condition and use a paired test."
        )
    means, _ = _group_means(i_codes, n_item, y.astype(float))
    a, b = means[share == 0], means[share == 1]
    if a.size < 2 or b.size < 2:
        raise ValueError(
            f"each condition needs at least two items, got {a.size} ({ref!r}) "
            f"and {b.size} ({comp!r})"
        )
    return _two_sample(a, b)


def _two_sample(a: np.ndarray, b: np.ndarray) -> pd.Series:
    na, nb = a.size, b.size
    df2 = na + nb - 2
    pooled = (((a - a.mean()) ** 2).sum() + ((b - b.mean()) ** 2).sum()) / df2
    diff = b.mean() - a.mean()
    se = np.sqrt(pooled * (1 / na + 1 / nb))
    t = diff / se if se > 0 else (0.0 if diff == 0 else np.inf * np.sign(diff))
    return _result(diff, t**2, df2, _f_sf(t**2, df2))


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
    return _result(estimate, fval, df2, _f_sf(fval, df2))


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


def _balanced_cells(y, subj, items, is_comp):
    """``(Y, in_comp, None)`` for a complete crossed design, else ``(None, None, reason)``.

    ``Y`` is the participants x items matrix of responses and ``in_comp`` says
    which items belong to the comparison condition. Complete means: every
    participant responds to every item exactly once, and each item is in one
    condition.
    """
    s_codes, s_levels = pd.factorize(subj)
    i_codes, i_levels = pd.factorize(items)
    n_subj, n_item = len(s_levels), len(i_levels)
    cell = s_codes * n_item + i_codes
    counts = np.bincount(cell, minlength=n_subj * n_item)
    if len(y) != n_subj * n_item or np.any(counts != 1):
        return None, None, "not every participant responds to every item exactly once"
    share = np.bincount(i_codes, weights=is_comp.astype(float), minlength=n_item) / n_subj
    if np.any((share > 0) & (share < 1)):
        return None, None, "an item appears in both conditions"
    in_comp = share == 1
    if in_comp.sum() < 2 or (~in_comp).sum() < 2:
        return None, None, "a condition has fewer than two items"
    cells = np.empty(n_subj * n_item)
    cells[cell] = y
    return cells.reshape(n_subj, n_item), in_comp, None


def _balanced_reml(Y: np.ndarray, in_comp: np.ndarray) -> dict:
    """REML fit of ``y ~ x + (1|subject) + (1|item)`` on complete crossed data, in closed form.

    With every participant x item cell observed once and the condition
    between items, the data split into independent strata (participants,
    items within conditions, residual) whose mean squares have expectations
    ``sigma² + n_item sigma_S²``, ``sigma² + n_subj sigma_I²`` and ``sigma²``
    (the classical ANOVA of a balanced design). REML maximises
    ``-1/2 sum_k (df_k log lambda_k + SS_k / lambda_k)`` over these expected
    mean squares subject to ``lambda_S, lambda_I >= sigma²``: each stratum's
    mean square, except that a stratum whose mean square falls below the
    residual's is pooled with it (its variance is then estimated at 0, a
    singular fit). The test of the condition is then lmerTest's: ``F`` from
    the estimate and its REML variance, Satterthwaite's denominator degrees of
    freedom from the Hessian of the REML deviance in ``(theta_S, theta_I,
    sigma)``, as :func:`helpers.anova` computes them on a statsmodels fit.
    """
    n_subj, n_item = Y.shape
    n_b, n_a = int(in_comp.sum()), int((~in_comp).sum())
    item_means, subj_means, grand = Y.mean(axis=0), Y.mean(axis=1), Y.mean()
    mean_a, mean_b = item_means[~in_comp].mean(), item_means[in_comp].mean()
    estimate = mean_b - mean_a
    within = np.where(in_comp, item_means - mean_b, item_means - mean_a)
    resid = Y - subj_means[:, None] - item_means[None, :] + grand
    # strata: (degrees of freedom, sum of squares, multiplier m of theta², index of theta)
    strata = {
        "subject": (n_subj - 1, n_item * np.sum((subj_means - grand) ** 2), n_item, 0),
        "item": (n_item - 2, n_subj * np.sum(within**2), n_subj, 1),
        "residual": ((n_subj - 1) * (n_item - 1), np.sum(resid**2), 0, None),
    }
    # pool with the residual every stratum whose mean square falls below it
    pooled = {"residual"}
    while True:
        sigma2 = (sum(strata[k][1] for k in pooled) / sum(strata[k][0] for k in pooled))
        below = [k for k in strata if k not in pooled and strata[k][0] > 0
                 and strata[k][1] / strata[k][0] < sigma2]
        if not below:
            break
        pooled.add(min(below, key=lambda k: strata[k][1] / strata[k][0]))
    theta = np.zeros(2)
    for k, (df, ss, m, j) in strata.items():
        if k not in pooled and df > 0:
            theta[j] = np.sqrt(max(ss / df / sigma2 - 1.0, 0.0) / m)
    sigma = np.sqrt(sigma2)

    # Hessian of the REML deviance sum_k df_k log(lam_k) + SS_k / lam_k, u = (theta_S,
    # theta_I, sigma), lam_k = sigma² (1 + m_k theta_k²), by the chain rule.
    h = np.zeros((3, 3))
    deviance = 0.0
    for df, ss, m, j in strata.values():
        t = theta[j] if j is not None else 0.0
        lam = sigma2 * (1 + m * t**2)
        deviance += df * np.log(lam) + ss / lam
        d1, d2 = df / lam - ss / lam**2, -df / lam**2 + 2 * ss / lam**3
        grad, hess = np.zeros(3), np.zeros((3, 3))
        grad[2], hess[2, 2] = 2 * sigma * (1 + m * t**2), 2 * (1 + m * t**2)
        if j is not None:
            grad[j] = 2 * sigma2 * m * t
            hess[j, j] = 2 * sigma2 * m
            hess[j, 2] = hess[2, j] = 4 * sigma * m * t
        h += d2 * np.outer(grad, grad) + d1 * hess
    evals, evecs = np.linalg.eigh(h)
    keep = evals > 1e-8
    vcov_u = 2 * (evecs[:, keep] / evals[keep]) @ evecs[:, keep].T
    # variance of the estimate: c sigma² (theta_I² + 1 / n_subj), c = 1/n_a + 1/n_b
    c = 1 / n_a + 1 / n_b
    var = c * sigma2 * (theta[1] ** 2 + 1 / n_subj)
    g = np.array([0.0, 2 * c * sigma2 * theta[1], 2 * c * sigma * (theta[1] ** 2 + 1 / n_subj)])
    df2 = 2 * var**2 / (g @ vcov_u @ g)
    fval = estimate**2 / var
    # REML log-likelihood, as statsmodels and lme4 define it, for X = [1, x], x = -0.5/+0.5
    n = Y.size
    x = np.where(in_comp, 0.5, -0.5)
    det_xtx = n * n_subj * np.sum(x**2) - (n_subj * np.sum(x)) ** 2
    llf = -0.5 * ((n - 2) * np.log(2 * np.pi) + deviance + np.log(det_xtx))
    return {"estimate": estimate, "F": fval, "df2": df2, "p": _f_sf(fval, df2),
            "llf": llf, "singular": bool(np.any(theta == 0)),
            "subject_sd": sigma * theta[0], "item_sd": sigma * theta[1], "error_sd": sigma}


def crossed_lmm_test(data, dv="y", subject="subject", item="item", condition="cond",
                     conditions=None, subject_slopes=False, method="auto"):
    """Fit the crossed mixed model by REML and test the condition (Satterthwaite *F*).

    The model is ``dv ~ x + (1|subject) + (1|item)``, where ``x`` codes the
    condition as -0.5 / +0.5, so that its coefficient is the difference
    between the conditions; with ``subject_slopes=True`` it is
    ``dv ~ x + (1 + x||subject) + (1|item)`` (each participant also has
    their own condition effect, uncorrelated with their intercept). The test
    is the Type III *F* test with Satterthwaite's denominator degrees of
    freedom, as lmerTest and :func:`helpers.anova` compute it.

    How the model is fitted (``method``):

    * ``"statsmodels"``: built by :func:`helpers.mixedlm` (one group holding
      every row, a variance component per random term, as
      ``smf.mixedlm("y ~ x", data, groups=..., vc_formula=...)`` would
      build it), fitted by :func:`fit_crossed` and tested by
      :func:`helpers.anova`. Any design; a few hundredths of a second for a
      few hundred rows, and much slower for large data sets.
    * ``"closed form"``: the same REML fit and test computed from the
      sums of squares of a complete design (every participant responds to
      every item exactly once, each item in one condition, no random slopes),
      where REML has a closed form. About a millisecond, for
      simulations; on such data it agrees with ``"statsmodels"`` to the
      optimizer's precision (the tests check it). Other designs raise
      ``ValueError``.
    * ``"auto"`` (default): ``"closed form"`` when it applies, else
      ``"statsmodels"``.

    In a complete design with the item variance estimated above zero, the
    result is exactly the by-item test (:func:`by_item_test`): the same *F*
    and ``df2 = items - 2``.

    Parameters
    ----------
    data : pandas.DataFrame
        Long format, one row per response.
    dv, subject, item, condition : str
        Column names.
    conditions : pair of labels, optional
        ``(reference, comparison)``: the estimate is comparison - reference.
    subject_slopes : bool
        Add by-participant random condition effects (always fitted by statsmodels).
    method : {"auto", "statsmodels", "closed form"}
        How to fit, see above.

    Returns
    -------
    pandas.Series
        ``estimate``, ``F``, ``df1`` (1), ``df2`` (Satterthwaite), ``p``,
        plus ``llf`` (REML log-likelihood), ``singular`` (a variance
        estimated at zero, :func:`helpers.is_singular`) and ``optimizer``
        (the statsmodels optimizer of the kept fit, or ``"closed form"``).

    Raises
    ------
    KeyError
        A column is missing.
    ValueError
        Missing values, a condition without exactly two levels, an unknown
        ``method``, or ``method="closed form"`` on data it does not apply to.
    RuntimeError
        No optimizer converged.

    Examples
    --------
    >>> from helpers.studies.simulate import simulate_crossed
    >>> from helpers.studies.crossed import by_item_test, crossed_lmm_test
    >>> df = simulate_crossed(n_subj=10, n_item=8, seed=1)
    >>> fitted = crossed_lmm_test(df, method="statsmodels")
    >>> round(float(fitted["df2"]), 2)         # items - 2
    6.0
    >>> fitted["optimizer"], bool(fitted["singular"])
    ('bfgs', False)
    >>> round(float(fitted["p"]), 4), round(float(by_item_test(df)["p"]), 4)   # = F2
    (0.3216, 0.3216)
    >>> closed = crossed_lmm_test(df)          # complete design: closed form
    >>> closed["optimizer"], round(float(closed["p"]), 4)
    ('closed form', 0.3216)
    >>> round(float(closed["llf"] - fitted["llf"]), 4)
    0.0
    """
    if method not in ("auto", "statsmodels", "closed form"):
        raise ValueError(
            f"method must be 'auto', 'statsmodels' or 'closed form', got {method!r}")
    y, subj, items, cond = _check_data(data, [dv, subject, item, condition], "data")
    _, comp = _two_conditions(cond, condition, conditions)
    if method != "statsmodels":
        if subject_slopes:
            reason = "the model has by-participant slopes"
        else:
            Y, in_comp, reason = _balanced_cells(y.astype(float), subj, items, cond == comp)
        if reason is None:
            fit = _balanced_reml(Y, in_comp)
            return _lmm_result(fit["estimate"], fit["F"], fit["df2"], fit["p"], fit["llf"],
                               fit["singular"], "closed form")
        if method == "closed form":
            raise ValueError(
                f"method='closed form' needs a complete design without slopes, but {reason}; "
                "use method='statsmodels' (or 'auto', which falls back to it).")
    return _statsmodels_lmm_test(data, dv, subject, item, condition, comp, subject_slopes)


def _statsmodels_lmm_test(data, dv, subject, item, condition, comp, subject_slopes):
    from ..core.fitting import is_singular
    from ..core.formula import mixedlm
    from ..core.inference import anova

    work = _coded(data, dv, subject, item, condition, comp)
    subj_term = "(1 + x||subject)" if subject_slopes else "(1|subject)"
    model = mixedlm(f"y ~ x + {subj_term} + (1|item)", work, eval_env={})
    res, method = fit_crossed(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = anova(res)
    row = table.loc["x"]
    return _lmm_result(res.fe_params["x"], row["F"], row["DenDF"], row["p"], res.llf,
                       is_singular(res), method)


_LMM_FIELDS = pd.Index(list(_FIELDS) + ["llf", "singular", "optimizer"])


def _lmm_result(estimate, fval, df2, p, llf, singular, optimizer):
    values = [float(estimate), float(fval), 1.0, float(df2), float(p), float(llf),
              bool(singular), optimizer]
    return pd.Series(np.array(values, dtype=object), index=_LMM_FIELDS)



# --------------------------------------------------------------------------- summaries
def rejection_rates(pvalues, alpha=0.05, methods=None):
    """The share of *p* values below ``alpha`` per method, with its Monte Carlo uncertainty.

    Parameters
    ----------
    pvalues : pandas.DataFrame
        One column of *p* values per method (NaN = not computed, left out),
        such as the DataFrame a simulation loop collects (one row per replicate).
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
