-- depends: 0011.place-tasks
-- Sync (SPEC §7). Each user has a revision counter; every write of one of their tasks or lists
-- takes the next value, by trigger, inside the writing statement. Bumping it locks the user's
-- row until commit, so a user's writes are serialised and their revisions are in commit order:
-- reading "revision > since" never misses a committed change. A deleted task moves to the
-- trash with its descendants (the parent_id cascade fires the trigger for each of them); every
-- deletion leaves a tombstone for the change feed. NOTIFY rides the same trigger, so it is
-- delivered at commit (identical payloads of one transaction are delivered once).
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

ALTER TABLE tasks ALTER COLUMN revision SET NOT NULL;
ALTER TABLE lists ALTER COLUMN revision SET NOT NULL;
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
    revision     bigint      NOT NULL,
    -- one deletion (a transaction) gives the task and its descendants the same deleted_at
    deleted_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX trash_user_deleted_idx ON trash (user_id, deleted_at, id);
CREATE INDEX trash_parent_idx ON trash (parent_id) WHERE parent_id IS NOT NULL;

CREATE TABLE tombstones (
    id         uuid        PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       text        NOT NULL CHECK (kind IN ('task', 'list')),
    revision   bigint      NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tombstones_user_revision_idx ON tombstones (user_id, revision);
CREATE INDEX tombstones_changed_idx ON tombstones (changed_at);

-- The user's next revision, or null when the account is being deleted.
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

CREATE FUNCTION stamp_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.revision := next_revision(NEW.user_id);
    RETURN NEW;
END
$$;

CREATE TRIGGER tasks_stamp_revision BEFORE INSERT OR UPDATE ON tasks
    FOR EACH ROW EXECUTE FUNCTION stamp_revision();
CREATE TRIGGER lists_stamp_revision BEFORE INSERT OR UPDATE ON lists
    FOR EACH ROW EXECUTE FUNCTION stamp_revision();

-- A deleted task goes to the trash and leaves a tombstone; nothing when its account goes.
CREATE FUNCTION trash_task() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r bigint := next_revision(OLD.user_id);
BEGIN
    IF r IS NULL THEN
        RETURN NULL;
    END IF;
    INSERT INTO trash (id, user_id, list_id, parent_id, title, description, is_completed,
                       completed_at, priority, due_date, tags, position, created_at, updated_at,
                       version, revision)
    VALUES (OLD.id, OLD.user_id, OLD.list_id, OLD.parent_id, OLD.title, OLD.description,
            OLD.is_completed, OLD.completed_at, OLD.priority, OLD.due_date, OLD.tags,
            OLD.position, OLD.created_at, OLD.updated_at, OLD.version, r);
    INSERT INTO tombstones (id, user_id, kind, revision) VALUES (OLD.id, OLD.user_id, 'task', r)
        ON CONFLICT (id) DO UPDATE SET revision = excluded.revision, changed_at = now();
    RETURN NULL;
END
$$;

CREATE FUNCTION tombstone_list() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r bigint := next_revision(OLD.user_id);
BEGIN
    IF r IS NOT NULL THEN
        INSERT INTO tombstones (id, user_id, kind, revision) VALUES (OLD.id, OLD.user_id, 'list', r);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER tasks_trash AFTER DELETE ON tasks
    FOR EACH ROW EXECUTE FUNCTION trash_task();
CREATE TRIGGER lists_tombstone AFTER DELETE ON lists
    FOR EACH ROW EXECUTE FUNCTION tombstone_list();
