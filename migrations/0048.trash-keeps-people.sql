-- depends: 0041.share-lists
-- The trash keeps who made, holds and completed a task (migration 0041), so a task of a shared
-- list comes back from the trash as it was deleted, and its trash page says so too.
ALTER TABLE trash
    ADD COLUMN created_by   uuid,
    ADD COLUMN assignee_id  uuid,
    ADD COLUMN completed_by uuid;

CREATE OR REPLACE FUNCTION trash_task() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO trash (id, user_id, list_id, parent_id, title, description, is_completed,
                       completed_at, priority, due_date, tags, position, created_at, updated_at,
                       version, due_on, recurrence, last_completed_at, recurrence_done, reminders,
                       created_by, assignee_id, completed_by)
    SELECT g.id, g.user_id, g.list_id, g.parent_id, g.title, g.description, g.is_completed,
           g.completed_at, g.priority, g.due_date, g.tags, g.position, g.created_at,
           g.updated_at, g.version, g.due_on, g.recurrence, g.last_completed_at,
           g.recurrence_done, g.reminders, g.created_by, g.assignee_id, g.completed_by
      FROM gone AS g
     WHERE EXISTS (SELECT FROM users WHERE id = g.user_id);
    INSERT INTO tombstones (id, user_id, kind)
    SELECT g.id, g.user_id, 'task' FROM gone AS g
     WHERE EXISTS (SELECT FROM users WHERE id = g.user_id)
        ON CONFLICT (id) DO UPDATE SET revision = NULL, changed_at = now();
    RETURN NULL;
END
$$;
