-- Monitoring of deployed models: the training baseline, drift, ROC curve, calibration, confusion
-- matrix, best threshold, the drift log; each result recomputed in SQL from the rows (an
-- independent path: plain aggregates over score()), every user error with its SQLSTATE and hint.
SET client_min_messages = warning;
-- 2000 profiles without randomness: u is a fixed pseudo-uniform draw per row; churned follows a
-- logistic model of age, visits and vip; channel has five values and NULL, visits some NULLs
CREATE TABLE mon_people AS
SELECT i AS id,
       (18 + (i * 37) % 60)::int AS age,
       CASE WHEN i % 17 = 0 THEN NULL ELSE ((i * 7919) % 1000) / 10.0 END AS visits,
       (ARRAY['web', 'store', 'app', 'phone', 'mail', NULL])[1 + (i % 6)] AS channel,
       ((i * 13) % 7 < 3) AS vip,
       ((i::bigint * 2654435761) % 1000003) / 1000003.0 AS u
FROM generate_series(1, 2000) i;
ALTER TABLE mon_people ADD COLUMN churned boolean, ADD COLUMN spend float8;
UPDATE mon_people
SET churned = u < 1 / (1 + exp(-(-2.5 + 0.05 * age - 0.02 * coalesce(visits, 50) + 0.8 * vip::int))),
    spend = 20 + 0.5 * age + 1.2 * coalesce(visits, 50) + 15 * vip::int + 10 * (u - 0.5);
ALTER TABLE mon_people ADD PRIMARY KEY (id), DROP COLUMN u;
SELECT count(*) AS n, count(*) FILTER (WHERE churned) AS churned, count(visits) AS with_visits,
       count(channel) AS with_channel FROM mon_people;
-- max_categories 3: channel keeps its three most frequent values, app and store (334 rows
-- each), then mail (the first in byte order of the 333-row ties), and folds phone and web into
-- "(other)"
SELECT name, n_train, n_test FROM profenrich.train('m_log', 'logistic', 'mon_people', 'churned',
       ARRAY['age', 'visits', 'channel', 'vip'], '{"max_categories": 3}');
SELECT name, n_train, n_test FROM profenrich.train('m_lin', 'linear', 'mon_people', 'spend',
       ARRAY['age', 'visits', 'channel', 'vip']);
SELECT features->'columns'->2 AS channel_spec FROM profenrich.models WHERE name = 'm_log';

-- On the training data itself every feature's PSI is 0: the baseline counted these rows
-- (categories: every row of the source; numbers: every training and test row, 2000 < 20,000).
-- The score's baseline is the training split's: close to, not exactly, every row's.
SELECT m.name, d.feature, d.psi < 1e-12 OR (d.feature = '(score)' AND d.psi < 0.01) AS near_zero,
       d.status, (d.detail->>'rows')::int AS rows, (d.detail->>'baseline_rows')::int AS baseline_rows
FROM unnest(ARRAY['m_log', 'm_lin']) m(name), LATERAL profenrich.drift(m.name) d;

-- The streaming path (over profenrich.max_train_memory) stores the same baseline from its row
-- samples: the features' PSI is 0 on the training data too
SET profenrich.max_train_memory = '64kB';
SELECT name, metrics->>'path' AS path FROM profenrich.train('m_stream', 'logistic', 'mon_people', 'churned',
       ARRAY['age', 'visits', 'channel', 'vip'], '{"max_categories": 3}');
RESET profenrich.max_train_memory;
SELECT bool_and(psi < 1e-12) FILTER (WHERE feature <> '(score)') AS features_zero,
       bool_and(psi < 0.01) FILTER (WHERE feature = '(score)') AS score_near_zero,
       (SELECT array_agg(detail ORDER BY feature) FROM profenrich.drift('m_stream') WHERE feature <> '(score)')
       = (SELECT array_agg(detail ORDER BY feature) FROM profenrich.drift('m_log') WHERE feature <> '(score)')
         AS same_feature_baseline_as_in_memory
FROM profenrich.drift('m_stream');

-- The bins of a numeric feature: deciles of the training values (the smallest value whose
-- cumulative share reaches k/10: percentile_disc), then NULL
SELECT array_agg((b->>'upper')::float8 ORDER BY o) FILTER (WHERE b->>'upper' IS NOT NULL) =
       (SELECT array_agg(DISTINCT q::float8 ORDER BY q::float8)
        FROM (SELECT percentile_disc(k / 10.0) WITHIN GROUP (ORDER BY visits) AS q
              FROM mon_people, generate_series(1, 9) k GROUP BY k) s) AS edges_are_deciles,
       array_agg(b->>'bin' ORDER BY o) AS bins
