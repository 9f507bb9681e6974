/*-------------------------------------------------------------------------
 *
 * awa_complete.c
 *	  Workers: awa.complete_batch(), the fused receipt completion.
 *
 * In one statement per claim slot: lock the receipts of the given
 * attempts (one primary-key probe per job, the slot being a parameter),
 * append their closures (stale or already closed attempts drop out
 * here), delete any attempt_state of those attempts,
 * append narrow done rows (the body stays in the retained ready row) and
 * add them to the live terminal counters through AWA_COUNTER_UPSERT_FROM,
 * grouped and sorted by the counter key before ON CONFLICT.
 *
 * The current claim slot is tried first (claims and completions almost
 * always happen within one rotation), all or nothing: when every receipt
 * is there, that one statement does everything, counters included.  In
 * READ COMMITTED the receipts are locked, and the closed ones left out,
 * before that statement (AwaLockOpenReceipts), which then appends plain
 * closures (AWA_CLOSURE_UNCLOSED_ONLY) and reads the receipts without
 * locking them again; when attempt_state is empty the same writes are made
 * without a statement (CompleteDirect, awa_complete_direct.c); in
 * REPEATABLE READ and SERIALIZABLE, whose snapshot
 * is older than the locks, the statement locks them and appends the
 * closures ON CONFLICT DO NOTHING, as the later passes do.
 * Otherwise the pairs are looked up in every slot and each slot that
 * holds one runs the same statement without the counter upsert; the
 * groups they finalized are added to the counters at the end in one
 * ordered upsert, so counter rows are always locked in key order, once
 * per call.  Jobs whose unique claim changes between running and
 * completed (their mask has one but not the other) take the general path:
 * the same statement, then AwaUniqueSync.
 *
 * Lock order (SPEC 5.7): receipts -> closures -> done rows -> counters ->
 * unique claims.
 *
 * Copyright (c) 2026, awa_queue developers
 *
 * IDENTIFICATION
 *	  src/awa_complete.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "awa_queue.h"

/*
 * The fused completion of the attempts whose receipts are in slot $3,
 * "locked" being those receipts (LOCKED_BY_PROBE or OPEN_BY_TID); every
 * row of "fin" is inserted into done_entries (no ON CONFLICT), so "fin" is
 * exactly what was finalized.
 *
 * $5 > 0 is the all-or-nothing guard of the first pass: unless all $5
 * attempts have their receipt in this slot, nothing is written (the
 * receipts found stay locked, which the general path needs anyway).  $6
 * says whether the counter upsert runs in this statement (the first pass)
 * or is left to the caller, which collects the groups returned here over
 * several slots and applies them once, in key order (AwaCounterDeltas).
 * "att" is the CTE forgetting heartbeat/progress rows of the closed
 * attempts, left out when attempt_state is empty (AwaAttemptStateIsEmpty).
 * "guard" is the closure insert's AWA_CLOSURE_* guard.
 */
#define COMPLETE_FUSED_SQL(locked, att, guard) \
	"WITH " locked \
	"closed AS (" AWA_CLOSURE_INSERT_FROM("(SELECT l.claim_slot, l.job_id, l.run_lease " \
										  "FROM locked AS l WHERE $5 = 0 " \
										  "OR (SELECT pg_catalog.count(*) FROM locked) = $5)", \
										  "'completed'", guard) "), " \
	att \
	"fin AS (SELECT l.ready_slot, l.ready_generation, l.job_id, l.kind, l.queue, " \
	"'completed'::awa.job_state AS state, l.priority, l.attempt, l.run_lease, " \
	"l.lane_seq, l.enqueue_shard, l.claimed_at AS attempted_at, " \
	"$4::pg_catalog.timestamptz AS finalized_at, NULL::pg_catalog.jsonb AS payload, " \
	"l.unique_key, l.unique_states FROM locked AS l JOIN closed AS x " \
	"ON x.job_id = l.job_id AND x.run_lease = l.run_lease), " \
	"done AS (" AWA_DONE_NARROW_INSERT_FROM("fin") "), " \
	"cnt AS (" AWA_COUNTER_UPSERT_FROM("(SELECT ready_slot, queue, priority, enqueue_shard, " \
									   "1 AS delta FROM done WHERE $6)") ") " \
	"SELECT f.job_id, f.run_lease, f.unique_key, f.unique_states, " \
	"f.ready_slot, f.queue, f.priority, f.enqueue_shard FROM fin AS f"

