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

#include "executor/spi.h"
#include "utils/array.h"

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

extern void AwaGucInit(void);

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
extern Datum AwaSpiCopyDatum(int row, int col, bool *isnull);

/* input validation (awa_validate.c) */
extern void AwaValidateName(text *value, const char *what);
extern void AwaValidatePriority(int priority);
extern void AwaValidateShards(int shards);
extern void AwaValidateParallelArrays(ArrayType *a, ArrayType *b,
									  const char *a_name, const char *b_name);
extern int	AwaArrayLengthChecked(ArrayType *arr, const char *what);

/* counters (awa_counters.c) */
extern void AwaCountersApply(int n, Datum slots, Datum queues, Datum priorities,
							 Datum shards, Datum deltas);
extern bool AwaCountersTrusted(void);

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

/* the notification channel of running-job cancellation */
#define AWA_CANCEL_CHANNEL "awa:cancel"

#endif							/* AWA_QUEUE_H */
