"""Random-effect structures: nested data with slopes, and lme4 formulas as statsmodels code.

Chapter 7 needs three things that the rest of the package does not give:

* :func:`simulate_nested_slopes`, pupils in classes in schools with a
  pupil-level covariate whose effect varies from school to school, the data
  for ``re_formula`` and ``vc_formula`` used together;
* :func:`nested_plot`, every observation by inner unit within outer unit
  (pupils by class within school), with the unit means;
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

from ._checks import require_columns, require_no_missing
from .simulate import _corr, _draw2, _number, _sd, simulate_nested

__all__ = ["simulate_nested_slopes", "nested_plot", "statsmodels_call", "translation_table"]


# --------------------------------------------------------------------------- simulation
def simulate_nested_slopes(
    n_school: int = 20,
    n_class_per_school: int = 3,
    n_pupil: int = 10,
    school_sd: float = 1.0,
    slope_sd: float = 0.3,
    class_sd: float = 0.5,
    error_sd: float = 1.0,
    *,
    slope_corr: float = 0.0,
    grand_mean: float = 0.0,
    slope: float = 0.5,
    sector_effect: float = 0.0,
    seed=None,
) -> pd.DataFrame:
    """Simulate pupils in classes in schools, with a covariate whose effect varies by school.

    The model, in lme4 syntax ``y ~ sector + x + (1 + x | school) + (1 | school:class)``, is
    ``y = grand_mean + sector_effect * [sector == "private"] + (slope + u1_school) * x
    + u0_school + v_class + e``, where ``x`` is a pupil-level covariate drawn from a
    standard normal distribution (think of a standardised prior-attainment score),
    ``(u0, u1)`` are bivariate normal with SDs ``school_sd`` and ``slope_sd`` and
    correlation ``slope_corr``, ``v ~ N(0, class_sd²)`` and ``e ~ N(0, error_sd²)``.

    The schools, classes and sectors are those of :func:`helpers.simulate_nested`
    (class labels ``"c1"``, ``"c2"``... repeat in every school; the second half of the
    schools are ``"private"``), which this function calls with the same random generator.

    Parameters
    ----------
    n_school, n_class_per_school, n_pupil : int
        Schools, classes per school, pupils per class.
    school_sd : float
        SD of the schools' random intercepts (the school effect at ``x = 0``).
    slope_sd : float
        SD of the schools' deviations from the average slope of ``x``.
    class_sd : float
        SD of the class (within school) random intercepts.
    error_sd : float
        Residual (pupil) SD.
    slope_corr : float
        Correlation between a school's intercept and its slope, in [-1, 1].
    grand_mean : float
        Mean of the public schools at ``x = 0``.
    slope : float
        Average effect of one unit of ``x`` on ``y``.
    sector_effect : float
        Mean difference private - public.
    seed : int, Generator or None
        Passed to :func:`numpy.random.default_rng`.

    Returns
    -------
    pandas.DataFrame
        Columns ``school``, ``sector``, ``class``, ``pupil`` (string labels), ``x`` and
        ``y``; ``n_school * n_class_per_school * n_pupil`` rows.

    Raises
    ------
    ValueError
        A size below 1, a negative SD, a correlation outside [-1, 1], a non-finite number.

    Examples
    --------
    >>> from helpers.structures import simulate_nested_slopes
    >>> df = simulate_nested_slopes(n_school=4, n_class_per_school=2, n_pupil=5, seed=1)
    >>> df.shape
    (40, 6)
    >>> list(df.columns)
    ['school', 'sector', 'class', 'pupil', 'x', 'y']
    >>> sorted(df["class"].unique())   # class labels repeat in every school
    ['c1', 'c2']
    """
    school_sd = _sd("school_sd", school_sd)
    slope_sd = _sd("slope_sd", slope_sd)
    slope_corr = _corr("slope_corr", slope_corr)
    slope = _number("slope", slope)
    rng = np.random.default_rng(seed)
    # simulate_nested checks the sizes, class_sd, error_sd, grand_mean and sector_effect;
    # its school intercepts are switched off and drawn below together with the slopes.
    df = simulate_nested(
        n_school=n_school, n_class_per_school=n_class_per_school, n_pupil=n_pupil,
        school_sd=0.0, class_sd=class_sd, error_sd=error_sd,
        grand_mean=grand_mean, sector_effect=sector_effect, seed=rng,
    )
    school = pd.factorize(df["school"])[0]
    u = _draw2(rng, int(school.max()) + 1, school_sd, slope_sd, slope_corr)
    x = rng.standard_normal(len(df))
    y = df["y"].to_numpy() + u[school, 0] + (slope + u[school, 1]) * x
    return df.drop(columns="y").assign(x=x, y=y)


# --------------------------------------------------------------------------- figure
def nested_plot(df: pd.DataFrame, outer: str, inner: str, y: str, *, hue: str | None = None,
                ylabel: str | None = None, xlabel: str | None = None, ax=None):
    """Plot every observation by inner unit within outer unit (pupils by class within school).

    Each outer unit (school) takes one slot on the x axis; its inner units (classes) sit
    side by side inside the slot, in the order of their labels. Dots are the observations,
    short black bars the inner units' means, a long grey bar each outer unit's mean. The
    inner units are told apart by position only, never by colour, because the same label
    in two outer units (class ``"c1"`` of two schools) is two different units.

    Parameters
    ----------
    df : pandas.DataFrame
        Long-format data, one row per observation.
    outer, inner, y : str
        Columns: the outer grouping factor, the inner one (nested in ``outer``; its
        labels may repeat across outer units) and the response.
    hue : str, optional
        A column constant within each outer unit (such as a school-level predictor):
        the outer units are sorted by it and their dots coloured by it.
    ylabel, xlabel : str, optional
        Axis labels; default to the column names. Give the units of ``y`` here.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure by default.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    KeyError
        A column is not in ``df``.
    ValueError
        Missing values in ``outer``, ``inner`` or ``hue``, or ``hue`` varying within
        an outer unit.

    Examples
    --------
    >>> import helpers
    >>> from helpers.structures import nested_plot
    >>> df = helpers.simulate_nested(n_school=4, n_class_per_school=3, n_pupil=5, seed=2)
    >>> ax = nested_plot(df, "school", "class", "y", hue="sector")
    >>> len(ax.get_xticks())          # one slot per school
    4
    """
    import matplotlib.pyplot as plt

    cols = [outer, inner, y] + ([hue] if hue else [])
    require_columns(df, cols, "df")
    require_no_missing(df, [outer, inner] + ([hue] if hue else []), "df")
    if hue:
        per_outer = df.groupby(outer, observed=True)[hue].nunique()
        if (per_outer > 1).any():
            culprit = per_outer.index[per_outer > 1][0]
            raise ValueError(
                f"hue {hue!r} must be constant within each {outer!r}, but {culprit!r} has "
                f"several values; colour by a column that describes the {outer!r} units"
            )
        hue_of = df.groupby(outer, observed=True)[hue].first()
        order = sorted(hue_of.index, key=lambda g: (str(hue_of[g]), str(g)))
        hue_levels = sorted(hue_of.unique(), key=str)
        colour = {lv: f"C{i}" for i, lv in enumerate(hue_levels)}
    else:
        order = sorted(df[outer].unique(), key=str)
    if ax is None:
        _, ax = plt.subplots(figsize=(min(10.0, 1.6 + 0.55 * len(order)), 4.0))
    rng = np.random.default_rng(0)  # a fixed jitter: the figure is the same at every run
    labelled = set()
    for k, unit in enumerate(order):
        part = df[df[outer] == unit]
        inners = sorted(part[inner].unique(), key=str)
        width = 0.8 / len(inners)
        dot_colour = colour[hue_of[unit]] if hue else "C0"
        for j, lab in enumerate(inners):
            vals = part.loc[part[inner] == lab, y].to_numpy(dtype=float)
            centre = k - 0.4 + width * (j + 0.5)
            jitter = rng.uniform(-0.25, 0.25, len(vals)) * width
            label = None
            if hue and hue_of[unit] not in labelled:
                label = f"{hue} = {hue_of[unit]}"
                labelled.add(hue_of[unit])
            ax.scatter(centre + jitter, vals, s=9, color=dot_colour, alpha=0.6, label=label)
            ax.hlines(np.nanmean(vals), centre - 0.4 * width, centre + 0.4 * width,
                      color="black", lw=2, zorder=3)
        ax.hlines(part[y].mean(), k - 0.45, k + 0.45, color="0.5", lw=1.2, ls="--", zorder=2)
        if k:
            ax.axvline(k - 0.5, color="0.9", lw=0.8, zorder=0)
    ax.set_xticks(range(len(order)), [str(u) for u in order],
                  rotation=90 if len(order) > 12 else 0)
    ax.set_xlim(-0.6, len(order) - 0.4)
    ax.set_xlabel(xlabel or f"{outer} (the levels of {inner} side by side within each)")
    ax.set_ylabel(ylabel or y)
    if hue:
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=len(hue_levels),
                  frameon=False, fontsize="small", borderaxespad=0.2)
    ax.figure.tight_layout()
    return ax


# --------------------------------------------------------------------------- the code
_LEVELS_CALL = re.compile(r"C\(_lme4_levels\(([^()]*(?:\([^()]*\)[^()]*)*)\)\)")


def _split_args(text: str) -> list[str]:
    """Split ``a, Q('b, c'), d`` on the commas outside brackets and quotes."""
    out, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
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


def statsmodels_call(model, data: str = "data") -> str:
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

    Returns
    -------
    str
        One line of Python. The code uses the rows of ``data`` as they are: if
        :func:`helpers.mixedlm` dropped rows with missing values, drop them first.

    Raises
    ------
    ValueError
        ``model`` was not built by :func:`helpers.mixedlm`, or ``data`` is not a
        Python name.

    Examples
    --------
    >>> import helpers
    >>> from helpers.structures import statsmodels_call
    >>> df = helpers.simulate_nested(n_school=4, n_class_per_school=2, n_pupil=3, seed=1)
    >>> model = helpers.mixedlm("y ~ sector + (1|school/class)", df)
    >>> print(statsmodels_call(model, data="df"))
    smf.mixedlm("y ~ sector", df, groups="school", re_formula="1", vc_formula={"school:class": "0 + C(Q('class'))"})
    """
    args = getattr(model, "_statsmodels_args", None)
    if not isinstance(args, Mapping):
        raise ValueError(
            "model has no _statsmodels_args: build it with helpers.mixedlm(lme4_formula, data), "
            f"got {type(model).__name__}"
        )
    if not (isinstance(data, str) and data.isidentifier()):
        raise ValueError(f"data must be the name of a data frame in the code, got {data!r}")
    groups = args["groups"]
    if groups is None:
        groups_code = f"np.ones(len({data}))"
    elif ":" in groups:
        groups_code = ' + ":" + '.join(f"{_column_code(g, data)}.astype(str)" for g in groups.split(":"))
    else:
        groups_code = f'"{groups}"'
    parts = [f'"{args["formula"]}"', data, f"groups={groups_code}"]
    if args["re_formula"] is not None:
        parts.append(f're_formula="{args["re_formula"]}"')
    if args["vc_formula"]:
        frame = getattr(getattr(model, "data", None), "frame", None)
        vc = ", ".join(f'"{k}": "{_plain_vc(v, frame)}"' for k, v in args["vc_formula"].items())
        parts.append(f"vc_formula={{{vc}}}")
    return f"smf.mixedlm({', '.join(parts)})"


