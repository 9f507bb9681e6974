-- counters: rebuild and verify against done_entries
\set VERBOSITY terse
SET client_min_messages = warning;

-- fresh install: healthy and trusted, nothing to count
SELECT * FROM awa.verify_terminal_counters();
SELECT * FROM awa.verify_available_counts();
SELECT awa.rebuild_terminal_counters();

-- seed 7 terminal rows directly (slot 0, priority 2, shard 0) and poison the counter
INSERT INTO awa.done_entries (ready_slot, ready_generation, job_id, kind, queue, state,
                              priority, lane_seq, enqueue_shard)
SELECT 0, 0, g, 'seed', 'counted', 'completed', 2, g, 0 FROM pg_catalog.generate_series(1, 7) AS g;
INSERT INTO awa.queue_terminal_live_counts VALUES (0, 'counted', 2, 0, 999);
-- a counter row for a group without done rows is drift too
INSERT INTO awa.queue_terminal_live_counts VALUES (3, 'ghost', 1, 0, 2);
SELECT * FROM awa.verify_terminal_counters();
SELECT * FROM awa.verify_available_counts();

-- rebuild restores the invariant and sets the trust marker
SELECT awa.rebuild_terminal_counters();
SELECT * FROM awa.verify_terminal_counters();
SELECT * FROM awa.verify_available_counts();
SELECT * FROM awa.queue_terminal_live_counts ORDER BY 1, 2, 3, 4;
SELECT terminal_counter_trusted_at IS NOT NULL AS trusted FROM awa.queue_ring_state;
