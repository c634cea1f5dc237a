"""Helpers for the sharing tests: memberships made as the members and invitations endpoints make
them (a list_members row naming the list's owner, placed last in the member's sidebar), a list of
one's own, an invitation, an account that joins."""

from __future__ import annotations

import re
from typing import Any

import psycopg

from tests.mailbox import Arrived
from tests.support import Api, User

INVITATION_LINK = re.compile(r"https?://\S+?/invitations/([0-9a-f-]{36})")


def verify(sql: psycopg.Connection[Any], user: User) -> User:
    """The account, its email marked verified (as following the mailed link does)."""
    sql.execute("UPDATE users SET email_verified = true WHERE id = %s", (user.id,))
    return user


def make_list(api: Api, owner: User, name: str = "Groceries") -> dict[str, Any]:
    made = api.post(f"/api/{owner.id}/lists", json={"name": name}, headers=owner.headers)
    assert made.status_code == 201, made.text
    body: dict[str, Any] = made.json()
    return body


def invite(api: Api, owner: User, list_id: str, email: str, role: str = "editor") -> Any:
    return api.post(
        f"/api/{owner.id}/lists/{list_id}/invitations",
        json={"email": email, "role": role},
        headers=owner.headers,
    )


def accept(api: Api, user: User, invitation_id: str) -> Any:
    return api.post(f"/api/me/invitations/{invitation_id}/accept", headers=user.headers)


def join(
    api: Api, sql: psycopg.Connection[Any], owner: User, member: User, list_id: str, role: str
) -> dict[str, Any]:
    """`member` (verified here) joins the owner's list by an accepted invitation."""
    verify(sql, member)
    invited = invite(api, owner, list_id, member.email, role)
    assert invited.status_code == 201, invited.text
    joined = accept(api, member, invited.json()["id"])
    assert joined.status_code == 200, joined.text
    body: dict[str, Any] = joined.json()
    return body


def invitation_id(mail: Arrived) -> str:
    found = INVITATION_LINK.search(mail.text)
    assert found, mail.text
    return found[1]


def share(sql: psycopg.Connection[Any], owner: User, list_id: str, member: User, role: str) -> None:
    """`member` joins `owner`'s list `list_id` as `role` (editor or viewer)."""
    sql.execute(
        "INSERT INTO list_members (list_id, owner_id, member_id, role) VALUES (%s, %s, %s, %s)",
        (list_id, owner.id, member.id, role),
    )


def set_role(sql: psycopg.Connection[Any], list_id: str, member: User, role: str) -> None:
    sql.execute(
        "UPDATE list_members SET role = %s WHERE list_id = %s AND member_id = %s",
        (role, list_id, member.id),
    )


def unshare(sql: psycopg.Connection[Any], list_id: str, member: User) -> None:
    """`member` is removed from the list (their assignments in it are cleared: migration 0041)."""
    sql.execute(
        "DELETE FROM list_members WHERE list_id = %s AND member_id = %s", (list_id, member.id)
    )
