DROP INDEX login_failures_failed_idx;
DROP INDEX refresh_tokens_expires_idx;
DROP TABLE purge_lease;
