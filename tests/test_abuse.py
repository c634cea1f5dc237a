"""Hostile clients (issue 12, SPEC §9): the attacks that once stalled a worker or went
unlimited, sent again (bounded in count and time, loopback only), with the outcome SPEC §9
states. Latency is compared with the same service's idle latency, as a ratio, never a clock.
tests/test_linear_time.py holds the linear-time checks, tests/test_sessions.py revocation."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import json
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from server.accounts.passwords import HashingBusy, hash_password
from server.admission import AdmissionQueue
from tests import ROOT
from tests.live import serve_fresh
from tests.support import PATIENCE, Api, User
from tests.test_linear_time import HOSTILE_EMAIL, PASSWORD

FLOOD_SECONDS, HASH_THREADS = 8, 2  # the flood's length; the service's default hashing threads


def test_signup_is_limited_per_client_address(api: Api) -> None:
    statuses = [
        api.post(
            "/api/auth/signup",
            json={"email": f"s{i}@example.org", "password": PASSWORD, "name": "S"},
        ).status_code
        for i in range(21)
    ]
    assert statuses == [201] * 20 + [429]


def test_wrong_current_passwords_count_as_failed_logins(api: Api, user: User) -> None:
    wrong = {"current_password": "not my password", "new_password": "whatever it is"}
    statuses = [api.put("/api/me/password", json=wrong, headers=user.headers).status_code]
    statuses += [
        api.request(
            "DELETE", "/api/me", json={"password": "nope nope"}, headers=user.headers
        ).status_code
        for _ in range(9)
    ]
    assert statuses == [403] * 10
    right = {"current_password": user.password, "new_password": "whatever it is"}
    limited = api.put("/api/me/password", json=right, headers=user.headers)
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    login = {"email": user.email, "password": user.password}
    assert api.post("/api/auth/login", json=login).status_code == 429, "the account is limited"


def test_a_full_hashing_queue_refuses_at_once_and_serves_clients_in_turn() -> None:
    """One thread, a queue of 8 (2 a client): a third job of one client is refused (503) while
    its first two wait, and another client's job runs before that client's second."""
    hasher = AdmissionQueue(threads=1, queue_size=8, refusal=HashingBusy)
    finished: list[str] = []

    async def job(client: str, name: str) -> None:
        async with hasher.admitted(client) as admission:
            await hash_password(admission, PASSWORD, 8)
        finished.append(name)

    async def scene() -> int:
        flood = [asyncio.create_task(job("198.51.100.1", f"a{i}")) for i in range(3)]
        await asyncio.sleep(0)
        other = asyncio.create_task(job("198.51.100.2", "b"))
        results = await asyncio.gather(*flood, other, return_exceptions=True)
        return sum(getattr(r, "status", 0) == 503 for r in results)

    try:
        assert asyncio.run(scene()) == 1
    finally:
        hasher.close()
    assert finished == ["a0", "b", "a1"]


@pytest.fixture(scope="module")
def hostile_target(admin_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service as it ships (one worker, default login limits and hashing queue), bcrypt
    cost 10, and the signup limit raised so that a flood reaches the hashing queue (the limit
    itself is tested in-process)."""
    defaults = {
        "LOGIN_LIMIT_PER_EMAIL_CLIENT": "10",
        "LOGIN_LIMIT_PER_EMAIL": "100",
        "LOGIN_LIMIT_PER_CLIENT": "100",
        "HASH_QUEUE_SIZE": "32",
        "BCRYPT_ROUNDS": "10",
    }
    with serve_fresh(admin_dsn, tmp_path_factory, "abuse", env=defaults) as server:
        yield server.url


def timed(client: httpx.Client, method: str, path: str, **kwargs: Any) -> tuple[int, float]:
    start = time.perf_counter()
    status = client.request(method, path, **kwargs).status_code
    return status, time.perf_counter() - start


def health_latency(client: httpx.Client, probes: int = 7) -> float:
    return statistics.median(timed(client, "GET", "/health")[1] for _ in range(probes))


