-- 0055's stamp_revisions: one fan-out for every commit.
CREATE OR REPLACE FUNCTION stamp_revisions() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    owner uuid := NEW.user_id;
    sharing boolean;
    circle uuid[];
    locked uuid[] := '{}';
    started bigint;  -- the user's revision before this transaction's block
    zone text;
    taken bigint;
BEGIN
    PERFORM set_config('todo.revision_claims',
                       replace(current_setting('todo.revision_claims', true), owner::text || ' ',
                               ''),
                       true);
    -- An owner whose lists never had members locks their row as 0040 did. Else the circle, in
    -- id order; a membership committed while this waited joins it: locked too (out of order
    -- only in that race, or an owner's first membership's; a deadlock's victim is run again by
    -- the service). An owner gone (deleted in this transaction) may have memberships ended.
    SELECT shares INTO sharing FROM users WHERE id = owner;
    IF sharing IS NOT DISTINCT FROM false THEN
        SELECT revision, timezone, shares INTO started, zone, sharing FROM users
         WHERE id = owner FOR NO KEY UPDATE;
        locked := ARRAY[owner];
    END IF;
    IF sharing IS NOT false THEN  -- (null: the account is gone)
        circle := stamp_circle(owner);
        WHILE NOT circle <@ locked LOOP
            PERFORM FROM users WHERE id = ANY (circle) AND NOT id = ANY (locked)
             ORDER BY id FOR NO KEY UPDATE;
            locked := locked || circle;
            circle := stamp_circle(owner);
        END LOOP;
        IF circle <> ARRAY[owner] THEN
            PERFORM fan_out(owner);
        END IF;
        IF started IS NULL THEN  -- (locked with the circle)
            SELECT revision, timezone INTO started, zone FROM users WHERE id = owner;
        END IF;
    END IF;
    IF started IS NULL THEN  -- the account is gone, its rows with it
        RETURN NULL;
    END IF;
    taken := stamp_rows(owner, started, zone);
    IF taken > started THEN
        UPDATE users SET revision = taken WHERE id = owner;
        PERFORM pg_notify('todo_events',
                          json_build_object('user_id', owner, 'kind', 'change')::text);
    END IF;
    RETURN NULL;
END
$$;

DROP FUNCTION stamp_in_bulk(uuid);
DROP FUNCTION fan_out_in_bulk(uuid);
DROP FUNCTION stamp_circle_in_bulk(uuid);
