-- Multinomial regression: class targets of every type, two classes as logistic, explanation,
-- warm start and streaming, a forced parallel plan, warnings, cancellation and every bad input.
-- (The agreement with R's nnet::multinom and scikit-learn is in test/multinomial_reference.sql.)

-- engagement classes drawn from a known softmax model of four features (fixed seed)
SELECT setseed(0.42);
CREATE TABLE mn_eng AS
SELECT i AS id, (random() * 30)::int AS visits, round((random() * 500)::numeric, 2) AS spend,
       (ARRAY['web', 'app', 'store'])[1 + (i % 3)] AS channel, random() < 0.3 AS newsletter,
       random() AS u, NULL::text AS engagement
FROM generate_series(1, 4000) AS i;
UPDATE mn_eng SET engagement = CASE WHEN u < p0 THEN 'dormant' WHEN u < p0 + p1 THEN 'loyal'
                                 WHEN u < p0 + p1 + p2 THEN 'occasional' ELSE 'regular' END
FROM (SELECT id AS pid, 1 / s AS p0, exp(e1) / s AS p1, exp(e2) / s AS p2
      FROM (SELECT id, e1, e2, 1 + exp(e1) + exp(e2) + exp(e3) AS s
            FROM (SELECT id, -2 + 0.15 * visits + 0.004 * spend::float8 + 0.5 * newsletter::int AS e1,
                         -0.5 + 0.05 * visits + CASE channel WHEN 'app' THEN 0.8 ELSE 0 END AS e2,
                         -1 + 0.1 * visits + 0.002 * spend::float8 AS e3 FROM mn_eng) e) s) p
WHERE id = pid;
ALTER TABLE mn_eng DROP COLUMN u;
ALTER TABLE mn_eng ADD PRIMARY KEY (id);
ANALYZE mn_eng;
SELECT engagement, count(*) FROM mn_eng GROUP BY 1 ORDER BY 1;

SELECT name, algorithm, n_train, n_test, metrics->>'converged' AS converged, metrics->>'path' AS path,
       metrics->>'solver' AS solver, metrics->>'rank' AS rank
FROM profenrich.train('mn_engagement', 'multinomial', 'mn_eng', 'engagement', NULL, '{"seed": 3}');
SELECT profenrich.classes('mn_engagement');
SELECT jsonb_object_keys(metrics->'test') AS test_metric FROM profenrich.models WHERE name = 'mn_engagement' ORDER BY 1;
SELECT jsonb_object_keys(metrics->'test'->'per_class'->'loyal') AS per_class_metric
FROM profenrich.models WHERE name = 'mn_engagement' ORDER BY 1;
SELECT (metrics->'test'->>'accuracy')::float8 BETWEEN 0.45 AND 0.75 AS useful_accuracy,
       (metrics->'test'->>'auc')::float8 BETWEEN 0.6 AND 0.9 AS useful_auc,
       (metrics->>'iterations')::int BETWEEN 3 AND 10 AS few_iterations,
       (SELECT sum(v::int) FROM jsonb_array_elements(metrics->'test'->'confusion_matrix') r,
               jsonb_array_elements_text(r) v) = n_test AS confusion_adds_up
FROM profenrich.models WHERE name = 'mn_engagement';
-- estimates near the true model (4000 rows): loyal visits 0.15, spend 0.004, newsletter 0.5;
-- occasional visits 0.05, channel=app 0.8; regular visits 0.1, spend 0.002
SELECT class, feature, round(coef::numeric, 2) AS coef, p_value < 0.001 AS significant
FROM profenrich.coefficients('mn_engagement') ORDER BY class, feature;
-- exp(coef) is the odds ratio against the reference class
SELECT bool_and(abs(odds_ratio - exp(coef)) < 1e-12 * odds_ratio) AS odds_ratios
FROM profenrich.coefficients('mn_engagement') WHERE coef IS NOT NULL;

-- the probabilities add up to 1, predict_class is the most probable class
SELECT bool_and(abs(p[1] + p[2] + p[3] + p[4] - 1) < 1e-12) AS sums_to_one,
       bool_and(c = (profenrich.classes('mn_engagement'))[array_position(p, greatest(p[1], p[2], p[3], p[4]))])
         AS most_probable
FROM (SELECT profenrich.predict_proba('mn_engagement', e) AS p, profenrich.predict_class('mn_engagement', e) AS c
      FROM mn_eng e) q;
-- score() of a model with more than two classes is refused
SELECT public.err($$SELECT profenrich.score('mn_engagement', e) FROM mn_eng e LIMIT 1$$);

-- explain: the baseline and the contributions add up to the log-odds of the predicted class
-- against the reference; for a row predicted in the reference class, to the log-odds of the
-- reference against its closest rival
CREATE TEMP TABLE mn_rows_by_class AS
SELECT DISTINCT ON (c) c, id FROM (SELECT id, profenrich.predict_class('mn_engagement', e) COLLATE "C" AS c FROM mn_eng e) q
ORDER BY c, id;
SELECT r.c AS predicted,
       abs(x.total - CASE WHEN r.c = 'dormant'
                          THEN ln(p[1] / greatest(p[2], p[3], p[4]))
                          ELSE ln(p[array_position(profenrich.classes('mn_engagement'), r.c)] / p[1]) END) < 1e-10
         AS adds_up
FROM mn_rows_by_class r
CROSS JOIN LATERAL (SELECT profenrich.predict_proba('mn_engagement', e) AS p FROM mn_eng e WHERE e.id = r.id) q
CROSS JOIN LATERAL (SELECT sum(contribution) AS total
                    FROM profenrich.explain('mn_engagement', (SELECT e FROM mn_eng e WHERE e.id = r.id), 100)) x
ORDER BY 1;
SELECT feature FROM profenrich.explain('mn_engagement', (SELECT e FROM mn_eng e WHERE id = 1), 2);

-- every target type: text, enum (declared in sort order), integer codes give the same model;
-- integer classes sort by value, booleans false then true
CREATE TYPE mn_eng_level AS ENUM ('dormant', 'loyal', 'occasional', 'regular');
CREATE TABLE mn_eng_types AS
SELECT id, visits, spend, channel, newsletter, engagement::mn_eng_level AS level,
       CASE engagement WHEN 'dormant' THEN 1 WHEN 'loyal' THEN 2 WHEN 'occasional' THEN 10 ELSE 20 END AS code,
       (engagement = 'loyal') AS is_loyal
FROM mn_eng;
ALTER TABLE mn_eng_types ADD PRIMARY KEY (id);
SELECT name FROM profenrich.train('mn_eng_enum', 'multinomial', 'mn_eng_types', 'level',
       ARRAY['visits', 'spend', 'channel', 'newsletter'], '{"seed": 3}');
SELECT name FROM profenrich.train('mn_eng_code', 'multinomial', 'mn_eng_types', 'code',
       ARRAY['visits', 'spend', 'channel', 'newsletter'], '{"seed": 3}');
SELECT profenrich.classes('mn_eng_enum') AS enum_classes, profenrich.classes('mn_eng_code') AS integer_classes;
SELECT bool_and(abs(a.coef - b.coef) < 1e-10 AND abs(a.coef - c.coef) < 1e-10) AS same_fit, count(*)
FROM profenrich.coefficients('mn_engagement') a
JOIN profenrich.coefficients('mn_eng_enum') b USING (class, feature)
JOIN (SELECT CASE class WHEN '2' THEN 'loyal' WHEN '10' THEN 'occasional' ELSE 'regular' END AS class,
             feature, coef FROM profenrich.coefficients('mn_eng_code')) c USING (class, feature)
WHERE a.coef IS NOT NULL;

-- an enum declared in another order: its classes in that order, the first the reference;
-- the same probabilities
CREATE TYPE mn_eng_rank AS ENUM ('regular', 'occasional', 'loyal', 'dormant');
CREATE TABLE mn_eng_ranked AS SELECT id, visits, spend, channel, newsletter, engagement::mn_eng_rank AS level FROM mn_eng;
ALTER TABLE mn_eng_ranked ADD PRIMARY KEY (id);
SELECT name FROM profenrich.train('mn_eng_ranked', 'multinomial', 'mn_eng_ranked', 'level',
       ARRAY['visits', 'spend', 'channel', 'newsletter'], '{"seed": 3}');
SELECT profenrich.classes('mn_eng_ranked') AS declared_order,
       max(greatest(abs(a[1] - b[4]), abs(a[2] - b[3]), abs(a[3] - b[2]), abs(a[4] - b[1]))) < 1e-9
         AS same_probabilities
FROM (SELECT profenrich.predict_proba('mn_engagement', e) AS a, profenrich.predict_proba('mn_eng_ranked', e) AS b
      FROM mn_eng e) q;

-- two classes: the same probabilities as logistic (class 'true' against the reference 'false')
SELECT name FROM profenrich.train('mn_loyal_mn', 'multinomial', 'mn_eng_types', 'is_loyal',
       ARRAY['visits', 'spend', 'channel', 'newsletter'], '{"seed": 3}');
SELECT name FROM profenrich.train('mn_loyal_lg', 'logistic', 'mn_eng_types', 'is_loyal',
       ARRAY['visits', 'spend', 'channel', 'newsletter'], '{"seed": 3}');
SELECT profenrich.classes('mn_loyal_mn') AS boolean_classes,
       max(abs((profenrich.predict_proba('mn_loyal_mn', e))[2] - profenrich.score('mn_loyal_lg', e))) < 1e-9
         AS same_probabilities
FROM mn_eng_types e;
-- every coefficient, channel's reference level (its most frequent, as for every model without
-- a penalty) aliased in both
SELECT bool_and(abs(m.coef - l.coef) < 1e-8 * greatest(abs(l.coef), 1) AND abs(m.std_err - l.std_err) < 1e-8 * l.std_err)
         FILTER (WHERE l.coef IS NOT NULL) AS same_coefficients,
       bool_and((m.coef IS NULL) = (l.coef IS NULL)) AS same_aliased,
       string_agg(feature, ', ') FILTER (WHERE m.coef IS NULL) AS aliased,
       (SELECT features->'columns'->2->>'reference' FROM profenrich.models WHERE name = 'mn_loyal_mn') AS reference
