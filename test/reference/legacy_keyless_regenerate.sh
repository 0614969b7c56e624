#!/usr/bin/env bash
# Prints the INSERT statements of three keyless models trained by release 0.4.0, for
# sql/lazy_numerics.sql. Run with PGHOST/PGPORT of a cluster whose profenrich.so is the
# 0.4.0 build (git checkout of the 0.4.0 release, make install into a PostgreSQL copy).
set -euo pipefail
db=profenrich_legacy
dropdb --if-exists "$db"
createdb "$db"
psql -X -v ON_ERROR_STOP=1 -d "$db" -f "$(dirname "$0")/legacy_keyless.sql"
dropdb "$db"