FROM profenrich.drift('m_log') d, jsonb_array_elements(d.detail->'bins') WITH ORDINALITY AS e(b, o)
WHERE d.feature = 'visits';
-- the same for skewed values, ties and a far outlier (found by a histogram, not a sort)
CREATE TABLE mon_dist AS
SELECT i AS id, floor(exp((i % 97) / 10.0)) AS heavy,
       CASE WHEN i % 3 = 0 THEN -1e10 ELSE (i * 31 % 1000) / 7.0 END AS outlier,
       ((i::bigint * 2654435761) % 1000003) / 1000003.0 AS u, (i * 48271) % 100 < 30 AS y
FROM generate_series(1, 5000) i;
ALTER TABLE mon_dist ADD PRIMARY KEY (id);
SELECT name FROM profenrich.train('m_dist', 'logistic', 'mon_dist', 'y', ARRAY['heavy', 'outlier', 'u']);
SELECT d.feature,
       (SELECT array_agg((b->>'upper')::float8 ORDER BY o) FILTER (WHERE b->>'upper' IS NOT NULL)
        FROM jsonb_array_elements(d.detail->'bins') WITH ORDINALITY AS e(b, o))
     = (SELECT array_agg(DISTINCT q ORDER BY q)
        FROM (SELECT percentile_disc(k / 10.0) WITHIN GROUP (ORDER BY CASE d.feature WHEN 'heavy' THEN heavy
                       WHEN 'outlier' THEN outlier ELSE u END)::float8 AS q
              FROM mon_dist, generate_series(1, 9) k GROUP BY k) s) AS edges_are_deciles
FROM profenrich.drift('m_dist') d WHERE d.feature <> '(score)';
-- few distinct values: each its own bin; a boolean: false, true, NULL; categories: levels, (other), NULL
SELECT d.feature, array_agg(b->>'bin' ORDER BY o) AS bins,
       array_agg(round((b->>'baseline')::numeric, 4) ORDER BY o) AS baseline
FROM profenrich.drift('m_log') d, jsonb_array_elements(d.detail->'bins') WITH ORDINALITY AS e(b, o)
WHERE d.feature IN ('vip', 'channel') GROUP BY d.feature ORDER BY d.feature;

-- A shifted copy: ages 15 years older, channels moved to 'app' and a new value 'kiosk'
CREATE TABLE mon_shifted AS
SELECT id, age + 15 AS age, visits,
       CASE WHEN id % 4 = 0 THEN 'app' WHEN id % 9 = 0 THEN 'kiosk' ELSE channel END AS channel,
       vip, churned, spend
FROM mon_people;
SELECT feature, round(psi::numeric, 4) AS psi, status FROM profenrich.drift('m_log', 'mon_shifted');
-- status reads the PSI: below 0.1 stable, to 0.25 moderate, beyond a shift
SELECT bool_and(status = CASE WHEN psi < 0.1 THEN 'stable' WHEN psi <= 0.25 THEN 'moderate'
                              ELSE 'shift' END) AS status_consistent
FROM (SELECT * FROM profenrich.drift('m_log', 'mon_shifted')
      UNION ALL SELECT * FROM profenrich.drift('m_lin', 'mon_shifted')) d;

-- The categorical PSI recomputed in SQL: shares of each vocabulary level, of "(other)" and of
-- NULL in the training source and in the copy, an empty share counted as 1e-4
CREATE TEMP TABLE vocab AS
SELECT jsonb_array_elements_text(features->'columns'->2->'levels') AS level
FROM profenrich.models WHERE name = 'm_log';
CREATE FUNCTION pg_temp.channel_shares(t regclass) RETURNS TABLE (bin text, share float8)
LANGUAGE plpgsql AS $$
BEGIN
  RETURN QUERY EXECUTE format(
    'SELECT b, count(*)::float8 / sum(count(*)) OVER () FROM (SELECT CASE WHEN channel IS NULL THEN ''NULL''
       WHEN channel IN (SELECT level FROM vocab) THEN channel ELSE ''(other)'' END AS b FROM %s) s
     GROUP BY b', t);
END $$;
WITH bins AS (SELECT level AS bin FROM vocab UNION ALL VALUES ('(other)'), ('NULL')),
     e AS (SELECT bins.bin, coalesce(s.share, 0) AS share FROM bins
           LEFT JOIN pg_temp.channel_shares('mon_people') s USING (bin)),
     a AS (SELECT bins.bin, coalesce(s.share, 0) AS share FROM bins
           LEFT JOIN pg_temp.channel_shares('mon_shifted') s USING (bin)),
     smoothed AS (SELECT CASE WHEN e.share = 0 THEN 1e-4 ELSE e.share END AS e,
                         CASE WHEN a.share = 0 THEN 1e-4 ELSE a.share END AS a
                  FROM e JOIN a USING (bin)),
     sql_psi AS (SELECT sum((a - e) * ln(a / e)) AS psi, count(*) AS bins FROM smoothed)
