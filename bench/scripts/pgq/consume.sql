BEGIN;
SELECT pgq.ticker('bench');
SELECT coalesce(pgq.next_batch('bench', 'bench_consumer'), 0) AS batch_id \gset
\if :batch_id > 0
INSERT INTO bench_latency SELECT 1000 * (extract(epoch FROM clock_timestamp()) - ev_data::float8) FROM pgq.get_batch_events(:batch_id);
SELECT pgq.finish_batch(:batch_id);
\endif
COMMIT;
\if :batch_id = 0
\sleep 2 ms
\endif
