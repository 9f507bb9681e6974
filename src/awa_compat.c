/*-------------------------------------------------------------------------
 *
 * awa_compat.c
 *	  The SQL compat layer: INSERT, DELETE and UPDATE on the awa.jobs view
 *	  (awa.insert_job_compat, awa.delete_job_compat and the INSTEAD OF
 *	  trigger awa.jobs_write).
 *
 * awa.jobs (install script) shows every job once in the canonical job
 * shape, over awa.job_locations, which also names where each job lives.
 * INSERT enqueues through awa.enqueue and returns the row it built
 * without reading the view (hazard O13).  DELETE first classifies the job
 * through awa.job_locations and then removes it consistently from that
 * location: an unclaimed ready row (claim head locked, head advanced), a
 * deferred row, a running attempt (receipt locked and closed), a terminal
 * row (AwaRunRemoval: counter decremented) or a DLQ row, releasing
 * its unique claim; retained bodies go only once the job lives nowhere
 * else (hazard O6).  UPDATE is refused.
 *
 * Copyright (c) 2026, awa_queue developers
 *
 * IDENTIFICATION
 *	  src/awa_compat.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/jsonb.h"
#include "utils/rel.h"

#include "awa_queue.h"

/* columns of awa.jobs, in view order */
enum
{
	JOBS_ID, JOBS_KIND, JOBS_QUEUE, JOBS_ARGS, JOBS_STATE, JOBS_PRIORITY,
	JOBS_ATTEMPT, JOBS_MAX_ATTEMPTS, JOBS_RUN_AT, JOBS_HEARTBEAT_AT,
	JOBS_DEADLINE_AT, JOBS_ATTEMPTED_AT, JOBS_FINALIZED_AT, JOBS_CREATED_AT,
	JOBS_ERRORS, JOBS_METADATA, JOBS_TAGS, JOBS_UNIQUE_KEY, JOBS_UNIQUE_STATES,
	JOBS_RUN_LEASE, JOBS_PROGRESS, JOBS_NATTS
};

/* arguments of awa.insert_job_compat, in signature order */
enum
{
	INS_KIND, INS_QUEUE, INS_ARGS, INS_STATE, INS_PRIORITY, INS_MAX_ATTEMPTS,
	INS_RUN_AT, INS_METADATA, INS_TAGS, INS_UNIQUE_KEY, INS_UNIQUE_STATES,
	INS_ORDERING_KEY, INS_NARGS
};

static AwaPlan enqueue_plan = {
	.sql = "SELECT awa.enqueue($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
	.nargs = 11,
	.argtypes = {TEXTOID, JSONBOID, TEXTOID, INT2OID, TIMESTAMPTZOID, INT2OID,
	JSONBOID, TEXTARRAYOID, BYTEAOID, BITOID, TEXTOID}
};

/* what enqueue decided for a new job: its state, run_at, created_at, mask */
static AwaPlan readback_plan = {
	.sql = "SELECT 'available'::awa.job_state, r.run_at, r.created_at, r.unique_states "
	"FROM awa.ready_entries AS r WHERE r.job_id OPERATOR(pg_catalog.=) $1 "
	"UNION ALL SELECT d.state, d.run_at, d.created_at, d.unique_states "
	"FROM awa.deferred_jobs AS d WHERE d.job_id OPERATOR(pg_catalog.=) $1",
	.nargs = 1,
	.argtypes = {INT8OID}
};

/* where a job is now; one row per location (normally exactly one) */
static AwaPlan classify_plan = {
	.sql = "SELECT l.location, " AWA_STATE_BIT_SQL("l.state") ", l.run_lease, "
	"l.ready_slot, l.queue, l.priority, l.enqueue_shard, l.lane_seq, l.claim_slot, "
	"l.unique_key, l.unique_states "
	"FROM awa.job_locations AS l WHERE l.id OPERATOR(pg_catalog.=) $1 "
	"ORDER BY l.location LIMIT 1",
	.nargs = 1,
	.argtypes = {INT8OID}
};

