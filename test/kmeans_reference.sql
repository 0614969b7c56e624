-- k-means against scikit-learn 1.2.1 KMeans (test/reference/kmeans_reference.py; figures
-- copied from test/reference/kmeans_reference.txt, method in test/reference/README.md):
--   synthetic data, 600 rows in 4 planted clusters (kmeans_data), numeric, boolean and text
--   features with NULLs imputed, standardized with the population sd as profenrich does:
--   the planted clusters recovered exactly, the inertia equal to scikit-learn's to 1e-9
--   relative, "auto" choosing k = 4 with scikit-learn's silhouette of it (1e-9);
--   the bank churn data's numeric columns (shared_data.bank_churn, loaded by
--   test/data/load_shared.sh; skipped, saying so, when absent): the inertia for k = 3, 4, 6
--   within 0.5% of the lowest scikit-learn finds over 200 seeds.
-- Streaming passes equal the in-memory fit (1e-9), a forced parallel plan the serial one,
-- the same seed the same model.
\set QUIET on
\set ON_ERROR_STOP on
SET client_min_messages = warning;
BEGIN;
\ir reference/kmeans_data.sql
\set nbank 11
SELECT plan(13 + :nbank);

-- a and b agree within rel relative tolerance
CREATE FUNCTION pg_temp.close(a float8, b float8, rel float8) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$ SELECT abs(a - b) <= rel * greatest(abs(b), 1e-300) $$;
-- the centers of two models agree within rel (relative, absolute below 1)
CREATE FUNCTION pg_temp.same_centers(a text, b text, rel float8) RETURNS boolean
LANGUAGE sql AS $$
  SELECT bool_and(abs(x.coef - y.coef) <= rel * greatest(abs(y.coef), 1)) AND count(*) > 0
  FROM profenrich.coefficients(a) x JOIN profenrich.coefficients(b) y USING (class, feature) $$;

-- ------------------------------------------------------------ synthetic, k = 4 ----
CREATE TEMP TABLE fitted AS
SELECT 'memory' AS fit, * FROM profenrich.train('km4', 'kmeans', 'kmeans_data', NULL,
    ARRAY['x1', 'x2', 'x3', 'flag', 'channel'], '{"k": 4}');

SELECT is((SELECT count(DISTINCT (truth, profenrich.segment('km4', d))) FROM kmeans_data d), 4::bigint,
          'the planted clusters, exactly: each truth in one segment, four pairs in all');
SELECT is((SELECT array_agg(s ORDER BY truth)
           FROM (SELECT truth, min(profenrich.segment('km4', d)) AS s FROM kmeans_data d GROUP BY truth) t),
          ARRAY[1, 2, 3, 4], 'segments numbered by decreasing size (260, 170, 110, 60)');
SELECT is(metrics->'sizes', '[260, 170, 110, 60]'::jsonb, 'sizes in the metrics') FROM fitted;
SELECT ok(pg_temp.close((metrics->>'inertia')::float8, 36.697117995640944, 1e-9),
          'inertia equals scikit-learn KMeans(n_clusters=4, n_init=10) to 1e-9 relative: ' ||
          (metrics->>'inertia')) FROM fitted;
SELECT is((SELECT array_agg(n ORDER BY s) FROM (SELECT profenrich.segment('km4', d) AS s, count(*)::int AS n
                                              FROM kmeans_data d GROUP BY 1) c),
          ARRAY[260, 170, 110, 60], 'segment() gives every training row its training segment');

-- "auto": the planted k by silhouette, as scikit-learn's silhouette_score of it
INSERT INTO fitted SELECT 'auto', * FROM profenrich.train('km_auto', 'kmeans', 'kmeans_data', NULL,
    ARRAY['x1', 'x2', 'x3', 'flag', 'channel'], '{"k": "auto", "k_max": 8}');
SELECT is((metrics->>'k')::int, 4, '"auto" picks the planted k = 4') FROM fitted WHERE fit = 'auto';
SELECT ok(pg_temp.close((metrics->>'silhouette')::float8, 0.92717968666136108, 1e-9),
          'its silhouette equals scikit-learn silhouette_score to 1e-9 relative') FROM fitted WHERE fit = 'auto';
