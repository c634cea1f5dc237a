"""Invitations racing deletions (SPEC §11): a list deleted while its owner invites to it, an
account deleted while it accepts. Each write waits for the deletion it overlaps, then answers
as after it (404 for the list, 401 for the account), never 500."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import psycopg

from tests.sharing import make_list, verify
from tests.support import Api, User


async def _until_waiting(watch: psycopg.AsyncConnection[Any], pending: asyncio.Future[Any]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert not pending.done(), "the request did not wait for the deletion"
        row = await (
            await watch.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        ).fetchone()
        if row and row[0] >= 1:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the request never waited for the deletion")


def during(
    api: Api, database_url: str, deletion: str, args: tuple[str, ...], call: Any
) -> httpx.Response:
    """The answer to `call`, sent while `deletion` is done but not committed, then committed."""

    async def run() -> httpx.Response:
        watch = await psycopg.AsyncConnection.connect(database_url, autocommit=True)
        holder = await psycopg.AsyncConnection.connect(database_url)
        async with watch, holder:
            async with holder.transaction():
                await holder.execute(deletion, args)
                pending = asyncio.ensure_future(call())
                await _until_waiting(watch, pending)
            return await pending

    answer: httpx.Response = api.run(run())
    return answer


def test_a_list_deleted_while_its_owner_invites_to_it_is_404(
    api: Api, database_url: str, make_user: Callable[..., User]
) -> None:
    owner = make_user()
    doomed = make_list(api, owner)
    answer = during(
        api,
        database_url,
        "DELETE FROM lists WHERE id = %s",
        (doomed["id"],),
        lambda: api.arequest(
            "POST",
            f"/api/{owner.id}/lists/{doomed['id']}/invitations",
            json={"email": "someone@example.org", "role": "viewer"},
            headers=owner.headers,
        ),
    )
    assert (answer.status_code, answer.json()["detail"]) == (404, "No such list."), answer.text


def test_an_account_deleted_while_it_accepts_is_401_and_joins_nothing(
    api: Api, sql: psycopg.Connection[Any], database_url: str, make_user: Callable[..., User]
) -> None:
    owner, invitee = make_user(), verify(sql, make_user())
    shared = make_list(api, owner)
    made = api.post(
        f"/api/{owner.id}/lists/{shared['id']}/invitations",
        json={"email": invitee.email, "role": "editor"},
        headers=owner.headers,
    ).json()["id"]
    answer = during(
        api,
        database_url,
        "DELETE FROM users WHERE id = %s",
        (invitee.id,),
        lambda: api.arequest("POST", f"/api/me/invitations/{made}/accept", headers=invitee.headers),
    )
    assert answer.status_code == 401, answer.text
    (members,) = sql.execute(
        "SELECT count(*) FROM list_members WHERE list_id = %s", (shared["id"],)
    ).fetchone() or (None,)
    assert members == 0


def test_a_list_deleted_while_an_invitee_accepts_is_404_and_joins_nothing(
    api: Api, sql: psycopg.Connection[Any], database_url: str, make_user: Callable[..., User]
) -> None:
    owner, invitee = make_user(), verify(sql, make_user())
    doomed = make_list(api, owner)
    made = api.post(
        f"/api/{owner.id}/lists/{doomed['id']}/invitations",
        json={"email": invitee.email, "role": "editor"},
        headers=owner.headers,
    ).json()["id"]
    answer = during(
        api,
        database_url,
        "DELETE FROM lists WHERE id = %s",
        (doomed["id"],),
        lambda: api.arequest("POST", f"/api/me/invitations/{made}/accept", headers=invitee.headers),
    )
    assert (answer.status_code, answer.json()["detail"]) == (404, "No such invitation.")
    (members,) = sql.execute(
        "SELECT count(*) FROM list_members WHERE member_id = %s", (invitee.id,)
    ).fetchone() or (None,)
    assert members == 0
