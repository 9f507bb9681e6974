/*-------------------------------------------------------------------------
 *
 * awa_receipts.c
 *	  Receipts without SPI: AwaLockOpenReceipts locks the receipts of given
 *	  attempts in one claim slot and tells which are closed, before the
 *	  statement that closes the others runs; AwaPrepareReceipts appends a
 *	  claim's receipts and AwaPrepareClosures a completion's closures (the
 *	  C writers of awa.lease_claims and awa.lease_claim_closures, as
 *	  AWA_RECEIPT_INSERT_FROM and AWA_CLOSURE_INSERT_FROM are the SQL ones).
 *
 * A closure is appended only under the FOR UPDATE lock of its receipt,
 * held to commit (SPEC 5.7; every writer of lease_claim_closures takes it).
 * When the completion takes those locks first and then, in READ
 * COMMITTED, looks for closures with a new snapshot, it sees every closure
 * another transaction appended before it let the lock go, and no other
 * transaction can append one while the locks are held: the statement that
 * follows appends plain closures for the others instead of speculative
 * ones (AWA_CLOSURE_UNCLOSED_ONLY, decision 37).  Key lookups through the
 * primary keys (one ordered walk for a batch claimed together) and
 * table_tuple_lock, as LockRows does, cost less than the lock rows and
 * conflict checks of the statement.  The locks write no row.
 *
 * The appends are split in two so that a caller writes nothing when a row
 * cannot be written: AwaPrepareReceipts / AwaPrepareClosures open the claim
 * slot's partition and build and check every row (NOT NULL and CHECK
 * constraints), and only AwaAppendFinish (awa_tam.c) inserts them (one
 * multi-insert for a batch, as COPY does) with their index entries.
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
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"

#include "awa_queue.h"

/*
 * The sorted, distinct attempts (job_ids[i], run_leases[i]) being looked up
 * in one claim-slot partition through its primary key (job_id, run_lease),
 * and how: one descent of the key per attempt, or, when their
 * job ids are dense (a batch claimed together), one ordered walk of the key
 * range merged with them.  A walk that meets far more entries than
 * attempts (other claims' receipts between the ids) goes on with descents.
 */
typedef struct KeyLookup
{
	Relation	heap;
	Relation	index;
	IndexScanDesc scan;
	TupleTableSlot *slot;		/* the row found last */
	const int64 *job_ids;
	const int64 *run_leases;
	int			n;
	int			next;			/* first attempt not passed yet */
	bool		walk;
	int			budget;			/* index entries the walk may still read */
} KeyLookup;

/* a walk is worth it from this many attempts, over ids at most this sparse */
#define WALK_MIN_ATTEMPTS	8
#define WALK_SPREAD			4

/* the attempt's key, which the lookups below scan by position */
static const char *const attempt_key[2] = {"job_id", "run_lease"};

/*
 * BeginKeyLookup
 *		Open partition awa.<prefix><claim_slot> ("lease_claims_" or
 *		"lease_claim_closures_", each partition keyed by (job_id,
 *		run_lease)) with "lockmode" and its primary key with
 *		AccessShareLock, and start looking up the n attempts (sorted by
 *		(job_id, run_lease), distinct) with "snapshot".  False when either
 *		relation cannot be found or the key does not lead with (job_id,
 *		run_lease); the locks taken stay to the end of the transaction.
 */
