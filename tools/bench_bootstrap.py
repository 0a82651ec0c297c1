"""How fast is a parametric bootstrap of a crossed model? A benchmark, not a test.

    .venv/bin/python tools/bench_bootstrap.py [--nsim 1000] [--statsmodels-reps 5] [--no-r]

Data: 50 participants x 100 items (5,000 rows, ``helpers.simulate_crossed`` with a
fixed seed), ``y ~ cond + (1|subject) + (1|item)``. Three ways to get bootstrap
percentile intervals for every parameter, on the same data:

* ``helpers.confint(fit, method="boot", nsim=...)`` on a ``helpers.lmer`` fit: each
  replicate reuses the cross-products of X and Z and restarts the optimizer at the fit's
  theta;
* the same bootstrap with statsmodels refits (``helpers.confint`` on a
  ``helpers.mixedlm(...).fit()`` result): only ``--statsmodels-reps`` replicates are
  timed, and the time per replicate is multiplied by ``nsim`` (marked "projected");
* lme4's ``bootMer(m, FUN, nsim, use.u = FALSE, type = "parametric")`` through
  ``Rscript`` when R and lme4 are installed (the same data, written to a temporary CSV).

It prints seconds, replicates per second, and the ratios to ``helpers.lmer``. The
target: 1,000 replicates well under a minute. The script never fails on a slow machine.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FORMULA = "y ~ cond + (1|subject) + (1|item)"

_R_BOOT = r"""
suppressPackageStartupMessages(library(lme4))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
d$subject <- factor(d$subject); d$item <- factor(d$item)
m <- lmer(y ~ cond + (1 | subject) + (1 | item), data = d)
set.seed(1)
t <- system.time(b <- bootMer(m, function(x) c(fixef(x), getME(x, "theta"), sigma(x)),
                              nsim = as.integer(args[2]), use.u = FALSE,
                              type = "parametric"))
cat(sprintf("%.6f\n", t[["elapsed"]]))
"""


def _r_seconds(path, nsim):
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    try:
        out = subprocess.run([rscript, "-e", _R_BOOT, str(path), str(nsim)],
                             capture_output=True, text=True, timeout=3600)
    except subprocess.TimeoutExpired:
        return None
    if out.returncode != 0:
        return None
    return float(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nsim", type=int, default=1000)
    parser.add_argument("--statsmodels-reps", type=int, default=5)
    parser.add_argument("--no-r", action="store_true")
    args = parser.parse_args(argv)

    import helpers

    data = helpers.simulate_crossed(n_subj=50, n_item=100, seed=20240612)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
          f"{len(data):,} rows, {args.nsim} replicates\n")
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = helpers.lmer(FORMULA, data)
        start = time.perf_counter()
        helpers.confint(fit, method="boot", nsim=args.nsim, seed=1)
        lmer_s = time.perf_counter() - start
        rows.append(("helpers.lmer", lmer_s, "measured"))

        sm_fit = helpers.mixedlm(FORMULA, data).fit()
        start = time.perf_counter()
        helpers.confint(sm_fit, method="boot", nsim=args.statsmodels_reps, seed=1)
        per_rep = (time.perf_counter() - start) / args.statsmodels_reps
        rows.append(("statsmodels", per_rep * args.nsim,
                     f"projected from {args.statsmodels_reps} replicates"))

    if not args.no_r:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "data.csv"
            data.to_csv(path, index=False)
            r_s = _r_seconds(path, args.nsim)
        rows.append(("lme4 bootMer", r_s, "measured" if r_s else "R/lme4 not available"))

    print(f"{'tool':<14} {'seconds':>9} {'replicates/s':>13} {'/ helpers.lmer':>15}  how")
    for name, seconds, how in rows:
        if seconds is None:
            print(f"{name:<14} {'-':>9} {'-':>13} {'-':>15}  {how}")
            continue
        print(f"{name:<14} {seconds:9.1f} {args.nsim / seconds:13.1f} "
              f"{seconds / lmer_s:15.1f}  {how}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
