-- storm: claim a batch, then fail it (retryable, or terminal one time in four)
\set q random(0, 3)
\set n random(1, 8)
\set t random(0, 3)
SELECT storm.claim(:q, :n);
SELECT storm.fail_held(:t = 0);
