-- test/pgtap/huge_batches.sql -- 100k jobs in one call work or error cleanly
--
-- enqueue_many and complete_batch with 100,000 elements: either the call
-- works (every job written / finalized exactly once, counters exact) or it
-- errors with a SQLSTATE and writes nothing.  Every statement runs under a
-- statement_timeout so that a pathological slowdown fails the test instead
-- of hanging the suite.
\set ON_ERROR_STOP 1
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(12);
SET LOCAL statement_timeout = '60s';

CREATE TEMP TABLE huge_ids AS
SELECT id, ord FROM awa.enqueue_many((SELECT jsonb_agg(jsonb_build_object('kind', 'huge', 'queue', 'hostile_huge', 'priority', 1 + i % 4,
		  'args', jsonb_build_object('i', i)) ORDER BY i) FROM generate_series(1, 100000) AS i)) WITH ORDINALITY AS e(id, ord);
SELECT is((SELECT count(DISTINCT id)::int FROM huge_ids), 100000, 'enqueue_many of 100k jobs returns 100k distinct ids');
SELECT ok((SELECT bool_and(r.args ->> 'i' = h.ord::text) FROM huge_ids AS h JOIN awa.ready_entries AS r ON r.job_id = h.id),
		  'ids come back in input order');
SELECT is((SELECT available FROM awa.queue_counts('hostile_huge')), 100000::bigint, 'and 100k jobs are available');
SELECT throws_ok($$SELECT count(*) FROM awa.enqueue_many((SELECT jsonb_agg(jsonb_build_object('kind', 'huge', 'queue', 'hostile_huge',
		  'priority', CASE WHEN i = 100000 THEN 7 ELSE 1 END)) FROM generate_series(1, 100000) AS i))$$,
		  '22023', NULL, '100k jobs with a bad last one error cleanly');
SELECT is((SELECT available FROM awa.queue_counts('hostile_huge')), 100000::bigint, '... and write none of them');

-- claim them all (10 calls at the 10k cap), then complete them in one call.
-- Before commit 2b9ecb0 both were quadratic in the batch size (10k pairs
-- took ~30 s); the time bound keeps that from coming back.
CREATE TEMP TABLE huge_claimed (job_id bigint, run_lease bigint);
CREATE TEMP TABLE huge_done (job_id bigint, run_lease bigint);
-- run a statement; its SQLSTATE, a statement timeout (57014) included
CREATE FUNCTION pg_temp.bounded(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE sql;
	RETURN '00000';
EXCEPTION WHEN query_canceled OR others THEN
	RETURN SQLSTATE;
END
$$;
SET LOCAL statement_timeout = '60s';
SELECT is(pg_temp.bounded($q$DO $do$ BEGIN FOR i IN 1..10 LOOP
		INSERT INTO huge_claimed SELECT c.job_id, c.run_lease FROM awa.claim_batch('hostile_huge', 10000) AS c;
		END LOOP; END $do$$q$), '00000', 'ten claims of 10k finish within 60 s');
SELECT is((SELECT count(DISTINCT job_id)::int FROM huge_claimed), 100000, '... and claim all 100k once');
SELECT is(pg_temp.bounded($$INSERT INTO huge_done SELECT * FROM awa.complete_batch((SELECT array_agg(job_id) FROM huge_claimed),
		  (SELECT array_agg(run_lease) FROM huge_claimed))$$), '00000', 'complete_batch of 100k attempts finishes within 60 s');
SELECT is((SELECT count(*)::int FROM awa.queue_counts('hostile_huge') WHERE terminal = 100000 AND available = 0 AND running = 0), 1,
		  '... and completes them all');
SELECT is(pg_temp.bounded($$INSERT INTO huge_done SELECT * FROM awa.complete_batch((SELECT array_agg(job_id) FROM huge_claimed),
		  (SELECT array_agg(run_lease) FROM huge_claimed))$$) || ' ' || (SELECT count(*) FROM huge_done), '00000 100000',
		  'the same 100k pairs again finalize nothing, within 60 s');
SET LOCAL statement_timeout = '60s';
SELECT is((SELECT count(*)::int FROM awa.verify_terminal_counters()), 0, 'counters exact after the huge batches');
SELECT is((SELECT count(*)::int FROM awa.verify_available_counts()), 0, 'available counts exact after the huge batches');

SELECT * FROM finish();
ROLLBACK;
