/*-------------------------------------------------------------------------
 *
 * awa_validate.c
 *	  Input validation shared by every SQL-callable function.
 *
 * Each check raises a clear ERROR with a real SQLSTATE before the caller
 * writes anything.
 *
 * Copyright (c) 2026, awa_queue developers
 *
 * IDENTIFICATION
 *	  src/awa_validate.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "awa_queue.h"

/*
 * AwaValidateName
 *		Check a queue or kind name: not NULL (callers pass NULL as is), not
 *		empty, at most AWA_NAME_MAX_BYTES bytes.
 *
 * Any other character, quotes and semicolons included, is allowed: names
 * only ever travel as parameters.
 */
void
AwaValidateName(text *value, const char *what)
{
	int			len;

	if (value == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
	len = VARSIZE_ANY_EXHDR(value);
	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be empty", what)));
	if (len > AWA_NAME_MAX_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is too long", what),
				 errdetail("The %s has %d bytes; the limit is %d.",
						   what, len, AWA_NAME_MAX_BYTES)));
}

/*
 * AwaValidatePriority
 *		Priorities run from 1 (most urgent) to 4.
 */
void
AwaValidatePriority(int priority)
{
	if (priority < AWA_PRIORITY_MIN || priority > AWA_PRIORITY_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("priority must be between %d and %d",
						AWA_PRIORITY_MIN, AWA_PRIORITY_MAX),
				 errdetail("The priority given was %d.", priority)));
}

/*
 * AwaValidateShards
 *		A queue has 1 to 64 enqueue shards per priority.
 */
void
AwaValidateShards(int shards)
{
	if (shards < 1 || shards > AWA_SHARDS_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("enqueue shards must be between 1 and %d",
						AWA_SHARDS_MAX),
				 errdetail("The value given was %d.", shards)));
}

/*
 * AwaArrayLengthChecked
 *		Number of elements of a one-dimensional array without NULL elements.
 *
 * An empty array has length 0.  A multi-dimensional array or a NULL
 * element is an error (22023).
 */
int
AwaArrayLengthChecked(ArrayType *arr, const char *what)
{
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a one-dimensional array", what)));
	if (array_contains_nulls(arr))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not contain null elements", what)));
	return ARR_NDIM(arr) == 0 ? 0 : ARR_DIMS(arr)[0];
}

/*
 * AwaInt8ArrayValues
 *		The elements of a bigint[] already checked by AwaArrayLengthChecked
 *		(one dimension, no NULLs), as a palloc'd int64 array; *n is set to
 *		their number.
 */
int64 *
AwaInt8ArrayValues(ArrayType *arr, int *n)
{
	Datum	   *elems;
	int64	   *values;
	int			i;

	deconstruct_array(arr, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &elems, NULL, n);
	values = palloc(sizeof(int64) * Max(*n, 1));
	for (i = 0; i < *n; i++)
		values[i] = DatumGetInt64(elems[i]);
	return values;
}

/*
 * AwaValidateParallelArrays
 *		Two arrays that describe the same items (job_ids and run_leases)
 *		must have the same length and no NULL elements.
 */
void
AwaValidateParallelArrays(ArrayType *a, ArrayType *b,
						  const char *a_name, const char *b_name)
{
	int			na = AwaArrayLengthChecked(a, a_name);
	int			nb = AwaArrayLengthChecked(b, b_name);

	if (na != nb)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s and %s must have the same length", a_name, b_name),
				 errdetail("%s has %d elements and %s has %d.",
						   a_name, na, b_name, nb)));
}

/*
 * AwaRequireNotNull
 *		Raise 22004 "<what> must not be null" when isnull; for arguments of
 *		non-STRICT functions, checked before anything is written.
 */
void
AwaRequireNotNull(bool isnull, const char *what)
{
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
}

/*
 * AwaValidateRange
 *		An integer argument ("max_jobs", ...) must lie in [min, max] (22023).
 */
void
AwaValidateRange(int value, int min, int max, const char *what)
{
	if (value < min || value > max)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between %d and %d", what, min, max),
				 errdetail("The value given was %d.", value)));
}
