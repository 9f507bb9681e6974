-- test/pgtap/schema.sql -- the install creates the whole v22 storage model
BEGIN;
SELECT plan(51);

SELECT has_schema('awa');
SELECT has_table('awa', t, 'table awa.' || t) FROM unnest(ARRAY[
	'queue_meta', 'queue_enqueue_heads', 'queue_claim_heads',
	'queue_ring_state', 'queue_ring_slots', 'claim_ring_state', 'claim_ring_slots',
	'ready_entries', 'done_entries', 'lease_claims', 'lease_claim_closures',
	'attempt_state', 'deferred_jobs', 'dlq_entries', 'job_unique_claims',
	'queue_terminal_live_counts', 'queue_terminal_rollups', 'ready_holes']) AS t;
SELECT has_sequence('awa', 'job_id_seq', 'job id sequence');
SELECT has_type('awa', 'claimed_job', 'claimed_job type');
SELECT enum_has_labels('awa', 'job_state', ARRAY['scheduled', 'available', 'running', 'completed',
	'retryable', 'failed', 'cancelled', 'waiting_external'], 'job_state has all eight labels in bit order');

SELECT is((SELECT count(*)::int FROM pg_inherits WHERE inhparent = 'awa.ready_entries'::regclass), 16, 'ready_entries has 16 partitions');
SELECT is((SELECT count(*)::int FROM pg_inherits WHERE inhparent = 'awa.done_entries'::regclass), 16, 'done_entries has 16 partitions');
SELECT is((SELECT count(*)::int FROM pg_inherits WHERE inhparent = 'awa.lease_claims'::regclass), 8, 'lease_claims has 8 partitions');
SELECT is((SELECT count(*)::int FROM pg_inherits WHERE inhparent = 'awa.lease_claim_closures'::regclass), 8, 'lease_claim_closures has 8 partitions');

SELECT ok((SELECT 'fillfactor=50' = ANY(reloptions) FROM pg_class WHERE oid = 'awa.queue_terminal_live_counts'::regclass), 'counter table has fillfactor 50');
SELECT ok((SELECT 'fillfactor=50' = ANY(reloptions) FROM pg_class WHERE oid = 'awa.queue_enqueue_heads'::regclass), 'enqueue heads have fillfactor 50');
SELECT ok((SELECT 'fillfactor=50' = ANY(reloptions) FROM pg_class WHERE oid = 'awa.queue_claim_heads'::regclass), 'claim heads have fillfactor 50');
SELECT col_is_pk('awa', 'queue_terminal_live_counts', ARRAY['ready_slot', 'queue', 'priority', 'enqueue_shard'], 'counter key');
SELECT col_is_pk('awa', 'queue_terminal_rollups', ARRAY['queue', 'priority'], 'rollup key');
SELECT col_is_pk('awa', 'job_unique_claims', ARRAY['unique_key'], 'unique registry key');
SELECT col_is_pk('awa', 'ready_holes', ARRAY['queue', 'priority', 'enqueue_shard', 'lane_seq'], 'a hole is one lane position');
SELECT has_column('awa', 'queue_ring_state', 'terminal_counter_trusted_at', 'trust marker column');
SELECT has_index('awa', 'ready_entries_0', 'ready_entries_0_job_idx', 'ready rows are found by job id');
SELECT has_index('awa', 'done_entries_0', 'done_entries_0_wide_job_idx', 'wide done rows are found by job id (narrow ones through their ready row)');

SELECT has_function('awa', 'rebuild_terminal_counters', '{}'::name[]);
SELECT has_function('awa', 'verify_terminal_counters', '{}'::name[]);
SELECT has_function('awa', 'verify_available_counts', '{}'::name[]);
SELECT has_function('awa', 'pause_queue', ARRAY['text']);
SELECT has_function('awa', 'resume_queue', ARRAY['text']);

SELECT is((SELECT count(*)::int FROM pg_class c
	WHERE c.relnamespace = 'awa'::regnamespace AND c.relkind IN ('r', 'p')
	AND has_table_privilege('public', c.oid, 'INSERT,UPDATE,DELETE,TRUNCATE')), 0,
	'PUBLIC cannot write any awa table');

-- design decision 47: the per-job tables and the deferred and dead-letter
-- copies of a job list their columns by alignment, widest first and the
-- variable-length ones last, so that no padding byte sits between two
-- columns of a row
SELECT is((SELECT count(*)::int FROM (
		SELECT rank, lag(rank) OVER (ORDER BY a.attnum) AS before
		FROM pg_attribute AS a
		JOIN pg_type AS ty ON ty.oid = a.atttypid
		CROSS JOIN LATERAL (SELECT CASE WHEN ty.typlen < 0 THEN 0
			ELSE position(ty.typalign IN 'csid') END AS rank) AS r
		WHERE a.attrelid = ('awa.' || t)::regclass AND a.attnum > 0 AND NOT a.attisdropped) AS cols
	WHERE rank > before), 0, t || ' lists its columns by alignment, variable-length last')
FROM unnest(ARRAY['ready_entries', 'done_entries', 'lease_claims', 'lease_claim_closures',
				  'deferred_jobs', 'dlq_entries']) AS t;

-- design decision 48: the ring tables' keys are their partitions', without
-- the slot column (one value per partition)
SELECT is((SELECT count(*)::int FROM pg_inherits AS h
		JOIN pg_index AS i ON i.indrelid = h.inhrelid AND i.indisprimary
		WHERE h.inhparent = ('awa.' || t)::regclass
		  AND ARRAY(SELECT a.attname::text FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
					JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
					ORDER BY k.n) = key), parts,
	'every partition of ' || t || ' is keyed by (' || array_to_string(key, ', ') || ')')
FROM (VALUES ('ready_entries', ARRAY['priority', 'enqueue_shard', 'queue', 'lane_seq'], 16),
			 ('lease_claims', ARRAY['job_id', 'run_lease'], 8),
			 ('lease_claim_closures', ARRAY['job_id', 'run_lease'], 8)) AS k(t, key, parts);

SELECT * FROM finish();
ROLLBACK;
