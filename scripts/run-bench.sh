#!/usr/bin/env bash
# Runs the benchmarks under bench/ against the cluster with-cluster.sh started and prints a
# table of ratios against baselines measured in the same run. BENCH_ROWS overrides 1,000,000.
set -euo pipefail
cd "$PROFENRICH_ROOT"
# the comparison pipeline only: Debian's scikit-learn and pandas
for p in python3-sklearn python3-pandas; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="${missing:-} $p"
done
if [ -n "${missing:-}" ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi
rows=${BENCH_ROWS:-1000000}
db=profenrich_bench
createdb "$db"
psql_b() { psql -X -v ON_ERROR_STOP=1 -v rows="$rows" -d "$db" "$@"; }
echo "== building $rows-row benchmark table"
psql_b -q -f bench/setup.sql
for f in bench/linear.sql bench/logistic.sql; do
  echo "== $f"
  psql_b -q -f "$f"
done
echo "== the pipeline profenrich replaces: psql COPY -> pandas -> scikit-learn LogisticRegression"
ours=$(psql_b -At -c "SELECT ms FROM bench.results WHERE bench = 'logistic: train'")
theirs=$(/usr/bin/python3 bench/sklearn_pipeline.py "$db")
psql_b -q -c "INSERT INTO bench.results (bench, measured, ms, baseline, baseline_ms, goal)
  VALUES ('logistic: vs sklearn', 'train(''logistic'')', $ours, 'COPY+pandas+sklearn, end to end', $theirs, '<= 0.333')"
echo "== bench/enrich.sh"
bash bench/enrich.sh "$db"
bash bench/memory.sh "$db"
echo
echo "== results (ratio = measured / baseline, both measured in this run)"
psql_b -P footer=off -c "SELECT bench, measured, round(ms::numeric, 0) AS ms, baseline,
  round(baseline_ms::numeric, 0) AS baseline_ms, round(ratio::numeric, 2) AS ratio, goal,
  CASE WHEN ratio <= substring(goal FROM '[0-9.]+')::float8 THEN 'met' ELSE 'NOT MET' END AS status
  FROM bench.results ORDER BY bench"
