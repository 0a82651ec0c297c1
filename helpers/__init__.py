"""Helpers for *Mixed Models in Python*: data, design, plots and the gaps of statsmodels.

The package has two parts (see each subpackage's docstring for its modules):

* :mod:`helpers.core`, the library: formula -> model -> fit -> inference -> report.
  This is the stable part to use in an analysis of your own.
* :mod:`helpers.studies`, the chapters' simulation studies and teaching figures.

Everything is re-exported here, so ``import helpers`` and ``helpers.anova(...)`` is all a
chapter (or a reader) needs.

The public API (a contract: code outside the book calls it exactly so)::

    helpers.load(name), helpers.datasets()           # data shipped in data/
    helpers.r_reference(name)                        # what R computed for a reference case
    helpers.compare_with_r(result, case)             # a fit beside R's, number by number
    helpers.emmeans(result, specs, by=None)          # estimated marginal means (emmeans)
    helpers.contrasts(result, specs, by=None, method="pairwise", adjust="tukey")  # pairs()
    helpers.r2(result)                               # marginal, conditional R2 (r2_nakagawa)
    helpers.confint(result, method="profile")        # intervals for every parameter (confint)
    helpers.profile(result)                          # the profile curves behind them (profile)
    helpers.describe_design(df, subject, factors)    # within / between / nested, per factor
    helpers.mixedlm(formula, data, **kw)             # lme4 formula -> unfitted statsmodels MixedLM
    helpers.lmer(formula, data, REML=True)           # lme4's algorithm (helpers.engine), fitted
    helpers.glmer(formula, data, family="binomial")  # lme4's glmer: Laplace / adaptive GHQ
    helpers.fit_all(model, reml=True)                # every optimizer, like lme4's allFit
    helpers.is_singular(result, tol=1e-4)            # like lme4's isSingular
    helpers.anova(result)                            # Type III F tests, Satterthwaite df (lmerTest)
    helpers.lrt(reduced, full, boundary=False)       # likelihood-ratio test
    helpers.spaghetti_plot, interaction_plot, caterpillar_plot, residual_plots
    helpers.report_warnings()                        # show the warnings a fit raises, once each
    helpers.varcorr(result)                          # random-effect SDs and correlations (VarCorr)
    helpers.ols_lines, blup_lines, lattice_plot, shrinkage_plot   # random slopes, per group
    helpers.simulate_mixed_design, simulate_two_within, simulate_random_slopes,
    helpers.simulate_crossed, simulate_nested, knock_out   # data from named parameters
    helpers.simulate_nested_slopes, nested_plot      # pupils in classes in schools, with slopes
    helpers.statsmodels_call(model), translation_table(formulas, data)   # lme4 -> smf.mixedlm code
    helpers.simulate_dropout, complete_case_anova, random_intercept_lmm,  # chapter 5: dropout
    helpers.summarize_study, plot_study, dropout_means, plot_dropout_means
    helpers.by_subject_test, by_item_test, min_f_prime, crossed_lmm_test, fit_crossed,
    helpers.rejection_rates, rejection_rate_plot
    helpers.extend, power_curve, power_curve_plot, power_crossed_closed_form   # power
"""
import importlib

# Public name -> the module that defines it. Names are imported on first use, so that
# `python -m helpers.check_setup` can run (and say what is missing) on a computer where
# numpy, pandas or statsmodels are not installed yet.
_API = {
    "by_subject_test": "studies.crossed",
    "by_item_test": "studies.crossed",
    "min_f_prime": "studies.crossed",
    "crossed_lmm_test": "studies.crossed",
    "fit_crossed": "studies.crossed",
    "rejection_rates": "studies.crossed",
    "rejection_rate_plot": "studies.crossed",
    "extend": "studies.power",
    "ExtendedDesign": "studies.power",
    "power_curve": "studies.power",
    "power_curve_plot": "studies.power",
    "power_crossed_closed_form": "studies.power",
    "simulate_dropout": "studies.missing",
    "complete_case_anova": "studies.missing",
    "random_intercept_lmm": "studies.missing",
    "summarize_study": "studies.missing",
    "plot_study": "studies.missing",
    "dropout_means": "studies.missing",
    "plot_dropout_means": "studies.missing",
    "simulate_nested_slopes": "studies.structures",
    "nested_plot": "studies.structures",
    "statsmodels_call": "core.translate",
    "translation_table": "core.translate",
    "load": "core.data",
    "compare_with_r": "core.against_r",
    "glmer": "engine.glmer",
    "emmeans": "core.posthoc",
    "contrasts": "core.posthoc",
    "r2": "core.intervals",
    "confint": "core.intervals",
    "profile": "core.intervals",
    "datasets": "core.data",
    "r_reference": "core.data",
    "describe_design": "core.design",
    "mixedlm": "core.formula",
    "lmer": "engine",
    "fit_all": "core.fitting",
    "is_singular": "core.fitting",
    "anova": "core.inference",
    "lrt": "core.compare",
    "spaghetti_plot": "core.plots",
    "interaction_plot": "core.plots",
    "caterpillar_plot": "core.plots",
    "residual_plots": "core.plots",
    "report_warnings": "core.warnings_report",
    "varcorr": "core.varcorr",
    "ols_lines": "studies.slopes",
    "blup_lines": "studies.slopes",
    "lattice_plot": "studies.slopes",
    "shrinkage_plot": "studies.slopes",
    "simulate_mixed_design": "studies.simulate",
    "simulate_two_within": "studies.simulate",
    "simulate_random_slopes": "studies.simulate",
    "simulate_crossed": "studies.simulate",
    "simulate_nested": "studies.simulate",
    "knock_out": "studies.simulate",
}

__all__ = list(_API)


def __getattr__(name):
    try:
        module = _API[name]
    except KeyError:
        raise AttributeError(f"module 'helpers' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
