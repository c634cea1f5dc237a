-- depends: 0053.keep-assignees-members
-- What a membership's change writes (0049's membership_changed, restated).
--
-- A membership begun, ended or given another role changes the list as its members and owner
-- read it (member_count, shared, the member's role), so it is a new version of the list: its
-- ETag changes with it. 0049 wrote only the list's revision, so a conditional GET with the old
-- ETag answered 304 and kept a demoted member's cached `role: editor` (and the owner's old
-- member_count) as current.
--
-- A member's place for a shared list in their sidebar (list_members.position, SPEC §11: "the
-- caller's own sidebar") is theirs alone. 0049 counted a move of it as a write of the list, so
-- every member's feed, stream and webhooks, and the owner's, heard a list upsert (nothing they
-- see had changed) each time anyone of the list, a viewer included, dragged it in their
-- sidebar. Now such a move is an upsert of the list in the mover's own feed only, stamped at
-- commit with their next revision (their row locked until the commit, as every stamp: the
-- revisions still follow commit order); the list's version stays (the owner's If-Match holds).
CREATE OR REPLACE FUNCTION membership_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO membership_ends (user_id, list_id, member_id)
        VALUES (OLD.owner_id, OLD.list_id, OLD.member_id);
        UPDATE lists
           SET revision = NULL, version = version + 1,
               updated_at = greatest(now(), updated_at + interval '1 microsecond')
         WHERE user_id = OLD.owner_id AND id = OLD.list_id;
    ELSIF TG_OP = 'UPDATE' AND OLD.role = NEW.role THEN
        NULL;  -- the member's own sidebar: list_members_sidebar_stamp, at commit
    ELSE
        UPDATE users SET shares = true WHERE id = NEW.owner_id AND NOT shares;
        UPDATE list_members SET revision = NULL
         WHERE list_id = NEW.list_id AND member_id = NEW.member_id AND revision IS NOT NULL;
        UPDATE lists
           SET revision = NULL, version = version + 1,
               updated_at = greatest(now(), updated_at + interval '1 microsecond')
         WHERE user_id = NEW.owner_id AND id = NEW.list_id;
    END IF;
    RETURN NULL;
END
$$;

-- The list, upserted in the mover's own log at their next revision (its state, their position
-- with it, is read by the feed).
CREATE FUNCTION stamp_member_sidebar() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    taken bigint;
BEGIN
    UPDATE users SET revision = revision + 1 WHERE id = NEW.member_id
    RETURNING revision INTO taken;
    IF taken IS NULL THEN  -- the account is gone, its memberships with it
        RETURN NULL;
    END IF;
    INSERT INTO member_changes (member_id, kind, object_id, owner_id, list_id, op, revision)
    SELECT NEW.member_id, 'list', NEW.list_id, NEW.owner_id, NEW.list_id, 'upsert', taken
      FROM list_members
     WHERE list_id = NEW.list_id AND member_id = NEW.member_id
        ON CONFLICT (member_id, kind, object_id) DO UPDATE
       SET op = 'upsert', revision = excluded.revision, changed_at = now();
    PERFORM pg_notify('todo_events',
                      json_build_object('user_id', NEW.member_id, 'kind', 'change')::text);
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER list_members_sidebar_stamp AFTER UPDATE OF position ON list_members
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (OLD.role = NEW.role AND OLD.position IS DISTINCT FROM NEW.position)
    EXECUTE FUNCTION stamp_member_sidebar();
