/*-------------------------------------------------------------------------
 *
 * awa_attempt.c
 *	  Ending a running attempt other than by completion: the one step that
 *	  closes open receipts and hands their attempts to their next state.
 *
 * fail_batch, retry_after, snooze, cancel (running branch) and
 * rescue_expired all end attempts through AwaEndAttempts().  In one
 * statement per claim slot it locks the receipts of the given attempts
 * (one primary-key probe per attempt, the slot being a parameter), appends
 * their closures (ON CONFLICT DO NOTHING: an attempt that another writer
 * closed first drops out here, so a stale (job_id, run_lease) changes
 * nothing), decides where each attempt goes, appends the error to the
 * job's error history, and writes the terminal rows (narrow done rows plus
 * the live counters through AWA_COUNTER_UPSERT_FROM, or DLQ rows) in the
 * same statement.  Attempts that go back to deferred_jobs are written
 * through the hot path's deferred writer; unique claims are synced last.
 *
 * "Ended by failure" (fail_batch, rescue_expired) means: retryable with
 * backoff while attempts remain and the failure is not terminal; else
 * dead-lettered when the queue has dlq_enabled, else failed.
 *
 * The current claim slot is tried first (claims and failures almost
 * always happen within one rotation), all or nothing: when every receipt
 * is there, that one statement does everything, counters included.
 * Otherwise the pairs are looked up in every slot and each slot that
 * holds one runs the same statement without the counter upsert; the
 * groups of the done rows they wrote are added to the counters at the end
 * in one ordered upsert (AwaCounterDeltas), so counter rows are always
 * locked in key order, once per call.
 *
 * Lock order (SPEC 5.7): receipts -> closures -> done rows -> counters
 * (sorted) -> attempt_state -> deferred rows -> unique claims; DLQ rows
 * (one per job, never shared) are appended with the done rows.
 *
 * Copyright (c) 2026, awa_queue developers
 *
 * IDENTIFICATION
 *	  src/awa_attempt.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/pg_prng.h"
#include "datatype/timestamp.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "awa_queue.h"

/* labels of the requested ends, as the statement below reads them */
static const char *const end_labels[] = {
	[AWA_END_BY_FAILURE] = "fail",
	[AWA_END_RETRYABLE] = "retryable",
	[AWA_END_SCHEDULED] = "scheduled",
	[AWA_END_CANCELLED] = "cancelled",
	[AWA_END_FAILED] = "failed",
	[AWA_END_DLQ] = "dlq"
};

/*
 * The new compact payload of an ended attempt: the body's payload, with
 * the attempt's progress (when it reported any) and the error appended to
 * "errors" (when one was given; "terminal": true when the attempt ends the
 * job).  An empty document is NULL.
 */
#define NEW_PAYLOAD \
	"NULLIF(COALESCE(r.payload, '{}'::pg_catalog.jsonb) " \
	"|| CASE WHEN a.progress IS NULL THEN '{}'::pg_catalog.jsonb " \
	"ELSE pg_catalog.jsonb_build_object('progress', a.progress) END " \
	"|| CASE WHEN e.error IS NULL THEN '{}'::pg_catalog.jsonb " \
	"ELSE pg_catalog.jsonb_build_object('errors', " \
	"COALESCE(r.payload -> 'errors', '[]'::pg_catalog.jsonb) " \
	"|| pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(" \
	"'error', e.error, 'attempt', e.attempt, 'at', $8::pg_catalog.timestamptz) " \
	"|| CASE WHEN e.dest IN ('failed', 'dlq') THEN '{\"terminal\": true}'::pg_catalog.jsonb " \
	"ELSE '{}'::pg_catalog.jsonb END)) END, '{}'::pg_catalog.jsonb)"

