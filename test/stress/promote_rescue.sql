-- storm: promote due scheduled/retryable jobs and rescue expired attempts
SELECT awa.promote_due(256);
SELECT awa.rescue_expired(256);
