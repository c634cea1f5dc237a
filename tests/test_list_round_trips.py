"""The lists' reads and writes check the access token's account in their own statement, as the
tasks' do (tests/test_round_trips.py): one round trip on one acquire."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from server.config import Settings
from tests.support import Api, User
from tests.test_round_trips import (
    Counted,
    CountingPool,
    _settle,
    _stop_background,
    count,
    counted_api,
)

__all__ = ["counted_api"]  # the fixture, used by name


def test_each_list_read_and_patch_is_one_round_trip_on_one_acquire(
    counted_api: tuple[Api, CountingPool], user: User
) -> None:
    api, counting = counted_api
    base, h = f"/api/{user.id}/lists", user.headers
    made = api.post(base, json={"name": "Counted"}, headers=h).json()
    one = f"{base}/{made['id']}"
    costs = {
        "list": count(api, counting, lambda: api.get(base, headers=h), 200),
        "get": count(api, counting, lambda: api.get(one, headers=h), 200),
        "PATCH": count(api, counting, lambda: api.patch(one, json={"name": "x"}, headers=h), 200),
    }
    costs["delete"] = _count_delete(api, user, counting)
    summary = {name: (c.acquires, len(c.statements)) for name, c in costs.items()}
    assert summary == dict.fromkeys(costs, (1, 1)), {n: c.statements for n, c in costs.items()}


def _count_delete(api: Api, user: User, counting: CountingPool) -> Counted:
    """Each DELETE needs a list of its own, made before the count starts (twice: the second
    is counted on a warm connection)."""
    base, h = f"/api/{user.id}/lists", user.headers
    counted = Counted()
    for _ in range(2):
        victim = api.post(base, json={"name": "victim"}, headers=h).json()["id"]
        counting.counted = Counted()
        assert api.delete(f"{base}/{victim}", headers=h).status_code == 204
        api.run(_settle())
        counted, counting.counted = counting.counted, Counted()
    return counted


class WholeStatements(CountingPool):
    def _log(self, record: Any) -> None:
        self.counted.statements.append(" ".join(record.query.split()))


@pytest.fixture
def whole_api(
    settings: Settings, make_api: Callable[..., Api], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Api, CountingPool]]:
    """counted_api, keeping each statement whole."""
    with make_api(settings) as api:
        api.run(_stop_background(api))
        yield api, WholeStatements(api.app.ctx.db, monkeypatch)


def test_creating_and_moving_spend_no_round_trip_on_the_session_alone(
    whole_api: tuple[Api, CountingPool], user: User
) -> None:
    """They check it in the statement that takes the placement lock, their first."""
    api, counting = whole_api
    base, h = f"/api/{user.id}/lists", user.headers
    made = api.post(base, json={"name": "Counted"}, headers=h).json()
    task = api.post(f"/api/{user.id}/tasks", json={"title": "moved"}, headers=h).json()
    costs = {
        "create list": count(
            api, counting, lambda: api.post(base, json={"name": "x"}, headers=h), 201
        ),
        "move list": count(
            api,
            counting,
            lambda: api.post(f"{base}/{made['id']}/move", json={"after_id": None}, headers=h),
            200,
        ),
        "move task": count(
            api,
            counting,
            lambda: api.post(
                f"/api/{user.id}/tasks/{task['id']}/move", json={"list_id": made["id"]}, headers=h
            ),
            200,
        ),
    }
    alone = {
        name: [s for s in c.statements if s.startswith("SELECT EXISTS") and "account_ok" not in s]
        for name, c in costs.items()
    }
    assert not any(alone.values()), {n: c.statements for n, c in costs.items()}
