-- fail: fail_batch, retry_after, snooze, retry_backoff; stale writers; every error
\set VERBOSITY terse
SET client_min_messages = warning;
\set ECHO none
\ir test/failure_invariants.sql
\set ECHO all
SELECT pg_temp.reset();
-- make every deferred job of the test due, then promote it
CREATE FUNCTION pg_temp.due() RETURNS integer LANGUAGE sql AS $$
	UPDATE awa.deferred_jobs SET run_at = pg_catalog.now() - interval '1 second';
	SELECT awa.promote_due();
$$;

-- backoff: 2^a .. 1.25 * 2^a seconds, strictly growing, capped by awa.backoff_cap
SELECT pg_catalog.bool_and(EXTRACT(epoch FROM awa.retry_backoff(a)) >= 2 ^ a
	AND EXTRACT(epoch FROM awa.retry_backoff(a)) < 1.25 * 2 ^ a) AS within_range
FROM pg_catalog.generate_series(1, 15) AS a, pg_catalog.generate_series(1, 20) AS rep;
SELECT pg_catalog.bool_and(EXTRACT(epoch FROM awa.retry_backoff(a + 1)) > EXTRACT(epoch FROM awa.retry_backoff(a))) AS grows
FROM pg_catalog.generate_series(1, 15) AS a, pg_catalog.generate_series(1, 20) AS rep;
SELECT pg_catalog.max(awa.retry_backoff(a)) = interval '1 day' AS capped_at_default
FROM pg_catalog.generate_series(1, 40) AS a;
SET awa.backoff_cap = 60;
SELECT pg_catalog.max(awa.retry_backoff(a)) AS capped FROM pg_catalog.generate_series(1, 40) AS a;
RESET awa.backoff_cap;

-- a failed attempt with attempts left becomes retryable with backoff and its error recorded
SELECT awa.enqueue('a', '{"n":1}', max_attempts => 3::smallint, metadata => '{"m":1}', tags => '{t}') AS j1 \gset
SELECT awa.enqueue('b') AS j2 \gset
SELECT job_id, run_lease, attempt FROM pg_temp.claim();
SELECT * FROM awa.fail_batch((SELECT pg_catalog.array_agg(job_id ORDER BY job_id) FROM c),
	(SELECT pg_catalog.array_agg(run_lease ORDER BY job_id) FROM c), ARRAY['boom', 'bang']) ORDER BY 1;
SELECT pg_temp.inv();
SELECT job_id, state, attempt, run_lease, args, attempted_at IS NOT NULL AS attempted,
	finalized_at IS NOT NULL AS finalized,
	run_at - finalized_at BETWEEN interval '2 s' AND interval '2.5 s' AS backoff_of_attempt_1,
	payload - 'errors' AS body_payload, payload -> 'errors' -> 0 -> 'error' AS error,
	payload -> 'errors' -> 0 -> 'attempt' AS err_attempt, payload -> 'errors' -> 0 ? 'terminal' AS terminal
FROM awa.deferred_jobs ORDER BY job_id;
SELECT outcome, pg_catalog.count(*) FROM awa.lease_claim_closures GROUP BY 1 ORDER BY 1;
SELECT * FROM awa.queue_counts('default');

-- stale writers: failing twice, completing and heartbeating an attempt that was failed
SELECT pg_catalog.count(*) AS failed_twice FROM awa.fail_batch(ARRAY[:j1]::bigint[], ARRAY[1]::bigint[], ARRAY['again']);
SELECT pg_catalog.count(*) AS completed_after_fail FROM awa.complete_batch(ARRAY[:j1]::bigint[], ARRAY[1]::bigint[]);
SELECT awa.heartbeat_batch(ARRAY[:j1]::bigint[], ARRAY[1]::bigint[]) AS heartbeat_after_fail;
SELECT awa.retry_after(:j1, 1, '1 minute') AS retry_after_fail, awa.snooze(:j1, 1, '1 minute') AS snooze_after_fail;
SELECT pg_catalog.count(*) AS attempt_state_rows FROM awa.attempt_state;
SELECT pg_temp.inv();

