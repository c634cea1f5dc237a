"""Webhooks (SPEC §13): registered per account, delivered from the outbox by the cluster's one
dispatcher to a real receiver on loopback (tests/hookbox.py), in commit order per webhook,
signed per Standard Webhooks and verified here by the `standardwebhooks` library (code we did
not write). Retries are made due at once by moving the delivery's times in the database (time
injected, never waited)."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from openapi_schema_validator import OAS31Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from server.app import load_contract
from server.sealing import KeyRing, Unsealable
from server.system.reminders import fire_due
from server.webhooks import dispatcher as dispatcher_module
from server.webhooks.dispatcher import Dispatcher
from server.webhooks.secrets import CONTEXT as SECRETS_CONTEXT
from server.webhooks.secrets import key_ring
from server.webhooks.signing import new_secret, signed_headers
from tests.hookbox import Hookbox
from tests.mailbox import Mailbox
from tests.sharing import share, unshare
from tests.support import Api, User


@pytest.fixture
def hookbox() -> Iterator[Hookbox]:
    with Hookbox() as box:
        yield box


@pytest.fixture
def dispatcher(api: Api) -> Dispatcher:
    found = [s for s in api.app.ctx.senders if isinstance(s, Dispatcher)]
    assert len(found) == 1
    return found[0]


def hooks_path(user: User) -> str:
    return f"/api/{user.id}/webhooks"


def register(api: Api, user: User, url: str, events: list[str] | None = None) -> dict[str, Any]:
    created = api.post(
        hooks_path(user), json={"url": url, "events": events or ["task.*"]}, headers=user.headers
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


def verify(secret: str, hook: Any) -> dict[str, Any]:
    verified: dict[str, Any] = Webhook(secret).verify(hook.body, hook.headers)
    return verified


def make_due(sql: psycopg.Connection[Any], webhook_id: str) -> None:
    """The webhook's next retry is due now (rather than in 30 s or more)."""
    sql.execute(
        "UPDATE outbox SET next_attempt_at = now() WHERE webhook_id = %s AND sent_at IS NULL",
        (webhook_id,),
    )


def deliveries(api: Api, user: User, webhook_id: str) -> list[dict[str, Any]]:
    log = api.get(f"{hooks_path(user)}/{webhook_id}/deliveries", headers=user.headers)
    assert log.status_code == 200, log.text
    found: list[dict[str, Any]] = log.json()["deliveries"]
    return found


def settle(api: Api, condition: Callable[[], bool], within: float = 30) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        api.idle(0.05)


def test_a_webhook_shows_its_secret_once_and_belongs_to_its_account(
    api: Api, user: User, other_user: User
) -> None:
    created = register(api, user, "https://hooks.example.org/todo", ["task.*", "reminder"])
    assert created["secret"].startswith("whsec_")
    assert created["events"] == ["task.*", "reminder"]
    assert created["enabled"] is True
    path = f"{hooks_path(user)}/{created['id']}"
    shown = api.get(path, headers=user.headers).json()
    assert "secret" not in shown
    assert shown["id"] == created["id"]
    listed = api.get(hooks_path(user), headers=user.headers).json()["webhooks"]
    assert [w["id"] for w in listed] == [created["id"]]
    assert "secret" not in listed[0]
    # another account: not its path (403), nor its webhook under its own path (404)
    assert api.get(path, headers=other_user.headers).status_code == 403
    theirs = f"{hooks_path(other_user)}/{created['id']}"
    for method in ("GET", "DELETE"):
        assert api.request(method, theirs, headers=other_user.headers).status_code == 404
    assert api.post(f"{theirs}/test", headers=other_user.headers).status_code == 404
    assert api.get(hooks_path(other_user), headers=other_user.headers).json()["webhooks"] == []


def test_webhooks_per_account_are_capped(api: Api, user: User, other_user: User) -> None:
    quota = api.app.ctx.settings.webhook_quota
    for n in range(quota):
        register(api, user, f"https://hooks.example.org/{n}")
    refused = api.post(
        hooks_path(user),
        json={"url": "https://hooks.example.org/one-more", "events": ["task.*"]},
        headers=user.headers,
    )
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("quota-exceeded")
    register(api, other_user, "https://hooks.example.org/theirs")


