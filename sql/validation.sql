-- Bytes a caller or the registry can supply are validated before use: the crash hunt's
-- cases by name, then a fuzz run over thousands of mutated specs and params (fixed seed).
-- No mutation may reach an internal error (XX000) or take the server down.
SET client_min_messages = warning;
CREATE ROLE login_only LOGIN;
RESET client_min_messages;

-- 1. A crafted spec handed to linear_stats by a role with nothing but LOGIN: a level of
--    length -1 was read as a NULL string, then strlen(NULL) (signal 11).
SET ROLE login_only;
SELECT public.err($$SELECT profenrich.linear_stats('\x000000017900ffffffffffffffff3fc999999999999a00000000000000000000000000000001000000016300000002000000000000000000000001ffffffff0100000000'::bytea, ARRAY['y'], 1)$$);
RESET ROLE;

-- models to tamper with: linear, logistic with a text target, multinomial, a lifetime-value model
CREATE TABLE vz AS
SELECT i AS id, (i % 7)::float8 AS x, (ARRAY['a', 'b', 'c'])[1 + i % 3] AS g,
       CASE WHEN (i * 7) % 5 < 2 THEN 'yes' ELSE 'no' END AS flag, (i % 11)::float8 AS y
FROM generate_series(1, 200) i;
SELECT name FROM profenrich.train('vz_lin', 'linear', 'vz', 'y', ARRAY['x', 'g']);
SELECT name FROM profenrich.train('vz_log', 'logistic', 'vz', 'flag', ARRAY['x', 'g'], '{"positive": "yes"}');
-- class weights: its params carry a calibration section (the offset added to the link)
SELECT name FROM profenrich.train('vz_cal', 'logistic', 'vz', 'flag', ARRAY['x', 'g'],
                                  '{"positive": "yes", "class_weight": "balanced"}');
SELECT name FROM profenrich.train('vz_mn', 'multinomial', 'vz', 'g', ARRAY['x', 'y', 'flag']);
-- (customers simulated from known BG/NBD and Gamma-Gamma parameters, the seeded simulation of
-- sql/clv.sql)
\i test/data/clv_simulate.sql
SELECT setseed(0.4242);
CREATE TABLE vz_rfm AS SELECT * FROM pg_temp.simulate(1500);
SELECT name FROM profenrich.train('vz_clv', 'clv', 'vz_rfm');
CREATE TEMP TABLE vz_orig AS SELECT name, params FROM profenrich.models WHERE name LIKE 'vz\_%';

