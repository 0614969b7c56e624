#!/usr/bin/env Rscript
# Reference figures for profenrich's multinomial logistic regression: R's nnet::multinom.
#
#   Rscript multinomial_nnet.R [output_dir [telco_csv]]
#
# Builds the synthetic data set (4 classes, categorical features, an exactly collinear column)
# and the metric sample (recorded probabilities with many ties), writes them to
# output_dir/multinomial_data.csv and output_dir/multinomial_data.sql, and prints on stdout
# (`key = value`, 17 significant digits, NA where aliased):
#   [data]     counts describing the synthetic data
#   [full]     multinom on the full design, collinear column included: log-likelihood
#              (fitted probabilities of every row go to multinomial_data.sql, table mn_fitted)
#   [mle]      multinom on the design without the aliased columns: coefficients, standard
#              errors (Hess = TRUE), z, p values, log-likelihood, AIC
#   [balanced] the same design with case weights n / (K n_k) (class_weight "balanced")
#   [telco]    Contract (3 classes) on the public IBM Telco churn data, when the CSV is present
#              (default ../../../shared/data/churn/Telco-Customer-Churn.csv relative to this
#              script); otherwise a note saying it was skipped.
# output_dir defaults to the folder of this script. See README.md.
#
# Convergence. multinom minimizes by BFGS (optim's vmmin) and stops, by default, when an
# iteration improves the objective by less than reltol = 1e-8 of it, which leaves the
# coefficients some 1e-4 from the maximum. Here every fit runs with maxit = 100000,
# reltol = 1e-300 (so it stops only when BFGS can improve no more, at rounding level) and
# abstol = -1, from a start at zero; multinomial_sklearn.py then solves the same
# likelihoods by Newton's method, independently, and prints how far these figures are from
# that solution (check.* lines: below 1e-9 relative).
#
# Aliasing. multinom aliases nothing: on the full design the collinear column and the
# dummies that sum to the intercept leave the likelihood flat along some directions, and
# BFGS stops anywhere on that ridge, with the maximal likelihood and the same fitted
# probabilities. The coefficients are therefore compared on the design without the columns
# profenrich aliases (the dummy of a text column's most frequent level, its reference, and the
# collinear x3), where they are
# unique.

suppressMessages(library(nnet))

argv <- commandArgs(trailingOnly = TRUE)
all_args <- commandArgs(trailingOnly = FALSE)
file_arg <- sub("^--file=", "", all_args[grepl("^--file=", all_args)])
here <- if (length(file_arg) == 1) dirname(normalizePath(file_arg)) else "."
out_dir <- if (length(argv) >= 1) argv[1] else here
telco_csv <- if (length(argv) >= 2) argv[2] else
  file.path(here, "..", "..", "..", "shared", "data", "churn", "Telco-Customer-Churn.csv")

f17 <- function(v) ifelse(is.na(v), "NA", sprintf("%.17g", v))
kv <- function(key, value) cat(sprintf("%s = %s\n", key, value))

# Shortest decimal that reads back as the identical double (PostgreSQL's float8 output).
shortest <- function(v) vapply(v, function(z) {
  for (d in 1:17) {
    s <- sprintf("%.*g", d, z)
    if (as.numeric(s) == z) return(s)
  }
  stop("no round-trip representation for ", sprintf("%a", z))
}, character(1))

# multinom to the maximum: BFGS until it can improve no more, from zero weights.
fit_mle <- function(formula, data, weights = NULL) {
  nw <- NULL
  args <- list(formula = formula, data = data, Hess = TRUE, trace = FALSE,
               maxit = 100000, reltol = 1e-300, abstol = -1, MaxNWts = 100000)
  if (!is.null(weights)) args$weights <- weights
  # the number of weights, to start at 0: (K - 1) x (columns + 1) plus the reference's
  probe <- do.call(multinom, c(args[setdiff(names(args), c("maxit"))], list(maxit = 0)))
  args$Wts <- rep(0, length(probe$wts))
  do.call(multinom, args)
}

