-- depends: 0059.stamp-a-lone-create
-- Two functions that PostgreSQL planned again on every call (issue 29: where a request's time in
-- the database goes).
--
-- A statement's plan is cached per connection; after five calls PostgreSQL keeps a generic plan
-- unless the plans it makes for each call's values cost less, and then it plans every call
-- again. Both functions below give it that reason: with the values known, a CASE folds away a
-- subquery. list_role (0041) is `CASE WHEN caller = owner THEN 'owner' ELSE (SELECT ...) END`:
-- for an owner, nearly every call, the planned call skips list_members' index, so each GET,
-- create and update planned it twice. set_task_due_at (0030) assigned a CASE with a subquery of
-- users, planned again for every task inserted or given a due. In PL/pgSQL the test is a simple
-- expression, evaluated without the planner, and each query left has one plan whatever the
-- values. Same answers for every input.
CREATE OR REPLACE FUNCTION list_role(caller uuid, owner uuid, list uuid) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF caller = owner THEN
        RETURN 'owner';
    END IF;
    RETURN (SELECT m.role FROM list_members m WHERE m.list_id = list AND m.member_id = caller);
END
$$;

CREATE OR REPLACE FUNCTION set_task_due_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.due_on IS NULL THEN
        NEW.due_at := NEW.due_date;
    ELSE
        NEW.due_at := task_due_at(NULL, NEW.due_on,
                                  (SELECT timezone FROM users WHERE id = NEW.user_id));
    END IF;
    RETURN NEW;
END
$$;
