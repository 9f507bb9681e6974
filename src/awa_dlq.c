/*-------------------------------------------------------------------------
 *
 * awa_dlq.c
 *	  The dead-letter queue: moving failed terminal jobs into it (single
 *	  and bulk), discarding failed jobs by kind, retrying and purging DLQ
 *	  rows.
 *
 * dlq_entries is written through AWA_DLQ_INSERT_FROM (shared with the
 * failure paths) and AWA_DLQ_REMOVE only.  Moves and discards take their
 * terminal rows through AWA_TERMINAL_REMOVE_CTES (awa_queue.h), so the
 * live terminal counters are decremented in the same statement that
 * deletes the done rows; a move inserts the DLQ rows in that statement
 * too (AWA_TERMINAL_TO_DLQ).  Every
 * path that removes a DLQ row releases or moves its unique claim (awa v22
 * leaked the claims of purged rows, hazard O7).  DLQ retry keeps the
 * job's run_lease (hazard O3).
 *
 * Lock order: done rows, counters, ready rows, DLQ rows (sorted by
 * job_id), enqueue heads, unique claims (sorted by key).
 *
 * Copyright (c) 2026, awa_queue developers
 *
 * IDENTIFICATION
 *	  src/awa_dlq.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "awa_queue.h"

#define FAILED_STATE "'failed'::awa.job_state"

static AwaPlan move_plan = {
	.sql = AWA_TERMINAL_TO_DLQ(AWA_DONE_ROW_OF_JOB("$1") " "
							   "AND e.state OPERATOR(pg_catalog.=) " FAILED_STATE, "$2"),
	.nargs = 2,
	.argtypes = {INT8OID, TEXTOID}
};

static AwaPlan bulk_move_plan = {
	.sql = AWA_TERMINAL_TO_DLQ("e.state OPERATOR(pg_catalog.=) " FAILED_STATE " "
							   "AND ($1::pg_catalog.text IS NULL OR e.kind OPERATOR(pg_catalog.=) $1) "
							   "AND ($2::pg_catalog.text IS NULL OR e.queue OPERATOR(pg_catalog.=) $2)",
							   "$3"),
	.nargs = 3,
	.argtypes = {TEXTOID, TEXTOID, TEXTOID}
};

static AwaPlan discard_remove_plan = {
	.sql = AWA_TERMINAL_REMOVE("e.state OPERATOR(pg_catalog.=) " FAILED_STATE " "
							   "AND e.kind OPERATOR(pg_catalog.=) $1"),
	.nargs = 1,
	.argtypes = {TEXTOID}
};

static AwaPlan discard_dlq_plan = {
	.sql = AWA_DLQ_REMOVE("q.kind OPERATOR(pg_catalog.=) $1"),
	.nargs = 1,
	.argtypes = {TEXTOID}
};

static AwaPlan retry_dlq_plan = {
	.sql = AWA_DLQ_REMOVE("q.job_id OPERATOR(pg_catalog.=) $1"),
	.nargs = 1,
	.argtypes = {INT8OID}
};

static AwaPlan purge_dlq_plan = {
	.sql = AWA_DLQ_REMOVE("($1::pg_catalog.text IS NULL OR q.queue OPERATOR(pg_catalog.=) $1) "
						  "AND ($2::pg_catalog.text IS NULL OR q.kind OPERATOR(pg_catalog.=) $2) "
						  "AND ($3::pg_catalog.interval IS NULL OR q.dlq_at OPERATOR(pg_catalog.<) "
						  "(pg_catalog.now() OPERATOR(pg_catalog.-) $3))"),
	.nargs = 3,
	.argtypes = {TEXTOID, TEXTOID, INTERVALOID}
};

/*
 * RequireReason
 *		The DLQ reason: not NULL (22004), not empty (22023).
 */
static text *
RequireReason(FunctionCallInfo fcinfo, int argno)
{
	text	   *reason;

	AwaRequireNotNull(PG_ARGISNULL(argno), "reason");
	reason = PG_GETARG_TEXT_PP(argno);
	if (VARSIZE_ANY_EXHDR(reason) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("reason must not be empty")));
	return reason;
}

/*
 * RequireJobId
 *		A job id argument must not be NULL (22004).
 */
