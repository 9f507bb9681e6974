/*-------------------------------------------------------------------------
 *
 * awa_complete_direct.c
 *	  The first pass of a completion without the executor: for attempts
 *	  whose receipts the call has locked and found open, append their
 *	  closures and narrow done rows with the table access method and add
 *	  them to the live terminal counters, instead of running awa_complete.c's
 *	  prelocked statement.
 *
 * A completion of one job through SPI cost about 0.48M instructions, most of
 * it the executor start-up of a statement with five CTEs (receipts read by
 * TID, closures appended, done rows appended to their ready slots'
 * partitions, the counter upsert).  Here the same rows are written through
 * the C writers: closures by AwaPrepareClosures (awa_receipts.c), done rows
 * by the narrow done writer below, counters by AwaCounterDeltasApply
 * (awa_counters.c, the one counter helper: rows that exist are added to in
 * key order without a statement, a missing one goes to the upsert).  Only
 * the common case is taken (decision 40): READ COMMITTED (the caller has
 * locked every receipt with AwaLockOpenReceipts), attempt_state empty (no
 * heartbeat row to forget; the caller checks), every relation and column where it is
 * expected, awa.direct_writes on; otherwise AwaDirectCompleteOpen returns
 * false having written nothing, and the caller runs the statement.
 *
 * Locking contract: the caller holds the receipts FOR UPDATE (SPEC 5.7);
 * here, in the order of the rule: closures (RowExclusiveLock on
 * lease_claim_closures and the slot's partition), done rows
 * (RowExclusiveLock on done_entries and the ready slots' partitions, so a
 * prune of one waits, SPEC 5.5), then counter rows, in key order.  The
 * same locks as the statement.
 *
 * Copyright (c) 2026, awa_queue developers
 *
 * IDENTIFICATION
 *	  src/awa_complete_direct.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "executor/tuptable.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "awa_queue.h"

/* the receipt columns the completion reads, by name */
typedef enum ReceiptRead
{
	RR_READY_SLOT,
	RR_READY_GENERATION,
	RR_JOB_ID,
	RR_KIND,
	RR_QUEUE,
	RR_PRIORITY,
	RR_ATTEMPT,
	RR_RUN_LEASE,
	RR_LANE_SEQ,
	RR_ENQUEUE_SHARD,
	RR_CLAIMED_AT,
	RR_UNIQUE_KEY,
	RR_UNIQUE_STATES,
	RR_NCOLUMNS
} ReceiptRead;

static const char *const receipt_read_names[RR_NCOLUMNS] = {
	"ready_slot", "ready_generation", "job_id", "kind", "queue", "priority",
	"attempt", "run_lease", "lane_seq", "enqueue_shard", "claimed_at",
	"unique_key", "unique_states"
};

/* the columns of awa.done_entries, by name */
typedef enum DoneColumn
{
	DC_READY_SLOT,
	DC_READY_GENERATION,
	DC_JOB_ID,
	DC_KIND,
	DC_QUEUE,
	DC_STATE,
	DC_PRIORITY,
	DC_ATTEMPT,
	DC_RUN_LEASE,
	DC_LANE_SEQ,
	DC_ENQUEUE_SHARD,
	DC_ATTEMPTED_AT,
	DC_FINALIZED_AT,
	DC_PAYLOAD,
	DC_ARGS,
	DC_MAX_ATTEMPTS,
	DC_RUN_AT,
	DC_CREATED_AT,
	DC_UNIQUE_KEY,
	DC_UNIQUE_STATES,
	DC_NCOLUMNS
} DoneColumn;

static const char *const done_column_names[DC_NCOLUMNS] = {
	"ready_slot", "ready_generation", "job_id", "kind", "queue", "state",
	"priority", "attempt", "run_lease", "lane_seq", "enqueue_shard",
	"attempted_at", "finalized_at", "payload", "args", "max_attempts",
	"run_at", "created_at", "unique_key", "unique_states"
};

/* one attempt being completed: its receipt's columns */
typedef struct OpenAttempt
{
	Datum		values[RR_NCOLUMNS];
	bool		nulls[RR_NCOLUMNS];
} OpenAttempt;

/*
 * DoneStateValue
 *		The value of label "label" of the type of done_entries.state (the
 *		enum awa.job_state); false when the column cannot be found.
 */