SELECT is(jsonb_array_length(metrics->'auto'->'candidates'), 7, 'every k from 2 to 8 tried, in the metrics')
FROM fitted WHERE fit = 'auto';

-- the same seed gives the same model; another seed the same clusters here
INSERT INTO fitted SELECT 'again', * FROM profenrich.train('km4_again', 'kmeans', 'kmeans_data', NULL,
    ARRAY['x1', 'x2', 'x3', 'flag', 'channel'], '{"k": 4}');
SELECT ok((SELECT a.params = b.params FROM profenrich.models a, profenrich.models b
           WHERE a.name = 'km4' AND b.name = 'km4_again'), 'the same seed gives the same model, byte for byte');
INSERT INTO fitted SELECT 'seed7', * FROM profenrich.train('km4_seed7', 'kmeans', 'kmeans_data', NULL,
    ARRAY['x1', 'x2', 'x3', 'flag', 'channel'], '{"k": 4, "seed": 7}');
SELECT ok(pg_temp.same_centers('km4_seed7', 'km4', 1e-9), 'another seed finds the same centers');

-- streaming: one SQL pass per iteration (64kB), serial, then a forced parallel plan
SET profenrich.max_train_memory = '64kB';
INSERT INTO fitted SELECT 'stream', * FROM profenrich.train('km4_stream', 'kmeans', 'kmeans_data', NULL,
    ARRAY['x1', 'x2', 'x3', 'flag', 'channel'], '{"k": 4}');
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
INSERT INTO fitted SELECT 'parallel', * FROM profenrich.train('km4_parallel', 'kmeans', 'kmeans_data', NULL,
    ARRAY['x1', 'x2', 'x3', 'flag', 'channel'], '{"k": 4}');
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
RESET parallel_leader_participation;
RESET profenrich.max_train_memory;
SELECT is(metrics->>'path', 'streaming', 'max_train_memory 64kB: trained by streaming passes') FROM fitted WHERE fit = 'stream';
SELECT ok(pg_temp.same_centers('km4_stream', 'km4', 1e-9) AND
          (SELECT s.metrics->'sizes' = m.metrics->'sizes' AND s.metrics->'iterations' = m.metrics->'iterations' AND
                  pg_temp.close((s.metrics->>'inertia')::float8, (m.metrics->>'inertia')::float8, 1e-9)
           FROM fitted s, fitted m WHERE s.fit = 'stream' AND m.fit = 'memory'),
          'streaming equals in memory: centers, sizes, iterations, inertia (1e-9)');
SELECT ok(pg_temp.same_centers('km4_parallel', 'km4_stream', 1e-9) AND
          (SELECT p.metrics->'sizes' = s.metrics->'sizes' FROM fitted p, fitted s
           WHERE p.fit = 'parallel' AND s.fit = 'stream'),
          'a forced parallel plan equals the serial streaming fit (1e-9)');

-- ------------------------------------------------------------- bank churn -----
SELECT to_regclass('shared_data.bank_churn') IS NOT NULL AS have_bank \gset
\if :have_bank
CREATE TEMP TABLE bank AS
SELECT k, t.metrics, r.best
FROM (VALUES (3, 62825.254452934416), (4, 58292.851556066329), (6, 52176.25262401186)) AS r(k, best),
     LATERAL profenrich.train('bank' || k, 'kmeans', 'shared_data.bank_churn', NULL,
         ARRAY['credit_score', 'age', 'tenure', 'balance', 'num_of_products', 'has_cr_card',
               'is_active_member', 'estimated_salary'], jsonb_build_object('k', k, 'n_init', 10)) t;
SELECT ok((metrics->>'inertia')::float8 <= 1.005 * best,
          format('bank churn, k = %s: inertia %s within 0.5%% of the best of 200 scikit-learn seeds, %s',
                 k, round((metrics->>'inertia')::numeric, 3), best))
