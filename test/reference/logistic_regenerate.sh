#!/bin/sh
# Regenerate logistic_data.csv, logistic_data.sql and logistic_reference.txt.
# Needs Debian's R (Rscript) and Debian's /usr/bin/python3 with scikit-learn.
# Usage: test/reference/logistic_regenerate.sh [path/to/Telco-Customer-Churn.csv]
# (default ../shared/data/churn/Telco-Customer-Churn.csv beside the checkout; when
# absent the [telco] section says it was skipped).
set -eu
cd "$(dirname "$0")"
telco=${1:-../../../shared/data/churn/Telco-Customer-Churn.csv}
tmp=logistic_reference.txt.tmp
r_out=logistic_reference.R.tmp
trap 'rm -f "$tmp" "$r_out"' EXIT
Rscript logistic_glm.R . "$telco" > "$r_out"     # writes logistic_data.csv, logistic_data.sql
cp "$r_out" "$tmp"
# Python also checks R's glm estimates (Newton) and metric figures (AUC) against its own.
/usr/bin/python3 logistic_sklearn.py . "$r_out" >> "$tmp"
mv "$tmp" logistic_reference.txt
echo "wrote $(pwd)/logistic_reference.txt"
