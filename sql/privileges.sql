-- Who may read and write what profenrich keeps (issue 9): the registry's vocabularies and
-- parameters only for roles that may read the model's source, a public catalog of models,
-- scoring for every role, the run log written only by enrich, the deployment log an
-- append-only audit that rollback replays.
SET client_min_messages = warning;
CREATE ROLE regress_alice;          -- trains on her own table
CREATE ROLE regress_alice_team;     -- has alice's privileges
CREATE ROLE regress_bob;            -- may read nothing of alice's
CREATE ROLE regress_carol;          -- may read alice's table
CREATE ROLE regress_dave;           -- may read alice's RLS-protected table, not every row of it
GRANT regress_alice TO regress_alice_team;
GRANT INSERT, UPDATE, DELETE ON profenrich.models TO regress_alice;
CREATE SCHEMA alice AUTHORIZATION regress_alice;
GRANT USAGE ON SCHEMA alice TO PUBLIC;
SET ROLE regress_alice;
CREATE TABLE alice.clients AS
SELECT i AS id, (ARRAY['Abernathy', 'Bergstrom', 'Castellano', 'Dimitrov'])[1 + i % 4] AS surname,
       (i % 50) AS tenure, (i % 3 = 0) AS churned
FROM generate_series(1, 400) i;
ALTER TABLE alice.clients ADD PRIMARY KEY (id);
CREATE TABLE alice.vip AS SELECT * FROM alice.clients;
ALTER TABLE alice.vip ADD COLUMN owner name NOT NULL DEFAULT 'regress_alice';
UPDATE alice.vip SET owner = 'regress_dave' WHERE surname = 'Abernathy';
ALTER TABLE alice.vip ENABLE ROW LEVEL SECURITY;
CREATE POLICY vip_own ON alice.vip USING (owner = current_user);
GRANT SELECT ON alice.clients TO regress_carol;
GRANT SELECT ON alice.vip TO regress_carol, regress_dave;
SELECT name, version FROM profenrich.train('surnames', 'logistic', 'alice.clients', 'churned',
                                           ARRAY['surname', 'tenure']);
SELECT name, version FROM profenrich.train('vip', 'logistic', 'alice.vip', 'churned',
                                           ARRAY['surname', 'tenure']);
RESET ROLE;

-- issue 9: the registry was readable by PUBLIC, vocabularies included.  Each role sees the rows
-- of models whose source it may read, or that a role whose privileges it has trained.
CREATE FUNCTION pg_temp.sees() RETURNS TABLE (who name, surnames text, vip text) LANGUAGE sql AS $$
  SELECT current_user,
         (SELECT string_agg(v, ',' ORDER BY v) FROM profenrich.models m,
                 jsonb_array_elements_text(m.features->'columns'->0->'levels') v
          WHERE m.name = 'surnames'),
         (SELECT string_agg(v, ',' ORDER BY v) FROM profenrich.models m,
                 jsonb_array_elements_text(m.features->'columns'->0->'levels') v
          WHERE m.name = 'vip') $$;
SELECT * FROM pg_temp.sees();
SET ROLE regress_alice;       SELECT * FROM pg_temp.sees(); RESET ROLE;
SET ROLE regress_alice_team;  SELECT * FROM pg_temp.sees(); RESET ROLE;
SET ROLE regress_bob;         SELECT * FROM pg_temp.sees(); RESET ROLE;
SET ROLE regress_carol;       SELECT * FROM pg_temp.sees(); RESET ROLE;
SET ROLE regress_dave;        SELECT * FROM pg_temp.sees(); RESET ROLE;
-- without the source's schema, no row either
REVOKE USAGE ON SCHEMA alice FROM PUBLIC;
SET ROLE regress_carol;       SELECT * FROM pg_temp.sees(); RESET ROLE;
GRANT USAGE ON SCHEMA alice TO PUBLIC;

