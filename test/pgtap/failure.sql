-- test/pgtap/failure.sql -- invariants of the failure paths under a mixed
-- workload: after every round of enqueue / claim / complete / fail /
-- retry_after / snooze / heartbeat / cancel / promote / rescue, counters
-- are exact, every job is in exactly one state, unique claims match the
-- states in their masks, and run_lease never goes back.
BEGIN;
SELECT plan(18);
\ir ../failure_invariants.sql

SELECT setseed(0.42);
SELECT awa.set_dlq_enabled('tap_dlq', true);
SELECT awa.set_enqueue_shards('tap', 3);

-- one round of everything, on queue q; returns the number of transitions made
CREATE FUNCTION pg_temp.round(q text, r integer) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	ids bigint[];
	leases bigint[];
	n integer := 0;
	k integer;
BEGIN
	PERFORM awa.enqueue('k' || g % 3, pg_catalog.jsonb_build_object('r', r, 'g', g), queue => q,
		priority => (1 + g % 4)::smallint, max_attempts => (1 + g % 3)::smallint,
		run_at => CASE WHEN g % 5 = 0 THEN pg_catalog.now() + interval '1 hour' END,
		unique_key => CASE WHEN g % 4 = 0 THEN pg_catalog.decode(pg_catalog.md5(q || r || '.' || g), 'hex') END,
		unique_states => CASE WHEN g % 8 = 0 THEN B'11100110' END)
	FROM pg_catalog.generate_series(1, 12) AS g;
	SELECT pg_catalog.array_agg(job_id ORDER BY job_id), pg_catalog.array_agg(run_lease ORDER BY job_id)
	INTO ids, leases FROM awa.claim_batch(q, 20);
	IF ids IS NULL THEN
		RETURN 0;
	END IF;
	k := pg_catalog.array_length(ids, 1);
	-- heartbeat half, then fail a third, complete a third, and vary the rest
	n := n + awa.heartbeat_batch(ids[1:k / 2], leases[1:k / 2]);
	n := n + (SELECT pg_catalog.count(*) FROM awa.fail_batch(ids[1:k / 3], leases[1:k / 3],
		ARRAY(SELECT 'err ' || i FROM pg_catalog.generate_series(1, k / 3) AS i), r % 4 = 3))::integer;
	n := n + (SELECT pg_catalog.count(*) FROM awa.complete_batch(ids[k / 3 + 1:2 * k / 3], leases[k / 3 + 1:2 * k / 3]))::integer;
	FOR i IN 2 * k / 3 + 1 .. k LOOP
		n := n + CASE i % 4
			WHEN 0 THEN awa.retry_after(ids[i], leases[i], interval '0')::integer
			WHEN 1 THEN awa.snooze(ids[i], leases[i], interval '0')::integer
			WHEN 2 THEN awa.cancel(ids[i])::integer
			ELSE 0 END;			-- left running, for rescue
	END LOOP;
	-- stale writers: the failed and completed attempts again change nothing
	IF (SELECT pg_catalog.count(*) FROM awa.fail_batch(ids[1:2 * k / 3], leases[1:2 * k / 3],
			ARRAY(SELECT 'x' FROM pg_catalog.generate_series(1, 2 * k / 3)))) +
	   (SELECT pg_catalog.count(*) FROM awa.complete_batch(ids[1:2 * k / 3], leases[1:2 * k / 3])) +
	   awa.heartbeat_batch(ids[1:2 * k / 3], leases[1:2 * k / 3]) > 0 THEN
		RAISE EXCEPTION 'a stale writer changed something in round %', r;
	END IF;
	-- cancel a few available and scheduled jobs, expire what is left running, promote what is due
	PERFORM awa.cancel(j) FROM (SELECT job_id FROM awa.ready_entries WHERE queue = q ORDER BY job_id DESC LIMIT 2) AS a(j);
	PERFORM awa.cancel(j) FROM (SELECT job_id FROM awa.deferred_jobs WHERE queue = q ORDER BY job_id LIMIT 1) AS d(j);
	UPDATE awa.lease_claims SET deadline_at = pg_catalog.now() - interval '1 second'
	WHERE queue = q AND job_id = ANY (ids);
	n := n + awa.rescue_expired();
	UPDATE awa.deferred_jobs SET run_at = pg_catalog.now() - interval '1 second'
	WHERE queue = q AND (job_id + r) % 2 = 0;
	n := n + awa.promote_due();
	RETURN n;
END
$$;

