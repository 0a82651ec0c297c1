"""Type III F tests with Satterthwaite degrees of freedom for statsmodels MixedLM.

statsmodels reports Wald *z* tests for single coefficients only.  This module
adds what ``lmerTest::anova(model, type = 3)`` gives in R: one F test per
fixed-effect term, with the denominator degrees of freedom approximated by
Satterthwaite's method.

How it works (the same steps as lmerTest 3.1):

* **Hypotheses.**  The Type III contrast matrix of each term is built as in
  lmerTest's ``get_contrasts_type3``: the design is re-coded with treatment
  contrasts, every column is expressed in the over-parametrised
  (all-levels dummy) design, each term's contrasts are made orthogonal to the
  terms that contain it (highest order first), and the result is mapped back
  to the coding that the model actually uses.  The tests therefore do not
  depend on the contrast coding of the formula (``C(a)`` or ``C(a, Sum)``).
* **Variance parameters.**  lme4's parametrisation ``varpar = (theta, sigma)``:
  ``theta`` holds the relative Cholesky factors of the random-effect
  covariance matrices (standard deviations divided by the residual standard
  deviation for a variance component), ``sigma`` is the residual standard
  deviation.  The (REML or ML) deviance and ``Cov(beta_hat)`` are written as
  functions of ``varpar`` and differentiated numerically with Richardson
  extrapolation (the algorithm of R's ``numDeriv``, as lmerTest does).
* **Satterthwaite.**  For a one-row contrast ``l``, ``nu = 2 (l'Vl)^2 / (g'Ag)``
  with ``g`` the gradient of ``l'V(varpar)l`` and ``A = 2 H^-1`` (``H`` the
  Hessian of the deviance).  A multi-row hypothesis is split into orthogonal
  one-row contrasts through the eigen-decomposition of ``L V L'`` and the
  ``nu_m`` are combined as in lmerTest's ``get_Fstat_ddf``.
"""
from __future__ import annotations

import warnings
from collections import OrderedDict

import numpy as np
import pandas as pd
from scipy import stats

from ._checks import fitted_result

__all__ = ["anova", "type3_contrasts"]

# Step sizes of the numerical derivatives.  lmerTest calls R's numDeriv with
# Richardson extrapolation (4 halvings of the step), as done here, but with a
# step of 1e-4 * |x|; lme4's deviance is accurate enough for that, a deviance
# assembled from cross-products is not (round-off then moves the degrees of
# freedom by up to a few percent).  The deviance is analytic in (theta, sigma),
# so a larger first step with the same extrapolation is both stable and
# accurate: 1e-2 * |x|, and at least 1e-3 for the dimensionless theta.
_ND_D = 1e-2
_ND_THETA_FLOOR = 1e-3
_ND_R = 4
_ND_V = 2.0

# A relative standard deviation (theta) below this is treated as exactly 0,
# the boundary value that lme4 reports; statsmodels stops at 1e-5 or so.
_THETA_ZERO = 1e-5


# ---------------------------------------------------------------------------
# input checks
# ---------------------------------------------------------------------------
# ---------------------------------------------------------------------------
# numerical derivatives (a port of numDeriv's Richardson extrapolation)
# ---------------------------------------------------------------------------
def _nd_steps(x):
    """First step for each coordinate of varpar = (theta..., sigma)."""
    x = np.asarray(x, dtype=float)
    floor = np.full(len(x), _ND_THETA_FLOOR)
    floor[-1] = 0.0  # sigma is in the units of the data, and always > 0
    return np.maximum(np.abs(_ND_D * x), floor)


def _richardson(a):
    """Richardson-extrapolate along axis 0 (successive halvings of the step)."""
    a = np.array(a, dtype=float)
    for m in range(1, _ND_R):
        a = (a[1:] * 4.0**m - a[:-1]) / (4.0**m - 1.0)
    return a[0]


