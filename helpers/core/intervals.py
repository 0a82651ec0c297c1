"""Confidence intervals for every parameter of a linear mixed model, and R².

* :func:`confint` is lme4's ``confint(m, oldNames = FALSE)``: profile-likelihood
  intervals (the default), parametric-bootstrap percentile intervals
  (``bootMer(use.u = FALSE, type = "parametric")``) or Wald intervals, for the
  random-effect standard deviations and correlations, the residual standard
  deviation ``sigma`` and the fixed effects.
* :func:`profile` is lme4's ``profile(m)``: the curve behind the profile intervals,
  the signed root deviance ζ against each parameter's value, for a plot.
* :func:`r2` is Nakagawa and Schielzeth's (2013) marginal and conditional R²,
  with Johnson's (2014) extension to random slopes, as ``performance::r2_nakagawa``
  computes it for a Gaussian ``lmer`` fit and for a binomial (logit) or Poisson
  (log) ``glmer`` fit.

Both accept a statsmodels MixedLM fit (``helpers.mixedlm(...).fit()``), a
``helpers.lmer`` fit and a ``helpers.glmer`` fit (profiled on its Laplace deviance of
(θ, β), see :class:`_GlmerProfile`). For a linear model everything a profile needs is
the profiled deviance as a function of lme4's θ (the relative Cholesky factors), read
from the cross-products of either kind of fit: ``log|L|²``, the penalized residual sum
of squares ``r²(θ)``, ``β̂(θ)`` and ``(X'V⁻¹X)⁻¹`` (σ-free).

**How lme4 profiles** (``profile.merMod`` and ``devfun2`` in lme4 1.1-31):
the fit is first refitted by maximum likelihood (``refitML``), whatever its
criterion, and every parameter, fixed effects included, is profiled on the ML
deviance. The variance parameters are profiled on the standard deviation and
correlation scale (``prof.scale = "sdcor"``): the deviance is a function of
(sd, cor, ..., sigma), β at its conditional estimate, minimised over the other
variance parameters. A fixed effect ``β_j`` is profiled by fixing it (an offset)
and minimising the ML deviance over θ, σ and the other fixed effects. lme4
then interpolates the signed square root of the deviance difference (ζ) with
splines; here the limits are roots of ``ζ(x) = ±z`` found by bracketing and
Brent's method on the profiled deviance itself. A limit that the profile does
not reach before the parameter's bound (0 for a standard deviation, ±1 for a
correlation) is that bound, as in lme4 (``confint.thpr``).
"""
from __future__ import annotations

import copy
import math
import warnings

import numpy as np
import pandas as pd
import scipy.optimize as so
from scipy import stats

from ._checks import fitted_result

__all__ = ["confint", "profile", "r2"]

_METHODS = ("profile", "boot", "Wald")


# --------------------------------------------------------------------------------------
# The two kinds of fit, behind one interface
# --------------------------------------------------------------------------------------

class _Block:
    """One random-effects term: grouping factor, effect names, where its θ sit.

    ``idx[r, c]`` is the position in θ of element (r, c) of the term's T (lower
    triangle), -1 where there is none (a covariance the fit does not estimate).
    """

    def __init__(self, group, cnames, idx, n_levels):
        self.group = str(group)
        self.cnames = [str(c) for c in cnames]
        self.idx = np.asarray(idx, dtype=np.int64)
        self.n_levels = int(n_levels)
        self.p = len(self.cnames)

    def entries(self):
        """(r, c) of the estimated entries, lower triangle column by column (lme4's order)."""
        return [(r, c) for c in range(self.p) for r in range(c, self.p)
                if self.idx[r, c] >= 0]

    def name(self, r, c):
        if r == c:
            return f"sd_{self.cnames[r]}|{self.group}"
        return f"cor_{self.cnames[r]}.{self.cnames[c]}|{self.group}"


def _lme4_order(blocks):
    """lme4's order of terms: by decreasing number of levels (``rev(order(nl))``, which
    reverses ties) unless they are already in non-increasing order."""
    nl = np.array([b.n_levels for b in blocks])
    if np.any(np.diff(nl) > 0):
        order = np.argsort(nl, kind="stable")[::-1]
        return [blocks[i] for i in order]
    return list(blocks)


class _LmerFit:
    """A ``helpers.lmer`` fit seen through :class:`_Backend`'s methods."""

    kind = "lmer"
    has_sigma = True

    def __init__(self, result):
        self.result = result
        model = result.model
        self.model = model
        self.n, self.p = model.n, model.p
        self.reml = bool(result.reml)
        self.theta = np.asarray(result.theta, dtype=float)
        self.lower = np.asarray(model.lower, dtype=float)
        self.sigma = float(result.sigma)
        self.beta = result.fe_params.to_numpy()
        self.fixed_names = list(result.exog_names)
        self.vcov = result.vcov.to_numpy()
        blocks = []
        for i, t in enumerate(model.terms):
            idx = -np.ones((t.p, t.p), dtype=np.int64)
            r, c = model._tri[i]
            idx[r, c] = np.arange(model.theta_slices[i].start, model.theta_slices[i].stop)
            blocks.append(_Block(t.group, t.cnames, idx, t.n_levels))
        self.blocks = blocks  # helpers.lmer already orders its terms as lme4 does

    def pieces(self, theta):
        """``(log|L|², r², β̂, (X'V⁻¹X)⁻¹ σ-free)`` at θ."""
        from ..engine.model import _solve_lower

        f = self.model.factor(theta)
        RXinv = _solve_lower(f.RX, np.eye(self.p))
        return f.ldL2, f.r2, f.beta, RXinv.T @ RXinv


