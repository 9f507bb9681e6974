#!/usr/bin/env bash
# test/suites/bench_smoke.sh -- the benchmark harness cannot rot: run
# bench/run.sh at smoke scale (seconds) and check that it produced a row
# with a measured, non-zero figure for every system and scenario; then
# bench/instructions.sh at a tiny size (a count for every workload).
#
# Uses the test runner's cluster (PGHOST/PGPORT exported by scripts/run.sh)
# when there is one, else starts its own.  Creates and drops its own
# databases (bench_<system>_<scenario>).  Never asserts a timing: only that
# each figure exists and is positive.
#
# An awa_queue row may read "n/a" only while the build lacks the function
# it needs (checked here against the installed extension); PgQ's second S5
# row is n/a by design (it consumes in order).
# Last line: "N passed, N failed"; exit status non-zero on failure.
set -uo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/pgenv.sh
. scripts/pgenv.sh

passed=0
failed=0
ok() {
	passed=$((passed + 1))
	echo "ok - $1"
}
not_ok() {
	failed=$((failed + 1))
	echo "not ok - $1"
}

own_cluster=false
if [ -z "${PGPORT:-}" ] || ! psql -X -qAt -d postgres -c "SELECT 1" >/dev/null 2>&1; then
	awa_ensure_packages
	awa_build_install
	awa_cluster_start test
	own_cluster=true
fi

out=$(mktemp -d)
# one EXIT trap for both: this one replaces the cluster's own (pgenv.sh)
trap 'rm -rf "$out"; if $own_cluster; then awa_cluster_stop; fi' EXIT
systems="awa_queue awa_queue_4shards awa_queue_poll skiplocked skiplocked_notify fifo_sql skiplocked_delete pgq"
# pg-boss and awa_queue through node-postgres (bench/node/driver.mjs) need
# Node.js 20 and npm (the driver's packages come from the npm registry)
node_systems=""
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
	node_systems="awa_queue_node pgboss"
	systems="$systems $node_systems"
else
	echo "# Node.js or npm missing: pgboss and awa_queue_node not run"
fi
scenarios="S1 S2 S3 S4 S5"

if BENCH_SCALE=smoke BENCH_USE_CLUSTER=1 BENCH_PLOT=0 BENCH_OUT="$out" \
	BENCH_SYSTEMS="$systems" BENCH_SCENARIOS="$scenarios" BENCH_S3_WAITS=1 \
	bash bench/run.sh >"$out/run.out" 2>&1; then
	ok "bench/run.sh at smoke scale exits 0"
else
	not_ok "bench/run.sh at smoke scale exits 0"
	tail -n 30 "$out/run.out"
	tail -n 30 "$out/bench.log" 2>/dev/null
fi

# BENCH_S3_WAITS: a sampled section for every system S3 runs, each with
# at least one sample of a statement of that system's consumer or producer
for sys in $systems; do
	case " $node_systems fifo_sql " in *" $sys "*) continue ;; esac
	section=$(awk -v h="### $sys, " 'index($0, h) == 1 { f = 1; next } /^### / { f = 0 } f' "$out/s3_waits.md" 2>/dev/null)
	samples=$(echo "$section" | awk -F'|' 'NF == 4 && $3 + 0 > 0 { n += $3 } END { print n + 0 }')
	if [ "$samples" -gt 0 ]; then
		ok "$sys S3 wait profile: $samples samples"
	else
		not_ok "$sys S3 wait profile has samples"
	fi
done

# Which awa functions does this build have?
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS bench_smoke_probe" >/dev/null 2>&1
psql -X -q -d postgres -c "CREATE DATABASE bench_smoke_probe" >/dev/null
psql -X -q -d bench_smoke_probe -c "CREATE EXTENSION awa_queue" >/dev/null
have=$(psql -X -qAt -d bench_smoke_probe -c "SELECT string_agg(p.proname, ' ') FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'awa'")
psql -X -q -d postgres -c "DROP DATABASE bench_smoke_probe" >/dev/null

