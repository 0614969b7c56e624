#!/usr/bin/env bash
# The whole test suite, against the cluster with-cluster.sh started: pg_regress (sql/ against
# expected/), then the pgTAP suites under test/ with pg_prove, then the shell TAP tests under
# test/ with prove. Every part runs; the script fails if any part failed.
set -uo pipefail
cd "$PROFENRICH_ROOT"
fail=0

echo "== pg_regress"
if ! make -s installcheck; then
  fail=1
  [ -f regression.diffs ] && head -n 200 regression.diffs
fi

echo "== pgTAP (pg_prove)"
db=profenrich_tap
dropdb --if-exists "$db" && createdb "$db"
psql -X -q -d "$db" -v ON_ERROR_STOP=1 -c "CREATE EXTENSION pgtap; CREATE EXTENSION profenrich;" || fail=1
# Shared public data sets, when present beside the checkout (tests skip, saying so, otherwise).
PROFENRICH_DATA=$(cd "$PROFENRICH_ROOT/.." && pwd)/shared/data
export PROFENRICH_DATA
if [ -d "$PROFENRICH_DATA" ]; then
  bash test/data/load_shared.sh "$db" "$PROFENRICH_DATA" || fail=1
else
  echo "note: $PROFENRICH_DATA is absent; the tests on public data sets will skip"
fi
pg_prove -d "$db" --failures test/*.sql || fail=1

echo "== shell TAP tests (prove)"
prove --failures test/*.sh || fail=1

if [ $fail -ne 0 ]; then echo "SOME TESTS FAILED"; exit 1; fi
echo "ALL TESTS PASSED"
