-- Linear regression on a real public data set against R:
--   R 4.2.2 lm() (test/reference/churn_lm.R) on the bank-churn data,
--   ../shared/data/churn/Churn_Modelling.csv (10,000 customers), loaded into
--   shared_data.bank_churn by test/data/load_shared.sh. Figures copied from the
--   output of churn_lm.R.  Tolerance: 1e-8 relative (p values below 1e-300:
--   absolute).
-- Without the data folder the table is absent and every test is skipped, saying so.
\set QUIET on
\set ON_ERROR_STOP on
SET client_min_messages = warning;
BEGIN;
\set ntests 53
SELECT to_regclass('shared_data.bank_churn') IS NOT NULL AS have_data \gset

\if :have_data
SELECT plan(:ntests);

-- lm(CreditScore ~ `Geography=Germany` + `Geography=Spain` + `Geography=France`
--    + `Gender=Female` + `Gender=Male` + Age + Tenure + Balance + NumOfProducts
--    + HasCrCard + IsActiveMember + EstimatedSalary), explicit 0/1 dummies; levels by
-- frequency (France 5014, Germany 2509, Spain 2477; Male 5457, Female 4543), the most
-- frequent of each column (profenrich's reference level) given last, so that R aliases it
-- (NA) as profenrich does; rank 11, 9989 residual df.
CREATE TEMP TABLE ref (feature text, coef float8, std_err float8, stat float8, p_value float8);
INSERT INTO ref VALUES
 ('(intercept)', 645.01632154308584, 5.8825633363108372, 109.64885283285336, 0),
 ('geography=France', NULL, NULL, NULL, NULL),
 ('geography=Germany', 1.0608079376425261, 2.5804173066241898, 0.41109937331427976, 0.68100848841454176),
 ('geography=Spain', 1.5980591709376475, 2.3743544496527504, 0.67304996150484764, 0.50093107660530145),
 ('gender=Male', NULL, NULL, NULL, NULL),
 ('gender=Female', 0.66641487508373654, 1.9442469192364578, 0.3427624693603476, 0.73178437482398651),
 ('age', -0.0589743570590874, 0.092712690091972846, -0.63609800341877321, 0.52472712053332449),
 ('tenure', 0.053475002848756156, 0.33452104220034734, 0.15985542343470743, 0.87299819593809869),
 ('balance', 1.593778315699313e-05, 1.7907011815923751e-05, 0.89003030325922439, 0.37347104935229913),
 ('num_of_products', 2.4670620710854321, 1.7603255580959414, 1.4014805725788206, 0.16110148191235846),
 ('has_cr_card', -1.0820542133935493, 2.122037427540282, -0.50991287870345969, 0.61012376468759943),
 ('is_active_member', 5.0631543999501343, 1.9433869238715682, 2.6053249292546647, 0.0091923259256604696),
 ('estimated_salary', -2.6345889082249264e-06, 1.6814507730472227e-05, -0.1566854617724176, 0.8754959119044925);

-- a and b agree within rel relative tolerance; two NULLs agree
CREATE FUNCTION pg_temp.close(a float8, b float8, rel float8 DEFAULT 1e-8) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN a IS NULL OR b IS NULL THEN a IS NULL AND b IS NULL
              ELSE abs(a - b) <= rel * greatest(abs(b), 1e-300) END $$;

-- p values: relative as above, but where the reference is below 1e-300 (R reports 0 for
-- the intercept, t = 105.6: the tail underflows) only require 0 <= a < 1e-300
CREATE FUNCTION pg_temp.close_p(a float8, b float8) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN b IS NOT NULL AND b < 1e-300 THEN a >= 0 AND a < 1e-300
              ELSE pg_temp.close(a, b) END $$;

CREATE TEMP TABLE fitted AS
SELECT * FROM profenrich.train('churn_lm', 'linear', 'shared_data.bank_churn', 'credit_score',
    ARRAY['geography', 'gender', 'age', 'tenure', 'balance', 'num_of_products', 'has_cr_card',
          'is_active_member', 'estimated_salary'], '{"test_fraction": 0}');

CREATE TEMP TABLE got AS
SELECT row_number() OVER () AS i, * FROM profenrich.coefficients('churn_lm');

SELECT is((SELECT array_agg(feature ORDER BY i) FROM got),
          ARRAY['(intercept)', 'geography=France', 'geography=Germany', 'geography=Spain',
                'gender=Male', 'gender=Female', 'age', 'tenure', 'balance', 'num_of_products',
                'has_cr_card', 'is_active_member', 'estimated_salary'],
          'slots in column order, one-hot levels by frequency');
SELECT is((SELECT count(*) FROM got JOIN ref USING (feature)), 13::bigint,
          'every reference row has a coefficient row');
SELECT is(n_train, 10000::bigint, 'all 10,000 customers used') FROM fitted;
SELECT is((metrics->>'rank')::int, 11, 'rank 11 as R reports') FROM fitted;

-- one test per quantity and non-aliased slot, within 1e-8 relative
SELECT ok(pg_temp.close(g.coef, r.coef), 'R lm coef, ' || g.feature)
  FROM got g JOIN ref r USING (feature) WHERE r.coef IS NOT NULL ORDER BY g.i;
SELECT ok(pg_temp.close(g.std_err, r.std_err), 'R lm std error, ' || g.feature)
  FROM got g JOIN ref r USING (feature) WHERE r.coef IS NOT NULL ORDER BY g.i;
SELECT ok(pg_temp.close(g.stat, r.stat), 'R lm t statistic, ' || g.feature)
  FROM got g JOIN ref r USING (feature) WHERE r.coef IS NOT NULL ORDER BY g.i;
SELECT ok(pg_temp.close_p(g.p_value, r.p_value),
          'R lm p value, ' || g.feature || CASE WHEN r.p_value < 1e-300 THEN ' (< 1e-300, absolute)' ELSE '' END)
  FROM got g JOIN ref r USING (feature) WHERE r.coef IS NOT NULL ORDER BY g.i;

-- the aliased slots, as R reports NA: the most frequent level of each text column
SELECT ok((SELECT coef IS NULL AND std_err IS NULL AND stat IS NULL AND p_value IS NULL
             FROM got WHERE feature = 'geography=France'), 'geography=France aliased (all NULL)');
SELECT ok((SELECT coef IS NULL AND std_err IS NULL AND stat IS NULL AND p_value IS NULL
             FROM got WHERE feature = 'gender=Male'), 'gender=Male aliased (all NULL)');

-- fit summaries: R's summary(lm)$r.squared, RMSE = sqrt(mean(resid^2)), MAE = mean(abs(resid))
SELECT ok(pg_temp.close((metrics->'train'->>'r2')::float8, 0.0010448025665093508), 'R^2') FROM fitted;
SELECT ok(pg_temp.close((metrics->'train'->>'rmse')::float8, 96.597963473006956), 'RMSE') FROM fitted;
SELECT ok(pg_temp.close((metrics->'train'->>'mae')::float8, 78.358887724089726), 'MAE') FROM fitted;

\else
SELECT plan(:ntests);
SELECT skip('shared_data.bank_churn not loaded: the ../shared/data folder is absent '
            '(test/data/load_shared.sh loads it when present)', :ntests);
\endif

SELECT * FROM finish();
ROLLBACK;
