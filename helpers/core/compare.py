"""Comparing nested mixed models: likelihood-ratio tests, with the boundary mixtures.

:func:`lrt` compares a reduced model with a fuller one. When the fuller model
adds variances, the null hypothesis puts them on the edge of their parameter
space (a variance cannot be negative) and the likelihood-ratio statistic no
longer follows a chi-square distribution. ``boundary=True`` reads what the two
fits differ by and uses the reference distribution that theory gives for it:

* one variance with its covariances with the ``q`` random effects of its block
  (a random slope added to a correlated block; ``q = 0`` for an independent
  variance): the 50:50 mixture of chi-square(q) and chi-square(q + 1)
  (Self and Liang, 1987; Stram and Lee, 1994);
* ``k`` independent variances: the chi-bar-square with binomial weights,
  ``C(k, j) / 2**k`` on chi-square(j), j = 0..k (for k = 2: 1/4, 1/2, 1/4 on
  chi-square(0), (1), (2); Self and Liang, 1987; Stram and Lee, 1994);
* covariances only (the variances stay): not a boundary, chi-square(df).

Any other difference has no simple closed form; :func:`lrt` then refuses and
points to ``method="bootstrap"``, a parametric bootstrap that simulates from
the reduced fit and refits both models.
"""
from __future__ import annotations

import copy
import math
import re
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from ._checks import fitted_result

__all__ = ["lrt", "n_params", "reference_distribution"]


def n_params(result) -> int:
    """Number of estimated parameters: fixed effects, random-effect (co)variances, the scale."""
    from ..engine.results import likelihood_summary

    return int(likelihood_summary(result)["n_params"])


# --------------------------------------------------------------------------------------
# What the two fits differ by
# --------------------------------------------------------------------------------------

def _variance_parameters(result):
    """The fit's variance parameters, named as lme4 names them.

    Returns ``(variances, covariances)``: a set of ``(grp, effect)`` and a set of
    ``(grp, frozenset({effect1, effect2}))``, from :func:`helpers.varcorr`, so that a
    random effect has the same name whichever statsmodels spelling the fit used
    (varcorr lists a variance component with one column per group under ``groups``,
    and any other as an intercept of its own factor).
    """
    from .varcorr import varcorr

    table = varcorr(result)  # a statsmodels fit or a helpers.lmer one
    table = table[table["grp"] != "Residual"]
    variances, covariances = set(), set()
    for grp, v1, v2 in zip(table["grp"], table["var1"], table["var2"]):
        # lme4 numbers the terms of one grouping factor split by || (id, id.1, id.2, ...):
        # the number depends on which terms the model has, so a term is named by its
        # factor and effect alone
        grp = re.sub(r"\.\d+$", "", str(grp))
        if not pd.isna(v2):
            covariances.add((grp, frozenset((str(v1), str(v2)))))
        else:  # varcorr leaves var1 empty only for a factor's own intercept variance
            variances.add((grp, "(Intercept)" if pd.isna(v1) else str(v1)))
    return variances, covariances


def _describe(params) -> str:
    out = []
    for grp, eff in sorted(params, key=str):
        if isinstance(eff, frozenset):
            a, b = sorted(map(str, eff))
            out.append(f"cov({a}, {b} | {grp})")
        else:
            out.append(f"var({eff} | {grp})" if eff else f"var({grp})")
    return ", ".join(out)


