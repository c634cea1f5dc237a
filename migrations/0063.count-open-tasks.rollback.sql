DROP TRIGGER tasks_move_count ON tasks;
CREATE OR REPLACE FUNCTION count_tasks() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    sign integer := CASE TG_OP WHEN 'INSERT' THEN 1 ELSE -1 END;
BEGIN
    IF TG_TABLE_NAME = 'trash' OR TG_OP = 'INSERT' THEN
        UPDATE task_counts AS c
           SET tasks = c.tasks + sign * n.tasks
          FROM (SELECT user_id, count(*) AS tasks FROM changed GROUP BY user_id
                 ORDER BY user_id) AS n
         WHERE c.user_id = n.user_id;
    END IF;
    IF TG_TABLE_NAME = 'tasks' THEN
        UPDATE list_counts AS c
           SET tasks = c.tasks + sign * n.tasks, top_level = c.top_level + sign * n.top_level
          FROM (SELECT user_id, list_id, count(*) AS tasks,
                       count(*) FILTER (WHERE parent_id IS NULL) AS top_level
                  FROM changed GROUP BY user_id, list_id ORDER BY user_id, list_id) AS n
         WHERE c.user_id = n.user_id AND c.list_id = n.list_id;
    END IF;
    RETURN NULL;
END
$$;
CREATE OR REPLACE FUNCTION move_task_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE list_counts
       SET tasks = tasks - 1, top_level = top_level - (OLD.parent_id IS NULL)::integer
     WHERE user_id = OLD.user_id AND list_id = OLD.list_id;
    UPDATE list_counts
       SET tasks = tasks + 1, top_level = top_level + (NEW.parent_id IS NULL)::integer
     WHERE user_id = NEW.user_id AND list_id = NEW.list_id;
    RETURN NULL;
END
$$;
CREATE TRIGGER tasks_move_count AFTER UPDATE OF list_id, parent_id ON tasks
    FOR EACH ROW
    WHEN (OLD.list_id <> NEW.list_id OR (OLD.parent_id IS NULL) <> (NEW.parent_id IS NULL))
    EXECUTE FUNCTION move_task_count();
ALTER TABLE list_counts DROP COLUMN pending, DROP COLUMN pending_top_level;
