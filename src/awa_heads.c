/*-------------------------------------------------------------------------
 *
 * awa_heads.c
 *	  The first pick of a claim and reads, without SPI: the lane heads (is
 *	  there work? lock the only lane that has some; where is a lane's
 *	  enqueue head?), attempt_state (is it empty?), a queue's enqueue
 *	  shards, the ring cursors; AwaRelid, the OID of an awa relation; the
 *	  enqueue-head versions this backend wrote last.
 *
 * A worker polling an empty queue is the most frequent call a job queue
 * serves, and a claim of a queue with one lane the next.  Answering them
 * through a SQL statement costs its executor start-up (about 0.25M
 * instructions for the lane pick, as much as an enqueue); reading the head
 * tables through their primary keys, and locking the one claim head with
 * table_tuple_lock as LockRows would, costs a fraction of it.  Nothing here
 * writes a row; the only lock taken is that claim head's, FOR UPDATE SKIP
 * LOCKED, in READ COMMITTED.
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
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/itup.h"
#include "access/relscan.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "executor/tuptable.h"
#include "storage/bufmgr.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "awa_queue.h"

/* most lanes a queue can have: every priority times every shard */
#define MAX_LANES ((AWA_PRIORITY_MAX + 1) * AWA_SHARDS_MAX)

/* one head row: the lane, its position (next_seq or claim_seq) and more */
typedef struct LanePosition
{
	int16		priority;
	int16		shard;
	int64		seq;
	int32		last_slot;		/* last_claimed_slot, -1 when NULL or not read */
	ItemPointerData tid;		/* the row version the snapshot saw */
} LanePosition;

/*
 * OIDs of awa relations by name, remembered until the next change to
 * pg_class or pg_namespace (any one: a drop, a rename, the new file of a
 * TRUNCATE, a cache reset), so that the hot path's dozen lookups per call
 * do not each search two catalog caches.
 */
typedef struct RelidEntry
{
	char		relname[NAMEDATALEN];	/* hash key */
	Oid			relid;
} RelidEntry;

static HTAB *relid_cache = NULL;
static bool relid_callbacks_registered = false;

/* syscache invalidation callback: forget every remembered OID */
static void
RelidCacheForget(Datum arg, int cacheid, uint32 hashvalue)
{
	if (relid_cache != NULL)
	{
		hash_destroy(relid_cache);
		relid_cache = NULL;
	}
}

/*
 * AwaRelid
 *		The OID of relation awa.<relname>, InvalidOid when the schema or the
 *		relation does not exist.  A catalog lookup the first time (a miss is
 *		never remembered), a hash lookup afterwards.  No lock.
 */
Oid
AwaRelid(const char *relname)
{
	RelidEntry *entry;
	bool		found;
	Oid			nsp;
	Oid			relid;

	if (strlen(relname) >= NAMEDATALEN)
		return InvalidOid;
	if (!relid_callbacks_registered)
	{
		CacheRegisterSyscacheCallback(RELNAMENSP, RelidCacheForget, (Datum) 0);
		CacheRegisterSyscacheCallback(NAMESPACENAME, RelidCacheForget, (Datum) 0);
		relid_callbacks_registered = true;
	}
	if (relid_cache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = NAMEDATALEN;
		ctl.entrysize = sizeof(RelidEntry);
		relid_cache = hash_create("awa relation OIDs", 64, &ctl,
								  HASH_ELEM | HASH_STRINGS);
	}
	entry = hash_search(relid_cache, relname, HASH_FIND, NULL);
	if (entry != NULL)
		return entry->relid;
	nsp = get_namespace_oid("awa", true);
	relid = OidIsValid(nsp) ? get_relname_relid(relname, nsp) : InvalidOid;
	if (OidIsValid(relid) && relid_cache != NULL)
	{
		entry = hash_search(relid_cache, relname, HASH_ENTER, &found);
		entry->relid = relid;
	}
	return relid;
}

/*
 * AwaOpenWithPrimaryKey
 *		Open table "relid" with "lockmode" and its primary key with
 *		AccessShareLock, as a statement reading the table through that key
 *		would.  False, with nothing left open, when the table has no primary
 *		key.  The caller closes both with NoLock: the locks stay until the
 *		end of the transaction.
 */
bool
AwaOpenWithPrimaryKey(Oid relid, LOCKMODE lockmode, Relation *heap, Relation *index)
{
	Oid			indexid;

	*heap = table_open(relid, lockmode);
	indexid = RelationGetPrimaryKeyIndex(*heap);
	if (!OidIsValid(indexid))
	{
		table_close(*heap, lockmode);
		return false;
	}
	*index = index_open(indexid, AccessShareLock);
	return true;
}

