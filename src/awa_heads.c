/*-------------------------------------------------------------------------
 *
 * awa_heads.c
 *	  Read-only checks of control tables without SPI: the lane heads (is
 *	  there work?) and attempt_state (is it empty?); AwaRelid, the OID of
 *	  an awa relation.
 *
 * A worker polling an empty queue is the most frequent call a job queue
 * serves.  Answering "is there anything to claim?" through a SQL statement
 * costs its executor start-up (about 0.25M instructions for the lane
 * pick, as much as an enqueue); reading the two head tables through their
 * primary keys costs a small fraction of it.  Nothing here writes or locks
 * a row: the claim statements still decide, and lock, whatever this says
 * may be there.
 *
 * Copyright (c) 2026, awa_queue developers
 *
 * IDENTIFICATION
 *	  src/awa_heads.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "storage/bufmgr.h"
#include "catalog/namespace.h"
#include "executor/tuptable.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"

#include "awa_queue.h"

/* most lanes a queue can have: every priority times every shard */
#define MAX_LANES ((AWA_PRIORITY_MAX + 1) * AWA_SHARDS_MAX)

/* one head row: the lane and its position (next_seq or claim_seq) */
typedef struct LanePosition
{
	int16		priority;
	int16		shard;
	int64		seq;
} LanePosition;

/*
 * AwaRelid
 *		The OID of relation awa.<relname>, InvalidOid when the schema or the
 *		relation does not exist.  A catalog cache lookup, no lock.
 */
Oid
AwaRelid(const char *relname)
{
	Oid			nsp = get_namespace_oid("awa", true);

	return OidIsValid(nsp) ? get_relname_relid(relname, nsp) : InvalidOid;
}

/*
 * ScanQueueHeads
 *		The head rows of one queue in table "relname" (schema awa), in
 *		primary-key order (priority, enqueue_shard), with column "seqcol"
 *		as the position.  Returns the number of rows, or -1 when the table,
 *		its primary key or a column cannot be found, or the queue has more
 *		than "max" lanes (the caller then falls back to SQL).  Takes
 *		AccessShareLock on the table and its primary key, as a SELECT would.
 */
static int
ScanQueueHeads(const char *relname, const char *seqcol, text *queue,
			   Snapshot snapshot, LanePosition *out, int max)
{
	Oid			relid = AwaRelid(relname);
	Oid			indexid;
	AttrNumber	priority_att;
	AttrNumber	shard_att;
	AttrNumber	seq_att;
	Relation	heap;
	Relation	index;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	ScanKeyData key;
	int			n = 0;

	if (!OidIsValid(relid))
		return -1;
	priority_att = get_attnum(relid, "priority");
	shard_att = get_attnum(relid, "enqueue_shard");
	seq_att = get_attnum(relid, seqcol);
	if (priority_att == InvalidAttrNumber || shard_att == InvalidAttrNumber ||
		seq_att == InvalidAttrNumber)
		return -1;

	heap = table_open(relid, AccessShareLock);
	indexid = RelationGetPrimaryKeyIndex(heap);
	if (!OidIsValid(indexid))
	{
		table_close(heap, AccessShareLock);
		return -1;
	}
	index = index_open(indexid, AccessShareLock);

	/* queue is the first key column; compare with the index's collation */
	ScanKeyEntryInitialize(&key, 0, 1, BTEqualStrategyNumber, InvalidOid,
						   index->rd_indcollation[0], F_TEXTEQ,
						   PointerGetDatum(queue));
	scan = index_beginscan(heap, index, snapshot, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	slot = table_slot_create(heap, NULL);
	while (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;

		if (n >= max)
		{
			n = -1;
			break;
		}
		out[n].priority = DatumGetInt16(slot_getattr(slot, priority_att, &isnull));
		out[n].shard = DatumGetInt16(slot_getattr(slot, shard_att, &isnull));
		out[n].seq = DatumGetInt64(slot_getattr(slot, seq_att, &isnull));
		n++;
	}
	ExecDropSingleTupleTableSlot(slot);
	index_endscan(scan);
	index_close(index, NoLock);
	table_close(heap, NoLock);
	return n;
}

/*
 * AwaQueueMayHaveWork
 *		False only when no lane of the queue has an unclaimed position
 *		(every claim_seq has reached its lane's next_seq), which is what
 *		the lane picks of awa_claim.c test first (LANE_HEADS, claim_seq <
 *		next_seq); then a claim has nothing to take and can return empty
 *		without running a statement.  True otherwise, and whenever the
 *		scan cannot answer: the claim statements decide.
 *
 * Reads with the snapshot a read-write SPI statement would take at this
 * point (a new one in READ COMMITTED, the transaction's otherwise), after
 * a command counter increment, so it sees every head a claim statement
 * run now would see, including this transaction's own enqueues.  Takes
 * AccessShareLock on the head tables and their primary keys; no row locks,
 * never waits on a row.
 */
bool
AwaQueueMayHaveWork(text *queue)
{
	LanePosition *next;
	LanePosition *claim;
	int			nnext;
	int			nclaim;
	int			i;
	int			j = 0;
	bool		work = false;

	next = palloc(sizeof(LanePosition) * MAX_LANES);
	claim = palloc(sizeof(LanePosition) * MAX_LANES);
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	nnext = ScanQueueHeads("queue_enqueue_heads", "next_seq", queue,
						   GetActiveSnapshot(), next, MAX_LANES);
	nclaim = nnext > 0 ?
		ScanQueueHeads("queue_claim_heads", "claim_seq", queue,
					   GetActiveSnapshot(), claim, MAX_LANES) : 0;
	PopActiveSnapshot();
	if (nnext < 0 || nclaim < 0)
		work = true;

	/* both lists are in (priority, shard) order: merge them */
	for (i = 0; i < nclaim && !work; i++)
	{
		while (j < nnext &&
			   (next[j].priority < claim[i].priority ||
				(next[j].priority == claim[i].priority &&
				 next[j].shard < claim[i].shard)))
			j++;
		if (j < nnext && next[j].priority == claim[i].priority &&
			next[j].shard == claim[i].shard && claim[i].seq < next[j].seq)
			work = true;
	}
	pfree(next);
	pfree(claim);
	return work;
}

/*
 * AwaAttemptStateIsEmpty
 *		True when awa.attempt_state has no page at all: no attempt has ever
 *		heartbeated, or vacuum has truncated the table since.  Then the
 *		completion leaves out its delete of heartbeat rows, whose plan is a
 *		seventh of the executor start-up of a one-job completion.  False
 *		whenever the table has a page, live rows or not (the delete then
 *		runs and finds what there is), or cannot be found.
 *
 * The same race as the delete's own snapshot: a heartbeat row committed
 * after this look is left for the orphan sweep of rescue_expired, which
 * removes rows of attempts that are no longer open.  AccessShareLock on the
 * table; reads its size, no page.
 */
bool
AwaAttemptStateIsEmpty(void)
{
	Oid			relid = AwaRelid("attempt_state");
	Relation	rel;
	bool		empty;

	if (!OidIsValid(relid))
		return false;
	rel = table_open(relid, AccessShareLock);
	empty = RelationGetNumberOfBlocks(rel) == 0;
	table_close(rel, NoLock);
	return empty;
}
