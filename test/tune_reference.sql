-- tune() and cross_validate() against scikit-learn's GridSearchCV over the same folds:
--   test/reference/tune_sklearn.py (scikit-learn 1.2.1; figures in
--   test/reference/tune_reference.txt) ports PostgreSQL's hashint4extended to give each row of
--   logit_data its split and fold as profenrich does, then runs GridSearchCV with a
--   PredefinedSplit of those folds on the training split: StandardScaler +
--   LogisticRegression(C = 1/l2) scored by log loss, StandardScaler + Ridge(alpha = l2) scored
--   by RMSE.
-- Tolerances: the cross-validated metrics and their sds 1e-6 relative (two Newton solvers on
--   the same objective agree to ~1e-10); the chosen grid point exactly; the fold sizes exactly.
\set QUIET on
\set ON_ERROR_STOP on
SET client_min_messages = warning;
BEGIN;
\ir reference/logistic_data.sql
SELECT plan(27);

CREATE FUNCTION pg_temp.close(a float8, b float8, rel float8 DEFAULT 1e-6) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$ SELECT abs(a - b) <= rel * abs(b) $$;

-- [logistic] 5 folds, seed 0, test_fraction 0.2: GridSearchCV's mean and sd of the log loss
CREATE TEMP TABLE ref_lg (l2 float8, metric float8, sd float8);
INSERT INTO ref_lg VALUES
  (0.01, 0.44845739105471905, 0.044627007615687393),
  (1, 0.44772597592536972, 0.041362334788645184),
  (10, 0.45327226041202529, 0.026573174592143495),
  (30, 0.47281429825504484, 0.018712628075828505),
  (100, 0.51192863601840544, 0.022702386079456221);
CREATE TEMP TABLE got_lg AS
SELECT (params->>'l2')::float8 AS l2, metric, sd, chosen
FROM profenrich.tune('tn_lg', 'logistic', 'logit_data', 'y', ARRAY['x1', 'x2', 'flag', 'plan'],
                     '{"seed": 0}', '{"l2": [0.01, 1, 10, 30, 100]}', 5);
SELECT ok(pg_temp.close(g.metric, r.metric), 'logistic, l2 = ' || r.l2 || ': cross-validated log loss = GridSearchCV')
FROM got_lg g JOIN ref_lg r USING (l2) ORDER BY r.l2;
SELECT ok(pg_temp.close(g.sd, r.sd), 'logistic, l2 = ' || r.l2 || ': its sd = GridSearchCV std_test_score')
FROM got_lg g JOIN ref_lg r USING (l2) ORDER BY r.l2;
SELECT is((SELECT l2 FROM got_lg WHERE chosen), 1::float8, 'logistic: the grid point GridSearchCV picks, l2 = 1');
SELECT is((SELECT count(*) FROM profenrich.models WHERE name = 'tn_lg'), 1::bigint, 'logistic: one version stored');
SELECT is((SELECT (options->>'l2')::float8 FROM profenrich.models WHERE name = 'tn_lg'), 1::float8,
          'logistic: the stored version has the chosen l2');
-- cross_validate: the same folds (sizes as the reference counted them) and the same metric
SELECT is((SELECT array_agg((metrics->>'n')::int ORDER BY fold)
           FROM profenrich.cross_validate('logistic', 'logit_data', 'y', ARRAY['x1', 'x2', 'flag', 'plan'],
                                          '{"seed": 0, "l2": 1}', 5) WHERE fold IS NOT NULL),
          ARRAY[41, 54, 45, 52, 54], 'logistic: fold sizes of the training split (246 rows)');
SELECT ok(pg_temp.close((metrics->'mean'->>'logloss')::float8, 0.44772597592536972),
          'logistic: cross_validate mean log loss at l2 = 1')
FROM profenrich.cross_validate('logistic', 'logit_data', 'y', ARRAY['x1', 'x2', 'flag', 'plan'],
                               '{"seed": 0, "l2": 1}', 5) WHERE fold IS NULL;

-- [linear] x1 from x2, flag, plan and y; 4 folds, seed 3, test_fraction 0.25: RMSE
CREATE TEMP TABLE ref_ln (l2 float8, metric float8, sd float8);
INSERT INTO ref_ln VALUES
  (0.01, 1.1740770123871673, 0.047657792032338095),
  (3, 1.1737851828414925, 0.047637115869826843),
  (10, 1.1735982011381711, 0.047477956588691764),
  (30, 1.1755771313999788, 0.046537169042720976),
  (300, 1.2233803052884542, 0.038103692133840225);
CREATE TEMP TABLE got_ln AS
SELECT (params->>'l2')::float8 AS l2, metric, sd, chosen
FROM profenrich.tune('tn_ln', 'linear', 'logit_data', 'x1', ARRAY['x2', 'flag', 'plan', 'y'],
                     '{"seed": 3, "test_fraction": 0.25}', '{"l2": [0.01, 3, 10, 30, 300]}', 4);
SELECT ok(pg_temp.close(g.metric, r.metric), 'linear, l2 = ' || r.l2 || ': cross-validated RMSE = GridSearchCV')
FROM got_ln g JOIN ref_ln r USING (l2) ORDER BY r.l2;
SELECT ok(pg_temp.close(g.sd, r.sd), 'linear, l2 = ' || r.l2 || ': its sd = GridSearchCV std_test_score')
FROM got_ln g JOIN ref_ln r USING (l2) ORDER BY r.l2;
SELECT is((SELECT l2 FROM got_ln WHERE chosen), 10::float8, 'linear: the grid point GridSearchCV picks, l2 = 10');
SELECT is((SELECT array_agg((metrics->>'n')::int ORDER BY fold)
           FROM profenrich.cross_validate('linear', 'logit_data', 'x1', ARRAY['x2', 'flag', 'plan', 'y'],
                                          '{"seed": 3, "test_fraction": 0.25}', 4) WHERE fold IS NOT NULL),
          ARRAY[56, 55, 67, 55], 'linear: fold sizes of the training split (233 rows)');

SELECT * FROM finish();
ROLLBACK;
