-- profenrich 0.1.0: registry, feature encoding, linear regression, score
-- CREATE EXTENSION at a later version runs this script, then the update scripts in order:
-- there is one install script, so a fresh install and an upgraded one are the same.
\echo Use "CREATE EXTENSION profenrich" to load this file. \quit

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
