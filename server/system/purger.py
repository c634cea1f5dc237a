"""The service forgets by itself: expired refresh tokens, ended login families, failed logins and
signups that left their window, idempotency keys past 24 hours.

Every worker of every instance runs `run_purger`, but only the holder of the `purge_lease` row
purges: exactly one purger per cluster, whatever the number of workers and instances. If it
stops, its lease runs out and another worker takes over. `todo-api purge` runs one round now.
Later purges (trash, change history) join PURGES: a named query of sql/purge.sql, and the
settings it reads.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Callable
from typing import Any

from server.accounts.limits import SIGNUP_WINDOW_SECONDS
from server.config import Settings

log = logging.getLogger("todo_api")

PURGES: tuple[tuple[str, Callable[[Settings], dict[str, Any]]], ...] = (
    ("purge_refresh_tokens", lambda settings: {}),
    (
        "purge_login_families",
        lambda settings: {
            "access_seconds": settings.access_token_ttl + settings.clock_skew_seconds
        },
    ),
    ("purge_login_failures", lambda settings: {"window_seconds": settings.login_window_seconds}),
    ("purge_signup_attempts", lambda settings: {"window_seconds": SIGNUP_WINDOW_SECONDS}),
    ("purge_idempotency_keys", lambda settings: {}),
)


async def purge(db: Any, queries: Any, settings: Settings) -> dict[str, int]:
    """One round of every purge; how many rows each deleted."""
    return {
        name: int(await getattr(queries, name)(db, **params(settings))) for name, params in PURGES
    }


async def run_purger(db: Any, queries: Any, settings: Settings) -> None:
    """Purge every PURGE_INTERVAL_SECONDS while this worker holds the lease (a task of its own,
    cancelled when the worker stops; a failed round is logged and retried next time)."""
    holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    interval = settings.purge_interval_seconds
    try:
        while True:
            try:
                if await queries.take_purge_lease(db, holder=holder, lease_seconds=2 * interval):
                    deleted = await purge(db, queries, settings)
                    if any(deleted.values()):
                        log.info("purged %s", deleted)
            except Exception as exc:
                log.warning("purge round failed: %s: %s", type(exc).__name__, exc)
            await asyncio.sleep(interval)
    finally:
        await asyncio.shield(_release(db, queries, holder))


async def _release(db: Any, queries: Any, holder: str) -> None:
    try:
        await queries.release_purge_lease(db, holder=holder)
    except Exception as exc:
        log.info("purge lease not released (it runs out by itself): %s", exc)
