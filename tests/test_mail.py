"""Mail (SPEC §12) against a real SMTP server (tests/mailbox.py): signup's verification mail is
parsed and its link followed, what a person wrote never reaches a header unencoded, the token
crosses the outbox sealed, MAIL_ENABLED=false turns the mail routes off, and development without
SMTP_URL writes .eml files."""

from __future__ import annotations

import dataclasses
import logging
import secrets
from collections.abc import Callable
from email import message_from_bytes
from email.header import decode_header, make_header
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest

from server.accounts.mailing import token_hash
from server.config import ConfigError, Settings, load_settings
from server.sealing import Unsealable, sealer_for
from tests.mailbox import Mailbox
from tests.support import Api, User, eventually

PASSWORD = "correct horse battery"


def fresh_email(tag: str = "m") -> str:
    return f"{tag}-{secrets.token_hex(5)}@example.org"


def signup(api: Api, email: str, name: str = "Ada") -> dict[str, Any]:
    response = api.post(
        "/api/auth/signup", json={"email": email, "password": PASSWORD, "name": name}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_signup_mails_a_link_that_verifies_the_address_once(api: Api, mailbox: Mailbox) -> None:
    email = fresh_email()
    user = signup(api, email)
    assert user["email_verified"] is False
    [mail] = mailbox.wait_for(email, idle=api.idle)
    message = mail.message
    assert message["Subject"] == "Confirm your email address"
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["Message-ID"].startswith("<outbox.")
    assert message["Date"]
    assert message["From"] == "Todo <todo@localhost>"
    token = mail.token("verify-email")
    verified = api.post("/api/auth/verify-email", json={"token": token})
    assert verified.status_code == 200, verified.text
    assert verified.json()["email_verified"] is True
    assert verified.json()["id"] == user["id"]
    again = api.post("/api/auth/verify-email", json={"token": token})
    assert again.status_code == 400
    assert again.json()["type"] == "urn:todo-api:problem:invalid-token"


def test_unknown_used_and_expired_tokens_get_one_answer(
    api: Api, mailbox: Mailbox, sql: psycopg.Connection[Any]
) -> None:
    email = fresh_email()
    signup(api, email)
    token = mailbox.wait_for(email, idle=api.idle)[0].token("verify-email")
    sql.execute("UPDATE account_tokens SET expires_at = now() - interval '1 second'")
    expired = api.post("/api/auth/verify-email", json={"token": token})
    unknown = api.post("/api/auth/verify-email", json={"token": secrets.token_urlsafe(32)})
    assert expired.status_code == unknown.status_code == 400
    strip = ("request_id",)
    assert {k: v for k, v in expired.json().items() if k not in strip} == {
        k: v for k, v in unknown.json().items() if k not in strip
    }


@pytest.mark.parametrize(
    "name",
    [
        "Eve\r\nBcc: victim@example.org",
        "Mallory\nSubject: you won\r\n\r\nbody",
        "Zoë Ünïcødé 李 😀 \u2028 \x85 end",
        "x" + "é" * 98 + "y",
    ],
)
def test_a_name_never_reaches_a_header_unencoded(api: Api, mailbox: Mailbox, name: str) -> None:
    email_address = fresh_email()
    signup(api, email_address, name=name)
    [mail] = mailbox.wait_for(email_address, idle=api.idle)
    assert mail.recipients == [email_address]  # nobody added by the name
    head = mail.raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    names = [line.split(b":", 1)[0] for line in head.split(b"\r\n") if not line[:1].isspace()]
    expected = b"From To Subject Date Message-ID Auto-Submitted MIME-Version Content-Type"
    assert sorted(names) == sorted(expected.split())
    # RFC 2047's reading (adjacent encoded words join; the stdlib's address parser of
    # policy.default puts a space between them).
    raw_to = message_from_bytes(mail.raw)["To"]
    shown = " ".join(name.replace("\u2028", " ").replace("\x85", " ").split())
    assert parseaddr(str(make_header(decode_header(raw_to)))) == (shown, email_address)
    assert mail.message.defects == []


def test_the_token_crosses_the_outbox_sealed_and_is_dropped_once_sent(
    api: Api, mailbox: Mailbox, sql: psycopg.Connection[Any]
) -> None:
    email = fresh_email()
    signup(api, email)
    token = mailbox.wait_for(email, idle=api.idle)[0].token("verify-email")

    def sent() -> list[Any]:  # the SMTP server has the mail a moment before the row says so
        found = sql.execute("SELECT payload, sent_at FROM outbox").fetchall()
        return found if [row[1] is not None for row in found] == [True] else []

    rows = eventually(sent)
    assert [row[1] is not None for row in rows] == [True]
    assert "token" not in rows[0][0]
    stored = sql.execute("SELECT token_hash FROM account_tokens").fetchall()
    assert token.encode() not in stored[0][0]


def test_a_queued_token_is_sealed(
    settings: Settings, make_api: Any, sql: psycopg.Connection[Any]
) -> None:
    """The row waits (this test holds the mail sender's lease) with the token sealed: it
    opens with the service's key only, and is neither the token nor its hash."""
    email = fresh_email()
    sql.execute(
        "UPDATE purge_lease SET holder = 'a test', leased_until = now() + interval '1 minute'"
        " WHERE name = 'outbox:mail'"
    )
    try:
        with make_api(settings) as api:
            signup(api, email)
    finally:
        sql.execute("UPDATE purge_lease SET leased_until = '-infinity' WHERE name = 'outbox:mail'")
    [(sealed, sent)] = sql.execute("SELECT payload->>'token', sent_at FROM outbox").fetchall()
    assert sent is None
    token = sealer_for(settings.jwt_secret).open(sealed)
    [(stored,)] = sql.execute("SELECT token_hash FROM account_tokens").fetchall()
    assert token_hash(token) == stored
    assert token not in sealed
    assert stored.hex() not in sealed
    with pytest.raises(Unsealable):
        sealer_for("another secret of the same length, or any").open(sealed)


def test_resend_is_limited_to_five_an_hour_then_429(
    api: Api, mailbox: Mailbox, sql: psycopg.Connection[Any]
) -> None:
    email = fresh_email()
    signup(api, email)
    login = api.post("/api/auth/login", json={"email": email, "password": PASSWORD}).json()
    headers = {"Authorization": f"Bearer {login['access_token']}"}
    answers = [api.post("/api/me/verify-email", headers=headers).status_code for _ in range(5)]
    assert answers == [202, 202, 202, 202, 429]  # signup's mail counts
    mails = mailbox.wait_for(email, 5, idle=api.idle)
    assert len(mails) == 5
    # Any of them verifies; then there is nothing left to verify.
    assert api.post("/api/auth/verify-email", json={"token": mails[2].token("verify-email")})
    assert api.post("/api/me/verify-email", headers=headers).status_code == 409


def test_mail_enabled_false_turns_the_mail_routes_off(
    settings: Settings, make_api: Any, make_user: Callable[..., User]
) -> None:
    user = make_user()
    off = dataclasses.replace(settings, mail_enabled=False)
    calls = [
        ("POST", "/api/auth/verify-email", {"token": "x"}),
        ("POST", "/api/auth/password-reset", {"email": user.email}),
        ("POST", "/api/auth/password-reset/confirm", {"token": "x", "new_password": PASSWORD}),
        ("POST", "/api/auth/confirm-email-change", {"token": "x"}),
        ("POST", "/api/me/verify-email", None),
        ("PUT", "/api/me/email", {"new_email": fresh_email(), "password": user.password}),
    ]
    with make_api(off) as api:
        for method, path, body in calls:
            response = api.request(method, path, json=body, headers=user.headers)
            assert response.status_code == 404, (path, response.text)
        signed = api.post(
            "/api/auth/signup", json={"email": fresh_email(), "password": PASSWORD, "name": "A"}
        )
        assert signed.status_code == 201
    with psycopg.connect(settings.database_url or "") as conn:
        assert conn.execute("SELECT count(*) FROM outbox").fetchone() == (0,)


def test_development_without_smtp_url_writes_eml_files(
    settings: Settings, make_api: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="todo_api")
    local = dataclasses.replace(settings, smtp_url=None, data_dir=tmp_path)
    email = fresh_email()
    with make_api(local) as api:
        for sender in api.app.ctx.senders:  # this app's, whatever app held the lease
            api.run(sender.round())
        signup(api, email)
        deadline = 200
        while deadline and not list((tmp_path / "mail").glob("*.eml")):
            api.run(api.app.ctx.senders[0].round())
            api.idle(0.05)
            deadline -= 1
        # the link as the log shows it, as a newcomer follows it (the .eml's is quoted-printable)
        [record] = [r for r in caplog.records if r.getMessage().startswith("mail written to")]
        assert "Confirm your email address" in record.getMessage()
        link = record.getMessage().rpartition("; its link: ")[2]
        assert link.startswith(f"{local.app_url}/verify-email?token=")
        token = parse_qs(urlsplit(link).query)["token"][0]
        verified = api.post("/api/auth/verify-email", json={"token": token})
    assert verified.status_code == 200, verified.text
    [eml] = list((tmp_path / "mail").glob("*.eml"))
    assert f"To: Ada <{email}>" in eml.read_text()
    assert "verify-email?token=3D" in eml.read_text()  # quoted-printable '='


def _production(**extra: str) -> dict[str, str]:
    return {
        "APP_ENV": "production",
        "DATABASE_URL": "postgresql://db/todo",
        "JWT_SECRET": "s" * 48,
        "PUSH_ENABLED": "false",
        "WEBHOOK_SECRET_KEY": "w" * 48,
        **extra,
    }


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        ({}, "SMTP_URL"),
        ({"SMTP_URL": "smtp://mail.example.org"}, "MAIL_FROM"),
        ({"SMTP_URL": "smtp://m.example.org", "MAIL_FROM": "t@example.org"}, "APP_URL"),
        (
            {
                "SMTP_URL": "smtp://m.example.org",
                "MAIL_FROM": "t@example.org",
                "APP_URL": "http://todo.example.org",
            },
            "APP_URL",
        ),
        ({"SMTP_URL": "http://m.example.org"}, "SMTP_URL"),
        ({"SMTP_URL": "smtp://m.example.org:99999"}, "SMTP_URL"),
        ({"MAIL_ENABLED": "false", "PUSH_ENABLED": "true"}, "VAPID_PRIVATE_KEY"),
    ],
)
def test_production_refuses_to_start_without_a_way_to_mail(
    tmp_path: Path, env: dict[str, str], complaint: str
) -> None:
    with pytest.raises(ConfigError, match=complaint):
        load_settings({**_production(**env), "DATA_DIR": str(tmp_path)})


def test_production_starts_with_mail_turned_off(tmp_path: Path) -> None:
    settings = load_settings({**_production(MAIL_ENABLED="false"), "DATA_DIR": str(tmp_path)})
    assert not settings.mail_enabled
