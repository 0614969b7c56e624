-- Issue 13 target, serial plan, 1M rows x 20 float8: drift of a 20-feature model (its training
-- source: one scan that bins every feature value and scores every row) <= 2x SELECT sum(f1+...+f20).
-- Also shown: the model's roc_curve on the same rows (it scores and sorts them; no goal).
\set QUIET on
SET max_parallel_workers_per_gather = 0;
SET client_min_messages = warning;
SELECT profenrich.drop_model(name) FROM (SELECT DISTINCT name FROM profenrich.models WHERE name = 'bench_drift') s;
SELECT name FROM profenrich.train('bench_drift', 'logistic', 'bench.t', 'label',
        ARRAY['f1','f2','f3','f4','f5','f6','f7','f8','f9','f10','f11','f12','f13','f14','f15',
              'f16','f17','f18','f19','f20']) \gset
CREATE TEMP TABLE scan AS SELECT bench.time_ms(
  'SELECT sum(f1+f2+f3+f4+f5+f6+f7+f8+f9+f10+f11+f12+f13+f14+f15+f16+f17+f18+f19+f20) FROM bench.t') AS ms;
INSERT INTO bench.results (bench, measured, ms, baseline, baseline_ms, goal)
SELECT 'monitor: drift', 'profenrich.drift(''m'', t), 20 features and the score', bench.time_ms(
  $$SELECT count(*) FROM profenrich.drift('bench_drift', 'bench.t')$$),
  'SELECT sum(f1+...+f20)', ms, '<= 2.0' FROM scan;
SELECT 'drift of the training source: max PSI ' || round(max(psi)::numeric, 5) || ', all ' ||
       string_agg(DISTINCT status, ', ') AS drift FROM profenrich.drift('bench_drift') \gset
\echo :drift
SELECT round(bench.time_ms($$SELECT count(*) FROM profenrich.roc_curve('bench_drift', 'bench.t')$$)::numeric, 1)
       AS ms \gset
\echo roc_curve on the same rows: :ms ms (no goal)
RESET max_parallel_workers_per_gather;
