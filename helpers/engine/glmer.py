"""lme4's generalized linear mixed model in NumPy/SciPy: :func:`glmer`.

The model: ``g(E[y | b]) = η = Xβ + ZΛθ u``, ``u ~ N(0, I)``, y binomial (logit link)
or Poisson (log link) given the random effects. As in lme4 (Bates et al. 2015; lme4's
``vignettes/PLSvsGLS.Rnw``; MixedModels.jl's ``generalizedlinearmixedmodel.jl``):

* **penalized iteratively reweighted least squares (PIRLS)**. For given θ (and β)
  the conditional modes ũ minimise the penalized deviance
  ``Σ d_i(y_i, μ_i) + ||u||²``. Each Newton step is the penalized least-squares
  problem of :mod:`helpers.engine.model` with the IRLS weights
  ``w_i = m_i μ'(η_i)² / V(μ_i)`` and the working response: the weighted
  cross-products are recomputed (one pass over the rows, exploiting the same
  blocks: the largest grouping factor's block of Z'WZ is block diagonal) and the
  blocked Cholesky factor ``L L' = Λ'Z'WZΛ + I`` is reused as it is. Steps that
  increase the penalized deviance are halved, as lme4's ``pwrssUpdate`` does;
* **the Laplace approximation** (nAGQ = 1) of the deviance, lme4's
  ``glmResp::Laplace``::

      -2 log L(θ, β) ≈ -2 Σ log p(y_i | μ_i) + ||ũ||² + log |L|²

  with μ at the conditional modes and ``-2 Σ log p`` the family's ``aic``
  (binomial coefficients and ``log y!`` included), so that ``logLik`` is lme4's;
* **adaptive Gauss-Hermite quadrature** (nAGQ > 1, one scalar random-effects
  term): lme4's ``glmerAGQ``, the integral over each level's random effect
  evaluated at ``ũ_j + z_k / L_jj`` for the Gauss-Hermite nodes z_k;
* **two stages**, lme4's default: stage 1 optimises θ with β inside PIRLS (lme4's
  nAGQ = 0 criterion), stage 2 optimises (θ, β) jointly from there, with PIRLS over u
  only. Both with L-BFGS-B and central-difference gradients, within lme4's bounds.

The covariance of β̂ is lme4's: the inverse of half the finite-difference Hessian of
the deviance in (θ, β) (``vcov(m, use.hessian = TRUE)``), or, when that matrix is not
positive definite, ``(RX RX')⁻¹`` of the final PIRLS step (lme4's fallback).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
import warnings

import numpy as np
import pandas as pd
import patsy
import scipy.optimize as so
import scipy.sparse as sp
from scipy.special import expit, gammaln, xlogy

from ..core import formula as _formula
from .model import (
    ConvergenceWarning,
    LmerModel,
    _boundary_probes,
    _canonical,
    _central_gradient,
    _check_terms,
    _columns,
    _one_blas_thread,
    _reflections,
    _tolerance,
    _Tracked,
    _z_sparse,
    spherical_modes,
    theta_scales,
)
from .terms import build_terms

__all__ = ["glmer", "Family", "GlmerModel", "SeparationWarning"]


class SeparationWarning(UserWarning):
    """Complete or quasi-complete separation: a cell of the design where the response
    is always 0 or always 1 (or a count always 0), so a fixed effect runs off to ±∞."""


# ---------------------------------------------------------------------------
# families
# ---------------------------------------------------------------------------
_EPS = np.finfo(float).eps


@dataclasses.dataclass(frozen=True)
class Family:
    """A GLM family with its canonical link, in the few functions PIRLS needs.

    ``m`` are the prior weights: the numbers of trials of a binomial response given as
    proportions (1 for a 0/1 response), 1 for Poisson counts.
    """

    name: str
    link: str

    def linkinv(self, eta):
        if self.name == "binomial":  # R's binomial()$linkinv, clamped at ε and 1 - ε
            return np.clip(expit(eta), _EPS, 1 - _EPS)
        return np.maximum(np.exp(eta), _EPS)

    def mu_eta(self, mu):
        """dμ/dη at μ (canonical links: the variance function)."""
        return mu * (1 - mu) if self.name == "binomial" else mu

    def variance(self, mu):
        return mu * (1 - mu) if self.name == "binomial" else mu

    def dev_resid(self, y, mu, m, const=None):
        """The squared deviance residuals (R's ``family$dev.resid``); ``const`` is
        :meth:`saturated` of (y, m), which does not change with μ."""
        if const is None:
            const = self.saturated(y, m)
        if self.name == "binomial":
            return 2 * (const - m * (y * np.log(mu) + (1 - y) * np.log1p(-mu)))
        return 2 * (const - (y * np.log(mu) - mu))

    def saturated(self, y, m):
        """The saturated model's part of the deviance residuals."""
        if self.name == "binomial":
            return m * (xlogy(y, y) + xlogy(1 - y, 1 - y))
        return xlogy(y, y) - y

    def aic_terms(self, y, mu, m):
        """``-2 log p(y_i | μ_i)``, one per row (R's ``family$aic`` summed)."""
        if self.name == "binomial":
            k = np.round(m * y)
            n = np.round(m)
            logc = gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)
            return -2 * (logc + k * np.log(mu) + (n - k) * np.log1p(-mu))
        return -2 * (y * np.log(mu) - mu - gammaln(y + 1))


