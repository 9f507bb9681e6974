-- test/pgtap/hotpath.sql -- invariants of enqueue -> claim -> complete
-- (the seed PR's live-counter tests, translated), FIFO, priorities, aging,
-- shards, pause, stale writers, gaps, uniqueness, rollback.
BEGIN;
SELECT plan(96);

CREATE FUNCTION pg_temp.stat(n text) RETURNS bigint LANGUAGE sql AS
$$ SELECT value FROM awa.backend_stats() WHERE name = n $$;
-- claim up to n jobs of a queue and complete them; returns the number finalized
CREATE FUNCTION pg_temp.drain(q text, n int) RETURNS bigint LANGUAGE sql AS $$
	WITH c AS (SELECT pg_catalog.array_agg(job_id) AS ids, pg_catalog.array_agg(run_lease) AS leases
	           FROM awa.claim_batch(q, n))
	SELECT pg_catalog.count(*) FROM c, awa.complete_batch(c.ids, c.leases) $$;
CREATE FUNCTION pg_temp.live(q text) RETURNS bigint LANGUAGE sql AS
$$ SELECT COALESCE(sum(live_terminal_count), 0)::bigint FROM awa.queue_terminal_live_counts WHERE queue = q $$;
CREATE FUNCTION pg_temp.done(q text) RETURNS bigint LANGUAGE sql AS
$$ SELECT count(*) FROM awa.done_entries WHERE queue = q $$;
CREATE TEMP TABLE s0 AS SELECT name, value FROM awa.backend_stats();
CREATE FUNCTION pg_temp.delta(n text) RETURNS bigint LANGUAGE sql AS
$$ SELECT pg_temp.stat(n) - (SELECT value FROM s0 WHERE name = n) $$;

-- 1. seed invariant: enqueue 7 (several counter groups) -> claim -> complete
SELECT awa.set_enqueue_shards('inv', 2);
SELECT count(*) FROM awa.enqueue_many(
	(SELECT jsonb_agg(jsonb_build_object('kind', 'k', 'queue', 'inv', 'priority', 1 + g % 2,
	                                     'ordering_key', 'key' || g))
	 FROM generate_series(1, 7) AS g));
SELECT is(pg_temp.drain('inv', 7), 7::bigint, 'seven jobs claimed and completed');
SELECT is(pg_temp.delta('complete_fused_jobs'), 7::bigint, 'all seven finalized by the fused statement');
-- one pass: the fused statement, or the direct write when attempt_state has
-- no page yet (no attempt ever heartbeated: this file run alone)
SELECT is(pg_temp.delta('complete_fused_statements') + pg_temp.delta('complete_direct_passes'), 1::bigint,
	'in one pass (fused statement or direct write)');
SELECT is(pg_temp.delta('complete_slot_pass_statements'), 0::bigint, 'no other-slot pass');
SELECT is(pg_temp.live('inv'), 7::bigint, 'SUM(live_terminal_count) = 7');
SELECT is(pg_temp.done('inv'), 7::bigint, 'count(*) done_entries = 7');
SELECT ok((SELECT count(*) FROM awa.queue_terminal_live_counts WHERE queue = 'inv') > 1,
	'the batch spans several counter groups');
SELECT is_empty('SELECT * FROM awa.verify_terminal_counters()', 'counter = done rows in every group');
SELECT is_empty('SELECT * FROM awa.verify_available_counts()', 'available from the heads = ready rows in every lane');

-- 2. three more accumulate to 10 (add, never overwrite)
DELETE FROM s0; INSERT INTO s0 SELECT name, value FROM awa.backend_stats();
SELECT count(*) FROM awa.enqueue_many('[{"kind":"k","queue":"inv"},{"kind":"k","queue":"inv","priority":1},{"kind":"k","queue":"inv"}]');
SELECT is(pg_temp.drain('inv', 10), 3::bigint, 'three more completed');
SELECT is(pg_temp.delta('complete_fused_jobs'), 3::bigint, 'through the fused statement');
SELECT is(pg_temp.live('inv'), 10::bigint, 'live counter accumulates to 10');
SELECT is(pg_temp.done('inv'), 10::bigint, 'done rows = 10');
SELECT is_empty('SELECT * FROM awa.verify_terminal_counters()', 'invariant still holds per group');
SELECT is_empty('SELECT * FROM awa.verify_available_counts()', 'available still exact per lane');
SELECT results_eq($$SELECT available, scheduled, retryable, running, terminal, dlq FROM awa.queue_counts('inv')$$,
	$$VALUES (0::bigint, 0::bigint, 0::bigint, 0::bigint, 10::bigint, 0::bigint)$$,
	'every job is in exactly one state: terminal');

-- 3. FIFO within a lane, one claim at a time; the first enqueue creates the
-- lane through the statement, the four after it are written directly
DELETE FROM s0; INSERT INTO s0 SELECT name, value FROM awa.backend_stats();
SELECT count(*) FROM (SELECT awa.enqueue('fifo' || g, queue => 'fifo') FROM generate_series(1, 5) AS g) AS s;
SELECT is(pg_temp.delta('enqueue_direct_rows'), 4::bigint, 'four of five enqueues written without a statement');
SELECT is((SELECT array_agg(lane_seq ORDER BY lane_seq) FROM awa.ready_entries WHERE queue = 'fifo'),
	'{1,2,3,4,5}'::bigint[], 'at consecutive lane positions');
-- 400 direct head advances in one transaction fill the head's page, so
-- some are not HOT: the new version must get its own index entry
SELECT count(*) FROM (SELECT awa.enqueue('nonhot', queue => 'nonhot') FROM generate_series(1, 401) AS g) AS s;
SELECT ok(pg_stat_get_xact_tuples_updated('awa.queue_enqueue_heads'::regclass)
	> pg_stat_get_xact_tuples_hot_updated('awa.queue_enqueue_heads'::regclass),
	'some head advances were not HOT');
SET LOCAL enable_seqscan = off;
SET LOCAL enable_bitmapscan = off;
SELECT is((SELECT next_seq FROM awa.queue_enqueue_heads WHERE queue = 'nonhot'), 402::bigint,
	'an index scan finds the latest head version');
SELECT is((SELECT count(*) FROM awa.ready_entries WHERE queue = 'nonhot'), 401::bigint,
	'and every ready row through the index');
RESET enable_seqscan;
RESET enable_bitmapscan;
-- unordered jobs of a sharded queue: once its lanes exist, each takes the
-- first free lane from its rotor pick without a statement
SELECT awa.set_enqueue_shards('shd', 3);
SELECT count(*) FROM (SELECT awa.enqueue('first', queue => 'shd') FROM generate_series(1, 6) AS g) AS s;
DELETE FROM s0; INSERT INTO s0 SELECT name, value FROM awa.backend_stats();
SELECT count(*) FROM (SELECT awa.enqueue('then', queue => 'shd') FROM generate_series(1, 6) AS g) AS s;
SELECT is(ARRAY[pg_temp.delta('enqueue_direct_rows'), pg_temp.delta('enqueue_fused_statements')],
	ARRAY[6, 0]::bigint[], 'six unordered jobs of a 3-lane queue written without a statement');
SELECT is((SELECT array_agg(n ORDER BY enqueue_shard) FROM (SELECT enqueue_shard, count(*) AS n
	FROM awa.ready_entries WHERE queue = 'shd' AND kind = 'then' GROUP BY enqueue_shard) AS l),
	'{2,2,2}'::bigint[], 'spread over the three lanes by the rotor');
CREATE TEMP TABLE fifo_seen AS
SELECT g, (SELECT kind FROM awa.claim_batch('fifo', 1 + 0 * g)) AS kind FROM generate_series(1, 5) AS g;
SELECT results_eq($$SELECT kind FROM fifo_seen ORDER BY g$$,
	$$VALUES ('fifo1'), ('fifo2'), ('fifo3'), ('fifo4'), ('fifo5')$$,
	'claims follow lane_seq order');

-- 4. priority order across lanes
SELECT count(*) FROM awa.enqueue_many('[{"kind":"p4","queue":"prio","priority":4},{"kind":"p2","queue":"prio","priority":2},
	{"kind":"p1","queue":"prio","priority":1},{"kind":"p3","queue":"prio","priority":3}]');
SELECT results_eq($$SELECT kind FROM awa.claim_batch('prio', 4)$$,
	$$VALUES ('p1'), ('p2'), ('p3'), ('p4')$$, 'best priority first, rows in claim order');

-- 5. aging: waiting longer than the interval raises a lane, never above 1
SELECT count(*) FROM awa.enqueue_many('[{"kind":"slow","queue":"age","priority":4},{"kind":"fresh","queue":"age","priority":2}]');
UPDATE awa.ready_entries SET run_at = run_at - interval '150 seconds' WHERE queue = 'age' AND kind = 'slow';
SELECT results_eq($$SELECT kind, priority, effective_priority FROM awa.claim_batch('age', 1, '1 minute', '60 seconds')$$,
	$$VALUES ('slow'::text, 4::smallint, 2::smallint)$$, 'two intervals: 4 -> 2, older wins the tie');
SELECT results_eq($$SELECT kind, effective_priority FROM awa.claim_batch('age', 1, '1 minute', '0')$$,
	$$VALUES ('fresh'::text, 2::smallint)$$, 'aging 0 keeps the lane priority');

-- 6. ordering_key -> the same shard
SELECT awa.set_enqueue_shards('ok', 16);
SELECT count(*) FROM (SELECT awa.enqueue('o', queue => 'ok', ordering_key => 'acct-9') FROM generate_series(1, 6)) AS s;
SELECT is((SELECT count(DISTINCT enqueue_shard) FROM awa.ready_entries WHERE queue = 'ok'), 1::bigint,
	'one ordering key, one shard');

-- 7. several shards drained without starvation: oldest candidate first
SELECT awa.set_enqueue_shards('shards', 4);
SELECT count(*) FROM (SELECT awa.enqueue('s' || g, queue => 'shards', ordering_key => 'k' || (g % 4))
	FROM generate_series(0, 11) AS g) AS s;
SELECT is((SELECT count(DISTINCT enqueue_shard) FROM awa.ready_entries WHERE queue = 'shards'), 4::bigint,
	'four lanes in use');
CREATE TEMP TABLE order_seen AS
SELECT g, (SELECT job_id FROM awa.claim_batch('shards', 1 + 0 * g)) AS job_id FROM generate_series(1, 4) AS g;
SELECT is((SELECT count(DISTINCT r.enqueue_shard) FROM order_seen JOIN awa.ready_entries AS r USING (job_id)),
	4::bigint, 'four single claims visit all four shards');
SELECT is(pg_temp.drain('shards', 100), 8::bigint, 'the rest drains');

-- 8. paused queue is not claimed
SELECT awa.enqueue('p', queue => 'paused');
SELECT awa.pause_queue('paused');
SELECT is_empty($$SELECT * FROM awa.claim_batch('paused', 10)$$, 'paused queue yields nothing');
SELECT awa.resume_queue('paused');
SELECT is(pg_temp.drain('paused', 10), 1::bigint, 'resumed queue drains');

-- 9. stale completion changes nothing
SELECT awa.enqueue('stale', queue => 'stale');
CREATE TEMP TABLE st AS SELECT job_id, run_lease FROM awa.claim_batch('stale', 1);
SELECT is_empty($$SELECT * FROM awa.complete_batch(ARRAY[(SELECT job_id FROM st)], ARRAY[(SELECT run_lease + 5 FROM st)])$$,
	'wrong run_lease: nothing finalized');
SELECT is(pg_temp.done('stale'), 0::bigint, 'and no done row');
SELECT is((SELECT count(*) FROM awa.complete_batch(ARRAY[(SELECT job_id FROM st)], ARRAY[(SELECT run_lease FROM st)])),
	1::bigint, 'the right pair completes');
SELECT is_empty($$SELECT * FROM awa.complete_batch(ARRAY[(SELECT job_id FROM st)], ARRAY[(SELECT run_lease FROM st)])$$,
	'completed twice: second call finalizes nothing');
SELECT ok(pg_temp.done('stale') = 1 AND pg_temp.live('stale') = 1, 'one done row, counter 1');

-- 10. gap recovery: the lane's head row deleted directly
SELECT count(*) FROM awa.enqueue_many('[{"kind":"g1","queue":"gap"},{"kind":"g2","queue":"gap"}]');
DELETE FROM awa.ready_entries WHERE queue = 'gap' AND kind = 'g1';
SELECT results_eq($$SELECT kind FROM awa.claim_batch('gap', 5)$$, $$VALUES ('g2')$$, 'lane skips the gap');
DELETE FROM awa.ready_entries WHERE queue = 'gap';
SELECT awa.enqueue('g3', queue => 'gap');
DELETE FROM awa.ready_entries WHERE queue = 'gap' AND kind = 'g3';
SELECT is_empty($$SELECT * FROM awa.claim_batch('gap', 5)$$, 'a lane with only deleted rows claims nothing');
SELECT is((SELECT claim_seq FROM awa.queue_claim_heads WHERE queue = 'gap'),
	(SELECT next_seq FROM awa.queue_enqueue_heads WHERE queue = 'gap'), 'and closes its gap (no phantom backlog)');

-- 11. unique conflict: 23505, nothing written
SELECT awa.enqueue('u', queue => 'uq', unique_key => '\x42');
SELECT throws_ok($$SELECT * FROM awa.enqueue_many('[{"kind":"x","queue":"uq2"},{"kind":"u","queue":"uq2","unique_key":"\\x42"}]')$$,
	'23505', NULL, 'a taken key fails the whole batch');
SELECT is((SELECT count(*) FROM awa.ready_entries WHERE queue = 'uq2'), 0::bigint, 'nothing written');

-- 12. rollback of an enqueue leaves nothing, no head advance visible
SAVEPOINT before_enqueue;
SELECT awa.enqueue('rb', queue => 'fifo');
ROLLBACK TO SAVEPOINT before_enqueue;
SELECT is((SELECT next_seq FROM awa.queue_enqueue_heads WHERE queue = 'fifo'), 6::bigint, 'head not advanced');
SELECT is((SELECT available FROM awa.queue_counts('fifo')), 0::bigint, 'no job left behind');

-- 13. a batch mixing open attempts with stale pairs (already completed, or
-- a wrong run_lease): in READ COMMITTED the receipts are locked and the
-- closed ones left out before the fused statement (decision 37); only the
-- open attempts are finalized, with plain closures, and the stale pairs
-- need no other-slot pass
SELECT count(*) FROM awa.enqueue_many('[{"kind":"m","queue":"mix"},{"kind":"m","queue":"mix"},{"kind":"m","queue":"mix"}]');
CREATE TEMP TABLE mix_claimed AS SELECT job_id, run_lease FROM awa.claim_batch('mix', 3);
SELECT is((SELECT count(*) FROM awa.complete_batch(
	ARRAY(SELECT job_id FROM mix_claimed ORDER BY job_id LIMIT 1),
	ARRAY(SELECT run_lease FROM mix_claimed ORDER BY job_id LIMIT 1))), 1::bigint,
	'first attempt completed alone');
DELETE FROM s0; INSERT INTO s0 SELECT name, value FROM awa.backend_stats();
SELECT results_eq($$SELECT job_id FROM awa.complete_batch(
	ARRAY(SELECT job_id FROM mix_claimed UNION ALL SELECT min(job_id) FROM mix_claimed),
	ARRAY(SELECT run_lease FROM mix_claimed UNION ALL SELECT min(run_lease) + 5 FROM mix_claimed))
	ORDER BY job_id$$,
	$$SELECT job_id FROM mix_claimed ORDER BY job_id OFFSET 1$$,
	'the two open attempts finalized; the completed one and the wrong lease are not');
SELECT is(pg_temp.delta('complete_prelocked_passes'), 0::bigint,
	'a pair without a receipt in the slot sends the call to the general path');
SELECT is((SELECT count(*) FROM awa.lease_claim_closures c JOIN mix_claimed m USING (job_id, run_lease)),
	3::bigint, 'one closure per attempt, none twice');
DELETE FROM s0; INSERT INTO s0 SELECT name, value FROM awa.backend_stats();
SELECT is((SELECT count(*) FROM awa.complete_batch(
	ARRAY(SELECT job_id FROM mix_claimed), ARRAY(SELECT run_lease FROM mix_claimed))), 0::bigint,
	'completing all three again finalizes nothing');
SELECT is(pg_temp.delta('complete_prelocked_passes') || '/' || pg_temp.delta('complete_fused_statements')
	|| '/' || pg_temp.delta('complete_slot_pass_statements'),
	'1/0/0', 'receipts locked first, all three found closed: no statement ran');
SELECT is(pg_temp.done('mix'), 3::bigint, 'three done rows, one per job');

-- 14. the receipts of a batch claimed together are looked up by one walk of
-- the key range (dense ids), those of a scattered batch by one descent
-- each; both must find exactly the open receipts, pass over the receipts
-- of other claims between the ids, and leave closed attempts out.  The 40
-- jobs alternate between two lanes, so the ids of one lane's claim
-- interleave with the other's.
SELECT count(*) FROM awa.enqueue_many((SELECT jsonb_agg(jsonb_build_object('kind', 'w', 'queue', 'walk',
	'priority', 1 + g % 2)) FROM generate_series(0, 39) AS g));
CREATE TEMP TABLE walk_claimed AS SELECT job_id, run_lease, claim_slot, priority FROM awa.claim_batch('walk', 12);
CREATE TEMP TABLE walk_rest AS SELECT job_id, run_lease, priority FROM awa.claim_batch('walk', 28);
SELECT ok((SELECT count(*) FROM walk_rest WHERE job_id BETWEEN (SELECT min(job_id) FROM walk_claimed)
	AND (SELECT max(job_id) FROM walk_claimed)) >= 10, 'the other claim has receipts between the ids of the first');
SELECT is((SELECT count(*) FROM awa.complete_batch(
	ARRAY(SELECT job_id FROM walk_claimed ORDER BY job_id LIMIT 1 OFFSET 3),
	ARRAY(SELECT run_lease FROM walk_claimed ORDER BY job_id LIMIT 1 OFFSET 3))), 1::bigint,
	'one attempt in the middle completed alone');
DELETE FROM s0; INSERT INTO s0 SELECT name, value FROM awa.backend_stats();
SELECT results_eq($$SELECT job_id FROM awa.complete_batch(
	ARRAY(SELECT job_id FROM walk_claimed), ARRAY(SELECT run_lease FROM walk_claimed)) ORDER BY job_id$$,
	$$SELECT job_id FROM (SELECT job_id, row_number() OVER (ORDER BY job_id) AS k FROM walk_claimed) AS w
	  WHERE k <> 4 ORDER BY job_id$$,
	'dense batch of 12: the 11 open attempts finalized, the closed one left out');
SELECT is(pg_temp.delta('complete_prelocked_passes') || '/' || pg_temp.delta('complete_slot_pass_statements')
	|| '/' || pg_temp.delta('complete_key_walks'),
	'1/0/2', 'through the prelocked statement, receipts and closures each found by one walk');
SELECT is((SELECT count(*) FROM awa.lease_claim_closures c JOIN walk_claimed w USING (job_id, run_lease, claim_slot)),
	12::bigint, 'one closure per attempt');
SELECT is((SELECT count(*) FROM awa.lease_claim_closures c JOIN walk_rest w USING (job_id, run_lease)),
	0::bigint, 'none for the other claim''s attempts');
-- scattered: eight attempts whose ids spread over more than 4x their
-- number (one done attempt of section 1 among them): one descent each
CREATE TEMP TABLE walk_sparse AS
	(SELECT job_id, run_lease FROM walk_rest ORDER BY job_id LIMIT 7)
	UNION ALL (SELECT job_id, run_lease FROM awa.lease_claims WHERE queue = 'inv' ORDER BY job_id LIMIT 1);
DELETE FROM s0; INSERT INTO s0 SELECT name, value FROM awa.backend_stats();
SELECT is((SELECT count(*) FROM awa.complete_batch(
	ARRAY(SELECT job_id FROM walk_sparse), ARRAY(SELECT run_lease FROM walk_sparse))),
	7::bigint, 'a scattered batch: its seven open attempts finalized, the done one left out');
SELECT is(pg_temp.delta('complete_prelocked_passes') || '/' || pg_temp.delta('complete_key_walks'),
	'1/0', 'through the prelocked statement, without a walk');
SELECT is((SELECT count(*) FROM awa.complete_batch(
	ARRAY(SELECT job_id FROM walk_rest), ARRAY(SELECT run_lease FROM walk_rest))),
	21::bigint, 'then the other 21 by a walk, the finished ones left out');
SELECT is(pg_temp.done('walk'), 40::bigint, 'forty done rows for forty jobs');

-- 15. the near claim without the executor (awa.direct_writes, decision 39)
-- returns what the statements return: the same jobs in two queues, claimed
-- with and without it, give the same columns, receipts and claim heads
CREATE FUNCTION pg_temp.same_jobs(q text, batch text) RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*) FROM (
		SELECT awa.enqueue('k' || g, jsonb_build_object('g', g), q, 3::smallint,
			pg_catalog.now() - pg_catalog.make_interval(secs => 10 * g), (4 + g)::smallint,
			CASE WHEN g % 2 = 0 THEN jsonb_build_object('m', g) ELSE '{}' END,
			CASE WHEN g % 3 = 0 THEN ARRAY['t' || g, 'u'] ELSE '{}' END,
			CASE WHEN g = 4 THEN pg_catalog.convert_to(q || batch || g, 'UTF8') END)
		FROM generate_series(1, 6) AS g) AS e $$;
