-- test/pgtap/ring.sql -- rings: rotate, prune, carry-forward, maintenance ticks
BEGIN;
\set ECHO none
\ir ../awa_test_helpers.sql
SELECT plan(24);

SELECT has_function('awa', f, '{}'::name[], 'awa.' || f || '()')
FROM unnest(ARRAY['rotate', 'prune_oldest', 'rotate_claims', 'prune_oldest_claims', 'maintenance']) AS f;
SELECT is((SELECT count(*)::int FROM pg_proc p WHERE p.pronamespace = 'awa'::regnamespace
	AND p.proname IN ('rotate', 'prune_oldest', 'rotate_claims', 'prune_oldest_claims', 'maintenance')
	AND p.prosecdef AND obj_description(p.oid, 'pg_proc') IS NOT NULL), 5,
	'ring functions are SECURITY DEFINER and documented');

-- a long attempt survives a full wrap of the claim ring (more rotations than slots)
SELECT lives_ok($$SELECT pg_temp.seed_enqueue('long', 1); SELECT pg_temp.seed_claim('long', 1)$$,
	'one long attempt is claimed');
SELECT lives_ok($body$
	DO $do$
	DECLARE
		i integer;
		j bigint;
	BEGIN
		FOR i IN 1..20 LOOP
			PERFORM pg_temp.seed_enqueue('short', 2);
			FOR j IN SELECT * FROM pg_temp.seed_claim('short', 2) LOOP
				PERFORM pg_temp.seed_complete(j);
			END LOOP;
			PERFORM awa.maintenance();
		END LOOP;
	END
	$do$$body$, '20 maintenance ticks with a steady stream of short jobs');
SELECT cmp_ok((SELECT generation FROM awa.claim_ring_state), '>', 8::bigint, 'the claim ring wrapped');
SELECT is((SELECT generation FROM awa.queue_ring_state), 15::bigint,
	'the queue ring stopped in front of the long job''s slot (skipped_busy)');
SELECT is((SELECT count(*)::int FROM awa.lease_claims WHERE queue = 'long'), 1,
	'the long receipt exists exactly once');
SELECT is((SELECT claim_slot FROM awa.lease_claims WHERE queue = 'long'),
	(SELECT current_slot FROM awa.claim_ring_state), 'it was carried into the current claim slot');
SELECT is(pg_temp.inv(), 'ok', 'invariants hold after the wrap');
SELECT is(COALESCE((SELECT pruned_completed_count FROM awa.queue_terminal_rollups WHERE queue = 'short'), 0)
	+ COALESCE((SELECT sum(live_terminal_count) FROM awa.queue_terminal_live_counts WHERE queue = 'short'), 0)::bigint,
	40::bigint, 'every short job is counted once as terminal');
-- the long job's slot cannot be pruned while its receipt is open
SELECT is((SELECT count(*)::int FROM awa.ready_entries WHERE queue = 'long'), 1, 'its body was kept');
SELECT is(pg_temp.seed_complete((SELECT job_id FROM awa.lease_claims WHERE queue = 'long')), 1,
	'the carried receipt still completes');
-- A prune that cannot lock the slot's partitions within
-- awa.prune_lock_timeout returns 'blocked' and a later tick prunes; an
-- autovacuum worker analyzing a partition at that moment is enough, so
-- take ticks until one did more than that.
CREATE FUNCTION pg_temp.prune_tick() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	status text;
BEGIN
	FOR i IN 1..100 LOOP
		status := awa.maintenance() -> 'prune' ->> 0;
		EXIT WHEN status IS DISTINCT FROM 'blocked';
		PERFORM pg_sleep(0.05);
	END LOOP;
	RETURN status;
END $$;
SELECT is(pg_temp.prune_tick(), 'pruned', 'its slot is then pruned');
SELECT is(awa.maintenance() ->> 'rotate', 'rotated', 'and the queue ring moves on');
SELECT is(pg_temp.inv(), 'ok', 'invariants hold at the end');

-- a carried receipt keeps the unique key and mask of its job, so completing
-- it releases the key (states scheduled, available, running only)
SELECT awa.enqueue('k', '{}', 'ulong', unique_key => 'carry', unique_states => '11100000') IS NOT NULL AS enqueued \gset
CREATE TEMP TABLE carried AS
SELECT c.job_id, c.run_lease, c.claim_slot FROM awa.claim_batch('ulong', 1) AS c;
SELECT is((SELECT count(*)::int FROM carried), 1, 'a job with a unique key is claimed');
CREATE FUNCTION pg_temp.carry_tick() RETURNS integer LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1..20 LOOP
		PERFORM awa.rotate_claims();
		PERFORM awa.prune_oldest_claims();
		EXIT WHEN (SELECT c.claim_slot FROM awa.lease_claims AS c JOIN carried USING (job_id, run_lease))
			IS DISTINCT FROM (SELECT claim_slot FROM carried);
	END LOOP;
	RETURN (SELECT c.claim_slot FROM awa.lease_claims AS c JOIN carried USING (job_id, run_lease));
END $$;
SELECT isnt(pg_temp.carry_tick(), (SELECT claim_slot FROM carried), 'its receipt was carried into another slot');
SELECT is((SELECT (c.unique_key, c.unique_states)::text FROM awa.lease_claims AS c JOIN carried USING (job_id, run_lease)),
	(SELECT ('\x6361727279'::bytea, B'11100000')::text), 'with its unique key and mask');
SELECT is((SELECT count(*)::int FROM awa.complete_batch((SELECT array_agg(job_id) FROM carried),
	(SELECT array_agg(run_lease) FROM carried))), 1, 'the carried receipt completes');
SELECT lives_ok($$SELECT awa.enqueue('k', '{}', 'ulong', unique_key => 'carry', unique_states => '11100000')$$,
	'and its key is free again');

SELECT * FROM finish();
ROLLBACK;
