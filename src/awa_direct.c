/*-------------------------------------------------------------------------
 *
 * awa_direct.c
 *	  The ready write of one lane without the executor: advance the lane's
 *	  enqueue head by n and append the jobs' ready rows with table access
 *	  method calls, as the fused statements of awa_storage.c do.
 *
 * An enqueue of one job is the most frequent write a job queue serves.
 * Through SPI its statement (a CTE that updates the head, an INSERT that
 * routes to the ring slot's partition) costs about 0.2M instructions, most
 * of them executor start-up and partition routing for two rows.  Here the
 * same two row writes take a fraction of that; a batch of one lane (the
 * usual enqueue_many) has its rows built in C instead of passed as a
 * record[] and unnested, and appended with one multi-insert (fewer WAL
 * records).  Only the common case is taken: READ COMMITTED, a lane that
 * already exists (for an unordered job of a sharded queue: its rotor
 * pick's lane), a queue ring cursor that can be read, the setting
 * awa.direct_writes on; in every other case AwaDirectInsertReady returns
 * false before it writes anything and the caller runs the statement.
 *
 * Locking contract: the same locks, in the same order, as the statement.
 * RowExclusiveLock on queue_enqueue_heads and on the ready partition of the
 * current ring slot (so a prune's ACCESS EXCLUSIVE on it waits, SPEC 5.5);
 * the head row is updated with heap_update, which waits for a concurrent
 * producer of the lane and, when that one committed a newer version, the
 * newer version is locked and updated instead (what EvalPlanQual does for
 * an UPDATE in READ COMMITTED); a job that any lane of a sharded queue
 * may take first tries the lanes from its rotor pick onwards with
 * FOR NO KEY UPDATE SKIP LOCKED and waits for the rotor's lane only when
 * every one is held (the statements' rule, SPEC 5.2); the ring cursor is
 * read without a lock (SPEC 5.4).  The head row stays locked until
 * commit, like the statement's.
 *
 * Copyright (c) 2026, awa_queue developers
 *
 * IDENTIFICATION
 *	  src/awa_direct.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "nodes/execnodes.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "awa_queue.h"

/* the columns of awa.ready_entries this writer fills, by name */
typedef enum ReadyColumn
{
	RC_READY_SLOT,
	RC_READY_GENERATION,
	RC_JOB_ID,
	RC_KIND,
	RC_QUEUE,
	RC_ARGS,
	RC_PRIORITY,
	RC_ATTEMPT,
	RC_RUN_LEASE,
	RC_MAX_ATTEMPTS,
	RC_LANE_SEQ,
	RC_ENQUEUE_SHARD,
	RC_RUN_AT,
	RC_CREATED_AT,
	RC_UNIQUE_KEY,
	RC_UNIQUE_STATES,
	RC_PAYLOAD,
	RC_ATTEMPTED_AT,
	RC_NCOLUMNS
} ReadyColumn;

static const char *const ready_column_names[RC_NCOLUMNS] = {
	"ready_slot", "ready_generation", "job_id", "kind", "queue", "args",
	"priority", "attempt", "run_lease", "max_attempts", "lane_seq",
	"enqueue_shard", "run_at", "created_at", "unique_key", "unique_states",
	"payload", "attempted_at"
};

/*
 * ReadyValues
 *		Fill "slot" (of ready partition rel) with row r at lane position
 *		lane_seq of ring slot (ring_slot, generation).  False when the
 *		partition's columns are not exactly the ones this writer knows (the
 *		caller then leaves the write to the statement).
 */
