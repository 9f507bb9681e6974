-- test/pgtap/least_privilege.sql -- what each granted role can and cannot do,
-- and that a hostile search_path cannot hijack any awa function
--
-- Roles get their rights only through the documented helpers
-- (awa.grant_producer / grant_worker / grant_admin).  The expected rights
-- come from SPEC section 3 (producer: enqueue; worker: claim, complete,
-- fail, heartbeat; both: queue_counts; admin: everything), not from the
-- helper's own list.  Every call runs as the role (SET ROLE) inside a
-- subtransaction that is always rolled back, so even an admin's purge
-- leaves nothing behind; "denied" means SQLSTATE 42501 and nothing else.
\set ON_ERROR_STOP 1
BEGIN;
SET LOCAL client_min_messages = warning;

CREATE ROLE tap_awa_producer;
CREATE ROLE tap_awa_worker;
CREATE ROLE tap_awa_admin;
CREATE ROLE tap_awa_nobody;
SELECT awa.grant_producer('tap_awa_producer') > 0 AND awa.grant_worker('tap_awa_worker') > 0
	AND awa.grant_admin('tap_awa_admin') > 0 AS granted \gset

-- run sql as a role; the subtransaction is always rolled back.  Returns
-- '00000' when the call itself succeeded, else its SQLSTATE.
CREATE FUNCTION pg_temp.as_role(r text, sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	st text;
BEGIN
	BEGIN
		EXECUTE format('SET LOCAL ROLE %I', r);
		EXECUTE sql;
		RAISE EXCEPTION 'undo' USING ERRCODE = 'ZZ000';
	EXCEPTION WHEN OTHERS THEN
		st := SQLSTATE;
	END;
	RETURN CASE st WHEN 'ZZ000' THEN '00000' ELSE st END;
END
$$;

-- one call per awa function, every argument NULL (permission is checked
-- before the function runs, so an allowed call fails later, if at all)
CREATE TEMP TABLE api AS
SELECT p.oid::regprocedure::text AS fn, p.proname::text AS name,
	   format('SELECT * FROM %s(%s)', p.oid::regproc,
			  (SELECT coalesce(string_agg('NULL::' || format_type(t, NULL), ', ' ORDER BY o), '')
			   FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY AS a(t, o))) AS call
FROM pg_proc AS p WHERE p.pronamespace = 'awa'::regnamespace
  -- trigger functions cannot be called directly (42804 before any privilege check)
  AND p.prorettype <> 'trigger'::regtype;

CREATE TEMP TABLE expected_right (role text, name text);
INSERT INTO expected_right
SELECT 'tap_awa_producer', unnest(ARRAY['enqueue', 'enqueue_many', 'insert_job_compat', 'queue_counts'])
UNION ALL
SELECT 'tap_awa_worker', unnest(ARRAY['claim_batch', 'complete_batch', 'fail_batch', 'retry_after',
									  'snooze', 'heartbeat_batch', 'queue_counts'])
UNION ALL
SELECT 'tap_awa_admin', name FROM api;

CREATE TEMP TABLE outcome AS
SELECT r.role, a.fn, a.name, pg_temp.as_role(r.role, a.call) AS st,
	   EXISTS (SELECT 1 FROM expected_right AS e WHERE e.role = r.role AND e.name = a.name) AS allowed
FROM api AS a,
	 (VALUES ('tap_awa_producer'), ('tap_awa_worker'), ('tap_awa_admin'), ('tap_awa_nobody')) AS r(role);

-- the number of hijack cases depends on which functions are installed
SELECT * FROM no_plan();

SELECT ok(:'granted', 'the grant helpers granted producer, worker and admin rights');
SELECT ok(CASE WHEN o.allowed THEN o.st <> '42501' ELSE o.st = '42501' END,
		  format('%s %s %s (%s)', o.role, CASE WHEN o.allowed THEN 'may call' ELSE 'may not call' END, o.fn, o.st))
FROM outcome AS o ORDER BY o.role, o.fn;
SELECT ok((SELECT count(*) FROM api WHERE name IN ('enqueue', 'claim_batch', 'complete_batch', 'queue_counts')) = 4,
		  'the hot-path API is installed and covered');

-- the real thing, end to end, each step as the role that should do it
SELECT is(pg_temp.as_role('tap_awa_producer', $$SELECT awa.enqueue('k', '{}', 'lp_q')$$), '00000', 'a producer enqueues');
SELECT is(pg_temp.as_role('tap_awa_worker', $$SELECT awa.enqueue('k', '{}', 'lp_q')$$), '42501', 'a worker may not enqueue');
SELECT awa.enqueue('k', '{}', 'lp_q') IS NOT NULL AS seeded;
SELECT is(pg_temp.as_role('tap_awa_worker', $q$DO $d$ DECLARE c record; n int; BEGIN
		SELECT * INTO c FROM awa.claim_batch('lp_q', 1);
		SELECT count(*) INTO n FROM awa.complete_batch(ARRAY[c.job_id], ARRAY[c.run_lease]);
		IF n <> 1 THEN RAISE EXCEPTION 'not completed'; END IF; END $d$$q$), '00000', 'a worker claims and completes');
SELECT is(pg_temp.as_role('tap_awa_producer', $$SELECT * FROM awa.claim_batch('lp_q', 1)$$), '42501', 'a producer may not claim');

-- tables: nobody but the owner writes; only admin reads
SELECT is((SELECT count(*)::int FROM pg_class AS c, (VALUES ('tap_awa_producer'), ('tap_awa_worker'), ('tap_awa_admin'), ('tap_awa_nobody')) AS r(role)
		   WHERE c.relnamespace = 'awa'::regnamespace AND c.relkind IN ('r', 'p')
			 AND has_table_privilege(r.role, c.oid, 'INSERT,UPDATE,DELETE,TRUNCATE')), 0, 'no role can write any awa table');
SELECT is((SELECT count(*)::int FROM pg_class AS c, (VALUES ('tap_awa_producer'), ('tap_awa_worker'), ('tap_awa_nobody')) AS r(role)
		   WHERE c.relnamespace = 'awa'::regnamespace AND c.relkind IN ('r', 'p', 'v')
			 AND has_table_privilege(r.role, c.oid, 'SELECT')), 0, 'producer, worker and nobody cannot read awa tables');
SELECT is(pg_temp.as_role('tap_awa_admin', $$INSERT INTO awa.ready_entries_0 (ready_slot, ready_generation, job_id, kind, queue, priority, lane_seq)
		  VALUES (0, 0, -1, 'forged', 'lp_q', 1, -1)$$), '42501', 'even admin cannot forge a ready row');
SELECT is(pg_temp.as_role('tap_awa_worker', $$DELETE FROM awa.done_entries$$), '42501', 'a worker cannot delete terminal rows');
SELECT is(pg_temp.as_role('tap_awa_producer', $$SELECT nextval('awa.job_id_seq')$$), '42501', 'a producer cannot draw job ids');
SELECT is(pg_temp.as_role('tap_awa_admin', $$SELECT count(*) FROM awa.done_entries$$), '00000', 'admin can read');

-- the compat view: producers insert, admins read, insert and delete; its
-- SECURITY DEFINER trigger does the writing for them
SELECT is(pg_temp.as_role('tap_awa_producer', $$INSERT INTO awa.jobs (kind, queue) VALUES ('k', 'lp_q') RETURNING id$$),
		  '00000', 'a producer inserts into awa.jobs (RETURNING id)');
SELECT is(pg_temp.as_role('tap_awa_producer', $$SELECT * FROM awa.jobs$$), '42501', 'a producer may not read awa.jobs');
SELECT is(pg_temp.as_role('tap_awa_producer', $$DELETE FROM awa.jobs WHERE id > 0$$), '42501', 'a producer may not delete from awa.jobs');
SELECT is(pg_temp.as_role('tap_awa_worker', $$INSERT INTO awa.jobs (kind, queue) VALUES ('k', 'lp_q')$$),
		  '42501', 'a worker may not insert into awa.jobs');
SELECT is(pg_temp.as_role('tap_awa_nobody', $$INSERT INTO awa.jobs (kind, queue) VALUES ('k', 'lp_q')$$),
		  '42501', 'nobody may not insert into awa.jobs');
SELECT is(pg_temp.as_role('tap_awa_admin', $q$DO $d$ DECLARE n bigint; BEGIN
		INSERT INTO awa.jobs (kind, queue) VALUES ('k_admin', 'lp_q');
		DELETE FROM awa.jobs WHERE queue = 'lp_q' AND kind = 'k_admin';
		GET DIAGNOSTICS n = ROW_COUNT;
		IF n <> 1 THEN RAISE EXCEPTION 'not deleted'; END IF;
		SELECT count(*) INTO n FROM awa.jobs WHERE kind = 'k_admin';
		IF n <> 0 THEN RAISE EXCEPTION 'still there'; END IF; END $d$$q$),
		  '00000', 'an admin reads, inserts into and deletes from awa.jobs');
SELECT is(pg_temp.as_role('tap_awa_admin', $$UPDATE awa.jobs SET priority = 1$$), '42501', 'no role may update awa.jobs, admin included');

-- ---------------------------------------------------------------------------
-- Hostile search_path: shadowing functions, operators and aggregates in a
-- schema ahead of pg_catalog, plus temp tables named like awa's.  Any of
-- them firing raises SQLSTATE HJ666.
-- ---------------------------------------------------------------------------
CREATE SCHEMA evil;
GRANT USAGE ON SCHEMA evil TO PUBLIC;
CREATE FUNCTION evil.trap() RETURNS boolean LANGUAGE plpgsql AS
$$ BEGIN RAISE EXCEPTION 'hijacked' USING ERRCODE = 'HJ666'; END $$;
CREATE FUNCTION evil.pg_notify(text, text) RETURNS void LANGUAGE plpgsql AS $$ BEGIN PERFORM evil.trap(); END $$;
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE plpgsql AS $$ BEGIN PERFORM evil.trap(); RETURN NULL; END $$;
CREATE FUNCTION evil.clock_timestamp() RETURNS timestamptz LANGUAGE plpgsql AS $$ BEGIN PERFORM evil.trap(); RETURN NULL; END $$;
CREATE FUNCTION evil.nextval(regclass) RETURNS bigint LANGUAGE plpgsql AS $$ BEGIN PERFORM evil.trap(); RETURN NULL; END $$;
CREATE FUNCTION evil.jsonb_typeof(jsonb) RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM evil.trap(); RETURN NULL; END $$;
CREATE FUNCTION evil.hashtext(text) RETURNS integer LANGUAGE plpgsql AS $$ BEGIN PERFORM evil.trap(); RETURN NULL; END $$;
CREATE FUNCTION evil.unnest(anyarray) RETURNS SETOF anyelement LANGUAGE plpgsql AS $$ BEGIN PERFORM evil.trap(); END $$;
CREATE FUNCTION evil.greatest_trap(bigint, bigint) RETURNS bigint LANGUAGE plpgsql AS $$ BEGIN PERFORM evil.trap(); RETURN NULL; END $$;
DO $$
DECLARE
	t text;
	op text;
BEGIN
	FOREACH t IN ARRAY ARRAY['text', 'bigint', 'integer', 'smallint', 'jsonb', 'timestamptz', 'boolean'] LOOP
		EXECUTE format('CREATE FUNCTION evil.cmp_%s(%s, %s) RETURNS boolean LANGUAGE plpgsql AS $f$ BEGIN RETURN evil.trap(); END $f$',
					   t, t, t);
		FOREACH op IN ARRAY ARRAY['=', '<>', '<', '<=', '>', '>='] LOOP
			EXECUTE format('CREATE OPERATOR evil.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = evil.cmp_%s)', op, t, t, t);
		END LOOP;
	END LOOP;
	FOREACH t IN ARRAY ARRAY['bigint', 'integer', 'smallint'] LOOP
		EXECUTE format('CREATE FUNCTION evil.arith_%s(%s, %s) RETURNS %s LANGUAGE plpgsql AS $f$ BEGIN PERFORM evil.trap(); RETURN NULL; END $f$',
					   t, t, t, t);
		EXECUTE format('CREATE OPERATOR evil.+ (LEFTARG = %s, RIGHTARG = %s, FUNCTION = evil.arith_%s)', t, t, t);
		EXECUTE format('CREATE OPERATOR evil.- (LEFTARG = %s, RIGHTARG = %s, FUNCTION = evil.arith_%s)', t, t, t);
	END LOOP;
	CREATE FUNCTION evil.cat(text, text) RETURNS text LANGUAGE plpgsql AS $f$ BEGIN PERFORM evil.trap(); RETURN NULL; END $f$;
	CREATE OPERATOR evil.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.cat);
	CREATE FUNCTION evil.agg_step(bigint) RETURNS bigint LANGUAGE plpgsql AS $f$ BEGIN PERFORM evil.trap(); RETURN NULL; END $f$;
	CREATE FUNCTION evil.agg_step2(bigint, bigint) RETURNS bigint LANGUAGE plpgsql AS $f$ BEGIN PERFORM evil.trap(); RETURN NULL; END $f$;
	CREATE AGGREGATE evil.count(*) (SFUNC = evil.agg_step, STYPE = bigint, INITCOND = '0');
	CREATE AGGREGATE evil.max(bigint) (SFUNC = evil.agg_step2, STYPE = bigint);
	CREATE AGGREGATE evil.sum(bigint) (SFUNC = evil.agg_step2, STYPE = bigint);
