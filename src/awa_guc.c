/*-------------------------------------------------------------------------
 *
 * awa_guc.c
 *	  Settings (GUCs) of the awa_queue extension.
 *
 * All settings carry the "awa." prefix, which is reserved once they are
 * defined.  doc/awa_queue.md has the settings table.
 *
 * Copyright (c) 2026, awa_queue developers
 *
 * IDENTIFICATION
 *	  src/awa_guc.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/guc.h"

#include "awa_queue.h"

int			awa_heartbeat_staleness_secs = 90;
int			awa_prune_lock_timeout_ms = 50;
int			awa_backoff_cap_secs = 86400;
int			awa_maintenance_max_prunes = 4;
int			awa_claim_busy_wait_ms = 5;
bool		awa_direct_writes = true;

/*
 * AwaGucInit
 *		Define the extension's settings; called from _PG_init.
 */
void
AwaGucInit(void)
{
	DefineCustomIntVariable("awa.heartbeat_staleness",
							gettext_noop("Seconds without a heartbeat after which rescue_expired takes a running attempt back."),
							gettext_noop("Counted from the last heartbeat, or from the claim when the attempt never heartbeat."),
							&awa_heartbeat_staleness_secs,
							90, 1, 7 * 86400,
							PGC_USERSET, GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("awa.prune_lock_timeout",
							gettext_noop("Longest wait, in milliseconds, for the exclusive lock prune needs on a ring partition."),
							gettext_noop("A prune that cannot get the lock in time returns 'blocked' instead of waiting."),
							&awa_prune_lock_timeout_ms,
							50, 1, 50,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("awa.backoff_cap",
							gettext_noop("Upper bound, in seconds, of the retry backoff after a failed attempt."),
							NULL,
							&awa_backoff_cap_secs,
							86400, 1, 30 * 86400,
							PGC_USERSET, GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("awa.maintenance_max_prunes",
							gettext_noop("How many queue-ring and claim-ring prunes one awa.maintenance() call may run."),
							NULL,
							&awa_maintenance_max_prunes,
							4, 1, 64,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("awa.claim_busy_wait",
							gettext_noop("How long, in milliseconds, claim_batch keeps trying when every lane with available jobs is held by another claimer."),
							gettext_noop("A claim never waits on a row lock: it repeats its SKIP LOCKED pick every 200 microseconds until a lane is free or this time is up, then returns what it has. 0 returns at once."),
							&awa_claim_busy_wait_ms,
							5, 0, 100,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("awa.direct_writes",
							 gettext_noop("Write the rows of an enqueue and a claim with table access method calls instead of SQL statements where the call allows it."),
							 gettext_noop("Off runs the SQL statements every time: same rows, same locks, more CPU. For comparisons and diagnosis."),
							 &awa_direct_writes,
							 true,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);

	MarkGUCPrefixReserved("awa");
}