/*
 * AwaKeyLeadsWith
 *		Whether index "index" has at least n key columns and its first n are
 *		the table columns names[0..n-1], in that order.  The direct paths
 *		check the key they scan with this before they build scan keys by
 *		position; no lock, no read.
 */
bool
AwaKeyLeadsWith(Relation index, const char *const *names, int n)
{
	TupleDesc	desc = RelationGetDescr(index);
	int			i;

	if (index->rd_index->indnkeyatts < n)
		return false;
	for (i = 0; i < n; i++)
		if (index->rd_index->indkey.values[i] == 0 ||
			strcmp(NameStr(TupleDescAttr(desc, i)->attname), names[i]) != 0)
			return false;
	return true;
}

/*
 * AwaKeyScanOpen
 *		Open table "relid" with "lockmode" and its primary key with
 *		AccessShareLock (AwaOpenWithPrimaryKey) for scans through that key;
 *		the caller builds its keys (with the index's collations) and calls
 *		AwaKeyScanStart.  False, with nothing left open, when the table has
 *		no primary key.
 */
bool
AwaKeyScanOpen(Oid relid, LOCKMODE lockmode, AwaKeyScan *ks)
{
	ks->scan = NULL;
	ks->slot = NULL;
	return AwaOpenWithPrimaryKey(relid, lockmode, &ks->heap, &ks->index);
}

/*
 * AwaScanKeyEq
 *		Key "attno" (of the index) = value, compared with "eqproc" and
 *		"collation" (InvalidOid for types without one).
 */
void
AwaScanKeyEq(ScanKey key, AttrNumber attno, RegProcedure eqproc, Oid collation,
			 Datum value)
{
	ScanKeyEntryInitialize(key, 0, attno, BTEqualStrategyNumber, InvalidOid,
						   collation, eqproc, value);
}

/*
 * AwaKeyScanStart
 *		Start the scan with these keys and "snapshot", or restart it with
 *		new values of as many keys; rows come with index_getnext_slot(
 *		ks->scan, ForwardScanDirection, ks->slot).
 */
void
AwaKeyScanStart(AwaKeyScan *ks, ScanKey keys, int nkeys, Snapshot snapshot)
{
	if (ks->scan == NULL)
		ks->scan = index_beginscan(ks->heap, ks->index, snapshot, nkeys, 0);
	if (ks->slot == NULL)
		ks->slot = table_slot_create(ks->heap, NULL);
	index_rescan(ks->scan, keys, nkeys, NULL, 0);
}

/*
 * AwaKeyScanEnd
 *		End a scan opened by AwaKeyScanOpen; the locks stay until the end of
 *		the transaction.
 */
void
AwaKeyScanEnd(AwaKeyScan *ks)
{
	if (ks->slot != NULL)
		ExecDropSingleTupleTableSlot(ks->slot);
	if (ks->scan != NULL)
		index_endscan(ks->scan);
	index_close(ks->index, NoLock);
	table_close(ks->heap, NoLock);
}

/*
 * BeginQueueKeyScan
 *		Open table "relid" and its primary key (AccessShareLock each, as a
 *		SELECT takes) and start a scan of the rows whose first key column,
 *		the queue name, equals "queue", compared with the index's
 *		collation; the scan returns each index tuple too (scan->xs_itup).
 *		False when the table has no primary key.
 */
static bool
BeginQueueKeyScan(Oid relid, text *queue, Snapshot snapshot, AwaKeyScan *ks)
{
	ScanKeyData key;

	if (!AwaKeyScanOpen(relid, AccessShareLock, ks))
		return false;
	AwaScanKeyEq(&key, 1, F_TEXTEQ, ks->index->rd_indcollation[0],
				 PointerGetDatum(queue));
	/* asked before the first rescan, where the B-tree sets up for it */
	ks->scan = index_beginscan(ks->heap, ks->index, snapshot, 1, 0);
	ks->scan->xs_want_itup = true;
	AwaKeyScanStart(ks, &key, 1, snapshot);
	return true;
}

/*
 * Head and counter row versions, remembered by lane.  A head row gets a new
 * version on every enqueue (claim) of its lane, a live counter row on every
 * terminal write of its lane and ready slot, and a primary-key lookup walks the
 * row's HOT chain from its root, the one TID the index holds, through every
 * version not pruned yet: with fillfactor 50 (SPEC §2) a page gathers some
 * fifty before it is pruned, and these walks were a fifth of a one-job
 * cycle's instructions.  So each backend remembers, for the last lanes it
 * met, the version of each head row it last found, locked or wrote
 * (AwaRememberLaneRow), and looks there first (AwaFetchRememberedLaneRow): that
 * version when the snapshot sees it, else the one reached by following its
 * updates (table_tuple_get_latest_tid, which checks that each step
 * continues the one before).  What is found counts only when the snapshot
 * sees it and it is the lane's row (queue, priority and shard compared: a
 * pruned line pointer can be reused by any row of the page); one version
 * of a row is visible to a snapshot, so it is then exactly the version the
 * lookup would return.  Otherwise the lookup decides, as before (design
 * decision 42).
 */
