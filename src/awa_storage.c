/*-------------------------------------------------------------------------
 *
 * awa_storage.c
 *	  The per-table writers of the queue plane: lane allocation and ready
 *	  rows, deferred rows, job ids, queue notifications.
 *
 * Every path that makes a job available (enqueue, enqueue_many, promotion
 * of due deferred jobs, retry_job, retry_from_dlq) writes its ready rows
 * through AwaInsertReadyRows, and every path that parks a job in
 * deferred_jobs (scheduled enqueue, retry backoff, snooze, rescue, DLQ
 * retry with a future run_at) through AwaInsertDeferredRows.  Both are
 * set-based: one statement per lane for the head advance (or a single
 * fused statement when the call touches one lane) and one INSERT for all
 * rows of the call.
 *
 * Lock order (SPEC 5.2): enqueue-head rows in sorted (queue, priority,
 * shard) order, then the ready partition.  Claim heads are never locked
 * here; a missing lane is created with INSERT ... ON CONFLICT DO NOTHING
 * into both head tables.  The queue ring cursor is read without a lock.
 *
 * Copyright (c) 2026, awa_queue developers
 *
 * IDENTIFICATION
 *	  src/awa_storage.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/sequence.h"
#include "common/md5.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/varbit.h"

#include "awa_queue.h"

/* columns of awa.ready_entries written by the ready-row insert */
#define READY_COLUMNS \
	"ready_slot, ready_generation, job_id, kind, queue, args, priority, attempt, " \
	"run_lease, max_attempts, lane_seq, enqueue_shard, run_at, created_at, " \
	"unique_key, unique_states, payload"

/*
 * A ready-row batch travels as ONE record[] parameter ($1), built in C by
 * RowsArray: one unnest instead of fifteen (measured seven times cheaper
 * per row than ROWS FROM of parallel arrays).  Fields in this order.
 */
#define READY_BATCH_FIELDS \
	"job_id pg_catalog.int8, kind pg_catalog.text, queue pg_catalog.text, " \
	"args pg_catalog.jsonb, priority pg_catalog.int2, attempt pg_catalog.int2, " \
	"run_lease pg_catalog.int8, max_attempts pg_catalog.int2, lane_seq pg_catalog.int8, " \
	"enqueue_shard pg_catalog.int2, run_at pg_catalog.timestamptz, " \
	"created_at pg_catalog.timestamptz, unique_key pg_catalog.bytea, " \
	"unique_states pg_catalog.bit(8), payload pg_catalog.jsonb"
#define READY_UNNEST \
	"ROWS FROM (pg_catalog.unnest($1::pg_catalog.record[]) AS (" READY_BATCH_FIELDS ")) " \
	"WITH ORDINALITY AS u(job_id, kind, queue, args, priority, attempt, run_lease, " \
	"max_attempts, lane_seq, enqueue_shard, run_at, created_at, unique_key, " \
	"unique_states, payload, ord)"

#define READY_NFIELDS 15
static const Oid ready_field_types[READY_NFIELDS] = {
	INT8OID, TEXTOID, TEXTOID, JSONBOID, INT2OID, INT2OID, INT8OID, INT2OID,
	INT8OID, INT2OID, TIMESTAMPTZOID, TIMESTAMPTZOID, BYTEAOID, BITOID, JSONBOID
};

/*
 * Several lanes: the heads were advanced one statement per lane, lane_seq
 * comes in $9.
 */
static AwaPlan ready_insert_plan = {
	.sql = "INSERT INTO awa.ready_entries (" READY_COLUMNS ") "
	"SELECT rc.slot, rc.generation, u.job_id, u.kind, u.queue, u.args, u.priority, "
	"u.attempt, u.run_lease, u.max_attempts, u.lane_seq, u.enqueue_shard, u.run_at, "
	"u.created_at, u.unique_key, u.unique_states, u.payload "
	"FROM " READY_UNNEST " CROSS JOIN (" AWA_QUEUE_RING_CURSOR_SQL ") AS rc",
	.nargs = 1,
	.argtypes = {RECORDARRAYOID}
};

/*
 * One lane: head advance and ready insert fused into one statement.  No
 * row comes back when the lane does not exist yet.
 */
