-- install: the extension creates the whole v22 storage model and drops cleanly
\set VERBOSITY terse
SET client_min_messages = warning;

SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'awa_queue';

-- partitions per ring
SELECT p.relname AS parent, pg_catalog.count(*) AS partitions
FROM pg_catalog.pg_inherits AS i
JOIN pg_catalog.pg_class AS p ON p.oid = i.inhparent
WHERE p.relnamespace = 'awa'::regnamespace AND p.relkind = 'p'
GROUP BY p.relname ORDER BY 1;

-- hot rows keep a low fillfactor
SELECT c.relname, c.reloptions
FROM pg_catalog.pg_class AS c
WHERE c.relnamespace = 'awa'::regnamespace
  AND c.relname IN ('queue_terminal_live_counts', 'queue_enqueue_heads', 'queue_claim_heads')
ORDER BY 1;

-- pg_dump keeps queue contents: every data table and the sequence are config tables
SELECT pg_catalog.count(*) AS config_relations
FROM pg_catalog.pg_extension AS e, pg_catalog.unnest(e.extconfig) AS r(oid)
WHERE e.extname = 'awa_queue';
SELECT c.relname
FROM pg_catalog.pg_class AS c
WHERE c.relnamespace = 'awa'::regnamespace
  AND c.relkind IN ('r', 'S')
  AND c.oid NOT IN (SELECT r FROM pg_catalog.pg_extension AS e,
                    pg_catalog.unnest(e.extconfig) AS r WHERE e.extname = 'awa_queue')
ORDER BY 1;

-- the job_state enum has all eight labels in bit order
SELECT pg_catalog.array_agg(e.enumlabel ORDER BY e.enumsortorder)
FROM pg_catalog.pg_enum AS e WHERE e.enumtypid = 'awa.job_state'::regtype;

-- PUBLIC may not write any awa table
SELECT c.relname
FROM pg_catalog.pg_class AS c
WHERE c.relnamespace = 'awa'::regnamespace AND c.relkind IN ('r', 'p')
  AND (pg_catalog.has_table_privilege('public', c.oid, 'INSERT')
       OR pg_catalog.has_table_privilege('public', c.oid, 'UPDATE')
       OR pg_catalog.has_table_privilege('public', c.oid, 'DELETE')
       OR pg_catalog.has_table_privilege('public', c.oid, 'TRUNCATE'));

-- every function has a comment
SELECT p.proname FROM pg_catalog.pg_proc AS p
WHERE p.pronamespace = 'awa'::regnamespace
  AND pg_catalog.obj_description(p.oid, 'pg_proc') IS NULL;

-- DROP EXTENSION leaves nothing behind; CREATE works again
DROP EXTENSION awa_queue;
SELECT pg_catalog.count(*) FROM pg_catalog.pg_namespace WHERE nspname = 'awa';
SELECT pg_catalog.count(*) FROM pg_catalog.pg_type WHERE typname IN ('job_state', 'claimed_job');
CREATE EXTENSION awa_queue;
SELECT pg_catalog.count(*) AS tables FROM pg_catalog.pg_tables WHERE schemaname = 'awa';