static Datum
RequireJobId(FunctionCallInfo fcinfo, int argno)
{
	AwaRequireNotNull(PG_ARGISNULL(argno), "job_id");
	return PG_GETARG_DATUM(argno);
}

/*
 * OptionalName
 *		A filter or override that may be NULL: validated when given, as a
 *		datum with its null flag.
 */
static Datum
OptionalName(FunctionCallInfo fcinfo, int argno, const char *what, char *null)
{
	if (PG_ARGISNULL(argno))
	{
		*null = 'n';
		return (Datum) 0;
	}
	AwaValidateName(PG_GETARG_TEXT_PP(argno), what);
	*null = ' ';
	return PG_GETARG_DATUM(argno);
}

/*
 * awa_move_failed_to_dlq
 *		awa.move_failed_to_dlq(job_id bigint, reason text) RETURNS boolean
 *
 * Moves the failed terminal row of one job into the DLQ in one statement
 * (AWA_TERMINAL_TO_DLQ): the done row is removed with its counter
 * decrement and retained body, the hydrated job inserted into
 * dlq_entries.  Its unique claim stays (failed to failed).  Locks the done
 * row FOR UPDATE (a concurrent retry_job or delete of the same job waits,
 * then finds nothing).  Returns true when the job was moved, false when it
 * has no failed terminal row.
 */
PG_FUNCTION_INFO_V1(awa_move_failed_to_dlq);
Datum
awa_move_failed_to_dlq(PG_FUNCTION_ARGS)
{
	Datum		values[2];
	AwaJobRow  *rows;
	int			n;

	values[0] = RequireJobId(fcinfo, 0);
	values[1] = PointerGetDatum(RequireReason(fcinfo, 1));
	AwaSpiConnect();
	n = AwaRunRemoval(&move_plan, values, NULL,
						  AWA_STATE_BIT_FAILED, &rows);
	AwaSpiFinish();
	PG_RETURN_BOOL(n > 0);
}

/*
 * awa_bulk_move_failed_to_dlq
 *		awa.bulk_move_failed_to_dlq(kind text DEFAULT NULL, queue text
 *		DEFAULT NULL, reason text DEFAULT 'operator') RETURNS bigint
 *
 * Set-based move of every failed terminal row matching the optional kind
 * and queue filters, in one statement: rows locked in key order, counters
 * decremented per group, bodies deleted, DLQ rows inserted.
 * Returns the number of jobs moved.
 */
PG_FUNCTION_INFO_V1(awa_bulk_move_failed_to_dlq);
Datum
awa_bulk_move_failed_to_dlq(PG_FUNCTION_ARGS)
{
	Datum		values[3];
	char		nulls[3];
	AwaJobRow  *rows;
	int			n;

	values[0] = OptionalName(fcinfo, 0, "kind", &nulls[0]);
	values[1] = OptionalName(fcinfo, 1, "queue", &nulls[1]);
	values[2] = PointerGetDatum(RequireReason(fcinfo, 2));
	nulls[2] = ' ';

	AwaSpiConnect();
	n = AwaRunRemoval(&bulk_move_plan, values, nulls,
						  AWA_STATE_BIT_FAILED, &rows);
	AwaSpiFinish();
	PG_RETURN_INT64((int64) n);
}

/*
 * awa_discard_failed_by_kind
 *		awa.discard_failed_by_kind(kind text) RETURNS bigint
 *
 * Removes every failed terminal row of the kind (counters decremented,
 * bodies deleted) and every DLQ row of the kind, and releases their
 * unique claims.  Done rows are handled before DLQ rows (SPEC 5.7).
 * Returns the number of jobs removed from both.
 */
PG_FUNCTION_INFO_V1(awa_discard_failed_by_kind);
Datum
awa_discard_failed_by_kind(PG_FUNCTION_ARGS)
{
	Datum		kind;
	AwaJobRow  *rows;
	int64		n;

	AwaRequireNotNull(PG_ARGISNULL(0), "kind");
	AwaValidateName(PG_GETARG_TEXT_PP(0), "kind");
	kind = PG_GETARG_DATUM(0);

	AwaSpiConnect();
	n = AwaRunRemoval(&discard_remove_plan, &kind, NULL,
						  AWA_STATE_NONE, &rows);
	n += AwaRunRemoval(&discard_dlq_plan, &kind, NULL, AWA_STATE_NONE, &rows);
	AwaSpiFinish();
	PG_RETURN_INT64(n);
}

