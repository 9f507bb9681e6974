#!/usr/bin/env bash
# test/suites/pg_cron.sh -- awa.maintenance() scheduled for real by pg_cron.
#
# The test cluster preloads pg_cron with cron.database_name = 'awa_cron'
# (scripts/pgenv.sh).  This suite installs both extensions there, seeds
# completed jobs in queue slot 0, schedules SELECT awa.maintenance() every
# minute with cron.schedule('awa-maintenance', '* * * * *', ...), waits
# (bounded, at most 75 s) for one succeeded run in cron.job_run_details and
# checks from the tables that the tick rotated and pruned.  Last line:
# "N passed, N failed"; exit status non-zero on failure.
set -uo pipefail
cd "$(dirname "$0")/../.."

db=awa_cron
. test/stress/lib.sh
# psql with options (lib.sh's q takes one statement)
q() {
	PGOPTIONS="-c client_min_messages=warning" psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$db" "$@"
}
# the closing line, after unscheduling the job
finish_cron() {
	q -c "SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = 'awa-maintenance'" >/dev/null 2>&1
	finish
}

q -c "DROP EXTENSION IF EXISTS awa_queue CASCADE" \
	-c "CREATE EXTENSION IF NOT EXISTS pg_cron" \
	-c "CREATE EXTENSION awa_queue" || {
	notok "install pg_cron and awa_queue"
	finish_cron
}

# 4 jobs enqueued, claimed and completed in slot 0 (direct INSERTs, the same
# rows the hot path writes)
q -f test/awa_test_helpers.sql \
	-c "SELECT count(*) FROM pg_temp.seed_enqueue('cron', 4)" \
	-c "SELECT count(*) FROM pg_temp.seed_claim('cron', 4)" \
	-c "SELECT sum(pg_temp.seed_complete(job_id)) FROM awa.lease_claims" >/dev/null
expect "seeded terminal rows in slot 0" "$(q -c "SELECT count(*) FROM awa.done_entries_0")" 4

jobid=$(q -c "SELECT cron.schedule('awa-maintenance', '* * * * *', 'SELECT awa.maintenance()')")
expect "job scheduled" "$(q -c "SELECT schedule || ' ' || command FROM cron.job WHERE jobname = 'awa-maintenance'")" \
	"* * * * * SELECT awa.maintenance()"

status=""
for _ in $(seq 1 75); do
	status=$(q -c "SELECT status FROM cron.job_run_details WHERE jobid = $jobid AND status IN ('succeeded', 'failed') ORDER BY runid LIMIT 1")
	[ -n "$status" ] && break
	sleep 1
done
expect "pg_cron ran awa.maintenance() within 75 s" "$status" succeeded
if [ "$status" != succeeded ]; then
	q -c "SELECT runid, status, return_message FROM cron.job_run_details WHERE jobid = $jobid ORDER BY runid"
fi
q -c "SELECT cron.unschedule($jobid)" >/dev/null

expect "the tick rotated the queue ring" "$(q -c "SELECT current_slot FROM awa.queue_ring_state")" 1
expect "the tick pruned slot 0" "$(q -c "SELECT (SELECT count(*) FROM awa.done_entries_0) + (SELECT count(*) FROM awa.ready_entries_0)")" 0
expect "the folded count is in the rollups" "$(q -c "SELECT pruned_completed_count FROM awa.queue_terminal_rollups WHERE queue = 'cron'")" 4
expect "slot 0 counter rows are gone" "$(q -c "SELECT count(*) FROM awa.queue_terminal_live_counts WHERE ready_slot = 0")" 0
expect "counters consistent" "$(q -c "SELECT count(*) FROM awa.verify_terminal_counters()")" 0
expect "available counts exact" "$(q -c "SELECT count(*) FROM awa.verify_available_counts()")" 0
expect "terminal total unchanged" "$(q -c "SELECT COALESCE((SELECT sum(live_terminal_count) FROM awa.queue_terminal_live_counts), 0) + (SELECT sum(pruned_completed_count) FROM awa.queue_terminal_rollups)")" 4
finish_cron
