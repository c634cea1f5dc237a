"""The database stops while traffic is running: requests get 503 problems (never a hang, never
another 5xx), /ready says 503, the service recovers with no restart when PostgreSQL returns, and
every write acknowledged before the stop is still there afterwards.

Uses a PostgreSQL server of its own. Each phase lasts a while and until what it is about has
happened (a write acknowledged, a 503 seen); nothing asserts a duration: the client timeout is
the guard against hangs, and every loop and wait is bounded.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest

from tests.support import Api, until

pytestmark = pytest.mark.slow

CLIENTS = 8
TIMEOUT = 10  # seconds: no answer by then is a hang
MAX_REQUESTS_PER_CLIENT = 5000


@dataclass
class Traffic:
    phase: str = "before"
    statuses: dict[str, Counter[int]] = field(default_factory=dict)
    acknowledged: dict[str, str] = field(default_factory=dict)  # task id -> phase of its 201
    retry_after_missing: int = 0
    not_problem_json: int = 0

    def record(self, phase: str, status: int) -> None:
        self.statuses.setdefault(phase, Counter())[status] += 1

    def seen(self, phase: str, status: int) -> bool:
        return self.statuses.get(phase, Counter())[status] > 0


def test_outage_under_traffic_is_503_then_recovers_and_keeps_acknowledged_writes(
    own_server: Any, outage_app: tuple[Api, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    api, user_id, token = outage_app
    headers = {"Authorization": f"Bearer {token}"}
    traffic = Traffic()
    ready: dict[str, int] = {}

    async def client(n: int, stop: asyncio.Event) -> None:
        for i in range(MAX_REQUESTS_PER_CLIENT):
            if stop.is_set():
                return
            phase = traffic.phase
            if i % 3 == 2:
                response = await api.arequest(
                    "GET",
                    f"/api/{user_id}/tasks",
                    params={"limit": 5},
                    headers=headers,
                    timeout=TIMEOUT,
                )
            else:
                response = await api.arequest(
                    "POST",
                    f"/api/{user_id}/tasks",
                    json={"title": f"client {n} write {i}"},
                    headers=headers,
                    timeout=TIMEOUT,
                )
                if response.status_code == 201:
                    traffic.acknowledged[response.json()["id"]] = phase
            traffic.record(phase, response.status_code)
            if response.status_code == 503:
                traffic.retry_after_missing += "retry-after" not in response.headers
                traffic.not_problem_json += not response.headers["content-type"].startswith(
                    "application/problem+json"
                )
                await asyncio.sleep(0.05)

    async def until_ready(attempts: int = 80) -> int:
        status = 0
        for _ in range(attempts):
            status = (await api.arequest("GET", "/ready", timeout=TIMEOUT)).status_code
            if status == 200:
                break
            await asyncio.sleep(0.25)
        return status

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        clients = [asyncio.create_task(client(n, stop)) for n in range(CLIENTS)]
        try:  # each phase lasts its time, and until what it is about has happened
            await asyncio.sleep(1.5)
            await until(lambda: traffic.seen("before", 201))
            await loop.run_in_executor(None, own_server.stop)
            traffic.phase = "outage"
            await asyncio.sleep(3)
            await until(lambda: traffic.seen("outage", 503))
            ready["outage"] = (await api.arequest("GET", "/ready", timeout=TIMEOUT)).status_code
            await loop.run_in_executor(None, own_server.ensure_postgres_running)
            traffic.phase = "restarting"
            ready["after"] = await until_ready()
            traffic.phase = "recovered"
            await asyncio.sleep(1.5)
            await until(lambda: traffic.seen("recovered", 201))
        finally:
            stop.set()
            await asyncio.gather(*clients)

    try:
        api.run(scenario())
    finally:
        own_server.ensure_postgres_running()

    with psycopg.connect(api.app.ctx.settings.database_url) as conn:
        stored = {row[0] for row in conn.execute("SELECT id::text FROM tasks")}
    lost = [task for task in traffic.acknowledged if task not in stored]
    by_phase = {phase: dict(counts) for phase, counts in traffic.statuses.items()}
    with capsys.disabled():
        print(f"\noutage traffic: statuses by phase {by_phase}, /ready {ready}")
        print(f"acknowledged writes {len(traffic.acknowledged)}, lost {len(lost)}")

    assert by_phase["before"].get(201, 0) > 0
    outage_statuses = set(by_phase["outage"])
    assert 503 in outage_statuses
    assert outage_statuses <= {200, 201, 503}  # answers begun before the stop may still succeed
    every = set().union(*(set(counts) for counts in traffic.statuses.values()))
    assert not {s for s in every if s >= 500} - {503}
    assert traffic.retry_after_missing == traffic.not_problem_json == 0
    assert ready == {"outage": 503, "after": 200}
    assert by_phase["recovered"].get(201, 0) > 0
    assert not lost