# Print a fit's coefficients, std errors, z, p values (rows: non-reference classes).
print_fit <- function(prefix, fit, colnames_out) {
  s <- summary(fit)
  cf <- s$coefficients
  se <- s$standard.errors
  for (k in rownames(cf)) {
    for (j in seq_along(colnames_out)) {
      b <- cf[k, j]
      e <- se[k, j]
      z <- b / e
      kv(sprintf("%s.%s.%s.coef", prefix, k, colnames_out[j]), f17(b))
      kv(sprintf("%s.%s.%s.se", prefix, k, colnames_out[j]), f17(e))
      kv(sprintf("%s.%s.%s.z", prefix, k, colnames_out[j]), f17(z))
      kv(sprintf("%s.%s.%s.p", prefix, k, colnames_out[j]), f17(2 * pnorm(-abs(z))))
    }
  }
  kv(sprintf("%s.loglik", prefix), f17(as.numeric(logLik(fit))))
  kv(sprintf("%s.aic", prefix), f17(AIC(fit)))
  kv(sprintf("%s.iterations_converged", prefix), fit$convergence == 0)
}

RNGkind("Mersenne-Twister", "Inversion", "Rejection")
set.seed(20261201)
n <- 400
x1 <- round(rnorm(n, 0, 1.5), 4)
x2 <- sample(0:10, n, TRUE)
flag <- runif(n) < 0.4
plan <- sample(rep(c("gold", "silver", "bronze"), c(180, 130, 90)))
x3 <- 2 * x2 + 3 * flag                     # exactly collinear, exact in binary64
classes <- c("dormant", "loyal", "occasional", "regular")
gold <- plan == "gold"
silver <- plan == "silver"
eta <- cbind(0,
             -1.0 + 0.8 * x1 + 0.10 * x2 + 0.6 * flag + 1.0 * gold + 0.3 * silver,
              0.2 - 0.4 * x1 + 0.05 * x2 + 0.0 * flag + 0.2 * gold + 0.5 * silver,
             -0.3 + 0.3 * x1 + 0.15 * x2 - 0.5 * flag + 0.6 * gold + 0.1 * silver)
pr <- exp(eta) / rowSums(exp(eta))
u <- runif(n)
cls <- classes[1 + rowSums(u > t(apply(pr, 1, cumsum)))]
d <- data.frame(id = 1:n, x1 = x1, x2 = x2, flag = flag, plan = plan, x3 = x3,
                cls = factor(cls, levels = classes))

# The metric sample: recorded probabilities in tenths (10 balls into 4 bins), so rows tie
# within (argmax) and across (AUC), one class is all but never the most probable, and a
# probability of 0 meets its true class (log loss clipping).
m <- 60
balls <- t(rmultinom(m, 10, c(0.35, 0.30, 0.05, 0.30)))
mp <- balls / 10
mp[1, ] <- c(0, 1, 0, 0)
actual <- classes[sample(1:4, m, TRUE, prob = c(0.3, 0.3, 0.15, 0.25))]
actual[1] <- "dormant"

write.csv(data.frame(id = d$id, x1 = shortest(x1), x2 = x2, flag = as.integer(flag), plan = plan,
                     x3 = x3, cls = cls, x1_hex = sprintf("%a", x1)),
          file.path(out_dir, "multinomial_data.csv"), row.names = FALSE, quote = FALSE)
write.csv(data.frame(id = 1:m, actual = actual, p_dormant = mp[, 1], p_loyal = mp[, 2],
                     p_occasional = mp[, 3], p_regular = mp[, 4]),
          file.path(out_dir, "multinomial_metric_sample.csv"), row.names = FALSE, quote = FALSE)

# [full]: the collinear design
full <- fit_mle(cls ~ x1 + x2 + flag + plan + x3, d)
fp <- fitted(full)

sql <- file.path(out_dir, "multinomial_data.sql")
con <- file(sql, "w")
writeLines(c("-- Generated by multinomial_nnet.R (do not edit by hand; see README.md).",
             "-- mn_data: 400 rows, set.seed(20261201); x3 = 2*x2 + 3*flag (exactly collinear).",
             "-- mn_fitted: nnet::multinom's fitted probabilities on the full design (x3 included).",
             "-- mn_metric_sample: 60 recorded predictions (probabilities in tenths: many ties).",
             "DROP TABLE IF EXISTS mn_data, mn_fitted, mn_metric_sample;",
             "CREATE TABLE mn_data (id int PRIMARY KEY, x1 float8, x2 int, flag boolean, plan text, x3 int, cls text);",
             "INSERT INTO mn_data (id, x1, x2, flag, plan, x3, cls) VALUES"), con)
rows <- sprintf("  (%d, %s, %d, %s, '%s', %d, '%s')", d$id, shortest(x1), x2,
                ifelse(flag, "true", "false"), plan, as.integer(x3), cls)
writeLines(paste0(rows, c(rep(",", n - 1), ";")), con)
writeLines(c("CREATE TABLE mn_fitted (id int PRIMARY KEY, dormant float8, loyal float8, occasional float8, regular float8);",
             "INSERT INTO mn_fitted VALUES"), con)