/* the unclaimed ready row, through AwaRemoveUnclaimed */
static AwaPlan ready_delete_plan = {
	.sql = "WITH " AWA_UNCLAIMED_REMOVE_CTES " SELECT 1 FROM del",
	.nargs = 6,
	.argtypes = {TEXTOID, INT2OID, INT2OID, INT8OID, INT4OID, INT8OID}
};

static AwaPlan deferred_delete_plan = {
	.sql = "DELETE FROM awa.deferred_jobs AS d WHERE d.job_id OPERATOR(pg_catalog.=) $1",
	.nargs = 1,
	.argtypes = {INT8OID}
};

static AwaPlan receipt_lock_plan = {
	.sql = "SELECT 1 FROM awa.lease_claims AS c "
	"WHERE c.job_id OPERATOR(pg_catalog.=) $1 AND c.run_lease OPERATOR(pg_catalog.=) $2 "
	"AND c.claim_slot OPERATOR(pg_catalog.=) $3 FOR UPDATE",
	.nargs = 3,
	.argtypes = {INT8OID, INT8OID, INT4OID}
};

#define ATTEMPT_SRC \
	"(SELECT $3::pg_catalog.int4 AS claim_slot, $1::pg_catalog.int8 AS job_id, " \
	"$2::pg_catalog.int8 AS run_lease)"

/* close the receipt and forget its heartbeat state, one statement */
static AwaPlan receipt_close_plan = {
	.sql = "WITH closed AS (" AWA_CLOSURE_INSERT_FROM(ATTEMPT_SRC, "'deleted'", AWA_CLOSURE_SKIP_CLOSED) "), "
	"forgot AS (" AWA_ATTEMPT_STATE_DELETE_USING("closed") ") "
	"SELECT pg_catalog.count(*) FROM closed",
	.nargs = 3,
	.argtypes = {INT8OID, INT8OID, INT4OID}
};

static AwaPlan compat_done_plan = {
	.sql = AWA_TERMINAL_REMOVE(AWA_DONE_ROW_OF_JOB("$1")),
	.nargs = 1,
	.argtypes = {INT8OID}
};

static AwaPlan compat_dlq_plan = {
	.sql = AWA_DLQ_REMOVE("q.job_id OPERATOR(pg_catalog.=) $1"),
	.nargs = 1,
	.argtypes = {INT8OID}
};

/* retained bodies of a job that lives nowhere any more */
static AwaPlan body_sweep_plan = {
	.sql = "DELETE FROM awa.ready_entries AS r WHERE r.job_id OPERATOR(pg_catalog.=) $1 "
	"AND NOT EXISTS (SELECT 1 FROM awa.job_locations AS l "
	"WHERE l.id OPERATOR(pg_catalog.=) $1)",
	.nargs = 1,
	.argtypes = {INT8OID}
};

/* a deleted job whose state changed under us is re-classified this often */
#define DELETE_MAX_ROUNDS 16

/*
 * ReleaseOne
 *		Release the unique claim of one job leaving "from_state" for good.
 */
static void
ReleaseOne(int64 job_id, bytea *key, uint8 mask, int from_state)
{
	int			to = AWA_STATE_NONE;

	if (key == NULL)
		return;
	AwaUniqueSync(1, &key, &mask, &job_id, &from_state, &to);
}

/*
 * DeleteReady
 *		Delete an unclaimed ready row through AwaRemoveUnclaimed: lock the
 *		lane's claim head FOR UPDATE (a claim in progress finishes first;
 *		later claims skip the lane), re-check that the row is still
 *		unclaimed, delete it and advance claim_seq when it was the head row.
 *		Returns false when the row was claimed or removed meanwhile.
 */
static bool
DeleteReady(int64 job_id, Datum queue, Datum priority, Datum shard,
			int64 lane_seq, Datum slot)
{
	Datum		values[6];

	values[0] = queue;
	values[1] = priority;
	values[2] = shard;
	values[3] = Int64GetDatum(lane_seq);
	values[4] = slot;
	values[5] = Int64GetDatum(job_id);
	return AwaRemoveUnclaimed(&ready_delete_plan, values, NULL) == 1;
}

