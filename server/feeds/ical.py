"""A calendar feed's text: RFC 5545 `VCALENDAR` of `VTODO`s, written out here (a few dozen
lines, where a library would build an object tree per task to serialise it again).

Text values are escaped (backslash, semicolon, comma, newline: §3.3.11) and lines folded at 75
octets without splitting a UTF-8 sequence (§3.1); control characters a TEXT value may not hold
are dropped. Dates print with four-digit years (strftime's %Y writes year 1 as "1")."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

PRODID = "-//todo-api//calendar feed//EN"
LINE_OCTETS = 75
PRIORITY = {"high": 1, "medium": 5, "low": 9}  # RFC 5545 §3.8.1.9: 1 highest, 9 lowest
# What a TEXT value may not hold (§3.3.11: CONTROL but HTAB); a newline is escaped instead.
CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# Line breaks besides CR and LF (NEL, LINE and PARAGRAPH SEPARATOR): a TEXT may hold them, but a
# reader splitting on every Unicode line break would start a line of the title's at them.
BREAKS = re.compile("\r\n|[\r\x85\u2028\u2029]")
UNTIL = re.compile(r"UNTIL=([0-9]{8})(T[0-9]{6})?(Z?)")


def calendar(name: str, tasks: Iterable[Mapping[str, Any]], zone: str) -> str:
    """The whole feed: one VTODO per task row (calendar_feed_tasks' columns)."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        f"X-WR-CALNAME:{text(name)}",
    ]
    owner_zone = ZoneInfo(zone)
    for task in tasks:
        lines.extend(vtodo(task, owner_zone))
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + "\r\n" for line in lines)


def vtodo(task: Mapping[str, Any], zone: ZoneInfo) -> list[str]:
    due_on: date | None = task["due_on"]
    due = f"DUE;VALUE=DATE:{day(due_on)}" if due_on else f"DUE:{instant(task['due_date'])}"
    lines = [
        "BEGIN:VTODO",
        f"UID:{task['id']}",
        f"DTSTAMP:{instant(task['updated_at'])}",
        f"LAST-MODIFIED:{instant(task['updated_at'])}",
        f"CREATED:{instant(task['created_at'])}",
        f"SUMMARY:{text(task['title'])}",
    ]
    if task["description"]:
        lines.append(f"DESCRIPTION:{text(task['description'])}")
    lines.append(due)
    recurrence = task["recurrence"]
    if recurrence:
        # A recurrence set starts at DTSTART (§3.8.5.3): the due, of the same value type.
        lines.append("DTSTART" + due[3:])
        lines.append(f"RRULE:{rule(recurrence['rule'], all_day=due_on is not None, zone=zone)}")
    if task["parent_id"]:
        lines.append(f"RELATED-TO;RELTYPE=PARENT:{task['parent_id']}")
    lines.append(f"PRIORITY:{PRIORITY[task['priority']]}")
    if task["tags"]:
        lines.append("CATEGORIES:" + ",".join(text(tag) for tag in task["tags"]))
    lines += ["STATUS:NEEDS-ACTION", "END:VTODO"]
    return lines


def rule(value: str, *, all_day: bool, zone: ZoneInfo) -> str:
    """The stored RRULE with UNTIL of DTSTART's value type (§3.3.10): a date for an all-day
    task; else a UTC date-time (a stored date, or a time in the owner's zone, converted)."""

    def until(match: re.Match[str]) -> str:
        digits, clock, utc = match.groups()
        if all_day:
            return f"UNTIL={digits}"
        if clock is None:
            clock = "T235959"
        if utc:
            return f"UNTIL={digits}{clock}Z"
        local = datetime.strptime(digits + clock, "%Y%m%dT%H%M%S").replace(tzinfo=zone)
        try:
            return f"UNTIL={instant(local)}"
        except OverflowError:  # the last moments of year 9999 in a zone east of UTC
            return f"UNTIL={digits}{clock}Z"

    return UNTIL.sub(until, value)


def day(value: date) -> str:
    return f"{value.year:04d}{value.month:02d}{value.day:02d}"


def instant(value: datetime) -> str:
    utc = value.astimezone(UTC)
    return f"{day(utc.date())}T{utc.hour:02d}{utc.minute:02d}{utc.second:02d}Z"


def text(value: str) -> str:
    """A TEXT value, escaped (§3.3.11)."""
    value = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    value = BREAKS.sub("\n", value).replace("\n", "\\n")
    return CONTROLS.sub("", value)


def fold(line: str) -> str:
    """The content line folded (§3.1): at most 75 octets a line, continuation lines starting
    with a space, never inside a character's UTF-8 sequence."""
    encoded = line.encode()
    if len(encoded) <= LINE_OCTETS:
        return line
    parts: list[str] = []
    current: list[str] = []
    size, limit = 0, LINE_OCTETS
    for char in line:
        octets = len(char.encode())
        if size + octets > limit:
            parts.append("".join(current))
            current, size, limit = [], 0, LINE_OCTETS - 1  # the leading space counts
        current.append(char)
        size += octets
    parts.append("".join(current))
    return "\r\n ".join(parts)
