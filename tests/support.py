"""The test client: sanic-testing's ReusableClient (one server start per app), every response
checked against openapi.yaml from the outside, and concurrent requests on the server's loop."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import httpx
import psycopg
from openapi_core.templating.paths.exceptions import PathError
from sanic import Sanic
from sanic_testing.reusable import ReusableClient
from werkzeug.datastructures import Headers

from server.app import load_contract
from server.contract.adapters import SanicOpenAPIResponse
from server.system.transport import GuardedProtocol

T = TypeVar("T")
PATIENCE = 30.0  # seconds: how long a test waits for what it expects before it says it never came


class ContractViolation(AssertionError):
    pass


def eventually(condition: Callable[[], T], within: float = PATIENCE, every: float = 0.05) -> T:
    """condition()'s first truthy value, asked every `every` seconds for at most `within`
    seconds; else its last value, for the assertion that follows to show. A test waits so on
    what it means (a log line written, a worker up), never on a sleep that is long enough on
    a quiet machine."""
    deadline = time.monotonic() + within
    while not (value := condition()) and time.monotonic() < deadline:
        time.sleep(every)
    return value


async def until(condition: Callable[[], T], within: float = PATIENCE, every: float = 0.02) -> T:
    """`eventually` for a coroutine: the event loop runs on between two looks."""
    deadline = time.monotonic() + within
    while True:
        value = condition()
        if value or time.monotonic() >= deadline:
            return value
        await asyncio.sleep(every)


@dataclass
class User:
    """An account the `make_user` fixture stored, with a fresh access token."""

    id: str
    email: str
    password: str
    name: str
    access_token: str
    session_id: str  # the login family its access token names

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


class _HttpxRequest:
    """openapi-core's Request protocol over an httpx request (to find the operation)."""

    def __init__(self, request: httpx.Request) -> None:
        from openapi_core.datatypes import RequestParameters
        from werkzeug.datastructures import ImmutableMultiDict

        self.host_url = f"{request.url.scheme}://{request.url.netloc.decode()}"
        self.path = request.url.raw_path.decode("ascii").split("?", 1)[0]  # as sent: %2F stays
        self.method = request.method.lower()
        self.body = request.content or None
        self.content_type = request.headers.get("content-type", "")
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(request.url.params.multi_items()),
            header=Headers(list(request.headers.items())),
            cookie=ImmutableMultiDict(),
        )


def check_contract(response: httpx.Response) -> None:
    """A response to a contract operation must match it; any other is a problem+json."""
    content_type = response.headers.get("content-type", "")
    if response.status_code >= 400:
        assert content_type.startswith("application/problem+json"), content_type
        body = response.json()
        assert body["status"] == response.status_code
        assert body["request_id"] == response.headers["x-request-id"]
    if response.request.method == "OPTIONS" or response.request.url.path.startswith(
        ("/docs/assets/", "/console/assets/")
    ):
        return  # CORS preflights and the pages' static files are not operations
    openapi = load_contract().openapi
    request = _HttpxRequest(response.request)
    reply = SanicOpenAPIResponse(
        response.status_code, dict(response.headers), content_type, response.content or None
    )
    try:
        openapi.validate_response(request, reply)
    except PathError:
        assert response.status_code in (404, 405, 413), f"{request.path}: not in the contract"
    except Exception as exc:
        raise ContractViolation(f"{request.method.upper()} {request.path}: {exc!r}") from exc


def while_deleted(
    api: Api, database_url: str, user_id: str, send: Callable[[], Awaitable[httpx.Response]]
) -> httpx.Response:
    """`send`'s answer when it reaches the account while its deletion is done but not yet
    committed (committed half a second later, as the request waits on the account's row)."""
    with psycopg.connect(database_url) as deleting:
        deleting.execute("DELETE FROM users WHERE id = %s", (user_id,))

        async def commit_soon() -> None:
            await asyncio.sleep(0.5)
            await asyncio.to_thread(deleting.commit)

        async def race() -> httpx.Response:
            answer, _ = await asyncio.gather(send(), commit_soon())
            return answer

        return api.run(race())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Api:
    """A running app and a client for it. Sync calls for ordinary tests, `gather` for races."""

    def __init__(self, app: Sanic, protocol: type[asyncio.Protocol] = GuardedProtocol) -> None:
        """protocol: the connection layer `todo-api serve` runs (server/system/transport.py)
        under every test, rather than Sanic's default."""
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._server = ReusableClient(
            app, port=self.port, loop=self.loop, server_kwargs={"protocol": protocol}
        )
        self._http = httpx.AsyncClient(base_url=self.base, timeout=30)

    def __enter__(self) -> Api:
        asyncio.set_event_loop(self.loop)
        self._server.run()
        return self

    def __exit__(self, *_: object) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._http.aclose())
        self._server.stop()

    async def arequest(
        self, method: str, path: str, *, check: bool = True, **kwargs: Any
    ) -> httpx.Response:
        """check=False only where a test shows what happens to a reply that breaks the contract."""
        response = await self._http.request(method, path, **kwargs)
        if check:
            check_contract(response)
        return response

    def run(self, coro: Awaitable[Any]) -> Any:
        """Run a coroutine on the app's loop (the server answers while it runs)."""
        asyncio.set_event_loop(self.loop)
        return self.loop.run_until_complete(coro)

    def request(
        self, method: str, path: str, *, check: bool = True, **kwargs: Any
    ) -> httpx.Response:
        return self.run(self.arequest(method, path, check=check, **kwargs))

    def idle(self, seconds: float) -> None:
        """Let the app's loop run (its background work: the outbox's senders) for a while."""
        self.run(asyncio.sleep(seconds))

    def gather(self, *calls: Callable[[], Awaitable[httpx.Response]]) -> list[httpx.Response]:
        """Send requests concurrently: `api.gather(*[lambda: api.arequest(...)] * 20)`."""

        async def all_of() -> list[httpx.Response]:
            return list(await asyncio.gather(*(call() for call in calls)))

        return list(self.run(all_of()))

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)


def later(api: Api, owner: User, method: str, path: str, **kwargs: Any) -> Callable[[], Any]:
    """The owner's request to `/api/{owner}{path}`, to send with others (`api.gather`)."""
    url, headers = f"/api/{owner.id}{path}", {**owner.headers, **kwargs.pop("headers", {})}
    return lambda: api.arequest(method, url, headers=headers, **kwargs)


def metric_value(text: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus text answer (0 when it is absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


class Clock:
    """The time an app sees (`create_app(clock=...)`), set by the test."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now
