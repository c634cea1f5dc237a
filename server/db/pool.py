"""The asyncpg pool of one worker (the named queries are in server/db/queries.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Generator
from contextlib import asynccontextmanager, suppress
from typing import Any

import asyncpg
import orjson

from server.config import Settings

log = logging.getLogger("todo_api")

# One round trip (simple query protocol): asyncpg's transaction() would spend a second on the SET.
BEGIN_SNAPSHOT = (
    "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL plan_cache_mode = force_custom_plan"
)


async def _init_connection(conn: asyncpg.Connection) -> None:
    # uuid as text: the contract speaks strings, and orjson refuses asyncpg's UUID type.
    await conn.set_type_codec("uuid", encoder=str, decoder=str, schema="pg_catalog", format="text")
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda v: orjson.dumps(v).decode(),
        decoder=orjson.loads,
        schema="pg_catalog",
        format="text",
    )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Released connections skip asyncpg's reset round trip (RESET ALL, UNLISTEN *, ...): this
    service sets no session state (advisory locks are transaction-scoped, settings SET LOCAL),
    and asyncpg still rolls back any transaction left open before calling this."""


class Database:
    """A pool whose every acquire is bounded in time, so an outage becomes a 503, not a hang,
    and served in arrival order.

    asyncpg's pool wakes the first waiter when a connection comes back, but a request arriving
    before that waiter runs takes the connection, and the waiter goes back to the end of the
    line: under load a few requests wait many turns (list 20 with 32 clients and 10 connections:
    p99 3.4x p50). A FIFO semaphore with one permit per connection hands out the turns instead.

    It is also a valid aiosql client: `await queries.get_user(db, id=...)` acquires and
    releases a connection around one statement.
    """

    def __init__(self, pool: asyncpg.Pool, acquire_timeout: float) -> None:
        self.pool = pool
        self.acquire_timeout = acquire_timeout
        self._turns = asyncio.Semaphore(pool.get_max_size())
        self.waiting = 0  # requests waiting for a turn (the metrics read it)

    @property
    def in_use(self) -> int:
        """Connections handed out and not yet released."""
        return self.pool.get_size() - self.pool.get_idle_size()

    def acquire(self) -> _Acquire:
        """`async with db.acquire() as conn`, or `conn = await db.acquire()` then release."""
        return _Acquire(self)

    async def _take(self) -> asyncpg.Connection:
        if self._turns.locked():
            self.waiting += 1
            try:
                async with asyncio.timeout(self.acquire_timeout):
                    await self._turns.acquire()
            finally:
                self.waiting -= 1
        else:
            await self._turns.acquire()  # free: returns at once
        try:
            # A turn means a connection is free, or can be opened within the connect timeout:
            # no timer (asyncpg's would run the acquire as a task of its own).
            return await self.pool.acquire()
        except BaseException:
            self._turns.release()
            raise

    async def release(self, conn: asyncpg.Connection) -> None:
        try:
            await self.pool.release(conn)
        finally:
            self._turns.release()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        async with self.acquire() as conn, conn.transaction():
            yield conn

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection in a read-only transaction whose statements all see one snapshot and are
        planned for their actual arguments: a cached generic plan cannot see which of a query's
        optional filters are off (see listing.read_page)."""
        async with self.acquire() as conn:
            await conn.execute(BEGIN_SNAPSHOT)
            try:
                yield conn
            except BaseException:
                with suppress(Exception):  # a broken connection is dropped by the pool
                    await conn.execute("ROLLBACK")
                raise
            await conn.execute("COMMIT")

    async def close(self) -> None:
        await self.pool.close()


class _Acquire:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.conn: asyncpg.Connection | None = None

    def __await__(self) -> Generator[Any, None, asyncpg.Connection]:
        return self.db._take().__await__()

    async def __aenter__(self) -> asyncpg.Connection:
        self.conn = await self.db._take()
        return self.conn

    async def __aexit__(self, *exc: object) -> None:
        assert self.conn is not None
        await self.db.release(self.conn)


def connect_options(settings: Settings) -> dict[str, Any]:
    """What each connection is opened with, directly or through PgBouncer.

    PgBouncer in transaction mode hands each transaction (each statement, outside one) any
    server connection, so nothing may outlive it. asyncpg's named prepared statements would:
    with statement_cache_size=0 it uses the unnamed statement, sent Parse-Describe-Flush then
    Bind-Execute-Sync, which PgBouncer keeps on one server connection. PgBouncer 1.18 also
    refuses a startup parameter it does not track (statement_timeout): the server-side timeout
    is then the role's or PgBouncer's `connect_query`, and asyncpg's command_timeout (which
    cancels through PgBouncer) bounds every statement either way."""
    server_settings = {"application_name": "todo-api", "timezone": "UTC"}
    if not settings.db_pgbouncer:
        server_settings["statement_timeout"] = str(int(settings.db_statement_timeout * 1000))
    return {
        "timeout": settings.db_connect_timeout,
        "command_timeout": settings.db_statement_timeout,
        "statement_cache_size": 0 if settings.db_pgbouncer else 100,
        "server_settings": server_settings,
    }


async def open_database(settings: Settings, dsn: str) -> Database:
    """Lazy pool (min_size 0): the service starts, and answers 503, while PostgreSQL is down."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=0,
        max_size=settings.db_pool_size,
        max_inactive_connection_lifetime=60,
        init=_init_connection,
        reset=_keep_session,
        **connect_options(settings),
    )
    return Database(pool, settings.db_acquire_timeout)
