-- Gradient-boosted trees ('gbdt'): targets and objectives, outputs by kind, enrich and the
-- trigger, and every error a user can cause.  Figures against XGBoost are in
-- test/gbdt_reference.sql; here results print as booleans or rounded values.
SET client_min_messages = warning;
SELECT setseed(0.23);
CREATE TABLE subs_g AS
SELECT i AS id, (random() * 60)::int AS tenure, round((random() * 100)::numeric, 2)::float8 AS spend,
       random() < 0.3 AS promo, (ARRAY['free', 'basic', 'pro'])[1 + (i % 3)] AS plan,
       NULL::text AS churned, NULL::int AS tier, NULL::float8 AS value
FROM generate_series(1, 3000) AS i;
UPDATE subs_g SET churned = CASE WHEN 1.5 - 0.06 * tenure + 0.8 * promo::int
                                  + CASE plan WHEN 'free' THEN 1 ELSE 0 END + random() * 2 > 1.5
                                 THEN 'Yes' ELSE 'No' END,
                  tier = (tenure / 20)::int, value = 10 + 2 * tenure + spend * (plan = 'pro')::int;
UPDATE subs_g SET spend = NULL WHERE id % 11 = 0;
ALTER TABLE subs_g ADD PRIMARY KEY (id);

-- a text target with "positive" is binary:logistic; NULL spend stays missing
SELECT name, algorithm, n_train, n_test, metrics->>'objective' AS objective,
       (metrics->'test'->>'auc')::float8 > 0.8 AS good_auc, (metrics->>'trees')::int <= 60 AS trees,
       metrics ? 'best_iteration' AS has_best
FROM profenrich.train('churn_g', 'gbdt', 'subs_g', 'churned', ARRAY['tenure', 'spend', 'promo', 'plan'],
                      '{"positive": "Yes", "n_trees": 60, "max_depth": 3}');
SELECT options->>'impute' AS impute, options->>'tree_method' AS tree_method FROM profenrich.models
WHERE name = 'churn_g';
SELECT profenrich.classes('churn_g');
SELECT count(*) AS scored, count(*) FILTER (WHERE s BETWEEN 0 AND 1) AS probabilities
FROM (SELECT profenrich.score_churn(s, 'churn_g') AS s FROM subs_g s) x;
SELECT feature, value, round(contribution::numeric, 3) <> 0 AS nonzero
FROM profenrich.explain('churn_g', (SELECT s FROM subs_g s WHERE id = 11), 2) ORDER BY feature;
SELECT feature, weight > 0 AS split_on, mean_abs_shap > 0 AS matters
FROM profenrich.feature_importance('churn_g') ORDER BY feature;
-- a numeric target is a regression, an integer one a class target when asked
SELECT metrics->>'objective' AS objective, (metrics->'test'->>'r2')::float8 > 0.9 AS good_r2
FROM profenrich.train('value_g', 'gbdt', 'subs_g', 'value', ARRAY['tenure', 'spend', 'plan'],
                      '{"n_trees": 80}');
SELECT metrics->>'objective' AS objective, (metrics->'test'->>'accuracy')::float8 > 0.9 AS accurate
FROM profenrich.train('tier_g', 'gbdt', 'subs_g', 'tier', ARRAY['tenure', 'plan'],
                      '{"objective": "multi:softprob", "n_trees": 20}');
SELECT profenrich.classes('tier_g'), profenrich.predict_class('tier_g', s) AS class,
       round(profenrich.predict_proba('tier_g', s, '0')::numeric, 2) > 0.5 AS likely
FROM subs_g s WHERE id = 3 AND tenure < 20;
SELECT abs(profenrich.predict_ltv(s, 'value_g') - s.value) < 10 AS close FROM subs_g s WHERE id = 7;

-- every model here against XGBoost's own prediction of it, on every row
SELECT m, (c->>'rows')::int AS rows, (c->>'value_max_abs_diff')::float8 < 1e-6 * CASE WHEN m = 'value_g' THEN 300 ELSE 1 END AS same_values,
       (c->>'shap_max_abs_diff')::float8 < 1e-4 AS same_shap, (c->>'shap_sum_max_abs_error')::float8 < 1e-9 AS shap_adds_up
FROM unnest(ARRAY['churn_g', 'value_g', 'tier_g']) m, profenrich.gbdt_check(m, 'subs_g') c;

-- impute "skip" drops rows with a NULL feature and gives them no score
SELECT n_train + n_test AS used, (metrics->>'n_skipped')::int AS skipped
FROM profenrich.train('skip_g', 'gbdt', 'subs_g', 'value', ARRAY['tenure', 'spend'],
                      '{"impute": "skip", "n_trees": 5}');
