"""Export and import (SPEC §13): one document of lists, tasks (the trash too) and their comments,
imported with new ids in one transaction, dry run, quotas, the depth limit and malformed items
refused with nothing written; export, import into an empty account and export again gives the
same document but for ids and timestamps."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from server.config import Settings
from server.db.executor import Executor
from server.errors import UnprocessableContent
from server.transfer import handlers
from server.transfer.plan import Plan, plan_export
from server.transfer.write import CHUNK, write_plan
from tests.conftest import User
from tests.live import LiveServer
from tests.loop_guard import HoldCount
from tests.sharing import share
from tests.support import Api, metric_value, until

Doc = dict[str, Any]
FALLBACKS = "todo_validation_fallbacks_total"
TIMESTAMPS = (
    "exported_at", "created_at", "updated_at", "completed_at", "last_completed_at", "deleted_at",
)  # fmt: skip


def export(api: Api, owner: User) -> Doc:
    response = api.get(f"/api/{owner.id}/export", headers=owner.headers)
    assert response.status_code == 200, response.text
    found: Doc = response.json()
    return found


def import_(api: Api, owner: User, doc: Any, dry_run: bool = False, **kw: Any) -> Any:
    params = {"dry_run": "true"} if dry_run else {}
    headers = kw.pop("headers", owner.headers)
    return api.post(f"/api/{owner.id}/import", json=doc, params=params, headers=headers, **kw)


def counts(database_url: str, user_id: str) -> tuple[int, int, int, int]:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM lists WHERE user_id = %(u)s),"
            " (SELECT count(*) FROM tasks WHERE user_id = %(u)s),"
            " (SELECT count(*) FROM trash WHERE user_id = %(u)s),"
            " (SELECT tasks FROM task_counts WHERE user_id = %(u)s)",
            {"u": user_id},
        ).fetchone()
    assert row is not None
    return row[0], row[1], row[2], row[3]


def comment_count(database_url: str, user_id: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM comments WHERE user_id = %s", (user_id,))
        found = row.fetchone()
    assert found is not None
    return int(found[0])


def without_ids(doc: Doc) -> Doc:
    """The document with each id replaced by its first-seen index, timestamps dropped."""
    names: dict[str, str] = {}

    def name(value: str | None) -> str | None:
        return None if value is None else names.setdefault(value, f"#{len(names)}")

    lists = [{**item, "id": name(item["id"])} for item in doc["lists"]]
    tasks = [
        {
            **{k: v for k, v in item.items() if k not in TIMESTAMPS},
            "id": name(item["id"]),
            "list_id": name(item["list_id"]),
            "parent_id": name(item["parent_id"]),
            "completed": item["completed_at"] is not None,
            "trashed": item["deleted_at"] is not None,
        }
        for item in doc["tasks"]
    ]
    comments = [
        {
            **{k: v for k, v in item.items() if k not in TIMESTAMPS},
            "id": name(item["id"]),
            "task_id": name(item["task_id"]),
        }
        for item in doc["comments"]
    ]
    return {"format": doc["format"], "lists": lists, "tasks": tasks, "comments": comments}


def build_account(
    api: Api, owner: User, member: User, sql: psycopg.Connection[Any], gone: User
) -> None:
    """Lists, trees in a manual order, dates, recurrence, reminders, completion and the trash;
    comments by the owner, by a member of a shared list, by an account since deleted, and on
    a task in the trash."""
    h, base = owner.headers, f"/api/{owner.id}"
    work = api.post(f"{base}/lists", json={"name": "Work", "color": "#112233"}, headers=h).json()
    home = api.post(f"{base}/lists", json={"name": "Home"}, headers=h).json()

    def task(**fields: Any) -> dict[str, Any]:
        response = api.post(f"{base}/tasks", json={"title": "t", **fields}, headers=h)
        assert response.status_code == 201, response.text
        made: dict[str, Any] = response.json()
        return made

    report = task(
        title="Report",
        list_id=work["id"],
        due_date="2025-01-24T16:30:00Z",
        recurrence={"rule": "FREQ=WEEKLY;BYDAY=FR;COUNT=5", "basis": "completion"},
        reminders=[{"before_due": "PT1H"}, {"at": "2025-01-24T08:00:00Z"}],
        priority="high",
        tags=["job"],
        description="Weekly; with numbers",
    )
    advanced = api.patch(
        f"{base}/tasks/{report['id']}/complete", json={"is_completed": True}, headers=h
    )
    assert advanced.json()["is_completed"] is False  # moved to its next occurrence
    level2 = task(title="Draft", parent_id=report["id"], due_on="2025-01-23")
    level3 = task(title="Outline", parent_id=level2["id"])
    task(title="Headings", parent_id=level3["id"], is_completed=True)
    first = task(title="First in inbox")
    second = task(title="Second in inbox", due_on="0001-01-02")
    # manual order differs from creation order
    api.post(f"{base}/tasks/{second['id']}/move", json={"after_id": None}, headers=h)
    task(title="Chores", list_id=home["id"], due_on="9999-12-30")
    doomed = task(title="Old plan", list_id=home["id"])
    task(title="Old step", parent_id=doomed["id"])

    def comment(author: User, task_id: str, body: str) -> dict[str, Any]:
        path = f"/api/{author.id}/tasks/{task_id}/comments"
        made = api.post(path, json={"body": body}, headers=author.headers)
        assert made.status_code == 201, made.text
        found: dict[str, Any] = made.json()
        return found

    share(sql, owner, work["id"], member, "editor")
    share(sql, owner, work["id"], gone, "editor")
    comment(owner, report["id"], "  Due Friday, ﬁnal İstanbul figures  ")
    comment(member, report["id"], "I'll take the charts 👍🏽")
    comment(gone, report["id"], "Leaving the team")
    sql.execute("DELETE FROM users WHERE id = %s", (gone.id,))  # its comment stays, authorless
    edited = comment(owner, level2["id"], "first thought")
    changed = api.patch(
        f"{base}/tasks/{level2['id']}/comments/{edited['id']}",
        json={"body": "second thought"},
        headers={**h, "If-Match": f'"{edited["version"]}"'},
    )
    assert changed.status_code == 200, changed.text
    comment(owner, doomed["id"], "Dropped: no budget")
    api.delete(f"{base}/tasks/{doomed['id']}", headers=h)
    lone = task(title="Lone child", parent_id=first["id"])
    api.delete(f"{base}/tasks/{lone['id']}", headers=h)  # trashed, its parent live


@pytest.fixture
def built(
    api: Api, user: User, make_user: Callable[..., User], sql: psycopg.Connection[Any]
) -> User:
    """`user`'s account as build_account makes it."""
    build_account(api, user, make_user(name="Bob"), sql, make_user(name="Gone"))
    return user


