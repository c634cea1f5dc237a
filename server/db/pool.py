"""The asyncpg pool of one worker, and the named queries of sql/."""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from collections.abc import AsyncIterator, Generator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosql
import asyncpg
import orjson
from aiosql.query_loader import QueryLoader
from aiosql.types import QueryDatum

from server.config import Settings

log = logging.getLogger("todo_api")

SQL_DIR = Path(__file__).resolve().parent.parent.parent / "sql"
# The access token's account check (sql/users.sql, token_account_ok): its condition, and the
# parameters it reads. Task statements embed both, so each of them checks the account itself,
# in its own round trip, and a condition added to the check holds for all of them.
ACCOUNT_CHECK = re.compile(
    r"^-- name: token_account_ok\((?P<params>[\w, ]*)\)\$\n"
    r"(?:--[^\n]*\n)*SELECT (?P<condition>.*?);$",
    re.MULTILINE | re.DOTALL,
)


@dataclass(frozen=True)
class AccountCheck:
    condition: str  # a boolean SQL expression with :name parameters
    params: tuple[str, ...]

    @classmethod
    def read(cls) -> AccountCheck:
        found = ACCOUNT_CHECK.search((SQL_DIR / "users.sql").read_text())
        if found is None:
            raise RuntimeError("sql/users.sql has no token_account_ok block")
        params = tuple(p.strip() for p in found["params"].split(","))
        return cls(" ".join(found["condition"].split()), params)

    def embed(self, sql: str) -> str:
        return sql.replace("{token}", ", ".join(self.params)).replace(
            "{token_account_ok}", self.condition
        )

    def numbered(self, placeholders: Mapping[str, str]) -> str:
        """The condition with each :name as its $n, for statements composed in Python."""
        return re.sub(r"(?<!:):(\w+)", lambda m: placeholders[m[1]], self.condition)


@functools.cache
def account_check() -> AccountCheck:
    return AccountCheck.read()


class _Loader(QueryLoader):
    """aiosql's loader, with the account check embedded where a statement asks for it."""

    def load_query_data_from_file(
        self, path: Path, ns_parts: list[str] | None = None, encoding: str | None = None
    ) -> list[QueryDatum]:
        sql = account_check().embed(path.read_text(encoding=encoding))
        return self.load_query_data_from_sql(sql, ns_parts or [], path)


def load_queries(path: Path = SQL_DIR) -> Any:
    """Every `-- name:` block of sql/*.sql, as async functions taking a connection or Database."""
    return aiosql.from_path(path, "asyncpg", loader_cls=_Loader)


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


async def keep_session(conn: asyncpg.Connection) -> None:
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

    def acquire(self) -> _Acquire:
        """`async with db.acquire() as conn`, or `conn = await db.acquire()` then release."""
        return _Acquire(self)

    async def _take(self) -> asyncpg.Connection:
        if self._turns.locked():
            async with asyncio.timeout(self.acquire_timeout):
                await self._turns.acquire()
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


async def open_database(settings: Settings, dsn: str) -> Database:
    """Lazy pool (min_size 0): the service starts, and answers 503, while PostgreSQL is down."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=0,
        max_size=settings.db_pool_size,
        timeout=settings.db_connect_timeout,
        command_timeout=settings.db_statement_timeout,
        max_inactive_connection_lifetime=60,
        init=init_connection,
        reset=keep_session,
        server_settings={
            "application_name": "todo-api",
            "statement_timeout": str(int(settings.db_statement_timeout * 1000)),
            "timezone": "UTC",
        },
    )
    return Database(pool, settings.db_acquire_timeout)
