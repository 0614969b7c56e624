-- Logistic regression: class labels, evaluation, lift, explanations, warnings and errors.
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text; msg text; hint text; detail text;
BEGIN
  EXECUTE q;
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT,
                          detail = PG_EXCEPTION_DETAIL;
  RETURN st || ': ' || msg || coalesce(' | DETAIL: ' || nullif(detail, ''), '')
         || coalesce(' | HINT: ' || nullif(hint, ''), '');
END $$;

-- churn-like data: fixed seed, known true model
SELECT setseed(0.31);
CREATE TABLE subs AS
SELECT i AS id, (random() * 48)::int AS tenure, round((random() * 80 + 20)::numeric, 2) AS monthly,
       (ARRAY['monthly', 'annual', 'biennial'])[1 + (i % 7 % 3)] AS contract,
       random() < 0.3 AS support_calls, NULL::boolean AS churned
FROM generate_series(1, 3000) AS i;
UPDATE subs SET churned = random() < 1 / (1 + exp(-(-0.5 - 0.06 * tenure + 0.015 * monthly::float8
    + CASE contract WHEN 'monthly' THEN 1.2 WHEN 'annual' THEN 0 ELSE -1 END + 0.8 * support_calls::int)));
ALTER TABLE subs ADD PRIMARY KEY (id);
SELECT count(*), round(avg(churned::int), 3) AS churn_rate FROM subs;

SELECT name, version, algorithm, n_train, n_test, deployed,
       metrics->>'converged' AS converged, metrics->>'path' AS path
FROM profenrich.train('churn', 'logistic', 'subs', 'churned', NULL, '{"seed": 5}');
-- estimates near the true model (3000 rows): tenure -0.06, monthly 0.015, support 0.8
SELECT feature, round(coef::numeric, 2) AS coef, round(odds_ratio::numeric, 2) AS odds_ratio,
       p_value < 0.001 AS significant
FROM profenrich.coefficients('churn');
SELECT jsonb_object_keys(metrics->'test') AS test_metric FROM profenrich.models WHERE name = 'churn' ORDER BY 1;
SELECT round((metrics->'test'->>'auc')::numeric, 2) BETWEEN 0.7 AND 0.9 AS useful_auc,
       (metrics->>'iterations')::int BETWEEN 3 AND 10 AS few_iterations
FROM profenrich.models WHERE name = 'churn';

-- score is a probability; the aggregates agree with the stored training metrics
SELECT min(profenrich.score('churn', s)) > 0 AND max(profenrich.score('churn', s)) < 1 AS probabilities
FROM subs s;
-- evaluate() on the model's own test split reproduces the test metrics stored at training
SELECT abs((profenrich.evaluate('churn')->>'auc')::float8 - (metrics->'test'->>'auc')::float8) < 1e-12 AS auc_same,
       abs((profenrich.evaluate('churn')->>'logloss')::float8 - (metrics->'test'->>'logloss')::float8) < 1e-12 AS logloss_same,
       (profenrich.evaluate('churn')->>'n')::float8 = (metrics->'test'->>'n')::float8 AS n_same
FROM profenrich.models WHERE name = 'churn';
-- evaluate() on a relation equals the aggregates over score()
SELECT abs((profenrich.evaluate('churn', 'subs')->>'auc')::float8 - profenrich.auc(profenrich.score('churn', s), churned)) < 1e-12 AS auc_agg,
       abs((profenrich.evaluate('churn', 'subs')->>'brier')::float8 - profenrich.brier(profenrich.score('churn', s), churned)) < 1e-12 AS brier_agg,
       abs((profenrich.evaluate('churn', 'subs')->>'logloss')::float8 - profenrich.logloss(profenrich.score('churn', s), churned)) < 1e-12 AS logloss_agg
FROM subs s;

-- lift: deciles by score; the gains add up and the first decile beats the average
SELECT bucket, n, positives, round(rate::numeric, 3) AS rate, round(lift::numeric, 2) AS lift,
       round(cumulative_gain::numeric, 3) AS cumulative_gain
