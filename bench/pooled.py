"""The frame both reference servers of `make bench` share: a Sanic app with asyncpg's own pool,
opened before serving and closed after, and a /ready the bench waits on. It imports nothing of
the service, so the plain reference stays what it is while the service changes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg
from sanic import HTTPResponse, Request, Sanic


async def _no_reset(conn: asyncpg.Connection) -> None:
    """No round trip when a connection goes back to the pool (asyncpg's default resets the
    session): the service pays none, and nothing here leaves session state."""


def pooled_app(
    name: str, dsn: str, pool_size: int, init: Callable[[asyncpg.Connection], Awaitable[None]]
) -> Sanic:
    """A Sanic app whose `app.ctx.pool` holds `pool_size` connections, each set up by `init`."""
    app = Sanic(name, configure_logging=False)

    @app.before_server_start
    async def open_pool(app: Sanic) -> None:
        app.ctx.pool = await asyncpg.create_pool(
            dsn, min_size=0, max_size=pool_size, init=init, reset=_no_reset
        )

    @app.after_server_stop
    async def close_pool(app: Sanic) -> None:
        await app.ctx.pool.close()

    @app.get("/ready")
    async def ready(request: Request) -> HTTPResponse:
        return HTTPResponse(status=200)

    return app
