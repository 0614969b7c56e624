-- k-means segments: training, the segment functions and their planner rewrite, segments(),
-- coefficients(), streaming and parallel passes, enrichment and the trigger, every user error.
-- Three groups of shoppers far apart (150, 100, 50), two NULL visits imputed.
SELECT setseed(0.42);
CREATE TABLE seg_shoppers AS
SELECT i AS id, g,
       (ARRAY[2, 20, 8])[g] + random() * 2 AS visits,
       (ARRAY[50, 400, 1500])[g] + random() * 40 AS spend,
       (ARRAY['free', 'basic', 'premium'])[g] AS plan,
       g = 3 AS newsletter
FROM generate_series(1, 300) i,
     LATERAL (SELECT CASE WHEN i <= 150 THEN 1 WHEN i <= 250 THEN 2 ELSE 3 END AS g) s;
UPDATE seg_shoppers SET visits = NULL WHERE id IN (7, 160);
ALTER TABLE seg_shoppers ADD PRIMARY KEY (id);
ANALYZE seg_shoppers;

SELECT name, version, algorithm, n_train, n_test, metrics->'k' AS k, metrics->'sizes' AS sizes,
       metrics->'converged' AS converged, metrics->>'path' AS path,
       jsonb_array_length(metrics->'restart_inertia') AS restarts, deployed
FROM profenrich.train('seg', 'kmeans', 'seg_shoppers', NULL,
                      ARRAY['visits', 'spend', 'plan', 'newsletter'], '{"k": 3}');
-- the effective options: every row fitted (test_fraction 0 by default)
SELECT options FROM profenrich.models WHERE name = 'seg';
-- segments are the groups, numbered by decreasing size
SELECT g, profenrich.segment('seg', s) AS segment, count(*) FROM seg_shoppers s GROUP BY 1, 2 ORDER BY 1, 2;
SELECT profenrich.segment_of(s, 'seg') = profenrich.segment('seg', s) AS same, count(*)
FROM seg_shoppers s GROUP BY 1;
-- the inertia is the sum of the squared distances to the centers (standardized scale)
SELECT abs(sum(profenrich.segment_distance('seg', s) ^ 2) / (m.metrics->>'inertia')::float8 - 1) < 1e-9
       AS inertia_is_sum_of_squared_distances
FROM seg_shoppers s, profenrich.models m WHERE m.name = 'seg' GROUP BY m.metrics;
-- segments(): sizes, shares, centers on the original scale, the distinctive features
SELECT segment, size, share, round((center->>'spend')::numeric, 1) AS spend,
       round((center->'plan'->>'basic')::numeric, 6) AS basic, round((center->>'newsletter')::numeric, 6) AS newsletter,
       distinctive->0->>'feature' AS most_distinctive, jsonb_array_length(distinctive) AS n
FROM profenrich.segments('seg') ORDER BY segment;
-- a center is the mean of its segment's rows, NULLs imputed with the training mean
SELECT bool_and(abs(c.visits - a.visits) < 1e-9 AND abs(c.spend - a.spend) < 1e-9) AS centers_are_means
FROM (SELECT segment, (center->>'visits')::float8 AS visits, (center->>'spend')::float8 AS spend
      FROM profenrich.segments('seg')) c
JOIN (SELECT profenrich.segment('seg', s) AS segment,
             avg(coalesce(visits, (SELECT (features->'columns'->0->>'impute')::float8
                                   FROM profenrich.models WHERE name = 'seg'))) AS visits,
             avg(spend) AS spend
      FROM seg_shoppers s GROUP BY 1) a USING (segment);
-- distinctive: segment and overall values with their standardized difference
SELECT d->>'feature' AS feature, round((d->>'segment')::numeric, 3) AS segment_value,
       round((d->>'overall')::numeric, 3) AS overall, round((d->>'z')::numeric, 3) AS z
