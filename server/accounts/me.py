"""Handlers of the contract tag `me`: the signed-in account, its password and its deletion.

A password is checked against the hash read before the (slow, off-loop) bcrypt check, and the
write that follows only applies while that hash is still the stored one: a password changed in
between makes the confirmation wrong (403), never silently accepted. A wrong password here is a
failed login of the account (server/accounts/limits.py): a stolen access token cannot guess.
"""

from __future__ import annotations

import asyncio
import zoneinfo

from server.accounts.limits import charge_login_attempt, clear_login_failures
from server.accounts.mailing import ACCEPTED, mail_email_change, require_mail
from server.accounts.passwords import hash_password, verify_password
from server.admission import Admission
from server.clients import client_key
from server.contract.context import Request
from server.contract.reply import Reply
from server.errors import AccountGone, EmailTaken, Forbidden, TooManyRequests, UnprocessableContent

NOT_CONFIRMED = "The password is wrong."


async def get_me(request: Request) -> Reply:
    app = request.app
    account = await app.ctx.queries.get_user(request.ctx.db, id=request.ctx.user_id)
    if account is None:
        raise AccountGone()
    return Reply(dict(account))


async def update_me(request: Request) -> Reply:
    app, body = request.app, request.ctx.body
    name, notify = body.get("name"), body.get("notify") or {}
    account = await app.ctx.queries.update_user(
        request.ctx.db,
        id=request.ctx.user_id,
        name=None if name is None else name.strip(),
        timezone=await _zone(request, body.get("timezone")),
        notify_email=notify.get("email"),
        notify_push=notify.get("push"),
    )
    if account is None:
        raise AccountGone()
    return Reply(dict(account))


async def _zone(request: Request, name: str | None) -> str | None:
    """An IANA zone name that both Python's zoneinfo and PostgreSQL know, or a 422 at timezone
    (zoneinfo lists `localtime`, which PostgreSQL refuses in every all-day write)."""
    if name is not None and name not in await _known_zones(request):
        raise UnprocessableContent.at(
            ["body", "timezone"], "is not an IANA time zone name", "value_error"
        )
    return name


async def _known_zones(request: Request) -> frozenset[str]:
    """The zones an account may have, read once per process. zoneinfo lists its zones by
    walking the tzdata files (60 to 120 ms): on a thread, not the event loop."""
    app = request.app
    if app.ctx.time_zones is None:
        known = {row["name"] async for row in app.ctx.queries.time_zones(request.ctx.db)}
        available = await asyncio.to_thread(zoneinfo.available_timezones)
        app.ctx.time_zones = frozenset(known & available)
    return app.ctx.time_zones


async def change_password(request: Request) -> Reply:
    """The new password replaces the old, and every login family of the account ends: its
    refresh tokens and every access token issued before now stop working, and its personal
    access tokens with them."""
    app, body, user_id = request.app, request.ctx.body, request.ctx.user_id
    async with app.ctx.admission.admitted(client_key(request)) as admission:
        old_hash = await _confirmed_hash(request, admission, body["current_password"])
        rounds = app.ctx.settings.bcrypt_rounds
        new_hash = await hash_password(admission, body["new_password"], rounds)
    async with request.ctx.db.transaction() as conn:
        changed = await app.ctx.queries.replace_password_hash(
            conn, id=user_id, old_hash=old_hash, new_hash=new_hash
        )
        if changed is None:
            raise Forbidden(NOT_CONFIRMED)
        await app.ctx.queries.end_user_credentials(conn, user_id=user_id)
    return Reply(status=204)


async def change_email(request: Request) -> Reply:
    """202 once a confirmation is mailed to the new address and a notice to the present one
    (server/accounts/email_change.py says the rest)."""
    require_mail(request)
    app, body, user_id = request.app, request.ctx.body, request.ctx.user_id
    queries, settings = app.ctx.queries, app.ctx.settings
    async with app.ctx.admission.admitted(client_key(request)) as admission:
        password_hash = await _confirmed_hash(request, admission, body["password"])
    async with request.ctx.db.transaction() as conn:
        locked = await queries.lock_user(conn, id=user_id)
        if locked is None:
            raise AccountGone()  # deleted while we checked the password
        if locked != password_hash:
            raise Forbidden(NOT_CONFIRMED)  # changed while we checked it
        retry_after = await queries.account_mail_retry_after(
            conn, user_id=user_id, kind="change-email", per_account=settings.mail_limit_per_account
        )
        if retry_after is not None:
            raise TooManyRequests(retry_after, "Too many email changes this hour; try later.")
        # Another letter case of the account's own address is a change like any other (the
        # link goes to the new spelling); the very same spelling has nothing to change.
        in_use = await queries.email_in_use(conn, email=body["new_email"], user_id=user_id)
        if in_use == "same":
            raise EmailTaken("This is already the account's email address.")
        if in_use == "other":
            raise EmailTaken()
        await mail_email_change(request, conn, body["new_email"])
    return Reply(ACCEPTED, status=202)


async def delete_me(request: Request) -> Reply:
    """The account goes, and with it (ON DELETE CASCADE) its tasks, tokens and idempotency keys."""
    app = request.app
    async with app.ctx.admission.admitted(client_key(request)) as admission:
        password_hash = await _confirmed_hash(request, admission, request.ctx.body["password"])
    async with request.ctx.db.transaction() as conn:
        deleted = await app.ctx.queries.delete_user(
            conn, id=request.ctx.user_id, password_hash=password_hash
        )
    if deleted is None:
        raise Forbidden(NOT_CONFIRMED)
    return Reply(status=204)


async def _confirmed_hash(request: Request, admission: Admission, password: str) -> str:
    """The account's password hash once `password` matches it; else 403 (401 if it is gone,
    429 once the account's failed logins from this client are over their limit)."""
    app = request.app
    account = await app.ctx.queries.get_credentials(request.ctx.db, id=request.ctx.user_id)
    if account is None:
        raise AccountGone()
    await charge_login_attempt(request, account["email"])
    hashed: str = account["password_hash"]
    if not await verify_password(admission, password, hashed, app.ctx.settings.bcrypt_rounds):
        raise Forbidden(NOT_CONFIRMED)
    await clear_login_failures(request, account["email"])
    return hashed