END
$$;
-- temp tables shadowing awa's table names (first on the path below)
CREATE TEMP TABLE queue_meta (queue text);
CREATE TEMP TABLE ready_entries (job_id bigint);
CREATE TEMP TABLE done_entries (job_id bigint);
CREATE TEMP TABLE queue_terminal_live_counts (queue text);
GRANT ALL ON pg_temp.queue_meta, pg_temp.ready_entries, pg_temp.done_entries, pg_temp.queue_terminal_live_counts TO PUBLIC;
SELECT ok(pg_temp.as_role('tap_awa_admin', $$SET LOCAL search_path = evil, pg_catalog; SELECT 1 WHERE 'a'::text = 'a'::text$$) = 'HJ666',
		  'the shadowing operators do fire when a query uses them unqualified');

-- run a call as admin under the hostile path; the runner sets and restores
-- the path itself so that only the awa call sees it
CREATE FUNCTION pg_temp.hijacked(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	st text;
	res text;
	old text := current_setting('search_path');
	is_ddl boolean := left(sql, 6) = 'CREATE';	-- evaluated before the path changes
BEGIN
	BEGIN
		SET LOCAL ROLE tap_awa_admin;
		PERFORM set_config('search_path', 'pg_temp, evil, pg_catalog, public', true);
		IF is_ddl THEN
			EXECUTE sql;
		ELSE
			EXECUTE sql INTO res;
		END IF;
		st := '00000';
	EXCEPTION WHEN OTHERS THEN
		st := SQLSTATE;
		res := SQLERRM;
	END;
	PERFORM set_config('search_path', old, true);
	RESET ROLE;
	RETURN st || ' ' || coalesce(res, 'NULL');
END
$$;
CREATE TEMP TABLE hijack_calls (n serial, fn text, sql text);
INSERT INTO hijack_calls (fn, sql) VALUES
	('awa.enqueue(text,jsonb,text,smallint,timestamptz,smallint,jsonb,text[],bytea,bit,text)',
	 $$SELECT awa.enqueue('hj', '{"a": 1}', 'hj_q', 2::smallint, NULL, 3::smallint, '{"m": 1}', ARRAY['t'], '\x686a', NULL, 'ok1') IS NOT NULL$$),
	('awa.enqueue_many(jsonb)',
	 $$SELECT ARRAY(SELECT awa.enqueue_many('[{"kind": "hj", "queue": "hj_q"}, {"kind": "hj", "queue": "hj_q", "priority": 1, "run_at": "2999-01-01T00:00:00Z"}]'))::text$$),
	('awa.queue_counts(text)', $$SELECT ROW(c.*)::text FROM awa.queue_counts('hj_q') AS c$$),
	('awa.claim_batch(text,integer,interval,interval)', $$CREATE TEMP TABLE hj_claimed AS SELECT * FROM awa.claim_batch('hj_q', 10)$$),
	('awa.complete_batch(bigint[],bigint[])',
	 $$SELECT ARRAY(SELECT ROW(c.*)::text FROM awa.complete_batch(ARRAY(SELECT job_id FROM hj_claimed), ARRAY(SELECT run_lease FROM hj_claimed)) AS c)::text$$),
	('awa.verify_terminal_counters()', $$SELECT ARRAY(SELECT ROW(v.*)::text FROM awa.verify_terminal_counters() AS v)::text$$),
	('awa.verify_available_counts()', $$SELECT ARRAY(SELECT ROW(v.*)::text FROM awa.verify_available_counts() AS v)::text$$),
	('awa.rebuild_terminal_counters()', $$SELECT awa.rebuild_terminal_counters()::text$$),
	('awa.pause_queue(text)', $$SELECT awa.pause_queue('hj_q')::text$$),
	('awa.resume_queue(text)', $$SELECT awa.resume_queue('hj_q')::text$$),
	('awa.set_enqueue_shards(text,integer)', $$SELECT awa.set_enqueue_shards('hj_q', 2)::text$$),
	('awa.set_dlq_enabled(text,boolean)', $$SELECT awa.set_dlq_enabled('hj_q', true)::text$$),
	('awa.set_notify_enabled(text,boolean)', $$SELECT awa.set_notify_enabled('hj_q', true)::text$$),
	('awa.fail_batch(bigint[],bigint[],text[],boolean)',
	 $$WITH c AS (SELECT job_id, run_lease FROM awa.claim_batch('hj_q', 1))
		SELECT ARRAY(SELECT ROW(f.*)::text FROM awa.fail_batch(ARRAY(SELECT job_id FROM c),
		ARRAY(SELECT run_lease FROM c), ARRAY(SELECT 'e' FROM c), false) AS f)::text$$),
	('awa.cancel(bigint)', $$SELECT awa.cancel((ARRAY(SELECT awa.enqueue_many('[{"kind": "hj", "queue": "hj_q"}]')))[1])::text$$),
	('awa.promote_due(integer)', $$SELECT awa.promote_due(10)::text$$),
	('awa.rescue_expired(integer)', $$SELECT awa.rescue_expired(10)::text$$),
	('awa.maintenance()', $$SELECT awa.maintenance()::text$$),
	('awa.rotate()', $$SELECT awa.rotate()$$),
	('awa.prune_oldest()', $$SELECT awa.prune_oldest()$$),
	('awa.rotate_claims()', $$SELECT awa.rotate_claims()$$),
	('awa.prune_oldest_claims()', $$SELECT awa.prune_oldest_claims()$$),
	('awa.purge_dlq(text,text,interval)', $$SELECT awa.purge_dlq('hj_q')::text$$),
	('awa.delete_job_compat(bigint)', $$SELECT awa.delete_job_compat((ARRAY(SELECT awa.enqueue_many('[{"kind": "hj", "queue": "hj_q"}]')))[1])::text$$);
CREATE TEMP TABLE hijack_out AS
SELECT c.n, c.fn, pg_temp.hijacked(c.sql) AS res FROM hijack_calls AS c
WHERE to_regprocedure(c.fn) IS NOT NULL ORDER BY c.n;
SELECT ok(h.res LIKE '00000 %', 'hostile search_path: ' || h.fn || ' works and is not hijacked (' || left(h.res, 120) || ')')
FROM hijack_out AS h ORDER BY h.n;
SELECT is((SELECT count(*)::int FROM awa.verify_terminal_counters()), 0, 'counters exact after the hijack attempts');
SELECT is((SELECT count(*)::int FROM awa.verify_available_counts()), 0, 'available counts exact after the hijack attempts');

SELECT * FROM finish();
ROLLBACK;