static AwaPlan ready_insert_fused_plan = {
	.sql = "WITH h AS (UPDATE awa.queue_enqueue_heads "
	"SET next_seq = next_seq + $2 "
	"WHERE queue = $3 AND priority = $4 AND enqueue_shard = $5 "
	"RETURNING next_seq - $2 AS base) "
	"INSERT INTO awa.ready_entries (" READY_COLUMNS ") "
	"SELECT rc.slot, rc.generation, u.job_id, u.kind, u.queue, u.args, u.priority, "
	"u.attempt, u.run_lease, u.max_attempts, h.base + u.ord - 1, u.enqueue_shard, "
	"u.run_at, u.created_at, u.unique_key, u.unique_states, u.payload "
	"FROM h CROSS JOIN " READY_UNNEST " CROSS JOIN (" AWA_QUEUE_RING_CURSOR_SQL ") AS rc",
	.nargs = 5,
	.argtypes = {RECORDARRAYOID, INT8OID, TEXTOID, INT2OID, INT2OID}
};

/*
 * The insert of one row after a CTE "h" that advanced a lane's head and
 * returned (seq, enqueue_shard); parameters as ONE_ROW_ARGTYPES, $1 = 0
 * draws the id from awa.job_id_seq inside the statement.  Returns the job
 * id and the lane's shard.
 */
#define ONE_ROW_INSERT_AFTER_H \
	"INSERT INTO awa.ready_entries (" READY_COLUMNS ") " \
	"SELECT COALESCE(rs.current_slot, 0), COALESCE(rs.generation, 0), CASE WHEN $1 = 0 " \
	"THEN pg_catalog.nextval('awa.job_id_seq'::pg_catalog.regclass) ELSE $1 END, " \
	"$2, $3, $4, $5, $6, $7, $8, h.seq, h.enqueue_shard, $10, $11, $12, $13, $14 " \
	"FROM h LEFT JOIN awa.queue_ring_state AS rs ON rs.singleton " \
	"RETURNING job_id, enqueue_shard"
#define ONE_ROW_ARGTYPES \
	INT8OID, TEXTOID, TEXTOID, JSONBOID, INT2OID, INT2OID, INT8OID, INT2OID, \
	INT2OID, TIMESTAMPTZOID, TIMESTAMPTZOID, BYTEAOID, BITOID, JSONBOID, INT2OID

/*
 * One row: head advance of lane ($3, $5, $9) and insert in one statement
 * with scalar parameters (no arrays to build or unnest).  No row comes
 * back when the lane does not exist yet (and no id is drawn).  $15 is not
 * used here (see the next plan).
 */
static AwaPlan ready_insert_one_plan = {
	.sql = "WITH h AS (UPDATE awa.queue_enqueue_heads SET next_seq = next_seq + 1 "
	"WHERE queue = $3 AND priority = $5 AND enqueue_shard = $9 "
	"RETURNING next_seq - 1 AS seq, enqueue_shard) " ONE_ROW_INSERT_AFTER_H,
	.nargs = 15,
	.argtypes = {ONE_ROW_ARGTYPES}
};

/*
 * A single row that any lane of its (queue, priority) may take: lock one
 * lane head among the $15 shards with FOR UPDATE SKIP LOCKED (the lanes
 * "which" selects and orders), advance it, insert.  No row when no such
 * lane is free.
 */
#define FREE_LANE_INSERT(which) \
	"WITH pick AS (SELECT e.enqueue_shard FROM awa.queue_enqueue_heads AS e " \
	"WHERE e.queue = $3 AND e.priority = $5 AND e.enqueue_shard < $15 " which \
	" FOR UPDATE SKIP LOCKED), " \
	"h AS (UPDATE awa.queue_enqueue_heads AS e SET next_seq = e.next_seq + 1 " \
	"FROM pick WHERE e.queue = $3 AND e.priority = $5 " \
	"AND e.enqueue_shard = pick.enqueue_shard " \
	"RETURNING e.next_seq - 1 AS seq, e.enqueue_shard) " ONE_ROW_INSERT_AFTER_H

/*
 * First try: the rotor pick's own lane ($9) unless another producer holds
 * it (one key probe).  No row when that lane is busy or missing.
 */
static AwaPlan ready_insert_rotor_free_plan = {
	.sql = FREE_LANE_INSERT("AND e.enqueue_shard = $9"),
	.nargs = 15,
	.argtypes = {ONE_ROW_ARGTYPES}
};

/*
 * Second try (the rotor's lane was busy): the first lane not locked by
 * another producer, from the rotor pick $9 onwards, so a producer never
 * queues behind another while a lane is free.  No row when every lane is
 * busy or when the rotor's own lane does not exist yet (the caller then
 * creates it, so lanes keep being created and rows keep spreading over
 * all of them).
 */
