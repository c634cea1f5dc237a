-- depends: 0039.count-list-tasks
-- Bulk writes in time proportional to their size (issue 23). Migration 0020 stamped each written
-- task, list and tombstone at commit with its own UPDATE of the users row: a transaction writing
-- N rows updated that one row N times, and each update walks the row's chain of versions left by
-- the earlier ones: O(N^2) (deleting a list of 50,000 tasks spent minutes in its commit and was
-- cancelled at the statement timeout, never deletable). Its trash trigger ran once per deleted
-- task.
--
-- Now a transaction stamps each of its users once, at commit: the first row it writes of a user
-- claims the stamp (a transaction-local setting, so a savepoint rolled back takes its claim back
-- with the event it queued) and queues the one deferred event; at commit that event locks the
-- users row (still last: every row the transaction writes is held by then, so no deadlock; and
-- FOR NO KEY UPDATE, as 0020's UPDATE did: FOR UPDATE would also wait for the KEY SHARE lock
-- that every uncommitted insert of a task holds on its users row by the foreign key, and two
-- such commits wait for each other),
-- gives each row of that user still waiting (revision null) its own revision from one block
-- (lists, then tasks, then tombstones; by creation, then id), and bumps the user's revision past
-- the block once. An all-day task it stamps takes the end of its day in the zone read under that
-- lock: one written while a new zone was being set (read the old one, written after the zone
-- change had moved every committed all-day task) kept the old zone's due, in 8 of 10 rounds of
-- 20 creates racing one change. Every row still has a revision of its own, handed out in commit order, so the
-- change feed reads "revision > since" as before (server/sync/feed.py, unchanged). The trash
-- trigger runs once per statement on the rows it deleted.

-- Whether this is the transaction's first row of the user waiting for a revision: if so it
-- claims the user's stamp (true: queue the stamp) until the stamp runs.
CREATE FUNCTION claim_revision(owner uuid) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    claims text := coalesce(current_setting('todo.revision_claims', true), '');
BEGIN
    IF strpos(claims, owner::text) > 0 THEN
        RETURN false;
    END IF;
    PERFORM set_config('todo.revision_claims', claims || owner::text || ' ', true);
    RETURN true;
END
$$;

-- At commit, once per user a transaction wrote: every row of the user still waiting takes its
-- revision from one block, bumped once. The claim is released, so a row written after this (a
-- constraint made immediate mid-transaction) claims the stamp again.
CREATE FUNCTION stamp_revisions() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    owner uuid := NEW.user_id;
    started bigint;  -- the user's revision before this transaction's block
    zone text;
    base bigint;
    taken bigint;
BEGIN
    PERFORM set_config('todo.revision_claims',
                       replace(current_setting('todo.revision_claims', true), owner::text || ' ',
                               ''),
                       true);
    SELECT revision, timezone INTO started, zone FROM users WHERE id = owner FOR NO KEY UPDATE;
    IF NOT FOUND THEN  -- the account is gone, its rows with it
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

DROP TRIGGER tasks_stamp_revision ON tasks;
DROP TRIGGER lists_stamp_revision ON lists;
DROP TRIGGER tombstones_stamp_revision ON tombstones;
-- The WHEN runs as the row is written (a deferred trigger's condition is not deferred): only the
-- transaction's first waiting row of each user queues an event.
CREATE CONSTRAINT TRIGGER tasks_stamp_revisions AFTER INSERT OR UPDATE ON tasks
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (CASE WHEN NEW.revision IS NULL THEN claim_revision(NEW.user_id) ELSE false END)
    EXECUTE FUNCTION stamp_revisions();
CREATE CONSTRAINT TRIGGER lists_stamp_revisions AFTER INSERT OR UPDATE ON lists
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (CASE WHEN NEW.revision IS NULL THEN claim_revision(NEW.user_id) ELSE false END)
    EXECUTE FUNCTION stamp_revisions();
CREATE CONSTRAINT TRIGGER tombstones_stamp_revisions AFTER INSERT OR UPDATE ON tombstones
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (CASE WHEN NEW.revision IS NULL THEN claim_revision(NEW.user_id) ELSE false END)
    EXECUTE FUNCTION stamp_revisions();
DROP FUNCTION stamp_revision();
DROP FUNCTION next_revision(uuid);

-- The tasks a statement deleted go to the trash and leave tombstones; nothing when their
-- account goes.
CREATE OR REPLACE FUNCTION trash_task() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO trash (id, user_id, list_id, parent_id, title, description, is_completed,
                       completed_at, priority, due_date, tags, position, created_at, updated_at,
                       version, due_on, recurrence, last_completed_at, recurrence_done, reminders)
    SELECT g.id, g.user_id, g.list_id, g.parent_id, g.title, g.description, g.is_completed,
           g.completed_at, g.priority, g.due_date, g.tags, g.position, g.created_at,
           g.updated_at, g.version, g.due_on, g.recurrence, g.last_completed_at,
           g.recurrence_done, g.reminders
      FROM gone AS g
     WHERE EXISTS (SELECT FROM users WHERE id = g.user_id);
    INSERT INTO tombstones (id, user_id, kind)
    SELECT g.id, g.user_id, 'task' FROM gone AS g
     WHERE EXISTS (SELECT FROM users WHERE id = g.user_id)
        ON CONFLICT (id) DO UPDATE SET revision = NULL, changed_at = now();
    RETURN NULL;
END
$$;
DROP TRIGGER tasks_trash ON tasks;
CREATE TRIGGER tasks_trash AFTER DELETE ON tasks REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION trash_task();
