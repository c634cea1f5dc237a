"""The outbox's sender (server/outbox/sender.py) against real SMTP servers, on a database of its
own (so its lease and rows are this module's): an SMTP server killed mid-queue and brought back
gets every mail once; a refusal for good fails the mail at once, a deferral retries it later,
and 24 hours of failures give it up; /metrics counts all three and /ready reports the oldest
unsent row. STARTTLS with AUTH and smtps deliver; credentials never go out without TLS."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from server.config import Settings
from server.system.reminders import fire_due
from tests.live import LiveServer, fresh_database
from tests.mailbox import Arrived, Mailbox, self_signed
from tests.pushbox import Pushbox
from tests.support import Api, metric_value

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def own_dsn(admin_dsn: str) -> str:
    return fresh_database(admin_dsn, "outbox")


@pytest.fixture
def own(own_dsn: str, settings: Settings) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(own_dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM outbox; DELETE FROM account_tokens; DELETE FROM users")
        yield conn


def queue(conn: psycopg.Connection[Any], count: int, tag: str = "q") -> list[str]:
    """`count` notices in the outbox, as an email change writes them: their addresses."""
    addresses = [f"{tag}{i}@example.org" for i in range(count)]
    conn.execute(
        "INSERT INTO outbox (channel, payload)"
        " SELECT 'mail', jsonb_build_object('kind', 'email-change-notice', 'to', a,"
        "  'name', 'N', 'new_email', 'new@example.org')"
        " FROM unnest(%s::text[]) WITH ORDINALITY AS t (a, n) ORDER BY n",
        (addresses,),
    )
    return addresses


def app_for(make_api: Any, settings: Settings, dsn: str, box: Mailbox, **changes: Any) -> Api:
    changes = {"push_enabled": False, **changes}
    changed = dataclasses.replace(settings, database_url=dsn, smtp_url=box.url, **changes)
    api: Api = make_api(changed)
    return api


def quiet(api: Api) -> None:
    """This app's senders stopped (their leases given back)."""
    for sender in api.app.ctx.senders:
        api.run(sender.stop(1))


def until(api: Api, condition: Any, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "not in time"
        api.idle(0.05)


def ids(mails: list[Arrived]) -> Counter[str]:
    return Counter(str(m.message["Message-ID"]) for m in mails)


def test_an_smtp_server_killed_mid_queue_and_back_gets_every_mail_once(
    own: psycopg.Connection[Any], own_dsn: str, settings: Settings, make_api: Any
) -> None:
    first = Mailbox().start()
    first.delay = 0.02
    queue(own, 60)
    with app_for(make_api, settings, own_dsn, first) as api:
        until(api, lambda: len(first.arrived) >= 20)
        first.stop()  # mid-queue
        api.idle(1.5)  # the sender finds it gone: the row in flight is retried, the rest wait
        assert own.execute("SELECT count(*) FROM outbox WHERE attempts > 0").fetchone() != (0,)
        second = Mailbox(port=first.port).start()
        try:
            # the retried rows' backoff, elapsed
            own.execute("UPDATE outbox SET next_attempt_at = now() WHERE sent_at IS NULL")
            until(api, lambda: len(first.arrived) + len(second.arrived) >= 60)
            api.idle(1)
        finally:
            second.stop()
        metrics = api.get("/metrics").text
    arrived = ids(first.arrived + second.arrived)
    assert len(arrived) == 60
    assert set(arrived.values()) == {1}, "a mail arrived twice"
    assert own.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL").fetchone() == (0,)
    assert metric_value(metrics, "todo_mail_sent_total") == 60
    assert metric_value(metrics, "todo_mail_retried_total") >= 1


def test_a_refusal_for_good_fails_at_once_and_a_deferral_retries_later(
    own: psycopg.Connection[Any], own_dsn: str, settings: Settings, make_api: Any
) -> None:
    with Mailbox() as box, app_for(make_api, settings, own_dsn, box) as api:
        box.refuse = "550 5.1.1 no such mailbox"
        queue(own, 1, "gone")
        until(api, lambda: own.execute("SELECT failed_at FROM outbox").fetchone() != (None,))
        box.refuse = "451 4.3.0 try again later"
        queue(own, 1, "later")
        until(
            api,
            lambda: (
                own.execute(
                    "SELECT attempts FROM outbox WHERE payload->>'to' = 'later0@example.org'"
                ).fetchone()
                == (1,)
            ),
        )
        row = own.execute(
            "SELECT failed_at IS NULL, next_attempt_at - now() > interval '20 seconds', last_error"
            " FROM outbox WHERE payload->>'to' = 'later0@example.org'"
        ).fetchone()
        metrics = api.get("/metrics").text
    assert row is not None
    assert row[:2] == (True, True)
    assert "451" in row[2]
    failed = own.execute("SELECT attempts, last_error FROM outbox WHERE failed_at IS NOT NULL")
    [(attempts, error)] = failed.fetchall()
    assert attempts == 1
    assert "550" in error
    assert metric_value(metrics, "todo_mail_failed_total") == 1
    assert metric_value(metrics, "todo_mail_retried_total") == 1
    assert box.arrived == []


def test_a_mail_undelivered_for_24_hours_is_given_up_and_ready_says_so(
    own: psycopg.Connection[Any], own_dsn: str, settings: Settings, make_api: Any
) -> None:
    with Mailbox() as box:
        box.refuse = "451 4.3.0 try again later"
        with app_for(make_api, settings, own_dsn, box, outbox_ready_seconds=3600) as api:
            quiet(api)  # nothing sends: the row waits
            queue(own, 1, "old")
            own.execute("UPDATE outbox SET created_at = now() - interval '10 minutes'")
            ready = api.get("/ready")
            assert ready.status_code == 200
            assert 600 <= ready.json()["outbox"]["oldest_unsent_seconds"] < 700
            own.execute("UPDATE outbox SET created_at = now() - interval '2 hours'")
            ready = api.get("/ready")
            assert ready.status_code == 503
            assert "outbox" in ready.json()["detail"]
        own.execute(
            "UPDATE outbox SET created_at = now() - interval '25 hours', next_attempt_at = now()"
        )
        with app_for(make_api, settings, own_dsn, box) as api:
            until(api, lambda: own.execute("SELECT failed_at FROM outbox").fetchone() != (None,))
            ready = api.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["outbox"] == {"oldest_unsent_seconds": None}


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("tls"))


