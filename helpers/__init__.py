"""Helpers for *Mixed Models in Python*: data, design, plots and the gaps of statsmodels.

The public API (a contract: code outside the book calls it exactly so)::

    helpers.load(name), helpers.datasets()
    helpers.describe_design(df, subject, factors)
    helpers.spaghetti_plot(...), helpers.interaction_plot(...)
"""
from .data import datasets, load
from .design import describe_design
from .plots import interaction_plot, spaghetti_plot

__all__ = ["load", "datasets", "describe_design", "spaghetti_plot", "interaction_plot"]
