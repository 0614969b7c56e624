-- profenrich 0.4.0 -> 0.5.0
\echo Use "ALTER EXTENSION profenrich UPDATE TO '0.5.0'" to load this file. \quit

-- One interface per algorithm (issue 10) ---------------------------------------

-- coefficients(): a class column for class models (NULL for the others)
DROP FUNCTION @extschema@.coefficients(text, integer);
CREATE FUNCTION @extschema@.coefficients(name text, version integer DEFAULT NULL)
RETURNS TABLE (feature text, coef float8, std_err float8, stat float8, p_value float8,
               odds_ratio float8, class text)
AS 'MODULE_PATHNAME' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.coefficients(text, integer) IS
    'Coefficients of a model version (the deployed one when NULL) on the original scale, with inference (t or z), odds ratios, and the class of class models';

-- Class outputs (issue 10) -------------------------------------------------------

CREATE FUNCTION @extschema@.classes(name text, version integer DEFAULT NULL)
RETURNS text[] AS 'MODULE_PATHNAME' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.classes(text, integer) IS
    'The class labels of a class model version (the deployed one when NULL), in the order of predict_proba';

CREATE FUNCTION @extschema@.class_columns_for(name text, version integer, kind integer,
                                              names text[], VARIADIC "any")
RETURNS text AS 'MODULE_PATHNAME' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.class_columns_for(text, integer, integer, text[], "any") IS
    'Predicted class of a model version (the deployed one when NULL) for a row given as one argument per named column: what the planner turns predict_class and classify_engagement into';

CREATE FUNCTION @extschema@.proba_columns_for(name text, version integer, kind integer,
                                              names text[], VARIADIC "any")
RETURNS float8[] AS 'MODULE_PATHNAME' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.proba_columns_for(text, integer, integer, text[], "any") IS
    'Class probabilities of a model version for a row given as one argument per named column: what the planner turns predict_proba(name, row) into';

CREATE FUNCTION @extschema@.class_proba_columns_for(name text, version integer, class text,
                                                    names text[], VARIADIC "any")
RETURNS float8 AS 'MODULE_PATHNAME' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.class_proba_columns_for(text, integer, text, text[], "any") IS
    'Probability of one class for a row given as one argument per named column: what the planner turns predict_proba(name, row, class) into';

CREATE FUNCTION @extschema@.predict_class(name text, "row" record)
RETURNS text AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE
SUPPORT @extschema@.score_support;
COMMENT ON FUNCTION @extschema@.predict_class(text, record) IS
    'The most probable class of a row under the deployed class model (a logistic model: the positive class from its threshold on)';

CREATE FUNCTION @extschema@.predict_proba(name text, "row" record)
RETURNS float8[] AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE
SUPPORT @extschema@.score_support;
COMMENT ON FUNCTION @extschema@.predict_proba(text, record) IS
    'The class probabilities of a row under the deployed class model, in the order of classes(name)';

CREATE FUNCTION @extschema@.predict_proba(name text, "row" record, class text)
RETURNS float8 AS 'MODULE_PATHNAME', 'predict_proba_class' LANGUAGE C STABLE STRICT PARALLEL SAFE
SUPPORT @extschema@.score_support;
COMMENT ON FUNCTION @extschema@.predict_proba(text, record, text) IS
    'The probability of one class for a row under the deployed class model';

CREATE FUNCTION @extschema@.classify_engagement("row" record, model text DEFAULT 'engagement')
RETURNS text AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE
SUPPORT @extschema@.score_support;
COMMENT ON FUNCTION @extschema@.classify_engagement(record, text) IS
    'Engagement class of a profile: the predicted class of the deployed class model (default ''engagement'')';

-- Enrichment of class models; comparisons immune to the caller's search_path
CREATE FUNCTION @extschema@.changed(old anyelement, new anyelement)
RETURNS boolean AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.changed(anyelement, anyelement) IS
    'Whether two values differ as IS DISTINCT FROM says, by the type''s default equality: how enrich finds the rows to write';

CREATE FUNCTION @extschema@.probs_columns_for(name text, version integer, kind integer,
                                              names text[], VARIADIC "any")
RETURNS jsonb AS 'MODULE_PATHNAME' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.probs_columns_for(text, integer, integer, text[], "any") IS
    'Class probabilities of a model version as a jsonb object {"class": p}, for a row given as one argument per named column: what enrich writes into <model>_probs';

