"""Recurring tasks (SPEC §8): the RRULE subset a task may carry, and the next due after a
completion. Rules are parsed and stepped by python-dateutil's rrule, never by hand; the step
runs on local wall-clock times of the owner's zone, so a 09:00 task stays 09:00 across DST."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr  # type: ignore[import-untyped]

from server.errors import UnprocessableContent

PARTS = frozenset({"FREQ", "INTERVAL", "BYDAY", "BYMONTHDAY", "BYMONTH", "COUNT", "UNTIL"})
FREQS = frozenset({"DAILY", "WEEKLY", "MONTHLY", "YEARLY"})
RULE_LOC = ["body", "recurrence", "rule"]


def checked_rule(rule: str) -> str:
    """The rule (upper-cased), or a 422 at recurrence.rule when it is outside the subset or
    dateutil cannot read it."""
    text = rule.strip().upper()
    parts = dict(part.partition("=")[::2] for part in text.split(";"))
    unknown = sorted(set(parts) - PARTS)
    if unknown:
        raise _invalid(f"{unknown[0] or 'an empty part'} is not in the supported subset")
    if parts.get("FREQ") not in FREQS:
        raise _invalid("FREQ must be one of DAILY, WEEKLY, MONTHLY, YEARLY")
    if "COUNT" in parts and "UNTIL" in parts:
        raise _invalid("COUNT and UNTIL exclude each other")
    try:
        _rule(text, datetime(2000, 1, 1), ZoneInfo("UTC"))
    except (ValueError, TypeError, KeyError) as exc:
        raise _invalid(f"is not a valid RRULE: {exc}") from None
    return text


@dataclass(frozen=True)
class Due:
    """A task's due: an instant (due_date) or an all-day date (due_on)."""

    due_date: datetime | None
    due_on: date | None


def next_due(
    recurrence: dict[str, Any], done: int, due: Due, zone: ZoneInfo, now: datetime
) -> Due | None:
    """The due after a completion: the rule's next occurrence after the old due (basis `due`)
    or after the day of completion (basis `completion`), at the old due's local time of day;
    None when the rule has no more (COUNT counts the advances already made, `done`)."""
    if due.due_on is not None:
        local = datetime.combine(due.due_on, time())
    else:
        assert due.due_date is not None
        local = due.due_date.astimezone(zone).replace(tzinfo=None)
    if recurrence.get("basis") == "completion":
        today = now.astimezone(zone).date()
        start = datetime.combine(today, local.time())
        after = start
    else:
        start = after = local
    series = _rule(recurrence["rule"], start, zone)
    count = series._count
    if count is not None and done + 1 >= count:
        return None
    found = series.replace(count=None).after(after, inc=False)
    if found is None:
        return None
    if due.due_on is not None:
        return Due(None, found.date())
    return Due(found.replace(tzinfo=zone).astimezone(UTC), None)


def _rule(text: str, start: datetime, zone: ZoneInfo) -> rrule:
    """The rule from a naive local start; an UNTIL in UTC (…Z) is read in the owner's zone."""
    parts = []
    for part in text.split(";"):
        name, _, value = part.partition("=")
        if name == "UNTIL" and value.endswith("Z"):
            until = datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            value = until.astimezone(zone).strftime("%Y%m%dT%H%M%S")
        parts.append(f"{name}={value}")
    series = rrulestr(";".join(parts), dtstart=start)
    assert isinstance(series, rrule)
    return series


def _invalid(msg: str) -> UnprocessableContent:
    return UnprocessableContent.at(RULE_LOC, msg, "value_error")