/*
 * End the attempts ($1 job_ids, $2 run_leases) whose receipts are in claim
 * slot $7: $3 the requested end per attempt ('fail' = decide by attempts
 * left, terminal flag $4 and the queue's DLQ policy), $5 the closure label
 * (NULL = the end), $6 the error to append (NULL = none), $8 now.  Returns
 * one row per ended attempt with what the caller needs for deferred rows,
 * unique claims and counter groups.
 *
 * $9 is the all-or-nothing guard of the first pass: unless every requested
 * attempt has its receipt in this slot, nothing is written (the receipts
 * found stay locked until commit, which the later passes need anyway).
 * $10 says whether the counter upsert runs in this statement (the first
 * pass) or is left to the caller, which collects the groups of the done
 * rows over several slots and applies them once, in key order
 * (AwaCounterDeltas): counter rows locked by one statement per slot would
 * not be locked in key order, and two such calls could deadlock.
 */
static AwaPlan end_in_slot_plan = {
	.sql = "WITH req AS (SELECT DISTINCT ON (u.job_id, u.run_lease) u.job_id, u.run_lease, "
	"u.req_end, u.terminal, u.outcome, u.error FROM ROWS FROM ("
	"pg_catalog.unnest($1::pg_catalog.int8[]), pg_catalog.unnest($2::pg_catalog.int8[]), "
	"pg_catalog.unnest($3::pg_catalog.text[]), pg_catalog.unnest($4::pg_catalog.bool[]), "
	"pg_catalog.unnest($5::pg_catalog.text[]), pg_catalog.unnest($6::pg_catalog.text[])) "
	"WITH ORDINALITY AS u(job_id, run_lease, req_end, terminal, outcome, error, ord) "
	"ORDER BY u.job_id, u.run_lease, u.ord), "
	"locked AS (SELECT c.claim_slot, c.job_id, c.run_lease, c.ready_slot, c.ready_generation, "
	"c.kind, c.queue, c.priority, c.attempt, c.max_attempts, c.lane_seq, c.enqueue_shard, "
	"c.claimed_at, c.unique_key, c.unique_states, req.req_end, req.terminal, req.outcome, "
	"req.error FROM awa.lease_claims AS c JOIN req ON c.job_id = req.job_id "
	"AND c.run_lease = req.run_lease WHERE c.claim_slot = $7 "
	"ORDER BY c.job_id, c.run_lease FOR UPDATE OF c), "
	"usable AS (SELECT l.* FROM locked AS l WHERE NOT $9 "
	"OR (SELECT pg_catalog.count(*) FROM locked) = (SELECT pg_catalog.count(*) FROM req)), "
	"ended AS (SELECT l.*, CASE WHEN l.req_end <> 'fail' THEN l.req_end "
	"WHEN NOT l.terminal AND l.attempt < l.max_attempts THEN 'retryable' "
	"WHEN COALESCE((SELECT m.dlq_enabled FROM awa.queue_meta AS m WHERE m.queue = l.queue), false) "
	"THEN 'dlq' ELSE 'failed' END AS dest FROM usable AS l), "
	"closed AS (" AWA_CLOSURE_INSERT_FROM("(SELECT e.claim_slot, e.job_id, e.run_lease, "
										  "COALESCE(e.outcome, e.dest) AS outcome FROM ended AS e)",
										  "s.outcome", AWA_CLOSURE_SKIP_CLOSED) "), "
	"body AS (SELECT e.*, r.args, r.created_at, r.run_at AS ready_run_at, "
	"(e.error IS NOT NULL OR a.progress IS NOT NULL) AS payload_changed, "
	NEW_PAYLOAD " AS payload FROM ended AS e "
	"JOIN closed AS x ON x.job_id = e.job_id AND x.run_lease = e.run_lease "
	"AND x.claim_slot = e.claim_slot "
	"JOIN awa.ready_entries AS r ON r.queue = e.queue AND r.priority = e.priority "
	"AND r.enqueue_shard = e.enqueue_shard AND r.lane_seq = e.lane_seq "
	"AND r.ready_slot = e.ready_slot "
	"LEFT JOIN awa.attempt_state AS a ON a.job_id = e.job_id AND a.run_lease = e.run_lease), "
	"done AS (" AWA_DONE_NARROW_INSERT_FROM("(SELECT b.ready_slot, b.ready_generation, b.job_id, "
											"b.kind, b.queue, b.dest::awa.job_state AS state, b.priority, b.attempt, "
											"b.run_lease, b.lane_seq, b.enqueue_shard, b.claimed_at AS attempted_at, "
											"$8::pg_catalog.timestamptz AS finalized_at, "
											"CASE WHEN b.payload_changed THEN b.payload END AS payload "
											"FROM body AS b WHERE b.dest IN ('failed', 'cancelled'))") "), "
	"cnt AS (" AWA_COUNTER_UPSERT_FROM("(SELECT ready_slot, queue, priority, enqueue_shard, "
									   "1 AS delta FROM done WHERE $10)") "), "
	"dlq AS (" AWA_DLQ_INSERT_FROM("(SELECT b.job_id, b.kind, b.queue, b.args, b.priority, "
								   "b.attempt, b.run_lease, b.max_attempts, b.ready_run_at AS run_at, "
								   "b.claimed_at AS attempted_at, $8::pg_catalog.timestamptz AS finalized_at, "
								   "b.created_at, b.unique_key, b.unique_states, b.payload, "
								   "CASE WHEN b.attempt >= b.max_attempts THEN 'max_attempts_exhausted' "
								   "ELSE 'terminal_error' END AS dlq_reason, "
								   "$8::pg_catalog.timestamptz AS dlq_at, b.run_lease AS original_run_lease "
								   "FROM body AS b WHERE b.dest = 'dlq')") ") "
	"SELECT b.job_id, b.run_lease, b.dest, b.kind, b.queue, b.priority, b.attempt, "
	"b.max_attempts, b.args, b.payload, b.created_at, b.claimed_at, b.unique_key, "
	"b.unique_states, b.ready_slot, b.enqueue_shard "
	"FROM body AS b ORDER BY b.job_id, b.run_lease",
	.nargs = 10,
	.argtypes = {INT8ARRAYOID, INT8ARRAYOID, TEXTARRAYOID, BOOLARRAYOID,
	TEXTARRAYOID, TEXTARRAYOID, INT4OID, TIMESTAMPTZOID, BOOLOID, BOOLOID}
};