-- Privileges and bookkeeping (issue 9) -------------------------------------------
-- Every statement the extension runs is schema-qualified in the C code; what follows is who may
-- read and write its tables.

-- The rule of the row-level security policies below: a row is visible to the role that made it
-- (and roles with its privileges) and to roles that may read the relation named (USAGE on its
-- schema, SELECT on it, and no row-level security of it restricting them)
CREATE FUNCTION @extschema@.may_read(made_by name, relation text)
RETURNS boolean AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.may_read(name, text) IS
    'Whether the current user may see a registry row or enrich run made by made_by from or into relation: it has made_by''s privileges, or may read relation (schema USAGE, SELECT, no row-level security restricting it)';

-- The registry: vocabularies and params only for those who may read the source.  Scoring reads
-- the registry in C, under no policy; grants on the table decide who trains (INSERT), deploys
-- and rolls back (UPDATE) and drops (DELETE).
ALTER TABLE @extschema@.models ENABLE ROW LEVEL SECURITY;
CREATE POLICY models_read ON @extschema@.models FOR SELECT
    USING (@extschema@.may_read(trained_by, source));
CREATE POLICY models_insert ON @extschema@.models FOR INSERT WITH CHECK (true);
CREATE POLICY models_update ON @extschema@.models FOR UPDATE
    USING (@extschema@.may_read(trained_by, source)) WITH CHECK (true);
CREATE POLICY models_delete ON @extschema@.models FOR DELETE
    USING (@extschema@.may_read(trained_by, source));

-- What every role may know of every model
CREATE VIEW @extschema@.model_catalog AS
SELECT name, version, algorithm, source, target, metrics, n_train, n_test, trained_at, trained_by,
       deployed
FROM @extschema@.models;
COMMENT ON VIEW @extschema@.model_catalog IS
    'Every version of every model: name, algorithm, source, target, metrics and deployment, without the vocabularies and parameters';
GRANT SELECT ON @extschema@.model_catalog TO PUBLIC;

-- The deployment log is an append-only audit: deploy, rollback and drop each append a row
ALTER TABLE @extschema@.deployments
    ADD COLUMN action text NOT NULL DEFAULT 'deploy' CHECK (action IN ('deploy', 'rollback', 'drop'));
COMMENT ON TABLE @extschema@.deployments IS
    'Deployment audit log: every deploy, rollback and drop (action) of a model version, by whom and when; rollback replays it as a stack';
COMMENT ON COLUMN @extschema@.deployments.version IS
    'The version deployed (deploy, rollback) or dropped (drop)';
CREATE FUNCTION @extschema@.deployments_append_only()
RETURNS trigger AS 'MODULE_PATHNAME' LANGUAGE C;
COMMENT ON FUNCTION @extschema@.deployments_append_only() IS
    'Trigger of profenrich.deployments: refuses UPDATE, DELETE and TRUNCATE, and INSERT by roles other than its owner';
CREATE TRIGGER deployments_append_only BEFORE INSERT OR UPDATE OR DELETE ON @extschema@.deployments
FOR EACH ROW EXECUTE FUNCTION @extschema@.deployments_append_only();
CREATE TRIGGER deployments_no_truncate BEFORE TRUNCATE ON @extschema@.deployments
FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.deployments_append_only();

