"""Dropout in a within-subject design: the pieces of chapter 5's simulation study.

Chapter 5 asks what happens to a repeated-measures analysis when subjects
leave a study early. The chapter writes its simulation loop itself, in a few
visible lines (simulate one data set, analyse it twice, collect one row per
analysis); this module holds what the loop calls and what reads its results:

* :func:`simulate_dropout` draws a within-subject design (one score per
  subject and time point, a random intercept per subject) and lets subjects
  drop out, either completely at random (``"mcar"``), with a probability that
  depends on their previous, observed score (``"mar"``), or on their current,
  unobserved score (``"mnar"``);
* :func:`complete_case_anova` is the one-way repeated-measures ANOVA on the
  subjects with every score (what ``pingouin.rm_anova`` does with missing
  values: listwise deletion);
* :func:`random_intercept_lmm` fits ``y ~ C(time) + (1 | subject)`` by REML to
  every observed row, and tests the time effect with an F test and
  Satterthwaite degrees of freedom, as ``helpers.anova`` (lmerTest) does;
* :func:`summarize_study` turns the loop's rows into bias, empirical SD and
  rejection rates with their Monte Carlo standard errors; :func:`plot_study`
  draws them, and :func:`dropout_means` / :func:`plot_dropout_means` show
  what dropout does to the means of one large data set.

The two analyses each return one row of a results table (a ``dict``), so
that a loop can collect them and ``pandas.DataFrame(rows)`` makes the table.

Why not statsmodels in the loop? A reader analysing one data set writes
``smf.mixedlm("y ~ C(time)", data, groups=data["subject"]).fit(reml=True)``
and ``helpers.anova`` (the chapter does, and shows that this module gives the
same numbers). That takes a few tens of milliseconds per data set, mostly in
Python loops over the subjects: minutes for the chapter's thousands of fits,
in a notebook that must run in under a minute. For one random intercept the
profiled REML criterion is an explicit function of the single ratio
``theta = subj_sd / error_sd``, computed from per-subject sums, so
:func:`random_intercept_lmm` minimises that one-dimensional function
directly, more than ten times faster. The tests of this module check it
against statsmodels and ``helpers.anova`` on several data sets, and against
R's lme4/lmerTest.
"""
from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
from scipy import optimize, special

from ..core._checks import require_columns, require_no_missing
from ..core.inference import _doolittle_lower, _fstat_ddf
from .simulate import _labels, _number, _sd, _size

__all__ = [
    "MECHANISMS",
    "METHODS",
    "simulate_dropout",
    "complete_case_anova",
    "random_intercept_lmm",
    "summarize_study",
    "plot_study",
    "dropout_means",
    "plot_dropout_means",
]

#: The dropout mechanisms :func:`simulate_dropout` knows.
MECHANISMS = ("mcar", "mar", "mnar")

#: The two analyses, as named in the ``method`` entry of their results.
METHODS = ("complete-case ANOVA", "LMM, all rows")

# theta = subj_sd / error_sd is searched in [0, _THETA_MAX]; a fit that ends at
# the upper end is reported as not converged.
_THETA_MAX = 100.0
# theta below this is the boundary value 0, as in helpers.core.inference.
_THETA_ZERO = 1e-5

_RESULT_FIELDS = ["n_subjects", "n_rows", "estimate", "se", "F", "df1", "df2", "p",
                  "subj_sd", "error_sd", "llf", "converged"]
_ERRORS = ("raise", "coerce")


# --------------------------------------------------------------------------- checks
def _share(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"{name} must be a probability in [0, 1), got {value!r}")
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} is a probability per time point and must lie in [0, 1), got {value}")
    return float(value)


def _mechanism(value) -> str:
    if not isinstance(value, str) or value.lower() not in MECHANISMS:
        raise ValueError(f"mechanism must be one of {MECHANISMS}, got {value!r}")
    return value.lower()


# --------------------------------------------------------------------------- simulation
def _simulate_arrays(n_subj, n_times, effect, subj_sd, error_sd, grand_mean, mechanism,
                     dropout, strength, rng):
    """Complete scores (n_subj x n_times), true means and the observed mask (monotone)."""
    means = grand_mean + effect * np.linspace(0.0, 1.0, n_times)
    u = rng.standard_normal(n_subj) * subj_sd
    e = rng.standard_normal((n_subj, n_times)) * error_sd
    # Drawn whatever the mechanism, so that one seed gives the same complete
    # scores (and the same uniforms) under every mechanism.
    unif = rng.random((n_subj, n_times))
    y = means + u[:, None] + e
    total_sd = np.hypot(subj_sd, error_sd)
    z = (y - means) / total_sd if total_sd > 0 else np.zeros_like(y)
    present = np.ones((n_subj, n_times), dtype=bool)
    if dropout > 0:
        base = special.logit(dropout)
        for t in range(1, n_times):
            if mechanism == "mcar":
                prob = np.full(n_subj, dropout)
            elif mechanism == "mar":
                prob = special.expit(base - strength * z[:, t - 1])
            else:  # mnar
                prob = special.expit(base - strength * z[:, t])
            present[:, t] = present[:, t - 1] & (unif[:, t] >= prob)
    return y, means, present


