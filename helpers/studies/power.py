"""Power by simulation: new data from a fitted model, a parallel runner, a closed form.

Power is the probability that a study rejects the null hypothesis when the effect
is there. For a mixed model it rarely has a formula, so it is estimated the way
DeBruine and Barr (2021) and R's simr (Green and MacLeod, 2016) do: simulate a
data set from assumed parameters, analyse it as the real one would be analysed,
keep the *p* value, repeat, and count the rejections. This module holds the
pieces a chapter shares with a reader's own plan:

* :func:`extend`: simr's ``extend``: the design of a fitted model (a
  :func:`helpers.lmer` fit, or a statsmodels fit of :func:`helpers.mixedlm`)
  with more (or fewer) participants, items or other grouping levels, from which
  :meth:`ExtendedDesign.simulate` draws new responses with the fitted
  parameters (or with a chosen effect size);
* :func:`power_curve`: the simulation loop over a grid of designs, run by
  ``joblib`` (serially, on local cores or on a Dask cluster), with one random
  stream per replicate from ``numpy.random.SeedSequence(seed).spawn``, so the
  result does not depend on the number of workers;
* :func:`power_curve_plot`: the curve with its Monte Carlo intervals;
* :func:`power_crossed_closed_form`: the exact power of the balanced crossed
  random-intercepts design, a check that no simulation can fake.
"""
from __future__ import annotations

import numbers
import warnings

import numpy as np
import pandas as pd
import patsy
from scipy import stats

__all__ = [
    "ExtendedDesign",
    "extend",
    "power_curve",
    "power_curve_plot",
    "power_crossed_closed_form",
]


