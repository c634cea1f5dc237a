"""GET /api/{user_id}/tasks: filters, sorting, offset and keyset paging.

The SQL is a choice among fixed fragments: one filter clause, and per (sort, order) an ORDER BY
and a keyset predicate over the same key. Nothing a client sends reaches the SQL text; it is
bound as parameters. Each sort key has an index led by user_id and ending in id (migration
0002), so a page is an index range scan at any cursor depth. Undated tasks sort last in both
directions because the due key is coalesce(due_at, +/-infinity), never null. due_at is the
instant a task counts as due (an all-day task: the end of its day in its owner's zone, SPEC §8),
kept by the triggers of migration 0030.
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

COLUMNS = f"{TASK_COLUMNS}, priority_rank, parent_key, due_at"
# $1 user_id, $2 is_completed, $3 priority, $4 tags (all of them), $5 ILIKE pattern,
# $6 due_before, $7 due_after, $8 list_id, $9 parent_key (the nil uuid: top level): see
# Filters.args. A null (or empty tags) filter is off. A parent's children are all in its list:
# saying so lets a page of them be one range of the position index.
MATCHES = """user_id = $1
   AND ($2::boolean IS NULL OR is_completed = $2)
   AND ($3::text IS NULL OR priority = $3)
   AND (cardinality($4::text[]) = 0 OR tags @> $4)
   AND ($5::text IS NULL OR title ILIKE $5 OR description ILIKE $5)
   AND ($6::timestamptz IS NULL OR due_at < $6)
   AND ($7::timestamptz IS NULL OR due_at > $7)
   AND ($8::uuid IS NULL OR list_id = $8)
   AND ($9::uuid IS NULL OR parent_key = $9)
   AND ($9::uuid IS NULL OR $9 = '00000000-0000-0000-0000-000000000000'
        OR list_id = (SELECT p.list_id FROM tasks AS p WHERE p.user_id = $1 AND p.id = $9))"""
COUNT_SQL = "SELECT count(*) FROM tasks WHERE " + MATCHES  # noqa: S608 (fixed fragments)
# Every row of a page carries the count of all matches: one statement, one round trip.
TOTAL = f"({COUNT_SQL}) AS total"
LIMIT = "$10"
FIRST_KEY = 11  # the offset (offset mode), or the cursor's first value (keyset mode)


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
MAX_OFFSET = 2**63 - 1  # OFFSET is a bigint; any offset beyond is past the end all the same


def _page_sql(key: SortKey, order: str, keyset: bool) -> str:
    """One page: $10 rows from offset $11 (offset mode), or after the cursor's values ($11,
    ...) (keyset mode), each with the total of matches (computed once, as an InitPlan)."""
    direction, beyond = DIRECTIONS[order]
    terms = ", ".join(key.terms)
    values = ", ".join(cast.format(f"${FIRST_KEY + i}") for i, cast in enumerate(key.casts))
    after = f"\n   AND ({terms}) {beyond} ({values})"
    return (
        f"SELECT {COLUMNS}, {TOTAL}\n  FROM tasks\n"  # noqa: S608
        f" WHERE {MATCHES}{after if keyset else ''}\n"
        f" ORDER BY {', '.join(f'{term} {direction}' for term in key.terms)}\n"
        f" LIMIT {LIMIT}{'' if keyset else f' OFFSET ${FIRST_KEY}'}"
    )


# Every statement the listing can run, fixed when the module loads: (sort, order, keyset) -> SQL.
PAGE_SQL = {
    (sort, order, keyset): _page_sql(key, order, keyset)
    for (sort, order), key in SORT_KEYS.items()
    for keyset in (False, True)
}
TOP_LEVEL = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class Filters:
    completed: bool | None
    priority: str | None
    tags: list[str]
    pattern: str | None
    due_before: datetime | None
    due_after: datetime | None
    list_id: str | None
    parent_key: str | None  # a parent's id, TOP_LEVEL (parent_id=none), or None (any)

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
            list_id=_text(query.get("list_id")),
            parent_key=_parent_key(query.get("parent_id")),
        )

    def args(self, user_id: str) -> tuple[Any, ...]:
        """$1 to $9 of MATCHES."""
        return (
            user_id,
            self.completed,
            self.priority,
            self.tags,
            self.pattern,
            self.due_before,
            self.due_after,
            self.list_id,
            self.parent_key,
        )


@dataclass(frozen=True)
class PageRequest:
    user_id: str
    sort: str
    order: str
    limit: int
    offset: int | None  # None in keyset mode
    filters: Filters
    after: tuple[Any, ...] | None  # the sort key's fields of the previous page's last row

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
                f.list_id,
                f.parent_key,
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
    sort = query["sort"]
    request = PageRequest(
        user_id=user_id,
        sort=sort,
        order=query.get("order") or ("asc" if sort == "position" else "desc"),
        limit=query["limit"],
        offset=min(query.get("offset", 0), MAX_OFFSET),
        filters=Filters.from_query(query),
        after=None,
    )
    if "cursor" not in query:
        return request
    raw_key, last_id = decode_cursor(secret, request.context(), query["cursor"])
    return replace(request, offset=None, after=_after_from_cursor(request.key, raw_key, last_id))


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
    """The row's sort key (every field before the tiebreak; all three of a position) and id."""
    fields = request.key.fields
    values = [_json_ready(row[name]) for name in fields]
    key = values if fields[-1] != "id" else values[0]
    return encode_cursor(secret, request.context(), key, row["id"])


def _json_ready(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _parent_key(value: Any) -> str | None:
    """parent_id as matched against parent_key: `none` is the top level."""
    if value is None:
        return None
    return TOP_LEVEL if value == "none" else str(value)


def like_escape(text: str) -> str:
    """Input for LIKE/ILIKE that matches itself: \\, % and _ lose their powers."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _after_from_cursor(key: SortKey, raw: Any, last_id: str) -> tuple[Any, ...]:
    """The cursor's values as the keyset predicate binds them; the MAC already vouches for
    them, this checks their shape."""
    if key.fields[-1] != "id":  # position: (list_id, parent_key, position)
        if not (isinstance(raw, list) and len(raw) == 3 and isinstance(raw[2], str)):
            raise invalid_cursor()
        return (_uuid_from_cursor(raw[0]), _uuid_from_cursor(raw[1]), raw[2])
    return (_sort_key_from_cursor(key.fields[0], raw), _uuid_from_cursor(last_id))


def _sort_key_from_cursor(column: str, raw: Any) -> Any:
    if column == "title" and isinstance(raw, str):
        return raw
    if column == "priority_rank" and type(raw) is int and 1 <= raw <= 3:
        return raw
    if column == "due_at" and raw is None:
        return None
    if column in ("created_at", "updated_at", "due_at") and isinstance(raw, str):
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            raise invalid_cursor() from None
        if value.tzinfo is not None:
            return value
    raise invalid_cursor()


def _uuid_from_cursor(raw: Any) -> str:
    try:
        return str(uuid.UUID(raw))
    except (TypeError, ValueError, AttributeError):
        raise invalid_cursor() from None
