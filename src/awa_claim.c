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

#include <math.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "datatype/timestamp.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
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
 * Locks the chosen claim head, skipping locked ones.  Columns: the lane
 * (priority, shard), its next_seq and claim_seq, the ready slot of its
 * last claimed row and the queue ring's current slot (for the near
 * claim), and the number of candidate lanes not visited yet (the chosen
 * one included): when it is 1 the call needs no further pick.
 */
/* the lanes of the claim heads "ch" with their enqueue heads "eh" */
#define LANE_HEADS(ch, eh) \
	"awa.queue_claim_heads AS " ch " JOIN awa.queue_enqueue_heads AS " eh " " \
	"ON " eh ".queue = " ch ".queue AND " eh ".priority = " ch ".priority " \
	"AND " eh ".enqueue_shard = " ch ".enqueue_shard "

static AwaPlan lane_pick_plan = {
	.sql = "SELECT ch.priority, ch.enqueue_shard, eh.next_seq, ch.claim_seq, "
	"ch.last_claimed_slot, " AWA_QUEUE_RING_SLOT_SQL ", "
	"(SELECT pg_catalog.count(*) FROM " LANE_HEADS("c2", "e2")
	"WHERE c2.queue = $1 AND c2.claim_seq < e2.next_seq "
	"AND NOT (c2.priority::pg_catalog.int4 * 100 + c2.enqueue_shard = ANY ($2))) "
	"FROM " LANE_HEADS("ch", "eh")
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
 * The cheap first pick of a call: the number of candidate lanes (those
 * with unclaimed positions, not paused) and, only when there is exactly
 * one, that lane locked FOR UPDATE SKIP LOCKED (NULL when another claimer
 * holds it).  With one candidate no ordering is needed, so the call skips
 * the full pick, whose probe of every ready partition for the head row's
 * run_at is most of the cost of claiming a few jobs.  With more than one
 * nothing is locked; the last column (the candidates' distinct
 * last_claimed_slot values) feeds the near pick (LockNearBestLane), and
 * lane_pick_plan runs when that cannot decide.
 */
static AwaPlan lane_single_plan = {
	.sql = "SELECT n.candidates, l.priority, l.enqueue_shard, l.next_seq, l.claim_seq, "
	"l.last_claimed_slot, " AWA_QUEUE_RING_SLOT_SQL ", n.hints "
	"FROM (SELECT pg_catalog.count(*) AS candidates, pg_catalog.array_agg(DISTINCT "
	"c2.last_claimed_slot) FILTER (WHERE c2.last_claimed_slot IS NOT NULL) AS hints "
	"FROM " LANE_HEADS("c2", "e2")
	"WHERE c2.queue = $1 AND c2.claim_seq < e2.next_seq "
	"AND NOT EXISTS (SELECT 1 FROM awa.queue_meta AS m WHERE m.queue = $1 AND m.paused)) AS n "
	"LEFT JOIN LATERAL (SELECT ch.priority, ch.enqueue_shard, eh.next_seq, ch.claim_seq, "
	"ch.last_claimed_slot "
	"FROM " LANE_HEADS("ch", "eh")
	"WHERE n.candidates = 1 AND ch.queue = $1 AND ch.claim_seq < eh.next_seq "
	"FOR UPDATE OF ch SKIP LOCKED) AS l ON true",
	.nargs = 1,
	.argtypes = {TEXTOID}
};

/*
 * The head row (first position at or after claim_seq) of every candidate
 * lane of queue $1, looked up only in the ready slots $2..$5, without
 * locking anything: (priority, shard, claim_seq, head lane_seq, head
 * run_at).  A head found at lane_seq = claim_seq is the lane's head
 * wherever the rest of the lane lives; any other outcome (no row, or a
 * later position) makes the caller use the full pick instead.
 */
static AwaPlan lane_heads_near_plan = {
	.sql = "SELECT ch.priority, ch.enqueue_shard, ch.claim_seq, c.lane_seq, c.run_at "
	"FROM " LANE_HEADS("ch", "eh")
	"LEFT JOIN LATERAL (SELECT r.lane_seq, r.run_at FROM awa.ready_entries AS r "
	"WHERE r.queue = ch.queue AND r.priority = ch.priority "
	"AND r.enqueue_shard = ch.enqueue_shard AND r.lane_seq >= ch.claim_seq "
	"AND r.ready_slot IN ($2, $3, $4, $5) "
	"ORDER BY r.lane_seq LIMIT 1) AS c ON true "
	"WHERE ch.queue = $1 AND ch.claim_seq < eh.next_seq "
	"AND NOT EXISTS (SELECT 1 FROM awa.queue_meta AS m WHERE m.queue = $1 AND m.paused)",
	.nargs = 5,
	.argtypes = {TEXTOID, INT4OID, INT4OID, INT4OID, INT4OID}
};

/*
 * Lock lane ($1, $2, $3) FOR UPDATE SKIP LOCKED if it is still a
 * candidate; the lane columns of lane_pick_plan.
 */
static AwaPlan lane_lock_plan = {
	.sql = "SELECT ch.priority, ch.enqueue_shard, eh.next_seq, ch.claim_seq, "
	"ch.last_claimed_slot, " AWA_QUEUE_RING_SLOT_SQL " "
	"FROM " LANE_HEADS("ch", "eh")
	"WHERE ch.queue = $1 AND ch.priority = $2 AND ch.enqueue_shard = $3 "
	"AND ch.claim_seq < eh.next_seq FOR UPDATE OF ch SKIP LOCKED",
	.nargs = 3,
	.argtypes = {TEXTOID, INT2OID, INT2OID}
};

/*
 * Claim up to $4 rows of one (locked) lane, FIFO from its claim_seq $9
 * (read under the lock by the lane pick, so the scan starts at the
 * index position instead of walking claimed history); advance its claim head
 * past them and remember the ready slot of the last one; append the
 * receipts; return the claimed jobs as awa.claimed_job columns plus the
 * unique mask and lane_seq.  Rows come out in lane order (the scan is
 * ordered and "rcpt" is read back as it was written), without a sort
 * node; ClaimedRowsFromSpi checks that in C (decision 35).
 *
 * LANE_CLAIM_SQL(ctes, src, gap_advance, adv_guard) is shared by the two
 * claim statements.  ctes defines helper CTEs (each followed by a comma)
 * and src is the subquery of the rows to take; they are materialized once,
 * as "rcpt" (receipt columns plus the body), which every later part
 * reads.  gap_advance is an extra GREATEST() argument for the claim head;
 * adv_guard an extra condition on the head update.
 */
#define LANE_CLAIM_COLUMNS \
	"r.ready_slot, r.ready_generation, r.job_id, r.kind, r.queue, " \
	"r.args, r.priority, r.attempt, r.run_lease, r.max_attempts, r.lane_seq, " \
	"r.enqueue_shard, r.run_at, r.unique_key, r.unique_states, r.payload " \
	"FROM awa.ready_entries AS r WHERE r.queue = $1 AND r.priority = $2 " \
	"AND r.enqueue_shard = $3 AND r.lane_seq >= $9 "
#define LANE_CLAIM_SQL(ctes, src, gap_advance, adv_guard) \
	"WITH " ctes \
	"rcpt AS (SELECT " AWA_CLAIM_RING_SLOT_SQL " AS claim_slot, s.job_id, " \
	"s.run_lease + 1 AS run_lease, s.ready_slot, s.ready_generation, s.kind, s.queue, " \
	"s.priority, (" EFFECTIVE_PRIORITY("s.priority", "s.run_at", "$6", "$7") ")::pg_catalog.int2 " \
	"AS effective_priority, (s.attempt + 1)::pg_catalog.int2 AS attempt, s.max_attempts, " \
	"s.lane_seq, s.enqueue_shard, $6 AS claimed_at, $6 + $8 AS deadline_at, " \
	"s.unique_key, s.unique_states, s.args, s.payload FROM " src " AS s), " \
	"adv AS (UPDATE awa.queue_claim_heads AS ch SET claim_seq = GREATEST(ch.claim_seq, " \
	"(SELECT pg_catalog.max(s.lane_seq) + 1 FROM rcpt AS s)" gap_advance "), " \
	"last_claimed_slot = COALESCE((SELECT s.ready_slot FROM rcpt AS s " \
	"ORDER BY s.lane_seq DESC LIMIT 1), ch.last_claimed_slot) " \
	"WHERE ch.queue = $1 AND ch.priority = $2 AND ch.enqueue_shard = $3" adv_guard "), " \
	"ins AS (" AWA_RECEIPT_INSERT_FROM("rcpt") ") " \
	"SELECT s.job_id, s.run_lease, s.kind, s.queue, s.args, s.priority, s.attempt, " \
	"s.max_attempts, COALESCE(s.payload -> 'metadata', '{}'::pg_catalog.jsonb), " \
	"CASE WHEN s.payload IS NULL THEN '{}'::pg_catalog.text[] " \
	"ELSE ARRAY(SELECT pg_catalog.jsonb_array_elements_text(s.payload -> 'tags')) END, " \
	"s.claimed_at, s.deadline_at, s.claim_slot, s.effective_priority, s.unique_key, " \
	"s.unique_states, s.lane_seq FROM rcpt AS s"

/*
 * The general claim: the lane's rows in every ready slot.  When it finds
 * fewer rows than it may take, the claim head moves to the committed
 * next_seq $5 read before the scan (gap recovery: the positions it did not
 * see were deleted).
 */
static AwaPlan lane_claim_plan = {
	.sql = LANE_CLAIM_SQL("", "(SELECT " LANE_CLAIM_COLUMNS "ORDER BY r.lane_seq LIMIT $4)",
						  ", CASE WHEN (SELECT pg_catalog.count(*) FROM rcpt) < $4 THEN $5 END",
						  ""),
	.nargs = 9,
	.argtypes = {TEXTOID, INT2OID, INT2OID, INT4OID, INT8OID, TIMESTAMPTZOID,
	FLOAT8OID, INTERVALOID, INT8OID}
};

/*
 * The near claim: only the ready slots $10, $11, $12 (the slot of the
 * lane's last claimed row, the one after it, and the current slot), so
 * that the executor opens three partitions instead of every slot.  A row
 * of the lane may sit in another slot (an enqueue reads the ring cursor
 * before it waits for the lane's head), so the rows found are taken only
 * when they are provably the lane's next ones: consecutive positions
 * from claim_seq $9, and either $4 of them or reaching the committed
 * next_seq $5.  Otherwise nothing is written and no row is returned, and
 * the caller runs the general claim.  No gap recovery here: the claim
 * head only moves past rows this statement takes.
 */
static AwaPlan lane_claim_near_plan = {
	.sql = LANE_CLAIM_SQL("near AS (SELECT " LANE_CLAIM_COLUMNS
						  "AND r.ready_slot IN ($10, $11, $12) "
						  "ORDER BY r.lane_seq LIMIT $4), "
						  "span AS (SELECT pg_catalog.count(*) AS n, "
						  "pg_catalog.min(lane_seq) AS lo, pg_catalog.max(lane_seq) AS hi "
						  "FROM near), ",
						  "(SELECT near.* FROM near, span WHERE span.lo = $9 "
						  "AND span.hi - span.lo + 1 = span.n "
						  "AND (span.n = $4 OR span.hi + 1 = $5))",
						  "",
						  " AND EXISTS (SELECT 1 FROM rcpt)"),
	.nargs = 12,
	.argtypes = {TEXTOID, INT2OID, INT2OID, INT4OID, INT8OID, TIMESTAMPTZOID,
	FLOAT8OID, INTERVALOID, INT8OID, INT4OID, INT4OID, INT4OID}
};


/* what the cheap first pick found */
typedef enum SingleLaneOutcome
{
	SINGLE_NONE,				/* no candidate lane (or the queue is paused) */
	SINGLE_BUSY,				/* one candidate, held by another claimer */
	SINGLE_LOCKED,				/* one candidate, now locked by us */
	SINGLE_MANY					/* several candidates: near or full pick */
} SingleLaneOutcome;

/*
 * The ready slots where the heads of a queue's candidate lanes probably
 * are: the slot of each lane's last claimed row, the slot after it, and
 * the current slot.  usable is false when they do not fit in
 * AWA_NEAR_SLOTS_MAX.
 */
typedef struct NearSlots
{
	int			n;
	int32		slots[AWA_NEAR_SLOTS_MAX];
	bool		usable;
} NearSlots;

/* what the near lane pick found */
typedef enum NearPickOutcome
{
	NEAR_LOCKED,				/* the best candidate lane free, now locked */
	NEAR_BUSY,					/* every candidate held by another claimer */
	NEAR_UNSURE					/* a head not provably found: full pick */
} NearPickOutcome;

/*
 * ReadPickedLane
 *		Fill *lane from row 0 of a pick's result, whose lane columns
 *		(priority, shard, next_seq, claim_seq, last_claimed_slot, ring
 *		cursor) start at column "first".  The near slots are the slot of
 *		the lane's last claimed row, the slot after it and the current
 *		slot (only the current one when the lane was never claimed from).
 */
static void
ReadPickedLane(int first, AwaClaimLane *lane)
{
	int32		cursor = (int32) AwaSpiGetInt64(0, first + 5, 0);
	int32		last = (int32) AwaSpiGetInt64(0, first + 4, cursor);

	lane->priority = (int16) AwaSpiGetInt64(0, first, 0);
	lane->shard = (int16) AwaSpiGetInt64(0, first + 1, 0);
	lane->next_seq = AwaSpiGetInt64(0, first + 2, 0);
	lane->claim_seq = AwaSpiGetInt64(0, first + 3, 0);
	lane->near_slots[0] = last;
	lane->near_slots[1] = (last + 1) % AWA_QUEUE_SLOT_COUNT;
	lane->near_slots[2] = cursor;
}

/*
 * AddNearSlot
 *		Add a slot to the set unless present; usable becomes false when the
 *		set would not fit.
 */
static void
AddNearSlot(NearSlots *near, int32 slot)
{
	if (!AwaAddNearSlot(near->slots, &near->n, slot))
		near->usable = false;
}

/*
 * ReadNearSlots
 *		The near slots of lane_single_plan's row 0: the current slot
 *		(column 7), and each distinct last claimed slot of a candidate lane
 *		(column 8) with the slot after it.
 */
static void
ReadNearSlots(NearSlots *near)
{
	bool		isnull;
	Datum		hints = AwaSpiGetDatum(0, 8, &isnull);

	near->n = 0;
	near->usable = true;
	AddNearSlot(near, (int32) AwaSpiGetInt64(0, 7, 0));
	if (!isnull)
	{
		ArrayType  *arr = DatumGetArrayTypeP(hints);
		Datum	   *elems;
		int			nelems;
		int			i;

		deconstruct_array(arr, INT4OID, 4, true, TYPALIGN_INT, &elems, NULL,
						  &nelems);
		for (i = 0; i < nelems; i++)
		{
			int32		last = DatumGetInt32(elems[i]);

			AddNearSlot(near, last);
			AddNearSlot(near, (last + 1) % AWA_QUEUE_SLOT_COUNT);
		}
	}
}

/*
 * LockNearBestLane
 *		The lane pick of lane_pick_plan without its probe of every ready
 *		partition: look up each candidate lane's head row in the near
 *		slots only (lane_heads_near_plan); when every head is provably
 *		found (at the lane's claim_seq), order the lanes as the full pick
 *		does, with the same effective priority, and lock the first one
 *		no other claimer holds (lane_lock_plan, SKIP LOCKED).  NEAR_UNSURE
 *		when a head was not found there: the caller runs the full pick.
 *		Never waits on a lock.
 */
static NearPickOutcome
LockNearBestLane(text *queue, const NearSlots *near, TimestampTz now,
				 double aging_secs, AwaClaimLane *lane)
{
	Datum		args[AWA_NEAR_SLOTS_MAX + 1];
	AwaLaneRank *heads;
	int			nheads;
	int			i;

	args[0] = PointerGetDatum(queue);
	for (i = 0; i < AWA_NEAR_SLOTS_MAX; i++)
		args[i + 1] = Int32GetDatum(near->slots[Min(i, near->n - 1)]);
	nheads = AwaPlanExec(&lane_heads_near_plan, args, NULL, false, 0,
						 SPI_OK_SELECT);
	if (nheads == 0)
		return NEAR_UNSURE;
	heads = palloc(sizeof(AwaLaneRank) * nheads);
	for (i = 0; i < nheads; i++)
	{
		bool		isnull;
		int64		head_seq = AwaSpiGetInt64(i, 4, -1);
		Datum		run_at = AwaSpiGetDatum(i, 5, &isnull);

		if (isnull || head_seq != AwaSpiGetInt64(i, 3, 0))
			return NEAR_UNSURE;
		heads[i].priority = (int16) AwaSpiGetInt64(i, 1, 0);
		heads[i].shard = (int16) AwaSpiGetInt64(i, 2, 0);
		heads[i].run_at = DatumGetTimestampTz(run_at);
		heads[i].effective = AwaEffectivePriority(heads[i].priority,
												  heads[i].run_at, now,
												  aging_secs);
	}
	qsort(heads, nheads, sizeof(AwaLaneRank), AwaLaneRankCompare);
	for (i = 0; i < nheads; i++)
	{
		Datum		lock_args[3];

		lock_args[0] = PointerGetDatum(queue);
		lock_args[1] = Int16GetDatum(heads[i].priority);
		lock_args[2] = Int16GetDatum(heads[i].shard);
		if (AwaPlanExec(&lane_lock_plan, lock_args, NULL, false, 0,
						SPI_OK_SELECT) > 0)
		{
			ReadPickedLane(1, lane);
			lane->last_lane = false;
			awa_backend_stats.claim_near_picks++;
			return NEAR_LOCKED;
		}
	}
	return NEAR_BUSY;
}

/*
 * LockSingleCandidateLane
 *		Run lane_single_plan.  Returns SINGLE_LOCKED with *lane filled when
 *		the queue has exactly one candidate lane and its claim head is now
 *		locked by this transaction; otherwise says why not, and with
 *		several candidates fills *near for the near lane pick.  Never waits
 *		(SKIP LOCKED).
 */
static SingleLaneOutcome
LockSingleCandidateLane(text *queue, AwaClaimLane *lane, NearSlots *near)
{
	Datum		args[1];
	int64		candidates;
	bool		isnull;

	args[0] = PointerGetDatum(queue);
	AwaPlanExec(&lane_single_plan, args, NULL, false, 0, SPI_OK_SELECT);
	candidates = AwaSpiGetInt64(0, 1, 0);
	if (candidates > 1)
		ReadNearSlots(near);
	if (candidates != 1)
		return candidates == 0 ? SINGLE_NONE : SINGLE_MANY;
	(void) AwaSpiGetDatum(0, 2, &isnull);
	if (isnull)
		return SINGLE_BUSY;
	ReadPickedLane(2, lane);
	lane->last_lane = true;
	return SINGLE_LOCKED;
}

/*
 * LockBestLaneSql
 *		Run lane_pick_plan: lock the best candidate lane not visited yet
 *		(SKIP LOCKED).  Returns false when there is none to take.
 */
static bool
LockBestLaneSql(text *queue, Datum *visited, int nvisited, TimestampTz now,
				double aging_secs, AwaClaimLane *lane)
{
	Datum		args[4];

	args[0] = PointerGetDatum(queue);
	args[1] = PointerGetDatum(construct_array(visited, nvisited, INT4OID, 4,
											  true, TYPALIGN_INT));
	args[2] = TimestampTzGetDatum(now);
	args[3] = Float8GetDatum(aging_secs);
	if (AwaPlanExec(&lane_pick_plan, args, NULL, false, 1, SPI_OK_SELECT) == 0)
		return false;
	ReadPickedLane(1, lane);
	lane->last_lane = AwaSpiGetInt64(0, 7, 0) <= 1;
	return true;
}

/*
 * What this backend's last claim saw, for the choice of its next picks:
 * after an empty claim, or a pick the head tables decided, they are read
 * directly again (AwaPickLane); after several candidate lanes that the
 * head tables could not order (a head row outside its lane's near slots),
 * the SQL picks run straight away instead of after a scan that would not
 * decide either.
 */
static bool last_claim_was_empty = true;
static bool last_pick_undecided = false;

/*
 * SetPickedLane
 *		The AwaClaimLane of a lane locked by AwaPickLane, its near slots as
 *		ReadPickedLane sets them.
 */
static void
SetPickedLane(const AwaPickedLane *picked, AwaClaimLane *lane)
{
	int32		cursor = picked->ring_slot;
	int32		last = picked->last_claimed_slot >= 0 ?
		picked->last_claimed_slot : cursor;

	lane->priority = picked->priority;
	lane->shard = picked->shard;
	lane->next_seq = picked->next_seq;
	lane->claim_seq = picked->claim_seq;
	lane->near_slots[0] = last;
	lane->near_slots[1] = (last + 1) % AWA_QUEUE_SLOT_COUNT;
	lane->near_slots[2] = cursor;
	lane->last_lane = picked->candidates <= 1;
	awa_backend_stats.claim_direct_picks++;
	if (picked->candidates > 1)
		awa_backend_stats.claim_near_picks++;
}

/*
 * LockNextLane
 *		Lock the best candidate lane of the call not visited yet, without a
 *		statement where the head tables can decide (AwaPickLane: the next
 *		free lane of the ranking "plan" kept from the call's first pick,
 *		when it kept one), else with lane_pick_plan.  Returns false when
 *		there is none to take.  Never waits on a lock.
 */
static bool
LockNextLane(text *queue, Datum *visited, int nvisited, TimestampTz now,
			 double aging_secs, AwaLanePlan *plan, AwaClaimLane *lane)
{
	if (!last_pick_undecided)
	{
		AwaPickedLane picked;

		switch (AwaPickLane(queue, visited, nvisited, now, aging_secs, plan,
							&picked))
		{
			case AWA_LANE_LOCKED:
				SetPickedLane(&picked, lane);
				return true;
			case AWA_LANE_NONE:
			case AWA_LANE_BUSY:
				return false;
			case AWA_LANE_ASK_SQL:
			default:
				break;
		}
	}
	return LockBestLaneSql(queue, visited, nvisited, now, aging_secs, lane);
}

/*
 * LockFirstLane
 *		Lock the first lane of a call: the best candidate lane no other
 *		claimer holds, picked from the head tables (AwaPickLane), else by
 *		the SQL picks (the only candidate, the near pick, the full pick).
 *
 * When every candidate lane is held by another claimer, the pick is
 * repeated every 200 microseconds for at most awa.claim_busy_wait ms, so
 * that a worker does not come back empty while jobs are available only
 * because another worker's claim is committing; READ COMMITTED only (in a
 * transaction-snapshot transaction the repeated pick could not lock a head
 * that another claimer advanced since the snapshot: serialization failure),
 * elsewhere it returns at once.  The head tables are read directly first
 * (AwaPickLane; see last_pick_undecided for when): no lane with work, or a
 * paused queue, and no statement runs; the best lane with work whose head
 * row lies in its near slots is locked there, and the ranking of the
 * candidate lanes is kept in "plan" for the call's later picks.
 * Never waits on a lock.  Returns false when there is no lane to take.
 */
static bool
LockFirstLane(text *queue, Datum *visited, TimestampTz now, double aging_secs,
			  AwaLanePlan *plan, AwaClaimLane *lane)
{
	TimestampTz give_up = 0;

	for (;;)
	{
		NearSlots	near = {0};
		SingleLaneOutcome single;

		/*
		 * The heads first, without a statement (AwaPickLane): no lane with
		 * work ends the call, the best lane with work no other claimer holds
		 * is locked there.  Skipped while this backend's last pick could
		 * not be decided from the heads (the SQL picks order those lanes),
		 * except after an empty claim and in every repeat.
		 */
		if (give_up != 0 || last_claim_was_empty || !last_pick_undecided)
		{
			AwaPickedLane picked;

			switch (AwaPickLane(queue, visited, 0, now, aging_secs, plan,
								&picked))
			{
				case AWA_LANE_NONE:
					awa_backend_stats.claim_empty_skips++;
					return false;
				case AWA_LANE_LOCKED:
					SetPickedLane(&picked, lane);
					last_pick_undecided = false;
					return true;
				case AWA_LANE_BUSY:
					single = SINGLE_BUSY;
					last_pick_undecided = false;
					break;
				case AWA_LANE_ASK_SQL:
				default:
					single = LockSingleCandidateLane(queue, lane, &near);
					last_pick_undecided = (single == SINGLE_MANY);
					break;
			}
		}
		else
			single = LockSingleCandidateLane(queue, lane, &near);

		if (single == SINGLE_LOCKED)
			return true;
		if (single == SINGLE_NONE)
			return false;
		if (single == SINGLE_MANY)
		{
			NearPickOutcome picked = near.usable ?
				LockNearBestLane(queue, &near, now, aging_secs, lane) :
				NEAR_UNSURE;

			if (picked == NEAR_LOCKED)
				return true;
			if (picked == NEAR_UNSURE &&
				LockBestLaneSql(queue, visited, 0, now, aging_secs, lane))
				return true;
		}
		/* every candidate lane is held by another claimer */
		if (awa_claim_busy_wait_ms <= 0 || IsolationUsesXactSnapshot())
			return false;
		if (give_up == 0)
			give_up = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
												  awa_claim_busy_wait_ms);
		else if (GetCurrentTimestamp() >= give_up)
			return false;
		pg_usleep(200L);
		CHECK_FOR_INTERRUPTS();
		awa_backend_stats.claim_busy_retries++;
	}
}

