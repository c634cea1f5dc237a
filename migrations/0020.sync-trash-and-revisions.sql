-- depends: 0011.place-tasks
-- Sync (SPEC §7). Each user has a revision counter. Every task, list or tombstone a transaction
-- writes takes the user's next revision as the transaction commits (a deferred trigger; until
-- then its revision is null). Bumping it locks the user's row until the commit, so the user's
-- revisions are handed out in commit order: reading "revision > since" up to the committed
-- revision never misses a committed change. Taking that lock last, when the transaction holds
-- every row it writes, means it never waits for a row while holding it: no deadlock, whatever
-- order concurrent writers lock their rows in. A deleted task moves to the trash with its
-- descendants (the parent_id cascade fires the trigger for each); every deletion leaves a
-- tombstone. NOTIFY rides the same trigger, delivered at commit (a transaction's identical
-- payloads once).
ALTER TABLE users
    ADD COLUMN revision     bigint NOT NULL DEFAULT 0,
    -- the feed forgets tombstones older than CHANGES_RETENTION_DAYS: a since below this is 410
    ADD COLUMN sync_horizon bigint NOT NULL DEFAULT 0;

ALTER TABLE tasks ADD COLUMN revision bigint;
ALTER TABLE lists ADD COLUMN revision bigint;

WITH objects AS (
    SELECT id, user_id, created_at, 'list' AS kind FROM lists
    UNION ALL
    SELECT id, user_id, created_at, 'task' FROM tasks
), ranked AS (
    SELECT id, kind, row_number() OVER (PARTITION BY user_id ORDER BY created_at, kind, id) AS r
      FROM objects
), t AS (
    UPDATE tasks SET revision = ranked.r FROM ranked WHERE ranked.kind = 'task' AND ranked.id = tasks.id
)
UPDATE lists SET revision = ranked.r FROM ranked WHERE ranked.kind = 'list' AND ranked.id = lists.id;

UPDATE users
   SET revision = (SELECT count(*) FROM tasks WHERE user_id = users.id)
                + (SELECT count(*) FROM lists WHERE user_id = users.id);

CREATE INDEX tasks_user_revision_idx ON tasks (user_id, revision);
CREATE INDEX lists_user_revision_idx ON lists (user_id, revision);

CREATE TABLE trash (
    id           uuid        PRIMARY KEY,
    user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    list_id      uuid        NOT NULL,  -- the list it left (restore falls back to the inbox)
    parent_id    uuid,                  -- the parent it left (restore falls back to top level)
    title        text        NOT NULL,
    description  text,
    is_completed boolean     NOT NULL,
    completed_at timestamptz,
    priority     text        NOT NULL,
    due_date     timestamptz,
    tags         text[]      NOT NULL,
    position     text        COLLATE "C" NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    version      integer     NOT NULL,
    -- one deletion (a transaction) gives the task and its descendants the same deleted_at
    deleted_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX trash_user_deleted_idx ON trash (user_id, deleted_at, id);
CREATE INDEX trash_parent_idx ON trash (parent_id) WHERE parent_id IS NOT NULL;

CREATE TABLE tombstones (
    id         uuid        PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       text        NOT NULL CHECK (kind IN ('task', 'list')),
    revision   bigint,  -- null until its transaction commits
    changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tombstones_user_revision_idx ON tombstones (user_id, revision);
CREATE INDEX tombstones_changed_idx ON tombstones (changed_at);

-- The user's next revision (null when the account is gone), and the signal of a change.
CREATE FUNCTION next_revision(owner uuid) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    r bigint;
BEGIN
    UPDATE users SET revision = revision + 1 WHERE id = owner RETURNING revision INTO r;
    IF r IS NOT NULL THEN
        PERFORM pg_notify('todo_events',
                          json_build_object('user_id', owner, 'kind', 'change')::text);
    END IF;
    RETURN r;
END
$$;

-- A written row waits for its revision (null), unless the write is the stamp itself.
CREATE FUNCTION mark_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.revision IS NOT DISTINCT FROM OLD.revision THEN
        NEW.revision := NULL;
    END IF;
    RETURN NEW;
END
$$;

-- At commit: the row (if still there and not stamped yet) takes the user's next revision.
CREATE FUNCTION stamp_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'tasks' THEN
        UPDATE tasks SET revision = next_revision(user_id) WHERE id = NEW.id AND revision IS NULL;
    ELSIF TG_TABLE_NAME = 'lists' THEN
        UPDATE lists SET revision = next_revision(user_id) WHERE id = NEW.id AND revision IS NULL;
    ELSE
        UPDATE tombstones SET revision = next_revision(user_id)
         WHERE id = NEW.id AND revision IS NULL;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER tasks_mark_changed BEFORE INSERT OR UPDATE ON tasks
    FOR EACH ROW EXECUTE FUNCTION mark_changed();
CREATE TRIGGER lists_mark_changed BEFORE INSERT OR UPDATE ON lists
    FOR EACH ROW EXECUTE FUNCTION mark_changed();
CREATE TRIGGER tombstones_mark_changed BEFORE INSERT ON tombstones
    FOR EACH ROW EXECUTE FUNCTION mark_changed();
CREATE CONSTRAINT TRIGGER tasks_stamp_revision AFTER INSERT OR UPDATE ON tasks
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.revision IS NULL) EXECUTE FUNCTION stamp_revision();
CREATE CONSTRAINT TRIGGER lists_stamp_revision AFTER INSERT OR UPDATE ON lists
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.revision IS NULL) EXECUTE FUNCTION stamp_revision();
CREATE CONSTRAINT TRIGGER tombstones_stamp_revision AFTER INSERT OR UPDATE ON tombstones
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.revision IS NULL) EXECUTE FUNCTION stamp_revision();

-- A deleted task goes to the trash and leaves a tombstone; nothing when its account goes.
CREATE FUNCTION trash_task() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM users WHERE id = OLD.user_id) THEN
        RETURN NULL;
    END IF;
    INSERT INTO trash (id, user_id, list_id, parent_id, title, description, is_completed,
                       completed_at, priority, due_date, tags, position, created_at, updated_at,
                       version)
    VALUES (OLD.id, OLD.user_id, OLD.list_id, OLD.parent_id, OLD.title, OLD.description,
            OLD.is_completed, OLD.completed_at, OLD.priority, OLD.due_date, OLD.tags,
            OLD.position, OLD.created_at, OLD.updated_at, OLD.version);
    INSERT INTO tombstones (id, user_id, kind) VALUES (OLD.id, OLD.user_id, 'task')
        ON CONFLICT (id) DO UPDATE SET revision = NULL, changed_at = now();
    RETURN NULL;
END
$$;

CREATE FUNCTION tombstone_list() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM users WHERE id = OLD.user_id) THEN
        INSERT INTO tombstones (id, user_id, kind) VALUES (OLD.id, OLD.user_id, 'list');
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER tasks_trash AFTER DELETE ON tasks
    FOR EACH ROW EXECUTE FUNCTION trash_task();
CREATE TRIGGER lists_tombstone AFTER DELETE ON lists
    FOR EACH ROW EXECUTE FUNCTION tombstone_list();
