"""The listing's SQL: one statement per shape of request, composed from fixed fragments.

A shape is the sort and order, offset or keyset paging, and which filters are in use. Each
shape has a statement text of its own that holds the conditions of those filters alone, so
the plan PostgreSQL keeps for a prepared statement (a generic plan, after its fifth run) fits
the request: a single text with every filter made optional (`$2 IS NULL OR ...`) gets a
generic plan that cannot tell which are off, and sorts all of the user's tasks. No transaction
and no plan_cache_mode are needed for that; nothing a client sends reaches the text, whose
values are all bound parameters.

Each sort key has an index led by user_id and ending in id (migration 0002), so a page is an
index range scan at any cursor depth. Undated tasks sort last in both directions because the
due-date key is coalesce(due_date, +/-infinity), never null.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

from server.db.queries import TASK_COLUMNS, account_check

COLUMNS = f"{TASK_COLUMNS}, priority_rank"
# Each filter's condition, its bound value as {0}; the order is that of Filters' fields.
FILTERS = {
    "completed": "is_completed = {0}",
    "priority": "priority = {0}",
    "tags": "tags @> {0}",  # all of them
    "pattern": "(title ILIKE {0} OR description ILIKE {0})",
    "due_before": "due_date < {0}",
    "due_after": "due_date > {0}",
}


@dataclass(frozen=True)
class SortKey:
    column: str  # the row field the cursor keeps
    expression: str  # the indexed expression
    parameter: str  # the cursor's key as bound parameter {0}, cast to the expression's type


SORT_KEYS = {
    ("created", "asc"): SortKey("created_at", "created_at", "{0}::timestamptz"),
    ("created", "desc"): SortKey("created_at", "created_at", "{0}::timestamptz"),
    ("updated", "asc"): SortKey("updated_at", "updated_at", "{0}::timestamptz"),
    ("updated", "desc"): SortKey("updated_at", "updated_at", "{0}::timestamptz"),
    ("title", "asc"): SortKey("title", "title", "{0}::text"),
    ("title", "desc"): SortKey("title", "title", "{0}::text"),
    ("priority", "asc"): SortKey("priority_rank", "priority_rank", "{0}::smallint"),
    ("priority", "desc"): SortKey("priority_rank", "priority_rank", "{0}::smallint"),
    ("due_date", "asc"): SortKey(
        "due_date", "coalesce(due_date, 'infinity')", "coalesce({0}::timestamptz, 'infinity')"
    ),
    ("due_date", "desc"): SortKey(
        "due_date", "coalesce(due_date, '-infinity')", "coalesce({0}::timestamptz, '-infinity')"
    ),
}
DIRECTIONS = {"asc": ("ASC", ">"), "desc": ("DESC", "<")}


@dataclass(frozen=True)
class Shape:
    sort: str
    order: str
    keyset: bool
    filters: tuple[str, ...]  # the names of FILTERS in use, in FILTERS' order


@functools.cache
def statement(shape: Shape) -> str:
    """The shape's statement. Its parameters: $1 the user, one per filter in use, the number
    of rows, then the offset (offset mode) or the previous page's last (key, id) (keyset
    mode), then the account check's own parameters other than the user, in its order.

    Its first row is the header (account_ok, total) with the page's first task, or with
    nulls when the page is empty; each further row carries the next task. The total is an
    InitPlan, counted once per page; `ON true` leaves the planner a nested loop alone, over
    one header row, which keeps the page's order.
    """
    numbers = (f"${n}" for n in itertools.count(2))
    matches = " AND ".join(
        ["user_id = $1", *(FILTERS[name].format(next(numbers)) for name in shape.filters)]
    )
    limit = next(numbers)
    key = SORT_KEYS[(shape.sort, shape.order)]
    direction, beyond = DIRECTIONS[shape.order]
    if shape.keyset:
        last_key, last_id = next(numbers), next(numbers)
        after = f" AND ({key.expression}, id) {beyond} ({key.parameter.format(last_key)}, "
        after += f"{last_id}::uuid)"
        paging = f"LIMIT {limit}"
    else:
        after, paging = "", f"LIMIT {limit} OFFSET {next(numbers)}"
    check = account_check()
    bound = {"user_id": "$1", **{p: next(numbers) for p in check.params if p != "user_id"}}
    return (
        f"SELECT head.account_ok, head.total, page.*\n"  # noqa: S608 (fixed fragments)
        f"  FROM (SELECT {check.numbered(bound)} AS account_ok,\n"
        f"               (SELECT count(*) FROM tasks WHERE {matches}) AS total) AS head\n"
        f"  LEFT JOIN (SELECT {COLUMNS}\n"
        f"               FROM tasks\n"
        f"              WHERE {matches}{after}\n"
        f"              ORDER BY {key.expression} {direction}, id {direction}\n"
        f"              {paging}) AS page ON true"
    )
