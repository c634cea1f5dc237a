"""The body of GET /events: each committed change of the user as `event: change` (its id a
since value), within a second of its commit, on every open stream, whichever worker or
instance holds it; reminders as `event: reminder`; a comment line every heartbeat.

A stream keeps its position (a revision). On each change signal of its user (LISTEN, see
hub.py) it reads the feed after its position, so it sends each change once, in commit order,
and a signal that arrives late or twice costs a read, never an event. Last-Event-ID resumes
right after that event (replayed from the feed)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from server.sync import feed, hub

PAGE = 500


async def run(
    app: Any, stream: hub.Stream, position: int, rows: list[Any], loc: list[Any], response: Any
) -> None:
    secret, user_id = app.ctx.settings.jwt_secret, stream.user_id
    heartbeat = app.ctx.settings.events_heartbeat_seconds
    await response.send(": stream open\n\n")
    while True:
        for row in rows[:PAGE]:
            position = row["revision"]
            data = orjson.dumps(feed.change(row), option=orjson.OPT_UTC_Z).decode()
            token = feed.encode(secret, user_id, position)
            await response.send(f"event: change\nid: {token}\ndata: {data}\n\n")
        if len(rows) > PAGE:  # more were ready: read on before waiting
            rows, *_ = await _read(app, user_id, position, loc)
            continue
        rows = []
        try:
            signal = await asyncio.wait_for(stream.queue.get(), heartbeat)
        except TimeoutError:
            await response.send(": heartbeat\n\n")
            continue
        changed = False
        while True:  # the signals of one burst: one read of the feed serves them all
            if signal is hub.CLOSE:
                return
            if signal.get("kind") == "reminder":
                data = orjson.dumps(signal.get("reminder")).decode()
                await response.send(f"event: reminder\ndata: {data}\n\n")
            changed = changed or signal.get("kind") == "change"
            if stream.queue.empty():
                break
            signal = stream.queue.get_nowait()
        if changed:
            rows, *_ = await _read(app, user_id, position, loc)


async def _read(app: Any, user_id: str, position: int, loc: list[Any]) -> Any:
    """The feed after position. Shielded: a client that vanishes cancels the stream, and a
    transaction cancelled halfway would go back to the pool still open."""
    return await asyncio.shield(feed.read_rows(app, user_id, position, None, False, PAGE, loc))
