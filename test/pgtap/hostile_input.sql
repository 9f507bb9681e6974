-- test/pgtap/hostile_input.sql -- bad and hostile input to every public function
--
-- Table-driven: each case is one call (a query returning one value), the
-- SQLSTATE it must end with ('00000' = success), the value a successful call
-- must return, and the change it may make to the job-bearing tables.  For
-- every case the test checks the outcome, then compares row counts of every
-- awa table before and after: a failing call (and a successful call that
-- returns "nothing done") must change nothing at all, a successful one
-- exactly the expected job rows, and the live terminal counters must stay
-- exact.  A case whose function is not installed is skipped.  Then: names
-- with quotes, semicolons, format escapes and unicode travel through every
-- path verbatim (never parsed as SQL), and test/pgtap/huge_batches.sql covers
-- 100k-element batches.
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
BEGIN;
SET LOCAL client_min_messages = warning;

-- row count of every awa table (partitions summed into their parent)
CREATE FUNCTION pg_temp.awa_rows() RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
	t record;
	n bigint;
	acc jsonb := '{}';
BEGIN
	FOR t IN SELECT c.oid::regclass AS rel, c.relname FROM pg_class AS c
			 WHERE c.relnamespace = 'awa'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
			 ORDER BY c.relname LOOP
		EXECUTE format('SELECT count(*) FROM %s', t.rel) INTO n;
		acc := acc || jsonb_build_object(t.relname, n);
	END LOOP;
	RETURN acc;
END
$$;
-- the tables whose rows are jobs or attempts (control rows such as lane
-- heads may appear on first use of a lane and are not compared for success)
CREATE FUNCTION pg_temp.job_delta(a jsonb, b jsonb, all_tables boolean) RETURNS jsonb LANGUAGE sql AS $$
	SELECT coalesce(jsonb_object_agg(k, (b ->> k)::bigint - (a ->> k)::bigint), '{}')
	FROM jsonb_object_keys(b) AS k
	WHERE (b ->> k)::bigint <> (a ->> k)::bigint
	  AND (all_tables OR k IN ('ready_entries', 'deferred_jobs', 'done_entries', 'dlq_entries',
							   'lease_claims', 'lease_claim_closures', 'job_unique_claims', 'attempt_state'))
$$;

CREATE TEMP TABLE hostile_case (
	n serial,
	fn text NOT NULL,			-- regprocedure of the function under test
	label text NOT NULL,
	call text NOT NULL,			-- a query returning one value
	expect text NOT NULL,		-- SQLSTATE, '00000' for success
	result text,				-- value a success returns (NULL: not compared)
	delta jsonb DEFAULT '{}'	-- change to job tables a success makes
);

\set enq 'awa.enqueue(text,jsonb,text,smallint,timestamptz,smallint,jsonb,text[],bytea,bit,text)'
\set many 'awa.enqueue_many(jsonb)'
\set claim 'awa.claim_batch(text,integer,interval,interval)'
\set complete 'awa.complete_batch(bigint[],bigint[])'
\set counts 'awa.queue_counts(text)'