#define REMEMBERED_LANE_ROWS 16

typedef struct RememberedLaneRow
{
	Oid			relid;			/* a head or counter table; InvalidOid: free */
	int32		ready_slot;		/* a counter row's slot; -1 for a head */
	int16		priority;
	int16		shard;
	ItemPointerData tid;
	int			queue_len;
	char		queue[AWA_NAME_MAX_BYTES];
} RememberedLaneRow;

static RememberedLaneRow remembered_lane_rows[REMEMBERED_LANE_ROWS];
static int	remembered_next;	/* the entry to reuse next */

/* the entry of a lane's row (of "ready_slot", -1 for a head) in table "relid", or NULL */
static RememberedLaneRow *
FindRememberedLaneRow(Oid relid, int32 ready_slot, text *queue, int16 priority,
				   int16 shard)
{
	int			len = VARSIZE_ANY_EXHDR(queue);
	int			i;

	for (i = 0; i < REMEMBERED_LANE_ROWS; i++)
	{
		RememberedLaneRow *e = &remembered_lane_rows[i];

		if (e->relid == relid && e->ready_slot == ready_slot &&
			e->priority == priority && e->shard == shard && e->queue_len == len &&
			memcmp(e->queue, VARDATA_ANY(queue), len) == 0)
			return e;
	}
	return NULL;
}

/*
 * AwaRememberLaneRow
 *		Note "tid" as the version of the lane's row in table "relid" (a head
 *		table, ready_slot -1; or the live counters, the row of "ready_slot")
 *		this backend found, locked or wrote last.  No lock, no read.
 */
void
AwaRememberLaneRow(Oid relid, int32 ready_slot, text *queue, int16 priority,
				   int16 shard, ItemPointer tid)
{
	RememberedLaneRow *e = FindRememberedLaneRow(relid, ready_slot, queue, priority,
										   shard);
	int			len = VARSIZE_ANY_EXHDR(queue);

	if (len > AWA_NAME_MAX_BYTES)
		return;
	if (e == NULL)
	{
		e = &remembered_lane_rows[remembered_next];
		remembered_next = (remembered_next + 1) % REMEMBERED_LANE_ROWS;
		e->relid = relid;
		e->ready_slot = ready_slot;
		e->priority = priority;
		e->shard = shard;
		e->queue_len = len;
		memcpy(e->queue, VARDATA_ANY(queue), len);
	}
	e->tid = *tid;
}

/* whether the row in "slot" (of table "rel") is the lane's (and ready_slot's) */
static bool
SlotIsLane(Relation rel, TupleTableSlot *slot, int32 ready_slot, text *queue,
		   int16 priority, int16 shard)
{
	Oid			relid = RelationGetRelid(rel);
	AttrNumber	queue_att = AwaAttnum(relid, "queue");
	AttrNumber	priority_att = AwaAttnum(relid, "priority");
	AttrNumber	shard_att = AwaAttnum(relid, "enqueue_shard");
	bool		isnull;
	text	   *q;

	if (queue_att == InvalidAttrNumber || priority_att == InvalidAttrNumber ||
		shard_att == InvalidAttrNumber ||
		DatumGetInt16(slot_getattr(slot, priority_att, &isnull)) != priority ||
		DatumGetInt16(slot_getattr(slot, shard_att, &isnull)) != shard)
		return false;
	if (ready_slot >= 0)
	{
		AttrNumber	slot_att = AwaAttnum(relid, "ready_slot");

		if (slot_att == InvalidAttrNumber ||
			DatumGetInt32(slot_getattr(slot, slot_att, &isnull)) != ready_slot)
			return false;
	}
	q = DatumGetTextPP(slot_getattr(slot, queue_att, &isnull));
	return VARSIZE_ANY_EXHDR(q) == VARSIZE_ANY_EXHDR(queue) &&
		memcmp(VARDATA_ANY(q), VARDATA_ANY(queue), VARSIZE_ANY_EXHDR(queue)) == 0;
}

/*
 * AwaFetchRememberedLaneRow
 *		Into "slot" (of table "rel": a head table, ready_slot -1, or the
 *		live counters), the version of the lane's row the snapshot sees,
 *		found from the version remembered for it (see above);
 *		false when none is remembered or it does not lead to one.  Prunes
 *		the page first when due, as an index fetch would, so that the heads
 *		keep their heap-only updates when nothing else reads them.  No lock
 *		beyond the caller's.
 */