static AwaPlan ready_insert_free_lane_plan = {
	.sql = FREE_LANE_INSERT("AND EXISTS (SELECT 1 FROM awa.queue_enqueue_heads AS x "
							"WHERE x.queue = $3 AND x.priority = $5 AND x.enqueue_shard = $9) "
							"ORDER BY (e.enqueue_shard + $15 - $9) % $15 LIMIT 1"),
	.nargs = 15,
	.argtypes = {ONE_ROW_ARGTYPES}
};

/* advance one lane's enqueue head by n; no row when the lane is missing */
static AwaPlan head_advance_plan = {
	.sql = "UPDATE awa.queue_enqueue_heads SET next_seq = next_seq + $4 "
	"WHERE queue = $1 AND priority = $2 AND enqueue_shard = $3 "
	"RETURNING next_seq - $4",
	.nargs = 4,
	.argtypes = {TEXTOID, INT2OID, INT2OID, INT8OID}
};

/* create a lane in both head tables; an existing lane is left untouched */
static AwaPlan lane_create_plan = {
	.sql = "WITH e AS (INSERT INTO awa.queue_enqueue_heads (queue, priority, enqueue_shard) "
	"VALUES ($1, $2, $3) ON CONFLICT DO NOTHING) "
	"INSERT INTO awa.queue_claim_heads (queue, priority, enqueue_shard) "
	"VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
	.nargs = 3,
	.argtypes = {TEXTOID, INT2OID, INT2OID}
};

/* a deferred-row batch: one record[] of these fields, as for ready rows */
#define DEFERRED_NFIELDS 18
static const Oid deferred_field_types[DEFERRED_NFIELDS] = {
	INT8OID, TEXTOID, TEXTOID, JSONBOID, TEXTOID, INT2OID, INT2OID, INT8OID,
	INT2OID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID,
	BYTEAOID, BITOID, TEXTOID, JSONBOID, INT2OID
};

static AwaPlan deferred_insert_plan = {
	.sql = "INSERT INTO awa.deferred_jobs (job_id, kind, queue, args, state, priority, "
	"attempt, run_lease, max_attempts, run_at, attempted_at, finalized_at, created_at, "
	"unique_key, unique_states, ordering_key, payload, enqueue_shard) "
	"SELECT u.job_id, u.kind, u.queue, u.args, u.state::awa.job_state, u.priority, "
	"u.attempt, u.run_lease, u.max_attempts, u.run_at, u.attempted_at, u.finalized_at, "
	"u.created_at, u.unique_key, u.unique_states, u.ordering_key, u.payload, u.enqueue_shard "
	"FROM pg_catalog.unnest($1::pg_catalog.record[]) AS u(job_id pg_catalog.int8, "
	"kind pg_catalog.text, queue pg_catalog.text, args pg_catalog.jsonb, "
	"state pg_catalog.text, priority pg_catalog.int2, attempt pg_catalog.int2, "
	"run_lease pg_catalog.int8, max_attempts pg_catalog.int2, "
	"run_at pg_catalog.timestamptz, attempted_at pg_catalog.timestamptz, "
	"finalized_at pg_catalog.timestamptz, created_at pg_catalog.timestamptz, "
	"unique_key pg_catalog.bytea, unique_states pg_catalog.bit(8), "
	"ordering_key pg_catalog.text, payload pg_catalog.jsonb, "
	"enqueue_shard pg_catalog.int2) ORDER BY u.job_id",
	.nargs = 1,
	.argtypes = {RECORDARRAYOID}
};

/*
 * per-backend rotor: jobs without an ordering key spread across shards.
 * Seeded from the backend's pid on first use, so concurrent producers
 * start on different lanes instead of taking the same enqueue head in
 * lockstep.
 */
static uint32 shard_rotor = 0;
static bool shard_rotor_seeded = false;

/* labels of awa.job_state by bit position */
static const char *const state_labels[] = {
	"scheduled", "available", "running", "completed",
	"retryable", "failed", "cancelled", "waiting_external"
};

/*
 * AwaNow
 *		The wall clock (clock_timestamp()), used for run_at decisions,
 *		claimed_at and finalized_at.
 */
TimestampTz
AwaNow(void)
{
	return GetCurrentTimestamp();
}

/*
 * AwaMaskDatum
 *		A bit(8) datum whose bit i (leftmost = 0) is bit i of "mask" counted
 *		from the most significant bit.
 */
Datum
AwaMaskDatum(uint8 mask)
{
	VarBit	   *v = (VarBit *) palloc0(VARBITTOTALLEN(8));

	SET_VARSIZE(v, VARBITTOTALLEN(8));
	VARBITLEN(v) = 8;
	VARBITS(v)[0] = mask;
	return PointerGetDatum(v);
}

