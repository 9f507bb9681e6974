/*-------------------------------------------------------------------------
 *
 * awa_admin.c
 *	  Queue configuration: pause, resume, enqueue shards, dead-letter policy.
 *
 * All four functions upsert the queue's row of awa.queue_meta; a queue
 * without a row uses the defaults (running, one shard, no DLQ).
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
	"(queue, paused, paused_at, enqueue_shards, dlq_enabled) "
	"VALUES ($1, COALESCE($2, false), "
	"CASE WHEN $2 THEN pg_catalog.now() END, COALESCE($3, 1), COALESCE($4, false)) "
	"ON CONFLICT (queue) DO UPDATE SET "
	"paused = COALESCE($2, m.paused), "
	"paused_at = CASE WHEN $2 IS NULL THEN m.paused_at "
	"WHEN $2 AND NOT m.paused THEN pg_catalog.now() "
	"WHEN $2 THEN m.paused_at END, "
	"enqueue_shards = COALESCE($3, m.enqueue_shards), "
	"dlq_enabled = COALESCE($4, m.dlq_enabled), "
	"updated_at = pg_catalog.clock_timestamp()",
	.nargs = 4,
	.argtypes = {TEXTOID, BOOLOID, INT2OID, BOOLOID}
};

/*
 * SetQueueMeta
 *		Upsert one queue's configuration row; a NULL setting keeps the
 *		current (or default) value.  Locks that queue_meta row until commit.
 */
static void
SetQueueMeta(text *queue, int paused, int shards, int dlq_enabled)
{
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};

	values[0] = PointerGetDatum(queue);
	values[1] = BoolGetDatum(paused > 0);
	if (paused < 0)
		nulls[1] = 'n';
	values[2] = Int16GetDatum((int16) shards);
	if (shards <= 0)
		nulls[2] = 'n';
	values[3] = BoolGetDatum(dlq_enabled > 0);
	if (dlq_enabled < 0)
		nulls[3] = 'n';

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
	SetQueueMeta(QueueArg(fcinfo), 1, 0, -1);
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
	SetQueueMeta(QueueArg(fcinfo), 0, 0, -1);
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
	SetQueueMeta(queue, -1, PG_GETARG_INT32(1), -1);
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

	AwaRequireNotNull(PG_ARGISNULL(1), "enabled");
	SetQueueMeta(queue, -1, 0, PG_GETARG_BOOL(1) ? 1 : 0);
	PG_RETURN_VOID();
}