SELECT profenrich.score('skip_g', s) IS NULL AS no_score FROM subs_g s WHERE id = 11;

-- enrich writes the number and class outputs, the trigger the same for a new row
CREATE TABLE prof_g AS SELECT id, tenure, spend, promo, plan FROM subs_g WHERE id <= 200;
CALL profenrich.enrich('prof_g', ARRAY['churn_g', 'tier_g'],
                       '{"percentile": true, "factors": 2, "probabilities": true}');
SELECT count(*) FILTER (WHERE p.churn_g_score IS DISTINCT FROM profenrich.score('churn_g', p)) AS score_diff,
       count(*) FILTER (WHERE p.churn_g_factors IS DISTINCT FROM profenrich.factors('churn_g', p, 2)) AS factors_diff,
       count(*) FILTER (WHERE p.tier_g_class IS DISTINCT FROM profenrich.predict_class('tier_g', p)) AS class_diff,
       count(*) FILTER (WHERE p.churn_g_pct BETWEEN 1 AND 100) AS ranked
FROM prof_g p;
CREATE TRIGGER prof_g_churn BEFORE INSERT OR UPDATE ON prof_g FOR EACH ROW
EXECUTE FUNCTION profenrich.enrich_trigger('churn_g', '{"factors": 2}');
CREATE TRIGGER prof_g_tier BEFORE INSERT OR UPDATE ON prof_g FOR EACH ROW
EXECUTE FUNCTION profenrich.enrich_trigger('tier_g');
INSERT INTO prof_g (id, tenure, spend, promo, plan) VALUES (5000, 3, NULL, true, 'free');
SELECT churn_g_score = profenrich.score('churn_g', p) AS same_score,
       churn_g_factors = profenrich.factors('churn_g', p, 2) AS same_factors,
       tier_g_class = profenrich.predict_class('tier_g', p) AS same_class
FROM prof_g p WHERE id = 5000;

-- options out of range
SELECT public.err($$SELECT profenrich.train('e', 'gbdt', 'subs_g', 'value', ARRAY['tenure'], '{"max_depth": 0}')$$);
SELECT public.err($$SELECT profenrich.train('e', 'gbdt', 'subs_g', 'value', ARRAY['tenure'], '{"max_depth": 21}')$$);
SELECT public.err($$SELECT profenrich.train('e', 'gbdt', 'subs_g', 'value', ARRAY['tenure'], '{"learning_rate": 0}')$$);
SELECT public.err($$SELECT profenrich.train('e', 'gbdt', 'subs_g', 'value', ARRAY['tenure'], '{"learning_rate": 1.5}')$$);
SELECT public.err($$SELECT profenrich.train('e', 'gbdt', 'subs_g', 'value', ARRAY['tenure'], '{"n_trees": 0}')$$);
SELECT public.err($$SELECT profenrich.train('e', 'gbdt', 'subs_g', 'value', ARRAY['tenure'], '{"n_trees": 10001}')$$);
SELECT public.err($$SELECT profenrich.train('e', 'gbdt', 'subs_g', 'value', ARRAY['tenure'], '{"subsample": 0}')$$);
SELECT public.err($$SELECT profenrich.train('e', 'gbdt', 'subs_g', 'value', ARRAY['tenure'], '{"subsample": 1.1}')$$);
SELECT public.err($$SELECT profenrich.train('e', 'gbdt', 'subs_g', 'value', ARRAY['tenure'], '{"colsample_bytree": -1}')$$);
SELECT public.err($$SELECT profenrich.train('e', 'gbdt', 'subs_g', 'value', ARRAY['tenure'], '{"l2": -1}')$$);
SELECT public.err($$SELECT profenrich.train('e', 'gbdt', 'subs_g', 'value', ARRAY['tenure'], '{"early_stopping_rounds": -1}')$$);
SELECT public.err($$SELECT profenrich.train('e', 'gbdt', 'subs_g', 'value', ARRAY['tenure'], '{"max_bin": 1}')$$);
SELECT public.err($$SELECT profenrich.train('e', 'gbdt', 'subs_g', 'value', ARRAY['tenure'], '{"objective": "rank:pairwise"}')$$);
SELECT public.err($$SELECT profenrich.train('e', 'gbdt', 'subs_g', 'value', ARRAY['tenure'], '{"trees": 10}')$$);
-- targets that cannot have the objective, or one value only
SELECT public.err($$SELECT profenrich.train('e', 'gbdt', 'subs_g', 'value', ARRAY['tenure'], '{"positive": "Yes"}')$$);
SELECT public.err($$SELECT profenrich.train('e', 'gbdt', 'subs_g', 'churned', ARRAY['tenure'], '{"objective": "reg:squarederror"}')$$);
SELECT public.err($$SELECT profenrich.train('e', 'gbdt', 'subs_g', 'churned', ARRAY['tenure'], '{"objective": "binary:logistic"}')$$);
SELECT public.err($$SELECT profenrich.train('e', 'gbdt', 'subs_g', 'value', ARRAY['tenure'], '{"objective": "multi:softprob"}')$$);
SELECT public.err($$SELECT profenrich.train('e', 'gbdt', 'subs_g', 'value', ARRAY['tenure'], '{"class_weight": "balanced"}')$$);
SELECT public.err($$SELECT profenrich.train('e', 'gbdt', 'subs_g', 'churned', ARRAY['tenure'], '{"positive": "Yes", "class_weight": {"Maybe": 2}}')$$);
CREATE VIEW one_value AS SELECT id, tenure, 5.0::float8 AS y, 'a'::text AS c, true AS b FROM subs_g;
SELECT public.err($$SELECT profenrich.train('e', 'gbdt', 'one_value', 'y', ARRAY['tenure'])$$);
SELECT public.err($$SELECT profenrich.train('e', 'gbdt', 'one_value', 'c', ARRAY['tenure'])$$);
SELECT public.err($$SELECT profenrich.train('e', 'gbdt', 'one_value', 'b', ARRAY['tenure'])$$);
-- "missing" is for the trees only
SELECT public.err($$SELECT profenrich.train('e', 'logistic', 'subs_g', 'churned', ARRAY['tenure'], '{"positive": "Yes", "impute": "missing"}')$$);
-- more rows than profenrich.max_train_memory holds
SET profenrich.max_train_memory = '100kB';
SELECT public.err($$SELECT profenrich.train('e', 'gbdt', 'subs_g', 'value', ARRAY['tenure', 'spend'])$$);
RESET profenrich.max_train_memory;
-- training is cancelled between rounds
SET statement_timeout = '300ms';
SELECT profenrich.train('e', 'gbdt', 'subs_g', 'value', ARRAY['tenure', 'spend', 'plan'],
                        '{"n_trees": 10000, "max_depth": 10, "early_stopping_rounds": 0, "learning_rate": 0.001}');
