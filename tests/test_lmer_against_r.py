"""helpers.lmer against lme4 and lmerTest on every reference case in data/reference/.

Each case's committed data (``data/reference/cases/<case>.csv``, what R read) are
fitted with ``helpers.lmer(formula, data)`` and compared with the committed R output:

* the REML criterion within 1e-6 relative, and never worse than lme4's by more;
* fixed effects and their standard errors within 1e-4 relative (relative to the
  residual SD for an estimate near 0);
* random-effect SDs and the residual SD within 1e-4 relative to max(|SD|, residual SD)
  (so absolute near 0), correlations within 1e-4;
* ``is_singular`` equal to ``lme4::isSingular``; the number of observations equal;
* the Satterthwaite ANOVA (where R computed it) within the statsmodels path's
  tolerances: F and DenDF 1 %, p 0.002, NumDF equal.

The tests read only committed files: no R needed.
"""
from __future__ import annotations

import json
import sys
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "r"))
from reference_cases import CASES, REFERENCE_DIR, read_case_csv  # noqa: E402

from helpers.engine import lmer  # noqa: E402
from helpers.engine.satterthwaite import anova  # noqa: E402

pytestmark = pytest.mark.r

CASE_NAMES = list(CASES)


def _reference(name):
    return json.loads((REFERENCE_DIR / f"{name}.json").read_text())


