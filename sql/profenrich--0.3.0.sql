-- profenrich 0.3.0: registry, feature encoding, linear and logistic regression, score, metrics, explanations, enrichment
\echo Use "CREATE EXTENSION profenrich" to load this file. \quit
-- Built as the 0.2.0 script followed by the 0.2.0 -> 0.3.0 upgrade script.

-- Registry ------------------------------------------------------------------

CREATE TABLE @extschema@.models (
    model_id    bigserial PRIMARY KEY,
    name        text NOT NULL CHECK (name <> ''),
    version     integer NOT NULL CHECK (version > 0),
    algorithm   text NOT NULL,
    source      text NOT NULL,
    target      text,
    features    jsonb NOT NULL,
    options     jsonb NOT NULL DEFAULT '{}',
    metrics     jsonb NOT NULL DEFAULT '{}',
    n_train     bigint NOT NULL,
    n_test      bigint NOT NULL,
    trained_at  timestamptz NOT NULL DEFAULT now(),
    trained_by  name NOT NULL DEFAULT current_user,
    deployed    boolean NOT NULL DEFAULT false,
    params      bytea NOT NULL,
    UNIQUE (name, version)
);
CREATE UNIQUE INDEX models_one_deployed ON @extschema@.models (name) WHERE deployed;
COMMENT ON TABLE @extschema@.models IS
    'Every trained version of every named model; at most one deployed version per name';
COMMENT ON COLUMN @extschema@.models.params IS
    'Model parameters and feature spec in profenrich''s versioned binary format';

CREATE TABLE @extschema@.deployments (
    deploy_id   bigserial PRIMARY KEY,
    name        text NOT NULL,
    version     integer NOT NULL,
    deployed_at timestamptz NOT NULL DEFAULT now(),
    deployed_by name NOT NULL DEFAULT current_user
);
CREATE INDEX deployments_name ON @extschema@.deployments (name, deploy_id);
COMMENT ON TABLE @extschema@.deployments IS
    'Deployment log: deploy() pushes, rollback() pops';

SELECT pg_catalog.pg_extension_config_dump('@extschema@.models', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.models_model_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.deployments', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.deployments_deploy_id_seq', '');

GRANT USAGE ON SCHEMA @extschema@ TO PUBLIC;
GRANT SELECT ON @extschema@.models, @extschema@.deployments TO PUBLIC;

-- Training ------------------------------------------------------------------

CREATE TYPE @extschema@.trained_model AS (
    name        text,
    version     integer,
    algorithm   text,
    n_train     bigint,
    n_test      bigint,
    metrics     jsonb,
    deployed    boolean
);

CREATE FUNCTION @extschema@.linear_stats_trans(internal, record, bytea)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION @extschema@.linear_stats_args_trans(internal, bytea, text[], VARIADIC "any")
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION @extschema@.linear_stats_combine(internal, internal)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION @extschema@.linear_stats_serialize(internal)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.linear_stats_deserialize(bytea, internal)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.linear_stats_final(internal)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;

