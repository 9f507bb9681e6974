/*-------------------------------------------------------------------------
 *
 * awa_counters.c
 *	  The live terminal counters: the one upsert helper, the trust marker,
 *	  rebuild and verification.
 *
 * queue_terminal_live_counts holds, per (ready_slot, queue, priority,
 * enqueue_shard), the number of rows of done_entries in that group.  Every
 * path that inserts or deletes terminal rows changes it in the same
 * transaction through AWA_COUNTER_UPSERT_FROM (awa_queue.h), either inside
 * its own statement or through AwaCountersApply() / AwaCounterDeltasApply();
 * prune deletes a slot's rows after folding the truncated partition into
 * the rollups.  AwaCounterDeltasApply adds to counter rows that exist
 * without a statement (READ COMMITTED), in the same key order, and leaves
 * the first group without a row, and every later one, to the upsert.
 *
 * Lock order (SPEC 5.7): done rows before counter rows on every path.
 *
 * Copyright (c) 2026, awa_queue developers
 *
 * IDENTIFICATION
 *	  src/awa_counters.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/varlena.h"

#include "awa_queue.h"

static AwaPlan counters_apply_plan = {
	.sql = AWA_COUNTER_UPSERT_FROM(
								   "(SELECT * FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.unnest($4), pg_catalog.unnest($5)) "
								   "AS u(ready_slot, queue, priority, enqueue_shard, delta))"),
	.nargs = 5,
	.argtypes = {INT4ARRAYOID, TEXTARRAYOID, INT2ARRAYOID, INT2ARRAYOID, INT4ARRAYOID}
};

static AwaPlan counters_trusted_plan = {
	.sql = "SELECT terminal_counter_trusted_at IS NOT NULL "
	"FROM awa.queue_ring_state WHERE singleton",
	.nargs = 0
};

/*
 * AwaCountersApply
 *		Add per-group deltas to the live terminal counters in one ordered
 *		upsert.
 *
 * The five arguments are parallel arrays (int4[], text[], int2[], int2[],
 * int4[]) of n entries, in any order and possibly repeating a group: the
 * statement groups and sorts them itself.  Negative deltas remove rows
 * from the count.  Locks the touched counter rows until commit; callers
 * must already have written the done rows (SPEC 5.7).
 */
void
AwaCountersApply(int n, Datum slots, Datum queues, Datum priorities,
				 Datum shards, Datum deltas)
{
	Datum		values[5];

	if (n <= 0)
		return;
	values[0] = slots;
	values[1] = queues;
	values[2] = priorities;
	values[3] = shards;
	values[4] = deltas;
	AwaPlanExec(&counters_apply_plan, values, NULL, false, 0, SPI_OK_INSERT);
}

/*
 * AwaCounterDeltasAdd
 *		Remember one terminal row added (+1) or removed (-1) in a group, to
 *		be applied later by AwaCounterDeltasApply.
 *
 * Paths that write terminal rows in several statements (one per claim
 * slot) collect their groups here and apply them in one ordered upsert at
 * the end: counter rows locked by an early statement and others by a later
 * one would not be locked in key order, and two such transactions could
 * deadlock.  "queue" is copied.
 */
void
AwaCounterDeltasAdd(AwaCounterDeltas *acc, int32 ready_slot, text *queue,
					int16 priority, int16 enqueue_shard, int32 delta)
{
	if (acc->n == acc->size)
	{
		int			size = acc->size == 0 ? 16 : acc->size * 2;

		if (acc->size == 0)
		{
			acc->slots = palloc(sizeof(Datum) * size);
			acc->queues = palloc(sizeof(Datum) * size);
			acc->priorities = palloc(sizeof(Datum) * size);
			acc->shards = palloc(sizeof(Datum) * size);
			acc->deltas = palloc(sizeof(Datum) * size);
		}
		else
		{
			acc->slots = repalloc(acc->slots, sizeof(Datum) * size);
			acc->queues = repalloc(acc->queues, sizeof(Datum) * size);
			acc->priorities = repalloc(acc->priorities, sizeof(Datum) * size);
			acc->shards = repalloc(acc->shards, sizeof(Datum) * size);
			acc->deltas = repalloc(acc->deltas, sizeof(Datum) * size);
		}
		acc->size = size;
	}
	acc->slots[acc->n] = Int32GetDatum(ready_slot);
	acc->queues[acc->n] = PointerGetDatum(DatumGetTextPCopy(PointerGetDatum(queue)));
	acc->priorities[acc->n] = Int16GetDatum(priority);
	acc->shards[acc->n] = Int16GetDatum(enqueue_shard);
	acc->deltas[acc->n] = Int32GetDatum(delta);
	acc->n++;
}

