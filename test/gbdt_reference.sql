-- Gradient-boosted trees against Debian's python3-xgboost 1.7 (xgboost.train, tree_method
-- hist, nthread 1, no subsampling) on the same encoded matrix: figures recorded by
-- test/reference/gbdt_reference.py in test/reference/gbdt_figures.sql, method in
-- test/reference/gbdt_reference.md.  Models: bin (binary:logistic), reg (reg:squarederror
-- with min_child_weight, l2, l1), cls (multi:softprob, 3 classes), es (early stopping on a
-- keyed test split), bal (class_weight balanced, impute mean); x2 and plan have NULLs,
-- missing (NaN) for XGBoost except in bal.
-- Tolerances:
--   1e-6   predictions (probabilities absolute; values relative to max(1, |value|)):
--          XGBoost sums its float leaves in float, profenrich in double
--   1e-5   TreeSHAP contributions and bias, margins, gain, cover, mean |SHAP| (relative to
--          max(1, |ref|)): XGBoost computes them in float
--   1e-9   explain()'s parts add up to the row's margin (profenrich's own margin)
--   exact  trees kept, early stopping's best iteration, splits per feature, the test split
-- Every model is also compared with XGBoost's own prediction of its stored model in this
-- backend (gbdt_check: values, margins, contributions of every row).
\set QUIET on
\set ON_ERROR_STOP on
SET client_min_messages = warning;
BEGIN;
\ir reference/gbdt_data.sql
\ir reference/gbdt_figures.sql
SELECT plan(52);

-- a within tol of b, relative to max(1, |b|)
CREATE FUNCTION pg_temp.near(a float8, b float8, tol float8) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT a IS NOT NULL AND b IS NOT NULL AND abs(a - b) <= tol * greatest(1, abs(b)) $$;

-- the SQLSTATE and hint a statement raises
CREATE FUNCTION pg_temp.raised(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text; hint text;
BEGIN
  EXECUTE q;
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, hint = PG_EXCEPTION_HINT;
  RETURN st || CASE WHEN coalesce(hint, '') <> '' THEN ' with hint' ELSE ' without hint' END;
END $$;

CREATE TEMP TABLE trained AS
SELECT 'bin'::text AS model, t.* FROM profenrich.train('bin', 'gbdt', 'gbdt_data', 'y_bin',
  ARRAY['x1', 'x2', 'x3', 'flag', 'plan'],
  '{"n_trees": 30, "max_depth": 4, "learning_rate": 0.3, "test_fraction": 0}') t;
INSERT INTO trained SELECT 'reg', t.* FROM profenrich.train('reg', 'gbdt', 'gbdt_data', 'y_num',
  ARRAY['x1', 'x2', 'x3', 'flag', 'plan'],
  '{"n_trees": 40, "max_depth": 3, "learning_rate": 0.2, "min_child_weight": 2, "l2": 0.5,
    "l1": 0.1, "test_fraction": 0}') t;
INSERT INTO trained SELECT 'cls', t.* FROM profenrich.train('cls', 'gbdt', 'gbdt_data', 'y_cls',
  ARRAY['x1', 'x2', 'x3', 'flag', 'plan'],
  '{"n_trees": 20, "max_depth": 3, "learning_rate": 0.3, "test_fraction": 0}') t;
INSERT INTO trained SELECT 'es', t.* FROM profenrich.train('es', 'gbdt', 'gbdt_data', 'y_bin',
  ARRAY['x1', 'x2', 'x3', 'flag', 'plan'],
  '{"n_trees": 200, "max_depth": 4, "learning_rate": 0.3, "test_fraction": 0.3, "seed": 7,
    "key": "id", "early_stopping_rounds": 5}') t;
INSERT INTO trained SELECT 'bal', t.* FROM profenrich.train('bal', 'gbdt', 'gbdt_data', 'y_rare',
  ARRAY['x1', 'x2', 'x3', 'flag', 'plan'],
  '{"n_trees": 25, "max_depth": 3, "learning_rate": 0.3, "test_fraction": 0,
    "class_weight": "balanced", "impute": "mean"}') t;

-- [1-10] what was trained: trees, early stopping, the split
SELECT is((SELECT (metrics->>'trees')::int FROM trained WHERE model = m.model), m.trees,
          m.model || ': trees kept = xgboost ' || m.trees)
FROM gbdt_ref_meta m ORDER BY m.model;
SELECT is((SELECT (metrics->>'best_iteration')::int FROM trained WHERE model = 'es'),
          (SELECT best_iteration FROM gbdt_ref_meta WHERE model = 'es'),
          'es: early stopping picks xgboost.train''s best iteration');
SELECT is((SELECT (metrics->>'rounds')::int FROM trained WHERE model = 'es'),
          (SELECT best_iteration + 1 + 5 FROM gbdt_ref_meta WHERE model = 'es'),
          'es: boosting stopped 5 rounds after the best one');
SELECT set_eq($$SELECT id FROM gbdt_data
                WHERE (hashint4extended(id, 7) & 4294967295) < floor(0.3 * 4294967296)$$,
              $$SELECT id FROM gbdt_ref_split$$,
              'es: the recorded test split is the key hash split profenrich uses');
SELECT is((SELECT n_test FROM trained WHERE model = 'es'), (SELECT count(*) FROM gbdt_ref_split),
          'es: n_test is the size of that split');
SELECT is((SELECT metrics->>'objective' FROM trained WHERE model = 'cls'), 'multi:softprob',
          'a text target without "positive" trains multi:softprob');

-- [11-15] predictions of every row (score: probability or value; cls: every class's probability)
CREATE TEMP TABLE got AS
SELECT m.model, d.id, k.k,
       CASE WHEN m.model = 'cls' THEN (profenrich.predict_proba('cls', d))[k.k + 1]
            ELSE profenrich.score(m.model, d) END AS value
FROM (VALUES ('bin'), ('reg'), ('cls'), ('es'), ('bal')) m(model)
CROSS JOIN gbdt_data d
CROSS JOIN LATERAL generate_series(0, CASE WHEN m.model = 'cls' THEN 2 ELSE 0 END) k(k);
SELECT is((SELECT count(*) FILTER (WHERE NOT pg_temp.near(g.value, r.value, 1e-6))
           FROM got g JOIN gbdt_ref r USING (model, id, k) WHERE model = m.model), 0::bigint,
          m.model || ': every prediction within 1e-6 of xgboost''s')
FROM (VALUES ('bin'), ('bal'), ('cls'), ('es'), ('reg')) m(model);

-- [16-19] margins: logit of the probability, the value of a regression
SELECT is((SELECT count(*) FILTER (WHERE NOT pg_temp.near(
             CASE WHEN model = 'reg' THEN g.value ELSE ln(g.value / (1 - g.value)) END, r.margin, 1e-5))
           FROM got g JOIN gbdt_ref r USING (model, id, k) WHERE model = m.model), 0::bigint,
          m.model || ': every margin within 1e-5 of xgboost''s')
FROM (VALUES ('bin'), ('bal'), ('es'), ('reg')) m(model);

-- [20-24] TreeSHAP: explain() with k >= features is xgboost's pred_contribs, one-hot summed;
-- a class model explains its predicted class
CREATE TEMP TABLE shap AS
SELECT m.model, d.id, e.feature, e.value, e.contribution,
       CASE WHEN m.model = 'cls' THEN array_position(profenrich.classes('cls'),
            profenrich.predict_class('cls', d)) - 1 ELSE 0 END AS k
FROM (VALUES ('bin'), ('reg'), ('cls'), ('es'), ('bal')) m(model)
CROSS JOIN gbdt_data d CROSS JOIN LATERAL profenrich.explain(m.model, d, 10) e
WHERE d.id BETWEEN 1 AND 10;
SELECT is((SELECT count(*) FILTER (WHERE NOT pg_temp.near(s.contribution, r.value, 1e-5))
           FROM shap s JOIN gbdt_ref_shap r USING (model, id, k, feature) WHERE model = m.model),
          0::bigint, m.model || ': 60 SHAP values and baselines within 1e-5 of xgboost''s')
FROM (VALUES ('bin'), ('bal'), ('cls'), ('es'), ('reg')) m(model);
SELECT is((SELECT count(*) FROM shap s JOIN gbdt_ref_shap r USING (model, id, k, feature)), 300::bigint,
          'every SHAP value was compared (5 models x 10 rows x 6)');

-- [26-29] the parts add up to the row's margin
SELECT is((SELECT count(*) FROM (SELECT s.id, sum(s.contribution) AS total,
                                        max(g.value) AS value FROM shap s
                                 JOIN got g ON g.model = s.model AND g.id = s.id
                                 WHERE s.model = m.model GROUP BY s.id) x
           WHERE NOT pg_temp.near(total, CASE WHEN m.model = 'reg' THEN value
                                              ELSE ln(value / (1 - value)) END, 1e-9)),
          0::bigint, m.model || ': baseline + contributions = the row''s margin (1e-9)')
FROM (VALUES ('bin'), ('bal'), ('es'), ('reg')) m(model);

-- [30-31] a NULL feature shows as NULL and still gets its (missing-value) contribution
SELECT is((SELECT count(*) FROM shap s JOIN gbdt_data d USING (id)
           WHERE s.model = 'bin' AND s.feature = 'x2' AND d.x2 IS NULL AND s.value IS NULL),
          (SELECT count(*) FROM gbdt_data WHERE id BETWEEN 1 AND 10 AND x2 IS NULL),
          'explain shows a NULL feature as NULL');
SELECT ok((SELECT count(*) FROM gbdt_data WHERE id BETWEEN 1 AND 10 AND (x2 IS NULL OR plan IS NULL)) > 0,
          'the explained rows include NULL features');

-- [32-36] feature_importance: xgboost's get_score gain, cover, weight (levels summed), mean |SHAP|
SELECT is((SELECT count(*) FILTER (WHERE NOT (pg_temp.near(f.gain, i.gain, 1e-5)
                                      AND pg_temp.near(f.cover, i.cover, 1e-5)
                                      AND f.weight = i.weight
                                      AND pg_temp.near(f.mean_abs_shap, i.mean_abs_shap, 1e-5)))
           FROM gbdt_ref_importance i JOIN profenrich.feature_importance(m.model) f USING (feature)
           WHERE i.model = m.model), 0::bigint,
          m.model || ': gain, cover, splits and mean |SHAP| of each feature = xgboost''s')
FROM (VALUES ('bin'), ('bal'), ('cls'), ('es'), ('reg')) m(model);

-- [37-41] gbdt_check: the evaluator against XGBoost's own prediction of the stored model
CREATE TEMP TABLE checked AS
SELECT m.model, profenrich.gbdt_check(m.model, 'gbdt_data') AS c
FROM (VALUES ('bin'), ('reg'), ('cls'), ('es'), ('bal')) m(model);
SELECT ok((c->>'rows')::int = 300 AND (c->>'value_max_abs_diff')::float8 <= 1e-6 * CASE WHEN model = 'reg' THEN 30 ELSE 1 END
          AND (c->>'margin_max_abs_diff')::float8 <= 1e-5 * CASE WHEN model = 'reg' THEN 30 ELSE 10 END
          AND (c->>'shap_max_abs_diff')::float8 <= 1e-5
          AND (c->>'shap_sum_max_abs_error')::float8 <= 1e-9,
          model || ': evaluator = xgboost''s prediction on all 300 rows ' || c::text)
FROM checked ORDER BY model;

-- [42-47] the class outputs
SELECT is(profenrich.classes('cls'), ARRAY['high', 'low', 'mid'], 'cls: labels in sort order');
SELECT is(profenrich.classes('bin'), ARRAY['false', 'true'], 'bin: labels false, true');
SELECT is((SELECT count(*) FROM gbdt_data d
           WHERE profenrich.predict_class('cls', d) <> (profenrich.classes('cls'))[
             (SELECT k FROM unnest(profenrich.predict_proba('cls', d)) WITH ORDINALITY u(p, k)
              ORDER BY p DESC LIMIT 1)]), 0::bigint, 'cls: predict_class is the most probable class');
SELECT ok((SELECT max(abs(p[1] + p[2] + p[3] - 1)) FROM (SELECT profenrich.predict_proba('cls', d) p
           FROM gbdt_data d) x) < 1e-12, 'cls: probabilities add up to 1');
SELECT is((SELECT count(*) FROM gbdt_data d WHERE profenrich.predict_class('bin', d)::boolean
           <> (profenrich.score('bin', d) >= 0.5)), 0::bigint,
          'bin: predict_class is the positive class from probability 0.5 on');
SELECT ok((SELECT abs(profenrich.predict_proba('cls', d, 'mid') - (profenrich.predict_proba('cls', d))[3])
           FROM gbdt_data d WHERE id = 7) = 0, 'cls: predict_proba of a named class');

-- [48-52] number outputs: insight wrappers, percentile, lift, evaluate
SELECT is((SELECT count(*) FROM gbdt_data d WHERE profenrich.score_churn(d, 'bin')
           IS DISTINCT FROM profenrich.score('bin', d)), 0::bigint, 'score_churn takes a binary gbdt model');
SELECT is((SELECT count(*) FROM gbdt_data d WHERE profenrich.predict_ltv(d, 'reg')
           IS DISTINCT FROM profenrich.score('reg', d)), 0::bigint, 'predict_ltv takes a gbdt regression');
SELECT ok((SELECT min(profenrich.percentile('bin', profenrich.score('bin', d))) >= 1
              AND max(profenrich.percentile('bin', profenrich.score('bin', d))) = 100
           FROM gbdt_data d), 'percentile ranks gbdt scores 1..100');
SELECT ok((SELECT max(cumulative_gain) = 1 AND count(*) = 10
           AND (array_agg(lift ORDER BY bucket))[1] > 1.5 FROM profenrich.lift('bin', 'gbdt_data')),
          'lift of a binary gbdt model: 10 buckets, the first well above 1');
SELECT ok(pg_temp.near((profenrich.evaluate('es')->>'auc')::float8,
                       (SELECT (metrics->'test'->>'auc')::float8 FROM trained WHERE model = 'es'), 1e-12),
          'evaluate on its own test split gives the training metrics'' test auc');

SELECT * FROM finish();
ROLLBACK;
