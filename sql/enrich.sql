-- Enrichment in place: insight wrappers, CALL enrich (columns, percentiles, factors, batches,
-- change-only writes, runs log, atomic in a transaction block, interruption), the real-time
-- trigger, and errors.
SET client_min_messages = warning;	-- progress notices carry rates
SELECT profenrich.drop_model(name) FROM (SELECT DISTINCT name FROM profenrich.models
                                         WHERE name IN ('churn', 'ltv')) m;
SELECT setseed(0.11);
CREATE TABLE people AS
SELECT i AS person_id, (random() * 60)::int AS tenure, round((random() * 100)::numeric, 1) AS visits,
       (ARRAY['free', 'pro'])[1 + (i % 2)] AS plan, NULL::boolean AS churned, 0.0::float8 AS spend
FROM generate_series(1, 4000) AS i;
UPDATE people SET churned = random() < 1 / (1 + exp(-(1 - 0.05 * tenure - 0.02 * visits::float8 + (plan = 'free')::int))),
                  spend = 10 + 2 * tenure + 0.5 * visits::float8 + random() * 5;
ALTER TABLE people ADD PRIMARY KEY (person_id);
SELECT name FROM profenrich.train('churn', 'logistic', 'people', 'churned', ARRAY['tenure', 'visits', 'plan']);
SELECT name FROM profenrich.train('ltv', 'linear', 'people', 'spend', ARRAY['tenure', 'visits', 'plan']);

-- insight wrappers: score() of the named model, checked for its task
SELECT bool_and(profenrich.score_churn(p) = profenrich.score('churn', p)) AS churn_is_score,
       bool_and(profenrich.predict_ltv(p) = profenrich.score('ltv', p)) AS ltv_is_score,
       bool_and(profenrich.score_conversion(p, 'churn') = profenrich.score('churn', p)) AS conversion_named
FROM people p;
SELECT public.err($$SELECT profenrich.score_churn(p, 'ltv') FROM people p$$);
SELECT public.err($$SELECT profenrich.predict_ltv(p, 'churn') FROM people p$$);
SELECT public.err($$SELECT profenrich.score_conversion(p) FROM people p$$);
-- scoring a given version; the percentile in the training population
SELECT bool_and(profenrich.score('churn', 1, p) = profenrich.score('churn', p)) AS version_1 FROM people p;
SELECT profenrich.percentile('churn', 0) AS lowest, profenrich.percentile('churn', 1) AS highest,
       profenrich.percentile('churn', NULL) IS NULL AS null_in_null_out;

-- enrich adds the columns (factors for models with explanations: linear and logistic ones), labels
-- and fills them
CALL profenrich.enrich('people', array['churn', 'ltv'], '{"percentile": true, "factors": 2, "batch_size": 500}');
SELECT column_name, data_type, col_description('people'::regclass, ordinal_position) AS comment
FROM information_schema.columns WHERE table_name = 'people' AND ordinal_position > 6 ORDER BY ordinal_position;
SELECT count(*) FILTER (WHERE abs(churn_score - profenrich.score_churn(p)) < 1e-15) AS churn_ok,
       count(*) FILTER (WHERE ltv_score = profenrich.predict_ltv(p)) AS ltv_ok,
       count(*) FILTER (WHERE churn_pct = profenrich.percentile('churn', churn_score)) AS pct_ok,
       count(*) FILTER (WHERE churn_factors = profenrich.factors('churn', p, 2)) AS factors_ok
FROM people p;
-- percentiles against the training population: roughly uniform over the profiles
SELECT min(churn_pct), max(churn_pct), round(avg(churn_pct)) AS avg_pct FROM people;
SELECT rows_scanned >= 4000 AS all_scanned, rows_updated, status, models FROM profenrich.enrich_runs ORDER BY run_id;
-- a re-run with unchanged models and data writes no row
CALL profenrich.enrich('people', array['churn', 'ltv'], '{"percentile": true, "factors": 2}');
SELECT rows_updated, status FROM profenrich.enrich_runs ORDER BY run_id DESC LIMIT 1;
-- a new version is picked up, and only changed rows are written
SELECT name, version FROM profenrich.train('ltv', 'linear', 'people', 'spend', ARRAY['tenure', 'plan']);
CALL profenrich.enrich('people', array['ltv'], '{"batch_size": 100000}');
SELECT rows_updated > 3900 AS rewritten, models FROM profenrich.enrich_runs ORDER BY run_id DESC LIMIT 1;
SELECT col_description('people'::regclass, 10) AS ltv_comment;
-- columns can be renamed
CALL profenrich.enrich('people', array['ltv'], '{"columns": {"ltv": {"score": "lifetime_value"}}}');
SELECT count(*) FILTER (WHERE lifetime_value = ltv_score) AS renamed_equal FROM people;