/* one counter group of a set of deltas, its deltas summed */
typedef struct CounterGroup
{
	int32		slot;
	text	   *queue;
	int16		priority;
	int16		shard;
	int64		delta;
} CounterGroup;

/* qsort_arg comparator: the counter key order, queue names compared with the collation in arg */
static int
CounterGroupCompare(const void *a, const void *b, void *arg)
{
	const CounterGroup *x = (const CounterGroup *) a;
	const CounterGroup *y = (const CounterGroup *) b;
	int			c;

	if (x->slot != y->slot)
		return x->slot < y->slot ? -1 : 1;
	c = varstr_cmp(VARDATA_ANY(x->queue), VARSIZE_ANY_EXHDR(x->queue),
				   VARDATA_ANY(y->queue), VARSIZE_ANY_EXHDR(y->queue),
				   *(Oid *) arg);
	if (c != 0)
		return c;
	if (x->priority != y->priority)
		return x->priority < y->priority ? -1 : 1;
	if (x->shard != y->shard)
		return x->shard < y->shard ? -1 : 1;
	return 0;
}

/*
 * AddToCounterRows
 *		Group and sort the deltas of "acc" by the counter key (the order of
 *		the upsert's ORDER BY, queue names in the primary key's collation)
 *		and add each group's sum to its counter row through the primary key
 *		(AwaAddToColumn: waits for a transaction holding the row, follows a
 *		newer version, as the upsert's DO UPDATE does in READ COMMITTED), in
 *		that order.  Stops at the first group whose row does not exist (or
 *		went away); returns the number of entries of acc, rearranged so that
 *		the ones not applied come last, that were applied.  Groups summing
 *		to zero are passed over.  RowExclusiveLock on the table.
 */
static int
AddToCounterRows(AwaCounterDeltas *acc)
{
	Oid			relid = AwaRelid("queue_terminal_live_counts");
	AwaKeyScan	ks;
	AttrNumber	count_att;
	CounterGroup *groups;
	int			ngroups = 0;
	int			applied = 0;
	Oid			collation;
	EState	   *estate;
	int			i;

	if (!OidIsValid(relid) ||
		(count_att = AwaAttnum(relid, "live_terminal_count")) == InvalidAttrNumber ||
		!AwaKeyScanOpen(relid, RowExclusiveLock, &ks))
		return 0;
	collation = ks.index->rd_indcollation[1];
	groups = palloc(sizeof(CounterGroup) * acc->n);
	for (i = 0; i < acc->n; i++)
	{
		groups[i].slot = DatumGetInt32(acc->slots[i]);
		groups[i].queue = DatumGetTextPP(acc->queues[i]);
		groups[i].priority = DatumGetInt16(acc->priorities[i]);
		groups[i].shard = DatumGetInt16(acc->shards[i]);
		groups[i].delta = DatumGetInt32(acc->deltas[i]);
	}
	qsort_arg(groups, acc->n, sizeof(CounterGroup), CounterGroupCompare, &collation);
	for (i = 0; i < acc->n; i++)
	{
		if (ngroups > 0 && CounterGroupCompare(&groups[ngroups - 1], &groups[i],
											   &collation) == 0)
			groups[ngroups - 1].delta += groups[i].delta;
		else
			groups[ngroups++] = groups[i];
	}

	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	estate = CreateExecutorState();
	ks.slot = table_slot_create(ks.heap, NULL);
	for (applied = 0; applied < ngroups; applied++)
	{
		CounterGroup *g = &groups[applied];
		ScanKeyData keys[4];
		int64		before;
		ItemPointerData written;

		if (g->delta == 0)
			continue;
		if (!AwaFetchRememberedLaneRow(ks.heap, g->slot, g->queue, g->priority,
									   g->shard, GetActiveSnapshot(), ks.slot))
		{
			AwaScanKeyEq(&keys[0], 1, F_INT4EQ, InvalidOid, Int32GetDatum(g->slot));
			AwaScanKeyEq(&keys[1], 2, F_TEXTEQ, collation, PointerGetDatum(g->queue));
			AwaScanKeyEq(&keys[2], 3, F_INT2EQ, InvalidOid, Int16GetDatum(g->priority));
			AwaScanKeyEq(&keys[3], 4, F_INT2EQ, InvalidOid, Int16GetDatum(g->shard));
			AwaKeyScanStart(&ks, keys, 4, GetActiveSnapshot());
			if (!index_getnext_slot(ks.scan, ForwardScanDirection, ks.slot))
				break;
		}
		if (!AwaAddToColumn(ks.heap, ks.slot->tts_tid, ks.slot, false,
							GetActiveSnapshot(), estate, count_att, g->delta,
							&before, &written))
			break;
		AwaRememberLaneRow(relid, g->slot, g->queue, g->priority, g->shard,
						   &written);
		awa_backend_stats.counter_direct_groups++;
	}
	FreeExecutorState(estate);
	PopActiveSnapshot();
	AwaKeyScanEnd(&ks);
	if (applied > 0)
		CommandCounterIncrement();

	/* the groups not applied, as the entries of acc */
	for (i = applied; i < ngroups; i++)
	{
		int			k = i - applied;

		acc->slots[k] = Int32GetDatum(groups[i].slot);
		acc->queues[k] = PointerGetDatum(groups[i].queue);
		acc->priorities[k] = Int16GetDatum(groups[i].priority);
		acc->shards[k] = Int16GetDatum(groups[i].shard);
		acc->deltas[k] = Int32GetDatum((int32) groups[i].delta);
	}
	return ngroups - applied;
}

