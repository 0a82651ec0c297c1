"""Differences between the Python helpers and R, case by case.

Usage, from the repository root::

    python tests/r/compare.py              # the largest difference of every case
    python tests/r/compare.py --all        # every compared quantity
    python tests/r/compare.py crossed      # the rows of some cases only

For every case of `tests/r/reference_cases.py`, the data stored in
``data/reference/cases/<case>.csv`` (the file R read) are fitted with
``helpers.mixedlm(formula, data)`` -> ``helpers.fit_all(model, reml=True).best``
and the answers are set against ``data/reference/<case>.json`` (lme4,
lmerTest and afex in R); a case that statsmodels cannot fit (``statsmodels=False``
in the registry) is fitted with ``helpers.lmer`` instead. One row per quantity:

``case, quantity, python, r, abs_diff, rel_diff, allowed, ratio, ok, tested, note``

(``note`` says why a row failed without numbers: an error, a missing term...).

``allowed`` is the largest ``abs_diff`` the tests accept and
``ratio = abs_diff / allowed`` (a row fails when ``ratio > 1``). The
tolerances, as asked of the helpers:

* fixed effects, random-effect and residual SDs: ``1e-3 * max(|r|, sigma_r)``
  (0.1 % relative, relative to the residual SD where the value is near 0);
* correlations of random effects: ``1e-3 * max(|r|, 1)`` (0.001 absolute);
* REML log-likelihood: ``0.01`` absolute;
* number of observations used: equal;
* singular fit: equal to ``lme4::isSingular``;
* ANOVA (lmerTest, afex, pingouin): F and DenDF ``1 %`` relative, p ``0.002``
  absolute, NumDF equal;
* standard errors of the fixed effects are shown (``tested`` False) with
  ``1 %`` relative as a guide, but not tested.
"""
from __future__ import annotations

import json
import math
import re
import sys
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # running as a script from anywhere
    sys.path.insert(0, str(ROOT))

import helpers  # noqa: E402
from helpers import engine as lmer_engine  # noqa: E402
from helpers.engine import satterthwaite as lmer_satterthwaite  # noqa: E402
sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_cases import CASES, REFERENCE_DIR, get_case, read_case_csv  # noqa: E402

# ---------------------------------------------------------------------------- tolerances
FE_RTOL = 1e-3      # fixed effects and SDs, relative to max(|r|, residual SD)
CORR_ATOL = 1e-3    # correlations of random effects
LLF_ATOL = 0.01     # REML log-likelihood
F_RTOL = 0.01       # F statistics and denominator df
P_ATOL = 0.002      # p-values
SE_RTOL = 0.01      # standard errors (shown, not tested)

COLUMNS = ["case", "quantity", "python", "r", "abs_diff", "rel_diff", "allowed", "ratio",
           "ok", "tested", "note"]


# ---------------------------------------------------------------------------- the helpers
@dataclass
class PythonFit:
    """What the Python side produced for one case (or the error it raised)."""

    case: str
    model: object = None
    result: object = None
    fit_table: pd.DataFrame | None = None
    anova: pd.DataFrame | None = None
    singular: bool | None = None
    warnings: tuple[str, ...] = ()
    error: str | None = None
    anova_error: str | None = None


@lru_cache(maxsize=None)
def python_fit(name: str) -> PythonFit:
    """Fit case ``name`` with the helpers (cached: each case is fitted once per process)."""
    case = get_case(name)
    data = read_case_csv(name)
    out = PythonFit(case=name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if case.statsmodels:
                out.model = helpers.mixedlm(case.formula, data)
                fits = helpers.fit_all(out.model, reml=case.reml)
                out.fit_table = fits.table
                out.result = fits.best
                out.singular = bool(helpers.is_singular(out.result))
            else:  # a model only helpers.lmer can fit (see the case's notes)
                out.result = lmer_engine.lmer(case.formula, data, REML=case.reml)
                out.singular = bool(out.result.is_singular())
        except Exception as exc:  # noqa: BLE001 - reported as a failed comparison
            out.error = f"{type(exc).__name__}: {exc}"
        if out.result is not None and case.anova:
            try:
                out.anova = (helpers.anova(out.result) if case.statsmodels
                             else lmer_satterthwaite.anova(out.result))
            except Exception as exc:  # noqa: BLE001
                out.anova_error = f"{type(exc).__name__}: {exc}"
    out.warnings = tuple(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught))
    return out


