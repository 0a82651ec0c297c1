# What the reference scripts in tests/r/ share. Each loads it first with
#
#     source(file.path(dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE),
#                                                       value = TRUE)[1])), "common.R"))
#
# (the folder of the script Rscript runs), so that the scripts run from the repository
# root as their usage lines say.

u <- jsonlite::unbox
num <- function(x) as.numeric(unname(x))
chr <- function(x) as.character(unname(x))

# Run expr, collecting its warnings and messages instead of printing them: returns
# list(value, notes). With labels = TRUE each note starts with "warning:" or "message:";
# with trim = TRUE a message loses its surrounding white space (R ends most with "\n").
# A script sets its defaults once, with options(capture.labels =, capture.trim =).
capture <- function(expr, labels = getOption("capture.labels", FALSE),
                    trim = getOption("capture.trim", TRUE)) {
  notes <- character(0)
  add <- function(kind, text) {
    notes <<- c(notes, if (labels) paste0(kind, ": ", text) else text)
  }
  value <- withCallingHandlers(
    expr,
    warning = function(w) {
      add("warning", conditionMessage(w))
      invokeRestart("muffleWarning")
    },
    message = function(m) {
      add("message", if (trim) trimws(conditionMessage(m)) else conditionMessage(m))
      invokeRestart("muffleMessage")
    })
  list(value = value, notes = notes)
}

# A confint() table as JSON: row names, lower and upper limits.
ci_json <- function(ci) list(names = rownames(ci), lower = num(ci[, 1]), upper = num(ci[, 2]))

# A bootMer run (captured: list(value, notes)) as JSON: percentile limits named `names`,
# the number of replicates and of failed ones, the Monte Carlo standard error of each
# limit (pct_se) and the notes.
boot_json <- function(bb, names) {
  b <- bb$value
  ci <- confint(b, level = 0.95, type = "perc")
  rownames(ci) <- names
  out <- ci_json(ci)
  out$nsim <- u(nrow(b$t))
  out$failed <- u(sum(!stats::complete.cases(b$t)))
  out$mc_se_lower <- num(apply(b$t, 2, pct_se, a = 0.025))
  out$mc_se_upper <- num(apply(b$t, 2, pct_se, a = 0.975))
  out$notes <- bb$notes
  out
}

# The standard error of a percentile estimated from replicates t: half the distance
# between the order statistics one binomial SD either side of it.
pct_se <- function(t, a) {
  t <- sort(t[is.finite(t)]); R <- length(t)
  s <- sqrt(a * (1 - a) / R)
  lo <- t[max(1, floor(R * (a - s)))]; hi <- t[min(R, ceiling(R * (a + s)))]
  (hi - lo) / 2
}

# A CSV with every text column read as a factor (levels in the session's collation: the
# scripts set the C locale, Python's sorted order).
read_factors <- function(path) {
  d <- read.csv(path, stringsAsFactors = FALSE)
  for (col in names(d)) if (is.character(d[[col]])) d[[col]] <- factor(d[[col]])
  d
}

# afex's fhch2010 as the book ships it (data/fhch2010.csv, read from the repository
# root), with afex's factor levels, the order helpers.load("fhch2010") gives.
read_fhch2010 <- function() {
  d <- read.csv(file.path("data", "fhch2010.csv"), stringsAsFactors = FALSE)
  d$task <- factor(d$task, levels = c("naming", "lexdec"))
  d$stimulus <- factor(d$stimulus, levels = c("word", "nonword"))
  d$frequency <- factor(d$frequency, levels = c("low", "high"))
  d$id <- factor(d$id)
  d$item <- factor(d$item)
  d$correct <- as.integer(as.logical(d$correct))
  d
}

# The glmer reference cases: tests/r/glmer.R fits them all, tests/r/glmer_r2.R some.
# "data" names a CSV of tests/r/glmer_cases.py, lme4's cbpp, or a subset of fhch2010.
glmer_cases <- list(
  crossed_intercepts = list(data = "crossed_accuracy", family = "binomial",
                            formula = "correct ~ cond + (1 | subject) + (1 | item)"),
  crossed_slopes = list(data = "crossed_accuracy", family = "binomial",
                        formula = "correct ~ cond + (1 + cond | subject) + (1 | item)"),
  saddle_start = list(data = "small_crossed", family = "binomial",
                      formula = "correct ~ cond + (1 | subject) + (1 | item)"),
  poisson = list(data = "counts", family = "poisson",
                 formula = "count ~ x + (1 | site)"),
  singular = list(data = "singular", family = "binomial",
                  formula = "y ~ cond + (1 | group)"),
  cbpp = list(data = "cbpp", family = "binomial",
              formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)"),
  agq9 = list(data = "scalar", family = "binomial", formula = "y ~ x + (1 | cluster)",
              nAGQ = 9),
  fhch_lexdec = list(data = "fhch_lexdec", family = "binomial",
                     formula = paste("correct ~ stimulus * frequency",
                                     "+ (1 + stimulus | id) + (1 | item)")),
  fhch_separation = list(data = "fhch_all", family = "binomial",
                         formula = "correct ~ task * stimulus + (1 | id) + (1 | item)")
)