SELECT s.bins, round(s.psi::numeric, 6) AS sql_psi, abs(d.psi - s.psi) < 1e-12 AS psi_matches, d.status
FROM sql_psi s, profenrich.drift('m_log', 'mon_shifted') d WHERE d.feature = 'channel';
-- a numeric feature's current shares recomputed in SQL from the stored edges
WITH bins AS (
  SELECT o, (b->>'upper')::float8 AS upper, lag((b->>'upper')::float8) OVER (ORDER BY o) AS lower,
         b->>'bin' AS bin, (b->>'current')::float8 AS current
  FROM profenrich.drift('m_log', 'mon_shifted') d,
       jsonb_array_elements(d.detail->'bins') WITH ORDINALITY AS e(b, o) WHERE d.feature = 'age')
SELECT bool_and(abs(current - (SELECT count(*) FILTER (
         WHERE CASE WHEN bins.bin = 'NULL' THEN s.age IS NULL
                    ELSE s.age > coalesce(bins.lower, '-Infinity') AND s.age <= coalesce(bins.upper, 'Infinity') END
       )::float8 / count(*) FROM mon_shifted s)) < 1e-15) AS age_shares_match,
       count(*) AS bins
FROM bins;

-- ROC curve: the trapezoids under every point equal the AUC, on the model's test split (the
-- AUC stored at training) and on a relation (the auc aggregate over score)
CREATE FUNCTION pg_temp.roc_area(q text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE a float8;
BEGIN
  EXECUTE 'SELECT sum((fpr - pf) * (tpr + pt) / 2) FROM (SELECT fpr, tpr, lag(fpr) OVER w AS pf,
           lag(tpr) OVER w AS pt FROM (' || q || ') r WINDOW w AS (ORDER BY threshold DESC)) s' INTO a;
  RETURN a;
END $$;
SELECT abs(pg_temp.roc_area($$SELECT * FROM profenrich.roc_curve('m_log', points => 100000)$$)
           - (metrics->'test'->>'auc')::float8) < 1e-12 AS test_split_area_is_auc,
       abs(pg_temp.roc_area($$SELECT * FROM profenrich.roc_curve('m_log', 'mon_people', 100000)$$)
           - (SELECT profenrich.auc(profenrich.score('m_log', p), churned) FROM mon_people p)) < 1e-12
         AS relation_area_is_auc,
       abs(pg_temp.roc_area($$SELECT * FROM profenrich.roc_curve('m_log', 'mon_people')$$)
           - (SELECT profenrich.auc(profenrich.score('m_log', p), churned) FROM mon_people p)) < 0.005
         AS area_of_100_points_near_auc
FROM profenrich.models WHERE name = 'm_log';
SELECT count(*) AS points, min(threshold) < 0.5 AS reaches_low, max(threshold) AS top,
       bool_or(tpr = 1 AND fpr = 1) AS ends_at_1_1, bool_or(tpr = 0 AND fpr = 0) AS starts_at_0_0
FROM profenrich.roc_curve('m_log', 'mon_people', 10);
-- every point's rates and precision recomputed from the scores
WITH s AS (SELECT profenrich.score('m_log', p) AS p, churned FROM mon_people p)
SELECT bool_and(abs(r.tpr - x.tp / x.pos) < 1e-15 AND abs(r.fpr - x.fp / x.neg) < 1e-15
                AND (r.precision IS NULL AND x.tp + x.fp = 0 OR abs(r.precision - x.tp / (x.tp + x.fp)) < 1e-15))
         AS roc_points_match, count(*) AS points
FROM profenrich.roc_curve('m_log', 'mon_people', 25) r,
     LATERAL (SELECT count(*) FILTER (WHERE p >= r.threshold AND churned)::float8 AS tp,
                     count(*) FILTER (WHERE p >= r.threshold AND NOT churned)::float8 AS fp,
                     count(*) FILTER (WHERE churned)::float8 AS pos,
                     count(*) FILTER (WHERE NOT churned)::float8 AS neg FROM s) x;

-- Calibration: bins of equal width over [0, 1] recomputed in SQL, for 10 and 7 bins
CREATE FUNCTION pg_temp.calibration_matches(k int) RETURNS boolean LANGUAGE sql AS $$
  WITH s AS (SELECT profenrich.score('m_log', p) AS p, churned FROM mon_people p),
       b AS (SELECT least(floor(p * k)::int, k - 1) + 1 AS bin, count(*) AS n, avg(p) AS mp,
                    avg(churned::int) AS rate FROM s GROUP BY 1),
       c AS (SELECT * FROM profenrich.calibration('m_log', 'mon_people', k))
  SELECT count(*) = k AND bool_and(coalesce(b.n, 0) = c.n
           AND (c.n = 0 AND c.mean_predicted IS NULL AND c.observed_rate IS NULL
                OR abs(c.mean_predicted - b.mp) < 1e-12 AND abs(c.observed_rate - b.rate) < 1e-12))
  FROM c LEFT JOIN b USING (bin) $$;
