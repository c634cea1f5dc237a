-- depends: 0031.trash-keeps-dates
-- The task quota (SPEC §6: tasks per user, the trash included), strict and O(1). Each account's
-- count is one row of task_counts, kept by statement triggers: a task inserted (a create, a
-- restore) adds one, a trashed task purged (one, the whole trash, retention, a restore taking it
-- back) takes one away; moving to the trash changes nothing. A create locks the row, reads it
-- and inserts in one statement, so concurrent creates of one account pass the quota one at a
-- time, with no count of its tasks.
--
-- The row is a lock of its own, not the users row: a write's commit takes the users row (the
-- revision stamp of 0020), and a create holding that row from its first statement would wait
-- for a list, a parent or a batch's next task while writers holding those wait for it at their
-- commit (deadlocks). Whoever changes the count takes the placement lock (lists.sql) first if it
-- takes both, then this row, then any task, trash or list row: one order, no cycle.
CREATE TABLE task_counts (
    user_id uuid    PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    tasks   integer NOT NULL DEFAULT 0 CHECK (tasks >= 0)
);

-- Every account is made with its count, in the same transaction, whoever inserts it.
CREATE FUNCTION create_task_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO task_counts (user_id) VALUES (NEW.id);
    RETURN NULL;
END
$$;
CREATE TRIGGER users_create_task_count AFTER INSERT ON users
    FOR EACH ROW EXECUTE FUNCTION create_task_count();

-- An insert into tasks adds to its owners' counts what it inserted, a delete from trash takes away
-- what it deleted.
CREATE FUNCTION count_tasks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE task_counts AS c
       SET tasks = c.tasks + CASE TG_OP WHEN 'INSERT' THEN n.tasks ELSE -n.tasks END
      FROM (SELECT user_id, count(*) AS tasks FROM changed GROUP BY user_id) AS n
     WHERE c.user_id = n.user_id;
    RETURN NULL;
END
$$;
CREATE TRIGGER tasks_count AFTER INSERT ON tasks REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION count_tasks();
CREATE TRIGGER trash_count AFTER DELETE ON trash REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION count_tasks();

-- The triggers above hold off writers of tasks and trash until this commits: the count is exact.
INSERT INTO task_counts (user_id, tasks)
SELECT u.id,
       (SELECT count(*) FROM tasks WHERE user_id = u.id)
       + (SELECT count(*) FROM trash WHERE user_id = u.id)
  FROM users AS u;

-- Restores of before this migration ignored the four levels of SPEC §6 (a tree of 1,201 levels
-- was built so, and completing its root failed). Each task below level 4 goes to level 4, under
-- its level-3 ancestor, last; as each deletion in the trash, counted from the task deleted.
WITH RECURSIVE placed (id, level, third) AS (
    SELECT id, 1, NULL::uuid FROM tasks WHERE parent_id IS NULL
    UNION ALL
    SELECT t.id, p.level + 1, CASE WHEN p.level = 2 THEN t.id ELSE p.third END
      FROM tasks AS t JOIN placed AS p ON t.parent_id = p.id
)
UPDATE tasks AS t
   SET parent_id = p.third,
       position = next_position(),
       version = t.version + 1,
       updated_at = greatest(now(), t.updated_at + interval '1 microsecond')
  FROM placed AS p
 WHERE t.id = p.id AND p.level > 4;

WITH RECURSIVE placed (id, deleted_at, level, third) AS (
    SELECT id, deleted_at, 1, NULL::uuid FROM trash AS r
     WHERE NOT EXISTS (SELECT FROM trash AS p
                        WHERE p.id = r.parent_id AND p.deleted_at = r.deleted_at)
    UNION ALL
    SELECT c.id, c.deleted_at, p.level + 1, CASE WHEN p.level = 2 THEN c.id ELSE p.third END
      FROM trash AS c JOIN placed AS p ON c.parent_id = p.id AND c.deleted_at = p.deleted_at
)
UPDATE trash AS t
   SET parent_id = p.third, position = next_position()
  FROM placed AS p
 WHERE t.id = p.id AND p.level > 4;
