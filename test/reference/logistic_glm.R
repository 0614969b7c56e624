#!/usr/bin/env Rscript
# Reference figures for profenrich's logistic regression: R glm (binomial, logit).
#
#   Rscript logistic_glm.R [output_dir [telco_csv]]
#
# Builds the synthetic data set and the metric sample, writes them to
# output_dir/logistic_data.csv and output_dir/logistic_data.sql, and prints on
# stdout (`key = value`, 17 significant digits, NA where aliased):
#   [data]     counts describing the synthetic data
#   [glm]      glm on the synthetic data (explicit dummies, x3 collinear)
#   [metrics.R] the metric sample's figures computed here from first principles
#              (AUC as the Mann-Whitney statistic with average ranks for ties)
#   [telco]    glm on the public IBM Telco churn data, when the CSV is present
#              (default ../../../shared/data/churn/Telco-Customer-Churn.csv
#              relative to this script); otherwise a note saying it was skipped.
# output_dir defaults to the folder of this script. See README.md.
#
# Aliasing. glm.fit hands QR a rank tolerance of min(1e-7, epsilon / 1000); with
# the tight epsilon = 1e-15 used here that is 1e-18, below rounding noise, so an
# exactly collinear column would NOT be detected and the fit diverges. Aliasing
# is therefore decided on the full design with R's usual tolerances (qr() with
# tol 1e-7, as lm does, and glm with its default control, tol 1e-11; both must
# agree), and the tight-epsilon glm is then fitted on the non-aliased columns in
# the given order. This is exactly the set of columns glm reports NA for with
# its default control, and the estimates are the MLE to ~1e-13.

argv <- commandArgs(trailingOnly = TRUE)
all_args <- commandArgs(trailingOnly = FALSE)
file_arg <- sub("^--file=", "", all_args[grepl("^--file=", all_args)])
here <- if (length(file_arg) == 1) dirname(normalizePath(file_arg)) else "."
out_dir <- if (length(argv) >= 1) argv[1] else here
telco_csv <- if (length(argv) >= 2) argv[2] else
  file.path(here, "..", "..", "..", "shared", "data", "churn", "Telco-Customer-Churn.csv")

f17 <- function(v) ifelse(is.na(v), "NA", sprintf("%.17g", v))
kv <- function(key, value) cat(sprintf("%s = %s\n", key, value))

# Shortest decimal that reads back as the identical double (what PostgreSQL's
# float8 output also produces with extra_float_digits = 1, the default).
shortest <- function(v) vapply(v, function(z) {
  for (d in 1:17) {
    s <- sprintf("%.*g", d, z)
    if (as.numeric(s) == z) return(s)
  }
  stop("no round-trip representation for ", sprintf("%a", z))
}, character(1))

# Is a - b exact in binary64 (no rounding)? Knuth's TwoSum error term is 0.
sub_is_exact <- function(a, b) {
  s <- a - b
  bb <- s - a
  err <- (a - (s - bb)) + (-b - bb)
  err == 0
}

# Levels by frequency descending, ties by byte order of the value.
freq_levels <- function(x) {
  tab <- table(x)
  lv <- names(tab)
  old <- Sys.getlocale("LC_COLLATE")
  Sys.setlocale("LC_COLLATE", "C")
  byte_rank <- rank(lv)
  Sys.setlocale("LC_COLLATE", old)
  lv[order(-as.vector(tab), byte_rank)]
}

# glm with the aliasing rule described above. X: numeric design without the
# intercept (columns in slot order, syntactic names); y: 0/1.
# Returns the tight fit, the full-length coefficient names and the aliased set.
fit_logit <- function(X, y) {
  Xi <- cbind("(Intercept)" = 1, as.matrix(X))
  q <- qr(Xi, tol = 1e-7)
  keep_qr <- sort(q$pivot[seq_len(q$rank)])
  alias_qr <- colnames(Xi)[-keep_qr]
  df <- data.frame(X, .y = y)
  fml_all <- as.formula(paste(".y ~", paste(names(X), collapse = " + ")))
  f_def <- withCallingHandlers(glm(fml_all, family = binomial, data = df),
                               warning = function(w) stop("default glm warned: ", conditionMessage(w)))
  alias_glm <- names(coef(f_def))[is.na(coef(f_def))]
  stopifnot(identical(alias_qr, alias_glm), f_def$converged)
  keep <- setdiff(names(X), alias_glm)
  fml <- as.formula(paste(".y ~", paste(keep, collapse = " + ")))
  fit <- withCallingHandlers(
    glm(fml, family = binomial, data = df,
        control = glm.control(epsilon = 1e-15, maxit = 200)),
    warning = function(w) stop("tight glm warned: ", conditionMessage(w)))
  stopifnot(fit$converged, !anyNA(coef(fit)), fit$rank == length(keep) + 1L,
            fit$iter < 200)
  # The tight fit must be a refinement of glm's default-control fit.
  stopifnot(max(abs(coef(fit) - coef(f_def)[names(coef(fit))])) < 1e-5)
  list(fit = fit, all = c("(Intercept)", names(X)), aliased = alias_glm, X = Xi)
}

