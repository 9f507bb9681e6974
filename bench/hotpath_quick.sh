#!/usr/bin/env bash
# bench/hotpath_quick.sh -- quick pgbench figures for the hot path next to
# a plain single-table SKIP LOCKED queue (bench/plain_queue.sql), on one
# throwaway cluster: enqueue_many (100 jobs per call) and a drain loop
# (claim 100 + complete), each for $AWA_BENCH_SECS seconds (default 10)
# with $AWA_BENCH_CLIENTS clients (default 2).  Prints jobs/s.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/pgenv.sh
secs=${AWA_BENCH_SECS:-10}
clients=${AWA_BENCH_CLIENTS:-2}
awa_ensure_packages
awa_build_install
awa_cluster_start bench
psql -q -X -v ON_ERROR_STOP=1 -c "CREATE EXTENSION awa_queue" -f bench/plain_queue.sql >/dev/null
tmp=$(mktemp -d)
cat >"$tmp/awa_enqueue.sql" <<'SQL'
SELECT count(*) FROM awa.enqueue_many((SELECT jsonb_agg(jsonb_build_object('kind', 'bench', 'queue', 'bench', 'args', jsonb_build_object('n', g))) FROM generate_series(1, 100) AS g));
SQL
cat >"$tmp/plain_enqueue.sql" <<'SQL'
INSERT INTO plain_jobs (queue, kind, args) SELECT 'bench', 'bench', jsonb_build_object('n', g) FROM generate_series(1, 100) AS g;
SQL
cat >"$tmp/awa_drain.sql" <<'SQL'
SELECT COALESCE(array_to_string(array_agg(job_id), ','), '') AS ids, COALESCE(array_to_string(array_agg(run_lease), ','), '') AS leases FROM awa.claim_batch('bench', 100) \gset
SELECT count(*) FROM awa.complete_batch(string_to_array(:ids, ',')::bigint[], string_to_array(:leases, ',')::bigint[]);
SQL
# the plain drain: claim 100 ids, then complete them by id
cat >"$tmp/plain_drain.sql" <<'SQL'
WITH c AS (SELECT id FROM plain_jobs WHERE queue = 'bench' AND state = 'available' ORDER BY priority, run_at, id LIMIT 100 FOR UPDATE SKIP LOCKED), claimed AS (UPDATE plain_jobs AS j SET state = 'running', attempt = j.attempt + 1, attempted_at = now() FROM c WHERE j.id = c.id RETURNING j.id) SELECT COALESCE(array_to_string(array_agg(id), ','), '') AS ids FROM claimed \gset
UPDATE plain_jobs SET state = 'completed', finalized_at = now() WHERE id = ANY (string_to_array(:ids, ',')::bigint[]) AND state = 'running';
SQL
# jobs/s from what each phase really did (a drain that runs dry does not count)
count_jobs() {
	case $1 in
	awa_enqueue) psql -X -A -t -c "SELECT count(*) FROM awa.ready_entries" ;;
	plain_enqueue) psql -X -A -t -c "SELECT count(*) FROM plain_jobs" ;;
	awa_drain) psql -X -A -t -c "SELECT count(*) FROM awa.done_entries" ;;
	plain_drain) psql -X -A -t -c "SELECT count(*) FROM plain_jobs WHERE state = 'completed'" ;;
	esac
}
run() {
	local name=$1 phase=$2 before after
	before=$(count_jobs "$phase")
	pgbench -n -M prepared -c "$clients" -j "$clients" -T "$secs" -f "$tmp/$phase.sql" >"$tmp/$phase.log" 2>&1 ||
		{ cat "$tmp/$phase.log"; exit 1; }
	after=$(count_jobs "$phase")
	printf '%-24s %8d jobs/s\n' "$name" $(((after - before) / secs))
}
echo "clients=$clients seconds=$secs"
run "awa enqueue_many(100)" awa_enqueue
run "plain enqueue(100)" plain_enqueue
run "awa drain(100)" awa_drain
run "plain drain(100)" plain_drain
psql -X -c "SELECT * FROM awa.queue_counts()" -c "SELECT state, count(*) FROM plain_jobs GROUP BY state" \
	-c "SELECT count(*) AS drift FROM awa.verify_terminal_counters()" \
	-c "SELECT count(*) AS available_drift FROM awa.verify_available_counts()"
rm -rf "$tmp"
