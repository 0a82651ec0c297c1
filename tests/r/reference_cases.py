"""The cases on which the book's helpers are cross-checked against R (lme4/lmerTest/afex).

Each :class:`Case` names a data set (made by :mod:`helpers.studies.simulate` with a
fixed seed, or the seed question's data, or pingouin's ``mixed_anova``), an
lme4 formula that is used *as the same text* by R's ``lmerTest::lmer`` and by
``helpers.mixedlm``, and, where the design allows it, the arguments of an
``afex::aov_ez`` repeated-measures ANOVA.

So that one formula means one model in both languages, every factor column is
written as **strings** (``"c1_1"``, ``"s01"``, ``"w2"``): patsy and R both
turn a string column into a factor with alphabetically sorted levels
(R runs with ``LC_COLLATE=C``, the same order as Python's ``sorted``), and
neither needs ``C()`` or ``factor()``.

Writing the files::

    python tests/r/reference_cases.py            # -> data/reference/cases/
    python tests/r/reference_cases.py OUTDIR

writes ``<case>.csv`` for every case and ``cases.json`` (the manifest that
``tests/r/reference.R`` reads: formula, REML, afex arguments).
"""
from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from helpers.studies import simulate as sim
from helpers.core.data import DATA_DIR, load
from helpers.studies.missing import simulate_dropout

REFERENCE_DIR = DATA_DIR / "reference"
CASES_DIR = REFERENCE_DIR / "cases"


@dataclass(frozen=True)
class Case:
    """One cross-check case.

    Attributes
    ----------
    name : str
        Identifier; also the file stem of ``cases/<name>.csv`` and ``<name>.json``.
    description : str
        What the case checks, in one or two sentences.
    formula : str
        lme4 formula, read identically by ``lmer`` and ``helpers.mixedlm``.
    make_data : callable
        Returns the case's DataFrame (deterministic: fixed seeds).
    reml : bool
        Fit by REML (all cases: ``True``).
    afex : dict or None
        ``{"dv", "id", "within", "between"}`` for ``afex::aov_ez``, or None.
    afex_comparable : bool
        Whether the afex ANOVA is the *same model* as the lmer fit, so that
        its F tests must equal ``helpers.anova`` (balanced data, random
        effects matching the ANOVA's error strata, positive variances).
    pingouin : dict or None
        Arguments of ``pingouin.mixed_anova`` when that is comparable too.
    notes : str
        Caveats (why afex is or is not comparable, expected singularity...).
    statsmodels : bool
        Whether ``helpers.mixedlm`` (statsmodels) can fit the model; the cases it
        cannot (correlated random slopes on crossed factors, or too large) are
        checked with ``helpers.lmer`` only.
    anova : bool
        Whether R (and the Python side) compute the Satterthwaite ANOVA; False for
        a data set where lmerTest's derivatives take minutes (InstEval).
    compress : bool
        Write the case's data gzip-compressed, ``cases/<name>.csv.gz`` (large data).
    """

    name: str
    description: str
    formula: str
    make_data: Callable[[], pd.DataFrame] = field(repr=False)
    reml: bool = True
    afex: dict | None = None
    afex_comparable: bool = False
    pingouin: dict | None = None
    notes: str = ""
    statsmodels: bool = True
    anova: bool = True
    compress: bool = False

    @property
    def file(self) -> str:
        """The data file's name inside ``cases/``."""
        return f"{self.name}.csv.gz" if self.compress else f"{self.name}.csv"

    @property
    def dv(self) -> str:
        return self.formula.split("~", 1)[0].strip()

    def manifest(self) -> dict:
        """The JSON-able part of the case (everything but the data)."""
        return {
            "name": self.name,
            "description": self.description,
            "formula": self.formula,
            "reml": self.reml,
            "afex": self.afex,
            "afex_comparable": self.afex_comparable,
            "notes": self.notes,
            **({} if self.anova else {"anova": False}),
        }


# --------------------------------------------------------------------------- data makers
def _seed_data() -> pd.DataFrame:
    df = load("seed_toy")
    return pd.DataFrame(
        {
            "participant_ID": [f"p{int(v):02d}" for v in df["participant_ID"]],
            "Condition_1": [f"c1_{int(v)}" for v in df["Condition_1"]],
            "Condition_2": [f"c2_{int(v)}" for v in df["Condition_2"]],
            "dependent_var": df["dependent_var"].astype(float),
        }
    )


