/*-------------------------------------------------------------------------
 *
 * awa_claim_direct.c
 *	  The near claim of one locked lane without the executor: read the
 *	  lane's next rows from the ready slots where they probably are, move
 *	  its claim head past them, append their receipts, and return them as
 *	  claimed jobs, with index scans and table access method calls instead
 *	  of awa_claim.c's lane_claim_near_plan.
 *
 * A claim of a few jobs is, after the enqueue, the most frequent write a
 * job queue serves.  Through SPI its statement (five CTEs over a
 * partitioned table: a merge of three partitions' index scans, an UPDATE,
 * an INSERT routed to a partition) costs about 0.6M instructions for one
 * job, nearly all of it executor start-up; the same reads and writes cost a
 * small part of that here.  The result is exactly the statement's: the
 * same rows (the lane's positions from claim_seq on, taken only when they
 * are provably the next ones), the same head update, the same receipts
 * (through the receipt appender of awa_receipts.c), the same columns.  Only
 * the common case is taken (decision 39): READ COMMITTED, every relation
 * and column where it is expected, awa.direct_writes on; otherwise AwaDirectClaimLane returns -1
 * having written nothing, and the caller runs the statements.
 *
 * Locking contract: the caller holds the lane's claim head FOR UPDATE (a
 * pick, SKIP LOCKED).  Here: AccessShareLock on awa.ready_entries and on
 * the ready partitions read (so a prune of one, SPEC 5.5, waits for this
 * transaction), RowExclusiveLock on awa.queue_claim_heads and on the
 * receipts' partition (via AwaPrepareReceipts), the ring cursor read
 * without a lock (SPEC 5.4), no other row lock.  The head row is updated
 * with heap_update under the caller's lock; receipts are appended after the
 * head, as the statement does.
 *
 * Copyright (c) 2026, awa_queue developers
 *
 * IDENTIFICATION
 *	  src/awa_claim_direct.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/jsonb.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "awa_queue.h"

/* the columns of a ready partition the claim reads, by name */
typedef enum ReadColumn
{
	RD_QUEUE,
	RD_PRIORITY,
	RD_ENQUEUE_SHARD,
	RD_LANE_SEQ,
	RD_READY_SLOT,
	RD_READY_GENERATION,
	RD_JOB_ID,
	RD_KIND,
	RD_ARGS,
	RD_ATTEMPT,
	RD_RUN_LEASE,
	RD_MAX_ATTEMPTS,
	RD_RUN_AT,
	RD_UNIQUE_KEY,
	RD_UNIQUE_STATES,
	RD_PAYLOAD,
	RD_NCOLUMNS
} ReadColumn;

/* the leading columns of the ready key, in its order (awa_queue--22.sql) */
static const char *const lane_key[4] = {
	"priority", "enqueue_shard", "queue", "lane_seq"
};

static const char *const read_column_names[RD_NCOLUMNS] = {
	"queue", "priority", "enqueue_shard", "lane_seq", "ready_slot",
	"ready_generation", "job_id", "kind", "args", "attempt", "run_lease",
	"max_attempts", "run_at", "unique_key", "unique_states", "payload"
};

/* the claim-head columns, by name */
static const char *const head_column_names[] = {
	"queue", "priority", "enqueue_shard", "claim_seq", "last_claimed_slot"
};
#define HEAD_CLAIM_SEQ		3
#define HEAD_LAST_SLOT		4

/* one ready partition's scan of the lane, from claim_seq on */
typedef struct LaneScan
{
	AwaKeyScan	ks;
	const AwaColumnMap *map;
	bool		has_row;		/* ks.slot holds the scan's current row */
	int64		seq;			/* its lane_seq */
} LaneScan;

/*
 * AwaEffectivePriority
 *		The aged priority of a row of lane priority "priority" that became
 *		runnable at run_at, as the claim statements compute it
 *		(EFFECTIVE_PRIORITY of awa_claim.c): priority minus one per full
 *		"aging_secs" waited, at least 1; the priority itself without aging.
 */
