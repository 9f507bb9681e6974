/*-------------------------------------------------------------------------
 *
 * awa_tam.c
 *	  The pieces shared by the row writes that bypass the executor
 *	  (awa_direct.c's ready rows, awa_receipts.c's receipts, the claim head
 *	  of awa_claim_direct.c): a table's columns found by name, a result
 *	  relation with its indexes open, and the index entries of a new row
 *	  version.
 *
 * A writer never assumes a column position: the column map of a table is
 * built from the names it writes on first use, checked to be exactly the
 * table's live columns, and forgotten on any relcache invalidation (ALTER
 * TABLE, the TRUNCATE of a prune, ...), so a map is never used for a
 * changed table.  When a table's columns are not the expected ones the
 * writer gets no map and leaves the write to its SQL statement.
 *
 * Copyright (c) 2026, awa_queue developers
 *
 * IDENTIFICATION
 *	  src/awa_tam.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "executor/executor.h"
#include "nodes/execnodes.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "awa_queue.h"

/* column maps kept at once; the oldest are dropped past this */
#define COLUMN_MAPS 48

static AwaColumnMap column_maps[COLUMN_MAPS];
static int	column_nmaps = 0;
static bool column_callback_registered = false;

/* column numbers looked up by name (AwaAttnum); same lifetime as the maps */
#define ATTNUMS 32

typedef struct AttnumEntry
{
	Oid			relid;
	const char *name;			/* the caller's string, compared by value */
	AttrNumber	attnum;
} AttnumEntry;

static AttnumEntry attnums[ATTNUMS];
static int	nattnums = 0;

/* relcache invalidation callback: drop every map and column number */
static void
ColumnMapsInvalidate(Datum arg, Oid relid)
{
	column_nmaps = 0;
	nattnums = 0;
}

/* register ColumnMapsInvalidate once per backend */
static void
RegisterColumnCallback(void)
{
	if (!column_callback_registered)
	{
		CacheRegisterRelcacheCallback(ColumnMapsInvalidate, (Datum) 0);
		column_callback_registered = true;
	}
}

/*
 * AwaAttnum
 *		get_attnum(relid, name), remembered until the next relcache
 *		invalidation (an ALTER TABLE of the relation sends one), so that the
 *		hot path's column lookups by name do not each search the attribute
 *		cache.  "name" must be a string constant (it is remembered by
 *		pointer).  InvalidAttrNumber (never remembered) when there is no
 *		such live column.  No lock.
 */
AttrNumber
AwaAttnum(Oid relid, const char *name)
{
	AttrNumber	attnum;
	int			i;

	for (i = 0; i < nattnums; i++)
		if (attnums[i].relid == relid && strcmp(attnums[i].name, name) == 0)
			return attnums[i].attnum;
	RegisterColumnCallback();
	attnum = get_attnum(relid, name);
	if (attnum == InvalidAttrNumber)
		return attnum;
	if (nattnums == ATTNUMS)
		nattnums = 0;
	attnums[nattnums].relid = relid;
	attnums[nattnums].name = name;
	attnums[nattnums].attnum = attnum;
	nattnums++;
	return attnum;
}

/*
 * AwaColumnMapFor
 *		Where each of the ncols columns "names" sits in relation "rel", or
 *		NULL when one is missing or, with "exact" (a writer filling every
 *		column), when the relation's live columns are not exactly those
 *		names (in any order).  Maps are cached per (relation, names array) until
 *		the next relcache invalidation.  No lock beyond the caller's.
 */
const AwaColumnMap *
AwaColumnMapFor(Relation rel, const char *const *names, int ncols, bool exact)
{
	TupleDesc	desc = RelationGetDescr(rel);
	Oid			relid = RelationGetRelid(rel);
	AwaColumnMap map;
	int			live = 0;
	int			i;

	Assert(ncols <= AWA_MAP_MAX_COLUMNS);
	for (i = 0; i < column_nmaps; i++)
		if (column_maps[i].relid == relid && column_maps[i].names == names &&
			column_maps[i].natts == desc->natts)
			return &column_maps[i];
	RegisterColumnCallback();
	map.relid = relid;
	map.names = names;
	map.ncols = ncols;
	map.natts = desc->natts;
	for (i = 0; i < ncols; i++)
		map.attno[i] = InvalidAttrNumber;
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		int			c;

		if (att->attisdropped)
			continue;
		for (c = 0; c < ncols; c++)
			if (strcmp(NameStr(att->attname), names[c]) == 0)
				break;
		if (c == ncols && !exact)
			continue;
		if (c == ncols || map.attno[c] != InvalidAttrNumber)
			return NULL;
		map.attno[c] = att->attnum;
		live++;
	}
	if (live != ncols)
		return NULL;
	if (column_nmaps == COLUMN_MAPS)
		column_nmaps = 0;
	column_maps[column_nmaps] = map;
	return &column_maps[column_nmaps++];
}