def _jacobian(func, x):
    """Jacobian of a vector-valued ``func`` at ``x`` (numDeriv's Richardson scheme)."""
    x = np.asarray(x, dtype=float)
    n = len(x)
    h0 = _nd_steps(x)
    cols = []
    for i in range(n):
        approx = []
        h = h0.copy()
        for _ in range(_ND_R):
            e = np.zeros(n)
            e[i] = h[i]
            approx.append((np.ravel(func(x + e)) - np.ravel(func(x - e))) / (2 * h[i]))
            h = h / _ND_V
        cols.append(_richardson(approx))
    return np.column_stack(cols)


def _hessian(func, x):
    """Hessian of a scalar ``func`` at ``x`` (numDeriv's genD scheme)."""
    x = np.asarray(x, dtype=float)
    n = len(x)
    f0 = func(x)
    h0 = _nd_steps(x)
    hdiag = np.zeros(n)
    for i in range(n):
        approx = []
        h = h0.copy()
        for _ in range(_ND_R):
            e = np.zeros(n)
            e[i] = h[i]
            approx.append((func(x + e) - 2 * f0 + func(x - e)) / h[i] ** 2)
            h = h / _ND_V
        hdiag[i] = _richardson(approx)
    hess = np.diag(hdiag)
    for i in range(n):
        for j in range(i):
            approx = []
            h = h0.copy()
            for _ in range(_ND_R):
                e = np.zeros(n)
                e[i] = h[i]
                e[j] = h[j]
                approx.append(
                    (func(x + e) - 2 * f0 + func(x - e) - hdiag[i] * h[i] ** 2 - hdiag[j] * h[j] ** 2)
                    / (2 * h[i] * h[j])
                )
                h = h / _ND_V
            hess[i, j] = hess[j, i] = _richardson(approx)
    return hess


# ---------------------------------------------------------------------------
# the deviance and Cov(beta) as functions of lme4's (theta, sigma)
# ---------------------------------------------------------------------------
def _chol_psd(s):
    """Lower Cholesky factor of a positive semi-definite matrix.

    A pivot that is (numerically) zero gives a zero column, as at lme4's
    boundary, instead of an error.
    """
    s = np.asarray(s, dtype=float)
    k = s.shape[0]
    lo = np.zeros((k, k))
    scale = max(np.max(np.abs(np.diag(s))), 1.0)
    for j in range(k):
        d = s[j, j] - lo[j, :j] @ lo[j, :j]
        if d <= 1e-12 * scale:
            continue
        lo[j, j] = np.sqrt(d)
        for i in range(j + 1, k):
            lo[i, j] = (s[i, j] - lo[i, :j] @ lo[j, :j]) / lo[j, j]
    return lo


def _dense(a):
    return a.toarray() if hasattr(a, "toarray") else np.asarray(a, dtype=float)


