"""Time helpers.glmer against lme4::glmer on the same data, in the same run.

Usage, from the repository root::

    .venv/bin/python tools/bench_glmer.py [--repeat N]

Data sets: a simulated crossed binary data set of 24,000 trials (60 participants x
400 items, ``correct ~ cond + (1 | subject) + (1 | item)``, fixed seed) and afex's
fhch2010 lexical-decision accuracy (``correct ~ stimulus * frequency + (1 + stimulus |
id) + (1 | item)``). Each fit is timed ``--repeat`` times (best of) in Python and once
in R (``system.time`` around ``glmer``, after a warm-up fit); the table shows the
seconds and both log-likelihoods.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from helpers.core.data import load  # noqa: E402
from helpers.engine.glmer import glmer  # noqa: E402

R_CODE = r"""
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
invisible(Sys.setlocale("LC_COLLATE", "C"))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[[1]], stringsAsFactors = TRUE)
if (!is.null(d$stimulus))
  d$stimulus <- factor(d$stimulus, levels = c("word", "nonword"))
if (!is.null(d$frequency)) d$frequency <- factor(d$frequency, levels = c("low", "high"))
d$correct <- as.integer(as.logical(d$correct))
f <- as.formula(args[[2]])
tt <- system.time(m <- suppressMessages(suppressWarnings(glmer(f, d, binomial))))
cat(toJSON(list(seconds = unname(tt[["elapsed"]]), logLik = as.numeric(logLik(m))),
           auto_unbox = TRUE, digits = NA))
"""


def crossed_binary(n_subjects=60, n_items=400, seed=7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    s = np.repeat(np.arange(n_subjects), n_items)
    i = np.tile(np.arange(n_items), n_subjects)
    hard = (s + i) % 2
    eta = (
        1.0
        - 0.5 * hard
        + rng.normal(0, 0.7, n_subjects)[s]
        + rng.normal(0, 0.5, n_items)[i]
    )
    return pd.DataFrame(
        {
            "subject": [f"s{k:02d}" for k in s],
            "item": [f"i{k:03d}" for k in i],
            "cond": np.where(hard == 1, "hard", "easy"),
            "correct": rng.binomial(1, 1 / (1 + np.exp(-eta))),
        }
    )


def time_python(formula, data, repeat):
    best, fit = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = glmer(formula, data)
        best = min(best, time.perf_counter() - t0)
    return best, fit.llf


def time_r(formula, data):
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "d.csv"
        script = Path(tmp) / "bench.R"
        data.to_csv(csv, index=False)
        script.write_text(R_CODE)
        out = subprocess.run(
            ["Rscript", str(script), str(csv), formula],
            capture_output=True,
            text=True,
            check=True,
        )
    res = json.loads(out.stdout.strip().splitlines()[-1])
    return res["seconds"], res["logLik"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args(argv)
    fh = load("fhch2010")
    lexdec = fh[fh.task == "lexdec"].reset_index(drop=True)
    cases = [
        (
            "crossed 60 x 400 (24,000 trials)",
            crossed_binary(),
            "correct ~ cond + (1 | subject) + (1 | item)",
        ),
        (
            "fhch2010 lexdec accuracy",
            lexdec,
            "correct ~ stimulus * frequency + (1 + stimulus | id) + (1 | item)",
        ),
    ]
    rows = []
    for label, data, formula in cases:
        tp, llp = time_python(formula, data, args.repeat)
        tr, llr = time_r(formula, data)
        rows.append((label, len(data), tp, tr, llp, llr))
    print(
        f"{'data set':34s} {'rows':>6s} {'helpers.glmer s':>16s} {'lme4 s':>8s} "
        f"{'speed-up':>8s} {'logLik helpers':>15s} {'logLik lme4':>13s}"
    )
    for label, n, tp, tr, llp, llr in rows:
        print(
            f"{label:34s} {n:6d} {tp:16.2f} {tr:8.2f} {tr / tp:8.2f} {llp:15.4f} "
            f"{llr:13.4f}"
        )


if __name__ == "__main__":
    main()
