-- Calendar feeds (SPEC §13, migration 0046): secret URLs serving a user's open dated tasks as
-- RFC 5545 text. Only the SHA-256 of a feed's secret is stored.

-- name: create_calendar_feed(user_id, list_id, token_hash, quota)^
-- The new feed; nothing when list_id is not one of the user's lists, or when the user already
-- has `quota` feeds (the caller holds lock_user: creates count in turn).
INSERT INTO calendar_feeds (user_id, list_id, token_hash)
SELECT :user_id, :list_id, :token_hash
 WHERE (:list_id::uuid IS NULL
        OR EXISTS (SELECT FROM lists WHERE user_id = :user_id AND id = :list_id))
   AND (SELECT count(*) FROM calendar_feeds WHERE user_id = :user_id) < :quota
RETURNING id, list_id, created_at;

-- name: calendar_feed_list_role({token}, list_id)^
-- account_ok, and the caller's role on list_id (caller_role: null when it is in no list of
-- theirs; a feed is of a list of one's own, so a member's role is below the operation's).
WITH account AS (SELECT {token_account_ok} AS ok)
SELECT account.ok AS account_ok,
       (SELECT list_role(:user_id, l.user_id, l.id) FROM lists l WHERE l.id = :list_id)
           AS caller_role
  FROM account;

-- name: list_calendar_feeds(user_id)
-- The user's feeds, oldest first (no secret: only its hash is kept).
SELECT id, list_id, created_at
  FROM calendar_feeds
 WHERE user_id = :user_id
 ORDER BY created_at, id;

-- name: delete_calendar_feed(user_id, id)$
-- The id of the deleted feed; nothing when the user has no such feed.
DELETE FROM calendar_feeds WHERE user_id = :user_id AND id = :id RETURNING id;

-- name: calendar_feed_state(token_hash)^
-- The feed of this secret: its id, owner, list (null: every list), the list's name, the owner's
-- revision (it grows with every change of the owner's tasks and lists: the feed's ETag) and
-- zone; nothing when no live feed has this secret (revoked, its list or account deleted).
SELECT f.id, f.user_id, f.list_id, l.name AS list_name, u.revision, u.timezone
  FROM calendar_feeds AS f
  JOIN users AS u ON u.id = f.user_id
  LEFT JOIN lists AS l ON l.user_id = f.user_id AND l.id = f.list_id
 WHERE f.token_hash = :token_hash;

-- name: calendar_feed_tasks(user_id, list_id, limit)
-- The open tasks with a due of the user (of list_id, else of every list), the soonest first,
-- at most `limit`.
SELECT id, parent_id, title, description, priority, due_date, due_on, tags, recurrence,
       created_at, updated_at
  FROM tasks
 WHERE user_id = :user_id
   AND (:list_id::uuid IS NULL OR list_id = :list_id)
   AND NOT is_completed
   AND due_at IS NOT NULL
 ORDER BY due_at, id
 LIMIT :limit;
