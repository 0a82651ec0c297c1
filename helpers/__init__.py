"""Helpers for *Mixed Models in Python*: data, design, plots and the gaps of statsmodels.

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
    helpers.simulate_mixed_design, simulate_two_within, simulate_random_slopes,
    helpers.simulate_crossed, simulate_nested, knock_out   # data from named parameters
"""
from .compare import lrt
from .data import datasets, load
from .design import describe_design
from .fitting import fit_all, is_singular
from .formula import mixedlm
from .inference import anova
from .plots import caterpillar_plot, interaction_plot, residual_plots, spaghetti_plot
from .simulate import (knock_out, simulate_crossed, simulate_mixed_design, simulate_nested,
                       simulate_random_slopes, simulate_two_within)
from .warnings_report import report_warnings

__all__ = [
    "load", "datasets", "describe_design",
    "mixedlm", "fit_all", "is_singular", "anova", "lrt",
    "spaghetti_plot", "interaction_plot", "caterpillar_plot", "residual_plots",
    "report_warnings",
    "simulate_mixed_design", "simulate_two_within", "simulate_random_slopes",
    "simulate_crossed", "simulate_nested", "knock_out",
]
