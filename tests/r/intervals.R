#!/usr/bin/env Rscript
# Reference values for helpers.core.intervals: R² (performance::r2_nakagawa),
# confidence intervals (lme4::confint: profile, Wald, bootMer percentile) and a
# parametric bootstrap LRT (pbkrtest::PBmodcomp).
#
# Usage, from the repository root:
#
#     Rscript tests/r/intervals.R data/reference/cases data/reference
#
# Writes OUT_DIR/intervals/<case>.json and OUT_DIR/intervals/pbmodcomp_sleepstudy.json.
# Bootstrap results are random: set.seed() fixes them; tests compare Python's
# bootstrap with them only within Monte Carlo error (the "mc_se" fields: the
# standard error of each percentile, from the binomial spread of order statistics).

suppressPackageStartupMessages({
  library(jsonlite)
  library(lme4)
  library(lmerTest)
  library(performance)
  library(pbkrtest)
})
source(file.path(dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE),
                                                  value = TRUE)[1])), "common.R"))
options(capture.labels = TRUE)  # notes read "warning: ..." or "message: ..."
invisible(Sys.setlocale("LC_COLLATE", "C"))
options(contrasts = c("contr.treatment", "contr.poly"), warn = 1)

args <- commandArgs(trailingOnly = TRUE)
cases_dir <- if (length(args) >= 1) args[[1]] else file.path("data", "reference", "cases")
out_dir <- file.path(if (length(args) >= 2) args[[2]] else file.path("data", "reference"),
                     "intervals")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)

versions <- list(R = u(R.version.string), lme4 = u(as.character(packageVersion("lme4"))),
                 performance = u(as.character(packageVersion("performance"))),
                 insight = u(as.character(packageVersion("insight"))),
                 pbkrtest = u(as.character(packageVersion("pbkrtest"))))

manifest <- jsonlite::fromJSON(file.path(cases_dir, "cases.json"), simplifyVector = FALSE)
read_case <- function(name) {
  case <- Filter(function(c) c$name == name, manifest)[[1]]
  d <- read_factors(file.path(cases_dir, paste0(name, ".csv")))
  list(formula = case$formula, data = d)
}



cases <- list(
  sleepstudy = list(profile = TRUE, boot = TRUE),
  penicillin = list(profile = TRUE, boot = FALSE),
  mixed_balanced = list(profile = TRUE, boot = FALSE),
  seed_asker = list(profile = TRUE, boot = FALSE),
  crossed_subject_slopes = list(profile = TRUE, boot = FALSE),
  # chapter 4: the memory data's parametric bootstrap (written to its own file, so that
  # mixed_balanced.json stays as it was) and the data with one score missing
  mixed_balanced_boot = list(case = "mixed_balanced", profile = FALSE, boot = TRUE),
  mixed_one_missing = list(profile = TRUE, boot = FALSE)
)

for (name in names(cases)) {
  cs <- read_case(if (is.null(cases[[name]]$case)) name else cases[[name]]$case)
  m <- lmerTest::lmer(as.formula(cs$formula), data = cs$data, REML = TRUE)
  r2 <- capture(performance::r2_nakagawa(m))
  out <- list(case = u(name), formula = u(cs$formula),
              r2 = list(marginal = u(num(r2$value$R2_marginal)),
                        conditional = u(num(r2$value$R2_conditional)),
                        notes = r2$notes),
              isSingular = u(isSingular(m)))
  wald <- confint(m, method = "Wald", oldNames = FALSE)
  out$wald <- ci_json(wald)
  if (cases[[name]]$profile) {
    pr <- capture(confint(m, method = "profile", oldNames = FALSE))
    out$profile <- ci_json(pr$value)
    out$profile$notes <- pr$notes
  }
  if (cases[[name]]$boot) {
    set.seed(20240607)
    nsim <- 1000
    fun <- function(x) {
      th <- getME(x, "theta"); nvec <- lengths(x@cnms)
      c(lme4:::Cv_to_Sv(th, n = nvec, s = sigma(x)), fixef(x))
    }
    bb <- capture(bootMer(m, FUN = fun, nsim = nsim, use.u = FALSE, type = "parametric"))
    out$boot <- boot_json(bb, rownames(confint(m, method = "Wald", oldNames = FALSE)))
  }
  out$versions <- versions
  writeLines(jsonlite::toJSON(out, digits = NA, pretty = TRUE, na = "null"),
             file.path(out_dir, paste0(name, ".json")))
  cat(name, "done\n")
}

# PBmodcomp: sleepstudy with correlated random slopes against a random intercept only,
# both fitted by ML (PBmodcomp's statistic uses ML log-likelihoods; with REML fits its
# observed statistic and its reference distribution would come from different fits)
cs <- read_case("sleepstudy")
large <- lmer(Reaction ~ Days + (1 + Days | Subject), data = cs$data, REML = FALSE)
small <- lmer(Reaction ~ Days + (1 | Subject), data = cs$data, REML = FALSE)
nsim <- 1000
# PBmodcomp ignores its seed argument for merMod fits and, with cl = NULL, may sample in
# several processes: one process (cl = 1) and set.seed make the reference repeatable
set.seed(20240607)
pb <- capture(PBmodcomp(large, small, nsim = nsim, cl = 1))
ref <- pb$value$ref
if (is.null(ref)) ref <- attr(pb$value, "ref")
tab <- pb$value$test
out <- list(case = u("pbmodcomp_sleepstudy"),
            large = u("Reaction ~ Days + (1 + Days | Subject)"),
            small = u("Reaction ~ Days + (1 | Subject)"), reml = u(FALSE),
            stat = u(num(tab["PBtest", "stat"])), p_PB = u(num(tab["PBtest", "p.value"])),
            p_chi2 = u(num(tab["LRT", "p.value"])), df = u(num(tab["LRT", "df"])),
            nsim = u(nsim), npos = u(num(pb$value$samples[["npos"]])),
            notes = pb$notes, versions = versions)
# the simulated statistics, summarised: PBmodcomp keeps them in $ref when available
if (!is.null(ref)) {
  out$ref_mean <- u(mean(ref)); out$ref_sd <- u(sd(ref))
  out$ref_q90 <- u(num(quantile(ref, 0.9))); out$ref_q90_se <- u(pct_se(ref, 0.9))
}
writeLines(jsonlite::toJSON(out, digits = NA, pretty = TRUE, na = "null"),
           file.path(out_dir, "pbmodcomp_sleepstudy.json"))
cat("pbmodcomp done\n")
