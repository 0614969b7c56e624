#!/usr/bin/env bash
# Scale-out on Citus (issue 16), on a throwaway 3-node cluster on loopback (a coordinator and two
# workers, scripts/with-citus-cluster.sh): every training aggregate is pushed down
# (worker_partial_agg per shard, coord_combine_agg on the coordinator, and nothing gathered row by
# row: citus.coordinator_aggregation_strategy is disabled); models trained on distributed tables
# equal those trained on a local copy (coefficients to 1e-10); scoring a distributed table equals
# scoring the local copy, across a redeploy in another session; enrich writes every row and a
# re-run none; the trigger scores inserts on the workers; multinomial, k-means and gbdt models
# (trained with their rows gathered) score and enrich distributed tables by their pinned forms;
# a dump of the coordinator restores its models.  Skipped, saying so, when ../shared/vendor/citus is absent.  Prints TAP.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
vendor=$(cd "$root/.." && pwd)/shared/vendor/citus
bindir=${PROFENRICH_PGBIN:-/usr/lib/postgresql/15/bin}
if [ ! -d "$vendor" ]; then
  echo "1..0 # SKIP $vendor is absent: no Citus to test on"
  exit 0
fi
if [ ! -f "$("$bindir/pg_config" --pkglibdir)/citus.so" ]; then
  echo "1..1"
  echo "not ok 1 - Citus is installed (make test builds it with $vendor/build.sh)"
  exit 0
fi
if [ -z "${CITUS_WORKER_PORTS:-}" ]; then
  exec "$root/scripts/with-citus-cluster.sh" "$0" "$@"
fi

n=0
fails=0
q() { "$bindir/psql" -X -q -At -v ON_ERROR_STOP=1 -d postgres "$@"; }
diag() { printf '%s\n' "$@" | sed 's/^/# /'; }
ok() {  # description, then a command whose output must be "t" lines only (at least one)
  local what=$1 out
  shift
  n=$((n + 1))
  out=$("$@" 2>&1)
  if [ -n "$out" ] && ! printf '%s\n' "$out" | grep -qvx t; then echo "ok $n - $what"; else
    echo "not ok $n - $what"; diag "$out"; fails=$((fails + 1)); fi
}
echo "1..31"

# the data: profiles (distributed by id, and a local copy), purchases, customer summaries
# simulated from BG/NBD and Gamma-Gamma (as sql/clv.sql does)
setup=$(q 2>&1 <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION profenrich;
SELECT setseed(0.16);
CREATE TABLE p AS SELECT i AS id, (ARRAY['FR', 'DE', 'US'])[1 + i % 3] AS country, random() AS a,
       random() AS b, (ARRAY['x', 'y', 'z'])[1 + i % 3] AS c,
       CASE WHEN i % 13 = 0 THEN NULL ELSE random() END AS d, false AS label, 0.0::float8 AS y
FROM generate_series(1, 20000) i;
UPDATE p SET y = 1 + 2 * a - b + (c = 'y')::int + coalesce(d, 0.3) + (country = 'DE')::int * a + random(),
             label = random() < 1 / (1 + exp(-(a - 2 * b + (c = 'z')::int)));
ALTER TABLE p ADD COLUMN tier text;
UPDATE p SET tier = CASE WHEN a + 0.5 * random() < 0.6 THEN 'low' WHEN b + 0.5 * random() < 0.8 THEN 'mid'
                         ELSE 'high' END;
ALTER TABLE p ADD PRIMARY KEY (id);
CREATE TABLE p_local AS SELECT * FROM p;
ALTER TABLE p_local ADD PRIMARY KEY (id);
SELECT create_distributed_table('p', 'id');
SELECT truncate_local_data_after_distributing_table('p');
CREATE TABLE tx AS SELECT 1 + (i * 7) % 3000 AS customer_id, DATE '2024-01-01' + (i * 13) % 300 AS day,
       1 + (i % 23)::float8 AS amount FROM generate_series(1, 12000) i;
SELECT create_distributed_table('tx', 'customer_id');
SELECT truncate_local_data_after_distributing_table('tx');
CREATE FUNCTION pg_temp.rgamma(shape float8, rate float8) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE d float8; c float8; z float8; v float8; boost float8 := 1;
BEGIN
  IF shape < 1 THEN boost := (1 - random()) ^ (1 / shape); shape := shape + 1; END IF;
  d := shape - 1.0 / 3;
  c := 1 / sqrt(9 * d);
  LOOP
    z := sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random());
    v := (1 + c * z) ^ 3;
    CONTINUE WHEN v <= 0;
    EXIT WHEN ln(1 - random()) < 0.5 * z * z + d - d * v + d * ln(v);
  END LOOP;
  RETURN d * v * boost / rate;
