"""Reminders on the events stream (SPEC §7 with §8), in real service processes on one database:
each open stream of the user gets a reminder once, whichever of two processes holds it; a reminder
that fell due while the service was stopped reaches a stream after start; and a recurring task's
completion reaches /changes as one upsert with the advanced due."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from server.contract.fastpath import Compiler
from tests.live import LiveServer, fresh_database
from tests.support import PATIENCE, Api, User
from tests.test_events import SPEC, Listener, stream
from tests.test_reminders import FAST, signed_up, with_reminders

REMINDER = Compiler(SPEC).validator({"$ref": "#/components/schemas/Reminder"})


async def reminders_heard(listener: Listener, expected: int, linger: float) -> list[dict[str, Any]]:
    """The data of every `event: reminder` the stream got (others skipped): until `expected`
    came (at most PATIENCE seconds), then for `linger` seconds more, where a second firing
    would show."""
    found: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE
    while (left := deadline - loop.time()) > 0:
        try:
            event = await listener.next(within=left)
        except TimeoutError:
            break
        if event.get("event") == "reminder":
            REMINDER.validate(event["data"])
            found.append(event["data"])
            if len(found) == expected:
                deadline = min(deadline, loop.time() + linger)
    return found


def account(user_id: str, headers: dict[str, str]) -> User:
    """The signed-up account as `stream` takes it."""
    token = headers["Authorization"].removeprefix("Bearer ")
    return User(id=user_id, email="", password="", name="R", access_token=token, session_id="")


@pytest.fixture
def reminder_db(admin_dsn: str) -> str:
    return fresh_database(admin_dsn, "reminder_events")


@pytest.mark.slow
def test_each_stream_gets_a_reminder_once_with_two_processes(
    reminder_db: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    logs = tmp_path_factory.mktemp("reminder-events")
    env = {**FAST, "JWT_SECRET": secrets.token_urlsafe(48)}  # one token for both
    with (
        LiveServer(reminder_db, logs / "a.log", env=env) as a,
        LiveServer(reminder_db, logs / "b.log", env=env) as b,
    ):
        user_id, headers = signed_up(a)
        owner = account(user_id, headers)

        async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
            async with (
                httpx.AsyncClient(base_url=a.url, timeout=30) as on_a,
                httpx.AsyncClient(base_url=b.url, timeout=30) as on_b,
                stream(on_a, owner) as first,
                stream(on_b, owner) as second,
            ):
                at = datetime.now(UTC) + timedelta(seconds=1.5)
                [task_id] = await asyncio.to_thread(with_reminders, a, user_id, headers, [at])
                # 1.5 s to fall due, then five 1 s rounds of both schedulers: a second firing
                # would show
                heard = await asyncio.gather(
                    reminders_heard(first, 1, linger=5), reminders_heard(second, 1, linger=5)
                )
                for found in heard:
                    assert [r["task_id"] for r in found] == [task_id]
                return heard

        heard = asyncio.run(scenario())
    assert heard[0] == heard[1]
    assert heard[0][0]["title"] == "r0"


@pytest.mark.slow
def test_a_reminder_due_while_stopped_reaches_a_stream_after_start(
    reminder_db: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    env = {**FAST, "JWT_SECRET": secrets.token_urlsafe(48)}  # the token outlives a restart
    server = LiveServer(reminder_db, tmp_path_factory.mktemp("restart") / "s.log", env=env)
    with server:
        user_id, headers = signed_up(server)
        later = datetime.now(UTC) + timedelta(hours=1)
        [task_id] = with_reminders(server, user_id, headers, [later])
    past = (datetime.now(UTC) - timedelta(minutes=5)).replace(microsecond=0)
    with psycopg.connect(reminder_db, autocommit=True) as conn:
        # while stopped, the reminder falls due 5 minutes ago; a lease held here keeps the
        # scheduler from firing it before the stream is open
        conn.execute(
            "UPDATE tasks SET reminders = jsonb_build_array(jsonb_build_object('at', %s::text))"
            " WHERE id = %s",
            (past.isoformat(), task_id),
        )
        conn.execute(
            "UPDATE purge_lease SET holder = 'test', leased_until = 'infinity'"
            " WHERE name = 'reminders'"
        )
        owner = account(user_id, headers)

        async def scenario() -> list[dict[str, Any]]:
            async with (
                httpx.AsyncClient(base_url=server.url, timeout=30) as c,
                stream(c, owner) as listener,
            ):
                await asyncio.to_thread(
                    conn.execute,
                    "UPDATE purge_lease SET leased_until = '-infinity' WHERE name = 'reminders'",
                )
                return await reminders_heard(listener, 1, linger=4)

        with server:
            found = asyncio.run(scenario())
    assert found == [
        {"task_id": task_id, "title": "r0", "fire_at": past.isoformat().replace("+00:00", "Z")}
    ]


def test_completing_a_recurring_task_is_one_upsert_with_the_advanced_due(
    api: Api, user: User
) -> None:
    created = api.post(
        f"/api/{user.id}/tasks",
        json={"title": "Water", "due_on": "2025-01-01", "recurrence": {"rule": "FREQ=WEEKLY"}},
        headers=user.headers,
    )
    assert created.status_code == 201, created.text
    task = created.json()
    since = api.get(f"/api/{user.id}/changes", headers=user.headers).json()["next_since"]
    done = api.patch(
        f"/api/{user.id}/tasks/{task['id']}/complete",
        json={"is_completed": True},
        headers=user.headers,
    )
    assert done.status_code == 200, done.text
    page = api.get(f"/api/{user.id}/changes", params={"since": since}, headers=user.headers)
    assert page.status_code == 200, page.text
    [change] = page.json()["changes"]
    assert (change["kind"], change["op"], change["id"]) == ("task", "upsert", task["id"])
    assert change["data"]["due_on"] == "2025-01-08"
    assert change["data"]["is_completed"] is False
    assert change["data"] == done.json()
