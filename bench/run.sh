#!/usr/bin/env bash
# bench/run.sh -- side-by-side benchmark of awa_queue against the designs
# users would otherwise pick (SPEC §6, issue 8).  `make bench` runs it.
#
# One throwaway cluster with the "bench" profile of scripts/pgenv.sh
# (shared_buffers 1GB, synchronous_commit on unless
# AWA_BENCH_SYNCHRONOUS_COMMIT=off, autovacuum on with its defaults), one
# database per (system, scenario), pgbench custom scripts from
# bench/scripts/<system>/, and one table of absolute figures and ratios to
# the baseline (skiplocked), printed and written to
# $BENCH_OUT/latest.md (raw rows in latest.tsv).
#
# Environment:
#   BENCH_SCALE      smoke | short (default) | full
#   BENCH_SYSTEMS    default "awa_queue awa_queue_4shards awa_queue_poll
#                    skiplocked skiplocked_notify fifo_sql skiplocked_delete
#                    pgq awa_queue_node pgboss"
#   BENCH_SCENARIOS  default "S1 S2 S3 S4 S5"
#   BENCH_ROUNDS     rounds of S1-S3, every other one in reverse system
#                    order (default 3; 1 at smoke scale); the table shows
#                    each system's best round, the goals the median of the
#                    paired ratios (awa_queue over the baseline, round by
#                    round: bench/report.py)
#   BENCH_OUT        result folder (default bench/results)
#   BENCH_PLOT       1 = draw the drain-by-batch PNG with gnuplot
#                    (default 1 except at smoke scale)
#   BENCH_PUBLISH    1 = copy the plot data and PNG into doc/
#   BENCH_USE_CLUSTER 1 = use the running cluster of PGHOST/PGPORT
#                    (the test suite's) instead of building and starting one
#   BENCH_S3_WAITS   1 = after S3's measured phases, run the fixed-rate
#                    phase once more with bench/s3_waits.sql sampling the
#                    sessions' wait events; written to
#                    $BENCH_OUT/s3_waits.md (a diagnostic, not a figure)
#   AWA_BENCH_SYNCHRONOUS_COMMIT  on (default) | off
#
# Systems: awa_queue (this extension, one lane per priority),
# awa_queue_4shards (the same with awa.set_enqueue_shards('bench', 4)),
# awa_queue_poll (S1 and S3 only: 8 shards and awa.set_notify_enabled
# ('bench', false), the setting for many producers whose workers poll, as
# the harness's workers do),
# skiplocked (bench/skiplocked.sql,
# completion by UPDATE), skiplocked_notify (same, producers notify as
# River, Oban and graphile-worker do; S1 and S3 only),
# fifo_sql (S1 only: skiplocked_notify plus a lane head row every enqueue
# advances, awa_queue's enqueue guarantees in plain SQL, bench/fifo_sql.sql),
# skiplocked_delete (same table, DELETE on completion), pgq (PgQ event queue, batch semantics; one consumer),
# pgboss (pg-boss 10 from npm, through its Node.js API) and awa_queue_node
# (awa_queue through node-postgres, the same client stack): both driven by
# bench/node/driver.mjs, S1 and S2 batch 100 only, "n/a" without Node.js.
# A system whose functions are missing from the build is reported as
# "n/a", never measured with something else.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=scripts/pgenv.sh
. scripts/pgenv.sh

BENCH_SCALE=${BENCH_SCALE:-short}
BENCH_SYSTEMS=${BENCH_SYSTEMS:-"awa_queue awa_queue_4shards awa_queue_poll skiplocked skiplocked_notify fifo_sql skiplocked_delete pgq awa_queue_node pgboss"}
BENCH_SCENARIOS=${BENCH_SCENARIOS:-"S1 S2 S3 S4 S5"}
if [ "${BENCH_SCALE:-short}" = smoke ]; then
	BENCH_ROUNDS=${BENCH_ROUNDS:-1}
else
	BENCH_ROUNDS=${BENCH_ROUNDS:-3}
fi
BENCH_OUT=${BENCH_OUT:-$ROOT/bench/results}
if [ "$BENCH_SCALE" = smoke ]; then
	BENCH_PLOT=${BENCH_PLOT:-0}
else
	BENCH_PLOT=${BENCH_PLOT:-1}
fi

