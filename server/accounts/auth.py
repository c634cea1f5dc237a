"""Handlers of the contract tag `auth`: signup, login, refresh, logout and logout-all.

A login starts a login family (a session): its refresh tokens rotate within it, and its access
tokens name it (claim `sid`), so ending the family ends them all. Password work is admitted by
server/accounts/limits.py (how often) and server/admission.py (how much at once).
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from server.access.tokens import (
    issue_access_token,
    new_refresh_token,
    refresh_token_hash,
    successor_token,
)
from server.accounts.browser import (
    REFRESH_COOKIE,
    browser_mode,
    cleared_cookies,
    session_cookies,
)
from server.accounts.limits import charge_login_attempt, charge_signup, clear_login_failures
from server.accounts.mailing import mail_verification
from server.accounts.passwords import hash_password, verify_password
from server.clients import client_key
from server.contract.context import Request
from server.contract.reply import Reply
from server.db.executor import Executor, Row
from server.db.queries import Queries
from server.errors import EmailTaken, Unauthorized, UnprocessableContent

BAD_CREDENTIALS = "The email or password is wrong."
REFRESH_REFUSED = "The refresh token is invalid, expired or revoked; log in again."
# Browser mode: how long a spent refresh cookie is still answered with its unspent successor.
REUSE_GRACE_SECONDS = 30


async def signup(request: Request) -> Reply:
    app, body = request.app, request.ctx.body
    rounds = app.ctx.settings.bcrypt_rounds
    async with app.ctx.admission.admitted(client_key(request)) as admission:
        await charge_signup(request)
        password_hash = await hash_password(admission, body["password"], rounds)
    try:
        async with request.ctx.db.transaction() as conn:  # the account and its verification mail
            user = await app.ctx.queries.create_user(
                conn, email=body["email"], name=body["name"].strip(), password_hash=password_hash
            )
            if app.ctx.settings.mail_enabled:
                await mail_verification(request, conn, user["id"])
    except asyncpg.UniqueViolationError:
        raise EmailTaken() from None
    except asyncpg.CheckViolationError:  # the table's own bounds on email, should they differ
        raise UnprocessableContent.at(
            ["body", "email"], "must be a valid email address", "format"
        ) from None
    return Reply(dict(user), status=201)


async def login(request: Request) -> Reply:
    app, body = request.app, request.ctx.body
    browser = browser_mode(request)
    email = body["email"]
    rounds = app.ctx.settings.bcrypt_rounds
    async with app.ctx.admission.admitted(client_key(request)) as admission:
        await charge_login_attempt(request, email)
        found = await app.ctx.queries.get_login(request.ctx.db, email=email)
        account = dict(found) if found else None
        password_hash = account.pop("password_hash") if account else None
        matches = await verify_password(admission, body["password"], password_hash, rounds)
        if not matches or account is None:
            raise Unauthorized(BAD_CREDENTIALS)
    await clear_login_failures(request, email)
    family_id = str(uuid.uuid4())
    async with request.ctx.db.transaction() as conn:
        if await app.ctx.queries.lock_user(conn, id=account["id"]) != password_hash:
            raise Unauthorized(BAD_CREDENTIALS)  # changed or deleted while we checked
        await app.ctx.queries.insert_login_family(
            conn,
            id=family_id,
            user_id=account["id"],
            ttl_seconds=app.ctx.settings.refresh_family_ttl,
            user_agent=request.headers.get("user-agent"),
        )
        refresh_token = await _new_refresh_token(request, conn, account["id"], family_id)
    return _token_pair(request, account, family_id, refresh_token, browser)


async def refresh(request: Request) -> Reply:
    """Rotate: the presented token is spent and its successor joins the same login family.

    A token presented after it was rotated is taken as stolen: the whole family ends, its
    access tokens included (committed, then 401). Browser mode alone allows a grace: its cookie
    is shared by every tab, which take turns only where the browser has Web Locks, and a page
    reload can cut off the answer that carried the successor; so a cookie spent again within
    REUSE_GRACE_SECONDS, while its successor is still unspent, is answered with that same
    successor (derived from it: no second live token, and a later reuse of either still ends
    the family)."""
    app = request.app
    queries, settings = app.ctx.queries, app.ctx.settings
    browser = browser_mode(request)
    presented = _presented(request, browser)
    successor, successor_hash = successor_token(settings, presented)
    async with request.ctx.db.transaction() as conn:
        token = await _lock_refresh_token(conn, queries, refresh_token_hash(presented))
        if token is None:
            raise Unauthorized(REFRESH_REFUSED)
        user_id, family_id, spent = token["user_id"], token["family_id"], token["rotated"]
        if spent and not (
            browser and token["just_rotated"] and await _live(conn, queries, successor_hash)
        ):
            await queries.end_family(conn, user_id=user_id, id=family_id)
            account = None  # the family's end is committed, then 401
        elif not spent and (token["revoked"] or token["expired"]):
            raise Unauthorized(REFRESH_REFUSED)
        else:
            if not spent:
                await queries.mark_rotated(conn, id=token["id"])
                await queries.insert_refresh_token(
                    conn,
                    user_id=user_id,
                    family_id=family_id,
                    token_hash=successor_hash,
                    ttl_seconds=settings.refresh_token_ttl,
                )
            agent = request.headers.get("user-agent")
            await queries.touch_family(conn, id=family_id, user_agent=agent)
            account = await queries.get_user(conn, id=user_id)
    if account is None:
        raise Unauthorized(REFRESH_REFUSED)
    return _token_pair(request, dict(account), family_id, successor, browser)


async def logout(request: Request) -> Reply:
    """Ends the login family of the token (a rotated one too); 204 whatever the token (in
    browser mode its cookies are removed)."""
    queries = request.app.ctx.queries
    browser = browser_mode(request)
    token_hash = refresh_token_hash(_presented(request, browser))
    async with request.ctx.db.transaction() as conn:
        owner = await queries.refresh_token_owner(conn, token_hash=token_hash)
        if owner is not None and await queries.lock_user(conn, id=owner["user_id"]) is not None:
            await queries.end_family(conn, user_id=owner["user_id"], id=owner["family_id"])
    cookies = cleared_cookies(owner and str(owner["user_id"])) if browser else ()
    return Reply(status=204, cookies=cookies)


async def logout_all(request: Request) -> Reply:
    """Ends every login family of the account: its refresh and access tokens stop working, and
    its personal access tokens with them."""
    app, user_id = request.app, request.ctx.user_id
    async with request.ctx.db.transaction() as conn:
        await app.ctx.queries.lock_user(conn, id=user_id)
        await app.ctx.queries.end_user_credentials(conn, user_id=user_id)
    return Reply(status=204)


async def _lock_refresh_token(conn: Executor, queries: Queries, token_hash: bytes) -> Row:
    """The token's row and state, locked after its user's row (the order all token writes keep)."""
    owner = await queries.refresh_token_owner(conn, token_hash=token_hash)
    if owner is None or await queries.lock_user(conn, id=owner["user_id"]) is None:
        return None
    return await queries.lock_refresh_token(
        conn, token_hash=token_hash, grace_seconds=REUSE_GRACE_SECONDS
    )


async def _live(conn: Executor, queries: Queries, token_hash: bytes) -> bool:
    """Whether the token of this hash is unspent, unrevoked and unexpired (its row locked)."""
    token = await _lock_refresh_token(conn, queries, token_hash)
    return token is not None and not (token["rotated"] or token["revoked"] or token["expired"])


async def _new_refresh_token(request: Request, conn: Executor, user_id: str, family_id: str) -> str:
    token, token_hash = new_refresh_token()
    await request.app.ctx.queries.insert_refresh_token(
        conn,
        user_id=user_id,
        family_id=family_id,
        token_hash=token_hash,
        ttl_seconds=request.app.ctx.settings.refresh_token_ttl,
    )
    return token


def _presented(request: Request, browser: bool) -> str:
    """The refresh token: the body's when one is sent, else (browser mode) its cookie's; with
    neither, none (which no token matches: refresh is 401, logout 204)."""
    body = request.ctx.body
    if body is not None:
        return str(body["refresh_token"])
    return (request.cookies.get(REFRESH_COOKIE) or "") if browser else ""


def _token_pair(
    request: Request,
    account: dict[str, Any],
    family_id: str,
    refresh_token: str,
    browser: bool,
) -> Reply:
    """The login's answer; in browser mode, the refresh token in its cookie instead of the body,
    with the stream's cookie."""
    settings = request.app.ctx.settings
    pair = {
        "access_token": issue_access_token(settings, account["id"], family_id),
        "token_type": "bearer",
        "expires_in": settings.access_token_ttl,
        "refresh_token": refresh_token,
        "user": account,
    }
    if not browser:
        return Reply(pair)
    del pair["refresh_token"]
    cookies = session_cookies(settings, str(account["id"]), family_id, refresh_token)
    return Reply(pair, cookies=cookies)
