"""GET /api/{user_id}/tasks: filters, sorting, offset and keyset paging, read in one statement
(its SQL, one fixed text per shape of request: server/tasks/page_sql.py)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import orjson

from server.db.executor import Executor
from server.db.queries import account_check
from server.http.paging import (
    both_offset_and_cursor,
    decode_cursor,
    encode_cursor,
    invalid_cursor,
)
from server.tasks import fields as task_fields
from server.tasks import page_sql
from server.tasks.placement import TOP_LEVEL

MAX_OFFSET = 2**63 - 1  # OFFSET is a bigint; any offset beyond is past the end all the same


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
    assignee: str | None  # a user's id (assignee=me: the caller's), or None (any)
    unassigned: bool | None  # True: assignee=none

    @classmethod
    def from_query(cls, query: dict[str, Any], me: str) -> Filters:
        q, assignee = query.get("q"), _text(query.get("assignee"))
        return cls(
            completed={"all": None, "pending": False, "completed": True}[query["status"]],
            priority=query.get("priority"),
            tags=task_fields.tags(query.get("tag") or [], ["query", "tag"]),
            pattern=None if q is None else f"%{like_escape(q)}%",
            due_before=task_fields.instant(query.get("due_before"), ["query", "due_before"]),
            due_after=task_fields.instant(query.get("due_after"), ["query", "due_after"]),
            list_id=_text(query.get("list_id")),
            parent_key=_parent_key(query.get("parent_id")),
            assignee=me if assignee == "me" else None if assignee == "none" else assignee,
            unassigned=True if assignee == "none" else None,
        )

    def in_use(self) -> dict[str, Any]:
        """The filters that are on (not null, tags not empty), by their name in page_sql.FILTERS
        and in its order: parent_key is the top level, child_of a parent's children."""
        named = (
            "completed",
            "priority",
            "tags",
            "pattern",
            "due_before",
            "due_after",
            "list_id",
            "assignee",
            "unassigned",
        )
        values = {name: getattr(self, name) for name in named}
        values["parent_key" if self.parent_key == TOP_LEVEL else "child_of"] = self.parent_key
        return {
            name: values[name]
            for name in page_sql.FILTERS
            if values.get(name) is not None and values[name] != []
        }


@dataclass(frozen=True)
class Page:
    body: dict[str, Any]  # the TaskPage
    shared: frozenset[str]  # the lists of other owners its tasks are in: the caller's memberships


@dataclass(frozen=True)
class PageRequest:
    token: Mapping[str, Any]  # the access token's parameters of the account check
    sort: str
    order: str
    limit: int
    offset: int | None  # None in keyset mode
    filters: Filters
    after: tuple[Any, ...] | None  # the sort key's fields of the previous page's last row

    @property
    def user_id(self) -> str:
        return str(self.token["user_id"])

    @property
    def key(self) -> page_sql.SortKey:
        return page_sql.SORT_KEYS[(self.sort, self.order)]

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
                f.assignee,
                f.unassigned,
            ],
            option=orjson.OPT_UTC_Z,
        )

    def statement(self, kept: bool = True) -> tuple[str, tuple[Any, ...]]:
        """The page query and its arguments (one row more than the page, to see if more follow);
        `kept`: written to keep one plan per connection (page_sql.Shape)."""
        filters = self.filters.in_use()
        shape = page_sql.Shape(self.sort, self.order, self.after is not None, tuple(filters), kept)
        paging = (self.offset,) if self.after is None else self.after
        token = [self.token[name] for name in account_check().params if name != "user_id"]
        args = (self.user_id, *filters.values(), self.limit + 1, *paging, *token)
        return page_sql.statement(shape), args


def page_request(token: Mapping[str, Any], query: dict[str, Any], secret: str) -> PageRequest:
    """The validated query of list_tasks as a PageRequest; a bad cursor is a 400."""
    if "cursor" in query and "offset" in query:
        both_offset_and_cursor()
    sort = query["sort"]
    request = PageRequest(
        token=token,
        sort=sort,
        order=query.get("order") or ("asc" if sort == "position" else "desc"),
        limit=query["limit"],
        offset=min(query.get("offset", 0), MAX_OFFSET),
        filters=Filters.from_query(query, str(token["user_id"])),
        after=None,
    )
    if "cursor" not in query:
        return request
    raw_key, last_id = decode_cursor(secret, request.context(), query["cursor"])
    return replace(request, offset=None, after=_after_from_cursor(request.key, raw_key, last_id))


async def read_page(db: Executor, request: PageRequest, secret: str, kept: bool = True) -> Page:
    """The TaskPage body (the page, the total of matches and the cursor after the page, read
    in one statement: one snapshot, the total and the page agree, which also checks the access
    token), and the shared lists its tasks are in. `kept`: False through PgBouncer
    (page_sql.Shape)."""
    sql, args = request.statement(kept)
    rows = await db.fetch(sql, *args)
    head = rows[0]
    found = rows if head["id"] is not None else []
    page = found[: request.limit]
    more = len(found) > request.limit
    body = {
        "tasks": [task_fields.task_body(row) for row in page],
        "total": head["total"],
        "limit": request.limit,
        "offset": request.offset,
        "next_cursor": _cursor_after(request, page[-1], secret) if more else None,
    }
    others = (row for row in page if str(row["user_id"]) != request.user_id)
    return Page(body, frozenset(str(row["list_id"]) for row in others))


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


def _after_from_cursor(key: page_sql.SortKey, raw: Any, last_id: str) -> tuple[Any, ...]:
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
