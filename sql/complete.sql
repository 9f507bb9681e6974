-- complete: fused completion, stale pairs, other claim slots, unique sync, counts, errors
\set VERBOSITY terse
SET client_min_messages = warning;
\set ECHO none
\ir test/awa_test_helpers.sql
\set ECHO all
TRUNCATE awa.ready_entries, awa.done_entries, awa.deferred_jobs, awa.lease_claims,
	awa.lease_claim_closures, awa.queue_enqueue_heads, awa.queue_claim_heads, awa.ready_holes,
	awa.job_unique_claims, awa.queue_terminal_live_counts, awa.queue_meta,
	awa.queue_ring_state, awa.claim_ring_state, awa.attempt_state;
CREATE TEMP TABLE claimed AS SELECT 0::bigint AS job_id, 0::bigint AS run_lease WITH NO DATA;
CREATE TEMP TABLE stats0 AS SELECT * FROM awa.backend_stats();
CREATE FUNCTION pg_temp.stat_delta(n text) RETURNS bigint LANGUAGE sql AS
$$ SELECT s.value - COALESCE((SELECT t.value FROM stats0 AS t WHERE t.name = n), 0)
   FROM awa.backend_stats() AS s WHERE s.name = n $$;

SELECT pg_catalog.count(*) FROM awa.enqueue_many('[{"kind":"a"},{"kind":"b"},{"kind":"c","priority":1},{"kind":"d","queue":"other"}]');
INSERT INTO claimed SELECT job_id, run_lease FROM awa.claim_batch('default', 10);
INSERT INTO claimed SELECT job_id, run_lease FROM awa.claim_batch('other', 10);
SELECT * FROM awa.queue_counts();
-- an attempt_state row of a running attempt is removed on completion
INSERT INTO awa.attempt_state (job_id, run_lease, heartbeat_at)
SELECT job_id, run_lease, pg_catalog.now() FROM claimed LIMIT 1;

-- every pair finalized, in one fused statement in the current slot
SELECT pg_catalog.count(*) AS finalized FROM awa.complete_batch(
	(SELECT pg_catalog.array_agg(job_id) FROM claimed), (SELECT pg_catalog.array_agg(run_lease) FROM claimed));
SELECT fs AS fused_statements, pg_temp.stat_delta('complete_fused_jobs') AS fused_jobs,
	pg_temp.stat_delta('complete_slot_pass_statements') AS slot_passes
FROM (SELECT pg_temp.stat_delta('complete_fused_statements') AS fs) AS s;
SELECT pg_catalog.count(*) AS attempt_state_left FROM awa.attempt_state;
SELECT d.kind, d.state, d.priority, d.attempt, d.run_lease, d.args IS NULL AS narrow,
	d.attempted_at IS NOT NULL AS attempted
FROM awa.done_entries AS d ORDER BY d.kind;
SELECT outcome, pg_catalog.count(*) FROM awa.lease_claim_closures GROUP BY outcome;
SELECT * FROM awa.queue_terminal_live_counts ORDER BY 1, 2, 3, 4;
SELECT pg_catalog.count(*) AS verify_drift FROM awa.verify_terminal_counters();
SELECT pg_catalog.count(*) AS available_drift FROM awa.verify_available_counts();
SELECT * FROM awa.queue_counts();
SELECT * FROM awa.queue_counts('other');
SELECT * FROM awa.queue_counts('never_used');

-- stale completions change nothing: completed twice, wrong run_lease, unknown job
SELECT pg_catalog.count(*) AS twice FROM awa.complete_batch(
	(SELECT pg_catalog.array_agg(job_id) FROM claimed), (SELECT pg_catalog.array_agg(run_lease) FROM claimed));
SELECT awa.enqueue('e') > 0 AS ok;
TRUNCATE claimed;
INSERT INTO claimed SELECT job_id, run_lease FROM awa.claim_batch('default', 1);
SELECT pg_catalog.count(*) AS wrong_lease FROM awa.complete_batch(
	ARRAY[(SELECT job_id FROM claimed)], ARRAY[(SELECT run_lease + 1 FROM claimed)]);
