-- Every error a user can cause: SQLSTATE, message and hint; the server stays up.
CREATE TABLE bad (id int PRIMARY KEY, x float8, t text, ts timestamptz, n numeric, y float8);
INSERT INTO bad SELECT i, i, 'a', now(), i, 2 * i FROM generate_series(1, 50) i;
CREATE TABLE empty_src (id int PRIMARY KEY, x float8, y float8);
CREATE SEQUENCE a_sequence;

-- relation, column, model
SELECT public.err($$SELECT profenrich.train('m', 'linear', 'no_such_table', 'y')$$);
SELECT public.err($$SELECT profenrich.train('m', 'linear', 'a_sequence', 'y')$$);
SELECT public.err($$SELECT profenrich.train('m', 'linear', 'bad', 'no_such_col')$$);
SELECT public.err($$SELECT profenrich.train('m', 'linear', 'bad', 'y', ARRAY['x', 'nope'])$$);
SELECT public.err($$SELECT profenrich.train('m', 'linear', 'bad', 'y', ARRAY['x'], '{"key": "nope"}')$$);
SELECT public.err($$SELECT profenrich.score('no_such_model', b) FROM bad b$$);
SELECT public.err($$SELECT profenrich.deploy('no_such_model')$$);
SELECT public.err($$SELECT profenrich.rollback('no_such_model')$$);
SELECT public.err($$SELECT profenrich.drop_model('no_such_model')$$);
SELECT public.err($$SELECT * FROM profenrich.coefficients('no_such_model')$$);

-- arguments
SELECT public.err($$SELECT profenrich.train(NULL, 'linear', 'bad', 'y')$$);
SELECT public.err($$SELECT profenrich.train('', 'linear', 'bad', 'y')$$);
SELECT public.err($$SELECT profenrich.train('m', 'forest', 'bad', 'y')$$);
SELECT public.err($$SELECT profenrich.train('m', 'linear', 'bad')$$);
SELECT public.err($$SELECT profenrich.train('m', 'linear', 'bad', 'y', ARRAY['x', 'x'])$$);
SELECT public.err($$SELECT profenrich.train('m', 'linear', 'bad', 'y', ARRAY['x', 'y'])$$);
SELECT public.err($$SELECT profenrich.train('m', 'linear', 'bad', 'y', ARRAY['x', NULL])$$);

-- types
SELECT public.err($$SELECT profenrich.train('m', 'linear', 'bad', 't')$$);
SELECT public.err($$SELECT profenrich.train('m', 'linear', 'bad', 'y', ARRAY['ts'])$$);
SELECT public.err($$SELECT profenrich.train('m', 'linear', 'bad', 'ts')$$);

-- options
SELECT public.err($$SELECT profenrich.train('m', 'linear', 'bad', 'y', NULL, '{"lambda": 1}')$$);
SELECT public.err($$SELECT profenrich.train('m', 'linear', 'bad', 'y', NULL, '{"l2": -1}')$$);
SELECT public.err($$SELECT profenrich.train('m', 'linear', 'bad', 'y', NULL, '{"l2": "big"}')$$);
SELECT public.err($$SELECT profenrich.train('m', 'linear', 'bad', 'y', NULL, '{"test_fraction": 1}')$$);
SELECT public.err($$SELECT profenrich.train('m', 'linear', 'bad', 'y', NULL, '{"impute": "median"}')$$);
SELECT public.err($$SELECT profenrich.train('m', 'linear', 'bad', 'y', NULL, '{"max_categories": 0}')$$);
SELECT public.err($$SELECT profenrich.train('m', 'linear', 'bad', 'y', NULL, '{"seed": 1.5}')$$);
SELECT public.err($$SELECT profenrich.train('m', 'linear', 'bad', 'y', NULL, '{"deploy": "yes"}')$$);
SELECT public.err($$SELECT profenrich.train('m', 'linear', 'bad', 'y', NULL, '{"key": null}')$$);
SELECT public.err($$SELECT profenrich.train('m', 'linear', 'bad', 'y', NULL, '[1, 2]')$$);