CREATE AGGREGATE @extschema@.linear_stats(record, bytea) (
    SFUNC = @extschema@.linear_stats_trans,
    STYPE = internal,
    SSPACE = 65536,
    FINALFUNC = @extschema@.linear_stats_final,
    COMBINEFUNC = @extschema@.linear_stats_combine,
    SERIALFUNC = @extschema@.linear_stats_serialize,
    DESERIALFUNC = @extschema@.linear_stats_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.linear_stats(record, bytea) IS
    'One pass of linear-model training statistics (co-moments and a row sample per split) for rows read through a feature spec';

CREATE AGGREGATE @extschema@.linear_stats(bytea, text[], VARIADIC "any") (
    SFUNC = @extschema@.linear_stats_args_trans,
    STYPE = internal,
    SSPACE = 65536,
    FINALFUNC = @extschema@.linear_stats_final,
    COMBINEFUNC = @extschema@.linear_stats_combine,
    SERIALFUNC = @extschema@.linear_stats_serialize,
    DESERIALFUNC = @extschema@.linear_stats_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.linear_stats(bytea, text[], VARIADIC "any") IS
    'linear_stats over rows given as one argument per column, named by the text[] argument';

CREATE FUNCTION @extschema@.train(
    name text,
    algorithm text,
    source regclass,
    target text DEFAULT NULL,
    features text[] DEFAULT NULL,
    options jsonb DEFAULT '{}')
RETURNS @extschema@.trained_model
AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE CALLED ON NULL INPUT;
COMMENT ON FUNCTION @extschema@.train(text, text, regclass, text, text[], jsonb) IS
    'Train a new version of a named model on a relation, store it and (unless "deploy": false) deploy it';

-- Registry functions --------------------------------------------------------

CREATE FUNCTION @extschema@.deploy(name text, version integer DEFAULT NULL)
RETURNS integer AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE CALLED ON NULL INPUT;
COMMENT ON FUNCTION @extschema@.deploy(text, integer) IS
    'Deploy a version of a model (the latest when NULL); returns the version deployed';

CREATE FUNCTION @extschema@.rollback(name text)
RETURNS integer AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE CALLED ON NULL INPUT;
COMMENT ON FUNCTION @extschema@.rollback(text) IS
    'Deploy again the version deployed before the current one; returns it';

CREATE FUNCTION @extschema@.drop_model(name text, version integer DEFAULT NULL)
RETURNS integer AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE CALLED ON NULL INPUT;
COMMENT ON FUNCTION @extschema@.drop_model(text, integer) IS
    'Drop one version of a model, or all of them when version is NULL; returns how many';

CREATE FUNCTION @extschema@.coefficients(name text, version integer DEFAULT NULL)
RETURNS TABLE (feature text, coef float8, std_err float8, stat float8, p_value float8)
AS 'MODULE_PATHNAME' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.coefficients(text, integer) IS
    'Coefficients of a model version (the deployed one when NULL) on the original scale, with inference';

CREATE FUNCTION @extschema@.model_spec(name text, version integer DEFAULT NULL)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.model_spec(text, integer) IS
    'The binary feature spec of a model version, as profenrich.linear_stats takes it';

-- Scoring -------------------------------------------------------------------

CREATE FUNCTION @extschema@.score_columns(name text, names text[], VARIADIC "any")
RETURNS float8 AS 'MODULE_PATHNAME' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.score_columns(text, text[], "any") IS
    'Prediction of the deployed version of a model for a row given as one argument per named column';

CREATE FUNCTION @extschema@.score_support(internal)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C STRICT;
COMMENT ON FUNCTION @extschema@.score_support(internal) IS
    'Planner support for score(): passes a table row as its columns instead of a composite value';

CREATE FUNCTION @extschema@.score(name text, "row" record)
RETURNS float8 AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE
SUPPORT @extschema@.score_support;
COMMENT ON FUNCTION @extschema@.score(text, record) IS
    'Prediction of the deployed version of a model for a row, read by column name';

-- 0.1.0 -> 0.2.0 -----------------------------------------------------------

-- coefficients(): an odds_ratio column (exp(coef) for logistic models)
DROP FUNCTION @extschema@.coefficients(text, integer);
CREATE FUNCTION @extschema@.coefficients(name text, version integer DEFAULT NULL)
RETURNS TABLE (feature text, coef float8, std_err float8, stat float8, p_value float8,
               odds_ratio float8)
AS 'MODULE_PATHNAME' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.coefficients(text, integer) IS
    'Coefficients of a model version (the deployed one when NULL) on the original scale, with inference (t or z) and odds ratios';

COMMENT ON FUNCTION @extschema@.train(text, text, regclass, text, text[], jsonb) IS
    'Train a new version of a named model (linear or logistic) on a relation, store it and (unless "deploy": false) deploy it';

-- One Newton/IRLS pass of logistic regression (the streaming path of train)
CREATE FUNCTION @extschema@.logistic_step_trans(internal, bytea, float8[], text[], VARIADIC "any")
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION @extschema@.logistic_step_combine(internal, internal)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION @extschema@.logistic_step_serialize(internal)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.logistic_step_deserialize(bytea, internal)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.logistic_step_final(internal)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
CREATE AGGREGATE @extschema@.logistic_step(bytea, float8[], text[], VARIADIC "any") (
    SFUNC = @extschema@.logistic_step_trans,
    STYPE = internal,
    SSPACE = 8192,
    FINALFUNC = @extschema@.logistic_step_final,
    COMBINEFUNC = @extschema@.logistic_step_combine,
    SERIALFUNC = @extschema@.logistic_step_serialize,
    DESERIALFUNC = @extschema@.logistic_step_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.logistic_step(bytea, float8[], text[], "any") IS
    'Log-likelihood, gradient and Hessian of logistic regression at given coefficients over the training rows (spec, {class weights, slot means, slot sds, coefficients}, column names, columns)';

-- Classification metrics as aggregates
CREATE FUNCTION @extschema@.auc_trans(internal, float8, boolean)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION @extschema@.auc_combine(internal, internal)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION @extschema@.auc_serialize(internal)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.auc_deserialize(bytea, internal)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.auc_final(internal)
RETURNS float8 AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
CREATE AGGREGATE @extschema@.auc(score float8, label boolean) (
    SFUNC = @extschema@.auc_trans,
    STYPE = internal,
    SSPACE = 1048576,
    FINALFUNC = @extschema@.auc_final,
    COMBINEFUNC = @extschema@.auc_combine,
    SERIALFUNC = @extschema@.auc_serialize,
    DESERIALFUNC = @extschema@.auc_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.auc(float8, boolean) IS
    'Exact area under the ROC curve (Mann-Whitney, ties at their average rank); NULL without both classes';

CREATE FUNCTION @extschema@.logloss_trans(float8[], float8, boolean)
RETURNS float8[] AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.brier_trans(float8[], float8, boolean)
RETURNS float8[] AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.mean_pair_combine(float8[], float8[])
RETURNS float8[] AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.mean_pair_final(float8[])
RETURNS float8 AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE AGGREGATE @extschema@.logloss(score float8, label boolean) (
    SFUNC = @extschema@.logloss_trans,
    STYPE = float8[],
    INITCOND = '{0,0}',
    FINALFUNC = @extschema@.mean_pair_final,
    COMBINEFUNC = @extschema@.mean_pair_combine,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.logloss(float8, boolean) IS
    'Mean log loss of probabilities against labels (natural log; probabilities clipped to [eps, 1 - eps])';
CREATE AGGREGATE @extschema@.brier(score float8, label boolean) (
    SFUNC = @extschema@.brier_trans,
    STYPE = float8[],
    INITCOND = '{0,0}',
    FINALFUNC = @extschema@.mean_pair_final,
    COMBINEFUNC = @extschema@.mean_pair_combine,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.brier(float8, boolean) IS
    'Brier score: mean squared difference between probabilities and labels';

-- Evaluation and explanation
CREATE FUNCTION @extschema@.evaluate(name text, source regclass DEFAULT NULL)
RETURNS jsonb AS 'MODULE_PATHNAME' LANGUAGE C STABLE CALLED ON NULL INPUT;
COMMENT ON FUNCTION @extschema@.evaluate(text, regclass) IS
    'Metrics of the deployed model on a relation, or on its own test split when source is NULL';

CREATE FUNCTION @extschema@.lift(name text, source regclass, buckets integer DEFAULT 10)
RETURNS TABLE (bucket integer, n bigint, positives bigint, rate float8, lift float8,
               cumulative_gain float8)
AS 'MODULE_PATHNAME' LANGUAGE C STABLE CALLED ON NULL INPUT;
COMMENT ON FUNCTION @extschema@.lift(text, regclass, integer) IS
    'Gains table of a logistic model on a relation: buckets by score, highest first';

CREATE FUNCTION @extschema@.explain(name text, "row" record, k integer DEFAULT 3)
RETURNS TABLE (feature text, value text, contribution float8)
AS 'MODULE_PATHNAME' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.explain(text, record, integer) IS
    'Baseline logit and the k features contributing most to a row''s logit under a logistic model';


-- 0.2.0 -> 0.3.0 -----------------------------------------------------------
\echo Use "ALTER EXTENSION profenrich UPDATE TO '0.3.0'" to load this file. \quit

-- Backends cache deployed models; a change to the registry empties every backend's cache
CREATE FUNCTION @extschema@.registry_changed()
RETURNS trigger AS 'MODULE_PATHNAME' LANGUAGE C;
COMMENT ON FUNCTION @extschema@.registry_changed() IS
    'Statement trigger of profenrich.models: invalidates the model caches of all backends';
CREATE TRIGGER models_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.models
FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.registry_changed();

-- Scoring a given version, and the insight wrappers
CREATE FUNCTION @extschema@.score_columns_for(name text, version integer, kind integer,
                                              names text[], VARIADIC "any")
RETURNS float8 AS 'MODULE_PATHNAME' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.score_columns_for(text, integer, integer, text[], "any") IS
    'Prediction of a model version (the deployed one when NULL) for a row given as one argument per named column; kind 1 or 2 requires a propensity or a value model';

CREATE FUNCTION @extschema@.score(name text, version integer, "row" record)
RETURNS float8 AS 'MODULE_PATHNAME', 'score_version' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE
SUPPORT @extschema@.score_support;
COMMENT ON FUNCTION @extschema@.score(text, integer, record) IS
    'Prediction of a given version of a model (the deployed one when NULL) for a row';

CREATE FUNCTION @extschema@.score_churn("row" record, model text DEFAULT 'churn')
RETURNS float8 AS 'MODULE_PATHNAME', 'score_churn' LANGUAGE C STABLE STRICT PARALLEL SAFE
SUPPORT @extschema@.score_support;
COMMENT ON FUNCTION @extschema@.score_churn(record, text) IS
    'Churn propensity of a profile: the probability from the deployed logistic model (default ''churn'')';

CREATE FUNCTION @extschema@.score_conversion("row" record, model text DEFAULT 'conversion')
RETURNS float8 AS 'MODULE_PATHNAME', 'score_conversion' LANGUAGE C STABLE STRICT PARALLEL SAFE
SUPPORT @extschema@.score_support;
COMMENT ON FUNCTION @extschema@.score_conversion(record, text) IS
    'Conversion propensity of a profile: the probability from the deployed logistic model (default ''conversion'')';

CREATE FUNCTION @extschema@.predict_ltv("row" record, model text DEFAULT 'ltv')
RETURNS float8 AS 'MODULE_PATHNAME', 'predict_ltv' LANGUAGE C STABLE STRICT PARALLEL SAFE
SUPPORT @extschema@.score_support;
COMMENT ON FUNCTION @extschema@.predict_ltv(record, text) IS
    'Lifetime value of a profile from the deployed value model (default ''ltv'')';

CREATE FUNCTION @extschema@.percentile(name text, score float8, version integer DEFAULT NULL)
RETURNS smallint AS 'MODULE_PATHNAME' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.percentile(text, float8, integer) IS
    'Percentile (1-100) of a score in the training population of a model version (the deployed one when NULL)';

CREATE FUNCTION @extschema@.factors(name text, "row" record, k integer DEFAULT 3,
                                    version integer DEFAULT NULL)
RETURNS text[] AS 'MODULE_PATHNAME' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.factors(text, record, integer, integer) IS
    'The k features contributing most to a row''s logit under a logistic model';

-- Enrichment
CREATE TABLE @extschema@.enrich_runs (
    run_id       bigserial PRIMARY KEY,
    target       text NOT NULL,
    models       jsonb NOT NULL,
    started      timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished     timestamptz,
    rows_scanned bigint NOT NULL DEFAULT 0,
    rows_updated bigint NOT NULL DEFAULT 0,
    status       text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'finished', 'failed')),
    error        text,
    run_by       name NOT NULL DEFAULT current_user,
    pid          integer NOT NULL DEFAULT pg_backend_pid()
);
COMMENT ON TABLE @extschema@.enrich_runs IS
    'One row per enrich() run: target, models and versions, progress and outcome';
GRANT SELECT, INSERT, UPDATE ON @extschema@.enrich_runs TO PUBLIC;
GRANT USAGE ON SEQUENCE @extschema@.enrich_runs_run_id_seq TO PUBLIC;

CREATE PROCEDURE @extschema@.enrich(target regclass, models text[], options jsonb DEFAULT '{}')
AS 'MODULE_PATHNAME', 'enrich' LANGUAGE C;
COMMENT ON PROCEDURE @extschema@.enrich(regclass, text[], jsonb) IS
    'Write insight columns (score, percentile, factors) of deployed models into a table, in committed batches';

CREATE FUNCTION @extschema@.enrich_trigger()
RETURNS trigger AS 'MODULE_PATHNAME' LANGUAGE C;
COMMENT ON FUNCTION @extschema@.enrich_trigger() IS
    'BEFORE INSERT OR UPDATE row trigger writing a model''s insight columns: enrich_trigger(model [, options])';
