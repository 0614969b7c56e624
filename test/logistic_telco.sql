-- Logistic regression on a real public data set against R:
--   R 4.2.2 glm(binomial) (test/reference/logistic_glm.R, [telco] section of
--   test/reference/logistic_reference.txt) on the IBM Telco churn data,
--   ../shared/data/churn/Telco-Customer-Churn.csv (7,043 customers), loaded into
--   shared_data.telco_churn by test/data/load_shared.sh.  Target churn = 'Yes'.
-- Tolerance: 1e-6 relative (coefficients, std errors, z, p values, odds ratios,
--   log-likelihood, AIC, fitted probabilities); p values below 1e-8 on a log scale,
--   |ln(got) - ln(ref)| <= 1e-6 * |ln(ref)|.
-- Without the data folder the table is absent and every test is skipped, saying so.
\set QUIET on
\set ON_ERROR_STOP on
SET client_min_messages = warning;
BEGIN;
\set ntests 74
SELECT to_regclass('shared_data.telco_churn') IS NOT NULL AS have_data \gset

\if :have_data
SELECT plan(:ntests);

-- glm(churn == 'Yes' ~ tenure + monthly_charges + senior_citizen + contract=* + internet_service=*
--     + payment_method=* + paperless_billing=*, binomial(logit)), explicit 0/1 dummies; levels by
-- frequency (contract: Month-to-month 3875, Two year 1695, One year 1473; internet_service:
-- Fiber optic 3096, DSL 2421, No 1526; payment_method: Electronic check 2365, Mailed check 1612,
-- Bank transfer (automatic) 1544, Credit card (automatic) 1522; paperless_billing: Yes 4171, No 2872),
-- each column's most frequent level (profenrich's reference) given last so that R aliases it (NA)
-- as profenrich does; rank 12, 7031 residual df.
CREATE TEMP TABLE ref (feature text, coef float8, std_err float8, stat float8, p_value float8, odds_ratio float8);
INSERT INTO ref VALUES
 ('(intercept)', 0.81102409421358868, 0.26115269229756377, 3.1055551718742689, 0.001899221864599348, 2.2502112354088584),
 ('tenure', -0.032711950043052121, 0.002139096285986442, -15.292415894204145, 8.5903398635771049e-53, 0.9678172991730023),
 ('monthly_charges', 0.0031710518562203887, 0.0030305035780508064, 1.0463778624739264, 0.29538660940262895, 1.0031760849598292),
 ('senior_citizen', 0.32171133030078569, 0.081993928580382888, 3.9235994160884173, 8.7235742435691458e-05, 1.3794865025215226),
 ('contract=Month-to-month', NULL, NULL, NULL, NULL, NULL),
 ('contract=Two year', -1.5058244637354856, 0.1713296537660377, -8.7890474919875299, 1.5083329969013705e-18, 0.22183432406086911),
 ('contract=One year', -0.73488124017213141, 0.1045025113415825, -7.03218736791941, 2.0332050931702649e-12, 0.47956240834224562),
 ('internet_service=Fiber optic', NULL, NULL, NULL, NULL, NULL),
 ('internet_service=DSL', -0.8791864105393179, 0.12934415151907055, -6.7972645087836874, 1.0662423183494065e-11, 0.41512051200240574),
 ('internet_service=No', -1.6051379286538454, 0.23354501206766934, -6.8729274688545221, 6.2897550985079625e-12, 0.20086184839515678),
 ('payment_method=Electronic check', NULL, NULL, NULL, NULL, NULL),
 ('payment_method=Mailed check', -0.44509996832459398, 0.093444864214885251, -4.7632362898087663, 1.9051253460743795e-06, 0.64076021710506981),
 ('payment_method=Bank transfer (automatic)', -0.40529203377029577, 0.092960763699423479, -4.3598182463383663, 1.3017051600408351e-05, 0.666782059544064),
 ('payment_method=Credit card (automatic)', -0.48918899757256745, 0.095797105834066407, -5.1065112386579736, 3.2816110157982425e-07, 0.61312343720151241),
 ('paperless_billing=Yes', NULL, NULL, NULL, NULL, NULL),
 ('paperless_billing=No', -0.40236247606030512, 0.073014104688858952, -5.5107499814580434, 3.5730795508011658e-08, 0.66873830012823954);

-- a and b agree within rel relative tolerance; two NULLs agree
CREATE FUNCTION pg_temp.close(a float8, b float8, rel float8 DEFAULT 1e-6) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN a IS NULL OR b IS NULL THEN a IS NULL AND b IS NULL
              ELSE abs(a - b) <= rel * greatest(abs(b), 1e-300) END $$;

