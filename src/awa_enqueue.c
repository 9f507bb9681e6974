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
#include "utils/numeric.h"
#include "utils/varbit.h"

#include "awa_queue.h"

#define AWA_MAX_ATTEMPTS_LIMIT	1000
#define AWA_MAX_TAGS			20

/* the keys an enqueue_many element may have */
static const char *const job_keys[] = {
	"kind", "args", "queue", "priority", "run_at", "max_attempts",
	"metadata", "tags", "unique_key", "unique_states", "ordering_key"
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
	int			planner_scope;

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

	planner_scope = AwaHotPlannerBegin();
	AwaSpiConnect();
	EnqueueRows(&row, 1);
	AwaSpiFinish();
	AwaHotPlannerEnd(planner_scope);
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

/* the value of each known key of one jobs element; NULL = key absent */
typedef struct JobElement
{
	JsonbValue *values[lengthof(job_keys)];
} JobElement;

/*
 * JsonTypeName
 *		The jsonb_typeof() name of a JSON value.
 */
static const char *
JsonTypeName(JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return "null";
		case jbvString:
			return "string";
		case jbvNumeric:
			return "number";
		case jbvBool:
			return "boolean";
		case jbvBinary:
			return JsonContainerIsObject(v->val.binary.data) ? "object" : "array";
		default:
			return "unknown";
	}
}

/*
 * JsonValueText
 *		A JSON value as text, as the ->> operator gives it (a string
 *		unquoted, anything else in its JSON form); NULL for JSON null.
 */
static char *
JsonValueText(JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return NULL;
		case jbvString:
			return pnstrdup(v->val.string.val, v->val.string.len);
		case jbvNumeric:
			return DatumGetCString(DirectFunctionCall1(numeric_out,
													   NumericGetDatum(v->val.numeric)));
		case jbvBool:
			return pstrdup(v->val.boolean ? "true" : "false");
		case jbvBinary:
			return JsonbToCString(NULL, v->val.binary.data, v->val.binary.len);
		default:
			elog(ERROR, "awa_queue: unexpected jsonb value type %d", (int) v->type);
			return NULL;		/* keep compiler quiet */
	}
}

/*
 * JsonStringText
 *		A JSON string as a text datum.
 */
static text *
JsonStringText(JsonbValue *v)
{
	return cstring_to_text_with_len(v->val.string.val, v->val.string.len);
}

/*
 * ReadJobElement
 *		Sort the keys of one jobs element (a JSON object) into the known
 *		ones; 22023 naming the first unknown key (byte order) if any.
 */
static void
ReadJobElement(JsonbContainer *object, JobElement *el)
{
	JsonbIterator *it = JsonbIteratorInit(object);
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *unknown = NULL;
	int			current = -1;

	memset(el, 0, sizeof(JobElement));
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			int			k;

			current = -1;
			for (k = 0; k < (int) lengthof(job_keys) && current < 0; k++)
				if (v.val.string.len > 0 && job_keys[k][0] == v.val.string.val[0] &&
					strncmp(job_keys[k], v.val.string.val, v.val.string.len) == 0 &&
					job_keys[k][v.val.string.len] == '\0')
					current = k;
			if (current < 0)
			{
				char	   *key = pnstrdup(v.val.string.val, v.val.string.len);

				if (unknown == NULL || strcmp(key, unknown) < 0)
					unknown = key;
			}
		}
		else if (tok == WJB_VALUE && current >= 0)
		{
			el->values[current] = palloc(sizeof(JsonbValue));
			*el->values[current] = v;
		}
	}
	if (unknown != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown job key \"%s\"", unknown),
				 errhint("Known keys are kind, args, queue, priority, run_at, max_attempts, metadata, tags, unique_key, unique_states and ordering_key.")));
}

/* index of a key in job_keys */
enum
{
	KEY_KIND, KEY_ARGS, KEY_QUEUE, KEY_PRIORITY, KEY_RUN_AT, KEY_MAX_ATTEMPTS,
	KEY_METADATA, KEY_TAGS, KEY_UNIQUE_KEY, KEY_UNIQUE_STATES, KEY_ORDERING_KEY
};

/* the value of key k, or NULL when it is absent or JSON null */
static JsonbValue *
NonNull(JobElement *el, int k)
{
	JsonbValue *v = el->values[k];

	return (v == NULL || v->type == jbvNull) ? NULL : v;
}

/*
 * RequireJsonString
 *		22023 when key k is present and not a JSON string (null included).
 */
