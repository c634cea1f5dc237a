"""Handlers of the contract tag `system`: liveness, readiness, the docs, the console and the
contract."""

from __future__ import annotations

import asyncio

from server.contract.context import Request
from server.contract.reply import Reply
from server.errors import NO_ROUTE, NotFound, ServiceUnavailable
from server.observability.metrics import CONTENT_TYPE

HTML = "text/html; charset=utf-8"


async def health(request: Request) -> Reply:
    return Reply({"status": "ok"})


async def ready(request: Request) -> Reply:
    """200 only when the database answers, every migration in migrations/ is applied and the
    outbox's oldest unsent row is younger than OUTBOX_READY_SECONDS (its age is in the body)."""
    app = request.app
    retry = app.ctx.settings.retry_after_seconds
    try:
        rows = app.ctx.queries.applied_migrations(request.ctx.db)
        applied = {row["migration_id"] async for row in rows}
    except Exception:
        raise ServiceUnavailable(retry, "The database is not reachable.") from None
    missing = app.ctx.migration_ids - applied
    if missing:
        raise ServiceUnavailable(retry, f"{len(missing)} migration(s) not applied yet.")
    oldest = await app.ctx.queries.outbox_oldest_unsent(request.ctx.db)
    limit = app.ctx.settings.outbox_ready_seconds
    if oldest is not None and oldest > limit:
        raise ServiceUnavailable(
            retry, f"The outbox's oldest unsent message has waited {oldest:.0f} s (over {limit} s)."
        )
    return Reply({"status": "ready", "outbox": {"oldest_unsent_seconds": oldest}})


async def docs(request: Request) -> Reply:
    return Reply(request.app.ctx.docs_html, content_type=HTML)


async def console(request: Request) -> Reply:
    """Swagger UI, unless CONSOLE_ENABLED switched it off (server/system/console.py)."""
    page = request.app.ctx.console_html
    if page is None:
        raise NotFound(NO_ROUTE)
    return Reply(page, content_type=HTML)


async def redoc(request: Request) -> Reply:
    """The reference lives at /docs; /redoc is where others keep it."""
    return Reply(status=301, headers={"Location": "/docs"})


async def openapi_yaml(request: Request) -> Reply:
    return Reply(request.app.ctx.contract.yaml_bytes, content_type="application/yaml")


async def openapi_json(request: Request) -> Reply:
    return Reply(request.app.ctx.contract.json_bytes)


async def metrics(request: Request) -> Reply:
    """Every worker's metrics in Prometheus text; 404, like an unknown route, when turned off."""
    app = request.app
    if app.ctx.metrics is None:
        raise NotFound(NO_ROUTE)
    app.ctx.sample()
    app.ctx.metrics.write()
    # Reading every worker's values and writing them out takes tens of milliseconds: off the
    # event loop, which the thread lets run every few milliseconds meanwhile.
    text = await asyncio.to_thread(app.ctx.metrics.text)
    return Reply(text, content_type=CONTENT_TYPE)
