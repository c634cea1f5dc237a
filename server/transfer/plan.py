"""What an import will write (SPEC §13), read from an Export document before anything is
written: every rule the schema cannot say is checked here, and the first item that breaks one
is a 422 naming it (["body", "tasks", 3, "parent_id"]), so nothing is written.

A Plan holds new ids for everything (the inbox's are the importer's, known only when it runs:
INBOX stands for it), each task's list and parent by those ids, in the document's order:
positions are handed out in that order as the import runs. Pure Python, no I/O: the handler
runs it off the event loop (10,000 tasks with recurrence rules to check take a while)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from server.errors import UnprocessableContent
from server.tasks import fields as task_fields
from server.tasks.placement import MAX_LEVEL
from server.transfer.comments import planned_comments

MAX_TASKS = 10_000  # per import
# Seconds of checking a document may take (its recurrence rules: a rule that seldom occurs
# takes 10 ms to find its next occurrence, so 10,000 of them would hold a thread 100 s); past
# them the import is refused where it stopped, and can be sent in parts.
PLAN_SECONDS = 10.0
# A task's past, kept as the document says if every read gives it back as it is (the calendar of
# server/tasks/dates.py), else 422 at it: years 0 and 10000 in UTC, once stored, made every
# export, listing and change feed of the account a 500, and the two ends, read as -infinity and
# infinity, a page of comments that came back to itself.
HISTORY = ("completed_at", "last_completed_at", "created_at")
INBOX = "inbox"  # stands for the importer's inbox id until the import runs


@dataclass(frozen=True)
class Placed:
    """A task of the document as planned: its new id, level, whether trashed, its list's
    document id."""

    id: str
    level: int
    trashed: bool
    list_key: str


@dataclass
class Plan:
    lists: list[dict[str, Any]] = field(default_factory=list)  # {id, name, color}: new lists
    inbox_name: str | None = None  # the document's inbox, if it has one
    tasks: list[dict[str, Any]] = field(default_factory=list)  # live, in document order
    trashed: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0  # rows of a CSV not read (meta)
    order: list[tuple[str, int]] = field(default_factory=list)  # ("tasks"|"trashed", index)
    comments: list[dict[str, Any]] = field(default_factory=list)  # their tasks' by new ids
    busiest: int = 0  # the most comments one task gets


def plan_export(body: Mapping[str, Any], budget: float = PLAN_SECONDS) -> Plan:
    """The plan of a validated Export body, checked within `budget` seconds."""
    deadline = time.monotonic() + budget
    tasks = body["tasks"]
    if len(tasks) > MAX_TASKS:
        raise _invalid(["body", "tasks"], f"at most {MAX_TASKS} tasks per import")
    plan = Plan()
    list_ids: dict[str, str] = {}
    for index, item in enumerate(body["lists"]):
        key = str(item["id"])
        if key in list_ids:
            raise _invalid(["body", "lists", index, "id"], "is given twice")
        if item.get("is_inbox"):
            if plan.inbox_name is not None:
                raise _invalid(["body", "lists", index, "is_inbox"], "a document has one inbox")
            plan.inbox_name, list_ids[key] = item["name"].strip(), INBOX
            continue
        new = str(uuid.uuid4())
        list_ids[key] = new
        plan.lists.append({"id": new, "name": item["name"].strip(), "color": item.get("color")})
    seen: dict[str, Placed] = {}  # by document id
    made: dict[str, tuple[str, Any]] = {}  # by document id: (new id, deleted_at)
    for index, item in enumerate(tasks):
        loc = ["body", "tasks", index]
        if time.monotonic() > deadline:
            raise _invalid(loc, f"checking the tasks took over {budget:g} s: import fewer at once")
        key = str(item["id"])
        if key in seen:
            raise _invalid([*loc, "id"], "is given twice")
        list_id = list_ids.get(str(item["list_id"]))
        if list_id is None:
            raise _invalid([*loc, "list_id"], "is not one of the document's lists")
        trashed = item.get("deleted_at") is not None
        parent, level = _parent(item, loc, seen, trashed)
        row = {**stored_fields(item, loc), "id": str(uuid.uuid4()), "list_id": list_id}
        row["parent_id"] = parent
        if trashed:
            row["deleted_at"] = task_fields.instant(item["deleted_at"], [*loc, "deleted_at"])
            plan.trashed.append(row)
            plan.order.append(("trashed", len(plan.trashed) - 1))
        else:
            plan.tasks.append(row)
            plan.order.append(("tasks", len(plan.tasks) - 1))
        seen[key] = Placed(row["id"], level, trashed, str(item["list_id"]))
        made[key] = (row["id"], row.get("deleted_at"))
    plan.comments, plan.busiest = planned_comments(body.get("comments", []), made)
    return plan


def _parent(
    item: Mapping[str, Any],
    loc: list[Any],
    seen: Mapping[str, Placed],
    trashed: bool,
) -> tuple[str | None, int]:
    """The new id of the task's parent (None at the top level) and the task's level."""
    if item.get("parent_id") is None:
        return None, 1
    parent = seen.get(str(item["parent_id"]))
    if parent is None:
        raise _invalid([*loc, "parent_id"], "is not a task given before this one")
    if parent.list_key != str(item["list_id"]):
        raise _invalid([*loc, "parent_id"], "is in another list than list_id")
    if parent.trashed and not trashed:
        raise _invalid([*loc, "parent_id"], "is in the trash, and this task is not")
    if parent.level >= MAX_LEVEL:
        raise _invalid([*loc, "parent_id"], f"is at level {MAX_LEVEL}, which takes no subtasks")
    return parent.id, parent.level + 1


def stored_fields(item: Mapping[str, Any], loc: list[Any]) -> dict[str, Any]:
    """A task's fields as create_task stores them (the same checks), its errors located at
    the item; completion and history as the document says."""
    try:
        defaults = {"priority": "medium", "is_completed": False}
        fields = task_fields.written_fields({**defaults, **item})
    except UnprocessableContent as exc:
        raise UnprocessableContent(
            exc.detail, errors=[_located(error, loc) for error in exc.errors or []]
        ) from None
    times = {name: task_fields.instant(item.get(name), [*loc, name]) for name in HISTORY}
    completed_at = times["completed_at"] if fields["is_completed"] else None
    if fields["is_completed"] and completed_at is None:
        completed_at = datetime.now(UTC)
    return {
        **fields,
        "completed_at": completed_at,
        "last_completed_at": times["last_completed_at"],
        "recurrence_done": item.get("occurrences_done", 0) if fields["recurrence"] else 0,
        "created_at": times["created_at"],
    }


def _located(error: Mapping[str, Any], loc: list[Any]) -> dict[str, Any]:
    """An error of a task body (["body", "due_on"]) at the document's item."""
    return {**error, "loc": [*loc, *list(error["loc"])[1:]]}


def _invalid(loc: list[Any], msg: str) -> UnprocessableContent:
    return UnprocessableContent.at(loc, msg, "value_error")
