#!/usr/bin/env Rscript
# Reference values for the book's real experiment: afex's fhch2010 data (Freeman,
# Heathcote, Chalmers and Hockley 2010), analysed trial by trial.
#
# Usage, from the repository root:
#
#     Rscript tests/r/fhch2010.R [CASES_DIR [OUT_DIR]]
#
# CASES_DIR is not read: the trials are read from data/fhch2010.csv (the file the book
# loads with helpers.load("fhch2010")), so run the script from the repository root. The script writes OUT_DIR/fhch2010/*.json (default
# data/reference/fhch2010; see the README.md there) and prints one line per model.
#
# The steps are those of the chapter: the same exclusions, the same +-1 codes, the
# same models fitted by REML with lmerTest::lmer, the same reproducible simplification
# of the random effects, then lmerTest's Type III F tests (Satterthwaite), afex's
# mixed(), emmeans' contrasts, performance's R2, Wald intervals, and the by-participant
# ANOVA (afex::aov_ez). No random numbers are drawn.

suppressPackageStartupMessages({
  library(jsonlite)
  library(lme4)
  library(lmerTest)
  library(afex)
  library(emmeans)
  library(performance)
})
source(file.path(dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE),
                                                  value = TRUE)[1])), "common.R"))
options(capture.labels = TRUE)  # notes read "warning: ..." or "message: ..."

invisible(Sys.setlocale("LC_COLLATE", "C"))
set.seed(20100101)  # nothing draws random numbers; fixed anyway
options(contrasts = c("contr.treatment", "contr.poly"), warn = 1)

args <- commandArgs(trailingOnly = TRUE)
cases_dir <- if (length(args) >= 1) args[[1]] else
  file.path("data", "reference", "cases")
out_root <- if (length(args) >= 2) args[[2]] else file.path("data", "reference")
out_dir <- file.path(out_root, "fhch2010")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
data_file <- file.path("data", "fhch2010.csv")  # run from the repository root

write_out <- function(x, name) {
  jsonlite::write_json(x, file.path(out_dir, name), digits = NA, pretty = TRUE,
                       auto_unbox = FALSE)
}
versions <- list(
  R = u(R.version.string),
  lme4 = u(as.character(packageVersion("lme4"))),
  lmerTest = u(as.character(packageVersion("lmerTest"))),
  afex = u(as.character(packageVersion("afex"))),
  emmeans = u(as.character(packageVersion("emmeans"))),
  performance = u(as.character(packageVersion("performance")))
)

# ------------------------------------------------------------------ data, exclusions
raw <- read.csv(data_file, stringsAsFactors = FALSE)
levels_of <- list(task = c("naming", "lexdec"), stimulus = c("word", "nonword"),
                  density = c("low", "high"), frequency = c("low", "high"))
for (f in names(levels_of)) raw[[f]] <- factor(raw[[f]], levels = levels_of[[f]])
raw$correct <- as.logical(raw$correct)

error <- !raw$correct
fast <- raw$rt < 0.25
slow <- raw$rt > 2.5
d <- raw[!error & !fast & !slow, ]
# +-1 codes, the first level +1 (R's contr.sum, as afex codes factors)
for (f in names(levels_of)) {
  d[[paste0(f, "_c")]] <- ifelse(d[[f]] == levels_of[[f]][1], 1, -1)
}
d$id <- factor(d$id)
d$item <- factor(d$item)
exclusions <- list(
  n_raw = u(nrow(raw)), errors = u(sum(error)), fast = u(sum(fast)),
  slow = u(sum(slow)), fast_correct = u(sum(fast & !error)),
  slow_correct = u(sum(slow & !error)), n_kept = u(nrow(d)),
  participants = u(length(unique(d$id))), items = u(length(unique(d$item)))
)

# ------------------------------------------------------------------ fitting
FIXED <- "log_rt ~ task * stimulus * density * frequency"

fit_json <- function(m, formula, notes, seconds) {
  vc <- as.data.frame(VarCorr(m))
  list(
    formula = u(formula), nobs = u(nobs(m)),
    REMLcrit = u(as.numeric(REMLcrit(m))), logLik = u(as.numeric(logLik(m))),
    logLik_df = u(attr(logLik(m), "df")), isSingular = u(isSingular(m)),
    sigma = u(sigma(m)), theta = num(getME(m, "theta")),
    fixef = list(names = chr(names(fixef(m))), estimate = num(fixef(m)),
                 se = num(sqrt(diag(as.matrix(vcov(m)))))),
    varcorr = list(grp = chr(vc$grp), var1 = chr(vc$var1), var2 = chr(vc$var2),
                   vcov = num(vc$vcov), sdcor = num(vc$sdcor)),
    fit_notes = chr(notes), seconds = u(seconds)
  )
}

