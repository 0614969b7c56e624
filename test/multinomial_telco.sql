-- Multinomial regression on a real public data set against R: Contract (Month-to-month,
--   One year, Two year; Month-to-month the reference) of the IBM Telco churn data,
--   ../shared/data/churn/Telco-Customer-Churn.csv (7,043 customers), loaded into
--   shared_data.telco_churn by test/data/load_shared.sh, on tenure, monthly_charges,
--   senior_citizen, internet_service, payment_method and paperless_billing.
--   R 4.2.2 nnet::multinom 7.3-18 run to its optimum and an independent Newton solve in numpy
--   ([telco] and telco.newton.* of test/reference/multinomial_reference.txt; the Newton solution
--   agrees with nnet's to 5e-15 in log-likelihood, 2e-8 in coefficients and standard errors and
--   4e-10 in fitted probabilities).
-- Tolerances: log-likelihood and AIC 1e-6 relative (nnet); fitted probabilities of the first
--   ten customers 1e-6 absolute (nnet); coefficients, standard errors, z 1e-7 relative (Newton)
--   and 1e-6 (nnet); p values 1e-7 relative, on a log scale below 1e-8 (down to 1e-191 here;
--   tenure's in Two year, z = 38.3, underflows to 0 in R, SciPy and here).
-- Without the data folder the table is absent and every test is skipped, saying so.
\set QUIET on
\set ON_ERROR_STOP on
SET client_min_messages = warning;
BEGIN;
\set ntests 30
SELECT to_regclass('shared_data.telco_churn') IS NOT NULL AS have_data \gset

\if :have_data
SELECT plan(:ntests);

CREATE TEMP TABLE ref (class text, feature text, coef float8, std_err float8, stat float8, p_value float8,
                       nnet_coef float8, nnet_se float8);
-- explicit dummies by frequency (internet_service: Fiber optic 3096, DSL 2421, No 1526;
-- payment_method: Electronic check 2365, Mailed check 1612, Bank transfer (automatic) 1544,
-- Credit card (automatic) 1522; paperless_billing: Yes 4171, No 2872), the last of each left
-- out: the slots profenrich aliases
INSERT INTO ref VALUES
 ('One year', '(intercept)', -2.1512694913041259, 0.14474982009990758, -14.861983868576148, 5.8176550438857712e-50, -2.1512694897168383, 0.14474982008615578),
 ('One year', 'tenure', 0.07048126569510986, 0.0023921976080503371, 29.462978082547593, 8.5860559155736669e-191, 0.070481265704401719, 0.0023921976078989794),
 ('One year', 'monthly_charges', 0.045176339967774433, 0.0038096250070041547, 11.858474229016201, 1.9448685167791476e-32, 0.045176339935293568, 0.0038096250066871609),
 ('One year', 'senior_citizen', -0.65084881950435125, 0.11546559354809971, -5.6367338486267426, 1.7330564368928256e-08, -0.6508488192516042, 0.11546559354114466),
 ('One year', 'internet_service=Fiber optic', -5.1109282569042156, 0.30143221989017716, -16.955480932882075, 1.7532092498345742e-64, -5.1109282546855042, 0.30143221985142954),
 ('One year', 'internet_service=DSL', -2.3904087394550255, 0.16981772523498767, -14.076320573410483, 5.310354941328871e-45, -2.3904087387789099, 0.16981772521995991),
 ('One year', 'payment_method=Electronic check', -0.82153422150843336, 0.11127707514320129, -7.3827805093835339, 1.5501747135939575e-13, -0.82153422143867327, 0.11127707513806497),
 ('One year', 'payment_method=Mailed check', -0.057800622046392178, 0.11853890042752152, -0.48760889326566115, 0.62582689510492973, -0.057800623073270725, 0.11853890042515414),
 ('One year', 'payment_method=Bank transfer (automatic)', -0.20338665971990469, 0.11582361223518207, -1.7560034244737952, 0.079087823837237337, -0.20338665952956597, 0.11582361223551443),
 ('One year', 'paperless_billing=Yes', -0.51937471365564503, 0.084883239484814785, -6.1186957143472211, 9.4344359547640991e-10, -0.5193747142766737, 0.084883239485137055),
 ('Two year', '(intercept)', -4.4589988387728381, 0.19270901189943626, -23.138507093273525, 1.8976893439729643e-118, -4.4589988368161402, 0.19270901186700118),
 ('Two year', 'tenure', 0.12678275209863396, 0.0033112886326478698, 38.288040145039311, 0, 0.12678275206892764, 0.0033112886318256937),
 ('Two year', 'monthly_charges', 0.080629214599591686, 0.0048968046271040408, 16.465679303051065, 6.4731877061136531e-61, 0.080629214579457945, 0.0048968046265436601),
 ('Two year', 'senior_citizen', -1.1486009313930925, 0.15116774437483579, -7.5981879344909702, 3.0030600473460916e-14, -1.1486009308569385, 0.15116774435469846),
 ('Two year', 'internet_service=Fiber optic', -9.4282036573769972, 0.40409491954114629, -23.331656008154752, 2.116352444776245e-120, -9.4282036532600504, 0.40409491946523057),
 ('Two year', 'internet_service=DSL', -4.9373247661348421, 0.23457603686418921, -21.047865042554918, 2.3921499702181732e-98, -4.9373247645969274, 0.23457603683431022),
 ('Two year', 'payment_method=Electronic check', -1.6402640987718127, 0.14595563867564634, -11.238100245081531, 2.6502419369376608e-29, -1.6402640989947621, 0.14595563866492023),
 ('Two year', 'payment_method=Mailed check', 0.24418979169633592, 0.14433915670255856, 1.6917778742433751, 0.090688333783127684, 0.24418979044074901, 0.14433915668927641),
 ('Two year', 'payment_method=Bank transfer (automatic)', -0.26362525776904189, 0.13290804668471473, -1.9835161553040901, 0.047309804333202699, -0.26362525722147223, 0.13290804667733955),
 ('Two year', 'paperless_billing=Yes', -0.82417249392004299, 0.1050890201681379, -7.842612792482055, 4.412670598027465e-15, -0.82417249529561287, 0.10508902016428256);
CREATE TEMP TABLE ref_fitted (customer_id text, month_to_month float8, one_year float8, two_year float8);
INSERT INTO ref_fitted VALUES
 ('7590-VHVEG', 0.9885233668278931, 0.011388682846659098, 8.7950325447684979e-05),
 ('5575-GNVDE', 0.30995145356354442, 0.44858241675768978, 0.24146612967876582),
 ('3668-QPYBK', 0.92330516178280919, 0.072444059463483493, 0.0042507787537071134),
 ('7795-CFOCW', 0.3353600319281545, 0.47001091828782576, 0.19462904978401985),
 ('9237-HQITU', 0.99484322780549939, 0.0051264235354321012, 3.0348659068466653e-05),
 ('9305-CDSKC', 0.97109855678834678, 0.02824718152269402, 0.00065426168895925483),
 ('1452-KIOVK', 0.89371837984851277, 0.098456811416094303, 0.0078248087353928499),
 ('6713-OKOMC', 0.92406456692058869, 0.072104169020332051, 0.0038312640590792246),
 ('7892-POOKP', 0.8597125223994404, 0.12921106652638684, 0.011076411074172825),
 ('6388-TABGU', 0.040024957323906062, 0.34755685587857194, 0.61241818679752202);

CREATE FUNCTION pg_temp.close(a float8, b float8, rel float8) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN a IS NULL OR b IS NULL THEN a IS NULL AND b IS NULL
              ELSE abs(a - b) <= rel * greatest(abs(b), 1e-300) END $$;
CREATE FUNCTION pg_temp.close_p(a float8, b float8, rel float8) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN a IS NULL OR b IS NULL THEN a IS NULL AND b IS NULL
              WHEN b = 0 THEN a >= 0 AND a < 1e-300
              WHEN b < 1e-8 THEN CASE WHEN a > 0 THEN abs(ln(a) - ln(b)) <= rel * abs(ln(b)) ELSE false END
              ELSE pg_temp.close(a, b, rel) END $$;

CREATE TEMP TABLE fitted AS
SELECT * FROM profenrich.train('telco_contract', 'multinomial', 'shared_data.telco_churn', 'contract',
    ARRAY['tenure', 'monthly_charges', 'senior_citizen', 'internet_service', 'payment_method',
          'paperless_billing'], '{"test_fraction": 0}');
CREATE TEMP TABLE got AS SELECT * FROM profenrich.coefficients('telco_contract');

SELECT is(n_train, 7043::bigint, 'all 7,043 customers used') FROM fitted;
SELECT is(profenrich.classes('telco_contract'), ARRAY['Month-to-month', 'One year', 'Two year'],
          'the three contracts in sort order');
SELECT is((metrics->>'converged')::boolean, true, 'Newton converged') FROM fitted;
SELECT is((metrics->>'rank')::int, 10, 'rank 10 per class: the last level of each text column aliased') FROM fitted;
SELECT ok(pg_temp.close((metrics->'train'->>'log_likelihood')::float8, -4082.7550638418684, 1e-6),
          'log-likelihood equals nnet''s (1e-6)') FROM fitted;
SELECT ok(pg_temp.close((metrics->'train'->>'aic')::float8, 8205.5101276837377, 1e-6),
          'AIC equals nnet''s (1e-6)') FROM fitted;
SELECT is((SELECT count(*) FROM got WHERE coef IS NULL AND feature IN
             ('internet_service=No', 'payment_method=Credit card (automatic)', 'paperless_billing=No')),
          6::bigint, 'the last level of each text column aliased in both classes');
SELECT is((SELECT max(greatest(abs(p[1] - f.month_to_month), abs(p[2] - f.one_year), abs(p[3] - f.two_year)))
           FROM shared_data.telco_churn t JOIN ref_fitted f USING (customer_id),
                LATERAL (SELECT profenrich.predict_proba('telco_contract', t) AS p) q) <= 1e-6, true,
          'fitted probabilities of the first ten customers equal nnet''s (1e-6 absolute)');
SELECT is((SELECT count(*) FROM ref_fitted), 10::bigint, 'ten reference customers');
SELECT ok(pg_temp.close(g.coef, r.coef, 1e-7) AND pg_temp.close(g.std_err, r.std_err, 1e-7)
          AND pg_temp.close(g.stat, r.stat, 1e-7) AND pg_temp.close_p(g.p_value, r.p_value, 1e-7)
          AND pg_temp.close(g.coef, r.nnet_coef, 1e-6) AND pg_temp.close(g.std_err, r.nnet_se, 1e-6),
          'One year (intercept)')
FROM got g JOIN ref r USING (class, feature) WHERE g.class = 'One year' AND g.feature = '(intercept)';
SELECT ok(pg_temp.close(g.coef, r.coef, 1e-7) AND pg_temp.close(g.std_err, r.std_err, 1e-7)
          AND pg_temp.close(g.stat, r.stat, 1e-7) AND pg_temp.close_p(g.p_value, r.p_value, 1e-7)
          AND pg_temp.close(g.coef, r.nnet_coef, 1e-6) AND pg_temp.close(g.std_err, r.nnet_se, 1e-6),
          'One year tenure')
FROM got g JOIN ref r USING (class, feature) WHERE g.class = 'One year' AND g.feature = 'tenure';
SELECT ok(pg_temp.close(g.coef, r.coef, 1e-7) AND pg_temp.close(g.std_err, r.std_err, 1e-7)
          AND pg_temp.close(g.stat, r.stat, 1e-7) AND pg_temp.close_p(g.p_value, r.p_value, 1e-7)
          AND pg_temp.close(g.coef, r.nnet_coef, 1e-6) AND pg_temp.close(g.std_err, r.nnet_se, 1e-6),
          'One year monthly_charges')
FROM got g JOIN ref r USING (class, feature) WHERE g.class = 'One year' AND g.feature = 'monthly_charges';
SELECT ok(pg_temp.close(g.coef, r.coef, 1e-7) AND pg_temp.close(g.std_err, r.std_err, 1e-7)
          AND pg_temp.close(g.stat, r.stat, 1e-7) AND pg_temp.close_p(g.p_value, r.p_value, 1e-7)
          AND pg_temp.close(g.coef, r.nnet_coef, 1e-6) AND pg_temp.close(g.std_err, r.nnet_se, 1e-6),
          'One year senior_citizen')
FROM got g JOIN ref r USING (class, feature) WHERE g.class = 'One year' AND g.feature = 'senior_citizen';
SELECT ok(pg_temp.close(g.coef, r.coef, 1e-7) AND pg_temp.close(g.std_err, r.std_err, 1e-7)
          AND pg_temp.close(g.stat, r.stat, 1e-7) AND pg_temp.close_p(g.p_value, r.p_value, 1e-7)
          AND pg_temp.close(g.coef, r.nnet_coef, 1e-6) AND pg_temp.close(g.std_err, r.nnet_se, 1e-6),
          'One year internet_service=Fiber optic')
FROM got g JOIN ref r USING (class, feature) WHERE g.class = 'One year' AND g.feature = 'internet_service=Fiber optic';
SELECT ok(pg_temp.close(g.coef, r.coef, 1e-7) AND pg_temp.close(g.std_err, r.std_err, 1e-7)
          AND pg_temp.close(g.stat, r.stat, 1e-7) AND pg_temp.close_p(g.p_value, r.p_value, 1e-7)
          AND pg_temp.close(g.coef, r.nnet_coef, 1e-6) AND pg_temp.close(g.std_err, r.nnet_se, 1e-6),
          'One year internet_service=DSL')
FROM got g JOIN ref r USING (class, feature) WHERE g.class = 'One year' AND g.feature = 'internet_service=DSL';
SELECT ok(pg_temp.close(g.coef, r.coef, 1e-7) AND pg_temp.close(g.std_err, r.std_err, 1e-7)
          AND pg_temp.close(g.stat, r.stat, 1e-7) AND pg_temp.close_p(g.p_value, r.p_value, 1e-7)
          AND pg_temp.close(g.coef, r.nnet_coef, 1e-6) AND pg_temp.close(g.std_err, r.nnet_se, 1e-6),
          'One year payment_method=Electronic check')
FROM got g JOIN ref r USING (class, feature) WHERE g.class = 'One year' AND g.feature = 'payment_method=Electronic check';
SELECT ok(pg_temp.close(g.coef, r.coef, 1e-7) AND pg_temp.close(g.std_err, r.std_err, 1e-7)
          AND pg_temp.close(g.stat, r.stat, 1e-7) AND pg_temp.close_p(g.p_value, r.p_value, 1e-7)
          AND pg_temp.close(g.coef, r.nnet_coef, 1e-6) AND pg_temp.close(g.std_err, r.nnet_se, 1e-6),
          'One year payment_method=Mailed check')
FROM got g JOIN ref r USING (class, feature) WHERE g.class = 'One year' AND g.feature = 'payment_method=Mailed check';
SELECT ok(pg_temp.close(g.coef, r.coef, 1e-7) AND pg_temp.close(g.std_err, r.std_err, 1e-7)
          AND pg_temp.close(g.stat, r.stat, 1e-7) AND pg_temp.close_p(g.p_value, r.p_value, 1e-7)
          AND pg_temp.close(g.coef, r.nnet_coef, 1e-6) AND pg_temp.close(g.std_err, r.nnet_se, 1e-6),
          'One year payment_method=Bank transfer (automatic)')
FROM got g JOIN ref r USING (class, feature) WHERE g.class = 'One year' AND g.feature = 'payment_method=Bank transfer (automatic)';
SELECT ok(pg_temp.close(g.coef, r.coef, 1e-7) AND pg_temp.close(g.std_err, r.std_err, 1e-7)
          AND pg_temp.close(g.stat, r.stat, 1e-7) AND pg_temp.close_p(g.p_value, r.p_value, 1e-7)
          AND pg_temp.close(g.coef, r.nnet_coef, 1e-6) AND pg_temp.close(g.std_err, r.nnet_se, 1e-6),
          'One year paperless_billing=Yes')
FROM got g JOIN ref r USING (class, feature) WHERE g.class = 'One year' AND g.feature = 'paperless_billing=Yes';
SELECT ok(pg_temp.close(g.coef, r.coef, 1e-7) AND pg_temp.close(g.std_err, r.std_err, 1e-7)
          AND pg_temp.close(g.stat, r.stat, 1e-7) AND pg_temp.close_p(g.p_value, r.p_value, 1e-7)
          AND pg_temp.close(g.coef, r.nnet_coef, 1e-6) AND pg_temp.close(g.std_err, r.nnet_se, 1e-6),
          'Two year (intercept)')
FROM got g JOIN ref r USING (class, feature) WHERE g.class = 'Two year' AND g.feature = '(intercept)';
SELECT ok(pg_temp.close(g.coef, r.coef, 1e-7) AND pg_temp.close(g.std_err, r.std_err, 1e-7)
          AND pg_temp.close(g.stat, r.stat, 1e-7) AND pg_temp.close_p(g.p_value, r.p_value, 1e-7)
          AND pg_temp.close(g.coef, r.nnet_coef, 1e-6) AND pg_temp.close(g.std_err, r.nnet_se, 1e-6),
          'Two year tenure')
FROM got g JOIN ref r USING (class, feature) WHERE g.class = 'Two year' AND g.feature = 'tenure';
SELECT ok(pg_temp.close(g.coef, r.coef, 1e-7) AND pg_temp.close(g.std_err, r.std_err, 1e-7)
          AND pg_temp.close(g.stat, r.stat, 1e-7) AND pg_temp.close_p(g.p_value, r.p_value, 1e-7)
          AND pg_temp.close(g.coef, r.nnet_coef, 1e-6) AND pg_temp.close(g.std_err, r.nnet_se, 1e-6),
          'Two year monthly_charges')
FROM got g JOIN ref r USING (class, feature) WHERE g.class = 'Two year' AND g.feature = 'monthly_charges';
SELECT ok(pg_temp.close(g.coef, r.coef, 1e-7) AND pg_temp.close(g.std_err, r.std_err, 1e-7)
          AND pg_temp.close(g.stat, r.stat, 1e-7) AND pg_temp.close_p(g.p_value, r.p_value, 1e-7)
          AND pg_temp.close(g.coef, r.nnet_coef, 1e-6) AND pg_temp.close(g.std_err, r.nnet_se, 1e-6),
          'Two year senior_citizen')
FROM got g JOIN ref r USING (class, feature) WHERE g.class = 'Two year' AND g.feature = 'senior_citizen';
SELECT ok(pg_temp.close(g.coef, r.coef, 1e-7) AND pg_temp.close(g.std_err, r.std_err, 1e-7)
          AND pg_temp.close(g.stat, r.stat, 1e-7) AND pg_temp.close_p(g.p_value, r.p_value, 1e-7)
          AND pg_temp.close(g.coef, r.nnet_coef, 1e-6) AND pg_temp.close(g.std_err, r.nnet_se, 1e-6),
          'Two year internet_service=Fiber optic')
FROM got g JOIN ref r USING (class, feature) WHERE g.class = 'Two year' AND g.feature = 'internet_service=Fiber optic';
SELECT ok(pg_temp.close(g.coef, r.coef, 1e-7) AND pg_temp.close(g.std_err, r.std_err, 1e-7)
          AND pg_temp.close(g.stat, r.stat, 1e-7) AND pg_temp.close_p(g.p_value, r.p_value, 1e-7)
          AND pg_temp.close(g.coef, r.nnet_coef, 1e-6) AND pg_temp.close(g.std_err, r.nnet_se, 1e-6),
          'Two year internet_service=DSL')
FROM got g JOIN ref r USING (class, feature) WHERE g.class = 'Two year' AND g.feature = 'internet_service=DSL';
SELECT ok(pg_temp.close(g.coef, r.coef, 1e-7) AND pg_temp.close(g.std_err, r.std_err, 1e-7)
          AND pg_temp.close(g.stat, r.stat, 1e-7) AND pg_temp.close_p(g.p_value, r.p_value, 1e-7)
          AND pg_temp.close(g.coef, r.nnet_coef, 1e-6) AND pg_temp.close(g.std_err, r.nnet_se, 1e-6),
          'Two year payment_method=Electronic check')
FROM got g JOIN ref r USING (class, feature) WHERE g.class = 'Two year' AND g.feature = 'payment_method=Electronic check';
SELECT ok(pg_temp.close(g.coef, r.coef, 1e-7) AND pg_temp.close(g.std_err, r.std_err, 1e-7)
          AND pg_temp.close(g.stat, r.stat, 1e-7) AND pg_temp.close_p(g.p_value, r.p_value, 1e-7)
          AND pg_temp.close(g.coef, r.nnet_coef, 1e-6) AND pg_temp.close(g.std_err, r.nnet_se, 1e-6),
          'Two year payment_method=Mailed check')
FROM got g JOIN ref r USING (class, feature) WHERE g.class = 'Two year' AND g.feature = 'payment_method=Mailed check';
SELECT ok(pg_temp.close(g.coef, r.coef, 1e-7) AND pg_temp.close(g.std_err, r.std_err, 1e-7)
          AND pg_temp.close(g.stat, r.stat, 1e-7) AND pg_temp.close_p(g.p_value, r.p_value, 1e-7)
          AND pg_temp.close(g.coef, r.nnet_coef, 1e-6) AND pg_temp.close(g.std_err, r.nnet_se, 1e-6),
          'Two year payment_method=Bank transfer (automatic)')
FROM got g JOIN ref r USING (class, feature) WHERE g.class = 'Two year' AND g.feature = 'payment_method=Bank transfer (automatic)';
SELECT ok(pg_temp.close(g.coef, r.coef, 1e-7) AND pg_temp.close(g.std_err, r.std_err, 1e-7)
          AND pg_temp.close(g.stat, r.stat, 1e-7) AND pg_temp.close_p(g.p_value, r.p_value, 1e-7)
          AND pg_temp.close(g.coef, r.nnet_coef, 1e-6) AND pg_temp.close(g.std_err, r.nnet_se, 1e-6),
          'Two year paperless_billing=Yes')
FROM got g JOIN ref r USING (class, feature) WHERE g.class = 'Two year' AND g.feature = 'paperless_billing=Yes';
SELECT is((SELECT count(*) FROM got g JOIN ref r USING (class, feature)), 20::bigint,
          'every reference row has a coefficient row');
\else
SELECT plan(:ntests);
SELECT skip('shared_data.telco_churn not loaded: the ../shared/data folder is absent '
            '(test/data/load_shared.sh loads it when present)', :ntests);
\endif

SELECT * FROM finish();
ROLLBACK;
