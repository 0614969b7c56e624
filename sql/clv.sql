-- Customer lifetime value: RFM summaries, the BG/NBD, Pareto/NBD and Gamma-Gamma models,
-- their expectations, 'clv' with predict_ltv and enrich, and every error a user can cause.
-- (The published CDNOW estimates are checked in test/clv_cdnow.sql.)
-- RFM by hand: customer 1 buys twice on 2024-01-01 (one transaction of 15), then on 01-15 (20)
-- and 02-12 (40), and after as_of; frequency 2, recency 42 days = 6 weeks, t 90 days,
-- monetary (20 + 40) / 2 = 30.  Customer 2 bought once; customer 3 only after as_of (NULL);
-- a NULL amount is no purchase.
CREATE TABLE tx (customer_id int, day date, amount float8);
INSERT INTO tx VALUES
  (1, '2024-01-01', 10), (1, '2024-01-01', 5), (1, '2024-01-15', 20), (1, '2024-02-12', 40),
  (1, '2024-05-01', 99), (2, '2024-03-01', 12.5), (2, '2024-03-05', NULL), (3, '2024-04-02', 7);
SELECT customer_id, (s).frequency, round((s).recency::numeric, 6) AS recency,
       round((s).t::numeric, 6) AS t, (s).monetary, round(90 / 7.0, 6) AS t_of_customer_1
FROM (SELECT customer_id, profenrich.rfm(day, amount, '2024-03-31') AS s FROM tx GROUP BY 1) q
ORDER BY 1;
-- in days
SELECT customer_id, (profenrich.rfm(day, amount, '2024-03-31', 1)).* FROM tx GROUP BY 1 ORDER BY 1;
-- timestamptz: the day in the session time zone, so 03:00 UTC on the 2nd is the 1st in New York
SET TIME ZONE 'America/New_York';
SELECT (profenrich.rfm(ts, amount, '2024-03-31')).*
FROM (VALUES ('2024-01-01 12:00+00'::timestamptz, 10.0::float8),
             ('2024-01-02 03:00+00', 5), ('2024-01-15 12:00+00', 20)) v(ts, amount);
RESET TIME ZONE;

-- A simulated population with known parameters (fixed seed): BG/NBD with r = 0.25,
-- alpha = 4, a = 0.8, b = 2.5 over 4 to 52 weeks, Gamma-Gamma spend p = 6, q = 4, gamma = 15
-- (pg_temp.simulate of test/data/clv_simulate.sql).
\i test/data/clv_simulate.sql
SELECT setseed(0.4242);
CREATE TABLE sim AS SELECT * FROM pg_temp.simulate(6000);
SELECT count(*) AS customers, count(*) FILTER (WHERE frequency > 0) AS repeat_customers FROM sim;

SELECT name, version, algorithm, n_train, (metrics->>'converged')::bool AS converged,
       (metrics->>'n_repeat')::int AS n_repeat
FROM profenrich.train('sim_clv', 'clv', 'sim');
-- each estimate within two standard errors of the true value
SELECT feature, abs(coef - truth) < 2 * std_err AS within_2_se, std_err < 0.5 * truth AS se_informative
FROM profenrich.coefficients('sim_clv')
JOIN (VALUES ('r', 0.25), ('alpha', 4), ('a', 0.8), ('b', 2.5), ('p', 6), ('q', 4), ('gamma', 15))
     v(feature, truth) USING (feature);

-- the standalone models agree with the submodels of 'clv' (same data, same likelihoods)
SELECT name FROM profenrich.train('sim_bg', 'bgnbd', 'sim');
SELECT name FROM profenrich.train('sim_gg', 'gammagamma', 'sim');
SELECT bool_and(abs(a.coef / b.coef - 1) < 1e-6) AS same_estimates
FROM profenrich.coefficients('sim_clv') a
JOIN (SELECT * FROM profenrich.coefficients('sim_bg') UNION ALL
      SELECT * FROM profenrich.coefficients('sim_gg')) b USING (feature);
SELECT (m.metrics->>'log_likelihood')::float8 < 0 AS negative_ll,
       abs((m.metrics->>'log_likelihood')::float8 - (bg.metrics->>'log_likelihood')::float8
           - (gg.metrics->>'log_likelihood')::float8) < 1e-6 AS ll_is_the_sum
FROM profenrich.models m, profenrich.models bg, profenrich.models gg
WHERE m.name = 'sim_clv' AND bg.name = 'sim_bg' AND gg.name = 'sim_gg';

