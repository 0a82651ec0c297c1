"""How fast is helpers.lmer? Crossed participants x items data against statsmodels and lme4.

    python tools/bench_lmer.py                      # everything (about half an hour)
    python tools/bench_lmer.py --statsmodels-max 24000   # skip statsmodels above 24,000 rows
    python tools/bench_lmer.py --sizes 480 5000     # some sizes only
    python tools/bench_lmer.py --no-insteval --no-r

For every size (480, 5,000, 24,000, 50,000 and 1,000,000 rows of participants x items,
``helpers.simulate_crossed`` with a fixed seed) and two models,

* intercepts: ``y ~ cond + (1|subject) + (1|item)``
* slopes:     ``y ~ cond + (1 + cond|subject) + (1|item)``  (statsmodels cannot fit it)

plus lme4's InstEval (``y ~ service + (1|s) + (1|d)``, 73,421 rows), the same data are
written to a temporary CSV and fitted, each in a fresh process, by

* ``helpers.lmer`` (seconds for the fit, and the process's peak memory, with in brackets
  what the fit added to it: the rest is Python, numpy, pandas and the data);
* statsmodels, ``helpers.mixedlm(formula, data).fit()`` (intercepts only: it cannot fit
  the slopes model; stopped after ``--timeout`` seconds, 600 by default: "> 600 s"; its
  process may use at most ``--memory-gb`` GB, 12 by default, beyond which it stops: "out of
  memory"; ``--statsmodels-max`` skips it above that many rows);
* lme4 1.1's ``lmer`` through ``Rscript`` when R and lme4 are installed (only the fit is
  timed, inside R).

It prints one table with the seconds and the ratios statsmodels / lmer and lme4 / lmer.
Targets: faster than lme4 at every size, at least 100 times faster than statsmodels from
20,000 rows, InstEval under 5 s, 1,000,000 rows under a minute. These are benchmark
figures for one machine (say which, and how loaded), never timed tests. The script does not fail.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# rows -> (participants, items)
DESIGNS = {480: (30, 16), 5000: (50, 100), 24000: (60, 400), 50000: (200, 250),
           1000000: (1000, 1000)}
FORMULAS = {
    "intercepts": "y ~ cond + (1|subject) + (1|item)",
    "slopes": "y ~ cond + (1 + cond|subject) + (1|item)",
}
INSTEVAL = "y ~ service + (1|s) + (1|d)"

_PY_WORKER = r"""
import json, resource, sys, time, warnings
import pandas as pd
tool, formula, path, memory_gb = sys.argv[1:5]
if tool == "statsmodels":  # fail with MemoryError rather than exhaust the machine
    limit = int(float(memory_gb) * 1024**3)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
data = pd.read_csv(path)
for col in ("subject", "item"):
    if col in data:
        data[col] = data[col].astype(str)
import helpers
# helpers imports its modules on first use: do it before the clock starts (as R loads
# lme4 before its timer)
lmer, mixedlm = helpers.lmer, helpers.mixedlm
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    start = time.perf_counter()
    if tool == "lmer":
        result = lmer(formula, data)
        llf = result.llf
    else:
        result = mixedlm(formula, data).fit()
        llf = float(result.llf)
    seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "llf": llf, "peak_mb": peak / 1024,
                  "fit_mb": (peak - before) / 1024}))
