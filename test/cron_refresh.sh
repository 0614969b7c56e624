#!/usr/bin/env bash
# The scheduled refresh runs under pg_cron: a job scheduled in database postgres with
# cron.schedule_in_database runs CALL profenrich.enrich('people', array['churn']) in another
# database (as the job owner, in a background worker); the run is logged finished in
# profenrich.enrich_runs, every row gets its score, and cron.job_run_details records the job as
# succeeded.  A second job in the same minute runs the drift check, CALL
# profenrich.log_drift('churn', 'public.people'), whose rows land in profenrich.drift_log.
# pg_cron has minute granularity, so this waits up to 130 s.  The jobs are unscheduled and the
# database dropped even on failure.  Prints TAP.
set -uo pipefail
db=profenrich_cron job=profenrich-refresh drift_job=profenrich-drift
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }
diag() { printf '%s\n' "$@" | sed 's/^/# /'; }
unschedule="SELECT count(cron.unschedule(jobid)) FROM cron.job WHERE jobname = '$job'"
unschedule_drift="SELECT count(cron.unschedule(jobid)) FROM cron.job WHERE jobname = '$drift_job'"
cleanup() {
  q postgres "$unschedule" >/dev/null 2>&1
  q postgres "$unschedule_drift" >/dev/null 2>&1
  dropdb --if-exists --force "$db" >/dev/null 2>&1
}
trap cleanup EXIT
echo "1..7"
dropdb --if-exists --force "$db" && createdb "$db"
if ! setup=$(q "$db" "CREATE EXTENSION profenrich;
  CREATE TABLE people AS SELECT i AS person_id, (i % 60) AS tenure, (i % 100)::numeric AS visits,
         (i % 3 = 0) AS churned
  FROM generate_series(1, 5000) i;
  ALTER TABLE people ADD PRIMARY KEY (person_id);
  SELECT profenrich.train('churn', 'logistic', 'people', 'churned', ARRAY['tenure', 'visits']);" 2>&1); then
  diag "setup failed:" "$setup"
fi

out=$(q postgres "CREATE EXTENSION IF NOT EXISTS pg_cron;
  $unschedule;
  SELECT cron.schedule_in_database('$job', '* * * * *',
                                   \$\$CALL profenrich.enrich('people', array['churn'])\$\$, '$db');" 2>&1)
jobid=$(tail -n 1 <<<"$out")
drift_out=$(q postgres "$unschedule_drift;
  SELECT cron.schedule_in_database('$drift_job', '* * * * *',
                                   \$\$CALL profenrich.log_drift('churn', 'public.people')\$\$, '$db');" 2>&1)
drift_jobid=$(tail -n 1 <<<"$drift_out")
check=$(q postgres "SELECT schedule || ' ' || database || ' ' || username || ' ' || active || ' ' || command
  FROM cron.job WHERE jobid = ${jobid:-0} AND jobname = '$job'" 2>&1)
want="* * * * * $db postgres true CALL profenrich.enrich('people', array['churn'])"
if [ "$check" = "$want" ]; then echo "ok 1 - the refresh job is scheduled"; else
  echo "not ok 1 - the refresh job is scheduled"; diag "expected: $want" "got: $check" "$out"; fi

# Wait for the run: every 2 s, at most 130 s; stop early if the job is logged as failed.
t0=$(date +%s)
status="" failed=""
while [ $(( $(date +%s) - t0 )) -le 130 ]; do
  status=$(q "$db" "SELECT status FROM profenrich.enrich_runs
                    WHERE target = 'public.people' AND status <> 'running' ORDER BY run_id LIMIT 1" 2>/dev/null)
  [ -n "$status" ] && break
  failed=$(q postgres "SELECT return_message FROM cron.job_run_details
                       WHERE jobid = ${jobid:-0} AND status = 'failed' LIMIT 1" 2>/dev/null)
  [ -n "$failed" ] && break
  sleep 2
done
secs=$(( $(date +%s) - t0 ))
if [ -n "$status" ]; then echo "ok 2 - the scheduled enrich run is recorded within 130 s ($secs s)"; else
  echo "not ok 2 - the scheduled enrich run is recorded within 130 s"
  diag "waited $secs s; job failed: ${failed:-no}"; fi

res=$(q "$db" "SELECT (SELECT status || ' ' || run_by || ' ' || rows_updated FROM profenrich.enrich_runs
                       WHERE target = 'public.people' AND status <> 'running' ORDER BY run_id LIMIT 1),
                      (SELECT count(churn_score) || '/' || count(*) FROM people)" 2>&1)
if [ "$res" = "finished postgres 5000|5000/5000" ]; then
  echo "ok 3 - the run finished and wrote every score"; else
  echo "not ok 3 - the run finished and wrote every score"
  diag "expected: finished postgres 5000|5000/5000 (status run_by rows_updated|scored/rows)" "got: $res"; fi

# pg_cron logs the job's outcome after the command returns: wait (at most 20 s) for the first
# run of the job to leave 'starting'/'running'.
jstatus=""
for _ in $(seq 1 10); do
  jstatus=$(q postgres "SELECT status || ' ' || coalesce(return_message, '') FROM cron.job_run_details
                        WHERE jobid = ${jobid:-0} ORDER BY runid LIMIT 1" 2>&1)
  case "$jstatus" in succeeded*|failed*) break ;; esac
  sleep 2
done
if [ "$jstatus" = "succeeded CALL" ]; then echo "ok 4 - cron.job_run_details shows the job succeeded"; else
  echo "not ok 4 - cron.job_run_details shows the job succeeded"
  diag "expected: succeeded CALL (status return_message)" "got: $jstatus"; fi

un=$(q postgres "$unschedule; SELECT count(*) FROM cron.job WHERE jobname = '$job'" 2>&1)
if [ "$un" = $'1\n0' ]; then echo "ok 5 - the job is unscheduled"; else
  echo "not ok 5 - the job is unscheduled"; diag "expected: 1 unscheduled, 0 left" "got: $un"; fi
# the drift check of the same minute: one row per feature and the score, by the job's owner
drift=""
for _ in $(seq 1 15); do
  drift=$(q "$db" "SELECT count(*) || ' ' || string_agg(DISTINCT status, ',') || ' ' ||
                          string_agg(DISTINCT logged_by::text, ',') || ' ' || count(DISTINCT logged_at)
                   FROM profenrich.drift_log WHERE model = 'churn'
                   HAVING count(*) > 0" 2>/dev/null)
  [ -n "$drift" ] && break
  sleep 2
done
if [ "${drift%% *}" -ge 3 ] 2>/dev/null && [[ "$drift" == *" stable postgres "* ]]; then
  echo "ok 6 - the scheduled drift check is in profenrich.drift_log ($drift)"; else
  echo "not ok 6 - the scheduled drift check is in profenrich.drift_log"
  diag "expected: 3 rows (or a multiple), stable, postgres (count statuses logged_by checks)" "got: $drift" \
       "$(q postgres "SELECT status || ' ' || coalesce(return_message, '') FROM cron.job_run_details
                       WHERE jobid = ${drift_jobid:-0} ORDER BY runid" 2>&1)"; fi
un=$(q postgres "$unschedule_drift; SELECT count(*) FROM cron.job WHERE jobname = '$drift_job'" 2>&1)
if [ "$un" = $'1\n0' ]; then echo "ok 7 - the drift job is unscheduled"; else
  echo "not ok 7 - the drift job is unscheduled"; diag "expected: 1 unscheduled, 0 left" "got: $un"; fi

dropdb --if-exists --force "$db"
