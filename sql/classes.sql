-- Class outputs of class models (issue 10): classes, predict_class, predict_proba (all, or one
-- class), classify_engagement, each planner-rewritten into its columns form; evaluate on the
-- model's own test split and on any relation; enrich and the trigger writing the class, its
-- probability and every probability; the errors.  (The fit is checked in sql/multinomial.sql
-- and against R's nnet::multinom in test/multinomial_reference.sql; mn_eng and mn_engagement come
-- from sql/multinomial.sql.)
SELECT profenrich.deploy('mn_engagement') > 0 AS deployed;
CREATE TABLE cl_people AS SELECT * FROM mn_eng;
ALTER TABLE cl_people ADD PRIMARY KEY (id);

-- every form gives the same: rewritten (a table row), composite (a constructed row)
EXPLAIN (COSTS OFF, VERBOSE)
SELECT profenrich.predict_class('mn_engagement', p), profenrich.predict_proba('mn_engagement', p),
       profenrich.predict_proba('mn_engagement', p, 'loyal'), profenrich.classify_engagement(p, 'mn_engagement')
FROM cl_people p;
SELECT count(*) AS n,
       count(*) FILTER (WHERE c = profenrich.predict_class('mn_engagement', r)) AS composite_class_same,
       count(*) FILTER (WHERE c = e) AS engagement_wrapper_same,
       count(*) FILTER (WHERE abs(pl - pr[2]) < 1e-15) AS class_probability_is_its_element,
       count(*) FILTER (WHERE pr = profenrich.predict_proba('mn_engagement', r)) AS composite_probs_same
FROM (SELECT profenrich.predict_class('mn_engagement', p) AS c,
             profenrich.classify_engagement(p, 'mn_engagement') AS e,
             profenrich.predict_proba('mn_engagement', p) AS pr,
             profenrich.predict_proba('mn_engagement', p, 'loyal') AS pl,
             (SELECT r FROM (SELECT p.visits, p.spend, p.channel, p.newsletter) r) AS r
      FROM cl_people p) q;
-- the classes are in model order: predict_proba's k-th element is classes()[k]
SELECT profenrich.classes('mn_engagement') AS classes,
       (profenrich.classes('mn_engagement'))[2] = 'loyal' AS second_is_loyal;
-- a text result has the collation of the call: DISTINCT ON and ORDER BY work on it
SELECT DISTINCT ON (profenrich.predict_class('mn_engagement', p)) profenrich.predict_class('mn_engagement', p) AS class
FROM cl_people p ORDER BY profenrich.predict_class('mn_engagement', p);

-- evaluate on the model's own test split equals the test metrics of training
SELECT (m.metrics->'test'->>'n')::int = (e->>'n')::int AS same_n,
       abs((m.metrics->'test'->>'logloss')::float8 - (e->>'logloss')::float8) < 1e-12 AS same_logloss,
       abs((m.metrics->'test'->>'accuracy')::float8 - (e->>'accuracy')::float8) < 1e-12 AS same_accuracy,
       abs((m.metrics->'test'->>'macro_f1')::float8 - (e->>'macro_f1')::float8) < 1e-12 AS same_macro_f1,
       abs((m.metrics->'test'->>'auc')::float8 - (e->>'auc')::float8) < 1e-12 AS same_auc
FROM profenrich.models m, profenrich.evaluate('mn_engagement') e
WHERE m.name = 'mn_engagement' AND m.deployed;
-- on a relation: n, accuracy and the log loss recomputed in SQL from predict_proba; a class the
-- model does not know is counted, not scored
INSERT INTO cl_people (id, visits, spend, channel, newsletter, engagement)
VALUES (100001, 3, 10, 'web', false, 'vip');
SELECT (e->>'n')::int = count(*) FILTER (WHERE engagement <> 'vip') AS n_known,
       (e->>'unknown_class_rows')::int AS unknown_class_rows,
       abs((e->>'accuracy')::float8 - avg((c = engagement)::int) FILTER (WHERE engagement <> 'vip')) < 1e-12 AS accuracy,
       abs((e->>'logloss')::float8 - avg(-ln(pr[array_position(profenrich.classes('mn_engagement'), engagement)]))
                                       FILTER (WHERE engagement <> 'vip')) < 1e-12 AS logloss