FROM profenrich.segments('seg'), jsonb_array_elements(distinctive) d WHERE segment = 3;
-- the training baseline: no feature has drifted on the training rows themselves
SELECT count(*) AS features, bool_and(psi < 1e-9) AS no_drift
FROM profenrich.drift('seg', 'seg_shoppers') WHERE feature IS NOT NULL;
-- coefficients(): the centers, one row per segment and slot
SELECT class AS segment, feature, round(coef::numeric, 3) AS center, std_err
FROM profenrich.coefficients('seg') WHERE feature IN ('spend', 'plan=premium') ORDER BY 1, 2;

-- the planner passes a table row as its columns
EXPLAIN (VERBOSE, COSTS OFF) SELECT profenrich.segment('seg', s), profenrich.segment_of(s, 'seg'),
       profenrich.segment_distance('seg', s) FROM seg_shoppers s;
-- a row built by hand, a NULL row, a row without a needed column
SELECT profenrich.segment('seg', r), round(profenrich.segment_distance('seg', r)::numeric, 3)
FROM (SELECT 21.0 AS visits, 410.0 AS spend, 'basic' AS plan, false AS newsletter) r;
SELECT profenrich.segment('seg', NULL::seg_shoppers) IS NULL AS null_row;
SELECT public.err($$SELECT profenrich.segment('seg', r) FROM (SELECT 1.0 AS visits) r$$);
-- a NULL feature without imputation gives NULL
SELECT n_train FROM profenrich.train('seg_skip', 'kmeans', 'seg_shoppers', NULL,
                                     ARRAY['visits', 'spend'], '{"k": 3, "impute": "skip"}');
SELECT id, profenrich.segment('seg_skip', s) FROM seg_shoppers s WHERE id IN (6, 7) ORDER BY id;

-- the same seed gives the same model; without standardizing, the same groups here
SELECT n_train FROM profenrich.train('seg_again', 'kmeans', 'seg_shoppers', NULL,
                                     ARRAY['visits', 'spend', 'plan', 'newsletter'], '{"k": 3}');
SELECT a.params = b.params AS same_model FROM profenrich.models a, profenrich.models b
WHERE a.name = 'seg' AND b.name = 'seg_again';
SELECT metrics->'sizes' AS sizes
FROM profenrich.train('seg_raw', 'kmeans', 'seg_shoppers', NULL, ARRAY['visits', 'spend'],
                      '{"k": 3, "standardize": false, "n_init": 5, "max_iter": 50, "tol": 0}');
SELECT options->'standardize' AS standardize, options->'tol' AS tol FROM profenrich.models WHERE name = 'seg_raw';
SELECT count(*) FILTER (WHERE profenrich.segment('seg_raw', s) <> profenrich.segment('seg', s)) AS moved
FROM seg_shoppers s;
-- a held-out split: its inertia; with the training rows' it is every row's
SELECT n_train + n_test AS rows, n_test > 0 AS has_test, (metrics->'test'->>'n')::int = n_test AS test_n
FROM profenrich.train('seg_split', 'kmeans', 'seg_shoppers', NULL, ARRAY['visits', 'spend'],
                      '{"k": 3, "test_fraction": 0.3}');
SELECT abs(sum(profenrich.segment_distance('seg_split', s) ^ 2) /
           ((m.metrics->>'inertia')::float8 + (m.metrics->'test'->>'inertia')::float8) - 1) < 1e-9
       AS train_and_test_inertia
FROM seg_shoppers s, profenrich.models m WHERE m.name = 'seg_split' GROUP BY m.metrics;

-- "k": "auto" picks the three groups by silhouette, every candidate in the metrics
SELECT metrics->'k' AS k, round((metrics->>'silhouette')::numeric, 3) AS silhouette,
       jsonb_path_query_array(metrics, '$.auto.candidates[*].k') AS tried,
       metrics->'auto'->'silhouette_rows' AS rows
FROM profenrich.train('seg_auto', 'kmeans', 'seg_shoppers', NULL, ARRAY['visits', 'spend', 'plan'],
                      '{"k": "auto", "k_max": 6}');
SELECT options->'k' AS k, options->'k_min' AS k_min, options->'k_max' AS k_max,
       options->'silhouette_sample' AS silhouette_sample FROM profenrich.models WHERE name = 'seg_auto';

