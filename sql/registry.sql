-- Registry: versions, deploy, rollback, drop_model, a failed training leaves it untouched
SELECT name, version, deployed FROM profenrich.train('reg', 'linear', 'customers', 'spend', ARRAY['age']);
SELECT name, version, deployed FROM profenrich.train('reg', 'linear', 'customers', 'spend', ARRAY['age', 'visits']);
SELECT name, version, deployed FROM profenrich.train('reg', 'linear', 'customers', 'spend',
                                                     ARRAY['age', 'visits', 'vip'], '{"deploy": false}');
SELECT version, algorithm, source, target, deployed, trained_by = current_user AS by_me,
       jsonb_array_length(features->'columns') AS ncols
FROM profenrich.models WHERE name = 'reg' ORDER BY version;

-- score uses the deployed version (2: age and visits)
SELECT round(profenrich.score('reg', c)::numeric, 6) =
       round((SELECT sum(coef * CASE feature WHEN '(intercept)' THEN 1 WHEN 'age' THEN c.age
                                    ELSE c.visits END)
              FROM profenrich.coefficients('reg'))::numeric, 6) AS scores_with_v2
FROM customers c WHERE customer_id = 7;

-- deploy a given version, the latest by default; rollback walks back the deployments
SELECT profenrich.deploy('reg', 1);
SELECT profenrich.deploy('reg');
SELECT version FROM profenrich.models WHERE name = 'reg' AND deployed;
SELECT profenrich.rollback('reg');
SELECT profenrich.rollback('reg');
SELECT version FROM profenrich.models WHERE name = 'reg' AND deployed;
SELECT count(*) AS coefficient_rows FROM profenrich.coefficients('reg');
SELECT count(*) AS coefficient_rows_v3 FROM profenrich.coefficients('reg', 3);

-- a failed training (unknown feature) changes nothing
SELECT count(*) AS versions_before FROM profenrich.models WHERE name = 'reg';
SELECT * FROM profenrich.train('reg', 'linear', 'customers', 'spend', ARRAY['nope']);
SELECT count(*) AS versions_after, max(version) FILTER (WHERE deployed) AS deployed
FROM profenrich.models WHERE name = 'reg';

-- rollback skips versions dropped since they were deployed
SELECT profenrich.deploy('reg', 3);
SELECT profenrich.drop_model('reg', 2);
SELECT profenrich.rollback('reg');
SELECT profenrich.rollback('reg');
-- dropping the deployed version leaves none deployed
SELECT profenrich.deploy('reg', 3);
SELECT profenrich.drop_model('reg', 3);
SELECT profenrich.score('reg', c) FROM customers c WHERE customer_id = 1;
-- drop every version
SELECT profenrich.drop_model('reg');
SELECT count(*) FROM profenrich.models WHERE name = 'reg';
SELECT count(*) FROM profenrich.deployments WHERE name = 'reg';
-- once every version is dropped, the name starts again at version 1
SELECT name, version FROM profenrich.train('reg', 'linear', 'customers', 'spend', ARRAY['age']);
SELECT profenrich.drop_model('reg');
