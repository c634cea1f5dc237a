"""Where a task is: its list, its parent and its position among its siblings.

Creating at the top level is one statement (the list defaults to the inbox, the position to
last). Anything that can deepen a tree (a subtask, a move) holds the placement lock of the tree's
owner (whoever of the list's editors asks), so
the depth and cycle checks of placement_facts (recursive CTEs over the user's tasks) still
hold when the write lands: two concurrent moves cannot make a cycle or a fifth level.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, NoReturn

import asyncpg

from server.db.executor import ATTEMPTS, Executor, Row
from server.db.queries import AccessParams, Queries, TokenParams
from server.errors import NotFound, QuotaExceeded, UnprocessableContent
from server.http.preconditions import current
from server.lists.missing import not_your_list
from server.ordering.siblings import LAST, Siblings, find_slot, put
from server.tasks.missing import NO_TASK

MAX_LEVEL = 4  # a top-level task is at level 1
NOT_YOUR_LIST = not_your_list("for the inbox")
NOT_THE_PARENTS_LIST = (
    "is not the list of the parent task: leave list_id out (a subtask goes in its parent's list)"
)
NOT_YOUR_TASK = "is not one of your tasks: send the id of a task from GET /api/{user_id}/tasks"
TOP_LEVEL = "00000000-0000-0000-0000-000000000000"  # parent_key of top-level tasks


async def create(
    db: Executor, queries: Queries, token: AccessParams, fields: Mapping[str, Any], quota: int
) -> Row:
    """The new task's row, last among its siblings; `token` holds the access token's parameters
    of the account check."""
    with _gone_meanwhile():
        return await _create(db, queries, token, fields, quota)


async def _create(
    db: Executor, queries: Queries, token: AccessParams, fields: Mapping[str, Any], quota: int
) -> Row:
    user_id = token["user_id"]
    if fields["parent_id"] is None:  # one statement, the account check included
        row = await queries.create_task(db, **token, quota=quota, alone=db.alone, **fields)
        if row["id"] is None:
            await _refused(db, queries, token, fields, quota, row)
        return row
    async with db.transaction() as conn:
        parent = await queries.task_owner(conn, **token, id=fields["parent_id"])
        if parent["owner_id"] is None:
            raise _invalid("parent_id", "is not one of your tasks")
        await queries.lock_owner_placement(conn, owner_id=str(parent["owner_id"]))
        facts = await queries.placement_facts(
            conn,
            user_id=user_id,
            owner_id=None,
            id=None,
            parent_id=fields["parent_id"],
            list_id=None,
        )
        list_id = facts["parent_list_id"]
        if list_id is None:
            raise _invalid("parent_id", NOT_YOUR_TASK)
        if fields["list_id"] not in (None, list_id):
            raise _invalid("list_id", NOT_THE_PARENTS_LIST)
        if facts["parent_level"] >= MAX_LEVEL:
            raise _invalid(
                "parent_id",
                f"is at level {MAX_LEVEL}, which takes no subtasks: choose a parent higher up",
            )
        row = await queries.create_task(
            conn, **token, quota=quota, alone=False, **{**fields, "list_id": list_id}
        )
        if row["id"] is None:
            await _refused(conn, queries, token, fields, quota, row)
        return row


async def move(
    db: Executor,
    queries: Queries,
    token: AccessParams,
    task_id: str,
    body: Mapping[str, Any],
    versions: list[int] | None,
) -> Row:
    """The moved task's row: into body's list, under its parent, after its sibling (SPEC §6).
    A task created meanwhile can take a key a renumbered run wanted (it holds no lock): then
    the move runs again, and sees it. A member's move (an editor of the task's list) stays among
    the owner's lists they may write: the task stays keyed by its owner."""
    user_id = token["user_id"]
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with _gone_meanwhile():
                async with db.transaction() as conn:
                    found = await queries.task_owner(conn, **token, id=task_id)
                    if found["owner_id"] is None:
                        raise NotFound(NO_TASK)
                    await queries.lock_owner_placement(conn, owner_id=str(found["owner_id"]))
                    task = await queries.task_placement(conn, **token, id=task_id)
                    current(task if task["version"] is not None else None, versions, NO_TASK)
                    return await _place(conn, queries, user_id, task_id, task, body)
        except asyncpg.UniqueViolationError:
            if attempt == ATTEMPTS:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


