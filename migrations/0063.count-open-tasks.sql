-- depends: 0062.list-newest-first
-- The total of a page of open tasks, or of finished ones (status=pending, status=completed: of
-- every list, of one, of the top level of either), from kept counts as 0039's pages: counted,
-- it cost O(open tasks), the page a todo app shows most (issue 29). list_counts keeps, beside
-- each list's tasks and top-level tasks, how many of each are open; a page of finished tasks
-- is the tasks less the open. Kept by 0039's triggers, the per-row one now also when a task is
-- finished or opened again, in the statement that changes them, under the same locks in the
-- same order (the task's row, then its list's counts).
ALTER TABLE list_counts
    ADD COLUMN pending integer NOT NULL DEFAULT 0 CHECK (pending >= 0),
    ADD COLUMN pending_top_level integer NOT NULL DEFAULT 0 CHECK (pending_top_level >= 0);

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
           SET tasks = c.tasks + sign * n.tasks, top_level = c.top_level + sign * n.top_level,
               pending = c.pending + sign * n.pending,
               pending_top_level = c.pending_top_level + sign * n.pending_top_level
          FROM (SELECT user_id, list_id, count(*) AS tasks,
                       count(*) FILTER (WHERE parent_id IS NULL) AS top_level,
                       count(*) FILTER (WHERE NOT is_completed) AS pending,
                       count(*) FILTER (WHERE NOT is_completed AND parent_id IS NULL)
                           AS pending_top_level
                  FROM changed GROUP BY user_id, list_id ORDER BY user_id, list_id) AS n
         WHERE c.user_id = n.user_id AND c.list_id = n.list_id;
    END IF;
    RETURN NULL;
END
$$;

-- A task moved to another list, into or out of the top level (its descendants travelling with
-- it), finished or opened again: it leaves its old place in the counts for its new one (one
-- row, when its list stays).
CREATE OR REPLACE FUNCTION move_task_count() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    was_top integer := (OLD.parent_id IS NULL)::integer;
    was_open integer := (NOT OLD.is_completed)::integer;
    is_top integer := (NEW.parent_id IS NULL)::integer;
    is_open integer := (NOT NEW.is_completed)::integer;
BEGIN
    IF OLD.user_id = NEW.user_id AND OLD.list_id = NEW.list_id THEN
        UPDATE list_counts
           SET top_level = top_level - was_top + is_top,
               pending = pending - was_open + is_open,
               pending_top_level = pending_top_level - was_top * was_open + is_top * is_open
         WHERE user_id = NEW.user_id AND list_id = NEW.list_id;
        RETURN NULL;
    END IF;
    UPDATE list_counts
       SET tasks = tasks - 1, top_level = top_level - was_top, pending = pending - was_open,
           pending_top_level = pending_top_level - was_top * was_open
     WHERE user_id = OLD.user_id AND list_id = OLD.list_id;
    UPDATE list_counts
       SET tasks = tasks + 1, top_level = top_level + is_top, pending = pending + is_open,
           pending_top_level = pending_top_level + is_top * is_open
     WHERE user_id = NEW.user_id AND list_id = NEW.list_id;
    RETURN NULL;
END
$$;
DROP TRIGGER tasks_move_count ON tasks;
CREATE TRIGGER tasks_move_count AFTER UPDATE OF list_id, parent_id, is_completed ON tasks
    FOR EACH ROW
    WHEN (OLD.list_id <> NEW.list_id OR (OLD.parent_id IS NULL) <> (NEW.parent_id IS NULL)
          OR OLD.is_completed <> NEW.is_completed)
    EXECUTE FUNCTION move_task_count();

-- The trigger above holds off writers of tasks until this commits: the counts are exact.
UPDATE list_counts AS c
   SET pending = n.pending, pending_top_level = n.pending_top_level
  FROM (SELECT user_id, list_id, count(*) AS pending,
               count(*) FILTER (WHERE parent_id IS NULL) AS pending_top_level
          FROM tasks WHERE NOT is_completed GROUP BY user_id, list_id) AS n
 WHERE c.user_id = n.user_id AND c.list_id = n.list_id;
