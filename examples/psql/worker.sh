#!/usr/bin/env bash
# examples/psql/worker.sh -- an awa_queue worker in bash and psql.
#
#   examples/psql/worker.sh [queue] [max_jobs]
#
# Claims batches of BATCH jobs (default 10), runs the shell function
# handle_<kind> for each with the job's args (JSON) as $1, then completes
# the jobs whose handler succeeded with one awa.complete_batch call and
# fails the others with one awa.fail_batch call.  Polls every POLL seconds
# (default 1) when the queue is empty; stops after max_jobs jobs (0: never)
# or IDLE_EXIT idle seconds (0: never).  Connection: the libpq environment.
set -euo pipefail
queue=${1:-default}
max_jobs=${2:-0}
: "${BATCH:=10}" "${POLL:=1}" "${IDLE_EXIT:=0}"

handle_echo() {
	echo "echo: $1" >&2
}

handle_fail() {
	echo "fail: $1" >&2
	return 3
}

sql() {
	psql -X -q -At -v ON_ERROR_STOP=1 "$@"
}

claimed=0
completed=0
failed=0
idle=0
while [ "$max_jobs" -eq 0 ] || [ "$claimed" -lt "$max_jobs" ]; do
	want=$BATCH
	if [ "$max_jobs" -gt 0 ] && [ $((max_jobs - claimed)) -lt "$want" ]; then
		want=$((max_jobs - claimed))
	fi
	ok_ids=() ok_leases=() bad_ids=() bad_leases=() bad_errors=()
	while IFS=$'\t' read -r job_id run_lease kind args; do
		[ -n "$job_id" ] || continue
		claimed=$((claimed + 1))
		status=0
		if declare -F "handle_$kind" >/dev/null; then
			"handle_$kind" "$args" || status=$?
		else
			status=127
		fi
		if [ "$status" -eq 0 ]; then
			ok_ids+=("$job_id") ok_leases+=("$run_lease")
		else
			bad_ids+=("$job_id") bad_leases+=("$run_lease")
			bad_errors+=("\"handle_$kind exited with status $status\"")
		fi
	done < <(sql -F $'\t' -v queue="$queue" -v want="$want" <<'SQL'
SELECT job_id, run_lease, kind, args FROM awa.claim_batch(:'queue', :want);
SQL
	)
	if [ ${#ok_ids[@]} -eq 0 ] && [ ${#bad_ids[@]} -eq 0 ]; then
		if [ "$IDLE_EXIT" -gt 0 ] && [ "$idle" -ge "$IDLE_EXIT" ]; then
			break
		fi
		sleep "$POLL"
		idle=$((idle + POLL))
		continue
	fi
	idle=0
	join() { local IFS=,; echo "{$*}"; }
	if [ ${#ok_ids[@]} -gt 0 ]; then
		n=$(sql -v ids="$(join "${ok_ids[@]}")" -v leases="$(join "${ok_leases[@]}")" <<'SQL'
SELECT count(*) FROM awa.complete_batch(:'ids', :'leases');
SQL
		)
		completed=$((completed + n))
	fi
	if [ ${#bad_ids[@]} -gt 0 ]; then
		n=$(sql -v ids="$(join "${bad_ids[@]}")" -v leases="$(join "${bad_leases[@]}")" \
			-v errors="$(join "${bad_errors[@]}")" <<'SQL'
SELECT count(*) FROM awa.fail_batch(:'ids', :'leases', :'errors');
SQL
		)
		failed=$((failed + n))
	fi
done
echo "claimed=$claimed completed=$completed failed=$failed"
