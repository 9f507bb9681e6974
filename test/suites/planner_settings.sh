#!/usr/bin/env bash
# test/suites/planner_settings.sh -- the settings of the statements
# enqueue, claim_batch and complete_batch run (design decisions 25 and 44,
# src/awa_planner.c).
#
# These functions carry no SET clause (search_path, plan_cache_mode,
# enable_seqscan, jit); the SPI layer applies the four settings before the
# first statement a hot function runs.  auto_explain (log_nested_statements, log_settings,
# log_level = notice) shows, for every statement, the planner settings it
# ran with.  The suite checks that every statement run inside the three
# functions had all four settings, that the caller's own settings are
# untouched afterwards, and that a hot function ended by an error (unique
# key conflict) leaves nothing behind: the statements of a later non-hot
# function (queue_counts), after ROLLBACK TO SAVEPOINT and after ROLLBACK,
# run without them.  Then the invariants of SPEC §4.  Last line:
# "N passed, N failed"; exit status non-zero on failure.
set -uo pipefail
cd "$(dirname "$0")/../.."

db=awa_planner
. test/stress/lib.sh

# explain SQL...: run the statements after auto_explain is set up; print one
# line per statement run inside them: "<first words of the statement> |
# <its Settings line>", and the ERROR lines.  The test's own statements start with /* top */ and
# are left out.
explain() {
	psql -X -q -A -t -d "$db" \
		-c "LOAD 'auto_explain'" \
		-c "SET auto_explain.log_min_duration = 0" \
		-c "SET auto_explain.log_nested_statements = on" \
		-c "SET auto_explain.log_settings = on" \
		-c "SET auto_explain.log_level = notice" \
		-c "SET client_min_messages = notice" \
		"$@" 2>&1 |
		awk '
			/^Query Text: / { flush(); q = substr($0, 13, 40); s = ""; next }
			/^Settings: / { s = $0; next }
			/^ERROR: / { flush(); print; next }
			function flush() { if (q != "" && q !~ /^\/\* top \*\//) print q " | " s; q = "" }
			END { flush() }'
}

# count_without SETTING OUTPUT: statements in OUTPUT whose settings lack SETTING
count_without() {
	printf '%s\n' "$2" | grep -c -v -F "$1" || true
}
count_lines() {
	printf '%s\n' "$1" | grep -c . || true
}

hot_settings_everywhere() {
	local name=$1 out=$2 n
	n=$(count_lines "$out")
	expect "$name: runs statements" "$([ "$n" -gt 0 ] && echo yes || echo "no ($n)")" yes
	for s in "search_path = 'pg_catalog, pg_temp'" "enable_seqscan = 'off'" "plan_cache_mode = 'force_generic_plan'" "jit = 'off'"; do
		expect "$name: every statement with $s" "$(count_without "$s" "$out")" 0
	done
}

psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null &&
	psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "CREATE EXTENSION awa_queue" >/dev/null || {
	notok "create the database and the extension"
	finish
}

expect "the hot functions carry no SET clause" \
	"$(psql -X -q -A -t -d "$db" -c "SELECT string_agg(proname || ' ' || coalesce(array_to_string(proconfig, ';'), '-'), ', ' ORDER BY proname) FROM pg_proc WHERE pronamespace = 'awa'::regnamespace AND proname IN ('enqueue', 'claim_batch', 'complete_batch')")" \
	"claim_batch -, complete_batch -, enqueue -"

# enqueue into new lanes (lane creation and the statement path of the first
# enqueue) with a unique key (the unique-claim statement)
out=$(explain \
	-c "/* top */ SELECT awa.enqueue('k', '{}', 'plan', priority => 1::smallint, unique_key => 'u1'::bytea)" \
	-c "/* top */ SELECT awa.enqueue('k', '{}', 'plan', priority => 3::smallint)")
hot_settings_everywhere "enqueue" "$out"

# claim over two lanes of different priority, in a REPEATABLE READ
# transaction: its lane picks are the SQL statements (in READ COMMITTED the
# head tables decide them without a statement, design decision 45)
out=$(explain -c "BEGIN ISOLATION LEVEL REPEATABLE READ" \
	-c "/* top */ SELECT count(*) FROM awa.claim_batch('plan', 5)" -c "COMMIT")
hot_settings_everywhere "claim_batch" "$out"

# complete receipts of an older claim slot (rotate_claims in between): the
# statement path of the completion
psql -X -q -d "$db" -c "SELECT awa.rotate_claims()" >/dev/null
out=$(explain -c "/* top */ SELECT count(*) FROM awa.complete_batch(ARRAY(SELECT job_id FROM awa.lease_claims ORDER BY job_id), ARRAY(SELECT run_lease FROM awa.lease_claims ORDER BY job_id))")
hot_settings_everywhere "complete_batch" "$out"
expect "complete_batch: both jobs completed" \
	"$(psql -X -q -A -t -d "$db" -c "SELECT count(*) FROM awa.done_entries")" 2

# the caller's settings after each hot function
expect "caller's settings untouched" \
	"$(psql -X -q -A -t -d "$db" \
		-c "SET enable_seqscan = on" -c "SET plan_cache_mode = auto" -c "SET jit = on" -c "SET search_path = public, pg_catalog" \
		-c "SELECT awa.enqueue('k', '{}', 'plan', unique_key => 'u2'::bytea) > 0" \
		-c "SELECT count(*) FROM awa.claim_batch('plan', 1)" \
		-c "SELECT count(*) FROM awa.complete_batch(ARRAY(SELECT job_id FROM awa.lease_claims c WHERE NOT EXISTS (SELECT 1 FROM awa.lease_claim_closures x WHERE x.job_id = c.job_id)), ARRAY(SELECT run_lease FROM awa.lease_claims c WHERE NOT EXISTS (SELECT 1 FROM awa.lease_claim_closures x WHERE x.job_id = c.job_id)))" \
		-c "SELECT current_setting('enable_seqscan') || ' ' || current_setting('plan_cache_mode') || ' ' || current_setting('jit') || ' ' || current_setting('search_path')" | tr '\n' ' ')" \
	"t 1 1 on auto on public, pg_catalog "

# A hot function ended by an error: enqueue of a key that is taken (u3 is
# available).  queue_counts (not a hot function: SET jit = off only) runs
# its statement afterwards: without enable_seqscan / plan_cache_mode.
psql -X -q -d "$db" -c "SELECT awa.enqueue('k', '{}', 'plan', unique_key => 'u3'::bytea)" >/dev/null
out=$(explain \
	-c "BEGIN" -c "SAVEPOINT s" \
	-c "/* top */ SELECT awa.enqueue('k', '{}', 'plan', unique_key => 'u3'::bytea)" \
	-c "ROLLBACK TO SAVEPOINT s" \
	-c "/* top */ SELECT count(*) FROM awa.queue_counts('plan')" \
	-c "COMMIT")
expect "the duplicate key failed inside enqueue" "$(printf '%s\n' "$out" | grep -c 'ERROR:  unique key already held' || true)" 1
counts=$(printf '%s\n' "$out" | grep -F 'WITH q AS (SELECT queue FROM awa.queue' || true)
expect "after ROLLBACK TO SAVEPOINT: queue_counts ran its statement" "$(count_lines "$counts")" 1
expect "after ROLLBACK TO SAVEPOINT: no hot settings left" \
	"$(printf '%s\n' "$counts" | grep -c -F -e "enable_seqscan" -e "plan_cache_mode" || true)" 0

# the caller's search_path after a hot function that failed after it had
# applied its settings: rolled back to a savepoint, and caught by an
# exception block (the subtransaction of a PL/pgSQL BEGIN ... EXCEPTION)
expect "caller's search_path after a failed hot function" \
	"$(psql -X -q -A -t -d "$db" \
		-c "SET search_path = public, pg_catalog" \
		-c "BEGIN" -c "SAVEPOINT s" \
		-c "SELECT awa.enqueue('k', '{}', 'plan', unique_key => 'u3'::bytea)" \
		-c "ROLLBACK TO SAVEPOINT s" \
		-c "SELECT current_setting('search_path') || ' ' || current_setting('enable_seqscan')" \
		-c "COMMIT" \
		-c "DO \$\$ BEGIN PERFORM awa.enqueue('k', '{}', 'plan', unique_key => 'u3'::bytea); EXCEPTION WHEN unique_violation THEN NULL; END \$\$" \
		-c "SELECT current_setting('search_path') || ' ' || current_setting('enable_seqscan')" \
		-c "SELECT awa.enqueue('k', '{}', 'plan', unique_key => 'u4'::bytea) > 0" \
		-c "SELECT current_setting('search_path') || ' ' || current_setting('enable_seqscan')" 2>/dev/null | tr '\n' '|')" \
	"public, pg_catalog on|public, pg_catalog on|t|public, pg_catalog on|"

out=$(explain \
	-c "BEGIN" \
	-c "/* top */ SELECT awa.enqueue('k', '{}', 'plan', unique_key => 'u3'::bytea)" \
	-c "ROLLBACK" \
	-c "/* top */ SELECT count(*) FROM awa.queue_counts('plan')")
counts=$(printf '%s\n' "$out" | grep -F 'WITH q AS (SELECT queue FROM awa.queue' || true)
expect "after ROLLBACK: queue_counts ran its statement" "$(count_lines "$counts")" 1
expect "after ROLLBACK: no hot settings left" \
	"$(printf '%s\n' "$counts" | grep -c -F -e "enable_seqscan" -e "plan_cache_mode" || true)" 0

# SPEC §4 invariants after every path above
expect "live terminal counters exact" \
	"$(psql -X -q -A -t -d "$db" -c "SELECT count(*) FROM awa.verify_terminal_counters()")" 0
expect "available counts exact" \
	"$(psql -X -q -A -t -d "$db" -c "SELECT count(*) FROM awa.verify_available_counts()")" 0
expect "queue counts" \
	"$(psql -X -q -A -t -d "$db" -c "SELECT available || ' ' || running || ' ' || terminal FROM awa.queue_counts('plan')")" \
	"2 0 3"

psql -X -q -d postgres -c "DROP DATABASE $db" >/dev/null
finish