static bool
DoneStateValue(const char *label, Datum *value)
{
	Oid			relid = AwaRelid("done_entries");
	AttrNumber	att = OidIsValid(relid) ? AwaAttnum(relid, "state") : InvalidAttrNumber;
	Oid			input;
	Oid			ioparam;

	if (att == InvalidAttrNumber)
		return false;
	getTypeInputInfo(get_atttype(relid, att), &input, &ioparam);
	*value = OidInputFunctionCall(input, (char *) label, ioparam, -1);
	return true;
}

/*
 * PrepareDoneRows
 *		Build the narrow done rows (state "completed", finalized at "now",
 *		attempted_at the claim time, the body left in the retained ready
 *		row) of the attempts at[idx[0..n-1]], all of ready slot "ready_slot",
 *		in that slot's done partition, without writing them; NULL when the
 *		partition or its columns are not as expected.  The C writer of
 *		narrow done rows (AWA_DONE_NARROW_INSERT_FROM is the SQL one).
 *		RowExclusiveLock on done_entries and the partition.
 */
static AwaAppend *
PrepareDoneRows(int32 ready_slot, const OpenAttempt *at, const int *idx, int n,
				Datum completed, TimestampTz now)
{
	AwaAppend  *ap = AwaAppendBegin("done_entries",
									psprintf("done_entries_%d", ready_slot),
									done_column_names, DC_NCOLUMNS, n);
	int			i;

	for (i = 0; ap != NULL && i < n; i++)
	{
		const OpenAttempt *a = &at[idx[i]];
		Datum		values[DC_NCOLUMNS];
		bool		nulls[DC_NCOLUMNS];
		int			c;

		for (c = 0; c < DC_NCOLUMNS; c++)
		{
			values[c] = (Datum) 0;
			nulls[c] = true;
		}
#define FROM_RECEIPT(dc, rr) \
		(values[dc] = a->values[rr], nulls[dc] = a->nulls[rr])
		FROM_RECEIPT(DC_READY_SLOT, RR_READY_SLOT);
		FROM_RECEIPT(DC_READY_GENERATION, RR_READY_GENERATION);
		FROM_RECEIPT(DC_JOB_ID, RR_JOB_ID);
		FROM_RECEIPT(DC_KIND, RR_KIND);
		FROM_RECEIPT(DC_QUEUE, RR_QUEUE);
		FROM_RECEIPT(DC_PRIORITY, RR_PRIORITY);
		FROM_RECEIPT(DC_ATTEMPT, RR_ATTEMPT);
		FROM_RECEIPT(DC_RUN_LEASE, RR_RUN_LEASE);
		FROM_RECEIPT(DC_LANE_SEQ, RR_LANE_SEQ);
		FROM_RECEIPT(DC_ENQUEUE_SHARD, RR_ENQUEUE_SHARD);
		FROM_RECEIPT(DC_ATTEMPTED_AT, RR_CLAIMED_AT);
#undef FROM_RECEIPT
		values[DC_STATE] = completed;
		nulls[DC_STATE] = false;
		values[DC_FINALIZED_AT] = TimestampTzGetDatum(now);
		nulls[DC_FINALIZED_AT] = false;
		AwaAppendRow(ap, values, nulls);
	}
	return ap;
}

/* qsort_arg comparator: attempt indexes by the ready slot of their receipt */
static int
ByReadySlot(const void *a, const void *b, void *arg)
{
	const OpenAttempt *at = (const OpenAttempt *) arg;
	int			x = *(const int *) a;
	int			y = *(const int *) b;
	int32		sx = DatumGetInt32(at[x].values[RR_READY_SLOT]);
	int32		sy = DatumGetInt32(at[y].values[RR_READY_SLOT]);

	if (sx != sy)
		return sx < sy ? -1 : 1;
	return (x > y) - (x < y);
}

/*
 * AwaDirectCompleteOpen
 *		Complete the n open attempts (job_ids[i], run_leases[i]) whose
 *		receipts in claim slot "slot" this transaction has locked
 *		(AwaLockOpenReceipts; their row versions in tids[]), attempt_state
 *		having been found empty (AwaAttemptStateIsEmpty): append their
 *		closures, their narrow done rows (finalized_at = now) and add them
 *		to the live terminal counters, as the prelocked statement does; set
 *		out[i] (the receipt's unique key and mask, for the caller's unique
 *		sync).  Returns false, having written nothing, when the direct write
 *		does not apply (see the file header).  Locking contract in the file
 *		header.
 */