SELECT pg_temp.calibration_matches(10) AS ten_bins, pg_temp.calibration_matches(7) AS seven_bins;
SELECT bin, n, round(mean_predicted::numeric, 3) AS mean_predicted,
       round(observed_rate::numeric, 3) AS observed_rate
FROM profenrich.calibration('m_log', 'mon_people') WHERE n > 0;
-- the expected calibration error in evaluate: the row-weighted mean |mean score - rate| of 10 bins
WITH s AS (SELECT profenrich.score('m_log', p) AS p, churned FROM mon_people p),
     b AS (SELECT count(*) AS n, avg(p) AS mp, avg(churned::int) AS rate
           FROM s GROUP BY least(floor(p * 10)::int, 9))
SELECT abs((profenrich.evaluate('m_log', 'mon_people')->>'ece')::float8
           - (SELECT sum(n * abs(mp - rate)) / sum(n) FROM b)) < 1e-12 AS ece_matches;

-- Confusion matrix of the binary model at its threshold (0.5) and at 0.35, recomputed in SQL
CREATE FUNCTION pg_temp.confusion_matches(t float8, q text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE ok boolean;
BEGIN
  EXECUTE 'WITH s AS (SELECT churned::text AS actual, (profenrich.score(''m_log'', p) >= $1)::text AS predicted
                      FROM mon_people p),
                c AS (SELECT * FROM (' || q || ') c)
           SELECT count(*) = 4 AND bool_and(c.n = (SELECT count(*) FROM s WHERE s.actual = c.actual
                                                   AND s.predicted = c.predicted)) FROM c'
  INTO ok USING t;
  RETURN ok;
END $$;
SELECT pg_temp.confusion_matches(0.5, $$SELECT * FROM profenrich.confusion_matrix('m_log', 'mon_people')$$) AS at_model_threshold,
       pg_temp.confusion_matches(0.35, $$SELECT * FROM profenrich.confusion_matrix('m_log', 'mon_people', 0.35)$$) AS at_035;
SELECT * FROM profenrich.confusion_matrix('m_log', 'mon_people', 0.35);
-- a model trained with the option threshold uses it by default
SELECT name FROM profenrich.train('m_log_t', 'logistic', 'mon_people', 'churned',
       ARRAY['age', 'visits', 'channel', 'vip'], '{"max_categories": 3, "threshold": 0.35}');
SELECT (SELECT array_agg(n ORDER BY actual, predicted) FROM profenrich.confusion_matrix('m_log_t', 'mon_people'))
     = (SELECT array_agg(n ORDER BY actual, predicted) FROM profenrich.confusion_matrix('m_log', 'mon_people', 0.35))
       AS default_is_own_threshold;
-- the test split of the model: its rows number n_test
SELECT sum(n) = (SELECT n_test FROM profenrich.models WHERE name = 'm_log') AS test_split_rows
FROM profenrich.confusion_matrix('m_log');

-- Best threshold: every distinct score tried as a threshold in SQL, the best kept (ties: the higher)
CREATE FUNCTION pg_temp.best(metric text) RETURNS TABLE (threshold float8, value float8) LANGUAGE sql AS $$
  WITH s AS (SELECT profenrich.score('m_log', p) AS p, churned FROM mon_people p),
       t AS (SELECT DISTINCT p AS threshold FROM s UNION ALL SELECT 'Infinity'),
       c AS (SELECT t.threshold, count(*) FILTER (WHERE s.p >= t.threshold AND churned)::float8 AS tp,
                    count(*) FILTER (WHERE s.p >= t.threshold AND NOT churned)::float8 AS fp,
                    count(*) FILTER (WHERE churned)::float8 AS pos, count(*) FILTER (WHERE NOT churned)::float8 AS neg
             FROM t, s GROUP BY t.threshold),
       v AS (SELECT threshold, CASE metric WHEN 'f1' THEN 2 * tp / (2 * tp + fp + (pos - tp))
                                           WHEN 'youden' THEN tp / pos - fp / neg
                                           ELSE -(fp * 1 + (pos - tp) * 5) END AS v FROM c)
  SELECT threshold, CASE WHEN metric IN ('f1', 'youden') THEN v ELSE -v END
  FROM v ORDER BY v DESC, threshold DESC LIMIT 1 $$;
SELECT m AS metric, b.threshold = r.threshold AS same_threshold, abs(b.value - r.value) < 1e-12 AS same_value,
       round(b.threshold::numeric, 4) AS threshold, round(b.value::numeric, 4) AS value
FROM unnest(ARRAY['f1', 'youden', '{"fp": 1, "fn": 5}']) m,
     LATERAL profenrich.best_threshold('m_log', 'mon_people', m) b,
     LATERAL pg_temp.best(CASE WHEN m LIKE '{%' THEN 'cost' ELSE m END) r;
SELECT count(*) AS rows, bool_and(threshold > 0 AND threshold < 1) AS a_probability
FROM profenrich.best_threshold('m_log');

