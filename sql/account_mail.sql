-- Mails to account holders (SPEC §12): verification, password reset, email change. Each request
-- writes its token (only a hash), its outbox row and its mail request in one statement; the
-- token itself reaches the outbox sealed (server/mail/sealing.py), never in the clear. Each
-- row names its account (`user_id`): deleting the account takes its unsent mails with it.

-- name: lock_reset_limits(email, client)!
-- Nothing: takes this address's, then this client's, transaction-scoped reset lock.
SELECT pg_advisory_xact_lock(6, hashtext(lower(:email))),
       pg_advisory_xact_lock(7, hashtext(:client));

-- name: reset_retry_after(client, per_client)$
-- Seconds until this client may ask for a password reset again; NULL when it may now.
SELECT ceil(extract(epoch FROM
    (SELECT requested_at FROM mail_requests
      WHERE kind = 'reset-password' AND client = :client
        AND requested_at > now() - interval '1 hour'
      ORDER BY requested_at DESC OFFSET :per_client::int - 1 LIMIT 1)
    - now()) + 3600)::int;

-- name: request_password_reset(email, client, token_hash, token, ttl_seconds, per_address)$
-- Whether a reset was mailed: the request is recorded, and when `email` names an account (any
-- letter case) whose address had fewer than per_address reset mails this hour, a token for it
-- is stored and a mail to the account's own stored address (never the spelling asked with) is
-- written. Known and unknown addresses run this same statement. An account being deleted is
-- waited for (FOR KEY SHARE), then counts as no account: its token would break the foreign key.
WITH account AS (
    SELECT id, email, name FROM users WHERE lower(email) = lower(:email) FOR KEY SHARE
), address AS (
    SELECT coalesce((SELECT lower(email) FROM account), lower(:email)) AS key
), allowed AS (
    SELECT * FROM account
     WHERE (SELECT count(*) FROM mail_requests
             WHERE kind = 'reset-password' AND mailed
               AND address = (SELECT key FROM address)
               AND requested_at > now() - interval '1 hour') < :per_address
), token AS (
    INSERT INTO account_tokens (token_hash, user_id, purpose, email, expires_at)
    SELECT :token_hash, id, 'reset-password', email,
           now() + make_interval(secs => :ttl_seconds::int)
      FROM allowed
), mail AS (
    INSERT INTO outbox (channel, payload)
    SELECT 'mail', jsonb_build_object('kind', 'reset-password', 'to', email, 'name', name,
                                      'token', :token::text, 'user_id', id)
      FROM allowed
), asked AS (
    INSERT INTO mail_requests (kind, address, client, user_id, mailed)
    SELECT 'reset-password', key, :client, (SELECT id FROM account),
           EXISTS (SELECT 1 FROM allowed)
      FROM address
)
SELECT EXISTS (SELECT 1 FROM allowed);

-- name: account_mail_retry_after(user_id, kind, per_account)$
-- Seconds until the account may be sent another mail of this kind; NULL when it may now.
SELECT ceil(extract(epoch FROM
    (SELECT requested_at FROM mail_requests
      WHERE user_id = :user_id AND kind = :kind AND mailed
        AND requested_at > now() - interval '1 hour'
      ORDER BY requested_at DESC OFFSET :per_account::int - 1 LIMIT 1)
    - now()) + 3600)::int;

-- name: mail_verification(user_id, client, token_hash, token, ttl_seconds)$
-- Whether a verification mail to the account's address was written (with its token and its
-- mail request); false when the account is gone.
WITH account AS (
    SELECT id, email, name FROM users WHERE id = :user_id
), token AS (
    INSERT INTO account_tokens (token_hash, user_id, purpose, email, expires_at)
    SELECT :token_hash, id, 'verify-email', email,
           now() + make_interval(secs => :ttl_seconds::int)
      FROM account
), mail AS (
    INSERT INTO outbox (channel, payload)
    SELECT 'mail', jsonb_build_object('kind', 'verify-email', 'to', email, 'name', name,
                                      'token', :token::text, 'user_id', id)
      FROM account
), asked AS (
    INSERT INTO mail_requests (kind, address, client, user_id, mailed)
    SELECT 'verify-email', lower(email), :client, id, true FROM account
)
SELECT EXISTS (SELECT 1 FROM account);

