-- score(): deployed model, one registry lookup per query, STRICT, per-row model names
SELECT name FROM profenrich.train('s1', 'linear', 'customers', 'spend', ARRAY['age'], '{"test_fraction": 0}');
SELECT name FROM profenrich.train('s2', 'linear', 'customers', 'spend', ARRAY['visits'], '{"test_fraction": 0}');

-- the registry is read at most once per query, never per row, and then not at all: the backend
-- keeps the deployed model until the registry changes (reads counted within the transaction)
CREATE TEMP TABLE reads (step int, n bigint);
CREATE FUNCTION pg_temp.registry_reads() RETURNS bigint LANGUAGE sql AS
$$ SELECT seq_scan + coalesce(idx_scan, 0) FROM pg_stat_xact_user_tables
   WHERE relid = 'profenrich.models'::regclass $$;
BEGIN;
INSERT INTO reads SELECT 0, pg_temp.registry_reads();
SELECT count(profenrich.score('s1', c)) FROM customers c WHERE customer_id <= 20;
INSERT INTO reads SELECT 1, pg_temp.registry_reads();
SELECT count(profenrich.score('s1', c)) FROM customers c;
INSERT INTO reads SELECT 2, pg_temp.registry_reads();
COMMIT;
SELECT r1.n - r0.n <= 1 AS reads_for_20_rows_at_most_1, r2.n - r1.n AS reads_for_2000_rows_cached
FROM reads r0, reads r1, reads r2 WHERE r0.step = 0 AND r1.step = 1 AND r2.step = 2;

-- the model name may vary per row; each row gets its own model's score
SELECT bool_and(profenrich.score(CASE WHEN customer_id % 2 = 0 THEN 's1' ELSE 's2' END, c) =
                CASE WHEN customer_id % 2 = 0 THEN profenrich.score('s1', c) ELSE profenrich.score('s2', c) END)
       AS per_row_names
FROM customers c;

-- NULL in, NULL out
SELECT profenrich.score(NULL, c) IS NULL AS null_name, profenrich.score('s1', NULL::customers) IS NULL AS null_row
FROM customers c WHERE customer_id = 1;

-- a new deployment is picked up by the next query
SELECT name, version FROM profenrich.train('s1', 'linear', 'customers', 'spend', ARRAY['age', 'visits', 'vip', 'channel'],
                                           '{"test_fraction": 0}');
SELECT corr(profenrich.score('s1', c), spend) > 0.99 AS new_version_used FROM customers c;

-- a deployment rolled back inside a transaction does not leave its model in the cache
SELECT round(sum(profenrich.score('s1', c) ^ 2)::numeric, 3) AS v2_sumsq INTO TEMP v2 FROM customers c;
BEGIN;
SELECT profenrich.deploy('s1', 1);
SELECT round(sum(profenrich.score('s1', c) ^ 2)::numeric, 3) <> (SELECT v2_sumsq FROM v2) AS v1_inside FROM customers c;
ROLLBACK;
SELECT round(sum(profenrich.score('s1', c) ^ 2)::numeric, 3) = (SELECT v2_sumsq FROM v2) AS v2_after_rollback
FROM customers c;

-- score in a WHERE clause and an ORDER BY, as analysts use it
SELECT count(*) AS high_value FROM customers c WHERE profenrich.score('s1', c) > 150;
SELECT customer_id FROM customers c ORDER BY profenrich.score('s1', c) DESC LIMIT 3;

-- the planner passes a table row to score() as its columns (no composite built per row)
EXPLAIN (VERBOSE, COSTS OFF) SELECT profenrich.score('s1', c) FROM customers c;
-- a composite built in the query takes the record path, with the same result
SELECT bool_and(abs(profenrich.score('s1', c) -
                    profenrich.score('s1', ROW(c.customer_id, c.age, c.visits, c.vip, c.channel, c.spend)::customers))
                < 1e-9) AS same_score
FROM customers c;
-- the NULL row of an outer join scores NULL, as a NULL record would
SELECT o.id, profenrich.score('s1', c) IS NULL AS null_score
FROM (VALUES (1), (-1)) AS o(id) LEFT JOIN customers c ON c.customer_id = o.id ORDER BY o.id;
-- a view's rows work the same way
CREATE VIEW young AS SELECT customer_id, age, visits, vip, channel FROM customers WHERE age < 30;
SELECT count(*) = count(profenrich.score('s1', y)) AS all_scored FROM young y;

-- more columns than a function takes arguments: training reads rows as composites
SELECT 'CREATE TABLE wide AS SELECT i AS id, ' ||
       string_agg(format('(i * %s %% 17)::float8 AS c%s', k, k), ', ') ||
       ', (i % 5)::float8 AS y FROM generate_series(1, 300) i' AS ddl
FROM generate_series(1, 110) k \gset
:ddl;
SELECT n_train FROM profenrich.train('wide', 'linear', 'wide', 'y', NULL, '{"test_fraction": 0, "l2": 1}');
SELECT count(*) AS slots FROM profenrich.coefficients('wide');
EXPLAIN (VERBOSE, COSTS OFF) SELECT profenrich.score('wide', w) FROM wide w;
SELECT abs(sum(profenrich.score('wide', w)) - sum(y)) < 1e-6 AS mean_preserved FROM wide w;

-- score_columns directly, untyped literals included, equals score of the same row
SELECT abs(profenrich.score_columns('s1', ARRAY['age', 'visits', 'vip', 'channel'], 40, 10.5, true, 'web')
           - profenrich.score('s1', r)) < 1e-12 AS same_as_score
FROM (SELECT 40 AS age, 10.5 AS visits, true AS vip, 'web' AS channel) r;
