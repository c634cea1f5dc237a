-- Back to 0041's list_role and 0030's set_task_due_at.
CREATE OR REPLACE FUNCTION list_role(caller uuid, owner uuid, list uuid) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN caller = owner THEN 'owner'
                ELSE (SELECT m.role FROM list_members m
                       WHERE m.list_id = list AND m.member_id = caller) END
$$;

CREATE OR REPLACE FUNCTION set_task_due_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.due_at := CASE WHEN NEW.due_on IS NULL THEN NEW.due_date
                       ELSE task_due_at(NULL, NEW.due_on,
                                        (SELECT timezone FROM users WHERE id = NEW.user_id)) END;
    RETURN NEW;
END
$$;
