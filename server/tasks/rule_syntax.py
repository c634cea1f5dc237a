"""The RRULE subset a task may carry (SPEC §8), read strictly: FREQ DAILY|WEEKLY|MONTHLY|YEARLY,
INTERVAL, BYDAY, BYMONTHDAY, BYMONTH, COUNT and UNTIL, each at most once, numbers in ASCII
digits within the bounds below (Python's int() would take `1_0` and Arabic-Indic digits, and
dateutil reads numbers with it). What dateutil would take but this refuses is a 422 at
recurrence.rule; rules stored before these checks are still read by dateutil as they were
(server/tasks/recurrence.py)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from server.errors import UnprocessableContent

RULE_LOC = ["body", "recurrence", "rule"]
FREQS = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
MAX_INTERVAL = 1000
MAX_COUNT = 1000
Check = Callable[[str, dict[str, str]], None]  # a part's value, given every part
COUNTED = re.compile(r"[0-9]{1,4}")  # INTERVAL, COUNT: ASCII digits only
MONTHDAY = re.compile(r"([+-]?)([0-9]{1,2})")
WEEKDAY = re.compile(r"([+-]?)([0-9]{1,2})?(MO|TU|WE|TH|FR|SA|SU)")
UNTIL = re.compile(r"([0-9]{8})(T[0-9]{6}Z?)?")
WHOLE_PROPERTY = (
    "must be the RRULE value alone: drop the RRULE: prefix (and any DTSTART: the task's due is"
    " where the rule starts), such as FREQ=WEEKLY;BYDAY=MO"
)


def checked_rule(rule: str) -> str:
    """The rule upper-cased, or a 422 at recurrence.rule saying what is wrong with it."""
    if not rule.isascii():
        raise invalid("must be ASCII (an RFC 5545 RRULE value)")
    text = rule.strip().upper()
    if "RRULE:" in text or text.startswith("DTSTART"):
        raise invalid(WHOLE_PROPERTY)
    parts: dict[str, str] = {}
    for part in text.split(";"):
        name, equals, value = part.partition("=")
        if name not in CHECKS:
            subset = ", ".join(CHECKS)
            raise invalid(f"{name or 'an empty part'} is not in the supported subset ({subset})")
        if not equals or not value:
            raise invalid(f"{name} needs a value")
        if name in parts:
            raise invalid(f"{name} is given twice")
        parts[name] = value
    if parts.get("FREQ") not in FREQS:
        raise invalid(f"FREQ must be one of {', '.join(FREQS)}")
    if "COUNT" in parts and "UNTIL" in parts:
        raise invalid("COUNT and UNTIL exclude each other")
    for name, value in parts.items():
        CHECKS[name](value, parts)
    return text


def invalid(msg: str) -> UnprocessableContent:
    return UnprocessableContent.at(RULE_LOC, msg, "value_error")


def _freq(value: str, parts: dict[str, str]) -> None:
    """Checked by checked_rule, which needs it first."""


def _counted(name: str, most: int) -> Check:
    def check(value: str, parts: dict[str, str]) -> None:
        if not COUNTED.fullmatch(value) or not 1 <= int(value) <= most:
            raise invalid(f"{name} must be a whole number from 1 to {most} (ASCII digits)")

    return check


def _by_month(value: str, parts: dict[str, str]) -> None:
    for item in value.split(","):
        if not COUNTED.fullmatch(item) or not 1 <= int(item) <= 12:
            raise invalid("BYMONTH takes months from 1 to 12")


def _by_month_day(value: str, parts: dict[str, str]) -> None:
    for item in value.split(","):
        match = MONTHDAY.fullmatch(item)
        if match is None or not 1 <= int(match[2]) <= 31:
            raise invalid("BYMONTHDAY takes days from 1 to 31 or -31 to -1")


def _by_day(value: str, parts: dict[str, str]) -> None:
    """Weekdays, each with an ordinal only where RFC 5545 gives it a meaning: in a MONTHLY rule
    (or a YEARLY one with BYMONTH) the nth of its month, 1 to 5; in a YEARLY one the nth of
    its year, 1 to 53; from the end when negative."""
    freq = parts.get("FREQ")
    most = 5 if freq == "MONTHLY" or "BYMONTH" in parts else 53
    for item in value.split(","):
        match = WEEKDAY.fullmatch(item)
        if match is None or (match[1] and match[2] is None):
            raise invalid("BYDAY takes weekdays MO to SU, each with or without an ordinal (+1, -1)")
        if match[2] is None:
            continue
        if freq not in ("MONTHLY", "YEARLY"):
            raise invalid("an ordinal in BYDAY (like +1MO) needs FREQ=MONTHLY or YEARLY")
        if not 1 <= int(match[2]) <= most:
            raise invalid(f"an ordinal in BYDAY of this rule is from 1 to {most} or -{most} to -1")


def _until(value: str, parts: dict[str, str]) -> None:
    """A date (YYYYMMDD) or a date-time (YYYYMMDDTHHMMSS, Z for UTC) that exists."""
    match = UNTIL.fullmatch(value)
    shape = "%Y%m%d" + ("T%H%M%S" if match and match[2] else "")
    try:
        if match is None:
            raise ValueError(value)
        datetime.strptime(value.removesuffix("Z"), shape)
    except ValueError:
        raise invalid("UNTIL must be a date YYYYMMDD or a date-time YYYYMMDDTHHMMSSZ") from None


CHECKS: dict[str, Check] = {
    "FREQ": _freq,
    "INTERVAL": _counted("INTERVAL", MAX_INTERVAL),
    "COUNT": _counted("COUNT", MAX_COUNT),
    "BYMONTH": _by_month,
    "BYMONTHDAY": _by_month_day,
    "BYDAY": _by_day,
    "UNTIL": _until,
}