@lru_cache(maxsize=None)
def r_reference(name: str, directory: str | None = None) -> dict:
    """The JSON that ``tests/r/reference.R`` wrote for case ``name``."""
    path = Path(directory or REFERENCE_DIR) / f"{name}.json"
    return json.loads(path.read_text())


# ---------------------------------------------------------------------------- names
def normalise_fixef_name(name: str) -> str:
    """patsy's coefficient name written as R writes it.

    ``Intercept`` -> ``(Intercept)``; ``Time[T.June]`` -> ``TimeJune``;
    ``C(cond)[T.hard]`` -> ``condhard``; interactions part by part.
    """
    if name in ("Intercept", "(Intercept)"):
        return "(Intercept)"
    parts = []
    for part in name.split(":"):
        part = re.sub(r"^C\(\s*([^,()]+?)\s*(,[^)]*)?\)", r"\1", part)
        part = re.sub(r'^Q\(\s*["\'](.+?)["\']\s*\)', r"\1", part)
        part = re.sub(r"\[T\.(.*)\]$", r"\1", part)
        part = re.sub(r"\[(.*)\]$", r"\1", part)
        parts.append(part)
    return ":".join(parts)


def normalise_term(name: str) -> str:
    """An ANOVA term name, independent of spelling and of the order of an interaction."""
    parts = []
    for part in str(name).split(":"):
        part = re.sub(r"^C\(\s*([^,()]+?)\s*(,[^)]*)?\)", r"\1", part.strip())
        part = re.sub(r'^Q\(\s*["\'](.+?)["\']\s*\)', r"\1", part)
        parts.append(part)
    return ":".join(sorted(parts))


def _var_name(name) -> str:
    name = str(name)
    return "(Intercept)" if name in ("Intercept", "(Intercept)", "1") else normalise_fixef_name(name)


def python_varcorr(result) -> list[dict]:
    """The random-effect SDs and correlations of a fit, labelled as lme4 labels them.

    Uses what ``helpers.mixedlm`` records on the model (``_statsmodels_args``
    and ``_random_terms``) to give every entry of ``cov_re`` and every
    variance component its lme4 grouping factor(s) and effect. Returns dicts
    with ``grp`` (a frozenset of factor names), ``var1``, ``var2`` (None for
    an SD), ``value`` (SD or correlation) and ``label`` (statsmodels' name).
    """
    if isinstance(result, lmer_engine.LmerResult):  # already in lme4's layout
        vc = result.varcorr()
        return [{"grp": _r_grp(r.grp), "var1": r.var1,
                 "var2": None if pd.isna(r.var2) else r.var2, "value": float(r.sdcor),
                 "label": f"{r.grp}|{r.var1}" + ("" if pd.isna(r.var2) else f",{r.var2}")}
                for r in vc.itertuples() if r.grp != "Residual"]
    res = getattr(result, "_results", result)
    model = res.model
    args = getattr(model, "_statsmodels_args", {}) or {}
    groups = args.get("groups")
    gset = frozenset(groups.split(":")) if groups else frozenset()
    grouping_cols = {g for t in getattr(model, "_random_terms", []) for g in t.grouping}
    out = []
    if int(model.k_re) > 0:
        cov = np.asarray(res.cov_re, dtype=float)
        names = [_var_name(n) for n in model.data.exog_re_names]
        if len(names) == 1 and names[0] not in ("(Intercept)",) and args.get("re_formula") == "1":
            names = ["(Intercept)"]
        names = ["(Intercept)" if str(n) == (groups or "") else n for n in names]
        for i, ni in enumerate(names):
            out.append({"grp": gset, "var1": ni, "var2": None,
                        "value": math.sqrt(max(cov[i, i], 0.0)), "label": f"cov_re[{ni}]"})
        for i in range(len(names)):
            for j in range(i + 1, len(names)):
                den = math.sqrt(max(cov[i, i], 0.0) * max(cov[j, j], 0.0))
                out.append({"grp": gset, "var1": names[i], "var2": names[j],
                            "value": cov[i, j] / den if den > 0 else float("nan"),
                            "label": f"corr[{names[i]},{names[j]}]"})
    if int(model.k_vc) > 0:
        for name, var in zip(model.exog_vc.names, np.atleast_1d(np.asarray(res.vcomp, dtype=float))):
            base = str(name).split("#")[0]
            parts = base.split(":")
            grp = [p for p in parts if p in grouping_cols]
            rest = [p for p in parts if p not in grouping_cols]
            if rest:  # a slope: "<grouping>:<slope>", or "<slope>" on the groups factor
                var1 = _var_name(":".join(rest))
                grp_set = frozenset(grp) if grp else gset
            else:
                var1 = "(Intercept)"
                grp_set = frozenset(grp)
            out.append({"grp": grp_set, "var1": var1, "var2": None,
                        "value": math.sqrt(max(var, 0.0)), "label": f"vcomp[{name}]"})
    return out