# Scale: S1 duration or transaction counts, S2 preload, S3 duration and
# offered rate, S4 jobs, S5 available / terminal backlogs and calls.
case "$BENCH_SCALE" in
	smoke)
		S1_RUN="-t 50" S1_RUN8="-t 10" S1_RUN100="-t 5" NODE_S1_SECS=1
		S2_N=1000 S2_BATCHES="10 100" S2_MAX_SECS=20
		S3_SECS=1 S3_RATE=${BENCH_S3_RATE:-200}
		S4_N=2000 S4_ROUNDS=2 S5_AVAIL=1000 S5_T1=250 S5_T2=1000 S5_CALLS=5
		;;
	short)
		S1_RUN="-T 5" S1_RUN8="-T 5" S1_RUN100="-T 5" NODE_S1_SECS=5
		S2_N=100000 S2_BATCHES="1 10 100 500" S2_MAX_SECS=60
		S3_SECS=10 S3_RATE=${BENCH_S3_RATE:-500}
		S4_N=50000 S4_ROUNDS=10 S5_AVAIL=50000 S5_T1=12500 S5_T2=50000 S5_CALLS=100
		;;
	full)
		S1_RUN="-T 15" S1_RUN8="-T 15" S1_RUN100="-T 15" NODE_S1_SECS=15
		S2_N=100000 S2_BATCHES="1 10 100 500" S2_MAX_SECS=300
		S3_SECS=30 S3_RATE=${BENCH_S3_RATE:-1000}
		S4_N=1000000 S4_ROUNDS=10 S5_AVAIL=1000000 S5_T1=250000 S5_T2=1000000 S5_CALLS=100
		;;
	*)
		echo "BENCH_SCALE must be smoke, short or full" >&2
		exit 2
		;;
esac
# Batch size 1 drains one job per transaction: cap its preload so the
# commit-bound run stays bounded.
S2_N1=$((S2_N / 10 > 1000 ? S2_N / 10 : S2_N))

# The batch every enqueue100 script receives, as a client would send it:
# one JSON array of 100 jobs, passed by pgbench as a text parameter.
JOBS100=$(awk 'BEGIN { printf "["; for (i = 1; i <= 100; i++) printf "%s{\"kind\": \"bench\", \"queue\": \"bench\", \"args\": {\"n\": %d}}", (i > 1 ? ", " : ""), i; printf "]" }')

mkdir -p "$BENCH_OUT"
TSV=$BENCH_OUT/latest.tsv
LOG=$BENCH_OUT/bench.log
: >"$LOG"
[ "${BENCH_S3_WAITS:-0}" = 1 ] && : >"$BENCH_OUT/s3_waits.md"
printf 'system\tscenario\tvariant\tjobs_s\tms_call\tp50_ms\tp99_ms\twal_job\tcommits_job\tdead_tup\tsize_bytes\tnote\n' >"$TSV"

if [ "${BENCH_USE_CLUSTER:-0}" = 1 ]; then
	AWA_PG_BINDIR=$("$PG_CONFIG" --bindir)
	export AWA_PG_BINDIR
else
	awa_ensure_packages
	if [ "$BENCH_PLOT" = 1 ] && ! command -v gnuplot >/dev/null 2>&1; then
		awa_log "installing gnuplot-nox"
		awa_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gnuplot-nox >/dev/null
	fi
	awa_build_install
	awa_cluster_start bench
fi
PGBENCH=$AWA_PG_BINDIR/pgbench
[ -x "$PGBENCH" ] || PGBENCH=pgbench

# ---------------------------------------------------------------------
# helpers

q() { # q DB SQL -- one value, unaligned
	psql -X -qAt -v ON_ERROR_STOP=1 -d "$1" -c "$2"
}

now() { echo "$EPOCHREALTIME"; }

db_of() { echo "bench_$1"; }

# fresh_db SYSTEM DB: the system's database (created on first use) with
# the harness table emptied and the system dropped and loaded afresh (each
# setup file starts by dropping what it creates).
fresh_db() {
	local sys=$1 db=$2 setup
	setup=$ROOT/bench/$sys.sql
	[ "$sys" = skiplocked_delete ] && setup=$ROOT/bench/skiplocked.sql
	[ "$sys" = awa_queue_4shards ] && setup=$ROOT/bench/awa_queue.sql
	[ "$sys" = awa_queue_poll ] && setup=$ROOT/bench/awa_queue.sql
	[ "$sys" = awa_queue_node ] && setup=$ROOT/bench/awa_queue.sql
	if [ "$(q postgres "SELECT count(*) FROM pg_database WHERE datname = '$db'")" = 0 ]; then
		q postgres "CREATE DATABASE $db" >/dev/null
	fi
	psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f "$ROOT/bench/common.sql" >>"$LOG" 2>&1
	psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f "$setup" >>"$LOG" 2>&1
	# awa_queue_4shards: the same extension with the queue spread over 4
	# lanes per priority (awa.set_enqueue_shards), the setting for a busy
	# queue with several consumers (doc/benchmarks.md).
	if [ "$sys" = awa_queue_4shards ]; then
		q "$db" "SELECT awa.set_enqueue_shards('bench', 4)" >>"$LOG" 2>&1
	fi
	# awa_queue_poll: a lane for each of S1's eight producers, and no
	# notification (its workers poll, as every worker of the harness does;
	# PostgreSQL serializes notifying commits: design decision 46)
	if [ "$sys" = awa_queue_poll ]; then
		q "$db" "SELECT awa.set_enqueue_shards('bench', 8), awa.set_notify_enabled('bench', false)" >>"$LOG" 2>&1
	fi
	# pg-boss creates its schema and the queue itself
	if [ "$sys" = pgboss ]; then
		drv "$sys" "$db" setup >>"$LOG"
	fi
}