double
AwaEffectivePriority(int16 priority, TimestampTz run_at, TimestampTz now,
					 double aging_secs)
{
	if (aging_secs <= 0)
		return priority;
	return Max(1.0, priority - floor((double) (now - run_at) / USECS_PER_SEC /
									  aging_secs));
}

/*
 * BeginLaneScan
 *		Open ready partition "relid" (AccessShareLock, its primary key too)
 *		and start a scan of the lane's rows at lane_seq >= from, in lane
 *		order, with "snapshot".  False, with nothing left open, when the
 *		partition's primary key does not lead with (priority,
 *		enqueue_shard, queue, lane_seq) or a column is missing.
 */
static bool
BeginLaneScan(LaneScan *ls, Oid relid, text *queue, int16 priority,
			  int16 shard, int64 from, Snapshot snapshot)
{
	ScanKeyData keys[4];
	Relation	index;

	if (!AwaKeyScanOpen(relid, AccessShareLock, &ls->ks))
		return false;
	index = ls->ks.index;
	ls->map = AwaColumnMapFor(ls->ks.heap, read_column_names, RD_NCOLUMNS, false);
	if (!AwaKeyLeadsWith(index, lane_key, 4))
		ls->map = NULL;
	if (ls->map == NULL)
	{
		AwaKeyScanEnd(&ls->ks);
		return false;
	}
	AwaScanKeyEq(&keys[0], 1, F_INT2EQ, InvalidOid, Int16GetDatum(priority));
	AwaScanKeyEq(&keys[1], 2, F_INT2EQ, InvalidOid, Int16GetDatum(shard));
	AwaScanKeyEq(&keys[2], 3, F_TEXTEQ, index->rd_indcollation[2],
				 PointerGetDatum(queue));
	ScanKeyEntryInitialize(&keys[3], 0, 4, BTGreaterEqualStrategyNumber,
						   InvalidOid, InvalidOid, F_INT8GE, Int64GetDatum(from));
	AwaKeyScanStart(&ls->ks, keys, 4, snapshot);
	ls->has_row = false;
	return true;
}

/*
 * LaneScanNext
 *		Move the scan to its next visible row; false at its end.
 */
static bool
LaneScanNext(LaneScan *ls)
{
	bool		isnull;

	ls->has_row = index_getnext_slot(ls->ks.scan, ForwardScanDirection,
									 ls->ks.slot);
	if (ls->has_row)
		ls->seq = DatumGetInt64(slot_getattr(ls->ks.slot,
											 ls->map->attno[RD_LANE_SEQ],
											 &isnull));
	return ls->has_row;
}

/*
 * AwaLaneRankCompare
 *		qsort comparator of AwaLaneRank (or of structs that start with one):
 *		the order of the lane pick, lane_pick_plan of awa_claim.c: effective
 *		priority, then the head row's run_at, then priority and shard.
 */
int
AwaLaneRankCompare(const void *a, const void *b)
{
	const AwaLaneRank *x = (const AwaLaneRank *) a;
	const AwaLaneRank *y = (const AwaLaneRank *) b;

	if (x->effective != y->effective)
		return x->effective < y->effective ? -1 : 1;
	if (x->run_at != y->run_at)
		return x->run_at < y->run_at ? -1 : 1;
	if (x->priority != y->priority)
		return x->priority < y->priority ? -1 : 1;
	if (x->shard != y->shard)
		return x->shard < y->shard ? -1 : 1;
	return 0;
}

/*
 * AwaAddNearSlot
 *		Add a ready slot to the set slots[0..*n-1] (room for
 *		AWA_NEAR_SLOTS_MAX) unless present; false when it would not fit.
 */
bool
AwaAddNearSlot(int32 *slots, int *n, int32 slot)
{
	int			i;

	for (i = 0; i < *n; i++)
		if (slots[i] == slot)
			return true;
	if (*n == AWA_NEAR_SLOTS_MAX)
		return false;
	slots[(*n)++] = slot;
	return true;
}

