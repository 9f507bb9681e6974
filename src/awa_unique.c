/*-------------------------------------------------------------------------
 *
 * awa_unique.c
 *	  The unique-key registry: take and release job_unique_claims rows
 *	  when jobs with a unique key change state.
 *
 * A job's unique_states mask (bit(8), bit i = awa.job_state label i)
 * names the states in which it owns its key.  Moving a job from state A to
 * state B releases its claim when the mask has A but not B, and takes it
 * when the mask has B but not A.  Taking a key another job owns is a
 * unique violation (SQLSTATE 23505) and the whole call errors, so nothing
 * it wrote survives.  Every path that moves a job with a unique key
 * (enqueue, claim, completion, failure, cancel, DLQ, prune, compat delete)
 * calls AwaUniqueSync.
 *
 * Lock order: claims are the last rows a transaction locks; keys are fed
 * sorted (SPEC 5.1).
 *
 * Copyright (c) 2026, awa_queue developers
 *
 * IDENTIFICATION
 *	  src/awa_unique.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "awa_queue.h"

static AwaPlan unique_release_plan = {
	.sql = "DELETE FROM awa.job_unique_claims AS c "
	"USING (SELECT * FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.bytea[]), pg_catalog.unnest($2::pg_catalog.int8[])) "
	"AS u(unique_key, job_id) ORDER BY 1) AS u "
	"WHERE c.unique_key = u.unique_key AND c.job_id = u.job_id",
	.nargs = 2,
	.argtypes = {BYTEAARRAYOID, INT8ARRAYOID}
};

/*
 * A key already held by the same job counts as taken (idempotent); a key
 * held by another job makes the row drop out of RETURNING.
 */
static AwaPlan unique_take_plan = {
	.sql = "INSERT INTO awa.job_unique_claims AS c (unique_key, job_id) "
	"SELECT u.unique_key, u.job_id FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.bytea[]), pg_catalog.unnest("
	"$2::pg_catalog.int8[])) AS u(unique_key, job_id) ORDER BY u.unique_key "
	"ON CONFLICT (unique_key) DO UPDATE SET job_id = excluded.job_id "
	"WHERE c.job_id = excluded.job_id "
	"RETURNING c.unique_key",
	.nargs = 2,
	.argtypes = {BYTEAARRAYOID, INT8ARRAYOID}
};

typedef struct UniqueItem
{
	bytea	   *key;
	int64		job_id;
} UniqueItem;

/*
 * UniqueItemCompare
 *		bytea order (memcmp, then length), the order of the registry's key.
 */
static int
UniqueItemCompare(const void *a, const void *b)
{
	const UniqueItem *x = (const UniqueItem *) a;
	const UniqueItem *y = (const UniqueItem *) b;
	int			lx = VARSIZE_ANY_EXHDR(x->key);
	int			ly = VARSIZE_ANY_EXHDR(y->key);
	int			c = memcmp(VARDATA_ANY(x->key), VARDATA_ANY(y->key), Min(lx, ly));

	if (c != 0)
		return c;
	return (lx > ly) - (lx < ly);
}

/*
 * RunUnique
 *		Execute the release or take statement over sorted items; returns the
 *		number of rows affected.
 */
static int
RunUnique(AwaPlan *plan, UniqueItem *items, int n, int expected)
{
	Datum	   *keys = palloc(sizeof(Datum) * n);
	Datum	   *ids = palloc(sizeof(Datum) * n);
	Datum		values[2];
	int			i;

	for (i = 0; i < n; i++)
	{
		keys[i] = PointerGetDatum(items[i].key);
		ids[i] = Int64GetDatum(items[i].job_id);
	}
	values[0] = PointerGetDatum(construct_array(keys, n, BYTEAOID, -1, false,
												TYPALIGN_INT));
	values[1] = PointerGetDatum(construct_array(ids, n, INT8OID, 8,
												FLOAT8PASSBYVAL,
												TYPALIGN_DOUBLE));
	return AwaPlanExec(plan, values, NULL, false, 0, expected);
}

/*
 * AwaUniqueSync
 *		Move the unique claims of n jobs from state from_states[i] to
 *		to_states[i] (AWA_STATE_BIT_* or AWA_STATE_NONE for "no job").
 *		keys[i] NULL means the job has no unique key (skipped).
 *
 * Releases first, then takes, each as one statement over keys in sorted
 * order.  Two jobs of one call taking the same key, or a key owned by
 * another job, raise SQLSTATE 23505; the caller's statement fails as a
 * whole, so nothing it wrote persists.  Locks the touched registry rows
 * until commit.
 */
void
AwaUniqueSync(int n, bytea **keys, const uint8 *masks,
			  const int64 *job_ids, const int *from_states,
			  const int *to_states)
{
	UniqueItem *release = palloc(sizeof(UniqueItem) * Max(n, 1));
	UniqueItem *take = palloc(sizeof(UniqueItem) * Max(n, 1));
	int			nrelease = 0;
	int			ntake = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		bool		had;
		bool		want;

		if (keys[i] == NULL)
			continue;
		had = from_states[i] != AWA_STATE_NONE &&
			AwaMaskHas(masks[i], from_states[i]);
		want = to_states[i] != AWA_STATE_NONE &&
			AwaMaskHas(masks[i], to_states[i]);
		if (had && !want)
		{
			release[nrelease].key = keys[i];
			release[nrelease].job_id = job_ids[i];
			nrelease++;
		}
		else if (want && !had)
		{
			take[ntake].key = keys[i];
			take[ntake].job_id = job_ids[i];
			ntake++;
		}
	}

	if (nrelease > 0)
	{
		qsort(release, nrelease, sizeof(UniqueItem), UniqueItemCompare);
		RunUnique(&unique_release_plan, release, nrelease, SPI_OK_DELETE);
	}
	if (ntake > 0)
	{
		int			taken;

		qsort(take, ntake, sizeof(UniqueItem), UniqueItemCompare);
		for (i = 1; i < ntake; i++)
			if (UniqueItemCompare(&take[i - 1], &take[i]) == 0 &&
				take[i - 1].job_id != take[i].job_id)
				ereport(ERROR,
						(errcode(ERRCODE_UNIQUE_VIOLATION),
						 errmsg("duplicate unique key within one call"),
						 errdetail("Jobs %lld and %lld have the same unique_key.",
								   (long long) take[i - 1].job_id,
								   (long long) take[i].job_id)));
		taken = RunUnique(&unique_take_plan, take, ntake,
						  SPI_OK_INSERT_RETURNING);
		if (taken != ntake)
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errmsg("unique key already held by another job"),
					 errdetail("%d of %d unique keys are held by jobs in a state of their unique_states.",
							   ntake - taken, ntake),
					 errhint("Wait until the other job leaves those states, or use another unique_key.")));
	}
}
