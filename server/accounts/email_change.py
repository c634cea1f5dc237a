"""Email change (SPEC §12), asked with the password (`change_email`, server/accounts/me.py) and
confirmed from the new address. Asking mails a link to the new address and a notice to the
present one (at most MAIL_LIMIT_PER_ACCOUNT an hour); confirming moves the account there,
verified, if no account took the address meanwhile (409, and the link works again once it is
free). A password change or a reset before the confirmation voids it (the users trigger of
migration 0038), as an email change voids a pending reset: whichever commits first wins."""

from __future__ import annotations

import asyncpg

from server.accounts.mailing import require_mail, spend_token
from server.contract.context import Request
from server.contract.reply import Reply
from server.errors import EmailTaken


async def confirm_email_change(request: Request) -> Reply:
    require_mail(request)
    app = request.app
    async with request.ctx.db.transaction() as conn:
        used = await spend_token(request, conn, request.ctx.body["token"], "change-email")
        try:
            account = await app.ctx.queries.move_email(
                conn, id=used["user_id"], email=used["email"]
            )
        except asyncpg.UniqueViolationError:
            raise EmailTaken() from None  # rolled back whole: the token works again later
    return Reply(dict(account))
