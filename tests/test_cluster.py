"""Several instances behind nginx, through PgBouncer in transaction mode, on one PostgreSQL
(bench/cluster.py: every component a real process on loopback; `make cluster` measures it).

What holds across instances: the client flow, login limits, refresh rotation and theft
detection, metrics counting every worker once, the purger and the reminder scheduler running in
one worker of the four, an event written through one instance reaching a stream on the other
(the instances LISTEN on `DATABASE_LISTEN_URL`, direct; nginx does not buffer), and no
acknowledged write lost when an instance is killed under load while nginx routes around it.
The kill runs last: it leaves one instance.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psycopg
import pytest

from bench.cluster import Cluster
from bench.components import install_packages
from server.config import Settings
from server.db.pool import open_database
from tests.support import PATIENCE, eventually, metric_value
from tests.test_events import Listener

pytestmark = pytest.mark.slow

PASSWORD = "cluster-password"
PURGE_INTERVAL = 2  # seconds; the purger's lease lasts two intervals
REQUESTS = "todo_http_requests_total"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    if problem := install_packages():
        print(f"cluster test skipped: {problem}")
        pytest.skip(problem)
    env = {"PURGE_INTERVAL_SECONDS": str(PURGE_INTERVAL), "REMINDER_INTERVAL_SECONDS": "1"}
    with Cluster(env=env) as running:
        yield running
    # Every instance's log: no 5xx and no error line, the killed one's up to its death included.
    for instance in running.instances:
        assert instance.server_errors() == [], instance.name


def signup_and_login(url: str) -> tuple[str, str, dict[str, Any]]:
    """A new account through `url`: (email, user id, login answer)."""
    email = f"c-{secrets.token_hex(6)}@example.org"
    body = {"email": email, "password": PASSWORD, "name": "Cluster"}
    signup = httpx.post(f"{url}/api/auth/signup", json=body)
    assert signup.status_code == 201, signup.text
    login = httpx.post(f"{url}/api/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return email, signup.json()["id"], login.json()


def bearer(login: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {login['access_token']}"}


def test_the_client_flow_through_nginx(cluster: Cluster) -> None:
    url = cluster.url
    _, user_id, login = signup_and_login(url)
    headers = bearer(login)
    tasks = f"{url}/api/{user_id}/tasks"
    made = [httpx.post(tasks, json={"title": f"task {n}"}, headers=headers) for n in range(6)]
    assert [r.status_code for r in made] == [201] * 6
    one = made[0].json()
    patched = httpx.patch(
        f"{tasks}/{one['id']}",
        json={"title": "renamed"},
        headers={**headers, "If-Match": made[0].headers["etag"]},
    )
    assert patched.status_code == 200
    assert patched.json()["version"] == 2
    stale = httpx.patch(
        f"{tasks}/{one['id']}",
        json={"title": "again"},
        headers={**headers, "If-Match": made[0].headers["etag"]},
    )
    assert stale.status_code == 412
    assert httpx.patch(f"{tasks}/{one['id']}/complete", headers=headers).json()["is_completed"]
    assert httpx.delete(f"{tasks}/{made[1].json()['id']}", headers=headers).status_code == 204
    page = httpx.get(tasks, params={"limit": 3}, headers=headers).json()
    assert page["total"] == 5
    rest = httpx.get(tasks, params={"limit": 3, "cursor": page["next_cursor"]}, headers=headers)
    seen = [t["id"] for t in page["tasks"] + rest.json()["tasks"]]
    assert len(seen) == len(set(seen)) == 5
    refreshed = httpx.post(
        f"{url}/api/auth/refresh", json={"refresh_token": login["refresh_token"]}
    ).json()
    assert httpx.get(f"{url}/api/me", headers=bearer(refreshed)).json()["id"] == user_id


def test_login_limits_hold_across_instances(cluster: Cluster) -> None:
    """Failed logins alternate between the two instances; the limit counts them all."""
    a, b = (i.url for i in cluster.instances)
    email, _, _ = signup_and_login(cluster.url)
    wrong = {"email": email, "password": "not-the-password"}
    statuses = [
        httpx.post(f"{(a, b)[n % 2]}/api/auth/login", json=wrong).status_code for n in range(10)
    ]
    assert statuses == [401] * 10
    for url in (a, b):
        right = httpx.post(f"{url}/api/auth/login", json={"email": email, "password": PASSWORD})
        assert right.status_code == 429
        assert int(right.headers["retry-after"]) > 0


def test_refresh_rotation_and_reuse_detection_across_instances(cluster: Cluster) -> None:
    a, b = (i.url for i in cluster.instances)
    _, _, login = signup_and_login(a)
    first = login["refresh_token"]
    rotated = httpx.post(f"{b}/api/auth/refresh", json={"refresh_token": first})
    assert rotated.status_code == 200
    second = rotated.json()["refresh_token"]
    assert httpx.post(f"{a}/api/auth/refresh", json={"refresh_token": first}).status_code == 401
    # The reuse revoked the whole family: the newest token dies too, on either instance.
    assert httpx.post(f"{b}/api/auth/refresh", json={"refresh_token": second}).status_code == 401


def test_metrics_of_each_instance_count_each_worker_once(cluster: Cluster) -> None:
    """Requests through nginx spread over 4 workers; the instances' sums add up to them."""
    _, user_id, login = signup_and_login(cluster.url)
    labels = {"operation": "get_me", "status": "200"}

    def total() -> float:
        texts = [httpx.get(f"{i.url}/metrics") for i in cluster.instances]
        assert all(t.status_code == 200 for t in texts)
        assert all(t.headers["content-type"].startswith("text/plain") for t in texts)
        return sum(metric_value(t.text, REQUESTS, **labels) for t in texts)

    before = total()
    with httpx.Client(base_url=cluster.url, headers=bearer(login)) as client:
        for _ in range(60):
            assert client.get("/api/me").json()["id"] == user_id
    for _ in range(3):  # any worker of either instance may answer the scrape: always the sum
        assert total() - before == 60
    per_instance = [
        metric_value(httpx.get(f"{i.url}/metrics").text, REQUESTS, **labels)
        for i in cluster.instances
    ]
    assert all(count > 0 for count in per_instance), per_instance  # nginx used both


