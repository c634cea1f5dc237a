"""Admission of password work, counted in PostgreSQL so it holds across workers and instances.

Failed logins are limited per (email, client), per email across clients and per client
(settings.login_limit_*); wrong current passwords on a password change or an account deletion
count as failed logins of that account. An attempt is charged as a failure *before* its
password is checked, under advisory locks of its email and client, so concurrent guesses
cannot overrun a limit; a success clears only this email's failures from this client.
Signups are limited per client per hour. A client is its address, an IPv6 one by its /64.
"""

from __future__ import annotations

from server.clients import client_key
from server.config import SIGNUP_WINDOW_SECONDS
from server.contract.context import Request
from server.errors import TooManyRequests


async def charge_login_attempt(request: Request, email: str) -> None:
    """429 when the email, the client or the pair is over its limit; else count this attempt
    as failed until it succeeds."""
    app, settings = request.app, request.app.ctx.settings
    queries, window, client = app.ctx.queries, settings.login_window_seconds, client_key(request)
    async with request.ctx.db.transaction() as conn:
        await queries.lock_login_limits(conn, email=email, client=client)
        retry_after = await queries.login_retry_after(
            conn,
            email=email,
            client=client,
            window_seconds=window,
            per_email_client=settings.login_limit_per_email_client,
            per_email=settings.login_limit_per_email,
            per_client=settings.login_limit_per_client,
        )
        if retry_after is None:
            await queries.record_login_failure(conn, email=email, client=client)
    if retry_after is not None:
        raise TooManyRequests(retry_after, "Too many failed login attempts; try again later.")


async def clear_login_failures(request: Request, email: str) -> None:
    """The password was right: forget this email's failures from this client."""
    queries, client = request.app.ctx.queries, client_key(request)
    await queries.clear_login_failures(request.ctx.db, email=email, client=client)


async def charge_signup(request: Request) -> None:
    """429 once this client has signed up (or tried to) too often this hour; else count it."""
    app, settings, client = request.app, request.app.ctx.settings, client_key(request)
    queries = app.ctx.queries
    async with request.ctx.db.transaction() as conn:
        await queries.lock_signups(conn, client=client)
        retry_after = await queries.signup_retry_after(
            conn,
            client=client,
            per_window=settings.signup_limit_per_hour,
            window_seconds=SIGNUP_WINDOW_SECONDS,
        )
        if retry_after is None:
            await queries.record_signup(conn, client=client)
    if retry_after is not None:
        raise TooManyRequests(retry_after, "Too many signups from this address; try again later.")
