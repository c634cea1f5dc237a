-- depends: 0058.stamp-what-waits
-- A task created by a statement that is its own transaction takes its revision in that
-- statement (issue 29: a create's cost); every other write still waits for the commit stamp.
--
-- The commit stamp (0040, 0055) writes each new task a second time at commit: an update that
-- cannot be HOT (revision is indexed), so every index of tasks takes a second entry, every
-- foreign key of a row inserted in the same transaction is checked again, and a dead row is
-- left for vacuum: half a create's cost in the database. A create that is its own transaction
-- (create_task with :alone, the service's create without an Idempotency-Key) now takes its
-- owner's next revision itself, under the owner's row lock that its commit releases, as the
-- stamp would at commit: revisions still go out in commit order. It does so only for an owner
-- whose lists have never had members (users.shares false, read under that lock); a sharing
-- owner's create waits for the stamp, which fans it out to the members. Before that lock the
-- statement takes every lock its insert will (the list's key, the quota's count and the list's
-- counts, in the order the count trigger takes them), so it never holds the owner's row while it
-- waits for a lock that a transaction waiting for that row holds (a list's deletion, a move, a
-- delete: they take the owner's row at their commit).
--
-- So a task inserted keeps a revision its statement gives; tasks_mark_changed now runs on
-- updates only (an insert that gives none waits for the stamp, as before).
DROP TRIGGER tasks_mark_changed ON tasks;
CREATE TRIGGER tasks_mark_changed BEFORE UPDATE ON tasks
    FOR EACH ROW EXECUTE FUNCTION mark_changed();