@pytest.mark.parametrize(
    "body",
    [
        {"url": "ftp://hooks.example.org/", "events": ["task.*"]},
        {"url": "https://user:pw@hooks.example.org/", "events": ["task.*"]},
        {"url": "not a url", "events": ["task.*"]},
        {"url": "https://[::1/hook", "events": ["task.*"]},
        {"url": "https://hooks.example.org:99999/", "events": ["task.*"]},
        {"url": "https:///no-host", "events": ["task.*"]},
        {"url": "https://hooks.example.org/", "events": []},
        {"url": "https://hooks.example.org/", "events": ["task.exploded"]},
        {"url": "https://hooks.example.org/", "events": ["task.*", "task.*"]},
        {"url": "https://" + "a" * 2048, "events": ["task.*"]},
    ],
)
def test_a_malformed_webhook_is_refused(api: Api, user: User, body: dict[str, Any]) -> None:
    assert api.post(hooks_path(user), json=body, headers=user.headers).status_code == 422


def test_a_created_task_is_delivered_signed_as_standard_webhooks_verify(
    api: Api, user: User, hookbox: Hookbox
) -> None:
    webhook = register(api, user, f"{hookbox.origin}/in")
    task = api.post(f"/api/{user.id}/tasks", json={"title": "Ship it ✓"}, headers=user.headers)
    [hook] = hookbox.wait(1, api.idle)
    message = verify(webhook["secret"], hook)
    assert message["type"] == "task.created"
    assert message["id"] == hook.id
    assert message["data"]["kind"] == "task"
    assert message["data"]["op"] == "upsert"
    assert message["data"]["data"] == task.json()
    assert hook.path == "/in"
    assert hook.headers["content-type"] == "application/json"
    assert hook.id.startswith("msg_")
    # a tampered body, another secret and an old timestamp all fail verification
    tampered = type(hook)(hook.path, hook.headers, hook.body.replace(b"Ship", b"Sink"))
    with pytest.raises(WebhookVerificationError):
        verify(webhook["secret"], tampered)
    with pytest.raises(WebhookVerificationError):
        verify(register(api, user, f"{hookbox.origin}/other")["secret"], hook)
    old = int(time.time()) - 3600
    stale = type(hook)(
        hook.path, signed_headers(webhook["secret"], hook.id, old, hook.body), hook.body
    )
    with pytest.raises(WebhookVerificationError, match="too old"):
        verify(webhook["secret"], stale)
    fresh = signed_headers(webhook["secret"], hook.id, int(time.time()), hook.body)
    assert verify(webhook["secret"], type(hook)(hook.path, fresh, hook.body)) == message


def test_changes_arrive_in_commit_order_with_the_events_asked_for(
    api: Api, user: User, hookbox: Hookbox
) -> None:
    register(api, user, f"{hookbox.origin}/tasks", ["task.updated", "task.deleted"])
    lists_hook = register(api, user, f"{hookbox.origin}/lists", ["list.*"])
    tasks = f"/api/{user.id}/tasks"
    first = api.post(tasks, json={"title": "one"}, headers=user.headers).json()
    api.patch(f"{tasks}/{first['id']}", json={"title": "one, again"}, headers=user.headers)
    # the feed holds each object once, in its latest state: the update is sent before the
    # deletion overtakes it (both written at once, only the deletion would be sent)
    hookbox.wait(1, api.idle)
    made = api.post(f"/api/{user.id}/lists", json={"name": "Errands"}, headers=user.headers)
    assert made.status_code == 201, made.text
    api.delete(f"{tasks}/{first['id']}", headers=user.headers)
    received = hookbox.wait(3, api.idle)
    by_path = {
        path: [h.json["type"] for h in received if h.path == path] for path in ("/tasks", "/lists")
    }
    assert by_path == {"/tasks": ["task.updated", "task.deleted"], "/lists": ["list.created"]}
    updated = next(h.json for h in received if h.json["type"] == "task.updated")
    assert updated["data"]["data"]["title"] == "one, again"
    assert verify(lists_hook["secret"], next(h for h in received if h.path == "/lists"))