# ---------------------------------------------------------------------- checks
def _count(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be a whole number, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def _alpha(alpha):
    if (isinstance(alpha, bool) or not isinstance(alpha, numbers.Real)
            or not 0 < alpha < 1):
        raise ValueError(f"alpha must be a number between 0 and 1, got {alpha!r}")
    return float(alpha)


def _seed_sequence(seed) -> np.random.SeedSequence:
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if seed is None or (isinstance(seed, (numbers.Integral, np.integer))
                        and not isinstance(seed, bool) and seed >= 0):
        return np.random.SeedSequence(seed)
    raise TypeError("seed must be a non-negative integer, a numpy SeedSequence or "
                    f"None, got {seed!r}")


# ---------------------------------------------------------------------- closed form
def power_crossed_closed_form(n_subj, n_item, effect, item_sd, error_sd, alpha=0.05):
    """Exact power of the balanced crossed random-intercepts design.

    The design of :func:`helpers.simulate_crossed` without random slopes: every
    participant responds once to every item, half the items in each condition,
    ``y = beta0 + u_subject + w_item + effect * x + e``. Averaging over the
    participants, the mean of item ``i`` is ``beta0 + mean(u) + w_i + effect * x_i
    + mean_i(e)``: the participants' mean ``mean(u)`` is the same for every item
    and cancels from the comparison of the conditions, and the item means vary
    around their condition's mean with variance ``item_sd² + error_sd² / n_subj``.
    The by-item two-sample *t* test (F2, :func:`helpers.by_item_test`) then has a
    non-central *t* distribution with ``n_item - 2`` degrees of freedom and
    non-centrality::

        delta = effect / sqrt((item_sd² + error_sd² / n_subj) * 4 / n_item)

    (``4 / n_item = 2 / (n_item / 2)``: two groups of ``n_item / 2`` item means), and
    its power is ``P(|T| > t_{1 - alpha/2, n_item - 2})``. The crossed mixed model's
    test is the same test whenever the item variance is estimated above zero (see
    :func:`helpers.crossed_lmm_test`), so this is its power too, up to the rare
    singular fits. The participants' SD does not enter.

    Parameters
    ----------
    n_subj, n_item : int or array of int
        Participants and items (``n_item`` even, at least 4). Arrays broadcast.
    effect : float
        Difference between the conditions.
    item_sd, error_sd : float
        SDs of the items' random intercepts and of the residual.
    alpha : float
        Two-sided significance level.

    Returns
    -------
    float or numpy.ndarray
        The power; an array when ``n_subj`` or ``n_item`` is one.

    Raises
    ------
    TypeError
        A non-integer number of participants or items.
    ValueError
        An odd number of items or fewer than 4, fewer than 1 participant, a
        negative SD, both SDs zero, or ``alpha`` outside (0, 1).

    Examples
    --------
    >>> from helpers.studies.power import power_crossed_closed_form
    >>> round(power_crossed_closed_form(30, 20, effect=50, item_sd=80, error_sd=200), 4)
    0.2257
    >>> power_crossed_closed_form(30, [20, 40], effect=50, item_sd=80,
    ...                           error_sd=200).round(3)
    array([0.226, 0.418])
    """
    scalar = np.ndim(n_subj) == 0 and np.ndim(n_item) == 0
    n_s = np.asarray(n_subj)
    n_i = np.asarray(n_item)
    for name, arr, minimum in (("n_subj", n_s, 1), ("n_item", n_i, 4)):
        if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"{name} must be whole numbers, got {arr.tolist()!r}")
        if np.any(arr < minimum):
            raise ValueError(f"{name} must be at least {minimum}, got {arr.tolist()!r}")
    if np.any(n_i % 2):
        raise ValueError(f"n_item must be even (half the items in each condition), "
                         f"got {n_i.tolist()!r}")
    for name, v in (("effect", effect), ("item_sd", item_sd), ("error_sd", error_sd)):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not np.isfinite(v):
            raise ValueError(f"{name} must be a finite number, got {v!r}")
    if item_sd < 0 or error_sd < 0:
        raise ValueError(
            f"SDs must be >= 0, got item_sd={item_sd}, error_sd={error_sd}")
    if item_sd == 0 and error_sd == 0:
        raise ValueError("item_sd and error_sd are both 0: the item means do not vary")
    alpha = _alpha(alpha)
    n_s, n_i = np.broadcast_arrays(n_s.astype(float), n_i.astype(float))
    var_item_mean = item_sd**2 + error_sd**2 / n_s
    delta = effect / np.sqrt(var_item_mean * 4.0 / n_i)
    df = n_i - 2
    crit = stats.t.ppf(1 - alpha / 2, df)
    power = stats.nct.sf(crit, df, delta) + stats.nct.cdf(-crit, df, delta)
    return float(power) if scalar else power


# ---------------------------------------------------------------------- extend
def _level_order(labels: np.ndarray, X: np.ndarray):
    """The levels of a grouping column, taken in turn from each kind of level.

    Levels whose rows have the same fixed-effect design (e.g. the items of one
    condition) are one kind; the order alternates between kinds (first level of
    each kind, then the second of each, ...), so that taking the first ``n`` levels,
    or cycling through them, keeps a between-level condition balanced.
    """
    codes, levels = pd.factorize(labels)
    kinds: dict[bytes, list[int]] = {}
    for j in range(len(levels)):
        rows = np.unique(X[codes == j], axis=0)
        kinds.setdefault(rows.tobytes() + bytes(rows.shape), []).append(j)
    groups = list(kinds.values())
    order = []
    for k in range(max(len(g) for g in groups)):
        order += [g[k] for g in groups if k < len(g)]
    return levels, codes, order


def _resize(frame: pd.DataFrame, X: np.ndarray, column: str, n: int):
    """``frame`` (and X) with ``n`` levels of ``column``: the first ``n`` in the
    balanced order, or all of them plus copies (labels ``level.1``, ``level.2``...)
    cycling through that order."""
    labels = frame[column].to_numpy()
    levels, codes, order = _level_order(labels, X)
    pieces, new_labels = [], []
    seen = {str(v) for v in levels}
    for j in range(n):
        source = order[j % len(order)]
        copy_no = j // len(order)
        label = levels[source] if copy_no == 0 else f"{levels[source]}.{copy_no}"
        if copy_no and label in seen:
            raise ValueError(f"cannot label a copy of level {levels[source]!r} of "
                             f"{column!r}: {label!r} is already a level; rename the "
                             "levels first")
        rows = np.flatnonzero(codes == source)
        pieces.append(rows)
        new_labels.append(np.full(rows.size, label, dtype=object))
    take = np.concatenate(pieces)
    out = frame.iloc[take].reset_index(drop=True)
    if len(order) < n:
        out[column] = np.concatenate(new_labels)
    return out, X[take]


