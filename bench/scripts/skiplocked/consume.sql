-- Worker shape: claim in one transaction; complete and record the latency
-- in a second one.
WITH c AS (UPDATE jobs SET state = 'running', attempt = attempt + 1, attempted_at = now() WHERE id IN (SELECT id FROM jobs WHERE queue = 'bench' AND state = 'available' AND run_at <= now() ORDER BY priority, id LIMIT :b FOR UPDATE SKIP LOCKED) RETURNING id, args) SELECT count(*) AS n, coalesce(array_agg(id), '{}') AS ids, coalesce(array_agg((args->>'t')::float8), '{}') AS ts FROM c \gset
\if :n > 0
BEGIN;
UPDATE jobs SET state = 'completed', finalized_at = now() WHERE id = ANY (:ids::bigint[]);
INSERT INTO bench_latency SELECT 1000 * (extract(epoch FROM clock_timestamp()) - t) FROM unnest(:ts::float8[]) t;
COMMIT;
\else
\sleep 2 ms
\endif
