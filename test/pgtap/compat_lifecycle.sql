-- test/pgtap/compat_lifecycle.sql -- awa.jobs shows each job once, in its
-- true state, through whole lifecycles (enqueue, claim, heartbeat, retry,
-- promote, terminal failure, DLQ, DLQ retry, completion, cancel, admin
-- retry, compat delete); after every step the storage-level invariants
-- (test/failure_invariants.sql) hold and the view agrees with the tables.
BEGIN;
SELECT plan(43);
\ir ../failure_invariants.sql

CREATE TEMP TABLE j (name text PRIMARY KEY, id bigint, lease bigint, gone boolean DEFAULT false);

-- pg_temp.inv() without "job N in 0 places" for the jobs this test deleted:
-- a deleted running or retried job keeps its closed receipts (append-only
-- history until the claim ring truncates them), which is no violation
CREATE FUNCTION pg_temp.inv_live() RETURNS text LANGUAGE sql AS $$
	SELECT COALESCE(string_agg(v, '; ' ORDER BY v), 'ok')
	FROM regexp_split_to_table(pg_temp.inv(), '; ') AS v
	WHERE v <> 'ok' AND NOT EXISTS (SELECT 1 FROM j WHERE j.gone AND v = 'job ' || j.id || ' in 0 places')
$$;

-- the job's row in awa.jobs against storage: one row (none once deleted),
-- the expected state, the same state pg_temp.job_state() derives from the
-- tables, invariants ok
CREATE FUNCTION pg_temp.step(id bigint, expected text) RETURNS text LANGUAGE sql AS $$
	SELECT concat_ws(' ',
		CASE WHEN (SELECT count(*) FROM awa.jobs WHERE jobs.id = step.id)
				  <> CASE WHEN expected IS NULL THEN 0 ELSE 1 END
			 THEN 'rows=' || (SELECT count(*) FROM awa.jobs WHERE jobs.id = step.id) END,
		CASE WHEN (SELECT state::text FROM awa.jobs WHERE jobs.id = step.id) IS DISTINCT FROM expected
			 THEN 'view=' || COALESCE((SELECT state::text FROM awa.jobs WHERE jobs.id = step.id), 'none') END,
		CASE WHEN replace(pg_temp.job_state(id), 'dlq', 'failed') IS DISTINCT FROM expected
			 THEN 'tables=' || COALESCE(pg_temp.job_state(id), 'none') END,
		CASE WHEN (SELECT count(*) FROM awa.jobs WHERE jobs.id = step.id AND args IS NULL) > 0
			 THEN 'args null' END,
		NULLIF(pg_temp.inv_live(), 'ok'))
$$;

-- lifecycle 1: available, running (heartbeat), retryable, available,
-- running, failed, DLQ, available again, running, completed, deleted
INSERT INTO j SELECT 'a', awa.enqueue('life', '{"n": 1}', 'tap_life', unique_key => '\xaa'::bytea), 0;
SELECT is(pg_temp.step((SELECT id FROM j WHERE name = 'a'), 'available'), '', 'enqueued: available');
UPDATE j SET lease = c.run_lease FROM awa.claim_batch('tap_life', 1) AS c WHERE name = 'a' AND c.job_id = j.id;
SELECT is(pg_temp.step((SELECT id FROM j WHERE name = 'a'), 'running'), '', 'claimed: running');
SELECT is(awa.heartbeat_batch(ARRAY[(SELECT id FROM j WHERE name = 'a')], ARRAY[(SELECT lease FROM j WHERE name = 'a')],
		  ARRAY['{"pct": 50}'::jsonb]), 1, 'heartbeat accepted');
SELECT is((SELECT progress FROM awa.jobs WHERE id = (SELECT id FROM j WHERE name = 'a')), '{"pct": 50}'::jsonb,
		  'the view shows the heartbeat progress');
SELECT ok((SELECT heartbeat_at IS NOT NULL AND deadline_at IS NOT NULL FROM awa.jobs WHERE id = (SELECT id FROM j WHERE name = 'a')),
		  'running rows carry heartbeat_at and deadline_at');
SELECT is((SELECT state::text FROM awa.fail_batch(ARRAY[(SELECT id FROM j WHERE name = 'a')],
		  ARRAY[(SELECT lease FROM j WHERE name = 'a')], ARRAY['first'])), 'retryable', 'failure with attempts left');
SELECT is(pg_temp.step((SELECT id FROM j WHERE name = 'a'), 'retryable'), '', 'failed once: retryable');
UPDATE awa.deferred_jobs SET run_at = now() - interval '1 second' WHERE job_id = (SELECT id FROM j WHERE name = 'a');
SELECT ok(awa.promote_due() >= 1, 'due job promoted');
SELECT is(pg_temp.step((SELECT id FROM j WHERE name = 'a'), 'available'), '', 'promoted: available');
UPDATE j SET lease = c.run_lease FROM awa.claim_batch('tap_life', 1) AS c WHERE name = 'a' AND c.job_id = j.id;
SELECT is((SELECT lease FROM j WHERE name = 'a'), 2::bigint, 'second claim: run_lease 2');
SELECT is(pg_temp.step((SELECT id FROM j WHERE name = 'a'), 'running'), '', 'claimed again: running');
SELECT is((SELECT state::text FROM awa.fail_batch(ARRAY[(SELECT id FROM j WHERE name = 'a')],
		  ARRAY[(SELECT lease FROM j WHERE name = 'a')], ARRAY['second'], true)), 'failed', 'terminal failure');