CREATE FUNCTION pg_temp.claimed_cols(q text, n int) RETURNS TABLE (c text) LANGUAGE sql AS $$
	SELECT (j.job_id - (SELECT min(job_id) FROM awa.ready_entries WHERE queue = q))
		|| '|' || j.run_lease || '|' || j.kind || '|' || j.args || '|' || j.priority
		|| '|' || j.attempt || '|' || j.max_attempts || '|' || j.metadata || '|' || j.tags::text
		|| '|' || (j.claimed_at = pg_catalog.now()) || '|' || (j.deadline_at - j.claimed_at)
		|| '|' || j.claim_slot || '|' || j.effective_priority || '|' || (j.unique_key IS NOT NULL)
	FROM awa.claim_batch(q, n, '90 seconds', '25 seconds') AS j $$;
CREATE FUNCTION pg_temp.receipt_cols(q text) RETURNS TABLE (c text) LANGUAGE sql AS $$
	SELECT (r.job_id - (SELECT min(job_id) FROM awa.ready_entries WHERE queue = q)) || '|' || r.claim_slot
		|| '|' || r.run_lease || '|' || r.ready_slot || '|' || r.ready_generation || '|' || r.kind
		|| '|' || r.priority || '|' || r.effective_priority || '|' || r.attempt || '|' || r.max_attempts
		|| '|' || r.lane_seq || '|' || r.enqueue_shard || '|' || (r.deadline_at - r.claimed_at)
		|| '|' || (r.unique_key IS NOT NULL) || '|' || COALESCE(r.unique_states::text, '-')
	FROM awa.lease_claims AS r WHERE r.queue = q ORDER BY r.job_id $$;
