#!/usr/bin/env bash
# Runs the pg_regress and pgTAP suites against a throwaway cluster whose server processes run
# under valgrind (memcheck), then reports every valgrind error whose stack passes through
# profenrich.so. Slow (tens of minutes); for developers before resolving numeric code.
# Test results are informative only here: timing checks (the interrupted enrich run of
# sql/enrich.sql stops after 300 ms, before any batch can finish under valgrind) differ.
# Usage: scripts/valgrind-check.sh   (as root, after make install; PROFENRICH_PGBIN as for make)
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bindir=${PROFENRICH_PGBIN:-/usr/lib/postgresql/15/bin}
dir=$(mktemp -d /tmp/profenrich-vg-XXXXXX); chmod 755 "$dir"; chown postgres: "$dir"
cat > "$dir/postgres" <<WRAP
#!/bin/sh
exec valgrind --quiet --trace-children=yes --track-origins=yes --num-callers=30 \
  --log-file=$dir/vg.%p.log $bindir/postgres "\$@"
WRAP
chmod 755 "$dir/postgres"
port=$(( 59000 + RANDOM % 500 ))
runuser -u postgres -- $bindir/initdb -D "$dir/data" -A trust -U postgres >/dev/null
runuser -u postgres -- $bindir/pg_ctl -p "$dir/postgres" -D "$dir/data" -l "$dir/log" -w -t 600 \
  -o "-k $dir -p $port -c listen_addresses='' -c max_parallel_workers_per_gather=2" start >/dev/null
export PGHOST=$dir PGPORT=$port PGUSER=postgres
cd "$root"
make -s installcheck || true
dropdb --if-exists profenrich_vg_tap; createdb profenrich_vg_tap
psql -X -q -d profenrich_vg_tap -c "CREATE EXTENSION pgtap; CREATE EXTENSION profenrich"
pg_prove -d profenrich_vg_tap test/*.sql || true
runuser -u postgres -- $bindir/pg_ctl -D "$dir/data" -m fast -t 600 stop >/dev/null
errors=$(grep -l "profenrich.so" "$dir"/vg.*.log 2>/dev/null | wc -l)
echo "valgrind logs with errors in profenrich.so: $errors"
grep -h -B2 -A25 "profenrich.so" "$dir"/vg.*.log 2>/dev/null | head -200
echo "logs kept in $dir"
[ "$errors" -eq 0 ]