fit <- function(formula, data = d, control = lmerControl()) {
  t0 <- proc.time()[["elapsed"]]
  f <- capture(lmerTest::lmer(as.formula(formula), data = data, REML = TRUE,
                              control = control))
  if (any(grepl("failed to converge", f$notes))) {
    # lme4's advice (?convergence): restart from the estimate; keep the better fit
    again <- capture(lmerTest::lmer(as.formula(formula), data = data, REML = TRUE,
                                    control = control,
                                    start = list(theta = getME(f$value, "theta"))))
    if (REMLcrit(again$value) < REMLcrit(f$value)) {
      f <- list(value = again$value,
                notes = c(f$notes, "restarted from the estimate", again$notes))
    }
  }
  secs <- proc.time()[["elapsed"]] - t0
  cat(sprintf("%-100s REMLcrit %.4f singular %s (%.1f s)\n", formula,
              REMLcrit(f$value), isSingular(f$value), secs))
  list(model = f$value, json = fit_json(f$value, formula, f$notes, secs))
}

anova_json <- function(a) {
  list(term = chr(rownames(a)), NumDF = num(a[["NumDF"]]), DenDF = num(a[["DenDF"]]),
       F = num(a[["F value"]]), p = num(a[["Pr(>F)"]]))
}

# Random-effects parts written from lists of terms: `||` within a grouping factor
# (lme4 expands it into one term per column), `|` when correlated.
re_part <- function(terms, group, correlated) {
  if (length(terms) == 0) return(NULL)
  has_int <- "1" %in% terms
  rest <- setdiff(terms, "1")
  lhs <- paste(c(if (has_int) "1" else "0", rest), collapse = " + ")
  sprintf("(%s %s %s)", lhs, if (correlated) "|" else "||", group)
}
formula_of <- function(id_terms, item_terms, id_corr, item_corr) {
  paste(FIXED, "+", paste(c(re_part(id_terms, "id", id_corr),
                            re_part(item_terms, "item", item_corr)), collapse = " + "))
}

# lme4 may list an interaction's variables in another order than the formula
# ("stimulus_c:frequency_c:density_c"): compare terms as sets of variables
same_term <- function(terms, name) {
  canon <- function(x) {
    vapply(strsplit(x, ":"), function(v) paste(sort(v), collapse = ":"), "")
  }
  canon(terms) == canon(name)
}
without <- function(terms, name) terms[!same_term(terms, name)]

ID_ALL <- c("1", "stimulus_c", "density_c", "frequency_c", "stimulus_c:density_c",
            "stimulus_c:frequency_c", "density_c:frequency_c",
            "stimulus_c:density_c:frequency_c")
ITEM_ALL <- c("1", "task_c")

models <- list()
# 1. the response scale: a random-intercept model of task x stimulus, rt and log rt
for (resp in c("rt", "log_rt")) {
  f <- fit(sprintf("%s ~ task * stimulus + (1 | id) + (1 | item)", resp))
  models[[paste0("scale_", resp)]] <- f$json
}
# 3. no correlations
zcp <- fit(formula_of(ID_ALL, ITEM_ALL, FALSE, FALSE))
models$zcp <- zcp$json

# 4. backward elimination of the random slopes, smallest SD first (never the
#    intercepts): the slope is dropped when the fit is singular, or when dropping it
#    does not worsen the fit (likelihood-ratio test p >= 0.2, Matuschek et al. 2017;
#    the p of the boundary mixture 0.5 chi2(0) + 0.5 chi2(1));
#    the first slope that is kept ends the loop
steps <- list()
id_terms <- ID_ALL
item_terms <- ITEM_ALL
current <- zcp
step <- 0
repeat {
  vc <- as.data.frame(VarCorr(current$model))
  vc <- vc[vc$grp != "Residual" & vc$var1 != "(Intercept)", ]
  if (nrow(vc) == 0) break
  vc$grp <- sub("\\.[0-9]+$", "", vc$grp)
  smallest <- vc[which.min(vc$sdcor), ]
  step <- step + 1
  new_id <- if (smallest$grp == "id") without(id_terms, smallest$var1) else id_terms
  new_item <- if (smallest$grp == "item") without(item_terms, smallest$var1)
              else item_terms
  stopifnot(length(new_id) + length(new_item) ==
              length(id_terms) + length(item_terms) - 1)
  reduced <- fit(formula_of(new_id, new_item, FALSE, FALSE))
  lr <- anova(reduced$model, current$model, refit = FALSE)
  # one variance set to 0: 0.5 chi2(0) + 0.5 chi2(1), half the naive p
  p_naive <- lr[["Pr(>Chisq)"]][2]
  p <- p_naive / 2
  singular_before <- isSingular(current$model)
  dropped <- singular_before || p >= 0.2
  steps[[step]] <- list(dropped = u(paste(smallest$grp, smallest$var1)),
                        sd = u(smallest$sdcor), singular_before = u(singular_before),
                        formula = u(reduced$json$formula),
                        REMLcrit = u(reduced$json$REMLcrit),
                        isSingular = u(reduced$json$isSingular),
                        chi2 = u(lr$Chisq[2]), df = u(lr$Df[2]), p_naive = u(p_naive),
                        p = u(p), accepted = u(dropped))
  models[[paste0("drop_", step)]] <- reduced$json
  if (!dropped) break
  current <- reduced
  id_terms <- new_id
  item_terms <- new_item
}
uncorrelated <- current
# 5. correlations back, one grouping factor at a time, items first: kept when the
#    likelihood-ratio test gives p < 0.2 (the same threshold) and the fit stays
#    non-singular
corr_tests <- list()
id_corr <- FALSE
item_corr <- FALSE
for (g in c("item", "id")) {
  trial <- fit(formula_of(id_terms, item_terms, id_corr || g == "id",
                          item_corr || g == "item"))
  lr <- anova(current$model, trial$model, refit = FALSE)
  p <- lr[["Pr(>Chisq)"]][2]
  keep <- p < 0.2 && !isSingular(trial$model)
  corr_tests[[g]] <- list(formula = u(trial$json$formula),
                          REMLcrit = u(trial$json$REMLcrit),
                          isSingular = u(trial$json$isSingular), chi2 = u(lr$Chisq[2]),
                          df = u(lr$Df[2]), p = u(p), kept = u(keep))
  models[[paste0("corr_", g)]] <- trial$json
  if (keep) {
    current <- trial
    if (g == "id") id_corr <- TRUE else item_corr <- TRUE
  }
}
final <- current
models$final <- final$json
m <- final$model
cat("final:", final$json$formula, "\n")

