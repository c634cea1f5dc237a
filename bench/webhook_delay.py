"""Webhook delivery delay, from a task's creation to its signed delivery (issue 27), against a
running service:

    .venv/bin/python -m bench.webhook_delay http://127.0.0.1:9500 [events] [pace_ms]

Runs a receiver of its own on loopback (aiohttp; the service must run in development, which
delivers to loopback), signs up an account, registers a webhook for task.created, then creates
`events` tasks (default 500) one after another, `pace_ms` apart (default 20), and times each
task's delivery from the creation's response (commit happens before it: a lower bound of
commit-to-delivery) and from the request's start (an upper bound). Every delivery's Standard
Webhooks signature is checked. Prints the median and p99 of both, and the deliveries' order.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import secrets
import statistics
import sys
import time

import httpx
from aiohttp import web

PASSWORD = "correct horse battery"  # noqa: S105 - the probe account's own


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def signed(secret: str, request_headers: dict[str, str], body: bytes) -> bool:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    content = f"{request_headers['webhook-id']}.{request_headers['webhook-timestamp']}.".encode()
    mac = base64.b64encode(hmac.new(key, content + body, hashlib.sha256).digest()).decode()
    return f"v1,{mac}" in request_headers["webhook-signature"].split(" ")


async def main(url: str, events: int, pace: float) -> None:
    arrived: dict[str, float] = {}
    order: list[str] = []
    secret = ""
    bad = 0
    all_in = asyncio.Event()

    async def receive(request: web.Request) -> web.Response:
        nonlocal bad
        body = await request.read()
        now = time.perf_counter()
        headers = {k.lower(): v for k, v in request.headers.items()}
        bad += not signed(secret, headers, body)
        task_id = json.loads(body)["data"]["id"]
        arrived.setdefault(task_id, now)
        order.append(task_id)
        if len(arrived) >= events:
            all_in.set()
        return web.Response(status=204)

    receiver = web.Application()
    receiver.router.add_post("/hook", receive)
    runner = web.AppRunner(receiver, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        email = f"hooks-{secrets.token_hex(6)}@example.org"
        body = {"email": email, "password": PASSWORD, "name": "Hooks"}
        assert (await http.post("/api/auth/signup", json=body)).status_code == 201
        login = await http.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        user_id = login.json()["user"]["id"]
        auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
        hook = {"url": f"http://127.0.0.1:{port}/hook", "events": ["task.created"]}
        created = await http.post(f"/api/{user_id}/webhooks", json=hook, headers=auth)
        assert created.status_code == 201, created.text
        secret = created.json()["secret"]
        started: dict[str, float] = {}
        answered: dict[str, float] = {}
        made: list[str] = []
        for n in range(events):
            start = time.perf_counter()
            task = await http.post(f"/api/{user_id}/tasks", json={"title": f"t{n}"}, headers=auth)
            assert task.status_code == 201, task.text
            task_id = task.json()["id"]
            started[task_id], answered[task_id] = start, time.perf_counter()
            made.append(task_id)
            await asyncio.sleep(pace)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_in.wait(), 120)
    await runner.cleanup()
    assert len(arrived) == events, f"{len(arrived)} of {events} delivered"
    lower = [arrived[t] - answered[t] for t in made]
    upper = [arrived[t] - started[t] for t in made]
    print(f"{events} webhook deliveries, creations {pace * 1000:.0f} ms apart")
    for name, values in (("from the response", lower), ("from the request", upper)):
        print(
            f"  delay {name}: median {statistics.median(values) * 1000:.1f} ms,"
            f" p99 {percentile(values, 0.99) * 1000:.1f} ms, max {max(values) * 1000:.1f} ms"
        )
    print(f"  in commit order: {order == made}; repeats: {len(order) - len(set(order))}")
    print(f"  signatures failing: {bad}")


if __name__ == "__main__":
    main_url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    pace_ms = float(sys.argv[3]) if len(sys.argv) > 3 else 20.0
    asyncio.run(main(main_url, count, pace_ms / 1000))