def reference_distribution(reduced, full) -> list[tuple[float, int]]:
    """The boundary-aware null distribution of the LR statistic, as ``(weight, df)`` pairs.

    Read from the random-effect structures of the two fits (see the module
    docstring for the cases). The fixed effects the full model adds, and
    covariances added on their own, shift every component by their number.

    Raises
    ------
    ValueError
        When the difference has no closed-form reference distribution, or the
        reduced model's variance parameters are not all in the full model; the
        message says what differs and offers ``method="bootstrap"``.
    """
    df = n_params(full) - n_params(reduced)
    var0, cov0 = _variance_parameters(reduced)
    var1, cov1 = _variance_parameters(full)
    bootstrap = ('use a parametric bootstrap instead: helpers.lrt(reduced, full, '
                 'method="bootstrap", nsim=1000, seed=1)')
    lost = (var0 - var1) | (cov0 - cov1)
    if lost:
        raise ValueError(
            f"the reduced model has variance parameters that the full model lacks "
            f"({_describe(lost)}), so its random effects are not a subset of the full "
            f"model's (or they are named differently); no boundary mixture applies: "
            f"{bootstrap}"
        )
    new_var, new_cov = var1 - var0, cov1 - cov0
    k, c = len(new_var), len(new_cov)
    interior = df - k - c  # fixed effects the full model adds
    if interior < 0:
        raise ValueError(
            f"the full model has {df} more parameters than the reduced one but adds "
            f"{k} variance(s) and {c} covariance(s) ({_describe(new_var | new_cov)}); "
            f"the fits do not look nested: {bootstrap}"
        )
    if k == 0:
        # only covariances (and fixed effects): interior to the parameter space
        return [(1.0, df)]
    if c == 0:
        # k independent variances: chi-bar-square with binomial weights
        return [(math.comb(k, j) / 2 ** k, j + interior) for j in range(k + 1)]
    if k == 1:
        (grp, eff), = new_var
        # the block of correlated effects the new one joins (in the full model)
        block, grown = {eff}, True
        while grown:
            grown = False
            for g, pair in cov1:
                if g == grp and pair & block and not pair <= block:
                    block |= pair
                    grown = True
        expected = {(grp, frozenset((eff, other))) for other in block - {eff}}
        if new_cov == expected:
            q = len(block) - 1
            return [(0.5, q + interior), (0.5, q + 1 + interior)]
    raise ValueError(
        f"the full model adds {_describe(new_var | new_cov)}: {k} variance(s) and {c} "
        "covariance(s) that are not one new random effect with its covariances with the "
        "existing ones of its block, nor independent variances. Such a test has no simple "
        f"chi-square mixture as reference distribution; {bootstrap}"
    )


def _mixture_sf(chi2: float, components) -> float:
    p = 0.0
    for weight, dof in components:
        p += weight * (float(chi2 <= 0) if dof == 0 else stats.chi2.sf(chi2, dof))
    return float(p)


def _mixture_text(components) -> str:
    if len(components) == 1:
        return f"chi2({components[0][1]})"
    return " + ".join(f"{w:g} chi2({d})" for w, d in components)


# --------------------------------------------------------------------------------------
# Parametric bootstrap
# --------------------------------------------------------------------------------------

def _sqrt_psd(cov: np.ndarray) -> np.ndarray:
    """A matrix root ``R`` with ``R @ R.T == cov`` for a (possibly singular) covariance."""
    cov = np.atleast_2d(np.asarray(cov, dtype=float))
    vals, vecs = np.linalg.eigh((cov + cov.T) / 2)
    return vecs * np.sqrt(np.clip(vals, 0.0, None))


def simulate_response(result, rng: np.random.Generator) -> np.ndarray:
    """One response vector drawn from a fitted MixedLM.

    Fixed part ``X b`` plus random effects drawn from the estimated covariance
    matrix (``cov_re``, per group) and variance components (``vcomp``, one
    independent draw per column of each component in each group), plus
    residual noise with the estimated residual variance.
    """
    res = fitted_result(result, "simulate_response")
    model = res.model
    y = np.asarray(model.exog, dtype=float) @ np.asarray(res.fe_params, dtype=float)
    root = _sqrt_psd(res.cov_re) if model.k_re else None
    vcomp = np.atleast_1d(np.asarray(res.vcomp, dtype=float))
    for i, g in enumerate(model.group_labels):
        rows = model.row_indices[g]
        if model.k_re:
            u = root @ rng.standard_normal(model.k_re)
            y[rows] += np.asarray(model.exog_re_li[i], dtype=float) @ u
        for j in range(len(model.exog_vc.names)):
            z = model.exog_vc.mats[j][i]
            z = z.toarray() if hasattr(z, "toarray") else np.asarray(z, dtype=float)
            if z.shape[1]:
                y[rows] += z @ (math.sqrt(max(vcomp[j], 0.0))
                                * rng.standard_normal(z.shape[1]))
    y += math.sqrt(max(float(res.scale), 0.0)) * rng.standard_normal(len(y))
    return y


