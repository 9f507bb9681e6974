-- examples/psql/work.sql -- claim a batch and complete it, from psql.
--   psql -v queue=default -v batch=10 -f examples/psql/work.sql
-- A real worker runs its handlers between the two statements (see
-- examples/psql/worker.sh, or the Python and Node workers).
\set ON_ERROR_STOP on
\if :{?queue} \else \set queue default \endif
\if :{?batch} \else \set batch 10 \endif

SELECT coalesce(array_agg(job_id ORDER BY job_id), '{}') AS ids,
       coalesce(array_agg(run_lease ORDER BY job_id), '{}') AS leases
FROM awa.claim_batch(:'queue', :batch) \gset

SELECT count(*) AS completed FROM awa.complete_batch(:'ids', :'leases');
