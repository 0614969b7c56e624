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
-- Credit card (automatic) 1522; paperless_billing: Yes 4171, No 2872), the first (most
-- frequent) of each left out: the slots profenrich aliases, each column's reference
INSERT INTO ref VALUES
 ('One year', '(intercept)', -8.6031066833724257, 0.38227800362577202, -22.504843600141765, 3.7212177476749336e-112, -8.6031070118464967, 0.38227801062379146),
 ('One year', 'tenure', 0.070481265695109846, 0.0023921976080502503, 29.462978082548656, 8.5860559153039484e-191, 0.070481266380709034, 0.0023921976217873742),
 ('One year', 'monthly_charges', 0.045176339967774488, 0.0038096250070059783, 11.85847422901054, 1.9448685169105995e-32, 0.045176343176808346, 0.0038096250627795334),
 ('One year', 'senior_citizen', -0.65084881950435081, 0.11546559354809997, -5.6367338486267258, 1.7330564368929976e-08, -0.65084893203645977, 0.11546559534747008),
 ('One year', 'internet_service=DSL', 2.7205195174491923, 0.17292297961164385, 15.732550546833192, 9.0491287203757534e-56, 2.7205195824649295, 0.17292298147981919),
 ('One year', 'internet_service=No', 5.11092825690422, 0.30143221989030383, 16.955480932874963, 1.7532092500467794e-64, 5.1109284339962651, 0.30143222431751698),
 ('One year', 'payment_method=Mailed check', 0.76373359946204111, 0.11898527251507604, 6.4187237909235551, 1.3742148032083663e-10, 0.76373345695986605, 0.11898527302705462),
 ('One year', 'payment_method=Bank transfer (automatic)', 0.6181475617885287, 0.10993834306279228, 5.6226748972873652, 1.8802304708626599e-08, 0.61814747841674389, 0.10993834382740403),
 ('One year', 'payment_method=Credit card (automatic)', 0.8215342215084338, 0.11127707514320218, 7.3827805093834789, 1.5501747135945914e-13, 0.82153416370731724, 0.11127707554537369),
 ('One year', 'paperless_billing=No', 0.51937471365564525, 0.084883239484815118, 6.1186957143471998, 9.4344359547653709e-10, 0.51937494636598014, 0.084883240275688318),
 ('Two year', '(intercept)', -16.351639088841694, 0.53629465689737743, -30.49002796977457, 3.533158871921734e-204, -16.351639413774155, 0.5362946627368832),
 ('Two year', 'tenure', 0.12678275209863396, 0.003311288632647639, 38.288040145041975, 0, 0.12678275101890962, 0.0033112886177548511),
 ('Two year', 'monthly_charges', 0.080629214599591742, 0.0048968046271060462, 16.465679303044332, 6.47318770683398e-61, 0.080629219296964968, 0.0048968046868252124),
 ('Two year', 'senior_citizen', -1.1486009313930921, 0.15116774437483593, -7.5981879344909595, 3.0030600473463535e-14, -1.1486010728505653, 0.15116774536562097),
 ('Two year', 'internet_service=DSL', 4.4908788912421569, 0.21839017335346766, 20.563557518559247, 5.8205048035280343e-94, 4.4908789342425361, 0.21839017450208401),
 ('Two year', 'internet_service=No', 9.4282036573770007, 0.40409491954127941, 23.331656008147075, 2.1163524451560063e-120, 9.4282038953117002, 0.4040949239989205),
 ('Two year', 'payment_method=Mailed check', 1.8844538904681492, 0.16293884057763153, 11.56540628242846, 6.1698563091566048e-31, 1.8844537975348281, 0.16293884091350455),
 ('Two year', 'payment_method=Bank transfer (automatic)', 1.3766388410027715, 0.14436993312950563, 9.5354954536681191, 1.4917154861114514e-21, 1.376638861643769, 0.14436993345560772),
 ('Two year', 'payment_method=Credit card (automatic)', 1.640264098771814, 0.14595563867564673, 11.238100245081512, 2.6502419369382297e-29, 1.6402640735092782, 0.1459556390967966),
 ('Two year', 'paperless_billing=No', 0.82417249392004344, 0.1050890201681377, 7.8426127924820737, 4.4126705980267953e-15, 0.82417253715501138, 0.10508902073214384);
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
SELECT is((metrics->>'rank')::int, 10, 'rank 10 per class: the most frequent level of each text column aliased') FROM fitted;
SELECT ok(pg_temp.close((metrics->'train'->>'log_likelihood')::float8, -4082.7550638418684, 1e-6),
          'log-likelihood equals nnet''s (1e-6)') FROM fitted;
