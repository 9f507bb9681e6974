WITH h AS (UPDATE lane_heads SET next_seq = next_seq + 1 WHERE queue = 'bench' AND priority = 2 RETURNING next_seq - 1 AS seq)
INSERT INTO jobs (queue, kind, args, lane_seq) SELECT 'bench', 'bench', '{"n": 1}', seq FROM h;