/*
 * AwaStoreMappedRow
 *		Store values[] / nulls[], in the order of the map's names, as a
 *		virtual tuple in "slot" (a slot of the mapped relation).
 */
void
AwaStoreMappedRow(TupleTableSlot *slot, const AwaColumnMap *map,
				  const Datum *values, const bool *nulls)
{
	int			c;

	ExecClearTuple(slot);
	memset(slot->tts_isnull, true, sizeof(bool) * map->natts);
	for (c = 0; c < map->ncols; c++)
	{
		slot->tts_values[map->attno[c] - 1] = values[c];
		slot->tts_isnull[map->attno[c] - 1] = nulls[c];
	}
	ExecStoreVirtualTuple(slot);
}

/*
 * AwaRowSlot
 *		A slot for one of the "nrows" rows of one write to "rel".  From
 *		ROW_SLOT_COPY_FROM rows on, the slots share *desc: a copy of the
 *		relation's row descriptor made by the first call (with *desc NULL)
 *		that is not reference-counted, so they do not pin it in the resource
 *		owner as table_slot_create's slots do, once per row; for fewer rows
 *		the copy would cost more than the pins, and the slot is
 *		table_slot_create's.  Drop it with ExecDropSingleTupleTableSlot; the
 *		copy lives in the caller's memory context.
 */
#define ROW_SLOT_COPY_FROM 3

TupleTableSlot *
AwaRowSlot(Relation rel, TupleDesc *desc, int nrows)
{
	if (nrows < ROW_SLOT_COPY_FROM)
		return table_slot_create(rel, NULL);
	if (*desc == NULL)
		*desc = CreateTupleDescCopy(RelationGetDescr(rel));
	return MakeSingleTupleTableSlot(*desc, table_slot_callbacks(rel));
}

/*
 * AwaOpenResultRel
 *		A ResultRelInfo for "rel" with its indexes open, as the executor
 *		builds for an INSERT or UPDATE target, but outside any range table
 *		(index 0: the executor's helpers then read no column set from a
 *		plan, which there is none of here).  RowExclusiveLock on each index.
 *		Close with AwaCloseResultRel.
 */
ResultRelInfo *
AwaOpenResultRel(Relation rel)
{
	ResultRelInfo *rri = makeNode(ResultRelInfo);

	InitResultRelInfo(rri, rel, 0, NULL, 0);
	ExecOpenIndices(rri, false);
	return rri;
}

/*
 * AwaCloseResultRel
 *		Close the indexes AwaOpenResultRel opened, keeping their
 *		RowExclusiveLock to the end of the transaction, as the table's own
 *		lock is kept.  (ExecCloseIndices releases each lock at once, which
 *		costs a lock-table lookup per index on every call; the release at
 *		commit is one pass over the backend's fast-path slots.)
 */
void
AwaCloseResultRel(ResultRelInfo *rri)
{
	int			i;

	for (i = 0; i < rri->ri_NumIndices; i++)
		if (rri->ri_IndexRelationDescs[i] != NULL)
			index_close(rri->ri_IndexRelationDescs[i], NoLock);
}

/*
 * AwaInsertIndexEntries
 *		The index entries of the row version in "slot", through the
 *		executor's own routine, unique indexes checked.  For the new version
 *		of a non-HOT update as well: the old version, deleted by this
 *		transaction, is no conflict.  ExecInsertIndexTuples is called as for
 *		an INSERT because its UPDATE mode reads the updated columns from the
 *		range table of a plan, which there is none of here; that mode only
 *		adds a hint for bottom-up index deletion.
 */
