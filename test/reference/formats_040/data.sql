-- deterministic fixture data (no random): 300 customers
CREATE TABLE fmt_people AS
SELECT i AS id,
       (18 + (i * 37) % 60)::int AS age,
       ((i * 7919) % 1000) / 10.0 AS visits,
       (ARRAY['web', 'store', 'app'])[1 + (i % 3)] AS channel,
       ((i * 13) % 7 < 3) AS vip
FROM generate_series(1, 300) i;
ALTER TABLE fmt_people ADD COLUMN spend float8, ADD COLUMN churned boolean;
UPDATE fmt_people SET spend = 20 + 0.5 * age + 1.2 * visits + 15 * vip::int + CASE channel WHEN 'web' THEN 0 WHEN 'store' THEN 5 ELSE -3 END + ((id * 7) % 11 - 5),
                      churned = ((age + visits / 3 + (id * 31) % 17) % 5) < 2;
ALTER TABLE fmt_people ADD PRIMARY KEY (id);
\i test/reference/formats_040/sim.sql
