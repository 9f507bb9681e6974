-- bench/s3_waits.sql -- where the sessions of one database spend their
-- time while an S3 workload runs (bench/run.sh with BENCH_S3_WAITS=1).
--
-- Run with psql from another database (the sampler must not count
-- itself):  psql -v db=DATABASE -v secs=SECONDS -f bench/s3_waits.sql
--
-- Every 2 ms, for :secs seconds, it reads pg_stat_activity afresh
-- (pg_stat_clear_snapshot: a transaction otherwise keeps its first
-- snapshot of the view) and records, for each client session of :db that
-- is running a statement or sits inside an open transaction, the first
-- words of its statement and what it is doing: "CPU" (active, no wait
-- event), the wait event ("Lock:transactionid" = waiting for another
-- transaction to end, the wait on a row lock; "Lock:object" = the
-- database-wide lock PreCommit_Notify takes; "IO:WALSync", "LWLock:WALWrite"
-- = commit flushing), or "idle in transaction" (the client's turn, with
-- the transaction's row locks held).  Samples land in a temporary table,
-- so the sampler writes no WAL.  Prints one row per (statement, activity)
-- with its samples and its share of the statement's samples.
\set ON_ERROR_STOP on
CREATE TEMP TABLE s3_wait_params AS
SELECT :'db'::text AS db, :'secs'::float8 AS secs;
CREATE TEMP TABLE s3_wait_samples (statement text, activity text);

DO $$
DECLARE
	p record;
	stop_at timestamptz;
BEGIN
	SELECT * INTO p FROM s3_wait_params;
	stop_at := clock_timestamp() + make_interval(secs => p.secs);
	WHILE clock_timestamp() < stop_at LOOP
		PERFORM pg_catalog.pg_stat_clear_snapshot();
		INSERT INTO s3_wait_samples
		SELECT pg_catalog.left(pg_catalog.regexp_replace(a.query, '\s+', ' ', 'g'), 34),
			CASE WHEN a.state = 'active'
				THEN coalesce(a.wait_event_type || ':' || a.wait_event, 'CPU')
				ELSE a.state END
		FROM pg_catalog.pg_stat_activity AS a
		WHERE a.datname = p.db AND a.backend_type = 'client backend'
			AND a.pid <> pg_catalog.pg_backend_pid()
			AND a.state IN ('active', 'idle in transaction');
		PERFORM pg_catalog.pg_sleep(0.002);
	END LOOP;
END
$$;

\pset footer off
SELECT statement, activity, count(*) AS samples,
	round(100.0 * count(*) / sum(count(*)) OVER (PARTITION BY statement), 1) AS pct_of_statement
FROM s3_wait_samples
GROUP BY statement, activity
ORDER BY statement, samples DESC;
