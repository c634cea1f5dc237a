"""What a personal access token costs a request against a session's access token (issue 27),
against a running service (`make run`, or `todo-api serve`):

    .venv/bin/python -m bench.token_cost http://127.0.0.1:8000 [requests per block] [rounds]

One account with 20 tasks, a session and a token of `tasks:read`; then `rounds` rounds of two
blocks, a session's and a token's (their order alternating round by round), each `requests`
GETs of one task and of the first page of 20, sent by 8 concurrent clients. Prints each block
kind's requests/s and median latency (the mean over rounds), and the ratio token/session of
both: a ratio of one run, never a fixed number of milliseconds.
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import sys
import time

import httpx

PASSWORD = "correct horse battery"  # noqa: S105 - the probe account's own
CLIENTS = 8


async def account(http: httpx.AsyncClient) -> tuple[str, dict[str, str], dict[str, str], str]:
    """The account's id, its session's and its token's headers, and one of its tasks."""
    email = f"token-cost-{secrets.token_hex(6)}@example.org"
    body = {"email": email, "password": PASSWORD, "name": "Cost"}
    assert (await http.post("/api/auth/signup", json=body)).status_code == 201
    login = (await http.post("/api/auth/login", json={"email": email, "password": PASSWORD})).json()
    user_id, session = login["user"]["id"], {"Authorization": f"Bearer {login['access_token']}"}
    for n in range(20):
        made = await http.post(f"/api/{user_id}/tasks", json={"title": f"t{n}"}, headers=session)
        assert made.status_code == 201, made.text
    scopes = {"name": "bench", "scopes": ["tasks:read"]}
    token = (await http.post("/api/me/tokens", json=scopes, headers=session)).json()["token"]
    return user_id, session, {"Authorization": f"Bearer {token}"}, made.json()["id"]


async def block(
    http: httpx.AsyncClient, paths: list[str], headers: dict[str, str], n: int
) -> tuple[float, float]:
    """Requests/s and median ms of n GETs (paths in turn) by CLIENTS concurrent clients."""
    latencies: list[float] = []

    async def client(k: int) -> None:
        for i in range(k, n, CLIENTS):
            started = time.perf_counter()
            response = await http.get(paths[i % len(paths)], headers=headers)
            latencies.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text

    started = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(CLIENTS)))
    return n / (time.perf_counter() - started), statistics.median(latencies) * 1000


async def main(url: str, n: int, rounds: int) -> None:
    limits = httpx.Limits(max_connections=CLIENTS + 2)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as http:
        user_id, session, token, task_id = await account(http)
        paths = [f"/api/{user_id}/tasks/{task_id}", f"/api/{user_id}/tasks?limit=20"]
        kinds = {"session": session, "token": token}
        await block(http, paths, session, n // 4)  # warm both kinds' statements
        await block(http, paths, token, n // 4)
        results: dict[str, list[tuple[float, float]]] = {kind: [] for kind in kinds}
        for r in range(rounds):
            order = list(kinds) if r % 2 == 0 else list(kinds)[::-1]
            for kind in order:
                results[kind].append(await block(http, paths, kinds[kind], n))
    mean = {k: tuple(statistics.mean(x[i] for x in v) for i in (0, 1)) for k, v in results.items()}
    print(f"GET one task and a page of 20, {n} per block, {rounds} rounds, {CLIENTS} clients")
    print("| caller | requests/s | median ms |\n|---|---:|---:|")
    for kind, (rate, ms) in mean.items():
        print(f"| {kind} | {rate:,.0f} | {ms:.2f} |")
    rate_ratio = mean["token"][0] / mean["session"][0]
    ms_ratio = mean["token"][1] / mean["session"][1]
    print(f"token/session: requests/s x{rate_ratio:.2f}, median latency x{ms_ratio:.2f}")


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(
        main(args[0], int(args[1]) if len(args) > 1 else 2000, int(args[2]) if len(args) > 2 else 4)
    )
