-- Personal access tokens (issue 27, SPEC §13; migration 0050). Each write of an account's
-- tokens runs after lock_user, so a count and the insert it allows are one at a time per account.

-- name: create_access_token(id, user_id, name, scopes, token_hash, expires_in_days, quota)^
-- The new token (without its hash), when the account holds fewer than `quota` unexpired
-- tokens once its expired ones are deleted; nothing when it holds that many.
WITH expired AS (
    DELETE FROM access_tokens WHERE user_id = :user_id AND expires_at <= now()
), held AS (
    SELECT count(*) AS n FROM access_tokens WHERE user_id = :user_id AND expires_at > now()
)
INSERT INTO access_tokens (id, user_id, name, scopes, token_hash, expires_at)
SELECT :id, :user_id, :name, :scopes, :token_hash,
       now() + make_interval(days => :expires_in_days::int)
  FROM held WHERE held.n < :quota
RETURNING id, name, scopes, created_at, expires_at, last_used_at;

-- name: list_access_tokens(user_id)
-- The account's tokens (expired ones too, until its next new token deletes them), oldest first.
SELECT id, name, scopes, created_at, expires_at, last_used_at
  FROM access_tokens WHERE user_id = :user_id ORDER BY created_at, id;

-- name: delete_access_token(user_id, id)$
-- The id of the account's token now deleted (ended at once: the account check finds no row),
-- or nothing when the account has no such token.
DELETE FROM access_tokens WHERE user_id = :user_id AND id = :id RETURNING id;

-- name: touch_access_tokens(ids, used_at)!
-- Nothing: each token of `ids` (those still there) last used at its time in `used_at`, never
-- earlier than a time already written.
UPDATE access_tokens AS t
   SET last_used_at = greatest(t.last_used_at, u.used_at)
  FROM unnest(:ids::uuid[], :used_at::timestamptz[]) AS u (id, used_at)
 WHERE t.id = u.id;
