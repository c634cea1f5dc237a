"""What the account operations that mail people share: the switch (MAIL_ENABLED=false makes
them 404), the tokens they mail (256 random bits; the database keeps their SHA-256, the outbox a
sealed copy until it is sent), their lifetimes, and the one answer for a token that does not
work."""

from __future__ import annotations

from server.access.tokens import new_refresh_token, refresh_token_hash
from server.clients import client_key
from server.contract.context import Request
from server.db.executor import Executor, Row
from server.errors import NO_ROUTE, BadRequest, Conflict, NotFound
from server.sealing import sealer_for

ACCEPTED = {"status": "accepted"}  # the one body of every 202 that mails
VERIFY_TTL_SECONDS = 24 * 3600
RESET_TTL_SECONDS = 30 * 60
CHANGE_TTL_SECONDS = 24 * 3600


class InvalidToken(BadRequest):
    """One answer for a token that is unknown, used or expired (nothing tells them apart)."""

    slug = "invalid-token"
    default_detail = "This link is invalid, already used or expired; ask for a new one."


class EmailVerified(Conflict):
    slug = "email-verified"
    default_detail = "This account's email address is already verified."


def require_mail(request: Request) -> None:
    """404, as for an unknown route, when MAIL_ENABLED is off."""
    if not request.app.ctx.settings.mail_enabled:
        raise NotFound(NO_ROUTE)


def mailed_token(request: Request) -> tuple[str, bytes]:
    """A new token, sealed for the outbox, and the hash the database keeps."""
    token, token_hash = new_refresh_token()
    return sealer_for(request.app.ctx.settings.jwt_secret).seal(token), token_hash


def token_hash(token: str) -> bytes:
    return refresh_token_hash(token)


async def mail_verification(request: Request, conn: Executor, user_id: str) -> None:
    """A verification mail to the account's address, in the caller's transaction."""
    sealed, hashed = mailed_token(request)
    await request.app.ctx.queries.mail_verification(
        conn,
        user_id=user_id,
        client=client_key(request),
        token_hash=hashed,
        token=sealed,
        ttl_seconds=VERIFY_TTL_SECONDS,
    )


async def mail_email_change(request: Request, conn: Executor, new_email: str) -> None:
    """An email change's token, confirmation and notice, in the caller's transaction."""
    sealed, hashed = mailed_token(request)
    await request.app.ctx.queries.mail_email_change(
        conn,
        user_id=request.ctx.user_id,
        new_email=new_email,
        client=client_key(request),
        token_hash=hashed,
        token=sealed,
        ttl_seconds=CHANGE_TTL_SECONDS,
    )


async def spend_token(request: Request, conn: Executor, token: str, purpose: str) -> Row:
    """The (user_id, email) of a live token of this purpose, deleted as it is read, its account
    locked first (the order every token write keeps); else 400 invalid-token."""
    queries, hashed = request.app.ctx.queries, token_hash(token)
    owner = await queries.account_token_owner(conn, token_hash=hashed, purpose=purpose)
    if owner is None or await queries.lock_user(conn, id=owner) is None:
        raise InvalidToken()
    used = await queries.use_account_token(conn, token_hash=hashed, purpose=purpose)
    if used is None:  # spent or voided while we waited for the account's lock
        raise InvalidToken()
    return used
