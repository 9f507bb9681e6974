#!/usr/bin/env bash
# test/stress/storm.sh -- concurrency storm: every awa operation at once,
# then the SPEC section 4 invariants, the ledger census and a deadlock count.
#
#   bash test/stress/storm.sh                       # 20 s, 8 clients
#   STORM_SECONDS=120 STORM_CLIENTS=12 bash test/stress/storm.sh
#
# Runs against the cluster in PGHOST/PGPORT when AWA_PGDATA is set (the test
# runner exports both); otherwise it builds, installs and starts a throwaway
# cluster of its own (scripts/pgenv.sh) and removes it afterwards.
#
# pgbench runs one custom script per operation, weighted together (-f
# script@weight), each included only when the functions it calls exist.
# Every helper (test/stress/setup.sql) writes its ledger row in the same
# transaction as the awa call.  Expected errors are caught around the awa
# call and counted; any other error aborts the pgbench client and fails the
# storm.  Prints "ok"/"not ok" lines and a closing "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/pgenv.sh
. scripts/pgenv.sh
# shellcheck source=test/stress/lib.sh
. test/stress/lib.sh

stress_use_or_start_cluster

seconds=${STORM_SECONDS:-20}
clients=${STORM_CLIENTS:-8}
db=${STORM_DB:-awa_storm}
out=$(mktemp -d "${TMPDIR:-/tmp}/awa_storm.XXXXXX")
log=$AWA_PGDATA/server.log
trap 'rm -rf "$out"; if $own_cluster; then awa_cluster_stop; fi' EXIT


psql -X -q -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null || exit 1
# SQLSTATEs in the server log, so that a 40P01 is found by its code too
psql -X -q -v ON_ERROR_STOP=1 -c "ALTER DATABASE $db SET log_error_verbosity = verbose" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f test/stress/setup.sql -f test/stress/census.sql >/dev/null || {
	notok "storm set-up"
	finish
}


# script weight function-signature...: include the script when all exist
scripts=()
ops=()
add() {
	local file=$1 weight=$2 sig
	shift 2
	for sig in "$@"; do
		have "$sig" || return 0
	done
	scripts+=(-f "test/stress/$file@$weight")
	ops+=("${file%.sql}")
}
add enqueue.sql 30 'awa.enqueue(text,jsonb,text,smallint,timestamptz,smallint,jsonb,text[],bytea,bit,text)'
add enqueue_many.sql 10 'awa.enqueue_many(jsonb)'
add work.sql 30 'awa.claim_batch(text,integer,interval,interval)' 'awa.complete_batch(bigint[],bigint[])'
add fail.sql 8 'awa.claim_batch(text,integer,interval,interval)' 'awa.fail_batch(bigint[],bigint[],text[],boolean)'
add promote_rescue.sql 2 'awa.promote_due(integer)' 'awa.rescue_expired(integer)'
add cancel.sql 4 'awa.cancel(bigint)'
add retry.sql 3 'awa.retry_job(bigint)'
add dlq.sql 4 'awa.move_failed_to_dlq(bigint,text)' 'awa.retry_from_dlq(bigint,text,smallint,timestamptz)' \
	'awa.purge_dlq(text,text,interval)' 'awa.bulk_move_failed_to_dlq(text,text,text)' 'awa.discard_failed_by_kind(text)'
add compat_delete.sql 3 'awa.delete_job_compat(bigint)'
add maintenance.sql 2 'awa.maintenance()' 'awa.rotate()' 'awa.prune_oldest()' 'awa.rotate_claims()' 'awa.prune_oldest_claims()'
add rebuild.sql 1 'awa.rebuild_terminal_counters()'

if ! printf '%s\n' "${ops[@]}" | grep -qx work; then
	echo "# the hot path (enqueue, claim_batch, complete_batch) is not installed: nothing to storm"
	finish
fi
# queue policies that make every path reachable: a sharded queue and a DLQ queue
have 'awa.set_enqueue_shards(text,integer)' && q "SELECT awa.set_enqueue_shards('storm_q1', 4)" >/dev/null
have 'awa.set_dlq_enabled(text,boolean)' && q "SELECT awa.set_dlq_enabled('storm_q3', true)" >/dev/null

