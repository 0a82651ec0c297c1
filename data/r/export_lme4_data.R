# Export the data sets that ship with R's lme4, nlme and afex into data/ as CSV.
#
#   Rscript data/r/export_lme4_data.R          # writes data/sleepstudy.csv,
#       data/penicillin.csv, data/insteval.csv.gz, data/machines.csv, data/fhch2010.csv
#   Rscript data/r/export_lme4_data.R OUTDIR   # writes them into OUTDIR instead
#
# The numbers are written with 15 significant digits so the CSV holds the data exactly
# as lme4 has them (afex's fhch2010 needs up to 17: see exact_numbers below).
# tests/r/check_reference.sh runs this script again and fails if the committed files
# differ.
suppressPackageStartupMessages(library(lme4))

args <- commandArgs(trailingOnly = TRUE)
out <- if (length(args) >= 1) args[1] else "data"
dir.create(out, showWarnings = FALSE, recursive = TRUE)

write_data <- function(df, file, package = "lme4") {
  for (col in names(df)) if (is.factor(df[[col]])) df[[col]] <- as.character(df[[col]])
  # a large data set is written gzip-compressed (zlib's header has no time stamp, so the
  # bytes are the same on every run)
  target <- if (grepl("[.]gz$", file)) gzfile(file.path(out, file), "w") else file.path(out, file)
  write.csv(format(df, digits = 15, trim = TRUE), target,
            row.names = FALSE, quote = FALSE)
  if (inherits(target, "connection")) close(target)
  cat(sprintf("%-16s %5d rows  %s %s\n", file, nrow(df), package, packageVersion(package)))
}

write_data(lme4::sleepstudy, "sleepstudy.csv")
write_data(lme4::Penicillin, "penicillin.csv")
write_data(lme4::InstEval, "insteval.csv.gz")
# nlme (a recommended package that comes with R) holds Machines, used to check how
# helpers.mixedlm reads (1 + Machine || Worker) with a factor
write_data(data.frame(nlme::Machines), "machines.csv", package = "nlme")

# afex holds fhch2010 (Freeman, Heathcote, Chalmers and Hockley, 2010), the lexical
# decision and naming data of afex's mixed-model vignette. log_rt needs up to 17
# significant digits, so every number is written as the shortest decimal (15, 16 or 17
# digits) that reads back as the same double; the factors keep their labels and afex's
# row order is kept (860 kB, so the file is not compressed).
exact_numbers <- function(x) {
  out <- sprintf("%.15g", x)
  for (digits in 16:17) {
    inexact <- as.numeric(out) != x
    out[inexact] <- sprintf(paste0("%.", digits, "g"), x[inexact])
  }
  stopifnot(identical(as.numeric(out), x))
  out
}
fhch2010 <- afex::fhch2010
for (col in c("rt", "log_rt")) fhch2010[[col]] <- exact_numbers(fhch2010[[col]])
write_data(fhch2010, "fhch2010.csv", package = "afex")
