-- Lists, always reached through their owner: every query has user_id in its WHERE clause.
-- A list's position orders it among the user's lists (byte order); every change, a move
-- included, bumps version by one and moves updated_at forward. {list_columns} stands for a
-- list's columns (LIST_COLUMNS in server/db/queries.py).
--
-- As for tasks (tasks.sql), a statement a request starts with also checks the access token's
-- account where it says {token_account_ok}: its answer is always a row, account_ok beside the
-- list's columns (null when there is no such list, or when the account may not act).

-- name: lock_placement({token})^
-- account_ok, having taken the user's transaction-scoped placement lock, which every change of
-- the shape of the user's lists and task trees (a move, a subtask, a new list, a restore) holds
-- while it decides.
SELECT {token_account_ok} AS account_ok,
       pg_advisory_xact_lock(3, hashtext(:user_id::text))::text AS locked;

-- name: next_position()$
-- A position after every position made so far (migration 0010).
SELECT next_position();

-- name: list_lists({token})
-- account_ok on every row, and the user's lists in manual order (none: one row of nulls beside
-- account_ok).
WITH account AS (SELECT {token_account_ok} AS ok)
SELECT account.ok AS account_ok, {list_columns}
  FROM account LEFT JOIN lists ON account.ok AND user_id = :user_id
 ORDER BY position;

-- name: create_list(user_id, name, color, quota)^
-- The new list, placed last; nothing when the user already has `quota` lists.
INSERT INTO lists (user_id, name, color)
SELECT :user_id, :name, :color
 WHERE (SELECT count(*) FROM lists WHERE user_id = :user_id) < :quota
RETURNING {list_columns};

-- name: get_list({token}, id)^
-- account_ok, and the list (null when it is missing or another user's).
WITH account AS (SELECT {token_account_ok} AS ok)
SELECT account.ok AS account_ok, {list_columns}
  FROM account LEFT JOIN lists ON account.ok AND user_id = :user_id AND id = :id;

-- name: update_list({token}, id, versions, name, set_color, color)^
-- account_ok, and the patched list (a null name, or a false set_color, keeps the stored value),
-- or null when it is missing, another user's, or not at one of `versions` (null: any version).
WITH account AS (SELECT {token_account_ok} AS ok),
list AS (
  UPDATE lists
     SET name = coalesce(:name, name),
         color = CASE WHEN :set_color THEN :color ELSE color END,
         version = version + 1,
         updated_at = greatest(now(), updated_at + interval '1 microsecond')
   WHERE (SELECT ok FROM account) AND user_id = :user_id AND id = :id
     AND (:versions::integer[] IS NULL OR version = ANY (:versions))
  RETURNING {list_columns}
)
SELECT account.ok AS account_ok, list.* FROM account LEFT JOIN list ON true;

-- name: delete_list({token}, id, versions)^
-- account_ok, and the deleted list's id (its tasks go with it), or null when it is the inbox,
-- missing, another user's, or not at one of `versions` (null: any version).
WITH account AS (SELECT {token_account_ok} AS ok),
list AS (
  DELETE FROM lists
   WHERE (SELECT ok FROM account) AND user_id = :user_id AND id = :id AND NOT is_inbox
     AND (:versions::integer[] IS NULL OR version = ANY (:versions))
  RETURNING id
)
SELECT account.ok AS account_ok, list.id FROM account LEFT JOIN list ON true;

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
RETURNING {list_columns};

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
