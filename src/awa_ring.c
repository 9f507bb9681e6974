/*-------------------------------------------------------------------------
 *
 * awa_ring.c
 *	  Rotation and prune of the two rings: the queue ring (ready_entries /
 *	  done_entries, 16 slots) and the claim ring (lease_claims /
 *	  lease_claim_closures, 8 slots).
 *
 * Writers read the ring cursors without locking them (SPEC 5.4).  Rotation
 * locks the ring-state row and moves only into an empty slot.  Prune locks
 * the ring-state row, then the slot row, checks cheaply (no exclusive lock)
 * whether anything live remains, then asks for ACCESS EXCLUSIVE on the
 * slot's two partitions with a lock_timeout of at most
 * awa.prune_lock_timeout ms (a timeout returns "blocked", never a longer
 * wait), re-checks under the lock and TRUNCATEs (SPEC 5.5).  A queue slot
 * is folded into queue_terminal_rollups first, counted from the partition
 * itself; a claim slot carries its still-open receipts forward into the
 * current claim slot.
 *
 * Ring-state rows are created lazily: a missing row reads as "slot 0,
 * generation 0" (and, for the queue ring, "counters trusted").
 *
 * Copyright (c) 2026, awa_queue developers
 *
 * IDENTIFICATION
 *	  src/awa_ring.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "awa_queue.h"

/*
 * One ring: its control tables and the prefixes of its two partition
 * families.  The SQL texts are built from these constant names; partition
 * names (prefix || slot) always pass through quote_identifier.
 */
typedef struct AwaRing
{
	const char *label;			/* "queue" or "claim", for messages */
	int			slot_count;
	const char *part_a;			/* ready_entries_ / lease_claims_ */
	const char *part_b;			/* done_entries_ / lease_claim_closures_ */
	AwaPlan		ensure_state;	/* create the state row if missing (the
								 * NOT EXISTS keeps an existing row from
								 * making the insert wait on its updater) */
	AwaPlan		lock_state;		/* state row FOR UPDATE */
	AwaPlan		lock_state_skip;	/* state row FOR UPDATE SKIP LOCKED */
	AwaPlan		ensure_slot;	/* create the slot row of ($1, $2) if missing */
	AwaPlan		advance;		/* move the cursor to $1 with generation $2 */
	AwaPlan		stamp_slot;		/* slot row of $1 := generation $2 */
	AwaPlan		candidates;		/* initialized non-current slots, oldest first */
	AwaPlan		lock_slot;		/* slot row of $1 FOR UPDATE */
} AwaRing;

#define AWA_RING_PLANS(state, slots, nslots, trusted_col, trusted_val) \
	.ensure_state = { \
		.sql = "INSERT INTO " state " (singleton, current_slot, generation, slot_count" trusted_col ") " \
		"SELECT true, 0, 0, " #nslots trusted_val " WHERE NOT EXISTS (SELECT 1 FROM " state ") " \
		"ON CONFLICT (singleton) DO NOTHING", \
		.nargs = 0}, \
	.lock_state = { \
		.sql = "SELECT current_slot, generation, slot_count FROM " state \
		" WHERE singleton FOR UPDATE", \
		.nargs = 0}, \
	.lock_state_skip = { \
		.sql = "SELECT current_slot, generation, slot_count FROM " state \
		" WHERE singleton FOR UPDATE SKIP LOCKED", \
		.nargs = 0}, \
	.ensure_slot = { \
		.sql = "INSERT INTO " slots " (slot, generation) SELECT $1, $2 " \
		"WHERE NOT EXISTS (SELECT 1 FROM " slots " WHERE slot OPERATOR(pg_catalog.=) $1) " \
		"ON CONFLICT (slot) DO NOTHING", \
		.nargs = 2, .argtypes = {INT4OID, INT8OID}}, \
	.advance = { \
		.sql = "UPDATE " state " SET current_slot = $1, generation = $2 WHERE singleton", \
		.nargs = 2, .argtypes = {INT4OID, INT8OID}}, \
	.stamp_slot = { \
		.sql = "INSERT INTO " slots " AS s (slot, generation) VALUES ($1, $2) " \
		"ON CONFLICT (slot) DO UPDATE SET generation = excluded.generation", \
		.nargs = 2, .argtypes = {INT4OID, INT8OID}}, \
	.candidates = { \
		.sql = "SELECT slot FROM " slots " WHERE generation OPERATOR(pg_catalog.>=) 0 " \
		"AND slot OPERATOR(pg_catalog.<>) $1 ORDER BY generation, slot", \
		.nargs = 1, .argtypes = {INT4OID}}, \
	.lock_slot = { \
		.sql = "SELECT generation FROM " slots " WHERE slot OPERATOR(pg_catalog.=) $1 FOR UPDATE", \
		.nargs = 1, .argtypes = {INT4OID}}

