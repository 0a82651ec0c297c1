"""Input checks shared by the helpers: clear errors that name the culprit."""
from __future__ import annotations

from collections.abc import Iterable

import pandas as pd


def require_columns(df: pd.DataFrame, columns: Iterable[str], what: str = "data") -> None:
    """Raise ``KeyError`` naming every column of ``columns`` missing from ``df``."""
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"{what} must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise KeyError(
            f"column(s) {missing} not found in {what}; its columns are {list(df.columns)}. "
            "Check the spelling, or rename the column first."
        )


def require_no_missing(df: pd.DataFrame, columns: Iterable[str], what: str = "data") -> None:
    """Raise ``ValueError`` if any of ``columns`` holds a missing value, saying where."""
    for col in columns:
        n = int(df[col].isna().sum())
        if n:
            rows = list(df.index[df[col].isna()][:5])
            raise ValueError(
                f"column {col!r} of {what} has {n} missing value(s) (first rows: {rows}). "
                "Decide what they mean and drop or fill them explicitly, "
                f"for example df.dropna(subset=[{col!r}]), before calling this function."
            )


def fitted_result(result, what: str = "this function"):
    """Return the bare statsmodels ``MixedLMResults`` behind ``result``.

    Accepts the wrapper that ``model.fit()`` returns; anything else raises ``ValueError``
    naming ``what`` needed the fit and the type that was passed instead.
    """
    from statsmodels.regression.mixed_linear_model import MixedLMResults

    inner = getattr(result, "_results", result)
    if not isinstance(inner, MixedLMResults):
        raise ValueError(
            f"{what} needs a fitted statsmodels MixedLM result (model.fit()), "
            f"got an object of type {type(result).__name__}. "
            "Fit the model first: result = model.fit(reml=True)."
        )
    return inner
