"""create_app(settings) -> Sanic: routes from the contract, listeners, middleware, errors."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from collections.abc import Callable, Mapping
from contextlib import suppress
from datetime import datetime
from functools import lru_cache
from typing import Any

from sanic import HTTPResponse, Sanic
from sanic.exceptions import RequestCancelled
from sanic_ext import Extend
from sanic_ext.extensions.http.extension import HTTPExtension

from server import handlers
from server.access.gate import Gate
from server.access.origins import Origins
from server.access.tokens import AccessTokenReader
from server.access.uses import TokenUses
from server.accounts.passwords import HashingBusy
from server.admission import AdmissionQueue
from server.config import Settings
from server.contract.context import App, AppContext, Request
from server.contract.fallback import Fallback
from server.contract.fastpath import OperationPlan, compile_plans
from server.contract.loading import Contract
from server.contract.pipeline import endpoint
from server.contract.problems import problem_reply
from server.db.executor import Executor
from server.db.hub import Hub
from server.db.migrations import migration_ids
from server.db.pool import open_database
from server.db.queries import load_queries
from server.feeds.handlers import feed_slots
from server.observability.loop_guard import LoopGuard
from server.observability.metrics import SAMPLE_SECONDS, Metrics, worker_stopped
from server.resources import STATIC_DIR
from server.senders import start_senders, stop_senders
from server.system import assets, console, middleware
from server.system.purger import run_purger
from server.system.reminders import run_scheduler
from server.transfer.handlers import export_slots, import_planner

log = logging.getLogger("todo_api")

CORS_HEADERS = [
    "authorization",
    "content-type",
    "if-match",
    "if-none-match",
    "idempotency-key",
    "last-event-id",  # EventSource's, on each reconnection
    "x-auth-mode",  # browser mode (server/accounts/browser.py)
    "x-request-id",
]
CLIENT_CLOSED_REQUEST = 499
EXPOSED_HEADERS = ["etag", "location", "retry-after", "www-authenticate", "x-request-id"]


class StartupError(Exception):
    """The contract and the handlers disagree; the service refuses to start."""


@lru_cache(maxsize=1)
def load_contract() -> Contract:
    """openapi.yaml is parsed once per process, however many apps a test session builds."""
    return Contract()


@lru_cache(maxsize=1)
def load_plans() -> dict[str, OperationPlan]:
    return compile_plans(load_contract())


def create_app(
    settings: Settings,
    *,
    name: str = "todo_api",
    implemented: Mapping[str, Any] | None = None,
    clock: Callable[[], datetime] | None = None,
) -> App:
    if not settings.database_url:
        raise StartupError("create_app needs settings.database_url (the CLI starts one)")
    contract = load_contract()
    context = AppContext(
        settings=settings,
        contract=contract,
        plans=load_plans(),
        queries=load_queries(),
        migration_ids=migration_ids(),
        docs_html=(STATIC_DIR / "index.html").read_text(),
        metrics=Metrics() if settings.metrics_enabled else None,
    )
    if clock is not None:
        context.clock = clock
    context.logged_paths = {
        op.operation_id: op.path for op in contract.operations if op.secret_path
    }
    context.guard = LoopGuard(context.metrics, settings.loop_hold_log_ms)
    context.origins = Origins(settings)
    # Sanic types request_class as its default Request; ours is a subclass of it.
    request_class: Any = Request
    app: App = Sanic(name, ctx=context, request_class=request_class, configure_logging=False)
    _configure(app, settings)
    bind_operations(app, contract, handlers.collect() if implemented is None else implemented)
    assets.serve_files(app, "/docs/assets", STATIC_DIR, "docs_assets")
    console.mount(app, settings)
    app.on_response(middleware.finish_response)
    app.error_handler.add(Exception, _render_error)
    app.error_handler.add(RequestCancelled, _render_error)  # a BaseException, so named apart
    app.before_server_start(_open_resources)
    app.after_server_start(_freeze_heap)
    app.after_server_start(_guard_loop)
    app.before_server_stop(_end_streams)
    if context.metrics is not None:
        app.after_server_start(_sample_metrics)
    app.after_server_stop(_close_resources)
    return app


def bind_operations(app: App, contract: Contract, implemented: Mapping[str, Any]) -> None:
    """Route every operation to the handler its operationId names; like connexion, refuse to
    start on an operation without a handler or a handler without an operation."""
    operation_ids = {op.operation_id for op in contract.operations}
    problems = [
        *(f"operation {op!r} has no handler" for op in sorted(operation_ids - set(implemented))),
        *(f"handler {fn!r} has no operation" for fn in sorted(set(implemented) - operation_ids)),
    ]
    if problems:
        raise StartupError("; ".join(problems))
    for op in contract.operations:
        app.add_route(
            endpoint(contract, op, app.ctx.plans[op.operation_id], implemented[op.operation_id]),
            op.sanic_uri,
            methods=[op.method],
            name=op.operation_id,
        )


def _configure(app: App, settings: Settings) -> None:
    # The largest body any route takes; each request's own limit is set as its head is read
    # (server/system/transport.py: the import's is larger than the rest's).
    app.config.REQUEST_MAX_SIZE = max(settings.max_body_bytes, settings.import_max_bytes)
    app.config.PROXIES_COUNT = settings.proxies_count
    app.config.ACCESS_LOG = False
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.config.MOTD = False
    # Only sanic-ext's HTTP extension (CORS, HEAD and OPTIONS answered from GET's route): its
    # dependency injection, loaded by default, costs a signal dispatch on every request.
    origins = app.ctx.origins.cors
    Extend(
        app,
        extensions=[HTTPExtension],
        built_in_extensions=False,
        config={
            "http_auto_trace": False,
            "cors": bool(origins),
            "cors_origins": origins,
            # Browser mode's cookies (refresh, and EventSource's stream) go cross-origin only
            # with credentials; an allowed origin is always an exact one, never `*`.
            "cors_supports_credentials": True,
            "cors_allow_headers": CORS_HEADERS,
            "cors_expose_headers": EXPOSED_HEADERS,
            "cors_max_age": 600,
        },
    )


async def _render_error(request: Request, exc: BaseException) -> HTTPResponse:
    """Errors raised outside an operation's pipeline: unknown routes, 405, 413, bad HTTP."""
    if isinstance(exc, RequestCancelled):
        # The client went away mid-request: nobody to answer; logged as nginx's 499.
        return HTTPResponse(status=CLIENT_CLOSED_REQUEST)
    reply = problem_reply(request, exc)
    return reply.response(reply.encode())


