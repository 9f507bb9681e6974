INSERT INTO jobs (queue, kind, args) SELECT 'bench', 'bench', jsonb_build_object('n', g) FROM generate_series(1, 100) g;
