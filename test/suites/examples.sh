#!/usr/bin/env bash
# test/suites/examples.sh -- the examples and the documentation stay true.
#
# Runs against the throwaway cluster of scripts/test.sh (PGHOST, PGPORT,
# PGUSER exported), each part in a database of its own:
#   - examples/python and examples/node: the producer (business transaction,
#     rollback leaves no job, enqueue_many) and a bounded worker run over a
#     known mix of jobs (successes, a long heartbeating job, retryable,
#     exhausted, permanent and unknown-kind failures), checked from SQL;
#   - a LISTEN wake-up: a worker polling every 30 s picks up a new job at once;
#   - examples/psql: enqueue.sql, work.sql, worker.sh, counts.sql;
#   - examples/psql/demo.sql (make demo);
#   - the README quick start and every ```sql block of doc/operations.md.
# Installs what it needs (python3-psycopg, the node packages).  Closing
# line: "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
PY=/usr/bin/python3

passed=0
failed=0
ok() {
	echo "ok - $1"
	passed=$((passed + 1))
}
not_ok() {
	echo "not ok - $1"
	failed=$((failed + 1))
}
# expect NAME ACTUAL EXPECTED
expect() {
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1: got '$2', expected '$3'"; fi
}
as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}
q() {
	psql -X -q -At -v ON_ERROR_STOP=1 "$@"
}
fresh_db() {
	q -d postgres -c "DROP DATABASE IF EXISTS $1" 2>/dev/null
	q -d postgres -c "CREATE DATABASE $1"
	[ "${2:-}" = bare ] || q -d "$1" -c "CREATE EXTENSION awa_queue"
}
# The state of a queue as one line: available scheduled retryable running terminal dlq
counts() {
	q -d "$1" -F ' ' -c "SELECT available, scheduled, retryable, running, terminal, dlq
		FROM awa.queue_counts('${2:-default}')"
}
# Jobs by kind and state, one "kind:state:count" per word, sorted.
states() {
	q -d "$1" -c "SELECT string_agg(kind || ':' || state || ':' || n, ' ' ORDER BY kind, state)
		FROM (SELECT kind, state::text, count(*) AS n FROM awa.jobs GROUP BY 1, 2) AS s"
}
invariants() {
	q -d "$1" -c "SELECT (SELECT count(*) FROM awa.verify_terminal_counters())
		+ (SELECT count(*) FROM awa.verify_available_counts())"
}
json_field() {
	$PY -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$2" "$1"
}

# --- what the examples need ----------------------------------------------
if ! $PY -c 'import psycopg' 2>/dev/null; then
	as_root apt-get install -y -qq python3-psycopg >/dev/null 2>&1 ||
		{ as_root apt-get update -qq && as_root apt-get install -y -qq python3-psycopg >/dev/null; }
fi
if ! command -v npm >/dev/null 2>&1; then
	as_root apt-get install -y -qq nodejs npm >/dev/null 2>&1 ||
		{ as_root apt-get update -qq && as_root apt-get install -y -qq nodejs npm >/dev/null; }
fi
(cd examples/node && npm ci --silent --no-audit --no-fund >/dev/null 2>&1) ||
	not_ok "npm ci in examples/node"

# The known mix of jobs every worker run gets besides the producer's
# orders: one long job (heartbeats), a failure with attempts left
# (retryable), one on its last attempt (failed), a permanent failure and a
# kind without a handler (both failed at once).
MIX_JOBS=5
enqueue_mix() {
	q -d "$1" -c "
		SELECT awa.enqueue('slow_report', '{\"seconds\": 1.2}');
		SELECT awa.enqueue('flaky', '{}', max_attempts => 3::smallint);
		SELECT awa.enqueue('flaky', '{}', max_attempts => 1::smallint);
		SELECT awa.enqueue('reject', '{\"sku\": 0}');
		SELECT awa.enqueue('no_such_kind', '{}');" >/dev/null
}
EXPECTED_STATES="flaky:failed:1 flaky:retryable:1 no_such_kind:failed:1 reject:failed:1 send_receipt:completed:12 slow_report:completed:1"