class _StatsmodelsFit:
    """A statsmodels MixedLM fit seen through the same methods (lme4's θ in the layout of
    :class:`helpers.core.inference._VarParModel`: the ``cov_re`` factor, then one θ per
    variance component)."""

    kind = "statsmodels"
    has_sigma = True

    def __init__(self, result):
        from .inference import _VarParModel
        from .varcorr import varcorr

        res = fitted_result(result, "confint")
        self.result = res
        vp = _VarParModel(res)
        self.vp = vp
        self.n, self.p = vp.n, vp.p
        self.reml = bool(res.reml)
        self.theta = vp.theta_all.copy()
        self.free = vp.free
        self.lower = np.where(vp.diag_pos, 0.0, -np.inf)
        self.sigma = math.sqrt(float(res.scale))
        self.beta = np.asarray(res.fe_params, dtype=float)
        self.fixed_names = list(res.model.exog_names)
        k = len(self.beta)
        self.vcov = np.asarray(res.cov_params(), dtype=float)[:k, :k]
        model = res.model
        table = varcorr(res)
        k_re = int(model.k_re)
        ntri = len(vp.tri_idx[0])
        blocks = []
        if k_re:
            idx = -np.ones((k_re, k_re), dtype=np.int64)
            for pos, (r, c) in enumerate(zip(*vp.tri_idx)):
                if vp.free[pos]:
                    idx[r, c] = pos
            grp = table["grp"].iloc[0]
            blocks.append(_Block(grp, list(table["var1"].iloc[:k_re]), idx,
                                 len(model.group_labels)))
        first_vc = k_re + k_re * (k_re - 1) // 2
        for j in range(int(model.k_vc)):
            if not vp.free[ntri + j]:
                continue
            row = table.iloc[first_vc + j]
            var1 = row["var1"] if not pd.isna(row["var1"]) else "(Intercept)"
            levels = sum(m.shape[1] for m in model.exog_vc.mats[j])
            blocks.append(_Block(row["grp"], [var1], [[ntri + j]], levels))
        self.blocks = _lme4_order(blocks)

    def pieces(self, theta):
        vp = self.vp
        s, logdet = vp._cross(np.concatenate([theta[self.free], [1.0]]))
        p = self.p
        ainv = np.linalg.inv(s[:p, :p])
        d = ainv @ s[:p, p]
        return logdet, float(s[p, p] - s[:p, p] @ d), vp.b0 + d, ainv


class _GlmerFit(_LmerFit):
    """A ``helpers.glmer`` fit: the same terms and θ as an lmer fit, no residual SD (θ
    holds the random effects' SDs themselves), lme4's ``vcov`` from the Hessian, and the
    Laplace (or quadrature) deviance of (θ, β) instead of a profiled one."""

    kind = "glmer"
    has_sigma = False

    def __init__(self, result):
        super().__init__(result)
        self.sigma = 1.0
        self.glmm = result.glmm

    def deviance(self, theta, beta):
        return self.glmm.deviance(np.concatenate([theta, beta]))


def _backend(result):
    from ..engine.glm_results import GlmerResult
    from ..engine.results import LmerResult

    if isinstance(result, GlmerResult):
        return _GlmerFit(result)
    if isinstance(result, LmerResult):
        return _LmerFit(result)
    return _StatsmodelsFit(result)


def _blas_guard(fit):
    if fit.kind in ("lmer", "glmer"):
        from ..engine.model import _one_blas_thread

        return _one_blas_thread()
    import contextlib

    return contextlib.nullcontext()


# --------------------------------------------------------------------------------------
# θ <-> (sd, cor, sigma)
# --------------------------------------------------------------------------------------

def _param_names(fit):
    names = [b.name(r, c) for b in fit.blocks for r, c in b.entries()]
    return names + (["sigma"] if fit.has_sigma else [])


def _block_sdcor(b, cov):
    """The SDs and correlations of one block's covariance matrix, in lme4's order."""
    sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    out = []
    for r, c in b.entries():
        if r == c:
            out.append(sd[r])
        else:
            den = sd[r] * sd[c]
            out.append(cov[r, c] / den if den > 0 else np.nan)
    return out


def _sdcor(fit, theta, sigma):
    """lme4's (sd, cor, ..., sigma) from θ and σ (``Cv_to_Sv``)."""
    out = []
    for b in fit.blocks:
        T = np.zeros((b.p, b.p))
        mask = b.idx >= 0
        T[mask] = theta[b.idx[mask]]
        cov = sigma ** 2 * (T @ T.T)
        out += _block_sdcor(b, cov)
    return np.array(out + [sigma])


def _theta_of(fit, v):
    """θ for the vector ``v`` of (sd, cor, ..., sigma) (lme4's ``Sv_to_Cv``); None when
    the correlations make no covariance matrix."""
    from .inference import _chol_psd

    theta = fit.theta.copy()
    sigma = v[-1]
    if not sigma > 0:
        return None
    k = 0
    for b in fit.blocks:
        ent = b.entries()
        vals = v[k:k + len(ent)]
        k += len(ent)
        sd = np.zeros(b.p)
        cor = np.eye(b.p)
        for (r, c), x in zip(ent, vals):
            if r == c:
                sd[r] = x
            else:
                cor[r, c] = cor[c, r] = x
        rel = cor * np.outer(sd, sd) / sigma ** 2
        if b.p > 2 and np.min(np.linalg.eigvalsh(rel)) < -1e-10 * max(1.0, np.max(rel)):
            return None
        T = _chol_psd(rel)
        mask = b.idx >= 0
        theta[b.idx[mask]] = T[mask]
    return theta


def _param_bounds(fit):
    lo, up = [], []
    for b in fit.blocks:
        for r, c in b.entries():
            lo.append(0.0 if r == c else -1.0)
            up.append(np.inf if r == c else 1.0)
    return np.array(lo + [0.0]), np.array(up + [np.inf])


# --------------------------------------------------------------------------------------
# Profile likelihood
# --------------------------------------------------------------------------------------

