-- depends: 0043.comment-tasks 0048.trash-keeps-people
-- Every member's change feed (issue 26, SPEC §11 "Sync"). A member's /changes and /events carry
-- the shared lists' objects in commit order, once each, on the member's own revision counter
-- (so a since token of today stays what it was: a position on one counter, bound to the user).
--
-- member_changes is a log per member: one entry per object (its latest), stamped with the
-- MEMBER's next revision; an upsert names the object (the feed reads its current state in the
-- same statement), a delete carries nothing. It is written only at commit, by the owner's
-- stamp (0040's stamp_revisions, once per owner a transaction wrote), which now first locks the
-- owner and every member of the owner's lists, in user-id order (two owners sharing with each
-- other lock the same rows in the same order: no deadlock), and then reads, under those locks,
-- who belongs to which list. Membership changes take the owner's stamp too (they touch the
-- list: its member_count changes), so a write and a membership change of one owner's list are
-- ordered by the owner's row: a write committed after a join reaches the joiner, one committed
-- before is in the state the join brings; a write committed after a removal never reaches the
-- removed member, one committed before reaches them before their deletes. That is "no follower
-- ever receives an object of a list it does not belong to at that revision".
--
-- What the stamp fans out, to the members only (an owner whose lists never had members skips it
-- on a flag of their users row, users.shares):
-- - a membership ended (removal, leaving, the list or an account deleted): deletes of every
--   object the member holds from that list (their upserts with that list_id);
-- - a membership begun: upserts of the list and its live tasks (O(list) once, one statement);
-- - a list written (renamed, a membership begun, changed or ended): an upsert for its members;
-- - a task written: an upsert for the members of its list, a delete for whoever holds it and no
--   longer belongs to its list (moved out of their sight);
-- - a tombstone: a delete for whoever holds the object;
-- - a comment (kind 'comment', migration 0043) follows its task: a join brings the comments of
--   the list's live tasks; a comment written goes to the members of its task's list, its task
--   gone to the trash takes it to its holders as a delete; a task written brings its comments to
--   the members of its list who do not yet hold it there (moved in: the entries take the new
--   list_id, so a later removal finds them) and deletes them for holders who lost sight of it.

ALTER TABLE list_members ADD COLUMN revision bigint;  -- null: waits for its commit's fan-out
-- Whether the user's lists ever had members: until then their commit stamp is 0040's, plus the
-- read of this flag.
ALTER TABLE users ADD COLUMN shares boolean NOT NULL DEFAULT false;
UPDATE users SET shares = true WHERE id IN (SELECT owner_id FROM list_members);
CREATE INDEX list_members_owner_idx ON list_members (owner_id, list_id);

CREATE TABLE member_changes (
    member_id  uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       text        NOT NULL,
    object_id  uuid        NOT NULL,
    owner_id   uuid        NOT NULL,  -- whose data the object is (routes the read)
    list_id    uuid        NOT NULL,  -- the list it was in when last upserted
    op         text        NOT NULL CHECK (op IN ('upsert', 'delete')),
    revision   bigint      NOT NULL,  -- the member's
    changed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (member_id, kind, object_id)
);
CREATE INDEX member_changes_member_revision_idx ON member_changes (member_id, revision);
-- Who holds an object (its deletes), and what a member holds of a list (its removal).
CREATE INDEX member_changes_held_idx ON member_changes (object_id) WHERE op = 'upsert';
CREATE INDEX member_changes_member_list_idx ON member_changes (member_id, list_id)
    WHERE op = 'upsert';
CREATE INDEX member_changes_changed_idx ON member_changes (changed_at) WHERE op = 'delete';

-- Memberships ended in a transaction, until its commit's stamp fans them out (user_id: the
-- list's owner). Only the transaction that ends a membership sees its row.
CREATE TABLE membership_ends (
    user_id   uuid NOT NULL,
    list_id   uuid NOT NULL,
    member_id uuid NOT NULL
);
CREATE INDEX membership_ends_user_idx ON membership_ends (user_id);

-- A membership begun or changed waits for its commit; its list is written (member_count, role).
CREATE FUNCTION membership_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO membership_ends (user_id, list_id, member_id)
        VALUES (OLD.owner_id, OLD.list_id, OLD.member_id);
        UPDATE lists SET revision = NULL WHERE user_id = OLD.owner_id AND id = OLD.list_id;
    ELSE
        UPDATE users SET shares = true WHERE id = NEW.owner_id AND NOT shares;
        UPDATE list_members SET revision = NULL
         WHERE list_id = NEW.list_id AND member_id = NEW.member_id AND revision IS NOT NULL;
        UPDATE lists SET revision = NULL WHERE user_id = NEW.owner_id AND id = NEW.list_id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER list_members_changed AFTER INSERT OR DELETE OR UPDATE OF role, position
    ON list_members FOR EACH ROW EXECUTE FUNCTION membership_changed();