-- the next attempt: errors accumulate, run_lease keeps growing
SELECT pg_temp.due() AS promoted;
SELECT job_id, run_lease, attempt FROM pg_temp.claim() ORDER BY job_id;
SELECT job_id, state FROM awa.fail_batch(ARRAY[:j1]::bigint[], ARRAY[2]::bigint[], ARRAY['boom 2']);
SELECT attempt, run_lease, pg_catalog.jsonb_array_length(payload -> 'errors') AS errors,
	run_at - finalized_at BETWEEN interval '4 s' AND interval '5 s' AS backoff_of_attempt_2
FROM awa.deferred_jobs WHERE job_id = :j1;
-- the old attempt of j1 stays stale after the job moved on
SELECT pg_catalog.count(*) AS old_attempt FROM awa.fail_batch(ARRAY[:j1]::bigint[], ARRAY[1]::bigint[], ARRAY['late']);
SELECT pg_temp.inv();

-- exhausted: the last attempt fails -> failed (narrow done row, counted), error marked terminal
SELECT pg_temp.due() AS promoted;
SELECT job_id, run_lease, attempt FROM pg_temp.claim() ORDER BY job_id;
SELECT job_id, run_lease, state FROM awa.fail_batch(ARRAY[:j1]::bigint[], ARRAY[3]::bigint[], ARRAY['boom 3']);
SELECT job_id, state, attempt, run_lease, args IS NULL AS narrow, attempted_at IS NOT NULL AS attempted,
	pg_catalog.jsonb_array_length(payload -> 'errors') AS errors,
	payload -> 'errors' -> 2 -> 'terminal' AS terminal, payload -> 'metadata' AS metadata
FROM awa.done_entries;
SELECT ready_slot, queue, priority, enqueue_shard, live_terminal_count FROM awa.queue_terminal_live_counts;
SELECT pg_temp.inv();

-- terminal: fails at once even with attempts left
SELECT job_id, run_lease, state FROM awa.fail_batch(ARRAY[:j2]::bigint[], ARRAY[2]::bigint[], ARRAY['fatal'], true);
SELECT job_id, state, attempt, payload -> 'errors' -> 1 -> 'terminal' AS terminal FROM awa.done_entries WHERE job_id = :j2;
SELECT pg_temp.inv();

-- DLQ enabled: exhaustion goes to dlq_entries (reason max_attempts_exhausted), terminal errors too
SELECT awa.set_dlq_enabled('dlqq', true);
SELECT awa.enqueue('x', queue => 'dlqq', max_attempts => 1::smallint) AS j3 \gset
SELECT awa.enqueue('y', queue => 'dlqq') AS j4 \gset
SELECT job_id, run_lease, attempt FROM pg_temp.claim('dlqq') ORDER BY job_id;
SELECT job_id, run_lease, state FROM awa.fail_batch(ARRAY[:j3]::bigint[], ARRAY[1]::bigint[], ARRAY['out']);
SELECT job_id, run_lease, state FROM awa.fail_batch(ARRAY[:j4]::bigint[], ARRAY[1]::bigint[], ARRAY['bad'], true);
SELECT job_id, kind, state, attempt, run_lease, original_run_lease, dlq_reason, args,
	payload -> 'errors' -> 0 -> 'terminal' AS terminal
FROM awa.dlq_entries ORDER BY job_id;
SELECT pg_catalog.count(*) AS dlq_done_rows FROM awa.done_entries WHERE queue = 'dlqq';
SELECT * FROM awa.queue_counts('dlqq');
SELECT pg_temp.inv();

