#!/usr/bin/env bash
# Runs a command against a throwaway 3-node Citus cluster on loopback: a coordinator and two
# workers, each initdb'd as the postgres OS user in a fresh directory under /tmp with a port of its
# own, citus (then profenrich, for its planner hook) in shared_preload_libraries, the workers added
# to the coordinator.  Everything is stopped and removed on exit, even on failure.  Exports PGHOST,
# PGPORT (the coordinator), CITUS_WORKER_PORTS ("p1 p2"), PGUSER and PROFENRICH_ROOT.
# Usage: with-citus-cluster.sh command [args...]
set -euo pipefail
bindir=${PROFENRICH_PGBIN:-/usr/lib/postgresql/15/bin}
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d /tmp/profenrich-citus-XXXXXX)
chmod 755 "$dir"
chown postgres: "$dir"
base=${PROFENRICH_CITUS_PORT:-$(( 45000 + (RANDOM % 300) * 10 ))}
ports="$base $((base + 1)) $((base + 2))"
as_pg() { runuser -u postgres -- "$@"; }
cleanup() {
  status=$?
  for p in $ports; do
    as_pg "$bindir/pg_ctl" -D "$dir/n$p" -m fast stop >/dev/null 2>&1 || true
  done
  if [ $status -ne 0 ]; then
    for p in $ports; do
      [ -f "$dir/n$p.log" ] && { echo "--- node $p log tail ---" >&2; tail -n 20 "$dir/n$p.log" >&2; }
    done
  fi
  rm -rf "$dir"
  exit $status
}
trap cleanup EXIT INT TERM
for p in $ports; do
  as_pg "$bindir/initdb" -D "$dir/n$p" -A trust -U postgres --no-sync >/dev/null
  {
    echo "listen_addresses = '127.0.0.1'"
    echo "unix_socket_directories = '$dir'"
    echo "port = $p"
    echo "shared_preload_libraries = 'citus, profenrich'"
    echo "fsync = off"
    echo "max_connections = 60"
    echo "max_worker_processes = 16"
    echo "citus.shard_count = 8"
    echo "citus.enable_unsafe_triggers = on"
  } >> "$dir/n$p/postgresql.conf"
  echo "host all all 127.0.0.1/32 trust" >> "$dir/n$p/pg_hba.conf"
  as_pg "$bindir/pg_ctl" -D "$dir/n$p" -l "$dir/n$p.log" -w -t 60 start >/dev/null
done
set -- $ports "$@"
coord=$1 w1=$2 w2=$3
shift 3
q() { "$bindir/psql" -X -q -h "$dir" -p "$1" -U postgres -d postgres -v ON_ERROR_STOP=1 -c "$2" >/dev/null; }
for p in $coord $w1 $w2; do q "$p" "CREATE EXTENSION citus"; done
q "$coord" "SELECT citus_set_coordinator_host('127.0.0.1', $coord)"
q "$coord" "SELECT citus_add_node('127.0.0.1', $w1)"
q "$coord" "SELECT citus_add_node('127.0.0.1', $w2)"
export PGHOST=$dir PGPORT=$coord PGUSER=postgres PGDATABASE=postgres PROFENRICH_ROOT=$root
export CITUS_WORKER_PORTS="$w1 $w2"
"$@"
