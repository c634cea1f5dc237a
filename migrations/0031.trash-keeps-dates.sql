-- depends: 0020.sync-trash-and-revisions 0030.dates-recurrence-reminders
-- The trash keeps what SPEC §8 added to a task (its all-day due, recurrence and reminders), so a
-- restored task comes back as it was deleted. due_at is not kept: tasks_due_at recomputes it.
ALTER TABLE trash
    ADD COLUMN due_on date,
    ADD COLUMN recurrence jsonb,
    ADD COLUMN last_completed_at timestamptz,
    ADD COLUMN recurrence_done integer NOT NULL DEFAULT 0,
    ADD COLUMN reminders jsonb NOT NULL DEFAULT '[]';

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
