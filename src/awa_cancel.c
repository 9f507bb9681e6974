/*-------------------------------------------------------------------------
 *
 * awa_cancel.c
 *	  Operators: awa.cancel(), cancel a job in any non-terminal state.
 *
 * The job is first located (one statement, fresh snapshot): an open
 * receipt (running), a ready row at or ahead of its lane's claim head
 * (available), or a deferred row (scheduled, retryable).  Each branch then
 * takes the lock that decides it and writes a cancelled terminal row with
 * the live counter kept exact and the unique claim synced:
 *
 *	available: AwaRemoveUnclaimed (awa_unclaimed.c, shared with the
 *		compat delete): the lane's claim head FOR UPDATE (waits for a
 *		claimer that holds it; claimers only ever SKIP LOCKED, so they
 *		never wait for us), re-check lane_seq >= claim_seq, delete the
 *		ready row and, when it was the head row, move claim_seq to the
 *		lane's next ready row or next_seq (no phantom backlog); then write
 *		a wide done row with the same ready key;
 *	scheduled/retryable: delete the deferred row (waits for a promotion
 *		that holds it), write a wide synthetic done row in the current
 *		queue slot, shard 0, lane_seq = -job_id;
 *	running: AwaEndAttempts with end cancelled (receipt FOR UPDATE,
 *		closure ON CONFLICT DO NOTHING, narrow done row), then
 *		pg_notify('awa:cancel', {"job_id", "run_lease"}).
 *
 * When the deciding lock shows that the job moved on meanwhile (claimed,
 * promoted, finished by its worker), the job is located again; a job that
 * keeps moving for AWA_CANCEL_TRIES rounds is an error (55P03).
 *
 * Copyright (c) 2026, awa_queue developers
 *
 * IDENTIFICATION
 *	  src/awa_cancel.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/async.h"
#include "fmgr.h"
#include "utils/builtins.h"

#include "awa_queue.h"

#define AWA_CANCEL_TRIES 8

/* where a job is, as the locate statement reports it */
#define WHERE_RUNNING	1
#define WHERE_READY		2
#define WHERE_DEFERRED	3

/*
 * Locate job $1 among the non-terminal states: (where, run_lease, queue,
 * priority, enqueue_shard, lane_seq, ready_slot).
 */
static AwaPlan locate_plan = {
	.sql = "SELECT 1 AS place, c.run_lease, c.queue, c.priority, c.enqueue_shard, "
	"c.lane_seq, c.ready_slot FROM awa.lease_claims AS c WHERE c.job_id = $1 "
	"AND " AWA_RECEIPT_IS_OPEN("c") " "
	"UNION ALL SELECT 2, r.run_lease, r.queue, r.priority, r.enqueue_shard, r.lane_seq, "
	"r.ready_slot FROM awa.ready_entries AS r JOIN awa.queue_claim_heads AS h "
	"ON h.queue = r.queue AND h.priority = r.priority AND h.enqueue_shard = r.enqueue_shard "
	"WHERE r.job_id = $1 AND r.lane_seq >= h.claim_seq "
	"UNION ALL SELECT 3, d.run_lease, d.queue, d.priority, 0::pg_catalog.int2, 0::pg_catalog.int8, "
	"0 FROM awa.deferred_jobs AS d WHERE d.job_id = $1 "
	"ORDER BY 1, 2 DESC LIMIT 1",
	.nargs = 1,
	.argtypes = {INT8OID}
};

/*
 * Cancel the unclaimed ready row of job $6 at key ($1, $2, $3, $4, $5)
 * through AwaRemoveUnclaimed (claim head locked, row deleted, head moved
 * when it was the head row), write the wide cancelled row with the same
 * key and count it.  Returns (unique_key, unique_states) of the job.
 */