/* the last column of a claim statement's rows */
#define CLAIMED_LANE_SEQ_COLUMN (AWA_CLAIMED_ROW_COLUMNS - 1)

/* qsort_arg comparator: row indexes by the lane_seq array in arg */
static int
CompareRowsBySeq(const void *a, const void *b, void *arg)
{
	const int64 *seq = (const int64 *) arg;
	int64		sa = seq[*(const int *) a];
	int64		sb = seq[*(const int *) b];

	return (sa > sb) - (sa < sb);
}

/*
 * ClaimedRowsFromSpi
 *		The n rows of the last claim statement (SPI_tuptable) as
 *		AwaClaimedRows, in lane order.  The statement writes them in that
 *		order already, so this is a check; rows are sorted by lane_seq only
 *		if a plan ever produced another order.
 */
static AwaClaimedRow *
ClaimedRowsFromSpi(int n)
{
	AwaClaimedRow *rows = palloc(sizeof(AwaClaimedRow) * Max(n, 1));
	int		   *order = palloc(sizeof(int) * Max(n, 1));
	int64	   *seq = palloc(sizeof(int64) * Max(n, 1));
	bool		sorted = true;
	int			i;

	if (n > 0 && SPI_tuptable->tupdesc->natts != AWA_CLAIMED_ROW_COLUMNS)
		elog(ERROR, "awa_queue: claim statement returned %d columns",
			 SPI_tuptable->tupdesc->natts);
	for (i = 0; i < n; i++)
	{
		bool		isnull;

		seq[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
											 SPI_tuptable->tupdesc,
											 CLAIMED_LANE_SEQ_COLUMN + 1,
											 &isnull));
		order[i] = i;
		if (i > 0 && seq[i] < seq[i - 1])
			sorted = false;
	}
	if (!sorted)
		qsort_arg(order, n, sizeof(int), CompareRowsBySeq, seq);
	for (i = 0; i < n; i++)
		AwaSpiDeformRow(order[i], rows[i].values, rows[i].nulls);
	pfree(order);
	pfree(seq);
	return rows;
}

