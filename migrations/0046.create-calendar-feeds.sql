-- depends: 0041.share-lists
-- Calendar feeds (issue 27, SPEC §13): secret URLs that serve a user's open dated tasks as
-- RFC 5545 text without a bearer token. Only the SHA-256 of the secret is kept; the URL is
-- shown once. A feed names one list (null: every list of its owner) and ends with that list
-- and with the account (the cascades): its URL then answers 404, as a revoked one does.
CREATE TABLE calendar_feeds (
    id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    list_id    uuid,
    token_hash bytea       NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (user_id, list_id) REFERENCES lists (user_id, id) ON DELETE CASCADE
);

-- A user's feeds, newest last.
CREATE INDEX calendar_feeds_user_idx ON calendar_feeds (user_id, created_at, id);
