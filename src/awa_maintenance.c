/*-------------------------------------------------------------------------
 *
 * awa_maintenance.c
 *	  awa.maintenance(): one bounded maintenance tick, for pg_cron.
 *
 * A tick rotates and prunes the queue ring, then rotates and prunes the
 * claim ring (at most awa.maintenance_max_prunes prunes per ring, stopping
 * at the first prune that does not return "pruned"), then deletes up to
 * AWA_HOLES_PER_TICK ready holes that fell below their lane's claim_seq
 * (awa_unclaimed.c), and reports what it did as jsonb.  Ticks from several sessions never overlap: the second one
 * returns {"skipped": "busy"} at once instead of waiting.
 *
 * Copyright (c) 2026, awa_queue developers
 *
 * IDENTIFICATION
 *	  src/awa_maintenance.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#include "awa_queue.h"

/* ready holes below claim_seq deleted per tick, at most */
#define AWA_HOLES_PER_TICK 10000

/* pg_try_advisory_xact_lock on the maintenance key: one tick at a time */
static AwaPlan maintenance_lock_plan = {
	.sql = "SELECT pg_catalog.pg_try_advisory_xact_lock("
	"pg_catalog.hashtextextended('awa.maintenance', 0))",
	.nargs = 0
};

/*
 * TickAddStatus
 *		Append `, "key": "status"` (or the first member without the comma)
 *		to the summary object being built.
 */
static void
TickAddStatus(StringInfo buf, const char *key, const char *status)
{
	if (buf->len > 1)
		appendStringInfoString(buf, ", ");
	escape_json(buf, key);
	appendStringInfoString(buf, ": ");
	escape_json(buf, status);
}

/*
 * TickPruneLoop
 *		Run one ring's prune up to awa.maintenance_max_prunes times, stopping
 *		at the first status other than "pruned", and append the statuses as
 *		a JSON array under "key".
 */
static void
TickPruneLoop(StringInfo buf, const char *key, AwaRingOp op)
{
	int			i;

	if (buf->len > 1)
		appendStringInfoString(buf, ", ");
	escape_json(buf, key);
	appendStringInfoString(buf, ": [");
	for (i = 0; i < awa_maintenance_max_prunes; i++)
	{
		const char *status = AwaRingStep(op, true);

		if (i > 0)
			appendStringInfoString(buf, ", ");
		escape_json(buf, status);
		if (strcmp(status, "pruned") != 0)
			break;
	}
	appendStringInfoChar(buf, ']');
}

/*
 * awa_maintenance
 *		awa.maintenance() RETURNS jsonb
 *
 * One tick, in the caller's transaction: rotate, prune (queue ring), then
 * rotate_claims, prune_claims (claim ring).  Locking contract: first
 * pg_try_advisory_xact_lock on the maintenance key (busy -> return
 * {"skipped": "busy"}, no wait); then each step's own ring locks (see
 * awa_ring.c).  The queue ring-state row is always taken before the claim
 * ring-state row, and this tick is the only transaction that holds both
 * (doc/design.md 2.10).  Last, the hole clean-up deletes dead hole rows
 * only (no lock on the claim heads it reads).  Returns e.g.
 * {"rotate": "rotated", "prune": ["pruned", "noop"],
 *	"rotate_claims": "skipped_busy", "prune_claims": ["noop"],
 *	"holes_deleted": 3}.
 *
 * promote_due(max_jobs) and rescue_expired(max_jobs) (issue 4) join the
 * tick right after the advisory lock, one line each, e.g.
 *	appendStringInfo(&buf, "\"promoted\": %d, ", AwaPromoteDue(4096));
 */
PG_FUNCTION_INFO_V1(awa_maintenance);
Datum
awa_maintenance(PG_FUNCTION_ARGS)
{
	StringInfoData buf;
	bool		isnull;
	Datum		locked;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	AwaSpiConnect();
	AwaPlanExec(&maintenance_lock_plan, NULL, NULL, false, 0, SPI_OK_SELECT);
	locked = AwaSpiGetDatum(0, 1, &isnull);
	if (isnull || !DatumGetBool(locked))
		TickAddStatus(&buf, "skipped", "busy");
	else
	{
		TickAddStatus(&buf, "rotate", AwaRingStep(AWA_RING_ROTATE, true));
		TickPruneLoop(&buf, "prune", AWA_RING_PRUNE);
		TickAddStatus(&buf, "rotate_claims", AwaRingStep(AWA_RING_ROTATE_CLAIMS, true));
		TickPruneLoop(&buf, "prune_claims", AWA_RING_PRUNE_CLAIMS);
		appendStringInfo(&buf, ", \"holes_deleted\": " INT64_FORMAT,
						 AwaHolesCollect(AWA_HOLES_PER_TICK));
	}
	AwaSpiFinish();
	appendStringInfoChar(&buf, '}');
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}