-- The spec of a stored model: its last column's mode_level is the 4 bytes before the split
-- hash's byte; then format 4's policies and fold (6 bytes) and the categorical column's
-- shares (a flag byte and its 3 slots' doubles) end the spec
CREATE FUNCTION pg_temp.with_spec(p bytea, spec bytea) RETURNS bytea LANGUAGE sql AS
$$ SELECT substring(p FROM 1 FOR 8) || spec || substring(p FROM 9 + length(spec)) $$;
CREATE FUNCTION pg_temp.tamper(model text, p bytea) RETURNS void LANGUAGE sql AS
$$ UPDATE profenrich.models SET params = p WHERE name = model $$;

-- 2. mode_level out of range (a NULL category was imputed as x[first_slot + mode_level]):
--    the spec of vz_log's params with g's mode_level set to 1e8, then 3
SELECT pg_temp.tamper('vz_log', pg_temp.with_spec(params,
         overlay(profenrich.model_spec('vz_log') PLACING '\x05f5e100'::bytea
                 FROM length(profenrich.model_spec('vz_log')) - 4 - 31)))
FROM vz_orig WHERE name = 'vz_log';
SELECT public.err($$SELECT profenrich.score('vz_log', v) FROM vz v LIMIT 1$$);
UPDATE profenrich.models m SET params = o.params FROM vz_orig o WHERE m.name = o.name;
SELECT pg_temp.tamper('vz_log', pg_temp.with_spec(params,
         overlay(profenrich.model_spec('vz_log') PLACING '\x00000003'::bytea
                 FROM length(profenrich.model_spec('vz_log')) - 4 - 31)))
FROM vz_orig WHERE name = 'vz_log';
SELECT public.err($$SELECT profenrich.coefficients('vz_log')$$);
UPDATE profenrich.models m SET params = o.params FROM vz_orig o WHERE m.name = o.name;

-- 3. a NULL level string (length -1) inside a stored model: score, explain, factors,
--    coefficients, enrich and the trigger refuse it
SELECT pg_temp.tamper('vz_log', overlay(params PLACING '\xffffffff'::bytea
         FROM position(convert_to('b', 'UTF8') IN substring(params FROM 60)) + 59 - 4))
FROM vz_orig WHERE name = 'vz_log';
SELECT public.err($$SELECT profenrich.score('vz_log', v) FROM vz v LIMIT 1$$);
SELECT public.err($$SELECT * FROM profenrich.explain('vz_log', (SELECT v FROM vz v LIMIT 1))$$);
SELECT public.err($$SELECT profenrich.factors('vz_log', v) FROM vz v LIMIT 1$$);
SELECT public.err($$CALL profenrich.enrich('vz', array['vz_log'])$$);
UPDATE profenrich.models m SET params = o.params FROM vz_orig o WHERE m.name = o.name;

-- 4. a stored horizon_months of 2^31 - 1 (clv scoring looped for minutes)
SELECT pg_temp.tamper('vz_clv', overlay(params PLACING '\x7fffffff'::bytea
         FROM length(params) - 3 - 4 - 99 * 8 - 4 - 8 - 8 - 4 + 1))
FROM vz_orig WHERE name = 'vz_clv';
SELECT public.err($$SELECT profenrich.score('vz_clv', r) FROM vz_rfm r LIMIT 1$$);
UPDATE profenrich.models m SET params = o.params FROM vz_orig o WHERE m.name = o.name;

-- 4b. format 4's fields (issue 15): the unseen policy, the bad-row policy, the fold and the
--    shares of a caller's spec are checked (22P03), and so are a stored model's calibration
--    offset and shares (XX001)
CREATE FUNCTION pg_temp.spec_with(tail_at int, bytes bytea) RETURNS bytea LANGUAGE sql AS
$$ SELECT overlay(profenrich.model_spec('vz_log') PLACING bytes
                  FROM length(profenrich.model_spec('vz_log')) - tail_at) $$;
SELECT public.err(format($$SELECT profenrich.linear_stats(%L::bytea, ARRAY['flag', 'id', 'x', 'g'], flag, id, x, g) FROM vz$$,
                         pg_temp.spec_with(30, '\x09')));                 -- unseen policy 9
SELECT public.err(format($$SELECT profenrich.linear_stats(%L::bytea, ARRAY['flag', 'id', 'x', 'g'], flag, id, x, g) FROM vz$$,
                         pg_temp.spec_with(29, '\x02')));                 -- bad-row policy 2
SELECT public.err(format($$SELECT profenrich.linear_stats(%L::bytea, ARRAY['flag', 'id', 'x', 'g'], flag, id, x, g) FROM vz$$,
                         pg_temp.spec_with(28, '\x00150000')));           -- 21 folds
SELECT public.err(format($$SELECT profenrich.linear_stats(%L::bytea, ARRAY['flag', 'id', 'x', 'g'], flag, id, x, g) FROM vz$$,
                         pg_temp.spec_with(28, '\x00050007')));           -- fold 7 of 5
SELECT public.err(format($$SELECT profenrich.linear_stats(%L::bytea, ARRAY['flag', 'id', 'x', 'g'], flag, id, x, g) FROM vz$$,
                         pg_temp.spec_with(23, '\x4000000000000000')));   -- a share of 2
SELECT public.err(format($$SELECT profenrich.linear_stats(%L::bytea, ARRAY['flag', 'id', 'x', 'g'], flag, id, x, g) FROM vz$$,
                         pg_temp.spec_with(24, '\x02')));                 -- a shares flag of 2
SELECT pg_temp.tamper('vz_log', pg_temp.with_spec(params, pg_temp.spec_with(7, '\x7ff8000000000000')))
FROM vz_orig WHERE name = 'vz_log';                                     -- a NaN share
SELECT public.err($$SELECT profenrich.score('vz_log', v) FROM vz v LIMIT 1$$);
UPDATE profenrich.models m SET params = o.params FROM vz_orig o WHERE m.name = o.name;
-- the calibration section is the params' last: tag 3, length 8, the offset
SELECT pg_temp.tamper('vz_cal', overlay(params PLACING '\x7ff8000000000000'::bytea FROM length(params) - 7))
FROM vz_orig WHERE name = 'vz_cal';
SELECT public.err($$SELECT profenrich.score('vz_cal', v) FROM vz v LIMIT 1$$);
SELECT pg_temp.tamper('vz_cal', overlay(params PLACING '\x0007'::bytea FROM length(params) - 13))
FROM vz_orig WHERE name = 'vz_cal';                                     -- an unknown tag
SELECT public.err($$SELECT profenrich.score('vz_cal', v) FROM vz v LIMIT 1$$);
UPDATE profenrich.models m SET params = o.params FROM vz_orig o WHERE m.name = o.name;

-- 5. Fuzz: 500 mutations of each model's params and 1,500 of a spec, each read by every
--    entry point that loads it.  A mutation may give a valid model (then it scores), or an
--    error with a SQLSTATE of its own; never an internal error, never a crash.
CREATE FUNCTION pg_temp.mutate(b bytea) RETURNS bytea LANGUAGE plpgsql AS $$
DECLARE n int := length(b); kind int := floor(random() * 4); pos int;
BEGIN
  IF kind = 0 THEN                      -- truncate
    RETURN substring(b FROM 1 FOR floor(random() * n)::int);
  END IF;
  pos := floor(random() * (n - 4));
  IF kind = 1 THEN                      -- a random byte
    RETURN set_byte(b, pos, floor(random() * 256)::int);
  ELSIF kind = 2 THEN                   -- an extreme 32-bit value: -1, 2^31 - 1, 2^30, 0
    RETURN overlay(b PLACING (ARRAY['\xffffffff', '\x7fffffff', '\x40000000', '\x00000000']::bytea[])
                   [1 + floor(random() * 4)::int] FROM pos + 1);
  END IF;
  RETURN overlay(b PLACING '\x7ff8000000000000'::bytea FROM pos + 1);   -- a NaN double
END $$;
CREATE TEMP TABLE fuzz_log (what text, sqlstate text);
CREATE FUNCTION pg_temp.try(what text, q text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE st text;
BEGIN
  EXECUTE q;
  INSERT INTO fuzz_log VALUES (what, 'ok');
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE;
  INSERT INTO fuzz_log VALUES (what, st);
END $$;
SELECT setseed(0.2026);
DO $$
DECLARE o record; p bytea;
BEGIN
  FOR o IN SELECT * FROM vz_orig ORDER BY name LOOP
    FOR i IN 1..500 LOOP
      p := pg_temp.mutate(o.params);
      UPDATE profenrich.models SET params = p WHERE name = o.name;
      IF o.name = 'vz_clv' THEN
        PERFORM pg_temp.try('params', 'SELECT profenrich.score(''vz_clv'', r) FROM vz_rfm r LIMIT 5');
        PERFORM pg_temp.try('params', 'SELECT profenrich.p_alive(''vz_clv'', 2, 10, 30)');
        PERFORM pg_temp.try('params', 'SELECT profenrich.percentile(''vz_clv'', 5.0)');
      ELSE
        PERFORM pg_temp.try('params', format('SELECT profenrich.score(%L, v) FROM vz v LIMIT 5', o.name));
        PERFORM pg_temp.try('params', format('SELECT * FROM profenrich.explain(%L, (SELECT v FROM vz v LIMIT 1), 5)', o.name));
        PERFORM pg_temp.try('params', format('SELECT profenrich.predict_class(%L, v) FROM vz v LIMIT 5', o.name));
        PERFORM pg_temp.try('params', format('SELECT profenrich.predict_proba(%L, v) FROM vz v LIMIT 5', o.name));
        -- an unseen category (its shares) and the factors with their values
        PERFORM pg_temp.try('params', format('SELECT profenrich.score(%L, r) FROM (SELECT 1.5::float8 AS x, ''zz''::text AS g) r', o.name));
        PERFORM pg_temp.try('params', format('SELECT profenrich.factors_detail(%L, v) FROM vz v LIMIT 2', o.name));
      END IF;
      PERFORM pg_temp.try('params', format('SELECT * FROM profenrich.coefficients(%L)', o.name));
      PERFORM pg_temp.try('params', format('SELECT profenrich.model_spec(%L)', o.name));
    END LOOP;
    UPDATE profenrich.models SET params = o.params WHERE name = o.name;
  END LOOP;
END $$;
DO $$
DECLARE spec bytea := profenrich.model_spec('vz_log'); s bytea;
BEGIN
  FOR i IN 1..1500 LOOP
    s := pg_temp.mutate(spec);
    PERFORM pg_temp.try('spec', format('SELECT profenrich.linear_stats(%L::bytea, ARRAY[''flag'', ''id'', ''x'', ''g''], flag, id, x, g) FROM vz', s));
    PERFORM pg_temp.try('spec', format('SELECT profenrich.logistic_step(%L::bytea, array_fill(0.5::float8, ARRAY[2 + 3 * 5]), ARRAY[''flag'', ''id'', ''x'', ''g''], flag, id, x, g) FROM vz', s));
  END LOOP;
END $$;
SELECT what, count(*) AS calls, count(*) FILTER (WHERE sqlstate = 'XX000') AS internal_errors,
       count(*) FILTER (WHERE sqlstate = 'ok') > 0 AS some_ran,
       count(*) FILTER (WHERE sqlstate IN ('XX001', '22P03')) > 0 AS some_refused
FROM fuzz_log GROUP BY what ORDER BY what;
-- the server is still up and the untouched models score as before
SELECT count(*) AS scored FROM vz v WHERE profenrich.score('vz_log', v) BETWEEN 0 AND 1;

-- 6. The aggregates' states are bytea (issue 16): their support functions take a caller's bytes,
--    refuse what the aggregate could not have built (22P03), and never modify them.  States
--    built by calling the transition functions directly, outside an aggregate:
SELECT name FROM profenrich.train('vz_grp', 'linear', 'vz', 'y', ARRAY['x'], '{"group_by": "g"}');
SELECT name FROM profenrich.train('vz_km', 'kmeans', 'vz', NULL, ARRAY['x', 'y'], '{"k": 2}');
CREATE TEMP TABLE vz_states AS
SELECT 'linear_stats' AS agg, profenrich.linear_stats_args_sfunc(NULL, profenrich.model_spec('vz_lin'),
         ARRAY['y', 'id', 'x', 'g'], 3.0::float8, 1, 2.0::float8, 'a'::text) AS s
UNION ALL SELECT 'logistic_step', profenrich.logistic_step_sfunc(NULL, profenrich.model_spec('vz_log'),
         array_fill(0.5::float8, ARRAY[2 + 3 * 5]), ARRAY['flag', 'id', 'x', 'g'], 'yes'::text, 1, 2.0::float8, 'a'::text)
UNION ALL SELECT 'auc', profenrich.auc_sfunc(profenrich.auc_sfunc(NULL, 0.3, true), 0.7, false)
UNION ALL SELECT 'rfm', profenrich.rfm_sfunc(profenrich.rfm_sfunc(NULL, '2024-01-02'::date, 5.0, '2024-06-30'::date),
         '2024-02-10'::date, 7.5, '2024-06-30'::date)
UNION ALL SELECT 'clv_data', profenrich.clv_data_sfunc(NULL, 3, 2, 10, 30, 15)
UNION ALL SELECT 'linear_stats_grouped', profenrich.linear_stats_grouped_sfunc(NULL, profenrich.model_spec('vz_lin'),
         'g', 100, ARRAY['y', 'id', 'x', 'g'], 3.0::float8, 1, 2.0::float8, 'a'::text)
UNION ALL SELECT 'logistic_step_grouped', profenrich.logistic_step_grouped_sfunc(NULL, profenrich.model_spec('vz_log'),
         array_fill(0.5::float8, ARRAY[2 * 5 + 2 * (2 + 5)]), 'g', ARRAY[NULL, 'a'], ARRAY['flag', 'id', 'x', 'g'],
         'yes'::text, 1, 2.0::float8, 'a'::text)
UNION ALL SELECT 'multinomial_step', profenrich.multinomial_step_sfunc(NULL, profenrich.model_spec('vz_mn'),
         ARRAY[0::float8] || array_fill(1::float8, ARRAY[3 + 2 * (SELECT count(*)::int FROM profenrich.coefficients('vz_mn') WHERE class = 'b')]),
         ARRAY['a', 'b', 'c'], ARRAY['g', 'x', 'y', 'flag'], 'a'::text, 2.0::float8, 3.0::float8, 'yes'::text)
UNION ALL SELECT 'kmeans_step', profenrich.kmeans_step_sfunc(NULL, profenrich.model_spec('vz_km'),
         ARRAY[1, 2, 2, 0, 0, 1, 1, 0, 0, 1, 1]::float8[], ARRAY['x', 'y'], 2.0::float8, 3.0::float8);
CREATE TEMP TABLE vz_before AS SELECT * FROM vz_states;
-- combined with themselves, then read by the final functions: what two rows give
SELECT agg, length(s) > 0 AS built FROM vz_states ORDER BY agg;
SELECT profenrich.auc_finalfunc(s) AS auc_of_one, profenrich.auc_finalfunc(profenrich.auc_combinefunc(s, s)) AS auc_of_both,
       profenrich.auc_finalfunc(profenrich.auc_sfunc(s, 0.5, true)) AS auc_of_three
FROM vz_states WHERE agg = 'auc';
SELECT (profenrich.rfm_finalfunc(profenrich.rfm_combinefunc(s, s))).* FROM vz_states WHERE agg = 'rfm';
SELECT length(profenrich.linear_stats_combinefunc(s, s)) > 0 AS lin,
       (SELECT length(profenrich.logistic_step_combinefunc(s, s)) FROM vz_states WHERE agg = 'logistic_step') > 0 AS logit,
       (SELECT length(profenrich.clv_data_combinefunc(s, s)) FROM vz_states WHERE agg = 'clv_data') > 0 AS clv,
       (SELECT length(profenrich.linear_stats_grouped_combinefunc(s, s)) FROM vz_states WHERE agg = 'linear_stats_grouped') > 0 AS grp,
       (SELECT length(profenrich.logistic_step_grouped_combinefunc(s, s)) FROM vz_states WHERE agg = 'logistic_step_grouped') > 0 AS grp_step
FROM vz_states WHERE agg = 'linear_stats';
SELECT length(profenrich.multinomial_step_combinefunc(s, s)) > 0 AS mn,
       (SELECT length(profenrich.kmeans_step_combinefunc(s, s)) FROM vz_states WHERE agg = 'kmeans_step') > 0 AS km
FROM vz_states WHERE agg = 'multinomial_step';
-- a transition called on a state adds to a copy
SELECT length(profenrich.auc_sfunc(s, 0.9, true)) > length(s) AS added FROM vz_states WHERE agg = 'auc';
-- the callers' values are unchanged
SELECT count(*) AS unchanged FROM vz_states n JOIN vz_before o USING (agg) WHERE n.s = o.s;
-- bytes no aggregate built
SELECT public.err($$SELECT profenrich.linear_stats_combinefunc('\x0001'::bytea, NULL)$$);
SELECT public.err($$SELECT profenrich.linear_stats_combinefunc(NULL, overlay(s PLACING '\x7fffffff' FROM 5)) FROM vz_states WHERE agg = 'linear_stats'$$);
SELECT public.err($$SELECT profenrich.linear_stats_args_sfunc('\x00000002'::bytea, profenrich.model_spec('vz_lin'), ARRAY['y', 'id', 'x', 'g'], 3.0::float8, 1, 2.0::float8, 'a'::text)$$);
SELECT public.err($$SELECT profenrich.logistic_step_combinefunc(substring(s FROM 1 FOR 40), s) FROM vz_states WHERE agg = 'logistic_step'$$);
SELECT public.err($$SELECT profenrich.auc_finalfunc(overlay(s PLACING '\x00000000000000ff' FROM 5)) FROM vz_states WHERE agg = 'auc'$$);
SELECT public.err($$SELECT profenrich.rfm_finalfunc('\x0200000000000000'::bytea)$$);
SELECT public.err($$SELECT profenrich.rfm_combinefunc(s, overlay(s PLACING '\x7fffffff' FROM 17)) FROM vz_states WHERE agg = 'rfm'$$);
SELECT public.err($$SELECT profenrich.clv_data_combinefunc(s, substring(s FROM 1 FOR 20)) FROM vz_states WHERE agg = 'clv_data'$$);
SELECT public.err($$SELECT profenrich.linear_stats_grouped_finalfunc(profenrich.linear_stats_grouped_combinefunc(NULL, substring(s FROM 1 FOR length(s) - 3))) FROM vz_states WHERE agg = 'linear_stats_grouped'$$);
SELECT public.err($$SELECT profenrich.logistic_step_grouped_combinefunc(s, '\x000000010000000200000003'::bytea) FROM vz_states WHERE agg = 'logistic_step_grouped'$$);
SELECT public.err($$SELECT profenrich.multinomial_step_combinefunc(s, substring(s FROM 1 FOR 30)) FROM vz_states WHERE agg = 'multinomial_step'$$);
SELECT public.err($$SELECT profenrich.kmeans_step_combinefunc(s, overlay(s PLACING '\x000000ff' FROM 5)) FROM vz_states WHERE agg = 'kmeans_step'$$);
SELECT public.err($$SELECT profenrich.multinomial_step_combinefunc(m.s, k.s) FROM vz_states m, vz_states k WHERE m.agg = 'multinomial_step' AND k.agg = 'kmeans_step'$$);
-- a fuzz run over every kind of state, through its combine and final functions
TRUNCATE fuzz_log;
DO $$
DECLARE o record; m bytea;
BEGIN
  FOR o IN SELECT * FROM vz_states ORDER BY agg LOOP
    FOR i IN 1..300 LOOP
      m := pg_temp.mutate(o.s);
      PERFORM pg_temp.try(o.agg, format('SELECT profenrich.%s_combinefunc(%L::bytea, %L::bytea)', o.agg, o.s, m));
      PERFORM pg_temp.try(o.agg, format('SELECT profenrich.%s_combinefunc(NULL, %L::bytea)', o.agg, m));
      IF o.agg IN ('auc', 'rfm') THEN
        PERFORM pg_temp.try(o.agg, format('SELECT profenrich.%s_finalfunc(%L::bytea)', o.agg, m));
      END IF;
    END LOOP;
  END LOOP;
END $$;
SELECT what, count(*) AS calls, count(*) FILTER (WHERE sqlstate NOT IN ('ok', '22P03', '22023', '54000', '22003', '22000', '53400')) AS other_errors,
       count(*) FILTER (WHERE sqlstate = 'ok') > 0 AS some_ran,
       count(*) FILTER (WHERE sqlstate = '22P03') > 0 AS some_refused
FROM fuzz_log GROUP BY what ORDER BY what;
SELECT count(*) AS unchanged FROM vz_states n JOIN vz_before o USING (agg) WHERE n.s = o.s;
SELECT profenrich.drop_model(n) FROM unnest(ARRAY['vz_lin', 'vz_log', 'vz_cal', 'vz_mn', 'vz_clv', 'vz_grp', 'vz_km']) n;
DROP TABLE vz, vz_rfm;
DROP ROLE login_only;