END $$;
CREATE TABLE ltv (id int PRIMARY KEY, frequency int, recency float8, t float8, monetary float8);
DO $$
DECLARE lam float8; pr float8; g float8; nu float8; clock float8; spend float8; f int; r float8; tt float8;
BEGIN
  FOR i IN 1..4000 LOOP
    tt := 4 + 48 * random(); lam := pg_temp.rgamma(0.25, 4); g := pg_temp.rgamma(0.8, 1);
    pr := g / (g + pg_temp.rgamma(2.5, 1)); nu := pg_temp.rgamma(4, 15);
    f := 0; r := 0; clock := 0; spend := 0;
    LOOP
      clock := clock - ln(1 - random()) / lam;
      EXIT WHEN clock > tt;
      f := f + 1; r := clock; spend := spend + pg_temp.rgamma(6, nu);
      EXIT WHEN random() < pr;
    END LOOP;
    INSERT INTO ltv VALUES (i, f, r, tt, CASE WHEN f > 0 THEN spend / f ELSE 0 END);
  END LOOP;
END $$;
CREATE TABLE ltv_local AS SELECT * FROM ltv;
SELECT create_distributed_table('ltv', 'id');
SELECT truncate_local_data_after_distributing_table('ltv');
SQL
) || diag "setup failed:" "$setup"

# 1-11: every training aggregate is pushed down: worker_partial_agg per shard, coord_combine_agg
explain() { q -c "EXPLAIN (VERBOSE, COSTS OFF) $1"; }
pushed() {  # the plan has both, and no row is gathered for an aggregate
  local plan
  plan=$(explain "$1" 2>&1)
  if printf '%s' "$plan" | grep -q "worker_partial_agg" && printf '%s' "$plan" | grep -q "coord_combine_agg"; then
    echo t; else printf '%s\n' "$plan" | head -20; fi
}
spec="(SELECT profenrich.model_spec('m_lin'))"
q -c "SELECT profenrich.train('m_lin', 'linear', 'p_local', 'y', ARRAY['a', 'b', 'c', 'd'])" >/dev/null
ok "linear_stats is pushed down" pushed "SELECT profenrich.linear_stats('\\x00'::bytea, ARRAY['y', 'id', 'a'], ROW(y, id, a)) FROM p"
ok "logistic_step is pushed down" pushed "SELECT profenrich.logistic_step('\\x00'::bytea, ARRAY[1, 1]::float8[], ARRAY['label', 'a'], ROW(label, a)) FROM p"
ok "linear_stats_grouped is pushed down" pushed "SELECT profenrich.linear_stats_grouped('\\x00'::bytea, 'country', 100, ARRAY['y', 'country', 'a'], ROW(y, country, a)) FROM p"
ok "logistic_step_grouped is pushed down" pushed "SELECT profenrich.logistic_step_grouped('\\x00'::bytea, ARRAY[1]::float8[], 'country', ARRAY[NULL::text], ARRAY['label', 'country', 'a'], ROW(label, country, a)) FROM p"
ok "clv_data is pushed down" pushed "SELECT profenrich.clv_data(3, frequency, recency, t, monetary) FROM ltv"
ok "clv_data with the customers' keys is pushed down" pushed "SELECT profenrich.clv_data(7, frequency, recency, t, monetary, id::text) FROM ltv"
ok "rfm is pushed down, ungrouped" pushed "SELECT profenrich.rfm(day, amount, '2024-12-31') FROM tx"
ok "rfm is pushed down, grouped by another column than the distribution's" pushed "SELECT day, profenrich.rfm(day, amount, '2024-12-31') FROM tx GROUP BY day"
ok "auc is pushed down" pushed "SELECT profenrich.auc(a, label) FROM p"
ok "multinomial_step is pushed down" pushed "SELECT profenrich.multinomial_step('\\x00'::bytea, ARRAY[0]::float8[], ARRAY['low', 'mid'], ARRAY['tier', 'a'], ROW(tier, a)) FROM p"
ok "kmeans_step is pushed down" pushed "SELECT profenrich.kmeans_step('\\x00'::bytea, ARRAY[1]::float8[], ARRAY['a', 'b'], ROW(a, b)) FROM p"

