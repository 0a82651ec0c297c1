"""Write the simulated data sets of the glmer reference cases (fixed seeds).

Usage, from the repository root::

    python tests/r/glmer_cases.py [OUT_DIR]

OUT_DIR defaults to ``data/reference/glmer``. Writes ``crossed_accuracy.csv``
(cases crossed_intercepts and crossed_slopes), ``small_crossed.csv`` (saddle_start),
``counts.csv`` (poisson),
``singular.csv`` (singular) and ``scalar.csv`` (agq9). ``tests/r/glmer.R`` fits
them with lme4::glmer; lme4's ``cbpp`` and afex's ``fhch2010`` need no file here
(``cbpp.csv`` is exported by the R script).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd


def _logistic(x):
    return 1.0 / (1.0 + np.exp(-x))


def crossed_accuracy(n_subjects=30, n_items=40, seed=20240611) -> pd.DataFrame:
    """Participants x items, every participant sees every item once; the condition
    (``easy``/``hard``) is counterbalanced: within participants and within items."""
    rng = np.random.default_rng(seed)
    s = np.repeat(np.arange(n_subjects), n_items)
    i = np.tile(np.arange(n_items), n_subjects)
    hard = (s + i) % 2
    subj = rng.multivariate_normal([0, 0], [[0.64, -0.12], [-0.12, 0.25]], n_subjects)
    item = rng.normal(0.0, 0.6, n_items)
    eta = 1.2 - 0.7 * hard + subj[s, 0] + subj[s, 1] * hard + item[i]
    correct = rng.binomial(1, _logistic(eta))
    return pd.DataFrame(
        {
            "subject": [f"s{k:02d}" for k in s],
            "item": [f"i{k:02d}" for k in i],
            "cond": np.where(hard == 1, "hard", "easy"),
            "correct": correct,
        }
    )


def counts(n_groups=25, per_group=12, seed=20240612) -> pd.DataFrame:
    """Counts with a numeric predictor and a random intercept per site."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_groups), per_group)
    x = np.round(rng.uniform(-1, 1, g.size), 3)
    eta = 1.0 + 0.4 * x + rng.normal(0, 0.5, n_groups)[g]
    return pd.DataFrame(
        {"site": [f"site{k:02d}" for k in g], "x": x, "count": rng.poisson(np.exp(eta))}
    )


def singular(n_groups=12, per_group=10) -> pd.DataFrame:
    """Every group has exactly the same number of successes per condition: the variance
    between groups is estimated at 0 (a boundary fit), deterministically."""
    rows = []
    for g in range(n_groups):
        for k in range(per_group):
            cond = "b" if k % 2 else "a"
            # 2 of 5 successes in a, 4 of 5 in b, at positions shifted by group
            pos = (k // 2 + g) % 5
            y = int(pos < (2 if cond == "a" else 4))
            rows.append((f"g{g:02d}", cond, y))
    return pd.DataFrame(rows, columns=["group", "cond", "y"])


def scalar(n_groups=30, per_group=8, seed=20240613) -> pd.DataFrame:
    """Binary responses, a numeric predictor and a large random intercept."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_groups), per_group)
    x = np.round(rng.normal(0, 1, g.size), 3)
    eta = -0.3 + 0.8 * x + rng.normal(0, 1.5, n_groups)[g]
    return pd.DataFrame(
        {
            "cluster": [f"c{k:02d}" for k in g],
            "x": x,
            "y": rng.binomial(1, _logistic(eta)),
        }
    )


def small_crossed(n_subjects=30, n_items=20, seed=1) -> pd.DataFrame:
    """A small participants x items accuracy data set with a between-items condition,
    on which an optimizer that reads central differences across the bound stops at a
    saddle: the item SD at 0, a log-likelihood 1.1 below the optimum."""
    rng = np.random.default_rng(seed)
    s = np.repeat(np.arange(n_subjects), n_items)
    i = np.tile(np.arange(n_items), n_subjects)
    b = i % 2
    eta = (1 + 0.5 * b + rng.normal(0, 1, n_subjects)[s]
           + rng.normal(0, 0.5, n_items)[i])
    correct = (rng.random(s.size) < _logistic(eta)).astype(int)
    return pd.DataFrame(
        {
            "subject": [f"s{k:02d}" for k in s],
            "item": [f"i{k:02d}" for k in i],
            "cond": np.where(b == 1, "b", "a"),
            "correct": correct,
        }
    )


CASES = {
    "crossed_accuracy": crossed_accuracy,
    "small_crossed": small_crossed,
    "counts": counts,
    "singular": singular,
    "scalar": scalar,
}


def main(out_dir="data/reference/glmer") -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, make in CASES.items():
        make().to_csv(out / f"{name}.csv", index=False)
        print(f"wrote {out / name}.csv")


if __name__ == "__main__":
    main(*sys.argv[1:2])
