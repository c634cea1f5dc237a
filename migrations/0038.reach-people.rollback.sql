DELETE FROM purge_lease WHERE name IN ('outbox:mail', 'outbox:push');
DROP TABLE push_subscriptions;
DROP TABLE outbox;
DROP TABLE mail_requests;
DROP TRIGGER users_void_account_tokens ON users;
DROP FUNCTION void_account_tokens();
DROP TABLE account_tokens;
ALTER TABLE users DROP COLUMN email_verified, DROP COLUMN notify_email, DROP COLUMN notify_push;