drop_db() {
	q postgres "DROP DATABASE IF EXISTS $1" >/dev/null 2>&1 || true
}

# The Node.js-driven systems (bench/node/driver.mjs): pg-boss is a Node.js
# library and is measured through its own API; awa_queue_node is awa_queue
# through node-postgres, so that the two compare on one client stack.
node_system() {
	case "$1" in pgboss | awa_queue_node) return 0 ;; esac
	return 1
}

# node_deps: the driver's packages (bench/node/package-lock.json) installed
# once with npm ci; false when Node.js or npm is missing or the install fails.
node_deps() {
	command -v node >/dev/null 2>&1 || return 1
	[ -d "$ROOT/bench/node/node_modules/pg-boss" ] && return 0
	command -v npm >/dev/null 2>&1 || return 1
	(cd "$ROOT/bench/node" && npm ci --no-audit --no-fund --loglevel=error) >>"$LOG" 2>&1
}

# drv SYSTEM DB ARGS...: run the driver against database DB
drv() {
	local sys=$1 db=$2
	shift 2
	PGDATABASE=$db node "$ROOT/bench/node/driver.mjs" "$sys" "$@" 2>>"$LOG"
}

# node_row SYSTEM SCENARIO VARIANT CLIENTS BATCH "JOBS SECONDS" S0 S1 NOTE:
# the row of a driver run (ms/call: clients x time / calls), WAL and
# commits per job from the snapshots around it.
node_row() {
	local sys=$1 sc=$2 var=$3 c=$4 b=$5 jobs el
	local -a s0 s1
	read -r jobs el <<<"$6"
	read -r -a s0 <<<"$7"
	read -r -a s1 <<<"$8"
	row "$sys" "$sc" "$var" \
		"$(awk -v j="$jobs" -v e="$el" 'BEGIN { if (e > 0) printf "%.0f", j / e; else print "-" }')" \
		"$(awk -v j="$jobs" -v e="$el" -v c="$c" -v b="$b" 'BEGIN { if (j > 0) printf "%.3f", c * e * 1000 * b / j; else print "-" }')" \
		- - "$(div $((s1[0] - s0[0])) "$jobs")" "$(div $((s1[1] - s0[1] - 1)) "$jobs")" - - "$9"
}

# node_measure SYSTEM SCENARIO VARIANT DB CLIENTS BATCH: S1 through the
# driver, NODE_S1_SECS seconds.
node_measure() {
	local sys=$1 sc=$2 var=$3 db=$4 c=$5 b=$6 s0 s1 out
	checkpoint
	s0=$(snap "$db")
	out=$(drv "$sys" "$db" enqueue "$c" "$NODE_S1_SECS" "$b")
	s1=$(snap "$db")
	node_row "$sys" "$sc" "$var" "$c" "$b" "$out" "$s0" "$s1" "node-postgres client"
}

# script SYSTEM NAME: path of a pgbench script; skiplocked_delete shares
# everything but its drain/consume scripts with skiplocked, and
# awa_queue_4shards and awa_queue_poll every script with awa_queue.
script() {
	local f=$ROOT/bench/scripts/$1/$2.sql
	case "$1" in awa_queue_4shards | awa_queue_poll) f=$ROOT/bench/scripts/awa_queue/$2.sql ;; esac
	[ -f "$f" ] || f=$ROOT/bench/scripts/skiplocked/$2.sql
	echo "$f"
}