def test_export_import_export_gives_the_same_document_but_ids_and_timestamps(
    api: Api, built: User, make_user: Callable[..., User]
) -> None:
    user = built
    exported = export(api, user)
    assert len(exported["tasks"]) == 10
    assert sum(t["deleted_at"] is not None for t in exported["tasks"]) == 3
    by_title = {t["id"]: t["title"] for t in exported["tasks"]}
    assert [
        (by_title[c["task_id"]], c["body"], c["by_owner"], c["author_name"])
        for c in exported["comments"]
    ] == [
        ("Report", "Due Friday, ﬁnal İstanbul figures", True, None),
        ("Report", "I'll take the charts 👍🏽", False, "Bob"),
        ("Report", "Leaving the team", False, None),
        ("Draft", "second thought", True, None),
        ("Old plan", "Dropped: no budget", True, None),
    ]

    fresh = make_user(name="Fresh")
    response = import_(api, fresh, exported)
    assert response.status_code == 200, response.text
    summary = response.json()
    assert (summary["tasks"], summary["trashed"], summary["dry_run"]) == (7, 3, False)
    assert summary["comments"] == 5
    again = export(api, fresh)

    assert without_ids(again) == without_ids(exported)
    assert [c["created_at"] for c in again["comments"]] == [
        c["created_at"] for c in exported["comments"]
    ]
    assert {c["id"] for c in again["comments"]}.isdisjoint(c["id"] for c in exported["comments"])
    report = next(t for t in again["tasks"] if t["title"] == "Report")
    assert report["occurrences_done"] == 1  # a COUNT goes on where it was
    assert report["last_completed_at"] is not None
    assert {t["id"] for t in again["tasks"]}.isdisjoint(t["id"] for t in exported["tasks"])
    assert [t["created_at"] for t in again["tasks"]] == [t["created_at"] for t in exported["tasks"]]


def test_the_exported_inbox_maps_onto_the_importers_and_restore_works(
    api: Api, built: User, other_user: User, database_url: str
) -> None:
    user = built
    before = counts(database_url, other_user.id)
    assert import_(api, other_user, export(api, user)).status_code == 200
    lists = api.get(f"/api/{other_user.id}/lists", headers=other_user.headers).json()["lists"]
    assert [(x["name"], x["is_inbox"]) for x in lists] == [
        ("Inbox", True),
        ("Work", False),
        ("Home", False),
    ]
    assert counts(database_url, other_user.id) == (before[0] + 2, 7, 3, 10)
    trash = api.get(f"/api/{other_user.id}/trash", headers=other_user.headers).json()["tasks"]
    old_plan = next(t for t in trash if t["title"] == "Old plan")
    restored = api.post(
        f"/api/{other_user.id}/trash/{old_plan['id']}/restore", headers=other_user.headers
    )
    assert restored.status_code == 200, restored.text
    purge = api.delete(f"/api/{other_user.id}/trash", headers=other_user.headers)
    assert purge.status_code == 204
    assert counts(database_url, other_user.id)[1:] == (9, 0, 9)  # the count stayed exact


