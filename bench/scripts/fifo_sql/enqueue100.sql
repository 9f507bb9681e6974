-- 100 jobs per call, sent by the client as one JSON array (the runner
-- passes the same :jobs text to every system's batch script); one head
-- advance for the whole batch.
WITH h AS (UPDATE lane_heads SET next_seq = next_seq + jsonb_array_length(:jobs::jsonb) WHERE queue = 'bench' AND priority = 2 RETURNING next_seq - jsonb_array_length(:jobs::jsonb) AS first)
INSERT INTO jobs (queue, kind, args, lane_seq)
SELECT j->>'queue', j->>'kind', j->'args', h.first + e.o - 1 FROM h, jsonb_array_elements(:jobs::jsonb) WITH ORDINALITY AS e(j, o);