-- The users whose rows the owner's stamp locks, in id order: the owner, and each member the
-- fan-out may write to (the members of the lists this transaction wrote or wrote tasks in, and
-- of memberships it began, changed or ended; whoever holds a task or comment it wrote or deleted:
-- a holder of a comment holds its task, so the holders of a written task's comments are among
-- its holders): O(members of the lists written), not of every list the owner shares.
CREATE FUNCTION stamp_circle(owner uuid) RETURNS uuid[] LANGUAGE sql STABLE AS $$
    WITH written AS (
        SELECT id AS list_id FROM lists WHERE user_id = owner AND revision IS NULL
        UNION
        SELECT list_id FROM tasks WHERE user_id = owner AND revision IS NULL
        UNION
        SELECT t.list_id FROM comments AS k JOIN tasks AS t ON t.id = k.task_id
         WHERE k.user_id = owner AND k.revision IS NULL AND t.user_id = owner
    ), gone AS (
        SELECT id FROM tasks WHERE user_id = owner AND revision IS NULL
        UNION ALL
        SELECT id FROM tombstones WHERE user_id = owner AND revision IS NULL
        UNION ALL
        SELECT id FROM comments WHERE user_id = owner AND revision IS NULL
    )
    SELECT ARRAY(SELECT id FROM (
        SELECT owner AS id
        UNION
        SELECT m.member_id FROM list_members AS m
         WHERE m.owner_id = owner
           AND (m.revision IS NULL OR m.list_id IN (SELECT list_id FROM written))
        UNION
        SELECT c.member_id FROM member_changes AS c
         WHERE c.op = 'upsert' AND c.object_id IN (SELECT id FROM gone)
        UNION
        SELECT member_id FROM membership_ends WHERE user_id = owner
    ) AS c ORDER BY id)
$$;