# 11-15: models trained on the distributed tables are those of the local copies (1e-10); with
# coordinator aggregation disabled, a pass that Citus would gather row by row fails
same_coefs() {  # two models' coefficients and standard errors, to 1e-10 relative
  q -c "SELECT count(*) > 0 AND bool_and(abs(d.coef - l.coef) <= 1e-10 * greatest(abs(l.coef), 1)
                 AND (l.std_err IS NULL OR abs(d.std_err - l.std_err) <= 1e-10 * l.std_err))
        FROM profenrich.coefficients('$1') d JOIN profenrich.coefficients('$2') l
          ON l.feature = d.feature AND l.\"group\" IS NOT DISTINCT FROM d.\"group\"
             AND l.class IS NOT DISTINCT FROM d.class"
}
train_both() {  # name, algorithm, target, features, options: both trained, then compared
  q -c "SET citus.coordinator_aggregation_strategy = 'disabled'" -c "SET client_min_messages = warning" \
    -c "SELECT profenrich.train('$1_dist', '$2', 'p', $3, $4, '$5')" \
    -c "SELECT profenrich.train('$1_local', '$2', 'p_local', $3, $4, '$5')" >/dev/null &&
    same_coefs "$1_dist" "$1_local"
}
ok "linear on a distributed table equals linear on the local copy" \
  train_both lin linear "'y'" "ARRAY['a', 'b', 'c', 'd']" '{}'
ok "logistic (in memory) equals the local copy's" \
  train_both logm logistic "'label'" "ARRAY['a', 'b', 'c', 'd']" '{}'
