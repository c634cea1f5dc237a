"""A comment as the contract's Comment, from any row holding its columns (COMMENT_COLUMNS of
server/db/queries.py): what the handlers answer and the change feed carries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

FIELDS = ("id", "task_id", "author", "body", "created_at", "updated_at", "version")


def comment_body(row: Mapping[str, Any]) -> dict[str, Any]:
    return {name: row[name] for name in FIELDS}
