-- Worker shape: claim in one transaction; complete and record the latency
-- in a second one.
SELECT count(*) AS n, coalesce(array_agg(job_id), '{}') AS ids, coalesce(array_agg(run_lease), '{}') AS leases, coalesce(array_agg((args->>'t')::float8), '{}') AS ts FROM awa.claim_batch('bench', :b) \gset
\if :n > 0
BEGIN;
SELECT count(*) FROM awa.complete_batch(:ids::bigint[], :leases::bigint[]);
INSERT INTO bench_latency SELECT 1000 * (extract(epoch FROM clock_timestamp()) - t) FROM unnest(:ts::float8[]) t;
COMMIT;
\else
\sleep 2 ms
\endif
