#!/usr/bin/env bash
# test/suites/crash.sh -- crash recovery under load (reliability-tests.md R1/R2).
#
# Producers (3 x enqueue, 1 x enqueue_many of 20) and workers (2 x claim 20,
# hold 30 ms, complete) run as psql streams that keep a client-side ledger:
# "S <xid> <ids>" after the call and before COMMIT, "A <xid>" after COMMIT
# returned.  A maintenance client ticks too when maintenance exists.  After
# a few seconds the server is crashed (pg_ctl stop -m immediate: SIGQUIT,
# no checkpoint) and restarted.  In-doubt commits (S without A) are resolved
# with pg_xact_status(xid).  Then:
#   - every committed enqueue is present exactly once (or counted by a prune
#     rollup), every aborted one is absent, nothing else is present;
#   - every committed completion is a completed row with its run_lease;
#   - counters are exact, queue_counts equals the census;
#   - attempts that were running at the crash are rescued once after their
#     deadline (backdated), retried and completed: everything drains;
#   - no partition is left locked, amcheck finds nothing, no prepared xact.
# The cluster is up again when the suite exits, whatever happened.
set -uo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/pgenv.sh
. scripts/pgenv.sh
# shellcheck source=test/stress/lib.sh
. test/stress/lib.sh

stress_use_or_start_cluster

db=awa_crash
load_seconds=${CRASH_LOAD_SECONDS:-4}
out=$(mktemp -d "${TMPDIR:-/tmp}/awa_crash.XXXXXX")
chmod 755 "$out"
log=$AWA_PGDATA/server.log
pids=()

server_up() {
	psql -X -q -A -t -d postgres -c "SELECT 1" >/dev/null 2>&1
}
# the cluster must be up when the suite ends, and no client of ours left
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null
	done
	if ! server_up; then
		awa_pg_ctl start -w -t 60 -l "$log" >/dev/null 2>&1
	fi
	rm -rf "$out"
	if $own_cluster; then
		awa_cluster_stop
	fi
}
trap cleanup EXIT

psql -X -q -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null || exit 1
psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "CREATE EXTENSION awa_queue" -c "CREATE EXTENSION amcheck" \
	-f test/stress/census.sql >/dev/null || {
	notok "crash set-up"
	finish
}
if ! have 'awa.enqueue(text,jsonb,text,smallint,timestamptz,smallint,jsonb,text[],bytea,bit,text)' ||
	! have 'awa.claim_batch(text,integer,interval,interval)' || ! have 'awa.complete_batch(bigint[],bigint[])'; then
	echo "# the hot path is not installed: nothing to crash"
	finish
fi
have_many=false
have 'awa.enqueue_many(jsonb)' && have_many=true
have_maint=false
have 'awa.maintenance()' && have_maint=true
have_rescue=false
have 'awa.rescue_expired(integer)' && have 'awa.promote_due(integer)' && have_rescue=true

