-- 100 jobs per call, sent by the client as one JSON array (the runner
-- passes the same :jobs text to every system's batch script).
SELECT count(*) FROM awa.enqueue_many(:jobs::jsonb);
