"""Reminders outside the browser (SPEC §12): with `notify.push`, a reminder that falls due is
pushed to each subscription, encrypted for its keys and signed for with the service's VAPID key
(checked by the tests' own push service, tests/pushbox.py); a 410 removes the subscription. With
`notify.email`, it is mailed, to a verified address only."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from server.outbox.sender import Sender, Tally
from server.push.deliver import PushDeliverer
from server.push.keys import vapid_key
from server.system.reminders import fire_due
from tests.mailbox import Mailbox
from tests.pushbox import Pushbox
from tests.support import Api, User, metric_value, while_deleted

SUBSCRIPTIONS = "/api/me/push-subscriptions"


@pytest.fixture
def pushbox() -> Iterator[Pushbox]:
    with Pushbox() as box:
        yield box


def due_reminder(api: Api, user: User, title: str = "Water the plants") -> dict[str, Any]:
    at = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    task = api.post(
        f"/api/{user.id}/tasks",
        json={"title": title, "reminders": [{"at": at}]},
        headers=user.headers,
    )
    assert task.status_code == 201, task.text
    api.run(fire_due(api.app.ctx.db, api.app.ctx.queries))
    body: dict[str, Any] = task.json()
    return body


def notify(api: Api, user: User, **which: bool) -> None:
    response = api.patch("/api/me", json={"notify": which}, headers=user.headers)
    assert response.status_code == 200, response.text
    assert {k: response.json()["notify"][k] for k in which} == which


def test_a_due_reminder_is_pushed_encrypted_and_signed_to_each_subscription(
    api: Api, user: User, pushbox: Pushbox
) -> None:
    notify(api, user, push=True)
    for name in ("laptop", "phone"):
        created = api.post(SUBSCRIPTIONS, json=pushbox.subscription(name), headers=user.headers)
        assert created.status_code == 201, created.text
    task = due_reminder(api, user, "Water the plants 🌱")
    pushes = pushbox.wait(2, api.idle)
    key = api.get("/api/push/vapid-public-key").json()["public_key"]
    assert sorted(p.path for p in pushes) == ["/push/laptop", "/push/phone"]
    for push in pushes:
        assert push.data["kind"] == "reminder"
        assert push.data["task_id"] == task["id"]
        assert push.data["title"] == "Water the plants 🌱"
        assert push.server_key == key
    metrics = api.get("/metrics").text
    assert metric_value(metrics, "todo_push_sent_total") >= 2


def test_no_push_without_notify_push(api: Api, user: User, pushbox: Pushbox) -> None:
    api.post(SUBSCRIPTIONS, json=pushbox.subscription("quiet"), headers=user.headers)
    due_reminder(api, user)
    api.idle(1)
    assert pushbox.received == []


def test_a_subscription_its_push_service_calls_gone_is_removed(
    api: Api, user: User, pushbox: Pushbox
) -> None:
    notify(api, user, push=True)
    api.post(SUBSCRIPTIONS, json=pushbox.subscription("old"), headers=user.headers)
    api.post(SUBSCRIPTIONS, json=pushbox.subscription("new"), headers=user.headers)
    pushbox.gone.add("/push/old")
    due_reminder(api, user)
    pushbox.wait(1, api.idle)
    deadline = time.monotonic() + 10
    while len(api.get(SUBSCRIPTIONS, headers=user.headers).json()["subscriptions"]) > 1:
        assert time.monotonic() < deadline
        api.idle(0.1)
    [left] = api.get(SUBSCRIPTIONS, headers=user.headers).json()["subscriptions"]
    assert left["endpoint"].endswith("/push/new")
    assert pushbox.refused == ["/push/old"]
    assert metric_value(api.get("/metrics").text, "todo_push_failed_total") >= 1


def test_subscriptions_are_the_accounts_own(
    api: Api, user: User, other_user: User, pushbox: Pushbox
) -> None:
    mine = api.post(SUBSCRIPTIONS, json=pushbox.subscription("a"), headers=user.headers).json()
    again = api.post(SUBSCRIPTIONS, json=pushbox.subscription("a"), headers=user.headers)
    assert again.status_code == 200
    assert again.json()["id"] == mine["id"]
    assert api.get(SUBSCRIPTIONS, headers=other_user.headers).json() == {"subscriptions": []}
    path = f"{SUBSCRIPTIONS}/{mine['id']}"
    assert api.delete(path, headers=other_user.headers).status_code == 404
    assert api.delete(path, headers=user.headers).status_code == 204
    assert api.delete(path, headers=user.headers).status_code == 404


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"keys": {"p256dh": "AAAA", "auth": "1FcQS6yVhi7XpyAMBqhjMg"}}, "p256dh"),
        ({"keys": {"p256dh": None, "auth": "short"}}, "auth"),
        ({"endpoint": "ftp://push.example.org/x"}, "endpoint"),
    ],
)
def test_a_malformed_subscription_is_422(
    api: Api, user: User, pushbox: Pushbox, change: dict[str, Any], loc: str
) -> None:
    body = pushbox.subscription("bad")
    if change.get("keys", {}).get("p256dh", "") is None:
        change["keys"]["p256dh"] = body["keys"]["p256dh"]
    response = api.post(SUBSCRIPTIONS, json={**body, **change}, headers=user.headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"][-1] == loc


def test_a_reminder_is_mailed_to_a_verified_address_only(
    api: Api, user: User, mailbox: Mailbox, sql: psycopg.Connection[Any]
) -> None:
    notify(api, user, email=True)
    due_reminder(api, user, "Unverified")
    api.idle(1)
    assert mailbox.to(user.email) == []
    sql.execute("UPDATE users SET email_verified = true WHERE id = %s", (user.id,))
    due_reminder(api, user, "Call\r\nBcc: x@example.org mum")
    [mail] = mailbox.wait_for(user.email, idle=api.idle)
    assert mail.message["Subject"] == "Reminder: Call Bcc: x@example.org mum"
    assert mail.recipients == [user.email]


def test_subscribing_while_the_account_is_being_deleted_is_401_not_500(
    api: Api, database_url: str, user: User, pushbox: Pushbox
) -> None:
    body = pushbox.subscription("late")
    send = lambda: api.arequest("POST", SUBSCRIPTIONS, json=body, headers=user.headers)  # noqa: E731
    answer = while_deleted(api, database_url, user.id, send)
    assert answer.status_code == 401, answer.text
    assert answer.json()["type"] == "urn:todo-api:problem:unauthorized"


def test_a_push_service_that_never_answers_holds_up_one_push_of_its_account_a_round(
    api: Api, sql: psycopg.Connection[Any], user: User, other_user: User, pushbox: Pushbox
) -> None:
    """An account's four subscriptions at a server that accepts and never answers, and another
    account's push queued behind them: the round tries the silent server once, puts the
    account's other three pushes off untried, and delivers the other account's."""
    silent = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):  # closed at the end
            while True:
                held.append(silent.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    origin = f"http://127.0.0.1:{silent.getsockname()[1]}"
    subscriptions = []
    for owner, name, at in [(user, f"silent{i}", origin) for i in range(4)] + [
        (other_user, "ok", pushbox.origin)
    ]:
        body = {**pushbox.subscription(name), "endpoint": f"{at}/push/{name}"}
        created = api.post(SUBSCRIPTIONS, json=body, headers=owner.headers)
        subscriptions.append(created.json()["id"])
    lease = "UPDATE purge_lease SET holder = %s, leased_until = %s WHERE name = 'outbox:push'"
    sql.execute(lease, ("held by the test", "infinity"))  # the app's own sender kept off
    try:
        sql.execute(
            "INSERT INTO outbox (channel, payload) SELECT 'push', jsonb_build_object("
            " 'kind', 'reminder', 'subscription_id', s, 'title', 'T') FROM unnest(%s::uuid[]) s",
            (subscriptions,),
        )
        ctx = api.app.ctx
        deliverer = PushDeliverer(
            ctx.db,
            ctx.queries,
            vapid_key(ctx.settings),
            "mailto:a@b.c",
            public_only=False,
            timeout=1,
        )
        api.run(Sender(ctx.db, ctx.queries, deliverer, 1, Tally(None, "push", "Pushes")).round())
    finally:
        sql.execute(lease, ("", "-infinity"))
        silent.close()
    assert len(held) == 1, "the silent push service was tried more than once in the round"
    assert [p.path for p in pushbox.received] == ["/push/ok"]
    rows = sql.execute(
        "SELECT attempts, last_error LIKE 'put off%%' FROM outbox"
        " WHERE channel = 'push' AND sent_at IS NULL ORDER BY id"
    ).fetchall()
    assert rows == [(1, False), (1, True), (1, True), (1, True)]
