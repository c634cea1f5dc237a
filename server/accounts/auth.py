"""Handlers of the contract tag `auth`: signup, login, refresh and logout.

Failed logins are limited per email and per client address (settings.login_limit_*), counted in
PostgreSQL. An attempt is charged as a failure *before* its password is checked, under advisory
locks of its email and client, so concurrent guesses cannot overrun a limit. A successful login
clears only this email's failures from this client: never another client's count, and never this
client's count for other emails.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from server.accounts.security import issue_access_token, new_refresh_token, refresh_token_hash
from server.context import Request
from server.contract.reply import Reply
from server.errors import EmailTaken, TooManyRequests, Unauthorized, UnprocessableContent

BAD_CREDENTIALS = "The email or password is wrong."
REFRESH_REFUSED = "The refresh token is invalid, expired or revoked; log in again."


async def signup(request: Request) -> Reply:
    app, body = request.app, request.ctx.body
    password_hash = await app.ctx.hasher.hash(body["password"])
    try:
        user = await app.ctx.queries.create_user(
            app.ctx.db, email=body["email"], name=body["name"].strip(), password_hash=password_hash
        )
    except asyncpg.UniqueViolationError:
        raise EmailTaken() from None
    except asyncpg.CheckViolationError:  # the table's own bounds on email, should they differ
        raise UnprocessableContent.at(
            ["body", "email"], "must be a valid email address", "format"
        ) from None
    return Reply(dict(user), status=201)


async def login(request: Request) -> Reply:
    app, body = request.app, request.ctx.body
    email, client = body["email"], _client(request)
    await _charge_attempt(request, email, client)
    found = await app.ctx.queries.get_login(app.ctx.db, email=email)
    account = dict(found) if found else None
    password_hash = account.pop("password_hash") if account else None
    if not await app.ctx.hasher.verify(body["password"], password_hash) or account is None:
        raise Unauthorized(BAD_CREDENTIALS)
    await app.ctx.queries.clear_login_failures(app.ctx.db, email=email, client=client)
    async with app.ctx.db.transaction() as conn:
        if await app.ctx.queries.lock_user(conn, id=account["id"]) != password_hash:
            raise Unauthorized(BAD_CREDENTIALS)  # changed or deleted while we checked
        refresh_token = await _new_refresh_token(request, conn, account["id"], str(uuid.uuid4()))
    return _token_pair(request, account, refresh_token)


async def refresh(request: Request) -> Reply:
    """Rotate: the presented token is spent and its successor joins the same login family.

    A token presented after it was rotated is taken as stolen: the whole family is revoked
    (committed, then 401)."""
    app, queries = request.app, request.app.ctx.queries
    token_hash = refresh_token_hash(request.ctx.body["refresh_token"])
    async with app.ctx.db.transaction() as conn:
        token = await _lock_refresh_token(queries, conn, token_hash)
        if token is None:
            raise Unauthorized(REFRESH_REFUSED)
        if token["rotated"]:
            await queries.revoke_family(conn, family_id=token["family_id"])
        elif not (token["revoked"] or token["expired"]):
            await queries.mark_rotated(conn, id=token["id"])
            user_id = token["user_id"]
            successor = await _new_refresh_token(request, conn, user_id, token["family_id"])
            account = await queries.get_user(conn, id=user_id)
            return _token_pair(request, dict(account), successor)
    raise Unauthorized(REFRESH_REFUSED)


async def logout(request: Request) -> Reply:
    token_hash = refresh_token_hash(request.ctx.body["refresh_token"])
    await request.app.ctx.queries.revoke_refresh_token(request.app.ctx.db, token_hash=token_hash)
    return Reply(status=204)


def _client(request: Request) -> str:
    """The peer's address, or the one a trusted proxy reports (Sanic applies PROXIES_COUNT)."""
    return str(request.remote_addr or request.ip)


async def _charge_attempt(request: Request, email: str, client: str) -> None:
    """429 when the email or the client is over its limit; else count this attempt as failed."""
    app, settings = request.app, request.app.ctx.settings
    queries, window = app.ctx.queries, settings.login_window_seconds
    async with app.ctx.db.transaction() as conn:
        await queries.lock_login_limits(conn, email=email, client=client)
        retry_after = await queries.login_retry_after(
            conn,
            email=email,
            client=client,
            window_seconds=window,
            per_email=settings.login_limit_per_email,
            per_client=settings.login_limit_per_client,
        )
        if retry_after is None:
            await queries.prune_login_failures(
                conn, email=email, client=client, window_seconds=window
            )
            await queries.record_login_failure(conn, email=email, client=client)
    if retry_after is not None:
        raise TooManyRequests(retry_after, "Too many failed login attempts; try again later.")


async def _lock_refresh_token(queries: Any, conn: asyncpg.Connection, token_hash: bytes) -> Any:
    """The token's row and state, locked after its user's row (the order all token writes keep)."""
    user_id = await queries.refresh_token_owner(conn, token_hash=token_hash)
    if user_id is None or await queries.lock_user(conn, id=user_id) is None:
        return None
    return await queries.lock_refresh_token(conn, token_hash=token_hash)


async def _new_refresh_token(
    request: Request, conn: asyncpg.Connection, user_id: str, family_id: str
) -> str:
    token, token_hash = new_refresh_token()
    await request.app.ctx.queries.insert_refresh_token(
        conn,
        user_id=user_id,
        family_id=family_id,
        token_hash=token_hash,
        ttl_seconds=request.app.ctx.settings.refresh_token_ttl,
    )
    return token


def _token_pair(request: Request, account: dict[str, Any], refresh_token: str) -> Reply:
    settings = request.app.ctx.settings
    return Reply(
        {
            "access_token": issue_access_token(settings, account["id"]),
            "token_type": "bearer",
            "expires_in": settings.access_token_ttl,
            "refresh_token": refresh_token,
            "user": account,
        }
    )
