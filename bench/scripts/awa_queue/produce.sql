SELECT awa.enqueue('bench', jsonb_build_object('t', extract(epoch FROM clock_timestamp())), 'bench');