SELECT ok(pg_temp.close((metrics->'train'->>'aic')::float8, 8205.5101276837377, 1e-6),
          'AIC equals nnet''s (1e-6)') FROM fitted;
SELECT is((SELECT count(*) FROM got WHERE coef IS NULL AND feature IN
             ('internet_service=Fiber optic', 'payment_method=Electronic check', 'paperless_billing=Yes')),
          6::bigint, 'the most frequent level of each text column aliased in both classes');
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
          'One year internet_service=DSL')
FROM got g JOIN ref r USING (class, feature) WHERE g.class = 'One year' AND g.feature = 'internet_service=DSL';
SELECT ok(pg_temp.close(g.coef, r.coef, 1e-7) AND pg_temp.close(g.std_err, r.std_err, 1e-7)
          AND pg_temp.close(g.stat, r.stat, 1e-7) AND pg_temp.close_p(g.p_value, r.p_value, 1e-7)
          AND pg_temp.close(g.coef, r.nnet_coef, 1e-6) AND pg_temp.close(g.std_err, r.nnet_se, 1e-6),
          'One year internet_service=No')
FROM got g JOIN ref r USING (class, feature) WHERE g.class = 'One year' AND g.feature = 'internet_service=No';
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
          'One year payment_method=Credit card (automatic)')
FROM got g JOIN ref r USING (class, feature) WHERE g.class = 'One year' AND g.feature = 'payment_method=Credit card (automatic)';
SELECT ok(pg_temp.close(g.coef, r.coef, 1e-7) AND pg_temp.close(g.std_err, r.std_err, 1e-7)
          AND pg_temp.close(g.stat, r.stat, 1e-7) AND pg_temp.close_p(g.p_value, r.p_value, 1e-7)
          AND pg_temp.close(g.coef, r.nnet_coef, 1e-6) AND pg_temp.close(g.std_err, r.nnet_se, 1e-6),
          'One year paperless_billing=No')
FROM got g JOIN ref r USING (class, feature) WHERE g.class = 'One year' AND g.feature = 'paperless_billing=No';
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
          'Two year internet_service=DSL')
FROM got g JOIN ref r USING (class, feature) WHERE g.class = 'Two year' AND g.feature = 'internet_service=DSL';
SELECT ok(pg_temp.close(g.coef, r.coef, 1e-7) AND pg_temp.close(g.std_err, r.std_err, 1e-7)
          AND pg_temp.close(g.stat, r.stat, 1e-7) AND pg_temp.close_p(g.p_value, r.p_value, 1e-7)
          AND pg_temp.close(g.coef, r.nnet_coef, 1e-6) AND pg_temp.close(g.std_err, r.nnet_se, 1e-6),
          'Two year internet_service=No')
FROM got g JOIN ref r USING (class, feature) WHERE g.class = 'Two year' AND g.feature = 'internet_service=No';
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
          'Two year payment_method=Credit card (automatic)')
FROM got g JOIN ref r USING (class, feature) WHERE g.class = 'Two year' AND g.feature = 'payment_method=Credit card (automatic)';
SELECT ok(pg_temp.close(g.coef, r.coef, 1e-7) AND pg_temp.close(g.std_err, r.std_err, 1e-7)
          AND pg_temp.close(g.stat, r.stat, 1e-7) AND pg_temp.close_p(g.p_value, r.p_value, 1e-7)
          AND pg_temp.close(g.coef, r.nnet_coef, 1e-6) AND pg_temp.close(g.std_err, r.nnet_se, 1e-6),
          'Two year paperless_billing=No')
FROM got g JOIN ref r USING (class, feature) WHERE g.class = 'Two year' AND g.feature = 'paperless_billing=No';
SELECT is((SELECT count(*) FROM got g JOIN ref r USING (class, feature)), 20::bigint,
          'every reference row has a coefficient row');
\else
SELECT plan(:ntests);
SELECT skip('shared_data.telco_churn not loaded: the ../shared/data folder is absent '
            '(test/data/load_shared.sh loads it when present)', :ntests);
\endif

SELECT * FROM finish();
ROLLBACK;