echo "# storm: $clients clients, $seconds s, operations: ${ops[*]}"
deadlocks0=$(q "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
logpos=$(stat -c %s "$log" 2>/dev/null || echo 0)

PGAPPNAME=awa_storm pgbench -n -c "$clients" -j 2 -T "$seconds" "${scripts[@]}" "$db" >"$out/pgbench.out" 2>&1
rc=$?

tail -c +"$((logpos + 1))" "$log" >"$out/server.log" 2>/dev/null
deadlocks1=$(q "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
sed -n '/^transaction type/,$p' "$out/pgbench.out" | grep -E 'transactions|clients|duration|failed|aborted|^SQL script|tps|latency average' | sed 's/^/# /'

if [ "$rc" -eq 0 ] && ! grep -q 'aborted' "$out/pgbench.out"; then
	ok "pgbench ran $seconds s with $clients clients and no client aborted"
else
	notok "pgbench exited with $rc"
	grep -E 'ERROR|aborted|error' "$out/pgbench.out" | head -20 | sed 's/^/#   /'
fi
nfail=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out/pgbench.out" | head -n 1)
if [ "${nfail:-0}" -eq 0 ]; then
	ok "no failed transactions"
else
	notok "$nfail failed transactions"
fi
if grep -qE '40P01|deadlock detected' "$out/pgbench.out" "$out/server.log"; then
	notok "a deadlock (40P01) was reported"
	grep -hE -B2 -A8 '40P01|deadlock detected' "$out/server.log" | head -40 | sed 's/^/#   /'
else
	ok "no 40P01 in the pgbench output or the server log"
fi
if [ "$((deadlocks1 - deadlocks0))" -eq 0 ]; then
	ok "pg_stat_database.deadlocks delta is 0"
else
	notok "pg_stat_database.deadlocks delta is $((deadlocks1 - deadlocks0))"
fi
# uncaught errors of the storm's own sessions (caught, expected ones are not logged)
if grep -E ' awa_storm (ERROR|FATAL|PANIC)' "$out/server.log" >"$out/errors"; then
	notok "unexpected errors in the server log: $(wc -l <"$out/errors")"
	head -10 "$out/errors" | sed 's/^/#   /'
else
	ok "no unexpected error in the server log"
fi
if grep -qE 'PANIC|XX001|XX002|server process .* was terminated' "$out/server.log"; then
	notok "server log shows a PANIC, corruption or a crashed backend"
else
	ok "no PANIC, corruption or crashed backend in the server log"
fi
maxwait=$(grep -oE 'acquired [A-Za-z]+ on .* after [0-9.]+ ms' "$out/server.log" | sed 's/.* after \([0-9.]*\) ms/\1/' | sort -g | tail -n 1)
echo "# longest logged lock wait: ${maxwait:-none over deadlock_timeout} ms"
echo "# expected errors caught: $(q "SELECT coalesce(string_agg(op || ' ' || sqlstate || ' x' || n, ', '), 'none') FROM (SELECT op, sqlstate, count(*) AS n FROM storm.expected_errors GROUP BY 1, 2 ORDER BY 1, 2) AS e")"
q "SELECT '# ' || op || ' ' || sqlstate || ': ' || message FROM storm.expected_errors WHERE message IS NOT NULL LIMIT 5"
echo "# ledger: $(q "SELECT (SELECT count(*) FROM storm.enqueued) || ' enqueued, ' || (SELECT count(*) FROM storm.completed) || ' completions, ' || (SELECT count(*) FROM storm.failed) || ' failures, ' || (SELECT count(*) FROM storm.deleted) || ' deleted, ' || (SELECT coalesce(sum(n), 0) FROM storm.removed) || ' purged/discarded'")"
echo "# other operations: $(q "SELECT coalesce(string_agg(op || ' ' || n, ', '), 'none') FROM (SELECT op, count(*) AS n FROM storm.ops GROUP BY 1 ORDER BY 1) AS o")"
echo "# census: $(q "SELECT coalesce(string_agg(state || ' ' || n, ', '), 'empty') FROM (SELECT state, count(*) AS n FROM storm.census GROUP BY 1 ORDER BY 1) AS c")"

# --- invariants -------------------------------------------------------------
check "the storm enqueued and completed jobs" \
	"SELECT (SELECT count(*) FROM storm.enqueued) > 0 AND (SELECT count(*) FROM storm.completed) > 0"
check "verify_terminal_counters() is empty" \
	"SELECT count(*) = 0, count(*) FROM awa.verify_terminal_counters()"
check "verify_available_counts() is empty (available from the heads is exact)" \
	"SELECT count(*) = 0, string_agg(queue || '/' || priority || '/' || enqueue_shard || ': ' || counted || ' vs ' || actual, ', ') FROM awa.verify_available_counts()"
check "no job is in two places at once" \
	"SELECT count(*) = 0, string_agg(job_id::text, ',') FROM (SELECT job_id FROM storm.census GROUP BY 1 HAVING count(*) > 1) AS d"
check "every job in the queue was enqueued by a committed, ledgered transaction" \
	"SELECT count(*) = 0, string_agg(job_id::text, ',') FROM storm.census AS c WHERE NOT EXISTS (SELECT 1 FROM storm.enqueued AS e WHERE e.job_id = c.job_id)"
check "no deleted job is still present" \
	"SELECT count(*) = 0 FROM storm.deleted AS d JOIN storm.census AS c USING (job_id)"
check "enqueued = available + scheduled + retryable + running + terminal + dlq + pruned + deleted" \
	"SELECT e = c + p + d + r, format('enqueued %s, present %s, pruned %s, deleted %s, purged/discarded %s', e, c, p, d, r)
	 FROM (SELECT (SELECT count(*) FROM storm.enqueued) AS e,
				  (SELECT count(*) FROM storm.census) AS c,
				  (SELECT coalesce(sum(pruned_completed_count), 0) FROM awa.queue_terminal_rollups) AS p,
				  (SELECT count(*) FROM storm.deleted) AS d,
				  (SELECT coalesce(sum(n), 0) FROM storm.removed) AS r) AS x"
check "every completed row is an attempt complete_batch returned (no completion outside the ledger)" \
	"SELECT count(*) = 0, string_agg(e.job_id || ':' || e.run_lease, ',') FROM awa.done_entries AS e
	 WHERE e.state = 'completed' AND NOT EXISTS (SELECT 1 FROM storm.completed AS c WHERE c.job_id = e.job_id AND c.run_lease = e.run_lease)"
check "no attempt was both completed and failed" \
	"SELECT count(*) = 0 FROM storm.completed JOIN storm.failed USING (job_id, run_lease)"
if have 'awa.queue_counts(text)'; then
	check "queue_counts() equals the census per queue (terminal includes the rollups)" \
		"SELECT count(*) = 0, string_agg(queue, ',') FROM (
		   SELECT queue, available, scheduled, retryable, running, terminal, dlq FROM awa.queue_counts()
		   WHERE queue LIKE 'storm%'
		   EXCEPT
		   SELECT c.queue, c.available, c.scheduled, c.retryable, c.running,
				  c.terminal + coalesce((SELECT sum(pruned_completed_count) FROM awa.queue_terminal_rollups AS r WHERE r.queue = c.queue), 0),
				  c.dlq FROM storm.census_counts AS c) AS d"
fi
if q "SELECT to_regclass('awa.jobs') IS NOT NULL" | grep -qx t; then
	check "awa.jobs shows every present job exactly once, in its census state" \
		"SELECT count(*) = 0, count(*) FROM (
		   (SELECT id, state::text FROM awa.jobs WHERE queue LIKE 'storm%'
			EXCEPT ALL SELECT job_id, CASE state WHEN 'dlq' THEN 'failed' ELSE state END FROM storm.census)
		   UNION ALL
		   (SELECT job_id, CASE state WHEN 'dlq' THEN 'failed' ELSE state END FROM storm.census
			EXCEPT ALL SELECT id, state::text FROM awa.jobs WHERE queue LIKE 'storm%')) AS d"
fi
check "no prepared transaction left" "SELECT count(*) = 0 FROM pg_prepared_xacts"
check "no lock on an awa relation left behind" \
	"SELECT count(*) = 0 FROM pg_locks AS l JOIN pg_class AS c ON c.oid = l.relation
	 WHERE c.relnamespace = 'awa'::regnamespace AND l.pid <> pg_backend_pid()"
check "every awa index is valid" \
	"SELECT count(*) = 0 FROM pg_index AS i JOIN pg_class AS c ON c.oid = i.indexrelid
	 WHERE c.relnamespace = 'awa'::regnamespace AND NOT (i.indisvalid AND i.indisready)"
check "rebuild_terminal_counters() after the storm changes nothing" \
	"SELECT (SELECT count(*) FROM awa.verify_terminal_counters()) = 0 AND awa.rebuild_terminal_counters() >= 0
	 AND (SELECT count(*) FROM awa.verify_terminal_counters()) = 0"
finish
