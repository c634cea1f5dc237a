-- Login families (sessions) and their refresh tokens. Issuing, rotating and ending run after
-- `lock_user`, and a password change updates the users row before ending the families: the
-- user's row lock orders them all, so no new token slips past a revocation, and a token or
-- family row is only ever locked after its user's row.

-- name: token_account_ok(user_id, session_id, token_hash)$
-- True while an access token's login family is live: its account exists, nothing ended it, and
-- it is within its lifetime (past it, nothing could end it any more). For a personal access
-- token (token_hash given; session_id is its id): while its row is there (not deleted, not
-- ended by a password reset or with its account), holds exactly this token's hash, and has not
-- expired.
-- The one place for this check: each task statement embeds this expression where it says
-- {token_account_ok}, and its parameters where it says {token} (server/db/queries.py); other
-- operations run it alone.
SELECT CASE WHEN :token_hash::bytea IS NULL THEN EXISTS (
    SELECT 1 FROM login_families
    WHERE id = :session_id AND user_id = :user_id AND ended_at IS NULL AND expires_at > now()
) ELSE EXISTS (
    SELECT 1 FROM access_tokens
    WHERE id = :session_id AND user_id = :user_id AND token_hash = :token_hash
      AND expires_at > now()
) END;

-- name: insert_login_family(id, user_id, ttl_seconds, user_agent)!
-- Nothing: starts a login family that lives at most ttl_seconds however often it is refreshed.
INSERT INTO login_families (id, user_id, expires_at, user_agent)
VALUES (:id, :user_id, now() + make_interval(secs => :ttl_seconds::int), left(:user_agent, 512));

-- name: insert_refresh_token(user_id, family_id, token_hash, ttl_seconds)!
-- Nothing: stores the hash of a new refresh token of a login family (never outliving it).
INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at)
SELECT :user_id, :family_id, :token_hash,
       least(now() + make_interval(secs => :ttl_seconds::int), expires_at)
FROM login_families WHERE id = :family_id;

-- name: refresh_token_owner(token_hash)^
-- The user and family a refresh token belongs to (any state), or nothing.
SELECT user_id, family_id FROM refresh_tokens WHERE token_hash = :token_hash;

-- name: lock_refresh_token(token_hash, grace_seconds)^
-- The token with this hash and its state (just_rotated: spent within grace_seconds), its row locked until the transaction ends.
SELECT t.id, t.user_id, t.family_id,
       t.rotated_at IS NOT NULL AS rotated,
       t.rotated_at > now() - make_interval(secs => :grace_seconds) AS just_rotated,
       t.revoked_at IS NOT NULL OR f.ended_at IS NOT NULL AS revoked,
       t.expires_at <= now() OR f.expires_at <= now() AS expired
FROM refresh_tokens t JOIN login_families f ON f.id = t.family_id
WHERE t.token_hash = :token_hash
FOR UPDATE OF t;

-- name: mark_rotated(id)!
-- Nothing: the token has been exchanged for its successor.
UPDATE refresh_tokens SET rotated_at = now() WHERE id = :id;

-- name: touch_family(id, user_agent)!
-- Nothing: the family was just used (refreshed) by this user agent.
UPDATE login_families SET last_used_at = now(), user_agent = left(:user_agent, 512)
WHERE id = :id;

-- name: end_family(user_id, id)$
-- The id of the family of this user that was live and is now ended, with its refresh tokens.
WITH ended AS (
    UPDATE login_families SET ended_at = now()
    WHERE id = :id AND user_id = :user_id AND ended_at IS NULL AND expires_at > now()
    RETURNING id
), revoked AS (
    UPDATE refresh_tokens SET revoked_at = now()
    WHERE family_id = :id AND revoked_at IS NULL AND EXISTS (SELECT 1 FROM ended)
)
SELECT id FROM ended;

-- name: end_user_credentials(user_id)!
-- Nothing: ends every family of a user and revokes every refresh token (password change or
-- reset, logout-all), their access tokens stopping with them, and deletes every personal access
-- token of the user (sql/access_tokens.sql).
WITH ended AS (
    UPDATE login_families SET ended_at = now() WHERE user_id = :user_id AND ended_at IS NULL
), tokens AS (
    DELETE FROM access_tokens WHERE user_id = :user_id
)
UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = :user_id AND revoked_at IS NULL;

-- name: list_sessions(user_id)
-- The user's live login families (a usable refresh token left), newest first.
SELECT f.id, f.created_at, f.last_used_at, f.user_agent
FROM login_families f
WHERE f.user_id = :user_id AND f.ended_at IS NULL AND f.expires_at > now()
  AND EXISTS (
      SELECT 1 FROM refresh_tokens t
      WHERE t.family_id = f.id AND t.rotated_at IS NULL AND t.revoked_at IS NULL
        AND t.expires_at > now()
  )
ORDER BY f.created_at DESC, f.id;