def simulate_dropout(
    n_subj: int = 30,
    n_times: int = 4,
    effect: float = 0.5,
    subj_sd: float = 1.0,
    error_sd: float = 1.0,
    *,
    grand_mean: float = 0.0,
    mechanism: str = "mar",
    dropout: float = 0.15,
    strength: float = 1.0,
    seed=None,
) -> pd.DataFrame:
    """Simulate a within-subject design in which subjects drop out.

    The complete scores follow the random-intercept model
    ``y[i, t] = mean[t] + u[i] + e[i, t]`` with ``u ~ N(0, subj_sd²)``,
    ``e ~ N(0, error_sd²)`` and true means rising linearly from
    ``grand_mean`` at the first time point to ``grand_mean + effect`` at the
    last. Everyone is observed at the first time point. Before each later
    time point, a subject who is still in the study leaves it (and misses
    that and every later time point: monotone dropout) with probability

    * ``"mcar"``: ``dropout``, whatever the scores (missing completely at random);
    * ``"mar"``: ``expit(logit(dropout) - strength * z[i, t-1])``, where
      ``z`` is the score standardised by its true mean and total SD
      ``sqrt(subj_sd² + error_sd²)``: it depends on the **previous, observed**
      score (missing at random);
    * ``"mnar"``: the same with ``z[i, t]``, the **current** score, which is
      never seen (missing not at random).

    A positive ``strength`` makes subjects with *low* scores more likely to
    leave (log-odds of leaving up by ``strength`` per SD below the mean).

    Parameters
    ----------
    n_subj : int
        Number of subjects (at least 2).
    n_times : int
        Number of time points (at least 2), labelled ``"t1"``, ``"t2"``...
        (zero-padded from 10 on, so that they sort in time order).
    effect : float
        True change in the mean from the first to the last time point.
    subj_sd : float
        SD of the subjects' random intercepts.
    error_sd : float
        Residual SD.
    grand_mean : float
        True mean at the first time point.
    mechanism : {"mcar", "mar", "mnar"}
        How dropout depends on the scores (see above).
    dropout : float
        Probability of leaving before each time point after the first, for a
        subject whose score is at its mean; in [0, 1). 0 means no dropout.
    strength : float
        Log-odds ratio of leaving per SD of the score below its mean (``"mar"``
        and ``"mnar"``; ignored for ``"mcar"``). Negative: high scorers leave.
    seed : int, sequence of int, Generator or None
        Passed to :func:`numpy.random.default_rng`; a sequence such as
        ``(415041, rep)`` gives each replicate of a study its own stream. The
        same seed gives the same complete scores (and, for ``"mar"`` and
        ``"mnar"``, the same dropout) whatever ``effect`` and ``mechanism``
        are, so conditions compared with the same seeds differ only by what
        they change (common random numbers).

    Returns
    -------
    pandas.DataFrame
        ``n_subj * n_times`` rows, one per subject and time point, with
        columns ``subject`` (``"s01"``...), ``time`` (``"t1"``...), ``y`` (the
        observed score, **NaN after dropout**) and ``y_complete`` (the score
        that would have been observed; known only in a simulation).

    Raises
    ------
    ValueError
        A size below 2, a negative SD, ``dropout`` outside [0, 1), an unknown
        ``mechanism`` or a non-finite number; the message names the argument.

    Examples
    --------
    >>> from helpers.studies.missing import simulate_dropout
    >>> df = simulate_dropout(n_subj=6, n_times=3, mechanism="mcar", dropout=0.3, seed=1)
    >>> df.shape
    (18, 4)
    >>> df.columns.tolist()
    ['subject', 'time', 'y', 'y_complete']
    >>> int(df["y"].isna().sum())              # scores lost to dropout
    4
    >>> bool(df.loc[df["time"] == "t1", "y"].notna().all())   # everyone starts
    True
    """
    n_subj = _size("n_subj", n_subj, minimum=2)
    n_times = _size("n_times", n_times, minimum=2)
    effect = _number("effect", effect)
    subj_sd = _sd("subj_sd", subj_sd)
    error_sd = _sd("error_sd", error_sd)
    grand_mean = _number("grand_mean", grand_mean)
    mechanism = _mechanism(mechanism)
    dropout = _share("dropout", dropout)
    strength = _number("strength", strength)
    rng = np.random.default_rng(seed)
    y, _, present = _simulate_arrays(n_subj, n_times, effect, subj_sd, error_sd, grand_mean,
                                     mechanism, dropout, strength, rng)
    return pd.DataFrame(
        {
            "subject": np.repeat(np.asarray(_labels("s", n_subj), dtype=object), n_times),
            "time": np.tile(np.asarray(_labels("t", n_times), dtype=object), n_subj),
            "y": np.where(present, y, np.nan).ravel(),
            "y_complete": y.ravel(),
        }
    )


# --------------------------------------------------------------------------- analyses on arrays
def _nan_result(n_subjects=0, n_rows=0):
    out = dict.fromkeys(_RESULT_FIELDS, np.nan)
    out.update(n_subjects=n_subjects, n_rows=n_rows, converged=False)
    return out


