-- claim: lane order, FIFO, aging, shards, paused queues, gaps, ring slots, errors
\set VERBOSITY terse
SET client_min_messages = warning;
\set ECHO none
\ir test/awa_test_helpers.sql
\set ECHO all
TRUNCATE awa.ready_entries, awa.done_entries, awa.deferred_jobs, awa.lease_claims,
	awa.lease_claim_closures, awa.queue_enqueue_heads, awa.queue_claim_heads, awa.ready_holes,
	awa.job_unique_claims, awa.queue_terminal_live_counts, awa.queue_meta,
	awa.queue_ring_state, awa.claim_ring_state;

-- priority order across lanes, FIFO inside a lane
SELECT pg_catalog.count(*) FROM awa.enqueue_many('[
	{"kind": "p2-a"}, {"kind": "p3-a", "priority": 3}, {"kind": "p1-a", "priority": 1},
	{"kind": "p2-b"}, {"kind": "p1-b", "priority": 1}, {"kind": "p4-a", "priority": 4}]');
SELECT kind, priority, attempt, run_lease, effective_priority, claim_slot,
	deadline_at - claimed_at AS deadline
FROM awa.claim_batch('default', 3);
SELECT kind, priority FROM awa.claim_batch('default', 10, '1 minute', '0');
SELECT pg_catalog.count(*) AS nothing_left FROM awa.claim_batch('default', 10);
-- receipts: lane priority is the key, effective priority is separate
SELECT pg_catalog.count(*) AS receipts, pg_catalog.count(DISTINCT lane_seq || ':' || priority) AS distinct_keys
FROM awa.lease_claims;
SELECT priority, claim_seq FROM awa.queue_claim_heads ORDER BY priority;

-- aging: a priority-4 job waiting 3 aging intervals outranks a fresh priority-2 job
SELECT pg_catalog.count(*) FROM awa.enqueue_many('[{"kind": "old-p4", "queue": "aging", "priority": 4},
	{"kind": "new-p2", "queue": "aging", "priority": 2}]');
UPDATE awa.ready_entries SET run_at = pg_catalog.now() - interval '3 minutes 10 seconds'
WHERE kind = 'old-p4';
SELECT kind, priority, effective_priority FROM awa.claim_batch('aging', 1, '5 minutes', '60 seconds');
-- aging never goes above priority 1, and aging 0 disables it
SELECT awa.enqueue('older-p3', queue => 'aging', priority => 3::smallint) > 0 AS ok;
UPDATE awa.ready_entries SET run_at = pg_catalog.now() - interval '1 hour' WHERE kind = 'older-p3';
SELECT kind, priority, effective_priority FROM awa.claim_batch('aging', 1, '5 minutes', '0');
SELECT kind, priority, effective_priority FROM awa.claim_batch('aging', 1, '5 minutes', '60 seconds');
SELECT pg_catalog.count(*) AS drained FROM awa.claim_batch('aging', 5);

-- several shards drain without starvation: oldest candidate first across shards
SELECT awa.set_enqueue_shards('sh', 4);
SELECT pg_catalog.count(*) FROM (
	SELECT awa.enqueue('s' || g, queue => 'sh', ordering_key => 'key-' || (g % 4))
	FROM pg_catalog.generate_series(1, 12) AS g) AS s;
SELECT pg_catalog.count(DISTINCT enqueue_shard) AS shards FROM awa.ready_entries WHERE queue = 'sh';
SELECT pg_catalog.count(*) AS claimed, pg_catalog.count(DISTINCT kind) AS distinct_jobs
FROM awa.claim_batch('sh', 100);
SELECT pg_catalog.bool_and(c.claim_seq = e.next_seq) AS every_shard_drained
FROM awa.queue_claim_heads AS c JOIN awa.queue_enqueue_heads AS e USING (queue, priority, enqueue_shard)
WHERE c.queue = 'sh';
-- same ordering key stays FIFO across claims
SELECT pg_catalog.count(*) FROM (SELECT awa.enqueue('f' || g, queue => 'sh', ordering_key => 'one')
	FROM pg_catalog.generate_series(1, 5) AS g) AS s;
SELECT pg_catalog.string_agg(kind, ',') FROM (SELECT kind FROM awa.claim_batch('sh', 2)) AS a;
SELECT pg_catalog.string_agg(kind, ',') FROM (SELECT kind FROM awa.claim_batch('sh', 5)) AS a;

