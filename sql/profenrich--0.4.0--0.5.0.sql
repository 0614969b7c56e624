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