bool
AwaFetchRememberedLaneRow(Relation rel, int32 ready_slot, text *queue,
						  int16 priority, int16 shard, Snapshot snapshot,
						  TupleTableSlot *slot)
{
	RememberedLaneRow *e = FindRememberedLaneRow(RelationGetRelid(rel), ready_slot,
										   queue, priority, shard);
	ItemPointerData tid;
	Buffer		buffer;
	bool		found;

	if (e == NULL ||
		ItemPointerGetBlockNumber(&e->tid) >= RelationGetNumberOfBlocks(rel))
		return false;
	tid = e->tid;
	buffer = ReadBuffer(rel, ItemPointerGetBlockNumber(&tid));
	heap_page_prune_opt(rel, buffer);
	ReleaseBuffer(buffer);
	found = table_tuple_fetch_row_version(rel, &tid, snapshot, slot);
	if (!found)
	{
		TableScanDesc scan = table_beginscan_tid(rel, snapshot);

		table_tuple_get_latest_tid(scan, &tid);
		table_endscan(scan);
		found = !ItemPointerEquals(&tid, &e->tid) &&
			table_tuple_fetch_row_version(rel, &tid, snapshot, slot);
	}
	return found && SlotIsLane(rel, slot, ready_slot, queue, priority, shard);
}

/* the index column of heap column "att", 0 when the index has none */
static int
IndexColumnOf(Relation index, AttrNumber att)
{
	int			i;

	for (i = 0; i < index->rd_index->indnatts; i++)
		if (index->rd_index->indkey.values[i] == att)
			return i + 1;
	return 0;
}

/*
 * ScanQueueHeads
 *		The head rows of one queue in table "relname" (schema awa), in
 *		primary-key order (priority, enqueue_shard), with column "seqcol"
 *		as the position and, when "lastcol" is not NULL, that column as
 *		last_slot.  Returns the number of rows, or -1 when the table, its
 *		primary key or a column cannot be found, or the queue has more
 *		than "max" lanes (the caller then falls back to SQL).  Each row is
 *		the version the snapshot sees, found from the version remembered
 *		for its lane (AwaFetchRememberedLaneRow) or by the index fetch.
 *		Takes AccessShareLock on the table and its primary key, as a SELECT
 *		would.
 */
static int
ScanQueueHeads(const char *relname, const char *seqcol, const char *lastcol,
			   text *queue, Snapshot snapshot, LanePosition *out, int max)
{
	Oid			relid = AwaRelid(relname);
	AttrNumber	priority_att;
	AttrNumber	shard_att;
	AttrNumber	seq_att;
	AttrNumber	last_att = InvalidAttrNumber;
	int			priority_col;
	int			shard_col;
	AwaKeyScan	ks;
	int			n = 0;

	if (!OidIsValid(relid))
		return -1;
	priority_att = AwaAttnum(relid, "priority");
	shard_att = AwaAttnum(relid, "enqueue_shard");
	seq_att = AwaAttnum(relid, seqcol);
	if (lastcol != NULL)
		last_att = AwaAttnum(relid, lastcol);
	if (priority_att == InvalidAttrNumber || shard_att == InvalidAttrNumber ||
		seq_att == InvalidAttrNumber ||
		(lastcol != NULL && last_att == InvalidAttrNumber))
		return -1;
	if (!BeginQueueKeyScan(relid, queue, snapshot, &ks))
		return -1;
	priority_col = IndexColumnOf(ks.index, priority_att);
	shard_col = IndexColumnOf(ks.index, shard_att);
	while (index_getnext_tid(ks.scan, ForwardScanDirection) != NULL)
	{
		bool		isnull;
		int16		priority;
		int16		shard;

		/* the entry's lane (the scan key fixes the queue) */
		if (ks.scan->xs_itup == NULL || priority_col == 0 || shard_col == 0)
		{
			n = -1;
			break;
		}
		priority = DatumGetInt16(index_getattr(ks.scan->xs_itup, priority_col,
											   ks.scan->xs_itupdesc, &isnull));
		shard = DatumGetInt16(index_getattr(ks.scan->xs_itup, shard_col,
											ks.scan->xs_itupdesc, &isnull));
		if (!AwaFetchRememberedLaneRow(ks.heap, -1, queue, priority, shard,
									   snapshot, ks.slot) &&
			!index_fetch_heap(ks.scan, ks.slot))
			continue;
		AwaRememberLaneRow(relid, -1, queue, priority, shard, &ks.slot->tts_tid);

		/*
		 * A row with two index entries (after an update that was not
		 * heap-only) is found from both when its version is remembered;
		 * the entries are adjacent.
		 */
		if (n > 0 && out[n - 1].priority == priority && out[n - 1].shard == shard)
			continue;
		if (n >= max)
		{
			n = -1;
			break;
		}
		out[n].priority = priority;
		out[n].shard = shard;
		out[n].seq = DatumGetInt64(slot_getattr(ks.slot, seq_att, &isnull));
		out[n].last_slot = -1;
		if (lastcol != NULL)
		{
			Datum		last = slot_getattr(ks.slot, last_att, &isnull);

			if (!isnull)
				out[n].last_slot = DatumGetInt32(last);
		}
		out[n].tid = ks.slot->tts_tid;
		n++;
	}
	AwaKeyScanEnd(&ks);
	return n;
}

