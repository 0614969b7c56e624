-- Benchmark data and timing helpers (fixed seed). 1,000,000 rows x 20 float8 features.
\set QUIET on
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS profenrich;
DROP SCHEMA IF EXISTS bench CASCADE;
CREATE SCHEMA bench;
SELECT setseed(0.25);
CREATE TABLE bench.t AS
SELECT i AS id,
       random() AS f1, random() AS f2, random() AS f3, random() AS f4, random() AS f5,
       random() AS f6, random() AS f7, random() AS f8, random() AS f9, random() AS f10,
       random() AS f11, random() AS f12, random() AS f13, random() AS f14, random() AS f15,
       random() AS f16, random() AS f17, random() AS f18, random() AS f19, random() AS f20,
       random() AS noise, random() AS u
FROM generate_series(1, :rows) AS i;
ALTER TABLE bench.t ADD COLUMN y float8, ADD COLUMN label boolean;
-- y: linear in the features plus noise; label: drawn from a logistic model of them
UPDATE bench.t SET y = 1 + f1 - 2 * f2 + 3 * f3 + 0.5 * f4 - f5 + f10 + 2 * f15 - f20 + noise,
                   label = u < 1 / (1 + exp(-(-1 + 2 * f1 - 3 * f2 + f3 + 1.5 * f10 - f20)));
ALTER TABLE bench.t DROP COLUMN noise, DROP COLUMN u;
VACUUM FULL bench.t;
ALTER TABLE bench.t ADD PRIMARY KEY (id);
VACUUM ANALYZE bench.t;

-- Milliseconds of the fastest of reps runs of a statement (the first run warms the cache).
CREATE FUNCTION bench.time_ms(q text, reps int DEFAULT 5) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz; best float8 := 'Infinity'; ms float8;
BEGIN
  EXECUTE q;
  FOR i IN 1..reps LOOP
    t0 := clock_timestamp();
    EXECUTE q;
    ms := extract(epoch FROM clock_timestamp() - t0) * 1000;
    best := least(best, ms);
  END LOOP;
  RETURN best;
END $$;

CREATE TABLE bench.results (bench text, measured text, ms float8, baseline text, baseline_ms float8,
                            goal text, ratio float8 GENERATED ALWAYS AS (ms / baseline_ms) STORED);
