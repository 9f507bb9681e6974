/*-------------------------------------------------------------------------
 *
 * awa_dlq.c
 *	  The dead-letter queue: moving failed terminal jobs into it (single
 *	  and bulk), discarding failed jobs by kind, retrying and purging DLQ
 *	  rows.
 *
 * dlq_entries is written through AwaDlqInsertRows and AWA_DLQ_REMOVE
 * only.  Moves and discards take their terminal rows through
 * AwaTerminalRemove (awa_terminal.c), so the live terminal counters are
 * decremented in the same statement that deletes the done rows.  Every
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
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "awa_queue.h"

#define FAILED_STATE "'failed'::awa.job_state"

static AwaPlan move_remove_plan = {
	.sql = AWA_TERMINAL_REMOVE("e.job_id OPERATOR(pg_catalog.=) $1 "
							   "AND e.state OPERATOR(pg_catalog.=) " FAILED_STATE),
	.nargs = 1,
	.argtypes = {INT8OID}
};

static AwaPlan bulk_remove_plan = {
	.sql = AWA_TERMINAL_REMOVE("e.state OPERATOR(pg_catalog.=) " FAILED_STATE " "
							   "AND ($1::pg_catalog.text IS NULL OR e.kind OPERATOR(pg_catalog.=) $1) "
							   "AND ($2::pg_catalog.text IS NULL OR e.queue OPERATOR(pg_catalog.=) $2)"),
	.nargs = 2,
	.argtypes = {TEXTOID, TEXTOID}
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
						  "pg_catalog.now() OPERATOR(pg_catalog.-) $3)"),
	.nargs = 3,
	.argtypes = {TEXTOID, TEXTOID, INTERVALOID}
};

static AwaPlan dlq_insert_plan = {
	.sql = "INSERT INTO awa.dlq_entries (job_id, kind, queue, args, state, priority, "
	"attempt, run_lease, max_attempts, run_at, attempted_at, finalized_at, created_at, "
	"unique_key, unique_states, payload, dlq_reason, original_run_lease) "
	"SELECT u.job_id, u.kind, u.queue, u.args, 'failed'::awa.job_state, u.priority, "
	"u.attempt, u.run_lease, u.max_attempts, u.run_at, u.attempted_at, "
	"COALESCE(u.finalized_at, pg_catalog.clock_timestamp()), u.created_at, "
	"u.unique_key, u.unique_states, u.payload, $16, u.run_lease "
	"FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.int8[]), "
	"pg_catalog.unnest($2::pg_catalog.text[]), pg_catalog.unnest($3::pg_catalog.text[]), "
	"pg_catalog.unnest($4::pg_catalog.jsonb[]), pg_catalog.unnest($5::pg_catalog.int2[]), "
	"pg_catalog.unnest($6::pg_catalog.int2[]), pg_catalog.unnest($7::pg_catalog.int8[]), "
	"pg_catalog.unnest($8::pg_catalog.int2[]), "
	"pg_catalog.unnest($9::pg_catalog.timestamptz[]), "
	"pg_catalog.unnest($10::pg_catalog.timestamptz[]), "
	"pg_catalog.unnest($11::pg_catalog.timestamptz[]), "
	"pg_catalog.unnest($12::pg_catalog.timestamptz[]), "
	"pg_catalog.unnest($13::pg_catalog.bytea[]), pg_catalog.unnest($14::pg_catalog.bit[]), "
	"pg_catalog.unnest($15::pg_catalog.jsonb[])) "
	"AS u(job_id, kind, queue, args, priority, attempt, run_lease, max_attempts, "
	"run_at, attempted_at, finalized_at, created_at, unique_key, unique_states, payload) "
	"ORDER BY u.job_id",
	.nargs = 16,
	.argtypes = {INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID, JSONBARRAYOID,
		INT2ARRAYOID, INT2ARRAYOID, INT8ARRAYOID, INT2ARRAYOID,
		TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID,
		TIMESTAMPTZARRAYOID, BYTEAARRAYOID, BITARRAYOID, JSONBARRAYOID,
	TEXTOID}
};

/*
 * DlqArray
 *		A one-dimensional array of n datums of type elemtype (nulls may be
 *		NULL when no element is null).
 */
static Datum
DlqArray(Datum *elems, bool *nulls, int n, Oid elemtype)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int			dims[1] = {n};
	int			lbs[1] = {1};

	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs,
											  elemtype, typlen, typbyval,
											  typalign));
}

/*
 * AwaDlqInsertRows
 *		Dead-letter n jobs with one statement (rows sorted by job_id):
 *		state failed, dlq_reason "reason", original_run_lease = run_lease,
 *		finalized_at kept (now when the row has none), body and payload
 *		(errors history) as given.  A job already in the DLQ is a unique
 *		violation (23505).  Does no unique sync: the claim of a failed job
 *		stays failed.
 */