/* a lane with an unclaimed position: its claim head and its next_seq */
typedef struct CandidateLane
{
	AwaLaneRank rank;			/* first: sorted with AwaLaneRankCompare */
	LanePosition claim;			/* claim_seq, last_claimed_slot, row version */
	int64		next_seq;
} CandidateLane;

/*
 * LaneIsVisited
 *		True when the lane is in visited[] (priority * 100 + shard, as the
 *		claim loop records the lanes it took from).
 */
static bool
LaneIsVisited(int16 priority, int16 shard, const Datum *visited, int nvisited)
{
	int32		key = (int32) priority * 100 + shard;
	int			i;

	for (i = 0; i < nvisited; i++)
		if (DatumGetInt32(visited[i]) == key)
			return true;
	return false;
}

/*
 * CandidateLanes
 *		The lanes of a queue with an unclaimed position (claim_seq <
 *		next_seq, the LANE_HEADS test of awa_claim.c) as the snapshot sees
 *		them, leaving out the visited ones, in (priority, shard) order, in
 *		a palloc'd *out: their count, or -1 when the scans cannot answer.
 */
static int
CandidateLanes(text *queue, Snapshot snapshot, const Datum *visited,
			   int nvisited, CandidateLane **out)
{
	LanePosition *next = palloc(sizeof(LanePosition) * MAX_LANES);
	LanePosition *claim = palloc(sizeof(LanePosition) * MAX_LANES);
	int			nnext;
	int			nclaim = 0;
	int			candidates = 0;
	int			i;
	int			j = 0;

	nnext = ScanQueueHeads("queue_enqueue_heads", "next_seq", NULL, queue,
						   snapshot, next, MAX_LANES);
	if (nnext > 0)
		nclaim = ScanQueueHeads("queue_claim_heads", "claim_seq",
								"last_claimed_slot", queue, snapshot, claim,
								MAX_LANES);
	if (nnext < 0 || nclaim < 0)
		candidates = -1;
	*out = palloc(sizeof(CandidateLane) * Max(nclaim, 1));

	/* both lists are in (priority, shard) order: merge them */
	for (i = 0; i < nclaim && candidates >= 0; i++)
	{
		while (j < nnext &&
			   (next[j].priority < claim[i].priority ||
				(next[j].priority == claim[i].priority &&
				 next[j].shard < claim[i].shard)))
			j++;
		if (j < nnext && next[j].priority == claim[i].priority &&
			next[j].shard == claim[i].shard && claim[i].seq < next[j].seq &&
			!LaneIsVisited(claim[i].priority, claim[i].shard, visited, nvisited))
		{
			(*out)[candidates].claim = claim[i];
			(*out)[candidates].next_seq = next[j].seq;
			candidates++;
		}
	}
	pfree(next);
	pfree(claim);
	return candidates;
}

/*
 * RingCursor
 *		Current slot and generation of ring-state table awa.<relname> as the
 *		snapshot sees them (0 and 0 when its row does not exist yet, as
 *		AWA_QUEUE_RING_CURSOR_SQL and AWA_CLAIM_RING_SLOT_SQL read it);
 *		false when they cannot be read.  No row lock (SPEC 5.4).
 */
static bool
RingCursor(const char *relname, Snapshot snapshot, int32 *current,
		   int64 *generation)
{
	Oid			relid = AwaRelid(relname);
	AttrNumber	slot_att;
	AttrNumber	gen_att;
	Relation	heap;
	TableScanDesc scan;
	TupleTableSlot *slot;
	bool		ok = true;

	*current = 0;
	*generation = 0;
	if (!OidIsValid(relid))
		return false;
	slot_att = AwaAttnum(relid, "current_slot");
	gen_att = AwaAttnum(relid, "generation");
	if (slot_att == InvalidAttrNumber || gen_att == InvalidAttrNumber)
		return false;
	heap = table_open(relid, AccessShareLock);
	scan = table_beginscan(heap, snapshot, 0, NULL);
	slot = table_slot_create(heap, NULL);
	if (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		bool		slot_null;
		bool		gen_null;
		Datum		value = slot_getattr(slot, slot_att, &slot_null);
		Datum		gen = slot_getattr(slot, gen_att, &gen_null);

		ok = !slot_null && !gen_null;
		if (ok)
		{
			*current = DatumGetInt32(value);
			*generation = DatumGetInt64(gen);
		}
	}
	ExecDropSingleTupleTableSlot(slot);
	table_endscan(scan);
	table_close(heap, NoLock);
	return ok;
}