/*
 * Every claim slot holding a receipt of attempts ($1, $2).  The current
 * slot is not excluded: the all-or-nothing first pass may have left its
 * receipts alone, and claim-ring prune may have carried a receipt into it
 * after the first pass looked there.
 */
static AwaPlan other_slots_plan = {
	.sql = "SELECT DISTINCT c.claim_slot FROM awa.lease_claims AS c "
	"JOIN ROWS FROM (pg_catalog.unnest($1::pg_catalog.int8[]), "
	"pg_catalog.unnest($2::pg_catalog.int8[])) AS u(job_id, run_lease) "
	"ON c.job_id = u.job_id AND c.run_lease = u.run_lease ORDER BY 1",
	.nargs = 2,
	.argtypes = {INT8ARRAYOID, INT8ARRAYOID}
};

/*
 * Forget heartbeat and progress of ended attempts.  A statement of its
 * own, run after the receipts are closed: its fresh snapshot sees an
 * attempt_state row that a concurrent heartbeat inserted while this
 * transaction waited for the receipt lock.
 */
static AwaPlan attempt_state_delete_plan = {
	.sql = AWA_ATTEMPT_STATE_DELETE_USING(
										  "(SELECT * FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.int8[]), "
										  "pg_catalog.unnest($2::pg_catalog.int8[])) AS u(job_id, run_lease) "
										  "ORDER BY 1, 2)"),
	.nargs = 2,
	.argtypes = {INT8ARRAYOID, INT8ARRAYOID}
};

/* one requested attempt, sorted by (job_id, run_lease) for lookups */
typedef struct ReqRef
{
	int64		job_id;
	int64		run_lease;
	int			index;			/* into the caller's request array */
} ReqRef;

static int
ReqRefCompare(const void *a, const void *b)
{
	const ReqRef *x = (const ReqRef *) a;
	const ReqRef *y = (const ReqRef *) b;

	if (x->job_id != y->job_id)
		return x->job_id < y->job_id ? -1 : 1;
	if (x->run_lease != y->run_lease)
		return x->run_lease < y->run_lease ? -1 : 1;
	return x->index - y->index;
}

