"""The change feed's promise under concurrency (SPEC §7): N writers (creates, updates,
completions, moves, deletes, restores, batches) on one user while a follower polls /changes.
At the end the follower's copy equals a full listing (nothing skipped), each object's versions
reach it in order, its position only grows and ends at the user's committed revision (the
revision gives commit order), and another user's writes never show up."""

from __future__ import annotations

import asyncio
import math
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


OWNERS, LISTS_EACH, WRITERS_EACH, SHARED_OPS, CHURN = 3, 2, 2, 20, 30


async def list_writer(
    api: Api, owner: User, lists: list[str], seed: int, ids: list[str], trashed: list[str]
) -> None:
    """The owner's writes across their lists (the inbox included): creates, edits, moves
    between lists (in and out of sight of the members), deletes and restores."""
    rng = random.Random(seed)
    base = f"/api/{owner.id}"

    async def call(method: str, path: str, **kw: Any) -> Any:
        response = await api.arequest(method, base + path, headers=owner.headers, **kw)
        assert response.status_code < 500, response.text
        return response

    for i in range(SHARED_OPS):
        op = rng.choice(["create", "create", "update", "move", "move", "delete", "restore"])
        target = rng.choice(ids) if ids else None
        if op == "create" or target is None:
            made = await call(
                "POST", "/tasks", json={"title": f"s{seed}-{i}", "list_id": rng.choice(lists)}
            )
            ids.append(made.json()["id"])
        elif op == "update":
            await call("PATCH", f"/tasks/{target}", json={"title": f"s{seed}-{i} edit"})
        elif op == "move":
            await call("POST", f"/tasks/{target}/move", json={"list_id": rng.choice(lists)})
        elif op == "delete":
            if (await call("DELETE", f"/tasks/{target}")).status_code == 204:
                trashed.append(target)
        elif op == "restore" and trashed:
            await call("POST", f"/trash/{trashed.pop(rng.randrange(len(trashed)))}/restore")


async def member_writer(
    api: Api, me: User, shared: dict[str, str], seed: int, written: list[str]
) -> None:
    """A user's writes in the other owners' shared lists, whatever their role there at that
    moment (editor, viewer, none: the churn changes it meanwhile): each answered as that role
    says (a write, 403, or the 404/422 of a list or task not theirs), never a 5xx; each
    successful write's task id lands in `written`."""
    rng = random.Random(seed)
    base = f"/api/{me.id}"
    theirs = sorted(list_id for list_id, owner in shared.items() if owner != me.id)

    async def call(method: str, path: str, **kw: Any) -> Any:
        response = await api.arequest(method, base + path, headers=me.headers, **kw)
        assert response.status_code in (200, 201, 403, 404, 422), response.text
        return response

    for i in range(SHARED_OPS):
        list_id = rng.choice(theirs)
        seen = await call("GET", "/tasks", params={"list_id": list_id, "limit": 20})
        tasks = seen.json()["tasks"] if seen.status_code == 200 else []
        if rng.random() < 0.3 or not tasks:
            made = await call("POST", "/tasks", json={"title": f"m{seed}-{i}", "list_id": list_id})
        elif rng.random() < 0.5:
            target = rng.choice(tasks)["id"]
            made = await call("PATCH", f"/tasks/{target}", json={"title": f"m{seed}-{i} edit"})
        else:
            made = await call("PATCH", f"/tasks/{rng.choice(tasks)['id']}/complete")
        if made.status_code in (200, 201):
            written.append(made.json()["id"])


Spans = dict[tuple[str, str], list[list[float]]]  # (list, member) -> [[after, upto], ...]


