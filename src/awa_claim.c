/*-------------------------------------------------------------------------
 *
 * awa_claim.c
 *	  Workers: awa.claim_batch(), claim with receipts.
 *
 * One call fills up to max_jobs across the lanes of a queue: it picks the
 * lane with the best effective priority (claim-time aging), then the
 * oldest candidate, locks its claim head FOR UPDATE SKIP LOCKED, and
 * claims the lane's available rows FIFO by lane_seq (across every ready
 * slot the lane has rows in) in one statement that advances the claim head
 * and appends one receipt per job to the current claim slot.  Then the
 * next lane, until max_jobs are claimed or no lane is left.
 *
 * Locking contract (SPEC 5.3): claim heads are only ever locked with
 * SKIP LOCKED, so a claimer never waits on another claimer or on an
 * enqueuer; ready partitions are read; receipts are appended; the claim
 * ring cursor is read without a lock.
 *
 * Gap safety: the lane's committed next_seq is read (by the lane pick)
 * before the claim statement scans ready rows.  Lane positions are handed
 * out under the enqueue-head lock and committed in order, so every row
 * below that next_seq is committed and visible to the later scan; when the
 * scan finds fewer rows than it may take, the rows it did not see in
 * [claim_seq, next_seq) were deleted, and claim_seq may move to next_seq,
 * never further.  Rows of an in-flight enqueue are >= the committed
 * next_seq and are never skipped.
 *
 * Copyright (c) 2026, awa_queue developers
 *
 * IDENTIFICATION
 *	  src/awa_claim.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "datatype/timestamp.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/timestamp.h"

#include "awa_queue.h"

#define AWA_CLAIM_MAX_JOBS	10000

/* effective (aged) priority of a candidate: $aging seconds per level */
#define EFFECTIVE_PRIORITY(prio, run_at, now, aging) \
	"CASE WHEN " aging " > 0 AND " run_at " IS NOT NULL THEN " \
	"GREATEST(1, " prio " - pg_catalog.floor(pg_catalog.date_part('epoch', " \
	now " - " run_at ") / " aging "))::pg_catalog.int4 ELSE " prio "::pg_catalog.int4 END"

/*
 * Pick the next lane: best effective priority of its first available row,
 * then the oldest such row; lanes whose rows were all deleted
 * (claim_seq < next_seq but no row) come last and get their gap closed.
 * Locks the chosen claim head, skipping locked ones.  The fifth column
 * counts the candidate lanes not visited yet (the chosen one included):
 * when it is 1 the call needs no further pick.
 */
static AwaPlan lane_pick_plan = {
	.sql = "SELECT ch.priority, ch.enqueue_shard, eh.next_seq, ch.claim_seq, "
	"(SELECT pg_catalog.count(*) FROM awa.queue_claim_heads AS c2 "
	"JOIN awa.queue_enqueue_heads AS e2 ON e2.queue = c2.queue "
	"AND e2.priority = c2.priority AND e2.enqueue_shard = c2.enqueue_shard "
	"WHERE c2.queue = $1 AND c2.claim_seq < e2.next_seq "
	"AND NOT (c2.priority::pg_catalog.int4 * 100 + c2.enqueue_shard = ANY ($2))) "
	"FROM awa.queue_claim_heads AS ch "
	"JOIN awa.queue_enqueue_heads AS eh ON eh.queue = ch.queue "
	"AND eh.priority = ch.priority AND eh.enqueue_shard = ch.enqueue_shard "
	"LEFT JOIN LATERAL (SELECT r.run_at FROM awa.ready_entries AS r "
	"WHERE r.queue = ch.queue AND r.priority = ch.priority "
	"AND r.enqueue_shard = ch.enqueue_shard AND r.lane_seq >= ch.claim_seq "
	"ORDER BY r.lane_seq LIMIT 1) AS c ON true "
	"WHERE ch.queue = $1 AND ch.claim_seq < eh.next_seq "
	"AND NOT (ch.priority::pg_catalog.int4 * 100 + ch.enqueue_shard = ANY ($2)) "
	"AND NOT EXISTS (SELECT 1 FROM awa.queue_meta AS m WHERE m.queue = $1 AND m.paused) "
	"ORDER BY " EFFECTIVE_PRIORITY("ch.priority", "c.run_at", "$3", "$4") ", "
	"c.run_at NULLS LAST, ch.priority, ch.enqueue_shard "
	"LIMIT 1 FOR UPDATE OF ch SKIP LOCKED",
	.nargs = 4,
	.argtypes = {TEXTOID, INT4ARRAYOID, TIMESTAMPTZOID, FLOAT8OID}
};

