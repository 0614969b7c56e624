-- Trustworthy defaults (issue 15): leakage guards, unseen categories, rows a model cannot
-- use, held-out evaluation of any version, cross-validation and tuning, training on a query,
-- enrichment that survives a bad row.  The public data sets' cases are in
-- test/defaults_shared.sql.
SELECT setseed(0.15);

-- Data: a churn table with a key, a spend, a plan (a few levels), a unique code, a
-- row number, a name column of many rare values, and a churn label drawn from tenure and plan
CREATE TABLE dfl AS
SELECT i AS id, i AS row_no, 'C' || lpad(i::text, 5, '0') AS code,
       'name' || (i * 7919 % 1500) AS surname,
       (random() * 60)::int AS tenure,
       (ARRAY['basic', 'basic', 'basic', 'plus', 'plus', 'pro'])[1 + (i % 6)] AS plan,
       round((random() * 100)::numeric, 2)::float8 AS spend,
       NULL::boolean AS churned
FROM generate_series(1, 3000) AS i;
UPDATE dfl SET churned = random() < 1 / (1 + exp(-(1 - 0.06 * tenure + CASE plan WHEN 'pro' THEN -1 ELSE 0 END)));
ALTER TABLE dfl ADD PRIMARY KEY (id);
ANALYZE dfl;

-- 1. Leakage guards with features NULL: the key, the row number, the unique code and the name
--    whose vocabulary would be mostly "(other)" are left out, each with a NOTICE saying why
SELECT name FROM profenrich.train('dfl_churn', 'logistic', 'dfl', 'churned');
SELECT feature FROM profenrich.coefficients('dfl_churn') ORDER BY feature;
-- listed features are kept, with a WARNING for the identifier-like ones
SELECT name FROM profenrich.train('dfl_listed', 'logistic', 'dfl', 'churned', ARRAY['tenure', 'row_no', 'surname']);
SELECT count(*) FILTER (WHERE feature LIKE 'surname=%') AS surname_slots,
       count(*) FILTER (WHERE feature = 'row_no') AS row_no_slots
FROM profenrich.coefficients('dfl_listed');
-- a small table is not judged (fewer than 50 values): ids of 40 rows are kept
CREATE TABLE dfl_small AS SELECT id, tenure, spend FROM dfl WHERE id <= 40;
SELECT name FROM profenrich.train('dfl_small', 'linear', 'dfl_small', 'spend', NULL, '{"test_fraction": 0}');
SELECT count(*) AS slots FROM profenrich.coefficients('dfl_small');

-- the columns enrich wrote (by their comment) are left out when training again; and through a
-- view, whose columns lead back to the table's; and in a copy, by their names
SET client_min_messages = warning;
CALL profenrich.enrich('dfl', array['dfl_churn'], '{"percentile": true, "factors": 2}');
RESET client_min_messages;
SELECT name FROM profenrich.train('dfl_again', 'logistic', 'dfl', 'churned', NULL, '{"deploy": false}');
CREATE VIEW dfl_v AS SELECT id, tenure, plan, spend, dfl_churn_score AS s, churned FROM dfl;
SELECT name FROM profenrich.train('dfl_view', 'logistic', 'dfl_v', 'churned', NULL, '{"deploy": false}');
CREATE TABLE dfl_copy AS SELECT id, tenure, plan, spend, dfl_churn_score, dfl_churn_pct, churned FROM dfl;
SELECT name FROM profenrich.train('dfl_copy', 'logistic', 'dfl_copy', 'churned', NULL, '{"deploy": false}');
-- listed, an output is used, with a WARNING
SELECT name FROM profenrich.train('dfl_leak', 'logistic', 'dfl', 'churned', ARRAY['tenure', 'dfl_churn_score'], '{"deploy": false}');
-- every column left out: an error
CREATE TABLE dfl_ids AS SELECT id, code, row_no, churned FROM dfl;
SELECT public.err($$SELECT profenrich.train('dfl_ids', 'logistic', 'dfl_ids', 'churned')$$);

-- quasi-separation: levels whose rows are all of one class make their standard errors explode
-- although Newton converges; the WARNING names them (and not on a healthy fit)
CREATE TABLE dfl_sep AS
SELECT id, tenure, CASE WHEN id % 100 = 0 THEN 'rare' || (id / 100) ELSE plan END AS plan, churned FROM dfl;
UPDATE dfl_sep SET churned = false WHERE plan LIKE 'rare%';
SELECT name, metrics->>'converged' AS converged
FROM profenrich.train('dfl_sep', 'logistic', 'dfl_sep', 'churned', ARRAY['tenure', 'plan'], '{"max_categories": 40}');
SELECT name FROM profenrich.train('dfl_sep_l2', 'logistic', 'dfl_sep', 'churned', ARRAY['tenure', 'plan'],
                                  '{"max_categories": 40, "l2": 1}');
-- a multinomial model of the same rows says so too (its Newton method sees the coefficients of
-- the rare levels drift off and stops), and not with a penalty
CREATE VIEW dfl_sep_stage AS
SELECT s.id, s.tenure, s.plan, CASE WHEN s.plan LIKE 'rare%' THEN 'new' ELSE t.stage END AS stage
FROM dfl_sep s JOIN (SELECT id, CASE WHEN tenure < 20 THEN 'new' WHEN tenure < 40 THEN 'settled' ELSE 'loyal' END AS stage
                     FROM dfl) t USING (id);
SELECT name, metrics->>'converged' AS converged
FROM profenrich.train('dfl_sep_mn', 'multinomial', 'dfl_sep_stage', 'stage', ARRAY['plan'], '{"max_categories": 40, "key": "id"}');
SELECT name, metrics->>'converged' AS converged
FROM profenrich.train('dfl_sep_mn_l2', 'multinomial', 'dfl_sep_stage', 'stage', ARRAY['plan'],
                      '{"max_categories": 40, "key": "id", "l2": 1}');