rows <- sprintf("  (%d, %s, %s, %s, %s)", d$id, f17(fp[, 1]), f17(fp[, 2]), f17(fp[, 3]), f17(fp[, 4]))
writeLines(paste0(rows, c(rep(",", n - 1), ";")), con)
writeLines(c("CREATE TABLE mn_metric_sample (id int PRIMARY KEY, actual text, p_dormant float8, p_loyal float8, p_occasional float8, p_regular float8);",
             "INSERT INTO mn_metric_sample VALUES"), con)
rows <- sprintf("  (%d, '%s', %s, %s, %s, %s)", 1:m, actual, mp[, 1], mp[, 2], mp[, 3], mp[, 4])
writeLines(paste0(rows, c(rep(",", m - 1), ";")), con)
close(con)

cat("[data]\n")
kv("n", n)
for (k in classes) kv(sprintf("count.%s", k), sum(cls == k))
for (p in c("gold", "silver", "bronze")) kv(sprintf("plan.%s", p), sum(plan == p))
kv("flag.true", sum(flag))
kv("R.version", R.version.string)
kv("nnet.version", as.character(packageVersion("nnet")))

cat("[full]\n")
kv("full.loglik", f17(as.numeric(logLik(full))))
kv("full.convergence", full$convergence)
kv("full.fitted.1", paste(f17(fp[1, ]), collapse = " "))

# [mle]: explicit dummies in profenrich's slot order (levels by frequency: gold, silver,
# bronze), gold (the most frequent: the reference) and x3 left out: the slots profenrich aliases
d$plan_silver <- as.integer(plan == "silver")
d$plan_bronze <- as.integer(plan == "bronze")
d$flagn <- as.integer(flag)
mle <- fit_mle(cls ~ x1 + x2 + flagn + plan_silver + plan_bronze, d)
cat("[mle]\n")
print_fit("mle", mle, c("(intercept)", "x1", "x2", "flag", "plan=silver", "plan=bronze"))
kv("mle.fitted.1", paste(f17(fitted(mle)[1, ]), collapse = " "))

# [balanced]: case weights n / (K n_k)
counts <- table(d$cls)
bw <- as.numeric(n / (length(classes) * counts[as.character(d$cls)]))
bal <- fit_mle(cls ~ x1 + x2 + flagn + plan_silver + plan_bronze, d, weights = bw)
cat("[balanced]\n")
for (k in classes) kv(sprintf("balanced.weight.%s", k), f17(n / (length(classes) * counts[[k]])))
print_fit("balanced", bal, c("(intercept)", "x1", "x2", "flag", "plan=silver", "plan=bronze"))

cat("[telco]\n")
if (file.exists(telco_csv)) {
  tc <- read.csv(telco_csv, stringsAsFactors = FALSE)
  by_freq <- function(v) names(sort(table(v), decreasing = TRUE))
  y <- factor(tc$Contract, levels = sort(unique(tc$Contract)))
  td <- data.frame(y = y, tenure = tc$tenure, monthly_charges = tc$MonthlyCharges,
                   senior_citizen = tc$SeniorCitizen)
  cols <- c("(intercept)", "tenure", "monthly_charges", "senior_citizen")
  for (v in c("InternetService", "PaymentMethod", "PaperlessBilling")) {
    lv <- by_freq(tc[[v]])
    snake <- c(InternetService = "internet_service", PaymentMethod = "payment_method",
               PaperlessBilling = "paperless_billing")[[v]]
    kv(sprintf("telco.levels.%s", snake), paste(sprintf("%s:%d", lv, as.integer(table(tc[[v]])[lv])), collapse = "|"))
    for (l in lv[-1]) {                # the most frequent level is the reference (aliased)
      nm <- make.names(paste0(snake, "_", l))
      td[[nm]] <- as.integer(tc[[v]] == l)
      cols <- c(cols, sprintf("%s=%s", snake, l))
    }
  }
  fit <- fit_mle(as.formula(paste("y ~", paste(setdiff(names(td), "y"), collapse = " + "))), td)
  kv("telco.n", nrow(td))
  for (k in levels(y)) kv(sprintf("telco.count.%s", k), sum(y == k))
  print_fit("telco", fit, cols)
  fpt <- fitted(fit)
  for (i in 1:10)
    kv(sprintf("telco.fitted.%s", tc$customerID[i]), paste(f17(fpt[i, ]), collapse = " "))
} else {
  kv("telco", sprintf("skipped: %s not found", telco_csv))
}
