"""The signed-in account: read, rename, change its password, delete it with everything it owns."""

from __future__ import annotations

import asyncio
import zoneinfo
from datetime import datetime
from typing import Any

import psycopg
import pytest

from tests.support import Api, User

ME, PASSWORD, LOGIN, REFRESH = "/api/me", "/api/me/password", "/api/auth/login", "/api/auth/refresh"
NEW_PASSWORD = "analytical engine 1843"


def log_in(api: Api, email: str, password: str) -> Any:
    return api.post(LOGIN, json={"email": email, "password": password})


def count(sql: psycopg.Connection[Any], table: str, user_id: str) -> int:
    row = sql.execute(f"SELECT count(*) FROM {table} WHERE user_id = %s", (user_id,)).fetchone()  # noqa: S608
    assert row is not None
    return int(row[0])


def instant(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp)


def add_task(sql: psycopg.Connection[Any], user: User) -> None:
    sql.execute(
        "INSERT INTO tasks (user_id, list_id, title)"
        " SELECT user_id, id, 'Buy milk' FROM lists WHERE user_id = %s AND is_inbox",
        (user.id,),
    )


def test_get_me_returns_the_tokens_user_and_no_secret(api: Api, user: User) -> None:
    response = api.get(ME, headers=user.headers)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        *("id", "email", "name", "timezone", "created_at", "updated_at"),
        *("email_verified", "notify"),
    }
    assert (body["id"], body["email"], body["name"]) == (user.id, user.email, user.name)


def test_get_me_without_a_token_returns_401(api: Api) -> None:
    response = api.get(ME)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_update_me_trims_the_name_and_moves_updated_at(api: Api, user: User) -> None:
    before = api.get(ME, headers=user.headers).json()
    response = api.patch(ME, json={"name": "  Ada King  "}, headers=user.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "Ada King"
    assert instant(body["updated_at"]) > instant(before["updated_at"])
    assert body["created_at"] == before["created_at"]
    assert api.get(ME, headers=user.headers).json()["name"] == "Ada King"


def test_update_me_changes_only_the_tokens_user(api: Api, user: User, other_user: User) -> None:
    api.patch(ME, json={"name": "Renamed"}, headers=user.headers)
    assert api.get(ME, headers=other_user.headers).json()["name"] == other_user.name


def test_update_me_with_blank_long_or_unstorable_name_returns_422(api: Api, user: User) -> None:
    for name in ["", " \t ", "n" * 101, "nul\x00"]:
        response = api.patch(ME, json={"name": name}, headers=user.headers)
        assert response.status_code == 422, name
        assert response.json()["errors"][0]["loc"] == ["body", "name"]


def test_update_me_counts_the_name_after_trimming(api: Api, user: User) -> None:
    response = api.patch(ME, json={"name": " " + "n" * 100 + "\n"}, headers=user.headers)
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "n" * 100


def test_change_password_replaces_the_password(api: Api, user: User) -> None:
    body = {"current_password": user.password, "new_password": NEW_PASSWORD}
    assert api.put(PASSWORD, json=body, headers=user.headers).status_code == 204
    assert log_in(api, user.email, user.password).status_code == 401
    assert log_in(api, user.email, NEW_PASSWORD).status_code == 200


def test_change_password_with_wrong_current_password_returns_403_and_keeps_it(
    api: Api, user: User
) -> None:
    body = {"current_password": "not the password", "new_password": NEW_PASSWORD}
    assert api.put(PASSWORD, json=body, headers=user.headers).status_code == 403
    assert log_in(api, user.email, user.password).status_code == 200
    assert log_in(api, user.email, NEW_PASSWORD).status_code == 401


def test_change_password_to_a_too_short_one_returns_422(api: Api, user: User) -> None:
    body = {"current_password": user.password, "new_password": "short"}
    response = api.put(PASSWORD, json=body, headers=user.headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "new_password"]


def test_change_password_revokes_every_refresh_token(
    api: Api, user: User, other_user: User, sql: psycopg.Connection[Any]
) -> None:
    mine = [log_in(api, user.email, user.password).json()["refresh_token"] for _ in range(2)]
    theirs = log_in(api, other_user.email, other_user.password).json()["refresh_token"]
    body = {"current_password": user.password, "new_password": NEW_PASSWORD}
    assert api.put(PASSWORD, json=body, headers=user.headers).status_code == 204
    for token in mine:
        assert api.post(REFRESH, json={"refresh_token": token}).status_code == 401
    assert api.post(REFRESH, json={"refresh_token": theirs}).status_code == 200
    live = sql.execute(
        "SELECT count(*) FROM refresh_tokens WHERE user_id = %s AND revoked_at IS NULL", (user.id,)
    ).fetchone()
    assert live == (0,)


def test_delete_me_with_wrong_password_returns_403_and_keeps_the_account(
    api: Api, user: User, sql: psycopg.Connection[Any]
) -> None:
    add_task(sql, user)
    response = api.delete(ME, json={"password": "not the password"}, headers=user.headers)
    assert response.status_code == 403
    assert api.get(ME, headers=user.headers).status_code == 200
    assert count(sql, "tasks", user.id) == 1


def test_delete_me_removes_the_user_their_tasks_and_tokens(
    api: Api, user: User, other_user: User, sql: psycopg.Connection[Any]
) -> None:
    for owner in (user, other_user):
        add_task(sql, owner)
        assert log_in(api, owner.email, owner.password).status_code == 200
    response = api.delete(ME, json={"password": user.password}, headers=user.headers)
    assert response.status_code == 204
    assert sql.execute("SELECT 1 FROM users WHERE id = %s", (user.id,)).fetchone() is None
    assert count(sql, "tasks", user.id) == 0
    assert count(sql, "refresh_tokens", user.id) == 0
    assert count(sql, "tasks", other_user.id) == 1
    assert count(sql, "refresh_tokens", other_user.id) == 1
    assert api.get(ME, headers=user.headers).status_code == 401
    assert log_in(api, user.email, user.password).status_code == 401


def test_email_signs_up_again_after_delete_me(api: Api, user: User) -> None:
    assert api.delete(ME, json={"password": user.password}, headers=user.headers).status_code == 204
    body = {"email": user.email.upper(), "password": NEW_PASSWORD, "name": "Ada again"}
    response = api.post("/api/auth/signup", json=body)
    assert response.status_code == 201
    assert response.json()["id"] != user.id
    assert log_in(api, user.email, NEW_PASSWORD).status_code == 200


def test_the_zones_an_account_may_have_are_listed_off_the_event_loop(
    api: Api, user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """zoneinfo lists its zones by walking the tzdata files: 60 to 120 ms that held the loop of
    each worker at its first time-zone change."""
    on_loop: list[bool] = []
    real = zoneinfo.available_timezones

    def listed() -> set[str]:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            on_loop.append(False)
        else:
            on_loop.append(True)
        return real()

    monkeypatch.setattr(zoneinfo, "available_timezones", listed)
    monkeypatch.setattr(api.app.ctx, "time_zones", None)  # as in a worker just started
    changed = api.patch(ME, json={"timezone": "Europe/Lisbon"}, headers=user.headers)
    assert changed.status_code == 200, changed.text
    assert changed.json()["timezone"] == "Europe/Lisbon"
    assert on_loop == [False]
