-- depends: 0061.claim-room-apart
-- transactional: false
-- A list's page in the default order (newest first), read off an index led by the list.
--
-- A page of one list (list_id, the view a frontend opens a list with) had only the account's
-- order (tasks_user_created_idx) or the list's tasks in manual order (tasks_user_position_key)
-- to read from. The plan PostgreSQL keeps for any values cannot tell a list holding nearly all
-- of the account from a small one, so it lost on one of them: it sorted a 50,000-task inbox
-- whole (23 ms a page), or sifted 10,000 tasks in the account's order for a list of five. A
-- member's page of a shared list (the owner's tasks in that list) read the whole list alike.
-- Here each reads a page's worth of rows, in order, whatever the list's size.
--
-- Built CONCURRENTLY, outside a transaction: a plain CREATE INDEX holds off every write of tasks
-- until it is built (142 ms for 98,000 tasks: some 15 s for ten million, during a rollout that
-- runs migrations while the old version serves; findings-s40-review.md F1). A build that failed
-- leaves an invalid index behind, which the first statement drops before the next try.
DROP INDEX CONCURRENTLY IF EXISTS tasks_user_list_created_idx;
CREATE INDEX CONCURRENTLY tasks_user_list_created_idx ON tasks (user_id, list_id, created_at, id);
