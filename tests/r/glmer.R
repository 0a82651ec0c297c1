#!/usr/bin/env Rscript
# Reference values from lme4::glmer for tests/test_glmer.py.
#
# Usage, from the repository root:
#
#     python tests/r/glmer_cases.py data/reference/glmer   # simulated data (fixed seeds)
#     Rscript tests/r/glmer.R data/reference/glmer data/reference
#
# GLMER_CASES_DIR holds the CSVs written by tests/r/glmer_cases.py; lme4's cbpp is
# exported here into OUT_DIR/glmer/cbpp.csv, and afex's fhch2010 is read from the
# book's data/fhch2010.csv (run from the repository root). Every case is fitted with glmer's defaults (Laplace,
# nAGQ = 1, optimizer c("bobyqa", "Nelder_Mead")) unless it says nAGQ; the script writes
# OUT_DIR/glmer/<case>.json. Every case is also refitted with a tight tolerance for the
# penalized IRLS inner loop, glmerControl(tolPwrss = 1e-12) (lme4's default is 1e-7: its
# deviance then carries an error of about 1e-3, which moves the finite-difference
# Hessian and so the standard errors by up to 1-2 %); that fit is stored under "tight".
# Factor levels: C-locale sorted, except fhch2010's, which
# keep afex's order (task naming, lexdec; stimulus word, nonword; frequency low, high),
# the order helpers.load("fhch2010") gives.

suppressPackageStartupMessages({
  library(jsonlite)
  library(lme4)
})
source(file.path(dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE),
                                                  value = TRUE)[1])), "common.R"))
options(capture.trim = FALSE)  # messages kept as lme4 prints them

invisible(Sys.setlocale("LC_COLLATE", "C"))
set.seed(20240611)  # nothing draws random numbers; fixed anyway
options(contrasts = c("contr.treatment", "contr.poly"), warn = 1)

args <- commandArgs(trailingOnly = TRUE)
cases_dir <- if (length(args) >= 1) args[[1]] else file.path("data", "reference", "glmer")
out_dir <- if (length(args) >= 2) args[[2]] else file.path("data", "reference")
glmer_dir <- file.path(out_dir, "glmer")
dir.create(glmer_dir, showWarnings = FALSE, recursive = TRUE)

read_case <- function(name, dir = cases_dir) {
  read_factors(file.path(dir, paste0(name, ".csv")))
}

# cbpp, exported once so that Python reads the same rows
cbpp_out <- lme4::cbpp
write.csv(data.frame(herd = as.character(cbpp_out$herd),
                     incidence = cbpp_out$incidence, size = cbpp_out$size,
                     period = as.character(cbpp_out$period)),
          file.path(glmer_dir, "cbpp.csv"), row.names = FALSE)

fhch <- read_fhch2010()

cases <- glmer_cases

only <- if (length(args) >= 3) args[-(1:2)] else names(cases)

