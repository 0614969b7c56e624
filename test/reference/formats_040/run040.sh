set -e
mkdir -p /tmp/fmt
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE EXTENSION profenrich VERSION '0.4.0';
\i test/reference/formats_040/data.sql
SELECT count(*) FROM profenrich.train('fmt_lin', 'linear', 'fmt_people', 'spend', ARRAY['age','visits','channel','vip']);
SELECT count(*) FROM profenrich.train('fmt_log', 'logistic', 'fmt_people', 'churned', ARRAY['age','visits','channel']);
SELECT count(*) FROM profenrich.train('fmt_clv', 'clv', 'fmt_rfm');
SELECT count(*) FROM profenrich.train('fmt_bg', 'bgnbd', 'fmt_rfm');
\copy (SELECT name, version, algorithm, source, target, features, options, metrics, n_train, n_test, deployed, encode(params, 'hex') FROM profenrich.models ORDER BY model_id) TO '/tmp/fmt/models.tsv'
\copy (SELECT id, profenrich.score('fmt_lin', p), profenrich.score('fmt_log', p), profenrich.percentile('fmt_log', profenrich.score('fmt_log', p)) FROM fmt_people p WHERE id % 50 = 1 ORDER BY id) TO '/tmp/fmt/people_scores.tsv'
\copy (SELECT r.*, profenrich.score('fmt_clv', r), profenrich.score('fmt_bg', r), profenrich.percentile('fmt_clv', profenrich.score('fmt_clv', r)) FROM (VALUES (0, 0.0::float8, 30.0::float8, 0.0::float8), (2, 10.5, 40, 35.5), (7, 30, 31, 80), (1, 1, 52, 12)) r(frequency, recency, t, monetary)) TO '/tmp/fmt/rfm_scores.tsv'
SQL
