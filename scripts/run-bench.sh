#!/usr/bin/env bash
# Runs the benchmarks under bench/ against the cluster with-cluster.sh started and prints a
# table of ratios against baselines measured in the same run. BENCH_ROWS overrides 1,000,000.
set -euo pipefail
cd "$PROFENRICH_ROOT"
# the comparison pipeline only: Debian's scikit-learn and pandas
for p in python3-sklearn python3-pandas python3-scipy python3-xgboost; do
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
for f in bench/linear.sql bench/logistic.sql bench/defaults.sql bench/group_by.sql bench/discovery.sql bench/monitor.sql bench/kmeans.sql; do
  echo "== $f"
  psql_b -q -f "$f"
done
echo "== the pipeline profenrich replaces: psql COPY -> pandas -> scikit-learn LogisticRegression"
ours=$(psql_b -At -c "SELECT ms FROM bench.results WHERE bench = 'logistic: train'")
theirs=$(/usr/bin/python3 bench/sklearn_pipeline.py "$db")
psql_b -q -c "INSERT INTO bench.results (bench, measured, ms, baseline, baseline_ms, goal)
  VALUES ('logistic: vs sklearn', 'train(''logistic'')', $ours, 'COPY+pandas+sklearn, end to end', $theirs, '<= 0.333')"
echo "== k-means: scikit-learn KMeans(n_clusters=8, n_init=1) on the same data in a NumPy array"
ours=$(psql_b -At -c "SELECT ms FROM bench.results WHERE bench = 'kmeans: train'")
theirs=$(/usr/bin/python3 bench/kmeans_sklearn.py "$db")
echo "scikit-learn: ${theirs%% *} ms, $(echo "$theirs" | cut -d' ' -f2) iterations, inertia ${theirs##* }"
psql_b -q -c "INSERT INTO bench.results (bench, measured, ms, baseline, baseline_ms, goal)
  VALUES ('kmeans: vs sklearn', 'train(''kmeans''), reading included', $ours,
          'sklearn KMeans, data in NumPy', ${theirs%% *}, '< 1.0')"
echo "== bench/multinomial.sql (its own table, bench.m, dropped after)"
psql_b -q -f bench/multinomial.sql
echo "== the pipeline profenrich replaces: psql COPY -> pandas -> multinomial LogisticRegression"
ours=$(psql_b -At -c "SELECT ms FROM bench.results WHERE bench = 'multinomial: train'")
theirs=$(/usr/bin/python3 bench/sklearn_multinomial.py "$db")
psql_b -q -c "INSERT INTO bench.results (bench, measured, ms, baseline, baseline_ms, goal)
  VALUES ('multinomial: vs sklearn', 'train(''multinomial''), 4 classes', $ours,
          'COPY+pandas+sklearn multinomial, end to end', $theirs, '<= 0.2')" -c "DROP TABLE bench.m"
echo "== bench/gbdt.sql: 100 trees of depth 6, one thread"
psql_b -q -f bench/gbdt.sql
echo "== the same boosting in Python: xgboost.train on a NumPy array, and COPY -> pandas -> xgboost.train"
xgb=$(/usr/bin/python3 bench/xgboost_python.py "$db")
echo "python: $xgb"
numpy_ms=$(printf '%s\n' "$xgb" | sed -n 's/^numpy_ms=\([0-9.]*\).*/\1/p')
pipeline_ms=$(printf '%s\n' "$xgb" | sed -n 's/.*pipeline_ms=\([0-9.]*\).*/\1/p')
ours=$(psql_b -At -c "SELECT ms FROM bench.gbdt_train")
psql_b -q -c "INSERT INTO bench.results (bench, measured, ms, baseline, baseline_ms, goal) VALUES
  ('gbdt: vs xgboost.train', 'train(''gbdt'')', $ours, 'DMatrix + xgboost.train, data in NumPy', $numpy_ms, '<= 1.5'),
  ('gbdt: vs python pipeline', 'train(''gbdt'')', $ours, 'COPY+pandas+xgboost.train, end to end', $pipeline_ms, '<= 1.0')"
echo "== lifetime value: $rows simulated customers (bench/clv_sim.py)"
psql_b -q -c "CREATE TABLE bench.clv_tx (customer_id int, day date, amount float8)"
/usr/bin/python3 bench/clv_sim.py "$rows" 42 | psql_b -q -c "\\copy bench.clv_tx FROM STDIN WITH (FORMAT csv)"
psql_b -q -c "VACUUM ANALYZE bench.clv_tx" \
  -c "CREATE TABLE bench.clv_sum AS SELECT customer_id, (profenrich.rfm(day, amount, '2025-12-31')).*
      FROM bench.clv_tx GROUP BY customer_id" -c "VACUUM ANALYZE bench.clv_sum"
psql_b -q -f bench/clv.sql
# BG/NBD on CDNOW against SciPy's L-BFGS-B with numerical gradients, data already in NumPy
PROFENRICH_DATA=$(cd "$PROFENRICH_ROOT/.." && pwd)/shared/data
if [ -f "$PROFENRICH_DATA/cdnow/CDNOW_sample.txt" ]; then
  bash test/data/load_shared.sh "$db" "$PROFENRICH_DATA" >/dev/null
  psql_b -q -c "CREATE TABLE bench.cdnow_sum AS SELECT customer_id, (profenrich.rfm(day, dollars, '1997-09-30')).*
                FROM shared_data.cdnow GROUP BY customer_id"
  scipy=$(psql_b -At -c "COPY (SELECT frequency, recency, t FROM bench.cdnow_sum) TO STDOUT WITH (FORMAT csv)" |
          /usr/bin/python3 bench/bgnbd_scipy.py)
  echo "scipy: $scipy"
  scipy_ms=$(printf '%s\n' "$scipy" | sed -n 's/^scipy_ms=\([0-9.]*\).*/\1/p')
  psql_b -q -c "INSERT INTO bench.results (bench, measured, ms, baseline, baseline_ms, goal)
    SELECT 'clv: bgnbd vs scipy', 'train(''bgnbd'') on CDNOW, reading included',
      bench.time_ms(\$\$SELECT profenrich.train('bench_bg', 'bgnbd', 'bench.cdnow_sum')\$\$),
      'scipy L-BFGS-B, numerical gradients, data in NumPy', $scipy_ms, '<= 0.25'"
else
  echo "skipping the BG/NBD vs SciPy benchmark: $PROFENRICH_DATA/cdnow is absent"
fi
echo "== bench/enrich.sh"
bash bench/enrich.sh "$db"
echo "== bench/connect.sh"
bash bench/connect.sh "$db"
bash bench/memory.sh "$db"
echo "== bench/affinity.sh"
bash bench/affinity.sh "$db"
echo
echo "== results (ratio = measured / baseline, both measured in this run)"
psql_b -P footer=off -c "SELECT bench, measured, round(ms::numeric, 1) AS ms, baseline,
  round(baseline_ms::numeric, 1) AS baseline_ms, round(ratio::numeric, 2) AS ratio, goal,
  CASE WHEN goal NOT LIKE '<=%' THEN '' WHEN ratio <= substring(goal FROM '[0-9.]+')::float8 THEN 'met' ELSE 'NOT MET' END AS status
  FROM bench.results ORDER BY bench"
echo
echo "== the same as README rows"
psql_b -At -c "SELECT '| ' || bench || ': ' || measured || ', ' || round(ms::numeric, 1) || ' ms | ' || baseline || ': ' ||
  round(baseline_ms::numeric, 1) || ' ms | ' || round(ratio::numeric, 2) || ' | ' || goal || ' |'
  FROM bench.results ORDER BY bench"