/*
 * AwaMaskFromDatum
 *		The mask byte of a bit(8) datum (the inverse of AwaMaskDatum).
 */
uint8
AwaMaskFromDatum(Datum bits)
{
	VarBit	   *v = DatumGetVarBitP(bits);

	return VARBITLEN(v) > 0 ? VARBITS(v)[0] : 0;
}

/*
 * AwaOrderingKeyShard
 *		The stable shard of an ordering key: the 64-bit FNV-style rolling
 *		hash of the digest (start 14695981039346656037, h = h *
 *		1099511628211 + byte, mod 2^64; "add", not XOR), modulo the number
 *		of shards.  Every producer computes the same shard for the same key.
 */
int16
AwaOrderingKeyShard(const char *key, int len, int shards)
{
	uint64		h = UINT64CONST(14695981039346656037);
	int			i;

	if (shards <= 1)
		return 0;
	for (i = 0; i < len; i++)
		h = h * UINT64CONST(1099511628211) + (uint64) (unsigned char) key[i];
	return (int16) (h % (uint64) shards);
}

/*
 * AwaNotifyChannel
 *		The notification channel of a queue: 'awa:' || queue, or
 *		'awa:' || md5(queue) when that would exceed the 63 bytes a channel
 *		name may have.  Returns a palloc'd string.
 */
char *
AwaNotifyChannel(text *queue)
{
	int			len = VARSIZE_ANY_EXHDR(queue);
	char	   *channel;

	if (len + 4 < NAMEDATALEN)
	{
		channel = palloc(len + 5);
		memcpy(channel, "awa:", 4);
		memcpy(channel + 4, VARDATA_ANY(queue), len);
		channel[len + 4] = '\0';
	}
	else
	{
		char		hex[33];
		const char *errstr = NULL;

		if (!pg_md5_hash(VARDATA_ANY(queue), len, hex, &errstr))
			elog(ERROR, "awa_queue: could not compute md5 of a queue name: %s",
				 errstr ? errstr : "unknown error");
		channel = psprintf("awa:%s", hex);
	}
	return channel;
}

/*
 * AwaNotifyQueue
 *		Queue a notification on the queue's channel, delivered at commit
 *		(and dropped on rollback), unless the queue's notify_enabled is off
 *		(awa.set_notify_enabled, design decision 46).  Callers call it once
 *		per distinct queue.  Reads the queue's kept settings (lock as
 *		AwaQueueNotifyEnabled).
 */
void
AwaNotifyQueue(text *queue)
{
	if (AwaQueueNotifyEnabled(queue))
		Async_Notify(AwaNotifyChannel(queue), "");
}

/*
 * RowsArray
 *		A record[] of n rows whose field c of row i is cols[c][i] (NULL when
 *		nulls[c][i]), typed by types[c].  The row descriptor is built and
 *		blessed once per backend and kept in *desc; the statement that
 *		unnests the array names the fields in a column definition list.
 */
static Datum
RowsArray(TupleDesc *desc, const Oid *types, int ncols, Datum **cols,
		  bool **nulls, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
	Datum	   *values = palloc(sizeof(Datum) * ncols);
	bool	   *isnull = palloc(sizeof(bool) * ncols);
	int			i;
	int			c;

	if (*desc == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
		TupleDesc	d = CreateTemplateTupleDesc(ncols);

		for (c = 0; c < ncols; c++)
		{
			char		name[16];

			snprintf(name, sizeof(name), "f%d", c + 1);
			TupleDescInitEntry(d, (AttrNumber) (c + 1), name, types[c],
							   types[c] == BITOID ? 8 : -1, 0);
		}
		*desc = BlessTupleDesc(d);
		MemoryContextSwitchTo(old);
	}
	for (i = 0; i < n; i++)
	{
		for (c = 0; c < ncols; c++)
		{
			values[c] = cols[c][i];
			isnull[c] = nulls[c][i];
		}
		elems[i] = HeapTupleGetDatum(heap_form_tuple(*desc, values, isnull));
	}
	return PointerGetDatum(construct_array(elems, n, RECORDOID, -1, false,
										   TYPALIGN_DOUBLE));
}

/*
 * ColumnsAlloc
 *		ncols column vectors of n datums and n null flags (all false).
 */
static void
ColumnsAlloc(Datum **cols, bool **nulls, int ncols, int n)
{
	int			c;

	for (c = 0; c < ncols; c++)
	{
		cols[c] = palloc(sizeof(Datum) * n);
		nulls[c] = palloc0(sizeof(bool) * n);
	}
}