-- paused queues are not claimed; resumed ones are
SELECT awa.enqueue('p', queue => 'paused_q') > 0 AS ok;
SELECT awa.pause_queue('paused_q');
SELECT pg_catalog.count(*) AS while_paused FROM awa.claim_batch('paused_q', 10);
SELECT awa.resume_queue('paused_q');
SELECT pg_catalog.count(*) AS after_resume FROM awa.claim_batch('paused_q', 10);

-- gaps: a deleted head row is skipped; a lane whose rows were all deleted closes its gap
SELECT pg_catalog.count(*) FROM awa.enqueue_many('[{"kind":"g1","queue":"gap"},{"kind":"g2","queue":"gap"},{"kind":"g3","queue":"gap"}]');
DELETE FROM awa.ready_entries WHERE kind = 'g1';
SELECT kind FROM awa.claim_batch('gap', 1);
DELETE FROM awa.ready_entries WHERE kind = 'g3';
SELECT pg_catalog.count(*) AS nothing FROM awa.claim_batch('gap', 5);
SELECT claim_seq, next_seq FROM awa.queue_claim_heads JOIN awa.queue_enqueue_heads USING (queue, priority, enqueue_shard)
WHERE queue = 'gap';
SELECT awa.enqueue('g4', queue => 'gap') > 0 AS ok;
SELECT kind FROM awa.claim_batch('gap', 5);

-- a lane's rows in several ready slots (the ring rotated): claimed in lane order
SELECT awa.enqueue('slot0-a', queue => 'ring') > 0 AS ok;
INSERT INTO awa.queue_ring_state (current_slot, generation, slot_count) VALUES (5, 1, 16);
SELECT awa.enqueue('slot5-b', queue => 'ring') > 0 AS ok;
SELECT kind, ready_slot, ready_generation FROM awa.ready_entries WHERE queue = 'ring' ORDER BY lane_seq;
-- receipts go to the current claim slot
INSERT INTO awa.claim_ring_state (current_slot, generation, slot_count) VALUES (3, 1, 8);
SELECT kind, claim_slot FROM awa.claim_batch('ring', 10);
SELECT c.claim_slot, r.kind, c.ready_slot FROM awa.lease_claims AS c
JOIN awa.ready_entries AS r USING (job_id) WHERE c.queue = 'ring' ORDER BY c.lane_seq;

-- the near claim: a claim looks first in the slot of the lane's last claimed
-- row, the slot after it and the current slot, and takes rows only when they
-- are the lane's next positions; otherwise the general claim runs (counted in
-- claim_general_statements)
SELECT value AS general0 FROM awa.backend_stats() WHERE name = 'claim_general_statements' \gset
UPDATE awa.queue_ring_state SET current_slot = 5;
SELECT awa.enqueue('n1', queue => 'near') > 0 AS ok;
SELECT kind FROM awa.claim_batch('near', 1);
UPDATE awa.queue_ring_state SET current_slot = 6;
SELECT awa.enqueue('n2', queue => 'near') > 0 AS ok;
UPDATE awa.queue_ring_state SET current_slot = 7;
SELECT awa.enqueue('n3', queue => 'near') > 0 AS ok;
-- slots 5 (last claimed), 6 (after it), 7 (current): found there
SELECT kind FROM awa.claim_batch('near', 10);
SELECT value - :general0 AS general_runs FROM awa.backend_stats() WHERE name = 'claim_general_statements';
SELECT last_claimed_slot FROM awa.queue_claim_heads WHERE queue = 'near';
-- n5 sits in slot 10, outside the near slots (8, 9, 11) of the second claim
UPDATE awa.queue_ring_state SET current_slot = 8;
SELECT awa.enqueue('n4', queue => 'near') > 0 AS ok;
UPDATE awa.queue_ring_state SET current_slot = 10;
SELECT awa.enqueue('n5', queue => 'near') > 0 AS ok;
UPDATE awa.queue_ring_state SET current_slot = 11;
SELECT awa.enqueue('n6', queue => 'near') > 0 AS ok;
SELECT kind FROM awa.claim_batch('near', 1);
SELECT kind FROM awa.claim_batch('near', 10);
SELECT value - :general0 AS general_runs FROM awa.backend_stats() WHERE name = 'claim_general_statements';
-- a hole (cancelled unclaimed row) between the next rows: the general claim
-- takes the rest and closes the gap
SELECT awa.enqueue('n7', queue => 'near') > 0 AS ok;
SELECT awa.enqueue('n8', queue => 'near') AS n8 \gset
SELECT awa.enqueue('n9', queue => 'near') > 0 AS ok;
SELECT awa.cancel(:n8);
SELECT kind FROM awa.claim_batch('near', 10);
SELECT value - :general0 AS general_runs FROM awa.backend_stats() WHERE name = 'claim_general_statements';
SELECT claim_seq = next_seq AS drained FROM awa.queue_claim_heads
JOIN awa.queue_enqueue_heads USING (queue, priority, enqueue_shard) WHERE queue = 'near';
SELECT available, running, terminal FROM awa.queue_counts('near');

