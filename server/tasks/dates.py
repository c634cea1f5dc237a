"""The calendar a task's dates live in (SPEC §8), bounded so that every value and every sum the
service makes of one (an all-day due's end of day in any zone, a rule's next occurrence, a
reminder counted back from a due) is one Python, asyncpg and PostgreSQL all hold as it is.

- An instant (due_date, a reminder's `at`, a reminders window) lies after 0001-01-01T00:00:00Z
  and before 9999-12-31T23:59:59.999999Z: asyncpg writes and reads those two instants as
  -infinity and infinity, so neither can be stored as itself.
- A day (due_on) lies from 0001-01-02 to 9999-12-30: asyncpg writes 0001-01-01 and 9999-12-31
  as -infinity and infinity too, and the end of 9999-12-31 in a zone west of UTC is in year
  10000. A day of margin at each end keeps the end of every day in every zone a timestamp.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

FIRST_DAY, LAST_DAY = date(1, 1, 2), date(9999, 12, 30)
EARLIEST, LATEST = datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)
DAYS = f"must be from {FIRST_DAY} to {LAST_DAY}"
INSTANTS = "must be after 0001-01-01T00:00:00Z and before 9999-12-31T23:59:59.999999Z"


def utc(value: datetime) -> datetime | None:
    """The instant in UTC, or None when it is outside the instants a task may hold."""
    try:
        instant = value.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
    return instant if EARLIEST < instant < LATEST else None


def day_in_range(value: date) -> bool:
    return FIRST_DAY <= value <= LAST_DAY