static AwaRing queue_ring = {
	.label = "queue",
	.slot_count = AWA_QUEUE_SLOT_COUNT,
	.part_a = "ready_entries_",
	.part_b = "done_entries_",
	AWA_RING_PLANS("awa.queue_ring_state", "awa.queue_ring_slots", 16,
				   ", terminal_counter_trusted_at", ", pg_catalog.now()")
};

static AwaRing claim_ring = {
	.label = "claim",
	.slot_count = AWA_CLAIM_SLOT_COUNT,
	.part_a = "lease_claims_",
	.part_b = "lease_claim_closures_",
	AWA_RING_PLANS("awa.claim_ring_state", "awa.claim_ring_slots", 8, "", "")
};

/*
 * Anything live in a queue slot: an unclaimed ready row (lane_seq >=
 * claim_seq of its lane; a lane without a claim head has never been
 * claimed) or an open receipt (no closure) whose body is in the slot.  A
 * body retained by an attempt that went back to deferred_jobs is neither
 * (digest O1): deferred rows carry their own copy of the body.
 */
static AwaPlan queue_slot_live_plan = {
	.sql = "SELECT EXISTS (SELECT 1 FROM awa.ready_entries AS r "
	"LEFT JOIN awa.queue_claim_heads AS h "
	"ON h.queue OPERATOR(pg_catalog.=) r.queue "
	"AND h.priority OPERATOR(pg_catalog.=) r.priority "
	"AND h.enqueue_shard OPERATOR(pg_catalog.=) r.enqueue_shard "
	"WHERE r.ready_slot OPERATOR(pg_catalog.=) $1 "
	"AND (h.claim_seq IS NULL OR r.lane_seq OPERATOR(pg_catalog.>=) h.claim_seq)) "
	"OR EXISTS (SELECT 1 FROM awa.lease_claims AS c "
	"WHERE c.ready_slot OPERATOR(pg_catalog.=) $1 "
	"AND NOT EXISTS (SELECT 1 FROM awa.lease_claim_closures AS x "
	"WHERE x.job_id OPERATOR(pg_catalog.=) c.job_id "
	"AND x.run_lease OPERATOR(pg_catalog.=) c.run_lease "
	"AND x.claim_slot OPERATOR(pg_catalog.=) c.claim_slot))",
	.nargs = 1,
	.argtypes = {INT4OID}
};

/* The slot's counter rows go with its done partition (after the done rows) */
static AwaPlan queue_slot_counters_delete_plan = {
	.sql = "DELETE FROM awa.queue_terminal_live_counts "
	"WHERE ready_slot OPERATOR(pg_catalog.=) $1",
	.nargs = 1,
	.argtypes = {INT4OID}
};

/*
 * RingPartition
 *		The schema-qualified, quoted name of partition "prefix || slot".
 */
static char *
RingPartition(const char *prefix, int slot)
{
	return psprintf("awa.%s", quote_identifier(psprintf("%s%d", prefix, slot)));
}

/*
 * The local transaction that last took a prune's exclusive locks.  Those
 * locks are held until the transaction ends, so a later prune in the same
 * transaction (maintenance() prunes several slots and both rings in one
 * tick) must not wait for any lock at all: it would wait while holding an
 * exclusive lock that its blocker may need next.
 */