-- The drift log: CALL log_drift appends one row per feature and the score
CALL profenrich.log_drift('m_log', 'mon_shifted');
CALL profenrich.log_drift('m_log');
SELECT source, feature, round(psi::numeric, 4) AS psi, status, rows, logged_by = current_user AS by_caller,
       detail = (SELECT detail FROM profenrich.drift('m_log', 'mon_shifted') d WHERE d.feature = l.feature)
         OR source <> 'public.mon_shifted' AS detail_as_drift
FROM profenrich.drift_log l WHERE model = 'm_log' ORDER BY logged_at, source DESC, feature;
SELECT count(DISTINCT logged_at) AS checks, count(*) AS rows FROM profenrich.drift_log WHERE model = 'm_log';

-- Only the extension's code writes it; a row is visible to roles that may read its source
CREATE ROLE mon_reader;
CREATE ROLE mon_stranger;
CREATE TABLE mon_no_label AS SELECT id, age, visits, channel, vip FROM mon_people;
GRANT SELECT ON mon_people TO mon_reader;
GRANT SELECT (id, age, channel, vip) ON mon_no_label TO mon_reader;
SET ROLE mon_reader;
CALL profenrich.log_drift('m_log', 'mon_people');
SELECT count(*) AS rows_visible_to_reader, count(*) FILTER (WHERE logged_by = 'mon_reader') AS own
FROM profenrich.drift_log WHERE model = 'm_log';
SELECT public.err($$INSERT INTO profenrich.drift_log (model, version, source, feature, rows, logged_by)
                    VALUES ('m_log', 1, 'public.mon_people', 'age', 1, 'mon_reader')$$);
SELECT public.err($$UPDATE profenrich.drift_log SET psi = 0$$);
SELECT public.err($$DELETE FROM profenrich.drift_log$$);
SELECT public.err($$CALL profenrich.log_drift('m_log', 'mon_shifted')$$);
SELECT public.err($$SELECT * FROM profenrich.drift('m_log', 'mon_no_label')$$);
RESET ROLE;
SET ROLE mon_stranger;
SELECT count(*) AS rows_visible_to_stranger FROM profenrich.drift_log WHERE model = 'm_log';
RESET ROLE;
SELECT count(*) AS rows_visible_to_owner FROM profenrich.drift_log WHERE model = 'm_log';

-- Immune to the caller's search_path: hostile functions and operators first on the path
CREATE SCHEMA mon_evil;
CREATE FUNCTION mon_evil.boom(bigint) RETURNS bigint LANGUAGE plpgsql AS $$BEGIN RAISE 'hostile aggregate'; END $$;
CREATE FUNCTION mon_evil.boom(numeric, bigint) RETURNS numeric LANGUAGE plpgsql AS $$BEGIN RAISE 'hostile aggregate'; END $$;
CREATE AGGREGATE mon_evil.count(*) (SFUNC = mon_evil.boom, STYPE = bigint, INITCOND = 0);
CREATE AGGREGATE mon_evil.sum(bigint) (SFUNC = mon_evil.boom, STYPE = numeric);
CREATE FUNCTION mon_evil.row_number() RETURNS bigint LANGUAGE plpgsql AS $$BEGIN RAISE 'hostile row_number'; END $$;
CREATE FUNCTION mon_evil.le(bigint, integer) RETURNS boolean LANGUAGE plpgsql AS $$BEGIN RAISE 'hostile <='; END $$;
CREATE OPERATOR mon_evil.<= (LEFTARG = bigint, RIGHTARG = integer, FUNCTION = mon_evil.le);
CREATE FUNCTION mon_evil.text(integer) RETURNS text LANGUAGE plpgsql AS $$BEGIN RAISE 'hostile text'; END $$;
SET search_path = mon_evil, pg_catalog, public;
SELECT name FROM profenrich.train('m_evil', 'logistic', 'mon_people', 'churned',
       ARRAY['age', 'channel'], '{"max_categories": 3}');
SELECT pg_catalog.count(*) AS drift_rows FROM profenrich.drift('m_evil', 'mon_shifted');
SELECT pg_catalog.count(*) AS roc_points FROM profenrich.roc_curve('m_evil', 'mon_people', 10);
SELECT pg_catalog.count(*) AS cells FROM profenrich.confusion_matrix('m_evil');
CALL profenrich.log_drift('m_evil');
RESET search_path;
DROP SCHEMA mon_evil CASCADE;

