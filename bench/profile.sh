#!/usr/bin/env bash
# bench/profile.sh -- plans of awa_queue's hot-path SPI statements.
#
# Starts a throwaway "bench" cluster, preloads BENCH_PROFILE_JOBS jobs
# (default 20000, half of them completed), then runs one enqueue_many of
# 100, one claim_batch of 100, one complete_batch of those, and one
# queue_counts with auto_explain logging every nested statement with
# ANALYZE and BUFFERS, and prints the plans and the per-table row/index
# writes of the claim+complete transaction (pg_stat_user_tables and
# pg_statio deltas).  Output: $BENCH_OUT/profile.txt (default
# bench/results).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=scripts/pgenv.sh
. scripts/pgenv.sh
N=${BENCH_PROFILE_JOBS:-20000}
BENCH_OUT=${BENCH_OUT:-$ROOT/bench/results}
mkdir -p "$BENCH_OUT"
out=$BENCH_OUT/profile.txt

awa_ensure_packages
awa_build_install
awa_cluster_start bench
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE bench_profile" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d bench_profile -f bench/common.sql >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d bench_profile -f bench/awa_queue.sql >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d bench_profile -c "CALL bench_preload($N / 2, $N / 2)" -c "VACUUM ANALYZE" >/dev/null

stats="SELECT relname, n_tup_ins AS ins, n_tup_upd AS upd, n_tup_hot_upd AS hot, n_tup_del AS del FROM pg_stat_user_tables WHERE schemaname = 'awa' AND (n_tup_ins + n_tup_upd + n_tup_del) > 0 ORDER BY relname"
{
	echo "# awa_queue hot path profile, $N jobs preloaded ($((N / 2)) terminal), $(date -u +%FT%TZ)"
	echo "## cumulative row writes per table after the preload"
	psql -X -d bench_profile -c "$stats"
} >"$out"
log_start=$(wc -c <"$AWA_PGDATA/server.log")
psql -X -q -v ON_ERROR_STOP=1 -d bench_profile >/dev/null <<'EOF'
LOAD 'auto_explain';
SET auto_explain.log_min_duration = 0;
SET auto_explain.log_analyze = on;
SET auto_explain.log_buffers = on;
SET auto_explain.log_nested_statements = on;
SET auto_explain.log_format = text;
SELECT count(*) FROM awa.enqueue_many((SELECT jsonb_agg(jsonb_build_object('kind', 'bench', 'queue', 'bench', 'args', jsonb_build_object('n', g))) FROM generate_series(1, 100) g));
BEGIN;
CREATE TEMP TABLE c ON COMMIT DROP AS SELECT job_id, run_lease FROM awa.claim_batch('bench', 100);
SELECT count(*) FROM awa.complete_batch((SELECT array_agg(job_id ORDER BY job_id) FROM c), (SELECT array_agg(run_lease ORDER BY job_id) FROM c));
COMMIT;
SELECT * FROM awa.queue_counts('bench');
EOF
sleep 1
{
	echo
	echo "## plans (auto_explain, nested statements, ANALYZE, BUFFERS)"
	tail -c +"$((log_start + 1))" "$AWA_PGDATA/server.log" | grep -v "^\s*$"
} >>"$out"
echo "profile written to $out" >&2
