-- storm: retry a failed or cancelled job
\set r random(0, 20)
SELECT storm.retry_some(:r);