@contextlib.contextmanager
def while_flooding(
    url: str, flood: Callable[[httpx.Client], Any], seconds: float, in_swing: int = 8
) -> Iterator[None]:
    """Runs `flood` in a loop on 2 threads (from 127.0.0.1) until the block ends or time's up;
    the block runs once the flood is in full swing (`in_swing` rounds answered)."""
    stop, swinging = threading.Event(), threading.Event()
    deadline = time.monotonic() + seconds
    rounds = itertools.count(1)

    def loop() -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            while not stop.is_set() and time.monotonic() < deadline:
                flood(client)
                if next(rounds) >= in_swing:
                    swinging.set()

    threads = [threading.Thread(target=loop) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        assert swinging.wait(PATIENCE), f"the flood had fewer than {in_swing} answers"
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join()


@pytest.mark.slow
def test_health_answers_at_idle_latency_while_hostile_bodies_arrive(hostile_target: str) -> None:
    body = {"email": HOSTILE_EMAIL, "password": PASSWORD, "name": "x"}
    statuses: Counter[int] = Counter()

    def hostile(client: httpx.Client) -> None:
        statuses[client.post("/api/auth/signup", json=body).status_code] += 1

    with httpx.Client(base_url=hostile_target, timeout=30) as client:
        idle = health_latency(client)
        with while_flooding(hostile_target, hostile, seconds=20):
            during = health_latency(client)
    assert set(statuses) == {422}
    assert statuses[422] >= 8
    assert during < 10 * idle + 0.005, (
        f"/health idle {idle * 1000:.1f} ms, during {during * 1000:.1f} ms"
    )


@pytest.mark.slow
def test_a_signup_flood_from_one_address_barely_delays_another_addresses_login(
    hostile_target: str,
) -> None:
    """64 signups at a time for 8 s, repeating one taken email, from 127.0.0.1 (each a bcrypt
    hash if admitted, tests/flood.py); meanwhile logins from 127.0.0.2."""
    email = "victim@example.org"
    account = {"email": email, "password": PASSWORD, "name": "V"}
    login = {"email": email, "password": PASSWORD}
    other = httpx.Client(
        base_url=hostile_target,
        timeout=30,
        transport=httpx.HTTPTransport(local_address="127.0.0.2"),
    )
    with other:
        assert other.post("/api/auth/signup", json=account).status_code == 201
        idle = statistics.median(
            timed(other, "POST", "/api/auth/login", json=login)[1] for _ in range(3)
        )
        flooding = subprocess.Popen(  # noqa: S603 - our own module
            [sys.executable, "-m", "tests.flood", hostile_target, email, str(FLOOD_SECONDS)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert flooding.stdout is not None
        first = flooding.stdout.readline()  # "full": the queue is full (or the flood is over)
        during = [timed(other, "POST", "/api/auth/login", json=login) for _ in range(3)]
        out, _ = flooding.communicate(timeout=60)
    flood = json.loads((first + out).splitlines()[-1])
    statuses = {int(k): v for k, v in flood["statuses"].items()}
    assert {status for status, _ in during} == {200}
    assert statuses.get(503, 0) > 0, statuses
    assert statuses.get(409, 0) > 0, statuses
    assert flood["retry_after"]
    assert all(int(value) >= 1 for value in flood["retry_after"])
    # What one hash takes while the flood keeps both hashing threads busy (thread-seconds per
    # hash the flood got done): the login may wait for at most a few of those.
    hash_seconds = FLOOD_SECONDS * HASH_THREADS / (statuses.get(409, 0) + statuses.get(201, 0))
    slowest = max(took for _, took in during)
    assert slowest < idle + 4 * hash_seconds, (
        f"login idle {idle:.3f}s, during the flood {slowest:.3f}s, a hash {hash_seconds:.3f}s"
    )


def test_login_limits_per_pair_email_and_client_with_ipv6_by_its_64(
    settings: Any, make_api: Callable[..., Api], user: User
) -> None:

    limits = dataclasses.replace(
        settings,
        proxies_count=1,
        login_limit_per_email_client=2,
        login_limit_per_email=5,
        login_limit_per_client=4,
    )

    def attempt(api: Api, email: str, client: str, password: str = "wrong password") -> int:
        body = {"email": email, "password": password}
        return api.post(
            "/api/auth/login", json=body, headers={"X-Forwarded-For": client}
        ).status_code

    with make_api(limits) as api:
        # (email, client): the third try from one /64 is refused, the right password too
        assert [attempt(api, user.email, "2001:db8::1") for _ in range(2)] == [401, 401]
        assert attempt(api, user.email, "2001:db8::ffff", user.password) == 429
        # another /64, another pair: not limited by the first
        assert attempt(api, user.email, "2001:db8:0:1::1") == 401
        # email across clients: 5 failures in all, then 429 from a fresh client
        assert attempt(api, user.email, "192.0.2.7") == 401
        assert attempt(api, user.email, "192.0.2.8") == 401
        assert attempt(api, user.email, "192.0.2.9", user.password) == 429
        # client across emails: 4 failures, then 429 for a fifth email
        assert [attempt(api, f"g{i}@example.org", "203.0.113.5") for i in range(4)] == [401] * 4
        assert attempt(api, "g9@example.org", "203.0.113.5") == 429