#define RECEIPT_COLUMNS \
	"c.claim_slot, c.job_id, c.run_lease, c.ready_slot, c.ready_generation, c.kind, " \
	"c.queue, c.priority, c.attempt, c.lane_seq, c.enqueue_shard, c.claimed_at, " \
	"c.unique_key, c.unique_states"

/*
 * The receipts of the attempts ($1, $2), locked here: one primary-key probe
 * per attempt (LATERAL, in the order of the arrays, which the caller passes
 * sorted by (job_id, run_lease) and distinct, so locks are taken in key
 * order); closed ones are left to the closure guard.
 */
#define LOCKED_BY_PROBE \
	"req AS (SELECT u.job_id, u.run_lease FROM " \
	"ROWS FROM (pg_catalog.unnest($1::pg_catalog.int8[]), pg_catalog.unnest($2::pg_catalog.int8[])) " \
	"AS u(job_id, run_lease)), " \
	"locked AS (SELECT c.* FROM req CROSS JOIN LATERAL (SELECT " RECEIPT_COLUMNS " " \
	"FROM awa.lease_claims AS c WHERE c.job_id = req.job_id " \
	"AND c.run_lease = req.run_lease AND c.claim_slot = $3 FOR UPDATE) AS c), "

/*
 * The open receipts AwaLockOpenReceipts locked before this statement, read
 * by their row versions $7 in the slot's partition: one TID fetch per job
 * instead of one index descent ($1 and $2 are not read).  LATERAL, so that
 * each fetch is a parameterized TID scan whatever the statistics say (with
 * "ctid = ANY ($7)" the planner may prefer the primary key on claim_slot
 * and filter every receipt of the slot against the array).
 */
#define OPEN_BY_TID \
	"locked AS (SELECT c.* FROM pg_catalog.unnest($7::pg_catalog.tid[]) AS t(tid) " \
	"CROSS JOIN LATERAL (SELECT " RECEIPT_COLUMNS " FROM awa.lease_claims AS c " \
	"WHERE c.claim_slot = $3 AND c.ctid = t.tid OFFSET 0) AS c), "

#define ATTEMPT_STATE_FORGET "att AS (" AWA_ATTEMPT_STATE_DELETE_USING("closed") "), "

/* a fused completion plan: how "locked" is read, the heartbeat delete, the closure guard */
#define COMPLETE_PLAN(locked, att, guard) \
	{ \
		.sql = COMPLETE_FUSED_SQL(locked, att, guard), \
		.nargs = 7, \
		.argtypes = {INT8ARRAYOID, INT8ARRAYOID, INT4OID, TIMESTAMPTZOID, INT4OID, \
					 BOOLOID, TIDARRAYOID} \
	}

static AwaPlan complete_fused_plan =
COMPLETE_PLAN(LOCKED_BY_PROBE, ATTEMPT_STATE_FORGET, AWA_CLOSURE_SKIP_CLOSED);

/* the same without the attempt_state delete, for an empty attempt_state */
static AwaPlan complete_fused_noatt_plan =
COMPLETE_PLAN(LOCKED_BY_PROBE, "", AWA_CLOSURE_SKIP_CLOSED);

/* the two above, for open receipts AwaLockOpenReceipts locked before it */
static AwaPlan complete_prelocked_plan =
COMPLETE_PLAN(OPEN_BY_TID, ATTEMPT_STATE_FORGET, AWA_CLOSURE_UNCLOSED_ONLY);

static AwaPlan complete_prelocked_noatt_plan =
COMPLETE_PLAN(OPEN_BY_TID, "", AWA_CLOSURE_UNCLOSED_ONLY);

