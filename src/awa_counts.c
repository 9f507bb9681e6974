/*-------------------------------------------------------------------------
 *
 * awa_counts.c
 *	  awa.queue_counts(): exact per-queue counts by state.
 *
 * available = unclaimed ready rows (lane_seq >= claim_seq of the lane),
 * scheduled / retryable = deferred rows, running = open receipts (receipt
 * without closure), dlq = dead-lettered jobs, terminal = live terminal
 * counters + prune rollups.  When the counters are not trusted (after an
 * operator cleared the marker, until rebuild_terminal_counters) terminal
 * counts done_entries instead; otherwise no done row is read, so the cost
 * does not grow with terminal history.
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
 * $1 = queue or NULL (every known queue), $2 = counters trusted.  The CASE
 * keeps the done_entries count out of execution when trusted.
 */
static AwaPlan counts_plan = {
	.sql = "WITH q AS ("
	"SELECT queue FROM awa.queue_meta WHERE $1 IS NULL OR queue = $1 "
	"UNION SELECT queue FROM awa.queue_enqueue_heads WHERE $1 IS NULL OR queue = $1 "
	"UNION SELECT queue FROM awa.deferred_jobs WHERE $1 IS NULL OR queue = $1 "
	"UNION SELECT queue FROM awa.dlq_entries WHERE $1 IS NULL OR queue = $1 "
	"UNION SELECT queue FROM awa.queue_terminal_rollups WHERE $1 IS NULL OR queue = $1 "
	"UNION SELECT queue FROM awa.queue_terminal_live_counts WHERE $1 IS NULL OR queue = $1 "
	"UNION SELECT $1 WHERE $1 IS NOT NULL) "
	"SELECT q.queue, "
	"(SELECT COALESCE(pg_catalog.sum(a.n), 0) FROM awa.queue_claim_heads AS ch "
	"CROSS JOIN LATERAL (SELECT pg_catalog.count(*) AS n FROM awa.ready_entries AS r "
	"WHERE r.queue = ch.queue AND r.priority = ch.priority "
	"AND r.enqueue_shard = ch.enqueue_shard AND r.lane_seq >= ch.claim_seq) AS a "
	"WHERE ch.queue = q.queue)::pg_catalog.int8, "
	"(SELECT pg_catalog.count(*) FROM awa.deferred_jobs AS d "
	"WHERE d.queue = q.queue AND d.state = 'scheduled'), "
	"(SELECT pg_catalog.count(*) FROM awa.deferred_jobs AS d "
	"WHERE d.queue = q.queue AND d.state = 'retryable'), "
	"(SELECT pg_catalog.count(*) FROM awa.lease_claims AS c WHERE c.queue = q.queue "
	"AND NOT EXISTS (SELECT 1 FROM awa.lease_claim_closures AS x "
	"WHERE x.job_id = c.job_id AND x.run_lease = c.run_lease "
	"AND x.claim_slot = c.claim_slot)), "
	"(CASE WHEN $2 THEN (SELECT COALESCE(pg_catalog.sum(t.live_terminal_count), 0) "
	"FROM awa.queue_terminal_live_counts AS t WHERE t.queue = q.queue) "
	"ELSE (SELECT pg_catalog.count(*) FROM awa.done_entries AS e WHERE e.queue = q.queue) END "
	"+ (SELECT COALESCE(pg_catalog.sum(o.pruned_completed_count), 0) "
	"FROM awa.queue_terminal_rollups AS o WHERE o.queue = q.queue))::pg_catalog.int8, "
	"(SELECT pg_catalog.count(*) FROM awa.dlq_entries AS l WHERE l.queue = q.queue) "
	"FROM q ORDER BY q.queue",
	.nargs = 2,
	.argtypes = {TEXTOID, BOOLOID}
};

/*
 * awa_queue_counts
 *		awa.queue_counts(queue text DEFAULT NULL) RETURNS TABLE(queue,
 *		available, scheduled, retryable, running, terminal, dlq)
 *
 * One row per known queue (or only the given one, zeros when it has no
 * jobs).  Read-only; takes no row locks.
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
