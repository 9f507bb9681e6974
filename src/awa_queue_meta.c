/*-------------------------------------------------------------------------
 *
 * awa_queue_meta.c
 *	  The queue settings the hot path reads (paused, enqueue_shards,
 *	  notify_enabled), kept per backend until awa.queue_meta changes.
 *
 * Every enqueue read its queue's enqueue_shards and every claim its
 * queue's paused flag through queue_meta's primary key: about 9,000
 * instructions each, for a table that changes only when an operator
 * pauses, resumes or re-shards a queue.  Each backend now keeps what it
 * read, for up to 32 queues, until a relcache invalidation of queue_meta,
 * which the table's statement-level trigger (awa.queue_meta_changed) sends
 * after every INSERT, UPDATE, DELETE or TRUNCATE: to every backend when the
 * writing transaction commits, to the writing transaction itself at its
 * next command, and to it again when it rolls back.  A queue not kept is
 * read with a snapshot taken after its relations are opened, and so after
 * the invalidations pending at that point are processed: a value kept is
 * never older than a change whose invalidation has been processed.  So a
 * change is seen by every statement that starts after the change's
 * transaction has returned to its client (and by that transaction itself),
 * and possibly earlier; design decision 43.
 *
 * Copyright (c) 2026, awa_queue developers
 *
 * IDENTIFICATION
 *	  src/awa_queue_meta.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/xact.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "storage/sinval.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "awa_queue.h"

#define QUEUE_META_KEPT 32

typedef struct KeptQueueMeta
{
	bool		used;
	bool		paused;
	bool		notify_enabled;
	int16		enqueue_shards;
	int			queue_len;
	char		queue[AWA_NAME_MAX_BYTES];
} KeptQueueMeta;

static KeptQueueMeta kept[QUEUE_META_KEPT];
static int	kept_next;			/* the entry to reuse next */
static Oid	kept_relid = InvalidOid;	/* the queue_meta they were read from */

/* forget every queue kept */
static void
ForgetQueueMeta(void)
{
	int			i;

	for (i = 0; i < QUEUE_META_KEPT; i++)
		kept[i].used = false;
	kept_next = 0;
}

/* relcache callback: queue_meta (or every relation) was invalidated */
static void
QueueMetaInvalidated(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == kept_relid)
		ForgetQueueMeta();
}

/*
 * ReadQueueMeta
 *		Read the queue's row of queue_meta (table "relid") into *e: its
 *		paused flag, enqueue_shards and notify_enabled, or the defaults
 *		(running, one shard, notifying) when it has none.  The snapshot is
 *		taken after the table and its primary key are opened
 *		(AccessShareLock each).  False when the table cannot be read that
 *		way.
 */
static bool
ReadQueueMeta(Oid relid, text *queue, KeptQueueMeta *e)
{
	AttrNumber	paused_att = AwaAttnum(relid, "paused");
	AttrNumber	shards_att = AwaAttnum(relid, "enqueue_shards");
	AttrNumber	notify_att = AwaAttnum(relid, "notify_enabled");
	AwaKeyScan	ks;
	ScanKeyData key;
	Snapshot	snapshot;
	bool		isnull;

	if (paused_att == InvalidAttrNumber || shards_att == InvalidAttrNumber ||
		notify_att == InvalidAttrNumber ||
		!AwaKeyScanOpen(relid, AccessShareLock, &ks))
		return false;
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	AwaScanKeyEq(&key, 1, F_TEXTEQ, ks.index->rd_indcollation[0],
				 PointerGetDatum(queue));
	AwaKeyScanStart(&ks, &key, 1, snapshot);
	e->paused = false;
	e->enqueue_shards = 1;
	e->notify_enabled = true;
	if (index_getnext_slot(ks.scan, ForwardScanDirection, ks.slot))
	{
		Datum		paused = slot_getattr(ks.slot, paused_att, &isnull);

		e->paused = !isnull && DatumGetBool(paused);
		e->enqueue_shards = DatumGetInt16(slot_getattr(ks.slot, shards_att,
													   &isnull));
		if (isnull)
			e->enqueue_shards = 1;
		e->notify_enabled = DatumGetBool(slot_getattr(ks.slot, notify_att,
													  &isnull)) || isnull;
	}
	AwaKeyScanEnd(&ks);
	UnregisterSnapshot(snapshot);
	return true;
}

