-- profenrich 0.1.0 -> 0.2.0: logistic regression (propensity models), classification metrics,
-- evaluate, lift and explain; coefficients() gains odds_ratio.
\echo Use "ALTER EXTENSION profenrich UPDATE TO '0.2.0'" to load this file. \quit

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
