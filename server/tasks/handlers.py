"""Handlers of the contract tag `tasks`: one user's tasks and their statistics.

Every query names the owner; a task that is missing or another user's is a 404 alike.
Writes check If-Match in the UPDATE's own WHERE clause, so of two writers holding one ETag
exactly one succeeds; when no row changed, task_version tells 404 from 412. The statements
that start a request embed the access token's account check (server/access/gate.py): one round
trip does both.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Any, NoReturn

from server.contract.context import Request
from server.contract.reply import AccessEnded, Reply
from server.db.executor import Executor, Row
from server.db.pool import keeps_statements
from server.errors import BadRequest, NotFound
from server.http.preconditions import conditional, etag, if_match_versions, versioned_reply
from server.tasks import completion, listing, placement, reminder_pages
from server.tasks import fields as task_fields
from server.tasks.fields import task_body
from server.tasks.idempotency import create_once, write_once
from server.tasks.missing import NO_TASK, missing_or_stale

MAX_WINDOW = timedelta(days=31)  # of GET /reminders


async def list_tasks(request: Request) -> Reply:
    settings = request.app.ctx.settings
    page = listing.page_request(request.ctx.token, request.ctx.query, settings.jwt_secret)
    kept = keeps_statements(settings)
    read = await listing.read_page(request.ctx.db, page, settings.jwt_secret, kept)
    reply = conditional(request, read.body)
    if read.shared:
        reply.allowed = partial(_still_shared, request, read.shared)
    return reply


async def _still_shared(request: Request, lists: frozenset[str]) -> None:
    """Asked while a large page is sent (server/contract/parts.py): a list of its tasks no
    longer shared with the caller (removed, left, the list deleted) cuts it off."""
    held = await request.app.ctx.queries.memberships_held(
        request.ctx.db, member_id=request.ctx.user_id, list_ids=list(lists)
    )
    if held < len(lists):
        raise AccessEnded(None, "a list of the page is no longer shared with the caller")


async def create_task(request: Request) -> Reply:
    db, queries, user_id = request.ctx.db, request.app.ctx.queries, request.ctx.user_id
    fields, token = task_fields.placed_fields(request.ctx.body), request.ctx.access
    quota = request.app.ctx.settings.task_quota
    key = request.ctx.header_params.get("Idempotency-Key")
    if key is None:
        body = task_body(await placement.create(db, queries, token, fields, quota))
    else:

        async def create(conn: Executor) -> Row:
            return await placement.create(conn, queries, token, fields, quota)

        body = await create_once(db, queries, user_id, key, fields, create)
    headers = {"Location": f"/api/{user_id}/tasks/{body['id']}", "ETag": etag(body["version"])}
    return Reply(body, status=201, headers=headers)


async def get_task(request: Request) -> Reply:
    row = await request.app.ctx.queries.get_task(
        request.ctx.db, **request.ctx.token, id=_task_id(request)
    )
    if row["id"] is None:
        raise NotFound(NO_TASK)
    if_none_match = request.ctx.header_params.get("If-None-Match")
    return versioned_reply(task_body(row), row["version"], if_none_match)


async def replace_task(request: Request) -> Reply:
    return await _write(request, "replace", task_fields.replaced_fields(request.ctx.body))


async def update_task(request: Request) -> Reply:
    return await _write(request, "update", task_fields.patched_fields(request.ctx.body))


async def complete_task(request: Request) -> Reply:
    return await _write(request, "complete", task_fields.completed_fields(request.ctx.body))


async def move_task(request: Request) -> Reply:
    row = await placement.move(
        request.ctx.db,
        request.app.ctx.queries,
        request.ctx.access,
        _task_id(request),
        request.ctx.body,
        if_match_versions(request.ctx.header_params.get("If-Match")),
    )
    return Reply(task_body(row), headers={"ETag": etag(row["version"])})


async def delete_task(request: Request) -> Reply:
    versions = if_match_versions(request.ctx.header_params.get("If-Match"))
    deleted = await request.app.ctx.queries.delete_task(
        request.ctx.db, **request.ctx.access, id=_task_id(request), versions=versions
    )
    if deleted["id"] is None:
        await _missing_or_stale(request)
    return Reply(status=204)


async def get_stats(request: Request) -> Reply:
    list_id = request.ctx.query.get("list_id")
    row = await request.app.ctx.queries.get_stats(
        request.ctx.db,
        **request.ctx.token,
        list_id=None if list_id is None else str(list_id),
        now=request.app.ctx.clock(),
    )
    return conditional(
        request,
        {
            "total": row["total"],
            "completed": row["completed"],
            "pending": row["total"] - row["completed"],
            "overdue": row["overdue"],
            "by_priority": {"low": row["low"], "medium": row["medium"], "high": row["high"]},
            "tags": row["tags"],
        },
    )


async def _write(request: Request, operation: str, fields: dict[str, Any]) -> Reply:
    """update_task under If-Match (a recurring task's completion: completion.py); the task
    with its new ETag. With an Idempotency-Key, done once: a retry answers the first answer
    (idempotency.py)."""
    app, token, task_id = request.app, request.ctx.access, _task_id(request)
    versions = if_match_versions(request.ctx.header_params.get("If-Match"))

    async def write(db: Executor) -> Row:
        now = app.ctx.clock()
        return await completion.write(db, app.ctx.queries, token, task_id, versions, fields, now)

    key = request.ctx.header_params.get("Idempotency-Key")
    if key is None:
        body = task_body(await write(request.ctx.db))
    else:
        asked = {"op": operation, "task_id": task_id, "if_match": versions, "fields": fields}
        body = await write_once(
            request.ctx.db, app.ctx.queries, request.ctx.user_id, key, asked, write
        )
    return Reply(body, headers={"ETag": etag(body["version"])})


async def _missing_or_stale(request: Request) -> NoReturn:
    app = request.app
    await missing_or_stale(request.ctx.db, app.ctx.queries, request.ctx.user_id, _task_id(request))


def _task_id(request: Request) -> str:
    return str(request.ctx.path_params["task_id"])


async def list_reminders(request: Request) -> Reply:
    query, app = request.ctx.query, request.app
    start = task_fields.instant(query["from"], ["query", "from"])
    end = task_fields.instant(query["to"], ["query", "to"])
    assert start is not None
    assert end is not None
    if not timedelta(0) < end - start <= MAX_WINDOW:
        raise BadRequest.at(
            ["query", "to"], "must be after from, at most 31 days later", "value_error"
        )
    secret = app.ctx.settings.jwt_secret
    return Reply(
        await reminder_pages.read_page(
            request.ctx.db, app.ctx.queries, request.ctx.token, (start, end), query, secret
        )
    )
