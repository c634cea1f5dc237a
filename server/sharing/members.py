"""Handlers of a shared list's members: who they are, their roles, and leaving.

The statements (sql/members.sql) check list access and write nothing for a role too low; the
gate answers that 403. Removing a member is the owner's, and each member's own membership is
theirs: remove_member answers the caller's standing on the membership acted on, so the one
declaration (x-required-role: owner) covers both the owner removing anyone and a member
leaving, and no handler compares roles.
"""

from __future__ import annotations

from typing import Any

from server.contract.context import Request
from server.contract.reply import Reply
from server.db.executor import Row
from server.errors import Conflict, NotFound

NO_LIST = "No such list."  # as a missing list's, for a list the caller does not belong to
NO_MEMBER = "No such member of this list."


class OwnerKept(Conflict):
    slug = "owner-kept"
    default_detail = "The list's owner stays its owner: they can neither leave nor change role."


async def list_members(request: Request) -> Reply:
    rows = request.app.ctx.queries.list_members(
        request.ctx.db, **request.ctx.access, list_id=_list_id(request)
    )
    found = [member_body(row) async for row in rows]
    if found[0]["user"]["id"] is None:
        raise NotFound(NO_LIST)
    return Reply({"members": found})


async def update_member(request: Request) -> Reply:
    row = await request.app.ctx.queries.set_member_role(
        request.ctx.db,
        **request.ctx.access,
        list_id=_list_id(request),
        member_id=_member_id(request),
        role=request.ctx.body["role"],
    )
    _found(row)
    return Reply(member_body(row))


async def remove_member(request: Request) -> Reply:
    row = await request.app.ctx.queries.remove_member(
        request.ctx.db,
        **request.ctx.access,
        list_id=_list_id(request),
        member_id=_member_id(request),
    )
    _found(row)
    return Reply(status=204)


def _found(row: Row) -> None:
    """404 for a list the caller does not belong to or a member it does not have; 409 for
    the owner, who is no member to change or remove."""
    if row["caller_role"] is None:
        raise NotFound(NO_LIST)
    if row["member_id"] is None:
        if row["is_owner"]:
            raise OwnerKept()
        raise NotFound(NO_MEMBER)


def member_body(row: Row) -> dict[str, Any]:
    user = {"id": row["member_id"], "name": row["name"], "email": row["email"]}
    return {"user": user, "role": row["role"], "joined_at": row["joined_at"]}


def _list_id(request: Request) -> str:
    return str(request.ctx.path_params["list_id"])


def _member_id(request: Request) -> str:
    return str(request.ctx.path_params["member_id"])