def test_a_members_webhook_hears_a_shared_list_until_the_member_is_removed(
    api: Api, user: User, other_user: User, hookbox: Hookbox, sql: psycopg.Connection[Any]
) -> None:
    owner, member = user, other_user
    shared = api.post(f"/api/{owner.id}/lists", json={"name": "Home"}, headers=owner.headers)
    list_id = shared.json()["id"]
    share(sql, owner, list_id, member, "editor")
    register(api, member, f"{hookbox.origin}/member", ["task.*"])
    tasks = f"/api/{owner.id}/tasks"
    made = api.post(tasks, json={"title": "Milk", "list_id": list_id}, headers=owner.headers)
    [hook] = hookbox.wait(1, api.idle)
    assert (hook.json["type"], hook.json["data"]["id"]) == ("task.created", made.json()["id"])
    unshare(sql, list_id, member)
    # the removal reaches the member's webhook as the task's delete, and nothing of the list after
    api.post(tasks, json={"title": "Bread", "list_id": list_id}, headers=owner.headers)
    mine = api.post(f"/api/{member.id}/tasks", json={"title": "Mine"}, headers=member.headers)
    received = hookbox.wait(3, api.idle)
    told = [(h.json["type"], h.json["data"]["id"]) for h in received[1:]]
    assert told == [("task.deleted", made.json()["id"]), ("task.created", mine.json()["id"])]


def contract_check(message: dict[str, Any]) -> None:
    """The delivery's body matches the payload schema the contract's top-level `webhooks:`
    declares for its type."""
    document, uri = load_contract().document, "urn:todo-api:openapi"
    assert message["type"] in document["webhooks"], message["type"]
    pointer = f"/webhooks/{message['type']}/post/requestBody/content/application~1json/schema"
    registry: Registry[Any] = Registry().with_resource(uri, DRAFT202012.create_resource(document))
    validator = OAS31Validator(
        {"$ref": f"{uri}#{pointer}"},
        registry=registry,
        format_checker=OAS31Validator.FORMAT_CHECKER,
    )
    validator.validate(message)


def body_of(message: dict[str, Any]) -> Any:
    """A change event's comment text (None for a delete)."""
    return (message["data"]["data"] or {}).get("body")


def test_comments_of_a_shared_list_reach_each_members_webhook_until_the_member_is_removed(
    api: Api, user: User, other_user: User, hookbox: Hookbox, sql: psycopg.Connection[Any]
) -> None:
    """comment.created, comment.updated and comment.deleted: a comment written, edited and
    deleted on a task of a shared list reaches the owner's and the member's webhooks, each as
    subscribed, signed; once removed from the list the member hears its comments no more."""
    owner, member = user, other_user
    shared = api.post(f"/api/{owner.id}/lists", json={"name": "Home"}, headers=owner.headers)
    list_id = shared.json()["id"]
    share(sql, owner, list_id, member, "editor")
    task = api.post(
        f"/api/{owner.id}/tasks", json={"title": "Paint", "list_id": list_id}, headers=owner.headers
    ).json()
    secrets = {
        "/member": register(api, member, f"{hookbox.origin}/member", ["comment.*"])["secret"],
        "/owner": register(
            api, owner, f"{hookbox.origin}/owner", ["comment.created", "comment.deleted"]
        )["secret"],
    }

    def comments(author: User, task_id: str) -> str:
        return f"/api/{author.id}/tasks/{task_id}/comments"

    def told(count: int) -> list[tuple[str, str, str, Any]]:
        received = hookbox.wait(count, api.idle)
        assert len(received) == count, [h.json for h in received]
        for hook in received:
            contract_check(verify(secrets[hook.path], hook))
        return [(h.path, h.json["type"], h.json["data"]["id"], body_of(h.json)) for h in received]

    first = api.post(comments(member, task["id"]), json={"body": "Blue?"}, headers=member.headers)
    assert first.status_code == 201, first.text
    first_id = first.json()["id"]
    assert sorted(told(2)) == [
        ("/member", "comment.created", first_id, "Blue?"),
        ("/owner", "comment.created", first_id, "Blue?"),
    ]
    edited = api.patch(
        f"{comments(member, task['id'])}/{first_id}",
        json={"body": "Green, rather"},
        headers={**member.headers, "If-Match": first.headers["ETag"]},
    )
    assert edited.status_code == 200, edited.text
    assert told(3)[2] == ("/member", "comment.updated", first_id, "Green, rather")
    gone = api.delete(f"{comments(owner, task['id'])}/{first_id}", headers=owner.headers)
    assert gone.status_code == 204
    assert sorted(told(5)[3:]) == [
        ("/member", "comment.deleted", first_id, None),
        ("/owner", "comment.deleted", first_id, None),
    ]

    unshare(sql, list_id, member)
    after = api.post(comments(owner, task["id"]), json={"body": "Done"}, headers=owner.headers)
    mine = api.post(
        f"/api/{member.id}/tasks", json={"title": "Mine"}, headers=member.headers
    ).json()
    own = api.post(comments(member, mine["id"]), json={"body": "Note"}, headers=member.headers)
    assert own.status_code == 201, own.text
    later = told(7)[5:]
    assert ("/owner", "comment.created", after.json()["id"], "Done") in later
    assert [x for x in later if x[0] == "/member"] == [
        ("/member", "comment.created", own.json()["id"], "Note")
    ]


