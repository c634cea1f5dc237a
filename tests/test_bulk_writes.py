"""Requests that write thousands of rows at once (issue 23): each transaction stamps its user's
revision once (migration 0040), not once per row, so deleting a list of thousands of tasks
completes, and the change feed after it holds each of them exactly once; a statement that runs
past the time limit answers as what it is, not as an unreachable database.

Cost is shown by what the database counts, never by time: the users row is updated once per
transaction whatever its size (migration 0020 updated it once per row written: N versions of one
row, each update walking the chain of the earlier ones, O(N^2) for one transaction)."""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

import psycopg

from server.config import Settings
from tests.support import Api, User

SEED = """
INSERT INTO tasks (user_id, list_id, parent_id, title)
SELECT %(user_id)s, %(list_id)s, %(parent_id)s, 'Bulk ' || i FROM generate_series(1, %(count)s) i
"""


def seed(
    sql: psycopg.Connection[Any],
    owner: User,
    count: int,
    list_id: str,
    parent_id: str | None = None,
) -> None:
    for start in range(0, count, 500):  # small transactions, whatever the stamp costs per row
        sql.execute(
            SEED,
            {
                "user_id": owner.id,
                "list_id": list_id,
                "parent_id": parent_id,
                "count": min(500, count - start),
            },
        )


def one(sql: psycopg.Connection[Any], query: str, *params: Any) -> Any:
    """The row the query answers (it answers one)."""
    row = sql.execute(query, params).fetchone()
    assert row is not None
    return row


def feed_after(api: Api, owner: User, since: str | None) -> tuple[list[dict[str, Any]], str]:
    """Every change after since (None: a full sync), page by page to the end, and the
    next_since of the last page."""
    seen: list[dict[str, Any]] = []
    while True:
        params = {"limit": 1000} | ({"since": since} if since else {})
        response = api.get(f"/api/{owner.id}/changes", params=params, headers=owner.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        seen += page["changes"]
        since = page["next_since"]
        if not page["has_more"]:
            return seen, since


def test_deleting_a_list_of_thousands_completes_and_the_feed_has_each_exactly_once(
    api: Api, user: User, sql: psycopg.Connection[Any]
) -> None:
    created = api.post(f"/api/{user.id}/lists", json={"name": "Big"}, headers=user.headers)
    listed = created.json()["id"]
    seed(sql, user, 3000, listed)
    ids = {str(r[0]) for r in sql.execute("SELECT id FROM tasks WHERE list_id = %s", (listed,))}
    _, since = feed_after(api, user, None)
    (before,) = one(sql, "SELECT revision FROM users WHERE id = %s", user.id)

    deleted = api.delete(f"/api/{user.id}/lists/{listed}", headers=user.headers)

    assert deleted.status_code == 204, deleted.text
    changes, end = feed_after(api, user, since)
    ops = Counter((c["kind"], c["op"]) for c in changes)
    assert ops == {("task", "delete"): 3000, ("list", "delete"): 1}
    assert {c["id"] for c in changes if c["kind"] == "task"} == ids
    (after,) = one(sql, "SELECT revision FROM users WHERE id = %s", user.id)
    assert after - before == 3001  # a revision of its own for each change
    trashed = api.get(f"/api/{user.id}/trash", params={"limit": 1}, headers=user.headers)
    assert trashed.json()["total"] == 3000
    # nothing after it: the next call answers no change
    assert feed_after(api, user, end) == ([], end)


def test_a_transaction_updates_its_users_row_once_whatever_it_writes(
    api: Api, user: User, sql: psycopg.Connection[Any], database_url: str
) -> None:
    """The stamp's cost: one update of the users row for a transaction of 2,000 deletions
    (migration 0020: 2,001), each deleted task and the list still stamped with a revision of its
    own. SET CONSTRAINTS ALL IMMEDIATE runs the commit's deferred triggers where the
    transaction's own counters (pg_stat_xact_user_tables) can still be read."""
    inbox = api.get(f"/api/{user.id}/lists", headers=user.headers).json()["lists"][0]["id"]
    listed = api.post(f"/api/{user.id}/lists", json={"name": "L"}, headers=user.headers)
    parent = api.post(f"/api/{user.id}/tasks", json={"title": "P"}, headers=user.headers)
    seed(sql, user, 1000, listed.json()["id"])
    seed(sql, user, 1000, inbox, parent.json()["id"])
    with psycopg.connect(database_url) as fresh:  # no counts of earlier transactions pending
        fresh.execute("DELETE FROM lists WHERE id = %s", (listed.json()["id"],))
        fresh.execute("DELETE FROM tasks WHERE id = %s", (parent.json()["id"],))
        fresh.execute("SET CONSTRAINTS ALL IMMEDIATE")
        counted: dict[str, int] = dict(
            fresh.execute(
                "SELECT relname, n_tup_upd FROM pg_stat_xact_user_tables"
                " WHERE relname IN ('users', 'tombstones')"
            ).fetchall()
        )
    assert counted == {"users": 1, "tombstones": 2002}  # the users row once; each tombstone once
    stamped = one(
        sql,
        "SELECT count(*) FILTER (WHERE revision IS NULL), count(DISTINCT revision), count(*)"
        " FROM tombstones WHERE user_id = %s",
        user.id,
    )
    assert stamped == (0, 2002, 2002)  # none waiting; a revision of its own for each


def test_a_savepoint_rolled_back_takes_its_claim_of_the_stamp_with_it(
    user: User, sql: psycopg.Connection[Any]
) -> None:
    """The first write of a transaction claims the stamp; rolled back to a savepoint, the claim
    and its queued stamp both go, and the next write claims it again. A constraint made
    immediate mid-transaction stamps what was written so far; what is written after it is
    stamped at commit."""
    (inbox,) = one(sql, "SELECT id FROM lists WHERE user_id = %s AND is_inbox", user.id)
    insert = "INSERT INTO tasks (user_id, list_id, title) VALUES (%s, %s, %s)"
    with sql.transaction():
        with sql.transaction():
            sql.execute(insert, (user.id, inbox, "rolled back"))
            raise psycopg.Rollback()
        sql.execute(insert, (user.id, inbox, "kept"))
        sql.execute("SET CONSTRAINTS ALL IMMEDIATE")
        sql.execute("SET CONSTRAINTS ALL DEFERRED")
        sql.execute(insert, (user.id, inbox, "after the stamp"))
    rows = sql.execute(
        "SELECT title, revision FROM tasks WHERE user_id = %s ORDER BY revision", (user.id,)
    ).fetchall()
    (revision,) = one(sql, "SELECT revision FROM users WHERE id = %s", user.id)
    assert [title for title, _ in rows] == ["kept", "after the stamp"]
    assert all(r is not None for _, r in rows)
    assert rows[-1][1] == revision


def test_a_statement_past_the_time_limit_is_not_called_an_outage(
    settings: Settings, make_api: Any, user: User, database_url: str
) -> None:
    """A statement the database cancels at statement_timeout answers 503 saying the request
    took too long (the database is up), not that the database is unavailable."""
    quick = dataclasses.replace(settings, db_statement_timeout=0.5)
    with make_api(quick) as other, psycopg.connect(database_url) as holder:
        holder.execute("SELECT FROM users WHERE id = %s FOR UPDATE", (user.id,))
        response = other.patch("/api/me", json={"name": "Later"}, headers=user.headers)
        holder.rollback()
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"]
    assert "took longer than the service allows" in response.json()["detail"]
