-- Discovery on a real public data set: the IBM Telco churn data,
--   ../shared/data/churn/Telco-Customer-Churn.csv (7,043 customers), loaded into
--   shared_data.telco_churn by test/data/load_shared.sh.
-- References: the univariate AUC and information value recomputed here in SQL (tenure, a number,
--   and contract, a category), and the figures of an independent SciPy 1.10.1 implementation
--   (test/reference/discovery_scipy.py, recorded in test/reference/discovery_reference.txt) for
--   AUC, IV, Pearson, Spearman and eta.  Every feature here has at most 8,191 distinct values
--   and the data 7,043 rows, so every figure is exact: tolerance 1e-12 (absolute for AUC, r,
--   rho, eta; relative for IV).
-- Without the data folder the table is absent and every test is skipped, saying so.
\set QUIET on
\set ON_ERROR_STOP on
SET client_min_messages = warning;
BEGIN;
\set ntests 47
SELECT to_regclass('shared_data.telco_churn') IS NOT NULL AS have_data \gset

\if :have_data
SELECT plan(:ntests);

CREATE TEMP TABLE rep AS
SELECT row_number() OVER () AS i, *
FROM profenrich.feature_report('shared_data.telco_churn', 'churn',
     ARRAY['tenure', 'total_charges', 'monthly_charges', 'contract', 'payment_method']);

-- SciPy's figures (discovery_reference.txt, binary target churn, positive Yes)
CREATE TEMP TABLE ref_bin (feature text, auc float8, iv float8);
INSERT INTO ref_bin VALUES
  ('tenure', 0.26013282447137115, 0.82371183818502813),
  ('total_charges', 0.34826818017280842, 0.34091060520462829),
  ('monthly_charges', 0.62078568957062552, 0.36460012833990263),
  ('contract', 0.73910845332560648, 1.238559792784284),
  ('payment_method', 0.6712364762446632, 0.45710893284199822);

SELECT is((SELECT array_agg(feature ORDER BY i) FROM rep),
          ARRAY['tenure', 'contract', 'payment_method', 'total_charges', 'monthly_charges'],
          'features sorted by strength, strongest first');
SELECT is((SELECT count(*) FROM rep WHERE detail->>'positive' = 'Yes' AND measure = 'auc'), 5::bigint,
          'the less frequent value, Yes, is the positive class; the measure is the AUC');
SELECT ok(abs((r.detail->>'auc')::float8 - f.auc) <= 1e-12, 'AUC of ' || f.feature || ' = SciPy ' || f.auc)
  FROM rep r JOIN ref_bin f USING (feature) ORDER BY r.i;
SELECT ok(abs(r.information_value - f.iv) <= 1e-12 * f.iv, 'IV of ' || f.feature || ' = SciPy ' || f.iv)
  FROM rep r JOIN ref_bin f USING (feature) ORDER BY r.i;
SELECT ok(abs(r.strength - greatest(f.auc, 1 - f.auc)) <= 1e-12, 'strength of ' || f.feature || ' = max(AUC, 1 - AUC)')
  FROM rep r JOIN ref_bin f USING (feature) ORDER BY r.i;
SELECT is((SELECT count(*) FROM rep WHERE kind = 'numeric' AND (detail->>'exact')::boolean), 3::bigint,
          'numbers with at most 8,191 distinct values are summarized exactly');
SELECT ok(abs(missing_share - 11 / 7043.0) < 1e-15, 'total_charges: 11 of 7,043 missing')
  FROM rep WHERE feature = 'total_charges';
SELECT is((detail->'missing'->>'n')::int, 11, 'total_charges: a bin of its 11 missing values')
  FROM rep WHERE feature = 'total_charges';

-- recomputed in SQL: the AUC of tenure (Mann-Whitney with average ranks) ...
SELECT ok(abs((r.detail->>'auc')::float8 - a.auc) <= 1e-12, 'AUC of tenure recomputed in SQL: ' || a.auc)
  FROM rep r,
       (SELECT (sum(rk) FILTER (WHERE churn = 'Yes') - p * (p + 1) / 2) / (p * q) AS auc
        FROM (SELECT churn, (2 * rank() OVER w + count(*) OVER (PARTITION BY tenure) - 1) / 2.0 AS rk,
                     count(*) FILTER (WHERE churn = 'Yes') OVER () AS p,
                     count(*) FILTER (WHERE churn = 'No') OVER () AS q
              FROM shared_data.telco_churn WINDOW w AS (ORDER BY tenure)) t GROUP BY p, q) a
 WHERE r.feature = 'tenure';
