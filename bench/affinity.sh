#!/usr/bin/env bash
# Issue 12 targets, serial plans, against baselines measured in the same run:
#   train('als') on 1,000,000 interactions of 100,000 users with 10,000 items (Zipf-like
#   popularity, fixed seed), factors 32, 15 iterations     <= 40x SELECT sum(weight) FROM them
#   train('affinity') on the same interactions, time-decayed <= 3x the same scan
#   CALL enrich of 100,000 profiles with the top 5 items     <= 3x UPDATE of one text[] column
# Each is the fastest of three runs in a warm session. BENCH_INTERACTIONS overrides 1,000,000
# (users and items scale with it).
set -euo pipefail
db=$1
n=${BENCH_INTERACTIONS:-1000000}
users=$(( n / 10 )) items=$(( n / 100 ))
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" -c "SET client_min_messages = warning" -c "$1"; }
ms() {  # milliseconds of one statement, in a warm session, serial plans
  psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "SET client_min_messages = warning" \
    -c "SET max_parallel_workers_per_gather = 0" -c "\\timing on" -c "$1" |
    awk '/^Time: / {printf "%.1f\n", $2}'
}
ms_warm() {  # the same, after a query that has the session read every user row of model $1
  psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "SET client_min_messages = warning" \
    -c "SET max_parallel_workers_per_gather = 0" \
    -c "SELECT count(profenrich.top_items('$1', u, 5)) FROM generate_series(1, 1000) u" -c "\\timing on" -c "$2" |
    awk '/^Time: / {printf "%.1f\n", $2}'
}
min() { printf '%s\n' "$@" | sort -n | head -1; }
result() {  # bench measured ms baseline baseline_ms goal
  q "INSERT INTO bench.results (bench, measured, ms, baseline, baseline_ms, goal) VALUES ('$1', '$2', $3, '$4', $5, '$6')"
}

echo "== item models: $n interactions of $users users with $items items"
# item popularity ~ 1/rank (log-uniform ranks), users uniform, weights 1-3, times over 2024
q "SELECT setseed(0.12);
   DROP TABLE IF EXISTS bench.interactions;
   CREATE TABLE bench.interactions AS
   SELECT 1 + floor(random() * $users)::int AS user_id,
          floor(power($items + 1, random()))::int - 1 AS item_id,
          (1 + floor(random() * 3))::float8 AS weight,
          timestamptz '2024-01-01' + random() * interval '365 days' AS ts
   FROM generate_series(1, $n)"
q "VACUUM ANALYZE bench.interactions"
q "SELECT count(DISTINCT user_id) || ' users, ' || count(DISTINCT item_id) || ' items, the most popular item in '
   || round(100.0 * max(c) / sum(c), 1) || '% of the rows' FROM (SELECT user_id, item_id, count(*) OVER (PARTITION BY item_id) c FROM bench.interactions) s"

scan=() als=() aff=()
for rep in 1 2 3; do
  scan+=("$(ms "SELECT sum(weight) FROM bench.interactions")")
done
for rep in 1 2 3; do
  als+=("$(ms "SELECT profenrich.train('bench_products', 'als', 'bench.interactions', options => '{\"user\": \"user_id\", \"item\": \"item_id\", \"weight\": \"weight\", \"factors\": 32, \"iterations\": 15}')")")
  aff+=("$(ms "SELECT profenrich.train('bench_categories', 'affinity', 'bench.interactions', options => '{\"user\": \"user_id\", \"item\": \"item_id\", \"weight\": \"weight\", \"time\": \"ts\"}')")")
  scan+=("$(ms "SELECT sum(weight) FROM bench.interactions")")
done
echo "scan: ${scan[*]} ms; als: ${als[*]} ms; affinity: ${aff[*]} ms"
t_als=$(min "${als[@]}")
echo "als: $(awk "BEGIN {printf \"%.0f\", $n * 15 / ($t_als / 1000)}") interactions x iterations per second"
q "SELECT 'als metrics: recall@10 ' || round((metrics->>'recall_at_10')::numeric, 3) || ' (popularity '
   || round((metrics->'baseline'->>'recall_at_10')::numeric, 3) || '), ' || (metrics->>'test_users') || ' test users'
   FROM profenrich.models WHERE name = 'bench_products' ORDER BY version DESC LIMIT 1"
