-- bench/plain_queue.sql -- the baseline: a classic single-table
-- FOR UPDATE SKIP LOCKED queue (the River / Oban / graphile-worker /
-- pg-boss design), created in the same cluster as awa_queue so both run
-- in one invocation.  Two row writes per job: claim UPDATE, complete UPDATE.
DROP TABLE IF EXISTS plain_jobs;
CREATE TABLE plain_jobs (
	id bigserial PRIMARY KEY,
	queue text NOT NULL,
	kind text NOT NULL,
	args jsonb NOT NULL DEFAULT '{}',
	priority smallint NOT NULL DEFAULT 2,
	state text NOT NULL DEFAULT 'available',
	attempt smallint NOT NULL DEFAULT 0,
	run_at timestamptz NOT NULL DEFAULT now(),
	attempted_at timestamptz,
	finalized_at timestamptz
);
CREATE INDEX plain_jobs_fetch ON plain_jobs (queue, priority, run_at, id) WHERE state = 'available';
