"""The change feed's promise under concurrency (SPEC §7): N writers (creates, updates,
completions, moves, deletes, restores, batches) on one user while a follower polls /changes.
At the end the follower's copy equals a full listing (nothing skipped), each object's versions
reach it in order, its position only grows and ends at the user's committed revision (the
revision gives commit order), and another user's writes never show up."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import psycopg
import pytest

from server.sync import feed
from tests.support import Api, User

WRITERS, OPS = 6, 25


async def writer(api: Api, owner: User, seed: int, ids: list[str], trashed: list[str]) -> None:
    rng = random.Random(seed)
    base = f"/api/{owner.id}"

    async def call(method: str, path: str, **kw: Any) -> Any:
        response = await api.arequest(method, base + path, headers=owner.headers, **kw)
        assert response.status_code < 500, response.text
        return response

    for i in range(OPS):
        op = rng.choice(
            ["create", "create", "update", "complete", "move", "delete", "restore", "batch"]
        )
        target = rng.choice(ids) if ids else None
        if op == "create" or target is None:
            made = await call("POST", "/tasks", json={"title": f"w{seed}-{i}"})
            ids.append(made.json()["id"])
        elif op == "update":
            await call("PATCH", f"/tasks/{target}", json={"title": f"w{seed}-{i} edit"})
        elif op == "complete":
            await call("PATCH", f"/tasks/{target}/complete")
        elif op == "move":
            parent = rng.choice([None, *ids[-5:]])
            await call("POST", f"/tasks/{target}/move", json={"parent_id": parent})
        elif op == "delete":
            if (await call("DELETE", f"/tasks/{target}")).status_code == 204:
                trashed.append(target)
        elif op == "restore" and trashed:
            await call("POST", f"/trash/{trashed.pop(rng.randrange(len(trashed)))}/restore")
        else:
            items = [
                {"op": "create", "body": {"title": f"w{seed}-{i} batch"}},
                {"op": "update", "task_id": target, "body": {"priority": "high"}},
            ]
            answer = await call("POST", "/tasks/batch", json={"operations": items})
            ids.extend(r["task"]["id"] for r in answer.json()["results"][:1] if r["status"] == 201)


@pytest.mark.slow
def test_a_follower_of_changes_converges_under_concurrent_writers(
    api: Api, user: User, other_user: User, sql: psycopg.Connection[Any]
) -> None:
    secret = api.app.ctx.settings.jwt_secret
    copy: dict[str, dict[str, Any]] = {}
    versions: dict[str, int] = {}
    positions: list[int] = []
    since: str | None = None

    async def poll() -> bool:
        nonlocal since
        params = {"limit": 7, **({"since": since} if since else {})}
        response = await api.arequest(
            "GET", f"/api/{user.id}/changes", params=params, headers=user.headers
        )
        assert response.status_code == 200, response.text
        page = response.json()
        for change in page["changes"]:
            key = f"{change['kind']}:{change['id']}"
            if change["op"] == "delete":
                copy.pop(key, None)
            else:
                assert change["data"]["version"] >= versions.get(key, 0), "a version went back"
                versions[key] = change["data"]["version"]
                copy[key] = change["data"]
        since = page["next_since"]
        position, end = feed.decode(secret, user.id, since, ["query", "since"])
        positions.append(end if end is not None and not page["has_more"] else position)
        return bool(page["has_more"])

    async def scenario() -> None:
        done = asyncio.Event()

        async def follow() -> None:
            while not done.is_set():
                await poll()
                await asyncio.sleep(0.01)
            while await poll():
                pass

        follower = asyncio.create_task(follow())
        ids: list[str] = []
        trashed: list[str] = []
        noise = writer(api, other_user, 99, [], [])
        await asyncio.gather(*(writer(api, user, s, ids, trashed) for s in range(WRITERS)), noise)
        done.set()
        await follower

    api.run(scenario())
    listing = api.get(f"/api/{user.id}/tasks", params={"limit": 100}, headers=user.headers)
    tasks = listing.json()["tasks"]
    while listing.json()["next_cursor"]:
        listing = api.get(
            f"/api/{user.id}/tasks",
            params={"limit": 100, "cursor": listing.json()["next_cursor"]},
            headers=user.headers,
        )
        tasks += listing.json()["tasks"]
    lists = api.get(f"/api/{user.id}/lists", headers=user.headers).json()["lists"]
    assert {k: v for k, v in copy.items() if k.startswith("task:")} == {
        f"task:{t['id']}": t for t in tasks
    }
    assert {k: v for k, v in copy.items() if k.startswith("list:")} == {
        f"list:{lst['id']}": lst for lst in lists
    }
    assert positions == sorted(positions), "the follower's position went back"
    [(revision,)] = sql.execute("SELECT revision FROM users WHERE id = %s", (user.id,))
    assert positions[-1] == revision
    assert all(t["user_id"] == user.id for t in copy.values())
