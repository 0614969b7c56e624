-- Issue 5 targets, serial plans (1,000,000 simulated customers by default, bench/clv_sim.py):
--   rfm over the transactions <= 2x a GROUP BY customer with count(DISTINCT day), min(day),
--   max(day), sum(amount);
--   train('clv') on the summaries <= 2x one SELECT sum(frequency + recency + t) scan of them.
-- Both sides of each ratio return one number, so neither pays for sending rows.
\set QUIET on
SET max_parallel_workers_per_gather = 0;
SET client_min_messages = warning;
INSERT INTO bench.results (bench, measured, ms, baseline, baseline_ms, goal)
SELECT 'clv: rfm', 'GROUP BY customer: profenrich.rfm(day, amount, as_of)', bench.time_ms(
  $$SELECT sum((r).frequency + (r).recency + (r).t + (r).monetary)
    FROM (SELECT profenrich.rfm(day, amount, '2025-12-31') r FROM bench.clv_tx GROUP BY customer_id) q$$),
  'GROUP BY customer: count(DISTINCT day), min, max, sum', bench.time_ms(
  $$SELECT sum(n + (mx - mn) + s)
    FROM (SELECT count(DISTINCT day) n, min(day) mn, max(day) mx, sum(amount) s
          FROM bench.clv_tx GROUP BY customer_id) q$$),
  '<= 2.0';
INSERT INTO bench.results (bench, measured, ms, baseline, baseline_ms, goal)
SELECT 'clv: train', 'profenrich.train(''clv'') incl. percentiles', bench.time_ms(
  $$SELECT profenrich.train('bench_clv', 'clv', 'bench.clv_sum')$$),
  'SELECT sum(frequency + recency + t)', bench.time_ms(
  $$SELECT sum(frequency + recency + t) FROM bench.clv_sum$$), '<= 2.0';
SELECT 'clv fit: ' || (metrics->>'n_train') || ' customers, ' || (metrics->>'distinct_histories') ||
       ' distinct histories, ' || (metrics->>'n_repeat') || ' repeat; iterations ' ||
       (metrics->>'purchase_iterations') || ' + ' || (metrics->>'spend_iterations') AS fit
FROM profenrich.models WHERE name = 'bench_clv' ORDER BY version DESC LIMIT 1 \gset
\echo :fit
SELECT string_agg(feature || ' ' || round(coef::numeric, 3) || ' (se ' || round(std_err::numeric, 3) || ')', ', ')
       AS params FROM profenrich.coefficients('bench_clv') \gset
\echo 'clv parameters (simulated from r 0.25, alpha 4.4, a 0.8, b 2.4, p 6.25, q 3.7, gamma 15.4):' :params
RESET max_parallel_workers_per_gather;