RESET statement_timeout;
SELECT count(*) AS no_version_left FROM profenrich.models WHERE name = 'e';
-- outputs of another kind
SELECT public.err($$SELECT profenrich.score_churn(s, 'value_g') FROM subs_g s$$);
SELECT public.err($$SELECT profenrich.predict_ltv(s, 'churn_g') FROM subs_g s$$);
SELECT public.err($$SELECT profenrich.predict_class('value_g', s) FROM subs_g s$$);
SELECT public.err($$SELECT profenrich.score('tier_g', s) FROM subs_g s$$);
SELECT public.err($$SELECT profenrich.classes('value_g')$$);
-- evaluate of a class model: on its own test split, the training's test metrics
SELECT (e->>'n')::int = (m.metrics->'test'->>'n')::int AS same_n,
       abs((e->>'logloss')::float8 - (m.metrics->'test'->>'logloss')::float8) < 1e-9 AS same_logloss,
       abs((e->>'macro_f1')::float8 - (m.metrics->'test'->>'macro_f1')::float8) < 1e-9 AS same_macro_f1
FROM profenrich.evaluate('tier_g') e, profenrich.models m WHERE m.name = 'tier_g' AND m.deployed;
-- lift of a regression model, as of a linear one: buckets of the rows ranked by prediction,
-- rate the bucket's mean target (checked where ties in the ranking cannot matter: the rows,
-- the overall mean, the whole sum by the last bucket); a multi-class model has no gains table
SELECT sum(l.n) = (SELECT count(*) FROM subs_g WHERE value IS NOT NULL) AS every_row,
       abs(sum(l.n * l.rate) / sum(l.n) - (SELECT avg(value) FROM subs_g)) < 1e-9 AS overall_mean,
       abs(max(l.cumulative_gain) FILTER (WHERE l.bucket = 10) - 1) < 1e-12 AS all_gained,
       bool_and(l.positives IS NULL) AS no_positives
