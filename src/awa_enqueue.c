/*-------------------------------------------------------------------------
 *
 * awa_enqueue.c
 *	  Producers: awa.enqueue() and awa.enqueue_many().
 *
 * Both build AwaJobRow bodies from their input, validate every field
 * before anything is written, then write through the shared writers of
 * awa_storage.c: available jobs with AwaInsertReadyRows (one head advance
 * per lane, one insert), future jobs with AwaInsertDeferredRows (state
 * scheduled), unique keys with AwaUniqueSync, and one notification per
 * distinct queue of available jobs.
 *
 * Transactional: everything, the head advance included, is rolled back
 * with the caller's transaction.
 *
 * Copyright (c) 2026, awa_queue developers
 *
 * IDENTIFICATION
 *	  src/awa_enqueue.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/varbit.h"

#include "awa_queue.h"

#define AWA_MAX_ATTEMPTS_LIMIT	1000
#define AWA_MAX_TAGS			20

/* the keys an enqueue_many element may have */
static const char *const job_keys[] = {
	"kind", "args", "queue", "priority", "run_at", "max_attempts",
	"metadata", "tags", "unique_key", "unique_states", "ordering_key"
};

/*
 * Explode the jobs array into one row per element, with the type of each
 * typed field so that C can validate without parsing JSON itself.
 */
static AwaPlan explode_plan = {
	.sql = "SELECT e.ord, pg_catalog.jsonb_typeof(e.j), "
	"CASE WHEN pg_catalog.jsonb_typeof(e.j) = 'object' THEN "
	"(SELECT k FROM pg_catalog.jsonb_object_keys(e.j) AS k WHERE k <> ALL ($2) "
	"ORDER BY k LIMIT 1) END, "
	"e.j ->> 'kind', NULLIF(e.j -> 'args', 'null'::pg_catalog.jsonb), e.j ->> 'queue', "
	"e.j ->> 'priority', pg_catalog.jsonb_typeof(e.j -> 'priority'), "
	"e.j ->> 'run_at', e.j ->> 'max_attempts', "
	"pg_catalog.jsonb_typeof(e.j -> 'max_attempts'), "
	"NULLIF(e.j -> 'metadata', 'null'::pg_catalog.jsonb), "
	"CASE WHEN pg_catalog.jsonb_typeof(e.j -> 'tags') = 'array' THEN "
	"ARRAY(SELECT pg_catalog.jsonb_array_elements_text(e.j -> 'tags')) END, "
	"pg_catalog.jsonb_typeof(e.j -> 'tags'), "
	"e.j ->> 'unique_key', e.j ->> 'unique_states', e.j ->> 'ordering_key', "
	"pg_catalog.jsonb_typeof(e.j -> 'kind'), pg_catalog.jsonb_typeof(e.j -> 'queue') "
	"FROM pg_catalog.jsonb_array_elements($1) WITH ORDINALITY AS e(j, ord) "
	"ORDER BY e.ord",
	.nargs = 2,
	.argtypes = {JSONBOID, TEXTARRAYOID}
};

/* one job as given by the caller; NULL pointers / false flags = SQL NULL */
typedef struct JobInput
{
	text	   *kind;
	Jsonb	   *args;
	text	   *queue;
	bool		has_priority;
	int			priority;
	bool		has_run_at;
	TimestampTz run_at;
	bool		has_max_attempts;
	int			max_attempts;
	Jsonb	   *metadata;
	ArrayType  *tags;
	bytea	   *unique_key;
	bool		has_unique_states;
	uint8		unique_mask;
	int			unique_states_bits; /* length of the given bit string */
	text	   *ordering_key;
} JobInput;

/*
 * JsonbIsObject
 *		Whether a jsonb document is an object (not an array or a scalar).
 */
static bool
JsonbIsObject(Jsonb *jb)
{
	return JB_ROOT_IS_OBJECT(jb) && !JB_ROOT_IS_SCALAR(jb);
}

