"""Handlers of the trash: a deleted task (and the descendants deleted with it) waits there
TRASH_RETENTION_DAYS, can be restored, purged, or the trash emptied. Deleting moves a task to the
trash by the trigger of migration 0020, whichever statement deletes it."""

from __future__ import annotations

from typing import Any

from server.contract.context import Request
from server.contract.reply import Reply
from server.errors import NotFound, UnprocessableContent
from server.http.paging import both_offset_and_cursor, cursor_instant, decode_cursor, encode_cursor
from server.http.preconditions import conditional, etag
from server.lists.missing import not_your_list
from server.sync.restore import NOT_IN_TRASH, restore
from server.tasks.fields import task_body

CONTEXT = b"trash"
NOT_YOUR_LIST = not_your_list("to clear every list")


async def list_trash(request: Request) -> Reply:
    app, user_id, query = request.app, request.ctx.user_id, request.ctx.query
    secret = app.ctx.settings.jwt_secret
    limit, offset, cursor = query["limit"], query.get("offset"), query.get("cursor")
    role = request.ctx.access["required_role"]  # on a shared list, to see its trash
    after: tuple[Any, Any] = (None, None)
    if cursor is not None:
        if offset is not None:
            both_offset_and_cursor()
        at, last_id = decode_cursor(secret, user_id.encode() + CONTEXT, cursor)
        after = (cursor_instant(at), last_id)
    async with request.ctx.db.transaction() as conn:
        rows = [
            row
            async for row in app.ctx.queries.trash_page(
                conn,
                user_id=user_id,
                role=role,
                limit=limit + 1,
                offset=offset or 0,
                after_deleted_at=after[0],
                after_id=after[1],
            )
        ]
        total = (
            rows[0]["total"]
            if rows
            else await app.ctx.queries.trash_total(conn, user_id=user_id, role=role)
        )
    more, rows = len(rows) > limit, rows[:limit]
    next_cursor = None
    if more:
        last = rows[-1]
        key = last["deleted_at"].isoformat()
        next_cursor = encode_cursor(secret, user_id.encode() + CONTEXT, key, str(last["id"]))
    body = {
        "tasks": [task_body(row) for row in rows],
        "total": total,
        "limit": limit,
        "offset": None if cursor is not None else offset or 0,
        "next_cursor": next_cursor,
    }
    return conditional(request, body)


async def restore_task(request: Request) -> Reply:
    app = request.app
    row = await restore(request.ctx.db, app.ctx.queries, request.ctx.access, _task_id(request))
    return Reply(task_body(row), headers={"ETag": etag(row["version"])})


async def purge_trashed_task(request: Request) -> Reply:
    queries, user_id = request.app.ctx.queries, request.ctx.user_id
    async with request.ctx.db.transaction() as conn:
        found = await queries.trashed_task(conn, **request.ctx.access, id=_task_id(request))
        if found["owner_id"] is None:
            raise NotFound(NOT_IN_TRASH)
        await queries.lock_task_count(conn, user_id=user_id)  # before the rows (migration 0032)
        count = await queries.purge_trashed(conn, user_id=user_id, id=_task_id(request))
    if not count:
        raise NotFound(NOT_IN_TRASH)
    return Reply(status=204)


async def empty_trash(request: Request) -> Reply:
    queries, user_id = request.app.ctx.queries, request.ctx.user_id
    async with request.ctx.db.transaction() as conn:
        await queries.lock_task_count(conn, user_id=user_id)
        await queries.empty_trash(conn, user_id=user_id)
    return Reply(status=204)


async def clear_completed(request: Request) -> Reply:
    app, body = request.app, request.ctx.body or {}
    list_id = body.get("list_id")
    async with request.ctx.db.transaction() as conn:
        cleared = await app.ctx.queries.clear_completed(
            conn, **request.ctx.access, list_id=None if list_id is None else str(list_id)
        )
        if list_id is not None and cleared["caller_role"] is None:  # none cleared: no such list
            raise UnprocessableContent.at(["body", "list_id"], NOT_YOUR_LIST, "value_error")
        count = await app.ctx.queries.trashed_now(conn, user_id=str(cleared["owner_id"]))
    return Reply({"count": count})


def _task_id(request: Request) -> str:
    return str(request.ctx.path_params["task_id"])