SELECT pg_temp.same_jobs('dc_on', 'a'), pg_temp.same_jobs('dc_off', 'a');
DELETE FROM s0; INSERT INTO s0 SELECT name, value FROM awa.backend_stats();
CREATE TEMP TABLE dc_on AS SELECT row_number() OVER () AS k, c FROM pg_temp.claimed_cols('dc_on', 4) AS c;
SELECT is(pg_temp.delta('claim_direct_lanes') || '/' || pg_temp.delta('claim_general_statements'),
	'1/0', 'awa.direct_writes on: the lane claimed without a statement');
SET LOCAL awa.direct_writes = off;
DELETE FROM s0; INSERT INTO s0 SELECT name, value FROM awa.backend_stats();
CREATE TEMP TABLE dc_off AS SELECT row_number() OVER () AS k, c FROM pg_temp.claimed_cols('dc_off', 4) AS c;
SELECT is(pg_temp.delta('claim_direct_lanes') || '/' || pg_temp.delta('claim_lane_statements'),
	'0/1', 'awa.direct_writes off: the statement claims the lane');
RESET awa.direct_writes;
SELECT is((SELECT count(*) FROM dc_on), 4::bigint, 'four jobs claimed directly');
SELECT results_eq('SELECT k, c FROM dc_on ORDER BY k', 'SELECT k, c FROM dc_off ORDER BY k',
	'the same claimed_job columns (aged priority, metadata, tags, unique key, deadline) in the same order');
