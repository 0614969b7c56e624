-- A new connection pays for what it uses: a backend that scores, enriches or reads the
-- registry maps no OpenBLAS, LAPACK, gfortran, quadmath or libmvec and runs no extra thread;
-- the first training opens OpenBLAS (its threads, when profenrich.blas_threads > 1, take no
-- signal); errors when the library is missing. Then the split of sources without a key: its
-- reproduction by evaluate(name), under serial and parallel plans, and for models of 0.4.0.
SET client_min_messages = warning;
-- What this backend has mapped and runs, from /proc (as superuser); in public, as the test
-- opens new connections
CREATE FUNCTION public.lz_numeric_maps() RETURNS int LANGUAGE sql AS $$
  SELECT count(*)::int FROM regexp_split_to_table(pg_read_file('/proc/' || pg_backend_pid() || '/maps'), E'\n') l
  WHERE l ~ '(openblas|lapack|gfortran|quadmath|tmglib)' $$;
CREATE FUNCTION public.lz_mvec_maps() RETURNS int LANGUAGE sql AS $$
  SELECT count(*)::int FROM regexp_split_to_table(pg_read_file('/proc/' || pg_backend_pid() || '/maps'), E'\n') l
  WHERE l ~ 'libmvec' $$;
CREATE FUNCTION public.lz_threads() RETURNS int LANGUAGE sql AS $$
  SELECT count(*)::int FROM pg_ls_dir('/proc/' || pg_backend_pid() || '/task') $$;
