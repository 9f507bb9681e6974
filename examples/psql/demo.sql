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