-- data
SELECT public.err($$SELECT profenrich.train('m', 'linear', 'empty_src', 'y')$$);
SELECT public.err($$SELECT profenrich.train('m', 'linear', 'bad', 'y', ARRAY['x', 't', 'n'], '{"test_fraction": 0.97}')$$);
-- NaN and infinity: refused under "on_bad_row": "error" (the default skips such rows: see
-- bad_rows.sql)
UPDATE bad SET x = 'NaN' WHERE id = 3;
SELECT public.err($$SELECT profenrich.train('m', 'linear', 'bad', 'y', ARRAY['x'], '{"on_bad_row": "error"}')$$);
UPDATE bad SET x = 3, n = 'NaN' WHERE id = 3;
SELECT public.err($$SELECT profenrich.train('m', 'linear', 'bad', 'y', ARRAY['n'], '{"on_bad_row": "error"}')$$);
UPDATE bad SET n = 3, y = '-Infinity' WHERE id = 3;
SELECT public.err($$SELECT profenrich.train('m', 'linear', 'bad', 'y', ARRAY['x'], '{"on_bad_row": "error"}')$$);
UPDATE bad SET y = 6 WHERE id = 3;
UPDATE bad SET t = NULL;
SELECT public.err($$SELECT profenrich.train('m', 'linear', 'bad', 'y', ARRAY['x', 't'])$$);
UPDATE bad SET t = 'a', n = NULL;
SELECT public.err($$SELECT profenrich.train('m', 'linear', 'bad', 'y', ARRAY['x', 'n'])$$);
UPDATE bad SET n = id;

-- scoring rows that do not fit the model
SELECT name FROM profenrich.train('bad_m', 'linear', 'bad', 'y', ARRAY['x', 't']);
INSERT INTO empty_src VALUES (1, 1, 1);
SELECT public.err($$SELECT profenrich.score('bad_m', e) FROM empty_src e$$);
DELETE FROM empty_src;
SELECT public.err($$SELECT profenrich.score('bad_m', r) FROM (SELECT 1.0 AS x, 5 AS t) r$$);
SELECT public.err($$SELECT profenrich.score('bad_m', r) FROM (SELECT 'NaN'::float8 AS x, 'a' AS t) r$$);
SELECT public.err($$SELECT profenrich.score_columns('bad_m', ARRAY['x'], 1.0, 'a')$$);
SELECT public.err($$SELECT profenrich.score_columns('bad_m', NULL, 1.0, 'a')$$);
SELECT public.err($$SELECT profenrich.score_columns('bad_m', ARRAY['x', 'q'], 1.0, 'a')$$);
SELECT public.err($$SELECT profenrich.deploy('bad_m', 9)$$);
SELECT public.err($$SELECT profenrich.drop_model('bad_m', 9)$$);
SELECT public.err($$SELECT * FROM profenrich.coefficients('bad_m', 9)$$);
SELECT public.err($$SELECT profenrich.rollback('bad_m')$$);

-- privileges: training needs SELECT on the columns it reads
CREATE ROLE regress_profenrich_reader;
GRANT SELECT (id, x, y) ON bad TO regress_profenrich_reader;
GRANT INSERT, UPDATE ON profenrich.models, profenrich.deployments TO regress_profenrich_reader;
GRANT USAGE ON profenrich.models_model_id_seq, profenrich.deployments_deploy_id_seq TO regress_profenrich_reader;
SET ROLE regress_profenrich_reader;
SELECT public.err($$SELECT profenrich.train('m', 'linear', 'bad', 'y', ARRAY['x', 't'])$$);
SELECT public.err($$SELECT profenrich.train('m', 'linear', 'empty_src', 'y')$$);
SELECT name, n_train FROM profenrich.train('granted', 'linear', 'bad', 'y', ARRAY['x'], '{"test_fraction": 0}');
RESET ROLE;
SELECT profenrich.drop_model('granted');
REVOKE ALL ON bad FROM regress_profenrich_reader;
REVOKE ALL ON profenrich.models, profenrich.deployments FROM regress_profenrich_reader;
REVOKE ALL ON profenrich.models_model_id_seq, profenrich.deployments_deploy_id_seq FROM regress_profenrich_reader;
DROP ROLE regress_profenrich_reader;

-- after all of that, the server is up and the registry holds only the good model
SELECT name, version FROM profenrich.models WHERE name IN ('m', 'bad_m', 'granted') ORDER BY 1, 2;