def test_starttls_with_auth_delivers_and_the_link_is_followed(
    own: psycopg.Connection[Any],
    own_dsn: str,
    settings: Settings,
    make_api: Any,
    cert: tuple[Path, Path],
) -> None:
    with Mailbox(cert=cert, starttls=True, login=("todo", "s3cr3t:/@")) as box:
        url = f"smtp://todo:s3cr3t%3A%2F%40@127.0.0.1:{box.port}"
        changed = dataclasses.replace(
            settings, database_url=own_dsn, smtp_url=url, smtp_ca_file=cert[0], push_enabled=False
        )
        with make_api(changed) as api:
            body = {"email": "tls@example.org", "password": "correct horse", "name": "T"}
            assert api.post("/api/auth/signup", json=body).status_code == 201
            [mail] = box.wait_for("tls@example.org", idle=api.idle)
            verified = api.post(
                "/api/auth/verify-email", json={"token": mail.token("verify-email")}
            )
    assert verified.json()["email_verified"] is True
    assert box.logins  # it logged in, over TLS (aiosmtpd refuses AUTH before STARTTLS)


def test_smtps_delivers(
    own: psycopg.Connection[Any],
    own_dsn: str,
    settings: Settings,
    make_api: Any,
    cert: tuple[Path, Path],
) -> None:
    with Mailbox(cert=cert, implicit_tls=True) as box:
        changed = dataclasses.replace(
            settings,
            database_url=own_dsn,
            smtp_url=f"smtps://127.0.0.1:{box.port}",
            smtp_ca_file=cert[0],
            push_enabled=False,
        )
        queue(own, 3, "tls")
        with make_api(changed) as api:
            box.wait_for("tls2@example.org", idle=api.idle)


@pytest.mark.parametrize("trusted", [False, True])
def test_credentials_never_cross_without_tls(
    own: psycopg.Connection[Any],
    own_dsn: str,
    settings: Settings,
    make_api: Any,
    cert: tuple[Path, Path],
    trusted: bool,
) -> None:
    """A server that offers no STARTTLS, or one whose certificate is not trusted: nothing is
    sent (no AUTH, no mail), the mail waits for a retry."""
    box = Mailbox(cert=cert, starttls=True, login=("u", "p")) if not trusted else Mailbox()
    with box:
        changed = dataclasses.replace(
            settings,
            database_url=own_dsn,
            smtp_url=f"smtp://u:p@127.0.0.1:{box.port}",
            push_enabled=False,
        )
        queue(own, 1, "clear")
        with make_api(changed) as api:
            until(api, lambda: own.execute("SELECT attempts FROM outbox").fetchone() == (1,))
    assert box.arrived == []
    assert box.logins == []


def test_a_clean_stop_with_mails_queued_loses_none_and_sends_none_twice(
    own: psycopg.Connection[Any], own_dsn: str, settings: Settings, make_api: Any
) -> None:
    with Mailbox() as box:
        box.delay = 0.02
        queue(own, 120)
        with app_for(make_api, settings, own_dsn, box) as api:
            until(api, lambda: len(box.arrived) >= 20)
        # stopped cleanly mid-queue: what it had claimed and not sent is given back at once
        left = own.execute(
            "SELECT count(*), count(*) FILTER (WHERE claimed_until > now())"
            " FROM outbox WHERE sent_at IS NULL"
        ).fetchone()
        assert left is not None
        assert left[0] > 0, "the queue was sent before the stop: the test proves nothing"
        assert left[1] == 0
        assert len(box.arrived) == 120 - left[0]
        with app_for(make_api, settings, own_dsn, box) as api:
            until(api, lambda: len(box.arrived) >= 120)
            api.idle(1)
    arrived = ids(box.arrived)
    assert len(arrived) == 120
    assert set(arrived.values()) == {1}, "a mail arrived twice"
    assert own.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL").fetchone() == (0,)


