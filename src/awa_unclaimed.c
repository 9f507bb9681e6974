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
 *	   below either), never by less than one.  The caller appends what the
 *	   removed row becomes (cancel: a wide done row and its counter).
 *
 * Lock order (SPEC 5): claim-head row -> ready row -> the caller's rows
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