/*
 * Every claim slot holding a receipt of attempts ($1, $2).  The current
 * slot is not excluded: claim-ring prune may have carried a receipt into
 * it after the first pass looked there.
 */
static AwaPlan other_slots_plan = {
	.sql = "SELECT DISTINCT c.claim_slot FROM "
	"ROWS FROM (pg_catalog.unnest($1::pg_catalog.int8[]), pg_catalog.unnest($2::pg_catalog.int8[])) "
	"AS u(job_id, run_lease) CROSS JOIN LATERAL (SELECT c.claim_slot FROM awa.lease_claims AS c "
	"WHERE c.job_id = u.job_id AND c.run_lease = u.run_lease "
	"OFFSET 0) AS c ORDER BY 1",
	.nargs = 2,
	.argtypes = {INT8ARRAYOID, INT8ARRAYOID}
};

typedef struct Attempt
{
	int64		job_id;
	int64		run_lease;
	bool		finalized;
	bool		stale;			/* found closed: nothing to do */
	ItemPointerData tid;		/* its receipt, when locked by LockOpenReceipts */
} Attempt;

static int
AttemptCompare(const void *a, const void *b)
{
	const Attempt *x = (const Attempt *) a;
	const Attempt *y = (const Attempt *) b;

	if (x->job_id != y->job_id)
		return x->job_id < y->job_id ? -1 : 1;
	if (x->run_lease != y->run_lease)
		return x->run_lease < y->run_lease ? -1 : 1;
	return 0;
}

/* state of one complete_batch call */
typedef struct CompleteState
{
	Attempt    *attempts;		/* sorted, distinct */
	int			n;
	int			nfinalized;
	int			nstale;
	ReturnSetInfo *rsinfo;
	bytea	  **ukeys;
	uint8	   *umasks;
	int64	   *uids;
	int			nunique;
	TimestampTz now;
	bool		attempt_state_empty;	/* no heartbeat row to forget */
	AwaCounterDeltas deltas;	/* groups finalized by later passes */
} CompleteState;

/*
 * PendingKeys
 *		The (job_id, run_lease) of the attempts neither finalized nor found
 *		stale yet, in key order, into ids[] and leases[] (room for st->n),
 *		and, when tids is not NULL, their receipts' row versions; returns
 *		their number.
 */
static int
PendingKeys(CompleteState *st, int64 *ids, int64 *leases, ItemPointerData *tids)
{
	int			k = 0;
	int			i;

	for (i = 0; i < st->n; i++)
	{
		if (st->attempts[i].finalized || st->attempts[i].stale)
			continue;
		ids[k] = st->attempts[i].job_id;
		leases[k] = st->attempts[i].run_lease;
		if (tids != NULL)
			tids[k] = st->attempts[i].tid;
		k++;
	}
	return k;
}

/*
 * PendingArrays
 *		The (job_id, run_lease) arrays of the attempts neither finalized nor
 *		found stale yet (PendingKeys), and when "tids" is not NULL the
 *		array of their receipts' row versions, as SQL arrays for a
 *		statement's parameters; returns their number.
 */
static int
PendingArrays(CompleteState *st, Datum *ids, Datum *leases, Datum *tids)
{
	int64	   *a = palloc(sizeof(int64) * Max(st->n, 1));
	int64	   *b = palloc(sizeof(int64) * Max(st->n, 1));
	ItemPointerData *t = palloc(sizeof(ItemPointerData) * Max(st->n, 1));
	Datum	   *da = palloc(sizeof(Datum) * Max(st->n, 1));
	Datum	   *db = palloc(sizeof(Datum) * Max(st->n, 1));
	Datum	   *dt = palloc(sizeof(Datum) * Max(st->n, 1));
	int			k = PendingKeys(st, a, b, t);
	int			i;

	for (i = 0; i < k; i++)
	{
		da[i] = Int64GetDatum(a[i]);
		db[i] = Int64GetDatum(b[i]);
		dt[i] = PointerGetDatum(&t[i]);
	}
	if (tids != NULL)
		*tids = PointerGetDatum(construct_array(dt, k, TIDOID, sizeof(ItemPointerData),
												false, TYPALIGN_SHORT));
	*ids = PointerGetDatum(construct_array(da, k, INT8OID, 8, FLOAT8PASSBYVAL,
										   TYPALIGN_DOUBLE));
	*leases = PointerGetDatum(construct_array(db, k, INT8OID, 8, FLOAT8PASSBYVAL,
											  TYPALIGN_DOUBLE));
	return k;
}

