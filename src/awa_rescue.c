/*-------------------------------------------------------------------------
 *
 * awa_rescue.c
 *	  Maintenance: awa.rescue_expired(), take back running attempts whose
 *	  deadline passed or whose worker stopped heartbeating.
 *
 * One statement picks up to max_jobs open receipts whose deadline_at has
 * passed, or whose last sign of life (attempt_state.heartbeat_at, or
 * claimed_at when the attempt never heartbeat) is older than
 * awa.heartbeat_staleness, oldest first, FOR UPDATE SKIP LOCKED.  They are
 * then ended by failure through AwaEndAttempts (closure outcome
 * 'deadline_expired' or 'rescued', error appended to the history):
 * retryable with backoff while attempts remain, else failed or
 * dead-lettered (awa v22 always retried, hazard O11).  A worker that still
 * runs such an attempt finds its (job_id, run_lease) stale afterwards.
 *
 * Last, attempt_state rows whose attempt is no longer open and that have
 * not been touched for the staleness window are swept (bounded, SKIP
 * LOCKED): a heartbeat that raced with a completion could leave one.
 *
 * Safe to run from a maintenance tick concurrently with everything else:
 * receipts being completed, failed or heartbeated right now are locked and
 * skipped, and nothing here waits on a row lock.
 *
 * Copyright (c) 2026, awa_queue developers
 *
 * IDENTIFICATION
 *	  src/awa_rescue.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/builtins.h"

#include "awa_queue.h"

#define AWA_RESCUE_MAX_JOBS		100000

/* errors appended to the history of rescued attempts */
#define DEADLINE_ERROR	"hard deadline exceeded"
#define STALE_ERROR		"heartbeat stale: the worker stopped reporting"

/*
 * The expired open receipts ($1 now, $2 staleness in seconds, $3 limit):
 * (job_id, run_lease, deadline passed?).
 */
static AwaPlan rescue_pick_plan = {
	.sql = "SELECT c.job_id, c.run_lease, c.deadline_at <= $1 AS deadline_passed "
	"FROM awa.lease_claims AS c LEFT JOIN awa.attempt_state AS a "
	"ON a.job_id = c.job_id AND a.run_lease = c.run_lease "
	"WHERE (c.deadline_at <= $1 OR COALESCE(a.heartbeat_at, c.claimed_at) < "
	"$1 - pg_catalog.make_interval(secs => $2)) "
	"AND NOT EXISTS (SELECT 1 FROM awa.lease_claim_closures AS x WHERE x.job_id = c.job_id "
	"AND x.run_lease = c.run_lease AND x.claim_slot = c.claim_slot) "
	"ORDER BY LEAST(c.deadline_at, COALESCE(a.heartbeat_at, c.claimed_at)), c.job_id "
	"LIMIT $3 FOR UPDATE OF c SKIP LOCKED",
	.nargs = 3,
	.argtypes = {TIMESTAMPTZOID, FLOAT8OID, INT4OID}
};

/* attempt_state rows of attempts that are no longer open */
static AwaPlan orphan_sweep_plan = {
	.sql = "DELETE FROM awa.attempt_state AS a USING ("
	"SELECT s.job_id, s.run_lease FROM awa.attempt_state AS s "
	"WHERE s.updated_at < $1 - pg_catalog.make_interval(secs => $2) "
	"AND NOT EXISTS (SELECT 1 FROM awa.lease_claims AS c WHERE c.job_id = s.job_id "
	"AND c.run_lease = s.run_lease AND NOT EXISTS (SELECT 1 FROM awa.lease_claim_closures AS x "
	"WHERE x.job_id = c.job_id AND x.run_lease = c.run_lease AND x.claim_slot = c.claim_slot)) "
	"ORDER BY s.job_id, s.run_lease LIMIT $3 FOR UPDATE OF s SKIP LOCKED) AS o "
	"WHERE a.job_id = o.job_id AND a.run_lease = o.run_lease",
	.nargs = 3,
	.argtypes = {TIMESTAMPTZOID, FLOAT8OID, INT4OID}
};

/*
 * awa_rescue_expired
 *		awa.rescue_expired(max_jobs int DEFAULT 500) RETURNS int
 *
 * Ends up to max_jobs expired running attempts by failure (see the file
 * header).  Returns the number of attempts rescued.
 */
PG_FUNCTION_INFO_V1(awa_rescue_expired);
Datum
awa_rescue_expired(PG_FUNCTION_ARGS)
{
	int32		max_jobs;
	TimestampTz now = AwaNow();
	Datum		values[3];
	AwaAttemptReq *reqs;
	text	   *deadline_error;
	text	   *stale_error;
	int			n;
	int			i;
	int			rescued = 0;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("max_jobs must not be null")));
	max_jobs = PG_GETARG_INT32(0);
	if (max_jobs < 1 || max_jobs > AWA_RESCUE_MAX_JOBS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_jobs must be between 1 and %d", AWA_RESCUE_MAX_JOBS),
				 errdetail("The value given was %d.", max_jobs)));

	deadline_error = cstring_to_text(DEADLINE_ERROR);
	stale_error = cstring_to_text(STALE_ERROR);
	values[0] = TimestampTzGetDatum(now);
	values[1] = Float8GetDatum((double) awa_heartbeat_staleness_secs);
	values[2] = Int32GetDatum(max_jobs);

	AwaSpiConnect();
	n = AwaPlanExec(&rescue_pick_plan, values, NULL, false, 0, SPI_OK_SELECT);
	if (n > 0)
	{
		reqs = palloc0(sizeof(AwaAttemptReq) * n);
		for (i = 0; i < n; i++)
		{
			bool		isnull;
			bool		deadline = DatumGetBool(AwaSpiGetDatum(i, 3, &isnull)) && !isnull;

			reqs[i].job_id = AwaSpiGetInt64(i, 1, 0);
			reqs[i].run_lease = AwaSpiGetInt64(i, 2, 0);
			reqs[i].end = AWA_END_BY_FAILURE;
			reqs[i].outcome = deadline ? "deadline_expired" : "rescued";
			reqs[i].error = deadline ? deadline_error : stale_error;
		}
		rescued = AwaEndAttempts(reqs, n, now);
	}
	AwaPlanExec(&orphan_sweep_plan, values, NULL, false, 0, SPI_OK_DELETE);
	AwaSpiFinish();
	PG_RETURN_INT32(rescued);
}
