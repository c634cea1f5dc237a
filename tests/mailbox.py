"""A real SMTP server for the tests (aiosmtpd, in a thread of its own, on loopback): what
arrived, parsed, and the links in it. Plain, with STARTTLS (a self-signed certificate that the
service trusts through SMTP_CA_FILE), with AUTH, or TLS from the first byte (smtps)."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import re
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support import free_port

Idle = Callable[[float], object]
LINK = re.compile(r"(https?://\S+?/(verify-email|reset-password|confirm-email)\?token=([\w-]+))")


@dataclass
class Arrived:
    sender: str
    recipients: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def text(self) -> str:
        part = self.message.get_body(("plain",))
        assert part is not None
        return str(part.get_content())

    def token(self, page: str) -> str:
        """The token of this mail's link to the frontend's `page`."""
        for _, found, token in LINK.findall(self.text):
            if found == page:
                return str(token)
        raise AssertionError(f"no /{page} link in:\n{self.text}")


class _Collect:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.box.delay:
            await asyncio.sleep(self.box.delay)  # a slow server
        if self.box.refuse is not None:
            return self.box.refuse
        with self.box.lock:
            self.box.arrived.append(
                Arrived(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content))
            )
        if self.box.answer_delay:
            await asyncio.sleep(self.box.answer_delay)  # kept, not yet acknowledged
        return "250 OK"


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class Mailbox:
    def __init__(
        self,
        *,
        cert: tuple[Path, Path] | None = None,
        starttls: bool = False,
        implicit_tls: bool = False,
        login: tuple[str, str] | None = None,
        port: int | None = None,
    ) -> None:
        self.port = port or free_port()
        self.arrived: list[Arrived] = []
        self.lock = threading.Lock()
        self.delay = 0.0  # seconds before a mail is kept
        self.answer_delay = 0.0  # seconds after a mail is kept before the 250 that says so
        self.refuse: str | None = None  # e.g. "550 no such mailbox"
        self.logins: list[str] = []
        context = None
        if cert is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*cert)
        kwargs: dict[str, Any] = {"enable_SMTPUTF8": True}
        if starttls:
            kwargs.update(tls_context=context, require_starttls=True)
        if implicit_tls:
            kwargs["ssl_context"] = context
        if login is not None:
            kwargs.update(authenticator=self._authenticator(login), auth_required=True)
        self.controller = Controller(
            _Collect(self), hostname="127.0.0.1", port=self.port, ready_timeout=10, **kwargs
        )

    def _authenticator(self, login: tuple[str, str]) -> Callable[..., AuthResult]:
        def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
            ok = (
                isinstance(data, LoginPassword)
                and (
                    data.login.decode(),
                    data.password.decode(),
                )
                == login
            )
            if ok:
                self.logins.append(mechanism)
            return AuthResult(success=ok)

        return check

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> Mailbox:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def __enter__(self) -> Mailbox:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def to(self, address: str) -> list[Arrived]:
        with self.lock:
            return [m for m in self.arrived if address.lower() in (r.lower() for r in m.recipients)]

    def wait_for(
        self, address: str, count: int = 1, *, idle: Idle = time.sleep, timeout: float = 30.0
    ) -> list[Arrived]:
        """The mails to `address` once `count` have arrived (AssertionError after `timeout`).
        `idle`: how to wait meanwhile; an in-process app (tests.support.Api) sends only while
        its loop runs, so pass its `idle`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.to(address)
            if len(found) >= count:
                return found
            idle(0.05)
        raise AssertionError(f"{len(self.to(address))} of {count} mails to {address} arrived")

    def wait_count(
        self, count: int, *, idle: Idle = time.sleep, timeout: float = 60.0
    ) -> list[Arrived]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.arrived) >= count:
                    return list(self.arrived)
            idle(0.05)
        raise AssertionError(f"{len(self.arrived)} of {count} mails arrived")