FROM profenrich.lift('churn', 'subs');
-- the same table from SQL: ntile over the scores
WITH r AS (SELECT churned, ntile(10) OVER (ORDER BY profenrich.score('churn', s) DESC) AS b FROM subs s)
SELECT bool_and(l.n = q.n AND l.positives = q.positives) AS matches_ntile
FROM profenrich.lift('churn', 'subs') l
JOIN (SELECT b, count(*) AS n, count(*) FILTER (WHERE churned) AS positives FROM r GROUP BY b) q ON q.b = l.bucket;

-- explain: baseline plus every contribution is the row's logit
SELECT feature, value, round(contribution::numeric, 10) AS contribution
FROM profenrich.explain('churn', (SELECT s FROM subs s WHERE id = 42), 2);
SELECT abs(sum(contribution) - (SELECT ln(p / (1 - p)) FROM (SELECT profenrich.score('churn', s) AS p
       FROM subs s WHERE id = 42) q)) < 1e-12 AS adds_up_to_logit
FROM profenrich.explain('churn', (SELECT s FROM subs s WHERE id = 42), 100);

-- class labels: text with "positive", and 0/1 numbers, give the boolean fit
CREATE TABLE subs_text AS SELECT id, tenure, monthly, contract, support_calls,
       CASE WHEN churned THEN 'left' ELSE 'stayed' END AS status, churned::int AS churned01 FROM subs;
SELECT name FROM profenrich.train('churn_text', 'logistic', 'subs_text', 'status',
       ARRAY['tenure', 'monthly', 'contract', 'support_calls'], '{"positive": "left", "key": "id", "seed": 5}');
SELECT name FROM profenrich.train('churn_01', 'logistic', 'subs_text', 'churned01',
       ARRAY['tenure', 'monthly', 'contract', 'support_calls'], '{"key": "id", "seed": 5}');
SELECT bool_and(abs(a.coef - b.coef) < 1e-10 AND abs(a.coef - c.coef) < 1e-10) AS same_fit
FROM profenrich.coefficients('churn') a JOIN profenrich.coefficients('churn_text') b USING (feature)
JOIN profenrich.coefficients('churn_01') c USING (feature) WHERE a.coef IS NOT NULL;

-- class weights: an object naming the classes
SELECT name FROM profenrich.train('churn_w', 'logistic', 'subs', 'churned', NULL, '{"class_weight": {"true": 3, "false": 1}}');
-- both paths report the data's (unweighted) log-likelihood of a weighted fit
SET client_min_messages = warning;
SET profenrich.max_train_memory = '64kB';
SELECT name FROM profenrich.train('churn_ws', 'logistic', 'subs', 'churned', NULL, '{"class_weight": {"true": 3, "false": 1}}');
RESET profenrich.max_train_memory;
RESET client_min_messages;
SELECT abs((a.metrics->'train'->>'log_likelihood')::float8 - (b.metrics->'train'->>'log_likelihood')::float8) < 1e-8
       AS same_log_likelihood
FROM profenrich.models a, profenrich.models b WHERE a.name = 'churn_w' AND b.name = 'churn_ws';
-- balanced weights: the fit's probabilities are calibrated back by an intercept offset (the
-- default), so that their mean on the training rows is the base rate again; with
-- "calibrate": false they stay weighted, and their mean rises to about 1/2
SELECT name FROM profenrich.train('churn_b', 'logistic', 'subs', 'churned', NULL, '{"class_weight": "balanced", "test_fraction": 0}');
SELECT abs(avg(profenrich.score('churn_b', s)) - avg(churned::int)) < 1e-9 AS mean_is_base_rate,
       (SELECT metrics->>'probabilities' FROM profenrich.models WHERE name = 'churn_b') AS probabilities
FROM subs s;
SELECT name FROM profenrich.train('churn_bw', 'logistic', 'subs', 'churned', NULL,
                                  '{"class_weight": "balanced", "test_fraction": 0, "calibrate": false}');
