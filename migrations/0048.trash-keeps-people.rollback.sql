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
ALTER TABLE trash DROP COLUMN created_by, DROP COLUMN assignee_id, DROP COLUMN completed_by;