/*
 * AwaCounterDeltasApply
 *		Apply the collected deltas, grouped and sorted by the counter key,
 *		and forget them: in READ COMMITTED (awa.direct_writes on) the groups
 *		whose counter row exists are added to without a statement
 *		(AddToCounterRows), and the first one without a row, with every
 *		group after it, goes to AwaCountersApply (one upsert, which sorts
 *		the same way), so counter rows are always locked in key order.
 */
void
AwaCounterDeltasApply(AwaCounterDeltas *acc)
{
	if (acc->n == 0)
		return;
	if (awa_direct_writes && !IsolationUsesXactSnapshot())
		acc->n = AddToCounterRows(acc);
	if (acc->n == 0)
		return;
	AwaCountersApply(acc->n,
					 PointerGetDatum(construct_array(acc->slots, acc->n, INT4OID, 4, true, TYPALIGN_INT)),
					 PointerGetDatum(construct_array(acc->queues, acc->n, TEXTOID, -1, false, TYPALIGN_INT)),
					 PointerGetDatum(construct_array(acc->priorities, acc->n, INT2OID, 2, true, TYPALIGN_SHORT)),
					 PointerGetDatum(construct_array(acc->shards, acc->n, INT2OID, 2, true, TYPALIGN_SHORT)),
					 PointerGetDatum(construct_array(acc->deltas, acc->n, INT4OID, 4, true, TYPALIGN_INT)));
	acc->n = 0;
}

/*
 * AwaCountersTrusted
 *		Whether queue_counts may read the live counters instead of counting
 *		done_entries.
 *
 * The trust marker lives in queue_ring_state.  A missing row means a
 * fresh install, which starts trusted; rebuild_terminal_counters sets the
 * marker; an operator clears it (UPDATE ... SET terminal_counter_trusted_at
 * = NULL) to force the scan until the next rebuild.  Takes no lock.
 */
bool
AwaCountersTrusted(void)
{
	bool		isnull;
	Datum		d;

	if (AwaPlanExec(&counters_trusted_plan, NULL, NULL, true, 1,
					SPI_OK_SELECT) == 0)
		return true;
	d = AwaSpiGetDatum(0, 1, &isnull);
	return !isnull && DatumGetBool(d);
}

/*
 * awa_rebuild_terminal_counters
 *		awa.rebuild_terminal_counters() RETURNS bigint
 *
 * Recomputes every counter row from done_entries and sets the trust
 * marker.  Locking contract, in the order SPEC 5 prescribes:
 *	1. a transaction advisory lock serialises rebuilds;
 *	2. the queue_ring_state row (FOR UPDATE, created if missing), the same
 *	   first lock prune takes, so rebuild and prune queue up instead of
 *	   crossing;
 *	3. SHARE on done_entries: terminal writers that already wrote done rows
 *	   finish first (their rows are then counted), later ones wait for the
 *	   rebuild to commit and then add their delta to the rebuilt row;
 *	4. the counter table itself (DELETE, then the ordered re-insert).
 * DELETE rather than TRUNCATE keeps the rebuild MVCC-safe for concurrent
 * readers of queue_counts; the table has one row per live group.
 * Returns the number of counter rows written.
 */