def _pingouin_mixed() -> pd.DataFrame:
    import pingouin as pg

    df = pg.read_dataset("mixed_anova")
    return pd.DataFrame(
        {
            "Subject": [f"s{int(v):02d}" for v in df["Subject"]],
            "Time": df["Time"].astype(str).to_numpy(dtype=object),
            "Group": df["Group"].astype(str).to_numpy(dtype=object),
            "Scores": df["Scores"].astype(float),
        }
    )


def _mixed_unbalanced() -> pd.DataFrame:
    df = sim.simulate_mixed_design(
        n_per_group=12,
        n_within=3,
        n_between=2,
        grand_mean=10.0,
        within_effects=[0.0, 0.6, 0.9],
        between_effects=[0.0, 0.5],
        interaction=[[0.0, 0.0, 0.0], [0.0, 0.4, -0.3]],
        subj_sd=1.0,
        error_sd=1.0,
        seed=20240601,
    )
    return sim.knock_out(df, 0.1, column="y", seed=20240602)


def _two_within() -> pd.DataFrame:
    return sim.simulate_two_within(
        n_subj=20,
        n_a=3,
        n_b=2,
        grand_mean=5.0,
        a_effects=[0.0, 0.5, 0.8],
        b_effects=[0.0, 0.4],
        interaction=[[0.0, 0.0], [0.0, 0.3], [0.0, -0.2]],
        subj_sd=1.0,
        subj_a_sd=0.5,
        subj_b_sd=0.5,
        error_sd=0.7,
        seed=20240603,
    )


def _slopes_correlated() -> pd.DataFrame:
    return sim.simulate_random_slopes(
        n_subj=18, n_obs=10, beta0=250.0, beta1=10.0, subj_sd=25.0, slope_sd=6.0,
        slope_corr=0.3, error_sd=25.0, seed=20240604,
    )


def _slopes_uncorrelated() -> pd.DataFrame:
    return sim.simulate_random_slopes(
        n_subj=18, n_obs=10, beta0=250.0, beta1=10.0, subj_sd=25.0, slope_sd=6.0,
        slope_corr=0.0, error_sd=25.0, seed=20240605,
    )


def _crossed() -> pd.DataFrame:
    return sim.simulate_crossed(
        n_subj=30, n_item=16, beta0=800.0, effect=50.0, subj_sd=100.0, item_sd=80.0,
        error_sd=200.0, seed=20240606,
    )


def _nested() -> pd.DataFrame:
    return sim.simulate_nested(
        n_school=12, n_class_per_school=3, n_pupil=8, school_sd=1.0, class_sd=0.6,
        error_sd=1.0, grand_mean=0.0, sector_effect=0.8, seed=20240607,
    )


def _sleepstudy() -> pd.DataFrame:
    df = load("sleepstudy")
    return pd.DataFrame({"Reaction": df["Reaction"].astype(float),
                         "Days": df["Days"].astype(float),
                         "Subject": [f"s{int(v)}" for v in df["Subject"]]})


def _penicillin() -> pd.DataFrame:
    return load("penicillin")


def _dropout_mar() -> pd.DataFrame:
    df = simulate_dropout(
        n_subj=30, n_times=4, effect=1.0, subj_sd=1.0, error_sd=1.0, mechanism="mar",
        dropout=0.2, strength=1.5, seed=20240608,
    )
    # The scores lost to dropout are absent rows, as in a real long-format file.
    return df.dropna(subset=["y"])[["subject", "time", "y"]].reset_index(drop=True)


def _crossed_stops_short() -> pd.DataFrame:
    return sim.simulate_crossed(
        n_subj=20, n_item=16, beta0=800.0, effect=50.0, subj_sd=100.0, item_sd=80.0,
        error_sd=200.0, seed=20240606,
    )


def _crossed_subject_slopes() -> pd.DataFrame:
    return sim.simulate_crossed(
        n_subj=30, n_item=16, beta0=800.0, effect=50.0, subj_sd=100.0, item_sd=80.0,
        error_sd=200.0, subj_slope_sd=60.0, subj_slope_corr=0.3, seed=20240609,
    )


