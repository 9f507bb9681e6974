-- bench/fifo_sql.sql -- the guarantees awa_queue's enqueue gives, written
-- in plain SQL on the skiplocked table: every job takes the next position
-- of its lane from a lane head row (so that a claimer can tell the end of
-- the committed work without looking for uncommitted rows: the head is
-- locked until the producer commits, SPEC §5 rule 2), and every inserting
-- statement notifies (SPEC §3).  Measured in S1 only: it shows what that
-- design costs in itself, next to skiplocked (neither) and
-- skiplocked_notify (the notification only).
\ir skiplocked_notify.sql

ALTER TABLE jobs ADD COLUMN lane_seq bigint;

DROP TABLE IF EXISTS lane_heads;
CREATE TABLE lane_heads (
	queue text NOT NULL,
	priority smallint NOT NULL,
	next_seq bigint NOT NULL DEFAULT 1,
	PRIMARY KEY (queue, priority)
) WITH (fillfactor = 50);
INSERT INTO lane_heads (queue, priority) VALUES ('bench', 2);
