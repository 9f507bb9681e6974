-- terminal: every terminal-removal path keeps queue_terminal_live_counts exact
-- (the seed PR's decrement tests, on directly seeded terminal rows)
\set VERBOSITY terse
SET client_min_messages = warning;

-- SPEC 4 invariants: counters exact, each job once, unique claims consistent
CREATE FUNCTION terminal_inv(OUT drifted bigint, OUT jobs_twice bigint,
                             OUT stray_claims bigint, OUT missing_claims bigint)
LANGUAGE sql AS $$
SELECT (SELECT count(*) FROM awa.verify_terminal_counters()),
       (SELECT count(*) FROM (SELECT id FROM awa.jobs GROUP BY id HAVING count(*) > 1) AS d),
       (SELECT count(*) FROM awa.job_unique_claims AS c
         WHERE NOT EXISTS (SELECT 1 FROM awa.jobs AS j
                            WHERE j.id = c.job_id AND j.unique_key = c.unique_key
                              AND substring(COALESCE(j.unique_states, B'11111000')
                                  FROM array_position(enum_range(NULL::awa.job_state), j.state) FOR 1) = B'1')),
       (SELECT count(*) FROM awa.jobs AS j
         WHERE j.unique_key IS NOT NULL
           AND substring(COALESCE(j.unique_states, B'11111000')
               FROM array_position(enum_range(NULL::awa.job_state), j.state) FOR 1) = B'1'
           AND NOT EXISTS (SELECT 1 FROM awa.job_unique_claims AS c
                            WHERE c.unique_key = j.unique_key AND c.job_id = j.id))
$$;

CREATE FUNCTION terminal_counts(q text, OUT done bigint, OUT counter bigint, OUT bodies bigint,
                                OUT dlq bigint)
LANGUAGE sql AS $$
SELECT (SELECT count(*) FROM awa.done_entries WHERE queue = q),
       (SELECT COALESCE(sum(live_terminal_count), 0)::bigint FROM awa.queue_terminal_live_counts WHERE queue = q),
       (SELECT count(*) FROM awa.ready_entries WHERE queue = q),
       (SELECT count(*) FROM awa.dlq_entries WHERE queue = q)
$$;

-- seed: lane (seedq, 2, 0) with 9 claimed bodies (lane_seq 1..9, claim_seq 10)
-- and their narrow terminal rows: 3 completed, 3 failed, 3 cancelled
INSERT INTO awa.queue_enqueue_heads VALUES ('seedq', 2, 0, 10);
INSERT INTO awa.queue_claim_heads VALUES ('seedq', 2, 0, 10);
INSERT INTO awa.ready_entries (ready_slot, ready_generation, job_id, kind, queue, args, priority,
                               attempt, run_lease, lane_seq, enqueue_shard, unique_key, unique_states, payload)
SELECT 0, 0, 9000 + g, 'seed', 'seedq', jsonb_build_object('n', g), 2, 0, 0, g, 0,
       CASE WHEN g IN (7, 8) THEN convert_to('key-' || g, 'UTF8') END,
       CASE WHEN g IN (7, 8) THEN B'11111000' END,
       '{"metadata": {"m": 1}, "tags": ["t"]}'
FROM generate_series(1, 9) AS g;
INSERT INTO awa.done_entries (ready_slot, ready_generation, job_id, kind, queue, state, priority,
                              attempt, run_lease, lane_seq, enqueue_shard, attempted_at, finalized_at, payload)
SELECT 0, 0, 9000 + g, 'seed', 'seedq',
       (ARRAY['completed', 'failed', 'cancelled'])[(g - 1) / 3 + 1]::awa.job_state,
       2, 1, 1, g, 0, now(), now(),
       CASE WHEN g BETWEEN 4 AND 6 THEN
            '{"metadata": {"m": 1}, "tags": ["t"], "errors": [{"error": "boom", "attempt": 1}]}'::jsonb END
FROM generate_series(1, 9) AS g;
INSERT INTO awa.queue_terminal_live_counts VALUES (0, 'seedq', 2, 0, 9);
SELECT * FROM terminal_inv();
SELECT * FROM terminal_counts('seedq');
-- terminal rows are hydrated from their retained bodies: args never NULL
SELECT id, state, args, attempt, run_lease, errors, metadata, tags
FROM awa.jobs WHERE queue = 'seedq' ORDER BY id;

-- move_failed_to_dlq: one row, counter 9 -> 8, body gone, DLQ row hydrated
SELECT awa.move_failed_to_dlq(9004, 'poison');
SELECT * FROM terminal_inv();
SELECT * FROM terminal_counts('seedq');
SELECT job_id, kind, state, args, attempt, run_lease, original_run_lease, dlq_reason, payload
FROM awa.dlq_entries ORDER BY job_id;
SELECT id, state, args, errors FROM awa.jobs WHERE id = 9004;
-- not failed any more, completed, unknown: nothing to move
SELECT awa.move_failed_to_dlq(9004, 'again'), awa.move_failed_to_dlq(9001, 'x'),
       awa.move_failed_to_dlq(424242, 'x');

-- bulk_move_failed_to_dlq: exactly the 2 remaining failed rows
SELECT awa.bulk_move_failed_to_dlq('seed', 'seedq', 'bulk');
SELECT * FROM terminal_inv();
SELECT * FROM terminal_counts('seedq');
SELECT awa.bulk_move_failed_to_dlq();

-- discard_failed_by_kind: exactly the 4 failed rows of a second kind, spread
-- over two slots and two shards of priority 1 (two counter groups)
INSERT INTO awa.queue_enqueue_heads VALUES ('seedq', 1, 0, 3), ('seedq', 1, 3, 3);
INSERT INTO awa.queue_claim_heads VALUES ('seedq', 1, 0, 3), ('seedq', 1, 3, 3);
INSERT INTO awa.ready_entries (ready_slot, ready_generation, job_id, kind, queue, args, priority,
                               attempt, run_lease, lane_seq, enqueue_shard)
SELECT s, s, 9100 + 10 * s + g, 'other', 'seedq', '{}', 1, 0, 0, g, 3 * s
FROM generate_series(0, 1) AS s, generate_series(1, 2) AS g;
INSERT INTO awa.done_entries (ready_slot, ready_generation, job_id, kind, queue, state, priority,
                              attempt, run_lease, lane_seq, enqueue_shard)
SELECT s, s, 9100 + 10 * s + g, 'other', 'seedq', 'failed', 1, 1, 1, g, 3 * s
FROM generate_series(0, 1) AS s, generate_series(1, 2) AS g;
INSERT INTO awa.queue_terminal_live_counts VALUES (0, 'seedq', 1, 0, 2), (1, 'seedq', 1, 3, 2);
SELECT * FROM terminal_inv();
SELECT awa.discard_failed_by_kind('other');
SELECT * FROM terminal_inv();
SELECT * FROM terminal_counts('seedq');
SELECT ready_slot, priority, enqueue_shard, live_terminal_count
FROM awa.queue_terminal_live_counts WHERE queue = 'seedq' ORDER BY 1, 2, 3;
SELECT count(*) AS other_jobs_left FROM awa.jobs WHERE kind = 'other';

-- retry_job of a cancelled row: back to available with a new lane_seq,
-- attempt 0, run_lease kept, unique claim re-taken, counter 6 -> 5
SELECT awa.retry_job(9007);
SELECT * FROM terminal_inv();
SELECT * FROM terminal_counts('seedq');
SELECT id, state, attempt, run_lease, args, metadata, tags FROM awa.jobs WHERE id = 9007;
SELECT lane_seq, attempt, run_lease FROM awa.ready_entries WHERE job_id = 9007;
SELECT job_id FROM awa.job_unique_claims WHERE unique_key = convert_to('key-7', 'UTF8');
-- completed jobs are not retryable; unknown ids and retried jobs return false
SELECT awa.retry_job(9001), awa.retry_job(424242), awa.retry_job(9007);

-- retry_job whose unique key another live job holds: 23505, nothing changed
SELECT awa.enqueue('holder', '{}', 'seedq', unique_key => convert_to('key-8', 'UTF8')) > 0 AS held;
\set VERBOSITY sqlstate
SELECT awa.retry_job(9008);
\set VERBOSITY terse
SELECT id, state FROM awa.jobs WHERE id = 9008;
SELECT * FROM terminal_counts('seedq');
SELECT * FROM terminal_inv();

-- compat DELETE of a terminal row: done 5 -> 4, counter 4, body gone
DELETE FROM awa.jobs WHERE id = 9002;
SELECT * FROM terminal_counts('seedq');
SELECT * FROM terminal_inv();
SELECT count(*) AS rows_of_9002 FROM awa.jobs WHERE id = 9002;

-- errors, each with its SQLSTATE, nothing written
\set VERBOSITY sqlstate
SELECT awa.retry_job(NULL);
SELECT awa.move_failed_to_dlq(NULL, 'x');
SELECT awa.move_failed_to_dlq(9005, NULL);
SELECT awa.move_failed_to_dlq(9005, '');
SELECT awa.bulk_move_failed_to_dlq(reason => NULL);
SELECT awa.bulk_move_failed_to_dlq(kind => '');
SELECT awa.bulk_move_failed_to_dlq(queue => repeat('q', 201));
SELECT awa.discard_failed_by_kind(NULL);
SELECT awa.discard_failed_by_kind('');
\set VERBOSITY terse
SELECT * FROM terminal_counts('seedq');
SELECT * FROM terminal_inv();

DROP FUNCTION terminal_counts(text);
