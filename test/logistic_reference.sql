-- Logistic regression against independent references:
--   R 4.2.2 glm(binomial) (test/reference/logistic_glm.R) and scikit-learn 1.2.1
--   LogisticRegression, solver='newton-cholesky', and its classification metrics
--   (test/reference/logistic_sklearn.py); figures copied from
--   test/reference/logistic_reference.txt, method in test/reference/README.md.
-- Tolerances (relative unless said otherwise):
--   1e-6   R glm: coefficients, std errors, z, p values, odds ratios, log-likelihood,
--          AIC, fitted probabilities; p values below 1e-8 on a log scale,
--          |ln(got) - ln(ref)| <= 1e-6 * |ln(ref)|
--   1e-9   scikit-learn newton-cholesky fits (ridge, balanced): they agree with an
--          independent Newton solve to ~1e-15 (README: compare estimates with ~1e-9);
--          streaming vs in-memory path; parallel vs serial streaming passes
--   1e-12  the auc / logloss / brier aggregates vs scikit-learn's metrics
--   exact  the same data with the target as boolean, integer 0/1 and text
\set QUIET on
\set ON_ERROR_STOP on
SET client_min_messages = warning;
BEGIN;
\ir reference/logistic_data.sql
SELECT plan(88);

CREATE TEMP TABLE ref (model text, feature text, coef float8, std_err float8, stat float8,
                       p_value float8, odds_ratio float8);
-- [glm] glm(y ~ x1 + x2 + flag + plan=silver + plan=bronze + x3 + plan=gold, binomial(logit)),
-- explicit 0/1 dummies in that order: plan's most frequent level, gold, given last so that R
-- aliases it as profenrich does; x3 and plan=gold aliased (NA), rank 6
INSERT INTO ref VALUES
 ('glm', '(intercept)', 0.11342935720602121, 0.31625439598474298, 0.35866491864193206, 0.71984577539405015, 1.1201127582025963),
 ('glm', 'x1', 0.83305765767507456, 0.13789870577485341, 6.0410839463221935, 1.5308230281798353e-09, 2.300341655275143),
 ('glm', 'x2', -0.22203449449541998, 0.054193556738858548, -4.0970644456006706, 4.1842244420339915e-05, 0.8008877376397795),
 ('glm', 'flag', 0.85248770926152961, 0.32376095125270166, 2.6330776023577549, 0.0084615011811664167, 2.3454744587585399),
 ('glm', 'plan=gold', NULL, NULL, NULL, NULL, NULL),
 ('glm', 'plan=silver', -1.2349747280976298, 0.36728616264007163, -3.3624319501191349, 0.00077259165897647049, 0.29084211240844637),
 ('glm', 'plan=bronze', -1.6400472823633487, 0.45548636568039075, -3.6006506581453857, 0.00031742183428193468, 0.19397087067287949),
 ('glm', 'x3', NULL, NULL, NULL, NULL, NULL),
-- [ridge] LogisticRegression(penalty='l2', C=1/2.5, solver='newton-cholesky', tol=1e-12) on
-- StandardScaler features x1, x2, flag, plan=*, carried back to the original scale (ridge.orig.*);
-- nothing aliased: plan=bronze has a coefficient
 ('ridge', '(intercept)', -0.74612287965678559, NULL, NULL, NULL, NULL),
 ('ridge', 'x1', 0.7559277564970911, NULL, NULL, NULL, NULL),
 ('ridge', 'x2', -0.20149312598357683, NULL, NULL, NULL, NULL),
 ('ridge', 'flag', 0.7678094833788367, NULL, NULL, NULL, NULL),
 ('ridge', 'plan=gold', 0.79946798359534632, NULL, NULL, NULL, NULL),
 ('ridge', 'plan=silver', -0.36360166647714121, NULL, NULL, NULL, NULL),
 ('ridge', 'plan=bronze', -0.73861454881895805, NULL, NULL, NULL, NULL),
-- [balanced] LogisticRegression(penalty=None, class_weight='balanced', solver='newton-cholesky',
-- tol=1e-12) on raw x1, x2, flag, plan=silver, plan=bronze; plan=gold left out by hand there,
-- it is the slot profenrich aliases
 ('bal', '(intercept)', 1.1880783728138378, NULL, NULL, NULL, NULL),
 ('bal', 'x1', 0.85519365196716091, NULL, NULL, NULL, NULL),
 ('bal', 'x2', -0.23142291672414464, NULL, NULL, NULL, NULL),
 ('bal', 'flag', 0.83789514954047184, NULL, NULL, NULL, NULL),
 ('bal', 'plan=gold', NULL, NULL, NULL, NULL, NULL),
 ('bal', 'plan=silver', -1.2544318586193097, NULL, NULL, NULL, NULL),
 ('bal', 'plan=bronze', -1.7238341758125024, NULL, NULL, NULL, NULL);

