#!/usr/bin/env bash
# bench/instructions.sh -- CPU instructions per job of the hot path, next to
# the skiplocked baseline, counted by valgrind (callgrind) in a single-user
# backend: the same figure on every run of the same build, whatever else
# the machine is doing.  Wall-clock figures (bench/run.sh) on a shared
# 2-core machine move by up to 2x from run to run; this one does not, so
# it is the yardstick for a change of a few per cent (doc/benchmarks.md).
#
# Each workload is a file of prepared statements (as pgbench -M prepared
# sends them) run twice, with N1 and N2 repetitions; the difference
# divided by the extra jobs is the cost per job, start-up, plan
# preparation and shutdown cancelling out.  Workloads, for each system:
#   enqueue-1      one job per statement
#   enqueue-100    100 jobs per statement, the same client JSON array
#   cycle-1        enqueue 1, claim 1, complete it
#   cycle-100      enqueue 100, claim 100, complete them
# Commits are not counted (single-user mode with synchronous_commit off;
# the fsync is not an instruction).  Output: a markdown table on stdout
# and in $BENCH_OUT/instructions.md (default bench/results).
#
# Settings: BENCH_INSTR_REPS="N1 N2" for cycle-1 and enqueue-1 (default
# "20 120"); batches of 100 run N1/10 and N2/10 times.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=scripts/pgenv.sh
. scripts/pgenv.sh
read -r N1 N2 <<<"${BENCH_INSTR_REPS:-20 120}"
BENCH_OUT=${BENCH_OUT:-$ROOT/bench/results}
mkdir -p "$BENCH_OUT"

awa_ensure_packages
if ! command -v valgrind >/dev/null 2>&1; then
	awa_log "installing valgrind"
	awa_as_root apt-get update -qq
	awa_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null
fi
awa_build_install

# A template cluster with both systems loaded, then stopped: every run
# starts from a copy of it.
awa_cluster_start bench
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE bench_instr" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d bench_instr -f bench/common.sql >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d bench_instr -f bench/awa_queue.sql >/dev/null 2>&1
psql -X -q -v ON_ERROR_STOP=1 -d bench_instr -f bench/skiplocked.sql >/dev/null 2>&1
awa_pg_ctl stop -m fast -w >/dev/null
echo "synchronous_commit = off" | awa_as_owner tee -a "$AWA_PGDATA/data/postgresql.conf" >/dev/null
work=$AWA_PGDATA/work
awa_as_owner mkdir "$work"

JOBS100=$(awk 'BEGIN { printf "["; for (i = 1; i <= 100; i++) printf "%s{\"kind\": \"bench\", \"queue\": \"bench\", \"args\": {\"n\": %d}}", (i > 1 ? ", " : ""), i; printf "]" }')

# The statements of each system.  awa_queue's claim and complete of a
# cycle are one statement (single-user mode has no client variables): the
# claimed ids go from one to the other through a CTE.  skiplocked's cannot
# be (an UPDATE of rows the same statement's CTE updated does nothing), so
# its completion is a second statement given the ids the claim took, as
# the pgbench scripts pass them: every template starts the id sequence at
# 1 and the claim takes the oldest jobs, so the ids of cycle k are known.
# check_done verifies after each run that every job of a cycle completed.
#
# A single-user backend prints every result row with printf (debugtup),
# about 2.7k instructions for one bigint: more than the wire protocol's
# DataRow costs, and nothing the baseline's INSERT pays.  awa_queue's
# enqueue-1 therefore returns no row (its id is computed and filtered
# out; enqueue never returns NULL), so both sides count the engine's
# work only.  A batch prints one row per 100 jobs and a cycle one row on
# each side, left as they are.
prepare_awa_queue() {
	cat <<SQL
PREPARE enq1 AS SELECT FROM (SELECT awa.enqueue('bench', '{"n": 1}'::jsonb, 'bench') AS id) AS e WHERE e.id IS NULL;
PREPARE enq100 AS SELECT count(*) FROM awa.enqueue_many('$JOBS100'::jsonb);
PREPARE cycle(int) AS WITH c AS MATERIALIZED (SELECT job_id, run_lease FROM awa.claim_batch('bench', \$1)) SELECT count(*) FROM awa.complete_batch(ARRAY(SELECT job_id FROM c), ARRAY(SELECT run_lease FROM c));
SQL
}
prepare_skiplocked() {
	cat <<SQL
PREPARE enq1 AS INSERT INTO jobs (queue, kind, args) VALUES ('bench', 'bench', '{"n": 1}');
PREPARE enq100 AS INSERT INTO jobs (queue, kind, args) SELECT j->>'queue', j->>'kind', j->'args' FROM jsonb_array_elements('$JOBS100'::jsonb) AS j;
PREPARE claim(int) AS WITH c AS (UPDATE jobs SET state = 'running', attempt = attempt + 1, attempted_at = now() WHERE id IN (SELECT id FROM jobs WHERE queue = 'bench' AND state = 'available' AND run_at <= now() ORDER BY priority, id LIMIT \$1 FOR UPDATE SKIP LOCKED) RETURNING id) SELECT count(*) FROM c;
PREPARE done(bigint[]) AS UPDATE jobs SET state = 'completed', finalized_at = now() WHERE id = ANY (\$1);
SQL
}

