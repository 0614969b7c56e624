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