SELECT is(pg_temp.step((SELECT id FROM j WHERE name = 'a'), 'failed'), '', 'terminal: failed');
SELECT is((SELECT array_length(errors, 1) FROM awa.jobs WHERE id = (SELECT id FROM j WHERE name = 'a')), 2,
		  'the failed row shows both errors');
SELECT is((SELECT args FROM awa.jobs WHERE id = (SELECT id FROM j WHERE name = 'a')), '{"n": 1}'::jsonb,
		  'the narrow terminal row is hydrated from its retained body');
SELECT ok(awa.move_failed_to_dlq((SELECT id FROM j WHERE name = 'a'), 'operator'), 'moved to the DLQ');
SELECT is(pg_temp.step((SELECT id FROM j WHERE name = 'a'), 'failed'), '', 'dead-lettered: failed, once');
SELECT ok(awa.retry_from_dlq((SELECT id FROM j WHERE name = 'a')), 'retried from the DLQ');
SELECT is(pg_temp.step((SELECT id FROM j WHERE name = 'a'), 'available'), '', 'back from the DLQ: available');
SELECT is((SELECT attempt::int FROM awa.jobs WHERE id = (SELECT id FROM j WHERE name = 'a')), 0, 'attempt restarts at 0');
UPDATE j SET lease = c.run_lease FROM awa.claim_batch('tap_life', 1) AS c WHERE name = 'a' AND c.job_id = j.id;
SELECT is((SELECT lease FROM j WHERE name = 'a'), 3::bigint, 'run_lease never goes back (3 after DLQ retry)');
SELECT is(pg_temp.step((SELECT id FROM j WHERE name = 'a'), 'running'), '', 'claimed a third time: running');
SELECT is((SELECT count(*)::int FROM awa.complete_batch(ARRAY[(SELECT id FROM j WHERE name = 'a')],
		  ARRAY[(SELECT lease FROM j WHERE name = 'a')])), 1, 'completed');
SELECT is(pg_temp.step((SELECT id FROM j WHERE name = 'a'), 'completed'), '', 'terminal: completed');
SELECT is(awa.retry_job((SELECT id FROM j WHERE name = 'a')), false, 'a completed job is not retryable');
SELECT ok(awa.delete_job_compat((SELECT id FROM j WHERE name = 'a')), 'compat delete of the completed job');
UPDATE j SET gone = true WHERE name = 'a';
SELECT is(pg_temp.step((SELECT id FROM j WHERE name = 'a'), NULL), '', 'deleted: nowhere');
SELECT is((SELECT count(*)::int FROM awa.job_unique_claims WHERE unique_key = '\xaa'), 0, 'its unique key is free');

-- lifecycle 2: scheduled through the view, cancelled while deferred,
-- admin retry, claimed, cancelled while running, admin retry, deleted
INSERT INTO j SELECT 'b', (awa.insert_job_compat('life', 'tap_life', run_at => now() + interval '1 hour')).id, 0;
SELECT is(pg_temp.step((SELECT id FROM j WHERE name = 'b'), 'scheduled'), '', 'inserted through the view: scheduled');
SELECT ok(awa.cancel((SELECT id FROM j WHERE name = 'b')), 'cancelled while scheduled');
SELECT is(pg_temp.step((SELECT id FROM j WHERE name = 'b'), 'cancelled'), '', 'cancelled (wide terminal row)');
SELECT ok(awa.retry_job((SELECT id FROM j WHERE name = 'b')), 'admin retry of the cancelled job');
SELECT is(pg_temp.step((SELECT id FROM j WHERE name = 'b'), 'available'), '', 'retried: available');
UPDATE j SET lease = c.run_lease FROM awa.claim_batch('tap_life', 1) AS c WHERE name = 'b' AND c.job_id = j.id;
SELECT is(pg_temp.step((SELECT id FROM j WHERE name = 'b'), 'running'), '', 'claimed: running');
SELECT ok(awa.cancel((SELECT id FROM j WHERE name = 'b')), 'cancelled while running');
SELECT is(pg_temp.step((SELECT id FROM j WHERE name = 'b'), 'cancelled'), '', 'cancelled (narrow terminal row)');
SELECT ok(awa.retry_job((SELECT id FROM j WHERE name = 'b')), 'admin retry again');
SELECT is(pg_temp.step((SELECT id FROM j WHERE name = 'b'), 'available'), '', 'available again');
DELETE FROM awa.jobs WHERE id = (SELECT id FROM j WHERE name = 'b');
UPDATE j SET gone = true WHERE name = 'b';
SELECT is(pg_temp.step((SELECT id FROM j WHERE name = 'b'), NULL), '', 'deleted through the view: nowhere');
SELECT is((SELECT count(*)::int FROM awa.ready_entries WHERE job_id = (SELECT id FROM j WHERE name = 'b')), 0,
		  'no retained body of any attempt is left');

-- every job of these lifecycles: the view and the tables agree
SELECT is((SELECT count(*)::int FROM awa.jobs WHERE queue = 'tap_life'), 0, 'nothing left in the queue');
SELECT is((SELECT terminal FROM awa.queue_counts('tap_life')), 0::bigint, 'terminal count back to 0');
SELECT is(pg_temp.inv_live(), 'ok', 'storage invariants hold at the end');

SELECT * FROM finish();
ROLLBACK;
