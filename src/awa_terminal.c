/*-------------------------------------------------------------------------
 *
 * awa_terminal.c
 *	  Terminal removal: the shared "remove terminal rows, decrement their
 *	  counters, delete their retained bodies, move their unique claims"
 *	  step, and awa.retry_job().
 *
 * Every path that removes done_entries rows (retry_job, the DLQ moves,
 * discard_failed_by_kind, the compat DELETE) runs one statement built
 * from AWA_TERMINAL_REMOVE (awa_queue.h): it locks the selected done rows
 * in key order, deletes them, decrements the live terminal counters of
 * their groups through AWA_COUNTER_UPSERT_FROM in the same statement
 * (rows grouped and sorted by (ready_slot, queue, priority,
 * enqueue_shard)), deletes the retained ready bodies of the removed
 * attempts and returns the removed jobs hydrated.  AwaRunRemoval then
 * moves their unique claims to the state the caller takes them to, keys
 * sorted.
 *
 * Lock order (SPEC 5.7): done rows, counter rows, ready rows; then, for
 * retry_job, enqueue heads (AwaInsertReadyRows) and unique claims.
 *
 * Copyright (c) 2026, awa_queue developers
 *
 * IDENTIFICATION
 *	  src/awa_terminal.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "awa_queue.h"

/* the newest failed or cancelled terminal row of one job */
static AwaPlan retry_remove_plan = {
	.sql = AWA_TERMINAL_REMOVE(AWA_DONE_ROW_OF_JOB("$1") " "
							   "AND e.state OPERATOR(pg_catalog.=) ANY "
							   "('{failed,cancelled}'::awa.job_state[])"),
	.nargs = 1,
	.argtypes = {INT8OID}
};

/*
 * AwaJobRowsFromSpi
 *		Read the rows of the last SPI result, in the column order documented
 *		at AWA_TERMINAL_REMOVE, into a palloc'd AwaJobRow array (by-reference
 *		values copied out of SPI memory).  AwaJobRow.state is the state bit
 *		of the row's awa.job_state.  Returns the number of rows.
 */
int
AwaJobRowsFromSpi(AwaJobRow **rows)
{
	int			n = (int) SPI_processed;
	AwaJobRow  *out;
	int			i;

	out = palloc0(sizeof(AwaJobRow) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		AwaJobRow  *r = &out[i];
		bool		isnull;
		Datum		d;

		r->job_id = AwaSpiGetInt64(i, 1, 0);
		r->kind = DatumGetTextPP(AwaSpiCopyDatum(i, 2, &isnull));
		r->queue = DatumGetTextPP(AwaSpiCopyDatum(i, 3, &isnull));
		r->priority = (int16) AwaSpiGetInt64(i, 4, 2);
		r->args = DatumGetJsonbP(AwaSpiCopyDatum(i, 5, &isnull));
		r->max_attempts = (int16) AwaSpiGetInt64(i, 6, 25);
		r->attempt = (int16) AwaSpiGetInt64(i, 7, 0);
		r->run_lease = AwaSpiGetInt64(i, 8, 0);
		r->run_at = DatumGetTimestampTz(AwaSpiGetDatum(i, 9, &isnull));
		r->created_at = DatumGetTimestampTz(AwaSpiGetDatum(i, 10, &isnull));
		d = AwaSpiGetDatum(i, 11, &isnull);
		r->has_attempted_at = !isnull;
		r->attempted_at = isnull ? 0 : DatumGetTimestampTz(d);
		d = AwaSpiGetDatum(i, 12, &isnull);
		r->has_finalized_at = !isnull;
		r->finalized_at = isnull ? 0 : DatumGetTimestampTz(d);
		d = AwaSpiCopyDatum(i, 13, &isnull);
		r->unique_key = isnull ? NULL : DatumGetByteaPP(d);
		d = AwaSpiGetDatum(i, 14, &isnull);
		r->unique_mask = isnull ? AWA_UNIQUE_DEFAULT_MASK : AwaMaskFromDatum(d);
		d = AwaSpiCopyDatum(i, 15, &isnull);
		r->payload = isnull ? NULL : DatumGetJsonbP(d);
		r->state = (int) AwaSpiGetInt64(i, 16, AWA_STATE_NONE);
		r->ordering_key = NULL;
	}
	*rows = out;
	return n;
}

/*
 * AwaUniqueSyncRows
 *		Move the unique claims of n removed jobs from their state
 *		(rows[i].state) to "to_state" (AWA_STATE_NONE: the job is gone).
 *		Keys are sorted by AwaUniqueSync; a key another job holds raises
 *		23505.
 */
