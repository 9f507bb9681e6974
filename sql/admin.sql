-- admin: queue configuration functions and their errors
\set VERBOSITY terse
SET client_min_messages = warning;

SELECT awa.pause_queue('q1');
SELECT queue, paused, paused_at IS NOT NULL AS paused_at_set, enqueue_shards, dlq_enabled FROM awa.queue_meta;
SELECT awa.resume_queue('q1');
SELECT awa.set_enqueue_shards('q1', 8);
SELECT awa.set_dlq_enabled('q1', true);
SELECT awa.set_notify_enabled('q1', false);
SELECT queue, paused, paused_at IS NULL AS paused_at_cleared, enqueue_shards, dlq_enabled, notify_enabled FROM awa.queue_meta;
-- a setting of its own creates the row with the other defaults
SELECT awa.set_notify_enabled('q2', false);
SELECT queue, paused, enqueue_shards, dlq_enabled, notify_enabled FROM awa.queue_meta WHERE queue = 'q2';
SELECT awa.set_notify_enabled('q2', true);
SELECT notify_enabled FROM awa.queue_meta WHERE queue = 'q2';
-- names with quotes, semicolons and unicode are plain values
SELECT awa.pause_queue($$q'; DROP TABLE awa.queue_meta; --ü$$);
SELECT queue, paused FROM awa.queue_meta ORDER BY queue;

-- errors, each with its SQLSTATE, nothing written
\set VERBOSITY sqlstate
SELECT awa.pause_queue(NULL);
SELECT awa.pause_queue('');
SELECT awa.pause_queue(pg_catalog.repeat('x', 201));
SELECT awa.set_enqueue_shards('q1', 0);
SELECT awa.set_enqueue_shards('q1', 65);
SELECT awa.set_enqueue_shards('q1', NULL);
SELECT awa.set_dlq_enabled('q1', NULL);
SELECT awa.set_notify_enabled('q1', NULL);
SELECT awa.set_notify_enabled(NULL, false);
-- the queue_meta trigger function cannot be called directly
SELECT awa.queue_meta_changed();
\set VERBOSITY terse
SELECT pg_catalog.count(*) AS queues FROM awa.queue_meta;
SELECT enqueue_shards, notify_enabled FROM awa.queue_meta WHERE queue = 'q1';
