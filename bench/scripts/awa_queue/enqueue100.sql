SELECT count(*) FROM awa.enqueue_many((SELECT jsonb_agg(jsonb_build_object('kind', 'bench', 'queue', 'bench', 'args', jsonb_build_object('n', g))) FROM generate_series(1, 100) g));
