/*-------------------------------------------------------------------------
 *
 * awa_queue.h
 *	  Shared prototypes, constants and settings of the awa_queue extension.
 *
 * Every C file of the extension includes this header.  It declares the
 * SPI layer (awa_spi.c), the input validation helpers (awa_validate.c),
 * the counter helper (awa_counters.c) and the settings (awa_guc.c).
 *
 * Copyright (c) 2026, awa_queue developers
 *
 * IDENTIFICATION
 *	  src/awa_queue.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef AWA_QUEUE_H
#define AWA_QUEUE_H

#include "postgres.h"

#include "access/genam.h"

#include "executor/spi.h"
#include "nodes/execnodes.h"
#include "utils/array.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

/* Ring sizes (install-time constants, see awa_queue--22.sql) */
#define AWA_QUEUE_SLOT_COUNT	16
#define AWA_CLAIM_SLOT_COUNT	8

/* Lane identity limits */
#define AWA_PRIORITY_MIN		1
#define AWA_PRIORITY_MAX		4
#define AWA_SHARDS_MAX			64
#define AWA_NAME_MAX_BYTES		200

/* Bit positions of awa.job_state labels inside a unique_states mask */
#define AWA_STATE_BIT_SCHEDULED 0
#define AWA_STATE_BIT_AVAILABLE 1
#define AWA_STATE_BIT_RUNNING	2
#define AWA_STATE_BIT_COMPLETED 3
#define AWA_STATE_BIT_RETRYABLE 4
#define AWA_STATE_BIT_FAILED	5
#define AWA_STATE_BIT_CANCELLED 6
#define AWA_STATE_BIT_WAITING	7

/*
 * The one counter upsert.  Every path that adds or removes terminal rows
 * feeds a relation "src" with columns (ready_slot int, queue text,
 * priority smallint, enqueue_shard smallint, delta int) into this
 * statement, either as a data-modifying CTE of its own statement or
 * through AwaCountersApply().  Rows are grouped and sorted by the table's
 * key before ON CONFLICT so that concurrent batches lock counter rows in
 * the same order (SPEC 5.1) and deltas are added, never overwritten.
 */
#define AWA_COUNTER_UPSERT_FROM(src) \
	"INSERT INTO awa.queue_terminal_live_counts AS c " \
	"(ready_slot, queue, priority, enqueue_shard, live_terminal_count) " \
	"SELECT d.ready_slot, d.queue, d.priority, d.enqueue_shard, " \
	"pg_catalog.sum(d.delta)::pg_catalog.int8 FROM " src " AS d " \
	"GROUP BY d.ready_slot, d.queue, d.priority, d.enqueue_shard " \
	"ORDER BY d.ready_slot, d.queue, d.priority, d.enqueue_shard " \
	"ON CONFLICT (ready_slot, queue, priority, enqueue_shard) DO UPDATE " \
	"SET live_terminal_count = c.live_terminal_count OPERATOR(pg_catalog.+) excluded.live_terminal_count"

/* A kept plan and the statement it was prepared from */
typedef struct AwaPlan
{
	SPIPlanPtr	plan;
	const char *sql;
	int			nargs;
	Oid			argtypes[FUNC_MAX_ARGS];
} AwaPlan;

/* settings (awa_guc.c) */
extern int	awa_heartbeat_staleness_secs;
extern int	awa_prune_lock_timeout_ms;
extern int	awa_backoff_cap_secs;
extern int	awa_maintenance_max_prunes;
extern int	awa_claim_busy_wait_ms;
extern bool awa_direct_writes;

extern void AwaGucInit(void);

/* the queue settings the hot path reads, kept per backend (awa_queue_meta.c) */
extern bool AwaQueuePaused(text *queue);
extern int	AwaQueueEnqueueShards(text *queue);
extern bool AwaQueueNotifyEnabled(text *queue);
extern void AwaQueueMetaInit(void);

/* settings of the hot functions' statements (awa_planner.c) */
extern int	AwaHotPlannerBegin(void);
extern void AwaHotPlannerEnd(int depth);
extern void AwaHotPlannerApply(void);
extern void AwaPlannerInit(void);

/* SPI layer (awa_spi.c) */
extern void AwaSpiConnect(void);
extern void AwaSpiFinish(void);
extern SPIPlanPtr AwaPlanGet(AwaPlan *plan);
extern int	AwaPlanExec(AwaPlan *plan, Datum *values, const char *nulls,
						bool read_only, long tcount, int expected);
extern int	AwaSqlExec(const char *sql, int nargs, Oid *argtypes, Datum *values,
					   const char *nulls, bool read_only, long tcount,
					   int expected);
extern Datum AwaSpiGetDatum(int row, int col, bool *isnull);
extern int64 AwaSpiGetInt64(int row, int col, int64 if_null);
extern void AwaSpiDeformRow(int row, Datum *values, bool *nulls);
extern Datum AwaSpiCopyDatum(int row, int col, bool *isnull);

/* input validation (awa_validate.c) */
extern void AwaValidateName(text *value, const char *what);
extern void AwaValidatePriority(int priority);
extern void AwaValidateShards(int shards);
extern void AwaValidateParallelArrays(ArrayType *a, ArrayType *b,
									  const char *a_name, const char *b_name);
extern int	AwaArrayLengthChecked(ArrayType *arr, const char *what);
extern int64 *AwaInt8ArrayValues(ArrayType *arr, int *n);
extern void AwaRequireNotNull(bool isnull, const char *what);
extern void AwaValidateRange(int value, int min, int max, const char *what);

/* counters (awa_counters.c) */
extern void AwaCountersApply(int n, Datum slots, Datum queues, Datum priorities,
							 Datum shards, Datum deltas);
extern bool AwaCountersTrusted(void);

