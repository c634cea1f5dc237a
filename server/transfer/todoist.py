"""A Todoist project's CSV export as an import Plan (server/transfer/plan.py).

The columns are Todoist's ("Format a CSV file to import into Todoist"): TYPE (`task`, `section`,
`note`; exports add `meta`), CONTENT (a task's name, with `@label`s), DESCRIPTION, PRIORITY (1
highest to 4; empty is 1), INDENT (1 to 4: the task's level), AUTHOR, RESPONSIBLE, DATE,
DATE_LANG, TIMEZONE, and newer ones (DURATION, DEADLINE, ...). The project becomes one list,
each section a list of its own. A `note` is a comment (its CONTENT) on the task row above it,
planned as an Export's comments are (server/transfer/comments.py): AUTHOR names a Todoist
account, which means nothing here, so a note with one is another person's (`author_name`), one
without it the importer's. RESPONSIBLE and a note's DATE are not read. A task's DATE is read
when written as a date (`2025-01-24`: all day) or a date and time (`2025-01-24 16:30`, in
TIMEZONE, else the importer's zone); Todoist's words ("every monday", "tomorrow") are a 422
naming the cell rather than a guess. Errors name ["body", <row number>, <column>], the header
being row 1."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from server.errors import UnprocessableContent
from server.tasks.placement import MAX_LEVEL
from server.transfer.comments import MAX_COMMENTS, planned_comments
from server.transfer.plan import MAX_TASKS, Plan, stored_fields

PRIORITIES = {"": "high", "1": "high", "2": "medium", "3": "medium", "4": "low"}
LABEL = re.compile(r"(?<!\S)@([^\s@]+)")
DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
DAY_AND_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}(?::[0-9]{2})?")
COLUMNS = {  # where a task field's error points
    "title": "CONTENT",
    "tags": "CONTENT",
    "description": "DESCRIPTION",
    "due_on": "DATE",
    "due_date": "DATE",
}
NOTE_COLUMNS = {"body": "CONTENT", "author_name": "AUTHOR"}  # where a note's error points
MAX_TITLE, MAX_DESCRIPTION, MAX_TAGS, MAX_TAG = 200, 2000, 20, 32  # the contract's bounds
MAX_AUTHOR = 100  # the contract's DisplayName, which an export gives `author_name` as
LEVELS = [str(level) for level in range(1, MAX_LEVEL + 1)]


def plan_csv(text: str, list_name: str, zone: str) -> Plan:
    plan = Plan()
    reader = csv.reader(io.StringIO(text, newline=""))
    header: dict[str, int] | None = None
    current: str | None = None  # the list tasks go to (None: the project's, not made yet)
    levels: list[str] = []  # the new ids of the open ancestors, by level
    notes: list[dict[str, Any]] = []  # as an Export's comments, their task_id the task's new id
    rows: list[int] = []  # each note's row number
    try:
        for number, cells in enumerate(reader, start=1):
            if not any(cell.strip() for cell in cells):
                continue
            if header is None:
                header = _header(cells, number)
                continue
            row = {name: cells[i].strip() if i < len(cells) else "" for name, i in header.items()}
            kind = row.get("TYPE", "")
            if kind == "meta":
                plan.skipped += 1
            elif kind == "note":
                notes.append(_note(row, number, levels, len(notes)))
                rows.append(number)
            elif kind == "section":
                current = _new_list(plan, row.get("CONTENT", ""), number)
                levels = []
            elif kind == "task":
                if current is None:
                    current = _new_list(plan, list_name, number)
                _task(plan, row, number, current, levels, zone)
            else:
                raise _invalid([number, "TYPE"], "must be task, section, note or meta")
    except csv.Error as exc:
        raise _invalid([reader.line_num], f"is not CSV: {exc}") from None
    if header is None:
        raise _invalid([1], "a Todoist CSV starts with its header row (TYPE,CONTENT,...)")
    made = {row["id"]: (row["id"], None) for row in plan.tasks}
    try:
        plan.comments, plan.busiest = planned_comments(notes, made)
    except UnprocessableContent as exc:
        errors = [_note_column(error, rows) for error in exc.errors or []]
        raise UnprocessableContent(exc.detail, errors=errors) from None
    return plan


def _header(cells: list[str], number: int) -> dict[str, int]:
    header = {cell.strip().upper(): i for i, cell in enumerate(cells) if cell.strip()}
    if "TYPE" not in header or "CONTENT" not in header:
        raise _invalid([number], "the header row names the columns TYPE and CONTENT at least")
    return header


def _new_list(plan: Plan, name: str, number: int) -> str:
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise _invalid([number, "CONTENT"], "a section's name is 1 to 100 characters")
    new = str(uuid.uuid4())
    plan.lists.append({"id": new, "name": name, "color": None})
    return new


def _task(
    plan: Plan, row: Mapping[str, str], number: int, list_id: str, levels: list[str], zone: str
) -> None:
    if len(plan.tasks) >= MAX_TASKS:
        raise _invalid([number], f"at most {MAX_TASKS} tasks per import")
    level = _level(row.get("INDENT", ""), number, len(levels))
    content = row.get("CONTENT", "")
    tags = LABEL.findall(content)
    title = " ".join(LABEL.sub(" ", content).split()) or content
    _check_lengths(title, row.get("DESCRIPTION", ""), tags, number)
    priority = PRIORITIES.get(row.get("PRIORITY", ""))
    if priority is None:
        raise _invalid([number, "PRIORITY"], "must be 1, 2, 3 or 4 (or empty)")
    item: dict[str, Any] = {
        "title": title,
        "description": row.get("DESCRIPTION") or None,
        "priority": priority,
        "tags": tags,
        **_due(row.get("DATE", ""), row.get("TIMEZONE", ""), zone, number),
    }
    try:
        fields = stored_fields(item, ["body", number])
    except UnprocessableContent as exc:
        errors = [_column(error, number) for error in exc.errors or []]
        raise UnprocessableContent(exc.detail, errors=errors) from None
    del levels[level - 1 :]
    new = str(uuid.uuid4())
    plan.tasks.append(
        {**fields, "id": new, "list_id": list_id, "parent_id": levels[-1] if levels else None}
    )
    plan.order.append(("tasks", len(plan.tasks) - 1))
    levels.append(new)


def _note(row: Mapping[str, str], number: int, levels: list[str], count: int) -> dict[str, Any]:
    """The note as an Export's comment on the task above it (the last of the open levels)."""
    if not levels:
        raise _invalid([number], "a note is a comment on the task above it: there is none")
    if count >= MAX_COMMENTS:
        raise _invalid([number], f"at most {MAX_COMMENTS} comments per import")
    author = row.get("AUTHOR", "")
    if len(author) > MAX_AUTHOR:
        raise _invalid([number, "AUTHOR"], f"a name is at most {MAX_AUTHOR} characters")
    return {
        "id": str(count),
        "task_id": levels[-1],
        "body": row.get("CONTENT", ""),
        "by_owner": not author,
        "author_name": author or None,
    }


