"""A personal access token ends at once everywhere (issue 27): an event stream it opened ends
within a second of its deletion, a password reset or the account's deletion, and at its expiry;
another instance refuses it at once after its deletion."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import psycopg
import pytest

from tests.support import Api, User
from tests.test_events import create, stream
from tests.test_sessions import other_instance
from tests.test_stream_ends import _reset_password, ends
from tests.tokens import TOKENS, bearer, make_token

__all__ = ["other_instance"]

Token = dict[str, Any]
End = Callable[[Api, User, Token], Awaitable[httpx.Response]]
READ = ("tasks:read", "lists:read")  # what /events needs of a token


async def _delete_token(api: Api, user: User, token: Token) -> httpx.Response:
    return await api.arequest("DELETE", f"{TOKENS}/{token['id']}", headers=user.headers)


async def _reset(api: Api, user: User, token: Token) -> httpx.Response:
    return await _reset_password(api, user, {}, {})


async def _delete_account(api: Api, user: User, token: Token) -> httpx.Response:
    body = {"password": user.password}
    return await api.arequest("DELETE", "/api/me", json=body, headers=user.headers)


ENDS: dict[str, tuple[End, str]] = {
    "token deleted": (_delete_token, "session-ended"),
    "password reset": (_reset, "session-ended"),
    "account deleted": (_delete_account, "account-deleted"),
}


def as_token(user: User, token: Token) -> User:
    """The user as `stream` takes it, speaking with the personal token."""
    return dataclasses.replace(user, access_token=token["token"])


@pytest.mark.parametrize("how", ENDS)
def test_a_stream_opened_with_a_token_ends_within_a_second_of_its_end(
    api: Api, user: User, how: str
) -> None:
    token = make_token(api, user, *READ)
    end, reason = ENDS[how]

    async def scenario() -> None:
        async with (
            httpx.AsyncClient(base_url=api.base, timeout=30) as client,
            stream(client, as_token(user, token)) as listener,
        ):
            before = await create(client, user, "Before")
            assert (await listener.next(within=1))["data"]["id"] == before["id"]
            response = await end(api, user, token)
            assert response.status_code == 204, response.text
            ended = time.monotonic()
            event = await ends(listener)
            assert event["data"] == {"reason": reason}
            assert time.monotonic() - ended < 1
            refused = await client.get(f"/api/{user.id}/events", headers=bearer(token))
            assert refused.status_code == 401

    api.run(scenario())


def test_a_stream_opened_with_a_token_ends_at_its_expiry(
    api: Api, user: User, sql: psycopg.Connection[Any]
) -> None:
    token = make_token(api, user, *READ)
    sql.execute("UPDATE access_tokens SET expires_at = now() + interval '1.5 seconds'")

    async def scenario() -> None:
        async with (
            httpx.AsyncClient(base_url=api.base, timeout=30) as client,
            stream(client, as_token(user, token)) as listener,
        ):
            event = await ends(listener, within=5)
            assert event["data"] == {"reason": "session-ended"}

    api.run(scenario())


def test_a_token_without_both_read_scopes_cannot_open_a_stream(api: Api, user: User) -> None:
    token = make_token(api, user, "tasks:read")
    response = api.get(f"/api/{user.id}/events", headers=bearer(token))
    assert response.status_code == 403
    assert response.json()["required_scopes"] == ["lists:read", "tasks:read"]


def test_a_token_used_as_it_is_deleted_is_refused_once_the_delete_commits(
    api: Api, user: User
) -> None:
    """Concurrent uses and a delete: every use is answered 200 or 401, and every use after the
    delete's answer is 401."""
    token = make_token(api, user, "tasks:read")
    path = f"/api/{user.id}/tasks"
    uses = [lambda: api.arequest("GET", path, headers=bearer(token))] * 20
    deleting = [lambda: api.arequest("DELETE", f"{TOKENS}/{token['id']}", headers=user.headers)]
    answers = api.gather(*uses[:10], *deleting, *uses[10:])
    assert answers[10].status_code == 204
    assert {a.status_code for a in answers[:10] + answers[11:]} <= {200, 401}
    assert api.get(path, headers=bearer(token)).status_code == 401


@pytest.mark.slow
def test_a_deleted_token_is_refused_at_once_on_another_instance(
    api: Api, user: User, other_instance: httpx.Client
) -> None:
    token = make_token(api, user, "tasks:read")
    path = f"/api/{user.id}/tasks"
    assert other_instance.get(path, headers=bearer(token)).status_code == 200
    assert api.delete(f"{TOKENS}/{token['id']}", headers=user.headers).status_code == 204
    refused = other_instance.get(path, headers=bearer(token))
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
