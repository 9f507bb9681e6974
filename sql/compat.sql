-- compat: the awa.jobs view, INSERT / DELETE / UPDATE through it
\set VERBOSITY terse
SET client_min_messages = warning;

\set ECHO none
\ir test/compat_invariants.sql
\set ECHO all

-- every table a job can live in (receipts count only while open)
CREATE FUNCTION compat_where(j bigint) RETURNS text
LANGUAGE sql AS $$
SELECT concat_ws(' ',
  'ready=' || (SELECT count(*) FROM awa.ready_entries WHERE job_id = j),
  'deferred=' || (SELECT count(*) FROM awa.deferred_jobs WHERE job_id = j),
  'open_receipts=' || (SELECT count(*) FROM awa.lease_claims AS c WHERE c.job_id = j
                         AND NOT EXISTS (SELECT 1 FROM awa.lease_claim_closures AS x
                                          WHERE (x.job_id, x.run_lease, x.claim_slot)
                                              = (c.job_id, c.run_lease, c.claim_slot))),
  'attempt_state=' || (SELECT count(*) FROM awa.attempt_state WHERE job_id = j),
  'done=' || (SELECT count(*) FROM awa.done_entries WHERE job_id = j),
  'dlq=' || (SELECT count(*) FROM awa.dlq_entries WHERE job_id = j),
  'claims=' || (SELECT count(*) FROM awa.job_unique_claims WHERE job_id = j),
  'jobs=' || (SELECT count(*) FROM awa.jobs WHERE id = j))
$$;

-- the canonical shape
SELECT attname, format_type(atttypid, atttypmod) AS type
FROM pg_attribute WHERE attrelid = 'awa.jobs'::regclass AND attnum > 0 ORDER BY attnum;

