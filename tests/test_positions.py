"""Positions as pure functions: keys strictly between their neighbours in byte order, never
ending in the lowest digit, spread evenly, and a crowded run respaced within its neighbours."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.ordering import positions
from server.ordering.positions import DIGITS, MAX_LENGTH, RESPACED_LENGTH

KEYS = st.text(alphabet=DIGITS, min_size=1, max_size=70).filter(lambda k: not k.endswith("0"))


@given(KEYS, KEYS)
def test_between_is_strictly_between_and_never_ends_in_zero(a: str, b: str) -> None:
    if a == b:
        return
    low, high = sorted((a, b))
    key = positions.between(low, high)
    assert low < key < high
    assert not key.endswith("0")
    assert positions.between(None, high) < high


def test_between_refuses_neighbours_out_of_order() -> None:
    with pytest.raises(ValueError, match="no key between"):
        positions.between("b", "a")


@given(st.integers(min_value=0, max_value=300), KEYS)
def test_spread_gives_increasing_short_keys(count: int, high: str) -> None:
    keys = positions.spread(None, high, count)
    assert len(keys) == count
    assert keys == sorted(set(keys))
    assert all(k < high for k in keys)


def test_adversarial_insertions_outgrow_the_limit_and_respacing_brings_them_back() -> None:
    siblings = ["a1V", "a2V"]
    index = 1
    grown = 0
    while (key := positions.place(siblings[index - 1], siblings[index])) is not None:
        siblings.insert(index, key)  # always right after the first
        grown += 1
    assert grown > 300  # many moves stay a one-row write before any renumbering
    run = positions.respace(siblings, index, "b3V")
    new = [*siblings[: run.start], *run.keys, *siblings[run.stop :]]
    assert new == sorted(new)
    assert len(set(new)) == len(new)
    assert max(map(len, run.keys)) <= RESPACED_LENGTH < MAX_LENGTH
    assert run.stop - run.start < len(siblings)  # a run, not the whole group
