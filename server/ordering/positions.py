"""Positions: opaque keys that order siblings byte by byte, made between two neighbours.

A key is a base-62 fraction written with the digits 0-9A-Za-z (ASCII order is numeric order)
that never ends in '0', so there is always room between two keys. `between` is the midpoint
of fractional indexing (after rocicorp/fractional-indexing and Figma's write-up): the shortest
key strictly between two neighbours, one digit longer every five or six halvings. The database
makes every "last" key itself (next_position(), migration 0010: after every key ever made, so
appends never collide); keys made here always lie below an existing or fresh such key.

Inserting again and again at one spot lengthens keys there; `respace` then gives a run of
siblings around the spot fresh, short keys (a window doubled until its keys fit), so no key
exceeds MAX_LENGTH whatever the sequence of moves.
"""

from __future__ import annotations

from dataclasses import dataclass

DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
MAX_LENGTH = 64  # what a position may be (the tables CHECK it)
RESPACED_LENGTH = 24  # what a respaced run aims at, leaving room for the moves that follow


def between(low: str | None, high: str) -> str:
    """The shortest key strictly between low (None: before everything) and high."""
    low = low or ""
    if not low < high:
        raise ValueError(f"no key between {low!r} and {high!r}")
    return _midpoint(low, high)


def _midpoint(low: str, high: str | None) -> str:
    """A key between low and high (None: the end of the range), neither ending in '0'."""
    if high is not None:
        shared = 0
        while (low[shared] if shared < len(low) else "0") == high[shared]:
            shared += 1
        if shared:
            return high[:shared] + _midpoint(low[shared:], high[shared:])
    digit_low = DIGITS.index(low[0]) if low else 0
    digit_high = DIGITS.index(high[0]) if high is not None else len(DIGITS)
    if digit_high - digit_low > 1:
        return DIGITS[(digit_low + digit_high + 1) // 2]
    if high is not None and len(high) > 1:
        return high[0]
    return DIGITS[digit_low] + _midpoint(low[1:], None)


def spread(low: str | None, high: str, count: int) -> list[str]:
    """`count` increasing keys between low and high, split evenly so that they stay short."""
    if count == 0:
        return []
    middle = between(low, high)
    half = count // 2
    return [*spread(low, middle, half), middle, *spread(middle, high, count - half - 1)]


@dataclass(frozen=True)
class Respacing:
    """Siblings[start:stop] and the placed item (at index `start + offset`) take `keys`."""

    start: int
    stop: int
    keys: list[str]


def respace(siblings: list[str], index: int, fresh: str) -> Respacing:
    """New keys for the smallest run of `siblings` (keys in order, without the item being
    placed) around `index` (where the item goes, before the last sibling) whose keys, with the
    item's, fit in RESPACED_LENGTH. The last sibling bounds every run and keeps its key, so a
    task appended meanwhile (after every key) stays after the run; only when no run below it
    fits does the whole group take new keys below `fresh`, a key after every key."""
    last = len(siblings) - 1
    reach = 1
    while True:
        start, stop = max(0, index - reach), min(last, index + reach)
        low = siblings[start - 1] if start > 0 else None
        keys = spread(low, siblings[stop], stop - start + 1)
        if max(map(len, keys)) <= RESPACED_LENGTH:
            return Respacing(start, stop, keys)
        if start == 0 and stop == last:
            return Respacing(0, len(siblings), spread(None, fresh, len(siblings) + 1))
        reach *= 2


def place(low: str | None, high: str | None) -> str | None:
    """The key between two neighbours, or None when it would be too long (respace then).
    Never called with no upper neighbour: the last place is next_position()'s."""
    assert high is not None
    key = between(low, high)
    return key if len(key) <= MAX_LENGTH else None