def _sqrt_cov(cov: np.ndarray) -> np.ndarray:
    """A root R with R R' = cov, for a covariance matrix that may be singular."""
    vals, vecs = np.linalg.eigh((cov + cov.T) / 2)
    return vecs * np.sqrt(np.clip(vals, 0.0, None))


def _fit_parts(result):
    """formula, frame, patsy env, fixed design info, fixed effects, response name,
    random terms (parsed), {term key: covariance} and sigma, for either kind of fit."""
    from ..engine.results import LmerResult, _make_unique
    from ..engine.terms import build_terms

    if isinstance(result, LmerResult):
        frame, env = result.frame, result._env
        info, fe = result.design_info, result.fe_params
        response = result.fixed_formula.split("~", 1)[0].strip()
        random_terms = result.random_terms
        covs = {}
        for i, t in enumerate(result.terms):
            T = result.model.T(result.theta, i)
            covs[_term_key(t)] = result.scale * (T @ T.T)
        return frame, env, info, fe, response, random_terms, covs, float(result.sigma)
    model = getattr(result, "model", None)
    if (model is None or not hasattr(result, "fe_params")
            or not hasattr(model, "exog_vc")):
        raise TypeError("extend needs a helpers.lmer fit or a statsmodels MixedLM fit "
                        "made with helpers.mixedlm(...).fit(), got "
                        f"{type(result).__name__}")
    if not hasattr(model, "_random_terms"):
        raise ValueError("this statsmodels fit was not built by helpers.mixedlm, so "
                         "its random terms are unknown: build the model with "
                         "helpers.mixedlm(lme4_formula, data) (or use helpers.lmer)")
    from ..core.varcorr import varcorr

    frame = model.data.frame
    env = {}
    fe = result.fe_params
    try:
        rhs = model.formula.split("~", 1)[1]
        info = patsy.dmatrix(rhs, frame, NA_action="raise").design_info
    except (patsy.PatsyError, AttributeError, IndexError) as err:
        raise ValueError(
            f"cannot rebuild the fixed effects of this fit: {err}") from None
    if list(info.column_names) != list(fe.index):
        raise ValueError("the fixed effects rebuilt from the formula, "
                         f"{info.column_names}, are not the fit's, {list(fe.index)}")
    response = model.endog_names
    random_terms = model._random_terms
    table = varcorr(result)
    terms = build_terms(random_terms, frame, env)
    covs = {}
    for t, grp in zip(terms, _make_unique([t.group for t in terms])):
        cov = np.zeros((t.p, t.p))
        for j, a in enumerate(t.cnames):
            for k, b in enumerate(t.cnames[: j + 1]):
                if j == k:
                    hit = table[(table["grp"] == grp) & (table["var1"] == a)
                                & table["var2"].isna()]
                else:
                    hit = table[(table["grp"] == grp) & (table["var1"] == b)
                                & (table["var2"] == a)]
                if len(hit) != 1:
                    raise ValueError(f"cannot find the variance of {a!r} (and {b!r}) "
                                     f"for {grp!r} in helpers.varcorr(result)")
                cov[j, k] = cov[k, j] = float(hit["vcov"].iloc[0])
        covs[_term_key(t)] = cov
    sigma = float(np.sqrt(result.scale))
    return frame, env, info, fe, response, random_terms, covs, sigma


def _term_key(t):
    return (t.group, tuple(t.cnames), t.text)


