"""Handlers of the signed-in account's personal access tokens (issue 27, SPEC §13): making one
(shown this once), listing them, deleting one. Only a session reaches them (the contract lists
no `personalToken` requirement here): a token can never make, see or end a token."""

from __future__ import annotations

from typing import Any

from server.access.personal import SCOPES, new_token
from server.contract.context import Request
from server.contract.reply import Reply
from server.db.executor import Row
from server.errors import AccountGone, NotFound, QuotaExceeded

TOKEN_FIELDS = ("id", "name", "scopes", "created_at", "expires_at", "last_used_at")
DEFAULT_DAYS = 30  # when expires_in_days is absent (the contract says why)


def _token(row: Row) -> dict[str, Any]:
    body = {name: row[name] for name in TOKEN_FIELDS}
    body["scopes"] = sorted(body["scopes"], key=SCOPES.index)
    return body


async def create_access_token(request: Request) -> Reply:
    app, body, user_id = request.app, request.ctx.body, request.ctx.user_id
    token, said = new_token(app.ctx.settings, user_id, body["scopes"])
    quota = app.ctx.settings.access_token_quota
    async with request.ctx.db.transaction() as conn:
        # one count at a time per account; gone (deleted meanwhile): 401, as for its token
        if await app.ctx.queries.lock_user(conn, id=user_id) is None:
            raise AccountGone()
        # and the session again, under the lock: one that a password reset ended while this
        # waited for it must not leave a token the reset did not see (tokens.sql's order)
        if not await app.ctx.queries.token_account_ok(conn, **request.ctx.token):
            raise AccountGone()
        row = await app.ctx.queries.create_access_token(
            conn,
            id=said.token_id,
            user_id=user_id,
            name=body["name"].strip(),
            scopes=sorted(said.scopes, key=SCOPES.index),
            token_hash=said.token_hash,
            expires_in_days=body.get("expires_in_days", DEFAULT_DAYS),
            quota=quota,
        )
    if row is None:
        raise QuotaExceeded(
            f"An account has at most {quota} unexpired personal access tokens; delete one first."
        )
    return Reply({**_token(row), "token": token}, status=201)


async def list_access_tokens(request: Request) -> Reply:
    rows = request.app.ctx.queries.list_access_tokens(request.ctx.db, user_id=request.ctx.user_id)
    return Reply({"tokens": [_token(row) async for row in rows]})


async def delete_access_token(request: Request) -> Reply:
    """204 once the token is deleted (refused at once everywhere); another account's, an
    unknown or an already deleted one is 404."""
    deleted = await request.app.ctx.queries.delete_access_token(
        request.ctx.db, user_id=request.ctx.user_id, id=request.ctx.path_params["token_id"]
    )
    if deleted is None:
        raise NotFound("No such personal access token.")
    return Reply(status=204)
