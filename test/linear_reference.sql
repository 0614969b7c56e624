-- Linear regression against independent references:
--   R 4.2.2 lm() (test/reference/linear_lm.R) and scikit-learn 1.2.1 Ridge
--   (test/reference/linear_ridge.py); figures copied from
--   test/reference/linear_reference.txt.  Tolerance: 1e-8 relative.
\set QUIET on
\set ON_ERROR_STOP on
SET client_min_messages = warning;
BEGIN;
\ir reference/linear_data.sql
SELECT plan(42);

CREATE TEMP TABLE ref (model text, feature text, coef float8, std_err float8, stat float8, p_value float8);
-- [A] lm(y ~ x1 + x2 + flag + plan=silver + plan=bronze + x3 + plan=gold): plan's most
-- frequent level, gold (18 rows), given last so that R aliases it, as profenrich does
INSERT INTO ref VALUES
 ('a', '(intercept)', 8.1621473170461893, 1.3114419101319827, 6.2237963069403168, 4.417974939340946e-07),
 ('a', 'x1', 1.485138391202568, 0.1185485765027115, 12.527677978221858, 2.7089443362857848e-14),
 ('a', 'x2', -0.6637384708966404, 0.059957182536547367, -11.070207818588765, 8.1087179236426465e-13),
 ('a', 'flag', 2.2474500457108646, 0.68024050506826128, 3.3039050585282861, 0.0022523191469645603),
 ('a', 'plan=gold', NULL, NULL, NULL, NULL),
 ('a', 'plan=silver', -2.812569857330629, 0.77676920710204178, -3.620856531921135, 0.00094555784297439545),
 ('a', 'plan=bronze', -4.1201600331489496, 0.85711624634805994, -4.807002609860489, 3.0518881221574581e-05),
 ('a', 'x3', NULL, NULL, NULL, NULL),
-- [B] the same without x3, NULLs replaced by the mean of the observed values
 ('b', '(intercept)', 8.2361382372910121, 1.4306775800648555, 5.7568094671041479, 1.7825642498630261e-06),
 ('b', 'x1', 1.4832718792387194, 0.1301901703314457, 11.3931172796112, 3.7332164392185466e-13),
 ('b', 'x2', -0.67136837352334533, 0.066341449428100802, -10.11989305797362, 8.5895741765692167e-12),
 ('b', 'flag', 2.809686793733865, 0.73394557777931346, 3.8281950035520156, 0.00052832697223772541),
 ('b', 'plan=gold', NULL, NULL, NULL, NULL),
 ('b', 'plan=silver', -2.6959449882451909, 0.84313690284154708, -3.1975174840044298, 0.0029936509984514969),
 ('b', 'plan=bronze', -4.6102211594796421, 0.93652420762646638, -4.9226929981487819, 2.1630690032524617e-05),
-- [ridge] sklearn Ridge(alpha = 2.5) on standardized features, back on the original scale
 ('r', '(intercept)', 6.6203268372148507, NULL, NULL, NULL),
 ('r', 'x1', 1.3769931540774869, NULL, NULL, NULL),
 ('r', 'x2', -0.6124977553899712, NULL, NULL, NULL),
 ('r', 'flag', 2.2103023288055441, NULL, NULL, NULL),
 ('r', 'plan=gold', 1.9751266375042871, NULL, NULL, NULL),
 ('r', 'plan=silver', -0.73226877483735975, NULL, NULL, NULL),
 ('r', 'plan=bronze', -1.8821641881139266, NULL, NULL, NULL);

-- a and b agree within rel relative tolerance; two NULLs agree
CREATE FUNCTION pg_temp.close(a float8, b float8, rel float8 DEFAULT 1e-8) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN a IS NULL OR b IS NULL THEN a IS NULL AND b IS NULL
              ELSE abs(a - b) <= rel * greatest(abs(b), 1e-300) END $$;

