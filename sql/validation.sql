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
SELECT name FROM profenrich.train('vz_mn', 'multinomial', 'vz', 'g', ARRAY['x', 'y', 'flag']);
-- (customers simulated from known BG/NBD and Gamma-Gamma parameters, the seeded simulation of
-- sql/clv.sql)
\i test/data/clv_simulate.sql
SELECT setseed(0.4242);
CREATE TABLE vz_rfm AS SELECT * FROM pg_temp.simulate(1500);
SELECT name FROM profenrich.train('vz_clv', 'clv', 'vz_rfm');
CREATE TEMP TABLE vz_orig AS SELECT name, params FROM profenrich.models WHERE name LIKE 'vz\_%';

-- The spec of a stored model: its last column's mode_level is the 4 bytes before the split
-- hash's byte, the last of the spec
CREATE FUNCTION pg_temp.with_spec(p bytea, spec bytea) RETURNS bytea LANGUAGE sql AS
$$ SELECT substring(p FROM 1 FOR 8) || spec || substring(p FROM 9 + length(spec)) $$;
CREATE FUNCTION pg_temp.tamper(model text, p bytea) RETURNS void LANGUAGE sql AS
$$ UPDATE profenrich.models SET params = p WHERE name = model $$;

-- 2. mode_level out of range (a NULL category was imputed as x[first_slot + mode_level]):
--    the spec of vz_log's params with g's mode_level set to 1e8, then 3
SELECT pg_temp.tamper('vz_log', pg_temp.with_spec(params,
         overlay(profenrich.model_spec('vz_log') PLACING '\x05f5e100'::bytea
                 FROM length(profenrich.model_spec('vz_log')) - 4)))
FROM vz_orig WHERE name = 'vz_log';
SELECT public.err($$SELECT profenrich.score('vz_log', v) FROM vz v LIMIT 1$$);
UPDATE profenrich.models m SET params = o.params FROM vz_orig o WHERE m.name = o.name;
SELECT pg_temp.tamper('vz_log', pg_temp.with_spec(params,
         overlay(profenrich.model_spec('vz_log') PLACING '\x00000003'::bytea
                 FROM length(profenrich.model_spec('vz_log')) - 4)))
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
SELECT profenrich.drop_model(n) FROM unnest(ARRAY['vz_lin', 'vz_log', 'vz_mn', 'vz_clv']) n;
DROP TABLE vz, vz_rfm;
DROP ROLE login_only;