async def churn(
    dsn: str,
    owners: list[User],
    shared: dict[str, str],
    seed: int,
    spans: Spans,
    started: asyncio.Event,
) -> None:
    """Every shared list shared with every other owner as an editor (then `started` is set), and
    memberships added, demoted, promoted and removed meanwhile (rows of list_members, as the
    members endpoints write them), each its own transaction. Each membership's span in the
    member's revisions: begun after the member's revision read before it, ended at the latest
    by the member's revision read after its end committed."""
    rng = random.Random(seed)
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:

        async def revision(member: User) -> int:
            row = await (
                await conn.execute("SELECT revision FROM users WHERE id = %s", (member.id,))
            ).fetchone()
            assert row is not None
            return int(row[0])

        async def add(list_id: str, member: User, role: str) -> None:
            async with conn.transaction():
                before = await revision(member)
                await conn.execute(
                    "INSERT INTO list_members (list_id, owner_id, member_id, role)"
                    " VALUES (%s, %s, %s, %s)",
                    (list_id, shared[list_id], member.id, role),
                )
            spans.setdefault((list_id, member.id), []).append([before, math.inf])

        for list_id in sorted(shared):  # every list shared with everyone to begin with
            for member in owners:
                if member.id != shared[list_id]:
                    await add(list_id, member, "editor")
        started.set()
        for _ in range(CHURN):
            list_id = rng.choice(sorted(shared))
            member = rng.choice([u for u in owners if u.id != shared[list_id]])
            row = await (
                await conn.execute(
                    "SELECT role FROM list_members WHERE list_id = %s AND member_id = %s",
                    (list_id, member.id),
                )
            ).fetchone()
            if row is None:
                await add(list_id, member, rng.choice(["editor", "viewer"]))
            elif rng.random() < 0.5:
                await conn.execute(
                    "DELETE FROM list_members WHERE list_id = %s AND member_id = %s",
                    (list_id, member.id),
                )
                spans[list_id, member.id][-1][1] = await revision(member)
            else:
                role = "viewer" if row[0] == "editor" else "editor"
                await conn.execute(
                    "UPDATE list_members SET role = %s WHERE list_id = %s AND member_id = %s",
                    (role, list_id, member.id),
                )
            await asyncio.sleep(rng.random() * 0.02)


class SharedFollower:
    """One user's client of /changes: its copy, and a check on every change it receives that the
    list it belongs to is one its copy holds (else it was told of a list it does not belong to)."""

    def __init__(self, api: Api, who: User, spans: Spans) -> None:
        self.api, self.who, self.spans = api, who, spans
        self.since: str | None = None
        self.copy: dict[str, dict[str, Any]] = {}
        self.versions: dict[str, int] = {}
        self.positions: list[int] = []
        self.received = self.shared = 0  # changes received; of them, of others' lists

    def check(self, change: dict[str, Any], revision: int) -> None:
        """An object of someone else's list reaches the follower only at a revision when it
        belonged to that list."""
        data = change["data"]
        if data is None or data["user_id"] == self.who.id:
            return
        list_id = data["id"] if change["kind"] == "list" else data["list_id"]
        self.shared += 1
        assert any(
            after < revision <= upto for after, upto in self.spans.get((list_id, self.who.id), [])
        ), f"{self.who.name} was told at {revision} of {change['kind']} {change['id']} of a list"

    async def poll(self) -> bool:
        """One change at a time: the token after each names its revision."""
        params = {"limit": 1, **({"since": self.since} if self.since else {})}
        response = await self.api.arequest(
            "GET", f"/api/{self.who.id}/changes", params=params, headers=self.who.headers
        )
        assert response.status_code == 200, response.text
        page = response.json()
        self.since = page["next_since"]
        secret = self.api.app.ctx.settings.jwt_secret
        position, end = feed.decode(secret, self.who.id, self.since, ["query", "since"])
        self.positions.append(end if end is not None and not page["has_more"] else position)
        for change in page["changes"]:
            self.received += 1
            key = f"{change['kind']}:{change['id']}"
            self.check(change, position)
            if change["op"] == "delete":
                self.copy.pop(key, None)
            else:
                assert change["data"]["version"] >= self.versions.get(key, 0), "version went back"
                self.versions[key] = change["data"]["version"]
                self.copy[key] = change["data"]
        return bool(page["has_more"])