-- many distinct histories (eight copies of the population, ages moved by 1e-6 weeks): the fit
-- starts on a subsample, then finishes on every history; it agrees with a fit without that warm
-- start, and with the one-copy fit (the same likelihood, times eight)
CREATE TABLE sim8 AS SELECT id + 10000 * k AS id, frequency, recency, t + k * 1e-6 AS t, monetary
FROM sim, generate_series(0, 7) k;
SELECT name, (metrics->>'distinct_histories')::int > 4 * 8192 AS warm_started
FROM profenrich.train('sim8_warm', 'clv', 'sim8');
SELECT name FROM profenrich.train('sim8_cold', 'clv', 'sim8', options => '{"warm_start": false}');
SELECT bool_and(abs(w.coef / c.coef - 1) < 1e-4) AS warm_equals_cold,
       bool_and(abs(w.coef / o.coef - 1) < 1e-4) AS equals_one_copy
FROM profenrich.coefficients('sim8_warm') w JOIN profenrich.coefficients('sim8_cold') c USING (feature)
JOIN profenrich.coefficients('sim_clv') o USING (feature);
SELECT abs((w.metrics->>'log_likelihood')::float8 / (c.metrics->>'log_likelihood')::float8 - 1) < 1e-9
       AS same_log_likelihood
FROM profenrich.models w, profenrich.models c WHERE w.name = 'sim8_warm' AND c.name = 'sim8_cold';

-- Pareto/NBD on the same customers: a model of another process, but its fit must converge and
-- predict about as many purchases overall as BG/NBD does
SELECT name, (metrics->>'converged')::bool AS converged FROM profenrich.train('sim_pn', 'paretonbd', 'sim');
SELECT abs(sum(profenrich.expected_purchases('sim_pn', 52, frequency, recency, t)) /
           sum(profenrich.expected_purchases('sim_bg', 52, frequency, recency, t)) - 1) < 0.1
       AS similar_totals
FROM sim;

-- closed forms: no time, no purchases; BG/NBD: a customer with no repeat purchase is alive;
-- P(alive) falls as the last purchase recedes; the spend of a non-repeat customer is the
-- population mean p gamma / (q - 1)
SELECT profenrich.expected_purchases('sim_clv', 0, 3, 10, 20) AS none_in_zero_periods,
       profenrich.p_alive('sim_bg', 0, 0, 30) AS alive_without_repeat,
       profenrich.p_alive('sim_bg', 3, 25, 30) > profenrich.p_alive('sim_bg', 3, 5, 30) AS recent_more_alive,
       profenrich.p_alive('sim_pn', 3, 30, 30) > profenrich.p_alive('sim_pn', 3, 5, 30) AS pareto_too;
SELECT abs(profenrich.expected_spend('sim_clv', 0, 0) - p.coef * g.coef / (q.coef - 1)) < 1e-9
       AS population_mean
FROM profenrich.coefficients('sim_clv') p, profenrich.coefficients('sim_clv') q,
     profenrich.coefficients('sim_clv') g
WHERE p.feature = 'p' AND q.feature = 'q' AND g.feature = 'gamma';
-- the Gamma-Gamma mean is a weighted mean of the population mean and the customer's own
SELECT abs(profenrich.expected_spend('sim_gg', 4, 50) -
           (p * (g + 4 * 50) / (p * 4 + q - 1))) < 1e-9 AS conditional_mean
FROM (SELECT max(coef) FILTER (WHERE feature = 'p') p, max(coef) FILTER (WHERE feature = 'q') q,
             max(coef) FILTER (WHERE feature = 'gamma') g FROM profenrich.coefficients('sim_gg')) c;

-- predict_ltv is the issue's sum, recomputed here from expected_purchases and expected_spend:
-- months of 30/7 weeks, 12 of them, discounted at 1% a month
CREATE TABLE profiles AS
SELECT id AS customer_id, frequency, recency, t, monetary FROM sim WHERE id <= 300;
ALTER TABLE profiles ADD PRIMARY KEY (customer_id);
SELECT max(abs(profenrich.predict_ltv(p, 'sim_clv') - v.ltv) / greatest(v.ltv, 1e-9)) < 1e-9
       AS ltv_matches_sum