def test_pgbouncer_mode_is_what_carries_asyncpg_through_transaction_pooling(
    cluster: Cluster,
) -> None:
    """The pool's own options, 40 tasks on 20 connections through PgBouncer's 10: with
    DATABASE_PGBOUNCER every statement answers; without it asyncpg's named prepared statements
    meet server connections that never saw them."""

    async def failures(pgbouncer: bool) -> list[str]:
        settings = Settings(jwt_secret="x" * 32, db_pgbouncer=pgbouncer, db_pool_size=20)
        db = await open_database(settings, cluster.pgbouncer_dsn)
        errors: list[str] = []

        async def client(n: int) -> None:
            for step in range(25):
                try:
                    async with db.acquire() as conn:
                        assert await conn.fetchval("SELECT $1::int + $2::int", n, step) == n + step
                except asyncpg.PostgresError as exc:
                    errors.append(type(exc).__name__)

        try:
            await asyncio.gather(*(client(n) for n in range(40)))
        finally:
            await db.close()
        return errors

    assert asyncio.run(failures(pgbouncer=True)) == []
    assert asyncio.run(failures(pgbouncer=False)), "named statements survived PgBouncer"


def worker_pids(cluster: Cluster) -> set[int]:
    """The worker processes of the running instances: children of each `todo-api serve`."""
    parents = {i.process.pid for i in cluster.instances if i.process and i.process.poll() is None}
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError):
            text = stat.read_text()
            if int(text[text.rindex(")") + 2 :].split()[1]) in parents:
                children.add(int(stat.parent.name))
    return children