tsv=$out/latest.tsv
for sys in $systems; do
	for sc in $scenarios; do
		rows=$(awk -F'\t' -v s="$sys" -v c="$sc" '$1 == s && $2 == c' "$tsv" 2>/dev/null)
		# skiplocked_notify differs from skiplocked in its producers only,
		# awa_queue_poll from awa_queue in its producers' settings:
		# measured in S1 and S3, absent elsewhere
		if { [ "$sys" = skiplocked_notify ] || [ "$sys" = awa_queue_poll ]; } &&
			[ "$sc" != S1 ] && [ "$sc" != S3 ]; then
			if [ -z "$rows" ]; then
				ok "$sys $sc: not run (producers only)"
			else
				not_ok "$sys $sc: should not run"
			fi
			continue
		fi
		# the Node.js-driven systems: S1 and S2 only
		case " $node_systems " in
			*" $sys "*)
				if [ "$sc" != S1 ] && [ "$sc" != S2 ]; then
					if [ -z "$rows" ]; then
						ok "$sys $sc: not run (S1 and S2 only)"
					else
						not_ok "$sys $sc: should not run"
					fi
					continue
				fi
				;;
		esac
		# fifo_sql prices the enqueue guarantees: S1 only
		if [ "$sys" = fifo_sql ] && [ "$sc" != S1 ]; then
			if [ -z "$rows" ]; then
				ok "$sys $sc: not run (enqueue only)"
			else
				not_ok "$sys $sc: should not run"
			fi
			continue
		fi
		if [ -z "$rows" ]; then
			not_ok "$sys $sc: has a row"
			continue
		fi
		measured=$(echo "$rows" | awk -F'\t' '$4 + 0 > 0 && ($2 == "S5" || $8 + 0 > 0)' | wc -l)
		na=$(echo "$rows" | awk -F'\t' '$12 ~ /^n\/a: /' | wc -l)
		total=$(echo "$rows" | wc -l)
		if [ "$measured" -eq "$total" ]; then
			ok "$sys $sc: $total rows, each with positive jobs/s (and WAL/job)"
		elif [ "${sys%_4shards}" = awa_queue ] || [ "$sys" = awa_queue_poll ] &&
			[ "$measured" -eq 0 ] && [ "$na" -eq "$total" ]; then
			# Allowed only when a function the note names is really missing.
			names=$(echo "$rows" | head -n 1 | cut -f12 | sed 's/^n\/a: not in this build: //')
			really=1
			for f in $names; do
				case " $have " in *" ${f#awa.} "*) really=0 ;; esac
			done
			if [ "$really" = 1 ] && [ -n "$names" ]; then
				ok "$sys $sc: n/a, the build lacks $names"
			else
				not_ok "$sys $sc: n/a although the build has $names"
			fi
		elif [ "$sys" = pgq ] && [ "$sc" = S5 ] && [ "$measured" -ge 1 ] && [ $((measured + na)) -eq "$total" ]; then
			ok "$sys $sc: measured, second backlog n/a by design"
		else
			not_ok "$sys $sc: $measured of $total rows measured"
			echo "$rows"
		fi
	done
done

if [ -s "$out/latest.md" ] && grep -q '^| scenario | variant | system' "$out/latest.md"; then
	ok "latest.md has the table"
else
	not_ok "latest.md has the table"
fi
if grep -q '^## Goals' "$out/latest.md" 2>/dev/null; then
	ok "latest.md has the goals of issue 8"
else
	not_ok "latest.md has the goals of issue 8"
fi
if grep -q '^| (like for like) S1 single-row, 8 clients: awa_queue vs fifo_sql | [0-9.]* |' "$out/latest.md" 2>/dev/null; then
	ok "latest.md compares awa_queue's enqueue with the same guarantees in plain SQL"
else
	not_ok "latest.md compares awa_queue's enqueue with the same guarantees in plain SQL"
fi
if grep -q '^| (poll-only queue, 8 shards) S1 single-row, 8 clients vs skiplocked | [0-9.]* |' "$out/latest.md" 2>/dev/null; then
	ok "latest.md measures a queue without notifications"
else
	not_ok "latest.md measures a queue without notifications"
fi

if [ -n "$node_systems" ]; then
	if grep -q '^| (node-postgres) S2 drain batch 100: awa_queue_node vs pgboss | [0-9.]* |' "$out/latest.md" 2>/dev/null; then
		ok "latest.md compares awa_queue with pg-boss on the same client stack"
	else
		not_ok "latest.md compares awa_queue with pg-boss on the same client stack"
	fi
fi

# The goals are judged on paired ratios (bench/report.py): in three
# synthetic rounds awa_queue drains 30k, 20k, 45k jobs/s against the
# baseline's 20k, 20k, 20k (ratios 1.50, 1.00, 2.25: median 1.50, met at
# >= 1.5), while the best rounds alone (45k / 20k) would say 2.25.
syn=$out/paired
mkdir -p "$syn"
{
	printf 'system\tscenario\tvariant\tjobs_s\tms_call\tp50_ms\tp99_ms\twal_job\tcommits_job\tdead_tup\tsize_bytes\tnote\n'
	for pair in "30000 20000" "20000 20000" "45000 20000"; do
		set -- $pair
		printf 'awa_queue\tS2\tbatch 100\t%s\t-\t-\t-\t-\t-\t-\t-\t\n' "$1"
		printf 'skiplocked\tS2\tbatch 100\t%s\t-\t-\t-\t-\t-\t-\t-\t\n' "$2"
	done
} >"$syn/latest.tsv"
if python3 bench/report.py "$syn/latest.tsv" "$syn" --scale smoke --rounds 3 >/dev/null 2>&1 &&
	grep -q '^| S2 drain batch 100 vs skiplocked | 1.50 | 1.50, 1.00, 2.25 (1.00–2.25) | ≥ 1.50 | met |$' "$syn/latest.md"; then
	ok "report.py judges a goal on the median of the paired ratios"
else
	not_ok "report.py judges a goal on the median of the paired ratios"
	grep 'S2 drain batch 100 vs skiplocked |' "$syn/latest.md" 2>/dev/null
fi

# bench/instructions.sh (callgrind instruction counts) at a tiny size: every
# workload measured for both systems.  Counts only, never a comparison.
if BENCH_INSTR_REPS="10 20" BENCH_OUT="$out" bash bench/instructions.sh >"$out/instr.out" 2>&1; then
	ok "bench/instructions.sh exits 0"
else
	not_ok "bench/instructions.sh exits 0"
	tail -n 20 "$out/instr.out"
fi
for w in enqueue-1 enqueue-100 cycle-1 cycle-100; do
	if awk -F'|' -v w="$w" '{ gsub(/ /, "", $2) } $2 == w && $3 + 0 > 0 && $4 + 0 > 0' \
		"$out/instructions.md" 2>/dev/null | grep -q .; then
		ok "instructions per job of $w counted for both systems"
	else
		not_ok "instructions per job of $w counted for both systems"
	fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