SELECT pg_catalog.count(*) AS unknown_job FROM awa.complete_batch(ARRAY[999999]::bigint[], ARRAY[1]::bigint[]);
SELECT pg_catalog.count(*) AS done_rows, (SELECT pg_catalog.sum(live_terminal_count) FROM awa.queue_terminal_live_counts) AS counted
FROM awa.done_entries;
-- a pair given twice is finalized once
SELECT pg_catalog.count(*) AS duplicate_pair FROM awa.complete_batch(
	ARRAY[(SELECT job_id FROM claimed), (SELECT job_id FROM claimed)],
	ARRAY[(SELECT run_lease FROM claimed), (SELECT run_lease FROM claimed)]);
SELECT pg_catalog.count(*) AS done_rows FROM awa.done_entries;

-- a receipt in an older claim slot (the ring rotated after the claim)
SELECT awa.enqueue('f') > 0 AS ok;
TRUNCATE claimed;
INSERT INTO claimed SELECT job_id, run_lease FROM awa.claim_batch('default', 1);
INSERT INTO awa.claim_ring_state (current_slot, generation, slot_count) VALUES (1, 1, 8);
DROP TABLE stats0;
CREATE TEMP TABLE stats0 AS SELECT * FROM awa.backend_stats();
SELECT pg_catalog.count(*) AS other_slot FROM awa.complete_batch(
	(SELECT pg_catalog.array_agg(job_id) FROM claimed), (SELECT pg_catalog.array_agg(run_lease) FROM claimed));
SELECT pg_temp.stat_delta('complete_fused_jobs') AS fused_jobs,
	pg_temp.stat_delta('complete_slot_pass_statements') AS slot_passes,
	pg_temp.stat_delta('complete_slot_pass_jobs') AS slot_pass_jobs;
SELECT claim_slot, outcome FROM awa.lease_claim_closures AS x JOIN claimed USING (job_id, run_lease);
DELETE FROM awa.claim_ring_state;

-- unique jobs: a mask with running but not completed releases the key on completion
SELECT awa.enqueue('u', queue => 'uq', unique_key => '\x0a', unique_states => B'01100000') > 0 AS ok;
SELECT awa.enqueue('v', queue => 'uq', unique_key => '\x0b') > 0 AS ok;
TRUNCATE claimed;
INSERT INTO claimed SELECT job_id, run_lease FROM awa.claim_batch('uq', 5);
SELECT pg_catalog.count(*) AS keys_held FROM awa.job_unique_claims;
SELECT pg_catalog.count(*) AS finalized FROM awa.complete_batch(
	(SELECT pg_catalog.array_agg(job_id) FROM claimed), (SELECT pg_catalog.array_agg(run_lease) FROM claimed));
SELECT unique_key FROM awa.job_unique_claims ORDER BY 1;
-- the completed default-mask job keeps its key: a new job with it conflicts
\set VERBOSITY sqlstate
SELECT awa.enqueue('v', queue => 'uq', unique_key => '\x0b');
\set VERBOSITY terse
SELECT awa.enqueue('u', queue => 'uq', unique_key => '\x0a') > 0 AS key_free_again;

-- untrusted counters: terminal falls back to counting done_entries, same figure
INSERT INTO awa.queue_ring_state (current_slot, generation, slot_count, terminal_counter_trusted_at)
VALUES (0, 0, 16, NULL);
UPDATE awa.queue_terminal_live_counts SET live_terminal_count = live_terminal_count + 100;
SELECT queue, terminal FROM awa.queue_counts() ORDER BY queue;
SELECT awa.rebuild_terminal_counters() > 0 AS rebuilt;
SELECT queue, terminal FROM awa.queue_counts() ORDER BY queue;
DELETE FROM awa.queue_ring_state;

-- errors, each with its SQLSTATE, nothing written
SELECT pg_catalog.count(*) AS done_before FROM awa.done_entries;
\set VERBOSITY sqlstate
SELECT * FROM awa.complete_batch(NULL, ARRAY[1]::bigint[]);
SELECT * FROM awa.complete_batch(ARRAY[1]::bigint[], NULL);
SELECT * FROM awa.complete_batch(ARRAY[1, 2]::bigint[], ARRAY[1]::bigint[]);
SELECT * FROM awa.complete_batch(ARRAY[1, NULL]::bigint[], ARRAY[1, 1]::bigint[]);
SELECT * FROM awa.complete_batch(ARRAY[1, 2]::bigint[], ARRAY[1, NULL]::bigint[]);
SELECT * FROM awa.complete_batch(ARRAY[[1], [2]]::bigint[], ARRAY[[1], [1]]::bigint[]);
SELECT * FROM awa.queue_counts('');
-- A remembered live-counter version (awa_heads.c: the version a completion
-- found or wrote last) is used only while it is still its row's visible
-- version.  dx's counter is added to once through the statement path
-- (REPEATABLE READ), which leaves the remembered version dead; dy's
-- completions, committed one by one, get the page pruned and take that
-- line pointer.  The next completion in dx must add to dx's counter.
-- (The direct completion runs while attempt_state has no page, decision
-- 40.)
TRUNCATE awa.attempt_state;
SELECT pg_catalog.count(*) AS dy_jobs FROM awa.enqueue_many((
	SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('kind', 'k', 'queue', 'rh_dy'))
	FROM pg_catalog.generate_series(1, 3000)));
