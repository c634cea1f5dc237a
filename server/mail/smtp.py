"""Mail over SMTP (aiosmtplib): `smtp://` upgraded with STARTTLS whenever the server offers it
(and required when the URL carries credentials: they never cross the network in the clear),
`smtps://` TLS from the first byte. One connection is kept for a round of the sender and closed
at its end; every step is bounded by SMTP_TIMEOUT."""

from __future__ import annotations

from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

import aiosmtplib

from server.config import Settings
from server.outbox.sender import Retry, Undeliverable


class SmtpTransport:
    def __init__(self, settings: Settings) -> None:
        assert settings.smtp_url
        url = urlsplit(settings.smtp_url)
        tls = url.scheme == "smtps"
        username = unquote(url.username) if url.username else None
        self.options = {
            "hostname": url.hostname,
            "port": url.port or (465 if tls else 25),
            "username": username,
            "password": unquote(url.password) if url.password else None,
            "use_tls": tls,
            # None: STARTTLS when offered; True: refuse a server that does not offer it
            "start_tls": None if tls or username is None else True,
            "timeout": settings.smtp_timeout,
            "cert_bundle": str(settings.smtp_ca_file) if settings.smtp_ca_file else None,
        }
        if tls:
            self.options["start_tls"] = False
        self._client: aiosmtplib.SMTP | None = None

    async def send(self, message: EmailMessage) -> None:
        try:
            client = await self._connected()
            await client.send_message(message)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [refused.code for refused in exc.recipients]
            if all(500 <= code < 600 for code in codes):
                raise Undeliverable(f"recipient refused: {exc.recipients[0]}") from None
            raise Retry(f"recipient deferred: {exc.recipients[0]}") from None
        except aiosmtplib.SMTPDataError as exc:
            if 500 <= exc.code < 600:
                raise Undeliverable(f"message refused: {exc.code} {exc.message}") from None
            raise Retry(f"message deferred: {exc.code} {exc.message}") from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            # The server is down, slow, or refuses us (sender, credentials, TLS): every mail
            # would fail alike, so the sender pauses rather than failing them one by one.
            await self.close()
            raise Retry(f"{type(exc).__name__}: {exc}", unreachable=True) from None

    async def _connected(self) -> aiosmtplib.SMTP:
        if self._client is not None and self._client.is_connected:
            return self._client
        client = aiosmtplib.SMTP(**self.options)  # type: ignore[arg-type]
        await client.connect()
        self._client = client
        return client

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is None or not client.is_connected:
            return
        try:
            await client.quit()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            client.close()
