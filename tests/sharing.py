"""Helpers for the sharing tests: a list of one's own, an invitation, an account that joins."""

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