/*
 * AwaQueueRingCursor
 *		The queue ring's current slot and generation as the snapshot sees
 *		them; false when they cannot be read.
 */
bool
AwaQueueRingCursor(Snapshot snapshot, int32 *current, int64 *generation)
{
	return RingCursor("queue_ring_state", snapshot, current, generation);
}

/*
 * AwaClaimRingCursor
 *		The claim ring's current slot and generation as "snapshot" sees them
 *		(0 and 0 before its first rotation); false when they cannot be read.
 *		No row lock (SPEC 5.4).
 */
bool
AwaClaimRingCursor(Snapshot snapshot, int32 *current, int64 *generation)
{
	return RingCursor("claim_ring_state", snapshot, current, generation);
}

/*
 * AwaClaimRingSlot
 *		The claim ring's current slot (0 before its first rotation), read
 *		with the snapshot a read-write SPI statement would take here (after
 *		a command counter increment), without a lock (SPEC 5.4): the slot a
 *		completion or an ended attempt looks in first.  Replaces a SELECT
 *		that each of them ran.
 */
int32
AwaClaimRingSlot(void)
{
	int32		current;
	int64		generation;
	bool		ok;

	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	ok = RingCursor("claim_ring_state", GetActiveSnapshot(), &current, &generation);
	PopActiveSnapshot();
	if (!ok)
		elog(ERROR, "awa_queue: awa.claim_ring_state cannot be read");
	return current;
}

/*
 * AwaEnqueueHeadsOf
 *		The enqueue-head rows of the lanes of (queue, priority) as the
 *		snapshot sees them, in shard order: shard, next_seq and row version
 *		in out[] (room for AWA_SHARDS_MAX).  Returns their number, or -1
 *		when the table cannot be read.  No row lock; AccessShareLock on the
 *		table and its primary key.
 */
int
AwaEnqueueHeadsOf(text *queue, int16 priority, Snapshot snapshot,
				  AwaEnqueueHead *out)
{
	LanePosition *lanes = palloc(sizeof(LanePosition) * MAX_LANES);
	int			n = ScanQueueHeads("queue_enqueue_heads", "next_seq", NULL, queue,
								   snapshot, lanes, MAX_LANES);
	int			found = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		if (lanes[i].priority != priority || found == AWA_SHARDS_MAX)
			continue;
		out[found].shard = lanes[i].shard;
		out[found].next_seq = lanes[i].seq;
		out[found].tid = lanes[i].tid;
		found++;
	}
	pfree(lanes);
	return n < 0 ? -1 : found;
}

/*
 * LockClaimHead
 *		Lock the claim-head row version "tid" FOR UPDATE SKIP LOCKED (in
 *		READ COMMITTED: the latest version of the row, as LockRows does) and
 *		read its claim_seq and last_claimed_slot under the lock.  Returns
 *		AWA_LANE_LOCKED, AWA_LANE_BUSY (another transaction holds or is
 *		updating the row) or AWA_LANE_ASK_SQL (anything else: the row is
 *		gone, or this transaction changed it in a way the SQL pick should
 *		judge).  RowShareLock on the table, as SELECT FOR UPDATE takes.
 */
static AwaLanePick
LockClaimHead(text *queue, const LanePosition *lane, Snapshot snapshot,
			  int64 *claim_seq, int32 *last_slot)
{
	ItemPointerData tid = lane->tid;
	Oid			relid = AwaRelid("queue_claim_heads");
	AttrNumber	seq_att;
	AttrNumber	last_att;
	Relation	heap;
	TupleTableSlot *slot;
	TM_FailureData tmfd;
	TM_Result	result;
	AwaLanePick pick = AWA_LANE_ASK_SQL;

	if (!OidIsValid(relid))
		return AWA_LANE_ASK_SQL;
	seq_att = AwaAttnum(relid, "claim_seq");
	last_att = AwaAttnum(relid, "last_claimed_slot");
	if (seq_att == InvalidAttrNumber || last_att == InvalidAttrNumber)
		return AWA_LANE_ASK_SQL;
	heap = table_open(relid, RowShareLock);
	slot = table_slot_create(heap, NULL);
	result = table_tuple_lock(heap, &tid, snapshot, slot,
							  GetCurrentCommandId(true), LockTupleExclusive,
							  LockWaitSkip, TUPLE_LOCK_FLAG_FIND_LAST_VERSION,
							  &tmfd);
	if (result == TM_Ok)
	{
		bool		isnull;
		Datum		last;

		*claim_seq = DatumGetInt64(slot_getattr(slot, seq_att, &isnull));
		last = slot_getattr(slot, last_att, &isnull);
		*last_slot = isnull ? -1 : DatumGetInt32(last);
		pick = AWA_LANE_LOCKED;
		/* the latest version: the claim's head update starts from it */
		AwaRememberLaneRow(relid, -1, queue, lane->priority, lane->shard,
						   &slot->tts_tid);
	}
	else if (result == TM_WouldBlock)
		pick = AWA_LANE_BUSY;
	ExecDropSingleTupleTableSlot(slot);
	table_close(heap, NoLock);
	return pick;
}

