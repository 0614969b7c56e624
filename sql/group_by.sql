-- A model per group (the option group_by): one pass trains every group's model and the global
-- one.  Each group's model is the model trained on the group's rows alone (a view of them, split
-- by the same key, NULLs imputed with the values of all rows as the model imputes them), which is
-- the reference; the global model is the model of every row.
SET client_min_messages = warning;
SELECT setseed(0.42);
CREATE TABLE gb AS
SELECT i AS id, (ARRAY['FR', 'DE', 'US', 'IT'])[1 + i % 4] AS country, i % 5 AS region,
       random() AS a, random() AS b, (ARRAY['p', 'q', 'r'])[1 + i % 3] AS c,
       CASE WHEN i % 10 = 0 THEN NULL ELSE random() END AS d, 0.0::float8 AS y, false AS label
FROM generate_series(1, 12000) AS i;
UPDATE gb SET y = CASE country WHEN 'FR' THEN 1 + 2 * a - b WHEN 'DE' THEN -1 + a + 3 * b
                               WHEN 'US' THEN 5 - a ELSE 2 * b END
                  + (c = 'q')::int + coalesce(d, 0.5) + random() * 0.2,
              label = random() < 1 / (1 + exp(-(CASE country WHEN 'FR' THEN 1 + 2 * a - b
                                                   WHEN 'DE' THEN -1 + a + 3 * b
                                                   WHEN 'US' THEN 0.5 - a ELSE b END
                                                + (c = 'r')::int - d)));
ALTER TABLE gb ADD PRIMARY KEY (id);
ANALYZE gb;
RESET client_min_messages;

-- linear: the groups' models, the global one, and the references
SELECT n_train, n_test, metrics->'n_groups' AS n_groups, metrics->'groups_without_model' AS without
FROM profenrich.train('lg', 'linear', 'gb', 'y', ARRAY['a', 'b', 'c', 'd'], '{"group_by": "country"}');
SELECT options->>'group_by' AS group_by, options->>'fallback' AS fallback, options->>'max_groups' AS max_groups
FROM profenrich.models WHERE name = 'lg';
-- the groups' references: a group's rows, d imputed with the mean of every training row
SELECT features->'columns'->3->>'impute' AS d_mean FROM profenrich.models WHERE name = 'lg' \gset
CREATE VIEW gb_fr AS SELECT id, country, a, b, c, coalesce(d, :d_mean) AS d, y FROM gb WHERE country = 'FR';
CREATE VIEW gb_de AS SELECT id, country, a, b, c, coalesce(d, :d_mean) AS d, y FROM gb WHERE country = 'DE';
SELECT name FROM profenrich.train('lg_fr', 'linear', 'gb_fr', 'y', ARRAY['a', 'b', 'c', 'd'], '{"key": "id"}');
SELECT name FROM profenrich.train('lg_de', 'linear', 'gb_de', 'y', ARRAY['a', 'b', 'c', 'd'], '{"key": "id"}');
SELECT name FROM profenrich.train('lg_all', 'linear', 'gb', 'y', ARRAY['a', 'b', 'c', 'd']);
-- each group's coefficients and standard errors are its view's (1e-10 relative)
SELECT r0.name, count(*) AS slots,
       bool_and(abs(g.coef - r.coef) <= 1e-10 * greatest(abs(r.coef), 1)) AS coef_equal,
       bool_and(abs(g.std_err - r.std_err) <= 1e-10 * r.std_err) AS se_equal
FROM (SELECT 'lg_fr' AS name, 'FR' AS grp UNION ALL SELECT 'lg_de', 'DE') r0
CROSS JOIN LATERAL profenrich.coefficients(r0.name) r
JOIN profenrich.coefficients('lg') g ON g.feature = r.feature AND g."group" = r0.grp
GROUP BY r0.name ORDER BY r0.name;
-- the global model is the model of every row
SELECT count(*) AS slots, bool_and(abs(g.coef - r.coef) <= 1e-10 * greatest(abs(r.coef), 1)) AS coef_equal
FROM profenrich.coefficients('lg_all') r JOIN profenrich.coefficients('lg') g
  ON g.feature = r.feature AND g."group" IS NULL;
