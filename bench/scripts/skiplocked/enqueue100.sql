-- 100 jobs per call, sent by the client as one JSON array (the runner
-- passes the same :jobs text to every system's batch script).
INSERT INTO jobs (queue, kind, args)
SELECT j->>'queue', j->>'kind', j->'args' FROM jsonb_array_elements(:jobs::jsonb) AS j;