def test_reminders_are_mailed_and_pushed_once_each_with_two_instances(
    own: psycopg.Connection[Any], own_dsn: str, settings: Settings, make_api: Any
) -> None:
    """Two instances on one database, each with its scheduler and its senders running, and
    their schedulers' rounds also run at once by hand: one mail and one push per reminder."""
    count = 40
    user = own.execute(
        "INSERT INTO users (email, name, password_hash, email_verified, notify_email,"
        " notify_push) VALUES ('twice@example.org', 'T', 'x', true, true, true) RETURNING id"
    ).fetchone()
    assert user is not None
    with Mailbox() as box, Pushbox() as pushes:
        box.delay = 0.02  # rounds of the two instances' senders would overlap, were there two
        sub = pushes.subscription("one")
        own.execute(
            "INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth)"
            " VALUES (%s, %s, %s, %s)",
            (user[0], sub["endpoint"], sub["keys"]["p256dh"], sub["keys"]["auth"]),
        )
        changes = {"push_enabled": True, "reminder_interval_seconds": 1}
        with (
            app_for(make_api, settings, own_dsn, box, **changes) as first,
            app_for(make_api, settings, own_dsn, box, **changes) as second,
        ):
            own.execute(
                "INSERT INTO tasks (user_id, list_id, title, reminders)"
                " SELECT %(u)s, id, 'due ' || n, jsonb_build_array(jsonb_build_object('at',"
                "        now() - n * interval '1 millisecond'))"
                "   FROM lists, generate_series(1, %(n)s) AS n WHERE user_id = %(u)s AND is_inbox",
                {"u": user[0], "n": count},
            )

            # each instance's loop in a thread of its own, as two processes would run
            done = threading.Event()

            async def run_second() -> None:
                await fire_due(second.app.ctx.db, second.app.ctx.queries)
                await asyncio.to_thread(done.wait, 60)  # its loop runs meanwhile

            other = threading.Thread(target=second.run, args=(run_second(),))
            other.start()
            try:
                first.run(fire_due(first.app.ctx.db, first.app.ctx.queries))
                until(first, lambda: len(box.arrived) >= count and len(pushes.received) >= count)
                first.idle(2)  # anything doubled would have come by now
            finally:
                done.set()
                other.join(30)
    mailed = Counter(str(m.message["Subject"]) for m in box.to("twice@example.org"))
    assert len(box.arrived) == count
    assert mailed == Counter(f"Reminder: due {n}" for n in range(1, count + 1))
    pushed = Counter(p.data["title"] for p in pushes.received)
    assert pushed == Counter(f"due {n}" for n in range(1, count + 1))


def test_a_service_killed_mid_send_sends_the_mail_in_flight_again_under_one_message_id(
    own: psycopg.Connection[Any], own_dsn: str, tmp_path: Path
) -> None:
    """An unclean stop (kill -9) while the SMTP server has kept a mail but not yet said so:
    after a restart every mail arrives, that one twice under one Message-ID (at least once),
    none lost, no other doubled."""
    with Mailbox() as box:
        box.answer_delay = 0.5
        queue(own, 12)
        env = {"SMTP_URL": box.url, "OUTBOX_INTERVAL_SECONDS": "1", "PUSH_ENABLED": "false"}
        with LiveServer(own_dsn, tmp_path / "service.log", env=env) as server:
            deadline = time.monotonic() + 60
            while len(box.arrived) < 4:
                assert time.monotonic() < deadline, "the service sent nothing"
                time.sleep(0.02)
            assert server.process is not None
            os.killpg(server.process.pid, signal.SIGKILL)  # the 4th kept, its 250 not yet read
            server.process.wait(10)
            in_flight = str(box.arrived[-1].message["Message-ID"])
            # the dead process's claims run out (CLAIM_SECONDS) as they would in 10 minutes
            own.execute("UPDATE outbox SET claimed_until = now() WHERE claimed_until > now()")
            box.answer_delay = 0
            server.start()
            deadline = time.monotonic() + 60
            while own.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL").fetchone() != (
                0,
            ):
                assert time.monotonic() < deadline, "the queue was not sent after the restart"
                time.sleep(0.1)
    arrived = ids(box.arrived)
    assert len(arrived) == 12
    assert {k: v for k, v in arrived.items() if v > 1} == {in_flight: 2}