-- the near lane pick: with several candidate lanes, each lane's head row is
-- looked up in the near slots (every candidate's last claimed slot and the
-- one after it, and the current slot) and the lanes are ordered as the full
-- pick orders them; a head not provably found there makes the full pick run.
-- The pick reads the head tables and the head rows without a statement
-- (claim_direct_picks) when it can decide; the SQL picks otherwise.
SELECT value AS picks0 FROM awa.backend_stats() WHERE name = 'claim_near_picks' \gset
SELECT value AS mdirect0 FROM awa.backend_stats() WHERE name = 'claim_direct_picks' \gset
UPDATE awa.queue_ring_state SET current_slot = 2;
SELECT awa.enqueue('q-p3', queue => 'npick', priority => 3::smallint) > 0 AS ok;
SELECT awa.enqueue('q-p2', queue => 'npick', priority => 2::smallint) > 0 AS ok;
SELECT kind FROM awa.claim_batch('npick', 1);
UPDATE awa.queue_ring_state SET current_slot = 9;
SELECT awa.enqueue('r-p2', queue => 'npick', priority => 2::smallint) > 0 AS ok;
-- heads q-p3 in slot 2 (the p2 lane's last claimed slot), r-p2 in 9 (current)
SELECT kind FROM awa.claim_batch('npick', 1);
SELECT value - :picks0 AS near_picks FROM awa.backend_stats() WHERE name = 'claim_near_picks';
SELECT value - :mdirect0 AS direct_picks FROM awa.backend_stats() WHERE name = 'claim_direct_picks';
-- near slots 14 (current), 9 and 10: q-p3's head in slot 2 is outside them
UPDATE awa.queue_ring_state SET current_slot = 12;
SELECT awa.enqueue('s-p2', queue => 'npick', priority => 2::smallint) > 0 AS ok;
UPDATE awa.queue_ring_state SET current_slot = 14;
SELECT awa.enqueue('t-p1', queue => 'npick', priority => 1::smallint) > 0 AS ok;
SELECT kind FROM awa.claim_batch('npick', 1);
SELECT kind FROM awa.claim_batch('npick', 10);
SELECT value - :picks0 AS near_picks FROM awa.backend_stats() WHERE name = 'claim_near_picks';
SELECT value - :mdirect0 AS direct_picks FROM awa.backend_stats() WHERE name = 'claim_direct_picks';
SELECT available, running FROM awa.queue_counts('npick');
-- aging orders lanes without a statement too: a priority-4 head enqueued
-- 3 minutes ago (run_at in the past) ages to 1 and goes before a fresh
-- priority-2 head (60 seconds per level); in lane order the rest follow
SELECT awa.enqueue('fresh-p2', queue => 'aged', priority => 2::smallint) > 0 AS ok;
SELECT awa.enqueue('old-p4', queue => 'aged', priority => 4::smallint,
	run_at => pg_catalog.now() - interval '3 minutes') > 0 AS ok;
-- (the last pick above was left to SQL: this backend goes to the SQL picks
-- straight away until its next empty claim)
SELECT pg_catalog.count(*) AS empty FROM awa.claim_batch('aged_none', 1);
SELECT value AS adirect0 FROM awa.backend_stats() WHERE name = 'claim_direct_picks' \gset
SELECT value AS anear0 FROM awa.backend_stats() WHERE name = 'claim_near_picks' \gset
-- without aging the priority decides
SELECT kind FROM awa.claim_batch('aged', 1, aging => interval '0');
SELECT awa.enqueue('fresh-p2b', queue => 'aged', priority => 2::smallint) > 0 AS ok;
SELECT kind FROM awa.claim_batch('aged', 1);
SELECT kind FROM awa.claim_batch('aged', 5);
SELECT (SELECT value - :adirect0 FROM awa.backend_stats() WHERE name = 'claim_direct_picks') AS direct_picks,
	(SELECT value - :anear0 FROM awa.backend_stats() WHERE name = 'claim_near_picks') AS among_several;
SELECT pg_catalog.count(*) AS drifted_lanes FROM awa.verify_available_counts();

-- a claim over several lanes ranks them once: its first pick reads every
-- lane's heads and keeps the ranking, its later picks lock the next lane of
-- it without reading the heads again (claim_planned_picks); the jobs come
-- out in the ranking's order, one lane after the other
SELECT pg_catalog.count(*) AS empty FROM awa.claim_batch('ranked_none', 1);
SELECT value AS planned0 FROM awa.backend_stats() WHERE name = 'claim_planned_picks' \gset
SELECT value AS rdirect0 FROM awa.backend_stats() WHERE name = 'claim_direct_picks' \gset
SELECT pg_catalog.count(*) AS enqueued FROM awa.enqueue_many(
	'[{"kind": "r4", "queue": "ranked", "priority": 4}, {"kind": "r2", "queue": "ranked", "priority": 2},
	  {"kind": "r1", "queue": "ranked", "priority": 1}, {"kind": "r3", "queue": "ranked", "priority": 3},
	  {"kind": "r2b", "queue": "ranked", "priority": 2}]');
SELECT kind, priority FROM awa.claim_batch('ranked', 10, aging => interval '0');
SELECT (SELECT value - :planned0 FROM awa.backend_stats() WHERE name = 'claim_planned_picks') AS planned_picks,
	(SELECT value - :rdirect0 FROM awa.backend_stats() WHERE name = 'claim_direct_picks') AS direct_picks;
-- a claim that fills up in its first lane makes no later pick; one that
-- stops on max_jobs in a later lane leaves the rest of that lane
SELECT pg_catalog.count(*) AS enqueued FROM awa.enqueue_many(
	'[{"kind": "s1", "queue": "ranked", "priority": 1}, {"kind": "s1b", "queue": "ranked", "priority": 1},
	  {"kind": "s3", "queue": "ranked", "priority": 3}, {"kind": "s3b", "queue": "ranked", "priority": 3}]');
SELECT kind FROM awa.claim_batch('ranked', 1, aging => interval '0');
SELECT kind FROM awa.claim_batch('ranked', 2, aging => interval '0');
SELECT kind FROM awa.claim_batch('ranked', 5, aging => interval '0');
SELECT (SELECT value - :planned0 FROM awa.backend_stats() WHERE name = 'claim_planned_picks') AS planned_picks;
-- inside REPEATABLE READ the SQL picks decide and no ranking is kept
SELECT pg_catalog.count(*) AS enqueued FROM awa.enqueue_many(
	'[{"kind": "t1", "queue": "ranked", "priority": 1}, {"kind": "t4", "queue": "ranked", "priority": 4}]');
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT kind FROM awa.claim_batch('ranked', 10, aging => interval '0');
COMMIT;
SELECT (SELECT value - :planned0 FROM awa.backend_stats() WHERE name = 'claim_planned_picks') AS planned_picks;
SELECT available, running FROM awa.queue_counts('ranked');
SELECT pg_catalog.count(*) AS drifted_lanes FROM awa.verify_available_counts();

-- a unique job whose mask has available but not running releases its key on claim
SELECT awa.enqueue('u', queue => 'uq', unique_key => '\xaa', unique_states => B'01000000') > 0 AS ok;
SELECT pg_catalog.count(*) AS held FROM awa.job_unique_claims WHERE unique_key = '\xaa';
SELECT kind, unique_key FROM awa.claim_batch('uq', 1);
SELECT pg_catalog.count(*) AS held FROM awa.job_unique_claims WHERE unique_key = '\xaa';

-- unknown queue: nothing to claim
SELECT pg_catalog.count(*) AS unknown FROM awa.claim_batch('no_such_queue', 5);

-- the first pick from the head tables (AwaPickLane, no statement): an empty
-- queue and a paused one are answered empty (claim_empty_skips), the only
-- lane with work is locked there (claim_direct_picks); no lane statement
-- runs for an empty answer, and an enqueue and a claim in one statement
-- see each other
SELECT pg_catalog.count(*) AS first_empty FROM awa.claim_batch('skipq', 1);
SELECT value AS skips0 FROM awa.backend_stats() WHERE name = 'claim_empty_skips' \gset
SELECT value AS lanes0 FROM awa.backend_stats() WHERE name = 'claim_lane_statements' \gset
SELECT value AS direct0 FROM awa.backend_stats() WHERE name = 'claim_direct_picks' \gset
SELECT pg_catalog.count(*) AS empty FROM awa.claim_batch('skipq', 1);
SELECT (SELECT value - :skips0 FROM awa.backend_stats() WHERE name = 'claim_empty_skips') AS skips,
	(SELECT value - :lanes0 FROM awa.backend_stats() WHERE name = 'claim_lane_statements') AS lane_statements;
SELECT awa.enqueue('s1', queue => 'skipq') > 0 AS ok;
SELECT awa.pause_queue('skipq');
SELECT pg_catalog.count(*) AS paused_claim FROM awa.claim_batch('skipq', 1);
SELECT awa.resume_queue('skipq');
-- enqueue and claim in one statement: the claim sees the enqueue
SELECT awa.enqueue('s2', queue => 'skipq') > 0 AS ok,
	(SELECT pg_catalog.string_agg(kind, ',' ORDER BY job_id) FROM awa.claim_batch('skipq', 5)) AS claimed;
SELECT pg_catalog.count(*) AS drained FROM awa.claim_batch('skipq', 1);
SELECT (SELECT value - :skips0 FROM awa.backend_stats() WHERE name = 'claim_empty_skips') AS skips,
	(SELECT value - :direct0 FROM awa.backend_stats() WHERE name = 'claim_direct_picks') AS direct_picks,
	(SELECT value - :lanes0 FROM awa.backend_stats() WHERE name = 'claim_lane_statements') AS lane_statements;
SELECT available, running FROM awa.queue_counts('skipq');

-- errors, each with its SQLSTATE
\set VERBOSITY sqlstate
SELECT * FROM awa.claim_batch(NULL, 1);
SELECT * FROM awa.claim_batch('', 1);
SELECT * FROM awa.claim_batch('q', NULL);
SELECT * FROM awa.claim_batch('q', 0);
SELECT * FROM awa.claim_batch('q', 10001);
SELECT * FROM awa.claim_batch('q', 1, NULL);
SELECT * FROM awa.claim_batch('q', 1, '0 seconds');
SELECT * FROM awa.claim_batch('q', 1, '-1 minute');
SELECT * FROM awa.claim_batch('q', 1, '1 minute', NULL);
SELECT * FROM awa.claim_batch('q', 1, '1 minute', '-1 second');

-- A remembered claim-head version (awa_heads.c: the version a claim found,
-- locked or wrote last) is used only while it is still its lane's visible
-- version.  cx's claim head is advanced once through the statement path
-- (REPEATABLE READ), which leaves the remembered version dead; cy's
-- claims, committed one by one, get the page pruned and take that line
-- pointer.  The next claim from cx must take cx's job and advance cx's
-- claim head, not cy's.
SELECT pg_catalog.count(*) AS cy_jobs FROM awa.enqueue_many((
	SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('kind', 'k', 'queue', 'rh_cy'))
	FROM pg_catalog.generate_series(1, 3000)));