static bool
BeginKeyLookup(KeyLookup *kl, const char *prefix, int32 claim_slot, LOCKMODE lockmode,
			   Snapshot snapshot, const int64 *job_ids, const int64 *run_leases, int n)
{
	Oid			relid = AwaRelid(psprintf("%s%d", prefix, claim_slot));

	if (!OidIsValid(relid) ||
		!AwaOpenWithPrimaryKey(relid, lockmode, &kl->heap, &kl->index))
		return false;
	if (!AwaKeyLeadsWith(kl->index, attempt_key, 2))
	{
		index_close(kl->index, NoLock);
		table_close(kl->heap, NoLock);
		return false;
	}
	kl->scan = index_beginscan(kl->heap, kl->index, snapshot, 2, 0);
	kl->slot = table_slot_create(kl->heap, NULL);
	kl->job_ids = job_ids;
	kl->run_leases = run_leases;
	kl->n = n;
	kl->next = 0;
	kl->walk = n >= WALK_MIN_ATTEMPTS &&
		(uint64) job_ids[n - 1] - (uint64) job_ids[0] < (uint64) WALK_SPREAD * n;
	kl->budget = WALK_SPREAD * n + WALK_MIN_ATTEMPTS;
	if (kl->walk)
	{
		ScanKeyData keys[2];

		ScanKeyInit(&keys[0], 1, BTGreaterEqualStrategyNumber, F_INT8GE,
					Int64GetDatum(job_ids[0]));
		ScanKeyInit(&keys[1], 1, BTLessEqualStrategyNumber, F_INT8LE,
					Int64GetDatum(job_ids[n - 1]));
		kl->scan->xs_want_itup = true;	/* the walk reads the keys it meets */
		index_rescan(kl->scan, keys, 2, NULL, 0);
		awa_backend_stats.complete_key_walks++;
	}
	return true;
}

/*
 * FetchByKey
 *		The row (job_id, run_lease) of the partition into kl->slot, through
 *		one descent of the key; false when the snapshot sees none.
 */
static bool
FetchByKey(KeyLookup *kl, int64 job_id, int64 run_lease)
{
	ScanKeyData keys[2];

	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(job_id));
	ScanKeyInit(&keys[1], 2, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(run_lease));
	index_rescan(kl->scan, keys, 2, NULL, 0);
	return index_getnext_slot(kl->scan, ForwardScanDirection, kl->slot);
}

/*
 * NextVisible
 *		The next attempt, from kl->next on, whose row the snapshot sees,
 *		fetched into kl->slot: returns its index, or -1 when there is none.
 *		The attempts passed over have no visible row.
 */
static int
NextVisible(KeyLookup *kl)
{
	while (kl->next < kl->n)
	{
		ItemPointer tid;
		int64		job_id;
		int64		run_lease;
		bool		isnull;
		int			i;

		if (!kl->walk || kl->budget-- <= 0)
		{
			kl->walk = false;
			i = kl->next++;
			if (FetchByKey(kl, kl->job_ids[i], kl->run_leases[i]))
				return i;
			continue;
		}
		tid = index_getnext_tid(kl->scan, ForwardScanDirection);
		if (tid == NULL)
			break;
		job_id = DatumGetInt64(index_getattr(kl->scan->xs_itup, 1,
											 kl->scan->xs_itupdesc, &isnull));
		run_lease = DatumGetInt64(index_getattr(kl->scan->xs_itup, 2,
												kl->scan->xs_itupdesc, &isnull));
		/* the attempts below this entry have none */
		while (kl->next < kl->n &&
			   (kl->job_ids[kl->next] < job_id ||
				(kl->job_ids[kl->next] == job_id && kl->run_leases[kl->next] < run_lease)))
			kl->next++;
		/* an entry of an attempt: its row, unless this version is dead */
		if (kl->next < kl->n && kl->job_ids[kl->next] == job_id &&
			kl->run_leases[kl->next] == run_lease &&
			index_fetch_heap(kl->scan, kl->slot))
			return kl->next++;
	}
	kl->next = kl->n;
	return -1;
}

