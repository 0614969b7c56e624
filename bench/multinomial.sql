-- Issue 10 target, serial plans, 1M rows x 20 float8 and a 4-class target (its own table,
-- bench.m, so bench.t and the other benchmarks stay as they were):
--   train 'multinomial' (in memory, test split and metrics included) <= 8x SELECT sum(f1+...+f20)
--   on the same table; sum(length(predict_class('m', t))) <= 2x the same scan.
\set QUIET on
SET max_parallel_workers_per_gather = 0;
SET client_min_messages = warning;
-- segment drawn from a softmax model of the features (dormant the reference), fixed seed
SELECT setseed(0.5);
DROP TABLE IF EXISTS bench.m;
CREATE TABLE bench.m AS
SELECT id, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17, f18, f19, f20,
       CASE WHEN u * s < 1 THEN 'dormant' WHEN u * s < 1 + e1 THEN 'loyal'
            WHEN u * s < 1 + e1 + e2 THEN 'occasional' ELSE 'regular' END AS segment
FROM (SELECT *, 1 + e1 + e2 + e3 AS s
      FROM (SELECT *, exp(-0.5 + 1.5 * f1 - f2 + 0.5 * f3 + f10) AS e1,
                   exp(0.2 - f1 + 2 * f4 - f5 + 0.5 * f11) AS e2,
                   exp(-1 + f6 + f7 + f8 - 0.5 * f9 + f20) AS e3, random() AS u
            FROM bench.t ORDER BY id) a) b;
ALTER TABLE bench.m ADD PRIMARY KEY (id);
VACUUM ANALYZE bench.m;
CREATE TEMP TABLE mscan AS SELECT bench.time_ms(
  'SELECT sum(f1+f2+f3+f4+f5+f6+f7+f8+f9+f10+f11+f12+f13+f14+f15+f16+f17+f18+f19+f20) FROM bench.m') AS ms;
INSERT INTO bench.results (bench, measured, ms, baseline, baseline_ms, goal)
SELECT 'multinomial: train', 'profenrich.train(''multinomial''), 4 classes, incl. test split, metrics',
  bench.time_ms($$SELECT profenrich.train('bench_mn', 'multinomial', 'bench.m', 'segment',
        ARRAY['f1','f2','f3','f4','f5','f6','f7','f8','f9','f10','f11','f12','f13','f14','f15',
              'f16','f17','f18','f19','f20'])$$, 3),
  'SELECT sum(f1+...+f20) FROM bench.m', ms, '<= 8.0' FROM mscan;
SELECT 'multinomial fit: ' || (metrics->>'iterations') || ' iterations, converged ' ||
       (metrics->>'converged') || ', test accuracy ' || round((metrics->'test'->>'accuracy')::numeric, 4) ||
       ', test AUC ' || round((metrics->'test'->>'auc')::numeric, 4) || ', path ' || (metrics->>'path') AS fit
FROM profenrich.models WHERE name = 'bench_mn' ORDER BY version DESC LIMIT 1 \gset
\echo :fit
-- scoring: the class of every row, planner-rewritten into its columns form
INSERT INTO bench.results (bench, measured, ms, baseline, baseline_ms, goal)
SELECT 'multinomial: predict_class', 'sum(length(predict_class(''bench_mn'', t)))',
  bench.time_ms($$SELECT sum(length(profenrich.predict_class('bench_mn', t))) FROM bench.m t$$),
  'SELECT sum(f1+...+f20) FROM bench.m', ms, '<= 2.0' FROM mscan;
RESET max_parallel_workers_per_gather;
