-- storm: one maintenance tick plus a direct rotate and prune
\set r random(0, 1)
SELECT storm.maintain(:r);