class ExtendedDesign:
    """The design of a fitted model resized along its grouping factors (:func:`extend`).

    Holds only arrays and a DataFrame (no fitted model), so it can be sent to
    worker processes. Draw data sets with :meth:`simulate`.

    Attributes
    ----------
    data : pandas.DataFrame
        The resized design: the fitted model's columns, one row per observation,
        the response column still holding the copied original values.
    response : str
        The name of the response column that :meth:`simulate` fills.
    fe_params : pandas.Series
        The fixed effects used (the fit's, with any replaced by ``fixed``).
    sigma : float
        Residual SD.
    covariances : dict
        Random-effect covariance matrix of each term, keyed by
        ``(group, columns, term text)``.
    sizes : dict
        Number of levels of each resized grouping column.
    """

    def __init__(self, data, X, fe_params, sigma, terms, covariances, response, sizes):
        self.data = data
        self.response = response
        self.fe_params = fe_params
        self.sigma = sigma
        self.covariances = covariances
        self.sizes = sizes
        self._fixed = X @ fe_params.to_numpy(dtype=float)
        self._terms = [(t.X, t.codes, t.n_levels, _sqrt_cov(covariances[_term_key(t)]))
                       for t in terms]

    @property
    def nobs(self) -> int:
        return len(self.data)

    def simulate_response(self, seed=None) -> np.ndarray:
        """One response vector: ``Xβ + Zb + e``, new random effects ``b`` for every
        level drawn from the fitted covariances, residuals ``N(0, σ²)``."""
        rng = np.random.default_rng(seed)
        y = self._fixed.copy()
        for Xt, codes, n_levels, root in self._terms:
            b = rng.standard_normal((n_levels, root.shape[1])) @ root.T
            y += np.einsum("ij,ij->i", Xt, b[codes])
        return y + self.sigma * rng.standard_normal(y.size)

    def simulate(self, seed=None) -> pd.DataFrame:
        """A new data set: :attr:`data` with the response column replaced by a draw from
        the model (``seed`` as for ``numpy.random.default_rng``)."""
        out = self.data.copy()
        out[self.response] = self.simulate_response(seed)
        return out

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={v}" for k, v in self.sizes.items())
        return f"<ExtendedDesign: {self.nobs} rows ({sizes})>"


