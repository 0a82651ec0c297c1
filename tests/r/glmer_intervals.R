#!/usr/bin/env Rscript
# Reference values for helpers.confint, helpers.profile and helpers.lrt(method =
# "bootstrap") on glmer fits: lme4's confint (Wald, profile, bootMer percentile) and
# pbkrtest's PBmodcomp.
#
# Usage, from the repository root:
#
#     python tests/r/glmer_cases.py data/reference/glmer    # the simulated data
#     Rscript tests/r/glmer_intervals.R data/reference/glmer data/reference
#
# Reads the CSVs of GLMER_CASES_DIR (cbpp.csv is written by tests/r/glmer.R) and writes
# OUT_DIR/glmer_intervals/<case>.json. Every model is fitted with
# glmerControl(tolPwrss = 1e-12), the tight inner tolerance of tests/r/glmer.R, so that
# its deviance, and the profile built on it, carry no error of 1e-3. Bootstrap results
# are random: set.seed() fixes them, and the tests compare within Monte Carlo error
# (the "mc_se" fields, as in tests/r/intervals.R).

suppressPackageStartupMessages({
  library(jsonlite)
  library(lme4)
  library(pbkrtest)
})
source(file.path(dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE),
                                                  value = TRUE)[1])), "common.R"))
invisible(Sys.setlocale("LC_COLLATE", "C"))
options(contrasts = c("contr.treatment", "contr.poly"), warn = 1)

args <- commandArgs(trailingOnly = TRUE)
cases_dir <- if (length(args) >= 1) args[[1]] else file.path("data", "reference", "glmer")
out_dir <- file.path(if (length(args) >= 2) args[[2]] else file.path("data", "reference"),
                     "glmer_intervals")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
tight <- glmerControl(tolPwrss = 1e-12)
versions <- list(R = u(R.version.string), lme4 = u(as.character(packageVersion("lme4"))),
                 pbkrtest = u(as.character(packageVersion("pbkrtest"))))

read_case <- function(name) {
  d <- read_factors(file.path(cases_dir, paste0(name, ".csv")))
  if ("period" %in% names(d)) d$period <- factor(d$period)
  d
}
cases <- list(
  cbpp = list(data = "cbpp", family = "binomial", boot = TRUE,
              formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)"),
  crossed_intercepts = list(data = "crossed_accuracy", family = "binomial", boot = FALSE,
                            formula = "correct ~ cond + (1 | subject) + (1 | item)"),
  poisson = list(data = "counts", family = "poisson", boot = FALSE,
                 formula = "count ~ x + (1 | site)"),
  agq9 = list(data = "scalar", family = "binomial", boot = FALSE, nAGQ = 9,
              formula = "y ~ x + (1 | cluster)")
)

for (name in names(cases)) {
  case <- cases[[name]]
  d <- read_case(case$data)
  nAGQ <- if (is.null(case$nAGQ)) 1L else case$nAGQ
  fam <- switch(case$family, binomial = binomial(), poisson = poisson())
  m <- glmer(as.formula(case$formula), data = d, family = fam, nAGQ = nAGQ,
             control = tight)
  out <- list(case = u(name), data = u(case$data), family = u(case$family),
              formula = u(case$formula), nAGQ = u(nAGQ), logLik = u(num(logLik(m))))
  out$wald <- ci_json(confint(m, method = "Wald", oldNames = FALSE))
  pr <- capture(confint(m, method = "profile", oldNames = FALSE))
  out$profile <- ci_json(pr$value)
  out$profile$notes <- pr$notes
  if (case$boot) {
    set.seed(20240607)
    nsim <- 500
    fun <- function(x) {
      c(as.data.frame(VarCorr(x), order = "lower.tri")$sdcor, fixef(x))
    }
    bb <- capture(bootMer(m, FUN = fun, nsim = nsim, use.u = FALSE, type = "parametric"))
    out$boot <- boot_json(bb, out$wald$names)
  }
  out$versions <- versions
  writeLines(jsonlite::toJSON(out, digits = NA, pretty = TRUE, na = "null"),
             file.path(out_dir, paste0(name, ".json")))
  cat(name, "done\n")
}

# PBmodcomp between nested glmer fits: does the period matter in cbpp?
d <- read_case("cbpp")
large <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), d, binomial,
               control = tight)
small <- glmer(cbind(incidence, size - incidence) ~ 1 + (1 | herd), d, binomial,
               control = tight)
nsim <- 500
set.seed(20240607)
pb <- capture(PBmodcomp(large, small, nsim = nsim, cl = 1))
tab <- pb$value$test
ref <- pb$value$ref
if (is.null(ref)) ref <- attr(pb$value, "ref")
out <- list(case = u("pbmodcomp_cbpp"),
            large = u("cbind(incidence, size - incidence) ~ period + (1 | herd)"),
            small = u("cbind(incidence, size - incidence) ~ 1 + (1 | herd)"),
            stat = u(num(tab["PBtest", "stat"])), p_PB = u(num(tab["PBtest", "p.value"])),
            p_chi2 = u(num(tab["LRT", "p.value"])), df = u(num(tab["LRT", "df"])),
            nsim = u(nsim), notes = pb$notes, versions = versions)
if (!is.null(ref)) {
  out$ref_mean <- u(mean(ref)); out$ref_sd <- u(sd(ref))
}
writeLines(jsonlite::toJSON(out, digits = NA, pretty = TRUE, na = "null"),
           file.path(out_dir, "pbmodcomp_cbpp.json"))
cat("pbmodcomp_cbpp done\n")
