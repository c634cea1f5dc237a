"""Handlers of the contract tag `me`: the signed-in account, its password and its deletion.

A password is checked against the hash read before the (slow, off-loop) bcrypt check, and the
write that follows only applies while that hash is still the stored one: a password changed in
between makes the confirmation wrong (403), never silently accepted.
"""

from __future__ import annotations

from typing import Any

from server.context import Request
from server.contract.reply import Reply
from server.errors import AccountGone, Forbidden

NOT_CONFIRMED = "The password is wrong."


async def get_me(request: Request) -> Reply:
    app = request.app
    account = await app.ctx.queries.get_user(app.ctx.db, id=request.ctx.user_id)
    if account is None:
        raise AccountGone()
    return Reply(dict(account))


async def update_me(request: Request) -> Reply:
    app = request.app
    account = await app.ctx.queries.rename_user(
        app.ctx.db, id=request.ctx.user_id, name=request.ctx.body["name"].strip()
    )
    if account is None:
        raise AccountGone()
    return Reply(dict(account))


async def change_password(request: Request) -> Reply:
    """The new password replaces the old, and every refresh token of the account is revoked."""
    app, body, user_id = request.app, request.ctx.body, request.ctx.user_id
    old_hash = await _confirmed_hash(request, body["current_password"])
    new_hash = await app.ctx.hasher.hash(body["new_password"])
    async with app.ctx.db.transaction() as conn:
        changed = await app.ctx.queries.replace_password_hash(
            conn, id=user_id, old_hash=old_hash, new_hash=new_hash
        )
        if changed is None:
            raise Forbidden(NOT_CONFIRMED)
        await app.ctx.queries.revoke_user_refresh_tokens(conn, user_id=user_id)
    return Reply(status=204)


async def delete_me(request: Request) -> Reply:
    """The account goes, and with it (ON DELETE CASCADE) its tasks, tokens and idempotency keys."""
    app = request.app
    password_hash = await _confirmed_hash(request, request.ctx.body["password"])
    async with app.ctx.db.transaction() as conn:
        deleted = await app.ctx.queries.delete_user(
            conn, id=request.ctx.user_id, password_hash=password_hash
        )
    if deleted is None:
        raise Forbidden(NOT_CONFIRMED)
    return Reply(status=204)


async def _confirmed_hash(request: Request, password: str) -> Any:
    """The account's password hash once `password` matches it; else 403 (401 if it is gone)."""
    app = request.app
    password_hash = await app.ctx.queries.get_password_hash(app.ctx.db, id=request.ctx.user_id)
    if password_hash is None:
        raise AccountGone()
    if not await app.ctx.hasher.verify(password, password_hash):
        raise Forbidden(NOT_CONFIRMED)
    return password_hash