static AwaPlan cancel_ready_plan = {
	.sql = "WITH " AWA_UNCLAIMED_REMOVE_CTES ", "
	"fin AS (SELECT d.ready_slot, d.ready_generation, d.job_id, d.kind, d.queue, "
	"'cancelled'::awa.job_state AS state, d.priority, d.attempt, d.run_lease, d.lane_seq, "
	"d.enqueue_shard, d.attempted_at, $7::pg_catalog.timestamptz AS finalized_at, d.payload, "
	"d.args, d.max_attempts, d.run_at, d.created_at, d.unique_key, d.unique_states FROM del AS d), "
	"done AS (" AWA_DONE_WIDE_INSERT_FROM("fin") "), "
	"cnt AS (" AWA_COUNTER_UPSERT_FROM("(SELECT ready_slot, queue, priority, enqueue_shard, "
									   "1 AS delta FROM done)") ") "
	"SELECT f.unique_key, f.unique_states FROM fin AS f",
	.nargs = 7,
	.argtypes = {TEXTOID, INT2OID, INT2OID, INT8OID, INT4OID, INT8OID, TIMESTAMPTZOID}
};

/*
 * Cancel the deferred job $1: delete its row, write a wide synthetic
 * cancelled row in the current queue slot (shard 0, lane_seq = -job_id)
 * and count it.  Returns (unique_key, unique_states, old state).
 */
static AwaPlan cancel_deferred_plan = {
	.sql = "WITH del AS (DELETE FROM awa.deferred_jobs WHERE job_id = $1 RETURNING *), "
	"fin AS (SELECT rc.slot AS ready_slot, rc.generation AS ready_generation, d.job_id, "
	"d.kind, d.queue, 'cancelled'::awa.job_state AS state, d.priority, d.attempt, d.run_lease, "
	"-d.job_id AS lane_seq, 0::pg_catalog.int2 AS enqueue_shard, d.attempted_at, "
	"$2::pg_catalog.timestamptz AS finalized_at, d.payload, d.args, d.max_attempts, d.run_at, "
	"d.created_at, d.unique_key, d.unique_states, d.state AS old_state "
	"FROM del AS d CROSS JOIN (" AWA_QUEUE_RING_CURSOR_SQL ") AS rc), "
	"done AS (" AWA_DONE_WIDE_INSERT_FROM("fin") "), "
	"cnt AS (" AWA_COUNTER_UPSERT_FROM("(SELECT ready_slot, queue, priority, enqueue_shard, "
									   "1 AS delta FROM done)") ") "
	"SELECT f.unique_key, f.unique_states, f.old_state::pg_catalog.text FROM fin AS f",
	.nargs = 2,
	.argtypes = {INT8OID, TIMESTAMPTZOID}
};

/*
 * SyncCancelledUnique
 *		Release (or take) the unique claim of a job cancelled from state
 *		"from", reading (unique_key, unique_states) from columns 1 and 2 of
 *		the last result row 0.
 */
static void
SyncCancelledUnique(int64 job_id, int from)
{
	bool		isnull;
	Datum		key = AwaSpiGetDatum(0, 1, &isnull);
	bytea	   *keys[1];
	uint8		masks[1];
	int64		ids[1];
	int			froms[1];
	int			tos[1];
	Datum		mask;

	if (isnull)
		return;
	mask = AwaSpiGetDatum(0, 2, &isnull);
	keys[0] = DatumGetByteaPP(key);
	masks[0] = isnull ? AWA_UNIQUE_DEFAULT_MASK : AwaMaskFromDatum(mask);
	ids[0] = job_id;
	froms[0] = from;
	tos[0] = AWA_STATE_BIT_CANCELLED;
	AwaUniqueSync(1, keys, masks, ids, froms, tos);
}

/*
 * CancelReady
 *		The available branch, for the located row (columns 3..7 of the last
 *		result: queue, priority, enqueue_shard, lane_seq, ready_slot).
 *		Returns false when the row was claimed (or removed) before the claim
 *		head lock was granted: the caller locates the job again.
 */
static bool
CancelReady(int64 job_id, TimestampTz now)
{
	Datum		values[7];
	bool		isnull;

	/* tuple tables stay valid until SPI_finish: no copies needed */
	values[0] = AwaSpiGetDatum(0, 3, &isnull);
	values[1] = Int16GetDatum((int16) AwaSpiGetInt64(0, 4, 0));
	values[2] = Int16GetDatum((int16) AwaSpiGetInt64(0, 5, 0));
	values[3] = Int64GetDatum(AwaSpiGetInt64(0, 6, 0));
	values[4] = Int32GetDatum((int32) AwaSpiGetInt64(0, 7, 0));
	values[5] = Int64GetDatum(job_id);
	values[6] = TimestampTzGetDatum(now);

	/* the lane's claim head decides: a claimer holding it finishes first */
	if (AwaRemoveUnclaimed(&cancel_ready_plan, values, NULL) != 1)
		return false;
	SyncCancelledUnique(job_id, AWA_STATE_BIT_AVAILABLE);
	return true;
}

