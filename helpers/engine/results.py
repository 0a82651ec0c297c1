"""The fitted model of :func:`helpers.lmer`: estimates, conditional modes, predictions,
``VarCorr`` and a summary laid out like lme4's ``print(summary(m))``.

The fit itself (:mod:`helpers.engine.model`) returns numbers; this module only
collects and presents them, in the names a reader of statsmodels
(``fe_params``, ``bse``, ``llf``, ``fittedvalues``) or of lme4 (``theta``,
``sigma``, ``ranef``, ``VarCorr``) looks for.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import patsy
import scipy.linalg as sla

from .terms import group_labels

__all__ = ["LmerResult", "is_singular", "likelihood_summary"]


def _make_unique(names):
    """R's make.unique: the second "subject" becomes "subject.1"."""
    seen, out = {}, []
    for n in names:
        if n in seen:
            seen[n] += 1
            out.append(f"{n}.{seen[n]}")
        else:
            seen[n] = 0
            out.append(n)
    return out


class LmerResult:
    """A linear mixed model fitted by :func:`helpers.lmer` (lme4's ``lmerMod``).

    Attributes
    ----------
    fe_params : pandas.Series
        Fixed effects β̂, named as patsy and statsmodels name them (``Intercept``,
        ``cond[T.hard]``).
    bse : pandas.Series
        Their standard errors, the square roots of ``diag(vcov)``.
    vcov : pandas.DataFrame
        lme4's ``vcov(m)``: σ̂² (RX RX')⁻¹.
    theta : numpy.ndarray
        lme4's θ (``getME(m, "theta")``): the lower triangles of the relative factors
        T_i, term after term, column by column.
    sigma, scale : float
        Residual standard deviation σ̂ and variance σ̂².
    llf : float
        Log-likelihood (REML or ML), lme4's ``logLik`` and statsmodels' ``llf``.
    deviance : float
        ``-2 llf``: the REML criterion of a REML fit (lme4's ``REMLcrit``), the deviance
        of an ML fit.
    aic, bic : float
        ``-2 llf + 2 k`` and ``-2 llf + k log(n)``, k the number of parameters
        (fixed effects, θ and σ), as lme4's ``AIC``/``BIC`` (on the REML likelihood for a
        REML fit, as lme4 does).
    nobs : int
    ngroups : dict
        Number of levels of each grouping factor (lme4's ``ngrps``).
    ranef : dict of pandas.DataFrame
        Conditional modes of the random effects (lme4's ``ranef``), one DataFrame per
        grouping factor: index its levels, columns the terms' effects.
    fitted, resid : pandas.Series
        Fitted values ``Xβ̂ + Zb̂`` and residuals ``y - fitted``.
    converged : bool
        Whether the optimizer stopped normally and lme4's gradient and Hessian checks pass.
    optimizer_messages : list of str
        What each optimizer said, and any convergence warning.
    method : str
        ``"REML"`` or ``"ML"``.
    """

    # ------------------------------------------------------------------ building
    @classmethod
    def _from_fit(cls, model, theta, dev, messages, conv, *, formula, fixed_formula, X_df, y,
                  frame, env, random_terms):
        self = cls()
        self.model = model
        self.formula = formula
        self.fixed_formula = fixed_formula
        self.reml = model.reml
        self.method = "REML" if model.reml else "ML"
        self.theta = np.asarray(theta, dtype=float)
        self.terms = model.terms
        self.random_terms = random_terms
        self.design_info = X_df.design_info
        self.exog_names = list(X_df.columns)
        self.frame = frame
        self._env = env
        self._X = np.asarray(X_df, dtype=float)
        self._X_df = X_df  # for refit
        self._y = y
        f = model.factor(self.theta)
        self._factor = f
        n, p = model.n, model.p
        self.nobs = n
        self.sigma = model.sigma(f)
        self.scale = self.sigma ** 2
        self.deviance = float(dev)
        self.llf = -0.5 * self.deviance
        self.n_params = p + len(self.theta) + 1
        self.aic = self.deviance + 2 * self.n_params
        self.bic = self.deviance + self.n_params * math.log(n)
        self.fe_params = pd.Series(f.beta, index=self.exog_names, name="fe_params")
        RXinv = sla.solve_triangular(f.RX, np.eye(p), lower=True)
        vcov = self.scale * (RXinv.T @ RXinv)
        self.vcov = pd.DataFrame(vcov, index=self.exog_names, columns=self.exog_names)
        self.bse = pd.Series(np.sqrt(np.diag(vcov)), index=self.exog_names, name="bse")
        self.tvalues = self.fe_params / self.bse
        self.converged = bool(conv.converged)
        self.convergence = conv
        self.optimizer_messages = list(messages)
        self.n_evals = model.n_evals
        # conditional modes b̂, per term, and the fitted values Xβ̂ + Zb̂
        self._b = model.conditional_modes(f)
        zb = np.zeros(n)
        for t, b in zip(self.terms, self._b):
            zb += np.einsum("ij,ij->i", t.X, b[t.codes])
        index = frame.index
        self.fitted = pd.Series(self._X @ f.beta + zb, index=index, name="fitted")
        self.resid = pd.Series(y - self.fitted.to_numpy(), index=index, name="resid")
        self.ngroups = {}
        for t in self.terms:
            self.ngroups.setdefault(t.group, t.n_levels)
        return self

    # ------------------------------------------------------------------ statsmodels names
    @property
    def params(self) -> pd.Series:
        return self.fe_params

    @property
    def fittedvalues(self) -> pd.Series:
        return self.fitted

    @property
    def REMLcrit(self) -> float:
        return self.deviance

    @property
    def ranef(self) -> dict:
        out: dict[str, pd.DataFrame] = {}
        for t, b in zip(self.terms, self._b):
            columns = list(t.cnames)
            if t.group in out:  # a second term on the same factor: lme4 puts them side by side
                columns = [c if c not in out[t.group].columns else f"{c}.1" for c in columns]
            df = pd.DataFrame(b, index=pd.Index(t.levels, name=t.group), columns=columns)
            out[t.group] = df if t.group not in out else pd.concat([out[t.group], df], axis=1)
        return out

    def is_singular(self, tol: float = 1e-4) -> bool:
        """lme4's ``isSingular``: a diagonal element of some T_i below ``tol``."""
        diag = np.concatenate([np.diag(self.model.T(self.theta, i))
                               for i in range(len(self.terms))])
        return bool(np.any(diag < tol))

    # ------------------------------------------------------------------ VarCorr
    def varcorr(self) -> pd.DataFrame:
        """R's ``as.data.frame(VarCorr(m))``: grp, var1, var2, vcov, sdcor."""
        rows = []
        for i, (t, grp) in enumerate(zip(self.terms, _make_unique([t.group for t in self.terms]))):
            T = self.model.T(self.theta, i)
            cov = self.scale * (T @ T.T)
            sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
            for j in range(t.p):
                rows.append((grp, t.cnames[j], np.nan, cov[j, j], sd[j]))
            for j in range(t.p):
                for k in range(j + 1, t.p):
                    den = sd[j] * sd[k]
                    rows.append((grp, t.cnames[j], t.cnames[k], cov[k, j],
                                 cov[k, j] / den if den > 0 else np.nan))
        rows.append(("Residual", np.nan, np.nan, self.scale, self.sigma))
        out = pd.DataFrame(rows, columns=["grp", "var1", "var2", "vcov", "sdcor"])
        for col in ("grp", "var1", "var2"):
            out[col] = pd.Series([np.nan if pd.isna(v) else str(v) for v in out[col]],
                                 dtype=object)
        return out

    # ------------------------------------------------------------------ new responses
    def _simulate_one(self, rng: np.random.Generator) -> np.ndarray:
        """One response drawn from the fit: ``Xβ̂ + Zb* + ε*``, ``b* ~ N(0, σ̂² ΛΛ')``
        drawn term by term (``σ̂ T_i u``, u standard normal per level), then
        ``ε* ~ N(0, σ̂² I)``."""
        y = self._X @ self.fe_params.to_numpy()
        for i, t in enumerate(self.terms):
            T = self.model.T(self.theta, i)
            b = self.sigma * rng.standard_normal((t.n_levels, t.p)) @ T.T
            y += np.einsum("ij,ij->i", t.X, b[t.codes])
        return y + self.sigma * rng.standard_normal(self.nobs)

    def simulate(self, nsim: int = 1, seed=None) -> np.ndarray:
        """Responses simulated from the fitted model (lme4's ``simulate(m, use.u = FALSE)``).

        Parameters
        ----------
        nsim : int, default 1
            Number of response vectors.
        seed : int, numpy SeedSequence or Generator, optional
            Seed for ``numpy.random.default_rng``.

        Returns
        -------
        numpy.ndarray, shape (nsim, nobs)
            Fixed part ``Xβ̂``, plus random effects drawn from their estimated covariance
            ``σ̂² T_i T_i'`` (new ones for every vector), plus residual noise ``N(0, σ̂²)``.
            For a ``helpers.glmer`` fit, new random effects and then a binomial or
            Poisson draw around ``g⁻¹(Xβ̂ + Zb*)``
            (:meth:`~helpers.engine.glm_results.GlmerResult._simulate_one`).
        """
        if isinstance(nsim, bool) or not isinstance(nsim, (int, np.integer)) or nsim < 1:
            raise ValueError(f"nsim must be a positive integer, got {nsim!r}")
        rng = np.random.default_rng(seed)
        return np.vstack([self._simulate_one(rng) for _ in range(int(nsim))])

    def _quick_refit(self, y) -> tuple:
        """The fit to a new response, starting from this fit's θ, without convergence
        checks or conditional modes: ``(theta, sigma, beta, deviance)``. Costs no more
        than a fit once the rows are summed (see ``LmerModel.with_response``)."""
        from .model import _one_blas_thread

        with _one_blas_thread():
            m = self.model.with_response(y)
            theta, dev = m.refit_theta(self.theta)
            f = m.factor(theta)
        return theta, m.sigma(f), f.beta, dev

    def refit(self, y) -> "LmerResult":
        """The same model fitted to a new response ``y`` (lme4's ``refit(m, newresp)``).

        Reuses the cross-products of X and Z (only ``X'y``, ``Z'y`` and ``y'y`` are
        recomputed) and starts the optimizer at this fit's θ; the result is a full
        :class:`LmerResult`, with lme4's convergence checks.
        """
        from .model import _one_blas_thread, check_convergence

        y = np.asarray(y, dtype=float).ravel()
        with _one_blas_thread():
            m = self.model.with_response(y)
            theta, dev = m.refit_theta(self.theta)
            conv = check_convergence(m.deviance, theta, m.lower)
        return LmerResult._from_fit(
            m, theta, dev, ["L-BFGS-B from the original fit's theta (refit)"] + conv.messages,
            conv, formula=self.formula, fixed_formula=self.fixed_formula, X_df=self._X_df,
            y=y, frame=self.frame, env=self._env, random_terms=self.random_terms)

    # ------------------------------------------------------------------ prediction
    def predict(self, newdata: pd.DataFrame | None = None, re: bool = True) -> pd.Series:
        """Predictions ``Xβ̂ (+ Zb̂)``, for the data fitted or for ``newdata``.

        Parameters
        ----------
        newdata : pandas.DataFrame, optional
            Rows to predict; default the rows fitted.
        re : bool, default True
            Include the random effects (lme4's ``re.form = NULL``); ``False`` gives the
            population prediction ``Xβ̂`` (``re.form = NA``). A level not seen in the fit
            gets the population value: a random effect of 0 (lme4's
            ``allow.new.levels = TRUE``).
        """
        if newdata is None:
            x = self._X
            frame = self.frame
        else:
            if not isinstance(newdata, pd.DataFrame):
                raise ValueError("newdata must be a pandas DataFrame, got "
                                 f"{type(newdata).__name__}")
            frame = newdata
            try:
                (x,) = patsy.build_design_matrices([self.design_info], newdata,
                                                   NA_action="raise")
            except patsy.PatsyError as err:
                raise ValueError(f"cannot build the fixed effects for newdata: {err}") from None
            x = np.asarray(x, dtype=float)
        pred = x @ self.fe_params.to_numpy()
        if re:
            for t, b in zip(self.terms, self._b):
                absent = [c for c in t.columns if c not in frame.columns]
                if absent:
                    raise KeyError(f"grouping column {absent[0]!r} is not in newdata; give "
                                   "it, or predict with re=False")
                if newdata is None:
                    xt, codes = t.X, t.codes
                else:
                    (xt,) = patsy.build_design_matrices([t.design_info], frame,
                                                        NA_action="raise")
                    xt = np.asarray(xt, dtype=float)
                    codes = t.levels.get_indexer(group_labels(frame, t.columns))
                seen = codes >= 0
                contrib = np.zeros(len(frame))
                contrib[seen] = np.einsum("ij,ij->i", xt[seen], b[codes[seen]])
                pred = pred + contrib
        return pd.Series(pred, index=frame.index, name="predicted")

    # ------------------------------------------------------------------ summary
    def summary(self) -> "Summary":
        """The fit laid out like lme4's ``summary(m)``."""
        return Summary(self)

    def __repr__(self) -> str:
        return (f"<LmerResult {self.method} fit of {self.formula!r}: "
                f"{'REML criterion' if self.reml else 'deviance'} {self.deviance:.4f}>")


