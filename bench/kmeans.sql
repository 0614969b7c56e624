-- Issue 11 targets, serial plans, 1M rows x 20 float8 (uniform: no cluster structure, so
-- Lloyd's iterations crawl, about a hundred of them):
--   train 'kmeans' with k = 8, n_init 1 (in memory)  <= 8x SELECT sum(f1+...+f20);
--   sum(segment('m', t))                             <= 2x the same scan.
-- The comparison with scikit-learn KMeans is in scripts/run-bench.sh (bench/kmeans_sklearn.py).
\set QUIET on
SET max_parallel_workers_per_gather = 0;
SET client_min_messages = warning;
CREATE TEMP TABLE scan AS SELECT bench.time_ms(
  'SELECT sum(f1+f2+f3+f4+f5+f6+f7+f8+f9+f10+f11+f12+f13+f14+f15+f16+f17+f18+f19+f20) FROM bench.t') AS ms;
INSERT INTO bench.results (bench, measured, ms, baseline, baseline_ms, goal)
SELECT 'kmeans: train', 'profenrich.train(''kmeans''), k 8, n_init 1', bench.time_ms(
  $$SELECT profenrich.train('bench_km', 'kmeans', 'bench.t', NULL,
        ARRAY['f1','f2','f3','f4','f5','f6','f7','f8','f9','f10','f11','f12','f13','f14','f15',
              'f16','f17','f18','f19','f20'], '{"k": 8, "n_init": 1}')$$, 3),
  'SELECT sum(f1+...+f20)', ms, '<= 8.0' FROM scan;
INSERT INTO bench.results (bench, measured, ms, baseline, baseline_ms, goal)
SELECT 'kmeans: segment', 'sum(profenrich.segment(''bench_km'', t))', bench.time_ms(
  $$SELECT sum(profenrich.segment('bench_km', t)) FROM bench.t t$$),
  'SELECT sum(f1+...+f20)', ms, '<= 2.0' FROM scan;
SELECT 'kmeans fit: ' || (metrics->>'iterations') || ' iterations, converged ' ||
       (metrics->>'converged') || ', inertia ' || round((metrics->>'inertia')::numeric, 1) ||
       ', path ' || (metrics->>'path') AS fit
FROM profenrich.models WHERE name = 'bench_km' ORDER BY version DESC LIMIT 1 \gset
\echo :fit
RESET max_parallel_workers_per_gather;
