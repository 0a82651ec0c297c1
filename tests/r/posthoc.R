#!/usr/bin/env Rscript
# Reference values from R's emmeans for helpers.core.posthoc (estimated marginal means
# and contrasts of mixed models).
#
# Usage, from the repository root:
#
#     Rscript tests/r/posthoc.R [CASES_DIR [OUT_DIR]]
#
# CASES_DIR (default data/reference/cases) holds cases.json and one <case>.csv per case
# (written by `python tests/r/reference_cases.py`). For every case named in QUERIES
# below, the script fits lmerTest::lmer(formula, REML = TRUE) on the case's data, asks
# emmeans for the marginal means and contrasts listed there, with Satterthwaite degrees
# of freedom (lmer.df = "satterthwaite", lmerTest's method), and writes
# OUT_DIR/posthoc/<case>.json (default OUT_DIR data/reference). The queries are stored
# in the JSON too, so that the Python tests ask exactly the same questions.
#
# Settings: factor levels sorted in the C locale (as Python's sorted() does), R's
# default treatment contrasts (emmeans' answers do not depend on them), equal weights
# over the factors not named (emmeans' default), numeric covariates at their mean,
# lmerTest.limit raised so that emmeans never falls back to asymptotic df.

suppressPackageStartupMessages({
  library(jsonlite)
  library(lme4)
  library(lmerTest)
  library(emmeans)
})
source(file.path(dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE),
                                                  value = TRUE)[1])), "common.R"))
options(capture.labels = TRUE)  # notes read "warning: ..." or "message: ..."

invisible(Sys.setlocale("LC_COLLATE", "C"))
set.seed(20240615)  # nothing draws random numbers; fixed anyway
options(contrasts = c("contr.treatment", "contr.poly"), warn = 1)
emm_options(lmer.df = "satterthwaite", lmerTest.limit = 1e6, pbkrtest.limit = 0)

args <- commandArgs(trailingOnly = TRUE)
cases_dir <- if (length(args) >= 1) args[[1]] else
  file.path("data", "reference", "cases")
out_dir <- if (length(args) >= 2) args[[2]] else file.path("data", "reference")
out_dir <- file.path(out_dir, "posthoc")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)


versions <- list(
  R = u(R.version.string),
  lme4 = u(as.character(packageVersion("lme4"))),
  lmerTest = u(as.character(packageVersion("lmerTest"))),
  emmeans = u(as.character(packageVersion("emmeans"))),
  jsonlite = u(as.character(packageVersion("jsonlite")))
)

# ------------------------------------------------------------------------- the queries
# em(specs, by): marginal means; co(specs, by, method, adjust): contrasts among them.
# method is "pairwise", "trt.vs.ctrl" or a named list of weight vectors.
em <- function(specs, by = NULL) list(specs = specs, by = by)
co <- function(specs, by = NULL, method = "pairwise", adjust = "tukey") {
  list(specs = specs, by = by, method = method, adjust = adjust)
}
ADJUSTS <- c("tukey", "holm", "bonferroni", "none")

QUERIES <- list(
  mixed_balanced = list(
    emmeans = list(em("Time"), em("Group"), em("Time", "Group"), em("Group", "Time"),
                   em(c("Time", "Group"))),
    contrasts = c(
      lapply(ADJUSTS, function(a) co("Time", adjust = a)),
      lapply(ADJUSTS, function(a) co("Time", "Group", adjust = a)),
      list(co("Group"), co("Group", "Time"),
           co("Time", method = "trt.vs.ctrl", adjust = "tukey"),
           co("Time", method = "trt.vs.ctrl", adjust = "holm"),
           co("Time", "Group", method = "trt.vs.ctrl", adjust = "bonferroni"),
           co(c("Time", "Group"), adjust = "tukey"),
           co(c("Time", "Group"), adjust = "holm"),
           co("Time", method = list("August - rest" = c(1, -0.5, -0.5),
                                    "January - June" = c(0, 1, -1)), adjust = "none"),
           co("Time", method = list("August - rest" = c(1, -0.5, -0.5),
                                    "January - June" = c(0, 1, -1)), adjust = "tukey"),
           co("Time", "Group", method = list("linear" = c(-1, 0, 1)), adjust = "holm"))
    )
  ),
  mixed_unbalanced_missing = list(
    emmeans = list(em("within"), em("between"), em("within", "between"),
                   em(c("within", "between"))),
    contrasts = c(
      lapply(ADJUSTS, function(a) co("within", adjust = a)),
      list(co("within", "between"), co("between", "within", adjust = "holm"),
           co("within", method = "trt.vs.ctrl", adjust = "tukey"),
           co(c("within", "between"), adjust = "tukey"))
    )
  ),
  three_factor = list(
    emmeans = list(em("A"), em("A", c("B", "G")), em(c("A", "B"), "G"),
                   em(c("A", "B", "G"))),
    contrasts = list(
      co("A", c("B", "G"), adjust = "tukey"), co("B", c("A", "G"), adjust = "none"),
      co(c("A", "B"), "G", adjust = "tukey"), co(c("A", "B"), "G", adjust = "holm"),
      co(c("A", "B"), "G", method = "trt.vs.ctrl", adjust = "bonferroni"),
      co(c("A", "B", "G"), adjust = "tukey")
    )
  ),
  factor_covariate = list(
    emmeans = list(em("cond"), em("group"), em("cond", "group"),
                   em(c("cond", "group"))),
    contrasts = list(
      co("cond", adjust = "tukey"), co("cond", adjust = "holm"), co("group"),
      co("cond", method = "trt.vs.ctrl", adjust = "tukey"),
      co(c("cond", "group"), adjust = "tukey"),
      co("group", "cond", adjust = "none"),
      co("cond", method = list("treated - ctl" = c(-1, 0.5, 0.5)), adjust = "none")
    )
  ),
  two_within = list(
    emmeans = list(em("A"), em("B"), em("A", "B"), em(c("A", "B"))),
    contrasts = c(
      lapply(ADJUSTS, function(a) co("A", adjust = a)),
      list(co("A", "B", adjust = "tukey"), co("B", "A"), co(c("A", "B")))
    )
  ),
  crossed = list(
    emmeans = list(em("cond")),
    contrasts = list(co("cond"), co("cond", method = "trt.vs.ctrl"))
  ),
  seed_asker = list(
    emmeans = list(em("Condition_1"), em("Condition_2"),
                   em("Condition_1", "Condition_2"),
                   em(c("Condition_1", "Condition_2"))),
    contrasts = list(co("Condition_1"),
                     co("Condition_1", "Condition_2", adjust = "holm"),
                     co(c("Condition_1", "Condition_2"), adjust = "tukey"),
                     co(c("Condition_1", "Condition_2"), adjust = "bonferroni"))
  ),
  crossed_subject_slopes = list(
    emmeans = list(em("cond")),
    contrasts = list(co("cond"))
  ),
  dropout_mar = list(
    emmeans = list(em("time")),
    contrasts = list(co("time", adjust = "tukey"),
                     co("time", method = "trt.vs.ctrl", adjust = "holm"))
  ),
  nested = list(
    emmeans = list(em("sector")),
    contrasts = list(co("sector"))
  ),
  # chapter 4: the memory data with one score missing (row 100)
  mixed_one_missing = list(
    emmeans = list(em("Time"), em("Group"), em("Time", "Group")),
    contrasts = list(co("Time", adjust = "tukey"), co("Group", "Time", adjust = "holm"))
  )
)