_FAMILIES = {
    "binomial": Family("binomial", "logit"),
    "poisson": Family("poisson", "log"),
}


def _gh_rule(n: int):
    """Gauss-Hermite nodes and weights for the standard normal density (lme4's
    ``GHrule(n)``: the weights sum to 1)."""
    z, w = np.polynomial.hermite_e.hermegauss(n)
    return z, w / math.sqrt(2 * math.pi)


# ---------------------------------------------------------------------------
# the model
# ---------------------------------------------------------------------------
@dataclasses.dataclass
class PirlsState:
    """The result of PIRLS at (θ, β): conditional modes, means, the final factor."""

    theta: np.ndarray
    beta: np.ndarray
    u: np.ndarray
    eta: np.ndarray
    mu: np.ndarray
    factor: object
    pdev: float  # Σ deviance residuals + ||u||²
    iterations: int


class GlmerModel:
    """The Laplace (or quadrature) deviance of a GLMM as a function of (θ, β).

    Holds an :class:`~helpers.engine.model.LmerModel` for the structure (terms, Λθ, the
    blocked factor) and recomputes its cross-products with the IRLS weights at every
    PIRLS step.
    """

    def __init__(self, X, y, m, terms, family: Family, nAGQ: int = 1):
        self.X = X
        self.y = y
        self.m = m
        self.terms = terms
        self.family = family
        self.nAGQ = int(nAGQ)
        self.n, self.p = X.shape
        self.lm = LmerModel(X, y, terms, reml=False)
        self.lm.dense = False  # the blocked factor: its cross-products change below
        lm, cp = self.lm, self.lm.cp
        self.theta0, self.lower = lm.theta0, lm.lower
        self.k_theta = len(self.theta0)
        self._XA = np.column_stack([t.X for t in cp.a_terms])
        self._codes = cp.a_terms[0].codes
        n = self.n
        self._ZAt = sp.csr_matrix(
            (
                self._XA.ravel(),
                (
                    (self._codes[:, None] * cp.p_A + np.arange(cp.p_A)).ravel(),
                    np.repeat(np.arange(n), cp.p_A),
                ),
            ),
            shape=(cp.l_A * cp.p_A, n),
        )
        self._ZA = self._ZAt.T.tocsr()
        if cp.q_B:
            self._ZB = _z_sparse(cp.b_terms, n).tocsr()
            self._ZBt = self._ZB.T.tocsr()
            self._ZBt.sort_indices()
            self._ba_dense = not sp.issparse(cp.ZtZ_BA)
            self._b_pairs = self._ba_pairs = None
            q_A = cp.l_A * cp.p_A
            if self._ba_dense and cp.q_B * max(cp.q_B, q_A) <= 4e6:
                # columns of Z_B (row index within Z_B, value) and of Z_A, per effect
                b_cols, off = [], 0
                for t in cp.b_terms:
                    for j in range(t.p):
                        b_cols.append((off + j * t.n_levels + t.codes, t.X[:, j]))
                    off += t.q
                a_cols = [
                    (self._codes * cp.p_A + j, self._XA[:, j]) for j in range(cp.p_A)
                ]
                self._b_pairs = [
                    (r1, r2, x1 * x2) for r1, x1 in b_cols for r2, x2 in b_cols
                ]
                self._ba_pairs = [
                    (r1, r2, x1 * x2) for r1, x1 in b_cols for r2, x2 in a_cols
                ]
        self.q = cp.l_A * cp.p_A + cp.q_B
        self._sat = family.saturated(y, m)
        self._aic_const = float(
            np.sum(
                family.aic_terms(y, np.full_like(y, 0.5), m)
                - family.dev_resid(y, np.full_like(y, 0.5), m, self._sat)
            )
        )
        self.n_evals = 0
        self.beta_start = self._glm_start()
        self._warm = (np.zeros(self.q), self.beta_start.copy())
        if self.nAGQ > 1:
            self.gh = _gh_rule(self.nAGQ)

    def with_response(self, y: np.ndarray) -> "GlmerModel":
        """The same model (X, Z, weights, family) with another response: proportions of
        successes for a binomial model (0/1 with one trial per row), counts for Poisson.
        Shares the design with this model; only what depends on y is recomputed."""
        y = np.asarray(y, dtype=float).ravel()
        if y.shape != self.y.shape:
            raise ValueError(f"the new response has {y.size} values; the model has "
                             f"{self.y.size} rows")
        _check_response(y, None if np.all(self.m == 1) else self.m, self.family, "y")
        if self.family.name == "binomial" and np.any((y < 0) | (y > 1)):
            raise ValueError("a binomial response with several trials per row is given as "
                             "proportions of successes, between 0 and 1")
        new = copy.copy(self)
        new.y = y
        new._sat = self.family.saturated(y, self.m)
        half = np.full_like(y, 0.5)
        new._aic_const = float(np.sum(self.family.aic_terms(y, half, self.m)
                                      - self.family.dev_resid(y, half, self.m, new._sat)))
        new.n_evals = 0
        new.beta_start = new._glm_start()
        new._warm = (np.zeros(self.q), new.beta_start.copy())
        return new

    # -- pieces ------------------------------------------------------------------
    def _glm_start(self) -> np.ndarray:
        """β of the GLM without random effects (IRLS from R's ``mustart``)."""
        fam, X, y, m = self.family, self.X, self.y, self.m
        mu = (m * y + 0.5) / (m + 1) if fam.name == "binomial" else y + 0.1
        eta = np.log(mu / (1 - mu)) if fam.name == "binomial" else np.log(mu)
        beta = np.zeros(self.p)
        for _ in range(25):
            w = m * fam.mu_eta(mu) ** 2 / fam.variance(mu)
            z = eta + (y - mu) / fam.mu_eta(mu)
            new = np.linalg.lstsq(X * np.sqrt(w)[:, None], z * np.sqrt(w), rcond=None)[
                0
            ]
            eta = X @ new
            mu = fam.linkinv(eta)
            done = np.max(np.abs(new - beta)) < 1e-8
            beta = new
            if done:
                break
        return np.clip(beta, -10, 10)

    def weighted_cross_products(self, w: np.ndarray, e: np.ndarray):
        """The cross-products of :class:`~helpers.engine.model.CrossProducts` with
        weights
        ``w``, response ``e``: X'WX, X'We, Z'WZ (by blocks), Z'WX, Z'We."""
        cp = self.lm.cp
        X, XA, codes = self.X, self._XA, self._codes
        Xw = X * w[:, None]
        we = w * e
        ZtZ_A = np.empty((cp.l_A, cp.p_A, cp.p_A))
        for j in range(cp.p_A):
            for k in range(j + 1):
                ZtZ_A[:, j, k] = ZtZ_A[:, k, j] = np.bincount(
                    codes, weights=w * XA[:, j] * XA[:, k], minlength=cp.l_A
                )
        ZtX_A = np.asarray(self._ZAt @ Xw).reshape(cp.l_A, cp.p_A, self.p)
        Zte_A = np.asarray(self._ZAt @ we).reshape(cp.l_A, cp.p_A)
        extra = {}
        if cp.q_B:
            extra = dict(
                ZtX_B=np.asarray(self._ZBt @ Xw), Zte_B=np.asarray(self._ZBt @ we)
            )
            if self._b_pairs is not None:  # Z_B'WZ_B and Z_B'WZ_A by bincounts
                ZtZ_B = np.zeros(cp.q_B * cp.q_B)
                for r, c, x in self._b_pairs:
                    ZtZ_B += np.bincount(
                        r * cp.q_B + c, weights=w * x, minlength=cp.q_B * cp.q_B
                    )
                ZtZ_B = ZtZ_B.reshape(cp.q_B, cp.q_B)
                q_A = cp.l_A * cp.p_A
                ZtZ_BA = np.zeros(cp.q_B * q_A)
                for r, c, x in self._ba_pairs:
                    ZtZ_BA += np.bincount(
                        r * q_A + c, weights=w * x, minlength=cp.q_B * q_A
                    )
                extra.update(
                    ZtZ_B=ZtZ_B.reshape(cp.q_B, cp.q_B),
                    ZtZ_BA=ZtZ_BA.reshape(cp.q_B, q_A),
                )
            else:  # large: sparse products
                ZBt = self._ZBt
                ZBtW = sp.csr_matrix(
                    (ZBt.data * w[ZBt.indices], ZBt.indices, ZBt.indptr),
                    shape=ZBt.shape,
                )
                ZtZ_BA = ZBtW @ self._ZA
                extra.update(
                    ZtZ_B=(ZBtW @ self._ZB).toarray(),
                    ZtZ_BA=ZtZ_BA.toarray() if self._ba_dense else ZtZ_BA.tocsr(),
                )
        return dataclasses.replace(
            cp,
            beta_ols=np.zeros(self.p),
            XtX=X.T @ Xw,
            Xte=X.T @ we,
            ete=float(e @ we),
            ZtZ_A=ZtZ_A,
            ZtX_A=ZtX_A,
            Zte_A=Zte_A,
            **extra,
        )

    def z_lambda(self, theta: np.ndarray, u: np.ndarray) -> np.ndarray:
        """``ZΛθ u``, one value per row."""
        cp, lm = self.lm.cp, self.lm
        q_A = cp.l_A * cp.p_A
        b_A = u[:q_A].reshape(cp.l_A, cp.p_A) @ lm.T_A(theta).T
        out = np.einsum("ij,ij->i", self._XA, b_A[self._codes])
        if cp.q_B:
            out += self._ZB @ lm._lambda_B_dense(theta, u[q_A:])
        return out

    def b_from_u(self, theta: np.ndarray, u: np.ndarray) -> list:
        """The random effects b = Λθ u, one (levels x p_i) array per term."""
        cp, lm = self.lm.cp, self.lm
        q_A = cp.l_A * cp.p_A
        b_A = u[:q_A].reshape(cp.l_A, cp.p_A) @ lm.T_A(theta).T
        b_B = lm._lambda_B_dense(theta, u[q_A:]) if cp.q_B else u[q_A:]
        return lm.split_effects(b_A, b_B)

    def _pdev(self, mu, u) -> float:
        return float(
            np.sum(self.family.dev_resid(self.y, mu, self.m, self._sat)) + u @ u
        )

    # -- PIRLS -------------------------------------------------------------------
    def pirls(self, theta, beta=None, u=None, tol=1e-10, maxit=100) -> PirlsState:
        """The conditional modes at θ: over u for the given β, or over (u, β) jointly
        when
        ``beta`` is None (lme4's nAGQ = 0 criterion, stage 1)."""
        fam, X, y, m = self.family, self.X, self.y, self.m
        theta = np.asarray(theta, dtype=float)
        joint = beta is None
        warm_u, warm_beta = self._warm
        u = warm_u.copy() if u is None else np.asarray(u, dtype=float).copy()
        beta = warm_beta.copy() if joint else np.asarray(beta, dtype=float)
        lm = copy.copy(self.lm)
        zl = self.z_lambda(theta, u)
        eta = X @ beta + zl
        mu = fam.linkinv(eta)
        pdev = self._pdev(mu, u)
        for it in range(1, maxit + 1):
            dmu = fam.mu_eta(mu)
            w = m * dmu**2 / fam.variance(mu)
            resp = zl + (y - mu) / dmu + (X @ beta if joint else 0.0)
            lm.cp = self.weighted_cross_products(w, resp)
            f = lm.factor(theta)
            if joint:
                new_beta = f.beta
                new_u = spherical_modes(lm, f, f.cu - f.RZX @ new_beta)
            else:
                new_beta = beta
                new_u = spherical_modes(lm, f, f.cu)
            du, db = new_u - u, new_beta - beta
            step = 1.0
            for _ in range(40):  # step halving (lme4's pwrssUpdate)
                cu_, cb_ = u + step * du, beta + step * db
                c_zl = self.z_lambda(theta, cu_)
                c_eta = X @ cb_ + c_zl
                c_mu = fam.linkinv(c_eta)
                c_pdev = self._pdev(c_mu, cu_)
                if c_pdev <= pdev + 1e-10 * (1 + abs(pdev)):
                    break
                step /= 2
            else:
                raise FloatingPointError(
                    "PIRLS step halving failed to reduce the " "penalized deviance"
                )
            change = max(
                np.max(np.abs(step * du), initial=0.0),
                np.max(np.abs(step * db), initial=0.0),
            )
            flat = abs(pdev - c_pdev) < 1e-14 * (1 + abs(pdev))
            u, beta, zl, eta, mu, pdev = cu_, cb_, c_zl, c_eta, c_mu, c_pdev
            # a step below tol, or a penalized deviance that no longer changes (under
            # separation a fixed effect drifts towards infinity without end)
            if change < tol or (flat and it > 3):
                break
        else:
            raise FloatingPointError(f"PIRLS did not converge in {maxit} iterations")
        self._warm = (u.copy(), beta.copy())
        return PirlsState(theta, beta, u, eta, mu, f, pdev, it)

    # -- deviances -----------------------------------------------------------------
    def laplace(self, s: PirlsState) -> float:
        """lme4's Laplace deviance: ``aic + ||u||² + log|L|²``."""
        # aic = Σ deviance residuals + a constant (-2 log p(y | μ) minus the deviance
        # residual does not depend on μ): aic + ||u||² is the penalized deviance plus
        # a constant
        return s.pdev + self._aic_const + s.factor.ldL2

    def agq(self, s: PirlsState) -> float:
        """lme4's ``glmerAGQ``: adaptive Gauss-Hermite quadrature, one scalar term."""
        fam, y, m, codes = self.family, self.y, self.m, self._codes
        l_A = self.lm.cp.l_A
        x = self._XA[:, 0]
        theta = s.theta[0]

        def devc(u):
            d = fam.dev_resid(y, fam.linkinv(eta0 + x * theta * u[codes]), m, self._sat)
            return u**2 + np.bincount(codes, weights=d, minlength=l_A)

        eta0 = s.eta - x * theta * s.u[codes]
        devc0 = devc(s.u)
        sd = 1.0 / s.factor.L_A[:, 0, 0]
        mult = np.zeros(l_A)
        for z, w in zip(*self.gh):
            if z == 0:
                mult += w
            else:
                mult += w * np.exp(-0.5 * (devc(s.u + z * sd) - devc0) + 0.5 * z * z)
        return float(devc0.sum() + s.factor.ldL2 - 2 * np.sum(np.log(mult)))

    # An optimizer's trial steps can reach points where exp(η) overflows or μ hits 0 or 1
    # (large counts, a wide step in a slope): the deviance there is +inf, which sends the
    # line search back, not a warning for the reader. Hence the errstate below.
    def deviance_theta(self, theta) -> float:
        """Stage 1: the Laplace deviance at θ with β inside PIRLS (+inf where it cannot be
        evaluated)."""
        self.n_evals += 1
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            try:
                f = self.laplace(self.pirls(theta))
            except (np.linalg.LinAlgError, FloatingPointError):
                f = np.inf
        if not np.isfinite(f):
            self._warm = (np.zeros(self.q), self.beta_start.copy())
            return np.inf
        return f

    def deviance(self, par) -> float:
        """Stage 2: the deviance at ``par = (θ, β)`` (Laplace, or AGQ when nAGQ > 1;
        +inf where it cannot be evaluated)."""
        self.n_evals += 1
        par = np.asarray(par, dtype=float)
        theta, beta = par[: self.k_theta], par[self.k_theta :]
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            try:
                s = self.pirls(theta, beta)
            except (np.linalg.LinAlgError, FloatingPointError):
                try:
                    s = self.pirls(theta, beta, u=np.zeros(self.q))
                except (np.linalg.LinAlgError, FloatingPointError):
                    return np.inf
            f = self.agq(s) if self.nAGQ > 1 else self.laplace(s)
        return f if np.isfinite(f) else np.inf