/* counter deltas collected over several statements, applied once, sorted */
typedef struct AwaCounterDeltas
{
	int			n;
	int			size;
	Datum	   *slots;
	Datum	   *queues;
	Datum	   *priorities;
	Datum	   *shards;
	Datum	   *deltas;
} AwaCounterDeltas;

extern void AwaCounterDeltasAdd(AwaCounterDeltas *acc, int32 ready_slot,
								text *queue, int16 priority,
								int16 enqueue_shard, int32 delta);
extern void AwaCounterDeltasApply(AwaCounterDeltas *acc);

/* ------------------------------------------------------------------
 * Hot path (awa_storage.c, awa_unique.c, awa_stats.c): the per-table
 * writers every path reuses.  Enqueue, promotion, retries and DLQ retry
 * write ready/deferred rows through AwaInsertReadyRows /
 * AwaInsertDeferredRows; every state change of a job with a unique key
 * goes through AwaUniqueSync; receipts, closures and done rows are
 * written with the SQL fragment macros below so that a path composes
 * them into its own statement.
 * ------------------------------------------------------------------
 */

/* default unique_states mask: scheduled, available, running, completed,
 * retryable (bit i = awa.job_state label i, bit 0 leftmost: B'11111000') */
#define AWA_UNIQUE_DEFAULT_MASK	0xF8

/* does a mask byte (first byte of a bit(8)) contain state bit "state"? */
#define AwaMaskHas(mask, state) ((((uint8) (mask)) >> (7 - (state))) & 1)

/* no state: a job that does not exist yet, or that is gone for good */
#define AWA_STATE_NONE			(-1)

/*
 * One job body to write as a ready (available) or deferred row.  The
 * caller fills everything above "enqueue_shard"; NULL pointers mean SQL
 * NULL.  payload is the compact {metadata, tags, ...} document, NULL when
 * empty.  ordering_key pins the job to a stable shard of its
 * (queue, priority); without one the job takes the group's rotor pick.
 */
typedef struct AwaJobRow
{
	int64		job_id;
	text	   *kind;
	text	   *queue;
	int16		priority;
	Jsonb	   *args;
	int16		max_attempts;
	int16		attempt;
	int64		run_lease;
	TimestampTz run_at;
	TimestampTz created_at;
	bool		has_attempted_at;
	TimestampTz attempted_at;	/* deferred rows only */
	bool		has_finalized_at;
	TimestampTz finalized_at;	/* deferred rows only */
	bytea	   *unique_key;
	uint8		unique_mask;	/* meaningful when unique_key != NULL */
	text	   *ordering_key;
	Jsonb	   *payload;
	int			state;			/* deferred rows: AWA_STATE_BIT_SCHEDULED or
								 * AWA_STATE_BIT_RETRYABLE */
	bool		has_home_shard; /* re-enqueue into home_shard when the queue
								 * still has it and no ordering key says
								 * otherwise (an ended attempt's lane) */
	int16		home_shard;
	/* set by AwaInsertReadyRows */
	int16		enqueue_shard;
	int16		free_shards;	/* > 1: the shard is only a rotor pick and any
								 * of the queue's free_shards lanes may take
								 * the row */
} AwaJobRow;

/* the first pick of a claim and checks without SPI (awa_heads.c) */
typedef enum AwaLanePick
{
	AWA_LANE_NONE,				/* no lane has work, or the queue is paused */
	AWA_LANE_LOCKED,			/* the best candidate lane free to take, locked */
	AWA_LANE_BUSY,				/* every candidate lane held by another */
	AWA_LANE_ASK_SQL			/* the SQL pick must decide */
} AwaLanePick;

typedef struct AwaPickedLane
{
	int16		priority;
	int16		shard;
	int64		next_seq;		/* committed, read before the lock */
	int64		claim_seq;		/* read under the lock */
	int32		last_claimed_slot;	/* -1 before the lane's first claim */
	int32		ring_slot;		/* the queue ring's current slot */
	int			candidates;		/* candidate lanes of the pick, this one included */
} AwaPickedLane;

/*
 * The candidate lanes of one claim call as its first pick (AwaPickLane)
 * ranked them, kept for the call's later picks: they lock the next free
 * lane of that ranking instead of reading every lane's heads again.  The
 * first pick's snapshot stays registered while the plan lives, so that the
 * row versions it found cannot be pruned away under the later locks.
 * Zeroed at the start of a claim call; AwaLanePlanEnd at its end.
 */
typedef struct AwaLanePlan
{
	struct CandidateLane *lanes;	/* NULL: no ranking kept (yet) */
	int			nlanes;
	int32		ring_slot;		/* the queue ring's slot at the first pick */
	Snapshot	snapshot;		/* the first pick's, registered */
} AwaLanePlan;

extern AwaLanePick AwaPickLane(text *queue, const Datum *visited, int nvisited,
							   TimestampTz now, double aging_secs,
							   AwaLanePlan *plan, AwaPickedLane *lane);
extern void AwaLanePlanEnd(AwaLanePlan *plan);
extern bool AwaOpenWithPrimaryKey(Oid relid, LOCKMODE lockmode, Relation *heap,
								  Relation *index);
extern bool AwaKeyLeadsWith(Relation index, const char *const *names, int n);

/* a scan of a table through its primary key (awa_heads.c) */
typedef struct AwaKeyScan
{
	Relation	heap;
	Relation	index;
	IndexScanDesc scan;			/* NULL until AwaKeyScanStart */
	TupleTableSlot *slot;		/* the row found last */
} AwaKeyScan;
extern bool AwaKeyScanOpen(Oid relid, LOCKMODE lockmode, AwaKeyScan *ks);
extern void AwaScanKeyEq(ScanKey key, AttrNumber attno, RegProcedure eqproc,
						 Oid collation, Datum value);
