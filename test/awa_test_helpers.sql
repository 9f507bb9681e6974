-- test/awa_test_helpers.sql -- direct-INSERT stand-ins for the hot path
--
-- Session-local (pg_temp) helpers that write rows exactly as enqueue, claim,
-- complete and retry do, so that ring tests can seed every job state before
-- the hot-path functions exist.  Included with \ir by sql/ring.sql and the
-- pgTAP ring test.  inv() checks SPEC 4 invariants: counters equal
-- done_entries, available from the lane heads equals the ready rows
-- (verify_available_counts), and every job is in exactly one state.

CREATE FUNCTION pg_temp.cur_slot() RETURNS integer LANGUAGE sql AS
$$ SELECT COALESCE((SELECT current_slot FROM awa.queue_ring_state), 0) $$;
CREATE FUNCTION pg_temp.cur_gen() RETURNS bigint LANGUAGE sql AS
$$ SELECT COALESCE((SELECT generation FROM awa.queue_ring_state), 0) $$;
CREATE FUNCTION pg_temp.cur_claim_slot() RETURNS integer LANGUAGE sql AS
$$ SELECT COALESCE((SELECT current_slot FROM awa.claim_ring_state), 0) $$;

-- receipts without a closure (running attempts)
CREATE FUNCTION pg_temp.open_receipts() RETURNS SETOF awa.lease_claims LANGUAGE sql AS $$
	SELECT c.* FROM awa.lease_claims AS c
	WHERE NOT EXISTS (SELECT 1 FROM awa.lease_claim_closures AS x
					  WHERE x.job_id = c.job_id AND x.run_lease = c.run_lease
						AND x.claim_slot = c.claim_slot)
$$;

-- enqueue n available jobs of queue q into the current queue slot
CREATE FUNCTION pg_temp.seed_enqueue(q text, n integer) RETURNS SETOF bigint LANGUAGE plpgsql AS $$
DECLARE
	s bigint;
BEGIN
	INSERT INTO awa.queue_claim_heads (queue, priority, enqueue_shard)
	VALUES (q, 2, 0) ON CONFLICT DO NOTHING;
	INSERT INTO awa.queue_enqueue_heads AS h (queue, priority, enqueue_shard, next_seq)
	VALUES (q, 2, 0, 1 + n)
	ON CONFLICT (queue, priority, enqueue_shard) DO UPDATE SET next_seq = h.next_seq + n
	RETURNING h.next_seq - n INTO s;
	RETURN QUERY
	INSERT INTO awa.ready_entries (ready_slot, ready_generation, job_id, kind, queue, priority,
								   lane_seq, enqueue_shard, unique_key)
	SELECT pg_temp.cur_slot(), pg_temp.cur_gen(), nextval('awa.job_id_seq'), 'seed', q, 2,
		   s + g - 1, 0, NULL
	FROM generate_series(1, n) AS g
	RETURNING job_id;
END
$$;

-- claim up to n jobs of queue q (FIFO), receipts into the current claim slot
CREATE FUNCTION pg_temp.seed_claim(q text, n integer) RETURNS SETOF bigint LANGUAGE plpgsql AS $$
DECLARE
	c bigint;
	picked bigint[];
BEGIN
	SELECT claim_seq INTO c FROM awa.queue_claim_heads
	WHERE queue = q AND priority = 2 AND enqueue_shard = 0 FOR UPDATE;
	SELECT array_agg(lane_seq ORDER BY lane_seq) INTO picked FROM (
		SELECT r.lane_seq FROM awa.ready_entries AS r
		WHERE r.queue = q AND r.priority = 2 AND r.enqueue_shard = 0 AND r.lane_seq >= c
		ORDER BY r.lane_seq LIMIT n) AS p;
	IF picked IS NULL THEN
		RETURN;
	END IF;
	UPDATE awa.queue_claim_heads SET claim_seq = picked[array_length(picked, 1)] + 1
	WHERE queue = q AND priority = 2 AND enqueue_shard = 0;
	RETURN QUERY
	INSERT INTO awa.lease_claims (claim_slot, job_id, run_lease, ready_slot, ready_generation, kind,
								  queue, priority, effective_priority, attempt, max_attempts,
								  lane_seq, enqueue_shard, deadline_at)
	SELECT pg_temp.cur_claim_slot(), r.job_id, r.run_lease + 1, r.ready_slot, r.ready_generation,
		   r.kind, r.queue, r.priority, r.priority, r.attempt + 1, r.max_attempts, r.lane_seq,
		   r.enqueue_shard, now() + interval '5 minutes'
	FROM awa.ready_entries AS r
	WHERE r.queue = q AND r.priority = 2 AND r.enqueue_shard = 0 AND r.lane_seq = ANY (picked)
	ORDER BY r.lane_seq
	RETURNING job_id;
END
$$;

