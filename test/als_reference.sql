-- Implicit-feedback ALS ('als') against an independent NumPy implementation:
--   test/reference/als_reference.py (NumPy 1.24.2) forms every row's system explicitly and
--   computes the loss densely over every (user, item) pair; it wrote the fixture
--   test/reference/als_data.sql (41 customers, 26 products, a repeated pair, a NULL and zero
--   weights) and the starting factors both sides start from, and printed the figures below
--   (test/reference/als_reference.txt).
-- Settings: factors 5, alpha 2.5, l2 0.3, 6 iterations, 3 conjugate-gradient steps; solvers
--   "cg" (the last user step exact) and "cholesky"; and "cg" with 8 factors from starting
--   factors of their own (als_init8): at a width that is a multiple of 8 the item steps solve
--   each item's system densely (DenseItemCG), at other widths by passes user by user.
-- Tolerance: 1e-8 relative for the loss after every iteration, the factors and the scores
--   (the two implementations agree to about 1e-13).
\set QUIET on
\set ON_ERROR_STOP on
SET client_min_messages = warning;
BEGIN;
\ir reference/als_data.sql
SELECT plan(34);

CREATE FUNCTION pg_temp.close(a float8, b float8, rel float8) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$ SELECT abs(a - b) <= rel * greatest(abs(a), abs(b)) $$;
-- the largest difference of two vectors, relative to the larger one's largest entry
CREATE FUNCTION pg_temp.close_arrays(a float8[], b float8[], rel float8) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT array_length(a, 1) = array_length(b, 1) AND
         (SELECT max(abs(x - y)) FROM unnest(a, b) t(x, y)) <=
         rel * (SELECT greatest(max(abs(x)), max(abs(y))) FROM unnest(a, b) t(x, y)) $$;

CREATE TEMP TABLE fits AS
SELECT s.solver, (profenrich.train('als_' || s.solver, 'als', 'als_events', options =>
         jsonb_build_object('user', 'customer', 'item', 'product', 'weight', 'qty', 'factors', 5,
                            'alpha', 2.5, 'l2', 0.3, 'iterations', 6, 'test_fraction', 0,
                            'solver', s.solver, 'init', (SELECT init FROM als_init)))).metrics
FROM (VALUES ('cg'), ('cholesky')) s(solver)
UNION ALL
SELECT 'cg8', (profenrich.train('als_cg8', 'als', 'als_events', options =>
         jsonb_build_object('user', 'customer', 'item', 'product', 'weight', 'qty', 'factors', 8,
                            'alpha', 2.5, 'l2', 0.3, 'iterations', 6, 'test_fraction', 0,
                            'init', (SELECT init FROM als_init8)))).metrics;
CREATE TEMP TABLE ref (solver text, iteration int, loss float8);
INSERT INTO ref VALUES
 ('cg', 1, 552.60530060599774),
 ('cg', 2, 446.09715414236763),
 ('cg', 3, 391.31718436968623),
 ('cg', 4, 361.2474986791018),
 ('cg', 5, 343.30145863327732),
 ('cg', 6, 330.83019496636393),
 ('cholesky', 1, 548.4877146466622),
 ('cholesky', 2, 442.64764322232634),
 ('cholesky', 3, 387.16455380167224),
 ('cholesky', 4, 357.32996989765968),
 ('cholesky', 5, 339.88515818448366),
 ('cholesky', 6, 327.68068188185305),
 ('cg8', 1, 424.98111652197497),
 ('cg8', 2, 300.60096632486136),
 ('cg8', 3, 262.70641230752943),
 ('cg8', 4, 240.35080745839861),
 ('cg8', 5, 225.25118226269987),
 ('cg8', 6, 214.42414343432699);

SELECT ok(pg_temp.close((f.metrics->'loss'->>(r.iteration - 1))::float8, r.loss, 1e-8),
          format('%s: loss after iteration %s (%s)', r.solver, r.iteration, r.loss))