-- inside a transaction block the run is atomic
UPDATE people SET ltv_score = NULL;
BEGIN;
CALL profenrich.enrich('people', array['ltv']);
SELECT count(ltv_score) AS filled_inside FROM people;
ROLLBACK;
SELECT count(ltv_score) AS after_rollback FROM people;

-- an interrupted run keeps its committed batches and is logged as failed; running again finishes
CREATE TABLE crowd AS SELECT i AS person_id, (i % 60) AS tenure, (i % 100)::numeric AS visits,
       (ARRAY['free', 'pro'])[1 + (i % 2)] AS plan FROM generate_series(1, 400000) AS i;
\set VERBOSITY terse
\set SHOW_CONTEXT never
SET statement_timeout = '300ms';
CALL profenrich.enrich('crowd', array['churn'], '{"batch_size": 2000}');
RESET statement_timeout;
\set VERBOSITY default
\set SHOW_CONTEXT errors
SELECT status, error FROM profenrich.enrich_runs WHERE target = 'public.crowd';
SELECT count(churn_score) > 0 AS some_batches_kept, count(churn_score) < 400000 AS not_all FROM crowd;
CALL profenrich.enrich('crowd', array['churn'], '{"batch_size": 50000}');
SELECT count(*) = count(churn_score) AS all_scored FROM crowd;
SELECT status, rows_updated < 400000 AS only_the_rest FROM profenrich.enrich_runs
WHERE target = 'public.crowd' ORDER BY run_id DESC LIMIT 1;

-- the real-time trigger scores NEW and writes the columns that exist
CREATE TRIGGER people_churn BEFORE INSERT OR UPDATE ON people
FOR EACH ROW EXECUTE FUNCTION profenrich.enrich_trigger('churn', '{"factors": 2}');
INSERT INTO people (person_id, tenure, visits, plan) VALUES (5000, 2, 1, 'free')
RETURNING person_id, round(churn_score::numeric, 6) AS churn_score, churn_pct, churn_factors;
SELECT abs(churn_score - profenrich.score_churn(p)) < 1e-15 AS same_as_batch,
       churn_pct = profenrich.percentile('churn', churn_score) AS same_percentile
FROM people p WHERE person_id = 5000;
UPDATE people SET tenure = 59, visits = 99 WHERE person_id = 5000
RETURNING round(churn_score::numeric, 6) AS churn_score_after_update, churn_pct;
DROP TRIGGER people_churn ON people;

-- the trigger's append path (outputs last, NULL in NEW) and its general path write the same
-- values and keep every other column, across text, NULLs and a dropped column
CREATE TABLE walkin (person_id int, note text, tenure int, gone int, visits numeric, plan text, flag bool);
ALTER TABLE walkin DROP COLUMN gone;
ALTER TABLE walkin ADD COLUMN churn_pct smallint, ADD COLUMN churn_score float8;
CREATE TABLE walkin_plain AS SELECT * FROM walkin;
CREATE TRIGGER walkin_churn BEFORE INSERT OR UPDATE ON walkin
FOR EACH ROW EXECUTE FUNCTION profenrich.enrich_trigger('churn');
CREATE FUNCTION pg_temp.walkin_rows(n int) RETURNS SETOF walkin_plain LANGUAGE sql AS $$
  SELECT i, CASE WHEN i % 3 > 0 THEN repeat('x', i % 300) END, CASE WHEN i % 7 > 0 THEN i % 60 END,
         (i % 100)::numeric / 3, CASE WHEN i % 5 > 0 THEN (ARRAY['free', 'pro'])[1 + i % 2] END,
         CASE WHEN i % 4 > 0 THEN i % 2 = 0 END, NULL::smallint, CASE WHEN i % 11 = 0 THEN -1 END
  FROM generate_series(1, n) AS i $$;
