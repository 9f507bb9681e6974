SELECT pgq.insert_event('bench', 'bench', '{"n": 1}');
