-- enqueue: single and batch enqueue, sharding, scheduling, uniqueness, errors
\set VERBOSITY terse
SET client_min_messages = warning;
\set ECHO none
\ir test/awa_test_helpers.sql
\set ECHO all
TRUNCATE awa.ready_entries, awa.done_entries, awa.deferred_jobs, awa.lease_claims,
	awa.lease_claim_closures, awa.queue_enqueue_heads, awa.queue_claim_heads, awa.ready_holes,
	awa.job_unique_claims, awa.queue_terminal_live_counts, awa.queue_meta;
CREATE TEMP TABLE ids (label text, id bigint);

-- one available job: ready row, lane created in both head tables
INSERT INTO ids SELECT 'first', awa.enqueue('send_email', '{"to": "a@example.com"}');
SELECT kind, queue, args, priority, attempt, run_lease, max_attempts, lane_seq,
	enqueue_shard, payload, unique_key IS NULL AS no_key
FROM awa.ready_entries;
SELECT * FROM awa.queue_enqueue_heads;
SELECT * FROM awa.queue_claim_heads;

-- metadata and tags become the compact payload; empty ones are omitted
SELECT awa.enqueue('k', metadata => '{"trace": "t1"}', tags => '{a,b}') > 0 AS ok;
SELECT awa.enqueue('k', metadata => '{"trace": "t2"}') > 0 AS ok;
SELECT awa.enqueue('k', tags => '{only}') > 0 AS ok;
SELECT lane_seq, payload FROM awa.ready_entries ORDER BY lane_seq;

-- FIFO lane positions and one head row per lane
SELECT queue, priority, enqueue_shard, next_seq FROM awa.queue_enqueue_heads ORDER BY 1, 2, 3;

-- enqueue_many: ids in input order, one head advance per lane
INSERT INTO ids SELECT 'many', id FROM awa.enqueue_many('[
	{"kind": "a", "queue": "batch"},
	{"kind": "b", "queue": "batch", "priority": 1},
	{"kind": "c", "queue": "batch", "args": {"n": 3}, "max_attempts": 3},
	{"kind": "d", "queue": "batch", "priority": 1, "tags": ["x"]},
	{"kind": "e", "queue": "batch2"}
]') AS id;
SELECT (SELECT pg_catalog.array_agg(id ORDER BY id) FROM ids WHERE label = 'many')
	= (SELECT pg_catalog.array_agg(id) FROM ids WHERE label = 'many') AS ids_in_input_order;
SELECT r.kind, r.queue, r.priority, r.lane_seq, r.max_attempts, r.args, r.payload
FROM awa.ready_entries AS r WHERE r.queue LIKE 'batch%' ORDER BY r.job_id;
SELECT queue, priority, next_seq FROM awa.queue_enqueue_heads WHERE queue LIKE 'batch%' ORDER BY 1, 2;
SELECT pg_catalog.count(*) AS empty_batch FROM awa.enqueue_many('[]');

-- a future run_at makes the job scheduled in deferred_jobs (with its ordering key)
SELECT awa.enqueue('later', queue => 'sched', run_at => pg_catalog.now() + interval '1 hour',
	ordering_key => 'customer-7') > 0 AS ok;
SELECT kind, queue, state, priority, ordering_key FROM awa.deferred_jobs;
SELECT pg_catalog.count(*) AS sched_ready_rows FROM awa.ready_entries WHERE queue = 'sched';
-- a past run_at is available now
SELECT awa.enqueue('past', queue => 'sched', run_at => pg_catalog.now() - interval '1 hour') > 0 AS ok;
SELECT kind FROM awa.ready_entries WHERE queue = 'sched';

-- ordering keys: same key -> same shard, for every producer
SELECT awa.set_enqueue_shards('sharded', 8);
SELECT awa.enqueue('o', queue => 'sharded', ordering_key => 'customer-42') > 0 AS ok
FROM pg_catalog.generate_series(1, 5);
SELECT pg_catalog.count(DISTINCT enqueue_shard) AS shards_used,
	pg_catalog.max(lane_seq) AS last_seq
FROM awa.ready_entries WHERE queue = 'sharded';
-- the FNV-style hash of the digest, computed in SQL, agrees with C
WITH RECURSIVE h(i, v) AS (
	SELECT 0, 14695981039346656037::numeric
	UNION ALL
	SELECT i + 1, (v * 1099511628211 + pg_catalog.get_byte(pg_catalog.convert_to('customer-42', 'UTF8'), i))
		% 18446744073709551616
	FROM h WHERE i < pg_catalog.octet_length('customer-42'))