/* state of one AwaEndAttempts call */
typedef struct EndState
{
	AwaAttemptReq *reqs;
	int			n;
	ReqRef	   *refs;			/* sorted by (job_id, run_lease, index) */
	TimestampTz now;
	int			nended;
	/* deferred rows and unique syncs collected over the slots */
	AwaJobRow  *deferred;
	int			ndeferred;
	bytea	  **ukeys;
	uint8	   *umasks;
	int64	   *uids;
	int		   *ufrom;
	int		   *uto;
	int			nunique;
	Datum	   *ended_ids;
	Datum	   *ended_leases;
	AwaCounterDeltas deltas;	/* done rows written by later passes */
} EndState;

/*
 * AwaBackoffSeconds
 *		The retry delay after attempt "attempt" failed, in seconds:
 *
 *			min(awa.backoff_cap, 2^attempt * (1 + 0.25 * u)),  u in [0, 1)
 *
 * so attempt a waits between 2^a and 1.25 * 2^a seconds (disjoint ranges:
 * the delay strictly grows with the attempt until the cap), with jitter
 * that spreads retries of jobs that failed together.  The exponent is
 * clamped at 40, far beyond any cap.
 */
double
AwaBackoffSeconds(int attempt)
{
	double		base = ldexp(1.0, Min(Max(attempt, 0), 40));
	double		delay = base * (1.0 + 0.25 * pg_prng_double(&pg_global_prng_state));

	return Min((double) awa_backoff_cap_secs, delay);
}

/*
 * AwaAddSeconds
 *		now + secs, as a timestamp (microsecond precision).
 */
TimestampTz
AwaAddSeconds(TimestampTz now, double secs)
{
	return now + (TimestampTz) (secs * USECS_PER_SEC);
}

/*
 * awa_retry_backoff
 *		awa.retry_backoff(attempt integer) RETURNS interval
 *
 * The delay fail_batch and rescue_expired give a retry after attempt
 * "attempt" (AwaBackoffSeconds; jitter makes it volatile).  Attempt must
 * be at least 1.
 */
PG_FUNCTION_INFO_V1(awa_retry_backoff);
Datum
awa_retry_backoff(PG_FUNCTION_ARGS)
{
	int32		attempt;
	Interval   *result;

	AwaRequireNotNull(PG_ARGISNULL(0), "attempt");
	attempt = PG_GETARG_INT32(0);
	AwaValidateRange(attempt, 1, PG_INT16_MAX, "attempt");
	result = (Interval *) palloc0(sizeof(Interval));
	result->time = (TimeOffset) (AwaBackoffSeconds(attempt) * USECS_PER_SEC);
	PG_RETURN_INTERVAL_P(result);
}

/*
 * EndFromLabel
 *		The resolved end of an attempt from the statement's "dest" label.
 */
static AwaAttemptEnd
EndFromLabel(const char *label)
{
	int			e;

	for (e = AWA_END_RETRYABLE; e <= AWA_END_DLQ; e++)
		if (strcmp(label, end_labels[e]) == 0)
			return (AwaAttemptEnd) e;
	elog(ERROR, "awa_queue: unknown attempt end \"%s\"", label);
	return AWA_END_FAILED;		/* keep compiler quiet */
}

/*
 * StateBitOfEnd
 *		The job state an ended attempt leaves its job in.
 */
static int
StateBitOfEnd(AwaAttemptEnd end)
{
	switch (end)
	{
		case AWA_END_RETRYABLE:
			return AWA_STATE_BIT_RETRYABLE;
		case AWA_END_SCHEDULED:
			return AWA_STATE_BIT_SCHEDULED;
		case AWA_END_CANCELLED:
			return AWA_STATE_BIT_CANCELLED;
		case AWA_END_FAILED:
		case AWA_END_DLQ:
			return AWA_STATE_BIT_FAILED;
		default:
			elog(ERROR, "awa_queue: unresolved attempt end %d", (int) end);
	}
	return AWA_STATE_NONE;		/* keep compiler quiet */
}

/*
 * PendingArrays
 *		The request arrays of the attempts not ended yet ($1..$6 of the
 *		end statement).  Returns how many there are.
 */
