-- counts: queue_counts.available from the lane heads minus awa.ready_holes,
-- checked against the real count after cancel / compat DELETE in the middle
-- and at the head of a lane, claim gap recovery past a hole, rollback, and
-- the maintenance clean-up of holes below claim_seq.
\set VERBOSITY terse
SET client_min_messages = warning;
TRUNCATE awa.ready_entries, awa.done_entries, awa.deferred_jobs, awa.lease_claims,
	awa.lease_claim_closures, awa.queue_enqueue_heads, awa.queue_claim_heads, awa.ready_holes,
	awa.job_unique_claims, awa.queue_terminal_live_counts, awa.queue_meta,
	awa.queue_ring_state, awa.claim_ring_state, awa.queue_terminal_rollups;
SELECT pg_catalog.setval('awa.job_id_seq', 1, false);

-- per queue: queue_counts.available next to the ready rows at or above
-- claim_seq, counted directly; plus the lanes verify_available_counts flags
CREATE FUNCTION pg_temp.avail() RETURNS TABLE (queue text, counted bigint, actual bigint, drifted_lanes bigint)
LANGUAGE sql AS $$
	SELECT c.queue, c.available,
		(SELECT pg_catalog.count(*) FROM awa.ready_entries AS r
		 JOIN awa.queue_claim_heads AS h USING (queue, priority, enqueue_shard)
		 WHERE r.queue = c.queue AND r.lane_seq >= h.claim_seq),
		(SELECT pg_catalog.count(*) FROM awa.verify_available_counts())
	FROM awa.queue_counts() AS c ORDER BY c.queue
$$;
CREATE FUNCTION pg_temp.lane() RETURNS TABLE (claim_seq bigint, next_seq bigint, holes bigint[])
LANGUAGE sql AS $$
	SELECT h.claim_seq, e.next_seq,
		ARRAY(SELECT o.lane_seq FROM awa.ready_holes AS o WHERE o.queue = 'cq' ORDER BY 1)
	FROM awa.queue_claim_heads AS h JOIN awa.queue_enqueue_heads AS e USING (queue, priority, enqueue_shard)
	WHERE h.queue = 'cq'
$$;

-- five jobs in one lane (job id = lane_seq)
SELECT pg_catalog.count(*) FROM awa.enqueue_many(
	(SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('kind', 'c' || g, 'queue', 'cq'))
	 FROM pg_catalog.generate_series(1, 5) AS g));
SELECT * FROM pg_temp.avail();
SELECT * FROM pg_temp.lane();

-- cancel in the middle of the lane: a hole at 3, claim_seq stays
SELECT awa.cancel(3);
SELECT * FROM pg_temp.lane();
SELECT * FROM pg_temp.avail();

-- compat DELETE in the middle: a hole at 4
DELETE FROM awa.jobs WHERE id = 4;
SELECT * FROM pg_temp.lane();
SELECT * FROM pg_temp.avail();

-- compat DELETE at the head: claim_seq moves to the next row (2); the hole
-- at 1 is below it and no longer counted
SELECT awa.delete_job_compat(1);
SELECT * FROM pg_temp.lane();
SELECT * FROM pg_temp.avail();

-- a cancel rolled back leaves neither hole nor change
BEGIN;
SELECT awa.cancel(5);
SELECT * FROM pg_temp.avail();
ROLLBACK;
SELECT * FROM pg_temp.lane();
SELECT * FROM pg_temp.avail();

-- claim takes 2 and 5, skipping the holes 3 and 4
SELECT pg_catalog.string_agg(kind, ',' ORDER BY kind) FROM awa.claim_batch('cq', 10);
SELECT * FROM pg_temp.lane();
SELECT * FROM pg_temp.avail();

-- claim gap recovery past a hole: the last row (8) cancelled, the claim
-- finds fewer rows than it may take and moves claim_seq to next_seq (9)
SELECT pg_catalog.count(*) FROM awa.enqueue_many('[{"kind":"c6","queue":"cq"},{"kind":"c7","queue":"cq"},{"kind":"c8","queue":"cq"}]');
SELECT awa.cancel(8);
SELECT * FROM pg_temp.avail();
SELECT pg_catalog.string_agg(kind, ',' ORDER BY kind) FROM awa.claim_batch('cq', 10);
SELECT * FROM pg_temp.lane();
SELECT * FROM pg_temp.avail();

-- a live hole above claim_seq (10), then maintenance: the holes below
-- claim_seq (1, 3, 4, 8) go, the live one stays and is still subtracted
SELECT pg_catalog.count(*) FROM awa.enqueue_many('[{"kind":"c9","queue":"cq"},{"kind":"c10","queue":"cq"},{"kind":"c11","queue":"cq"}]');
SELECT awa.cancel(10);
SELECT * FROM pg_temp.avail();
SELECT (awa.maintenance() ->> 'holes_deleted')::integer AS holes_deleted;
SELECT * FROM pg_temp.lane();
SELECT * FROM pg_temp.avail();
SELECT (awa.maintenance() ->> 'holes_deleted')::integer AS holes_deleted_again;

-- several lanes (priorities and shards) in two queues, holes in some of them
SELECT awa.set_enqueue_shards('cq_sharded', 2);
SELECT pg_catalog.count(*) FROM awa.enqueue_many(
	(SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('kind', 's' || g, 'queue', 'cq_sharded',
		'priority', 1 + g % 3))
	 FROM pg_catalog.generate_series(1, 30) AS g));
SELECT pg_catalog.bool_and(awa.cancel(r.job_id)) AS cancelled
FROM awa.ready_entries AS r WHERE r.queue = 'cq_sharded' AND r.job_id % 4 = 0;
SELECT pg_catalog.count(*) AS deleted FROM awa.jobs WHERE queue = 'cq_sharded' AND id % 7 = 0 AND state = 'available';
DELETE FROM awa.jobs WHERE queue = 'cq_sharded' AND id % 7 = 0 AND state = 'available';
SELECT pg_catalog.count(*) FROM awa.claim_batch('cq_sharded', 5);
SELECT * FROM pg_temp.avail();
SELECT pg_catalog.count(DISTINCT (priority, enqueue_shard)) > 1 AS several_lanes_with_holes
FROM awa.ready_holes WHERE queue = 'cq_sharded';

-- the verifier catches a broken rule: a ready row removed behind the
-- extension's back (no hole) shows up as one drifted lane
BEGIN;
DELETE FROM awa.ready_entries WHERE queue = 'cq' AND kind = 'c11';
SELECT queue, priority, enqueue_shard, counted, actual FROM awa.verify_available_counts();
ROLLBACK;

SELECT pg_catalog.count(*) AS verify_drift FROM awa.verify_terminal_counters();
SELECT pg_catalog.count(*) AS available_drift FROM awa.verify_available_counts();
