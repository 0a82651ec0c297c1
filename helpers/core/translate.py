"""lme4 formulas as statsmodels code: :func:`statsmodels_call` and :func:`translation_table`.

* :func:`statsmodels_call`, the ``smf.mixedlm(...)`` code that builds the
  model :func:`helpers.mixedlm` built from an lme4 formula, so that a reader
  can see (and paste) the statsmodels spelling of any formula;
* :func:`translation_table`, one row per lme4 formula: its statsmodels
  ``groups``, ``re_formula`` and ``vc_formula``, the code, and the fit (or the
  reason statsmodels cannot fit it, with the nearest model it can).
"""
from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = ["statsmodels_call", "translation_table"]


# --------------------------------------------------------------------------- the code
_LEVELS_CALL = re.compile(r"C\(_lme4_levels\(([^()]*(?:\([^()]*\)[^()]*)*)\)\)")


def _split_args(text: str) -> list[str]:
    """Split ``a, Q('b, c'), {d: e, f: g}`` on the commas outside brackets and quotes."""
    out, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(text[start:i].strip())
            start = i + 1
    out.append(text[start:].strip())
    return out


def _plain_vc(code: str, frame: pd.DataFrame | None) -> str:
    """Write helpers' internal ``C(_lme4_levels(a, b))`` as plain patsy code.

    ``_lme4_levels`` labels the *observed* combinations of its columns; the same labels come
    from pasting the columns together inside ``C()``: ``C(a + ':' + b)`` (with
    ``.astype(str)`` for columns that do not hold strings). Patsy evaluates the inside of a
    function call as Python, and statsmodels builds each variance component within each
    group, so every observed combination, and only those, gets a column.
    """
    def is_text(arg: str) -> bool:
        name = arg
        m = re.fullmatch(r"""Q\(\s*(['"])(.*)\1\s*\)""", arg)
        if m:
            name = m.group(2)
        if frame is None or name not in frame.columns:
            return False
        column = frame[name]
        return (not isinstance(column.dtype, pd.CategoricalDtype)
                and pd.api.types.is_string_dtype(column))

    def paste(m):
        parts = [a if is_text(a) else f"{a}.astype(str)" for a in _split_args(m.group(1))]
        joined = " + ':' + ".join(parts)
        return f"C({joined})"

    return _LEVELS_CALL.sub(paste, code)


def _column_code(name: str, data: str) -> str:
    return f"{data}[{name!r}]"


def _wrap_call(code: str, width: int) -> str:
    """Break a one-line ``f(a, b, k={...})`` call into lines of at most ``width`` characters.

    The style is black's: the arguments on lines indented by four spaces after the
    opening bracket, as many to a line as fit; a dict argument that does not fit on a
    line of its own gets one entry per line (and an entry that is still too long gets
    its value on a line of its own). A single string longer than ``width`` stays whole.
    The result is the same Python expression.
    """
    if len(code) <= width:
        return code
    head, inner = code[: code.index("(") + 1], code[code.index("(") + 1: -1]
    lines: list[str] = []
    can_extend = False          # may the next argument go on the last line?
    for arg in _split_args(inner):
        piece = arg + ","
        if len("    " + piece) <= width or "={" not in arg:
            if can_extend and len(lines[-1]) + 1 + len(piece) <= width:
                lines[-1] += " " + piece
            else:
                lines.append("    " + piece)
            can_extend = True
            continue
        can_extend = False
        name, entries = arg[: arg.index("={") + 2], arg[arg.index("={") + 2: -1]
        lines.append("    " + name)
        for entry in _split_args(entries):
            if len("        " + entry + ",") <= width:
                lines.append("        " + entry + ",")
            else:
                key, value = _split_key(entry)
                lines += ["        " + key + ":", "            " + value + ","]
        lines.append("    },")
    return "\n".join([head, *lines, ")"])


def _split_key(entry: str) -> tuple[str, str]:
    """Split a dict entry ``"key": value`` at its colon (the one after the quoted key)."""
    quote = entry[0]
    close = entry.index(quote, 1)
    return entry[: close + 1], entry[entry.index(":", close) + 1:].strip()