def listing(api: Api, owner: User, list_id: str | None = None) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"limit": 100, **({"list_id": list_id} if list_id else {})}
    page = api.get(f"/api/{owner.id}/tasks", params=params, headers=owner.headers).json()
    tasks = page["tasks"]
    while page["next_cursor"]:
        page = api.get(
            f"/api/{owner.id}/tasks",
            params={**params, "cursor": page["next_cursor"]},
            headers=owner.headers,
        ).json()
        tasks += page["tasks"]
    return list(tasks)


@pytest.mark.slow
def test_every_member_converges_while_lists_are_shared_demoted_and_unshared(
    api: Api, make_user: Any, sql: psycopg.Connection[Any], database_url: str
) -> None:
    """OWNERS users, each owning LISTS_EACH lists besides the inbox with WRITERS_EACH concurrent
    writers, and each writing in the others' shared lists as whatever role they hold there, all
    following their feeds while memberships churn. Every follower ends with a copy equal to its
    own lists and tasks plus those of each list it belongs to (the list as the member reads it:
    their own position and role; its tasks as the owner lists them), was never told of a task of
    a list it did not hold then, and saw its position only grow to its committed revision."""
    users = [make_user(name=f"U{i}") for i in range(OWNERS)]
    shared: dict[str, str] = {}  # list id -> owner id
    lists_of: dict[str, list[str]] = {}
    for owner in users:
        lists = api.get(f"/api/{owner.id}/lists", headers=owner.headers).json()["lists"]
        made = [
            api.post(f"/api/{owner.id}/lists", json={"name": f"L{n}"}, headers=owner.headers)
            for n in range(LISTS_EACH)
        ]
        shared.update({m.json()["id"]: owner.id for m in made})
        lists_of[owner.id] = [lists[0]["id"], *(m.json()["id"] for m in made)]
    spans: Spans = {}
    followers = [SharedFollower(api, u, spans) for u in users]
    by_members: list[str] = []  # the tasks members created or changed in others' lists

    async def scenario() -> None:
        done = asyncio.Event()

        async def follow(follower: SharedFollower) -> None:
            while not done.is_set():
                await follower.poll()
                await asyncio.sleep(0.01)
            while await follower.poll():
                pass

        following = [asyncio.create_task(follow(f)) for f in followers]
        started = asyncio.Event()
        churning = asyncio.create_task(churn(database_url, users, shared, 7, spans, started))
        await started.wait()  # so members have something to write in before the churn begins
        writers = [
            list_writer(api, owner, lists_of[owner.id], 10 * n + w, [], [])
            for n, owner in enumerate(users)
            for w in range(WRITERS_EACH)
        ] + [member_writer(api, u, shared, 100 + n, by_members) for n, u in enumerate(users)]
        await asyncio.gather(*writers, churning)
        done.set()
        await asyncio.gather(*following)

    api.run(scenario())
    assert by_members, "no member wrote in a shared list"
    by_id = {u.id: u for u in users}
    for follower in followers:
        me = follower.who
        expected = {f"task:{t['id']}": t for t in listing(api, me)}
        own = api.get(f"/api/{me.id}/lists", headers=me.headers).json()["lists"]
        expected |= {f"list:{x['id']}": x for x in own}
        for (list_id,) in sql.execute(  # (the lists joined are in own: the member's view)
            "SELECT list_id::text FROM list_members WHERE member_id = %s", (me.id,)
        ):
            owner = by_id[shared[list_id]]
            expected |= {f"task:{t['id']}": t for t in listing(api, owner, list_id)}
        assert follower.shared > 0, "the scenario shared nothing with this follower"
        assert follower.copy == expected, f"{me.name}'s copy differs from its listing"
        assert follower.positions == sorted(follower.positions), "a position went back"
        [(revision,)] = sql.execute("SELECT revision FROM users WHERE id = %s", (me.id,))
        assert follower.positions[-1] == revision
