#!/bin/sh
# Regenerate linear_data.csv, linear_data.sql and linear_reference.txt.
# Needs Debian's R (Rscript) and Debian's /usr/bin/python3 with scikit-learn.
set -eu
cd "$(dirname "$0")"
tmp=linear_reference.txt.tmp
Rscript linear_lm.R . > "$tmp"           # writes linear_data.csv, linear_data.sql
/usr/bin/python3 linear_ridge.py linear_data.csv >> "$tmp"
mv "$tmp" linear_reference.txt
echo "wrote $(pwd)/linear_reference.txt"
