"""Helpers for *Mixed Models in Python*: data, design, plots and the gaps of statsmodels.

The package has two parts (see each subpackage's docstring for its modules):

* :mod:`helpers.core`, the library: formula -> model -> fit -> inference -> report.
  This is the stable part to use in an analysis of your own.
* :mod:`helpers.studies`, the chapters' simulation studies and teaching figures.

Everything is re-exported here, so ``import helpers`` and ``helpers.anova(...)`` is all a
chapter (or a reader) needs.

The public API (a contract: code outside the book calls it exactly so)::

    helpers.load(name), helpers.datasets()           # data shipped in data/
    helpers.describe_design(df, subject, factors)    # within / between / nested, per factor
    helpers.mixedlm(formula, data, **kw)             # lme4 formula -> unfitted statsmodels MixedLM
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
    helpers.simulate_dropout, complete_case_anova, random_intercept_lmm,  # chapter 4: dropout
    helpers.missing_data_study, summarize_study, plot_study, dropout_means, plot_dropout_means
    helpers.by_subject_test, by_item_test, min_f_prime, crossed_lmm_test, fit_crossed,
    helpers.crossed_recovery, simulate_false_positives, rejection_rates, rejection_rate_plot
"""
from .core.compare import lrt
from .core.data import datasets, load
from .core.design import describe_design
from .core.fitting import fit_all, is_singular
from .core.formula import mixedlm
from .core.inference import anova
from .core.plots import caterpillar_plot, interaction_plot, residual_plots, spaghetti_plot
from .core.translate import statsmodels_call, translation_table
from .core.varcorr import varcorr
from .core.warnings_report import report_warnings
from .studies.crossed import (by_item_test, by_subject_test, crossed_lmm_test, crossed_recovery,
                              fit_crossed, min_f_prime, rejection_rate_plot, rejection_rates,
                              simulate_false_positives)
from .studies.missing import (complete_case_anova, dropout_means, missing_data_study,
                              plot_dropout_means, plot_study, random_intercept_lmm,
                              simulate_dropout, summarize_study)
from .studies.simulate import (knock_out, simulate_crossed, simulate_mixed_design,
                               simulate_nested, simulate_random_slopes, simulate_two_within)
from .studies.slopes import blup_lines, lattice_plot, ols_lines, shrinkage_plot
from .studies.structures import nested_plot, simulate_nested_slopes

__all__ = [
    "by_subject_test", "by_item_test", "min_f_prime", "crossed_lmm_test", "fit_crossed",
    "crossed_recovery", "simulate_false_positives", "rejection_rates", "rejection_rate_plot",
    "simulate_dropout", "complete_case_anova", "random_intercept_lmm", "missing_data_study",
    "summarize_study", "plot_study", "dropout_means", "plot_dropout_means",
    "simulate_nested_slopes", "nested_plot", "statsmodels_call", "translation_table",
    "load", "datasets", "describe_design",
    "mixedlm", "fit_all", "is_singular", "anova", "lrt",
    "spaghetti_plot", "interaction_plot", "caterpillar_plot", "residual_plots",
    "report_warnings",
    "varcorr", "ols_lines", "blup_lines", "lattice_plot", "shrinkage_plot",
    "simulate_mixed_design", "simulate_two_within", "simulate_random_slopes",
    "simulate_crossed", "simulate_nested", "knock_out",
]
