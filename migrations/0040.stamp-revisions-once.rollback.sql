DROP TRIGGER tasks_trash ON tasks;
CREATE OR REPLACE FUNCTION trash_task() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM users WHERE id = OLD.user_id) THEN
        RETURN NULL;
    END IF;
    INSERT INTO trash (id, user_id, list_id, parent_id, title, description, is_completed,
                       completed_at, priority, due_date, tags, position, created_at, updated_at,
                       version, due_on, recurrence, last_completed_at, recurrence_done, reminders)
    VALUES (OLD.id, OLD.user_id, OLD.list_id, OLD.parent_id, OLD.title, OLD.description,
            OLD.is_completed, OLD.completed_at, OLD.priority, OLD.due_date, OLD.tags,
            OLD.position, OLD.created_at, OLD.updated_at, OLD.version, OLD.due_on,
            OLD.recurrence, OLD.last_completed_at, OLD.recurrence_done, OLD.reminders);
    INSERT INTO tombstones (id, user_id, kind) VALUES (OLD.id, OLD.user_id, 'task')
        ON CONFLICT (id) DO UPDATE SET revision = NULL, changed_at = now();
    RETURN NULL;
END
$$;
CREATE TRIGGER tasks_trash AFTER DELETE ON tasks
    FOR EACH ROW EXECUTE FUNCTION trash_task();

CREATE FUNCTION next_revision(owner uuid) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    r bigint;
BEGIN
    UPDATE users SET revision = revision + 1 WHERE id = owner RETURNING revision INTO r;
    IF r IS NOT NULL THEN
        PERFORM pg_notify('todo_events',
                          json_build_object('user_id', owner, 'kind', 'change')::text);
    END IF;
    RETURN r;
END
$$;

CREATE FUNCTION stamp_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'tasks' THEN
        UPDATE tasks SET revision = next_revision(user_id) WHERE id = NEW.id AND revision IS NULL;
    ELSIF TG_TABLE_NAME = 'lists' THEN
        UPDATE lists SET revision = next_revision(user_id) WHERE id = NEW.id AND revision IS NULL;
    ELSE
        UPDATE tombstones SET revision = next_revision(user_id)
         WHERE id = NEW.id AND revision IS NULL;
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER tombstones_stamp_revisions ON tombstones;
DROP TRIGGER lists_stamp_revisions ON lists;
DROP TRIGGER tasks_stamp_revisions ON tasks;
CREATE CONSTRAINT TRIGGER tasks_stamp_revision AFTER INSERT OR UPDATE ON tasks
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.revision IS NULL) EXECUTE FUNCTION stamp_revision();
CREATE CONSTRAINT TRIGGER lists_stamp_revision AFTER INSERT OR UPDATE ON lists
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.revision IS NULL) EXECUTE FUNCTION stamp_revision();
CREATE CONSTRAINT TRIGGER tombstones_stamp_revision AFTER INSERT OR UPDATE ON tombstones
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.revision IS NULL) EXECUTE FUNCTION stamp_revision();
DROP FUNCTION stamp_revisions();
DROP FUNCTION claim_revision(uuid);
