SELECT pgq.insert_event('bench', 'bench', extract(epoch FROM clock_timestamp())::text);