def _with_response(model, y: np.ndarray):
    """A shallow copy of ``model`` that fits ``y`` instead of its own response."""
    new = copy.copy(model)
    new.endog = np.asarray(y, dtype=float)
    new.endog_li = new.group_list(new.endog)
    new.__dict__.pop("_endex_li", None)  # statsmodels caches [X, y] per group
    return new


def _refit(model, y, reml: bool, start, methods):
    """Best log-likelihood of ``model`` refitted to ``y``: ``(llf, converged)``.

    The optimizers are tried in turn from the original fit's estimates until one
    converges; ``(None, False)`` when every one raised.
    """
    m = _with_response(model, y)
    best = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for method in methods:
            try:
                fit = m.fit(reml=reml, method=method, start_params=start)
            except (np.linalg.LinAlgError, ValueError, FloatingPointError):
                continue
            llf = float(fit.llf)
            if not np.isfinite(llf):
                continue
            best = llf if best is None else max(best, llf)
            if fit.converged:
                return best, True
    return best, False


def _bootstrap(r0, r1, chi2: float, nsim: int, seed, methods):
    reml = r0.method == "REML"
    rng = np.random.default_rng(seed)
    starts = (np.asarray(r0.params, dtype=float), np.asarray(r1.params, dtype=float))
    simulated, failed, unconverged = [], 0, 0
    for _ in range(nsim):
        y = simulate_response(r0, rng)
        llf0, ok0 = _refit(r0.model, y, reml, starts[0], methods)
        llf1, ok1 = _refit(r1.model, y, reml, starts[1], methods)
        if llf0 is None or llf1 is None:
            failed += 1
            continue
        unconverged += not (ok0 and ok1)
        # a full fit that stops below the reduced one is at (or near) the boundary
        simulated.append(max(2 * (llf1 - llf0), 0.0))
    if not simulated:
        raise RuntimeError(
            f"every one of the {nsim} bootstrap refits failed; check that both models fit "
            "the original data well (helpers.fit_all) before bootstrapping"
        )
    simulated = np.asarray(simulated)
    p = (1 + int(np.sum(simulated >= chi2 - 1e-8))) / (len(simulated) + 1)
    if failed or unconverged:
        warnings.warn(
            f"of {nsim} bootstrap replicates, {failed} could not be refitted (left out) and "
            f"{unconverged} did not report convergence (kept, with the best log-likelihood "
            "the optimizers reached); a fit that stops short understates LR*, so treat a "
            "p-value near your threshold with care",
            UserWarning, stacklevel=3,
        )
    return p, simulated, failed


def _bootstrap_lmer(r0, r1, chi2: float, nsim: int, seed):
    """The parametric bootstrap for two helpers.lmer (or two helpers.glmer) fits:
    responses simulated from the reduced fit (``simulate``), both models refitted by the
    quick refit (design reused, optimizer started at each fit's estimates)."""
    if isinstance(seed, np.random.Generator):
        seed = int(seed.integers(2 ** 63))
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    simulated, failed = [], 0
    for child in ss.spawn(nsim):
        y = r0._simulate_one(np.random.default_rng(child))
        try:
            dev0 = r0._quick_refit(y)[3]
            dev1 = r1._quick_refit(y)[3]
        except (np.linalg.LinAlgError, ValueError, FloatingPointError):
            failed += 1
            continue
        simulated.append(max(dev0 - dev1, 0.0))  # deviances: -2 llf
    if not simulated:
        raise RuntimeError(f"every one of the {nsim} bootstrap refits failed")
    simulated = np.asarray(simulated)
    p = (1 + int(np.sum(simulated >= chi2 - 1e-8))) / (len(simulated) + 1)
    if failed:
        warnings.warn(f"of {nsim} bootstrap replicates, {failed} could not be refitted "
                      "(left out)", UserWarning, stacklevel=3)
    return p, simulated, failed