def statsmodels_call(model, data: str = "data", width: int | None = None) -> str:
    """The ``smf.mixedlm(...)`` code for a model built by :func:`helpers.mixedlm`.

    :func:`helpers.mixedlm` translates an lme4 formula into statsmodels' arguments;
    this function writes them out as the call a reader would type, so the translation
    can be read, pasted and run without the helpers (after
    ``import statsmodels.formula.api as smf`` and, for one group of all rows,
    ``import numpy as np``).

    Parameters
    ----------
    model : statsmodels MixedLM
        A model returned by :func:`helpers.mixedlm` (it carries ``_statsmodels_args``).
    data : str, default "data"
        The name of the data frame in the code.
    width : int, optional
        Break the code into lines of at most ``width`` characters (in black's style;
        a single quoted name or formula longer than that stays whole), so that it fits
        a text column or an editor; by default one line.

    Returns
    -------
    str
        Python code (one line unless ``width`` is given). The code uses the rows of
        ``data`` as they are: if :func:`helpers.mixedlm` dropped rows with missing
        values, drop them first.

    Raises
    ------
    ValueError
        ``model`` was not built by :func:`helpers.mixedlm`, ``data`` is not a Python
        name, or ``width`` is not an integer of at least 40.

    Examples
    --------
    >>> import helpers
    >>> from helpers.core.translate import statsmodels_call
    >>> df = helpers.simulate_nested(n_school=4, n_class_per_school=2, n_pupil=3, seed=1)
    >>> model = helpers.mixedlm("y ~ sector + (1|school/class)", df)
    >>> print(statsmodels_call(model, data="df"))
    smf.mixedlm("y ~ sector", df, groups="school", re_formula="1", vc_formula={"school:class": "0 + C(Q('class'))"})
    >>> print(statsmodels_call(model, data="df", width=60))
    smf.mixedlm(
        "y ~ sector", df, groups="school", re_formula="1",
        vc_formula={"school:class": "0 + C(Q('class'))"},
    )
    """
    args = getattr(model, "_statsmodels_args", None)
    if not isinstance(args, Mapping):
        raise ValueError(
            "model has no _statsmodels_args: build it with helpers.mixedlm(lme4_formula, data), "
            f"got {type(model).__name__}"
        )
    if not (isinstance(data, str) and data.isidentifier()):
        raise ValueError(f"data must be the name of a data frame in the code, got {data!r}")
    _check_width(width)
    groups = args["groups"]
    if groups is None:
        groups_code = f"np.ones(len({data}))"
    elif ":" in groups:
        groups_code = ' + ":" + '.join(f"{_column_code(g, data)}.astype(str)"
                                       for g in groups.split(":"))
    else:
        groups_code = f'"{groups}"'
    parts = [f'"{args["formula"]}"', data, f"groups={groups_code}"]
    if args["re_formula"] is not None:
        parts.append(f're_formula="{args["re_formula"]}"')
    if args["vc_formula"]:
        frame = getattr(getattr(model, "data", None), "frame", None)
        vc = ", ".join(f'"{k}": "{_plain_vc(v, frame)}"' for k, v in args["vc_formula"].items())
        parts.append(f"vc_formula={{{vc}}}")
    code = f"smf.mixedlm({', '.join(parts)})"
    return code if width is None else _wrap_call(code, width)


def _check_width(width) -> None:
    if width is None:
        return
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 40:
        raise ValueError(f"width must be None (one line) or an integer of at least 40, "
                         f"got {width!r}")


# --------------------------------------------------------------------------- the table
def _suggestion(message: str) -> str | None:
    """The nearest model that a helpers.mixedlm error message suggests, if any."""
    last = message.strip().splitlines()[-1].strip() if message.strip() else ""
    return last if "~" in last and message.rstrip() != last else None


def _n_variance_parameters(model) -> int:
    """Random-effect variances and covariances (the residual variance not counted)."""
    k_re = int(model.k_re)
    return k_re * (k_re + 1) // 2 + int(model.k_vc)


def _lmer_call(formula: str, name: str, reml: bool) -> str:
    """The :func:`helpers.lmer` code for ``formula`` fitted to the data frame ``name``."""
    text = f'"{formula}"' if '"' not in formula else repr(formula)
    return f"helpers.lmer({text}, {name}{'' if reml else ', REML=False'})"