static bool
ReadyValues(TupleTableSlot *slot, Relation rel, const AwaJobRow *r,
			int32 ring_slot, int64 generation, int64 lane_seq)
{
	const AwaColumnMap *map = AwaColumnMapFor(rel, ready_column_names,
											  RC_NCOLUMNS, true);
	Datum		values[RC_NCOLUMNS];
	bool		nulls[RC_NCOLUMNS];

	if (map == NULL)
		return false;
	memset(nulls, false, sizeof(nulls));
	values[RC_READY_SLOT] = Int32GetDatum(ring_slot);
	values[RC_READY_GENERATION] = Int64GetDatum(generation);
	values[RC_JOB_ID] = Int64GetDatum(r->job_id);
	values[RC_KIND] = PointerGetDatum(r->kind);
	values[RC_QUEUE] = PointerGetDatum(r->queue);
	values[RC_ARGS] = PointerGetDatum(r->args);
	nulls[RC_ARGS] = r->args == NULL;
	values[RC_PRIORITY] = Int16GetDatum(r->priority);
	values[RC_ATTEMPT] = Int16GetDatum(r->attempt);
	values[RC_RUN_LEASE] = Int64GetDatum(r->run_lease);
	values[RC_MAX_ATTEMPTS] = Int16GetDatum(r->max_attempts);
	values[RC_LANE_SEQ] = Int64GetDatum(lane_seq);
	values[RC_ENQUEUE_SHARD] = Int16GetDatum(r->enqueue_shard);
	values[RC_RUN_AT] = TimestampTzGetDatum(r->run_at);
	values[RC_CREATED_AT] = TimestampTzGetDatum(r->created_at);
	values[RC_UNIQUE_KEY] = PointerGetDatum(r->unique_key);
	nulls[RC_UNIQUE_KEY] = r->unique_key == NULL;
	values[RC_UNIQUE_STATES] = r->unique_key ? AwaMaskDatum(r->unique_mask) : (Datum) 0;
	nulls[RC_UNIQUE_STATES] = r->unique_key == NULL;
	values[RC_PAYLOAD] = PointerGetDatum(r->payload);
	nulls[RC_PAYLOAD] = r->payload == NULL;
	values[RC_ATTEMPTED_AT] = (Datum) 0;
	nulls[RC_ATTEMPTED_AT] = true;

	AwaStoreMappedRow(slot, map, values, nulls);
	return true;
}

/*
 * SetReadyPosition
 *		Put what is known only once the lane's head is advanced (the job id
 *		when drawn here, the lane's shard when a free lane was picked, the
 *		lane position) into a row ReadyValues filled, and ExecConstraints
 *		checked, before: all three are NOT NULL, so the check holds.  The
 *		row is not formed yet (the insert forms it from the slot's values),
 *		so the values are set in place.
 */
static void
SetReadyPosition(TupleTableSlot *slot, Relation rel, const AwaJobRow *r,
				 int64 lane_seq)
{
	const AwaColumnMap *map = AwaColumnMapFor(rel, ready_column_names,
											  RC_NCOLUMNS, true);

	if (map == NULL || TTS_EMPTY(slot))
		elog(ERROR, "awa_queue: ready row of %s changed under its writer",
			 RelationGetRelationName(rel));
	slot->tts_values[map->attno[RC_JOB_ID] - 1] = Int64GetDatum(r->job_id);
	slot->tts_values[map->attno[RC_ENQUEUE_SHARD] - 1] = Int16GetDatum(r->enqueue_shard);
	slot->tts_values[map->attno[RC_LANE_SEQ] - 1] = Int64GetDatum(lane_seq);
}

/*
 * LockLaneIfFree
 *		Lock, FOR NO KEY UPDATE SKIP LOCKED, the latest version of the head
 *		row whose version "tid" the snapshot sees (as LockRows does), and
 *		set *tid to the version locked.  False, *tid unchanged, when another
 *		transaction holds it.  Never waits.
 */
static bool
LockLaneIfFree(Relation heads, TupleTableSlot *slot, Snapshot snapshot,
			   ItemPointer tid)
{
	ItemPointerData lane_tid = *tid;
	TM_FailureData tmfd;

	if (table_tuple_lock(heads, &lane_tid, snapshot, slot,
						 GetCurrentCommandId(true), LockTupleNoKeyExclusive,
						 LockWaitSkip, TUPLE_LOCK_FLAG_FIND_LAST_VERSION,
						 &tmfd) != TM_Ok)
		return false;
	*tid = slot->tts_tid;
	return true;
}