# ids_of FIRST N: the array literal of job ids FIRST .. FIRST + N - 1
ids_of() {
	awk -v f="$1" -v n="$2" 'BEGIN { printf "{"; for (i = 0; i < n; i++) printf "%s%d", (i ? "," : ""), f + i; printf "}" }'
}

# workload SYSTEM NAME REPS: the statements of one run
workload() {
	local sys=$1 name=$2 reps=$3 i
	"prepare_$sys"
	for ((i = 0; i < reps; i++)); do
		case $sys:$name in
			*:enqueue-1) echo "EXECUTE enq1;" ;;
			*:enqueue-100) echo "EXECUTE enq100;" ;;
			awa_queue:cycle-1) printf 'EXECUTE enq1;\nEXECUTE cycle(1);\n' ;;
			awa_queue:cycle-100) printf 'EXECUTE enq100;\nEXECUTE cycle(100);\n' ;;
			skiplocked:cycle-1) printf "EXECUTE enq1;\nEXECUTE claim(1);\nEXECUTE done('%s');\n" "$(ids_of $((i + 1)) 1)" ;;
			skiplocked:cycle-100) printf "EXECUTE enq100;\nEXECUTE claim(100);\nEXECUTE done('%s');\n" "$(ids_of $((i * 100 + 1)) 100)" ;;
		esac
	done
}

# check_done SYSTEM NAME REPS: after a cycle run, every job it enqueued
# completed (a cycle that silently did less would count fewer
# instructions); run in a second single-user session, not counted.
check_done() {
	local sys=$1 name=$2 reps=$3 jobs=1 want got
	case $name in cycle-*) ;; *) return 0 ;; esac
	case $name in *-100) jobs=100 ;; esac
	want=$((reps * jobs))
	if [ "$sys" = awa_queue ]; then
		echo "SELECT terminal - available - running AS done_jobs FROM awa.queue_counts('bench');"
	else
		echo "SELECT count(*) FILTER (WHERE state = 'completed') - count(*) FILTER (WHERE state <> 'completed') AS done_jobs FROM jobs;"
	fi >"$work/check.sql"
	chmod 644 "$work/check.sql"
	got=$(awa_as_owner "$AWA_PG_BINDIR/postgres" --single -D "$work/data" bench_instr <"$work/check.sql" 2>/dev/null |
		sed -n 's/.*done_jobs = "\(-\{0,1\}[0-9]*\)".*/\1/p')
	if [ "$got" != "$want" ]; then
		echo "bench/instructions.sh: $sys $name: $want jobs enqueued, completed minus unfinished = ${got:-?}" >&2
		return 1
	fi
}

# instructions SYSTEM NAME REPS: instructions of one single-user run
instructions() {
	local sys=$1 name=$2 reps=$3 log
	rm -rf "$work/data"
	awa_as_owner cp -a "$AWA_PGDATA/data" "$work/data"
	workload "$sys" "$name" "$reps" >"$work/input.sql"
	chmod 644 "$work/input.sql"
	log=$work/callgrind.log
	awa_as_owner valgrind --tool=callgrind --callgrind-out-file=/dev/null \
		"$AWA_PG_BINDIR/postgres" --single -D "$work/data" bench_instr \
		<"$work/input.sql" >"$work/output.txt" 2>"$log"
	if grep -q "ERROR" "$work/output.txt" "$log"; then
		grep -h "ERROR" "$work/output.txt" "$log" | head -3 >&2
		echo "bench/instructions.sh: $sys $name failed" >&2
		return 1
	fi
	check_done "$sys" "$name" "$reps" || return 1
	awk '/Collected :/ { print $NF }' "$log"
}

out=$BENCH_OUT/instructions.md
{
	echo "# Instructions per job ($(date -u +'%Y-%m-%d %H:%M') UTC, commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown))"
	echo
	echo "valgrind callgrind, single-user backend, prepared statements, commits not counted; repetitions $N1 and $N2 (batches of 100: $((N1 / 10)) and $((N2 / 10)))."
	echo "Ratio = awa_queue / skiplocked (lower is better)."
	echo
	echo "| workload | awa_queue | skiplocked | ratio |"
	echo "|---|---:|---:|---:|"
} >"$out"
for name in enqueue-1 enqueue-100 cycle-1 cycle-100; do
	declare -A per=()
	for sys in awa_queue skiplocked; do
		r1=$N1 r2=$N2 jobs=1
		case $name in *-100) r1=$((N1 / 10)) r2=$((N2 / 10)) jobs=100 ;; esac
		a=$(instructions "$sys" "$name" "$r1")
		b=$(instructions "$sys" "$name" "$r2")
		per[$sys]=$(((b - a) / ((r2 - r1) * jobs)))
		awa_log "$name $sys: ${per[$sys]} instructions per job"
	done
	awk -v n="$name" -v a="${per[awa_queue]}" -v s="${per[skiplocked]}" \
		'BEGIN { printf "| %s | %d | %d | %.2f |\n", n, a, s, a / s }' >>"$out"
	unset per
done
cat "$out"
