-- Worker shape: claim in one transaction, complete in a second one (the
-- handler would run in between), as for every system.
WITH c AS (UPDATE jobs SET state = 'running', attempt = attempt + 1, attempted_at = now() WHERE id IN (SELECT id FROM jobs WHERE queue = 'bench' AND state = 'available' AND run_at <= now() ORDER BY priority, id LIMIT :b FOR UPDATE SKIP LOCKED) RETURNING id, args) SELECT count(*) AS n, coalesce(array_agg(id), '{}') AS ids FROM c \gset
\if :n > 0
DELETE FROM jobs WHERE id = ANY (:ids::bigint[]);
\else
-- an empty claim: the end of the drain once the backlog is empty (see
-- bench_drained in bench/common.sql), else another consumer holds the rows
SELECT (bench_backlog() = 0)::int AS drained \gset
\if :drained
INSERT INTO bench_drained VALUES (true, clock_timestamp()) ON CONFLICT DO NOTHING;
\sleep :idle ms
\endif
\endif
