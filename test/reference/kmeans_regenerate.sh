#!/bin/sh
# Regenerate kmeans_data.sql and kmeans_reference.txt with Debian's /usr/bin/python3
# (scikit-learn). Usage: test/reference/kmeans_regenerate.sh [path/to/Churn_Modelling.csv]
# (default ../shared/data/churn/Churn_Modelling.csv beside the checkout; when absent the
# [bank] section says it was skipped).
set -eu
cd "$(dirname "$0")"
churn=${1:-../../../shared/data/churn/Churn_Modelling.csv}
/usr/bin/python3 kmeans_reference.py . "$churn" > kmeans_reference.txt.tmp
mv kmeans_reference.txt.tmp kmeans_reference.txt
echo "wrote $(pwd)/kmeans_reference.txt and kmeans_data.sql"
