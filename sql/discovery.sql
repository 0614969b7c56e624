-- Discovery: profile_summary against SQL's own aggregates on a fixed table (exact where exact is
-- promised, within the documented error otherwise), feature_report against measures recomputed
-- in SQL, a forced parallel plan and partition-wise partial aggregation (serialize, combine,
-- deserialize) equal to the serial result, and every bad input.
SELECT setseed(0.42);
CREATE TYPE disc_tier AS ENUM ('bronze', 'silver', 'gold');
CREATE TABLE disc AS
SELECT i AS id,
       CASE WHEN random() < 0.05 THEN NULL ELSE random() * 100 - 20 END AS x,
       floor(random() * random() * 10)::int AS k,
       round((random() * 50)::numeric, 2) AS amount,
       (i::bigint * 7919) % 100003 AS big,
       CASE WHEN random() < 0.3 THEN 0 ELSE random() END AS z,
       CASE WHEN random() < 0.1 THEN NULL ELSE random() < 0.35 END AS flag,
       CASE WHEN random() < 0.08 THEN NULL
            ELSE (ARRAY['free', 'basic', 'premium', 'trial'])[1 + floor(random() ^ 2 * 4)::int] END AS plan,
       CASE WHEN random() < 0.2 THEN 'HOT' ELSE 'c' || (i % 12000) END AS code,
       (ARRAY['bronze', 'silver', 'gold']::disc_tier[])[1 + floor(random() * 3)::int] AS tier,
       date '2024-01-01' + floor(random() * 365)::int AS day,
       timestamptz '2024-01-01 00:00:00+00' + random() * interval '90 days' AS ts,
       decode(md5(i::text), 'hex') AS blob
FROM generate_series(1, 30000) i;
ANALYZE disc;

-- The documented bound of the quantile sketch's rank error, as a share of n values:
-- (floor(log2(n / 4095)) + 1) / 4095 beyond 4095 values (0 below: no compaction).
CREATE FUNCTION pg_temp.rank_bound(n bigint) RETURNS float8 LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN n < 4095 THEN 0 ELSE (floor(log(2, n / 4095.0)) + 1) / 4095 END $$;