static void
RequireJsonString(JobElement *el, int k)
{
	if (el->values[k] != NULL && el->values[k]->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a JSON string", job_keys[k])));
}

/*
 * JsonTags
 *		The tags array of an element as text[] (each element as ->> gives
 *		it, JSON null as a NULL element, which validation rejects).
 */
static ArrayType *
JsonTags(JsonbValue *v)
{
	JsonbIterator *it = JsonbIteratorInit(v->val.binary.data);
	JsonbValue	e;
	JsonbIteratorToken tok;
	int			n = JsonContainerSize(v->val.binary.data);
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
	bool	   *nulls = palloc(sizeof(bool) * Max(n, 1));
	int			i = 0;
	int			dims[1];
	int			lbs[1] = {1};

	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
	{
		char	   *s;

		if (tok != WJB_ELEM)
			continue;
		s = JsonValueText(&e);
		nulls[i] = (s == NULL);
		elems[i] = s ? CStringGetTextDatum(s) : (Datum) 0;
		i++;
	}
	dims[0] = i;
	return construct_md_array(elems, nulls, i > 0 ? 1 : 0, dims, lbs,
							  TEXTOID, -1, false, TYPALIGN_INT);
}

/*
 * ElementToInput
 *		Fill a JobInput from one jobs element: the same defaults and the
 *		same checks, in the same order, as the arguments of awa.enqueue.
 */
static void
ElementToInput(JobElement *el, JobInput *in)
{
	JsonbValue *v;
	char	   *s;

	memset(in, 0, sizeof(JobInput));
	RequireJsonString(el, KEY_KIND);
	if (el->values[KEY_KIND] != NULL)
		in->kind = JsonStringText(el->values[KEY_KIND]);
	v = NonNull(el, KEY_ARGS);
	in->args = v ? JsonbValueToJsonb(v) :
		DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")));
	RequireJsonString(el, KEY_QUEUE);
	in->queue = el->values[KEY_QUEUE] ? JsonStringText(el->values[KEY_QUEUE]) :
		cstring_to_text("default");
	v = NonNull(el, KEY_PRIORITY);
	in->has_priority = true;
	in->priority = v ? ParseSmallInt(JsonValueText(v), JsonTypeName(v), "priority") : 2;
	v = NonNull(el, KEY_RUN_AT);
	in->has_run_at = (v != NULL);
	if (v != NULL)
		in->run_at = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in,
															 CStringGetDatum(JsonValueText(v)),
															 ObjectIdGetDatum(InvalidOid),
															 Int32GetDatum(-1)));
	v = NonNull(el, KEY_MAX_ATTEMPTS);
	in->has_max_attempts = true;
	in->max_attempts = v ? ParseSmallInt(JsonValueText(v), JsonTypeName(v),
										 "max_attempts") : 25;
	v = NonNull(el, KEY_METADATA);
	in->metadata = v ? JsonbValueToJsonb(v) : NULL;
	v = NonNull(el, KEY_TAGS);
	if (v != NULL && strcmp(JsonTypeName(v), "array") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tags must be a JSON array of strings")));
	in->tags = v ? JsonTags(v) : NULL;
	v = NonNull(el, KEY_UNIQUE_KEY);
	if (v != NULL)
	{
		s = JsonValueText(v);
		if (s[0] == '\\' && s[1] == 'x')
			in->unique_key = DatumGetByteaPP(DirectFunctionCall1(byteain,
																 CStringGetDatum(s)));
		else
			in->unique_key = (bytea *) cstring_to_text(s);
	}
	v = NonNull(el, KEY_UNIQUE_STATES);
	if (v != NULL)
	{
		int			b;

		s = JsonValueText(v);
		in->has_unique_states = true;
		in->unique_states_bits = strlen(s);
		for (b = 0; s[b] != '\0'; b++)
		{
			if (s[b] != '0' && s[b] != '1')
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unique_states must be a string of 8 characters 0 or 1")));
			if (b < 8 && s[b] == '1')
				in->unique_mask |= (uint8) (0x80 >> b);
		}
	}
	v = NonNull(el, KEY_ORDERING_KEY);
	in->ordering_key = v ? cstring_to_text(JsonValueText(v)) : NULL;
}

/*
 * awa_enqueue_many
 *		awa.enqueue_many(jobs jsonb) RETURNS SETOF bigint
 *
 * A JSON array of objects with the keys of awa.enqueue (unknown keys are
 * an error).  Reads and validates every element first (in C, one pass
 * over each object's keys), then writes them all with one head advance
 * per lane and one ready insert; returns the ids in input order.
 */
PG_FUNCTION_INFO_V1(awa_enqueue_many);
Datum
awa_enqueue_many(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Jsonb	   *jobs;
	AwaJobRow  *rows;
	int			n;
	int			i;
	TimestampTz now = AwaNow();
	ErrorContextCallback errcb;
	int			current = 0;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	RequireNotNull(PG_ARGISNULL(0), "jobs");
	jobs = PG_GETARG_JSONB_P(0);
	if (!JB_ROOT_IS_ARRAY(jobs) || JB_ROOT_IS_SCALAR(jobs))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("jobs must be a JSON array of objects")));

	n = JB_ROOT_COUNT(jobs);
	rows = palloc(sizeof(AwaJobRow) * Max(n, 1));
	errcb.callback = EnqueueManyErrorContext;
	errcb.arg = &current;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	it = JsonbIteratorInit(&jobs->root);
	i = 0;
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		JobElement	el;
		JobInput	in;

		if (tok != WJB_ELEM)
			continue;
		current = i + 1;
		if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("jobs must be a JSON array of objects"),
					 errdetail("Element %d is a JSON %s.", i + 1, JsonTypeName(&v))));
		ReadJobElement(v.val.binary.data, &el);
		ElementToInput(&el, &in);
		ValidateAndBuild(&in, &rows[i], now);
		i++;
	}
	error_context_stack = errcb.previous;

	AwaSpiConnect();
	EnqueueRows(rows, n);
	AwaSpiFinish();

	for (i = 0; i < n; i++)
	{
		Datum		id = Int64GetDatum(rows[i].job_id);
		bool		isnull = false;

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &id, &isnull);
	}
	return (Datum) 0;
}