/*
 * AwaLaneHeadRunAt
 *		The run_at of the lane's row at position "seq", looked up in the
 *		ready slots slots[0..nslots-1] only, as lane_heads_near_plan of
 *		awa_claim.c looks a candidate lane's head up: true with *run_at set
 *		when one of them holds that row (visible to "snapshot") with a
 *		run_at; false when none does (the row lives in another slot, or
 *		was deleted) or a partition cannot be scanned.  AccessShareLock on
 *		the partitions it reads and their primary keys; no row lock.
 */
bool
AwaLaneHeadRunAt(text *queue, int16 priority, int16 shard, int64 seq,
				 const int32 *slots, int nslots, Snapshot snapshot,
				 TimestampTz *run_at)
{
	int			i;

	for (i = 0; i < nslots; i++)
	{
		LaneScan	ls;
		Oid			relid;
		bool		found = false;
		int			j;
		bool		seen = false;

		for (j = 0; j < i; j++)
			seen |= slots[j] == slots[i];
		if (seen)
			continue;
		relid = AwaRelid(psprintf("ready_entries_%d", slots[i]));
		if (!OidIsValid(relid) ||
			!BeginLaneScan(&ls, relid, queue, priority, shard, seq, snapshot))
			return false;
		if (LaneScanNext(&ls) && ls.seq == seq)
		{
			bool		isnull;
			Datum		value = slot_getattr(ls.ks.slot,
											 ls.map->attno[RD_RUN_AT],
											 &isnull);

			found = !isnull;
			if (found)
				*run_at = DatumGetTimestampTz(value);
		}
		AwaKeyScanEnd(&ls.ks);
		if (found)
			return true;
	}
	return false;
}

/*
 * TagsArray
 *		payload -> 'tags' as the claim statement returns it
 *		(ARRAY(SELECT jsonb_array_elements_text(...))): strings as text,
 *		JSON nulls as NULL, other values as their JSON text; an empty array
 *		when the payload has no tags.
 */
static Datum
TagsArray(Jsonb *payload)
{
	JsonbValue	tags;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	Datum	   *elems;
	bool	   *nulls;
	int			n = 0;
	int			dims[1];
	int			lbs[1] = {1};

	if (payload == NULL ||
		getKeyJsonValueFromContainer(&payload->root, "tags", 4, &tags) == NULL)
		return PointerGetDatum(construct_empty_array(TEXTOID));
	if (tags.type != jbvBinary || !JsonContainerIsArray(tags.val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot extract elements from a non-array tags value")));
	elems = palloc(sizeof(Datum) * Max(JsonContainerSize(tags.val.binary.data), 1));
	nulls = palloc(sizeof(bool) * Max(JsonContainerSize(tags.val.binary.data), 1));
	it = JsonbIteratorInit(tags.val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		nulls[n] = v.type == jbvNull;
		if (v.type == jbvString)
			elems[n] = PointerGetDatum(cstring_to_text_with_len(v.val.string.val,
																v.val.string.len));
		else if (v.type != jbvNull)
			elems[n] = CStringGetTextDatum(JsonbToCString(NULL,
														  &JsonbValueToJsonb(&v)->root,
														  0));
		n++;
	}
	if (n == 0)
		return PointerGetDatum(construct_empty_array(TEXTOID));
	dims[0] = n;
	return PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs, TEXTOID,
											  -1, false, TYPALIGN_INT));
}

/*
 * MetadataOf
 *		COALESCE(payload -> 'metadata', '{}'), as the claim statement
 *		returns it; "empty" is the '{}' document.
 */
static Datum
MetadataOf(Jsonb *payload, Datum empty)
{
	JsonbValue	meta;

	if (payload == NULL ||
		getKeyJsonValueFromContainer(&payload->root, "metadata", 8, &meta) == NULL)
		return empty;
	return JsonbPGetDatum(JsonbValueToJsonb(&meta));
}

