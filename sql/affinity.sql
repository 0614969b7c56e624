-- Product and category affinity: 'als' on planted tastes against the popularity ranking, its
-- rankings against a brute-force recomputation in SQL, fold-in against the trained factors,
-- 'affinity' shares and lifts against the formula recomputed in SQL, the per-user rows and
-- drop_model, enrich and the real-time trigger on the interactions, and every bad input.
-- (The loss per iteration against an independent NumPy implementation: test/als_reference.sql.)
SET client_min_messages = warning;	-- training notices carry timings

-- Planted tastes: 600 customers in 12 groups; each group prefers its own 20 of 300 products
-- (80% of a customer's 15 purchases), the rest follow a popularity skewed towards low numbers.
SELECT setseed(0.21);
CREATE TABLE purchases AS
SELECT c AS customer_id,
       'p' || lpad((CASE WHEN random() < 0.8 THEN (c % 12) * 20 + floor(random() * 20)::int
                         ELSE floor(power(300, random()))::int - 1 END)::text, 3, '0') AS product,
       1 + floor(random() * 3)::int AS qty
FROM generate_series(1, 600) c, generate_series(1, 15) n;
INSERT INTO purchases VALUES (1, NULL, 1), (2, 'p001', NULL), (NULL, 'p002', 1);	-- skipped
SELECT name, algorithm, n_train, n_test, metrics->>'users' AS users, metrics->>'items' AS items,
       metrics->>'rows' AS rows, metrics->>'n_skipped' AS skipped, metrics->>'test_users' AS test_users,
       jsonb_array_length(metrics->'loss') AS losses
FROM profenrich.train('products', 'als', 'purchases', options =>
     '{"user": "customer_id", "item": "product", "weight": "qty", "factors": 16, "seed": 3}');
-- held-out recall@10 far above popularity's; the other metrics too; the loss falls
SELECT (metrics->>'recall_at_10')::float8 > 0.5 AS recall_high,
       (metrics->'baseline'->>'recall_at_10')::float8 < 0.2 AS popularity_low,
       (metrics->>'recall_at_10')::float8 > 3 * (metrics->'baseline'->>'recall_at_10')::float8 AS recall_far_above_popularity,
       (metrics->>'ndcg_at_10')::float8 > 2 * (metrics->'baseline'->>'ndcg_at_10')::float8 AS ndcg_far_above,
       (metrics->>'map_at_10')::float8 > 2 * (metrics->'baseline'->>'map_at_10')::float8 AS map_far_above,
       abs((metrics->>'precision_at_10')::float8 - (metrics->>'recall_at_10')::float8 / 10) < 1e-15 AS precision_is_recall_over_10,
       (SELECT bool_and(l.v < l.prev) FROM (SELECT v::float8 AS v, lag(v::float8) OVER (ORDER BY n) AS prev
        FROM jsonb_array_elements_text(metrics->'loss') WITH ORDINALITY AS e(v, n)) l WHERE prev IS NOT NULL) AS loss_falls
FROM profenrich.models WHERE name = 'products';
SELECT options FROM profenrich.models WHERE name = 'products';

-- the per-user rows: one per customer, its factor and the products it was trained on
SELECT count(*) AS rows, min(array_length(factors, 1)) AS factors, bool_and(shares IS NULL) AS no_shares,
       sum(array_length(items, 1)) = (SELECT n_train FROM profenrich.models WHERE name = 'products') AS items_are_training_pairs
FROM profenrich.model_users WHERE model = 'products' AND version = 1;

-- top_items against a brute force in SQL over the stored factors: every customer's 10 best
-- products it was not trained on, ties by key
CREATE TEMP TABLE als_scores AS
SELECT u.user_key, f.item, (SELECT sum(a * b) FROM unnest(u.factors, f.factors) AS t(a, b)) AS score
FROM profenrich.model_users u CROSS JOIN profenrich.item_factors('products') f
WHERE u.model = 'products' AND u.version = 1 AND f.item <> ALL (u.items);
SELECT count(*) AS customers,
       count(*) FILTER (WHERE profenrich.top_items('products', b.user_key, 10) = b.top) AS same_items,
       count(*) FILTER (WHERE (SELECT max(abs(x - y)) FROM unnest(profenrich.top_item_scores('products', b.user_key, 10), b.scores) AS t(x, y)) < 1e-12) AS same_scores
FROM (SELECT user_key, array_agg(item ORDER BY score DESC, item) AS top, array_agg(score ORDER BY score DESC, item) AS scores
      FROM (SELECT *, row_number() OVER (PARTITION BY user_key ORDER BY score DESC, item) AS r FROM als_scores) s
      WHERE r <= 10 GROUP BY user_key) b;
-- the key's type does not matter, its text does; recommend and affinity agree with top_items
SELECT profenrich.top_items('products', 7, 5) = profenrich.top_items('products', '7'::text, 5) AS int_or_text,
       (SELECT array_agg(item ORDER BY score DESC, item) FROM profenrich.recommend('products', 7, 5)) =
         profenrich.top_items('products', 7, 5) AS recommend_agrees,
       abs(profenrich.affinity('products', 7, (profenrich.top_items('products', 7, 1))[1]) -
           (profenrich.top_item_scores('products', 7, 1))[1]) <
         1e-12 * (profenrich.top_item_scores('products', 7, 1))[1] AS affinity_agrees;
-- a customer the model does not know: the most popular products (share of customers), no affinity
SELECT profenrich.top_items('products', 99999, 5) =
         (SELECT array_agg(item ORDER BY popularity DESC, item) FROM
           (SELECT * FROM profenrich.item_factors('products') ORDER BY popularity DESC, item LIMIT 5) p) AS popularity,
       (SELECT array_agg(popularity ORDER BY popularity DESC, item) FROM
          (SELECT * FROM profenrich.item_factors('products') ORDER BY popularity DESC, item LIMIT 5) p) =
         profenrich.top_item_scores('products', 99999, 5) AS popularity_scores,
       (SELECT popularity FROM profenrich.item_factors('products') WHERE item = 'p000') =
         (SELECT count(*) FILTER (WHERE 'p000' = ANY (items))::float8 / count(*) FROM profenrich.model_users
          WHERE model = 'products') AS popularity_is_share,
       profenrich.affinity('products', 99999, 'p000') IS NULL AS unknown_user,
       profenrich.affinity('products', 7, 'no such product') IS NULL AS unknown_item,
       profenrich.top_items('products', NULL::int) IS NULL AS null_key,
       array_length(profenrich.top_items('products', 7, 100000), 1) =
         (SELECT count(*) FROM profenrich.item_factors('products')) -
         (SELECT array_length(items, 1) FROM profenrich.model_users WHERE model = 'products' AND user_key = '7') AS k_beyond_the_items;
-- similar_items: the cosine of the item factors, recomputed in SQL
SELECT (SELECT array_agg(item ORDER BY score DESC, item) FROM profenrich.similar_items('products', 'p010', 5)) =
       (SELECT array_agg(item ORDER BY c DESC, item) FROM (
          SELECT b.item, (SELECT sum(x * y) FROM unnest(a.factors, b.factors) t(x, y)) /
                 sqrt((SELECT sum(x * x) FROM unnest(a.factors) x) * (SELECT sum(y * y) FROM unnest(b.factors) y)) AS c
          FROM profenrich.item_factors('products') a, profenrich.item_factors('products') b
          WHERE a.item = 'p010' AND b.item <> 'p010' ORDER BY c DESC, b.item LIMIT 5) s) AS cosine,
       (SELECT count(*) FROM profenrich.similar_items('products', 'p010', 5) WHERE item BETWEEN 'p000' AND 'p019') >= 4 AS same_taste,
       (SELECT count(*) FROM profenrich.similar_items('products', 'nothing', 5)) AS unknown_item;

-- Fold-in: a customer's interactions folded in against the stored item factors give the
-- factor training stored (ALS ends on an exact user step), so the same items and scores
CREATE TEMP TABLE folded AS
SELECT customer_id, profenrich.top_items_for('products', product, qty, 300) AS top,
       profenrich.top_item_scores_for('products', product, qty, 300) AS scores
FROM purchases WHERE customer_id IS NOT NULL GROUP BY customer_id;
SELECT count(*) FILTER (WHERE NOT held) AS customers_kept_whole,
       count(*) FILTER (WHERE NOT held AND same) AS fold_in_equals_trained,
       count(*) FILTER (WHERE held) AS customers_with_one_held_out,
       count(*) FILTER (WHERE held AND same) AS held_out_equal
FROM (SELECT f.customer_id,
             u.items <> (SELECT array_agg(DISTINCT product COLLATE "C" ORDER BY product COLLATE "C") FROM purchases p
                         WHERE p.customer_id = f.customer_id AND p.product IS NOT NULL AND p.qty > 0) AS held,
             (SELECT max(abs(x - y)) FROM unnest(f.scores, profenrich.top_item_scores('products', f.customer_id, 300)) t(x, y))
               <= 1e-8 * (SELECT max(abs(y)) FROM unnest(f.scores) y) AS same
      FROM folded f JOIN profenrich.model_users u
        ON u.model = 'products' AND u.version = 1 AND u.user_key = f.customer_id::text) s;
-- (customers who held one product out for the metrics were not trained on it: folding all of
-- their purchases in gives another factor.)  With no test split, every customer folds in to
-- exactly what it was trained to
SELECT name, version FROM profenrich.train('products', 'als', 'purchases', options =>
     '{"user": "customer_id", "item": "product", "weight": "qty", "factors": 16, "seed": 3, "test_fraction": 0}');
SELECT count(*) AS customers,
       count(*) FILTER (WHERE (SELECT max(abs(x - y)) FROM unnest(s.scores, profenrich.top_item_scores('products', customer_id, 300)) t(x, y))
                        <= 1e-8 * (SELECT max(abs(y)) FROM unnest(s.scores) y)
                        AND s.top = profenrich.top_items('products', customer_id, 300)) AS fold_in_equals_trained
FROM (SELECT customer_id, profenrich.top_items_for('products', product, qty, 300) AS top,
             profenrich.top_item_scores_for('products', product, qty, 300) AS scores
      FROM purchases WHERE customer_id IS NOT NULL GROUP BY customer_id) s;
-- a new customer folds in with no retraining; unknown products are ignored
SELECT profenrich.top_items_for('products', product, 1, 3) AS new_customer_top_3,
       NOT profenrich.top_items_for('products', product, 1, 3) && ARRAY['p000', 'p001'] AS excludes_seen
FROM (VALUES ('p000'), ('p001'), ('no such product')) v(product);
SELECT profenrich.top_items_for('products', product, 1, 3) =
         profenrich.top_items('products', -1, 3) AS nothing_known_is_popularity
FROM (VALUES ('no such product')) v(product);
-- exclude_seen false: the products a customer has can be among its best
SELECT name FROM profenrich.train('products_all', 'als', 'purchases', options =>
     '{"user": "customer_id", "item": "product", "weight": "qty", "factors": 16, "exclude_seen": false, "iterations": 5}');
SELECT count(*) FILTER (WHERE profenrich.top_items('products_all', customer_id, 3) && items) > 100 AS seen_recommended
FROM (SELECT DISTINCT customer_id, u.items FROM purchases p
      JOIN profenrich.model_users u ON u.model = 'products_all' AND u.user_key = p.customer_id::text) c;

-- the default 32 factors (kernels compiled apart for that width): rankings and fold-in again
SELECT name FROM profenrich.train('products32', 'als', 'purchases', options =>
     '{"user": "customer_id", "item": "product", "weight": "qty", "iterations": 5, "test_fraction": 0}');
SELECT count(*) AS customers,
       count(*) FILTER (WHERE profenrich.top_items('products32', b.user_key, 10) = b.top) AS same_items,
       count(*) FILTER (WHERE f.top = profenrich.top_items('products32', b.user_key, 10)) AS fold_in_same_items
FROM (SELECT user_key, array_agg(item ORDER BY score DESC, item) AS top
      FROM (SELECT *, row_number() OVER (PARTITION BY user_key ORDER BY score DESC, item) AS r
            FROM (SELECT u.user_key, f.item, (SELECT sum(a * b) FROM unnest(u.factors, f.factors) AS t(a, b)) AS score
                  FROM profenrich.model_users u CROSS JOIN profenrich.item_factors('products32') f
                  WHERE u.model = 'products32' AND f.item <> ALL (u.items)) s) s
      WHERE r <= 10 GROUP BY user_key) b
JOIN (SELECT customer_id::text AS user_key, profenrich.top_items_for('products32', product, qty, 10) AS top
      FROM purchases WHERE customer_id IS NOT NULL GROUP BY customer_id) f USING (user_key);
SELECT profenrich.drop_model('products32');

-- Category affinity: time-decayed shares and lifts, exactly the formula recomputed in SQL
SELECT setseed(0.33);
CREATE TABLE visits AS
SELECT 'c' || (1 + floor(random() * 200)::int) AS customer,
       (ARRAY['books', 'music', 'garden', 'toys', 'sports', 'beauty'])[1 + floor(random() * random() * 6)::int] AS category,
       round((random() * 5)::numeric, 2) AS amount,
       timestamptz '2024-01-01 00:00+00' + random() * interval '300 days' AS ts
FROM generate_series(1, 3000);
SELECT name, algorithm, n_train, metrics->>'users' AS users, metrics->>'items' AS items,
       metrics->>'n_after_as_of' AS after_as_of, metrics->>'as_of' AS as_of
FROM profenrich.train('categories', 'affinity', 'visits', options =>
     '{"user": "customer", "item": "category", "weight": "amount", "time": "ts",
       "half_life_days": 20, "as_of": "2024-09-30 00:00:00+00"}');
CREATE TEMP TABLE decayed AS
SELECT customer, category, sum(amount * 0.5 ^ (extract(epoch FROM timestamptz '2024-09-30 00:00+00' - ts) / 86400 / 20)) AS w
FROM visits WHERE ts <= '2024-09-30 00:00+00' GROUP BY 1, 2 HAVING sum(amount) > 0;
CREATE TEMP TABLE expected AS
SELECT d.customer, d.category, d.w / u.total AS share, (d.w / u.total) / (p.w / t.total) AS lift
FROM decayed d JOIN (SELECT customer, sum(w) AS total FROM decayed GROUP BY 1) u USING (customer)
JOIN (SELECT category, sum(w) AS w FROM decayed GROUP BY 1) p USING (category)
CROSS JOIN (SELECT sum(w) AS total FROM decayed) t;
SELECT (SELECT count(*) FROM expected) AS pairs,
       count(*) AS matched,
       max(abs(a.share - e.share::float8) / e.share::float8) < 1e-12 AS shares_1e12,
       max(abs(a.lift - e.lift::float8) / e.lift::float8) < 1e-12 AS lifts_1e12,
       bool_and(abs(profenrich.affinity('categories', e.customer, e.category) - a.share) = 0) AS affinity_is_share
FROM expected e JOIN LATERAL profenrich.affinities('categories', e.customer) a ON a.item = e.category;
-- the population share is each category's popularity; a customer's categories by share
SELECT bool_and(abs(f.popularity - p.w::float8 / t.total::float8) < 1e-12) AS popularity_is_population_share
FROM profenrich.item_factors('categories') f
JOIN (SELECT category, sum(w) AS w FROM decayed GROUP BY 1) p ON p.category = f.item
CROSS JOIN (SELECT sum(w) AS total FROM decayed) t;
SELECT bool_and(profenrich.top_items('categories', customer, 3) =
                (SELECT array_agg(category ORDER BY share DESC, category) FROM
                  (SELECT category, share FROM expected x WHERE x.customer = e.customer ORDER BY share DESC, category LIMIT 3) s))
       AS top_by_share
FROM (SELECT DISTINCT customer FROM expected) e;
SELECT user_key, items, shares IS NOT NULL AS has_shares, factors IS NULL AS no_factor
FROM profenrich.model_users WHERE model = 'categories' ORDER BY user_key LIMIT 2;
SELECT profenrich.affinity('categories', 'c1'::text, 'no such category') IS NULL AS unknown_category,
       profenrich.affinity('categories', 'nobody'::text, 'books') IS NULL AS unknown_customer,
       (SELECT count(*) FROM profenrich.affinities('categories', 'nobody'::text)) AS no_rows,
       profenrich.top_items('categories', 'nobody'::text, 2) =
         (SELECT array_agg(item ORDER BY popularity DESC, item) FROM
           (SELECT * FROM profenrich.item_factors('categories') ORDER BY popularity DESC, item LIMIT 2) p) AS popularity;
-- a category the customer never visited has share 0
SELECT profenrich.affinity('categories', customer, 'music') AS share
FROM (SELECT customer FROM visits GROUP BY 1 HAVING bool_and(category <> 'music') ORDER BY 1 LIMIT 1) c;
-- similar categories: the Jaccard index of their customers, recomputed in SQL
SELECT bool_and(abs(s.score - j.jaccard) < 1e-15) AS jaccard, count(*) AS similar
FROM profenrich.similar_items('categories', 'books', 10) s
JOIN (SELECT b.category, count(*) FILTER (WHERE a.customer IS NOT NULL)::float8 /
             (count(DISTINCT b.customer) + (SELECT count(DISTINCT customer) FROM decayed WHERE category = 'books') -
              count(*) FILTER (WHERE a.customer IS NOT NULL))::float8 AS jaccard
      FROM decayed b LEFT JOIN decayed a ON a.customer = b.customer AND a.category = 'books'
      WHERE b.category <> 'books' GROUP BY b.category) j ON j.category = s.item;
-- without a time column the weights are not decayed; fold-in computes the same shares
SELECT name FROM profenrich.train('categories_flat', 'affinity', 'visits', options =>
     '{"user": "customer", "item": "category", "weight": "amount"}');
SELECT bool_and(f.top = profenrich.top_items('categories_flat', f.customer, 6)
                AND (SELECT max(abs(x - y)) FROM unnest(f.scores, profenrich.top_item_scores('categories_flat', f.customer, 6)) t(x, y)) < 1e-15)
       AS fold_in_equals_trained
FROM (SELECT customer, profenrich.top_items_for('categories_flat', category, amount::float8, 6) AS top,
             profenrich.top_item_scores_for('categories_flat', category, amount::float8, 6) AS scores
      FROM visits GROUP BY customer) f;

-- enrich: the top items of each profile's customer, by the key column
CREATE TABLE shoppers AS SELECT c AS customer_id, 'customer ' || c AS label FROM generate_series(1, 620) c;
CALL profenrich.enrich('shoppers', array['products'], '{"top": 3, "batch_size": 100}');
SELECT column_name, data_type, col_description('shoppers'::regclass, ordinal_position) AS comment
FROM information_schema.columns WHERE table_name = 'shoppers' AND ordinal_position > 2 ORDER BY ordinal_position;
SELECT count(*) AS profiles,
       count(*) FILTER (WHERE products_top = profenrich.top_items('products', customer_id, 3)) AS same_top,
       count(*) FILTER (WHERE products_top_scores = profenrich.top_item_scores('products', customer_id, 3)) AS same_scores,
       count(*) FILTER (WHERE customer_id > 600 AND products_top = profenrich.top_items('products', -1, 3)) AS unknown_get_popularity
FROM shoppers;
CALL profenrich.enrich('shoppers', array['products'], '{"top": 3, "batch_size": 100}');
SELECT rows_scanned, rows_updated, status FROM profenrich.enrich_runs ORDER BY run_id DESC LIMIT 2;
-- a key column named otherwise, two item models at once, renamed columns
CREATE TABLE crm (cust text, segment text);
INSERT INTO crm SELECT DISTINCT customer, 'x' FROM visits;
CALL profenrich.enrich('crm', array['categories', 'categories_flat'],
                       '{"key": "cust", "top": 2, "columns": {"categories": {"top": "fav_categories"}}}');
SELECT count(*) AS profiles, count(*) FILTER (WHERE fav_categories = profenrich.top_items('categories', cust, 2)) AS same,
       count(categories_top_scores) AS scored, count(categories_flat_top) AS flat
FROM crm;

-- real time: a trigger on the interactions keeps a profile's top products current by fold-in
CREATE FUNCTION refresh_top_products() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE shoppers c SET products_top = f.top
  FROM (SELECT profenrich.top_items_for('products', p.product, p.qty, 3) AS top
        FROM purchases p WHERE p.customer_id = NEW.customer_id) f
  WHERE c.customer_id = NEW.customer_id;
  RETURN NULL;
END $$;
CREATE TRIGGER products_now AFTER INSERT ON purchases FOR EACH ROW EXECUTE FUNCTION refresh_top_products();
INSERT INTO purchases VALUES (610, 'p100', 3), (610, 'p101', 2);
SELECT products_top AS new_customer_top, products_top && ARRAY['p100', 'p101'] AS has_seen
FROM shoppers WHERE customer_id = 610;
SELECT products_top = (SELECT profenrich.top_items_for('products', product, qty, 3) FROM purchases WHERE customer_id = 610)
       AS current
FROM shoppers WHERE customer_id = 610;
DROP TRIGGER products_now ON purchases;

-- drop_model removes the per-user rows of the versions it drops
SELECT model, version, count(*) FROM profenrich.model_users WHERE model = 'products' GROUP BY 1, 2 ORDER BY 2;
SELECT profenrich.drop_model('products', 1);
SELECT model, version, count(*) FROM profenrich.model_users WHERE model = 'products' GROUP BY 1, 2 ORDER BY 2;
SELECT profenrich.drop_model('products_all');
SELECT count(*) AS rows_left FROM profenrich.model_users WHERE model = 'products_all';

-- bad input: each an error with SQLSTATE and hint
CREATE TABLE bad_events (customer int, product text, qty float8, ts date, note json);
INSERT INTO bad_events VALUES (1, 'a', 1, '2024-01-01', '{}'), (2, 'b', 2, '2024-01-02', '{}');
SELECT public.err($$SELECT profenrich.train('x', 'als', 'bad_events')$$);
SELECT public.err($$SELECT profenrich.train('x', 'als', 'bad_events', options => '{"user": "customer"}')$$);
SELECT public.err($$SELECT profenrich.train('x', 'affinity', 'bad_events', options => '{"item": "product"}')$$);
SELECT public.err($$SELECT profenrich.train('x', 'als', 'bad_events', options => '{"user": "nope", "item": "product"}')$$);
SELECT public.err($$SELECT profenrich.train('x', 'als', 'bad_events', options => '{"user": "customer", "item": "product", "weight": "nope"}')$$);
SELECT public.err($$SELECT profenrich.train('x', 'als', 'bad_events', options => '{"user": "customer", "item": "product", "weight": "product"}')$$);
SELECT public.err($$SELECT profenrich.train('x', 'als', 'bad_events', options => '{"user": "note", "item": "product"}')$$);
SELECT public.err($$SELECT profenrich.train('x', 'affinity', 'bad_events', options => '{"user": "customer", "item": "product", "time": "qty"}')$$);
SELECT public.err($$SELECT profenrich.train('x', 'als', 'bad_events', 'qty', options => '{"user": "customer", "item": "product"}')$$);
SELECT public.err($$SELECT profenrich.train('x', 'als', 'bad_events', options => '{"user": "customer", "item": "product", "factors": 0}')$$);
SELECT public.err($$SELECT profenrich.train('x', 'als', 'bad_events', options => '{"user": "customer", "item": "product", "factors": 1001}')$$);
SELECT public.err($$SELECT profenrich.train('x', 'als', 'bad_events', options => '{"user": "customer", "item": "product", "alpha": -1}')$$);
SELECT public.err($$SELECT profenrich.train('x', 'als', 'bad_events', options => '{"user": "customer", "item": "product", "l2": -0.5}')$$);
SELECT public.err($$SELECT profenrich.train('x', 'als', 'bad_events', options => '{"user": "customer", "item": "product", "solver": "lu"}')$$);
SELECT public.err($$SELECT profenrich.train('x', 'als', 'bad_events', options => '{"user": "customer", "item": "product", "half_life_days": 3}')$$);
SELECT public.err($$SELECT profenrich.train('x', 'als', 'bad_events', options => '{"user": "customer", "item": "product", "factors": 2, "init": {"users": {"1": [1]}}}')$$);
SELECT public.err($$SELECT profenrich.train('x', 'als', 'bad_events', options => '{"user": "customer", "item": "product", "factors": 2, "init": {"users": {"7": [1, 2]}}}')$$);
SELECT public.err($$SELECT profenrich.train('x', 'affinity', 'bad_events', options => '{"user": "customer", "item": "product", "half_life_days": 0}')$$);
SELECT public.err($$SELECT profenrich.train('x', 'affinity', 'bad_events', options => '{"user": "customer", "item": "product", "as_of": "2024-01-01"}')$$);
SELECT public.err($$SELECT profenrich.train('x', 'affinity', 'bad_events', options => '{"user": "customer", "item": "product", "time": "ts", "as_of": "soon"}')$$);
-- an infinite time cannot be decayed
INSERT INTO bad_events VALUES (3, 'c', 1, 'infinity', '{}');
SELECT public.err($$SELECT profenrich.train('x', 'affinity', 'bad_events', options => '{"user": "customer", "item": "product", "time": "ts", "half_life_days": 30, "as_of": "2024-06-01"}')$$);
DELETE FROM bad_events WHERE customer = 3;
UPDATE bad_events SET qty = -1 WHERE customer = 2;
SELECT public.err($$SELECT profenrich.train('x', 'als', 'bad_events', options => '{"user": "customer", "item": "product", "weight": "qty"}')$$);
UPDATE bad_events SET qty = 'NaN' WHERE customer = 2;
SELECT public.err($$SELECT profenrich.train('x', 'als', 'bad_events', options => '{"user": "customer", "item": "product", "weight": "qty"}')$$);
UPDATE bad_events SET qty = 0;
SELECT public.err($$SELECT profenrich.train('x', 'als', 'bad_events', options => '{"user": "customer", "item": "product", "weight": "qty"}')$$);
SELECT public.err($$SELECT profenrich.train('x', 'affinity', 'bad_events', options => '{"user": "customer", "item": "product", "time": "ts", "as_of": "2023-01-01"}')$$);
SELECT public.err($$SELECT profenrich.train('x', 'als', 'bad_events', options => '{"user": "customer", "item": "product", "weight": "qty", "seed": 1.5}')$$);
-- scoring
SELECT name FROM profenrich.train('not_items', 'linear', 'shoppers', 'customer_id', ARRAY['label']);
SELECT public.err($$SELECT profenrich.top_items('not_items', 1)$$);
SELECT public.err($$SELECT profenrich.top_items('categories', 'c1'::text, 0)$$);
SELECT public.err($$SELECT * FROM profenrich.recommend('categories', 'c1'::text, -3)$$);
SELECT public.err($$SELECT * FROM profenrich.similar_items('categories', 'books', 0)$$);
SELECT public.err($$SELECT profenrich.top_items('categories', 'c1'::text, 3, 0)$$);
SELECT public.err($$SELECT profenrich.top_items('categories', 'c1'::text, 3, 9)$$);
SELECT public.err($$SELECT * FROM profenrich.affinities('products', 1)$$);
SELECT public.err($$SELECT * FROM profenrich.coefficients('categories')$$);
SELECT public.err($$SELECT profenrich.score('categories', c) FROM crm c$$);
SELECT public.err($$SELECT profenrich.top_items_for('products', product, -1, 3) FROM (VALUES ('p001')) v(product)$$);
SELECT public.err($$SELECT profenrich.top_items_for('products', product, 1, 0) FROM (VALUES ('p001')) v(product)$$);
SELECT public.err($$SELECT profenrich.top_items_for('products', product, 1, n) FROM (VALUES ('p001', 1), ('p002', 2)) v(product, n)$$);
SELECT public.err($$SELECT profenrich.top_items_for('not_items', product, 1, 3) FROM (VALUES ('p001')) v(product)$$);
SELECT public.err($$CALL profenrich.enrich('crm', array['products'])$$);
SELECT public.err($$CALL profenrich.enrich('crm', array['categories'], '{"key": "nope"}')$$);
SELECT public.err($$CALL profenrich.enrich('crm', array['categories'], '{"key": "cust", "top": 0}')$$);
CREATE TRIGGER wrong BEFORE INSERT ON crm FOR EACH ROW EXECUTE FUNCTION profenrich.enrich_trigger('categories');
SELECT public.err($$INSERT INTO crm VALUES ('c1', 'y')$$);
DROP TRIGGER wrong ON crm;
-- scoring an item model needs SELECT on its per-user rows
CREATE ROLE regress_profenrich_items;
GRANT USAGE ON SCHEMA public TO regress_profenrich_items;
SET ROLE regress_profenrich_items;
SELECT public.err($$SELECT profenrich.top_items('categories', 'c1'::text, 2)$$);
RESET ROLE;
GRANT SELECT ON profenrich.model_users TO regress_profenrich_items;
SET ROLE regress_profenrich_items;
SELECT profenrich.top_items('categories', 'c1'::text, 2) IS NOT NULL AS granted_can_score;
RESET ROLE;
REVOKE ALL ON profenrich.model_users FROM regress_profenrich_items;
REVOKE ALL ON SCHEMA public FROM regress_profenrich_items;
DROP ROLE regress_profenrich_items;
SELECT profenrich.drop_model(name) FROM (VALUES ('not_items'), ('categories_flat')) v(name);
RESET client_min_messages;
