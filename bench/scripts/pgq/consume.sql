-- Worker shape: tick, open and read the batch in one transaction; finish
-- it and record the latency in a second one.
BEGIN;
SELECT pgq.ticker('bench');
SELECT coalesce(pgq.next_batch('bench', 'bench_consumer'), 0) AS batch_id \gset
\if :batch_id > 0
SELECT coalesce(array_agg(ev_data::float8), '{}') AS ts FROM pgq.get_batch_events(:batch_id) \gset
\endif
COMMIT;
\if :batch_id > 0
BEGIN;
SELECT pgq.finish_batch(:batch_id);
INSERT INTO bench_latency SELECT 1000 * (extract(epoch FROM clock_timestamp()) - t) FROM unnest(:ts::float8[]) t;
COMMIT;
\else
\sleep 2 ms
\endif