-- streaming (64kB forces one SQL pass per iteration) equals in memory: centers to 1e-9
SET profenrich.max_train_memory = '64kB';
SET client_min_messages = warning;
SELECT metrics->>'path' AS path, metrics->'sizes' AS sizes, metrics->'iterations' AS iterations
FROM profenrich.train('seg_stream', 'kmeans', 'seg_shoppers', NULL,
                      ARRAY['visits', 'spend', 'plan', 'newsletter'], '{"k": 3}');
SELECT bool_and(abs(s.coef - m.coef) <= 1e-9 * greatest(abs(m.coef), 1)) AS same_centers, count(*)
FROM profenrich.coefficients('seg_stream') s JOIN profenrich.coefficients('seg') m USING (class, feature);
SELECT bool_and(abs(rs.v::float8 / rm.v::float8 - 1) < 1e-9) AS same_restart_inertias, count(*)
FROM profenrich.models s, profenrich.models m,
     jsonb_array_elements_text(s.metrics->'restart_inertia') WITH ORDINALITY rs(v, i)
     JOIN jsonb_array_elements_text(m.metrics->'restart_inertia') WITH ORDINALITY rm(v, i) USING (i)
WHERE s.name = 'seg_stream' AND m.name = 'seg';
-- a forced parallel plan (the workers' states serialized and combined) equals the serial one
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
EXPLAIN (COSTS OFF)
SELECT profenrich.kmeans_step((SELECT profenrich.model_spec('seg_skip')),
                              '{1, 2, 2, 0, 0, 1, 1, 0, 0, 1, 1}'::float8[], ARRAY['id', 'visits', 'spend'],
                              id, visits, spend)
FROM public.seg_shoppers;
SELECT metrics->>'path' AS path, metrics->'sizes' AS sizes
FROM profenrich.train('seg_parallel', 'kmeans', 'seg_shoppers', NULL,
                      ARRAY['visits', 'spend', 'plan', 'newsletter'], '{"k": 3}');
SELECT bool_and(abs(p.coef - s.coef) <= 1e-9 * greatest(abs(s.coef), 1)) AS same_centers
FROM profenrich.coefficients('seg_parallel') p JOIN profenrich.coefficients('seg_stream') s USING (class, feature);
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
RESET parallel_leader_participation;
RESET profenrich.max_train_memory;
RESET client_min_messages;

-- enrich writes <model>_segment (and <model>_distance), then only what changed
SET client_min_messages = warning;	-- the progress notices tell rows per second
CREATE TABLE seg_profiles AS SELECT id, visits, spend, plan, newsletter FROM seg_shoppers;
CALL profenrich.enrich('seg_profiles', array['seg'], '{"distance": true}');
SELECT column_name, data_type FROM information_schema.columns
WHERE table_name = 'seg_profiles' AND column_name LIKE 'seg%' ORDER BY ordinal_position;
SELECT count(*) FILTER (WHERE seg_segment = profenrich.segment('seg', p)) AS segments_equal,
       count(*) FILTER (WHERE abs(seg_distance - profenrich.segment_distance('seg', p)) < 1e-12) AS distances_equal
FROM seg_profiles p;
SELECT rows_scanned, rows_updated, status FROM profenrich.enrich_runs ORDER BY run_id DESC LIMIT 1;
CALL profenrich.enrich('seg_profiles', array['seg'], '{"distance": true}');
SELECT rows_scanned, rows_updated FROM profenrich.enrich_runs ORDER BY run_id DESC LIMIT 1;
UPDATE seg_profiles SET visits = 20.5, spend = 420, plan = 'basic', newsletter = false WHERE id = 1;
CALL profenrich.enrich('seg_profiles', array['seg'], '{"distance": true}');
SELECT rows_scanned, rows_updated FROM profenrich.enrich_runs ORDER BY run_id DESC LIMIT 1;
SELECT id, seg_segment FROM seg_profiles WHERE id = 1;
-- without "distance" only the segment is written; renamed
CALL profenrich.enrich('seg_profiles', array['seg'], '{"columns": {"seg": {"segment": "audience"}}}');
SELECT count(*) FILTER (WHERE audience = seg_segment) AS renamed_equal FROM seg_profiles;
-- the trigger writes the same values on INSERT and UPDATE
CREATE TRIGGER seg_now BEFORE INSERT OR UPDATE ON seg_profiles
FOR EACH ROW EXECUTE FUNCTION profenrich.enrich_trigger('seg');
INSERT INTO seg_profiles (id, visits, spend, plan, newsletter) VALUES (1001, 8.5, 1490, 'premium', true)
RETURNING id, seg_segment, round(seg_distance::numeric, 3) AS distance;
UPDATE seg_profiles SET visits = 2, spend = 60, plan = 'free', newsletter = false WHERE id = 1001
RETURNING id, seg_segment, seg_segment = profenrich.segment('seg', seg_profiles) AS as_segment,
          abs(seg_distance - profenrich.segment_distance('seg', seg_profiles)) < 1e-12 AS as_distance;
DROP TRIGGER seg_now ON seg_profiles;
RESET client_min_messages;

-- a cancelled training (statement_timeout, inside Lloyd's iterations) leaves the registry untouched
SELECT setseed(0.5);
CREATE TABLE seg_uniform AS SELECT i AS id, random() AS a, random() AS b, random() AS c, random() AS d
FROM generate_series(1, 20000) i;
\set VERBOSITY terse
\set SHOW_CONTEXT never
SET statement_timeout = '300ms';
SELECT name FROM profenrich.train('seg_slow', 'kmeans', 'seg_uniform', NULL, NULL,
                                  '{"k": 200, "n_init": 100, "max_iter": 10000, "tol": 0}');
RESET statement_timeout;
\set VERBOSITY default
\set SHOW_CONTEXT errors
SELECT count(*) AS versions FROM profenrich.models WHERE name = 'seg_slow';

-- bad input: each an error with SQLSTATE and hint
SELECT public.err($$SELECT profenrich.train('seg_bad', 'kmeans', 'seg_shoppers', NULL, ARRAY['spend'], '{"k": 1}')$$);
SELECT public.err($$SELECT profenrich.train('seg_bad', 'kmeans', 'seg_shoppers', NULL, ARRAY['spend'], '{"k": 1001}')$$);
SELECT public.err($$SELECT profenrich.train('seg_bad', 'kmeans', 'seg_shoppers', NULL, ARRAY['spend'], '{"k": 2.5}')$$);
SELECT public.err($$SELECT profenrich.train('seg_bad', 'kmeans', 'seg_shoppers', NULL, ARRAY['spend'], '{"k": "many"}')$$);
SELECT public.err($$SELECT profenrich.train('seg_bad', 'kmeans', 'seg_shoppers', NULL, ARRAY['spend'], '{"k": 400}')$$);
SELECT public.err($$SELECT profenrich.train('seg_bad', 'kmeans', 'seg_shoppers', NULL, ARRAY['spend'], '{"k": "auto", "k_min": 5, "k_max": 3}')$$);
SELECT public.err($$SELECT profenrich.train('seg_bad', 'kmeans', 'seg_shoppers', NULL, ARRAY['spend'], '{"k": "auto", "k_min": 2, "k_max": 60}')$$);
SELECT public.err($$SELECT profenrich.train('seg_bad', 'kmeans', 'seg_shoppers', NULL, ARRAY['spend'], '{"k": 3, "k_max": 5}')$$);
SELECT public.err($$SELECT profenrich.train('seg_bad', 'kmeans', 'seg_shoppers', NULL, ARRAY['spend'], '{"k": "auto", "k_max": 400}')$$);
SELECT public.err($$SELECT profenrich.train('seg_bad', 'kmeans', 'seg_shoppers', NULL, ARRAY['spend'], '{"n_init": 0}')$$);
SELECT public.err($$SELECT profenrich.train('seg_bad', 'kmeans', 'seg_shoppers', NULL, ARRAY['spend'], '{"tol": 1}')$$);
SELECT public.err($$SELECT profenrich.train('seg_bad', 'kmeans', 'seg_shoppers', NULL, ARRAY['spend'], '{"standardize": "yes"}')$$);
SELECT public.err($$SELECT profenrich.train('seg_bad', 'kmeans', 'seg_shoppers', NULL, ARRAY['spend'], '{"l2": 1}')$$);
SELECT public.err($$SELECT profenrich.train('seg_bad', 'kmeans', 'seg_shoppers', 'spend', ARRAY['visits'], '{"k": 3}')$$);
CREATE TABLE seg_no_features (id int PRIMARY KEY, seen timestamptz);
INSERT INTO seg_no_features SELECT i, now() FROM generate_series(1, 10) i;
SELECT public.err($$SELECT profenrich.train('seg_bad', 'kmeans', 'seg_no_features')$$);
CREATE TABLE seg_same_rows AS SELECT i AS id, 5.0 AS x, 'a' AS c FROM generate_series(1, 20) i;
SELECT public.err($$SELECT profenrich.train('seg_bad', 'kmeans', 'seg_same_rows', NULL, ARRAY['x', 'c'], '{"k": 2}')$$);
CREATE TABLE seg_three_points AS SELECT i AS id, (i % 3)::float8 AS x FROM generate_series(1, 30) i;
SELECT public.err($$SELECT profenrich.train('seg_bad', 'kmeans', 'seg_three_points', NULL, ARRAY['x'], '{"k": 4}')$$);
SELECT public.err($$SELECT profenrich.train('seg_bad', 'kmeans', 'seg_three_points', NULL, ARRAY['x'], '{"k": "auto", "k_max": 5}')$$);
SELECT count(*) FROM profenrich.models WHERE name = 'seg_bad';
-- outputs asked of the wrong kind of model
SELECT name FROM profenrich.train('seg_lin', 'linear', 'seg_shoppers', 'spend', ARRAY['visits']);
SELECT public.err($$SELECT profenrich.score('seg', s) FROM seg_shoppers s$$);
SELECT public.err($$SELECT profenrich.score_columns('seg', ARRAY['visits', 'spend', 'plan', 'newsletter'], 1.0, 2.0, 'free', true)$$);
SELECT public.err($$SELECT profenrich.segment('seg_lin', s) FROM seg_shoppers s$$);
SELECT public.err($$SELECT profenrich.segment_of(s) FROM seg_shoppers s$$);
SELECT public.err($$SELECT * FROM profenrich.segments('seg_lin')$$);
SELECT public.err($$SELECT * FROM profenrich.segments('seg', 0)$$);
SELECT public.err($$SELECT * FROM profenrich.segments('seg', 9)$$);
SELECT public.err($$SELECT profenrich.explain('seg', s) FROM seg_shoppers s LIMIT 1$$);
SELECT public.err($$SELECT profenrich.evaluate('seg')$$);
-- the step aggregate checks what it is given
SELECT public.err($$SELECT profenrich.kmeans_step((SELECT profenrich.model_spec('seg_skip')), '{1, 2, 1, 0, 0, 1, 1, 0, 0}'::float8[], ARRAY['id', 'visits', 'spend'], id, visits, spend) FROM seg_shoppers$$);
SELECT public.err($$SELECT profenrich.kmeans_step((SELECT profenrich.model_spec('seg_skip')), '{1, 2, 2, 0, 0, 1, 1, 0, 0}'::float8[], ARRAY['id', 'visits', 'spend'], id, visits, spend) FROM seg_shoppers$$);
SELECT public.err($$SELECT profenrich.kmeans_step((SELECT profenrich.model_spec('seg_skip')), '{1, 2, 2, 0, 0, -1, 1, 0, 0, 1, 1}'::float8[], ARRAY['id', 'visits', 'spend'], id, visits, spend) FROM seg_shoppers$$);
SELECT length(profenrich.kmeans_step((SELECT profenrich.model_spec('seg_skip')), '{1, 2, 2, 0, 0, 1, 1, 0, 0, 1, 1}'::float8[], ARRAY['id', 'visits', 'spend'], id, visits, spend)) > 0 AS works
FROM seg_shoppers;