/*
 * QueueMetaOf
 *		The kept settings of a queue, read first when not kept; NULL when
 *		queue_meta cannot be read.  AccessShareLock on queue_meta and its
 *		primary key when it is read.
 */
static const KeptQueueMeta *
QueueMetaOf(text *queue)
{
	int			len = VARSIZE_ANY_EXHDR(queue);
	Oid			relid;
	KeptQueueMeta fresh;
	KeptQueueMeta *e;
	int			i;

	/* this transaction's own changes, then everyone else's */
	CommandCounterIncrement();
	AcceptInvalidationMessages();
	relid = AwaRelid("queue_meta");
	if (!OidIsValid(relid) || len > AWA_NAME_MAX_BYTES)
		return NULL;
	if (relid != kept_relid)
	{
		ForgetQueueMeta();
		kept_relid = relid;
	}
	for (i = 0; i < QUEUE_META_KEPT; i++)
		if (kept[i].used && kept[i].queue_len == len &&
			memcmp(kept[i].queue, VARDATA_ANY(queue), len) == 0)
			return &kept[i];
	if (!ReadQueueMeta(relid, queue, &fresh))
		return NULL;
	e = &kept[kept_next];
	kept_next = (kept_next + 1) % QUEUE_META_KEPT;
	*e = fresh;
	e->used = true;
	e->queue_len = len;
	memcpy(e->queue, VARDATA_ANY(queue), len);
	return e;
}

/*
 * AwaQueuePaused
 *		Whether the queue is paused (no queue_meta row: not paused); false
 *		when queue_meta cannot be read.  Lock as QueueMetaOf.
 */
bool
AwaQueuePaused(text *queue)
{
	const KeptQueueMeta *e = QueueMetaOf(queue);

	return e != NULL && e->paused;
}

/*
 * AwaQueueEnqueueShards
 *		queue_meta.enqueue_shards of a queue (1 when it has no row, or
 *		queue_meta cannot be read); this transaction's own set_enqueue_shards
 *		counts from its next command on.  Lock as QueueMetaOf.
 */
int
AwaQueueEnqueueShards(text *queue)
{
	const KeptQueueMeta *e = QueueMetaOf(queue);

	return e != NULL ? e->enqueue_shards : 1;
}

/*
 * AwaQueueNotifyEnabled
 *		queue_meta.notify_enabled of a queue (true when it has no row, or
 *		queue_meta cannot be read: a notification too many is harmless, one
 *		too few leaves a listening worker asleep).  Lock as QueueMetaOf.
 */
bool
AwaQueueNotifyEnabled(text *queue)
{
	const KeptQueueMeta *e = QueueMetaOf(queue);

	return e == NULL || e->notify_enabled;
}

/*
 * awa_queue_meta_changed
 *		awa.queue_meta_changed() RETURNS trigger: the statement-level trigger
 *		of awa.queue_meta.  Sends a relcache invalidation of the table, so
 *		that every backend forgets the settings it keeps (at the writing
 *		transaction's next command, and everywhere at its commit).  Takes
 *		no lock.
 */
PG_FUNCTION_INFO_V1(awa_queue_meta_changed);
Datum
awa_queue_meta_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("awa.queue_meta_changed() must be called as a trigger")));
	CacheInvalidateRelcache(trigdata->tg_relation);
	return PointerGetDatum(NULL);
}

/*
 * AwaQueueMetaInit
 *		Register the relcache callback; called from _PG_init.
 */
void
AwaQueueMetaInit(void)
{
	CacheRegisterRelcacheCallback(QueueMetaInvalidated, (Datum) 0);
}
