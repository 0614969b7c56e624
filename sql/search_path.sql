-- Every statement profenrich builds or runs is immune to the caller's search_path (issue 9).
SET client_min_messages = warning;	-- progress notices carry rates
SELECT setseed(0.29);
CREATE TABLE sp_people AS
SELECT i AS id, (random() * 60)::int AS tenure, round((random() * 100)::numeric, 1) AS visits,
       (ARRAY['free', 'pro', 'team'])[1 + (i % 3)] AS plan, NULL::boolean AS churned,
       0.0::float8 AS spend, NULL::text AS outcome
FROM generate_series(1, 3000) AS i;
UPDATE sp_people SET churned = random() < 1 / (1 + exp(-(1 - 0.05 * tenure + (plan = 'free')::int))),
                     spend = 10 + 2 * tenure + 0.5 * visits::float8 + random() * 5;
UPDATE sp_people SET outcome = CASE WHEN churned THEN 'lost' ELSE 'kept' END;
ALTER TABLE sp_people ADD PRIMARY KEY (id);

-- issue 9, as reported: a role with CREATE on public plants public.=(text[], text[]); a superuser
-- with the default search_path enriches with factors twice, and the generated comparison of the
-- text[] factors called the planted operator as the superuser, which made the role superuser.
CREATE ROLE regress_mallory;
GRANT CREATE ON SCHEMA public TO regress_mallory;
SET ROLE regress_mallory;
CREATE FUNCTION public.evil_eq(a text[], b text[]) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
    EXECUTE 'ALTER ROLE regress_mallory SUPERUSER';
  END IF;
  RETURN a OPERATOR(pg_catalog.=) b;
END $$;
CREATE OPERATOR public.= (LEFTARG = text[], RIGHTARG = text[], FUNCTION = public.evil_eq);
RESET ROLE;
SHOW search_path;
SELECT name FROM profenrich.train('sp_victim', 'logistic', 'sp_people', 'churned',
                                  ARRAY['tenure', 'visits', 'plan']);
CREATE TABLE sp_victim_people AS SELECT id, tenure, visits, plan FROM sp_people;
CALL profenrich.enrich('public.sp_victim_people', array['sp_victim'], '{"factors": 2}');
UPDATE sp_victim_people SET tenure = 60 - tenure WHERE id % 10 = 0;
CALL profenrich.enrich('public.sp_victim_people', array['sp_victim'], '{"factors": 2}');
SELECT rolsuper AS mallory_became_superuser FROM pg_roles WHERE rolname = 'regress_mallory';
SELECT count(*) FILTER (WHERE sp_victim_factors = profenrich.factors('sp_victim', p, 2)) AS factors_ok
FROM sp_victim_people p;
DROP OPERATOR public.= (text[], text[]);
DROP FUNCTION public.evil_eq(text[], text[]);
REVOKE CREATE ON SCHEMA public FROM regress_mallory;

-- A schema of hostile objects, each recording that it ran: the comparison and arithmetic
-- operators of the types profenrich compares, aggregates and functions it could call by name,
-- and domains named like the types it casts to.
CREATE SCHEMA regress_hostile AUTHORIZATION regress_mallory;
SET ROLE regress_mallory;
CREATE TABLE regress_hostile.calls (what text);
GRANT INSERT ON regress_hostile.calls TO PUBLIC;
CREATE FUNCTION regress_hostile.note(what pg_catalog.text) RETURNS pg_catalog.bool
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  INSERT INTO regress_hostile.calls VALUES (what);
  RAISE WARNING 'hostile % ran', what;
  RETURN true;
END $$;
DO $do$
DECLARE
  pairs text[] := ARRAY['text text', 'text[] text[]', 'name name', 'name text', 'text name',
                        'int2 int2', 'int4 int4', 'int8 int8', 'int8 int4', 'int4 int8', 'int2 int4',
                        'float8 float8', 'numeric numeric', 'bool bool', 'jsonb jsonb', 'tid tid',
                        'oid oid', 'regclass regclass', 'bytea bytea', 'timestamptz timestamptz'];
  arith text[] := ARRAY['+ int4 int4', '+ int8 int8', '+ int8 int4', '- int4 int4', '- int8 int8',
                        '+ float8 float8', '- float8 float8', '|| text text', '|| text[] text[]'];
  p text; l text; r text; op text; n int := 0;
BEGIN
  FOREACH p IN ARRAY pairs LOOP
    l := split_part(p, ' ', 1); r := split_part(p, ' ', 2);
    FOREACH op IN ARRAY ARRAY['=', '<>', '<', '<=', '>', '>='] LOOP
      n := n + 1;
      EXECUTE format($f$CREATE FUNCTION regress_hostile.op_%s(a pg_catalog.%s, b pg_catalog.%s)
        RETURNS pg_catalog.bool LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS
        $b$BEGIN PERFORM regress_hostile.note(%L); RETURN a OPERATOR(pg_catalog.%s) b; END $b$ $f$,
        n, l, r, l || ' ' || op || ' ' || r, op);
      EXECUTE format('CREATE OPERATOR regress_hostile.%s (LEFTARG = pg_catalog.%s, '
                     'RIGHTARG = pg_catalog.%s, FUNCTION = regress_hostile.op_%s)', op, l, r, n);
    END LOOP;
  END LOOP;
  FOREACH p IN ARRAY arith LOOP
    op := split_part(p, ' ', 1); l := split_part(p, ' ', 2); r := split_part(p, ' ', 3); n := n + 1;
    EXECUTE format($f$CREATE FUNCTION regress_hostile.op_%s(a pg_catalog.%s, b pg_catalog.%s)
      RETURNS pg_catalog.%s LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS
      $b$BEGIN PERFORM regress_hostile.note(%L); RETURN a OPERATOR(pg_catalog.%s) b; END $b$ $f$,
      n, l, r, CASE WHEN l = 'int8' OR r = 'int8' THEN 'int8' ELSE l END, l || ' ' || op || ' ' || r, op);
    EXECUTE format('CREATE OPERATOR regress_hostile.%s (LEFTARG = pg_catalog.%s, '
                   'RIGHTARG = pg_catalog.%s, FUNCTION = regress_hostile.op_%s)', op, l, r, n);
  END LOOP;
  -- domains named like the types profenrich casts to: casting to one runs its check
  FOREACH l IN ARRAY ARRAY['text', 'float8', 'float4', 'int2', 'int4', 'int8', 'numeric', 'bool',
                           'tid', 'jsonb', 'bytea', 'oid', 'regclass', 'name', 'timestamptz'] LOOP
    EXECUTE format('CREATE DOMAIN regress_hostile.%I AS pg_catalog.%I CHECK (regress_hostile.note(%L))',
                   l, l, 'cast to ' || l);
  END LOOP;