FROM profenrich.coefficients('mn_loyal_mn') m JOIN profenrich.coefficients('mn_loyal_lg') l USING (feature);
SELECT abs((m.metrics->'test'->>'logloss')::float8 - (l.metrics->'test'->>'logloss')::float8) < 1e-9 AS same_logloss,
       abs((m.metrics->'test'->>'auc')::float8 - (l.metrics->'test'->>'auc')::float8) < 1e-12 AS same_auc
FROM profenrich.models m, profenrich.models l WHERE m.name = 'mn_loyal_mn' AND l.name = 'mn_loyal_lg';

-- options every feature-spec algorithm takes, and the stored effective options
SELECT name FROM profenrich.train('mn_eng_opts', 'multinomial', 'mn_eng', 'engagement',
       ARRAY['visits', 'spend', 'channel', 'newsletter'],
       '{"key": "id", "seed": 9, "test_fraction": 0.3, "impute": "skip", "max_categories": 1, "l2": 0.5,
         "class_weight": {"loyal": 2, "dormant": 0.5}, "max_iter": 20, "tol": 1e-9}');
SELECT options FROM profenrich.models WHERE name = 'mn_eng_opts';
SELECT feature FROM profenrich.coefficients('mn_eng_opts') WHERE class = 'loyal';

-- separation: a feature that gives a class away; the fit stops with finite coefficients
CREATE TABLE mn_leak AS SELECT id, visits, engagement, (engagement = 'loyal')::int * 10 + id % 3 AS mn_leak FROM mn_eng;
SELECT name, metrics->>'converged' AS converged FROM profenrich.train('mn_leak', 'multinomial', 'mn_leak', 'engagement');
SELECT bool_and(coef IS NULL OR abs(coef) < 1e6) AS finite FROM profenrich.coefficients('mn_leak');
SELECT name, metrics->>'converged' AS converged FROM profenrich.train('mn_leak_l2', 'multinomial', 'mn_leak', 'engagement', NULL, '{"l2": 1}');
-- not converged within max_iter: a warning
SELECT name, metrics->>'converged' AS converged, metrics->>'iterations' AS iterations
FROM profenrich.train('mn_short', 'multinomial', 'mn_eng', 'engagement', NULL, '{"max_iter": 1}');