-- Bad input: SQLSTATE, message and hint
CREATE TABLE mon_no_visits AS SELECT id, age, channel, vip, churned FROM mon_people;
CREATE TABLE mon_empty AS SELECT * FROM mon_people WHERE false;
SELECT public.err($$SELECT * FROM profenrich.drift('m_log', 'mon_no_visits')$$);
SELECT public.err($$SELECT * FROM profenrich.roc_curve('m_log', 'mon_no_label')$$);
SELECT public.err($$SELECT * FROM profenrich.drift('m_log', 'mon_empty')$$);
SELECT public.err($$SELECT * FROM profenrich.drift('no_such_model')$$);
SELECT public.err($$SELECT * FROM profenrich.drift(NULL)$$);
SELECT public.err($$SELECT * FROM profenrich.drift('m_log', 'profenrich.models_model_id_seq')$$);
SELECT public.err($$SELECT * FROM profenrich.roc_curve('m_log', 'mon_people', 1)$$);
SELECT public.err($$SELECT * FROM profenrich.calibration('m_log', 'mon_people', 1)$$);
SELECT public.err($$SELECT * FROM profenrich.calibration('m_log', 'mon_people', 0)$$);
SELECT public.err($$SELECT * FROM profenrich.roc_curve('m_lin')$$);
SELECT public.err($$SELECT * FROM profenrich.calibration('m_lin')$$);
SELECT public.err($$SELECT * FROM profenrich.best_threshold('m_lin')$$);
SELECT public.err($$SELECT * FROM profenrich.confusion_matrix('m_lin')$$);
SELECT public.err($$SELECT * FROM profenrich.best_threshold('m_log', NULL, 'accuracy')$$);
SELECT public.err($$SELECT * FROM profenrich.best_threshold('m_log', NULL, '{"fp": 1}')$$);
SELECT public.err($$SELECT * FROM profenrich.best_threshold('m_log', NULL, '{"fp": 1, "fm": 5}')$$);
SELECT public.err($$SELECT * FROM profenrich.best_threshold('m_log', NULL, '{"fp": -1, "fn": 2}')$$);
SELECT public.err($$SELECT * FROM profenrich.best_threshold('m_log', NULL, '{"fp": 0, "fn": 0}')$$);
SELECT public.err($$SELECT * FROM profenrich.confusion_matrix('m_log', NULL, 1.5)$$);
SELECT public.err($$SELECT * FROM profenrich.confusion_matrix('m_log', NULL, 'NaN')$$);
SELECT public.err($$SELECT * FROM profenrich.roc_curve('m_log', 'mon_empty')$$);
CREATE TABLE mon_one_class AS SELECT * FROM mon_people WHERE churned;
SELECT public.err($$SELECT * FROM profenrich.best_threshold('m_log', 'mon_one_class')$$);
-- a test split that cannot be found again: none, or no key to hash
SELECT name FROM profenrich.train('m_all', 'logistic', 'mon_people', 'churned', ARRAY['age'],
       '{"test_fraction": 0}');
CREATE TABLE mon_nokey AS SELECT * FROM mon_people;
SELECT name FROM profenrich.train('m_nokey', 'logistic', 'mon_nokey', 'churned', ARRAY['age']);
SELECT public.err($$SELECT * FROM profenrich.roc_curve('m_all')$$);
-- without a key the split hashes each row's values, and is found again the same way
SELECT sum(n) = (SELECT n_test FROM profenrich.models WHERE name = 'm_nokey') AS keyless_test_split,
       abs(pg_temp.roc_area($$SELECT * FROM profenrich.roc_curve('m_nokey', points => 100000)$$)
           - (SELECT (metrics->'test'->>'auc')::float8 FROM profenrich.models WHERE name = 'm_nokey')) < 1e-12
         AS keyless_area_is_auc
FROM profenrich.calibration('m_nokey');
SELECT count(*) AS drift_without_key_reads_the_source FROM profenrich.drift('m_nokey');
-- models trained by 0.4.0 without a key (sql/lazy_numerics.sql): their split is found again as
-- evaluate finds it, except the streamed one's; they have no baseline
CREATE TABLE public.legacy_src AS
SELECT i,
       ((i * 7919) % 1000) / 100.0::float8 AS a,
       CASE WHEN i % 11 = 0 THEN NULL ELSE ((i * 104729) % 997) / 99.7::float8 END AS b,
       (ARRAY['x', 'y', 'z'])[1 + i % 3] AS c
FROM generate_series(1, 3000) AS i;
ALTER TABLE public.legacy_src
  ADD COLUMN y float8, ADD COLUMN label boolean;
UPDATE public.legacy_src
   SET y = 1 + 0.5 * a - 0.3 * coalesce(b, 5) + (c = 'y')::int + ((i * 31337) % 1009) / 1009.0,
       label = ((i * 48271) % 1000) / 1000.0 < 1 / (1 + exp(-0.8 * (a - 5) + (c = 'z')::int));
\set ECHO none
\i test/data/legacy_keyless_models.sql
\set ECHO all
SELECT abs(pg_temp.roc_area($$SELECT * FROM profenrich.roc_curve('legacy_logm', points => 100000)$$)
           - (metrics->'test'->>'auc')::float8) < 1e-12 AS legacy_area_is_auc,
       (SELECT sum(n) FROM profenrich.calibration('legacy_logm')) = n_test AS legacy_test_rows
