-- Feature encoding: one-hot vocabularies, "(other)", enums, char(n), NULL imputation,
-- scoring by column name, and identifiers that need quoting.
CREATE TYPE tier AS ENUM ('bronze', 'silver', 'gold');
CREATE TABLE shop (
    id int PRIMARY KEY,
    "x""; drop table shop; --" float8,   -- a hostile column name is just a column
    tier tier,
    region char(4),
    city varchar(20),
    y float8);
INSERT INTO shop
SELECT i, (i % 17)::float8,
       (ARRAY['bronze', 'silver', 'gold']::tier[])[1 + i % 3],
       (ARRAY['n', 's', 'e', 'w'])[1 + i % 4],
       CASE WHEN i % 10 < 5 THEN 'paris' WHEN i % 10 < 8 THEN 'lyon' WHEN i % 10 = 8 THEN 'nice' ELSE 'metz' END,
       0
FROM generate_series(1, 400) AS i;
-- y is an exact linear function of the encoded features
UPDATE shop SET y = 3 + 2 * "x""; drop table shop; --"
    + CASE tier WHEN 'silver' THEN 1 WHEN 'gold' THEN 4 ELSE 0 END
    + CASE region WHEN 's' THEN -2 ELSE 0 END
    + CASE city WHEN 'lyon' THEN 10 WHEN 'nice' THEN 20 WHEN 'metz' THEN 30 ELSE 0 END;

-- max_categories 2 keeps the two most frequent cities; nice and metz share "(other)"
SELECT name, n_train FROM profenrich.train('shop', 'linear', 'shop', 'y', NULL,
                                           '{"test_fraction": 0, "max_categories": 2}');
SELECT jsonb_pretty(features) FROM profenrich.models WHERE name = 'shop';
SELECT feature, round(coef::numeric, 6) AS coef FROM profenrich.coefficients('shop');

-- with the full vocabulary the fit is exact
SELECT name FROM profenrich.train('shop_full', 'linear', 'shop', 'y', NULL, '{"test_fraction": 0}');
SELECT max(abs(y - profenrich.score('shop_full', s))) < 1e-9 AS exact FROM shop s;

-- scoring reads columns by name: another relation with the columns in another order,
-- extra columns, unseen categories (the column's slots take their training shares: the
-- population average, not the aliased level) and NULLs (imputed)
CREATE TABLE shop_new (
    note text, city text, y float8, region bpchar, tier tier, "x""; drop table shop; --" numeric);
INSERT INTO shop_new VALUES
    ('as shop id 1, but in lyon', 'lyon', NULL, 's', 'silver', 1),
    ('unseen city', 'brest', NULL, 's', 'silver', 1),
    ('NULL x: imputed with its mean', 'lyon', NULL, 's', 'silver', NULL),
    ('NULL city: the most frequent one', NULL, NULL, 's', 'silver', 1);
SELECT note, round(profenrich.score('shop_full', n)::numeric, 6) AS score FROM shop_new n;
SELECT round(profenrich.score('shop_full', s)::numeric, 6) AS shop_id_1 FROM shop s WHERE id = 1;
-- the unseen city scores the share-weighted mean of the scores with each city of the data
WITH c AS (SELECT city, count(*)::float8 / 400 AS share FROM shop GROUP BY city)
SELECT abs(profenrich.score('shop_full', n) -
           (SELECT sum(c.share * profenrich.score('shop_full', r))
            FROM c, LATERAL (SELECT c.city, n.region, n.tier, n."x""; drop table shop; --") r)) < 1e-9
       AS unseen_is_the_average
FROM shop_new n WHERE n.note = 'unseen city';
-- the reference (aliased) level of each column is its most frequent: paris, silver, and for
-- region, whose four values are equally frequent, the first in byte order: e
SELECT feature FROM profenrich.coefficients('shop_full') WHERE coef IS NULL ORDER BY 1;
-- in a model with "(other)", an unseen value counts as "(other)" (id 1 is in paris)
SELECT round((profenrich.score('shop', n) - profenrich.score('shop', s))::numeric, 6) AS other_minus_paris
FROM shop_new n, shop s WHERE n.note = 'unseen city' AND s.id = 1;
-- a row built in the query works too
SELECT round(profenrich.score('shop_full', r)::numeric, 6) AS from_row
FROM (SELECT 1.0 AS "x""; drop table shop; --", 'silver'::tier AS tier, 's' AS region, 'lyon' AS city) r;

-- impute = skip drops rows with a NULL feature (and counts them); score then returns NULL
ALTER TABLE shop ADD COLUMN w float8;
UPDATE shop SET w = CASE WHEN id % 4 = 0 THEN NULL ELSE id END;
SELECT n_train, metrics->>'n_skipped' AS skipped FROM profenrich.train('shop_skip', 'linear', 'shop', 'y',
    ARRAY['x"; drop table shop; --', 'w'], '{"test_fraction": 0, "impute": "skip"}');
SELECT count(*) FILTER (WHERE profenrich.score('shop_skip', s) IS NULL) AS null_scores FROM shop s;
-- impute = error refuses them
SELECT * FROM profenrich.train('shop_err', 'linear', 'shop', 'y', ARRAY['w'], '{"impute": "error"}');
-- a NULL target is never used
UPDATE shop SET y = NULL WHERE id <= 10;
SELECT n_train, metrics->>'n_skipped' AS skipped
FROM profenrich.train('shop_nt', 'linear', 'shop', 'y', ARRAY['tier'], '{"test_fraction": 0}');
-- the table is still there
SELECT count(*) FROM shop;
