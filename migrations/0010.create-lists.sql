-- depends: 0005.create-idempotency-keys
-- Lists of tasks, in each user's manual order, and the inbox every account has.
--
-- Positions (of lists here, of tasks in 0011) are opaque keys compared byte by byte (COLLATE
-- "C"), digits 0-9A-Za-z, never ending in '0' (server/positions.py makes keys between two
-- neighbours). next_position() makes a key after every key ever made: a length letter, the
-- hexadecimal of a sequence number, and 'V', so "place it last" is one statement that needs
-- no neighbour and no lock, and concurrent appends never collide.
CREATE SEQUENCE positions;

CREATE FUNCTION next_position() RETURNS text LANGUAGE sql VOLATILE AS $$
    SELECT chr(96 + length(h)) || h || 'V' FROM to_hex(nextval('positions')) AS h
$$;

CREATE TABLE lists (
    id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       text        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    color      text        CHECK (color ~ '^#[0-9a-fA-F]{6}$'),
    position   text        COLLATE "C" NOT NULL DEFAULT next_position()
                           CHECK (length(position) BETWEEN 1 AND 64),
    is_inbox   boolean     NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    version    integer     NOT NULL DEFAULT 1 CHECK (version >= 1)
);

-- The manual order of a user's lists, each position once.
CREATE UNIQUE INDEX lists_user_position_key ON lists (user_id, position);
-- Exactly one inbox per user: at most one by this index, at least one by the trigger below
-- (and the inbox is never deleted: the service refuses it).
CREATE UNIQUE INDEX lists_user_inbox_key ON lists (user_id) WHERE is_inbox;
-- What tasks (user_id, list_id) refer to: a task's list is always its owner's.
CREATE UNIQUE INDEX lists_user_id_key ON lists (user_id, id);

-- Every account is made with its inbox, in the same transaction, whoever inserts it.
CREATE FUNCTION create_inbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO lists (user_id, name, is_inbox) VALUES (NEW.id, 'Inbox', true);
    RETURN NULL;
END
$$;

CREATE TRIGGER users_create_inbox AFTER INSERT ON users
    FOR EACH ROW EXECUTE FUNCTION create_inbox();

INSERT INTO lists (user_id, name, is_inbox)
SELECT id, 'Inbox', true FROM users ORDER BY created_at, id;