def test_imported_comments_are_the_importers_or_authorless_and_follow_their_task_from_the_trash(
    api: Api, built: User, make_user: Callable[..., User]
) -> None:
    """A comment the exporter wrote is the importer's; another person's has no author here
    (their name stays for the next export only); a trashed task's comments come back with it,
    and none of them reached the importer's change feed as a delete of something never seen."""
    fresh = make_user(name="Fresh")
    assert import_(api, fresh, export(api, built)).status_code == 200
    h, base = fresh.headers, f"/api/{fresh.id}"
    tasks = api.get(f"{base}/tasks", params={"q": "Report"}, headers=h).json()["tasks"]
    report = next(t for t in tasks if t["title"] == "Report")
    page = api.get(f"{base}/tasks/{report['id']}/comments", headers=h).json()["comments"]
    assert [(c["body"], c["author"]) for c in page] == [
        ("Due Friday, ﬁnal İstanbul figures", {"id": fresh.id, "name": "Fresh"}),
        ("I'll take the charts 👍🏽", None),
        ("Leaving the team", None),
    ]
    changes = api.get(f"{base}/changes", params={"limit": 500}, headers=h).json()["changes"]
    assert [c["op"] for c in changes if c["kind"] == "comment"] == ["upsert"] * 4
    trash = api.get(f"{base}/trash", headers=h).json()["tasks"]
    old_plan = next(t for t in trash if t["title"] == "Old plan")
    assert api.post(f"{base}/trash/{old_plan['id']}/restore", headers=h).status_code == 200
    back = api.get(f"{base}/tasks/{old_plan['id']}/comments", headers=h).json()["comments"]
    assert [c["body"] for c in back] == ["Dropped: no budget"]


def test_a_dry_run_answers_what_it_would_make_and_writes_nothing(
    api: Api, built: User, other_user: User, database_url: str
) -> None:
    doc = export(api, built)
    before = counts(database_url, other_user.id)
    response = import_(api, other_user, doc, dry_run=True)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["dry_run"] is True
    assert (body["tasks"], body["trashed"], body["comments"]) == (7, 3, 5)
    assert [(x["id"], x["name"]) for x in body["lists"][1:]] == [(None, "Work"), (None, "Home")]
    assert counts(database_url, other_user.id) == before
    assert comment_count(database_url, other_user.id) == 0


def test_an_import_with_a_malformed_task_writes_nothing_and_names_it(
    api: Api, user: User, database_url: str
) -> None:
    inbox = str(uuid.uuid4())
    tasks: list[dict[str, Any]] = []
    parents: list[str | None] = [None]
    for n in range(5000):  # 5,000 nested tasks: trees of four levels
        level = n % 4
        task_id = str(uuid.uuid4())
        tasks.append(
            {"id": task_id, "list_id": inbox, "parent_id": parents[level], "title": f"t{n}"}
        )
        parents[level + 1 : level + 2] = [task_id]
    doc: Doc = {
        "format": "todo-api.export.v1",
        "lists": [{"id": inbox, "name": "Inbox", "is_inbox": True}],
        "tasks": tasks,
    }
    broken = copy.deepcopy(doc)
    broken["tasks"][4321]["due_on"] = "0001-01-01"  # outside the days a task may hold
    before = counts(database_url, user.id)

    response = import_(api, user, broken)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["body", "tasks", 4321, "due_on"]
    assert counts(database_url, user.id) == before

    assert import_(api, user, doc).status_code == 200
    assert counts(database_url, user.id)[1] == before[1] + 5000


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        (
            lambda d: d["tasks"][1].update(parent_id=d["tasks"][3]["id"]),
            ["body", "tasks", 1, "parent_id"],
        ),
        (
            lambda d: d["tasks"].append(
                {**d["tasks"][3], "id": str(uuid.uuid4()), "parent_id": d["tasks"][3]["id"]}
            ),
            ["body", "tasks", 4, "parent_id"],
        ),
        (lambda d: d["tasks"][2].update(id=d["tasks"][0]["id"]), ["body", "tasks", 2, "id"]),
        (
            lambda d: d["tasks"][0].update(list_id=str(uuid.uuid4())),
            ["body", "tasks", 0, "list_id"],
        ),
        (
            lambda d: d["tasks"][0].update(deleted_at="2025-01-01T00:00:00Z"),
            ["body", "tasks", 1, "parent_id"],
        ),
        (
            lambda d: d["lists"].append({**d["lists"][0], "id": str(uuid.uuid4())}),
            ["body", "lists", 1, "is_inbox"],
        ),
        (
            lambda d: d["tasks"][0].update(recurrence={"rule": "FREQ=DAILY"}),
            ["body", "tasks", 0, "recurrence"],
        ),
        (lambda d: d["tasks"][0].update(title="   "), ["body", "tasks", 0, "title"]),
    ],
    ids=[
        "parent-later",
        "fifth-level",
        "id-twice",
        "unknown-list",
        "live-under-trashed",
        "two-inboxes",
        "recurrence-without-due",
        "blank-title",
    ],
)
def test_each_broken_rule_is_a_422_at_its_item_and_nothing_is_written(
    api: Api, user: User, database_url: str, change: Callable[[Doc], None], loc: list[Any]
) -> None:
    inbox = str(uuid.uuid4())
    ids = [str(uuid.uuid4()) for _ in range(4)]
    doc: Doc = {
        "format": "todo-api.export.v1",
        "lists": [{"id": inbox, "name": "Inbox", "is_inbox": True}],
        "tasks": [
            {
                "id": ids[n],
                "list_id": inbox,
                "parent_id": ids[n - 1] if n else None,
                "title": f"t{n}",
            }
            for n in range(4)
        ],
        "comments": [],
    }
    change(doc)
    before = counts(database_url, user.id)
    response = import_(api, user, doc)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == loc
    assert counts(database_url, user.id) == before