/*
 * LockOpenReceipts
 *		Lock the receipts of every attempt of the call in claim slot "slot",
 *		in (job_id, run_lease) order, remember their row versions, and mark
 *		the closed ones stale, through AwaLockOpenReceipts (READ COMMITTED
 *		only).  True when every
 *		receipt was there; nothing is marked otherwise.  Called before any
 *		attempt is finalized.
 */
static bool
LockOpenReceipts(CompleteState *st, int32 slot)
{
	int64	   *ids = palloc(sizeof(int64) * st->n);
	int64	   *leases = palloc(sizeof(int64) * st->n);
	bool	   *closed = palloc(sizeof(bool) * st->n);
	ItemPointerData *tids = palloc(sizeof(ItemPointerData) * st->n);
	int			i;

	/* before any attempt is finalized or found stale, all are pending */
	if (PendingKeys(st, ids, leases, NULL) != st->n)
		elog(ERROR, "awa_queue: receipts locked after an attempt was finalized");
	if (AwaLockOpenReceipts(slot, ids, leases, st->n, closed, tids) != st->n)
		return false;
	for (i = 0; i < st->n; i++)
	{
		st->attempts[i].tid = tids[i];
		if (closed[i])
		{
			st->attempts[i].stale = true;
			st->nstale++;
		}
	}
	return true;
}

/*
 * RecordFinalized
 *		Note attempt (job_id, run_lease) as finalized by this call: a result
 *		row, and a unique claim to sync when its mask (NULL: the default)
 *		has one of running and completed but not the other.
 */
static void
RecordFinalized(CompleteState *st, int64 job_id, int64 run_lease, Datum ukey,
				bool ukey_null, Datum mask, bool mask_null)
{
	Attempt		key = {0};
	Attempt    *hit;
	Datum		out[2];
	bool		nulls[2] = {false, false};

	key.job_id = job_id;
	key.run_lease = run_lease;
	hit = bsearch(&key, st->attempts, st->n, sizeof(Attempt), AttemptCompare);
	if (hit == NULL || hit->finalized)
		elog(ERROR, "awa_queue: completion returned an attempt it was not given");
	hit->finalized = true;
	st->nfinalized++;
	out[0] = Int64GetDatum(job_id);
	out[1] = Int64GetDatum(run_lease);
	tuplestore_putvalues(st->rsinfo->setResult, st->rsinfo->setDesc, out, nulls);
	if (!ukey_null)
	{
		uint8		m = mask_null ? AWA_UNIQUE_DEFAULT_MASK : AwaMaskFromDatum(mask);

		if (AwaMaskHas(m, AWA_STATE_BIT_RUNNING) !=
			AwaMaskHas(m, AWA_STATE_BIT_COMPLETED))
		{
			st->ukeys[st->nunique] = DatumGetByteaPCopy(ukey);
			st->umasks[st->nunique] = m;
			st->uids[st->nunique] = job_id;
			st->nunique++;
		}
	}
}

/*
 * CompleteDirect
 *		The first pass for the pending attempts, all locked and found open
 *		by AwaLockOpenReceipts in claim slot "slot", without a statement
 *		(AwaDirectCompleteOpen).  Returns the number finalized, or -1 when
 *		the direct write does not apply (nothing written).
 */