class _VarParModel:
    """Deviance and ``Cov(beta_hat)`` of a fitted MixedLM as functions of varpar.

    ``varpar`` holds lme4's ``theta`` (free elements only) followed by the
    residual standard deviation ``sigma``.  Groups with the same layout of
    random-effect columns are stacked so that one evaluation is a handful of
    batched numpy calls whatever the number of groups.
    """

    def __init__(self, res):
        model = res.model
        self.reml = bool(res.reml)
        self.k_re = int(model.k_re)
        self.k_vc = int(model.k_vc)
        x = np.asarray(model.exog, dtype=float)
        # Work with y - X b0 (b0 = the fixed-effect estimates): the same GLS
        # residuals and deviance, but the cross-products stay of the size of
        # the residual sum of squares, so that the numerical derivatives are
        # not swamped by round-off from large sums such as y'y.
        self.b0 = np.asarray(res.fe_params, dtype=float)
        y = np.asarray(model.endog, dtype=float) - x @ self.b0
        self.n, self.p = x.shape
        xy = np.column_stack([x, y])
        self.xy_cross = xy.T @ xy

        # Z_i' [X_i y_i] and Z_i'Z_i per group, batched by column layout.
        batches: dict[tuple, list] = {}
        for gi, g in enumerate(model.group_labels):
            rows = np.asarray(model.row_indices[g])
            blocks = []
            if self.k_re > 0:
                blocks.append(np.asarray(model.exog_re_li[gi], dtype=float))
            for j in range(self.k_vc):
                blocks.append(_dense(model.exog_vc.mats[j][gi]))
            layout = tuple(b.shape[1] for b in blocks)
            z = np.column_stack(blocks) if blocks else np.zeros((len(rows), 0))
            batches.setdefault(layout, []).append((z.T @ z, z.T @ xy[rows]))
        self.batches = [
            (layout, np.stack([b[0] for b in items]), np.stack([b[1] for b in items]))
            for layout, items in batches.items()
        ]

        # theta at the estimate: relative Cholesky factor of cov_re, then the
        # relative standard deviations of the variance components.
        scale = float(res.scale)
        if self.k_re > 0:
            cov_rel = np.asarray(res.cov_re, dtype=float) / scale
            tri = _chol_psd(cov_rel)
        else:
            tri = np.zeros((0, 0))
        vc_rel = np.asarray(res.vcomp, dtype=float).ravel() / scale if self.k_vc else np.zeros(0)
        vc_theta = np.sqrt(np.clip(vc_rel, 0.0, None))

        # which elements are estimated (statsmodels' `free` pattern)
        il = np.tril_indices(self.k_re)  # row-major lower triangle
        # lme4 orders theta column by column; the order does not change the
        # result, but keep lme4's for easier comparison.
        order = np.lexsort((il[0], il[1]))
        self.tri_idx = (il[0][order], il[1][order])
        free_tri = np.ones(len(order), dtype=bool)
        free_vc = np.ones(self.k_vc, dtype=bool)
        freepat = getattr(res, "freepat", None)
        if freepat is not None:
            if self.k_re > 0:
                free_tri = np.asarray(freepat.cov_re)[self.tri_idx] != 0
            if self.k_vc > 0:
                free_vc = np.asarray(freepat.vcomp).ravel() != 0
        theta_all = np.concatenate([tri[self.tri_idx], vc_theta])
        # Estimates that are numerically zero are set to the boundary value 0.
        diag_pos = np.concatenate([self.tri_idx[0] == self.tri_idx[1], np.ones(self.k_vc, bool)])
        self.diag_pos = diag_pos
        theta_all = np.where(diag_pos & (np.abs(theta_all) < _THETA_ZERO), 0.0, theta_all)
        self.theta_all = theta_all
        self.free = np.concatenate([free_tri, free_vc])
        self.varpar_hat = np.concatenate([theta_all[self.free], [np.sqrt(scale)]])

    # -- pieces --------------------------------------------------------------
    def _theta(self, varpar):
        theta = self.theta_all.copy()
        theta[self.free] = varpar[:-1]
        return theta

    def _lambda(self, theta, layout):
        """Relative covariance factor Lambda for one group layout."""
        q = sum(layout)
        lam = np.zeros((q, q))
        pos = 0
        ntri = len(self.tri_idx[0])
        if self.k_re > 0:
            t = np.zeros((self.k_re, self.k_re))
            t[self.tri_idx] = theta[:ntri]
            lam[: self.k_re, : self.k_re] = t
            pos = self.k_re
            blocks = layout[1:]
        else:
            blocks = layout
        for j, width in enumerate(blocks):
            idx = np.arange(pos, pos + width)
            lam[idx, idx] = theta[ntri + j]
            pos += width
        return lam

    def _cross(self, varpar):
        """[X y]' V~^-1 [X y] and log|V~| with V~ = I + Z Lambda Lambda' Z'."""
        theta = self._theta(np.asarray(varpar, dtype=float))
        s = self.xy_cross.copy()
        logdet = 0.0
        for layout, ztz, ztxy in self.batches:
            q = sum(layout)
            if q == 0:
                continue
            lam = self._lambda(theta, layout)
            m = lam.T @ ztz @ lam + np.eye(q)          # (groups, q, q)
            c = lam.T @ ztxy                           # (groups, q, p + 1)
            _, ld = np.linalg.slogdet(m)
            logdet += float(np.sum(ld))
            s -= np.sum(np.swapaxes(c, 1, 2) @ np.linalg.solve(m, c), axis=0)
        return s, logdet

    def deviance(self, varpar):
        """-2 log-likelihood (REML or ML) at varpar, beta at its GLS value."""
        varpar = np.asarray(varpar, dtype=float)
        sigma2 = varpar[-1] ** 2
        s, logdet = self._cross(varpar)
        p = self.p
        xvx, xvy, yvy = s[:p, :p], s[:p, p], s[p, p]
        beta = np.linalg.solve(xvx, xvy)
        rss = yvy - xvy @ beta
        dev = logdet + rss / sigma2 + self.n * np.log(2 * np.pi * sigma2)
        if self.reml:
            dev += np.linalg.slogdet(xvx)[1] - p * np.log(2 * np.pi * sigma2)
        return dev

    def covbeta(self, varpar):
        """Cov(beta_hat) = sigma^2 (X' V~^-1 X)^-1 at varpar."""
        varpar = np.asarray(varpar, dtype=float)
        s, _ = self._cross(varpar)
        p = self.p
        return varpar[-1] ** 2 * np.linalg.inv(s[:p, :p])

    def gls_beta(self, varpar):
        s, _ = self._cross(np.asarray(varpar, dtype=float))
        p = self.p
        return self.b0 + np.linalg.solve(s[:p, :p], s[:p, p])