void
AwaInsertIndexEntries(ResultRelInfo *rri, TupleTableSlot *slot, EState *estate)
{
	List	   *recheck;

	recheck = ExecInsertIndexTuples(rri, slot, estate, false, false, NULL, NIL);
	list_free(recheck);
}

/*
 * AwaIndexUpdatedRow
 *		After heap_update wrote "newtup" into "rel": its index entries when
 *		the update was not heap-only (a HOT update needs none).
 */
void
AwaIndexUpdatedRow(Relation rel, HeapTuple newtup, EState *estate)
{
	TupleTableSlot *slot;
	ResultRelInfo *rri;

	if (HeapTupleIsHeapOnly(newtup))
		return;
	slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsHeapTuple);
	rri = AwaOpenResultRel(rel);
	ExecStoreHeapTuple(newtup, slot, false);
	AwaInsertIndexEntries(rri, slot, estate);
	AwaCloseResultRel(rri);
	ExecDropSingleTupleTableSlot(slot);
}

/*
 * AwaAddToColumn
 *		column "att" (int8) = column + delta on the row version "tid" of
 *		"rel" (found with "snapshot", or, when "locked", the latest version,
 *		locked by this transaction), as "UPDATE ... SET c = c + delta" does
 *		in READ COMMITTED; the value before the update goes to *old.  Waits
 *		for a transaction that holds the row; when that one committed a
 *		newer version, locks the newer one and adds to it instead (what
 *		EvalPlanQual does).  Index entries when the update is not heap-only.
 *		"version" is NULL, or a slot of "rel" that already holds the version
 *		"tid" as the caller found it (not fetched again; the slot then holds
 *		whatever version was last locked); the caller keeps it.  The new
 *		version's TID in *new_tid when not NULL.  False when the row is gone
 *		(deleted meanwhile): nothing written.
 */
bool
AwaAddToColumn(Relation rel, ItemPointerData tid, TupleTableSlot *version,
			   bool locked, Snapshot snapshot, EState *estate, AttrNumber att,
			   int64 delta, int64 *old, ItemPointer new_tid)
{
	TupleTableSlot *slot = version != NULL ? version : table_slot_create(rel, NULL);
	CommandId	cid = GetCurrentCommandId(true);
	bool		done = false;
	bool		gone = false;

	Assert(version == NULL ||
		   (!TTS_EMPTY(version) && ItemPointerEquals(&version->tts_tid, &tid)));
	if (version == NULL &&
		!table_tuple_fetch_row_version(rel, &tid, locked ? SnapshotAny : snapshot,
									   slot))
		gone = true;
	while (!done && !gone)
	{
		bool		isnull;
		bool		should_free;
		HeapTuple	oldtup = ExecFetchSlotHeapTuple(slot, false, &should_free);
		int64		before = DatumGetInt64(slot_getattr(slot, att, &isnull));
		Datum		after = Int64GetDatum(before + delta);
		bool		after_null = false;
		int			col = att;
		HeapTuple	newtup = heap_modify_tuple_by_cols(oldtup, RelationGetDescr(rel),
													   1, &col, &after,
													   &after_null);
		TM_FailureData tmfd;
		LockTupleMode lockmode;
		TM_Result	result;

		*old = before;
		result = heap_update(rel, &tid, newtup, cid, InvalidSnapshot, true,
							 &tmfd, &lockmode);
		switch (result)
		{
			case TM_Ok:
				done = true;
				AwaIndexUpdatedRow(rel, newtup, estate);
				if (new_tid != NULL)
					*new_tid = newtup->t_self;
				break;
			case TM_Updated:
				/* another writer committed a newer version: lock that one */
				result = table_tuple_lock(rel, &tid, snapshot, slot, cid,
										  lockmode, LockWaitBlock,
										  TUPLE_LOCK_FLAG_FIND_LAST_VERSION,
										  &tmfd);
				if (result == TM_Ok)
					tid = slot->tts_tid;
				else if (result == TM_Deleted)
					gone = true;
				else
					elog(ERROR, "awa_queue: unexpected result %d locking a row of %s",
						 (int) result, RelationGetRelationName(rel));
				break;
			case TM_Deleted:
				gone = true;
				break;
			default:
				elog(ERROR, "awa_queue: unexpected result %d updating a row of %s",
					 (int) result, RelationGetRelationName(rel));
		}
		if (should_free)
			heap_freetuple(oldtup);
	}
	if (version == NULL)
		ExecDropSingleTupleTableSlot(slot);
	return done;
}

