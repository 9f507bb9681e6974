-- bench/common.sql -- objects the harness itself needs in every system's
-- database (not part of any system under test).
--
-- bench_latency: one row per job completed by an S3 consumer, with the
-- enqueue→complete latency in milliseconds.  UNLOGGED so it adds no WAL to
-- the figures; every system pays the same insert.
CREATE UNLOGGED TABLE IF NOT EXISTS bench_latency (lat_ms float8 NOT NULL);
TRUNCATE bench_latency;
