"""reminder_times (migration 0036) against what the tasks say (issue 23): after random writes of
every kind that moves a reminder (create, PATCH of reminders and dues, completion and its
cascade, recurrence advance, toggle, batch, delete, a list's deletion, clear-completed, restore,
a new time zone under all-day dues, moves), a walk of GET /reminders equals the reminders
computed here from a full listing of the open tasks and the account's zone."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.support import Api, User

WINDOW = {"from": "2029-12-26T00:00:00Z", "to": "2030-01-26T00:00:00Z"}
DURATIONS = {
    "PT1M": timedelta(minutes=1),
    "PT15M": timedelta(minutes=15),
    "PT1H": timedelta(hours=1),
    "P1D": timedelta(days=1),
    "P1W": timedelta(weeks=1),
    "P7D": timedelta(days=7),
}
ZONES = ["UTC", "Asia/Tokyo", "America/New_York", "Etc/GMT-14", "Etc/GMT+12"]


def expected(api: Api, owner: User) -> list[tuple[datetime, str]]:
    zone = ZoneInfo(api.get("/api/me", headers=owner.headers).json()["timezone"])
    start, end = (datetime.fromisoformat(WINDOW[k]) for k in ("from", "to"))
    found: set[tuple[datetime, str]] = set()
    cursor = None
    for _ in range(100):
        params = {"status": "pending", "limit": 100, **({"cursor": cursor} if cursor else {})}
        page = api.get(f"/api/{owner.id}/tasks", params=params, headers=owner.headers).json()
        for task in page["tasks"]:
            if task["due_on"] is not None:
                day = date.fromisoformat(task["due_on"]) + timedelta(days=1)
                due = datetime.combine(day, time(), zone).astimezone(UTC)
            else:
                due = task["due_date"] and datetime.fromisoformat(task["due_date"])
            for reminder in task["reminders"]:
                if "at" in reminder:
                    at = datetime.fromisoformat(reminder["at"])
                else:
                    at = due - DURATIONS[reminder["before_due"]]
                if start <= at < end:
                    found.add((at, task["id"]))
        if (cursor := page["next_cursor"]) is None:
            return sorted(found)
    raise AssertionError("the task listing does not end")


def listed(api: Api, owner: User) -> list[tuple[datetime, str]]:
    walked: list[tuple[datetime, str]] = []
    cursor = None
    for _ in range(1000):
        params = {**WINDOW, "limit": 7, **({"cursor": cursor} if cursor else {})}
        response = api.get(f"/api/{owner.id}/reminders", params=params, headers=owner.headers)
        assert response.status_code == 200, response.text
        walked += [
            (datetime.fromisoformat(r["fire_at"]), r["task_id"])
            for r in response.json()["reminders"]
        ]
        if (cursor := response.json()["next_cursor"]) is None:
            return walked
    raise AssertionError("the walk does not end")


class Writer:
    """Random writes of one account, each answered below 500."""

    def __init__(self, api: Api, owner: User, seed: int) -> None:
        self.api, self.owner, self.rng = api, owner, random.Random(seed)
        self.tasks: list[str] = []
        self.trashed: list[str] = []
        self.lists: list[str] = []

    def call(self, method: str, path: str, **kw: Any) -> Any:
        response = self.api.request(
            method, f"/api/{self.owner.id}{path}", headers=self.owner.headers, **kw
        )
        assert response.status_code < 500, response.text
        return response

    def instant(self) -> str:
        moment = datetime(2030, 1, 1, tzinfo=UTC) + timedelta(minutes=self.rng.randrange(35_000))
        return moment.isoformat()

    def dates(self) -> dict[str, Any]:
        kind = self.rng.choice(["none", "date", "day"])
        if kind == "date":
            return {"due_date": self.instant(), "due_on": None}
        if kind == "day":
            return {"due_date": None, "due_on": self.instant()[:10]}
        return {"due_date": None, "due_on": None}

    def reminders(self, dated: bool) -> list[dict[str, str]]:
        kinds = ["at", "before_due"] if dated else ["at"]
        made = []
        for _ in range(self.rng.randrange(6)):
            if self.rng.choice(kinds) == "at":
                made.append({"at": self.instant()})
            else:
                made.append({"before_due": self.rng.choice(list(DURATIONS))})
        return made

    def body(self) -> dict[str, Any]:
        dates = self.dates()
        dated = dates["due_date"] is not None or dates["due_on"] is not None
        body: dict[str, Any] = {"title": "r", **dates, "reminders": self.reminders(dated)}
        if dated and self.rng.random() < 0.4:
            rule = self.rng.choice(["FREQ=DAILY", "FREQ=WEEKLY;BYDAY=MO,TH", "FREQ=DAILY;COUNT=2"])
            body["recurrence"] = {"rule": rule}
        if self.tasks and self.rng.random() < 0.3:
            body["parent_id"] = self.rng.choice(self.tasks)
        if self.lists and self.rng.random() < 0.3:
            body["list_id"] = self.rng.choice(self.lists)
        return body

    def step(self) -> None:
        target = self.rng.choice(self.tasks) if self.tasks else None
        op = self.rng.choice(
            ["create"] * 4
            + ["reminders", "due", "complete", "reopen", "batch", "delete"]
            + ["restore", "zone", "move", "list", "drop list", "clear"]
        )
        if op == "create" or target is None:
            made = self.call("POST", "/tasks", json=self.body())
            if made.status_code == 201:
                self.tasks.append(made.json()["id"])
        elif op == "reminders":
            self.call("PATCH", f"/tasks/{target}", json={"reminders": self.reminders(True)})
        elif op == "due":
            self.call("PATCH", f"/tasks/{target}", json=self.dates())
        elif op == "complete":
            self.call("PATCH", f"/tasks/{target}/complete")
        elif op == "reopen":
            self.call("PATCH", f"/tasks/{target}", json={"is_completed": False})
        elif op == "batch":
            items = [
                {"op": "update", "task_id": target, "body": {"reminders": self.reminders(False)}},
                {"op": "complete", "task_id": self.rng.choice(self.tasks)},
                {"op": "create", "body": self.body()},
            ]
            self.call("POST", "/tasks/batch", json={"operations": items})
        elif op == "delete":
            if self.call("DELETE", f"/tasks/{target}").status_code == 204:
                self.trashed.append(target)
        elif op == "restore" and self.trashed:
            self.call("POST", f"/trash/{self.trashed.pop()}/restore")
        elif op == "zone":
            self.api.patch(
                "/api/me", json={"timezone": self.rng.choice(ZONES)}, headers=self.owner.headers
            )
        elif op == "move":
            self.call("POST", f"/tasks/{target}/move", json={"parent_id": None})
        elif op == "list":
            made = self.call("POST", "/lists", json={"name": f"l{len(self.lists)}"})
            if made.status_code == 201:
                self.lists.append(made.json()["id"])
        elif op == "drop list" and self.lists:
            self.call("DELETE", f"/lists/{self.lists.pop()}")
        elif op == "clear":
            self.call("POST", "/tasks/clear-completed", json={})


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_reminders_listed_are_those_the_tasks_say_after_random_writes(
    api: Api, user: User, other_user: User, seed: int
) -> None:
    writer, theirs = Writer(api, user, seed), Writer(api, other_user, seed + 100)
    for n in range(120):
        writer.step()
        if n % 4 == 0:
            theirs.step()
        if n % 30 == 29:
            assert listed(api, user) == expected(api, user), f"after {n + 1} writes"
    assert listed(api, user) == expected(api, user)
    assert listed(api, other_user) == expected(api, other_user)
