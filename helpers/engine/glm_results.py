"""The fitted model of :func:`helpers.engine.glmer.glmer` (lme4's ``glmerMod``).

:class:`GlmerResult` extends :class:`~helpers.engine.results.LmerResult` (the same
terms, θ, conditional modes, ``ranef`` and ``is_singular``) with what differs for a
generalized model: no residual variance, Wald z tests, lme4's ``vcov`` from the
Hessian, predictions on the link or the response scale.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import scipy.stats as st

from .model import _columns, _gradient_and_hessian, check_convergence
from .results import LmerResult, Summary, _fmt_table, _num, _sig

__all__ = ["GlmerResult"]


class GlmerResult(LmerResult):
    """A generalized linear mixed model fitted by ``glmer`` (lme4's ``glmerMod``).

    Attributes
    ----------
    fe_params, bse : pandas.Series
        Fixed effects on the link scale (log-odds, log-rate) and their standard errors.
    vcov : pandas.DataFrame
        lme4's ``vcov(m)``: from the finite-difference Hessian of the deviance in (θ, β)
        (``use.hessian = TRUE``), or ``(RX RX')⁻¹`` when that matrix is not positive
        definite (lme4's fallback).
    zvalues, pvalues : pandas.Series
        Wald z statistics and two-sided normal p-values (lme4's summary).
    theta : numpy.ndarray
        lme4's θ: here the random effects' standard deviations and Cholesky factors
        themselves (no residual scale).
    llf : float
        lme4's ``logLik`` (Laplace approximation, or adaptive quadrature for nAGQ > 1).
    deviance : float
        lme4's ``deviance(m)`` for a GLMM: the sum of squared deviance residuals at
        the conditional modes (not ``-2 llf``; that is ``minus2llf``).
    aic, bic : float
        ``-2 llf + 2k`` and ``-2 llf + k log(n)``, k = fixed effects + θ.
    fitted : pandas.Series
        Fitted means μ at the conditional modes (lme4's ``fitted(m)``).
    converged : bool
        lme4's gradient and Hessian checks on (θ, β) passed.
    separation : dict or None
        Cells of the design where the response is constant, and the fixed effects
        that ran off (see ``SeparationWarning``).
    """

    family = None
    separation = None

    @classmethod
    def _from_fit(
        cls,
        gmodel,
        par,
        dev,
        messages,
        *,
        formula,
        fixed_formula,
        X_df,
        frame,
        env,
        random_terms,
    ):
        self = cls()
        k = gmodel.k_theta
        par = np.asarray(par, dtype=float)
        self.glmm = gmodel
        self.model = gmodel.lm  # terms, T_i(θ): what LmerResult's methods use
        self.family = gmodel.family
        self.nAGQ = gmodel.nAGQ
        self.formula = formula
        self.fixed_formula = fixed_formula
        self.reml = False
        self.method = "Laplace" if gmodel.nAGQ == 1 else f"AGQ{gmodel.nAGQ}"
        self.theta = par[:k].copy()
        self.terms = gmodel.terms
        self.random_terms = random_terms
        self.design_info = X_df.design_info
        self.exog_names = list(X_df.columns)
        self.frame = frame
        self._env = env
        self._X = gmodel.X
        self._X_df = X_df
        self._y = gmodel.y
        self._y_prop = gmodel.y
        self.weights = gmodel.m
        n, p = gmodel.X.shape
        self.nobs = n
        self.sigma, self.scale = 1.0, 1.0
        s = gmodel.pirls(self.theta, par[k:])
        self._state = s
        self.minus2llf = float(dev)
        self.llf = -0.5 * self.minus2llf
        self.deviance = float(np.sum(gmodel.family.dev_resid(gmodel.y, s.mu, gmodel.m)))
        self.n_params = p + k
        self.aic = self.minus2llf + 2 * self.n_params
        self.bic = self.minus2llf + self.n_params * math.log(n)
        self.fe_params = pd.Series(par[k:], index=self.exog_names, name="fe_params")

        # lme4's checkConv and vcov, from the same finite-difference derivatives (at a
        # boundary too: the deviance is even in each column of T_i; lme4's deriv12)
        fun = _Cache(gmodel.deviance)
        lower = np.concatenate([gmodel.lower, np.full(p, -np.inf)])
        conv = check_convergence(fun, par, lower, columns=_columns(gmodel.lm))
        vcov_rx = np.linalg.inv(s.factor.RX @ s.factor.RX.T)
        vcov, self.vcov_source = vcov_rx, "RX"
        _, H = _gradient_and_hessian(fun, par)
        try:
            Vh = np.linalg.inv(H)[k:, k:]
            Vh = Vh + Vh.T
            if np.all(np.isfinite(Vh)) and np.min(np.linalg.eigvalsh(Vh)) > 0:
                vcov, self.vcov_source = Vh, "Hessian"
            else:
                messages = messages + [
                    "the covariance of the fixed effects from the finite-difference "
                    "Hessian is not positive definite: falling back to RX (as lme4)"
                ]
        except np.linalg.LinAlgError:
            pass
        gmodel.pirls(self.theta, par[k:])  # the warm start back at the optimum
        self.vcov = pd.DataFrame(vcov, index=self.exog_names, columns=self.exog_names)
        self.bse = pd.Series(np.sqrt(np.diag(vcov)), index=self.exog_names, name="bse")
        self.zvalues = self.fe_params / self.bse
        self.tvalues = self.zvalues
        self.pvalues = pd.Series(
            2 * st.norm.sf(np.abs(self.zvalues)), index=self.exog_names, name="pvalues"
        )
        self.converged = bool(conv.converged)
        self.convergence = conv
        self.optimizer_messages = list(messages) + list(conv.messages)
        self.n_evals = gmodel.n_evals
        self._b = gmodel.b_from_u(self.theta, s.u)
        self.fitted = pd.Series(s.mu, index=frame.index, name="fitted")
        self.resid = pd.Series(
            np.sign(gmodel.y - s.mu)
            * np.sqrt(np.maximum(gmodel.family.dev_resid(gmodel.y, s.mu, gmodel.m), 0)),
            index=frame.index,
            name="deviance residuals",
        )
        self.ngroups = {}
        for t in self.terms:
            self.ngroups.setdefault(t.group, t.n_levels)
        return self

    # ------------------------------------------------------------------ VarCorr
    def varcorr(self) -> pd.DataFrame:
        """R's ``as.data.frame(VarCorr(m))`` (grp, var1, var2, vcov, sdcor), no
        residual row."""
        out = super().varcorr()
        return out[out["grp"] != "Residual"].reset_index(drop=True)

    # ------------------------------------------------------------------ prediction
    def predict(
        self, newdata: pd.DataFrame | None = None, type: str = "link", re: bool = True
    ) -> pd.Series:
        """Predictions for the rows fitted or ``newdata`` (lme4's ``predict.merMod``).

        Parameters
        ----------
        newdata : pandas.DataFrame, optional
        type : {"link", "response"}
            The linear predictor η (log-odds, log-rate) or the mean μ (probability,
            rate).
        re : bool, default True
            Include the conditional modes (``re.form = NULL``); ``False`` gives the
            population value (``re.form = NA``). Levels not seen in the fit get the
            population value (``allow.new.levels = TRUE``).
        """
        if type not in ("link", "response"):
            raise ValueError(f"type must be 'link' or 'response', got {type!r}")
        eta = super().predict(newdata, re=re)
        if type == "link":
            return eta
        mu = self.family.linkinv(eta.to_numpy())
        return pd.Series(mu, index=eta.index, name="predicted")

    # ------------------------------------------------------------------ simulation
    def _simulate_one(self, rng: np.random.Generator) -> np.ndarray:
        """One response drawn from the fit (what :meth:`simulate` returns, row by row):
        random effects ``b* ~ N(0, ΛΛ')`` drawn term by term, ``μ* = g⁻¹(Xβ̂ + Zb*)``,
        then a binomial draw given as the proportion of the row's trials that succeed (0
        or 1 for a 0/1 response; lme4 returns the successes and failures of a ``cbind``
        response as two columns instead) or a Poisson count."""
        eta = self._X @ self.fe_params.to_numpy()
        for i, t in enumerate(self.terms):
            T = self.model.T(self.theta, i)
            b = rng.standard_normal((t.n_levels, t.p)) @ T.T
            eta = eta + np.einsum("ij,ij->i", t.X, b[t.codes])
        mu = self.family.linkinv(eta)
        if self.family.name == "binomial":
            m = np.round(self.weights).astype(np.int64)
            return rng.binomial(m, mu) / m
        return rng.poisson(mu).astype(float)

    def _quick_refit(self, y) -> tuple:
        """The fit to a new response, from this fit's (θ, β), without convergence checks
        or conditional modes: ``(theta, 1.0, beta, deviance)``, laid out as
        :meth:`LmerResult._quick_refit` (a GLMM has no residual SD: 1). Only glmer's
        second stage runs (from the estimates), with the same safeguards at the
        bounds."""
        from .glmer import optimize
        from .model import _one_blas_thread

        with _one_blas_thread():
            m = self.glmm.with_response(y)
            par, dev, _ = optimize(m, start=np.concatenate([self.theta,
                                                            self.fe_params.to_numpy()]))
        k = self.glmm.k_theta
        return par[:k], 1.0, par[k:], dev

    def refit(self, y) -> "GlmerResult":
        """The same model fitted to a new response ``y`` (lme4's ``refit(m, newresp)``).

        ``y`` is on the scale of :meth:`simulate`: 0/1, proportions of successes out of
        the row's trials for a ``cbind`` response, counts for Poisson. The design is
        reused; the optimizer starts at this fit's (θ, β) and the result is a full
        :class:`GlmerResult`, with lme4's convergence checks.
        """
        from .glmer import optimize
        from .model import _one_blas_thread

        with _one_blas_thread():
            m = self.glmm.with_response(y)
            start = np.concatenate([self.theta, self.fe_params.to_numpy()])
            par, dev, messages = optimize(m, start=start)
            return GlmerResult._from_fit(
                m, par, dev, ["refit from the original fit's estimates"] + messages,
                formula=self.formula, fixed_formula=self.fixed_formula, X_df=self._X_df,
                frame=self.frame, env=self._env, random_terms=self.random_terms)

    # ------------------------------------------------------------------ summary
    def summary(self) -> "GlmerSummary":
        """The fit laid out like lme4's ``summary(m)``."""
        return GlmerSummary(self)

    def __repr__(self) -> str:
        return (
            f"<GlmerResult {self.family.name} {self.method} fit of {self.formula!r}: "
            f"logLik {self.llf:.4f}>"
        )


class _Cache:
    """A function of a vector that remembers its values (the convergence check and
    the Hessian evaluate the deviance at the same points)."""

    def __init__(self, fun):
        self.fun, self.values = fun, {}

    def __call__(self, x):
        key = np.asarray(x, dtype=float).tobytes()
        if key not in self.values:
            self.values[key] = self.fun(x)
        return self.values[key]


class GlmerSummary(Summary):
    """lme4's ``print(summary(m))`` for a GLMM, as text."""

    def __str__(self) -> str:
        r = self.result
        how = (
            "Laplace Approximation"
            if r.nAGQ == 1
            else f"Adaptive Gauss-Hermite Quadrature (nAGQ = {r.nAGQ})"
        )
        out = [
            "Generalized linear mixed model fit by maximum likelihood",
            f"  ({how}; helpers.glmer, lme4's algorithm)",
            f" Family: {r.family.name}  ( {r.family.link} )",
            f"Formula: {r.formula}",
            "",
        ]
        out += _fmt_table(
            ["AIC", "BIC", "logLik", "deviance", "df.resid"],
            [
                [
                    f"{r.aic:.1f}",
                    f"{r.bic:.1f}",
                    f"{r.llf:.1f}",
                    f"{r.minus2llf:.1f}",
                    str(r.nobs - r.n_params),
                ]
            ],
            "rrrrr",
        )
        out += ["", "Random effects:"]
        rows = []
        for i, t in enumerate(r.terms):
            T = r.model.T(r.theta, i)
            cov = T @ T.T
            sd = np.sqrt(np.clip(np.diag(cov), 0, None))
            with np.errstate(invalid="ignore", divide="ignore"):
                corr = cov / np.outer(sd, sd)
            for j in range(t.p):
                cells = [
                    t.group if j == 0 else "",
                    t.cnames[j],
                    _sig(cov[j, j]),
                    _sig(sd[j]),
                ]
                rows.append(cells + [" ".join(f"{corr[j, k]:.2f}" for k in range(j))])
        out += _fmt_table(
            ["Groups", "Name", "Variance", "Std.Dev.", "Corr"], rows, "llrrl"
        )
        groups = ", ".join(f"{g}, {k}" for g, k in r.ngroups.items())
        out += [f"Number of obs: {r.nobs}, groups:  {groups}", "", "Fixed effects:"]
        rows = [
            [name, _num(b), _num(se), f"{z:.3f}", _pval(pv)]
            for name, b, se, z, pv in zip(
                r.exog_names, r.fe_params, r.bse, r.zvalues, r.pvalues
            )
        ]
        out += _fmt_table(
            ["", "Estimate", "Std. Error", "z value", "Pr(>|z|)"], rows, "lrrrr"
        )
        notes = []
        if r.is_singular():
            notes.append(
                "boundary (singular) fit: a random-effect variance is estimated "
                "at 0 (see helpers.is_singular)"
            )
        if not r.converged:
            notes += list(r.convergence.messages) or ["the optimizer did not converge"]
        if r.separation:
            notes.append(
                "separation: the response is constant in "
                + "; ".join(r.separation["cells"] or ["some cells"])
            )
        if notes:
            out += [""] + notes
        return "\n".join(out)


def _pval(p: float) -> str:
    return "<2e-16" if p < 2e-16 else f"{p:.3g}"