def pending(api: Api, user: User, webhook_id: str) -> list[dict[str, Any]]:
    return [d for d in deliveries(api, user, webhook_id) if d["status"] == "pending"]


def test_500_then_no_answer_then_200_is_one_message_and_the_next_waits_its_turn(
    api: Api,
    user: User,
    hookbox: Hookbox,
    sql: psycopg.Connection[Any],
    dispatcher: Dispatcher,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(dispatcher.poster, "timeout", 0.5)
    hookbox.answer(500, "hang")
    webhook = register(api, user, hookbox.origin)
    tasks = f"/api/{user.id}/tasks"
    a = api.post(tasks, json={"title": "A"}, headers=user.headers).json()
    hookbox.wait(1, api.idle)  # A answered 500: B is queued behind it
    b = api.post(tasks, json={"title": "B"}, headers=user.headers).json()
    settle(api, lambda: len(pending(api, user, webhook["id"])) == 2)
    api.idle(0.5)
    assert len(hookbox.hooks()) == 1  # B waits while A is retried
    make_due(sql, webhook["id"])
    hookbox.wait(2, api.idle)  # A again: no answer within the timeout
    settle(api, lambda: pending(api, user, webhook["id"])[-1]["attempts"] == 2)
    log = pending(api, user, webhook["id"])[-1]
    assert log["response_code"] is None
    assert "no answer" in log["error"]
    make_due(sql, webhook["id"])
    received = hookbox.wait(4, api.idle)  # A delivered, then B
    assert [h.json["data"]["id"] for h in received] == [a["id"], a["id"], a["id"], b["id"]]
    assert len({h.id for h in received[:3]}) == 1
    assert received[3].id != received[0].id
    for hook in received:
        verify(webhook["secret"], hook)
    settle(api, lambda: not pending(api, user, webhook["id"]))
    newest, oldest = deliveries(api, user, webhook["id"])
    assert oldest["message_id"] == received[0].id
    assert newest["message_id"] == received[3].id
    assert (oldest["status"], oldest["attempts"], oldest["response_code"]) == ("delivered", 3, 200)
    assert oldest["response_excerpt"].startswith("answer 200")
    assert len(oldest["response_excerpt"]) == 200
    assert newest["status"] == "delivered"
    assert newest["attempts"] == 1


def test_a_day_of_failures_disables_the_webhook_and_mails_its_owner(
    api: Api, user: User, hookbox: Hookbox, sql: psycopg.Connection[Any], mailbox: Mailbox
) -> None:
    hookbox.answer(*[500] * 3)
    webhook = register(api, user, hookbox.origin)
    tasks = f"/api/{user.id}/tasks"
    api.post(tasks, json={"title": "first"}, headers=user.headers)
    hookbox.wait(1, api.idle)
    api.post(tasks, json={"title": "second"}, headers=user.headers)
    settle(api, lambda: len(pending(api, user, webhook["id"])) == 2)
    # a day later (injected: the delivery was queued 24 h ago), its next attempt fails too
    sql.execute(
        "UPDATE outbox SET created_at = now() - interval '24 hours 1 second',"
        " next_attempt_at = now() WHERE webhook_id = %s AND sent_at IS NULL"
        " AND id = (SELECT min(id) FROM outbox WHERE webhook_id = %s)",
        (webhook["id"], webhook["id"]),
    )
    hookbox.wait(2, api.idle)
    path = f"{hooks_path(user)}/{webhook['id']}"
    settle(api, lambda: api.get(path, headers=user.headers).json()["enabled"] is False)
    shown = api.get(path, headers=user.headers).json()
    assert "24 hours" in shown["disabled_reason"]
    assert [d["status"] for d in deliveries(api, user, webhook["id"])] == ["failed", "failed"]
    [mail] = mailbox.wait_for(user.email, idle=api.idle)
    assert "disabled" in mail.message["Subject"]
    assert hookbox.origin in mail.text
    refused = api.post(f"{path}/test", headers=user.headers)
    assert refused.status_code == 409
    # enabled again, the changes from now on are delivered (not those of the disabled time)
    api.post(tasks, json={"title": "while off"}, headers=user.headers)
    enabled = api.patch(path, json={"enabled": True}, headers=user.headers)
    assert enabled.status_code == 200
    assert enabled.json()["disabled_reason"] is None
    api.post(tasks, json={"title": "back"}, headers=user.headers)
    received = hookbox.wait(3, api.idle)
    api.idle(0.5)
    assert [h.json["data"]["data"]["title"] for h in hookbox.hooks()[2:]] == ["back"]
    assert received[2].json["type"] == "task.created"


def test_redeliver_sends_the_same_message_again_and_ping_reaches_the_receiver(
    api: Api, user: User, hookbox: Hookbox
) -> None:
    webhook = register(api, user, hookbox.origin, ["list.*"])
    path = f"{hooks_path(user)}/{webhook['id']}"
    api.post(f"/api/{user.id}/lists", json={"name": "Garden"}, headers=user.headers)
    [first] = hookbox.wait(1, api.idle)
    settle(api, lambda: deliveries(api, user, webhook["id"])[0]["status"] == "delivered")
    [done] = deliveries(api, user, webhook["id"])
    again = api.post(f"{path}/deliveries/{done['id']}/redeliver", headers=user.headers)
    assert again.status_code == 202
    assert again.json()["message_id"] == first.id
    assert again.json()["status"] == "pending"
    ping = api.post(f"{path}/test", headers=user.headers)
    assert ping.status_code == 202
    assert ping.json()["type"] == "webhook.ping"
    _, copy, pinged = hookbox.wait(3, api.idle)
    assert copy.id == first.id
    assert copy.body == first.body
    assert verify(webhook["secret"], copy)["type"] == "list.created"
    assert verify(webhook["secret"], pinged) == {
        "type": "webhook.ping",
        "id": pinged.id,
        "timestamp": pinged.json["timestamp"],
        "data": {"webhook_id": webhook["id"]},
    }
    missing = api.post(f"{path}/deliveries/9007199254740991/redeliver", headers=user.headers)
    assert missing.status_code == 404


def test_a_reminder_that_falls_due_is_delivered(api: Api, user: User, hookbox: Hookbox) -> None:
    webhook = register(api, user, hookbox.origin, ["reminder"])
    at = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    task = api.post(
        f"/api/{user.id}/tasks",
        json={"title": "Water the plants", "reminders": [{"at": at}]},
        headers=user.headers,
    ).json()
    api.run(fire_due(api.app.ctx.db, api.app.ctx.queries))
    [hook] = hookbox.wait(1, api.idle)
    message = verify(webhook["secret"], hook)
    assert message["type"] == "reminder"
    assert message["data"]["task_id"] == task["id"]
    assert message["data"]["title"] == "Water the plants"
    api.idle(0.5)
    assert len(hookbox.hooks()) == 1  # the task's creation is not a reminder event


def test_deleting_the_webhook_or_the_account_drops_what_is_queued(
    api: Api, user: User, other_user: User, hookbox: Hookbox, sql: psycopg.Connection[Any]
) -> None:
    hookbox.answer(500, 500)
    mine = register(api, user, hookbox.origin + "/mine")
    theirs = register(api, other_user, hookbox.origin + "/theirs")
    for owner in (user, other_user):
        for title in ("a", "b", "c"):
            api.post(f"/api/{owner.id}/tasks", json={"title": title}, headers=owner.headers)
    hookbox.wait(2, api.idle)  # each head answered 500; the rest wait behind it

    def queued(webhook_id: str) -> int:
        row = sql.execute(
            "SELECT count(*) FROM outbox WHERE webhook_id = %s AND sent_at IS NULL", (webhook_id,)
        ).fetchone()
        assert row is not None
        return int(row[0])

    settle(api, lambda: queued(mine["id"]) == 3 and queued(theirs["id"]) == 3)
    assert api.delete(f"{hooks_path(user)}/{mine['id']}", headers=user.headers).status_code == 204
    gone = api.request(
        "DELETE", "/api/me", json={"password": other_user.password}, headers=other_user.headers
    )
    assert gone.status_code == 204
    assert queued(mine["id"]) == 0
    assert queued(theirs["id"]) == 0
    sql.execute("UPDATE outbox SET next_attempt_at = now() WHERE channel = 'webhook'")
    api.idle(1)
    assert len(hookbox.hooks()) == 2


def test_an_answer_with_nul_bytes_and_bad_utf8_is_kept_as_a_short_excerpt(
    api: Api, user: User, hookbox: Hookbox
) -> None:
    """PostgreSQL's text refuses NUL: stored as is, the delivery's outcome was never recorded
    and the receiver was sent it again each time its claim ran out."""
    hookbox.answer((200, b"ok\x00\xff" + b"\x00" * 10_000))
    webhook = register(api, user, hookbox.origin)
    api.post(f"/api/{user.id}/tasks", json={"title": "nul"}, headers=user.headers)
    hookbox.wait(1, api.idle)
    settle(api, lambda: deliveries(api, user, webhook["id"])[0]["status"] == "delivered")
    [done] = deliveries(api, user, webhook["id"])
    assert done["response_code"] == 200
    assert done["response_excerpt"] == "ok\ufffd"


def test_pings_and_redeliveries_waiting_are_capped(
    api: Api, user: User, hookbox: Hookbox, sql: psycopg.Connection[Any]
) -> None:
    hookbox.answer(500)
    webhook = register(api, user, hookbox.origin)
    path = f"{hooks_path(user)}/{webhook['id']}"
    assert api.post(f"{path}/test", headers=user.headers).status_code == 202
    hookbox.wait(1, api.idle)  # the first ping failed: everything after it waits
    settle(api, lambda: deliveries(api, user, webhook["id"])[0]["attempts"] == 1)
    [first] = deliveries(api, user, webhook["id"])
    for _ in range(8):
        assert api.post(f"{path}/test", headers=user.headers).status_code == 202
    again = api.post(f"{path}/deliveries/{first['id']}/redeliver", headers=user.headers)
    assert again.status_code == 202
    for call in (
        lambda: api.post(f"{path}/test", headers=user.headers),
        lambda: api.post(f"{path}/deliveries/{first['id']}/redeliver", headers=user.headers),
    ):
        refused = call()
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) > 0
    assert len(deliveries(api, user, webhook["id"])) == 10
    make_due(sql, webhook["id"])
    hookbox.wait(11, api.idle)
    settle(api, lambda: not pending(api, user, webhook["id"]))
    assert api.post(f"{path}/test", headers=user.headers).status_code == 202


