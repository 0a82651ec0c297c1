#!/usr/bin/env Rscript
# lme4's fits of the badly scaled cases of tests/r/scaling_cases.py.
#
# Usage, from the repository root:
#
#     python tests/r/scaling_cases.py data/reference/scaling
#     Rscript tests/r/scaling.R data/reference/scaling data/reference
#
# Reads CASES_DIR/cases.json and the CSVs beside it; writes OUT_DIR/scaling/<case>.json:
# for an lmer case the REML and the ML fit, for a glmer case the fit with
# glmerControl(tolPwrss = 1e-12) (see tests/r/glmer.R). lme4 itself may stop short on
# these surfaces: the tests hold the engine to "never a worse optimum" and compare
# estimates only where the two optima agree.

suppressPackageStartupMessages({
  library(jsonlite)
  library(lme4)
})
source(file.path(dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE),
                                                  value = TRUE)[1])), "common.R"))
invisible(Sys.setlocale("LC_COLLATE", "C"))
options(contrasts = c("contr.treatment", "contr.poly"), warn = 1)

args <- commandArgs(trailingOnly = TRUE)
cases_dir <- if (length(args) >= 1) args[[1]] else file.path("data", "reference", "scaling")
out_dir <- file.path(if (length(args) >= 2) args[[2]] else file.path("data", "reference"),
                     "scaling")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)

fit_json <- function(fit) {
  m <- fit$value
  cf <- coef(summary(m))
  list(logLik = u(num(logLik(m))), theta = num(getME(m, "theta")),
       fixef_names = rownames(cf), fixef = num(cf[, 1]), se = num(cf[, 2]),
       is_singular = u(isSingular(m)), warnings = fit$notes)
}

cases <- jsonlite::fromJSON(file.path(cases_dir, "cases.json"), simplifyVector = FALSE)
for (name in names(cases)) {
  case <- cases[[name]]
  d <- read_factors(file.path(cases_dir, paste0(case$data, ".csv")))
  f <- as.formula(case$formula)
  out <- list(case = u(name), data = u(case$data), model = u(case$model),
              family = u(case$family), formula = u(case$formula), nobs = u(nrow(d)))
  if (case$model == "lmer") {
    out$REML <- fit_json(capture(lmer(f, d, REML = TRUE)))
    out$ML <- fit_json(capture(lmer(f, d, REML = FALSE)))
  } else {
    fam <- switch(case$family, binomial = binomial(), poisson = poisson())
    out$fit <- fit_json(capture(glmer(f, d, fam, control = glmerControl(tolPwrss = 1e-12))))
  }
  out$versions <- list(R = u(R.version.string),
                       lme4 = u(as.character(packageVersion("lme4"))))
  writeLines(toJSON(out, digits = NA, pretty = TRUE),
             file.path(out_dir, paste0(name, ".json")))
  cat(name, "done\n")
}