report_logit <- function(tag, r, labels, fitted_ids, fitted_rows) {
  fit <- r$fit
  s <- summary(fit)
  st <- s$coefficients
  X <- r$X[, rownames(st), drop = FALSE]
  score <- drop(crossprod(X, fit$y - fitted(fit)))  # d loglik / d beta at the estimate
  kv(sprintf("%s.n", tag), length(fit$y))
  kv(sprintf("%s.n_positive", tag), sum(fit$y))
  kv(sprintf("%s.rank", tag), fit$rank)
  kv(sprintf("%s.df_null", tag), fit$df.null)
  kv(sprintf("%s.df_residual", tag), fit$df.residual)
  kv(sprintf("%s.aliased", tag), paste(labels[r$aliased], collapse = ", "))
  for (nm in r$all) {
    row <- if (nm %in% rownames(st)) st[nm, ] else rep(NA_real_, 4)
    lab <- labels[[nm]]
    kv(sprintf("%s.coef[%s].estimate", tag, lab), f17(row[1]))
    kv(sprintf("%s.coef[%s].std_error", tag, lab), f17(row[2]))
    kv(sprintf("%s.coef[%s].z_value", tag, lab), f17(row[3]))
    kv(sprintf("%s.coef[%s].p_value", tag, lab), f17(row[4]))
    kv(sprintf("%s.coef[%s].odds_ratio", tag, lab), f17(exp(row[1])))
  }
  ll <- logLik(fit)
  kv(sprintf("%s.loglik", tag), f17(as.numeric(ll)))
  kv(sprintf("%s.aic", tag), f17(AIC(fit)))
  kv(sprintf("%s.null_deviance", tag), f17(fit$null.deviance))
  kv(sprintf("%s.residual_deviance", tag), f17(fit$deviance))
  kv(sprintf("%s.iterations", tag), fit$iter)
  kv(sprintf("%s.max_abs_score", tag), sprintf("%.3g", max(abs(score))))
  fv <- fitted(fit)
  for (k in seq_along(fitted_ids))
    kv(sprintf("%s.fitted[%s]", tag, fitted_ids[k]), f17(fv[[fitted_rows[k]]]))
  stopifnot(abs(AIC(fit) - (-2 * as.numeric(ll) + 2 * fit$rank)) < 1e-9,
            abs(fit$deviance + 2 * as.numeric(ll)) < 1e-9)
}

cat("# profenrich logistic regression reference figures (17 significant digits)\n")
cat(sprintf("# generated with %s; sklearn sections from logistic_sklearn.py\n\n",
            R.version.string))

## ---------------------------------------------------------------- data ----
# Draw order: x1, x2, flag, plan, y, then the metric sample (score, label).
RNGkind("Mersenne-Twister", "Inversion", "Rejection")
set.seed(20261128)
n <- 300L
id <- seq_len(n)
x1 <- round(rnorm(n, 0, 1.5), 4)
x2 <- sample(0:10, n, replace = TRUE)
flag <- runif(n) < 0.35
plan <- sample(rep(c("gold", "silver", "bronze"), times = c(140L, 100L, 60L)))
x3 <- x1 - 0.5 * x2
eta <- -1 + 0.8 * x1 - 0.15 * x2 + 0.7 * flag +
  unname(c(gold = 0.9, silver = 0.3, bronze = 0)[plan])
y <- runif(n) < plogis(eta)

