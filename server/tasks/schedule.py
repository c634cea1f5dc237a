"""What the schema cannot say about a task's dates (SPEC §8): one due at most, a recurrence and
reminders that need one, a rule that occurs after its due, a reminder's offset between one minute
and seven days and its instant within the calendar (server/tasks/dates.py); and the 422 for the
combinations only the stored row can tell (the CHECKs of migration 0030)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from server.errors import UnprocessableContent
from server.tasks import dates
from server.tasks.recurrence import Due, check_occurs
from server.tasks.rule_syntax import checked_rule

MAX_REMINDERS = 5
SHORTEST, LONGEST = timedelta(minutes=1), timedelta(days=7)
DURATION = re.compile(r"P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?")
NEEDS_DUE = "needs a due (due_date or due_on)"
# A CHECK of migration 0030 that a write broke, as the 422 it means.
VIOLATIONS = {
    "tasks_one_due": (
        ["body", "due_on"],
        "a task has due_date or due_on, not both: send the other as null",
    ),
    "tasks_recurrence_due": (["body", "recurrence"], NEEDS_DUE),
    "tasks_reminder_due": (["body", "reminders"], f"a before_due reminder {NEEDS_DUE}"),
}


def recurrence(value: Mapping[str, Any] | None) -> dict[str, str] | None:
    if value is None:
        return None
    return {"rule": checked_rule(value["rule"]), "basis": value.get("basis", "due")}


def reminders(values: list[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Each reminder as stored: `at` in UTC, or `before_due` as given (upper-cased)."""
    if len(values) > MAX_REMINDERS:
        raise _invalid(["body", "reminders"], f"at most {MAX_REMINDERS} reminders")
    stored = []
    for index, value in enumerate(values):
        if "at" in value:
            at = dates.utc(_instant(value["at"]))
            if at is None:
                raise _invalid(["body", "reminders", index, "at"], dates.INSTANTS)
            stored.append({"at": at.isoformat().replace("+00:00", "Z")})
        else:
            text = value["before_due"].upper()
            offset = duration(text)
            if offset is None or not SHORTEST <= offset <= LONGEST:
                raise _invalid(
                    ["body", "reminders", index, "before_due"],
                    "must be an ISO 8601 duration from PT1M to P7D",
                )
            stored.append({"before_due": text})
    return stored


def duration(text: str) -> timedelta | None:
    """An ISO 8601 duration of weeks, days, hours, minutes and seconds; None if not one."""
    match = DURATION.fullmatch(text)
    if match is None or text in ("P", "PT") or text.endswith("T"):
        return None
    weeks, days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    if max(weeks, days, hours, minutes, seconds) > 10**6:
        return None
    return timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)


def check_dues(fields: Mapping[str, Any], given: Mapping[str, Any]) -> None:
    """The rules a body breaks by itself (a patch's stored fields are the CHECKs' business)."""
    if fields.get("due_date") is not None and fields.get("due_on") is not None:
        raise _invalid(*VIOLATIONS["tasks_one_due"])
    whole = "set_due_date" not in fields  # a create or replace: the body is the whole task
    no_due = fields.get("due_date") is None and fields.get("due_on") is None
    if whole and no_due and fields.get("recurrence") is not None:
        raise _invalid(*VIOLATIONS["tasks_recurrence_due"])
    if whole and no_due and any("before_due" in r for r in fields.get("reminders") or []):
        raise _invalid(*VIOLATIONS["tasks_reminder_due"])
    if fields.get("recurrence") is not None and not no_due:
        # The due as written, read in UTC: the owner's zone is the stored row's (a rule that
        # occurs only a day off from that is closed by its completion, as any that ends).
        due = Due(fields.get("due_date"), fields.get("due_on"))
        check_occurs(fields["recurrence"]["rule"], due, ZoneInfo("UTC"))


@asynccontextmanager
async def dues_checked() -> AsyncIterator[None]:
    """A write the stored row makes break a rule of SPEC §8 is the 422 at its field."""
    try:
        yield
    except asyncpg.CheckViolationError as exc:
        violation = VIOLATIONS.get(exc.constraint_name or "")
        if violation is None:
            raise
        raise _invalid(*violation) from None


def _instant(value: datetime | str) -> datetime:
    """oneOf leaves the instant as the client wrote it (the schema has checked its format)."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def _invalid(loc: list[Any], msg: str) -> UnprocessableContent:
    return UnprocessableContent.at(loc, msg, "value_error")