/*
 * OrderCandidates
 *		Sort the candidates as the lane pick orders them, from each one's
 *		head row (the row at its claim_seq) looked up in the near slots, as
 *		lane_heads_near_plan of awa_claim.c does: the current slot, and
 *		each candidate's last claimed slot and the one after it (the lane's
 *		own first).  False when those are more than four slots or a head is
 *		not found in them (the lane lives in older slots, or its head row
 *		was deleted): the SQL picks decide.
 */
static bool
OrderCandidates(text *queue, CandidateLane *cands, int n, int32 ring_slot,
				Snapshot snapshot, TimestampTz now, double aging_secs)
{
	int32		near[AWA_NEAR_SLOTS_MAX];
	int			nnear = 0;
	int			i;

	if (!AwaAddNearSlot(near, &nnear, ring_slot))
		return false;
	for (i = 0; i < n; i++)
	{
		int32		last = cands[i].claim.last_slot;

		if (last >= 0 &&
			!(AwaAddNearSlot(near, &nnear, last) &&
			  AwaAddNearSlot(near, &nnear, (last + 1) % AWA_QUEUE_SLOT_COUNT)))
			return false;
	}
	for (i = 0; i < n; i++)
	{
		AwaLaneRank *rank = &cands[i].rank;
		int32		slots[AWA_NEAR_SLOTS_MAX + 1];
		int			k = 0;

		if (cands[i].claim.last_slot >= 0)
			slots[k++] = cands[i].claim.last_slot;
		memcpy(&slots[k], near, sizeof(int32) * nnear);
		rank->priority = cands[i].claim.priority;
		rank->shard = cands[i].claim.shard;
		if (!AwaLaneHeadRunAt(queue, rank->priority, rank->shard,
							  cands[i].claim.seq, slots, k + nnear, snapshot,
							  &rank->run_at))
			return false;
		rank->effective = AwaEffectivePriority(rank->priority, rank->run_at,
											   now, aging_secs);
	}
	qsort(cands, n, sizeof(CandidateLane), AwaLaneRankCompare);
	return true;
}

/*
 * LockBestFreeLane
 *		Lock, in the order of cands[] (n of them), the first lane not in
 *		visited[] whose claim head no other claimer holds and whose
 *		claim_seq, read under the lock, is still below the next_seq its
 *		candidate entry holds: AWA_LANE_LOCKED with *lane filled (its
 *		candidates: the unvisited entries, this one included),
 *		AWA_LANE_BUSY when every unvisited lane is held or has meanwhile
 *		been drained, AWA_LANE_NONE when none is left unvisited, or what
 *		LockClaimHead could not decide (AWA_LANE_ASK_SQL).  Never waits.
 */
static AwaLanePick
LockBestFreeLane(text *queue, const CandidateLane *cands, int n,
				 const Datum *visited, int nvisited, int32 ring_slot,
				 Snapshot snapshot, AwaPickedLane *lane)
{
	AwaLanePick pick = AWA_LANE_NONE;
	int			left = 0;
	int			i;

	for (i = 0; i < n; i++)
		if (!LaneIsVisited(cands[i].claim.priority, cands[i].claim.shard,
						   visited, nvisited))
			left++;
	if (left > 0)
		pick = AWA_LANE_BUSY;
	for (i = 0; i < n && pick == AWA_LANE_BUSY; i++)
	{
		int64		claim_seq = 0;
		int32		last_slot = -1;

		if (LaneIsVisited(cands[i].claim.priority, cands[i].claim.shard,
						  visited, nvisited))
			continue;
		pick = LockClaimHead(queue, &cands[i].claim, snapshot, &claim_seq,
							 &last_slot);
		if (pick == AWA_LANE_LOCKED && claim_seq >= cands[i].next_seq)
			pick = AWA_LANE_BUSY;
		else if (pick == AWA_LANE_LOCKED)
		{
			lane->priority = cands[i].claim.priority;
			lane->shard = cands[i].claim.shard;
			lane->next_seq = cands[i].next_seq;
			lane->claim_seq = claim_seq;
			lane->last_claimed_slot = last_slot;
			lane->ring_slot = ring_slot;
			lane->candidates = left;
		}
	}
	return pick;
}