END $do$;
-- functions and aggregates by the names of pg_catalog's, of the same or more exact types
CREATE FUNCTION regress_hostile.hashtext(a pg_catalog.text) RETURNS pg_catalog.int4
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS
$$BEGIN PERFORM regress_hostile.note('hashtext'); RETURN pg_catalog.hashtext(a); END$$;
CREATE FUNCTION regress_hostile.pg_advisory_xact_lock(a pg_catalog.int4, b pg_catalog.int4)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS
$$BEGIN PERFORM regress_hostile.note('pg_advisory_xact_lock'); PERFORM pg_catalog.pg_advisory_xact_lock(a, b); END$$;
CREATE FUNCTION regress_hostile.now() RETURNS pg_catalog.timestamptz
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS
$$BEGIN PERFORM regress_hostile.note('now'); RETURN pg_catalog.now(); END$$;
CREATE FUNCTION regress_hostile.clock_timestamp() RETURNS pg_catalog.timestamptz
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS
$$BEGIN PERFORM regress_hostile.note('clock_timestamp'); RETURN pg_catalog.clock_timestamp(); END$$;
CREATE FUNCTION regress_hostile.pg_backend_pid() RETURNS pg_catalog.int4
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS
$$BEGIN PERFORM regress_hostile.note('pg_backend_pid'); RETURN pg_catalog.pg_backend_pid(); END$$;
CREATE FUNCTION regress_hostile.row_number() RETURNS pg_catalog.int8
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS
$$BEGIN PERFORM regress_hostile.note('row_number'); RETURN 1; END$$;
CREATE FUNCTION regress_hostile.to_regclass(a pg_catalog.text) RETURNS pg_catalog.regclass
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS
$$BEGIN PERFORM regress_hostile.note('to_regclass'); RETURN pg_catalog.to_regclass(a); END$$;
CREATE FUNCTION regress_hostile.array_length(a pg_catalog.text[], d pg_catalog.int4) RETURNS pg_catalog.int4
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS
$$BEGIN PERFORM regress_hostile.note('array_length'); RETURN pg_catalog.array_length(a, d); END$$;
CREATE FUNCTION regress_hostile.step(s pg_catalog.int8) RETURNS pg_catalog.int8
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS
$$BEGIN PERFORM regress_hostile.note('count(*)'); RETURN s + 1; END$$;
CREATE FUNCTION regress_hostile.step(s pg_catalog.int8, v pg_catalog.text) RETURNS pg_catalog.int8
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS
$$BEGIN PERFORM regress_hostile.note('count(text)'); RETURN s + 1; END$$;
CREATE FUNCTION regress_hostile.step(s pg_catalog.int8, v pg_catalog.int8) RETURNS pg_catalog.int8
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS
$$BEGIN PERFORM regress_hostile.note('max(int8)'); RETURN greatest(s, v); END$$;
CREATE FUNCTION regress_hostile.step(s pg_catalog.int4, v pg_catalog.int4) RETURNS pg_catalog.int4
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS
$$BEGIN PERFORM regress_hostile.note('max/min(int4)'); RETURN greatest(s, v); END$$;
CREATE FUNCTION regress_hostile.step(s pg_catalog.float8, v pg_catalog.float8) RETURNS pg_catalog.float8
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS
$$BEGIN PERFORM regress_hostile.note('sum(float8)'); RETURN coalesce(s, 0) + v; END$$;
CREATE AGGREGATE regress_hostile.count(*) (SFUNC = regress_hostile.step, STYPE = pg_catalog.int8, INITCOND = '0');
CREATE AGGREGATE regress_hostile.count(pg_catalog.text) (SFUNC = regress_hostile.step, STYPE = pg_catalog.int8, INITCOND = '0');
CREATE AGGREGATE regress_hostile.max(pg_catalog.int8) (SFUNC = regress_hostile.step, STYPE = pg_catalog.int8);
CREATE AGGREGATE regress_hostile.max(pg_catalog.int4) (SFUNC = regress_hostile.step, STYPE = pg_catalog.int4);
CREATE AGGREGATE regress_hostile.min(pg_catalog.int4) (SFUNC = regress_hostile.step, STYPE = pg_catalog.int4);
CREATE AGGREGATE regress_hostile.sum(pg_catalog.float8) (SFUNC = regress_hostile.step, STYPE = pg_catalog.float8);
RESET ROLE;
SELECT count(*) AS hostile_functions FROM pg_proc WHERE pronamespace = 'regress_hostile'::regnamespace;
SELECT count(*) AS hostile_operators FROM pg_operator WHERE oprnamespace = 'regress_hostile'::regnamespace;
SELECT count(*) AS hostile_domains FROM pg_type WHERE typnamespace = 'regress_hostile'::regnamespace AND typtype = 'd';

-- The data every entry point takes, and one run of every entry point as a procedure, whose own
-- statements are schema-qualified, recording results to compare across search_paths.
CREATE TABLE sp_nokey AS SELECT tenure, visits, plan, spend FROM sp_people;
CREATE TABLE sp_purchases AS
SELECT 1 + (i % 300) AS customer_id, DATE '2024-01-01' + ((i * 37) % 300) AS day,
       5 + (i % 17)::float8 AS amount
