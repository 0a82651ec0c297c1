# Export the data sets that ship with R's lme4 package into data/ as CSV.
#
#   Rscript data/r/export_lme4_data.R            # writes data/sleepstudy.csv, data/penicillin.csv
#   Rscript data/r/export_lme4_data.R OUTDIR     # writes them into OUTDIR instead
#
# The numbers are written with 15 significant digits so the CSV holds the data exactly
# as lme4 has them. tests/r/check_reference.sh runs this script again and fails if the
# committed files differ.
suppressPackageStartupMessages(library(lme4))

args <- commandArgs(trailingOnly = TRUE)
out <- if (length(args) >= 1) args[1] else "data"
dir.create(out, showWarnings = FALSE, recursive = TRUE)

write_data <- function(df, file) {
  for (col in names(df)) if (is.factor(df[[col]])) df[[col]] <- as.character(df[[col]])
  write.csv(format(df, digits = 15, trim = TRUE), file.path(out, file),
            row.names = FALSE, quote = FALSE)
  cat(sprintf("%-16s %4d rows  lme4 %s\n", file, nrow(df), packageVersion("lme4")))
}

write_data(lme4::sleepstudy, "sleepstudy.csv")
write_data(lme4::Penicillin, "penicillin.csv")