"""

_R_WORKER = r"""
suppressPackageStartupMessages(library(lme4))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[2])
for (col in c("subject", "item", "s", "d")) if (col %in% names(d)) d[[col]] <- factor(d[[col]])
t <- system.time(m <- lmer(as.formula(args[1]), data = d, REML = TRUE))
cat(sprintf('{"seconds": %.6f, "llf": %.10f}\n', t[["elapsed"]], as.numeric(logLik(m))))
"""


def _run(cmd, timeout):
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"timeout": True}
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1][:60]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _python(tool, formula, path, timeout, memory_gb=12.0):
    return _run([sys.executable, "-c", _PY_WORKER, tool, formula, str(path), str(memory_gb)],
                timeout)


def _r(formula, path, timeout, rscript):
    return _run([rscript, "-e", _R_WORKER, formula, str(path)], timeout)


def _r_available():
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    ok = subprocess.run([rscript, "-e", "quit(status = !requireNamespace('lme4', quietly = "
                         "TRUE))"], capture_output=True)
    return rscript if ok.returncode == 0 else None


def _cell(res, timeout):
    if res is None:
        return "-"
    if res.get("timeout"):
        return f"> {timeout:.0f} s"
    if "error" in res:
        return "out of memory" if "memory" in res["error"].lower() else "error"
    return f"{res['seconds']:.2f}"


def _ratio(other, lmer):
    if not other or not lmer or "seconds" not in lmer:
        return "-"
    if other.get("timeout"):
        return f"> {other['bound'] / lmer['seconds']:.0f}"
    if "seconds" not in other:
        return "-"
    return f"{other['seconds'] / lmer['seconds']:.1f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=list(DESIGNS))
    parser.add_argument("--statsmodels-max", type=int, default=None,
                        help="skip statsmodels above this many rows (default: never)")
    parser.add_argument("--memory-gb", type=float, default=12.0,
                        help="memory limit of the statsmodels process (GB)")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--no-r", action="store_true")
    parser.add_argument("--no-insteval", action="store_true")
    args = parser.parse_args(argv)

    import helpers

    rscript = None if args.no_r else _r_available()
    if rscript is None and not args.no_r:
        print("Rscript with lme4 not found: the lme4 column stays empty")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} "
          "(a shared machine gives slower, noisier figures)\n")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        jobs = []
        for n in args.sizes:
            if n not in DESIGNS:
                raise SystemExit(f"unknown size {n}; choose from {list(DESIGNS)}")
            for model, formula in FORMULAS.items():
                jobs.append((n, model, formula))
        if not args.no_insteval:
            jobs.append(("InstEval", "intercepts", INSTEVAL))
        for n, model, formula in jobs:
            path = Path(tmp) / "data.csv"
            if n == "InstEval":
                helpers.load("insteval").to_csv(path, index=False)
                rows_n = 73421
                label = "InstEval (2972 x 1128)"
            else:
                n_subj, n_item = DESIGNS[n]
                data = helpers.simulate_crossed(
                    n_subj=n_subj, n_item=n_item, subj_slope_sd=60.0 if model == "slopes" else 0.0,
                    subj_slope_corr=0.3, seed=20240612)
                data.to_csv(path, index=False)
                rows_n = len(data)
                label = f"{rows_n:,} ({n_subj} x {n_item})"
            res_lmer = _python("lmer", formula, path, args.timeout)
            res_sm = None
            sm_max = args.statsmodels_max
            if model == "intercepts" and (sm_max is None or rows_n <= sm_max):
                res_sm = _python("statsmodels", formula, path, args.timeout, args.memory_gb)
                if res_sm.get("timeout"):
                    res_sm["bound"] = args.timeout
            res_r = _r(formula, path, args.timeout, rscript) if rscript else None
            if res_r and res_r.get("timeout"):
                res_r["bound"] = args.timeout
            sm_cell = _cell(res_sm, args.timeout) if model == "intercepts" else "cannot fit"
            if model == "intercepts" and res_sm is None:
                sm_cell = "not run"
            row = {
                "data": label, "model": model,
                "lmer s": _cell(res_lmer, args.timeout),
                # the process's peak memory, and how much the fit added to it
                "lmer peak MB": (f"{res_lmer['peak_mb']:.0f} (+{res_lmer['fit_mb']:.0f})"
                                 if "peak_mb" in res_lmer else "-"),
                "statsmodels s": sm_cell,
                "lme4 s": _cell(res_r, args.timeout),
                "sm / lmer": _ratio(res_sm, res_lmer),
                "lme4 / lmer": _ratio(res_r, res_lmer),
                "|dlogLik| lme4": (f"{abs(res_r['llf'] - res_lmer['llf']):.1e}"
                                   if res_r and "llf" in res_r and "llf" in res_lmer else "-"),
            }
            rows.append(row)
            print("  ".join(f"{k}: {v}" for k, v in row.items()), flush=True)
    print()
    header = list(rows[0])
    widths = [max(len(h), *(len(str(r[h])) for r in rows)) for h in header]
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("-|-".join("-" * w for w in widths))
    for r in rows:
        print(" | ".join(str(r[h]).ljust(w) for h, w in zip(header, widths)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
