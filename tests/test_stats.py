"""GET /api/{user_id}/stats: counts of one user's tasks, never another's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.support import Api, User

MakeTask = Callable[..., dict[str, Any]]


def stats_of(api: Api, owner: User) -> dict[str, Any]:
    response = api.get(f"/api/{owner.id}/stats", headers=owner.headers)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def test_stats_of_a_user_without_tasks_are_zero(api: Api, user: User) -> None:
    assert stats_of(api, user) == {
        "total": 0,
        "completed": 0,
        "pending": 0,
        "overdue": 0,
        "by_priority": {"low": 0, "medium": 0, "high": 0},
        "tags": [],
    }


def test_stats_count_status_priority_overdue_and_tags(
    api: Api, user: User, other_user: User, make_task: MakeTask
) -> None:
    past, future = "2000-01-01T00:00:00Z", "2999-01-01T00:00:00Z"
    make_task(user, title="a", priority="high", due_date=past, tags=["Work", "urgent"])
    make_task(user, title="b", priority="high", due_date=past, is_completed=True, tags=["work"])
    make_task(user, title="c", priority="low", due_date=future, tags=["home"])
    make_task(user, title="d", tags=["home", "work"])
    make_task(user, title="e", is_completed=True, tags=["admin"])
    make_task(other_user, title="theirs", priority="low", due_date=past, tags=["work", "zzz"])
    assert stats_of(api, user) == {
        "total": 5,
        "completed": 2,
        "pending": 3,
        "overdue": 1,  # open and past due; the completed past-due task is not overdue
        "by_priority": {"low": 1, "medium": 2, "high": 2},
        "tags": [
            {"tag": "work", "count": 3},
            {"tag": "home", "count": 2},
            {"tag": "admin", "count": 1},
            {"tag": "urgent", "count": 1},
        ],
    }


def test_stats_follow_changes(api: Api, user: User, make_task: MakeTask) -> None:
    task = make_task(user, title="x", tags=["one"])
    api.patch(f"/api/{user.id}/tasks/{task['id']}/complete", headers=user.headers)
    assert stats_of(api, user)["completed"] == 1
    api.delete(f"/api/{user.id}/tasks/{task['id']}", headers=user.headers)
    assert stats_of(api, user)["total"] == 0
    assert stats_of(api, user)["tags"] == []