def _minimize(fun, x0, bounds):
    lo, up = bounds
    b = [(None if not np.isfinite(a) else a, None if not np.isfinite(c) else c)
         for a, c in zip(lo, up)]
    x0 = np.clip(np.asarray(x0, dtype=float), lo, up)
    r = so.minimize(fun, x0, method="L-BFGS-B", jac="3-point", bounds=b,
                    options={"ftol": 1e-14, "gtol": 1e-8, "maxiter": 2000})
    return np.asarray(r.x), float(r.fun)


class _Profile:
    """ML profiles of every parameter of a fit (see the module docstring)."""

    def __init__(self, fit):
        self.fit = fit
        n = fit.n
        self.n = n
        lo = np.where(np.isfinite(fit.lower), fit.lower, -np.inf)
        self.theta_bounds = (lo, np.full(len(lo), np.inf))
        self.free = getattr(fit, "free", np.ones(len(fit.theta), dtype=bool))

        # lme4's refitML: the ML optimum over θ, σ and β profiled out
        theta, self.base = self._min_theta(self.ml_dev_theta, fit.theta)
        ld, r2, beta, ainv = fit.pieces(theta)
        self.theta_ml, self.sigma_ml = theta, math.sqrt(r2 / n)
        self.beta_ml, self.ainv_ml = beta, ainv
        self.v_hat = _sdcor(fit, theta, self.sigma_ml)
        self.v_bounds = _param_bounds(fit)

    # -- deviances ---------------------------------------------------------------
    def _safe(self, theta):
        try:
            return self.fit.pieces(theta)
        except (np.linalg.LinAlgError, ValueError):
            return None

    def ml_dev_theta(self, theta):
        pc = self._safe(theta)
        if pc is None or not pc[1] > 0:
            return np.inf
        return pc[0] + self.n * (1 + math.log(2 * math.pi * pc[1] / self.n))

    def ml_dev_v(self, v):
        """ML deviance at (sd, cor, sigma), β at its conditional estimate (devfun2)."""
        theta = _theta_of(self.fit, v)
        pc = None if theta is None else self._safe(theta)
        if pc is None:
            return np.inf
        s2 = v[-1] ** 2
        return pc[0] + pc[1] / s2 + self.n * math.log(2 * math.pi * s2)

    def ml_dev_fixed(self, theta, j, value):
        """ML deviance with β_j = value, the other β and σ profiled out: for fixed θ the
        residual sum of squares grows by (value - β̂_j)² / [(X'V⁻¹X)⁻¹]_jj."""
        pc = self._safe(theta)
        if pc is None:
            return np.inf
        ld, r2, beta, ainv = pc
        r2 = r2 + (value - beta[j]) ** 2 / ainv[j, j]
        return ld + self.n * (1 + math.log(2 * math.pi * r2 / self.n))

    def _min_theta(self, fun, theta0):
        free = self.free
        lo, up = self.theta_bounds

        def f(x):
            t = self.fit.theta.copy()
            t[free] = x
            return fun(t)

        x, val = _minimize(f, theta0[free], (lo[free], up[free]))
        t = self.fit.theta.copy()
        t[free] = x
        return t, val

    # -- ζ -----------------------------------------------------------------------
    def zeta_var(self, w, x, start):
        """Signed root of the deviance increase with parameter w fixed at x."""
        others = np.arange(len(self.v_hat)) != w
        lo, up = self.v_bounds

        def f(o):
            v = self.v_hat.copy()
            v[others] = o
            v[w] = x
            return self.ml_dev_v(v)

        o, val = _minimize(f, start, (lo[others], up[others]))
        dev = max(val - self.base, 0.0)
        return math.copysign(math.sqrt(dev), x - self.v_hat[w]), o

    def zeta_fixed(self, j, x, start):
        theta, val = self._min_theta(lambda t: self.ml_dev_fixed(t, j, x), start)
        dev = max(val - self.base, 0.0)
        return math.copysign(math.sqrt(dev), x - self.beta_ml[j]), theta

    # -- limits ------------------------------------------------------------------
    def _limit(self, zeta, est, start, direction, target, step, bound):
        """The x on the ``direction`` side of ``est`` where |ζ| = target, or ``bound``
        if the profile does not reach it before the bound."""
        if (direction < 0 and est <= bound) or (direction > 0 and est >= bound):
            return bound
        x_prev, z_prev, s_prev = est, 0.0, start
        cache = {}
        for _ in range(60):
            x = est + direction * step
            if direction * (x - bound) >= 0:
                x = bound
            z, s = zeta(x, s_prev)
            cache[x] = s
            if abs(z) >= target:
                def g(t):
                    zt, st = zeta(t, cache[min(cache, key=lambda u: abs(u - t))])
                    cache[t] = st
                    return zt - direction * target
                tol = 1e-10 * max(1.0, abs(x))
                return so.brentq(g, x_prev, x, xtol=tol, rtol=1e-12)
            if x == bound:
                return bound
            # secant towards the target, overshooting a little
            if abs(z) > abs(z_prev) + 1e-12:
                proposed = abs(x - x_prev) * (target - abs(z)) / (abs(z) - abs(z_prev))
                step = abs(x - est) + min(max(1.1 * proposed, 0.05 * abs(x - est)),
                                          3 * abs(x - est))
            else:
                step *= 2
            x_prev, z_prev, s_prev = x, z, s
        raise RuntimeError("the profile did not reach the confidence limit")

    def start_var(self, w):
        """Where the optimisation over the other parameters starts, for parameter w."""
        return np.delete(self.v_hat, w)

    def start_fixed(self, j):
        """Where the optimisation over the other parameters starts, for fixed effect
        j."""
        return self.theta_ml

    def interval_var(self, w, target):
        est = self.v_hat[w]
        lo, up = self.v_bounds
        start = self.start_var(w)
        h = 0.01 * est if est != 0 else 1e-3
        h = min(h, 0.5 * (up[w] - est)) if np.isfinite(up[w]) else h
        z1, _ = self.zeta_var(w, est + h, start)
        se = abs(h / z1) if z1 != 0 else max(abs(est), 1.0)
        zeta = lambda x, s: self.zeta_var(w, x, s)  # noqa: E731
        return (self._limit(zeta, est, start, -1, target, target * se, lo[w]),
                self._limit(zeta, est, start, +1, target, target * se, up[w]))

    def fixed_se(self, j):
        """The standard error of fixed effect j at the optimum: the first step's scale."""
        return self.sigma_ml * math.sqrt(self.ainv_ml[j, j])

    def interval_fixed(self, j, target):
        est, se = self.beta_ml[j], self.fixed_se(j)
        zeta = lambda x, s: self.zeta_fixed(j, x, s)  # noqa: E731
        start = self.start_fixed(j)
        return (self._limit(zeta, est, start, -1, target, target * se, -np.inf),
                self._limit(zeta, est, start, +1, target, target * se, np.inf))