# ---------------------------------------------------------------------------
# the fit
# ---------------------------------------------------------------------------
def optimize(model: GlmerModel, start=None):
    """lme4's two stages, each by L-BFGS-B, with the safeguards of ``helpers.lmer``.

    Stage 1 minimises the Laplace deviance over θ with β inside PIRLS; stage 2 over
    (θ, β) jointly, from stage 1's optimum. Gradients are central differences, one-sided
    at a bound (:func:`~helpers.engine.model._central_gradient`: across the bound 0 of a
    diagonal element of T_i a central difference is 0 by symmetry, a saddle L-BFGS-B
    would stop at). After each run every parameter at its bound is moved a few steps
    inside (and a column of T_i across it); where the deviance falls, or where a point
    evaluated on the way was lower than the optimum, L-BFGS-B starts again from the
    lowest point. A column of T_i stuck at its bound is also tried from its mirror
    image, as ``lmer`` does.

    Both stages work on scaled parameters: θ divided by
    :func:`~helpers.engine.model.theta_scales`, β by ``1 / rms`` of its column of X, so
    that a covariate measured in thousands does not leave its coefficients and slopes
    four orders of magnitude below the others (where finite differences and L-BFGS-B's
    steps are out of proportion). The model and its optimum are unchanged.

    With ``start`` (a vector (θ, β), e.g. the estimates of a fit to other data), stage 1
    is skipped and stage 2 starts there: a refit to a simulated response.

    Returns ``(par, deviance, messages)`` with ``par = (θ, β)``.
    """
    messages = []
    k = model.k_theta
    columns = _columns(model.lm)
    rms = np.sqrt(np.mean(model.X ** 2, axis=0))
    scale = np.concatenate([theta_scales(model.lm),
                            1.0 / np.where(np.isfinite(rms) & (rms > 0), rms, 1.0)])
    s_theta = scale[:k]

    def lbfgs(fun, x0, lower, label, ftol):
        bounds = [(lo if np.isfinite(lo) else None, None) for lo in lower]
        r = so.minimize(
            fun,
            x0,
            jac=lambda x: _central_gradient(fun, x, lower),
            method="L-BFGS-B",
            bounds=bounds,
            options={"ftol": ftol, "gtol": 1e-7, "maxiter": 1000},
        )
        messages.append(f"{label}: {r.message} ({r.nit} iterations, deviance {r.fun:.10g})")
        return np.asarray(r.x), float(r.fun)

    def descend(fun, x, f, lower, stage, ftol):
        """Start again from a step inside a bound, or from a lower point evaluated,
        while either is lower than the optimum."""
        for _ in range(20):
            _, probes = _boundary_probes(fun, x, lower, columns)
            if fun.best_f >= f - _tolerance(f):
                break
            moved = sorted({j for fp, _, j in probes if fp < f - _tolerance(f)})
            label = (f"{stage}, from a step inside the bound of θ{moved}" if moved
                     else f"{stage}, from a lower point evaluated on the way")
            x2, f2 = lbfgs(fun, _canonical(columns, fun.best_x), lower, label, ftol)
            if f2 >= f:
                break
            x, f = x2, f2
        return x, f

    if start is None:
        # stage 1: θ, with β inside PIRLS
        stage1 = "stage 1 (theta, beta in PIRLS), L-BFGS-B"
        fun1 = _Tracked(lambda phi: model.deviance_theta(s_theta * phi))
        phi1, f1 = lbfgs(fun1, model.theta0 / s_theta, model.lower, stage1, 1e-8)
        phi1, _ = descend(fun1, phi1, f1, model.lower, stage1, 1e-8)
        theta1 = s_theta * phi1
        start = np.concatenate([theta1, model.pirls(theta1).beta])
    # stage 2: (θ, β) jointly, scaled
    stage2 = "stage 2 (theta, beta), L-BFGS-B"
    lower = np.concatenate([model.lower, np.full(model.p, -np.inf)])
    start = np.maximum(np.asarray(start, dtype=float) / scale, lower)
    fun2 = _Tracked(lambda phi: model.deviance(scale * phi))
    best_x, best_f = lbfgs(fun2, start, lower, stage2, 1e-12)
    # a column of T_i stuck at its bound 0: try its mirror image (as lmer does)
    theta_b = np.where(best_x[:k] - model.lower < 1e-8, model.lower, best_x[:k])
    for t0 in _reflections(model.lm, theta_b):
        x, f = lbfgs(fun2, np.concatenate([t0, best_x[k:]]), lower,
                     "stage 2 from the mirror image of a column at its bound", 1e-12)
        if f < best_f - 1e-10:
            best_x, best_f = x, f
    best_x, best_f = descend(fun2, best_x, best_f, lower, stage2, 1e-12)
    on_bound = np.isfinite(lower) & (best_x - lower < 1e-10)
    par = scale * np.where(on_bound, lower, best_x)
    return par, model.deviance(par), messages


