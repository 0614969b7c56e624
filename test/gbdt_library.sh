#!/usr/bin/env bash
# A backend that never trains or checks a tree model does not load the XGBoost library:
# scoring, classifying and explaining gbdt models run profenrich's own evaluator.  The
# mappings and threads of each backend are read from /proc/<pid> (pg_read_file, pg_ls_dir,
# as superuser).  Training loads the library; with profenrich.train_threads 1 it starts no
# thread, and the threads more of them start have every signal blocked (SigBlk
# fffffffe7ffbfeff: all but SIGKILL, SIGSTOP and glibc's two internal ones).  Prints TAP.
set -uo pipefail
db=profenrich_gbdt_library
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" -c "$1" 2>&1; }
proc="'/proc/' || pg_catalog.pg_backend_pid()"
maps="pg_catalog.pg_read_file($proc || '/maps')"
tasks="(SELECT pg_catalog.array_agg(t ORDER BY t) FROM pg_catalog.pg_ls_dir($proc || '/task') t)"
ok() {  # n, description, got, expected
  if [ "$3" = "$4" ]; then echo "ok $1 - $2"; else echo "not ok $1 - $2"; echo "# got: $3"; echo "# expected: $4"; fi
}
echo "1..7"
dropdb --if-exists "$db" && createdb "$db"
q "CREATE EXTENSION profenrich;
  CREATE TABLE t AS SELECT i AS id, i % 7 AS a, (i % 3)::text AS c, (i * 37) % 101 AS b,
    (i % 7) + (i % 3) * 2 > 6 AS y, i * 0.5 + (i % 7) * 2 AS v FROM generate_series(1, 2000) i;
  ALTER TABLE t ADD PRIMARY KEY (id);
  SELECT profenrich.train('lin', 'linear', 't', 'v', ARRAY['a', 'c']);
  SELECT profenrich.train('g', 'gbdt', 't', 'y', ARRAY['a', 'b', 'c'], '{\"n_trees\": 20}');
  SELECT profenrich.train('gc', 'gbdt', 't', 'c', ARRAY['a', 'b'], '{\"n_trees\": 10}');" >/dev/null
ok 1 "scoring a linear model loads profenrich but not XGBoost" \
  "$(q "SELECT sum(profenrich.score('lin', t)) > 0 FROM t; SELECT $maps LIKE '%libxgboost%', $maps LIKE '%profenrich.so%';" | tr '\n' ' ')" \
  "t f|t "
ok 2 "scoring, classifying and explaining gbdt models does not load XGBoost" \
  "$(q "SELECT count(*) > 0 FROM t WHERE profenrich.score('g', t) > 0.5;
        SELECT count(*) > 0 FROM t WHERE profenrich.predict_class('gc', t) = '1';
        SELECT count(*) = 16 FROM t CROSS JOIN LATERAL profenrich.explain('g', t, 3) WHERE id < 5;
        SELECT count(*) = 3 FROM profenrich.feature_importance('g');
        SELECT $maps LIKE '%libxgboost%';" | tr '\n' ' ')" \
  "t t t t f "
ok 3 "training a gbdt model loads XGBoost (the check sees it)" \
  "$(q "SELECT $maps LIKE '%libxgboost%'; SELECT (profenrich.train('g2', 'gbdt', 't', 'y', ARRAY['a', 'b'], '{\"n_trees\": 5}')).version > 0;
        SELECT $maps LIKE '%libxgboost%';" | tr '\n' ' ')" \
  "f t t "
ok 4 "training with profenrich.train_threads 1 starts no thread" \
  "$(q "LOAD 'profenrich'; CREATE TEMP TABLE before AS SELECT $tasks AS t;
        SELECT (profenrich.train('g3', 'gbdt', 't', 'y', ARRAY['a', 'b'], '{\"n_trees\": 5}')).version > 0;
        SELECT (SELECT t FROM before) = $tasks;" | tr '\n' ' ')" \
  "t t "
out=$(q "LOAD 'profenrich'; CREATE TEMP TABLE before AS SELECT $tasks AS t;
         SET profenrich.train_threads = 2;
         SELECT (profenrich.train('g4', 'gbdt', 't', 'y', ARRAY['a', 'b'], '{\"n_trees\": 5}')).version > 0;
         SELECT pg_catalog.count(*), pg_catalog.bool_and(pg_catalog.substring(pg_catalog.pg_read_file($proc || '/task/' || n || '/status'), 'SigBlk:\s*([0-9a-f]+)') = 'fffffffe7ffbfeff')
         FROM pg_catalog.unnest($tasks) n WHERE n <> ALL ((SELECT t FROM before)::text[]);" | tr '\n' ' ')
ok 5 "training with train_threads 2 starts one thread, every signal blocked in it" "$out" "t 1|t "
ok 6 "a user cannot raise profenrich.train_threads" \
  "$(q "LOAD 'profenrich'; CREATE ROLE gbdt_user; SET ROLE gbdt_user; SET profenrich.train_threads = 2;" | head -1)" \
  "ERROR:  permission denied to set parameter \"profenrich.train_threads\""
ok 7 "gbdt_check loads XGBoost and checks every row" \
  "$(q "SELECT profenrich.gbdt_check('g', 't')->>'rows'; SELECT $maps LIKE '%libxgboost%';" | tr '\n' ' ')" \
  "2000 t "
q "DROP ROLE IF EXISTS gbdt_user" >/dev/null
dropdb --if-exists "$db"