-- The owner's fan-out, once its circle is locked: everything this transaction wrote of the
-- owner's that members must hear, computed in one snapshot (before any of it is written), and
-- written in the same statement into each member's log with the member's next revisions (lists
-- first); one entry per (member, kind, object), the latest step's. Its members are signalled.
CREATE FUNCTION fan_out(owner uuid) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    touched uuid[];
BEGIN
    WITH ended AS (
        DELETE FROM membership_ends WHERE user_id = owner RETURNING list_id, member_id
    ), joined AS (
        SELECT m.member_id, m.list_id FROM list_members AS m
         WHERE m.owner_id = owner AND m.revision IS NULL
           AND NOT EXISTS (SELECT FROM member_changes AS c
                            WHERE c.member_id = m.member_id AND c.kind = 'list'
                              AND c.object_id = m.list_id AND c.op = 'upsert')
    ), fan AS (
        -- 1. ended memberships: deletes of what the member holds of that list
        SELECT 1 AS p, c.member_id, c.kind, c.object_id, c.list_id, 'delete' AS op
          FROM ended AS e
          JOIN member_changes AS c
            ON c.member_id = e.member_id AND c.list_id = e.list_id AND c.op = 'upsert'
        UNION ALL
        -- 2. begun memberships: the list's live tasks
        SELECT 2, j.member_id, 'task', t.id, t.list_id, 'upsert'
          FROM joined AS j JOIN tasks AS t ON t.user_id = owner AND t.list_id = j.list_id
        UNION ALL
        -- ... and their comments
        SELECT 2, j.member_id, 'comment', k.id, t.list_id, 'upsert'
          FROM joined AS j JOIN tasks AS t ON t.user_id = owner AND t.list_id = j.list_id
          JOIN comments AS k ON k.user_id = owner AND k.task_id = t.id AND k.deleted_at IS NULL
        UNION ALL
        -- 3. lists written (a membership begun or changed writes its list)
        SELECT 3, m.member_id, 'list', l.id, l.id, 'upsert'
          FROM lists AS l JOIN list_members AS m ON m.list_id = l.id
         WHERE l.user_id = owner AND l.revision IS NULL
        UNION ALL
        -- 4. tasks written: upserts to their list's members...
        SELECT 4, m.member_id, 'task', t.id, t.list_id, 'upsert'
          FROM tasks AS t JOIN list_members AS m ON m.list_id = t.list_id
         WHERE t.user_id = owner AND t.revision IS NULL
        UNION ALL
        -- ... deletes to whoever holds one and no longer sees its list
        SELECT 4, c.member_id, 'task', t.id, c.list_id, 'delete'
          FROM tasks AS t
          JOIN member_changes AS c ON c.object_id = t.id AND c.kind = 'task' AND c.op = 'upsert'
         WHERE t.user_id = owner AND t.revision IS NULL
           AND NOT EXISTS (SELECT FROM list_members AS m
                            WHERE m.list_id = t.list_id AND m.member_id = c.member_id)
        UNION ALL
        -- 5. tombstones: deletes to whoever holds the object
        SELECT 5, c.member_id, c.kind, c.object_id, c.list_id, 'delete'
          FROM tombstones AS s
          JOIN member_changes AS c ON c.object_id = s.id AND c.kind = s.kind AND c.op = 'upsert'
         WHERE s.user_id = owner AND s.revision IS NULL
        UNION ALL
        -- 6. comments written: upserts to their task's list's members...
        SELECT 6, m.member_id, 'comment', k.id, t.list_id, 'upsert'
          FROM comments AS k
          JOIN tasks AS t ON t.id = k.task_id AND t.user_id = owner
          JOIN list_members AS m ON m.list_id = t.list_id
         WHERE k.user_id = owner AND k.revision IS NULL AND k.deleted_at IS NULL
        UNION ALL
        -- ... a task written: its comments to its list's members who do not hold it there
        -- (moved in, or back from the trash)...
        SELECT 6, m.member_id, 'comment', k.id, t.list_id, 'upsert'
          FROM tasks AS t
          JOIN list_members AS m ON m.list_id = t.list_id
          JOIN comments AS k ON k.user_id = owner AND k.task_id = t.id AND k.deleted_at IS NULL
         WHERE t.user_id = owner AND t.revision IS NULL
           AND NOT EXISTS (SELECT FROM member_changes AS h
                            WHERE h.member_id = m.member_id AND h.kind = 'task'
                              AND h.object_id = t.id AND h.op = 'upsert'
                              AND h.list_id = t.list_id)
        UNION ALL
        -- ... deletes to holders of a task's comments who no longer see its list...
        SELECT 7, c.member_id, 'comment', k.id, c.list_id, 'delete'
          FROM tasks AS t
          JOIN comments AS k ON k.user_id = owner AND k.task_id = t.id
          JOIN member_changes AS c
            ON c.object_id = k.id AND c.kind = 'comment' AND c.op = 'upsert'
         WHERE t.user_id = owner AND t.revision IS NULL
           AND NOT EXISTS (SELECT FROM list_members AS m
                            WHERE m.list_id = t.list_id AND m.member_id = c.member_id)
        UNION ALL
        -- ... and to holders of the comments gone to the trash with their task
        SELECT 7, c.member_id, 'comment', k.id, c.list_id, 'delete'
          FROM comments AS k
          JOIN member_changes AS c
            ON c.object_id = k.id AND c.kind = 'comment' AND c.op = 'upsert'
         WHERE k.user_id = owner AND k.revision IS NULL AND k.deleted_at IS NOT NULL
    ), latest AS (
        SELECT DISTINCT ON (member_id, kind, object_id) * FROM fan
         ORDER BY member_id, kind, object_id, p DESC
    ), numbered AS (
        SELECT f.*, u.revision + row_number() OVER (PARTITION BY f.member_id
                                                    ORDER BY f.kind <> 'list', f.kind = 'comment',
                                                             f.p) AS revision
          FROM latest AS f JOIN users AS u ON u.id = f.member_id
    ), written AS (
        INSERT INTO member_changes AS c (member_id, kind, object_id, owner_id, list_id, op,
                                         revision)
        SELECT member_id, kind, object_id, owner, list_id, op, revision FROM numbered
            ON CONFLICT (member_id, kind, object_id) DO UPDATE
           SET owner_id = excluded.owner_id, list_id = excluded.list_id, op = excluded.op,
               revision = excluded.revision, changed_at = now()
    ), bumped AS (
        UPDATE users AS u SET revision = n.top
          FROM (SELECT member_id, max(revision) AS top FROM numbered GROUP BY member_id) AS n
         WHERE u.id = n.member_id
        RETURNING u.id
    )
    SELECT array_agg(id) INTO touched FROM bumped;
    PERFORM pg_notify('todo_events', json_build_object('user_id', m, 'kind', 'change')::text)
       FROM unnest(touched) AS m;
    UPDATE list_members AS m SET revision = u.revision
      FROM users AS u
     WHERE m.owner_id = owner AND m.revision IS NULL AND u.id = m.member_id;
