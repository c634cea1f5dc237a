"""The List resource (SPEC §6): the inbox every account has, the six operations, If-Match,
the manual order, the quota; another user's list is a missing one."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import psycopg

from server.config import Settings
from tests.conftest import User
from tests.support import Api

List = dict[str, Any]


def lists_of(api: Api, owner: User) -> list[List]:
    response = api.get(f"/api/{owner.id}/lists", headers=owner.headers)
    assert response.status_code == 200, response.text
    found: list[List] = response.json()["lists"]
    return found


def make_list(api: Api, owner: User, name: str = "Groceries", **fields: Any) -> List:
    response = api.post(
        f"/api/{owner.id}/lists", json={"name": name, **fields}, headers=owner.headers
    )
    assert response.status_code == 201, response.text
    made: List = response.json()
    return made


def move_list(api: Api, owner: User, list_id: str, after_id: str | None, **kw: Any) -> Any:
    return api.post(
        f"/api/{owner.id}/lists/{list_id}/move",
        json={"after_id": after_id},
        headers={**owner.headers, **kw.pop("headers", {})},
    )


def test_every_account_has_one_inbox(api: Api, user: User, other_user: User) -> None:
    [inbox] = lists_of(api, user)
    assert inbox["is_inbox"] is True
    assert inbox["name"] == "Inbox"
    assert inbox["user_id"] == user.id
    assert lists_of(api, other_user)[0]["id"] != inbox["id"]


def test_signup_makes_the_inbox(api: Api) -> None:
    body = {"email": "new@example.org", "password": "correct horse battery", "name": "New"}
    assert api.post("/api/auth/signup", json=body).status_code == 201
    login = api.post("/api/auth/login", json={"email": body["email"], "password": body["password"]})
    token, user_id = login.json()["access_token"], login.json()["user"]["id"]
    response = api.get(f"/api/{user_id}/lists", headers={"Authorization": f"Bearer {token}"})
    assert [lst["name"] for lst in response.json()["lists"]] == ["Inbox"]


def test_a_second_inbox_is_refused_by_the_database(
    user: User, sql: psycopg.Connection[Any]
) -> None:
    try:
        sql.execute(
            "INSERT INTO lists (user_id, name, is_inbox) VALUES (%s, 'Other', true)", (user.id,)
        )
    except psycopg.errors.UniqueViolation:
        return
    raise AssertionError("a second inbox was stored")


def test_create_places_last_with_location_and_etag(api: Api, user: User) -> None:
    response = api.post(
        f"/api/{user.id}/lists", json={"name": "  Work  ", "color": "#A0b1c2"}, headers=user.headers
    )
    assert response.status_code == 201
    made = response.json()
    assert made["name"] == "Work"
    assert made["color"] == "#A0b1c2"
    assert made["is_inbox"] is False
    assert response.headers["location"] == f"/api/{user.id}/lists/{made['id']}"
    assert response.headers["etag"] == '"1"'
    second = make_list(api, user, "Home")
    assert [lst["id"] for lst in lists_of(api, user)][1:] == [made["id"], second["id"]]


def test_create_refuses_a_blank_name_and_a_bad_colour(api: Api, user: User) -> None:
    for body, field in (({"name": "   "}, "name"), ({"name": "A", "color": "red"}, "color")):
        response = api.post(f"/api/{user.id}/lists", json=body, headers=user.headers)
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", field]


def test_a_name_is_counted_after_trimming(api: Api, user: User) -> None:
    body = {"name": "  " + "n" * 100 + " "}
    response = api.post(f"/api/{user.id}/lists", json=body, headers=user.headers)
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "n" * 100
    body = {"name": " " + "n" * 101}
    assert api.post(f"/api/{user.id}/lists", json=body, headers=user.headers).status_code == 422


def test_get_patch_and_if_none_match(api: Api, user: User) -> None:
    made = make_list(api, user, color="#112233")
    url = f"/api/{user.id}/lists/{made['id']}"
    assert api.get(url, headers=user.headers).json() == made
    assert api.get(url, headers={**user.headers, "If-None-Match": '"1"'}).status_code == 304
    patched = api.patch(url, json={"color": None}, headers={**user.headers, "If-Match": '"1"'})
    assert patched.status_code == 200
    assert patched.json()["color"] is None
    assert patched.json()["name"] == made["name"]
    assert patched.json()["version"] == 2
    assert patched.headers["etag"] == '"2"'
    stale = api.patch(url, json={"name": "X"}, headers={**user.headers, "If-Match": '"1"'})
    assert stale.status_code == 412
    assert api.get(url, headers=user.headers).json()["name"] == made["name"]


def test_the_inbox_can_be_renamed_and_moved_but_not_deleted(api: Api, user: User) -> None:
    [inbox] = lists_of(api, user)
    other = make_list(api, user)
    url = f"/api/{user.id}/lists/{inbox['id']}"
    assert api.patch(url, json={"name": "Later"}, headers=user.headers).json()["name"] == "Later"
    moved = move_list(api, user, inbox["id"], other["id"])
    assert moved.status_code == 200
    assert moved.json()["version"] == 3
    assert [lst["id"] for lst in lists_of(api, user)] == [other["id"], inbox["id"]]
    refused = api.delete(url, headers=user.headers)
    assert refused.status_code == 409
    assert refused.json()["type"].endswith(":inbox-kept")
    assert api.delete(url, headers={**user.headers, "If-Match": '"1"'}).status_code == 412
    assert len(lists_of(api, user)) == 2


def test_delete_takes_the_lists_tasks(
    api: Api, user: User, make_task: Callable[..., dict[str, Any]]
) -> None:
    made = make_list(api, user)
    task = make_task(user, list_id=made["id"])
    kept = make_task(user)
    url = f"/api/{user.id}/lists/{made['id']}"
    assert api.delete(url, headers={**user.headers, "If-Match": '"2"'}).status_code == 412
    assert api.delete(url, headers={**user.headers, "If-Match": '"1"'}).status_code == 204
    assert api.get(url, headers=user.headers).status_code == 404
    assert api.get(f"/api/{user.id}/tasks/{task['id']}", headers=user.headers).status_code == 404
    assert api.get(f"/api/{user.id}/tasks/{kept['id']}", headers=user.headers).status_code == 200


def test_moves_give_the_manual_order(api: Api, user: User) -> None:
    [inbox] = lists_of(api, user)
    a, _b, c = (make_list(api, user, name) for name in "ABC")
    assert move_list(api, user, c["id"], None).status_code == 200
    assert move_list(api, user, inbox["id"], a["id"]).status_code == 200
    order = [lst["name"] for lst in lists_of(api, user)]
    assert order == ["C", "A", "Inbox", "B"]
    positions = [lst["position"] for lst in lists_of(api, user)]
    assert positions == sorted(positions, key=lambda p: p.encode())


def test_move_after_itself_or_a_foreign_list_is_422(api: Api, user: User, other_user: User) -> None:
    mine = make_list(api, user)
    foreign = make_list(api, other_user)
    for after in (mine["id"], foreign["id"], "9b8e6a2c-3f1d-4c7a-8e5b-6a4f2c1d0e93"):
        response = move_list(api, user, mine["id"], after)
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", "after_id"]
    stale = move_list(api, user, mine["id"], None, headers={"If-Match": '"7"'})
    assert stale.status_code == 412


def test_another_users_list_is_missing_everywhere(api: Api, user: User, other_user: User) -> None:
    theirs = make_list(api, other_user)
    url = f"/api/{user.id}/lists/{theirs['id']}"
    assert api.get(url, headers=user.headers).status_code == 404
    assert api.patch(url, json={"name": "Mine"}, headers=user.headers).status_code == 404
    assert api.delete(url, headers=user.headers).status_code == 404
    assert move_list(api, user, theirs["id"], None).status_code == 404
    assert api.get(f"/api/{other_user.id}/lists", headers=user.headers).status_code == 403
    assert lists_of(api, other_user)[1]["name"] == "Groceries"


def test_list_quota_counts_the_inbox(
    make_api: Callable[..., Api], settings: Settings, user: User
) -> None:
    with make_api(dataclasses.replace(settings, list_quota=3)) as small:
        make_list(small, user, "A")
        make_list(small, user, "B")
        response = small.post(f"/api/{user.id}/lists", json={"name": "C"}, headers=user.headers)
        assert response.status_code == 409
        assert response.json()["type"].endswith(":quota-exceeded")
        assert len(lists_of(small, user)) == 3


def test_adversarial_list_moves_keep_positions_short(api: Api, user: User) -> None:
    [inbox] = lists_of(api, user)
    made = [make_list(api, user, f"L{n}") for n in range(12)]
    expected = [inbox["id"]] + [m["id"] for m in made]
    first = made[0]["id"]
    # always between the same two: move the last list right after the first, over and over
    for _ in range(120):
        last = expected[-1]
        assert move_list(api, user, last, first).status_code == 200
        expected.remove(last)
        expected.insert(expected.index(first) + 1, last)
    found = lists_of(api, user)
    assert [lst["id"] for lst in found] == expected
    assert max(len(lst["position"]) for lst in found) <= 64
