/*-------------------------------------------------------------------------
 *
 * awa_admin.c
 *	  Queue configuration: pause, resume, enqueue shards, dead-letter
 *	  policy, notifications.
 *
 * All five functions upsert the queue's row of awa.queue_meta; a queue
 * without a row uses the defaults (running, one shard, no DLQ, notifying).
 *
 * Copyright (c) 2026, awa_queue developers
 *
 * IDENTIFICATION
 *	  src/awa_admin.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"

#include "awa_queue.h"

static AwaPlan queue_meta_upsert_plan = {
	.sql = "INSERT INTO awa.queue_meta AS m "
	"(queue, paused, paused_at, enqueue_shards, dlq_enabled, notify_enabled) "
	"VALUES ($1, COALESCE($2, false), "
	"CASE WHEN $2 THEN pg_catalog.now() END, COALESCE($3, 1), COALESCE($4, false), "
	"COALESCE($5, true)) "
	"ON CONFLICT (queue) DO UPDATE SET "
	"paused = COALESCE($2, m.paused), "
	"paused_at = CASE WHEN $2 IS NULL THEN m.paused_at "
	"WHEN $2 AND NOT m.paused THEN pg_catalog.now() "
	"WHEN $2 THEN m.paused_at END, "
	"enqueue_shards = COALESCE($3, m.enqueue_shards), "
	"dlq_enabled = COALESCE($4, m.dlq_enabled), "
	"notify_enabled = COALESCE($5, m.notify_enabled), "
	"updated_at = pg_catalog.clock_timestamp()",
	.nargs = 5,
	.argtypes = {TEXTOID, BOOLOID, INT2OID, BOOLOID, BOOLOID}
};

/*
 * A change of a queue's settings: each field KEEP_SETTING (keep the current
 * or default value) or the new value (0 or 1 for a flag).
 */
#define KEEP_SETTING (-1)
typedef struct QueueMetaChange
{
	int			paused;
	int			enqueue_shards;
	int			dlq_enabled;
	int			notify_enabled;
} QueueMetaChange;

#define NO_CHANGE {KEEP_SETTING, KEEP_SETTING, KEEP_SETTING, KEEP_SETTING}

/*
 * SetQueueMeta
 *		Upsert one queue's configuration row; a setting left at KEEP_SETTING
 *		keeps the current (or default) value.  Locks that queue_meta row
 *		until commit.
 */
static void
SetQueueMeta(text *queue, QueueMetaChange change)
{
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};

	values[0] = PointerGetDatum(queue);
	values[1] = BoolGetDatum(change.paused > 0);
	values[2] = Int16GetDatum((int16) change.enqueue_shards);
	values[3] = BoolGetDatum(change.dlq_enabled > 0);
	values[4] = BoolGetDatum(change.notify_enabled > 0);
	nulls[1] = change.paused == KEEP_SETTING ? 'n' : ' ';
	nulls[2] = change.enqueue_shards == KEEP_SETTING ? 'n' : ' ';
	nulls[3] = change.dlq_enabled == KEEP_SETTING ? 'n' : ' ';
	nulls[4] = change.notify_enabled == KEEP_SETTING ? 'n' : ' ';

	AwaSpiConnect();
	AwaPlanExec(&queue_meta_upsert_plan, values, nulls, false, 0, SPI_OK_INSERT);
	AwaSpiFinish();
}

/*
 * QueueArg
 *		The queue argument of an admin function, validated.
 */
static text *
QueueArg(FunctionCallInfo fcinfo)
{
	text	   *queue = PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0);

	AwaValidateName(queue, "queue");
	return queue;
}

/*
 * awa_pause_queue
 *		awa.pause_queue(queue text): claims and promotion skip the queue.
 *		Enqueue still works; running attempts finish normally.
 */
PG_FUNCTION_INFO_V1(awa_pause_queue);
Datum
awa_pause_queue(PG_FUNCTION_ARGS)
{
	QueueMetaChange change = NO_CHANGE;

	change.paused = 1;
	SetQueueMeta(QueueArg(fcinfo), change);
	PG_RETURN_VOID();
}

/*
 * awa_resume_queue
 *		awa.resume_queue(queue text): undo pause_queue.
 */
PG_FUNCTION_INFO_V1(awa_resume_queue);
Datum
awa_resume_queue(PG_FUNCTION_ARGS)
{
	QueueMetaChange change = NO_CHANGE;

	change.paused = 0;
	SetQueueMeta(QueueArg(fcinfo), change);
	PG_RETURN_VOID();
}

/*
 * awa_set_enqueue_shards
 *		awa.set_enqueue_shards(queue text, shards int): 1..64 lanes per
 *		priority.  Lowering the number is safe: claims walk every existing
 *		lane, so old shards drain.
 */
PG_FUNCTION_INFO_V1(awa_set_enqueue_shards);
Datum
awa_set_enqueue_shards(PG_FUNCTION_ARGS)
{
	text	   *queue = QueueArg(fcinfo);
	QueueMetaChange change = NO_CHANGE;

	AwaRequireNotNull(PG_ARGISNULL(1), "shards");
	AwaValidateShards(PG_GETARG_INT32(1));
	change.enqueue_shards = PG_GETARG_INT32(1);
	SetQueueMeta(queue, change);
	PG_RETURN_VOID();
}

/*
 * awa_set_dlq_enabled
 *		awa.set_dlq_enabled(queue text, enabled boolean): jobs that exhaust
 *		their attempts go to dlq_entries instead of failed.
 */
PG_FUNCTION_INFO_V1(awa_set_dlq_enabled);
Datum
awa_set_dlq_enabled(PG_FUNCTION_ARGS)
{
	text	   *queue = QueueArg(fcinfo);
	QueueMetaChange change = NO_CHANGE;

	AwaRequireNotNull(PG_ARGISNULL(1), "enabled");
	change.dlq_enabled = PG_GETARG_BOOL(1) ? 1 : 0;
	SetQueueMeta(queue, change);
	PG_RETURN_VOID();
}

/*
 * awa_set_notify_enabled
 *		awa.set_notify_enabled(queue text, enabled boolean): whether jobs
 *		becoming available in the queue (enqueue, promotion, retries out of
 *		the DLQ or a terminal state) send pg_notify('awa:' || queue).  Off
 *		for queues whose workers poll: PostgreSQL serializes the commits of
 *		notifying transactions database-wide (design decision 46).  Seen by
 *		every statement that starts after the change committed.
 */
PG_FUNCTION_INFO_V1(awa_set_notify_enabled);
Datum
awa_set_notify_enabled(PG_FUNCTION_ARGS)
{
	text	   *queue = QueueArg(fcinfo);
	QueueMetaChange change = NO_CHANGE;

	AwaRequireNotNull(PG_ARGISNULL(1), "enabled");
	change.notify_enabled = PG_GETARG_BOOL(1) ? 1 : 0;
	SetQueueMeta(queue, change);
	PG_RETURN_VOID();
}