-- large data: a warm start on a subsample, then full-data Newton steps, gives the model of the
-- streaming path, which starts from the class shares and passes over every row
SELECT setseed(0.77);
CREATE TABLE mn_big AS SELECT i AS id, random() AS a, random() AS b, (i % 5)::text AS c, random() AS u
FROM generate_series(1, 150000) i;
ALTER TABLE mn_big ADD COLUMN y text;
UPDATE mn_big SET y = CASE WHEN u < 1 / (1 + exp(1 + 2 * a - b) + exp(-0.5 + a + (c = '3')::int))
                        THEN 'p' WHEN u < (1 + exp(1 + 2 * a - b)) / (1 + exp(1 + 2 * a - b) + exp(-0.5 + a + (c = '3')::int))
                        THEN 'q' ELSE 'r' END;
ALTER TABLE mn_big DROP COLUMN u;
ALTER TABLE mn_big ADD PRIMARY KEY (id);
ANALYZE mn_big;
SELECT metrics->>'path' AS path, metrics->>'converged' AS converged
FROM profenrich.train('mn_big_mem', 'multinomial', 'mn_big', 'y', NULL, '{"test_fraction": 0}');
SET client_min_messages = warning;
SET profenrich.max_train_memory = '1MB';
SELECT metrics->>'path' AS path, metrics->>'converged' AS converged
FROM profenrich.train('mn_big_stream', 'multinomial', 'mn_big', 'y', NULL, '{"test_fraction": 0}');
RESET client_min_messages;
-- (each converges to about 1e-9 of a standardized coefficient, here some 4e-8 of a standard
-- error: the coefficients agree to 1e-8, relative above 1 and absolute below, the standard
-- errors to 1e-9 relative)
SELECT bool_and(abs(m.coef - s.coef) <= 1e-8 * greatest(abs(s.coef), 1) AND abs(m.std_err - s.std_err) <= 1e-9 * s.std_err)
       AS same_model, count(*)
