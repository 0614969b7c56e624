#!/usr/bin/env bash
# Training memory: peak anonymous RSS of the backend (polled from /proc every 5 ms, minus its
# idle size) while training 'linear' on 300,000 and on all rows (it must not grow with the rows:
# both are past the 20,000-row-per-split sample, the only part that grows with small tables),
# and 'logistic' in memory on all rows (against the size of the data, rows x slots x 8 bytes).
# Shared buffers are not anonymous memory, so they do not count.
set -euo pipefail
db=$1
psql -X -q -d "$db" -c "CREATE OR REPLACE VIEW bench.t_300k AS SELECT * FROM bench.t WHERE id <= 300000"
feats="ARRAY['f1','f2','f3','f4','f5','f6','f7','f8','f9','f10','f11','f12','f13','f14','f15','f16','f17','f18','f19','f20']"
peak_kb() {  # relation [algorithm target]
  local alg=${2:-linear} target=${3:-y}
  psql -X -q -d "$db" -c "SET application_name = 'profenrich_mem'; SET max_parallel_workers_per_gather = 0;
      SET client_min_messages = warning; SELECT pg_sleep(1);
      SELECT profenrich.train('bench_mem', '$alg', '$1', '$target', $feats, '{\"key\": \"id\", \"deploy\": false}')" \
      >/dev/null &
  local client=$! pid="" idle=0 peak=0 v
  for _ in $(seq 1 100); do
    pid=$(psql -X -At -d "$db" -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'profenrich_mem'")
    [ -n "$pid" ] && break; sleep 0.05
  done
  idle=$(awk '/RssAnon/ {print $2}' /proc/"$pid"/status)
  while kill -0 "$client" 2>/dev/null; do
    v=$(awk '/RssAnon/ {print $2}' /proc/"$pid"/status 2>/dev/null || echo 0)
    [ -n "$v" ] && [ "$v" -gt "$peak" ] && peak=$v
    sleep 0.005
  done
  wait "$client"
  echo $(( peak - idle ))
}
# the smallest of three peaks: allocator and BLAS buffers make a single sample noisy
peak3() { local a b c; a=$(peak_kb "$@"); b=$(peak_kb "$@"); c=$(peak_kb "$@"); printf '%s\n' "$a" "$b" "$c" | sort -n | head -1; }
small=$(peak3 bench.t_300k)
large=$(peak3 bench.t)
rows=$(psql -X -At -d "$db" -c "SELECT count(*) FROM bench.t")
echo "training memory: +${small} kB at 300000 rows, +${large} kB at $rows rows"
psql -X -q -d "$db" -c "INSERT INTO bench.results (bench, measured, ms, baseline, baseline_ms, goal)
  VALUES ('linear: memory', 'peak backend kB, $rows rows', $large, 'peak backend kB, 300000 rows', $small, '<= 1.5')"
logit=$(peak3 bench.t logistic label)
echo "logistic training memory: +${logit} kB at $rows rows x 20 slots"
psql -X -q -d "$db" -c "INSERT INTO bench.results (bench, measured, ms, baseline, baseline_ms, goal)
  VALUES ('logistic: memory', 'peak backend kB, $rows rows', $logit,
          'rows x slots x 8 bytes (kB)', $rows * 20 * 8 / 1024.0, '< 1.5')"
psql -X -q -d "$db" -c "SELECT profenrich.drop_model('bench_mem')" >/dev/null
