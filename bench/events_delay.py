"""Live events' delay from commit to delivery (issue 15), against a running service:

    .venv/bin/python -m bench.events_delay http://127.0.0.1:9500 [streams] [writes]

Opens `streams` event streams (default 100: 10 accounts x 10 streams, the per-user limit), then
makes `writes` task creations (default 200) one after another, each by one account in turn, and
times every stream of that account receiving the change. A creation commits before its response
is sent, so each delay is measured twice: from the response (a lower bound of commit-to-delivery,
which can be negative) and from the request's start (an upper bound). Prints the median and p99.
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import sys
import time
from typing import Any

import httpx

PASSWORD = "correct horse battery"  # noqa: S105 - the probe accounts' own
PER_USER = 10


async def account(http: httpx.AsyncClient) -> tuple[str, dict[str, str]]:
    email = f"events-{secrets.token_hex(6)}@example.org"
    body = {"email": email, "password": PASSWORD, "name": "Events"}
    assert (await http.post("/api/auth/signup", json=body)).status_code == 201
    login = (await http.post("/api/auth/login", json={"email": email, "password": PASSWORD})).json()
    return login["user"]["id"], {"Authorization": f"Bearer {login['access_token']}"}


async def listen(
    http: httpx.AsyncClient, user_id: str, headers: dict[str, str], seen: dict[str, list[float]]
) -> None:
    async with http.stream("GET", f"/api/{user_id}/events", headers=headers) as response:
        assert response.status_code == 200, response.status_code
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                arrived = time.perf_counter()
                task_id = line.split('"id":"', 1)[1].split('"', 1)[0]
                seen.setdefault(task_id, []).append(arrived)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main(url: str, streams: int, writes: int) -> None:
    limits = httpx.Limits(max_connections=streams + 20)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as http:
        users = [await account(http) for _ in range((streams + PER_USER - 1) // PER_USER)]
        seen: dict[str, list[float]] = {}
        listeners = [
            asyncio.create_task(listen(http, *users[i // PER_USER], seen)) for i in range(streams)
        ]
        await asyncio.sleep(2)  # every stream is open
        counts = [min(PER_USER, streams - u * PER_USER) for u in range(len(users))]
        from_response: list[float] = []
        from_request: list[float] = []
        for n in range(writes):
            u = n % len(users)
            user_id, headers = users[u]
            started = time.perf_counter()
            response = await http.post(
                f"/api/{user_id}/tasks", json={"title": f"event {n}"}, headers=headers
            )
            answered = time.perf_counter()
            task_id: Any = response.json()["id"]
            deadline = answered + 5
            # each arrival is timestamped as it is read: this poll only waits, it measures nothing
            while len(seen.get(task_id, ())) < counts[u] and time.perf_counter() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.001)
            arrivals = seen.get(task_id, [])
            assert len(arrivals) == counts[u], f"{len(arrivals)} of {counts[u]} streams got it"
            from_response += [a - answered for a in arrivals]
            from_request += [a - started for a in arrivals]
        for task in listeners:
            task.cancel()
    for name, values in (("from the response", from_response), ("from the request", from_request)):
        print(
            f"{streams} streams, {writes} writes, {len(values)} deliveries, {name}: "
            f"median {statistics.median(values) * 1000:.1f} ms, "
            f"p99 {percentile(values, 0.99) * 1000:.1f} ms, max {max(values) * 1000:.1f} ms"
        )


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(
        main(
            args[0], int(args[1]) if len(args) > 1 else 100, int(args[2]) if len(args) > 2 else 200
        )
    )