extern void AwaKeyScanStart(AwaKeyScan *ks, ScanKey keys, int nkeys,
							Snapshot snapshot);
extern void AwaKeyScanEnd(AwaKeyScan *ks);
extern bool AwaAttemptStateIsEmpty(void);
extern bool AwaQueueRingCursor(Snapshot snapshot, int32 *current, int64 *generation);
extern int32 AwaClaimRingSlot(void);
extern bool AwaClaimRingCursor(Snapshot snapshot, int32 *current, int64 *generation);

/* the near claim of one locked lane without the executor (awa_claim_direct.c) */
typedef struct AwaClaimLane
{
	int16		priority;
	int16		shard;
	int64		next_seq;		/* committed, read before the claim scan */
	int64		claim_seq;		/* read under the lock */
	int32		near_slots[3];	/* slots the near claim looks in */
	bool		last_lane;		/* no other candidate lane is left */
} AwaClaimLane;

/* a claimed job: the awa.claimed_job columns, then unique mask and lane_seq */
#define AWA_CLAIMED_JOB_COLUMNS 15
#define AWA_CLAIMED_ROW_COLUMNS (AWA_CLAIMED_JOB_COLUMNS + 2)
typedef struct AwaClaimedRow
{
	Datum		values[AWA_CLAIMED_ROW_COLUMNS];
	bool		nulls[AWA_CLAIMED_ROW_COLUMNS];
} AwaClaimedRow;
extern int	AwaDirectClaimLane(text *queue, const AwaClaimLane *lane,
							   int32 max_jobs, TimestampTz now, double aging_secs,
							   Datum deadline, AwaClaimedRow **rows);
/* a candidate lane's place in the lane pick (the order of lane_pick_plan) */
typedef struct AwaLaneRank
{
	double		effective;		/* aged priority of its head row */
	TimestampTz run_at;			/* its head row's run_at */
	int16		priority;
	int16		shard;
} AwaLaneRank;

/* most ready slots a lane pick looks in for head rows */
#define AWA_NEAR_SLOTS_MAX 4

extern int	AwaLaneRankCompare(const void *a, const void *b);
extern bool AwaAddNearSlot(int32 *slots, int *n, int32 slot);
extern bool AwaLaneHeadRunAt(text *queue, int16 priority, int16 shard,
							 int64 seq, const int32 *slots, int nslots,
							 Snapshot snapshot, TimestampTz *run_at);
extern double AwaEffectivePriority(int16 priority, TimestampTz run_at,
								   TimestampTz now, double aging_secs);

/* the first pass of a completion without the executor (awa_complete_direct.c) */
typedef struct AwaFinalized
{
	int64		job_id;
	int64		run_lease;
	Datum		unique_key;		/* bytea */
	bool		unique_key_null;
	Datum		unique_states;	/* bit(8) */
	bool		unique_states_null;
} AwaFinalized;
extern bool AwaDirectCompleteOpen(int32 slot, const int64 *job_ids,
								  const int64 *run_leases,
								  const ItemPointerData *tids, int n,
								  TimestampTz now, AwaFinalized *out);

/* rows built and checked, to be appended (awa_tam.c) */
typedef struct AwaAppend AwaAppend;

/* receipt locks without SPI (awa_receipts.c) */
extern int	AwaLockOpenReceipts(int32 slot, const int64 *job_ids,
								const int64 *run_leases, int n, bool *closed,
								ItemPointerData *tids);

/* one receipt for AwaPrepareReceipts; text, bytea and bit(8) as Datums */
typedef struct AwaReceiptRow
{
	int64		job_id;
	int64		run_lease;
	int32		ready_slot;
	int64		ready_generation;
	Datum		kind;
	Datum		queue;
	int16		priority;
	int16		effective_priority;
	int16		attempt;
	int16		max_attempts;
	int64		lane_seq;
	int16		enqueue_shard;
	TimestampTz claimed_at;
	TimestampTz deadline_at;
	Datum		unique_key;
	bool		unique_key_null;
	Datum		unique_states;
	bool		unique_states_null;
} AwaReceiptRow;
extern AwaAppend *AwaPrepareReceipts(int32 claim_slot, const AwaReceiptRow *rows,
									 int n);
extern AwaAppend *AwaPrepareClosures(int32 claim_slot, const int64 *job_ids,
									 const int64 *run_leases, int n,
									 const char *outcome, TimestampTz closed_at);
typedef struct AwaEnqueueHead
{
	int16		shard;
	int64		next_seq;
	ItemPointerData tid;		/* the row version the snapshot saw */
} AwaEnqueueHead;
extern int	AwaEnqueueHeadsOf(text *queue, int16 priority, Snapshot snapshot,
							  AwaEnqueueHead *out);
extern void AwaRememberLaneRow(Oid relid, int32 ready_slot, text *queue,
							   int16 priority, int16 shard, ItemPointer tid);
extern bool AwaFetchRememberedLaneRow(Relation rel, int32 ready_slot,
									  text *queue, int16 priority, int16 shard,
									  Snapshot snapshot, TupleTableSlot *slot);

/* shared by the writes that bypass the executor (awa_tam.c) */
#define AWA_MAP_MAX_COLUMNS 24
typedef struct AwaColumnMap
{
	Oid			relid;
	const char *const *names;	/* the writer's column names */
	int			ncols;
	int			natts;			/* of the relation when mapped */
	AttrNumber	attno[AWA_MAP_MAX_COLUMNS]; /* of names[i] */
} AwaColumnMap;
extern const AwaColumnMap *AwaColumnMapFor(Relation rel, const char *const *names,
										   int ncols, bool exact);
extern void AwaStoreMappedRow(TupleTableSlot *slot, const AwaColumnMap *map,
							  const Datum *values, const bool *nulls);