/*
 * AwaAllocateJobIds
 *		Give every row whose job_id is 0 a fresh id from awa.job_id_seq, in
 *		array order, by calling the sequence directly (no statement).
 */
void
AwaAllocateJobIds(AwaJobRow *rows, int n)
{
	Oid			seq = InvalidOid;
	int			i;

	for (i = 0; i < n; i++)
	{
		if (rows[i].job_id != 0)
			continue;
		if (!OidIsValid(seq))
		{
			seq = AwaRelid("job_id_seq");
			if (!OidIsValid(seq))
				elog(ERROR, "awa_queue: sequence awa.job_id_seq is missing");
		}
		rows[i].job_id = nextval_internal(seq, true);
	}
}

/*
 * TextEqual
 *		Byte equality of two text values.
 */
static bool
TextEqual(text *a, text *b)
{
	int			la = VARSIZE_ANY_EXHDR(a);

	return la == (int) VARSIZE_ANY_EXHDR(b) &&
		memcmp(VARDATA_ANY(a), VARDATA_ANY(b), la) == 0;
}

/*
 * TextCompare
 *		Byte order of two text values (memcmp, then length); the order in
 *		which every writer locks lanes.
 */
static int
TextCompare(text *a, text *b)
{
	int			la = VARSIZE_ANY_EXHDR(a);
	int			lb = VARSIZE_ANY_EXHDR(b);
	int			c = memcmp(VARDATA_ANY(a), VARDATA_ANY(b), Min(la, lb));

	if (c != 0)
		return c;
	return (la > lb) - (la < lb);
}

/*
 * SameLane
 *		Whether two rows belong to the same (queue, priority, shard) lane.
 */
static bool
SameLane(AwaJobRow *a, AwaJobRow *b)
{
	return a->priority == b->priority &&
		a->enqueue_shard == b->enqueue_shard &&
		TextEqual(a->queue, b->queue);
}

/* sort context: lane order, then input order (keeps FIFO inside a lane) */
static int
LaneOrderCompare(const void *a, const void *b, void *arg)
{
	AwaJobRow  *rows = (AwaJobRow *) arg;
	int			ia = *(const int *) a;
	int			ib = *(const int *) b;
	AwaJobRow  *ra = &rows[ia];
	AwaJobRow  *rb = &rows[ib];
	int			c = TextCompare(ra->queue, rb->queue);

	if (c != 0)
		return c;
	if (ra->priority != rb->priority)
		return ra->priority - rb->priority;
	if (ra->enqueue_shard != rb->enqueue_shard)
		return ra->enqueue_shard - rb->enqueue_shard;
	return (ia > ib) - (ia < ib);
}

/*
 * AssignShards
 *		Set enqueue_shard of every row: the ordering key's stable shard, or
 *		the row's home shard (the lane an ended attempt came from, while
 *		the queue still has that many shards: ready rows do not keep the
 *		ordering key, but a keyed job's lane is its key's shard), or one
 *		rotor pick per (queue, priority) group of the call for the other
 *		rows.  Reads queue_meta once per distinct queue.
 */
static void
AssignShards(AwaJobRow *rows, int n)
{
	text	  **queues = palloc(sizeof(text *) * n);
	int		   *shards = palloc(sizeof(int) * n);
	int		   *row_shards = palloc(sizeof(int) * n);
	int			nq = 0;
	int			picks[AWA_PRIORITY_MAX + 1];
	int			i;
	int			j;

	for (i = 0; i < n; i++)
	{
		for (j = 0; j < nq; j++)
			if (TextEqual(queues[j], rows[i].queue))
				break;
		if (j == nq)
		{
			queues[nq] = rows[i].queue;
			shards[nq] = AwaQueueEnqueueShards(rows[i].queue);
			nq++;
		}
		rows[i].free_shards = 0;
		row_shards[i] = j;
	}

	for (j = 0; j < nq; j++)
	{
		int			p;

		for (p = 0; p <= AWA_PRIORITY_MAX; p++)
			picks[p] = -1;
		for (i = 0; i < n; i++)
		{
			AwaJobRow  *r = &rows[i];

			if (row_shards[i] != j)
				continue;
			if (r->ordering_key != NULL)
				r->enqueue_shard =
					AwaOrderingKeyShard(VARDATA_ANY(r->ordering_key),
										VARSIZE_ANY_EXHDR(r->ordering_key),
										shards[j]);
			else if (r->has_home_shard && r->home_shard < shards[j])
				r->enqueue_shard = r->home_shard;
			else
			{
				if (picks[r->priority] < 0 && shards[j] > 1 &&
					!shard_rotor_seeded)
				{
					shard_rotor = (uint32) MyProcPid;
					shard_rotor_seeded = true;
				}
				if (picks[r->priority] < 0)
					picks[r->priority] = shards[j] <= 1 ? 0 :
						(int) (shard_rotor++ % (uint32) shards[j]);
				r->enqueue_shard = (int16) picks[r->priority];
				r->free_shards = (int16) shards[j];
			}
		}
	}
}