write_models <- function() {
  write_out(list(versions = versions, exclusions = exclusions, models = models,
                 final = u(final$json$formula)), "models.json")
}
write_models()
write_out(list(versions = versions, steps = steps, correlations = corr_tests,
               final = u(final$json$formula)), "simplification.json")

# ------------------------------------------------------------------ the final model
a3 <- anova(m, type = 3, ddf = "Satterthwaite")
afex_fit <- capture(afex::mixed(as.formula(final$json$formula), data = d,
                                method = "S", progress = FALSE))
afex_tab <- afex_fit$value$anova_table
emm_options(lmerTest.limit = 20000, pbkrtest.limit = 0)
emm <- emmeans(m, ~ frequency | task * stimulus, lmer.df = "satterthwaite")
freq <- as.data.frame(pairs(emm))
emm_tab <- as.data.frame(emm)
r2 <- capture(performance::r2_nakagawa(m))
wald <- confint(m, method = "Wald", oldNames = FALSE)
wald <- wald[!is.na(wald[, 1]), , drop = FALSE]
write_out(list(
  versions = versions, formula = u(final$json$formula),
  anova = anova_json(a3),
  afex = list(term = chr(rownames(afex_tab)), NumDF = num(afex_tab[["num Df"]]),
              DenDF = num(afex_tab[["den Df"]]), F = num(afex_tab[["F"]]),
              p = num(afex_tab[["Pr(>F)"]]), notes = chr(afex_fit$notes)),
  emmeans = list(task = chr(emm_tab$task), stimulus = chr(emm_tab$stimulus),
                 frequency = chr(emm_tab$frequency), emmean = num(emm_tab$emmean),
                 SE = num(emm_tab$SE), df = num(emm_tab$df)),
  frequency_contrasts = list(
    task = chr(freq$task), stimulus = chr(freq$stimulus), contrast = chr(freq$contrast),
    estimate = num(freq$estimate), SE = num(freq$SE), df = num(freq$df),
    t = num(freq$t.ratio), p = num(freq$p.value)
  ),
  r2 = list(marginal = u(num(r2$value$R2_marginal)),
            conditional = u(num(r2$value$R2_conditional)), notes = chr(r2$notes)),
  wald = list(names = chr(rownames(wald)), lower = num(wald[, 1]),
              upper = num(wald[, 2]))
), "final.json")

# ------------------------------------------------------------------ F1: by participant
# Words only, one mean log rt per participant and frequency, task between participants.
words <- d[d$stimulus == "word", ]
f1 <- capture(afex::aov_ez(id = "id", dv = "log_rt", data = words, between = "task",
                           within = "frequency", fun_aggregate = mean, type = 3))
f1_tab <- f1$value$anova_table
write_out(list(
  versions = versions,
  design = u("words only; mean log_rt per participant x frequency; task between"),
  anova = list(term = chr(rownames(f1_tab)), NumDF = num(f1_tab[["num Df"]]),
               DenDF = num(f1_tab[["den Df"]]), MSE = num(f1_tab[["MSE"]]),
               F = num(f1_tab[["F"]]), p = num(f1_tab[["Pr(>F)"]])),
  notes = chr(f1$notes)
), "f1.json")

# ------------------------------------------------------------------ maximal
# the maximal model the design supports (Barr et al. 2013)
# (no derivative check: its finite-difference Hessian over 39 parameters would take
# longer than the fit, and the fit is singular anyway)
maximal <- fit(formula_of(ID_ALL, ITEM_ALL, TRUE, TRUE),
               control = lmerControl(calc.derivs = FALSE))
models$maximal <- maximal$json
write_models()
cat("wrote", out_dir, "\n")
