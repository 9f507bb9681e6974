-- storm: claim a batch (one transaction), then complete it (another), ledgered
\set q random(0, 3)
\set n random(1, 16)
SELECT storm.claim(:q, :n);
SELECT storm.complete_held();
