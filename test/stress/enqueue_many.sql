-- storm: one enqueue_many spanning every queue and priority
\set n random(2, 20)
\set seed random(0, 100000)
SELECT storm.enqueue_batch(:n, :seed);
