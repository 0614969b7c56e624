-- What enrich writes into: partitioned tables (every partition, at any depth), inheritance
-- parents (the parent and its children), foreign tables (refused), row-level security of a parent
-- (refused when it would not apply), runs whose session ended (interrupted), and model names too
-- long for their columns.
SET client_min_messages = warning;	-- progress notices carry rates
SELECT setseed(0.23);
CREATE TABLE tgt_people AS
SELECT i AS id, (random() * 60)::int AS tenure, round((random() * 100)::numeric, 1) AS visits,
       (ARRAY['free', 'pro'])[1 + (i % 2)] AS plan, NULL::boolean AS churned
FROM generate_series(1, 3000) AS i;
UPDATE tgt_people SET churned = random() < 1 / (1 + exp(-(1 - 0.05 * tenure + (plan = 'free')::int)));
ALTER TABLE tgt_people ADD PRIMARY KEY (id);
SELECT name FROM profenrich.train('tgt_churn', 'logistic', 'tgt_people', 'churned',
                                  ARRAY['tenure', 'visits', 'plan']);

-- issue 9: enrich of a partitioned table added the columns, wrote nothing and reported
-- "enriched 0 of about 999 rows", finished.  Now every partition is written, a sub-partitioned
-- one and the default partition included, under one run.
CREATE TABLE tgt_parts (id int, tenure int, visits numeric, plan text) PARTITION BY RANGE (id);
CREATE TABLE tgt_parts_1 PARTITION OF tgt_parts FOR VALUES FROM (1) TO (1000);
CREATE TABLE tgt_parts_2 PARTITION OF tgt_parts FOR VALUES FROM (1000) TO (2000)
    PARTITION BY LIST (plan);
CREATE TABLE tgt_parts_2_free PARTITION OF tgt_parts_2 FOR VALUES IN ('free');
CREATE TABLE tgt_parts_2_other PARTITION OF tgt_parts_2 DEFAULT;
CREATE TABLE tgt_parts_rest PARTITION OF tgt_parts DEFAULT;
INSERT INTO tgt_parts SELECT id, tenure, visits, plan FROM tgt_people;
CALL profenrich.enrich('tgt_parts', array['tgt_churn'], '{"percentile": true, "batch_size": 200}');
SELECT tableoid::regclass AS partition, count(*) AS n,
       count(*) FILTER (WHERE abs(tgt_churn_score - profenrich.score('tgt_churn', p)) < 1e-15) AS scored,
       count(*) FILTER (WHERE tgt_churn_pct = profenrich.percentile('tgt_churn', tgt_churn_score)) AS pct
FROM tgt_parts p GROUP BY 1 ORDER BY 1;
SELECT target, rows_scanned, rows_updated, status FROM profenrich.enrich_runs
WHERE target = 'public.tgt_parts' ORDER BY run_id;
-- a re-run writes nothing; a changed row is written again
UPDATE tgt_parts SET tenure = 59 - tenure WHERE id IN (5, 1500, 1501, 2500);
CALL profenrich.enrich('tgt_parts', array['tgt_churn'], '{"percentile": true, "batch_size": 200}');
SELECT rows_scanned >= 3000 AS all_scanned, rows_updated, status FROM profenrich.enrich_runs
WHERE target = 'public.tgt_parts' ORDER BY run_id DESC LIMIT 1;
SELECT count(*) FILTER (WHERE abs(tgt_churn_score - profenrich.score('tgt_churn', p)) < 1e-15) AS scored
FROM tgt_parts p;
-- a partition is a table like any other
CALL profenrich.enrich('tgt_parts_1', array['tgt_churn']);
SELECT rows_scanned, rows_updated FROM profenrich.enrich_runs ORDER BY run_id DESC LIMIT 1;
-- a partitioned table without partitions has nothing to write, and says so
CREATE TABLE tgt_no_parts (id int, tenure int, visits numeric, plan text) PARTITION BY RANGE (id);
CALL profenrich.enrich('tgt_no_parts', array['tgt_churn']);
SELECT rows_scanned, rows_updated, status FROM profenrich.enrich_runs ORDER BY run_id DESC LIMIT 1;

-- an inheritance parent: the parent's own rows and every child's, including a child that had the
-- output column already (with stale values) and one with a column of its own
CREATE TABLE tgt_base (id int, tenure int, visits numeric, plan text);
CREATE TABLE tgt_kid_a (tgt_churn_score float8) INHERITS (tgt_base);
CREATE TABLE tgt_kid_b (note text) INHERITS (tgt_base);
INSERT INTO tgt_base SELECT id, tenure, visits, plan FROM tgt_people WHERE id <= 1000;
INSERT INTO tgt_kid_a SELECT id, tenure, visits, plan, -1 FROM tgt_people WHERE id BETWEEN 1001 AND 2000;
INSERT INTO tgt_kid_b SELECT id, tenure, visits, plan, 'b' FROM tgt_people WHERE id > 2000;
CALL profenrich.enrich('tgt_base', array['tgt_churn'], '{"batch_size": 300}');
SELECT tableoid::regclass AS tbl, count(*) AS n,
       count(*) FILTER (WHERE abs(tgt_churn_score - profenrich.score('tgt_churn', b)) < 1e-15) AS scored