INSERT INTO hostile_case (fn, label, call, expect, result, delta) VALUES
-- enqueue: NULLs
(:'enq', 'NULL kind', $$SELECT awa.enqueue(NULL)$$, '22004', NULL, '{}'),
(:'enq', 'NULL args', $$SELECT awa.enqueue('k', NULL)$$, '22004', NULL, '{}'),
(:'enq', 'NULL queue', $$SELECT awa.enqueue('k', '{}', NULL)$$, '22004', NULL, '{}'),
(:'enq', 'NULL priority', $$SELECT awa.enqueue('k', '{}', 'hq', NULL::smallint)$$, '22004', NULL, '{}'),
(:'enq', 'NULL max_attempts', $$SELECT awa.enqueue('k', '{}', 'hq', 1::smallint, NULL, NULL::smallint)$$, '22004', NULL, '{}'),
(:'enq', 'NULL metadata means none', $$SELECT awa.enqueue('k', '{}', 'hq', 1::smallint, NULL, 3::smallint, NULL) > 0$$, '00000', 'true', '{"ready_entries": 1}'),
(:'enq', 'NULL tags means none', $$SELECT awa.enqueue('k', '{}', 'hq', 1::smallint, NULL, 3::smallint, '{}', NULL) > 0$$, '00000', 'true', '{"ready_entries": 1}'),
(:'enq', 'NULL element in tags', $$SELECT awa.enqueue('k', '{}', 'hq', 1::smallint, NULL, 3::smallint, '{}', ARRAY[NULL]::text[])$$, '22023', NULL, '{}'),
-- enqueue: empty, too long, out of range
(:'enq', 'empty kind', $$SELECT awa.enqueue('')$$, '22023', NULL, '{}'),
(:'enq', 'empty queue', $$SELECT awa.enqueue('k', '{}', '')$$, '22023', NULL, '{}'),
(:'enq', 'kind of 201 bytes', $$SELECT awa.enqueue(repeat('k', 201))$$, '22023', NULL, '{}'),
(:'enq', 'queue of 201 bytes', $$SELECT awa.enqueue('k', '{}', repeat('q', 201))$$, '22023', NULL, '{}'),
(:'enq', 'queue of 67 three-byte characters (201 bytes)', $$SELECT awa.enqueue('k', '{}', repeat('队', 67))$$, '22023', NULL, '{}'),
(:'enq', 'kind of 200 bytes is accepted', $$SELECT awa.enqueue(repeat('k', 200), '{}', 'hq') > 0$$, '00000', 'true', '{"ready_entries": 1}'),
(:'enq', 'queue of 66 three-byte characters (198 bytes) is accepted', $$SELECT awa.enqueue('k', '{}', repeat('队', 66)) > 0$$, '00000', 'true', '{"ready_entries": 1}'),
(:'enq', 'priority 0', $$SELECT awa.enqueue('k', '{}', 'hq', 0::smallint)$$, '22023', NULL, '{}'),
(:'enq', 'priority 5', $$SELECT awa.enqueue('k', '{}', 'hq', 5::smallint)$$, '22023', NULL, '{}'),
(:'enq', 'priority -32768', $$SELECT awa.enqueue('k', '{}', 'hq', (-32768)::smallint)$$, '22023', NULL, '{}'),
(:'enq', 'max_attempts 0', $$SELECT awa.enqueue('k', '{}', 'hq', 1::smallint, NULL, 0::smallint)$$, '22023', NULL, '{}'),
(:'enq', 'max_attempts -1', $$SELECT awa.enqueue('k', '{}', 'hq', 1::smallint, NULL, (-1)::smallint)$$, '22023', NULL, '{}'),
(:'enq', 'max_attempts 32767', $$SELECT awa.enqueue('k', '{}', 'hq', 1::smallint, NULL, 32767::smallint)$$, '22023', NULL, '{}'),
(:'enq', 'max_attempts out of smallint range', $$SELECT awa.enqueue('k', '{}', 'hq', 1::smallint, NULL, '40000')$$, '22003', NULL, '{}'),
-- enqueue: malformed and non-object jsonb
(:'enq', 'args is an array', $$SELECT awa.enqueue('k', '[]')$$, '22023', NULL, '{}'),
(:'enq', 'args is a number', $$SELECT awa.enqueue('k', '1')$$, '22023', NULL, '{}'),
(:'enq', 'args is JSON null', $$SELECT awa.enqueue('k', 'null')$$, '22023', NULL, '{}'),
(:'enq', 'args is malformed JSON', $$SELECT awa.enqueue('k', '{"a":')$$, '22P02', NULL, '{}'),
(:'enq', 'metadata is an array', $$SELECT awa.enqueue('k', '{}', 'hq', 1::smallint, NULL, 3::smallint, '[]')$$, '22023', NULL, '{}'),
(:'enq', '21 tags', $$SELECT awa.enqueue('k', '{}', 'hq', 1::smallint, NULL, 3::smallint, '{}', array_fill('t'::text, ARRAY[21]))$$, '22023', NULL, '{}'),
(:'enq', 'unique_states without unique_key', $$SELECT awa.enqueue('k', '{}', 'hq', 1::smallint, NULL, 3::smallint, '{}', '{}', NULL, B'11111000')$$, '22023', NULL, '{}'),
(:'enq', 'unique key held by another job', $$SELECT awa.enqueue('k', '{}', 'hq', 1::smallint, NULL, 3::smallint, '{}', '{}', '\x686f7374696c65')$$, '23505', NULL, '{}'),
(:'enq', 'run_at -infinity is available now', $$SELECT awa.enqueue('k', '{}', 'hq', 1::smallint, '-infinity') > 0$$, '00000', 'true', '{"ready_entries": 1}'),
(:'enq', 'run_at infinity is scheduled', $$SELECT awa.enqueue('k', '{}', 'hq', 1::smallint, 'infinity') > 0$$, '00000', 'true', '{"deferred_jobs": 1}'),
(:'enq', 'args of 1 MB', $$SELECT awa.enqueue('k', jsonb_build_object('blob', repeat('x', 1048576)), 'hq') > 0$$, '00000', 'true', '{"ready_entries": 1}'),
-- enqueue_many: NULL, non-array, bad elements (nothing of the call may stay)
(:'many', 'NULL', $$SELECT count(*) FROM awa.enqueue_many(NULL)$$, '22004', NULL, '{}'),
(:'many', 'an object, not an array', $$SELECT count(*) FROM awa.enqueue_many('{}')$$, '22023', NULL, '{}'),
(:'many', 'a string', $$SELECT count(*) FROM awa.enqueue_many('"jobs"')$$, '22023', NULL, '{}'),
(:'many', 'malformed JSON', $$SELECT count(*) FROM awa.enqueue_many('[{"kind": "k"')$$, '22P02', NULL, '{}'),
(:'many', 'empty array enqueues nothing', $$SELECT count(*) FROM awa.enqueue_many('[]')$$, '00000', '0', '{}'),
(:'many', 'array of numbers', $$SELECT count(*) FROM awa.enqueue_many('[1]')$$, '22023', NULL, '{}'),
(:'many', 'JSON null element', $$SELECT count(*) FROM awa.enqueue_many('[null]')$$, '22023', NULL, '{}'),
(:'many', 'element without kind', $$SELECT count(*) FROM awa.enqueue_many('[{}]')$$, '22004', NULL, '{}'),
(:'many', 'kind is a number', $$SELECT count(*) FROM awa.enqueue_many('[{"kind": 1}]')$$, '22023', NULL, '{}'),
(:'many', 'queue is a JSON number', $$SELECT count(*) FROM awa.enqueue_many('[{"kind": "k", "queue": 7}]')$$, '22023', NULL, '{}'),
(:'many', 'queue is JSON null', $$SELECT count(*) FROM awa.enqueue_many('[{"kind": "k", "queue": null}]')$$, '22023', NULL, '{}'),
(:'many', 'priority 9', $$SELECT count(*) FROM awa.enqueue_many('[{"kind": "k", "priority": 9}]')$$, '22023', NULL, '{}'),
(:'many', 'priority as a string', $$SELECT count(*) FROM awa.enqueue_many('[{"kind": "k", "priority": "1"}]')$$, '22023', NULL, '{}'),
(:'many', 'priority 1.5', $$SELECT count(*) FROM awa.enqueue_many('[{"kind": "k", "priority": 1.5}]')$$, '22023', NULL, '{}'),
(:'many', 'max_attempts 99999', $$SELECT count(*) FROM awa.enqueue_many('[{"kind": "k", "max_attempts": 99999}]')$$, '22023', NULL, '{}'),
(:'many', 'unknown key', $$SELECT count(*) FROM awa.enqueue_many('[{"kind": "k", "bogus": 1}]')$$, '22023', NULL, '{}'),
(:'many', 'run_at not a timestamp', $$SELECT count(*) FROM awa.enqueue_many('[{"kind": "k", "run_at": "not a date"}]')$$, '22007', NULL, '{}'),
(:'many', 'args is an array', $$SELECT count(*) FROM awa.enqueue_many('[{"kind": "k", "args": []}]')$$, '22023', NULL, '{}'),
(:'many', 'two good jobs, then a bad one: none written', $$SELECT count(*) FROM awa.enqueue_many('[{"kind": "k", "queue": "hq"}, {"kind": "k", "queue": "hq2", "priority": 4}, {"kind": "k", "priority": 0}]')$$, '22023', NULL, '{}'),
(:'many', 'duplicate unique key inside one call: none written', $$SELECT count(*) FROM awa.enqueue_many('[{"kind": "k", "queue": "hq", "unique_key": "dup"}, {"kind": "k", "queue": "hq", "unique_key": "dup"}]')$$, '23505', NULL, '{}'),
(:'many', 'good jobs and a key held by another job: none written', $$SELECT count(*) FROM awa.enqueue_many('[{"kind": "k", "queue": "hq"}, {"kind": "k", "queue": "hq", "unique_key": "\\x686f7374696c65"}]')$$, '23505', NULL, '{}'),
(:'many', 'three jobs over two lanes', $$SELECT count(*) FROM awa.enqueue_many('[{"kind": "k", "queue": "hq"}, {"kind": "k", "queue": "hq", "priority": 4}, {"kind": "k", "queue": "hq"}]')$$, '00000', '3', '{"ready_entries": 3}'),
-- claim_batch
(:'claim', 'NULL queue', $$SELECT count(*) FROM awa.claim_batch(NULL)$$, '22004', NULL, '{}'),
(:'claim', 'NULL max_jobs', $$SELECT count(*) FROM awa.claim_batch('hq', NULL)$$, '22004', NULL, '{}'),
(:'claim', 'max_jobs 0', $$SELECT count(*) FROM awa.claim_batch('hq', 0)$$, '22023', NULL, '{}'),
(:'claim', 'max_jobs -1', $$SELECT count(*) FROM awa.claim_batch('hq', -1)$$, '22023', NULL, '{}'),
(:'claim', 'max_jobs above the 10000 cap', $$SELECT count(*) FROM awa.claim_batch('hq', 10001)$$, '22023', NULL, '{}'),
(:'claim', 'NULL deadline', $$SELECT count(*) FROM awa.claim_batch('hq', 1, NULL)$$, '22004', NULL, '{}'),
(:'claim', 'zero deadline', $$SELECT count(*) FROM awa.claim_batch('hq', 1, '0')$$, '22023', NULL, '{}'),
(:'claim', 'negative deadline', $$SELECT count(*) FROM awa.claim_batch('hq', 1, '-1 minute')$$, '22023', NULL, '{}'),
(:'claim', 'NULL aging', $$SELECT count(*) FROM awa.claim_batch('hq', 1, '1 minute', NULL)$$, '22004', NULL, '{}'),
(:'claim', 'negative aging', $$SELECT count(*) FROM awa.claim_batch('hq', 1, '1 minute', '-1 second')$$, '22023', NULL, '{}'),
(:'claim', 'empty queue name', $$SELECT count(*) FROM awa.claim_batch('')$$, '22023', NULL, '{}'),
(:'claim', 'unknown queue claims nothing', $$SELECT count(*) FROM awa.claim_batch('hostile no such queue')$$, '00000', '0', '{}'),
-- complete_batch
(:'complete', 'NULL arrays', $$SELECT count(*) FROM awa.complete_batch(NULL, NULL)$$, '22004', NULL, '{}'),
(:'complete', 'NULL run_leases', $$SELECT count(*) FROM awa.complete_batch('{1}', NULL)$$, '22004', NULL, '{}'),
(:'complete', 'empty arrays complete nothing', $$SELECT count(*) FROM awa.complete_batch('{}', '{}')$$, '00000', '0', '{}'),
(:'complete', 'mismatched lengths', $$SELECT count(*) FROM awa.complete_batch('{1}', '{}')$$, '22023', NULL, '{}'),
(:'complete', 'NULL element', $$SELECT count(*) FROM awa.complete_batch('{1,NULL}', '{1,1}')$$, '22023', NULL, '{}'),
(:'complete', 'two-dimensional arrays', $$SELECT count(*) FROM awa.complete_batch('{{1}}', '{{1}}')$$, '22023', NULL, '{}'),
(:'complete', 'unknown attempt is silently absent', $$SELECT count(*) FROM awa.complete_batch('{123456789}', '{1}')$$, '00000', '0', '{}'),
(:'complete', 'negative ids are silently absent', $$SELECT count(*) FROM awa.complete_batch('{-1}', '{-1}')$$, '00000', '0', '{}'),
-- queue_counts
(:'counts', 'unknown queue counts zero', $$SELECT available + scheduled + retryable + running + terminal + dlq FROM awa.queue_counts('hostile no such queue')$$, '00000', '0', '{}'),
(:'counts', 'empty queue name', $$SELECT count(*) FROM awa.queue_counts('')$$, '22023', NULL, '{}'),
-- queue administration
('awa.pause_queue(text)', 'NULL queue', $$SELECT awa.pause_queue(NULL)::text$$, '22004', NULL, '{}'),
('awa.pause_queue(text)', 'empty queue', $$SELECT awa.pause_queue('')::text$$, '22023', NULL, '{}'),
('awa.pause_queue(text)', 'queue of 201 bytes', $$SELECT awa.pause_queue(repeat('q', 201))::text$$, '22023', NULL, '{}'),
('awa.resume_queue(text)', 'NULL queue', $$SELECT awa.resume_queue(NULL)::text$$, '22004', NULL, '{}'),
('awa.set_enqueue_shards(text,integer)', 'shards 0', $$SELECT awa.set_enqueue_shards('hq', 0)::text$$, '22023', NULL, '{}'),
('awa.set_enqueue_shards(text,integer)', 'shards 65', $$SELECT awa.set_enqueue_shards('hq', 65)::text$$, '22023', NULL, '{}'),
('awa.set_enqueue_shards(text,integer)', 'NULL shards', $$SELECT awa.set_enqueue_shards('hq', NULL)::text$$, '22004', NULL, '{}'),
('awa.set_dlq_enabled(text,boolean)', 'NULL enabled', $$SELECT awa.set_dlq_enabled('hq', NULL)::text$$, '22004', NULL, '{}'),
('awa.set_notify_enabled(text,boolean)', 'NULL enabled', $$SELECT awa.set_notify_enabled('hq', NULL)::text$$, '22004', NULL, '{}'),
('awa.set_notify_enabled(text,boolean)', 'NULL queue', $$SELECT awa.set_notify_enabled(NULL, true)::text$$, '22004', NULL, '{}'),
('awa.set_notify_enabled(text,boolean)', 'queue of 201 bytes', $$SELECT awa.set_notify_enabled(repeat('q', 201), true)::text$$, '22023', NULL, '{}'),
('awa.grant_rights(regrole,text)', 'unknown kind of role', $$SELECT awa.grant_rights('postgres', 'superuser')$$, '22023', NULL, '{}'),
('awa.grant_rights(regrole,text)', 'NULL role', $$SELECT awa.grant_rights(NULL, 'admin')$$, '22004', NULL, '{}'),
('awa.grant_rights(regrole,text)', 'a role name that is SQL', $$SELECT awa.grant_rights('x; DROP SCHEMA awa', 'admin')$$, '42602', NULL, '{}');

