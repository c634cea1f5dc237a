"""Where statements run, one type for every place: the pool (each statement on a connection of
its own, acquired and released around it), or one connection in a transaction, whose
transaction() is a savepoint.

The named queries take an Executor: aiosql's asyncpg adapter calls fetch, fetchrow, fetchval and
execute on a client that has no `acquire`. server/access/gate.py's CallerExecutor checks the
caller's account around each statement; this one checks nothing (unsecured operations, the
background loops)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, Self, TypeAlias

import asyncpg

from server.db.pool import Database

# How often a transaction that lost a race (a deadlock's victim, a key or position taken
# meanwhile, a version changed under it) is run before its error stands.
ATTEMPTS = 3
Row: TypeAlias = asyncpg.Record  # read as a Mapping[str, Any] (asyncpg ships no types: Any to mypy)
Statement = Callable[..., Awaitable[Any]]  # one of asyncpg.Connection's, unbound
STATEMENTS = ("execute", "fetch", "fetchrow", "fetchval")


class Executor:
    __slots__ = ("conn", "pool")

    def __init__(self, pool: Database, conn: asyncpg.Connection | None = None) -> None:
        self.pool, self.conn = pool, conn

    @property
    def alone(self) -> bool:
        """Whether each statement is a transaction of its own (on the pool)."""
        return self.conn is None

    def __dir__(self) -> list[str]:
        """aiosql asks `"acquire" in dir(client)` before every statement: none here, so it
        calls the statements themselves (and dir() stays short)."""
        return [*STATEMENTS, "transaction"]

    # The statements hand back _run's coroutine rather than awaiting it in a coroutine of their
    # own: a layer less to enter on the call and on every resumption while the statement waits.
    def fetch(self, sql: str, *args: object) -> Coroutine[Any, Any, list[Row]]:
        return self._run(asyncpg.Connection.fetch, sql, args)

    def fetchrow(self, sql: str, *args: object) -> Coroutine[Any, Any, Row | None]:
        return self._run(asyncpg.Connection.fetchrow, sql, args)

    def fetchval(self, sql: str, *args: object) -> Coroutine[Any, Any, object]:
        return self._run(asyncpg.Connection.fetchval, sql, args)

    def execute(self, sql: str, *args: object) -> Coroutine[Any, Any, str]:
        return self._run(asyncpg.Connection.execute, sql, args)

    async def _run(self, statement: Statement, sql: str, args: tuple[object, ...]) -> Any:
        if self.conn is not None:
            return await self.run(self.conn, statement, sql, args)
        pool = self.pool
        conn = await pool.take()  # (`async with pool.acquire()`, without its object and frames)
        try:
            return await self.run(conn, statement, sql, args)
        finally:
            await pool.release(conn)

    async def run(
        self, conn: asyncpg.Connection, statement: Statement, sql: str, args: tuple[object, ...]
    ) -> Any:
        """One statement on `conn`, its answer as asyncpg gives it."""
        return await statement(conn, sql, *args)

    def on(self, conn: asyncpg.Connection) -> Self:
        """An executor like this one whose statements run on `conn`."""
        return type(self)(self.pool, conn)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Self]:
        """Statements in one transaction, committed as the block ends and rolled back if it
        raises: on the pool, on a connection of its own; on a connection, in a savepoint."""
        if self.conn is None:
            async with self.pool.transaction() as conn:
                yield self.on(conn)
        else:
            async with self.conn.transaction():
                yield self
