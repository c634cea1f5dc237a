"""Live events (SPEC §7), with a second user present: each change reaches every open stream of
its user within a second, also one held by another service process on the same database;
Last-Event-ID resumes with exactly the missed changes; heartbeats; reminders forwarded; 10
streams per user (429); every event's data validates against the contract's Event schema."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import psycopg
import pytest
import yaml

from server.config import Settings
from server.contract.fastpath import Compiler
from tests import ROOT
from tests.live import LiveServer
from tests.support import Api, User, until

SPEC = yaml.safe_load((ROOT / "openapi.yaml").read_text())
EVENT = Compiler(SPEC).validator({"$ref": "#/components/schemas/Event"})  # formats too
Event = dict[str, Any]


class Listener:
    """One open stream: its events as they arrive (each data validated against Event)."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self.comments = 0
        self.task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        event: Event = {}
        async for line in self.response.aiter_lines():
            if line == "":
                if event:
                    await self.events.put(event)
                event = {}
            elif line.startswith(":"):
                self.comments += 1
            else:
                name, _, value = line.partition(": ")
                event[name] = value
                if name == "data":
                    event["data"] = orjson.loads(value)
                    EVENT.validate(event["data"])

    async def next(self, within: float = 5) -> Event:
        if self.task.done() and self.events.empty():
            self.task.result()  # the reader's failure (an event that broke the schema)
        return await asyncio.wait_for(self.events.get(), within)

    async def changes(self, count: int, within: float = 5) -> list[Event]:
        return [await self.next(within) for _ in range(count)]


@asynccontextmanager
async def stream(
    client: httpx.AsyncClient, owner: User, last_event_id: str | None = None
) -> AsyncIterator[Listener]:
    headers = dict(owner.headers)
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    async with client.stream("GET", f"/api/{owner.id}/events", headers=headers) as response:
        # The answer is out only once the stream has its starting point and hears its user's
        # signals: a change made from now on reaches it.
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        listener = Listener(response)
        try:
            yield listener
        finally:
            listener.task.cancel()


async def publish_reminder(
    sql: psycopg.Connection[Any], user_id: str, title: str
) -> dict[str, Any]:
    """A reminder of the user's, published on the events channel as the scheduler does."""
    reminder = {"task_id": user_id, "title": title, "fire_at": "2026-01-01T09:00:00Z"}
    payload = {"user_id": user_id, "kind": "reminder", "reminder": reminder}
    await asyncio.to_thread(
        sql.execute, "SELECT pg_notify('todo_events', %s)", (orjson.dumps(payload).decode(),)
    )
    return reminder


async def create(client: httpx.AsyncClient, owner: User, title: str) -> dict[str, Any]:
    response = await client.post(
        f"/api/{owner.id}/tasks", json={"title": title}, headers=owner.headers
    )
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


def test_a_change_reaches_every_stream_of_its_user_only(
    api: Api, user: User, other_user: User
) -> None:
    async def scenario() -> None:
        async with (
            httpx.AsyncClient(base_url=api.base, timeout=30) as client,
            stream(client, user) as first,
            stream(client, user) as second,
            stream(client, other_user) as theirs,
        ):
            started = time.monotonic()
            task = await create(client, user, "Live")
            for listener in (first, second):
                event = await listener.next(within=1)
                assert event["event"] == "change"
                assert event["data"] == {
                    "kind": "task",
                    "op": "upsert",
                    "id": task["id"],
                    "data": task,
                    "changed_at": task["updated_at"],
                }
            assert time.monotonic() - started < 1.5
            await client.delete(f"/api/{user.id}/tasks/{task['id']}", headers=user.headers)
            event = await first.next(within=1)
            assert (event["data"]["op"], event["data"]["data"]) == ("delete", None)
            with pytest.raises(TimeoutError):
                await theirs.next(within=0.5)

    api.run(scenario())


def test_last_event_id_resumes_with_exactly_the_missed_changes(
    api: Api, user: User, other_user: User
) -> None:
    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=api.base, timeout=30) as client:
            async with stream(client, user) as listener:
                await create(client, user, "Seen")
                seen = await listener.next()
            missed = [await create(client, user, f"Missed {i}") for i in range(3)]
            await create(client, other_user, "Theirs")
            async with stream(client, user, last_event_id=seen["id"]) as resumed:
                replayed = await resumed.changes(3)
                assert [e["data"]["id"] for e in replayed] == [t["id"] for t in missed]
                with pytest.raises(TimeoutError):
                    await resumed.next(within=0.5)
                after = await create(client, user, "After")
                assert (await resumed.next())["data"]["id"] == after["id"]
            response = await client.get(
                f"/api/{other_user.id}/events",
                headers={**other_user.headers, "Last-Event-ID": seen["id"]},
            )
            assert response.status_code == 400

    api.run(scenario())


