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
--   pg_temp.inv()          'ok', or a description of every violation:
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

CREATE FUNCTION pg_temp.inv() RETURNS text LANGUAGE sql AS $$
	SELECT COALESCE(pg_catalog.string_agg(v, '; ' ORDER BY v), 'ok') FROM (
		SELECT 'counter drift ' || pg_catalog.count(*) AS v
		FROM awa.verify_terminal_counters() HAVING pg_catalog.count(*) > 0
		UNION ALL
		SELECT 'job ' || j || ' in ' || pg_temp.job_places(j) || ' places'
		FROM pg_temp.all_job_ids() AS j WHERE pg_temp.job_places(j) <> 1
		UNION ALL
		-- a job whose state is in its mask holds its key
		SELECT 'job ' || j || ' lacks its unique claim'
		FROM pg_temp.all_job_ids() AS j, pg_temp.job_unique(j) AS u
		WHERE u.k IS NOT NULL AND pg_temp.job_state(j) IS NOT NULL
		  AND pg_catalog.substring(u.m::text, pg_temp.state_bit(pg_temp.job_state(j)) + 1, 1) = '1'
		  AND NOT EXISTS (SELECT 1 FROM awa.job_unique_claims AS c
						  WHERE c.unique_key = u.k AND c.job_id = j)
		UNION ALL
		-- every claim belongs to a job in a state of its mask
		SELECT 'claim of job ' || c.job_id || ' outside its mask'
		FROM awa.job_unique_claims AS c, pg_temp.job_unique(c.job_id) AS u
		WHERE u.k IS DISTINCT FROM c.unique_key
		   OR pg_temp.job_state(c.job_id) IS NULL
		   OR pg_catalog.substring(u.m::text, pg_temp.state_bit(pg_temp.job_state(c.job_id)) + 1, 1) <> '1'
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
