-- recovery: heartbeat_batch, promote_due, rescue_expired (deadline, stale heartbeat, exhaustion, DLQ)
\set VERBOSITY terse
SET client_min_messages = warning;
\ir test/failure_invariants.sql
TRUNCATE awa.ready_entries, awa.done_entries, awa.deferred_jobs, awa.dlq_entries,
	awa.lease_claims, awa.lease_claim_closures, awa.queue_enqueue_heads, awa.queue_claim_heads,
	awa.job_unique_claims, awa.queue_terminal_live_counts, awa.queue_meta,
	awa.queue_ring_state, awa.claim_ring_state, awa.attempt_state;
CREATE TEMP TABLE c (job_id bigint, run_lease bigint, attempt smallint);
CREATE FUNCTION pg_temp.claim(q text DEFAULT 'default', n integer DEFAULT 10) RETURNS SETOF c LANGUAGE sql AS $$
	DELETE FROM c;
	INSERT INTO c SELECT job_id, run_lease, attempt FROM awa.claim_batch(q, n) RETURNING *;
$$;

-- heartbeat: open attempts only; progress upserted, NULL keeps it; short jobs never get a row
SELECT awa.enqueue('h1') AS h1 \gset
SELECT awa.enqueue('h2') AS h2 \gset
SELECT awa.enqueue('h3') AS h3 \gset
SELECT pg_catalog.count(*) FROM pg_temp.claim();
SELECT pg_catalog.count(*) AS completed FROM awa.complete_batch(ARRAY[:h3]::bigint[], ARRAY[1]::bigint[]);
SELECT pg_catalog.count(*) AS attempt_state_rows FROM awa.attempt_state;
SELECT awa.heartbeat_batch(ARRAY[:h1, :h2, :h3, :h1, 4242]::bigint[], ARRAY[1, 2, 1, 1, 1]::bigint[],
	ARRAY['{"step":1}', '{"x":0}', '{"x":0}', '{"step":2}', NULL]::jsonb[]) AS touched;
SELECT job_id = :h1 AS is_h1, run_lease, progress, heartbeat_at IS NOT NULL AS beat FROM awa.attempt_state;
UPDATE awa.attempt_state SET heartbeat_at = pg_catalog.now() - interval '1 hour';
SELECT awa.heartbeat_batch(ARRAY[:h1, :h2]::bigint[], ARRAY[1, 1]::bigint[]) AS touched_without_progress;
SELECT job_id = :h1 AS is_h1, progress, heartbeat_at > pg_catalog.now() - interval '1 minute' AS fresh
FROM awa.attempt_state ORDER BY job_id;
SELECT awa.heartbeat_batch(ARRAY[:h2]::bigint[], ARRAY[1]::bigint[], ARRAY[NULL]::jsonb[]) AS null_progress_kept;
SELECT job_id = :h2 AS is_h2, progress FROM awa.attempt_state WHERE job_id = :h2;
SELECT awa.heartbeat_batch('{}', '{}') AS empty;
SELECT pg_temp.inv();
-- progress survives into the retry's body
SELECT state FROM awa.fail_batch(ARRAY[:h1]::bigint[], ARRAY[1]::bigint[], '{e}');
SELECT payload -> 'progress' AS kept_progress FROM awa.deferred_jobs WHERE job_id = :h1;
SELECT pg_catalog.count(*) AS complete_h2 FROM awa.complete_batch(ARRAY[:h2]::bigint[], ARRAY[1]::bigint[]);
SELECT pg_catalog.count(*) AS attempt_state_rows FROM awa.attempt_state;

