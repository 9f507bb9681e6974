/*-------------------------------------------------------------------------
 *
 * awa_counts.c
 *	  awa.queue_counts(): exact per-queue counts by state, and
 *	  awa.verify_available_counts(), the proof of its "available" column.
 *
 * available is derived from the lane heads, never from ready_entries:
 * lane positions are handed out under the enqueue-head lock and commit in
 * order with their ready rows, and an unclaimed ready row is only ever
 * removed by AwaRemoveUnclaimed, which records its position in
 * awa.ready_holes in the same statement.  So in any snapshot every
 * position of [claim_seq, next_seq) is a committed unclaimed ready row or
 * a hole, and per lane
 *		available = next_seq - claim_seq - count(holes >= claim_seq),
 * three index probes per lane: O(lanes), flat in backlog and history.
 * verify_available_counts() compares that with the real count.
 *
 * scheduled / retryable = deferred rows; running = open receipts (receipt
 * without closure), one grouped anti-join over the claim ring, so
 * O(receipts still in the claim ring), which maintenance bounds (closed
 * receipts leave with their slot); dlq = dead-lettered jobs; terminal =
 * live terminal counters + prune rollups.  When the counters are not
 * trusted (after an operator cleared the marker, until
 * rebuild_terminal_counters) terminal counts done_entries instead;
 * otherwise no done row is read, so the cost does not grow with terminal
 * history.
 *
 * Copyright (c) 2026, awa_queue developers
 *
 * IDENTIFICATION
 *	  src/awa_counts.c
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

/*
 * Available jobs of the lane "ch" / "eh" (claim head, enqueue head) from
 * the heads and the holes at or above claim_seq (index range scan).
 */
#define LANE_AVAILABLE_SQL \
	"(eh.next_seq - ch.claim_seq - (SELECT pg_catalog.count(*) " \
	"FROM awa.ready_holes AS o WHERE o.queue = ch.queue AND o.priority = ch.priority " \
	"AND o.enqueue_shard = ch.enqueue_shard AND o.lane_seq >= ch.claim_seq))"

/*
 * $1 = queue or NULL (every known queue), $2 = counters trusted.  The CASE
 * keeps the done_entries count out of execution when trusted.  "run"
 * counts open receipts of every selected queue in one pass over the claim
 * ring (the planner hashes the ring's closures: a nested loop of key
 * probes measured twice as slow, it probes all eight closure partitions).
 */
static AwaPlan counts_plan = {
	.sql = "WITH q AS ("
	"SELECT queue FROM awa.queue_meta WHERE $1 IS NULL OR queue = $1 "
	"UNION SELECT queue FROM awa.queue_enqueue_heads WHERE $1 IS NULL OR queue = $1 "
	"UNION SELECT queue FROM awa.deferred_jobs WHERE $1 IS NULL OR queue = $1 "
	"UNION SELECT queue FROM awa.dlq_entries WHERE $1 IS NULL OR queue = $1 "
	"UNION SELECT queue FROM awa.queue_terminal_rollups WHERE $1 IS NULL OR queue = $1 "
	"UNION SELECT queue FROM awa.queue_terminal_live_counts WHERE $1 IS NULL OR queue = $1 "
	"UNION SELECT $1 WHERE $1 IS NOT NULL), "
	"run AS (SELECT c.queue, pg_catalog.count(*) AS n FROM awa.lease_claims AS c "
	"WHERE ($1 IS NULL OR c.queue = $1) "
	"AND NOT EXISTS (SELECT 1 FROM awa.lease_claim_closures AS x "
	"WHERE x.job_id = c.job_id AND x.run_lease = c.run_lease "
	"AND x.claim_slot = c.claim_slot) GROUP BY c.queue) "
	"SELECT q.queue, "
	"(SELECT COALESCE(pg_catalog.sum(" LANE_AVAILABLE_SQL "), 0) "
	"FROM awa.queue_claim_heads AS ch JOIN awa.queue_enqueue_heads AS eh "
	"ON eh.queue = ch.queue AND eh.priority = ch.priority "
	"AND eh.enqueue_shard = ch.enqueue_shard "
	"WHERE ch.queue = q.queue)::pg_catalog.int8, "
	"(SELECT pg_catalog.count(*) FROM awa.deferred_jobs AS d "
	"WHERE d.queue = q.queue AND d.state = 'scheduled'), "
	"(SELECT pg_catalog.count(*) FROM awa.deferred_jobs AS d "
	"WHERE d.queue = q.queue AND d.state = 'retryable'), "
	"COALESCE(run.n, 0), "
	"(CASE WHEN $2 THEN (SELECT COALESCE(pg_catalog.sum(t.live_terminal_count), 0) "
	"FROM awa.queue_terminal_live_counts AS t WHERE t.queue = q.queue) "
	"ELSE (SELECT pg_catalog.count(*) FROM awa.done_entries AS e WHERE e.queue = q.queue) END "
	"+ (SELECT COALESCE(pg_catalog.sum(o.pruned_completed_count), 0) "
	"FROM awa.queue_terminal_rollups AS o WHERE o.queue = q.queue))::pg_catalog.int8, "
	"(SELECT pg_catalog.count(*) FROM awa.dlq_entries AS l WHERE l.queue = q.queue) "
	"FROM q LEFT JOIN run ON run.queue = q.queue ORDER BY q.queue",
	.nargs = 2,
	.argtypes = {TEXTOID, BOOLOID}
};

