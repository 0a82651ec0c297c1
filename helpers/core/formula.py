"""lme4-style formulas for statsmodels: ``mixedlm("y ~ x + (1 + x | subject)", df)``.

statsmodels' ``MixedLM`` describes random effects with three separate
arguments (``groups``, ``re_formula`` and ``vc_formula``) instead of the
parenthesised terms R users know from lme4. This module reads the lme4
notation, checks it against the data, and builds the equivalent statsmodels
model, or explains why statsmodels cannot fit it and what it can fit instead.

The module has two parts: a small parser (split the right-hand side on its
top-level ``+`` and ``-``, then read each ``( terms | group )`` or
``( terms || group )`` term) and a translator (decide which grouping factor
becomes statsmodels' ``groups`` and express every other random term as a
variance component nested in those groups).
"""
from __future__ import annotations

import builtins
import keyword
import re
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import patsy
from statsmodels.regression.mixed_linear_model import MixedLM

__all__ = ["mixedlm", "RandomTerm", "MissingValuesDropped"]


class MissingValuesDropped(UserWarning):
    """Rows with a missing value in a column the model uses were dropped."""


@dataclass(frozen=True)
class RandomTerm:
    """One random-effects term of an lme4 formula, after ``a/b`` is expanded.

    Attributes
    ----------
    grouping : tuple of str
        The grouping factor(s): ``("subject",)`` for ``(1|subject)``,
        ``("school", "class")`` for ``(1|school:class)``.
    intercept : bool
        Whether the term has a random intercept.
    slopes : tuple of str
        The random slopes, as patsy term names (``"x"``, ``"C(cond)"``, ``"x:z"``).
    correlated : bool
        ``True`` for ``|`` (one covariance matrix for all the term's effects),
        ``False`` for ``||`` (independent effects).
    text : str
        The term as written in the formula.
    """

    grouping: tuple[str, ...]
    intercept: bool
    slopes: tuple[str, ...]
    correlated: bool
    text: str

    @property
    def group(self) -> str:
        """The grouping factor as lme4 writes it, e.g. ``"school:class"``."""
        return ":".join(self.grouping)

    @property
    def lhs(self) -> str:
        """The effects, e.g. ``"1 + x"`` or ``"0 + x"``."""
        if not self.slopes:
            return "1"
        return ("1 + " if self.intercept else "0 + ") + " + ".join(self.slopes)

    def __str__(self) -> str:
        return f"({self.lhs}{'|' if self.correlated else '||'}{self.group})"


# --------------------------------------------------------------------------
# Scanning: characters outside string literals, with their bracket depth
# --------------------------------------------------------------------------

_CLOSER = {"(": ")", "[": "]"}
# patsy raises PatsyError, or a bare SyntaxError for Python code it cannot parse.
_PATSY_ERRORS = (patsy.PatsyError, SyntaxError)


def _pointer(text: str, pos: int, what: str) -> str:
    return f"{what} at position {pos} of the formula:\n    {text}\n    {' ' * pos}^"


def _string_end(text: str, start: int) -> int:
    """Index of the quote closing the string literal that opens at ``start``."""
    quote, i = text[start], start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == quote:
            return i
        i += 1
    raise ValueError(_pointer(text, start, "unterminated string literal"))


def _scan(text: str):
    """Yield ``(index, char, depth)`` for every character outside string literals.

    ``depth`` is the number of brackets enclosing the character (an opening
    bracket is reported at the depth outside it). Assumes balanced brackets.
    """
    depth, i = 0, 0
    while i < len(text):
        ch = text[i]
        if ch in "'\"":
            i = _string_end(text, i) + 1
            continue
        if ch in ")]":
            depth -= 1
        yield i, ch, depth
        if ch in "([":
            depth += 1
        i += 1


def _check_brackets(formula: str) -> None:
    """Raise ``ValueError`` pointing at the first unbalanced bracket."""
    stack: list[tuple[str, int]] = []
    i = 0
    while i < len(formula):
        ch = formula[i]
        if ch in "'\"":
            i = _string_end(formula, i) + 1
            continue
        if ch in "([":
            stack.append((ch, i))
        elif ch in ")]":
            if not stack:
                raise ValueError(_pointer(formula, i, f"unbalanced parentheses: unmatched {ch!r}"))
            opener, pos = stack.pop()
            if _CLOSER[opener] != ch:
                raise ValueError(_pointer(
                    formula, i,
                    f"unbalanced parentheses: {ch!r} closes the {opener!r} opened at position {pos}",
                ))
        i += 1
    if stack:
        opener, pos = stack[-1]
        raise ValueError(_pointer(formula, pos, f"unbalanced parentheses: {opener!r} is never closed"))


def _split_top(text: str, separators: str) -> list[tuple[str, str]]:
    """Split ``text`` on the ``separators`` found outside brackets and strings.

    Returns ``(separator_before, piece)`` pairs; the first separator is ``""``.
    """
    pieces, start, sep = [], 0, ""
    for i, ch, depth in _scan(text):
        if depth == 0 and ch in separators:
            pieces.append((sep, text[start:i]))
            start, sep = i + 1, ch
    pieces.append((sep, text[start:]))
    return pieces


def _top_bars(text: str) -> list[int]:
    return [i for i, ch, depth in _scan(text) if depth == 0 and ch == "|"]


