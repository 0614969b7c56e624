-- A forced parallel plan: the statistics aggregate runs as Partial Aggregate in workers,
-- combines through serialize/deserialize, and trains the same model as a serial plan.
SELECT setseed(0.5);
CREATE TABLE par AS
SELECT i AS id, random() * 10 AS a, (random() * 5)::int AS b,
       CASE WHEN random() < 0.1 THEN NULL ELSE random() END AS c,
       (ARRAY['p', 'q', 'r', 's'])[1 + (i % 4)] AS d, 0.0::float8 AS y
FROM generate_series(1, 20000) i;
UPDATE par SET y = 1 + 2 * a - b + 3 * coalesce(c, 0.5) + (d = 'q')::int + random();
ALTER TABLE par ADD PRIMARY KEY (id);
ANALYZE par;

SET max_parallel_workers_per_gather = 0;
SELECT n_train, n_test FROM profenrich.train('par_serial', 'linear', 'par', 'y', NULL, '{"seed": 3}');

SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
-- train() runs exactly this statement (with its spec as the parameter)
EXPLAIN (COSTS OFF)
SELECT profenrich.linear_stats((SELECT profenrich.model_spec('par_serial')),
                               ARRAY['y', 'id', 'a', 'b', 'c', 'd'], y, id, a, b, c, d)
FROM public.par;
SELECT n_train, n_test FROM profenrich.train('par_parallel', 'linear', 'par', 'y', NULL, '{"seed": 3}');

-- same coefficients, metrics and imputation means, to rounding (1e-10 relative, or 1e-10 of
-- the standard error for a coefficient near 0: workers split the rows differently from run to
-- run, which moves the last bits)
SELECT s.feature, abs(s.coef - p.coef) <= 1e-10 * greatest(abs(s.coef), s.std_err) AS coef_equal,
       abs(s.std_err - p.std_err) <= 1e-10 * s.std_err AS se_equal
FROM profenrich.coefficients('par_serial') s JOIN profenrich.coefficients('par_parallel') p USING (feature)
ORDER BY s.feature;
SELECT abs((s.metrics->'test'->>'rmse')::float8 - (p.metrics->'test'->>'rmse')::float8) < 1e-10 AS test_rmse_equal,
       abs((s.metrics->'test'->>'mae')::float8 - (p.metrics->'test'->>'mae')::float8) < 1e-10 AS test_mae_equal,
       abs((s.metrics->'train'->>'r2')::float8 - (p.metrics->'train'->>'r2')::float8) < 1e-12 AS train_r2_equal,
       abs((s.features->'columns'->2->>'impute')::float8 - (p.features->'columns'->2->>'impute')::float8) < 1e-12
         AS impute_equal
FROM profenrich.models s, profenrich.models p WHERE s.name = 'par_serial' AND p.name = 'par_parallel';
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