static LocalTransactionId ring_exclusive_lxid = InvalidLocalTransactionId;

/* set by AwaRingStep for the operation it runs (see there) */
static bool ring_never_wait = false;

#if PG_VERSION_NUM >= 170000
#define AwaCurrentLxid() (MyProc->vxid.lxid)
#else
#define AwaCurrentLxid() (MyProc->lxid)
#endif

/*
 * RingLockState
 *		Create the ring-state row if missing, lock it FOR UPDATE and make
 *		sure the current slot has its slot row.
 *
 * The only ring lock a rotate or prune transaction takes first; writers
 * never lock it.  Fills *current and *generation and returns true.  When
 * this transaction already holds the exclusive locks of an earlier prune it
 * must not wait (see ring_exclusive_lxid): the row is then taken SKIP
 * LOCKED, and false is returned when another rotate or prune holds it.
 */
static bool
RingLockState(AwaRing *ring, int *current, int64 *generation)
{
	Datum		values[2];
	bool		nowait = ring_never_wait ||
		ring_exclusive_lxid == AwaCurrentLxid();

	AwaPlanExec(&ring->ensure_state, NULL, NULL, false, 0, SPI_OK_INSERT);
	if (AwaPlanExec(nowait ? &ring->lock_state_skip : &ring->lock_state,
					NULL, NULL, false, 0, SPI_OK_SELECT) != 1)
	{
		if (nowait)
			return false;
		elog(ERROR, "awa_queue: %s ring-state row is missing", ring->label);
	}
	*current = (int) AwaSpiGetInt64(0, 1, 0);
	*generation = AwaSpiGetInt64(0, 2, 0);
	if (*current < 0 || *current >= ring->slot_count)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s ring cursor points at slot %d, outside the ring",
						ring->label, *current),
				 errdetail("The ring has %d slots.", ring->slot_count)));
	values[0] = Int32GetDatum(*current);
	values[1] = Int64GetDatum(*generation);
	AwaPlanExec(&ring->ensure_slot, values, NULL, false, 0, SPI_OK_INSERT);
	return true;
}

/*
 * RingSlotEmpty
 *		Whether both partitions of a slot hold no visible row.
 *
 * Takes ACCESS SHARE on the two partitions only; cheap on an emptied
 * (truncated) partition.
 */
static bool
RingSlotEmpty(AwaRing *ring, int slot)
{
	char	   *sql;
	bool		isnull;
	Datum		d;

	sql = psprintf("SELECT NOT EXISTS (SELECT 1 FROM %s) AND NOT EXISTS (SELECT 1 FROM %s)",
				   RingPartition(ring->part_a, slot),
				   RingPartition(ring->part_b, slot));
	AwaSqlExec(sql, 0, NULL, NULL, NULL, false, 0, SPI_OK_SELECT);
	d = AwaSpiGetDatum(0, 1, &isnull);
	return !isnull && DatumGetBool(d);
}

/*
 * AwaRingRotate
 *		Advance a ring to its next slot if that slot is empty.
 *
 * Locking: the ring-state row FOR UPDATE, then ACCESS SHARE on the next
 * slot's partitions to see whether they are empty.  A writer that read the
 * old cursor may still insert into the old slot after the rotation; that
 * slot is then simply pruned later.  Returns "rotated" or "skipped_busy".
 */
static const char *
AwaRingRotate(AwaRing *ring)
{
	int			current;
	int64		generation;
	int			next;
	Datum		values[2];

	if (!RingLockState(ring, &current, &generation))
		return "skipped_busy";
	next = (current + 1) % ring->slot_count;
	if (!RingSlotEmpty(ring, next))
		return "skipped_busy";
	values[0] = Int32GetDatum(next);
	values[1] = Int64GetDatum(generation + 1);
	AwaPlanExec(&ring->advance, values, NULL, false, 0, SPI_OK_UPDATE);
	AwaPlanExec(&ring->stamp_slot, values, NULL, false, 0, SPI_OK_INSERT);
	return "rotated";
}