class _GlmerProfile(_Profile):
    """Profiles of a glmer fit, as lme4's ``profile`` of a ``glmerMod``: on the fit's own
    deviance of (θ, β) (Laplace, or quadrature for nAGQ > 1; there is no REML to refit
    from, and no σ), every other parameter, fixed effects included, re-estimated at each
    point; the variance parameters on the SD and correlation scale."""

    def __init__(self, fit):
        self.fit = fit
        self.p = fit.p
        self.theta_ml = fit.theta.copy()
        self.beta_ml = fit.beta.copy()
        self.base = fit.deviance(self.theta_ml, self.beta_ml)
        self.v_hat = _sdcor(fit, self.theta_ml, 1.0)[:-1]
        lo, up = _param_bounds(fit)
        self.v_bounds = (lo[:-1], up[:-1])
        self.se = np.sqrt(np.diag(fit.vcov))
        self.theta_lower = np.where(np.isfinite(fit.lower), fit.lower, -np.inf)

    def _deviance(self, theta, beta):
        if theta is None:
            return np.inf
        try:
            return self.fit.deviance(theta, beta)
        except (np.linalg.LinAlgError, ValueError, FloatingPointError):
            return np.inf

    def start_var(self, w):
        return np.concatenate([np.delete(self.v_hat, w), self.beta_ml])

    def start_fixed(self, j):
        return np.concatenate([self.theta_ml, np.delete(self.beta_ml, j)])

    def zeta_var(self, w, x, start):
        nv, free = len(self.v_hat), np.full(self.p, np.inf)
        others = np.arange(nv) != w
        lo, up = self.v_bounds

        def f(o):
            v = self.v_hat.copy()
            v[others] = o[:nv - 1]
            v[w] = x
            return self._deviance(_theta_of(self.fit, np.append(v, 1.0)), o[nv - 1:])

        bounds = (np.concatenate([lo[others], -free]),
                  np.concatenate([up[others], free]))
        o, val = _minimize(f, start, bounds)
        dev = max(val - self.base, 0.0)
        return math.copysign(math.sqrt(dev), x - self.v_hat[w]), o

    def zeta_fixed(self, j, x, start):
        k = len(self.theta_ml)

        def f(o):
            return self._deviance(o[:k], np.insert(o[k:], j, x))

        lo = np.concatenate([self.theta_lower, np.full(self.p - 1, -np.inf)])
        o, val = _minimize(f, start, (lo, np.full(len(lo), np.inf)))
        dev = max(val - self.base, 0.0)
        return math.copysign(math.sqrt(dev), x - self.beta_ml[j]), o

    def fixed_se(self, j):
        return self.se[j]


def _profiler(fit):
    return _GlmerProfile(fit) if fit.kind == "glmer" else _Profile(fit)


# --------------------------------------------------------------------------------------
# Parametric bootstrap
# --------------------------------------------------------------------------------------

def _seeds(seed, nsim):
    """One SeedSequence per replicate, the same whatever the number of workers."""
    if isinstance(seed, np.random.Generator):
        seed = int(seed.integers(2 ** 63))
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return ss.spawn(nsim)


def _boot_lmer_chunk(result, fit_blocks, seeds):
    """Replicates of (sd, cor, sigma, β) for a helpers.lmer fit, fast refits."""
    rows = []
    shim = type("Fit", (), {})()
    shim.blocks = fit_blocks
    for s in seeds:
        rng = np.random.default_rng(s)
        y = result._simulate_one(rng)
        try:
            theta, sigma, beta, _ = result._quick_refit(y)
        except (np.linalg.LinAlgError, ValueError, FloatingPointError):
            rows.append(None)
            continue
        v = _sdcor(shim, theta, sigma)
        if getattr(result, "family", None) is not None:
            v = v[:-1]  # a GLMM: no residual SD
        rows.append(np.concatenate([v, beta]))
    k = max((len(r) for r in rows if r is not None), default=0)
    out = np.full((len(seeds), k), np.nan)
    for i, r in enumerate(rows):
        if r is not None:
            out[i] = r
    return out


def _sm_estimates(fit, res):
    """(sd, cor, sigma, β) of a statsmodels refit, in the order of ``fit.blocks``."""
    k_re = int(res.model.k_re)
    cov_re = np.asarray(res.cov_re, dtype=float)
    vcomp = np.atleast_1d(np.asarray(res.vcomp, dtype=float))
    ntri = len(fit.vp.tri_idx[0])
    out = []
    for b in fit.blocks:
        if k_re and b.idx.shape[0] == k_re and b.idx.max() < ntri:
            cov = cov_re
        else:
            cov = np.array([[vcomp[int(b.idx[0, 0]) - ntri]]])
        out += _block_sdcor(b, cov)
    out.append(math.sqrt(float(res.scale)))
    return np.concatenate([out, np.asarray(res.fe_params, dtype=float)])


