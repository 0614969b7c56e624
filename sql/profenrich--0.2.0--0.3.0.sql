-- profenrich 0.2.0 -> 0.3.0: enrichment in place (enrich, enrich_trigger, enrich_runs), insight
-- wrappers (score_churn, score_conversion, predict_ltv), version-pinned scoring, percentiles of
-- the training population, influential factors.
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
