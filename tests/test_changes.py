"""The change feed and conditional reads (SPEC §7), with a second user present: full sync,
incremental sync in commit order, tombstones, 400 for a garbled or foreign since, 410 past
retention; weak ETags and 304 on the pages and /stats."""

from __future__ import annotations

from typing import Any

import psycopg

from server.config import Settings
from server.db.queries import load_queries
from server.system import purger
from tests.support import Api, User
from tests.test_trash import make_task


def changes(api: Api, owner: User, **params: Any) -> Any:
    response = api.get(f"/api/{owner.id}/changes", params=params, headers=owner.headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_full_sync_pages_every_live_object_as_upserts(
    api: Api, user: User, other_user: User
) -> None:
    tasks = [make_task(api, user, f"T{i}") for i in range(5)]
    make_task(api, other_user, "Theirs")
    api.delete(f"/api/{user.id}/tasks/{tasks[0]['id']}", headers=user.headers)
    seen: list[dict[str, Any]] = []
    page = changes(api, user, limit=2)
    seen += page["changes"]
    while page["has_more"]:
        page = changes(api, user, limit=2, since=page["next_since"])
        seen += page["changes"]
    assert {c["op"] for c in seen} == {"upsert"}
    assert sorted(c["id"] for c in seen if c["kind"] == "task") == sorted(
        t["id"] for t in tasks[1:]
    )
    assert [c["data"]["is_inbox"] for c in seen if c["kind"] == "list"] == [True]
    listed = api.get(f"/api/{user.id}/tasks", headers=user.headers).json()["tasks"]
    by_id = {c["id"]: c["data"] for c in seen}
    assert all(by_id[t["id"]] == t for t in listed)
    # nothing new: the incremental call answers no change and keeps its place
    assert changes(api, user, since=page["next_since"])["changes"] == []


def test_incremental_sync_gives_latest_states_and_deletes_in_commit_order(
    api: Api, user: User, other_user: User
) -> None:
    a, b = make_task(api, user, "A"), make_task(api, user, "B")
    since = changes(api, user)["next_since"]
    api.patch(f"/api/{user.id}/tasks/{a['id']}", json={"title": "A1"}, headers=user.headers)
    api.patch(f"/api/{user.id}/tasks/{b['id']}", json={"title": "B1"}, headers=user.headers)
    api.patch(f"/api/{user.id}/tasks/{a['id']}", json={"title": "A2"}, headers=user.headers)
    make_task(api, other_user, "Theirs")
    api.delete(f"/api/{user.id}/tasks/{b['id']}", headers=user.headers)
    page = changes(api, user, since=since)
    assert [(c["id"], c["op"]) for c in page["changes"]] == [
        (a["id"], "upsert"),
        (b["id"], "delete"),
    ]
    assert page["changes"][0]["data"]["title"] == "A2"
    assert page["changes"][1]["data"] is None
    restored = api.post(f"/api/{user.id}/trash/{b['id']}/restore", headers=user.headers).json()
    page = changes(api, user, since=page["next_since"])
    assert [(c["id"], c["op"], c["data"]) for c in page["changes"]] == [
        (b["id"], "upsert", restored)
    ]
    api.delete(
        f"/api/{user.id}/trash/{b['id']}", headers=user.headers
    )  # live again: not in the trash
    made = api.post(f"/api/{user.id}/lists", json={"name": "L"}, headers=user.headers).json()
    api.delete(f"/api/{user.id}/lists/{made['id']}", headers=user.headers)
    page = changes(api, user, since=page["next_since"])
    assert [(c["kind"], c["op"]) for c in page["changes"]] == [("list", "delete")]
    assert changes(api, other_user, since=changes(api, other_user)["next_since"])["changes"] == []


def test_a_garbled_or_foreign_since_is_400(api: Api, user: User, other_user: User) -> None:
    mine = changes(api, user)["next_since"]
    for since in (mine[:-2], mine + "A", "not a token", "x" * 60):
        response = api.get(f"/api/{user.id}/changes", params={"since": since}, headers=user.headers)
        assert response.status_code == 400, since
        assert response.json()["errors"][0]["loc"] == ["query", "since"]
    response = api.get(
        f"/api/{other_user.id}/changes", params={"since": mine}, headers=other_user.headers
    )
    assert response.status_code == 400


def test_a_since_older_than_retention_is_410(
    api: Api, user: User, other_user: User, sql: psycopg.Connection[Any], settings: Settings
) -> None:
    task = make_task(api, user, "Gone")
    since = changes(api, user)["next_since"]
    their_since = changes(api, other_user)["next_since"]
    api.delete(f"/api/{user.id}/tasks/{task['id']}", headers=user.headers)
    later = changes(api, user, since=since)["next_since"]
    sql.execute("UPDATE tombstones SET changed_at = now() - interval '31 days'")
    counts = api.run(purger.purge(api.app.ctx.db, load_queries(), settings))
    assert counts["purge_tombstones"] == 1
    response = api.get(f"/api/{user.id}/changes", params={"since": since}, headers=user.headers)
    assert response.status_code == 410
    assert response.json()["type"].endswith("sync-expired")
    assert changes(api, user, since=later)["changes"] == []
    assert changes(api, other_user, since=their_since)["changes"] == []


def test_pages_and_stats_answer_304_until_they_change(
    api: Api, user: User, other_user: User
) -> None:
    task = make_task(api, user, "A")
    paths = [f"/api/{user.id}/{p}" for p in ("tasks", "lists", "trash", "stats")]
    tags = {}
    for path in paths:
        first = api.get(path, headers=user.headers)
        tags[path] = first.headers["ETag"]
        assert tags[path].startswith('W/"')
        again = api.get(path, headers={**user.headers, "If-None-Match": tags[path]})
        assert again.status_code == 304
    make_task(api, other_user, "Theirs")  # another user's write changes none of ours
    for path in paths:
        again = api.get(path, headers={**user.headers, "If-None-Match": tags[path]})
        assert again.status_code == 304, path
    api.delete(f"/api/{user.id}/tasks/{task['id']}", headers=user.headers)
    for path in (paths[0], paths[2], paths[3]):
        again = api.get(path, headers={**user.headers, "If-None-Match": tags[path]})
        assert again.status_code == 200, path
    api.patch(
        f"/api/{user.id}/lists/{api.get(paths[1], headers=user.headers).json()['lists'][0]['id']}",
        json={"name": "Renamed"},
        headers=user.headers,
    )
    assert (
        api.get(paths[1], headers={**user.headers, "If-None-Match": tags[paths[1]]}).status_code
        == 200
    )


def test_a_create_alone_takes_its_revision_in_its_own_statement(
    api: Api, user: User, sql: psycopg.Connection[Any]
) -> None:
    """A create that is its own transaction (no Idempotency-Key) takes its owner's next
    revision in its statement (migration 0059): its row is written once, where the commit
    stamp writes it a second time (an update of every index of tasks, as a create with an
    Idempotency-Key, a transaction, still is). The feed gives both, in commit order, at the
    owner's revision."""
    since = changes(api, user)["next_since"]
    sql.execute("CREATE TABLE tasks_updated (id uuid)")
    sql.execute(
        "CREATE FUNCTION note_task_update() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN INSERT INTO tasks_updated VALUES (NEW.id); RETURN NULL; END $$"
    )
    sql.execute(
        "CREATE TRIGGER tasks_note_update AFTER UPDATE ON tasks"
        " FOR EACH ROW EXECUTE FUNCTION note_task_update()"
    )
    try:
        alone = make_task(api, user, "alone")
        keyed = api.post(
            f"/api/{user.id}/tasks",
            json={"title": "keyed"},
            headers={**user.headers, "Idempotency-Key": "key-of-keyed"},
        )
        assert keyed.status_code == 201, keyed.text
        updated = [str(i) for (i,) in sql.execute("SELECT id FROM tasks_updated").fetchall()]
    finally:
        sql.execute("DROP TRIGGER tasks_note_update ON tasks")
        sql.execute("DROP FUNCTION note_task_update()")
        sql.execute("DROP TABLE tasks_updated")
    assert updated == [keyed.json()["id"]]
    page = changes(api, user, since=since)
    assert [c["id"] for c in page["changes"]] == [alone["id"], keyed.json()["id"]]
    rows = sql.execute(
        "SELECT t.revision, u.revision FROM tasks AS t JOIN users AS u ON u.id = t.user_id"
        " WHERE t.id = ANY (%s) ORDER BY t.revision",
        ([alone["id"], keyed.json()["id"]],),
    ).fetchall()
    assert rows[1][0] == rows[1][1] == rows[0][0] + 1
