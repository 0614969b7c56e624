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
