-- Walk the upgrade chain from the oldest release to the current one, in a fresh schema state.
-- Each release's install script and every upgrade script must exist and apply in order.
SET client_min_messages = warning;
DROP EXTENSION profenrich CASCADE;
CREATE EXTENSION profenrich VERSION '0.1.0';
RESET client_min_messages;
SELECT extversion FROM pg_extension WHERE extname = 'profenrich';
ALTER EXTENSION profenrich UPDATE;
SELECT extversion = (SELECT default_version FROM pg_available_extensions WHERE name = 'profenrich')
       AS at_default_version
FROM pg_extension WHERE extname = 'profenrich';
-- the registry and functions work after the walk
SELECT name, version FROM profenrich.train('after_upgrade', 'linear', 'customers', 'spend', ARRAY['age']);
SELECT count(*) FROM profenrich.coefficients('after_upgrade');
SELECT pg_catalog.pg_describe_object(classid, objid, 0) AS dumped_config
FROM pg_depend d JOIN pg_extension e ON d.refobjid = e.oid
WHERE e.extname = 'profenrich' AND d.classid = 'pg_class'::regclass
  AND d.objid = ANY (e.extconfig) ORDER BY 1;