-- 2. The reference level of a category is its most frequent: basic (1,500 rows)
SELECT feature, coef IS NULL AS aliased FROM profenrich.coefficients('dfl_churn') WHERE feature LIKE 'plan=%';

-- 3. Unseen categories at scoring: "average" (the default) gives the column the training
--    shares, so an unseen plan scores as the population average over the plans; explain shows
--    it as "(unseen)" with no contribution
-- the logit of the unseen row is the share-weighted mean of the logits of the known plans (the
-- shares are the training split's, as models.features shows them)
WITH sh AS (SELECT c->>'name' AS col, l.level, (c->'shares'->>(l.k - 1)::int)::float8 AS share
            FROM profenrich.models m, jsonb_array_elements(m.features->'columns') c,
                 jsonb_array_elements_text(c->'levels') WITH ORDINALITY l(level, k)
            WHERE m.name = 'dfl_churn' AND c->>'name' = 'plan'),
     lg AS (SELECT level, share, ln(q / (1 - q)) AS logit
            FROM sh, LATERAL (SELECT profenrich.score('dfl_churn', s) AS q
                              FROM (SELECT 10 AS tenure, sh.level AS plan, 50.0::float8 AS spend) s) z)
SELECT abs(sum(share * logit) - (SELECT ln(q / (1 - q)) FROM (SELECT profenrich.score('dfl_churn', r) AS q
           FROM (SELECT 10 AS tenure, 'platinum'::text AS plan, 50.0::float8 AS spend) r) z)) < 1e-9
       AS unseen_is_the_share_weighted_logit,
       abs(sum(share) - 1) < 1e-9 AS shares_sum_to_1
FROM lg;
SELECT feature, value, round(contribution::numeric, 12) AS contribution
FROM profenrich.explain('dfl_churn', (SELECT r FROM (SELECT 10 AS tenure, 'platinum'::text AS plan, 50.0::float8 AS spend) r), 5)
WHERE feature = 'plan';
-- "null": the row scores NULL (and has no explanation); "error": an error naming the value
SELECT name FROM profenrich.train('dfl_null', 'logistic', 'dfl', 'churned', ARRAY['tenure', 'plan'], '{"unseen": "null"}');
SELECT profenrich.score('dfl_null', r) IS NULL AS null_score,
       (SELECT count(*) FROM profenrich.explain('dfl_null', r)) AS explained
FROM (SELECT 10 AS tenure, 'platinum'::text AS plan) r;
SELECT name FROM profenrich.train('dfl_err', 'logistic', 'dfl', 'churned', ARRAY['tenure', 'plan'], '{"unseen": "error"}');
SELECT public.err($$SELECT profenrich.score('dfl_err', r) FROM (SELECT 10 AS tenure, 'platinum'::text AS plan) r$$);
SELECT public.err($$SELECT profenrich.train('x', 'logistic', 'dfl', 'churned', NULL, '{"unseen": "zero"}')$$);
-- a seen value scores the same under every policy
SELECT abs(profenrich.score('dfl_null', r) - profenrich.score('dfl_err', r)) < 1e-12 AS same_when_seen
FROM (SELECT 10 AS tenure, 'pro'::text AS plan) r;
-- with an "(other)" slot an unseen value is "(other)", under every policy
SELECT name FROM profenrich.train('dfl_other', 'logistic', 'dfl', 'churned', ARRAY['tenure', 'plan'],
                                  '{"unseen": "error", "max_categories": 2}');
SELECT abs(profenrich.score('dfl_other', r) - profenrich.score('dfl_other', s)) < 1e-12 AS unseen_is_other
FROM (SELECT 10 AS tenure, 'platinum'::text AS plan) r, (SELECT 10 AS tenure, 'pro'::text AS plan) s;

-- multinomial models take the same policies: under "average" each class's log-odds against the
-- reference for an unseen plan is the share-weighted mean of its log-odds for the known plans
CREATE VIEW dfl_stage AS
SELECT id, spend, plan, CASE WHEN tenure < 20 THEN 'new' WHEN tenure < 40 THEN 'settled' ELSE 'loyal' END AS stage
FROM dfl;
SELECT name FROM profenrich.train('dfl_mn', 'multinomial', 'dfl_stage', 'stage', ARRAY['spend', 'plan'], '{"key": "id"}');
WITH sh AS (SELECT l.level, (c->'shares'->>(l.k - 1)::int)::float8 AS share
            FROM profenrich.models m, jsonb_array_elements(m.features->'columns') c,
                 jsonb_array_elements_text(c->'levels') WITH ORDINALITY l(level, k)
            WHERE m.name = 'dfl_mn' AND c->>'name' = 'plan'),
     lo AS (SELECT sh.level, sh.share, k, ln(p[k] / p[1]) AS log_odds
            FROM sh, LATERAL (SELECT profenrich.predict_proba('dfl_mn', s) AS p
                              FROM (SELECT 50.0::float8 AS spend, sh.level AS plan) s) z, generate_series(2, 3) k),
     un AS (SELECT k, ln(p[k] / p[1]) AS log_odds
            FROM (SELECT profenrich.predict_proba('dfl_mn', r) AS p
                  FROM (SELECT 50.0::float8 AS spend, 'platinum'::text AS plan) r) z, generate_series(2, 3) k)
SELECT bool_and(abs(w.mean - un.log_odds) < 1e-9) AS unseen_is_the_share_weighted_log_odds, count(*) AS classes
FROM (SELECT k, sum(share * log_odds) AS mean FROM lo GROUP BY k) w JOIN un USING (k);
SELECT feature, value, round(contribution::numeric, 12) AS contribution
FROM profenrich.explain('dfl_mn', (SELECT r FROM (SELECT 50.0::float8 AS spend, 'platinum'::text AS plan) r), 5)
WHERE feature = 'plan';
SELECT name FROM profenrich.train('dfl_mn_null', 'multinomial', 'dfl_stage', 'stage', ARRAY['spend', 'plan'],
                                  '{"key": "id", "unseen": "null"}');
SELECT profenrich.predict_proba('dfl_mn_null', r) IS NULL AS null_probabilities,
       profenrich.predict_class('dfl_mn_null', r) IS NULL AS null_class
FROM (SELECT 50.0::float8 AS spend, 'platinum'::text AS plan) r;
SELECT name FROM profenrich.train('dfl_mn_err', 'multinomial', 'dfl_stage', 'stage', ARRAY['spend', 'plan'],
                                  '{"key": "id", "unseen": "error"}');
SELECT public.err($$SELECT profenrich.predict_class('dfl_mn_err', r) FROM (SELECT 50.0::float8 AS spend, 'platinum'::text AS plan) r$$);
SELECT max(abs(a - b)) < 1e-12 AS same_when_seen
FROM (SELECT unnest(profenrich.predict_proba('dfl_mn_null', r)) AS a, unnest(profenrich.predict_proba('dfl_mn_err', r)) AS b
      FROM (SELECT 50.0::float8 AS spend, 'pro'::text AS plan) r) q;
-- gbdt models take "null" and "error" as they are (under "average" an unseen value is none of
-- the levels: trees have no average to take)
SELECT name FROM profenrich.train('dfl_gb_null', 'gbdt', 'dfl', 'spend', ARRAY['tenure', 'plan'],
                                  '{"unseen": "null", "n_trees": 10}');
SELECT profenrich.score('dfl_gb_null', r) IS NULL AS null_score,
       (SELECT count(*) FROM profenrich.explain('dfl_gb_null', r)) AS explained
FROM (SELECT 10 AS tenure, 'platinum'::text AS plan) r;
SELECT name FROM profenrich.train('dfl_gb_err', 'gbdt', 'dfl', 'spend', ARRAY['tenure', 'plan'],
                                  '{"unseen": "error", "n_trees": 10}');
SELECT public.err($$SELECT profenrich.score('dfl_gb_err', r) FROM (SELECT 10 AS tenure, 'platinum'::text AS plan) r$$);
SELECT profenrich.score('dfl_gb_null', r) = profenrich.score('dfl_gb_err', r) AS same_when_seen
FROM (SELECT 10 AS tenure, 'pro'::text AS plan) r;
-- kmeans models take "null" and "error" too (under "average" the row sits at the training shares
-- in the column's dimensions)
SELECT name FROM profenrich.train('dfl_km_null', 'kmeans', 'dfl', NULL, ARRAY['tenure', 'plan'],
                                  '{"unseen": "null", "k": 3, "seed": 1}');
SELECT profenrich.segment('dfl_km_null', r) IS NULL AS null_segment,
       profenrich.segment_distance('dfl_km_null', r) IS NULL AS null_distance
FROM (SELECT 10 AS tenure, 'platinum'::text AS plan) r;
SELECT name FROM profenrich.train('dfl_km_err', 'kmeans', 'dfl', NULL, ARRAY['tenure', 'plan'],
                                  '{"unseen": "error", "k": 3, "seed": 1}');
SELECT public.err($$SELECT profenrich.segment('dfl_km_err', r) FROM (SELECT 10 AS tenure, 'platinum'::text AS plan) r$$);
SELECT profenrich.segment_distance('dfl_km_null', r) = profenrich.segment_distance('dfl_km_err', r) AS same_when_seen
FROM (SELECT 10 AS tenure, 'pro'::text AS plan) r;

-- 4. Rows a model cannot use: NaN and infinity are skipped and counted by reason, one named by
--    its key in a NOTICE; the model is the one trained without them
CREATE TABLE dfl_bad AS SELECT id, tenure::float8 AS tenure, plan, spend FROM dfl;
ALTER TABLE dfl_bad ADD PRIMARY KEY (id);
UPDATE dfl_bad SET tenure = 'NaN' WHERE id IN (17, 4711 % 3000);
UPDATE dfl_bad SET spend = 'Infinity' WHERE id = 99;
SELECT n_train + n_test AS used, metrics->'n_skipped' AS n_skipped, metrics->'n_skipped_by_reason' AS reasons
FROM profenrich.train('dfl_bad', 'linear', 'dfl_bad', 'spend', ARRAY['tenure', 'plan'], '{"test_fraction": 0}');
CREATE VIEW dfl_good AS SELECT * FROM dfl_bad WHERE tenure <> 'NaN' AND spend <> 'Infinity';
SELECT name FROM profenrich.train('dfl_good', 'linear', 'dfl_good', 'spend', ARRAY['tenure', 'plan'], '{"test_fraction": 0, "key": "id"}');
SELECT bool_and(abs(a.coef - b.coef) < 1e-9 * (1 + abs(b.coef))) AS same_as_without_them
FROM profenrich.coefficients('dfl_bad') a JOIN profenrich.coefficients('dfl_good') b USING (feature) WHERE b.coef IS NOT NULL;
-- the logistic trainer skips them in memory and by streaming passes alike
ALTER TABLE dfl_bad ADD COLUMN churned boolean;
UPDATE dfl_bad b SET churned = d.churned FROM dfl d WHERE d.id = b.id;
SELECT metrics->'n_skipped_by_reason' AS reasons FROM profenrich.train('dfl_bad_lg', 'logistic', 'dfl_bad', 'churned', ARRAY['tenure', 'plan']);
SET client_min_messages = warning;
SET profenrich.max_train_memory = '64kB';
SELECT metrics->>'path' AS path, metrics->'n_skipped_by_reason' AS reasons
FROM profenrich.train('dfl_bad_st', 'logistic', 'dfl_bad', 'churned', ARRAY['tenure', 'plan']);
RESET profenrich.max_train_memory;
RESET client_min_messages;
SELECT bool_and(abs(a.coef - b.coef) < 1e-9 * (abs(b.coef) + b.std_err)) AS streaming_equals_memory
FROM profenrich.coefficients('dfl_bad_lg') a JOIN profenrich.coefficients('dfl_bad_st') b USING (feature) WHERE b.coef IS NOT NULL;
-- multinomial, gbdt and kmeans skip them too, in memory and (multinomial, kmeans) by streaming
-- passes, and fit the model trained without them
CREATE VIEW dfl_good_all AS SELECT * FROM dfl_bad WHERE tenure <> 'NaN' AND spend <> 'Infinity';
SET client_min_messages = warning;
CREATE TEMP TABLE bad_runs (m text, path text, n_skipped int, reasons jsonb);
INSERT INTO bad_runs
SELECT 'multinomial', metrics->>'path', (metrics->>'n_skipped')::int, metrics->'n_skipped_by_reason'
FROM profenrich.train('dfl_bad_multinomial_memory', 'multinomial', 'dfl_bad', 'plan', ARRAY['tenure', 'spend']);
INSERT INTO bad_runs
SELECT 'kmeans', 'memory', (metrics->>'n_skipped')::int, metrics->'n_skipped_by_reason'
FROM profenrich.train('dfl_bad_kmeans_memory', 'kmeans', 'dfl_bad', NULL, ARRAY['tenure', 'spend'], '{"k": 3, "seed": 1}');
SET profenrich.max_train_memory = '64kB';
INSERT INTO bad_runs
SELECT 'multinomial', metrics->>'path', (metrics->>'n_skipped')::int, metrics->'n_skipped_by_reason'
FROM profenrich.train('dfl_bad_multinomial_streaming', 'multinomial', 'dfl_bad', 'plan', ARRAY['tenure', 'spend']);
INSERT INTO bad_runs
SELECT 'kmeans', 'streaming', (metrics->>'n_skipped')::int, metrics->'n_skipped_by_reason'
FROM profenrich.train('dfl_bad_kmeans_streaming', 'kmeans', 'dfl_bad', NULL, ARRAY['tenure', 'spend'], '{"k": 3, "seed": 1}');
RESET profenrich.max_train_memory;
SELECT name FROM profenrich.train('dfl_good_multinomial', 'multinomial', 'dfl_good_all', 'plan',
                                  ARRAY['tenure', 'spend'], '{"key": "id"}');
SELECT name FROM profenrich.train('dfl_good_kmeans', 'kmeans', 'dfl_good_all', NULL, ARRAY['tenure', 'spend'],
                                  '{"k": 3, "seed": 1, "key": "id"}');
SELECT (profenrich.train('dfl_bad_gbdt', 'gbdt', 'dfl_bad', 'spend', ARRAY['tenure', 'plan'], '{"n_trees": 10}')).metrics->'n_skipped_by_reason' AS gbdt_reasons;
SELECT name FROM profenrich.train('dfl_good_gbdt', 'gbdt', 'dfl_good_all', 'spend', ARRAY['tenure', 'plan'], '{"n_trees": 10, "key": "id"}');
RESET client_min_messages;
SELECT m, path, n_skipped, reasons FROM bad_runs ORDER BY m, path;
SELECT path, bool_and(abs(a.coef - b.coef) < 1e-9 * (abs(b.coef) + b.std_err)) AS multinomial_as_without_them,
       count(*) AS coefficients
FROM bad_runs r, profenrich.coefficients('dfl_bad_multinomial_' || r.path) a
     JOIN profenrich.coefficients('dfl_good_multinomial') b USING (class, feature)
WHERE r.m = 'multinomial' AND b.coef IS NOT NULL GROUP BY path ORDER BY path;
SELECT r.path, count(*) FILTER (WHERE profenrich.segment('dfl_bad_kmeans_' || r.path, g)
                                      IS DISTINCT FROM profenrich.segment('dfl_good_kmeans', g)) AS kmeans_other_segment
FROM bad_runs r, dfl_good_all g WHERE r.m = 'kmeans' GROUP BY r.path ORDER BY r.path;
SELECT count(*) FILTER (WHERE profenrich.score('dfl_bad_gbdt', g) <> profenrich.score('dfl_good_gbdt', g)) AS gbdt_other_score
FROM dfl_good_all g;
-- without a key the NOTICE names what was wrong
CREATE TABLE dfl_bad_nokey AS SELECT tenure, plan, spend FROM dfl_bad;
SELECT metrics->'n_skipped' AS n_skipped FROM profenrich.train('dfl_bad_nk', 'linear', 'dfl_bad_nokey', 'spend', ARRAY['tenure', 'plan']);
-- "on_bad_row": "error" keeps the old strictness
SELECT public.err($$SELECT profenrich.train('x', 'linear', 'dfl_bad', 'spend', ARRAY['tenure'], '{"on_bad_row": "error"}')$$);
SELECT public.err($$SELECT profenrich.train('x', 'linear', 'dfl_bad', 'spend', ARRAY['tenure'], '{"on_bad_row": "never"}')$$);
-- evaluate leaves them out too, and says how many; scoring such a row stays an error
SELECT (e->>'n')::int AS n, (e->>'n_skipped')::int AS n_skipped FROM profenrich.evaluate('dfl_bad', 'dfl_bad') e;
SELECT public.err($$SELECT profenrich.score('dfl_bad', b) FROM dfl_bad b WHERE id = 17$$);

-- 5. Held-out evaluation of any version: evaluate(name, source, version), lift(name) on the
--    model's own test split (the rows the key's hash held out), explain and factors by version
SELECT name, version FROM profenrich.train('dfl_churn', 'logistic', 'dfl', 'churned', ARRAY['tenure'], '{"deploy": false}');
SELECT (profenrich.evaluate('dfl_churn'))->>'version' AS deployed,
       (profenrich.evaluate('dfl_churn', version => 2))->>'version' AS asked;
SELECT (profenrich.evaluate('dfl_churn', version => 1))->>'auc' = (metrics->'test'->>'auc') AS own_split_auc_is_test_auc
FROM profenrich.models WHERE name = 'dfl_churn' AND version = 1;
CREATE VIEW dfl_test AS
SELECT * FROM dfl WHERE (hashint4extended(id, 0) & 4294967295) < floor(0.2 * 4294967296);
SELECT bool_and(a.n = b.n AND a.positives = b.positives AND abs(a.lift - b.lift) < 1e-12) AS own_split_lift,
       sum(a.n) AS test_rows
FROM profenrich.lift('dfl_churn') a JOIN profenrich.lift('dfl_churn', 'dfl_test') b USING (bucket);
SELECT sum(n) AS rows FROM profenrich.lift('dfl_churn', buckets => 4, version => 2);
SELECT count(*) AS features FROM profenrich.explain('dfl_churn', (SELECT d FROM dfl d WHERE id = 5), 10, 2);
SELECT public.err($$SELECT profenrich.evaluate('dfl_churn', version => 9)$$);
SELECT public.err($$SELECT profenrich.evaluate('dfl_churn', version => 0)$$);
-- a keyless source: the own split hashed from each row's values, for lift too
CREATE TABLE dfl_nokey AS SELECT tenure, plan, spend, churned FROM dfl;
SELECT name FROM profenrich.train('dfl_nk', 'logistic', 'dfl_nokey', 'churned');
SELECT sum(n) = (SELECT n_test FROM profenrich.models WHERE name = 'dfl_nk') AS lift_on_the_test_split
FROM profenrich.lift('dfl_nk');
-- explain, factors and lift of a linear model (the prediction's scale), factors signed
SELECT name FROM profenrich.train('dfl_spend', 'linear', 'dfl', 'spend', ARRAY['tenure', 'plan']);
SELECT abs(sum(contribution) - (SELECT profenrich.score('dfl_spend', d) FROM dfl d WHERE id = 5)) < 1e-9 AS adds_up
FROM profenrich.explain('dfl_spend', (SELECT d FROM dfl d WHERE id = 5), 10);
SELECT count(*) AS buckets, sum(n) AS rows, bool_and(positives IS NULL) AS no_positives
FROM profenrich.lift('dfl_spend');
SELECT profenrich.factors('dfl_churn', d, 2, 1) AS signed,
       (SELECT array_agg(CASE WHEN contribution < 0 THEN '-' ELSE '+' END || feature ORDER BY abs(contribution) DESC)
        FROM profenrich.explain('dfl_churn', d, 2, 1) WHERE feature <> '(baseline)') AS from_explain
FROM dfl d WHERE id = 5;
-- the factors of the later families are signed by their explanations alike (gbdt: TreeSHAP;
-- multinomial: the predicted class's log-odds)
SELECT m, bool_and(f = e) AS signed_as_explained, count(*) AS rows
FROM (VALUES ('dfl_mn'), ('dfl_gb_null')) v(m), dfl d,
     LATERAL (SELECT profenrich.factors(v.m, d, 2) AS f,
                     (SELECT array_agg(CASE WHEN contribution < 0 THEN '-' ELSE '+' END || feature ORDER BY abs(contribution) DESC)
                      FROM profenrich.explain(v.m, d, 2) WHERE feature <> '(baseline)') AS e) x
WHERE d.id <= 50 GROUP BY m ORDER BY m;
SELECT jsonb_array_length(profenrich.factors_detail('dfl_churn', d, 2)) AS entries,
       profenrich.factors_detail('dfl_churn', d, 2)->0->>'feature' AS first,
       (profenrich.factors_detail('dfl_churn', d, 2)->0->>'value') = d.plan AS value_is_the_row_s
FROM dfl d WHERE id = 5;

-- percentile of a propensity model takes a probability: 1.5 is an error, not percentile 100
SELECT public.err($$SELECT profenrich.percentile('dfl_churn', 1.5)$$);
SELECT profenrich.percentile('dfl_churn', 0.3) BETWEEN 1 AND 100 AS a_probability_has_one;

-- 6. cross_validate: folds of the training split by the key's hash (its high 32 bits), each
--    fold's validation metrics, then their mean and sd; nothing is stored
SELECT count(*) AS models_before FROM profenrich.models \gset
CREATE TEMP TABLE cv AS
SELECT * FROM profenrich.cross_validate('logistic', 'dfl', 'churned', ARRAY['tenure', 'plan'], '{}', 4);
SELECT fold, (metrics->>'n')::int AS n, (metrics->>'n')::int + (metrics->>'n_train')::int AS training_split
FROM cv WHERE fold IS NOT NULL ORDER BY fold;
-- the folds recomputed in SQL from the same hash
WITH h AS (SELECT hashint4extended(id, 0) AS h FROM dfl),
     t AS (SELECT ((((h >> 32) & 4294967295) * 4) >> 32) AS fold FROM h WHERE (h & 4294967295) >= floor(0.2 * 4294967296))
SELECT fold + 1 AS fold, count(*) AS n FROM t GROUP BY fold ORDER BY fold;
SELECT abs((metrics->'mean'->>'logloss')::float8 - (SELECT avg((metrics->>'logloss')::float8) FROM cv WHERE fold IS NOT NULL)) < 1e-12 AS mean_ok,
       abs((metrics->'sd'->>'logloss')::float8 - (SELECT stddev_pop((metrics->>'logloss')::float8) FROM cv WHERE fold IS NOT NULL)) < 1e-12 AS sd_ok,
       metrics->>'folds' AS folds
FROM cv WHERE fold IS NULL;
SELECT (SELECT count(*) FROM profenrich.models) = :models_before AS nothing_stored;
SELECT count(*) AS linear_folds FROM profenrich.cross_validate('linear', 'dfl_nokey', 'spend', NULL, '{"test_fraction": 0}', 3);
SELECT public.err($$SELECT * FROM profenrich.cross_validate('logistic', 'dfl', 'churned', NULL, '{}', 1)$$);
SELECT public.err($$SELECT * FROM profenrich.cross_validate('logistic', 'dfl', 'churned', NULL, '{}', 21)$$);
-- a fold the key's hash leaves empty: 12 rows in 20 folds
CREATE TABLE dfl_tiny AS SELECT * FROM dfl WHERE id <= 12;
SELECT public.err($$SELECT * FROM profenrich.cross_validate('linear', 'dfl_tiny', 'spend', ARRAY['tenure'], '{"key": "id", "test_fraction": 0}', 20)$$);
DROP TABLE dfl_tiny;
-- a threshold means nothing to a class model's confusion matrix
SELECT public.err($$SELECT * FROM profenrich.confusion_matrix('dfl_mn', 'dfl_stage', 0.3)$$);
-- a target of more unknown labels than a confusion matrix holds
CREATE TEMP TABLE dfl_many AS SELECT id, spend, plan, 'new' || (id % 150) AS stage FROM dfl;
SELECT public.err($$SELECT * FROM profenrich.confusion_matrix('dfl_mn', 'dfl_many')$$);
DROP TABLE dfl_many;
SELECT public.err($$SELECT * FROM profenrich.cross_validate('clv', 'dfl', NULL)$$);
SELECT public.err($$SELECT * FROM profenrich.cross_validate(NULL, 'dfl', 'churned')$$);

-- 7. tune: the grid's cross product, cross-validated log loss (a classifier) or RMSE, the least
--    chosen and trained once more as the next version: the only registry write
SELECT params, round(metric::numeric, 6) AS metric, sd > 0 AS has_sd, chosen
FROM profenrich.tune('dfl_tuned', 'logistic', 'dfl', 'churned', ARRAY['tenure', 'plan'], '{}',
                     '{"l2": [0, 10, 1000, 100000]}', 4);
SELECT version, options->>'l2' AS l2, (SELECT count(*) FROM profenrich.models) - :models_before AS stored
FROM profenrich.models WHERE name = 'dfl_tuned';
SELECT params, chosen FROM profenrich.tune('dfl_tuned_lin', 'linear', 'dfl', 'spend', ARRAY['tenure', 'plan'], '{}',
                                           '{"l2": [0, 1e6], "impute": ["mean", "skip"]}', 3) ORDER BY params::text;
SELECT public.err($$SELECT * FROM profenrich.tune('x', 'logistic', 'dfl', 'churned', NULL, '{}', '{"l2": []}')$$);
SELECT public.err($$SELECT * FROM profenrich.tune('x', 'logistic', 'dfl', 'churned', NULL, '{}', '{"l2": 1}')$$);
SELECT public.err($$SELECT * FROM profenrich.tune('x', 'logistic', 'dfl', 'churned', NULL, '{}', '[1]')$$);
SELECT public.err($$SELECT * FROM profenrich.tune('x', 'logistic', 'dfl', 'churned', NULL, '{}', '{"lambda": [1]}')$$);
SELECT public.err($$SELECT * FROM profenrich.tune('x', 'logistic', 'dfl', 'churned')$$);
SELECT public.err($$SELECT * FROM profenrich.tune('x', 'bgnbd', 'dfl', NULL, NULL, '{}', '{"max_iter": [10]}')$$);
-- a grid whose points are scored by different metrics (a gbdt regression and classifier) is refused
SELECT public.err($$SELECT * FROM profenrich.tune('x', 'gbdt', 'dfl', 'churned', ARRAY['tenure'], '{"n_trees": 5}',
                                                 '{"objective": ["binary:logistic", "reg:squarederror"]}', 2)$$);

-- 8. train_query: a SELECT as the source, run with the caller's privileges; evaluate(name) and
--    lift(name) run it again only for the role that trained the model
SELECT name, n_train + n_test AS rows FROM profenrich.train_query('dfl_q', 'logistic',
    $$SELECT id, tenure, plan, churned FROM dfl WHERE plan <> 'pro'$$, 'churned');
SELECT (profenrich.evaluate('dfl_q'))->>'n' = (SELECT n_test::text FROM profenrich.models WHERE name = 'dfl_q') AS own_split;
SELECT source, options->>'query' AS query FROM profenrich.models WHERE name = 'dfl_q';
-- every family with a feature spec reads a query as it reads a relation: the same model as on a
-- view of the same rows (multinomial in memory and by streaming passes, gbdt, kmeans)
CREATE VIEW dfl_q_view AS SELECT id, tenure, spend, plan FROM dfl WHERE tenure > 5;
SET client_min_messages = warning;
SELECT name FROM profenrich.train_query('dfl_q_mn', 'multinomial', 'SELECT id, tenure, spend, plan FROM dfl WHERE tenure > 5',
                                        'plan', ARRAY['tenure', 'spend'], '{"key": "id"}');
SELECT name FROM profenrich.train('dfl_v_mn', 'multinomial', 'dfl_q_view', 'plan', ARRAY['tenure', 'spend'], '{"key": "id"}');
SET profenrich.max_train_memory = '64kB';
SELECT metrics->>'path' AS path FROM profenrich.train_query('dfl_q_mn_st', 'multinomial',
    'SELECT id, tenure, spend, plan FROM dfl WHERE tenure > 5', 'plan', ARRAY['tenure', 'spend'], '{"key": "id"}');
RESET profenrich.max_train_memory;
SELECT name FROM profenrich.train_query('dfl_q_gb', 'gbdt', 'SELECT id, tenure, spend, plan FROM dfl WHERE tenure > 5',
                                        'spend', ARRAY['tenure', 'plan'], '{"key": "id", "n_trees": 10}');
SELECT name FROM profenrich.train('dfl_v_gb', 'gbdt', 'dfl_q_view', 'spend', ARRAY['tenure', 'plan'], '{"key": "id", "n_trees": 10}');
-- a class target (text) read from the query too: its labels, and a text target with "positive"
SELECT name FROM profenrich.train_query('dfl_q_gbc', 'gbdt', 'SELECT id, tenure, spend, plan FROM dfl WHERE tenure > 5',
                                        'plan', ARRAY['tenure', 'spend'], '{"key": "id", "n_trees": 10}');
SELECT name FROM profenrich.train('dfl_v_gbc', 'gbdt', 'dfl_q_view', 'plan', ARRAY['tenure', 'spend'], '{"key": "id", "n_trees": 10}');
SELECT name FROM profenrich.train_query('dfl_q_gbp', 'gbdt', 'SELECT id, tenure, spend, plan FROM dfl WHERE tenure > 5 AND plan <> ''plus''',
                                        'plan', ARRAY['tenure', 'spend'], '{"key": "id", "n_trees": 10, "positive": "pro"}');
SELECT name FROM profenrich.train_query('dfl_q_km', 'kmeans', 'SELECT id, tenure, spend FROM dfl WHERE tenure > 5',
                                        NULL, ARRAY['tenure', 'spend'], '{"key": "id", "k": 3, "seed": 2}');
SELECT name FROM profenrich.train('dfl_v_km', 'kmeans', 'dfl_q_view', NULL, ARRAY['tenure', 'spend'], '{"key": "id", "k": 3, "seed": 2}');
RESET client_min_messages;
SELECT (SELECT bool_and(abs(a.coef - b.coef) < 1e-12 * (1 + abs(b.coef)))
        FROM profenrich.coefficients('dfl_q_mn') a JOIN profenrich.coefficients('dfl_v_mn') b USING (class, feature)) AS multinomial_same,
       (SELECT bool_and(abs(a.coef - b.coef) < 1e-9 * (abs(b.coef) + b.std_err))
        FROM profenrich.coefficients('dfl_q_mn_st') a JOIN profenrich.coefficients('dfl_v_mn') b USING (class, feature)) AS streaming_same,
       (SELECT count(*) FILTER (WHERE profenrich.score('dfl_q_gb', v) <> profenrich.score('dfl_v_gb', v)) FROM dfl_q_view v) AS gbdt_other_scores,
       (SELECT count(*) FILTER (WHERE profenrich.segment('dfl_q_km', v) <> profenrich.segment('dfl_v_km', v)) FROM dfl_q_view v) AS kmeans_other_segments;
SELECT profenrich.classes('dfl_q_gbc') AS gbdt_query_classes, profenrich.classes('dfl_q_gbp') AS gbdt_query_positive,
       (SELECT count(*) FILTER (WHERE profenrich.predict_class('dfl_q_gbc', v) <> profenrich.predict_class('dfl_v_gbc', v)
                                   OR profenrich.predict_proba('dfl_q_gbc', v) <> profenrich.predict_proba('dfl_v_gbc', v))
        FROM dfl_q_view v) AS gbdt_class_other;
-- and so do the item models: every customer's top items as on the table
CREATE TABLE dfl_events AS SELECT i % 50 AS customer, 'p' || (i * 7 % 13) AS product, 1 + i % 3 AS qty
FROM generate_series(1, 3000) i;
SET client_min_messages = warning;
SELECT name FROM profenrich.train('dfl_t_aff', 'affinity', 'dfl_events', options => '{"user": "customer", "item": "product", "weight": "qty"}');
SELECT name FROM profenrich.train_query('dfl_q_aff', 'affinity', 'SELECT * FROM dfl_events',
                                        options => '{"user": "customer", "item": "product", "weight": "qty"}');
SELECT name FROM profenrich.train('dfl_t_als', 'als', 'dfl_events',
                                  options => '{"user": "customer", "item": "product", "factors": 4, "iterations": 3, "seed": 1}');
SELECT name FROM profenrich.train_query('dfl_q_als', 'als', 'SELECT * FROM dfl_events',
                                        options => '{"user": "customer", "item": "product", "factors": 4, "iterations": 3, "seed": 1}');
RESET client_min_messages;
SELECT count(*) AS customers,
       count(*) FILTER (WHERE profenrich.top_items('dfl_q_aff', c, 5) = profenrich.top_items('dfl_t_aff', c, 5)) AS affinity_same,
       count(*) FILTER (WHERE profenrich.top_items('dfl_q_als', c, 5) = profenrich.top_items('dfl_t_als', c, 5)) AS als_same
FROM (SELECT DISTINCT customer AS c FROM dfl_events) u;
SELECT public.err($$SELECT profenrich.train_query('x', 'logistic', 'SELECT 1; SELECT 2', 'y')$$);
SELECT public.err($$SELECT profenrich.train_query('x', 'logistic', 'DELETE FROM dfl RETURNING *', 'churned')$$);
SELECT public.err($$SELECT profenrich.train_query('x', 'logistic', 'SELECT * INTO dfl2 FROM dfl', 'churned')$$);
SELECT public.err($$SELECT profenrich.train_query('x', 'logistic', 'SELECT id, id, churned FROM dfl', 'churned')$$);
SELECT public.err($$SELECT profenrich.train_query('x', 'logistic', $q$WITH d AS (DELETE FROM dfl_small RETURNING *) SELECT * FROM d$q$, 'spend')$$);
SELECT public.err($$SELECT profenrich.train_query('x', 'logistic', NULL, 'churned')$$);
CREATE ROLE regress_dfl_analyst;
GRANT INSERT, UPDATE ON profenrich.models, profenrich.deployments TO regress_dfl_analyst;
GRANT USAGE ON profenrich.models_model_id_seq, profenrich.deployments_deploy_id_seq TO regress_dfl_analyst;
SET ROLE regress_dfl_analyst;
SELECT public.err($$SELECT profenrich.train_query('dfl_q2', 'logistic', 'SELECT tenure, churned FROM dfl', 'churned')$$);
SELECT public.err($$SELECT profenrich.evaluate('dfl_q')$$);
RESET ROLE;
REVOKE ALL ON profenrich.models, profenrich.deployments FROM regress_dfl_analyst;
REVOKE ALL ON profenrich.models_model_id_seq, profenrich.deployments_deploy_id_seq FROM regress_dfl_analyst;
DROP ROLE regress_dfl_analyst;

-- 9. enrich: a row whose scoring fails gets NULL insights and is counted with its key
--    ("on_error": "null", the default); "stop" stops the run; rows with unseen categories counted
CREATE TABLE dfl_rows AS SELECT id, tenure, plan, spend FROM dfl;
ALTER TABLE dfl_rows ADD PRIMARY KEY (id);
UPDATE dfl_rows SET plan = 'platinum' WHERE id IN (10, 20, 30);
SET client_min_messages = warning;
CALL profenrich.enrich('dfl_rows', array['dfl_churn', 'dfl_err'], '{"batch_size": 500}');
RESET client_min_messages;
SELECT rows_scanned, rows_failed, rows_unseen, first_failure, first_failure_key
FROM profenrich.enrich_runs WHERE target = 'public.dfl_rows' ORDER BY run_id DESC LIMIT 1;
SELECT id, dfl_churn_score IS NOT NULL AS average_scored, dfl_err_score IS NULL AS error_is_null
FROM dfl_rows WHERE id IN (10, 20, 30, 40) ORDER BY id;
SELECT count(*) FILTER (WHERE dfl_err_score IS NULL) AS nulls, count(*) AS rows FROM dfl_rows;
-- the scored rows equal score(), the run is finished
SELECT bool_and(abs(dfl_err_score - profenrich.score('dfl_err', r)) < 1e-15) AS equal_to_score
FROM dfl_rows r WHERE id NOT IN (10, 20, 30);
SELECT status FROM profenrich.enrich_status WHERE target = 'public.dfl_rows' ORDER BY run_id DESC LIMIT 1;
-- "stop": today's behaviour, the run fails with the error
SET client_min_messages = warning;
SELECT public.err($$CALL profenrich.enrich('dfl_rows', array['dfl_err'], '{"on_error": "stop"}')$$);
RESET client_min_messages;
-- inside a transaction block too
BEGIN;
UPDATE dfl_rows SET dfl_err_score = NULL;
SET LOCAL client_min_messages = warning;
CALL profenrich.enrich('dfl_rows', array['dfl_err']);
SELECT count(*) FILTER (WHERE dfl_err_score IS NULL) AS nulls FROM dfl_rows;
COMMIT;
SELECT public.err($$CALL profenrich.enrich('dfl_rows', array['dfl_err'], '{"on_error": "maybe"}')$$);
-- two outputs in one column: refused first, and nothing is added
SELECT public.err($$CALL profenrich.enrich('dfl_rows', array['dfl_churn', 'dfl_spend'],
                    '{"columns": {"dfl_churn": {"score": "both"}, "dfl_spend": {"score": "both"}}}')$$);
SELECT public.err($$CALL profenrich.enrich('dfl_rows', array['dfl_churn'],
                    '{"percentile": true, "columns": {"dfl_churn": {"score": "x", "percentile": "x"}}}')$$);
SELECT public.err($$CALL profenrich.enrich('dfl_rows', array['dfl_churn'], '{"columns": {"dfl_churn": {"score": "tenure"}}}')$$);
SELECT count(*) AS both_columns FROM information_schema.columns WHERE table_name = 'dfl_rows' AND column_name IN ('both', 'x');
-- factors_detail: a jsonb column of feature, value and contribution
SET client_min_messages = warning;
CALL profenrich.enrich('dfl_rows', array['dfl_churn'], '{"factors": 2, "factors_detail": true}');
RESET client_min_messages;
SELECT dfl_churn_factors AS factors, jsonb_array_length(dfl_churn_factors_detail) AS details,
       (SELECT array_agg(CASE WHEN (e->>'contribution')::float8 < 0 THEN '-' ELSE '+' END || (e->>'feature'))
        FROM jsonb_array_elements(dfl_churn_factors_detail) e) = dfl_churn_factors AS same_factors
FROM dfl_rows WHERE id = 5;

-- 10. The trigger: "on_error": "null" writes NULL for a row it cannot score (a WARNING);
--     without it (the trigger's default, "stop") the statement fails
CREATE TRIGGER dfl_now BEFORE INSERT OR UPDATE ON dfl_rows
FOR EACH ROW EXECUTE FUNCTION profenrich.enrich_trigger('dfl_err', '{"on_error": "null"}');
INSERT INTO dfl_rows (id, tenure, plan, spend) VALUES (5001, 10, 'platinum', 1), (5002, 10, 'pro', 1);
SELECT id, dfl_err_score IS NULL AS is_null FROM dfl_rows WHERE id > 5000 ORDER BY id;
DROP TRIGGER dfl_now ON dfl_rows;
CREATE TRIGGER dfl_stop BEFORE INSERT OR UPDATE ON dfl_rows
FOR EACH ROW EXECUTE FUNCTION profenrich.enrich_trigger('dfl_err');
SELECT public.err($$INSERT INTO dfl_rows (id, tenure, plan, spend) VALUES (5003, 10, 'platinum', 1)$$);
DROP TRIGGER dfl_stop ON dfl_rows;

-- clean up
SELECT count(*) > 0 AS dropped FROM (SELECT profenrich.drop_model(name) FROM
  (SELECT DISTINCT name FROM profenrich.models WHERE name LIKE 'dfl\_%') n) d;
DROP TABLE dfl_events;
DROP TABLE dfl, dfl_small, dfl_copy, dfl_ids, dfl_sep, dfl_bad, dfl_bad_nokey, dfl_nokey, dfl_rows CASCADE;