def translation_table(formulas, data: pd.DataFrame, *, name: str = "data", fit: bool = True,
                      reml: bool = True, methods: Sequence[str] = ("lbfgs", "powell"),
                      width: int | None = None) -> pd.DataFrame:
    """Translate lme4 formulas into statsmodels MixedLM arguments, and fit each.

    Every formula goes through :func:`helpers.mixedlm`; the row shows what it chose
    (``groups``, ``re_formula``, ``vc_formula``), the equivalent ``smf.mixedlm`` call
    (:func:`statsmodels_call`), and, with ``fit=True``, the fitted model's number of
    random-effect variance parameters and REML (or ML) log-likelihood. A formula that
    statsmodels cannot express gets the ``ValueError`` message of
    :func:`helpers.mixedlm` in ``error``, and the nearest model it suggests in
    ``nearest``, instead of a translation. Every row also has the :func:`helpers.lmer`
    call, which fits every formula, and with ``fit=True`` its log-likelihood
    (``lmer_llf``): the same number as ``llf`` where statsmodels reaches the optimum.

    Parameters
    ----------
    formulas : sequence of str, or mapping of str to str
        lme4 formulas, or ``{description: formula}`` (the descriptions become the index).
    data : pandas.DataFrame
        The data every formula is fitted to.
    name : str, default "data"
        The name of the data frame in the ``statsmodels`` code.
    fit : bool, default True
        Fit each model (with :func:`helpers.fit_all` and ``methods``, keeping the best).
    reml : bool, default True
        REML (True) or maximum likelihood (False).
    methods : sequence of str, default ("lbfgs", "powell")
        The optimizers :func:`helpers.fit_all` tries for each model; a row's ``llf`` is
        the best converged one.
    width : int, optional
        Break the code in ``statsmodels`` into lines of at most ``width`` characters
        (see :func:`statsmodels_call`); by default one line.

    Returns
    -------
    pandas.DataFrame
        One row per formula, indexed by description (or by the formula), with columns
        ``lme4``, ``groups`` (``None``: one group holding every row), ``re_formula``
        (``None``: no ``re_formula`` argument), ``vc_formula`` (a dict, empty when none),
        ``statsmodels`` (the code), ``error`` and ``nearest`` (``None`` when the
        translation worked), ``lmer`` (the :func:`helpers.lmer` code); with ``fit=True``
        also ``variances`` (random-effect variances and covariances, residual not
        counted), ``llf`` and ``converged`` (statsmodels), and ``lmer_llf``.

    Raises
    ------
    ValueError
        ``formulas`` is empty or not strings, ``data`` is not a DataFrame, ``name`` is
        not a Python name, ``methods`` is empty, ``width`` is not an integer of at
        least 40.
    KeyError
        A formula names a column that is not in ``data`` (from :func:`helpers.mixedlm`).

    Examples
    --------
    >>> import helpers
    >>> from helpers.core.translate import translation_table
    >>> df = helpers.simulate_crossed(n_subj=6, n_item=4, seed=1)
    >>> df["x"] = (df["cond"] == "hard") - 0.5
    >>> table = translation_table({"crossed": "y ~ x + (1|subject) + (1|item)",
    ...                            "crossed, correlated slope": "y ~ x + (1 + x|subject) + (1|item)"},
    ...                           df, fit=False)
    >>> table.loc["crossed", "vc_formula"]
    {'subject': '0 + C(subject)', 'item': '0 + C(item)'}
    >>> print(table.loc["crossed, correlated slope", "nearest"])
    y ~ x + (1 + x||subject) + (1|item)
    """
    from ..engine import lmer
    from .fitting import fit_all
    from .formula import mixedlm

    if isinstance(formulas, str):
        formulas = [formulas]
    if isinstance(formulas, Mapping):
        items = list(formulas.items())
    else:
        items = [(f, f) for f in formulas]
    if not items:
        raise ValueError("formulas is empty: give at least one lme4 formula")
    bad = [f for _, f in items if not isinstance(f, str)]
    if bad:
        raise ValueError(f"every formula must be a string, got {bad[0]!r}")
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if not (isinstance(name, str) and name.isidentifier()):
        raise ValueError(f"name must be the name of a data frame in the code, got {name!r}")
    _check_width(width)
    methods = tuple(methods)
    if fit and not methods:
        raise ValueError("methods is empty: give at least one optimizer, e.g. ('lbfgs',)")

    caller = sys._getframe(1)
    namespace = {**caller.f_globals, **caller.f_locals}  # for names such as np in a formula
    rows = {}
    for label, formula in items:
        row = {"lme4": formula, "groups": None, "re_formula": None, "vc_formula": {},
               "statsmodels": None, "error": None, "nearest": None,
               "lmer": _lmer_call(formula, name, reml)}
        if fit:
            row.update(variances=np.nan, llf=np.nan, converged=False,
                       lmer_llf=lmer(formula, data, REML=reml, eval_env=namespace).llf)
        try:
            model = mixedlm(formula, data, eval_env=namespace)
        except ValueError as err:
            row["error"] = str(err)
            row["nearest"] = _suggestion(str(err))
            rows[label] = row
            continue
        args = model._statsmodels_args
        row.update(groups=args["groups"], re_formula=args["re_formula"],
                   vc_formula=dict(args["vc_formula"]),
                   statsmodels=statsmodels_call(model, data=name, width=width))
        if fit:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # fit_all records each optimizer's warnings
                fits = fit_all(model, reml=reml, methods=methods)
            row["variances"] = _n_variance_parameters(model)
            if fits.best_method is not None:
                row.update(llf=float(fits.best.llf), converged=True)
        rows[label] = row
    index = pd.Index(list(rows), name="model" if isinstance(formulas, Mapping) else "formula")
    columns = {}
    for key in next(iter(rows.values())):
        values = [row[key] for row in rows.values()]
        if key == "variances":
            columns[key] = pd.array(values, dtype="Int64")
        elif key in ("llf", "lmer_llf"):
            columns[key] = np.array(values, dtype=float)
        elif key == "converged":
            columns[key] = np.array(values, dtype=bool)
        else:  # text, None and dicts: object columns keep None as None
            columns[key] = pd.Series(values, index=index, dtype=object)
    return pd.DataFrame(columns, index=index)