/*
 * RequireNotNull
 *		22004 for a NULL argument that must be given.
 */
static void
RequireNotNull(bool isnull, const char *what)
{
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
}

/*
 * BuildPayload
 *		The compact runtime payload {metadata, tags}: empty keys omitted,
 *		NULL when both are empty.
 */
static Jsonb *
BuildPayload(Jsonb *metadata, ArrayType *tags, int ntags)
{
	bool		has_meta = metadata != NULL && JB_ROOT_COUNT(metadata) > 0;
	StringInfoData buf;

	if (!has_meta && ntags == 0)
		return NULL;
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	if (has_meta)
	{
		appendStringInfoString(&buf, "\"metadata\": ");
		appendStringInfoString(&buf, JsonbToCString(NULL, &metadata->root,
													VARSIZE(metadata)));
	}
	if (ntags > 0)
	{
		Datum	   *elems;
		int			nelems;
		int			i;

		deconstruct_array(tags, TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, NULL, &nelems);
		if (has_meta)
			appendStringInfoString(&buf, ", ");
		appendStringInfoString(&buf, "\"tags\": [");
		for (i = 0; i < nelems; i++)
		{
			if (i > 0)
				appendStringInfoString(&buf, ", ");
			escape_json(&buf, TextDatumGetCString(elems[i]));
		}
		appendStringInfoChar(&buf, ']');
	}
	appendStringInfoChar(&buf, '}');
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

/*
 * ValidateAndBuild
 *		Check one job's input and fill its AwaJobRow (job id still 0).
 *		Raises 22004 for a missing required field and 22023 for a bad one;
 *		writes nothing.  "now" decides between available and scheduled.
 */
static void
ValidateAndBuild(JobInput *in, AwaJobRow *r, TimestampTz now)
{
	int			ntags = 0;

	AwaValidateName(in->kind, "kind");
	AwaValidateName(in->queue, "queue");
	RequireNotNull(in->args == NULL, "args");
	if (!JsonbIsObject(in->args))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("args must be a JSON object")));
	RequireNotNull(!in->has_priority, "priority");
	AwaValidatePriority(in->priority);
	RequireNotNull(!in->has_max_attempts, "max_attempts");
	if (in->max_attempts < 1 || in->max_attempts > AWA_MAX_ATTEMPTS_LIMIT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_attempts must be between 1 and %d",
						AWA_MAX_ATTEMPTS_LIMIT),
				 errdetail("The value given was %d.", in->max_attempts)));
	if (in->metadata != NULL && !JsonbIsObject(in->metadata))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("metadata must be a JSON object")));
	if (in->tags != NULL)
	{
		ntags = AwaArrayLengthChecked(in->tags, "tags");
		if (ntags > AWA_MAX_TAGS)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a job has at most %d tags", AWA_MAX_TAGS),
					 errdetail("%d tags were given.", ntags)));
	}
	if (in->has_unique_states && in->unique_key == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unique_states requires unique_key")));
	if (in->has_unique_states && in->unique_states_bits != 8)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unique_states must have exactly 8 bits"),
				 errdetail("The value given has %d bits.", in->unique_states_bits)));

	memset(r, 0, sizeof(AwaJobRow));
	r->kind = in->kind;
	r->queue = in->queue;
	r->priority = (int16) in->priority;
	r->args = in->args;
	r->max_attempts = (int16) in->max_attempts;
	r->created_at = now;
	r->unique_key = in->unique_key;
	r->unique_mask = in->has_unique_states ? in->unique_mask : AWA_UNIQUE_DEFAULT_MASK;
	r->ordering_key = in->ordering_key;
	r->payload = BuildPayload(in->metadata, in->tags, ntags);
	if (in->has_run_at && in->run_at > now)
	{
		r->state = AWA_STATE_BIT_SCHEDULED;
		r->run_at = in->run_at;
	}
	else
	{
		r->state = AWA_STATE_BIT_AVAILABLE;
		r->run_at = in->has_run_at ? in->run_at : now;
	}
}