/*
 * LockFreeLane
 *		For a job that any of the first free_shards lanes of its (queue,
 *		priority) may take: lock the head of the first lane from the rotor
 *		pick "rotor" onwards that no other producer holds (LockLaneIfFree)
 *		and return its shard and locked version in *shard and *tid.  False
 *		when every such lane is held: the caller then waits for the rotor's
 *		lane, as the SQL path does.  Never waits.
 */
static bool
LockFreeLane(Relation heads, const AwaEnqueueHead *lanes, int nlanes,
			 int16 rotor, int16 free_shards, Snapshot snapshot,
			 int16 *shard, ItemPointer tid)
{
	TupleTableSlot *slot = table_slot_create(heads, NULL);
	bool		locked = false;
	int			k;

	for (k = 0; k < free_shards && !locked; k++)
	{
		int16		want = (rotor + k) % free_shards;
		int			i;

		for (i = 0; i < nlanes && !locked; i++)
		{
			ItemPointerData lane_tid = lanes[i].tid;

			if (lanes[i].shard != want)
				continue;
			if (LockLaneIfFree(heads, slot, snapshot, &lane_tid))
			{
				*shard = want;
				*tid = lane_tid;
				locked = true;
			}
		}
	}
	ExecDropSingleTupleTableSlot(slot);
	return locked;
}

/*
 * AwaDirectInsertReady
 *		Make the n jobs rows[order[0..n-1]], all of one lane (queue,
 *		priority, enqueue_shard), available in that order: advance the
 *		lane's enqueue head by n (a single job that any of free_shards
 *		lanes may take goes to the first free one from its rotor pick,
 *		LockFreeLane, and waits for the rotor's lane only when all are
 *		held; enqueue_shard is set to the lane taken), give a row whose job_id is 0 an id from
 *		awa.job_id_seq (a single row; a batch comes with ids drawn up
 *		front), append the ready rows to the partition of the queue ring's
 *		current slot (several rows with one multi-insert, as COPY does).
 *		Sets job_id.  Returns false, having written nothing, when the
 *		direct write does not apply (see the file header); the caller then
 *		runs the SQL statement.  Locking contract in the file header.
 */