streaming() {  # the streaming path, and the metrics say so
  PGOPTIONS='-c profenrich.max_train_memory=64kB' train_both logs logistic "'label'" "ARRAY['a', 'b', 'c', 'd']" '{}' &&
    q -c "SELECT bool_and(metrics->>'path' = 'streaming') FROM profenrich.models WHERE name IN ('logs_dist', 'logs_local')"
}
ok "logistic by streaming passes equals the local copy's" streaming
grouped() {
  train_both glin linear "'y'" "ARRAY['a', 'b', 'c', 'd']" '{"group_by": "country"}' &&
    train_both glog logistic "'label'" "ARRAY['a', 'b', 'c']" '{"group_by": "country"}'
}
ok "models per group equal the local copy's, linear and logistic" grouped
ltv() {  # the same model as the local copy's, and a retrain sees the shards' changed rows
  q -c "SET citus.coordinator_aggregation_strategy = 'disabled'" \
    -c "SELECT profenrich.train('ltv_dist', 'clv', 'ltv')" -c "SELECT profenrich.train('ltv_local', 'clv', 'ltv_local')" >/dev/null || return
  q -c "SELECT count(*) = 7 AND bool_and(abs(d.coef - l.coef) <= 1e-10 * abs(l.coef))
        FROM profenrich.coefficients('ltv_dist') d JOIN profenrich.coefficients('ltv_local') l USING (feature)" || return
  q -c "UPDATE ltv SET recency = t WHERE id % 5 = 0 AND frequency > 0" -c "UPDATE ltv_local SET recency = t WHERE id % 5 = 0 AND frequency > 0" \
    -c "SELECT profenrich.train('ltv_dist', 'clv', 'ltv')" -c "SELECT profenrich.train('ltv_local', 'clv', 'ltv_local')" >/dev/null || return
  q -c "SELECT (SELECT metrics->>'log_likelihood' FROM profenrich.models WHERE name = 'ltv_dist' AND version = 2)
               <> (SELECT metrics->>'log_likelihood' FROM profenrich.models WHERE name = 'ltv_dist' AND version = 1)
           AND (SELECT bool_and(abs(d.coef - l.coef) <= 1e-10 * abs(l.coef))
                FROM profenrich.coefficients('ltv_dist') d JOIN profenrich.coefficients('ltv_local') l USING (feature))"
}
ok "lifetime value on a distributed table reads the shards' rows, not the coordinator's copy" ltv
# 16-18: scoring a distributed table equals scoring the local copy, and follows a redeploy made
# in another session (a prepared statement is planned again), the model pinned once per query
q -c "SELECT profenrich.train('churn', 'logistic', 'p_local', 'label', ARRAY['a', 'b', 'c', 'd'])" >/dev/null
scoring() {  # the distributed table's scores (a whole-row reference of a local table cannot reach the workers)
  q <<'SQL'
CREATE TEMP TABLE got AS SELECT id, profenrich.score_churn(dist) AS s, profenrich.predict_class('churn', dist) AS k,
       profenrich.percentile('churn', profenrich.score('churn', dist)) AS pct, profenrich.factors('churn', dist, 2) AS f,
       profenrich.factors_detail('churn', dist, 2) AS fd,
       profenrich.score('glin_dist', dist) AS g FROM p dist;
CREATE TEMP TABLE got_ltv AS SELECT id, profenrich.predict_ltv(dist, 'ltv_dist') AS v,
       profenrich.p_alive('ltv_dist', dist.frequency, dist.recency, dist.t) AS alive FROM ltv dist;
SELECT count(*) = 20000 AND bool_and(abs(g.s - profenrich.score_churn(loc)) < 1e-12)
   AND bool_and(g.k = profenrich.predict_class('churn', loc))
   AND bool_and(g.pct = profenrich.percentile('churn', profenrich.score('churn', loc)))
   AND bool_and(g.f = profenrich.factors('churn', loc, 2))
   AND bool_and(g.fd = profenrich.factors_detail('churn', loc, 2))
   AND bool_and(abs(g.g - profenrich.score('glin_local', loc)) < 1e-9)
FROM got g JOIN p_local loc USING (id);
SELECT count(*) = 4000 AND bool_and(abs(g.v - profenrich.predict_ltv(loc, 'ltv_dist')) < 1e-9)
   AND bool_and(abs(g.alive - profenrich.p_alive('ltv_dist', loc.frequency, loc.recency, loc.t)) < 1e-12)
FROM got_ltv g JOIN ltv_local loc USING (id);
SQL
}
ok "scoring a distributed table equals scoring the local copy" scoring
redeploy() {  # the other session's deploy is seen by the next execution of a prepared statement
  q <<SQL
PREPARE s AS SELECT sum(profenrich.score_churn(dist)) FROM p dist;
CREATE TEMP TABLE got1 AS EXECUTE s;
CREATE TEMP TABLE want1 AS SELECT sum(profenrich.score_churn(loc)) FROM p_local loc;
\\! $bindir/psql -X -q -At -d postgres -c "SELECT profenrich.train('churn', 'logistic', 'p_local', 'label', ARRAY['a', 'b'])" >/dev/null
CREATE TEMP TABLE got2 AS EXECUTE s;
SELECT abs((SELECT sum FROM got1) - (SELECT sum FROM want1)) < 1e-9
   AND abs((SELECT sum FROM got2) - (SELECT sum(profenrich.score_churn(loc)) FROM p_local loc)) < 1e-9
   AND abs((SELECT sum FROM got2) - (SELECT sum FROM got1)) > 1e-6;
SQL
}
ok "a redeploy in another session: the next execution scores with the new version" redeploy
local_parallel() {  # a query over local tables only is left alone: its parallel plan runs, scores equal serial
  q <<'SQL'
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT sum(profenrich.score_churn(loc)) FROM p_local loc;
CREATE TEMP TABLE par AS SELECT sum(profenrich.score_churn(loc)) AS s FROM p_local loc;
SET max_parallel_workers_per_gather = 0;
SELECT abs((SELECT s FROM par) - sum(profenrich.score_churn(loc))) < 1e-9 FROM p_local loc;
SQL
}
local_parallel_ok() {
  local out
  out=$(local_parallel 2>&1)
  printf '%s\n' "$out" | grep -q "Gather" && [ "$(printf '%s\n' "$out" | tail -n 1)" = t ] && echo t || echo "$out"
}
ok "a parallel plan over a local table on the coordinator is not touched, and scores as a serial one" local_parallel_ok
refused() {  # a role that may read p but not the table a model learned from
  q -c "CREATE ROLE citus_reader LOGIN" -c "GRANT USAGE ON SCHEMA profenrich TO citus_reader" \
    -c "CREATE TABLE secret AS SELECT * FROM p_local LIMIT 100" \
    -c "SELECT profenrich.train('secret_m', 'logistic', 'secret', 'label', ARRAY['a', 'b'])" \
    -c "GRANT SELECT ON p TO citus_reader" >/dev/null || return
  local out
  out=$(q -U citus_reader -v VERBOSITY=verbose -c "SELECT profenrich.score('secret_m', dist) FROM p dist LIMIT 1" 2>&1)
  printf '%s' "$out" | grep -q "ERROR:  42501" && echo t || echo "$out"
}
ok "a role that may not read the model's row cannot pin it into a distributed query (42501)" refused

