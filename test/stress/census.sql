-- test/stress/census.sql -- where every job is, read from the tables themselves
--
-- storm.census(job_id, state): one row per physical place a job occupies.
-- A job must occupy exactly one; the storm and crash tests compare this
-- with their ledgers.  The definitions follow doc/design.md ("Where a job
-- is, by state"); a lane without a claim-head row has claimed nothing.
CREATE SCHEMA IF NOT EXISTS storm;
CREATE OR REPLACE VIEW storm.census AS
SELECT r.job_id, r.queue, 'available'::text AS state
FROM awa.ready_entries AS r
LEFT JOIN awa.queue_claim_heads AS h USING (queue, priority, enqueue_shard)
WHERE r.lane_seq >= coalesce(h.claim_seq, 0)
UNION ALL
SELECT c.job_id, c.queue, 'running'
FROM awa.lease_claims AS c
WHERE NOT EXISTS (SELECT 1 FROM awa.lease_claim_closures AS x
				  WHERE x.job_id = c.job_id AND x.run_lease = c.run_lease
					AND x.claim_slot = c.claim_slot)
UNION ALL
SELECT d.job_id, d.queue, d.state::text FROM awa.deferred_jobs AS d
UNION ALL
SELECT e.job_id, e.queue, e.state::text FROM awa.done_entries AS e
UNION ALL
SELECT q.job_id, q.queue, 'dlq' FROM awa.dlq_entries AS q;

-- per queue, in the shape of awa.queue_counts (terminal without rollups)
CREATE OR REPLACE VIEW storm.census_counts AS
SELECT queue,
	   count(*) FILTER (WHERE state = 'available') AS available,
	   count(*) FILTER (WHERE state = 'scheduled') AS scheduled,
	   count(*) FILTER (WHERE state = 'retryable') AS retryable,
	   count(*) FILTER (WHERE state = 'running') AS running,
	   count(*) FILTER (WHERE state IN ('completed', 'failed', 'cancelled')) AS terminal,
	   count(*) FILTER (WHERE state = 'dlq') AS dlq
FROM storm.census GROUP BY queue;