# --------------------------------------------------------------------------------------
# The test
# --------------------------------------------------------------------------------------

def lrt(reduced, full, boundary: bool = False, *, method: str = "chi2", nsim: int = 1000,
        seed=None, optimizers=("lbfgs", "bfgs", "powell")) -> pd.Series:
    """Likelihood-ratio test of a reduced mixed model against a fuller one.

    Parameters
    ----------
    reduced, full : statsmodels MixedLMResults or helpers.lmer results
        Fits of nested models to the same rows (the two kinds may be mixed: their
        log-likelihoods have the same definition). To compare fixed effects, fit
        both by maximum likelihood (``fit(reml=False)``): REML likelihoods of
        models with different fixed effects are not comparable, and this
        function refuses them.
    boundary : bool
        Set True when the test sets variances to zero (their boundary), for
        example dropping a random slope. The reference distribution then
        follows from what the two models differ by (read from their random
        effects, see :func:`reference_distribution`):

        * one variance with its covariances with the ``q`` effects of its block
          (a correlated random slope added to ``(1|g)``: ``q = 1``; an
          independent variance: ``q = 0``): 0.5 chi2(q) + 0.5 chi2(q + 1)
          (Self and Liang, 1987; Stram and Lee, 1994), which halves the naive
          p-value for one independent variance;
        * ``k`` independent variances: binomial weights ``C(k, j) / 2**k`` on
          chi2(j), j = 0..k (k = 2: 1/4, 1/2, 1/4 on chi2(0), chi2(1), chi2(2));
        * covariances only: chi2(df) (no boundary).

        Any other difference raises ``ValueError`` offering the bootstrap.
        With ``False``, the reference is chi2(df), conservative for variances.
    method : {"chi2", "bootstrap"}
        ``"bootstrap"``: a parametric bootstrap. ``nsim`` response vectors are
        simulated from the reduced fit (fixed part, random effects drawn from
        its estimated covariances, residual noise), both models are refitted
        to each (REML or ML as the originals, starting at their estimates)
        and ``p = (1 + #{LR* >= LR}) / (nsim + 1)`` (pbkrtest's ``PBmodcomp``).
        Works for any nested pair; ``boundary`` is then not needed. For two
        ``helpers.lmer`` fits each refit reuses the cross-products of X and Z
        and is fast (milliseconds on sleepstudy); two ``helpers.glmer`` fits
        are refitted from their estimates on binomial or Poisson responses
        simulated from the reduced fit (a tenth of a second per refit on
        cbpp); two statsmodels fits are
        refitted by statsmodels, which is slow: about ``2 * nsim`` fits (a
        correlated random slope on sleepstudy takes about a second per
        replicate). Under the
        null a fuller fit often stops at the boundary without reporting
        convergence; such replicates are kept with the best log-likelihood the
        optimizers reached, and counted in a warning.
    nsim : int
        Bootstrap replicates (``method="bootstrap"``); replicates whose refits
        fail are left out with a warning.
    seed : int or numpy Generator, optional
        Seed of the bootstrap's random numbers, for a reproducible p-value.
    optimizers : sequence of str
        Optimizers tried in turn for each bootstrap refit.

    Returns
    -------
    pandas.Series
        ``chi2``, ``df``, ``p`` and the two log-likelihoods (and, for the
        bootstrap, ``nsim``, the replicates used). ``.attrs["reference"]``
        names the reference distribution; for the bootstrap,
        ``.attrs["bootstrap"]`` holds the simulated statistics.

    Examples
    --------
    >>> import pingouin as pg, statsmodels.formula.api as smf, helpers
    >>> d = pg.read_dataset("mixed_anova")
    >>> m0 = smf.mixedlm("Scores ~ Time + Group", d, groups="Subject").fit(reml=False)
    >>> m1 = smf.mixedlm("Scores ~ Time * Group", d, groups="Subject").fit(reml=False)
    >>> int(helpers.lrt(m0, m1)["df"])
    2
    """
    from ..engine.results import likelihood_summary

    s0, s1 = likelihood_summary(reduced), likelihood_summary(full)
    if method not in ("chi2", "bootstrap"):
        raise ValueError(f"method must be 'chi2' or 'bootstrap', got {method!r}")
    if s0["nobs"] != s1["nobs"]:
        raise ValueError(
            f"the models were fitted to different numbers of rows ({s0['nobs']} and "
            f"{s1['nobs']}); fit both to the same rows (drop missing values once, before "
            "both fits)"
        )
    same_fixed = s0["exog_names"] == s1["exog_names"]
    if (s0["method"] == "REML" or s1["method"] == "REML") and not same_fixed:
        raise ValueError(
            "REML log-likelihoods of models with different fixed effects cannot be compared; "
            "refit both with fit(reml=False)"
        )
    fam0, fam1 = getattr(reduced, "family", None), getattr(full, "family", None)
    if (fam0 is None) != (fam1 is None):
        raise ValueError(
            "one model is a generalized linear mixed model (helpers.glmer) and the "
            "other a linear one: their likelihoods are of different responses and "
            "cannot be compared; fit both with helpers.glmer (one of each is not a "
            "nested pair)")
    if fam0 is not None and fam0.name != fam1.name:
        raise ValueError(f"the models have different families ({fam0.name} and "
                         f"{fam1.name}); fit both with the same family")
    if fam0 is not None and s0["method"] != s1["method"]:
        raise ValueError(f"the two glmer fits use different approximations "
                         f"({s0['method']} and {s1['method']}); fit both with the "
                         "same nAGQ")
    if s0["method"] != s1["method"]:
        raise ValueError("one model was fitted by REML and the other by ML; fit both the same way")
    df = s1["n_params"] - s0["n_params"]
    if df < 1:
        raise ValueError(
            f"'full' has {s1['n_params']} parameters and 'reduced' {s0['n_params']}: pass the "
            "smaller model first"
        )
    chi2 = 2 * (s1["llf"] - s0["llf"])
    if chi2 < -1e-6:
        warnings.warn(
            f"the fuller model's log-likelihood is lower by {-chi2 / 2:.4g}: one of the fits "
            "probably stopped short of its optimum; compare optimizers with helpers.fit_all",
            UserWarning, stacklevel=2,
        )
    chi2 = max(chi2, 0.0)
    out = {"chi2": chi2, "df": df, "p": np.nan, "llf_reduced": s0["llf"],
           "llf_full": s1["llf"]}
    if method == "bootstrap":
        if isinstance(nsim, bool) or not isinstance(nsim, (int, np.integer)) or nsim < 1:
            raise ValueError(f"nsim must be a positive integer, got {nsim!r}")
        from ..engine.results import LmerResult

        lmer0, lmer1 = isinstance(reduced, LmerResult), isinstance(full, LmerResult)
        if lmer0 and lmer1:
            p, simulated, _ = _bootstrap_lmer(reduced, full, chi2, int(nsim), seed)
        elif lmer0 or lmer1:
            raise ValueError(
                "the parametric bootstrap refits both models with the back end that fitted "
                "them: pass two helpers.lmer fits (fast) or two statsmodels fits "
                "(helpers.mixedlm(...).fit()), not one of each")
        else:
            r0 = fitted_result(reduced, "lrt(method='bootstrap') (reduced)")
            r1 = fitted_result(full, "lrt(method='bootstrap') (full)")
            p, simulated, _ = _bootstrap(r0, r1, chi2, int(nsim), seed, tuple(optimizers))
        out["p"] = float(p)
        out["nsim"] = len(simulated)
        series = pd.Series(out)
        series.attrs["reference"] = f"parametric bootstrap ({len(simulated)} replicates)"
        series.attrs["bootstrap"] = simulated
        return series
    components = reference_distribution(reduced, full) if boundary else [(1.0, df)]
    out["p"] = float(np.clip(_mixture_sf(chi2, components), 0, 1))
    series = pd.Series(out)
    series.attrs["reference"] = _mixture_text(components)
    return series