class _Satterthwaite:
    """What lmerTest stores in an ``lmerModLmerTest`` object."""

    def __init__(self, res, tol=1e-8):
        self.vp = _VarParModel(res)
        x0 = self.vp.varpar_hat
        self.beta = np.asarray(res.fe_params, dtype=float)
        self.vcov_beta = self.vp.covbeta(x0)
        self.deviance = self.vp.deviance(x0)
        h = _hessian(self.vp.deviance, x0)
        evals, evecs = np.linalg.eigh(h)
        if np.any(evals < -tol):
            warnings.warn(
                "the Hessian of the deviance with respect to the variance parameters "
                f"has negative eigenvalue(s) {evals[evals < -tol]}: the fit may not have "
                "converged and the Satterthwaite degrees of freedom may be unreliable. "
                "Try helpers.core.fitting.fit_all(model) to compare optimizers.",
                UserWarning,
                stacklevel=3,
            )
        pos = evals > tol
        h_inv = (evecs[:, pos] / evals[pos]) @ evecs[:, pos].T
        self.vcov_varpar = 2 * h_inv
        jac = _jacobian(lambda v: self.vp.covbeta(v).ravel(), x0)
        p = len(self.beta)
        self.jac_list = [jac[:, i].reshape(p, p) for i in range(jac.shape[1])]

    def ddf_1d(self, l):
        var_con = l @ self.vcov_beta @ l
        grad = np.array([l @ j @ l for j in self.jac_list])
        denom = grad @ self.vcov_varpar @ grad
        with np.errstate(divide="ignore", invalid="ignore"):
            return 2 * var_con**2 / denom

    def test(self, L, eps=np.sqrt(np.finfo(float).eps)):
        """F test of L beta = 0 as lmerTest's contestMD: (NumDF, DenDF, F, p)."""
        L = np.atleast_2d(L)
        if L.shape[0] == 1:
            l = L[0]
            t2 = (l @ self.beta) ** 2 / (l @ self.vcov_beta @ l)
            ddf = self.ddf_1d(l)
            return 1, ddf, t2, _f_sf(t2, 1, ddf)
        vl = L @ self.vcov_beta @ L.T
        d, P = np.linalg.eigh(vl)
        d, P = d[::-1], P[:, ::-1]  # decreasing, as R's eigen()
        tol = max(eps * d[0], 0)
        q = int(np.sum(d > tol))
        if q == 0:
            return 0, np.nan, np.nan, np.nan
        ptl = (P.T @ L)[:q]
        if q == 1:
            return self.test(ptl)
        t2 = (ptl @ self.beta) ** 2 / d[:q]
        fval = t2.sum() / q
        nu = np.array([self.ddf_1d(ptl[m]) for m in range(q)])
        ddf = _fstat_ddf(nu)
        return q, ddf, fval, _f_sf(fval, q, ddf)