def _r_grp(grp: str) -> frozenset:
    """lme4's group label as a set of factors ('class:school', 'subject.1' -> {'subject'})."""
    parts = []
    for p in grp.split(":"):
        parts.append(re.sub(r"\.\d+$", "", p))
    return frozenset(parts)


# ---------------------------------------------------------------------------- rows
def _row(case, quantity, py, r, allowed, tested=True, exact=False):
    py = float(py) if py is not None else float("nan")
    r = float(r) if r is not None else float("nan")
    diff = abs(py - r)
    rel = diff / abs(r) if r != 0 else (0.0 if diff == 0 else float("inf"))
    if exact:
        ok = bool(py == r)
        ratio = 0.0 if ok else float("inf")
    else:
        ratio = diff / allowed if allowed > 0 else (0.0 if diff == 0 else float("inf"))
        ok = bool(np.isfinite(diff) and diff <= allowed)
        if not np.isfinite(ratio):
            ratio = float("inf")
    return {"case": case, "quantity": quantity, "python": py, "r": r, "abs_diff": diff,
            "rel_diff": rel, "allowed": allowed, "ratio": ratio, "ok": ok, "tested": tested,
            "note": ""}


def _failure(case, quantity, message):
    return {"case": case, "quantity": quantity, "python": float("nan"), "r": float("nan"),
            "abs_diff": float("nan"), "rel_diff": float("nan"), "allowed": float("nan"),
            "ratio": float("inf"), "ok": False, "tested": True, "note": message}


def _anova_rows(case, source, py_table, r_tab, with_numdf=True):
    """Rows comparing an ANOVA table from R (dict of lists) with ``helpers.anova``."""
    rows = []
    if py_table is None:
        return [_failure(case, f"{source}", "helpers.anova gave no table")]
    py = {normalise_term(t): row for t, row in py_table.iterrows()}
    r_terms = [normalise_term(t) for t in r_tab["term"]]
    for k, term in enumerate(r_terms):
        label = f"{source}[{term}]"
        if term not in py:
            rows.append(_failure(case, label, f"term missing from helpers.anova (has {list(py)})"))
            continue
        p = py[term]
        if with_numdf:
            rows.append(_row(case, f"{label}.NumDF", p["NumDF"], r_tab["NumDF"][k], 0, exact=True))
        rows.append(_row(case, f"{label}.DenDF", p["DenDF"], r_tab["DenDF"][k],
                         F_RTOL * abs(r_tab["DenDF"][k])))
        rows.append(_row(case, f"{label}.F", p["F"], r_tab["F"][k], F_RTOL * abs(r_tab["F"][k])))
        rows.append(_row(case, f"{label}.p", p["p"], r_tab["p"][k], P_ATOL))
    extra = set(py) - set(r_terms)
    if extra:
        rows.append(_failure(case, source, f"terms in helpers.anova but not in R: {sorted(extra)}"))
    return rows


