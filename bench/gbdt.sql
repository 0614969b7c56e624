-- Issue 14 targets, serial plans, 1M rows x 20 float8 and a boolean label, 100 trees of depth 6,
-- profenrich.train_threads 1 (the ratios against Python are inserted by run-bench.sh):
--   train 'gbdt' <= 1.5x Python's DMatrix + xgboost.train on the data in a NumPy array;
--   sum(score('bench_gbdt', t)) <= 6x SELECT sum(f1+...+f20).
\set QUIET on
SET max_parallel_workers_per_gather = 0;
SET client_min_messages = warning;
SET profenrich.train_threads = 1;
CREATE TEMP TABLE scan AS SELECT bench.time_ms(
  'SELECT sum(f1+f2+f3+f4+f5+f6+f7+f8+f9+f10+f11+f12+f13+f14+f15+f16+f17+f18+f19+f20) FROM bench.t') AS ms;
-- one warm run and the faster of two timed runs (a run takes tens of seconds); run-bench.sh
-- compares it with Python's
CREATE TABLE bench.gbdt_train AS SELECT bench.time_ms(
  $$SELECT profenrich.train('bench_gbdt', 'gbdt', 'bench.t', 'label',
        ARRAY['f1','f2','f3','f4','f5','f6','f7','f8','f9','f10','f11','f12','f13','f14','f15',
              'f16','f17','f18','f19','f20'],
        '{"n_trees": 100, "max_depth": 6, "learning_rate": 0.1, "test_fraction": 0,
          "early_stopping_rounds": 0}')$$, 2) AS ms;
INSERT INTO bench.results (bench, measured, ms, baseline, baseline_ms, goal)
SELECT 'gbdt: score', 'SELECT sum(profenrich.score(''bench_gbdt'', t))',
  bench.time_ms($$SELECT sum(profenrich.score('bench_gbdt', t)) FROM bench.t t$$, 3),
  'SELECT sum(f1+...+f20)', ms, '<= 6.0' FROM scan;
SELECT 'gbdt fit: ' || (metrics->>'trees') || ' trees, train AUC ' ||
       round((metrics->'train'->>'auc')::numeric, 4) AS fit
FROM profenrich.models WHERE name = 'bench_gbdt' ORDER BY version DESC LIMIT 1 \gset
\echo :fit
RESET max_parallel_workers_per_gather;