SELECT round(avg(profenrich.score('churn_bw', s))::numeric, 2) AS weighted_mean_score,
       (SELECT metrics->>'probabilities' FROM profenrich.models WHERE name = 'churn_bw') AS probabilities
FROM subs s;
-- the two differ by the offset alone: the same coefficients, the logits shifted by it
SELECT bool_and(abs(a.coef - b.coef) < 1e-12) AS same_coefficients
FROM profenrich.coefficients('churn_b') a JOIN profenrich.coefficients('churn_bw') b USING (feature)
WHERE a.coef IS NOT NULL;
SELECT abs(ln(p / (1 - p)) - ln(q / (1 - q)) - (m.metrics->>'calibration_offset')::float8) < 1e-9 AS shifted_by_offset
FROM (SELECT profenrich.score('churn_b', s) AS p, profenrich.score('churn_bw', s) AS q FROM subs s WHERE id = 7) x,
     profenrich.models m WHERE m.name = 'churn_b';

-- separation: a feature that gives the label away; the fit stops with finite coefficients
CREATE TABLE leak AS SELECT id, tenure, churned, churned::int * 10 + tenure % 3 AS leak FROM subs;
SELECT name, metrics->>'converged' AS converged FROM profenrich.train('leak', 'logistic', 'leak', 'churned');
SELECT bool_and(coef IS NULL OR (coef > -1e6 AND coef < 1e6)) AS finite FROM profenrich.coefficients('leak');
SELECT name, metrics->>'converged' AS converged FROM profenrich.train('leak_l2', 'logistic', 'leak', 'churned', NULL, '{"l2": 1}');
-- not converged within max_iter: a warning
SELECT name, metrics->>'converged' AS converged, metrics->>'iterations' AS iterations
FROM profenrich.train('short', 'logistic', 'subs', 'churned', NULL, '{"max_iter": 1}');

-- large data (a warm start on a subsample, then full-data Newton steps) gives the same model
-- as the streaming path, which always starts from the base rate and passes over every row
SELECT setseed(0.77);
CREATE TABLE big AS SELECT i AS id, random() AS a, random() AS b, (i % 5)::text AS c, NULL::boolean AS y
FROM generate_series(1, 150000) i;
UPDATE big SET y = random() < 1 / (1 + exp(-(-1 + 2 * a - b + (c = '3')::int)));
ALTER TABLE big ADD PRIMARY KEY (id);
ANALYZE big;
SELECT metrics->>'path' AS path, metrics->>'converged' AS converged
FROM profenrich.train('big_mem', 'logistic', 'big', 'y', NULL, '{"test_fraction": 0}');
SET client_min_messages = warning;
SET profenrich.max_train_memory = '1MB';
SELECT metrics->>'path' AS path, metrics->>'converged' AS converged
FROM profenrich.train('big_stream', 'logistic', 'big', 'y', NULL, '{"test_fraction": 0}');
RESET profenrich.max_train_memory;
RESET client_min_messages;
SELECT bool_and(abs(m.coef - s.coef) <= 1e-9 * (abs(s.coef) + s.std_err)
                AND abs(m.std_err - s.std_err) <= 1e-9 * s.std_err)
       AS same_model
FROM profenrich.coefficients('big_mem') m JOIN profenrich.coefficients('big_stream') s USING (feature)
WHERE s.coef IS NOT NULL;

-- a cancelled training (statement_timeout) leaves the registry untouched
SELECT count(*) AS versions_before FROM profenrich.models WHERE name = 'churn';
\set VERBOSITY terse
\set SHOW_CONTEXT never
SET statement_timeout = '1ms';
SELECT name FROM profenrich.train('churn', 'logistic', 'subs', 'churned', NULL, '{"max_iter": 10000, "tol": 1e-300}');
RESET statement_timeout;
\set VERBOSITY default
\set SHOW_CONTEXT errors
SELECT count(*) AS versions_after FROM profenrich.models WHERE name = 'churn';

