"""The comments of an Export document as an import will write them (SPEC §13), checked before
anything is written: each names a task given before in the document (by the document's id),
its text is a comment's (1 to 5000 characters once trimmed), and its author is the importer
(`by_owner`, the default) or another person, who becomes no account here: the comment has no
author (as a deleted account's) and keeps `author_name` as text, so a later export names them
again. A comment of a trashed task goes to the trash with it. Its times are instants every read
gives back (plan.HISTORY)."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from server.comments.body import trimmed_text
from server.errors import UnprocessableContent
from server.tasks.fields import instant

MAX_COMMENTS = 20_000  # per import


def planned_comments(
    items: Sequence[Mapping[str, Any]], tasks: Mapping[str, tuple[str, Any]]
) -> tuple[list[dict[str, Any]], int]:
    """(the rows import_comments writes, the most comments one task gets) of the document's
    comments, `tasks` mapping each document task id to (its new id, its deleted_at)."""
    if len(items) > MAX_COMMENTS:
        raise _invalid(["body", "comments"], f"at most {MAX_COMMENTS} comments per import")
    # New ids ascending in the document's order: a task's comments are listed by (created_at,
    # id), so those of one time keep the document's order (random ones shuffled them).
    ids = sorted(str(uuid.uuid4()) for _ in items)
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    per_task: Counter[str] = Counter()
    for index, item in enumerate(items):
        loc = ["body", "comments", index]
        key = str(item["id"])
        if key in seen:
            raise _invalid([*loc, "id"], "is given twice")
        seen.add(key)
        task = tasks.get(str(item["task_id"]))
        if task is None:
            raise _invalid([*loc, "task_id"], "is not one of the document's tasks")
        by_owner = item.get("by_owner", True)
        author_name = item.get("author_name")
        if by_owner and author_name is not None:
            raise _invalid([*loc, "author_name"], "names another author: by_owner must be false")
        task_id, deleted_at = task
        per_task[task_id] += 1
        rows.append(
            {
                "id": ids[index],
                "task_id": task_id,
                "by_owner": by_owner,
                "author_name": None if author_name is None else author_name.strip(),
                "body": trimmed_text(item["body"], [*loc, "body"]),
                "created_at": instant(item.get("created_at"), [*loc, "created_at"]),
                "updated_at": instant(item.get("updated_at"), [*loc, "updated_at"]),
                "deleted_at": deleted_at,
                "seq": index,
            }
        )
    return rows, max(per_task.values(), default=0)


def _invalid(loc: list[Any], msg: str) -> UnprocessableContent:
    return UnprocessableContent.at(loc, msg, "value_error")