def _f_sf(fval, q, ddf):
    """P(F(q, ddf) > fval); the chi-square limit when ddf is infinite."""
    if np.isinf(ddf):
        return float(stats.chi2.sf(q * fval, q))
    return float(stats.f.sf(fval, q, ddf))


def _fstat_ddf(nu, tol=1e-8):
    """lmerTest's get_Fstat_ddf: combine one-row Satterthwaite df."""
    nu = np.asarray(nu, dtype=float)
    if len(nu) == 1:
        return float(nu[0])
    if np.all(np.abs(np.diff(nu)) < tol):
        return float(np.mean(nu))
    if np.any(nu <= 2):
        return 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        e = np.sum(np.where(np.isinf(nu), 1.0, nu / (nu - 2)))
        return float(2 * e / (e - len(nu))) if e > len(nu) else float("inf")


# ---------------------------------------------------------------------------
# Type III contrasts, as lmerTest's get_contrasts_type3
# ---------------------------------------------------------------------------
def _zapsmall(a, digits=7):
    """R's zapsmall(): round relative to the largest absolute entry."""
    a = np.asarray(a, dtype=float)
    if a.size == 0:
        return a
    mx = np.max(np.abs(a))
    if not np.isfinite(mx) or mx == 0:
        return a
    return np.round(a, int(max(0, digits - np.ceil(np.log10(mx)))))


def _design_info(model):
    spec = getattr(model.data, "model_spec", None)
    if spec is None:
        spec = getattr(model.data, "design_info", None)
    try:
        from patsy import DesignInfo
    except ImportError:  # pragma: no cover - patsy is a statsmodels dependency
        DesignInfo = ()
    if not isinstance(spec, DesignInfo):
        raise ValueError(
            "anova needs the terms of the fixed-effects formula, but this model "
            f"carries no patsy design information (got {type(spec).__name__}). "
            "Build the model from a formula with the patsy engine, e.g. "
            "smf.mixedlm('y ~ a*b', data, groups='subject')."
        )
    return spec