def _check_lengths(title: str, description: str, tags: list[str], number: int) -> None:
    """What the contract's schema says of a task's text (TaskTitle, TaskDescription, Tags),
    which a CSV's cells never went through."""
    if len(title.strip()) > MAX_TITLE:
        raise _invalid([number, "CONTENT"], f"a title is at most {MAX_TITLE} characters")
    if len(description) > MAX_DESCRIPTION:
        raise _invalid([number, "DESCRIPTION"], f"at most {MAX_DESCRIPTION} characters")
    if len(tags) > MAX_TAGS or any(len(tag) > MAX_TAG for tag in tags):
        raise _invalid([number, "CONTENT"], f"at most {MAX_TAGS} labels of {MAX_TAG} characters")


def _level(indent: str, number: int, open_levels: int) -> int:
    if indent == "":
        return 1
    if indent not in LEVELS:
        raise _invalid([number, "INDENT"], f"must be 1 to {MAX_LEVEL}: tasks nest {MAX_LEVEL} deep")
    level = int(indent)
    if level > open_levels + 1:
        raise _invalid([number, "INDENT"], "is deeper than one level under the task above")
    return level


def _due(text: str, zone_name: str, default_zone: str, number: int) -> dict[str, Any]:
    if not text:
        return {}
    if not (DAY.fullmatch(text) or DAY_AND_TIME.fullmatch(text)):
        raise _invalid(
            [number, "DATE"],
            "a date in words is not read: write it as YYYY-MM-DD or YYYY-MM-DD HH:MM",
        )
    try:
        zone = ZoneInfo(zone_name or default_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise _invalid([number, "TIMEZONE"], "is not a time zone (an IANA name)") from None
    try:
        if DAY.fullmatch(text):
            return {"due_on": date.fromisoformat(text)}
        return {"due_date": datetime.fromisoformat(text).replace(tzinfo=zone)}
    except ValueError:
        raise _invalid([number, "DATE"], "is not a date of the calendar") from None


def _column(error: Mapping[str, Any], number: int) -> dict[str, Any]:
    """A task field's error (["body", 7, "due_on"]) at its cell (["body", 7, "DATE"])."""
    loc = list(error["loc"])
    if len(loc) >= 3:
        loc = ["body", number, COLUMNS.get(str(loc[2]), str(loc[2])), *loc[3:]]
    return {**error, "loc": loc}


def _note_column(error: Mapping[str, Any], rows: list[int]) -> dict[str, Any]:
    """A note's error (["body", "comments", 2, "body"]) at its cell (["body", 7, "CONTENT"])."""
    loc = list(error["loc"])
    if len(loc) >= 4:
        loc = ["body", rows[loc[2]], NOTE_COLUMNS.get(str(loc[3]), str(loc[3])), *loc[4:]]
    return {**error, "loc": loc}


def _invalid(loc: list[Any], msg: str) -> UnprocessableContent:
    return UnprocessableContent.at(["body", *loc], msg, "value_error")