# ---------------------------------------------------------------------------
# the response
# ---------------------------------------------------------------------------
_CBIND = re.compile(r"^\s*cbind\s*\((?P<args>.*)\)\s*~(?P<rhs>.*)$", re.S)


def _split_args(text: str) -> list[str]:
    depth, out, cur = 0, [], ""
    for ch in text:
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
            continue
        depth += ch in "([{"
        depth -= ch in ")]}"
        cur += ch
    return [a.strip() for a in out + [cur]]


def _response(formula: str, data: pd.DataFrame, family: Family):
    """Rewrite a ``cbind(successes, failures) ~ ...`` response or a boolean response
    into
    one numeric column; returns ``(formula, data, trials_column or None)``."""
    match = _CBIND.match(formula)
    if match:
        if family.name != "binomial":
            raise ValueError(
                "cbind(successes, failures) is a binomial response; the "
                f"family is {family.name!r}"
            )
        args = _split_args(match.group("args"))
        if len(args) != 2:
            raise ValueError(
                f"cbind() in {formula!r} needs two columns: cbind(successes, "
                "failures)"
            )
        cols = []
        for a in args:
            try:
                v = data.eval(a, engine="python")
            except (
                Exception
            ) as err:  # noqa: BLE001 - any evaluation failure is the user's
                raise ValueError(
                    f"cannot evaluate {a!r} of cbind() in {formula!r}: " f"{err}"
                ) from None
            v = pd.Series(np.asarray(v, dtype=float), index=data.index)
            if v.isna().any():
                raise ValueError(
                    f"{a!r} (in cbind()) has {int(v.isna().sum())} missing "
                    "values: drop or fill those rows first"
                )
            if np.any(v < 0) or np.any(v != np.round(v)):
                raise ValueError(
                    f"{a!r} (in cbind()) must be non-negative whole numbers "
                    "(counts of successes and failures)"
                )
            cols.append(v)
        trials = cols[0] + cols[1]
        if np.any(trials == 0):
            raise ValueError(
                f"{int((trials == 0).sum())} rows have no trials "
                "(successes + failures = 0): drop them"
            )
        work = data.copy()
        work["_glmer_proportion"] = cols[0] / trials
        work["_glmer_trials"] = trials
        return f"_glmer_proportion ~{match.group('rhs')}", work, "_glmer_trials"
    lhs = formula.split("~", 1)[0].strip()
    if lhs in data.columns:
        col = data[lhs]
        if pd.api.types.is_bool_dtype(col.dtype) or (
            col.dtype == object and col.dropna().map(type).eq(bool).all()
        ):
            work = data.copy()
            work[lhs] = col.astype(float)
            return formula, work, None
    return formula, data, None