-- a and b agree within rel relative tolerance; two NULLs agree
CREATE FUNCTION pg_temp.close(a float8, b float8, rel float8 DEFAULT 1e-6) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN a IS NULL OR b IS NULL THEN a IS NULL AND b IS NULL
              ELSE abs(a - b) <= rel * greatest(abs(b), 1e-300) END $$;

-- p values: relative as above; where the reference is below 1e-8, on a log scale:
-- |ln(a) - ln(b)| <= rel * |ln(b)| (a must be positive)
CREATE FUNCTION pg_temp.close_p(a float8, b float8, rel float8 DEFAULT 1e-6) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN a IS NULL OR b IS NULL THEN a IS NULL AND b IS NULL
              WHEN b < 1e-8 THEN CASE WHEN a > 0 THEN abs(ln(a) - ln(b)) <= rel * abs(ln(b))
                                      ELSE false END
              ELSE pg_temp.close(a, b, rel) END $$;

-- the plan of a query, as text
CREATE FUNCTION pg_temp.plan_of(q text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  line text;
  out text := '';
BEGIN
  FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
    out := out || line || E'\n';
  END LOOP;
  RETURN out;
END $$;

-- the integer 0/1 and text copies of the target
CREATE TEMP TABLE logit_int AS SELECT id, x1, x2, flag, plan, x3, y::int AS y FROM logit_data;
CREATE TEMP TABLE logit_text AS
SELECT id, x1, x2, flag, plan, x3, CASE WHEN y THEN 'churned' ELSE 'stayed' END AS y FROM logit_data;

-- in memory (the default profenrich.max_train_memory of 1GB holds 300 rows)
CREATE TEMP TABLE fitted AS
SELECT 'glm' AS model, * FROM profenrich.train('lg_glm', 'logistic', 'logit_data', 'y',
    ARRAY['x1', 'x2', 'flag', 'plan', 'x3'], '{"test_fraction": 0}');
INSERT INTO fitted SELECT 'ridge', * FROM profenrich.train('lg_ridge', 'logistic', 'logit_data', 'y',
    ARRAY['x1', 'x2', 'flag', 'plan'], '{"test_fraction": 0, "l2": 2.5}');
-- balanced weights: scikit-learn's (weighted) probabilities with "calibrate": false, and the
-- default, calibrated ones
INSERT INTO fitted SELECT 'bal', * FROM profenrich.train('lg_bal', 'logistic', 'logit_data', 'y',
    ARRAY['x1', 'x2', 'flag', 'plan'], '{"test_fraction": 0, "class_weight": "balanced", "calibrate": false}');
INSERT INTO fitted SELECT 'cal', * FROM profenrich.train('lg_cal', 'logistic', 'logit_data', 'y',
    ARRAY['x1', 'x2', 'flag', 'plan'], '{"test_fraction": 0, "class_weight": "balanced"}');
INSERT INTO fitted SELECT 'int', * FROM profenrich.train('lg_int', 'logistic', 'logit_int', 'y',
    ARRAY['x1', 'x2', 'flag', 'plan', 'x3'], '{"test_fraction": 0}');
INSERT INTO fitted SELECT 'text', * FROM profenrich.train('lg_text', 'logistic', 'logit_text', 'y',
    ARRAY['x1', 'x2', 'flag', 'plan', 'x3'], '{"test_fraction": 0, "positive": "churned"}');
INSERT INTO fitted SELECT 'stayed', * FROM profenrich.train('lg_stayed', 'logistic', 'logit_text', 'y',
    ARRAY['x1', 'x2', 'flag', 'plan', 'x3'], '{"test_fraction": 0, "positive": "stayed"}');

-- streaming: 64kB forces one SQL pass per Newton iteration; first serial, then with a
-- forced parallel plan (leader participation off, so the workers read the rows and the
-- partial aggregate states are serialized and combined)
SET profenrich.max_train_memory = '64kB';
INSERT INTO fitted SELECT 'stream', * FROM profenrich.train('lg_stream', 'logistic', 'logit_data', 'y',
    ARRAY['x1', 'x2', 'flag', 'plan', 'x3'], '{"test_fraction": 0}');
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
INSERT INTO fitted SELECT 'parallel', * FROM profenrich.train('lg_parallel', 'logistic', 'logit_data', 'y',
    ARRAY['x1', 'x2', 'flag', 'plan', 'x3'], '{"test_fraction": 0}');
-- the shape of a streaming pass (see StreamingPass in src/train_logistic.c) under these settings
CREATE TEMP TABLE pass_plan AS
SELECT pg_temp.plan_of('SELECT profenrich.logistic_step(NULL::bytea, NULL::float8[], NULL::text[], '
                       'y, id, x1, x2, flag, plan, x3) FROM logit_data') AS plan;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
RESET parallel_leader_participation;
RESET profenrich.max_train_memory;

CREATE TEMP TABLE got AS
SELECT 'glm' AS model, row_number() OVER () AS i, * FROM profenrich.coefficients('lg_glm')
UNION ALL SELECT 'ridge', row_number() OVER (), * FROM profenrich.coefficients('lg_ridge')
UNION ALL SELECT 'bal', row_number() OVER (), * FROM profenrich.coefficients('lg_bal')
UNION ALL SELECT 'int', row_number() OVER (), * FROM profenrich.coefficients('lg_int')
UNION ALL SELECT 'text', row_number() OVER (), * FROM profenrich.coefficients('lg_text')
UNION ALL SELECT 'stayed', row_number() OVER (), * FROM profenrich.coefficients('lg_stayed')
UNION ALL SELECT 'stream', row_number() OVER (), * FROM profenrich.coefficients('lg_stream')
UNION ALL SELECT 'parallel', row_number() OVER (), * FROM profenrich.coefficients('lg_parallel');

-- ---------------------------------------------------------------- R glm, 1e-6 ----
SELECT is((SELECT array_agg(feature ORDER BY i) FROM got WHERE model = 'glm'),
          ARRAY['(intercept)', 'x1', 'x2', 'flag', 'plan=gold', 'plan=silver', 'plan=bronze', 'x3'],
          'slots in column order, one-hot levels by frequency');
SELECT is((SELECT count(*) FROM got JOIN ref USING (model, feature)), 22::bigint,
          'every reference row has a coefficient row');
SELECT is(n_train, 300::bigint, 'all 300 rows used') FROM fitted WHERE model = 'glm';
SELECT is((metrics->>'converged')::boolean, true, 'glm fit converged') FROM fitted WHERE model = 'glm';
SELECT is((metrics->>'rank')::int, 6, 'rank 6 as R reports') FROM fitted WHERE model = 'glm';

-- one test per quantity and non-aliased slot
SELECT ok(pg_temp.close(g.coef, r.coef), 'R glm coef, ' || g.feature)
  FROM got g JOIN ref r USING (model, feature) WHERE g.model = 'glm' AND r.coef IS NOT NULL ORDER BY g.i;
SELECT ok(pg_temp.close(g.std_err, r.std_err), 'R glm std error, ' || g.feature)
  FROM got g JOIN ref r USING (model, feature) WHERE g.model = 'glm' AND r.coef IS NOT NULL ORDER BY g.i;
SELECT ok(pg_temp.close(g.stat, r.stat), 'R glm z value, ' || g.feature)
  FROM got g JOIN ref r USING (model, feature) WHERE g.model = 'glm' AND r.coef IS NOT NULL ORDER BY g.i;
SELECT ok(pg_temp.close_p(g.p_value, r.p_value),
          'R glm p value, ' || g.feature || CASE WHEN r.p_value < 1e-8 THEN ' (< 1e-8, log scale)' ELSE '' END)
  FROM got g JOIN ref r USING (model, feature) WHERE g.model = 'glm' AND r.coef IS NOT NULL ORDER BY g.i;
SELECT ok(pg_temp.close(g.odds_ratio, r.odds_ratio), 'R glm odds ratio exp(coef), ' || g.feature)
  FROM got g JOIN ref r USING (model, feature) WHERE g.model = 'glm' AND r.coef IS NOT NULL ORDER BY g.i;

-- the aliased slots, as R reports NA: the most frequent level of plan (its reference), and
-- x3 = x1 - 0.5 x2 (collinear up to rounding)
SELECT ok((SELECT coef IS NULL AND std_err IS NULL AND stat IS NULL AND p_value IS NULL AND odds_ratio IS NULL
             FROM got WHERE model = 'glm' AND feature = 'plan=gold'), 'plan=gold aliased (all NULL)');
SELECT ok((SELECT coef IS NULL AND std_err IS NULL AND stat IS NULL AND p_value IS NULL AND odds_ratio IS NULL
             FROM got WHERE model = 'glm' AND feature = 'x3'), 'x3 = x1 - 0.5 x2 aliased (all NULL)');

-- logLik(glm) and AIC(glm) = -2 logLik + 2 rank
SELECT ok(pg_temp.close((metrics->'train'->>'log_likelihood')::float8, -129.35177876628299),
          'R glm log-likelihood') FROM fitted WHERE model = 'glm';
SELECT ok(pg_temp.close((metrics->'train'->>'aic')::float8, 270.70355753256598),
          'R glm AIC') FROM fitted WHERE model = 'glm';

-- fitted(glm) for ids 1..5
SELECT ok(pg_temp.close(profenrich.score('lg_glm', d), f), 'R glm fitted probability, id ' || d.id)
  FROM logit_data d JOIN (VALUES (1, 0.12694607444862824), (2, 0.35845954588434165), (3, 0.061884065447870062),
       (4, 0.15904163844359009), (5, 0.015716071111655561)) AS v(id, f) USING (id) ORDER BY d.id;

-- ------------------------------------------- streaming path = in-memory path, 1e-9 ----
SELECT is(metrics->>'path', 'memory', 'default budget: trained in memory') FROM fitted WHERE model = 'glm';
SELECT is(metrics->>'path', 'streaming', 'max_train_memory 64kB: trained by streaming passes')
  FROM fitted WHERE model = 'stream';
SELECT ok(bool_and(s.feature = m.feature AND pg_temp.close(s.coef, m.coef, 1e-9)),
          'streaming coefficients equal the in-memory ones (aliased slots NULL in both)')
  FROM got s JOIN got m USING (i) WHERE s.model = 'stream' AND m.model = 'glm';
SELECT ok(bool_and(s.feature = m.feature AND pg_temp.close(s.std_err, m.std_err, 1e-9)),
          'streaming std errors equal the in-memory ones')
  FROM got s JOIN got m USING (i) WHERE s.model = 'stream' AND m.model = 'glm';
SELECT ok(pg_temp.close((s.metrics->'train'->>'log_likelihood')::float8,
                        (m.metrics->'train'->>'log_likelihood')::float8, 1e-9),
          'streaming log-likelihood equals the in-memory one')
  FROM fitted s, fitted m WHERE s.model = 'stream' AND m.model = 'glm';

-- ------------------------------------------ parallel streaming = serial streaming, 1e-9 ----
SELECT ok((SELECT plan ~ 'Gather' AND plan ~ 'Partial Aggregate' FROM pass_plan),
          'a streaming pass gets a parallel plan under the forced settings');
SELECT is(metrics->>'path', 'streaming', 'parallel fit trained by streaming passes')
  FROM fitted WHERE model = 'parallel';
SELECT ok(bool_and(p.feature = s.feature AND pg_temp.close(p.coef, s.coef, 1e-9)),
          'parallel streaming coefficients equal the serial ones')
  FROM got p JOIN got s USING (i) WHERE p.model = 'parallel' AND s.model = 'stream';
SELECT ok(bool_and(p.feature = s.feature AND pg_temp.close(p.std_err, s.std_err, 1e-9)),
          'parallel streaming std errors equal the serial ones')
  FROM got p JOIN got s USING (i) WHERE p.model = 'parallel' AND s.model = 'stream';

-- ------------------------------------------------- sklearn ridge (l2 = 2.5), 1e-9 ----
SELECT is((metrics->>'rank')::int, 7, 'ridge: nothing aliased, rank 7') FROM fitted WHERE model = 'ridge';
SELECT ok(pg_temp.close(g.coef, r.coef, 1e-9), 'sklearn ridge coef, ' || g.feature)
  FROM got g JOIN ref r USING (model, feature) WHERE g.model = 'ridge' ORDER BY g.i;
SELECT ok(bool_and(g.std_err IS NULL AND g.stat IS NULL AND g.p_value IS NULL),
          'no std_err, z or p value for a ridge fit') FROM got g WHERE model = 'ridge';
SELECT ok(pg_temp.close(profenrich.score('lg_ridge', d), f, 1e-9), 'sklearn ridge predict_proba, id ' || d.id)
  FROM logit_data d JOIN (VALUES (1, 0.13683787621477017), (2, 0.35944354207874257),
       (3, 0.071438419822976176)) AS v(id, f) USING (id) ORDER BY d.id;

-- ------------------------------------------- sklearn class_weight='balanced', 1e-9 ----
SELECT ok(pg_temp.close(g.coef, r.coef, 1e-9), 'sklearn balanced coef, ' || g.feature)
  FROM got g JOIN ref r USING (model, feature) WHERE g.model = 'bal' AND r.coef IS NOT NULL ORDER BY g.i;
SELECT ok((SELECT coef IS NULL FROM got WHERE model = 'bal' AND feature = 'plan=gold'),
          'balanced: plan=gold aliased (the slot sklearn was fitted without)');
SELECT ok(pg_temp.close(profenrich.score('lg_bal', d), f, 1e-9), 'sklearn balanced predict_proba, id ' || d.id)
  FROM logit_data d JOIN (VALUES (1, 0.28660689762813446), (2, 0.61470544808737815),
       (3, 0.14541687249527918)) AS v(id, f) USING (id) ORDER BY d.id;
-- calibrated (the default): the offset that brings the mean probability back to the positive
-- rate (the reference script solves it by bisection) and the probabilities it gives, 1e-9
SELECT ok(pg_temp.close((metrics->>'calibration_offset')::float8, -1.0191437851940854, 1e-9),
          'balanced, calibrated: the offset') FROM fitted WHERE model = 'cal';
SELECT ok(pg_temp.close(profenrich.score('lg_cal', d), f, 1e-9), 'balanced, calibrated probability, id ' || d.id)
  FROM logit_data d JOIN (VALUES (1, 0.12663276890794378), (2, 0.36539850324695067),
       (3, 0.057858616450179381)) AS v(id, f) USING (id) ORDER BY d.id;

-- ------------------------------------------- metric aggregates vs sklearn, 1e-12 ----
-- roc_auc_score, log_loss (natural log, mean), brier_score_loss on metric_sample (ties included)
SELECT ok(pg_temp.close(profenrich.auc(score, label), 0.75062656641604009, 1e-12), 'auc = sklearn roc_auc_score')
  FROM metric_sample;
SELECT ok(pg_temp.close(profenrich.logloss(score, label), 0.60647540931830624, 1e-12), 'logloss = sklearn log_loss')
  FROM metric_sample;
SELECT ok(pg_temp.close(profenrich.brier(score, label), 0.20375000000000001, 1e-12), 'brier = sklearn brier_score_loss')
  FROM metric_sample;

-- ---------------------------------------- target encodings give the same fit, exactly ----
SELECT is((SELECT array_agg(feature || ' ' || coef ORDER BY i) FROM got WHERE model = 'int'),
          (SELECT array_agg(feature || ' ' || coef ORDER BY i) FROM got WHERE model = 'glm'),
          'integer 0/1 target: same coefficients as the boolean target');
SELECT is((SELECT array_agg(std_err ORDER BY i) FROM got WHERE model = 'int'),
          (SELECT array_agg(std_err ORDER BY i) FROM got WHERE model = 'glm'),
          'integer 0/1 target: same std errors as the boolean target');
SELECT is((SELECT array_agg(feature || ' ' || coef ORDER BY i) FROM got WHERE model = 'text'),
          (SELECT array_agg(feature || ' ' || coef ORDER BY i) FROM got WHERE model = 'glm'),
          'text target, positive "churned": same coefficients as the boolean target');
SELECT is((SELECT array_agg(std_err ORDER BY i) FROM got WHERE model = 'text'),
          (SELECT array_agg(std_err ORDER BY i) FROM got WHERE model = 'glm'),
          'text target, positive "churned": same std errors as the boolean target');
-- the other positive value flips every coefficient's sign (1e-9): the option is honoured
SELECT ok(bool_and(s.feature = b.feature AND pg_temp.close(-s.coef, b.coef, 1e-9)
                   AND pg_temp.close(s.std_err, b.std_err, 1e-9)),
          'text target, positive "stayed": coefficients negated, same std errors')
  FROM got s JOIN got b USING (i) WHERE s.model = 'stayed' AND b.model = 'glm';
SELECT throws_ok($$SELECT profenrich.train('lg_nopos', 'logistic', 'logit_text', 'y',
                     ARRAY['x1', 'x2'], '{"test_fraction": 0}')$$,
                 'text target "y" needs the option "positive"',
                 'a text target without "positive" is refused');

SELECT * FROM finish();
ROLLBACK;