def _recoded_matrix(design_info, frame, nrows, coding):
    """Rebuild the fixed-effects design with every factor re-coded.

    coding = "treatment": treatment contrasts (first level as reference) in
    the subterms that patsy coded with contrasts, full dummies elsewhere.
    coding = "full": one term-block per term with all-level dummies (R's
    ``model.matrix(~ 0 + term)``), the over-parametrised design of lmerTest.
    """
    from patsy import DesignInfo, build_design_matrices
    from patsy.contrasts import ContrastMatrix
    from patsy.design_info import SubtermInfo

    term_codings = OrderedDict()
    names = []
    for term, subterms in design_info.term_codings.items():
        if coding == "full":
            if not term.factors:
                new = [SubtermInfo((), {}, 1)]
            else:
                mats = {}
                ncol = 1
                for f in term.factors:
                    info = design_info.factor_infos[f]
                    if info.type == "categorical":
                        k = len(info.categories)
                        mats[f] = ContrastMatrix(np.eye(k), [f"[{c}]" for c in info.categories])
                        ncol *= k
                    else:
                        ncol *= info.num_columns
                new = [SubtermInfo(tuple(term.factors), mats, ncol)]
        else:
            new = []
            for st in subterms:
                mats = {}
                for f, cm in st.contrast_matrices.items():
                    k = len(design_info.factor_infos[f].categories)
                    width = np.asarray(cm.matrix).shape[1]
                    if width == k:
                        mats[f] = ContrastMatrix(np.eye(k), [f"[{i}]" for i in range(k)])
                    elif width == k - 1:
                        mats[f] = ContrastMatrix(np.eye(k)[:, 1:], [f"[T{i}]" for i in range(1, k)])
                    else:
                        raise ValueError(
                            f"cannot build Type III tests for term {term.name()!r}: factor "
                            f"{f.name()} is coded with {width} columns for {k} levels. "
                            "Use a full-rank contrast coding (treatment or sum)."
                        )
                new.append(SubtermInfo(st.factors, mats, st.num_columns))
        term_codings[term] = new
        for st in new:
            names.extend(f"{term.name()}#{len(names)}_{i}" for i in range(st.num_columns))
    info = DesignInfo(names, factor_infos=design_info.factor_infos, term_codings=term_codings)
    mat = np.asarray(build_design_matrices([info], frame, NA_action="drop")[0], dtype=float)
    if mat.shape[0] != nrows:
        raise ValueError(
            "cannot rebuild the fixed-effects design from the model's data "
            f"({mat.shape[0]} rows instead of {nrows}); drop rows with missing values "
            "before building the model."
        )
    return mat, info


def _term_slices(info):
    return OrderedDict((t, info.term_slices[t]) for t in info.terms)


def type3_contrasts(result):
    """Type III hypothesis matrices, one per fixed-effect term, as lmerTest builds them.

    Parameters
    ----------
    result : statsmodels MixedLMResults
        A fit of a model built with ``MixedLM.from_formula`` / ``smf.mixedlm``.

    Returns
    -------
    dict
        term name -> ndarray (rows x number of fixed effects); each term's
        Type III hypothesis is ``L @ fe_params = 0``, in the model's own coding.
    """
    res = fitted_result(result, "anova")
    return _type3_contrasts(res.model)


def _doolittle_lower(x, eps=1e-6):
    """Unit lower-triangular factor of the LU (Doolittle) decomposition of ``x``, without
    pivoting, with lmerTest's zeroing of tiny entries."""
    n = x.shape[0]
    low, up = np.eye(n), np.zeros((n, n))
    for i in range(n):
        up[i, :] = x[i, :] - low[i, :i] @ up[:i, :]
        for j in range(i + 1, n):
            value = x[j, i] - low[j, :i] @ up[:i, i]
            low[j, i] = 0.0 if abs(up[i, i]) < eps else value / up[i, i]
    low[np.abs(low) < eps] = 0.0
    return low


def _type1_contrasts(di, x, terms):
    """lmerTest's get_contrasts_type1: rows of t(L) of the Doolittle factor of X'X."""
    p = x.shape[1]
    lt = np.ones((1, 1)) if p == 1 else _doolittle_lower(x.T @ x).T
    return OrderedDict((t.name(), lt[di.term_slices[t], :]) for t in terms)