def _check_response(y, m, family: Family, name: str):
    if not np.all(np.isfinite(y)):
        raise ValueError(f"the response {name!r} has missing or infinite values")
    if family.name == "binomial":
        if m is None:
            bad = ~np.isin(y, (0.0, 1.0))
            if bad.any():
                raise ValueError(
                    f"the binomial response {name!r} must be 0/1 (or True/False); "
                    f"it has {int(bad.sum())} other values (e.g. {y[bad][0]!r}). "
                    "For successes out "
                    "of several trials write cbind(successes, failures) ~ ..."
                )
    elif np.any(y < 0):
        raise ValueError(
            f"the Poisson response {name!r} has negative values: counts " "must be >= 0"
        )
    elif np.any(y != np.round(y)):
        warnings.warn(
            f"the Poisson response {name!r} has non-integer values",
            UserWarning,
            stacklevel=3,
        )


def _separation(result) -> list[str]:
    """Cells of the fixed-effects design where the response is all 0 or all 1
    (binomial) or
    all 0 (Poisson), over the categorical variables of the fixed part."""
    info = result.design_info
    factors = [f for f, fi in info.factor_infos.items() if fi.type == "categorical"]
    names = [f.code for f in factors]
    y = result._y_prop
    frame = pd.DataFrame({"_y": y}, index=result.frame.index)
    for name in list(names):
        if name in result.frame.columns:
            frame[name] = result.frame[name].to_numpy()
        else:  # an expression such as C(x): evaluate it on the rows fitted
            try:
                frame[name] = np.asarray(result.frame.eval(name, engine="python"))
            except Exception:  # noqa: BLE001 - then this variable is left out
                names.remove(name)
    cells = []
    groups = [names] if names else []
    for by in groups:
        stats = frame.groupby(by, observed=True)["_y"].agg(["min", "max", "size"])
        for key, row in stats.iterrows():
            key = key if isinstance(key, tuple) else (key,)
            label = ", ".join(f"{n} = {v}" for n, v in zip(by, key))
            if row["max"] == 0:
                cells.append(f"{label} ({int(row['size'])} rows, all 0)")
            elif result.family.name == "binomial" and row["min"] == 1:
                cells.append(f"{label} ({int(row['size'])} rows, all 1)")
    return cells