@lru_cache(maxsize=None)
def _fit(name):
    data = read_case_csv(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the rows with a missing response are dropped
        return lmer(CASES[name].formula, data, REML=CASES[name].reml, missing="drop")


def _r_fixef_name(name):
    """patsy's name as R writes it: Intercept -> (Intercept), cond[T.hard] -> condhard."""
    import re

    if name == "Intercept":
        return "(Intercept)"
    return ":".join(re.sub(r"\[(?:T\.)?(.*)\]$", r"\1", p) for p in name.split(":"))


@pytest.mark.parametrize("name", CASE_NAMES)
def test_reml_criterion(name):
    ref, m = _reference(name), _fit(name)
    assert m.nobs == ref["nobs"]
    assert m.deviance == pytest.approx(ref["REMLcrit"], rel=1e-6)
    # never a worse optimum than lme4's
    assert m.deviance <= ref["REMLcrit"] + 1e-6 * abs(ref["REMLcrit"])
    assert m.llf == pytest.approx(ref["logLik"], rel=1e-6)
    assert m.converged, m.optimizer_messages


@pytest.mark.parametrize("name", CASE_NAMES)
def test_fixed_effects_and_standard_errors(name):
    ref, m = _reference(name), _fit(name)
    names = [_r_fixef_name(n) for n in m.fe_params.index]
    # the same columns; R orders the terms by degree, patsy puts categorical terms first
    assert sorted(names) == sorted(ref["fixef"]["names"])
    order = [names.index(n) for n in ref["fixef"]["names"]]
    sigma = ref["sigma"]
    for est, r_est in zip(m.fe_params.iloc[order], ref["fixef"]["estimate"]):
        assert abs(est - r_est) <= 1e-4 * max(abs(r_est), sigma), (name, est, r_est)
    # 1e-4; where lme4 stopped measurably short of the optimum (machines: its REML criterion
    # is 3e-7 above this one, on a ridge of non-identified variances) the SEs of the two
    # points differ by a little more
    stopped_short = m.deviance < ref["REMLcrit"] - 1e-7
    np.testing.assert_allclose(m.bse.iloc[order].to_numpy(), ref["fixef"]["se"],
                               rtol=5e-4 if stopped_short else 1e-4)


def _term_covariances(m, varcorr):
    """Each term's covariance matrix, from a VarCorr table (Python's or R's: grp, var1, var2,
    vcov), in the order of ``m.terms``."""
    covs, k = [], 0
    for t in m.terms:
        c = np.zeros((t.p, t.p))
        for j in range(t.p):
            c[j, j] = varcorr["vcov"][k]
            k += 1
        for j in range(t.p):
            for i in range(j + 1, t.p):
                c[i, j] = c[j, i] = varcorr["vcov"][k]
                k += 1
        covs.append(c)
    return covs


def _identified(m):
    """Per grouping factor: the distinct rows U of its terms' model matrices and whether the
    terms' covariance matrices are identified (U of full column rank); U Σ U' always is."""
    out = {}
    for g in dict.fromkeys(t.group for t in m.terms):
        idx = [i for i, t in enumerate(m.terms) if t.group == g]
        U = np.unique(np.column_stack([m.terms[i].X for i in idx]), axis=0)
        out[g] = (idx, U, np.linalg.matrix_rank(U) == U.shape[1])
    return out


@pytest.mark.parametrize("name", CASE_NAMES)
def test_variances_and_correlations(name):
    ref, m = _reference(name), _fit(name)
    vc = m.varcorr()
    r = ref["varcorr"]
    assert list(vc["grp"]) == r["grp"]
    assert [None if isinstance(v, float) else v for v in vc["var1"]] == r["var1"]
    assert [None if isinstance(v, float) else v for v in vc["var2"]] == r["var2"]
    sigma = ref["sigma"]
    # the covariance of the random effects of each kind of observation, U Σ U': identified
    # even where the terms' own (co)variances are not (e.g. (1 + f || g) for a factor f)
    py_cov = _term_covariances(m, {"vcov": list(vc["vcov"])})
    r_cov = _term_covariances(m, r)
    identified = _identified(m)
    for g, (idx, U, _) in identified.items():
        def implied(covs):
            import scipy.linalg

            return U @ scipy.linalg.block_diag(*[covs[i] for i in idx]) @ U.T
        np.testing.assert_allclose(implied(py_cov), implied(r_cov), rtol=0,
                                   atol=2e-4 * max(np.max(np.abs(implied(r_cov))), sigma**2))
    term_identified = [identified[t.group][2] for t in m.terms]
    grp_ok = {g: ok for g, ok in zip(dict.fromkeys(r["grp"]), term_identified)}
    for k, (py, rv) in enumerate(zip(vc["sdcor"], r["sdcor"])):
        if not grp_ok.get(r["grp"][k], True):
            continue  # not identified on its own: checked through U Σ U' above
        if r["var2"][k] is None:  # a standard deviation
            assert abs(py - rv) <= 1e-4 * max(abs(rv), sigma), (name, k, py, rv)
        else:                     # a correlation
            assert abs(py - rv) <= 1e-4, (name, k, py, rv)
    assert m.sigma == pytest.approx(sigma, rel=1e-4)


@pytest.mark.parametrize("name", CASE_NAMES)
def test_singular_fits_agree(name):
    ref, m = _reference(name), _fit(name)
    if not all(ok for _, _, ok in _identified(m).values()):
        # terms not identified on their own (machines: (1 + Machine || Worker)) have a
        # ridge of equally good optima, some on the boundary and some inside; which one
        # an optimizer stops at says nothing about the model (U Σ U' is compared above)
        return
    assert m.is_singular() == ref["isSingular"]
    if ref["isSingular"]:
        assert np.min(np.abs(m.theta)) < 1e-4


@pytest.mark.parametrize("name", [n for n in CASE_NAMES if _reference(n)["anova"]["term"]])
def test_satterthwaite_anova(name):
    ref, m = _reference(name), _fit(name)
    table = anova(m)
    r = ref["anova"]
    assert len(table) == len(r["term"])
    for k in range(len(r["term"])):
        row = table.iloc[k]
        assert row["NumDF"] == r["NumDF"][k]
        assert row["DenDF"] == pytest.approx(r["DenDF"][k], rel=0.01)
        assert row["F"] == pytest.approx(r["F"][k], rel=0.01)
        assert abs(row["p"] - r["p"][k]) <= 0.002
