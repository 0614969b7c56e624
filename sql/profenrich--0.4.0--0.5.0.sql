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
