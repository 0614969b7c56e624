#!/usr/bin/env bash
# make demo: build the demo data set on the throwaway cluster and run the main job.
set -euo pipefail
cd "$PROFENRICH_ROOT"
db=profenrich_demo
createdb "$db"
psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "CREATE EXTENSION profenrich"
echo "== building the demo data set (5,000 profiles, ~200,000 experience events, fixed seed)"
psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f scripts/demo_data.sql >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "SELECT count(*) AS profiles, (SELECT count(*) FROM demo.experience_events) AS events FROM demo.profiles"
psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f scripts/demo.sql
