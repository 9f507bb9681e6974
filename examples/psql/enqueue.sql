-- examples/psql/enqueue.sql -- enqueue jobs from psql.
--   psql -v queue=default -v n=100 -f examples/psql/enqueue.sql
\set ON_ERROR_STOP on
\if :{?queue} \else \set queue default \endif
\if :{?n} \else \set n 10 \endif

-- One job; the named arguments are optional (see doc/awa_queue.md).
SELECT awa.enqueue('echo', '{"message": "hello"}', queue => :'queue') AS job_id;

-- Many jobs in one call: a JSON array with the same keys as awa.enqueue.
SELECT count(*) AS enqueued
FROM awa.enqueue_many((
    SELECT jsonb_agg(jsonb_build_object(
               'kind', 'echo', 'queue', :'queue',
               'args', jsonb_build_object('message', 'job ' || i)))
    FROM generate_series(1, :n - 1) AS i));
