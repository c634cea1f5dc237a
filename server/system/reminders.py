"""The reminder scheduler (SPEC §8): every REMINDER_INTERVAL_SECONDS the one worker of the
cluster holding the `reminders` lease (the purger's leased-row election, server/system/purger.py)
runs fire_reminders: one statement records each reminder that fell due and publishes it on
channel `todo_events` (the events stream forwards it to each open stream of its user). A
reminder more than an hour late (the service was stopped) is dropped."""

from __future__ import annotations

import logging
from typing import Any

from server.config import Settings
from server.system.purger import run_leased

log = logging.getLogger("todo_api")
LATE_SECONDS = 3600


async def run_scheduler(db: Any, queries: Any, settings: Settings) -> None:
    async def round_() -> None:
        fired = await queries.fire_reminders(db, late_seconds=LATE_SECONDS)
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
