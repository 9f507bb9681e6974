/*-------------------------------------------------------------------------
 *
 * awa_unclaimed.c
 *	  Removing an unclaimed ready row from its lane: the one step shared
 *	  by cancel (available branch) and the compat delete.
 *
 * An available job is a ready row at or ahead of its lane's claim head
 * (lane_seq >= claim_seq).  Taking it out of the lane must not race a
 * claimer, and must not leave the head pointing below rows that no longer
 * exist (phantom backlog, hazard O9).  AwaRemoveUnclaimed:
 *
 *	1. locks the lane's claim head FOR UPDATE (a claimer holding it
 *	   finishes first; claimers only SKIP LOCKED, so they never wait for
 *	   us) and re-checks lane_seq >= claim_seq on the latest head;
 *	2. runs the caller's statement, which starts with the CTEs of
 *	   AWA_UNCLAIMED_REMOVE_CTES (awa_queue.h): delete the ready row and,
 *	   when it was the head row, move claim_seq to the lane's next visible
 *	   ready row, else to the committed next_seq (rows of a lane commit in
 *	   lane_seq order under the enqueue head, so nothing in flight sits
 *	   below either), never by less than one.  The same statement records
 *	   the removed position in awa.ready_holes.  The caller appends what
 *	   the removed row becomes (cancel: a wide done row and its counter).
 *
 * Holes are what lets queue_counts count available jobs from the heads:
 * every position of [claim_seq, next_seq) is a ready row or a hole, so
 * available = next_seq - claim_seq - holes at or above claim_seq.  A hole
 * that falls below claim_seq (claims, the head advance above, claim gap
 * recovery) is garbage; AwaHolesCollect deletes a bounded number of them
 * per maintenance tick, never the hot path.
 *
 * Lock order (SPEC 5): claim-head row -> ready row -> hole row (insert,
 * never contended: a lane position is removed once) -> the caller's rows
 * -> claim head update (already locked).
 *
 * Copyright (c) 2026, awa_queue developers
 *
 * IDENTIFICATION
 *	  src/awa_unclaimed.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"

#include "awa_queue.h"

/* lock a lane's claim head ($1, $2, $3), reading its latest claim_seq */
static AwaPlan claim_head_lock_plan = {
	.sql = "SELECT h.claim_seq FROM awa.queue_claim_heads AS h "
	"WHERE h.queue OPERATOR(pg_catalog.=) $1 AND h.priority OPERATOR(pg_catalog.=) $2 "
	"AND h.enqueue_shard OPERATOR(pg_catalog.=) $3 FOR UPDATE",
	.nargs = 3,
	.argtypes = {TEXTOID, INT2OID, INT2OID}
};

/*
 * Delete up to $1 holes below their lane's claim_seq: per lane an index
 * range scan of the holes under the head, so the cost is O(lanes + $1),
 * whatever the number of live holes.
 */
static AwaPlan holes_collect_plan = {
	.sql = "WITH g AS (SELECT o.queue, o.priority, o.enqueue_shard, o.lane_seq "
	"FROM awa.queue_claim_heads AS h CROSS JOIN LATERAL ("
	"SELECT x.queue, x.priority, x.enqueue_shard, x.lane_seq FROM awa.ready_holes AS x "
	"WHERE x.queue OPERATOR(pg_catalog.=) h.queue "
	"AND x.priority OPERATOR(pg_catalog.=) h.priority "
	"AND x.enqueue_shard OPERATOR(pg_catalog.=) h.enqueue_shard "
	"AND x.lane_seq OPERATOR(pg_catalog.<) h.claim_seq "
	"ORDER BY x.lane_seq LIMIT $1) AS o LIMIT $1), "
	"d AS (DELETE FROM awa.ready_holes AS x USING g "
	"WHERE x.queue OPERATOR(pg_catalog.=) g.queue "
	"AND x.priority OPERATOR(pg_catalog.=) g.priority "
	"AND x.enqueue_shard OPERATOR(pg_catalog.=) g.enqueue_shard "
	"AND x.lane_seq OPERATOR(pg_catalog.=) g.lane_seq RETURNING 1) "
	"SELECT pg_catalog.count(*) FROM d",
	.nargs = 1,
	.argtypes = {INT4OID}
};

/*
 * AwaRemoveUnclaimed
 *		Remove the unclaimed ready row whose key and job id are values[0..5]
 *		(queue text, priority int2, enqueue_shard int2, lane_seq int8,
 *		ready_slot int4, job_id int8) by running "plan", a statement that
 *		starts with AWA_UNCLAIMED_REMOVE_CTES and takes values (and nulls,
 *		which may be NULL) as its parameters.
 *
 * Locking contract: the lane's claim head FOR UPDATE first, kept until
 * commit; the statement runs only when the row is still unclaimed under
 * that lock, with a snapshot taken after it.  Returns the number of rows
 * the statement returned (its result stays in SPI_tuptable), or -1 when
 * the lane is gone or the row was claimed before the lock was granted:
 * the caller locates the job again.
 */
int
AwaRemoveUnclaimed(AwaPlan *plan, Datum *values, const char *nulls)
{
	int64		lane_seq = DatumGetInt64(values[3]);

	if (AwaPlanExec(&claim_head_lock_plan, values, NULL, false, 0,
					SPI_OK_SELECT) != 1)
		return -1;
	if (lane_seq < AwaSpiGetInt64(0, 1, 0))
		return -1;
	return AwaPlanExec(plan, values, nulls, false, 0, SPI_OK_SELECT);
}

/*
 * AwaHolesCollect
 *		Delete up to max_rows holes that lie below their lane's claim_seq
 *		(no longer counted by queue_counts).
 *
 * Locking contract: reads the claim heads without a lock (claim_seq only
 * grows, so a stale value deletes less, never a live hole) and deletes
 * hole rows nobody else writes once they are below the head.  Called by
 * the maintenance tick under its advisory lock.  Returns the number of
 * holes deleted.
 */
int64
AwaHolesCollect(int max_rows)
{
	Datum		values[1];

	values[0] = Int32GetDatum(max_rows);
	AwaPlanExec(&holes_collect_plan, values, NULL, false, 0, SPI_OK_SELECT);
	return AwaSpiGetInt64(0, 1, 0);
}
