"""The Export document of an account (SPEC §13): its lists in manual order, its tasks, live
and trashed, walked depth first (lists in order, each sibling group by position), so a parent
comes before its children and siblings in their manual order, and the comments of those tasks,
task by task in the document's order, each task's oldest first: what an import needs to rebuild
the same trees, and what makes export, import, export give the same document again but for ids
and timestamps."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

FORMAT = "todo-api.export.v1"
# A comment's fields in the document, in this order (ExportComment in the contract).
COMMENT_FIELDS = ("id", "task_id", "body", "by_owner", "author_name", "created_at", "updated_at")
# A task's fields in the document, in this order (ExportTask in the contract).
TASK_FIELDS = (
    "id", "list_id", "parent_id", "title", "description", "priority", "is_completed",
    "completed_at", "due_date", "due_on", "tags", "recurrence", "reminders",
    "last_completed_at", "occurrences_done", "created_at", "deleted_at",
)  # fmt: skip


def document(
    lists: Sequence[Mapping[str, Any]],
    tasks: Iterable[Mapping[str, Any]],
    comments: Iterable[Mapping[str, Any]],
    now: datetime,
) -> dict[str, Any]:
    """The document of these rows (export_lists', export_tasks', export_comments'). A trashed
    task whose list is gone names the inbox (a restore would put it there), and one whose
    parent is gone is at the top level."""
    list_ids = [str(row["id"]) for row in lists]
    inbox = next(str(row["id"]) for row in lists if row["is_inbox"])
    rows = {str(row["id"]): {**row, "occurrences_done": row["recurrence_done"]} for row in tasks}
    children: dict[tuple[str, str | None], list[dict[str, Any]]] = defaultdict(list)
    for row in rows.values():
        if str(row["list_id"]) not in list_ids:
            row["list_id"] = inbox
    for row in rows.values():
        parent = row["parent_id"]
        if parent is not None and (parent not in rows or rows[parent]["list_id"] != row["list_id"]):
            parent = row["parent_id"] = None
        children[(str(row["list_id"]), parent)].append(row)
    ordered: list[dict[str, Any]] = []

    def walk(list_id: str, parent: str | None) -> None:
        group = children.get((list_id, parent), [])
        group.sort(key=lambda r: (r["position"], r["deleted_at"] is not None, r["created_at"]))
        for row in group:
            ordered.append({name: row[name] for name in TASK_FIELDS})
            walk(list_id, str(row["id"]))

    for list_id in list_ids:
        walk(list_id, None)
    if len(ordered) < len(rows):  # a chain of parents no root reaches: at the top level
        seen = {str(task["id"]) for task in ordered}
        for row in rows.values():
            if str(row["id"]) not in seen:
                ordered.append({name: row[name] for name in TASK_FIELDS} | {"parent_id": None})
    return {
        "format": FORMAT,
        "exported_at": now,
        "lists": [
            {
                "id": row["id"],
                "name": row["name"],
                "color": row["color"],
                "is_inbox": row["is_inbox"],
            }
            for row in lists
        ],
        "tasks": ordered,
        "comments": _comments(ordered, comments),
    }


def _comments(
    tasks: Sequence[Mapping[str, Any]], rows: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The comments of the document's tasks (rows oldest first), task by task in the
    document's order (one whose task is not in the document, read as it was deleted, is
    left out)."""
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_task[str(row["task_id"])].append({name: row[name] for name in COMMENT_FIELDS})
    return [comment for task in tasks for comment in by_task.get(str(task["id"]), [])]