FROM tgt_base b GROUP BY 1 ORDER BY 1;
SELECT rows_scanned >= 3000 AS all_scanned, rows_updated, status FROM profenrich.enrich_runs
ORDER BY run_id DESC LIMIT 1;

-- foreign tables, as the target or as a partition, are refused before anything is written
CREATE EXTENSION file_fdw;
CREATE SERVER tgt_files FOREIGN DATA WRAPPER file_fdw;
CREATE FOREIGN TABLE tgt_remote (id int, tenure int, visits numeric, plan text)
    SERVER tgt_files OPTIONS (filename '/dev/null', format 'csv');
SELECT public.err($$CALL profenrich.enrich('tgt_remote', array['tgt_churn'])$$);
CREATE TABLE tgt_mixed (id int, tenure int, visits numeric, plan text) PARTITION BY RANGE (id);
CREATE TABLE tgt_mixed_local PARTITION OF tgt_mixed FOR VALUES FROM (1) TO (1000);
CREATE FOREIGN TABLE tgt_mixed_remote PARTITION OF tgt_mixed FOR VALUES FROM (1000) TO (2000)
    SERVER tgt_files OPTIONS (filename '/dev/null', format 'csv');
INSERT INTO tgt_mixed_local SELECT id, tenure, visits, plan FROM tgt_people WHERE id < 1000;
SELECT public.err($$CALL profenrich.enrich('tgt_mixed', array['tgt_churn'])$$);
SELECT count(*) AS columns_added FROM information_schema.columns
WHERE table_name = 'tgt_mixed' AND column_name LIKE 'tgt_churn%';

-- a role with UPDATE on the parent but not on a partition is told so; row-level security of the
-- parent would not apply to partitions written directly, so a role it applies to is refused
CREATE ROLE regress_tgt_writer;
GRANT SELECT, UPDATE ON tgt_parts, tgt_parts_1, tgt_parts_2, tgt_parts_2_free, tgt_parts_2_other
    TO regress_tgt_writer;
SET ROLE regress_tgt_writer;
SELECT public.err($$CALL profenrich.enrich('tgt_parts', array['tgt_churn'])$$);
RESET ROLE;
GRANT SELECT, UPDATE ON tgt_parts_rest TO regress_tgt_writer;
SET ROLE regress_tgt_writer;
CALL profenrich.enrich('tgt_parts', array['tgt_churn'], '{"percentile": true}');
SELECT run_by, rows_updated, status FROM profenrich.enrich_runs ORDER BY run_id DESC LIMIT 1;
RESET ROLE;
ALTER TABLE tgt_parts ENABLE ROW LEVEL SECURITY;
CREATE POLICY tgt_parts_free ON tgt_parts USING (plan = 'free');
SET ROLE regress_tgt_writer;
SELECT public.err($$CALL profenrich.enrich('tgt_parts', array['tgt_churn'])$$);
RESET ROLE;
-- the owner is not subject to it
CALL profenrich.enrich('tgt_parts', array['tgt_churn']);
SELECT rows_scanned, status FROM profenrich.enrich_runs ORDER BY run_id DESC LIMIT 1;
DROP POLICY tgt_parts_free ON tgt_parts;
ALTER TABLE tgt_parts DISABLE ROW LEVEL SECURITY;

-- issue 9: a run killed (SIGKILL, crash, pg_terminate_backend) stayed 'running' forever.  A run
-- whose session holds no enrich lock of its table is shown as interrupted by enrich_status, and
-- the next run of the table marks it so (test/enrich_interrupted.sh kills real runs).
INSERT INTO profenrich.enrich_runs (target, target_oid, models, rows_scanned, status, run_by, pid)
VALUES ('public.tgt_people', 'tgt_people'::regclass, '{"tgt_churn": 1}', 400, 'running', current_user,
        (SELECT max(pid) + 100000 FROM pg_stat_activity)),
       ('public.tgt_base', 'tgt_base'::regclass, '{"tgt_churn": 1}', 100, 'running', current_user,
        pg_backend_pid());
SELECT e.target, e.status AS logged, s.status AS shown
FROM profenrich.enrich_runs e JOIN profenrich.enrich_status s USING (run_id)
WHERE e.status = 'running' ORDER BY e.target;
CALL profenrich.enrich('tgt_people', array['tgt_churn']);
SELECT target, status, error, finished IS NULL AS unknown_end FROM profenrich.enrich_runs
WHERE target = 'public.tgt_people' ORDER BY run_id;
-- the run of this very session while it runs: its session holds the lock, so it is running
CREATE FUNCTION pg_temp.seen_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO tgt_seen SELECT status FROM profenrich.enrich_status ORDER BY run_id DESC LIMIT 1;
  RETURN NEW;
