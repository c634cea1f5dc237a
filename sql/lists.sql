-- Lists, always reached through their owner: every query has user_id in its WHERE clause.
-- A list's position orders it among the user's lists (byte order); every change, a move
-- included, bumps version by one and moves updated_at forward.

-- name: lock_placement(user_id)!
-- Nothing: takes the user's transaction-scoped placement lock, which every change of the shape
-- of the user's lists and task trees (a move, a subtask, a new list) holds while it decides.
SELECT pg_advisory_xact_lock(3, hashtext(:user_id));

-- name: next_position()$
-- A position after every position made so far (migration 0010).
SELECT next_position();

-- name: list_lists(user_id)
-- The user's lists in manual order.
SELECT id, user_id, name, color, position, is_inbox, created_at, updated_at, version
  FROM lists
 WHERE user_id = :user_id
 ORDER BY position;

-- name: create_list(user_id, name, color, quota)^
-- The new list, placed last; nothing when the user already has `quota` lists.
INSERT INTO lists (user_id, name, color)
SELECT :user_id, :name, :color
 WHERE (SELECT count(*) FROM lists WHERE user_id = :user_id) < :quota
RETURNING id, user_id, name, color, position, is_inbox, created_at, updated_at, version;

-- name: get_list(user_id, id)^
-- The list, or nothing when it is missing or another user's.
SELECT id, user_id, name, color, position, is_inbox, created_at, updated_at, version
  FROM lists
 WHERE user_id = :user_id AND id = :id;

-- name: update_list(user_id, id, versions, name, set_color, color)^
-- The patched list (a null name, or a false set_color, keeps the stored value), or nothing
-- when it is missing, another user's, or not at one of `versions` (null: any version).
UPDATE lists
   SET name = coalesce(:name, name),
       color = CASE WHEN :set_color THEN :color ELSE color END,
       version = version + 1,
       updated_at = greatest(now(), updated_at + interval '1 microsecond')
 WHERE user_id = :user_id AND id = :id
   AND (:versions::integer[] IS NULL OR version = ANY (:versions))
RETURNING id, user_id, name, color, position, is_inbox, created_at, updated_at, version;

-- name: delete_list(user_id, id, versions)$
-- The deleted list's id (its tasks go with it), or null when it is the inbox, missing,
-- another user's, or not at one of `versions` (null: any version).
DELETE FROM lists
 WHERE user_id = :user_id AND id = :id AND NOT is_inbox
   AND (:versions::integer[] IS NULL OR version = ANY (:versions))
RETURNING id;

-- name: list_state(user_id, id)^
-- The list's version and whether it is the inbox, or nothing when it is missing or another
-- user's (tells 404 from 412 from 409).
SELECT version, is_inbox FROM lists WHERE user_id = :user_id AND id = :id;

-- name: move_list(user_id, id, position)^
-- The list at its new position (null: after every list).
UPDATE lists
   SET position = coalesce(:position, next_position()),
       version = version + 1,
       updated_at = greatest(now(), updated_at + interval '1 microsecond')
 WHERE user_id = :user_id AND id = :id
RETURNING id, user_id, name, color, position, is_inbox, created_at, updated_at, version;

-- name: list_neighbours(user_id, id, after_id)^
-- Where a list goes right after the list after_id (null: first), leaving out the list `id`
-- being moved: whether after_id is another of the user's lists, and the positions around.
WITH after AS (
    SELECT position FROM lists WHERE user_id = :user_id AND id = :after_id AND id <> :id
)
SELECT EXISTS (SELECT FROM after) AS found,
       (SELECT position FROM after) AS low,
       (SELECT position FROM lists
         WHERE user_id = :user_id AND id <> :id
           AND position > coalesce((SELECT position FROM after), '')
         ORDER BY position LIMIT 1) AS high;

-- name: list_positions(user_id, id)
-- The (id, position) of the user's lists but `id`, in order (to renumber a crowded run).
SELECT id, position FROM lists WHERE user_id = :user_id AND id <> :id ORDER BY position;

-- name: park_lists(user_id, ids)!
-- Nothing: gives these lists interim positions that no key takes ('~' sorts after every
-- digit), so that a renumbered run never meets its old positions.
UPDATE lists SET position = '~' || id WHERE user_id = :user_id AND id = ANY (:ids::uuid[]);

-- name: renumber_lists(user_id, ids, positions)!
-- Nothing: each list of `ids` takes the position at the same index; each is a change.
UPDATE lists AS l
   SET position = r.position,
       version = l.version + 1,
       updated_at = greatest(now(), l.updated_at + interval '1 microsecond')
  FROM unnest(:ids::uuid[], :positions::text[]) AS r (id, position)
 WHERE l.user_id = :user_id AND l.id = r.id;
