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
 * its own statement or through AwaCountersApply(); prune deletes a slot's
 * rows after folding the truncated partition into the rollups.
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

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"

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