-- What a statement raised, a cancel included (plpgsql's OTHERS does not catch it)
CREATE FUNCTION public.lz_outcome(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE q;
  RETURN 'no error';
EXCEPTION WHEN query_canceled OR others THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- Models of every kind, trained in this first connection
SELECT setseed(0.29);
CREATE TABLE lz_people AS
SELECT i AS person_id, (random() * 60)::int AS tenure, round((random() * 100)::numeric, 1) AS visits,
       (ARRAY['free', 'pro'])[1 + (i % 2)] AS plan, NULL::boolean AS churned, 0.0::float8 AS spend
FROM generate_series(1, 3000) AS i;
UPDATE lz_people SET churned = random() < 1 / (1 + exp(-(1 - 0.05 * tenure - 0.02 * visits::float8 + (plan = 'free')::int))),
                     spend = 10 + 2 * tenure + 0.5 * visits::float8 + random() * 5;
ALTER TABLE lz_people ADD PRIMARY KEY (person_id);
SELECT name FROM profenrich.train('lz_churn', 'logistic', 'lz_people', 'churned', ARRAY['tenure', 'visits', 'plan']);
SELECT name FROM profenrich.train('lz_spend', 'linear', 'lz_people', 'spend', ARRAY['tenure', 'visits', 'plan']);
SELECT name FROM profenrich.train('lz_ltv', 'clv', 'sim');
CREATE TABLE lz_walkin (LIKE lz_people, lz_churn_score float8);
CREATE TRIGGER lz_walkin_churn BEFORE INSERT ON lz_walkin
FOR EACH ROW EXECUTE FUNCTION profenrich.enrich_trigger('lz_churn');
CREATE TABLE lz_expect AS
SELECT profenrich.score('lz_churn', p) AS churn, profenrich.score('lz_spend', p) AS spend
FROM lz_people p WHERE person_id = 7;
SELECT public.lz_numeric_maps() > 0 AS trainer_mapped_openblas;

-- A new connection: scoring of every kind, enrich, the trigger, the registry's readers
\c
SET client_min_messages = warning;
SELECT profenrich.score('lz_churn', p) = (SELECT churn FROM lz_expect) AS churn_scored,
       profenrich.score('lz_spend', p) = (SELECT spend FROM lz_expect) AS spend_scored,
       profenrich.score_churn(p, 'lz_churn') BETWEEN 0 AND 1 AS wrapper_scored
FROM lz_people p WHERE person_id = 7;
SELECT count(*) = count(profenrich.predict_ltv(s, 'lz_ltv')) AS ltv_scored,
       bool_and(profenrich.p_alive('lz_ltv', frequency, recency, t) BETWEEN 0 AND 1) AS p_alive_scored
FROM sim s WHERE id <= 100;
CALL profenrich.enrich('lz_people', array['lz_churn', 'lz_spend'], '{"percentile": true, "factors": 2}');
SELECT count(*) FILTER (WHERE lz_churn_score = profenrich.score('lz_churn', p)) AS churn_written,
       count(*) FILTER (WHERE lz_spend_score = profenrich.score('lz_spend', p)) AS spend_written
FROM lz_people p;
INSERT INTO lz_walkin (person_id, tenure, visits, plan) VALUES (1, 12, 40.5, 'pro');
SELECT lz_churn_score = profenrich.score('lz_churn', w) AS trigger_scored FROM lz_walkin w;
SELECT count(*) AS coefficients FROM profenrich.coefficients('lz_churn');
SELECT (profenrich.evaluate('lz_spend')->>'n')::int > 0 AS evaluated,
       count(*) AS lift_buckets FROM profenrich.lift('lz_churn', 'lz_people', 5);
SELECT count(*) AS explained FROM profenrich.explain('lz_churn', (SELECT p FROM lz_people p WHERE person_id = 7), 2);
SELECT count(*) AS versions FROM profenrich.models WHERE name LIKE 'lz\_%';
SELECT length(profenrich.model_spec('lz_spend')) > 0 AS spec_read;
-- ... and nothing numeric is mapped, no thread runs
SELECT public.lz_numeric_maps() AS numeric_maps, public.lz_mvec_maps() AS mvec_maps,
       public.lz_threads() AS threads;

-- The first training opens OpenBLAS, with one thread (blas_threads = 1): none is started
SELECT n_train FROM profenrich.train('lz_spend', 'linear', 'lz_people', 'spend', ARRAY['tenure', 'visits', 'plan'],
                                     '{"deploy": false}');
SELECT public.lz_numeric_maps() > 0 AS openblas_mapped, public.lz_threads() AS threads;
-- blas_threads = 2 starts OpenBLAS's second thread, with every signal the backend handles
-- blocked (SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGTERM, SIGCHLD, SIGURG)
SET profenrich.blas_threads = 2;
SELECT public.lz_threads() AS threads;
SELECT t::int <> pg_backend_pid() AS blas_thread,
       (SELECT bool_and(get_bit(('x' || lpad(substring(pg_read_file('/proc/' || pg_backend_pid() || '/task/' || t || '/status')
                                                 FROM 'SigBlk:\s*(\w+)'), 16, '0'))::bit(64), 64 - s) = 1)
        FROM unnest(ARRAY[1, 2, 3, 10, 12, 14, 15, 17, 23]) s) AS signals_blocked
FROM pg_ls_dir('/proc/' || pg_backend_pid() || '/task') t ORDER BY 1;
-- the same coefficients with two threads (linear and logistic, to 1e-9 relative)
SELECT name FROM profenrich.train('lz_spend_t2', 'linear', 'lz_people', 'spend', ARRAY['tenure', 'visits', 'plan']);
SELECT name FROM profenrich.train('lz_churn_t2', 'logistic', 'lz_people', 'churned', ARRAY['tenure', 'visits', 'plan']);
SELECT bool_and(abs(a.coef - b.coef) <= 1e-9 * greatest(abs(a.coef), 1e-9)) AS linear_same,
       bool_and(abs(a.std_err - b.std_err) <= 1e-9 * a.std_err) AS linear_se_same
FROM profenrich.coefficients('lz_spend', 1) a JOIN profenrich.coefficients('lz_spend_t2') b USING (feature);
SELECT bool_and(abs(a.coef - b.coef) <= 1e-9 * greatest(abs(a.coef), 1e-9)) AS logistic_same
FROM profenrich.coefficients('lz_churn') a JOIN profenrich.coefficients('lz_churn_t2') b USING (feature);
-- a training with the second thread running still takes its statement_timeout: a linear fit
-- of 400 one-hot slots over 200,000 rows (seconds of work), cancelled after 300 ms
CREATE TABLE lz_wide AS SELECT i, 'c' || (i % 400) AS c, (i % 7)::float8 AS y FROM generate_series(1, 200000) i;
SET statement_timeout = '300ms';
CREATE TEMP TABLE lz_cancel AS
SELECT clock_timestamp() AS t0, public.lz_outcome($$SELECT profenrich.train('lz_wide', 'linear', 'lz_wide', 'y',
         ARRAY['c'], '{"max_categories": 400}')$$) AS outcome, clock_timestamp() AS t1;
RESET statement_timeout;
SELECT outcome, t1 - t0 < interval '10 s' AS promptly FROM lz_cancel;
SELECT public.lz_threads() AS threads, count(*) AS lz_wide_models FROM profenrich.models WHERE name = 'lz_wide';
-- the library cannot change once this session has opened it
SELECT public.err($$SET profenrich.blas_library = 'libopenblas.so.3'$$);
RESET profenrich.blas_threads;

-- A missing library is a clear error, and the session trains once it is found
\c
SET client_min_messages = warning;
SET profenrich.blas_library = 'libprofenrich_missing.so.0';
SELECT public.err($$SELECT profenrich.train('lz_x', 'linear', 'lz_people', 'spend', ARRAY['tenure'])$$);
SET profenrich.blas_library = 'libm.so.6';
SELECT public.err($$SELECT profenrich.train('lz_x', 'linear', 'lz_people', 'spend', ARRAY['tenure'])$$);
SELECT public.lz_numeric_maps() AS numeric_maps;
RESET profenrich.blas_library;
SELECT n_train FROM profenrich.train('lz_x', 'linear', 'lz_people', 'spend', ARRAY['tenure']);
-- a role that is not superuser cannot point the module at another file
CREATE ROLE lz_user;
SET ROLE lz_user;
SELECT public.err($$SET profenrich.blas_library = '/tmp/evil.so'$$);
RESET ROLE;
-- the first score of a backend reads the registry's index directly, for every role: a role
-- without SELECT on the registry still scores with a deployed model (see sql/privileges.sql)
GRANT SELECT ON lz_people, lz_expect TO lz_user;
REVOKE SELECT ON profenrich.models FROM PUBLIC;
SET ROLE lz_user;
SELECT public.err($$SELECT profenrich.score('lz_spend', p) FROM lz_people p WHERE person_id = 7$$);
RESET ROLE;
GRANT SELECT ON profenrich.models TO PUBLIC;
SET ROLE lz_user;
SELECT profenrich.score('lz_spend', p) = (SELECT spend FROM lz_expect) AS scored_with_select
FROM lz_people p WHERE person_id = 7;
RESET ROLE;
REVOKE SELECT ON lz_people, lz_expect FROM lz_user;
DROP ROLE lz_user;

-- Sources without a key: the split hashes each row's encoded values and target, so
-- evaluate(name) reproduces the test split of a table without a primary key and of a view:
-- the same n as the training's n_test and the same test metrics (to 1e-9)
CREATE TABLE lz_nokey AS SELECT * FROM lz_people;
UPDATE lz_nokey SET visits = NULL WHERE person_id % 13 = 0;	-- NULLs imputed, hashed as 0
CREATE VIEW lz_nokey_view AS SELECT * FROM lz_nokey WHERE person_id % 5 <> 0;
SELECT name, n_train, n_test FROM profenrich.train('lz_nk_lin', 'linear', 'lz_nokey', 'spend', ARRAY['tenure', 'visits', 'plan']);
SELECT name, n_train, n_test FROM profenrich.train('lz_nk_log', 'logistic', 'lz_nokey_view', 'churned', ARRAY['tenure', 'visits', 'plan']);
SET profenrich.max_train_memory = 64;	-- the same split by streaming passes
SELECT name, n_train, n_test FROM profenrich.train('lz_nk_logs', 'logistic', 'lz_nokey_view', 'churned', ARRAY['tenure', 'visits', 'plan']);
RESET profenrich.max_train_memory;
CREATE FUNCTION pg_temp.same(a jsonb, b jsonb, keys text[]) RETURNS bool LANGUAGE sql AS $$
  SELECT bool_and(abs((a->>k)::float8 - (b->>k)::float8) <= 1e-9 * greatest(abs((a->>k)::float8), 1e-9))
  FROM unnest(keys) k $$;
SELECT m.name, (e->>'n')::int = m.n_test AS n_is_n_test, m.metrics->>'path' AS path,
       pg_temp.same(e, m.metrics->'test', CASE m.algorithm WHEN 'linear' THEN ARRAY['rmse', 'mae', 'r2']
                    ELSE ARRAY['auc', 'logloss', 'brier', 'accuracy', 'base_rate'] END) AS same_metrics
FROM profenrich.models m, profenrich.evaluate(m.name) e
WHERE m.name IN ('lz_nk_lin', 'lz_nk_log', 'lz_nk_logs') ORDER BY 1;
-- the fit saw the rows the metrics call its training rows: memory and streaming agree
SELECT bool_and(abs(a.coef - b.coef) <= 1e-6 * greatest(abs(a.coef), 1e-6)) AS memory_equals_streaming
FROM profenrich.coefficients('lz_nk_log') a JOIN profenrich.coefficients('lz_nk_logs') b USING (feature);
-- about a fifth held out; with test_fraction 0, nothing
SELECT round(n_test::numeric / (n_train + n_test), 1) AS share FROM profenrich.models WHERE name = 'lz_nk_lin';
SELECT n_train, n_test FROM profenrich.train('lz_nk_all', 'linear', 'lz_nokey', 'spend', ARRAY['tenure'],
                                             '{"test_fraction": 0}');
SELECT public.err($$SELECT profenrich.evaluate('lz_nk_all')$$);

-- The keyless split under a forced parallel plan equals the serial one
SET max_parallel_workers_per_gather = 0;
SELECT n_train, n_test FROM profenrich.train('lz_nk_serial', 'linear', 'lz_nokey', 'spend', ARRAY['tenure', 'visits', 'plan']);
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF)
SELECT profenrich.linear_stats((SELECT profenrich.model_spec('lz_nk_serial')),
                               ARRAY['spend', 'tenure', 'visits', 'plan'], spend, tenure, visits, plan)
FROM public.lz_nokey;
SELECT n_train, n_test FROM profenrich.train('lz_nk_parallel', 'linear', 'lz_nokey', 'spend', ARRAY['tenure', 'visits', 'plan']);
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
SELECT bool_and(abs(s.coef - p.coef) <= 1e-10 * greatest(abs(s.coef), s.std_err)) AS coef_equal
FROM profenrich.coefficients('lz_nk_serial') s JOIN profenrich.coefficients('lz_nk_parallel') p USING (feature);
SELECT pg_temp.same(s.metrics->'test', p.metrics->'test', ARRAY['rmse', 'mae', 'r2']) AS test_metrics_equal
FROM profenrich.models s, profenrich.models p WHERE s.name = 'lz_nk_serial' AND p.name = 'lz_nk_parallel';

-- Models trained by 0.4.0 on a source without a key (model format 4: the split hashed each
-- row's bytes, differently by training path), as test/reference/legacy_keyless.sql made
-- them: evaluate(name) reproduces the split of the linear one and of the in-memory logistic
-- one, and says it cannot for the logistic one trained by streaming passes
CREATE TABLE public.legacy_src AS
SELECT i,
       ((i * 7919) % 1000) / 100.0::float8 AS a,
       CASE WHEN i % 11 = 0 THEN NULL ELSE ((i * 104729) % 997) / 99.7::float8 END AS b,
       (ARRAY['x', 'y', 'z'])[1 + i % 3] AS c
FROM generate_series(1, 3000) AS i;
ALTER TABLE public.legacy_src
  ADD COLUMN y float8, ADD COLUMN label boolean;
UPDATE public.legacy_src
   SET y = 1 + 0.5 * a - 0.3 * coalesce(b, 5) + (c = 'y')::int + ((i * 31337) % 1009) / 1009.0,
       label = ((i * 48271) % 1000) / 1000.0 < 1 / (1 + exp(-0.8 * (a - 5) + (c = 'z')::int));
\set ECHO none
\i test/data/legacy_keyless_models.sql
\set ECHO all
SELECT name, n_test, get_byte(params, 5) AS model_format FROM profenrich.models
WHERE name LIKE 'legacy\_%' ORDER BY 1;
SELECT m.name, (e->>'n')::int = m.n_test AS n_is_n_test,
       pg_temp.same(e, m.metrics->'test', CASE m.algorithm WHEN 'linear' THEN ARRAY['rmse', 'mae', 'r2']
                    ELSE ARRAY['auc', 'logloss', 'brier', 'accuracy', 'base_rate'] END) AS same_metrics
FROM profenrich.models m, profenrich.evaluate(m.name) e
WHERE m.name IN ('legacy_lin', 'legacy_logm') ORDER BY 1;
SELECT public.err($$SELECT profenrich.evaluate('legacy_logs')$$);
-- they still score, and a source can still be passed
SELECT (profenrich.evaluate('legacy_logs', 'legacy_src')->>'n')::int AS n_all_rows;
SELECT count(profenrich.drop_model(name)) AS models_dropped
FROM (SELECT DISTINCT name FROM profenrich.models WHERE name LIKE 'lz\_%' OR name LIKE 'legacy\_%') m;
DROP TABLE lz_people, lz_walkin, lz_wide, lz_nokey, lz_expect CASCADE;
DROP TABLE public.legacy_src;
DROP FUNCTION public.lz_numeric_maps(), public.lz_mvec_maps(), public.lz_threads(), public.lz_outcome(text);
