-- bench/common.sql -- objects the harness itself needs in every system's
-- database (not part of any system under test).
--
-- bench_latency: one row per job completed by an S3 consumer, with the
-- enqueue→complete latency in milliseconds.  UNLOGGED so it adds no WAL to
-- the figures; every system pays the same insert.
CREATE UNLOGGED TABLE IF NOT EXISTS bench_latency (lat_ms float8 NOT NULL);
TRUNCATE bench_latency;

-- bench_drained: when the S2 backlog was first seen empty.  A drain consumer
-- whose claim comes back empty checks bench_backlog(); at zero it records
-- the moment (first writer wins) and sleeps :idle ms, until the runner,
-- which polls this table, stops the consumers: "preloaded backlog ->
-- empty" is timed alike for every system.
CREATE UNLOGGED TABLE IF NOT EXISTS bench_drained (
	singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
	at timestamptz NOT NULL
);
TRUNCATE bench_drained;
