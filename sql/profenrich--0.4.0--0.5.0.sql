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
-- Discovery (issue 13): profile_summary and feature_report, each one scan of the source by a
-- combinable aggregate (profile_stats, feature_stats) that parallel workers split --------------

CREATE FUNCTION @extschema@.profile_stats_trans(internal, text[], VARIADIC "any")
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION @extschema@.profile_stats_combine(internal, internal)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION @extschema@.profile_stats_serialize(internal)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.profile_stats_deserialize(bytea, internal)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.profile_stats_final(internal)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;

CREATE AGGREGATE @extschema@.profile_stats(text[], VARIADIC "any") (
    SFUNC = @extschema@.profile_stats_trans, STYPE = internal, SSPACE = 262144,
    FINALFUNC = @extschema@.profile_stats_final, COMBINEFUNC = @extschema@.profile_stats_combine,
    SERIALFUNC = @extschema@.profile_stats_serialize, DESERIALFUNC = @extschema@.profile_stats_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.profile_stats(text[], VARIADIC "any") IS
    'The pass of profile_summary: counts, moments, quantile sketch, distinct count and frequent values of each argument, as a serialized state';

CREATE FUNCTION @extschema@.profile_summary(source regclass, columns text[] DEFAULT NULL)
RETURNS TABLE (column_name text, type text, n bigint, nulls bigint, null_share float8,
               distinct_values bigint, mean float8, sd float8, min float8, p01 float8,
               p25 float8, median float8, p75 float8, p99 float8, max float8, top_values jsonb)
AS 'MODULE_PATHNAME' LANGUAGE C STABLE CALLED ON NULL INPUT;
COMMENT ON FUNCTION @extschema@.profile_summary(regclass, text[]) IS
    'One row per column of a relation: counts, mean, sd, range, quantiles, distinct values and the most frequent values, from one scan';

CREATE FUNCTION @extschema@.feature_stats_trans(internal, text[], VARIADIC "any")
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION @extschema@.feature_stats_combine(internal, internal)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION @extschema@.feature_stats_serialize(internal)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.feature_stats_deserialize(bytea, internal)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.feature_stats_final(internal)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;

CREATE AGGREGATE @extschema@.feature_stats(text[], VARIADIC "any") (
    SFUNC = @extschema@.feature_stats_trans, STYPE = internal, SSPACE = 262144,
    FINALFUNC = @extschema@.feature_stats_final, COMBINEFUNC = @extschema@.feature_stats_combine,
    SERIALFUNC = @extschema@.feature_stats_serialize, DESERIALFUNC = @extschema@.feature_stats_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.feature_stats(text[], VARIADIC "any") IS
    'The pass of feature_report: the target (first value) and each feature''s class distributions or co-moments, as a serialized state';

CREATE FUNCTION @extschema@.feature_report(source regclass, target text, features text[] DEFAULT NULL)
RETURNS TABLE (feature text, kind text, missing_share float8, strength float8, measure text,
               information_value float8, detail jsonb)
AS 'MODULE_PATHNAME' LANGUAGE C STABLE CALLED ON NULL INPUT;
COMMENT ON FUNCTION @extschema@.feature_report(regclass, text, text[]) IS
    'How each feature relates to a target: univariate AUC and information value (binary target) or Pearson, Spearman and eta (numeric target), strongest first';
-- Product and category affinity: item models 'als' and 'affinity' (issue 12) ---------

-- What an item model knows per user, one row per model version and user; written by train(),
-- read by primary key when a user is scored, removed by drop_model()
CREATE TABLE @extschema@.model_users (
    model    text COLLATE "C" NOT NULL,
    version  integer NOT NULL,
    user_key text COLLATE "C" NOT NULL,
    items    text[] NOT NULL,
    shares   float8[],
    factors  float8[],
    PRIMARY KEY (model, version, user_key)
);
COMMENT ON TABLE @extschema@.model_users IS
    'Per-user state of item models (als, affinity): one row per model version and user key';
COMMENT ON COLUMN @extschema@.model_users.items IS
    'als: the items the user was trained on, in key order; affinity: the user''s items by decreasing share';
COMMENT ON COLUMN @extschema@.model_users.shares IS
    'affinity: each item''s share of the user''s time-decayed weight (NULL for als)';
COMMENT ON COLUMN @extschema@.model_users.factors IS
    'als: the user''s latent factor (NULL for affinity)';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.model_users', '');
-- an item model's params are megabytes of doubles (its item factors), which compression only
-- slows down: store params uncompressed (the other models' params are too small to be toasted)
ALTER TABLE @extschema@.models ALTER COLUMN params SET STORAGE EXTERNAL;

CREATE FUNCTION @extschema@.top_items(name text, user_key anyelement, k integer DEFAULT 10,
                                      version integer DEFAULT NULL)
RETURNS text[] AS 'MODULE_PATHNAME' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.top_items(text, anyelement, integer, integer) IS
    'The k best items of a user under an item model (als: highest predicted preference among items not seen; affinity: highest share); the most popular for a user the model does not know';

CREATE FUNCTION @extschema@.top_item_scores(name text, user_key anyelement, k integer DEFAULT 10,
                                            version integer DEFAULT NULL)
RETURNS float8[] AS 'MODULE_PATHNAME' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.top_item_scores(text, anyelement, integer, integer) IS
    'The scores of top_items, in the same order';

CREATE FUNCTION @extschema@.recommend(name text, user_key anyelement, k integer DEFAULT 10)
RETURNS TABLE (item text, score float8)
AS 'MODULE_PATHNAME' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION @extschema@.recommend(text, anyelement, integer) IS
    'The k best items of a user with their scores, best first';

CREATE FUNCTION @extschema@.affinity(name text, user_key anyelement, item text)
RETURNS float8 AS 'MODULE_PATHNAME' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.affinity(text, anyelement, text) IS
    'A user''s score for one item (als: predicted preference; affinity: share); NULL for a user or an item the model does not know';

CREATE FUNCTION @extschema@.affinities(name text, user_key anyelement)
RETURNS TABLE (item text, share float8, lift float8)
AS 'MODULE_PATHNAME' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION @extschema@.affinities(text, anyelement) IS
    'Every item of a user of an affinity model by decreasing share, with its lift: the share over the item''s share of the population';

CREATE FUNCTION @extschema@.similar_items(name text, of_item text, k integer DEFAULT 10)
RETURNS TABLE (item text, score float8)
AS 'MODULE_PATHNAME' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION @extschema@.similar_items(text, text, integer) IS
    'The k items most like one (als: cosine of the item factors; affinity: Jaccard index of their users, counted over the model''s user rows)';

CREATE FUNCTION @extschema@.item_factors(name text, version integer DEFAULT NULL)
RETURNS TABLE (item text, popularity float8, factors float8[])
AS 'MODULE_PATHNAME' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.item_factors(text, integer) IS
    'The items of an item model in key order, with their popularity and (als) their factors';

CREATE FUNCTION @extschema@.top_items_for_trans(internal, name text, item anyelement,
                                                weight float8, k integer)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION @extschema@.top_items_for_final(internal)
RETURNS text[] AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.top_item_scores_for_final(internal)
RETURNS float8[] AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;

CREATE AGGREGATE @extschema@.top_items_for(name text, item anyelement, weight float8, k integer) (
    SFUNC = @extschema@.top_items_for_trans,
    STYPE = internal,
    FINALFUNC = @extschema@.top_items_for_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.top_items_for(text, anyelement, float8, integer) IS
    'Fold-in: the k best items of a user from its interactions (item, weight) as training would give them, without retraining';

CREATE AGGREGATE @extschema@.top_item_scores_for(name text, item anyelement, weight float8, k integer) (
    SFUNC = @extschema@.top_items_for_trans,
    STYPE = internal,
    FINALFUNC = @extschema@.top_item_scores_for_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.top_item_scores_for(text, anyelement, float8, integer) IS
    'Fold-in: the scores of top_items_for, in the same order';

-- Gradient-boosted trees (issue 14) ----------------------------------------------

CREATE FUNCTION @extschema@.feature_importance(name text, version integer DEFAULT NULL)
RETURNS TABLE (feature text, gain float8, cover float8, weight bigint, mean_abs_shap float8)
AS 'MODULE_PATHNAME' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.feature_importance(text, integer) IS
    'Per feature column of a gbdt model version (the deployed one when NULL): the mean gain and cover of its splits, their number, and its mean |SHAP| on a sample of the training rows';

CREATE FUNCTION @extschema@.gbdt_check(name text, source regclass)
RETURNS jsonb AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.gbdt_check(text, regclass) IS
    'The largest differences between profenrich''s evaluation of the deployed gbdt model and XGBoost''s own (values, margins, TreeSHAP contributions) over the rows of source';

-- Algorithm 'multinomial' (issue 10) ---------------------------------------------

-- One streaming pass of the multinomial trainer (train() runs it when the data do not fit
-- profenrich.max_train_memory): by params[0], the class counts and Gram matrix (0), or the
-- log-likelihood and gradient (1) and Hessian (2) at given coefficients, over the training rows
-- Its state is bytea (as the other training aggregates', issue 16), so Citus pushes it down; the
-- second form takes the row as ROW(col1, ...), the form Citus accepts on its workers
CREATE FUNCTION @extschema@.multinomial_step_sfunc(state bytea, spec bytea, params float8[],
                                                   classes text[], names text[], VARIADIC "any")
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.multinomial_step_sfunc(bytea, bytea, float8[], text[], text[], "any") IS
    'Transition of multinomial_step: a training row, batched';
CREATE FUNCTION @extschema@.multinomial_step_row_sfunc(state bytea, spec bytea, params float8[],
                                                       classes text[], names text[], "row" record)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.multinomial_step_row_sfunc(bytea, bytea, float8[], text[], text[], record) IS
    'Transition of multinomial_step over rows given as ROW(...) with their column names';
CREATE FUNCTION @extschema@.multinomial_step_combinefunc(a bytea, b bytea)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.multinomial_step_combinefunc(bytea, bytea) IS
    'Combine of multinomial_step: the counts or sums of both states';
CREATE FUNCTION @extschema@.multinomial_step_finalfunc(state bytea)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.multinomial_step_finalfunc(bytea) IS
    'Final function of multinomial_step: the counts'' or sums'' bytes';
CREATE AGGREGATE @extschema@.multinomial_step(bytea, float8[], text[], text[], VARIADIC "any") (
    SFUNC = @extschema@.multinomial_step_sfunc,
    STYPE = bytea,
    SSPACE = 65536,
    FINALFUNC = @extschema@.multinomial_step_finalfunc,
    COMBINEFUNC = @extschema@.multinomial_step_combinefunc,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.multinomial_step(bytea, float8[], text[], text[], "any") IS
    'Class counts and Gram matrix, or log-likelihood, gradient and Hessian of multinomial logistic regression at given coefficients, over the training rows (spec, {mode, class weights, slot means, slot sds, coefficients}, class labels, column names, columns)';
CREATE AGGREGATE @extschema@.multinomial_step(bytea, float8[], text[], text[], "row" record) (
    SFUNC = @extschema@.multinomial_step_row_sfunc,
    STYPE = bytea,
    SSPACE = 65536,
    FINALFUNC = @extschema@.multinomial_step_finalfunc,
    COMBINEFUNC = @extschema@.multinomial_step_combinefunc,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.multinomial_step(bytea, float8[], text[], text[], record) IS
    'multinomial_step over rows given as ROW(col1, ...) with their column names: the form Citus pushes down';

-- The multi-class metrics of predictions, as an aggregate (the counterpart of auc and logloss)
CREATE FUNCTION @extschema@.class_metrics_trans(internal, float8[], text, text[])
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION @extschema@.class_metrics_combine(internal, internal)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION @extschema@.class_metrics_serialize(internal)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.class_metrics_deserialize(bytea, internal)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.class_metrics_final(internal)
RETURNS jsonb AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
CREATE AGGREGATE @extschema@.class_metrics(probabilities float8[], actual text, classes text[]) (
    SFUNC = @extschema@.class_metrics_trans,
    STYPE = internal,
    SSPACE = 65536,
    FINALFUNC = @extschema@.class_metrics_final,
    COMBINEFUNC = @extschema@.class_metrics_combine,
    SERIALFUNC = @extschema@.class_metrics_serialize,
    DESERIALFUNC = @extschema@.class_metrics_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.class_metrics(float8[], text, text[]) IS
    'Multi-class metrics of predictions (class probabilities in the order of classes, the actual class): logloss, accuracy, macro and weighted F1, one-vs-rest AUC, per-class precision, recall, F1, support, confusion matrix';

-- Monitoring of deployed models (issue 13) ----------------------------------------
-- Models trained from 0.5.0 on store a baseline of their training population (params
-- section 2); drift compares a relation with it.

CREATE FUNCTION @extschema@.drift(name text, source regclass DEFAULT NULL)
RETURNS TABLE (feature text, psi float8, status text, detail jsonb)
AS 'MODULE_PATHNAME', 'drift' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.drift(text, regclass) IS
    'Population stability index of each feature and of the score (row "(score)") between the deployed model''s training baseline and a relation (default: its training source): stable below 0.1, moderate to 0.25, shift beyond; per-bin shares in detail';

CREATE FUNCTION @extschema@.roc_curve(name text, source regclass DEFAULT NULL, points integer DEFAULT 100)
RETURNS TABLE (threshold float8, tpr float8, fpr float8, "precision" float8)
AS 'MODULE_PATHNAME', 'roc_curve' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.roc_curve(text, regclass, integer) IS
    'ROC curve of the deployed binary model on a relation (default: its test split), from the threshold Infinity down to its lowest score, at most points rows';

CREATE FUNCTION @extschema@.calibration(name text, source regclass DEFAULT NULL, bins integer DEFAULT 10)
RETURNS TABLE (bin integer, n bigint, mean_predicted float8, observed_rate float8)
AS 'MODULE_PATHNAME', 'calibration' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.calibration(text, regclass, integer) IS
    'Calibration table of the deployed binary model on a relation (default: its test split): probabilities in bins of equal width, their mean and the observed positive rate';

CREATE FUNCTION @extschema@.confusion_matrix(name text, source regclass DEFAULT NULL,
                                             threshold float8 DEFAULT NULL)
RETURNS TABLE (actual text, predicted text, n bigint)
AS 'MODULE_PATHNAME', 'confusion_matrix' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.confusion_matrix(text, regclass, float8) IS
    'Confusion matrix of the deployed classifier on a relation (default: its test split): a binary model at threshold (default its own), a class model by its predicted classes';

CREATE FUNCTION @extschema@.best_threshold(name text, source regclass DEFAULT NULL, metric text DEFAULT 'f1')
RETURNS TABLE (threshold float8, value float8, tpr float8, fpr float8, "precision" float8)
AS 'MODULE_PATHNAME', 'best_threshold' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.best_threshold(text, regclass, text) IS
    'The threshold of the deployed binary model best for a metric on a relation (default: its test split): ''f1'', ''youden'', or a cost object {"fp": 1, "fn": 5} (lowest total cost)';

CREATE FUNCTION @extschema@.holdout_check(name text, source regclass, actual text, periods float8)
RETURNS TABLE (frequency integer, customers bigint, actual_mean float8, expected_mean float8)
AS 'MODULE_PATHNAME', 'holdout_check' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.holdout_check(text, regclass, text, float8) IS
    'Holdout validation of a purchase model: mean actual and conditionally expected purchases over periods by calibration frequency 0..6 and 7+ (7), and in total (frequency NULL)';

-- The drift history.  No role has a grant to write it: log_drift appends as the table's
-- owner (the extension's code only), with the caller in logged_by.  A row is visible by the
-- rule of enrich_runs (profenrich.may_read): to the role that logged it and to roles that may
-- read its source.
CREATE TABLE @extschema@.drift_log (
    logged_at   timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    model       text NOT NULL,
    version     integer NOT NULL,
    source      text NOT NULL,
    feature     text NOT NULL,
    psi         float8,
    status      text CHECK (status IN ('stable', 'moderate', 'shift')),
    rows        bigint NOT NULL,
    detail      jsonb,
    logged_by   name NOT NULL
);
COMMENT ON TABLE @extschema@.drift_log IS
    'One row per feature (and "(score)") of every log_drift call: the PSI of a model''s features on a relation over time';
REVOKE ALL ON @extschema@.drift_log FROM PUBLIC;
GRANT SELECT ON @extschema@.drift_log TO PUBLIC;
ALTER TABLE @extschema@.drift_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY drift_log_read ON @extschema@.drift_log FOR SELECT
    USING (@extschema@.may_read(logged_by, source));
SELECT pg_catalog.pg_extension_config_dump('@extschema@.drift_log', '');

CREATE PROCEDURE @extschema@.log_drift(name text, source regclass DEFAULT NULL)
AS 'MODULE_PATHNAME', 'log_drift' LANGUAGE C;
COMMENT ON PROCEDURE @extschema@.log_drift(text, regclass) IS
    'Append drift(name, source) to profenrich.drift_log, for a scheduled check (pg_cron)';

-- k-means segments (issue 11) ----------------------------------------------------

-- The streaming step of 'kmeans': one Lloyd pass for several runs at once
-- Its state is bytea (as the other training aggregates', issue 16), so Citus pushes it down; the
-- second form takes the row as ROW(col1, ...), the form Citus accepts on its workers
CREATE FUNCTION @extschema@.kmeans_step_sfunc(state bytea, spec bytea, params float8[], names text[],
                                              VARIADIC "any")
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.kmeans_step_sfunc(bytea, bytea, float8[], text[], "any") IS
    'Transition of kmeans_step: a row, batched and assigned in every run';
CREATE FUNCTION @extschema@.kmeans_step_row_sfunc(state bytea, spec bytea, params float8[], names text[],
                                                  "row" record)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.kmeans_step_row_sfunc(bytea, bytea, float8[], text[], record) IS
    'Transition of kmeans_step over rows given as ROW(...) with their column names';
CREATE FUNCTION @extschema@.kmeans_step_combinefunc(a bytea, b bytea)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.kmeans_step_combinefunc(bytea, bytea) IS
    'Combine of kmeans_step: the sums of both states';
CREATE FUNCTION @extschema@.kmeans_step_finalfunc(state bytea)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.kmeans_step_finalfunc(bytea) IS
    'Final function of kmeans_step: the sums'' bytes';
CREATE AGGREGATE @extschema@.kmeans_step(bytea, float8[], text[], VARIADIC "any") (
    SFUNC = @extschema@.kmeans_step_sfunc,
    STYPE = bytea,
    SSPACE = 524288,            -- a batch of up to 1,024 rows and its products with the centers
    FINALFUNC = @extschema@.kmeans_step_finalfunc,
    COMBINEFUNC = @extschema@.kmeans_step_combinefunc,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.kmeans_step(bytea, float8[], text[], "any") IS
    'One pass of Lloyd''s k-means for several runs: per-cluster sums, counts, inertia and farthest points of the rows assigned to their nearest centers (spec, {runs, slots, k of each run, slot means, slot scales, centers}, column names, columns)';
CREATE AGGREGATE @extschema@.kmeans_step(bytea, float8[], text[], "row" record) (
    SFUNC = @extschema@.kmeans_step_row_sfunc,
    STYPE = bytea,
    SSPACE = 524288,
    FINALFUNC = @extschema@.kmeans_step_finalfunc,
    COMBINEFUNC = @extschema@.kmeans_step_combinefunc,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.kmeans_step(bytea, float8[], text[], record) IS
    'kmeans_step over rows given as ROW(col1, ...) with their column names: the form Citus pushes down';

-- Segment outputs: the columns forms the planner rewrites into, and enrich calls
CREATE FUNCTION @extschema@.segment_columns_for(name text, version integer, kind integer,
                                                names text[], VARIADIC "any")
RETURNS integer AS 'MODULE_PATHNAME' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.segment_columns_for(text, integer, integer, text[], "any") IS
    'Segment of a row under a segment model version (the deployed one when NULL), the row given as one argument per named column: what the planner turns segment and segment_of into';

CREATE FUNCTION @extschema@.segment_distance_columns_for(name text, version integer, kind integer,
                                                         names text[], VARIADIC "any")
RETURNS float8 AS 'MODULE_PATHNAME' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.segment_distance_columns_for(text, integer, integer, text[], "any") IS
    'Distance of a row to its segment''s center (standardized scale), the row given as one argument per named column: what the planner turns segment_distance into';

CREATE FUNCTION @extschema@.segment(name text, "row" record)
RETURNS integer AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE
SUPPORT @extschema@.score_support;
COMMENT ON FUNCTION @extschema@.segment(text, record) IS
    'The segment (1 = the largest) of a row under the deployed k-means model';

CREATE FUNCTION @extschema@.segment_of("row" record, model text DEFAULT 'segments')
RETURNS integer AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE
SUPPORT @extschema@.score_support;
COMMENT ON FUNCTION @extschema@.segment_of(record, text) IS
    'Segment of a profile under the deployed k-means model (default ''segments'')';

CREATE FUNCTION @extschema@.segment_distance(name text, "row" record)
RETURNS float8 AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE
SUPPORT @extschema@.score_support;
COMMENT ON FUNCTION @extschema@.segment_distance(text, record) IS
    'Euclidean distance of a row to its segment''s center on the standardized scale, under the deployed k-means model';

CREATE FUNCTION @extschema@.segments(name text, version integer DEFAULT NULL)
RETURNS TABLE (segment integer, size bigint, share float8, center jsonb, distinctive jsonb)
AS 'MODULE_PATHNAME' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.segments(text, integer) IS
    'The segments of a k-means model version (the deployed one when NULL): size, share, center on the original scale (categories as level shares), and the features that set each apart most';

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

-- Scale-out on Citus (issue 16) ---------------------------------------------------

-- Training aggregates with a state Citus can ship: bytea.  Inside an aggregate the state is an
-- expanded object updated in place; wherever it travels (a parallel leader, a Citus worker's
-- worker_partial_agg to the coordinator's coord_combine_agg) it is its flat form, the family's
-- serialized state.  Every support function also takes a caller's bytes, validates them
-- (22P03) and never modifies them.  The aggregates are recreated with the same signatures; a
-- view using one must be dropped before ALTER EXTENSION UPDATE and created again after it.
DROP AGGREGATE @extschema@.linear_stats(record, bytea);
DROP AGGREGATE @extschema@.linear_stats(bytea, text[], VARIADIC "any");
DROP FUNCTION @extschema@.linear_stats_trans(internal, record, bytea);
DROP FUNCTION @extschema@.linear_stats_args_trans(internal, bytea, text[], VARIADIC "any");
DROP FUNCTION @extschema@.linear_stats_combine(internal, internal);
DROP FUNCTION @extschema@.linear_stats_serialize(internal);
DROP FUNCTION @extschema@.linear_stats_deserialize(bytea, internal);
DROP FUNCTION @extschema@.linear_stats_final(internal);

CREATE FUNCTION @extschema@.linear_stats_sfunc(state bytea, "row" record, spec bytea)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.linear_stats_sfunc(bytea, record, bytea) IS
    'Transition of linear_stats(record, bytea): adds a row, read by column name through the spec';
CREATE FUNCTION @extschema@.linear_stats_args_sfunc(state bytea, spec bytea, names text[], VARIADIC "any")
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.linear_stats_args_sfunc(bytea, bytea, text[], "any") IS
    'Transition of linear_stats(bytea, text[], VARIADIC "any"): adds a row given as one argument per named column';
CREATE FUNCTION @extschema@.linear_stats_combinefunc(a bytea, b bytea)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.linear_stats_combinefunc(bytea, bytea) IS
    'Combine of linear_stats: the co-moments and row samples of both states';
CREATE FUNCTION @extschema@.linear_stats_finalfunc(state bytea)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.linear_stats_finalfunc(bytea) IS
    'Final function of linear_stats: the state''s bytes';

CREATE AGGREGATE @extschema@.linear_stats(record, bytea) (
    SFUNC = @extschema@.linear_stats_sfunc,
    STYPE = bytea,
    SSPACE = 65536,
    FINALFUNC = @extschema@.linear_stats_finalfunc,
    COMBINEFUNC = @extschema@.linear_stats_combinefunc,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.linear_stats(record, bytea) IS
    'One pass of linear-model training statistics (co-moments and a row sample per split) for rows read through a feature spec';
CREATE AGGREGATE @extschema@.linear_stats(bytea, text[], VARIADIC "any") (
    SFUNC = @extschema@.linear_stats_args_sfunc,
    STYPE = bytea,
    SSPACE = 65536,
    FINALFUNC = @extschema@.linear_stats_finalfunc,
    COMBINEFUNC = @extschema@.linear_stats_combinefunc,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.linear_stats(bytea, text[], VARIADIC "any") IS
    'linear_stats over rows given as one argument per column, named by the text[] argument';

DROP AGGREGATE @extschema@.logistic_step(bytea, float8[], text[], VARIADIC "any");
DROP FUNCTION @extschema@.logistic_step_trans(internal, bytea, float8[], text[], VARIADIC "any");
DROP FUNCTION @extschema@.logistic_step_combine(internal, internal);
DROP FUNCTION @extschema@.logistic_step_serialize(internal);
DROP FUNCTION @extschema@.logistic_step_deserialize(bytea, internal);
DROP FUNCTION @extschema@.logistic_step_final(internal);
CREATE FUNCTION @extschema@.logistic_step_sfunc(state bytea, spec bytea, params float8[], names text[],
                                                VARIADIC "any")
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.logistic_step_sfunc(bytea, bytea, float8[], text[], "any") IS
    'Transition of logistic_step: adds a training row''s terms at the given coefficients';
CREATE FUNCTION @extschema@.logistic_step_combinefunc(a bytea, b bytea)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.logistic_step_combinefunc(bytea, bytea) IS
    'Combine of logistic_step: the sums of both states';
CREATE FUNCTION @extschema@.logistic_step_finalfunc(state bytea)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.logistic_step_finalfunc(bytea) IS
    'Final function of logistic_step: the sums'' bytes';
CREATE AGGREGATE @extschema@.logistic_step(bytea, float8[], text[], VARIADIC "any") (
    SFUNC = @extschema@.logistic_step_sfunc,
    STYPE = bytea,
    SSPACE = 8192,
    FINALFUNC = @extschema@.logistic_step_finalfunc,
    COMBINEFUNC = @extschema@.logistic_step_combinefunc,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.logistic_step(bytea, float8[], text[], "any") IS
    'Log-likelihood, gradient and Hessian of logistic regression at given coefficients over the training rows (spec, {class weights, slot means, slot sds, coefficients}, column names, columns)';

DROP AGGREGATE @extschema@.auc(float8, boolean);
DROP FUNCTION @extschema@.auc_trans(internal, float8, boolean);
DROP FUNCTION @extschema@.auc_combine(internal, internal);
DROP FUNCTION @extschema@.auc_serialize(internal);
DROP FUNCTION @extschema@.auc_deserialize(bytea, internal);
DROP FUNCTION @extschema@.auc_final(internal);
CREATE FUNCTION @extschema@.auc_sfunc(state bytea, score float8, label boolean)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.auc_sfunc(bytea, float8, boolean) IS
    'Transition of auc: keeps the (score, label) pair';
CREATE FUNCTION @extschema@.auc_combinefunc(a bytea, b bytea)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.auc_combinefunc(bytea, bytea) IS
    'Combine of auc: the pairs of both states';
CREATE FUNCTION @extschema@.auc_finalfunc(state bytea)
RETURNS float8 AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.auc_finalfunc(bytea) IS
    'Final function of auc: the area under the ROC curve of the pairs';
CREATE AGGREGATE @extschema@.auc(score float8, label boolean) (
    SFUNC = @extschema@.auc_sfunc,
    STYPE = bytea,
    SSPACE = 1048576,
    FINALFUNC = @extschema@.auc_finalfunc,
    COMBINEFUNC = @extschema@.auc_combinefunc,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.auc(float8, boolean) IS
    'Exact area under the ROC curve (Mann-Whitney, ties at their average rank); NULL without both classes';

-- rfm groups by customer over millions of customers: its state is a small flat bytea appended
-- to in place, not an expanded object
DROP AGGREGATE @extschema@.rfm(date, float8, date, float8);
DROP AGGREGATE @extschema@.rfm(date, float8, date);
DROP AGGREGATE @extschema@.rfm(timestamptz, float8, date, float8);
DROP AGGREGATE @extschema@.rfm(timestamptz, float8, date);
DROP FUNCTION @extschema@.rfm_trans(internal, date, float8, date, float8);
DROP FUNCTION @extschema@.rfm_trans(internal, date, float8, date);
DROP FUNCTION @extschema@.rfm_trans_tz(internal, timestamptz, float8, date, float8);
DROP FUNCTION @extschema@.rfm_trans_tz(internal, timestamptz, float8, date);
DROP FUNCTION @extschema@.rfm_combine(internal, internal);
DROP FUNCTION @extschema@.rfm_serialize(internal);
DROP FUNCTION @extschema@.rfm_deserialize(bytea, internal);
DROP FUNCTION @extschema@.rfm_final(internal);
CREATE FUNCTION @extschema@.rfm_sfunc(state bytea, day date, amount float8, as_of date, unit_days float8)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.rfm_sfunc(bytea, date, float8, date, float8) IS
    'Transition of rfm: adds a purchase on or before as_of';
CREATE FUNCTION @extschema@.rfm_sfunc(state bytea, day date, amount float8, as_of date)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.rfm_sfunc(bytea, date, float8, date) IS
    'Transition of rfm in weeks: adds a purchase on or before as_of';
CREATE FUNCTION @extschema@.rfm_sfunc_tz(state bytea, ts timestamptz, amount float8, as_of date,
                                         unit_days float8)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.rfm_sfunc_tz(bytea, timestamptz, float8, date, float8) IS
    'Transition of rfm over timestamps: adds a purchase on its day in the session time zone';
CREATE FUNCTION @extschema@.rfm_sfunc_tz(state bytea, ts timestamptz, amount float8, as_of date)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.rfm_sfunc_tz(bytea, timestamptz, float8, date) IS
    'Transition of rfm over timestamps, in weeks';
CREATE FUNCTION @extschema@.rfm_combinefunc(a bytea, b bytea)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.rfm_combinefunc(bytea, bytea) IS
    'Combine of rfm: the purchases of both states';
CREATE FUNCTION @extschema@.rfm_finalfunc(state bytea)
RETURNS @extschema@.rfm_summary AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.rfm_finalfunc(bytea) IS
    'Final function of rfm: the summary (frequency, recency, t, monetary)';
CREATE AGGREGATE @extschema@.rfm(day date, amount float8, as_of date, unit_days float8) (
    SFUNC = @extschema@.rfm_sfunc, STYPE = bytea, SSPACE = 64,
    FINALFUNC = @extschema@.rfm_finalfunc, COMBINEFUNC = @extschema@.rfm_combinefunc,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.rfm(date, float8, date, float8) IS
    'RFM summary of one customer''s purchases up to as_of: frequency, recency, t (in units of unit_days), monetary';
CREATE AGGREGATE @extschema@.rfm(day date, amount float8, as_of date) (
    SFUNC = @extschema@.rfm_sfunc, STYPE = bytea, SSPACE = 64,
    FINALFUNC = @extschema@.rfm_finalfunc, COMBINEFUNC = @extschema@.rfm_combinefunc,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.rfm(date, float8, date) IS
    'RFM summary of one customer''s purchases up to as_of, in weeks';
CREATE AGGREGATE @extschema@.rfm(ts timestamptz, amount float8, as_of date, unit_days float8) (
    SFUNC = @extschema@.rfm_sfunc_tz, STYPE = bytea, SSPACE = 64,
    FINALFUNC = @extschema@.rfm_finalfunc, COMBINEFUNC = @extschema@.rfm_combinefunc,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.rfm(timestamptz, float8, date, float8) IS
    'RFM summary of one customer''s purchases up to as_of, each timestamp taken as its day in the session time zone';
CREATE AGGREGATE @extschema@.rfm(ts timestamptz, amount float8, as_of date) (
    SFUNC = @extschema@.rfm_sfunc_tz, STYPE = bytea, SSPACE = 64,
    FINALFUNC = @extschema@.rfm_finalfunc, COMBINEFUNC = @extschema@.rfm_combinefunc,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.rfm(timestamptz, float8, date) IS
    'RFM summary of one customer''s purchases up to as_of, in weeks, each timestamp taken as its day in the session time zone';

-- (and the keyed form issue 15 added, recreated below over bytea)
DROP AGGREGATE @extschema@.clv_data(integer, float8, float8, float8, float8, text);
DROP FUNCTION @extschema@.clv_data_trans(internal, integer, float8, float8, float8, float8, text);
DROP AGGREGATE @extschema@.clv_data(integer, float8, float8, float8, float8);
DROP FUNCTION @extschema@.clv_data_trans(internal, integer, float8, float8, float8, float8);
DROP FUNCTION @extschema@.clv_data_combine(internal, internal);
DROP FUNCTION @extschema@.clv_data_serialize(internal);
DROP FUNCTION @extschema@.clv_data_deserialize(bytea, internal);
DROP FUNCTION @extschema@.clv_data_final(internal);
CREATE FUNCTION @extschema@.clv_data_sfunc(state bytea, flags integer, frequency float8, recency float8,
                                           t float8, monetary float8)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.clv_data_sfunc(bytea, integer, float8, float8, float8, float8) IS
    'Transition of clv_data: counts a customer into its history (and spend)';
CREATE FUNCTION @extschema@.clv_data_combinefunc(a bytea, b bytea)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.clv_data_combinefunc(bytea, bytea) IS
    'Combine of clv_data: the histories and spends of both states';
CREATE FUNCTION @extschema@.clv_data_finalfunc(state bytea)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.clv_data_finalfunc(bytea) IS
    'Final function of clv_data: the state''s bytes';
CREATE AGGREGATE @extschema@.clv_data(flags integer, frequency float8, recency float8, t float8,
                                      monetary float8) (
    SFUNC = @extschema@.clv_data_sfunc,
    STYPE = bytea,
    SSPACE = 65536,
    FINALFUNC = @extschema@.clv_data_finalfunc,
    COMBINEFUNC = @extschema@.clv_data_combinefunc,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.clv_data(integer, float8, float8, float8, float8) IS
    'Customer summaries compressed into distinct histories with weights (flags 1: purchase, 2: spend, 3: both), as train() reads them';
CREATE FUNCTION @extschema@.clv_data_key_sfunc(state bytea, flags integer, frequency float8,
                                               recency float8, t float8, monetary float8, key text)
RETURNS bytea AS 'MODULE_PATHNAME', 'clv_data_sfunc' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.clv_data_key_sfunc(bytea, integer, float8, float8, float8, float8, text) IS
    'Transition of clv_data with each customer''s key, which names a row no model can read';
CREATE AGGREGATE @extschema@.clv_data(flags integer, frequency float8, recency float8, t float8,
                                      monetary float8, key text) (
    SFUNC = @extschema@.clv_data_key_sfunc,
    STYPE = bytea,
    SSPACE = 65536,
    FINALFUNC = @extschema@.clv_data_finalfunc,
    COMBINEFUNC = @extschema@.clv_data_combinefunc,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.clv_data(integer, float8, float8, float8, float8, text) IS
    'clv_data with each customer''s key, which names a row no model can read (flag 4: skipped and counted)';

-- The forms Citus pushes down: Citus' worker_partial_agg checks an aggregate's declared
-- argument types against its arguments, which a VARIADIC "any" aggregate never matches, so
-- train() passes a Citus table's rows as ROW(col1, ...) with their names beside them
CREATE FUNCTION @extschema@.linear_stats_row_sfunc(state bytea, spec bytea, names text[], "row" record)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.linear_stats_row_sfunc(bytea, bytea, text[], record) IS
    'Transition of linear_stats(bytea, text[], record): adds a row given as ROW(...) with its column names';
CREATE AGGREGATE @extschema@.linear_stats(spec bytea, names text[], "row" record) (
    SFUNC = @extschema@.linear_stats_row_sfunc,
    STYPE = bytea,
    SSPACE = 65536,
    FINALFUNC = @extschema@.linear_stats_finalfunc,
    COMBINEFUNC = @extschema@.linear_stats_combinefunc,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.linear_stats(bytea, text[], record) IS
    'linear_stats over rows given as ROW(col1, ...) with their column names: the form Citus pushes down to its workers';
CREATE FUNCTION @extschema@.logistic_step_row_sfunc(state bytea, spec bytea, params float8[], names text[],
                                                    "row" record)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.logistic_step_row_sfunc(bytea, bytea, float8[], text[], record) IS
    'Transition of logistic_step(bytea, float8[], text[], record): adds a row given as ROW(...) with its column names';
CREATE AGGREGATE @extschema@.logistic_step(spec bytea, params float8[], names text[], "row" record) (
    SFUNC = @extschema@.logistic_step_row_sfunc,
    STYPE = bytea,
    SSPACE = 8192,
    FINALFUNC = @extschema@.logistic_step_finalfunc,
    COMBINEFUNC = @extschema@.logistic_step_combinefunc,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.logistic_step(bytea, float8[], text[], record) IS
    'logistic_step over rows given as ROW(col1, ...) with their column names: the form Citus pushes down to its workers';

-- Scoring Citus tables: the pinned forms.  With profenrich in shared_preload_libraries after
-- citus, the planner turns a scoring call by model name in a query over a Citus table into its
-- form over the model's params (a bytea constant, the version deployed when the query was
-- planned), which the workers read without a registry.  IMMUTABLE: they read nothing but their
-- arguments (so Citus also allows them in an UPDATE of a distributed table).
CREATE FUNCTION @extschema@.score_columns_for(model bytea, version integer, kind integer,
                                              names text[], VARIADIC "any")
RETURNS float8 AS 'MODULE_PATHNAME', 'score_columns_for' LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.score_columns_for(bytea, integer, integer, text[], "any") IS
    'Prediction of the model given by its params for a row given as one argument per named column: what the planner turns score() into over a Citus table';
CREATE FUNCTION @extschema@.class_columns_for(model bytea, version integer, kind integer,
                                              names text[], VARIADIC "any")
RETURNS text AS 'MODULE_PATHNAME', 'class_columns_for' LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.class_columns_for(bytea, integer, integer, text[], "any") IS
    'Predicted class of the model given by its params, for a row given as one argument per named column';
CREATE FUNCTION @extschema@.proba_columns_for(model bytea, version integer, kind integer,
                                              names text[], VARIADIC "any")
RETURNS float8[] AS 'MODULE_PATHNAME', 'proba_columns_for' LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.proba_columns_for(bytea, integer, integer, text[], "any") IS
    'Class probabilities of the model given by its params, for a row given as one argument per named column';
CREATE FUNCTION @extschema@.class_proba_columns_for(model bytea, version integer, class text,
                                                    names text[], VARIADIC "any")
RETURNS float8 AS 'MODULE_PATHNAME', 'class_proba_columns_for' LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.class_proba_columns_for(bytea, integer, text, text[], "any") IS
    'Probability of one class under the model given by its params, for a row given as one argument per named column';
CREATE FUNCTION @extschema@.probs_columns_for(model bytea, version integer, kind integer,
                                              names text[], VARIADIC "any")
RETURNS jsonb AS 'MODULE_PATHNAME', 'probs_columns_for' LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.probs_columns_for(bytea, integer, integer, text[], "any") IS
    'Class probabilities of the model given by its params as a jsonb object, for a row given as one argument per named column';
CREATE FUNCTION @extschema@.score_row_for(model bytea, kind integer, "row" record)
RETURNS float8 AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.score_row_for(bytea, integer, record) IS
    'Prediction of the model given by its params for a composite row: the pinned form of score() when the row is not a table''s';
CREATE FUNCTION @extschema@.class_row_for(model bytea, kind integer, "row" record)
RETURNS text AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.class_row_for(bytea, integer, record) IS
    'Predicted class of the model given by its params for a composite row';
CREATE FUNCTION @extschema@.proba_row_for(model bytea, kind integer, "row" record)
RETURNS float8[] AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.proba_row_for(bytea, integer, record) IS
    'Class probabilities of the model given by its params for a composite row';
CREATE FUNCTION @extschema@.class_proba_row_for(model bytea, class text, "row" record)
RETURNS float8 AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.class_proba_row_for(bytea, text, record) IS
    'Probability of one class under the model given by its params for a composite row';
CREATE FUNCTION @extschema@.percentile(model bytea, score float8, version integer)
RETURNS smallint AS 'MODULE_PATHNAME', 'percentile' LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.percentile(bytea, float8, integer) IS
    'Percentile (1-100) of a score in the training population of the model given by its params';
CREATE FUNCTION @extschema@.factors(model bytea, "row" record, k integer, version integer)
RETURNS text[] AS 'MODULE_PATHNAME', 'factors' LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.factors(bytea, record, integer, integer) IS
    'The k features contributing most to a row''s logit under the logistic model given by its params';
CREATE FUNCTION @extschema@.factors_detail(model bytea, "row" record, k integer, version integer)
RETURNS jsonb AS 'MODULE_PATHNAME', 'factors_detail' LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.factors_detail(bytea, record, integer, integer) IS
    'The k features contributing most to a row''s score, with their values, under the model given by its params';
CREATE FUNCTION @extschema@.expected_purchases(model bytea, periods float8, frequency float8,
                                               recency float8, t float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'expected_purchases' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.expected_purchases(bytea, float8, float8, float8, float8) IS
    'Expected transactions in the next periods under the purchase model given by its params';
CREATE FUNCTION @extschema@.p_alive(model bytea, frequency float8, recency float8, t float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'p_alive' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.p_alive(bytea, float8, float8, float8) IS
    'Probability that a customer is still active under the purchase model given by its params';
CREATE FUNCTION @extschema@.expected_spend(model bytea, frequency float8, monetary float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'expected_spend' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.expected_spend(bytea, float8, float8) IS
    'Gamma-Gamma conditional mean spend per transaction under the spend model given by its params';
-- the segment models' pinned forms
CREATE FUNCTION @extschema@.segment_columns_for(model bytea, version integer, kind integer,
                                                names text[], VARIADIC "any")
RETURNS integer AS 'MODULE_PATHNAME', 'segment_columns_for' LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.segment_columns_for(bytea, integer, integer, text[], "any") IS
    'Segment of a row under the segment model given by its params, the row given as one argument per named column';
CREATE FUNCTION @extschema@.segment_distance_columns_for(model bytea, version integer, kind integer,
                                                         names text[], VARIADIC "any")
RETURNS float8 AS 'MODULE_PATHNAME', 'segment_distance_columns_for' LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.segment_distance_columns_for(bytea, integer, integer, text[], "any") IS
    'Distance of a row to its segment''s center under the segment model given by its params, the row given as one argument per named column';
CREATE FUNCTION @extschema@.segment_row_for(model bytea, kind integer, "row" record)
RETURNS integer AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.segment_row_for(bytea, integer, record) IS
    'Segment of a composite row under the segment model given by its params';
CREATE FUNCTION @extschema@.segment_distance_row_for(model bytea, kind integer, "row" record)
RETURNS float8 AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.segment_distance_row_for(bytea, integer, record) IS
    'Distance of a composite row to its segment''s center under the segment model given by its params';

-- The Citus workers' copies of the deployed models, which enrich_trigger reads on the worker of
-- a row's shard: just before each commit that changed the registry, the names it changed are
-- copied to every worker (nothing happens without Citus, or on a worker)
CREATE FUNCTION @extschema@.registry_sync_workers()
RETURNS trigger AS 'MODULE_PATHNAME' LANGUAGE C;
COMMENT ON FUNCTION @extschema@.registry_sync_workers() IS
    'Row trigger of profenrich.models: notes the names a transaction changes, whose deployed versions are copied to every Citus worker just before it commits';
CREATE TRIGGER models_sync_workers AFTER INSERT OR UPDATE OR DELETE ON @extschema@.models
FOR EACH ROW EXECUTE FUNCTION @extschema@.registry_sync_workers();
CREATE FUNCTION @extschema@.worker_sync(names text[], "rows" jsonb)
RETURNS void AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT;
COMMENT ON FUNCTION @extschema@.worker_sync(text[], jsonb) IS
    'On a Citus worker: replaces the copies of the named models (NULL: all) by the deployed rows given; sent by the coordinator as the registry''s owner';
CREATE FUNCTION @extschema@.sync_workers()
RETURNS integer AS 'MODULE_PATHNAME' LANGUAGE C;
COMMENT ON FUNCTION @extschema@.sync_workers() IS
    'On a Citus coordinator: copies every deployed model to every worker again (after adding a node); returns how many';

-- A model per group (the option group_by): one pass of linear_stats_grouped gives every group's
-- statistics and the global model's, in one state (an aggregate without GROUP BY: Citus pushes
-- it down whatever the distribution column)
CREATE FUNCTION @extschema@.linear_stats_grouped_sfunc(state bytea, spec bytea, group_by text,
                                                       max_groups integer, names text[], VARIADIC "any")
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.linear_stats_grouped_sfunc(bytea, bytea, text, integer, text[], "any") IS
    'Transition of linear_stats_grouped: adds a row to the global statistics and to its group''s';
CREATE FUNCTION @extschema@.linear_stats_grouped_row_sfunc(state bytea, spec bytea, group_by text,
                                                           max_groups integer, names text[], "row" record)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.linear_stats_grouped_row_sfunc(bytea, bytea, text, integer, text[], record) IS
    'Transition of linear_stats_grouped over rows given as ROW(...) with their column names';
CREATE FUNCTION @extschema@.linear_stats_grouped_combinefunc(a bytea, b bytea)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.linear_stats_grouped_combinefunc(bytea, bytea) IS
    'Combine of linear_stats_grouped: the global statistics and each group''s of both states';
CREATE FUNCTION @extschema@.linear_stats_grouped_finalfunc(state bytea)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.linear_stats_grouped_finalfunc(bytea) IS
    'Final function of linear_stats_grouped: the state''s bytes';
CREATE AGGREGATE @extschema@.linear_stats_grouped(spec bytea, group_by text, max_groups integer,
                                                  names text[], VARIADIC "any") (
    SFUNC = @extschema@.linear_stats_grouped_sfunc,
    STYPE = bytea,
    SSPACE = 1048576,
    FINALFUNC = @extschema@.linear_stats_grouped_finalfunc,
    COMBINEFUNC = @extschema@.linear_stats_grouped_combinefunc,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.linear_stats_grouped(bytea, text, integer, text[], "any") IS
    'One pass of the training statistics of a model per value of the group_by column (and of the global model), rows given as one argument per named column';
CREATE AGGREGATE @extschema@.linear_stats_grouped(spec bytea, group_by text, max_groups integer,
                                                  names text[], "row" record) (
    SFUNC = @extschema@.linear_stats_grouped_row_sfunc,
    STYPE = bytea,
    SSPACE = 1048576,
    FINALFUNC = @extschema@.linear_stats_grouped_finalfunc,
    COMBINEFUNC = @extschema@.linear_stats_grouped_combinefunc,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.linear_stats_grouped(bytea, text, integer, text[], record) IS
    'linear_stats_grouped over rows given as ROW(col1, ...) with their column names: the form Citus pushes down';

-- coefficients(): a group column for models per group (NULL for the global model's rows)
DROP FUNCTION @extschema@.coefficients(text, integer);
CREATE FUNCTION @extschema@.coefficients(name text, version integer DEFAULT NULL)
RETURNS TABLE (feature text, coef float8, std_err float8, stat float8, p_value float8,
               odds_ratio float8, class text, "group" text)
AS 'MODULE_PATHNAME' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.coefficients(text, integer) IS
    'Coefficients of a model version (the deployed one when NULL) on the original scale, with inference (t or z), odds ratios, the class of class models, and the group of models per group (NULL: the global model)';
-- the streaming path of logistic regression per group: one pass per iteration for every model
-- still iterating (the global one is the NULL group)
CREATE FUNCTION @extschema@.logistic_step_grouped_sfunc(state bytea, spec bytea, params float8[],
                                                        group_by text, groups text[], names text[],
                                                        VARIADIC "any")
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.logistic_step_grouped_sfunc(bytea, bytea, float8[], text, text[], text[], "any") IS
    'Transition of logistic_step_grouped: adds a training row''s terms to its group''s sums and the global model''s';
CREATE FUNCTION @extschema@.logistic_step_grouped_row_sfunc(state bytea, spec bytea, params float8[],
                                                            group_by text, groups text[], names text[],
                                                            "row" record)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.logistic_step_grouped_row_sfunc(bytea, bytea, float8[], text, text[], text[], record) IS
    'Transition of logistic_step_grouped over rows given as ROW(...) with their column names';
CREATE FUNCTION @extschema@.logistic_step_grouped_combinefunc(a bytea, b bytea)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.logistic_step_grouped_combinefunc(bytea, bytea) IS
    'Combine of logistic_step_grouped: the sums of each model of both states';
CREATE FUNCTION @extschema@.logistic_step_grouped_finalfunc(state bytea)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.logistic_step_grouped_finalfunc(bytea) IS
    'Final function of logistic_step_grouped: the sums'' bytes';
CREATE AGGREGATE @extschema@.logistic_step_grouped(spec bytea, params float8[], group_by text,
                                                   groups text[], names text[], VARIADIC "any") (
    SFUNC = @extschema@.logistic_step_grouped_sfunc,
    STYPE = bytea,
    SSPACE = 65536,
    FINALFUNC = @extschema@.logistic_step_grouped_finalfunc,
    COMBINEFUNC = @extschema@.logistic_step_grouped_combinefunc,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.logistic_step_grouped(bytea, float8[], text, text[], text[], "any") IS
    'Log-likelihood, gradient and Hessian of several logistic models at once, each over its group''s training rows (a NULL group: every row), rows given as one argument per named column';
CREATE AGGREGATE @extschema@.logistic_step_grouped(spec bytea, params float8[], group_by text,
                                                   groups text[], names text[], "row" record) (
    SFUNC = @extschema@.logistic_step_grouped_row_sfunc,
    STYPE = bytea,
    SSPACE = 65536,
    FINALFUNC = @extschema@.logistic_step_grouped_finalfunc,
    COMBINEFUNC = @extschema@.logistic_step_grouped_combinefunc,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.logistic_step_grouped(bytea, float8[], text, text[], text[], record) IS
    'logistic_step_grouped over rows given as ROW(col1, ...) with their column names: the form Citus pushes down';