async def _place(
    conn: Executor,
    queries: Queries,
    user_id: str,
    task_id: str,
    task: Mapping[str, Any],
    body: Mapping[str, Any],
) -> Row:
    """The task, locked and at the expected version, at the place body asks for."""
    wanted_list = _id(body.get("list_id"))
    if "parent_id" in body:
        parent = _id(body["parent_id"])
    elif wanted_list in (None, task["list_id"]):
        parent = task["parent_id"]
    else:
        parent = None
    owner = str(task["owner_id"])
    facts = await queries.placement_facts(
        conn, user_id=user_id, owner_id=owner, id=task_id, parent_id=parent, list_id=wanted_list
    )
    list_id = _check_destination(task, facts, wanted_list, parent)
    siblings = _siblings(conn, queries, owner, list_id, parent, task_id)
    after = _id(body["after_id"]) if "after_id" in body else LAST
    slot = await find_slot(siblings, after)

    async def write(position: str | None) -> Row:
        return await queries.move_task(
            conn,
            user_id=owner,
            id=task_id,
            list_id=list_id,
            parent_id=parent,
            position=position,
        )

    return await put(siblings, slot, write)


def _check_destination(
    task: Mapping[str, Any], facts: Mapping[str, Any], wanted_list: str | None, parent: str | None
) -> str:
    """The destination list, once every rule of a move holds (else a 422 at its field)."""
    if not facts["list_found"]:
        raise _invalid("list_id", NOT_YOUR_LIST)  # nor one you may write
    if parent is None:
        return wanted_list or task["list_id"]
    if facts["parent_list_id"] is None:
        raise _invalid("parent_id", NOT_YOUR_TASK)
    if wanted_list not in (None, facts["parent_list_id"]):
        raise _invalid(
            "parent_id",
            "is in another list than list_id: leave list_id out to follow the parent's list",
        )
    if facts["cycle"]:
        raise _invalid(
            "parent_id",
            "is the task itself or one of its descendants: choose a task outside the moved tree",
        )
    if facts["parent_level"] + facts["height"] > MAX_LEVEL:
        raise _invalid(
            "parent_id", f"would put a task below level {MAX_LEVEL}: choose a parent higher up"
        )
    list_id: str = facts["parent_list_id"]
    return list_id


def _siblings(
    conn: Executor, queries: Queries, user_id: str, list_id: str, parent: str | None, task_id: str
) -> Siblings:
    return Siblings(
        conn,
        {"user_id": user_id, "list_id": list_id, "parent_key": parent or TOP_LEVEL},
        task_id,
        queries.task_neighbours,
        queries.task_positions,
        queries.park_tasks,
        queries.renumber_tasks,
        queries.next_position,
        "is not a sibling at the destination: send a task under the same parent in that list,"
        " null for the first place, or leave after_id out for the last",
    )


async def _refused(
    db: Executor,
    queries: Queries,
    token: TokenParams,
    fields: Mapping[str, Any],
    quota: int,
    row: Row,
) -> NoReturn:
    """Why a create inserted nothing: an assignee who is no one of the list (422), not a list
    of the caller's (422), a parent whose list was deleted since it was checked (422), or the
    quota (409, the list owner's). The create's own answer decides what it can: no role on the
    list is its 422 even if a membership begun since would pass a second look (a read after
    it must not make a refusal the quota's). (The account deleted meanwhile, its count
    with it, is the pipeline's 401: it checks the session afresh on such refusals.)"""
    if row["caller_role"] is None:
        if fields["parent_id"] is not None:
            raise _invalid("parent_id", "no longer exists: read your lists and tasks again")
        raise _invalid("list_id", NOT_YOUR_LIST)
    if not row["assignee_ok"]:
        raise _invalid("assignee_id", "is not a member of the list")
    facts = await queries.placement_facts(
        db,
        user_id=token["user_id"],
        owner_id=None,
        id=None,
        parent_id=fields["parent_id"],
        list_id=fields["list_id"],
    )
    if not facts["list_found"]:
        raise _invalid("list_id", NOT_YOUR_LIST)
    if fields["parent_id"] is not None and facts["parent_list_id"] is None:
        raise _invalid("parent_id", "no longer exists: read your lists and tasks again")
    raise _over_quota(quota)


@contextmanager
def _gone_meanwhile() -> Iterator[None]:
    """A list or parent deleted between the checks and the write (deletes take no placement
    lock): the write's foreign key refuses it, and the answer is the check's."""
    try:
        yield
    except asyncpg.ForeignKeyViolationError as exc:
        field = "parent_id" if "parent" in (exc.constraint_name or "") else "list_id"
        raise _invalid(field, "no longer exists: read your lists and tasks again") from None


def _over_quota(quota: int) -> QuotaExceeded:
    return QuotaExceeded(f"An account has at most {quota} tasks.")


def _invalid(name: str, msg: str) -> UnprocessableContent:
    return UnprocessableContent.at(["body", name], msg, "value_error")


def _id(value: Any) -> str | None:
    return None if value is None else str(value)
