/*-------------------------------------------------------------------------
 *
 * awa_planner.c
 *	  Settings of the statements the hot functions run.
 *
 * enqueue, claim_batch and complete_batch run their SPI statements with
 * search_path = pg_catalog, pg_temp (they are SECURITY DEFINER), generic
 * plans, no sequential scans and no JIT (design decisions 25 and 44).
 * These settings used to be function-level SET clauses, which the function
 * manager applies and undoes on every call, about 11,000 instructions per
 * call for SET search_path alone, although the common case of each of these
 * functions runs no statement at all and resolves no name (it reads and
 * writes through the access methods, by OID).  Now a hot function carries
 * no SET clause and opens a scope (AwaHotPlannerBegin / AwaHotPlannerEnd);
 * before the first statement run inside it the SPI layer calls
 * AwaHotPlannerApply, which opens a GUC nest level of the scope's own and
 * sets the four values there with GUC_ACTION_SAVE.  The scope's end
 * restores what the caller had (AtEOXact_GUC of that level), and an error
 * leaves it to the abort of the (sub)transaction, as it does for a SET
 * clause.  So the settings hold for every statement the function runs, and
 * for what those statements call, and never reach the caller.
 *
 * Scopes nest (a hot function may run inside a statement of another): they
 * are kept on a small stack in static memory, so that the abort callbacks
 * can drop the scopes of an aborted (sub)transaction without touching the
 * stack frames the error unwound.
 *
 * Copyright (c) 2026, awa_queue developers
 *
 * IDENTIFICATION
 *	  src/awa_planner.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "utils/guc.h"

#include "awa_queue.h"

/* deepest nesting of hot scopes (a hot function inside a hot statement) */
#define HOT_SCOPE_MAX 16

/* one open hot scope */
typedef struct HotScope
{
	SubTransactionId subxact;	/* the (sub)transaction it was opened in */
	int			guc_nestlevel;	/* its GUC nest level; 0 until applied */
} HotScope;

static HotScope hot_scopes[HOT_SCOPE_MAX];
static int	hot_scope_depth = 0;

/* the values every statement of a hot function runs with */
static const struct
{
	const char *name;
	const char *value;
}			hot_settings[] =
{
	{"search_path", "pg_catalog, pg_temp"},
	{"plan_cache_mode", "force_generic_plan"},
	{"enable_seqscan", "off"},
	{"jit", "off"},
};

/*
 * AwaHotPlannerBegin
 *		Open the hot-statement scope for the calling function; returns the
 *		depth to hand back to AwaHotPlannerEnd.  Sets nothing yet.  Takes no
 *		lock.
 */
int
AwaHotPlannerBegin(void)
{
	if (hot_scope_depth >= HOT_SCOPE_MAX)
		elog(ERROR, "awa_queue: hot functions nested more than %d deep",
			 HOT_SCOPE_MAX);
	hot_scopes[hot_scope_depth].subxact = GetCurrentSubTransactionId();
	hot_scopes[hot_scope_depth].guc_nestlevel = 0;
	return hot_scope_depth++;
}

/*
 * AwaHotPlannerEnd
 *		Close the scope AwaHotPlannerBegin opened at "depth" (on the normal
 *		return of the function), restoring the settings the caller had if a
 *		statement applied them.
 */
void
AwaHotPlannerEnd(int depth)
{
	Assert(depth == hot_scope_depth - 1);
	if (hot_scopes[depth].guc_nestlevel > 0)
		AtEOXact_GUC(true, hot_scopes[depth].guc_nestlevel);
	hot_scope_depth = depth;
}

/*
 * AwaHotPlannerApply
 *		Inside a hot scope, make sure the next statement is parsed, planned
 *		and run with the hot settings.  Outside one, and once applied, it
 *		only reads two variables.  Takes no lock.
 */
void
AwaHotPlannerApply(void)
{
	HotScope   *scope;
	int			i;

	if (hot_scope_depth == 0)
		return;
	scope = &hot_scopes[hot_scope_depth - 1];
	if (scope->guc_nestlevel > 0)
		return;
	scope->guc_nestlevel = NewGUCNestLevel();
	for (i = 0; i < (int) lengthof(hot_settings); i++)
		(void) set_config_option(hot_settings[i].name, hot_settings[i].value,
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
								 true, 0, false);
}

/*
 * HotPlannerXactCallback / HotPlannerSubXactCallback
 *		Drop the scopes of functions that failed: those opened in a
 *		subtransaction at its abort, and whatever is left at the end of the
 *		transaction (after an abort; a commit finds none).  The abort itself
 *		undoes their GUC nest levels.
 */
static void
HotPlannerXactCallback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_PREPARE)
		hot_scope_depth = 0;
}

static void
HotPlannerSubXactCallback(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	if (event != SUBXACT_EVENT_ABORT_SUB)
		return;
	while (hot_scope_depth > 0 &&
		   hot_scopes[hot_scope_depth - 1].subxact >= mySubid)
		hot_scope_depth--;
}

/*
 * AwaPlannerInit
 *		Register the abort callbacks; called from _PG_init.
 */
void
AwaPlannerInit(void)
{
	RegisterXactCallback(HotPlannerXactCallback, NULL);
	RegisterSubXactCallback(HotPlannerSubXactCallback, NULL);
}
