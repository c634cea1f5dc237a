"""The mail channel's deliverer: an outbox row becomes a message (its sealed token opened) and
goes out over the transport (SMTP, or .eml files in development)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any, Protocol

from server.config import Settings
from server.mail.messages import build, message_id
from server.outbox.sender import Undeliverable
from server.sealing import Sealer, Unsealable


class Transport(Protocol):
    async def send(self, message: EmailMessage) -> None: ...
    async def close(self) -> None: ...


class MailDeliverer:
    channel = "mail"

    def __init__(self, settings: Settings, sealer: Sealer, transport: Transport) -> None:
        self.settings, self.sealer, self.transport = settings, sealer, transport

    async def deliver(self, row_id: int, payload: Mapping[str, Any], created: datetime) -> None:
        sender = self.settings.mail_from
        try:
            token = self.sealer.open(payload["token"]) if "token" in payload else None
            message = build(
                payload,
                token=token,
                app_url=self.settings.app_url,
                sender=sender,
                message_id=message_id(row_id, created, sender),
                date=datetime.now(UTC),
            )
        except (KeyError, ValueError, TypeError, Unsealable) as exc:
            raise Undeliverable(f"cannot build the mail: {type(exc).__name__}: {exc}") from None
        await self.transport.send(message)

    async def end_round(self) -> None:
        await self.transport.close()