FROM profenrich.models WHERE name = 'legacy_logm';
SELECT public.err($$SELECT * FROM profenrich.roc_curve('legacy_logs')$$);
SELECT public.err($$SELECT * FROM profenrich.drift('legacy_logm')$$);
SELECT count(profenrich.drop_model(name)) AS legacy_dropped
FROM (SELECT DISTINCT name FROM profenrich.models WHERE name LIKE 'legacy\_%') m;
DROP TABLE public.legacy_src;
-- the training source dropped: drift without a source says so
CREATE TABLE mon_gone AS SELECT * FROM mon_people;
SELECT name FROM profenrich.train('m_gone', 'logistic', 'mon_gone', 'churned', ARRAY['age']);
DROP TABLE mon_gone;
SELECT public.err($$SELECT * FROM profenrich.drift('m_gone')$$);

-- A model without a baseline (one trained by 0.4.0: see sql/formats.sql), here a 0.5.0 model whose
-- baseline section is cut off; malformed sections are corrupt (XX001)
-- m_lin's params end with its one section, the baseline: tag 2, its length, its bytes
CREATE TEMP TABLE cut AS
SELECT params, p AS at FROM profenrich.models, generate_series(0, length(params) - 10) p
WHERE name = 'm_lin' AND substring(params FROM p + 1 FOR 6) = '\x000000010002'::bytea
  AND p + 10 + (get_byte(params, p + 6) << 24 | get_byte(params, p + 7) << 16
                | get_byte(params, p + 8) << 8 | get_byte(params, p + 9)) = length(params);
SELECT count(*) AS sections_found FROM cut;
CREATE FUNCTION pg_temp.with_params(p bytea) RETURNS void LANGUAGE sql AS $$
  UPDATE profenrich.models SET params = p WHERE name = 'm_lin' $$;
-- no section: no baseline
SELECT pg_temp.with_params(substring(params FROM 1 FOR at) || '\x00000000'::bytea) FROM cut;
SELECT public.err($$SELECT * FROM profenrich.drift('m_lin')$$);
SELECT profenrich.score('m_lin', p) IS NOT NULL AS still_scores FROM mon_people p WHERE id = 1;
-- the last share of the score's bins set to 2
SELECT pg_temp.with_params(substring(params FROM 1 FOR length(params) - 8) || '\x4000000000000000'::bytea) FROM cut;
SELECT public.err($$SELECT * FROM profenrich.drift('m_lin')$$);
-- a baseline for another number of columns
SELECT pg_temp.with_params(overlay(params PLACING '\x00000009'::bytea FROM at + 13 FOR 4)) FROM cut;
SELECT public.err($$SELECT * FROM profenrich.drift('m_lin')$$);
-- the section's length one byte short
SELECT pg_temp.with_params(overlay(params PLACING int4send(length(params) - at - 11) FROM at + 7 FOR 4)) FROM cut;
SELECT public.err($$SELECT * FROM profenrich.drift('m_lin')$$);
SELECT pg_temp.with_params(params) FROM cut;
SELECT count(*) AS restored FROM profenrich.drift('m_lin');

-- Holdout check of a purchase model: simulated customers (fixed seed) of a BG/NBD process with
-- r = 0.25, alpha = 4, a = 0.8, b = 2.5 observed for t weeks, then 39 weeks more
\i test/data/clv_simulate.sql
CREATE FUNCTION pg_temp.simulate_holdout(n int) RETURNS TABLE (id int, frequency int, recency float8,
                                                              t float8, holdout int)
LANGUAGE plpgsql AS $$
DECLARE lam float8; p float8; g1 float8; clock float8;
BEGIN
  FOR i IN 1..n LOOP
    id := i;
    t := 4 + 48 * random();
    lam := pg_temp.rgamma(0.25, 4);
    g1 := pg_temp.rgamma(0.8, 1);
    p := g1 / (g1 + pg_temp.rgamma(2.5, 1));
    frequency := 0; recency := 0; clock := 0; holdout := 0;
    LOOP
      clock := clock - ln(1 - random()) / lam;
      EXIT WHEN clock > t + 39;
      IF clock <= t THEN
        frequency := frequency + 1;
        recency := clock;
      ELSE
        holdout := holdout + 1;
      END IF;
      EXIT WHEN random() < p;
    END LOOP;
    RETURN NEXT;
  END LOOP;
END $$;
SELECT setseed(0.1313);
CREATE TABLE mon_holdout AS SELECT * FROM pg_temp.simulate_holdout(4000);
SELECT name, (metrics->>'converged')::bool AS converged FROM profenrich.train('m_bg', 'bgnbd', 'mon_holdout');
-- each group recomputed in SQL: the mean holdout count, and expected_purchases averaged
WITH h AS (SELECT * FROM profenrich.holdout_check('m_bg', 'mon_holdout', 'holdout', 39)),
     s AS (SELECT least(frequency, 7) AS frequency, count(*) AS customers, avg(holdout) AS actual_mean,
                  avg(profenrich.expected_purchases('m_bg', 39, frequency, recency, t)) AS expected_mean
           FROM mon_holdout GROUP BY ROLLUP (least(frequency, 7)))
