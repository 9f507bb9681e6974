-- cancel: every non-terminal state, terminal and unknown jobs, head advance, notify, unique claims
\set VERBOSITY terse
SET client_min_messages = warning;
\set ECHO none
\ir test/failure_invariants.sql
\set ECHO all
SELECT pg_temp.reset();
CREATE FUNCTION pg_temp.head(q text) RETURNS bigint LANGUAGE sql AS $$
	SELECT claim_seq FROM awa.queue_claim_heads WHERE queue = q AND priority = 2 AND enqueue_shard = 0
$$;

-- available, at the claim head: wide cancelled row with the same ready key, head moves past it
SELECT awa.enqueue('a1', '{"x":1}', queue => 'cq', unique_key => '\x0a') AS a1 \gset
SELECT awa.enqueue('a2', queue => 'cq') AS a2 \gset
SELECT awa.enqueue('a3', queue => 'cq') AS a3 \gset
SELECT pg_temp.head('cq') AS head_before;
SELECT awa.cancel(:a1) AS cancelled_head;
SELECT pg_temp.head('cq') AS head_after;
SELECT job_id = :a1 AS is_a1, state, lane_seq, args, max_attempts, created_at IS NOT NULL AS wide
FROM awa.done_entries;
SELECT pg_catalog.count(*) AS ready_rows_left FROM awa.ready_entries WHERE job_id = :a1;
SELECT pg_catalog.count(*) AS unique_claims FROM awa.job_unique_claims;
SELECT pg_temp.inv();
-- available behind the head: the head stays, the claimer skips the gap
SELECT awa.cancel(:a3) AS cancelled_behind;
SELECT pg_temp.head('cq') AS head_unchanged;
SELECT job_id = :a2 AS claims_a2 FROM awa.claim_batch('cq', 10);
SELECT pg_temp.inv();
SELECT * FROM awa.queue_counts('cq');

-- scheduled and retryable: wide synthetic row, current queue slot, shard 0, lane_seq = -job_id
SELECT awa.enqueue('s', queue => 'cq', run_at => pg_catalog.now() + interval '1 hour', unique_key => '\x0b') AS s1 \gset
SELECT awa.enqueue('r', queue => 'cq') AS r1 \gset
SELECT pg_catalog.count(*) FROM awa.claim_batch('cq', 1);
SELECT awa.retry_after(:r1, 1, '1 hour');
SELECT pg_temp.job_state(:s1) AS s1_state, pg_temp.job_state(:r1) AS r1_state;
SELECT awa.cancel(:s1) AS cancelled_scheduled, awa.cancel(:r1) AS cancelled_retryable;
SELECT job_id = :s1 AS is_s1, state, lane_seq = -job_id AS synthetic_seq, enqueue_shard, ready_slot,
	attempt, run_lease, args IS NOT NULL AS wide
FROM awa.done_entries WHERE job_id IN (:s1, :r1) ORDER BY job_id;
SELECT pg_catalog.count(*) AS deferred_left FROM awa.deferred_jobs;
SELECT pg_catalog.count(*) AS unique_claims FROM awa.job_unique_claims;
SELECT pg_temp.inv();

-- running: receipt closed 'cancelled', narrow row (the awa:cancel notification is in specs/cancel_vs_complete)
SELECT awa.enqueue('run', queue => 'cq', unique_key => '\x0c') AS n1 \gset
SELECT job_id = :n1 AS claimed, run_lease FROM awa.claim_batch('cq', 1);
SELECT awa.heartbeat_batch(ARRAY[:n1]::bigint[], ARRAY[1]::bigint[]) AS heartbeats;
SELECT awa.cancel(:n1) AS cancelled_running;
SELECT state, attempt, run_lease, args IS NULL AS narrow, attempted_at IS NOT NULL AS attempted
FROM awa.done_entries WHERE job_id = :n1;
SELECT outcome FROM awa.lease_claim_closures WHERE job_id = :n1;
SELECT pg_catalog.count(*) AS attempt_state_left FROM awa.attempt_state;
SELECT pg_catalog.count(*) AS unique_claims FROM awa.job_unique_claims;
SELECT pg_temp.inv();
-- the worker's completion, failure and heartbeat are stale now
SELECT pg_catalog.count(*) AS complete_after_cancel FROM awa.complete_batch(ARRAY[:n1]::bigint[], ARRAY[1]::bigint[]);
SELECT pg_catalog.count(*) AS fail_after_cancel FROM awa.fail_batch(ARRAY[:n1]::bigint[], ARRAY[1]::bigint[], '{e}');
SELECT awa.heartbeat_batch(ARRAY[:n1]::bigint[], ARRAY[1]::bigint[]) AS heartbeat_after_cancel;
SELECT pg_temp.inv();

