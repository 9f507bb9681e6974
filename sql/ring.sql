-- ring: rotate and prune of the queue ring and the claim ring
\set VERBOSITY terse
SET client_min_messages = warning;
\set ECHO none
\ir test/awa_test_helpers.sql
\set ECHO all

-- start from empty rings (earlier tests in this database leave rows behind)
TRUNCATE awa.ready_entries, awa.done_entries, awa.lease_claims, awa.lease_claim_closures,
	awa.deferred_jobs, awa.dlq_entries, awa.job_unique_claims, awa.queue_terminal_live_counts,
	awa.queue_terminal_rollups, awa.queue_enqueue_heads, awa.queue_claim_heads, awa.ready_holes,
	awa.queue_ring_state, awa.queue_ring_slots, awa.claim_ring_state, awa.claim_ring_slots;

-- a fresh install has no ring-state rows: prune has nothing to do
SELECT awa.prune_oldest(), awa.prune_oldest_claims();
SELECT current_slot, generation, slot_count, terminal_counter_trusted_at IS NOT NULL AS trusted
FROM awa.queue_ring_state;
SELECT * FROM awa.queue_ring_slots ORDER BY slot;

-- the seed's prune test: 5 completed jobs in slot 0, rotate, prune
SELECT count(*) FROM pg_temp.seed_enqueue('q', 5);
SELECT count(*) FROM pg_temp.seed_claim('q', 5);
SELECT sum(pg_temp.seed_complete(job_id)) FROM awa.lease_claims;
SELECT pg_temp.inv(), pg_temp.terminal_total();
SELECT awa.rotate();
SELECT current_slot, generation FROM awa.queue_ring_state;
SELECT * FROM awa.queue_ring_slots ORDER BY slot;
SELECT awa.prune_oldest();
SELECT (SELECT count(*) FROM awa.done_entries_0) AS done_rows,
       (SELECT count(*) FROM awa.ready_entries_0) AS ready_rows,
       (SELECT count(*) FROM awa.queue_terminal_live_counts WHERE ready_slot = 0) AS counter_rows;
SELECT * FROM awa.queue_terminal_rollups;
SELECT pg_temp.inv(), pg_temp.terminal_total();
-- the emptied slot is not truncated again
SELECT awa.prune_oldest();

-- an unclaimed job keeps its slot (1) from being pruned
SELECT count(*) FROM pg_temp.seed_enqueue('q', 2);
SELECT awa.rotate();
SELECT awa.prune_oldest();
SELECT pg_temp.inv();
-- claimed, but the receipts are still open: still active
SELECT count(*) FROM pg_temp.seed_claim('q', 2);
SELECT awa.prune_oldest();
SELECT pg_temp.inv();
-- one completes, the other goes back to deferred (its body stays in slot 1):
-- the retained body does not block the slot (O1)
SELECT pg_temp.seed_complete(min(job_id)) FROM awa.ready_entries_1;
SELECT pg_temp.seed_retry(max(job_id)) FROM awa.ready_entries_1;
SELECT pg_temp.inv();
SELECT awa.prune_oldest();
SELECT count(*) AS deferred_kept FROM awa.deferred_jobs;
SELECT * FROM awa.queue_terminal_rollups;
SELECT pg_temp.inv(), pg_temp.terminal_total();

-- unique claims held by pruned terminal rows are released; others stay
SELECT count(*) FROM pg_temp.seed_enqueue('u', 3);
UPDATE awa.ready_entries SET unique_key = ('\x0' || (job_id % 10))::bytea WHERE queue = 'u';
INSERT INTO awa.job_unique_claims SELECT unique_key, job_id FROM awa.ready_entries WHERE queue = 'u';
-- a claim on the same key by another (newer) job is not released
INSERT INTO awa.job_unique_claims VALUES ('\xff', 424242);
UPDATE awa.ready_entries SET unique_key = '\xff' WHERE queue = 'u' AND job_id = (SELECT max(job_id) FROM awa.ready_entries WHERE queue = 'u');
DELETE FROM awa.job_unique_claims WHERE job_id = (SELECT max(job_id) FROM awa.ready_entries WHERE queue = 'u');
-- a wide done row carries its own key
INSERT INTO awa.job_unique_claims VALUES ('\xee', 515151);
INSERT INTO awa.done_entries (ready_slot, ready_generation, job_id, kind, queue, state, priority,
                              lane_seq, enqueue_shard, unique_key)
