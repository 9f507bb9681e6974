-- test/failure_invariants.sql -- SPEC 4 invariant checks for the failure-path tests
--
-- Session-local (pg_temp) helpers, included with \ir by the regress and
-- pgTAP tests of fail_batch, retry_after, snooze, heartbeat_batch, cancel,
-- promote_due and rescue_expired.
--
--   pg_temp.job_state(id)  the state of a job from where it is stored:
--                          available (ready row at or ahead of its claim
--                          head), running (open receipt), scheduled or
--                          retryable (deferred row), completed / failed /
--                          cancelled (done row), dlq; NULL when nowhere.
--   pg_temp.job_places(id) in how many of those places the job is (must be 1)
--   pg_temp.inv()          (set-based) 'ok', or a description of every violation:
--                          counter drift, a job in 0 or 2+ places, a unique
--                          claim missing or held by a job outside its mask.

CREATE FUNCTION pg_temp.job_locations(id bigint) RETURNS TABLE (place text) LANGUAGE sql AS $$
	SELECT 'available' FROM awa.ready_entries AS r JOIN awa.queue_claim_heads AS h
		ON h.queue = r.queue AND h.priority = r.priority AND h.enqueue_shard = r.enqueue_shard
	WHERE r.job_id = id AND r.lane_seq >= h.claim_seq
	UNION ALL
	SELECT 'running' FROM awa.lease_claims AS c
	WHERE c.job_id = id AND NOT EXISTS (SELECT 1 FROM awa.lease_claim_closures AS x
		WHERE x.job_id = c.job_id AND x.run_lease = c.run_lease AND x.claim_slot = c.claim_slot)
	UNION ALL
	SELECT d.state::text FROM awa.deferred_jobs AS d WHERE d.job_id = id
	UNION ALL
	SELECT e.state::text FROM awa.done_entries AS e WHERE e.job_id = id
	UNION ALL
	SELECT 'dlq' FROM awa.dlq_entries AS q WHERE q.job_id = id
$$;

CREATE FUNCTION pg_temp.job_state(id bigint) RETURNS text LANGUAGE sql AS $$
	SELECT CASE WHEN pg_catalog.count(*) = 1 THEN pg_catalog.min(place) END
	FROM pg_temp.job_locations(id)
$$;

CREATE FUNCTION pg_temp.job_places(id bigint) RETURNS bigint LANGUAGE sql AS $$
	SELECT pg_catalog.count(*) FROM pg_temp.job_locations(id)
$$;

CREATE FUNCTION pg_temp.all_job_ids() RETURNS SETOF bigint LANGUAGE sql AS $$
	SELECT job_id FROM awa.ready_entries UNION SELECT job_id FROM awa.deferred_jobs
	UNION SELECT job_id FROM awa.done_entries UNION SELECT job_id FROM awa.dlq_entries
	UNION SELECT job_id FROM awa.lease_claims
$$;

-- bit position of a state label in a unique_states mask (dlq counts as failed)
CREATE FUNCTION pg_temp.state_bit(s text) RETURNS integer LANGUAGE sql AS $$
	SELECT CASE s WHEN 'scheduled' THEN 0 WHEN 'available' THEN 1 WHEN 'running' THEN 2
		WHEN 'completed' THEN 3 WHEN 'retryable' THEN 4 WHEN 'failed' THEN 5
		WHEN 'dlq' THEN 5 WHEN 'cancelled' THEN 6 END
$$;

-- the unique key and mask of a job, from any row that carries them
CREATE FUNCTION pg_temp.job_unique(id bigint, OUT k bytea, OUT m bit(8)) LANGUAGE sql AS $$
	SELECT u.unique_key, COALESCE(u.unique_states, B'11111000') FROM (
		SELECT unique_key, unique_states FROM awa.ready_entries WHERE job_id = id
		UNION ALL SELECT unique_key, unique_states FROM awa.deferred_jobs WHERE job_id = id
		UNION ALL SELECT unique_key, unique_states FROM awa.dlq_entries WHERE job_id = id
		UNION ALL SELECT unique_key, unique_states FROM awa.done_entries WHERE job_id = id) AS u
	WHERE u.unique_key IS NOT NULL LIMIT 1
$$;

