"""The service forgets by itself: expired refresh tokens, ended login families, failed logins and
signups that left their window, idempotency keys past 24 hours.

Every worker of every instance runs `run_purger`, but only the holder of the `purge_lease` row
purges (server/db/lease.py): exactly one purger per cluster, whatever the number of workers and
instances. `todo-api purge` runs one round now.
Later purges (trash, change history) join PURGES: a named query of sql/purge.sql, and the
settings it reads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from server.config import SIGNUP_WINDOW_SECONDS, Settings
from server.db.executor import Executor
from server.db.lease import run_leased
from server.db.queries import Conn, Queries

log = logging.getLogger("todo_api")

PURGES: tuple[tuple[str, Callable[[Settings], dict[str, int]]], ...] = (
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


async def purge(db: Conn, queries: Queries, settings: Settings) -> dict[str, int]:
    """One round of every purge; how many rows each deleted."""
    return {
        name: int(await getattr(queries, name)(db, **params(settings))) for name, params in PURGES
    }


async def run_purger(db: Executor, queries: Queries, settings: Settings) -> None:
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
