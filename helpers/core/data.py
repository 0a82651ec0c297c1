"""Data shipped with the book, in the repository's ``data/`` folder.

Every file listed here is described, with its source and licence, in
``data/README.md`` (the codebook). :func:`r_reference` reads the values R
computed for the book's reference cases (``data/reference/*.json``, written by
``tests/r/reference.R``), so a chapter can put R's answer beside its own.
"""
from __future__ import annotations

import json
from pathlib import Path

# pandas is imported inside the functions, so that helpers.check_setup can read this
# module's registry on a computer where pandas is not installed yet.

DATA_DIR = Path(__file__).resolve().parents[2] / "data"

# name -> (file inside data/, one-line description)
_REGISTRY: dict[str, tuple[str, str]] = {
    "seed_toy": (
        "seed_toy.csv",
        "The 16 rows of the Cross Validated question 415041: 8 participants, "
        "Condition_1 within (2 levels), Condition_2 between (2 levels).",
    ),
    "sleepstudy": (
        "sleepstudy.csv",
        "lme4's sleepstudy: reaction time (ms) of 18 subjects on days 0-9 of a sleep-"
        "restriction study (Belenky et al., 2003); restriction starts after day 2.",
    ),
    "penicillin": (
        "penicillin.csv",
        "lme4's Penicillin: diameter (mm) of the zone of inhibition of 6 penicillin samples "
        "on each of 24 plates, crossed (Davies and Goldsmith, 1972).",
    ),
    "insteval": (
        "insteval.csv.gz",
        "lme4's InstEval: 73,421 ratings (1-5) of lectures by students at ETH Zurich, "
        "2,972 students (s) crossed with 1,128 lecturers (d).",
    ),
    "machines": (
        "machines.csv",
        "nlme's Machines: productivity score of 6 workers, each on 3 machines (A, B, C) "
        "3 times (Milliken and Johnson, 1992).",
    ),
    "fhch2010": (
        "fhch2010.csv",
        "afex's fhch2010: 13,222 lexical decision and naming trials, 45 participants "
        "(task between) crossed with 600 words and non-words (Freeman et al., 2010).",
    ),
}

# name -> {column: levels in order}: the columns that load() turns into categoricals,
# in the level order of the R package the data come from (its first level is the
# reference level of treatment contrasts, as in R).
_LEVELS: dict[str, dict[str, list]] = {
    "fhch2010": {
        "task": ["naming", "lexdec"],
        "stimulus": ["word", "nonword"],
        "density": ["low", "high"],
        "frequency": ["low", "high"],
        "length": [4, 5, 6],
    },
}


def datasets() -> pd.DataFrame:
    """List the data sets that :func:`load` knows.

    Returns
    -------
    pandas.DataFrame
        One row per data set, indexed by name, with the file it lives in and
        a one-line description.

    Examples
    --------
    >>> import helpers
    >>> "seed_toy" in helpers.datasets().index
    True
    """
    import pandas as pd

    rows = [
        {"name": name, "file": f"data/{file}", "description": text}
        for name, (file, text) in sorted(_REGISTRY.items())
    ]
    return pd.DataFrame(rows).set_index("name")


def load(name: str) -> pd.DataFrame:
    """Load one of the book's data sets as a long-format DataFrame.

    Nothing is dropped or recoded: missing values stay missing, and the
    columns keep the types that are in the file, except that the experimental
    factors of some data sets (``fhch2010``) become ``pandas.Categorical``
    columns with the levels in the order of the R package the data come from,
    so that the first level is the reference level, as in R.

    Parameters
    ----------
    name : str
        A name from :func:`datasets`, for example ``"seed_toy"``.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    ValueError
        If ``name`` is not a known data set; the message lists the known ones.

    Examples
    --------
    >>> import helpers
    >>> df = helpers.load("seed_toy")
    >>> df.shape
    (16, 4)
    """
    if not isinstance(name, str) or name not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY))
        raise ValueError(
            f"unknown data set {name!r}; helpers.load knows: {known}. "
            "Call helpers.datasets() to see what each one holds."
        )
    path = DATA_DIR / _REGISTRY[name][0]
    if not path.exists():
        raise FileNotFoundError(
            f"data set {name!r} should be at {path} but that file is missing; "
            "restore it from the repository (git checkout -- data/)."
        )
    import pandas as pd

    df = pd.read_csv(path)
    for column, levels in _LEVELS.get(name, {}).items():
        unknown = sorted(set(df[column].dropna()) - set(levels), key=str)
        if unknown:
            raise ValueError(
                f"column {column!r} of {path.name} holds {unknown}, which are not among "
                f"its levels {levels}; restore the file (git checkout -- data/)."
            )
        df[column] = pd.Categorical(df[column], categories=levels)
    return df


def r_reference(name: str) -> dict:
    """What R (lme4, lmerTest, afex) reported for one of the book's reference cases.

    Parameters
    ----------
    name : str
        A file name in ``data/reference/`` without ``.json``, for example
        ``"sleepstudy"``; ``"posthoc/<case>"`` and ``"intervals/<case>"`` read what
        emmeans and lme4's ``confint``/performance's ``r2_nakagawa`` gave for a case.

    Returns
    -------
    dict
        The JSON object the committed R script wrote: ``logLik``, ``fixef``,
        ``varcorr``, ``anova`` and so on (see ``data/reference/README.md``).

    Raises
    ------
    ValueError
        If there is no such case; the message lists the cases there are.

    Examples
    --------
    >>> import helpers
    >>> round(helpers.r_reference("sleepstudy")["logLik"], 2)
    -871.81
    """
    folder = DATA_DIR / "reference"
    known = sorted(p.relative_to(folder).with_suffix("").as_posix()
                   for p in folder.glob("**/*.json") if p.parent.name != "cases")
    if not isinstance(name, str) or name not in known:
        raise ValueError(
            f"no R reference case {name!r}; data/reference/ holds: {', '.join(known)}. "
            "A new case is added to tests/r/reference.R, which writes the file."
        )
    return json.loads((folder / f"{name}.json").read_text())