def _formula_level_bar(text: str) -> bool:
    """Whether ``text`` has a ``|`` that is not inside a function call or ``[...]``.

    A bar inside ``I(a | b)`` is Python's "or" and belongs to patsy; any other
    bar can only be part of an lme4 random term.
    """
    shelter: list[bool] = []  # one entry per open bracket: does it shelter a bar?
    for i, ch, _ in _scan(text):
        if ch in "([":
            before = text[:i].rstrip()
            is_call = ch == "[" or (before != "" and (before[-1].isalnum() or before[-1] in "_.)]"))
            shelter.append(is_call)
        elif ch in ")]":
            shelter.pop()
        elif ch == "|" and not any(shelter):
            return True
    return False


def _enclosed(piece: str) -> bool:
    """Whether ``piece`` (stripped) is one parenthesised group, ``( ... )``."""
    if not (piece.startswith("(") and piece.endswith(")")):
        return False
    for i, ch, depth in _scan(piece):
        if ch == ")" and depth == 0:
            return i == len(piece) - 1
    return False


# --------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------

_IDENT = re.compile(r"[^\W\d]\w*")
_Q_NAME = re.compile(r"""Q\(\s*(['"])(.*)\1\s*\)""")
_Q_CALL = re.compile(r"""\bQ\(\s*(['"])((?:\\.|(?!\1).)*)\1\s*\)""")
_STRING = re.compile(r"""(['"])(?:\\.|(?!\1).)*\1""")
_NAME = re.compile(r"(?<![\w.])[^\W\d]\w*")


def _variables(code: str) -> list[str]:
    """Names of the variables a patsy expression reads, in order of appearance.

    Function names (``C`` in ``C(cond)``), attributes (``log`` in
    ``np.log``) and keyword arguments are left out; ``Q("a name")`` gives
    ``"a name"``.
    """
    found = [m.group(2) for m in _Q_CALL.finditer(code)]
    code = _STRING.sub(" ", _Q_CALL.sub(" ", code))
    for m in _NAME.finditer(code):
        after = code[m.end():].lstrip()
        if after.startswith("(") or (after.startswith("=") and not after.startswith("==")):
            continue
        if keyword.iskeyword(m.group()):
            continue
        found.append(m.group())
    return list(dict.fromkeys(found))


# R spellings that patsy does not read, and what to write instead.
_R_FACTOR = re.compile(r"(?<![\w.])(?:as\.)?factor(?=\s*\()")
_R_FUNCTIONS = {"factor": "C(x)", "as.factor": "C(x)", "log": "np.log(x)",
                "log10": "np.log10(x)", "exp": "np.exp(x)", "sqrt": "np.sqrt(x)",
                "poly": "x + I(x**2) (or center(x) + I(center(x)**2))"}


def _outside_strings(code: str, rewrite) -> str:
    """Apply ``rewrite`` to the parts of ``code`` outside string literals."""
    out, start = [], 0
    for m in _STRING.finditer(code):
        out.append(rewrite(code[start:m.start()]))
        out.append(m.group())
        start = m.end()
    out.append(rewrite(code[start:]))
    return "".join(out)


def _r_spelling(formula: str, columns, namespace: Mapping) -> str:
    """Rewrite two R habits that patsy cannot read, so an lme4 formula works as written.

    * ``factor(x)`` and ``as.factor(x)`` become ``C(x)`` (unless the caller defined a
      function called ``factor``);
    * a column whose name is a Python keyword (``yield``, ``class``, ``in``...) becomes
      ``Q('yield')`` when it is used as a bare name.
    """
    columns = set(map(str, columns))

    def rewrite(part: str) -> str:
        if "factor" not in namespace:
            part = _R_FACTOR.sub("C", part)

        def name(m):
            word = m.group()
            after = part[m.end():].lstrip()
            if (keyword.iskeyword(word) and word in columns and not after.startswith("(")
                    and not (after.startswith("=") and not after.startswith("=="))):
                return f"Q({word!r})"
            return word
        return _NAME.sub(name, part)

    return _outside_strings(formula, rewrite)


def _spelling_hint(code: str, namespace: Mapping) -> str:
    """What to write instead of the R or Python habits in ``code`` ("" if none is seen)."""
    hints = []
    bare = _STRING.sub(" ", code)
    for word in dict.fromkeys(m.group() for m in _NAME.finditer(bare)):
        if keyword.iskeyword(word) and word not in ("in", "not", "and", "or", "is", "if", "else"):
            hints.append(f"{word!r} is a Python keyword: a column of that name is written "
                         f"Q({word!r})")
    for m in re.finditer(r"(?<![\w.])((?:as\.)?[^\W\d]\w*)\s*\(", bare):
        fn = m.group(1)
        if fn in _R_FUNCTIONS and fn not in namespace:
            hints.append(f"{fn}() is R's: write {_R_FUNCTIONS[fn]} instead")
    return ("; " + "; ".join(hints)) if hints else ""


def _column_name(text: str) -> str | None:
    """The column a bare name or ``Q("...")`` refers to, else ``None``."""
    text = text.strip()
    if _IDENT.fullmatch(text) and not keyword.iskeyword(text):
        return text
    m = _Q_NAME.fullmatch(text)
    return m.group(2) if m else None


def _grouping_name(text: str) -> str | None:
    """A grouping factor's column: like :func:`_column_name`, but Python keywords such as
    ``class`` are fine here, because grouping columns never reach patsy as bare names."""
    text = text.strip()
    return text if _IDENT.fullmatch(text) else _column_name(text)


