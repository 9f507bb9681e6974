SELECT * FROM awa.queue_counts('bench');