void
AwaDlqInsertRows(AwaJobRow *rows, int n, text *reason)
{
	Oid			types[15] = {INT8OID, TEXTOID, TEXTOID, JSONBOID, INT2OID,
		INT2OID, INT8OID, INT2OID, TIMESTAMPTZOID, TIMESTAMPTZOID,
	TIMESTAMPTZOID, TIMESTAMPTZOID, BYTEAOID, BITOID, JSONBOID};
	Datum	   *cols[15];
	bool	   *cnulls[15];
	Datum		values[16];
	int			i;
	int			c;

	if (n <= 0)
		return;
	for (c = 0; c < 15; c++)
	{
		cols[c] = palloc(sizeof(Datum) * n);
		cnulls[c] = palloc0(sizeof(bool) * n);
	}
	for (i = 0; i < n; i++)
	{
		AwaJobRow  *r = &rows[i];

		cols[0][i] = Int64GetDatum(r->job_id);
		cols[1][i] = PointerGetDatum(r->kind);
		cols[2][i] = PointerGetDatum(r->queue);
		cols[3][i] = PointerGetDatum(r->args);
		cols[4][i] = Int16GetDatum(r->priority);
		cols[5][i] = Int16GetDatum(r->attempt);
		cols[6][i] = Int64GetDatum(r->run_lease);
		cols[7][i] = Int16GetDatum(r->max_attempts);
		cols[8][i] = TimestampTzGetDatum(r->run_at);
		cols[9][i] = TimestampTzGetDatum(r->attempted_at);
		cnulls[9][i] = !r->has_attempted_at;
		cols[10][i] = TimestampTzGetDatum(r->finalized_at);
		cnulls[10][i] = !r->has_finalized_at;
		cols[11][i] = TimestampTzGetDatum(r->created_at);
		cols[12][i] = PointerGetDatum(r->unique_key);
		cnulls[12][i] = (r->unique_key == NULL);
		cols[13][i] = r->unique_key ? AwaMaskDatum(r->unique_mask) : (Datum) 0;
		cnulls[13][i] = (r->unique_key == NULL);
		cols[14][i] = PointerGetDatum(r->payload);
		cnulls[14][i] = (r->payload == NULL);
	}
	for (c = 0; c < 15; c++)
		values[c] = DlqArray(cols[c], cnulls[c], n, types[c]);
	values[15] = PointerGetDatum(reason);
	if (AwaPlanExec(&dlq_insert_plan, values, NULL, false, 0,
					SPI_OK_INSERT) != n)
		elog(ERROR, "awa_queue: DLQ rows were not all inserted");
}

/*
 * AwaDlqRemove
 *		Run a removal statement built from AWA_DLQ_REMOVE (rows locked in
 *		job_id order and deleted) and move the unique claims of the removed
 *		jobs from failed to "to_state" (AWA_UNIQUE_LATER: the caller syncs).
 *		*rows receives the removed bodies; returns their number.
 */
int
AwaDlqRemove(AwaPlan *plan, Datum *values, const char *nulls,
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
 * RequireReason
 *		The DLQ reason: not NULL (22004), not empty (22023).
 */
static text *
RequireReason(FunctionCallInfo fcinfo, int argno)
{
	text	   *reason;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("reason must not be null"),
				 errhint("Give the reason the job is dead-lettered, for example 'operator'.")));
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
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("job_id must not be null")));
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
 * Moves the failed terminal row of one job into the DLQ: the done row is
 * removed with its counter decrement and retained body in one statement
 * (AwaTerminalRemove), then the hydrated job is inserted into
 * dlq_entries.  Its unique claim stays (failed to failed).  Locks the done
 * row FOR UPDATE (a concurrent retry_job or delete of the same job waits,
 * then finds nothing).  Returns true when the job was moved, false when it
 * has no failed terminal row.
 */
PG_FUNCTION_INFO_V1(awa_move_failed_to_dlq);
Datum
awa_move_failed_to_dlq(PG_FUNCTION_ARGS)
{
	Datum		id = RequireJobId(fcinfo, 0);
	text	   *reason = RequireReason(fcinfo, 1);
	AwaJobRow  *rows;
	int			n;

	AwaSpiConnect();
	n = AwaTerminalRemove(&move_remove_plan, &id, NULL,
						  AWA_STATE_BIT_FAILED, &rows);
	AwaDlqInsertRows(rows, n, reason);
	AwaSpiFinish();
	PG_RETURN_BOOL(n > 0);
}

/*
 * awa_bulk_move_failed_to_dlq
 *		awa.bulk_move_failed_to_dlq(kind text DEFAULT NULL, queue text
 *		DEFAULT NULL, reason text DEFAULT 'operator') RETURNS bigint
 *
 * Set-based move of every failed terminal row matching the optional kind
 * and queue filters: one removal statement (rows locked in key order,
 * counters decremented per group, bodies deleted), one DLQ insert.
 * Returns the number of jobs moved.
 */
PG_FUNCTION_INFO_V1(awa_bulk_move_failed_to_dlq);
Datum
awa_bulk_move_failed_to_dlq(PG_FUNCTION_ARGS)
{
	Datum		values[2];
	char		nulls[2];
	text	   *reason;
	AwaJobRow  *rows;
	int			n;

	values[0] = OptionalName(fcinfo, 0, "kind", &nulls[0]);
	values[1] = OptionalName(fcinfo, 1, "queue", &nulls[1]);
	reason = RequireReason(fcinfo, 2);

	AwaSpiConnect();
	n = AwaTerminalRemove(&bulk_remove_plan, values, nulls,
						  AWA_STATE_BIT_FAILED, &rows);
	AwaDlqInsertRows(rows, n, reason);
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

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("kind must not be null")));
	AwaValidateName(PG_GETARG_TEXT_PP(0), "kind");
	kind = PG_GETARG_DATUM(0);

	AwaSpiConnect();
	n = AwaTerminalRemove(&discard_remove_plan, &kind, NULL,
						  AWA_STATE_NONE, &rows);
	n += AwaDlqRemove(&discard_dlq_plan, &kind, NULL, AWA_STATE_NONE, &rows);
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
	n = AwaDlqRemove(&retry_dlq_plan, &id, NULL, AWA_UNIQUE_LATER, &rows);
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
	n = AwaDlqRemove(&purge_dlq_plan, values, nulls, AWA_STATE_NONE, &rows);
	AwaSpiFinish();
	PG_RETURN_INT64((int64) n);
}
