"""Data sets with a covariate measured in the thousands (fixed seeds), for the engine's
checks against lme4 on badly scaled parameters.

Usage, from the repository root::

    python tests/r/scaling_cases.py [OUT_DIR]

OUT_DIR defaults to ``data/reference/scaling``. ``tests/r/scaling.R`` fits every case
of ``CASES`` with lme4 (``lmer`` by REML and ML, or ``glmer``) and writes
``<case>.json`` beside the CSVs. Uncentred covariates on such scales make a random
slope's relative SD and its coefficient four orders of magnitude smaller than an
intercept's: a gradient method that does not rescale them stops short.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd


def grouped(seed=26, n_groups=20, per_group=24) -> pd.DataFrame:
    """Groups with a random intercept and slope of x ~ N(5000, 1000²)."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_groups), per_group)
    x = 5000 + 1000 * rng.standard_normal(g.size)
    z = (x - 5000) / 1000
    a = rng.multivariate_normal([0, 0], [[25, 1.5], [1.5, 1]], n_groups)
    y = 10 + 2 * z + a[g, 0] + a[g, 1] * z + 4 * rng.standard_normal(g.size)
    return pd.DataFrame({"g": [f"g{k:02d}" for k in g], "x": np.round(x, 2),
                         "y": np.round(y, 4)})


def crossed(seed=215, n_subjects=24, n_items=30) -> pd.DataFrame:
    """Subjects x items, a trial-level covariate x ~ N(0, 1000²) with by-subject slopes."""
    rng = np.random.default_rng(seed)
    s = np.repeat(np.arange(n_subjects), n_items)
    i = np.tile(np.arange(n_items), n_subjects)
    x = 1000 * rng.standard_normal(s.size)
    subj = rng.standard_normal((n_subjects, 2)) * [30, 10]
    y = (500 + 25 * x / 1000 + subj[s, 0] + subj[s, 1] * x / 1000
         + 20 * rng.standard_normal(n_items)[i] + 40 * rng.standard_normal(s.size))
    return pd.DataFrame({"s": [f"s{k:02d}" for k in s], "i": [f"i{k:02d}" for k in i],
                         "x": np.round(x, 2), "y": np.round(y, 3)})


def binary(seed=231, n_subjects=30, n_items=30) -> pd.DataFrame:
    """Binary responses, subjects x items, x ~ N(3000, 500²) with by-subject slopes."""
    rng = np.random.default_rng(seed)
    s = np.repeat(np.arange(n_subjects), n_items)
    i = np.tile(np.arange(n_items), n_subjects)
    x = 3000 + 500 * rng.standard_normal(s.size)
    z = (x - 3000) / 500
    subj = rng.standard_normal((n_subjects, 2)) * [0.8, 0.3]
    eta = 0.5 + 0.4 * z + subj[s, 0] + subj[s, 1] * z + 0.4 * rng.standard_normal(n_items)[i]
    y = rng.binomial(1, 1 / (1 + np.exp(-eta)))
    return pd.DataFrame({"s": [f"s{k:02d}" for k in s], "i": [f"i{k:02d}" for k in i],
                         "x": np.round(x, 2), "y": y})


def counts(seed=234, n_groups=30, per_group=9) -> pd.DataFrame:
    """Poisson counts with a random intercept and x ~ N(4000, 1000²)."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_groups), per_group)
    x = 4000 + 1000 * rng.standard_normal(g.size)
    eta = 2 + 0.2 * (x - 4000) / 1000 + 0.6 * rng.standard_normal(n_groups)[g]
    return pd.DataFrame({"g": [f"g{k:02d}" for k in g], "x": np.round(x, 2),
                         "y": rng.poisson(np.exp(eta))})


DATA = {"grouped": grouped, "crossed": crossed, "binary": binary, "counts": counts}

# case -> (data, model, family, formula); "lmer" cases are fitted by REML and by ML
CASES = {
    "slopes_correlated": ("grouped", "lmer", "gaussian", "y ~ x + (1 + x | g)"),
    "slopes_uncorrelated": ("grouped", "lmer", "gaussian", "y ~ x + (1 + x || g)"),
    "crossed_slopes": ("crossed", "lmer", "gaussian", "y ~ x + (1 + x || s) + (1 | i)"),
    "binary_slopes": ("binary", "glmer", "binomial", "y ~ x + (1 + x | s) + (1 | i)"),
    "poisson": ("counts", "glmer", "poisson", "y ~ x + (1 | g)"),
}


def main(out_dir="data/reference/scaling") -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, make in DATA.items():
        make().to_csv(out / f"{name}.csv", index=False)
    manifest = {name: dict(zip(("data", "model", "family", "formula"), spec))
                for name, spec in CASES.items()}
    (out / "cases.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"wrote {len(DATA)} data sets and {len(CASES)} cases to {out}")


if __name__ == "__main__":
    main(*sys.argv[1:2])
