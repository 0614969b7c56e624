-- Issue 3 target, serial plan, 1M rows x 20 float8 and a boolean label:
--   train 'logistic' (in memory, test split and metrics included) <= 3x SELECT sum(f1+...+f20).
\set QUIET on
SET max_parallel_workers_per_gather = 0;
SET client_min_messages = warning;
CREATE TEMP TABLE scan AS SELECT bench.time_ms(
  'SELECT sum(f1+f2+f3+f4+f5+f6+f7+f8+f9+f10+f11+f12+f13+f14+f15+f16+f17+f18+f19+f20) FROM bench.t') AS ms;
INSERT INTO bench.results (bench, measured, ms, baseline, baseline_ms, goal)
SELECT 'logistic: train', 'profenrich.train(''logistic'') incl. test split, metrics', bench.time_ms(
  $$SELECT profenrich.train('bench_logit', 'logistic', 'bench.t', 'label',
        ARRAY['f1','f2','f3','f4','f5','f6','f7','f8','f9','f10','f11','f12','f13','f14','f15',
              'f16','f17','f18','f19','f20'])$$),
  'SELECT sum(f1+...+f20)', ms, '<= 3.0' FROM scan;
SELECT 'logistic fit: ' || (metrics->>'iterations') || ' iterations, converged ' ||
       (metrics->>'converged') || ', test AUC ' || round((metrics->'test'->>'auc')::numeric, 4) ||
       ', path ' || (metrics->>'path') AS fit
FROM profenrich.models WHERE name = 'bench_logit' ORDER BY version DESC LIMIT 1 \gset
\echo :fit
RESET max_parallel_workers_per_gather;
