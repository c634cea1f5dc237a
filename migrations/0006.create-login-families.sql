-- depends: 0003.create-refresh-tokens
-- A login family: one login and its chain of refresh-token rotations, listed to its account as a
-- session. Access tokens name their family (claim `sid`): ending the family ends them, at once.
CREATE TABLE login_families (
    id           uuid        PRIMARY KEY,
    user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    user_agent   text        CHECK (length(user_agent) <= 512),
    ended_at     timestamptz
);

CREATE INDEX login_families_user_idx ON login_families (user_id);

-- The families of the refresh tokens issued before this migration, each living 90 days.
INSERT INTO login_families (id, user_id, created_at, last_used_at, expires_at, ended_at)
SELECT family_id, (array_agg(user_id))[1], min(created_at), max(created_at),
       min(created_at) + interval '90 days',
       CASE WHEN bool_and(revoked_at IS NOT NULL) THEN max(revoked_at) END
FROM refresh_tokens
GROUP BY family_id;

ALTER TABLE refresh_tokens
    ADD CONSTRAINT refresh_tokens_family_fkey
    FOREIGN KEY (family_id) REFERENCES login_families (id) ON DELETE CASCADE;