FROM generate_series(1, 2000) AS i;
-- customers with exponential purchase rates, dropping out after a purchase at random, each with
-- a spend level of their own
CREATE FUNCTION pg_temp.sp_customers(n int) RETURNS TABLE (customer_id int, frequency int,
    recency float8, t float8, monetary float8) LANGUAGE plpgsql AS $$
DECLARE lam float8; p float8; level float8; clock float8; spend float8;
BEGIN
  FOR i IN 1..n LOOP
    customer_id := i; t := 4 + 48 * random();
    lam := -ln(1 - random()) * 0.4; p := 0.05 + 0.3 * random(); level := 10 + 40 * random();
    frequency := 0; recency := 0; clock := 0; spend := 0;
    LOOP
      clock := clock - ln(1 - random()) / lam;
      EXIT WHEN clock > t;
      frequency := frequency + 1; recency := clock; spend := spend + level * (0.5 + random());
      EXIT WHEN random() < p;
    END LOOP;
    monetary := CASE WHEN frequency > 0 THEN spend / frequency ELSE 0 END;
    RETURN NEXT;
  END LOOP;
END $$;
CREATE TABLE sp_rfm AS SELECT * FROM pg_temp.sp_customers(800);
CREATE VIEW sp_rfm_view AS SELECT * FROM sp_rfm;
CREATE TABLE sp_parts (id int, tenure int, visits numeric, plan text) PARTITION BY HASH (id);
CREATE TABLE sp_parts_0 PARTITION OF sp_parts FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE sp_parts_1 PARTITION OF sp_parts FOR VALUES WITH (MODULUS 2, REMAINDER 1);
INSERT INTO sp_parts SELECT id, tenure, visits, plan FROM sp_people;
CREATE TABLE sp_live (id int, tenure int, visits numeric, plan text, sp_log_score float8,
                      sp_log_pct smallint, sp_log_factors text[]);
-- issue 15: rows a model cannot use (a NaN, a $0 repeat customer, through a view and a key),
-- a table whose rows hold a category a model did not see, and one for the trigger's on_error
CREATE TABLE sp_bad AS SELECT id, tenure::float8 AS tenure, visits, plan, spend FROM sp_people;
UPDATE sp_bad SET tenure = 'NaN' WHERE id = 7;
ALTER TABLE sp_bad ADD PRIMARY KEY (id);
CREATE TABLE sp_rfm_keyed AS SELECT * FROM sp_rfm;
UPDATE sp_rfm_keyed SET monetary = 0 WHERE customer_id = (SELECT min(customer_id) FROM sp_rfm WHERE frequency > 0);
ALTER TABLE sp_rfm_keyed ADD PRIMARY KEY (customer_id);
CREATE VIEW sp_rfm_bad AS SELECT * FROM sp_rfm_keyed;
CREATE TABLE sp_rows AS SELECT id, tenure, visits, plan FROM sp_people WHERE id <= 500;
UPDATE sp_rows SET plan = 'gold' WHERE id IN (3, 4);
ALTER TABLE sp_rows ADD PRIMARY KEY (id);
CREATE TABLE sp_live_null (id int, tenure int, visits numeric, plan text, sp_err_score float8);
CREATE TABLE sp_guard AS SELECT id, id AS row_no, tenure, visits, plan, churned FROM sp_people;
ALTER TABLE sp_guard ADD PRIMARY KEY (id);
CALL profenrich.enrich('sp_guard', array['sp_victim']);
CREATE VIEW sp_guard_v AS SELECT id, row_no, tenure, visits, plan, sp_victim_score AS earlier, churned FROM sp_guard;
CREATE TABLE sp_out (mode text, what text, val text);
-- metrics to 9 digits: the updates move rows, and sums in another order differ in the last bits
CREATE FUNCTION sp_rounded(j jsonb) RETURNS text LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  SELECT string_agg(key || ' ' || round(value::numeric, 9), ', ' ORDER BY key)
  FROM jsonb_each_text(j) WHERE key <> 'version' $$;
CREATE PROCEDURE sp_run(mode pg_catalog.text) LANGUAGE plpgsql AS $$
DECLARE
  m pg_catalog.text;
  j pg_catalog.jsonb;
