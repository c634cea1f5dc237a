"""Joining a big shared list (SPEC §11 "Joining a list brings upserts of the list, its live tasks
and their comments into the joiner's feed"): accepting an invitation to a list of 50,000 tasks
(seeded by SQL as bench/ seeds) answers the joined list (inside the statement timeout: a 503
otherwise), and the joiner's /changes then brings the list and every one of its tasks as upserts,
page by page, each page within the contract's bound, once each.

The service's durations are printed (`pytest -s`; the test's own check of each page against the
contract, openapi-core's, takes far longer and is left out), never asserted."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from bench.database import seed_tasks
from tests.sharing import accept, invite, make_list, verify
from tests.support import Api, User, check_contract

TASKS = 50_000
PAGE_MAX = 1000  # ChangePage.changes' maxItems


def feed_end(api: Api, user: User) -> str:
    since = None
    while True:
        params: dict[str, str] = {} if since is None else {"since": since}
        page = api.get(f"/api/{user.id}/changes", params=params, headers=user.headers).json()
        since = page["next_since"]
        if not page["has_more"]:
            return str(since)


@pytest.mark.slow
def test_joining_a_list_of_50000_tasks_brings_its_state_as_upserts_page_by_page(
    api: Api, sql: psycopg.Connection[Any], make_user: Callable[..., User]
) -> None:
    owner, joiner = make_user(), verify(sql, make_user())
    big = make_list(api, owner, "Everything")
    seed_tasks(sql, owner.id, TASKS)
    with sql.transaction():
        sql.execute("UPDATE tasks SET list_id = %s WHERE user_id = %s", (big["id"], owner.id))
    sql.execute("VACUUM ANALYZE tasks")
    since = feed_end(api, joiner)
    invited = invite(api, owner, big["id"], joiner.email, "viewer")
    assert invited.status_code == 201, invited.text

    started = time.monotonic()
    joined = accept(api, joiner, invited.json()["id"])
    accepted_s = time.monotonic() - started
    assert joined.status_code == 200, joined.text
    assert (joined.json()["id"], joined.json()["role"]) == (big["id"], "viewer")

    upserts: dict[str, set[str]] = {"list": set(), "task": set()}
    pages, slowest, paged_s = 0, 0.0, 0.0
    while True:
        asked = time.monotonic()
        answer = api.get(
            f"/api/{joiner.id}/changes",
            params={"since": since},
            headers=joiner.headers,
            check=False,  # checked below, out of the time measured: the service's alone
        )
        slowest = max(slowest, time.monotonic() - asked)
        paged_s += time.monotonic() - asked
        check_contract(answer)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        pages += 1
        assert 0 < len(page["changes"]) <= PAGE_MAX or not page["has_more"]
        for change in page["changes"]:
            assert change["op"] == "upsert", change
            assert change["id"] not in upserts[change["kind"]], f"{change['id']} twice"
            upserts[change["kind"]].add(change["id"])
            if change["kind"] == "task":
                assert change["data"]["list_id"] == big["id"]
        since = page["next_since"]
        if not page["has_more"]:
            break
    assert upserts["list"] == {big["id"]}
    stored = sql.execute("SELECT id::text FROM tasks WHERE list_id = %s", (big["id"],))
    assert upserts["task"] == {row[0] for row in stored}
    assert len(upserts["task"]) == TASKS
    assert pages >= TASKS // PAGE_MAX
    print(
        f"\naccept of a list of {TASKS:,} tasks: {accepted_s:.2f} s; the joiner's /changes:"
        f" {pages} pages in {paged_s:.1f} s, the slowest {slowest:.2f} s"
    )