def _simulate_counterbalanced(n_subj, n_item, seed, n_rater=0) -> pd.DataFrame:
    """Participants x items with the condition within participants AND within items
    (counterbalanced: item i is "hard" for the participants with s + i odd), so that
    by-participant and by-item random slopes are both identified; optionally every trial
    scored by one of ``n_rater`` raters drawn at random (a third crossed factor)."""
    rng = np.random.default_rng(seed)
    s, i = np.meshgrid(np.arange(n_subj), np.arange(n_item), indexing="ij")
    s, i = s.ravel(), i.ravel()
    x = np.where((s + i) % 2 == 1, 0.5, -0.5)
    def correlated(n, sd0, sd1, corr):  # (intercept, slope) pairs, via the Cholesky factor
        chol = np.array([[sd0, 0.0], [corr * sd1, np.sqrt(1 - corr**2) * sd1]])
        return rng.standard_normal((n, 2)) @ chol.T

    subj = correlated(n_subj, 100.0, 40.0, 0.3)
    item = correlated(n_item, 80.0, 30.0, -0.2)
    y = 800.0 + subj[s, 0] + item[i, 0] + (50.0 + subj[s, 1] + item[i, 1]) * x
    out = {"subject": [f"s{k + 1:02d}" for k in s], "item": [f"i{k + 1:02d}" for k in i],
           "cond": np.where(x > 0, "hard", "easy")}
    if n_rater:
        r = rng.integers(0, n_rater, size=len(s))
        y = y + rng.normal(0.0, 60.0, size=n_rater)[r]
        out["rater"] = [f"r{k + 1}" for k in r]
    out["y"] = y + rng.normal(0.0, 200.0, size=len(s))
    return pd.DataFrame(out)


def _crossed_both_slopes() -> pd.DataFrame:
    return _simulate_counterbalanced(30, 20, seed=20240610)


def _three_crossed() -> pd.DataFrame:
    return _simulate_counterbalanced(24, 12, seed=20240611, n_rater=6)


def _insteval() -> pd.DataFrame:
    return load("insteval")[["y", "service", "s", "d"]]


def _fhch2010() -> pd.DataFrame:
    """afex's fhch2010 (Freeman, Heathcote, Chalmers and Hockley 2010): lexical decision
    and naming, the correct trials with 0.25 <= rt <= 2.5 s (12,688 of 13,222), the
    factors as text and +1/-1 numeric codes of task, stimulus and frequency (afex's
    ``contr.sum`` columns)."""
    df = load("fhch2010")
    keep = df["correct"].astype(bool) & (df["rt"] >= 0.25) & (df["rt"] <= 2.5)
    df = df.loc[keep].reset_index(drop=True)
    out = pd.DataFrame({c: df[c].astype(str).to_numpy(dtype=object)
                        for c in ("id", "item", "task", "stimulus", "density", "frequency")})
    out["log_rt"] = df["log_rt"].astype(float).to_numpy()
    out["task_c"] = np.where(out["task"] == "lexdec", 1.0, -1.0)
    out["stimulus_c"] = np.where(out["stimulus"] == "word", 1.0, -1.0)
    out["frequency_c"] = np.where(out["frequency"] == "high", 1.0, -1.0)
    return out


def _machines() -> pd.DataFrame:
    df = load("machines")
    return pd.DataFrame({"Worker": [f"w{int(v)}" for v in df["Worker"]],
                         "Machine": df["Machine"].astype(str).to_numpy(dtype=object),
                         "score": df["score"].astype(float)})