PG_FUNCTION_INFO_V1(awa_rebuild_terminal_counters);
Datum
awa_rebuild_terminal_counters(PG_FUNCTION_ARGS)
{
	int64		rows;

	AwaSpiConnect();
	AwaSqlExec("SELECT pg_catalog.pg_advisory_xact_lock("
			   "pg_catalog.hashtextextended('awa.rebuild_terminal_counters', 0))",
			   0, NULL, NULL, NULL, false, 0, SPI_OK_SELECT);
	AwaSqlExec("INSERT INTO awa.queue_ring_state AS s "
			   "(singleton, current_slot, generation, slot_count, terminal_counter_trusted_at) "
			   "VALUES (true, 0, 0, 16, NULL) "
			   "ON CONFLICT (singleton) DO UPDATE SET singleton = s.singleton",
			   0, NULL, NULL, NULL, false, 0, SPI_OK_INSERT);
	AwaSqlExec("LOCK TABLE awa.done_entries IN SHARE MODE",
			   0, NULL, NULL, NULL, false, 0, SPI_OK_UTILITY);
	AwaSqlExec("DELETE FROM awa.queue_terminal_live_counts",
			   0, NULL, NULL, NULL, false, 0, SPI_OK_DELETE);
	rows = AwaSqlExec(AWA_COUNTER_UPSERT_FROM(
											  "(SELECT e.ready_slot, e.queue, e.priority, e.enqueue_shard, 1 AS delta "
											  "FROM awa.done_entries AS e)"),
					  0, NULL, NULL, NULL, false, 0, SPI_OK_INSERT);
	AwaSqlExec("UPDATE awa.queue_ring_state "
			   "SET terminal_counter_trusted_at = pg_catalog.now() WHERE singleton",
			   0, NULL, NULL, NULL, false, 0, SPI_OK_UPDATE);
	AwaSpiFinish();
	PG_RETURN_INT64(rows);
}

/*
 * awa_verify_terminal_counters
 *		awa.verify_terminal_counters() RETURNS TABLE(ready_slot, queue,
 *		priority, enqueue_shard, counted, actual)
 *
 * The groups whose counter differs from the number of done_entries rows
 * (a missing counter row counts as 0).  Empty when healthy.  Read-only,
 * takes no lock beyond ACCESS SHARE.
 */
PG_FUNCTION_INFO_V1(awa_verify_terminal_counters);
Datum
awa_verify_terminal_counters(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			n;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	AwaSpiConnect();
	n = AwaSqlExec("SELECT COALESCE(c.ready_slot, a.ready_slot), "
				   "COALESCE(c.queue, a.queue), COALESCE(c.priority, a.priority), "
				   "COALESCE(c.enqueue_shard, a.enqueue_shard), "
				   "COALESCE(c.live_terminal_count, 0), COALESCE(a.actual, 0) "
				   "FROM awa.queue_terminal_live_counts AS c "
				   "FULL JOIN (SELECT e.ready_slot, e.queue, e.priority, e.enqueue_shard, "
				   "pg_catalog.count(*) AS actual FROM awa.done_entries AS e "
				   "GROUP BY 1, 2, 3, 4) AS a "
				   "ON a.ready_slot OPERATOR(pg_catalog.=) c.ready_slot "
				   "AND a.queue OPERATOR(pg_catalog.=) c.queue "
				   "AND a.priority OPERATOR(pg_catalog.=) c.priority "
				   "AND a.enqueue_shard OPERATOR(pg_catalog.=) c.enqueue_shard "
				   "WHERE COALESCE(c.live_terminal_count, 0) "
				   "OPERATOR(pg_catalog.<>) COALESCE(a.actual, 0) "
				   "ORDER BY 1, 2, 3, 4",
				   0, NULL, NULL, NULL, true, 0, SPI_OK_SELECT);
	for (i = 0; i < n; i++)
	{
		Datum		values[6];
		bool		nulls[6];
		int			col;

		for (col = 0; col < 6; col++)
			values[col] = AwaSpiGetDatum(i, col + 1, &nulls[col]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	AwaSpiFinish();
	return (Datum) 0;
}
