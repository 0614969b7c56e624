#!/usr/bin/env bash
# Issue 9 targets: a new connection pays only for what it uses (OpenBLAS is opened by the
# first training, never by scoring), against baselines measured in the same run:
#   pgbench -C (a new connection per transaction, 2 clients): a profile by key with its live
#   score_churn >= 0.8x the throughput of fetching the profile alone
#   a first score in a new connection at most 2 ms more than a plain query in a new
#   connection (pgbench -C, 1 client: the time per transaction, connection included)
# Needs the 'bench_logit' model that bench/logistic.sql trains on bench.t.
set -euo pipefail
db=$1
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" -c "$1"; }
result() {  # bench measured ms baseline baseline_ms goal
  q "INSERT INTO bench.results (bench, measured, ms, baseline, baseline_ms, goal) VALUES ('$1', '$2', $3, '$4', $5, '$6')"
}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
printf '\\set id random(1, 1000000)\nSELECT * FROM bench.t WHERE id = :id;\n' > "$dir/plain.sql"
printf "\\\\set id random(1, 1000000)\nSELECT t.*, profenrich.score_churn(t, 'bench_logit') FROM bench.t t WHERE id = :id;\n" > "$dir/churn.sql"
printf "\\\\set id random(1, 1000000)\nSELECT profenrich.score('bench_logit', t) FROM bench.t t WHERE id = :id;\n" > "$dir/score.sql"
seconds=${PGBENCH_SECONDS:-5}
tps() {  # clients script: transactions per second, a new connection for each
  pgbench -n -C -c "$1" -j "$1" -T "$seconds" -f "$2" "$db" 2>/dev/null | awk '/^tps = / {print $3; exit}'
}
mean() { printf '%s\n' "$@" | awk '{s += $1} END {print s / NR}'; }
# the same script runs first in the first backend, so both sides start from a loaded registry
q "SELECT profenrich.score('bench_logit', t) FROM bench.t t LIMIT 1" >/dev/null
q "CHECKPOINT"

# Throughput with a new connection per query: runs of $seconds s in the order plain, scored,
# scored, plain, three times (throughput on a shared machine moves by more than the effect
# between runs; mirrored short runs give both sides the same share of each level)
plain=() churn=()
for rep in 1 2 3; do
  plain+=("$(tps 2 "$dir/plain.sql")")
  churn+=("$(tps 2 "$dir/churn.sql")")
  churn+=("$(tps 2 "$dir/churn.sql")")
  plain+=("$(tps 2 "$dir/plain.sql")")
done
echo "pgbench -C -c 2 runs (tps): plain ${plain[*]}; with score_churn ${churn[*]}"
t_plain=$(mean "${plain[@]}")
t_churn=$(mean "${churn[@]}")
# a throughput: the ratio is baseline time over measured time (tps_scored / tps_plain)
result "connect: pgbench -C" "profile + score_churn, new connection each: $t_churn tps" \
       "$(awk "BEGIN {print 1000 / $t_churn}")" "profile alone, new connection each: $t_plain tps" \
       "$(awk "BEGIN {print 1000 / $t_plain}")" "<= 1.25"

# The time of a new connection's first score, against a new connection's plain query plus
# 2 ms: the ratio is at most 1 when the first score costs at most 2 ms more
plain=() first=()
for rep in 1 2 3; do
  plain+=("$(tps 1 "$dir/plain.sql")")
  first+=("$(tps 1 "$dir/score.sql")")
  first+=("$(tps 1 "$dir/score.sql")")
  plain+=("$(tps 1 "$dir/plain.sql")")
done
echo "pgbench -C -c 1 runs (tps): plain ${plain[*]}; first score ${first[*]}"
ms_plain=$(awk "BEGIN {print 1000 / $(mean "${plain[@]}")}")
ms_first=$(awk "BEGIN {print 1000 / $(mean "${first[@]}")}")
echo "a new connection: $ms_plain ms with a plain query, $ms_first ms with a first score"
result "connect: first score" "new connection + first score(): $ms_first ms" "$ms_first" \
       "new connection + plain query ($ms_plain ms) + 2 ms" "$(awk "BEGIN {print $ms_plain + 2}")" "<= 1.0"