extern AttrNumber AwaAttnum(Oid relid, const char *name);
extern TupleTableSlot *AwaRowSlot(Relation rel, TupleDesc *desc, int nrows);
extern ResultRelInfo *AwaOpenResultRel(Relation rel);
extern void AwaCloseResultRel(ResultRelInfo *rri);
extern void AwaInsertIndexEntries(ResultRelInfo *rri, TupleTableSlot *slot,
								  EState *estate);
extern void AwaIndexUpdatedRow(Relation rel, HeapTuple newtup, EState *estate);
extern AwaAppend *AwaAppendBegin(const char *parent, const char *relname,
								 const char *const *names, int ncols, int size);
extern void AwaAppendRow(AwaAppend *ap, const Datum *values, const bool *nulls);
extern void AwaAppendFinish(AwaAppend *ap, bool write);
extern bool AwaAddToColumn(Relation rel, ItemPointerData tid,
						   TupleTableSlot *version, bool locked,
						   Snapshot snapshot, EState *estate, AttrNumber att,
						   int64 delta, int64 *old, ItemPointer new_tid);

/* the ready write of one lane without the executor (awa_direct.c) */
extern bool AwaDirectInsertReady(AwaJobRow *rows, const int *order, int n);
extern Oid	AwaRelid(const char *relname);

/* storage writers (awa_storage.c) */
extern void AwaInsertReadyRows(AwaJobRow *rows, int n);
extern void AwaInsertDeferredRows(AwaJobRow *rows, int n);
extern void AwaAllocateJobIds(AwaJobRow *rows, int n);
extern int16 AwaOrderingKeyShard(const char *key, int len, int shards);
extern void AwaNotifyQueue(text *queue);
extern char *AwaNotifyChannel(text *queue);
extern Datum AwaMaskDatum(uint8 mask);
extern uint8 AwaMaskFromDatum(Datum bits);
extern TimestampTz AwaNow(void);

/* unique-key registry (awa_unique.c) */
extern void AwaUniqueSync(int n, bytea **keys, const uint8 *masks,
						  const int64 *job_ids, const int *from_states,
						  const int *to_states);

/* per-backend counters of the hot paths, read by awa.backend_stats() */
typedef struct AwaBackendStats
{
	int64		enqueue_fused_statements;	/* head update + insert fused */
	int64		enqueue_lane_statements;	/* per-lane head updates */
	int64		claim_lane_statements;	/* lanes claimed from (one per lane) */
	int64		claim_general_statements;	/* near claims that fell back */
	int64		claim_busy_retries;	/* picks repeated while lanes were busy */
	int64		claim_near_picks;	/* lanes chosen among several without the full pick */
	int64		claim_empty_skips;	/* claims answered empty from the heads
									 * (awa_heads.c) */
	int64		enqueue_direct_rows;	/* ready rows written by
										 * AwaDirectInsertOneReady */
	int64		enqueue_remembered_heads;	/* enqueue heads found from the
											 * version written last */
	int64		claim_direct_picks; /* lanes locked by AwaPickLane */
	int64		claim_planned_picks;	/* later picks of a claim answered from
										 * the ranking its first pick kept */
	int64		claim_direct_lanes; /* lanes claimed from by
									 * AwaDirectClaimLane */
	int64		complete_fused_statements;	/* fused completion, current slot */
	int64		complete_fused_jobs;
	int64		complete_prelocked_passes;
	int64		complete_direct_passes; /* first passes written by
										 * AwaDirectCompleteOpen */
	int64		counter_direct_groups;	/* counter rows added to without a
										 * statement */
	int64		complete_key_walks;
	int64		complete_slot_pass_statements;	/* fused completion, other
												 * slots */
	int64		complete_slot_pass_jobs;
	int64		complete_unique_sync_jobs;	/* finalized jobs whose unique
											 * claim changed */
} AwaBackendStats;

extern AwaBackendStats awa_backend_stats;

/*
 * SQL fragments of the per-table writers, composed by the paths into
 * their own statements ("src" is a CTE name or a parenthesized query).
 *
 * AWA_CLOSURE_INSERT_FROM(src, outcome, guard): close receipts.  src has
 * columns (claim_slot, job_id, run_lease).  RETURNING (job_id, run_lease,
 * claim_slot).  Every caller has locked the receipts FOR UPDATE earlier in
 * the same statement or transaction (SPEC 5.7), so no other transaction
 * can be inserting the same closure key meanwhile, and the rows need no
 * sort (decision 35).  A receipt already closed must drop out (stale
 * writers change nothing); guard says how:
 *	AWA_CLOSURE_SKIP_CLOSED: ON CONFLICT DO NOTHING, which only ever meets
 *		committed closures and never waits.  Always correct.  No conflict
 *		target: the key (job_id, run_lease) is each partition's, the
 *		parent has none to infer (decision 48), and it is the partition's
 *		only unique index.
 *	AWA_CLOSURE_UNCLOSED_ONLY: plain inserts; src must hold only receipts
 *		that have no closure in the statement's snapshot, and the receipts
 *		must have been locked before that snapshot was taken, in READ
 *		COMMITTED (a closure committed by another transaction then is
 *		visible to it: the other closer held the receipt lock until it
 *		committed).  Saves the speculative insertion (one more WAL record
 *		and an index probe per row) of the first form (decision 37).
 */
#define AWA_CLOSURE_SKIP_CLOSED "ON CONFLICT DO NOTHING "
#define AWA_CLOSURE_UNCLOSED_ONLY ""
#define AWA_CLOSURE_INSERT_FROM(src, outcome, guard) \
	"INSERT INTO awa.lease_claim_closures (claim_slot, job_id, run_lease, outcome) " \
	"SELECT s.claim_slot, s.job_id, s.run_lease, " outcome " FROM " src " AS s " \
	guard \
	"RETURNING job_id, run_lease, claim_slot"

