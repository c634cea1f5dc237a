-- depends: 0037.signal-session-ends
-- Reaching people (SPEC §12): verified addresses and what each account wants to be told, the
-- tokens mailed to people, the mail requests the limits count, the outbox every mail and push
-- leaves from, and the browsers' push subscriptions.
ALTER TABLE users
    ADD COLUMN email_verified boolean NOT NULL DEFAULT false,
    ADD COLUMN notify_email   boolean NOT NULL DEFAULT false,
    ADD COLUMN notify_push    boolean NOT NULL DEFAULT false;

-- A token mailed to `email` (the account's address, or the new one of an email change): only
-- its SHA-256 is kept; using it deletes the row (single use).
CREATE TABLE account_tokens (
    token_hash bytea       PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    text        NOT NULL
               CHECK (purpose IN ('verify-email', 'reset-password', 'change-email')),
    email      text        NOT NULL,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX account_tokens_user_idx ON account_tokens (user_id);
CREATE INDEX account_tokens_expires_idx ON account_tokens (expires_at);

-- A token outlives neither the address it was mailed to nor, for a reset or an email change,
-- the password it was asked under: a new address voids every token of the account (a reset
-- mailed to the old address, a verification of it, another pending change), a new password
-- voids pending resets and email changes (someone who learnt the password and asked to move
-- the account to their address loses that when the owner changes it). Every writer of users
-- is covered, those to come too.
CREATE FUNCTION void_account_tokens() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF lower(NEW.email) <> lower(OLD.email) THEN
        DELETE FROM account_tokens WHERE user_id = NEW.id;
    ELSE
        DELETE FROM account_tokens
         WHERE user_id = NEW.id AND purpose IN ('reset-password', 'change-email');
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER users_void_account_tokens AFTER UPDATE OF email, password_hash ON users
    FOR EACH ROW
    WHEN (lower(OLD.email) <> lower(NEW.email) OR OLD.password_hash <> NEW.password_hash)
    EXECUTE FUNCTION void_account_tokens();

-- Mails asked for, for their limits: per address (lower-cased) and per client for password
-- resets, per account for verifications and email changes. `mailed`: whether a mail went.
CREATE TABLE mail_requests (
    kind         text        NOT NULL,
    address      text        NOT NULL,
    client       text        NOT NULL,
    user_id      uuid,
    mailed       boolean     NOT NULL,
    requested_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mail_requests_address_idx ON mail_requests (kind, address, requested_at);
CREATE INDEX mail_requests_client_idx ON mail_requests (kind, client, requested_at);
CREATE INDEX mail_requests_user_idx ON mail_requests (user_id, requested_at)
    WHERE user_id IS NOT NULL;
CREATE INDEX mail_requests_requested_idx ON mail_requests (requested_at);

-- Everything that leaves the service for someone else's server, written in the transaction
-- that causes it and delivered by the cluster's one sender of its channel ('mail', 'push'; a
-- later channel such as webhooks adds its name and a deliverer, not a table). A row is due
-- from next_attempt_at; a sender claims a batch (claimed_until) so a second sender, should
-- one run while a lease changes hands, passes it by; sent_at or failed_at ends it.
CREATE TABLE outbox (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel         text        NOT NULL,
    payload         jsonb       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    attempts        integer     NOT NULL DEFAULT 0,
    claimed_until   timestamptz,
    sent_at         timestamptz,
    failed_at       timestamptz,
    last_error      text
);
-- What a sender looks for, and /ready's oldest unsent row: only rows not yet done are indexed.
CREATE INDEX outbox_due_idx ON outbox (channel, next_attempt_at, id)
    WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX outbox_unsent_idx ON outbox (created_at)
    WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX outbox_done_idx ON outbox (coalesce(sent_at, failed_at))
    WHERE sent_at IS NOT NULL OR failed_at IS NOT NULL;

-- A browser's PushSubscription (RFC 8030 endpoint, RFC 8291 keys), per account.
CREATE TABLE push_subscriptions (
    id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    endpoint   text        NOT NULL,
    p256dh     text        NOT NULL,
    auth       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, endpoint)
);

INSERT INTO purge_lease (name, holder, leased_until)
VALUES ('outbox:mail', '', '-infinity'), ('outbox:push', '', '-infinity');