/*
 * RingPruneTarget
 *		The oldest initialized slot that is not current and not already
 *		empty, with its slot row locked FOR UPDATE; -1 when there is none.
 *
 * "Oldest" is the lowest stamped generation (>= 0).  Slots that are
 * already empty are skipped without any lock beyond ACCESS SHARE, so an
 * emptied slot is not re-truncated every tick (digest O10) and pruning
 * moves on to the next oldest slot instead of waiting for the wrap.
 * Caller holds the ring-state row.
 */
static int
RingPruneTarget(AwaRing *ring, int current)
{
	Datum		values[1];
	int			n;
	int			i;
	int		   *slots;

	values[0] = Int32GetDatum(current);
	n = AwaPlanExec(&ring->candidates, values, NULL, false, 0, SPI_OK_SELECT);
	slots = palloc(sizeof(int) * (n + 1));
	for (i = 0; i < n; i++)
		slots[i] = (int) AwaSpiGetInt64(i, 1, -1);
	for (i = 0; i < n; i++)
	{
		if (slots[i] < 0 || slots[i] >= ring->slot_count ||
			RingSlotEmpty(ring, slots[i]))
			continue;
		values[0] = Int32GetDatum(slots[i]);
		if (AwaPlanExec(&ring->lock_slot, values, NULL, false, 0,
						SPI_OK_SELECT) != 1)
			elog(ERROR, "awa_queue: %s ring slot row %d vanished",
				 ring->label, slots[i]);
		return slots[i];
	}
	return -1;
}

/*
 * QueueSlotLive
 *		Whether a queue slot still holds an unclaimed job or is referenced
 *		by an open receipt (the prune gate, doc/design.md 2.5).
 */
static bool
QueueSlotLive(int slot)
{
	Datum		values[1];
	bool		isnull;
	Datum		d;

	values[0] = Int32GetDatum(slot);
	AwaPlanExec(&queue_slot_live_plan, values, NULL, false, 0, SPI_OK_SELECT);
	d = AwaSpiGetDatum(0, 1, &isnull);
	return isnull || DatumGetBool(d);
}

/*
 * PruneLockTimeoutMs
 *		awa.prune_lock_timeout, capped at half of deadlock_timeout.
 *
 * A prune waiting for its exclusive lock can be part of a cycle with a
 * session that holds a ring partition and waits for a ring-state row the
 * prune holds.  The prune's wait is bounded; ending it by its lock timeout
 * before the deadlock detector runs turns such a cycle into a "blocked"
 * prune instead of a deadlock error for the other session.
 */
static int
PruneLockTimeoutMs(void)
{
	return Max(1, Min(awa_prune_lock_timeout_ms, DeadlockTimeout / 2));
}

/*
 * RingLockSlotPartitions
 *		ACCESS EXCLUSIVE on both partitions of a slot, then the re-check
 *		"recheck" under the lock (NULL for none).
 *
 * The first partition (ready_entries / lease_claims, the one readers keep
 * touching) is waited for at most awa.prune_lock_timeout ms; the second is
 * taken NOWAIT.  Prune therefore never waits while it holds an exclusive
 * lock: a writer that holds the second partition and then wants the first
 * (retry_job deletes a done row, then its retained body) cannot form a
 * deadlock cycle with prune, it only makes prune return "blocked".  When
 * this transaction already holds the exclusive locks of an earlier prune,
 * the first partition is taken NOWAIT as well (ring_exclusive_lxid).
 *
 * Runs inside an internal subtransaction, as PL/pgSQL's exception blocks
 * do: a lock timeout (55P03) rolls the subtransaction back and returns
 * "blocked" without waiting any longer; a live slot found by the re-check
 * also rolls back, which releases the exclusive locks at once, and returns
 * "skipped_active".  On success the subtransaction is released, so its
 * locks belong to the caller's transaction until it ends, and NULL is
 * returned.  The caller's lock_timeout is restored before returning.
 * Any other error is re-thrown.
 */