# ---------------------------------------------------------------------------
# the public function
# ---------------------------------------------------------------------------
def glmer(
    formula: str,
    data: pd.DataFrame,
    family: str = "binomial",
    nAGQ: int = 1,
    *,
    missing: str = "raise",
    eval_env=None,
):
    """Fit a generalized linear mixed model with lme4's algorithm (``lme4::glmer``).

    Parameters
    ----------
    formula : str
        An lme4 formula, as for :func:`helpers.lmer`: ``"correct ~ cond + (1 | subject)
        + (1 | item)"``. A binomial response is a 0/1 (or True/False) column, or
        successes out of trials written as in lme4: ``"cbind(successes, failures) ~
        period + (1 | herd)"`` (each argument a column or an expression of columns,
        e.g. ``size - incidence``).
    data : pandas.DataFrame
        Long format, one row per observation (or per binomial cell). Not modified.
    family : {"binomial", "poisson"}
        Binomial with the logit link, or Poisson with the log link.
    nAGQ : int, default 1
        1: the Laplace approximation (lme4's default). Above 1: adaptive Gauss-Hermite
        quadrature with that many nodes, for a model with a single scalar random
        effect (one ``(1 | g)`` term), as lme4 allows.
    missing : {"raise", "drop"}, default "raise"
        Missing values in a column the model uses are refused with a ``ValueError``
        naming the columns; ``"drop"`` drops those rows with a warning that counts them.
    eval_env : mapping, optional
        Names the formula may use besides the columns (default: the caller's namespace).

    Returns
    -------
    helpers.engine.glm_results.GlmerResult

    Warns
    -----
    SeparationWarning
        A cell of the categorical fixed effects has only 0s or only 1s: its fixed
        effect is not estimable (it runs off to ±∞ with a huge standard error).
    ConvergenceWarning
        The optimum failed lme4's gradient or Hessian checks.

    Examples
    --------
    >>> import pandas as pd, helpers
    >>> from helpers.engine.glmer import glmer
    >>> cbpp = pd.read_csv("data/reference/glmer/cbpp.csv")      # doctest: +SKIP
    >>> m = glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp)
    ... # doctest: +SKIP
    """
    from .glm_results import GlmerResult

    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if family not in _FAMILIES:
        raise ValueError(
            f"unknown family {family!r}: glmer fits 'binomial' (logit link) or "
            "'poisson' (log link)"
        )
    fam = _FAMILIES[family]
    if isinstance(nAGQ, bool) or not isinstance(nAGQ, (int, np.integer)) or nAGQ < 1:
        raise ValueError(
            f"nAGQ must be a positive integer, got {nAGQ!r} (nAGQ = 0, lme4's "
            "fast approximation, is not offered)"
        )
    namespace = _formula._caller_namespace(1) if eval_env is None else dict(eval_env)
    fit_formula, work_data, trials_col = _response(formula, data, fam)
    frame = _formula.read_frame(
        fit_formula,
        work_data,
        namespace,
        missing=missing,
        allowed_missing=("drop", "raise"),
        model="glmer",
    )
    parsed, env, work = frame.parsed, frame.env, frame.work
    fixed_formula = f"{parsed.response} ~ {parsed.fixed}"
    try:
        y_df, X_df = patsy.dmatrices(
            fixed_formula,
            work,
            eval_env=patsy.EvalEnvironment([env]),
            NA_action="raise",
            return_type="dataframe",
        )
    except (patsy.PatsyError, SyntaxError) as err:
        raise ValueError(
            f"patsy cannot build the fixed effects of {formula!r}: {err}"
        ) from None
    if y_df.shape[1] != 1:
        raise ValueError(
            f"the response {parsed.response!r} must be one numeric (0/1) column"
        )
    X = np.asarray(X_df, dtype=float)
    y = np.asarray(y_df, dtype=float)[:, 0]
    m = (
        np.asarray(work_data.loc[work.index, trials_col], dtype=float)
        if trials_col
        else None
    )
    _check_response(y, m, fam, parsed.response if not trials_col else "cbind(...)")
    m = np.ones_like(y) if m is None else m
    n, p = X.shape
    if np.linalg.matrix_rank(X) < p:
        raise ValueError(
            f"the fixed-effects design of {parsed.fixed!r} is rank deficient ({p} "
            f"columns, rank {np.linalg.matrix_rank(X)}): some effects are aliased "
            "(e.g. an empty cell). "
            "Simplify the fixed effects."
        )
    terms = build_terms(parsed.terms, work, env)
    _check_terms(terms, n)
    if nAGQ > 1 and (len(terms) != 1 or terms[0].p != 1):
        raise ValueError(
            f"nAGQ = {nAGQ} (adaptive quadrature) needs a single scalar random "
            "effect such as (1 | g); this model has "
            f"{', '.join(str(t) for t in terms)}. Use nAGQ = 1 (Laplace)."
        )

    with _one_blas_thread():
        model = GlmerModel(X, y, m, terms, fam, nAGQ=nAGQ)
        par, dev, messages = optimize(model)
        result = GlmerResult._from_fit(
            model,
            par,
            dev,
            messages,
            formula=formula,
            fixed_formula=fixed_formula,
            X_df=X_df,
            frame=work,
            env=env,
            random_terms=parsed.terms,
        )
    if not result.converged:
        warnings.warn(
            f"glmer({formula!r}): the fit did not pass lme4's convergence checks: "
            + "; ".join(result.convergence.messages),
            ConvergenceWarning,
            stacklevel=2,
        )
    cells = _separation(result)
    big = [
        name
        for name, b, se in zip(result.exog_names, result.fe_params, result.bse)
        if abs(b) > 10 or se > 20
    ]
    if cells or big:
        result.separation = {"cells": cells, "terms": big}
        what = (
            ("the response is constant in " + "; ".join(cells))
            if cells
            else "some fixed effects have huge estimates or standard errors"
        )
        warnings.warn(
            f"glmer({formula!r}): complete or quasi-complete separation: {what}. "
            + (
                f"The estimates of {', '.join(big)} run off towards infinity (their "
                "Wald "
                "tests and standard errors are meaningless). "
                if big
                else ""
            )
            + "Drop those conditions from the model (e.g. fit the other conditions "
            "only), or use a bias-reduced or Bayesian model with a weakly informative "
            "prior on the fixed effects.",
            SeparationWarning,
            stacklevel=2,
        )
    return result
