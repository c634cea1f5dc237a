DROP TRIGGER list_members_sidebar_stamp ON list_members;
DROP FUNCTION stamp_member_sidebar();
-- 0049's: a membership's change writes the list's revision alone, for everyone.
CREATE OR REPLACE FUNCTION membership_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO membership_ends (user_id, list_id, member_id)
        VALUES (OLD.owner_id, OLD.list_id, OLD.member_id);
        UPDATE lists SET revision = NULL WHERE user_id = OLD.owner_id AND id = OLD.list_id;
    ELSE
        UPDATE users SET shares = true WHERE id = NEW.owner_id AND NOT shares;
        UPDATE list_members SET revision = NULL
         WHERE list_id = NEW.list_id AND member_id = NEW.member_id AND revision IS NOT NULL;
        UPDATE lists SET revision = NULL WHERE user_id = NEW.owner_id AND id = NEW.list_id;
    END IF;
    RETURN NULL;
END
$$;