-- p values: relative as above; where the reference is below 1e-8 (down to 8.6e-53 here:
-- pnorm's far tail), on a log scale: |ln(a) - ln(b)| <= rel * |ln(b)| (a must be positive)
CREATE FUNCTION pg_temp.close_p(a float8, b float8, rel float8 DEFAULT 1e-6) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN a IS NULL OR b IS NULL THEN a IS NULL AND b IS NULL
              WHEN b < 1e-8 THEN CASE WHEN a > 0 THEN abs(ln(a) - ln(b)) <= rel * abs(ln(b))
                                      ELSE false END
              ELSE pg_temp.close(a, b, rel) END $$;

CREATE TEMP TABLE fitted AS
SELECT * FROM profenrich.train('telco_glm', 'logistic', 'shared_data.telco_churn', 'churn',
    ARRAY['tenure', 'monthly_charges', 'senior_citizen', 'contract', 'internet_service',
          'payment_method', 'paperless_billing'], '{"positive": "Yes", "test_fraction": 0}');

CREATE TEMP TABLE got AS
SELECT row_number() OVER () AS i, * FROM profenrich.coefficients('telco_glm');

SELECT is((SELECT array_agg(feature ORDER BY i) FROM got),
          ARRAY['(intercept)', 'tenure', 'monthly_charges', 'senior_citizen',
                'contract=Month-to-month', 'contract=Two year', 'contract=One year',
                'internet_service=Fiber optic', 'internet_service=DSL', 'internet_service=No',
                'payment_method=Electronic check', 'payment_method=Mailed check',
                'payment_method=Bank transfer (automatic)', 'payment_method=Credit card (automatic)',
                'paperless_billing=Yes', 'paperless_billing=No'],
          'slots in column order, one-hot levels by frequency');
SELECT is((SELECT count(*) FROM got JOIN ref USING (feature)), 16::bigint,
          'every reference row has a coefficient row');
SELECT is(n_train, 7043::bigint, 'all 7,043 customers used') FROM fitted;
SELECT is((metrics->>'converged')::boolean, true, 'glm fit converged') FROM fitted;
SELECT is((metrics->>'rank')::int, 12, 'rank 12 as R reports') FROM fitted;

-- one test per quantity and non-aliased slot
SELECT ok(pg_temp.close(g.coef, r.coef), 'R glm coef, ' || g.feature)
  FROM got g JOIN ref r USING (feature) WHERE r.coef IS NOT NULL ORDER BY g.i;
SELECT ok(pg_temp.close(g.std_err, r.std_err), 'R glm std error, ' || g.feature)
  FROM got g JOIN ref r USING (feature) WHERE r.coef IS NOT NULL ORDER BY g.i;
SELECT ok(pg_temp.close(g.stat, r.stat), 'R glm z value, ' || g.feature)
  FROM got g JOIN ref r USING (feature) WHERE r.coef IS NOT NULL ORDER BY g.i;
SELECT ok(pg_temp.close_p(g.p_value, r.p_value),
          'R glm p value, ' || g.feature || CASE WHEN r.p_value < 1e-8 THEN ' (< 1e-8, log scale)' ELSE '' END)
  FROM got g JOIN ref r USING (feature) WHERE r.coef IS NOT NULL ORDER BY g.i;
SELECT ok(pg_temp.close(g.odds_ratio, r.odds_ratio), 'R glm odds ratio exp(coef), ' || g.feature)
  FROM got g JOIN ref r USING (feature) WHERE r.coef IS NOT NULL ORDER BY g.i;

-- the aliased slots, as R reports NA: the most frequent level of each text column
SELECT ok((SELECT coef IS NULL AND std_err IS NULL AND stat IS NULL AND p_value IS NULL AND odds_ratio IS NULL
             FROM got WHERE feature = a), a || ' aliased (all NULL)')
  FROM unnest(ARRAY['contract=Month-to-month', 'internet_service=Fiber optic',
                    'payment_method=Electronic check', 'paperless_billing=Yes']) WITH ORDINALITY AS t(a, k) ORDER BY k;

-- logLik(glm) and AIC(glm) = -2 logLik + 2 rank
SELECT ok(pg_temp.close((metrics->'train'->>'log_likelihood')::float8, -2981.0450695287504),
          'R glm log-likelihood') FROM fitted;
SELECT ok(pg_temp.close((metrics->'train'->>'aic')::float8, 5986.0901390575009), 'R glm AIC') FROM fitted;

-- fitted(glm) for the first three customers of the file
SELECT ok(pg_temp.close(profenrich.score('telco_glm', d), f), 'R glm fitted probability, ' || d.customer_id)
  FROM shared_data.telco_churn d
  JOIN (VALUES (1, '7590-VHVEG', 0.4984454128942577), (2, '5575-GNVDE', 0.070297990630962273),
               (3, '3668-QPYBK', 0.39940976129148742)) AS v(k, customer_id, f) USING (customer_id)
  ORDER BY v.k;

\else
SELECT plan(:ntests);
SELECT skip('shared_data.telco_churn not loaded: the ../shared/data folder is absent '
            '(test/data/load_shared.sh loads it when present)', :ntests);
\endif

SELECT * FROM finish();
ROLLBACK;
