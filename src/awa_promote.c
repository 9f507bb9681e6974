/*-------------------------------------------------------------------------
 *
 * awa_promote.c
 *	  Maintenance: awa.promote_due(), due scheduled and retryable jobs back
 *	  to ready rows.
 *
 * One statement takes up to max_jobs due rows of deferred_jobs (run_at <=
 * now, queue not paused), oldest first, FOR UPDATE SKIP LOCKED, and
 * deletes them; the jobs are then re-enqueued through the hot path's
 * ready-row writer (AwaInsertReadyRows: lanes locked in sorted order, the
 * ordering key honoured when the deferred row kept one), keeping their
 * attempt and run_lease, with run_at = the time they became due.  Unique
 * claims move from scheduled/retryable to available; each queue that got
 * jobs is notified once.
 *
 * Safe to run from a maintenance tick concurrently with everything else:
 * it never waits on a deferred row (SKIP LOCKED; a cancel holding one is
 * skipped), and its only waits are the enqueue-head locks every enqueuer
 * takes in the same sorted order.
 *
 * Copyright (c) 2026, awa_queue developers
 *
 * IDENTIFICATION
 *	  src/awa_promote.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "awa_queue.h"

#define AWA_PROMOTE_MAX_JOBS	100000

/* take and delete up to $2 due deferred rows, oldest first */
static AwaPlan promote_take_plan = {
	.sql = "WITH due AS (SELECT d.job_id FROM awa.deferred_jobs AS d "
	"WHERE d.run_at <= $1 AND NOT EXISTS (SELECT 1 FROM awa.queue_meta AS m "
	"WHERE m.queue = d.queue AND m.paused) "
	"ORDER BY d.run_at, d.job_id LIMIT $2 FOR UPDATE OF d SKIP LOCKED), "
	"del AS (DELETE FROM awa.deferred_jobs AS d USING due WHERE d.job_id = due.job_id "
	"RETURNING d.job_id, d.kind, d.queue, d.args, d.state::pg_catalog.text AS state, "
	"d.priority, d.attempt, d.run_lease, d.max_attempts, d.run_at, d.created_at, "
	"d.unique_key, d.unique_states, d.ordering_key, d.payload, d.enqueue_shard) "
	"SELECT * FROM del ORDER BY run_at, job_id",
	.nargs = 2,
	.argtypes = {TIMESTAMPTZOID, INT4OID}
};

/*
 * NotifyDistinctQueues
 *		One notification per distinct queue among the promoted rows.
 */
static void
NotifyDistinctQueues(AwaJobRow *rows, int n)
{
	text	  **seen = palloc(sizeof(text *) * n);
	int			nseen = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		text	   *q = rows[i].queue;
		int			len = VARSIZE_ANY_EXHDR(q);
		int			j;

		for (j = 0; j < nseen; j++)
			if ((int) VARSIZE_ANY_EXHDR(seen[j]) == len &&
				memcmp(VARDATA_ANY(seen[j]), VARDATA_ANY(q), len) == 0)
				break;
		if (j < nseen)
			continue;
		seen[nseen++] = q;
		AwaNotifyQueue(q);
	}
}

/*
 * awa_promote_due
 *		awa.promote_due(max_jobs int DEFAULT 4096) RETURNS int
 *
 * Moves up to max_jobs due scheduled/retryable jobs of unpaused queues
 * back to available, oldest run_at first.  Returns the number promoted.
 */
PG_FUNCTION_INFO_V1(awa_promote_due);
Datum
awa_promote_due(PG_FUNCTION_ARGS)
{
	int32		max_jobs;
	Datum		values[2];
	AwaJobRow  *rows;
	bytea	  **ukeys;
	uint8	   *umasks;
	int64	   *uids;
	int		   *ufrom;
	int		   *uto;
	int			nunique = 0;
	int			n;
	int			i;

	AwaRequireNotNull(PG_ARGISNULL(0), "max_jobs");
	max_jobs = PG_GETARG_INT32(0);
	AwaValidateRange(max_jobs, 1, AWA_PROMOTE_MAX_JOBS, "max_jobs");

	AwaSpiConnect();
	values[0] = TimestampTzGetDatum(AwaNow());
	values[1] = Int32GetDatum(max_jobs);
	n = AwaPlanExec(&promote_take_plan, values, NULL, false, 0, SPI_OK_SELECT);
	if (n == 0)
	{
		AwaSpiFinish();
		PG_RETURN_INT32(0);
	}

	rows = palloc0(sizeof(AwaJobRow) * n);
	ukeys = palloc(sizeof(bytea *) * n);
	umasks = palloc(sizeof(uint8) * n);
	uids = palloc(sizeof(int64) * n);
	ufrom = palloc(sizeof(int) * n);
	uto = palloc(sizeof(int) * n);
	for (i = 0; i < n; i++)
	{
		AwaJobRow  *r = &rows[i];
		bool		isnull;
		Datum		v;
		char	   *state;

		r->job_id = AwaSpiGetInt64(i, 1, 0);
		r->kind = DatumGetTextPP(AwaSpiGetDatum(i, 2, &isnull));
		r->queue = DatumGetTextPP(AwaSpiGetDatum(i, 3, &isnull));
		r->args = DatumGetJsonbP(AwaSpiGetDatum(i, 4, &isnull));
		state = TextDatumGetCString(AwaSpiGetDatum(i, 5, &isnull));
		r->priority = (int16) AwaSpiGetInt64(i, 6, 0);
		r->attempt = (int16) AwaSpiGetInt64(i, 7, 0);
		r->run_lease = AwaSpiGetInt64(i, 8, 0);
		r->max_attempts = (int16) AwaSpiGetInt64(i, 9, 0);
		r->run_at = DatumGetTimestampTz(AwaSpiGetDatum(i, 10, &isnull));
		r->created_at = DatumGetTimestampTz(AwaSpiGetDatum(i, 11, &isnull));
		v = AwaSpiGetDatum(i, 14, &isnull);
		r->ordering_key = isnull ? NULL : DatumGetTextPP(v);
		v = AwaSpiGetDatum(i, 15, &isnull);
		r->payload = isnull ? NULL : DatumGetJsonbP(v);
		v = AwaSpiGetDatum(i, 16, &isnull);
		r->has_home_shard = !isnull;
		r->home_shard = isnull ? 0 : DatumGetInt16(v);
		r->state = AWA_STATE_BIT_AVAILABLE;
		v = AwaSpiGetDatum(i, 12, &isnull);
		if (!isnull)
		{
			Datum		mask;

			r->unique_key = DatumGetByteaPP(v);
			mask = AwaSpiGetDatum(i, 13, &isnull);
			r->unique_mask = isnull ? AWA_UNIQUE_DEFAULT_MASK : AwaMaskFromDatum(mask);
			ukeys[nunique] = r->unique_key;
			umasks[nunique] = r->unique_mask;
			uids[nunique] = r->job_id;
			ufrom[nunique] = strcmp(state, "scheduled") == 0 ?
				AWA_STATE_BIT_SCHEDULED : AWA_STATE_BIT_RETRYABLE;
			uto[nunique] = AWA_STATE_BIT_AVAILABLE;
			nunique++;
		}
	}

	/* rows are in (run_at, job_id) order: FIFO inside each lane */
	AwaInsertReadyRows(rows, n);
	if (nunique > 0)
		AwaUniqueSync(nunique, ukeys, umasks, uids, ufrom, uto);
	NotifyDistinctQueues(rows, n);
	AwaSpiFinish();
	PG_RETURN_INT32(n);
}