def _three_factor() -> pd.DataFrame:
    """2 x 2 x 2: A and B within subjects, G between (8 subjects per group), two
    observations per cell and subject, 5 % of the rows dropped at random."""
    rng = np.random.default_rng(20240612)
    s, a, b, _ = np.meshgrid(np.arange(16), np.arange(2), np.arange(2), np.arange(2),
                             indexing="ij")
    s, a, b = s.ravel(), a.ravel(), b.ravel()
    g = s // 8
    u = rng.normal(0.0, 1.0, 16)
    y = (10.0 + 0.8 * a + 0.5 * b + 0.4 * g + 0.6 * a * b - 0.7 * a * b * g + u[s]
         + rng.normal(0.0, 1.0, len(s)))
    df = pd.DataFrame({"subject": [f"s{k + 1:02d}" for k in s],
                       "A": np.array(["a1", "a2"], dtype=object)[a],
                       "B": np.array(["b1", "b2"], dtype=object)[b],
                       "G": np.array(["g1", "g2"], dtype=object)[g], "y": y})
    return sim.knock_out(df, 0.05, seed=20240613)


def _factor_covariate() -> pd.DataFrame:
    """A 3-level within factor, a 2-level between factor and a numeric subject-level
    covariate (age) that interacts with the within factor; 24 subjects. The between
    factor's labels hold a hyphen, which emmeans puts in parentheses in contrast labels."""
    rng = np.random.default_rng(20240614)
    n_subj = 24
    s, c = np.meshgrid(np.arange(n_subj), np.arange(3), indexing="ij")
    s, c = s.ravel(), c.ravel()
    age = np.round(rng.uniform(20.0, 60.0, n_subj), 1)
    group = np.arange(n_subj) % 2
    u = rng.normal(0.0, 2.0, n_subj)
    slope = np.array([0.0, 0.05, -0.04])
    y = (20.0 + np.array([0.0, 1.5, 2.0])[c] + 1.0 * group[s] + 0.1 * age[s]
         + slope[c] * age[s] + u[s] + rng.normal(0.0, 1.5, len(s)))
    return pd.DataFrame({"subject": [f"s{k + 1:02d}" for k in s],
                         "cond": np.array(["ctl", "low", "high"], dtype=object)[c],
                         "group": np.array(["g-A", "g-B"], dtype=object)[group[s]],
                         "age": age[s], "y": y})


def _pingouin_mixed_one_missing() -> pd.DataFrame:
    """The memory data with the score in row 100 missing (NA), as chapters 2 and 4 have
    it: that subject keeps two of its three scores."""
    df = _pingouin_mixed()
    df.loc[100, "Scores"] = np.nan
    return df