FROM profenrich.coefficients('mn_big_mem') m JOIN profenrich.coefficients('mn_big_stream') s USING (class, feature)
WHERE s.coef IS NOT NULL;

-- a forced parallel plan: multinomial_step runs as Partial Aggregate in workers, combines
-- through serialize/deserialize, and the streaming fit equals the serial one
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF)
SELECT profenrich.multinomial_step((SELECT profenrich.model_spec('mn_big_stream')),
                                   '{0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}'::float8[],
                                   ARRAY['p', 'q', 'r'], ARRAY['y', 'id', 'a', 'b', 'c'], y, id, a, b, c)
FROM mn_big;
SET client_min_messages = warning;
SELECT metrics->>'path' AS path FROM profenrich.train('mn_big_parallel', 'multinomial', 'mn_big', 'y', NULL, '{"test_fraction": 0}');
RESET client_min_messages;
SELECT bool_and(abs(p.coef - s.coef) <= 1e-10 * abs(s.coef) AND abs(p.std_err - s.std_err) <= 1e-10 * s.std_err)
       AS parallel_equals_serial, count(*)
FROM profenrich.coefficients('mn_big_parallel') p JOIN profenrich.coefficients('mn_big_stream') s USING (class, feature)
WHERE s.coef IS NOT NULL;
SELECT abs((p.metrics->'train'->>'log_likelihood')::float8 - (s.metrics->'train'->>'log_likelihood')::float8)
         < 1e-9 * abs((s.metrics->'train'->>'log_likelihood')::float8) AS same_log_likelihood