/*
 * CancelDeferred
 *		The scheduled/retryable branch.  Returns false when the deferred row
 *		was gone once its lock was granted (promoted meanwhile).
 */
static bool
CancelDeferred(int64 job_id, TimestampTz now)
{
	Datum		values[2];
	bool		isnull;
	char	   *old_state;

	values[0] = Int64GetDatum(job_id);
	values[1] = TimestampTzGetDatum(now);
	if (AwaPlanExec(&cancel_deferred_plan, values, NULL, false, 0,
					SPI_OK_SELECT) != 1)
		return false;
	old_state = TextDatumGetCString(AwaSpiGetDatum(0, 3, &isnull));
	SyncCancelledUnique(job_id, strcmp(old_state, "scheduled") == 0 ?
						AWA_STATE_BIT_SCHEDULED : AWA_STATE_BIT_RETRYABLE);
	return true;
}

/*
 * CancelRunning
 *		The running branch: end the open attempt (job_id, run_lease) as
 *		cancelled and tell its worker.  Returns false when another writer
 *		closed the receipt first.
 */
static bool
CancelRunning(int64 job_id, int64 run_lease, TimestampTz now)
{
	AwaAttemptReq req;

	memset(&req, 0, sizeof(req));
	req.job_id = job_id;
	req.run_lease = run_lease;
	req.end = AWA_END_CANCELLED;
	AwaEndAttempts(&req, 1, now);
	if (!req.taken)
		return false;
	Async_Notify(AWA_CANCEL_CHANNEL,
				 psprintf("{\"job_id\": " INT64_FORMAT ", \"run_lease\": " INT64_FORMAT "}",
						  job_id, run_lease));
	return true;
}

/*
 * awa_cancel
 *		awa.cancel(job_id bigint) RETURNS boolean
 *
 * Cancels a job in any non-terminal state (available, scheduled,
 * retryable, running) and returns true; returns false, writing nothing,
 * for an unknown job or one already terminal (completed, failed,
 * cancelled, dead-lettered).  See the file header for the locks of each
 * branch.
 */
PG_FUNCTION_INFO_V1(awa_cancel);
Datum
awa_cancel(PG_FUNCTION_ARGS)
{
	int64		job_id;
	TimestampTz now = AwaNow();
	bool		cancelled = false;
	bool		settled = false;
	int			try;

	AwaRequireNotNull(PG_ARGISNULL(0), "job_id");
	job_id = PG_GETARG_INT64(0);

	AwaSpiConnect();
	for (try = 0; try < AWA_CANCEL_TRIES && !settled; try++)
	{
		Datum		arg = Int64GetDatum(job_id);

		if (AwaPlanExec(&locate_plan, &arg, NULL, false, 1, SPI_OK_SELECT) == 0)
		{
			settled = true;		/* unknown or terminal */
			break;
		}
		switch ((int) AwaSpiGetInt64(0, 1, 0))
		{
			case WHERE_RUNNING:
				cancelled = CancelRunning(job_id, AwaSpiGetInt64(0, 2, 0), now);
				break;
			case WHERE_READY:
				cancelled = CancelReady(job_id, now);
				break;
			case WHERE_DEFERRED:
				cancelled = CancelDeferred(job_id, now);
				break;
			default:
				elog(ERROR, "awa_queue: unexpected job location");
		}
		settled = cancelled;
	}
	AwaSpiFinish();
	if (!settled)
		ereport(ERROR,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("job %lld changed state while it was being cancelled",
						(long long) job_id),
				 errdetail("It moved on %d times in a row.", AWA_CANCEL_TRIES),
				 errhint("Try again.")));
	PG_RETURN_BOOL(cancelled);
}