-- a job holding the unique key the conflict cases use
SELECT awa.enqueue('k', '{}', 'hq', 1::smallint, NULL, 3::smallint, '{}', '{}', '\x686f7374696c65') IS NOT NULL;

CREATE TEMP TABLE hostile_run AS
SELECT c.* FROM hostile_case AS c WHERE to_regprocedure(c.fn) IS NOT NULL ORDER BY c.n;

SELECT plan((SELECT count(*)::int * 2 FROM hostile_run) + 11);

CREATE FUNCTION pg_temp.run_case(c hostile_run) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
	before jsonb := pg_temp.awa_rows();
	after jsonb;
	res text;
	state text := '00000';
	msg text := '';
	delta jsonb;
BEGIN
	BEGIN
		EXECUTE c.call INTO res;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
	END;
	after := pg_temp.awa_rows();
	IF c.expect = '00000' AND c.result IS NOT NULL THEN
		RETURN NEXT is(state || ' ' || coalesce(res, 'NULL'), '00000 ' || c.result,
					   c.fn || ': ' || c.label || ' returns ' || c.result);
	ELSE
		RETURN NEXT is(state, c.expect, c.fn || ': ' || c.label || ' -> ' || c.expect
					   || CASE WHEN msg <> '' THEN ' (' || msg || ')' ELSE '' END);
	END IF;
	-- failures change no table at all; successes exactly the expected job rows
	delta := pg_temp.job_delta(before, after, c.expect <> '00000');
	RETURN NEXT ok(delta = c.delta AND NOT EXISTS (SELECT 1 FROM awa.verify_terminal_counters())
				   AND NOT EXISTS (SELECT 1 FROM awa.verify_available_counts()),
				   c.fn || ': ' || c.label || ': table changes ' || delta::text || ', expected ' || c.delta::text);
