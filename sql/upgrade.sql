-- Walk the upgrade chain from the oldest release to the current one. A model trained before
-- the update keeps scoring, with the same values, after it.
SET client_min_messages = warning;
DROP EXTENSION profenrich CASCADE;
CREATE EXTENSION profenrich VERSION '0.1.0';
RESET client_min_messages;
SELECT extversion FROM pg_extension WHERE extname = 'profenrich';
SELECT name, version FROM profenrich.train('old_model', 'linear', 'customers', 'spend', ARRAY['age', 'channel']);
CREATE TEMP TABLE old_scores AS
SELECT customer_id, profenrich.score('old_model', c) AS s FROM customers c;
-- until the update, what needs the deployment audit log says so
SELECT public.err($$SELECT profenrich.rollback('old_model')$$);
ALTER EXTENSION profenrich UPDATE TO '0.2.0';
SELECT extversion FROM pg_extension WHERE extname = 'profenrich';
ALTER EXTENSION profenrich UPDATE TO '0.3.0';
SELECT extversion FROM pg_extension WHERE extname = 'profenrich';
ALTER EXTENSION profenrich UPDATE TO '0.4.0';
SELECT extversion FROM pg_extension WHERE extname = 'profenrich';
ALTER EXTENSION profenrich UPDATE TO '0.5.0';
SELECT extversion FROM pg_extension WHERE extname = 'profenrich';
ALTER EXTENSION profenrich UPDATE;
SELECT extversion = (SELECT default_version FROM pg_available_extensions WHERE name = 'profenrich')
       AS at_default_version
FROM pg_extension WHERE extname = 'profenrich';
-- the model trained before the update scores the same after it, and reports its coefficients
SELECT bool_and(o.s = profenrich.score('old_model', c)) AS same_scores
FROM customers c JOIN old_scores o USING (customer_id);
SELECT feature, round(coef::numeric, 3) AS coef, odds_ratio FROM profenrich.coefficients('old_model');
-- its deployment, logged before the audit log, is a deploy action
SELECT version, action FROM profenrich.deployments WHERE name = 'old_model';
-- the registry and the new functions work after the walk
SELECT name, version FROM profenrich.train('after_upgrade', 'logistic', 'customers', 'vip', ARRAY['age', 'spend']);
SELECT count(*) FROM profenrich.coefficients('after_upgrade');
SELECT round(avg(profenrich.score_churn(c, 'after_upgrade'))::numeric, 3) BETWEEN 0 AND 1 AS wrapper_works
FROM customers c;
-- 0.5.0's model selection and held-out functions
SELECT count(*) AS fold_rows FROM profenrich.cross_validate('logistic', 'customers', 'vip', ARRAY['age', 'spend']);
SELECT (profenrich.evaluate('after_upgrade', version => 1))->>'version' AS evaluated_version;
SELECT pg_catalog.pg_describe_object(classid, objid, 0) AS dumped_config
FROM pg_depend d JOIN pg_extension e ON d.refobjid = e.oid
WHERE e.extname = 'profenrich' AND d.classid = 'pg_class'::regclass
  AND d.objid = ANY (e.extconfig) ORDER BY 1;