FROM ref r JOIN fits f USING (solver) ORDER BY r.solver, r.iteration;
SELECT is((metrics->>'users')::int, 40, 'users with an interaction (u41 has only a weight of 0)')
FROM fits WHERE solver = 'cg';
SELECT is((metrics->>'items')::int, 26, 'items, one of them (i26) with only a weight of 0')
FROM fits WHERE solver = 'cg';
SELECT is((metrics->>'interactions')::int, 247, 'interactions: distinct pairs of positive weight')
FROM fits WHERE solver = 'cg';

SELECT is(profenrich.top_items('als_cg', 'u01'::text, 5), ARRAY['i21', 'i16', 'i08', 'i22', 'i03'], 'cg: the 5 best unseen products of u01');
SELECT ok(pg_temp.close_arrays(profenrich.top_item_scores('als_cg', 'u01'::text, 5), ARRAY[0.98476716895682581, 0.8426897673648055, 0.82697435037849298, 0.81359725278269479, 0.62514793967162474], 1e-8), 'cg: their scores');
SELECT is(profenrich.top_items('als_cg', 'u17'::text, 5), ARRAY['i14', 'i19', 'i15', 'i16', 'i05'], 'cg: the 5 best unseen products of u17');
SELECT ok(pg_temp.close_arrays(profenrich.top_item_scores('als_cg', 'u17'::text, 5), ARRAY[0.63842598895742897, 0.60954438271807121, 0.51221074493790419, 0.4724893315382695, 0.3345096735197553], 1e-8), 'cg: their scores');
SELECT ok(pg_temp.close_arrays((SELECT factors FROM profenrich.model_users WHERE model = 'als_cg' AND user_key = 'u01'), ARRAY[-0.039057065672808373, -0.18513542656948145, 0.39758982353201766, 0.1079128583675117, 0.12603879257382486], 1e-8), 'cg: the factor of u01');
SELECT ok(pg_temp.close_arrays((SELECT factors FROM profenrich.item_factors('als_cg') WHERE item = 'i01'), ARRAY[0.89476480341527742, -0.72798493499617456, -0.0099028792501398306, 2.0351315956310607, 0.82010187445072624], 1e-8), 'cg: the factor of i01');
SELECT is(profenrich.top_items('als_cholesky', 'u01'::text, 5), ARRAY['i21', 'i16', 'i03', 'i08', 'i20'], 'cholesky: the 5 best unseen products of u01');
SELECT ok(pg_temp.close_arrays(profenrich.top_item_scores('als_cholesky', 'u01'::text, 5), ARRAY[0.9255975477142695, 0.76787409377772498, 0.7461807792651961, 0.73939842827086577, 0.65328477605268254], 1e-8), 'cholesky: their scores');
SELECT is(profenrich.top_items('als_cholesky', 'u17'::text, 5), ARRAY['i15', 'i19', 'i16', 'i14', 'i07'], 'cholesky: the 5 best unseen products of u17');
SELECT ok(pg_temp.close_arrays(profenrich.top_item_scores('als_cholesky', 'u17'::text, 5), ARRAY[0.62677167919882659, 0.55954241984356035, 0.55502965755495692, 0.5518390319151717, 0.31651761399987871], 1e-8), 'cholesky: their scores');
SELECT ok(pg_temp.close_arrays((SELECT factors FROM profenrich.model_users WHERE model = 'als_cholesky' AND user_key = 'u01'), ARRAY[-0.038091994197592689, -0.21748078641107665, 0.30660375306773768, 0.19219315770928305, 0.14629125006383764], 1e-8), 'cholesky: the factor of u01');
SELECT ok(pg_temp.close_arrays((SELECT factors FROM profenrich.item_factors('als_cholesky') WHERE item = 'i01'), ARRAY[0.95132436639696327, -0.69210310851325352, 0.12047749432312724, 1.8146451828432413, 0.64904948503240112], 1e-8), 'cholesky: the factor of i01');
SELECT ok(pg_temp.close_arrays((SELECT factors FROM profenrich.item_factors('als_cg8') WHERE item = 'i01'), ARRAY[0.19281902499042872, -0.082151569001953112, 2.1340578176532934, 0.31709333472846785, -0.017270520261092659, -0.010066745589254925, 0.53494580172714767, 0.62028667824047734], 1e-8), 'cg, 8 factors: the factor of i01');

SELECT * FROM finish();
ROLLBACK;