def extend(result, fixed=None, **sizes) -> ExtendedDesign:
    """The design of a fitted model with more (or fewer) participants, items, ...:
    simr's ``extend``.

    Each keyword names a grouping column of the model's random effects and the
    number of levels wanted. Levels are added by copying the rows of existing
    levels (labels ``s01.1``, ``s01.2``, ... for the copies of ``s01``) and
    removed by keeping the first ``n``; in both cases the levels are taken in
    turn from each kind of level (levels whose rows have the same fixed-effect
    design, such as the items of one condition), so a condition that varies
    between items stays balanced when the numbers allow it. Columns are resized
    in the order given; resizing participants and then items of a fully crossed
    design gives every new participant every new item.

    New data sets are drawn from the resized design with
    :meth:`ExtendedDesign.simulate`, using the fit's fixed effects (or the values
    given in ``fixed``: a pilot's estimate of the effect is too noisy to plan with;
    use the smallest effect of interest), its random-effect covariances and
    residual SD, with new random effects for every level: lme4's
    ``simulate(fit, newdata = ..., allow.new.levels = TRUE)``.

    Parameters
    ----------
    result : LmerResult or statsmodels MixedLMResults
        A :func:`helpers.lmer` fit, or a fit of a model built by
        :func:`helpers.mixedlm`.
    fixed : dict, optional
        Fixed effects to replace, by name as in ``result.fe_params``
        (e.g. ``{"cond[T.hard]": 30.0}``).
    **sizes : int
        Grouping column -> number of levels (at least 2). Non-identifier
        column names: ``extend(fit, **{"my id": 40})``.

    Returns
    -------
    ExtendedDesign

    Raises
    ------
    TypeError
        ``result`` is not a fitted mixed model, or a size is not a whole number.
    ValueError
        No size given, a column that is not a grouping column of a random term,
        a size below 2, an unknown fixed-effect name, or a response that is not
        a plain column.

    Examples
    --------
    >>> import helpers
    >>> from helpers.studies.power import extend
    >>> pilot = helpers.simulate_crossed(n_subj=6, n_item=8, seed=1)
    >>> fit = helpers.lmer("y ~ cond + (1|subject) + (1|item)", pilot)
    >>> design = extend(fit, subject=9, item=12)
    >>> design
    <ExtendedDesign: 108 rows (subject=9, item=12)>
    >>> design.data.groupby("cond")["item"].nunique().tolist()
    [6, 6]
    >>> design.simulate(seed=2).shape
    (108, 4)
    """
    from ..engine.terms import build_terms

    if not sizes:
        raise ValueError("give at least one grouping column and its number of levels, "
                         "e.g. extend(fit, subject=40, item=30)")
    frame, env, info, fe, response, random_terms, covs, sigma = _fit_parts(result)
    if response not in frame.columns:
        raise ValueError(f"the response {response!r} is not a plain column of the "
                         "data; fit the model to a column holding the transformed "
                         "response")
    grouping = {c for t in random_terms for c in t.grouping}
    for column, n in sizes.items():
        if column not in grouping:
            raise ValueError(f"{column!r} is not a grouping column of the random "
                             f"effects (those are {sorted(grouping)}); resize one of "
                             "them")
        _count(f"the number of levels of {column!r}", n, 2)
    fe = fe.astype(float).copy()
    for name, value in (fixed or {}).items():
        if name not in fe.index:
            raise ValueError(f"fixed effect {name!r} is not in the model; its fixed "
                             f"effects are {list(fe.index)}")
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"fixed effect {name!r} must be a number, got {value!r}")
        fe[name] = float(value)
    (X,) = patsy.build_design_matrices([info], frame, NA_action="raise")
    X = np.asarray(X, dtype=float)
    data = frame.reset_index(drop=True)
    for column, n in sizes.items():
        data, X = _resize(data, X, column, int(n))
    terms = build_terms(random_terms, data, env)
    missing = [t.text for t in terms if _term_key(t) not in covs]
    if missing:
        raise ValueError(f"the random terms {missing} of the resized design do not "
                         "match the fit's; resize only grouping columns")
    counts = {c: int(data[c].nunique()) for c in sizes}
    return ExtendedDesign(data, X, fe, sigma, terms, covs, response, counts)


# ---------------------------------------------------------------------- the runner
def _grid_frame(grid) -> pd.DataFrame:
    if isinstance(grid, pd.DataFrame):
        out = grid.reset_index(drop=True)
    elif isinstance(grid, dict):
        out = pd.DataFrame(grid)
    elif isinstance(grid, (list, tuple)) and all(isinstance(g, dict) for g in grid):
        out = pd.DataFrame(list(grid))
    else:
        raise TypeError("grid must be a DataFrame, a dict of equal-length lists or a "
                        f"list of dicts (one per design), got {type(grid).__name__}")
    if out.empty or out.shape[1] == 0:
        raise ValueError("grid is empty: give at least one design, e.g. "
                         "[{'n_subj': 20, 'n_item': 16}]")
    if out.isna().any().any():
        raise ValueError("grid has missing values; every design needs every setting")
    return out


def _run_chunk(simulate, test, tasks):
    """p values of the replicates ``tasks`` = [(point settings, SeedSequence), ...]."""
    out = []
    for point, seed in tasks:
        p = test(simulate(seed, **point))
        try:
            p = float(p)
        except (TypeError, ValueError):
            raise TypeError(
                f"test must return a p value (a number), got {p!r}") from None
        if not (np.isnan(p) or 0 <= p <= 1):
            raise ValueError(f"test returned {p}, which is not a p value in [0, 1]")
        out.append(p)
    return out


