-- Issue 16 targets, serial plans, 1M rows x 20 float8 and a column of 100 groups:
--   train 'linear' with "group_by" (a model per group and the global one, in one pass) <= 2x
--   the ungrouped training on the same table; train 'logistic' the same, <= 2x;
--   sum(score) of a grouped model <= 1.3x that of the ungrouped one (linear and logistic).
\set QUIET on
SET max_parallel_workers_per_gather = 0;
SET client_min_messages = warning;
-- the bench table with a text column of 100 groups of 10,000 rows, keyed as it is
CREATE TABLE bench.tg AS SELECT *, 'g' || (id % 100) AS grp FROM bench.t;
ALTER TABLE bench.tg ADD PRIMARY KEY (id);
VACUUM ANALYZE bench.tg;
SELECT $$ARRAY['f1','f2','f3','f4','f5','f6','f7','f8','f9','f10','f11','f12','f13','f14','f15',
               'f16','f17','f18','f19','f20']$$ AS feats \gset
INSERT INTO bench.results (bench, measured, ms, baseline, baseline_ms, goal)
SELECT 'group_by: linear train', 'train(''linear'') with group_by, 100 groups',
  bench.time_ms(format($$SELECT profenrich.train('bench_glin', 'linear', 'bench.tg', 'y', %s,
                         '{"group_by": "grp"}')$$, :'feats')),
  'the same without group_by',
  bench.time_ms(format($$SELECT profenrich.train('bench_ulin', 'linear', 'bench.tg', 'y', %s)$$, :'feats')),
  '<= 2.0';
INSERT INTO bench.results (bench, measured, ms, baseline, baseline_ms, goal)
SELECT 'group_by: logistic train', 'train(''logistic'') with group_by, 100 groups',
  bench.time_ms(format($$SELECT profenrich.train('bench_glog', 'logistic', 'bench.tg', 'label', %s,
                         '{"group_by": "grp"}')$$, :'feats')),
  'the same without group_by',
  bench.time_ms(format($$SELECT profenrich.train('bench_ulog', 'logistic', 'bench.tg', 'label', %s)$$, :'feats')),
  '<= 2.0';
SELECT 'grouped logistic: ' || (metrics->>'path') || ' path, ' || (metrics->>'iterations') || ' iterations, '
       || jsonb_array_length(params_summary) || ' groups' AS fit
FROM (SELECT metrics, (SELECT jsonb_agg(DISTINCT "group") FROM profenrich.coefficients('bench_glog')
                       WHERE "group" IS NOT NULL) AS params_summary
      FROM profenrich.models WHERE name = 'bench_glog' ORDER BY version DESC LIMIT 1) m \gset
\echo :fit
INSERT INTO bench.results (bench, measured, ms, baseline, baseline_ms, goal)
SELECT 'group_by: linear score', 'sum(profenrich.score(''m'', t)), a model per group',
  bench.time_ms($$SELECT sum(profenrich.score('bench_glin', t)) FROM bench.tg t$$),
  'the same, the ungrouped model', bench.time_ms($$SELECT sum(profenrich.score('bench_ulin', t)) FROM bench.tg t$$),
  '<= 1.3';
INSERT INTO bench.results (bench, measured, ms, baseline, baseline_ms, goal)
SELECT 'group_by: logistic score', 'sum(profenrich.score(''m'', t)), a model per group',
  bench.time_ms($$SELECT sum(profenrich.score('bench_glog', t)) FROM bench.tg t$$),
  'the same, the ungrouped model', bench.time_ms($$SELECT sum(profenrich.score('bench_ulog', t)) FROM bench.tg t$$),
  '<= 1.3';
SELECT count(profenrich.drop_model(name)) AS dropped FROM (VALUES ('bench_glin'), ('bench_ulin'), ('bench_glog'), ('bench_ulog')) v(name) \gset
DROP TABLE bench.tg;
RESET max_parallel_workers_per_gather;
