"""Random-effects terms: grouping factors, model matrices Xᵢ, and the template of Λθ.

In lme4 (Bates et al. 2015, section 2.3) the random effects are a sum of terms
``(effects | g)``. Term i has a grouping factor with ``l_i`` levels and a small
model matrix ``X_i`` (n x p_i: the intercept and slopes of the term). Its block
``Z_i`` of the random-effects model matrix has ``q_i = l_i p_i`` columns, one
group of ``p_i`` per level (eq. 6 of the paper), and its block of the relative
covariance factor is ``Λ_i = I_{l_i} ⊗ T_i`` with ``T_i`` lower triangular
(p_i x p_i) whose non-zero elements are θ (eq. 7-8): the covariance of one
level's random effects is ``σ² T_i T_i'``.

This module turns the parsed formula (:func:`helpers.core.formula._parse`) into
such terms, as lme4's ``mkReTrms`` does:

* ``(1 + x || g)`` becomes separate terms ``(1 | g) + (0 + x | g)`` (lme4's
  ``expandDoubleVerts``); a factor slope under ``||`` keeps its full covariance
  matrix, as in lme4;
* ``(1 | a/b)`` is ``(1 | a) + (1 | b:a)``; the grouping factor of a combination
  holds only the combinations seen in the data;
* the terms are ordered by decreasing number of levels (lme4's order, which is
  the order of θ and of ``VarCorr``).

θ holds, term after term, the lower triangle of each ``T_i`` column by column;
lme4 starts from ``T_i = I`` and bounds the diagonal elements below by 0.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import patsy

__all__ = ["ReTerm", "build_terms", "theta_layout", "r_name", "group_labels"]


@dataclass(eq=False)
class ReTerm:
    """One random-effects term ``(effects | group)`` after ``||`` and ``a/b`` are expanded.

    Attributes
    ----------
    group : str
        The grouping factor as lme4 names it (``"Subject"``, ``"class:school"``).
    levels : pandas.Index
        The levels of the grouping factor (sorted; combinations only as observed).
    codes : ndarray of int, shape (n,)
        The level of every row (0 .. l-1).
    X : ndarray, shape (n, p)
        The term's model matrix (``1`` for a random intercept, the slopes).
    cnames : list of str
        Its column names as lme4 writes them (``"(Intercept)"``, ``"Days"``, ``"condhard"``).
    text : str
        The term as written in the formula.
    """

    group: str
    levels: pd.Index
    codes: np.ndarray
    X: np.ndarray
    cnames: list
    text: str
    design_info: object = None     # patsy's, to build X_i for new data
    columns: tuple = ()            # the grouping columns

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    @property
    def p(self) -> int:
        return self.X.shape[1]

    @property
    def q(self) -> int:
        """Number of random effects of the term: one per level and column."""
        return self.n_levels * self.p

    @property
    def n_theta(self) -> int:
        return self.p * (self.p + 1) // 2

    def __str__(self) -> str:
        return f"({' + '.join(self.cnames)} | {self.group})"


def r_name(name: str) -> str:
    """A patsy column name as R writes it: ``Intercept`` -> ``(Intercept)``,
    ``cond[T.hard]`` and ``cond[hard]`` -> ``condhard``."""
    if name == "Intercept":
        return "(Intercept)"
    return re.sub(r"\[(?:T\.)?([^\]]*)\]", r"\1", name)


def group_labels(data: pd.DataFrame, columns: tuple[str, ...]) -> np.ndarray:
    """The label of every row's level: the value as text, ``"a:b"`` for combinations."""
    labels = data[columns[0]].astype(str).to_numpy(dtype=object)
    for c in columns[1:]:
        labels = labels + ":" + data[c].astype(str).to_numpy(dtype=object)
    return labels


def _grouping(data: pd.DataFrame, columns: tuple[str, ...]):
    """(levels, codes) of a grouping factor or of the observed combinations of several."""
    if len(columns) == 1:
        codes, levels = pd.factorize(data[columns[0]], sort=True)
        return pd.Index(levels).astype(str), codes
    codes, levels = pd.factorize(group_labels(data, columns), sort=True)
    return pd.Index(levels), codes


def _model_matrix(lhs: str, data: pd.DataFrame, env: dict, text: str):
    try:
        mat = patsy.dmatrix(lhs, data, eval_env=patsy.EvalEnvironment([env]),
                            NA_action="raise", return_type="dataframe")
    except (patsy.PatsyError, SyntaxError) as err:
        raise ValueError(f"random term {text!r}: cannot evaluate {lhs!r}: {err}") from None
    return np.asarray(mat, dtype=float), [r_name(c) for c in mat.columns], mat.design_info


def build_terms(random_terms, data: pd.DataFrame, env: dict) -> list[ReTerm]:
    """lme4's random-effects terms for the parsed ``random_terms`` (``RandomTerm`` list).

    Expands ``||`` into one term per effect and ``a/b`` into ``a`` and ``b:a``, builds
    each term's model matrix with patsy, and orders the terms as lme4 does.
    """
    pieces = []  # (lhs, grouping columns, lme4 name, text)
    for t in random_terms:
        after_bar = t.text.rsplit("|", 1)[-1]
        # lme4 writes the inner factor of a/b first: (1|a/b) = (1|a) + (1|b:a)
        columns = tuple(reversed(t.grouping)) if "/" in after_bar else tuple(t.grouping)
        name = ":".join(columns)
        if t.correlated:
            pieces.append((t.lhs, columns, name, t.text))
            continue
        if t.intercept:
            pieces.append(("1", columns, name, t.text))
        for s in t.slopes:
            pieces.append((f"0 + {s}", columns, name, t.text))

    terms = []
    for lhs, grouping, name, text in pieces:
        levels, codes = _grouping(data, grouping)
        X, cnames, info = _model_matrix(lhs, data, env, text)
        terms.append(ReTerm(name, levels, np.asarray(codes, dtype=np.int64), X, cnames, text,
                            info, tuple(grouping)))

    # lme4's mkReTrms: if the numbers of levels are not already non-increasing, order the
    # terms by rev(order(nl)) (which also reverses ties).
    nl = np.array([t.n_levels for t in terms])
    if np.any(np.diff(nl) > 0):
        order = np.argsort(nl, kind="stable")[::-1]
        terms = [terms[i] for i in order]
    return terms


def theta_layout(terms: list[ReTerm]):
    """Where each θ element sits, its starting value and its lower bound.

    Returns
    -------
    rows, cols : list of ndarray
        For term i, the (row, column) of each of its θ elements in ``T_i``
        (lower triangle, column by column, as lme4 orders θ).
    theta0 : ndarray
        lme4's starting value: ``T_i = I``.
    lower : ndarray
        0 for diagonal elements, ``-inf`` for the others.
    """
    rows, cols, start, lower = [], [], [], []
    for t in terms:
        c, r = np.triu_indices(t.p)  # column-major lower triangle: (r >= c), by column
        rows.append(r)
        cols.append(c)
        diag = r == c
        start.append(diag.astype(float))
        lower.append(np.where(diag, 0.0, -np.inf))
    return rows, cols, np.concatenate(start), np.concatenate(lower)
