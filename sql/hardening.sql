-- Hardening (issue 9): hangs that ignored cancel, unbounded training memory, finite but huge
-- inputs that trained broken models, and the NaN and overflow paths a user can reach from SQL.
-- Each case is one finding of the crash hunt.  Uses the table sim of clv.sql.

-- 'cancelled' when the statement is cancelled (statement_timeout) while q runs, 'finished' else
CREATE FUNCTION pg_temp.cancelled(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE q;
  RETURN 'finished';
EXCEPTION WHEN query_canceled THEN
  RETURN 'cancelled';
END $$;

-- A logistic model with coefficients near +-13, and rows of features +-1e308
SELECT setseed(0.3);
CREATE TABLE h_lg AS SELECT i AS id, random() AS a, random() AS b FROM generate_series(1, 500) i;
ALTER TABLE h_lg ADD COLUMN y boolean;
UPDATE h_lg SET y = (a + b + (random() - 0.5) * 0.5) > 1;
ALTER TABLE h_lg ADD PRIMARY KEY (id);
SELECT name, (metrics->>'converged')::bool AS converged FROM profenrich.train('h_lg', 'logistic', 'h_lg', 'y', ARRAY['a', 'b']);
CREATE TABLE h_lg_bad AS SELECT * FROM h_lg;
INSERT INTO h_lg_bad VALUES (1001, 1e308, -1e308, true), (1002, 1e308, 1e308, false);

-- a score whose link is not finite is an error (22003), never NaN; a huge but finite link is a
-- probability of 0 or 1
SELECT public.err($$SELECT profenrich.score('h_lg', t) FROM h_lg_bad t WHERE id = 1001$$);
SELECT public.err($$SELECT profenrich.score('h_lg', t) FROM h_lg_bad t WHERE id = 1002$$);
SELECT profenrich.score('h_lg', r) AS p_one, profenrich.score('h_lg', s) AS p_zero
FROM (SELECT 1e300::float8 AS a, 0.5::float8 AS b) r, (SELECT -1e300::float8 AS a, 0.5::float8 AS b) s;
SELECT public.err($$SELECT profenrich.factors('h_lg', t, 2) FROM h_lg_bad t WHERE id = 1001$$);
SELECT public.err($$SELECT * FROM profenrich.explain('h_lg', (SELECT t FROM h_lg_bad t WHERE id = 1002))$$);

-- evaluate and lift looped forever on a NaN score, ignoring cancel; now the row is an error
-- that names it, well within the timeout
SELECT clock_timestamp() AS t0 \gset
SET statement_timeout = '1s';
SELECT profenrich.evaluate('h_lg', 'h_lg_bad');
SELECT * FROM profenrich.lift('h_lg', 'h_lg_bad');
RESET statement_timeout;
SELECT clock_timestamp() - :'t0'::timestamptz < interval '2 s' AS ended_within_2_s;
-- without the bad rows both work
DELETE FROM h_lg_bad WHERE id > 1000;
SELECT (profenrich.evaluate('h_lg', 'h_lg_bad')->>'n')::int AS n,
       round((profenrich.evaluate('h_lg', 'h_lg_bad')->>'auc')::numeric, 6) =
       round((SELECT profenrich.auc(profenrich.score('h_lg', t), y) FROM h_lg_bad t)::numeric, 6) AS auc_agrees;

-- The metric aggregates: NaN is refused, infinite scores rank (auc) or are not probabilities
SELECT public.err($$SELECT profenrich.auc(s, l) FROM (VALUES (0.2::float8, true), ('NaN', false)) v(s, l)$$);
SELECT profenrich.auc(s, l) AS auc_of_infinities
FROM (VALUES ('Infinity'::float8, true), ('-Infinity', false), (0.5, true), (0.5, false)) v(s, l);
SELECT public.err($$SELECT profenrich.logloss(s, true) FROM (VALUES ('NaN'::float8)) v(s)$$);
SELECT public.err($$SELECT profenrich.logloss(s, true) FROM (VALUES ('Infinity'::float8)) v(s)$$);
SELECT public.err($$SELECT profenrich.brier(s, false) FROM (VALUES ('-Infinity'::float8)) v(s)$$);
SELECT public.err($$SELECT profenrich.brier(s, false) FROM (VALUES ('NaN'::float8)) v(s)$$);
-- percentile: NaN has none (NULL); an infinite score is no probability of a propensity model
-- (an error, as any score outside [0, 1]); a linear model's infinities rank first and last
-- (below, h_lin)
SELECT profenrich.percentile('h_lg', 'NaN') AS nan_pct;
SELECT public.err($$SELECT profenrich.percentile('h_lg', '-Infinity')$$);

-- Linear models: finite but huge inputs trained into models reported as perfect (r2 1, rmse 0,
-- std_err 0, stat Infinity); an overflowing sum is now an error (22003) naming the column
SELECT setseed(0.5);
CREATE TABLE h_lin AS SELECT i AS id, random() AS x1, random() AS x2, 0.0::float8 AS y
FROM generate_series(1, 200) i;
UPDATE h_lin SET y = 2 + 3 * x1 + 0.5 * x2 + (random() - 0.5) * 0.01;
ALTER TABLE h_lin ADD PRIMARY KEY (id);
SELECT name, (metrics->'train'->>'r2')::float8 > 0.99 AS fits FROM profenrich.train('h_lin', 'linear', 'h_lin', 'y');
SELECT profenrich.percentile('h_lin', '-Infinity') AS lowest, profenrich.percentile('h_lin', 'Infinity') AS highest;
CREATE TABLE h_huge AS SELECT id, x1, x2, y, CASE WHEN id % 2 = 0 THEN 1.7e308 ELSE -1.7e308 END::float8 AS big,
       (id % 2) * 1e300::float8 AS g300
FROM h_lin;
SELECT public.err($$SELECT profenrich.train('h_bad', 'linear', 'h_huge', 'y', ARRAY['x1', 'big'])$$);
SELECT public.err($$SELECT profenrich.train('h_bad', 'linear', 'h_huge', 'y', ARRAY['x1', 'g300'])$$);
SELECT public.err($$SELECT profenrich.train('h_bad', 'linear', 'h_huge', 'big', ARRAY['x1', 'x2'])$$);
-- a target NULL in every row: too few usable rows (it said the state's length did not match)
CREATE TABLE h_null_y AS SELECT id, x1, NULL::float8 AS y FROM h_lin;
SELECT public.err($$SELECT profenrich.train('h_bad', 'linear', 'h_null_y', 'y')$$);
SELECT count(*) AS stored FROM profenrich.models WHERE name = 'h_bad';
-- scoring: an honest huge number where the sum is finite (0.5 x 1e308), an error where it is not
SELECT abs(profenrich.score('h_lin', r) / (0.5 * 1e308) - 1) < 0.01 AS huge_but_finite
FROM (SELECT 0::float8 AS x1, 1e308::float8 AS x2) r;
SELECT public.err($$SELECT profenrich.score('h_lin', r) FROM (SELECT 1e308::float8 AS x1, 0::float8 AS x2) r$$);
SELECT public.err($$SELECT profenrich.score_columns('h_lin', ARRAY['x1', 'x2'], -1e308::float8, 0::float8)$$);

-- Logistic models: a feature of 1e300 (in memory and streaming), class weights of 1e308
-- (dpotrs info -7, XX000, before)
CREATE TABLE h_lg300 AS SELECT id, a * 1e300 AS a, b, y FROM h_lg;
SELECT public.err($$SELECT profenrich.train('h_bad', 'logistic', 'h_lg300', 'y', ARRAY['a', 'b'])$$);
SET profenrich.max_train_memory = '64kB';
SELECT public.err($$SELECT profenrich.train('h_bad', 'logistic', 'h_lg300', 'y', ARRAY['a', 'b'])$$);
RESET profenrich.max_train_memory;
SELECT public.err($$SELECT profenrich.train('h_bad', 'logistic', 'h_lg', 'y', ARRAY['a', 'b'],
                                            '{"class_weight": {"true": 1e308, "false": 1}}')$$);
-- a held-out row (the key hash puts id 1003 in the test split) takes no part in the training
-- sums: its NaN score hung the training in the test metrics' AUC, ignoring cancel
CREATE TABLE h_lg_held AS SELECT * FROM h_lg;
INSERT INTO h_lg_held VALUES (1003, 1e308, -1e308, true);
ALTER TABLE h_lg_held ADD PRIMARY KEY (id);
SELECT clock_timestamp() AS t0 \gset
SET statement_timeout = '1s';
SELECT public.err($$SELECT profenrich.train('h_bad', 'logistic', 'h_lg_held', 'y', ARRAY['a', 'b'])$$);
RESET statement_timeout;
SELECT clock_timestamp() - :'t0'::timestamptz < interval '2 s' AS ended_within_2_s;
SELECT count(*) AS stored FROM profenrich.models WHERE name = 'h_bad';

-- Lifetime value: a stored horizon of 2^31-1 or 1e8 months looped for minutes ignoring cancel;
-- the valuation is bounded (1..1200 months) whatever the params say (XX001)
SELECT name FROM profenrich.train('h_clv', 'clv', 'sim');
CREATE TABLE h_params AS SELECT params FROM profenrich.models WHERE name = 'h_clv';
-- horizon_months sits before discount_rate, unit_days and the 99 quantiles (with their count)
SELECT get_byte(params, length(params) - 820 + 3) AS stored_horizon FROM h_params;
UPDATE profenrich.models SET params = overlay(params placing '\x7fffffff'::bytea from length(params) - 819 for 4)
WHERE name = 'h_clv';
SELECT clock_timestamp() AS t0 \gset
SET statement_timeout = '1s';
SELECT public.err($$SELECT profenrich.predict_ltv(s, 'h_clv') FROM sim s LIMIT 1$$);
RESET statement_timeout;
SELECT clock_timestamp() - :'t0'::timestamptz < interval '2 s' AS ended_within_2_s;
UPDATE profenrich.models SET params = overlay(params placing int4send(100000000) from length(params) - 819 for 4)
WHERE name = 'h_clv';
SELECT clock_timestamp() AS t0 \gset
SET statement_timeout = '1s';
SELECT public.err($$SELECT profenrich.predict_ltv(s, 'h_clv') FROM sim s LIMIT 1$$);
RESET statement_timeout;
SELECT clock_timestamp() - :'t0'::timestamptz < interval '2 s' AS ended_within_2_s;
UPDATE profenrich.models SET params = (SELECT params FROM h_params) WHERE name = 'h_clv';
SELECT round(profenrich.predict_ltv(s, 'h_clv')::numeric, 6) > 0 AS restored FROM sim s WHERE id = 1;
-- the longest valid horizon takes about half a minute to value the 6,000 customers at training;
-- every month of the valuation checks for a cancel
SELECT clock_timestamp() AS t0 \gset
SET statement_timeout = '1s';
SELECT pg_temp.cancelled($$SELECT profenrich.train('h_clv_long', 'clv', 'sim', options => '{"horizon_months": 1200}')$$);
RESET statement_timeout;
SELECT clock_timestamp() - :'t0'::timestamptz < interval '2 s' AS cancelled_within_2_s;
-- expectations that overflow are errors (22003), not Infinity; huge finite ones are numbers
SELECT public.err($$SELECT profenrich.expected_spend('h_clv', 3, 1e308)$$);
SELECT public.err($$SELECT profenrich.predict_ltv(r, 'h_clv')
                    FROM (SELECT 3 AS frequency, 5::float8 AS recency, 10::float8 AS t, 1e308::float8 AS monetary) r$$);
SELECT profenrich.p_alive('h_clv', 3, 1e300, 1e300) BETWEEN 0 AND 1 AS p_alive_is_a_probability,
       profenrich.expected_purchases('h_clv', 1e300, 3, 5, 10) < 'Infinity' AS far_future_is_finite;
-- a customer observed for 1e300 weeks trains a model whose figures are all finite
CREATE TABLE h_sim AS SELECT * FROM sim;
INSERT INTO h_sim VALUES (100001, 3, 1e300, 1e300, 10);
SELECT name FROM profenrich.train('h_clv_old', 'clv', 'h_sim');
SELECT bool_and(coef > 0 AND coef < 'Infinity' AND std_err > 0 AND std_err < 'Infinity') AS finite_fit
FROM profenrich.coefficients('h_clv_old');
-- spends of 1e300 (their binned moments overflowed to a likelihood of -Infinity): no model
CREATE TABLE h_sim_rich AS SELECT id, frequency, recency, t, monetary * 1e300 AS monetary FROM sim;
SELECT public.err($$SELECT profenrich.train('h_bad', 'gammagamma', 'h_sim_rich', options => '{"max_iter": 20}')$$);
SELECT count(*) AS stored FROM profenrich.models WHERE name = 'h_bad';

-- Unbounded memory: the co-moments state is O(slots^2) and is sized before it is allocated.
-- One row through linear_stats with a crafted spec of 11,000 levels took 3.29 GB.
CREATE FUNCTION pg_temp.str(s text) RETURNS bytea LANGUAGE sql AS
$$ SELECT int4send(octet_length(s)) || convert_to(s, 'UTF8') $$;
-- a spec (format 4): target y, one categorical column c of n levels, the value-mix split hash,
-- the default policies, no fold, c without shares
CREATE FUNCTION pg_temp.spec(n int) RETURNS bytea LANGUAGE sql AS $$
SELECT pg_temp.str('y') || '\x00'::bytea || int4send(-1) || int4send(-1) || float8send(0) || int8send(0)
       || int4send(0) || int4send(1) || pg_temp.str('c') || int4send(2) || float8send('NaN') || int4send(n)
       || (SELECT string_agg(pg_temp.str('v' || i), ''::bytea ORDER BY i) FROM generate_series(1, n) i)
       || '\x00'::bytea || int4send(0) || '\x00'::bytea
       || '\x0000'::bytea || int2send(0::int2) || int2send(0::int2) || '\x00'::bytea $$;
SELECT length(profenrich.linear_stats(pg_temp.spec(3), ARRAY['y', 'c'], 1.5::float8, 'v2'::text)) > 0 AS small_spec_works;
SELECT public.err($$SELECT profenrich.linear_stats(pg_temp.spec(11000), ARRAY['y', 'c'], 1.5::float8, 'v2'::text)$$);
SELECT public.err($$SELECT profenrich.logistic_step(pg_temp.spec(11000), array_fill(0::float8, ARRAY[2 + 3 * 11001]),
                                                    ARRAY['y', 'c'], true, 'v2'::text)$$);
-- (11,000 levels is more than any spec holds, 10,000: refused as a spec; 10,000 levels is a
-- valid spec whose states are refused under a limit of 256 MB)
SET maintenance_work_mem = '256MB';
SET profenrich.max_train_memory = '256MB';
SELECT public.err($$SELECT profenrich.linear_stats(pg_temp.spec(10000), ARRAY['y', 'c'], 1.5::float8, 'v2'::text)$$);
SELECT public.err($$SELECT profenrich.logistic_step(pg_temp.spec(10000), array_fill(0::float8, ARRAY[2 + 3 * 10001]),
                                                    ARRAY['y', 'c'], true, 'v2'::text)$$);
RESET maintenance_work_mem;
RESET profenrich.max_train_memory;
-- train with max_categories 10000 on 100,000 distinct values used 4.8 GB for 9 minutes
CREATE TABLE h_many AS SELECT i AS id, 'v' || (i % 100000) AS c, (i % 7)::float8 AS y, i % 2 = 0 AS b
FROM generate_series(1, 100000) i;
SELECT public.err($$SELECT profenrich.train('h_bad', 'linear', 'h_many', 'y', ARRAY['c'], '{"max_categories": 10000}')$$);
SELECT public.err($$SELECT profenrich.train('h_bad', 'logistic', 'h_many', 'b', ARRAY['c'], '{"max_categories": 10000}')$$);
SELECT count(*) AS stored FROM profenrich.models WHERE name = 'h_bad';

-- Cancel inside the Gram kernel: 2,000 slots make each 4,096-row batch about a second of kernel
-- work, which a cancel used to wait out (0.95 s for a 200 ms timeout); it now stops at once
CREATE TABLE h_wide AS SELECT i AS id, 'v' || (i % 2000) AS c, (i % 7)::float8 AS y
FROM generate_series(1, 3 * 4096) i;
SELECT clock_timestamp() AS t0 \gset
SET statement_timeout = '200ms';
SELECT pg_temp.cancelled($$SELECT profenrich.train('h_wide', 'linear', 'h_wide', 'y', ARRAY['c'],
                                                   '{"max_categories": 2000, "test_fraction": 0}')$$);
RESET statement_timeout;
SELECT clock_timestamp() - :'t0'::timestamptz < interval '500 ms' AS cancelled_within_500_ms;

-- Systems of 512 slots and more are solved by blocks that a cancel can interrupt: a one-way
-- layout of 600 groups, whose least-squares and maximum-likelihood fits have closed forms
-- (each group's mean or logit against the first group's, the reference that is aliased: the
-- groups are equally frequent, and ties go to the first in byte order)
CREATE TABLE h_groups AS
SELECT i AS id, 'L' || lpad((i / 4)::text, 3, '0') AS g,
       (i / 4) * 0.25 + ((i % 4) - 1.5) * (1 + (i / 4) % 3) AS y,
       (i % 4) < 1 + (i / 4) % 3 AS b
FROM generate_series(0, 2399) i;
SELECT (metrics->>'rank')::int AS rank FROM profenrich.train('h_groups', 'linear', 'h_groups', 'y', ARRAY['g'],
                                                             '{"max_categories": 600, "test_fraction": 0}');
WITH m AS (SELECT g, avg(y) AS my, count(*) AS n FROM h_groups GROUP BY g),
     ref AS (SELECT my AS mref, n AS nref FROM m WHERE g = 'L000'),
     s AS (SELECT sqrt(sum((y - my) ^ 2) / (2400 - 600)) AS sigma FROM h_groups JOIN m USING (g))
SELECT count(*) AS levels, max(abs(c.coef - (m.my - ref.mref))) < 1e-8 AS coef_exact,
       max(abs(c.std_err / (s.sigma * sqrt(1.0 / m.n + 1.0 / ref.nref)) - 1)) < 1e-9 AS std_err_exact
FROM profenrich.coefficients('h_groups') c JOIN m ON c.feature = 'g=' || m.g, ref, s;
SELECT (metrics->>'rank')::int AS rank, (metrics->>'converged')::bool AS converged
FROM profenrich.train('h_groups_lg', 'logistic', 'h_groups', 'b', ARRAY['g'],
                      '{"max_categories": 600, "test_fraction": 0}');
WITH m AS (SELECT g, avg(b::int) AS p, count(*) AS n FROM h_groups GROUP BY g),
     ref AS (SELECT p AS pref, n AS nref FROM m WHERE g = 'L000')
SELECT count(*) AS levels,
       max(abs(c.coef - (ln(m.p / (1 - m.p)) - ln(ref.pref / (1 - ref.pref))))) < 1e-8 AS coef_exact,
       max(abs(c.std_err / sqrt(1.0 / (m.n * m.p * (1 - m.p)) + 1.0 / (ref.nref * ref.pref * (1 - ref.pref))) - 1))
         < 1e-9 AS std_err_exact
FROM profenrich.coefficients('h_groups_lg') c JOIN m ON c.feature = 'g=' || m.g, ref;
