-- bench/pgq.sql -- PgQ (Debian's postgresql-15-pgq3): an event queue with
-- batch semantics.  Producers call pgq.insert_event; one registered
-- consumer takes the events between two ticks as a batch (next_batch /
-- get_batch_events / finish_batch) and calls pgq.ticker() itself, so no
-- pgqd daemon is needed.  ticker_max_count = 1: a ticker() call ticks as
-- soon as there is one new event, so a batch is whatever arrived since the
-- consumer's previous call.  Events are not mutated or deleted: rotation
-- of the event tables (pgq.maint_operations) reclaims them.
-- Start afresh (the runner reloads this file before every scenario).
DROP EXTENSION IF EXISTS pgq CASCADE;
CREATE EXTENSION pgq;
SET client_min_messages = warning;
SELECT pgq.create_queue('bench');
SELECT pgq.set_queue_config('bench', 'ticker_max_count', '1');
SELECT pgq.set_queue_config('bench', 'rotation_period', '1 second');
SELECT pgq.register_consumer('bench', 'bench_consumer');

-- Harness helpers (not measured).
-- bench_preload: n_terminal events consumed (batch finished) and then
-- n_available pending events, ticked in batches of chunk events.
CREATE OR REPLACE PROCEDURE bench_preload(n_available bigint, n_terminal bigint DEFAULT 0, chunk int DEFAULT 0)
LANGUAGE plpgsql AS $$
DECLARE
	done bigint := 0;
	k bigint;
	b bigint;
BEGIN
	IF n_terminal > 0 THEN
		PERFORM pgq.insert_event('bench', 'bench', g::text) FROM generate_series(1, n_terminal) g;
		COMMIT;
		PERFORM pgq.ticker('bench');
		COMMIT;
		LOOP
			b := pgq.next_batch('bench', 'bench_consumer');
			EXIT WHEN b IS NULL;
			PERFORM pgq.finish_batch(b);
			COMMIT;
		END LOOP;
		COMMIT;
	END IF;
	IF chunk <= 0 THEN
		chunk := greatest(n_available, 1);
	END IF;
	WHILE done < n_available LOOP
		k := least(chunk, n_available - done);
		PERFORM pgq.insert_event('bench', 'bench', g::text) FROM generate_series(1, k) g;
		COMMIT;
		PERFORM pgq.ticker('bench');
		COMMIT;
		done := done + k;
	END LOOP;
END $$;

-- bench_backlog: events not yet consumed by the consumer, ticked or not.
CREATE OR REPLACE FUNCTION bench_backlog() RETURNS bigint LANGUAGE sql STABLE AS $$
	SELECT pgq.seq_getval(q.queue_event_seq) - t.tick_event_seq
	FROM pgq.queue q
	JOIN pgq.subscription s ON s.sub_queue = q.queue_id
	JOIN pgq.tick t ON t.tick_queue = q.queue_id AND t.tick_id = s.sub_last_tick
	WHERE q.queue_name = 'bench'
$$;