def _confounded_intercept(res) -> dict | None:
    """lme4's ``(1 + f||g)`` with a factor f: ``(1|g) + (0 + f|g)``, whose intercept
    variance and the common part of f's covariance matrix are not separately identified.

    For such a statsmodels fit (``re_formula`` the indicator columns of f, one variance
    component ``"1"`` on g) returns ``{"grp", "names", "cov"}``: the grouping factor, the
    effects' lme4 names and the identified matrix ``cov_re + var(intercept)``; else None.
    """
    model = getattr(res, "model", None)
    args = getattr(model, "_statsmodels_args", None) or {}
    if not args.get("groups") or int(getattr(model, "k_re", 0)) < 2:
        return None
    ones = [k for k, v in (args.get("vc_formula") or {}).items() if v.strip() == "1"]
    z = np.asarray(model.exog_re, dtype=float)
    if len(ones) != 1 or not (np.isin(z, (0.0, 1.0)).all() and np.allclose(z.sum(1), 1.0)):
        return None
    k = list(model.exog_vc.names).index(ones[0])
    cov = np.asarray(res.cov_re, dtype=float) + float(np.atleast_1d(res.vcomp)[k])
    return {"grp": frozenset(args["groups"].split(":")), "group": args["groups"],
            "names": [_var_name(n) for n in model.data.exog_re_names], "cov": cov}


def _confounded_rows(case, confounded, vc, sd_allowed):
    """Compare the identified sum (intercept variance + f's covariance matrix) with R's."""
    grp = confounded["group"]
    names = confounded["names"]
    k = len(names)
    sd, corr, intercept = {}, {}, None
    for g, v1, v2, val in zip(vc["grp"], vc["var1"], vc["var2"], vc["sdcor"]):
        if g == "Residual" or _r_grp(g) != confounded["grp"]:
            continue
        if v1 == "(Intercept)" and v2 is None:
            intercept = val
        elif v2 is None:
            sd[v1] = val
        else:
            corr[frozenset((v1, v2))] = val
    if intercept is None or set(sd) != set(names):
        return [_failure(case, f"sd[{grp}|sum]", f"R's VarCorr has no (Intercept) and "
                         f"{names} for {grp!r}")]
    r_cov = np.array([[sd[a] ** 2 if a == b else corr[frozenset((a, b))] * sd[a] * sd[b]
                       for b in names] for a in names]) + intercept ** 2
    py_cov = confounded["cov"]
    rows = []
    for i in range(k):
        r_sd = math.sqrt(r_cov[i, i])
        rows.append(_row(case, f"sd[{grp}|{names[i]}+(Intercept)]", math.sqrt(py_cov[i, i]),
                         r_sd, sd_allowed(r_sd)))
    for i in range(k):
        for j in range(i + 1, k):
            r_c = r_cov[i, j] / math.sqrt(r_cov[i, i] * r_cov[j, j])
            py_c = py_cov[i, j] / math.sqrt(py_cov[i, i] * py_cov[j, j])
            rows.append(_row(case, f"corr[{grp}|{names[i]}+(Intercept),{names[j]}+(Intercept)]",
                             py_c, r_c, CORR_ATOL * max(abs(r_c), 1.0)))
    return rows


