-- Worker shape: claim in one transaction, complete in a second one (the
-- handler would run in between), as for every system.
SELECT count(*) AS n, coalesce(array_agg(job_id), '{}') AS ids, coalesce(array_agg(run_lease), '{}') AS leases FROM awa.claim_batch('bench', :b) \gset
\if :n > 0
SELECT count(*) FROM awa.complete_batch(:ids::bigint[], :leases::bigint[]);
\else
-- an empty claim: the end of the drain once the backlog is empty (see
-- bench_drained in bench/common.sql), else another consumer holds the rows
SELECT (bench_backlog() = 0)::int AS drained \gset
\if :drained
INSERT INTO bench_drained VALUES (true, clock_timestamp()) ON CONFLICT DO NOTHING;
\sleep :idle ms
\endif
\endif
