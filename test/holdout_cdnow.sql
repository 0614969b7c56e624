-- holdout_check on CDNOW against an independent implementation: the holdout validation of
-- Fader, Hardie & Lee (2005), figure 4 and its table.
--   Data: ../shared/data/cdnow/CDNOW_sample.txt (2,357 customers), loaded into shared_data.cdnow
--   by test/data/load_shared.sh.  Calibration to 1997-09-30, holdout 1997-10-01..1998-06-30
--   (39 weeks), weeks; the holdout purchases are built with rfm as the README shows: the
--   frequency as of 1998-06-30 minus the frequency as of 1997-09-30.
--   Reference: test/reference/holdout_reference.py (SciPy, the closed forms of
--   clv_reference.py at its own MLEs; output in holdout_reference.txt): customers and mean
--   actual holdout transactions by calibration frequency 0..6, 7+ and in total (counted from the
--   raw file, not with rfm), and the mean E[Y(39) | x, t_x, T] of BG/NBD and Pareto/NBD.
-- Tolerances: customers exact; actual means 1e-9 relative (the reference prints 10 digits);
--   expected means 1e-6 relative (two optimizers stop at slightly different points: the MLEs
--   agree to about 1e-7, see test/clv_cdnow.sql).
-- Without the data folder the table is absent and every test is skipped, saying so.
\set QUIET on
\set ON_ERROR_STOP on
SET client_min_messages = warning;
BEGIN;
\set ntests 40
SELECT to_regclass('shared_data.cdnow') IS NOT NULL AS have_data \gset

\if :have_data
SELECT plan(:ntests);

CREATE FUNCTION pg_temp.close(a float8, b float8, rel float8) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT a IS NOT NULL AND b IS NOT NULL AND abs(a - b) <= rel * greatest(abs(b), 1e-300) $$;

-- each customer's calibration summary and holdout purchases, with rfm
CREATE TEMP TABLE cd_holdout AS
SELECT customer_id, (c).frequency, (c).recency, (c).t, (c).monetary,
       (h).frequency - (c).frequency AS holdout_purchases
FROM (SELECT customer_id, profenrich.rfm(day, dollars, '1997-09-30') AS c,
             profenrich.rfm(day, dollars, '1998-06-30') AS h
      FROM shared_data.cdnow GROUP BY customer_id) s;
SELECT name FROM profenrich.train('hc_bg', 'bgnbd', 'cd_holdout');
SELECT name FROM profenrich.train('hc_pn', 'paretonbd', 'cd_holdout');
SELECT name FROM profenrich.train('hc_clv', 'clv', 'cd_holdout');

-- holdout_reference.txt
CREATE TEMP TABLE ref (frequency int, customers bigint, actual_mean float8, bg float8, pn float8);
INSERT INTO ref VALUES
  (0, 1411, 0.2367115521, 0.2250873261, 0.138446897),
  (1, 439, 0.6970387244, 0.5231311734, 0.5994706734),
  (2, 214, 1.392523364, 1.044134122, 1.195836719),
  (3, 100, 1.56, 1.520279513, 1.713843366),
  (4, 62, 2.532258065, 2.163865799, 2.398308199),
  (5, 38, 2.947368421, 2.653845885, 2.907207712),
  (6, 29, 3.862068966, 3.504042298, 3.818559312),
  (7, 64, 6.359375, 6.157190507, 6.403067096),
  (NULL, 2357, 0.7984726347, 0.7014886287, 0.7066241439);

CREATE TEMP TABLE bg AS SELECT * FROM profenrich.holdout_check('hc_bg', 'cd_holdout', 'holdout_purchases', 39);
CREATE TEMP TABLE pn AS SELECT * FROM profenrich.holdout_check('hc_pn', 'cd_holdout', 'holdout_purchases', 39);

SELECT is(h.customers, r.customers, 'customers, frequency ' || coalesce(r.frequency::text, 'total'))
FROM ref r JOIN bg h ON h.frequency IS NOT DISTINCT FROM r.frequency ORDER BY r.frequency NULLS LAST;
SELECT ok(pg_temp.close(h.actual_mean, r.actual_mean, 1e-9),
          'actual mean ' || r.actual_mean || ', frequency ' || coalesce(r.frequency::text, 'total'))
FROM ref r JOIN bg h ON h.frequency IS NOT DISTINCT FROM r.frequency ORDER BY r.frequency NULLS LAST;
SELECT ok(pg_temp.close(h.expected_mean, r.bg, 1e-6),
          'BG/NBD expected mean ' || r.bg || ', frequency ' || coalesce(r.frequency::text, 'total'))
FROM ref r JOIN bg h ON h.frequency IS NOT DISTINCT FROM r.frequency ORDER BY r.frequency NULLS LAST;
SELECT ok(pg_temp.close(h.expected_mean, r.pn, 1e-6),
          'Pareto/NBD expected mean ' || r.pn || ', frequency ' || coalesce(r.frequency::text, 'total'))
FROM ref r JOIN pn h ON h.frequency IS NOT DISTINCT FROM r.frequency ORDER BY r.frequency NULLS LAST;

-- a clv model checks its BG/NBD submodel: the same figures
SELECT ok(bool_and(pg_temp.close(c.expected_mean, b.expected_mean, 1e-12) AND c.customers = b.customers),
          'clv: the expectations of its BG/NBD submodel')
FROM profenrich.holdout_check('hc_clv', 'cd_holdout', 'holdout_purchases', 39) c
JOIN bg b ON b.frequency IS NOT DISTINCT FROM c.frequency;
-- the holdout transactions add up to the reference's 1,882
SELECT is((SELECT sum(holdout_purchases) FROM cd_holdout), 1882::bigint, 'holdout: 1,882 transactions');
-- periods 0: nothing expected
SELECT ok(bool_and(expected_mean = 0), 'periods 0: expected 0')
FROM profenrich.holdout_check('hc_bg', 'cd_holdout', 'holdout_purchases', 0);
-- a spend model is no purchase model
SELECT name FROM profenrich.train('hc_gg', 'gammagamma', 'cd_holdout');
SELECT throws_ok($$SELECT * FROM profenrich.holdout_check('hc_gg', 'cd_holdout', 'holdout_purchases', 39)$$,
                 '42809', NULL, 'holdout_check refuses a spend model');
\else
SELECT plan(:ntests);
SELECT skip('shared_data.cdnow not loaded: the ../shared/data folder is absent '
            '(test/data/load_shared.sh loads it when present)', :ntests);
\endif

SELECT * FROM finish();
ROLLBACK;