/*
 * EnqueueRows
 *		Write n validated jobs: ids, ready rows (sorted lane locks), deferred
 *		rows, unique claims (sorted keys), one notification per distinct
 *		queue with available jobs.  Ids are left in rows[i].job_id.
 */
static void
EnqueueRows(AwaJobRow *rows, int n)
{
	AwaJobRow  *ready = palloc(sizeof(AwaJobRow) * n);
	AwaJobRow  *deferred = palloc(sizeof(AwaJobRow) * n);
	int		   *ready_pos = palloc(sizeof(int) * n);
	int		   *deferred_pos = palloc(sizeof(int) * n);
	int			nready = 0;
	int			ndeferred = 0;
	int			nunique = 0;
	int			i;

	/*
	 * A batch draws its ids up front, so they ascend in input order across
	 * ready and deferred rows; a single job gets its id from the writer's
	 * own statement.
	 */
	if (n > 1)
		AwaAllocateJobIds(rows, n);
	for (i = 0; i < n; i++)
	{
		if (rows[i].state == AWA_STATE_BIT_AVAILABLE)
		{
			ready_pos[nready] = i;
			ready[nready++] = rows[i];
		}
		else
		{
			deferred_pos[ndeferred] = i;
			deferred[ndeferred++] = rows[i];
		}
		if (rows[i].unique_key != NULL)
			nunique++;
	}

	AwaInsertReadyRows(ready, nready);
	for (i = 0; i < nready; i++)
	{
		rows[ready_pos[i]].job_id = ready[i].job_id;
		rows[ready_pos[i]].enqueue_shard = ready[i].enqueue_shard;
	}
	AwaInsertDeferredRows(deferred, ndeferred);
	for (i = 0; i < ndeferred; i++)
		rows[deferred_pos[i]].job_id = deferred[i].job_id;

	if (nunique > 0)
	{
		bytea	  **keys = palloc(sizeof(bytea *) * n);
		uint8	   *masks = palloc(sizeof(uint8) * n);
		int64	   *ids = palloc(sizeof(int64) * n);
		int		   *from = palloc(sizeof(int) * n);
		int		   *to = palloc(sizeof(int) * n);

		for (i = 0; i < n; i++)
		{
			keys[i] = rows[i].unique_key;
			masks[i] = rows[i].unique_mask;
			ids[i] = rows[i].job_id;
			from[i] = AWA_STATE_NONE;
			to[i] = rows[i].state;
		}
		AwaUniqueSync(n, keys, masks, ids, from, to);
	}

	/* one notification per distinct queue of available jobs */
	for (i = 0; i < nready; i++)
	{
		int			j;
		bool		seen = false;

		for (j = 0; j < i && !seen; j++)
			seen = VARSIZE_ANY_EXHDR(ready[j].queue) == VARSIZE_ANY_EXHDR(ready[i].queue) &&
				memcmp(VARDATA_ANY(ready[j].queue), VARDATA_ANY(ready[i].queue),
					   VARSIZE_ANY_EXHDR(ready[i].queue)) == 0;
		if (!seen)
			AwaNotifyQueue(ready[i].queue);
	}
}

/*
 * awa_enqueue
 *		awa.enqueue(kind, args, queue, priority, run_at, max_attempts,
 *		metadata, tags, unique_key, unique_states, ordering_key) RETURNS
 *		bigint
 *
 * Enqueues one job: available now (run_at NULL or not in the future) or
 * scheduled (future run_at).  Locks the lane's enqueue head until commit;
 * returns the job id.
 */
