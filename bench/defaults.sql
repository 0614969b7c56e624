-- Issue 15 targets, serial plans, 1M rows x 20 float8:
--   the identifier check of features NULL <= 0.2x SELECT sum(f1+...+f20): train('linear') with
--   features NULL on a copy of bench.t with a row number and a unique text code (which the
--   guard leaves out, after sampling them) minus the same training with the columns it keeps
--   listed (no column to check: no sample);
--   tune of a 4-point grid with 5 folds <= 25x one training of the same options (logistic, in
--   memory: 21 trainings, 20 of them on a fold, the last one stored).
-- (The guards' cost with explicit features shows in the other benchmarks' ratios.)
\set QUIET on
SET max_parallel_workers_per_gather = 0;
SET client_min_messages = warning;
CREATE TABLE bench.t_guard AS SELECT t.*, t.id AS row_no, 'C' || t.id AS code FROM bench.t t;
ALTER TABLE bench.t_guard ADD PRIMARY KEY (id);
VACUUM ANALYZE bench.t_guard;
CREATE TEMP TABLE scan AS SELECT bench.time_ms(
  'SELECT sum(f1+f2+f3+f4+f5+f6+f7+f8+f9+f10+f11+f12+f13+f14+f15+f16+f17+f18+f19+f20) FROM bench.t_guard') AS ms;
SELECT $$ARRAY['f1','f2','f3','f4','f5','f6','f7','f8','f9','f10','f11','f12','f13','f14','f15',
               'f16','f17','f18','f19','f20','label']$$ AS kept \gset
-- the two trainings alternated, 7 of each after a warm-up, the fastest of each: the difference
-- (a few ms) is smaller than the minute-to-minute noise of a shared machine, which alternating
-- gives both sides alike
CREATE FUNCTION pg_temp.fastest_pair(a text, b text, reps int, OUT a_ms float8, OUT b_ms float8)
LANGUAGE plpgsql AS $f$
DECLARE t0 timestamptz;
BEGIN
  a_ms := 'Infinity'; b_ms := 'Infinity';
  EXECUTE a; EXECUTE b;
  FOR i IN 1..reps LOOP
    t0 := clock_timestamp(); EXECUTE a;
    a_ms := least(a_ms, extract(epoch FROM clock_timestamp() - t0) * 1000);
    t0 := clock_timestamp(); EXECUTE b;
    b_ms := least(b_ms, extract(epoch FROM clock_timestamp() - t0) * 1000);
  END LOOP;
END $f$;
CREATE TEMP TABLE guard AS SELECT * FROM pg_temp.fastest_pair(
  $$SELECT profenrich.train('bench_guard', 'linear', 'bench.t_guard', 'y', NULL, '{"deploy": false}')$$,
  format($$SELECT profenrich.train('bench_guard', 'linear', 'bench.t_guard', 'y', %s, '{"deploy": false}')$$, :'kept'),
  7);
-- both trainings fit the same features: the check left out row_no and code, and only them
SELECT (SELECT jsonb_agg(c->'name' ORDER BY c->>'name') FROM profenrich.models m, jsonb_array_elements(m.features->'columns') c
        WHERE m.name = 'bench_guard' AND m.version = 1)
     = (SELECT jsonb_agg(c->'name' ORDER BY c->>'name') FROM profenrich.models m, jsonb_array_elements(m.features->'columns') c
        WHERE m.name = 'bench_guard' AND m.version = (SELECT max(version) FROM profenrich.models WHERE name = 'bench_guard'))
       AS same_features \gset
\echo identifier check: the features NULL training fits the listed features: :same_features
INSERT INTO bench.results (bench, measured, ms, baseline, baseline_ms, goal)
SELECT 'guards: identifier check', 'train(''linear''), features NULL, minus the same listed ('
       || round(g.a_ms::numeric) || ' - ' || round(g.b_ms::numeric) || ' ms)', g.a_ms - g.b_ms,
       'SELECT sum(f1+...+f20)', s.ms, '<= 0.2'
FROM guard g, scan s;
SELECT profenrich.drop_model('bench_guard') \gset
DROP TABLE bench.t_guard;

SELECT $$ARRAY['f1','f2','f3','f4','f5','f6','f7','f8','f9','f10','f11','f12','f13','f14','f15',
               'f16','f17','f18','f19','f20']$$ AS feats \gset
INSERT INTO bench.results (bench, measured, ms, baseline, baseline_ms, goal)
SELECT 'tune: 4 points x 5 folds', 'tune(''logistic''), grid l2 0, 0.1, 1, 10, 5 folds',
  bench.time_ms(format($$SELECT * FROM profenrich.tune('bench_tune', 'logistic', 'bench.t', 'label', %s,
                         '{"deploy": false}', '{"l2": [0, 0.1, 1, 10]}', 5)$$, :'feats'), 2),
  'one train(''logistic''), the same options',
  bench.time_ms(format($$SELECT profenrich.train('bench_tune1', 'logistic', 'bench.t', 'label', %s,
                         '{"deploy": false}')$$, :'feats'), 3), '<= 25';
SELECT profenrich.drop_model('bench_tune'), profenrich.drop_model('bench_tune1') \gset
RESET max_parallel_workers_per_gather;
