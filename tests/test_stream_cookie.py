"""The event stream opened with the `stream_token` cookie (the browser's own EventSource, which
sends no Authorization): it delivers and resumes with Last-Event-ID as a bearer stream does; it
outlives its login's access tokens (EventSource reconnects with the same cookie for the life of
the login); every revocation that ends a bearer stream ends it within a second, and refuses its
reconnection; the cookie speaks for its own account only, and is never an access token."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import psycopg
import pytest

from server.access.tokens import STREAM_COOKIE_REFUSED
from server.config import Settings
from tests.support import Api, User
from tests.test_browser_mode import browser_login, cookie_value, cookies_of
from tests.test_events import Listener, create
from tests.test_sessions import bearer
from tests.test_stream_ends import REVOCATIONS, ends, holder, survivor

Pair = dict[str, Any]


def browser_session(api: Api, user: User) -> tuple[Pair, str]:
    """A browser-mode login: its body (with the refresh cookie's value added, for the
    revocations that send it) and its stream cookie."""
    response = browser_login(api, user)
    assert response.status_code == 200
    cookies = cookies_of(response)
    pair = {**response.json(), "refresh_token": cookie_value(cookies["refresh_token"])}
    return pair, cookie_value(cookies["stream_token"])


def with_cookie(cookie: str, last_event_id: str | None = None) -> dict[str, str]:
    headers = {"Cookie": f"stream_token={cookie}", "Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    return headers


@asynccontextmanager
async def cookie_stream(
    client: httpx.AsyncClient, user_id: str, cookie: str, last_event_id: str | None = None
) -> AsyncIterator[Listener]:
    """What EventSource does: a GET with the cookie (and Last-Event-ID on a reconnection)."""
    headers = with_cookie(cookie, last_event_id)
    async with client.stream("GET", f"/api/{user_id}/events", headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        listener = Listener(response)
        try:
            yield listener
        finally:
            listener.task.cancel()


def test_a_cookie_opened_stream_delivers_and_resumes_after_its_last_event(
    api: Api, user: User
) -> None:
    _, cookie = browser_session(api, user)

    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=api.base, timeout=30) as client:
            async with cookie_stream(client, user.id, cookie) as listener:
                first = await create(client, user, "First")
                event = await listener.next(within=1)
                assert (event["event"], event["data"]["id"]) == ("change", first["id"])
            missed = await create(client, user, "Made while away")
            async with cookie_stream(client, user.id, cookie, event["id"]) as again:
                replayed = await again.next(within=1)
                assert replayed["data"]["id"] == missed["id"]

    api.run(scenario())


@pytest.mark.parametrize("how", REVOCATIONS)
def test_each_revocation_ends_a_cookie_opened_stream_and_refuses_its_reconnection(
    api: Api, user: User, how: str
) -> None:
    (pair, cookie), (other, _) = browser_session(api, user), browser_session(api, user)

    async def scenario() -> None:
        async with (
            httpx.AsyncClient(base_url=api.base, timeout=30) as client,
            cookie_stream(client, user.id, cookie) as listener,
        ):
            before = await create(client, holder(user, other), "Before")
            assert (await listener.next(within=1))["data"]["id"] == before["id"]
            revoke, reason = REVOCATIONS[how]
            assert (await revoke(api, user, pair, other)).status_code == 204
            revoked = time.monotonic()
            alive = await survivor(api, user, other, how)
            if alive is not None:
                await create(client, holder(user, alive), "After")
            event = await ends(listener)
            assert event["data"] == {"reason": reason}
            assert time.monotonic() - revoked < 1
            assert listener.events.empty(), "something was sent after the end"
            again = await client.get(f"/api/{user.id}/events", headers=with_cookie(cookie))
            assert again.status_code == 401

    api.run(scenario())


def test_a_reused_refresh_cookie_ends_the_cookie_opened_stream(api: Api, user: User) -> None:
    pair, cookie = browser_session(api, user)

    async def scenario() -> None:
        async with (
            httpx.AsyncClient(base_url=api.base, timeout=30) as client,
            cookie_stream(client, user.id, cookie) as listener,
        ):
            spend = {"X-Auth-Mode": "browser", "Cookie": f"refresh_token={pair['refresh_token']}"}
            rotated = await api.arequest("POST", "/api/auth/refresh", headers=spend)
            assert rotated.status_code == 200
            successor = rotated.headers["set-cookie"].split(";", 1)[0]
            successor_spend = {"X-Auth-Mode": "browser", "Cookie": successor}
            spent = await api.arequest("POST", "/api/auth/refresh", headers=successor_spend)
            assert spent.status_code == 200
            reused = await api.arequest("POST", "/api/auth/refresh", headers=spend)
            assert reused.status_code == 401
            assert (await ends(listener))["data"] == {"reason": "session-ended"}
            again = await client.get(f"/api/{user.id}/events", headers=with_cookie(cookie))
            assert again.status_code == 401

    api.run(scenario())


def test_a_cookie_opened_stream_ends_with_its_sessions_lifetime(
    api: Api, user: User, sql: psycopg.Connection[Any]
) -> None:
    pair, cookie = browser_session(api, user)
    session = _session_id(api, pair)

    async def scenario() -> None:
        async with (
            httpx.AsyncClient(base_url=api.base, timeout=30) as client,
            cookie_stream(client, user.id, cookie) as listener,
        ):
            await asyncio.to_thread(
                sql.execute,
                "UPDATE login_families SET expires_at = now() + interval '1 second' WHERE id = %s",
                (session,),
            )
            assert (await ends(listener, within=1.5))["data"] == {"reason": "session-ended"}
            again = await client.get(f"/api/{user.id}/events", headers=with_cookie(cookie))
            assert again.status_code == 401

    api.run(scenario())


def test_a_cookie_opened_stream_outlives_the_access_tokens_of_its_login(
    settings: Settings, make_api: Any, make_user: Any
) -> None:
    """EventSource cannot refresh an access token: its cookie lasts as long as the session.
    With 1-second access tokens, the stream still delivers after several have expired, and
    a reconnection with the same cookie still opens."""
    short = dataclasses.replace(settings, access_token_ttl=1, clock_skew_seconds=0)
    with make_api(short) as api:
        user = make_user()
        pair, cookie = browser_session(api, user)
        expiry = pair["expires_in"]

        async def scenario() -> None:
            async with httpx.AsyncClient(base_url=api.base, timeout=30) as client:
                async with cookie_stream(client, user.id, cookie) as listener:
                    await asyncio.sleep(expiry + 1.5)  # past the login's access token's exp
                    assert (await client.get("/api/me", headers=bearer(pair))).status_code == 401
                    task = await create(client, user, "Later")  # a long-lived token's
                    event = await listener.next(within=1)
                    assert (event["event"], event["data"]["id"]) == ("change", task["id"])
                async with cookie_stream(client, user.id, cookie):
                    pass

        api.run(scenario())


def test_the_cookie_opens_only_its_own_accounts_stream(
    api: Api, user: User, other_user: User
) -> None:
    _, cookie = browser_session(api, user)
    foreign = api.get(f"/api/{other_user.id}/events", headers=with_cookie(cookie))
    assert foreign.status_code == 403


@pytest.mark.parametrize("cookie", ["", "garbage", "a.b.c"])
def test_a_bad_stream_cookie_is_401(api: Api, user: User, cookie: str) -> None:
    response = api.get(f"/api/{user.id}/events", headers=with_cookie(cookie))
    assert response.status_code == 401
    if cookie:
        assert response.json()["detail"] == STREAM_COOKIE_REFUSED


def test_an_access_token_is_no_stream_cookie_and_a_stream_cookie_no_access_token(
    api: Api, user: User
) -> None:
    _, cookie = browser_session(api, user)
    as_cookie = api.get(f"/api/{user.id}/events", headers=with_cookie(user.access_token))
    assert as_cookie.status_code == 401
    for path in ("/api/me", f"/api/{user.id}/tasks", f"/api/{user.id}/events"):
        assert api.get(path, headers={"Authorization": f"Bearer {cookie}"}).status_code == 401


def test_the_cookie_opens_the_stream_alone(api: Api, user: User) -> None:
    """Any other operation ignores it: it is the stream's credential, nothing more."""
    _, cookie = browser_session(api, user)
    response = api.get(f"/api/{user.id}/tasks", headers={"Cookie": f"stream_token={cookie}"})
    assert response.status_code == 401