bool
AwaDirectInsertReady(AwaJobRow *rows, const int *order, int n)
{
	AwaJobRow  *first = &rows[order[0]];
	Snapshot	snapshot;
	int32		ring_slot;
	int64		generation;
	AwaEnqueueHead lanes[AWA_SHARDS_MAX];
	int			nlanes;
	ItemPointerData tid;
	int64		base;
	Oid			heads_relid;
	Oid			ready_relid;
	Relation	heads;
	TupleTableSlot *head_version;
	Relation	ready;
	ResultRelInfo *ready_rri;
	TupleTableSlot **slots;
	TupleDesc	slot_desc = NULL;
	EState	   *estate;
	bool		ok = true;
	int			i;

	if (n <= 0 || !awa_direct_writes || IsolationUsesXactSnapshot())
		return false;
	heads_relid = AwaRelid("queue_enqueue_heads");
	if (!OidIsValid(heads_relid))
		return false;
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	snapshot = GetActiveSnapshot();
	ok = AwaQueueRingCursor(snapshot, &ring_slot, &generation);
	nlanes = 0;

	/*
	 * The lane's head row from the version this backend met last; for a
	 * job that any lane may take, the rotor pick's lane, which is the one
	 * taken when no other producer holds it (every lane is read only when
	 * one does, below).  The table is opened once, with the lock its
	 * update needs; the version found stays in head_version for the
	 * update.
	 */
	heads = table_open(heads_relid, RowExclusiveLock);
	head_version = table_slot_create(heads, NULL);
	if (ok && AwaFetchRememberedLaneRow(heads, -1, first->queue, first->priority,
										first->enqueue_shard, snapshot,
										head_version))
	{
		tid = head_version->tts_tid;
		awa_backend_stats.enqueue_remembered_heads++;
	}
	else
	{
		/* by the primary key; all the lanes of the priority (free lanes) */
		ExecClearTuple(head_version);
		nlanes = ok ? AwaEnqueueHeadsOf(first->queue, first->priority,
										snapshot, lanes) : -1;
		ok = false;
		for (i = 0; i < nlanes && !ok; i++)
		{
			ok = lanes[i].shard == first->enqueue_shard;
			tid = lanes[i].tid;
		}
	}
	ready_relid = ok ? AwaRelid(psprintf("ready_entries_%d", ring_slot)) : InvalidOid;
	if (!OidIsValid(ready_relid))
	{
		ExecDropSingleTupleTableSlot(head_version);
		table_close(heads, NoLock);
		PopActiveSnapshot();
		return false;
	}

	/*
	 * The partition and every row first (NOT NULL and CHECK constraints
	 * included), so that nothing is written when one is unusable.
	 */
	ready = table_open(ready_relid, RowExclusiveLock);
	estate = CreateExecutorState();
	ready_rri = AwaOpenResultRel(ready);
	slots = palloc(sizeof(TupleTableSlot *) * n);
	for (i = 0; i < n; i++)
	{
		slots[i] = AwaRowSlot(ready, &slot_desc, n);
		if (ok)
			ok = ReadyValues(slots[i], ready, &rows[order[i]], ring_slot,
							 generation, 0);
		if (ok)
			ExecConstraints(ready_rri, slots[i], estate);
	}

	if (ok)
	{
		int16		shard;
		bool		locked = false;
		AttrNumber	next_att = AwaAttnum(heads_relid, "next_seq");

		if (next_att == InvalidAttrNumber)
			elog(ERROR, "awa_queue: queue_enqueue_heads has no next_seq column");
		if (n == 1 && first->free_shards > 1)
		{
			/* the rotor pick's lane when it is free, else every lane */
			if (nlanes == 0)
			{
				TupleTableSlot *slot = table_slot_create(heads, NULL);

				locked = LockLaneIfFree(heads, slot, snapshot, &tid);
				ExecDropSingleTupleTableSlot(slot);
				if (!locked)
					nlanes = Max(AwaEnqueueHeadsOf(first->queue, first->priority,
												   snapshot, lanes), 0);
			}
			if (!locked &&
				LockFreeLane(heads, lanes, nlanes, first->enqueue_shard,
							 first->free_shards, snapshot, &shard, &tid))
			{
				first->enqueue_shard = shard;
				locked = true;
			}
		}
		/* the version already read, unless a lane lock found a later one */
		ok = AwaAddToColumn(heads, tid,
							!locked && !TTS_EMPTY(head_version) &&
							ItemPointerEquals(&head_version->tts_tid, &tid) ?
							head_version : NULL,
							locked, snapshot, estate, next_att, n, &base, &tid);
		if (ok)
			AwaRememberLaneRow(heads_relid, -1, first->queue, first->priority,
							   first->enqueue_shard, &tid);
	}
	ExecDropSingleTupleTableSlot(head_version);
	table_close(heads, NoLock);
	if (ok)
	{
		CommandId	cid = GetCurrentCommandId(true);

		for (i = 0; i < n; i++)
		{
			AwaJobRow  *r = &rows[order[i]];

			if (r->job_id == 0)
				AwaAllocateJobIds(r, 1);
			SetReadyPosition(slots[i], ready, r, base + i);
		}
		if (n == 1)
			table_tuple_insert(ready, slots[0], cid, 0, NULL);
		else
			table_multi_insert(ready, slots, n, cid, 0, NULL);
		for (i = 0; i < n; i++)
			AwaInsertIndexEntries(ready_rri, slots[i], estate);
		CommandCounterIncrement();
		awa_backend_stats.enqueue_direct_rows += n;
	}
	for (i = 0; i < n; i++)
		ExecDropSingleTupleTableSlot(slots[i]);
	AwaCloseResultRel(ready_rri);
	FreeExecutorState(estate);
	table_close(ready, NoLock);
	PopActiveSnapshot();
	return ok;
}
