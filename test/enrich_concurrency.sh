#!/usr/bin/env bash
# Two enrich runs on one table never interleave: while a long run is in progress, a second
# CALL profenrich.enrich on the same table fails at once (SQLSTATE 55P03, within 2 s) instead of
# waiting, and leaves the first run, its lock and the run log untouched.  Once the first run is
# cancelled (pg_cancel_backend on the pid in enrich_runs) the run is logged as failed and the lock
# is free at once, its session still open; a new run succeeds, scores every row and releases
# the lock itself.  Prints TAP.
set -uo pipefail
db=profenrich_concurrency
lockclass=1346715221   # the advisory lock class of enrich ("PENE")
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" -c "$1"; }
diag() { printf '%s\n' "$@" | sed 's/^/# /'; }
aout=$(mktemp /tmp/profenrich-concurrency-XXXXXX)
apid=""
cleanup() {
  if [ -n "$apid" ] && kill -0 "$apid" 2>/dev/null; then kill "$apid" 2>/dev/null; wait "$apid" 2>/dev/null; fi
  dropdb --if-exists --force "$db" >/dev/null 2>&1
  rm -f "$aout"
}
trap cleanup EXIT
echo "1..8"
dropdb --if-exists --force "$db" && createdb "$db"
if ! setup=$(q "CREATE EXTENSION profenrich;
  CREATE TABLE people AS SELECT i AS person_id, (i % 60) AS tenure, (i % 100)::numeric AS visits,
         (i % 3 = 0) AS churned
  FROM generate_series(1, 2000000) i;
  ALTER TABLE people ADD PRIMARY KEY (person_id);
  CREATE TABLE people_sample AS SELECT * FROM people WHERE person_id <= 5000;
  SELECT profenrich.train('churn', 'logistic', 'people_sample', 'churned', ARRAY['tenure', 'visits']);" 2>&1); then
  diag "setup failed:" "$setup"
fi
lockrow="locktype = 'advisory' AND classid = $lockclass AND objid = 'people'::regclass::oid AND objsubid = 2"

# Session A: a real, long run (2,000,000 rows in batches of 1000), in the background; the session
# stays open a while after the run ends (a failed command does not end psql).
psql -X -q -At -d "$db" -c "CALL profenrich.enrich('people', array['churn'], '{\"batch_size\": 1000}')" \
  -c "SELECT pg_sleep(8)" >"$aout" 2>&1 &
apid=$!
pid=""
for _ in $(seq 1 40); do   # at most 20 s
  pid=$(q "SELECT pid FROM profenrich.enrich_runs WHERE target = 'public.people' AND status = 'running'" 2>/dev/null)
  [ -n "$pid" ] && break
  kill -0 "$apid" 2>/dev/null || break
  sleep 0.5
done
if [ -n "$pid" ]; then echo "ok 1 - the first run is logged as running"; else
  echo "not ok 1 - the first run is logged as running"; diag "session A:" "$(cat "$aout")"; fi

# Session B: the same call while A runs.
t0=$(date +%s%N)
bout=$(timeout 30 psql -X -q -At -v VERBOSITY=verbose -d "$db" \
  -c "CALL profenrich.enrich('people', array['churn'], '{\"batch_size\": 1000}')" 2>&1); brc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
if [ $brc -ne 0 ] && grep -q "ERROR:  55P03: another enrich run is in progress on public.people" <<<"$bout"; then
  echo "ok 2 - a second run fails with SQLSTATE 55P03, another enrich run is in progress"; else
  echo "not ok 2 - a second run fails with SQLSTATE 55P03, another enrich run is in progress"
  diag "exit status $brc:" "$bout"; fi
if [ $brc -ne 0 ] && [ $brc -ne 124 ] && [ $ms -lt 2000 ]; then
  echo "ok 3 - the second run fails at once ($ms ms), it does not wait"; else
  echo "not ok 3 - the second run fails at once, it does not wait"; diag "took $ms ms, exit status $brc"; fi

# B changed nothing: A still runs and holds the lock, and B logged no run.
state=$(q "SELECT (SELECT string_agg(pid::text, ',') FROM pg_locks WHERE $lockrow AND granted),
                  (SELECT string_agg(status, ',' ORDER BY run_id) FROM profenrich.enrich_runs)" 2>&1)
if [ -n "$pid" ] && [ "$state" = "$pid|running" ]; then
  echo "ok 4 - the refused run left the first one alone: it holds the lock, one run logged"; else
  echo "not ok 4 - the refused run left the first one alone: it holds the lock, one run logged"
  diag "expected: $pid|running" "got (lock holders|run statuses): $state"; fi

# Cancel A: the run is logged as failed, with the reason, and releases the lock at once,
# while A's session is still open.
cancelled=$(q "SELECT pg_cancel_backend(${pid:-0})" 2>&1)
status=""
for _ in $(seq 1 20); do   # at most 10 s
  status=$(q "SELECT status || '|' || coalesce(error, '') FROM profenrich.enrich_runs WHERE pid = ${pid:-0}" 2>&1)
  [ "${status%%|*}" = "failed" ] && break
  sleep 0.5
done
if [ "$cancelled" = "t" ] && [ "$status" = "failed|canceling statement due to user request" ]; then
  echo "ok 5 - pg_cancel_backend stops the first run, logged as failed with the reason"; else
  echo "not ok 5 - pg_cancel_backend stops the first run, logged as failed with the reason"
  diag "pg_cancel_backend: $cancelled, run: $status" "$(cat "$aout")"; fi
held=$(q "SELECT count(*) FROM pg_locks WHERE $lockrow" 2>&1)
if [ "$held" = "0" ] && kill -0 "$apid" 2>/dev/null; then
  echo "ok 6 - the cancelled run released the lock, its session still open"; else
  echo "not ok 6 - the cancelled run released the lock, its session still open"
  diag "lock rows: $held, session A still open: $(kill -0 "$apid" 2>/dev/null && echo yes || echo no)"; fi
wait "$apid" 2>/dev/null

# A new run, then in the same session: the run is logged finished, every row has a score, and
# this session no longer holds the lock.
out=$(PGOPTIONS="-c client_min_messages=warning" psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" \
  -c "CALL profenrich.enrich('people', array['churn'])" \
  -c "SELECT (SELECT status FROM profenrich.enrich_runs ORDER BY run_id DESC LIMIT 1),
             (SELECT count(churn_score) = count(*) FROM people),
             (SELECT count(*) FROM pg_locks WHERE $lockrow AND pid = pg_backend_pid())" 2>&1); rc=$?
last=$(tail -n 1 <<<"$out")
if [ $rc -eq 0 ] && [ "${last%|*}" = "finished|t" ]; then
  echo "ok 7 - a new run succeeds and scores every row"; else
  echo "not ok 7 - a new run succeeds and scores every row"
  diag "expected: finished|t|0 (status|all scored|locks held)" "got ($rc):" "$out"; fi
if [ $rc -eq 0 ] && [ "${last##*|}" = "0" ]; then
  echo "ok 8 - the finished run released the lock, its session still open"; else
  echo "not ok 8 - the finished run released the lock, its session still open"
  diag "expected: finished|t|0 (status|all scored|locks held)" "got ($rc):" "$out"; fi