/* end a lookup; the locks stay until the end of the transaction */
static void
EndKeyLookup(KeyLookup *kl)
{
	ExecDropSingleTupleTableSlot(kl->slot);
	index_endscan(kl->scan);
	index_close(kl->index, NoLock);
	table_close(kl->heap, NoLock);
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
 *		Receipts and closures are found through the partitions' primary
 *		keys (KeyLookup: a descent per attempt, or one walk of the key range
 *		for a dense batch), the receipts with a snapshot taken after a
 *		command counter increment, as SPI takes one for a statement (it
 *		sees the receipts of a claim earlier in the same statement), the
 *		closures with one taken after the last lock was granted.  Returns
 *		how many receipts were found and locked; stops at the first one
 *		that is not (closed[] and tids[] are not filled then: the caller
 *		takes the general path, which finds the rest wherever they are; the
 *		locks taken so far are ones it takes anyway).  -1 when a partition
 *		or its primary key cannot be found.
 *
 * Locks: RowShareLock on the receipt partition, AccessShareLock on the
 * closure partition and on both primary keys, as SELECT ... FOR UPDATE and
 * SELECT take; the row locks stay until the end of the transaction.
 */
int
AwaLockOpenReceipts(int32 slot, const int64 *job_ids, const int64 *run_leases,
					int n, bool *closed, ItemPointerData *tids)
{
	KeyLookup	receipts;
	KeyLookup	closures;
	TupleTableSlot *locked;
	CommandId	cid;
	int			nlocked = 0;
	int			i;

	Assert(!IsolationUsesXactSnapshot());
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (!BeginKeyLookup(&receipts, "lease_claims_", slot, RowShareLock,
						GetActiveSnapshot(), job_ids, run_leases, n))
	{
		PopActiveSnapshot();
		return -1;
	}
	cid = GetCurrentCommandId(true);
	locked = table_slot_create(receipts.heap, NULL);
	while ((i = NextVisible(&receipts)) == nlocked)
	{
		TM_FailureData tmfd;

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
	EndKeyLookup(&receipts);
	PopActiveSnapshot();
	if (nlocked < n)
		return nlocked;

	/* every closure appended by a transaction whose lock was waited for */
	PushActiveSnapshot(GetTransactionSnapshot());
	if (!BeginKeyLookup(&closures, "lease_claim_closures_", slot, AccessShareLock,
						GetActiveSnapshot(), job_ids, run_leases, n))
	{
		PopActiveSnapshot();
		return -1;
	}
	memset(closed, 0, sizeof(bool) * n);
	while ((i = NextVisible(&closures)) >= 0)
		closed[i] = true;
	EndKeyLookup(&closures);
	PopActiveSnapshot();
	return nlocked;
}

/* the columns of awa.lease_claims the appender writes, by name */
typedef enum ReceiptColumn
{
	RCP_CLAIM_SLOT,
	RCP_JOB_ID,
	RCP_RUN_LEASE,
	RCP_READY_SLOT,
	RCP_READY_GENERATION,
	RCP_KIND,
	RCP_QUEUE,
	RCP_PRIORITY,
	RCP_EFFECTIVE_PRIORITY,
	RCP_ATTEMPT,
	RCP_MAX_ATTEMPTS,
	RCP_LANE_SEQ,
	RCP_ENQUEUE_SHARD,
	RCP_CLAIMED_AT,
	RCP_DEADLINE_AT,
	RCP_UNIQUE_KEY,
	RCP_UNIQUE_STATES,
	RCP_NCOLUMNS
} ReceiptColumn;

static const char *const receipt_column_names[RCP_NCOLUMNS] = {
	"claim_slot", "job_id", "run_lease", "ready_slot", "ready_generation",
	"kind", "queue", "priority", "effective_priority", "attempt",
	"max_attempts", "lane_seq", "enqueue_shard", "claimed_at", "deadline_at",
	"unique_key", "unique_states"
};

/*
 * AwaPrepareReceipts
 *		Build the n receipts rows[] in the partition of claim slot
 *		"claim_slot", every constraint checked, without writing anything;
 *		NULL when the partition cannot be found or its columns are not the
 *		ones this writer knows (the caller then leaves the claim to its
 *		statement).  Errors are raised here, before the caller writes
 *		anything.  AwaAppendFinish writes them (or not).
 *
 * Locks: RowExclusiveLock on awa.lease_claims and on the partition, as an
 * INSERT routed to it takes, held to the end of the transaction (a prune of
 * the slot, SPEC 5.5, waits for it).
 */
AwaAppend *
AwaPrepareReceipts(int32 claim_slot, const AwaReceiptRow *rows, int n)
{
	AwaAppend  *ap = AwaAppendBegin("lease_claims",
									psprintf("lease_claims_%d", claim_slot),
									receipt_column_names, RCP_NCOLUMNS, n);
	int			i;

	for (i = 0; ap != NULL && i < n; i++)
	{
		const AwaReceiptRow *r = &rows[i];
		Datum		values[RCP_NCOLUMNS];
		bool		nulls[RCP_NCOLUMNS];

		memset(nulls, false, sizeof(nulls));
		values[RCP_CLAIM_SLOT] = Int32GetDatum(claim_slot);
		values[RCP_JOB_ID] = Int64GetDatum(r->job_id);
		values[RCP_RUN_LEASE] = Int64GetDatum(r->run_lease);
		values[RCP_READY_SLOT] = Int32GetDatum(r->ready_slot);
		values[RCP_READY_GENERATION] = Int64GetDatum(r->ready_generation);
		values[RCP_KIND] = r->kind;
		values[RCP_QUEUE] = r->queue;
		values[RCP_PRIORITY] = Int16GetDatum(r->priority);
		values[RCP_EFFECTIVE_PRIORITY] = Int16GetDatum(r->effective_priority);
		values[RCP_ATTEMPT] = Int16GetDatum(r->attempt);
		values[RCP_MAX_ATTEMPTS] = Int16GetDatum(r->max_attempts);
		values[RCP_LANE_SEQ] = Int64GetDatum(r->lane_seq);
		values[RCP_ENQUEUE_SHARD] = Int16GetDatum(r->enqueue_shard);
		values[RCP_CLAIMED_AT] = TimestampTzGetDatum(r->claimed_at);
		values[RCP_DEADLINE_AT] = TimestampTzGetDatum(r->deadline_at);
		values[RCP_UNIQUE_KEY] = r->unique_key;
		nulls[RCP_UNIQUE_KEY] = r->unique_key_null;
		values[RCP_UNIQUE_STATES] = r->unique_states;
		nulls[RCP_UNIQUE_STATES] = r->unique_states_null;
		AwaAppendRow(ap, values, nulls);
	}
	return ap;
}

/* the columns of awa.lease_claim_closures, by name */
static const char *const closure_column_names[] = {
	"claim_slot", "job_id", "run_lease", "outcome", "closed_at"
};

/*
 * AwaPrepareClosures
 *		Build the closures (claim_slot, job_ids[i], run_leases[i], outcome,
 *		closed_at) of n receipts in the closure partition of claim slot
 *		"claim_slot", without writing anything; NULL when the partition or
 *		its columns are not as expected.  The C writer of
 *		awa.lease_claim_closures (AWA_CLOSURE_INSERT_FROM is the SQL one):
 *		the caller holds every receipt FOR UPDATE and knows none of them is
 *		closed (AwaLockOpenReceipts), so the appends are plain, as with
 *		AWA_CLOSURE_UNCLOSED_ONLY.  AwaAppendFinish writes them (the primary
 *		key checked for uniqueness).  RowExclusiveLock on
 *		awa.lease_claim_closures and the partition.
 */
AwaAppend *
AwaPrepareClosures(int32 claim_slot, const int64 *job_ids, const int64 *run_leases,
				   int n, const char *outcome, TimestampTz closed_at)
{
	AwaAppend  *ap = AwaAppendBegin("lease_claim_closures",
									psprintf("lease_claim_closures_%d", claim_slot),
									closure_column_names,
									lengthof(closure_column_names), n);
	Datum		outcome_text = CStringGetTextDatum(outcome);
	int			i;

	for (i = 0; ap != NULL && i < n; i++)
	{
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};

		values[0] = Int32GetDatum(claim_slot);
		values[1] = Int64GetDatum(job_ids[i]);
		values[2] = Int64GetDatum(run_leases[i]);
		values[3] = outcome_text;
		values[4] = TimestampTzGetDatum(closed_at);
		AwaAppendRow(ap, values, nulls);
	}
	return ap;
}
