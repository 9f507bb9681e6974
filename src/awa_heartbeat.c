/*-------------------------------------------------------------------------
 *
 * awa_heartbeat.c
 *	  Workers: awa.heartbeat_batch(), heartbeat and progress of long
 *	  attempts.
 *
 * A heartbeat records heartbeat_at (and progress, when given) in
 * attempt_state for attempts whose receipt is still open.  Short jobs
 * never heartbeat and so never create an attempt_state row.
 *
 * Two statements.  The first share-locks the receipts of the given
 * attempts in (job_id, run_lease) order: it waits for a concurrent
 * completion, failure or rescue of the same attempt (they lock receipts
 * FOR UPDATE) and keeps them from closing the receipt until this
 * transaction ends.  The second, with a fresh snapshot, upserts
 * attempt_state for the receipts that are still open, sorted by the key.
 * A heartbeat can therefore never create attempt_state for an attempt
 * that has already ended.
 *
 * Copyright (c) 2026, awa_queue developers
 *
 * IDENTIFICATION
 *	  src/awa_heartbeat.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "awa_queue.h"

#define HEARTBEAT_PAIRS \
	"ROWS FROM (pg_catalog.unnest($1::pg_catalog.int8[]), " \
	"pg_catalog.unnest($2::pg_catalog.int8[]))"

/* share-lock the receipts of the attempts ($1, $2), in key order */
static AwaPlan heartbeat_lock_plan = {
	.sql = "SELECT c.job_id FROM awa.lease_claims AS c "
	"JOIN (SELECT DISTINCT u.job_id, u.run_lease FROM " HEARTBEAT_PAIRS
	" AS u(job_id, run_lease)) AS u ON c.job_id = u.job_id AND c.run_lease = u.run_lease "
	"ORDER BY c.job_id, c.run_lease, c.claim_slot FOR SHARE OF c",
	.nargs = 2,
	.argtypes = {INT8ARRAYOID, INT8ARRAYOID}
};

/*
 * Upsert attempt_state for the open attempts among ($1, $2, $3); the last
 * progress given for an attempt wins, NULL progress keeps the stored one.
 */
static AwaPlan heartbeat_upsert_plan = {
	.sql = "INSERT INTO awa.attempt_state AS a (job_id, run_lease, heartbeat_at, progress, updated_at) "
	"SELECT u.job_id, u.run_lease, $4, u.progress, $4 FROM ("
	"SELECT DISTINCT ON (v.job_id, v.run_lease) v.job_id, v.run_lease, v.progress "
	"FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.int8[]), "
	"pg_catalog.unnest($2::pg_catalog.int8[]), pg_catalog.unnest($3::pg_catalog.jsonb[])) "
	"WITH ORDINALITY AS v(job_id, run_lease, progress, ord) "
	"ORDER BY v.job_id, v.run_lease, v.ord DESC) AS u "
	"WHERE EXISTS (SELECT 1 FROM awa.lease_claims AS c WHERE c.job_id = u.job_id "
	"AND c.run_lease = u.run_lease AND NOT EXISTS (SELECT 1 FROM awa.lease_claim_closures AS x "
	"WHERE x.job_id = c.job_id AND x.run_lease = c.run_lease AND x.claim_slot = c.claim_slot)) "
	"ORDER BY u.job_id, u.run_lease "
	"ON CONFLICT (job_id, run_lease) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, "
	"progress = COALESCE(excluded.progress, a.progress), updated_at = excluded.updated_at",
	.nargs = 4,
	.argtypes = {INT8ARRAYOID, INT8ARRAYOID, JSONBARRAYOID, TIMESTAMPTZOID}
};

/*
 * awa_heartbeat_batch
 *		awa.heartbeat_batch(job_ids bigint[], run_leases bigint[], progress
 *		jsonb[] DEFAULT NULL) RETURNS int
 *
 * Records a heartbeat (heartbeat_at = now) for each open attempt (job_id,
 * run_lease), and its progress when progress[i] is not NULL (a NULL
 * element, or a NULL array, keeps the stored progress).  Stale or unknown
 * pairs are ignored.  Returns the number of attempts touched.
 */
PG_FUNCTION_INFO_V1(awa_heartbeat_batch);
Datum
awa_heartbeat_batch(PG_FUNCTION_ARGS)
{
	ArrayType  *ids;
	ArrayType  *leases;
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	int			n;
	int			touched;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", PG_ARGISNULL(0) ? "job_ids" : "run_leases")));
	ids = PG_GETARG_ARRAYTYPE_P(0);
	leases = PG_GETARG_ARRAYTYPE_P(1);
	AwaValidateParallelArrays(ids, leases, "job_ids", "run_leases");
	n = AwaArrayLengthChecked(ids, "job_ids");
	if (!PG_ARGISNULL(2))
	{
		ArrayType  *progress = PG_GETARG_ARRAYTYPE_P(2);
		int			np = ARR_NDIM(progress) == 0 ? 0 : ARR_DIMS(progress)[0];

		if (ARR_NDIM(progress) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("progress must be a one-dimensional array")));
		if (np != n)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("job_ids and progress must have the same length"),
					 errdetail("job_ids has %d elements and progress has %d.", n, np)));
		values[2] = PointerGetDatum(progress);
	}
	else
		nulls[2] = 'n';
	if (n == 0)
		PG_RETURN_INT32(0);

	values[0] = PointerGetDatum(ids);
	values[1] = PointerGetDatum(leases);
	values[3] = TimestampTzGetDatum(AwaNow());
	AwaSpiConnect();
	AwaPlanExec(&heartbeat_lock_plan, values, NULL, false, 0, SPI_OK_SELECT);
	touched = AwaPlanExec(&heartbeat_upsert_plan, values, nulls, false, 0,
						  SPI_OK_INSERT);
	AwaSpiFinish();
	PG_RETURN_INT32(touched);
}