-- promote: due rows only, oldest first, bounded, attempt and run_lease kept, paused queues skipped
SELECT awa.enqueue('p', queue => 'pq', run_at => pg_catalog.now() + interval '1 hour') AS p1 \gset
SELECT awa.enqueue('p', queue => 'pq', run_at => pg_catalog.now() + interval '1 hour') AS p2 \gset
SELECT awa.enqueue('p', queue => 'pq', run_at => pg_catalog.now() + interval '1 hour') AS p3 \gset
SELECT awa.enqueue('p', queue => 'paused', run_at => pg_catalog.now() + interval '1 hour') AS p4 \gset
SELECT awa.promote_due() AS nothing_due;
UPDATE awa.deferred_jobs SET run_at = pg_catalog.now() - (job_id - :p1 + 1) * interval '1 minute';
SELECT awa.pause_queue('paused');
SELECT awa.promote_due(2) AS bounded;
SELECT job_id IN (:p3, :p2) AS oldest_first, state = 'available' AS available FROM (
	SELECT job_id, pg_temp.job_state(job_id) AS state FROM awa.ready_entries WHERE queue = 'pq') AS r;
SELECT awa.promote_due() AS rest;
SELECT pg_temp.job_state(:p4) AS paused_stays;
SELECT awa.resume_queue('paused');
SELECT awa.promote_due() AS after_resume;
SELECT pg_temp.inv();
SELECT * FROM awa.queue_counts() ORDER BY queue;
-- FIFO inside the lane follows run_at
SELECT pg_catalog.array_agg(job_id = :p3 ORDER BY job_id) AS p3_first FROM awa.claim_batch('pq', 1);
-- a retryable job comes back with its attempt and run_lease
SELECT pg_catalog.count(*) FROM pg_temp.claim('pq');
SELECT state FROM awa.fail_batch(ARRAY[:p1]::bigint[], ARRAY[1]::bigint[], '{e}');
UPDATE awa.deferred_jobs SET run_at = pg_catalog.now() WHERE job_id = :p1;
SELECT awa.promote_due() AS promoted_retry;
SELECT attempt, run_lease FROM awa.ready_entries WHERE job_id = :p1 AND lane_seq >= (
	SELECT claim_seq FROM awa.queue_claim_heads WHERE queue = 'pq' AND priority = 2 AND enqueue_shard = 0);
SELECT job_id = :p1 AS is_p1, run_lease AS next_run_lease, attempt AS next_attempt FROM awa.claim_batch('pq', 1);
SELECT pg_temp.inv();
-- unique claims move scheduled -> available (mask without available: released)
SELECT awa.enqueue('pu', queue => 'pq', run_at => pg_catalog.now() + interval '1 hour',
	unique_key => '\x0d', unique_states => B'10000000') AS p5 \gset
SELECT pg_catalog.count(*) AS claim_scheduled FROM awa.job_unique_claims WHERE job_id = :p5;
UPDATE awa.deferred_jobs SET run_at = pg_catalog.now() WHERE job_id = :p5;
SELECT awa.promote_due() AS promoted_unique;
SELECT pg_catalog.count(*) AS claim_available FROM awa.job_unique_claims WHERE job_id = :p5;
SELECT pg_temp.inv();

-- rescue: an expired deadline and a stale heartbeat become retryable with backoff
TRUNCATE c;
SELECT awa.enqueue('d', queue => 'rq') AS r1 \gset
SELECT awa.enqueue('s', queue => 'rq') AS r2 \gset
SELECT awa.enqueue('ok', queue => 'rq') AS r3 \gset
SELECT awa.enqueue('old', queue => 'rq') AS r4 \gset
SELECT pg_catalog.count(*) FROM pg_temp.claim('rq');
SELECT awa.rescue_expired() AS nothing_expired;
UPDATE awa.lease_claims SET deadline_at = pg_catalog.now() - interval '1 second' WHERE job_id = :r1;
SELECT awa.heartbeat_batch(ARRAY[:r2, :r3]::bigint[], ARRAY[1, 1]::bigint[]);
UPDATE awa.attempt_state SET heartbeat_at = pg_catalog.now() - interval '91 seconds' WHERE job_id = :r2;
-- r4 never heartbeat and was claimed long ago; r3 heartbeat recently although claimed long ago
UPDATE awa.lease_claims SET claimed_at = pg_catalog.now() - interval '10 minutes' WHERE job_id IN (:r3, :r4);
SELECT awa.rescue_expired() AS rescued;
SELECT job_id - :r1 AS job, pg_temp.job_state(job_id) AS state FROM (VALUES (:r1), (:r2), (:r3), (:r4)) AS v(job_id);
SELECT job_id - :r1 AS job, outcome FROM awa.lease_claim_closures WHERE job_id IN (:r1, :r2, :r4) ORDER BY job_id;
SELECT job_id - :r1 AS job, attempt, run_lease, payload -> 'errors' -> 0 ->> 'error' AS error,
	run_at - finalized_at BETWEEN interval '2 s' AND interval '2.5 s' AS backoff