# 19-21: enrich on a distributed table writes every row and a re-run none; a shard without a
# model column is refused
enrich_all() {
  q -c "SET client_min_messages = warning" \
    -c "CALL profenrich.enrich('p', ARRAY['churn', 'glin_dist'], '{\"percentile\": true, \"factors\": 2, \"batch_size\": 700}')" || return
  q <<'SQL'
SELECT r.status = 'finished' AND r.rows_updated = 20000 AND r.rows_scanned = 20000
FROM profenrich.enrich_runs r ORDER BY run_id DESC LIMIT 1;
SELECT count(*) = 20000 FROM p dist JOIN p_local loc USING (id)
WHERE abs(dist.churn_score - profenrich.score_churn(loc)) < 1e-12
  AND dist.churn_pct = profenrich.percentile('churn', profenrich.score_churn(loc))
  AND dist.churn_factors = profenrich.factors('churn', loc, 2)
  AND abs(dist.glin_dist_score - profenrich.score('glin_dist', loc)) < 1e-12;
SQL
}
ok "enrich writes every row of a distributed table" enrich_all
rerun() {  # prints the rows a re-run wrote, then those of a run after 400 rows changed
  local call="CALL profenrich.enrich('p', ARRAY['churn', 'glin_dist'], '{\"percentile\": true, \"factors\": 2}')"
  local last="SELECT rows_updated FROM profenrich.enrich_runs ORDER BY run_id DESC LIMIT 1"
  q -c "SET client_min_messages = warning" -c "$call" -c "$last" || return
  q -c "UPDATE p SET a = 1 - a WHERE id % 50 = 0" -c "UPDATE p_local SET a = 1 - a WHERE id % 50 = 0" >/dev/null
  q -c "SET client_min_messages = warning" -c "$call" -c "$last"
}
rerun_counts() { local out; out=$(rerun 2>&1); [ "$(echo $out)" = "0 400" ] && echo t || echo "$out"; }
ok "a re-run writes none, and one after a change writes the changed rows" rerun_counts
missing() {  # one shard loses a model column: the run is refused and logged failed, nothing written
  q -c "SELECT run_command_on_shards('p', 'ALTER TABLE %s DROP COLUMN churn_score') FROM pg_dist_shard
        WHERE logicalrelid = 'p'::regclass LIMIT 1" >/dev/null || return
  q -v VERBOSITY=verbose -c "UPDATE p SET a = 1 - a WHERE id % 50 = 0" \
    -c "CALL profenrich.enrich('p', ARRAY['churn'])" 2>&1 | grep -q "ERROR:  42703" && echo t
  q -c "SELECT status = 'failed' AND rows_updated = 0 AND error LIKE 'shard % has no column churn_score'
        FROM profenrich.enrich_runs ORDER BY run_id DESC LIMIT 1"
  q -c "SELECT run_command_on_shards('p', 'ALTER TABLE %s ADD COLUMN IF NOT EXISTS churn_score float8')" >/dev/null
  q -c "UPDATE p SET a = 1 - a WHERE id % 50 = 0" -c "SET client_min_messages = warning" \
    -c "CALL profenrich.enrich('p', ARRAY['churn'])" \
    -c "SELECT status = 'finished' AND rows_updated = 20000 FROM profenrich.enrich_runs ORDER BY run_id DESC LIMIT 1"
}
ok "a shard without a model column is refused (42703) and the run logged failed; with it back, every row is written" missing

