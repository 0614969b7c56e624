-- profenrich 0.3.0 -> 0.4.0: customer lifetime value.  RFM summaries (rfm), the purchase models
-- BG/NBD and Pareto/NBD, the Gamma-Gamma spend model and 'clv' (both, valued over a horizon),
-- trained with train(); expected_purchases, p_alive, expected_spend; predict_ltv and score of a
-- 'clv' model.
\echo Use "ALTER EXTENSION profenrich UPDATE TO '0.4.0'" to load this file. \quit

-- RFM summaries ---------------------------------------------------------------

CREATE TYPE @extschema@.rfm_summary AS (
    frequency integer,
    recency float8,
    t float8,
    monetary float8
);
COMMENT ON TYPE @extschema@.rfm_summary IS
    'A customer''s purchase summary: repeat purchase days, first-to-last and first-to-as_of times in units, mean repeat spend';

CREATE FUNCTION @extschema@.rfm_trans(internal, date, float8, date, float8)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION @extschema@.rfm_trans(internal, date, float8, date)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION @extschema@.rfm_trans_tz(internal, timestamptz, float8, date, float8)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION @extschema@.rfm_trans_tz(internal, timestamptz, float8, date)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION @extschema@.rfm_combine(internal, internal)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION @extschema@.rfm_serialize(internal)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.rfm_deserialize(bytea, internal)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.rfm_final(internal)
RETURNS @extschema@.rfm_summary AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;

-- Aggregates take no DEFAULT: the overloads without unit_days use 7 (weeks)
CREATE AGGREGATE @extschema@.rfm(day date, amount float8, as_of date, unit_days float8) (
    SFUNC = @extschema@.rfm_trans, STYPE = internal, SSPACE = 64,
    FINALFUNC = @extschema@.rfm_final, COMBINEFUNC = @extschema@.rfm_combine,
    SERIALFUNC = @extschema@.rfm_serialize, DESERIALFUNC = @extschema@.rfm_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.rfm(date, float8, date, float8) IS
    'RFM summary of one customer''s purchases up to as_of: frequency, recency, t (in units of unit_days), monetary';

CREATE AGGREGATE @extschema@.rfm(day date, amount float8, as_of date) (
    SFUNC = @extschema@.rfm_trans, STYPE = internal, SSPACE = 64,
    FINALFUNC = @extschema@.rfm_final, COMBINEFUNC = @extschema@.rfm_combine,
    SERIALFUNC = @extschema@.rfm_serialize, DESERIALFUNC = @extschema@.rfm_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.rfm(date, float8, date) IS
    'RFM summary of one customer''s purchases up to as_of, in weeks';

CREATE AGGREGATE @extschema@.rfm(ts timestamptz, amount float8, as_of date, unit_days float8) (
    SFUNC = @extschema@.rfm_trans_tz, STYPE = internal, SSPACE = 64,
    FINALFUNC = @extschema@.rfm_final, COMBINEFUNC = @extschema@.rfm_combine,
    SERIALFUNC = @extschema@.rfm_serialize, DESERIALFUNC = @extschema@.rfm_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.rfm(timestamptz, float8, date, float8) IS
    'RFM summary of one customer''s purchases up to as_of, each timestamp taken as its day in the session time zone';

CREATE AGGREGATE @extschema@.rfm(ts timestamptz, amount float8, as_of date) (
    SFUNC = @extschema@.rfm_trans_tz, STYPE = internal, SSPACE = 64,
    FINALFUNC = @extschema@.rfm_final, COMBINEFUNC = @extschema@.rfm_combine,
    SERIALFUNC = @extschema@.rfm_serialize, DESERIALFUNC = @extschema@.rfm_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.rfm(timestamptz, float8, date) IS
    'RFM summary of one customer''s purchases up to as_of, in weeks, each timestamp taken as its day in the session time zone';

-- Training data of the lifetime-value models (what train() runs) --------------

CREATE FUNCTION @extschema@.clv_data_trans(internal, integer, float8, float8, float8, float8)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION @extschema@.clv_data_combine(internal, internal)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION @extschema@.clv_data_serialize(internal)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.clv_data_deserialize(bytea, internal)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.clv_data_final(internal)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;

CREATE AGGREGATE @extschema@.clv_data(flags integer, frequency float8, recency float8, t float8,
                                      monetary float8) (
    SFUNC = @extschema@.clv_data_trans,
    STYPE = internal,
    SSPACE = 65536,
    FINALFUNC = @extschema@.clv_data_final,
    COMBINEFUNC = @extschema@.clv_data_combine,
    SERIALFUNC = @extschema@.clv_data_serialize,
    DESERIALFUNC = @extschema@.clv_data_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.clv_data(integer, float8, float8, float8, float8) IS
    'Customer summaries compressed into distinct histories with weights (flags 1: purchase, 2: spend, 3: both), as train() reads them';

-- Lifetime-value functions -----------------------------------------------------

CREATE FUNCTION @extschema@.expected_purchases(name text, periods float8, frequency float8,
                                               recency float8, t float8)
RETURNS float8 AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.expected_purchases(text, float8, float8, float8, float8) IS
    'Expected transactions in the next periods (the model''s time unit) of a customer with that history, from a bgnbd, paretonbd or clv model';

CREATE FUNCTION @extschema@.p_alive(name text, frequency float8, recency float8, t float8)
RETURNS float8 AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.p_alive(text, float8, float8, float8) IS
    'Probability that a customer with that history is still active, from a bgnbd, paretonbd or clv model';

CREATE FUNCTION @extschema@.expected_spend(name text, frequency float8, monetary float8)
RETURNS float8 AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.expected_spend(text, float8, float8) IS
    'Gamma-Gamma conditional mean spend per transaction (the population mean when frequency is 0), from a gammagamma or clv model';

COMMENT ON FUNCTION @extschema@.train(text, text, regclass, text, text[], jsonb) IS
    'Train a new version of a named model (linear, logistic, bgnbd, paretonbd, gammagamma or clv) on a relation, store it and (unless "deploy": false) deploy it';
COMMENT ON FUNCTION @extschema@.predict_ltv(record, text) IS
    'Lifetime value of a profile from the deployed value model (default ''ltv''): a clv model, or a linear regression';
