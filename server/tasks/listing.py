"""GET /api/{user_id}/tasks: filters, sorting, offset and keyset paging.

The SQL is a choice among fixed fragments: one filter clause, and per (sort, order) an ORDER BY
and a keyset predicate over the same key. Nothing a client sends reaches the SQL text; it is
bound as parameters. Each sort key has an index led by user_id and ending in id (migration
0002), so a page is an index range scan at any cursor depth. Undated tasks sort last in both
directions because the due-date key is coalesce(due_date, +/-infinity), never null.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import orjson

from server.db.pool import Database
from server.db.queries import TASK_COLUMNS
from server.errors import BadRequest
from server.tasks import fields as task_fields
from server.tasks.cursors import decode_cursor, encode_cursor, invalid_cursor

COLUMNS = f"{TASK_COLUMNS}, priority_rank"
# $1 user_id, $2 is_completed, $3 priority, $4 tags (all of them), $5 ILIKE pattern,
# $6 due_before, $7 due_after: see Filters.args. A null (or empty tags) filter is off.
MATCHES = """user_id = $1
   AND ($2::boolean IS NULL OR is_completed = $2)
   AND ($3::text IS NULL OR priority = $3)
   AND (cardinality($4::text[]) = 0 OR tags @> $4)
   AND ($5::text IS NULL OR title ILIKE $5 OR description ILIKE $5)
   AND ($6::timestamptz IS NULL OR due_date < $6)
   AND ($7::timestamptz IS NULL OR due_date > $7)"""
COUNT_SQL = "SELECT count(*) FROM tasks WHERE " + MATCHES  # noqa: S608 (fixed fragments)
# Every row of a page carries the count of all matches: one statement, one round trip.
TOTAL = f"({COUNT_SQL}) AS total"


@dataclass(frozen=True)
class SortKey:
    column: str  # the row field the cursor keeps
    expression: str  # the indexed expression
    parameter: str  # the cursor's key as bound parameter $9, cast to the expression's type


SORT_KEYS = {
    ("created", "asc"): SortKey("created_at", "created_at", "$9::timestamptz"),
    ("created", "desc"): SortKey("created_at", "created_at", "$9::timestamptz"),
    ("updated", "asc"): SortKey("updated_at", "updated_at", "$9::timestamptz"),
    ("updated", "desc"): SortKey("updated_at", "updated_at", "$9::timestamptz"),
    ("title", "asc"): SortKey("title", "title", "$9::text"),
    ("title", "desc"): SortKey("title", "title", "$9::text"),
    ("priority", "asc"): SortKey("priority_rank", "priority_rank", "$9::smallint"),
    ("priority", "desc"): SortKey("priority_rank", "priority_rank", "$9::smallint"),
    ("due_date", "asc"): SortKey(
        "due_date", "coalesce(due_date, 'infinity')", "coalesce($9::timestamptz, 'infinity')"
    ),
    ("due_date", "desc"): SortKey(
        "due_date", "coalesce(due_date, '-infinity')", "coalesce($9::timestamptz, '-infinity')"
    ),
}
DIRECTIONS = {"asc": ("ASC", ">"), "desc": ("DESC", "<")}
MAX_OFFSET = 2**63 - 1  # OFFSET is a bigint; any offset beyond is past the end all the same


def _page_sql(key: SortKey, order: str, keyset: bool) -> str:
    """One page: $8 rows from offset $9 (offset mode), or after ($9, $10) (keyset mode), each
    with the total of matches (computed once, as an InitPlan)."""
    direction, beyond = DIRECTIONS[order]
    after = f"\n   AND ({key.expression}, id) {beyond} ({key.parameter}, $10::uuid)"
    return (
        f"SELECT {COLUMNS}, {TOTAL}\n  FROM tasks\n"  # noqa: S608
        f" WHERE {MATCHES}{after if keyset else ''}\n"
        f" ORDER BY {key.expression} {direction}, id {direction}\n"
        f" LIMIT $8{'' if keyset else ' OFFSET $9'}"
    )


# Every statement the listing can run, fixed when the module loads: (sort, order, keyset) -> SQL.
PAGE_SQL = {
    (sort, order, keyset): _page_sql(key, order, keyset)
    for (sort, order), key in SORT_KEYS.items()
    for keyset in (False, True)
}


@dataclass(frozen=True)
class Filters:
    completed: bool | None
    priority: str | None
    tags: list[str]
    pattern: str | None
    due_before: datetime | None
    due_after: datetime | None

    @classmethod
    def from_query(cls, query: dict[str, Any]) -> Filters:
        q = query.get("q")
        return cls(
            completed={"all": None, "pending": False, "completed": True}[query["status"]],
            priority=query.get("priority"),
            tags=task_fields.tags(query.get("tag") or [], ["query", "tag"], stored=False),
            pattern=None if q is None else f"%{like_escape(q)}%",
            due_before=task_fields.instant(query.get("due_before"), ["query", "due_before"]),
            due_after=task_fields.instant(query.get("due_after"), ["query", "due_after"]),
        )

    def args(self, user_id: str) -> tuple[Any, ...]:
        """$1 to $7 of MATCHES."""
        return (
            user_id,
            self.completed,
            self.priority,
            self.tags,
            self.pattern,
            self.due_before,
            self.due_after,
        )


@dataclass(frozen=True)
class PageRequest:
    user_id: str
    sort: str
    order: str
    limit: int
    offset: int | None  # None in keyset mode
    filters: Filters
    after: tuple[Any, str] | None  # (sort key, id) of the previous page's last row

    @property
    def key(self) -> SortKey:
        return SORT_KEYS[(self.sort, self.order)]

    def context(self) -> bytes:
        """What a cursor is bound to: this user, this sort and order, these filters."""
        f = self.filters
        return orjson.dumps(
            [
                self.user_id,
                self.sort,
                self.order,
                f.completed,
                f.priority,
                sorted(f.tags),
                f.pattern,
                f.due_before,
                f.due_after,
            ],
            option=orjson.OPT_UTC_Z,
        )

    def statement(self) -> tuple[str, tuple[Any, ...]]:
        """The page query and its arguments (one row more than the page, to see if more follow)."""
        args = (*self.filters.args(self.user_id), self.limit + 1)
        if self.after is None:
            return PAGE_SQL[(self.sort, self.order, False)], (*args, self.offset)
        return PAGE_SQL[(self.sort, self.order, True)], (*args, *self.after)


def page_request(user_id: str, query: dict[str, Any], secret: str) -> PageRequest:
    """The validated query of list_tasks as a PageRequest; a bad cursor is a 400."""
    if "cursor" in query and "offset" in query:
        raise BadRequest.at(
            ["query", "cursor"],
            "cannot be combined with offset",
            "value_error",
            "Send either offset or cursor, not both.",
        )
    request = PageRequest(
        user_id=user_id,
        sort=query["sort"],
        order=query["order"],
        limit=query["limit"],
        offset=min(query.get("offset", 0), MAX_OFFSET),
        filters=Filters.from_query(query),
        after=None,
    )
    if "cursor" not in query:
        return request
    raw_key, last_id = decode_cursor(secret, request.context(), query["cursor"])
    after = (_sort_key_from_cursor(request.key, raw_key), _uuid_from_cursor(last_id))
    return replace(request, offset=None, after=after)


async def read_page(db: Database, request: PageRequest, secret: str) -> dict[str, Any]:
    """The TaskPage body: the page, the total of matches and the cursor after the page, read
    in one snapshot so that the total and the page agree.

    Custom plans matter: a generic plan cannot see which filters are off, misjudges them and
    sorts all of the user's tasks; a plan made for the actual arguments walks the sort key's
    index. An empty page has no row to carry the total, so only then is it counted apart.
    """
    sql, args = request.statement()
    async with db.snapshot() as conn:
        rows = await conn.fetch(sql, *args)
        if rows:
            total = rows[0]["total"]
        else:
            total = await conn.fetchval(COUNT_SQL, *request.filters.args(request.user_id))
    page = rows[: request.limit]
    more = len(rows) > request.limit
    return {
        "tasks": [task_fields.task_body(row) for row in page],
        "total": total,
        "limit": request.limit,
        "offset": request.offset,
        "next_cursor": _cursor_after(request, page[-1], secret) if more else None,
    }


def _cursor_after(request: PageRequest, row: Any, secret: str) -> str:
    value = row[request.key.column]
    key = value.isoformat() if isinstance(value, datetime) else value
    return encode_cursor(secret, request.context(), key, row["id"])


def like_escape(text: str) -> str:
    """Input for LIKE/ILIKE that matches itself: \\, % and _ lose their powers."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _sort_key_from_cursor(key: SortKey, raw: Any) -> Any:
    """The key as the query binds it; the MAC already vouches for it, this checks the shape."""
    if key.column == "title" and isinstance(raw, str):
        return raw
    if key.column == "priority_rank" and type(raw) is int and 1 <= raw <= 3:
        return raw
    if key.column == "due_date" and raw is None:
        return None
    if key.column in ("created_at", "updated_at", "due_date") and isinstance(raw, str):
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            raise invalid_cursor() from None
        if value.tzinfo is not None:
            return value
    raise invalid_cursor()


def _uuid_from_cursor(raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise invalid_cursor() from None