FROM (SELECT p.engagement, profenrich.predict_class('mn_engagement', p) AS c,
             profenrich.predict_proba('mn_engagement', p) AS pr FROM cl_people p) q,
     profenrich.evaluate('mn_engagement', 'cl_people') e
GROUP BY e;
DELETE FROM cl_people WHERE id = 100001;

-- enrich: <model>_class, <model>_score (the class's probability), with "probabilities" a jsonb of
-- every class; a second run writes nothing; a changed profile is written again
SET client_min_messages = warning;
CALL profenrich.enrich('cl_people', array['mn_engagement'], '{"probabilities": true, "factors": 2, "batch_size": 1000}');
RESET client_min_messages;
SELECT column_name, data_type FROM information_schema.columns
WHERE table_name = 'cl_people' AND column_name LIKE 'mn_engagement%' ORDER BY ordinal_position;
SELECT count(*) AS n,
       count(*) FILTER (WHERE mn_engagement_class = profenrich.predict_class('mn_engagement', p)) AS class_ok,
       count(*) FILTER (WHERE mn_engagement_score = profenrich.predict_proba('mn_engagement', p, mn_engagement_class)) AS score_ok,
       count(*) FILTER (WHERE (mn_engagement_probs->>'dormant')::float8 = (profenrich.predict_proba('mn_engagement', p))[1]
                          AND (mn_engagement_probs->>'regular')::float8 = (profenrich.predict_proba('mn_engagement', p))[4]) AS probs_ok,
       count(*) FILTER (WHERE mn_engagement_factors = profenrich.factors('mn_engagement', p, 2)) AS factors_ok
FROM cl_people p;
SET client_min_messages = warning;
CALL profenrich.enrich('cl_people', array['mn_engagement'], '{"probabilities": true, "factors": 2}');
RESET client_min_messages;
SELECT rows_updated FROM profenrich.enrich_runs ORDER BY run_id DESC LIMIT 1;
UPDATE cl_people SET visits = 29 - visits WHERE id <= 10;
SET client_min_messages = warning;
CALL profenrich.enrich('cl_people', array['mn_engagement'], '{"probabilities": true, "factors": 2}');
RESET client_min_messages;
SELECT rows_updated BETWEEN 1 AND 10 AS changed_rows_only FROM profenrich.enrich_runs ORDER BY run_id DESC LIMIT 1;

-- the trigger writes the same columns for a new and an updated profile
CREATE TRIGGER cl_now BEFORE INSERT OR UPDATE ON cl_people
FOR EACH ROW EXECUTE FUNCTION profenrich.enrich_trigger('mn_engagement', '{"factors": 2}');
INSERT INTO cl_people (id, visits, spend, channel, newsletter) VALUES (200001, 25, 400, 'app', true);
UPDATE cl_people SET visits = 1 WHERE id = 1;
SELECT id, mn_engagement_class = profenrich.predict_class('mn_engagement', p) AS class_ok,
       mn_engagement_score = profenrich.predict_proba('mn_engagement', p, mn_engagement_class) AS score_ok,
       mn_engagement_probs = (SELECT jsonb_object_agg(c, pr) FROM unnest(profenrich.classes('mn_engagement'),
                              profenrich.predict_proba('mn_engagement', p)) AS u(c, pr)) AS probs_ok,
       mn_engagement_factors = profenrich.factors('mn_engagement', p, 2) AS factors_ok
FROM cl_people p WHERE id IN (1, 200001) ORDER BY id;
DROP TRIGGER cl_now ON cl_people;

-- bad input
SELECT public.err($$SELECT profenrich.score('mn_engagement', p) FROM cl_people p LIMIT 1$$);
SELECT public.err($$SELECT profenrich.predict_proba('mn_engagement', p, 'vip') FROM cl_people p LIMIT 1$$);
SELECT public.err($$SELECT profenrich.classify_engagement(c) FROM customers c LIMIT 1$$);
SELECT name FROM profenrich.train('cl_spend', 'linear', 'customers', 'spend', ARRAY['age', 'visits']);
SELECT public.err($$SELECT profenrich.classify_engagement(c, 'cl_spend') FROM customers c LIMIT 1$$);
SELECT public.err($$SELECT profenrich.predict_class('cl_spend', c) FROM customers c LIMIT 1$$);
SELECT public.err($$SELECT profenrich.classes('cl_spend')$$);
SELECT profenrich.drop_model('cl_spend');
DROP TABLE cl_people;
