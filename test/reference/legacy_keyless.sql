-- A keyless source and three models trained on it by release 0.4.0 (model format 4, whose
-- keyless split hashed each row's bytes with hash_bytes_extended). Run by
-- legacy_keyless_regenerate.sh against a cluster with the 0.4.0 build installed; the
-- INSERT statements it prints are kept in sql/lazy_numerics.sql, which checks that
-- evaluate(name) of this release reproduces those models' test splits.
-- The data are deterministic (no random()), so the test builds the same rows.
\set QUIET on
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS profenrich;
DROP TABLE IF EXISTS public.legacy_src;
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
SELECT profenrich.train('legacy_lin', 'linear', 'public.legacy_src', 'y', ARRAY['a', 'b', 'c']);
SELECT profenrich.train('legacy_logm', 'logistic', 'public.legacy_src', 'label', ARRAY['a', 'b', 'c']);
SET profenrich.max_train_memory = 64;
SELECT profenrich.train('legacy_logs', 'logistic', 'public.legacy_src', 'label', ARRAY['a', 'b', 'c']);
\pset format unaligned
\pset tuples_only on
SELECT format('INSERT INTO profenrich.models (name, version, algorithm, source, target, features, '
              'options, metrics, n_train, n_test, deployed, params) VALUES (%L, %s, %L, %L, %L, %L, '
              '%L, %L, %s, %s, %L, %L);', name, version, algorithm, source, target, features,
              options, metrics, n_train, n_test, deployed, params)
FROM profenrich.models WHERE name LIKE 'legacy\_%' ORDER BY name;