def _boot_statsmodels(fit, seeds):
    from .compare import _with_response, simulate_response

    res = fit.result
    start = np.asarray(res.params, dtype=float)
    out = np.full((len(seeds), len(_param_names(fit)) + fit.p), np.nan)
    for i, s in enumerate(seeds):
        y = simulate_response(res, np.random.default_rng(s))
        m = _with_response(res.model, y)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for method in ("lbfgs", "bfgs", "powell"):
                try:
                    r = m.fit(reml=fit.reml, method=method, start_params=start)
                except (np.linalg.LinAlgError, ValueError, FloatingPointError):
                    continue
                if r.converged:
                    out[i] = _sm_estimates(fit, r)
                    break
    return out


def _norm_inter(t, alpha):
    """boot's ``norm.inter``: the percentile endpoints of ``boot.ci(type = "perc")``,
    order statistics ``(R + 1) alpha`` interpolated on the normal quantile scale."""
    t = np.sort(t[np.isfinite(t)])
    R = len(t)
    out = []
    for a in alpha:
        rk = (R + 1) * a
        k = int(math.trunc(rk))
        if k == rk and 0 < k <= R:
            out.append(t[k - 1])
        elif k <= 0:
            out.append(t[0])
        elif k >= R:
            out.append(t[-1])
        else:
            z, z1, z2 = stats.norm.ppf([a, k / (R + 1), (k + 1) / (R + 1)])
            out.append(t[k - 1] + (z - z1) / (z2 - z1) * (t[k] - t[k - 1]))
    return out


# --------------------------------------------------------------------------------------
# The public functions
# --------------------------------------------------------------------------------------

def _check_fit(result, what):
    from ..engine.results import LmerResult

    if isinstance(result, LmerResult):
        return
    fitted_result(result, what)  # raises ValueError for anything else