PG_FUNCTION_INFO_V1(awa_enqueue);
Datum
awa_enqueue(PG_FUNCTION_ARGS)
{
	JobInput	in;
	AwaJobRow	row;

	memset(&in, 0, sizeof(in));
	in.kind = PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0);
	in.args = PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1);
	in.queue = PG_ARGISNULL(2) ? NULL : PG_GETARG_TEXT_PP(2);
	in.has_priority = !PG_ARGISNULL(3);
	in.priority = in.has_priority ? PG_GETARG_INT16(3) : 0;
	in.has_run_at = !PG_ARGISNULL(4);
	in.run_at = in.has_run_at ? PG_GETARG_TIMESTAMPTZ(4) : 0;
	in.has_max_attempts = !PG_ARGISNULL(5);
	in.max_attempts = in.has_max_attempts ? PG_GETARG_INT16(5) : 0;
	in.metadata = PG_ARGISNULL(6) ? NULL : PG_GETARG_JSONB_P(6);
	in.tags = PG_ARGISNULL(7) ? NULL : PG_GETARG_ARRAYTYPE_P(7);
	in.unique_key = PG_ARGISNULL(8) ? NULL : PG_GETARG_BYTEA_P(8);
	in.has_unique_states = !PG_ARGISNULL(9);
	if (in.has_unique_states)
	{
		VarBit	   *bits = PG_GETARG_VARBIT_P(9);

		in.unique_states_bits = VARBITLEN(bits);
		in.unique_mask = VARBITLEN(bits) > 0 ? VARBITS(bits)[0] : 0;
	}
	in.ordering_key = PG_ARGISNULL(10) ? NULL : PG_GETARG_TEXT_PP(10);

	ValidateAndBuild(&in, &row, AwaNow());

	AwaSpiConnect();
	EnqueueRows(&row, 1);
	AwaSpiFinish();
	PG_RETURN_INT64(row.job_id);
}

/* error context of enqueue_many: which element failed */
static void
EnqueueManyErrorContext(void *arg)
{
	errcontext("jobs element %d", *(int *) arg);
}

/*
 * ParseSmallInt
 *		A JSON number that must be an integer (priority, max_attempts).
 */
static int
ParseSmallInt(const char *value, const char *type, const char *what)
{
	char	   *end;
	long		v;

	if (strcmp(type, "number") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a JSON number", what)));
	errno = 0;
	v = strtol(value, &end, 10);
	if (errno != 0 || *end != '\0' || v < PG_INT16_MIN || v > PG_INT16_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be an integer", what),
				 errdetail("The value given was %s.", value)));
	return (int) v;
}

/*
 * CopyText / CopyColumnText
 *		Column "col" of SPI row "row" as a text copied out of SPI memory, or
 *		NULL.
 */
static text *
CopyColumnText(int row, int col)
{
	bool		isnull;
	Datum		d = AwaSpiCopyDatum(row, col, &isnull);

	return isnull ? NULL : DatumGetTextPP(d);
}

