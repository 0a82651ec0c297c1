#!/usr/bin/env bash
# Regenerate the R reference values and check them against the committed ones.
#
#   tests/r/check_reference.sh            # regenerate into a temporary folder and compare
#   tests/r/check_reference.sh --update   # regenerate in place (data/reference/)
#
# 1. python tests/r/reference_cases.py writes every case's CSV and cases.json
#    from the registry (fixed seeds);
# 2. Rscript tests/r/reference.R fits lmerTest::lmer / afex::aov_ez and writes
#    one JSON per case;
# 3. Rscript tests/r/posthoc.R and tests/r/intervals.R write emmeans/contrasts and
#    r2_nakagawa/confint/bootMer/PBmodcomp values into posthoc/ and intervals/;
#    tests/r/glmer_cases.py and tests/r/glmer.R write lme4::glmer's fits into glmer/,
#    tests/r/glmer_intervals.R their confint/bootMer/PBmodcomp into glmer_intervals/ and
#    tests/r/glmer_r2.R their r2_nakagawa into glmer_r2/; tests/r/scaling_cases.py and
#    tests/r/scaling.R lme4's fits of covariates in the thousands into scaling/;
#    tests/r/power.R writes power.t.test's closed-form power into power/, and
#    tests/r/binary.R chapter 13's glmer, emmeans, afex and geepack values into binary/;
#    tests/r/fhch2010.R chapter 11's model selection and final model into fhch2010/;
# 4. tests/r/json_compare.py compares the fresh files with data/reference/
#    (numbers within 1e-6 relative; R/package versions reported, not failed).
# Exits non-zero, printing the differences, when they disagree.
# Set PYTHON to choose the interpreter (default: .venv/bin/python, else python3).
set -euo pipefail

cd "$(dirname "$0")/../.."
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
command -v Rscript >/dev/null || { echo "check_reference.sh: Rscript not found" >&2; exit 2; }

if [[ "${1:-}" == "--update" ]]; then
    "$PYTHON" tests/r/reference_cases.py data/reference/cases
    Rscript tests/r/reference.R data/reference/cases data/reference
    Rscript tests/r/posthoc.R data/reference/cases data/reference
    Rscript tests/r/intervals.R data/reference/cases data/reference
    Rscript tests/r/power.R data/reference/cases data/reference
    Rscript tests/r/binary.R data/reference/cases data/reference
    Rscript tests/r/fhch2010.R data/reference/cases data/reference
    "$PYTHON" tests/r/glmer_cases.py data/reference/glmer
    Rscript tests/r/glmer.R data/reference/glmer data/reference
    Rscript tests/r/glmer_intervals.R data/reference/glmer data/reference
    Rscript tests/r/glmer_r2.R data/reference/glmer data/reference
    "$PYTHON" tests/r/scaling_cases.py data/reference/scaling
    Rscript tests/r/scaling.R data/reference/scaling data/reference
    Rscript data/r/export_lme4_data.R data
    echo "updated data/reference/ -- review the diff and update data/reference/README.md if versions changed"
    exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/cases"
"$PYTHON" tests/r/reference_cases.py "$tmp/cases"
Rscript tests/r/reference.R "$tmp/cases" "$tmp"
Rscript tests/r/posthoc.R "$tmp/cases" "$tmp"
Rscript tests/r/intervals.R "$tmp/cases" "$tmp"
Rscript tests/r/power.R "$tmp/cases" "$tmp"
Rscript tests/r/binary.R "$tmp/cases" "$tmp"
Rscript tests/r/fhch2010.R "$tmp/cases" "$tmp"
mkdir -p "$tmp/glmer"
"$PYTHON" tests/r/glmer_cases.py "$tmp/glmer"
Rscript tests/r/glmer.R "$tmp/glmer" "$tmp"
Rscript tests/r/glmer_intervals.R "$tmp/glmer" "$tmp"
Rscript tests/r/glmer_r2.R "$tmp/glmer" "$tmp"
mkdir -p "$tmp/scaling"
"$PYTHON" tests/r/scaling_cases.py "$tmp/scaling"
Rscript tests/r/scaling.R "$tmp/scaling" "$tmp"
"$PYTHON" tests/r/json_compare.py data/reference "$tmp" --rtol 1e-6

# The lme4 data sets shipped in data/ must be exactly what lme4 has.
mkdir -p "$tmp/lme4"
Rscript data/r/export_lme4_data.R "$tmp/lme4"
for f in sleepstudy.csv penicillin.csv machines.csv fhch2010.csv; do
    diff -u "data/$f" "$tmp/lme4/$f" || { echo "data/$f differs from R's data" >&2; exit 1; }
done
cmp data/insteval.csv.gz "$tmp/lme4/insteval.csv.gz" \
    || { echo "data/insteval.csv.gz differs from lme4's data" >&2; exit 1; }
echo "lme4 and nlme data sets agree"
