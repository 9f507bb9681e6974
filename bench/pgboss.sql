-- bench/pgboss.sql -- pg-boss 10 (npm), driven through its Node.js API by
-- bench/node/driver.mjs.  This file starts afresh and defines the harness
-- helper; the driver's "setup" then lets pg-boss create its own schema
-- (pgboss) and the queue.
DROP SCHEMA IF EXISTS pgboss CASCADE;
SET check_function_bodies = off;

-- bench_backlog: jobs sent and not completed (pg-boss states before
-- 'completed': created, retry, active).
CREATE OR REPLACE FUNCTION bench_backlog() RETURNS bigint LANGUAGE sql STABLE AS $$
	SELECT count(*) FROM pgboss.job WHERE name = 'bench' AND state < 'completed'
$$;