static const char *
RingLockSlotPartitions(AwaRing *ring, int slot, bool (*recheck) (int))
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	const char *volatile result = NULL;
	char	   *saved_timeout;
	char	   *lock_sql;
	char	   *lock_nowait_sql;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];

	saved_timeout = GetConfigOptionByName("lock_timeout", NULL, false);
	lock_sql = psprintf("LOCK TABLE %s IN ACCESS EXCLUSIVE MODE%s",
						RingPartition(ring->part_a, slot),
						ring_exclusive_lxid == AwaCurrentLxid() ? " NOWAIT" : "");
	lock_nowait_sql = psprintf("LOCK TABLE %s IN ACCESS EXCLUSIVE MODE NOWAIT",
							   RingPartition(ring->part_b, slot));

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);
	PG_TRY();
	{
		values[0] = CStringGetTextDatum(psprintf("%dms", PruneLockTimeoutMs()));
		AwaSqlExec("SELECT pg_catalog.set_config('lock_timeout', $1, true)",
				   1, argtypes, values, NULL, false, 0, SPI_OK_SELECT);
		AwaSqlExec(lock_sql, 0, NULL, NULL, NULL, false, 0, SPI_OK_UTILITY);
		AwaSqlExec(lock_nowait_sql, 0, NULL, NULL, NULL, false, 0, SPI_OK_UTILITY);
		if (recheck != NULL && recheck(slot))
			result = "skipped_active";
		if (result == NULL)
		{
			ReleaseCurrentSubTransaction();
			ring_exclusive_lxid = AwaCurrentLxid();
		}
		else
			RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
		if (edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE)
			ReThrowError(edata);
		FreeErrorData(edata);
		result = "blocked";
	}
	PG_END_TRY();

	/* the set_config above is undone by a rollback, not by a release */
	values[0] = CStringGetTextDatum(saved_timeout);
	AwaSqlExec("SELECT pg_catalog.set_config('lock_timeout', $1, true)",
			   1, argtypes, values, NULL, false, 0, SPI_OK_SELECT);
	return result;
}

/*
 * RingTruncateSlot
 *		TRUNCATE both partitions of a slot in one statement.  The caller
 *		holds ACCESS EXCLUSIVE on them already.
 */
static void
RingTruncateSlot(AwaRing *ring, int slot)
{
	AwaSqlExec(psprintf("TRUNCATE %s, %s",
						RingPartition(ring->part_a, slot),
						RingPartition(ring->part_b, slot)),
			   0, NULL, NULL, NULL, false, 0, SPI_OK_UTILITY);
}

/*
 * QueueSlotFold
 *		Add the slot's terminal rows, counted from its done partition (never
 *		from the live counter), to queue_terminal_rollups, and release the
 *		unique claims those rows hold.
 *
 * queue_terminal_rollups is written only here: rows are fed sorted by
 * (queue, priority) before ON CONFLICT (SPEC 5.1).  A narrow done row's
 * unique_key is on its retained ready body (same key and generation); a
 * wide row carries it itself.  A claim is released only when it is still
 * held by the same job_id; claims are locked in key order first.
 */