def test_heartbeats_and_reminders(
    make_api: Callable[..., Api], settings: Settings, user: User, sql: psycopg.Connection[Any]
) -> None:
    with make_api(dataclasses.replace(settings, events_heartbeat_seconds=0.2)) as api:

        async def scenario() -> None:
            async with (
                httpx.AsyncClient(base_url=api.base, timeout=30) as client,
                stream(client, user) as listener,
            ):
                assert await until(lambda: listener.comments >= 3)  # "stream open", 2 heartbeats
                reminder = await publish_reminder(sql, user.id, "Call")
                event = await listener.next()
                assert (event["event"], event["data"]) == ("reminder", reminder)

        api.run(scenario())


def test_at_most_n_streams_per_user(
    make_api: Callable[..., Api], settings: Settings, user: User, other_user: User
) -> None:
    with make_api(dataclasses.replace(settings, events_per_user=2)) as api:

        async def scenario() -> None:
            async with (
                httpx.AsyncClient(base_url=api.base, timeout=30) as client,
                stream(client, user),
                stream(client, user),
            ):
                refused = await client.get(f"/api/{user.id}/events", headers=user.headers)
                assert refused.status_code == 429
                async with stream(client, other_user):
                    pass
            async with httpx.AsyncClient(base_url=api.base, timeout=30) as client:
                assert await until(lambda: api.app.ctx.hub.open_streams == 0)  # slots given back
                async with stream(client, user), stream(client, user):
                    pass

        api.run(scenario())


@pytest.fixture(scope="module")
def other_instance(
    database_url: str, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    log = tmp_path_factory.mktemp("events-instance") / "service.log"
    with LiveServer(database_url, log, env={"JWT_SECRET": settings.jwt_secret}) as server:
        yield server


@pytest.mark.slow
def test_events_reach_a_stream_held_by_another_process(
    api: Api, user: User, other_user: User, other_instance: LiveServer
) -> None:
    async def scenario() -> None:
        async with (
            httpx.AsyncClient(base_url=other_instance.url, timeout=30) as remote,
            httpx.AsyncClient(base_url=api.base, timeout=30) as local,
            stream(remote, user) as listener,
            stream(remote, other_user) as theirs,
        ):
            delays = []
            for i in range(5):
                started = time.monotonic()
                task = await create(local, user, f"Across {i}")
                event = await listener.next(within=1)
                delays.append(time.monotonic() - started)
                assert event["data"]["id"] == task["id"]
            assert max(delays) < 1
            with pytest.raises(TimeoutError):
                await theirs.next(within=0.3)

    api.run(scenario())


def test_a_vanished_client_leaves_no_stream_behind(api: Api, user: User) -> None:
    async def scenario() -> None:
        hub = api.app.ctx.hub
        async with (
            httpx.AsyncClient(base_url=api.base, timeout=30) as client,
            stream(client, user),
            stream(client, user),
        ):
            assert hub.open_streams == 2
        assert await until(lambda: hub.open_streams == 0)  # the server notices the closed ones
        assert not [t for t in asyncio.all_tasks() if "events" in repr(t.get_coro())]

    api.run(scenario())


@pytest.mark.slow
def test_streams_end_when_the_worker_stops(
    database_url: str, settings: Settings, user: User, tmp_path_factory: pytest.TempPathFactory
) -> None:
    log = tmp_path_factory.mktemp("events-stop") / "service.log"
    server = LiveServer(database_url, log, env={"JWT_SECRET": settings.jwt_secret})
    server.start()

    async def scenario() -> float:
        async with (
            httpx.AsyncClient(base_url=server.url, timeout=30) as client,
            stream(client, user) as listener,
        ):
            started = time.monotonic()
            await asyncio.to_thread(server.stop)
            await asyncio.wait_for(listener.task, 10)  # the stream ended: no hang
            return time.monotonic() - started

    try:
        assert asyncio.run(scenario()) < 10
    finally:
        server.stop()