# Instants PostgreSQL stores but no read gives back: asyncpg reads and writes the first two as
# -infinity and infinity (a comments page after one at 0001-01-01T00:00:00Z came back to it for
# ever), and the last two are in years 0 and 10000 in UTC (every export, listing and change feed
# of the account answered 500 from then on).
UNREADABLE_INSTANTS = (
    "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z",
    "0001-01-01T00:30:00+14:00", "9999-12-31T23:00:00-14:00",
)  # fmt: skip


@pytest.mark.parametrize("instant", UNREADABLE_INSTANTS)
@pytest.mark.parametrize(
    ("item", "field"),
    [
        ("tasks", "created_at"),
        ("tasks", "completed_at"),
        ("tasks", "last_completed_at"),
        ("tasks", "deleted_at"),
        ("comments", "created_at"),
        ("comments", "updated_at"),
    ],
)
def test_an_instant_no_read_gives_back_is_a_422_at_its_item_and_nothing_is_written(
    api: Api, user: User, database_url: str, item: str, field: str, instant: str
) -> None:
    doc = comment_doc(2)
    doc["tasks"][0]["is_completed"] = True
    doc[item][-1][field] = instant
    before = counts(database_url, user.id)
    response = import_(api, user, doc)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["body", item, len(doc[item]) - 1, field]
    assert counts(database_url, user.id) == before
    assert comment_count(database_url, user.id) == 0
    assert api.get(f"/api/{user.id}/export", headers=user.headers).status_code == 200


def test_the_earliest_and_latest_instants_an_import_takes_come_back_as_they_went(
    api: Api, user: User
) -> None:
    doc = comment_doc(3, created_at="0001-01-01T00:00:00.000001Z")
    doc["comments"][1]["created_at"] = "0001-01-01T00:00:00.000002Z"
    doc["comments"][2]["created_at"] = "9999-12-31T23:59:59.999998Z"
    doc["tasks"][0]["created_at"] = "9999-12-31T23:59:59.999998Z"
    assert import_(api, user, doc).status_code == 200, doc
    task = export(api, user)["tasks"][0]
    assert task["created_at"] == "9999-12-31T23:59:59.999998Z"
    pages, cursor = [], None
    for _ in range(4):  # a page at a time: each comment once, in order, then the end
        query = {"limit": 1} | ({"cursor": cursor} if cursor else {})
        page = api.get(
            f"/api/{user.id}/tasks/{api_task_id(api, user)}/comments",
            params=query,
            headers=user.headers,
        ).json()
        pages += [comment["body"] for comment in page["comments"]]
        if (cursor := page["next_cursor"]) is None:
            break
    assert pages == ["c0", "c1", "c2"]


def api_task_id(api: Api, owner: User) -> str:
    found: str = api.get(f"/api/{owner.id}/tasks", headers=owner.headers).json()["tasks"][0]["id"]
    return found


