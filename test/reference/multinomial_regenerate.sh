#!/bin/sh
# Regenerate multinomial_data.csv, multinomial_metric_sample.csv, multinomial_data.sql and
# multinomial_reference.txt. Needs Debian's R (Rscript, r-cran-nnet) and Debian's
# /usr/bin/python3 with scikit-learn.
# Usage: test/reference/multinomial_regenerate.sh [path/to/Telco-Customer-Churn.csv]
# (default ../shared/data/churn/Telco-Customer-Churn.csv beside the checkout; when absent the
# [telco] sections say they were skipped).
set -eu
cd "$(dirname "$0")"
telco=${1:-../../../shared/data/churn/Telco-Customer-Churn.csv}
tmp=multinomial_reference.txt.tmp
r_out=multinomial_reference.R.tmp
trap 'rm -f "$tmp" "$r_out"' EXIT
Rscript multinomial_nnet.R . "$telco" > "$r_out"   # writes the data files
cp "$r_out" "$tmp"
# Python solves the same likelihoods by Newton's method and checks R's figures against it.
/usr/bin/python3 multinomial_sklearn.py . "$r_out" "$telco" >> "$tmp"
mv "$tmp" multinomial_reference.txt
echo "wrote $(pwd)/multinomial_reference.txt"