/*
 * AWA_ATTEMPT_STATE_DELETE_USING(src): forget heartbeat/progress of the
 * attempts (job_id, run_lease) of src.  Only short jobs never heartbeat,
 * so the table is usually empty: the EXISTS is one initplan probe that
 * skips the per-attempt key probes then (same result either way).
 */
#define AWA_ATTEMPT_STATE_DELETE_USING(src) \
	"DELETE FROM awa.attempt_state AS a USING " src " AS s " \
	"WHERE a.job_id = s.job_id AND a.run_lease = s.run_lease " \
	"AND EXISTS (SELECT 1 FROM awa.attempt_state)"

/*
 * AWA_DONE_NARROW_INSERT_FROM(src): terminal rows of claimed attempts; the
 * body stays in the retained ready row with the same key.  src has columns
 * (ready_slot, ready_generation, job_id, kind, queue, state, priority,
 * attempt, run_lease, lane_seq, enqueue_shard, attempted_at, finalized_at,
 * payload), priority being the LANE priority.  RETURNING the counter key
 * (ready_slot, queue, priority, enqueue_shard) plus job_id, run_lease,
 * state, to feed AWA_COUNTER_UPSERT_FROM in the same statement.  No sort:
 * a done key is the key of one ready row (or the synthetic lane_seq =
 * -job_id of a job that had none), written only by the writer that won
 * the attempt's closure, so two transactions never insert the same key
 * and no insert waits on another (decision 35).
 */
#define AWA_DONE_NARROW_INSERT_FROM(src) \
	"INSERT INTO awa.done_entries (ready_slot, ready_generation, job_id, kind, queue, " \
	"state, priority, attempt, run_lease, lane_seq, enqueue_shard, attempted_at, " \
	"finalized_at, payload) " \
	"SELECT s.ready_slot, s.ready_generation, s.job_id, s.kind, s.queue, s.state, " \
	"s.priority, s.attempt, s.run_lease, s.lane_seq, s.enqueue_shard, s.attempted_at, " \
	"s.finalized_at, s.payload FROM " src " AS s " \
	"RETURNING ready_slot, queue, priority, enqueue_shard, job_id, run_lease, state"

/*
 * AWA_DONE_WIDE_INSERT_FROM(src): terminal rows that carry their own body
 * (cancel of an unclaimed or deferred job).  src has the narrow columns
 * plus (args, max_attempts, run_at, created_at, unique_key, unique_states).
 * Same RETURNING as the narrow insert.
 */
#define AWA_DONE_WIDE_INSERT_FROM(src) \
	"INSERT INTO awa.done_entries (ready_slot, ready_generation, job_id, kind, queue, " \
	"state, priority, attempt, run_lease, lane_seq, enqueue_shard, attempted_at, " \
	"finalized_at, payload, args, max_attempts, run_at, created_at, unique_key, " \
	"unique_states) " \
	"SELECT s.ready_slot, s.ready_generation, s.job_id, s.kind, s.queue, s.state, " \
	"s.priority, s.attempt, s.run_lease, s.lane_seq, s.enqueue_shard, s.attempted_at, " \
	"s.finalized_at, s.payload, s.args, s.max_attempts, s.run_at, s.created_at, " \
	"s.unique_key, s.unique_states FROM " src " AS s " \
	"RETURNING ready_slot, queue, priority, enqueue_shard, job_id, run_lease, state"

/*
 * AWA_RECEIPT_INSERT_FROM(src): claim receipts.  src has every column of
 * awa.lease_claims (claim_slot, job_id, run_lease, ready_slot,
 * ready_generation, kind, queue, priority, effective_priority, attempt,
 * max_attempts, lane_seq, enqueue_shard, claimed_at, deadline_at,
 * unique_key, unique_states).  Used by claim and by the claim-ring
 * carry-forward.  RETURNING (job_id, run_lease, claim_slot).  No sort: a
 * claim inserts run_lease + 1 of rows whose lane head it holds, and the
 * carry-forward runs under ACCESS EXCLUSIVE on the slot, so no two
 * transactions insert the same key (decision 35).
 */
#define AWA_RECEIPT_INSERT_FROM(src) \
	"INSERT INTO awa.lease_claims (claim_slot, job_id, run_lease, ready_slot, " \
	"ready_generation, kind, queue, priority, effective_priority, attempt, " \
	"max_attempts, lane_seq, enqueue_shard, claimed_at, deadline_at, unique_key, " \
	"unique_states) " \
	"SELECT s.claim_slot, s.job_id, s.run_lease, s.ready_slot, s.ready_generation, " \
	"s.kind, s.queue, s.priority, s.effective_priority, s.attempt, s.max_attempts, " \
	"s.lane_seq, s.enqueue_shard, s.claimed_at, s.deadline_at, s.unique_key, " \
	"s.unique_states FROM " src " AS s " \
	"RETURNING job_id, run_lease, claim_slot, effective_priority"

/* the current slot of each ring, read without a lock (missing row = 0) */
#define AWA_QUEUE_RING_SLOT_SQL \
	"COALESCE((SELECT current_slot FROM awa.queue_ring_state WHERE singleton), 0)"
#define AWA_QUEUE_RING_CURSOR_SQL \
	"SELECT " AWA_QUEUE_RING_SLOT_SQL " AS slot, " \
	"COALESCE((SELECT generation FROM awa.queue_ring_state WHERE singleton), 0) AS generation"
#define AWA_CLAIM_RING_SLOT_SQL \
	"COALESCE((SELECT current_slot FROM awa.claim_ring_state WHERE singleton), 0)"

