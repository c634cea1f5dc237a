"""Each kind of mail as an `email.message.EmailMessage`: plain text and an HTML alternative.

What a person wrote (a name, a task title) reaches a header only through `header_text`: control
characters (CR and LF among them) become spaces and the length is capped, and the policy encodes
what is not ASCII (RFC 2047); in the HTML part it is escaped. Links open the frontend (APP_URL):
/verify-email, /reset-password and /confirm-email, each with `?token=`, and
/invitations/{id} (an invitation to a shared list, answered by the signed-in invitee).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8
from email.utils import format_datetime, parseaddr
from typing import Any
from urllib.parse import quote

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
HEADER_TEXT_LIMIT = 150


def header_text(text: str) -> str:
    """Text safe for a header: no control character (CR, LF, NUL, ...), at most 150 characters."""
    return " ".join(CONTROL.sub(" ", text).split())[:HEADER_TEXT_LIMIT]


@dataclass(frozen=True)
class Letter:
    subject: str
    paragraphs: tuple[str, ...]
    link: str | None = None  # shown between the first paragraph and the others


def letter(payload: Mapping[str, Any], token: str | None, app_url: str) -> Letter:
    """What a row of the outbox says, by its kind (KeyError for an unknown one)."""
    kind, to = payload["kind"], payload["to"]

    def link(page: str) -> str:
        assert token is not None
        return f"{app_url}/{page}?token={quote(token)}"

    if kind == "verify-email":
        return Letter(
            "Confirm your email address",
            (
                f"Please confirm that {to} is your address: open this link within 24 hours.",
                "If you did not sign up, ignore this mail.",
            ),
            link("verify-email"),
        )
    if kind == "reset-password":
        return Letter(
            "Reset your password",
            (
                f"Someone (we hope you) asked to reset the password of the account {to}. Open "
                "this link within 30 minutes to choose a new one; it works once.",
                "If it was not you, ignore this mail: your password stays as it is.",
            ),
            link("reset-password"),
        )
    if kind == "confirm-email-change":
        return Letter(
            "Confirm your new email address",
            (
                f"Open this link within 24 hours to make {to} your account's address.",
                "If you did not ask for this, ignore this mail.",
            ),
            link("confirm-email"),
        )
    if kind == "email-change-notice":
        return Letter(
            "Your account's email address is being changed",
            (
                f"Someone asked to change your account's address to {payload['new_email']}. "
                "It changes once that address confirms it.",
                "If that was not you, change your password now: it cancels the change.",
            ),
        )
    if kind == "invitation":
        # Names in running text stay on their line: no line of their own (a fake link).
        inviter, name = header_text(payload["inviter"]), header_text(payload["list_name"])
        return Letter(
            f"{inviter} invited you to the list {name}",
            (
                f"{inviter} invited {to} to share the list \u201c{name}\u201d as "
                f"{payload['role']}. Open this link to accept or decline; it works until "
                f"{payload['expires_at']}.",
                f"Sign in (or sign up) with {to} and verify it first: only that address can "
                "answer. If you did not expect this, ignore this mail.",
            ),
            f"{app_url}/invitations/{quote(str(payload['invitation_id']))}",
        )
    if kind == "reminder":
        title = header_text(payload["title"])
        return Letter(
            f"Reminder: {title}",
            (f"{payload['title']}", f"Reminder set for {payload['fire_at']}."),
            app_url,
        )
    if kind == "webhook-disabled":
        return Letter(
            "A webhook of your account was disabled",
            (
                f"Every delivery to {payload['url']} failed for 24 hours, so the webhook is "
                "disabled and nothing more is sent to it.",
                "Once its receiver works again, enable the webhook (PATCH enabled: true); "
                "its delivery log shows what the receiver answered.",
            ),
        )
    raise KeyError(f"no mail of kind {kind!r}")


def build(
    payload: Mapping[str, Any],
    *,
    token: str | None,
    app_url: str,
    sender: str,
    message_id: str,
    date: datetime,
) -> EmailMessage:
    """The message for one outbox row (ValueError or KeyError: it cannot be built)."""
    content = letter(payload, token, app_url)
    to = Address(display_name=header_text(payload.get("name") or ""), addr_spec=payload["to"])
    message = EmailMessage(policy=SMTPUTF8 if not str(to).isascii() else SMTP)
    message["From"] = sender
    message["To"] = to
    message["Subject"] = header_text(content.subject)
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
    name = header_text(payload.get("name") or "")
    greeting = f"Hello {name}," if name else "Hello,"
    text = [greeting, content.paragraphs[0]]
    if content.link:
        text.append(content.link)
    text.extend(content.paragraphs[1:])
    message.set_content("\n\n".join(text) + "\n")
    message.add_alternative(_html(greeting, content), subtype="html")
    return message


def _html(greeting: str, content: Letter) -> str:
    parts = [f"<p>{html.escape(greeting)}</p>", f"<p>{html.escape(content.paragraphs[0])}</p>"]
    if content.link:
        href = html.escape(content.link, quote=True)
        parts.append(f'<p><a href="{href}">{href}</a></p>')
    parts.extend(f"<p>{html.escape(p)}</p>" for p in content.paragraphs[1:])
    body = "\n".join(parts)
    return (
        f'<!DOCTYPE html>\n<html><body style="font-family: sans-serif">\n{body}\n</body></html>\n'
    )


def message_id(row_id: int, created: datetime, sender: str) -> str:
    """The same for every attempt at one outbox row (a receiver can drop a repeated copy)."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    return f"<outbox.{row_id}.{int(created.timestamp() * 1_000_000)}@{domain}>"