-- retry_after: retryable at now + delay, the attempt counts
SELECT awa.enqueue('r', max_attempts => 5::smallint) AS j5 \gset
SELECT job_id, run_lease, attempt FROM pg_temp.claim();
SELECT awa.retry_after(:j5, 1, '10 minutes') AS retried;
SELECT state, attempt, run_lease, run_at - finalized_at BETWEEN interval '10 minutes' AND interval '10 minutes 1 second' AS delay_kept,
	payload IS NULL AS no_error FROM awa.deferred_jobs WHERE job_id = :j5;
SELECT pg_catalog.count(*) AS complete_after_retry_after FROM awa.complete_batch(ARRAY[:j5]::bigint[], ARRAY[1]::bigint[]);
SELECT pg_temp.inv();
SELECT pg_temp.due() AS promoted;
SELECT job_id, run_lease, attempt FROM pg_temp.claim();

-- snooze: scheduled at now + delay, the attempt is given back
SELECT awa.snooze(:j5, 2, '1 hour') AS snoozed;
SELECT state, attempt, run_lease, finalized_at IS NULL AS not_finalized FROM awa.deferred_jobs WHERE job_id = :j5;
SELECT pg_temp.inv();
SELECT pg_temp.due() AS promoted;
SELECT job_id, run_lease, attempt AS same_attempt FROM pg_temp.claim();
SELECT awa.snooze(:j5, 3, '0 seconds') AS snoozed_zero;
SELECT awa.snooze(:j5, 3, '0 seconds') AS snoozed_twice;
SELECT pg_temp.inv();

-- unique claims follow the state: mask without retryable releases the key on failure
SELECT awa.enqueue('u', unique_key => '\x01', unique_states => B'11100000', max_attempts => 2::smallint) AS j6 \gset
SELECT job_id, run_lease FROM pg_temp.claim();
SELECT pg_catalog.count(*) AS claims_running FROM awa.job_unique_claims WHERE job_id = :j6;
SELECT state FROM awa.fail_batch(ARRAY[:j6]::bigint[], ARRAY[1]::bigint[], ARRAY['u1']);
SELECT pg_catalog.count(*) AS claims_retryable FROM awa.job_unique_claims WHERE job_id = :j6;
SELECT pg_temp.inv();
SELECT pg_temp.due() AS promoted;
SELECT pg_catalog.count(*) AS claims_available FROM awa.job_unique_claims WHERE job_id = :j6;
SELECT pg_temp.inv();

-- several attempts in one call, one of them stale, one given twice
SELECT awa.enqueue('m') AS j7 \gset
SELECT awa.enqueue('m') AS j8 \gset
SELECT pg_catalog.count(*) FROM pg_temp.claim();
SELECT job_id = :j7 AS is_j7, state FROM awa.fail_batch(ARRAY[:j7, :j8, :j7, :j8]::bigint[],
	ARRAY[1, 99, 1, 1]::bigint[], ARRAY['e1', 'stale', 'dup', 'e2']) ORDER BY job_id;
SELECT job_id = :j7 AS is_j7, payload -> 'errors' -> 0 -> 'error' AS first_error, pg_catalog.jsonb_array_length(payload -> 'errors') AS errors
FROM awa.deferred_jobs WHERE job_id IN (:j7, :j8) ORDER BY job_id;
SELECT pg_temp.inv();

-- ordering keys survive a retry: ready rows keep no ordering key, so the
-- deferred row keeps the attempt's lane (enqueue_shard) and promotion goes
-- back to it; a job that fails and one that is snoozed land on the same
-- shard as their later siblings (the rotor would put all four promoted
-- jobs of this call on one shard)
SELECT awa.set_enqueue_shards('oq', 8);
SELECT pg_catalog.count(awa.enqueue('ok' || g, queue => 'oq', ordering_key => 'key' || g))
FROM pg_catalog.generate_series(1, 4) AS g;
CREATE TEMP TABLE oq_claimed AS SELECT job_id, run_lease, kind FROM awa.claim_batch('oq', 4);
SELECT f.state FROM awa.fail_batch(
	(SELECT pg_catalog.array_agg(job_id ORDER BY kind) FROM oq_claimed WHERE kind <> 'ok4'),
	(SELECT pg_catalog.array_agg(run_lease ORDER BY kind) FROM oq_claimed WHERE kind <> 'ok4'),
	ARRAY['e', 'e', 'e']) AS f;
