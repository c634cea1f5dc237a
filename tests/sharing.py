"""Memberships for tests, made as the members and invitations endpoints will make them (issue 26):
a list_members row naming the list's owner, placed last in the member's sidebar. Until those
endpoints land, tests share and unshare lists here."""

from __future__ import annotations

from typing import Any

import psycopg

from tests.support import User


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