static int
CompleteDirect(CompleteState *st, int32 slot)
{
	int64	   *ids = palloc(sizeof(int64) * st->n);
	int64	   *leases = palloc(sizeof(int64) * st->n);
	ItemPointerData *tids = palloc(sizeof(ItemPointerData) * st->n);
	AwaFinalized *out = palloc(sizeof(AwaFinalized) * st->n);
	int			k = PendingKeys(st, ids, leases, tids);
	int			i;

	if (k == 0)
		return 0;
	if (!AwaDirectCompleteOpen(slot, ids, leases, tids, k, st->now, out))
		return -1;
	awa_backend_stats.complete_direct_passes++;
	for (i = 0; i < k; i++)
		RecordFinalized(st, out[i].job_id, out[i].run_lease, out[i].unique_key,
						out[i].unique_key_null, out[i].unique_states,
						out[i].unique_states_null);
	return k;
}

/*
 * CompleteInSlot
 *		Finalize the pending attempts whose receipts are in claim slot
 *		"slot": without a statement when every one was locked, and found
 *		open, by AwaLockOpenReceipts before ("prelocked") and attempt_state
 *		is empty (CompleteDirect), else with the fused statement; record
 *		what was finalized (result rows, unique claims to sync).  Returns
 *		the number of attempts finalized.  Nothing runs (and no statement is
 *		counted) when no attempt is pending.
 */
static int
CompleteInSlot(CompleteState *st, int32 slot, bool first_pass, bool prelocked)
{
	Datum		values[7];
	AwaPlan    *plan;
	int			npending;
	int			done;
	int			i;

	if (prelocked && st->attempt_state_empty)
	{
		done = CompleteDirect(st, slot);
		if (done >= 0)
			return done;
	}
	/* $7, the receipts' row versions, is read by the prelocked plans only */
	npending = PendingArrays(st, &values[0], &values[1], &values[6]);
	if (npending == 0)
		return 0;
	if (first_pass)
		awa_backend_stats.complete_fused_statements++;
	else
		awa_backend_stats.complete_slot_pass_statements++;
	values[2] = Int32GetDatum(slot);
	values[3] = TimestampTzGetDatum(st->now);
	values[4] = Int32GetDatum(first_pass ? npending : 0);
	values[5] = BoolGetDatum(first_pass);
	if (prelocked)
		plan = st->attempt_state_empty ? &complete_prelocked_noatt_plan :
			&complete_prelocked_plan;
	else
		plan = st->attempt_state_empty ? &complete_fused_noatt_plan :
			&complete_fused_plan;
	done = AwaPlanExec(plan, values, NULL, false, 0, SPI_OK_SELECT);
	for (i = 0; i < done; i++)
	{
		bool		ukey_null;
		bool		mask_null;
		bool		isnull;
		Datum		ukey = AwaSpiGetDatum(i, 3, &ukey_null);
		Datum		mask = AwaSpiGetDatum(i, 4, &mask_null);
		int64		job_id = AwaSpiGetInt64(i, 1, 0);

		RecordFinalized(st, job_id, AwaSpiGetInt64(i, 2, 0), ukey, ukey_null,
						mask, mask_null);
		if (!first_pass)
			AwaCounterDeltasAdd(&st->deltas,
								DatumGetInt32(AwaSpiGetDatum(i, 5, &isnull)),
								DatumGetTextPP(AwaSpiGetDatum(i, 6, &isnull)),
								DatumGetInt16(AwaSpiGetDatum(i, 7, &isnull)),
								DatumGetInt16(AwaSpiGetDatum(i, 8, &isnull)),
								1);
	}
	return done;
}

/*
 * awa_complete_batch
 *		awa.complete_batch(job_ids bigint[], run_leases bigint[]) RETURNS
 *		TABLE(job_id bigint, run_lease bigint)
 *
 * Completes the given running attempts and returns exactly those it
 * finalized; a stale pair (attempt closed, rescued, cancelled, already
 * completed, or a wrong run_lease) changes nothing and is absent from the
 * result.  A pair given twice is finalized once.  Locks the receipts, then
 * writes closures, done rows and counters in that order.
 */
