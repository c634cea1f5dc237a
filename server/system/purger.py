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
from collections.abc import Awaitable, Callable
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
    ("purge_trash", lambda settings: {"days": settings.trash_retention_days}),
    ("purge_tombstones", lambda settings: {"days": settings.changes_retention_days}),
    ("purge_fired_reminders", lambda settings: {}),
    ("purge_outbox", lambda settings: {}),
    ("purge_account_tokens", lambda settings: {}),
    ("purge_mail_requests", lambda settings: {}),
)


async def purge(db: Any, queries: Any, settings: Settings) -> dict[str, int]:
    """One round of every purge; how many rows each deleted."""
    return {
        name: int(await getattr(queries, name)(db, **params(settings))) for name, params in PURGES
    }


async def run_purger(db: Any, queries: Any, settings: Settings) -> None:
    """Purge every PURGE_INTERVAL_SECONDS while this worker holds the lease (a task of its own,
    cancelled when the worker stops; a failed round is logged and retried next time)."""

    async def round_() -> None:
        deleted = await purge(db, queries, settings)
        if any(deleted.values()):
            log.info("purged %s", deleted)

    await run_leased(
        "purge",
        lambda holder, seconds: queries.take_purge_lease(db, holder=holder, lease_seconds=seconds),
        lambda holder: queries.release_purge_lease(db, holder=holder),
        settings.purge_interval_seconds,
        round_,
    )


async def run_leased(
    name: str,
    take: Callable[[str, int], Awaitable[Any]],
    release: Callable[[str], Awaitable[Any]],
    interval: float,
    round_: Callable[[], Awaitable[None]],
) -> None:
    """Run `round_` every `interval` seconds while this worker holds the lease `take` renews
    (for twice the interval, so a holder that stops is replaced within that); give it back
    when cancelled. The cluster's one purger and one reminder scheduler run so."""
    holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    lease = max(2, round(2 * interval))
    try:
        while True:
            try:
                if await take(holder, lease):
                    await round_()
            except Exception as exc:
                log.warning("%s round failed: %s: %s", name, type(exc).__name__, exc)
            await asyncio.sleep(interval)
    finally:
        await asyncio.shield(_release(name, release, holder))


async def _release(name: str, release: Callable[[str], Awaitable[Any]], holder: str) -> None:
    try:
        await release(holder)
    except Exception as exc:
        log.info("%s lease not released (it runs out by itself): %s", name, exc)
