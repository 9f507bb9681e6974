-- bench/skiplocked_notify.sql -- the skiplocked baseline with the insert
-- notification River, Oban, graphile-worker and pg-boss send so that idle
-- workers wake up: a statement-level AFTER INSERT trigger that calls
-- pg_notify once per inserting statement (graphile-worker's shape).  Same
-- table, indexes and scripts as skiplocked (bench/skiplocked.sql); only the
-- producers differ, so the runner measures it in S1 and S3 only.  It puts
-- awa_queue's enqueue, which notifies by contract (SPEC §3), next to a
-- baseline that pays the same commit-time notification lock.
\ir skiplocked.sql

CREATE OR REPLACE FUNCTION jobs_notify_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('jobs_insert', '');
	RETURN NULL;
END $$;
CREATE TRIGGER jobs_notify_insert AFTER INSERT ON jobs
	FOR EACH STATEMENT EXECUTE FUNCTION jobs_notify_insert();