for (name in intersect(only, names(cases))) {
  case <- cases[[name]]
  d <- switch(case$data,
              cbpp = { x <- read_case("cbpp", glmer_dir); x$period <- factor(x$period); x },
              fhch_lexdec = droplevels(fhch[fhch$task == "lexdec", ]),
              fhch_all = fhch,
              read_case(case$data))
  nAGQ <- if (is.null(case$nAGQ)) 1L else case$nAGQ
  fam <- switch(case$family, binomial = binomial(), poisson = poisson())
  t0 <- proc.time()[["elapsed"]]
  fit <- capture(glmer(as.formula(case$formula), data = d, family = fam, nAGQ = nAGQ))
  elapsed <- proc.time()[["elapsed"]] - t0
  m <- fit$value
  s <- summary(m)
  coefs <- coef(s)
  vc <- as.data.frame(VarCorr(m))
  re <- ranef(m)
  ranef_out <- lapply(names(re), function(g) {
    list(group = u(g), levels = rownames(re[[g]]),
         effects = lapply(as.list(re[[g]]), num))
  })
  ll <- logLik(m)
  t1 <- proc.time()[["elapsed"]]
  tight <- capture(glmer(as.formula(case$formula), data = d, family = fam, nAGQ = nAGQ,
                         control = glmerControl(tolPwrss = 1e-12)))
  tight_elapsed <- proc.time()[["elapsed"]] - t1
  mt <- tight$value
  ct <- coef(summary(mt))
  vct <- as.data.frame(VarCorr(mt))
  tight_out <- list(logLik = u(num(logLik(mt))), deviance = u(deviance(mt)),
                    fixef = num(ct[, 1]), se = num(ct[, 2]), z = num(ct[, 3]),
                    p = num(ct[, 4]), theta = num(getME(mt, "theta")),
                    sdcor = num(vct$sdcor), is_singular = u(isSingular(mt)),
                    warnings = tight$notes)
  conv <- m@optinfo$conv$lme4$messages
  res <- list(
    case = u(name), data = u(case$data), family = u(case$family),
    formula = u(case$formula), nAGQ = u(nAGQ), nobs = u(nobs(m)),
    logLik = u(num(ll)), df = u(attr(ll, "df")), AIC = u(AIC(m)), BIC = u(BIC(m)),
    deviance = u(deviance(m)), minus2logLik = u(-2 * num(ll)),
    fixef_names = rownames(coefs), fixef = num(coefs[, 1]), se = num(coefs[, 2]),
    z = num(coefs[, 3]), p = num(coefs[, 4]),
    vcov = unname(as.matrix(vcov(m))),
    theta = num(getME(m, "theta")), theta_names = names(getME(m, "theta")),
    varcorr = list(grp = vc$grp, var1 = ifelse(is.na(vc$var1), "", vc$var1),
                   var2 = ifelse(is.na(vc$var2), "", vc$var2),
                   vcov = num(vc$vcov), sdcor = num(vc$sdcor)),
    ranef = ranef_out,
    fitted_head = num(head(fitted(m), 20)),
    is_singular = u(isSingular(m)),
    warnings = fit$notes,
    convergence_messages = if (is.null(conv)) character(0) else conv,
    tight = tight_out,
    versions = list(R = u(R.version.string),
                    lme4 = u(as.character(packageVersion("lme4"))))
  )
  if (case$data == "fhch_all") {
    tab <- aggregate(correct ~ task + stimulus, data = d, FUN = mean)
    res$cell_means <- list(task = as.character(tab$task),
                           stimulus = as.character(tab$stimulus),
                           mean = num(tab$correct))
  }
  writeLines(toJSON(res, digits = NA, auto_unbox = FALSE, pretty = TRUE),
             file.path(glmer_dir, paste0(name, ".json")))
  cat(sprintf("%-20s logLik %.6f  %.1f s  %s\n", name, num(ll), elapsed,
              paste(fit$notes, collapse = " | ")))
}

# emmeans on a GLMM (link scale, df = Inf; type = "response"; regrid) and anova()
# between nested glmer fits; both on tight-tolerance fits (see above)
if (length(args) < 3 || "extras" %in% only) {
  suppressPackageStartupMessages(library(emmeans))
  tight <- glmerControl(tolPwrss = 1e-12)
  d <- read_case("cbpp")
  d$period <- factor(d$period)
  m <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), d, binomial,
             control = tight)
  emm <- emmeans(m, "period")
  tab <- function(x) {
    s <- as.data.frame(summary(x))
    lapply(s, function(v) {
      if (is.factor(v) || is.character(v)) as.character(v) else num(v)
    })
  }
  posthoc <- list(
    formula = u("cbind(incidence, size - incidence) ~ period + (1 | herd)"),
    emmeans_link = tab(emm),
    emmeans_response = tab(emmeans(m, "period", type = "response")),
    pairs_link = tab(pairs(emm)),
    pairs_regrid = tab(pairs(regrid(emm))),
    versions = list(emmeans = u(as.character(packageVersion("emmeans")))))
  writeLines(toJSON(posthoc, digits = NA, pretty = TRUE),
             file.path(glmer_dir, "posthoc_cbpp.json"))
  d <- read_case("crossed_accuracy")
  m0 <- glmer(correct ~ 1 + (1 | subject) + (1 | item), d, binomial, control = tight)
  m1 <- glmer(correct ~ cond + (1 | subject) + (1 | item), d, binomial, control = tight)
  a <- anova(m0, m1)
  lrt <- list(reduced = u("correct ~ 1 + (1 | subject) + (1 | item)"),
              full = u("correct ~ cond + (1 | subject) + (1 | item)"),
              logLik = num(a$logLik), npar = num(a$npar), chisq = u(num(a$Chisq)[2]),
              df = u(num(a$Df)[2]), p = u(num(a[["Pr(>Chisq)"]])[2]))
  writeLines(toJSON(lrt, digits = NA, pretty = TRUE),
             file.path(glmer_dir, "lrt_crossed.json"))
  cat("posthoc_cbpp, lrt_crossed written\n")
}