-- every role reads the catalog, and scores with any model
SET ROLE regress_bob;
SELECT name, version, algorithm, source, target, trained_by, deployed, metrics ? 'test' AS metrics
FROM profenrich.model_catalog WHERE name IN ('surnames', 'vip') ORDER BY name;
SELECT round(profenrich.score('surnames', r)::numeric, 6) AS score,
       profenrich.predict_class('surnames', r) AS class,
       profenrich.factors('surnames', r, 1) AS factor,
       (SELECT count(*) FROM profenrich.explain('surnames', r, 2)) AS explained,
       profenrich.percentile('surnames', 0.5) BETWEEN 1 AND 100 AS pct,
       profenrich.classes('surnames') AS classes
FROM (SELECT 'Bergstrom'::text AS surname, 7 AS tenure) r;
SELECT round(profenrich.score('surnames', r)::numeric, 6) =
       round(profenrich.score('surnames', 1, r)::numeric, 6) AS by_version
FROM (SELECT 'Bergstrom'::text AS surname, 7 AS tenure) r;
-- but what a model learned is read only by those who may see its row
SELECT public.err($$SELECT * FROM profenrich.coefficients('surnames')$$);
SELECT public.err($$SELECT profenrich.model_spec('surnames')$$);
RESET ROLE;
SET ROLE regress_carol;
SELECT feature FROM profenrich.coefficients('surnames') ORDER BY 1;
SELECT length(profenrich.model_spec('surnames')) > 0 AS spec;
SELECT public.err($$SELECT * FROM profenrich.coefficients('vip')$$);
RESET ROLE;
SET ROLE regress_alice_team;
SELECT count(*) AS vip_coefficients FROM profenrich.coefficients('vip');
RESET ROLE;

-- grants on the registry decide who trains, deploys and drops, whatever it may read
CREATE TABLE public.bob_people AS SELECT id, surname, tenure FROM alice.clients WHERE id <= 100;
ALTER TABLE public.bob_people OWNER TO regress_bob;
SET ROLE regress_bob;
SELECT public.err($$SELECT profenrich.train('bobs', 'linear', 'bob_people', 'tenure')$$);
SELECT public.err($$SELECT profenrich.deploy('surnames', 1)$$);
SELECT public.err($$SELECT profenrich.rollback('surnames')$$);
SELECT public.err($$SELECT profenrich.drop_model('surnames')$$);
RESET ROLE;
GRANT UPDATE ON profenrich.models TO regress_bob;
SET ROLE regress_bob;
SELECT profenrich.deploy('surnames', 1) AS deployed_by_bob;
-- a direct UPDATE reaches only the rows bob may see: he cannot make alice's model his own
UPDATE profenrich.models SET trained_by = 'regress_bob';
SELECT count(*) AS bobs_rows FROM profenrich.models;
RESET ROLE;
SELECT count(*) AS still_alices FROM profenrich.models WHERE trained_by = 'regress_alice';
REVOKE UPDATE ON profenrich.models FROM regress_bob;
-- a training by a role with column privileges records it as the trainer, who sees the model
GRANT SELECT (id, tenure, churned) ON alice.clients TO regress_bob;
GRANT INSERT ON profenrich.models TO regress_bob;
SET ROLE regress_bob;
SELECT name, version, deployed FROM profenrich.train('bobs', 'linear', 'alice.clients', 'tenure',
                                                     ARRAY['churned'], '{"deploy": false}');
SELECT name, trained_by FROM profenrich.models ORDER BY name;
RESET ROLE;
REVOKE ALL ON alice.clients FROM regress_bob;
REVOKE INSERT ON profenrich.models FROM regress_bob;

