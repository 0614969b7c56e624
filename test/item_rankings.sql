-- Item rankings on every path they take, against recomputations in SQL:
--   * ALS rankings of each user (32 factors, and 16 and 5 for the generic kernels), by
--     top_items one user at a time and then with the model's rows loaded (more than 512 users
--     in one query), and by enrich(), which ranks every user of the model at once in batches
--     (AlsTopItemsMany): each equal to a brute force over every item in SQL, ties by key,
--     scores to 1e-12;
--   * user keys read by value (dense integers, negative ones), then hashed once they spread
--     (integers far apart), and text keys: the users and their rows are the keys' texts;
--   * item keys that are integers (looked up through a map by value);
--   * affinity rankings of text-keyed users from the loaded rows (by hash).
\set QUIET on
\set ON_ERROR_STOP on
SET client_min_messages = warning;
BEGIN;
SELECT plan(15);

-- 700 customers in 14 taste groups of 20 of 280 products, 12 purchases each
SELECT setseed(0.61);
CREATE TABLE rk_events AS
SELECT c AS customer_id,
       (CASE WHEN random() < 0.7 THEN (c % 14) * 20 + floor(random() * 20)::int
             ELSE floor(power(280, random()))::int - 1 END) AS product_id,
       1 + floor(random() * 3)::int AS qty
FROM generate_series(1, 700) c, generate_series(1, 12) n;
CREATE TABLE rk_products AS SELECT customer_id, 'p' || lpad(product_id::text, 3, '0') AS product, qty FROM rk_events;
-- the same customers keyed by text, and by integers dense at first (negative ones too), then far apart
CREATE TABLE rk_text AS SELECT 'c' || lpad(customer_id::text, 4, '0') AS customer, product, qty FROM rk_products;
CREATE TABLE rk_spread AS
SELECT CASE WHEN customer_id <= 50 THEN -customer_id WHEN customer_id <= 400 THEN customer_id
            ELSE customer_id::bigint * 1000000007 END AS customer, product, qty
FROM rk_products;

-- the brute force: every user's k best items it was not trained on, ties by key (byte order)
CREATE FUNCTION pg_temp.brute(m text, k int, only_users text[] DEFAULT NULL)
RETURNS TABLE (user_key text, top text[], scores float8[])
LANGUAGE sql AS $$
  SELECT user_key, array_agg(item ORDER BY score DESC, item COLLATE "C"), array_agg(score ORDER BY score DESC, item COLLATE "C")
  FROM (SELECT s.*, row_number() OVER (PARTITION BY user_key ORDER BY score DESC, item COLLATE "C") AS r
        FROM (SELECT u.user_key, f.item, (SELECT sum(a * b) FROM unnest(u.factors, f.factors) AS t(a, b)) AS score
              FROM profenrich.model_users u CROSS JOIN profenrich.item_factors(m) f
              WHERE u.model = m AND f.item <> ALL (u.items)
                AND (only_users IS NULL OR u.user_key = ANY (only_users))) s) s
  WHERE r <= k GROUP BY user_key $$;
-- how many users' rankings (keys as text) differ from the brute force: items, or scores beyond 1e-12
CREATE FUNCTION pg_temp.wrong(m text, k int, got regclass) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
  EXECUTE format($q$SELECT count(*) FROM pg_temp.brute(%L, %s) b FULL JOIN %s g ON g.user_key = b.user_key
                 WHERE g.top IS DISTINCT FROM b.top
                    OR (SELECT max(abs(x - y)) FROM unnest(g.scores, b.scores) t(x, y)) >= 1e-12$q$, m, k, got)
  INTO n;
  RETURN n;
END $$;

CREATE TEMP TABLE trained AS
SELECT (profenrich.train(m, 'als', 'rk_products', options => o::jsonb)).name
FROM (VALUES ('rk32', '{"user": "customer_id", "item": "product", "weight": "qty", "iterations": 4, "test_fraction": 0}'),
             ('rk16', '{"user": "customer_id", "item": "product", "weight": "qty", "factors": 16, "iterations": 4, "test_fraction": 0}'),
             ('rk5', '{"user": "customer_id", "item": "product", "weight": "qty", "factors": 5, "iterations": 4, "test_fraction": 0}'),
             ('rk_all', '{"user": "customer_id", "item": "product", "weight": "qty", "iterations": 4, "test_fraction": 0, "exclude_seen": false}')) v(m, o);

