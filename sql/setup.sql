-- Create the extension and the shared test data (fixed seed)
SET client_min_messages = warning;
CREATE EXTENSION profenrich;
RESET client_min_messages;
SELECT extversion FROM pg_extension WHERE extname = 'profenrich';

-- What a statement raised (SQLSTATE, message, hint), for the tests of user errors
CREATE FUNCTION public.err(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text; msg text; hint text;
BEGIN
  EXECUTE q;
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
  RETURN st || ': ' || msg || coalesce(' | HINT: ' || nullif(hint, ''), '');
END $$;

-- 2000 customers; spend depends linearly on three features plus noise
SELECT setseed(0.17);
CREATE TABLE customers AS
SELECT i AS customer_id,
       round((random() * 60 + 18)::numeric, 0)::int AS age,
       round((random() * 100)::numeric, 2) AS visits,
       random() < 0.3 AS vip,
       (ARRAY['web', 'store', 'app'])[1 + (i % 3)] AS channel,
       0.0::float8 AS spend
FROM generate_series(1, 2000) AS i;
UPDATE customers SET spend = 20 + 0.5 * age + 1.2 * visits::float8 + 15 * vip::int
       + CASE channel WHEN 'web' THEN 0 WHEN 'store' THEN 5 ELSE -3 END + (random() - 0.5) * 10;
ALTER TABLE customers ADD PRIMARY KEY (customer_id);
SELECT count(*), round(avg(spend)::numeric, 1) AS avg_spend FROM customers;
