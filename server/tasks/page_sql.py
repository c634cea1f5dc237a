"""The listing's SQL: one statement per shape of request, composed from fixed fragments.

A shape is the sort and order, offset or keyset paging, and which filters are in use. Each
shape has a statement text of its own that holds the conditions of those filters alone, so
the plan PostgreSQL keeps for a prepared statement (a generic plan, after its fifth run) fits
the request: a single text with every filter made optional (`$2 IS NULL OR ...`) gets a
generic plan that cannot tell which are off, and sorts all of the user's tasks. No transaction
and no plan_cache_mode are needed for that; nothing a client sends reaches the text, whose
values are all bound parameters.

A page covers every list the caller belongs to (issue 26): the caller's own tasks, the plain
`user_id = $1` index scan it always was, and beside it (UNION ALL) each shared list's, a scan of
its owner's tasks in that list found through the caller's memberships (list_members, by member);
each branch is ordered and cut to the page on its own, and the page is the merge of those. For
a user who shares nothing the second branch is one empty index probe. The sort keys hold no
user_id, so a cursor runs across owners alike.

Each sort key has an index led by user_id and ending in id (migration 0002), so a page is an
index range scan at any cursor depth. A list's page in the default order, newest first (the
own branch filtered by list_id, and every shared list's branch), has one led by the list
too (migration 0062): a page's worth of rows read, whatever the list's size. Undated tasks
sort last in both directions because the due key is coalesce(due_at, +/-infinity), never null.
due_at is the instant a task counts as due (an all-day task: the end of its day in its owner's
zone, SPEC §8), kept by the triggers of migration 0030.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass

from server.db.queries import TASK_COLUMNS, account_check

COLUMNS = f"{TASK_COLUMNS}, priority_rank, parent_key, due_at"
# Each filter's condition, its bound value as {0}; {owner} is the owner of the tasks scanned.
# parent_key is the top level (the nil uuid); child_of a parent's children, who are all in its
# list: saying so lets a page of them be one range of the position index.
FILTERS = {
    "completed": "is_completed = {0}",
    "priority": "priority = {0}",
    "tags": "tags @> {0}",  # all of them
    "pattern": "(title ILIKE {0} OR description ILIKE {0})",
    "due_before": "due_at < {0}",
    "due_after": "due_at > {0}",
    "list_id": "list_id = {0}",
    "parent_key": "parent_key = {0}",
    "child_of": "parent_key = {0}"
    " AND list_id = (SELECT p.list_id FROM tasks AS p WHERE p.user_id = {owner} AND p.id = {0})",
    "assignee": "assignee_id = {0}",
    "unassigned": "(assignee_id IS NULL) = {0}",
}
# The tasks a branch scans: the caller's own, and a shared list's (m: the caller's membership).
OWN, SHARED = "user_id = {caller}", "user_id = m.owner_id AND list_id = m.list_id"
OWNERS = {OWN: "{caller}", SHARED: "m.owner_id"}
# The account check's parameters' types, as a statement that keeps one plan reads them.
CHECK_TYPES = {"session_id": "uuid", "token_hash": "bytea"}


@dataclass(frozen=True)
class SortKey:
    fields: tuple[str, ...]  # the row fields the cursor keeps (the last one is the tiebreak)
    terms: tuple[str, ...]  # the indexed expressions the page is ordered by
    casts: tuple[str, ...]  # each cursor value as bound ({} is its parameter)


def _tied_on_id(column: str, cast: str, expression: str | None = None) -> SortKey:
    return SortKey((column, "id"), (expression or column, "id"), (cast, "{}::uuid"))


DUE_ASC = "coalesce(due_at, 'infinity')"
DUE_DESC = "coalesce(due_at, '-infinity')"
BY_SORT = {
    "created": _tied_on_id("created_at", "{}::timestamptz"),
    "updated": _tied_on_id("updated_at", "{}::timestamptz"),
    "title": _tied_on_id("title", "{}::text"),
    "priority": _tied_on_id("priority_rank", "{}::smallint"),
    # Manual order: each sibling group together, in position order. Positions are unique
    # among siblings, so the key needs no tiebreak: the unique index of migration 0011.
    "position": SortKey(
        ("list_id", "parent_key", "position"),
        ("list_id", "parent_key", "position"),
        ("{}::uuid", "{}::uuid", "{}::text"),
    ),
}
SORT_KEYS = {
    **{(sort, order): key for sort, key in BY_SORT.items() for order in ("asc", "desc")},
    ("due_date", "asc"): _tied_on_id("due_at", "coalesce({}::timestamptz, 'infinity')", DUE_ASC),
    ("due_date", "desc"): _tied_on_id("due_at", "coalesce({}::timestamptz, '-infinity')", DUE_DESC),
}
DIRECTIONS = {"asc": ("ASC", ">"), "desc": ("DESC", "<")}
# The sorts whose index is led by the user and the list (0062's newest first, 0011's positions):
# a page of one list reads that list's rows in order whatever its size, so a kept shape's
# statement hides the list from the planner as it hides the caller (statement()'s docstring).
# Seen, a small list's page was planned again on every call (some 0.6 ms, twice its reading).
LIST_LED = ("created", "position")
# The total of the common pages, read from the counts migrations 0039 and 0063 keep (every task,
# one list, the top level of either; all of them, or open or finished ones) rather than counted:
# by the filters in use, what to sum over the caller's lists ({completed}: that filter's value;
# finished tasks are the tasks less the open ones). Any other filter counts its matches.
_BY_STATUS = "CASE WHEN {{completed}} THEN c.{0} - c.{1} ELSE c.{1} END"
KEPT_TOTALS = {
    (): "c.tasks",
    ("list_id",): "c.tasks",
    ("parent_key",): "c.top_level",
    ("list_id", "parent_key"): "c.top_level",
    ("completed",): _BY_STATUS.format("tasks", "pending"),
    ("completed", "list_id"): _BY_STATUS.format("tasks", "pending"),
    ("completed", "parent_key"): _BY_STATUS.format("top_level", "pending_top_level"),
    ("completed", "list_id", "parent_key"): _BY_STATUS.format("top_level", "pending_top_level"),
}


@dataclass(frozen=True)
class Shape:
    sort: str
    order: str
    keyset: bool
    filters: tuple[str, ...]  # the names of FILTERS in use, in FILTERS' order
    # One plan per connection (below); False through PgBouncer, where asyncpg keeps no
    # prepared statement and each call is planned for its values anyway.
    kept: bool = True


# Statements kept: the common shapes are a few dozen, but a page's sort, order, paging and
# filters are a client's choice, some 49,000 texts of 2-3 KB each.
KEPT_SHAPES = 512


@functools.lru_cache(maxsize=KEPT_SHAPES)
def statement(shape: Shape) -> str:
    """The shape's statement. Its parameters: $1 the user, one per filter in use, the number
    of rows, then the offset (offset mode) or the previous page's last sort key values (keyset
    mode), then the account check's own parameters other than the user, in its order.

    Its first row is the header (account_ok, total) with the page's first task, or with
    nulls when the page is empty; each further row carries the next task. The total is an
    InitPlan, read once per page; `ON true` leaves the planner a nested loop alone, over
    one header row, which keeps the page's order.

    A kept shape reads the caller, the number of rows, the offset, the keyset's values and the
    account check's parameters as `(SELECT $n::type)`, values the planner does not see even
    when it plans for a call's values: a plan for the call's values then costs what the plan
    for any values costs, and PostgreSQL keeps the latter from the sixth call on. It planned
    every page again when the call's plan was priced lower (a LIMIT given as a parameter is
    priced as a tenth of the account's tasks; a member of few lists was priced below the
    average; a session's call dropped the personal token's branch), or not, as the statistics
    had it: a page's planning took five times its reading. The plan is the one PostgreSQL
    keeps for any values (tests/test_task_listing.py reads its index scans). The filters'
    values stay in sight: PostgreSQL may still plan a filtered page for its values, when it
    prices that lower.
    """
    caller = _unseen("$1", "uuid", shape.kept)
    numbers = (f"${n}" for n in itertools.count(2))
    params = {name: next(numbers) for name in shape.filters}
    if "list_id" in params and shape.sort in LIST_LED:
        params["list_id"] = _unseen(params["list_id"], "uuid", shape.kept)

    def matches(scope: str) -> str:
        owner = OWNERS[scope].format(caller=caller)
        found = (FILTERS[name].format(params[name], owner=owner) for name in shape.filters)
        return " AND ".join([scope.format(caller=caller), *found])

    limit = _unseen(next(numbers), "bigint", shape.kept)
    key = SORT_KEYS[(shape.sort, shape.order)]
    direction, beyond = DIRECTIONS[shape.order]
    if shape.keyset:
        values = ", ".join(
            _unseen(cast.format(next(numbers)), "", shape.kept) for cast in key.casts
        )
        after = f" AND ({', '.join(key.terms)}) {beyond} ({values})"
        each, paging = f"LIMIT {limit}", f"LIMIT {limit}"
    else:
        offset = _unseen(next(numbers), "bigint", shape.kept)
        after, paging = "", f"LIMIT {limit} OFFSET {offset}"
        # Each branch's first offset + limit rows (no limit past any page: bigint's range).
        each = f"LIMIT CASE WHEN {offset} < {2**62} THEN {limit} + {offset} END"
    order_by = ", ".join(f"{term} {direction}" for term in key.terms)
    check = account_check()
    bound = {
        "user_id": caller,
        **{
            p: _unseen(next(numbers), CHECK_TYPES[p], shape.kept)
            for p in check.params
            if p != "user_id"
        },
    }
    return (
        f"SELECT head.account_ok, head.total, page.*\n"  # noqa: S608 (fixed fragments)
        f"  FROM (SELECT {check.numbered(bound)} AS account_ok,\n"
        f"               {_total(params, matches, caller)} AS total) AS head\n"
        f"  LEFT JOIN (SELECT * FROM (\n"
        f"    (SELECT {COLUMNS} FROM tasks\n"
        f"      WHERE {matches(OWN)}{after}\n"
        f"      ORDER BY {order_by} {each})\n"
        f"    UNION ALL\n"
        f"    (SELECT shared.* FROM list_members AS m CROSS JOIN LATERAL (\n"
        f"       SELECT {COLUMNS} FROM tasks\n"
        f"        WHERE {matches(SHARED)}{after}\n"
        f"        ORDER BY {order_by} {each}) AS shared\n"
        f"      WHERE m.member_id = {caller} ORDER BY {order_by} {each})) AS found\n"
        f"   ORDER BY {order_by}\n"
        f"   {paging}) AS page ON true"
    )


def _total(params: dict[str, str], matches: Callable[[str], str], caller: str) -> str:
    """The page's total over the caller's own tasks and their shared lists': kept counts
    where there are some, else the matches counted."""
    kept = KEPT_TOTALS.get(tuple(params))
    if kept is None:
        return (
            f"((SELECT count(*) FROM tasks WHERE {matches(OWN)})"  # noqa: S608 (fixed fragments)
            f" + (SELECT count(*) FROM list_members AS m, LATERAL"
            f" (SELECT FROM tasks WHERE {matches(SHARED)}) AS t WHERE m.member_id = {caller}))"
        )
    counted = kept.format(completed=params.get("completed"))
    in_list = f" AND c.list_id = {params['list_id']}" if "list_id" in params else ""
    return (
        f"((SELECT coalesce(sum({counted}), 0)"  # noqa: S608 (fixed fragments)
        f" FROM list_counts AS c WHERE c.user_id = {caller}{in_list})"
        f" + (SELECT coalesce(sum({counted}), 0) FROM list_members AS m JOIN list_counts AS c"
        f" ON c.user_id = m.owner_id AND c.list_id = m.list_id"
        f" WHERE m.member_id = {caller}{in_list}))"
    )


def _unseen(param: str, kind: str, kept: bool) -> str:
    """A parameter as a value the planner does not see (statement's docstring) in a kept
    shape's statement (`kind`: its type, unless `param` is cast already)."""
    if not kept:
        return param
    return f"(SELECT {param}::{kind})" if kind else f"(SELECT {param})"