/*
 * awa_retry_from_dlq
 *		awa.retry_from_dlq(job_id bigint, queue text DEFAULT NULL, priority
 *		smallint DEFAULT NULL, run_at timestamptz DEFAULT NULL) RETURNS
 *		boolean
 *
 * Takes a job out of the DLQ: available now (new ready row, notify), or
 * scheduled when run_at is in the future (deferred row), optionally in
 * another queue or at another priority.  attempt restarts at 0, run_lease
 * is kept, the errors history is kept and progress dropped.  The unique
 * claim moves from failed to the new state; a key held by another job
 * raises 23505 and the DLQ row stays.  Returns false when the job is not
 * in the DLQ.
 */
PG_FUNCTION_INFO_V1(awa_retry_from_dlq);
Datum
awa_retry_from_dlq(PG_FUNCTION_ARGS)
{
	Datum		id = RequireJobId(fcinfo, 0);
	char		qnull;
	Datum		queue = OptionalName(fcinfo, 1, "queue", &qnull);
	AwaJobRow  *rows;
	TimestampTz now;
	int			to_state;
	int			n;

	if (!PG_ARGISNULL(2))
		AwaValidatePriority(PG_GETARG_INT16(2));

	AwaSpiConnect();
	n = AwaRunRemoval(&retry_dlq_plan, &id, NULL, AWA_UNIQUE_LATER, &rows);
	if (n == 1)
	{
		AwaJobRow  *r = &rows[0];

		now = AwaNow();
		if (qnull == ' ')
			r->queue = DatumGetTextPP(queue);
		if (!PG_ARGISNULL(2))
			r->priority = PG_GETARG_INT16(2);
		r->attempt = 0;
		r->has_attempted_at = false;
		r->has_finalized_at = false;
		r->payload = AwaPayloadForRetry(r->payload);
		if (!PG_ARGISNULL(3) && PG_GETARG_TIMESTAMPTZ(3) > now)
		{
			to_state = AWA_STATE_BIT_SCHEDULED;
			r->run_at = PG_GETARG_TIMESTAMPTZ(3);
			r->state = to_state;
			AwaInsertDeferredRows(r, 1);
			r->state = AWA_STATE_BIT_FAILED;
		}
		else
		{
			to_state = AWA_STATE_BIT_AVAILABLE;
			r->run_at = now;
			AwaInsertReadyRows(r, 1);
		}
		AwaUniqueSyncRows(r, 1, to_state);
		if (to_state == AWA_STATE_BIT_AVAILABLE)
			AwaNotifyQueue(r->queue);
	}
	AwaSpiFinish();
	PG_RETURN_BOOL(n > 0);
}

/*
 * awa_purge_dlq
 *		awa.purge_dlq(queue text DEFAULT NULL, kind text DEFAULT NULL,
 *		older_than interval DEFAULT NULL) RETURNS bigint
 *
 * Deletes the DLQ rows matching every given filter (all rows when none
 * is given; older_than compares dlq_at with now() - older_than) and
 * releases their unique claims.  Rows are locked in job_id order.
 * Returns the number of rows purged.
 */
PG_FUNCTION_INFO_V1(awa_purge_dlq);
Datum
awa_purge_dlq(PG_FUNCTION_ARGS)
{
	Datum		values[3];
	char		nulls[3];
	AwaJobRow  *rows;
	int			n;

	values[0] = OptionalName(fcinfo, 0, "queue", &nulls[0]);
	values[1] = OptionalName(fcinfo, 1, "kind", &nulls[1]);
	nulls[2] = PG_ARGISNULL(2) ? 'n' : ' ';
	values[2] = PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2);
	if (!PG_ARGISNULL(2))
	{
		Interval   *iv = PG_GETARG_INTERVAL_P(2);

		if (iv->month < 0 || iv->day < 0 || iv->time < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("older_than must not be negative")));
	}

	AwaSpiConnect();
	n = AwaRunRemoval(&purge_dlq_plan, values, nulls, AWA_STATE_NONE, &rows);
	AwaSpiFinish();
	PG_RETURN_INT64((int64) n);
}