/*
 * CloseRunning
 *		End a running attempt: lock its receipt FOR UPDATE (a completion or
 *		failure of the same attempt holding it finishes first), append a
 *		closure with outcome 'deleted' (dropped when the receipt is already
 *		closed) and delete its attempt_state, in one statement.  Returns
 *		false when the attempt was closed meanwhile.
 */
static bool
CloseRunning(int64 job_id, int64 run_lease, Datum claim_slot)
{
	Datum		values[3];

	values[0] = Int64GetDatum(job_id);
	values[1] = Int64GetDatum(run_lease);
	values[2] = claim_slot;
	if (AwaPlanExec(&receipt_lock_plan, values, NULL, false, 0,
					SPI_OK_SELECT) != 1)
		return false;
	AwaPlanExec(&receipt_close_plan, values, NULL, false, 0, SPI_OK_SELECT);
	return AwaSpiGetInt64(0, 1, 0) == 1;
}

/*
 * DeleteJobCompat
 *		Remove one job from whatever state it is in; see
 *		awa_delete_job_compat.  Runs inside the caller's SPI connection.
 */
static bool
DeleteJobCompat(int64 job_id)
{
	Datum		id = Int64GetDatum(job_id);
	bool		deleted = false;
	int			round;

	for (round = 0; round < DELETE_MAX_ROUNDS; round++)
	{
		char	   *location;
		int			state;
		int64		run_lease;
		Datum		slot,
					queue,
					priority,
					shard,
					claim_slot;
		int64		lane_seq;
		bytea	   *key;
		uint8		mask;
		bool		isnull;
		Datum		d;
		AwaJobRow  *rows;
		bool		done;

		if (AwaPlanExec(&classify_plan, &id, NULL, false, 1,
						SPI_OK_SELECT) == 0)
		{
			/* the job lives nowhere: its retained bodies may go now */
			AwaPlanExec(&body_sweep_plan, &id, NULL, false, 0, SPI_OK_DELETE);
			return deleted;
		}
		location = TextDatumGetCString(AwaSpiGetDatum(0, 1, &isnull));
		state = (int) AwaSpiGetInt64(0, 2, AWA_STATE_NONE);
		run_lease = AwaSpiGetInt64(0, 3, 0);
		slot = AwaSpiGetDatum(0, 4, &isnull);
		queue = AwaSpiCopyDatum(0, 5, &isnull);
		priority = AwaSpiGetDatum(0, 6, &isnull);
		shard = AwaSpiGetDatum(0, 7, &isnull);
		lane_seq = AwaSpiGetInt64(0, 8, 0);
		claim_slot = AwaSpiGetDatum(0, 9, &isnull);
		d = AwaSpiCopyDatum(0, 10, &isnull);
		key = isnull ? NULL : DatumGetByteaPP(d);
		d = AwaSpiGetDatum(0, 11, &isnull);
		mask = isnull ? AWA_UNIQUE_DEFAULT_MASK : AwaMaskFromDatum(d);

		if (strcmp(location, "ready") == 0)
			done = DeleteReady(job_id, queue, priority, shard, lane_seq, slot);
		else if (strcmp(location, "deferred") == 0)
			done = AwaPlanExec(&deferred_delete_plan, &id, NULL, false, 0,
							   SPI_OK_DELETE) > 0;
		else if (strcmp(location, "receipt") == 0)
			done = CloseRunning(job_id, run_lease, claim_slot);
		else if (strcmp(location, "done") == 0)
		{
			done = AwaRunRemoval(&compat_done_plan, &id, NULL,
									 AWA_STATE_NONE, &rows) > 0;
			key = NULL;			/* released by AwaRunRemoval */
		}
		else if (strcmp(location, "dlq") == 0)
		{
			done = AwaRunRemoval(&compat_dlq_plan, &id, NULL,
								AWA_STATE_NONE, &rows) > 0;
			key = NULL;			/* released by AwaRunRemoval */
		}
		else
			elog(ERROR, "awa_queue: unknown job location \"%s\"", location);

		if (done)
		{
			ReleaseOne(job_id, key, mask, state);
			deleted = true;
		}
	}
	ereport(ERROR,
			(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
			 errmsg("job %lld kept changing state while it was being deleted",
					(long long) job_id),
			 errhint("Retry the delete.")));
	return false;				/* keep compiler quiet */
}