def test_an_import_past_the_quota_is_409_and_writes_nothing(
    make_api: Callable[..., Api], settings: Settings, user: User, database_url: str
) -> None:
    inbox = str(uuid.uuid4())
    doc = {
        "format": "todo-api.export.v1",
        "lists": [
            {"id": inbox, "name": "Inbox", "is_inbox": True},
            {"id": str(uuid.uuid4()), "name": "More"},
        ],
        "tasks": [{"id": str(uuid.uuid4()), "list_id": inbox, "title": f"t{n}"} for n in range(6)],
    }
    with make_api(dataclasses.replace(settings, task_quota=5)) as small:
        response = import_(small, user, doc)
        assert response.status_code == 409
        assert response.json()["type"].endswith("quota-exceeded")
    with make_api(dataclasses.replace(settings, list_quota=1)) as few:
        assert import_(few, user, doc).status_code == 409
    assert counts(database_url, user.id) == (1, 0, 0, 0)


def test_more_than_ten_thousand_tasks_are_refused(api: Api, user: User) -> None:
    inbox = str(uuid.uuid4())
    doc = {
        "format": "todo-api.export.v1",
        "lists": [{"id": inbox, "name": "Inbox", "is_inbox": True}],
        "tasks": [{"id": str(uuid.uuid4()), "list_id": inbox, "title": "t"} for _ in range(10_001)],
    }
    response = import_(api, user, doc)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["body", "tasks"]


def test_only_the_import_takes_a_large_body(api: Api, user: User) -> None:
    big = "x" * (200 * 1024)
    refused = api.post(
        f"/api/{user.id}/tasks",
        content=f'{{"title": "{big}"}}',
        headers={**user.headers, "Content-Type": "application/json"},
    )
    assert refused.status_code == 413
    taken = api.post(
        f"/api/{user.id}/import",
        content=f'{{"format": "todo-api.export.v1", "lists": [], "tasks": [], "pad": "{big}"}}',
        headers={**user.headers, "Content-Type": "application/json"},
    )
    assert taken.status_code == 422  # read whole, then refused by the schema (no such key)


def test_only_the_bearer_of_the_account_sends_the_import_a_large_body(
    api: Api, user: User, other_user: User
) -> None:
    """The 32 MiB limit is the account's own: a client without its token (none, an invalid
    one, another account's) is held to 64 KiB before the body is read, so it cannot make the
    worker hold 32 MiB per connection only to be answered 401 or 403."""
    pad = "x" * 200 * 1024
    body = f'{{"format": "todo-api.export.v1", "lists": [], "tasks": [], "pad": "{pad}"}}'
    json_type = {"Content-Type": "application/json"}
    for headers in (
        json_type,
        {**json_type, "Authorization": "Bearer not-a-token"},
        {**json_type, **other_user.headers},
    ):
        refused = api.post(f"/api/{user.id}/import", content=body, headers=headers)
        assert refused.status_code == 413, (headers.keys(), refused.text)
    small = api.post(f"/api/{user.id}/import", content="{}", headers=json_type)
    assert small.status_code == 401  # a small body is answered as before
    taken = api.post(f"/api/{user.id}/import", content=body, headers={**json_type, **user.headers})
    assert taken.status_code == 422  # read whole, then refused by the schema