-- every group's rows: the coefficients of each group, one set per group
SELECT "group", count(*) FROM profenrich.coefficients('lg') GROUP BY "group" ORDER BY "group" NULLS FIRST;
-- a group's metrics are its view model's (the same split, the same sample for the MAE)
SELECT abs((m.metrics->'groups'->'FR'->'test'->>'rmse')::float8 - (f.metrics->'test'->>'rmse')::float8) < 1e-10 AS test_rmse,
       abs((m.metrics->'groups'->'FR'->'train'->>'r2')::float8 - (f.metrics->'train'->>'r2')::float8) < 1e-10 AS train_r2,
       (m.metrics->'groups'->'FR'->>'n_train')::int = f.n_train AS n_train,
       (m.metrics->'groups'->'FR'->>'n_test')::int = f.n_test AS n_test
FROM profenrich.models m, profenrich.models f WHERE m.name = 'lg' AND f.name = 'lg_fr';
-- scoring picks the row's group; an unseen group or a NULL gets the global model (the default)
SELECT bool_and(abs(profenrich.score('lg', g) - profenrich.score('lg_fr', g)) < 1e-9) AS fr_rows
FROM gb_fr g;
SELECT abs(profenrich.score('lg', r) - profenrich.score('lg_all', r)) < 1e-9 AS unseen_global,
       abs(profenrich.score('lg', n) - profenrich.score('lg_all', n)) < 1e-9 AS null_global
FROM (SELECT 'ES'::text AS country, 0.5::float8 AS a, 0.2::float8 AS b, 'q'::text AS c, 0.3::float8 AS d) r,
     (SELECT NULL::text AS country, 0.5::float8 AS a, 0.2::float8 AS b, 'q'::text AS c, 0.3::float8 AS d) n;
-- "fallback": "null": no score for them
SELECT name FROM profenrich.train('lg_null', 'linear', 'gb', 'y', ARRAY['a', 'b', 'c', 'd'],
                                  '{"group_by": "country", "fallback": "null"}');
SELECT profenrich.score('lg_null', r) IS NULL AS unseen_null,
       abs(profenrich.score('lg_null', f) - profenrich.score('lg_fr', f)) < 1e-9 AS fr_scored
FROM (SELECT 'ES'::text AS country, 0.5::float8 AS a, 0.2::float8 AS b, 'q'::text AS c, 0.3::float8 AS d) r,
     (SELECT 'FR'::text AS country, 0.5::float8 AS a, 0.2::float8 AS b, 'q'::text AS c, 0.3::float8 AS d) f;

-- an integer group column, and a group too small for a model of its own (the fallback scores it)
UPDATE gb SET region = 9 WHERE id IN (7, 8, 9);
SELECT metrics->'n_groups' AS n_groups, metrics->'groups_without_model' AS without,
       metrics->'groups' ? '9' AS small_has_model
FROM profenrich.train('lg_region', 'linear', 'gb', 'y', ARRAY['a', 'b', 'c', 'd'], '{"group_by": "region"}');
SELECT abs(profenrich.score('lg_region', g) - profenrich.score('lg_all', g)) < 1e-9 AS small_group_global
FROM gb g WHERE id = 7;