# missing SYSTEM DB SCENARIO: names of the awa functions the scenario needs
# and the build lacks (empty when everything is there).
missing() {
	case "$1" in awa_queue*) ;; *) return 0 ;; esac
	local need
	case "$3" in
		S1) need="enqueue enqueue_many queue_counts" ;;
		S2 | S3) need="enqueue enqueue_many claim_batch complete_batch queue_counts" ;;
		S4) need="enqueue_many claim_batch complete_batch queue_counts maintenance" ;;
		S5) need="enqueue_many claim_batch complete_batch queue_counts" ;;
	esac
	local f out=""
	for f in $need; do
		if [ "$(q "$2" "SELECT count(*) FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'awa' AND p.proname = '$f'")" = 0 ]; then
			out="$out awa.$f"
		fi
	done
	echo "${out# }"
}

# snap DB: "wal_lsn_bytes commits backlog" now (backlog: jobs enqueued and
# not completed, by the system's bench_backlog()).
snap() {
	q "$1" "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn, xact_commit, bench_backlog() FROM pg_stat_database WHERE datname = current_database()" | tr '|' ' '
}

# checkpoint: start every measured window from a checkpoint, so every
# system pays the same full-page writes for the pages it touches (skipped
# at smoke scale, whose figures are not compared).
checkpoint() {
	[ "$BENCH_SCALE" = smoke ] || q postgres "CHECKPOINT" >/dev/null
}

# pgb DB SCRIPT CLIENTS ARGS...: run pgbench, log its output, print the
# average latency in ms.
pgb() {
	local db=$1 f=$2 c=$3
	shift 3
	local out
	out=$("$PGBENCH" -n -M prepared -f "$f" -c "$c" -j "$c" "$@" "$db" 2>&1) || {
		echo "$out" >>"$LOG"
		echo "pgbench failed: $f $*" >&2
		echo "$out" | tail -n 5 >&2
		return 1
	}
	echo "$out" >>"$LOG"
	echo "$out" | sed -n 's/^latency average = \([0-9.]*\) ms.*/\1/p'
}

# row SYSTEM SCENARIO VARIANT JOBS_S MS_CALL P50 P99 WAL_JOB COMMITS_JOB DEAD SIZE NOTE
row() {
	local IFS=$'\t'
	echo "$*" >>"$TSV"
	awa_log "$1 $2 $3: jobs/s=$4 ms/call=$5 p50=$6 p99=$7 wal/job=$8 commits/job=$9 dead=${10} size=${11} ${12}"
}

na_rows() { # na_rows SYSTEM SCENARIO NOTE VARIANTS...
	local sys=$1 sc=$2 note=$3 v
	shift 3
	for v in "$@"; do
		row "$sys" "$sc" "$v" - - - - - - - - "$note"
	done
}

# ratio A B: A/B with 2 decimals ("-" when undefined)
div() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0 || a == "-" || b == "-") print "-"; else printf "%.2f", a / b }'
}

# measure SYSTEM SCENARIO VARIANT DB CLIENTS SCRIPT JOBS_PER_TXN_SIGN ARGS...
# Runs pgbench; jobs = |backlog after - backlog before|; prints a row.
measure() {
	local sys=$1 sc=$2 var=$3 db=$4 c=$5 f=$6
	shift 6
	local b0 b1 s0 s1 t0 t1 lat jobs
	checkpoint
	read -r -a s0 <<<"$(snap "$db")"
	t0=$(now)
	lat=$(pgb "$db" "$f" "$c" "$@")
	t1=$(now)
	read -r -a s1 <<<"$(snap "$db")"
	b0=${s0[2]} b1=${s1[2]}
	jobs=$((b1 > b0 ? b1 - b0 : b0 - b1))
	row "$sys" "$sc" "$var" \
		"$(awk -v j="$jobs" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", j / (b - a) }')" \
		"${lat:--}" - - \
		"$(div $((s1[0] - s0[0])) "$jobs")" \
		"$(div $((s1[1] - s0[1] - 1)) "$jobs")" - - ""
}

# dead_and_size DB SYSTEM: "n_dead_tup_sum total_bytes" over the system's tables.
dead_and_size() {
	local where
	case "$2" in
		awa_queue*) where="schemaname = 'awa'" ;;
		pgq) where="schemaname = 'pgq'" ;;
		*) where="schemaname = 'public' AND relname = 'jobs'" ;;
	esac
	q "$1" "SELECT coalesce(sum(n_dead_tup), 0), coalesce(sum(pg_total_relation_size(relid)), 0) FROM pg_stat_user_tables WHERE $where" | tr '|' ' '
}

# ---------------------------------------------------------------------
# scenarios