def _type3_contrasts(model):
    di = _design_info(model)
    x_orig = np.asarray(model.exog, dtype=float)
    n, p = x_orig.shape
    frame = model.data.frame

    x_treat, info_t = _recoded_matrix(di, frame, n, "treatment")
    rdx, info_f = _recoded_matrix(di, frame, n, "full")
    # sanity: the treatment-coded design spans the model's design
    if np.linalg.matrix_rank(x_orig) < p:
        raise ValueError(
            "the fixed-effects design matrix is rank deficient (some columns are "
            "aliased, e.g. an empty cell of the design); Type III tests are not "
            "defined. Simplify the fixed effects or check the design with "
            "helpers.describe_design."
        )
    if np.linalg.matrix_rank(np.column_stack([x_treat, x_orig])) > p:
        raise ValueError(
            "cannot map the model's contrast coding onto treatment coding; "
            "the design could not be rebuilt from model.data.frame."
        )

    terms = [t for t in di.terms if t.factors]
    if len(terms) <= 1 or p <= 1:
        # lmerTest's get_contrasts_type3 falls back to the Type I (Doolittle) contrasts
        # when the model has a single term; the F is the same either way, but the
        # Satterthwaite df of a multi-row test depend on the rows chosen.
        return _type1_contrasts(di, x_orig, terms)
    slices_t = _term_slices(info_t)
    col_of = {t: np.arange(slices_t[t].start, slices_t[t].stop) for t in di.terms}

    x_pinv = np.linalg.pinv(x_treat)
    b = x_pinv @ rdx                        # beta_t = b @ gamma (gamma: rdX coefficients)
    L = _zapsmall(b.T)                      # columns: estimable functions in gamma space

    # containment as lmerTest's term_contain()
    def vars_of(t):
        return set(t.factors)

    def numerics_of(t):
        return {f for f in t.factors if di.factor_infos[f].type == "numerical"}

    def contains(t1, t2):
        return (
            vars_of(t1) < vars_of(t2) and numerics_of(t1) == numerics_of(t2)
        )

    order = sorted(range(len(terms)), key=lambda i: -len(terms[i].factors))  # stable
    for i in order:
        term = terms[i]
        cont = [t for t in terms if contains(term, t)]
        if not cont:
            continue
        cols_c = np.concatenate([col_of[t] for t in cont])
        xc = L[:, cols_c]
        yc = L[:, col_of[term]]
        coef, *_ = np.linalg.lstsq(xc, yc, rcond=None)
        L[:, col_of[term]] = _zapsmall(yc - xc @ coef)

    # back to beta_t coordinates (b has full row rank: b @ pinv(b) = I), then
    # to the model's own coding: beta_t = M beta_orig with M = pinv(X_t) X_orig.
    b_pinv = np.linalg.pinv(b)
    mapping = _zapsmall(x_pinv @ x_orig)
    out = OrderedDict()
    for term in terms:
        lt = L[:, col_of[term]].T @ b_pinv
        lo = lt @ mapping
        lo = lo[np.sum(np.abs(lo), axis=1) > 1e-8]
        out[term.name()] = lo
    return out


