CREATE OR REPLACE FUNCTION trash_task() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM users WHERE id = OLD.user_id) THEN
        RETURN NULL;
    END IF;
    INSERT INTO trash (id, user_id, list_id, parent_id, title, description, is_completed,
                       completed_at, priority, due_date, tags, position, created_at, updated_at,
                       version)
    VALUES (OLD.id, OLD.user_id, OLD.list_id, OLD.parent_id, OLD.title, OLD.description,
            OLD.is_completed, OLD.completed_at, OLD.priority, OLD.due_date, OLD.tags,
            OLD.position, OLD.created_at, OLD.updated_at, OLD.version);
    INSERT INTO tombstones (id, user_id, kind) VALUES (OLD.id, OLD.user_id, 'task')
        ON CONFLICT (id) DO UPDATE SET revision = NULL, changed_at = now();
    RETURN NULL;
END
$$;
ALTER TABLE trash
    DROP COLUMN reminders,
    DROP COLUMN recurrence_done,
    DROP COLUMN last_completed_at,
    DROP COLUMN recurrence,
    DROP COLUMN due_on;