/* rows built and checked for one table, not written yet */
struct AwaAppend
{
	Relation	rel;
	const AwaColumnMap *map;
	ResultRelInfo *rri;
	EState	   *estate;
	TupleDesc	slot_desc;		/* of the rows' slots (AwaRowSlot) */
	TupleTableSlot **slots;
	int			n;
	int			size;
};

/*
 * AwaAppendBegin
 *		Open awa.<relname> (a partition of awa.<parent>, or a table when
 *		parent is NULL) to append up to "size" rows whose columns are
 *		exactly "names"; NULL when a relation cannot be found or its columns
 *		are not those (the caller then leaves the write to its statement).
 *		RowExclusiveLock on both, as an INSERT routed to the partition
 *		takes, held to the end of the transaction.
 */
AwaAppend *
AwaAppendBegin(const char *parent, const char *relname,
			   const char *const *names, int ncols, int size)
{
	Oid			parent_relid = parent ? AwaRelid(parent) : InvalidOid;
	Oid			relid = AwaRelid(relname);
	const AwaColumnMap *map;
	AwaAppend  *ap;
	Relation	rel;

	if ((parent != NULL && !OidIsValid(parent_relid)) || !OidIsValid(relid))
		return NULL;
	if (parent != NULL)
		table_close(table_open(parent_relid, RowExclusiveLock), NoLock);
	rel = table_open(relid, RowExclusiveLock);
	map = AwaColumnMapFor(rel, names, ncols, true);
	if (map == NULL)
	{
		table_close(rel, NoLock);
		return NULL;
	}
	ap = palloc(sizeof(AwaAppend));
	ap->rel = rel;
	ap->map = map;
	ap->estate = CreateExecutorState();
	ap->rri = AwaOpenResultRel(rel);
	ap->slot_desc = NULL;
	ap->slots = palloc(sizeof(TupleTableSlot *) * Max(size, 1));
	ap->n = 0;
	ap->size = size;
	return ap;
}

/*
 * AwaAppendRow
 *		Build one row (values[] / nulls[] in the order of the names given to
 *		AwaAppendBegin) and check its NOT NULL and CHECK constraints; an
 *		error is raised here, before anything is written.  By-reference
 *		values must live until AwaAppendFinish.
 */
void
AwaAppendRow(AwaAppend *ap, const Datum *values, const bool *nulls)
{
	TupleTableSlot *slot;

	if (ap->n >= ap->size)
		elog(ERROR, "awa_queue: more rows appended to %s than announced",
			 RelationGetRelationName(ap->rel));
	slot = AwaRowSlot(ap->rel, &ap->slot_desc, ap->size);
	AwaStoreMappedRow(slot, ap->map, values, nulls);
	ExecConstraints(ap->rri, slot, ap->estate);
	ap->slots[ap->n++] = slot;
}

/*
 * AwaAppendFinish
 *		Insert the rows built (when "write"; one multi-insert for several,
 *		as COPY does) with their index entries, unique indexes checked, and
 *		release what AwaAppendBegin opened; the locks stay.
 */
void
AwaAppendFinish(AwaAppend *ap, bool write)
{
	int			i;

	if (write && ap->n > 0)
	{
		CommandId	cid = GetCurrentCommandId(true);

		if (ap->n == 1)
			table_tuple_insert(ap->rel, ap->slots[0], cid, 0, NULL);
		else
			table_multi_insert(ap->rel, ap->slots, ap->n, cid, 0, NULL);
		for (i = 0; i < ap->n; i++)
			AwaInsertIndexEntries(ap->rri, ap->slots[i], ap->estate);
	}
	for (i = 0; i < ap->n; i++)
		ExecDropSingleTupleTableSlot(ap->slots[i]);
	AwaCloseResultRel(ap->rri);
	FreeExecutorState(ap->estate);
	table_close(ap->rel, NoLock);
	pfree(ap->slots);
	pfree(ap);
}