def _ref(column: str) -> str:
    """How to write a column in a patsy formula."""
    if column.isidentifier() and not keyword.iskeyword(column):
        return column
    return f"Q({column!r})"


def _parse_effects(lhs: str, term: str, namespace: Mapping = {}  # noqa: B006 - read only
                   ) -> tuple[bool, tuple[str, ...]]:
    """Read the left side of a random term: (has intercept, slope term names)."""
    if "~" in lhs:
        raise ValueError(f"random term {term!r}: '~' cannot appear inside a random term")
    try:
        desc = patsy.ModelDesc.from_formula(lhs)
    except _PATSY_ERRORS as err:
        raise ValueError(f"random term {term!r}: cannot read its effects {lhs.strip()!r}: "
                         f"{err}{_spelling_hint(lhs, namespace)}") from None
    intercept = any(not t.factors for t in desc.rhs_termlist)
    slopes = tuple(t.name() for t in desc.rhs_termlist if t.factors)
    if not intercept and not slopes:
        raise ValueError(
            f"random term {term!r} has no random effect left (no intercept and no slope); "
            "write (1|group) for a random intercept"
        )
    return intercept, slopes


def _parse_grouping(rhs: str, term: str) -> list[tuple[str, ...]]:
    """Read the grouping side; ``a/b`` expands to ``[(a,), (a, b)]``."""
    levels, nested = [], []
    for sep, part in _split_top(rhs, "/"):
        names = []
        for _, name in _split_top(part, ":"):
            column = _grouping_name(name)
            if column is None:
                raise ValueError(
                    f"random term {term!r}: grouping factor {name.strip()!r} must be a column "
                    "name; write a/b for b nested in a, or a:b for the combinations of a and b"
                )
            names.append(column)
        nested = nested + names
        levels.append(tuple(nested))
    return levels


def _parse_random_term(piece: str, namespace: Mapping = {},  # noqa: B006 - read only
                       columns=()) -> list[RandomTerm]:
    """Parse ``(lhs | rhs)`` or ``(lhs || rhs)``; ``piece`` is stripped and enclosed."""
    inner = piece[1:-1]
    bars = _top_bars(inner)
    if len(bars) == 1:
        correlated, cut, width = True, bars[0], 1
    elif len(bars) == 2 and bars[1] == bars[0] + 1:
        correlated, cut, width = False, bars[0], 2
    else:
        raise ValueError(
            f"malformed random term {piece!r}: write (effects | group) or (effects || group) "
            "with one '|' or one '||'"
        )
    lhs, rhs = inner[:cut], inner[cut + width:]
    if not lhs.strip():
        raise ValueError(
            f"empty random term {piece!r}: nothing before the bar; write (1 | group) for a "
            "random intercept"
        )
    if not rhs.strip():
        raise ValueError(
            f"empty random term {piece!r}: no grouping factor after the bar; write e.g. "
            "(1 | subject)"
        )
    intercept, slopes = _parse_effects(_r_spelling(lhs, columns, namespace), piece, namespace)
    return [RandomTerm(g, intercept, slopes, correlated, piece) for g in _parse_grouping(rhs, piece)]


@dataclass(frozen=True)
class _Parsed:
    response: str
    fixed: str
    terms: list[RandomTerm]


def _parse(formula: str, namespace: Mapping = {}, columns=()) -> _Parsed:  # noqa: B006
    """Split an lme4 formula into response, fixed part (patsy) and random terms.

    R spellings in the response, the fixed part and the random terms' effects are
    rewritten for patsy (see :func:`_r_spelling`; ``columns`` are the data's columns);
    grouping factors and each term's ``text`` stay as written.
    """
    if not isinstance(formula, str):
        raise ValueError(f"formula must be a string, got {type(formula).__name__}")
    _check_brackets(formula)
    tildes = [i for i, ch, depth in _scan(formula) if ch == "~" and depth == 0]
    if not tildes:
        raise ValueError(
            f"formula {formula!r} has no '~'; write it as 'response ~ fixed + (1|group)'"
        )
    if len(tildes) > 1:
        raise ValueError(_pointer(formula, tildes[1], "a formula has one '~'; found another"))
    response, rhs = formula[: tildes[0]].strip(), formula[tildes[0] + 1:]
    if not response:
        raise ValueError(f"formula {formula!r} has no response before '~'")
    if _formula_level_bar(response):
        raise ValueError(f"the response {response!r} contains '|'; random terms go after '~'")

    terms: list[RandomTerm] = []
    fixed_parts: list[str] = []
    for sep, raw in _split_top(rhs, "+-"):
        piece = raw.strip()
        if _enclosed(piece) and not piece[1:-1].strip():
            raise ValueError(f"empty random term {piece!r}: write e.g. (1 | subject)")
        if _enclosed(piece) and _top_bars(piece[1:-1]):
            if sep == "-":
                raise ValueError(f"random term {piece!r} cannot be subtracted; add it with '+'")
            terms.extend(_parse_random_term(piece, namespace, columns))
            continue
        if _formula_level_bar(piece):
            raise ValueError(
                f"malformed term {piece!r}: '|' can only appear inside a random term in "
                "parentheses, like (1 | subject) or (1 + x || subject)"
            )
        fixed_parts.append(sep + _r_spelling(raw, columns, namespace))
    fixed = "".join(fixed_parts).strip()
    if fixed.startswith("+"):
        fixed = fixed[1:].strip()
    if not terms:
        raise ValueError(
            f"formula {formula!r} has no random-effects term; add one such as (1|subject), "
            "e.g. 'y ~ x + (1|subject)', or use statsmodels.formula.api.ols for a model "
            "without random effects"
        )
    return _Parsed(_r_spelling(response, columns, namespace), fixed or "1", terms)