END
$$;

SELECT t FROM hostile_run AS c, pg_temp.run_case(c) AS t;

-- ---------------------------------------------------------------------------
-- Names are values, never SQL: quotes, semicolons, format escapes, unicode
-- ---------------------------------------------------------------------------
CREATE TEMP TABLE hostile_name (name text);
INSERT INTO hostile_name VALUES
	($$q'; DROP TABLE awa.queue_meta; --$$),
	($$"awa"."done_entries"$$),
	($$q%s%I%L$1\$$),
	($$ready_entries_0$$),
	($$队列 ✓ 🚀 Ω$$),
	($$ $$ || chr(9) || $$tab and space $$);
SELECT is((SELECT count(*)::int FROM hostile_name AS h
		   WHERE awa.enqueue(h.name, jsonb_build_object('name', h.name), h.name, 2::smallint) IS NOT NULL),
		  6, 'hostile kinds and queue names enqueue');
SELECT is((SELECT count(*)::int FROM (SELECT id FROM hostile_name AS h,
		   awa.enqueue_many(jsonb_build_array(jsonb_build_object('kind', h.name, 'queue', h.name, 'priority', 3))) AS id) AS x),
		  6, 'hostile kinds and queue names enqueue_many');
SELECT is((SELECT count(*)::int FROM hostile_name AS h, awa.queue_counts(h.name) AS c
		   WHERE c.queue = h.name AND c.available = 2),
		  6, 'queue_counts finds each hostile queue by its exact name');
CREATE TEMP TABLE hostile_claimed AS
SELECT h.name, c.* FROM hostile_name AS h, awa.claim_batch(h.name, 10) AS c;
SELECT is((SELECT count(*)::int FROM hostile_claimed WHERE queue = name AND kind = name AND args ->> 'name' IS NOT DISTINCT FROM
		   CASE WHEN priority = 2 THEN name END), 12, 'claim_batch returns each job with its kind and queue verbatim');
SELECT is((SELECT count(*)::int FROM awa.complete_batch((SELECT array_agg(job_id) FROM hostile_claimed),
		   (SELECT array_agg(run_lease) FROM hostile_claimed))), 12, 'the hostile jobs complete');
SELECT is((SELECT count(*)::int FROM hostile_name AS h, awa.queue_counts(h.name) AS c
		   WHERE c.terminal = 2 AND c.available = 0), 6, 'each hostile queue counts its two terminal jobs');
SELECT lives_ok($$SELECT awa.pause_queue(name), awa.set_enqueue_shards(name, 3), awa.set_dlq_enabled(name, true),
				  awa.set_notify_enabled(name, false), awa.resume_queue(name) FROM hostile_name$$,
				'queue administration accepts hostile names');
SELECT is((SELECT count(*)::int FROM awa.queue_meta AS m JOIN hostile_name AS h ON m.queue = h.name
		   WHERE m.enqueue_shards = 3 AND m.dlq_enabled AND NOT m.notify_enabled AND NOT m.paused), 6,
		  'queue_meta holds the hostile names verbatim');
SELECT is((SELECT count(*)::int FROM pg_class WHERE relnamespace = 'awa'::regnamespace AND relname IN ('queue_meta', 'done_entries')), 2,
		  'no awa table was dropped');
SELECT is((SELECT count(*)::int FROM awa.verify_terminal_counters()), 0, 'counters exact after the hostile names');
SELECT is((SELECT count(*)::int FROM awa.verify_available_counts()), 0, 'available counts exact after the hostile names');

SELECT * FROM finish();
ROLLBACK;
