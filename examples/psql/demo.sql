-- examples/psql/demo.sql -- a tour of awa_queue in plain SQL.
-- Run it with "make demo", or with psql against any database where you
-- may create extensions.
\set ON_ERROR_STOP on
\pset pager off

CREATE EXTENSION IF NOT EXISTS awa_queue;

-- The storage model: every table of schema awa.
\dt awa.*

-- The SQL API.
SELECT p.proname AS function,
       pg_catalog.pg_get_function_identity_arguments(p.oid) AS arguments
FROM pg_catalog.pg_proc AS p
WHERE p.pronamespace = 'awa'::regnamespace
ORDER BY 1, 2;

-- Queue configuration.
SELECT awa.set_enqueue_shards('emails', 4);
SELECT awa.set_dlq_enabled('emails', true);
SELECT awa.pause_queue('emails');
SELECT awa.resume_queue('emails');
SELECT queue, paused, enqueue_shards, dlq_enabled FROM awa.queue_meta;

-- The live terminal counters agree with the terminal rows.
SELECT * FROM awa.verify_terminal_counters();
SELECT awa.rebuild_terminal_counters() AS counter_rows;

-- The hot path: enqueue, claim, complete.
SELECT awa.enqueue('send_email', '{"to": "ada@example.com"}', queue => 'emails') AS job_id;
SELECT * FROM awa.enqueue_many('[
  {"kind": "send_email", "queue": "emails", "args": {"to": "bob@example.com"}, "priority": 1},
  {"kind": "send_email", "queue": "emails", "args": {"to": "eve@example.com"}, "ordering_key": "eve"},
  {"kind": "resize", "queue": "images", "run_at": "2999-01-01T00:00:00Z"}
]') AS job_id;
SELECT * FROM awa.queue_counts();
CREATE TEMP TABLE demo_claimed AS
SELECT job_id, run_lease, kind, args, priority, attempt FROM awa.claim_batch('emails', 10);
SELECT * FROM demo_claimed;
SELECT * FROM awa.complete_batch(
  (SELECT array_agg(job_id) FROM demo_claimed),
  (SELECT array_agg(run_lease) FROM demo_claimed));
SELECT * FROM awa.queue_counts();
SELECT * FROM awa.verify_terminal_counters();