# --------------------------------------------------------------------------- registry
_CASE_LIST = [
    Case(
        name="seed_asker",
        description="The seed question's data (8 participants, Condition_1 within, Condition_2 "
        "between) with the model the asker wanted: a random intercept per participant.",
        formula="dependent_var ~ Condition_1*Condition_2 + (1|participant_ID)",
        make_data=_seed_data,
        afex={"dv": "dependent_var", "id": "participant_ID", "within": ["Condition_1"],
              "between": ["Condition_2"]},
        afex_comparable=False,
        notes="Balanced 2x2 mixed design, but lme4 estimates the participant variance at 0 "
        "(singular fit): lmer then pools both error strata into one residual (DenDF 12 for "
        "every term) while afex keeps the between-participant stratum (DenDF 6 for "
        "Condition_2). The afex table is stored but not compared.",
    ),
    Case(
        name="seed_answer",
        description="The seed question's accepted answer: random intercepts for participant and "
        "for both conditions, no fixed effects.",
        formula="dependent_var ~ 1 + (1|participant_ID) + (1|Condition_1) + (1|Condition_2)",
        make_data=_seed_data,
        notes="Crossed random effects for two-level factors; lme4 reports a singular fit. "
        "No fixed terms, so the ANOVA table is empty.",
    ),
    Case(
        name="mixed_balanced",
        description="pingouin's mixed_anova data: 60 subjects, Time within (3), Group between (2).",
        formula="Scores ~ Time*Group + (1|Subject)",
        make_data=_pingouin_mixed,
        afex={"dv": "Scores", "id": "Subject", "within": ["Time"], "between": ["Group"]},
        afex_comparable=True,
        pingouin={"dv": "Scores", "subject": "Subject", "within": "Time", "between": "Group"},
        notes="Balanced: lmer (1|Subject) = sphericity-assuming mixed ANOVA (afex correction "
        "'none', pingouin p_unc).",
    ),
    Case(
        name="mixed_unbalanced_missing",
        description="Simulated mixed design (3-level within, 2-level between, 24 subjects) with "
        "10% of the responses set missing at random (NA in the CSV).",
        formula="y ~ within*between + (1|subject)",
        make_data=_mixed_unbalanced,
        notes="The rows with missing y are dropped by lmer (na.omit) and by helpers.mixedlm "
        "(with a warning). No afex: aov_ez would drop every subject with a missing cell, "
        "a different data set.",
    ),
    Case(
        name="two_within",
        description="Two within factors (A: 3 levels, B: 2 levels), 20 subjects, one observation "
        "per cell, with a random intercept only.",
        formula="y ~ A*B + (1|subject)",
        make_data=_two_within,
        afex={"dv": "y", "id": "subject", "within": ["A", "B"], "between": []},
        afex_comparable=False,
        notes="afex's aov_ez tests A against subject:A, B against subject:B and A:B against the "
        "residual; lmer with only (1|subject) pools those strata, so its F tests are a "
        "different model. The afex table is stored for reference but not compared; see "
        "two_within_strata for the comparable lmer model.",
    ),
    Case(
        name="two_within_strata",
        description="Same data as two_within, with the random effects that reproduce the "
        "repeated-measures ANOVA's error strata.",
        formula="y ~ A*B + (1|subject) + (1|subject:A) + (1|subject:B)",
        make_data=_two_within,
        afex={"dv": "y", "id": "subject", "within": ["A", "B"], "between": []},
        afex_comparable=True,
        notes="With all three variances positive, lmer's Satterthwaite tests equal afex's "
        "sphericity-assuming (correction 'none') tests.",
    ),
    Case(
        name="slopes_correlated",
        description="Sleepstudy-like: 18 subjects x 10 values of a numeric x, correlated random "
        "intercepts and slopes.",
        formula="y ~ x + (1 + x|subject)",
        make_data=_slopes_correlated,
    ),
    Case(
        name="slopes_uncorrelated",
        description="Sleepstudy-like data fitted with independent random intercepts and slopes "
        "(double-bar syntax).",
        formula="y ~ x + (1 + x||subject)",
        make_data=_slopes_uncorrelated,
        notes="x is numeric, so lme4's || really removes the correlation (it would not for a "
        "factor).",
    ),
    Case(
        name="crossed",
        description="30 participants x 16 items (DeBruine & Barr design), condition within "
        "subjects and between items, crossed random intercepts.",
        formula="y ~ cond + (1|subject) + (1|item)",
        make_data=_crossed,
    ),
    Case(
        name="nested",
        description="Pupils in classes in schools (12 x 3 x 8), class labels c1-c3 repeated in "
        "every school, school-level predictor sector.",
        formula="y ~ sector + (1|school/class)",
        make_data=_nested,
        notes="The nesting comes from the formula: (1|school/class) = (1|school) + "
        "(1|school:class).",
    ),
    Case(
        name="sleepstudy",
        description="lme4's sleepstudy: reaction time over 10 days of sleep restriction, 18 "
        "subjects, correlated random intercepts and slopes (chapter 6).",
        formula="Reaction ~ Days + (1 + Days|Subject)",
        make_data=_sleepstudy,
    ),
    Case(
        name="sleepstudy_uncorrelated",
        description="sleepstudy with independent random intercepts and slopes (chapter 6).",
        formula="Reaction ~ Days + (1 + Days||Subject)",
        make_data=_sleepstudy,
    ),
    Case(
        name="penicillin",
        description="lme4's Penicillin: 6 samples crossed with 24 plates, crossed random "
        "intercepts (chapter 7).",
        formula="diameter ~ 1 + (1|plate) + (1|sample)",
        make_data=_penicillin,
        notes="No fixed terms besides the intercept, so the ANOVA table is empty.",
    ),
    Case(
        name="nested_explicit",
        description="Same data as nested, with the nesting spelled out.",
        formula="y ~ sector + (1|school) + (1|school:class)",
        make_data=_nested,
    ),
    Case(
        name="dropout_mar",
        description="Chapter 5's data set: 30 subjects x 4 time points, subjects dropping out "
        "with a probability that depends on their previous score (MAR); only the observed rows.",
        formula="y ~ time + (1|subject)",
        make_data=_dropout_mar,
        notes="Monotone dropout makes the design unbalanced; lmer uses every observed row. No "
        "afex: aov_ez would keep only the subjects with all four scores (a complete-case ANOVA, "
        "a different data set).",
    ),
    Case(
        name="crossed_stops_short",
        description="The crossed case's parameters with 20 participants: statsmodels' default "
        "fit() stops short of the optimum here (chapter 7).",
        formula="y ~ cond + (1|subject) + (1|item)",
        make_data=_crossed_stops_short,
    ),
    Case(
        name="crossed_subject_slopes",
        description="30 participants x 16 items, condition within participants and between "
        "items, with correlated by-participant random intercepts and slopes (Barr et al.'s "
        "maximal model for this design).",
        formula="y ~ cond + (1 + cond|subject) + (1|item)",
        make_data=_crossed_subject_slopes,
        statsmodels=False,
        notes="statsmodels cannot fit correlated random slopes next to a crossed factor; "
        "checked with helpers.lmer only.",
    ),
    Case(
        name="crossed_maximal",
        description="The crossed case's data (no true by-participant slopes) with the maximal "
        "model its design allows, correlated by-participant random slopes (chapter 7).",
        formula="y ~ cond + (1 + cond|subject) + (1|item)",
        make_data=_crossed,
        statsmodels=False,
        notes="Expected singular: the data were simulated without random slopes, and the "
        "slope-intercept correlation is estimated at -1. helpers.lmer only.",
    ),
    Case(
        name="crossed_both_slopes",
        description="30 participants x 20 items, condition counterbalanced (within "
        "participants and within items), correlated random intercepts and slopes for both.",
        formula="y ~ cond + (1 + cond|subject) + (1 + cond|item)",
        make_data=_crossed_both_slopes,
        statsmodels=False,
        notes="Two crossed factors with correlated slopes: helpers.lmer only.",
    ),
    Case(
        name="three_crossed",
        description="24 participants x 12 items, every trial scored by one of 6 raters: three "
        "crossed random intercepts.",
        formula="y ~ cond + (1|subject) + (1|item) + (1|rater)",
        make_data=_three_crossed,
        notes="statsmodels fits it as three variance components in one group.",
    ),
    Case(
        name="insteval",
        description="lme4's InstEval (73,421 lecture ratings, 2,972 students x 1,128 "
        "lecturers) with the model of lme4's documentation.",
        formula="y ~ service + (1|s) + (1|d)",
        make_data=_insteval,
        statsmodels=False,
        anova=False,
        compress=True,
        notes="service is 0/1 (numeric in both languages: the same fit as lme4's factor); "
        "s and d are integer labels, grouping factors in both. statsmodels runs out of "
        "memory on it, and lmerTest's Satterthwaite derivatives take minutes, so no ANOVA.",
    ),
    Case(
        name="machines",
        description="nlme's Machines (6 workers x 3 machines x 3 runs) with a factor under "
        "the double bar: lme4 reads (1 + Machine||Worker) as (1|Worker) + (0 + Machine|Worker).",
        formula="score ~ Machine + (1 + Machine||Worker)",
        make_data=_machines,
        notes="A 3 x 3 covariance matrix for Machine's indicator columns, uncorrelated with "
        "the intercept. With every machine's column present, the intercept's variance and the "
        "common part of that matrix are not separately identified (only their sum is): the "
        "random-effect check compares the sum, the covariance matrix of a worker's three "
        "machine effects.",
    ),
    Case(
        name="three_factor",
        description="2 x 2 x 2 design: A and B within subjects, G between (16 subjects), two "
        "observations per cell and subject, 5% of the rows dropped.",
        formula="y ~ A*B*G + (1|subject)",
        make_data=_three_factor,
        notes="Estimated marginal means and contrasts within the levels of two other "
        "factors (tests/r/posthoc.R).",
    ),
    Case(
        name="factor_covariate",
        description="A 3-level within factor interacting with a numeric subject-level "
        "covariate, plus a between factor (24 subjects).",
        formula="y ~ cond*age + group + (1|subject)",
        make_data=_factor_covariate,
        notes="Marginal means are taken at the covariate's mean (emmeans' default).",
    ),
    Case(
        name="mixed_one_missing",
        description="pingouin's mixed_anova data with one score (row 100) missing: 179 "
        "scores of 60 subjects (chapter 4).",
        formula="Scores ~ Time*Group + (1|Subject)",
        make_data=_pingouin_mixed_one_missing,
        notes="lmer uses all 179 scores; no afex: aov_ez would drop the subject with the "
        "missing score, a different data set.",
    ),
    Case(
        name="fhch_slopes",
        description="afex's fhch2010 (12,688 correct trials of 45 participants x 600 "
        "items, lexical decision and naming): crossed random slopes of stimulus by "
        "participant and of task by item.",
        formula="log_rt ~ task*stimulus + (1 + stimulus|id) + (1 + task|item)",
        make_data=_fhch2010,
        statsmodels=False,
        compress=True,
        notes="L-BFGS-B from lme4's start stops with the by-item correlation at -1 (the "
        "last diagonal element of T at 0, where the deviance is even in it and its "
        "gradient vanishes): the optimum needs the one-sided test at the bound.",
    ),
    Case(
        name="fhch_afex_final",
        description="afex's fhch2010, the final model of afex's mixed-model vignette: "
        "four factors, uncorrelated by-participant slopes and a correlated by-item task "
        "slope on +1/-1 codes.",
        formula="log_rt ~ task*stimulus*density*frequency + "
        "(1 + stimulus_c + frequency_c || id) + (1 + task_c | item)",
        make_data=_fhch2010,
        statsmodels=False,
        anova=False,
        compress=True,
        notes="Like fhch_slopes, a diagonal element of the by-item T stops at 0 from lme4's "
        "start. No ANOVA (lmerTest's derivatives take long on 16 fixed effects).",
    ),
]

