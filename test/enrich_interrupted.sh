#!/usr/bin/env bash
# A run whose session ends before it finishes is seen as interrupted (issue 9: a run killed with
# SIGKILL stayed 'running' forever with its dead pid).  A long CALL profenrich.enrich is ended
# twice: by pg_terminate_backend, then by kill -9 of its backend (the server restarts every
# session).  Each time its logged row still says 'running' but profenrich.enrich_status shows
# it as interrupted (its session holds no enrich lock), the next run of the table marks the row
# interrupted, and finishes the job: every row scored.  Prints TAP.
set -uo pipefail
db=profenrich_interrupted
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" -c "$1"; }
diag() { printf '%s\n' "$@" | sed 's/^/# /'; }
aout=$(mktemp /tmp/profenrich-interrupted-XXXXXX)
apid=""
cleanup() {
  if [ -n "$apid" ] && kill -0 "$apid" 2>/dev/null; then kill "$apid" 2>/dev/null; wait "$apid" 2>/dev/null; fi
  dropdb --if-exists --force "$db" >/dev/null 2>&1
  rm -f "$aout"
}
trap cleanup EXIT
echo "1..10"
dropdb --if-exists --force "$db" && createdb "$db"
if ! setup=$(q "CREATE EXTENSION profenrich;
  CREATE TABLE people AS SELECT i AS person_id, (i % 60) AS tenure, (i % 100)::numeric AS visits,
         (i % 3 = 0) AS churned
  FROM generate_series(1, 800000) i;
  CREATE TABLE people_sample AS SELECT * FROM people WHERE person_id <= 5000;
  SELECT profenrich.train('churn', 'logistic', 'people_sample', 'churned', ARRAY['tenure', 'visits']);" 2>&1); then
  diag "setup failed:" "$setup"
fi

# Start a long run in the background; its pid once enrich_status shows it running.
start_run() {
  psql -X -q -At -d "$db" -c "CALL profenrich.enrich('people', array['churn'], '{\"batch_size\": 1000}')" \
    >"$aout" 2>&1 &
  apid=$!
  pid=""
  for _ in $(seq 1 40); do   # at most 20 s
    pid=$(q "SELECT pid FROM profenrich.enrich_status WHERE status = 'running' AND rows_scanned > 0" 2>/dev/null)
    [ -n "$pid" ] && break
    kill -0 "$apid" 2>/dev/null || break
    sleep 0.5
  done
}
# The logged and the shown status of the run of that pid
statuses() {
  q "SELECT r.status || '|' || s.status FROM profenrich.enrich_runs r
     JOIN profenrich.enrich_status s USING (run_id) WHERE r.pid = ${pid:-0} ORDER BY run_id DESC LIMIT 1" 2>&1
}
# A new run in a fresh session: the earlier row marked, this one finished, every row scored
rerun() {
  PGOPTIONS="-c client_min_messages=warning" psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" \
    -c "CALL profenrich.enrich('people', array['churn'], '{\"batch_size\": 50000}')" \
    -c "SELECT (SELECT status FROM profenrich.enrich_runs WHERE pid = ${pid:-0} ORDER BY run_id LIMIT 1),
               (SELECT status FROM profenrich.enrich_runs ORDER BY run_id DESC LIMIT 1),
               (SELECT count(churn_score) = count(*) FROM people)" 2>&1 | tail -n 1
}

# 1. pg_terminate_backend: the session ends (FATAL) between two committed batches
start_run
if [ -n "$pid" ]; then echo "ok 1 - a long run is running"; else
  echo "not ok 1 - a long run is running"; diag "session:" "$(cat "$aout")"; fi
killed=$(q "SELECT pg_terminate_backend(${pid:-0}, 10000)" 2>&1)
wait "$apid" 2>/dev/null
st=$(statuses)
if [ "$killed" = "t" ] && [ "$st" = "running|interrupted" ]; then
  echo "ok 2 - after pg_terminate_backend the run is logged running and shown interrupted"; else
  echo "not ok 2 - after pg_terminate_backend the run is logged running and shown interrupted"
  diag "terminated: $killed, logged|shown: $st" "$(cat "$aout")"; fi
done_partly=$(q "SELECT count(churn_score) > 0 AND count(churn_score) < count(*) FROM people" 2>&1)
if [ "$done_partly" = "t" ]; then echo "ok 3 - its committed batches are kept"; else
  echo "not ok 3 - its committed batches are kept"; diag "some but not all scored: $done_partly"; fi
out=$(rerun)
if [ "$out" = "interrupted|finished|t" ]; then
  echo "ok 4 - the next run marks it interrupted and finishes the job"; else
  echo "not ok 4 - the next run marks it interrupted and finishes the job"
  diag "expected interrupted|finished|t (old run|new run|all scored), got:" "$out"; fi

# 2. kill -9 of the backend: the server restarts every session
q "UPDATE people SET churn_score = NULL" >/dev/null 2>&1
start_run
if [ -n "$pid" ]; then echo "ok 5 - another long run is running"; else
  echo "not ok 5 - another long run is running"; diag "session:" "$(cat "$aout")"; fi
[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
wait "$apid" 2>/dev/null
up=""
for _ in $(seq 1 60); do   # at most 30 s for the restart
  up=$(q "SELECT 1" 2>/dev/null) && [ "$up" = "1" ] && break
  sleep 0.5
done
if [ "$up" = "1" ]; then echo "ok 6 - the server is back after the SIGKILL"; else
  echo "not ok 6 - the server is back after the SIGKILL"; fi
st=$(statuses)
if [ "$st" = "running|interrupted" ]; then
  echo "ok 7 - after kill -9 the run is logged running and shown interrupted"; else
  echo "not ok 7 - after kill -9 the run is logged running and shown interrupted"
  diag "logged|shown: $st" "$(cat "$aout")"; fi
locks=$(q "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 1346715221" 2>&1)
if [ "$locks" = "0" ]; then echo "ok 8 - no session holds an enrich lock"; else
  echo "not ok 8 - no session holds an enrich lock"; diag "enrich locks: $locks"; fi
out=$(rerun)
if [ "$out" = "interrupted|finished|t" ]; then
  echo "ok 9 - the next run marks it interrupted and finishes the job"; else
  echo "not ok 9 - the next run marks it interrupted and finishes the job"
  diag "expected interrupted|finished|t (old run|new run|all scored), got:" "$out"; fi
shown=$(q "SELECT string_agg(status, ',' ORDER BY run_id) FROM profenrich.enrich_status" 2>&1)
if [ "$shown" = "interrupted,finished,interrupted,finished" ]; then
  echo "ok 10 - enrich_status lists the four runs as they ended"; else
  echo "not ok 10 - enrich_status lists the four runs as they ended"; diag "got: $shown"; fi