/*
 * awa_delete_job_compat
 *		awa.delete_job_compat(id bigint) RETURNS boolean
 *
 * Removes a job from whatever state it is in, consistently:
 *	- available: the ready row, under the lane's claim head lock; the head
 *	  advances when the row was the head row;
 *	- scheduled / retryable: the deferred row;
 *	- running: the receipt is locked and closed (outcome 'deleted'), its
 *	  attempt_state deleted;
 *	- completed / failed / cancelled: the done row, its counter group
 *	  decremented in the same statement, its retained body deleted;
 *	- dead-lettered: the DLQ row;
 * then releases the unique claim.  The job is classified first (through
 * awa.job_locations); when a lock wait shows it moved meanwhile it is
 * classified again.  Retained bodies of earlier attempts are deleted once
 * the job lives nowhere else.  Returns true when something was deleted,
 * false for an unknown id.
 */
PG_FUNCTION_INFO_V1(awa_delete_job_compat);
Datum
awa_delete_job_compat(PG_FUNCTION_ARGS)
{
	bool		deleted;

	AwaRequireNotNull(PG_ARGISNULL(0), "id");
	AwaSpiConnect();
	deleted = DeleteJobCompat(PG_GETARG_INT64(0));
	AwaSpiFinish();
	PG_RETURN_BOOL(deleted);
}

/*
 * StateName
 *		The label of an awa.job_state datum.
 */
static char *
StateName(Datum state)
{
	return DatumGetCString(OidFunctionCall1(F_ENUM_OUT, state));
}

/*
 * InsertJobCompat
 *		Enqueue one job through awa.enqueue and build its awa.jobs row.
 *
 * args/nulls are the INS_* arguments.  A given state must be available or
 * scheduled (else 0A000) and agree with run_at (22023): scheduled needs a
 * future run_at, available must not have one.  The row is built from the
 * input plus what enqueue stored (state, run_at, created_at, mask), read
 * back by job_id from the ready or deferred table: the view is never read.
 * Returns a tuple of "desc" allocated in the caller's memory context.
 */