SELECT (SELECT v FROM h ORDER BY i DESC LIMIT 1) % 8 = (SELECT DISTINCT enqueue_shard FROM awa.ready_entries WHERE queue = 'sharded') AS hash_matches;
-- jobs without a key spread across shards (one rotor pick per call and group)
SELECT pg_catalog.count(*) > 0 AS ok FROM (SELECT awa.enqueue('s', queue => 'sharded') FROM pg_catalog.generate_series(1, 16)) AS s;
SELECT pg_catalog.count(DISTINCT enqueue_shard) > 1 AS spread FROM awa.ready_entries
WHERE queue = 'sharded' AND kind = 's';
-- one enqueue_many call without keys lands in one lane of the group
SELECT pg_catalog.count(*) FROM awa.enqueue_many('[{"kind":"m","queue":"sharded"},{"kind":"m","queue":"sharded"},{"kind":"m","queue":"sharded"}]');
SELECT pg_catalog.count(DISTINCT enqueue_shard) AS lanes_for_one_call FROM awa.ready_entries
WHERE queue = 'sharded' AND kind = 'm';

-- long queue names (notified on 'awa:' || md5(queue), see specs/enqueue_vs_claim) work
SELECT awa.enqueue('n', queue => pg_catalog.repeat('q', 100)) > 0 AS ok;

-- unique keys: the default mask holds the key while scheduled..retryable
SELECT awa.enqueue('u', queue => 'uniq', unique_key => '\x0102') > 0 AS ok;
SELECT unique_states FROM awa.ready_entries WHERE unique_key = '\x0102';
\set VERBOSITY sqlstate
SELECT awa.enqueue('u', queue => 'uniq', unique_key => '\x0102');
-- a batch with a taken key writes nothing at all
SELECT * FROM awa.enqueue_many('[{"kind":"u2","queue":"uniq2"},{"kind":"u","queue":"uniq2","unique_key":"\\x0102"}]');
-- two jobs of one batch with the same key
SELECT * FROM awa.enqueue_many('[{"kind":"u","queue":"uniq3","unique_key":"dup"},{"kind":"u","queue":"uniq3","unique_key":"dup"}]');
\set VERBOSITY terse
SELECT pg_catalog.count(*) AS nothing_written FROM awa.ready_entries WHERE queue IN ('uniq2', 'uniq3');
SELECT pg_catalog.count(*) AS no_lane_advanced FROM awa.queue_enqueue_heads WHERE queue IN ('uniq2', 'uniq3');
-- a mask without "available" takes no claim while available
SELECT awa.enqueue('u', queue => 'uniq', unique_key => '\x0102', unique_states => B'00010000') > 0 AS ok;
SELECT pg_catalog.count(*) AS claims FROM awa.job_unique_claims;
-- scheduled unique job holds its key
SELECT awa.enqueue('u', queue => 'uniq', unique_key => '\xff', run_at => pg_catalog.now() + interval '1 day') > 0 AS ok;
SELECT pg_catalog.count(*) AS claims FROM awa.job_unique_claims;

-- rollback leaves nothing behind, the head advance included
BEGIN;
SELECT awa.enqueue('rb', queue => 'rolled') > 0 AS ok;
ROLLBACK;
SELECT pg_catalog.count(*) AS rows_left FROM awa.ready_entries WHERE queue = 'rolled';
SELECT pg_catalog.count(*) AS lanes_left FROM awa.queue_enqueue_heads WHERE queue = 'rolled';
SELECT awa.enqueue('rb', queue => 'default') > 0 AS ok;
BEGIN;
SELECT pg_catalog.count(*) FROM awa.enqueue_many('[{"kind":"rb"},{"kind":"rb"}]');
ROLLBACK;
SELECT next_seq FROM awa.queue_enqueue_heads WHERE queue = 'default' AND priority = 2;