# --------------------------------------------------------------------------- the table
def _suggestion(message: str) -> str | None:
    """The nearest model that a helpers.mixedlm error message suggests, if any."""
    last = message.strip().splitlines()[-1].strip() if message.strip() else ""
    return last if "~" in last and message.rstrip() != last else None


def _n_variance_parameters(model) -> int:
    """Random-effect variances and covariances (the residual variance not counted)."""
    k_re = int(model.k_re)
    return k_re * (k_re + 1) // 2 + int(model.k_vc)


def translation_table(formulas, data: pd.DataFrame, *, name: str = "data", fit: bool = True,
                      reml: bool = True, methods: Sequence[str] = ("lbfgs", "powell")
                      ) -> pd.DataFrame:
    """Translate lme4 formulas into statsmodels MixedLM arguments, and fit each.

    Every formula goes through :func:`helpers.mixedlm`; the row shows what it chose
    (``groups``, ``re_formula``, ``vc_formula``), the equivalent ``smf.mixedlm`` call
    (:func:`statsmodels_call`), and, with ``fit=True``, the fitted model's number of
    random-effect variance parameters and REML (or ML) log-likelihood. A formula that
    statsmodels cannot express gets the ``ValueError`` message of
    :func:`helpers.mixedlm` in ``error``, and the nearest model it suggests in
    ``nearest``, instead of a translation.

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

    Returns
    -------
    pandas.DataFrame
        One row per formula, indexed by description (or by the formula), with columns
        ``lme4``, ``groups`` (``None``: one group holding every row), ``re_formula``
        (``None``: no ``re_formula`` argument), ``vc_formula`` (a dict, empty when none),
        ``statsmodels`` (the code), ``error`` and ``nearest`` (``None`` when the
        translation worked); with ``fit=True`` also ``variances`` (random-effect
        variances and covariances, residual not counted), ``llf`` and ``converged``.

    Raises
    ------
    ValueError
        ``formulas`` is empty or not strings, ``data`` is not a DataFrame, ``name`` is
        not a Python name, ``methods`` is empty.
    KeyError
        A formula names a column that is not in ``data`` (from :func:`helpers.mixedlm`).

    Examples
    --------
    >>> import helpers
    >>> from helpers.structures import translation_table
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
    methods = tuple(methods)
    if fit and not methods:
        raise ValueError("methods is empty: give at least one optimizer, e.g. ('lbfgs',)")

    caller = sys._getframe(1)
    namespace = {**caller.f_globals, **caller.f_locals}  # for names such as np in a formula
    rows = {}
    for label, formula in items:
        row = {"lme4": formula, "groups": None, "re_formula": None, "vc_formula": {},
               "statsmodels": None, "error": None, "nearest": None}
        if fit:
            row.update(variances=np.nan, llf=np.nan, converged=False)
        try:
            model = mixedlm(formula, data, eval_env=namespace)
        except ValueError as err:
            row["error"] = str(err)
            row["nearest"] = _suggestion(str(err))
            rows[label] = row
            continue
        args = model._statsmodels_args
        row.update(groups=args["groups"], re_formula=args["re_formula"],
                   vc_formula=dict(args["vc_formula"]), statsmodels=statsmodels_call(model, data=name))
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
        elif key == "llf":
            columns[key] = np.array(values, dtype=float)
        elif key == "converged":
            columns[key] = np.array(values, dtype=bool)
        else:  # text, None and dicts: object columns keep None as None
            columns[key] = pd.Series(values, index=index, dtype=object)
    return pd.DataFrame(columns, index=index)
