/*-------------------------------------------------------------------------
 *
 * awa_spi.c
 *	  The SPI layer every awa_queue function runs its SQL through.
 *
 * Hot statements are prepared once per backend, kept with SPI_keepplan and
 * reused; every execution is checked against the exact SPI_OK_* code the
 * caller expects.  Values always travel as $n parameters: no function of
 * the extension formats a value into SQL text.
 *
 * Copyright (c) 2026, awa_queue developers
 *
 * IDENTIFICATION
 *	  src/awa_spi.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/lsyscache.h"

#include "awa_queue.h"

/*
 * AwaSpiConnect
 *		Open an SPI connection for the current C entry point.
 *
 * Every SQL-callable function brackets its work with AwaSpiConnect() and
 * AwaSpiFinish(); a failure here is an internal error.
 */
void
AwaSpiConnect(void)
{
	int			rc = SPI_connect();

	if (rc != SPI_OK_CONNECT)
		elog(ERROR, "awa_queue: SPI_connect failed: %s",
			 SPI_result_code_string(rc));
}

/*
 * AwaSpiFinish
 *		Close the SPI connection opened by AwaSpiConnect().
 *
 * Anything palloc'd inside SPI (tuple tables, SPI_getvalue strings) is gone
 * afterwards: callers copy by-reference results out first (AwaSpiCopyDatum).
 */
void
AwaSpiFinish(void)
{
	int			rc = SPI_finish();

	if (rc != SPI_OK_FINISH)
		elog(ERROR, "awa_queue: SPI_finish failed: %s",
			 SPI_result_code_string(rc));
}

/*
 * AwaPlanGet
 *		Return the kept plan of a statement, preparing it on first use.
 *
 * The plan survives SPI_finish (SPI_keepplan moves it under
 * CacheMemoryContext) and is revalidated by the plan cache when the
 * objects it refers to change, so DROP/CREATE EXTENSION in the same
 * backend is safe.
 */
SPIPlanPtr
AwaPlanGet(AwaPlan *plan)
{
	if (plan->plan == NULL)
	{
		SPIPlanPtr	prepared;

		prepared = SPI_prepare(plan->sql, plan->nargs, plan->argtypes);
		if (prepared == NULL)
			elog(ERROR, "awa_queue: SPI_prepare failed: %s\nstatement: %s",
				 SPI_result_code_string(SPI_result), plan->sql);
		if (SPI_keepplan(prepared) != 0)
			elog(ERROR, "awa_queue: SPI_keepplan failed");
		plan->plan = prepared;
	}
	return plan->plan;
}

/*
 * AwaPlanExec
 *		Execute a kept plan and check its result code.
 *
 * "nulls" uses the SPI convention (' ' for not null, 'n' for null) and may
 * be NULL when no argument is null.  Returns SPI_processed.  A result code
 * other than "expected" is an internal error naming the statement.
 */
int
AwaPlanExec(AwaPlan *plan, Datum *values, const char *nulls,
			bool read_only, long tcount, int expected)
{
	int			rc;

	AwaHotPlannerApply();
	rc = SPI_execute_plan(AwaPlanGet(plan), values, nulls, read_only, tcount);
	if (rc != expected)
		elog(ERROR, "awa_queue: statement returned %s, expected %s\nstatement: %s",
			 SPI_result_code_string(rc), SPI_result_code_string(expected),
			 plan->sql);
	return (int) SPI_processed;
}

/*
 * AwaSqlExec
 *		Execute a one-off statement with parameters and check its result.
 *
 * For cold paths (administration, maintenance) whose statements are not
 * worth a kept plan, or whose text names a partition.  Returns
 * SPI_processed.
 */
int
AwaSqlExec(const char *sql, int nargs, Oid *argtypes, Datum *values,
		   const char *nulls, bool read_only, long tcount, int expected)
{
	int			rc;

	AwaHotPlannerApply();
	rc = SPI_execute_with_args(sql, nargs, argtypes, values, nulls,
							   read_only, tcount);
	if (rc != expected)
		elog(ERROR, "awa_queue: statement returned %s, expected %s\nstatement: %s",
			 SPI_result_code_string(rc), SPI_result_code_string(expected),
			 sql);
	return (int) SPI_processed;
}

/*
 * AwaSpiGetDatum
 *		Column "col" (1-based) of row "row" of the last SPI result.
 *
 * The datum points into SPI memory when by reference; see AwaSpiCopyDatum
 * for a copy that outlives SPI_finish.
 */
Datum
AwaSpiGetDatum(int row, int col, bool *isnull)
{
	if (SPI_tuptable == NULL || row < 0 || (uint64) row >= SPI_processed)
		elog(ERROR, "awa_queue: SPI result row %d out of range", row);
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
						 col, isnull);
}

/*
 * AwaSpiDeformRow
 *		Every column of row "row" of the last SPI result into values/nulls
 *		(arrays of at least the result's column count), in one pass over
 *		the tuple: reading many columns one by one re-walks the varlena
 *		columns before each of them.  By-reference values point into SPI
 *		memory, as with AwaSpiGetDatum.
 */
void
AwaSpiDeformRow(int row, Datum *values, bool *nulls)
{
	if (SPI_tuptable == NULL || row < 0 || (uint64) row >= SPI_processed)
		elog(ERROR, "awa_queue: SPI result row %d out of range", row);
	heap_deform_tuple(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
					  values, nulls);
}

/*
 * AwaSpiGetInt64
 *		Column "col" of row "row" as int64 (the column must be int8, int4 or
 *		int2), or "if_null" when it is NULL.
 */
int64
AwaSpiGetInt64(int row, int col, int64 if_null)
{
	bool		isnull;
	Datum		d = AwaSpiGetDatum(row, col, &isnull);
	Oid			typid = SPI_gettypeid(SPI_tuptable->tupdesc, col);

	if (isnull)
		return if_null;
	switch (typid)
	{
		case INT8OID:
			return DatumGetInt64(d);
		case INT4OID:
			return (int64) DatumGetInt32(d);
		case INT2OID:
			return (int64) DatumGetInt16(d);
		default:
			elog(ERROR, "awa_queue: column %d has type %u, not an integer",
				 col, typid);
	}
	return if_null;				/* keep compiler quiet */
}

/*
 * AwaSpiCopyDatum
 *		Like AwaSpiGetDatum, but copies a by-reference value into the memory
 *		context that was current before SPI_connect, so that it survives
 *		SPI_finish.
 */
Datum
AwaSpiCopyDatum(int row, int col, bool *isnull)
{
	Datum		d = AwaSpiGetDatum(row, col, isnull);
	int16		typlen;
	bool		typbyval;

	if (*isnull)
		return (Datum) 0;
	get_typlenbyval(SPI_gettypeid(SPI_tuptable->tupdesc, col),
					&typlen, &typbyval);
	if (typbyval)
		return d;
	return SPI_datumTransfer(d, typbyval, typlen);
}