# run_language NAME DB PRODUCER... -- WORKER...
run_language() {
	local lang=$1 db=$2
	shift 2
	local producer=() worker=()
	while [ "$1" != -- ]; do producer+=("$1"); shift; done
	shift
	worker=("$@")
	fresh_db "$db"
	local out
	if out=$(PGDATABASE=$db "${producer[@]}" --orders 5 2>&1) &&
		[ "$(json_field enqueued "$out")" = 5 ]; then
		ok "$lang producer: 5 orders, each with its job in one transaction; rollback left no job"
	else
		not_ok "$lang producer: $out"
	fi
	if out=$(PGDATABASE=$db "${producer[@]}" --orders 7 --batch 2>&1) &&
		[ "$(json_field enqueued "$out")" = 7 ]; then
		ok "$lang producer --batch: 7 orders with one enqueue_many"
	else
		not_ok "$lang producer --batch: $out"
	fi
	enqueue_mix "$db"
	expect "$lang: 17 jobs available before the worker" "$(counts "$db")" "17 0 0 0 0 0"
	out=$(PGDATABASE=$db timeout 60 "${worker[@]}" --max-jobs 17 --idle-exit 3 \
		--heartbeat 0.4 --poll 0.5 2>&1)
	echo "$out" | tail -n 1
	local stats
	stats=$(echo "$out" | tail -n 1)
	expect "$lang worker: claimed 17" "$(json_field claimed "$stats" 2>/dev/null)" 17
	expect "$lang worker: completed 13" "$(json_field completed "$stats" 2>/dev/null)" 13
	expect "$lang worker: 1 retryable, 3 failed" \
		"$(json_field retryable "$stats" 2>/dev/null) $(json_field failed "$stats" 2>/dev/null)" "1 3"
	local beats
	beats=$(json_field heartbeats "$stats" 2>/dev/null)
	if [ "${beats:-0}" -ge 1 ] 2>/dev/null; then
		ok "$lang worker: the long job was heartbeated ($beats)"
	else
		not_ok "$lang worker: no heartbeat sent for the long job ($stats)"
	fi
	expect "$lang: queue counts after the run" "$(counts "$db")" "0 0 1 0 16 0"
	expect "$lang: every job in the expected state" "$(states "$db")" "$EXPECTED_STATES"
	expect "$lang: every order receipted by its job" \
		"$(q -d "$db" -c "SELECT count(*) FILTER (WHERE receipt_sent_at IS NULL) || '/' || count(*) FROM app_orders")" "0/12"
	expect "$lang: terminal counters agree" "$(invariants "$db")" 0

	# LISTEN: a worker that would poll only every 30 s takes a new job at
	# once, woken by the enqueue's NOTIFY.
	local start elapsed
	start=$(date +%s%N)
	(PGDATABASE=$db timeout 20 "${worker[@]}" --max-jobs 1 --poll 30 >/dev/null 2>&1) &
	local pid=$!
	sleep 1
	q -d "$db" -c "INSERT INTO app_orders (customer, total_cents) VALUES ('late', 1);
		SELECT awa.enqueue('send_receipt', jsonb_build_object('order_id', currval('app_orders_id_seq')));" >/dev/null
	wait "$pid"
	local rc=$?
	elapsed=$((($(date +%s%N) - start) / 1000000))
	if [ "$rc" -eq 0 ] && [ "$elapsed" -lt 10000 ]; then
		ok "$lang worker: woken by NOTIFY (${elapsed} ms, poll 30 s)"
	else
		not_ok "$lang worker: not woken by NOTIFY (rc $rc, ${elapsed} ms)"
	fi
	expect "$lang: the late job completed" "$(counts "$db")" "0 0 1 0 17 0"
}

run_language python awa_ex_python $PY examples/python/producer.py -- $PY examples/python/worker.py
run_language node awa_ex_node node examples/node/producer.js -- node examples/node/worker.js

# --- psql and shell --------------------------------------------------------
db=awa_ex_psql
fresh_db $db
if q -d $db -v n=25 -f examples/psql/enqueue.sql >/dev/null; then
	ok "psql enqueue.sql: 25 jobs"
