INSERT INTO jobs (queue, kind, args) VALUES ('bench', 'bench', jsonb_build_object('t', extract(epoch FROM clock_timestamp())));