static void
QueueSlotFold(int slot)
{
	char	   *done = RingPartition("done_entries_", slot);
	char	   *ready = RingPartition("ready_entries_", slot);

	AwaSqlExec(psprintf("INSERT INTO awa.queue_terminal_rollups AS r "
						"(queue, priority, pruned_completed_count) "
						"SELECT d.queue, d.priority, pg_catalog.count(*) FROM %s AS d "
						"GROUP BY d.queue, d.priority ORDER BY d.queue, d.priority "
						"ON CONFLICT (queue, priority) DO UPDATE SET pruned_completed_count = "
						"r.pruned_completed_count OPERATOR(pg_catalog.+) excluded.pruned_completed_count",
						done),
			   0, NULL, NULL, NULL, false, 0, SPI_OK_INSERT);
	AwaSqlExec(psprintf("WITH held AS (SELECT u.unique_key FROM awa.job_unique_claims AS u "
						"JOIN (SELECT d.job_id, COALESCE(d.unique_key, b.unique_key) AS unique_key "
						"FROM %s AS d LEFT JOIN %s AS b "
						"ON b.queue OPERATOR(pg_catalog.=) d.queue "
						"AND b.priority OPERATOR(pg_catalog.=) d.priority "
						"AND b.enqueue_shard OPERATOR(pg_catalog.=) d.enqueue_shard "
						"AND b.lane_seq OPERATOR(pg_catalog.=) d.lane_seq "
						"AND b.ready_generation OPERATOR(pg_catalog.=) d.ready_generation) AS t "
						"ON t.unique_key OPERATOR(pg_catalog.=) u.unique_key "
						"AND t.job_id OPERATOR(pg_catalog.=) u.job_id "
						"ORDER BY u.unique_key FOR UPDATE OF u) "
						"DELETE FROM awa.job_unique_claims AS u USING held "
						"WHERE u.unique_key OPERATOR(pg_catalog.=) held.unique_key",
						done, ready),
			   0, NULL, NULL, NULL, false, 0, SPI_OK_DELETE);
}

/*
 * AwaRingPruneQueue
 *		Prune the oldest non-current, non-empty queue slot.
 *
 * Locking contract (SPEC 5.5): queue ring-state row FOR UPDATE -> slot row
 * FOR UPDATE -> cheap liveness check without exclusive locks -> ACCESS
 * EXCLUSIVE on ready_entries_<s> and done_entries_<s> within
 * awa.prune_lock_timeout -> re-check -> fold into rollups (sorted) ->
 * TRUNCATE -> the slot's counter rows.  Everything happens in the caller's
 * transaction; the exclusive locks are held until it ends.
 * Returns "pruned", "noop", "skipped_active" or "blocked".
 */
static const char *
AwaRingPruneQueue(void)
{
	int			current;
	int64		generation;
	int			slot;
	const char *status;
	Datum		values[1];

	if (!RingLockState(&queue_ring, &current, &generation))
		return "blocked";
	slot = RingPruneTarget(&queue_ring, current);
	if (slot < 0)
		return "noop";
	if (QueueSlotLive(slot))
		return "skipped_active";
	status = RingLockSlotPartitions(&queue_ring, slot, QueueSlotLive);
	if (status != NULL)
		return status;
	QueueSlotFold(slot);
	RingTruncateSlot(&queue_ring, slot);
	values[0] = Int32GetDatum(slot);
	AwaPlanExec(&queue_slot_counters_delete_plan, values, NULL, false, 0,
				SPI_OK_DELETE);
	return "pruned";
}

/*
 * AwaRingPruneClaims
 *		Prune the oldest non-current, non-empty claim slot, carrying its
 *		open receipts forward into the current claim slot.
 *
 * Locking contract: claim ring-state row FOR UPDATE -> slot row FOR UPDATE
 * -> ACCESS EXCLUSIVE on lease_claims_<s> and lease_claim_closures_<s>
 * within awa.prune_lock_timeout -> copy the open receipts through
 * AWA_RECEIPT_INSERT_FROM (same job_id, run_lease and every other column,
 * unique key and mask included, new claim_slot) -> TRUNCATE.  Under the
 * exclusive lock no completion can be closing one of those receipts; once
 * the caller commits, completion and heartbeat find the carried receipt in
 * the current slot by (job_id, run_lease).  A few long attempts therefore
 * never stall the claim ring (SPEC 4.5).
 * Returns "pruned", "noop" or "blocked".
 */
