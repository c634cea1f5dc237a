-- depends: 0038.reach-people
-- Totals that cost the same whatever an account holds (issue 29).
--
-- The listing's `total` of the common pages (every task, one list, the top level of either)
-- reads list_counts: per list, its tasks and its top-level tasks, kept by the triggers below
-- in the statement that changes them (a task inserted: a create, a restore; deleted: to the
-- trash with its descendants, a list's deletion; moved to another list or level), so a page and
-- its total, read in one statement, agree. An account's totals are the sum over its lists (at
-- most the list quota of rows). The rows are locked after the task rows a statement writes, and
-- after task_counts when it takes that too (migration 0032): a transaction that waits for a
-- count never holds one another waits for first, but a batch that holds a count and then
-- writes a task may be chosen as a deadlock's victim, and run again whole.
CREATE TABLE list_counts (
    user_id   uuid    NOT NULL,
    list_id   uuid    NOT NULL,
    tasks     integer NOT NULL DEFAULT 0 CHECK (tasks >= 0),
    top_level integer NOT NULL DEFAULT 0 CHECK (top_level >= 0),
    PRIMARY KEY (user_id, list_id),
    FOREIGN KEY (user_id, list_id) REFERENCES lists (user_id, id) ON DELETE CASCADE
);

-- Every list is made with its counts, in the same transaction, whoever inserts it.
CREATE FUNCTION create_list_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO list_counts (user_id, list_id) VALUES (NEW.user_id, NEW.id);
    RETURN NULL;
END
$$;
CREATE TRIGGER lists_create_count AFTER INSERT ON lists
    FOR EACH ROW EXECUTE FUNCTION create_list_count();

-- Tasks inserted add to the quota's count (task_counts) and to their lists' counts; tasks
-- deleted (to the trash) take away from their lists' counts; trashed tasks purged take away
-- from the quota's count. The groups are taken in key order, so two statements that change the
-- same counts lock them in one order.
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
CREATE TRIGGER tasks_uncount AFTER DELETE ON tasks REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION count_tasks();

-- A task moved to another list, or into or out of the top level (a move, its descendants
-- travelling with it), moves in the counts.
CREATE FUNCTION move_task_count() RETURNS trigger LANGUAGE plpgsql AS $$
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

-- The triggers above hold off writers of tasks and lists until this commits: the counts are exact.
INSERT INTO list_counts (user_id, list_id, tasks, top_level)
SELECT l.user_id, l.id, count(t.id), count(t.id) FILTER (WHERE t.parent_id IS NULL)
  FROM lists AS l LEFT JOIN tasks AS t ON t.user_id = l.user_id AND t.list_id = l.id
 GROUP BY l.user_id, l.id;
