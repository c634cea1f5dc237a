DROP TRIGGER tasks_move_count ON tasks;
DROP FUNCTION move_task_count();
DROP TRIGGER tasks_uncount ON tasks;
CREATE OR REPLACE FUNCTION count_tasks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE task_counts AS c
       SET tasks = c.tasks + CASE TG_OP WHEN 'INSERT' THEN n.tasks ELSE -n.tasks END
      FROM (SELECT user_id, count(*) AS tasks FROM changed GROUP BY user_id) AS n
     WHERE c.user_id = n.user_id;
    RETURN NULL;
END
$$;
DROP TRIGGER lists_create_count ON lists;
DROP FUNCTION create_list_count();
DROP TABLE list_counts;