static int
PendingArrays(EndState *st, Datum *values, char *nulls)
{
	Datum	   *ids = palloc(sizeof(Datum) * st->n);
	Datum	   *leases = palloc(sizeof(Datum) * st->n);
	Datum	   *ends = palloc(sizeof(Datum) * st->n);
	Datum	   *terms = palloc(sizeof(Datum) * st->n);
	Datum	   *outcomes = palloc(sizeof(Datum) * st->n);
	Datum	   *errors = palloc(sizeof(Datum) * st->n);
	bool	   *onulls = palloc(sizeof(bool) * st->n);
	bool	   *enulls = palloc(sizeof(bool) * st->n);
	int			dims[1];
	int			lbs[1] = {1};
	int			k = 0;
	int			i;

	for (i = 0; i < st->n; i++)
	{
		AwaAttemptReq *r = &st->reqs[i];

		if (r->taken)
			continue;
		ids[k] = Int64GetDatum(r->job_id);
		leases[k] = Int64GetDatum(r->run_lease);
		ends[k] = CStringGetTextDatum(end_labels[r->end]);
		terms[k] = BoolGetDatum(r->terminal);
		onulls[k] = (r->outcome == NULL);
		outcomes[k] = onulls[k] ? (Datum) 0 : CStringGetTextDatum(r->outcome);
		enulls[k] = (r->error == NULL);
		errors[k] = PointerGetDatum(r->error);
		k++;
	}
	dims[0] = k;
	values[0] = PointerGetDatum(construct_array(ids, k, INT8OID, 8, FLOAT8PASSBYVAL,
												TYPALIGN_DOUBLE));
	values[1] = PointerGetDatum(construct_array(leases, k, INT8OID, 8, FLOAT8PASSBYVAL,
												TYPALIGN_DOUBLE));
	values[2] = PointerGetDatum(construct_array(ends, k, TEXTOID, -1, false,
												TYPALIGN_INT));
	values[3] = PointerGetDatum(construct_array(terms, k, BOOLOID, 1, true,
												TYPALIGN_CHAR));
	values[4] = PointerGetDatum(construct_md_array(outcomes, onulls, 1, dims, lbs,
												   TEXTOID, -1, false, TYPALIGN_INT));
	values[5] = PointerGetDatum(construct_md_array(errors, enulls, 1, dims, lbs,
												   TEXTOID, -1, false, TYPALIGN_INT));
	memset(nulls, ' ', 6);
	return k;
}

/*
 * FindRequest
 *		The first request not yet ended for (job_id, run_lease).
 */
static AwaAttemptReq *
FindRequest(EndState *st, int64 job_id, int64 run_lease)
{
	int			lo = 0;
	int			hi = st->n;

	/* lower bound of (job_id, run_lease) in the sorted refs */
	while (lo < hi)
	{
		int			mid = (lo + hi) / 2;
		ReqRef	   *m = &st->refs[mid];

		if (m->job_id < job_id || (m->job_id == job_id && m->run_lease < run_lease))
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < st->n; lo++)
	{
		ReqRef	   *m = &st->refs[lo];

		if (m->job_id != job_id || m->run_lease != run_lease)
			break;
		if (!st->reqs[m->index].taken)
			return &st->reqs[m->index];
	}
	elog(ERROR, "awa_queue: an attempt was ended that was not requested");
	return NULL;				/* keep compiler quiet */
}

/*
 * CollectEnded
 *		Record the ended attempt in row "row" of the end statement's result:
 *		mark its request, queue its deferred row (retryable: at the
 *		requested time or after the backoff; scheduled: the attempt is given
 *		back) and its unique-claim change.
 */