# --- clients: endless psql command streams --------------------------------
producer() {
	local n=0
	while :; do
		n=$((n + 1))
		printf "BEGIN;\nSELECT pg_current_xact_id() AS xid, awa.enqueue('crash_kind', '{\"n\": %d}', 'crash_q', %d::smallint, NULL, 3::smallint) AS ids \\gset\n\\\\echo S :xid :ids\nCOMMIT;\n\\\\echo A :xid\n" \
			"$n" $((n % 4 + 1))
	done
}
producer_many() {
	while :; do
		printf "BEGIN;\nSELECT pg_current_xact_id() AS xid, string_agg(id::text, ',') AS ids FROM awa.enqueue_many((SELECT jsonb_agg(jsonb_build_object('kind', 'crash_kind', 'queue', 'crash_q', 'priority', 1 + i %% 4, 'max_attempts', 3)) FROM generate_series(1, 20) AS i)) AS id \\gset\n\\\\echo S :xid :ids\nCOMMIT;\n\\\\echo A :xid\n"
	done
}
worker() {
	while :; do
		printf "SELECT coalesce(array_agg(job_id)::text, '{}') AS ids, coalesce(array_agg(run_lease)::text, '{}') AS leases FROM awa.claim_batch('crash_q', 20, interval '10 minutes') \\gset\n"
		printf "SELECT pg_sleep(0.03);\n"
		printf "BEGIN;\nSELECT pg_current_xact_id() AS xid, coalesce(string_agg(job_id || ':' || run_lease, ','), '') AS ids FROM awa.complete_batch(:'ids', :'leases') \\gset\n\\\\echo S :xid :ids\nCOMMIT;\n\\\\echo A :xid\n"
	done
}
maintainer() {
	while :; do
		printf "SELECT awa.maintenance();\nSELECT pg_sleep(0.1);\n"
	done
}
start_client() {
	local name=$1
	shift
	("$@" | psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$db" >"$out/$name.ledger" 2>"$out/$name.err") &
	pids+=($!)
}
for i in 1 2 3; do
	start_client "enqueue$i" producer
done
$have_many && start_client enqueue_many producer_many
start_client work1 worker
start_client work2 worker
$have_maint && start_client maint maintainer
sleep "$load_seconds"

# --- the crash ------------------------------------------------------------------
logpos=$(stat -c %s "$log" 2>/dev/null || echo 0)
# Attempts running at the crash, whatever the workers' timing (each claims,
# sleeps 30 ms, completes: both can be between batches at that instant): a
# committed claim of 5 jobs that nobody completes, so that the rescue checks
# below always have attempts to take back.
q "SELECT count(*) FROM awa.claim_batch('crash_q', 5, interval '10 minutes')" >/dev/null
running=$(q "SELECT count(*) FROM storm.census WHERE state = 'running'")
awa_pg_ctl stop -m immediate >/dev/null 2>&1
for p in "${pids[@]}"; do
	# clients exit on the lost connection; a stuck one is ended after 10 s
	for _ in $(seq 1 100); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	kill "$p" 2>/dev/null
	wait "$p" 2>/dev/null
done
pids=()
t0=$(date +%s.%N)
awa_pg_ctl start -w -t 60 -l "$log" >/dev/null 2>&1
for _ in $(seq 1 100); do
	server_up && break
	sleep 0.1
done
# Before anything writes: the first xid recovery will hand out.  An xid at or
# above it never reached the WAL, so its transaction cannot have committed;
# and the xid will be handed out again, so pg_xact_status(xid) would then
# report the new owner's fate.  Only xids below it are resolved through
# pg_xact_status.  (A read-only query assigns no xid.)
next_xid=$(q "SELECT pg_snapshot_xmax(pg_current_snapshot())")
q "SELECT awa.enqueue('crash_probe', '{}', 'crash_probe_q')" >/dev/null 2>&1
t1=$(date +%s.%N)
echo "# crashed after ${load_seconds}s of load with about $running attempts running; first enqueue accepted $(echo "$t1 - $t0" | bc) s after restart began"
if tail -c +"$((logpos + 1))" "$log" | grep -q 'not properly shut down; automatic recovery in progress'; then
	ok "the server crashed and went through crash recovery"
else
	notok "no crash recovery in the server log"
fi

# --- the ledger -------------------------------------------------------------------
# one row per transaction: client, xid, ids (job ids or job:lease pairs), acked
for f in "$out"/*.ledger; do
	name=$(basename "$f" .ledger)
	awk -v c="$name" '$1 == "S" { s[$2] = $3; order[++n] = $2 } $1 == "A" { a[$2] = 1 }
		END { for (i = 1; i <= n; i++) { x = order[i]; printf "%s\t%s\t%s\t%s\n", c, x, s[x], (x in a) ? "t" : "f" } }' "$f"
done >"$out/ledger.tsv"
grep -h . "$out"/*.err 2>/dev/null | grep -v -E 'connection|terminat|server closed|no connection|FATAL|could not send|before or while' | head -5 | sed 's/^/# client stderr: /'
q "CREATE TABLE storm.ledger (client text, xid xid8, ids text, acked boolean);
   CREATE TABLE storm.ledger_status AS SELECT * FROM storm.ledger" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "\\copy storm.ledger FROM '$out/ledger.tsv'" >/dev/null
q "DROP TABLE storm.ledger_status;
   CREATE TABLE storm.ledger_status AS
   SELECT client, xid, ids, acked,
		  CASE WHEN xid >= '$next_xid'::xid8 THEN 'aborted' ELSE pg_xact_status(xid) END AS status
   FROM storm.ledger;
   CREATE TABLE storm.enq AS
   SELECT id::bigint AS job_id, l.status, l.acked FROM storm.ledger_status AS l,
		  unnest(string_to_array(nullif(l.ids, ''), ',')) AS id WHERE l.client LIKE 'enqueue%';
   CREATE TABLE storm.comp AS
   SELECT split_part(p, ':', 1)::bigint AS job_id, split_part(p, ':', 2)::bigint AS run_lease, l.status, l.acked
   FROM storm.ledger_status AS l, unnest(string_to_array(nullif(l.ids, ''), ',')) AS p WHERE l.client LIKE 'work%';" >/dev/null
echo "# first xid after recovery: $next_xid"
echo "# ledger: $(q "SELECT format('%s enqueue transactions (%s acknowledged, %s in doubt: %s committed, %s aborted), %s completion transactions (%s in doubt)',
	count(*) FILTER (WHERE client LIKE 'enqueue%'), count(*) FILTER (WHERE client LIKE 'enqueue%' AND acked),
	count(*) FILTER (WHERE client LIKE 'enqueue%' AND NOT acked),
	count(*) FILTER (WHERE client LIKE 'enqueue%' AND NOT acked AND status = 'committed'),
	count(*) FILTER (WHERE client LIKE 'enqueue%' AND NOT acked AND status = 'aborted'),
	count(*) FILTER (WHERE client LIKE 'work%'), count(*) FILTER (WHERE client LIKE 'work%' AND NOT acked))
	FROM storm.ledger_status")"
echo "# census after recovery: $(q "SELECT coalesce(string_agg(state || ' ' || n, ', '), 'empty') FROM (SELECT state, count(*) AS n FROM storm.census WHERE queue = 'crash_q' GROUP BY 1 ORDER BY 1) AS c")"

check "the load enqueued and completed jobs before the crash" \
	"SELECT count(*) > 100 FROM storm.enq WHERE status = 'committed'"
check "every acknowledged transaction is committed, every in-doubt one resolved" \
	"SELECT count(*) = 0 FROM storm.ledger_status WHERE (acked AND status <> 'committed') OR status NOT IN ('committed', 'aborted')"
check "every committed enqueue is present exactly once (or counted by a prune rollup)" \
	"SELECT dup = 0 AND missing = pruned, format('duplicates %s, missing %s, pruned %s', dup, missing, pruned) FROM (
	   SELECT (SELECT count(*) FROM (SELECT job_id FROM storm.census GROUP BY 1 HAVING count(*) > 1) AS d) AS dup,
			  (SELECT count(*) FROM storm.enq AS e WHERE e.status = 'committed'
			   AND NOT EXISTS (SELECT 1 FROM storm.census AS c WHERE c.job_id = e.job_id)) AS missing,
			  (SELECT coalesce(sum(pruned_completed_count), 0) FROM awa.queue_terminal_rollups WHERE queue = 'crash_q') AS pruned) AS x"
# Only crash_q is checked: a sequence value handed to a transaction that the
# crash aborted may be handed out again after recovery (its WAL record can
# be lost with the transaction), here to the crash_probe enqueue.
check "no aborted enqueue is present" \
	"SELECT count(*) = 0 FROM storm.enq AS e JOIN storm.census AS c USING (job_id) WHERE e.status <> 'committed' AND c.queue = 'crash_q'"
check "nothing is present that no committed enqueue wrote" \
	"SELECT count(*) = 0 FROM storm.census AS c WHERE c.queue = 'crash_q'
	 AND NOT EXISTS (SELECT 1 FROM storm.enq AS e WHERE e.job_id = c.job_id AND e.status = 'committed')"
check "every committed completion is a completed row with its run_lease (or pruned)" \
	"SELECT count(*) = 0, count(*) FROM storm.comp AS p WHERE p.status = 'committed'
	 AND NOT EXISTS (SELECT 1 FROM awa.done_entries AS e WHERE e.job_id = p.job_id AND e.run_lease = p.run_lease AND e.state = 'completed')
	 AND EXISTS (SELECT 1 FROM storm.census AS c WHERE c.job_id = p.job_id)"
check "no aborted completion took effect" \
	"SELECT count(*) = 0 FROM storm.comp AS p JOIN awa.done_entries AS e USING (job_id, run_lease) WHERE p.status <> 'committed'"
check "verify_terminal_counters() is empty after recovery" \
	"SELECT count(*) = 0 FROM awa.verify_terminal_counters()"
check "verify_available_counts() is empty after recovery" \
	"SELECT count(*) = 0 FROM awa.verify_available_counts()"
if have 'awa.queue_counts(text)'; then
	check "queue_counts('crash_q') equals the census after recovery" \
		"SELECT count(*) = 0 FROM (
		   SELECT queue, available, scheduled, retryable, running, terminal, dlq FROM awa.queue_counts('crash_q')
		   EXCEPT
		   SELECT c.queue, c.available, c.scheduled, c.retryable, c.running,
				  c.terminal + coalesce((SELECT sum(pruned_completed_count) FROM awa.queue_terminal_rollups AS r WHERE r.queue = c.queue), 0),
				  c.dlq FROM storm.census_counts AS c WHERE c.queue = 'crash_q') AS d"
fi
check "no prepared transaction survived" "SELECT count(*) = 0 FROM pg_prepared_xacts"
check "no partition is left locked: ACCESS EXCLUSIVE on every awa table within 200 ms" \
	"DO \$\$ DECLARE r regclass; BEGIN SET LOCAL lock_timeout = '200ms';
	   FOR r IN SELECT c.oid FROM pg_class AS c WHERE c.relnamespace = 'awa'::regnamespace AND c.relkind IN ('r', 'p') ORDER BY 1 LOOP
		 EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', r);
	   END LOOP; END \$\$; SELECT true"
check "amcheck: every awa btree index matches its heap, every heap is sound" \
	"SELECT (SELECT count(*) FROM (SELECT bt_index_check(i.indexrelid, true) FROM pg_index AS i
			  JOIN pg_class AS c ON c.oid = i.indexrelid JOIN pg_am AS a ON a.oid = c.relam
			  WHERE c.relnamespace = 'awa'::regnamespace AND a.amname = 'btree' AND c.relkind = 'i') AS b) >= 0
	 AND (SELECT count(*) FROM pg_class AS c, verify_heapam(c.oid) WHERE c.relnamespace = 'awa'::regnamespace AND c.relkind = 'r') = 0"

# --- liveness: rescue what was running, then drain everything ----------------------
q "CREATE TABLE storm.was_running AS SELECT c.job_id, c.run_lease FROM awa.lease_claims AS c
   WHERE NOT EXISTS (SELECT 1 FROM awa.lease_claim_closures AS x
					 WHERE (x.job_id, x.run_lease, x.claim_slot) = (c.job_id, c.run_lease, c.claim_slot))" >/dev/null
if $have_rescue; then
	q "UPDATE awa.lease_claims SET deadline_at = now() - interval '1 hour' WHERE (job_id, run_lease) IN (SELECT job_id, run_lease FROM storm.was_running)" >/dev/null
	rescued=0
	for _ in $(seq 1 50); do
		n=$(q "SELECT awa.rescue_expired(500)")
		[ "${n:-0}" -gt 0 ] || break
		rescued=$((rescued + n))
	done
	echo "# running at restart: $(q "SELECT count(*) FROM storm.was_running"), rescued: $rescued"
	check "the crash left attempts running" "SELECT count(*) > 0 FROM storm.was_running"
	check "rescue_expired returned every attempt running at the crash exactly once" \
		"SELECT $rescued = count(*) AND (SELECT count(*) FROM storm.census WHERE state = 'running' AND queue = 'crash_q') = 0,
		 format('rescued %s of %s', $rescued, count(*)) FROM storm.was_running"
	check "rescued attempts are retryable with the next attempt, counters exact" \
		"SELECT count(*) = 0 AND (SELECT count(*) FROM awa.verify_terminal_counters()) = 0
		 AND (SELECT count(*) FROM awa.verify_available_counts()) = 0 FROM storm.was_running AS w
		 WHERE NOT EXISTS (SELECT 1 FROM awa.deferred_jobs AS d WHERE d.job_id = w.job_id AND d.state = 'retryable')"
	q "UPDATE awa.deferred_jobs SET run_at = now() - interval '1 second' WHERE queue = 'crash_q'" >/dev/null
	for _ in $(seq 1 50); do
		n=$(q "SELECT awa.promote_due(4096)")
		[ "${n:-0}" -gt 0 ] || break
	done
fi
# drain: claim and complete until nothing is left
q "CREATE TABLE storm.drained (job_id bigint, run_lease bigint, PRIMARY KEY (job_id, run_lease))" >/dev/null
for _ in $(seq 1 200); do
	n=$(q "WITH c AS (SELECT array_agg(job_id) AS ids, array_agg(run_lease) AS leases FROM awa.claim_batch('crash_q', 1000))
		   INSERT INTO storm.drained SELECT d.* FROM c, awa.complete_batch(c.ids, c.leases) AS d WHERE c.ids IS NOT NULL RETURNING 1" | wc -l)
	[ "$n" -gt 0 ] || break
done
echo "# drained after recovery: $(q "SELECT count(*) FROM storm.drained")"
$have_rescue || echo "# rescue_expired is not installed: the $(q "SELECT count(*) FROM storm.was_running") attempts running at the crash stay running"
check "after the drain every committed job is completed exactly once (or pruned)" \
	"SELECT count(*) = 0, count(*) FROM storm.enq AS e
	 JOIN (SELECT job_id, count(*) FILTER (WHERE state = 'completed') AS completed
		   FROM storm.census GROUP BY job_id) AS c USING (job_id)
	 WHERE e.status = 'committed'
	 AND ($have_rescue OR e.job_id NOT IN (SELECT job_id FROM storm.was_running))
	 AND c.completed <> 1"
if $have_rescue; then
	check "every rescued attempt completed later under a higher run_lease" \
		"SELECT count(*) = 0 FROM storm.was_running AS w WHERE NOT EXISTS (
		   SELECT 1 FROM awa.done_entries AS e WHERE e.job_id = w.job_id AND e.state = 'completed' AND e.run_lease > w.run_lease)"
fi
check "verify_terminal_counters() is empty after the drain" \
	"SELECT count(*) = 0 FROM awa.verify_terminal_counters()"
check "verify_available_counts() is empty after the drain" \
	"SELECT count(*) = 0 FROM awa.verify_available_counts()"
if tail -c +"$((logpos + 1))" "$log" | grep -qE 'PANIC|XX001|XX002|40P01|deadlock detected'; then
	notok "the server log shows a PANIC, corruption or a deadlock after the crash"
else
	ok "no PANIC, corruption or deadlock in the server log"
fi
finish