/*
 * Every lane known to either head table: what queue_counts counts for it
 * (0 unless both heads exist) against the ready rows at or above its
 * claim_seq (every row when it has no claim head); only the lanes where
 * the two differ.
 */
static AwaPlan verify_available_plan = {
	.sql = "SELECT l.queue, l.priority, l.enqueue_shard, l.counted, l.actual FROM ("
	"SELECT COALESCE(ch.queue, eh.queue) AS queue, "
	"COALESCE(ch.priority, eh.priority) AS priority, "
	"COALESCE(ch.enqueue_shard, eh.enqueue_shard) AS enqueue_shard, "
	"(CASE WHEN ch.queue IS NULL OR eh.queue IS NULL THEN 0 "
	"ELSE " LANE_AVAILABLE_SQL " END)::pg_catalog.int8 AS counted, "
	"(SELECT pg_catalog.count(*) FROM awa.ready_entries AS r "
	"WHERE r.queue = COALESCE(ch.queue, eh.queue) "
	"AND r.priority = COALESCE(ch.priority, eh.priority) "
	"AND r.enqueue_shard = COALESCE(ch.enqueue_shard, eh.enqueue_shard) "
	"AND (ch.claim_seq IS NULL OR r.lane_seq >= ch.claim_seq)) AS actual "
	"FROM awa.queue_claim_heads AS ch FULL JOIN awa.queue_enqueue_heads AS eh "
	"ON eh.queue = ch.queue AND eh.priority = ch.priority "
	"AND eh.enqueue_shard = ch.enqueue_shard) AS l "
	"WHERE l.counted <> l.actual ORDER BY 1, 2, 3",
	.nargs = 0
};

/*
 * awa_queue_counts
 *		awa.queue_counts(queue text DEFAULT NULL) RETURNS TABLE(queue,
 *		available, scheduled, retryable, running, terminal, dlq)
 *
 * One row per known queue (or only the given one, zeros when it has no
 * jobs).  Cost: O(lanes) for available, O(receipts in the claim ring) for
 * running, nothing that grows with terminal history while the counters
 * are trusted.  Read-only; takes no row locks; one snapshot for every
 * column.
 */
PG_FUNCTION_INFO_V1(awa_queue_counts);
Datum
awa_queue_counts(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	text	   *queue = PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0);
	Datum		values[2];
	char		nulls[2] = {' ', ' '};
	int			n;
	int			i;

	if (queue != NULL)
		AwaValidateName(queue, "queue");
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	AwaSpiConnect();
	values[0] = PointerGetDatum(queue);
	if (queue == NULL)
		nulls[0] = 'n';
	values[1] = BoolGetDatum(AwaCountersTrusted());
	n = AwaPlanExec(&counts_plan, values, nulls, true, 0, SPI_OK_SELECT);
	for (i = 0; i < n; i++)
	{
		Datum		row[7];
		bool		rnulls[7];
		int			c;

		for (c = 0; c < 7; c++)
			row[c] = AwaSpiGetDatum(i, c + 1, &rnulls[c]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, row, rnulls);
	}
	AwaSpiFinish();
	return (Datum) 0;
}

/*
 * awa_verify_available_counts
 *		awa.verify_available_counts() RETURNS TABLE(queue, priority,
 *		enqueue_shard, counted, actual)
 *
 * The lanes whose head arithmetic (what queue_counts reports as
 * available) differs from the number of ready rows at or above claim_seq.
 * Empty when exact.  Reads every ready row of the backlog: a check for
 * tests and operators, not for dashboards.  Read-only, takes no lock
 * beyond ACCESS SHARE.
 */
PG_FUNCTION_INFO_V1(awa_verify_available_counts);
Datum
awa_verify_available_counts(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			n;
	int			i;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	AwaSpiConnect();
	n = AwaPlanExec(&verify_available_plan, NULL, NULL, true, 0, SPI_OK_SELECT);
	for (i = 0; i < n; i++)
	{
		Datum		row[5];
		bool		rnulls[5];
		int			c;

		for (c = 0; c < 5; c++)
			row[c] = AwaSpiGetDatum(i, c + 1, &rnulls[c]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, row, rnulls);
	}
	AwaSpiFinish();
	return (Datum) 0;
}
