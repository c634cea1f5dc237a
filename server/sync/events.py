"""The body of GET /events: each committed change of the user as `event: change` (its id a since
value), within a second of its commit, on every open stream, whichever worker or instance holds
it; reminders as `event: reminder`; a comment line every heartbeat.

A stream keeps its position (a revision). On each change signal of its user (LISTEN, see
server/db/hub.py) it reads the feed after its position, so it sends each change once, in commit
order, and a signal that arrives late or twice costs a read, never an event. Last-Event-ID
resumes right after that event (replayed from the feed).

A stream lives only as long as what opened it (SPEC §9). It ends with `event: end`, data
`{"reason"}`: `token-expired` at its access token's `exp` (a deadline of its own, no signal
needed); `session-ended` once its login family no longer works (logout, logout-all, the session
ended by id, a password change, a reused refresh token, the family's lifetime), or, for a stream
opened with a personal access token, once the token does not (deleted, its expiry, a password
reset);
`account-deleted`; `reconnect` when the worker stops or loses its signals, or the database fails
the stream. A revocation reaches it as a session signal from PostgreSQL (migration 0032, every
instance), which interrupts whatever it is doing, a send to a client that does not read
included. It re-checks its session in the statement that reads the feed, once per delivery
burst, so what it sends was committed before any revocation that statement did not see."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, NamedTuple, NoReturn

import orjson

from server.contract.context import App
from server.db import hub
from server.db.executor import Executor
from server.db.queries import Queries, TokenParams
from server.errors import DATABASE_DOWN, ApiError
from server.sync import feed

log = logging.getLogger("todo_api")
PAGE = 500
END_GRACE = 0.25  # seconds the last event may wait for a client that does not read


class Ended(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Start(NamedTuple):
    """A read of the stream's feed: its position, the rows after it, its session's time left."""

    position: int
    rows: list[Any]
    session_left: float


async def start(
    db: Executor, queries: Queries, token: TokenParams, position: int | None, loc: list[Any]
) -> Start:
    """Where a new stream starts (after `position`; None: now), read on the request's executor,
    whose check of the session (server/access/gate.py) is 401 when it fails; 400 or 410 for a
    position the feed cannot resume from. Its backlog is read once the stream listens (its first
    read, in run): a revocation or change committed in between reaches it either way."""
    return await _read(db, queries, token, position, loc, limit=0)


async def run(
    app: App,
    stream: hub.Stream,
    token: TokenParams,
    begin: Start,
    expires: int,
    loc: list[Any],
    response: Any,
) -> None:
    """Follows the feed until the stream ends, then says why (token: the account check's
    parameters; expires: the access token's `exp`)."""
    follower = _Follower(app, stream, token, begin, expires, loc, response)
    await response.send(": stream open\n\n")
    reason = await follower.follow()
    data = orjson.dumps({"reason": reason}).decode()
    try:
        async with asyncio.timeout(END_GRACE):
            await response.send(f"event: end\ndata: {data}\n\n")
    except TimeoutError:
        pass  # the client stopped reading: Streamed cuts the connection


class _Follower:
    def __init__(
        self,
        app: App,
        stream: hub.Stream,
        token: TokenParams,
        begin: Start,
        expires: int,
        loc: list[Any],
        response: Any,
    ) -> None:
        self.app, self.stream, self.loc, self.response = app, stream, loc, response
        self.db = Executor(app.ctx.db)  # this stream interprets its session check itself
        self.token = token
        self.loop = asyncio.get_running_loop()
        self.expires = self.loop.time() + (expires - time.time())  # exp in the loop's time
        self.deadline = min(self.expires, self.loop.time() + begin.session_left)
        self.position: int = begin.position
        self.rows: list[Any] | None = None  # None: read the feed (and the session) first
        self.reminders: list[Any] = []  # received, not sent yet

    async def follow(self) -> str:
        """Delivers until the stream must end; the reason."""
        while True:
            try:
                async with asyncio.timeout_at(self.deadline) as alarm:
                    self.stream.alarm = alarm
                    try:
                        await self._deliver()
                    finally:
                        self.stream.alarm = None
            except Ended as ended:
                return ended.reason
            except TimeoutError as exc:
                if not alarm.expired():
                    return _unavailable(exc)
                if self.stream.closing:
                    return "reconnect"
                if self.loop.time() >= self.expires:
                    return "token-expired"
                # Rung by a session signal, or the family's lifetime is over: the next read
                # says whether the session still works, and until when.
                self.rows, self.deadline = None, self.expires
            except (ApiError, *DATABASE_DOWN) as exc:
                return _unavailable(exc)

    async def _deliver(self) -> NoReturn:
        heartbeat = self.app.ctx.settings.events_heartbeat_seconds
        send = self.response.send
        while True:
            if self.stream.closing:
                raise Ended("reconnect")
            while self.rows is None or self.stream.stale:  # rung while reading: read again
                self.rows = await self._read()
            while self.reminders:
                self._on_time()
                data = orjson.dumps(self.reminders[0]).decode()
                await send(f"event: reminder\ndata: {data}\n\n")
                del self.reminders[0]
            rows = self.rows
            for row in rows[:PAGE]:
                self._on_time()
                await send(self._event(row))
                self.position = row["revision"]
            if len(rows) > PAGE:  # more were ready: read on before waiting
                self.rows = None
                continue
            self.rows = []
            if self.stream.stale:
                continue
            try:
                async with asyncio.timeout(heartbeat):
                    signal = await self.stream.queue.get()
            except TimeoutError:
                await send(": heartbeat\n\n")
                continue
            while True:  # the signals of one burst: one read of the feed serves them all
                if signal.get("kind") == "reminder":
                    self.reminders.append(signal.get("reminder"))
                    self.rows = None
                elif signal.get("kind") == "change":
                    self.rows = None
                if self.stream.queue.empty():
                    break
                signal = self.stream.queue.get_nowait()

    def _on_time(self) -> None:
        """A burst may run past the token's exp without ever waiting: checked on each event."""
        if self.loop.time() >= self.expires:
            raise Ended("token-expired")

    def _event(self, row: Any) -> str:
        data = orjson.dumps(feed.change(row), option=orjson.OPT_UTC_Z).decode()
        token = feed.encode(self.app.ctx.settings.jwt_secret, self.stream.user_id, row["revision"])
        return f"event: change\nid: {token}\ndata: {data}\n\n"

    async def _read(self) -> list[Any]:
        """The feed after the position, read with the session's check. Shielded: a client that
        vanishes cancels the stream, and a transaction cancelled halfway would go back to the
        pool still open."""
        self.stream.stale = False
        read = _read(self.db, self.app.ctx.queries, self.token, self.position, self.loc)
        begin = await asyncio.shield(read)
        deadline = min(self.expires, self.loop.time() + begin.session_left)
        alarm = self.stream.alarm
        if deadline != self.deadline and alarm is not None and not self.stream.stale:
            alarm.reschedule(deadline)  # (rung meanwhile: the ring stands, and reads again)
        self.deadline = deadline
        return begin.rows


def _unavailable(exc: BaseException) -> str:
    """The database failed the stream (down, or the pool exhausted): the client reconnects
    with Last-Event-ID, and meets the 503 while it lasts."""
    log.warning("event stream ended: %s: %s", type(exc).__name__, exc)
    return "reconnect"


async def _read(
    db: Executor,
    queries: Queries,
    token: TokenParams,
    position: int | None,
    loc: list[Any],
    limit: int = PAGE,
) -> Start:
    async with db.transaction() as conn:
        state = await queries.stream_state(conn, **token)
        if state is None:
            raise Ended("account-deleted")
        if not state["account_ok"]:
            raise Ended("session-ended")
        if position is None:
            return Start(state["revision"], [], state["session_left"])
        rows, *_ = await feed.rows_after(
            conn, queries, token["user_id"], state, position, None, False, limit, loc
        )
    return Start(position, rows, state["session_left"])