FROM bank ORDER BY k;
SELECT is((SELECT sum(s::int) FROM jsonb_array_elements_text(metrics->'sizes') s), 10000::bigint,
          format('bank churn, k = %s: the sizes add up to the 10,000 customers', k))
FROM bank ORDER BY k;
-- every way of measuring in memory (up to 8 centers in single precision with a rounding
-- guard, up to 16 directly, more by dgemm) against the streaming passes (double precision)
CREATE TEMP TABLE bank_k AS
SELECT k, t.metrics FROM (VALUES (12), (20)) AS v(k),
     LATERAL profenrich.train('bank_k' || k, 'kmeans', 'shared_data.bank_churn', NULL,
         ARRAY['credit_score', 'age', 'tenure', 'balance', 'num_of_products', 'has_cr_card',
               'is_active_member', 'estimated_salary'], jsonb_build_object('k', k, 'n_init', 2)) t;
SET profenrich.max_train_memory = '64kB';
INSERT INTO bank_k
SELECT -k, t.metrics FROM (VALUES (12), (20)) AS v(k),
     LATERAL profenrich.train('bank_ks' || k, 'kmeans', 'shared_data.bank_churn', NULL,
         ARRAY['credit_score', 'age', 'tenure', 'balance', 'num_of_products', 'has_cr_card',
               'is_active_member', 'estimated_salary'], jsonb_build_object('k', k, 'n_init', 2)) t;
SELECT ok((SELECT bool_and(pg_temp.close(rs.v::float8, rm.v::float8, 1e-9)) AND count(*) = 2
           FROM bank_k s, bank_k m,
                jsonb_array_elements_text(s.metrics->'restart_inertia') WITH ORDINALITY rs(v, i)
                JOIN jsonb_array_elements_text(m.metrics->'restart_inertia') WITH ORDINALITY rm(v, i) USING (i)
           WHERE m.k = k_ AND s.k = -k_),
          format('bank churn, k = %s: streaming ends where the in-memory fit does (1e-9)', k_))
FROM (VALUES (12), (20)) AS v(k_);
CREATE TEMP TABLE bank_stream AS
SELECT * FROM profenrich.train('bank4_stream', 'kmeans', 'shared_data.bank_churn', NULL,
    ARRAY['credit_score', 'age', 'tenure', 'balance', 'num_of_products', 'has_cr_card',
          'is_active_member', 'estimated_salary'], '{"k": 4, "n_init": 10}');
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
CREATE TEMP TABLE bank_parallel AS
SELECT * FROM profenrich.train('bank4_parallel', 'kmeans', 'shared_data.bank_churn', NULL,
    ARRAY['credit_score', 'age', 'tenure', 'balance', 'num_of_products', 'has_cr_card',
          'is_active_member', 'estimated_salary'], '{"k": 4, "n_init": 10}');
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
RESET parallel_leader_participation;
RESET profenrich.max_train_memory;
SELECT ok((SELECT bool_and(pg_temp.close(rs.v::float8, rm.v::float8, 1e-9)) AND count(*) = 10
           FROM bank_stream s, bank m,
                jsonb_array_elements_text(s.metrics->'restart_inertia') WITH ORDINALITY rs(v, i)
                JOIN jsonb_array_elements_text(m.metrics->'restart_inertia') WITH ORDINALITY rm(v, i) USING (i)
           WHERE m.k = 4),
          'bank churn streaming: every one of the 10 restarts ends where it does in memory (1e-9)');
SELECT ok(pg_temp.same_centers('bank4_stream', 'bank4', 1e-9), 'bank churn streaming: the same centers (1e-9)');
SELECT ok(pg_temp.same_centers('bank4_parallel', 'bank4_stream', 1e-9) AND
          (SELECT p.metrics->'sizes' = s.metrics->'sizes' FROM bank_parallel p, bank_stream s),
          'bank churn, forced parallel plan: the same centers and sizes as serial (1e-9)');
\else
SELECT skip('shared_data.bank_churn not loaded: the ../shared/data folder is absent '
            '(test/data/load_shared.sh loads it when present)', :nbank);
\endif

SELECT * FROM finish();
ROLLBACK;