def case_differences(name: str, reference_dir: str | None = None) -> pd.DataFrame:
    """Every compared quantity of case ``name``: Python, R, differences and verdict."""
    case = get_case(name)
    ref = r_reference(name, reference_dir)
    fit = python_fit(name)
    rows: list[dict] = []
    if fit.result is None:
        rows.append(_failure(name, "fit", fit.error or "no result"))
        return pd.DataFrame(rows, columns=COLUMNS)
    res = fit.result
    sigma_r = float(ref["sigma"])
    sd_allowed = lambda r: FE_RTOL * max(abs(r), sigma_r)  # noqa: E731

    # fixed effects and their standard errors
    if isinstance(res, lmer_engine.LmerResult):
        exog_names, bse = res.exog_names, res.bse
    else:
        exog_names, bse = res.model.exog_names, res.bse_fe
    fe = pd.Series(np.asarray(res.fe_params, dtype=float), index=exog_names)
    se = pd.Series(np.asarray(bse, dtype=float), index=exog_names)
    py_fe = {normalise_fixef_name(k): (v, se[k]) for k, v in fe.items()}
    if len(py_fe) != len(ref["fixef"]["names"]):
        rows.append(_failure(name, "fixef", f"{len(py_fe)} coefficients in Python, "
                             f"{len(ref['fixef']['names'])} in R"))
    for k, rname in enumerate(ref["fixef"]["names"]):
        r_est, r_se = ref["fixef"]["estimate"][k], ref["fixef"]["se"][k]
        if rname not in py_fe:
            rows.append(_failure(name, f"fixef[{rname}]", f"not among Python's {list(py_fe)}"))
            continue
        est, s = py_fe[rname]
        rows.append(_row(name, f"fixef[{rname}]", est, r_est, sd_allowed(r_est)))
        rows.append(_row(name, f"se[{rname}]", s, r_se, SE_RTOL * abs(r_se), tested=False))

    # random effects: SDs and correlations, residual SD
    py_vc = python_varcorr(res)
    confounded = _confounded_intercept(res)
    used = set()
    vc = ref["varcorr"]
    for k, grp in enumerate(vc["grp"]):
        v1, v2, r_val = vc["var1"][k], vc["var2"][k], vc["sdcor"][k]
        if grp == "Residual":
            rows.append(_row(name, "sd[Residual]", math.sqrt(float(res.scale)), r_val,
                             sd_allowed(r_val)))
            continue
        gset = _r_grp(grp)
        match = [i for i, e in enumerate(py_vc)
                 if e["grp"] == gset and e["var1"] == v1 and e["var2"] == v2 and i not in used]
        if v2 is None:
            label = f"sd[{grp}|{v1}]"
        else:
            label = f"corr[{grp}|{v1},{v2}]"
            if not match:  # the pair may be stored the other way round
                match = [i for i, e in enumerate(py_vc)
                         if e["grp"] == gset and e["var1"] == v2 and e["var2"] == v1
                         and i not in used]
        if not match:
            have = [(sorted(e["grp"]), e["var1"], e["var2"], e["label"]) for e in py_vc]
            rows.append(_failure(name, label, f"no matching Python parameter (have {have})"))
            continue
        used.add(match[0])
        e = py_vc[match[0]]
        allowed = CORR_ATOL * max(abs(r_val), 1.0) if v2 is not None else sd_allowed(r_val)
        row = _row(name, label, e["value"], r_val, allowed)
        if confounded and gset == confounded["grp"]:
            row.update(tested=False, note="not identified: only the sum is (see the case)")
        rows.append(row)
    if confounded:
        rows.extend(_confounded_rows(name, confounded, vc, sd_allowed))
    for i, e in enumerate(py_vc):
        if i not in used:
            rows.append(_failure(name, f"random[{e['label']}]", "Python parameter with no "
                                 "counterpart in lme4's VarCorr"))

    # observations used (rows with missing values dropped on both sides)
    rows.append(_row(name, "nobs", float(res.nobs), float(ref["nobs"]), 0, exact=True))

    # log-likelihood, singularity
    rows.append(_row(name, "logLik", float(res.llf), ref["logLik"], LLF_ATOL))
    rows.append(_row(name, "isSingular", float(fit.singular), float(ref["isSingular"]), 0,
                     exact=True))

    # lmerTest's Type III table (not computed for the cases marked anova=False)
    if not case.anova:
        pass
    elif fit.anova_error:
        rows.append(_failure(name, "anova", fit.anova_error))
    else:
        rows.extend(_anova_rows(name, "anova", fit.anova, ref["anova"]))

    # afex, where it is the same model
    if "afex" in ref and case.afex_comparable:
        if ref["isSingular"]:
            pass  # a zero variance merges error strata: not the same model (see notes)
        elif fit.anova is not None:
            rows.extend(_anova_rows(name, "afex", fit.anova, ref["afex"]["none"]))

    # pingouin's mixed_anova, where the case names it
    if case.pingouin and fit.anova is not None:
        rows.extend(_anova_rows(name, "pingouin", fit.anova, pingouin_table(name)))
    return pd.DataFrame(rows, columns=COLUMNS)


