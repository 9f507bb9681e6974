-- storm: cancel a recent job in whatever state it is
\set r random(0, 200)
SELECT storm.cancel_some(:r);