FROM awa.deferred_jobs WHERE queue = 'rq' ORDER BY job_id;
SELECT pg_catalog.count(*) AS attempt_state_rows FROM awa.attempt_state;
SELECT pg_temp.inv();
-- the rescued workers are stale now
SELECT pg_catalog.count(*) AS complete_after_rescue FROM awa.complete_batch(ARRAY[:r1, :r2]::bigint[], ARRAY[1, 1]::bigint[]);
SELECT awa.heartbeat_batch(ARRAY[:r4]::bigint[], ARRAY[1]::bigint[]) AS heartbeat_after_rescue;
SELECT pg_temp.inv();
-- a larger staleness window spares r3 as well as a fresh claim
SET awa.heartbeat_staleness = 3600;
UPDATE awa.attempt_state SET heartbeat_at = pg_catalog.now() - interval '10 minutes' WHERE job_id = :r3;
SELECT awa.rescue_expired() AS spared;
RESET awa.heartbeat_staleness;
SELECT awa.rescue_expired(1) AS bounded_rescue;
SELECT pg_temp.job_state(:r3) AS r3_state;

-- rescue of an exhausted attempt: failed, or DLQ when enabled (not retried forever)
SELECT awa.enqueue('x', queue => 'rq', max_attempts => 1::smallint) AS r5 \gset
SELECT awa.enqueue('y', queue => 'rdlq', max_attempts => 1::smallint) AS r6 \gset
SELECT awa.set_dlq_enabled('rdlq', true);
SELECT pg_catalog.count(*) FROM awa.claim_batch('rq', 1);
SELECT pg_catalog.count(*) FROM awa.claim_batch('rdlq', 1);
UPDATE awa.lease_claims SET deadline_at = pg_catalog.now() - interval '1 second' WHERE job_id IN (:r5, :r6);
SELECT awa.rescue_expired() AS rescued_exhausted;
SELECT pg_temp.job_state(:r5) AS r5_state, pg_temp.job_state(:r6) AS r6_state;
SELECT state, payload -> 'errors' -> 0 -> 'terminal' AS terminal FROM awa.done_entries WHERE job_id = :r5;
SELECT dlq_reason FROM awa.dlq_entries WHERE job_id = :r6;
SELECT pg_temp.inv();

-- an attempt_state row left behind by a closed attempt is swept once stale
INSERT INTO awa.attempt_state (job_id, run_lease, heartbeat_at, updated_at)
VALUES (:r1, 1, pg_catalog.now() - interval '1 hour', pg_catalog.now() - interval '1 hour');
SELECT awa.rescue_expired() AS rescued_none;
SELECT pg_catalog.count(*) AS orphans_left FROM awa.attempt_state WHERE job_id = :r1 AND run_lease = 1;

-- errors
SELECT q, pg_temp.err(q) FROM (VALUES
	($$SELECT awa.heartbeat_batch(NULL, '{1}')$$),
	($$SELECT awa.heartbeat_batch('{1}', NULL)$$),
	($$SELECT awa.heartbeat_batch('{1,2}', '{1}')$$),
	($$SELECT awa.heartbeat_batch('{1}', '{NULL}')$$),
	($$SELECT awa.heartbeat_batch('{1}', '{1}', '{}')$$),
	($$SELECT awa.heartbeat_batch('{1}', '{1}', '{{"{}"}}')$$),
	($$SELECT awa.promote_due(NULL)$$),
	($$SELECT awa.promote_due(0)$$),
	($$SELECT awa.promote_due(100001)$$),
	($$SELECT awa.rescue_expired(NULL)$$),
	($$SELECT awa.rescue_expired(-1)$$)) AS t(q);
