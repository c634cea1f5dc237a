-- depends: 0041.share-lists
-- Comments on tasks (issue 26, SPEC §11), and reminders for the person a shared task is for.
--
-- A comment is keyed by the owner of its task's list (user_id: data stays with the owner, as
-- the task does), names its task by id (no foreign key: a task moves to the trash table when
-- deleted, and its comments go with it) and its author (null once the author's account is
-- gone: the comment stays). It carries a revision like tasks and lists, stamped at commit by
-- stamp_revisions (migration 0040, which gains the comments below), so the change feed carries
-- it as kind `comment`. deleted_at: not null while its task is in the trash (the feed then
-- carries it as a delete); a restore brings it back, a purge deletes it.
CREATE TABLE comments (
    id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    task_id    uuid        NOT NULL,
    author_id  uuid        REFERENCES users (id) ON DELETE SET NULL,
    -- Unicode code points, trimmed by the service (SPEC §11: 1-5000 characters)
    body       text        NOT NULL CHECK (length(body) BETWEEN 1 AND 5000),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    version    integer     NOT NULL DEFAULT 1,
    revision   bigint,  -- null until its transaction commits
    deleted_at timestamptz  -- with its task, in the trash
);
-- A task's comments, oldest first (the listing's keyset), and its count for the quota.
CREATE INDEX comments_task_idx ON comments (user_id, task_id, created_at, id);
-- The change feed, and the stamp's rows waiting for a revision.
CREATE INDEX comments_user_revision_idx ON comments (user_id, revision);
-- An author's account deleted: its comments lose their author.
CREATE INDEX comments_author_idx ON comments (author_id) WHERE author_id IS NOT NULL;

ALTER TABLE tombstones DROP CONSTRAINT tombstones_kind_check;
ALTER TABLE tombstones ADD CONSTRAINT tombstones_kind_check
    CHECK (kind IN ('task', 'list', 'comment'));

CREATE TRIGGER comments_mark_changed BEFORE INSERT OR UPDATE ON comments
    FOR EACH ROW EXECUTE FUNCTION mark_changed();
CREATE CONSTRAINT TRIGGER comments_stamp_revisions AFTER INSERT OR UPDATE ON comments
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (CASE WHEN NEW.revision IS NULL THEN claim_revision(NEW.user_id) ELSE false END)
    EXECUTE FUNCTION stamp_revisions();

