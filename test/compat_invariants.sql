-- test/compat_invariants.sql -- SPEC 4 invariants as seen through awa.jobs,
-- for the terminal, dlq and compat regress tests (included with \ir).
--
--   pg_temp.view_inv()  one row: counter groups and lanes (available
--                       counts) that drifted, jobs shown
--                       more than once by awa.jobs, unique claims held by a
--                       job outside the states of its mask (or gone), and
--                       jobs in a state of their mask without their claim.
--                       All zero when healthy.

CREATE FUNCTION pg_temp.view_inv(OUT drifted bigint, OUT jobs_twice bigint,
								 OUT stray_claims bigint, OUT missing_claims bigint)
LANGUAGE sql AS $$
SELECT (SELECT count(*) FROM awa.verify_terminal_counters())
		+ (SELECT count(*) FROM awa.verify_available_counts()),
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