FROM profiles p JOIN LATERAL (
  SELECT sum((profenrich.expected_purchases('sim_clv', i * 30 / 7.0, p.frequency, p.recency, p.t)
            - profenrich.expected_purchases('sim_clv', (i - 1) * 30 / 7.0, p.frequency, p.recency, p.t))
           * profenrich.expected_spend('sim_clv', p.frequency, p.monetary) / 1.01 ^ i) AS ltv
  FROM generate_series(1, 12) i) v ON true;
-- score() of each model: LTV for 'clv', P(alive) for a purchase model, spend for 'gammagamma'
SELECT bool_and(profenrich.score('sim_clv', p) = profenrich.predict_ltv(p, 'sim_clv')) AS score_is_ltv,
       bool_and(profenrich.score('sim_bg', p) = profenrich.p_alive('sim_bg', frequency, recency, t)) AS score_is_p_alive,
       bool_and(profenrich.score('sim_gg', p) = profenrich.expected_spend('sim_gg', frequency, monetary)) AS score_is_spend
FROM profiles p;
-- options: a longer horizon is worth more; a higher discount rate less; unit_days = 1 reads days
SELECT name FROM profenrich.train('sim_clv_24', 'clv', 'sim', options => '{"horizon_months": 24, "deploy": true}');
SELECT name FROM profenrich.train('sim_clv_d', 'clv', 'sim', options => '{"discount_rate": 0.05}');
SELECT bool_and(profenrich.predict_ltv(p, 'sim_clv_24') > profenrich.predict_ltv(p, 'sim_clv')) AS longer_worth_more,
       bool_and(profenrich.predict_ltv(p, 'sim_clv_d') < profenrich.predict_ltv(p, 'sim_clv')) AS discounted_less
FROM profiles p;
CREATE VIEW sim_days AS SELECT frequency AS n, recency * 7 AS rec_days, t * 7 AS age_days, monetary AS avg_spend FROM sim;
SELECT name FROM profenrich.train('sim_clv_days', 'clv', 'sim_days', options => '{"unit_days": 1,
  "columns": {"frequency": "n", "recency": "rec_days", "t": "age_days", "monetary": "avg_spend"}}');
