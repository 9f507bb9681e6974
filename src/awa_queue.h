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
 * AWA_TERMINAL_REMOVE(selector): the one statement that removes terminal
 * rows.  "selector" is a WHERE condition on done_entries AS e.  In one
 * statement it
 *	1. locks the selected done rows FOR UPDATE in key order (two removals
 *	   over overlapping rows queue up instead of deadlocking),
 *	2. deletes them,
 *	3. decrements their counter groups through AWA_COUNTER_UPSERT_FROM
 *	   (delta -1 per row, grouped and sorted by the counter key),
 *	4. deletes the retained ready body of each removed attempt (same key,
 *	   generation and job id), and
 *	5. returns the removed jobs hydrated (COALESCE(done.x, ready.x)), in
 *	   the AwaJobRowsFromSpi column order, sorted by job_id.
 * Lock order: done rows, then counter rows (SPEC 5.7), then ready rows.
 */
#define AWA_TERMINAL_REMOVE(selector) \
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
	"AND r.job_id OPERATOR(pg_catalog.=) g.job_id RETURNING r.*) " \
	"SELECT g.job_id, g.kind, g.queue, g.priority, " \
	"COALESCE(g.args, b.args, '{}'::pg_catalog.jsonb), " \
	"COALESCE(g.max_attempts, b.max_attempts, 25::pg_catalog.int2), g.attempt, g.run_lease, " \
	"COALESCE(g.run_at, b.run_at, g.finalized_at), " \
	"COALESCE(g.created_at, b.created_at, g.finalized_at), g.attempted_at, g.finalized_at, " \
	"COALESCE(g.unique_key, b.unique_key), COALESCE(g.unique_states, b.unique_states), " \
	"COALESCE(g.payload, b.payload), " AWA_STATE_BIT_SQL("g.state") " " \
	"FROM gone AS g LEFT JOIN body AS b " \
	"ON b.queue OPERATOR(pg_catalog.=) g.queue " \
	"AND b.priority OPERATOR(pg_catalog.=) g.priority " \
	"AND b.enqueue_shard OPERATOR(pg_catalog.=) g.enqueue_shard " \
	"AND b.lane_seq OPERATOR(pg_catalog.=) g.lane_seq " \
	"AND b.ready_slot OPERATOR(pg_catalog.=) g.ready_slot " \
	"ORDER BY g.job_id"

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

/* to_state of AwaTerminalRemove / AwaDlqRemove: the caller syncs */
#define AWA_UNIQUE_LATER		(-2)

/* terminal removal (awa_terminal.c) */
extern int	AwaJobRowsFromSpi(AwaJobRow **rows);
extern int	AwaTerminalRemove(AwaPlan *plan, Datum *values, const char *nulls,
							  int to_state, AwaJobRow **rows);
extern void AwaUniqueSyncRows(AwaJobRow *rows, int n, int to_state);
extern Jsonb *AwaPayloadForRetry(Jsonb *payload);

/* dead-letter queue (awa_dlq.c) */
extern int	AwaDlqRemove(AwaPlan *plan, Datum *values, const char *nulls,
						 int to_state, AwaJobRow **rows);
extern void AwaDlqInsertRows(AwaJobRow *rows, int n, text *reason);

#endif							/* AWA_QUEUE_H */