SELECT h.frequency, h.customers, round(h.actual_mean::numeric, 3) AS actual_mean,
       round(h.expected_mean::numeric, 3) AS expected_mean,
       h.customers = s.customers AND abs(h.actual_mean - s.actual_mean) < 1e-12
         AND abs(h.expected_mean - s.expected_mean) < 1e-9 * s.expected_mean AS matches_sql
FROM h JOIN s ON h.frequency IS NOT DISTINCT FROM s.frequency ORDER BY h.frequency NULLS LAST;
-- a 'clv' model checks its purchase submodel; NULL inputs are left out, a group without customers is NULL
CREATE TABLE mon_holdout2 AS
SELECT *, CASE WHEN frequency > 0 THEN 10 + (id * 7) % 23 + 0.5 * frequency ELSE 0 END AS monetary
FROM mon_holdout;
CREATE VIEW mon_holdout_v AS
SELECT id, frequency, recency, t, CASE WHEN id % 10 <> 0 THEN holdout END AS holdout
FROM mon_holdout2 WHERE frequency < 5;
SELECT name FROM profenrich.train('m_clv', 'clv', 'mon_holdout2');
SELECT frequency, customers, actual_mean IS NULL AS no_mean,
       customers = (SELECT count(*) FROM mon_holdout_v v WHERE v.holdout IS NOT NULL
                    AND (h.frequency IS NULL OR least(v.frequency, 7) = h.frequency)) AS nulls_left_out
FROM profenrich.holdout_check('m_clv', 'mon_holdout_v', 'holdout', 39) h;
SELECT (SELECT array_agg(round(expected_mean::numeric, 12)) FROM profenrich.holdout_check('m_clv', 'mon_holdout', 'holdout', 39))
     = (SELECT array_agg(round(expected_mean::numeric, 12)) FROM profenrich.holdout_check('m_bg', 'mon_holdout', 'holdout', 39))
       AS clv_uses_its_bgnbd;
-- bad input
CREATE TABLE mon_bad_holdout AS SELECT id, frequency, recency, t, holdout::text AS holdout_text,
  -holdout AS negative FROM mon_holdout;
CREATE VIEW mon_half AS SELECT frequency + 0.5 AS frequency, recency, t, holdout FROM mon_holdout;
CREATE VIEW mon_late AS SELECT frequency, t + 1 AS recency, t, holdout FROM mon_holdout;
SELECT public.err($$SELECT * FROM profenrich.holdout_check('m_lin', 'mon_holdout', 'holdout', 39)$$);
SELECT public.err($$SELECT * FROM profenrich.holdout_check('m_bg', 'mon_holdout', 'holdout', -1)$$);
SELECT public.err($$SELECT * FROM profenrich.holdout_check('m_bg', 'mon_holdout', 'holdout', 'Infinity')$$);
SELECT public.err($$SELECT * FROM profenrich.holdout_check('m_bg', 'mon_holdout', 'nope', 39)$$);
SELECT public.err($$SELECT * FROM profenrich.holdout_check('m_bg', 'mon_bad_holdout', 'holdout_text', 39)$$);
SELECT public.err($$SELECT * FROM profenrich.holdout_check('m_bg', 'mon_bad_holdout', 'negative', 39)$$);
SELECT public.err($$SELECT * FROM profenrich.holdout_check('m_bg', 'mon_people', 'age', 39)$$);
SELECT public.err($$SELECT * FROM profenrich.holdout_check('m_bg', 'mon_half', 'holdout', 39)$$);
SELECT public.err($$SELECT * FROM profenrich.holdout_check('m_bg', 'mon_late', 'holdout', 39)$$);
SELECT public.err($$SELECT * FROM profenrich.holdout_check('m_bg', NULL, 'holdout', 39)$$);
-- a lifetime-value model has no feature baseline: holdout_check is its check
SELECT public.err($$SELECT * FROM profenrich.drift('m_bg', 'mon_holdout')$$);

SELECT profenrich.drop_model(name) FROM (SELECT DISTINCT name FROM profenrich.models
  WHERE name IN ('m_log', 'm_stream', 'm_dist', 'm_lin', 'm_log_t', 'm_evil', 'm_all', 'm_nokey', 'm_gone', 'm_bg', 'm_clv')) s;
DROP TABLE mon_people, mon_dist, mon_shifted, mon_no_visits, mon_empty, mon_no_label, mon_one_class, mon_nokey,
           mon_holdout, mon_holdout2, mon_bad_holdout CASCADE;
DELETE FROM profenrich.drift_log WHERE model LIKE 'm\_%';
DROP OWNED BY mon_reader, mon_stranger;
DROP ROLE mon_reader, mon_stranger;