def _sig(v: float) -> str:
    """Four significant digits without exponent where that reads well (12960, 113.8, 0.0655)."""
    if v == 0 or not np.isfinite(v):
        return f"{v:g}"
    if not 1e-4 <= abs(v) < 1e8:
        return f"{v:.3e}"
    return f"{v:.{max(0, 3 - int(math.floor(math.log10(abs(v)))))}f}"


def _num(v: float) -> str:
    """Three decimals, as lme4 prints estimates; scientific notation for tiny or huge ones."""
    return f"{v:.3f}" if v == 0 or 1e-2 <= abs(v) < 1e7 else f"{v:.3e}"


def _fmt_table(header, rows, align):
    cols = list(zip(header, *rows))
    widths = [max(len(str(c)) for c in col) for col in cols]
    lines = []
    for r in [header] + rows:
        cells = [str(c).ljust(w) if a == "l" else str(c).rjust(w)
                 for c, w, a in zip(r, widths, align)]
        lines.append(" " + " ".join(cells).rstrip())
    return lines


class Summary:
    """lme4's ``print(summary(m))``, as text (``str(summary)``; shown as text in notebooks)."""

    def __init__(self, result: LmerResult):
        self.result = result

    def __str__(self) -> str:
        r = self.result
        out = []
        how = "REML" if r.reml else "maximum likelihood"
        out.append(f"Linear mixed model fit by {how} (helpers.lmer, lme4's algorithm)")
        out.append(f"Formula: {r.formula}")
        out.append("")
        if r.reml:
            out.append(f"REML criterion at convergence: {r.deviance:.1f}")
        else:
            out += _fmt_table(["AIC", "BIC", "logLik", "deviance", "df.resid"],
                              [[f"{r.aic:.1f}", f"{r.bic:.1f}", f"{r.llf:.1f}",
                                f"{r.deviance:.1f}", str(r.nobs - r.n_params)]], "rrrrr")
        out.append("")
        out.append("Scaled residuals:")
        q = np.quantile(r.resid.to_numpy() / r.sigma, [0, 0.25, 0.5, 0.75, 1])
        out += _fmt_table(["Min", "1Q", "Median", "3Q", "Max"],
                          [[f"{v:.4f}" for v in q]], "rrrrr")
        out.append("")
        out.append("Random effects:")
        rows = []
        for i, t in enumerate(r.terms):
            T = r.model.T(r.theta, i)
            cov = r.scale * (T @ T.T)
            sd = np.sqrt(np.clip(np.diag(cov), 0, None))
            with np.errstate(invalid="ignore", divide="ignore"):
                corr = cov / np.outer(sd, sd)
            for j in range(t.p):
                cells = [t.group if j == 0 else "", t.cnames[j], _sig(cov[j, j]), _sig(sd[j])]
                corr_cells = [f"{corr[j, k]:.2f}" for k in range(j)]
                rows.append(cells + [" ".join(corr_cells)])
        rows.append(["Residual", "", _sig(r.scale), _sig(r.sigma), ""])
        out += _fmt_table(["Groups", "Name", "Variance", "Std.Dev.", "Corr"], rows, "llrrl")
        groups = ", ".join(f"{g}, {k}" for g, k in r.ngroups.items())
        out.append(f"Number of obs: {r.nobs}, groups:  {groups}")
        out.append("")
        out.append("Fixed effects:")
        rows = [[name, _num(b), _num(se), f"{b / se:.3f}"]
                for name, b, se in zip(r.exog_names, r.fe_params, r.bse)]
        out += _fmt_table(["", "Estimate", "Std. Error", "t value"], rows, "lrrr")
        notes = []
        if r.is_singular():
            notes.append("boundary (singular) fit: a random-effect variance is estimated "
                         "at 0 (see helpers.is_singular)")
        if not r.converged:
            notes += [m for m in r.optimizer_messages if "Hessian" in m or "gradient" in m] \
                or ["the optimizer did not converge"]
        if notes:
            out.append("")
            out += notes
        return "\n".join(out)

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, p, cycle):  # IPython shows the text as it is
        p.text(str(self))


def is_singular(result: LmerResult, tol: float = 1e-4) -> bool:
    """``helpers.is_singular`` for an :class:`LmerResult` (lme4's ``isSingular``)."""
    if isinstance(tol, bool) or not isinstance(tol, (int, float, np.floating)) or not tol > 0:
        raise ValueError(f"tol must be a positive number, got {tol!r}")
    return result.is_singular(tol)


def likelihood_summary(result) -> dict:
    """What ``helpers.lrt`` needs of a fit, for an :class:`LmerResult` or a statsmodels
    MixedLM fit alike (the same likelihood definition): ``nobs``, ``exog_names``,
    ``method`` ("REML" or "ML"), ``n_params`` (fixed effects, variance parameters, the
    residual variance) and ``llf``."""
    if isinstance(result, LmerResult):
        return {"nobs": result.nobs, "exog_names": list(result.exog_names),
                "method": result.method, "n_params": result.n_params, "llf": result.llf}
    from ..core._checks import fitted_result

    r = fitted_result(result, "lrt")
    return {"nobs": r.nobs, "exog_names": list(r.model.exog_names), "method": r.method,
            "n_params": int(r.k_fe + r.k_re2 + r.k_vc + 1), "llf": float(r.llf)}
