-- tune() and cross_validate() against scikit-learn's GridSearchCV over the same folds:
--   test/reference/tune_sklearn.py (scikit-learn 1.2.1; figures in
--   test/reference/tune_reference.txt) ports PostgreSQL's hashint4extended to give each row of
--   logit_data its split and fold as profenrich does, then runs GridSearchCV with a
--   PredefinedSplit of those folds on the training split: StandardScaler +
--   LogisticRegression(C = 1/l2) scored by log loss, StandardScaler + Ridge(alpha = l2) scored
--   by RMSE, StandardScaler + a numpy Newton solve of profenrich's multinomial objective (the
--   softmax with the first class as reference, l2/2 on the standardized slopes) scored by log
--   loss, and python3-xgboost 1.7's XGBRegressor on profenrich's encoding scored by RMSE.
-- Tolerances: the cross-validated metrics and their sds 1e-6 relative (two Newton solvers on
--   the same objective agree to ~1e-9; XGBoost's float arithmetic to ~1e-7); the chosen grid
--   point exactly; the fold sizes exactly.
\set QUIET on
\set ON_ERROR_STOP on
SET client_min_messages = warning;
BEGIN;
\ir reference/logistic_data.sql
SELECT plan(46);

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

-- [multinomial] plan (bronze, gold, silver; bronze the reference) from x1, x2, flag, y; 5 folds,
-- seed 0: the cross-validated log loss of profenrich's multinomial objective
CREATE TEMP TABLE ref_mn (l2 float8, metric float8, sd float8);
INSERT INTO ref_mn VALUES
  (0, 1.0183746333818253, 0.047425440426946575),
  (1, 1.0169363570121326, 0.046646703462115136),
  (10, 1.0139016684843032, 0.044663358013295629),
  (100, 1.0259185825537254, 0.045858839009175242);
CREATE TEMP TABLE got_mn AS
SELECT (params->>'l2')::float8 AS l2, metric, sd, chosen
FROM profenrich.tune('tn_mn', 'multinomial', 'logit_data', 'plan', ARRAY['x1', 'x2', 'flag', 'y'],
                     '{"seed": 0}', '{"l2": [0, 1, 10, 100]}', 5);
SELECT ok(pg_temp.close(g.metric, r.metric), 'multinomial, l2 = ' || r.l2 || ': cross-validated log loss = GridSearchCV')
FROM got_mn g JOIN ref_mn r USING (l2) ORDER BY r.l2;
SELECT ok(pg_temp.close(g.sd, r.sd), 'multinomial, l2 = ' || r.l2 || ': its sd = GridSearchCV std_test_score')
FROM got_mn g JOIN ref_mn r USING (l2) ORDER BY r.l2;
SELECT is((SELECT l2 FROM got_mn WHERE chosen), 10::float8, 'multinomial: the grid point GridSearchCV picks, l2 = 10');
SELECT is((SELECT (options->>'l2')::float8 FROM profenrich.models WHERE name = 'tn_mn' AND deployed), 10::float8,
          'multinomial: the stored version has the chosen l2');

-- [gbdt] x1 from x2, flag, plan, y; 4 folds, seed 3, test_fraction 0.25, 30 rounds at 0.1 (a
-- fold boosts every round): the cross-validated RMSE of XGBoost's own boosting
CREATE TEMP TABLE ref_gb (max_depth int, metric float8, sd float8);
INSERT INTO ref_gb VALUES
  (1, 1.1800794626455504, 0.041526116419113954),
  (2, 1.1830579345241359, 0.037571239458669664),
  (4, 1.2295106125128266, 0.037445925176821153);
CREATE TEMP TABLE got_gb AS
SELECT (params->>'max_depth')::int AS max_depth, metric, sd, chosen
FROM profenrich.tune('tn_gb', 'gbdt', 'logit_data', 'x1', ARRAY['x2', 'flag', 'plan', 'y'],
                     '{"seed": 3, "test_fraction": 0.25, "n_trees": 30, "learning_rate": 0.1}',
                     '{"max_depth": [1, 2, 4]}', 4);
SELECT ok(pg_temp.close(g.metric, r.metric), 'gbdt, max_depth = ' || r.max_depth || ': cross-validated RMSE = GridSearchCV')
FROM got_gb g JOIN ref_gb r USING (max_depth) ORDER BY r.max_depth;
SELECT ok(pg_temp.close(g.sd, r.sd), 'gbdt, max_depth = ' || r.max_depth || ': its sd = GridSearchCV std_test_score')
FROM got_gb g JOIN ref_gb r USING (max_depth) ORDER BY r.max_depth;
SELECT is((SELECT max_depth FROM got_gb WHERE chosen), 1, 'gbdt: the grid point GridSearchCV picks, max_depth = 1');
SELECT is((SELECT (options->>'max_depth')::int FROM profenrich.models WHERE name = 'tn_gb' AND deployed), 1,
          'gbdt: the stored version has the chosen max_depth');
SELECT is((SELECT array_agg((metrics->>'n')::int ORDER BY fold)
           FROM profenrich.cross_validate('gbdt', 'logit_data', 'x1', ARRAY['x2', 'flag', 'plan', 'y'],
                                          '{"seed": 3, "test_fraction": 0.25, "n_trees": 30}', 4) WHERE fold IS NOT NULL),
          ARRAY[56, 55, 67, 55], 'gbdt: fold sizes of the training split (233 rows)');

SELECT * FROM finish();
ROLLBACK;