def _cc_anova_arrays(Y):
    """One-way RM-ANOVA (sphericity assumed) on the complete rows of ``Y`` (subjects x times)."""
    complete = ~np.isnan(Y).any(axis=1)
    Yc = Y[complete]
    n, k = Yc.shape
    if n < 2:
        return _nan_result(n, n * k)
    grand = Yc.mean()
    ss_time = n * np.sum((Yc.mean(axis=0) - grand) ** 2)
    ss_subj = k * np.sum((Yc.mean(axis=1) - grand) ** 2)
    ss_total = np.sum((Yc - grand) ** 2)
    ss_error = max(ss_total - ss_time - ss_subj, 0.0)
    df1, df2 = k - 1, (k - 1) * (n - 1)
    ms_error = ss_error / df2
    ms_subj = ss_subj / (n - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        fval = (ss_time / df1) / ms_error
    p = _f_sf(fval, df1, df2)
    return {
        "n_subjects": int(n),
        "n_rows": int(n * k),
        "estimate": float(Yc[:, -1].mean() - Yc[:, 0].mean()),
        "se": float(np.sqrt(2 * ms_error / n)),
        "F": float(fval),
        "df1": float(df1),
        "df2": float(df2),
        "p": p,
        "subj_sd": float(np.sqrt(max(ms_subj - ms_error, 0.0) / k)),
        "error_sd": float(np.sqrt(ms_error)),
        "llf": np.nan,
        "converged": bool(np.isfinite(fval)),
    }


def _f_sf(fval, df1, df2):
    """P(F(df1, df2) > fval), the chi-square limit when df2 is infinite (fast scipy.special)."""
    if not np.isfinite(fval):
        return np.nan
    if np.isinf(df2):
        return float(special.chdtrc(df1, df1 * fval))
    return float(special.fdtrc(df1, df2, fval))


class _RandomIntercept:
    """REML for a random-intercept model, from sums over subjects of equal size.

    With ``V_i = sigma² (I + theta² J)`` for a subject with ``n_i`` rows,
    ``V_i^-1 = (I - c_i J) / sigma²`` with ``c_i = theta² / (1 + n_i theta²)``,
    so ``X' V^-1 X = (X'X - sum_i c_i s_i s_i') / sigma²`` with ``s_i`` the
    subject's column sums. ``c_i`` depends on ``n_i`` only, so the sums
    ``sum s_i s_i'`` are formed once per subject size ``k``, and every
    evaluation costs a few ``p x p`` operations. The REML deviance is lme4's;
    its derivatives with respect to lme4's ``varpar = (theta, sigma)`` are
    analytic, for the Satterthwaite degrees of freedom.
    """

    def __init__(self, y, X, subj):
        self.n, self.p = X.shape
        n_groups = int(subj.max()) + 1
        ni = np.bincount(subj, minlength=n_groups)
        S = np.zeros((n_groups, self.p))
        np.add.at(S, subj, X)
        sy = np.bincount(subj, weights=y, minlength=n_groups)
        keep = ni > 0
        ni, S, sy = ni[keep], S[keep], sy[keep]
        self.k, inverse = np.unique(ni, return_inverse=True)
        self.k = self.k.astype(float)
        self.m = np.bincount(inverse).astype(float)             # subjects of each size
        # per size k: A_k = sum s s', b_k = sum s sy, d_k = sum sy²
        self.A = np.zeros((len(self.k), self.p, self.p))
        np.add.at(self.A, inverse, S[:, :, None] * S[:, None, :])
        self.b = np.zeros((len(self.k), self.p))
        np.add.at(self.b, inverse, S * sy[:, None])
        self.d = np.bincount(inverse, weights=sy * sy)
        self.A2 = self.A.reshape(len(self.k), -1)
        self.XtX, self.Xty, self.yty = X.T @ X, X.T @ y, float(y @ y)

    def _c(self, theta):
        """c_k and its first two derivatives in theta."""
        t2 = theta * theta
        den = 1.0 + self.k * t2
        return t2 / den, 2 * theta / den**2, (2 - 6 * self.k * t2) / den**3

    def _parts(self, theta):
        kt2 = self.k * (theta * theta)
        c = (theta * theta) / (1.0 + kt2)
        M = self.XtX - (c @ self.A2).reshape(self.p, self.p)
        g = self.Xty - c @ self.b
        q = self.yty - c @ self.d
        return M, g, q, float(self.m @ np.log1p(kt2))

    def profiled(self, theta):
        """REML deviance with beta and sigma profiled out."""
        M, g, q, logdet = self._parts(theta)
        try:
            chol = np.linalg.cholesky(M)
        except np.linalg.LinAlgError:
            return np.inf
        w = np.linalg.solve(chol, g)
        rss = q - w @ w
        nu = self.n - self.p
        if rss <= 0:
            return -np.inf
        return logdet + 2 * np.sum(np.log(np.diag(chol))) + nu * (1 + np.log(2 * np.pi * rss / nu))

    def fit(self):
        # Searched over phi = theta / (1 + theta) in [0, 1): the deviance is flatter in phi
        # than in theta over [0, _THETA_MAX], and Brent's method needs fewer evaluations.
        res = optimize.minimize_scalar(lambda phi: self.profiled(phi / (1.0 - phi)),
                                       bounds=(0.0, _THETA_MAX / (1.0 + _THETA_MAX)),
                                       method="bounded", options={"xatol": 1e-12, "maxiter": 500})
        theta = float(res.x / (1.0 - res.x))
        if self.profiled(0.0) <= res.fun or theta < _THETA_ZERO:
            theta = 0.0
        M, g, q, _ = self._parts(theta)
        beta = np.linalg.solve(M, g)
        rss = q - g @ beta
        self.beta, self.theta = beta, theta
        self.sigma = float(np.sqrt(rss / (self.n - self.p)))
        self.converged = bool(res.success) and theta < _THETA_MAX * (1 - 1e-6)
        self.llf = -0.5 * self.profiled(theta)
        return self

    def varpar_derivatives(self):
        """Cov(beta), its derivatives in (theta, sigma), and the Hessian of the deviance."""
        theta, sigma = self.theta, self.sigma
        c, c1, c2 = self._c(theta)
        M, g, q, _ = self._parts(theta)
        Minv = np.linalg.inv(M)
        beta = Minv @ g
        R = q - g @ beta
        M1 = -(c1 @ self.A2).reshape(self.p, self.p)
        M2 = -(c2 @ self.A2).reshape(self.p, self.p)
        g1, g2 = -c1 @ self.b, -c2 @ self.b
        q1, q2 = -c1 @ self.d, -c2 @ self.d
        R1 = q1 - 2 * g1 @ beta + beta @ M1 @ beta
        r = g1 - M1 @ beta
        R2 = q2 - 2 * g2 @ beta + beta @ M2 @ beta - 2 * r @ Minv @ r
        t2 = theta * theta
        logdet2 = float(self.m @ (2 * self.k * (1 - self.k * t2) / (1 + self.k * t2) ** 2))
        MiM1 = Minv @ M1
        s2 = sigma * sigma
        nu = self.n - self.p
        hess = np.array([
            [logdet2 + np.trace(Minv @ M2) - np.trace(MiM1 @ MiM1) + R2 / s2, -2 * R1 / sigma**3],
            [-2 * R1 / sigma**3, -2 * nu / s2 + 6 * R / s2**2],
        ])
        vcov = s2 * Minv
        jac = [-s2 * MiM1 @ Minv, 2 * sigma * Minv]   # d vcov / d theta, d vcov / d sigma
        return vcov, jac, hess

    def test(self, L):
        """F test of ``L beta = 0`` as lmerTest's contestMD (and helpers.anova)."""
        vcov, jacs, h = self.varpar_derivatives()
        evals, evecs = np.linalg.eigh(h)
        pos = evals > 1e-8
        a = 2 * (evecs[:, pos] / evals[pos]) @ evecs[:, pos].T

        def ddf(l):
            grad = np.array([l @ j @ l for j in jacs])
            with np.errstate(divide="ignore", invalid="ignore"):
                return 2 * (l @ vcov @ l) ** 2 / (grad @ a @ grad)

        d, P = np.linalg.eigh(L @ vcov @ L.T)
        d, P = d[::-1], P[:, ::-1]
        q = int(np.sum(d > max(np.sqrt(np.finfo(float).eps) * d[0], 0)))
        ptl = (P.T @ L)[:q]
        fval = float(np.sum((ptl @ self.beta) ** 2 / d[:q]) / q)
        df2 = _fstat_ddf(np.array([ddf(ptl[m]) for m in range(q)]))
        return fval, q, df2, _f_sf(fval, q, df2), vcov


def _lmm_arrays(y, t_idx, s_idx, n_times):
    """Fit the random-intercept model to the observed rows; the result as a dict."""
    n_subjects = int(np.unique(s_idx).size)
    if np.bincount(t_idx, minlength=n_times).min() == 0 or n_subjects < 2:
        return _nan_result(n_subjects, len(y))
    X = np.zeros((len(y), n_times))
    X[:, 0] = 1.0
    X[np.arange(len(y)), t_idx] = 1.0
    model = _RandomIntercept(y, X, s_idx).fit()
    L = _doolittle_lower(model.XtX).T[1:]   # lmerTest's rows for a model with one term
    fval, q, df2, p, vcov = model.test(L)
    return {
        "n_subjects": n_subjects,
        "n_rows": int(len(y)),
        "estimate": float(model.beta[-1]),
        "se": float(np.sqrt(vcov[-1, -1])),
        "F": fval,
        "df1": float(q),
        "df2": float(df2),
        "p": float(p),
        "subj_sd": float(model.theta * model.sigma),
        "error_sd": model.sigma,
        "llf": float(model.llf),
        "converged": model.converged,
        "_beta": model.beta,
    }


# --------------------------------------------------------------------------- data frames -> arrays
def _wide(data, dv, within, subject):
    """Subjects x levels matrix of ``dv`` (NaN where missing) from long data, and the levels.

    Subjects and levels are sorted, as ``DataFrame.pivot`` sorts them; this is a
    faster pivot (it runs once per analysis in a simulation loop).
    """
    require_columns(data, [dv, within, subject], "data")
    scores = data[dv]
    if not pd.api.types.is_numeric_dtype(scores):
        raise ValueError(f"the score column {dv!r} must be numeric, its dtype is {scores.dtype}")
    s_code, subjects = pd.factorize(data[subject], sort=True)
    t_code, levels = pd.factorize(data[within], sort=True)
    if s_code.min(initial=0) < 0 or t_code.min(initial=0) < 0:   # a missing label
        require_no_missing(data, [within, subject], "data")
    levels = levels.tolist()
    if len(levels) < 2:
        raise ValueError(f"{within!r} must have at least 2 levels, it has {levels}")
    cell = s_code * len(levels) + t_code
    counts = np.bincount(cell, minlength=len(subjects) * len(levels))
    if counts.max() > 1:
        dup = data.duplicated([subject, within])
        first = data.loc[dup, [subject, within]].iloc[0].tolist()
        raise ValueError(
            f"{int(dup.sum())} duplicated {subject!r} x {within!r} row(s) (first: {first}); "
            "a one-way repeated-measures design has one score per subject and level. "
            "Average the replicates first."
        )
    Y = np.full(len(subjects) * len(levels), np.nan)
    Y[cell] = scores.to_numpy(dtype=float)
    return Y.reshape(len(subjects), len(levels)), levels


def _errors(value) -> str:
    if value not in _ERRORS:
        raise ValueError(f"errors must be 'raise' or 'coerce', got {value!r}")
    return value


def _row(result: dict, method: str) -> dict:
    """One row of a results table: the method's name, then plain Python numbers."""
    row = {"method": method}
    for key in _RESULT_FIELDS:
        value = result[key]
        if key in ("n_subjects", "n_rows"):
            row[key] = int(value)
        elif key == "converged":
            row[key] = bool(value)
        else:
            row[key] = float(value)
    return row


# --------------------------------------------------------------------------- the two analyses
def complete_case_anova(data: pd.DataFrame, dv: str = "y", within: str = "time",
                        subject: str = "subject", errors: str = "raise") -> dict:
    """One-way repeated-measures ANOVA on the subjects with every score (listwise deletion).

    A subject with a missing score (a ``NaN`` in ``dv``, or no row at all for
    some level of ``within``) is dropped with all of its scores, as
    ``pingouin.rm_anova`` does; ``n_subjects`` in the result says how many
    were kept. The *F* test is the sphericity-assumed one (``p_unc`` in
    pingouin). The numbers are pingouin's, computed from arrays so that a
    simulation loop can call this thousands of times.

    Parameters
    ----------
    data : pandas.DataFrame
        Long-format data, one row per subject and level of ``within``.
    dv, within, subject : str
        Columns of the score, the within-subject factor and the subject. The
        levels of ``within`` are sorted; the first and the last define
        ``estimate``.
    errors : {"raise", "coerce"}
        What to do when fewer than 2 subjects are complete: raise a
        ``ValueError`` (the default), or, in a simulation loop, return the
        row with NaN results and ``converged`` False (``summarize_study``
        counts such rows as failed). Errors in the data's layout always raise.

    Returns
    -------
    dict
        One row of a results table (``pandas.DataFrame(rows)`` stacks them):
        ``method`` (``"complete-case ANOVA"``), ``n_subjects`` and ``n_rows``
        used, ``estimate`` (mean at the last level minus mean at the first,
        over the complete subjects), ``se`` (its standard error under the
        ANOVA model, ``sqrt(2 MSE / n)``), ``F``, ``df1``, ``df2`` and ``p``
        of the test of ``within``, ``subj_sd`` and ``error_sd`` (from the mean
        squares), ``llf`` (NaN) and ``converged`` (``True``).

    Raises
    ------
    KeyError
        A column is missing.
    ValueError
        Missing subject or level labels, duplicated subject x level rows,
        fewer than 2 levels, fewer than 2 complete subjects (unless
        ``errors="coerce"``), or an unknown ``errors``.

    Examples
    --------
    >>> from helpers.studies.missing import simulate_dropout, complete_case_anova
    >>> df = simulate_dropout(n_subj=20, mechanism="mcar", dropout=0.2, seed=3)
    >>> res = complete_case_anova(df)
    >>> res["method"], res["n_subjects"]      # of 20: the others had a missing score
    ('complete-case ANOVA', 11)
    >>> [round(res[k], 3) for k in ["F", "df1", "df2", "p"]]
    [0.408, 3.0, 30.0, 0.748]
    """
    errors = _errors(errors)
    Y, _ = _wide(data, dv, within, subject)
    result = _cc_anova_arrays(Y)
    if result["n_subjects"] < 2 and errors == "raise":
        raise ValueError(
            f"only {result['n_subjects']} subject(s) have a score at every level of {within!r}; "
            "a complete-case ANOVA needs at least 2"
        )
    return _row(result, METHODS[0])


def random_intercept_lmm(data: pd.DataFrame, dv: str = "y", within: str = "time",
                         subject: str = "subject", errors: str = "raise") -> dict:
    """Fit ``dv ~ C(within) + (1 | subject)`` by REML to every observed row and test ``within``.

    Rows whose score is missing (``NaN`` in ``dv``: the time points a subject
    did not attend) are left out; every other row is used, including those of
    subjects who dropped out. ``n_rows`` and ``n_subjects`` in the result say
    how many. The test of ``within`` is the F test of all its coefficients
    with Satterthwaite's denominator degrees of freedom. The numbers are
    those of ``smf.mixedlm(f"{dv} ~ C({within})", rows,
    groups=rows[subject]).fit(reml=True)`` and ``helpers.anova`` (and of
    lme4/lmerTest), computed from per-subject sums in a fraction of the time
    (see the module's docstring); the one exception is ``se``, which is
    lme4's (the fixed effects' covariance with the variances held at their
    estimates), where statsmodels' ``bse`` comes from the joint curvature of
    the likelihood and differs a little when rows are missing.

    Parameters
    ----------
    data : pandas.DataFrame
        Long-format data.
    dv, within, subject : str
        Columns of the score, the within-subject factor (treatment coding,
        first sorted level as reference) and the subject.
    errors : {"raise", "coerce"}
        What to do when the model cannot be fitted (a level without any
        observed score, fewer than 2 subjects, a failed fit): raise a
        ``ValueError`` (the default), or, in a simulation loop, return the
        row with NaN results and ``converged`` False. Errors in the data's
        layout always raise.

    Returns
    -------
    dict
        One row of a results table: ``method`` (``"LMM, all rows"``),
        ``n_subjects``, ``n_rows``, ``estimate`` (the coefficient of the
        last level: its mean minus the first level's mean), ``se`` (its
        standard error), ``F``, ``df1``, ``df2``, ``p`` (the test of
        ``within``), ``subj_sd`` and ``error_sd`` (REML estimates of the SDs),
        ``llf`` (REML log-likelihood, as lme4's ``logLik``) and ``converged``.

    Raises
    ------
    KeyError
        A column is missing.
    ValueError
        Missing subject or level labels, duplicated rows, fewer than 2 levels,
        a level without any observed score (unless ``errors="coerce"``), or an
        unknown ``errors``.

    Examples
    --------
    >>> from helpers.studies.missing import simulate_dropout, random_intercept_lmm
    >>> df = simulate_dropout(n_subj=20, mechanism="mcar", dropout=0.2, seed=3)
    >>> res = random_intercept_lmm(df)
    >>> res["method"], res["n_subjects"], res["n_rows"]
    ('LMM, all rows', 20, 61)
    >>> [round(res[k], 3) for k in ["estimate", "df2", "p"]]
    [0.323, 41.142, 0.779]
    """
    errors = _errors(errors)
    Y, levels = _wide(data, dv, within, subject)
    observed = ~np.isnan(Y)
    empty = [lev for lev, seen in zip(levels, observed.any(axis=0)) if not seen]
    if empty and errors == "raise":
        raise ValueError(f"level(s) {empty} of {within!r} have no observed score; "
                         "the model cannot estimate their means. Drop those levels first.")
    s_idx, t_idx = np.nonzero(observed)
    _, s_idx = np.unique(s_idx, return_inverse=True)
    try:
        result = _lmm_arrays(Y[observed], t_idx, s_idx, len(levels))
    except (np.linalg.LinAlgError, ValueError, FloatingPointError) as exc:
        if errors == "raise":
            raise ValueError(f"the random-intercept model could not be fitted: {exc}") from exc
        result = _nan_result(int(np.unique(s_idx).size), int(observed.sum()))
    if errors == "raise" and result["n_subjects"] < 2:
        raise ValueError(f"only {result['n_subjects']} subject(s) have an observed score; "
                         "a random intercept needs at least 2")
    return _row(result, METHODS[1])


# --------------------------------------------------------------------------- the study's summary
_STUDY_COLUMNS = ["mechanism", "effect", "method", "estimate", "p"]


def summarize_study(results: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Bias, empirical SD and rejection rate per condition, with Monte Carlo standard errors.

    Parameters
    ----------
    results : pandas.DataFrame
        One row per replicate and analysis, as a simulation loop collects
        them: at least the columns ``mechanism``, ``effect`` (the true change),
        ``method``, ``estimate`` and ``p`` (:func:`complete_case_anova` and
        :func:`random_intercept_lmm` return the last three, and ``se``).
    alpha : float
        Significance level of the tests.

    Returns
    -------
    pandas.DataFrame
        One row per mechanism x effect x method (in the order of
        ``results``), with ``n_reps`` (analyses that gave a result),
        ``n_failed`` (those that did not: NaN estimate or p; they are left
        out of every column below), ``mean_estimate``, ``bias`` (mean
        estimate minus the true ``effect``), ``bias_mcse`` (its Monte Carlo
        SE, ``emp_sd / sqrt(n_reps)``), ``emp_sd`` (SD of the estimates over
        replicates), ``mean_se`` (average of the reported SEs, when
        ``results`` has ``se``), ``rejection_rate`` (share of ``p < alpha``:
        the Type I error rate when ``effect`` is 0, the power otherwise) and
        ``rejection_mcse`` (``sqrt(rate (1 - rate) / n_reps)``).

    Raises
    ------
    KeyError
        A required column is missing.
    ValueError
        ``alpha`` outside (0, 1), or an empty ``results``.

    Examples
    --------
    >>> import pandas as pd
    >>> from helpers.studies.missing import (simulate_dropout, complete_case_anova,
    ...                                      random_intercept_lmm, summarize_study)
    >>> rows = []
    >>> for rep in range(20):
    ...     data = simulate_dropout(effect=0.0, mechanism="mcar", seed=(2, rep))
    ...     for analyse in (complete_case_anova, random_intercept_lmm):
    ...         rows.append({"mechanism": "mcar", "effect": 0.0, "rep": rep,
    ...                      **analyse(data)})
    >>> summary = summarize_study(pd.DataFrame(rows))
    >>> summary[["method", "n_reps", "n_failed"]].to_string(index=False)
    '             method  n_reps  n_failed\\ncomplete-case ANOVA      20         0\\n      LMM, all rows      20         0'
    """
    require_columns(results, _STUDY_COLUMNS, "results")
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0 < alpha < 1:
        raise ValueError(f"alpha must be a significance level in (0, 1), got {alpha!r}")
    if len(results) == 0:
        raise ValueError("results is empty: run the simulation loop first")
    rows = []
    keys = ["mechanism", "effect", "method"]
    for (mechanism, effect, method), g in results.groupby(keys, sort=False):
        ok = g["estimate"].notna() & g["p"].notna()
        est, p = g.loc[ok, "estimate"].to_numpy(float), g.loc[ok, "p"].to_numpy(float)
        n = int(ok.sum())
        sd = float(np.std(est, ddof=1)) if n > 1 else np.nan
        rate = float(np.mean(p < alpha)) if n else np.nan
        rows.append({
            "mechanism": mechanism, "effect": effect, "method": method,
            "n_reps": n, "n_failed": int((~ok).sum()),
            "mean_estimate": float(est.mean()) if n else np.nan,
            "bias": float(est.mean() - effect) if n else np.nan,
            "bias_mcse": sd / np.sqrt(n) if n > 1 else np.nan,
            "emp_sd": sd,
            "mean_se": float(g.loc[ok, "se"].mean()) if "se" in g else np.nan,
            "rejection_rate": rate,
            "rejection_mcse": float(np.sqrt(rate * (1 - rate) / n)) if n else np.nan,
        })
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- figures
def plot_study(summary: pd.DataFrame, alpha: float = 0.05, units: str = "score units",
               bias_effect: float | None = None):
    """Bias and rejection rates by mechanism and method, with 95% Monte Carlo intervals.

    The first panel shows the bias of the change estimate for one true effect
    (``bias_effect``); then one panel per true effect shows the rejection
    rate: the Type I error rate where the effect is 0 (with ``alpha``
    marked), the power elsewhere. Error bars are ``± 1.96`` Monte Carlo
    standard errors.

    Parameters
    ----------
    summary : pandas.DataFrame
        What :func:`summarize_study` returns.
    alpha : float
        The significance level used, drawn as a reference line.
    units : str
        Units of the scores, for the bias axis label.
    bias_effect : float, optional
        The true effect whose bias is drawn; default: the last one in
        ``summary``. (When replicate ``r`` uses the same seed for every
        effect, the bias does not depend on the effect: dropout depends on
        each score's distance from its mean, and the draws are the same.)

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import pandas as pd
    >>> from helpers.studies.missing import (simulate_dropout, complete_case_anova,
    ...                                      random_intercept_lmm, summarize_study, plot_study)
    >>> rows = []
    >>> for mechanism in ["mcar", "mar"]:
    ...     for effect in [0.0, 0.5]:
    ...         for rep in range(10):
    ...             data = simulate_dropout(effect=effect, mechanism=mechanism, seed=(3, rep))
    ...             condition = {"mechanism": mechanism, "effect": effect, "rep": rep}
    ...             rows.append({**condition, **complete_case_anova(data)})
    ...             rows.append({**condition, **random_intercept_lmm(data)})
    >>> fig = plot_study(summarize_study(pd.DataFrame(rows)))
    >>> [ax.get_title() for ax in fig.axes]
    ['bias, true change = 0.5', 'Type I error, true change = 0', 'power, true change = 0.5']
    """
    import matplotlib.pyplot as plt

    need = ["mechanism", "effect", "method", "bias", "bias_mcse", "rejection_rate", "rejection_mcse"]
    require_columns(summary, need, "summary")
    effects = list(dict.fromkeys(summary["effect"]))
    if bias_effect is None:
        bias_effect = effects[-1]
    elif bias_effect not in effects:
        raise ValueError(f"bias_effect={bias_effect!r} is not among the effects of summary: {effects}")
    mechanisms = list(dict.fromkeys(summary["mechanism"]))
    methods = list(dict.fromkeys(summary["method"]))
    fig, axes = plt.subplots(1, 1 + len(effects), figsize=(3.3 * (1 + len(effects)) + 0.5, 3.8))
    offsets = np.linspace(-0.15, 0.15, len(methods)) if len(methods) > 1 else [0.0]
    markers = ["o", "s", "^", "D"]
    x = np.arange(len(mechanisms))

    def draw(ax, effect, value, mcse):
        for k, method in enumerate(methods):
            sub = (summary[(summary["effect"] == effect) & (summary["method"] == method)]
                   .set_index("mechanism").reindex(mechanisms))
            ax.errorbar(x + offsets[k], sub[value], yerr=1.96 * sub[mcse], marker=markers[k % 4],
                        linestyle="none", capsize=4, label=method, color=f"C{k}")
        ax.set_xticks(x, [m.upper() for m in mechanisms])
        ax.set_xlim(-0.5, len(mechanisms) - 0.5)
        ax.set_xlabel("dropout mechanism")

    draw(axes[0], bias_effect, "bias", "bias_mcse")
    axes[0].axhline(0, color="grey", lw=1, ls="--")
    axes[0].set_ylabel(f"bias of the change estimate ({units})")
    axes[0].set_title(f"bias, true change = {bias_effect:g}")
    axes[0].legend(frameon=False, fontsize="small")
    for ax, effect in zip(axes[1:], effects):
        draw(ax, effect, "rejection_rate", "rejection_mcse")
        if effect == 0:
            ax.set_title(f"Type I error, true change = {effect:g}")
            ax.axhline(alpha, color="grey", lw=1, ls="--")
            ax.set_ylabel(f"Type I error rate (share p < {alpha:g})")
        else:
            ax.set_title(f"power, true change = {effect:g}")
            ax.set_ylabel(f"power (share p < {alpha:g})")
    fig.tight_layout()
    return fig


def dropout_means(data: pd.DataFrame, dv: str = "y", within: str = "time",
                  subject: str = "subject", complete: str | None = "y_complete") -> pd.DataFrame:
    """Mean score at each level of ``within``, estimated four ways.

    Columns: ``no dropout`` (the mean of ``complete``, the scores before
    dropout; only in a simulation, left out when ``complete`` is None),
    ``complete cases`` (subjects with every score), ``all observed rows``
    (the mean of whoever is still there) and ``LMM`` (the fixed-effect
    estimates of the random-intercept model fitted to all observed rows).

    Parameters
    ----------
    data : pandas.DataFrame
        Long-format data with ``NaN`` in ``dv`` for missing scores.
    dv, within, subject : str
        Columns of the score, the within factor and the subject.
    complete : str or None
        Column of the complete scores, or None.

    Returns
    -------
    pandas.DataFrame
        Indexed by the sorted levels of ``within``.

    Examples
    --------
    >>> from helpers.studies.missing import simulate_dropout, dropout_means
    >>> df = simulate_dropout(n_subj=40, mechanism="mar", dropout=0.3, strength=2, seed=4)
    >>> dropout_means(df).round(2).columns.tolist()
    ['no dropout', 'complete cases', 'all observed rows', 'LMM']
    """
    Y, levels = _wide(data, dv, within, subject)
    out = {}
    if complete is not None:
        require_columns(data, [complete], "data")
        out["no dropout"] = data.groupby(within)[complete].mean().reindex(levels).to_numpy()
    cc = Y[~np.isnan(Y).any(axis=1)]
    out["complete cases"] = cc.mean(axis=0) if len(cc) else np.full(len(levels), np.nan)
    out["all observed rows"] = np.nanmean(Y, axis=0)
    observed = ~np.isnan(Y)
    s_idx, t_idx = np.nonzero(observed)
    _, s_idx = np.unique(s_idx, return_inverse=True)
    fit = _lmm_arrays(Y[observed], t_idx, s_idx, len(levels))
    beta = fit.get("_beta")
    if beta is None:
        out["LMM"] = np.full(len(levels), np.nan)
    else:
        out["LMM"] = beta[0] + np.concatenate([[0.0], beta[1:]])
    return pd.DataFrame(out, index=pd.Index(levels, name=within))


def plot_dropout_means(data: pd.DataFrame, true_means=None, ax=None, title: str | None = None,
                       ylabel: str = "mean score", xlabel: str = "time point", **kw):
    """Plot :func:`dropout_means` over time, with the true means if given.

    Parameters
    ----------
    data : pandas.DataFrame
        As for :func:`dropout_means`.
    true_means : sequence of float, optional
        The population means (known in a simulation), drawn as a dashed line.
    ax : matplotlib Axes, optional
        Where to draw; a new figure if None.
    title, ylabel, xlabel : str
        Labels.
    **kw
        Passed to :func:`dropout_means` (``dv``, ``within``, ``subject``,
        ``complete``).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> from helpers.studies.missing import simulate_dropout, plot_dropout_means
    >>> df = simulate_dropout(n_subj=40, mechanism="mar", seed=4)
    >>> ax = plot_dropout_means(df, true_means=[0, 1/6, 2/6, 0.5])
    >>> len(ax.lines)
    5
    """
    import matplotlib.pyplot as plt

    table = dropout_means(data, **kw)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.8))
    x = np.arange(len(table))
    if true_means is not None:
        tm = np.asarray(true_means, dtype=float)
        if tm.shape != (len(table),):
            raise ValueError(f"true_means must hold {len(table)} numbers, one per level, "
                             f"got shape {tm.shape}")
        ax.plot(x, tm, color="black", ls="--", lw=1.5, label="true means")
    styles = {"no dropout": dict(color="grey", marker=".", lw=1),
              "complete cases": dict(color="C0", marker="o"),
              "all observed rows": dict(color="C2", marker="^"),
              "LMM": dict(color="C1", marker="s")}
    for col in table.columns:
        ax.plot(x, table[col], label=col, **styles.get(col, {}))
    ax.set_xticks(x, table.index.tolist())
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    return ax