-- name: mail_email_change(user_id, new_email, client, token_hash, token, ttl_seconds)$
-- Whether an email change was asked: a token for the new address, a confirmation mail to it and
-- a notice to the account's present address; false when the account is gone.
WITH account AS (
    SELECT id, email, name FROM users WHERE id = :user_id
), token AS (
    INSERT INTO account_tokens (token_hash, user_id, purpose, email, expires_at)
    SELECT :token_hash, id, 'change-email', :new_email,
           now() + make_interval(secs => :ttl_seconds::int)
      FROM account
), mail AS (
    INSERT INTO outbox (channel, payload)
    SELECT 'mail', jsonb_build_object('kind', 'confirm-email-change', 'to', :new_email::text,
                                      'name', name, 'token', :token::text, 'user_id', id)
      FROM account
    UNION ALL
    SELECT 'mail', jsonb_build_object('kind', 'email-change-notice', 'to', email,
                                      'name', name, 'new_email', :new_email::text, 'user_id', id)
      FROM account
), asked AS (
    INSERT INTO mail_requests (kind, address, client, user_id, mailed)
    SELECT 'change-email', lower(:new_email), :client, id, true FROM account
)
SELECT EXISTS (SELECT 1 FROM account);

-- name: email_in_use(email, user_id)$
-- 'other' when another account has this email in any letter case, 'same' when it is this
-- account's address spelt exactly so; NULL when it is free or this account's in another case.
SELECT CASE WHEN id <> :user_id THEN 'other' WHEN email = :email THEN 'same' END
FROM users WHERE lower(email) = lower(:email);

-- name: account_token_owner(token_hash, purpose)$
-- The account a live token of this purpose belongs to, or nothing (unknown, used or expired).
SELECT user_id FROM account_tokens
WHERE token_hash = :token_hash AND purpose = :purpose AND expires_at > now();

-- name: use_account_token(token_hash, purpose)^
-- The account and address of a live token of this purpose, deleted as it is read (single use;
-- of two concurrent uses one gets it), or nothing. Run after lock_user of its account.
DELETE FROM account_tokens
WHERE token_hash = :token_hash AND purpose = :purpose AND expires_at > now()
RETURNING user_id, email;

-- name: reset_password(id, email, password_hash)$
-- The account's id once its password is replaced (the users trigger voids its other reset and
-- email-change tokens); its email counts as verified when it is still the address mailed.
UPDATE users
   SET password_hash = :password_hash, updated_at = now(),
       email_verified = email_verified OR lower(email) = lower(:email)
 WHERE id = :id
RETURNING id;

-- name: mark_email_verified(id, email)^
-- The account with its email verified, when `email` is still its address; else nothing.
UPDATE users SET email_verified = true, updated_at = now()
WHERE id = :id AND lower(email) = lower(:email)
RETURNING {user_columns};

-- name: move_email(id, email)^
-- The account at its new, verified address (unique in any letter case: else a unique
-- violation), or nothing when it is gone.
UPDATE users SET email = :email, email_verified = true, updated_at = now()
WHERE id = :id
RETURNING {user_columns};

-- name: purge_account_tokens()$
-- How many expired mailed tokens were deleted.
WITH gone AS (DELETE FROM account_tokens WHERE expires_at < now() RETURNING 1)
SELECT count(*) FROM gone;

-- name: purge_mail_requests()$
-- How many mail requests older than their hour were forgotten.
WITH gone AS (
    DELETE FROM mail_requests WHERE requested_at < now() - interval '1 hour' RETURNING 1
)
SELECT count(*) FROM gone;
