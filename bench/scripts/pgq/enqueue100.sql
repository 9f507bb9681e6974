-- 100 events per call, sent by the client as one JSON array (the runner
-- passes the same :jobs text to every system's batch script).
SELECT count(pgq.insert_event(j->>'queue', j->>'kind', (j->'args')::text))
FROM jsonb_array_elements(:jobs::jsonb) AS j;
