-- privileges: PUBLIC gets nothing; grant helpers give producer, worker, admin rights
\set VERBOSITY terse
SET client_min_messages = warning;

CREATE ROLE regress_awa_nobody;
CREATE ROLE regress_awa_producer;
CREATE ROLE regress_awa_worker;
CREATE ROLE regress_awa_admin;

-- writers are SECURITY DEFINER with a pinned search_path and no PUBLIC EXECUTE
-- (backend_stats only reads the calling backend's own counters); the three
-- hot functions pin it themselves before their first statement (decision
-- 44) and carry no SET clause at all
SELECT p.proname
FROM pg_catalog.pg_proc AS p
WHERE p.pronamespace = 'awa'::regnamespace
  AND p.proname NOT IN ('backend_stats', 'enqueue', 'claim_batch', 'complete_batch')
  AND p.provolatile = 'v' AND p.prolang = (SELECT oid FROM pg_catalog.pg_language WHERE lanname = 'c')
  AND NOT (p.prosecdef AND 'search_path=pg_catalog, pg_temp' = ANY (p.proconfig))
ORDER BY 1;
SELECT p.proname, p.prosecdef, p.proconfig
FROM pg_catalog.pg_proc AS p
WHERE p.pronamespace = 'awa'::regnamespace
  AND p.proname IN ('enqueue', 'claim_batch', 'complete_batch')
ORDER BY 1;
SELECT p.proname
FROM pg_catalog.pg_proc AS p
WHERE p.pronamespace = 'awa'::regnamespace
  AND pg_catalog.has_function_privilege('public', p.oid, 'EXECUTE')
ORDER BY 1;

SELECT awa.grant_worker('regress_awa_worker') >= 0 AS granted;
-- exactly the worker functions
SELECT p.proname FROM pg_catalog.pg_proc AS p
WHERE p.pronamespace = 'awa'::regnamespace
  AND pg_catalog.has_function_privilege('regress_awa_worker', p.oid, 'EXECUTE')
ORDER BY 1;
SELECT awa.grant_admin('regress_awa_admin') > 0 AS granted;
SELECT awa.grant_producer('regress_awa_producer') > 0 AS granted;
-- rights on the compat view: producer INSERT (+ SELECT on id for RETURNING),
-- admin SELECT, INSERT, DELETE, worker and nobody nothing; UPDATE for no one
SELECT r.role, p.priv, pg_catalog.has_table_privilege(r.role, 'awa.jobs', p.priv) AS table_level,
	pg_catalog.has_column_privilege(r.role, 'awa.jobs', 'id', p.priv) AS on_id
FROM (VALUES ('regress_awa_nobody'), ('regress_awa_producer'), ('regress_awa_worker'),
			 ('regress_awa_admin')) AS r(role),
	 (VALUES ('SELECT'), ('INSERT'), ('UPDATE')) AS p(priv)
ORDER BY 1, 2;
SELECT r.role, pg_catalog.has_table_privilege(r.role, 'awa.jobs', 'DELETE') AS may_delete
FROM (VALUES ('regress_awa_nobody'), ('regress_awa_producer'), ('regress_awa_worker'),
			 ('regress_awa_admin')) AS r(role) ORDER BY 1;

\set VERBOSITY sqlstate
-- a role without grants cannot reach the schema
SET ROLE regress_awa_nobody;
SELECT pg_catalog.count(*) FROM awa.queue_meta;
SELECT awa.pause_queue('q');
RESET ROLE;

-- a worker may not administer queues nor touch tables directly
SET ROLE regress_awa_worker;
SELECT awa.pause_queue('q');
INSERT INTO awa.queue_meta (queue) VALUES ('q');
DELETE FROM awa.done_entries;
RESET ROLE;

-- an admin may run every function and read, but not write, tables
SET ROLE regress_awa_admin;
\set VERBOSITY terse
SELECT awa.pause_queue('q');
SELECT queue, paused FROM awa.queue_meta WHERE queue = 'q';
\set VERBOSITY sqlstate
UPDATE awa.queue_meta SET paused = false;
RESET ROLE;

-- the compat view works for the roles it is granted to: its trigger runs
-- as the extension owner (SECURITY DEFINER)
SET ROLE regress_awa_producer;
\set VERBOSITY terse
INSERT INTO awa.jobs (kind, queue) VALUES ('priv_k', 'priv_q') RETURNING id > 0 AS inserted;
\set VERBOSITY sqlstate
SELECT args FROM awa.jobs LIMIT 1;
DELETE FROM awa.jobs WHERE id > 0;
RESET ROLE;
SET ROLE regress_awa_worker;
INSERT INTO awa.jobs (kind, queue) VALUES ('priv_k', 'priv_q');
SELECT pg_catalog.count(*) FROM awa.jobs;
RESET ROLE;
SET ROLE regress_awa_admin;
\set VERBOSITY terse
SELECT kind, state FROM awa.jobs WHERE queue = 'priv_q';
INSERT INTO awa.jobs (kind, queue) VALUES ('priv_k2', 'priv_q');
DELETE FROM awa.jobs WHERE queue = 'priv_q' AND kind = 'priv_k';
SELECT kind, state FROM awa.jobs WHERE queue = 'priv_q';
\set VERBOSITY sqlstate
UPDATE awa.jobs SET priority = 1 WHERE queue = 'priv_q';
\set VERBOSITY terse
-- the admin may run the verify functions
SELECT pg_catalog.count(*) AS drifted_lanes_as_admin FROM awa.verify_available_counts();
RESET ROLE;
SELECT pg_catalog.count(*) AS drifted_groups FROM awa.verify_terminal_counters();
SELECT pg_catalog.count(*) AS drifted_lanes FROM awa.verify_available_counts();
SELECT awa.delete_job_compat(id) FROM awa.jobs WHERE queue = 'priv_q';
\set VERBOSITY sqlstate

-- bad input to the grant helper
SELECT awa.grant_rights('regress_awa_nobody', 'superuser');
SELECT awa.grant_rights(NULL, 'admin');
\set VERBOSITY terse

-- A caller's search_path does not reach the statements of the hot
-- functions: with a schema first in the path whose = on bytea raises, the
-- unique-claim statements of enqueue (take) and claim_batch (release: the
-- mask holds available but not running) and complete_batch still run with
-- pg_catalog's.
CREATE SCHEMA regress_awa_shadow;
CREATE FUNCTION regress_awa_shadow.bytea_eq(bytea, bytea) RETURNS boolean
LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'the shadowing operator ran'; END $$;
CREATE OPERATOR regress_awa_shadow.= (LEFTARG = bytea, RIGHTARG = bytea,
	FUNCTION = regress_awa_shadow.bytea_eq);
SET search_path = regress_awa_shadow, pg_catalog;
-- the shadow is what an unpinned statement would use
SELECT '\x01'::bytea = '\x01'::bytea;
SELECT awa.enqueue('shadow_k', '{}', 'shadow_q', unique_key => 'shadow-1'::bytea,
	unique_states => B'01000000') > 0 AS enqueued;
CREATE TEMP TABLE shadow_claimed AS
SELECT job_id, run_lease FROM awa.claim_batch('shadow_q', 1);
SELECT count(*) AS completed FROM awa.complete_batch(
	ARRAY(SELECT job_id FROM shadow_claimed), ARRAY(SELECT run_lease FROM shadow_claimed));
SELECT current_setting('search_path') AS callers_search_path;
RESET search_path;
SELECT count(*) AS unique_claims_left FROM awa.job_unique_claims WHERE unique_key = 'shadow-1'::bytea;
SELECT state, count(*) FROM awa.jobs WHERE queue = 'shadow_q' GROUP BY 1;
SELECT pg_catalog.count(*) AS drifted_groups FROM awa.verify_terminal_counters();
SELECT pg_catalog.count(*) AS drifted_lanes FROM awa.verify_available_counts();
DROP SCHEMA regress_awa_shadow CASCADE;

DROP OWNED BY regress_awa_nobody, regress_awa_producer, regress_awa_worker, regress_awa_admin;
DROP ROLE regress_awa_nobody;
DROP ROLE regress_awa_producer;
DROP ROLE regress_awa_worker;
DROP ROLE regress_awa_admin;
