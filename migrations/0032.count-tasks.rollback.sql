DROP TRIGGER trash_count ON trash;
DROP TRIGGER tasks_count ON tasks;
DROP TRIGGER users_create_task_count ON users;
DROP FUNCTION count_tasks();
DROP FUNCTION create_task_count();
DROP TABLE task_counts;
