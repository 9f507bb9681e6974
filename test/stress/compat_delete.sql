-- storm: compat DELETE of a recent job in whatever state it is
\set r random(0, 300)
SELECT storm.delete_some(:r);