# --------------------------------------------------------------------------
# Translation to statsmodels' groups / re_formula / vc_formula
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Block:
    """Random effects that share one covariance matrix (lme4's Z_i block)."""

    grouping: tuple[str, ...]
    intercept: bool
    slopes: tuple[str, ...]
    n_columns: int
    term: RandomTerm

    @property
    def needs_covariance(self) -> bool:
        return self.n_columns > 1

    @property
    def split_factor(self) -> bool:
        """A term of several columns (a factor) under ``||``: lme4 keeps its covariances."""
        return self.n_columns > 1 and not self.term.correlated

    @property
    def formula(self) -> str:
        if not self.slopes:
            return "1"
        return ("1 + " if self.intercept else "0 + ") + " + ".join(self.slopes)


def _n_columns(code: str, data: pd.DataFrame, env: dict, term: RandomTerm) -> int:
    try:
        return patsy.dmatrix(code, data, eval_env=patsy.EvalEnvironment([env]),
                             NA_action="raise").shape[1]
    except _PATSY_ERRORS as err:
        raise ValueError(f"random term {term.text!r}: cannot evaluate {code!r}: {err}") from None


def _blocks(terms: list[RandomTerm], data: pd.DataFrame, env: dict) -> list[_Block]:
    blocks: list[_Block] = []
    for t in terms:
        if t.correlated:
            n = _n_columns(t.lhs, data, env, t)
            blocks.append(_Block(t.grouping, t.intercept, t.slopes, n, t))
            continue
        # lme4's || splits the effects on the terms of their formula, not on columns:
        # (1 + f || g) is (1 | g) + (0 + f | g), a full covariance matrix for the columns
        # of a factor f (Bates et al., lme4's expandDoubleVerts).
        if t.intercept:
            blocks.append(_Block(t.grouping, True, (), 1, t))
        for s in t.slopes:
            n = _n_columns(f"0 + {s}", data, env, t)
            blocks.append(_Block(t.grouping, False, (s,), n, t))
    seen: dict[frozenset, dict[str, RandomTerm]] = {}
    for b in blocks:
        columns = seen.setdefault(frozenset(b.grouping), {})
        for c in (["1"] if b.intercept else []) + list(b.slopes):
            if c in columns:
                what = "the intercept" if c == "1" else f"the slope {c!r}"
                raise ValueError(
                    f"{what} for {b.term.group!r} appears twice, in {columns[c].text!r} and "
                    f"{b.term.text!r}; keep it in one random term"
                )
            columns[c] = b.term
    return blocks


def _nested(data: pd.DataFrame, inner: tuple[str, ...], outer: tuple[str, ...]) -> bool:
    """Whether every level of ``inner`` lies inside one level of ``outer``."""
    if not outer or set(outer) <= set(inner):
        return True
    outer_code = data.groupby(list(outer), observed=True, sort=False).ngroup()
    per_inner = outer_code.groupby([data[c] for c in inner], observed=True).nunique()
    return bool((per_inner <= 1).all())


def _choose_groups(blocks: list[_Block], data: pd.DataFrame) -> tuple[str, ...] | None:
    """The grouping statsmodels can use as ``groups``; ``()`` is one group of all rows.

    ``None`` when no choice works (correlated effects for two crossed factors).
    """
    covariance = [b for b in blocks if b.needs_covariance]
    if len(covariance) > 1:
        return None  # statsmodels has one covariance matrix, for `groups`
    if covariance:
        candidates = [covariance[0].grouping]
    else:
        candidates = [b.grouping for b in blocks] + [(f,) for b in blocks for f in b.grouping]
    for g in candidates:
        if all(
            frozenset(b.grouping) == frozenset(g) if b.needs_covariance
            else _nested(data, b.grouping, g)
            for b in blocks
        ):
            return g
    return None if covariance else ()


def _levels(*columns) -> np.ndarray:
    """Labels of the observed combinations of ``columns``, e.g. ``"3:b"``."""
    parts = [np.asarray(c).astype(str).astype(object) for c in columns]
    out = parts[0]
    for p in parts[1:]:
        out = out + ":" + p
    return out


_LEVELS = "_lme4_levels"  # the name of _levels in the formulas' namespace


def _levels_code(factors: list[str], data: pd.DataFrame) -> str:
    """Patsy code for the levels of ``factors`` seen in the data ("" for none).

    One plain column is written ``C(b)``. Combinations of columns, and a
    categorical column (whose unused categories would give empty columns),
    go through :func:`_levels`, so only observed levels get a random effect.
    """
    if not factors:
        return ""
    if len(factors) == 1 and not isinstance(data[factors[0]].dtype, pd.CategoricalDtype):
        return f"C({_ref(factors[0])})"
    return f"C({_LEVELS}({', '.join(_ref(f) for f in factors)}))"


@dataclass(frozen=True)
class _Translation:
    groups: tuple[str, ...]  # () means one group holding every row
    re_formula: str | None
    vc_formula: dict[str, str]


