-- Refresh tokens. Issuing, rotating and revoking a family run after `lock_user`, and a password
-- change updates the users row before revoking: the user's row lock orders them all, so no new
-- token slips past a revocation, and a token row is only ever locked after its user's row.

-- name: insert_refresh_token(user_id, family_id, token_hash, ttl_seconds)!
-- Nothing: stores the hash of a new refresh token of a login family.
INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at)
VALUES (:user_id, :family_id, :token_hash, now() + make_interval(secs => :ttl_seconds::int));

-- name: refresh_token_owner(token_hash)$
-- The id of the user a refresh token belongs to (any state), or nothing.
SELECT user_id FROM refresh_tokens WHERE token_hash = :token_hash;

-- name: lock_refresh_token(token_hash)^
-- The token with this hash and its state, its row locked until the transaction ends.
SELECT id, user_id, family_id,
       rotated_at IS NOT NULL AS rotated,
       revoked_at IS NOT NULL AS revoked,
       expires_at <= now() AS expired
FROM refresh_tokens
WHERE token_hash = :token_hash
FOR UPDATE;

-- name: mark_rotated(id)!
-- Nothing: the token has been exchanged for its successor.
UPDATE refresh_tokens SET rotated_at = now() WHERE id = :id;

-- name: revoke_refresh_token(token_hash)!
-- Nothing: revokes one token (logout); unknown or already revoked tokens are left alone.
UPDATE refresh_tokens SET revoked_at = now()
WHERE token_hash = :token_hash AND revoked_at IS NULL;

-- name: revoke_family(family_id)!
-- Nothing: revokes every token of one login (a rotated token was presented again).
UPDATE refresh_tokens SET revoked_at = now()
WHERE family_id = :family_id AND revoked_at IS NULL;

-- name: revoke_user_refresh_tokens(user_id)!
-- Nothing: revokes every refresh token of a user (password change).
UPDATE refresh_tokens SET revoked_at = now()
WHERE user_id = :user_id AND revoked_at IS NULL;