/*
 * Claim up to $4 rows of one (locked) lane, FIFO from its claim_seq $9
 * (read under the lock by the lane pick, so the scan starts at the
 * index position instead of walking claimed history); advance its claim head
 * past them (or to the committed next_seq $5 read before the scan, when
 * fewer rows were found: gap recovery); append the receipts; return the
 * claimed jobs in lane order as awa.claimed_job columns plus the unique
 * mask.
 */
static AwaPlan lane_claim_plan = {
	.sql = "WITH sel AS (SELECT r.ready_slot, r.ready_generation, r.job_id, r.kind, r.queue, "
	"r.args, r.priority, r.attempt, r.run_lease, r.max_attempts, r.lane_seq, "
	"r.enqueue_shard, r.run_at, r.unique_key, r.unique_states, r.payload "
	"FROM awa.ready_entries AS r WHERE r.queue = $1 AND r.priority = $2 "
	"AND r.enqueue_shard = $3 AND r.lane_seq >= $9 "
	"ORDER BY r.lane_seq LIMIT $4), "
	"adv AS (UPDATE awa.queue_claim_heads AS ch SET claim_seq = GREATEST(ch.claim_seq, "
	"(SELECT pg_catalog.max(s.lane_seq) + 1 FROM sel AS s), "
	"CASE WHEN (SELECT pg_catalog.count(*) FROM sel) < $4 THEN $5 END) "
	"WHERE ch.queue = $1 AND ch.priority = $2 AND ch.enqueue_shard = $3), "
	"rcpt AS (SELECT " AWA_CLAIM_RING_SLOT_SQL " AS claim_slot, s.job_id, "
	"s.run_lease + 1 AS run_lease, s.ready_slot, s.ready_generation, s.kind, s.queue, "
	"s.priority, (" EFFECTIVE_PRIORITY("s.priority", "s.run_at", "$6", "$7") ")::pg_catalog.int2 "
	"AS effective_priority, (s.attempt + 1)::pg_catalog.int2 AS attempt, s.max_attempts, "
	"s.lane_seq, s.enqueue_shard, $6 AS claimed_at, $6 + $8 AS deadline_at, "
	"s.unique_key, s.unique_states, s.args, s.payload FROM sel AS s), "
	"ins AS (" AWA_RECEIPT_INSERT_FROM("rcpt") ") "
	"SELECT s.job_id, s.run_lease, s.kind, s.queue, s.args, s.priority, s.attempt, "
	"s.max_attempts, COALESCE(s.payload -> 'metadata', '{}'::pg_catalog.jsonb), "
	"CASE WHEN s.payload IS NULL THEN '{}'::pg_catalog.text[] "
	"ELSE ARRAY(SELECT pg_catalog.jsonb_array_elements_text(s.payload -> 'tags')) END, "
	"s.claimed_at, s.deadline_at, s.claim_slot, s.effective_priority, s.unique_key, "
	"s.unique_states FROM rcpt AS s ORDER BY s.lane_seq",
	.nargs = 9,
	.argtypes = {TEXTOID, INT2OID, INT2OID, INT4OID, INT8OID, TIMESTAMPTZOID,
	FLOAT8OID, INTERVALOID, INT8OID}
};

/* number of awa.claimed_job columns returned by the claim statement */
#define CLAIMED_JOB_COLUMNS 15

/*
 * IntervalSeconds
 *		An interval as seconds (months count 30 days).
 */
static double
IntervalSeconds(Interval *iv)
{
	return (double) iv->time / USECS_PER_SEC +
		(double) iv->day * SECS_PER_DAY +
		(double) iv->month * DAYS_PER_MONTH * SECS_PER_DAY;
}

/*
 * awa_claim_batch
 *		awa.claim_batch(queue text, max_jobs int, deadline interval, aging
 *		interval) RETURNS SETOF awa.claimed_job
 *
 * Claims up to max_jobs available jobs of a queue (none when it is
 * paused), best effective priority first, FIFO per lane, and returns them
 * in claim order.  Each claimed job gets a receipt in the current claim
 * slot with run_lease + 1, attempt + 1 and deadline_at = now + deadline.
 * Never waits on a row lock.
 */
