"""Password reset (SPEC §12). Asking answers 202 with one body whether or not the address has
an account, after the same statements (the one that records the request writes a token and a
mail only for an account: server/accounts/mailing.py's tokens, sql/account_mail.sql); at most
RESET_LIMIT_PER_ADDRESS mails an hour reach an address, and a client asks at most
RESET_LIMIT_PER_CLIENT times an hour (then 429). The mail goes to the account's stored address,
never to the spelling asked with (two spellings PostgreSQL lower-cases alike are one account).

Confirming replaces the password, ends every session of the account (its access tokens 401 at
once on every instance, its open event streams end: the session-end signal of migration 0037)
and counts the email as verified: the mail reached it."""

from __future__ import annotations

from server.accounts.mailing import (
    ACCEPTED,
    RESET_TTL_SECONDS,
    InvalidToken,
    mailed_token,
    require_mail,
    spend_token,
    token_hash,
)
from server.accounts.passwords import hash_password
from server.clients import client_key
from server.contract.context import Request
from server.contract.reply import Reply
from server.errors import TooManyRequests


async def request_password_reset(request: Request) -> Reply:
    require_mail(request)
    app, settings, email = request.app, request.app.ctx.settings, request.ctx.body["email"]
    queries, client = app.ctx.queries, client_key(request)
    sealed, hashed = mailed_token(request)
    async with request.ctx.db.transaction() as conn:
        await queries.lock_reset_limits(conn, email=email, client=client)
        retry_after = await queries.reset_retry_after(
            conn, client=client, per_client=settings.reset_limit_per_client
        )
        if retry_after is None:
            await queries.request_password_reset(
                conn,
                email=email,
                client=client,
                token_hash=hashed,
                token=sealed,
                ttl_seconds=RESET_TTL_SECONDS,
                per_address=settings.reset_limit_per_address,
            )
    if retry_after is not None:
        raise TooManyRequests(retry_after, "Too many password resets asked from this address.")
    return Reply(ACCEPTED, status=202)


async def reset_password(request: Request) -> Reply:
    require_mail(request)
    app, body = request.app, request.ctx.body
    owner = await app.ctx.queries.account_token_owner(
        request.ctx.db, token_hash=token_hash(body["token"]), purpose="reset-password"
    )
    if owner is None:  # before any password work: a guessed token costs one lookup
        raise InvalidToken()
    rounds = app.ctx.settings.bcrypt_rounds
    async with app.ctx.admission.admitted(client_key(request)) as admission:
        new_hash = await hash_password(admission, body["new_password"], rounds)
    async with request.ctx.db.transaction() as conn:
        used = await spend_token(request, conn, body["token"], "reset-password")
        await app.ctx.queries.reset_password(
            conn, id=used["user_id"], email=used["email"], password_hash=new_hash
        )
        await app.ctx.queries.end_user_credentials(conn, user_id=used["user_id"])
    return Reply(status=204)