SELECT results_eq($$SELECT * FROM pg_temp.receipt_cols('dc_on')$$, $$SELECT * FROM pg_temp.receipt_cols('dc_off')$$,
	'the same receipts');
SELECT results_eq($$SELECT claim_seq, last_claimed_slot FROM awa.queue_claim_heads WHERE queue = 'dc_on'$$,
	$$SELECT claim_seq, last_claimed_slot FROM awa.queue_claim_heads WHERE queue = 'dc_off'$$,
	'the same claim head');
SELECT is((SELECT available || '/' || running FROM awa.queue_counts('dc_on')), '2/4', 'two left available, four running');
SELECT is((SELECT count(*) FROM awa.job_unique_claims c JOIN awa.lease_claims r USING (job_id)
	WHERE r.queue = 'dc_on'), 1::bigint, 'the unique job keeps its claim while running');
-- a lane whose rows sit in two ready slots is merged in lane order
SELECT awa.rotate() IS NOT NULL AS rotated;
SELECT pg_temp.same_jobs('dc_on', 'b') AS six_more;
DELETE FROM s0; INSERT INTO s0 SELECT name, value FROM awa.backend_stats();
SELECT results_eq($$SELECT array_agg(kind ORDER BY ord) FROM
	awa.claim_batch('dc_on', 5) WITH ORDINALITY AS j(job_id, run_lease, kind, queue, args, priority,
	attempt, max_attempts, metadata, tags, claimed_at, deadline_at, claim_slot, effective_priority, unique_key, ord)$$,
	$$VALUES (ARRAY['k5', 'k6', 'k1', 'k2', 'k3'])$$, 'across two ready slots, FIFO');