CREATE TEMP TABLE fitted AS
SELECT 'a' AS model, * FROM profenrich.train('lm_a', 'linear', 'lin_data', 'y', NULL, '{"test_fraction": 0}');
INSERT INTO fitted SELECT 'b', * FROM profenrich.train('lm_b', 'linear', 'lin_data_na', 'y', NULL, '{"test_fraction": 0}');
INSERT INTO fitted SELECT 'r', * FROM profenrich.train('lm_r', 'linear', 'lin_data', 'y',
    ARRAY['x1', 'x2', 'flag', 'plan'], '{"test_fraction": 0, "l2": 2.5}');

CREATE TEMP TABLE got AS
SELECT 'a' AS model, row_number() OVER () AS i, * FROM profenrich.coefficients('lm_a')
UNION ALL SELECT 'b', row_number() OVER (), * FROM profenrich.coefficients('lm_b')
UNION ALL SELECT 'r', row_number() OVER (), * FROM profenrich.coefficients('lm_r');

SELECT is((SELECT array_agg(feature ORDER BY i) FROM got WHERE model = 'a'),
          ARRAY['(intercept)', 'x1', 'x2', 'flag', 'plan=gold', 'plan=silver', 'plan=bronze', 'x3'],
          'slots in column order, one-hot levels by frequency');
SELECT is((SELECT count(*) FROM got JOIN ref USING (model, feature)), 22::bigint,
          'every reference row has a coefficient row');

-- one test per model and column: coef, std_err, stat, p_value within 1e-8 relative
SELECT ok(bool_and(pg_temp.close(g.coef, r.coef)), 'R lm coef, variant ' || g.model)
  FROM got g JOIN ref r USING (model, feature) WHERE g.model IN ('a', 'b') GROUP BY g.model ORDER BY g.model;
SELECT ok(bool_and(pg_temp.close(g.std_err, r.std_err)), 'R lm std errors, variant ' || g.model)
  FROM got g JOIN ref r USING (model, feature) WHERE g.model IN ('a', 'b') GROUP BY g.model ORDER BY g.model;
SELECT ok(bool_and(pg_temp.close(g.stat, r.stat)), 'R lm t statistics, variant ' || g.model)
  FROM got g JOIN ref r USING (model, feature) WHERE g.model IN ('a', 'b') GROUP BY g.model ORDER BY g.model;
SELECT ok(bool_and(pg_temp.close(g.p_value, r.p_value)), 'R lm p values, variant ' || g.model)
  FROM got g JOIN ref r USING (model, feature) WHERE g.model IN ('a', 'b') GROUP BY g.model ORDER BY g.model;
SELECT ok(bool_and(pg_temp.close(g.coef, r.coef)), 'sklearn Ridge(alpha=2.5) coefficients')
  FROM got g JOIN ref r USING (model, feature) WHERE g.model = 'r';
SELECT ok(bool_and(g.std_err IS NULL AND g.stat IS NULL AND g.p_value IS NULL),
          'no inference columns for a ridge fit') FROM got g WHERE model = 'r';

-- each aliased slot individually, as R reports NA
SELECT ok((SELECT coef IS NULL FROM got WHERE model = 'a' AND feature = 'plan=gold'), 'plan=gold (the most frequent) aliased');
SELECT ok((SELECT coef IS NULL FROM got WHERE model = 'a' AND feature = 'x3'), 'x3 = x1 + 2 x2 aliased');
SELECT ok((SELECT coef IS NOT NULL FROM got WHERE model = 'a' AND feature = 'x2'), 'x2 not aliased');

