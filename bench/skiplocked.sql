-- bench/skiplocked.sql -- the classic single-table job queue users would
-- otherwise pick: the design of River, Oban, graphile-worker and pg-boss.
--
-- One row per job, mutated in place: available -> running -> completed
-- (or DELETEd on completion by the skiplocked_delete variant).  Indexes
-- as River keeps them: the primary key, a partial fetch index over the
-- available rows in claim order, and a partial index on finalized rows
-- for the retention cleaner.  (River and Oban also keep GIN indexes on
-- args/metadata; they are left out, which favours this baseline.)
-- Start afresh (the runner reloads this file before every scenario).
DROP TABLE IF EXISTS jobs;
DROP TYPE IF EXISTS job_state;

CREATE TYPE job_state AS ENUM ('available', 'scheduled', 'running', 'retryable',
	'completed', 'cancelled', 'discarded');

CREATE TABLE jobs (
	id bigserial PRIMARY KEY,
	queue text NOT NULL DEFAULT 'default',
	kind text NOT NULL,
	args jsonb NOT NULL DEFAULT '{}',
	state job_state NOT NULL DEFAULT 'available',
	priority smallint NOT NULL DEFAULT 2,
	attempt smallint NOT NULL DEFAULT 0,
	max_attempts smallint NOT NULL DEFAULT 25,
	run_at timestamptz NOT NULL DEFAULT now(),
	attempted_at timestamptz,
	created_at timestamptz NOT NULL DEFAULT now(),
	finalized_at timestamptz
);
CREATE INDEX jobs_fetch_idx ON jobs (queue, priority, id) WHERE state = 'available';
CREATE INDEX jobs_finalized_idx ON jobs (state, finalized_at) WHERE finalized_at IS NOT NULL;

-- Harness helpers (not measured).
-- bench_preload: n_available available jobs and n_terminal completed ones.
CREATE OR REPLACE PROCEDURE bench_preload(n_available bigint, n_terminal bigint DEFAULT 0)
LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO jobs (queue, kind, args, state, attempt, attempted_at, finalized_at)
	SELECT 'bench', 'bench', jsonb_build_object('n', g), 'completed', 1, now(), now()
	FROM generate_series(1, n_terminal) g;
	COMMIT;
	INSERT INTO jobs (queue, kind, args)
	SELECT 'bench', 'bench', jsonb_build_object('n', g)
	FROM generate_series(1, n_available) g;
	COMMIT;
END $$;

-- bench_backlog: jobs enqueued and not yet completed.
CREATE OR REPLACE FUNCTION bench_backlog() RETURNS bigint LANGUAGE sql STABLE AS $$
	SELECT count(*) FROM jobs WHERE queue = 'bench' AND state IN ('available', 'running')
$$;