def pingouin_table(name: str) -> dict:
    """pingouin's mixed_anova for the case, as the dict-of-lists shape of an R table."""
    import pingouin as pg

    case = get_case(name)
    a = case.pingouin
    data = read_case_csv(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = pg.mixed_anova(data=data, dv=a["dv"], within=a["within"], between=a["between"],
                           subject=a["subject"], correction=False)
    names = {a["between"]: a["between"], a["within"]: a["within"],
             "Interaction": f"{a['within']}:{a['between']}"}
    return {
        "term": [names[s] for s in t["Source"]],
        "NumDF": [float(v) for v in t["DF1"]],
        "DenDF": [float(v) for v in t["DF2"]],
        "F": [float(v) for v in t["F"]],
        "p": [float(v) for v in t["p_unc"]],
    }


def all_differences(names=None, reference_dir: str | None = None) -> pd.DataFrame:
    """:func:`case_differences` for several cases (default: all), stacked."""
    names = list(CASES) if names is None else list(names)
    return pd.concat([case_differences(n, reference_dir) for n in names], ignore_index=True)


def largest_differences(table: pd.DataFrame) -> pd.DataFrame:
    """Per case: the tested row closest to (or furthest past) its tolerance, and the verdict."""
    out = []
    for name, rows in table.groupby("case", sort=False):
        tested = rows[rows["tested"]]
        worst = tested.loc[tested["ratio"].astype(float).idxmax()]
        n_fail = int((~tested["ok"]).sum())
        out.append({
            "case": name,
            "worst quantity": worst["quantity"],
            "python": worst["python"],
            "r": worst["r"],
            "abs_diff": worst["abs_diff"],
            "rel_diff": worst["rel_diff"],
            "of_tolerance": worst["ratio"],
            "failures": n_fail,
            "compared": len(tested),
            "note": worst["note"][:60],
        })
    return pd.DataFrame(out)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    show_all = "--all" in argv
    names = [a for a in argv if not a.startswith("--")] or None
    table = all_differences(names)
    with pd.option_context("display.width", 250, "display.max_rows", 1000,
                           "display.max_colwidth", 70, "display.float_format", "{:.4g}".format):
        if show_all:
            print(table.to_string(index=False))
            print()
        print(largest_differences(table).to_string(index=False))
        failed = table[table["tested"] & ~table["ok"]]
        if len(failed):
            print(f"\n{len(failed)} quantity(ies) beyond tolerance:")
            print(failed[["case", "quantity", "python", "r", "abs_diff", "allowed", "note"]]
                  .to_string(index=False))
    for name in names or CASES:
        fit = python_fit(name)
        if fit.error or fit.anova_error:
            print(f"\n{name}: {fit.error or fit.anova_error}")
        elif show_all and fit.warnings:
            print(f"\n{name} warnings: " + " | ".join(w[:150] for w in fit.warnings))
    return 1 if (table["tested"] & ~table["ok"]).any() else 0


if __name__ == "__main__":
    sys.exit(main())
