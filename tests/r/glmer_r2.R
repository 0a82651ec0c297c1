#!/usr/bin/env Rscript
# Reference values from performance::r2_nakagawa (and insight::get_variance) for
# glmer fits, read by tests/test_r2_glmer.py.
#
# Usage, from the repository root:
#
#     Rscript tests/r/glmer_r2.R data/reference/glmer data/reference
#
# GLMER_CASES_DIR holds the CSVs of tests/r/glmer.R (crossed_accuracy, small_crossed,
# counts, singular, cbpp); the fhch2010 lexical-decision trials are read from the
# book's data/fhch2010.csv (run from the repository root). Every model is fitted with
# glmerControl(tolPwrss = 1e-12), as the "tight" fits of tests/r/glmer.R, so that the
# estimates behind the variances carry no error from lme4's PIRLS tolerance. The
# script writes OUT_DIR/glmer_r2/r2.json: per case the marginal and conditional R²,
# the variance components (var.fixed, var.random, var.distribution, var.residual;
# null where insight leaves one out), the warnings insight gives, and for the Poisson
# case the intercept of the null model that insight refits for the distribution-
# specific variance. Each case also holds theta, and under "default_control" theta and
# the R² of the same model fitted with glmer's default control.

suppressPackageStartupMessages({
  library(jsonlite)
  library(lme4)
  library(performance)
})
source(file.path(dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE),
                                                  value = TRUE)[1])), "common.R"))
options(capture.trim = FALSE)  # messages kept as lme4 prints them

invisible(Sys.setlocale("LC_COLLATE", "C"))
set.seed(20240611)  # nothing draws random numbers; fixed anyway
options(contrasts = c("contr.treatment", "contr.poly"), warn = 1)

args <- commandArgs(trailingOnly = TRUE)
cases_dir <- if (length(args) >= 1) args[[1]] else
  file.path("data", "reference", "glmer")
out_dir <- if (length(args) >= 2) args[[2]] else file.path("data", "reference")
r2_dir <- file.path(out_dir, "glmer_r2")
dir.create(r2_dir, showWarnings = FALSE, recursive = TRUE)

num <- function(x) if (is.null(x)) NULL else u(as.numeric(unname(x)))

read_case <- function(name) read_factors(file.path(cases_dir, paste0(name, ".csv")))

fhch <- read_fhch2010()

cases <- glmer_cases[c("crossed_intercepts", "crossed_slopes", "saddle_start", "poisson",
                       "singular", "cbpp", "fhch_lexdec")]

tight <- glmerControl(tolPwrss = 1e-12)
out <- list()
for (name in names(cases)) {
  case <- cases[[name]]
  # fitted at the top level, with the data in a global variable, so that insight's
  # null_model() (stats::update) finds it when it refits
  d <- switch(case$data,
              cbpp = { x <- read_case("cbpp"); x$period <- factor(x$period); x },
              fhch_lexdec = droplevels(fhch[fhch$task == "lexdec", ]),
              read_case(case$data))
  fam <- switch(case$family, binomial = binomial(), poisson = poisson())
  fit <- capture(glmer(as.formula(case$formula), data = d, family = fam,
                       control = tight))
  m <- fit$value
  v <- capture(insight::get_variance(m))
  r <- capture(r2_nakagawa(m))
  vars <- v$value
  res <- list(
    data = u(case$data), family = u(case$family), formula = u(case$formula),
    r2_marginal = num(r$value$R2_marginal),
    r2_conditional = num(r$value$R2_conditional),
    var_fixed = num(vars$var.fixed), var_random = num(vars$var.random),
    var_distribution = num(vars$var.distribution),
    var_dispersion = num(vars$var.dispersion),
    var_residual = num(vars$var.residual),
    is_singular = u(isSingular(m)),
    fit_warnings = fit$notes,
    variance_warnings = unique(c(v$notes, r$notes)))
  # the same with glmer's default control (tolPwrss = 1e-7): whether insight calls
  # the fit singular (a diagonal element of theta below 1e-5) can differ between the
  # two where the optimum is on the boundary (crossed_slopes)
  md <- capture(glmer(as.formula(case$formula), data = d, family = fam))$value
  rd <- capture(r2_nakagawa(md))$value
  res$default_control <- list(theta = as.numeric(getME(md, "theta")),
                              r2_marginal = num(rd$R2_marginal),
                              r2_conditional = num(rd$R2_conditional))
  res$theta <- as.numeric(getME(m, "theta"))
  if (case$family == "poisson") {
    m0 <- insight::null_model(m)
    res$null_formula <- u(paste(deparse(formula(m0)), collapse = " "))
    res$null_intercept <- num(fixef(m0))
  }
  out[[name]] <- res
  cat(sprintf("%-20s marginal %.6f  conditional %.6f  %s\n", name,
              as.numeric(r$value$R2_marginal), as.numeric(r$value$R2_conditional),
              paste(res$variance_warnings, collapse = " | ")))
}

out$versions <- list(R = u(R.version.string),
                     lme4 = u(as.character(packageVersion("lme4"))),
                     performance = u(as.character(packageVersion("performance"))),
                     insight = u(as.character(packageVersion("insight"))))
writeLines(toJSON(out, digits = NA, auto_unbox = FALSE, pretty = TRUE, null = "null",
                  na = "null"),
           file.path(r2_dir, "r2.json"))
