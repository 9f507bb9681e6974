INSERT INTO jobs (queue, kind, args) VALUES ('bench', 'bench', '{"n": 1}');
