"""Revocation of access tokens (SPEC §9): a password change, DELETE /api/me, logout-all,
logout and ending a session refuse every access token issued before them, at once, on every
instance. Each path is checked on a second running instance (a `todo-api serve` process on the
same database and secret) that has already accepted, and remembered, the token."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest

from server.config import Settings
from tests.conftest import User
from tests.live import LiveServer
from tests.support import Api

LOGIN, REFRESH, LOGOUT = "/api/auth/login", "/api/auth/refresh", "/api/auth/logout"
LOGOUT_ALL, SESSIONS, ME = "/api/auth/logout-all", "/api/me/sessions", "/api/me"


@pytest.fixture(scope="module")
def other_instance(
    database_url: str, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx.Client]:
    """A second instance: another process on the same database, with the same JWT secret."""
    log = tmp_path_factory.mktemp("other-instance") / "service.log"
    with (
        LiveServer(database_url, log, env={"JWT_SECRET": settings.jwt_secret}) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        yield client


def log_in(api: Api, user: User, agent: str = "pytest") -> dict[str, Any]:
    body = {"email": user.email, "password": user.password}
    response = api.post(LOGIN, json=body, headers={"User-Agent": agent})
    assert response.status_code == 200, response.text
    pair: dict[str, Any] = response.json()
    return pair


def bearer(pair: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {pair['access_token']}"}


def works_on(client: httpx.Client, pair: dict[str, Any]) -> bool:
    """The other instance's answer to the token (twice: the second use is its cached one)."""
    statuses = {client.get(ME, headers=bearer(pair)).status_code for _ in range(2)}
    assert len(statuses) == 1
    return statuses == {200}


Revoke = Callable[[Api, User, dict[str, Any]], Any]
REVOCATIONS: dict[str, Revoke] = {
    "password change": lambda api, user, pair: api.put(
        "/api/me/password",
        json={"current_password": user.password, "new_password": "a brand new passphrase"},
        headers=bearer(log_in(api, user)),
    ),
    "delete me": lambda api, user, pair: api.request(
        "DELETE", ME, json={"password": user.password}, headers=bearer(log_in(api, user))
    ),
    "logout-all": lambda api, user, pair: api.post(LOGOUT_ALL, headers=bearer(log_in(api, user))),
    "logout": lambda api, user, pair: api.post(
        LOGOUT, json={"refresh_token": pair["refresh_token"]}
    ),
    "end the session": lambda api, user, pair: api.delete(
        f"{SESSIONS}/{_session_of(api, pair)}", headers=bearer(log_in(api, user))
    ),
}


def _session_of(api: Api, pair: dict[str, Any]) -> str:
    sessions = api.get(SESSIONS, headers=bearer(pair)).json()["sessions"]
    return str(next(s["id"] for s in sessions if s["current"]))


@pytest.mark.slow
@pytest.mark.parametrize("how", REVOCATIONS)
def test_revocation_refuses_earlier_access_tokens_at_once_on_another_instance(
    api: Api, user: User, other_instance: httpx.Client, how: str
) -> None:
    pair = log_in(api, user)
    assert works_on(other_instance, pair)
    response = REVOCATIONS[how](api, user, pair)
    assert response.status_code == 204, response.text
    assert not works_on(other_instance, pair), f"{how}: the access token still works"
    refused = other_instance.get(ME, headers=bearer(pair))
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert api.post(REFRESH, json={"refresh_token": pair["refresh_token"]}).status_code == 401


def test_revocation_within_the_same_second_refuses_the_token(api: Api, user: User) -> None:
    pair = log_in(api, user)
    assert api.post(LOGOUT_ALL, headers=bearer(pair)).status_code == 204
    assert api.get(ME, headers=bearer(pair)).status_code == 401
    assert api.get(ME, headers=bearer(log_in(api, user))).status_code == 200, "a new login works"