-- one user at a time (a query of 300 users: each read by its key)
CREATE TEMP TABLE got AS
SELECT u::text AS user_key, profenrich.top_items('rk32', u, 10) AS top, profenrich.top_item_scores('rk32', u, 10) AS scores
FROM generate_series(1, 300) u;
SELECT is((SELECT count(*) FROM pg_temp.brute('rk32', 10) b JOIN got g USING (user_key)
           WHERE g.top = b.top AND (SELECT max(abs(x - y)) FROM unnest(g.scores, b.scores) t(x, y)) < 1e-12),
          300::bigint, 'als, 32 factors, one user at a time: the brute force''s items and scores');

-- enrich(): every user ranked at once, in batches
CREATE TABLE rk_profiles AS SELECT c AS customer_id FROM generate_series(1, 720) c;
CALL profenrich.enrich('rk_profiles', array['rk32', 'rk16', 'rk5', 'rk_all'], '{"top": 10}');
CREATE TEMP VIEW got32 AS SELECT customer_id::text AS user_key, rk32_top AS top, rk32_top_scores AS scores FROM rk_profiles WHERE customer_id <= 700;
CREATE TEMP VIEW got16 AS SELECT customer_id::text AS user_key, rk16_top AS top, rk16_top_scores AS scores FROM rk_profiles WHERE customer_id <= 700;
CREATE TEMP VIEW got5 AS SELECT customer_id::text AS user_key, rk5_top AS top, rk5_top_scores AS scores FROM rk_profiles WHERE customer_id <= 700;
SELECT is(pg_temp.wrong('rk32', 10, 'got32'), 0::bigint, 'enrich, als with 32 factors: every profile ranked as the brute force ranks it');
SELECT is(pg_temp.wrong('rk16', 10, 'got16'), 0::bigint, 'enrich, als with 16 factors: the same');
SELECT is(pg_temp.wrong('rk5', 10, 'got5'), 0::bigint, 'enrich, als with 5 factors: the same');
SELECT is((SELECT count(*) FROM rk_profiles WHERE customer_id > 700 AND rk32_top = (SELECT array_agg(item ORDER BY popularity DESC, item COLLATE "C")
             FROM (SELECT * FROM profenrich.item_factors('rk32') ORDER BY popularity DESC, item COLLATE "C" LIMIT 10) p)),
          20::bigint, 'enrich: profiles the model does not know get the popularity ranking');
-- exclude_seen false: the brute force over every item
SELECT is((SELECT count(*) FROM rk_profiles p JOIN
             (SELECT user_key, array_agg(item ORDER BY score DESC, item COLLATE "C") AS top
              FROM (SELECT s.*, row_number() OVER (PARTITION BY user_key ORDER BY score DESC, item COLLATE "C") AS r
                    FROM (SELECT u.user_key, f.item, (SELECT sum(a * b) FROM unnest(u.factors, f.factors) AS t(a, b)) AS score
                          FROM profenrich.model_users u CROSS JOIN profenrich.item_factors('rk_all') f
                          WHERE u.model = 'rk_all') s) s
              WHERE r <= 10 GROUP BY user_key) b ON b.user_key = p.customer_id::text
           WHERE p.rk_all_top = b.top),
          700::bigint, 'enrich, exclude_seen false: the brute force over every item');
-- after enrich, the rows stay loaded and ranked: a later query reads the rankings, another k ranks anew
SELECT is((SELECT count(*) FROM rk_profiles WHERE rk32_top = profenrich.top_items('rk32', customer_id, 10)), 720::bigint,
          'the rankings kept after enrich are the ones it wrote');