FROM profenrich.models p, profenrich.models s WHERE p.name = 'mn_big_parallel' AND s.name = 'mn_big_stream';
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
RESET profenrich.max_train_memory;

-- a cancelled training (statement_timeout) leaves the registry untouched
SELECT count(*) AS versions_before FROM profenrich.models WHERE name = 'mn_big_mem';
\set VERBOSITY terse
\set SHOW_CONTEXT never
SET statement_timeout = '1ms';
SELECT name FROM profenrich.train('mn_big_mem', 'multinomial', 'mn_big', 'y', NULL, '{"max_iter": 10000, "tol": 1e-300}');
RESET statement_timeout;
\set VERBOSITY default
\set SHOW_CONTEXT errors
SELECT count(*) AS versions_after FROM profenrich.models WHERE name = 'mn_big_mem';

-- errors: the target's classes
CREATE TABLE mn_one_class AS SELECT id, visits, 'loyal'::text AS engagement FROM mn_eng;
SELECT public.err($$SELECT profenrich.train('mn_e', 'multinomial', 'mn_one_class', 'engagement')$$);
CREATE TABLE mn_no_class AS SELECT id, visits, NULL::text AS engagement FROM mn_eng;
SELECT public.err($$SELECT profenrich.train('mn_e', 'multinomial', 'mn_no_class', 'engagement')$$);
CREATE TABLE mn_many AS SELECT i AS id, i % 7 AS x, (i % 150)::text AS cls FROM generate_series(1, 3000) i;
SELECT public.err($$SELECT profenrich.train('mn_e', 'multinomial', 'mn_many', 'cls')$$);
SELECT public.err($$SELECT profenrich.train('mn_e', 'multinomial', 'mn_eng', 'spend')$$);
-- a class whose rows are all skipped (impute "skip" and a NULL feature)
CREATE TABLE mn_lost AS SELECT id, CASE WHEN engagement = 'dormant' THEN NULL ELSE visits END AS visits, engagement FROM mn_eng;
SELECT public.err($$SELECT profenrich.train('mn_e', 'multinomial', 'mn_lost', 'engagement', NULL, '{"impute": "skip"}')$$);
-- the options
SELECT public.err($$SELECT profenrich.train('mn_e', 'multinomial', 'mn_eng', 'engagement', NULL, '{"class_weight": {"maybe": 2}}')$$);
SELECT public.err($$SELECT profenrich.train('mn_e', 'multinomial', 'mn_eng', 'engagement', NULL, '{"class_weight": {"loyal": 0}}')$$);
SELECT public.err($$SELECT profenrich.train('mn_e', 'multinomial', 'mn_eng', 'engagement', NULL, '{"class_weight": "heavy"}')$$);
SELECT public.err($$SELECT profenrich.train('mn_e', 'multinomial', 'mn_eng', 'engagement', NULL, '{"l2": -1}')$$);
SELECT public.err($$SELECT profenrich.train('mn_e', 'multinomial', 'mn_eng', 'engagement', NULL, '{"max_iter": 0}')$$);
SELECT public.err($$SELECT profenrich.train('mn_e', 'multinomial', 'mn_eng', 'engagement', NULL, '{"max_iter": 10001}')$$);
SELECT public.err($$SELECT profenrich.train('mn_e', 'multinomial', 'mn_eng', 'engagement', NULL, '{"tol": 0}')$$);
SELECT public.err($$SELECT profenrich.train('mn_e', 'multinomial', 'mn_eng', 'engagement', NULL, '{"tol": 1}')$$);
SELECT public.err($$SELECT profenrich.train('mn_e', 'multinomial', 'mn_eng', 'engagement', NULL, '{"solver": "sgd"}')$$);
SELECT public.err($$SELECT profenrich.train('mn_e', 'multinomial', 'mn_eng', 'engagement', NULL, '{"positive": "loyal"}')$$);
SELECT public.err($$SELECT profenrich.train('mn_e', 'multinomial', 'mn_eng', 'engagement', NULL, '{"test_fraction": 1}')$$);
-- Newton asked for with more parameters than its Hessian takes: 99 classes x 21
CREATE TABLE mn_wide AS SELECT i AS id, (i % 100)::text AS cls, i % 7 AS x1, i % 11 AS x2, i % 13 AS x3,
       i % 17 AS x4, i % 19 AS x5, i % 23 AS x6, i % 29 AS x7, i % 31 AS x8, i % 37 AS x9, i % 41 AS x10,
       i % 43 AS x11, i % 47 AS x12, i % 53 AS x13, i % 59 AS x14, i % 61 AS x15, i % 67 AS x16,
       i % 71 AS x17, i % 73 AS x18, i % 79 AS x19, i % 83 AS x20