def test_logout_with_a_rotated_token_ends_the_whole_family(api: Api, user: User) -> None:
    first = log_in(api, user)
    second = api.post(REFRESH, json={"refresh_token": first["refresh_token"]}).json()
    kept = log_in(api, user)
    assert api.post(LOGOUT, json={"refresh_token": first["refresh_token"]}).status_code == 204
    assert api.get(ME, headers=bearer(second)).status_code == 401
    assert api.post(REFRESH, json={"refresh_token": second["refresh_token"]}).status_code == 401
    assert api.get(ME, headers=bearer(kept)).status_code == 200, "another login is untouched"


def test_sessions_list_the_live_login_families_and_mark_the_current_one(
    api: Api, user: User, other_user: User
) -> None:
    phone, laptop = log_in(api, user, "Phone/1.0"), log_in(api, user, "Laptop/2.0")
    log_in(api, other_user)
    api.post(LOGOUT, json={"refresh_token": log_in(api, user)["refresh_token"]})
    sessions = api.get(SESSIONS, headers=bearer(laptop)).json()["sessions"]
    assert [(s["user_agent"], s["current"]) for s in sessions] == [
        ("Laptop/2.0", True),
        ("Phone/1.0", False),
    ]
    assert all(s["created_at"] <= s["last_used_at"] for s in sessions)
    assert api.get(SESSIONS, headers=bearer(phone)).json()["sessions"][1]["current"] is True


def test_ending_another_users_or_an_unknown_session_is_404(
    api: Api, user: User, other_user: User
) -> None:
    theirs = log_in(api, other_user)
    their_session = _session_of(api, theirs)
    mine = bearer(log_in(api, user))
    assert api.delete(f"{SESSIONS}/{their_session}", headers=mine).status_code == 404
    unknown = user.session_id[:-1] + ("1" if user.session_id.endswith("0") else "0")
    assert api.delete(f"{SESSIONS}/{unknown}", headers=mine).status_code == 404
    assert api.get(ME, headers=bearer(theirs)).status_code == 200
    assert api.delete(f"{SESSIONS}/not-a-uuid", headers=mine).status_code == 400


def test_a_login_family_lives_at_most_refresh_family_ttl(
    api: Api, user: User, sql: psycopg.Connection[Any], settings: Settings
) -> None:
    pair = log_in(api, user)
    row = sql.execute(
        "SELECT extract(epoch FROM expires_at - created_at) FROM login_families"
        " WHERE user_id = %s AND user_agent = 'pytest'",
        (user.id,),
    ).fetchone()
    assert row is not None
    assert round(row[0]) == settings.refresh_family_ttl == 90 * 24 * 3600
    sql.execute("UPDATE login_families SET expires_at = now() WHERE user_id = %s", (user.id,))
    assert api.post(REFRESH, json={"refresh_token": pair["refresh_token"]}).status_code == 401


def test_refresh_token_never_outlives_its_family(
    settings: Settings, make_api: Callable[..., Api], user: User, sql: psycopg.Connection[Any]
) -> None:
    short = dataclasses.replace(settings, refresh_family_ttl=120)
    with make_api(short) as api:
        log_in(api, user)
    row = sql.execute(
        "SELECT extract(epoch FROM t.expires_at - f.created_at) FROM refresh_tokens t"
        " JOIN login_families f ON f.id = t.family_id WHERE t.user_id = %s",
        (user.id,),
    ).fetchone()
    assert row is not None
    assert round(row[0]) == 120


def test_a_family_past_its_lifetime_takes_its_access_tokens_with_it(
    api: Api, user: User, sql: psycopg.Connection[Any]
) -> None:
    """Past REFRESH_FAMILY_TTL the session can no longer be ended (404, logout does nothing),
    so an access token refreshed just before must not outlive it."""
    pair = log_in(api, user)
    session = _session_of(api, pair)
    sql.execute("UPDATE login_families SET expires_at = now() WHERE id = %s", (session,))
    assert api.get(ME, headers=bearer(pair)).status_code == 401
    assert api.get(f"/api/{user.id}/tasks", headers=bearer(pair)).status_code == 401
    assert api.delete(f"{SESSIONS}/{session}", headers=user.headers).status_code == 404