END $$;
CREATE TABLE tgt_seen (status text);
CREATE TABLE tgt_watched AS SELECT id, tenure, visits, plan FROM tgt_people WHERE id <= 10;
CALL profenrich.enrich('tgt_watched', array['tgt_churn']);
UPDATE tgt_watched SET tgt_churn_score = NULL WHERE id = 1;
CREATE TRIGGER tgt_watch BEFORE UPDATE ON tgt_watched FOR EACH ROW EXECUTE FUNCTION pg_temp.seen_status();
CALL profenrich.enrich('tgt_watched', array['tgt_churn']);
SELECT status FROM tgt_seen;
DROP TABLE tgt_seen, tgt_watched;
DELETE FROM profenrich.enrich_runs WHERE target = 'public.tgt_base' AND status = 'running';

-- issue 9: names of 58-200 characters were accepted, enrich created <name>_score truncated to
-- 63 bytes and failed on every later run (42701), and the trigger failed every INSERT.
-- Names now have at most 52 bytes, which every output suffix fits.
SELECT public.err($$SELECT profenrich.train(repeat('n', 53), 'logistic', 'tgt_people', 'churned',
                                           ARRAY['tenure'])$$);
SELECT public.err($$SELECT profenrich.train(repeat('é', 27), 'logistic', 'tgt_people', 'churned',
                                           ARRAY['tenure'])$$);
SELECT length(name) FROM profenrich.train(repeat('n', 52), 'logistic', 'tgt_people', 'churned',
                                          ARRAY['tenure', 'plan']);
CREATE TABLE tgt_long AS SELECT id, tenure, visits, plan FROM tgt_people WHERE id <= 500;
CALL profenrich.enrich('tgt_long', array[repeat('n', 52)], '{"percentile": true, "factors": 2}');
CALL profenrich.enrich('tgt_long', array[repeat('n', 52)], '{"percentile": true, "factors": 2}');
SELECT length(column_name) AS len, right(column_name, 8) AS ends FROM information_schema.columns
WHERE table_name = 'tgt_long' AND column_name LIKE 'nnn%' ORDER BY 1, 2;
SELECT rows_updated, status FROM profenrich.enrich_runs ORDER BY run_id DESC LIMIT 1;
-- a model stored by 0.4.0 with a longer name still scores; enrich and the trigger refuse its
-- default columns with a hint, and write those named in "columns"
UPDATE profenrich.models SET name = repeat('o', 70) WHERE name = repeat('n', 52);
SELECT count(*) = count(profenrich.score(repeat('o', 70), p)) AS scores FROM tgt_long p;
SELECT public.err(format($$CALL profenrich.enrich('tgt_long', array[%L])$$, repeat('o', 70)));
SELECT public.err(format($$CALL profenrich.enrich('tgt_long', array[%L], %L)$$, repeat('o', 70),
                         jsonb_build_object('percentile', true, 'columns',
                                            jsonb_build_object(repeat('o', 70), '{"score": "old_score"}'::jsonb))));
CALL profenrich.enrich('tgt_long', array[repeat('o', 70)],
     jsonb_build_object('percentile', true, 'columns',
                        jsonb_build_object(repeat('o', 70), '{"score": "old_score", "percentile": "old_pct"}'::jsonb)));
SELECT count(*) FILTER (WHERE old_score = profenrich.score(repeat('o', 70), p)) AS renamed_ok FROM tgt_long p;
CREATE TABLE tgt_long_rt (LIKE tgt_long);
SELECT format($$CREATE TRIGGER tgt_long_rt BEFORE INSERT ON tgt_long_rt FOR EACH ROW
                EXECUTE FUNCTION profenrich.enrich_trigger(%L)$$, repeat('o', 70)) \gexec
SELECT public.err($$INSERT INTO tgt_long_rt (id, tenure, visits, plan) VALUES (1, 3, 4, 'free')$$);
DROP TRIGGER tgt_long_rt ON tgt_long_rt;
SELECT format($$CREATE TRIGGER tgt_long_rt BEFORE INSERT ON tgt_long_rt FOR EACH ROW
                EXECUTE FUNCTION profenrich.enrich_trigger(%L, %L)$$, repeat('o', 70),
              jsonb_build_object('columns', jsonb_build_object(repeat('o', 70),
                                 '{"score": "old_score", "percentile": "old_pct"}'::jsonb))) \gexec
INSERT INTO tgt_long_rt (id, tenure, visits, plan) VALUES (1, 3, 4, 'free');
SELECT old_score = profenrich.score(repeat('o', 70), r) AS trigger_scores, old_pct IS NOT NULL AS pct
FROM tgt_long_rt r;
SELECT profenrich.drop_model(repeat('o', 70));

DROP OWNED BY regress_tgt_writer;
DROP ROLE regress_tgt_writer;
RESET client_min_messages;