SELECT is(pg_temp.delta('claim_direct_lanes') || '/' || pg_temp.delta('claim_general_statements'),
	'1/0', 'in one direct claim');
SELECT is((SELECT count(DISTINCT ready_slot) FROM awa.lease_claims WHERE queue = 'dc_on' AND lane_seq IN (5, 6, 7)),
	2::bigint, 'the receipts point into both slots');
-- a removed row inside the batch: not provably the next rows, the general claim takes over
DELETE FROM awa.jobs WHERE id = (SELECT job_id FROM awa.ready_entries WHERE queue = 'dc_on' AND lane_seq = 11);
DELETE FROM s0; INSERT INTO s0 SELECT name, value FROM awa.backend_stats();
SELECT results_eq($$SELECT array_agg(kind) FROM awa.claim_batch('dc_on', 2)$$,
	$$VALUES (ARRAY['k4', 'k6'])$$, 'the removed job is skipped');
SELECT is(pg_temp.delta('claim_direct_lanes') || '/' || pg_temp.delta('claim_general_statements'),
	'0/1', 'by the general claim statement, nothing written by the direct one');
SELECT is((SELECT available FROM awa.queue_counts('dc_on')) || '/' || pg_temp.drain('dc_off', 20), '0/2',
	'nothing left in one queue, the other drained');