/*
 * EnsureLane
 *		Create a lane's rows in both head tables (no lock on an existing
 *		claim head: INSERT ... ON CONFLICT DO NOTHING).
 */
static void
EnsureLane(text *queue, int16 priority, int16 shard)
{
	Datum		values[3];

	values[0] = PointerGetDatum(queue);
	values[1] = Int16GetDatum(priority);
	values[2] = Int16GetDatum(shard);
	AwaPlanExec(&lane_create_plan, values, NULL, false, 0, SPI_OK_INSERT);
}

/*
 * AdvanceHead
 *		next_seq = next_seq + n for one lane, creating the lane when missing;
 *		returns the first lane_seq of the range.  Locks the enqueue-head row
 *		until commit.
 */
static int64
AdvanceHead(text *queue, int16 priority, int16 shard, int64 n)
{
	Datum		values[4];
	int			attempt;

	values[0] = PointerGetDatum(queue);
	values[1] = Int16GetDatum(priority);
	values[2] = Int16GetDatum(shard);
	values[3] = Int64GetDatum(n);
	for (attempt = 0; attempt < 2; attempt++)
	{
		awa_backend_stats.enqueue_lane_statements++;
		if (AwaPlanExec(&head_advance_plan, values, NULL, false, 0,
						SPI_OK_UPDATE_RETURNING) == 1)
			return AwaSpiGetInt64(0, 1, 0);
		EnsureLane(queue, priority, shard);
	}
	elog(ERROR, "awa_queue: lane could not be created");
	return 0;					/* keep compiler quiet */
}

/*
 * InsertOneRowWith
 *		Run one of the single-row insert plans; on success set the row's id
 *		and shard from its RETURNING and return true, else (no lane taken)
 *		return false.
 */
static bool
InsertOneRowWith(AwaPlan *plan, Datum *values, const char *nulls, AwaJobRow *r)
{
	awa_backend_stats.enqueue_fused_statements++;
	if (AwaPlanExec(plan, values, nulls, false, 0, SPI_OK_INSERT_RETURNING) != 1)
		return false;
	r->job_id = AwaSpiGetInt64(0, 1, 0);
	r->enqueue_shard = (int16) AwaSpiGetInt64(0, 2, 0);
	return true;
}

/*
 * InsertOneReadyRow
 *		The single-row statements of AwaInsertReadyRows, where the direct
 *		write (AwaDirectInsertReady) does not apply: advance the lane's head
 *		by one and insert the row in one statement, creating the lane when
 *		missing; a row without a job id gets one from awa.job_id_seq.  A row
 *		that any lane may take goes to its rotor pick's lane when no other
 *		producer holds it, else to the first lane not locked by another
 *		producer (SKIP LOCKED, never waiting), and only when every lane is
 *		busy to its rotor pick (waiting).  Locks the enqueue-head row until
 *		commit.
 */
static void
InsertOneReadyRow(AwaJobRow *r)
{
	Datum		values[15];
	char		nulls[15];
	int			attempt;

	memset(nulls, ' ', sizeof(nulls));
	values[0] = Int64GetDatum(r->job_id);
	values[1] = PointerGetDatum(r->kind);
	values[2] = PointerGetDatum(r->queue);
	values[3] = PointerGetDatum(r->args);
	values[4] = Int16GetDatum(r->priority);
	values[5] = Int16GetDatum(r->attempt);
	values[6] = Int64GetDatum(r->run_lease);
	values[7] = Int16GetDatum(r->max_attempts);
	values[8] = Int16GetDatum(r->enqueue_shard);
	values[9] = TimestampTzGetDatum(r->run_at);
	values[10] = TimestampTzGetDatum(r->created_at);
	values[11] = PointerGetDatum(r->unique_key);
	values[12] = r->unique_key ? AwaMaskDatum(r->unique_mask) : (Datum) 0;
	if (r->unique_key == NULL)
		nulls[11] = nulls[12] = 'n';
	values[13] = PointerGetDatum(r->payload);
	if (r->payload == NULL)
		nulls[13] = 'n';
	values[14] = Int16GetDatum(r->free_shards);
	if (r->free_shards > 1 &&
		(InsertOneRowWith(&ready_insert_rotor_free_plan, values, nulls, r) ||
		 InsertOneRowWith(&ready_insert_free_lane_plan, values, nulls, r)))
		return;
	for (attempt = 0; attempt < 2; attempt++)
	{
		if (InsertOneRowWith(&ready_insert_one_plan, values, nulls, r))
			return;
		EnsureLane(r->queue, r->priority, r->enqueue_shard);
	}
	elog(ERROR, "awa_queue: lane could not be created");
}