-- logistic, in memory and by streaming passes (the label is NULL where d is: those rows are
-- skipped, so the model's mean of d is another)
SELECT n_train, metrics->'n_groups' AS n_groups, metrics->>'path' AS path
FROM profenrich.train('cg', 'logistic', 'gb', 'label', ARRAY['a', 'b', 'c', 'd'], '{"group_by": "country"}');
SELECT features->'columns'->3->>'impute' AS d_mean FROM profenrich.models WHERE name = 'cg' \gset
CREATE VIEW gbc_fr AS SELECT id, country, a, b, c, coalesce(d, :d_mean) AS d, label FROM gb WHERE country = 'FR';
SELECT name FROM profenrich.train('cg_fr', 'logistic', 'gbc_fr', 'label', ARRAY['a', 'b', 'c', 'd'], '{"key": "id"}');
SELECT name FROM profenrich.train('cg_all', 'logistic', 'gb', 'label', ARRAY['a', 'b', 'c', 'd']);
-- the group's model is its view's to the fit's convergence (1e-6 relative), the global one the table's
SELECT count(*) AS slots, bool_and(abs(g.coef - r.coef) <= 1e-6 * greatest(abs(r.coef), 1)) AS coef_equal,
       bool_and(abs(g.std_err - r.std_err) <= 1e-6 * r.std_err) AS se_equal
FROM profenrich.coefficients('cg_fr') r JOIN profenrich.coefficients('cg') g ON g.feature = r.feature AND g."group" = 'FR';
SELECT count(*) AS slots, bool_and(abs(g.coef - r.coef) <= 1e-6 * greatest(abs(r.coef), 1)) AS coef_equal
FROM profenrich.coefficients('cg_all') r JOIN profenrich.coefficients('cg') g ON g.feature = r.feature AND g."group" IS NULL;
SELECT abs((m.metrics->'groups'->'FR'->'test'->>'auc')::float8 - (f.metrics->'test'->>'auc')::float8) < 1e-9 AS test_auc,
       abs((m.metrics->'groups'->'FR'->'train'->>'log_likelihood')::float8 - (f.metrics->'train'->>'log_likelihood')::float8) < 1e-6 AS train_loglik
FROM profenrich.models m, profenrich.models f WHERE m.name = 'cg' AND f.name = 'cg_fr';
-- ridge: each group's penalty is on its own standardized slots, as its view's
SELECT name FROM profenrich.train('cg_l2', 'logistic', 'gb', 'label', ARRAY['a', 'b', 'c', 'd'],
                                  '{"group_by": "country", "l2": 3}');
SELECT name FROM profenrich.train('cg_fr_l2', 'logistic', 'gbc_fr', 'label', ARRAY['a', 'b', 'c', 'd'],
                                  '{"key": "id", "l2": 3}');
SELECT count(*) AS slots, bool_and(abs(g.coef - r.coef) <= 1e-6 * greatest(abs(r.coef), 1)) AS coef_equal
FROM profenrich.coefficients('cg_fr_l2') r JOIN profenrich.coefficients('cg_l2') g ON g.feature = r.feature AND g."group" = 'FR';
-- streaming passes give the same models
SET profenrich.max_train_memory = '64kB';
SET client_min_messages = warning;
SELECT metrics->>'path' AS path
FROM profenrich.train('cg_s', 'logistic', 'gb', 'label', ARRAY['a', 'b', 'c', 'd'], '{"group_by": "country"}');
RESET client_min_messages;
RESET profenrich.max_train_memory;
SELECT count(*) AS slots, bool_and(abs(s.coef - m.coef) <= 1e-6 * greatest(abs(m.coef), 1)) AS coef_equal
FROM profenrich.coefficients('cg') m JOIN profenrich.coefficients('cg_s') s
  ON s.feature = m.feature AND s."group" IS NOT DISTINCT FROM m."group";
-- many groups, trained again and again in one session: the same params every time (the groups'
-- names outlive the loading query's memory), in a new session
\c
SELECT setseed(0.5);
CREATE TABLE gb_many AS SELECT i AS id, 'g' || (i % 100) AS grp, random() AS a, random() AS b,
       random() AS c, random() < 0.4 AS label FROM generate_series(1, 40000) i;
SELECT version FROM profenrich.train('cg_many', 'logistic', 'gb_many', 'label', ARRAY['a', 'b', 'c'], '{"group_by": "grp"}');
SELECT version FROM profenrich.train('cg_many', 'logistic', 'gb_many', 'label', ARRAY['a', 'b', 'c'], '{"group_by": "grp"}');
SELECT version FROM profenrich.train('cg_many', 'logistic', 'gb_many', 'label', ARRAY['a', 'b', 'c'], '{"group_by": "grp"}');
SELECT count(DISTINCT md5(params)) = 1 AS same_params, min((metrics->>'n_groups')::int) AS n_groups
FROM profenrich.models WHERE name = 'cg_many';
SELECT profenrich.drop_model('cg_many') IS NOT NULL AS dropped;
DROP TABLE gb_many;
-- the class outputs use the row's group; explanations too: a row's contributions add up to its
-- group model's logit
SELECT bool_and(profenrich.predict_class('cg', g) = profenrich.predict_class('cg_fr', g)) AS classes
FROM gbc_fr g;
-- a class output keeps the text collation through the planner's rewrite (a table can be made of it)
CREATE TEMP TABLE gb_classes AS SELECT id, profenrich.predict_class('cg', g) AS k FROM gbc_fr g;
SELECT count(*) = (SELECT count(*) FROM gbc_fr) AND bool_and(k IN ('true', 'false')) AS class_table
FROM gb_classes;
SELECT abs((SELECT sum(contribution) FROM profenrich.explain('cg', (SELECT g FROM gb g WHERE id = 12), 10)) -
           (SELECT ln(p / (1 - p)) FROM (SELECT profenrich.score('cg', g) AS p FROM gb g WHERE id = 12) s))
       < 1e-9 AS explained;

-- percentiles: the cut points of the training scores of every row, each by its group's model
-- (test_fraction 0: every row trains), as percentile_cont (R's type 7) computes them
SELECT name FROM profenrich.train('cg_pct', 'logistic', 'gb', 'label', ARRAY['a', 'b', 'c', 'd'],
                                  '{"group_by": "country", "test_fraction": 0}');
WITH s AS (SELECT profenrich.score('cg_pct', g) AS p FROM gb g WHERE label IS NOT NULL),
     q AS (SELECT percentile_cont((SELECT array_agg(k / 100.0) FROM generate_series(1, 99) k))
                    WITHIN GROUP (ORDER BY p) AS cuts FROM s)
SELECT bool_and(profenrich.percentile('cg_pct', s.p) =
                1 + (SELECT count(*) FROM unnest(q.cuts) c WHERE c < s.p - 1e-12 * s.p)) AS percentiles_match
FROM s, q WHERE (SELECT bool_and(abs(c - s.p) > 1e-9) FROM unnest(q.cuts) c);

-- evaluate: the metrics of each group on the model's own split, its test metrics at training
-- (and its view model's)
SELECT abs((profenrich.evaluate('cg')->'groups'->'FR'->>'auc')::float8 -
           (metrics->'groups'->'FR'->'test'->>'auc')::float8) < 1e-12 AS group_auc,
       (profenrich.evaluate('cg')->'groups'->'FR'->>'n')::int = (profenrich.evaluate('cg_fr')->>'n')::int AS group_n,
       abs((profenrich.evaluate('lg')->'groups'->'DE'->>'rmse')::float8 -
           (profenrich.evaluate('lg_de')->>'rmse')::float8) < 1e-9 AS group_rmse
FROM profenrich.models WHERE name = 'cg';

-- enrich and the trigger write the group's scores
CREATE TABLE gb_copy AS SELECT * FROM gb;
SET client_min_messages = warning;	-- progress notices carry rates
CALL profenrich.enrich('gb_copy', array['cg'], '{"percentile": true}');
RESET client_min_messages;
SELECT bool_and(abs(cg_score - profenrich.score('cg', g)) < 1e-12) AS enriched FROM gb_copy g;
CREATE TRIGGER cg_now BEFORE INSERT ON gb_copy FOR EACH ROW EXECUTE FUNCTION profenrich.enrich_trigger('cg');
INSERT INTO gb_copy (id, country, region, a, b, c, d) VALUES (20001, 'DE', 1, 0.3, 0.6, 'r', 0.5), (20002, 'ES', 1, 0.3, 0.6, 'r', 0.5);
SELECT id, abs(cg_score - profenrich.score('cg', g)) < 1e-12 AS triggered FROM gb_copy g WHERE id > 20000 ORDER BY id;

-- a forced parallel plan: the grouped aggregate combines its workers' states into the same models
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF)
SELECT profenrich.linear_stats_grouped((SELECT profenrich.model_spec('lg')), 'country', 100,
                                       ARRAY['y', 'id', 'country', 'a'], y, id, country, a)
FROM public.gb;
SELECT name FROM profenrich.train('lg_par', 'linear', 'gb', 'y', ARRAY['a', 'b', 'c', 'd'], '{"group_by": "country"}');
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
SELECT count(*) AS slots,
       bool_and(abs(p.coef - s.coef) <= 1e-10 * greatest(abs(s.coef), s.std_err)) AS coef_equal
FROM profenrich.coefficients('lg') s JOIN profenrich.coefficients('lg_par') p
  ON p.feature = s.feature AND p."group" IS NOT DISTINCT FROM s."group";

-- drift: a model per group keeps the baseline of its features, the same training rows' as the
-- model without groups (every feature's PSI the same), and no score distribution (each row has
-- its group's model)
SELECT m.name, count(*) AS features, count(*) FILTER (WHERE d.feature = '(score)') AS score_rows,
       bool_and(abs(d.psi - u.psi) < 1e-12) AS psi_as_ungrouped
FROM (VALUES ('lg', 'lg_all'), ('cg', 'cg_all'), ('cg_s', 'cg_all')) m(name, ungrouped),
     LATERAL profenrich.drift(m.name) d LEFT JOIN LATERAL profenrich.drift(m.ungrouped) u USING (feature)
GROUP BY m.name ORDER BY m.name;
-- errors
SELECT public.err($$SELECT profenrich.train('e', 'linear', 'gb', 'y', ARRAY['a'], '{"group_by": "nation"}')$$);
SELECT public.err($$SELECT profenrich.train('e', 'linear', 'gb', 'y', ARRAY['a', 'country'], '{"group_by": "country"}')$$);
SELECT public.err($$SELECT profenrich.train('e', 'linear', 'gb', 'y', ARRAY['a'], '{"group_by": "country", "max_groups": 3}')$$);
SELECT public.err($$SELECT profenrich.train('e', 'linear', 'gb', 'y', ARRAY['a'], '{"group_by": "id"}')$$);
SELECT public.err($$SELECT profenrich.train('e', 'linear', 'gb', 'y', ARRAY['a'], '{"group_by": "y"}')$$);
SELECT public.err($$SELECT profenrich.train('e', 'logistic', 'gb', 'label', ARRAY['a'], '{"group_by": "country", "fallback": "nearest"}')$$);
SELECT public.err($$SELECT profenrich.train('e', 'linear', 'gb', 'y', ARRAY['a'], '{"group_by": "country", "max_groups": 0}')$$);
CREATE TABLE gb_dates AS SELECT id, a, y, date '2024-01-01' + id % 3 AS day FROM gb;
SELECT public.err($$SELECT profenrich.train('e', 'linear', 'gb_dates', 'y', ARRAY['a'], '{"group_by": "day"}')$$);
SELECT public.err($$SELECT profenrich.train('e', 'clv', 'gb', options => '{"group_by": "country"}')$$);
-- class weights per group are the groups' own, so their probabilities cannot be calibrated
SELECT public.err($$SELECT profenrich.train('e', 'logistic', 'gb', 'label', ARRAY['a'], '{"group_by": "country", "class_weight": "balanced"}')$$);
SELECT n_groups FROM (SELECT (metrics->>'n_groups')::int AS n_groups
  FROM profenrich.train('cg_w', 'logistic', 'gb', 'label', ARRAY['a', 'b'], '{"group_by": "country", "class_weight": "balanced", "calibrate": false}')) s;
-- a row without the group column cannot be scored by a model per group
SELECT public.err($$SELECT profenrich.score('lg', r) FROM (SELECT 0.5::float8 AS a, 0.2::float8 AS b, 'q'::text AS c, 0.3::float8 AS d) r$$);
