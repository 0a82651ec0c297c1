#!/usr/bin/env Rscript
# Reference values for the binary-outcomes chapter (chapters/13_binary_outcomes.ipynb,
# tests/test_chapter_13.py), beyond those of tests/r/glmer.R (data/reference/glmer/).
#
# Usage, from the repository root:
#
#     Rscript tests/r/binary.R data/reference/cases data/reference
#
# CASES_DIR is not read (the data are the book's data/fhch2010.csv, as in glmer.R); the
# script writes OUT_DIR/binary/*.json. Factor levels keep afex's order (task naming,
# lexdec; stimulus word, nonword; frequency low, high), as helpers.load("fhch2010") has.
# glmer fits are lme4's defaults and, under "tight", the same fit with
# glmerControl(tolPwrss = 1e-12) (see data/reference/glmer/README.md for why).

suppressPackageStartupMessages({
  library(jsonlite)
  library(lme4)
  library(emmeans)
  library(afex)
  library(geepack)
})
source(file.path(dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE),
                                                  value = TRUE)[1])), "common.R"))

invisible(Sys.setlocale("LC_COLLATE", "C"))
set.seed(20240801)  # nothing draws random numbers; fixed anyway
options(contrasts = c("contr.treatment", "contr.poly"), warn = 1)

args <- commandArgs(trailingOnly = TRUE)
out_dir <- if (length(args) >= 2) args[[2]] else file.path("data", "reference")
dir <- file.path(out_dir, "binary")
dir.create(dir, showWarnings = FALSE, recursive = TRUE)

write <- function(x, name) {
  writeLines(toJSON(x, digits = NA, auto_unbox = FALSE, pretty = TRUE),
             file.path(dir, paste0(name, ".json")))
  cat(name, "written\n")
}
versions <- list(R = u(R.version.string),
                 lme4 = u(as.character(packageVersion("lme4"))),
                 emmeans = u(as.character(packageVersion("emmeans"))),
                 afex = u(as.character(packageVersion("afex"))),
                 geepack = u(as.character(packageVersion("geepack"))))

fhch <- read_fhch2010()
lex <- droplevels(fhch[fhch$task == "lexdec", ])
tight <- glmerControl(tolPwrss = 1e-12)

glmer_out <- function(m, formula, nAGQ = 1L) {
  cf <- coef(summary(m))
  vc <- as.data.frame(VarCorr(m))
  list(formula = u(formula), nAGQ = u(nAGQ), logLik = u(num(logLik(m))),
       fixef_names = rownames(cf), fixef = num(cf[, 1]), se = num(cf[, 2]),
       z = num(cf[, 3]), p = num(cf[, 4]),
       grp = vc$grp, sdcor = num(vc$sdcor), is_singular = u(isSingular(m)))
}
tab <- function(x) {
  s <- as.data.frame(summary(x))
  lapply(s, function(v) {
    if (is.factor(v) || is.character(v)) as.character(v) else num(v)
  })
}

# 1. crossed random intercepts only: a model statsmodels' BinomialBayesMixedGLM fits
f_int <- "correct ~ stimulus * frequency + (1 | id) + (1 | item)"
m_int <- glmer(as.formula(f_int), lex, binomial)
m_int_t <- glmer(as.formula(f_int), lex, binomial, control = tight)
write(list(default = glmer_out(m_int, f_int), tight = glmer_out(m_int_t, f_int),
           versions = versions), "lexdec_intercepts")

# 2. a single scalar random effect: Laplace against adaptive Gauss-Hermite (nAGQ = 9)
f_id <- "correct ~ stimulus * frequency + (1 | id)"
res <- list()
for (k in c(1L, 9L)) {
  m <- glmer(as.formula(f_id), lex, binomial, nAGQ = k, control = tight)
  res[[paste0("nAGQ", k)]] <- glmer_out(m, f_id, k)
}
res$versions <- versions
write(res, "lexdec_agq")

# 3. emmeans for the chapter's model (tight fit): probabilities per cell, and the
#    frequency effect within each stimulus type on the probability scale
f_max <- "correct ~ stimulus * frequency + (1 + stimulus | id) + (1 | item)"
m_max <- glmer(as.formula(f_max), lex, binomial, control = tight)
emm <- emmeans(m_max, ~ frequency | stimulus)
write(list(formula = u(f_max),
           emmeans_response = tab(emmeans(m_max, ~ frequency | stimulus,
                                          type = "response")),
           pairs_link = tab(pairs(emm)),
           pairs_regrid = tab(pairs(regrid(emm))),
           versions = versions), "posthoc_lexdec")

# 4. the by-participant (F1) repeated-measures ANOVA on proportions correct
props <- aggregate(correct ~ id + stimulus + frequency, data = lex, FUN = mean)
a <- suppressMessages(aov_ez("id", "correct", props,
                             within = c("stimulus", "frequency"),
                             anova_table = list(correction = "none", es = "none")))
at <- a$anova_table
write(list(term = rownames(at), num_df = num(at[["num Df"]]),
           den_df = num(at[["den Df"]]), F = num(at$F), p = num(at[["Pr(>F)"]]),
           versions = versions), "f1_anova")

# 5. GEE, population-averaged: exchangeable working correlation within participants
lex_sorted <- lex[order(lex$id), ]
g <- geeglm(correct ~ stimulus * frequency, id = id, data = lex_sorted,
            family = binomial, corstr = "exchangeable")
gs <- summary(g)
write(list(formula = u("correct ~ stimulus * frequency"), corstr = u("exchangeable"),
           fixef_names = rownames(gs$coefficients),
           fixef = num(gs$coefficients[, "Estimate"]),
           se = num(gs$coefficients[, "Std.err"]),
           alpha = u(num(gs$corr$Estimate)),
           versions = versions), "gee_lexdec")
