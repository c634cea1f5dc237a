"""What a handler reads besides its arguments, typed: the app's context (settings, contract and
its plans, queries, pool, gate, admission queue, background tasks) and the request's (its id,
its caller, its clean values, the executor its statements run on)."""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sanic
from sanic.config import Config

from server.access.gate import NOBODY, Caller

if TYPE_CHECKING:
    import asyncio

    from server.access.gate import Gate
    from server.access.origins import Origins
    from server.admission import AdmissionQueue
    from server.config import Settings
    from server.contract.fallback import Fallback
    from server.contract.fastpath import OperationPlan
    from server.contract.loading import Contract
    from server.contract.pace import Pace
    from server.db.executor import Executor
    from server.db.hub import Hub
    from server.db.pool import Database
    from server.db.queries import AccessParams, Queries, TokenParams
    from server.observability.loop_guard import LoopGuard
    from server.observability.metrics import Metrics
    from server.outbox.sender import Outlet
    from server.slots import Slots


REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")  # an X-Request-ID we echo


def new_request_id() -> str:
    """32 random hex digits, as uuid4().hex looked, without building a UUID per request."""
    return os.urandom(16).hex()


@dataclass
class AppContext:
    """Made by create_app; db, gate and admission arrive as the server starts (before any
    request). Not slotted: Sanic extensions keep their own attributes here too."""

    settings: Settings
    contract: Contract
    plans: dict[str, OperationPlan]  # compiled once per process, by operationId
    queries: Queries
    migration_ids: frozenset[str]
    docs_html: str
    console_html: str | None = None  # None: CONSOLE_ENABLED is off (server/system/console.py)
    metrics: Metrics | None = None  # None: METRICS_ENABLED is off
    # What time it is for overdue and recurrence (a test passes its own; SQL's now() elsewhere)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    time_zones: frozenset[str] | None = None  # read on first use (server/accounts/me.py)
    # Operations whose path holds a secret, by operationId: the access log writes this template
    # (server/system/middleware.py), never the path.
    logged_paths: dict[str, str] = field(default_factory=dict)
    guard: LoopGuard = field(init=False)  # how long each request holds the event loop
    db: Database = field(init=False)
    admission: AdmissionQueue = field(init=False)  # password work (server/admission.py)
    fallback: Fallback = field(init=False)  # openapi-core off the loop (contract/fallback.py)
    planner: Fallback = field(init=False)  # imports' checks (server/transfer/handlers.py)
    exports: Slots = field(init=False)  # exports being made (server/transfer/handlers.py)
    feeds: Slots = field(init=False)  # calendar feeds being written (server/feeds/handlers.py)
    gate: Gate = field(init=False)  # who may act (server/access/gate.py)
    origins: Origins = field(init=False)  # which web origins may (server/access/origins.py)
    purger: asyncio.Task[None] = field(init=False)
    hub: Hub = field(init=False)  # this worker's event streams
    scheduler: asyncio.Task[None] = field(init=False)  # reminders (server/system/reminders.py)
    token_uses: asyncio.Task[None] = field(init=False)  # last_used_at (server/access/uses.py)
    # Open connections per client in this worker (server/system/transport.py)
    connections: Counter[str] = field(default_factory=Counter)
    samplers: list[asyncio.Task[None]] = field(default_factory=list)  # metrics' own loops
    senders: list[Outlet] = field(default_factory=list)  # the outbox's (server/senders.py)

    def sample(self) -> None:
        """The metrics' gauges, read from this worker's pool and password work."""
        if self.metrics is not None:
            self.metrics.sample(self.db.in_use, self.db.waiting, self.admission.depth)


@dataclass(slots=True)
class RequestContext:
    """Made with the request (its id and arrival time), filled by the pipeline (the rest)
    before a handler runs: the caller is NOBODY on an operation without security."""

    request_id: str = ""
    started: float | None = None
    caller: Caller = NOBODY
    db: Executor = field(init=False)  # where the handler's statements run (server/access/gate.py)
    path_params: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    header_params: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    # What the pipeline runs once the answer is sent, or the request is gone (server/slots.py)
    when_sent: list[Callable[[], None]] = field(default_factory=list)
    pace: Pace | None = None  # a large answer's client's, once its parts are being sent

    @property
    def user_id(self) -> str:
        return self.caller.user_id

    @property
    def session_id(self) -> str:
        """The access token's login family."""
        return self.caller.session_id

    @property
    def token(self) -> TokenParams:
        """The parameters of the access token's account check (token_account_ok)."""
        return self.caller.params

    @property
    def access(self) -> AccessParams:
        """The parameters of a statement that checks list access as well (issue 26)."""
        return self.caller.access


App = sanic.Sanic[Config, AppContext]


# Sanic bounds a request context by SimpleNamespace, whose every attribute is Any to mypy: a
# plain dataclass keeps a misspelled field an error.
class Request(sanic.Request[App, RequestContext]):  # type: ignore[type-var]
    """The request every handler receives (create_app makes it the app's request class).

    Its context is a slot of its own, made with the request: Sanic's `ctx` is a property that
    makes one on first use, a function call on every `request.ctx` (14 a GET)."""

    __slots__ = ("__dict__", "ctx")
    ctx: RequestContext  # (Sanic's read-only property, as a slot)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """As the request's head arrives: its id (the client's X-Request-ID when well formed,
        else 32 random hex digits) and the time the access log measures from. Made here
        rather than by a request middleware, which Sanic would run as a coroutine of its own
        on every request."""
        super().__init__(*args, **kwargs)
        incoming = self.headers.get("x-request-id")
        request_id = incoming if incoming and REQUEST_ID.match(incoming) else new_request_id()
        self.ctx = RequestContext(request_id=request_id, started=time.perf_counter())

    def __repr__(self) -> str:
        """As Sanic writes a request in its own log lines, with the path as logs show it."""
        return f"<{type(self).__name__}: {self.method} {self.logged_path}>"

    @property
    def logged_path(self) -> str:
        """The path as logs show it: a path holding a secret (a calendar feed's) as its
        template."""
        route, paths = self.route, self.app.ctx.logged_paths
        if route is not None and paths:
            return paths.get(route.name.rpartition(".")[2], self.path)
        return self.path

    @staticmethod
    def make_context() -> RequestContext:
        return RequestContext(request_id=new_request_id())