def power_curve(simulate, test, grid, n_sim=1000, *, seed=None, alpha=0.05, n_jobs=None,
                chunks_per_job=4) -> pd.DataFrame:
    """Power at each design of a grid, by simulation, run by joblib.

    For every row of ``grid`` (a design, e.g. ``n_subj=30, n_item=20``) and every
    replicate ``r``, ``test(simulate(seed_r, **design))`` gives a *p* value; the
    power is the share below ``alpha``. It is the loop::

        for design, seeds_of_design in zip(grid, SeedSequence(seed).spawn(len(grid))):
            for s in seeds_of_design.spawn(n_sim):
                p = test(simulate(s, **design))

    with the replicates split into chunks that ``joblib.Parallel`` runs: one
    process (``n_jobs=1``), several local processes (``n_jobs=-1``: all cores), or
    the workers of a Dask cluster (inside ``with joblib.parallel_backend("dask"):``
    after creating a ``dask.distributed.Client``). Every replicate has its own
    seed, so the result is the same whatever runs it.

    Parameters
    ----------
    simulate : callable
        ``simulate(seed, **design) -> data``; ``seed`` is a
        ``numpy.random.SeedSequence`` (pass it to :func:`helpers.simulate_crossed`,
        :meth:`ExtendedDesign.simulate` or ``numpy.random.default_rng``).
    test : callable
        ``test(data) -> p`` (a number in [0, 1], or NaN for a replicate that could
        not be analysed: counted in ``failed``, left out of the power, with a
        warning).
    grid : DataFrame, dict of lists or list of dicts
        One design per row; the columns are the keyword arguments of ``simulate``.
    n_sim : int
        Replicates per design.
    seed : int, SeedSequence or None
        Root of the random streams (None: fresh entropy, stored in
        ``result.attrs["entropy"]`` so the run can be repeated).
    alpha : float
        Significance level.
    n_jobs : int or None
        joblib's ``n_jobs``; None uses joblib's default (1, or the active
        ``parallel_backend``'s setting).
    chunks_per_job : int
        Chunks per worker (more balance the load, fewer save overhead).

    Returns
    -------
    pandas.DataFrame
        The grid's columns plus ``reps`` (replicates with a *p* value),
        ``failed`` (NaN *p* values), ``rejections``, ``power``, ``mc_se``
        (``sqrt(power (1 - power) / reps)``) and ``lower``, ``upper`` (95%
        interval, ``power ± 1.96 mc_se``, clipped to [0, 1]). ``attrs["pvalues"]``
        holds every *p* value (designs x replicates), ``attrs["entropy"]`` the
        root seed's entropy.

    Raises
    ------
    TypeError
        ``simulate`` or ``test`` not callable, a bad ``grid``, ``n_sim`` or
        ``seed``, or ``test`` not returning a number.
    ValueError
        An empty grid or one with missing values, ``n_sim`` < 1, ``alpha`` outside
        (0, 1), or a ``test`` result outside [0, 1].

    Examples
    --------
    >>> import helpers
    >>> from helpers.studies.power import power_curve
    >>> def simulate(seed, n_item):
    ...     return helpers.simulate_crossed(n_subj=10, n_item=n_item, effect=50.0,
    ...                                     seed=seed)
    >>> def test(data):
    ...     return helpers.by_item_test(data)["p"]
    >>> curve = power_curve(simulate, test, {"n_item": [8, 16]}, n_sim=50, seed=1)
    >>> curve[["n_item", "reps", "power"]]
       n_item  reps  power
    0       8    50   0.10
    1      16    50   0.12
    """
    from joblib import Parallel, delayed, effective_n_jobs

    if not callable(simulate) or not callable(test):
        raise TypeError("simulate and test must be functions: "
                        "simulate(seed, **design) -> data and test(data) -> p value")
    points = _grid_frame(grid)
    n_sim = _count("n_sim", n_sim, 1)
    alpha = _alpha(alpha)
    chunks_per_job = _count("chunks_per_job", chunks_per_job, 1)
    root = _seed_sequence(seed)
    designs = [{k: (v.item() if isinstance(v, np.generic) else v)
                for k, v in row.items()} for row in points.to_dict("records")]
    tasks = [(design, s) for design, child in zip(designs, root.spawn(len(designs)))
             for s in child.spawn(n_sim)]
    workers = max(1, effective_n_jobs(n_jobs))
    n_chunks = min(len(tasks), workers * chunks_per_job) if workers > 1 else 1
    bounds = np.linspace(0, len(tasks), n_chunks + 1).astype(int)
    chunks = [tasks[a:b] for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    parts = Parallel(n_jobs=n_jobs)(delayed(_run_chunk)(simulate, test, c)
                                    for c in chunks)
    p = np.array([v for part in parts for v in part], dtype=float).reshape(len(designs),
                                                                             n_sim)
    ok = ~np.isnan(p)
    reps = ok.sum(axis=1)
    rejections = (np.where(ok, p, 1.0) < alpha).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        power = np.where(reps > 0, rejections / np.maximum(reps, 1), np.nan)
        se = np.sqrt(power * (1 - power) / reps)
    failed = n_sim - reps
    if failed.any():
        warnings.warn(f"{int(failed.sum())} of {p.size} replicates gave no p value "
                      "(NaN): they are left out of the power; see the column 'failed'",
                      UserWarning, stacklevel=2)
    out = points.copy()
    out["reps"] = reps
    out["failed"] = failed
    out["rejections"] = rejections
    out["power"] = power
    out["mc_se"] = se
    out["lower"] = np.clip(power - 1.96 * se, 0, 1)
    out["upper"] = np.clip(power + 1.96 * se, 0, 1)
    out.attrs["pvalues"] = p
    out.attrs["entropy"] = root.entropy
    out.attrs["alpha"] = alpha
    return out


def power_curve_plot(curve, x, by=None, *, ax=None, target=0.8, label=None,
                     xlabel=None, ylabel="power (share of p < .05)", **errorbar_kw):
    """Power against a design setting, each point with its 95% Monte Carlo interval.

    Parameters
    ----------
    curve : pandas.DataFrame
        The output of :func:`power_curve` (columns ``power``, ``lower``, ``upper``
        and ``x``).
    x : str
        The column on the horizontal axis (e.g. ``"n_subj"``).
    by : str, optional
        A column whose values get one line each (e.g. ``"n_item"``).
    ax : matplotlib Axes, optional
        Where to draw; a new figure otherwise.
    target : float or None
        Draw a dashed line at this power (None: no line).
    label : str, optional
        Legend label when ``by`` is None.
    xlabel, ylabel : str
        Axis labels (``xlabel`` defaults to ``x``).
    **errorbar_kw
        Passed to ``Axes.errorbar`` (e.g. ``color``, ``marker``).

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    KeyError
        A column is missing.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> from helpers.studies.power import power_curve_plot
    >>> curve = pd.DataFrame({"n_item": [8, 16], "power": [0.2, 0.4],
    ...                       "lower": [0.1, 0.3], "upper": [0.3, 0.5]})
    >>> power_curve_plot(curve, "n_item", xlabel="items").get_xlabel()
    'items'
    """
    import matplotlib.pyplot as plt

    from ..core._checks import require_columns

    needed = [x, "power", "lower", "upper"] + ([by] if by else [])
    require_columns(curve, needed, "curve")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4))
    groups = [(label, curve)] if by is None else [
        (f"{by} = {v}", part) for v, part in curve.groupby(by, sort=True)]
    for name, part in groups:
        part = part.sort_values(x)
        power = part["power"].to_numpy(dtype=float)
        err = np.vstack([power - part["lower"].to_numpy(dtype=float),
                         part["upper"].to_numpy(dtype=float) - power])
        kw = {"marker": "o", "capsize": 4, **errorbar_kw}
        ax.errorbar(part[x].to_numpy(), power, yerr=err, label=name, **kw)
    if target is not None:
        ax.axhline(target, color="grey", linestyle="--", linewidth=1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel)
    if by is not None or label is not None:
        ax.legend(frameon=False)
    return ax
