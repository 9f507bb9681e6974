SELECT queue_name, consumer_name, lag, pending_events FROM pgq.get_consumer_info('bench', 'bench_consumer');