/* ------------------------------------------------------------------
 * Failure paths (awa_attempt.c, awa_fail.c, awa_heartbeat.c,
 * awa_cancel.c, awa_promote.c, awa_rescue.c): ending running attempts
 * other than by completion, moving due deferred jobs back to ready rows.
 * ------------------------------------------------------------------
 */

/* how a running attempt ends (AwaAttemptReq.end / .result) */
typedef enum AwaAttemptEnd
{
	AWA_END_BY_FAILURE,			/* requested only: retryable with backoff
								 * while attempts remain and not terminal,
								 * else DLQ (queue dlq_enabled) or failed */
	AWA_END_RETRYABLE,			/* deferred retryable at run_at */
	AWA_END_SCHEDULED,			/* deferred scheduled at run_at, the attempt
								 * given back */
	AWA_END_CANCELLED,			/* narrow done row, cancelled */
	AWA_END_FAILED,				/* resolved only: narrow done row, failed */
	AWA_END_DLQ					/* resolved only: dlq_entries row */
} AwaAttemptEnd;

/* one attempt to end, and what became of it */
typedef struct AwaAttemptReq
{
	int64		job_id;
	int64		run_lease;
	AwaAttemptEnd end;
	bool		terminal;		/* AWA_END_BY_FAILURE: do not retry */
	const char *outcome;		/* closure label; NULL = label of the end */
	text	   *error;			/* appended to the error history, or NULL */
	TimestampTz run_at;			/* AWA_END_RETRYABLE / AWA_END_SCHEDULED */
	/* set by AwaEndAttempts */
	bool		taken;			/* the attempt was open and is now ended */
	AwaAttemptEnd result;
} AwaAttemptReq;

/* attempt ending (awa_attempt.c) */
extern int	AwaEndAttempts(AwaAttemptReq *reqs, int n, TimestampTz now);
extern double AwaBackoffSeconds(int attempt);
extern TimestampTz AwaAddSeconds(TimestampTz now, double secs);

/*
 * AWA_DLQ_INSERT_FROM(src): dead-letter rows.  src has columns (job_id,
 * kind, queue, args, priority, attempt, run_lease, max_attempts, run_at,
 * attempted_at, finalized_at, created_at, unique_key, unique_states,
 * payload, dlq_reason, dlq_at, original_run_lease); rows are sorted by
 * job_id.  The state is always failed.  RETURNING (job_id, queue).
 */
#define AWA_DLQ_INSERT_FROM(src) \
	"INSERT INTO awa.dlq_entries (job_id, kind, queue, args, state, priority, attempt, " \
	"run_lease, max_attempts, run_at, attempted_at, finalized_at, created_at, unique_key, " \
	"unique_states, payload, dlq_reason, dlq_at, original_run_lease) " \
	"SELECT s.job_id, s.kind, s.queue, s.args, 'failed'::awa.job_state, s.priority, " \
	"s.attempt, s.run_lease, s.max_attempts, s.run_at, s.attempted_at, s.finalized_at, " \
	"s.created_at, s.unique_key, s.unique_states, s.payload, s.dlq_reason, s.dlq_at, " \
	"s.original_run_lease FROM " src " AS s ORDER BY s.job_id " \
	"RETURNING job_id, queue"

/*
 * AWA_RECEIPT_IS_OPEN(c): SQL condition "receipt alias c has no closure",
 * the definition of a running attempt.
 */
#define AWA_RECEIPT_IS_OPEN(c) \
	"NOT EXISTS (SELECT 1 FROM awa.lease_claim_closures AS x WHERE x.job_id = " c ".job_id " \
	"AND x.run_lease = " c ".run_lease AND x.claim_slot = " c ".claim_slot)"

/* the notification channel of running-job cancellation */
#define AWA_CANCEL_CHANNEL "awa:cancel"

/* ------------------------------------------------------------------
 * Terminal removal, DLQ and compat layer (awa_terminal.c, awa_dlq.c,
 * awa_compat.c).
 * ------------------------------------------------------------------
 */

/*
 * The hydrated job body every removal statement returns, one row per
 * removed job, in this column order (read by AwaJobRowsFromSpi):
 * job_id, kind, queue, priority, args, max_attempts, attempt, run_lease,
 * run_at, created_at, attempted_at, finalized_at, unique_key,
 * unique_states, payload, state bit (enum position of awa.job_state).
 */
#define AWA_STATE_BIT_SQL(state) \
	"(pg_catalog.array_position(pg_catalog.enum_range(NULL::awa.job_state), " \
	state ") - 1)"

/*
 * AWA_TERMINAL_REMOVE_CTES(selector): the one way terminal rows are
 * removed, as the WITH list of a statement.  "selector" is a WHERE
 * condition on done_entries AS e.  The CTEs
 *	1. lock the selected done rows FOR UPDATE in key order (two removals
 *	   over overlapping rows queue up instead of deadlocking),
 *	2. delete them,
 *	3. decrement their counter groups through AWA_COUNTER_UPSERT_FROM
 *	   (delta -1 per row, grouped and sorted by the counter key),
 *	4. delete the retained ready body of each removed attempt (same key,
 *	   generation and job id), and
 *	5. expose the removed jobs hydrated (COALESCE(done.x, ready.x)) as
 *	   "removed", with the columns AWA_DLQ_INSERT_FROM reads (job_id,
 *	   kind, queue, args, priority, attempt, run_lease, max_attempts,
 *	   run_at, attempted_at, finalized_at, created_at, unique_key,
 *	   unique_states, payload) plus state.
 * Lock order: done rows, then counter rows (SPEC 5.7), then ready rows.
 */