static char *
ColumnCString(int row, int col)
{
	bool		isnull;
	Datum		d = AwaSpiGetDatum(row, col, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/*
 * awa_enqueue_many
 *		awa.enqueue_many(jobs jsonb) RETURNS SETOF bigint
 *
 * A JSON array of objects with the keys of awa.enqueue (unknown keys are
 * an error).  Validates every element first, then writes them all with one
 * head advance per lane and one ready insert; returns the ids in input
 * order.
 */
PG_FUNCTION_INFO_V1(awa_enqueue_many);
Datum
awa_enqueue_many(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Jsonb	   *jobs;
	AwaJobRow  *rows;
	Datum		values[2];
	Datum		keys[lengthof(job_keys)];
	int			n;
	int			i;
	TimestampTz now = AwaNow();
	ErrorContextCallback errcb;
	int			current = 0;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	RequireNotNull(PG_ARGISNULL(0), "jobs");
	jobs = PG_GETARG_JSONB_P(0);
	if (!JB_ROOT_IS_ARRAY(jobs) || JB_ROOT_IS_SCALAR(jobs))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("jobs must be a JSON array of objects")));

	for (i = 0; i < (int) lengthof(job_keys); i++)
		keys[i] = CStringGetTextDatum(job_keys[i]);
	values[0] = PointerGetDatum(jobs);
	values[1] = PointerGetDatum(construct_array(keys, lengthof(job_keys), TEXTOID,
												-1, false, TYPALIGN_INT));

	AwaSpiConnect();
	n = AwaPlanExec(&explode_plan, values, NULL, true, 0, SPI_OK_SELECT);
	rows = palloc(sizeof(AwaJobRow) * Max(n, 1));

	errcb.callback = EnqueueManyErrorContext;
	errcb.arg = &current;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	for (i = 0; i < n; i++)
	{
		JobInput	in;
		char	   *type = ColumnCString(i, 2);
		char	   *s;
		bool		isnull;
		Datum		d;

		current = i + 1;
		if (strcmp(type, "object") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("jobs must be a JSON array of objects"),
					 errdetail("Element %d is a JSON %s.", i + 1, type)));
		s = ColumnCString(i, 3);
		if (s != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown job key \"%s\"", s),
					 errhint("Known keys are kind, args, queue, priority, run_at, max_attempts, metadata, tags, unique_key, unique_states and ordering_key.")));

		memset(&in, 0, sizeof(in));
		s = ColumnCString(i, 18);
		if (s != NULL && strcmp(s, "string") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("kind must be a JSON string")));
		in.kind = CopyColumnText(i, 4);
		d = AwaSpiCopyDatum(i, 5, &isnull);
		in.args = isnull ? DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")))
			: DatumGetJsonbP(d);
		s = ColumnCString(i, 19);
		if (s != NULL && strcmp(s, "string") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("queue must be a JSON string")));
		in.queue = CopyColumnText(i, 6);
		if (in.queue == NULL)
			in.queue = cstring_to_text("default");
		s = ColumnCString(i, 7);
		in.has_priority = true;
		in.priority = s ? ParseSmallInt(s, ColumnCString(i, 8), "priority") : 2;
		s = ColumnCString(i, 9);
		in.has_run_at = (s != NULL);
		if (s != NULL)
			in.run_at = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in,
																CStringGetDatum(s),
																ObjectIdGetDatum(InvalidOid),
																Int32GetDatum(-1)));
		s = ColumnCString(i, 10);
		in.has_max_attempts = true;
		in.max_attempts = s ? ParseSmallInt(s, ColumnCString(i, 11), "max_attempts") : 25;
		d = AwaSpiCopyDatum(i, 12, &isnull);
		in.metadata = isnull ? NULL : DatumGetJsonbP(d);
		s = ColumnCString(i, 14);
		if (s != NULL && strcmp(s, "array") != 0 && strcmp(s, "null") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("tags must be a JSON array of strings")));
		d = AwaSpiCopyDatum(i, 13, &isnull);
		in.tags = isnull ? NULL : DatumGetArrayTypeP(d);
		s = ColumnCString(i, 15);
		if (s != NULL)
		{
			if (s[0] == '\\' && s[1] == 'x')
				in.unique_key = DatumGetByteaPP(DirectFunctionCall1(byteain,
																	CStringGetDatum(s)));
			else
				in.unique_key = (bytea *) cstring_to_text(s);
		}
		s = ColumnCString(i, 16);
		if (s != NULL)
		{
			int			b;

			in.has_unique_states = true;
			in.unique_states_bits = strlen(s);
			for (b = 0; s[b] != '\0'; b++)
			{
				if (s[b] != '0' && s[b] != '1')
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("unique_states must be a string of 8 characters 0 or 1")));
				if (b < 8 && s[b] == '1')
					in.unique_mask |= (uint8) (0x80 >> b);
			}
		}
		in.ordering_key = CopyColumnText(i, 17);
		ValidateAndBuild(&in, &rows[i], now);
	}
	error_context_stack = errcb.previous;

	EnqueueRows(rows, n);

	/* rows live in SPI memory: hand the ids over before SPI_finish */
	for (i = 0; i < n; i++)
	{
		Datum		id = Int64GetDatum(rows[i].job_id);
		bool		isnull = false;

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &id, &isnull);
	}
	AwaSpiFinish();
	return (Datum) 0;
}
