"""Handlers of the change feed (GET /changes) and the live event stream (GET /events)."""

from __future__ import annotations

from typing import Any

from server.contract.context import Request
from server.contract.reply import Reply, Streamed
from server.errors import TooManyRequests
from server.sync import events, feed


async def list_changes(request: Request) -> Reply:
    query = request.ctx.query
    page = await feed.read_changes(request, query.get("since"), query["limit"], ["query", "since"])
    return Reply(page)


async def stream_events(request: Request) -> Reply:
    """The stream; HEAD answers the headers GET would (checks included) and ends, opening no
    stream. The start's read checks the session (events.start)."""
    app, ctx = request.app, request.ctx
    last_id = ctx.header_params.get("Last-Event-ID")
    loc = ["header", "Last-Event-ID"]
    if last_id is None and "since" in ctx.query:  # EventSource's first connection
        last_id, loc = ctx.query["since"], ["query", "since"]
    position = None
    if last_id is not None:
        position, end = feed.decode(app.ctx.settings.jwt_secret, ctx.user_id, last_id, loc)
        if end is not None:
            feed.invalid(loc)
    begin = await events.start(request.ctx.db, app.ctx.queries, ctx.token, position, loc)
    if request.method == "HEAD":
        return Streamed()
    stream = await app.ctx.hub.open(ctx.user_id, ctx.session_id)
    if stream is None:
        limit = app.ctx.settings.events_per_user
        raise TooManyRequests(5, f"At most {limit} event streams per user are open at once.")

    metrics = app.ctx.metrics
    if metrics is not None:
        metrics.event_streams.inc()
    expires = ctx.caller.expires

    async def send(response: Any) -> None:
        await events.run(app, stream, ctx.token, begin, expires, loc, response)

    async def close() -> None:
        if metrics is not None:
            metrics.event_streams.dec()
        await app.ctx.hub.close(stream)

    return Streamed(send=send, close=close)