BEGIN
  -- training, every algorithm and path: a key, no key, vocabularies, a text target, streaming
  SELECT pg_catalog.jsonb_build_object('n', t.n_train, 'rmse', pg_catalog.round((t.metrics->'test'->>'rmse')::pg_catalog.numeric, 6)) INTO j
  FROM profenrich.train('sp_lin', 'linear', 'sp_people', 'spend', ARRAY['tenure', 'visits', 'plan']) t;
  INSERT INTO sp_out VALUES (mode, 'train linear', j::pg_catalog.text);
  SELECT pg_catalog.jsonb_build_object('n', t.n_train, 'rmse', pg_catalog.round((t.metrics->'test'->>'rmse')::pg_catalog.numeric, 6)) INTO j
  FROM profenrich.train('sp_nokey', 'linear', 'sp_nokey', 'spend', NULL, '{"max_categories": 2}') t;
  INSERT INTO sp_out VALUES (mode, 'train linear, no key', j::pg_catalog.text);
  SELECT pg_catalog.jsonb_build_object('n', t.n_train, 'auc', pg_catalog.round((t.metrics->'test'->>'auc')::pg_catalog.numeric, 6)) INTO j
  FROM profenrich.train('sp_log', 'logistic', 'sp_people', 'churned', ARRAY['tenure', 'visits', 'plan']) t;
  INSERT INTO sp_out VALUES (mode, 'train logistic', j::pg_catalog.text);
  SELECT pg_catalog.jsonb_build_object('n', t.n_train, 'auc', pg_catalog.round((t.metrics->'test'->>'auc')::pg_catalog.numeric, 6)) INTO j
  FROM profenrich.train('sp_text', 'logistic', 'sp_people', 'outcome', ARRAY['tenure', 'plan'],
                        '{"positive": "lost", "class_weight": {"lost": 2, "kept": 1}}') t;
  INSERT INTO sp_out VALUES (mode, 'train logistic, text target', j::pg_catalog.text);
  BEGIN
    PERFORM profenrich.train('sp_bad', 'logistic', 'sp_people', 'outcome', ARRAY['tenure']);
  EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS m = MESSAGE_TEXT;
    INSERT INTO sp_out VALUES (mode, 'train logistic, text target without positive', m);
  END;
  PERFORM pg_catalog.set_config('profenrich.max_train_memory', '64kB', false);
  SELECT pg_catalog.jsonb_build_object('n', t.n_train, 'path', t.metrics->'path', 'auc', pg_catalog.round((t.metrics->'train'->>'auc')::pg_catalog.numeric, 3)) INTO j
  FROM profenrich.train('sp_stream', 'logistic', 'sp_people', 'churned', ARRAY['tenure', 'visits', 'plan'],
                        '{"test_fraction": 0}') t;
  PERFORM pg_catalog.set_config('profenrich.max_train_memory', '1GB', false);
  INSERT INTO sp_out VALUES (mode, 'train logistic, streaming', j::pg_catalog.text);
  SELECT pg_catalog.jsonb_build_object('n', t.n_train, 'll', pg_catalog.round((t.metrics->>'log_likelihood')::pg_catalog.numeric, 4)) INTO j
  FROM profenrich.train('sp_bg', 'bgnbd', 'sp_rfm') t;
  INSERT INTO sp_out VALUES (mode, 'train bgnbd', j::pg_catalog.text);
  SELECT pg_catalog.jsonb_build_object('n', t.n_train, 'll', pg_catalog.round((t.metrics->>'log_likelihood')::pg_catalog.numeric, 4)) INTO j
  FROM profenrich.train('sp_pn', 'paretonbd', 'sp_rfm') t;
  INSERT INTO sp_out VALUES (mode, 'train paretonbd', j::pg_catalog.text);
  SELECT pg_catalog.jsonb_build_object('n', t.n_train, 'll', pg_catalog.round((t.metrics->>'log_likelihood')::pg_catalog.numeric, 4)) INTO j
  FROM profenrich.train('sp_gg', 'gammagamma', 'sp_rfm') t;
  INSERT INTO sp_out VALUES (mode, 'train gammagamma', j::pg_catalog.text);
  SELECT pg_catalog.jsonb_build_object('n', t.n_train, 'll', pg_catalog.round((t.metrics->>'log_likelihood')::pg_catalog.numeric, 4)) INTO j
  FROM profenrich.train('sp_clv', 'clv', 'sp_rfm_view') t;
  INSERT INTO sp_out VALUES (mode, 'train clv, through a query', j::pg_catalog.text);
  SELECT pg_catalog.jsonb_build_object('n', t.n_train, 'acc', pg_catalog.round((t.metrics->'test'->>'accuracy')::pg_catalog.numeric, 6)) INTO j
  FROM profenrich.train('sp_mn', 'multinomial', 'sp_people', 'plan', ARRAY['tenure', 'visits']) t;
  INSERT INTO sp_out VALUES (mode, 'train multinomial', j::pg_catalog.text);
  SELECT pg_catalog.jsonb_build_object('n', e->'n', 'acc', pg_catalog.round((e->>'accuracy')::pg_catalog.numeric, 6),
      'logloss', pg_catalog.round((e->>'logloss')::pg_catalog.numeric, 6)) INTO j FROM profenrich.evaluate('sp_mn') e;
  INSERT INTO sp_out VALUES (mode, 'evaluate multinomial', j::pg_catalog.text);
  INSERT INTO sp_out SELECT mode, 'multinomial outputs', pg_catalog.jsonb_build_array(profenrich.predict_class('sp_mn', p),
      (SELECT pg_catalog.array_agg(pg_catalog.round(x::pg_catalog.numeric, 6))
       FROM pg_catalog.unnest(profenrich.predict_proba('sp_mn', p)) x))::pg_catalog.text
  FROM sp_people p WHERE p.id OPERATOR(pg_catalog.=) 11;
  -- judging and explaining
  INSERT INTO sp_out VALUES
    (mode, 'evaluate linear, own split', public.sp_rounded(profenrich.evaluate('sp_lin'))),
    (mode, 'evaluate linear, no key', public.sp_rounded(profenrich.evaluate('sp_nokey'))),
    (mode, 'evaluate logistic, own split', public.sp_rounded(profenrich.evaluate('sp_log'))),
    (mode, 'evaluate logistic, a source', public.sp_rounded(profenrich.evaluate('sp_log', 'sp_people')));
  INSERT INTO sp_out SELECT mode, 'lift', pg_catalog.array_agg(l.positives ORDER BY l.bucket)::pg_catalog.text
  FROM profenrich.lift('sp_log', 'sp_people', 5) l;
  INSERT INTO sp_out SELECT mode, 'explain', pg_catalog.array_agg(e.feature ORDER BY e.feature)::pg_catalog.text
  FROM profenrich.explain('sp_log', (SELECT p FROM sp_people p WHERE p.id OPERATOR(pg_catalog.=) 7), 3) e;
  INSERT INTO sp_out SELECT mode, 'coefficients', pg_catalog.array_agg(c.feature ORDER BY c.feature)::pg_catalog.text
  FROM profenrich.coefficients('sp_log') c;
  -- issue 15: versions, own-split lift, linear explanations, factors with values, the guards of
  -- features NULL (comments through a view, the registry's names, the identifier sample),
  -- bad rows (GLM and lifetime value), a query source, cross-validation and tuning
  INSERT INTO sp_out VALUES
    (mode, 'evaluate a version', public.sp_rounded(profenrich.evaluate('sp_log', NULL, 1))),
    (mode, 'factors_detail', (SELECT pg_catalog.jsonb_array_length(profenrich.factors_detail('sp_log', p, 2))
                              FROM sp_people p WHERE p.id OPERATOR(pg_catalog.=) 7)::pg_catalog.text);
  INSERT INTO sp_out SELECT mode, 'lift, own split', pg_catalog.array_agg(l.n ORDER BY l.bucket)::pg_catalog.text
  FROM profenrich.lift('sp_log', NULL, 4, 1) l;
  INSERT INTO sp_out SELECT mode, 'lift, linear', pg_catalog.array_agg(l.n ORDER BY l.bucket)::pg_catalog.text
  FROM profenrich.lift('sp_lin', NULL, 4) l;
  INSERT INTO sp_out SELECT mode, 'explain, linear', pg_catalog.array_agg(e.feature ORDER BY e.feature)::pg_catalog.text
  FROM profenrich.explain('sp_lin', (SELECT p FROM sp_people p WHERE p.id OPERATOR(pg_catalog.=) 7), 3, 1) e;
  SELECT pg_catalog.jsonb_build_object('n', t.n_train, 'skipped', t.metrics->'n_skipped_by_reason') INTO j
  FROM profenrich.train('sp_guarded', 'logistic', 'sp_guard_v', 'churned', NULL, '{"deploy": false}') t;
  INSERT INTO sp_out VALUES (mode, 'train, features NULL', j::pg_catalog.text);
  SELECT pg_catalog.jsonb_build_object('n', t.n_train, 'skipped', t.metrics->'n_skipped_by_reason') INTO j
  FROM profenrich.train('sp_badrows', 'linear', 'sp_bad', 'spend', ARRAY['tenure', 'plan'], '{"deploy": false}') t;
  INSERT INTO sp_out VALUES (mode, 'train, a bad row', j::pg_catalog.text);
  SELECT pg_catalog.jsonb_build_object('n', t.n_train, 'skipped', t.metrics->'n_skipped_by_reason') INTO j
  FROM profenrich.train('sp_clv_bad', 'clv', 'sp_rfm_bad', options => '{"deploy": false}') t;
  INSERT INTO sp_out VALUES (mode, 'train clv, a bad row by key', j::pg_catalog.text);
  SELECT pg_catalog.jsonb_build_object('n', t.n_train, 'auc', pg_catalog.round((t.metrics->'test'->>'auc')::pg_catalog.numeric, 6)) INTO j
  FROM profenrich.train_query('sp_query', 'logistic', 'SELECT tenure, visits, plan, churned FROM public.sp_people',
                              'churned', NULL, '{"deploy": false}') t;
  INSERT INTO sp_out VALUES (mode, 'train_query', j::pg_catalog.text),
    (mode, 'evaluate a query model', public.sp_rounded(profenrich.evaluate('sp_query', NULL, 1)));
  INSERT INTO sp_out SELECT mode, 'cross_validate', pg_catalog.array_agg(pg_catalog.round((c.metrics->>'logloss')::pg_catalog.numeric, 9)
                                                                       ORDER BY c.fold)::pg_catalog.text
  FROM profenrich.cross_validate('logistic', 'sp_people', 'churned', ARRAY['tenure', 'plan'], '{}', 3) c
  WHERE c.fold IS NOT NULL;
  INSERT INTO sp_out SELECT mode, 'tune', pg_catalog.array_agg(t.chosen ORDER BY t.params::pg_catalog.text)::pg_catalog.text
  FROM profenrich.tune('sp_tuned', 'linear', 'sp_people', 'spend', ARRAY['tenure', 'visits'], '{"deploy": false}',
                       '{"l2": [0, 1000000]}', 3) t;
  INSERT INTO sp_out SELECT mode, 'coefficients clv', pg_catalog.array_agg(c.feature ORDER BY c.feature)::pg_catalog.text
  FROM profenrich.coefficients('sp_clv') c;
  INSERT INTO sp_out VALUES (mode, 'model_spec', pg_catalog.length(profenrich.model_spec('sp_log'))::pg_catalog.text),
                            (mode, 'classes', profenrich.classes('sp_text')::pg_catalog.text),
                            (mode, 'percentile', profenrich.percentile('sp_log', 0.3)::pg_catalog.text);
  -- monitoring (issue 13)
  -- (statuses: a row whose score is a decile edge falls on either side as the last bits go)
  INSERT INTO sp_out SELECT mode, 'drift', pg_catalog.array_agg(d.feature OPERATOR(pg_catalog.||) ' '
      OPERATOR(pg_catalog.||) d.status ORDER BY d.feature)::pg_catalog.text
  FROM profenrich.drift('sp_log', 'sp_parts') d;
  CALL profenrich.log_drift('sp_lin');
  INSERT INTO sp_out SELECT mode, 'log_drift', pg_catalog.array_agg(l.feature OPERATOR(pg_catalog.||) ' '
      OPERATOR(pg_catalog.||) l.status ORDER BY l.feature)::pg_catalog.text
  FROM profenrich.drift_log l WHERE l.model OPERATOR(pg_catalog.=) 'sp_lin' AND l.logged_at OPERATOR(pg_catalog.=)
      (SELECT pg_catalog.max(x.logged_at) FROM profenrich.drift_log x WHERE x.model OPERATOR(pg_catalog.=) 'sp_lin');
  INSERT INTO sp_out SELECT mode, 'roc_curve', pg_catalog.jsonb_build_array(pg_catalog.count(*),
      pg_catalog.round(pg_catalog.sum(r.tpr)::pg_catalog.numeric, 9))::pg_catalog.text
  FROM profenrich.roc_curve('sp_log', NULL, 20) r;
  INSERT INTO sp_out SELECT mode, 'calibration', pg_catalog.array_agg(c.n ORDER BY c.bin)::pg_catalog.text
  FROM profenrich.calibration('sp_log', 'sp_people') c;
  INSERT INTO sp_out SELECT mode, 'confusion_matrix', pg_catalog.array_agg(c.n ORDER BY c.actual, c.predicted)::pg_catalog.text
  FROM profenrich.confusion_matrix('sp_text', 'sp_people', 0.4) c;
  INSERT INTO sp_out SELECT mode, 'best_threshold', pg_catalog.round(b.threshold::pg_catalog.numeric, 9)::pg_catalog.text
  FROM profenrich.best_threshold('sp_log', 'sp_people', '{"fp": 1, "fn": 3}') b;
  INSERT INTO sp_out SELECT mode, 'holdout_check', pg_catalog.array_agg(h.customers ORDER BY h.frequency)::pg_catalog.text
  FROM profenrich.holdout_check('sp_bg', 'sp_rfm', 'frequency', 10) h;
  -- scoring, every form
  INSERT INTO sp_out SELECT mode, 'score and its wrappers', pg_catalog.jsonb_build_array(
      pg_catalog.round(profenrich.score('sp_lin', p)::pg_catalog.numeric, 6),
      pg_catalog.round(profenrich.score('sp_lin', 1, p)::pg_catalog.numeric, 6),
      pg_catalog.round(profenrich.score_columns('sp_lin', ARRAY['tenure', 'visits', 'plan'], p.tenure, p.visits, p.plan)::pg_catalog.numeric, 6),
      pg_catalog.round(profenrich.score_churn(p, 'sp_log')::pg_catalog.numeric, 6),
      pg_catalog.round(profenrich.score_conversion(p, 'sp_log')::pg_catalog.numeric, 6),
      pg_catalog.round(profenrich.predict_ltv(p, 'sp_lin')::pg_catalog.numeric, 6),
      profenrich.predict_class('sp_text', p),
      profenrich.classify_engagement(p, 'sp_text'),
      pg_catalog.round(profenrich.predict_proba('sp_text', p, 'lost')::pg_catalog.numeric, 6),
      (SELECT pg_catalog.array_agg(pg_catalog.round(x::pg_catalog.numeric, 6))
       FROM pg_catalog.unnest(profenrich.predict_proba('sp_log', p)) x),
      profenrich.factors('sp_log', p, 2))::pg_catalog.text
  FROM sp_people p WHERE p.id OPERATOR(pg_catalog.=) 11;
  INSERT INTO sp_out SELECT mode, 'lifetime value', pg_catalog.jsonb_build_array(
      pg_catalog.round(profenrich.predict_ltv(r, 'sp_clv')::pg_catalog.numeric, 6),
      pg_catalog.round(profenrich.expected_purchases('sp_bg', 10, r.frequency, r.recency, r.t)::pg_catalog.numeric, 6),
      pg_catalog.round(profenrich.p_alive('sp_pn', r.frequency, r.recency, r.t)::pg_catalog.numeric, 6),
      pg_catalog.round(profenrich.expected_spend('sp_gg', r.frequency, r.monetary)::pg_catalog.numeric, 6))::pg_catalog.text
  FROM sp_rfm r WHERE r.customer_id OPERATOR(pg_catalog.=) 5;
  INSERT INTO sp_out SELECT mode, 'rfm', (profenrich.rfm(s.day, s.amount, '2024-12-31'::pg_catalog.date))::pg_catalog.text
  FROM sp_purchases s WHERE s.customer_id OPERATOR(pg_catalog.=) 5;
  INSERT INTO sp_out SELECT mode, 'metric aggregates', pg_catalog.jsonb_build_array(
      pg_catalog.round(profenrich.auc(profenrich.score('sp_log', p), p.churned)::pg_catalog.numeric, 6),
      pg_catalog.round(profenrich.logloss(profenrich.score('sp_log', p), p.churned)::pg_catalog.numeric, 6),
      pg_catalog.round(profenrich.brier(profenrich.score('sp_log', p), p.churned)::pg_catalog.numeric, 6))::pg_catalog.text
  FROM sp_people p;
  INSERT INTO sp_out SELECT mode, 'profile_summary', pg_catalog.array_agg(s.column_name OPERATOR(pg_catalog.||) ':'
      OPERATOR(pg_catalog.||) s.n OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) s.distinct_values ORDER BY s.column_name)::pg_catalog.text
  FROM profenrich.profile_summary('sp_people', ARRAY['tenure', 'visits', 'plan', 'spend']) s;
  INSERT INTO sp_out SELECT mode, 'feature_report', pg_catalog.array_agg(f.feature OPERATOR(pg_catalog.||) ':'
      OPERATOR(pg_catalog.||) pg_catalog.round(f.strength::pg_catalog.numeric, 6) ORDER BY f.feature)::pg_catalog.text
  FROM profenrich.feature_report('sp_people', 'churned', ARRAY['tenure', 'visits', 'plan']) f;
  INSERT INTO sp_out SELECT mode, 'linear_stats', (profenrich.linear_stats(profenrich.model_spec('sp_lin'),
      ARRAY['spend', 'id', 'tenure', 'visits', 'plan'], p.spend, p.id, p.tenure, p.visits, p.plan) IS NOT NULL)::pg_catalog.text
  FROM sp_people p;
  -- models per group (issue 16): the grouped pass, logistic in memory and by streaming passes
  SELECT pg_catalog.jsonb_build_object('n', t.n_train, 'groups', t.metrics->'n_groups', 'rmse', pg_catalog.round((t.metrics->'groups'->'pro'->'test'->>'rmse')::pg_catalog.numeric, 6)) INTO j
  FROM profenrich.train('sp_glin', 'linear', 'sp_people', 'spend', ARRAY['tenure', 'visits'], '{"group_by": "plan"}') t;
  INSERT INTO sp_out VALUES (mode, 'train linear per group', j::pg_catalog.text);
  SELECT pg_catalog.jsonb_build_object('n', t.n_train, 'groups', t.metrics->'n_groups', 'auc', pg_catalog.round((t.metrics->'groups'->'pro'->'test'->>'auc')::pg_catalog.numeric, 6)) INTO j
  FROM profenrich.train('sp_glog', 'logistic', 'sp_people', 'churned', ARRAY['tenure', 'visits'], '{"group_by": "plan"}') t;
  INSERT INTO sp_out VALUES (mode, 'train logistic per group', j::pg_catalog.text);
  PERFORM pg_catalog.set_config('profenrich.max_train_memory', '64kB', false);
  SELECT pg_catalog.jsonb_build_object('n', t.n_train, 'path', t.metrics->'path', 'groups', t.metrics->'n_groups') INTO j
  FROM profenrich.train('sp_gstream', 'logistic', 'sp_people', 'churned', ARRAY['tenure', 'visits'], '{"group_by": "plan"}') t;
  PERFORM pg_catalog.set_config('profenrich.max_train_memory', '1GB', false);
  INSERT INTO sp_out VALUES (mode, 'train logistic per group, streaming', j::pg_catalog.text);
  INSERT INTO sp_out VALUES (mode, 'evaluate per group', public.sp_rounded(profenrich.evaluate('sp_glog')->'groups'->'free'));
  INSERT INTO sp_out SELECT mode, 'score per group', pg_catalog.jsonb_build_array(
      pg_catalog.round(profenrich.score('sp_glin', p)::pg_catalog.numeric, 6),
      pg_catalog.round(profenrich.score_churn(p, 'sp_glog')::pg_catalog.numeric, 6))::pg_catalog.text
  FROM sp_people p WHERE p.id OPERATOR(pg_catalog.=) 11;
  INSERT INTO sp_out SELECT mode, 'coefficients per group', pg_catalog.count(*)::pg_catalog.text
  FROM profenrich.coefficients('sp_glog') c WHERE c."group" IS NOT NULL;
  -- the pinned forms, over a model's params (what the planner gives queries over Citus tables)
  INSERT INTO sp_out SELECT mode, 'pinned forms', pg_catalog.jsonb_build_array(
      pg_catalog.round(profenrich.score_columns_for(m.params, m.version, 1, ARRAY['tenure', 'visits', 'plan'], p.tenure, p.visits, p.plan)::pg_catalog.numeric, 6),
      pg_catalog.round(profenrich.score_row_for(m.params, 1, p)::pg_catalog.numeric, 6),
      profenrich.class_row_for(m.params, 3, p),
      profenrich.percentile(m.params, 0.3::pg_catalog.float8, m.version),
      profenrich.factors(m.params, p, 2, m.version))::pg_catalog.text
  FROM sp_people p, profenrich.models m
  WHERE p.id OPERATOR(pg_catalog.=) 11 AND m.name OPERATOR(pg_catalog.=) 'sp_log' AND m.deployed;
  -- the ROW forms of the training aggregates (the forms Citus pushes down)
  INSERT INTO sp_out SELECT mode, 'linear_stats over rows', (profenrich.linear_stats(profenrich.model_spec('sp_lin'),
      ARRAY['spend', 'id', 'tenure', 'visits', 'plan'], ROW(p.spend, p.id, p.tenure, p.visits, p.plan)) IS NOT NULL)::pg_catalog.text
  FROM sp_people p;
  -- Citus' entry points on a node without Citus
  BEGIN
    PERFORM profenrich.sync_workers();
  EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS m = MESSAGE_TEXT;
    INSERT INTO sp_out VALUES (mode, 'sync_workers without Citus', m);
  END;
  PERFORM profenrich.worker_sync(ARRAY['sp_none'], '[]');
  INSERT INTO sp_out VALUES (mode, 'worker_sync', 'done');
  -- the registry
  PERFORM profenrich.train('sp_scratch', 'linear', 'sp_people', 'spend', ARRAY['tenure']);
  PERFORM profenrich.train('sp_scratch', 'linear', 'sp_people', 'spend', ARRAY['visits']);
  INSERT INTO sp_out VALUES (mode, 'deploy, rollback, drop_model', pg_catalog.jsonb_build_array(
      profenrich.deploy('sp_scratch', 1), profenrich.rollback('sp_scratch'), profenrich.drop_model('sp_scratch'))::pg_catalog.text);
  INSERT INTO sp_out SELECT mode, 'catalog', (pg_catalog.count(*) OPERATOR(pg_catalog.>) 0)::pg_catalog.text
  FROM profenrich.model_catalog c WHERE c.name OPERATOR(pg_catalog.=) 'sp_lin';
  -- enrichment in batches (filling, then comparing), of a partitioned table, and by the trigger
  CALL profenrich.enrich('sp_people', array['sp_log', 'sp_lin'], '{"percentile": true, "factors": 2, "batch_size": 700}');
  UPDATE sp_people SET tenure = 60 OPERATOR(pg_catalog.-) tenure WHERE id OPERATOR(pg_catalog.<) 100;
  CALL profenrich.enrich('sp_people', array['sp_log', 'sp_lin'], '{"percentile": true, "factors": 2, "batch_size": 700}');
  UPDATE sp_people SET tenure = 60 OPERATOR(pg_catalog.-) tenure WHERE id OPERATOR(pg_catalog.<) 100;
  INSERT INTO sp_out SELECT mode, 'enrich', pg_catalog.jsonb_build_array(r.rows_updated, r.status)::pg_catalog.text
  FROM profenrich.enrich_status r ORDER BY r.run_id DESC LIMIT 1;
  CALL profenrich.enrich('sp_people', array['sp_mn'], '{"probabilities": true, "factors": 2}');
  UPDATE sp_people SET tenure = 60 OPERATOR(pg_catalog.-) tenure WHERE id OPERATOR(pg_catalog.<) 100;
  CALL profenrich.enrich('sp_people', array['sp_mn'], '{"probabilities": true, "factors": 2}');
  UPDATE sp_people SET tenure = 60 OPERATOR(pg_catalog.-) tenure WHERE id OPERATOR(pg_catalog.<) 100;
  INSERT INTO sp_out SELECT mode, 'enrich class model', pg_catalog.jsonb_build_array(r.rows_updated OPERATOR(pg_catalog.>) 0, r.status)::pg_catalog.text
  FROM profenrich.enrich_status r ORDER BY r.run_id DESC LIMIT 1;
  CALL profenrich.enrich('sp_parts', array['sp_log']);
  INSERT INTO sp_out SELECT mode, 'enrich partitions', pg_catalog.jsonb_build_array(r.rows_scanned, r.status)::pg_catalog.text
  FROM profenrich.enrich_runs r ORDER BY r.run_id DESC LIMIT 1;
  INSERT INTO sp_live (id, tenure, visits, plan) VALUES (1, 5, 20, 'free');
  INSERT INTO sp_out SELECT mode, 'trigger', pg_catalog.jsonb_build_array(pg_catalog.round(l.sp_log_score::pg_catalog.numeric, 6),
      l.sp_log_pct, l.sp_log_factors)::pg_catalog.text
  FROM sp_live l;
  DELETE FROM sp_live;
  -- issue 15: a row that cannot be scored, batch by batch (written NULL, counted with its key,
  -- the batch bisected down to the block and its rows), unseen categories counted, factors with
  -- values; the trigger's on_error
  CALL profenrich.enrich('sp_rows', array['sp_err', 'sp_log'], '{"factors_detail": true, "batch_size": 200}');
  INSERT INTO sp_out SELECT mode, 'enrich, a row that fails', pg_catalog.jsonb_build_array(r.rows_failed,
      r.rows_unseen, r.first_failure_key, r.status)::pg_catalog.text
  FROM profenrich.enrich_status r ORDER BY r.run_id DESC LIMIT 1;
  UPDATE sp_rows SET sp_err_score = NULL, sp_log_score = NULL, sp_log_factors_detail = NULL;
  INSERT INTO sp_live_null (id, tenure, visits, plan) VALUES (1, 5, 20, 'gold'), (2, 5, 20, 'free');
  INSERT INTO sp_out SELECT mode, 'trigger, on_error null', pg_catalog.array_agg(l.sp_err_score IS NULL ORDER BY l.id)::pg_catalog.text
  FROM sp_live_null l;
  DELETE FROM sp_live_null;