static HeapTuple
InsertJobCompat(Datum *args, bool *nulls, TupleDesc desc)
{
	Datum		eargs[11];
	char		enulls[11];
	Datum		values[JOBS_NATTS];
	bool		vnulls[JOBS_NATTS];
	int64		job_id;
	bool		isnull;
	int			i;

	if (desc->natts != JOBS_NATTS)
		elog(ERROR, "awa_queue: awa.jobs has %d columns, expected %d",
			 desc->natts, JOBS_NATTS);
	if (!nulls[INS_STATE])
	{
		char	   *state = StateName(args[INS_STATE]);
		bool		future = !nulls[INS_RUN_AT] &&
			DatumGetTimestampTz(args[INS_RUN_AT]) > AwaNow();

		if (strcmp(state, "available") != 0 && strcmp(state, "scheduled") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("a new job cannot be inserted in state \"%s\"", state),
					 errhint("Insert it as available or scheduled; use awa.cancel, awa.fail_batch or awa.move_failed_to_dlq to change its state later.")));
		if (strcmp(state, "scheduled") == 0 && !future)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a scheduled job needs a future run_at")));
		if (strcmp(state, "available") == 0 && future)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("an available job cannot have a future run_at"),
					 errhint("Insert it as scheduled, or leave state unset.")));
	}

	/* awa.enqueue(kind, args, queue, priority, run_at, max_attempts,
	 * metadata, tags, unique_key, unique_states, ordering_key) */
	{
		static const int order[11] = {
			INS_KIND, INS_ARGS, INS_QUEUE, INS_PRIORITY, INS_RUN_AT,
			INS_MAX_ATTEMPTS, INS_METADATA, INS_TAGS, INS_UNIQUE_KEY,
		INS_UNIQUE_STATES, INS_ORDERING_KEY};

		for (i = 0; i < 11; i++)
		{
			eargs[i] = args[order[i]];
			enulls[i] = nulls[order[i]] ? 'n' : ' ';
		}
	}

	AwaSpiConnect();
	AwaPlanExec(&enqueue_plan, eargs, enulls, false, 0, SPI_OK_SELECT);
	job_id = AwaSpiGetInt64(0, 1, 0);
	if (AwaPlanExec(&readback_plan, (Datum[]) {Int64GetDatum(job_id)}, NULL,
					false, 0, SPI_OK_SELECT) != 1)
		elog(ERROR, "awa_queue: job %lld was not found after enqueue",
			 (long long) job_id);

	memset(vnulls, true, sizeof(vnulls));
	values[JOBS_ID] = Int64GetDatum(job_id);
	values[JOBS_STATE] = AwaSpiGetDatum(0, 1, &isnull);
	values[JOBS_RUN_AT] = AwaSpiGetDatum(0, 2, &isnull);
	values[JOBS_CREATED_AT] = AwaSpiGetDatum(0, 3, &isnull);
	values[JOBS_UNIQUE_STATES] = AwaSpiCopyDatum(0, 4, &vnulls[JOBS_UNIQUE_STATES]);
	AwaSpiFinish();

	vnulls[JOBS_ID] = vnulls[JOBS_STATE] = false;
	vnulls[JOBS_RUN_AT] = vnulls[JOBS_CREATED_AT] = false;
	values[JOBS_KIND] = args[INS_KIND];
	values[JOBS_QUEUE] = args[INS_QUEUE];
	values[JOBS_ARGS] = args[INS_ARGS];
	values[JOBS_PRIORITY] = args[INS_PRIORITY];
	values[JOBS_MAX_ATTEMPTS] = args[INS_MAX_ATTEMPTS];
	values[JOBS_ATTEMPT] = Int16GetDatum(0);
	values[JOBS_RUN_LEASE] = Int64GetDatum(0);
	vnulls[JOBS_KIND] = vnulls[JOBS_QUEUE] = vnulls[JOBS_ARGS] = false;
	vnulls[JOBS_PRIORITY] = vnulls[JOBS_MAX_ATTEMPTS] = false;
	vnulls[JOBS_ATTEMPT] = vnulls[JOBS_RUN_LEASE] = false;
	values[JOBS_METADATA] = nulls[INS_METADATA] ?
		DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")) :
		args[INS_METADATA];
	vnulls[JOBS_METADATA] = false;
	values[JOBS_TAGS] = nulls[INS_TAGS] ?
		PointerGetDatum(construct_empty_array(TEXTOID)) : args[INS_TAGS];
	vnulls[JOBS_TAGS] = false;
	values[JOBS_UNIQUE_KEY] = args[INS_UNIQUE_KEY];
	vnulls[JOBS_UNIQUE_KEY] = nulls[INS_UNIQUE_KEY];
	return heap_form_tuple(desc, values, vnulls);
}

/*
 * awa_insert_job_compat
 *		awa.insert_job_compat(kind, queue, args, state, priority,
 *		max_attempts, run_at, metadata, tags, unique_key, unique_states,
 *		ordering_key) RETURNS awa.jobs
 *
 * Enqueues one job through awa.enqueue (same validation, same writers,
 * same notification) and returns its awa.jobs row, built in-function:
 * O(1), the view is never read.
 */
