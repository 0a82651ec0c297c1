"""lme4's linear mixed model in NumPy/SciPy: :func:`lmer`.

The algorithm is the one of Bates, Mächler, Bolker and Walker (2015), "Fitting
Linear Mixed-Effects Models Using lme4", *J. Stat. Softw.* 67(1), section 3
(lme4's ``vignettes/lmer.Rnw``): penalized least squares with a relative
covariance factor Λθ, the fixed effects β and the residual scale σ profiled
out, and a sparse Cholesky factor L of Λ'Z'ZΛ + I. One module per concept,
named after the paper:

* :mod:`helpers.engine.terms`, the random-effects terms: grouping factors, the
  model matrix of each term, the template of its lower-triangular factor Tᵢ
  (the blocks of Λθ) and lme4's θ (order, starting values, bounds);
* :mod:`helpers.engine.model`, the cross-products Z'Z, Z'X, Z'y, X'X, X'y, y'y
  (computed once), the blocked Cholesky factor, the profiled deviance and the fit;
* :mod:`helpers.engine.results`, the fitted model: estimates, conditional modes,
  predictions, ``VarCorr`` and an lme4-style summary;
* :mod:`helpers.engine.satterthwaite`, Type III F tests with Satterthwaite's
  degrees of freedom (lmerTest) on the engine's own deviance function;
* :mod:`helpers.engine.glmer` and :mod:`helpers.engine.glm_results`, generalized linear
  mixed models as lme4's ``glmer``: penalized iteratively reweighted least squares inside
  the same factorisation, the Laplace approximation and adaptive Gauss-Hermite quadrature.
"""
from .glm_results import GlmerResult
from .glmer import glmer
from .model import lmer
from .results import LmerResult

__all__ = ["lmer", "LmerResult", "glmer", "GlmerResult"]