# ------------------------------------------------------------------------- helpers
table_json <- function(s, cols) {
  out <- list()
  for (nm in names(s)) {
    v <- s[[nm]]
    out[[nm]] <- if (is.factor(v) || is.character(v)) chr(as.character(v)) else num(v)
  }
  out
}

query_json <- function(q) {
  method <- if (is.list(q$method)) lapply(q$method, num) else u(q$method)
  list(specs = chr(q$specs), by = chr(if (is.null(q$by)) character(0) else q$by),
       method = method, adjust = u(if (is.null(q$adjust)) NA else q$adjust))
}

# The adjustment emmeans used, read from its annotation ("P value adjustment: sidak
# method for 2 tests"); none when there is no such line.
adjust_used <- function(mesg) {
  hit <- regmatches(mesg, regexpr("P value adjustment: [a-z]+", mesg))
  if (length(hit) == 0) "none" else sub("P value adjustment: ", "", hit[[1]])
}

# ------------------------------------------------------------------------- the cases
manifest <- jsonlite::fromJSON(file.path(cases_dir, "cases.json"),
                               simplifyVector = FALSE)
formulas <- setNames(lapply(manifest, function(x) x$formula),
                     vapply(manifest, function(x) x$name, ""))

for (name in names(QUERIES)) {
  if (is.null(formulas[[name]])) {
    stop("case ", name, " is not in ", cases_dir, "/cases.json")
  }
  d <- read.csv(file.path(cases_dir, paste0(name, ".csv")), stringsAsFactors = FALSE,
                na.strings = "NA")
  fit <- capture(lmerTest::lmer(as.formula(formulas[[name]]), data = d, REML = TRUE))
  m <- fit$value
  qs <- QUERIES[[name]]
  emm_out <- lapply(qs$emmeans, function(q) {
    r <- capture(summary(emmeans(m, specs = q$specs, by = q$by), level = 0.95))
    c(query_json(q)[c("specs", "by")],
      list(level = u(0.95), notes = chr(c(r$notes, attr(r$value, "mesg"))),
           table = table_json(as.data.frame(r$value))))
  })
  con_out <- lapply(qs$contrasts, function(q) {
    r <- capture({
      e <- emmeans(m, specs = q$specs, by = q$by)
      summary(contrast(e, method = q$method, adjust = q$adjust), infer = c(FALSE, TRUE))
    })
    mesg <- chr(attr(r$value, "mesg"))
    c(query_json(q),
      list(adjust_used = u(adjust_used(mesg)), notes = chr(c(r$notes, mesg)),
           table = table_json(as.data.frame(r$value))))
  })
  out <- list(
    case = u(name),
    formula = u(formulas[[name]]),
    nobs = u(nobs(m)),
    isSingular = u(isSingular(m)),
    fit_notes = chr(fit$notes),
    emmeans = emm_out,
    contrasts = con_out,
    versions = versions
  )
  jsonlite::write_json(out, file.path(out_dir, paste0(name, ".json")), digits = NA,
                       pretty = TRUE, auto_unbox = FALSE, na = "null", null = "null")
  cat(sprintf("%-26s n=%4d  singular=%-5s  emmeans=%2d  contrasts=%2d\n", name, nobs(m),
              isSingular(m), length(emm_out), length(con_out)))
}
