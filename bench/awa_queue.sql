-- bench/awa_queue.sql -- awa_queue, this extension, through its SQL API
-- only (SPEC §3): nothing here writes an awa table directly.
-- Start afresh (the runner reloads this file before every scenario).
DROP EXTENSION IF EXISTS awa_queue;
CREATE EXTENSION awa_queue;
-- The helpers name hot-path functions a build may not have yet: the runner
-- checks for them before each scenario and reports "n/a" instead.
SET check_function_bodies = off;

-- Harness helpers (not measured).
-- bench_preload: n_terminal jobs enqueued, claimed and completed, then
-- n_available available jobs, in chunks of 1000 jobs per transaction
-- (enqueued 100 per call).  Then the claim ring is brought to the state
-- awa.maintenance() keeps it in production: the receipts and closures of
-- the preloaded terminal jobs sit in one claim slot, which a real system
-- would have rotated away and pruned within a few ticks (closed receipts
-- are dropped, open ones carried forward).  Leaving them would make every
-- reader of the claim ring (queue_counts.running, rescue) pay for a
-- history no production queue keeps; the queue ring (the terminal rows
-- S5 is about) is left alone.
CREATE OR REPLACE PROCEDURE bench_preload(n_available bigint, n_terminal bigint DEFAULT 0)
LANGUAGE plpgsql AS $$
DECLARE
	done bigint := 0;
	k bigint;
	ids bigint[];
	leases bigint[];
	total bigint := n_terminal + n_available;
BEGIN
	WHILE done < total LOOP
		k := least(1000, CASE WHEN done < n_terminal THEN n_terminal - done ELSE total - done END);
		-- 100 jobs per enqueue_many call, as producers batch: each call
		-- picks one shard (rotor), so a sharded queue gets its backlog
		-- spread over its lanes.
		PERFORM count(*) FROM generate_series(0, k - 1, 100) AS c(o),
			LATERAL awa.enqueue_many((
				SELECT jsonb_agg(jsonb_build_object('kind', 'bench', 'queue', 'bench',
					'args', jsonb_build_object('n', c.o + g)))
				FROM generate_series(1, least(100, k - c.o)) g));
		IF done < n_terminal THEN
			SELECT array_agg(job_id), array_agg(run_lease) INTO ids, leases
			FROM awa.claim_batch('bench', k::int);
			PERFORM count(*) FROM awa.complete_batch(ids, leases);
		END IF;
		done := done + k;
		COMMIT;
	END LOOP;
	-- rotate_claims moves to an empty slot, prune_oldest_claims empties the
	-- oldest other one; "noop" once only the current slot holds receipts
	FOR i IN 1..8 LOOP
		PERFORM awa.rotate_claims();
		COMMIT;
		EXIT WHEN awa.prune_oldest_claims() = 'noop';
		COMMIT;
	END LOOP;
	COMMIT;
END $$;

-- bench_backlog: jobs enqueued and not yet completed: positions handed out
-- by the lane heads minus terminal jobs (live counters plus rollups).  The
-- bench never fails, retries or cancels a job, so this is exactly available
-- + running of awa.queue_counts('bench'), without counting the open
-- receipts of the claim ring (an anti-join over every receipt since the
-- last claim-ring prune, tens of ms at the end of a drain).  The harness
-- calls it on every empty claim of a drain; it only reads awa tables.
CREATE OR REPLACE FUNCTION bench_backlog() RETURNS bigint LANGUAGE sql STABLE AS $$
	SELECT (SELECT coalesce(sum(next_seq - 1), 0) FROM awa.queue_enqueue_heads WHERE queue = 'bench')
		- (SELECT coalesce(sum(live_terminal_count), 0) FROM awa.queue_terminal_live_counts WHERE queue = 'bench')
		- (SELECT coalesce(sum(pruned_completed_count), 0) FROM awa.queue_terminal_rollups WHERE queue = 'bench')
$$;
