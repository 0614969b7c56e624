-- profenrich 0.4.0 -> 0.5.0
\echo Use "ALTER EXTENSION profenrich UPDATE TO '0.5.0'" to load this file. \quit

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