def test_a_client_has_one_import_checked_at_a_time(
    api: Api, user: User, other_user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checking an import's rules may take a thread 10 s; on the threads every feed, export and
    large body shares, six imports at once held them all. An import has a thread of its own
    per worker: while one is checked, the same client's next is 503 at once, not queued. The
    first is held on that thread until the second is answered, however fast it would check."""
    checking, release = threading.Event(), threading.Event()

    def held_open(body: Any) -> Plan:
        if not checking.is_set():  # the first import's check waits for the test to let it go
            checking.set()
            release.wait()
        return plan_export(body)

    monkeypatch.setattr(handlers, "plan_export", held_open)
    small = {"format": "todo-api.export.v1", "lists": [], "tasks": []}
    planner = api.app.ctx.planner

    async def race() -> tuple[httpx.Response, httpx.Response]:
        first = asyncio.ensure_future(
            api.arequest(
                "POST", f"/api/{user.id}/import?dry_run=true", json=small, headers=user.headers
            )
        )
        try:
            assert await until(lambda: checking.is_set() or first.done())
            assert not first.done(), first.result().text
            # Another account, from the same client (address), while the first is checked.
            other = await api.arequest(
                "POST", f"/api/{other_user.id}/import", json=small, headers=other_user.headers
            )
            assert other.status_code == 503, other.text
            assert not first.done()  # answered while the first was checked,
            assert planner.held  # holding its place on the thread
        finally:
            release.set()
        return await first, other

    first, busy = api.run(race())
    assert busy.json()["type"].endswith("import-busy")
    assert int(busy.headers["Retry-After"]) >= 1
    assert first.status_code == 200, first.text
    after = import_(api, other_user, small)  # the thread free again
    assert after.status_code == 200, after.text


def comment_doc(count: int, **fields: Any) -> Doc:
    """An inbox, one task, and `count` comments on it."""
    inbox, task = str(uuid.uuid4()), str(uuid.uuid4())
    return {
        "format": "todo-api.export.v1",
        "lists": [{"id": inbox, "name": "Inbox", "is_inbox": True}],
        "tasks": [{"id": task, "list_id": inbox, "title": "t"}],
        "comments": [
            {"id": str(uuid.uuid4()), "task_id": task, "body": f"c{n}"} | fields
            for n in range(count)
        ],
    }


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        (lambda d: d["comments"][1].update(task_id=str(uuid.uuid4())), ["task_id"]),
        (lambda d: d["comments"][1].update(task_id=d["lists"][0]["id"]), ["task_id"]),
        (lambda d: d["comments"][1].update(id=d["comments"][0]["id"]), ["id"]),
        (lambda d: d["comments"][1].update(body=" \u3000\n "), ["body"]),
        (lambda d: d["comments"][1].update(body="é" * 5001), ["body"]),
        (lambda d: d["comments"][1].update(author_name="Bob"), ["author_name"]),
        (lambda d: d["comments"][1].update(by_owner=True, author_name="Bob"), ["author_name"]),
    ],
    ids=[
        "dangling-task",
        "a-list-not-a-task",
        "id-twice",
        "blank",
        "too-long",
        "name-of-the-owner",
        "name-beside-by-owner",
    ],
)
def test_each_broken_comment_is_a_422_at_its_item_and_nothing_is_written(
    api: Api, user: User, database_url: str, change: Callable[[Doc], None], loc: list[Any]
) -> None:
    doc = comment_doc(3)
    change(doc)
    before = counts(database_url, user.id)
    response = import_(api, user, doc)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["body", "comments", 1, *loc]
    assert counts(database_url, user.id) == before
    assert comment_count(database_url, user.id) == 0


def test_a_comment_is_trimmed_and_counted_in_code_points(
    api: Api, user: User, database_url: str
) -> None:
    """...and comments without times keep the document's order (made in one transaction,
    they all had its `now()`, and came back in the order of their random new ids)."""
    longest = "👍🏽" * 2500  # 5000 code points (10,000 UTF-16 units)
    doc = comment_doc(6)
    doc["comments"][0]["body"] = f"\u3000 {longest}\n"
    doc["comments"][1] |= {"by_owner": False, "author_name": "  Zoë  "}
    assert import_(api, user, doc).status_code == 200
    comments = export(api, user)["comments"]
    assert [(c["body"], c["by_owner"], c["author_name"]) for c in comments] == [
        (longest, True, None),
        ("c1", False, "Zoë"),
        *[(f"c{n}", True, None) for n in range(2, 6)],
    ]


def test_comments_of_one_time_keep_the_documents_order(api: Api, user: User) -> None:
    """A task's comments are listed by (created_at, id): those of one created_at came back in
    the order of their random new ids."""
    doc = comment_doc(8, created_at="2025-01-24T17:00:00Z")
    assert import_(api, user, doc).status_code == 200
    assert [c["body"] for c in export(api, user)["comments"]] == [f"c{n}" for n in range(8)]
    listed = api.get(
        f"/api/{user.id}/tasks/{api_task_id(api, user)}/comments", headers=user.headers
    ).json()["comments"]
    assert [c["body"] for c in listed] == [f"c{n}" for n in range(8)]


def test_more_comments_on_a_task_than_its_quota_is_409_and_writes_nothing(
    make_api: Callable[..., Api], settings: Settings, user: User, database_url: str
) -> None:
    with make_api(dataclasses.replace(settings, comment_quota=2)) as small:
        assert import_(small, user, comment_doc(2), dry_run=True).json()["comments"] == 2
        response = import_(small, user, comment_doc(3))
        assert response.status_code == 409, response.text
        assert response.json()["type"].endswith("quota-exceeded")
        refused = import_(small, user, comment_doc(3), dry_run=True)
        assert refused.status_code == 409
    assert counts(database_url, user.id)[1:] == (0, 0, 0)
    assert comment_count(database_url, user.id) == 0


def test_more_than_twenty_thousand_comments_are_refused() -> None:
    with pytest.raises(UnprocessableContent) as refused:
        plan_export(comment_doc(20_001))
    assert refused.value.errors is not None
    assert refused.value.errors[0]["loc"] == ["body", "comments"]
    assert len(plan_export(comment_doc(20_000)).comments) == 20_000


def ten_thousand(inbox: str) -> Doc:
    tasks: list[dict[str, Any]] = []
    parents: list[str | None] = [None]
    for n in range(10_000):
        level, task_id = n % 4, str(uuid.uuid4())
        task: dict[str, Any] = {
            "id": task_id,
            "list_id": inbox,
            "parent_id": parents[level],
            "title": f"t{n}",
        }
        if n % 3 == 0:
            task |= {"due_on": "2031-01-15", "reminders": [{"before_due": "PT1H"}], "tags": ["x"]}
        tasks.append(task)
        parents[level + 1 : level + 2] = [task_id]
    lists = [{"id": inbox, "name": "Inbox", "is_inbox": True}]
    return {"format": "todo-api.export.v1", "lists": lists, "tasks": tasks}


def test_an_imports_statements_leave_its_commit_nothing_to_stamp(
    api: Api, user: User, database_url: str
) -> None:
    """PostgreSQL runs a COMMIT's deferred triggers after it has disabled the statement
    timeout: the revisions of every imported row were stamped there, an UPDATE of them all
    bounded only by asyncpg's command_timeout, whose bare TimeoutError answered a valid import
    of 5,000 tasks 503 on a loaded machine. Each statement of the import now stamps what it
    wrote: once the last one ran, before the COMMIT, no row waits for its revision."""
    doc = ten_thousand(str(uuid.uuid4()))
    doc["tasks"] = [  # as the contract's checks hand them over: plain tasks, nothing to read
        {key: item[key] for key in ("id", "list_id", "parent_id", "title")}
        for item in doc["tasks"][: 2 * CHUNK + 5]
    ]
    for item in doc["tasks"][-4:]:
        item["deleted_at"] = datetime(2025, 1, 1, tzinfo=UTC)  # the last tree, in the trash
    doc["comments"] = [
        {"id": str(uuid.uuid4()), "task_id": task["id"], "body": "seen"} for task in doc["tasks"]
    ]
    plan = plan_export(doc)
    queries = api.app.ctx.queries

    async def written() -> tuple[int, int, int]:
        async with Executor(api.app.ctx.db).transaction() as conn:
            room = await queries.import_room(conn, user_id=user.id)
            await write_plan(conn, queries, user.id, plan, str(room["inbox_id"]))
            waiting = await conn.fetchval(
                "SELECT (SELECT count(*) FROM tasks WHERE user_id = $1 AND revision IS NULL)"
                " + (SELECT count(*) FROM lists WHERE user_id = $1 AND revision IS NULL)"
                " + (SELECT count(*) FROM comments WHERE user_id = $1 AND revision IS NULL)",
                user.id,
            )
            live = await conn.fetchval(
                "SELECT count(*) FROM comments WHERE user_id = $1 AND revision > 0", user.id
            )
            return int(str(waiting)), int(str(live)), len(plan.comments)

    waiting, live, comments = api.run(written())
    assert waiting == 0
    assert (live, comments) == (2 * CHUNK + 1, 2 * CHUNK + 5)
    assert counts(database_url, user.id)[1:] == (2 * CHUNK + 1, 4, 2 * CHUNK + 5)


def test_a_dry_run_flag_is_read_without_the_slow_validator(api: Api, user: User) -> None:
    """`?dry_run=true` (a boolean) was left to openapi-core with the whole body: 30 s for
    10,000 tasks. Now the compiled checks read it: no fallback is counted."""
    before = metric_value(api.get("/metrics").text, FALLBACKS, operation="import_account")
    doc = {"format": "todo-api.export.v1", "lists": [], "tasks": []}
    assert import_(api, user, doc, dry_run=True).status_code == 200
    assert (
        api.post(
            f"/api/{user.id}/import", json=doc, params={"dry_run": "no"}, headers=user.headers
        ).json()["dry_run"]
        is False
    )
    after = metric_value(api.get("/metrics").text, FALLBACKS, operation="import_account")
    assert after == before


@pytest.mark.slow
def test_ten_thousand_tasks_import_within_the_statement_timeout_and_free_loop(
    user: User, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    """A real process: 10,000 tasks read, checked, planned and written (one import), then
    exported, holding the service's event loop under HOLD_BOUND at every step (reading them on
    the loop held it a second), no statement past the timeout (one insert of all of them took
    3.6 of its 5 s on a busy machine)."""
    env = {"JWT_SECRET": settings.jwt_secret}
    with LiveServer(database_url, tmp_path / "service.log", env=env) as server:
        holds = HoldCount(server)
        response = httpx.post(
            f"{server.url}/api/{user.id}/import",
            json=ten_thousand(str(uuid.uuid4())),
            headers=user.headers,
            timeout=120,
        )
        assert response.status_code == 200, response.text
        exported = httpx.get(
            f"{server.url}/api/{user.id}/export", headers=user.headers, timeout=120
        )
        assert len(exported.json()["tasks"]) == 10_000
        holds.check()
    assert counts(database_url, user.id)[1:] == (10_000, 0, 10_000)


def test_an_import_retried_with_its_key_makes_nothing_twice(
    api: Api, user: User, database_url: str
) -> None:
    inbox = str(uuid.uuid4())
    doc: Doc = {
        "format": "todo-api.export.v1",
        "lists": [
            {"id": inbox, "name": "Inbox", "is_inbox": True},
            {"id": str(uuid.uuid4()), "name": "Trip"},
        ],
        "tasks": [{"id": str(uuid.uuid4()), "list_id": inbox, "title": f"t{n}"} for n in range(3)],
    }
    key = {"Idempotency-Key": "import-1"}
    first, again = (import_(api, user, doc, headers={**user.headers, **key}) for _ in range(2))
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert counts(database_url, user.id)[:2] == (2, 3)
    other = import_(api, user, {**doc, "tasks": doc["tasks"][:1]}, headers={**user.headers, **key})
    assert other.status_code == 422
    assert other.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    assert import_(api, user, doc).status_code == 200  # without a key: a second import
    assert counts(database_url, user.id)[:2] == (3, 6)


def test_a_document_too_costly_to_check_is_refused_where_checking_stopped() -> None:
    """Rules that seldom occur take about 10 ms each to check: 10,000 of them held a thread
    for 100 s. Checking stops at the budget (none here), naming the task it reached."""
    inbox = str(uuid.uuid4())
    rule = {"rule": "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29"}
    tasks = [
        {
            "id": str(uuid.uuid4()),
            "list_id": inbox,
            "title": "t",
            "due_on": date(2025, 3, 1),
            "recurrence": rule,
        }
        for _ in range(3)
    ]
    doc = {
        "format": "todo-api.export.v1",
        "lists": [{"id": inbox, "name": "I", "is_inbox": True}],
        "tasks": tasks,
    }
    with pytest.raises(UnprocessableContent) as refused:
        plan_export(doc, budget=0.0)
    assert refused.value.errors is not None
    assert refused.value.errors[0]["loc"] == ["body", "tasks", 0]
    assert len(plan_export(doc).tasks) == 3


def encoding_held_open(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Exports are encoded (on their threads) once the event returned is set."""
    release = threading.Event()
    encoded = handlers._encoded

    def held_open(*args: Any) -> bytes:
        release.wait(timeout=30)
        return encoded(*args)

    monkeypatch.setattr(handlers, "_encoded", held_open)
    return release