PG_FUNCTION_INFO_V1(awa_claim_batch);
Datum
awa_claim_batch(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	text	   *queue;
	int32		max_jobs;
	Datum		deadline;
	double		aging_secs;
	TimestampTz now = AwaNow();
	Datum	   *visited;
	int			nvisited = 0;
	int			remaining;
	bytea	  **ukeys;
	uint8	   *umasks;
	int64	   *uids;
	int			nunique = 0;

	if (PG_ARGISNULL(0))
		AwaValidateName(NULL, "queue");
	queue = PG_GETARG_TEXT_PP(0);
	AwaValidateName(queue, "queue");
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("max_jobs must not be null")));
	max_jobs = PG_GETARG_INT32(1);
	if (max_jobs < 1 || max_jobs > AWA_CLAIM_MAX_JOBS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_jobs must be between 1 and %d", AWA_CLAIM_MAX_JOBS),
				 errdetail("The value given was %d.", max_jobs)));
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("deadline must not be null")));
	deadline = PG_GETARG_DATUM(2);
	if (IntervalSeconds(DatumGetIntervalP(deadline)) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("deadline must be positive")));
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("aging must not be null"),
				 errhint("Pass interval '0' to disable priority aging.")));
	aging_secs = IntervalSeconds(PG_GETARG_INTERVAL_P(3));
	if (aging_secs < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("aging must not be negative")));

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	visited = palloc(sizeof(Datum) * (AWA_PRIORITY_MAX + 1) * AWA_SHARDS_MAX);
	ukeys = palloc(sizeof(bytea *) * max_jobs);
	umasks = palloc(sizeof(uint8) * max_jobs);
	uids = palloc(sizeof(int64) * max_jobs);
	remaining = max_jobs;

	AwaSpiConnect();
	while (remaining > 0 && nvisited < (AWA_PRIORITY_MAX + 1) * AWA_SHARDS_MAX)
	{
		Datum		pick_args[4];
		Datum		claim_args[9];
		int16		priority;
		int16		shard;
		int64		next_seq;
		int64		claim_seq;
		bool		last_lane;
		int			claimed;
		int			i;

		pick_args[0] = PointerGetDatum(queue);
		pick_args[1] = PointerGetDatum(construct_array(visited, nvisited, INT4OID,
													   4, true, TYPALIGN_INT));
		pick_args[2] = TimestampTzGetDatum(now);
		pick_args[3] = Float8GetDatum(aging_secs);
		if (AwaPlanExec(&lane_pick_plan, pick_args, NULL, false, 1,
						SPI_OK_SELECT) == 0)
			break;
		priority = (int16) AwaSpiGetInt64(0, 1, 0);
		shard = (int16) AwaSpiGetInt64(0, 2, 0);
		next_seq = AwaSpiGetInt64(0, 3, 0);
		claim_seq = AwaSpiGetInt64(0, 4, 0);
		last_lane = AwaSpiGetInt64(0, 5, 0) <= 1;
		visited[nvisited++] = Int32GetDatum((int32) priority * 100 + shard);

		claim_args[0] = PointerGetDatum(queue);
		claim_args[1] = Int16GetDatum(priority);
		claim_args[2] = Int16GetDatum(shard);
		claim_args[3] = Int32GetDatum(remaining);
		claim_args[4] = Int64GetDatum(next_seq);
		claim_args[5] = TimestampTzGetDatum(now);
		claim_args[6] = Float8GetDatum(aging_secs);
		claim_args[7] = deadline;
		claim_args[8] = Int64GetDatum(claim_seq);
		awa_backend_stats.claim_lane_statements++;
		claimed = AwaPlanExec(&lane_claim_plan, claim_args, NULL, false, 0,
							  SPI_OK_SELECT);
		for (i = 0; i < claimed; i++)
		{
			Datum		values[CLAIMED_JOB_COLUMNS];
			bool		nulls[CLAIMED_JOB_COLUMNS];
			int			c;
			bool		isnull;

			for (c = 0; c < CLAIMED_JOB_COLUMNS; c++)
				values[c] = AwaSpiGetDatum(i, c + 1, &nulls[c]);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc,
								 values, nulls);
			if (!nulls[CLAIMED_JOB_COLUMNS - 1])
			{
				Datum		mask = AwaSpiGetDatum(i, CLAIMED_JOB_COLUMNS + 1,
												  &isnull);

				ukeys[nunique] = DatumGetByteaPCopy(values[CLAIMED_JOB_COLUMNS - 1]);
				umasks[nunique] = isnull ? AWA_UNIQUE_DEFAULT_MASK :
					AwaMaskFromDatum(mask);
				uids[nunique] = DatumGetInt64(values[0]);
				nunique++;
			}
		}
		remaining -= claimed;
		/* the only candidate lane left: another pick would find none */
		if (last_lane)
			break;
	}

	/* unique claims of jobs whose mask differs between available and running */
	if (nunique > 0)
	{
		int		   *from = palloc(sizeof(int) * nunique);
		int		   *to = palloc(sizeof(int) * nunique);
		int			i;

		for (i = 0; i < nunique; i++)
		{
			from[i] = AWA_STATE_BIT_AVAILABLE;
			to[i] = AWA_STATE_BIT_RUNNING;
		}
		AwaUniqueSync(nunique, ukeys, umasks, uids, from, to);
	}
	AwaSpiFinish();
	return (Datum) 0;
}
