-- depends: 0049.sync-members
-- Personal access tokens (issue 27, SPEC §13): credentials for scripts, each holding scopes.
-- Only a keyed hash of the secret is kept (server/access/personal.py); the token is shown once.
-- A token ends when its row goes: deleted by its owner, by a password reset, or with the account
-- (the cascade). Its going signals its user on channel todo_events, delivered at commit, as a
-- login family's end does (migration 0037), so every instance's event streams opened with it end.
CREATE TABLE access_tokens (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    scopes       text[]      NOT NULL CHECK (cardinality(scopes) BETWEEN 1 AND 5),
    token_hash   bytea       NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    last_used_at timestamptz
);

-- A user's tokens, oldest first.
CREATE INDEX access_tokens_user_idx ON access_tokens (user_id, created_at, id);

CREATE TRIGGER access_tokens_gone AFTER DELETE ON access_tokens
    FOR EACH ROW EXECUTE FUNCTION signal_session_end();
