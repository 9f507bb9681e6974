BEGIN;
SELECT pgq.ticker('bench');
SELECT coalesce(pgq.next_batch('bench', 'bench_consumer'), 0) AS batch_id \gset
\if :batch_id > 0
SELECT count(*) FROM pgq.get_batch_events(:batch_id);
SELECT pgq.finish_batch(:batch_id);
\endif
COMMIT;
