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

#include "access/htup_details.h"
#include "executor/executor.h"
#include "nodes/execnodes.h"
#include "utils/inval.h"
#include "utils/rel.h"

#include "awa_queue.h"

/* column maps kept at once; the oldest are dropped past this */
#define COLUMN_MAPS 48

static AwaColumnMap column_maps[COLUMN_MAPS];
static int	column_nmaps = 0;
static bool column_callback_registered = false;

/* relcache invalidation callback: drop every map */
static void
ColumnMapsInvalidate(Datum arg, Oid relid)
{
	column_nmaps = 0;
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
	if (!column_callback_registered)
	{
		CacheRegisterRelcacheCallback(ColumnMapsInvalidate, (Datum) 0);
		column_callback_registered = true;
	}
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
 * AwaOpenResultRel
 *		A ResultRelInfo for "rel" with its indexes open, as the executor
 *		builds for an INSERT or UPDATE target, but outside any range table
 *		(index 0: the executor's helpers then read no column set from a
 *		plan, which there is none of here).  Close with ExecCloseIndices.
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
	ExecCloseIndices(rri);
	ExecDropSingleTupleTableSlot(slot);
}