CASES: dict[str, Case] = {c.name: c for c in _CASE_LIST}


def case_names() -> list[str]:
    """The names of all cases, in registry order."""
    return list(CASES)


def get_case(name: str) -> Case:
    """The :class:`Case` called ``name`` (``ValueError`` listing the known ones otherwise)."""
    if name not in CASES:
        raise ValueError(f"unknown reference case {name!r}; known: {', '.join(CASES)}")
    return CASES[name]


def case_data(name: str) -> pd.DataFrame:
    """The case's data, freshly generated from the registry (fixed seeds)."""
    return get_case(name).make_data()


def read_case_csv(name: str, directory: str | Path = CASES_DIR) -> pd.DataFrame:
    """The case's data as stored in ``directory/<name>.csv`` (what R read)."""
    path = Path(directory) / f"{name}.csv"
    if not path.exists() and path.with_name(f"{name}.csv.gz").exists():
        path = path.with_name(f"{name}.csv.gz")
    return pd.read_csv(path, keep_default_na=False, na_values=["NA"])


def write_case_csv(df: pd.DataFrame, path: str | Path) -> None:
    """Write one case's data: full-precision floats, ``NA`` for missing, ``\\n`` line ends."""
    compression = {"method": "gzip", "mtime": 0} if str(path).endswith(".gz") else None
    df.to_csv(path, index=False, na_rep="NA", lineterminator="\n", float_format=None,
              compression=compression)


def write_cases(directory: str | Path = CASES_DIR, verbose: bool = True) -> Path:
    """Write every case's CSV and the manifest ``cases.json`` into ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    manifest = []
    for case in CASES.values():
        df = case.make_data()
        write_case_csv(df, directory / case.file)
        manifest.append(case.manifest())
        if verbose:
            n_na = int(df.isna().any(axis=1).sum())
            print(f"{case.name:<26} {df.shape[0]:>4} rows {df.shape[1]} cols "
                  f"{n_na:>3} with NA  {case.formula}")
    with open(directory / "cases.json", "w", newline="\n") as fh:
        json.dump(manifest, fh, indent=2)
        fh.write("\n")
    return directory


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) > 1 or (argv and argv[0] in ("-h", "--help")):
        print("usage: python tests/r/reference_cases.py [OUTDIR]   (default: data/reference/cases)")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    out = write_cases(argv[0] if argv else CASES_DIR)
    print(f"wrote {len(CASES)} cases to {out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