#define AWA_TERMINAL_REMOVE_CTES(selector) \
	"WITH sel AS (SELECT e.queue, e.priority, e.enqueue_shard, e.lane_seq, e.ready_slot " \
	"FROM awa.done_entries AS e WHERE " selector " " \
	"ORDER BY e.ready_slot, e.queue, e.priority, e.enqueue_shard, e.lane_seq FOR UPDATE OF e), " \
	"gone AS (DELETE FROM awa.done_entries AS e USING sel " \
	"WHERE e.queue OPERATOR(pg_catalog.=) sel.queue " \
	"AND e.priority OPERATOR(pg_catalog.=) sel.priority " \
	"AND e.enqueue_shard OPERATOR(pg_catalog.=) sel.enqueue_shard " \
	"AND e.lane_seq OPERATOR(pg_catalog.=) sel.lane_seq " \
	"AND e.ready_slot OPERATOR(pg_catalog.=) sel.ready_slot " \
	"RETURNING e.*, -1 AS delta), " \
	"counted AS (" AWA_COUNTER_UPSERT_FROM("gone") "), " \
	"body AS (DELETE FROM awa.ready_entries AS r USING gone AS g " \
	"WHERE r.queue OPERATOR(pg_catalog.=) g.queue " \
	"AND r.priority OPERATOR(pg_catalog.=) g.priority " \
	"AND r.enqueue_shard OPERATOR(pg_catalog.=) g.enqueue_shard " \
	"AND r.lane_seq OPERATOR(pg_catalog.=) g.lane_seq " \
	"AND r.ready_slot OPERATOR(pg_catalog.=) g.ready_slot " \
	"AND r.ready_generation OPERATOR(pg_catalog.=) g.ready_generation " \
	"AND r.job_id OPERATOR(pg_catalog.=) g.job_id RETURNING r.*), " \
	"removed AS (SELECT g.job_id, g.kind, g.queue, " \
	"COALESCE(g.args, b.args, '{}'::pg_catalog.jsonb) AS args, g.priority, g.attempt, " \
	"g.run_lease, COALESCE(g.max_attempts, b.max_attempts, 25::pg_catalog.int2) AS max_attempts, " \
	"COALESCE(g.run_at, b.run_at, g.finalized_at) AS run_at, g.attempted_at, g.finalized_at, " \
	"COALESCE(g.created_at, b.created_at, g.finalized_at) AS created_at, " \
	"COALESCE(g.unique_key, b.unique_key) AS unique_key, " \
	"COALESCE(g.unique_states, b.unique_states) AS unique_states, " \
	"COALESCE(g.payload, b.payload) AS payload, g.state " \
	"FROM gone AS g LEFT JOIN body AS b " \
	"ON b.queue OPERATOR(pg_catalog.=) g.queue " \
	"AND b.priority OPERATOR(pg_catalog.=) g.priority " \
	"AND b.enqueue_shard OPERATOR(pg_catalog.=) g.enqueue_shard " \
	"AND b.lane_seq OPERATOR(pg_catalog.=) g.lane_seq " \
	"AND b.ready_slot OPERATOR(pg_catalog.=) g.ready_slot) "

/* the removed jobs in the AwaJobRowsFromSpi column order */
#define AWA_REMOVED_JOBS_SELECT \
	"SELECT m.job_id, m.kind, m.queue, m.priority, m.args, m.max_attempts, m.attempt, " \
	"m.run_lease, m.run_at, m.created_at, m.attempted_at, m.finalized_at, m.unique_key, " \
	"m.unique_states, m.payload, " AWA_STATE_BIT_SQL("m.state") " " \
	"FROM removed AS m ORDER BY m.job_id"

/*
 * AWA_TERMINAL_REMOVE(selector): remove terminal rows (see
 * AWA_TERMINAL_REMOVE_CTES) and return them.
 */
/*
 * AWA_DONE_ROW_OF_JOB(param): a selector for AWA_TERMINAL_REMOVE_CTES and
 * AWA_TERMINAL_TO_DLQ: the done rows (done_entries AS e) of job "param".
 * done_entries has no index on job_id for narrow rows (decision 38): their
 * key is found through the retained ready row's job_idx, a wide row's
 * through the partial index over wide rows; then one primary-key probe.
 */
#define AWA_DONE_ROW_OF_JOB(param) \
	"e.job_id OPERATOR(pg_catalog.=) " param " " \
	"AND (e.queue, e.priority, e.enqueue_shard, e.lane_seq, e.ready_slot) IN (" \
	"SELECT r.queue, r.priority, r.enqueue_shard, r.lane_seq, r.ready_slot " \
	"FROM awa.ready_entries AS r WHERE r.job_id OPERATOR(pg_catalog.=) " param " " \
	"UNION ALL SELECT w.queue, w.priority, w.enqueue_shard, w.lane_seq, w.ready_slot " \
	"FROM awa.done_entries AS w WHERE w.job_id OPERATOR(pg_catalog.=) " param " " \
	"AND w.args IS NOT NULL)"

#define AWA_TERMINAL_REMOVE(selector) \
	AWA_TERMINAL_REMOVE_CTES(selector) AWA_REMOVED_JOBS_SELECT

/*
 * AWA_TERMINAL_TO_DLQ(selector, reason): remove terminal rows and
 * dead-letter them through AWA_DLQ_INSERT_FROM in the same statement
 * ("reason" is a parameter reference such as "$2"); returns them.
 */
#define AWA_TERMINAL_TO_DLQ(selector, reason) \
	AWA_TERMINAL_REMOVE_CTES(selector) \
	", dead AS (" AWA_DLQ_INSERT_FROM("(SELECT m.*, " reason "::pg_catalog.text AS dlq_reason, " \
									  "pg_catalog.clock_timestamp() AS dlq_at, " \
									  "m.run_lease AS original_run_lease FROM removed AS m)") ") " \
	AWA_REMOVED_JOBS_SELECT

