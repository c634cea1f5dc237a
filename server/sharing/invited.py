"""Handlers of the invitee's side: the invitations addressed to the caller, accepting and
declining one.

Only an account whose email is verified and equal (lower-cased, as users.email is compared) to
an invitation's sees or answers it; to anyone else it is a 404 like a missing id. The address
is read at each request: invitations follow the account's verified address at the time.
Accepting locks the list, then the invitation (the order a deletion of the list takes), so
concurrent joins count each other's members and a concurrent revocation either comes first
(409) or finds the invitation accepted (409).
"""

from __future__ import annotations

import asyncpg

from server.accounts.mailing import require_mail
from server.contract.context import Request
from server.contract.reply import Reply
from server.errors import NotFound, QuotaExceeded
from server.lists.fields import list_body
from server.sharing.invitations import LISTED, NO_INVITATION, AlreadyMember, invitation_body, refuse


async def list_my_invitations(request: Request) -> Reply:
    require_mail(request)
    rows = request.app.ctx.queries.my_invitations(request.ctx.db, **request.ctx.token, limit=LISTED)
    return Reply({"invitations": [invitation_body(row) async for row in rows if row["id"]]})


async def accept_invitation(request: Request) -> Reply:
    require_mail(request)
    queries, user_id, limit = request.app.ctx.queries, request.ctx.user_id, _limit(request)
    invitation_id = _invitation_id(request)
    try:
        async with request.ctx.db.transaction() as conn:
            found = await queries.addressed_invitation(conn, **request.ctx.token, id=invitation_id)
            if found["list_id"] is None or not await queries.lock_list_joins(
                conn, owner_id=str(found["owner_id"]), list_id=str(found["list_id"])
            ):
                raise NotFound(NO_INVITATION)
            claimed = await queries.claim_invitation(conn, user_id=user_id, id=invitation_id)
            refuse(None if claimed is None else claimed["status"])
            joined = await queries.join_list(
                conn, id=invitation_id, member_id=user_id, member_limit=limit
            )
            if joined is None:
                raise QuotaExceeded(f"A list has at most {limit} members.")
    except (asyncpg.UniqueViolationError, asyncpg.CheckViolationError):
        raise AlreadyMember("This account is already the list's owner or a member.") from None
    return Reply(list_body(joined))


async def decline_invitation(request: Request) -> Reply:
    require_mail(request)
    queries, invitation_id = request.app.ctx.queries, _invitation_id(request)
    row = await queries.decline_invitation(request.ctx.db, **request.ctx.token, id=invitation_id)
    if row["id"] is None:
        state = await queries.addressed_invitation_state(
            request.ctx.db, user_id=request.ctx.user_id, id=invitation_id
        )
        refuse(state)
    return Reply(status=204)


def _limit(request: Request) -> int:
    return request.app.ctx.settings.member_limit


def _invitation_id(request: Request) -> str:
    return str(request.ctx.path_params["invitation_id"])