-- issue 9: PUBLIC had INSERT and UPDATE on enrich_runs, and any role rewrote others' runs.
-- Only enrich writes it, recording the caller; each role reads the runs of tables it may read
-- and its own.
SET ROLE regress_alice;
CALL profenrich.enrich('alice.clients', array['surnames']);
RESET ROLE;
SET ROLE regress_bob;
CALL profenrich.enrich('public.bob_people', array['surnames']);
SELECT target, run_by, rows_updated, status FROM profenrich.enrich_runs ORDER BY run_id;
SELECT target, status FROM profenrich.enrich_status ORDER BY run_id;
SELECT public.err($$INSERT INTO profenrich.enrich_runs (target, models) VALUES ('alice.clients', '{}')$$);
SELECT public.err($$UPDATE profenrich.enrich_runs SET status = 'failed'$$);
SELECT public.err($$DELETE FROM profenrich.enrich_runs$$);
RESET ROLE;
SET ROLE regress_carol;
SELECT target, run_by FROM profenrich.enrich_runs ORDER BY run_id;
RESET ROLE;
SELECT target, run_by, status FROM profenrich.enrich_runs
WHERE target IN ('alice.clients', 'public.bob_people') ORDER BY run_id;

-- issue 9: rollback and drop_model deleted rows of the deployment log.  It is an append-only
-- audit now: who deployed, rolled back or dropped which version, when; rollback replays it.
SELECT version, action, deployed_by FROM profenrich.deployments WHERE name = 'surnames'
ORDER BY deploy_id;
SELECT public.err($$UPDATE profenrich.deployments SET version = 9$$);
SELECT public.err($$DELETE FROM profenrich.deployments$$);
SELECT public.err($$TRUNCATE profenrich.deployments$$);
GRANT INSERT ON profenrich.deployments TO regress_alice;
GRANT USAGE ON SEQUENCE profenrich.deployments_deploy_id_seq TO regress_alice;
SET ROLE regress_alice;
SELECT public.err($$INSERT INTO profenrich.deployments (name, version) VALUES ('surnames', 1)$$);
RESET ROLE;
REVOKE INSERT ON profenrich.deployments FROM regress_alice;
REVOKE USAGE ON SEQUENCE profenrich.deployments_deploy_id_seq FROM regress_alice;
-- the stack the log replays: deploy pushes, rollback pops to the version below (skipping the
-- one deployed then and versions dropped since), drop removes a version, and a version number
-- reused after its drop is a new entry
CREATE TABLE audit_src AS SELECT i AS id, i % 7 AS a, i % 5 AS b, 2.0 * i AS y FROM generate_series(1, 100) i;
SELECT version FROM profenrich.train('audited', 'linear', 'audit_src', 'y', ARRAY['a']);
SELECT version FROM profenrich.train('audited', 'linear', 'audit_src', 'y', ARRAY['b']);
SELECT version FROM profenrich.train('audited', 'linear', 'audit_src', 'y', ARRAY['a', 'b']);
SELECT profenrich.rollback('audited') AS back_to_2, profenrich.rollback('audited') AS back_to_1;
SELECT public.err($$SELECT profenrich.rollback('audited')$$);
SELECT profenrich.deploy('audited', 3) AS three, profenrich.deploy('audited', 2) AS two,
       profenrich.drop_model('audited', 3) AS drop_three;
SELECT profenrich.rollback('audited') AS skips_dropped_3;
SELECT profenrich.drop_model('audited', 2) AS drop_two;
SELECT version FROM profenrich.train('audited', 'linear', 'audit_src', 'y', ARRAY['b']) AS new_2;
SELECT profenrich.deploy('audited', 1) AS one, profenrich.rollback('audited') AS back_to_new_2,
       profenrich.rollback('audited') AS back_to_1_again;
SELECT string_agg(action || ' ' || version, ', ' ORDER BY deploy_id) AS log
FROM profenrich.deployments WHERE name = 'audited';
SELECT profenrich.drop_model('audited') AS dropped;
SELECT count(*) AS log_kept FROM profenrich.deployments WHERE name = 'audited';

-- clean up
DROP TABLE public.bob_people, audit_src;
SELECT profenrich.drop_model(name) FROM (VALUES ('surnames'), ('vip'), ('bobs')) v(name);
DROP SCHEMA alice CASCADE;
DROP OWNED BY regress_alice, regress_alice_team, regress_bob, regress_carol, regress_dave;
DROP ROLE regress_alice_team, regress_alice, regress_bob, regress_carol, regress_dave;
RESET client_min_messages;