bool
AwaDirectCompleteOpen(int32 slot, const int64 *job_ids, const int64 *run_leases,
					  const ItemPointerData *tids, int n, TimestampTz now,
					  AwaFinalized *out)
{
	Oid			receipts_relid;
	Relation	receipts;
	const AwaColumnMap *map;
	TupleTableSlot *rslot;
	OpenAttempt *at;
	AwaAppend  *closures = NULL;
	AwaAppend **done;
	Datum		completed;
	int		   *idx;
	int			ndone = 0;
	bool		ok = true;
	int			i;

	if (!awa_direct_writes || IsolationUsesXactSnapshot() || n <= 0 ||
		!DoneStateValue("completed", &completed))
		return false;
	receipts_relid = AwaRelid(psprintf("lease_claims_%d", slot));
	if (!OidIsValid(receipts_relid))
		return false;
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());

	/* the receipts, by the row versions the locks returned */
	receipts = table_open(receipts_relid, AccessShareLock);
	map = AwaColumnMapFor(receipts, receipt_read_names, RR_NCOLUMNS, false);
	rslot = table_slot_create(receipts, NULL);
	at = palloc(sizeof(OpenAttempt) * n);
	for (i = 0; ok && i < n; i++)
	{
		ItemPointerData tid = tids[i];
		int			c;

		ok = map != NULL &&
			table_tuple_fetch_row_version(receipts, &tid, GetActiveSnapshot(), rslot);
		if (!ok)
			break;
		slot_getallattrs(rslot);
		for (c = 0; c < RR_NCOLUMNS; c++)
		{
			Form_pg_attribute att = TupleDescAttr(RelationGetDescr(receipts),
												  map->attno[c] - 1);

			at[i].nulls[c] = rslot->tts_isnull[map->attno[c] - 1];
			at[i].values[c] = at[i].nulls[c] ? (Datum) 0 :
				datumCopy(rslot->tts_values[map->attno[c] - 1], att->attbyval,
						  att->attlen);
		}
		ok = DatumGetInt64(at[i].values[RR_JOB_ID]) == job_ids[i] &&
			DatumGetInt64(at[i].values[RR_RUN_LEASE]) == run_leases[i];
	}
	ExecDropSingleTupleTableSlot(rslot);
	table_close(receipts, NoLock);

	/* every row built and checked before anything is written */
	if (ok)
		closures = AwaPrepareClosures(slot, job_ids, run_leases, n, "completed",
									  GetCurrentTimestamp());
	ok = ok && closures != NULL;
	idx = palloc(sizeof(int) * n);
	done = palloc(sizeof(AwaAppend *) * n);
	for (i = 0; i < n; i++)
		idx[i] = i;
	qsort_arg(idx, n, sizeof(int), ByReadySlot, at);
	for (i = 0; ok && i < n;)
	{
		int32		ready_slot = DatumGetInt32(at[idx[i]].values[RR_READY_SLOT]);
		int			k = i;

		while (k < n && DatumGetInt32(at[idx[k]].values[RR_READY_SLOT]) == ready_slot)
			k++;
		done[ndone] = PrepareDoneRows(ready_slot, at, idx + i, k - i, completed,
									  now);
		ok = done[ndone] != NULL;
		if (ok)
			ndone++;
		i = k;
	}

	/* closures -> done rows -> counters (SPEC 5.7) */
	if (closures != NULL)
		AwaAppendFinish(closures, ok);
	for (i = 0; i < ndone; i++)
		AwaAppendFinish(done[i], ok);
	if (ok)
	{
		AwaCounterDeltas deltas = {0};

		for (i = 0; i < n; i++)
		{
			AwaCounterDeltasAdd(&deltas, DatumGetInt32(at[i].values[RR_READY_SLOT]),
								DatumGetTextPP(at[i].values[RR_QUEUE]),
								DatumGetInt16(at[i].values[RR_PRIORITY]),
								DatumGetInt16(at[i].values[RR_ENQUEUE_SHARD]), 1);
			out[i].job_id = job_ids[i];
			out[i].run_lease = run_leases[i];
			out[i].unique_key = at[i].values[RR_UNIQUE_KEY];
			out[i].unique_key_null = at[i].nulls[RR_UNIQUE_KEY];
			out[i].unique_states = at[i].values[RR_UNIQUE_STATES];
			out[i].unique_states_null = at[i].nulls[RR_UNIQUE_STATES];
		}
		CommandCounterIncrement();
		AwaCounterDeltasApply(&deltas);
	}
	PopActiveSnapshot();
	return ok;
}
