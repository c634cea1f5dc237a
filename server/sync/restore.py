"""Restoring a trashed task (SPEC §7) within the placement rules of SPEC §6.

It comes back with the descendants deleted with it: under its parent while the parent is live
and the restored subtree still ends at level 4 at the deepest, else at the top level of its own
list (the inbox if that list is gone). A move past level 4 is refused (422): its client chose the
place and can choose another. A restore names no place; the top level is where SPEC §7 already
sends it when the parent is gone, so a parent now too deep counts as one that is not there, and
a trashed task is never kept from coming back by a rule.

Like a move, it holds the placement lock of the task's owner (a shared list's editor restores
the owner's task): no move or subtask changes the parent's level
between the check and the write, and concurrent restores of one task run one after the other
(the later ones find nothing: 404). Then, in the order of migration 0032, it locks the user's
task count (a purge or emptying of the trash waits, so what is restored is still there), the
candidate lists, and the parent: a deletion of either waits, or came first and the task goes
to the next place. Nothing the write refers to can vanish under it.
"""

from __future__ import annotations

from server.db.executor import Executor, Row
from server.db.queries import AccessParams, Queries
from server.errors import NotFound
from server.tasks.placement import MAX_LEVEL

NOT_IN_TRASH = "The trash holds no such task."


async def restore(db: Executor, queries: Queries, token: AccessParams, task_id: str) -> Row:
    """The restored task's row, or NotFound when the trash holds no such task of a list the
    caller belongs to (an editor of a shared list restores its owner's task, under the owner)."""
    async with db.transaction() as conn:
        found = await queries.trashed_task(conn, **token, id=task_id)
        if found["owner_id"] is None:
            raise NotFound(NOT_IN_TRASH)
        user_id = str(found["owner_id"])
        await queries.lock_owner_placement(conn, owner_id=user_id)
        await queries.lock_task_count(conn, user_id=user_id)
        home = await queries.restore_home(conn, user_id=user_id, id=task_id)
        if home is None:
            raise NotFound(NOT_IN_TRASH)
        list_id, parent_id = home["list_id"] or home["inbox_id"], None
        parent = home["parent_id"]
        if (
            parent is not None
            and home["parent_level"] + home["height"] <= MAX_LEVEL
            and (await queries.task_placement(conn, **token, id=parent))["version"] is not None
        ):
            list_id, parent_id = home["parent_list_id"], parent
        row = await queries.restore_task(
            conn, user_id=user_id, id=task_id, list_id=list_id, parent_id=parent_id
        )
    if row is None:  # gone with its account meanwhile
        raise NotFound(NOT_IN_TRASH)
    return row