INSERT INTO walkin SELECT * FROM pg_temp.walkin_rows(3000);
INSERT INTO walkin_plain SELECT * FROM pg_temp.walkin_rows(3000);
CREATE FUNCTION pg_temp.walkin_check() RETURNS TABLE (n bigint, intact bigint, scores bigint, pcts bigint)
LANGUAGE sql AS $$
  SELECT count(*),
         count(*) FILTER (WHERE (a.note, a.tenure, a.visits, a.plan, a.flag)
                                IS NOT DISTINCT FROM (b.note, b.tenure, b.visits, b.plan, b.flag)),
         count(*) FILTER (WHERE abs(a.churn_score - profenrich.score('churn', b)) < 1e-15),
         count(*) FILTER (WHERE a.churn_pct = profenrich.percentile('churn', a.churn_score))
  FROM walkin a JOIN walkin_plain b USING (person_id) $$;
SELECT * FROM pg_temp.walkin_check();
-- updates (outputs already set) and a column after the outputs take the general path
UPDATE walkin SET tenure = 60 - coalesce(tenure, 0) WHERE person_id % 2 = 0;
UPDATE walkin_plain SET tenure = 60 - coalesce(tenure, 0) WHERE person_id % 2 = 0;
ALTER TABLE walkin ADD COLUMN tail text;
INSERT INTO walkin SELECT r.*, CASE WHEN r.person_id % 2 = 0 THEN 'tail' END
FROM pg_temp.walkin_rows(4000) r WHERE r.person_id > 3000;
INSERT INTO walkin_plain SELECT * FROM pg_temp.walkin_rows(4000) r WHERE r.person_id > 3000;
SELECT * FROM pg_temp.walkin_check();
SELECT count(tail) AS tails FROM walkin;

-- errors
CREATE VIEW people_view AS SELECT * FROM people;
SELECT public.err($$CALL profenrich.enrich('people_view', array['churn'])$$);
SELECT public.err($$CALL profenrich.enrich('people', array['nosuch'])$$);
SELECT public.err($$CALL profenrich.enrich('people', array['churn', 'churn'])$$);
SELECT public.err($$CALL profenrich.enrich('people', array[]::text[])$$);
CREATE TABLE thin AS SELECT person_id, tenure FROM people;
SELECT public.err($$CALL profenrich.enrich('thin', array['churn'])$$);
ALTER TABLE thin ADD COLUMN visits numeric, ADD COLUMN plan text, ADD COLUMN churn_score text;
SELECT public.err($$CALL profenrich.enrich('thin', array['churn'])$$);
SELECT public.err($$CALL profenrich.enrich('people', array['churn'], '{"batchsize": 10}')$$);
SELECT public.err($$CALL profenrich.enrich('people', array['churn'], '{"batch_size": 0}')$$);
SELECT public.err($$CALL profenrich.enrich('people', array['churn'], '{"percentile": null}')$$);
SELECT public.err($$CALL profenrich.enrich('people', array['churn'], '[{"percentile": true}]')$$);
SELECT public.err($$CALL profenrich.enrich('people', array['churn'], '{"factors": -1}')$$);
SELECT public.err($$CALL profenrich.enrich('people', array['churn'], '{"columns": {"ltv": {"score": "x"}}}')$$);
SELECT public.err($$CALL profenrich.enrich('people', array['churn'], '{"columns": {"churn": {"bogus": "x"}}}')$$);
SELECT public.err($$SELECT profenrich.enrich_trigger()$$);
CREATE TRIGGER thin_churn BEFORE INSERT ON thin FOR EACH ROW EXECUTE FUNCTION profenrich.enrich_trigger('churn');
SELECT public.err($$INSERT INTO thin (person_id) VALUES (1)$$);
DROP TRIGGER thin_churn ON thin;
CREATE TRIGGER thin_after AFTER INSERT ON thin FOR EACH ROW EXECUTE FUNCTION profenrich.enrich_trigger('churn');
SELECT public.err($$INSERT INTO thin (person_id) VALUES (1)$$);
DROP TRIGGER thin_after ON thin;
CREATE ROLE regress_profenrich_reader;
GRANT SELECT ON people TO regress_profenrich_reader;
SET ROLE regress_profenrich_reader;
SELECT public.err($$CALL profenrich.enrich('people', array['churn'])$$);
RESET ROLE;
REVOKE ALL ON people FROM regress_profenrich_reader;
DROP ROLE regress_profenrich_reader;
RESET client_min_messages;