def _translate(blocks: list[_Block], data: pd.DataFrame) -> _Translation | None:
    g = _choose_groups(blocks, data)
    if g is None:
        return None
    on_g = [b for b in blocks if frozenset(b.grouping) == frozenset(g)] if g else []
    re_block = next((b for b in on_g if b.needs_covariance), None)
    if re_block is None:
        singles = [b for b in on_g if b.n_columns == 1]
        re_block = next((b for b in singles if b.intercept), singles[0] if singles else None)
    vc: dict[str, str] = {}
    for b in blocks:
        if b is re_block:
            continue
        others = [f for f in b.grouping if f not in g]
        prefix = _levels_code(others, data)
        label = ":".join(b.grouping)
        if not b.slopes:
            name, code = label, (f"0 + {prefix}" if prefix else "1")
        else:
            s = b.slopes[0]
            name, code = (f"{label}:{s}", f"0 + {prefix}:{s}") if prefix else (s, f"0 + {s}")
        unique, k = name, 2
        while unique in vc:
            unique, k = f"{name}#{k}", k + 1
        vc[unique] = code
    return _Translation(tuple(g), re_block.formula if re_block else None, vc)


def _cannot_fit(parsed: _Parsed, blocks: list[_Block], data: pd.DataFrame, env: dict) -> ValueError:
    """The error for a model statsmodels cannot express, with the nearest one it can."""
    covariance = [b for b in blocks if b.needs_covariance]
    fixable = [t for t in parsed.terms if t.correlated and any(b.term is t for b in covariance)]

    def render(terms):
        return f"{parsed.response} ~ {parsed.fixed} + " + " + ".join(str(t) for t in terms)

    def uncorrelated(t):
        return RandomTerm(t.grouping, t.intercept, t.slopes, False, t.text)

    factors = {(b.term, b.slopes[0]) for b in covariance if b.split_factor}

    def split(terms):
        """Give each factor under || one variance, as (1 | g:f) (afex's expand_re-like)."""
        try:
            factors = {(b.term, b.slopes[0]) for b in _blocks(terms, data, env) if b.split_factor}
        except (ValueError, KeyError):
            return terms
        out = []
        for t in terms:
            own = [s for s in t.slopes if (t, s) in factors and _factor_column(s)]
            if t.correlated or not own:
                out.append(t)
                continue
            rest = tuple(s for s in t.slopes if s not in own)
            if t.intercept and not rest:
                out.append(RandomTerm(t.grouping, True, (), True, t.text))
            elif t.intercept or rest:
                out.append(RandomTerm(t.grouping, t.intercept, rest, False, t.text))
            out += [RandomTerm(t.grouping + (_factor_column(s),), True, (), True, t.text)
                    for s in own]
        return out

    candidates = []
    for keep in dict.fromkeys(t.grouping for t in fixable):
        kept = False
        terms = []
        for t in parsed.terms:
            if t in fixable and (t.grouping != keep or kept):
                t = uncorrelated(t)
            elif t in fixable:
                kept = True
            terms.append(t)
        candidates.append(terms)
    candidates.append(list(parsed.terms))
    candidates += [split(terms) for terms in candidates]
    suggestion = None
    for terms in candidates:
        try:
            fits = _translate(_blocks(terms, data, env), data) is not None
        except (ValueError, KeyError):
            fits = False
        if fits:
            suggestion = render(terms)
            break
    if suggestion is None:
        suggestion = render(split([uncorrelated(t) if t in fixable else t for t in parsed.terms]))
    note = ""
    if factors:
        t, f = next(iter(factors))
        col = _factor_column(f) or f
        note = (
            f"\nNote: {t.text} has the factor {f!r} under '||'. Like lme4, helpers.mixedlm "
            f"does not split a factor's columns: (1 + {f} || {t.group}) is "
            f"(1 | {t.group}) + (0 + {f} | {t.group}), a full covariance matrix for the "
            f"levels of {f!r}. To give the factor one variance instead, write "
            f"(1 | {t.group}:{col}) (the split that afex's expand_re makes possible)."
        )
    culprits = " and ".join(dict.fromkeys(b.term.text for b in covariance))
    if len(covariance) > 1 and len({frozenset(b.grouping) for b in covariance}) == 1:
        return ValueError(
            "statsmodels MixedLM fits one block of correlated random effects per grouping "
            f"factor, but {culprits} ask for two on {covariance[0].term.group!r}. Put all the "
            "effects in one term, or make the others uncorrelated, as in:\n"
            f"    {suggestion}{note}"
        )
    return ValueError(
        "statsmodels MixedLM cannot fit correlated random slopes for crossed factors "
        f"(or for more than one grouping factor). The term(s) {culprits} ask for correlated "
        "random effects, which statsmodels allows for one grouping factor only (its `groups`), "
        "with every other random term nested inside it. The nearest model it can fit makes "
        "the other random effects uncorrelated (variance components):\n"
        f"    {suggestion}{note}"
    )


def _factor_column(slope: str) -> str | None:
    """The column of a factor slope written ``f``, ``C(f)`` or ``Q('f')``, else ``None``."""
    m = re.fullmatch(r"\s*C\((.*?)\)\s*", slope)
    return _column_name(m.group(1) if m else slope)


# --------------------------------------------------------------------------
# Checks on the data
# --------------------------------------------------------------------------