/*
 * AwaInsertReadyRows
 *		Make n jobs available: assign shards, advance each lane's enqueue
 *		head once (lanes in sorted (queue, priority, shard) order), read the
 *		queue ring cursor without a lock and insert every ready row with one
 *		statement.  When the call touches one lane, the rows are written
 *		without a statement (AwaDirectInsertReady) or, where that does not
 *		apply, the head advance and the insert are one fused statement.
 *
 * Rows keep FIFO order inside a lane in array order.  A row whose job_id
 * is 0 gets a fresh id (set in rows[i].job_id): from the insert itself
 * for a single row, else from AwaAllocateJobIds.  Sets
 * rows[i].enqueue_shard.  Locks the
 * touched enqueue-head rows until commit; does no unique sync and sends
 * no notification (callers compose those).
 */
void
AwaInsertReadyRows(AwaJobRow *rows, int n)
{
	static TupleDesc batch_desc = NULL;
	int		   *order;
	Datum	   *cols[READY_NFIELDS];
	bool	   *cnulls[READY_NFIELDS];
	Datum		values[5];
	int			nlanes = 1;
	int			i;

	if (n <= 0)
		return;
	AssignShards(rows, n);
	if (n == 1)
	{
		int			only = 0;

		if (!AwaDirectInsertReady(rows, &only, 1))
			InsertOneReadyRow(&rows[0]);
		return;
	}
	AwaAllocateJobIds(rows, n);
	order = palloc(sizeof(int) * n);
	for (i = 0; i < n; i++)
		order[i] = i;
	qsort_arg(order, n, sizeof(int), LaneOrderCompare, rows);
	for (i = 1; i < n; i++)
		if (!SameLane(&rows[order[i - 1]], &rows[order[i]]))
			nlanes++;
	if (nlanes == 1 && AwaDirectInsertReady(rows, order, n))
		return;

	ColumnsAlloc(cols, cnulls, READY_NFIELDS, n);
	for (i = 0; i < n; i++)
	{
		AwaJobRow  *r = &rows[order[i]];

		cols[0][i] = Int64GetDatum(r->job_id);
		cols[1][i] = PointerGetDatum(r->kind);
		cols[2][i] = PointerGetDatum(r->queue);
		cols[3][i] = PointerGetDatum(r->args);
		cols[4][i] = Int16GetDatum(r->priority);
		cols[5][i] = Int16GetDatum(r->attempt);
		cols[6][i] = Int64GetDatum(r->run_lease);
		cols[7][i] = Int16GetDatum(r->max_attempts);
		cols[8][i] = Int64GetDatum(0);	/* lane_seq, below */
		cols[9][i] = Int16GetDatum(r->enqueue_shard);
		cols[10][i] = TimestampTzGetDatum(r->run_at);
		cols[11][i] = TimestampTzGetDatum(r->created_at);
		cols[12][i] = PointerGetDatum(r->unique_key);
		cnulls[12][i] = (r->unique_key == NULL);
		cols[13][i] = r->unique_key ? AwaMaskDatum(r->unique_mask) : (Datum) 0;
		cnulls[13][i] = (r->unique_key == NULL);
		cols[14][i] = PointerGetDatum(r->payload);
		cnulls[14][i] = (r->payload == NULL);
	}

	if (nlanes > 1)
	{
		/* one head advance per lane, in lane order, then one insert */
		int			start = 0;

		while (start < n)
		{
			AwaJobRow  *first = &rows[order[start]];
			int			end = start + 1;
			int64		base;
			int			k;

			while (end < n && SameLane(&rows[order[end]], first))
				end++;
			base = AdvanceHead(first->queue, first->priority,
							   first->enqueue_shard, end - start);
			for (k = start; k < end; k++)
				cols[8][k] = Int64GetDatum(base + (k - start));
			start = end;
		}
		values[0] = RowsArray(&batch_desc, ready_field_types, READY_NFIELDS,
							  cols, cnulls, n);
		if (AwaPlanExec(&ready_insert_plan, values, NULL, false, 0,
						SPI_OK_INSERT) != n)
			elog(ERROR, "awa_queue: ready rows were not all inserted");
		return;
	}

	/* one lane: fused head advance + insert, creating the lane if missing */
	values[0] = RowsArray(&batch_desc, ready_field_types, READY_NFIELDS,
						  cols, cnulls, n);
	values[1] = Int64GetDatum((int64) n);
	values[2] = PointerGetDatum(rows[order[0]].queue);
	values[3] = Int16GetDatum(rows[order[0]].priority);
	values[4] = Int16GetDatum(rows[order[0]].enqueue_shard);
	for (i = 0; i < 2; i++)
	{
		int			done;

		awa_backend_stats.enqueue_fused_statements++;
		done = AwaPlanExec(&ready_insert_fused_plan, values, NULL, false, 0,
						   SPI_OK_INSERT);
		if (done == n)
			return;
		if (done != 0)
			elog(ERROR, "awa_queue: ready rows were not all inserted");
		EnsureLane(rows[order[0]].queue, rows[order[0]].priority,
				   rows[order[0]].enqueue_shard);
	}
	elog(ERROR, "awa_queue: lane could not be created");
}