/*
 * AwaPickLane
 *		A lane pick of a claim, answered from the head tables without a
 *		statement where it can be, among the lanes not in visited[]
 *		(priority * 100 + shard): AWA_LANE_NONE when no such lane has an
 *		unclaimed position or the queue is paused; else, in READ
 *		COMMITTED, the best of them whose claim head no other claimer holds,
 *		locked FOR UPDATE SKIP LOCKED: AWA_LANE_LOCKED with *lane filled, or
 *		AWA_LANE_BUSY when another claimer holds every one.  With several
 *		candidates they are tried in the order of the SQL lane pick
 *		(effective priority of the head row at claim_seq, aged by
 *		"aging_secs" at "now", then its run_at, priority and shard), each
 *		head row looked up in the lane's near slots.  AWA_LANE_ASK_SQL for
 *		a REPEATABLE READ or SERIALIZABLE transaction (its lock and
 *		serialization rules stay with the SQL pick), when a head row is not
 *		found in the near slots, and whenever a scan cannot answer.
 *
 * "plan" (NULL: none) carries the ranking between the picks of one claim
 * call.  A pick that locks a lane from a fresh ranking keeps it there,
 * with its snapshot registered; a later pick with a kept ranking reads no
 * head and ranks nothing: it locks the next free unvisited lane of that
 * ranking (LockBestFreeLane).  Its lanes and their order are those of the
 * call's first pick, as a single statement's would be; each lane's
 * claim_seq is still read under its lock, so a claim starts where the lane
 * really is, and a lane another claimer drained since counts as held.
 * Lanes that got work after the first pick wait for the next call.
 *
 * Reads with the snapshot a read-write SPI statement would take at this
 * point (a new one in READ COMMITTED, the transaction's otherwise), after a
 * command counter increment, so it sees every head a claim statement run
 * now would see, this transaction's own enqueues included.  The lock
 * follows the row to its latest version and re-reads claim_seq under it,
 * as LockRows does; a lane whose claim_seq has meanwhile reached the
 * next_seq this snapshot saw counts as held, as the SQL pick skips a row
 * that fails its recheck: another claimer took the work while this one
 * looked, and the busy retry looks again with a new snapshot (the lock
 * stays until commit, as it does for that row).  Never waits on a row.
 */
AwaLanePick
AwaPickLane(text *queue, const Datum *visited, int nvisited, TimestampTz now,
			double aging_secs, AwaLanePlan *plan, AwaPickedLane *lane)
{
	CandidateLane *cands = NULL;
	int			candidates;
	AwaLanePick pick = AWA_LANE_ASK_SQL;
	Snapshot	snapshot;
	int32		ring_slot;
	int64		ring_generation;

	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	snapshot = GetActiveSnapshot();
	if (plan != NULL && plan->lanes != NULL)
	{
		awa_backend_stats.claim_planned_picks++;
		pick = LockBestFreeLane(queue, plan->lanes, plan->nlanes, visited,
								nvisited, plan->ring_slot, snapshot, lane);
		PopActiveSnapshot();
		return pick;
	}
	candidates = CandidateLanes(queue, snapshot, visited, nvisited, &cands);
	if (candidates == 0)
		pick = AWA_LANE_NONE;
	else if (candidates < 0 || IsolationUsesXactSnapshot())
		pick = AWA_LANE_ASK_SQL;
	else if (AwaQueuePaused(queue))
		pick = AWA_LANE_NONE;
	else if (AwaQueueRingCursor(snapshot, &ring_slot, &ring_generation) &&
			 (candidates == 1 ||
			  OrderCandidates(queue, cands, candidates, ring_slot, snapshot,
							  now, aging_secs)))
	{
		pick = LockBestFreeLane(queue, cands, candidates, visited, nvisited,
								ring_slot, snapshot, lane);
		if (pick == AWA_LANE_LOCKED && candidates > 1 && plan != NULL)
		{
			plan->lanes = cands;
			plan->nlanes = candidates;
			plan->ring_slot = ring_slot;
			plan->snapshot = RegisterSnapshot(snapshot);
			cands = NULL;
		}
	}
	PopActiveSnapshot();
	if (cands != NULL)
		pfree(cands);
	return pick;
}

/*
 * AwaLanePlanEnd
 *		Release what a claim call's lane plan holds: its registered
 *		snapshot and its ranking.
 */
void
AwaLanePlanEnd(AwaLanePlan *plan)
{
	if (plan->snapshot != NULL)
		UnregisterSnapshot(plan->snapshot);
	if (plan->lanes != NULL)
		pfree(plan->lanes);
	memset(plan, 0, sizeof(AwaLanePlan));
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