-- What SQL says of a column (expr: the column as the numbers profile_summary summarizes)
CREATE FUNCTION pg_temp.ref(col text, expr text)
RETURNS TABLE (n bigint, nulls bigint, mean float8, sd float8, lo float8, hi float8, q float8[], nd bigint)
LANGUAGE plpgsql AS $$
BEGIN
  RETURN QUERY EXECUTE format(
    'SELECT count(%1$I), count(*) - count(%1$I), avg(%2$s)::float8, stddev(%2$s)::float8,
            min(%2$s)::float8, max(%2$s)::float8,
            percentile_cont(ARRAY[0.01, 0.25, 0.5, 0.75, 0.99]) WITHIN GROUP (ORDER BY %2$s),
            count(DISTINCT %1$I) FROM disc', col, expr);
END $$;

-- Is v within the sketch's bound of quantile q of expr? Its 0-based ranks [lo, hi) in the
-- sorted values must come within bound * n of q (n - 1), where percentile_cont takes it.
CREATE FUNCTION pg_temp.rank_ok(expr text, q float8, v float8, tbl text DEFAULT 'disc') RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE lo bigint; hi bigint; n bigint;
BEGIN
  EXECUTE format('SELECT count(*) FILTER (WHERE %1$s < $1), count(*) FILTER (WHERE %1$s <= $1),
                         count(%1$s) FROM %2$I', expr, tbl) INTO lo, hi, n USING v;
  RETURN lo <= q * (n - 1) + 1 + pg_temp.rank_bound(n) * n AND hi >= q * (n - 1) - pg_temp.rank_bound(n) * n;
END $$;

-- The columns as numbers (dates and timestamps in days since 1970-01-01)
CREATE TEMP TABLE exprs (col text, expr text, exact boolean);
INSERT INTO exprs VALUES
  ('id', 'id', false), ('x', 'x', false), ('k', 'k', true), ('amount', 'amount', true),
  ('big', 'big', false), ('z', 'z', false), ('flag', 'flag::int', true),
  ('day', '(day - date ''1970-01-01'')', true),
  ('ts', '(extract(epoch FROM ts) / 86400)', false);

-- every column but blob (bytea: skipped with a NOTICE), in order
CREATE TEMP TABLE ps AS SELECT * FROM profenrich.profile_summary('disc');
SELECT column_name, type, n, nulls, round(null_share::numeric, 4) AS null_share FROM ps;

-- n is count(col), nulls the rest; mean and sd as avg and stddev (1e-12 relative), range exact
SELECT p.column_name, p.n = r.n AS n_ok, p.nulls = r.nulls AS nulls_ok,
       abs(p.mean - r.mean) <= 1e-12 * abs(r.mean) AS mean_ok,
       abs(p.sd - r.sd) <= 1e-12 * r.sd AS sd_ok,
       p.min = r.lo AND p.max = r.hi AS range_exact
FROM ps p JOIN exprs e ON e.col = p.column_name, LATERAL pg_temp.ref(e.col, e.expr) r
ORDER BY p.column_name;

-- columns of at most 8191 distinct values: quantiles are percentile_cont's, to the bit, and the
-- distinct count exact; the others within the rank bound, and the estimate within 5%
SELECT p.column_name, e.exact,
       CASE WHEN e.exact THEN ARRAY[p.p01, p.p25, p.median, p.p75, p.p99] = r.q
            ELSE pg_temp.rank_ok(e.expr, 0.01, p.p01) AND pg_temp.rank_ok(e.expr, 0.25, p.p25)
                 AND pg_temp.rank_ok(e.expr, 0.5, p.median) AND pg_temp.rank_ok(e.expr, 0.75, p.p75)
                 AND pg_temp.rank_ok(e.expr, 0.99, p.p99) END AS quantiles_ok,
       CASE WHEN e.exact THEN p.distinct_values = r.nd
            ELSE abs(p.distinct_values - r.nd) <= 0.05 * r.nd END AS distinct_ok
FROM ps p JOIN exprs e ON e.col = p.column_name, LATERAL pg_temp.ref(e.col, e.expr) r
ORDER BY p.column_name;

-- texts and enums: counts, exact distinct counts, no moments
SELECT p.column_name, p.n = count(d.v) AS n_ok, p.distinct_values = count(DISTINCT d.v) AS distinct_ok,
       p.mean IS NULL AND p.sd IS NULL AND p.median IS NULL AS no_moments
FROM ps p, LATERAL (SELECT CASE p.column_name WHEN 'plan' THEN plan WHEN 'tier' THEN tier::text END AS v
                    FROM disc) d
WHERE p.column_name IN ('plan', 'tier')
GROUP BY p.column_name, p.n, p.distinct_values, p.mean, p.sd, p.median ORDER BY 1;

-- top values of exact columns: the 10 most frequent with their counts, ties by value, as SQL
-- counts them (dates in ISO form, as to_jsonb writes them)
SELECT p.column_name, p.top_values = t.top AS top_values_exact
FROM ps p JOIN (
  SELECT c, jsonb_agg(jsonb_build_object('value', v, 'count', cnt) ORDER BY cnt DESC, o) AS top
  FROM (SELECT c, v, cnt, o, row_number() OVER (PARTITION BY c ORDER BY cnt DESC, o) AS rn
        FROM (SELECT 'k' AS c, to_jsonb(k) AS v, count(*) AS cnt, k::text AS o FROM disc GROUP BY k
              UNION ALL SELECT 'amount', to_jsonb(amount), count(*), lpad(amount::text, 10) FROM disc GROUP BY amount
              UNION ALL SELECT 'flag', to_jsonb(flag), count(*), flag::text FROM disc WHERE flag IS NOT NULL GROUP BY flag
              UNION ALL SELECT 'plan', to_jsonb(plan), count(*), plan COLLATE "C" FROM disc WHERE plan IS NOT NULL GROUP BY plan
              UNION ALL SELECT 'tier', to_jsonb(tier), count(*), tier::text COLLATE "C" FROM disc GROUP BY tier
              UNION ALL SELECT 'day', to_jsonb(day), count(*), day::text FROM disc GROUP BY day) u) r
  WHERE rn <= 10 GROUP BY c) t ON t.c = p.column_name
ORDER BY 1;
SELECT top_values FROM ps WHERE column_name IN ('plan', 'flag', 'tier') ORDER BY column_name;

-- beyond 8191 distinct values: a number's frequent values come from the sketch, within
-- count_error (z is 0 in about 30% of rows, continuous otherwise; x and id repeat nothing) ...
SELECT jsonb_array_length(p.top_values) AS listed, p.top_values->0->>'value' AS value,
       abs((p.top_values->0->>'count')::bigint - (SELECT count(*) FROM disc WHERE z = 0))
         <= (p.top_values->0->>'count_error')::bigint AS count_within_error
FROM ps p WHERE column_name = 'z';
SELECT column_name, top_values FROM ps WHERE column_name IN ('x', 'id') ORDER BY 1;
-- ... and a text's from Misra-Gries counters: a lower bound within count_error of the truth
SELECT p.top_values->0->>'value' AS value,
       (p.top_values->0->>'count')::bigint <= t.cnt
       AND t.cnt - (p.top_values->0->>'count')::bigint <= (p.top_values->0->>'count_error')::bigint AS count_within_error,
       abs(p.distinct_values - (SELECT count(DISTINCT code) FROM disc)) <= 0.05 * 12001 AS distinct_ok
FROM ps p, (SELECT count(*) AS cnt FROM disc WHERE code = 'HOT') t WHERE column_name = 'code';

-- named columns, in the order given; a column NULL in every row has n 0 and no statistics
ALTER TABLE disc ADD COLUMN nothing float8;
SELECT column_name, n, nulls, distinct_values, mean, min, median, top_values
FROM profenrich.profile_summary('disc', ARRAY['nothing', 'k']);

-- one value: sd NULL (as stddev), every quantile that value
CREATE TABLE disc_one AS SELECT 42.5::float8 AS v;
SELECT column_name, n, mean, sd, min, p01, median, max, top_values FROM profenrich.profile_summary('disc_one');

-- identifiers are quoted: a column named like an injection is just a column
CREATE TABLE "disc_we""ird" ("x""; DROP TABLE disc; --" int, "Mixed Case" text);
INSERT INTO "disc_we""ird" VALUES (1, 'a'), (2, 'b'), (2, NULL);
SELECT column_name, n, nulls, distinct_values, top_values FROM profenrich.profile_summary('"disc_we""ird"');

-- immune to the caller's search_path: nothing resolves through it
SET search_path = '';
SELECT column_name, n FROM profenrich.profile_summary('public.disc_one');
SELECT feature, measure FROM profenrich.feature_report('public.disc', 'flag', ARRAY['k']);
RESET search_path;

-- row-level security applies: the pass reads what the caller may read
CREATE TABLE disc_rls AS SELECT i, i % 2 = 0 AS even FROM generate_series(1, 1000) i;
ALTER TABLE disc_rls ENABLE ROW LEVEL SECURITY;
CREATE POLICY only_even ON disc_rls FOR SELECT USING (even);
CREATE ROLE disc_reader;
GRANT SELECT ON disc_rls TO disc_reader;
GRANT SELECT (k) ON disc TO disc_reader;
SET ROLE disc_reader;
SELECT column_name, n, min, max FROM profenrich.profile_summary('disc_rls', ARRAY['i']);
SELECT public.err($$SELECT * FROM profenrich.profile_summary('disc', ARRAY['k', 'x'])$$);
SELECT column_name, n FROM profenrich.profile_summary('disc', ARRAY['k']);
RESET ROLE;

-- disc_wide relations: more columns than one aggregate call takes (98) are still one scan
SELECT format('CREATE TABLE disc_wide AS SELECT %s FROM generate_series(1, 100) g',
              string_agg(format('g * %s AS c%s', i, i), ', ')) FROM generate_series(1, 130) i \gexec
SELECT count(*) AS rows, bool_and(n = 100) AS all_counted,
       bool_and(max = 100 * substr(column_name, 2)::int) AS each_its_own
FROM profenrich.profile_summary('disc_wide');
SELECT count(*) AS features, bool_and(measure = 'pearson') AS all_numeric
FROM profenrich.feature_report('disc_wide', 'c1');

-- feature_report against a binary target -------------------------------------------------
SELECT setseed(0.11);
CREATE TABLE disc_fr AS
SELECT i AS id, s AS signal,
       round(s::numeric, 1) AS coarse,
       CASE WHEN random() < 0.1 THEN NULL ELSE (ARRAY['a', 'b', 'c', 'd'])[1 + floor(random() * 4)::int] END AS cat,
       random() AS noise,
       0.0::float8 AS y
FROM (SELECT i, random() * 4 - 2 AS s FROM generate_series(1, 40000) i) g;
UPDATE disc_fr SET y = 2 * signal + CASE cat WHEN 'a' THEN 1 WHEN 'b' THEN -1 ELSE 0 END + random() * 2;
ALTER TABLE disc_fr ADD COLUMN churned boolean, ADD COLUMN churn01 int, ADD COLUMN outcome text;
UPDATE disc_fr SET churned = random() < 1 / (1 + exp(-(signal + CASE cat WHEN 'a' THEN 1 WHEN 'b' THEN -0.5 ELSE 0 END)));
UPDATE disc_fr SET churn01 = churned::int, outcome = CASE WHEN churned THEN 'left' ELSE 'stayed' END;
ANALYZE disc_fr;

CREATE TEMP TABLE rep AS
SELECT * FROM profenrich.feature_report('disc_fr', 'churned', ARRAY['signal', 'coarse', 'cat', 'noise']);
SELECT feature, kind, round(missing_share::numeric, 4) AS missing_share, round(strength::numeric, 4) AS strength,
       measure, round(information_value::numeric, 4) AS iv, detail->>'positive' AS positive,
       detail->>'exact' AS exact
FROM rep;

-- the univariate AUC recomputed in SQL: Mann-Whitney with average ranks, over rows with a value;
-- exact for coarse (41 values), within the reported auc_error for signal (sketches)
CREATE FUNCTION pg_temp.auc_sql(expr text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE a float8;
BEGIN
  EXECUTE format('SELECT (sum(r) FILTER (WHERE churned) - p * (p + 1) / 2) / (p * q)
                  FROM (SELECT churned, (rank() OVER w + count(*) OVER (PARTITION BY v) - 1 + rank() OVER w) / 2.0 AS r,
                               count(*) FILTER (WHERE churned) OVER () AS p, count(*) FILTER (WHERE NOT churned) OVER () AS q
                        FROM (SELECT churned, %s AS v FROM disc_fr) s WHERE v IS NOT NULL WINDOW w AS (ORDER BY v)) t
                  GROUP BY p, q', expr) INTO a;
  RETURN a;
END $$;
SELECT feature, abs((detail->>'auc')::float8 - pg_temp.auc_sql(feature)) <= coalesce((detail->>'auc_error')::float8, 1e-12)
         AS auc_ok,
       coalesce((detail->>'auc_error')::float8 <= 2 * pg_temp.rank_bound(20000), (detail->>'exact')::boolean)
         AS exact_or_error_within_documented
FROM rep WHERE feature IN ('signal', 'coarse', 'noise') ORDER BY feature;

-- a category's AUC: categories (NULL one of them) scored by their positive rate
SELECT abs((r.detail->>'auc')::float8 - a.auc) < 1e-12 AS category_auc_ok
FROM rep r, (SELECT (sum(rk) FILTER (WHERE churned) - p * (p + 1) / 2) / (p * q) AS auc
             FROM (SELECT churned, (rank() OVER w + count(*) OVER (PARTITION BY rate) - 1 + rank() OVER w) / 2.0 AS rk,
                          count(*) FILTER (WHERE churned) OVER () AS p, count(*) FILTER (WHERE NOT churned) OVER () AS q
                   FROM (SELECT churned, avg(churned::int::float8) OVER (PARTITION BY cat) AS rate FROM disc_fr) s
                   WINDOW w AS (ORDER BY rate)) t GROUP BY p, q) a
WHERE r.feature = 'cat';

-- information value recomputed in SQL: for coarse (exact) over equal-frequency bins with edges
-- at percentile_disc(0.1, ..., 0.9), a (missing) bin, 0.5 for an empty cell
WITH edges AS MATERIALIZED (SELECT DISTINCT unnest(percentile_disc(ARRAY[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
                                      WITHIN GROUP (ORDER BY coarse)) AS e FROM disc_fr),
binned AS (SELECT churned, (SELECT min(e) FROM edges WHERE e >= f.coarse) AS upper FROM disc_fr f),
cells AS (SELECT upper, count(*) FILTER (WHERE churned) AS bad, count(*) FILTER (WHERE NOT churned) AS good
          FROM binned GROUP BY upper),
tot AS (SELECT count(*) FILTER (WHERE churned) AS b, count(*) FILTER (WHERE NOT churned) AS g FROM disc_fr)
SELECT abs(r.information_value - s.iv) < 1e-12 AS coarse_iv_ok, r.detail->'bins' = s.bins AS coarse_bins_exact
FROM rep r,
     (SELECT sum((greatest(good, 0.5) / g - greatest(bad, 0.5) / b) * ln((greatest(good, 0.5) / g) / (greatest(bad, 0.5) / b))) AS iv,
             jsonb_agg(jsonb_build_object('upper', upper, 'n', good + bad, 'positives', bad,
                                          'rate', bad / (good + bad),
                                          'woe', ln((greatest(good, 0.5) / g) / (greatest(bad, 0.5) / b)))
                       ORDER BY upper NULLS LAST) AS bins
      FROM (SELECT upper, good::float8, bad::float8 FROM cells) c, (SELECT g::float8, b::float8 FROM tot) t) s
WHERE r.feature = 'coarse';
-- for signal (sketches): every bin's counts within the reported rank errors of the counts SQL
-- finds for the same edges
SELECT bool_and(abs(b.n - s.n) <= 2 * ((r.detail->'rank_error'->>'negatives')::float8 + (r.detail->'rank_error'->>'positives')::float8)
                AND abs(b.pos - s.pos) <= 2 * (r.detail->'rank_error'->>'positives')::float8) AS signal_bins_within_error,
       count(*) AS bins
FROM rep r,
     LATERAL (SELECT (x->>'upper')::float8 AS upper, lag((x->>'upper')::float8) OVER (ORDER BY o) AS lower,
                     (x->>'n')::float8 AS n, (x->>'positives')::float8 AS pos
              FROM jsonb_array_elements(r.detail->'bins') WITH ORDINALITY AS j(x, o)) b,
     LATERAL (SELECT count(*) AS n, count(*) FILTER (WHERE churned) AS pos FROM disc_fr
              WHERE (b.lower IS NULL OR signal > b.lower) AND (b.upper IS NULL OR signal <= b.upper)) s
WHERE r.feature = 'signal';
-- the category's information value over its levels and (missing)
SELECT abs(r.information_value - s.iv) < 1e-12 AS category_iv_ok
FROM rep r,
     (SELECT sum((greatest(good, 0.5) / g - greatest(bad, 0.5) / b) * ln((greatest(good, 0.5) / g) / (greatest(bad, 0.5) / b))) AS iv
      FROM (SELECT cat, count(*) FILTER (WHERE churned)::float8 AS bad, count(*) FILTER (WHERE NOT churned)::float8 AS good
            FROM disc_fr GROUP BY cat) c,
           (SELECT count(*) FILTER (WHERE churned)::float8 AS b, count(*) FILTER (WHERE NOT churned)::float8 AS g FROM disc_fr) t) s
WHERE r.feature = 'cat';

-- a view as the source; a category with few rows each (2,000 codes over 40,000 rows) gets a note
CREATE VIEW disc_fr_v AS SELECT churned, (id % 2000)::text AS code, cat FROM disc_fr;
SELECT feature, round(strength::numeric, 2) AS strength, detail->>'categories' AS categories, detail->>'note' AS note
FROM profenrich.feature_report('disc_fr_v', 'churned');

-- the same report from a 0/1 integer target and from a two-valued text target (positive: the
-- less frequent value), equal to the boolean one
SELECT count(*) AS features,
       bool_and(abs(a.strength - b.strength) < 1e-12 AND abs(a.information_value - b.information_value) < 1e-12) AS int01_same,
       bool_and(abs(a.strength - c.strength) < 1e-12 AND abs(a.information_value - c.information_value) < 1e-12) AS text_same,
       min(c.detail->>'positive') AS text_positive
FROM rep a
JOIN profenrich.feature_report('disc_fr', 'churn01', ARRAY['signal', 'coarse', 'cat', 'noise']) b USING (feature)
JOIN profenrich.feature_report('disc_fr', 'outcome', ARRAY['signal', 'coarse', 'cat', 'noise']) c USING (feature);
SELECT count(*) FILTER (WHERE churned) AS left_count, count(*) FILTER (WHERE NOT churned) AS stayed_count FROM disc_fr;

-- against a numeric target: Pearson as corr(), Spearman as corr() of average ranks (exact: the
-- sample holds every row up to 20,000), eta from the categories' means
CREATE TABLE disc_frs AS SELECT * FROM disc_fr WHERE id <= 15000;
CREATE TEMP TABLE rep_num AS
SELECT * FROM profenrich.feature_report('disc_frs', 'y', ARRAY['signal', 'coarse', 'cat', 'noise']);
SELECT feature, kind, measure, round(strength::numeric, 4) AS strength, information_value FROM rep_num;
SELECT r.feature,
       abs((r.detail->>'pearson')::float8 - c.p) <= 1e-12 AS pearson_ok,
       abs((r.detail->>'spearman')::float8 - c.s) <= 1e-12 AS spearman_ok,
       (r.detail->>'spearman_exact')::boolean AS spearman_exact
FROM rep_num r,
     LATERAL (SELECT corr(v, y) AS p, corr(rv, ry) AS s
              FROM (SELECT v, y, (rank() OVER (ORDER BY v) + rank() OVER (ORDER BY v) + count(*) OVER (PARTITION BY v) - 1) / 2.0 AS rv,
                           (rank() OVER (ORDER BY y) + rank() OVER (ORDER BY y) + count(*) OVER (PARTITION BY y) - 1) / 2.0 AS ry
                    FROM (SELECT CASE r.feature WHEN 'signal' THEN signal WHEN 'coarse' THEN coarse::float8 ELSE noise END AS v, y
                          FROM disc_frs) s) t) c
WHERE r.feature IN ('signal', 'coarse', 'noise') ORDER BY r.feature;
SELECT abs(r.strength - sqrt(b.between / t.total)) < 1e-12 AS eta_ok
FROM rep_num r,
     (SELECT sum(n * (m - (SELECT avg(y) FROM disc_frs)) ^ 2) AS between
      FROM (SELECT count(*) AS n, avg(y) AS m FROM disc_frs GROUP BY cat) g) b,
     (SELECT sum((y - (SELECT avg(y) FROM disc_frs)) ^ 2) AS total FROM disc_frs) t
WHERE r.feature = 'cat';
-- beyond 20,000 rows Spearman comes from a 20,000-row sample
SELECT (detail->>'spearman_exact')::boolean AS exact, (detail->>'spearman_rows')::int AS rows,
       abs((detail->>'spearman')::float8 - (detail->>'pearson')::float8) < 0.05 AS close_to_pearson
FROM profenrich.feature_report('disc_fr', 'y', ARRAY['signal']);

-- forced parallel plans: Partial Aggregate in workers, combined through serialize/deserialize,
-- the same results as serial plans ---------------------------------------------------------
SET max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE ps_serial AS SELECT * FROM profenrich.profile_summary('disc');
CREATE TEMP TABLE rep_serial AS SELECT * FROM profenrich.feature_report('disc_fr', 'churned');
CREATE TEMP TABLE num_serial AS SELECT * FROM profenrich.feature_report('disc_fr', 'y', ARRAY['signal', 'cat']);
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
EXPLAIN (COSTS OFF) SELECT profenrich.profile_stats(ARRAY['x', 'plan'], x, plan) FROM public.disc;
EXPLAIN (COSTS OFF) SELECT profenrich.feature_stats(ARRAY['churned', 'signal'], churned, signal) FROM public.disc_fr;
CREATE TEMP TABLE ps_par AS SELECT * FROM profenrich.profile_summary('disc');
CREATE TEMP TABLE rep_par AS SELECT * FROM profenrich.feature_report('disc_fr', 'churned');
CREATE TEMP TABLE num_par AS SELECT * FROM profenrich.feature_report('disc_fr', 'y', ARRAY['signal', 'cat']);
CREATE TEMP TABLE text_par AS SELECT * FROM profenrich.feature_report('disc_fr', 'outcome', ARRAY['coarse', 'cat']);
RESET parallel_leader_participation;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
-- counts, ranges, exact columns' quantiles, distinct counts and top values identical; means and
-- sds to rounding; the sketched columns within the bound, as serial
SELECT s.column_name,
       s.n = p.n AND s.nulls = p.nulls AND s.min IS NOT DISTINCT FROM p.min AND s.max IS NOT DISTINCT FROM p.max AS counts_equal,
       coalesce(abs(s.mean - p.mean) <= 1e-12 * abs(s.mean) AND abs(s.sd - p.sd) <= 1e-12 * s.sd, true) AS moments_equal,
       CASE WHEN e.exact OR e.col IS NULL
            THEN ARRAY[s.p01, s.p25, s.median, s.p75, s.p99] IS NOT DISTINCT FROM ARRAY[p.p01, p.p25, p.median, p.p75, p.p99]
                 AND s.distinct_values = p.distinct_values AND s.top_values = p.top_values
            ELSE pg_temp.rank_ok(e.expr, 0.01, p.p01) AND pg_temp.rank_ok(e.expr, 0.5, p.median)
                 AND pg_temp.rank_ok(e.expr, 0.99, p.p99) AND abs(s.distinct_values - p.distinct_values) <= 0.05 * s.distinct_values
       END AS rest_equal_or_within_bound
FROM ps_serial s JOIN ps_par p USING (column_name) LEFT JOIN exprs e ON e.col = s.column_name
WHERE s.column_name <> 'code' ORDER BY 1;
SELECT s.feature, s.kind = p.kind AND s.measure = p.measure AS same_kind,
       CASE WHEN (s.detail->>'exact')::boolean IS NOT false
            THEN abs(s.strength - p.strength) < 1e-12 AND abs(s.information_value - p.information_value) < 1e-12
            ELSE abs(s.strength - p.strength) <= (s.detail->>'auc_error')::float8 + (p.detail->>'auc_error')::float8 END
         AS same_or_within_error
FROM rep_serial s JOIN rep_par p USING (feature) ORDER BY 1;
SELECT s.feature, abs(s.strength - p.strength) < 1e-12 AS same_strength,
       abs((s.detail->>'pearson')::float8 - (p.detail->>'pearson')::float8) < 1e-12 AS same_pearson
FROM num_serial s JOIN num_par p USING (feature) ORDER BY 1;
SELECT s.feature, p.detail->>'positive' AS positive, abs(s.strength - p.strength) < 1e-12 AS same_strength,
       abs(s.information_value - p.information_value) < 1e-12 AS same_iv
FROM rep_serial s JOIN text_par p USING (feature) ORDER BY 1;

-- partition-wise partial aggregation: each partition's state serialized, combined in a fixed
-- order; partitions exact alone (5,000 values each) and together not (10,000)
CREATE TABLE disc_parts (p int, v float8, t text, lbl boolean, answer text) PARTITION BY LIST (p);
CREATE TABLE disc_parts1 PARTITION OF disc_parts FOR VALUES IN (1);
CREATE TABLE disc_parts2 PARTITION OF disc_parts FOR VALUES IN (2);
CREATE TABLE disc_parts3 PARTITION OF disc_parts FOR VALUES IN (3);
INSERT INTO disc_parts SELECT 1, i, 'a' || (i % 5000), i % 3 = 0 FROM generate_series(1, 5000) i;
INSERT INTO disc_parts SELECT 2, i, 'b' || (i % 5000), i % 4 = 0 FROM generate_series(5001, 10000) i;
INSERT INTO disc_parts SELECT 3, 7, 'c', true FROM generate_series(1, 3000) i;
-- a text target whose first value is 'no' in disc_parts1 and 'yes' in disc_parts3: the states number
-- their classes differently, and combining aligns them
UPDATE disc_parts SET answer = CASE WHEN lbl THEN 'yes' ELSE 'no' END;
ANALYZE disc_parts;
SET enable_partitionwise_aggregate = on;
SET max_parallel_workers_per_gather = 0;
EXPLAIN (COSTS OFF) SELECT profenrich.profile_stats(ARRAY['v'], v) FROM public.disc_parts;
SELECT column_name, n, distinct_values, mean, min, max, top_values FROM profenrich.profile_summary('disc_parts', ARRAY['v', 't']);
SELECT bool_and(pg_temp.rank_ok('v', x.q, x.val, 'disc_parts')) AS quantiles_within_bound
FROM profenrich.profile_summary('disc_parts', ARRAY['v']) s,
     LATERAL (VALUES (0.01, s.p01), (0.25, s.p25), (0.5, s.median), (0.75, s.p75), (0.99, s.p99)) x(q, val);
-- t: 10,001 values, too many for a category measure; v: AUC within its error of SQL's
CREATE TEMP TABLE rep_parts AS SELECT * FROM profenrich.feature_report('disc_parts', 'lbl', ARRAY['v', 't']);
SELECT feature, a.detail->>'positive' AS positive, abs(a.strength - r.strength) < 1e-12 AS same_strength,
       abs(a.information_value - r.information_value) < 1e-12 AS same_iv
FROM profenrich.feature_report('disc_parts', 'answer', ARRAY['v']) a JOIN rep_parts r USING (feature);
RESET enable_partitionwise_aggregate;
CREATE TEMP TABLE rep_parts_plain AS SELECT * FROM profenrich.feature_report('disc_parts', 'lbl', ARRAY['v', 't']);
RESET max_parallel_workers_per_gather;
SELECT r.feature, r.strength IS NULL AS no_strength, r.detail->>'categories' AS categories,
       abs((r.detail->>'auc')::float8 - a.auc) <= (r.detail->>'auc_error')::float8 AS auc_within_error,
       abs((p.detail->>'auc')::float8 - a.auc) <= (p.detail->>'auc_error')::float8 AS plain_within_error
FROM rep_parts r JOIN rep_parts_plain p USING (feature),
     (SELECT (sum(rk) FILTER (WHERE lbl) - np * (np + 1) / 2) / (np * nq) AS auc
      FROM (SELECT lbl, (rank() OVER w + count(*) OVER (PARTITION BY v) - 1 + rank() OVER w) / 2.0 AS rk,
                   count(*) FILTER (WHERE lbl) OVER () AS np, count(*) FILTER (WHERE NOT lbl) OVER () AS nq
            FROM disc_parts WINDOW w AS (ORDER BY v)) t GROUP BY np, nq) a
ORDER BY 1;

-- bad input: each an error with a SQLSTATE and a hint ---------------------------------------
CREATE TABLE disc_empty (a float8, b boolean);
CREATE TABLE disc_nan AS SELECT 'NaN'::float8 AS a, true AS b UNION ALL SELECT 1, false;
CREATE TABLE disc_nulltarget AS SELECT NULL::boolean AS b, 1.0::float8 AS a;
CREATE TABLE disc_oneclass AS SELECT true AS b, i::float8 AS a FROM generate_series(1, 10) i;
CREATE SEQUENCE disc_seq;
SELECT public.err($$SELECT * FROM profenrich.profile_summary(NULL)$$);
SELECT public.err($$SELECT * FROM profenrich.profile_summary('no_such_table')$$);
SELECT public.err($$SELECT * FROM profenrich.profile_summary('disc_seq')$$);
SELECT public.err($$SELECT * FROM profenrich.profile_summary('disc', ARRAY['k', 'nope'])$$);
SELECT public.err($$SELECT * FROM profenrich.profile_summary('disc', ARRAY['k', NULL])$$);
SELECT public.err($$SELECT * FROM profenrich.profile_summary('disc', ARRAY['k', 'k'])$$);
SELECT public.err($$SELECT * FROM profenrich.profile_summary('disc', ARRAY[]::text[])$$);
SELECT public.err($$SELECT * FROM profenrich.profile_summary('disc', ARRAY['blob'])$$);
SELECT public.err($$SELECT * FROM profenrich.profile_summary('disc_empty')$$);
SELECT public.err($$SELECT * FROM profenrich.profile_summary('disc_nan')$$);
SELECT public.err($$SELECT * FROM profenrich.feature_report(NULL, 'b')$$);
SELECT public.err($$SELECT * FROM profenrich.feature_report('disc', NULL)$$);
SELECT public.err($$SELECT * FROM profenrich.feature_report('disc', 'nope')$$);
SELECT public.err($$SELECT * FROM profenrich.feature_report('disc', 'flag', ARRAY['k', 'nope'])$$);
SELECT public.err($$SELECT * FROM profenrich.feature_report('disc', 'flag', ARRAY['flag'])$$);
SELECT public.err($$SELECT * FROM profenrich.feature_report('disc', 'plan')$$);
SELECT public.err($$SELECT * FROM profenrich.feature_report('disc', 'tier')$$);
SELECT public.err($$SELECT * FROM profenrich.feature_report('disc', 'day')$$);
SELECT public.err($$SELECT * FROM profenrich.feature_report('disc', 'blob')$$);
SELECT public.err($$SELECT * FROM profenrich.feature_report('disc', 'flag', ARRAY['blob'])$$);
SELECT public.err($$SELECT * FROM profenrich.feature_report('disc_empty', 'b')$$);
SELECT public.err($$SELECT * FROM profenrich.feature_report('disc_nan', 'b')$$);
SELECT public.err($$SELECT * FROM profenrich.feature_report('disc_nulltarget', 'b')$$);
SELECT public.err($$SELECT * FROM profenrich.feature_report('disc_oneclass', 'b')$$);
-- the aggregates validate what a caller can pass
SELECT public.err($$SELECT profenrich.profile_stats(ARRAY['a'], VARIADIC ARRAY[1.0, 2.0]) FROM disc_one$$);
SELECT public.err($$SELECT profenrich.profile_stats(ARRAY['a'], '{}'::jsonb) FROM disc_one$$);
SELECT public.err($$SELECT profenrich.profile_stats(ARRAY['a', 'b'], v) FROM disc_one$$);
SELECT public.err($$SELECT profenrich.profile_stats(ARRAY[NULL], v) FROM disc_one$$);
SELECT public.err($$SELECT profenrich.feature_stats(ARRAY['t', 'a'], now(), v) FROM disc_one$$);
SELECT length(profenrich.profile_stats(NULL, v)) > 0 AS unnamed_ok FROM disc_one;
SELECT profenrich.profile_stats(ARRAY['v'], v) IS NULL AS no_rows_null FROM disc_one WHERE false;
