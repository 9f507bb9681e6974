/*-------------------------------------------------------------------------
 *
 * awa_receipts.c
 *	  Receipt locks without SPI: AwaLockOpenReceipts locks the receipts of
 *	  given attempts in one claim slot and tells which are closed, before
 *	  the statement that closes the others runs.
 *
 * A closure is appended only under the FOR UPDATE lock of its receipt,
 * held to commit (SPEC 5.7; every writer of lease_claim_closures takes it).
 * When the completion takes those locks first and then, in READ
 * COMMITTED, looks for closures with a new snapshot, it sees every closure
 * another transaction appended before it let the lock go, and no other
 * transaction can append one while the locks are held: the statement that
 * follows appends plain closures for the others instead of speculative
 * ones (AWA_CLOSURE_UNCLOSED_ONLY, decision 37).  Key probes through the
 * primary keys and table_tuple_lock, as LockRows does, cost less than the
 * lock rows and conflict checks of the statement.  Nothing here writes a
 * row.
 *
 * Copyright (c) 2026, awa_queue developers
 *
 * IDENTIFICATION
 *	  src/awa_receipts.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "executor/tuptable.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"

#include "awa_queue.h"

/* an open scan of one claim-slot partition through its primary key */
typedef struct SlotKeyScan
{
	Relation	heap;
	Relation	index;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	int32		claim_slot;
} SlotKeyScan;

/*
 * BeginSlotKeyScan
 *		Open partition awa.<prefix><claim_slot> ("lease_claims_" or
 *		"lease_claim_closures_", both keyed by (job_id, run_lease,
 *		claim_slot)) with "lockmode" and its primary key with
 *		AccessShareLock, for key probes with "snapshot".  False when either
 *		cannot be found.
 */
static bool
BeginSlotKeyScan(const char *prefix, int32 claim_slot, LOCKMODE lockmode,
				 Snapshot snapshot, SlotKeyScan *ks)
{
	Oid			relid = AwaRelid(psprintf("%s%d", prefix, claim_slot));
	Oid			indexid;

	if (!OidIsValid(relid))
		return false;
	ks->heap = table_open(relid, lockmode);
	indexid = RelationGetPrimaryKeyIndex(ks->heap);
	if (!OidIsValid(indexid))
	{
		table_close(ks->heap, NoLock);
		return false;
	}
	ks->index = index_open(indexid, AccessShareLock);
	ks->scan = index_beginscan(ks->heap, ks->index, snapshot, 3, 0);
	ks->slot = table_slot_create(ks->heap, NULL);
	ks->claim_slot = claim_slot;
	return true;
}

/*
 * FetchByKey
 *		The row (job_id, run_lease) of the partition into ks->slot; false
 *		when the snapshot sees none.
 */
static bool
FetchByKey(SlotKeyScan *ks, int64 job_id, int64 run_lease)
{
	ScanKeyData keys[3];

	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(job_id));
	ScanKeyInit(&keys[1], 2, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(run_lease));
	ScanKeyInit(&keys[2], 3, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(ks->claim_slot));
	index_rescan(ks->scan, keys, 3, NULL, 0);
	return index_getnext_slot(ks->scan, ForwardScanDirection, ks->slot);
}

/* end a BeginSlotKeyScan scan; the locks stay until the end of the transaction */
static void
EndSlotKeyScan(SlotKeyScan *ks)
{
	ExecDropSingleTupleTableSlot(ks->slot);
	index_endscan(ks->scan);
	index_close(ks->index, NoLock);
	table_close(ks->heap, NoLock);
}

/*
 * AwaLockOpenReceipts
 *		Lock FOR UPDATE the receipts of the attempts (job_ids[i],
 *		run_leases[i]) in claim slot "slot", in the order given (the caller
 *		sorts by (job_id, run_lease), the order of every receipt lock, so
 *		two completions queue up instead of deadlocking), waiting for a
 *		transaction that holds one; then set closed[i] when attempt i has a
 *		closure, and tids[i] to its receipt's row version (which stays: a
 *		receipt is never updated, and its partition cannot be truncated
 *		while this transaction holds a lock on it).  Only in READ
 *		COMMITTED.
 *
 *		The receipts are found with a snapshot taken after a command
 *		counter increment, as SPI takes one for a statement (it sees the
 *		receipts of a claim earlier in the same statement); the closures
 *		with one taken after the last lock was granted.  Returns how many
 *		receipts were found and locked; stops at the first one that is not
 *		(closed[] and tids[] are not filled then: the caller takes the general path,
 *		which finds the rest wherever they are; the locks taken so far are
 *		ones it takes anyway).  -1 when a partition or its primary key
 *		cannot be found.
 *
 * Locks: RowShareLock on the receipt partition, AccessShareLock on the
 * closure partition and on both primary keys, as SELECT ... FOR UPDATE and
 * SELECT take; the row locks stay until the end of the transaction.
 */
int
AwaLockOpenReceipts(int32 slot, const int64 *job_ids, const int64 *run_leases,
					int n, bool *closed, ItemPointerData *tids)
{
	SlotKeyScan receipts;
	SlotKeyScan closures;
	TupleTableSlot *locked;
	CommandId	cid;
	int			nlocked = 0;
	int			i;

	Assert(!IsolationUsesXactSnapshot());
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (!BeginSlotKeyScan("lease_claims_", slot, RowShareLock, GetActiveSnapshot(),
						  &receipts))
	{
		PopActiveSnapshot();
		return -1;
	}
	cid = GetCurrentCommandId(true);
	locked = table_slot_create(receipts.heap, NULL);
	for (i = 0; i < n; i++)
	{
		TM_FailureData tmfd;

		if (!FetchByKey(&receipts, job_ids[i], run_leases[i]))
			break;
		if (table_tuple_lock(receipts.heap, &receipts.slot->tts_tid,
							 GetActiveSnapshot(), locked, cid,
							 LockTupleExclusive, LockWaitBlock,
							 TUPLE_LOCK_FLAG_LOCK_UPDATE_IN_PROGRESS |
							 TUPLE_LOCK_FLAG_FIND_LAST_VERSION, &tmfd) != TM_Ok)
			break;
		tids[i] = locked->tts_tid;
		nlocked++;
	}
	ExecDropSingleTupleTableSlot(locked);
	EndSlotKeyScan(&receipts);
	PopActiveSnapshot();
	if (nlocked < n)
		return nlocked;

	/* every closure appended by a transaction whose lock was waited for */
	PushActiveSnapshot(GetTransactionSnapshot());
	if (!BeginSlotKeyScan("lease_claim_closures_", slot, AccessShareLock,
						  GetActiveSnapshot(), &closures))
	{
		PopActiveSnapshot();
		return -1;
	}
	for (i = 0; i < n; i++)
		closed[i] = FetchByKey(&closures, job_ids[i], run_leases[i]);
	EndSlotKeyScan(&closures);
	PopActiveSnapshot();
	return nlocked;
}