END
$$;

-- 0043's stamp (0040's with the comments), which first locks the owner's circle in id order
-- and fans out to the members.
CREATE OR REPLACE FUNCTION stamp_revisions() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    owner uuid := NEW.user_id;
    sharing boolean;
    circle uuid[];
    locked uuid[] := '{}';
    started bigint;  -- the user's revision before this transaction's block
    zone text;
    base bigint;
    taken bigint;
BEGIN
    PERFORM set_config('todo.revision_claims',
                       replace(current_setting('todo.revision_claims', true), owner::text || ' ',
                               ''),
                       true);
    -- An owner whose lists never had members locks their row as 0040 did. Else the circle, in
    -- id order; a membership committed while this waited joins it: locked too (out of order
    -- only in that race, or an owner's first membership's; a deadlock's victim is run again by
    -- the service). An owner gone (deleted in this transaction) may have memberships ended.
    SELECT shares INTO sharing FROM users WHERE id = owner;
    IF sharing IS NOT DISTINCT FROM false THEN
        SELECT revision, timezone, shares INTO started, zone, sharing FROM users
         WHERE id = owner FOR NO KEY UPDATE;
        locked := ARRAY[owner];
    END IF;
    IF sharing IS NOT false THEN  -- (null: the account is gone)
        circle := stamp_circle(owner);
        WHILE NOT circle <@ locked LOOP
            PERFORM FROM users WHERE id = ANY (circle) AND NOT id = ANY (locked)
             ORDER BY id FOR NO KEY UPDATE;
            locked := locked || circle;
            circle := stamp_circle(owner);
        END LOOP;
        IF circle <> ARRAY[owner] THEN
            PERFORM fan_out(owner);
        END IF;
        IF started IS NULL THEN  -- (locked with the circle)
            SELECT revision, timezone INTO started, zone FROM users WHERE id = owner;
        END IF;
    END IF;
    IF started IS NULL THEN  -- the account is gone, its rows with it
        RETURN NULL;
    END IF;
    base := started;
    WITH waiting AS (
        SELECT id, row_number() OVER (ORDER BY created_at, id) AS n
          FROM lists WHERE user_id = owner AND revision IS NULL
    ), stamped AS (
        UPDATE lists AS l SET revision = base + w.n FROM waiting AS w WHERE l.id = w.id
        RETURNING w.n
    )
    SELECT base + coalesce(max(n), 0) INTO base FROM stamped;
    WITH waiting AS (
        SELECT id, row_number() OVER (ORDER BY created_at, id) AS n
          FROM tasks WHERE user_id = owner AND revision IS NULL
    ), stamped AS (
        UPDATE tasks AS t
           SET revision = base + w.n,
               due_at = CASE WHEN t.due_on IS NULL THEN t.due_at
                             ELSE task_due_at(NULL, t.due_on, zone) END
          FROM waiting AS w
         WHERE t.id = w.id
        RETURNING w.n
    )
    SELECT base + coalesce(max(n), 0) INTO base FROM stamped;
    WITH waiting AS (
        SELECT id, row_number() OVER (ORDER BY created_at, id) AS n
          FROM comments WHERE user_id = owner AND revision IS NULL
    ), stamped AS (
        UPDATE comments AS c SET revision = base + w.n FROM waiting AS w WHERE c.id = w.id
        RETURNING w.n
    )
    SELECT base + coalesce(max(n), 0) INTO base FROM stamped;
    WITH waiting AS (
        SELECT id, row_number() OVER (ORDER BY changed_at, id) AS n
          FROM tombstones WHERE user_id = owner AND revision IS NULL
    ), stamped AS (
        UPDATE tombstones AS s SET revision = base + w.n FROM waiting AS w WHERE s.id = w.id
        RETURNING w.n
    )
    SELECT base + coalesce(max(n), 0) INTO taken FROM stamped;
    IF taken > started THEN
        UPDATE users SET revision = taken WHERE id = owner;
        PERFORM pg_notify('todo_events',
                          json_build_object('user_id', owner, 'kind', 'change')::text);
    END IF;
    RETURN NULL;
END
$$;

-- A membership ended takes its owner's stamp even when the owner's account (and list) is gone.
CREATE CONSTRAINT TRIGGER membership_ends_stamp_revisions AFTER INSERT ON membership_ends
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (claim_revision(NEW.user_id))
    EXECUTE FUNCTION stamp_revisions();