SELECT awa.snooze(job_id, run_lease, interval '1 hour') AS snoozed FROM oq_claimed WHERE kind = 'ok4';
SELECT pg_catalog.count(awa.enqueue('ok' || g, queue => 'oq', ordering_key => 'key' || g))
FROM pg_catalog.generate_series(1, 4) AS g;
SELECT pg_temp.due() AS promoted;
SELECT pg_catalog.count(DISTINCT r.enqueue_shard) AS sibling_shards,
	pg_catalog.count(*) FILTER (WHERE r.shards = 1) AS keys_on_one_shard
FROM (SELECT kind, pg_catalog.count(DISTINCT enqueue_shard) AS shards, pg_catalog.min(enqueue_shard) AS enqueue_shard
	  FROM awa.ready_entries AS r JOIN awa.queue_claim_heads AS h USING (queue, priority, enqueue_shard)
	  WHERE queue = 'oq' AND r.lane_seq >= h.claim_seq GROUP BY kind) AS r;
SELECT pg_temp.inv();

-- empty arrays: nothing to do
SELECT pg_catalog.count(*) AS empty FROM awa.fail_batch('{}', '{}', '{}');

-- bad input: errors with SQLSTATE, nothing written
SELECT pg_catalog.count(*) AS closures_before FROM awa.lease_claim_closures \gset
SELECT q, pg_temp.err(q) FROM (VALUES
	($$SELECT awa.retry_backoff(0)$$),
	($$SELECT awa.retry_backoff(NULL)$$),
	($$SELECT * FROM awa.fail_batch(NULL, '{1}', '{e}')$$),
	($$SELECT * FROM awa.fail_batch('{1}', NULL, '{e}')$$),
	($$SELECT * FROM awa.fail_batch('{1}', '{1}', NULL)$$),
	($$SELECT * FROM awa.fail_batch('{1}', '{1}', '{e}', NULL)$$),
	($$SELECT * FROM awa.fail_batch('{1,2}', '{1}', '{e,f}')$$),
	($$SELECT * FROM awa.fail_batch('{1,2}', '{1,2}', '{e}')$$),
	($$SELECT * FROM awa.fail_batch('{1,NULL}', '{1,2}', '{e,f}')$$),
	($$SELECT * FROM awa.fail_batch('{1,2}', '{1,2}', '{e,NULL}')$$),
	($$SELECT * FROM awa.fail_batch('{{1}}', '{{1}}', '{{e}}')$$),
	($$SELECT awa.retry_after(NULL, 1, '1 s')$$),
	($$SELECT awa.retry_after(1, NULL, '1 s')$$),
	($$SELECT awa.retry_after(1, 1, NULL)$$),
	($$SELECT awa.retry_after(1, 1, '-1 s')$$),
	($$SELECT awa.snooze(1, 1, '-1 day')$$),
	($$SELECT awa.snooze(1, 1, '1 day -25 hours')$$),
	($$SELECT awa.snooze(1, 1, NULL)$$)) AS t(q);
SELECT pg_catalog.count(*) = :closures_before AS nothing_written FROM awa.lease_claim_closures;
-- unknown job: documented false / empty
SELECT awa.retry_after(424242, 1, '1 s') AS unknown_retry, awa.snooze(424242, 1, '1 s') AS unknown_snooze;
SELECT pg_catalog.count(*) AS unknown_fail FROM awa.fail_batch('{424242}', '{1}', '{e}');
SELECT pg_temp.inv();
