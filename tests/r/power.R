#!/usr/bin/env Rscript
# Reference values from R for helpers.power_crossed_closed_form (chapter 12).
#
# Usage, from the repository root:
#
#     Rscript tests/r/power.R [CASES_DIR [OUT_DIR]]
#
# CASES_DIR is not read (the designs are stated below); OUT_DIR (default
# data/reference) receives OUT_DIR/power/closed_form.json.
#
# In the balanced crossed random-intercepts design (every participant responds to
# every item once, half the items in each condition), the by-item two-sample t test
# compares n_item / 2 item means per condition whose SD is
# sqrt(item_sd^2 + error_sd^2 / n_subj). Its power is stats::power.t.test with
# n = n_item / 2, delta = effect, sd = that SD, type = "two.sample" and
# strict = TRUE (both tails of the non-central t). No random numbers.

suppressPackageStartupMessages(library(jsonlite))
invisible(Sys.setlocale("LC_COLLATE", "C"))
set.seed(20240701)  # nothing draws random numbers; fixed anyway

args <- commandArgs(trailingOnly = TRUE)
out_dir <- if (length(args) >= 2) args[2] else "data/reference"
dir.create(file.path(out_dir, "power"), showWarnings = FALSE, recursive = TRUE)

designs <- expand.grid(n_subj = c(5, 10, 20, 30, 40, 80, 160, 1e6),
                       n_item = c(4, 10, 20, 40, 80, 160))
settings <- list(effect = 50, item_sd = 80, error_sd = 200, alpha = 0.05)

power_of <- function(n_subj, n_item, effect, item_sd, error_sd, alpha) {
  sd_item_mean <- sqrt(item_sd^2 + error_sd^2 / n_subj)
  power.t.test(n = n_item / 2, delta = effect, sd = sd_item_mean, sig.level = alpha,
               type = "two.sample", alternative = "two.sided", strict = TRUE)$power
}

designs$power <- mapply(power_of, designs$n_subj, designs$n_item,
                        MoreArgs = settings)
out <- c(settings, list(
  method = "stats::power.t.test(n = n_item / 2, delta = effect, sd = sqrt(item_sd^2 + error_sd^2 / n_subj), type = 'two.sample', strict = TRUE)",
  n_subj = designs$n_subj, n_item = designs$n_item, power = designs$power))
path <- file.path(out_dir, "power", "closed_form.json")
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), path)
cat("wrote", path, "(", nrow(designs), "designs )\n")