static void
CollectEnded(EndState *st, int row, bool first_pass)
{
	int64		job_id = AwaSpiGetInt64(row, 1, 0);
	int64		run_lease = AwaSpiGetInt64(row, 2, 0);
	AwaAttemptReq *req = FindRequest(st, job_id, run_lease);
	bool		isnull;
	char	   *label;
	AwaAttemptEnd end;
	Datum		ukey;
	bool		has_key;

	label = TextDatumGetCString(AwaSpiGetDatum(row, 3, &isnull));
	end = EndFromLabel(label);
	req->taken = true;
	req->result = end;
	st->ended_ids[st->nended] = Int64GetDatum(job_id);
	st->ended_leases[st->nended] = Int64GetDatum(run_lease);
	st->nended++;
	if (!first_pass && (end == AWA_END_FAILED || end == AWA_END_CANCELLED))
		AwaCounterDeltasAdd(&st->deltas,
							DatumGetInt32(AwaSpiGetDatum(row, 15, &isnull)),
							DatumGetTextPP(AwaSpiGetDatum(row, 5, &isnull)),
							(int16) AwaSpiGetInt64(row, 6, 0),
							DatumGetInt16(AwaSpiGetDatum(row, 16, &isnull)),
							1);

	ukey = AwaSpiGetDatum(row, 13, &isnull);
	has_key = !isnull;
	if (has_key)
	{
		Datum		mask = AwaSpiGetDatum(row, 14, &isnull);

		st->ukeys[st->nunique] = DatumGetByteaPP(ukey);
		st->umasks[st->nunique] = isnull ? AWA_UNIQUE_DEFAULT_MASK :
			AwaMaskFromDatum(mask);
		st->uids[st->nunique] = job_id;
		st->ufrom[st->nunique] = AWA_STATE_BIT_RUNNING;
		st->uto[st->nunique] = StateBitOfEnd(end);
		st->nunique++;
	}

	if (end == AWA_END_RETRYABLE || end == AWA_END_SCHEDULED)
	{
		AwaJobRow  *d = &st->deferred[st->ndeferred++];
		Datum		v;
		int16		attempt = (int16) AwaSpiGetInt64(row, 7, 0);

		memset(d, 0, sizeof(AwaJobRow));
		d->job_id = job_id;
		d->run_lease = run_lease;
		d->kind = DatumGetTextPP(AwaSpiGetDatum(row, 4, &isnull));
		d->queue = DatumGetTextPP(AwaSpiGetDatum(row, 5, &isnull));
		d->priority = (int16) AwaSpiGetInt64(row, 6, 0);
		d->max_attempts = (int16) AwaSpiGetInt64(row, 8, 0);
		d->args = DatumGetJsonbP(AwaSpiGetDatum(row, 9, &isnull));
		v = AwaSpiGetDatum(row, 10, &isnull);
		d->payload = isnull ? NULL : DatumGetJsonbP(v);
		d->created_at = DatumGetTimestampTz(AwaSpiGetDatum(row, 11, &isnull));
		d->has_attempted_at = true;
		d->attempted_at = DatumGetTimestampTz(AwaSpiGetDatum(row, 12, &isnull));
		if (has_key)
		{
			d->unique_key = st->ukeys[st->nunique - 1];
			d->unique_mask = st->umasks[st->nunique - 1];
		}
		/* ready rows keep no ordering key: promotion goes back to this lane */
		d->ordering_key = NULL;
		d->has_home_shard = true;
		d->home_shard = DatumGetInt16(AwaSpiGetDatum(row, 16, &isnull));
		if (end == AWA_END_SCHEDULED)
		{
			/* a snooze gives the attempt back: the next claim reuses it */
			d->state = AWA_STATE_BIT_SCHEDULED;
			d->attempt = Max(attempt - 1, 0);
			d->run_at = req->run_at;
		}
		else
		{
			d->state = AWA_STATE_BIT_RETRYABLE;
			d->attempt = attempt;
			d->has_finalized_at = true;
			d->finalized_at = st->now;
			d->run_at = req->end == AWA_END_RETRYABLE ? req->run_at :
				AwaAddSeconds(st->now, AwaBackoffSeconds(attempt));
		}
	}
}

/*
 * EndInSlot
 *		Run the end statement for the pending attempts whose receipts are in
 *		claim slot "slot".  The first pass ends them only when every one
 *		has its receipt there, and then upserts the counters itself; later
 *		passes collect the counter groups in st->deltas.  Returns the
 *		number of attempts it ended.
 */
static int
EndInSlot(EndState *st, int32 slot, bool first_pass)
{
	Datum		values[10];
	char		nulls[10];
	int			ended;
	int			i;

	if (PendingArrays(st, values, nulls) == 0)
		return 0;
	values[6] = Int32GetDatum(slot);
	values[7] = TimestampTzGetDatum(st->now);
	values[8] = BoolGetDatum(first_pass);
	values[9] = BoolGetDatum(first_pass);
	memset(nulls + 6, ' ', 4);
	ended = AwaPlanExec(&end_in_slot_plan, values, nulls, false, 0, SPI_OK_SELECT);
	for (i = 0; i < ended; i++)
		CollectEnded(st, i, first_pass);
	return ended;
}

