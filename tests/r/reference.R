#!/usr/bin/env Rscript
# Reference values from R for the cross-check cases of tests/r/reference_cases.py.
#
# Usage, from the repository root:
#
#     Rscript tests/r/reference.R [CASES_DIR [OUT_DIR]]
#
# CASES_DIR (default data/reference/cases) holds cases.json (the manifest
# written by `python tests/r/reference_cases.py`) and one <case>.csv per case.
# For every case the script fits lmerTest::lmer(formula, REML = TRUE), and, if
# the case names afex arguments, afex::aov_ez(); it writes OUT_DIR/<case>.json
# (default data/reference) and prints one line per case.
#
# Deterministic inputs and settings: no random numbers, factor levels sorted in
# the C locale (as Python's sorted() does), R's default treatment contrasts,
# JSON numbers at full precision (digits = NA). Two runs on one machine can
# still differ around the 10th significant digit for a few cases (lme4's
# optimiser path is not bit-reproducible), which is why
# tests/r/check_reference.sh compares with a 1e-6 relative tolerance.

suppressPackageStartupMessages({
  library(jsonlite)
  library(lme4)
  library(lmerTest)
  library(afex)
})
source(file.path(dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE),
                                                  value = TRUE)[1])), "common.R"))
options(capture.labels = TRUE)  # notes read "warning: ..." or "message: ..."

invisible(Sys.setlocale("LC_COLLATE", "C"))
set.seed(20240601)  # nothing should draw random numbers; fixed anyway
options(contrasts = c("contr.treatment", "contr.poly"), warn = 1)

args <- commandArgs(trailingOnly = TRUE)
cases_dir <- if (length(args) >= 1) args[[1]] else file.path("data", "reference", "cases")
out_dir <- if (length(args) >= 2) args[[2]] else file.path("data", "reference")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)


versions <- list(
  R = u(R.version.string),
  lme4 = u(as.character(packageVersion("lme4"))),
  lmerTest = u(as.character(packageVersion("lmerTest"))),
  afex = u(as.character(packageVersion("afex"))),
  car = u(as.character(packageVersion("car"))),
  Matrix = u(as.character(packageVersion("Matrix"))),
  jsonlite = u(as.character(packageVersion("jsonlite")))
)

anova_json <- function(a) {
  list(
    term = chr(rownames(a)),
    NumDF = num(a[["NumDF"]]),
    DenDF = num(a[["DenDF"]]),
    F = num(a[["F value"]]),
    p = num(a[["Pr(>F)"]])
  )
}

afex_json <- function(tab) {
  list(
    term = chr(rownames(tab)),
    NumDF = num(tab[["num Df"]]),
    DenDF = num(tab[["den Df"]]),
    MSE = num(tab[["MSE"]]),
    F = num(tab[["F"]]),
    p = num(tab[["Pr(>F)"]])
  )
}

manifest <- jsonlite::fromJSON(file.path(cases_dir, "cases.json"), simplifyVector = FALSE)

for (case in manifest) {
  name <- case$name
  file <- file.path(cases_dir, paste0(name, ".csv"))
  if (!file.exists(file)) file <- paste0(file, ".gz")  # large data, gzip-compressed
  d <- read.csv(file, stringsAsFactors = FALSE, na.strings = "NA")
  # anova = false in the manifest: no Satterthwaite ANOVA (lmerTest's derivatives would
  # take minutes on a large data set), so the plain lme4 fit is enough
  with_anova <- !isFALSE(case$anova)
  lmer_fun <- if (with_anova) lmerTest::lmer else lme4::lmer
  fit <- capture(lmer_fun(as.formula(case$formula), data = d, REML = isTRUE(case$reml)))
  m <- fit$value
  vc <- as.data.frame(VarCorr(m))
  ll <- logLik(m)
  a3 <- if (with_anova) {
    anova(m, type = 3, ddf = "Satterthwaite")
  } else {
    data.frame(NumDF = numeric(0), DenDF = numeric(0), "F value" = numeric(0),
               "Pr(>F)" = numeric(0), check.names = FALSE)
  }
  out <- list(
    case = u(name),
    formula = u(case$formula),
    reml = u(isTRUE(case$reml)),
    nobs = u(nobs(m)),
    ngrps = as.list(ngrps(m)),
    fixef = list(
      names = chr(names(fixef(m))),
      estimate = num(fixef(m)),
      se = num(sqrt(diag(as.matrix(vcov(m)))))
    ),
    varcorr = list(
      grp = chr(vc$grp),
      var1 = chr(vc$var1),
      var2 = chr(vc$var2),
      vcov = num(vc$vcov),
      sdcor = num(vc$sdcor)
    ),
    sigma = u(sigma(m)),
    logLik = u(as.numeric(ll)),
    logLik_df = u(attr(ll, "df")),
    REMLcrit = u(as.numeric(REMLcrit(m))),
    theta = num(getME(m, "theta")),
    isSingular = u(isSingular(m)),
    optimizer = u(m@optinfo$optimizer),
    fit_notes = chr(fit$notes),
    anova = anova_json(a3),
    versions = versions
  )
  if (!is.null(case$afex)) {
    af <- case$afex
    within <- unlist(af$within)
    between <- unlist(af$between)
    if (length(within) == 0) within <- NULL
    if (length(between) == 0) between <- NULL
    a <- capture(afex::aov_ez(
      id = af$id, dv = af$dv, data = d, within = within, between = between, type = 3,
      anova_table = list(correction = "none", es = "none")
    ))
    out$afex <- list(
      args = list(dv = u(af$dv), id = u(af$id), within = chr(within), between = chr(between)),
      none = afex_json(a$value$anova_table),
      GG = afex_json(anova(a$value, correction = "GG", es = "none")),
      notes = chr(a$notes)
    )
  }
  jsonlite::write_json(out, file.path(out_dir, paste0(name, ".json")),
                       digits = NA, pretty = TRUE, auto_unbox = FALSE, na = "null", null = "null")
  cat(sprintf("%-26s n=%4d  logLik=%12.6f  singular=%-5s  fixef=%d  anova=%d  afex=%s\n",
              name, nobs(m), as.numeric(ll), isSingular(m), length(fixef(m)), nrow(a3),
              if (is.null(case$afex)) "-" else "yes"))
}