# S1 enqueue: one job per transaction with 1 and 8 clients; 100 per call.
s1() {
	local sys=$1 db=$2
	if node_system "$sys"; then
		node_measure "$sys" S1 "1 job/txn, 1 client" "$db" 1 1
		node_measure "$sys" S1 "1 job/txn, 8 clients" "$db" 8 1
		node_measure "$sys" S1 "100 jobs/call, 1 client" "$db" 1 100
		return
	fi
	measure "$sys" S1 "1 job/txn, 1 client" "$db" 1 "$(script "$sys" enqueue1)" $S1_RUN
	measure "$sys" S1 "1 job/txn, 8 clients" "$db" 8 "$(script "$sys" enqueue1)" $S1_RUN8
	measure "$sys" S1 "100 jobs/call, 1 client" "$db" 1 "$(script "$sys" enqueue100)" $S1_RUN100 -D jobs="$JOBS100"
}

# S2 drain: preload, then 4 consumers (PgQ: its one consumer) claim and
# complete batches of b per transaction until the backlog is empty; the
# figure is preloaded jobs / time to empty (drain_run).
s2() {
	local sys=$1 db=$2 b n c=4
	[ "$sys" = pgq ] && c=1
	if node_system "$sys"; then
		node_drain "$sys" "$db" "$c" 100
		return
	fi
	for b in $S2_BATCHES; do
		n=$S2_N
		[ "$b" = 1 ] && n=$S2_N1
		if [ "$sys" = pgq ]; then
			q "$db" "CALL bench_preload($n, 0, $b)" >/dev/null
		else
			q "$db" "CALL bench_preload($n)" >/dev/null
		fi
		q "$db" "VACUUM ANALYZE" >/dev/null
		drain_run "$sys" "batch $b" "$db" "$c" "$b" "$(script "$sys" drain)"
	done
}

# node_drain SYSTEM DB CLIENTS BATCH: S2 through the driver (batch 100
# only: pg-boss's fetch reads every available job's index entry and sorts
# them, so its drain time grows with the backlog and smaller batches would
# not finish in S2_MAX_SECS).  awa_queue_node is preloaded as awa_queue is.
node_drain() {
	local sys=$1 db=$2 c=$3 b=$4 s0 s1 out note="node-postgres client"
	if [ "$sys" = pgboss ]; then
		drv "$sys" "$db" preload "$S2_N" >>"$LOG"
	else
		q "$db" "CALL bench_preload($S2_N)" >/dev/null
	fi
	q "$db" "VACUUM ANALYZE" >/dev/null
	checkpoint
	s0=$(snap "$db")
	out=$(drv "$sys" "$db" drain "$c" "$b" "$S2_MAX_SECS")
	s1=$(snap "$db")
	[ "$(q "$db" "SELECT bench_backlog()")" = 0 ] || note="$note; not drained in ${S2_MAX_SECS} s"
	node_row "$sys" S2 "batch $b" "$c" "$b" "$out" "$s0" "$s1" "$note"
}

# drain_run SYSTEM VARIANT DB CLIENTS BATCH SCRIPT: run the drain consumers
# until one of them sees the backlog empty and records the moment in
# bench_drained (see bench/common.sql), then stop them.  Time = that moment
# minus the start; a consumer that comes back empty while jobs remain
# (another consumer holds them) simply tries again, as a worker would.
# ms/call is the time per claim + complete cycle of a full batch per
# consumer (clients x time / batches).  Capped at S2_MAX_SECS: a drain not
# finished by then reports the jobs it did over that time, with a note.
drain_run() {
	local sys=$1 var=$2 db=$3 c=$4 b=$5 f=$6
	local s0 s1 s2 t0 t1 pid at jobs note=""
	q "$db" "TRUNCATE bench_drained" >/dev/null
	checkpoint
	read -r -a s0 <<<"$(snap "$db")"
	t0=$(now)
	"$PGBENCH" -n -M prepared -f "$f" -c "$c" -j "$c" -T "$S2_MAX_SECS" -D b="$b" -D idle=200 "$db" >>"$LOG" 2>&1 &
	pid=$!
	at=
	while kill -0 "$pid" 2>/dev/null; do
		at=$(q "$db" "SELECT extract(epoch FROM at) FROM bench_drained")
		[ -n "$at" ] && break
		sleep 0.1
	done
	t1=${at:-$(now)}
	# WAL at the drained moment; commits once the consumers have exited
	# (a backend reports its commits at most once a second, and at exit)
	read -r -a s1 <<<"$(snap "$db")"
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	sleep 0.2
	read -r -a s2 <<<"$(snap "$db")"
	[ -n "$at" ] || note="not drained in ${S2_MAX_SECS} s"
	jobs=$((s0[2] - s1[2]))
	row "$sys" S2 "$var" \
		"$(awk -v j="$jobs" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", j / (b - a) }')" \
		"$(awk -v j="$jobs" -v a="$t0" -v b="$t1" -v c="$c" -v n="$b" 'BEGIN { if (j > 0) printf "%.3f", c * (b - a) * 1000 * n / j; else print "-" }')" \
		- - \
		"$(div $((s1[0] - s0[0])) "$jobs")" \
		"$(div $((s2[1] - s0[1] - 2)) "$jobs")" - - "$note"
}