m <- 40L
score <- round(runif(m, 0.05, 0.95), 1)
label <- runif(m) < score

stopifnot(all(as.numeric(sprintf("%.4f", x1)) == x1),
          all(as.numeric(sprintf("%.1f", score)) == score),
          all(score > 0 & score < 1),
          identical(freq_levels(plan), c("gold", "silver", "bronze")),
          identical(as.vector(table(plan)[c("gold", "silver", "bronze")]), c(140L, 100L, 60L)),
          # x3 is the float8 value of x1 - 0.5*x2 (0.5*x2 itself is exact)
          all(x3 == x1 - 0.5 * x2), all(0.5 * x2 * 2 == x2))
# Ties within the metric sample across the two classes.
tied_across <- sort(unique(score[score %in% score[label] & score %in% score[!label]]))
stopifnot(length(tied_across) >= 3)
exact_rows <- sub_is_exact(x1, 0.5 * x2)

kv("data.seed", 20261128)
kv("data.n", n)
kv("data.plan_counts", "gold 140, silver 100, bronze 60")
kv("data.flag_true", sum(flag))
kv("data.y_true", sum(y))
kv("data.x3_exact_rows", sprintf("%d   (rows where x1 - 0.5*x2 needed no rounding; the other %d differ from the exact real value by <= 0.5 ulp)",
                                   sum(exact_rows), n - sum(exact_rows)))
kv("metric_sample.n", m)
kv("metric_sample.positives", sum(label))
kv("metric_sample.distinct_scores", length(unique(score)))
kv("metric_sample.scores_in_both_classes", paste(sprintf("%.1f", tied_across), collapse = ", "))
cat("\n")

csv <- data.frame(id = id, x1 = shortest(x1), x2 = x2, flag = as.integer(flag),
                  plan = plan, x3 = shortest(x3), y = as.integer(y),
                  x1_hex = sprintf("%a", x1), x3_hex = sprintf("%a", x3))
write.csv(csv, file.path(out_dir, "logistic_data.csv"), row.names = FALSE, quote = FALSE)

tf <- function(b) ifelse(b, "true", "false")
sql <- c(
  "-- Generated by logistic_glm.R (do not edit by hand; see README.md).",
  "-- logit_data: 300 rows, set.seed(20261128); x3 = x1 - 0.5*x2 (as float8 arithmetic).",
  "-- metric_sample: 40 (score, label) pairs, scores with one decimal (many ties).",
  "DROP TABLE IF EXISTS logit_data;",
  "DROP TABLE IF EXISTS metric_sample;",
  "CREATE TABLE logit_data (id int PRIMARY KEY, x1 float8, x2 int, flag boolean, plan text, x3 float8, y boolean);",
  "INSERT INTO logit_data (id, x1, x2, flag, plan, x3, y) VALUES",
  paste0("  (", id, ", ", shortest(x1), ", ", x2, ", ", tf(flag), ", '", plan, "', ",
         shortest(x3), ", ", tf(y), ")", ifelse(id < n, ",", ";")),
  "",
  "CREATE TABLE metric_sample (i int, score float8, label boolean);",
  "INSERT INTO metric_sample (i, score, label) VALUES",
  paste0("  (", seq_len(m), ", ", sprintf("%.1f", score), ", ", tf(label), ")",
         ifelse(seq_len(m) < m, ",", ";"))
)
writeLines(sql, file.path(out_dir, "logistic_data.sql"))

## ----------------------------------------------------------------- glm ----
# plan's most frequent level, gold, last: glm aliases it, as profenrich (0.5.0) aliases the
# most frequent level of a category (its reference)
X <- data.frame(x1 = x1, x2 = x2, flag = as.numeric(flag),
                plan_silver = as.numeric(plan == "silver"),
                plan_bronze = as.numeric(plan == "bronze"), x3 = x3,
                plan_gold = as.numeric(plan == "gold"))
labels <- c("(Intercept)" = "(Intercept)", x1 = "x1", x2 = "x2", flag = "flag",
            plan_gold = "plan=gold", plan_silver = "plan=silver",
            plan_bronze = "plan=bronze", x3 = "x3")
cat("[glm] glm(y ~ x1 + x2 + flag + plan=silver + plan=bronze + x3 + plan=gold, binomial(logit)), epsilon 1e-15\n")
r <- fit_logit(X, as.numeric(y))
stopifnot(identical(r$aliased, c("x3", "plan_gold")))
report_logit("glm", r, labels, sprintf("id=%d", 1:5), 1:5)
cat("\n")

