-- transactional: false
DROP INDEX CONCURRENTLY IF EXISTS tasks_user_list_created_idx;
