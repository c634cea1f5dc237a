"""What the service really answers on the hot path is vouched for by the compiled plans
(server/contract/fastpath.py), never handed to openapi-core: a plan that grew unsure of a
field (issue 14's list_id, parent_id, position) would cost every page milliseconds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from server.contract import pipeline
from tests.support import Api, User


@pytest.fixture
def fallbacks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every request or response the pipeline handed to openapi-core."""
    seen: list[str] = []
    for name in ("validate_request", "validate_response"):
        real = getattr(pipeline, name)

        def counted(*args: Any, _real: Any = real, _name: str = name) -> Any:
            seen.append(f"{_name} {args[1].method} {args[1].path}")
            return _real(*args)

        monkeypatch.setattr(pipeline, name, counted)
    return seen


def test_task_pages_and_tasks_of_every_shape_take_the_fast_path(
    api: Api, user: User, make_task: Callable[..., dict[str, Any]], fallbacks: list[str]
) -> None:
    parent = make_task(user, title="Plan", description="d", due_date="2026-12-01T09:00:00Z")
    for i in range(4):
        make_task(user, title=f"t{i}", tags=["home", "errand"][: i % 3], priority="high")
    child = make_task(user, title="Step", parent_id=parent["id"])
    api.post(f"/api/{user.id}/tasks/{parent['id']}/complete", headers=user.headers)
    fallbacks.clear()
    base = f"/api/{user.id}/tasks"
    queries = [
        "limit=2",  # an offset page with a next cursor
        "",
        f"limit=2&sort=position&list_id={parent['list_id']}",
        f"parent_id={parent['id']}",
        "sort=due_date&order=asc&status=completed",
    ]
    for query in queries:
        page = api.get(f"{base}?{query}", headers=user.headers)
        assert page.status_code == 200, page.text
        cursor = page.json()["next_cursor"]
        if cursor:  # the next page, by the cursor, with the same sort and filters
            following = api.get(f"{base}?{query}&cursor={cursor}", headers=user.headers)
            assert following.status_code == 200, following.text
    for task in (parent, child):
        assert api.get(f"{base}/{task['id']}", headers=user.headers).status_code == 200
    assert api.get(f"/api/{user.id}/stats", headers=user.headers).status_code == 200
    assert fallbacks == []
