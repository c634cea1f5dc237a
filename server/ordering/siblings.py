"""Putting one item (a list, a task) among its siblings: the key between its new neighbours,
or, when they are too close together, fresh keys for a crowded run around it as well (each
renumbered sibling is a change: its version grows). Runs inside the caller's transaction,
under the user's placement lock, so no other move reads the same neighbours meanwhile."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from server.db.executor import Executor, Row
from server.errors import UnprocessableContent
from server.ordering import positions

T = TypeVar("T")
LAST: Any = object()  # after_id omitted: the item goes after every sibling


@dataclass(frozen=True)
class Siblings:
    """The group an item goes into, read and renumbered through its named queries on `conn`:
    `group` holds the parameters that name the group (user_id among them), and the item
    itself is left out of it."""

    conn: Executor
    group: Mapping[str, str]
    item_id: str
    neighbours_query: Callable[..., Awaitable[Row]]  # (group, id, after_id) -> {found, low, high}
    positions_query: Callable[..., AsyncIterator[Row]]  # (group, id) -> [{id, position}] in order
    park_query: Callable[..., Awaitable[str]]  # (user_id, ids)
    renumber_query: Callable[..., Awaitable[str]]  # (user_id, ids, positions)
    next_position_query: Callable[..., Awaitable[str]]
    not_a_sibling: str  # why an unknown after_id is refused

    async def neighbours(self, after_id: str | None) -> Row:
        query = self.neighbours_query
        return await query(self.conn, **self.group, id=self.item_id, after_id=after_id)

    async def positions(self) -> list[Row]:
        rows = self.positions_query(self.conn, **self.group, id=self.item_id)
        return [row async for row in rows]

    async def park(self, ids: list[str]) -> None:
        await self.park_query(self.conn, user_id=self.group["user_id"], ids=ids)

    async def renumber(self, ids: list[str], keys: list[str]) -> None:
        user_id = self.group["user_id"]
        await self.renumber_query(self.conn, user_id=user_id, ids=ids, positions=keys)

    async def next_position(self) -> str:
        key: str = await self.next_position_query(self.conn)
        return key


@dataclass(frozen=True)
class Slot:
    position: str | None  # None: after every sibling (next_position())
    renumbered: list[str] = field(default_factory=list)  # siblings that take new keys
    keys: list[str] = field(default_factory=list)


async def find_slot(siblings: Siblings, after_id: Any) -> Slot:
    """Where the item goes right after sibling `after_id` (None: first; LAST: last)."""
    if after_id is LAST:
        return Slot(None)
    around = await siblings.neighbours(after_id)
    if after_id is not None and not around["found"]:
        raise UnprocessableContent.at(["body", "after_id"], siblings.not_a_sibling, "value_error")
    if around["high"] is None:
        return Slot(None)
    key = positions.place(around["low"], around["high"])
    if key is not None:
        return Slot(key)
    rows = await siblings.positions()
    keys = [row["position"] for row in rows]
    index = 0 if around["low"] is None else keys.index(around["low"]) + 1
    run = positions.respace(keys, index, await siblings.next_position())
    fresh = list(run.keys)
    own = fresh.pop(index - run.start)
    return Slot(own, [row["id"] for row in rows[run.start : run.stop]], fresh)


async def put(siblings: Siblings, slot: Slot, write: Callable[[str | None], Awaitable[T]]) -> T:
    """Write the item at its slot (write(position) is its own UPDATE) and renumber the run:
    the run is parked first, so that no step meets a position still held."""
    if slot.renumbered:
        await siblings.park(slot.renumbered)
    row = await write(slot.position)
    if slot.renumbered:
        await siblings.renumber(slot.renumbered, slot.keys)
    return row