VALUES (pg_temp.cur_slot(), pg_temp.cur_gen(), 515151, 'wide', 'u', 'cancelled', 2, -515151, 0, '\xee');
INSERT INTO awa.queue_terminal_live_counts VALUES (pg_temp.cur_slot(), 'u', 2, 0, 1);
SELECT count(*) FROM pg_temp.seed_claim('u', 3);
SELECT sum(pg_temp.seed_complete(job_id)) FROM awa.ready_entries WHERE queue = 'u';
SELECT count(*) AS claims_before FROM awa.job_unique_claims;
SELECT awa.rotate(), awa.prune_oldest();
SELECT * FROM awa.job_unique_claims ORDER BY unique_key;
SELECT * FROM awa.queue_terminal_rollups ORDER BY queue, priority;
SELECT pg_temp.inv(), pg_temp.terminal_total();

-- claim ring: an open receipt is carried forward into the current claim slot
SELECT count(*) FROM pg_temp.seed_enqueue('c', 3);
SELECT count(*) FROM pg_temp.seed_claim('c', 3);
SELECT pg_temp.seed_complete(min(job_id)) FROM awa.lease_claims WHERE queue = 'c';
SELECT claim_slot, count(*) FROM awa.lease_claims GROUP BY 1 ORDER BY 1;
SELECT awa.rotate_claims();
SELECT current_slot, generation FROM awa.claim_ring_state;
SELECT awa.prune_oldest_claims();
SELECT claim_slot, job_id - (SELECT min(job_id) FROM awa.lease_claims WHERE queue = 'c') AS job, run_lease
FROM awa.lease_claims ORDER BY job_id;
SELECT count(*) AS closures FROM awa.lease_claim_closures;
SELECT pg_temp.inv();
-- the carried receipts are still found by (job_id, run_lease) and close normally
SELECT sum(pg_temp.seed_complete(job_id)) FROM awa.lease_claims WHERE queue = 'c';
SELECT claim_slot, count(*) FROM awa.lease_claim_closures GROUP BY 1 ORDER BY 1;
SELECT pg_temp.inv();
SELECT awa.prune_oldest_claims();

-- maintenance: one tick rotates and prunes both rings
SELECT awa.maintenance();
SELECT awa.maintenance();
SELECT pg_temp.inv(), pg_temp.terminal_total();

-- a full wrap of the queue ring under a steady stream of jobs
DO $$
DECLARE
	i integer;
	r text;
	j bigint;
BEGIN
	FOR i IN 1..40 LOOP
		PERFORM pg_temp.seed_enqueue('wrap', 3);
		FOR j IN SELECT * FROM pg_temp.seed_claim('wrap', 3) LOOP
			PERFORM pg_temp.seed_complete(j);
		END LOOP;
		r := awa.maintenance()::text;
		IF r NOT LIKE '%"rotate": "rotated"%' OR r NOT LIKE '%"prune": ["pruned"%' THEN
			RAISE EXCEPTION 'tick % did not rotate and prune: %', i, r;
		END IF;
		IF pg_temp.inv() <> 'ok' THEN
			RAISE EXCEPTION 'tick %: %', i, pg_temp.inv();
		END IF;
	END LOOP;
END
$$;
SELECT generation > 16 AS wrapped FROM awa.queue_ring_state;
SELECT (SELECT sum(pruned_completed_count) FROM awa.queue_terminal_rollups WHERE queue = 'wrap') AS wrap_pruned,
       pg_temp.terminal_total(), pg_temp.inv();

-- rotating into a busy slot: an unclaimed job in the current slot stops the
-- ring when it comes round again
SELECT count(*) FROM pg_temp.seed_enqueue('stuck', 1);
SELECT count(*) FROM (SELECT awa.rotate() AS r FROM generate_series(1, 15)) AS t WHERE r = 'rotated';
SELECT awa.rotate();
SELECT awa.prune_oldest();
SELECT awa.rotate();
-- once the job is done, prune and rotate move on
SELECT count(*) FROM pg_temp.seed_claim('stuck', 1);
SELECT pg_temp.seed_complete(job_id) FROM awa.lease_claims WHERE queue = 'stuck';
SELECT awa.prune_oldest(), awa.rotate();
SELECT pg_temp.inv(), pg_temp.terminal_total();

-- errors: a ring cursor outside the ring is a wrong state (55000)
\set VERBOSITY sqlstate
UPDATE awa.queue_ring_state SET current_slot = 99;
SELECT awa.rotate();
SELECT awa.prune_oldest();
UPDATE awa.claim_ring_state SET current_slot = -1;
SELECT awa.rotate_claims();
SELECT awa.maintenance();
\set VERBOSITY terse
-- a broken cursor is reported with its message
SELECT awa.prune_oldest_claims();
-- repaired cursors work again
UPDATE awa.queue_ring_state SET current_slot = 0;
UPDATE awa.claim_ring_state SET current_slot = 0;
SELECT awa.maintenance() ? 'rotate' AS ticked;
SELECT pg_temp.inv();