# ---------------------------------------------------------------------------
# public
# ---------------------------------------------------------------------------
def anova(result) -> pd.DataFrame:
    """Type III F tests with Satterthwaite degrees of freedom, like lmerTest.

    The statsmodels counterpart of ``anova(lmer_fit, type = 3)`` from R's
    lmerTest package (default ``ddf = "Satterthwaite"``): one F test per
    fixed-effect term.  The answer does not depend on the contrast coding of
    the formula, works for REML and ML fits, for random intercepts, random
    slopes and variance components, and stays finite when a variance is
    estimated at zero.

    Parameters
    ----------
    result : statsmodels MixedLMResults
        A fitted model built with ``smf.mixedlm`` / ``MixedLM.from_formula``
        (the terms of the formula are needed).

    Returns
    -------
    pandas.DataFrame
        One row per fixed-effect term (the intercept is not tested), in R's order
        (main effects first, then two-way interactions and so on, each in the
        order of the formula, as lmerTest and afex list them), indexed by the
        term names as patsy writes them, with columns

        ``NumDF``  numerator degrees of freedom (rank of the hypothesis),
        ``DenDF``  Satterthwaite denominator degrees of freedom,
        ``F``      the F statistic ``(L b)' (L V L')^-1 (L b) / NumDF``,
        ``p``      ``P(F(NumDF, DenDF) > F)``.

    Raises
    ------
    ValueError
        If ``result`` is not a MixedLM fit, the model was not built from a
        formula, the fixed-effects design is rank deficient, or a term has no
        testable Type III hypothesis (the message names the term).

    Notes
    -----
    ``V = Cov(b)`` is ``sigma^2 (X' (I + Z Lambda Lambda' Z')^-1 X)^-1`` at the
    estimate, which is what lme4's ``vcov()`` returns; statsmodels' own
    standard errors can differ slightly in unbalanced designs because they
    come from the joint Hessian of all parameters.  The variance parameters
    are lme4's ``(theta, sigma)``; derivatives are taken numerically as
    lmerTest does, so the numbers agree with lmerTest up to optimizer
    precision.  A relative standard deviation below 1e-5 is treated as 0.

    Examples
    --------
    >>> import warnings
    >>> import statsmodels.formula.api as smf
    >>> import helpers
    >>> from helpers.core.inference import anova
    >>> df = helpers.load("seed_toy")
    >>> model = smf.mixedlm("dependent_var ~ C(Condition_1)*C(Condition_2)",
    ...                     df, groups="participant_ID")
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")     # variance on the boundary
    ...     result = model.fit(reml=True)
    >>> table = anova(result)
    >>> list(table.columns)
    ['NumDF', 'DenDF', 'F', 'p']
    >>> table.round(3)
                                   NumDF  DenDF      F      p
    C(Condition_1)                     1   12.0  0.482  0.501
    C(Condition_2)                     1   12.0  0.092  0.767
    C(Condition_1):C(Condition_2)      1   12.0  0.396  0.541

    The same table with sum-to-zero coding, ``C(Condition_1, Sum)`` etc.,
    and the same numbers as ``anova(lmer(...), type = 3)`` in R.
    """
    from ..engine.results import LmerResult

    if isinstance(result, LmerResult):
        from ..engine.satterthwaite import anova as lmer_anova

        return lmer_anova(result)
    res = fitted_result(result, "anova")
    contrasts = _type3_contrasts(res.model)
    if not contrasts:
        return pd.DataFrame(
            {"NumDF": pd.Series(dtype=int), "DenDF": pd.Series(dtype=float),
             "F": pd.Series(dtype=float), "p": pd.Series(dtype=float)}
        )
    sat = _Satterthwaite(res)
    rows = {}
    for name, L in contrasts.items():
        if L.shape[0] == 0:
            raise ValueError(
                f"term {name!r} cannot be tested: its Type III hypothesis is empty "
                "(the term is aliased with other terms, e.g. because of empty cells). "
                "Simplify the fixed effects or check the design."
            )
        q, ddf, fval, pval = sat.test(L)
        if q == 0:
            raise ValueError(
                f"term {name!r} cannot be tested: L V L' has no positive eigenvalue "
                "(the covariance of its estimates is zero or undefined)."
            )
        rows[name] = {"NumDF": int(q), "DenDF": float(ddf), "F": float(fval), "p": float(pval)}
    table = pd.DataFrame.from_dict(rows, orient="index")[["NumDF", "DenDF", "F", "p"]]
    return table.loc[_formula_order(res.model, list(table.index))]


def _formula_order(model, names):
    """``names`` in the order R's ``terms()`` gives them, as lmerTest and afex print them.

    R sorts the terms of a formula by their order of interaction (main effects, then
    two-way interactions, ...) and, within an order, by where they first appear in the
    expanded formula: ``a*b + c`` gives ``a, b, c, a:b``. patsy keeps the expansion order
    (``a, b, a:b, c``) and puts categorical terms before numeric ones in the design.
    """
    from patsy import ModelDesc

    formula = getattr(model, "formula", None)
    if not isinstance(formula, str):
        return names
    written = ModelDesc.from_formula(formula).rhs_termlist
    position = {t.name(): (len(t.factors), i) for i, t in enumerate(written)}
    last = (float("inf"), len(written))
    return sorted(names, key=lambda n: position.get(n, last))