-- fit summaries: R's summary(lm): R^2, RMSE = sqrt(mean(resid^2)), MAE = mean(abs(resid)); rank with intercept
SELECT ok(pg_temp.close((metrics->'train'->>'r2')::float8, 0.89210576204905667), 'R^2, variant A') FROM fitted WHERE model = 'a';
SELECT ok(pg_temp.close((metrics->'train'->>'rmse')::float8, 1.9201303368071423), 'RMSE, variant A') FROM fitted WHERE model = 'a';
SELECT ok(pg_temp.close((metrics->'train'->>'mae')::float8, 1.5064665445705188), 'MAE, variant A') FROM fitted WHERE model = 'a';
SELECT is((metrics->>'rank')::int, 6, 'rank 6 as R reports') FROM fitted WHERE model = 'a';
SELECT ok(pg_temp.close((metrics->'train'->>'r2')::float8, 0.87276843289050354), 'R^2, variant B') FROM fitted WHERE model = 'b';
SELECT ok(pg_temp.close((metrics->'train'->>'rmse')::float8, 2.0851102416684477), 'RMSE, variant B') FROM fitted WHERE model = 'b';
SELECT ok(pg_temp.close((metrics->'train'->>'mae')::float8, 1.6699437255537291), 'MAE, variant B') FROM fitted WHERE model = 'b';
SELECT is(n_train, 40::bigint, 'all 40 rows used with mean imputation') FROM fitted WHERE model = 'b';

-- imputation means stored with the model: mean of the observed values (R: mean(x, na.rm = TRUE))
SELECT ok(pg_temp.close((SELECT (c->>'impute')::float8 FROM profenrich.models m,
          jsonb_array_elements(m.features->'columns') c WHERE m.name = 'lm_b' AND c->>'name' = 'x1'),
          9.9772432432432439, 1e-12), 'x1 imputed with its observed mean');
SELECT ok(pg_temp.close((SELECT (c->>'impute')::float8 FROM profenrich.models m,
          jsonb_array_elements(m.features->'columns') c WHERE m.name = 'lm_b' AND c->>'name' = 'x2'),
          11.236842105263158, 1e-12), 'x2 imputed with its observed mean');

-- fitted values: R's fitted(lm) for ids 1..5, and sklearn's predict for ids 1..3
SELECT ok(pg_temp.close(profenrich.score('lm_a', d), f), 'R fitted value, id ' || d.id)
  FROM lin_data d JOIN (VALUES (1, 15.117860149769069), (2, 11.444830652718096), (3, 8.472682595968724),
       (4, 4.8283478156340536), (5, 7.8398952513455251)) AS v(id, f) USING (id) ORDER BY d.id;
SELECT ok(pg_temp.close(profenrich.score('lm_b', d), f), 'R fitted value with imputed NULLs, id ' || d.id)
  FROM lin_data_na d JOIN (VALUES (1, 15.152309787357781), (2, 11.370806478967495), (3, 7.0116190629417208),
       (4, 4.9095855820065006), (5, 10.481460073711688)) AS v(id, f) USING (id) ORDER BY d.id;
SELECT ok(pg_temp.close(profenrich.score('lm_r', d), f), 'sklearn Ridge prediction, id ' || d.id)
  FROM lin_data d JOIN (VALUES (1, 14.994474179796359), (2, 11.688540488281619), (3, 8.8956653707653039)) AS v(id, f)
  USING (id) ORDER BY d.id;

-- closed form: with one numeric feature, OLS slope = cov(x, y) / var(x) (SQL's regr_slope)
SELECT lives_ok($$SELECT profenrich.train('lm_one', 'linear', 'lin_data', 'y', ARRAY['x1'], '{"test_fraction": 0}')$$,
                'single-feature fit');
SELECT ok(pg_temp.close((SELECT coef FROM profenrich.coefficients('lm_one') WHERE feature = 'x1'),
                        (SELECT regr_slope(y, x1) FROM lin_data), 1e-10), 'slope equals regr_slope');
SELECT ok(pg_temp.close((SELECT coef FROM profenrich.coefficients('lm_one') WHERE feature = '(intercept)'),
                        (SELECT regr_intercept(y, x1) FROM lin_data), 1e-10), 'intercept equals regr_intercept');
SELECT ok(pg_temp.close((SELECT (metrics->'train'->>'r2')::float8 FROM profenrich.models WHERE name = 'lm_one'),
                        (SELECT regr_r2(y, x1) FROM lin_data), 1e-10), 'R^2 equals regr_r2');

SELECT * FROM finish();
ROLLBACK;