-- The run log: written by enrich only (as the table's owner), read by those who may read the
-- target; a run whose session ended before it finished is 'interrupted'
REVOKE INSERT, UPDATE ON @extschema@.enrich_runs FROM PUBLIC;
REVOKE USAGE ON SEQUENCE @extschema@.enrich_runs_run_id_seq FROM PUBLIC;
ALTER TABLE @extschema@.enrich_runs ADD COLUMN target_oid oid;
COMMENT ON COLUMN @extschema@.enrich_runs.target_oid IS
    'The OID of the target when the run started (NULL for runs logged by 0.4.0)';
ALTER TABLE @extschema@.enrich_runs DROP CONSTRAINT enrich_runs_status_check;
ALTER TABLE @extschema@.enrich_runs ADD CONSTRAINT enrich_runs_status_check
    CHECK (status IN ('running', 'finished', 'failed', 'interrupted'));
ALTER TABLE @extschema@.enrich_runs ENABLE ROW LEVEL SECURITY;
CREATE POLICY enrich_runs_read ON @extschema@.enrich_runs FOR SELECT
    USING (@extschema@.may_read(run_by, target));

-- A run is alive while its session holds the table's enrich lock (advisory lock class
-- 1346715221, the table's OID, 2); a 'running' run without it was interrupted
CREATE VIEW @extschema@.enrich_status WITH (security_invoker = true) AS
SELECT r.run_id, r.target, r.models, r.started, r.finished, r.rows_scanned, r.rows_updated,
       CASE WHEN r.status = 'running' AND NOT EXISTS (
                SELECT 1 FROM pg_catalog.pg_locks l
                WHERE l.locktype = 'advisory' AND l.classid = 1346715221::oid
                  AND l.objsubid = 2 AND l.pid = r.pid AND l.granted
                  AND (r.target_oid IS NULL OR l.objid = r.target_oid))
            THEN 'interrupted' ELSE r.status END AS status,
       r.error, r.run_by, r.pid
FROM @extschema@.enrich_runs r;
COMMENT ON VIEW @extschema@.enrich_status IS
    'The enrich runs the current user may see, a running run whose session has ended shown as interrupted';
GRANT SELECT ON @extschema@.enrich_status TO PUBLIC;

-- Trustworthy defaults (issue 15) --------------------------------------------------
-- Held-out evaluation and explanations of any model version; lift and explain of linear
-- models; lift(name) on the model's own test split
DROP FUNCTION @extschema@.evaluate(text, regclass);
CREATE FUNCTION @extschema@.evaluate(name text, source regclass DEFAULT NULL,
                                     version integer DEFAULT NULL)
RETURNS jsonb AS 'MODULE_PATHNAME' LANGUAGE C STABLE CALLED ON NULL INPUT;
COMMENT ON FUNCTION @extschema@.evaluate(text, regclass, integer) IS
    'Metrics of a model version (the deployed one when NULL) on a relation, or on its own test split when source is NULL';

DROP FUNCTION @extschema@.lift(text, regclass, integer);
CREATE FUNCTION @extschema@.lift(name text, source regclass DEFAULT NULL, buckets integer DEFAULT 10,
                                 version integer DEFAULT NULL)
RETURNS TABLE (bucket integer, n bigint, positives bigint, rate float8, lift float8,
               cumulative_gain float8)
AS 'MODULE_PATHNAME' LANGUAGE C STABLE CALLED ON NULL INPUT;
COMMENT ON FUNCTION @extschema@.lift(text, regclass, integer, integer) IS
    'Gains table of a logistic or linear model version on a relation, or on its own test split when source is NULL: buckets by score, highest first';

DROP FUNCTION @extschema@.explain(text, record, integer);
CREATE FUNCTION @extschema@.explain(name text, "row" record, k integer DEFAULT 3,
                                    version integer DEFAULT NULL)
RETURNS TABLE (feature text, value text, contribution float8)
AS 'MODULE_PATHNAME' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.explain(text, record, integer, integer) IS
    'Baseline and the k features contributing most to a row''s prediction (linear) or logit (logistic) under a model version';

COMMENT ON FUNCTION @extschema@.factors(text, record, integer, integer) IS
    'The k features contributing most to a row''s score, signed by their direction (+raises, -lowers)';

CREATE FUNCTION @extschema@.factors_detail(name text, "row" record, k integer DEFAULT 3,
                                           version integer DEFAULT NULL)
RETURNS jsonb AS 'MODULE_PATHNAME' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.factors_detail(text, record, integer, integer) IS
    'The k features contributing most to a row''s score as [{"feature", "value", "contribution"}]: what enrich writes into <model>_factors_detail';

-- Rows with categories a model did not see, as enrich counts them
CREATE FUNCTION @extschema@.unseen_columns_for(name text, version integer, names text[],
                                               VARIADIC "any")
RETURNS boolean AS 'MODULE_PATHNAME' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.unseen_columns_for(text, integer, text[], "any") IS
    'Whether a row given as one argument per named column holds a category a model version did not see in training';

-- Training on a query, with the caller's privileges
CREATE FUNCTION @extschema@.train_query(name text, algorithm text, query text,
                                        target text DEFAULT NULL, features text[] DEFAULT NULL,
                                        options jsonb DEFAULT '{}')
RETURNS @extschema@.trained_model
AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE CALLED ON NULL INPUT;
COMMENT ON FUNCTION @extschema@.train_query(text, text, text, text, text[], jsonb) IS
    'Train a new version of a named model on the rows of a SELECT (run with the caller''s privileges), store it and (unless "deploy": false) deploy it';

-- Model selection
CREATE FUNCTION @extschema@.cross_validate(algorithm text, source regclass, target text,
                                           features text[] DEFAULT NULL,
                                           options jsonb DEFAULT '{}', folds integer DEFAULT 5)
RETURNS TABLE (fold integer, metrics jsonb)
AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE CALLED ON NULL INPUT;
COMMENT ON FUNCTION @extschema@.cross_validate(text, regclass, text, text[], jsonb, integer) IS
    'Validation metrics of each fold of the training split (folds by the split''s key hash) and their mean and sd (fold NULL); nothing is stored';

CREATE FUNCTION @extschema@.tune(name text, algorithm text, source regclass, target text,
                                 features text[] DEFAULT NULL, options jsonb DEFAULT '{}',
                                 grid jsonb DEFAULT NULL, folds integer DEFAULT 5)
RETURNS TABLE (params jsonb, metric float8, sd float8, chosen boolean)
AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE CALLED ON NULL INPUT;
COMMENT ON FUNCTION @extschema@.tune(text, text, regclass, text, text[], jsonb, jsonb, integer) IS
    'Cross-validate every point of a grid of options (log loss for classifiers, RMSE for regressions) and store one training of the best as the next version of name';

-- The lifetime-value pass names one row it skipped by its key
CREATE FUNCTION @extschema@.clv_data_trans(internal, integer, float8, float8, float8, float8, text)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
CREATE AGGREGATE @extschema@.clv_data(flags integer, frequency float8, recency float8, t float8,
                                      monetary float8, key text) (
    SFUNC = @extschema@.clv_data_trans,
    STYPE = internal,
    SSPACE = 65536,
    FINALFUNC = @extschema@.clv_data_final,
    COMBINEFUNC = @extschema@.clv_data_combine,
    SERIALFUNC = @extschema@.clv_data_serialize,
    DESERIALFUNC = @extschema@.clv_data_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.clv_data(integer, float8, float8, float8, float8, text) IS
    'clv_data with each customer''s key, which names a row no model can read (flag 4: skipped and counted)';

-- Enrich runs count the rows whose scoring failed (written NULL) and those with unseen categories
ALTER TABLE @extschema@.enrich_runs
    ADD COLUMN rows_failed bigint NOT NULL DEFAULT 0,
    ADD COLUMN rows_unseen bigint NOT NULL DEFAULT 0,
    ADD COLUMN first_failure text,
    ADD COLUMN first_failure_key text;
COMMENT ON COLUMN @extschema@.enrich_runs.rows_failed IS
    'Rows whose scoring failed and whose insight columns were written NULL (option "on_error": "null")';
COMMENT ON COLUMN @extschema@.enrich_runs.rows_unseen IS
    'Rows holding a category a model did not see in training';
COMMENT ON COLUMN @extschema@.enrich_runs.first_failure IS
    'The error of the first row counted in rows_failed';
COMMENT ON COLUMN @extschema@.enrich_runs.first_failure_key IS
    'That row: its primary key, or its ctid';
CREATE OR REPLACE VIEW @extschema@.enrich_status WITH (security_invoker = true) AS
SELECT r.run_id, r.target, r.models, r.started, r.finished, r.rows_scanned, r.rows_updated,
       CASE WHEN r.status = 'running' AND NOT EXISTS (
                SELECT 1 FROM pg_catalog.pg_locks l
                WHERE l.locktype = 'advisory' AND l.classid = 1346715221::oid
                  AND l.objsubid = 2 AND l.pid = r.pid AND l.granted
                  AND (r.target_oid IS NULL OR l.objid = r.target_oid))
            THEN 'interrupted' ELSE r.status END AS status,
       r.error, r.run_by, r.pid, r.rows_failed, r.rows_unseen, r.first_failure, r.first_failure_key
FROM @extschema@.enrich_runs r;
