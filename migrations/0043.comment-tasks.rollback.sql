DROP TRIGGER list_members_move_reminders ON list_members;
DROP FUNCTION move_member_reminders();
DROP TRIGGER tasks_reminder_times_update ON tasks;
CREATE TRIGGER tasks_reminder_times_update AFTER UPDATE ON tasks
    FOR EACH ROW WHEN ((OLD.reminders <> '[]' OR NEW.reminders <> '[]')
                       AND (OLD.reminders IS DISTINCT FROM NEW.reminders
                            OR OLD.due_at IS DISTINCT FROM NEW.due_at
                            OR OLD.is_completed <> NEW.is_completed))
    EXECUTE FUNCTION keep_reminder_times();
CREATE OR REPLACE FUNCTION keep_reminder_times() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    times timestamptz[];
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM reminder_times WHERE task_id = OLD.id;
        RETURN NULL;
    END IF;
    times := CASE WHEN NEW.is_completed THEN '{}'
                  ELSE reminder_fire_times(NEW.reminders, NEW.due_at) END;
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM reminder_times WHERE task_id = NEW.id AND fire_at <> ALL (times);
    END IF;
    INSERT INTO reminder_times (task_id, fire_at, user_id)
    SELECT NEW.id, fire_at, NEW.user_id FROM unnest(times) AS fire_at
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
DROP INDEX reminder_times_person_idx;
ALTER TABLE reminder_times DROP COLUMN person_id;
DROP FUNCTION reminder_person(uuid, uuid, uuid, uuid);
DROP TRIGGER trash_untrash_comments ON trash;
DROP FUNCTION untrash_comments();
DROP TRIGGER tasks_trash_comments ON tasks;
DROP FUNCTION trash_comments();
DROP TABLE comments;
DROP FUNCTION tombstone_comments();
DELETE FROM tombstones WHERE kind = 'comment';
ALTER TABLE tombstones DROP CONSTRAINT tombstones_kind_check;
ALTER TABLE tombstones ADD CONSTRAINT tombstones_kind_check CHECK (kind IN ('task', 'list'));
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
