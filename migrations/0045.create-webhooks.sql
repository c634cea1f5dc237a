-- depends: 0041.share-lists
-- Webhooks (issue 27, SPEC §13): an account's receivers of its changes and reminders. A webhook
-- keeps a cursor into its owner's change feed (the revision up to which the feed's entries are
-- queued): the dispatcher turns the entries after it into deliveries and moves it in one
-- transaction, so each change is queued once, in commit order. Deliveries are rows of the outbox
-- (channel 'webhook') naming their webhook: deleting a webhook, or its account, deletes its
-- queued deliveries with it.
CREATE TABLE webhooks (
    id              uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id         uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    url             text        NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
    events          text[]      NOT NULL CHECK (cardinality(events) BETWEEN 1 AND 16),
    secret          text        NOT NULL,  -- whsec_ + base64 of the signing key
    enabled         boolean     NOT NULL DEFAULT true,
    disabled_reason text,
    cursor          bigint      NOT NULL,  -- the owner's revision whose changes are queued
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_user_idx ON webhooks (user_id, created_at, id);
-- The dispatcher's look for webhooks behind their owner's feed.
CREATE INDEX webhooks_enabled_idx ON webhooks (user_id) WHERE enabled;

-- A delivery's webhook, and what its receiver answered last (the body only as an excerpt, in
-- last_error).
ALTER TABLE outbox
    ADD COLUMN webhook_id    uuid REFERENCES webhooks (id) ON DELETE CASCADE,
    ADD COLUMN response_code smallint,
    ADD COLUMN attempted_at  timestamptz;
-- A webhook's deliveries in the order they were queued: its next one to send, and its log.
CREATE INDEX outbox_webhook_idx ON outbox (webhook_id, id) WHERE webhook_id IS NOT NULL;
-- Each webhook's deliveries still to send, in order: the dispatcher looks up every enabled
-- webhook's next one each round, which through the index above walked past all the delivered
-- ones kept for the log (7 days of them) first.
CREATE INDEX outbox_webhook_unsent_idx ON outbox (webhook_id, id)
    WHERE webhook_id IS NOT NULL AND sent_at IS NULL AND failed_at IS NULL;

INSERT INTO purge_lease (name, holder, leased_until) VALUES ('outbox:webhook', '', '-infinity');
