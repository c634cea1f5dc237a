"""What the schema cannot say about a task's fields: titles are trimmed, tags lower-cased,
trimmed and de-duplicated, instants kept in UTC; and the row a query returns as a Task body."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import orjson

from server.db.queries import TASK_COLUMNS
from server.errors import ApiError, BadParameters, UnprocessableContent
from server.tasks import dates, schedule

TASK_FIELDS = tuple(TASK_COLUMNS.split(", "))
# The nullable fields a patch may set (to null too): update_task's set_<field> flags.
SET_FLAGS = ("set_description", "set_due_date", "set_due_on", "set_recurrence")
# Tags are stored lower-case by Unicode's one-to-one (simple) mapping, so a tag keeps the length
# it was given: str.lower() maps U+0130 (capital I with dot above), alone of every character, to
# two ("i" and a combining dot), and 32 of them were refused as longer than 32.
ONE_TO_ONE_LOWER = str.maketrans({"\u0130": "i"})


def task_body(row: Mapping[str, Any]) -> dict[str, Any]:
    """Exactly the fields of the contract's Task, whatever else the query selected; deleted_at
    is null outside the trash."""
    body = {name: row[name] for name in TASK_FIELDS}
    body["created_by"] = body["created_by"] or body["user_id"]  # null: made by the owner
    if body["is_completed"] and body["completed_by"] is None:  # completed before sharing
        body["completed_by"] = body["user_id"]
    body["deleted_at"] = row.get("deleted_at")  # (last, as the contract lists it)
    return body


def json_ready(body: Any) -> Any:
    """The body as the client reads it (instants as RFC 3339 with Z), for storing as jsonb."""
    return orjson.loads(orjson.dumps(body, option=orjson.OPT_UTC_Z))


def written_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """A validated TaskCreate/TaskReplace body (defaults applied) as the values to store."""
    fields = {
        "title": title(body["title"]),
        "description": body.get("description"),
        "priority": body["priority"],
        "due_date": instant(body.get("due_date"), ["body", "due_date"]),
        "due_on": day(body.get("due_on"), ["body", "due_on"]),
        "tags": tags(body.get("tags") or [], ["body", "tags"]),
        "is_completed": body["is_completed"],
        "recurrence": schedule.recurrence(body.get("recurrence")),
        "reminders": schedule.reminders(body.get("reminders") or []),
    }
    schedule.check_dues(fields, fields)
    return fields


def placed_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """A validated TaskCreate body as the values to store: its fields and its placement (a
    null list: the inbox; a null parent: the top level)."""
    place = {name: body.get(name) for name in ("list_id", "parent_id", "assignee_id")}
    return {**written_fields(body), **{k: None if v is None else str(v) for k, v in place.items()}}


def replaced_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """A validated TaskReplace body as update_task's parameters: a replace is a patch that
    sets every field (the schema's defaults stand in for the omitted ones)."""
    return {
        **written_fields(body),
        **dict.fromkeys(SET_FLAGS, True),
        **assignee(body),
        "toggle": False,
    }


def patched_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """A validated TaskPatch body as update_task's parameters: None keeps a non-nullable
    field, and set_description / set_due_date say whether the nullable ones change."""
    fields = {
        "title": title(body["title"]) if "title" in body else None,
        **{flag: flag.removeprefix("set_") in body for flag in SET_FLAGS},
        "description": body.get("description"),
        "priority": body.get("priority"),
        "due_date": instant(body.get("due_date"), ["body", "due_date"]),
        "due_on": day(body.get("due_on"), ["body", "due_on"]),
        "tags": tags(body["tags"], ["body", "tags"]) if "tags" in body else None,
        "is_completed": body.get("is_completed"),
        "recurrence": schedule.recurrence(body.get("recurrence")),
        "reminders": schedule.reminders(body["reminders"]) if "reminders" in body else None,
        **assignee(body),
        "toggle": False,
    }
    schedule.check_dues(fields, body)
    return fields


def assignee(body: Mapping[str, Any]) -> dict[str, Any]:
    """update_task's assignee parameters: set only when the body names assignee_id (null:
    nobody); a body without it keeps the stored one."""
    given = body.get("assignee_id")
    return {
        "set_assignee": "assignee_id" in body,
        "assignee_id": None if given is None else str(given),
    }


def completed_fields(body: Mapping[str, Any] | None) -> dict[str, Any]:
    """A validated TaskComplete body (or none: toggle) as update_task's parameters."""
    return {**patched_fields(body or {}), "toggle": body is None}


def request_hash(fields: Mapping[str, Any]) -> bytes:
    """A digest of the canonical request, so a retry is told from a different request."""
    return hashlib.sha256(
        orjson.dumps(fields, option=orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z)
    ).digest()


def title(value: str) -> str:
    cleaned = value.strip()
    if not cleaned:
        raise _invalid(["body", "title"], "must not be blank", "pattern")
    return cleaned


def tags(values: list[str], loc: list[Any]) -> list[str]:
    """Trimmed, lower-cased (one character for one), first-seen order, no duplicates."""
    cleaned: list[str] = []
    for index, value in enumerate(values):
        tag = value.strip().translate(ONE_TO_ONE_LOWER).lower()
        if not tag:
            raise _invalid([*loc, index], "must not be blank", "pattern")
        if tag not in cleaned:
            cleaned.append(tag)
    return cleaned


def instant(value: datetime | None, loc: list[Any]) -> datetime | None:
    """The instant in UTC, or a clear error when it is outside the instants a task may hold
    (server/tasks/dates.py)."""
    if value is None:
        return None
    found = dates.utc(value)
    if found is None:
        raise _invalid(loc, dates.INSTANTS, "value_error")
    return found


def day(value: date | None, loc: list[Any]) -> date | None:
    """The date, or a clear error when it is outside the days a task may hold."""
    if value is not None and not dates.day_in_range(value):
        raise _invalid(loc, dates.DAYS, "value_error")
    return value


def _invalid(loc: list[Any], msg: str, kind: str) -> ApiError:
    if loc[0] == "body":
        return UnprocessableContent.at(loc, msg, kind)
    return BadParameters.at(loc, msg, kind)