# 22-23: the trigger scores inserts on the workers, with the version deployed now
q >/dev/null <<'SQL'
CREATE TABLE live (id int PRIMARY KEY, country text, a float8, b float8, c text, d float8, label boolean,
                   churn_score float8, churn_pct smallint);
SELECT create_distributed_table('live', 'id');
CREATE TRIGGER churn_now BEFORE INSERT OR UPDATE ON live FOR EACH ROW EXECUTE FUNCTION profenrich.enrich_trigger('churn');
SQL
ok "the trigger scores inserts into a distributed table" q -c "
  INSERT INTO live (id, country, a, b, c, d) SELECT id, country, a, b, c, d FROM p_local WHERE id <= 500" -c "
  SELECT count(*) = 500 AND bool_and(abs(l.churn_score - profenrich.score_churn(loc)) < 1e-12)
  FROM live l JOIN p_local loc USING (id)"
ok "after a redeploy the trigger scores with the new version" q -c "SELECT profenrich.deploy('churn', 1) IS NOT NULL" -c "
  INSERT INTO live (id, country, a, b, c, d) SELECT id, country, a, b, c, d FROM p_local WHERE id BETWEEN 501 AND 600" -c "
  SELECT count(*) = 100 AND bool_and(abs(l.churn_score - profenrich.score('churn', 1, loc)) < 1e-12)
     AND bool_and(abs(l.churn_score - profenrich.score('churn', 2, loc)) > 1e-9)
  FROM live l JOIN p_local loc USING (id) WHERE id > 500"