def test_the_purger_runs_in_one_worker_of_the_cluster(cluster: Cluster) -> None:
    """Three batches of stale failed logins, each gone within a few intervals; one holder of
    the lease, a worker of one of the instances, all along; each row purged once."""
    holders = set()
    with psycopg.connect(cluster.direct_dsn, autocommit=True) as conn:
        for batch in range(3):
            conn.execute(
                "INSERT INTO login_failures (email, client, failed_at)"
                " SELECT 'stale' || n || '@example.org', 'purge-test', now() - interval '2 days'"
                " FROM generate_series(1, 25) AS n"
            )
            deadline = time.monotonic() + 10 * PURGE_INTERVAL
            while time.monotonic() < deadline:
                left = conn.execute(
                    "SELECT count(*) FROM login_failures WHERE client = 'purge-test'"
                ).fetchone()
                if left == (0,):
                    break
                time.sleep(0.2)
            assert left == (0,), f"batch {batch} still there after {10 * PURGE_INTERVAL} s"
            row = conn.execute("SELECT holder FROM purge_lease WHERE name = 'purger'").fetchone()
            assert row is not None
            holders.add(row[0])
    assert len(holders) == 1, holders
    assert int(holders.pop().split(":")[1]) in worker_pids(cluster)
    # A round logs its counts after its last purge: the rows are gone before the line is out.
    eventually(lambda: sum(purged_in_logs(cluster)) >= 75)
    assert sum(purged_in_logs(cluster)) == 75, purged_in_logs(cluster)


def purged_in_logs(cluster: Cluster) -> list[int]:
    """The failed logins each logged purge round of every instance deleted."""
    return [
        int(match)
        for instance in cluster.instances
        for match in re.findall(r"'purge_login_failures': (\d+)", instance.log.read_text())
    ]


def test_the_reminder_scheduler_fires_each_reminder_once_for_the_cluster(cluster: Cluster) -> None:
    """Reminders made through nginx (both instances, four workers) reach todo_events once each,
    published by the one holder of the `reminders` lease, a worker of one of the instances."""
    _, user_id, login = signup_and_login(cluster.url)
    soon = datetime.now(UTC) + timedelta(seconds=3)
    with psycopg.connect(cluster.direct_dsn, autocommit=True) as conn:
        conn.execute("LISTEN todo_events")
        made = []
        for n in range(8):
            at = (soon + timedelta(milliseconds=250 * n)).isoformat()
            answer = httpx.post(
                f"{cluster.url}/api/{user_id}/tasks",
                json={"title": f"remind {n}", "reminders": [{"at": at}]},
                headers=bearer(login),
            )
            assert answer.status_code == 201, answer.text
            made.append(answer.json()["id"])
        fired: list[str] = []
        deadline = time.monotonic() + PATIENCE
        while time.monotonic() < deadline:
            for note in conn.notifies(timeout=max(0.1, deadline - time.monotonic()), stop_after=1):
                payload = json.loads(note.payload)
                if payload.get("kind") == "reminder" and payload["user_id"] == user_id:
                    fired.append(payload["reminder"]["task_id"])
                    if len(fired) == len(made):  # ten rounds more: a duplicate would show
                        deadline = min(deadline, time.monotonic() + 10)
        row = conn.execute("SELECT holder FROM purge_lease WHERE name = 'reminders'").fetchone()
    assert sorted(fired) == sorted(made)
    assert row is not None
    assert int(row[0].split(":")[1]) in worker_pids(cluster)


class Writers:
    """Clients creating tasks through nginx, each POST with an Idempotency-Key retried (same key)
    until it is answered 2xx; a create counts as acknowledged only once a 2xx reached us."""

    def __init__(self, url: str, user_id: str, headers: dict[str, str]) -> None:
        self.url, self.user_id, self.headers = url, user_id, headers
        self.acknowledged: dict[str, str] = {}  # idempotency key -> task id
        self.statuses: Counter[str] = Counter()
        self.reads: Counter[int] = Counter()
        self.failed_reads: list[str] = []
        self.running = True

    async def writer(self, client: httpx.AsyncClient) -> None:
        while self.running:
            key = secrets.token_hex(8)
            for _ in range(20):
                try:
                    answer = await client.post(
                        f"/api/{self.user_id}/tasks",
                        json={"title": f"load {key}"},
                        headers={**self.headers, "Idempotency-Key": key},
                    )
                except httpx.HTTPError as exc:
                    self.statuses[type(exc).__name__] += 1
                    continue
                self.statuses[str(answer.status_code)] += 1
                if answer.is_success:
                    self.acknowledged[key] = answer.json()["id"]
                    break
                await asyncio.sleep(0.05)
            page = await client.get(f"/api/{self.user_id}/tasks?limit=5", headers=self.headers)
            self.reads[page.status_code] += 1
            if page.status_code != 200:
                self.failed_reads.append(page.text)

    async def run(self, clients: int, seconds: float, during: Any) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            tasks = [asyncio.create_task(self.writer(client)) for _ in range(clients)]
            await asyncio.sleep(seconds / 2)
            await asyncio.to_thread(during)
            await asyncio.sleep(seconds / 2)
            self.running = False
            await asyncio.gather(*tasks)


