"""Handlers of the contract tag `lists`: a user's lists, their own and those they joined, in
their own manual order.

As for tasks, every query finds a list by id among those the caller belongs to (any other is a
404 like a missing one) and answers the caller's role, which the gate compares with the
operation's (server/access/gate.py),
writes check If-Match in their own WHERE clause, and when no row changed, list_state tells
404 from 412 (and, for a delete, from the inbox's 409). Creating and moving hold the user's
placement lock: the quota is counted, and neighbours read, with no other such change between.
The statements that read, patch or delete embed the access token's account check
(server/access/gate.py): one round trip does both.
"""

from __future__ import annotations

from typing import Any, NoReturn

from server.contract.context import Request
from server.contract.reply import Reply
from server.errors import InboxKept, NotFound, PreconditionFailed, QuotaExceeded
from server.http.preconditions import conditional, current, etag, if_match_versions, versioned_reply
from server.lists.fields import list_body, new_list_body
from server.ordering.siblings import Siblings, find_slot, put

NO_LIST = "No such list."


async def list_lists(request: Request) -> Reply:
    rows = request.app.ctx.queries.list_lists(request.ctx.db, **request.ctx.token)
    found = [list_body(row) async for row in rows if row["id"] is not None]
    return conditional(request, {"lists": found})


async def create_list(request: Request) -> Reply:
    app, user_id, body = request.app, request.ctx.user_id, request.ctx.body
    quota = app.ctx.settings.list_quota
    async with request.ctx.db.transaction() as conn:
        await app.ctx.queries.lock_placement(conn, **request.ctx.token)
        row = await app.ctx.queries.create_list(
            conn, user_id=user_id, name=body["name"].strip(), color=body.get("color"), quota=quota
        )
    if row is None:
        raise QuotaExceeded(f"An account has at most {quota} lists.")
    headers = {"Location": f"/api/{user_id}/lists/{row['id']}", "ETag": etag(row["version"])}
    return Reply(new_list_body(row), status=201, headers=headers)


async def get_list(request: Request) -> Reply:
    row = await request.app.ctx.queries.get_list(
        request.ctx.db, **request.ctx.token, id=_list_id(request)
    )
    if row["id"] is None:
        raise NotFound(NO_LIST)
    if_none_match = request.ctx.header_params.get("If-None-Match")
    return versioned_reply(list_body(row), row["version"], if_none_match)


async def update_list(request: Request) -> Reply:
    body = request.ctx.body
    row = await request.app.ctx.queries.update_list(
        request.ctx.db,
        **request.ctx.access,
        id=_list_id(request),
        versions=_versions(request),
        name=body["name"].strip() if "name" in body else None,
        set_color="color" in body,
        color=body.get("color"),
    )
    if row["id"] is None:
        await _refused(request, deleting=False)
    return Reply(list_body(row), headers={"ETag": etag(row["version"])})


async def delete_list(request: Request) -> Reply:
    deleted = await request.app.ctx.queries.delete_list(
        request.ctx.db, **request.ctx.access, id=_list_id(request), versions=_versions(request)
    )
    if deleted["id"] is None:
        await _refused(request, deleting=True)
    return Reply(status=204)


async def move_list(request: Request) -> Reply:
    queries, user_id, list_id = request.app.ctx.queries, request.ctx.user_id, _list_id(request)
    after_id = request.ctx.body["after_id"]
    versions = _versions(request)
    async with request.ctx.db.transaction() as conn:
        await queries.lock_placement(conn, **request.ctx.token)
        current(await queries.list_state(conn, user_id=user_id, id=list_id), versions, NO_LIST)
        siblings = Siblings(
            conn,
            {"user_id": user_id},
            list_id,
            queries.list_neighbours,
            queries.list_positions,
            queries.park_lists,
            queries.renumber_lists,
            queries.next_position,
            "is not another of your lists",
        )
        slot = await find_slot(siblings, None if after_id is None else str(after_id))

        async def write(position: str | None) -> Any:
            return await queries.move_list(conn, user_id=user_id, id=list_id, position=position)

        row = await put(siblings, slot, write)
    return Reply(list_body(row), headers={"ETag": etag(row["version"])})


async def _refused(request: Request, *, deleting: bool) -> NoReturn:
    """Why a write changed nothing: no such list (404), a stale If-Match (412), or the inbox,
    which is never deleted (409)."""
    state = await request.app.ctx.queries.list_state(
        request.ctx.db, user_id=request.ctx.user_id, id=_list_id(request)
    )
    if state is None:
        raise NotFound(NO_LIST)
    versions = _versions(request)
    if deleting and state["is_inbox"] and (versions is None or state["version"] in versions):
        raise InboxKept()
    raise PreconditionFailed(etag(state["version"]))


def _versions(request: Request) -> list[int] | None:
    return if_match_versions(request.ctx.header_params.get("If-Match"))


def _list_id(request: Request) -> str:
    return str(request.ctx.path_params["list_id"])