FROM generate_series(1, 3000) i;
SELECT public.err($$SELECT profenrich.train('mn_e', 'multinomial', 'mn_wide', 'cls', NULL, '{"solver": "newton"}')$$);
-- the step aggregate refuses arguments train() would not pass
SELECT public.err($$SELECT profenrich.multinomial_step((SELECT profenrich.model_spec('mn_engagement')), '{7}', ARRAY['a', 'b'], ARRAY['engagement'], engagement) FROM mn_eng$$);
SELECT public.err($$SELECT profenrich.multinomial_step((SELECT profenrich.model_spec('mn_engagement')), '{0, 1}', ARRAY['a'], ARRAY['engagement'], engagement) FROM mn_eng$$);
SELECT public.err($$SELECT profenrich.multinomial_step((SELECT profenrich.model_spec('mn_engagement')), '{0, 1, 1}', ARRAY['a', 'b'], ARRAY['engagement'], engagement) FROM mn_eng$$);
-- class_metrics refuses what is not a prediction of the classes
SELECT public.err($$SELECT profenrich.class_metrics(ARRAY[0.5, 0.5], 'c', ARRAY['a', 'b'])$$);
SELECT public.err($$SELECT profenrich.class_metrics(ARRAY[0.5, 0.5, 0], 'a', ARRAY['a', 'b'])$$);
SELECT public.err($$SELECT profenrich.class_metrics(ARRAY[1.5, -0.5], 'a', ARRAY['a', 'b'])$$);
SELECT public.err($$SELECT profenrich.class_metrics(ARRAY[0.5, 0.5], 'a', ARRAY['a', 'a'])$$);
SELECT public.err($$SELECT profenrich.class_metrics(ARRAY[1.0], 'a', ARRAY['a'])$$);
SELECT public.err($$SELECT profenrich.class_metrics(ARRAY[0.5, 0.5], 'a', ARRAY[['a', 'b']])$$);
SELECT public.err($$SELECT profenrich.class_metrics(ARRAY[0.5, 0.5], 'a', ARRAY['a', NULL])$$);
SELECT public.err($$SELECT profenrich.class_metrics(p, 'a', c) FROM (VALUES (ARRAY[0.5, 0.5], ARRAY['a', 'b']),
                                                                          (ARRAY[0.2, 0.3, 0.5], ARRAY['a', 'b', 'c'])) v(p, c)$$);
SELECT profenrich.class_metrics(p, a, ARRAY['a', 'b']) IS NULL AS no_rows_no_metrics
FROM (VALUES (NULL::float8[], 'a')) v(p, a);