# 24-27: the other algorithms on a distributed table: multinomial and k-means train the local
# copy's models, in memory (Citus gathers the rows) and by pushed-down streaming passes (with
# coordinator aggregation disabled); class, segment and
# gbdt scoring is pinned and equals the local copy's; enrich writes the segments, and refuses an
# item model
same_segments() {  # the same segments: sizes, and centers to 1e-9 (segments of equal size may
  # be numbered either way: the shards' rows come in another order, so sums differ in the last bits)
  q -c "SELECT count(*) = 3 FROM profenrich.segments('$1') d
        WHERE EXISTS (SELECT FROM profenrich.segments('$2') l WHERE d.size = l.size
                        AND abs((d.center->>'a')::float8 - (l.center->>'a')::float8) < 1e-9
                        AND abs((d.center->>'b')::float8 - (l.center->>'b')::float8) < 1e-9
                        AND (SELECT bool_and(abs(v.value::text::float8 - (l.center->'c'->>v.key)::float8) < 1e-9)
                             FROM jsonb_each(d.center->'c') v))"
}
others() {
  q -c "SET client_min_messages = warning" \
    -c "SELECT profenrich.train('mn_dist', 'multinomial', 'p', 'tier', ARRAY['a', 'b', 'c'])" \
    -c "SELECT profenrich.train('mn_local', 'multinomial', 'p_local', 'tier', ARRAY['a', 'b', 'c'])" \
    -c "SELECT profenrich.train('seg_dist', 'kmeans', 'p', NULL, ARRAY['a', 'b', 'c'], '{\"k\": 3}')" \
    -c "SELECT profenrich.train('seg_local', 'kmeans', 'p_local', NULL, ARRAY['a', 'b', 'c'], '{\"k\": 3}')" \
    >/dev/null || return
  same_coefs mn_dist mn_local
  same_segments seg_dist seg_local
  PGOPTIONS='-c profenrich.max_train_memory=64kB' q -c "SET client_min_messages = warning" \
    -c "SET citus.coordinator_aggregation_strategy = 'disabled'" \
    -c "SELECT profenrich.train('mns_dist', 'multinomial', 'p', 'tier', ARRAY['a', 'b', 'c'])" \
    -c "SELECT profenrich.train('mns_local', 'multinomial', 'p_local', 'tier', ARRAY['a', 'b', 'c'])" \
    -c "SELECT profenrich.train('segs_dist', 'kmeans', 'p', NULL, ARRAY['a', 'b', 'c'], '{\"k\": 3}')" \
    -c "SELECT profenrich.train('segs_local', 'kmeans', 'p_local', NULL, ARRAY['a', 'b', 'c'], '{\"k\": 3}')" \
    >/dev/null || return
  q -c "SELECT count(*) = 4 AND bool_and(metrics->>'path' = 'streaming') FROM profenrich.models
        WHERE name IN ('mns_dist', 'mns_local', 'segs_dist', 'segs_local')"
  same_coefs mns_dist mns_local
  same_segments segs_dist segs_local
}
ok "multinomial and k-means on a distributed table equal the local copy's models, in memory and streaming" others
q -c "SET client_min_messages = warning" -c "SELECT profenrich.train('gb', 'gbdt', 'p_local', 'label', ARRAY['a', 'b', 'c', 'd'], '{\"n_trees\": 20}')" >/dev/null
other_scores() {
  q <<'SQL'
CREATE TEMP TABLE got AS SELECT id, profenrich.predict_class('mn_local', dist) AS k,
       profenrich.predict_proba('mn_local', dist, 'mid') AS pm, profenrich.segment('seg_local', dist) AS seg,
       profenrich.segment_of(dist, 'seg_local') AS seg2, profenrich.segment_distance('seg_local', dist) AS dd,
       profenrich.score_churn(dist, 'gb') AS g FROM p dist;
SELECT count(*) = 20000 AND bool_and(g.k = profenrich.predict_class('mn_local', loc))
   AND bool_and(abs(g.pm - profenrich.predict_proba('mn_local', loc, 'mid')) < 1e-12)
   AND bool_and(g.seg = profenrich.segment('seg_local', loc)) AND bool_and(g.seg2 = g.seg)
   AND bool_and(abs(g.dd - profenrich.segment_distance('seg_local', loc)) < 1e-12)
   AND bool_and(abs(g.g - profenrich.score_churn(loc, 'gb')) < 1e-12)
FROM got g JOIN p_local loc USING (id);
SQL
}
pinned_plan() {  # the shards' queries carry the models' params, not their names
  local plan
  plan=$(explain "SELECT profenrich.segment('seg_local', dist), profenrich.segment_of(dist, 'seg_local'),
                         profenrich.segment_distance('seg_local', dist), profenrich.predict_class('mn_local', dist),
                         profenrich.score_churn(dist, 'gb') FROM p dist" 2>&1)
  [ "$(printf '%s' "$plan" | grep -o "segment_columns_for('\\\\x\|segment_distance_columns_for('\\\\x\|class_columns_for('\\\\x\|score_columns_for('\\\\x" | sort -u | wc -l)" = 4 ] &&
    ! printf '%s' "$plan" | grep -q "'seg_local'\|'mn_local'\|'gb'" && echo t || printf '%s\n' "$plan" | head -20
}
other_scores_pinned() { pinned_plan && other_scores; }
ok "class, segment and gbdt scores of a distributed table are pinned and equal the local copy's" other_scores_pinned
enrich_segments() {
  q -c "SET client_min_messages = warning" -c "CALL profenrich.enrich('p', ARRAY['seg_local'], '{\"distance\": true}')" || return
  q -c "CREATE TEMP TABLE got AS SELECT id, seg_local_segment AS s, seg_local_distance AS dd FROM p" \
    -c "SELECT count(*) = 20000 AND bool_and(g.s = profenrich.segment('seg_local', loc))
               AND bool_and(abs(g.dd - profenrich.segment_distance('seg_local', loc)) < 1e-12)
        FROM got g JOIN p_local loc USING (id)"
}
ok "enrich writes the segments of a distributed table" enrich_segments
items_refused() {  # an item model scores from profenrich.model_users, which the workers lack
  q -c "SET client_min_messages = warning" -c "CREATE TABLE tx_local AS SELECT * FROM tx" \
    -c "SELECT profenrich.train('items', 'als', 'tx_local', options => '{\"user\": \"customer_id\", \"item\": \"day\", \"factors\": 4}')" \
    >/dev/null || return
  local out
  out=$(q -v VERBOSITY=verbose -c "CALL profenrich.enrich('p', ARRAY['items'], '{\"key\": \"id\"}')" 2>&1)
  printf '%s' "$out" | grep -q "ERROR:  0A000: enrich of a Citus table cannot write the outputs of item model" && echo t ||
    echo "$out"
}
ok "enrich of a distributed table refuses an item model (0A000)" items_refused
on_error_refused() {  # a shard's batch is one statement on its node: no row-by-row NULLs there
  local out
  out=$(q -v VERBOSITY=verbose -c "CALL profenrich.enrich('p', ARRAY['churn'], '{\"on_error\": \"null\"}')" 2>&1)
  printf '%s' "$out" | grep -q "ERROR:  0A000: enrich of a Citus table cannot write NULL for the rows whose scoring fails" && echo t ||
    echo "$out"
}
ok "enrich of a distributed table refuses on_error null (0A000)" on_error_refused

# 28: a dump of the coordinator restores its models, which score as before
dump_restore() {  # the registry and its deployments come back, and score the same
  local dump out
  dump=$(mktemp /tmp/profenrich-citus-dump-XXXXXX)
  out=$("$bindir/pg_dump" -Fc -d postgres -f "$dump" 2>&1 && "$bindir/createdb" restored 2>&1 &&
    "$bindir/pg_restore" --exit-on-error -d restored "$dump" 2>&1) || { rm -f "$dump"; echo "$out"; return; }
  rm -f "$dump"
  local models="SELECT string_agg(name || version || deployed || md5(params), ',' ORDER BY name, version) FROM profenrich.models"
  local sum="SELECT sum(profenrich.score_churn(loc)) || ' ' || sum(profenrich.predict_ltv(l2, 'ltv_dist')) FROM p_local loc, ltv_local l2 WHERE loc.id = l2.id"
  [ "$(q -c "$models")" = "$(q -d restored -c "$models")" ] && echo t || echo "models differ"
  [ "$(q -c "$sum")" = "$(q -d restored -c "$sum")" ] && echo t || echo "scores differ"
}
ok "a dump of the coordinator restores its models, which score as before" dump_restore
[ $fails -eq 0 ]
