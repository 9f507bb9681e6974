/*-------------------------------------------------------------------------
 *
 * awa_planner.c
 *	  Planner settings of the statements the hot functions run.
 *
 * enqueue, claim_batch and complete_batch run their SPI statements with
 * generic plans, without sequential scans and without JIT (design decision
 * 25).  These settings used to be function-level SET clauses, which the
 * function manager applies and undoes on every call, about 10,000
 * instructions per call, although the common case of each of these
 * functions runs no statement at all (it reads and writes through the
 * access methods).  Now a hot function opens a scope (AwaHotPlannerBegin /
 * AwaHotPlannerEnd) and the SPI layer applies the settings before the first
 * statement run inside it (AwaHotPlannerApply), with GUC_ACTION_SAVE at the
 * function's own GUC nest level: the SET search_path clause every SECURITY
 * DEFINER function keeps gives it one, and the function manager restores
 * the saved values when the function returns, and the transaction or
 * subtransaction abort when it fails.  So, exactly as with the SET clauses,
 * the settings hold for every statement the function runs (and for what
 * those statements call) and never reach the caller.
 *
 * The scope itself is a backend-local flag.  A scope ended by an error is
 * closed by the abort of the (sub)transaction it was opened in.
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
#include "jit/jit.h"
#include "optimizer/cost.h"
#include "utils/guc.h"
#include "utils/plancache.h"

#include "awa_queue.h"

/* the subtransaction a hot scope was opened in; Invalid when none is open */
static SubTransactionId hot_scope_subxact = InvalidSubTransactionId;

/*
 * AwaHotPlannerBegin
 *		Open the hot-statement scope for the calling function; returns the
 *		state to hand back to AwaHotPlannerEnd (scopes nest).  Takes no lock.
 */
SubTransactionId
AwaHotPlannerBegin(void)
{
	SubTransactionId outer = hot_scope_subxact;

	hot_scope_subxact = GetCurrentSubTransactionId();
	return outer;
}

/*
 * AwaHotPlannerEnd
 *		Close the scope opened by AwaHotPlannerBegin.  The settings already
 *		applied stay until the function returns (its GUC nest level).
 */
void
AwaHotPlannerEnd(SubTransactionId outer)
{
	hot_scope_subxact = outer;
}

/*
 * AwaHotPlannerApply
 *		Inside a hot scope, make sure the next statement is planned and run
 *		with the hot settings.  Outside one, and once applied, it only
 *		compares three variables.  Takes no lock.
 */
void
AwaHotPlannerApply(void)
{
	if (hot_scope_subxact == InvalidSubTransactionId)
		return;
	if (plan_cache_mode != PLAN_CACHE_MODE_FORCE_GENERIC_PLAN)
		(void) set_config_option("plan_cache_mode", "force_generic_plan",
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
								 true, 0, false);
	if (enable_seqscan)
		(void) set_config_option("enable_seqscan", "off",
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
								 true, 0, false);
	if (jit_enabled)
		(void) set_config_option("jit", "off",
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
								 true, 0, false);
}

/*
 * HotPlannerXactCallback / HotPlannerSubXactCallback
 *		Close a scope whose function failed: at the abort of the transaction,
 *		or of the subtransaction the scope was opened in.
 */
static void
HotPlannerXactCallback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		hot_scope_subxact = InvalidSubTransactionId;
}

static void
HotPlannerSubXactCallback(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB && mySubid == hot_scope_subxact)
		hot_scope_subxact = InvalidSubTransactionId;
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