SELECT pg_catalog.count(*) AS dx_jobs FROM awa.enqueue_many(
	'[{"kind": "k", "queue": "rh_dx"}, {"kind": "k", "queue": "rh_dx"}, {"kind": "k", "queue": "rh_dx"}, {"kind": "k", "queue": "rh_dx"}]');
CREATE TEMP TABLE dx_claimed AS
	SELECT job_id, run_lease, pg_catalog.row_number() OVER (ORDER BY job_id) AS n
	FROM awa.claim_batch('rh_dx', 4);
-- the first creates the counter row (its root version), the second adds to it
SELECT pg_catalog.count(*) AS dx_first FROM awa.complete_batch(
	ARRAY(SELECT job_id FROM dx_claimed WHERE n = 1), ARRAY(SELECT run_lease FROM dx_claimed WHERE n = 1));
SELECT pg_catalog.count(*) AS dx_second FROM awa.complete_batch(
	ARRAY(SELECT job_id FROM dx_claimed WHERE n = 2), ARRAY(SELECT run_lease FROM dx_claimed WHERE n = 2));
SELECT ctid AS remembered_counter_tid FROM awa.queue_terminal_live_counts WHERE queue = 'rh_dx' \gset
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT pg_catalog.count(*) AS dx_third_by_statement FROM awa.complete_batch(
	ARRAY(SELECT job_id FROM dx_claimed WHERE n = 3), ARRAY(SELECT run_lease FROM dx_claimed WHERE n = 3));
COMMIT;
CALL pg_temp.churn_until_row_at('awa.queue_terminal_live_counts', 'rh_dy',
	:'remembered_counter_tid',
	$$WITH c AS MATERIALIZED (SELECT job_id, run_lease FROM awa.claim_batch('rh_dy', 1))
	SELECT pg_catalog.count(*) FROM awa.complete_batch(ARRAY(SELECT job_id FROM c), ARRAY(SELECT run_lease FROM c))$$);
SELECT (SELECT ctid FROM awa.queue_terminal_live_counts WHERE queue = 'rh_dy') =
	:'remembered_counter_tid'::tid AS rh_dy_took_the_line_pointer;
CREATE TEMP TABLE counters_before AS
	SELECT queue, live_terminal_count FROM awa.queue_terminal_live_counts WHERE queue LIKE 'rh_d%';
SELECT value AS direct_groups0 FROM awa.backend_stats() WHERE name = 'counter_direct_groups' \gset
SELECT pg_catalog.count(*) AS dx_fourth FROM awa.complete_batch(
	ARRAY(SELECT job_id FROM dx_claimed WHERE n = 4), ARRAY(SELECT run_lease FROM dx_claimed WHERE n = 4));
SELECT c.queue, c.live_terminal_count - b.live_terminal_count AS added
FROM awa.queue_terminal_live_counts AS c JOIN counters_before AS b USING (queue) ORDER BY c.queue;
SELECT value - :direct_groups0 AS added_without_a_statement
FROM awa.backend_stats() WHERE name = 'counter_direct_groups';
SELECT queue, running, terminal FROM awa.queue_counts('rh_dx');

\set VERBOSITY terse
SELECT pg_catalog.count(*) AS done_after FROM awa.done_entries WHERE queue NOT LIKE 'rh_%';
SELECT pg_catalog.count(*) AS empty FROM awa.complete_batch('{}', '{}');
SELECT pg_catalog.count(*) AS verify_drift FROM awa.verify_terminal_counters();
SELECT pg_catalog.count(*) AS available_drift FROM awa.verify_available_counts();