result "items: train als" "train(''als''), factors 32, 15 iterations" "$t_als" \
       "SELECT sum(weight) FROM interactions" "$(min "${scan[@]}")" "<= 40"
result "items: train affinity" "train(''affinity''), time-decayed" "$(min "${aff[@]}")" \
       "SELECT sum(weight) FROM interactions" "$(min "${scan[@]}")" "<= 3"

# enrich: 100,000 profiles keyed by user_id, the top 5 items of each model; in a session that
# has read the model's user rows already (a pooled connection), and in a new one, which reads
# them first (one index scan of the model's rows, once a command asks for 512 users)
plain=() e_als=() e_aff=() c_als=() c_aff=()
for rep in 1 2 3; do
  q "DROP TABLE IF EXISTS bench.p_plain, bench.p_als, bench.p_aff;
     CREATE TABLE bench.p_plain AS SELECT u AS user_id, 'profile ' || u AS name, NULL::text[] AS top
       FROM generate_series(1, $users) u;
     CREATE TABLE bench.p_als AS SELECT u AS user_id, 'profile ' || u AS name FROM generate_series(1, $users) u;
     CREATE TABLE bench.p_aff AS SELECT * FROM bench.p_als"
  q "VACUUM ANALYZE bench.p_plain, bench.p_als, bench.p_aff"
  q "CHECKPOINT"
  plain+=("$(ms "UPDATE bench.p_plain SET top = ARRAY['a', 'b', 'c', 'd', 'e']")")
  e_als+=("$(ms_warm bench_products "CALL profenrich.enrich('bench.p_als', array['bench_products'], '{\"top\": 5}')")")
  e_aff+=("$(ms_warm bench_categories "CALL profenrich.enrich('bench.p_aff', array['bench_categories'], '{\"top\": 5}')")")
  q "DROP TABLE bench.p_als, bench.p_aff;
     CREATE TABLE bench.p_als AS SELECT u AS user_id, 'profile ' || u AS name FROM generate_series(1, $users) u;
     CREATE TABLE bench.p_aff AS SELECT * FROM bench.p_als"
  q "VACUUM ANALYZE bench.p_als, bench.p_aff"
  q "CHECKPOINT"
  c_als+=("$(ms "CALL profenrich.enrich('bench.p_als', array['bench_products'], '{\"top\": 5}')")")
  c_aff+=("$(ms "CALL profenrich.enrich('bench.p_aff', array['bench_categories'], '{\"top\": 5}')")")
done
echo "plain UPDATE: ${plain[*]} ms; enrich als: ${e_als[*]} ms warm, ${c_als[*]} ms in a new connection;"
echo "  enrich affinity: ${e_aff[*]} ms warm, ${c_aff[*]} ms in a new connection"
q "SELECT 'enriched: ' || count(bench_products_top) || ' als, '
   || (SELECT count(bench_categories_top) FROM bench.p_aff) || ' affinity of ' || count(*) FROM bench.p_als"
result "items: enrich als" "CALL enrich, top 5 of ''als'', $users profiles, warm session" "$(min "${e_als[@]}")" \
       "UPDATE t SET col = ARRAY[...]" "$(min "${plain[@]}")" "<= 3"
result "items: enrich affinity" "CALL enrich, top 5 of ''affinity'', $users profiles, warm session" "$(min "${e_aff[@]}")" \
       "UPDATE t SET col = ARRAY[...]" "$(min "${plain[@]}")" "<= 3"
result "items: enrich als, new connection" "the same in a new connection" "$(min "${c_als[@]}")" \
       "UPDATE t SET col = ARRAY[...]" "$(min "${plain[@]}")" "(info)"
result "items: enrich affinity, new connection" "the same in a new connection" "$(min "${c_aff[@]}")" \
       "UPDATE t SET col = ARRAY[...]" "$(min "${plain[@]}")" "(info)"
q "DROP TABLE bench.p_plain, bench.p_als, bench.p_aff;
   SELECT profenrich.drop_model('bench_products'), profenrich.drop_model('bench_categories')" >/dev/null
