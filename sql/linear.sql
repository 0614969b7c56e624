-- Linear regression on a train/test split: the metrics derived from sufficient statistics
-- equal those computed directly in SQL from score() on the same split.
SELECT name, version, algorithm, n_train, n_test, deployed
FROM profenrich.train('spend', 'linear', 'customers', 'spend', NULL, '{"seed": 42}');

-- the split is by hash of the key (the primary key by default), about 20% test
SELECT options->>'key' AS key, options->>'test_fraction' AS test_fraction,
       n_test BETWEEN 330 AND 470 AS test_share_near_20pct
FROM profenrich.models WHERE name = 'spend';

-- true coefficients are 0.5 (age), 1.2 (visits), 15 (vip); noise sd ~2.9
SELECT feature, round(coef::numeric, 1) AS coef FROM profenrich.coefficients('spend');

-- the same seed gives the same split and model; another seed another split
SELECT n_train FROM profenrich.train('spend', 'linear', 'customers', 'spend', NULL, '{"seed": 42, "deploy": false}');
SELECT n_train <> (SELECT n_train FROM profenrich.models WHERE name = 'spend' AND version = 1) AS other_split
FROM profenrich.train('spend', 'linear', 'customers', 'spend', NULL, '{"seed": 43, "deploy": false}');

-- identify the test rows from the sizes: train metrics on all rows of one side.
-- Independent check: rmse/mae/r2 from score() over all rows equal those of a
-- test_fraction 0 fit, computed by SQL aggregates.
SELECT n_train FROM profenrich.train('spend_all', 'linear', 'customers', 'spend', NULL, '{"test_fraction": 0}');
WITH r AS (SELECT spend - profenrich.score('spend_all', c) AS e, spend FROM customers c),
     m AS (SELECT metrics->'train' AS t FROM profenrich.models WHERE name = 'spend_all')
SELECT abs((t->>'rmse')::float8 - sqrt(avg(e * e))) < 1e-9 AS rmse_ok,
       abs((t->>'mae')::float8 - avg(abs(e))) < 1e-9 AS mae_ok,
       abs((t->>'r2')::float8 - (1 - sum(e * e) / (count(*) * var_pop(spend)))) < 1e-9 AS r2_ok
FROM r, m GROUP BY t;

-- test-split metrics: recompute the split in SQL with the same key hash and seed
WITH s AS (
  SELECT c.*, (hashint4extended(customer_id, 42) & 4294967295) < floor(0.2 * 4294967296) AS is_test
  FROM customers c),
r AS (SELECT is_test, spend - profenrich.score('spend', s) AS e, spend FROM s),
m AS (SELECT metrics FROM profenrich.models WHERE name = 'spend' AND version = 1)
SELECT is_test, count(*) = (metrics->(CASE WHEN is_test THEN 'test' ELSE 'train' END)->>'n')::float8 AS n_ok,
       abs((metrics->(CASE WHEN is_test THEN 'test' ELSE 'train' END)->>'rmse')::float8 - sqrt(avg(e * e))) < 1e-9 AS rmse_ok,
       abs((metrics->(CASE WHEN is_test THEN 'test' ELSE 'train' END)->>'mae')::float8 - avg(abs(e))) < 1e-9 AS mae_ok,
       abs((metrics->(CASE WHEN is_test THEN 'test' ELSE 'train' END)->>'r2')::float8
           - (1 - sum(e * e) / (count(*) * var_pop(spend)))) < 1e-9 AS r2_ok
FROM r, m GROUP BY is_test, metrics ORDER BY is_test;

-- ridge shrinks the coefficients of the numeric features towards zero as l2 grows
SELECT n_train FROM profenrich.train('spend_ridge', 'linear', 'customers', 'spend', NULL,
                                     '{"l2": 500, "test_fraction": 0}');
SELECT a.feature, abs(b.coef) < abs(a.coef) AS shrunk
FROM profenrich.coefficients('spend_all') a JOIN profenrich.coefficients('spend_ridge') b USING (feature)
WHERE a.feature IN ('age', 'visits', 'vip') ORDER BY a.feature;