/*
 * AdvanceClaimHead
 *		claim_seq = GREATEST(claim_seq, next_claim_seq), last_claimed_slot =
 *		last_slot on the lane's claim-head row, which the caller holds
 *		FOR UPDATE: its version visible to "snapshot" (taken after the
 *		lock, so the latest) is found from the version remembered for the
 *		lane (the one the lock took) or through the primary key, and updated
 *		with heap_update, its index entries added when the update is not
 *		heap-only.  False, with nothing written, when the row or a column
 *		cannot be found.  RowExclusiveLock on the table, as an UPDATE takes.
 */
static bool
AdvanceClaimHead(text *queue, int16 priority, int16 shard, int64 next_claim_seq,
				 int32 last_slot, Snapshot snapshot, EState *estate)
{
	Oid			relid = AwaRelid("queue_claim_heads");
	AwaKeyScan	ks;
	const AwaColumnMap *map;
	ScanKeyData keys[3];
	bool		found;

	if (!OidIsValid(relid) || !AwaKeyScanOpen(relid, RowExclusiveLock, &ks))
		return false;
	map = AwaColumnMapFor(ks.heap, head_column_names, lengthof(head_column_names),
						  false);
	if (map == NULL)
	{
		AwaKeyScanEnd(&ks);
		return false;
	}
	ks.slot = table_slot_create(ks.heap, NULL);
	found = AwaFetchRememberedLaneRow(ks.heap, -1, queue, priority, shard,
									  snapshot, ks.slot);
	if (!found)
	{
		AwaScanKeyEq(&keys[0], 1, F_TEXTEQ, ks.index->rd_indcollation[0],
					 PointerGetDatum(queue));
		AwaScanKeyEq(&keys[1], 2, F_INT2EQ, InvalidOid, Int16GetDatum(priority));
		AwaScanKeyEq(&keys[2], 3, F_INT2EQ, InvalidOid, Int16GetDatum(shard));
		AwaKeyScanStart(&ks, keys, 3, snapshot);
		found = index_getnext_slot(ks.scan, ForwardScanDirection, ks.slot);
	}
	if (found)
	{
		bool		isnull;
		bool		should_free;
		HeapTuple	oldtup = ExecFetchSlotHeapTuple(ks.slot, false, &should_free);
		ItemPointerData tid = ks.slot->tts_tid;
		int64		old_seq = DatumGetInt64(slot_getattr(ks.slot,
														 map->attno[HEAD_CLAIM_SEQ],
														 &isnull));
		int			cols[2];
		Datum		values[2];
		bool		nulls[2] = {false, false};
		HeapTuple	newtup;
		TM_FailureData tmfd;
		LockTupleMode lockmode;
		TM_Result	result;

		cols[0] = map->attno[HEAD_CLAIM_SEQ];
		cols[1] = map->attno[HEAD_LAST_SLOT];
		values[0] = Int64GetDatum(Max(old_seq, next_claim_seq));
		values[1] = Int32GetDatum(last_slot);
		newtup = heap_modify_tuple_by_cols(oldtup, RelationGetDescr(ks.heap), 2,
										   cols, values, nulls);
		result = heap_update(ks.heap, &tid, newtup, GetCurrentCommandId(true),
							 InvalidSnapshot, true, &tmfd, &lockmode);
		if (result != TM_Ok)
			elog(ERROR, "awa_queue: unexpected result %d updating a locked claim head",
				 (int) result);
		AwaIndexUpdatedRow(ks.heap, newtup, estate);
		AwaRememberLaneRow(relid, -1, queue, priority, shard, &newtup->t_self);
		if (should_free)
			heap_freetuple(oldtup);
	}
	AwaKeyScanEnd(&ks);
	return found;
}

/*
 * AwaDirectClaimLane
 *		The near claim of lane_claim_near_plan for the lane the caller
 *		holds: the lane's rows at lane_seq >= claim_seq in the ready slots
 *		near_slots[] (merged in lane order, at most max_jobs), taken only
 *		when they are provably the lane's next ones (consecutive from
 *		claim_seq, and max_jobs of them or reaching the committed next_seq);
 *		then the claim head advanced past them, their receipts appended in
 *		the current claim slot (run_lease + 1, attempt + 1, deadline_at =
 *		now + deadline, the aged priority), and *rows set to the claimed
 *		jobs in lane order (awa.claimed_job columns, the unique mask,
 *		lane_seq; palloc'd in the current context).
 *
 *		Returns the number of jobs claimed; 0 when the rows found are not
 *		provably the next ones (the caller runs the general claim); -1 when
 *		the direct claim does not apply (see the file header: the caller
 *		runs the statements).  Nothing is written unless it returns > 0.
 *		Locking contract in the file header.
 */
