-- depends: 0060.plan-once
-- A create's row locks taken by a function of their own (issue 29: one account's creates).
--
-- create_task locked the owner's count (the quota), the list's counts and, for a create that is
-- its own transaction (0059), the owner's row, each inside its one statement. Every create of
-- the account writes those rows, so a create that waited for one found it changed when it got
-- it, and PostgreSQL re-checked the row the way it does for any statement (EvalPlanQual): by
-- starting every part of that statement afresh, the insert into tasks and its eleven indexes
-- among them, up to three times a create. perf, one account's creates from 32 connections:
-- EvalPlanQualBegin 12% of PostgreSQL's CPU, starting plan nodes 19%. Here each lock is a
-- statement of three lines, which is all such a re-check starts again.
--
-- Same locks, in the same order (the count trigger's: the owner's count, then the list's
-- counts; the owner's row last, 0059), the same quota test on the count as it stands once
-- locked, and the same revision and signal. The list's counts and the owner's row are taken
-- here only with `stamp` (a create that is its own transaction), as before: a create in a
-- transaction (a subtask, an Idempotency-Key, a batch) that held the list's counts while its
-- insert waited for a parent being deleted would deadlock with that deletion's count trigger
-- (the review of this migration, findings-s38-claim.md F1). has_room is false when the owner
-- has `quota` tasks (the trash counts) or has no count; new_revision is null unless `stamp` and
-- the owner shares no list (the create then waits for the commit stamp, as before).
CREATE FUNCTION claim_room(owner uuid, list uuid, quota integer, stamp boolean,
                           OUT has_room boolean, OUT new_revision bigint)
LANGUAGE plpgsql AS $$
BEGIN
    SELECT c.tasks < quota INTO has_room FROM task_counts AS c WHERE c.user_id = owner FOR UPDATE;
    has_room := coalesce(has_room, false);
    IF NOT has_room OR stamp IS NOT TRUE THEN
        RETURN;
    END IF;
    PERFORM FROM list_counts AS c WHERE c.user_id = owner AND c.list_id = list
        FOR NO KEY UPDATE;
    IF FOUND THEN
        UPDATE users AS u SET revision = u.revision + 1 WHERE u.id = owner AND NOT u.shares
        RETURNING u.revision INTO new_revision;
        IF FOUND THEN
            PERFORM pg_notify('todo_events',
                              json_build_object('user_id', owner, 'kind', 'change')::text);
        END IF;
    END IF;
END
$$;
