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
CREATE FUNCTION @extschema@.multinomial_step_trans(internal, bytea, float8[], text[], text[], VARIADIC "any")
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION @extschema@.multinomial_step_combine(internal, internal)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION @extschema@.multinomial_step_serialize(internal)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.multinomial_step_deserialize(bytea, internal)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.multinomial_step_final(internal)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
CREATE AGGREGATE @extschema@.multinomial_step(bytea, float8[], text[], text[], VARIADIC "any") (
    SFUNC = @extschema@.multinomial_step_trans,
    STYPE = internal,
    SSPACE = 65536,
    FINALFUNC = @extschema@.multinomial_step_final,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = @extschema@.multinomial_step_combine,
    SERIALFUNC = @extschema@.multinomial_step_serialize,
    DESERIALFUNC = @extschema@.multinomial_step_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.multinomial_step(bytea, float8[], text[], text[], "any") IS
    'Class counts and Gram matrix, or log-likelihood, gradient and Hessian of multinomial logistic regression at given coefficients, over the training rows (spec, {mode, class weights, slot means, slot sds, coefficients}, class labels, column names, columns)';

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
CREATE FUNCTION @extschema@.kmeans_step_trans(internal, bytea, float8[], text[], VARIADIC "any")
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION @extschema@.kmeans_step_combine(internal, internal)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION @extschema@.kmeans_step_serialize(internal)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.kmeans_step_deserialize(bytea, internal)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.kmeans_step_final(internal)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
CREATE AGGREGATE @extschema@.kmeans_step(bytea, float8[], text[], VARIADIC "any") (
    SFUNC = @extschema@.kmeans_step_trans,
    STYPE = internal,
    SSPACE = 524288,            -- a batch of up to 1,024 rows and its products with the centers
    FINALFUNC = @extschema@.kmeans_step_final,
    COMBINEFUNC = @extschema@.kmeans_step_combine,
    SERIALFUNC = @extschema@.kmeans_step_serialize,
    DESERIALFUNC = @extschema@.kmeans_step_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.kmeans_step(bytea, float8[], text[], "any") IS
    'One pass of Lloyd''s k-means for several runs: per-cluster sums, counts, inertia and farthest points of the rows assigned to their nearest centers (spec, {runs, slots, k of each run, slot means, slot scales, centers}, column names, columns)';

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
