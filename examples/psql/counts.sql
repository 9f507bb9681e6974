-- examples/psql/counts.sql -- what an operator looks at (doc/operations.md).
--   psql -f examples/psql/counts.sql
\set ON_ERROR_STOP on

-- Per-queue counts, exact.
SELECT * FROM awa.queue_counts();

-- Terminal counters that disagree with the terminal rows (none when healthy).
SELECT count(*) AS disagreeing_groups FROM awa.verify_terminal_counters();

-- Lanes whose available count (lane heads minus holes) disagrees with the
-- ready rows (none when healthy; reads the whole backlog).
SELECT count(*) AS disagreeing_lanes FROM awa.verify_available_counts();

-- Dead tuples per awa table.
SELECT relname, n_live_tup, n_dead_tup
FROM pg_stat_user_tables
WHERE schemaname = 'awa' AND n_dead_tup > 0
ORDER BY n_dead_tup DESC;
