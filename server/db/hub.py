"""One worker's event streams and its one LISTEN connection (not one per stream).

The connection opens with the first stream (the service starts while PostgreSQL is down) on
DATABASE_LISTEN_URL when set (LISTEN does not work through PgBouncer's transaction pooling),
else DATABASE_URL. A change or reminder signal goes to the queues of that user's streams on this
worker; a session signal (a login family of the user ended, migration 0032) rings them: each
re-checks its session before it sends anything more. If the connection drops, or the worker
stops, every stream is rung to end (a client reconnects with Last-Event-ID and loses nothing).

The per-user stream limit holds across workers and instances: a stream holds one of the user's
EVENTS_PER_USER advisory locks, taken by the listening connection (session locks, so a worker
that dies frees them with its connection)."""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from server.db import signals

log = logging.getLogger("todo_api")
LOCK_CLASS = "todo-api/events:"


@dataclass(eq=False)
class Stream:
    """One open stream as the hub sees it; server/sync/events.py drives it."""

    user_id: str
    session_id: str  # the login family of the access token that opened it
    slot: int
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    stale: bool = False  # rung since the stream last checked its session
    closing: bool = False  # the worker stops or lost its signals: the stream ends
    # What the stream awaits within (events.py): ringing moves it to now, which interrupts
    # whatever the stream is doing, a send to a client that does not read included.
    alarm: asyncio.Timeout | None = None

    def ring(self) -> None:
        self.stale = True
        if self.alarm is not None:
            with suppress(RuntimeError):  # already going off
                self.alarm.reschedule(0)


class Hub:
    def __init__(self, dsn: str, per_user: int) -> None:
        self.dsn, self.per_user = dsn, per_user
        self.streams: dict[str, set[Stream]] = {}
        self._conn: Any = None
        self._lock = asyncio.Lock()  # one query at a time on the listening connection
        self._closed = False

    @property
    def open_streams(self) -> int:
        return sum(len(s) for s in self.streams.values())

    async def open(self, user_id: str, session_id: str) -> Stream | None:
        """A new stream of the user, or None when all their slots are taken."""
        async with self._lock:
            conn = await self._connection()
            taken = {s.slot for s in self.streams.get(user_id, ())}
            for slot in range(self.per_user):
                if slot in taken:
                    continue  # session locks are re-entrant: ours must be skipped by hand
                if await conn.fetchval(
                    "SELECT pg_try_advisory_lock(hashtext($1), $2)", LOCK_CLASS + user_id, slot
                ):
                    stream = Stream(user_id, session_id, slot)
                    self.streams.setdefault(user_id, set()).add(stream)
                    return stream
        return None

    async def close(self, stream: Stream) -> None:
        mine = self.streams.get(stream.user_id, set())
        if stream not in mine:
            return
        mine.discard(stream)
        if not mine:
            self.streams.pop(stream.user_id, None)
        async with self._lock:
            if self._conn is not None and not self._conn.is_closed():
                try:
                    await self._conn.execute(
                        "SELECT pg_advisory_unlock(hashtext($1), $2)",
                        LOCK_CLASS + stream.user_id,
                        stream.slot,
                    )
                except (asyncpg.PostgresError, OSError) as exc:
                    log.info("event stream lock not released: %s", exc)

    async def stop(self) -> None:
        """End every stream (the worker stops) and close the connection."""
        self._closed = True
        self._end_all()
        if self._conn is not None:
            try:
                await self._conn.close(timeout=2)
            except (TimeoutError, asyncpg.PostgresError, OSError):
                self._conn.terminate()

    async def _connection(self) -> Any:
        if self._closed:
            raise ConnectionError("the worker is stopping")
        if self._conn is None or self._conn.is_closed():
            conn = await asyncpg.connect(self.dsn, timeout=3)
            await conn.add_listener(signals.CHANNEL, self._signal)
            conn.add_termination_listener(lambda _conn: self._end_all())
            self._conn = conn
        return self._conn

    def _signal(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        signal = signals.parse(payload)
        if signal is None:
            return
        session = signal.get("kind") == "session"
        for stream in self.streams.get(signal["user_id"], ()):
            if session:
                stream.ring()
            else:
                stream.queue.put_nowait(signal)

    def _end_all(self) -> None:
        for streams in list(self.streams.values()):
            for stream in streams:
                stream.closing = True
                stream.ring()