def test_a_bearer_header_wins_over_the_cookie(api: Api, user: User) -> None:
    _, cookie = browser_session(api, user)
    headers = {**with_cookie(cookie), "Authorization": "Bearer not-a-token"}
    response = api.get(f"/api/{user.id}/events", headers=headers)
    assert response.status_code == 401


def _session_id(api: Api, pair: Pair) -> str:
    sessions = api.get("/api/me/sessions", headers=bearer(pair)).json()["sessions"]
    return str(next(s["id"] for s in sessions if s["current"]))


@pytest.mark.parametrize(
    ("headers", "cookies", "admitted"),
    [
        ({}, {"stream_token": "x"}, True),
        ({"authorization": "Bearer x"}, {}, True),
        ({}, {}, False),
    ],
)
def test_openapi_core_admits_the_cookie_as_the_contract_declares(
    headers: dict[str, str], cookies: dict[str, str], admitted: bool
) -> None:
    """The fallback's validation (openapi-core, for a request the compiled plan is unsure of)
    reads the cookie too: a cookie-opened stream is not refused there as having no credential."""
    from types import SimpleNamespace

    from sanic.compat import Header

    from server.app import load_contract
    from server.contract.adapters import SanicOpenAPIRequest
    from server.contract.validation import validate_request
    from server.errors import Unauthorized

    contract = load_contract()
    user_id = "5f2b7c1e-8a4d-4e3b-9c6f-2d1a0b9e8f71"
    request: Any = SimpleNamespace(
        headers=Header(headers),
        cookies=cookies,
        match_info={"user_id": user_id},
        get_query_args=lambda **_: [],
        scheme="http",
        host="127.0.0.1",
        path=f"/api/{user_id}/events",
        body=b"",
    )
    adapter = SanicOpenAPIRequest(request, contract.by_id["stream_events"])
    if admitted:
        assert validate_request(contract, adapter).path == {"user_id": user_id}
    else:
        with pytest.raises(Unauthorized):
            validate_request(contract, adapter)


def test_since_starts_a_stream_and_last_event_id_wins_over_it(api: Api, user: User) -> None:
    """EventSource's first connection names its starting point in the URL; its reconnections
    repeat that URL with Last-Event-ID, which is the later point."""
    _, cookie = browser_session(api, user)

    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=api.base, timeout=30) as client:
            start = (await client.get(f"/api/{user.id}/changes", headers=user.headers)).json()
            first = await create(client, user, "First")
            url = f"/api/{user.id}/events?since={start['next_since']}"
            async with client.stream("GET", url, headers=with_cookie(cookie)) as response:
                listener = Listener(response)
                event = await listener.next(within=1)
                assert event["data"]["id"] == first["id"]
                listener.task.cancel()
            second = await create(client, user, "Second")
            headers = with_cookie(cookie, event["id"])
            async with client.stream("GET", url, headers=headers) as response:
                listener = Listener(response)
                assert (await listener.next(within=1))["data"]["id"] == second["id"]
                listener.task.cancel()
            bad = await client.get(
                f"/api/{user.id}/events?since=garbled", headers=with_cookie(cookie)
            )
            assert bad.status_code == 400
            assert bad.json()["errors"][0]["loc"] == ["query", "since"]

    api.run(scenario())