-- errors, each with its SQLSTATE, nothing written
SELECT pg_catalog.count(*) AS before FROM awa.ready_entries;
\set VERBOSITY sqlstate
SELECT awa.enqueue(NULL);
SELECT awa.enqueue('');
SELECT awa.enqueue(pg_catalog.repeat('k', 201));
SELECT awa.enqueue('k', queue => NULL);
SELECT awa.enqueue('k', queue => '');
SELECT awa.enqueue('k', NULL);
SELECT awa.enqueue('k', '[1, 2]');
SELECT awa.enqueue('k', '"scalar"');
SELECT awa.enqueue('k', priority => 0::smallint);
SELECT awa.enqueue('k', priority => 5::smallint);
SELECT awa.enqueue('k', priority => NULL);
SELECT awa.enqueue('k', max_attempts => 0::smallint);
SELECT awa.enqueue('k', max_attempts => 1001::smallint);
SELECT awa.enqueue('k', max_attempts => NULL);
SELECT awa.enqueue('k', metadata => '[]');
SELECT awa.enqueue('k', tags => ARRAY['a', NULL]);
SELECT awa.enqueue('k', tags => (SELECT pg_catalog.array_agg(g::text) FROM pg_catalog.generate_series(1, 21) AS g));
SELECT awa.enqueue('k', unique_states => B'11111000');
SELECT awa.enqueue('k', unique_key => '\x01', unique_states => B'101');
SELECT * FROM awa.enqueue_many(NULL);
SELECT * FROM awa.enqueue_many('{"kind": "k"}');
SELECT * FROM awa.enqueue_many('[1]');
SELECT * FROM awa.enqueue_many('[{"kind": "k", "colour": "red"}]');
SELECT * FROM awa.enqueue_many('[{"queue": "q"}]');
SELECT * FROM awa.enqueue_many('[{"kind": "k"}, {"kind": "k", "priority": 9}]');
SELECT * FROM awa.enqueue_many('[{"kind": "k", "priority": "high"}]');
SELECT * FROM awa.enqueue_many('[{"kind": "k", "priority": 1.5}]');
SELECT * FROM awa.enqueue_many('[{"kind": "k", "args": [1]}]');
SELECT * FROM awa.enqueue_many('[{"kind": "k", "tags": "x"}]');
SELECT * FROM awa.enqueue_many('[{"kind": "k", "tags": ["x", null]}]');
SELECT * FROM awa.enqueue_many('[{"kind": "k", "unique_states": "11111000"}]');
SELECT * FROM awa.enqueue_many('[{"kind": "k", "unique_key": "a", "unique_states": "1111100x"}]');
SELECT * FROM awa.enqueue_many('[{"kind": "k", "max_attempts": 0}]');
SELECT * FROM awa.enqueue_many('[{"kind": 7}]');
SELECT * FROM awa.enqueue_many('[{"kind": "k", "run_at": "not a time"}]');
\set VERBOSITY terse
SELECT pg_catalog.count(*) AS after FROM awa.ready_entries;
SELECT pg_catalog.count(*) AS verify_drift FROM awa.verify_terminal_counters();
SELECT pg_catalog.count(*) AS available_drift FROM awa.verify_available_counts();

-- A remembered enqueue head (the row version this backend wrote last) is
-- used only while it is still its lane's visible version.  rh_x's lane is
-- advanced once through the statement path (REPEATABLE READ), which leaves
-- the remembered version dead; rh_y's enqueues, committed one by one, get
-- the page pruned and take that line pointer.  The next enqueue into rh_x
-- must advance rh_x's head, not rh_y's.
SELECT awa.enqueue('k', queue => 'rh_y') > 0 AS y1;
SELECT awa.enqueue('k', queue => 'rh_x') > 0 AS x1;
SELECT awa.enqueue('k', queue => 'rh_x') > 0 AS x2;
CREATE TEMP TABLE remembered AS
	SELECT ctid AS tid FROM awa.queue_enqueue_heads WHERE queue = 'rh_x';
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT awa.enqueue('k', queue => 'rh_x') > 0 AS x3_by_statement;
COMMIT;
SELECT tid AS remembered_tid FROM remembered \gset
CALL pg_temp.churn_until_row_at('awa.queue_enqueue_heads', 'rh_y',
	:'remembered_tid', $$SELECT awa.enqueue('k', queue => 'rh_y')$$);
SELECT (SELECT ctid FROM awa.queue_enqueue_heads WHERE queue = 'rh_y') =
	(SELECT tid FROM remembered) AS rh_y_took_the_line_pointer;
CREATE TEMP TABLE before AS
	SELECT queue, next_seq FROM awa.queue_enqueue_heads WHERE queue LIKE 'rh_%';
SELECT value AS remembered_before FROM awa.backend_stats() WHERE name = 'enqueue_remembered_heads' \gset
SELECT awa.enqueue('k', queue => 'rh_x') > 0 AS x4;
SELECT h.queue, h.next_seq - b.next_seq AS advanced_by
FROM awa.queue_enqueue_heads AS h JOIN before AS b USING (queue) ORDER BY h.queue;
SELECT value = :remembered_before AS found_by_primary_key
FROM awa.backend_stats() WHERE name = 'enqueue_remembered_heads';
SELECT awa.enqueue('k', queue => 'rh_x') > 0 AS x5;
SELECT value = :remembered_before + 1 AS then_remembered
FROM awa.backend_stats() WHERE name = 'enqueue_remembered_heads';
-- The remembered path opens the head table once, with the lock of its
-- update (RowExclusiveLock, as the statement's UPDATE), not a second time
-- with AccessShareLock to read the version it then updates.
BEGIN;
SELECT awa.enqueue('k', queue => 'rh_x') > 0 AS x6;
SELECT value = :remembered_before + 2 AS remembered_again
FROM awa.backend_stats() WHERE name = 'enqueue_remembered_heads';
SELECT mode AS head_table_lock FROM pg_catalog.pg_locks
WHERE pid = pg_catalog.pg_backend_pid() AND locktype = 'relation'
	AND relation = 'awa.queue_enqueue_heads'::regclass
ORDER BY mode;
COMMIT;
SELECT queue, available FROM awa.queue_counts('rh_x');
SELECT pg_catalog.count(*) AS verify_drift FROM awa.verify_terminal_counters();
SELECT pg_catalog.count(*) AS available_drift FROM awa.verify_available_counts();
