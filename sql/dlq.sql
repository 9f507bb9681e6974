-- dlq: retry_from_dlq, purge_dlq and discard of DLQ rows, with unique keys
\set VERBOSITY terse
SET client_min_messages = warning;

\set ECHO none
\ir test/compat_invariants.sql
\set ECHO all

-- seed six dead-lettered jobs; 8002 and 8006 own their key while failed
-- (mask with the failed bit), 8003 has a key with the default mask
INSERT INTO awa.dlq_entries (job_id, kind, queue, args, priority, attempt, run_lease,
                             max_attempts, unique_key, unique_states, payload, dlq_reason,
                             original_run_lease, dlq_at)
SELECT 8000 + g, CASE WHEN g <= 4 THEN 'dead' ELSE 'dead2' END,
       CASE WHEN g % 2 = 0 THEN 'dlqa' ELSE 'dlqb' END,
       jsonb_build_object('n', g), 3, 5, 7, 5,
       CASE WHEN g IN (2, 3, 6) THEN convert_to('dkey-' || g, 'UTF8') END,
       CASE WHEN g IN (2, 6) THEN B'11111100' WHEN g = 3 THEN B'11111000' END,
       '{"errors": [{"error": "e", "attempt": 5}], "progress": {"pct": 40}}',
       'max_attempts_exhausted', 7,
       now() - make_interval(days => g)
FROM generate_series(1, 6) AS g;
INSERT INTO awa.job_unique_claims VALUES (convert_to('dkey-2', 'UTF8'), 8002),
                                         (convert_to('dkey-6', 'UTF8'), 8006);
SELECT * FROM pg_temp.view_inv();
SELECT id, state, queue, attempt, run_lease, errors, progress FROM awa.jobs
WHERE id BETWEEN 8001 AND 8006 ORDER BY id;

-- retry_from_dlq to available: new ready row, attempt 0, run_lease kept,
-- errors kept, progress dropped, claim moves failed -> available (kept)
SELECT awa.retry_from_dlq(8002);
SELECT id, state, queue, priority, attempt, run_lease, errors, progress FROM awa.jobs WHERE id = 8002;
SELECT job_id FROM awa.job_unique_claims WHERE unique_key = convert_to('dkey-2', 'UTF8');
SELECT * FROM pg_temp.view_inv();

-- retry_from_dlq into another queue and priority, scheduled for later:
-- the default mask re-takes the key for scheduled
SELECT awa.retry_from_dlq(8003, 'elsewhere', 1::smallint, now() + interval '1 day');
SELECT id, state, queue, priority, attempt, run_lease, run_at > now() AS in_future
FROM awa.jobs WHERE id = 8003;
SELECT job_id FROM awa.job_unique_claims WHERE unique_key = convert_to('dkey-3', 'UTF8');
SELECT * FROM pg_temp.view_inv();
-- a past run_at means available now
SELECT awa.retry_from_dlq(8001, run_at => now() - interval '1 hour');
SELECT id, state, queue FROM awa.jobs WHERE id = 8001;
-- not in the DLQ any more, unknown: false
SELECT awa.retry_from_dlq(8001), awa.retry_from_dlq(424242);

-- retry_from_dlq whose key another live job holds: 23505, the DLQ row stays
INSERT INTO awa.dlq_entries (job_id, kind, queue, priority, unique_key, dlq_reason, original_run_lease)
VALUES (8007, 'dead', 'dlqa', 2, convert_to('dkey-2', 'UTF8'), 'operator', 1);
\set VERBOSITY sqlstate
SELECT awa.retry_from_dlq(8007);
\set VERBOSITY terse
SELECT id, state FROM awa.jobs WHERE id = 8007;
SELECT * FROM pg_temp.view_inv();

-- purge_dlq by queue and age: 8004 (4 days) and 8006 (6 days) in dlqa are
-- older than 3 days, 8007 is not; 8006's key is released (awa v22 leaked it)
SELECT awa.purge_dlq('dlqa', older_than => interval '3 days');
SELECT job_id FROM awa.dlq_entries WHERE job_id BETWEEN 8000 AND 8999 ORDER BY job_id;
SELECT count(*) AS dkey6_claims FROM awa.job_unique_claims WHERE unique_key = convert_to('dkey-6', 'UTF8');
SELECT * FROM pg_temp.view_inv();

-- discard_failed_by_kind also removes the kind's DLQ rows
SELECT awa.discard_failed_by_kind('dead2');
SELECT job_id FROM awa.dlq_entries WHERE job_id BETWEEN 8000 AND 8999 ORDER BY job_id;
-- purge by kind: everything left of these tests
SELECT awa.purge_dlq(kind => 'dead');
SELECT count(*) AS dlq_rows FROM awa.dlq_entries WHERE job_id BETWEEN 8000 AND 8999;
SELECT * FROM pg_temp.view_inv();

-- errors, each with its SQLSTATE, nothing written
\set VERBOSITY sqlstate
SELECT awa.retry_from_dlq(NULL);
SELECT awa.retry_from_dlq(8001, '');
SELECT awa.retry_from_dlq(8001, priority => 9::smallint);
SELECT awa.purge_dlq(older_than => interval '-1 day');
SELECT awa.purge_dlq(kind => '');
\set VERBOSITY terse

-- the retried jobs still finish their lifecycle
SELECT count(*) AS claimed FROM awa.claim_batch('dlqa', 10);
SELECT id, state, attempt, run_lease FROM awa.jobs WHERE id = 8002;
SELECT * FROM pg_temp.view_inv();