SELECT is((SELECT count(*) FROM awa.complete_batch(
	ARRAY(SELECT job_id FROM awa.lease_claims AS r WHERE queue IN ('dc_on', 'dc_off') AND NOT EXISTS
		(SELECT 1 FROM awa.lease_claim_closures AS c WHERE (c.job_id, c.run_lease) = (r.job_id, r.run_lease)) ORDER BY job_id),
	ARRAY(SELECT run_lease FROM awa.lease_claims AS r WHERE queue IN ('dc_on', 'dc_off') AND NOT EXISTS
		(SELECT 1 FROM awa.lease_claim_closures AS c WHERE (c.job_id, c.run_lease) = (r.job_id, r.run_lease)) ORDER BY job_id))),
	15::bigint, 'the fifteen running attempts completed');
SELECT is(pg_temp.done('dc_on') || '/' || pg_temp.done('dc_off'), '11/6', 'a done row per job not removed');

-- 16. the first pass of a completion without the executor (decision 40):
-- closures, done rows and counters as the statement writes them; counter
-- rows that exist added to without a statement, a new group upserted
TRUNCATE awa.attempt_state;  -- no page: the direct pass applies
SELECT awa.set_enqueue_shards('cd_on', 2), awa.set_enqueue_shards('cd_off', 2);
CREATE FUNCTION pg_temp.cd_jobs(q text) RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*) FROM (SELECT awa.enqueue('c' || g, jsonb_build_object('g', g), q, (1 + g % 2)::smallint,
		unique_key => CASE WHEN g = 3 THEN pg_catalog.convert_to(q || 'u3', 'UTF8') END,
		unique_states => CASE WHEN g = 3 THEN B'01100000' END,
		ordering_key => 'o' || g) FROM generate_series(1, 6) AS g) AS e $$;
