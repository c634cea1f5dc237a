"""Handlers of a list's invitations, the owner's side: invite an address, see the list's
invitations, revoke one.

An invitation is written with its mail (the outbox) in one transaction, under the owner's
invitation lock, which the hourly mail limit is counted under (strict under concurrent
invitations). One pending invitation per list and address is the unique index's to decide.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from server.accounts.mailing import require_mail
from server.clients import client_key
from server.contract.context import Request
from server.contract.reply import Reply
from server.db.executor import Row
from server.errors import ApiError, Conflict, NotFound, QuotaExceeded, TooManyRequests
from server.sharing.members import NO_LIST

INVITATION_TTL_SECONDS = 14 * 24 * 3600
LISTED = 100  # invitations a listing answers at most, the latest
NO_INVITATION = "No such invitation."


class InboxNotShared(Conflict):
    slug = "inbox-not-shared"
    default_detail = "An inbox is never shared."


class AlreadyInvited(Conflict):
    slug = "already-invited"
    default_detail = "This address already has a pending invitation to this list."


class AlreadyMember(Conflict):
    slug = "already-member"
    default_detail = "This address is the owner's or a member's of this list."


class Answered(Conflict):
    slug = "invitation-answered"

    def __init__(self, status: str) -> None:
        super().__init__(f"This invitation was {status}.")


class Expired(ApiError):
    status, slug = 410, "invitation-expired"
    default_detail = "This invitation has expired; ask the list's owner for another."


async def create_invitation(request: Request) -> Reply:
    require_mail(request)  # without mail, nobody could verify an address to answer it
    app, settings, body = request.app, request.app.ctx.settings, request.ctx.body
    queries, list_id, email = app.ctx.queries, _list_id(request), body["email"]
    try:
        async with request.ctx.db.transaction() as conn:
            target = await queries.invitation_list(conn, **request.ctx.access, list_id=list_id)
            if target["id"] is None:
                raise NotFound(NO_LIST)
            if target["is_inbox"]:
                raise InboxNotShared()
            retry_after = await queries.account_mail_retry_after(
                conn,
                user_id=request.ctx.user_id,
                kind="invitation",
                per_account=settings.invitation_limit_per_hour,
            )
            if retry_after is not None:
                raise TooManyRequests(retry_after, "Too many invitations this hour; try later.")
            await queries.expire_invitations(conn, list_id=list_id, email=email)
            row = await queries.create_invitation(
                conn,
                owner_id=request.ctx.user_id,
                list_id=list_id,
                email=email,
                role=body["role"],
                ttl_seconds=INVITATION_TTL_SECONDS,
                client=client_key(request),
                member_limit=settings.member_limit,
            )
    except asyncpg.UniqueViolationError:
        raise AlreadyInvited() from None
    if row["taken"]:
        raise AlreadyMember()
    if row["full_list"]:
        raise QuotaExceeded(f"A list has at most {settings.member_limit} members.")
    return Reply(invitation_body(row), status=201)


async def list_invitations(request: Request) -> Reply:
    rows = request.app.ctx.queries.list_invitations(
        request.ctx.db, **request.ctx.access, list_id=_list_id(request), limit=LISTED
    )
    found = [row async for row in rows]
    if found[0]["caller_role"] is None:
        raise NotFound(NO_LIST)
    return Reply({"invitations": [invitation_body(row) for row in found if row["id"]]})


async def revoke_invitation(request: Request) -> Reply:
    queries, list_id = request.app.ctx.queries, _list_id(request)
    invitation_id = str(request.ctx.path_params["invitation_id"])
    row = await queries.revoke_invitation(
        request.ctx.db, **request.ctx.access, list_id=list_id, id=invitation_id
    )
    if row["caller_role"] is None:
        raise NotFound(NO_LIST)
    if row["id"] is None:  # read afresh: a concurrent answer may have been what stopped it
        state = await queries.list_invitation_state(
            request.ctx.db, list_id=list_id, id=invitation_id
        )
        refuse(state)
    return Reply(status=204)


def refuse(state: str | None) -> None:
    """Why an invitation cannot be answered or revoked: none (404), answered (409), expired
    (410). A pending one is not refused."""
    if state is None:
        raise NotFound(NO_INVITATION)
    if state == "expired":
        raise Expired()
    if state != "pending":
        raise Answered(state)


def invitation_body(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "list": {"id": row["list_id"], "name": row["list_name"]},
        "email": row["email"],
        "role": row["role"],
        "invited_by": {"id": row["inviter_id"], "name": row["inviter_name"]},
        "created_at": row["created_at"],
        "expires_at": row["expires_at"],
        "status": row["status"],
    }


def _list_id(request: Request) -> str:
    return str(request.ctx.path_params["list_id"])
