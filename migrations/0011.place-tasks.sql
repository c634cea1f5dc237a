-- depends: 0010.create-lists
-- Tasks live in a list, maybe under a parent task, at a position among their siblings (the
-- tasks of one list with one parent). Existing tasks go to their owner's inbox, top level,
-- oldest first.
ALTER TABLE tasks
    ADD COLUMN list_id   uuid,
    ADD COLUMN parent_id uuid REFERENCES tasks (id) ON DELETE CASCADE,
    ADD COLUMN position  text COLLATE "C" CHECK (length(position) BETWEEN 1 AND 64),
    -- the sibling group's parent, never null (top level: the nil uuid), so that one index
    -- orders every sibling group and a keyset row comparison never meets a null
    ADD COLUMN parent_key uuid NOT NULL GENERATED ALWAYS AS (
        coalesce(parent_id, '00000000-0000-0000-0000-000000000000')
    ) STORED;

UPDATE tasks AS t
   SET list_id = l.id
  FROM lists AS l
 WHERE l.user_id = t.user_id AND l.is_inbox;

UPDATE tasks AS t
   SET position = ordered.position
  FROM (SELECT id, next_position() AS position
          FROM (SELECT id FROM tasks ORDER BY created_at, id) AS by_age) AS ordered
 WHERE ordered.id = t.id;

ALTER TABLE tasks
    ALTER COLUMN list_id SET NOT NULL,
    ALTER COLUMN position SET NOT NULL,
    ALTER COLUMN position SET DEFAULT next_position(),
    ADD FOREIGN KEY (user_id, list_id) REFERENCES lists (user_id, id) ON DELETE CASCADE;

-- Each sibling group in manual order, each position once: sort=position pages straight off
-- this index, and a list's tasks (the list's deletion too) are one range of it.
CREATE UNIQUE INDEX tasks_user_position_key ON tasks (user_id, list_id, parent_key, position);
-- A task's children: the subtree walks and the parent_id foreign key's cascade.
CREATE INDEX tasks_parent_idx ON tasks (parent_id) WHERE parent_id IS NOT NULL;

-- Completing a task completes its open children, whose own completion completes theirs: the
-- whole subtree in the completing statement, whichever statement it is (PUT, PATCH, complete);
-- each is a change. Reopening does not cascade.
CREATE FUNCTION complete_children() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE tasks
       SET is_completed = true,
           completed_at = NEW.completed_at,
           version = version + 1,
           updated_at = greatest(now(), updated_at + interval '1 microsecond')
     WHERE user_id = NEW.user_id AND parent_id = NEW.id AND NOT is_completed;
    RETURN NULL;
END
$$;

CREATE TRIGGER tasks_complete_children AFTER UPDATE OF is_completed ON tasks
    FOR EACH ROW WHEN (NEW.is_completed AND NOT OLD.is_completed)
    EXECUTE FUNCTION complete_children();