-- claim everything, complete the first attempt alone, then all of them
-- (the first one is then closed: left out before the pass); returns the
-- second call's count
CREATE TEMP TABLE cd_claimed (job_id bigint, run_lease bigint);
CREATE FUNCTION pg_temp.cd_complete(q text) RETURNS bigint LANGUAGE sql AS $$
	DELETE FROM cd_claimed;
	INSERT INTO cd_claimed SELECT job_id, run_lease FROM awa.claim_batch(q, 10);
	SELECT count(*) FROM awa.complete_batch(ARRAY(SELECT min(job_id) FROM cd_claimed),
		ARRAY(SELECT run_lease FROM cd_claimed ORDER BY job_id LIMIT 1));
	SELECT count(*) FROM awa.complete_batch(ARRAY(SELECT job_id FROM cd_claimed ORDER BY job_id),
		ARRAY(SELECT run_lease FROM cd_claimed ORDER BY job_id)) $$;
CREATE FUNCTION pg_temp.done_cols(q text) RETURNS TABLE (c text) LANGUAGE sql AS $$
	SELECT (d.job_id - (SELECT min(job_id) FROM awa.ready_entries WHERE queue = q)) || '|' || d.ready_slot
		|| '|' || d.ready_generation || '|' || d.kind || '|' || d.state || '|' || d.priority || '|' || d.attempt
		|| '|' || d.run_lease || '|' || d.lane_seq || '|' || d.enqueue_shard
		|| '|' || (d.attempted_at = r.claimed_at) || '|' || (d.finalized_at = pg_catalog.now())
		|| '|' || (d.payload IS NULL) || '|' || (d.args IS NULL) || '|' || (d.unique_key IS NULL)
		|| '|' || c.outcome
	FROM awa.done_entries AS d JOIN awa.lease_claims AS r USING (job_id, run_lease)
	JOIN awa.lease_claim_closures AS c USING (job_id, run_lease)
	WHERE d.queue = q ORDER BY d.job_id $$;
CREATE FUNCTION pg_temp.counter_cols(q text) RETURNS TABLE (c text) LANGUAGE sql AS $$
	SELECT ready_slot || '|' || priority || '|' || enqueue_shard || '|' || live_terminal_count
	FROM awa.queue_terminal_live_counts WHERE queue = q ORDER BY 1 $$;