def test_a_worker_makes_an_account_s_export_one_at_a_time_and_two_at_once(
    api: Api, make_user: Callable[..., User], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An export holds its whole document in memory (an account of 50,000 tasks: some 180 MB
    at its peak; six at once held a worker at 740 MB). While an account's export is made, its
    next is 503 export-busy at once; while two are made, a third account's waits its turn
    (503 export-busy past EXPORT_WAIT) and is answered once one is done."""
    ada, bob, eve = (make_user(name=name) for name in ("Ada", "Bob", "Eve"))
    release = encoding_held_open(monkeypatch)
    slots = api.app.ctx.exports

    def export(who: User) -> Any:
        return api.arequest("GET", f"/api/{who.id}/export", headers=who.headers)

    async def race() -> list[httpx.Response]:
        first = asyncio.ensure_future(export(ada))
        try:
            assert await until(lambda: len(slots.taken) == 1 or first.done())
            again = await export(ada)  # the same account, while its export is made
            second = asyncio.ensure_future(export(bob))
            assert await until(lambda: len(slots.taken) == 2 or second.done())
            slots.wait = 0.2
            late = await export(eve)  # waited its turn 0.2 s, in vain
            slots.wait = handlers.EXPORT_WAIT
            third = asyncio.ensure_future(export(eve))
            assert await until(lambda: eve.id in slots.taken)  # waiting its turn
            await asyncio.sleep(0.2)
            assert not any(answer.done() for answer in (first, second, third))
        finally:
            release.set()
        return [again, late, await first, await second, await third]

    again, late, *answered = api.run(race())
    for busy in (again, late):
        assert busy.status_code == 503, busy.text
        assert busy.json()["type"].endswith("export-busy")
        assert busy.headers["Retry-After"] == "2"
    assert [answer.status_code for answer in answered] == [200, 200, 200]
    assert {answer.json()["format"] for answer in answered} == {"todo-api.export.v1"}
    assert not slots.taken  # each let go once its document was sent
    assert api.get(f"/api/{ada.id}/export", headers=ada.headers).status_code == 200