CREATE TEMP TABLE got7 AS
SELECT u::text AS user_key, profenrich.top_items('rk32', u, 7) AS top, profenrich.top_item_scores('rk32', u, 7) AS scores
FROM generate_series(1, 700) u;
SELECT is(pg_temp.wrong('rk32', 7, 'got7'), 0::bigint, 'another k from the loaded rows: the brute force''s');
-- k beyond the items: every item not seen, in order
SELECT is((SELECT count(*) FROM generate_series(1, 20) u
             JOIN pg_temp.brute('rk32', 100000, (SELECT array_agg(v::text) FROM generate_series(1, 20) v)) b ON b.user_key = u::text
           WHERE profenrich.top_items('rk32', u, 100000) = b.top), 20::bigint, 'k beyond the items: every unseen item, ranked');

-- user keys: text, and integers read by value then hashed
INSERT INTO trained
SELECT (profenrich.train(m, 'als', m::regclass, options => '{"user": "customer", "item": "product", "weight": "qty", "iterations": 3, "test_fraction": 0}')).name
FROM (VALUES ('rk_text'), ('rk_spread')) v(m);
SELECT is((SELECT array_agg(user_key ORDER BY user_key COLLATE "C") FROM profenrich.model_users WHERE model = 'rk_spread'),
          (SELECT array_agg(k ORDER BY k COLLATE "C") FROM (SELECT DISTINCT customer::text AS k FROM rk_spread) d),
          'integer keys, dense then far apart: one row per distinct key, as its text');
CREATE TEMP TABLE got_text AS
SELECT customer AS user_key, profenrich.top_items('rk_text', customer, 10) AS top, profenrich.top_item_scores('rk_text', customer, 10) AS scores
FROM (SELECT DISTINCT customer FROM rk_text) c;
SELECT is(pg_temp.wrong('rk_text', 10, 'got_text'), 0::bigint, 'text keys, rows loaded and hashed: the brute force''s rankings');
CREATE TEMP TABLE got_spread AS
SELECT customer::text AS user_key, profenrich.top_items('rk_spread', customer, 10) AS top, profenrich.top_item_scores('rk_spread', customer, 10) AS scores
FROM (SELECT DISTINCT customer FROM rk_spread) c;
SELECT is(pg_temp.wrong('rk_spread', 10, 'got_spread'), 0::bigint, 'spread integer keys, rows loaded and hashed: the brute force''s rankings');
SELECT is((SELECT count(*) FROM (SELECT DISTINCT customer FROM rk_spread) c
           WHERE profenrich.top_items('rk_spread', customer::text, 3) = profenrich.top_items('rk_spread', customer, 3)), 700::bigint,
          'a key given as text or as its integer finds the same row');

-- item keys that are integers
INSERT INTO trained SELECT (profenrich.train('rk_ids', 'als', 'rk_events', options =>
  '{"user": "customer_id", "item": "product_id", "weight": "qty", "iterations": 3, "test_fraction": 0}')).name;
CREATE TABLE rk_profiles2 AS SELECT c AS customer_id FROM generate_series(1, 700) c;
CALL profenrich.enrich('rk_profiles2', array['rk_ids'], '{"top": 10}');
CREATE TEMP VIEW got_ids AS SELECT customer_id::text AS user_key, rk_ids_top AS top, rk_ids_top_scores AS scores FROM rk_profiles2;
SELECT is(pg_temp.wrong('rk_ids', 10, 'got_ids'), 0::bigint, 'integer item keys (mapped by value): the brute force''s rankings');

-- affinity with text-keyed users, rows loaded and hashed: each user's items by share
INSERT INTO trained SELECT (profenrich.train('rk_aff', 'affinity', 'rk_text', options => '{"user": "customer", "item": "product", "weight": "qty"}')).name;
SELECT is((SELECT count(*) FROM (SELECT customer, array_agg(product ORDER BY w DESC, product COLLATE "C") AS top
                                 FROM (SELECT customer, product, sum(qty) AS w,
                                              row_number() OVER (PARTITION BY customer ORDER BY sum(qty) DESC, product COLLATE "C") AS r
                                       FROM rk_text GROUP BY 1, 2) s WHERE r <= 3 GROUP BY customer) e
           WHERE profenrich.top_items('rk_aff', e.customer, 3) = e.top), 700::bigint,
          'affinity, text keys from the loaded rows: the items of highest share');

SELECT * FROM finish();
ROLLBACK;