PG_FUNCTION_INFO_V1(awa_complete_batch);
Datum
awa_complete_batch(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ArrayType  *ids;
	ArrayType  *leases;
	int64	   *id_values;
	int64	   *lease_values;
	int			n;
	int			i;
	int			k;
	int32		current;
	bool		prelocked;
	CompleteState st;
	int			planner_scope;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", PG_ARGISNULL(0) ? "job_ids" : "run_leases")));
	ids = PG_GETARG_ARRAYTYPE_P(0);
	leases = PG_GETARG_ARRAYTYPE_P(1);
	AwaValidateParallelArrays(ids, leases, "job_ids", "run_leases");
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	n = AwaArrayLengthChecked(ids, "job_ids");
	if (n == 0)
		return (Datum) 0;

	id_values = AwaInt8ArrayValues(ids, &n);
	lease_values = AwaInt8ArrayValues(leases, &n);
	memset(&st, 0, sizeof(st));
	st.attempts = palloc(sizeof(Attempt) * n);
	for (i = 0; i < n; i++)
	{
		st.attempts[i].job_id = id_values[i];
		st.attempts[i].run_lease = lease_values[i];
		st.attempts[i].finalized = false;
		st.attempts[i].stale = false;
		ItemPointerSetInvalid(&st.attempts[i].tid);
	}
	qsort(st.attempts, n, sizeof(Attempt), AttemptCompare);
	for (i = 0, k = 0; i < n; i++)
		if (k == 0 || AttemptCompare(&st.attempts[k - 1], &st.attempts[i]) != 0)
			st.attempts[k++] = st.attempts[i];
	st.n = k;
	st.rsinfo = rsinfo;
	st.ukeys = palloc(sizeof(bytea *) * st.n);
	st.umasks = palloc(sizeof(uint8) * st.n);
	st.uids = palloc(sizeof(int64) * st.n);
	st.now = AwaNow();

	planner_scope = AwaHotPlannerBegin();
	AwaSpiConnect();
	st.attempt_state_empty = AwaAttemptStateIsEmpty();
	current = AwaClaimRingSlot();

	/*
	 * The common case: every receipt is in the current slot.  In READ
	 * COMMITTED, lock them and leave the closed ones out first (decision
	 * 37).
	 */
	prelocked = !IsolationUsesXactSnapshot() && LockOpenReceipts(&st, current);
	if (prelocked)
		awa_backend_stats.complete_prelocked_passes++;
	awa_backend_stats.complete_fused_jobs += CompleteInSlot(&st, current, true,
															prelocked);

	/* the rest: receipts of older slots (or stale pairs, found nowhere) */
	if (st.nfinalized + st.nstale < st.n)
	{
		Datum		values[2];
		int			nslots;
		int32	   *slots;

		PendingArrays(&st, &values[0], &values[1], NULL);
		nslots = AwaPlanExec(&other_slots_plan, values, NULL, false, 0,
							 SPI_OK_SELECT);
		slots = palloc(sizeof(int32) * Max(nslots, 1));
		for (i = 0; i < nslots; i++)
			slots[i] = (int32) AwaSpiGetInt64(i, 1, 0);
		for (i = 0; i < nslots && st.nfinalized + st.nstale < st.n; i++)
		{
			awa_backend_stats.complete_slot_pass_jobs += CompleteInSlot(&st, slots[i], false,
																		false);
		}
		AwaCounterDeltasApply(&st.deltas);
	}

	/* general path: unique claims that change between running and completed */
	if (st.nunique > 0)
	{
		int		   *from = palloc(sizeof(int) * st.nunique);
		int		   *to = palloc(sizeof(int) * st.nunique);

		for (i = 0; i < st.nunique; i++)
		{
			from[i] = AWA_STATE_BIT_RUNNING;
			to[i] = AWA_STATE_BIT_COMPLETED;
		}
		AwaUniqueSync(st.nunique, st.ukeys, st.umasks, st.uids, from, to);
		awa_backend_stats.complete_unique_sync_jobs += st.nunique;
	}
	AwaSpiFinish();
	AwaHotPlannerEnd(planner_scope);
	return (Datum) 0;
}
