"""Verified email (SPEC §12): signup mails a link (server/accounts/auth.py), following it
verifies the address, and the signed-in account may ask for another (5 an hour)."""

from __future__ import annotations

from server.accounts.mailing import (
    ACCEPTED,
    EmailVerified,
    mail_verification,
    require_mail,
    spend_token,
)
from server.contract.context import Request
from server.contract.reply import Reply
from server.errors import AccountGone, TooManyRequests


async def verify_email(request: Request) -> Reply:
    """The account, its email verified; 400 invalid-token for a token that does not work (its
    address is no longer the account's: the users trigger voided it)."""
    require_mail(request)
    app = request.app
    async with request.ctx.db.transaction() as conn:
        used = await spend_token(request, conn, request.ctx.body["token"], "verify-email")
        account = await app.ctx.queries.mark_email_verified(
            conn, id=used["user_id"], email=used["email"]
        )
    return Reply(dict(account))


async def resend_verification(request: Request) -> Reply:
    require_mail(request)
    app, user_id, settings = request.app, request.ctx.user_id, request.app.ctx.settings
    async with request.ctx.db.transaction() as conn:
        await app.ctx.queries.lock_user(conn, id=user_id)  # one count at a time per account
        account = await app.ctx.queries.get_user(conn, id=user_id)
        if account is None:
            raise AccountGone()
        if account["email_verified"]:
            raise EmailVerified()
        retry_after = await app.ctx.queries.account_mail_retry_after(
            conn, user_id=user_id, kind="verify-email", per_account=settings.mail_limit_per_account
        )
        if retry_after is None:
            await mail_verification(request, conn, user_id)
    if retry_after is not None:
        raise TooManyRequests(retry_after, "Too many verification mails this hour; try later.")
    return Reply(ACCEPTED, status=202)
