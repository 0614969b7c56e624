#!/usr/bin/env bash
# Runs a command against a throwaway PostgreSQL 15 cluster: initdb as the postgres OS user in a
# fresh directory under /tmp, its own socket and port, pg_cron preloaded; stopped and removed on
# exit, even on failure. Exports PGHOST, PGPORT, PGUSER and PROFENRICH_ROOT for the command.
# Usage: with-cluster.sh [--bench] command [args...]
set -euo pipefail
bench=0
if [ "${1:-}" = "--bench" ]; then bench=1; shift; fi
# PROFENRICH_PGBIN: another PostgreSQL 15 installation's bin directory (a relocated copy)
bindir=${PROFENRICH_PGBIN:-/usr/lib/postgresql/15/bin}
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d /tmp/profenrich-pg-XXXXXX)
chmod 755 "$dir"
chown postgres: "$dir"
port=${PROFENRICH_PORT:-$(( 55000 + RANDOM % 4000 ))}
as_pg() { runuser -u postgres -- "$@"; }
cleanup() {
  status=$?
  as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
  if [ $status -ne 0 ] && [ -f "$dir/log" ]; then
    echo "--- server log tail ($dir/log) ---" >&2; tail -n 30 "$dir/log" >&2 || true
  fi
  rm -rf "$dir"
  exit $status
}
trap cleanup EXIT INT TERM
as_pg "$bindir/initdb" -D "$dir/data" -A trust -U postgres --no-sync >/dev/null
conf="$dir/data/postgresql.conf"
{
  echo "listen_addresses = ''"
  echo "unix_socket_directories = '$dir'"
  echo "port = $port"
  echo "shared_preload_libraries = 'pg_cron'"
  echo "cron.database_name = 'postgres'"
  echo "cron.use_background_workers = on"   # jobs run in background workers: no TCP listener here
  echo "max_worker_processes = 16"
  echo "fsync = off"
  echo "max_parallel_workers_per_gather = 2"
  if [ $bench -eq 1 ]; then
    echo "shared_buffers = 2GB"
    echo "work_mem = 64MB"
    echo "max_wal_size = 8GB"
    echo "synchronous_commit = off"
  fi
} >> "$conf"
as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 start >/dev/null
export PGHOST=$dir PGPORT=$port PGUSER=postgres PGDATABASE=postgres PROFENRICH_ROOT=$root
"$@"
