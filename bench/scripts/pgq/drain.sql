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
\endif