static const char *
AwaRingPruneClaims(void)
{
	int			current;
	int64		generation;
	int			slot;
	const char *status;
	Oid			argtypes[1] = {INT4OID};
	Datum		values[1];

	if (!RingLockState(&claim_ring, &current, &generation))
		return "blocked";
	slot = RingPruneTarget(&claim_ring, current);
	if (slot < 0)
		return "noop";
	status = RingLockSlotPartitions(&claim_ring, slot, NULL);
	if (status != NULL)
		return status;
	values[0] = Int32GetDatum(current);
	AwaSqlExec(psprintf(AWA_RECEIPT_INSERT_FROM("(SELECT $1::pg_catalog.int4 AS claim_slot, "
												"c.job_id, c.run_lease, c.ready_slot, "
												"c.ready_generation, c.kind, c.queue, c.priority, "
												"c.effective_priority, c.attempt, c.max_attempts, "
												"c.lane_seq, c.enqueue_shard, c.claimed_at, "
												"c.deadline_at, c.unique_key, c.unique_states "
												"FROM %s AS c WHERE NOT EXISTS (SELECT 1 FROM %s AS x "
												"WHERE x.job_id OPERATOR(pg_catalog.=) c.job_id "
												"AND x.run_lease OPERATOR(pg_catalog.=) c.run_lease))"),
						RingPartition(claim_ring.part_a, slot),
						RingPartition(claim_ring.part_b, slot)),
			   1, argtypes, values, NULL, false, 0, SPI_OK_INSERT_RETURNING);
	RingTruncateSlot(&claim_ring, slot);
	return "pruned";
}

/*
 * AwaRingStep
 *		Run one ring operation inside an existing SPI connection; used by
 *		awa.maintenance() and by the four SQL-callable wrappers below.
 *
 * "never_wait" (the maintenance tick) takes the ring-state row SKIP LOCKED:
 * a tick has already read ring partitions, and must not wait for a row
 * whose holder may be waiting for an exclusive lock on one of them.
 */
const char *
AwaRingStep(AwaRingOp op, bool never_wait)
{
	ring_never_wait = never_wait;
	switch (op)
	{
		case AWA_RING_ROTATE:
			return AwaRingRotate(&queue_ring);
		case AWA_RING_PRUNE:
			return AwaRingPruneQueue();
		case AWA_RING_ROTATE_CLAIMS:
			return AwaRingRotate(&claim_ring);
		case AWA_RING_PRUNE_CLAIMS:
			return AwaRingPruneClaims();
	}
	elog(ERROR, "awa_queue: unknown ring operation %d", (int) op);
	return NULL;				/* keep compiler quiet */
}

/*
 * RingStepText
 *		Run one ring operation in its own SPI connection and return its
 *		status word as text.
 */
static Datum
RingStepText(AwaRingOp op)
{
	const char *status;

	AwaSpiConnect();
	status = AwaRingStep(op, false);
	AwaSpiFinish();
	PG_RETURN_TEXT_P(cstring_to_text(status));
}

/*
 * awa_rotate
 *		awa.rotate() RETURNS text: advance the queue ring if the next slot
 *		is empty; "rotated" or "skipped_busy".
 */
PG_FUNCTION_INFO_V1(awa_rotate);
Datum
awa_rotate(PG_FUNCTION_ARGS)
{
	return RingStepText(AWA_RING_ROTATE);
}

/*
 * awa_rotate_claims
 *		awa.rotate_claims() RETURNS text: advance the claim ring if the next
 *		slot is empty; "rotated" or "skipped_busy".
 */
PG_FUNCTION_INFO_V1(awa_rotate_claims);
Datum
awa_rotate_claims(PG_FUNCTION_ARGS)
{
	return RingStepText(AWA_RING_ROTATE_CLAIMS);
}

/*
 * awa_prune_oldest
 *		awa.prune_oldest() RETURNS text: prune the oldest queue slot;
 *		"pruned", "noop", "skipped_active" or "blocked".
 */
PG_FUNCTION_INFO_V1(awa_prune_oldest);
Datum
awa_prune_oldest(PG_FUNCTION_ARGS)
{
	return RingStepText(AWA_RING_PRUNE);
}

/*
 * awa_prune_oldest_claims
 *		awa.prune_oldest_claims() RETURNS text: prune the oldest claim slot,
 *		carrying open receipts forward; "pruned", "noop" or "blocked".
 */
PG_FUNCTION_INFO_V1(awa_prune_oldest_claims);
Datum
awa_prune_oldest_claims(PG_FUNCTION_ARGS)
{
	return RingStepText(AWA_RING_PRUNE_CLAIMS);
}
