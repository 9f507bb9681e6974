# test/stress/lib.sh -- TAP-style helpers shared by the storm and crash tests
# and the shell suites that compare figures (pg_cron, planner_settings).
# The sourcing script sets $db (database) and may set $out (scratch folder
# removed by finish); counters $passed / $failed start at 0.
passed=0
failed=0
# Use the test runner's cluster (PGHOST, AWA_PGDATA exported), or build,
# install and start a throwaway one (scripts/pgenv.sh must be sourced);
# sets own_cluster accordingly.
stress_use_or_start_cluster() {
	own_cluster=false
	if [ -z "${AWA_PGDATA:-}" ] || [ -z "${PGHOST:-}" ]; then
		own_cluster=true
		awa_ensure_packages
		awa_build_install
		awa_cluster_start test
	fi
}
ok() {
	echo "ok - $1"
	passed=$((passed + 1))
}
notok() {
	echo "not ok - $1"
	failed=$((failed + 1))
}
# print the closing line and exit with the verdict
finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit $?
}
q() {
	psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$db" -c "$1"
}
# check NAME SQL: SQL returns one row "t" (pass) or "f|detail"
check() {
	local r
	r=$(q "$2" 2>&1)
	if [ "${r%%|*}" = t ]; then
		ok "$1"
	else
		notok "$1: $r"
	fi
}
# expect NAME GOT WANT: GOT (a figure the caller measured) equals WANT
expect() {
	if [ "$2" = "$3" ]; then
		ok "$1"
	else
		notok "$1: got '$2', want '$3'"
	fi
}
# have SIGNATURE: the function is installed
have() {
	[ "$(q "SELECT to_regprocedure('$1') IS NOT NULL")" = t ]
}
