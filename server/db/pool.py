"""The connections of one worker: opened on demand, handed out in arrival order, each acquire
bounded in time."""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from contextlib import asynccontextmanager, suppress
from typing import Any

import asyncpg
import orjson

from server.config import Settings

IDLE_LIFETIME = 60.0  # seconds an unused connection is kept open
STATEMENT_GRACE = 1.0  # seconds asyncpg waits past the server's statement_timeout


async def init_connection(conn: asyncpg.Connection) -> None:
    # uuid as text: the contract speaks strings, and orjson refuses asyncpg's UUID type.
    await conn.set_type_codec("uuid", encoder=str, decoder=str, schema="pg_catalog", format="text")
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda v: orjson.dumps(v).decode(),
        decoder=orjson.loads,
        schema="pg_catalog",
        format="text",
    )


class Database:
    """Up to `size` asyncpg connections, opened when first needed (the service starts, and
    answers 503, while PostgreSQL is down), closed after IDLE_LIFETIME unused.

    A request that finds none free waits in line: a connection coming back goes to the first
    in line, never to a newcomer (asyncpg's pool lets a newcomer take a connection freed for a
    waiter, and under load a few requests waited many turns: list 20's p99 was 3.4x its p50).
    A wait longer than acquire_timeout is a TimeoutError (503), told by one timer for the whole
    line rather than one per waiting request. A connection goes back as it is,
    with no reset round trip: the service keeps no session state (advisory locks are
    transaction-scoped, settings SET LOCAL); an open transaction is rolled back first.

    It is also a valid aiosql client: `await queries.get_user(db, id=...)` acquires and
    releases a connection around one statement.
    """

    def __init__(
        self,
        connect: Callable[[], Awaitable[asyncpg.Connection]],
        size: int,
        acquire_timeout: float,
    ) -> None:
        self.connect, self.size, self.acquire_timeout = connect, size, acquire_timeout
        self.opened = 0  # connections open, or being opened
        self._idle: deque[tuple[asyncpg.Connection, float]] = deque()  # most recent last
        self._line: deque[asyncio.Future[asyncpg.Connection | None]] = deque()
        self._deadlines: dict[asyncio.Future[asyncpg.Connection | None], float] = {}
        self._expiry: asyncio.TimerHandle | None = None  # at the earliest deadline in line
        self._closed = False
        self._sweeper: asyncio.TimerHandle | None = None

    def __dir__(self) -> list[str]:
        """aiosql asks `"acquire" in dir(client)` before every statement; the default dir()
        lists and sorts every attribute of the class and its bases each time."""
        return ["acquire", "release", "transaction"]

    def acquire(self) -> _Acquire:
        """`async with db.acquire() as conn`, or `conn = await db.acquire()` then release."""
        return _Acquire(self)

    @property
    def in_use(self) -> int:
        """Connections handed out, or being opened for a request (the metrics read it)."""
        return self.opened - len(self._idle)

    @property
    def waiting(self) -> int:
        """Requests waiting in line for a connection (the metrics read it)."""
        return sum(not turn.done() for turn in self._line)

    async def take(self) -> asyncpg.Connection:
        """A connection, to give back with release (what `acquire` does around a block)."""
        first_in_line = False
        while True:
            if self._closed:
                raise asyncpg.InterfaceError("the database pool is closed")
            while self._idle:
                conn, _ = self._idle.pop()
                if not conn.is_closed():
                    return conn
                self.opened -= 1
            if self.opened < self.size:
                return await self._open()
            conn = await self._wait(first_in_line)
            if conn is not None:
                return conn
            first_in_line = True  # a connection closed: open one in its place

    async def _open(self) -> asyncpg.Connection:
        self.opened += 1
        try:
            return await self.connect()
        except BaseException:
            self.opened -= 1
            self._hand_on(None)
            raise

    async def _wait(self, first: bool) -> asyncpg.Connection | None:
        loop = asyncio.get_running_loop()
        turn: asyncio.Future[asyncpg.Connection | None] = loop.create_future()
        if first:
            self._line.appendleft(turn)
        else:
            self._line.append(turn)
        deadline = self._deadlines[turn] = loop.time() + self.acquire_timeout
        if self._expiry is None:
            self._expiry = loop.call_at(deadline, self._expire)
        try:
            return await turn
        except BaseException:
            if turn.done() and not turn.cancelled() and turn.exception() is None:
                self._give_back(turn.result())  # handed over as this request gave up
            raise
        finally:
            del self._deadlines[turn]

    def _expire(self) -> None:
        """Fail the waits past their deadline, and set the timer for the next one (every
        deadline is acquire_timeout after its arrival: the earliest is about the oldest's)."""
        self._expiry = None
        now = asyncio.get_running_loop().time()
        pending = []
        for turn, deadline in self._deadlines.items():
            if turn.done():
                continue
            if deadline <= now:
                turn.set_exception(TimeoutError("no database connection came free in time"))
            else:
                pending.append(deadline)
        if pending:
            self._expiry = asyncio.get_running_loop().call_at(min(pending), self._expire)

    def _hand_on(self, conn: asyncpg.Connection | None) -> None:
        """To the first in line; None tells it to open a connection in a closed one's place."""
        while self._line:
            turn = self._line.popleft()
            if not turn.done():
                turn.set_result(conn)
                return
        if conn is not None:
            self._idle.append((conn, asyncio.get_running_loop().time()))

    def _give_back(self, conn: asyncpg.Connection | None) -> None:
        if conn is None:
            self._hand_on(None)
        elif conn.is_closed() or self._closed:
            conn.terminate()
            self.opened -= 1
            self._hand_on(None)
        else:
            self._hand_on(conn)
            self._close_stale()

    def _close_stale(self) -> None:
        """Idle connections unused for IDLE_LIFETIME are closed (looked at on every release,
        and by a timer while any is idle); under load a released connection goes straight to
        the next in line and there is nothing to look at."""
        if not self._idle:
            return
        loop = asyncio.get_running_loop()
        while self._idle and loop.time() - self._idle[0][1] >= IDLE_LIFETIME:
            self._idle.popleft()[0].terminate()
            self.opened -= 1
        if self._idle and self._sweeper is None:
            self._sweeper = loop.call_later(IDLE_LIFETIME, self._sweep)

    def _sweep(self) -> None:
        self._sweeper = None
        self._close_stale()

    async def release(self, conn: asyncpg.Connection) -> None:
        """Back to the pool (a statement cancelled on it is still being cancelled: asyncpg
        waits for that before the next one); an open transaction is rolled back first."""
        if not conn.is_closed() and conn.is_in_transaction():
            try:
                await conn.execute("ROLLBACK")
            except Exception:
                conn.terminate()
            except BaseException:
                conn.terminate()
                self._give_back(conn)
                raise
        self._give_back(conn)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        async with self.acquire() as conn:
            begun = False
            try:
                async with conn.transaction():
                    begun = True
                    yield conn
            except BaseException:
                if not begun:
                    # The BEGIN failed or was cancelled (its client went away): asyncpg still
                    # counts that transaction as open on the connection, and would make the
                    # next one a SAVEPOINT outside any transaction. Not reusable: closed.
                    conn.terminate()
                raise

    async def close(self) -> None:
        self._closed = True
        for timer in (self._sweeper, self._expiry):
            if timer is not None:
                timer.cancel()
        while self._idle:
            with suppress(Exception):
                await self._idle.pop()[0].close(timeout=1)
        for turn in self._line:
            if not turn.done():
                turn.set_exception(asyncpg.InterfaceError("the database pool is closed"))


