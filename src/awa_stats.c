/*-------------------------------------------------------------------------
 *
 * awa_stats.c
 *	  Per-backend counters of the hot paths, exposed by awa.backend_stats().
 *
 * The counters say which statement shapes ran (fused completion in the
 * current claim slot, the other-slot pass, fused enqueue, per-lane head
 * advances, claim statements), so that tests can assert that the fast
 * path really ran and operators can see it in a session.  They live in
 * backend memory only and cost one increment each.
 *
 * Copyright (c) 2026, awa_queue developers
 *
 * IDENTIFICATION
 *	  src/awa_stats.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"

#include "awa_queue.h"

AwaBackendStats awa_backend_stats;

/*
 * awa_backend_stats
 *		awa.backend_stats() RETURNS TABLE(name text, value bigint)
 *
 * The hot-path counters of the calling backend since it loaded the
 * library.  Takes no lock.
 */
PG_FUNCTION_INFO_V1(awa_backend_stats_fn);
Datum
awa_backend_stats_fn(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	struct
	{
		const char *name;
		int64		value;
	}			items[] = {
		{"enqueue_fused_statements", awa_backend_stats.enqueue_fused_statements},
		{"enqueue_lane_statements", awa_backend_stats.enqueue_lane_statements},
		{"enqueue_direct_rows", awa_backend_stats.enqueue_direct_rows},
		{"enqueue_remembered_heads", awa_backend_stats.enqueue_remembered_heads},
		{"claim_lane_statements", awa_backend_stats.claim_lane_statements},
		{"claim_general_statements", awa_backend_stats.claim_general_statements},
		{"claim_busy_retries", awa_backend_stats.claim_busy_retries},
		{"claim_near_picks", awa_backend_stats.claim_near_picks},
		{"claim_empty_skips", awa_backend_stats.claim_empty_skips},
		{"claim_direct_picks", awa_backend_stats.claim_direct_picks},
		{"claim_planned_picks", awa_backend_stats.claim_planned_picks},
		{"claim_direct_lanes", awa_backend_stats.claim_direct_lanes},
		{"complete_fused_statements", awa_backend_stats.complete_fused_statements},
		{"complete_fused_jobs", awa_backend_stats.complete_fused_jobs},
		{"complete_prelocked_passes", awa_backend_stats.complete_prelocked_passes},
		{"complete_direct_passes", awa_backend_stats.complete_direct_passes},
		{"counter_direct_groups", awa_backend_stats.counter_direct_groups},
		{"complete_key_walks", awa_backend_stats.complete_key_walks},
		{"complete_slot_pass_statements", awa_backend_stats.complete_slot_pass_statements},
		{"complete_slot_pass_jobs", awa_backend_stats.complete_slot_pass_jobs},
		{"complete_unique_sync_jobs", awa_backend_stats.complete_unique_sync_jobs},
	};
	size_t		i;

	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < lengthof(items); i++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = CStringGetTextDatum(items[i].name);
		values[1] = Int64GetDatum(items[i].value);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