-- terminal and unknown jobs: false, nothing written
SELECT awa.enqueue('done', queue => 'cq2') AS d1 \gset
SELECT pg_catalog.count(*) AS completed FROM awa.complete_batch(
	(SELECT pg_catalog.array_agg(job_id) FROM awa.claim_batch('cq2', 10)), ARRAY[1]::bigint[]);
SELECT pg_temp.job_state(:d1) AS d1_state;
SELECT pg_catalog.count(*) AS done_before FROM awa.done_entries \gset
SELECT awa.cancel(:d1) AS completed_job, awa.cancel(:a1) AS cancelled_job, awa.cancel(424242) AS unknown_job;
SELECT awa.set_dlq_enabled('cq', true);
SELECT awa.enqueue('dl', queue => 'cq', max_attempts => 1::smallint) AS q1 \gset
SELECT pg_catalog.count(*) FROM awa.claim_batch('cq', 1);
SELECT state FROM awa.fail_batch(ARRAY[:q1]::bigint[], ARRAY[1]::bigint[], '{e}');
SELECT awa.cancel(:q1) AS dead_lettered_job;
SELECT pg_catalog.count(*) - :done_before AS rows_written FROM awa.done_entries;
SELECT pg_temp.inv();
SELECT * FROM awa.queue_counts('cq');

-- cancelling the head row of a lane whose next rows were deleted (compat
-- delete of non-head rows leaves the head alone) moves the claim head to
-- next_seq: no phantom backlog (hazard O9), in the heads or in queue_counts
SELECT pg_catalog.count(awa.enqueue('p' || g, queue => 'cq_phantom')) AS enqueued FROM pg_catalog.generate_series(1, 3) AS g;
DELETE FROM awa.jobs WHERE queue = 'cq_phantom' AND kind IN ('p2', 'p3');
SELECT awa.cancel(job_id) AS head_cancelled FROM awa.ready_entries WHERE queue = 'cq_phantom' AND kind = 'p1';
SELECT e.next_seq - h.claim_seq AS phantom_backlog
FROM awa.queue_claim_heads AS h JOIN awa.queue_enqueue_heads AS e USING (queue, priority, enqueue_shard)
WHERE queue = 'cq_phantom';
SELECT available, terminal FROM awa.queue_counts('cq_phantom');
SELECT pg_temp.inv();
-- the same through the compat delete of the head row
SELECT pg_catalog.count(awa.enqueue('q' || g, queue => 'cq_phantom')) AS enqueued FROM pg_catalog.generate_series(1, 3) AS g;
SELECT awa.cancel(job_id) AS tail_cancelled FROM awa.ready_entries WHERE queue = 'cq_phantom' AND kind IN ('q2', 'q3');
DELETE FROM awa.jobs WHERE queue = 'cq_phantom' AND kind = 'q1';
SELECT e.next_seq - h.claim_seq AS phantom_backlog
FROM awa.queue_claim_heads AS h JOIN awa.queue_enqueue_heads AS e USING (queue, priority, enqueue_shard)
WHERE queue = 'cq_phantom';
SELECT available, terminal FROM awa.queue_counts('cq_phantom');
SELECT pg_temp.inv();

-- errors
SELECT pg_temp.err($$SELECT awa.cancel(NULL)$$);