/*
 * ClaimFromLane
 *		Claim up to max_jobs rows of a locked lane: the near claim without
 *		the executor (AwaDirectClaimLane) where it applies, else its
 *		statement; the general claim when the near one took nothing.
 *		Returns the number of rows claimed, in lane order, in *rows
 *		(AwaClaimedRow columns).
 */
static int
ClaimFromLane(text *queue, const AwaClaimLane *lane, int32 max_jobs,
			  TimestampTz now, double aging_secs, Datum deadline,
			  AwaClaimedRow **rows)
{
	Datum		args[12];
	int			claimed;

	awa_backend_stats.claim_lane_statements++;
	claimed = AwaDirectClaimLane(queue, lane, max_jobs, now, aging_secs,
								 deadline, rows);
	if (claimed > 0)
		return claimed;
	args[0] = PointerGetDatum(queue);
	args[1] = Int16GetDatum(lane->priority);
	args[2] = Int16GetDatum(lane->shard);
	args[3] = Int32GetDatum(max_jobs);
	args[4] = Int64GetDatum(lane->next_seq);
	args[5] = TimestampTzGetDatum(now);
	args[6] = Float8GetDatum(aging_secs);
	args[7] = deadline;
	args[8] = Int64GetDatum(lane->claim_seq);
	args[9] = Int32GetDatum(lane->near_slots[0]);
	args[10] = Int32GetDatum(lane->near_slots[1]);
	args[11] = Int32GetDatum(lane->near_slots[2]);
	/* -1: the direct claim does not apply; 0: its rows were not provable */
	if (claimed < 0)
		claimed = AwaPlanExec(&lane_claim_near_plan, args, NULL, false, 0,
							  SPI_OK_SELECT);
	if (claimed == 0)
	{
		awa_backend_stats.claim_general_statements++;
		claimed = AwaPlanExec(&lane_claim_plan, args, NULL, false, 0,
							  SPI_OK_SELECT);
	}
	*rows = ClaimedRowsFromSpi(claimed);
	return claimed;
}

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
	int			planner_scope;
	AwaLanePlan plan = {0};

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

	planner_scope = AwaHotPlannerBegin();
	AwaSpiConnect();
	while (remaining > 0 && nvisited < (AWA_PRIORITY_MAX + 1) * AWA_SHARDS_MAX)
	{
		AwaClaimLane lane;
		AwaClaimedRow *rows;
		int			claimed;
		int			i;

		if (nvisited == 0)
		{
			if (!LockFirstLane(queue, visited, now, aging_secs, &plan, &lane))
				break;
		}
		else if (!LockNextLane(queue, visited, nvisited, now, aging_secs,
							   &plan, &lane))
			break;
		visited[nvisited++] = Int32GetDatum((int32) lane.priority * 100 +
											lane.shard);

		claimed = ClaimFromLane(queue, &lane, remaining, now, aging_secs,
								deadline, &rows);
		for (i = 0; i < claimed; i++)
		{
			Datum	   *values = rows[i].values;
			bool	   *nulls = rows[i].nulls;

			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc,
								 values, nulls);
			if (!nulls[AWA_CLAIMED_JOB_COLUMNS - 1])
			{
				ukeys[nunique] = DatumGetByteaPCopy(values[AWA_CLAIMED_JOB_COLUMNS - 1]);
				umasks[nunique] = nulls[AWA_CLAIMED_JOB_COLUMNS] ?
					AWA_UNIQUE_DEFAULT_MASK :
					AwaMaskFromDatum(values[AWA_CLAIMED_JOB_COLUMNS]);
				uids[nunique] = DatumGetInt64(values[0]);
				nunique++;
			}
		}
		pfree(rows);
		remaining -= claimed;
		/* the only candidate lane left: another pick would find none */
		if (lane.last_lane)
			break;
	}
	AwaLanePlanEnd(&plan);

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
	AwaHotPlannerEnd(planner_scope);
	last_claim_was_empty = (remaining == max_jobs);
	return (Datum) 0;
}