/*
 * AwaInsertDeferredRows
 *		Park n jobs in deferred_jobs (state scheduled or retryable per row,
 *		run_at as given), one statement, rows sorted by job_id (a row
 *		whose job_id is 0 gets a fresh one first).  The
 *		ordering key and the home shard (an ended attempt's lane) are kept
 *		so that promotion finds the same shard.  No unique sync, no
 *		notification.
 */
void
AwaInsertDeferredRows(AwaJobRow *rows, int n)
{
	static TupleDesc batch_desc = NULL;
	Datum	   *cols[DEFERRED_NFIELDS];
	bool	   *cnulls[DEFERRED_NFIELDS];
	Datum		value;
	int			i;

	if (n <= 0)
		return;
	AwaAllocateJobIds(rows, n);
	ColumnsAlloc(cols, cnulls, DEFERRED_NFIELDS, n);
	for (i = 0; i < n; i++)
	{
		AwaJobRow  *r = &rows[i];

		if (r->state != AWA_STATE_BIT_SCHEDULED &&
			r->state != AWA_STATE_BIT_RETRYABLE)
			elog(ERROR, "awa_queue: deferred rows are scheduled or retryable");
		cols[0][i] = Int64GetDatum(r->job_id);
		cols[1][i] = PointerGetDatum(r->kind);
		cols[2][i] = PointerGetDatum(r->queue);
		cols[3][i] = PointerGetDatum(r->args);
		cols[4][i] = CStringGetTextDatum(state_labels[r->state]);
		cols[5][i] = Int16GetDatum(r->priority);
		cols[6][i] = Int16GetDatum(r->attempt);
		cols[7][i] = Int64GetDatum(r->run_lease);
		cols[8][i] = Int16GetDatum(r->max_attempts);
		cols[9][i] = TimestampTzGetDatum(r->run_at);
		cols[10][i] = TimestampTzGetDatum(r->attempted_at);
		cnulls[10][i] = !r->has_attempted_at;
		cols[11][i] = TimestampTzGetDatum(r->finalized_at);
		cnulls[11][i] = !r->has_finalized_at;
		cols[12][i] = TimestampTzGetDatum(r->created_at);
		cols[13][i] = PointerGetDatum(r->unique_key);
		cnulls[13][i] = (r->unique_key == NULL);
		cols[14][i] = r->unique_key ? AwaMaskDatum(r->unique_mask) : (Datum) 0;
		cnulls[14][i] = (r->unique_key == NULL);
		cols[15][i] = PointerGetDatum(r->ordering_key);
		cnulls[15][i] = (r->ordering_key == NULL);
		cols[16][i] = PointerGetDatum(r->payload);
		cnulls[16][i] = (r->payload == NULL);
		cols[17][i] = Int16GetDatum(r->home_shard);
		cnulls[17][i] = !r->has_home_shard;
	}
	value = RowsArray(&batch_desc, deferred_field_types, DEFERRED_NFIELDS,
					  cols, cnulls, n);
	if (AwaPlanExec(&deferred_insert_plan, &value, NULL, false, 0,
					SPI_OK_INSERT) != n)
		elog(ERROR, "awa_queue: deferred rows were not all inserted");
}