-- ... and of contract, each customer scored by the churn rate of the contract type
SELECT ok(abs((r.detail->>'auc')::float8 - a.auc) <= 1e-12, 'AUC of contract recomputed in SQL: ' || a.auc)
  FROM rep r,
       (SELECT (sum(rk) FILTER (WHERE churn = 'Yes') - p * (p + 1) / 2) / (p * q) AS auc
        FROM (SELECT churn, (2 * rank() OVER w + count(*) OVER (PARTITION BY rate) - 1) / 2.0 AS rk,
                     count(*) FILTER (WHERE churn = 'Yes') OVER () AS p,
                     count(*) FILTER (WHERE churn = 'No') OVER () AS q
              FROM (SELECT churn, avg((churn = 'Yes')::int::float8) OVER (PARTITION BY contract) AS rate
                    FROM shared_data.telco_churn) s
              WINDOW w AS (ORDER BY rate)) t GROUP BY p, q) a
 WHERE r.feature = 'contract';

-- the information value of tenure: bins at percentile_disc(0.1, ..., 0.9), repeated edges merged,
-- 0.5 for an empty cell; and the bins themselves, edge by edge
CREATE TEMP TABLE tenure_bins AS
WITH edges AS MATERIALIZED (SELECT DISTINCT unnest(percentile_disc(ARRAY[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
                                      WITHIN GROUP (ORDER BY tenure)) AS e FROM shared_data.telco_churn)
SELECT (SELECT min(e) FROM edges WHERE e >= t.tenure) AS upper,
       count(*) FILTER (WHERE churn = 'Yes')::float8 AS bad, count(*) FILTER (WHERE churn = 'No')::float8 AS good
FROM shared_data.telco_churn t GROUP BY 1;
SELECT ok(abs(r.information_value - s.iv) <= 1e-12 * s.iv, 'IV of tenure recomputed in SQL: ' || s.iv)
  FROM rep r,
       (SELECT sum((greatest(good, 0.5) / g - greatest(bad, 0.5) / b) * ln((greatest(good, 0.5) / g) / (greatest(bad, 0.5) / b))) AS iv
        FROM tenure_bins, (SELECT sum(good) AS g, sum(bad) AS b FROM tenure_bins) t) s
 WHERE r.feature = 'tenure';
SELECT is((SELECT jsonb_agg((x->>'upper')::int ORDER BY o) FROM rep, jsonb_array_elements(detail->'bins') WITH ORDINALITY j(x, o)
           WHERE feature = 'tenure'),
          (SELECT jsonb_agg(upper::int ORDER BY upper NULLS LAST) FROM tenure_bins),
          'tenure bins: the distinct decile edges, and one above the last');
SELECT is((SELECT jsonb_agg((x->>'positives')::int ORDER BY o) FROM rep, jsonb_array_elements(detail->'bins') WITH ORDINALITY j(x, o)
           WHERE feature = 'tenure'),
          (SELECT jsonb_agg(bad::int ORDER BY upper NULLS LAST) FROM tenure_bins),
          'tenure bins: churners per bin, as SQL counts them');
SELECT ok(bool_and(abs((x->>'woe')::float8 - ln((greatest(b.good, 0.5) / t.g) / (greatest(b.bad, 0.5) / t.bb))) < 1e-12),
          'tenure bins: weight of evidence ln(share of non-churners / share of churners)')
  FROM rep, jsonb_array_elements(detail->'bins') x,
       tenure_bins b, (SELECT sum(good) AS g, sum(bad) AS bb FROM tenure_bins) t
 WHERE feature = 'tenure' AND (x->>'upper')::int IS NOT DISTINCT FROM b.upper::int;
-- the information value of contract over its three types
SELECT ok(abs(r.information_value - s.iv) <= 1e-12 * s.iv, 'IV of contract recomputed in SQL: ' || s.iv)
  FROM rep r,
       (SELECT sum((good / g - bad / b) * ln((good / g) / (bad / b))) AS iv
        FROM (SELECT contract, count(*) FILTER (WHERE churn = 'Yes')::float8 AS bad,
                     count(*) FILTER (WHERE churn = 'No')::float8 AS good
              FROM shared_data.telco_churn GROUP BY contract) c,
             (SELECT count(*) FILTER (WHERE churn = 'Yes')::float8 AS b,
                     count(*) FILTER (WHERE churn = 'No')::float8 AS g FROM shared_data.telco_churn) t) s
 WHERE r.feature = 'contract';
SELECT is((SELECT jsonb_object_agg(x->>'value', (x->>'positives')::int) FROM rep, jsonb_array_elements(detail->'levels') x
           WHERE feature = 'contract'),
          (SELECT jsonb_object_agg(contract, n) FROM (SELECT contract, count(*) FILTER (WHERE churn = 'Yes') AS n
                                                      FROM shared_data.telco_churn GROUP BY contract) c),
          'contract levels: churners per type');

-- numeric target monthly_charges: SciPy's pearsonr, spearmanr (average ranks) and eta
CREATE TEMP TABLE num AS
SELECT * FROM profenrich.feature_report('shared_data.telco_churn', 'monthly_charges',
     ARRAY['tenure', 'total_charges', 'senior_citizen', 'contract', 'payment_method']);
CREATE TEMP TABLE ref_num (feature text, pearson float8, spearman float8, eta float8);
INSERT INTO ref_num VALUES
  ('tenure', 0.24789985628615008, 0.27641678933130215, NULL),
  ('total_charges', 0.65106480322620253, 0.63803217577581539, NULL),
  ('senior_citizen', 0.22017333857627205, 0.22106666467394195, NULL),
  ('contract', NULL, NULL, 0.076695845654564068),
  ('payment_method', NULL, NULL, 0.40127388087245941);
SELECT ok(abs((n.detail->>'pearson')::float8 - f.pearson) <= 1e-12, 'Pearson r of ' || f.feature || ' = SciPy ' || f.pearson)
  FROM num n JOIN ref_num f USING (feature) WHERE f.pearson IS NOT NULL ORDER BY f.feature;
SELECT ok(abs((n.detail->>'spearman')::float8 - f.spearman) <= 1e-12, 'Spearman rho of ' || f.feature || ' = SciPy ' || f.spearman)
  FROM num n JOIN ref_num f USING (feature) WHERE f.spearman IS NOT NULL ORDER BY f.feature;
SELECT ok(abs(n.strength - f.eta) <= 1e-12 AND n.measure = 'eta', 'eta of ' || f.feature || ' = SciPy ' || f.eta)
  FROM num n JOIN ref_num f USING (feature) WHERE f.eta IS NOT NULL ORDER BY f.feature;
SELECT ok(abs(n.strength - abs(f.pearson)) <= 1e-12 AND n.measure = 'pearson', 'strength of ' || f.feature || ' = |r|')
  FROM num n JOIN ref_num f USING (feature) WHERE f.pearson IS NOT NULL ORDER BY f.feature;
SELECT ok(abs((n.detail->>'pearson')::float8 - c.r) <= 1e-12, 'Pearson r of total_charges = SQL corr(): ' || c.r)
  FROM num n, (SELECT corr(total_charges, monthly_charges) AS r FROM shared_data.telco_churn) c
 WHERE n.feature = 'total_charges';
SELECT is((SELECT count(*) FROM num WHERE (detail->>'spearman_exact')::boolean), 3::bigint,
          'Spearman from every row (7,043 fit the 20,000-row sample)');
SELECT is((SELECT count(*) FROM num WHERE information_value IS NULL), 5::bigint,
          'no information value for a numeric target');

-- profile_summary of the whole table: SQL's counts, distinct counts, means and sds
CREATE TEMP TABLE ps AS SELECT * FROM profenrich.profile_summary('shared_data.telco_churn');
SELECT is((SELECT count(*) FROM ps), 21::bigint, 'one row per column');
CREATE FUNCTION pg_temp.sql_counts(col text, OUT n bigint, OUT nd bigint) LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('SELECT count(%1$I), count(DISTINCT %1$I) FROM shared_data.telco_churn', col) INTO n, nd;
END $$;
SELECT is((SELECT array_agg(column_name ORDER BY column_name) FROM ps, LATERAL pg_temp.sql_counts(column_name) c
           WHERE ps.n = c.n AND ps.nulls = 7043 - c.n AND ps.distinct_values = c.nd),
          (SELECT array_agg(column_name ORDER BY column_name) FROM ps),
          'every column: n = count(col), nulls the rest, distinct values = count(DISTINCT col)');
SELECT ok(abs(p.mean - s.m) <= 1e-12 * s.m AND abs(p.sd - s.sd) <= 1e-12 * s.sd AND p.nulls = 11,
          'total_charges: mean and sd as avg() and stddev(), 11 NULLs')
  FROM ps p, (SELECT avg(total_charges) AS m, stddev(total_charges) AS sd FROM shared_data.telco_churn) s
 WHERE p.column_name = 'total_charges';
SELECT is((SELECT ARRAY[p01, p25, median, p75, p99] FROM ps WHERE column_name = 'tenure'),
          (SELECT percentile_cont(ARRAY[0.01, 0.25, 0.5, 0.75, 0.99]) WITHIN GROUP (ORDER BY tenure) FROM shared_data.telco_churn),
          'tenure quantiles are percentile_cont''s');
SELECT is((SELECT top_values->0 FROM ps WHERE column_name = 'contract'),
          '{"value": "Month-to-month", "count": 3875}'::jsonb, 'contract: most frequent type and its count');

\else
SELECT plan(:ntests);
SELECT skip('shared_data.telco_churn not loaded: the ../shared/data folder is absent '
            '(test/data/load_shared.sh loads it when present)', :ntests);
\endif

SELECT * FROM finish();
ROLLBACK;
