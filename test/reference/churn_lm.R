#!/usr/bin/env Rscript
# Reference figures for test/linear_churn.sql: R lm on the public bank-churn
# data set (../shared/data/churn/Churn_Modelling.csv, 10,000 rows; see the
# README.md of that folder). The data are not shipped with the project.
#
#   Rscript test/reference/churn_lm.R [path/to/Churn_Modelling.csv]
#
# Without an argument the CSV is looked up at ../shared/data/churn/ beside the
# project checkout (relative to this script). Figures go to stdout as
# `key = value`, 17 significant digits, `NA` where lm aliases a column.
#
# Model: CreditScore on explicit 0/1 dummies for every level of Geography and
# of Gender, each ordered by frequency descending (ties by value, byte order),
# then Age, Tenure, Balance, NumOfProducts, HasCrCard, IsActiveMember,
# EstimatedSalary. Because every dummy is given, one of each column is
# collinear with the intercept; profenrich (0.5.0) aliases the most frequent
# level (the reference: coefficients read against the usual customer), so each
# column's dummies are given to lm with the most frequent one last, which lm
# then reports as NA.

args <- commandArgs(trailingOnly = FALSE)
file_arg <- sub("^--file=", "", args[grepl("^--file=", args)])
csv_path <- if (length(commandArgs(trailingOnly = TRUE)) >= 1) {
  commandArgs(trailingOnly = TRUE)[1]
} else {
  here <- if (length(file_arg) == 1) dirname(normalizePath(file_arg)) else "."
  file.path(here, "..", "..", "..", "shared", "data", "churn", "Churn_Modelling.csv")
}
if (!file.exists(csv_path)) stop("data file not found: ", csv_path)

d <- read.csv(csv_path, header = TRUE, stringsAsFactors = FALSE,
              colClasses = c(RowNumber = "integer", CustomerId = "character",
                             Surname = "character", CreditScore = "numeric",
                             Geography = "character", Gender = "character",
                             Age = "numeric", Tenure = "numeric",
                             Balance = "numeric", NumOfProducts = "numeric",
                             HasCrCard = "numeric", IsActiveMember = "numeric",
                             EstimatedSalary = "numeric", Exited = "numeric"))
stopifnot(nrow(d) == 10000L, !anyNA(d), !anyDuplicated(d$CustomerId))

f17 <- function(v) ifelse(is.na(v), "NA", sprintf("%.17g", v))

# Levels by frequency descending, ties by value in byte order (C collation).
freq_levels <- function(x) {
  tab <- table(x)
  lv  <- names(tab)
  cnt <- as.vector(tab)
  o <- order(-cnt, rank_bytes(lv))
  lv[o]
}
rank_bytes <- function(s) {
  old <- Sys.getlocale("LC_COLLATE")
  on.exit(Sys.setlocale("LC_COLLATE", old))
  Sys.setlocale("LC_COLLATE", "C")
  rank(s)
}

# One explicit 0/1 column per level, named `column=value` (as profenrich does),
# the most frequent (the reference) last, so that lm aliases it.
dummy_cols <- function(df, col) {
  lv  <- freq_levels(df[[col]])
  ord <- c(lv[-1], lv[1])
  out <- lapply(ord, function(v) as.numeric(df[[col]] == v))
  names(out) <- paste0(col, "=", ord)
  list(levels = lv, counts = as.vector(table(df[[col]])[lv]), cols = out)
}

geo <- dummy_cols(d, "Geography")
gen <- dummy_cols(d, "Gender")
numeric_cols <- c("Age", "Tenure", "Balance", "NumOfProducts", "HasCrCard",
                  "IsActiveMember", "EstimatedSalary")

X <- data.frame(c(geo$cols, gen$cols, d[numeric_cols]), check.names = FALSE)
labels <- names(X)                         # slot labels in order
names(X) <- make.names(labels, unique = TRUE)
X$CreditScore <- d$CreditScore
fml <- as.formula(paste("CreditScore ~", paste(names(X)[seq_along(labels)],
                                                collapse = " + ")))
fit <- lm(fml, data = X)
s   <- summary(fit)
cf  <- coef(fit)                           # full length, NA where aliased
st  <- s$coefficients                      # aliased rows dropped
r   <- residuals(fit)
lab <- c("(Intercept)", labels)
names(lab) <- c("(Intercept)", names(X)[seq_along(labels)])

cat("# profenrich linear regression on bank churn: R lm reference figures (17 significant digits)\n")
cat(sprintf("# generated with %s from %s\n", R.version.string, basename(csv_path)))
cat(sprintf("# lm(CreditScore ~ %s)\n\n", paste0("`", labels, "`", collapse = " + ")))
cat(sprintf("levels.Geography = %s\n", paste0(geo$levels, " (", geo$counts, ")", collapse = ", ")))
cat(sprintf("levels.Gender = %s\n", paste0(gen$levels, " (", gen$counts, ")", collapse = ", ")))
cat(sprintf("n = %d\n", length(r)))
cat(sprintf("df_residual = %d\n", fit$df.residual))
cat(sprintf("rank = %d\n", fit$rank))
cat(sprintf("aliased = %s\n", paste(lab[names(cf)[is.na(cf)]], collapse = ", ")))
for (nm in names(cf)) {
  row <- if (nm %in% rownames(st)) st[nm, ] else rep(NA_real_, 4)
  cat(sprintf("coef[%s].estimate = %s\n", lab[[nm]], f17(row[1])))
  cat(sprintf("coef[%s].std_error = %s\n", lab[[nm]], f17(row[2])))
  cat(sprintf("coef[%s].t_value = %s\n", lab[[nm]], f17(row[3])))
  cat(sprintf("coef[%s].p_value = %s\n", lab[[nm]], f17(row[4])))
}
cat(sprintf("residual_std_error = %s\n", f17(s$sigma)))
cat(sprintf("r_squared = %s\n", f17(s$r.squared)))
cat(sprintf("adj_r_squared = %s\n", f17(s$adj.r.squared)))
cat(sprintf("rmse = %s\n", f17(sqrt(mean(r^2)))))
cat(sprintf("mae = %s\n", f17(mean(abs(r)))))

stopifnot(sum(is.na(cf)) == 2L,
          identical(unname(lab[names(cf)[is.na(cf)]]),
                    c(paste0("Geography=", geo$levels[1]),
                      paste0("Gender=", gen$levels[1]))))
