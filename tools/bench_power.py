"""How fast is power by simulation for a large crossed model? A benchmark, not a test.

    .venv/bin/python tools/bench_power.py [--reps 1000] [--jobs -1]

The model of a large lexical-decision-like study: 60 participants x 400 items (24,000
rows), ``y ~ cond + (1 + cond|subject) + (1|item)``, fitted once by ``helpers.lmer``
to data simulated with by-participant slopes. Each replicate draws a new response from
the fit (``LmerResult.simulate``, new random effects for every participant and item),
refits the model to it and computes the p value of ``cond``, in two ways:

* ``refit + Satterthwaite F``: ``fit.refit(y)`` (lme4's ``refit``: the cross-products of
  X and Z reused, the optimizer started at the fit's theta, lme4's convergence checks)
  and ``helpers.anova`` (lmerTest's Type III F test with Satterthwaite's df), what
  chapter 12 does per replicate;
* ``quick refit + Wald z``: the refit without convergence checks or conditional modes
  (``LmerResult._quick_refit``, as ``helpers.lrt``'s parametric bootstrap uses) and a
  Wald z test from ``Cov(beta) = sigma^2 (RX RX')^-1``: no degrees of freedom, which
  with 60 participants and 400 items changes p values very little.

Each runs serially (one process) and with all cores (joblib, ``n_jobs=-1``); the
replicates' seeds come from ``numpy.random.SeedSequence(seed).spawn(reps)``, so both
runs compute the same p values (the table says whether they did). The script prints a
table of seconds and replicates per second; it never fails on a slow machine.
"""
from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import pandas as pd
from joblib import Parallel, delayed, effective_n_jobs
from scipy import stats

FORMULA = "y ~ cond + (1 + cond|subject) + (1|item)"
DESIGN = dict(n_subj=60, n_item=400, beta0=800.0, effect=20.0, subj_sd=100.0,
              item_sd=40.0, error_sd=200.0, subj_slope_sd=40.0, subj_slope_corr=0.2)
SEED = 20240703


def _fit():
    """The model fitted to the study's simulated data (the same in every process)."""
    import helpers

    data = helpers.simulate_crossed(**DESIGN, seed=SEED)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return helpers.lmer(FORMULA, data)


def _p_satterthwaite(fit, y):
    import helpers

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(helpers.anova(fit.refit(y)).loc["cond", "p"])


def _p_wald(fit, y):
    theta, sigma, beta, _ = fit._quick_refit(y)
    vcov = fit.model.with_response(y).vcov_varpar(np.append(theta, sigma))
    z = beta[1] / np.sqrt(vcov[1, 1])
    return float(2 * stats.norm.sf(abs(z)))


TESTS = {"refit + Satterthwaite F": _p_satterthwaite, "quick refit + Wald z": _p_wald}


def _chunk(test_name, seeds):
    """p values of the replicates ``seeds``; the fit is rebuilt in the worker (about a
    second), so nothing large has to be sent to it."""
    fit = _fit()
    test = TESTS[test_name]
    return [test(fit, fit.simulate(1, seed=s)[0]) for s in seeds]


def run(test_name, seeds, n_jobs):
    """(seconds, p values) for the replicates ``seeds`` on ``n_jobs`` workers."""
    start = time.perf_counter()
    if n_jobs == 1:
        p = _chunk(test_name, seeds)
    else:
        k = effective_n_jobs(n_jobs)
        bounds = np.linspace(0, len(seeds), 2 * k + 1).astype(int)
        pairs = [(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
        parts = Parallel(n_jobs=n_jobs)(delayed(_chunk)(test_name, seeds[a:b])
                                        for a, b in pairs)
        p = [v for part in parts for v in part]
    return time.perf_counter() - start, np.array(p)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=1000,
                        help="replicates (default 1000)")
    parser.add_argument("--jobs", type=int, default=-1,
                        help="joblib n_jobs (default -1)")
    parser.add_argument("--tests", nargs="*", default=list(TESTS), choices=list(TESTS))
    args = parser.parse_args(argv)
    seeds = np.random.SeedSequence(SEED).spawn(args.reps)
    start = time.perf_counter()
    fit = _fit()
    print(f"model: {FORMULA}, {fit.nobs} rows "
          f"({DESIGN['n_subj']} participants x {DESIGN['n_item']} items); "
          f"first fit {time.perf_counter() - start:.2f} s; cores: {os.cpu_count()}, "
          f"joblib workers for n_jobs={args.jobs}: {effective_n_jobs(args.jobs)}")
    rows = []
    for name in args.tests:
        serial = None
        for n_jobs in (1, args.jobs):
            try:
                seconds, p = run(name, seeds, n_jobs)
            except Exception as err:  # noqa: BLE001 - a benchmark reports, never fails
                print(f"{name}, n_jobs={n_jobs}: failed: {err!r}")
                continue
            same = ("" if serial is None
                    else "yes" if np.array_equal(p, serial) else "NO")
            serial = p if serial is None else serial
            rows.append({"p value": name, "n_jobs": n_jobs, "replicates": len(p),
                         "seconds": round(seconds, 1),
                         "replicates/s": round(len(p) / seconds, 2),
                         "power": round(float(np.mean(p < 0.05)), 3),
                         "same p as serial": same})
            print(f"  done: {name}, n_jobs={n_jobs}, {seconds:.1f} s", flush=True)
    if rows:
        print()
        print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