def confint(result, method: str = "profile", level: float = 0.95, nsim: int = 1000,
            seed=None, n_jobs: int = 1) -> pd.DataFrame:
    """Confidence intervals for every parameter, as lme4's ``confint(m, oldNames = FALSE)``.

    A ``helpers.glmer`` fit (lme4's ``glmerMod``) has no ``sigma`` row. Its profile is
    built on the fit's own deviance of (θ, β), Laplace or quadrature as fitted, with
    every other parameter re-estimated at each point (lme4's ``profile`` of a GLMM; it
    takes seconds for small models and grows with the number of rows); its bootstrap
    simulates binomial or Poisson responses (:meth:`GlmerResult.simulate`) and refits
    from the estimates; its Wald intervals use lme4's ``vcov``.

    Parameters
    ----------
    result : helpers.lmer or helpers.glmer result, or statsmodels MixedLMResults
        The fitted model (REML or ML).
    method : {"profile", "boot", "Wald"}
        * ``"profile"`` (lme4's default): profile-likelihood intervals. As lme4 does,
          the model is refitted by maximum likelihood and every parameter, fixed
          effects included, is profiled on the ML deviance; the variance parameters on
          the standard-deviation/correlation scale. The limits are the roots of
          ``ζ = ±qnorm((1 + level) / 2)`` (ζ the signed square root of the deviance
          increase), found by root finding rather than lme4's spline. A standard
          deviation estimated at 0 gets the lower limit 0, and a limit the profile
          does not reach before its bound is the bound (0, or ±1 for a correlation).
          Takes seconds for models of the size of sleepstudy.
        * ``"boot"``: parametric bootstrap percentile intervals (lme4's ``bootMer``
          with ``use.u = FALSE``, ``type = "parametric"``, and boot's percentile
          interpolation): ``nsim`` responses are simulated from the fit (fixed part,
          random effects drawn from the estimated covariances, noise), the model is
          refitted to each (REML or ML as the original), and the percentiles of the
          estimates are the limits. For a ``helpers.lmer`` fit each refit reuses the
          cross-products and starts at the fitted θ (a 1,000-replicate bootstrap of a
          5,000-row crossed model takes seconds); for a statsmodels fit each replicate
          is a full statsmodels refit, which is **slow** (a second or more per
          replicate on sleepstudy): fit with ``helpers.lmer`` to bootstrap.
          Replicates whose refit fails are left out (counted in
          ``.attrs["failed"]``).
        * ``"Wald"``: fixed effects ± z × standard error; the variance parameters get
          NaN, as lme4's NA.
    level : float, default 0.95
        Confidence level, strictly between 0 and 1.
    nsim : int, default 1000
        Bootstrap replicates (``method="boot"``).
    seed : int, numpy SeedSequence or Generator, optional
        Seed of the bootstrap (each replicate gets its own child of
        ``numpy.random.SeedSequence(seed)``, so the result does not depend on
        ``n_jobs``).
    n_jobs : int, default 1
        Worker processes for the bootstrap of a ``helpers.lmer`` fit (joblib).

    Returns
    -------
    pandas.DataFrame
        Index: ``sd_(Intercept)|Subject``, ``cor_Days.(Intercept)|Subject``,
        ``sd_Days|Subject``, ..., ``sigma``, then the fixed effects as the fit names
        them; columns ``lower`` and ``upper``. For ``"boot"``, ``.attrs["replicates"]``
        holds the bootstrap estimates (one row per replicate).

    Raises
    ------
    ValueError
        ``result`` is not a fitted mixed model, ``method`` is unknown, ``level`` is
        not in (0, 1), or ``nsim`` is not a positive integer.

    Examples
    --------
    >>> import helpers
    >>> from helpers.core.intervals import confint
    >>> m = helpers.lmer("Reaction ~ Days + (1 + Days | Subject)", helpers.load("sleepstudy"))
    >>> confint(m, method="Wald").loc["Days"].round(3).tolist()
    [7.438, 13.497]
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    if isinstance(level, bool) or not isinstance(level, (int, float, np.floating)) \
            or not 0 < level < 1:
        raise ValueError(f"level must be a number strictly between 0 and 1, got {level!r}")
    _check_fit(result, "confint")
    fit = _backend(result)
    names = _param_names(fit) + fit.fixed_names
    nv = len(names) - fit.p
    a = (1 - level) / 2
    lower = np.full(len(names), np.nan)
    upper = np.full(len(names), np.nan)
    attrs = {"method": method, "level": level}

    if method == "Wald":
        z = stats.norm.ppf(1 - a)
        se = np.sqrt(np.diag(fit.vcov))
        lower[nv:] = fit.beta - z * se
        upper[nv:] = fit.beta + z * se
    elif method == "profile":
        target = stats.norm.ppf(1 - a)
        with _blas_guard(fit), np.errstate(divide="ignore", invalid="ignore"):
            prof = _profiler(fit)
            for w in range(nv):
                lower[w], upper[w] = prof.interval_var(w, target)
            for j in range(fit.p):
                lower[nv + j], upper[nv + j] = prof.interval_fixed(j, target)
        attrs["ml_deviance"] = prof.base
    else:
        if isinstance(nsim, bool) or not isinstance(nsim, (int, np.integer)) or nsim < 1:
            raise ValueError(f"nsim must be a positive integer, got {nsim!r}")
        seeds = _seeds(seed, int(nsim))
        if fit.kind in ("lmer", "glmer"):
            reps = _run_lmer_bootstrap(result, fit.blocks, seeds, n_jobs)
        else:
            reps = _boot_statsmodels(fit, seeds)
        ok = np.all(np.isfinite(reps[:, [i for i, n in enumerate(names)
                                          if not n.startswith("cor_")]]), axis=1)
        for i in range(len(names)):
            lower[i], upper[i] = _norm_inter(reps[ok, i], [a, 1 - a])
        attrs["replicates"] = pd.DataFrame(reps, columns=names)
        attrs["failed"] = int(np.sum(~ok))
        if attrs["failed"]:
            warnings.warn(f"{attrs['failed']} of {nsim} bootstrap refits failed and were "
                          "left out", UserWarning, stacklevel=2)
    out = pd.DataFrame({"lower": lower, "upper": upper}, index=pd.Index(names))
    out.attrs.update(attrs)
    return out


def profile(result, which=None, level: float = 0.95, n_points: int = 21) -> pd.DataFrame:
    """The likelihood profile of each parameter, as lme4's ``profile(m)``: ζ against value.

    For each parameter, ζ(x) is the signed square root of the increase in the ML deviance
    when the parameter is held at x and every other parameter is re-estimated,
    ``sign(x - estimate) * sqrt(deviance(x) - deviance(estimate))``. It is 0 at the ML
    estimate, and the profile interval of :func:`confint` is where ζ crosses
    ``±qnorm((1 + level) / 2)``. A straight line means that the Wald interval would
    be as good; a bent one shows how the likelihood is skewed. As in lme4 (and
    :func:`confint`), the fit is refitted by maximum likelihood first, whatever its
    criterion, and the variance parameters are profiled on the standard-deviation and
    correlation scale.

    Parameters
    ----------
    result : helpers.lmer or helpers.glmer result, or statsmodels MixedLMResults
        The fitted model (REML or ML).
    which : str or list of str, optional
        Parameters to profile, named as in :func:`confint`'s index
        (``"sd_(Intercept)|Subject"``, ``"sigma"``, a fixed effect's name); all by
        default.
    level : float, default 0.95
        Sets how far each curve reaches: from a little beyond one end of the profile
        interval at this level to a little beyond the other (or to the parameter's
        bound, 0 for a standard deviation and ±1 for a correlation).
    n_points : int, default 21
        Evenly spaced values per parameter; the estimate and the two interval limits
        are added to them.

    Returns
    -------
    pandas.DataFrame
        One row per point: ``parameter``, ``value``, ``zeta``, sorted by parameter
        (in :func:`confint`'s order) and value. ``.attrs["limits"]`` holds the profile
        intervals (as :func:`confint` returns them), ``.attrs["estimates"]`` the ML
        estimates (ζ = 0), ``.attrs["level"]`` and ``.attrs["ml_deviance"]``.

    Raises
    ------
    ValueError
        ``result`` is not a fitted mixed model, a name in ``which`` is not one of its
        parameters, ``level`` is not in (0, 1) or ``n_points`` is below 2.

    Examples
    --------
    >>> import helpers
    >>> from helpers.core.intervals import profile
    >>> m = helpers.lmer("Reaction ~ Days + (1 | Subject)", helpers.load("sleepstudy"))
    >>> curve = profile(m, which="sigma", n_points=5)
    >>> list(curve.columns)
    ['parameter', 'value', 'zeta']
    >>> curve.attrs["limits"].round(2).values.tolist()
    [[27.81, 34.59]]
    """
    if isinstance(level, bool) or not isinstance(level, (int, float, np.floating)) \
            or not 0 < level < 1:
        raise ValueError(f"level must be a number strictly between 0 and 1, got {level!r}")
    if isinstance(n_points, bool) or not isinstance(n_points, (int, np.integer)) \
            or n_points < 2:
        raise ValueError(f"n_points must be an integer of at least 2, got {n_points!r}")
    _check_fit(result, "profile")
    fit = _backend(result)
    names = _param_names(fit) + fit.fixed_names
    nv = len(names) - fit.p
    if which is None:
        chosen = list(names)
    else:
        chosen = [which] if isinstance(which, str) else list(which)
        unknown = [w for w in chosen if w not in names]
        if unknown or not chosen:
            raise ValueError(
                f"which names {unknown[0] if unknown else 'no parameter'!r}; the "
                f"model's parameters are {names}"
            )
        chosen = [n for n in names if n in chosen]
    target = stats.norm.ppf(0.5 + level / 2)
    rows, limits, estimates = [], {}, {}
    with _blas_guard(fit), np.errstate(divide="ignore", invalid="ignore"):
        prof = _profiler(fit)
        lo_b, up_b = prof.v_bounds
        for name in chosen:
            i = names.index(name)
            if i < nv:
                est, bounds = prof.v_hat[i], (lo_b[i], up_b[i])
                lower, upper = prof.interval_var(i, target)
                start0 = prof.start_var(i)
                zeta = lambda x, s, i=i: prof.zeta_var(i, x, s)  # noqa: E731
            else:
                j = i - nv
                est, bounds = prof.beta_ml[j], (-np.inf, np.inf)
                lower, upper = prof.interval_fixed(j, target)
                start0 = prof.start_fixed(j)
                zeta = lambda x, s, j=j: prof.zeta_fixed(j, x, s)  # noqa: E731
            limits[name], estimates[name] = (lower, upper), est
            pad = 0.15 * (upper - lower)
            grid = np.linspace(max(lower - pad, bounds[0]), min(upper + pad, bounds[1]),
                               n_points)
            xs = np.unique(np.concatenate([grid, [est, lower, upper]]))
            points = {est: 0.0}
            # walk outwards from the estimate, each optimisation starting at the last one
            for side in (xs[xs < est][::-1], xs[xs > est]):
                start = start0
                for x in side:
                    points[x], start = zeta(x, start)
            rows += [(name, x, points[x]) for x in xs]
    out = pd.DataFrame(rows, columns=["parameter", "value", "zeta"])
    out.attrs.update(
        level=level, ml_deviance=prof.base,
        limits=pd.DataFrame(limits, index=["lower", "upper"]).T,
        estimates=pd.Series(estimates, name="ML estimate"))
    return out


def _run_lmer_bootstrap(result, blocks, seeds, n_jobs):
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0:
        raise ValueError(f"n_jobs must be a non-zero integer, got {n_jobs!r}")
    if n_jobs == 1 or len(seeds) < 20:
        return _boot_lmer_chunk(result, blocks, seeds)
    from joblib import Parallel, delayed, effective_n_jobs

    k = effective_n_jobs(n_jobs)
    chunks = [list(c) for c in np.array_split(np.array(seeds, dtype=object), k) if len(c)]
    light = _portable(result)
    parts = Parallel(n_jobs=k)(delayed(_boot_lmer_chunk)(light, blocks, c) for c in chunks)
    return np.vstack(parts)


def _portable(result):
    """A copy of an lmer fit with what a bootstrap worker needs and nothing that cannot
    be pickled (patsy's design information, the caller's namespace)."""
    import dataclasses

    light = copy.copy(result)
    model = copy.copy(result.model)
    terms = [dataclasses.replace(t, design_info=None) for t in model.terms]
    swap = {id(t): s for t, s in zip(model.terms, terms)}
    model.terms = terms
    model.cp = dataclasses.replace(model.cp, a_terms=[swap[id(t)] for t in model.cp.a_terms],
                                   b_terms=[swap[id(t)] for t in model.cp.b_terms])
    light.model = model
    light.terms = terms
    if getattr(result, "glmm", None) is not None:  # a glmer fit: its model, same terms
        glmm = copy.copy(result.glmm)
        glmm.terms, glmm.lm = terms, model
        light.glmm = glmm
    for name in ("_env", "frame", "design_info", "_X_df", "random_terms", "_factor"):
        light.__dict__.pop(name, None)
    light.fe_params = result.fe_params.copy()
    return light


# --------------------------------------------------------------------------------------
# R²
# --------------------------------------------------------------------------------------

class SingularFitWarning(UserWarning):
    """A random-effect variance is (nearly) zero: the conditional R² is not computed."""


class LowCountWarning(UserWarning):
    """A Poisson GLMM's null model has a mean count below 6 (performance's check)."""


def _null_intercept(result):
    """The intercept of ``result``'s null model, refitted as insight's ``null_model``.

    insight refits the model with the fixed part replaced by an intercept and the same
    random-effects terms (``update(m, y ~ (1 | g) + ...)``: same rows, family, nAGQ).
    Here the same rows, weights, terms and family go through glmer's fit (its
    two-stage optimisation) with a column of ones for X.
    """
    from ..engine.glmer import GlmerModel, optimize
    from ..engine.model import _one_blas_thread

    g = result.glmm
    with _one_blas_thread():
        null = GlmerModel(np.ones((g.n, 1)), g.y, g.m, g.terms, g.family, nAGQ=g.nAGQ)
        par, _, _ = optimize(null)
    return float(par[null.k_theta])


def _distribution_variance(result):
    """insight's distribution-specific variance of a glmer fit (its residual variance).

    Binomial, logit link: π²/3, the variance of the standard logistic distribution.
    Poisson, log link: the lognormal approximation ``log(1 + 1/μ)`` (insight's
    ``.variance_distributional``: ``log1p(V(μ)/μ²)``, V(μ) = μ), μ = exp(β₀) of the
    null model (:func:`_null_intercept`); below μ = 6 performance warns that the
    approximation is unreliable, and so does this function.
    """
    family, link = result.family.name, result.family.link
    if (family, link) == ("binomial", "logit"):
        return math.pi ** 2 / 3
    if (family, link) == ("poisson", "log"):
        mu = math.exp(_null_intercept(result))
        if mu < 6:
            warnings.warn(
                f"the null model's mean count exp(intercept) = {mu:.1f} is below 6: "
                "the distribution-specific variance log(1 + 1/mu) behind the R² is "
                "unreliable (performance::r2_nakagawa warns the same: 'mu of "
                f"{mu:.1f} is too close to zero').", LowCountWarning, stacklevel=4)
        return math.log1p(1 / mu)
    raise ValueError(
        f"r2 has no distribution-specific variance for the {family!r} family with the "
        f"{link!r} link: it matches performance::r2_nakagawa for binomial (logit) "
        "and Poisson (log) glmer fits only")


def _r2_parts(result):
    """(var_fixed, var_random, var_residual, relative sds) for either kind of fit.

    For a glmer fit the residual variance is the distribution-specific variance
    (:func:`_distribution_variance`) and the relative sds are θ's diagonal (the
    random-effect SDs themselves).
    """
    from ..engine.glm_results import GlmerResult
    from ..engine.results import LmerResult
    from ..engine.terms import r_name

    if isinstance(result, LmerResult):
        # a glmer fit first, so that an unmatched family raises before any work
        var_resid = (_distribution_variance(result) if isinstance(result, GlmerResult)
                     else float(result.scale))
        X = result._X
        beta = result.fe_params.to_numpy()
        fixed = {r_name(c) for c in result.exog_names} | {"(Intercept)"}
        var_random = 0.0
        diag = []
        for i, t in enumerate(result.terms):
            T = result.model.T(result.theta, i)
            cov = result.scale * (T @ T.T)
            diag.extend(np.diag(T))
            # insight takes each term's columns from the fixed-effects design, by name:
            # a slope that is not a fixed effect is left out
            keep = [j for j, c in enumerate(t.cnames) if c in fixed]
            Z = t.X[:, keep]
            var_random += float(np.sum(cov[np.ix_(keep, keep)] * (Z.T @ Z))) / len(Z)
        return float(np.var(X @ beta, ddof=1)), var_random, var_resid, np.array(diag)
    from .fitting import relative_sds

    res = fitted_result(result, "r2")
    model = res.model
    n = int(res.nobs)
    X = np.asarray(model.exog, dtype=float)
    var_fixed = float(np.var(X @ np.asarray(res.fe_params, dtype=float), ddof=1))
    var_random = 0.0
    if int(model.k_re):
        Z = np.asarray(model.exog_re, dtype=float)
        var_random += float(np.sum(np.asarray(res.cov_re, dtype=float) * (Z.T @ Z))) / n
    vcomp = np.atleast_1d(np.asarray(res.vcomp, dtype=float))
    for j in range(int(model.k_vc)):
        ss = 0.0
        for m in model.exog_vc.mats[j]:
            m = m.toarray() if hasattr(m, "toarray") else np.asarray(m, dtype=float)
            ss += float(np.sum(m ** 2))
        var_random += vcomp[j] * ss / n
    return var_fixed, var_random, float(res.scale), relative_sds(res).to_numpy()


def r2(result, tolerance: float = 1e-5) -> pd.Series:
    """Marginal and conditional R² (Nakagawa & Schielzeth 2013; Johnson 2014).

    ``marginal = σ²_f / (σ²_f + σ²_r + σ²)`` and ``conditional = (σ²_f + σ²_r) /
    (σ²_f + σ²_r + σ²)``, as ``performance::r2_nakagawa`` computes them for a Gaussian
    lmer fit: σ²_f is the variance of the fixed part, ``var(Xβ̂)`` (denominator n - 1,
    R's ``var``); σ²_r sums, over the random-effect terms, the mean over rows of
    ``z_i' Σ z_i`` (Σ the term's estimated covariance matrix, z_i the row's intercept
    and slopes: just the variance for a random intercept); σ² is the residual variance.

    For a generalized fit (:func:`helpers.engine.glmer.glmer`) the same formulas hold
    on the link scale, with σ²_f, σ²_r from the estimates on that scale and, for σ², the
    distribution-specific variance of performance 0.10.2 / insight 0.19.0
    (Nakagawa, Johnson & Schielzeth 2017):

    * binomial, logit link (0/1 or ``cbind(successes, failures)``): ``σ² = π²/3``,
      the variance of the standard logistic distribution;
    * Poisson, log link: the lognormal approximation ``σ² = log(1 + 1/μ)`` with
      ``μ = exp(β₀)``, β₀ the intercept of the null model (the fixed part replaced by
      an intercept, the same random effects), refitted as insight does. Below μ = 6
      performance warns that the approximation is unreliable; so does this function
      (``LowCountWarning``).

    Any other family or link raises ``ValueError``. (insight adds the variance of an
    observation-level random effect to σ²; glmer refuses a grouping factor with as
    many levels as rows, so none arises.)

    For a singular fit (a diagonal element of lme4's θ, a random-effect SD relative to
    the residual SD, or for a glmer fit the SD itself, below ``tolerance``) performance
    cannot compute the random-effect variances: as it does, this function warns
    (``SingularFitWarning``), returns NaN for the conditional R² and
    ``σ²_f / (σ²_f + σ²)`` for the marginal one. Near the threshold the verdict
    follows how close the optimiser came to the bound: lme4 may stop at θ = 2e-5
    where helpers.glmer stops at 0.

    Parameters
    ----------
    result : helpers.lmer or helpers.glmer result, or statsmodels MixedLMResults
    tolerance : float, default 1e-5
        performance's (insight's) threshold for a singular fit; 0 computes the
        random-effect variances whatever the fit.

    Returns
    -------
    pandas.Series
        ``marginal`` and ``conditional``.

    Examples
    --------
    >>> import helpers
    >>> from helpers.core.intervals import r2
    >>> m = helpers.lmer("Reaction ~ Days + (1 + Days | Subject)", helpers.load("sleepstudy"))
    >>> r2(m).round(4).tolist()
    [0.2787, 0.7992]
    """
    if isinstance(tolerance, bool) \
            or not isinstance(tolerance, (int, float, np.floating)) \
            or not tolerance >= 0:
        raise ValueError(f"tolerance must be a non-negative number, got {tolerance!r}")
    _check_fit(result, "r2")
    var_fixed, var_random, var_resid, rel = _r2_parts(result)
    if np.any(np.abs(rel) < tolerance):
        warnings.warn(
            "the fit is singular (a random-effect standard deviation is estimated "
            "at 0): the random-effect variances are not used, so the conditional R² is "
            "NaN and the marginal R² is var(fixed) / (var(fixed) + residual "
            "variance), as performance::r2_nakagawa returns them. Simplify the random "
            "effects "
            "(helpers.is_singular).", SingularFitWarning, stacklevel=2)
        marginal = var_fixed / (var_fixed + var_resid)
        return pd.Series({"marginal": marginal, "conditional": np.nan}, name="r2")
    total = var_fixed + var_random + var_resid
    return pd.Series({"marginal": var_fixed / total,
                      "conditional": (var_fixed + var_random) / total}, name="r2")