FROM profenrich.lift('value_g', 'subs_g') l;
SELECT public.err($$SELECT * FROM profenrich.lift('tier_g', 'subs_g')$$);
SELECT public.err($$SELECT * FROM profenrich.coefficients('churn_g')$$);
SELECT public.err($$SELECT * FROM profenrich.feature_importance('skip_g', 9)$$);
SELECT public.err($$SELECT * FROM profenrich.feature_importance('nope')$$);
SELECT profenrich.train('lin_g', 'linear', 'subs_g', 'value', ARRAY['tenure']) IS NOT NULL AS trained;
SELECT public.err($$SELECT * FROM profenrich.feature_importance('lin_g')$$);
SELECT public.err($$SELECT profenrich.gbdt_check('lin_g', 'subs_g')$$);
-- a check whose rows fit profenrich.max_train_memory but whose contributions (ours and
-- XGBoost's, rows x classes x (slots + 1)) would not is refused before XGBoost is asked
SET profenrich.max_train_memory = '600kB';
SELECT public.err($$SELECT profenrich.gbdt_check('tier_g', 'subs_g')$$);
RESET profenrich.max_train_memory;
-- stored params tampered with: 600 mutations of a gbdt model's, each read by scoring,
-- explanation, classes, importance and (on a tenth) gbdt_check, which hands XGBoost its
-- bytes only when they match their checksum; never an internal error, never a crash
CREATE TABLE gz AS SELECT * FROM subs_g WHERE id <= 300;
SELECT (profenrich.train('gz', 'gbdt', 'gz', 'churned', ARRAY['tenure', 'spend', 'plan'],
        '{"positive": "Yes", "n_trees": 8, "max_depth": 3}')).n_train > 0 AS trained;
CREATE TEMP TABLE gz_orig AS SELECT params FROM profenrich.models WHERE name = 'gz';
CREATE FUNCTION pg_temp.mutate(b bytea) RETURNS bytea LANGUAGE plpgsql AS $$
DECLARE n int := length(b); kind int := floor(random() * 4); pos int;
BEGIN
  IF kind = 0 THEN
    RETURN substring(b FROM 1 FOR floor(random() * n)::int);
  END IF;
  pos := floor(random() * (n - 8));
  IF kind = 1 THEN
    RETURN set_byte(b, pos, floor(random() * 256)::int);
  ELSIF kind = 2 THEN
    RETURN overlay(b PLACING (ARRAY['\xffffffff', '\x7fffffff', '\x40000000', '\x00000000']::bytea[])
                   [1 + floor(random() * 4)::int] FROM pos + 1);
  END IF;
  RETURN overlay(b PLACING '\x7fc00000'::bytea FROM pos + 1);   -- a NaN float
END $$;
CREATE TEMP TABLE gz_log (sqlstate text);
CREATE FUNCTION pg_temp.try(q text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE st text;
BEGIN
  EXECUTE q;
  INSERT INTO gz_log VALUES ('ok');
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE;
  INSERT INTO gz_log VALUES (st);
END $$;
SELECT setseed(0.14);
DO $$
BEGIN
  FOR i IN 1..600 LOOP
    UPDATE profenrich.models SET params = pg_temp.mutate((SELECT params FROM gz_orig)) WHERE name = 'gz';
    PERFORM pg_temp.try('SELECT profenrich.score(''gz'', g) FROM gz g LIMIT 20');
    PERFORM pg_temp.try('SELECT * FROM profenrich.explain(''gz'', (SELECT g FROM gz g WHERE id = 11), 5)');
    PERFORM pg_temp.try('SELECT profenrich.predict_class(''gz'', g) FROM gz g LIMIT 5');
    PERFORM pg_temp.try('SELECT * FROM profenrich.feature_importance(''gz'')');
    IF i % 10 = 0 THEN
      PERFORM pg_temp.try('SELECT profenrich.gbdt_check(''gz'', ''gz'')');
    END IF;
  END LOOP;
END $$;
SELECT count(*) AS calls, count(*) FILTER (WHERE sqlstate = 'XX000') AS internal_errors,
       count(*) FILTER (WHERE sqlstate = 'ok') > 0 AS some_ran,
       count(*) FILTER (WHERE sqlstate = 'XX001') > 0 AS some_refused
FROM gz_log;
UPDATE profenrich.models SET params = (SELECT params FROM gz_orig) WHERE name = 'gz';
SELECT (profenrich.gbdt_check('gz', 'gz')->>'rows')::int AS checked_after_restore;
SELECT profenrich.drop_model('gz') AS dropped;
DROP TABLE gz;

-- a source with columns named k and v (the vocabulary query's own names) trains a category
CREATE TABLE kv_g AS SELECT i AS k, i * 2.0::float8 AS v, (ARRAY['a', 'b'])[1 + i % 2] AS c
FROM generate_series(1, 100) i;
SELECT (profenrich.train('kv_g', 'gbdt', 'kv_g', 'v', ARRAY['k', 'c'], '{"n_trees": 3}')).n_train > 0 AS trained;
SELECT profenrich.drop_model('kv_g') AS dropped;
DROP TABLE kv_g;
DROP VIEW one_value;
DROP TABLE prof_g, subs_g;
SELECT count(*) AS dropped FROM (SELECT profenrich.drop_model(m) FROM unnest(ARRAY['churn_g', 'value_g', 'tier_g', 'skip_g', 'lin_g']) m) x;