void
AwaUniqueSyncRows(AwaJobRow *rows, int n, int to_state)
{
	bytea	  **keys;
	uint8	   *masks;
	int64	   *ids;
	int		   *from;
	int		   *to;
	int			nkeys = 0;
	int			i;

	for (i = 0; i < n; i++)
		if (rows[i].unique_key != NULL)
			nkeys++;
	if (nkeys == 0)
		return;
	keys = palloc(sizeof(bytea *) * n);
	masks = palloc(sizeof(uint8) * n);
	ids = palloc(sizeof(int64) * n);
	from = palloc(sizeof(int) * n);
	to = palloc(sizeof(int) * n);
	for (i = 0; i < n; i++)
	{
		keys[i] = rows[i].unique_key;
		masks[i] = rows[i].unique_mask;
		ids[i] = rows[i].job_id;
		from[i] = rows[i].state;
		to[i] = to_state;
	}
	AwaUniqueSync(n, keys, masks, ids, from, to);
}

/*
 * AwaRunRemoval
 *		Run a removal statement built from AWA_TERMINAL_REMOVE,
 *		AWA_TERMINAL_TO_DLQ or AWA_DLQ_REMOVE and move the unique claims of
 *		the removed jobs to "to_state".
 *
 * The statement itself locks the selected rows in key order and deletes
 * them; for terminal rows it also decrements their counter groups and
 * deletes their retained ready bodies (and, for a DLQ move, inserts the
 * DLQ rows).  On return *rows holds the removed jobs, hydrated, with
 * .state set to the state bit they had (failed for DLQ rows).  With to_state AWA_UNIQUE_LATER the
 * caller syncs the unique claims itself (retry_job must write the ready
 * row first: enqueue heads are locked before unique claims, SPEC 5).
 * Returns the number of jobs removed.
 */
int
AwaRunRemoval(AwaPlan *plan, Datum *values, const char *nulls,
				  int to_state, AwaJobRow **rows)
{
	int			n;

	AwaPlanExec(plan, values, nulls, false, 0, SPI_OK_SELECT);
	n = AwaJobRowsFromSpi(rows);
	if (to_state != AWA_UNIQUE_LATER)
		AwaUniqueSyncRows(*rows, n, to_state);
	return n;
}

/*
 * AwaPayloadForRetry
 *		The payload a job takes back to the queue after a terminal state or
 *		the DLQ: metadata, tags and the errors history kept, progress of the
 *		old attempt dropped.  NULL when nothing is left (compact form).
 */
Jsonb *
AwaPayloadForRetry(Jsonb *payload)
{
	Datum		d;

	if (payload == NULL)
		return NULL;
	d = DirectFunctionCall2(jsonb_delete, JsonbPGetDatum(payload),
							CStringGetTextDatum("progress"));
	payload = DatumGetJsonbP(d);
	if (JB_ROOT_COUNT(payload) == 0)
		return NULL;
	return payload;
}

/*
 * awa_retry_job
 *		awa.retry_job(job_id bigint) RETURNS boolean
 *
 * Takes a failed or cancelled terminal job back to available: removes its
 * terminal row (counter decremented, retained body deleted, in one
 * statement), writes a new ready row through AwaInsertReadyRows (new
 * lane_seq, attempt 0, run_at now, errors history kept), re-takes its
 * unique claim (a key now held by another job raises 23505 and the whole
 * call is undone) and notifies the queue.  run_lease is kept: the next
 * claim adds one, so an old (job_id, run_lease) never matches the new
 * attempt.  Completed jobs are not retryable.
 *
 * Locks: the done row (FOR UPDATE, waits for a concurrent DLQ move or
 * delete of the same row and then finds nothing), its counter row, the
 * lane's enqueue head, the unique claim.  Returns true when the job was
 * retried, false when it has no failed or cancelled terminal row.
 */
PG_FUNCTION_INFO_V1(awa_retry_job);
Datum
awa_retry_job(PG_FUNCTION_ARGS)
{
	Datum		arg;
	AwaJobRow  *rows;
	int			n;
	int			i;

	AwaRequireNotNull(PG_ARGISNULL(0), "job_id");
	arg = PG_GETARG_DATUM(0);

	AwaSpiConnect();
	n = AwaRunRemoval(&retry_remove_plan, &arg, NULL,
						  AWA_UNIQUE_LATER, &rows);
	if (n > 0)
	{
		TimestampTz now = AwaNow();

		for (i = 0; i < n; i++)
		{
			rows[i].attempt = 0;
			rows[i].run_at = now;
			rows[i].has_attempted_at = false;
			rows[i].has_finalized_at = false;
			rows[i].payload = AwaPayloadForRetry(rows[i].payload);
		}
		AwaInsertReadyRows(rows, n);
		/* terminal state -> available: the claim is re-taken if the mask
		 * names available but not the terminal state */
		AwaUniqueSyncRows(rows, n, AWA_STATE_BIT_AVAILABLE);
		AwaNotifyQueue(rows[0].queue);
	}
	AwaSpiFinish();
	PG_RETURN_BOOL(n > 0);
}