## ------------------------------------------------------------- metrics ----
# First principles, independent of scikit-learn.
cat("[metrics.R] metric_sample computed in R (AUC = Mann-Whitney U / (n1*n0), average ranks for ties)\n")
rk <- rank(score, ties.method = "average")
n1 <- sum(label); n0 <- sum(!label)
auc_mw <- (sum(rk[label]) - n1 * (n1 + 1) / 2) / (n1 * n0)
# Pairwise definition as a check: P(s+ > s-) + 0.5 P(s+ = s-).
pw <- outer(score[label], score[!label], function(a, b) (a > b) + 0.5 * (a == b))
stopifnot(abs(auc_mw - mean(pw)) < 1e-15)
pred <- score >= 0.5
tp <- sum(pred & label); fp <- sum(pred & !label); fn <- sum(!pred & label)
prec <- tp / (tp + fp); rec <- tp / (tp + fn)
kv("metrics.R.auc_mann_whitney", f17(auc_mw))
kv("metrics.R.log_loss", f17(-mean(ifelse(label, log(score), log1p(-score)))))
kv("metrics.R.brier", f17(mean((score - label)^2)))
kv("metrics.R.accuracy", f17(mean(pred == label)))
kv("metrics.R.precision", f17(prec))
kv("metrics.R.recall", f17(rec))
kv("metrics.R.f1", f17(2 * prec * rec / (prec + rec)))
kv("metrics.R.confusion", sprintf("tp %d, fp %d, fn %d, tn %d", tp, fp, fn, sum(!pred & !label)))
cat("\n")

## --------------------------------------------------------------- telco ----
if (!file.exists(telco_csv)) {
  cat(sprintf("[telco] skipped: %s not found\n", telco_csv))
  quit(save = "no", status = 0)
}
td <- read.csv(telco_csv, header = TRUE, stringsAsFactors = FALSE,
               colClasses = "character", strip.white = FALSE)
stopifnot(nrow(td) == 7043L, !anyDuplicated(td$customerID),
          all(td$Churn %in% c("Yes", "No")), sum(td$TotalCharges == " ") == 11L)
cat("[telco] glm(churn = 'Yes' ~ tenure + monthly_charges + senior_citizen + contract=* + internet_service=* + payment_method=* + paperless_billing=*, binomial(logit)), epsilon 1e-15\n")
cat(sprintf("# from %s; labels use the column names of shared_data.telco_churn (test/data/load_shared.sh)\n",
            basename(telco_csv)))
TX <- data.frame(tenure = as.numeric(td$tenure),
                 monthly_charges = as.numeric(td$MonthlyCharges),
                 senior_citizen = as.numeric(td$SeniorCitizen))
tlabels <- c("(Intercept)" = "(Intercept)", tenure = "tenure",
             monthly_charges = "monthly_charges", senior_citizen = "senior_citizen")
text_cols <- c(contract = "Contract", internet_service = "InternetService",
               payment_method = "PaymentMethod", paperless_billing = "PaperlessBilling")
# each column's dummies with its most frequent level (profenrich's reference) last, so that
# glm aliases it
ref_levels <- character(0)
for (sqlname in names(text_cols)) {
  v <- td[[text_cols[[sqlname]]]]
  lv <- freq_levels(v)
  kv(sprintf("telco.levels.%s", sqlname),
     paste0(lv, " (", as.vector(table(v)[lv]), ")", collapse = ", "))
  for (k in c(seq_along(lv)[-1], 1L)) {
    nm <- sprintf("%s_%d", sqlname, k)
    TX[[nm]] <- as.numeric(v == lv[k])
    tlabels[[nm]] <- sprintf("%s=%s", sqlname, lv[k])
  }
  ref_levels <- c(ref_levels, sprintf("%s_%d", sqlname, 1L))
}
stopifnot(!anyNA(TX))
tr <- fit_logit(TX, as.numeric(td$Churn == "Yes"))
stopifnot(identical(tr$aliased, ref_levels))
report_logit("telco", tr, tlabels, sprintf("customer_id=%s", td$customerID[1:3]), 1:3)
