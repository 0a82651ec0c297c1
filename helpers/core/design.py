"""Decide from the data how each factor relates to the subjects and to each other."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from ._checks import require_columns, require_no_missing

DESIGNS = ("within", "between", "nested")


def _span(counts: pd.Series) -> str:
    lo, hi = int(counts.min()), int(counts.max())
    return str(lo) if lo == hi else f"{lo}-{hi}"


def _relation(df: pd.DataFrame, a: str, b: str) -> str:
    """How factor ``a`` relates to factor ``b``: crossed, nested in b, or partially crossed."""
    combos = df.groupby([a, b], observed=True).size()
    n_a, n_b = df[a].nunique(), df[b].nunique()
    if len(combos) == n_a * n_b:
        return "crossed"
    b_per_a = combos.reset_index().groupby(a, observed=True)[b].nunique()
    if (b_per_a == 1).all():
        return "nested"
    return "partially crossed"


def _infer(df: pd.DataFrame, subject: str, factor: str) -> str:
    levels_per_subject = df.groupby(subject, observed=True)[factor].nunique()
    subjects_per_level = df.groupby(factor, observed=True)[subject].nunique()
    if (subjects_per_level == 1).all():
        return "nested"
    if (levels_per_subject == 1).all():
        return "between"
    return "within"


def describe_design(
    df: pd.DataFrame,
    subject: str,
    factors: Sequence[str] | Mapping[str, str],
) -> pd.DataFrame:
    """Say, from the data alone, whether each factor is within, between or nested.

    A factor is

    * **between** subjects when every subject is seen at one level only
      (each subject belongs to one group);
    * **within** subjects when subjects are seen at several of its levels
      (the factor is crossed with subjects); ``complete`` says whether every
      subject was seen at every level, as a repeated-measures ANOVA needs;
    * **nested** in subjects when each of its levels belongs to one subject
      only (like trials or classes that exist inside one unit).

    The columns ``crossed_with`` and ``nested_in`` give the factor's relation
    to the other factors: crossed when every combination of levels occurs,
    nested when each of its levels occurs with one level of the other factor.

    Parameters
    ----------
    df : pandas.DataFrame
        Long-format data: one row per observation.
    subject : str
        Column identifying the subjects (participants, schools, ...).
    factors : list of str, or dict of str to str
        The factor columns. Give a dict such as
        ``{"Condition_1": "within", "Condition_2": "between"}`` to declare the
        design you believe in; the data are then checked against it and a
        ``ValueError`` names the first subject or level that contradicts it.

    Returns
    -------
    pandas.DataFrame
        Indexed by factor, with columns ``design``, ``levels``,
        ``levels_per_subject``, ``subjects_per_level``, ``complete``,
        ``crossed_with`` and ``nested_in``.

    Raises
    ------
    KeyError
        A column is not in ``df``.
    ValueError
        Missing values in the subject or factor columns, no factors, the
        subject listed among the factors, an unknown declared design, or data
        that contradict a declared design.

    Examples
    --------
    >>> import helpers
    >>> d = helpers.describe_design(helpers.load("seed_toy"), "participant_ID",
    ...                             ["Condition_1", "Condition_2"])
    >>> d["design"].to_dict()
    {'Condition_1': 'within', 'Condition_2': 'between'}
    """
    declared = dict(factors) if isinstance(factors, Mapping) else None
    if isinstance(factors, str):
        factors = [factors]
    names = list(declared) if declared is not None else list(factors)
    if not names:
        raise ValueError("factors is empty: name at least one factor column to describe")
    if subject in names:
        raise ValueError(
            f"the subject column {subject!r} is also listed as a factor; "
            "list only the experimental factors"
        )
    require_columns(df, [subject, *names], "df")
    require_no_missing(df, [subject, *names], "df")
    if declared is not None:
        for name, design in declared.items():
            if design not in DESIGNS:
                raise ValueError(
                    f"declared design {design!r} for factor {name!r} is not one of {DESIGNS}"
                )

    rows = []
    for name in names:
        design = _infer(df, subject, name)
        if declared is not None and declared[name] != design:
            raise ValueError(_contradiction(df, subject, name, declared[name], design))
        levels_per_subject = df.groupby(subject, observed=True)[name].nunique()
        subjects_per_level = df.groupby(name, observed=True)[subject].nunique()
        n_levels = df[name].nunique()
        others = [o for o in names if o != name]
        relations = {o: _relation(df, name, o) for o in others}
        rows.append(
            {
                "factor": name,
                "design": design,
                "levels": n_levels,
                "levels_per_subject": _span(levels_per_subject),
                "subjects_per_level": _span(subjects_per_level),
                "complete": bool(design != "within" or (levels_per_subject == n_levels).all()),
                "crossed_with": ", ".join(o for o, r in relations.items() if r == "crossed"),
                "nested_in": ", ".join(o for o, r in relations.items() if r == "nested"),
            }
        )
    return pd.DataFrame(rows).set_index("factor")


def _contradiction(df, subject, name, declared, found) -> str:
    head = f"factor {name!r} was declared {declared!r} but the data say {found!r}: "
    if declared == "between":
        per_subject = df.groupby(subject, observed=True)[name].unique()
        culprit = next(s for s, lv in per_subject.items() if len(lv) > 1)
        levels = sorted(per_subject[culprit].tolist())
        return (
            head
            + f"subject {culprit!r} appears in levels {levels} of {name!r}. "
            "A between factor gives each subject one level: fix the data, or declare it 'within'."
        )
    if declared == "nested":
        per_level = df.groupby(name, observed=True)[subject].unique()
        culprit = next(lv for lv, s in per_level.items() if len(s) > 1)
        return (
            head
            + f"level {culprit!r} of {name!r} is shared by subjects {sorted(per_level[culprit].tolist())[:5]}. "
            "A nested factor has levels that belong to one subject each; a factor whose levels "
            "every subject meets is 'within' (crossed with subjects)."
        )
    per_subject = df.groupby(subject, observed=True)[name].nunique()
    culprit = per_subject.idxmin()
    return (
        head
        + f"subject {culprit!r} is seen at only {int(per_subject.min())} level of {name!r}. "
        "Declare it 'between' if each subject has one level."
    )
