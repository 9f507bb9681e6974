/* awa_queue--22.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION awa_queue" to load this file. \quit

/*
 * The whole install script of awa_queue schema version 22.
 *
 * Everything lives in schema "awa", created here so that it is a member of
 * the extension and DROP EXTENSION removes it.  Every object, built-in
 * function and operator is schema-qualified.  Sections follow the source
 * files under src/ that implement them; doc/design.md explains the model.
 */

CREATE SCHEMA awa;
COMMENT ON SCHEMA awa IS 'awa_queue job queue storage and API';

-- ===================================================================
-- Types
-- ===================================================================

CREATE TYPE awa.job_state AS ENUM (
	'scheduled', 'available', 'running', 'completed',
	'retryable', 'failed', 'cancelled', 'waiting_external'
);
COMMENT ON TYPE awa.job_state IS 'job lifecycle states; the enum position is the bit position used by unique_states masks';

CREATE SEQUENCE awa.job_id_seq;
COMMENT ON SEQUENCE awa.job_id_seq IS 'job identities';

-- ===================================================================
-- Config plane
-- ===================================================================

CREATE TABLE awa.queue_meta (
	queue text PRIMARY KEY,
	paused boolean NOT NULL DEFAULT false,
	paused_at timestamptz,
	enqueue_shards smallint NOT NULL DEFAULT 1
		CHECK (enqueue_shards OPERATOR(pg_catalog.>=) 1 AND enqueue_shards OPERATOR(pg_catalog.<=) 64),
	dlq_enabled boolean NOT NULL DEFAULT false,
	notify_enabled boolean NOT NULL DEFAULT true,
	updated_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
COMMENT ON TABLE awa.queue_meta IS 'per-queue configuration; a queue without a row uses the defaults';
COMMENT ON COLUMN awa.queue_meta.notify_enabled IS 'false: jobs becoming available send no awa:<queue> notification (workers poll); design decision 46';

-- ===================================================================
-- Control plane: lane heads and ring cursors
-- ===================================================================

CREATE TABLE awa.queue_enqueue_heads (
	queue text NOT NULL,
	priority smallint NOT NULL,
	enqueue_shard smallint NOT NULL DEFAULT 0,
	next_seq bigint NOT NULL DEFAULT 1,
	PRIMARY KEY (queue, priority, enqueue_shard)
) WITH (fillfactor = 50, autovacuum_vacuum_scale_factor = 0,
		autovacuum_vacuum_threshold = 200, autovacuum_vacuum_cost_limit = 2000,
		autovacuum_vacuum_cost_delay = 2);
COMMENT ON TABLE awa.queue_enqueue_heads IS 'per lane: the next lane_seq to hand out';

CREATE TABLE awa.queue_claim_heads (
	queue text NOT NULL,
	priority smallint NOT NULL,
	enqueue_shard smallint NOT NULL DEFAULT 0,
	claim_seq bigint NOT NULL DEFAULT 1,
	last_claimed_slot integer,
	PRIMARY KEY (queue, priority, enqueue_shard)
) WITH (fillfactor = 50, autovacuum_vacuum_scale_factor = 0,
		autovacuum_vacuum_threshold = 200, autovacuum_vacuum_cost_limit = 2000,
		autovacuum_vacuum_cost_delay = 2);
COMMENT ON TABLE awa.queue_claim_heads IS 'per lane: the lowest lane_seq not yet passed by claims';
COMMENT ON COLUMN awa.queue_claim_heads.last_claimed_slot IS 'ready slot of the last row claimed from the lane (NULL before the first claim): where a claim looks first';

/*
 * Ring cursors.  The rows are created lazily by the first rotation (a
 * missing row means "slot 0, generation 0, counters trusted"), so that
 * pg_dump can restore them into a fresh CREATE EXTENSION without clashing
 * with seed rows.
 */
CREATE TABLE awa.queue_ring_state (
	singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
	current_slot integer NOT NULL,
	generation bigint NOT NULL,
	slot_count integer NOT NULL,
	terminal_counter_trusted_at timestamptz
) WITH (fillfactor = 50, autovacuum_vacuum_scale_factor = 0,
		autovacuum_vacuum_threshold = 50);
COMMENT ON TABLE awa.queue_ring_state IS 'queue ring cursor (ready_entries / done_entries slots) and the terminal counter trust marker';

CREATE TABLE awa.queue_ring_slots (
	slot integer PRIMARY KEY,
	generation bigint NOT NULL
) WITH (fillfactor = 70);
COMMENT ON TABLE awa.queue_ring_slots IS 'generation each queue slot was last opened with; a missing row means never used';

CREATE TABLE awa.claim_ring_state (
	singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
	current_slot integer NOT NULL,
	generation bigint NOT NULL,
	slot_count integer NOT NULL
) WITH (fillfactor = 50, autovacuum_vacuum_scale_factor = 0,
		autovacuum_vacuum_threshold = 50);
COMMENT ON TABLE awa.claim_ring_state IS 'claim ring cursor (lease_claims / lease_claim_closures slots)';

CREATE TABLE awa.claim_ring_slots (
	slot integer PRIMARY KEY,
	generation bigint NOT NULL
) WITH (fillfactor = 70);
COMMENT ON TABLE awa.claim_ring_slots IS 'generation each claim slot was last opened with; a missing row means never used';

-- ===================================================================
-- Queue plane
-- ===================================================================

/*
 * Immutable job bodies.  A row is available iff lane_seq >= claim_seq of
 * its lane; once claimed it stays as the body of the attempt until prune
 * truncates the slot.  Each partition's primary key is the lane and the
 * position in it, so it doubles as the partition's FIFO index.
 */
CREATE TABLE awa.ready_entries (
	-- Columns by alignment, widest first, the variable-length ones last:
	-- no padding byte between them, in the heap or in the WAL (design
	-- decision 47).
	ready_generation bigint NOT NULL,
	job_id bigint NOT NULL,
	run_lease bigint NOT NULL DEFAULT 0,
	lane_seq bigint NOT NULL,
	run_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	created_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	attempted_at timestamptz,
	ready_slot integer NOT NULL,
	priority smallint NOT NULL,
	attempt smallint NOT NULL DEFAULT 0,
	max_attempts smallint NOT NULL DEFAULT 25,
	enqueue_shard smallint NOT NULL DEFAULT 0,
	kind text NOT NULL,
	queue text NOT NULL,
	args jsonb NOT NULL DEFAULT '{}',
	unique_key bytea,
	unique_states bit(8),
	payload jsonb
	-- The key is each partition's (created with the partitions below):
	-- lane, then position, (priority, enqueue_shard, queue, lane_seq).
	-- Every read is by a lane's (priority, enqueue_shard, queue) and a
	-- lane_seq range or value, or by job_id.  The two fixed-width columns
	-- lead so that an index comparison reads them, and the queue name
	-- after them, at known offsets (design decision 41); ready_slot, the
	-- same in every row of a partition, is not in it (decision 48).
) PARTITION BY LIST (ready_slot);
COMMENT ON TABLE awa.ready_entries IS 'immutable job bodies, 16 list partitions by ready_slot';

/*
 * Lane positions at or ahead of claim_seq whose unclaimed ready row was
 * removed (cancel of an available job, compat DELETE): written only by
 * AWA_UNCLAIMED_REMOVE_CTES in the statement that deletes the row, so that
 * queue_counts counts available jobs as next_seq - claim_seq - holes at or
 * above claim_seq without reading ready_entries.  Holes that fall below
 * claim_seq are deleted by the maintenance tick, a bounded number per
 * tick.  Insert-only between those deletes: default fillfactor.
 */
CREATE TABLE awa.ready_holes (
	queue text NOT NULL,
	priority smallint NOT NULL,
	enqueue_shard smallint NOT NULL,
	lane_seq bigint NOT NULL,
	PRIMARY KEY (queue, priority, enqueue_shard, lane_seq)
);
COMMENT ON TABLE awa.ready_holes IS 'lane positions at or ahead of claim_seq whose unclaimed ready row was removed; queue_counts subtracts them from next_seq - claim_seq';

/*
 * Terminal rows.  Narrow rows (the usual case) leave the body columns NULL
 * and are hydrated from the retained ready row with the same key; wide
 * rows (cancel of an unclaimed or deferred job) carry the body themselves.
 */
CREATE TABLE awa.done_entries (
	-- by alignment, as ready_entries (design decision 47); the body
	-- columns of a wide row are NULL in a narrow one
	ready_generation bigint NOT NULL,
	job_id bigint NOT NULL,
	run_lease bigint NOT NULL DEFAULT 0,
	lane_seq bigint NOT NULL,
	attempted_at timestamptz,
	finalized_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	run_at timestamptz,
	created_at timestamptz,
	ready_slot integer NOT NULL,
	state awa.job_state NOT NULL DEFAULT 'completed',
	priority smallint NOT NULL,
	attempt smallint NOT NULL DEFAULT 0,
	enqueue_shard smallint NOT NULL DEFAULT 0,
	max_attempts smallint,
	kind text NOT NULL,
	queue text NOT NULL,
	payload jsonb,
	args jsonb,
	unique_key bytea,
	unique_states bit(8),
	-- The ready key, lane_seq first: a done row is only ever looked up by
	-- the whole key, and an index comparison that starts with the
	-- fixed-width lane position (which almost always decides it) is a
	-- fraction of one that starts with the queue name (design decision 41).
	PRIMARY KEY (lane_seq, priority, enqueue_shard, ready_slot, queue)
) PARTITION BY LIST (ready_slot);
COMMENT ON TABLE awa.done_entries IS 'terminal rows (completed, failed, cancelled), same 16 slots as ready_entries';

CREATE TABLE awa.deferred_jobs (
	-- by alignment, as ready_entries (design decision 47)
	job_id bigint PRIMARY KEY,
	run_lease bigint NOT NULL DEFAULT 0,
	run_at timestamptz NOT NULL,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	attempted_at timestamptz,
	finalized_at timestamptz,
	state awa.job_state NOT NULL
		CHECK (state OPERATOR(pg_catalog.=) ANY (ARRAY['scheduled', 'retryable']::awa.job_state[])),
	priority smallint NOT NULL,
	attempt smallint NOT NULL DEFAULT 0,
	max_attempts smallint NOT NULL DEFAULT 25,
	enqueue_shard smallint CHECK (enqueue_shard BETWEEN 0 AND 63),
	kind text NOT NULL,
	queue text NOT NULL,
	args jsonb NOT NULL DEFAULT '{}',
	unique_key bytea,
	unique_states bit(8),
	ordering_key text,
	payload jsonb
);
CREATE INDEX deferred_jobs_due_idx ON awa.deferred_jobs (run_at, job_id);
COMMENT ON TABLE awa.deferred_jobs IS 'scheduled and retryable jobs, each with its own copy of the body';

CREATE TABLE awa.dlq_entries (
	-- by alignment, as ready_entries (design decision 47)
	job_id bigint PRIMARY KEY,
	run_lease bigint NOT NULL DEFAULT 1,
	original_run_lease bigint NOT NULL,
	run_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	attempted_at timestamptz,
	finalized_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	created_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	dlq_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	state awa.job_state NOT NULL DEFAULT 'failed',
	priority smallint NOT NULL,
	attempt smallint NOT NULL DEFAULT 1,
	max_attempts smallint NOT NULL DEFAULT 25,
	kind text NOT NULL,
	queue text NOT NULL,
	args jsonb NOT NULL DEFAULT '{}',
	unique_key bytea,
	unique_states bit(8),
	payload jsonb,
	dlq_reason text NOT NULL
);
CREATE INDEX dlq_entries_queue_time_idx ON awa.dlq_entries (queue, dlq_at);
COMMENT ON TABLE awa.dlq_entries IS 'dead-lettered jobs; never claimed';

CREATE TABLE awa.job_unique_claims (
	unique_key bytea PRIMARY KEY,
	job_id bigint NOT NULL
);
COMMENT ON TABLE awa.job_unique_claims IS 'unique-key registry: at most one job per key among the states of its mask';

-- ===================================================================
-- Execution plane
-- ===================================================================

/*
 * Claim receipts: one append-only row per claim.  "priority" is the lane
 * priority (the ready/done key); effective_priority is the aged priority
 * the claim was made at.  Each partition is keyed by (job_id, run_lease),
 * so that completion finds a receipt with one probe once it knows the
 * slot.
 */
CREATE TABLE awa.lease_claims (
	-- by alignment, as ready_entries (design decision 47)
	job_id bigint NOT NULL,
	run_lease bigint NOT NULL,
	ready_generation bigint NOT NULL,
	lane_seq bigint NOT NULL,
	claimed_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	deadline_at timestamptz,
	claim_slot integer NOT NULL,
	ready_slot integer NOT NULL,
	priority smallint NOT NULL,
	effective_priority smallint NOT NULL,
	attempt smallint NOT NULL,
	max_attempts smallint NOT NULL,
	enqueue_shard smallint NOT NULL DEFAULT 0,
	kind text NOT NULL,
	queue text NOT NULL,
	unique_key bytea,
	unique_states bit(8)
	-- key: (job_id, run_lease) in each partition (decision 48)
) PARTITION BY LIST (claim_slot);
COMMENT ON COLUMN awa.lease_claims.unique_key IS 'the job''s unique key (NULL for most jobs), so that terminal and failure paths sync the unique claim without reading the ready row';
COMMENT ON TABLE awa.lease_claims IS 'append-only claim receipts, 8 list partitions by claim_slot';

CREATE TABLE awa.lease_claim_closures (
	-- by alignment, as ready_entries (design decision 47)
	job_id bigint NOT NULL,
	run_lease bigint NOT NULL,
	closed_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	claim_slot integer NOT NULL,
	outcome text NOT NULL
	-- key: (job_id, run_lease) in each partition (decision 48)
) PARTITION BY LIST (claim_slot);
COMMENT ON TABLE awa.lease_claim_closures IS 'append-only closures of receipts; a receipt without a closure is open (running)';

CREATE TABLE awa.attempt_state (
	job_id bigint NOT NULL,
	run_lease bigint NOT NULL,
	heartbeat_at timestamptz,
	progress jsonb,
	updated_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	PRIMARY KEY (job_id, run_lease)
) WITH (fillfactor = 80, autovacuum_vacuum_scale_factor = 0,
		autovacuum_vacuum_threshold = 200);
COMMENT ON TABLE awa.attempt_state IS 'heartbeat and progress of long attempts only';

-- ===================================================================
-- Counts plane
-- ===================================================================

CREATE TABLE awa.queue_terminal_live_counts (
	ready_slot integer NOT NULL,
	queue text NOT NULL,
	priority smallint NOT NULL,
	enqueue_shard smallint NOT NULL,
	live_terminal_count bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (ready_slot, queue, priority, enqueue_shard)
) WITH (fillfactor = 50, autovacuum_vacuum_scale_factor = 0,
		autovacuum_vacuum_threshold = 200, autovacuum_vacuum_cost_limit = 2000,
		autovacuum_vacuum_cost_delay = 2);
COMMENT ON TABLE awa.queue_terminal_live_counts IS 'per group: number of rows currently in done_entries';

CREATE TABLE awa.queue_terminal_rollups (
	queue text NOT NULL,
	priority smallint NOT NULL,
	pruned_completed_count bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (queue, priority)
);
COMMENT ON TABLE awa.queue_terminal_rollups IS 'per (queue, priority): terminal rows removed by prune (all terminal states)';

-- ===================================================================
-- Partitions of the two rings
-- ===================================================================

DO $partitions$
DECLARE
	s integer;
BEGIN
	FOR s IN 0..15 LOOP
		EXECUTE pg_catalog.format(
			'CREATE TABLE awa.%I PARTITION OF awa.ready_entries '
			'(PRIMARY KEY (priority, enqueue_shard, queue, lane_seq)) FOR VALUES IN (%s)',
			'ready_entries_' OPERATOR(pg_catalog.||) s, s);
		EXECUTE pg_catalog.format(
			'CREATE INDEX %I ON awa.%I (job_id)',
			'ready_entries_' OPERATOR(pg_catalog.||) s OPERATOR(pg_catalog.||) '_job_idx',
			'ready_entries_' OPERATOR(pg_catalog.||) s);
		EXECUTE pg_catalog.format(
			'CREATE TABLE awa.%I PARTITION OF awa.done_entries FOR VALUES IN (%s)',
			'done_entries_' OPERATOR(pg_catalog.||) s, s);
		-- wide rows only: a narrow row is found through its ready row's
		-- job_idx and the shared key (design decision 38)
		EXECUTE pg_catalog.format(
			'CREATE INDEX %I ON awa.%I (job_id) WHERE args IS NOT NULL',
			'done_entries_' OPERATOR(pg_catalog.||) s OPERATOR(pg_catalog.||) '_wide_job_idx',
			'done_entries_' OPERATOR(pg_catalog.||) s);
		PERFORM pg_catalog.pg_extension_config_dump(
			pg_catalog.format('awa.%I', 'ready_entries_' OPERATOR(pg_catalog.||) s)::pg_catalog.regclass, '');
		PERFORM pg_catalog.pg_extension_config_dump(
			pg_catalog.format('awa.%I', 'done_entries_' OPERATOR(pg_catalog.||) s)::pg_catalog.regclass, '');
	END LOOP;
	FOR s IN 0..7 LOOP
		EXECUTE pg_catalog.format(
			'CREATE TABLE awa.%I PARTITION OF awa.lease_claims '
			'(PRIMARY KEY (job_id, run_lease)) FOR VALUES IN (%s)',
			'lease_claims_' OPERATOR(pg_catalog.||) s, s);
		EXECUTE pg_catalog.format(
			'CREATE TABLE awa.%I PARTITION OF awa.lease_claim_closures '
			'(PRIMARY KEY (job_id, run_lease)) FOR VALUES IN (%s)',
			'lease_claim_closures_' OPERATOR(pg_catalog.||) s, s);
		PERFORM pg_catalog.pg_extension_config_dump(
			pg_catalog.format('awa.%I', 'lease_claims_' OPERATOR(pg_catalog.||) s)::pg_catalog.regclass, '');
		PERFORM pg_catalog.pg_extension_config_dump(
			pg_catalog.format('awa.%I', 'lease_claim_closures_' OPERATOR(pg_catalog.||) s)::pg_catalog.regclass, '');
	END LOOP;
END
$partitions$;


-- pg_dump keeps queue contents
SELECT pg_catalog.pg_extension_config_dump('awa.job_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('awa.queue_meta', '');
SELECT pg_catalog.pg_extension_config_dump('awa.queue_enqueue_heads', '');
SELECT pg_catalog.pg_extension_config_dump('awa.queue_claim_heads', '');
SELECT pg_catalog.pg_extension_config_dump('awa.ready_holes', '');
SELECT pg_catalog.pg_extension_config_dump('awa.queue_ring_state', '');
SELECT pg_catalog.pg_extension_config_dump('awa.queue_ring_slots', '');
SELECT pg_catalog.pg_extension_config_dump('awa.claim_ring_state', '');
SELECT pg_catalog.pg_extension_config_dump('awa.claim_ring_slots', '');
SELECT pg_catalog.pg_extension_config_dump('awa.deferred_jobs', '');
SELECT pg_catalog.pg_extension_config_dump('awa.dlq_entries', '');
SELECT pg_catalog.pg_extension_config_dump('awa.job_unique_claims', '');
SELECT pg_catalog.pg_extension_config_dump('awa.attempt_state', '');
SELECT pg_catalog.pg_extension_config_dump('awa.queue_terminal_live_counts', '');
SELECT pg_catalog.pg_extension_config_dump('awa.queue_terminal_rollups', '');

-- ===================================================================
-- Composite result types
-- ===================================================================

CREATE TYPE awa.claimed_job AS (
	job_id bigint,
	run_lease bigint,
	kind text,
	queue text,
	args jsonb,
	priority smallint,
	attempt smallint,
	max_attempts smallint,
	metadata jsonb,
	tags text[],
	claimed_at timestamptz,
	deadline_at timestamptz,
	claim_slot integer,
	effective_priority smallint,
	unique_key bytea
);
COMMENT ON TYPE awa.claimed_job IS 'one claimed attempt as returned by awa.claim_batch';

-- ===================================================================
-- Counters (src/awa_counters.c)
-- ===================================================================

CREATE FUNCTION awa.rebuild_terminal_counters()
RETURNS bigint
AS 'MODULE_PATHNAME', 'awa_rebuild_terminal_counters'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION awa.rebuild_terminal_counters() IS
'recompute queue_terminal_live_counts from done_entries and mark the counters trusted; returns the number of counter rows';

CREATE FUNCTION awa.verify_terminal_counters()
RETURNS TABLE (ready_slot integer, queue text, priority smallint,
			   enqueue_shard smallint, counted bigint, actual bigint)
AS 'MODULE_PATHNAME', 'awa_verify_terminal_counters'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION awa.verify_terminal_counters() IS
'groups where the live terminal counter disagrees with done_entries; empty when healthy';

-- ===================================================================
-- Queue administration (src/awa_admin.c)
-- ===================================================================

CREATE FUNCTION awa.pause_queue(queue text)
RETURNS void
AS 'MODULE_PATHNAME', 'awa_pause_queue'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION awa.pause_queue(text) IS 'stop claims and promotion for a queue';

CREATE FUNCTION awa.resume_queue(queue text)
RETURNS void
AS 'MODULE_PATHNAME', 'awa_resume_queue'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION awa.resume_queue(text) IS 'let claims and promotion run again for a paused queue';

CREATE FUNCTION awa.set_enqueue_shards(queue text, shards integer)
RETURNS void
AS 'MODULE_PATHNAME', 'awa_set_enqueue_shards'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION awa.set_enqueue_shards(text, integer) IS 'spread a queue''s enqueues over 1..64 lanes per priority';

CREATE FUNCTION awa.set_dlq_enabled(queue text, enabled boolean)
RETURNS void
AS 'MODULE_PATHNAME', 'awa_set_dlq_enabled'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION awa.set_dlq_enabled(text, boolean) IS 'send jobs that exhaust their attempts to the dead-letter queue instead of failed';

CREATE FUNCTION awa.set_notify_enabled(queue text, enabled boolean)
RETURNS void
AS 'MODULE_PATHNAME', 'awa_set_notify_enabled'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION awa.set_notify_enabled(text, boolean) IS 'whether jobs becoming available in a queue send pg_notify(''awa:'' || queue) (default on; off for workers that only poll)';

-- enqueue and claim_batch keep a queue's paused flag and enqueue_shards per
-- backend (src/awa_queue_meta.c, design decision 43); every write of
-- queue_meta tells every backend to forget them.
CREATE FUNCTION awa.queue_meta_changed()
RETURNS trigger
AS 'MODULE_PATHNAME', 'awa_queue_meta_changed'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION awa.queue_meta_changed() IS 'trigger of awa.queue_meta: every backend forgets the queue settings it keeps (paused, enqueue_shards, notify_enabled)';
CREATE TRIGGER queue_meta_changed
AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON awa.queue_meta
FOR EACH STATEMENT EXECUTE FUNCTION awa.queue_meta_changed();

-- ===================================================================
-- Producers (src/awa_enqueue.c)
-- ===================================================================

-- enqueue, claim_batch and complete_batch carry only SET search_path: the
-- planner settings of the statements they run (generic plans, no sequential
-- scan, no JIT) are applied by src/awa_planner.c before their first
-- statement, since the common case runs none (design decision 25).
CREATE FUNCTION awa.enqueue(kind text, args jsonb DEFAULT '{}', queue text DEFAULT 'default',
	priority smallint DEFAULT 2, run_at timestamptz DEFAULT NULL,
	max_attempts smallint DEFAULT 25, metadata jsonb DEFAULT '{}',
	tags text[] DEFAULT '{}', unique_key bytea DEFAULT NULL,
	unique_states bit(8) DEFAULT NULL, ordering_key text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'awa_enqueue'
-- no SET clause: the function pins search_path (and its planner settings)
-- itself before it runs a statement (src/awa_planner.c, design decision 44)
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER;
COMMENT ON FUNCTION awa.enqueue(text, jsonb, text, smallint, timestamptz, smallint, jsonb, text[], bytea, bit, text) IS
'enqueue one job (available now, or scheduled when run_at is in the future); returns its id';

CREATE FUNCTION awa.enqueue_many(jobs jsonb)
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'awa_enqueue_many'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off
ROWS 100;
COMMENT ON FUNCTION awa.enqueue_many(jsonb) IS
'enqueue a JSON array of jobs (keys as awa.enqueue) with one head advance per lane; returns the ids in input order';

-- ===================================================================
-- Workers (src/awa_claim.c, src/awa_complete.c)
-- ===================================================================

CREATE FUNCTION awa.claim_batch(queue text, max_jobs integer DEFAULT 1,
	deadline interval DEFAULT '5 minutes', aging interval DEFAULT '60 seconds')
RETURNS SETOF awa.claimed_job
AS 'MODULE_PATHNAME', 'awa_claim_batch'
-- search_path pinned by the function itself (decision 44)
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
ROWS 100;
COMMENT ON FUNCTION awa.claim_batch(text, integer, interval, interval) IS
'claim up to max_jobs available jobs of a queue (best effective priority first, FIFO per lane, never waits on a lock); returns them in claim order';

CREATE FUNCTION awa.complete_batch(job_ids bigint[], run_leases bigint[])
RETURNS TABLE (job_id bigint, run_lease bigint)
AS 'MODULE_PATHNAME', 'awa_complete_batch'
-- search_path pinned by the function itself (decision 44)
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
ROWS 100;
COMMENT ON FUNCTION awa.complete_batch(bigint[], bigint[]) IS
'complete running attempts in one fused statement per claim slot; returns the attempts it finalized (stale pairs are absent)';

CREATE FUNCTION awa.backend_stats()
RETURNS TABLE (name text, value bigint)
AS 'MODULE_PATHNAME', 'awa_backend_stats_fn'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION awa.backend_stats() IS
'hot-path statement counters of the calling backend (fused enqueue, claim statements, fused completion, other-slot passes, unique syncs)';

-- ===================================================================
-- Failure paths (src/awa_attempt.c, src/awa_fail.c, src/awa_heartbeat.c,
-- src/awa_cancel.c, src/awa_promote.c, src/awa_rescue.c)
-- ===================================================================

CREATE FUNCTION awa.retry_backoff(attempt integer)
RETURNS interval
AS 'MODULE_PATHNAME', 'awa_retry_backoff'
LANGUAGE C VOLATILE PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION awa.retry_backoff(integer) IS
'retry delay after a failed attempt: least(awa.backoff_cap, 2^attempt * (1 + 0.25 * random())) seconds';

CREATE FUNCTION awa.fail_batch(job_ids bigint[], run_leases bigint[], errors text[],
	terminal boolean DEFAULT false)
RETURNS TABLE (job_id bigint, run_lease bigint, state awa.job_state)
AS 'MODULE_PATHNAME', 'awa_fail_batch'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off
ROWS 100;
COMMENT ON FUNCTION awa.fail_batch(bigint[], bigint[], text[], boolean) IS
'fail running attempts: retryable with backoff while attempts remain, else failed (or dead-lettered); returns the attempts it ended';

CREATE FUNCTION awa.retry_after(job_id bigint, run_lease bigint, delay interval)
RETURNS boolean
AS 'MODULE_PATHNAME', 'awa_retry_after'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off;
COMMENT ON FUNCTION awa.retry_after(bigint, bigint, interval) IS
'make a running attempt''s job retryable at now + delay (the attempt counts); false for a stale attempt';

CREATE FUNCTION awa.snooze(job_id bigint, run_lease bigint, delay interval)
RETURNS boolean
AS 'MODULE_PATHNAME', 'awa_snooze'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off;
COMMENT ON FUNCTION awa.snooze(bigint, bigint, interval) IS
'make a running attempt''s job scheduled at now + delay without consuming the attempt; false for a stale attempt';

CREATE FUNCTION awa.heartbeat_batch(job_ids bigint[], run_leases bigint[],
	progress jsonb[] DEFAULT NULL)
RETURNS integer
AS 'MODULE_PATHNAME', 'awa_heartbeat_batch'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off;
COMMENT ON FUNCTION awa.heartbeat_batch(bigint[], bigint[], jsonb[]) IS
'record heartbeat (and progress) of open attempts; returns how many attempts it touched';

CREATE FUNCTION awa.cancel(job_id bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'awa_cancel'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off;
COMMENT ON FUNCTION awa.cancel(bigint) IS
'cancel a job in any non-terminal state (notifies awa:cancel for running jobs); false for unknown or terminal jobs';

CREATE FUNCTION awa.promote_due(max_jobs integer DEFAULT 4096)
RETURNS integer
AS 'MODULE_PATHNAME', 'awa_promote_due'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off;
COMMENT ON FUNCTION awa.promote_due(integer) IS
'move up to max_jobs due scheduled/retryable jobs of unpaused queues back to available, oldest first; returns how many';

CREATE FUNCTION awa.rescue_expired(max_jobs integer DEFAULT 500)
RETURNS integer
AS 'MODULE_PATHNAME', 'awa_rescue_expired'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off;
COMMENT ON FUNCTION awa.rescue_expired(integer) IS
'end up to max_jobs running attempts whose deadline passed or whose heartbeat is stale: retryable, or failed/DLQ when exhausted; returns how many';

-- ===================================================================
-- Counts (src/awa_counts.c)
-- ===================================================================

CREATE FUNCTION awa.queue_counts(queue text DEFAULT NULL)
RETURNS TABLE (queue text, available bigint, scheduled bigint, retryable bigint,
			   running bigint, terminal bigint, dlq bigint)
AS 'MODULE_PATHNAME', 'awa_queue_counts'
LANGUAGE C STABLE PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off;
COMMENT ON FUNCTION awa.queue_counts(text) IS
'exact per-queue counts: available (lane heads minus holes, O(lanes)), scheduled, retryable, running (open receipts in the claim ring), terminal (live counters + rollups), dlq';

CREATE FUNCTION awa.verify_available_counts()
RETURNS TABLE (queue text, priority smallint, enqueue_shard smallint,
			   counted bigint, actual bigint)
AS 'MODULE_PATHNAME', 'awa_verify_available_counts'
LANGUAGE C STABLE PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION awa.verify_available_counts() IS
'lanes where queue_counts.available (next_seq - claim_seq - holes) disagrees with the ready rows at or above claim_seq; empty when exact';

-- ===================================================================
-- Terminal removal and DLQ (src/awa_terminal.c, src/awa_dlq.c)
-- ===================================================================

CREATE FUNCTION awa.retry_job(job_id bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'awa_retry_job'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION awa.retry_job(bigint) IS
'take a failed or cancelled terminal job back to available (run_lease kept, attempt 0); false when the job has no such terminal row';

CREATE FUNCTION awa.move_failed_to_dlq(job_id bigint, reason text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'awa_move_failed_to_dlq'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION awa.move_failed_to_dlq(bigint, text) IS
'move the failed terminal row of a job into the dead-letter queue; false when the job has none';

CREATE FUNCTION awa.bulk_move_failed_to_dlq(kind text DEFAULT NULL, queue text DEFAULT NULL,
											reason text DEFAULT 'operator')
RETURNS bigint
AS 'MODULE_PATHNAME', 'awa_bulk_move_failed_to_dlq'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION awa.bulk_move_failed_to_dlq(text, text, text) IS
'move every failed terminal job matching the optional kind and queue into the dead-letter queue; returns the number moved';

CREATE FUNCTION awa.discard_failed_by_kind(kind text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'awa_discard_failed_by_kind'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION awa.discard_failed_by_kind(text) IS
'delete the failed terminal jobs and DLQ rows of a kind and release their unique keys; returns the number removed';

CREATE FUNCTION awa.retry_from_dlq(job_id bigint, queue text DEFAULT NULL,
								   priority smallint DEFAULT NULL,
								   run_at timestamptz DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'awa_retry_from_dlq'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION awa.retry_from_dlq(bigint, text, smallint, timestamptz) IS
'take a job out of the dead-letter queue: available now, or scheduled for a future run_at; false when it is not in the DLQ';

CREATE FUNCTION awa.purge_dlq(queue text DEFAULT NULL, kind text DEFAULT NULL,
							  older_than interval DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'awa_purge_dlq'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION awa.purge_dlq(text, text, interval) IS
'delete dead-lettered jobs matching every given filter (all when none) and release their unique keys; returns the number purged';

-- ===================================================================
-- Compat layer (src/awa_compat.c)
-- ===================================================================

/*
 * Where every job is, once: unclaimed ready rows, deferred rows, open
 * receipts (running, body from the retained ready row, heartbeat from
 * attempt_state), terminal rows (narrow ones hydrated from their retained
 * ready row, wide ones carrying their body), DLQ rows.  Plain UNION ALL of
 * table scans with identical column types, so a filter on id is pushed
 * into every branch and answered by the job_id indexes (a narrow done row
 * through its ready row's: r.job_id = e.job_id is part of the join).  "location" and the key columns tell delete_job_compat where
 * to remove the job from.
 */
CREATE VIEW awa.job_locations AS
SELECT 'ready'::text AS location, r.job_id AS id, r.kind, r.queue, r.args,
	   'available'::awa.job_state AS state, r.priority, r.attempt, r.max_attempts,
	   r.run_at, NULL::timestamptz AS heartbeat_at, NULL::timestamptz AS deadline_at,
	   r.attempted_at, NULL::timestamptz AS finalized_at, r.created_at, r.payload,
	   r.payload OPERATOR(pg_catalog.->) 'progress' AS progress,
	   r.unique_key, r.unique_states, r.run_lease,
	   r.ready_slot, r.enqueue_shard, r.lane_seq, NULL::integer AS claim_slot
FROM awa.ready_entries AS r
JOIN awa.queue_claim_heads AS h
  ON h.queue OPERATOR(pg_catalog.=) r.queue
 AND h.priority OPERATOR(pg_catalog.=) r.priority
 AND h.enqueue_shard OPERATOR(pg_catalog.=) r.enqueue_shard
WHERE r.lane_seq OPERATOR(pg_catalog.>=) h.claim_seq
UNION ALL
SELECT 'deferred'::text, d.job_id, d.kind, d.queue, d.args, d.state, d.priority,
	   d.attempt, d.max_attempts, d.run_at, NULL::timestamptz, NULL::timestamptz,
	   d.attempted_at, d.finalized_at, d.created_at, d.payload,
	   d.payload OPERATOR(pg_catalog.->) 'progress',
	   d.unique_key, d.unique_states, d.run_lease,
	   NULL::integer, NULL::smallint, NULL::bigint, NULL::integer
FROM awa.deferred_jobs AS d
UNION ALL
SELECT 'receipt'::text, c.job_id, c.kind, c.queue,
	   COALESCE(r.args, '{}'::pg_catalog.jsonb), 'running'::awa.job_state, c.priority,
	   c.attempt, c.max_attempts, COALESCE(r.run_at, c.claimed_at), a.heartbeat_at,
	   c.deadline_at, c.claimed_at, NULL::timestamptz,
	   COALESCE(r.created_at, c.claimed_at), r.payload,
	   COALESCE(a.progress, r.payload OPERATOR(pg_catalog.->) 'progress'),
	   r.unique_key, r.unique_states, c.run_lease,
	   c.ready_slot, c.enqueue_shard, c.lane_seq, c.claim_slot
FROM awa.lease_claims AS c
LEFT JOIN awa.ready_entries AS r
  ON r.queue OPERATOR(pg_catalog.=) c.queue
 AND r.priority OPERATOR(pg_catalog.=) c.priority
 AND r.enqueue_shard OPERATOR(pg_catalog.=) c.enqueue_shard
 AND r.lane_seq OPERATOR(pg_catalog.=) c.lane_seq
 AND r.ready_slot OPERATOR(pg_catalog.=) c.ready_slot
LEFT JOIN awa.attempt_state AS a
  ON a.job_id OPERATOR(pg_catalog.=) c.job_id
 AND a.run_lease OPERATOR(pg_catalog.=) c.run_lease
WHERE NOT EXISTS (
	SELECT 1 FROM awa.lease_claim_closures AS x
	WHERE x.job_id OPERATOR(pg_catalog.=) c.job_id
	  AND x.run_lease OPERATOR(pg_catalog.=) c.run_lease
	  AND x.claim_slot OPERATOR(pg_catalog.=) c.claim_slot)
UNION ALL
SELECT 'done'::text, e.job_id, e.kind, e.queue,
	   r.args, e.state, e.priority, e.attempt, r.max_attempts, r.run_at,
	   NULL::timestamptz, NULL::timestamptz,
	   e.attempted_at, e.finalized_at, r.created_at,
	   COALESCE(e.payload, r.payload),
	   COALESCE(e.payload, r.payload) OPERATOR(pg_catalog.->) 'progress',
	   r.unique_key, r.unique_states,
	   e.run_lease, e.ready_slot, e.enqueue_shard, e.lane_seq, NULL::integer
FROM awa.done_entries AS e
JOIN awa.ready_entries AS r
  ON r.queue OPERATOR(pg_catalog.=) e.queue
 AND r.priority OPERATOR(pg_catalog.=) e.priority
 AND r.enqueue_shard OPERATOR(pg_catalog.=) e.enqueue_shard
 AND r.lane_seq OPERATOR(pg_catalog.=) e.lane_seq
 AND r.ready_slot OPERATOR(pg_catalog.=) e.ready_slot
 AND r.ready_generation OPERATOR(pg_catalog.=) e.ready_generation
 AND r.job_id OPERATOR(pg_catalog.=) e.job_id
WHERE e.args IS NULL
UNION ALL
SELECT 'done'::text, e.job_id, e.kind, e.queue, e.args, e.state, e.priority, e.attempt,
	   COALESCE(e.max_attempts, 25::smallint), COALESCE(e.run_at, e.finalized_at),
	   NULL::timestamptz, NULL::timestamptz,
	   e.attempted_at, e.finalized_at, COALESCE(e.created_at, e.finalized_at),
	   e.payload, e.payload OPERATOR(pg_catalog.->) 'progress',
	   e.unique_key, e.unique_states,
	   e.run_lease, e.ready_slot, e.enqueue_shard, e.lane_seq, NULL::integer
FROM awa.done_entries AS e
WHERE e.args IS NOT NULL
UNION ALL
SELECT 'dlq'::text, q.job_id, q.kind, q.queue, q.args, q.state, q.priority, q.attempt,
	   q.max_attempts, q.run_at, NULL::timestamptz, NULL::timestamptz, q.attempted_at,
	   q.finalized_at, q.created_at, q.payload,
	   q.payload OPERATOR(pg_catalog.->) 'progress',
	   q.unique_key, q.unique_states, q.run_lease,
	   NULL::integer, NULL::smallint, NULL::bigint, NULL::integer
FROM awa.dlq_entries AS q;
COMMENT ON VIEW awa.job_locations IS
'every job once, with the table it lives in (ready, deferred, receipt, done, dlq) and its key there; used by awa.jobs and delete_job_compat';

/*
 * The canonical job shape.  metadata, tags and errors come from the
 * compact payload (absent keys read as {}, {} and NULL).
 */
CREATE VIEW awa.jobs AS
SELECT l.id, l.kind, l.queue, l.args, l.state, l.priority, l.attempt, l.max_attempts,
	   l.run_at, l.heartbeat_at, l.deadline_at, l.attempted_at, l.finalized_at,
	   l.created_at,
	   CASE WHEN pg_catalog.jsonb_typeof(l.payload OPERATOR(pg_catalog.->) 'errors')
				 OPERATOR(pg_catalog.=) 'array'
			 AND pg_catalog.jsonb_array_length(l.payload OPERATOR(pg_catalog.->) 'errors')
				 OPERATOR(pg_catalog.>) 0
			THEN ARRAY(SELECT pg_catalog.jsonb_array_elements(
						   l.payload OPERATOR(pg_catalog.->) 'errors'))
	   END AS errors,
	   COALESCE(l.payload OPERATOR(pg_catalog.->) 'metadata', '{}'::pg_catalog.jsonb) AS metadata,
	   ARRAY(SELECT pg_catalog.jsonb_array_elements_text(
				 CASE WHEN pg_catalog.jsonb_typeof(l.payload OPERATOR(pg_catalog.->) 'tags')
						   OPERATOR(pg_catalog.=) 'array'
					  THEN l.payload OPERATOR(pg_catalog.->) 'tags'
					  ELSE '[]'::pg_catalog.jsonb END)) AS tags,
	   l.unique_key, l.unique_states, l.run_lease, l.progress
FROM awa.job_locations AS l;
COMMENT ON VIEW awa.jobs IS
'every job in every state, once, in the canonical job shape; INSERT enqueues, DELETE removes a job, UPDATE is refused';

-- producer defaults for INSERT INTO awa.jobs
ALTER VIEW awa.jobs ALTER COLUMN queue SET DEFAULT 'default';
ALTER VIEW awa.jobs ALTER COLUMN args SET DEFAULT '{}';
ALTER VIEW awa.jobs ALTER COLUMN priority SET DEFAULT 2;
ALTER VIEW awa.jobs ALTER COLUMN max_attempts SET DEFAULT 25;
ALTER VIEW awa.jobs ALTER COLUMN metadata SET DEFAULT '{}';
ALTER VIEW awa.jobs ALTER COLUMN tags SET DEFAULT '{}';

CREATE FUNCTION awa.insert_job_compat(kind text, queue text DEFAULT 'default',
									  args jsonb DEFAULT '{}',
									  state awa.job_state DEFAULT NULL,
									  priority smallint DEFAULT 2,
									  max_attempts smallint DEFAULT 25,
									  run_at timestamptz DEFAULT NULL,
									  metadata jsonb DEFAULT '{}',
									  tags text[] DEFAULT '{}',
									  unique_key bytea DEFAULT NULL,
									  unique_states bit(8) DEFAULT NULL,
									  ordering_key text DEFAULT NULL)
RETURNS awa.jobs
AS 'MODULE_PATHNAME', 'awa_insert_job_compat'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION awa.insert_job_compat(text, text, jsonb, awa.job_state, smallint, smallint,
										  timestamptz, jsonb, text[], bytea, bit, text) IS
'enqueue one job through awa.enqueue and return its awa.jobs row, built without reading the view';

CREATE FUNCTION awa.delete_job_compat(id bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'awa_delete_job_compat'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION awa.delete_job_compat(bigint) IS
'remove a job from whatever state it is in, consistently (counters, claim head, receipt, unique key); false for an unknown id';

CREATE FUNCTION awa.jobs_write()
RETURNS trigger
AS 'MODULE_PATHNAME', 'awa_jobs_write'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION awa.jobs_write() IS
'INSTEAD OF trigger of awa.jobs: INSERT enqueues, DELETE calls delete_job_compat, UPDATE is refused';

CREATE TRIGGER jobs_write INSTEAD OF INSERT OR UPDATE OR DELETE ON awa.jobs
FOR EACH ROW EXECUTE FUNCTION awa.jobs_write();

-- ===================================================================
-- Maintenance (src/awa_ring.c, src/awa_maintenance.c)
-- ===================================================================

CREATE FUNCTION awa.rotate()
RETURNS text
AS 'MODULE_PATHNAME', 'awa_rotate'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION awa.rotate() IS
'advance the queue ring to the next slot when that slot is empty; returns rotated or skipped_busy';

CREATE FUNCTION awa.prune_oldest()
RETURNS text
AS 'MODULE_PATHNAME', 'awa_prune_oldest'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION awa.prune_oldest() IS
'fold the oldest non-current queue slot into the rollups and truncate it; returns pruned, noop, skipped_active or blocked';

CREATE FUNCTION awa.rotate_claims()
RETURNS text
AS 'MODULE_PATHNAME', 'awa_rotate_claims'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION awa.rotate_claims() IS
'advance the claim ring to the next slot when that slot is empty; returns rotated or skipped_busy';

CREATE FUNCTION awa.prune_oldest_claims()
RETURNS text
AS 'MODULE_PATHNAME', 'awa_prune_oldest_claims'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION awa.prune_oldest_claims() IS
'carry the open receipts of the oldest non-current claim slot forward and truncate it; returns pruned, noop or blocked';

CREATE FUNCTION awa.maintenance()
RETURNS jsonb
AS 'MODULE_PATHNAME', 'awa_maintenance'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION awa.maintenance() IS
'one bounded maintenance tick (rotate and prune both rings, delete ready holes below claim_seq); returns a jsonb summary, or {"skipped": "busy"} while another tick runs';

-- ===================================================================
-- Role grants
-- ===================================================================

/*
 * awa.grant_rights: the one place that knows which functions each kind of
 * role may run.  Writers are SECURITY DEFINER, so EXECUTE (plus USAGE on
 * the schema) is all a role needs; admin also gets SELECT on every table
 * for inspection.  On the compat view awa.jobs a producer gets INSERT (and
 * SELECT on id, for INSERT ... RETURNING id), an admin SELECT, INSERT and
 * DELETE; workers get nothing there.  Grants cover the functions that
 * exist when it is called: call it again after ALTER EXTENSION ... UPDATE.
 */
CREATE FUNCTION awa.grant_rights(grantee regrole, kind text)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $grant$
DECLARE
	producer_functions CONSTANT text[] := ARRAY[
		'enqueue', 'enqueue_many', 'insert_job_compat', 'queue_counts'];
	worker_functions CONSTANT text[] := ARRAY[
		'claim_batch', 'complete_batch', 'fail_batch', 'retry_after',
		'snooze', 'heartbeat_batch', 'queue_counts'];
	fn regprocedure;
	granted integer := 0;
BEGIN
	IF grantee IS NULL OR kind IS NULL THEN
		RAISE EXCEPTION 'grantee and kind must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF kind OPERATOR(pg_catalog.<>) ALL (ARRAY['producer', 'worker', 'admin']) THEN
		RAISE EXCEPTION 'unknown kind of role "%"', kind
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use producer, worker or admin.';
	END IF;
	EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA awa TO %s', grantee);
	FOR fn IN
		SELECT p.oid::pg_catalog.regprocedure
		FROM pg_catalog.pg_proc AS p
		WHERE p.pronamespace OPERATOR(pg_catalog.=) 'awa'::pg_catalog.regnamespace
		  AND (kind OPERATOR(pg_catalog.=) 'admin'
			   OR (kind OPERATOR(pg_catalog.=) 'producer'
				   AND p.proname OPERATOR(pg_catalog.=) ANY (producer_functions))
			   OR (kind OPERATOR(pg_catalog.=) 'worker'
				   AND p.proname OPERATOR(pg_catalog.=) ANY (worker_functions)))
		ORDER BY 1
	LOOP
		EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %s', fn, grantee);
		granted := granted OPERATOR(pg_catalog.+) 1;
	END LOOP;
	-- the compat view: its INSTEAD OF trigger (awa.jobs_write) is SECURITY
	-- DEFINER, so the view privileges are all a role needs to write through it
	IF kind OPERATOR(pg_catalog.=) 'producer' THEN
		EXECUTE pg_catalog.format('GRANT INSERT, SELECT (id) ON awa.jobs TO %s', grantee);
	END IF;
	IF kind OPERATOR(pg_catalog.=) 'admin' THEN
		EXECUTE pg_catalog.format('GRANT SELECT ON ALL TABLES IN SCHEMA awa TO %s', grantee);
		EXECUTE pg_catalog.format('GRANT SELECT, INSERT, DELETE ON awa.jobs TO %s', grantee);
	END IF;
	RETURN granted;
END
$grant$;
COMMENT ON FUNCTION awa.grant_rights(regrole, text) IS
'give a role producer, worker or admin rights on awa_queue; returns the number of functions granted';

CREATE FUNCTION awa.grant_producer(grantee regrole)
RETURNS integer
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
RETURN awa.grant_rights(grantee, 'producer');
COMMENT ON FUNCTION awa.grant_producer(regrole) IS 'let a role enqueue jobs and read queue counts';

CREATE FUNCTION awa.grant_worker(grantee regrole)
RETURNS integer
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
RETURN awa.grant_rights(grantee, 'worker');
COMMENT ON FUNCTION awa.grant_worker(regrole) IS 'let a role claim, complete, fail, snooze and heartbeat jobs';

CREATE FUNCTION awa.grant_admin(grantee regrole)
RETURNS integer
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
RETURN awa.grant_rights(grantee, 'admin');
COMMENT ON FUNCTION awa.grant_admin(regrole) IS 'let a role run every awa function and read every awa table';

-- ===================================================================
-- Privileges
-- ===================================================================

/*
 * Nothing in awa is usable by PUBLIC until a grant helper gives a role
 * producer, worker or admin rights.  Readers that expose no job data are
 * still revoked so that the schema stays opaque.
 */
REVOKE ALL ON SCHEMA awa FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA awa FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA awa FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA awa FROM PUBLIC;