SELECT pg_catalog.count(*) AS cx_jobs FROM awa.enqueue_many(
	'[{"kind": "k", "queue": "rh_cx"}, {"kind": "k", "queue": "rh_cx"}, {"kind": "k", "queue": "rh_cx"}]');
SELECT pg_catalog.count(*) AS cx_first FROM awa.claim_batch('rh_cx', 1);
CREATE TEMP TABLE remembered_claim AS
	SELECT ctid AS tid FROM awa.queue_claim_heads WHERE queue = 'rh_cx';
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT pg_catalog.count(*) AS cx_second_by_statement FROM awa.claim_batch('rh_cx', 1);
COMMIT;
SELECT tid AS remembered_claim_tid FROM remembered_claim \gset
CALL pg_temp.churn_until_row_at('awa.queue_claim_heads', 'rh_cy',
	:'remembered_claim_tid', $$SELECT pg_catalog.count(*) FROM awa.claim_batch('rh_cy', 1)$$);
SELECT (SELECT ctid FROM awa.queue_claim_heads WHERE queue = 'rh_cy') =
	(SELECT tid FROM remembered_claim) AS rh_cy_took_the_line_pointer;
CREATE TEMP TABLE claim_before AS
	SELECT queue, claim_seq FROM awa.queue_claim_heads WHERE queue LIKE 'rh_c%';
SELECT pg_catalog.count(*) AS cx_third FROM awa.claim_batch('rh_cx', 1);
SELECT queue, lane_seq FROM awa.lease_claims WHERE queue LIKE 'rh_cx' ORDER BY lane_seq;
SELECT h.queue, h.claim_seq - b.claim_seq AS advanced_by
FROM awa.queue_claim_heads AS h JOIN claim_before AS b USING (queue) ORDER BY h.queue;
SELECT queue, available, running FROM awa.queue_counts('rh_cx');

\set VERBOSITY terse
SELECT pg_catalog.count(*) AS verify_drift FROM awa.verify_terminal_counters();
SELECT pg_catalog.count(*) AS available_drift FROM awa.verify_available_counts();
DELETE FROM awa.queue_ring_state;
DELETE FROM awa.claim_ring_state;

