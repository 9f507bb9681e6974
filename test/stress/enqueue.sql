-- storm: one enqueue; overlapping queues and priorities, unique keys and scheduled jobs now and then
\set q random(0, 3)
\set p random(1, 4)
\set u random(-3000, 1000)
\set d random(-8, 1)
SELECT storm.enqueue_one(:q, :p, :u, :d);