def test_a_webhook_deleted_mid_run_gets_nothing_more_of_it(
    api: Api, user: User, hookbox: Hookbox, sql: psycopg.Connection[Any]
) -> None:
    """Three changes of one commit are claimed as one run; the webhook is deleted while the
    first is at its receiver: the other two, claimed already, are not sent (they were, from
    the run held in memory, before each next delivery was checked)."""
    hookbox.answer("gate")
    webhook = register(api, user, hookbox.origin)
    creates = [{"op": "create", "body": {"title": t}} for t in ("a", "b", "c")]
    batch = api.post(
        f"/api/{user.id}/tasks/batch", json={"operations": creates}, headers=user.headers
    )
    assert batch.status_code == 200, batch.text
    hookbox.wait(1, api.idle)  # the first is at the receiver, held there
    deleted = api.delete(f"{hooks_path(user)}/{webhook['id']}", headers=user.headers)
    assert deleted.status_code == 204
    hookbox.gate.set()
    api.idle(1.5)
    assert len(hookbox.hooks()) == 1  # (one commit's changes are ordered among themselves by id)
    row = sql.execute("SELECT count(*) FROM outbox WHERE channel = 'webhook'").fetchone()
    assert row is not None
    assert row[0] == 0


def test_a_receiver_down_for_hours_leaves_the_service_ready(
    api: Api, user: User, sql: psycopg.Connection[Any]
) -> None:
    """/ready's outbox age is the mail's and push's: one account's receiver being down (its
    deliveries waiting for hours) says nothing of the service's health."""
    webhook = register(api, user, "http://127.0.0.1:9/down")
    path = f"{hooks_path(user)}/{webhook['id']}"
    assert api.patch(path, json={"enabled": False}, headers=user.headers).status_code == 200
    sql.execute(
        "INSERT INTO outbox (channel, webhook_id, payload, created_at)"
        " VALUES ('webhook', %s, '{}', now() - interval '2 hours')",
        (webhook["id"],),
    )
    ready = api.get("/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["outbox"] == {"oldest_unsent_seconds": None}


def stored_secret(sql: psycopg.Connection[Any], webhook_id: str) -> str:
    row = sql.execute("SELECT secret FROM webhooks WHERE id = %s", (webhook_id,)).fetchone()
    assert row is not None
    return str(row[0])


def test_a_copy_of_the_database_holds_no_secret_that_signs(
    api: Api, user: User, hookbox: Hookbox, sql: psycopg.Connection[Any]
) -> None:
    """The signing secret is sealed under WEBHOOK_SECRET_KEY (here derived from JWT_SECRET):
    the row holds neither the secret nor its key, and no other key opens it; the delivery is
    signed with the secret shown at creation all the same."""
    webhook = register(api, user, f"{hookbox.origin}/in")
    stored = stored_secret(sql, webhook["id"])
    key = webhook["secret"].removeprefix("whsec_")
    assert "whsec_" not in stored
    assert key not in stored
    assert key_ring(api.app.ctx.settings).open(stored) == webhook["secret"]
    with pytest.raises(Unsealable):
        KeyRing(["another key"], SECRETS_CONTEXT).open(stored)
    api.post(f"/api/{user.id}/tasks", json={"title": "Signed"}, headers=user.headers)
    [hook] = hookbox.wait(1, api.idle)
    assert verify(webhook["secret"], hook)["type"] == "task.created"


def test_secrets_in_the_clear_or_under_an_older_key_are_resealed_and_still_sign(
    api: Api,
    user: User,
    hookbox: Hookbox,
    sql: psycopg.Connection[Any],
    dispatcher: Dispatcher,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A row stored before sealing (its whsec_ secret in the clear) and one sealed under a key
    since put second are sealed under the first key when a dispatcher starts; a secret no key
    set opens is not sent with some other signature: its delivery fails, saying why."""
    plain, older = new_secret(), new_secret()
    old_ring = KeyRing(["the previous key"], SECRETS_CONTEXT)
    made = [register(api, user, f"{hookbox.origin}/{name}") for name in ("plain", "older")]
    for webhook, stored in zip(made, (plain, old_ring.seal(older)), strict=True):
        sql.execute("UPDATE webhooks SET secret = %s WHERE id = %s", (stored, webhook["id"]))
    ring = KeyRing([api.app.ctx.settings.jwt_secret, "the previous key"], SECRETS_CONTEXT)
    assert ring.current_id == key_ring(api.app.ctx.settings).current_id
    dispatcher.keys = ring
    api.run(dispatcher.reseal())
    for webhook, secret in zip(made, (plain, older), strict=True):
        stored = stored_secret(sql, webhook["id"])
        assert ring.is_current(stored)
        assert "whsec_" not in stored
        assert key_ring(api.app.ctx.settings).open(stored) == secret
    api.post(f"/api/{user.id}/tasks", json={"title": "Both"}, headers=user.headers)
    hooks = hookbox.wait(2, api.idle)
    secrets = {"/plain": plain, "/older": older}
    assert {h.path for h in hooks} == set(secrets)
    for hook in hooks:
        assert verify(secrets[hook.path], hook)["type"] == "task.created"

    # a secret no key opens does not stop the ones after it (by id) from being re-sealed
    pair = sorted(
        (register(api, user, f"{hookbox.origin}/{n}")["id"] for n in ("a", "b")), key=uuid.UUID
    )
    for webhook_id, stored in zip(pair, (old_ring.seal(new_secret()), plain), strict=True):
        sql.execute("UPDATE webhooks SET secret = %s WHERE id = %s", (stored, webhook_id))
    monkeypatch.setattr(dispatcher_module, "RESEAL_BATCH", 1)
    dispatcher.keys = key_ring(api.app.ctx.settings)
    api.run(dispatcher.reseal())
    assert not dispatcher.keys.is_current(stored_secret(sql, pair[0]))
    assert dispatcher.keys.open(stored_secret(sql, pair[1])) == plain
    sql.execute("DELETE FROM webhooks WHERE id = ANY(%s::uuid[])", (pair,))

    lost = register(api, user, f"{hookbox.origin}/lost")
    sql.execute(
        "UPDATE webhooks SET secret = %s WHERE id = %s", (old_ring.seal(new_secret()), lost["id"])
    )
    dispatcher.keys = key_ring(api.app.ctx.settings)  # the previous key no longer set
    api.post(f"/api/{user.id}/tasks", json={"title": "Unsigned"}, headers=user.headers)
    settle(api, lambda: any(d["attempts"] for d in deliveries(api, user, lost["id"])))
    [attempt] = deliveries(api, user, lost["id"])
    assert attempt["status"] == "pending"
    assert "WEBHOOK_SECRET_KEY" in attempt["error"]
    assert [h.path for h in hookbox.hooks()].count("/lost") == 0


async def _claim(dispatcher: Dispatcher, webhooks: int) -> list[str]:
    claimed = dispatcher.queries.claim_webhook_runs(
        dispatcher.db, webhooks=webhooks, run=1, claim_seconds=60
    )
    return [str(row["webhook_id"]) async for row in claimed]


def test_the_webhook_waiting_longest_is_sent_first_when_more_are_due_than_a_round_takes(
    api: Api, user: User, other_user: User, dispatcher: Dispatcher, sql: psycopg.Connection[Any]
) -> None:
    """A round takes the heads of WEBHOOKS_PER_ROUND webhooks: when more are due, those waiting
    longest go first (else the webhooks first in the table's order, kept busy by their
    accounts' writes, took every round and the rest waited without end)."""
    api.run(dispatcher.stop(1))
    busy = register(api, user, "http://127.0.0.1:9/busy")
    waiting = register(api, other_user, "http://127.0.0.1:9/waiting")
    for webhook, due in ((busy, "1 minute"), (waiting, "1 hour")):
        sql.execute(
            "INSERT INTO outbox (channel, webhook_id, payload, next_attempt_at)"
            " VALUES ('webhook', %s, '{}', now() - %s::interval)",
            (webhook["id"], due),
        )
    assert api.run(_claim(dispatcher, 1)) == [waiting["id"]]
    assert api.run(_claim(dispatcher, 1)) == [busy["id"]]


def _statement(name: str) -> str:
    """The named statement of sql/webhooks.sql, its parameters as psycopg's."""
    text = (Path(__file__).parent.parent / "sql" / "webhooks.sql").read_text()
    body = text.split(f"-- name: {name}(", 1)[1].split("\n-- name:", 1)[0]
    return re.sub(r"(?<!:):(\w+)", r"%(\1)s", body.split("\n", 1)[1])


def _removed_by_filter(plan: dict[str, Any]) -> int:
    return int(plan.get("Rows Removed by Filter", 0)) + sum(
        _removed_by_filter(child) for child in plan.get("Plans", [])
    )


def test_finding_a_webhooks_next_delivery_skips_the_delivered_ones_kept_for_its_log(
    api: Api, user: User, dispatcher: Dispatcher, sql: psycopg.Connection[Any]
) -> None:
    """Each round looks up every enabled webhook's next delivery: its delivered ones (kept a
    week for the log, thousands for a busy account) are not read on the way, nor is the rest of
    the outbox's unsent work (one or the other was, every round, for every webhook)."""
    api.run(dispatcher.stop(1))
    webhook = register(api, user, "http://127.0.0.1:9/hook")
    sql.execute(
        "INSERT INTO outbox (channel, webhook_id, payload, sent_at)"
        " SELECT 'webhook', %s, '{}', now() FROM generate_series(1, 5000)",
        (webhook["id"],),
    )
    sql.execute(
        "INSERT INTO outbox (channel, webhook_id, payload) VALUES ('webhook', %s, '{}')",
        (webhook["id"],),
    )
    sql.execute(  # and other work waiting: mails due tomorrow
        "INSERT INTO outbox (channel, payload, next_attempt_at)"
        " SELECT 'mail', '{}', now() + interval '1 day' FROM generate_series(1, 5000)"
    )
    sql.execute("ANALYZE outbox")
    row = sql.execute(
        "EXPLAIN (ANALYZE, FORMAT JSON) " + _statement("claim_webhook_runs"),
        {"webhooks": 100, "run": 20, "claim_seconds": 60},
    ).fetchone()
    assert row is not None
    [plan] = row[0]
    assert _removed_by_filter(plan["Plan"]) < 100, plan
