/*-------------------------------------------------------------------------
 *
 * awa_fail.c
 *	  Workers: awa.fail_batch(), awa.retry_after(), awa.snooze().
 *
 * A worker whose attempt did not succeed hands it back through one of
 * these.  fail_batch appends the error to the job's history and retries
 * it with exponential backoff while attempts remain (failed, or DLQ when
 * the queue has dlq_enabled, once they are exhausted or the failure is
 * terminal); retry_after retries at a chosen time (the attempt counts);
 * snooze reschedules without consuming the attempt.  All three end the
 * attempt through AwaEndAttempts (awa_attempt.c), which only acts on an
 * open receipt of exactly (job_id, run_lease): a stale worker changes
 * nothing.
 *
 * Copyright (c) 2026, awa_queue developers
 *
 * IDENTIFICATION
 *	  src/awa_fail.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "datatype/timestamp.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "awa_queue.h"

/* labels of awa.job_state returned by fail_batch, by resolved end */
static const char *
ResultStateLabel(AwaAttemptEnd end)
{
	switch (end)
	{
		case AWA_END_RETRYABLE:
			return "retryable";
		case AWA_END_FAILED:
		case AWA_END_DLQ:
			return "failed";
		default:
			elog(ERROR, "awa_queue: fail_batch ended an attempt as %d", (int) end);
	}
	return NULL;				/* keep compiler quiet */
}

/*
 * awa_fail_batch
 *		awa.fail_batch(job_ids bigint[], run_leases bigint[], errors text[],
 *		terminal boolean DEFAULT false) RETURNS TABLE(job_id bigint,
 *		run_lease bigint, state awa.job_state)
 *
 * Fails the given running attempts: closes each open receipt, appends
 * {error, attempt, at} (plus "terminal": true when the job ends) to the
 * job's error history, and makes the job retryable at now + backoff while
 * attempts remain and "terminal" is false, else failed (or dead-lettered
 * when the queue has dlq_enabled; state reported as failed).  Arrays are
 * parallel, without NULL elements; checked before anything is written.
 * Returns one row per attempt it ended; stale pairs are absent.
 */
PG_FUNCTION_INFO_V1(awa_fail_batch);
Datum
awa_fail_batch(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ArrayType  *ids_arr;
	ArrayType  *leases_arr;
	ArrayType  *errors_arr;
	bool		terminal;
	int64	   *ids;
	int64	   *leases;
	Datum	   *errors;
	int			n;
	int			i;
	AwaAttemptReq *reqs;

	AwaRequireNotNull(PG_ARGISNULL(0), "job_ids");
	AwaRequireNotNull(PG_ARGISNULL(1), "run_leases");
	AwaRequireNotNull(PG_ARGISNULL(2), "errors");
	AwaRequireNotNull(PG_ARGISNULL(3), "terminal");
	ids_arr = PG_GETARG_ARRAYTYPE_P(0);
	leases_arr = PG_GETARG_ARRAYTYPE_P(1);
	errors_arr = PG_GETARG_ARRAYTYPE_P(2);
	terminal = PG_GETARG_BOOL(3);
	AwaValidateParallelArrays(ids_arr, leases_arr, "job_ids", "run_leases");
	AwaValidateParallelArrays(ids_arr, errors_arr, "job_ids", "errors");

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	n = AwaArrayLengthChecked(ids_arr, "job_ids");
	if (n == 0)
		return (Datum) 0;
	ids = AwaInt8ArrayValues(ids_arr, &n);
	leases = AwaInt8ArrayValues(leases_arr, &n);
	deconstruct_array(errors_arr, TEXTOID, -1, false, TYPALIGN_INT,
					  &errors, NULL, &n);
	reqs = palloc0(sizeof(AwaAttemptReq) * n);
	for (i = 0; i < n; i++)
	{
		reqs[i].job_id = ids[i];
		reqs[i].run_lease = leases[i];
		reqs[i].end = AWA_END_BY_FAILURE;
		reqs[i].terminal = terminal;
		reqs[i].error = DatumGetTextPP(errors[i]);
	}

	AwaSpiConnect();
	AwaEndAttempts(reqs, n, AwaNow());
	AwaSpiFinish();

	for (i = 0; i < n; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		if (!reqs[i].taken)
			continue;
		values[0] = Int64GetDatum(reqs[i].job_id);
		values[1] = Int64GetDatum(reqs[i].run_lease);
		values[2] = DirectFunctionCall2(enum_in,
										CStringGetDatum(ResultStateLabel(reqs[i].result)),
										ObjectIdGetDatum(TupleDescAttr(rsinfo->setDesc, 2)->atttypid));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * DeferAttempt
 *		The common body of retry_after and snooze: validate the call, end
 *		the attempt as "end" at now + delay.  Returns whether the attempt
 *		was open (false for a stale or unknown pair; nothing written).
 */
static bool
DeferAttempt(FunctionCallInfo fcinfo, AwaAttemptEnd end)
{
	Interval   *delay;
	TimestampTz now;
	AwaAttemptReq req;

	AwaRequireNotNull(PG_ARGISNULL(0), "job_id");
	AwaRequireNotNull(PG_ARGISNULL(1), "run_lease");
	AwaRequireNotNull(PG_ARGISNULL(2), "delay");
	delay = PG_GETARG_INTERVAL_P(2);
	now = AwaNow();
	memset(&req, 0, sizeof(req));
	req.job_id = PG_GETARG_INT64(0);
	req.run_lease = PG_GETARG_INT64(1);
	req.end = end;
	req.run_at = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
														 TimestampTzGetDatum(now),
														 PointerGetDatum(delay)));
	if (req.run_at < now)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("delay must not be negative"),
				 errhint("Pass interval '0' to make the job due at once.")));
	AwaSpiConnect();
	AwaEndAttempts(&req, 1, now);
	AwaSpiFinish();
	return req.taken;
}

/*
 * awa_retry_after
 *		awa.retry_after(job_id bigint, run_lease bigint, delay interval)
 *		RETURNS boolean
 *
 * Makes the running attempt's job retryable at now + delay; the attempt
 * counts against max_attempts.  Returns false (nothing written) when
 * (job_id, run_lease) is not an open attempt.
 */
PG_FUNCTION_INFO_V1(awa_retry_after);
Datum
awa_retry_after(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(DeferAttempt(fcinfo, AWA_END_RETRYABLE));
}

/*
 * awa_snooze
 *		awa.snooze(job_id bigint, run_lease bigint, delay interval) RETURNS
 *		boolean
 *
 * Makes the running attempt's job scheduled at now + delay without
 * consuming the attempt: the next claim gets the same attempt number (and
 * a higher run_lease).  Returns false (nothing written) when (job_id,
 * run_lease) is not an open attempt.
 */
PG_FUNCTION_INFO_V1(awa_snooze);
Datum
awa_snooze(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(DeferAttempt(fcinfo, AWA_END_SCHEDULED));
}
