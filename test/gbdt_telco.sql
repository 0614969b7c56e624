-- Gradient-boosted trees beside logistic regression on a real public data set: the IBM Telco
-- churn data (../shared/data/churn/Telco-Customer-Churn.csv, 7,043 customers, loaded into
-- shared_data.telco_churn by test/data/load_shared.sh), every column but the id as a
-- feature, target churn = 'Yes', the default test split (20%, keyed by customer_id).
-- The gbdt model's test AUC must be at least the logistic model's minus 0.01; both print.
-- Without the data folder the table is absent and every test is skipped, saying so.
\set QUIET on
\set ON_ERROR_STOP on
SET client_min_messages = warning;
BEGIN;
\set ntests 6
SELECT to_regclass('shared_data.telco_churn') IS NOT NULL AS have_data \gset

\if :have_data
SELECT plan(:ntests);
CREATE TEMP TABLE features AS SELECT ARRAY['gender', 'senior_citizen', 'partner', 'dependents',
  'tenure', 'phone_service', 'multiple_lines', 'internet_service', 'online_security',
  'online_backup', 'device_protection', 'tech_support', 'streaming_tv', 'streaming_movies',
  'contract', 'paperless_billing', 'payment_method', 'monthly_charges', 'total_charges'] AS f;
CREATE TEMP TABLE fits AS
SELECT 'logistic'::text AS model, t.* FROM profenrich.train('telco_lr', 'logistic',
  'shared_data.telco_churn', 'churn', (SELECT f FROM features), '{"positive": "Yes"}') t;
-- shallow trees and a small learning rate, early stopping on the test split
INSERT INTO fits SELECT 'gbdt', t.* FROM profenrich.train('telco_gb', 'gbdt',
  'shared_data.telco_churn', 'churn', (SELECT f FROM features),
  '{"positive": "Yes", "max_depth": 3, "learning_rate": 0.05, "n_trees": 1000,
    "early_stopping_rounds": 50}') t;
-- XGBoost's defaults but 200 trees of learning rate 0.1 and early stopping 20
INSERT INTO fits SELECT 'gbdt_defaults', t.* FROM profenrich.train('telco_gbd', 'gbdt',
  'shared_data.telco_churn', 'churn', (SELECT f FROM features), '{"positive": "Yes"}') t;
SELECT diag(model || ': test auc ' || round((metrics->'test'->>'auc')::numeric, 4) ||
            ', trees ' || coalesce(metrics->>'trees', '-'))
FROM fits ORDER BY model;

SELECT is((SELECT n_test FROM fits WHERE model = 'gbdt'), (SELECT n_test FROM fits WHERE model = 'logistic'),
          'both models hold out the same customers');
SELECT ok((SELECT (metrics->'test'->>'auc')::float8 FROM fits WHERE model = 'gbdt') >=
          (SELECT (metrics->'test'->>'auc')::float8 FROM fits WHERE model = 'logistic') - 0.01,
          'gbdt test auc >= logistic test auc - 0.01');
SELECT ok((SELECT (metrics->'test'->>'auc')::float8 FROM fits WHERE model = 'gbdt_defaults') >=
          (SELECT (metrics->'test'->>'auc')::float8 FROM fits WHERE model = 'logistic') - 0.01,
          'gbdt with default options: test auc >= logistic test auc - 0.01');
SELECT ok((SELECT (metrics->>'best_iteration')::int < 999 FROM fits WHERE model = 'gbdt'),
          'early stopping stopped before the last of 1000 rounds');
SELECT ok(abs((profenrich.evaluate('telco_gb')->>'auc')::float8 -
              (SELECT (metrics->'test'->>'auc')::float8 FROM fits WHERE model = 'gbdt')) < 1e-12,
          'evaluate() on the held-out customers gives the same test auc');
SELECT ok((SELECT (c->>'value_max_abs_diff')::float8 < 1e-6 AND (c->>'shap_max_abs_diff')::float8 < 1e-5
           FROM profenrich.gbdt_check('telco_gb', 'shared_data.telco_churn') c),
          'the evaluator agrees with XGBoost on all 7,043 customers');
\else
SELECT plan(:ntests);
SELECT skip('shared_data.telco_churn not loaded: the ../shared/data folder is absent '
            '(test/data/load_shared.sh loads it when present)', :ntests);
\endif
SELECT * FROM finish();
ROLLBACK;