PG_FUNCTION_INFO_V1(awa_insert_job_compat);
Datum
awa_insert_job_compat(PG_FUNCTION_ARGS)
{
	Datum		args[INS_NARGS];
	bool		nulls[INS_NARGS];
	TupleDesc	desc;
	int			i;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "awa_queue: insert_job_compat must return a row type");
	desc = BlessTupleDesc(desc);
	for (i = 0; i < INS_NARGS; i++)
	{
		nulls[i] = PG_ARGISNULL(i);
		args[i] = nulls[i] ? (Datum) 0 : PG_GETARG_DATUM(i);
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(InsertJobCompat(args, nulls, desc)));
}

/* awa.jobs columns a producer may not set on INSERT */
static const int producer_forbidden[] = {
	JOBS_ID, JOBS_ATTEMPT, JOBS_HEARTBEAT_AT, JOBS_DEADLINE_AT,
	JOBS_ATTEMPTED_AT, JOBS_FINALIZED_AT, JOBS_CREATED_AT, JOBS_ERRORS,
	JOBS_RUN_LEASE, JOBS_PROGRESS
};

/*
 * awa_jobs_write
 *		INSTEAD OF INSERT OR UPDATE OR DELETE row trigger of awa.jobs.
 *
 * INSERT: columns only the queue sets (id, attempt, timestamps other than
 * run_at, errors, run_lease, progress) must be unset (0A000), then the
 * row goes through InsertJobCompat and the built row is returned, so
 * INSERT ... RETURNING shows the new id.  DELETE: delete_job_compat of
 * OLD.id; the row counts as deleted when something was.  UPDATE: 0A000.
 */
PG_FUNCTION_INFO_V1(awa_jobs_write);
Datum
awa_jobs_write(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	HeapTuple	tuple;
	bool		isnull;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_INSTEAD(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		elog(ERROR, "awa_queue: awa_jobs_write must be an INSTEAD OF row trigger");
	desc = RelationGetDescr(trigdata->tg_relation);
	tuple = trigdata->tg_trigtuple;

	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("UPDATE on awa.jobs is not supported"),
				 errhint("Use awa.retry_job, awa.cancel, awa.move_failed_to_dlq or awa.retry_from_dlq to change a job's state.")));

	if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
	{
		Datum		id = heap_getattr(tuple, JOBS_ID + 1, desc, &isnull);
		bool		deleted;

		if (isnull)
			return PointerGetDatum(NULL);
		AwaSpiConnect();
		deleted = DeleteJobCompat(DatumGetInt64(id));
		AwaSpiFinish();
		return PointerGetDatum(deleted ? tuple : NULL);
	}

	/* INSERT */
	{
		Datum		args[INS_NARGS];
		bool		nulls[INS_NARGS];
		static const int from_column[INS_NARGS] = {
			JOBS_KIND, JOBS_QUEUE, JOBS_ARGS, JOBS_STATE, JOBS_PRIORITY,
			JOBS_MAX_ATTEMPTS, JOBS_RUN_AT, JOBS_METADATA, JOBS_TAGS,
		JOBS_UNIQUE_KEY, JOBS_UNIQUE_STATES, -1};
		int			i;

		for (i = 0; i < (int) lengthof(producer_forbidden); i++)
		{
			int			col = producer_forbidden[i];

			(void) heap_getattr(tuple, col + 1, desc, &isnull);
			if (!isnull)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("column \"%s\" of awa.jobs cannot be set by INSERT",
								NameStr(TupleDescAttr(desc, col)->attname)),
						 errhint("Insert only kind, queue, args, state, priority, run_at, max_attempts, metadata, tags, unique_key and unique_states.")));
		}
		for (i = 0; i < INS_NARGS; i++)
		{
			if (from_column[i] < 0)
			{
				nulls[i] = true;
				args[i] = (Datum) 0;
				continue;
			}
			args[i] = heap_getattr(tuple, from_column[i] + 1, desc, &nulls[i]);
		}
		return PointerGetDatum(InsertJobCompat(args, nulls, desc));
	}
}
