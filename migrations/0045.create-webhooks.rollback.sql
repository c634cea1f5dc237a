DELETE FROM purge_lease WHERE name = 'outbox:webhook';
DELETE FROM outbox WHERE channel = 'webhook';
DROP INDEX outbox_webhook_unsent_idx;
DROP INDEX outbox_webhook_idx;
ALTER TABLE outbox DROP COLUMN webhook_id, DROP COLUMN response_code, DROP COLUMN attempted_at;
DROP TABLE webhooks;
