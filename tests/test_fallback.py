"""openapi-core, where the compiled plans leave a request to it, runs off the event loop
(server/contract/fallback.py), and admits a bounded number of requests per worker and per
client rather than queueing them: any client can write a request the plan is unsure of."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest

from server.contract import pipeline
from server.contract.fallback import Fallback, ValidationBusy
from tests.support import Api, User, until


async def _try(fallback: Fallback, client: str) -> bool:
    """Whether the client's next request is admitted; refused, it is a 503 with Retry-After."""
    try:
        await fallback.request(client, lambda: None)
    except ValidationBusy as busy:
        refused = busy
    else:
        return True
    assert refused.status == 503
    assert refused.headers == {"Retry-After": "1"}
    return False


def test_one_client_holds_at_most_a_quarter_of_the_places() -> None:
    async def scenario() -> None:
        fallback = Fallback(size=8)
        release = threading.Event()
        held = [asyncio.ensure_future(fallback.request("a", release.wait, 10)) for _ in range(2)]
        await asyncio.sleep(0)
        assert not await _try(fallback, "a")  # its third is refused at once, not queued
        release.set()
        assert all(await asyncio.gather(*held))
        assert await _try(fallback, "a")  # places given back once the thread is done
        fallback.close()

    asyncio.run(scenario())


def test_all_clients_together_hold_at_most_size_places() -> None:
    async def scenario() -> None:
        fallback = Fallback(size=4)
        release = threading.Event()
        held = [asyncio.ensure_future(fallback.request(c, release.wait, 10)) for c in "abcd"]
        await asyncio.sleep(0)
        assert not await _try(fallback, "e")
        release.set()
        await asyncio.gather(*held)
        assert await _try(fallback, "e")
        fallback.close()

    asyncio.run(scenario())


def test_a_place_is_held_until_the_thread_is_done_even_if_its_request_is_gone() -> None:
    """A client that drops its connection does not get its place back while the thread still
    works for it: else it could keep the thread busy without bound by hanging up."""

    async def scenario() -> None:
        fallback = Fallback(size=4)
        release = threading.Event()
        held = asyncio.ensure_future(fallback.request("a", release.wait, 10))
        await asyncio.sleep(0)
        held.cancel()
        await asyncio.sleep(0)
        assert fallback.held["a"] == 1
        assert not await _try(fallback, "a")
        release.set()
        assert await until(lambda: not fallback.held)  # the thread's callback reaches the loop
        assert await _try(fallback, "a")
        fallback.close()

    asyncio.run(scenario())


@pytest.fixture
def threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The thread each request or response handed to openapi-core was checked on."""
    seen: list[str] = []
    for name in ("validate_request", "validate_response"):
        real: Callable[..., Any] = getattr(pipeline, name)

        def on_thread(*args: Any, _real: Callable[..., Any] = real) -> Any:
            seen.append(threading.current_thread().name)
            return _real(*args)

        monkeypatch.setattr(pipeline, name, on_thread)
    return seen


@pytest.mark.parametrize(
    "query",
    [
        "limit=abc",
        "limit=1_0",
        "limit=%D9%A1%D9%A0",
        "offset=",
        "status=",
        "limit=5&limit=6",
    ],
)
def test_common_refusals_never_reach_openapi_core(
    api: Api, user: User, threads: list[str], query: str
) -> None:
    """Each of these took openapi-core 20 to 30 ms of the event loop to refuse."""
    response = api.get(f"/api/{user.id}/tasks?{query}", headers=user.headers)
    assert response.status_code == 400, response.text
    assert threads == []


def test_reminders_without_their_window_never_reach_openapi_core(
    api: Api, user: User, threads: list[str]
) -> None:
    response = api.get(f"/api/{user.id}/reminders", headers=user.headers)
    assert response.status_code == 400
    assert [e["loc"] for e in response.json()["errors"]] == [["query", "from"], ["query", "to"]]
    assert threads == []


def test_malformed_json_never_reaches_openapi_core(
    api: Api, user: User, threads: list[str]
) -> None:
    for raw in (b"{", b'{"title": "x",}', b"[" * 100 + b"]" * 100):
        response = api.post(f"/api/{user.id}/tasks", content=raw, headers={**user.headers, **JSON})
        assert response.status_code == 400, raw
        assert response.json()["errors"][0]["loc"] == ["body"]
    assert threads == []


JSON = {"Content-Type": "application/json"}


def test_what_still_reaches_openapi_core_is_decided_off_the_event_loop(
    api: Api, user: User, threads: list[str]
) -> None:
    """A leap second: jsonschema-rs takes it, openapi-core does not; the plan leaves it."""
    query = "due_before=2026-06-30T23:59:60Z&limit=1_0"
    response = api.get(f"/api/{user.id}/tasks?{query}", headers=user.headers)
    assert response.status_code == 400
    assert threads
    assert all(name.startswith("openapi-core") for name in threads)
