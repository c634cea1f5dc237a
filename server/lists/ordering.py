"""Putting one item (a list, a task) among its siblings: the key between its new neighbours,
or, when they are too close together, fresh keys for a crowded run around it as well (each
renumbered sibling is a change: its version grows). Runs inside the caller's transaction,
under the user's placement lock, so no other move reads the same neighbours meanwhile."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from server.errors import UnprocessableContent
from server.lists import positions

T = TypeVar("T")
LAST: Any = object()  # after_id omitted: the item goes after every sibling


@dataclass(frozen=True)
class Siblings:
    """The group an item goes into, as the queries that read and renumber it, each bound to
    the group and leaving out the item itself."""

    neighbours: Callable[[str | None], Awaitable[Any]]  # after_id -> {found, low, high}
    positions: Callable[[], Awaitable[list[Any]]]  # [{id, position}] in order
    park: Callable[[list[str]], Awaitable[None]]
    renumber: Callable[[list[str], list[str]], Awaitable[None]]
    next_position: Callable[[], Awaitable[str]]
    not_a_sibling: str  # why an unknown after_id is refused


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
