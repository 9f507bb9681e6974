SELECT awa.enqueue('bench', '{"n": 1}'::jsonb, 'bench');
