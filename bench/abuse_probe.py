"""The hostile-client probes of issue 12, against a running service (loopback only).

    .venv/bin/python -m bench.abuse_probe http://127.0.0.1:9200 [flood_seconds]

Prints one line per probe: what was sent, the status(es) and the time taken. The login from
"elsewhere" during the signup flood binds 127.0.0.2 as its source address, so the service sees
a second client.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import time
from collections import Counter
from typing import Any

import httpx

PASSWORD = "correct horse battery"  # noqa: S105 - the probe accounts' own


async def timed(call: Any) -> tuple[httpx.Response, float]:
    start = time.perf_counter()
    response = await call
    return response, time.perf_counter() - start


async def account(http: httpx.AsyncClient) -> tuple[str, str, dict[str, str]]:
    email = f"probe-{secrets.token_hex(4)}@example.org"
    await http.post("/api/auth/signup", json={"email": email, "password": PASSWORD, "name": "P"})
    login = await http.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    body = login.json()
    return email, body["user"]["id"], {"Authorization": f"Bearer {body['access_token']}"}


async def health_during(http: httpx.AsyncClient, hostile: Any) -> str:
    _, idle = await timed(http.get("/health"))
    task = asyncio.create_task(timed(hostile))
    await asyncio.sleep(0.05)
    _, during = await timed(http.get("/health"))
    response, took = await task
    return (
        f"{response.status_code} in {took:.3f}s; /health idle {idle * 1000:.1f} ms, "
        f"during {during * 1000:.1f} ms"
    )


async def main(base: str, flood_seconds: float) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:
        # Every account first: the service may limit signups per address (SPEC §9).
        (email, user_id, headers), second, third, fourth = [await account(http) for _ in range(4)]
        hostile_email = "a@" + "a." * 30000 + "@"
        body = {"email": hostile_email, "password": PASSWORD, "name": "x"}
        print(
            "signup, 60 KB email:",
            await health_during(http, http.post("/api/auth/signup", json=body)),
        )

        task = (
            await http.post(f"/api/{user_id}/tasks", json={"title": "t"}, headers=headers)
        ).json()
        if_match = '"1",' + " " * 7000 + "x"
        response, took = await timed(
            http.patch(
                f"/api/{user_id}/tasks/{task['id']}",
                json={"title": "u"},
                headers={**headers, "If-Match": if_match},
            )
        )
        print(f"PATCH with If-Match of 7 K spaces: {response.status_code} in {took:.3f}s")

        response, took = await timed(
            http.get(f"/api/{user_id}/tasks?limit=" + "9" * 5000, headers=headers)
        )
        print(f"limit= 5000 digits: {response.status_code} in {took:.3f}s")
        response = await http.get(f"/api/{user_id}/tasks?offset=100000000", headers=headers)
        print(f"offset=100000000: {response.status_code}")

        if flood_seconds > 0:
            await flood(base, http, email, flood_seconds)

        old = second[2]
        change = {"current_password": PASSWORD, "new_password": PASSWORD + "!"}
        await http.put("/api/me/password", json=change, headers=old)
        response = await http.get("/api/me", headers=old)
        print(f"access token after a password change: GET /api/me {response.status_code}")
        email3 = third[0]
        login = (
            await http.post("/api/auth/login", json={"email": email3, "password": PASSWORD})
        ).json()
        await http.post("/api/auth/logout", json={"refresh_token": login["refresh_token"]})
        fresh = {"Authorization": f"Bearer {login['access_token']}"}
        response = await http.get("/api/me", headers=fresh)
        print(f"access token after logout of its refresh token: GET /api/me {response.status_code}")

        stolen = fourth[2]
        statuses: Counter[int] = Counter()
        for i in range(15):
            wrong = {"current_password": f"guess-{i:08d}", "new_password": PASSWORD}
            statuses[
                (await http.put("/api/me/password", json=wrong, headers=stolen)).status_code
            ] += 1
        print(f"15 wrong current passwords on PUT /api/me/password: {dict(statuses)}")


async def flood(base: str, http: httpx.AsyncClient, email: str, seconds: float) -> None:
    """64 concurrent signups repeating one existing email, and a correct login from 127.0.0.2."""
    login = {"email": email, "password": PASSWORD}
    other = httpx.AsyncClient(
        base_url=base, timeout=120, transport=httpx.AsyncHTTPTransport(local_address="127.0.0.2")
    )
    async with other:
        _, idle = await timed(other.post("/api/auth/login", json=login))
        statuses: Counter[int] = Counter()
        stop = time.monotonic() + seconds
        body = {"email": email, "password": PASSWORD, "name": "again"}

        async def worker() -> None:
            while time.monotonic() < stop:
                statuses[(await http.post("/api/auth/signup", json=body)).status_code] += 1

        workers = [asyncio.create_task(worker()) for _ in range(64)]
        await asyncio.sleep(min(5.0, seconds / 2))
        response, during = await timed(other.post("/api/auth/login", json=login))
        await asyncio.gather(*workers)
        print(
            f"signup flood, 64 concurrent for {seconds:.0f}s: {sum(statuses.values())} answers "
            f"{dict(statuses)}; login from 127.0.0.2: {response.status_code} in {during:.2f}s "
            f"(idle {idle:.2f}s)"
        )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 20.0))
