-- test/pgtap/counts.sql -- queue_counts.available from the lane heads minus
-- awa.ready_holes equals the ready rows at or above claim_seq after every
-- way an unclaimed row leaves its lane, and maintenance collects only the
-- holes below claim_seq.
BEGIN;
SELECT plan(22);

-- queue_counts.available of q equals the direct count and no lane drifts
CREATE FUNCTION pg_temp.exact(q text) RETURNS boolean LANGUAGE sql AS $$
	SELECT (SELECT available FROM awa.queue_counts(q)) =
		(SELECT pg_catalog.count(*) FROM awa.ready_entries AS r
		 JOIN awa.queue_claim_heads AS h USING (queue, priority, enqueue_shard)
		 WHERE r.queue = q AND r.lane_seq >= h.claim_seq)
	   AND NOT EXISTS (SELECT 1 FROM awa.verify_available_counts())
$$;
CREATE FUNCTION pg_temp.avail(q text) RETURNS bigint LANGUAGE sql AS
$$ SELECT available FROM awa.queue_counts(q) $$;
CREATE FUNCTION pg_temp.id(q text, k text) RETURNS bigint LANGUAGE sql AS
$$ SELECT job_id FROM awa.ready_entries WHERE queue = q AND kind = k $$;
CREATE FUNCTION pg_temp.live_holes(q text) RETURNS bigint LANGUAGE sql AS $$
	SELECT pg_catalog.count(*) FROM awa.ready_holes AS o
	JOIN awa.queue_claim_heads AS h USING (queue, priority, enqueue_shard)
	WHERE o.queue = q AND o.lane_seq >= h.claim_seq $$;

SELECT count(*) FROM awa.enqueue_many(
	(SELECT jsonb_agg(jsonb_build_object('kind', 't' || g, 'queue', 'tap_cnt')) FROM generate_series(1, 6) AS g));
SELECT ok(pg_temp.exact('tap_cnt') AND pg_temp.avail('tap_cnt') = 6, 'six available, from the heads');

-- cancel in the middle
SELECT ok(awa.cancel(pg_temp.id('tap_cnt', 't3')), 'cancel t3 (middle of the lane)');
SELECT ok(pg_temp.exact('tap_cnt') AND pg_temp.avail('tap_cnt') = 5, 'cancel in the middle: 5, exact');
SELECT is(pg_temp.live_holes('tap_cnt'), 1::bigint, 'one live hole');

-- compat DELETE in the middle, next to the first hole
DELETE FROM awa.jobs WHERE id = pg_temp.id('tap_cnt', 't4');
SELECT ok(pg_temp.exact('tap_cnt') AND pg_temp.avail('tap_cnt') = 4, 'compat DELETE in the middle: 4, exact');

-- claim t1, t2; the head is now t5's position minus the holes 3, 4
SELECT is((SELECT string_agg(kind, ',' ORDER BY kind) FROM awa.claim_batch('tap_cnt', 2)), 't1,t2', 'claim takes t1, t2');
SELECT ok(pg_temp.exact('tap_cnt') AND pg_temp.avail('tap_cnt') = 2, 'after the claim: 2 (t5, t6), exact');

-- compat DELETE behind holes at the head (claim_seq sits on the hole of
-- t3, so t5 is not the head row): claim_seq stays, three live holes
DELETE FROM awa.jobs WHERE id = pg_temp.id('tap_cnt', 't5');
SELECT is((SELECT claim_seq FROM awa.queue_claim_heads WHERE queue = 'tap_cnt'), 3::bigint, 'claim_seq stays on the hole of t3');
SELECT ok(pg_temp.exact('tap_cnt') AND pg_temp.avail('tap_cnt') = 1 AND pg_temp.live_holes('tap_cnt') = 3,
	'compat DELETE behind holes: 1, three live holes, exact');

-- cancel of the only row left: every position of the lane is a hole
SELECT ok(awa.cancel(pg_temp.id('tap_cnt', 't6')), 'cancel t6, the last row');
SELECT ok(pg_temp.exact('tap_cnt') AND pg_temp.avail('tap_cnt') = 0, 'a lane of holes only: 0, exact');

-- claim gap recovery past the holes: nothing claimed, claim_seq = next_seq
SELECT is((SELECT count(*) FROM awa.claim_batch('tap_cnt', 5)), 0::bigint, 'nothing to claim');
SELECT is((SELECT claim_seq = next_seq FROM awa.queue_claim_heads JOIN awa.queue_enqueue_heads USING (queue, priority, enqueue_shard)
	WHERE queue = 'tap_cnt'), true, 'claim moved claim_seq to next_seq past the holes');
SELECT ok(pg_temp.exact('tap_cnt') AND pg_temp.live_holes('tap_cnt') = 0, 'every hole is now below claim_seq, exact');

-- compat DELETE at the head: claim_seq jumps over a hole to the next row
SELECT count(*) FROM awa.enqueue_many('[{"kind":"u1","queue":"tap_cnt"},{"kind":"u2","queue":"tap_cnt"},{"kind":"u3","queue":"tap_cnt"}]');
SELECT ok(awa.cancel(pg_temp.id('tap_cnt', 'u2')), 'cancel u2 (middle)');
DELETE FROM awa.jobs WHERE id = pg_temp.id('tap_cnt', 'u1');
SELECT is((SELECT claim_seq FROM awa.queue_claim_heads WHERE queue = 'tap_cnt'),
	(SELECT lane_seq FROM awa.ready_entries WHERE queue = 'tap_cnt' AND kind = 'u3'), 'head delete moves claim_seq to u3, past the hole of u2');
SELECT ok(pg_temp.exact('tap_cnt') AND pg_temp.avail('tap_cnt') = 1, 'compat DELETE at the head: 1, exact');
SELECT is((SELECT string_agg(kind, ',') FROM awa.claim_batch('tap_cnt', 5)), 'u3', 'claim takes u3');

-- maintenance collects the dead holes, keeps a live one
SELECT count(*) FROM awa.enqueue_many('[{"kind":"v1","queue":"tap_cnt"},{"kind":"v2","queue":"tap_cnt"}]');
SELECT ok(awa.cancel(pg_temp.id('tap_cnt', 'v2')), 'cancel v2 behind v1: a live hole');
SELECT cmp_ok((awa.maintenance() ->> 'holes_deleted')::int, '>=', 6, 'maintenance deletes the six holes below claim_seq (and any other queue''s)');
SELECT is((SELECT count(*) FROM awa.ready_holes WHERE queue = 'tap_cnt'), 1::bigint, 'the live hole stays');
SELECT ok(pg_temp.exact('tap_cnt') AND pg_temp.avail('tap_cnt') = 1
	AND (SELECT count(*) FROM awa.verify_terminal_counters()) = 0, 'still exact after maintenance, counters exact');

SELECT * FROM finish();
ROLLBACK;