SELECT options->'columns' AS columns, options->'unit_days' AS unit_days
FROM profenrich.models WHERE name = 'sim_clv_days';
-- the same customers in days: alpha scales by 7, LTV is unchanged (to the optimizer's precision)
SELECT abs(a.coef / (7 * b.coef) - 1) < 1e-5 AS alpha_in_days
FROM profenrich.coefficients('sim_clv_days') a, profenrich.coefficients('sim_clv') b
WHERE a.feature = 'alpha' AND b.feature = 'alpha';
SELECT max(abs(profenrich.score('sim_clv_days', d) / profenrich.score('sim_clv', s) - 1)) < 1e-4 AS same_ltv
FROM (SELECT * FROM sim WHERE id <= 200) s
JOIN LATERAL (SELECT s.frequency AS n, s.recency * 7 AS rec_days, s.t * 7 AS age_days,
                     s.monetary AS avg_spend) d ON true;

-- enrich writes ltv_score (and its percentile in the training population) in place
SELECT name FROM profenrich.train('ltv', 'clv', 'sim');
SET client_min_messages = warning;  -- the progress NOTICE carries a rate
CALL profenrich.enrich('profiles', array['ltv'], '{"percentile": true, "batch_size": 100}');
RESET client_min_messages;
SELECT count(*) AS scored, bool_and(ltv_score = profenrich.predict_ltv(p)) AS same_as_predict_ltv,
       bool_and(ltv_pct = profenrich.percentile('ltv', ltv_score)) AS same_percentile,
       min(ltv_pct) >= 1 AND max(ltv_pct) <= 100 AS pct_in_range
FROM profiles p;
-- percentiles of the training population: about a tenth of the customers in each decile
SELECT bool_and(n BETWEEN 400 AND 800) AS deciles_balanced
FROM (SELECT (profenrich.percentile('ltv', profenrich.predict_ltv(s)) - 1) / 10 AS decile, count(*) n
      FROM sim s GROUP BY 1) d;
-- the cut points are the population's quantiles (R type 7), exactly: a score just below the
-- k-th quantile is in percentile k, just above it in k + 1
SELECT k, profenrich.percentile('sim_clv', q * (1 - 1e-9)) = k AND
          profenrich.percentile('sim_clv', q * (1 + 1e-9)) = k + 1 AS exact_cut_point
FROM (SELECT k, percentile_cont(k / 100.0) WITHIN GROUP (ORDER BY profenrich.predict_ltv(s, 'sim_clv')) q
      FROM sim s, (VALUES (10), (50), (90)) v(k) GROUP BY k) c ORDER BY k;
SELECT k, profenrich.percentile('sim_bg', q * (1 - 1e-9)) = k AND
          profenrich.percentile('sim_bg', q * (1 + 1e-9)) = k + 1 AS exact_cut_point
FROM (SELECT k, percentile_cont(k / 100.0) WITHIN GROUP (ORDER BY profenrich.p_alive('sim_bg', frequency, recency, t)) q
      FROM sim s, (VALUES (5), (20)) v(k) GROUP BY k) c ORDER BY k;
-- the real-time trigger scores a new profile the same way
CREATE TRIGGER profiles_ltv BEFORE INSERT OR UPDATE ON profiles
FOR EACH ROW EXECUTE FUNCTION profenrich.enrich_trigger('ltv');
INSERT INTO profiles (customer_id, frequency, recency, t, monetary) VALUES (100001, 4, 20, 30, 42.5);
SELECT ltv_score = profenrich.predict_ltv(p) AS trigger_scored, ltv_pct IS NOT NULL AS has_pct
FROM profiles p WHERE customer_id = 100001;
DROP TRIGGER profiles_ltv ON profiles;

-- the aggregates run in parallel and give the serial result
CREATE TABLE big_tx AS
SELECT c AS customer_id, date '2024-01-01' + ((c * 7 + k * 13) % 200) AS day, (c % 17 + k) * 1.5 AS amount
FROM generate_series(1, 3000) c, generate_series(1, 1 + c % 5) k;
CREATE TABLE big_sum AS SELECT customer_id, (profenrich.rfm(day, amount, '2024-06-30')).* FROM big_tx GROUP BY 1;
CREATE VIEW sim_view AS SELECT * FROM sim;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
-- what train() runs for a view
EXPLAIN (COSTS OFF)
SELECT profenrich.clv_data(3, frequency::float8, recency::float8, t::float8, monetary::float8)
FROM public.sim_view;
-- a plain table is read by a heap scan; a view through that aggregate, here by parallel
-- workers: the same customers, the same model (to the summation order's rounding)
SELECT name, abs((metrics->>'log_likelihood')::float8 / (SELECT (metrics->>'log_likelihood')::float8
       FROM profenrich.models WHERE name = 'sim_clv') - 1) < 1e-12 AS same_ll_in_parallel
FROM profenrich.train('sim_clv_par', 'clv', 'sim_view');
SELECT bool_and(abs(a.coef / b.coef - 1) < 1e-9) AS same_estimates_in_parallel
FROM profenrich.coefficients('sim_clv_par') a JOIN profenrich.coefficients('sim_clv') b USING (feature);
SELECT count(*) = 0 AS same_summaries_in_parallel FROM (
  (SELECT customer_id, (s).* FROM (SELECT customer_id, profenrich.rfm(day, amount, '2024-06-30') s
                                   FROM big_tx GROUP BY 1) q EXCEPT SELECT * FROM big_sum)
  UNION ALL
  (SELECT * FROM big_sum EXCEPT SELECT customer_id, (s).* FROM
     (SELECT customer_id, profenrich.rfm(day, amount, '2024-06-30') s FROM big_tx GROUP BY 1) q)) d;
SELECT (profenrich.rfm(day, amount, '2024-06-30')).frequency FROM big_tx WHERE customer_id <= 50;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;

-- Bad input: SQLSTATE, message, hint
CREATE TABLE bad_sum (frequency float8, recency float8, t float8, monetary float8);
INSERT INTO bad_sum SELECT frequency, recency, t, monetary FROM sim WHERE id <= 100;
CREATE FUNCTION pg_temp.bad_row(f float8, r float8, tt float8, m float8) RETURNS text LANGUAGE plpgsql AS $$
DECLARE res text;
BEGIN
  INSERT INTO bad_sum VALUES (f, r, tt, m);
  res := public.err($q$SELECT profenrich.train('bad', 'clv', 'bad_sum')$q$);
  DELETE FROM bad_sum WHERE frequency IS NOT DISTINCT FROM f AND recency IS NOT DISTINCT FROM r
    AND t IS NOT DISTINCT FROM tt AND monetary IS NOT DISTINCT FROM m;
  RETURN res;
END $$;
SELECT pg_temp.bad_row(-1, 0, 10, 0);                 -- negative frequency
SELECT pg_temp.bad_row(1.5, 2, 10, 5);                -- frequency not whole
SELECT pg_temp.bad_row(2, 12, 10, 5);                 -- recency above t
SELECT pg_temp.bad_row(0, 0, 0, 0);                   -- t not positive
SELECT pg_temp.bad_row(2, 3, 10, 0);                  -- repeat customer, monetary not positive
SELECT pg_temp.bad_row(2, 3, 10, -4);
SELECT pg_temp.bad_row('NaN', 3, 10, 4);              -- NaN
SELECT pg_temp.bad_row(2, 3, 'Infinity', 4);          -- infinity
SELECT pg_temp.bad_row(2, 3, 10, 'NaN');
CREATE VIEW few AS SELECT * FROM sim WHERE id <= 9;
SELECT public.err($$SELECT profenrich.train('few', 'bgnbd', 'few')$$);
CREATE VIEW few_repeat AS SELECT * FROM sim WHERE frequency > 0 LIMIT 9;
SELECT public.err($$SELECT profenrich.train('few', 'gammagamma', 'few_repeat')$$);
-- an optimizer that fails to converge: an error with the last log-likelihood, no model
SELECT public.err($$SELECT profenrich.train('slow', 'bgnbd', 'sim', options => '{"max_iter": 2}')$$);
SELECT count(*) AS slow_models FROM profenrich.models WHERE name = 'slow';
-- a cancelled training (statement_timeout) stores nothing
SET statement_timeout = '1ms';
SELECT name FROM profenrich.train('cancelled', 'clv', 'sim', options => '{"purchase_model": "paretonbd"}');
RESET statement_timeout;
SELECT count(*) AS cancelled_models FROM profenrich.models WHERE name = 'cancelled';
-- data that do not identify the model: an error, never a model that gives NaN
CREATE TABLE alike AS
SELECT g AS id, 0 AS frequency, 0.0::float8 AS recency, (g % 50 + 1)::float8 AS t, 0.0::float8 AS monetary
FROM generate_series(1, 100) g
UNION ALL SELECT 100 + g, 3, 10, 20, 20 + (g % 37) FROM generate_series(1, 400) g;
SELECT public.err($$SELECT profenrich.train('alike', 'clv', 'alike')$$);
SELECT public.err($$SELECT profenrich.train('alike', 'bgnbd', 'alike')$$);
CREATE TABLE no_repeat AS SELECT * FROM alike WHERE frequency = 0;
SELECT public.err($$SELECT profenrich.train('no_repeat', 'paretonbd', 'no_repeat')$$);
CREATE TABLE heavy AS SELECT id, frequency, recency, t,
  CASE WHEN frequency > 0 THEN 1 / ((id % 97 + 1) / 98.0) ^ 3 ELSE 0 END AS monetary FROM sim;
SELECT public.err($$SELECT profenrich.train('heavy', 'gammagamma', 'heavy')$$);
SELECT count(*) AS unidentified_models FROM profenrich.models WHERE name IN ('alike', 'no_repeat', 'heavy');
-- a table with inheritance children is read whole, as a query would read it
CREATE TABLE parent_sum (LIKE sim);
CREATE TABLE child_sum () INHERITS (parent_sum);
INSERT INTO parent_sum SELECT * FROM sim WHERE id <= 100;
INSERT INTO child_sum SELECT * FROM sim WHERE id > 100;
SELECT n_train FROM profenrich.train('inherited', 'bgnbd', 'parent_sum');
-- options and columns
SELECT public.err($$SELECT profenrich.train('x', 'bgnbd', 'sim', 'frequency')$$);
SELECT public.err($$SELECT profenrich.train('x', 'bgnbd', 'sim', options => '{"horizon_months": 6}')$$);
SELECT public.err($$SELECT profenrich.train('x', 'clv', 'sim', options => '{"purchase_model": "nbd"}')$$);
SELECT public.err($$SELECT profenrich.train('x', 'clv', 'sim', options => '{"unit_days": 0}')$$);
SELECT public.err($$SELECT profenrich.train('x', 'clv', 'sim', options => '{"discount_rate": 1}')$$);
SELECT public.err($$SELECT profenrich.train('x', 'clv', 'sim', options => '{"columns": {"recency": "nope"}}')$$);
SELECT public.err($$SELECT profenrich.train('x', 'clv', 'sim', options => '{"columns": {"age": "t"}}')$$);
CREATE VIEW text_sum AS SELECT frequency::text AS frequency, recency, t, monetary FROM sim;
SELECT public.err($$SELECT profenrich.train('x', 'bgnbd', 'text_sum')$$);
-- the functions
SELECT public.err($$SELECT profenrich.expected_purchases('sim_clv', -1, 2, 3, 10)$$);
SELECT public.err($$SELECT profenrich.expected_purchases('sim_clv', 'Infinity', 2, 3, 10)$$);
SELECT public.err($$SELECT profenrich.expected_purchases('sim_clv', 10, -2, 3, 10)$$);
SELECT public.err($$SELECT profenrich.p_alive('sim_clv', 2, 12, 10)$$);
SELECT public.err($$SELECT profenrich.p_alive('sim_clv', 2, 1, -1)$$);
SELECT public.err($$SELECT profenrich.expected_spend('sim_clv', 2, 0)$$);
SELECT public.err($$SELECT profenrich.expected_spend('sim_clv', 'NaN', 10)$$);
SELECT public.err($$SELECT profenrich.p_alive('sim_clv', 1e300, 1, 2)$$);
SELECT public.err($$SELECT profenrich.clv_data(0, 1, 1, 1, 1)$$);
-- a lifetime-value function given a model of another kind
SELECT name FROM profenrich.train('lin', 'linear', 'sim', 'monetary', ARRAY['frequency', 't']);
SELECT public.err($$SELECT profenrich.p_alive('lin', 2, 3, 10)$$);
SELECT public.err($$SELECT profenrich.expected_purchases('sim_gg', 10, 2, 3, 10)$$);
SELECT public.err($$SELECT profenrich.expected_spend('sim_bg', 2, 10)$$);
SELECT public.err($$SELECT profenrich.predict_ltv(p, 'sim_bg') FROM profiles p$$);
SELECT public.err($$SELECT profenrich.score_churn(p, 'sim_clv') FROM profiles p$$);
-- the propensity and regression tools refuse lifetime-value models
SELECT public.err($$SELECT profenrich.evaluate('sim_clv', 'sim')$$);
SELECT public.err($$SELECT profenrich.evaluate('sim_clv')$$);
SELECT public.err($$SELECT * FROM profenrich.lift('sim_clv', 'sim')$$);
SELECT public.err($$SELECT * FROM profenrich.explain('sim_clv', (SELECT s FROM sim s LIMIT 1))$$);
SELECT public.err($$SELECT profenrich.factors('sim_clv', s) FROM sim s LIMIT 1$$);
-- (enrich writes factors for logistic models only: asking for them with 'ltv' is no error)
SET client_min_messages = warning;
SELECT public.err($$CALL profenrich.enrich('profiles', array['ltv'], '{"factors": 2}')$$);
RESET client_min_messages;
SELECT public.err($$SELECT profenrich.score_columns_for('sim_clv', NULL, 9, ARRAY['frequency'], 1)$$);
-- aggregate arguments
SELECT public.err($$SELECT profenrich.rfm(day, amount, NULL) FROM tx$$);
SELECT public.err($$SELECT profenrich.rfm(day, amount, '2024-03-31', 0) FROM tx$$);
SELECT public.err($$SELECT profenrich.rfm(day, amount, 'infinity') FROM tx$$);
SELECT public.err($$SELECT profenrich.rfm(day, 'NaN', '2024-03-31') FROM tx$$);
SELECT public.err($$SELECT profenrich.rfm('infinity'::date, amount, '2024-03-31') FROM tx$$);
SELECT public.err($$SELECT profenrich.rfm(day, amount, '2024-03-31', NULL) FROM tx$$);
SELECT public.err($$SELECT profenrich.rfm(day, amount, CASE WHEN amount > 10 THEN date '2024-03-31'
                                                            ELSE date '2024-04-30' END) FROM tx$$);
SELECT public.err($$SELECT profenrich.rfm(d, 1e308, '2024-03-31')
                     FROM (VALUES (date '2024-01-01'), (date '2024-01-01')) v(d)$$);
-- scoring a profile whose summary is impossible
INSERT INTO profiles (customer_id, frequency, recency, t, monetary) VALUES (100002, 2, 50, 30, 10);
SELECT public.err($$SELECT profenrich.predict_ltv(p, 'sim_clv') FROM profiles p WHERE customer_id = 100002$$);
SELECT 1 AS server_still_up;