else
	not_ok "psql enqueue.sql"
fi
q -d $db -c "SELECT awa.enqueue('fail', '{}', max_attempts => 1::smallint) FROM generate_series(1, 3)" >/dev/null
expect "psql work.sql: claims and completes a batch of 5" \
	"$(q -d $db -v batch=5 -f examples/psql/work.sql)" 5
out=$(PGDATABASE=$db IDLE_EXIT=1 POLL=1 timeout 60 bash examples/psql/worker.sh default 100 2>/dev/null)
expect "psql worker.sh: 20 completed, 3 failed" "$out" "claimed=23 completed=20 failed=3"
expect "psql: queue counts" "$(counts $db)" "0 0 0 0 28 0"
expect "psql: jobs by state" "$(states $db)" "echo:completed:25 fail:failed:3"
if q -d $db -f examples/psql/counts.sql >/dev/null; then ok "psql counts.sql"; else not_ok "psql counts.sql"; fi
expect "psql: terminal counters agree" "$(invariants $db)" 0

# --- make demo's script ----------------------------------------------------
if bash scripts/demo.sh >/dev/null 2>&1; then
	ok "examples/psql/demo.sql (make demo) runs"
else
	not_ok "examples/psql/demo.sql (make demo) fails: run scripts/demo.sh"
fi

# --- the documentation's SQL -------------------------------------------------
# sql_blocks FILE [HEADING]: the ```sql blocks of FILE (after HEADING if
# given, up to the next heading of the same level), separated by NUL.
sql_blocks() {
	$PY - "$1" "${2:-}" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
if sys.argv[2]:
    start = text.index(sys.argv[2] + "\n")
    level = sys.argv[2].split(" ")[0]
    end = re.search(r"^" + level + " ", text[start + 1:], re.M)
    text = text[start:start + 1 + end.start()] if end else text[start:]
blocks = re.findall(r"^ *```sql\n(.*?)^ *```", text, re.S | re.M)
sys.stdout.write("\0".join(re.sub(r"^ {0,3}", "", b, flags=re.M) for b in blocks))
EOF
}

db=awa_readme
fresh_db $db bare
block=$(sql_blocks README.md "## Quick start in SQL")
lines=$(printf '%s\n' "$block" | grep -c .)
if [ -n "$block" ] && out=$(printf '%s\n' "$block" | q -d $db -F ' ' 2>&1); then
	ok "README quick start runs ($lines lines)"
	expect "README quick start: last counts as its comment says" \
		"$(echo "$out" | tail -n 1)" "default 0 1 0 0 2 0"
else
	not_ok "README quick start: $out"
fi

# doc/operations.md, in order: its application database is "app", the
# pg_cron database is the cluster's cron.database_name.
q -d postgres -c "DROP DATABASE IF EXISTS app" 2>/dev/null
q -d postgres -c "CREATE DATABASE app"
cron_db=$(q -d postgres -c "SHOW cron.database_name" 2>/dev/null || echo postgres)
n=0
while IFS= read -r -d '' block; do
	n=$((n + 1))
	target=app
	case "$block" in *cron.*) target=$cron_db ;; esac
	if out=$(printf '%s\n' "$block" | q -d "$target" 2>&1); then
		ok "doc/operations.md SQL block $n runs (in $target)"
	else
		not_ok "doc/operations.md SQL block $n (in $target): $out"
	fi
done < <(sql_blocks doc/operations.md; printf '\0')
[ "$n" -ge 8 ] || not_ok "doc/operations.md: only $n SQL blocks found"
q -d postgres -c "DROP DATABASE IF EXISTS app" 2>/dev/null
for r in app_web app_worker app_ops; do q -d postgres -c "DROP ROLE IF EXISTS $r" 2>/dev/null; done

for d in awa_ex_python awa_ex_node awa_ex_psql awa_readme; do
	q -d postgres -c "DROP DATABASE IF EXISTS $d" 2>/dev/null
done
cd "$root"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
