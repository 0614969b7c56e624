#!/usr/bin/env bash
# enrich's progress NOTICE says "of about N rows" only when N is the planner's estimate: a table
# never analyzed (reltuples -1) is counted, and the NOTICE gives the count; after ANALYZE the
# statistics' estimate is used and the NOTICE says "about".  (The NOTICE carries rates, so it is
# checked here, by pattern, rather than in an expected output.)  Prints TAP.
set -uo pipefail
db=profenrich_notice
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" -c "$1" 2>&1; }
diag() { printf '%s\n' "$@" | sed 's/^/# /'; }
cleanup() { dropdb --if-exists --force "$db" >/dev/null 2>&1; }
trap cleanup EXIT
echo "1..4"
dropdb --if-exists --force "$db" >/dev/null 2>&1
createdb "$db"
setup=$(q "CREATE EXTENSION profenrich;
  CREATE TABLE p AS SELECT i AS id, (i % 60) AS tenure, (i % 3 = 0) AS churned FROM generate_series(1, 1234) i;
  SELECT profenrich.train('n', 'logistic', 'p', 'churned', ARRAY['tenure']);")
[ $? -eq 0 ] || diag "setup failed:" "$setup"

# a table never analyzed: its rows are counted, no "about"
out=$(q "SELECT reltuples < 0 FROM pg_class WHERE relname = 'p'")
if [ "$out" = "t" ]; then echo "ok 1 - the table was never analyzed (reltuples -1)"; else echo "not ok 1 - reltuples: $out"; fi
out=$(q "CALL profenrich.enrich('p', array['n'])")
if printf '%s' "$out" | grep -q "enriched 1234 of 1234 rows of public.p"; then
  echo "ok 2 - counted: the NOTICE says \"of 1234 rows\""
else
  echo "not ok 2 - NOTICE without the exact count"; diag "$out"
fi

# analyzed: the estimate, said to be one
q "ANALYZE p" >/dev/null
out=$(q "UPDATE p SET tenure = 59 - tenure")
out=$(q "CALL profenrich.enrich('p', array['n'])")
if printf '%s' "$out" | grep -q "enriched 1234 of about 1234 rows of public.p"; then
  echo "ok 3 - estimated: the NOTICE says \"of about 1234 rows\""
else
  echo "not ok 3 - NOTICE without \"about\" for an estimate"; diag "$out"
fi
out=$(q "SELECT rows_scanned FROM profenrich.enrich_runs ORDER BY run_id DESC LIMIT 1")
if [ "$out" -ge 1234 ] 2>/dev/null; then echo "ok 4 - the run scanned every row ($out)"; else echo "not ok 4 - rows_scanned $out"; fi