async def _open_resources(app: App) -> None:
    settings = app.ctx.settings
    assert settings.database_url
    app.ctx.db = await open_database(settings, settings.database_url)
    app.ctx.admission = AdmissionQueue(
        settings.hash_threads, settings.hash_queue_size, refusal=HashingBusy
    )
    app.ctx.fallback = Fallback()
    app.ctx.planner = import_planner()
    app.ctx.exports = export_slots()
    app.ctx.feeds = feed_slots()
    uses = TokenUses()
    app.ctx.gate = Gate(app.ctx.db, app.ctx.queries, AccessTokenReader(settings), uses)
    app.ctx.token_uses = asyncio.get_running_loop().create_task(
        uses.run(Executor(app.ctx.db), app.ctx.queries, settings.token_uses_interval),
        name="token-uses",
    )
    app.ctx.hub = Hub(
        settings.database_listen_url or settings.database_url, settings.events_per_user
    )
    app.ctx.purger = asyncio.get_running_loop().create_task(
        run_purger(Executor(app.ctx.db), app.ctx.queries, settings), name="purger"
    )
    app.ctx.scheduler = asyncio.get_running_loop().create_task(
        run_scheduler(Executor(app.ctx.db), app.ctx.queries, settings), name="reminders"
    )
    app.ctx.senders = start_senders(app)


async def _freeze_heap(app: App) -> None:
    """Move start-up objects (the parsed contract, compiled plans) out of the collector's
    reach, so full collections stay short and p99 close to p50."""
    gc.collect()
    gc.freeze()


async def _guard_loop(app: App) -> None:
    app.ctx.guard.start()


async def _end_streams(app: App) -> None:
    """Event streams end as the worker stops (so the graceful shutdown does not wait on them)."""
    await app.ctx.hub.stop()


async def _sample_metrics(app: App) -> None:
    loop = asyncio.get_running_loop()
    app.ctx.samplers = [loop.create_task(keep_sampling(app), name="metrics")]


async def keep_sampling(app: App) -> None:
    """Each worker's gauges, refreshed once a second until the worker stops."""
    while True:
        with suppress(Exception):  # a closing pool: the next round, or none
            app.ctx.sample()
        await asyncio.sleep(SAMPLE_SECONDS)


async def _close_resources(app: App) -> None:
    """Each background task ends here, awaited (one merely dropped was "destroyed but pending"
    as the loop closed)."""
    await stop_senders(app)
    for task in (app.ctx.purger, app.ctx.scheduler, app.ctx.token_uses, *app.ctx.samplers):
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
    app.ctx.guard.stop()
    await app.ctx.db.close()
    app.ctx.admission.close()
    app.ctx.fallback.close()
    app.ctx.planner.close()
    if app.ctx.metrics is not None:
        app.ctx.metrics.write()  # what the last turn tallied
    worker_stopped()
    log.info("worker %d stopped: background work ended, connections closed", os.getpid())
