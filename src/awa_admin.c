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
 * The settings the functions below change, one per call: the parameter
 * number ($2..$5) of each in queue_meta_upsert_plan, minus one.
 */
typedef enum QueueSetting
{
	SETTING_PAUSED = 1,
	SETTING_ENQUEUE_SHARDS,
	SETTING_DLQ_ENABLED,
	SETTING_NOTIFY_ENABLED
} QueueSetting;

/*
 * SetQueueMeta
 *		Upsert one queue's configuration row with one setting changed to
 *		"value" (0 or 1 for a flag); the others keep their current (or
 *		default) values.  Locks that queue_meta row until commit.
 */
static void
SetQueueMeta(text *queue, QueueSetting which, int value)
{
	Datum		values[5] = {0};
	char		nulls[5] = {' ', 'n', 'n', 'n', 'n'};

	values[0] = PointerGetDatum(queue);
	values[which] = which == SETTING_ENQUEUE_SHARDS ?
		Int16GetDatum((int16) value) : BoolGetDatum(value > 0);
	nulls[which] = ' ';

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
 * SetQueueFlag
 *		The body of a flag setter f(queue text, enabled boolean): both
 *		arguments validated (NULL is an error), then the flag written.
 */
static void
SetQueueFlag(FunctionCallInfo fcinfo, QueueSetting which)
{
	text	   *queue = QueueArg(fcinfo);

	AwaRequireNotNull(PG_ARGISNULL(1), "enabled");
	SetQueueMeta(queue, which, PG_GETARG_BOOL(1) ? 1 : 0);
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
	SetQueueMeta(QueueArg(fcinfo), SETTING_PAUSED, 1);
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
	SetQueueMeta(QueueArg(fcinfo), SETTING_PAUSED, 0);
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

	AwaRequireNotNull(PG_ARGISNULL(1), "shards");
	AwaValidateShards(PG_GETARG_INT32(1));
	SetQueueMeta(queue, SETTING_ENQUEUE_SHARDS, PG_GETARG_INT32(1));
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
	SetQueueFlag(fcinfo, SETTING_DLQ_ENABLED);
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
	SetQueueFlag(fcinfo, SETTING_NOTIFY_ENABLED);
	PG_RETURN_VOID();
}