-- (job_id, place) of every job, set-based
CREATE FUNCTION pg_temp.all_locations() RETURNS TABLE (job_id bigint, place text) LANGUAGE sql AS $$
	SELECT r.job_id, 'available' FROM awa.ready_entries AS r JOIN awa.queue_claim_heads AS h
		ON h.queue = r.queue AND h.priority = r.priority AND h.enqueue_shard = r.enqueue_shard
	WHERE r.lane_seq >= h.claim_seq
	UNION ALL
	SELECT c.job_id, 'running' FROM awa.lease_claims AS c
	WHERE NOT EXISTS (SELECT 1 FROM awa.lease_claim_closures AS x
		WHERE x.job_id = c.job_id AND x.run_lease = c.run_lease AND x.claim_slot = c.claim_slot)
	UNION ALL
	SELECT d.job_id, d.state::text FROM awa.deferred_jobs AS d
	UNION ALL
	SELECT e.job_id, e.state::text FROM awa.done_entries AS e
	UNION ALL
	SELECT q.job_id, 'dlq' FROM awa.dlq_entries AS q
$$;

CREATE FUNCTION pg_temp.inv() RETURNS text LANGUAGE sql AS $$
	WITH ids AS (SELECT j AS job_id FROM pg_temp.all_job_ids() AS j),
	loc AS (SELECT i.job_id, pg_catalog.count(l.place) AS places, pg_catalog.min(l.place) AS place
			FROM ids AS i LEFT JOIN pg_temp.all_locations() AS l ON l.job_id = i.job_id
			GROUP BY i.job_id),
	uk AS (SELECT DISTINCT ON (u.job_id) u.job_id, u.unique_key AS k,
				COALESCE(u.unique_states, B'11111000') AS m FROM (
			SELECT job_id, unique_key, unique_states FROM awa.ready_entries
			UNION ALL SELECT job_id, unique_key, unique_states FROM awa.deferred_jobs
			UNION ALL SELECT job_id, unique_key, unique_states FROM awa.dlq_entries
			UNION ALL SELECT job_id, unique_key, unique_states FROM awa.done_entries) AS u
		   WHERE u.unique_key IS NOT NULL ORDER BY u.job_id),
	st AS (SELECT l.job_id, l.place, uk.k, uk.m,
				pg_catalog.substring(uk.m::text, pg_temp.state_bit(l.place) + 1, 1) = '1' AS in_mask
		   FROM loc AS l JOIN uk ON uk.job_id = l.job_id WHERE l.places = 1)
	SELECT COALESCE(pg_catalog.string_agg(v, '; ' ORDER BY v), 'ok') FROM (
		SELECT 'counter drift ' || pg_catalog.count(*) AS v
		FROM awa.verify_terminal_counters() HAVING pg_catalog.count(*) > 0
		UNION ALL
		SELECT 'available drift in ' || pg_catalog.count(*) || ' lanes'
		FROM awa.verify_available_counts() HAVING pg_catalog.count(*) > 0
		UNION ALL
		SELECT 'job ' || job_id || ' in ' || places || ' places' FROM loc WHERE places <> 1
		UNION ALL
		-- a job whose state is in its mask holds its key
		SELECT 'job ' || st.job_id || ' lacks its unique claim' FROM st
		WHERE st.in_mask AND NOT EXISTS (SELECT 1 FROM awa.job_unique_claims AS c
										 WHERE c.unique_key = st.k AND c.job_id = st.job_id)
		UNION ALL
		-- every claim belongs to a job in a state of its mask
		SELECT 'claim of job ' || c.job_id || ' outside its mask'
		FROM awa.job_unique_claims AS c LEFT JOIN st ON st.job_id = c.job_id AND st.k = c.unique_key
		WHERE st.job_id IS NULL OR NOT st.in_mask
	) AS violations
$$;

-- run a statement, return 'SQLSTATE: message' of its error (or 'no error')
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

-- empty every table the failure-path tests touch; job ids start at 1 again
CREATE FUNCTION pg_temp.reset() RETURNS void LANGUAGE sql AS $$
	TRUNCATE awa.ready_entries, awa.done_entries, awa.deferred_jobs, awa.dlq_entries,
		awa.lease_claims, awa.lease_claim_closures, awa.queue_enqueue_heads, awa.queue_claim_heads, awa.ready_holes,
		awa.job_unique_claims, awa.queue_terminal_live_counts, awa.queue_meta,
		awa.queue_ring_state, awa.claim_ring_state, awa.attempt_state;
	SELECT pg_catalog.setval('awa.job_id_seq', 1, false);
$$;

-- claim up to n jobs of queue q into temp table c (replacing its rows)
CREATE TEMP TABLE c (job_id bigint, run_lease bigint, attempt smallint);
CREATE FUNCTION pg_temp.claim(q text DEFAULT 'default', n integer DEFAULT 10) RETURNS SETOF c LANGUAGE sql AS $$
	DELETE FROM c;
	INSERT INTO c SELECT job_id, run_lease, attempt FROM awa.claim_batch(q, n) RETURNING *;
$$;
