-- Worker shape: tick, open and read the batch in one transaction, finish
-- it in a second one (the handler would run in between), as for every
-- system.
BEGIN;
SELECT pgq.ticker('bench');
SELECT coalesce(pgq.next_batch('bench', 'bench_consumer'), 0) AS batch_id \gset
\if :batch_id > 0
SELECT count(*) FROM pgq.get_batch_events(:batch_id);
\endif
COMMIT;
\if :batch_id > 0
SELECT pgq.finish_batch(:batch_id);
\else
-- no batch: the end of the drain once the backlog is empty (see
-- bench_drained in bench/common.sql), else no tick covers the events yet
SELECT (bench_backlog() = 0)::int AS drained \gset
\if :drained
INSERT INTO bench_drained VALUES (true, clock_timestamp()) ON CONFLICT DO NOTHING;
\sleep :idle ms
\endif
\endif

