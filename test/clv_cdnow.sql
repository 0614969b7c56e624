-- Lifetime-value models on the CDNOW purchases against published figures and an independent
-- reference implementation:
--   Data: ../shared/data/cdnow/CDNOW_sample.txt (6,919 purchases of 2,357 customers), loaded
--   into shared_data.cdnow by test/data/load_shared.sh.  Calibration ends 1997-09-30; weeks.
--   Published: Fader, Hardie & Lee (2005) BG/NBD r = 0.2426, alpha = 4.4136, a = 0.7929,
--   b = 2.4259, LL -9582.43; Pareto/NBD (Schmittlein, Morrison & Colombo 1987, as fitted by
--   Fader & Hardie) r = 0.5533, alpha = 10.578, s = 0.6062, beta = 11.669, LL -9594.98;
--   Gamma-Gamma (Fader, Hardie & Lee 2005) p = 6.2496, q = 3.7442, gamma = 15.4435,
--   LL -4055.92; summary totals 2,357 customers, 946 repeat buyers, sum of frequency 2,457;
--   E[Y(39)] = 1.226 for x = 2, t_x = 30.43, T = 38.86 (the BG/NBD paper's example).
--   Reference: test/reference/clv_reference.py (SciPy, the 2F1 closed forms; its output in
--   clv_reference.txt): the MLEs to 10 digits, standard errors to 4, and predictions at its
--   MLEs for five customers (section (f)).
-- Tolerances: published estimates 1e-3 relative, log-likelihoods 0.01 absolute (their
--   rounding); the reference's MLEs and predictions 1e-6 relative (two optimizers stop at
--   slightly different points; the formulas agree to 1e-9 at the same parameters); standard
--   errors 1e-2 relative (the reference's are 4 digits of a finite-difference Hessian).
-- Without the data folder the table is absent and every test is skipped, saying so.
\set QUIET on
\set ON_ERROR_STOP on
SET client_min_messages = warning;
BEGIN;
\set ntests 92
SELECT to_regclass('shared_data.cdnow') IS NOT NULL AS have_data \gset

\if :have_data
SELECT plan(:ntests);

CREATE FUNCTION pg_temp.close(a float8, b float8, rel float8) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT a IS NOT NULL AND b IS NOT NULL AND abs(a - b) <= rel * greatest(abs(b), 1e-300) $$;

CREATE TEMP TABLE cd AS
SELECT customer_id, (profenrich.rfm(day, dollars, '1997-09-30')).* FROM shared_data.cdnow GROUP BY 1;

-- the summary against the published totals and the reference's sums
SELECT is(count(*), 2357::bigint, 'RFM: 2,357 customers') FROM cd;
SELECT is(count(*) FILTER (WHERE frequency > 0), 946::bigint, 'RFM: 946 repeat buyers') FROM cd;
SELECT is(sum(frequency), 2457::bigint, 'RFM: sum of frequency 2,457') FROM cd;
SELECT ok(pg_temp.close(sum(recency), 16135.57143, 1e-9), 'RFM: sum of recency (reference)') FROM cd;
SELECT ok(pg_temp.close(sum(t), 77111.28571, 1e-9), 'RFM: sum of t (reference)') FROM cd;

SELECT name FROM profenrich.train('cd_bg', 'bgnbd', 'cd');
SELECT name FROM profenrich.train('cd_pn', 'paretonbd', 'cd');
SELECT name FROM profenrich.train('cd_gg', 'gammagamma', 'cd');
SELECT name FROM profenrich.train('cd_clv', 'clv', 'cd');
SELECT name FROM profenrich.train('cd_clv_pn', 'clv', 'cd', options => '{"purchase_model": "paretonbd"}');

-- estimates: published (1e-3) and reference (1e-6)
CREATE TEMP TABLE est (model text, feature text, published float8, reference float8, se float8);
INSERT INTO est VALUES
  ('cd_bg', 'r', 0.2426, 0.2425945224, 0.01256), ('cd_bg', 'alpha', 4.4136, 4.413602019, 0.3782),
  ('cd_bg', 'a', 0.7929, 0.7929220175, 0.1857), ('cd_bg', 'b', 2.4259, 2.425906778, 0.7054),
  ('cd_pn', 'r', 0.5533, 0.5532770469, 0.04763), ('cd_pn', 'alpha', 10.578, 10.57768346, 0.8427),
  ('cd_pn', 's', 0.6062, 0.6062399891, 0.1873), ('cd_pn', 'beta', 11.669, 11.66873529, 6.211),
  ('cd_gg', 'p', 6.2496, 6.24957296, 1.190), ('cd_gg', 'q', 3.7442, 3.744224758, 0.2901),
  ('cd_gg', 'gamma', 15.4435, 15.44351977, 4.159);
SELECT ok(pg_temp.close(c.coef, e.published, 1e-3), e.model || ' ' || e.feature || ' = published ' || e.published)
FROM est e, LATERAL profenrich.coefficients(e.model) c WHERE c.feature = e.feature ORDER BY e.model, e.feature;
SELECT ok(pg_temp.close(c.coef, e.reference, 1e-6), e.model || ' ' || e.feature || ' = reference ' || e.reference)
FROM est e, LATERAL profenrich.coefficients(e.model) c WHERE c.feature = e.feature ORDER BY e.model, e.feature;
SELECT ok(pg_temp.close(c.std_err, e.se, 1e-2), e.model || ' std_err(' || e.feature || ') = reference ' || e.se)
FROM est e, LATERAL profenrich.coefficients(e.model) c WHERE c.feature = e.feature ORDER BY e.model, e.feature;

-- maximum log-likelihoods: published to their rounding, reference to 1e-9 relative
SELECT ok(abs((metrics->>'log_likelihood')::float8 - v.published) <= 0.01
          AND pg_temp.close((metrics->>'log_likelihood')::float8, v.reference, 1e-9),
          v.name || ' log-likelihood ' || v.published)
FROM profenrich.models m
JOIN (VALUES ('cd_bg', -9582.43, -9582.42920667), ('cd_pn', -9594.98, -9594.97617894),
             ('cd_gg', -4055.92, -4055.9176948)) v(name, published, reference) USING (name);
SELECT ok((metrics->>'converged')::bool AND (metrics->>'n_train')::int = 2357
          AND (metrics->>'iterations')::int > 0, name || ': converged, n_train 2357')
FROM profenrich.models WHERE name IN ('cd_bg', 'cd_pn') ORDER BY name;
SELECT ok((metrics->>'n_train')::int = 946, 'cd_gg: n_train is the 946 repeat buyers')
FROM profenrich.models WHERE name = 'cd_gg';
-- 'clv' holds the same two fits, and its log-likelihood is their sum
SELECT ok(pg_temp.close((metrics->>'log_likelihood')::float8, -9582.42920667 - 4055.9176948, 1e-9),
          'cd_clv log-likelihood = BG/NBD + Gamma-Gamma')
FROM profenrich.models WHERE name = 'cd_clv';
SELECT ok(bool_and(pg_temp.close(a.coef, b.coef, 1e-6)), 'cd_clv parameters = cd_bg and cd_gg')
FROM profenrich.coefficients('cd_clv') a
JOIN (SELECT * FROM profenrich.coefficients('cd_bg') UNION ALL
      SELECT * FROM profenrich.coefficients('cd_gg')) b USING (feature);

-- the BG/NBD paper's worked example
SELECT is(round(profenrich.expected_purchases('cd_bg', 39, 2, 30.43, 38.86)::numeric, 3), 1.226,
          'BG/NBD E[Y(39) | x=2, t_x=30.43, T=38.86] = 1.226 (published)');

-- predictions for five customers against the reference at its MLEs (section (f))
CREATE TEMP TABLE pred (x float8, tx float8, tt float8, m float8, bg39 float8, bg52 float8,
                        bg_pa float8, pn39 float8, pn52 float8, pn_pa float8, em float8,
                        clv_bg float8, clv_pn float8);
INSERT INTO pred VALUES
  (0, 0.0, 38.86, 0.0, 0.1947820365, 0.2516672851, 1, 0.1070588662, 0.1361698356, 0.2950958035, 35.17037124, 8.243529126, 4.469817482),
  (2, 30.43, 38.86, 25.0, 1.225906835, 1.55857808, 0.7266091626, 1.455098756, 1.85076272, 0.8691156611, 26.83094574, 39.03100553, 46.34668199),
  (7, 35.0, 38.0, 40.0, 4.556163547, 5.728690191, 0.8620043707, 4.79031639, 6.089808313, 0.952820703, 39.7149229, 212.6782278, 225.7459407),
  (1, 2.0, 32.0, 15.0, 0.2902413624, 0.3692662327, 0.2612356507, 0.2661507929, 0.3370500099, 0.2302585346, 21.1544671, 7.290385057, 6.658792679),
  (25, 37.0, 38.5, 30.0, 16.51405675, 20.65460009, 0.931391121, 16.39534374, 20.84912207, 0.9724072092, 30.08924609, 581.3934138, 585.522726);
CREATE TEMP TABLE cust AS SELECT x AS frequency, tx AS recency, tt AS t, m AS monetary FROM pred;
SELECT ok(pg_temp.close(v.got, v.want, 1e-6),
          format('%s, x=%s t_x=%s T=%s m=%s', v.what, p.x, p.tx, p.tt, p.m))
FROM pred p JOIN cust c ON (c.frequency, c.recency, c.t, c.monetary) = (p.x, p.tx, p.tt, p.m),
LATERAL (VALUES
  (1, 'BG/NBD E[Y(39)]', profenrich.expected_purchases('cd_bg', 39, p.x, p.tx, p.tt), p.bg39),
  (2, 'BG/NBD E[Y(52)]', profenrich.expected_purchases('cd_bg', 52, p.x, p.tx, p.tt), p.bg52),
  (3, 'BG/NBD P(alive)', profenrich.p_alive('cd_bg', p.x, p.tx, p.tt), p.bg_pa),
  (4, 'Pareto/NBD E[Y(39)]', profenrich.expected_purchases('cd_pn', 39, p.x, p.tx, p.tt), p.pn39),
  (5, 'Pareto/NBD E[Y(52)]', profenrich.expected_purchases('cd_pn', 52, p.x, p.tx, p.tt), p.pn52),
  (6, 'Pareto/NBD P(alive)', profenrich.p_alive('cd_pn', p.x, p.tx, p.tt), p.pn_pa),
  (7, 'Gamma-Gamma E[M]', profenrich.expected_spend('cd_gg', p.x, p.m), p.em),
  (8, 'LTV (BG/NBD + Gamma-Gamma)', profenrich.predict_ltv(c, 'cd_clv'), p.clv_bg),
  (9, 'LTV (Pareto/NBD + Gamma-Gamma)', profenrich.predict_ltv(c, 'cd_clv_pn'), p.clv_pn))
  AS v(k, what, got, want)
ORDER BY v.k, p.x;

\else
SELECT plan(:ntests);
SELECT skip('shared_data.cdnow not loaded: the ../shared/data folder is absent '
            '(test/data/load_shared.sh loads it when present)', :ntests);
\endif

SELECT * FROM finish();
ROLLBACK;