# S3 steady: 2 producers (1 job per transaction) and 2 consumers (PgQ: 1)
# together for S3_SECS, at a fixed offered rate and at full speed.  The
# producer stamps the enqueue time in the job's args; the consumer, in the
# transaction that completes the job, stores clock_timestamp() minus that
# stamp in the UNLOGGED bench_latency table.
s3() {
	local sys=$1 db=$2 mode rate s0 s1 prod_pid rc jobs pct cc=2
	[ "$sys" = pgq ] && cc=1
	for mode in fixed full; do
		rate=()
		[ "$mode" = fixed ] && rate=(-R "$S3_RATE")
		q "$db" "TRUNCATE bench_latency" >/dev/null
		checkpoint
		read -r -a s0 <<<"$(snap "$db")"
		pgb "$db" "$(script "$sys" produce)" 2 -T "$S3_SECS" "${rate[@]}" >/dev/null &
		prod_pid=$!
		pgb "$db" "$(script "$sys" consume)" "$cc" -T "$S3_SECS" -D b=10 >/dev/null
		rc=0
		wait "$prod_pid" || rc=$?
		[ "$rc" = 0 ] || return "$rc"
		read -r -a s1 <<<"$(snap "$db")"
		jobs=$(q "$db" "SELECT count(*) FROM bench_latency")
		pct=$(q "$db" "SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY lat_ms)::numeric, 2), round(percentile_cont(0.99) WITHIN GROUP (ORDER BY lat_ms)::numeric, 2) FROM bench_latency")
		local label="full speed"
		[ "$mode" = fixed ] && label="offered $S3_RATE jobs/s"
		row "$sys" S3 "$label" "$((jobs / S3_SECS))" - "${pct%%|*}" "${pct##*|}" \
			"$(div $((s1[0] - s0[0])) "$jobs")" "$(div $((s1[1] - s0[1] - 1)) "$jobs")" - - ""
		s3_empty "$sys" "$db" "$cc"
	done
	[ "${BENCH_S3_WAITS:-0}" = 1 ] && s3_waits "$sys" "$db" "$cc"
	return 0
}

# s3_empty SYSTEM DB CONSUMERS: drain what an S3 phase left, so the next
# one starts from an empty queue.
s3_empty() {
	while [ "$(q "$2" "SELECT bench_backlog()")" -gt 0 ]; do
		pgb "$2" "$(script "$1" drain)" "$3" -t 50 -D b=500 -D idle=0 >/dev/null
	done
}

# s3_waits SYSTEM DB CONSUMERS (BENCH_S3_WAITS=1): a third, diagnostic run
# of the fixed-rate phase with bench/s3_waits.sql sampling what every
# session of DB is doing, appended to $BENCH_OUT/s3_waits.md.  The sampler
# costs CPU, so this run yields no figure for the table.
s3_waits() {
	local sys=$1 db=$2 cc=$3 prod_pid cons_pid secs=$((S3_SECS > 2 ? S3_SECS - 1 : S3_SECS))
	q "$db" "TRUNCATE bench_latency" >/dev/null
	pgb "$db" "$(script "$sys" produce)" 2 -T "$S3_SECS" -R "$S3_RATE" >/dev/null &
	prod_pid=$!
	pgb "$db" "$(script "$sys" consume)" "$cc" -T "$S3_SECS" -D b=10 >/dev/null &
	cons_pid=$!
	{
		echo "### $sys, offered $S3_RATE jobs/s for $S3_SECS s (round $round)"
		echo
		echo '```'
		psql -X -q -v ON_ERROR_STOP=1 -d postgres -v db="$db" -v secs="$secs" -f "$ROOT/bench/s3_waits.sql"
		echo '```'
		echo
	} >>"$BENCH_OUT/s3_waits.md"
	wait "$prod_pid"
	wait "$cons_pid"
	s3_empty "$sys" "$db" "$cc"
}