END $$;
CREATE TRIGGER sp_live_log BEFORE INSERT OR UPDATE ON sp_live
FOR EACH ROW EXECUTE FUNCTION profenrich.enrich_trigger('sp_log', '{"factors": 2}');
SELECT name FROM profenrich.train('sp_err', 'logistic', 'sp_people', 'churned', ARRAY['tenure', 'plan'],
                                  '{"unseen": "error"}');
CREATE TRIGGER sp_live_null_err BEFORE INSERT OR UPDATE ON sp_live_null
FOR EACH ROW EXECUTE FUNCTION profenrich.enrich_trigger('sp_err', '{"on_error": "null"}');

-- the reference run, with the default search_path
CALL sp_run('default');
-- a superuser with the hostile schema first (pg_catalog is then searched before it)
SET search_path = regress_hostile, public;
CALL sp_run('hostile first');
-- and with pg_catalog placed after it explicitly
SET search_path = regress_hostile, pg_catalog, public;
CALL sp_run('pg_catalog after');
RESET search_path;

-- not one hostile object ran, and every entry point gave the same result on every path
SELECT what, count(*) AS calls FROM regress_hostile.calls GROUP BY what ORDER BY what;
-- (as any statement that is not qualified would have: the hostile objects are in the way)
SET search_path = regress_hostile, public;
SELECT ARRAY['a'] = ARRAY['a'] AS "text[] = text[]";
SET search_path = regress_hostile, pg_catalog, public;
SELECT 'a'::text = 'a' AS "text = text", count(*) AS "count(*)" FROM (VALUES (1)) v;
RESET search_path;
SELECT what FROM regress_hostile.calls ORDER BY what;
TRUNCATE regress_hostile.calls;
SELECT what, count(*) AS runs, count(DISTINCT val) AS results FROM sp_out GROUP BY what ORDER BY what;
SELECT what, val FROM sp_out WHERE mode = 'default' AND what IN ('enrich', 'enrich partitions', 'trigger')
ORDER BY what;
CALL profenrich.enrich('sp_people', array['sp_log', 'sp_lin'], '{"percentile": true, "factors": 2}');
SELECT count(*) FILTER (WHERE abs(sp_log_score - profenrich.score('sp_log', p)) < 1e-15) AS enriched_ok,
       count(*) FILTER (WHERE sp_log_factors = profenrich.factors('sp_log', p, 2)) AS factors_ok
