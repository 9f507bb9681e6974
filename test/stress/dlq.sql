-- storm: DLQ moves, DLQ retries, bulk moves, purges and discards
\set r random(0, 299)
SELECT storm.dlq_some(:r);
