"""The reminder scheduler (SPEC §8): every REMINDER_INTERVAL_SECONDS the one worker of the
cluster holding the `reminders` lease (the leased-row election of server/db/lease.py)
runs fire_reminders until what has fallen due is taken: each statement takes up to BATCH pending
reminders of reminder_times (migration 0036), the earliest first, through an index of the pending
ones alone, records those it fires and publishes them on channel `todo_events` (the events stream
forwards each to the open streams of its user). A round's cost follows what fell due since the
last one, not the number of accounts or tasks. A reminder more than an hour late (the service was
stopped) is dropped."""

from __future__ import annotations

import logging

from server.config import Settings
from server.db.executor import Executor
from server.db.lease import run_leased
from server.db.queries import Conn, Queries

log = logging.getLogger("todo_api")
LATE_SECONDS = 3600
BATCH = 1000  # reminders a statement takes: a round's statements stay short at any burst


async def fire_due(db: Conn, queries: Queries, *, mail: bool = True, push: bool = True) -> int:
    """Fire what has fallen due (and write the mails and pushes of those who asked for them,
    when `mail` and `push` are on); how many reminders fired."""
    fired = 0
    while True:
        row = await queries.fire_reminders(
            db, late_seconds=LATE_SECONDS, batch=BATCH, mail=mail, push=push
        )
        fired += row["fired"]
        if row["handled"] < BATCH:
            return fired


async def run_scheduler(db: Executor, queries: Queries, settings: Settings) -> None:
    async def round_() -> None:
        fired = await fire_due(db, queries, mail=settings.mail_enabled, push=settings.push_enabled)
        if fired:
            log.info("fired %d reminders", fired)

    await run_leased(
        "reminders",
        lambda holder, seconds: queries.take_reminder_lease(
            db, holder=holder, lease_seconds=seconds
        ),
        lambda holder: queries.release_reminder_lease(db, holder=holder),
        settings.reminder_interval_seconds,
        round_,
    )