/*
 * AwaEndAttempts
 *		End the running attempts of n requests (see AwaAttemptReq): close
 *		their open receipts, write their next state, sync unique claims.
 *
 * A request whose (job_id, run_lease) has no open receipt (unknown, stale,
 * or closed first by a concurrent writer) is left with taken = false and
 * changes nothing.  Duplicate pairs end once (the first request wins).
 * Locking contract: receipts FOR UPDATE (waits for a concurrent
 * completion or failure of the same attempt, which then wins), then
 * closures, done rows, counters, DLQ rows, attempt_state, deferred rows
 * and unique claims.  Sets reqs[i].taken and reqs[i].result; returns the
 * number of attempts ended.  Must be called inside an SPI connection.
 */
int
AwaEndAttempts(AwaAttemptReq *reqs, int n, TimestampTz now)
{
	EndState	st;
	int32		current;
	int			i;

	if (n <= 0)
		return 0;
	memset(&st, 0, sizeof(st));
	st.reqs = reqs;
	st.n = n;
	st.now = now;
	st.refs = palloc(sizeof(ReqRef) * n);
	st.deferred = palloc(sizeof(AwaJobRow) * n);
	st.ukeys = palloc(sizeof(bytea *) * n);
	st.umasks = palloc(sizeof(uint8) * n);
	st.uids = palloc(sizeof(int64) * n);
	st.ufrom = palloc(sizeof(int) * n);
	st.uto = palloc(sizeof(int) * n);
	st.ended_ids = palloc(sizeof(Datum) * n);
	st.ended_leases = palloc(sizeof(Datum) * n);
	for (i = 0; i < n; i++)
	{
		reqs[i].taken = false;
		st.refs[i].job_id = reqs[i].job_id;
		st.refs[i].run_lease = reqs[i].run_lease;
		st.refs[i].index = i;
	}
	qsort(st.refs, n, sizeof(ReqRef), ReqRefCompare);

	/*
	 * The common case: every receipt is in the current claim slot, and one
	 * statement does everything, counters included.
	 */
	current = AwaClaimRingSlot();
	EndInSlot(&st, current, true);

	/*
	 * The rest: one statement per slot holding a receipt, without counters;
	 * the groups they wrote are added once at the end, sorted by the key.
	 */
	if (st.nended < n)
	{
		Datum		values[10];
		char		nulls[10];
		int			nslots;
		int32		slots[AWA_CLAIM_SLOT_COUNT];

		if (PendingArrays(&st, values, nulls) > 0)
		{
			nslots = AwaPlanExec(&other_slots_plan, values, NULL, false, 0,
								 SPI_OK_SELECT);
			if (nslots > AWA_CLAIM_SLOT_COUNT)
				elog(ERROR, "awa_queue: more claim slots than the ring has");
			for (i = 0; i < nslots; i++)
				slots[i] = (int32) AwaSpiGetInt64(i, 1, 0);
			for (i = 0; i < nslots; i++)
				EndInSlot(&st, slots[i], false);
			AwaCounterDeltasApply(&st.deltas);
		}
	}
	if (st.nended == 0)
		return 0;

	/* heartbeat and progress of the ended attempts, seen afresh */
	{
		Datum		values[2];

		values[0] = PointerGetDatum(construct_array(st.ended_ids, st.nended, INT8OID, 8,
													FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		values[1] = PointerGetDatum(construct_array(st.ended_leases, st.nended, INT8OID, 8,
													FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		AwaPlanExec(&attempt_state_delete_plan, values, NULL, false, 0, SPI_OK_DELETE);
	}
	AwaInsertDeferredRows(st.deferred, st.ndeferred);
	if (st.nunique > 0)
		AwaUniqueSync(st.nunique, st.ukeys, st.umasks, st.uids, st.ufrom, st.uto);
	return st.nended;
}