class _Acquire:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.conn: asyncpg.Connection | None = None

    def __await__(self) -> Generator[Any, None, asyncpg.Connection]:
        return self.db.take().__await__()

    async def __aenter__(self) -> asyncpg.Connection:
        self.conn = await self.db.take()
        return self.conn

    async def __aexit__(self, *exc: object) -> None:
        assert self.conn is not None
        await self.db.release(self.conn)


def keeps_statements(settings: Settings) -> bool:
    """Whether a connection keeps its prepared statements (and their plans) from one call to
    the next: directly, yes; through PgBouncer, no (connect_options)."""
    return not settings.db_pgbouncer


def connect_options(settings: Settings) -> dict[str, Any]:
    """What each connection is opened with, directly or through PgBouncer.

    PgBouncer in transaction mode hands each transaction (each statement, outside one) any
    server connection, so nothing may outlive it. asyncpg's named prepared statements would:
    with statement_cache_size=0 it uses the unnamed statement, sent Parse-Describe-Flush then
    Bind-Execute-Sync, which PgBouncer keeps on one server connection. PgBouncer 1.18 also
    refuses a startup parameter it does not track (statement_timeout): the server-side timeout
    is then the role's or PgBouncer's `connect_query`, and asyncpg's command_timeout (which
    cancels through PgBouncer) bounds every statement either way. Directly, the server's
    timeout comes first (command_timeout is a second later), so a statement that ran too long
    is told from a database that stopped answering (server/errors.py)."""
    server_settings = {"application_name": "todo-api", "timezone": "UTC"}
    if not settings.db_pgbouncer:
        server_settings["statement_timeout"] = str(int(settings.db_statement_timeout * 1000))
    return {
        "timeout": settings.db_connect_timeout,
        "command_timeout": settings.db_statement_timeout
        + (0 if settings.db_pgbouncer else STATEMENT_GRACE),
        "statement_cache_size": 100 if keeps_statements(settings) else 0,
        "server_settings": server_settings,
    }


class DatabaseUnreachable(ConnectionError):
    """No connection to PostgreSQL could be opened (refused, timed out, no route, no such host
    or socket): a ConnectionError whatever OSError the attempt raised, so that the answer is
    a 503 while other OSErrors stay what they are."""


async def _connect(settings: Settings, dsn: str) -> asyncpg.Connection:
    try:
        conn = await asyncpg.connect(dsn, **connect_options(settings))
    except OSError as exc:
        raise DatabaseUnreachable(f"{type(exc).__name__}: {exc}") from exc
    try:
        await init_connection(conn)
    except BaseException:
        conn.terminate()
        raise
    return conn


async def open_database(settings: Settings, dsn: str) -> Database:
    """No connection is opened yet: the first request opens one."""
    connect = functools.partial(_connect, settings, dsn)
    return Database(connect, settings.db_pool_size, settings.db_acquire_timeout)
