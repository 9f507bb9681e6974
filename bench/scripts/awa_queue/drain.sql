-- Worker shape: claim in one transaction, complete in a second one (the
-- handler would run in between), as for every system.
SELECT count(*) AS n, coalesce(array_agg(job_id), '{}') AS ids, coalesce(array_agg(run_lease), '{}') AS leases FROM awa.claim_batch('bench', :b) \gset
\if :n > 0
SELECT count(*) FROM awa.complete_batch(:ids::bigint[], :leases::bigint[]);
\endif
