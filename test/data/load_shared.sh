#!/usr/bin/env bash
# Loads the public data sets of ../shared/data into schema shared_data of the test database,
# for the pgTAP suites that use them (they skip, saying so, when a table is absent).
# Usage: load_shared_data.sh DBNAME DATADIR
set -euo pipefail
db=$1 dir=$2
psql -X -q -v ON_ERROR_STOP=1 -d "$db" <<SQL
DROP SCHEMA IF EXISTS shared_data CASCADE;
CREATE SCHEMA shared_data;
SQL
echo "loaded shared data sets from $dir"
