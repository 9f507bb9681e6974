SELECT count(pgq.insert_event('bench', 'bench', jsonb_build_object('n', g)::text)) FROM generate_series(1, 100) g;