def _caller_namespace(depth: int) -> dict:
    frame = sys._getframe(depth + 1)
    return {**frame.f_globals, **frame.f_locals}


_PATSY_NAMES = set(patsy.builtins.__all__)
_PY_NAMES = set(dir(builtins))


def _check_names(names, where: str, data: pd.DataFrame, env: Mapping) -> None:
    for name in names:
        if name in data.columns or name in env or name in _PATSY_NAMES or name in _PY_NAMES:
            continue
        raise KeyError(
            f"column {name!r} (used in {where}) is not in data; its columns are "
            f"{list(data.columns)}"
        )


def _check_functions(code: str, where: str, namespace: Mapping) -> None:
    """Raise ``ValueError`` for a function that patsy will not find, with what to write."""
    bare = _STRING.sub(" ", code)
    for m in re.finditer(r"(?<![\w.])([^\W\d]\w*)\s*\(", bare):
        fn = m.group(1)
        if fn in namespace or fn in _PATSY_NAMES or fn in _PY_NAMES or keyword.iskeyword(fn):
            continue
        hint = (f"; {fn}() is R's: write {_R_FUNCTIONS[fn]} instead" if fn in _R_FUNCTIONS
                else "; import it, or use a numpy function such as np.log(x)")
        raise ValueError(f"function {fn!r} (used in {where}) is not defined{hint}")


def _drop_missing(data: pd.DataFrame, columns: list[str], missing: str) -> pd.DataFrame:
    counts = {c: int(data[c].isna().sum()) for c in columns}
    counts = {c: n for c, n in counts.items() if n}
    if not counts:
        return data
    bad = data[list(counts)].isna().any(axis=1)
    where = ", ".join(f"{c!r} ({n})" for c, n in counts.items())
    if missing == "raise":
        raise ValueError(
            f"{int(bad.sum())} row(s) have missing values in the columns the model uses: {where}"
        )
    warnings.warn(
        f"dropped {int(bad.sum())} of {len(data)} rows with missing values in the columns the "
        f"model uses: {where} (count per column). Drop or fill them yourself to silence this.",
        MissingValuesDropped,
        stacklevel=3,
    )
    return data.loc[~bad]


_RESERVED = ("groups", "re_formula", "vc_formula", "exog_re", "exog_vc")


@dataclass
class _Frame:
    """An lme4 formula read against its data: what both back ends (statsmodels' MixedLM
    through :func:`mixedlm`, and :func:`helpers.lmer`) start from."""

    parsed: _Parsed
    env: dict             # the names the formula uses from the caller's namespace
    work: pd.DataFrame    # the rows to fit: subset taken, missing values handled


def read_frame(formula: str, data: pd.DataFrame, namespace: Mapping, *, missing: str = "drop",
               subset=None, allowed_missing=("drop", "none", "raise"),
               model: str = "MixedLM") -> _Frame:
    """Parse ``formula``, check every name it uses against ``data`` and ``namespace``, and
    return the rows to fit (``subset`` taken, missing values dropped with a
    :class:`MissingValuesDropped` warning, or refused with ``missing="raise"``).

    Raises ``KeyError`` for a column that is not in the data and ``ValueError`` for
    everything else a model cannot be built from (a malformed formula, a non-numeric
    response, an unknown function, no rows left); ``model`` names the back end in messages.
    """
    parsed = _parse(formula, namespace, data.columns)
    if missing not in allowed_missing:
        raise ValueError(f"missing must be one of {', '.join(map(repr, allowed_missing))}, "
                         f"got {missing!r}")

    # Which columns the model reads, checked against the data.
    response_vars = _variables(parsed.response)
    fixed_vars = _variables(parsed.fixed)
    _check_names(response_vars, f"the response {parsed.response!r}", data, namespace)
    _check_names(fixed_vars, f"the fixed part {parsed.fixed!r}", data, namespace)
    slope_vars: list[str] = []
    slope_terms = [s for t in parsed.terms for s in t.slopes]
    for t in parsed.terms:
        for s in t.slopes:
            names = _variables(s)
            _check_names(names, f"the random term {t.text!r}", data, namespace)
            slope_vars += names
        absent = [g for g in t.grouping if g not in data.columns]
        if absent:
            raise KeyError(
                f"grouping column {absent[0]!r} (in the random term {t.text!r}) is not in "
                f"data; its columns are {list(data.columns)}"
            )
    grouping_vars = list(dict.fromkeys(g for t in parsed.terms for g in t.grouping))
    called = {m.group(1) for code in [parsed.response, parsed.fixed, *slope_terms]
              for m in re.finditer(r"(?<![\w.])([^\W\d]\w*)\s*\(", _STRING.sub(" ", code))}
    env = {k: namespace[k] for k in {*response_vars, *fixed_vars, *slope_vars, *called}
           if k in namespace}
    try:
        patsy.ModelDesc.from_formula(f"{parsed.response} ~ {parsed.fixed}")
    except _PATSY_ERRORS as err:
        raise ValueError(f"cannot read the fixed part {parsed.fixed!r}: {err}"
                         f"{_spelling_hint(parsed.response + ' ~ ' + parsed.fixed, namespace)}"
                         ) from None
    _check_functions(f"{parsed.response} ~ {parsed.fixed}", "the fixed part", namespace)
    for t in parsed.terms:
        for s in t.slopes:
            _check_functions(s, f"the random term {t.text!r}", namespace)

    response_column = _column_name(parsed.response)
    if response_column in data.columns:
        dtype = data[response_column].dtype
        if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)):
            raise ValueError(
                f"the response {response_column!r} must be numeric, but its dtype is {dtype}; "
                f"{model} fits a continuous outcome"
            )

    # Work on a copy: subset, drop missing values (with a warning), tidy groupings.
    work = data.copy()
    if subset is not None:
        work = work.loc[subset]
    used = [c for c in dict.fromkeys(response_vars + fixed_vars + slope_vars + grouping_vars)
            if c in work.columns]
    work = _drop_missing(work, used, missing)
    if len(work) == 0:
        raise ValueError("no rows left to fit the model")
    if not work.index.is_unique:
        work = work.reset_index(drop=True)
    if response_column not in work.columns:
        try:
            n_response = patsy.dmatrix(f"0 + {parsed.response}", work,
                                       eval_env=patsy.EvalEnvironment([env])).shape[1]
        except _PATSY_ERRORS as err:
            raise ValueError(f"cannot evaluate the response {parsed.response!r}: {err}"
                             f"{_spelling_hint(parsed.response, namespace)}") from None
        if n_response != 1:
            raise ValueError(f"the response {parsed.response!r} must be one numeric column")

    return _Frame(parsed, env, work)