FROM sp_people p;

-- a collation named "C" first on the path: class labels that differ by case only stay apart
-- (the statements name pg_catalog."C"; this one ignores case and would merge them)
CREATE COLLATION regress_hostile."C" (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TABLE sp_case AS SELECT i AS id, i % 7 AS tenure, (ARRAY['basic', 'Basic', 'pro'])[1 + i % 3] AS plan
FROM generate_series(1, 300) i;
SET search_path = regress_hostile, pg_catalog, public;
SELECT name FROM profenrich.train('sp_case_gb', 'gbdt', 'public.sp_case', 'plan', ARRAY['tenure'], '{"n_trees": 3}');
SELECT name FROM profenrich.train('sp_case_mn', 'multinomial', 'public.sp_case', 'plan', ARRAY['tenure']);
SELECT profenrich.classes('sp_case_gb') AS gbdt_classes, profenrich.classes('sp_case_mn') AS multinomial_classes;
RESET search_path;
DROP TABLE sp_case;

-- clean up
DROP PROCEDURE sp_run(text);
DROP FUNCTION sp_rounded(jsonb);
SELECT count(*) > 0 AS dropped FROM (SELECT profenrich.drop_model(name) FROM (SELECT DISTINCT name
    FROM profenrich.models WHERE name LIKE 'sp\_%') n) d;
DELETE FROM profenrich.drift_log WHERE model = 'sp_lin';
DROP TABLE sp_people, sp_nokey, sp_purchases, sp_rfm CASCADE;
DROP TABLE sp_parts, sp_live, sp_out, sp_victim_people;
DROP SCHEMA regress_hostile CASCADE;
DROP OWNED BY regress_mallory;
DROP ROLE regress_mallory;
RESET client_min_messages;
