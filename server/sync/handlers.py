"""Handlers of the change feed (GET /changes) and the live event stream (GET /events)."""

from __future__ import annotations

from typing import Any

from server.context import Request
from server.contract.reply import Reply, Streamed
from server.errors import TooManyRequests
from server.sync import events, feed


async def list_changes(request: Request) -> Reply:
    query = request.ctx.query
    page = await feed.read_changes(
        request.app, request.ctx.user_id, query.get("since"), query["limit"], ["query", "since"]
    )
    return Reply(page)


async def stream_events(request: Request) -> Reply:
    app, user_id = request.app, request.ctx.user_id
    secret = app.ctx.settings.jwt_secret
    last_id = request.ctx.header_params.get("Last-Event-ID")
    loc = ["header", "Last-Event-ID"]
    if last_id is None:
        state = await app.ctx.queries.sync_state(app.ctx.db, user_id=user_id)
        position = state["revision"]
    else:
        position, end = feed.decode(secret, user_id, last_id, loc)
        if end is not None:
            feed.invalid(loc)
    backlog, _revision, _upto = await feed.read_rows(
        app, user_id, position, None, False, events.PAGE, loc
    )
    stream = await app.ctx.hub.open(user_id)
    if stream is None:
        limit = app.ctx.settings.events_per_user
        raise TooManyRequests(5, f"At most {limit} event streams per user are open at once.")

    metrics = app.ctx.metrics
    if metrics is not None:
        metrics.event_streams.inc()

    async def send(response: Any) -> None:
        await events.run(app, stream, position, backlog, loc, response)

    async def close() -> None:
        if metrics is not None:
            metrics.event_streams.dec()
        await app.ctx.hub.close(stream)

    return Streamed(send=send, close=close)