def test_an_event_made_through_one_instance_reaches_a_stream_on_the_other(cluster: Cluster) -> None:
    """A stream on instance 1 and one through nginx see a task written through instance 0 within
    1 s of the write's answer: the instances LISTEN on DATABASE_LISTEN_URL, not through PgBouncer,
    and nginx passes the stream on unbuffered."""
    _, user_id, login = signup_and_login(cluster.url)
    headers = bearer(login)
    one, zero = cluster.instances[1].url, cluster.instances[0].url
    delays: list[float] = []

    async def scenario() -> None:
        async with (
            httpx.AsyncClient(timeout=30, headers=headers) as client,
            client.stream("GET", f"{one}/api/{user_id}/events") as direct,
            client.stream("GET", f"{cluster.url}/api/{user_id}/events") as proxied,
        ):
            # Both answered: each stream has its starting point and hears its user's signals.
            assert (direct.status_code, proxied.status_code) == (200, 200)
            listeners = [Listener(direct), Listener(proxied)]
            try:
                answer = await client.post(f"{zero}/api/{user_id}/tasks", json={"title": "Live"})
                answered = time.monotonic()
                assert answer.status_code == 201, answer.text
                task = answer.json()
                for listener in listeners:
                    event = await listener.next(within=1)
                    delays.append(time.monotonic() - answered)
                    assert event["event"] == "change"
                    assert (event["data"]["kind"], event["data"]["op"]) == ("task", "upsert")
                    assert event["data"]["data"] == task
            finally:
                for listener in listeners:
                    listener.task.cancel()

    asyncio.run(scenario())
    print(f"event delay after the write's answer: {[f'{d * 1000:.1f} ms' for d in delays]}")
    assert max(delays) < 1


def test_an_instance_killed_under_load_loses_no_acknowledged_write(cluster: Cluster) -> None:
    _, user_id, login = signup_and_login(cluster.url)
    writers = Writers(cluster.url, user_id, bearer(login))
    killed = threading.Event()

    def kill() -> None:
        cluster.instances[0].kill()
        killed.set()

    started = time.monotonic()
    asyncio.run(writers.run(clients=16, seconds=6, during=kill))
    elapsed = time.monotonic() - started
    assert killed.is_set()
    with psycopg.connect(cluster.direct_dsn) as conn:
        stored = {
            row[0]: row[1]
            for row in conn.execute(
                "SELECT id::text, title FROM tasks WHERE user_id = %s", (user_id,)
            )
        }
    lost = {k: v for k, v in writers.acknowledged.items() if v not in stored}
    print(
        f"\ncluster kill: {len(writers.acknowledged)} creates acknowledged in {elapsed:.1f} s, "
        f"{len(writers.acknowledged) - len(lost)} found; {len(stored)} stored; "
        f"answers {dict(writers.statuses)}; reads {dict(writers.reads)}"
    )
    assert writers.acknowledged, "no write was acknowledged"
    assert lost == {}
    # A retried key made its task once: no title twice (each title holds its key).
    assert len(set(stored.values())) == len(stored)
    # Reads are idempotent: nginx passed each failed one on to the living instance.
    assert set(writers.reads) == {200}, writers.failed_reads[:3]
    # nginx now routes around the dead instance: every request answered.
    with httpx.Client(base_url=cluster.url, headers=bearer(login)) as client:
        assert {client.get(f"/api/{user_id}/tasks?limit=1").status_code for _ in range(30)} == {200}