-- finish the open attempt of job j: closure, narrow done row, counter (+1)
CREATE FUNCTION pg_temp.seed_complete(j bigint, st awa.job_state DEFAULT 'completed')
RETURNS integer LANGUAGE sql AS $$
	WITH c AS (SELECT * FROM pg_temp.open_receipts() WHERE job_id = j),
	cl AS (
		INSERT INTO awa.lease_claim_closures (claim_slot, job_id, run_lease, outcome)
		SELECT claim_slot, job_id, run_lease, st::text FROM c),
	d AS (
		INSERT INTO awa.done_entries (ready_slot, ready_generation, job_id, kind, queue, state,
									  priority, attempt, run_lease, lane_seq, enqueue_shard)
		SELECT ready_slot, ready_generation, job_id, kind, queue, st, priority, attempt, run_lease,
			   lane_seq, enqueue_shard FROM c
		RETURNING ready_slot, queue, priority, enqueue_shard),
	k AS (
		INSERT INTO awa.queue_terminal_live_counts AS k
		SELECT ready_slot, queue, priority, enqueue_shard, count(*) FROM d
		GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
		ON CONFLICT (ready_slot, queue, priority, enqueue_shard)
		DO UPDATE SET live_terminal_count = k.live_terminal_count + excluded.live_terminal_count
		RETURNING 1)
	SELECT count(*)::integer FROM k
$$;

-- send the open attempt of job j back to deferred_jobs (retryable): the
-- ready body stays behind in its slot
CREATE FUNCTION pg_temp.seed_retry(j bigint) RETURNS integer LANGUAGE sql AS $$
	WITH c AS (SELECT * FROM pg_temp.open_receipts() WHERE job_id = j),
	cl AS (
		INSERT INTO awa.lease_claim_closures (claim_slot, job_id, run_lease, outcome)
		SELECT claim_slot, job_id, run_lease, 'retryable' FROM c),
	d AS (
		INSERT INTO awa.deferred_jobs (job_id, kind, queue, state, priority, attempt, run_lease,
									   max_attempts, run_at)
		SELECT job_id, kind, queue, 'retryable', priority, attempt, run_lease, max_attempts,
			   now() + interval '1 hour' FROM c
		RETURNING 1)
	SELECT count(*)::integer FROM d
$$;

-- SPEC 4: counters equal done_entries, available counts are exact and every
-- job is in exactly one state
CREATE FUNCTION pg_temp.inv() RETURNS text LANGUAGE sql AS $$
	WITH open_receipts AS (SELECT job_id FROM pg_temp.open_receipts()),
	st AS (
		SELECT r.job_id FROM awa.ready_entries AS r
		LEFT JOIN awa.queue_claim_heads AS h USING (queue, priority, enqueue_shard)
		WHERE h.claim_seq IS NULL OR r.lane_seq >= h.claim_seq
		UNION ALL SELECT job_id FROM open_receipts
		UNION ALL SELECT job_id FROM awa.done_entries
		UNION ALL SELECT job_id FROM awa.deferred_jobs
		UNION ALL SELECT job_id FROM awa.dlq_entries),
	jobs AS (
		SELECT job_id FROM awa.ready_entries UNION SELECT job_id FROM awa.done_entries
		UNION SELECT job_id FROM awa.deferred_jobs UNION SELECT job_id FROM awa.dlq_entries
		UNION SELECT job_id FROM open_receipts)
	SELECT CASE WHEN drift = 0 AND lanes = 0 AND bad = 0 THEN 'ok'
		   ELSE format('drift=%s available_drift=%s jobs_not_in_one_state=%s', drift, lanes, bad) END
	FROM (SELECT (SELECT count(*) FROM awa.verify_terminal_counters()) AS drift,
				 (SELECT count(*) FROM awa.verify_available_counts()) AS lanes,
				 (SELECT count(*) FROM jobs AS j
				  LEFT JOIN (SELECT job_id, count(*) AS n FROM st GROUP BY job_id) AS s
				  USING (job_id)
				  WHERE COALESCE(s.n, 0) <> 1) AS bad) AS v
$$;

-- queue_counts.terminal: live counters + rollups
CREATE FUNCTION pg_temp.terminal_total() RETURNS bigint LANGUAGE sql AS $$
	SELECT COALESCE((SELECT sum(live_terminal_count) FROM awa.queue_terminal_live_counts), 0)::bigint
		 + COALESCE((SELECT sum(pruned_completed_count) FROM awa.queue_terminal_rollups), 0)::bigint
$$;

-- Run "step" (one statement) and commit, again and again (at most 5000
-- times), until the row of queue q in "tbl" (queue_enqueue_heads,
-- queue_claim_heads, or queue_terminal_live_counts for a queue with one
-- lane in one slot) sits at line pointer "target": the page was pruned and
-- the line pointer reused.  For the tests of the remembered row versions
-- (design decision 42).  A procedure: CALL it outside a transaction block.
CREATE PROCEDURE pg_temp.churn_until_row_at(tbl regclass, q text, target tid, step text)
LANGUAGE plpgsql AS $$
DECLARE
	at tid;
BEGIN
	FOR i IN 1..5000 LOOP
		EXECUTE step;
		COMMIT;
		EXECUTE pg_catalog.format('SELECT ctid FROM %s WHERE queue = $1', tbl) INTO at USING q;
		EXIT WHEN at = target;
	END LOOP;
END $$;