CREATE FUNCTION pg_temp.rounds(q text, first integer, last integer) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	bad text;
BEGIN
	FOR r IN first .. last LOOP
		PERFORM pg_temp.round(q, r);
		bad := pg_temp.inv();
		IF bad <> 'ok' THEN
			RETURN 'round ' || r || ': ' || bad;
		END IF;
	END LOOP;
	RETURN 'ok';
END
$$;

SELECT is(pg_temp.rounds('tap', 1, 6), 'ok', 'invariants hold after every round (shards, priorities, unique keys)');
SELECT is(pg_temp.rounds('tap_dlq', 1, 6), 'ok', 'invariants hold after every round on a DLQ-enabled queue');
SELECT is(pg_temp.rounds('tap', 7, 10), 'ok', 'invariants hold once jobs come back for further attempts');
SELECT is_empty('SELECT * FROM awa.verify_terminal_counters()', 'live counters equal done_entries');
SELECT is_empty('SELECT * FROM awa.verify_available_counts()', 'available from the heads equals the ready rows');

-- every state was reached
SELECT ok((SELECT pg_catalog.count(*) FROM awa.done_entries WHERE state = 'failed') > 0, 'some jobs failed');
SELECT ok((SELECT pg_catalog.count(*) FROM awa.done_entries WHERE state = 'cancelled') > 0, 'some jobs were cancelled');
SELECT ok((SELECT pg_catalog.count(*) FROM awa.done_entries WHERE state = 'completed') > 0, 'some jobs completed');
SELECT ok((SELECT pg_catalog.count(*) FROM awa.dlq_entries WHERE queue = 'tap_dlq') > 0, 'some jobs were dead-lettered');
SELECT is((SELECT pg_catalog.count(*) FROM awa.dlq_entries WHERE queue = 'tap'), 0::bigint, 'no DLQ rows without the policy');
SELECT ok((SELECT pg_catalog.count(*) FROM awa.lease_claim_closures WHERE outcome = 'deadline_expired') > 0, 'some attempts were rescued');
SELECT ok((SELECT pg_catalog.count(*) FROM awa.deferred_jobs) > 0, 'some jobs wait in deferred_jobs');

-- run_lease: one receipt per (job_id, run_lease), and the leases of a job are 1, 2, 3, ... in claim order
SELECT is_empty($$SELECT job_id, run_lease FROM awa.lease_claims GROUP BY 1, 2 HAVING pg_catalog.count(*) > 1$$,
	'no attempt identity was handed out twice');
SELECT is_empty($$SELECT job_id FROM awa.lease_claims GROUP BY job_id
	HAVING pg_catalog.max(run_lease) <> pg_catalog.count(*) OR pg_catalog.min(run_lease) <> 1$$,
	'run_lease grows by one per claim, never goes back');
SELECT is_empty($$SELECT d.job_id FROM awa.deferred_jobs AS d JOIN awa.lease_claims AS c ON c.job_id = d.job_id
	GROUP BY d.job_id, d.run_lease HAVING d.run_lease <> pg_catalog.max(c.run_lease)$$,
	'a deferred job keeps the run_lease of its last attempt');
-- no attempt state outlives its attempt
SELECT is_empty($$SELECT a.job_id FROM awa.attempt_state AS a WHERE NOT EXISTS (
	SELECT 1 FROM awa.lease_claims AS c WHERE c.job_id = a.job_id AND c.run_lease = a.run_lease
	AND NOT EXISTS (SELECT 1 FROM awa.lease_claim_closures AS x WHERE x.job_id = c.job_id
		AND x.run_lease = c.run_lease AND x.claim_slot = c.claim_slot))$$,
	'attempt_state only for open attempts');
-- errors: one entry per failed or rescued attempt, attempts numbered from 1
SELECT is_empty($$SELECT job_id FROM (
	SELECT job_id, payload FROM awa.deferred_jobs UNION ALL SELECT job_id, payload FROM awa.dlq_entries
	UNION ALL SELECT job_id, payload FROM awa.done_entries WHERE state = 'failed') AS j,
	pg_catalog.jsonb_array_elements(j.payload -> 'errors') AS e
	WHERE (e ->> 'attempt')::integer < 1 OR e ->> 'error' IS NULL OR e ->> 'at' IS NULL$$,
	'error entries carry error, attempt and at');

-- set_enqueue_shards earlier in this same transaction is what enqueue read
SELECT is((SELECT pg_catalog.array_agg(DISTINCT enqueue_shard ORDER BY enqueue_shard)
	FROM awa.queue_enqueue_heads WHERE queue = 'tap'), '{0,1,2}'::smallint[],
	'jobs of queue tap spread over the 3 shards set in this transaction');
SELECT * FROM finish();
ROLLBACK;
