-- depends: 0040.stamp-revisions-once
-- Sharing (issue 26, SPEC §11): who belongs to a list besides its owner, and who made, holds
-- and completed a task.
--
-- The owner of a list is lists.user_id, never a row here. A membership names the owner of the
-- list it grants (owner_id repeats lists.user_id on purpose): data stays keyed by the owner,
-- and a sharded deployment routes a member's read of a shared list by it. position is the
-- member's own place for the list in their sidebar (opaque keys, as lists.position: 0010);
-- a list joined is placed last (next_position() is after every key ever made).
CREATE TABLE list_members (
    list_id   uuid        NOT NULL,
    owner_id  uuid        NOT NULL,
    member_id uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role      text        NOT NULL CHECK (role IN ('editor', 'viewer')),
    position  text        COLLATE "C" NOT NULL DEFAULT next_position()
                          CHECK (length(position) BETWEEN 1 AND 64),
    joined_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (list_id, member_id),
    FOREIGN KEY (owner_id, list_id) REFERENCES lists (user_id, id) ON DELETE CASCADE,
    CHECK (member_id <> owner_id)
);

-- A member's lists (their sidebar, their listings' lists), each position once per member.
CREATE UNIQUE INDEX list_members_member_position_key ON list_members (member_id, position);

-- An inbox is never shared, whoever inserts the row.
CREATE FUNCTION refuse_shared_inbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM lists WHERE id = NEW.list_id AND is_inbox) THEN
        RAISE EXCEPTION 'an inbox is never shared' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER list_members_refuse_inbox BEFORE INSERT OR UPDATE OF list_id ON list_members
    FOR EACH ROW EXECUTE FUNCTION refuse_shared_inbox();

-- The caller's role on a list of owner's: 'owner', 'editor', 'viewer', or null (none). What
-- a statement checking list access answers as caller_role (server/access/gate.py); inlined by
-- the planner, so it costs the owner nothing and a member one primary-key probe.
CREATE FUNCTION list_role(caller uuid, owner uuid, list uuid) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN caller = owner THEN 'owner'
                ELSE (SELECT m.role FROM list_members m
                       WHERE m.list_id = list AND m.member_id = caller) END
$$;

-- Whether a role reaches what an operation requires (viewer < editor < owner, the order
-- server/access/gate.py's RANKS keeps too: tests/test_required_roles.py compares them): no role
-- reaches nothing; no requirement is met by any role.
CREATE FUNCTION role_reaches(role text, required text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT role IS NOT NULL AND (required IS NULL
        OR array_position(ARRAY['viewer', 'editor', 'owner'], role)
           >= array_position(ARRAY['viewer', 'editor', 'owner'], required))
$$;

-- Who made a task (null: the list's owner, as for every task made before sharing), who it is
-- assigned to (null: nobody; else the owner or a member of its list) and who completed it last
-- (null: nobody, or the owner for a task completed before sharing). Plain ids: a task outlives
-- the accounts it names.
ALTER TABLE tasks
    ADD COLUMN created_by   uuid,
    ADD COLUMN assignee_id  uuid,
    ADD COLUMN completed_by uuid;

-- Whoever leaves a list, by removal, by leaving or with their account, holds none of its tasks
-- any more (one statement per membership ended; the tasks' revisions move, so every member's
-- feed hears of it).
CREATE FUNCTION unassign_former_member() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE tasks SET assignee_id = NULL
     WHERE user_id = OLD.owner_id AND list_id = OLD.list_id AND assignee_id = OLD.member_id;
    RETURN NULL;
END
$$;

CREATE TRIGGER list_members_unassign AFTER DELETE ON list_members
    FOR EACH ROW EXECUTE FUNCTION unassign_former_member();
