"""Load: 100 concurrent clients for 30 seconds of mixed traffic against a real `todo-api serve`
process. Zero 5xx, zero transport errors (a 10 s client timeout is the guard on hangs) and zero
contract violations: every response is validated against openapi.yaml (the compiled plans, and
openapi-core wherever they cannot vouch), and the service, validating its own replies in full
mode, logs no contract break. It prints its figures and asserts nothing about latency
(bench/ measures that).
"""

from __future__ import annotations

import asyncio
import random
import secrets
import ssl
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from server.app import load_plans
from server.contract.fastpath import Unsure
from tests.live import LiveServer, serve_fresh
from tests.support import check_contract

pytestmark = pytest.mark.slow

CLIENTS = 100
DURATION = 30.0  # seconds of traffic
TIMEOUT = 10.0  # seconds: no answer by then is a hang
MAX_REQUESTS_PER_CLIENT = 20_000
SEED = 20250115
LIST_FILTERS = [
    ("status", ["pending", "completed", "all"]),
    ("priority", ["low", "medium", "high"]),
    ("sort", ["title", "due_date", "priority", "updated"]),
    ("tag", ["home", "work"]),
    ("q", ["milk", "Task 1"]),
]


@dataclass
class Figures:
    statuses: Counter[int] = field(default_factory=Counter)
    operations: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    transport_errors: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def service(admin_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serve_fresh(admin_dsn, tmp_path_factory, "todo_load") as server:
        yield server


class Client:
    """One person using the app: signs up, then reads and writes their own tasks."""

    def __init__(self, n: int, http: httpx.AsyncClient, figures: Figures) -> None:
        self.n, self.http, self.figures = n, http, figures
        self.random = random.Random(SEED + n)
        self.email = f"load-{n}-{secrets.token_hex(4)}@example.org"
        self.password = f"load password {n}"
        self.headers: dict[str, str] = {}
        self.user_id = ""
        self.tasks: dict[str, int] = {}  # id -> last version seen

    async def call(self, operation: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
        started = time.perf_counter()
        try:
            response = await self.http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            self.figures.transport_errors[f"{operation}: {type(exc).__name__}"] += 1
            raise
        self.figures.latencies.append(time.perf_counter() - started)
        self.figures.statuses[response.status_code] += 1
        self.figures.operations[operation] += 1
        violation = _violation(operation, response)
        if violation:
            self.figures.violations.append(violation)
        return response

    async def start(self) -> None:
        body = {"email": self.email, "password": self.password, "name": f"Load {self.n}"}
        await self.call("signup", "POST", "/api/auth/signup", json=body)
        await self.log_in()

    async def log_in(self) -> None:
        body = {"email": self.email, "password": self.password}
        pair = (await self.call("login", "POST", "/api/auth/login", json=body)).json()
        self.headers = {"Authorization": f"Bearer {pair['access_token']}"}
        self.user_id = pair["user"]["id"]

    async def step(self) -> None:
        base = f"/api/{self.user_id}"
        roll = self.random.random()
        task_id = self.random.choice(list(self.tasks)) if self.tasks else None
        if roll < 0.25 or task_id is None:
            body = {
                "title": f"Task {self.random.randrange(10**6)} 🥛",
                "priority": self.random.choice(["low", "medium", "high"]),
                "tags": self.random.sample(["home", "work", "errands", "urgent"], 2),
            }
            headers = dict(self.headers)
            if self.random.random() < 0.3:
                headers["Idempotency-Key"] = f"k-{self.random.randrange(50)}"
            response = await self.call(
                "create_task", "POST", f"{base}/tasks", json=body, headers=headers
            )
            if response.status_code == 201:
                task = response.json()
                self.tasks[task["id"]] = task["version"]
        elif roll < 0.50:
            name, values = self.random.choice(LIST_FILTERS)
            params = {"limit": self.random.choice([5, 20, 50]), name: self.random.choice(values)}
            await self.call(
                "list_tasks", "GET", f"{base}/tasks", params=params, headers=self.headers
            )
        elif roll < 0.65:
            headers = dict(self.headers)
            if self.random.random() < 0.5:
                headers["If-None-Match"] = f'"{self.tasks[task_id]}"'
            await self.call("get_task", "GET", f"{base}/tasks/{task_id}", headers=headers)
        elif roll < 0.77:
            headers = {**self.headers, "If-Match": f'"{self.tasks[task_id]}"'}
            body = {"description": f"edited {self.random.randrange(10**6)}"}
            response = await self.call(
                "update_task", "PATCH", f"{base}/tasks/{task_id}", json=body, headers=headers
            )
            if response.status_code == 200:
                self.tasks[task_id] = response.json()["version"]
        elif roll < 0.85:
            response = await self.call(
                "complete_task", "PATCH", f"{base}/tasks/{task_id}/complete", headers=self.headers
            )
            if response.status_code == 200:
                self.tasks[task_id] = response.json()["version"]
        elif roll < 0.92:
            await self.call("get_stats", "GET", f"{base}/stats", headers=self.headers)
        elif roll < 0.96:
            await self.call("get_me", "GET", "/api/me", headers=self.headers)
        elif roll < 0.99:
            response = await self.call(
                "delete_task", "DELETE", f"{base}/tasks/{task_id}", headers=self.headers
            )
            if response.status_code in (204, 404):
                self.tasks.pop(task_id, None)
        else:
            await self.log_in()

    async def run(self, deadline: float) -> None:
        try:
            await self.start()
            for _ in range(MAX_REQUESTS_PER_CLIENT):
                if time.monotonic() >= deadline:
                    return
                await self.step()
        except httpx.HTTPError:
            return  # counted; this client stops


_PLANS = load_plans()


def _violation(operation: str, response: httpx.Response) -> str | None:
    """Why the response breaks the contract, or None. The compiled plan first, openapi-core
    (tests.support.check_contract) wherever the plan cannot vouch."""
    try:
        if response.status_code >= 400:
            problem = response.json()
            assert problem["status"] == response.status_code
            assert problem["request_id"] == response.headers["x-request-id"]
        try:
            _PLANS[operation].check_response(
                response.status_code,
                dict(response.headers),
                response.headers.get("content-type", ""),
                response.content or None,
            )
        except Unsure:
            check_contract(response)
    except (AssertionError, ValueError, KeyError) as exc:
        return (
            f"{response.request.method} {response.request.url.path} {response.status_code}: {exc!r}"
        )
    return None


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


async def _load(url: str, figures: Figures) -> float:
    """Each client has a connection of its own (one shared pool of 100 costs httpx more CPU
    per request than the service spends answering it)."""
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    tls = ssl.create_default_context()  # unused on http://, but each client would load its own
    https = [
        httpx.AsyncClient(base_url=url, timeout=TIMEOUT, limits=limits, verify=tls)
        for _ in range(CLIENTS)
    ]
    try:
        clients = [Client(n, http, figures) for n, http in enumerate(https)]
        started = time.monotonic()
        await asyncio.gather(*(c.run(started + DURATION) for c in clients))
        return time.monotonic() - started
    finally:
        await asyncio.gather(*(http.aclose() for http in https))


def test_100_clients_for_30_seconds_get_no_5xx_and_no_contract_violation(
    service: LiveServer, capsys: pytest.CaptureFixture[str]
) -> None:
    figures = Figures()
    elapsed = asyncio.run(_load(service.url, figures))
    logged = service.log_summary()
    requests = sum(figures.statuses.values())
    p50, p99 = (_percentile(figures.latencies, q) * 1000 for q in (0.5, 0.99))
    with capsys.disabled():
        print(f"\nload: {CLIENTS} clients, {elapsed:.1f} s, {requests} requests")
        print(f"load: {requests / elapsed:.0f} req/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms")
        print(f"load: statuses {dict(sorted(figures.statuses.items()))}")
        print(f"load: operations {dict(figures.operations.most_common())}")
        print(f"load: transport errors {dict(figures.transport_errors)}")
        print(f"load: contract violations {len(figures.violations)}")
        print(f"load: service 5xx {dict(logged.server_errors)}, error lines {len(logged.errors)}")
    assert requests > CLIENTS
    assert not figures.transport_errors
    assert not [s for s in figures.statuses if s >= 500]
    assert not figures.violations, figures.violations[:5]
    assert not logged.server_errors
    assert not logged.errors, logged.errors[:5]