/*
 * AWA_DLQ_REMOVE(selector): the one statement that removes DLQ rows.
 * "selector" is a WHERE condition on dlq_entries AS q.  Locks the rows in
 * job_id order, deletes them and returns their bodies in the
 * AwaJobRowsFromSpi column order, sorted by job_id.
 */
#define AWA_DLQ_REMOVE(selector) \
	"WITH sel AS (SELECT q.job_id FROM awa.dlq_entries AS q WHERE " selector " " \
	"ORDER BY q.job_id FOR UPDATE OF q), " \
	"gone AS (DELETE FROM awa.dlq_entries AS q USING sel " \
	"WHERE q.job_id OPERATOR(pg_catalog.=) sel.job_id RETURNING q.*) " \
	"SELECT g.job_id, g.kind, g.queue, g.priority, g.args, g.max_attempts, g.attempt, " \
	"g.run_lease, g.run_at, g.created_at, g.attempted_at, g.finalized_at, g.unique_key, " \
	"g.unique_states, g.payload, " AWA_STATE_BIT_SQL("g.state") " " \
	"FROM gone AS g ORDER BY g.job_id"

/* to_state of AwaRunRemoval: the caller syncs the unique claims */
#define AWA_UNIQUE_LATER		(-2)

/* terminal removal (awa_terminal.c) */
extern int	AwaJobRowsFromSpi(AwaJobRow **rows);
extern int	AwaRunRemoval(AwaPlan *plan, Datum *values, const char *nulls,
						  int to_state, AwaJobRow **rows);
extern void AwaUniqueSyncRows(AwaJobRow *rows, int n, int to_state);
extern Jsonb *AwaPayloadForRetry(Jsonb *payload);

/* ------------------------------------------------------------------
 * Removing an unclaimed ready row (awa_unclaimed.c), shared by cancel
 * and the compat delete.
 * ------------------------------------------------------------------
 */

/*
 * AWA_UNCLAIMED_REMOVE_CTES: the CTEs "del" (the deleted ready row,
 * RETURNING *), "hole" (its lane position recorded in awa.ready_holes, the
 * only writer of that table besides the maintenance clean-up
 * AwaHolesCollect) and "adv" (the claim head moved when the row was the
 * head row: to the lane's next visible ready row, else to the committed
 * next_seq, never by less than one) for the row at key ($1 queue,
 * $2 priority, $3 enqueue_shard, $4 lane_seq, $5 ready_slot) of job $6.
 * The hole is written even when "adv" moves claim_seq past it: a hole
 * below claim_seq is not counted, and maintenance deletes it later.  With
 * it, every position of [claim_seq, next_seq) of a lane is a committed
 * unclaimed ready row or a hole, so queue_counts derives "available" from
 * the heads (awa_counts.c).
 * Run only through AwaRemoveUnclaimed, which holds the claim head lock.
 */
#define AWA_UNCLAIMED_REMOVE_CTES \
	"del AS (DELETE FROM awa.ready_entries AS r " \
	"WHERE r.queue OPERATOR(pg_catalog.=) $1::pg_catalog.text " \
	"AND r.priority OPERATOR(pg_catalog.=) $2::pg_catalog.int2 " \
	"AND r.enqueue_shard OPERATOR(pg_catalog.=) $3::pg_catalog.int2 " \
	"AND r.lane_seq OPERATOR(pg_catalog.=) $4::pg_catalog.int8 " \
	"AND r.ready_slot OPERATOR(pg_catalog.=) $5::pg_catalog.int4 " \
	"AND r.job_id OPERATOR(pg_catalog.=) $6::pg_catalog.int8 RETURNING r.*), " \
	"hole AS (INSERT INTO awa.ready_holes (queue, priority, enqueue_shard, lane_seq) " \
	"SELECT d.queue, d.priority, d.enqueue_shard, d.lane_seq FROM del AS d), " \
	"adv AS (UPDATE awa.queue_claim_heads AS h SET claim_seq = pg_catalog.int8larger(" \
	"$4 OPERATOR(pg_catalog.+) 1, COALESCE(" \
	"(SELECT pg_catalog.min(n.lane_seq) FROM awa.ready_entries AS n " \
	"WHERE n.queue OPERATOR(pg_catalog.=) h.queue AND n.priority OPERATOR(pg_catalog.=) h.priority " \
	"AND n.enqueue_shard OPERATOR(pg_catalog.=) h.enqueue_shard " \
	"AND n.lane_seq OPERATOR(pg_catalog.>) $4), " \
	"(SELECT e.next_seq FROM awa.queue_enqueue_heads AS e " \
	"WHERE e.queue OPERATOR(pg_catalog.=) h.queue AND e.priority OPERATOR(pg_catalog.=) h.priority " \
	"AND e.enqueue_shard OPERATOR(pg_catalog.=) h.enqueue_shard), 0)) " \
	"WHERE h.queue OPERATOR(pg_catalog.=) $1 AND h.priority OPERATOR(pg_catalog.=) $2 " \
	"AND h.enqueue_shard OPERATOR(pg_catalog.=) $3 AND h.claim_seq OPERATOR(pg_catalog.=) $4 " \
	"AND EXISTS (SELECT 1 FROM del))"

extern int	AwaRemoveUnclaimed(AwaPlan *plan, Datum *values, const char *nulls);
extern int64 AwaHolesCollect(int max_rows);

/* ring rotation and prune (awa_ring.c) */
typedef enum AwaRingOp
{
	AWA_RING_ROTATE,
	AWA_RING_PRUNE,
	AWA_RING_ROTATE_CLAIMS,
	AWA_RING_PRUNE_CLAIMS
} AwaRingOp;

extern const char *AwaRingStep(AwaRingOp op, bool never_wait);

#endif							/* AWA_QUEUE_H */
