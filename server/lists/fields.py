"""A list as the contract's List says it: its own columns, and what it is to the caller (their
role, its member_count, whether it is shared), whatever else the query selected."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from server.db.queries import LIST_COLUMNS

LIST_FIELDS = tuple(LIST_COLUMNS.split(", "))


def list_body(row: Mapping[str, Any]) -> dict[str, Any]:
    """The List body of a row with the list's columns, role and member_count (the members
    besides the owner: a list is shared when it has any)."""
    members = row["member_count"]
    return {
        **{name: row[name] for name in LIST_FIELDS},
        "role": row["role"],
        "shared": members > 0,
        "member_count": members,
    }


def new_list_body(row: Mapping[str, Any]) -> dict[str, Any]:
    """The List body of a list just made: its maker owns it alone."""
    return list_body({**row, "role": "owner", "member_count": 0})