# Maintenance as each system runs it in production, looping in the
# background, once a second (awa's default rotate interval, and the
# finest pg_cron schedule, '1 seconds'): awa.maintenance(); PgQ's
# maint_operations; nothing for skiplocked (autovacuum, default settings).
maint_loop() {
	local sys=$1 db=$2
	case "$sys" in
		awa_queue*)
			while :; do
				q "$db" "SELECT awa.maintenance()" >/dev/null 2>>"$LOG" || true
				sleep 1
			done
			;;
		pgq)
			while :; do
				local fn arg
				q "$db" "SELECT func_name || ' ' || coalesce(func_arg, '') FROM pgq.maint_operations()" 2>>"$LOG" |
					while read -r fn arg; do
						if [ -n "$arg" ]; then
							q "$db" "SELECT $fn('$arg')" >/dev/null 2>>"$LOG" || true
						else
							q "$db" "SELECT $fn()" >/dev/null 2>>"$LOG" || true
						fi
					done
				sleep 1
			done
			;;
		*)
			while :; do
				sleep 1
			done
			;;
	esac
}

# S4 bloat: S4_N jobs through the system in S4_ROUNDS rounds of enqueue (100 per
# call) and drain (batches of 100), maintenance running alongside; dead
# tuples and sizes of the system's tables at the end, WAL over the whole
# lifecycle.
s4() {
	local sys=$1 db=$2 per=$((S4_N / S4_ROUNDS)) c=2 i s0 s1 t0 t1 mpid ds
	[ "$sys" = pgq ] && c=1
	q "$db" "ANALYZE" >/dev/null
	checkpoint
	read -r -a s0 <<<"$(snap "$db")"
	t0=$(now)
	maint_loop "$sys" "$db" >/dev/null 2>&1 &
	mpid=$!
	for i in $(seq 1 "$S4_ROUNDS"); do
		pgb "$db" "$(script "$sys" enqueue100)" 1 -t $(((per + 99) / 100)) -D jobs="$JOBS100" >/dev/null
		while [ "$(q "$db" "SELECT bench_backlog()")" -gt 0 ]; do
			pgb "$db" "$(script "$sys" drain)" "$c" -t $((per / (c * 100) + 2)) -D b=100 -D idle=0 >/dev/null
		done
	done
	t1=$(now)
	kill "$mpid" 2>/dev/null || true
	wait "$mpid" 2>/dev/null || true
	read -r -a s1 <<<"$(snap "$db")"
	read -r -a ds <<<"$(dead_and_size "$db" "$sys")"
	local jobs=$((((per + 99) / 100) * 100 * S4_ROUNDS))
	row "$sys" S4 "$jobs jobs" \
		"$(awk -v j="$jobs" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", j / (b - a) }')" - - - \
		"$(div $((s1[0] - s0[0])) "$jobs")" "$(div $((s1[1] - s0[1] - 1)) "$jobs")" \
		"${ds[0]}" "${ds[1]}" ""
}

# S5 counts: the system's own count query with S5_AVAIL available jobs and
# S5_T1, then S5_T2, terminal rows; ms per call (pgbench latency average).
s5() {
	local sys=$1 db=$2 t s0 s1 ms prev=0
	for t in "$S5_T1" "$S5_T2"; do
		if [ "$prev" = 0 ]; then
			q "$db" "CALL bench_preload($S5_AVAIL, $t)" >/dev/null
		elif [ "$sys" = pgq ]; then
			row "$sys" S5 "$S5_AVAIL avail + $t terminal" - - - - - - - - \
				"n/a: PgQ consumes in order, terminal events cannot grow under a pending backlog"
			continue
		else
			q "$db" "CALL bench_preload(0, $((t - prev)))" >/dev/null
		fi
		prev=$t
		q "$db" "VACUUM ANALYZE" >/dev/null
		checkpoint
		read -r -a s0 <<<"$(snap "$db")"
		ms=$(pgb "$db" "$(script "$sys" counts)" 1 -t "$S5_CALLS")
		read -r -a s1 <<<"$(snap "$db")"
		row "$sys" S5 "$S5_AVAIL avail + $t terminal" \
			"$(awk -v m="$ms" 'BEGIN { if (m > 0) printf "%.0f", 1000 / m; else print "-" }')" \
			"$ms" - - "$(div $((s1[0] - s0[0])) "$S5_CALLS")" - - - "calls/s, not jobs/s"
	done
}

# ---------------------------------------------------------------------
# main

