#!/usr/bin/env bash
# gbdt models survive pg_dump/pg_restore: the restored registry scores, classifies and
# explains bit-identically (float8 text output is the shortest exact form), and XGBoost
# reads back the stored binary model (gbdt_check agrees with the evaluator).  Prints TAP.
set -uo pipefail
src=profenrich_gdump_src dst=profenrich_gdump_dst
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$2" 2>&1; }
echo "1..5"
dropdb --if-exists "$src" && dropdb --if-exists "$dst" && createdb "$src" && createdb "$dst"
q "$src" "CREATE EXTENSION profenrich;
  CREATE TABLE t AS SELECT i AS id, (i * 37) % 101 AS a, (i % 5)::text AS c,
    CASE WHEN i % 9 = 0 THEN NULL ELSE sin(i) * 10 END AS b,
    ((i * 37) % 101) / 50.0 + (i % 5) + sin(i * 7) > 3 AS y FROM generate_series(1, 2000) i;
  ALTER TABLE t ADD PRIMARY KEY (id);
  SELECT profenrich.train('g', 'gbdt', 't', 'y', ARRAY['a', 'b', 'c'], '{\"n_trees\": 40}');
  SELECT profenrich.train('gc', 'gbdt', 't', 'c', ARRAY['a', 'b'], '{\"n_trees\": 15}');" >/dev/null
dump=$(mktemp /tmp/profenrich-gdump-XXXXXX)
if pg_dump -Fc -d "$src" -f "$dump" && pg_restore -d "$dst" "$dump"; then
  echo "ok 1 - pg_dump and pg_restore succeed"
else
  echo "not ok 1 - pg_dump and pg_restore succeed"
fi
rm -f "$dump"
check() {  # n, description, query: the same non-empty result on both databases
  a=$(q "$src" "$3"); ra=$?
  b=$(q "$dst" "$3"); rb=$?
  if [ $ra -eq 0 ] && [ $rb -eq 0 ] && [ -n "$a" ] && [ "$a" = "$b" ]; then echo "ok $1 - $2"; else
    echo "not ok $1 - $2"; echo "# source ($ra): ${a:0:300}"; echo "# restored ($rb): ${b:0:300}"; fi
}
check 2 "every score bit-identical" "SELECT string_agg(profenrich.score('g', t)::text, ',' ORDER BY id) FROM t"
check 3 "every class and probability bit-identical" \
  "SELECT string_agg(profenrich.predict_class('gc', t) || profenrich.predict_proba('gc', t)::text, ',' ORDER BY id) FROM t"
check 4 "explanations bit-identical" \
  "SELECT string_agg(e.feature || '=' || e.contribution::text, ',' ORDER BY id, e.feature)
   FROM t CROSS JOIN LATERAL profenrich.explain('g', t, 5) e WHERE id <= 50"
out=$(q "$dst" "SELECT (c->>'rows')::int = 2000 AND (c->>'value_max_abs_diff')::float8 < 1e-6
                  AND (c->>'shap_max_abs_diff')::float8 < 1e-5 FROM profenrich.gbdt_check('g', 't') c")
[ "$out" = "t" ] && echo "ok 5 - XGBoost reads the restored binary model and agrees with the evaluator" || {
  echo "not ok 5 - XGBoost reads the restored binary model and agrees with the evaluator"; echo "# $out"; }
dropdb --if-exists "$src"; dropdb --if-exists "$dst"