-- 0040's stamp, with the comments' block between the tasks' and the tombstones' (a restored
-- task comes before its comments; a deleted comment's tombstone after them).
CREATE OR REPLACE FUNCTION stamp_revisions() RETURNS trigger LANGUAGE plpgsql AS $$
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

-- A deleted comment leaves a tombstone (none for one already gone with its task to the trash,
-- whose delete the feed has carried, nor when its owner's account goes).
CREATE FUNCTION tombstone_comments() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tombstones (id, user_id, kind)
    SELECT g.id, g.user_id, 'comment' FROM gone AS g
     WHERE g.deleted_at IS NULL AND EXISTS (SELECT FROM users WHERE id = g.user_id);
    RETURN NULL;
END
$$;
CREATE TRIGGER comments_tombstone AFTER DELETE ON comments REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION tombstone_comments();

-- The tasks a statement deleted (to the trash: migration 0040) take their comments with them.
CREATE FUNCTION trash_comments() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE comments AS c SET deleted_at = now()
      FROM gone AS g
     WHERE c.user_id = g.user_id AND c.task_id = g.id AND c.deleted_at IS NULL
       AND EXISTS (SELECT FROM users WHERE id = g.user_id);
    RETURN NULL;
END
$$;
CREATE TRIGGER tasks_trash_comments AFTER DELETE ON tasks REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION trash_comments();

-- Tasks leaving the trash: restored (live again: their comments come back) or purged (their
-- comments go). Every statement that takes a task out of the trash is covered, those to come
-- too.
CREATE FUNCTION untrash_comments() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE comments AS c SET deleted_at = NULL
      FROM gone AS g JOIN tasks AS t ON t.id = g.id
     WHERE c.user_id = g.user_id AND c.task_id = g.id AND c.deleted_at IS NOT NULL;
    DELETE FROM comments AS c
     USING gone AS g
     WHERE c.user_id = g.user_id AND c.task_id = g.id AND c.deleted_at IS NOT NULL;
    RETURN NULL;
END
$$;
CREATE TRIGGER trash_untrash_comments AFTER DELETE ON trash REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION untrash_comments();

-- Reminders of a task in a shared list are for one person (SPEC §11): its assignee, else who
-- created it (null: the owner), as long as they belong to the list; else the owner. Who left
-- the list gets none.
CREATE FUNCTION reminder_person(owner uuid, list uuid, assignee uuid, creator uuid)
RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN list_role(assignee, owner, list) IS NOT NULL THEN assignee
                WHEN creator IS NULL OR list_role(creator, owner, list) IS NOT NULL
                THEN coalesce(creator, owner)
                ELSE owner END
$$;

-- reminder_times (migration 0036) carries that person: the scheduler's event, mail and push
-- reach them alone. user_id stays the owner (the rows are the owner's, GET /reminders reads
-- them by it).
ALTER TABLE reminder_times ADD COLUMN person_id uuid;
UPDATE reminder_times SET person_id = user_id;
ALTER TABLE reminder_times ALTER COLUMN person_id SET NOT NULL;
-- The rows of a person other than the owner: a member leaving a list moves theirs.
CREATE INDEX reminder_times_person_idx ON reminder_times (person_id) WHERE person_id <> user_id;

CREATE OR REPLACE FUNCTION keep_reminder_times() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    times timestamptz[];
    person uuid;
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM reminder_times WHERE task_id = OLD.id;
        RETURN NULL;
    END IF;
    times := CASE WHEN NEW.is_completed THEN '{}'
                  ELSE reminder_fire_times(NEW.reminders, NEW.due_at) END;
    person := reminder_person(NEW.user_id, NEW.list_id, NEW.assignee_id, NEW.created_by);
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM reminder_times WHERE task_id = NEW.id AND fire_at <> ALL (times);
        UPDATE reminder_times SET person_id = person
         WHERE task_id = NEW.id AND person_id <> person;
    END IF;
    INSERT INTO reminder_times (task_id, fire_at, user_id, person_id)
    SELECT NEW.id, fire_at, NEW.user_id, person FROM unnest(times) AS fire_at
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
-- A new assignee (or creator), or a move to another list (whose members differ), moves the
-- reminders too.
DROP TRIGGER tasks_reminder_times_update ON tasks;
CREATE TRIGGER tasks_reminder_times_update AFTER UPDATE ON tasks
    FOR EACH ROW WHEN ((OLD.reminders <> '[]' OR NEW.reminders <> '[]')
                       AND (OLD.reminders IS DISTINCT FROM NEW.reminders
                            OR OLD.due_at IS DISTINCT FROM NEW.due_at
                            OR OLD.is_completed <> NEW.is_completed
                            OR OLD.assignee_id IS DISTINCT FROM NEW.assignee_id
                            OR OLD.created_by IS DISTINCT FROM NEW.created_by
                            OR OLD.list_id <> NEW.list_id))
    EXECUTE FUNCTION keep_reminder_times();

-- A membership begun or ended (joining, leaving, removal, the member's account deleted): the
-- reminders of that list's tasks made by or assigned to the member find their person again.
CREATE FUNCTION move_member_reminders() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    m list_members := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
BEGIN
    UPDATE reminder_times AS r
       SET person_id = reminder_person(t.user_id, t.list_id, t.assignee_id, t.created_by)
      FROM tasks AS t
     WHERE t.user_id = m.owner_id AND t.list_id = m.list_id AND t.id = r.task_id
       AND (t.created_by = m.member_id OR t.assignee_id = m.member_id)
       AND r.person_id IS DISTINCT FROM
           reminder_person(t.user_id, t.list_id, t.assignee_id, t.created_by);
    RETURN NULL;
END
$$;
CREATE TRIGGER list_members_move_reminders AFTER INSERT OR DELETE ON list_members
    FOR EACH ROW EXECUTE FUNCTION move_member_reminders();
