"""Recurring tasks (SPEC §8): the next due after a completion, and the check that a rule occurs.
Rules are parsed by python-dateutil's rrule and stepped under a budget (server/tasks/stepping.py);
the step runs on local wall-clock times of the owner's zone, so a 09:00 task stays 09:00 across
DST (a next occurrence in a gap moves forward by the gap, one in a fold takes its first time).

A next due is always one the calendar of server/tasks/dates.py holds. When there is none (COUNT
reached, UNTIL passed, none within the budget, none before the calendar ends, or a rule stored
before today's checks that dateutil cannot step), the rule has no next occurrence, and
completing the task closes it: that is what the user asked for, and a completion that
depended on a rule the service cannot step would leave a task nobody can complete."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr  # type: ignore[import-untyped]

from server.tasks import dates, stepping
from server.tasks.rule_syntax import invalid

UNSTEPPABLE = (stepping.OutOfSteps, ValueError, OverflowError, IndexError)


@dataclass(frozen=True)
class Due:
    """A task's due: an instant (due_date) or an all-day date (due_on)."""

    due_date: datetime | None
    due_on: date | None


def check_occurs(rule: str, due: Due, zone: ZoneInfo) -> None:
    """A 422 at recurrence.rule when the rule (already within the subset) has no occurrence
    after `due` within its budget of steps; a rule that ends first (UNTIL, the calendar's
    end) is fine: completing the task closes it."""
    try:
        start = _local(due, zone)
        series = _series(rule, start, zone)
        stepping.first_after(series.replace(count=None), start)
    except stepping.OutOfSteps as exc:
        unit = stepping.UNITS[series._freq]
        raise invalid(
            f"has no occurrence within {exc.steps} steps of INTERVAL {unit} after the due"
        ) from None
    except (ValueError, OverflowError, IndexError):
        return  # it runs off the calendar: no next occurrence, which closes the task


def next_due(
    recurrence: dict[str, Any], done: int, due: Due, zone: ZoneInfo, now: datetime
) -> Due | None:
    """The due after a completion: the rule's next occurrence after the old due (basis `due`)
    or after the day of completion (basis `completion`), at the old due's local time of day;
    None when the rule has no next one (COUNT counts the advances already made, `done`)."""
    try:
        return _next_due(recurrence, done, due, zone, now)
    except UNSTEPPABLE:
        return None


def _next_due(
    recurrence: dict[str, Any], done: int, due: Due, zone: ZoneInfo, now: datetime
) -> Due | None:
    local = _local(due, zone)
    if recurrence.get("basis") == "completion":
        local = datetime.combine(now.astimezone(zone).date(), local.time())
    series = _series(recurrence["rule"], local, zone)
    count = series._count
    if count is not None and done + 1 >= count:
        return None
    found = stepping.first_after(series.replace(count=None), local)
    if found is None:
        return None
    if due.due_on is not None:
        return Due(None, found.date()) if dates.day_in_range(found.date()) else None
    instant = dates.utc(found.replace(tzinfo=zone))
    return None if instant is None else Due(instant, None)


def _local(due: Due, zone: ZoneInfo) -> datetime:
    """The due as a naive wall-clock time of the zone (an all-day due: its midnight)."""
    if due.due_on is not None:
        return datetime.combine(due.due_on, time())
    assert due.due_date is not None
    return due.due_date.astimezone(zone).replace(tzinfo=None)


def _series(text: str, start: datetime, zone: ZoneInfo) -> rrule:
    """The rule from a naive local start; an UNTIL in UTC (…Z) is read in the owner's zone
    (one past either end of the calendar there: the calendar's end, or before its start)."""
    parts = []
    for part in text.split(";"):
        name, _, value = part.partition("=")
        if name == "UNTIL" and value.endswith("Z"):
            until = datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            try:
                local = until.astimezone(zone).replace(tzinfo=None)
            except OverflowError:
                local = datetime.max if until.year == datetime.max.year else datetime.min
            value = f"{local.year:04}{local:%m%dT%H%M%S}"  # %Y does not pad year 1
        parts.append(f"{name}={value}")
    series = rrulestr(";".join(parts), dtstart=start)
    assert isinstance(series, rrule)
    return series
