#!/usr/bin/env bash
# Models survive pg_dump/pg_restore: the registry tables are extension configuration tables,
# so a restored database holds every version, the deployed flags and the deployment log,
# and scores exactly as the original.  The registry is under row-level security: a superuser's
# pg_dump still dumps every row, those of models other roles trained included, and the rows stay
# visible to their trainers only; so do the per-user rows of item models (profenrich.model_users):
# every user keeps its top items.  Prints TAP.
set -uo pipefail
src=profenrich_dump_src dst=profenrich_dump_dst
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }
echo "1..11"
dropdb --if-exists "$src" && dropdb --if-exists "$dst" && createdb "$src" && createdb "$dst"
for r in regress_dump_trainer regress_dump_other; do dropuser --if-exists "$r" && createuser "$r"; done
q "$src" "CREATE EXTENSION profenrich;
  CREATE TABLE t AS SELECT i AS id, i % 7 AS a, (i % 3)::text AS c, i * 0.5 + (i % 7) * 2 AS y
  FROM generate_series(1, 300) i;
  ALTER TABLE t ADD PRIMARY KEY (id);
  SELECT profenrich.train('m', 'linear', 't', 'y', ARRAY['a']);
  SELECT profenrich.train('m', 'linear', 't', 'y', ARRAY['a', 'c']);
  SELECT profenrich.deploy('m', 1);
  GRANT INSERT, UPDATE ON profenrich.models TO regress_dump_trainer;
  CREATE TABLE private_t AS SELECT * FROM t;
  ALTER TABLE private_t OWNER TO regress_dump_trainer;
  SET ROLE regress_dump_trainer;
  SELECT profenrich.train('private', 'linear', 'private_t', 'y', ARRAY['c']);
  RESET ROLE;
  CREATE TABLE ev AS SELECT 1 + (i * 7) % 90 AS customer, 'p' || ((i * 13) % 40) AS product,
    1 + i % 3 AS qty, timestamptz '2024-01-01' + (i % 200) * interval '1 day' AS ts
  FROM generate_series(1, 900) i;
  SELECT profenrich.train('products', 'als', 'ev', options => '{\"user\": \"customer\", \"item\": \"product\", \"weight\": \"qty\", \"factors\": 4, \"iterations\": 4}');
  SELECT profenrich.train('cats', 'affinity', 'ev', options => '{\"user\": \"customer\", \"item\": \"product\", \"time\": \"ts\"}');" >/dev/null
dump=$(mktemp /tmp/profenrich-dump-XXXXXX)
if pg_dump -Fc -d "$src" -f "$dump" && pg_restore -d "$dst" "$dump"; then
  echo "ok 1 - pg_dump and pg_restore succeed"
else
  echo "not ok 1 - pg_dump and pg_restore succeed"
fi
rm -f "$dump"
check() {  # n, description, query: must succeed on both databases with the same non-empty result
  a=$(q "$src" "$3" 2>&1); ra=$?
  b=$(q "$dst" "$3" 2>&1); rb=$?
  if [ $ra -eq 0 ] && [ $rb -eq 0 ] && [ -n "$a" ] && [ "$a" = "$b" ]; then echo "ok $1 - $2"; else
    echo "not ok $1 - $2"; echo "# source ($ra): $a"; echo "# restored ($rb): $b"; fi
}
check 2 "every version restored" "SELECT string_agg(version || ':' || deployed, ',' ORDER BY version) FROM profenrich.models"
check 3 "deployment log restored" \
  "SELECT string_agg(name || ' ' || action || ' ' || version || ' by ' || deployed_by, ',' ORDER BY deploy_id) FROM profenrich.deployments"
check 4 "scores identical" "SELECT sum(profenrich.score('m', t)) FROM t"
check 5 "rollback works after restore" "SELECT profenrich.rollback('m')"
check 6 "new versions continue the numbering" \
  "SELECT version FROM profenrich.train('m', 'linear', 't', 'y', ARRAY['c'])"
check 7 "the superuser's dump holds the rows other roles trained" \
  "SELECT string_agg(name || ' ' || version || ' by ' || trained_by, ',' ORDER BY name, version) FROM profenrich.models"
check 8 "restored rows are visible to their trainer only" \
  "SET ROLE regress_dump_other; SELECT count(*) FROM profenrich.models WHERE name = 'private';
   RESET ROLE; SET ROLE regress_dump_trainer;
   SELECT count(*) || ' and ' || (SELECT count(*) FROM profenrich.models) FROM profenrich.models WHERE name = 'private'"
check 9 "every per-user row of the item models restored" \
  "SELECT model || ':' || count(*) FROM profenrich.model_users GROUP BY model ORDER BY model"
check 10 "every customer keeps its top products (als)" \
  "SELECT md5(string_agg(customer || ':' || array_to_string(profenrich.top_items('products', customer, 5), ',')
                         || array_to_string(profenrich.top_item_scores('products', customer, 5), ','), ';' ORDER BY customer))
   FROM (SELECT DISTINCT customer FROM ev) c"
check 11 "every customer keeps its top categories and shares (affinity)" \
  "SELECT md5(string_agg(customer || ':' || array_to_string(profenrich.top_items('cats', customer, 5), ',')
                         || array_to_string(profenrich.top_item_scores('cats', customer, 5), ','), ';' ORDER BY customer))
   FROM (SELECT DISTINCT customer FROM ev) c"
dropdb --if-exists "$src"; dropdb --if-exists "$dst"
for r in regress_dump_trainer regress_dump_other; do dropuser --if-exists "$r"; done