awa_log "bench: scale $BENCH_SCALE, systems: $BENCH_SYSTEMS, scenarios: $BENCH_SCENARIOS, rounds of S1-S3: $BENCH_ROUNDS"
for sc in $BENCH_SCENARIOS; do
	# S1-S3 run BENCH_ROUNDS times, every other round in reverse system
	# order; report.py shows each system's best round per variant and
	# judges the goals on the median of the round-by-round ratios.
	rounds=1
	case "$sc" in S1 | S2 | S3) rounds=$BENCH_ROUNDS ;; esac
	for round in $(seq 1 "$rounds"); do
	order=$BENCH_SYSTEMS
	[ $((round % 2)) = 0 ] && order=$(echo "$BENCH_SYSTEMS" | tr ' ' '\n' | tac | tr '\n' ' ')
	for sys in $order; do
		# skiplocked_notify differs from skiplocked in its producers only,
		# awa_queue_poll from awa_queue in its producers' settings
		if [ "$sys" = skiplocked_notify ] || [ "$sys" = awa_queue_poll ]; then
			if [ "$sc" != S1 ] && [ "$sc" != S3 ]; then
				continue
			fi
		fi
		# fifo_sql prices the enqueue guarantees only
		if [ "$sys" = fifo_sql ] && [ "$sc" != S1 ]; then
			continue
		fi
		# the Node.js-driven systems: S1 and S2 (batch 100)
		if node_system "$sys" && [ "$sc" != S1 ] && [ "$sc" != S2 ]; then
			continue
		fi
		if node_system "$sys" && ! node_deps; then
			case "$sc" in
				S1) na_rows "$sys" S1 "n/a: Node.js and npm (bench/node) not available" "1 job/txn, 1 client" "1 job/txn, 8 clients" "100 jobs/call, 1 client" ;;
				S2) na_rows "$sys" S2 "n/a: Node.js and npm (bench/node) not available" "batch 100" ;;
			esac
			continue
		fi
		t_sc=$(now)
		db=$(db_of "$sys" "$sc")
		if ! fresh_db "$sys" "$db"; then
			awa_log "could not load $sys (see $LOG)"
			exit 1
		fi
		miss=$(missing "$sys" "$db" "$sc")
		if [ -n "$miss" ]; then
			case "$sc" in
				S1) na_rows "$sys" S1 "n/a: not in this build: $miss" "1 job/txn, 1 client" "1 job/txn, 8 clients" "100 jobs/call, 1 client" ;;
				S2) for b in $S2_BATCHES; do na_rows "$sys" S2 "n/a: not in this build: $miss" "batch $b"; done ;;
				S3) na_rows "$sys" S3 "n/a: not in this build: $miss" "offered $S3_RATE jobs/s" "full speed" ;;
				S4) na_rows "$sys" S4 "n/a: not in this build: $miss" "$((((S4_N / S4_ROUNDS + 99) / 100) * 100 * S4_ROUNDS)) jobs" ;;
				S5) na_rows "$sys" S5 "n/a: not in this build: $miss" "$S5_AVAIL avail + $S5_T1 terminal" "$S5_AVAIL avail + $S5_T2 terminal" ;;
			esac
		else
			"${sc,,}" "$sys" "$db"
		fi
		awa_log "$sc $sys (round $round): $(awk -v a="$t_sc" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }') s"
	done
	done
done

for sys in $BENCH_SYSTEMS; do
	drop_db "$(db_of "$sys")"
done

settings=$(q postgres "SELECT string_agg(name || '=' || current_setting(name), ', ' ORDER BY name) FROM pg_settings WHERE name IN ('shared_buffers', 'synchronous_commit', 'autovacuum', 'max_wal_size', 'fsync', 'wal_level', 'checkpoint_timeout')")
version=$(q postgres "SHOW server_version")
python3 "$ROOT/bench/report.py" "$TSV" "$BENCH_OUT" \
	--scale "$BENCH_SCALE" --settings "$settings" --version "$version" \
	--cores "$(nproc)" --memory "$(free -g | awk '/^Mem:/ { print $2 " GB" }')" \
	--load "$(cut -d' ' -f1-3 /proc/loadavg)" --rounds "$BENCH_ROUNDS"
cat "$BENCH_OUT/latest.md"

if [ "$BENCH_PLOT" = 1 ] && [ -s "$BENCH_OUT/drain_by_batch.dat" ]; then
	ncols=$(awk '!/^#/ { print NF; exit }' "$BENCH_OUT/drain_by_batch.dat")
	gnuplot -e "datafile='$BENCH_OUT/drain_by_batch.dat'; outfile='$BENCH_OUT/drain_by_batch.png'; ncols=$ncols" \
		"$ROOT/bench/plot.gp"
	if [ "${BENCH_PUBLISH:-0}" = 1 ]; then
		cp "$BENCH_OUT/drain_by_batch.dat" "$ROOT/doc/benchmarks-drain.dat"
		cp "$BENCH_OUT/drain_by_batch.png" "$ROOT/doc/benchmarks-drain.png"
		cp "$BENCH_OUT/latest.md" "$ROOT/doc/benchmarks-latest.md"
	fi
fi