int
AwaDirectClaimLane(text *queue, const AwaClaimLane *lane, int32 max_jobs,
				   TimestampTz now, double aging_secs, Datum deadline,
				   AwaClaimedRow **rows)
{
	Oid			ready_relid = AwaRelid("ready_entries");
	LaneScan	scans[3];
	int			nscans = 0;
	HeapTuple  *taken;
	LaneScan  **taken_from;
	int			ntaken = 0;
	bool		provable = true;
	bool		ok = true;
	int32		claim_slot;
	int64		generation;
	Snapshot	snapshot;
	int			i;

	if (!awa_direct_writes || IsolationUsesXactSnapshot() ||
		!OidIsValid(ready_relid))
		return -1;
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	snapshot = GetActiveSnapshot();
	if (!AwaClaimRingCursor(snapshot, &claim_slot, &generation))
	{
		PopActiveSnapshot();
		return -1;
	}
	table_close(table_open(ready_relid, AccessShareLock), NoLock);
	for (i = 0; i < 3 && ok; i++)
	{
		int32		slot = lane->near_slots[i];
		Oid			relid;
		int			j;
		bool		seen = false;

		for (j = 0; j < i; j++)
			seen |= lane->near_slots[j] == slot;
		if (seen)
			continue;
		relid = AwaRelid(psprintf("ready_entries_%d", slot));
		ok = OidIsValid(relid) &&
			BeginLaneScan(&scans[nscans], relid, queue, lane->priority,
						  lane->shard, lane->claim_seq, snapshot);
		if (ok && LaneScanNext(&scans[nscans]))
			nscans++;
		else if (ok)
			AwaKeyScanEnd(&scans[nscans].ks);
	}

	/* merge the scans in lane order while the positions are consecutive */
	taken = palloc(sizeof(HeapTuple) * max_jobs);
	taken_from = palloc(sizeof(LaneScan *) * max_jobs);
	while (ok && ntaken < max_jobs)
	{
		LaneScan   *best = NULL;

		for (i = 0; i < nscans; i++)
			if (scans[i].has_row && (best == NULL || scans[i].seq < best->seq))
				best = &scans[i];
		if (best == NULL)
			break;
		if (best->seq != lane->claim_seq + ntaken)
		{
			provable = false;
			break;
		}
		taken_from[ntaken] = best;
		taken[ntaken++] = ExecCopySlotHeapTuple(best->ks.slot);
		LaneScanNext(best);
	}
	if (ntaken == 0 ||
		(ntaken < max_jobs && lane->claim_seq + ntaken != lane->next_seq))
		provable = false;

	if (ok && provable)
	{
		AwaReceiptRow *receipts = palloc0(sizeof(AwaReceiptRow) * ntaken);
		AwaClaimedRow *out = palloc0(sizeof(AwaClaimedRow) * ntaken);
		Datum		empty = DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"));
		TimestampTz deadline_at =
			DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
													TimestampTzGetDatum(now),
													deadline));
		AwaAppend  *ra;
		EState	   *estate;

		/*
		 * Every row and receipt first (the aged priority may not fit a
		 * smallint), so that nothing is written when one cannot be.
		 */
		for (i = 0; i < ntaken; i++)
		{
			AwaReceiptRow *r = &receipts[i];
			AwaClaimedRow *c = &out[i];
			const AwaColumnMap *map = taken_from[i]->map;
			TupleDesc	desc = RelationGetDescr(taken_from[i]->ks.heap);
			Datum	   *values = palloc(sizeof(Datum) * desc->natts);
			bool	   *nulls = palloc(sizeof(bool) * desc->natts);
			Jsonb	   *payload;
			double		effective;

#define COL(name) values[map->attno[name] - 1]
#define ISNULL(name) nulls[map->attno[name] - 1]
			heap_deform_tuple(taken[i], desc, values, nulls);
			effective = ISNULL(RD_RUN_AT) ? DatumGetInt16(COL(RD_PRIORITY)) :
				AwaEffectivePriority(DatumGetInt16(COL(RD_PRIORITY)),
									 DatumGetTimestampTz(COL(RD_RUN_AT)), now,
									 aging_secs);
			if (effective > PG_INT16_MAX)
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("smallint out of range")));
			r->job_id = DatumGetInt64(COL(RD_JOB_ID));
			r->run_lease = DatumGetInt64(COL(RD_RUN_LEASE)) + 1;
			r->ready_slot = DatumGetInt32(COL(RD_READY_SLOT));
			r->ready_generation = DatumGetInt64(COL(RD_READY_GENERATION));
			r->kind = COL(RD_KIND);
			r->queue = COL(RD_QUEUE);
			r->priority = DatumGetInt16(COL(RD_PRIORITY));
			r->effective_priority = (int16) effective;
			r->attempt = DatumGetInt16(COL(RD_ATTEMPT)) + 1;
			r->max_attempts = DatumGetInt16(COL(RD_MAX_ATTEMPTS));
			r->lane_seq = DatumGetInt64(COL(RD_LANE_SEQ));
			r->enqueue_shard = DatumGetInt16(COL(RD_ENQUEUE_SHARD));
			r->claimed_at = now;
			r->deadline_at = deadline_at;
			r->unique_key = COL(RD_UNIQUE_KEY);
			r->unique_key_null = ISNULL(RD_UNIQUE_KEY);
			r->unique_states = COL(RD_UNIQUE_STATES);
			r->unique_states_null = ISNULL(RD_UNIQUE_STATES);
			payload = ISNULL(RD_PAYLOAD) ? NULL : DatumGetJsonbP(COL(RD_PAYLOAD));

			c->values[0] = Int64GetDatum(r->job_id);
			c->values[1] = Int64GetDatum(r->run_lease);
			c->values[2] = r->kind;
			c->values[3] = r->queue;
			c->values[4] = COL(RD_ARGS);
			c->nulls[4] = ISNULL(RD_ARGS);
			c->values[5] = Int16GetDatum(r->priority);
			c->values[6] = Int16GetDatum(r->attempt);
			c->values[7] = Int16GetDatum(r->max_attempts);
			c->values[8] = MetadataOf(payload, empty);
			c->values[9] = TagsArray(payload);
			c->values[10] = TimestampTzGetDatum(now);
			c->values[11] = TimestampTzGetDatum(deadline_at);
			c->values[12] = Int32GetDatum(claim_slot);
			c->values[13] = Int16GetDatum(r->effective_priority);
			c->values[14] = r->unique_key;
			c->nulls[14] = r->unique_key_null;
			c->values[15] = r->unique_states;
			c->nulls[15] = r->unique_states_null;
			c->values[16] = Int64GetDatum(r->lane_seq);
#undef COL
#undef ISNULL
		}
		ra = AwaPrepareReceipts(claim_slot, receipts, ntaken);
		estate = CreateExecutorState();
		ok = ra != NULL &&
			AdvanceClaimHead(queue, lane->priority, lane->shard,
							 receipts[ntaken - 1].lane_seq + 1,
							 receipts[ntaken - 1].ready_slot, snapshot, estate);
		if (ra != NULL)
			AwaAppendFinish(ra, ok);
		FreeExecutorState(estate);
		if (ok)
		{
			CommandCounterIncrement();
			*rows = out;
			awa_backend_stats.claim_direct_lanes++;
		}
	}
	for (i = 0; i < nscans; i++)
		AwaKeyScanEnd(&scans[i].ks);
	PopActiveSnapshot();
	if (!ok)
		return -1;
	return provable ? ntaken : 0;
}