-- WHERE id = X is answered from the job_id indexes of every branch
SET enable_seqscan = off;
CREATE FUNCTION compat_plan(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN RETURN QUERY EXECUTE 'EXPLAIN (COSTS OFF) ' || q; END $$;
SELECT count(*) FILTER (WHERE p LIKE '%Seq Scan%') AS seq_scans,
       count(*) FILTER (WHERE p ~ 'Index (Only )?Scan') > 0 AS uses_indexes
FROM compat_plan('SELECT * FROM awa.jobs WHERE id = 42') AS p;
RESET enable_seqscan;

-- INSERT enqueues through awa.enqueue and returns the row it built
INSERT INTO awa.jobs (kind, queue, args, tags, metadata)
VALUES ('mail', 'compat', '{"to": "a"}', '{x,y}', '{"m": 1}')
RETURNING kind, queue, args, state, priority, attempt, max_attempts, errors, metadata, tags,
          run_lease, progress, id > 0 AS has_id;
INSERT INTO awa.jobs (kind, queue, run_at) VALUES ('later', 'compat', now() + interval '1 hour')
RETURNING kind, state, run_at > now() AS in_future;
INSERT INTO awa.jobs (kind, queue, state, run_at)
VALUES ('later2', 'compat', 'scheduled', now() + interval '2 hours') RETURNING kind, state;
-- the returned row is exactly the view's row
CREATE TEMP TABLE built AS
SELECT * FROM awa.insert_job_compat('built', 'compat', '{"b": 1}', priority => 3::smallint,
                                    unique_key => '\x01'::bytea, tags => '{t}');
SELECT (SELECT b FROM built AS b) IS NOT DISTINCT FROM
       (SELECT j FROM awa.jobs AS j WHERE j.id = (SELECT id FROM built)) AS same_row;
SELECT state, priority, unique_key, unique_states FROM built;
SELECT * FROM awa.queue_counts('compat');
SELECT * FROM pg_temp.view_inv();

-- columns and states a producer may not set: 0A000; bad values: 22xxx; nothing written
\set VERBOSITY sqlstate
INSERT INTO awa.jobs (id, kind, queue) VALUES (1, 'x', 'compat');
INSERT INTO awa.jobs (kind, queue, attempt) VALUES ('x', 'compat', 1);
INSERT INTO awa.jobs (kind, queue, run_lease) VALUES ('x', 'compat', 3);
INSERT INTO awa.jobs (kind, queue, errors) VALUES ('x', 'compat', ARRAY['{}'::jsonb]);
INSERT INTO awa.jobs (kind, queue, progress) VALUES ('x', 'compat', '{}');
INSERT INTO awa.jobs (kind, queue, heartbeat_at) VALUES ('x', 'compat', now());
INSERT INTO awa.jobs (kind, queue, deadline_at) VALUES ('x', 'compat', now());
INSERT INTO awa.jobs (kind, queue, attempted_at) VALUES ('x', 'compat', now());
INSERT INTO awa.jobs (kind, queue, finalized_at) VALUES ('x', 'compat', now());
INSERT INTO awa.jobs (kind, queue, created_at) VALUES ('x', 'compat', now());
INSERT INTO awa.jobs (kind, queue, state) VALUES ('x', 'compat', 'running');
INSERT INTO awa.jobs (kind, queue, state) VALUES ('x', 'compat', 'completed');
SELECT awa.insert_job_compat('x', 'compat', state => 'failed');
INSERT INTO awa.jobs (kind, queue, state) VALUES ('x', 'compat', 'scheduled');
INSERT INTO awa.jobs (kind, queue, state, run_at) VALUES ('x', 'compat', 'available', now() + interval '1 day');
INSERT INTO awa.jobs (kind, queue) VALUES (NULL, 'compat');
INSERT INTO awa.jobs (kind, queue, priority) VALUES ('x', 'compat', 7);
INSERT INTO awa.jobs (kind, queue, unique_key) VALUES ('dup', 'compat', '\x01');
UPDATE awa.jobs SET priority = 1 WHERE queue = 'compat';
SELECT awa.delete_job_compat(NULL);
\set VERBOSITY terse
SELECT * FROM awa.queue_counts('compat');

-- DELETE of an unclaimed job that is not the lane head: the head stays
SELECT awa.enqueue('lane', '{}', 'compat_lane') AS j1 \gset
SELECT awa.enqueue('lane', '{}', 'compat_lane') AS j2 \gset
SELECT awa.enqueue('lane', '{}', 'compat_lane') AS j3 \gset
SELECT claim_seq FROM awa.queue_claim_heads WHERE queue = 'compat_lane';
DELETE FROM awa.jobs WHERE id = :j2;
SELECT claim_seq FROM awa.queue_claim_heads WHERE queue = 'compat_lane';
SELECT compat_where(:j2);
-- DELETE of the head row advances claim_seq past the gap to the next row
DELETE FROM awa.jobs WHERE id = :j1;
SELECT claim_seq FROM awa.queue_claim_heads WHERE queue = 'compat_lane';
SELECT job_id = :j3 AS claims_j3 FROM awa.claim_batch('compat_lane', 5);
-- the last row of a lane: claim_seq reaches next_seq, no phantom backlog
SELECT awa.enqueue('lane', '{}', 'compat_lane') AS j4 \gset
DELETE FROM awa.jobs WHERE id = :j4;
SELECT h.claim_seq = e.next_seq AS caught_up
FROM awa.queue_claim_heads AS h JOIN awa.queue_enqueue_heads AS e USING (queue, priority, enqueue_shard)
WHERE queue = 'compat_lane';
SELECT available FROM awa.queue_counts('compat_lane');
SELECT * FROM pg_temp.view_inv();

-- DELETE in each state: gone from every table, counters exact, key free again
-- available, with a unique key
SELECT awa.enqueue('st', '{}', 'compat_st', unique_key => '\xa1'::bytea) AS ja \gset
SELECT state FROM awa.jobs WHERE id = :ja;
DELETE FROM awa.jobs WHERE id = :ja;
SELECT compat_where(:ja);
SELECT awa.enqueue('st', '{}', 'compat_st', unique_key => '\xa1'::bytea) > 0 AS key_free;
-- scheduled
SELECT awa.enqueue('st', '{}', 'compat_st', run_at => now() + interval '1 day',
                   unique_key => '\xa2'::bytea) AS js \gset
SELECT state FROM awa.jobs WHERE id = :js;
SELECT awa.delete_job_compat(:js);
SELECT compat_where(:js);
SELECT awa.enqueue('st', '{}', 'compat_st', unique_key => '\xa2'::bytea) > 0 AS key_free;
-- retryable (seeded deferred row, as a failed attempt leaves it)
INSERT INTO awa.deferred_jobs (job_id, kind, queue, state, priority, attempt, run_lease, run_at,
                               unique_key, unique_states)
VALUES (7001, 'st', 'compat_st', 'retryable', 2, 1, 1, now() + interval '1 minute', '\xa3', B'11111000');
INSERT INTO awa.job_unique_claims VALUES ('\xa3', 7001);
SELECT state FROM awa.jobs WHERE id = 7001;
DELETE FROM awa.jobs WHERE id = 7001;
SELECT compat_where(7001);
-- running: the receipt is closed ('deleted'), heartbeat state dropped, the
-- body goes, and a late completion of that attempt finalizes nothing
SELECT count(*) AS claimed FROM awa.claim_batch('compat_st', 10);
SELECT id AS jr, run_lease AS jr_lease FROM awa.jobs
WHERE queue = 'compat_st' AND state = 'running' ORDER BY id LIMIT 1 \gset
INSERT INTO awa.attempt_state (job_id, run_lease, heartbeat_at, progress)
VALUES (:jr, :jr_lease, now(), '{"pct": 10}');
SELECT state, progress, heartbeat_at IS NOT NULL AS has_heartbeat FROM awa.jobs WHERE id = :jr;
DELETE FROM awa.jobs WHERE id = :jr;
SELECT compat_where(:jr);
SELECT outcome FROM awa.lease_claim_closures WHERE job_id = :jr;
SELECT count(*) AS finalized FROM awa.complete_batch(ARRAY[:jr]::bigint[], ARRAY[:jr_lease]::bigint[]);
SELECT awa.enqueue('st', '{}', 'compat_st', unique_key => '\xa1'::bytea) > 0 AS key_free;
-- completed: counter decremented, retained body deleted
SELECT job_id AS jc, run_lease AS jc_lease FROM awa.claim_batch('compat_st', 1) \gset
SELECT count(*) FROM awa.complete_batch(ARRAY[:jc]::bigint[], ARRAY[:jc_lease]::bigint[]);
SELECT state FROM awa.jobs WHERE id = :jc;
SELECT terminal FROM awa.queue_counts('compat_st');
DELETE FROM awa.jobs WHERE id = :jc;
SELECT compat_where(:jc);
SELECT terminal FROM awa.queue_counts('compat_st');
-- cancelled and failed (seeded narrow rows with bodies and counters)
INSERT INTO awa.ready_entries (ready_slot, ready_generation, job_id, kind, queue, priority, lane_seq,
                               enqueue_shard, unique_key, unique_states)
VALUES (2, 0, 7002, 'st', 'compat_seed', 2, 1, 0, '\xa4', B'11111110'),
       (2, 0, 7003, 'st', 'compat_seed', 2, 2, 0, NULL, NULL);
INSERT INTO awa.queue_claim_heads VALUES ('compat_seed', 2, 0, 3);
INSERT INTO awa.queue_enqueue_heads VALUES ('compat_seed', 2, 0, 3);
INSERT INTO awa.done_entries (ready_slot, ready_generation, job_id, kind, queue, state, priority,
                              attempt, run_lease, lane_seq, enqueue_shard)
VALUES (2, 0, 7002, 'st', 'compat_seed', 'cancelled', 2, 1, 1, 1, 0),
       (2, 0, 7003, 'st', 'compat_seed', 'failed', 2, 1, 1, 2, 0);
INSERT INTO awa.queue_terminal_live_counts VALUES (2, 'compat_seed', 2, 0, 2);
INSERT INTO awa.job_unique_claims VALUES ('\xa4', 7002);
SELECT * FROM pg_temp.view_inv();
SELECT id, state, args FROM awa.jobs WHERE queue = 'compat_seed' ORDER BY id;
DELETE FROM awa.jobs WHERE id IN (7002, 7003);
SELECT compat_where(7002), compat_where(7003);
SELECT live_terminal_count FROM awa.queue_terminal_live_counts WHERE queue = 'compat_seed';
-- dead-lettered
INSERT INTO awa.dlq_entries (job_id, kind, queue, priority, unique_key, unique_states, dlq_reason,
                             original_run_lease)
VALUES (7004, 'st', 'compat_seed', 2, '\xa5', B'11111100', 'operator', 1);
INSERT INTO awa.job_unique_claims VALUES ('\xa5', 7004);
SELECT state FROM awa.jobs WHERE id = 7004;
SELECT awa.delete_job_compat(7004);
SELECT compat_where(7004);
SELECT * FROM pg_temp.view_inv();
-- unknown ids: false, nothing deleted
SELECT awa.delete_job_compat(424242);
DELETE FROM awa.jobs WHERE id = 424242;

-- a full lifecycle: each job once, in its true state, at every step
SELECT awa.enqueue('life', '{"n": 1}', 'compat_life') AS jl \gset
SELECT state, attempt, run_lease FROM awa.jobs WHERE id = :jl;
SELECT job_id AS jl2, run_lease AS jl_lease FROM awa.claim_batch('compat_life', 1) \gset
SELECT state, attempt, run_lease, deadline_at IS NOT NULL AS has_deadline FROM awa.jobs WHERE id = :jl;
SELECT count(*) FROM awa.complete_batch(ARRAY[:jl]::bigint[], ARRAY[:jl_lease]::bigint[]);
SELECT state, attempt, run_lease, args, finalized_at IS NOT NULL AS finalized FROM awa.jobs WHERE id = :jl;
SELECT count(*) AS rows_in_view FROM awa.jobs WHERE id = :jl;
SELECT * FROM pg_temp.view_inv();

DROP FUNCTION compat_where(bigint);
DROP FUNCTION compat_plan(text);