-- errors
UPDATE subs_text SET status = 'paused' WHERE id = 10;
SELECT pg_temp.err($$SELECT profenrich.train('e', 'logistic', 'subs_text', 'status', NULL, '{"positive": "left"}')$$);
SELECT pg_temp.err($$SELECT profenrich.train('e', 'logistic', 'subs_text', 'status')$$);
UPDATE subs_text SET churned01 = 2 WHERE id = 10;
SELECT pg_temp.err($$SELECT profenrich.train('e', 'logistic', 'subs_text', 'churned01', ARRAY['tenure'])$$);
SELECT pg_temp.err($$SELECT profenrich.train('e', 'logistic', 'subs', 'churned', ARRAY['tenure'], '{"positive": "yes"}')$$);
CREATE TABLE one_class AS SELECT id, tenure, true AS churned FROM subs;
SELECT pg_temp.err($$SELECT profenrich.train('e', 'logistic', 'one_class', 'churned')$$);
SELECT pg_temp.err($$SELECT profenrich.train('e', 'logistic', 'subs', 'churned', NULL, '{"class_weight": {"maybe": 2}}')$$);
SELECT pg_temp.err($$SELECT profenrich.train('e', 'logistic', 'subs', 'churned', NULL, '{"class_weight": {"true": -2}}')$$);
SELECT pg_temp.err($$SELECT profenrich.train('e', 'logistic', 'subs', 'churned', NULL, '{"class_weight": "heavy"}')$$);
SELECT pg_temp.err($$SELECT profenrich.train('e', 'logistic', 'subs', 'churned', NULL, '{"l2": -1}')$$);
SELECT pg_temp.err($$SELECT profenrich.train('e', 'logistic', 'subs', 'churned', NULL, '{"max_iter": 0}')$$);
SELECT pg_temp.err($$SELECT profenrich.train('e', 'logistic', 'subs', 'churned', NULL, '{"tol": 0}')$$);
SELECT pg_temp.err($$SELECT profenrich.train('e', 'linear', 'subs', 'monthly', NULL, '{"positive": "x"}')$$);
-- explain and lift of a linear model: contributions on the prediction's scale, which add up
-- to the prediction; the gains table by predicted value, positives NULL
SELECT name FROM profenrich.train('lin', 'linear', 'subs', 'monthly', ARRAY['tenure', 'contract']);
SELECT abs(sum(contribution) - (SELECT profenrich.score('lin', s) FROM subs s WHERE id = 42)) < 1e-9
       AS adds_up_to_prediction
FROM profenrich.explain('lin', (SELECT s FROM subs s WHERE id = 42), 10);
SELECT count(*) AS buckets, bool_and(positives IS NULL) AS no_positives, sum(n) AS rows
FROM profenrich.lift('lin', 'subs');
SELECT pg_temp.err($$SELECT * FROM profenrich.lift('churn', 'subs', 0)$$);
SELECT pg_temp.err($$SELECT * FROM profenrich.explain('churn', (SELECT s FROM subs s LIMIT 1), -1)$$);
SELECT pg_temp.err($$SELECT profenrich.evaluate('churn_b')$$);
SELECT pg_temp.err($$SELECT profenrich.auc(s, l) FROM (VALUES ('NaN'::float8, true)) v(s, l)$$);
SELECT pg_temp.err($$SELECT profenrich.logloss(s, l) FROM (VALUES (1.5::float8, true)) v(s, l)$$);
SELECT profenrich.auc(s, l) IS NULL AS auc_one_class FROM (VALUES (0.3::float8, true), (0.6, true)) v(s, l);

-- a forced parallel plan of one streaming step
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
EXPLAIN (COSTS OFF)
SELECT profenrich.logistic_step((SELECT profenrich.model_spec('churn')), '{1,1}'::float8[], ARRAY['churned'], churned)
FROM subs;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
