-- Issue 2 targets, serial plans, 1M rows x 20 float8:
--   train 'linear' <= 1.5x SELECT sum(f1+...+f20);
--   sum(score) <= 1.2x the same model as a SQL arithmetic expression (server defaults, JIT on).
-- Issue 9 target: train 'linear' on a copy without a primary key <= 1.2x the same training on
--   the keyed table, with test_fraction 0 and with the default 0.2 (the split then hashes each
--   row's values instead of its key).
\set QUIET on
SET max_parallel_workers_per_gather = 0;
SELECT profenrich.drop_model(name) FROM (SELECT DISTINCT name FROM profenrich.models WHERE name = 'bench_lin') s;
CREATE TEMP TABLE scan AS SELECT bench.time_ms(
  'SELECT sum(f1+f2+f3+f4+f5+f6+f7+f8+f9+f10+f11+f12+f13+f14+f15+f16+f17+f18+f19+f20) FROM bench.t') AS ms;
INSERT INTO bench.results (bench, measured, ms, baseline, baseline_ms, goal)
SELECT 'linear: train', 'profenrich.train(''linear'') incl. test split', bench.time_ms(
  $$SELECT profenrich.train('bench_lin', 'linear', 'bench.t', 'y',
        ARRAY['f1','f2','f3','f4','f5','f6','f7','f8','f9','f10','f11','f12','f13','f14','f15',
              'f16','f17','f18','f19','f20'])$$),
  'SELECT sum(f1+...+f20)', ms, '<= 1.5' FROM scan;

-- the same model written as SQL: c0 + c1*f1 + ... + c20*f20
SELECT 'SELECT sum(' || string_agg(CASE WHEN feature = '(intercept)' THEN coef::text
                                        ELSE '(' || coef::text || ')*' || feature END, ' + ') || ') FROM bench.t'
       AS expr_sql FROM profenrich.coefficients('bench_lin') \gset
INSERT INTO bench.results (bench, measured, ms, baseline, baseline_ms, goal)
SELECT 'linear: score', 'sum(profenrich.score(''m'', t))',
       bench.time_ms($$SELECT sum(profenrich.score('bench_lin', t)) FROM bench.t t$$),
       'same model as SQL expression', bench.time_ms(:'expr_sql'), '<= 1.2';
-- the scores agree with the expression
SELECT abs((SELECT sum(profenrich.score('bench_lin', t)) FROM bench.t t) - (:expr_sql)::float8)
       < 1e-6 * abs((:expr_sql)::float8) AS scores_match_expression \gset
\echo scores match the SQL expression: :scores_match_expression

-- the keyless copy: the same rows, no primary key
CREATE TABLE bench.t_nokey AS SELECT * FROM bench.t;
VACUUM ANALYZE bench.t_nokey;
SELECT $$ARRAY['f1','f2','f3','f4','f5','f6','f7','f8','f9','f10','f11','f12','f13','f14','f15',
               'f16','f17','f18','f19','f20']$$ AS feats \gset
INSERT INTO bench.results (bench, measured, ms, baseline, baseline_ms, goal)
SELECT 'linear: keyless, no split', 'train(''linear'') without a key, test_fraction 0',
  bench.time_ms(format($$SELECT profenrich.train('bench_nokey', 'linear', 'bench.t_nokey', 'y', %s,
                         '{"test_fraction": 0, "deploy": false}')$$, :'feats')),
  'the same on the keyed table',
  bench.time_ms(format($$SELECT profenrich.train('bench_key', 'linear', 'bench.t', 'y', %s,
                         '{"test_fraction": 0, "deploy": false}')$$, :'feats')), '<= 1.2';
INSERT INTO bench.results (bench, measured, ms, baseline, baseline_ms, goal)
SELECT 'linear: keyless, split 0.2', 'train(''linear'') without a key, test_fraction 0.2',
  bench.time_ms(format($$SELECT profenrich.train('bench_nokey', 'linear', 'bench.t_nokey', 'y', %s,
                         '{"deploy": false}')$$, :'feats')),
  'the same on the keyed table',
  bench.time_ms(format($$SELECT profenrich.train('bench_key', 'linear', 'bench.t', 'y', %s,
                         '{"deploy": false}')$$, :'feats')), '<= 1.2';
-- the keyless split holds out about a fifth of the rows, as the keyed one does
SELECT round(n_test::numeric / (n_train + n_test), 3) AS keyless_test_share
FROM profenrich.models WHERE name = 'bench_nokey' ORDER BY version DESC LIMIT 1 \gset
\echo keyless split holds out :keyless_test_share of the rows
SELECT profenrich.drop_model('bench_nokey'), profenrich.drop_model('bench_key') \gset
DROP TABLE bench.t_nokey;
RESET max_parallel_workers_per_gather;