def mixedlm(formula: str, data: pd.DataFrame, **kw) -> MixedLM:
    """Build an (unfitted) statsmodels ``MixedLM`` from an lme4-style formula.

    The fixed part of the formula (everything except the parenthesised random
    terms) goes to patsy exactly as written, so ``C()``, interactions
    (``a*b``, ``a:b``), ``- 1``, ``np.log(x)`` and so on work as in
    ``statsmodels.formula.api``. Each random term is written ``(effects | group)``
    or ``(effects || group)`` and is translated as follows.

    ``(1|g)``
        A random intercept for each level of g:
        ``groups=g, re_formula="1"``.
    ``(1 + x|g)`` or ``(x|g)``
        A random intercept and slope for x, correlated:
        ``groups=g, re_formula="1 + x"``.
    ``(0 + x|g)``, ``(-1 + x|g)`` or ``(x - 1|g)``
        A random slope only: ``groups=g, re_formula="0 + x"``.
    ``(1 + x||g)``
        Intercept and slope independent (uncorrelated):
        ``groups=g, re_formula="1", vc_formula={"x": "0 + x"}``; each further
        slope gets its own variance component. Same as ``(1|g) + (0 + x|g)``.
        For a factor ``f``, ``(1 + f||g)`` is ``(1|g) + (0 + f|g)`` as in lme4
        (see the notes).

    R spellings are read as lme4 reads them: ``factor(x)`` (or
    ``as.factor(x)``) becomes ``C(x)``, and a column whose name is a Python
    keyword (``yield``, ``class``) is written ``Q('yield')`` for patsy.
    ``(1|a/b)``
        b nested in a; the same as ``(1|a) + (1|a:b)``:
        ``groups=a, re_formula="1", vc_formula={"a:b": "0 + C(b)"}``.
    ``(1 + x|a) + (1|a:b)``
        ``groups=a, re_formula="1 + x", vc_formula={"a:b": "0 + C(b)"}``.
    ``(0 + x|a:b)`` next to ``(1|a)``
        A slope for each level of b within a:
        ``vc_formula={"a:b:x": "0 + C(b):x"}``.
    ``(1|a) + (1|b)``, a and b crossed
        One group holding every row, no ``re_formula``:
        ``vc_formula={"a": "0 + C(a)", "b": "0 + C(b)"}``.
    ``(0 + x|a)`` next to a crossed factor
        ``vc_formula={"a:x": "0 + C(a):x"}``.

    How the translation works: statsmodels has one grouping factor, ``groups``,
    whose random effects may be correlated (``re_formula``); every other random
    effect is a *variance component* (``vc_formula``): a set of independent
    effects with one common variance, built separately inside each group. So
    this function picks as ``groups`` the one grouping factor that every other
    random term is nested in (``a`` in ``(1|a/b)``; also a factor that the
    data show to hold the others, such as schools when class labels are unique
    across schools). When there is no such factor, as for crossed subjects and
    items, all rows form one group and each term becomes a variance component
    over the levels of its factor. Either way the model is the one lme4 fits.

    Two statsmodels traps are avoided: a random intercept for ``groups`` is
    kept when variance components are added (statsmodels silently drops it
    when ``vc_formula`` comes without ``re_formula``), and nested labels that
    repeat across groups (class "1" in every school) are handled correctly
    because variance components are built within each group.

    Parameters
    ----------
    formula : str
        An lme4-style formula such as ``"y ~ x * cond + (1 + x | subject)"``.
    data : pandas.DataFrame
        Long-format data, one row per observation. It is not modified.
        Grouping columns are treated as categorical whatever their dtype.
    **kw
        Passed to ``MixedLM.from_formula`` (e.g. ``use_sparse``), except:
        ``subset`` (rows to use, applied here because MixedLM ignores it),
        ``missing`` (``"drop"``, the default, or ``"none"``: rows with a missing
        value in any column the model uses are dropped with a
        :class:`MissingValuesDropped` warning, a ``UserWarning``, that says how
        many rows and which columns; ``"raise"``: raise ``ValueError``) and
        ``eval_env`` (as in statsmodels: the default is the caller's namespace).
        ``groups``, ``re_formula`` and ``vc_formula`` come from the formula and
        cannot be given.

    Returns
    -------
    statsmodels.regression.mixed_linear_model.MixedLM
        The unfitted model; call ``.fit()``. Extra attributes:
        ``_lme4_formula`` (the formula given), ``_random_terms`` (a list of
        :class:`RandomTerm`, with ``a/b`` expanded) and ``_statsmodels_args``
        (the ``formula``, ``groups``, ``re_formula`` and ``vc_formula`` used;
        ``groups`` is ``None`` when all rows form one group).

    Raises
    ------
    ValueError
        Malformed formula (no ``~``, unbalanced parentheses, an empty or
        malformed random term, no random term at all), a non-numeric
        response, ``data`` not a DataFrame, or a model statsmodels cannot fit;
        the message names the culprit and, for the last, the nearest model
        statsmodels can fit.
    KeyError
        A column the formula uses is not in ``data``; the message lists the
        columns.

    Notes
    -----
    Limitations, because statsmodels ``MixedLM`` has one covariance matrix per
    group plus independent variance components:

    * Correlated random effects (``|`` with more than one column) are
      possible for one grouping factor only. ``y ~ x + (1 + x|subj) +
      (1|item)`` with crossed subjects and items raises ``ValueError``
      suggesting ``(1 + x||subj) + (1|item)``; the same holds for nested
      terms such as ``(1 + x|a:b)`` next to ``(1|a)``.
    * ``||`` with a factor. lme4's ``||`` splits the effects on the terms
      of their formula, not on the columns of the design: ``(1 + f||g)`` with
      a factor ``f`` is ``(1|g) + (0 + f|g)``, a full covariance matrix for the
      levels of ``f`` that is uncorrelated with the intercept. This function
      fits that same model (``groups=g, re_formula="0 + f"``, the intercept a
      variance component). With every level of ``f`` present, the intercept's
      variance and the common part of ``f``'s covariance matrix are not
      separately identified (only their sum is), in lme4 as here: compare
      log-likelihoods and fixed effects, not the split. To give the factor one
      variance instead (the compound-symmetry model of a repeated-measures
      ANOVA, the split afex's ``expand_re`` makes possible), write
      ``(1|g) + (1|g:f)``.
    * Crossed factors are fitted as one group of all rows, with dense
      matrices of size n x n: fine for a few thousand rows, slow beyond.

    Examples
    --------
    >>> import helpers
    >>> from helpers.core.formula import mixedlm
    >>> df = helpers.load("seed_toy")
    >>> model = mixedlm("dependent_var ~ C(Condition_1)*C(Condition_2) + (1|participant_ID)", df)
    >>> model.n_groups, model.k_re
    (8, 1)
    >>> result = model.fit()
    >>> float(round(result.scale, 4)), float(round(result.llf, 4))
    (0.0531, -2.1869)
    >>> [str(t) for t in model._random_terms]
    ['(1|participant_ID)']
    """
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if not isinstance(formula, str):
        raise ValueError(f"formula must be a string, got {type(formula).__name__}")
    clash = [k for k in _RESERVED if k in kw]
    if clash:
        raise ValueError(f"{clash} are set from the formula's random terms; do not pass them")

    env_arg = kw.pop("eval_env", None)
    if env_arg is None:
        namespace = _caller_namespace(1)
    elif isinstance(env_arg, Mapping):
        namespace = dict(env_arg)
    elif isinstance(env_arg, (int, np.integer)):
        namespace = {} if env_arg == -1 else _caller_namespace(int(env_arg) + 1)
    elif isinstance(env_arg, patsy.EvalEnvironment):
        namespace = {k: v for ns in reversed(env_arg._namespaces) for k, v in ns.items()}
    else:
        raise ValueError(f"eval_env must be an int or a mapping, got {type(env_arg).__name__}")
    frame = read_frame(formula, data, namespace, missing=kw.pop("missing", "drop"),
                       subset=kw.pop("subset", None))
    parsed, env, work = frame.parsed, frame.env, frame.work
    blocks = _blocks(parsed.terms, work, env)
    translation = _translate(blocks, work)
    if translation is None:
        raise _cannot_fit(parsed, blocks, work, env)

    g = translation.groups
    if len(g) == 1:
        groups = g[0]
    elif g:
        groups = _levels(*(work[f] for f in g))
    else:
        groups = np.full(len(work), "all", dtype=object)
    fixed_formula = f"{parsed.response} ~ {parsed.fixed}"
    try:
        model = MixedLM.from_formula(
            fixed_formula,
            data=work,
            groups=groups,
            re_formula=translation.re_formula,
            vc_formula=translation.vc_formula or None,
            eval_env={**env, _LEVELS: _levels},
            missing="none",
            **kw,
        )
    except _PATSY_ERRORS as err:
        raise ValueError(f"patsy cannot build the model for {formula!r}: {err}"
                         f"{_spelling_hint(fixed_formula, namespace)}") from None
    model._lme4_formula = formula
    model._random_terms = list(parsed.terms)
    model._statsmodels_args = {
        "formula": fixed_formula,
        "groups": g[0] if len(g) == 1 else (":".join(g) if g else None),
        "re_formula": translation.re_formula,
        "vc_formula": dict(translation.vc_formula),
    }
    return model