SELECT pg_temp.cd_jobs('cd_on') + pg_temp.cd_jobs('cd_off') AS twelve;
DELETE FROM s0; INSERT INTO s0 SELECT name, value FROM awa.backend_stats();
SELECT is(pg_temp.cd_complete('cd_on'), 5::bigint, 'one completed, then the other five, the closed one left out');
SELECT is(pg_temp.delta('complete_direct_passes') || '/' || pg_temp.delta('complete_fused_statements')
	|| '/' || pg_temp.delta('complete_fused_jobs') || '/' || pg_temp.delta('complete_unique_sync_jobs'),
	'2/0/6/1', 'two direct passes, no statement; the unique claim synced');
SET LOCAL awa.direct_writes = off;
DELETE FROM s0; INSERT INTO s0 SELECT name, value FROM awa.backend_stats();
SELECT is(pg_temp.cd_complete('cd_off'), 5::bigint, 'the same with awa.direct_writes off');
SELECT is(pg_temp.delta('complete_direct_passes') || '/' || pg_temp.delta('complete_fused_statements')
	|| '/' || pg_temp.delta('counter_direct_groups'), '0/2/0', 'by the statements');
RESET awa.direct_writes;
SELECT results_eq($$SELECT * FROM pg_temp.done_cols('cd_on')$$, $$SELECT * FROM pg_temp.done_cols('cd_off')$$,
	'the same done rows and closures');
SELECT results_eq($$SELECT * FROM pg_temp.counter_cols('cd_on')$$, $$SELECT * FROM pg_temp.counter_cols('cd_off')$$,
	'the same counters');
SELECT is((SELECT count(*) FROM awa.job_unique_claims WHERE unique_key IN
	(pg_catalog.convert_to('cd_onu3', 'UTF8'), pg_catalog.convert_to('cd_offu3', 'UTF8'))), 0::bigint,
	'unique claims released on completion (mask: running only) on both paths');
-- the same groups again: their counter rows exist now and are added to directly
SELECT pg_temp.cd_jobs('cd_on') AS six_more;
DELETE FROM s0; INSERT INTO s0 SELECT name, value FROM awa.backend_stats();
SELECT is(pg_temp.cd_complete('cd_on'), 5::bigint, 'six more completed');
SELECT ok(pg_temp.delta('counter_direct_groups') > 0 AND pg_temp.delta('complete_direct_passes') = 2,
	'existing counter rows added to without a statement');
SELECT is((SELECT sum(live_terminal_count) FROM awa.queue_terminal_live_counts WHERE queue = 'cd_on'),
	12::numeric, 'twelve terminal rows counted');
SELECT is_empty('SELECT * FROM awa.verify_terminal_counters()', 'counter = done rows after the direct passes');

-- 17. a receipt partition whose key does not lead with (job_id, run_lease)
-- is not read through it (here: keyed by job_id alone): the completion
-- takes the general path and finalizes the same attempts; with the key
-- back, the receipts are locked without a statement again (decision 48)
CREATE FUNCTION pg_temp.rekey_receipts(cols text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	part text := 'lease_claims_' || COALESCE((SELECT current_slot FROM awa.claim_ring_state), 0);
BEGIN
	EXECUTE format('ALTER TABLE awa.%I DROP CONSTRAINT %I, ADD PRIMARY KEY (%s)', part, part || '_pkey', cols);
END $$;
SELECT pg_temp.rekey_receipts('job_id');
SELECT count(*) FROM awa.enqueue_many('[{"kind":"r","queue":"rekey"},{"kind":"r","queue":"rekey"}]');
DELETE FROM s0; INSERT INTO s0 SELECT name, value FROM awa.backend_stats();
SELECT is(pg_temp.drain('rekey', 2), 2::bigint, 'receipts keyed by job_id alone: both attempts completed');
SELECT is(pg_temp.delta('complete_prelocked_passes'), 0::bigint, 'through the general path');
SELECT is(pg_temp.done('rekey'), 2::bigint, 'two done rows');
SELECT pg_temp.rekey_receipts('job_id, run_lease');
SELECT count(*) FROM awa.enqueue_many('[{"kind":"r","queue":"rekey"}]');
DELETE FROM s0; INSERT INTO s0 SELECT name, value FROM awa.backend_stats();
SELECT is(pg_temp.drain('rekey', 1), 1::bigint, 'the key restored: completed');
SELECT is(pg_temp.delta('complete_prelocked_passes'), 1::bigint, 'its receipt locked without a statement');

SELECT is_empty('SELECT * FROM awa.verify_terminal_counters()', 'counters exact at the end');
SELECT is_empty('SELECT * FROM awa.verify_available_counts()', 'available counts exact at the end (gaps closed by claim)');
SELECT * FROM finish();
ROLLBACK;
